//! Interactive phases (protocol v2, docs/design.md §Interactive phases) with both sides in memory:
//! the verifier's sans-IO [`VerifierSession`] and a miner running the real `membw` module in
//! the sandbox on a thread of its own, its `gpu.phase_end` wired to the test through channels.
//! Time is simulated (the session takes `now` from the test).
//!
//! What must hold: an honest two-phase run passes with each phase's figures kept; the passes
//! cannot be computed before the key arrives (a miner that guesses the nonce is caught by the
//! openings); every phase is judged on its own window; a `PhaseDone` out of turn, for another
//! challenge, badly signed or dropping roots is `protocol-error`; silence during a phase is a
//! `timeout` naming the `PhaseDone`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use builtin_modules::Builtin;
use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenge_runtime::{FixedNonces, PhaseHook, PhaseRefused, RunOutcome};
use challenges::membw::MembwParams;
use challenges::prf;
use common::Rng;
use protocol::ed25519_dalek::SigningKey;
use protocol::{
    ABI_VERSION, ChallengeId, Commitment, Digest, Go, Hotkey, MinerTimings, ModuleHash, Negotiated,
    Openings, PROTOCOL_VERSION, PhaseDone, PhaseKey, Ready, Root, SessionKey, Signed,
};
use verifier::session::{
    Cause, ChallengeSpec, CommitmentOutcome, Envelope, OutputLayout, Phase, SessionConfig, Verdict,
    VerifierSession,
};

const VERSIONS: Negotiated = Negotiated {
    protocol_version: PROTOCOL_VERSION,
    abi_version: ABI_VERSION,
};
const NOW_MS: u64 = 1_700_000_000_000;
/// The fill's window (phase 0) and the passes' window (phase 1).
const FILL: Envelope = Envelope {
    min_s: 0.2,
    max_s: 1.0,
    peak_floor_s: 0.05,
};
const PASSES: Envelope = Envelope {
    min_s: 0.1,
    max_s: 0.5,
    peak_floor_s: 0.02,
};
const WHOLE: Envelope = Envelope {
    min_s: 0.3,
    max_s: 1.5,
    peak_floor_s: 0.07,
};
const GO_AT: Duration = Duration::from_millis(10);

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn params() -> MembwParams {
    MembwParams {
        bytes: 256 << 10,
        group: 1024,
        rounds: 1,
        passes: 2,
    }
}

use common::{checker, sandbox};

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

/// Both sides' keys.
struct Peers {
    verifier: SigningKey,
    miner: SigningKey,
}

impl Peers {
    fn new() -> Self {
        Self {
            verifier: SigningKey::from_bytes(&[1; 32]),
            miner: SigningKey::from_bytes(&[9; 32]),
        }
    }

    /// A session on `device` of `module` with `params`; with `phased`, the fill and the passes
    /// are each judged on their own window.
    fn session(
        &self,
        module: Builtin,
        params: &[u8],
        device: u32,
        phased: bool,
    ) -> VerifierSession {
        let module_hash = ModuleHash::new(module.hash());
        let spec = ChallengeSpec {
            challenge_id: ChallengeId::new([device as u8; 16]),
            versions: VERSIONS,
            validator: Hotkey::new([0xaa; 32]),
            miner: Hotkey::new([0xbb; 32]),
            module_hash,
            module_bytes: None,
            params: params.to_vec(),
            device,
            expires_at_ms: NOW_MS + 60_000,
            layout: OutputLayout::builtin(&module_hash, params).unwrap(),
        };
        let mut config = SessionConfig::new(WHOLE, Duration::ZERO);
        if phased {
            config = config.with_phases(vec![FILL, PASSES]);
        }
        VerifierSession::new(
            spec,
            config,
            self.verifier.clone(),
            SessionKey::of(&self.miner),
        )
        .unwrap()
    }

    fn membw(&self, device: u32) -> VerifierSession {
        self.session(builtin_modules::MEMBW, &params().encode(), device, true)
    }

    /// `start`, `Ready`, `Go` at [`GO_AT`]: the signed `Go` and the seed it binds.
    fn begin(&self, session: &mut VerifierSession, nonce: [u8; 32]) -> (Signed<Go>, [u8; 32]) {
        let prepare = session.start(ms(0)).unwrap();
        let ready = Ready {
            challenge_id: session.spec().challenge_id,
            prepare: prepare.digest(),
        };
        assert_eq!(session.on_ready(&ready, ms(5)).unwrap(), None);
        let go = session.go(GO_AT, nonce).unwrap();
        let spec = session.spec();
        let seed = prf::challenge_seed(
            &nonce,
            spec.validator.as_bytes(),
            spec.miner.as_bytes(),
            spec.module_hash.as_bytes(),
            &spec.params,
            spec.device,
        );
        (go, seed)
    }

    /// `begin`, then the miner's `PhaseDone 0` reporting `roots` at `done_at` (accepted) and
    /// our `PhaseKey 1` a millisecond later: the `Go`, the seed and the key.
    fn through_fill(
        &self,
        session: &mut VerifierSession,
        done_at: Duration,
        roots: &[[u8; 32]],
    ) -> (Signed<Go>, [u8; 32], Signed<PhaseKey>) {
        let (go, seed) = self.begin(session, [3; 32]);
        let done = self.phase_done(go.digest(), 0, roots);
        assert_eq!(session.on_phase_done(&done, done_at).unwrap(), None);
        let key = session.phase_key(done_at + ms(1), [4; 32]).unwrap();
        (go, seed, key)
    }

    fn phase_done(&self, cites: Digest, phase: u32, roots: &[[u8; 32]]) -> Signed<PhaseDone> {
        let done = PhaseDone {
            cites,
            phase,
            roots: roots.iter().copied().map(Root::new).collect(),
        };
        Signed::sign(&self.miner, &done).unwrap()
    }

    fn commitment(&self, go: &Signed<Go>, run: &RunOutcome) -> Signed<Commitment> {
        let commitment = Commitment {
            challenge: go.digest(),
            roots: run.roots().into_iter().map(Root::new).collect(),
            timings: MinerTimings::default(),
        };
        Signed::sign(&self.miner, &commitment).unwrap()
    }
}

/// The miner's whole run of `membw` on `device` with `seed`, its phase key's nonce fixed in
/// advance (`nonce`): what a miner that does not wait for the verifier's key computes.
fn run_ahead(seed: [u8; 32], device: u32, nonce: [u8; 32]) -> RunOutcome {
    let module = sandbox().load(builtin_modules::MEMBW.bytes).unwrap();
    sandbox()
        .run_phased(
            &module,
            backend(),
            device,
            seed,
            &params().encode(),
            Box::new(FixedNonces::new(vec![nonce])),
        )
        .unwrap()
}

/// The session's answer to a commitment that must end it (no `Open`).
fn commitment_verdict(
    peers: &Peers,
    session: &mut VerifierSession,
    go: &Signed<Go>,
    run: &RunOutcome,
) -> Verdict {
    let mut rng = Rng(1);
    let outcome = session
        .on_commitment(&peers.commitment(go, run), ms(300), &mut || rng.next())
        .unwrap();
    let CommitmentOutcome::Verdict(verdict) = outcome else {
        panic!("expected a verdict, got {outcome:?}");
    };
    verdict
}

/// One phase end as the miner's run thread reports it.
type End = (u32, Vec<[u8; 32]>);

/// The miner's `gpu.phase_end`, in memory: reports to the test and waits for its nonce.
struct ChannelHook {
    ends: mpsc::Sender<End>,
    nonces: mpsc::Receiver<[u8; 32]>,
}

impl PhaseHook for ChannelHook {
    fn phase_end(&mut self, ended: u32, roots: &[[u8; 32]]) -> Result<[u8; 32], PhaseRefused> {
        self.ends.send((ended, roots.to_vec())).unwrap();
        self.nonces
            .recv()
            .map_err(|_| PhaseRefused("the verifier went away".into()))
    }
}

/// The miner's run of `membw` on its own thread, driven through the channels.
struct MinerRun {
    ends: mpsc::Receiver<End>,
    nonces: mpsc::Sender<[u8; 32]>,
    run: JoinHandle<RunOutcome>,
}

impl MinerRun {
    /// Runs the real module honestly with `seed` on `device`.
    fn honest(seed: [u8; 32], device: u32) -> Self {
        let (end_tx, ends) = mpsc::channel();
        let (nonces, nonce_rx) = mpsc::channel();
        let hook = ChannelHook {
            ends: end_tx,
            nonces: nonce_rx,
        };
        let run = std::thread::spawn(move || {
            let module = sandbox().load(builtin_modules::MEMBW.bytes).unwrap();
            sandbox()
                .run_phased(
                    &module,
                    backend(),
                    device,
                    seed,
                    &params().encode(),
                    Box::new(hook),
                )
                .unwrap()
        });
        Self { ends, nonces, run }
    }

    /// The next phase end the run reports.
    fn next_end(&self) -> End {
        self.ends.recv_timeout(Duration::from_secs(60)).unwrap()
    }

    fn finish(self) -> RunOutcome {
        self.run.join().unwrap()
    }
}

/// The openings the verifier asked for, from the miner's run.
fn openings(session: &VerifierSession, go: &Signed<Go>, run: &RunOutcome) -> Openings {
    Openings {
        challenge: go.digest(),
        openings: session
            .requested()
            .unwrap()
            .iter()
            .map(|l| common::opening_wire(l.output, l.leaf, run.open(l.output, l.leaf).unwrap()))
            .collect(),
    }
}

/// Commitment at `at`, then the openings: the verdict.
fn conclude(
    peers: &Peers,
    session: &mut VerifierSession,
    go: &Signed<Go>,
    run: &RunOutcome,
    at: Duration,
) -> Verdict {
    let mut rng = Rng(5);
    let outcome = session
        .on_commitment(&peers.commitment(go, run), at, &mut || rng.next())
        .unwrap();
    let CommitmentOutcome::Open(_) = outcome else {
        panic!("expected Open, got {outcome:?}");
    };
    let openings = openings(session, go, run);
    session
        .on_openings(&openings, at + ms(5), checker())
        .unwrap()
}

fn protocol_cause(verdict: &Verdict) -> Cause {
    match verdict {
        Verdict::ProtocolError(p) => p.cause,
        other => panic!("expected protocol-error, got {other:?}"),
    }
}

/// The honest run through both phases: `fill` after `Go`, then the key, then `passes` to the
/// commitment (simulated times). The verdict and the nonce of the phase key.
fn two_phases(fill: Duration, passes: Duration) -> (Verdict, Vec<Duration>) {
    // Each run on a device of its own: tests run in parallel and a run holds its device.
    static NEXT_DEVICE: AtomicU32 = AtomicU32::new(4);
    let device = NEXT_DEVICE.fetch_add(1, Ordering::Relaxed);
    let peers = Peers::new();
    let mut session = peers.membw(device);
    let (go, seed) = peers.begin(&mut session, [3; 32]);
    let miner = MinerRun::honest(seed, device);
    let (ended, roots) = miner.next_end();
    assert_eq!((ended, roots.len()), (0, 0), "the fill commits nothing");
    let done_at = GO_AT + fill;
    let done = peers.phase_done(go.digest(), 0, &roots);
    assert_eq!(session.on_phase_done(&done, done_at).unwrap(), None);
    assert_eq!(session.awaiting_phase_key(), Some(1));
    assert_eq!(session.poll_timeout(), None, "our own move: no deadline");
    let key_at = done_at + ms(3);
    let key = session.phase_key(key_at, [4; 32]).unwrap();
    let key = key.verify_from(&SessionKey::of(&peers.verifier)).unwrap();
    assert_eq!((key.cites, key.phase), (done.digest(), 1));
    miner.nonces.send(key.nonce.into_bytes()).unwrap();
    let run = miner.finish();
    assert_eq!(run.phase_seeds, [prf::phase_seed(&seed, 1, &[4; 32])]);
    let verdict = conclude(&peers, &mut session, &go, &run, key_at + passes);
    let phases = verdict
        .timing()
        .unwrap()
        .phases
        .iter()
        .map(|p| Duration::from_secs_f64(p.measured_s))
        .collect();
    (verdict, phases)
}

#[test]
fn an_honest_two_phase_run_passes_with_each_phase_timed() {
    let (verdict, phases) = two_phases(ms(400), ms(200));
    assert!(verdict.is_pass(), "{verdict:?}");
    let timing = verdict.timing().unwrap();
    assert_eq!(timing.leaves_checked, 32);
    assert_eq!(phases.len(), 2);
    assert!((phases[0].as_secs_f64() - 0.4).abs() < 1e-6, "{phases:?}");
    assert!((phases[1].as_secs_f64() - 0.2).abs() < 1e-6, "{phases:?}");
    assert_eq!(timing.phases[0].window, FILL);
    assert_eq!(timing.phases[1].window, PASSES);
    // The whole is judged too: from Go to the commitment, key wait included.
    assert!((timing.raw_s - 0.603).abs() < 1e-6, "{timing:?}");
}

#[test]
fn every_phase_is_judged_on_its_own_window() {
    // The passes slower than their window, though the whole is inside the whole's window.
    let (verdict, _) = two_phases(ms(300), ms(700));
    assert!(matches!(verdict, Verdict::TooSlow(_)), "{verdict:?}");
    // The fill faster than any claimed device could fill: another device answered.
    let (verdict, _) = two_phases(ms(10), ms(200));
    assert!(matches!(verdict, Verdict::TooFast(_)), "{verdict:?}");
    // Both out of their windows: too-fast counts over too-slow.
    let (verdict, _) = two_phases(ms(10), ms(900));
    assert!(matches!(verdict, Verdict::TooFast(_)), "{verdict:?}");
}

/// A miner that wants the passes done before the key comes (to answer a second claimed device
/// with the same GPU, say) must guess the nonce; its roots then answer another key, and the
/// verifier, which checks with the seed of the nonce it sent, finds wrong content.
#[test]
fn passes_computed_before_the_key_are_caught() {
    let peers = Peers::new();
    let mut session = peers.membw(0);
    let (go, seed, _key) = peers.through_fill(&mut session, ms(400), &[]);
    let early = run_ahead(seed, 1, [0x77; 32]);
    let verdict = conclude(&peers, &mut session, &go, &early, ms(600));
    match verdict {
        Verdict::WrongResult(w) => assert_eq!(w.cause, Cause::WrongContent),
        other => panic!("expected wrong-result, got {other:?}"),
    }
}

#[test]
fn a_commitment_before_the_last_phase_is_a_protocol_error() {
    let peers = Peers::new();
    let mut session = peers.membw(0);
    let (go, seed) = peers.begin(&mut session, [3; 32]);
    let run = run_ahead(seed, 2, [1; 32]);
    let verdict = commitment_verdict(&peers, &mut session, &go, &run);
    assert_eq!(protocol_cause(&verdict), Cause::BadPhase);
}

#[test]
fn phase_done_out_of_turn_or_for_another_challenge_is_a_protocol_error() {
    let peers = Peers::new();
    // A phase the verifier did not open.
    let mut session = peers.membw(0);
    let (go, _) = peers.begin(&mut session, [3; 32]);
    let done = peers.phase_done(go.digest(), 1, &[]);
    let verdict = session.on_phase_done(&done, ms(100)).unwrap().unwrap();
    assert_eq!(protocol_cause(&verdict), Cause::BadPhase);
    // A second PhaseDone after the last phase began.
    let mut session = peers.membw(0);
    let (_, _, key) = peers.through_fill(&mut session, ms(100), &[]);
    let again = peers.phase_done(key.digest(), 1, &[]);
    let verdict = session.on_phase_done(&again, ms(200)).unwrap().unwrap();
    assert_eq!(protocol_cause(&verdict), Cause::BadPhase);
    // Citing another message than the one that began the phase.
    let mut session = peers.membw(0);
    let _ = peers.begin(&mut session, [3; 32]);
    let done = peers.phase_done(Digest::new([5; 32]), 0, &[]);
    let verdict = session.on_phase_done(&done, ms(100)).unwrap().unwrap();
    assert_eq!(protocol_cause(&verdict), Cause::OtherChallenge);
    // Signed by another key.
    let mut session = peers.membw(0);
    let (go, _) = peers.begin(&mut session, [3; 32]);
    let forged = Signed::sign(
        &SigningKey::from_bytes(&[0x66; 32]),
        &PhaseDone {
            cites: go.digest(),
            phase: 0,
            roots: Vec::new(),
        },
    )
    .unwrap();
    let verdict = session.on_phase_done(&forged, ms(100)).unwrap().unwrap();
    assert_eq!(protocol_cause(&verdict), Cause::BadSignature);
    // A one-phase module has no phase to end.
    let matmul = challenges::matmul::MatmulParams {
        m: 32,
        n: 32,
        k: 64,
        count: 1,
    };
    let mut session = peers.session(builtin_modules::MATMUL_I8, &matmul.encode(), 0, false);
    assert_eq!(session.config().phase_count(), 1);
    let (go, _) = peers.begin(&mut session, [3; 32]);
    let done = peers.phase_done(go.digest(), 0, &[]);
    let verdict = session.on_phase_done(&done, ms(100)).unwrap().unwrap();
    assert_eq!(protocol_cause(&verdict), Cause::BadPhase);
}

#[test]
fn roots_reported_at_a_phase_end_cannot_be_dropped_or_changed() {
    let peers = Peers::new();
    let mut session = peers.membw(0);
    let (go, _) = peers.begin(&mut session, [3; 32]);
    // More roots than the layout has outputs.
    let done = peers.phase_done(go.digest(), 0, &[[1; 32]; 3]);
    let verdict = session.on_phase_done(&done, ms(100)).unwrap().unwrap();
    assert_eq!(protocol_cause(&verdict), Cause::BadPhase);
    // A root reported at the phase end, then another one in the commitment.
    let mut session = peers.membw(0);
    let (go, seed, _key) = peers.through_fill(&mut session, ms(100), &[[1; 32]]);
    let run = run_ahead(seed, 3, [4; 32]);
    let verdict = commitment_verdict(&peers, &mut session, &go, &run);
    assert_eq!(protocol_cause(&verdict), Cause::BadPhase);
}

#[test]
fn silence_during_a_phase_is_a_timeout_naming_the_phase_done() {
    let peers = Peers::new();
    let mut session = peers.membw(0);
    let (go, _) = peers.begin(&mut session, [3; 32]);
    let deadline = session.poll_timeout().unwrap();
    assert_eq!(session.on_timeout(deadline - ms(1)), None);
    match session.on_timeout(deadline).unwrap() {
        Verdict::Timeout(t) => assert_eq!(t.waiting_for, Phase::PhaseDone),
        other => panic!("expected timeout, got {other:?}"),
    }
    // After the key, the deadline counts from the key, and silence is still a timeout.
    let mut session = peers.membw(0);
    let (go2, _) = peers.begin(&mut session, [3; 32]);
    let done = peers.phase_done(go2.digest(), 0, &[]);
    assert_eq!(session.on_phase_done(&done, ms(900)).unwrap(), None);
    let _ = session.phase_key(ms(950), [4; 32]).unwrap();
    let deadline = session.poll_timeout().unwrap();
    assert!(deadline > ms(950));
    match session.on_timeout(deadline).unwrap() {
        Verdict::Timeout(t) => assert_eq!(t.waiting_for, Phase::Commitment),
        other => panic!("expected timeout, got {other:?}"),
    }
    // The round ending while our key waits for the other devices is a timeout too.
    let mut session = peers.membw(0);
    let (go3, _) = peers.begin(&mut session, [3; 32]);
    let done = peers.phase_done(go3.digest(), 0, &[]);
    assert_eq!(session.on_phase_done(&done, ms(100)).unwrap(), None);
    match session.on_round_over(ms(5000)).unwrap() {
        Verdict::Timeout(t) => assert_eq!(t.waiting_for, Phase::PhaseKey),
        other => panic!("expected timeout, got {other:?}"),
    }
    let _ = go;
}
