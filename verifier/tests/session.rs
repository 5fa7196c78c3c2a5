//! Drives `VerifierSession` directly, with no socket and a simulated clock, against a "miner"
//! built from the real sandbox and CPU backend: honest challenges pass, and each adversary of
//! issue #5 gets its verdict (wrong tile, random roots, replayed commitment, forged signature,
//! too slow / too fast, hang-up after the leaves, challenge handed to another miner).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::Rng;
use std::time::Duration;

use builtin_modules::Builtin;
use challenge_runtime::RunOutcome;
use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenges::commitment::OutputTree;
use challenges::matmul::{self, MatmulParams};
use challenges::prf;
use protocol::ed25519_dalek::SigningKey;
use protocol::{
    ABI_VERSION, ChallengeId, Commitment, ErrorCode, ErrorMsg, GatePolicy, Go, Hotkey,
    MinerTimings, ModuleHash, Negotiated, Open, OpeningWire, Openings, PROTOCOL_VERSION, Prepare,
    PrepareGate, Ready, Root, Sender, SessionKey, Signed,
};
use verifier::session::{
    Cause, ChallengeSpec, CommitmentOutcome, Envelope, OutputLayout, Phase, SessionConfig,
    SessionError, Verdict, VerifierSession,
};

const VERSIONS: Negotiated = Negotiated {
    protocol_version: PROTOCOL_VERSION,
    abi_version: ABI_VERSION,
};
const NOW_MS: u64 = 1_700_000_000_000;
const ENVELOPE: Envelope = Envelope {
    min_s: 0.5,
    max_s: 2.0,
    peak_floor_s: 0.1,
};
/// RTT measured before the challenge.
const RTT: Duration = Duration::from_millis(20);
/// When `Go` is sent in every test.
const GO_AT: Duration = Duration::from_millis(10);

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// The commitment arrives `measured + RTT` after `Go`, so the measured time is `measured`.
fn arrival(measured: Duration) -> Duration {
    GO_AT + RTT + measured
}

use common::{checker, sandbox as miner_sandbox};

struct Verifier {
    key: SigningKey,
    hotkey: Hotkey,
}

impl Verifier {
    fn new() -> Self {
        Self {
            key: SigningKey::from_bytes(&[1; 32]),
            hotkey: Hotkey::new([0xaa; 32]),
        }
    }
}

/// A miner: its own session key and hotkey, the real sandbox and the CPU backend.
struct Miner {
    key: SigningKey,
    hotkey: Hotkey,
    backend: CpuBackend,
    gate: PrepareGate,
}

/// What a miner answers with: the sandbox's own run, or output bytes of its choosing.
enum Answer {
    Run(RunOutcome),
    Bytes(Vec<(Vec<u8>, OutputTree)>),
}

impl Answer {
    fn roots(&self) -> Vec<Root> {
        match self {
            Self::Run(run) => run.roots().into_iter().map(Root::new).collect(),
            Self::Bytes(outputs) => outputs
                .iter()
                .map(|(_, tree)| Root::new(*tree.root().as_bytes()))
                .collect(),
        }
    }

    fn open(&self, output: u32, leaf: u64) -> OpeningWire {
        let opening = match self {
            Self::Run(run) => run.open(output, leaf).unwrap(),
            Self::Bytes(outputs) => {
                let (bytes, tree) = &outputs[output as usize];
                tree.open(bytes, leaf).unwrap()
            }
        };
        common::opening_wire(output, leaf, opening)
    }
}

impl Miner {
    fn new(seed: u8) -> Self {
        let config = CpuConfig {
            devices: 1,
            threads_per_device: 1,
            memory_bytes: 256 << 20,
        };
        let hotkey = Hotkey::new([seed; 32]);
        Self {
            key: SigningKey::from_bytes(&[seed; 32]),
            hotkey,
            backend: CpuBackend::new(config).unwrap(),
            gate: PrepareGate::new(hotkey, VERSIONS, GatePolicy::default()),
        }
    }

    fn session_key(&self) -> SessionKey {
        SessionKey::of(&self.key)
    }

    /// Admits the `Prepare` the way a miner host must (signature, addressee, expiry, replay).
    fn accept(&mut self, signed: &Signed<Prepare>, verifier: &Verifier) -> Prepare {
        let sender = Sender {
            session_key: SessionKey::of(&verifier.key),
            hotkey: verifier.hotkey,
        };
        self.gate.accept(signed, &sender, NOW_MS).unwrap()
    }

    /// The seed of this challenge as bound to `miner` (normally our own hotkey).
    fn seed_for(prepare: &Prepare, go: &Go, miner: Hotkey) -> [u8; 32] {
        prf::challenge_seed(
            go.nonce.as_bytes(),
            prepare.validator.as_bytes(),
            miner.as_bytes(),
            prepare.module_hash.as_bytes(),
            &prepare.params,
            prepare.device,
        )
    }

    /// Runs the challenge in the sandbox with `seed`.
    fn run(&self, prepare: &Prepare, seed: [u8; 32]) -> Answer {
        let bytes = match &prepare.module_bytes {
            Some(bytes) => bytes.clone(),
            None => builtin_modules::by_hash(prepare.module_hash.as_bytes())
                .unwrap()
                .bytes
                .to_vec(),
        };
        let module = miner_sandbox().load(&bytes).unwrap();
        let run = miner_sandbox()
            .run(
                &module,
                &self.backend,
                prepare.device,
                seed,
                &prepare.params,
            )
            .unwrap();
        Answer::Run(run)
    }

    fn commit(&self, go: &Signed<Go>, roots: Vec<Root>) -> Signed<Commitment> {
        let commitment = Commitment {
            challenge: go.digest(),
            roots,
            timings: MinerTimings::default(),
        };
        Signed::sign(&self.key, &commitment).unwrap()
    }

    fn openings(open: &Open, answer: &Answer) -> Openings {
        Openings {
            challenge: open.challenge,
            openings: open
                .leaves
                .iter()
                .map(|l| answer.open(l.output, l.leaf))
                .collect(),
        }
    }
}

fn matmul_params() -> MatmulParams {
    MatmulParams {
        m: 64,
        n: 64,
        k: 64,
        count: 4,
    }
}

/// A session of `verifier` challenging `miner` with a built-in module.
fn session(
    verifier: &Verifier,
    miner: &Miner,
    module: Builtin,
    params: &[u8],
    send_bytes: bool,
) -> VerifierSession {
    let module_hash = ModuleHash::new(module.hash());
    let spec = ChallengeSpec {
        challenge_id: ChallengeId::new([7; 16]),
        versions: VERSIONS,
        validator: verifier.hotkey,
        miner: miner.hotkey,
        module_hash,
        module_bytes: send_bytes.then(|| module.bytes.to_vec()),
        params: params.to_vec(),
        device: 0,
        expires_at_ms: NOW_MS + 60_000,
        layout: OutputLayout::builtin(&module_hash, params).unwrap(),
    };
    let config = SessionConfig::new(ENVELOPE, RTT);
    VerifierSession::new(spec, config, verifier.key.clone(), miner.session_key()).unwrap()
}

fn matmul_session(verifier: &Verifier, miner: &Miner) -> VerifierSession {
    session(
        verifier,
        miner,
        builtin_modules::MATMUL_I8,
        &matmul_params().encode(),
        false,
    )
}

/// `start` → the miner admits the `Prepare` → `Ready` → `go`. Returns the `Prepare` as the
/// miner saw it and the signed `Go`.
fn begin(
    session: &mut VerifierSession,
    verifier: &Verifier,
    miner: &mut Miner,
    nonce: [u8; 32],
) -> (Prepare, Signed<Go>) {
    let signed = session.start(ms(0)).unwrap();
    let prepare = miner.accept(&signed, verifier);
    let ready = Ready {
        challenge_id: prepare.challenge_id,
        prepare: signed.digest(),
    };
    assert_eq!(session.on_ready(&ready, ms(5)).unwrap(), None);
    let go = session.go(GO_AT, nonce).unwrap();
    (prepare, go)
}

/// `begin`, then the miner runs honestly with its own seed.
fn honest(
    session: &mut VerifierSession,
    verifier: &Verifier,
    miner: &mut Miner,
) -> (Signed<Go>, Answer) {
    let (prepare, go) = begin(session, verifier, miner, [3; 32]);
    let seed = Miner::seed_for(&prepare, &go.verify().unwrap(), miner.hotkey);
    (go, miner.run(&prepare, seed))
}

fn expect_open(outcome: CommitmentOutcome) -> Open {
    match outcome {
        CommitmentOutcome::Open(open) => open,
        CommitmentOutcome::Verdict(v) => panic!("expected an Open, got {v:?}"),
    }
}

fn expect_verdict(outcome: CommitmentOutcome) -> Verdict {
    match outcome {
        CommitmentOutcome::Verdict(v) => v,
        CommitmentOutcome::Open(open) => panic!("expected a verdict, got {open:?}"),
    }
}

/// Commitment at `arrival(measured)`, openings 5 ms later; the verdict.
fn finish(
    session: &mut VerifierSession,
    miner: &Miner,
    go: &Signed<Go>,
    answer: &Answer,
    measured: Duration,
    rng: &mut dyn FnMut() -> u64,
) -> Verdict {
    let at = arrival(measured);
    let commitment = miner.commit(go, answer.roots());
    let open = expect_open(session.on_commitment(&commitment, at, rng).unwrap());
    assert_eq!(open.challenge, go.digest());
    assert_eq!(session.requested(), Some(&open.leaves[..]));
    let openings = Miner::openings(&open, answer);
    session
        .on_openings(&openings, at + ms(5), checker())
        .unwrap()
}

fn wrong_cause(verdict: &Verdict) -> Cause {
    match verdict {
        Verdict::WrongResult(w) => w.cause,
        other => panic!("expected wrong-result, got {other:?}"),
    }
}

fn protocol_cause(verdict: &Verdict) -> Cause {
    match verdict {
        Verdict::ProtocolError(p) => p.cause,
        other => panic!("expected protocol-error, got {other:?}"),
    }
}

#[test]
fn honest_matmul_passes_with_its_figures() {
    let (verifier, mut miner) = (Verifier::new(), Miner::new(9));
    let mut session = matmul_session(&verifier, &miner);
    let (go, answer) = honest(&mut session, &verifier, &mut miner);
    let mut rng = Rng(1);
    let verdict = finish(&mut session, &miner, &go, &answer, ms(1000), &mut || {
        rng.next()
    });
    let Verdict::Pass(timing) = &verdict else {
        panic!("expected pass, got {verdict:?}");
    };
    assert_eq!(timing.leaves_checked, 32);
    assert!((timing.measured_s - 1.0).abs() < 1e-9, "{timing:?}");
    assert!((timing.rtt_s - 0.020).abs() < 1e-9, "{timing:?}");
    assert_eq!(timing.window, ENVELOPE);
    assert_eq!(session.verdict(), Some(&verdict));
    assert_eq!(session.poll_timeout(), None);
}

#[test]
fn one_wrong_tile_is_caught_and_named() {
    let (verifier, mut miner) = (Verifier::new(), Miner::new(9));
    let params = matmul_params();
    let mut session = matmul_session(&verifier, &miner);
    let (prepare, go) = begin(&mut session, &verifier, &mut miner, [3; 32]);
    let seed = Miner::seed_for(&prepare, &go.verify().unwrap(), miner.hotkey);
    let key = prf::key(&seed, matmul::STREAM);
    let bad = (2u32, 5u64); // output 2, tile 5
    let outputs = (0..params.count)
        .map(|t| {
            let mut bytes = matmul::product(key, &params, t).unwrap();
            if t == bad.0 {
                bytes[bad.1 as usize * 1024 + 17] ^= 1;
            }
            let tree = OutputTree::new(&bytes);
            (bytes, tree)
        })
        .collect();
    let answer = Answer::Bytes(outputs);
    // Every draw lands on the bad tile: global index = output · 16 tiles + tile.
    let global = u64::from(bad.0) * 16 + bad.1;
    let verdict = finish(&mut session, &miner, &go, &answer, ms(900), &mut || global);
    assert_eq!(wrong_cause(&verdict), Cause::WrongContent);
    let leaf = verdict.failed_leaf().unwrap();
    assert_eq!((leaf.output, leaf.leaf), bad);

    // The same corrupted answer with draws avoiding the bad tile passes: only opened leaves
    // are checked.
    let mut session = matmul_session(&verifier, &miner);
    let mut miner = Miner::new(9);
    let (_, go) = begin(&mut session, &verifier, &mut miner, [3; 32]);
    let verdict = finish(&mut session, &miner, &go, &answer, ms(900), &mut || 0);
    assert!(verdict.is_pass(), "{verdict:?}");
}

#[test]
fn random_roots_for_some_outputs_are_caught() {
    let (verifier, mut miner) = (Verifier::new(), Miner::new(9));
    let mut session = matmul_session(&verifier, &miner);
    let (go, answer) = honest(&mut session, &verifier, &mut miner);
    let mut roots = answer.roots();
    let mut rng = Rng(3);
    for i in [0usize, 2] {
        roots[i] = Root::new(std::array::from_fn(|_| rng.next() as u8));
    }
    let commitment = miner.commit(&go, roots);
    let at = arrival(ms(800));
    let open = expect_open(
        session
            .on_commitment(&commitment, at, &mut || rng.next())
            .unwrap(),
    );
    let openings = Miner::openings(&open, &answer);
    let verdict = session.on_openings(&openings, at, checker()).unwrap();
    assert_eq!(wrong_cause(&verdict), Cause::BadPath);
    let leaf = verdict.failed_leaf().unwrap();
    assert!(leaf.output == 0 || leaf.output == 2, "{leaf:?}");
    assert_eq!(
        open.leaves.iter().find(|l| l.output == 0 || l.output == 2),
        Some(&leaf),
        "the first opened leaf under a random root is named"
    );
}

#[test]
fn a_replayed_commitment_is_refused() {
    let (verifier, mut miner) = (Verifier::new(), Miner::new(9));
    let mut first = matmul_session(&verifier, &miner);
    let (old_go, answer) = honest(&mut first, &verifier, &mut miner);
    let old = miner.commit(&old_go, answer.roots());
    let mut rng = Rng(4);
    expect_open(
        first
            .on_commitment(&old, arrival(ms(900)), &mut || rng.next())
            .unwrap(),
    );

    // A later challenge (new id, new nonce) answered instantly with the old commitment.
    let mut spec = first.spec().clone();
    spec.challenge_id = ChallengeId::new([8; 16]);
    let config = first.config().clone();
    let mut second =
        VerifierSession::new(spec, config, verifier.key.clone(), miner.session_key()).unwrap();
    let (_, _new_go) = begin(&mut second, &verifier, &mut miner, [4; 32]);
    let verdict = expect_verdict(
        second
            .on_commitment(&old, GO_AT + ms(1), &mut || rng.next())
            .unwrap(),
    );
    assert_eq!(protocol_cause(&verdict), Cause::OtherChallenge);
    let Verdict::ProtocolError(fault) = &verdict else {
        unreachable!()
    };
    assert_eq!(fault.waiting_for, Phase::Commitment);
}

#[test]
fn forged_signatures_and_wrong_keys_are_protocol_errors() {
    let (verifier, mut miner) = (Verifier::new(), Miner::new(9));
    // Signed by another key than the miner's session key.
    let mut session = matmul_session(&verifier, &miner);
    let (go, answer) = honest(&mut session, &verifier, &mut miner);
    let impostor = Miner::new(10);
    let commitment = impostor.commit(&go, answer.roots());
    let verdict = expect_verdict(
        session
            .on_commitment(&commitment, arrival(ms(900)), &mut || 0)
            .unwrap(),
    );
    assert_eq!(protocol_cause(&verdict), Cause::BadSignature);
    assert!(matches!(&verdict, Verdict::ProtocolError(p) if p.detail.contains("signed by")));

    // The miner's own key, but the signature bytes tampered with.
    let mut miner = Miner::new(9);
    let mut session = matmul_session(&verifier, &miner);
    let (go, answer) = honest(&mut session, &verifier, &mut miner);
    let mut bytes = miner.commit(&go, answer.roots()).to_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    let forged = Signed::<Commitment>::from_bytes(&bytes).unwrap();
    let verdict = expect_verdict(
        session
            .on_commitment(&forged, arrival(ms(900)), &mut || 0)
            .unwrap(),
    );
    assert_eq!(protocol_cause(&verdict), Cause::BadSignature);
}

#[test]
fn anything_but_openings_after_the_commitment_is_wrong_result() {
    let (verifier, mut miner) = (Verifier::new(), Miner::new(9));
    let mut session = matmul_session(&verifier, &miner);
    let (go, answer) = honest(&mut session, &verifier, &mut miner);
    let commitment = miner.commit(&go, answer.roots());
    let at = arrival(ms(900));
    expect_open(session.on_commitment(&commitment, at, &mut || 1).unwrap());
    // A second commitment (even a valid one) where openings are due.
    let verdict = expect_verdict(
        session
            .on_commitment(&commitment, at + ms(1), &mut || 1)
            .unwrap(),
    );
    assert_eq!(wrong_cause(&verdict), Cause::Unexpected);
    assert!(verdict.timing().is_some());
    assert_eq!(session.on_timeout(at + ms(60_000)), None);

    // Garbage, and a refusal, after the commitment.
    for garbage in [true, false] {
        let mut miner = Miner::new(9);
        let mut session = matmul_session(&verifier, &miner);
        let (go, answer) = honest(&mut session, &verifier, &mut miner);
        let commitment = miner.commit(&go, answer.roots());
        expect_open(session.on_commitment(&commitment, at, &mut || 1).unwrap());
        let verdict = if garbage {
            session
                .on_unexpected("Openings frame", true, at + ms(1))
                .unwrap()
        } else {
            let refusal = ErrorMsg::new(ErrorCode::Internal, "cannot open");
            session.on_peer_error(&refusal, at + ms(1)).unwrap()
        };
        let expected = if garbage {
            Cause::Malformed
        } else {
            Cause::PeerError
        };
        assert_eq!(wrong_cause(&verdict), expected);
    }
}

#[test]
fn wrong_openings_are_wrong_results() {
    let (verifier, mut miner) = (Verifier::new(), Miner::new(9));
    type Spoil = fn(&mut Openings);
    let cases: [(&str, Spoil, Cause); 4] = [
        (
            "one missing",
            |o| drop(o.openings.pop()),
            Cause::OpeningCount,
        ),
        ("another leaf", |o| o.openings.swap(0, 1), Cause::OtherLeaf),
        (
            "another challenge",
            |o| o.challenge = protocol::Digest::new([0; 32]),
            Cause::OtherChallenge,
        ),
        (
            "a bad path",
            |o| o.openings[3].path[0].left[0] ^= 1,
            Cause::BadPath,
        ),
    ];
    for (name, spoil, cause) in cases {
        let mut session = matmul_session(&verifier, &miner);
        let (go, answer) = honest(&mut session, &verifier, &mut miner);
        let at = arrival(ms(900));
        let commitment = miner.commit(&go, answer.roots());
        let mut draws = 0u64;
        let open = expect_open(
            session
                .on_commitment(&commitment, at, &mut || {
                    draws += 1;
                    draws // leaves 1, 2, 3, ...: all different
                })
                .unwrap(),
        );
        let mut openings = Miner::openings(&open, &answer);
        spoil(&mut openings);
        let verdict = session.on_openings(&openings, at, checker()).unwrap();
        assert_eq!(wrong_cause(&verdict), cause, "{name}: {verdict:?}");
        miner = Miner::new(9);
    }
}

#[test]
fn too_slow_and_too_fast_follow_the_verifiers_clock() {
    let verifier = Verifier::new();
    let cases = [
        (ms(2_001), "too-slow"),
        (ms(2_000), "pass"),
        (ms(100), "pass"),
        (ms(99), "too-fast"),
        (ms(0), "too-fast"),
    ];
    for (measured, kind) in cases {
        let mut miner = Miner::new(9);
        let mut session = matmul_session(&verifier, &miner);
        let (go, answer) = honest(&mut session, &verifier, &mut miner);
        let verdict = finish(&mut session, &miner, &go, &answer, measured, &mut || 7);
        assert_eq!(
            verdict.kind().as_str(),
            kind,
            "measured {measured:?}: {verdict:?}"
        );
        let timing = verdict.timing().unwrap();
        assert!((timing.measured_s - measured.as_secs_f64()).abs() < 1e-9);
    }
}

#[test]
fn an_inflated_rtt_buys_at_most_the_cap() {
    let (verifier, mut miner) = (Verifier::new(), Miner::new(9));
    let mut session = matmul_session(&verifier, &miner);
    let mut spec = session.spec().clone();
    spec.challenge_id = ChallengeId::new([9; 16]);
    let mut config = session.config().clone();
    config.min_rtt = ms(400); // the miner delayed the pings
    session =
        VerifierSession::new(spec, config, verifier.key.clone(), miner.session_key()).unwrap();
    let (go, answer) = honest(&mut session, &verifier, &mut miner);
    // 2.3 s after Go: 2.25 s measured with the 50 ms cap, too slow; 1.9 s if 400 ms counted.
    let commitment = miner.commit(&go, answer.roots());
    let at = GO_AT + ms(2_300);
    let open = expect_open(session.on_commitment(&commitment, at, &mut || 5).unwrap());
    let verdict = session
        .on_openings(&Miner::openings(&open, &answer), at, checker())
        .unwrap();
    assert_eq!(verdict.kind().as_str(), "too-slow", "{verdict:?}");
    let timing = verdict.timing().unwrap();
    assert!((timing.rtt_s - 0.050).abs() < 1e-9 && (timing.measured_s - 2.25).abs() < 1e-9);

    // A commitment "before" the RTT credit reads as 0, never negative.
    let mut miner = Miner::new(9);
    let mut session = matmul_session(&verifier, &miner);
    let (go, answer) = honest(&mut session, &verifier, &mut miner);
    let commitment = miner.commit(&go, answer.roots());
    let open = expect_open(
        session
            .on_commitment(&commitment, GO_AT + ms(3), &mut || 5)
            .unwrap(),
    );
    let verdict = session
        .on_openings(&Miner::openings(&open, &answer), GO_AT + ms(4), checker())
        .unwrap();
    assert_eq!(verdict.kind().as_str(), "too-fast");
    assert_eq!(verdict.timing().unwrap().measured_s, 0.0);
}

#[test]
fn hanging_up_after_seeing_the_leaves_is_wrong_result() {
    let verifier = Verifier::new();
    for closes in [false, true] {
        let mut miner = Miner::new(9);
        let mut session = matmul_session(&verifier, &miner);
        let (go, answer) = honest(&mut session, &verifier, &mut miner);
        let at = arrival(ms(900));
        let commitment = miner.commit(&go, answer.roots());
        expect_open(session.on_commitment(&commitment, at, &mut || 2).unwrap());
        let deadline = session.poll_timeout().unwrap();
        assert_eq!(deadline, at + session.config().timeouts.openings);
        let verdict = if closes {
            session.on_closed(at + ms(1)).unwrap()
        } else {
            assert_eq!(session.on_timeout(deadline - ms(1)), None);
            session.on_timeout(deadline).unwrap()
        };
        let expected = if closes {
            Cause::ConnectionClosed
        } else {
            Cause::NoOpenings
        };
        assert_eq!(wrong_cause(&verdict), expected);
        // Openings arriving after the verdict change nothing.
        let late = Openings {
            challenge: go.digest(),
            openings: vec![answer.open(0, 0)],
        };
        let late = session.on_openings(&late, deadline, checker());
        assert!(matches!(late, Err(SessionError::WrongState { .. })));
        assert_eq!(session.verdict(), Some(&verdict));
    }
}

#[test]
fn late_openings_are_wrong_result() {
    let (verifier, mut miner) = (Verifier::new(), Miner::new(9));
    let mut session = matmul_session(&verifier, &miner);
    let (go, answer) = honest(&mut session, &verifier, &mut miner);
    let at = arrival(ms(900));
    let commitment = miner.commit(&go, answer.roots());
    let open = expect_open(session.on_commitment(&commitment, at, &mut || 2).unwrap());
    let late = at + session.config().timeouts.openings;
    let verdict = session
        .on_openings(&Miner::openings(&open, &answer), late, checker())
        .unwrap();
    assert_eq!(wrong_cause(&verdict), Cause::NoOpenings);
}

#[test]
fn a_challenge_handed_to_another_miner_fails() {
    let verifier = Verifier::new();
    let mut miner = Miner::new(9);
    let helper = Miner::new(11);
    let mut session = matmul_session(&verifier, &miner);
    let (prepare, go) = begin(&mut session, &verifier, &mut miner, [5; 32]);
    // The helper computes the challenge as its own (seed bound to its hotkey); the miner
    // re-signs the answer with its own key.
    let seed = Miner::seed_for(&prepare, &go.verify().unwrap(), helper.hotkey);
    let answer = helper.run(&prepare, seed);
    let mut rng = Rng(6);
    let verdict = finish(&mut session, &miner, &go, &answer, ms(900), &mut || {
        rng.next()
    });
    assert_eq!(wrong_cause(&verdict), Cause::WrongContent);
}

#[test]
fn no_commitment_in_time_is_a_timeout() {
    let (verifier, mut miner) = (Verifier::new(), Miner::new(9));
    let mut session = matmul_session(&verifier, &miner);
    let (go, answer) = honest(&mut session, &verifier, &mut miner);
    let deadline = session.poll_timeout().unwrap();
    assert_eq!(deadline, GO_AT + session.config().timeouts.commitment);
    assert!(session.config().timeouts.commitment > Duration::from_secs_f64(ENVELOPE.max_s));
    // A commitment after the deadline is judged by its arrival, even if the timer is late.
    let commitment = miner.commit(&go, answer.roots());
    let verdict = expect_verdict(
        session
            .on_commitment(&commitment, deadline, &mut || 0)
            .unwrap(),
    );
    let Verdict::Timeout(t) = &verdict else {
        panic!("expected timeout, got {verdict:?}");
    };
    assert_eq!(t.waiting_for, Phase::Commitment);
    assert!(!t.connection_closed);
    assert!((t.limit_s - session.config().timeouts.commitment.as_secs_f64()).abs() < 1e-9);

    // No Ready at all.
    let mut session = matmul_session(&verifier, &miner);
    session.start(ms(0)).unwrap();
    let verdict = session.on_timeout(session.poll_timeout().unwrap()).unwrap();
    assert!(matches!(verdict, Verdict::Timeout(t) if t.waiting_for == Phase::Ready));
    // The connection closes before the commitment.
    let mut miner = Miner::new(9);
    let mut session = matmul_session(&verifier, &miner);
    honest(&mut session, &verifier, &mut miner);
    let verdict = session.on_closed(GO_AT + ms(50)).unwrap();
    assert!(matches!(verdict, Verdict::Timeout(t) if t.connection_closed));
}

#[test]
fn faults_before_the_commitment_are_protocol_errors() {
    let (verifier, mut miner) = (Verifier::new(), Miner::new(9));
    // A Ready for another Prepare.
    let mut session = matmul_session(&verifier, &miner);
    let signed = session.start(ms(0)).unwrap();
    let ready = Ready {
        challenge_id: ChallengeId::new([7; 16]),
        prepare: protocol::Digest::new([1; 32]),
    };
    let verdict = session.on_ready(&ready, ms(1)).unwrap().unwrap();
    assert_eq!(protocol_cause(&verdict), Cause::OtherChallenge);
    assert_ne!(ready.prepare, signed.digest());

    // A refusal instead of Ready.
    let mut session = matmul_session(&verifier, &miner);
    session.start(ms(0)).unwrap();
    let busy = ErrorMsg::new(ErrorCode::BusyDevice, "device 0 is busy");
    let verdict = session.on_peer_error(&busy, ms(1)).unwrap();
    let Verdict::ProtocolError(fault) = &verdict else {
        panic!("{verdict:?}");
    };
    assert_eq!(
        (fault.cause, fault.peer_code, fault.waiting_for),
        (Cause::PeerError, Some(ErrorCode::BusyDevice), Phase::Ready)
    );

    // Openings before any commitment.
    let mut session = matmul_session(&verifier, &miner);
    let (_, go) = begin(&mut session, &verifier, &mut miner, [6; 32]);
    let openings = Openings {
        challenge: go.digest(),
        openings: vec![],
    };
    let verdict = session.on_openings(&openings, GO_AT, checker()).unwrap();
    assert_eq!(protocol_cause(&verdict), Cause::Unexpected);
}

#[test]
fn a_commitment_with_the_wrong_root_count_is_wrong_result() {
    let (verifier, mut miner) = (Verifier::new(), Miner::new(9));
    let mut session = matmul_session(&verifier, &miner);
    let (go, answer) = honest(&mut session, &verifier, &mut miner);
    let mut roots = answer.roots();
    roots.pop();
    let commitment = miner.commit(&go, roots);
    let verdict = expect_verdict(
        session
            .on_commitment(&commitment, arrival(ms(500)), &mut || 0)
            .unwrap(),
    );
    assert_eq!(wrong_cause(&verdict), Cause::RootCount);
}

#[test]
fn misuse_is_an_error_not_a_verdict() {
    let (verifier, miner) = (Verifier::new(), Miner::new(9));
    let mut session = matmul_session(&verifier, &miner);
    let wrong_state =
        |r: Result<_, SessionError>| matches!(r, Err(SessionError::WrongState { .. }));
    assert!(wrong_state(session.go(ms(0), [0; 32]).map(|_| ())));
    let ready = Ready {
        challenge_id: ChallengeId::new([7; 16]),
        prepare: protocol::Digest::new([0; 32]),
    };
    assert!(wrong_state(session.on_ready(&ready, ms(0)).map(|_| ())));
    assert_eq!(session.on_timeout(ms(1_000_000)), None);
    assert_eq!(session.on_closed(ms(1)), None);
    session.start(ms(0)).unwrap();
    assert!(wrong_state(session.start(ms(1)).map(|_| ())));
    assert!(wrong_state(session.go(ms(1), [0; 32]).map(|_| ())));

    // Bad configs.
    let spec = session.spec().clone();
    let mut config = session.config().clone();
    config.envelope.peak_floor_s = 3.0;
    let bad = VerifierSession::new(
        spec.clone(),
        config,
        verifier.key.clone(),
        miner.session_key(),
    );
    assert!(matches!(bad, Err(SessionError::BadEnvelope { .. })));
    let mut config = session.config().clone();
    config.openings = 0;
    let bad = VerifierSession::new(
        spec.clone(),
        config,
        verifier.key.clone(),
        miner.session_key(),
    );
    assert!(matches!(bad, Err(SessionError::BadOpenCount { .. })));
    let mut spec = spec;
    spec.module_bytes = Some(b"not the module".to_vec());
    let bad = VerifierSession::new(
        spec,
        session.config().clone(),
        verifier.key.clone(),
        miner.session_key(),
    );
    assert!(matches!(bad, Err(SessionError::ModuleHashMismatch { .. })));
}

#[test]
fn verdicts_serialize_with_their_kind_and_figures() {
    let (verifier, mut miner) = (Verifier::new(), Miner::new(9));
    let mut session = matmul_session(&verifier, &miner);
    let (go, answer) = honest(&mut session, &verifier, &mut miner);
    let verdict = finish(&mut session, &miner, &go, &answer, ms(2_500), &mut || 3);
    let json = serde_json::to_value(&verdict).unwrap();
    assert_eq!(json["kind"], "too-slow");
    assert_eq!(json["window"]["max_s"], 2.0);
    assert_eq!(json["leaves_checked"], 32);
    assert_eq!(serde_json::from_value::<Verdict>(json).unwrap(), verdict);

    let mut miner = Miner::new(9);
    let mut session = matmul_session(&verifier, &miner);
    let (go, answer) = honest(&mut session, &verifier, &mut miner);
    let commitment = miner.commit(&go, answer.roots());
    expect_open(
        session
            .on_commitment(&commitment, arrival(ms(900)), &mut || 1)
            .unwrap(),
    );
    let verdict = session.on_closed(arrival(ms(901))).unwrap();
    let json = serde_json::to_value(&verdict).unwrap();
    assert_eq!(json["kind"], "wrong-result");
    assert_eq!(json["cause"], "connection-closed");
    assert!(json["measured_s"].is_number());
    assert_eq!(serde_json::from_value::<Verdict>(json).unwrap(), verdict);

    for (verdict, kind) in [
        (
            Verdict::Timeout(verifier::session::TimedOut {
                waiting_for: Phase::Commitment,
                waited_s: 1.0,
                limit_s: 1.0,
                connection_closed: false,
                window: ENVELOPE,
                busy: false,
            }),
            "timeout",
        ),
        (
            Verdict::ProtocolError(verifier::session::ProtocolFault {
                waiting_for: Phase::Ready,
                cause: Cause::BadSignature,
                detail: String::new(),
                peer_code: None,
            }),
            "protocol-error",
        ),
    ] {
        let json = serde_json::to_value(&verdict).unwrap();
        assert_eq!(json["kind"], kind);
        assert_eq!(verdict.kind().as_str(), kind);
        assert_eq!(serde_json::from_value::<Verdict>(json).unwrap(), verdict);
    }
}
