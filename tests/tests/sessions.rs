//! Both sides of a challenge in memory, with simulated time, as quinn-proto's tests run a
//! client and a server: the verifier's sans-IO `VerifierSession` against the miner's sans-IO
//! `MinerSession` (honest, or wrapped by an adversary of `miner_host::serve::adversary`), the
//! real modules running in the real sandbox on the CPU backend. Nothing here opens a socket
//! or reads a clock: each side's `now` is the simulated time the test gives it, so the
//! verdicts are exact, not timing-dependent.
//!
//! What must hold: an honest one-phase (`matmul-i8`) and two-phase (`membw`) challenge pass,
//! each phase timed by the simulated compute; a slow phase is `too-slow`; the miner holds the
//! device no longer than `reserve` without a `Go`, and answers a phase key that is forged or
//! out of turn with a typed refusal; a validator that goes quiet after the commitment is owed
//! nothing; and the protocol adversaries (forged and replayed commitments, slowness, garbage,
//! hanging up, dropping mid-opening) get the verdicts docs/design.md gives them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use builtin_modules::Builtin;
use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenge_runtime::{PhaseHook, PhaseRefused, RunOutcome, Sandbox, SandboxLimits, StageTimes};
use challenges::matmul::MatmulParams;
use challenges::membw::MembwParams;
use miner_host::serve::Adversary;
use miner_host::serve::adversary::{ConnectionMemory, ServerMemory};
use miner_host::session::{Action, Ended, Event, MinerSession, Responder, SessionLimits};
use protocol::ed25519_dalek::SigningKey;
use protocol::{
    ABI_VERSION, ChallengeId, ErrorCode, Hotkey, Message, ModuleHash, Negotiated, NodePair,
    OpeningWire, PROTOCOL_VERSION, PhaseKey, SessionKey, Signed,
};
use verifier::session::{
    Cause, ChallengeSpec, CommitmentOutcome, Envelope, OutputLayout, SandboxChecker, SessionConfig,
    Verdict, VerifierSession,
};

const VERSIONS: Negotiated = Negotiated {
    protocol_version: PROTOCOL_VERSION,
    abi_version: ABI_VERSION,
};
/// One-way latency of the simulated link.
const LATENCY: Duration = Duration::from_millis(2);
const LIMITS: SessionLimits = SessionLimits {
    reserve: Duration::from_secs(5),
    message: Duration::from_secs(60),
};

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| Sandbox::new(SandboxLimits::default()).unwrap())
}

fn backend() -> &'static CpuBackend {
    static BACKEND: OnceLock<CpuBackend> = OnceLock::new();
    BACKEND.get_or_init(|| {
        CpuBackend::new(CpuConfig {
            devices: 16,
            threads_per_device: 1,
            memory_bytes: 64 << 20,
        })
        .unwrap()
    })
}

fn checker() -> &'static SandboxChecker {
    static CHECKER: OnceLock<SandboxChecker> = OnceLock::new();
    CHECKER.get_or_init(|| SandboxChecker::new().unwrap())
}

fn matmul() -> (Builtin, Vec<u8>) {
    let params = MatmulParams {
        m: 64,
        n: 64,
        k: 64,
        count: 2,
    };
    (builtin_modules::MATMUL_I8, params.encode().to_vec())
}

fn membw() -> (Builtin, Vec<u8>) {
    let params = MembwParams {
        bytes: 256 << 10,
        group: 1024,
        rounds: 1,
        passes: 2,
    };
    (builtin_modules::MEMBW, params.encode().to_vec())
}

/// Each phase's window: 100–500 ms, too fast under 20 ms.
const WINDOW: Envelope = Envelope {
    min_s: 0.1,
    max_s: 0.5,
    peak_floor_s: 0.02,
};

/// How a test run goes: how long each phase of the run takes on the miner (simulated), how
/// long the verifier waits before its `Go`, and whether it opens at all.
#[derive(Debug, Clone)]
struct Script {
    /// Simulated compute time of each interactive phase, in order.
    phases: Vec<Duration>,
    /// The verifier sends `Go` this long after `Ready` arrives.
    go_delay: Duration,
    /// The verifier's `PhaseKey`s are signed by this key instead of its session key.
    forged_phase_key: bool,
    /// The verifier never sends `Open` (it goes quiet after the commitment).
    quiet_after_commitment: bool,
}

impl Script {
    fn honest(phases: &[u64]) -> Self {
        Self {
            phases: phases.iter().copied().map(ms).collect(),
            go_delay: Duration::ZERO,
            forged_phase_key: false,
            quiet_after_commitment: false,
        }
    }
}

/// One phase end from the run thread: the phase, its roots, where its nonce goes.
type PhaseReport = (
    u32,
    Vec<[u8; 32]>,
    mpsc::SyncSender<Result<[u8; 32], String>>,
);

/// The run of the module on its own thread, reporting phase ends through channels.
struct Run {
    ends: mpsc::Receiver<PhaseReport>,
    done: JoinHandle<Result<RunOutcome, String>>,
}

struct HookToTest {
    ends: mpsc::Sender<PhaseReport>,
}

impl PhaseHook for HookToTest {
    fn phase_end(&mut self, ended: u32, roots: &[[u8; 32]]) -> Result<[u8; 32], PhaseRefused> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.ends.send((ended, roots.to_vec(), tx)).unwrap();
        rx.recv()
            .map_err(|_| PhaseRefused("test gone".into()))?
            .map_err(PhaseRefused)
    }
}

/// What the miner's report from its run is.
enum Report {
    PhaseEnd(
        u32,
        Vec<[u8; 32]>,
        mpsc::SyncSender<Result<[u8; 32], String>>,
    ),
    Done(Result<RunOutcome, String>),
}

impl Run {
    fn start(module: Builtin, params: Vec<u8>, device: u32, seed: [u8; 32]) -> Self {
        let (tx, ends) = mpsc::channel();
        let done = std::thread::spawn(move || {
            let loaded = sandbox().load(module.bytes).map_err(|e| e.to_string())?;
            sandbox()
                .run_phased(
                    &loaded,
                    backend(),
                    device,
                    seed,
                    &params,
                    Box::new(HookToTest { ends: tx }),
                )
                .map_err(|e| e.to_string())
        });
        Self { ends, done }
    }

    /// The run's next report (blocking: real compute, simulated time).
    fn next(self) -> (Report, Option<Self>) {
        match self.ends.recv_timeout(Duration::from_secs(120)) {
            Ok((k, roots, answer)) => (Report::PhaseEnd(k, roots, answer), Some(self)),
            Err(_) => (Report::Done(self.done.join().unwrap()), None),
        }
    }
}

/// Both sides and the simulated clock.
struct Duo {
    verifier: VerifierSession,
    miner: Box<dyn Responder>,
    module: Builtin,
    params: Vec<u8>,
    device: u32,
    script: Script,
    now: Duration,
    run: Option<Run>,
    run_started: Duration,
    phase: usize,
    answer: Option<mpsc::SyncSender<Result<[u8; 32], String>>>,
    outcome: Option<RunOutcome>,
    /// Every action the miner took, in order (for the tests that look at them).
    actions: Vec<Action>,
    /// What the verifier concluded.
    verdict: Option<Verdict>,
    /// Raw bytes the miner sent that are not (yet) a frame.
    raw: Vec<u8>,
    nonce: u8,
    rng: u64,
}

fn miner_key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

impl Duo {
    /// A challenge of `module` with `params` on `device`, both phases judged by [`WINDOW`];
    /// `wrap` turns the honest miner session into the responder the test wants.
    fn new(
        (module, params): (Builtin, Vec<u8>),
        device: u32,
        script: Script,
        wrap: impl FnOnce(MinerSession) -> Box<dyn Responder>,
    ) -> Self {
        let verifier_key = SigningKey::from_bytes(&[1; 32]);
        let module_hash = ModuleHash::new(module.hash());
        let spec = ChallengeSpec {
            challenge_id: ChallengeId::new([device as u8 + 1; 16]),
            versions: VERSIONS,
            validator: Hotkey::new([0xaa; 32]),
            miner: Hotkey::new([0xbb; 32]),
            module_hash,
            module_bytes: None,
            params: params.clone(),
            device,
            expires_at_ms: u64::MAX,
            layout: OutputLayout::builtin(&module_hash, &params).unwrap(),
        };
        let phases = script.phases.len();
        let whole = Envelope {
            min_s: WINDOW.min_s * phases as f64,
            max_s: WINDOW.max_s * phases as f64,
            peak_floor_s: WINDOW.peak_floor_s * phases as f64,
        };
        let config = SessionConfig::new(whole, Duration::ZERO).with_phases(vec![WINDOW; phases]);
        let mut verifier = VerifierSession::new(
            spec,
            config,
            verifier_key.clone(),
            SessionKey::of(&miner_key()),
        )
        .unwrap();
        let prepare = verifier.start(Duration::ZERO).unwrap();
        // The server's admission (its gate) checks the signature; the session gets the body.
        let body = prepare.verify_from(&SessionKey::of(&verifier_key)).unwrap();
        let session = MinerSession::new(
            miner_key(),
            SessionKey::of(&verifier_key),
            body,
            prepare.digest(),
            LIMITS,
        );
        Self {
            verifier,
            miner: wrap(session),
            module,
            params,
            device,
            script,
            now: LATENCY,
            run: None,
            run_started: Duration::ZERO,
            phase: 0,
            answer: None,
            outcome: None,
            actions: Vec::new(),
            verdict: None,
            raw: Vec::new(),
            nonce: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn fresh_nonce(&mut self) -> [u8; 32] {
        self.nonce += 1;
        [self.nonce; 32]
    }

    /// Runs the challenge to its end: the miner's end and the verifier's verdict.
    fn play(mut self) -> Self {
        let mut pending: std::collections::VecDeque<Action> = self.miner.start(self.now).into();
        for _ in 0..10_000 {
            while let Some(action) = pending.pop_front() {
                if let Some(event) = self.perform(action) {
                    pending.extend(self.miner.handle(event, self.now));
                }
            }
            if self.miner.ended().is_some() || self.verdict.is_some() && self.run.is_none() {
                return self;
            }
            match self.next_event() {
                Some(event) => pending.extend(self.miner.handle(event, self.now)),
                None => return self,
            }
        }
        panic!("the challenge did not end");
    }

    /// The miner's next event when it waits for something other than a message.
    fn next_event(&mut self) -> Option<Event> {
        if let Some(run) = self.run.take() {
            let (report, run) = run.next();
            self.run = run;
            let took = self
                .script
                .phases
                .get(self.phase)
                .copied()
                .unwrap_or_default();
            self.now = self.now.max(self.run_started + took);
            return Some(match report {
                Report::PhaseEnd(ended, roots, answer) => {
                    self.answer = Some(answer);
                    Event::PhaseEnd { ended, roots }
                }
                Report::Done(Ok(outcome)) => {
                    let roots = outcome.roots();
                    // The backend's own account, simulated like the rest of time: a quarter
                    // of the phase filling, half computing, an eighth hashing.
                    let stages = StageTimes {
                        fill: took / 4,
                        compute: took / 2,
                        hash: took / 8,
                    };
                    self.outcome = Some(outcome);
                    Event::RunDone { roots, stages }
                }
                Report::Done(Err(e)) => {
                    Event::RunFailed(protocol::ErrorMsg::new(ErrorCode::BadParams, e))
                }
            });
        }
        let deadline = self.miner.poll_timeout()?;
        self.now = self.now.max(deadline);
        Some(Event::Timeout)
    }

    /// Carries out one miner action; the event it gives back at once, if any.
    fn perform(&mut self, action: Action) -> Option<Event> {
        self.actions.push(action.clone());
        match action {
            Action::Load => Some(Event::Loaded(Ok(()))),
            Action::Reserve => Some(Event::Reserved(Ok(()))),
            Action::Send(message) => self.deliver(message),
            Action::SendRaw(bytes) => {
                // Raw bytes are not a whole frame: the verifier's decoder sees garbage when the
                // stream ends after them, a cut frame when the connection does.
                self.raw.extend(bytes);
                None
            }
            Action::Run { seed } => {
                self.run_started = self.now;
                self.phase = 0;
                self.run = Some(Run::start(
                    self.module,
                    self.params.clone(),
                    self.device,
                    seed,
                ));
                None
            }
            Action::Resume(nonce) => {
                self.phase += 1;
                self.run_started = self.now;
                if let Some(answer) = self.answer.take() {
                    answer.send(nonce).unwrap();
                }
                None
            }
            Action::Open(leaves) => {
                let outcome = self.outcome.as_ref().unwrap();
                let openings = leaves
                    .iter()
                    .map(|l| {
                        let opening = outcome.open(l.output, l.leaf).unwrap();
                        OpeningWire {
                            output: l.output,
                            leaf: l.leaf,
                            chunk: opening.chunk,
                            path: opening
                                .path
                                .iter()
                                .map(|p| NodePair {
                                    left: p.left,
                                    right: p.right,
                                })
                                .collect(),
                        }
                    })
                    .collect();
                Some(Event::Opened(Ok(openings)))
            }
            Action::CloseConnection | Action::Hold => {
                let v = self.verifier.on_closed(self.now + LATENCY);
                self.verdict = self.verdict.take().or(v);
                None
            }
            Action::Finish if !self.raw.is_empty() => {
                let at = self.now + LATENCY;
                let v = self.verifier.on_unexpected("raw bytes", true, at).ok();
                self.verdict = self.verdict.take().or(v);
                None
            }
            Action::Release | Action::Lapse | Action::Finish => None,
        }
    }

    /// The verifier's answer to a miner message arriving after the link's latency; what it
    /// sends back reaches the miner as the returned event.
    fn deliver(&mut self, message: Message) -> Option<Event> {
        let at = self.now + LATENCY;
        if self.verdict.is_some() {
            return None;
        }
        let answer = match message {
            Message::Ready(ready) => match self.verifier.on_ready(&ready, at).unwrap() {
                Some(verdict) => Err(verdict),
                None => {
                    let go_at = at + self.script.go_delay;
                    // The miner's reservation may lapse before our Go arrives: it acts first.
                    if let Some(deadline) = self.miner.poll_timeout()
                        && go_at + LATENCY >= deadline
                    {
                        self.now = deadline;
                        return Some(Event::Timeout);
                    }
                    let nonce = self.fresh_nonce();
                    let go = self.verifier.go(go_at, nonce).unwrap();
                    self.now = go_at + LATENCY;
                    Ok(Message::Go(go))
                }
            },
            Message::PhaseDone(done) => match self.verifier.on_phase_done(&done, at).unwrap() {
                Some(verdict) => Err(verdict),
                None => {
                    let nonce = self.fresh_nonce();
                    let key = self.verifier.phase_key(at, nonce).unwrap();
                    let key = if self.script.forged_phase_key {
                        let body: PhaseKey = key.verify().unwrap();
                        Signed::sign(&SigningKey::from_bytes(&[0x77; 32]), &body).unwrap()
                    } else {
                        key
                    };
                    self.now = at + LATENCY;
                    Ok(Message::PhaseKey(key))
                }
            },
            Message::Commitment(commitment) => {
                let mut rng = self.rng;
                let mut next = || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                match self
                    .verifier
                    .on_commitment(&commitment, at, &mut next)
                    .unwrap()
                {
                    CommitmentOutcome::Verdict(verdict) => Err(verdict),
                    CommitmentOutcome::Open(open) => {
                        if self.script.quiet_after_commitment {
                            return None;
                        }
                        self.now = at + LATENCY;
                        Ok(Message::Open(open))
                    }
                }
            }
            Message::Openings(openings) => {
                Err(self.verifier.on_openings(&openings, at, checker()).unwrap())
            }
            Message::Error(error) => Err(self.verifier.on_peer_error(&error, at).unwrap()),
            other => Err(self
                .verifier
                .on_unexpected(other.kind().name(), false, at)
                .unwrap()),
        };
        match answer {
            Ok(message) => Some(Event::Message(message)),
            Err(verdict) => {
                self.verdict = Some(verdict);
                None
            }
        }
    }

    fn verdict(&self) -> &Verdict {
        self.verdict.as_ref().expect("the verifier has a verdict")
    }
}

fn honest(session: MinerSession) -> Box<dyn Responder> {
    Box::new(session)
}

fn adversary(kind: &str) -> impl FnOnce(MinerSession) -> Box<dyn Responder> {
    let adversary: Adversary = kind.parse().unwrap();
    move |session| {
        adversary.wrap_session(
            session,
            &Arc::new(ServerMemory::default()),
            &Arc::new(ConnectionMemory::default()),
        )
    }
}

#[test]
fn an_honest_one_phase_challenge_passes_with_the_simulated_time() {
    let duo = Duo::new(matmul(), 0, Script::honest(&[200]), honest).play();
    let Verdict::Pass(timing) = duo.verdict() else {
        panic!("expected a pass, got {:?}", duo.verdict());
    };
    // Go travels, 200 ms of compute, the commitment travels back.
    assert!((timing.raw_s - 0.204).abs() < 1e-9, "{timing:?}");
    assert!(
        timing.phases.is_empty(),
        "one-phase modules report no phases"
    );
    assert_eq!(duo.miner.ended(), Some(&Ended::Served));
    // The device is released before the openings go out.
    let release = duo
        .actions
        .iter()
        .position(|a| *a == Action::Release)
        .unwrap();
    let openings = duo
        .actions
        .iter()
        .position(|a| matches!(a, Action::Send(Message::Openings(_))))
        .unwrap();
    assert!(release < openings);
    // The commitment's timings are the miner's own account: Go to commitment on its clock, and
    // the backend's fill, compute and hash times.
    let commitment = duo
        .actions
        .iter()
        .find_map(|a| match a {
            Action::Send(Message::Commitment(c)) => Some(c.verify().unwrap()),
            _ => None,
        })
        .unwrap();
    let t = commitment.timings;
    assert_eq!(
        (t.total_ms, t.fill_ms, t.compute_ms, t.hash_ms),
        (200, 50, 100, 25),
        "{t:?}"
    );
}

#[test]
fn an_honest_two_phase_challenge_passes_with_each_phase_timed() {
    let duo = Duo::new(membw(), 1, Script::honest(&[300, 150]), honest).play();
    let Verdict::Pass(timing) = duo.verdict() else {
        panic!("expected a pass, got {:?}", duo.verdict());
    };
    let phases: Vec<f64> = timing.phases.iter().map(|p| p.raw_s).collect();
    // Phase 0: Go out, 300 ms of fill, PhaseDone back; phase 1: key out, 150 ms, back.
    assert_eq!(phases.len(), 2, "{timing:?}");
    assert!((phases[0] - 0.304).abs() < 1e-9, "{phases:?}");
    assert!((phases[1] - 0.154).abs() < 1e-9, "{phases:?}");
    assert_eq!(duo.miner.ended(), Some(&Ended::Served));
}

#[test]
fn a_slow_pass_phase_is_too_slow_even_when_the_whole_is_in_its_window() {
    // 0.8 s in all is within the whole window (1 s), but the passes take 0.6 s > 0.5 s.
    let duo = Duo::new(membw(), 2, Script::honest(&[200, 600]), honest).play();
    assert!(
        matches!(duo.verdict(), Verdict::TooSlow(_)),
        "{:?}",
        duo.verdict()
    );
}

#[test]
fn the_device_is_held_no_longer_than_reserve_without_go() {
    let script = Script {
        go_delay: ms(6000),
        ..Script::honest(&[200])
    };
    let duo = Duo::new(matmul(), 3, script, honest).play();
    assert_eq!(duo.miner.ended(), Some(&Ended::Lapsed));
    assert!(duo.actions.contains(&Action::Lapse));
    assert!(duo.actions.contains(&Action::Release));
    assert!(
        !duo.actions.iter().any(|a| matches!(a, Action::Run { .. })),
        "nothing ran"
    );
    let refusal = duo.actions.iter().find_map(|a| match a {
        Action::Send(Message::Error(e)) => Some(e.clone()),
        _ => None,
    });
    let refusal = refusal.unwrap();
    assert_eq!(refusal.code, ErrorCode::UnexpectedMessage);
    assert!(refusal.detail.contains("lapsed"), "{}", refusal.detail);
    assert!(matches!(duo.verdict(), Verdict::ProtocolError(_)));
}

#[test]
fn a_forged_phase_key_is_refused_and_the_run_stops() {
    let script = Script {
        forged_phase_key: true,
        ..Script::honest(&[200, 100])
    };
    let duo = Duo::new(membw(), 4, script, honest).play();
    let refused = duo.actions.iter().find_map(|a| match a {
        Action::Send(Message::Error(e)) => Some(e.clone()),
        _ => None,
    });
    let refused = refused.unwrap();
    assert_eq!(refused.code, ErrorCode::BadSignature, "{refused:?}");
    assert!(matches!(
        duo.miner.ended(),
        Some(Ended::Refused(ErrorCode::BadSignature))
    ));
    assert!(
        !duo.actions
            .iter()
            .any(|a| matches!(a, Action::Send(Message::Commitment(_)))),
        "no commitment after a refused key"
    );
    assert!(matches!(duo.verdict(), Verdict::ProtocolError(_)));
}

#[test]
fn a_validator_quiet_after_the_commitment_is_owed_nothing() {
    let script = Script {
        quiet_after_commitment: true,
        ..Script::honest(&[200])
    };
    let duo = Duo::new(matmul(), 5, script, honest).play();
    assert_eq!(duo.miner.ended(), Some(&Ended::Abandoned));
    assert!(duo.actions.contains(&Action::Release));
    assert!(
        !duo.actions
            .iter()
            .any(|a| matches!(a, Action::Send(Message::Error(_)))),
        "no refusal is sent to a validator that went quiet"
    );
}

#[test]
fn the_slow_adversary_is_too_slow() {
    let duo = Duo::new(matmul(), 6, Script::honest(&[200]), adversary("slow:1")).play();
    let Verdict::TooSlow(timing) = duo.verdict() else {
        panic!("expected too-slow, got {:?}", duo.verdict());
    };
    assert!((timing.raw_s - 1.204).abs() < 1e-9, "{timing:?}");
}

#[test]
fn a_forged_commitment_is_a_protocol_error() {
    let duo = Duo::new(matmul(), 7, Script::honest(&[200]), adversary("forge")).play();
    let Verdict::ProtocolError(fault) = duo.verdict() else {
        panic!("expected protocol-error, got {:?}", duo.verdict());
    };
    assert_eq!(fault.cause, Cause::BadSignature);
}

#[test]
fn a_replayed_commitment_cites_another_challenge() {
    let server = Arc::new(ServerMemory::default());
    let connection = Arc::new(ConnectionMemory::default());
    let replay: Adversary = "replay".parse().unwrap();
    let wrap = |server: Arc<ServerMemory>, connection: Arc<ConnectionMemory>| {
        let replay = replay.clone();
        move |session| replay.wrap_session(session, &server, &connection)
    };
    // The first challenge's commitment is its own; the second gets the first's.
    let first = Duo::new(
        matmul(),
        8,
        Script::honest(&[200]),
        wrap(Arc::clone(&server), Arc::clone(&connection)),
    )
    .play();
    assert!(
        matches!(first.verdict(), Verdict::Pass(_)),
        "{:?}",
        first.verdict()
    );
    let second = Duo::new(
        matmul(),
        9,
        Script::honest(&[200]),
        wrap(server, connection),
    )
    .play();
    let Verdict::ProtocolError(fault) = second.verdict() else {
        panic!("expected protocol-error, got {:?}", second.verdict());
    };
    assert_eq!(fault.cause, Cause::OtherChallenge);
}

#[test]
fn garbage_for_go_is_a_protocol_error() {
    let duo = Duo::new(matmul(), 10, Script::honest(&[200]), adversary("garbage")).play();
    let Verdict::ProtocolError(fault) = duo.verdict() else {
        panic!("expected protocol-error, got {:?}", duo.verdict());
    };
    assert_eq!(fault.cause, Cause::Malformed);
    assert_eq!(duo.miner.ended(), Some(&Ended::Dropped));
}

#[test]
fn hanging_up_or_dropping_after_the_commitment_is_a_wrong_result() {
    for kind in ["hang-up", "drop-mid-opening"] {
        let duo = Duo::new(matmul(), 11, Script::honest(&[200]), adversary(kind)).play();
        let Verdict::WrongResult(wrong) = duo.verdict() else {
            panic!("{kind}: expected wrong-result, got {:?}", duo.verdict());
        };
        assert_eq!(wrong.cause, Cause::ConnectionClosed, "{kind}");
        assert_eq!(duo.miner.ended(), Some(&Ended::Dropped), "{kind}");
    }
}

#[test]
fn the_busy_adversary_never_reserves() {
    let duo = Duo::new(
        matmul(),
        12,
        Script::honest(&[200]),
        adversary("busy-forever"),
    )
    .play();
    assert_eq!(
        duo.miner.ended(),
        Some(&Ended::Refused(ErrorCode::BusyDevice))
    );
    assert!(!duo.actions.contains(&Action::Reserve));
}
