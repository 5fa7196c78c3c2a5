//! Receipts end to end in memory: a real challenge (the module run in the sandbox on the CPU
//! backend, both sides' messages signed as on the wire, simulated time) through the
//! `VerifierSession`, made into a receipt, audited; then every kind of field changed, each
//! refused with the failure that names it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use builtin_modules::Builtin;
use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenge_runtime::{PhaseHook, PhaseRefused, Sandbox, SandboxLimits};
use challenges::commitment::OutputTree;
use challenges::matmul::MatmulParams;
use challenges::membw::MembwParams;
use challenges::prf::challenge_seed;
use protocol::ed25519_dalek::SigningKey;
use protocol::{
    ABI_VERSION, ChallengeId, Commitment, GpuInfo, HostFacts, Inventory, MinerTimings, ModuleHash,
    Negotiated, NodePair, OpeningWire, Openings, PROTOCOL_VERSION, PhaseDone, Ready, Role, Root,
    SessionKey, Signed,
};
use transport::identity::{hotkey_of, issue_certificate, load_hotkey, unix_ms_now};
use transport::{Identity, KeySource};
use validator_store::VerdictKind;

use super::audit::{Audit, AuditContext, AuditError, audit};
use super::format::{B32, Buf, Receipt, Subject};
use super::{Signer, receipts_for};
use crate::classes::{ClassTable, CpuRates, envelope, step_envelopes};
use crate::client::{ChallengeEvidence, ChallengeReport, DeviceReport, MinerReport};
use crate::session::{
    ChallengeSpec, CommitmentOutcome, Envelope, OutputLayout, SandboxChecker, SessionConfig,
    Verdict, VerifierSession,
};

const VALIDITY: Duration = Duration::from_secs(3600);
const RATES: CpuRates = CpuRates {
    prf_fill_blocks_per_s: 3e7,
    gemm_ops_per_s: 2e9,
    hash_bytes_per_s: 5e8,
    membw_fill_blocks_per_s: 3e7,
    membw_pass_bytes_per_s: 1e9,
};

fn sandbox() -> &'static Sandbox {
    static S: OnceLock<Sandbox> = OnceLock::new();
    S.get_or_init(|| Sandbox::new(SandboxLimits::default()).unwrap())
}

fn backend() -> &'static CpuBackend {
    static B: OnceLock<CpuBackend> = OnceLock::new();
    B.get_or_init(|| {
        CpuBackend::new(CpuConfig {
            devices: 1,
            threads_per_device: 1,
            memory_bytes: 64 << 20,
        })
        .unwrap()
    })
}

fn checker() -> &'static SandboxChecker {
    static C: OnceLock<SandboxChecker> = OnceLock::new();
    C.get_or_init(|| SandboxChecker::with_builtins().unwrap())
}

fn table() -> &'static ClassTable {
    static T: OnceLock<ClassTable> = OnceLock::new();
    T.get_or_init(|| ClassTable::embedded().unwrap())
}

fn ctx() -> AuditContext<'static> {
    AuditContext {
        table: table(),
        checker: checker(),
    }
}

/// The validator: `//Alice`'s certificate on a fixed session key.
fn validator() -> Identity {
    let hotkey = load_hotkey(&KeySource::Uri("//Alice".into())).unwrap();
    Identity::issue(
        SigningKey::from_bytes(&[1; 32]),
        &hotkey,
        Role::Validator,
        VALIDITY,
    )
}

/// The miner: `//Bob`'s certificate on a fixed session key.
fn miner() -> (SigningKey, protocol::SessionCertificate) {
    let hotkey = load_hotkey(&KeySource::Uri("//Bob".into())).unwrap();
    let key = SigningKey::from_bytes(&[2; 32]);
    let cert = issue_certificate(&key, &hotkey, Role::Miner, unix_ms_now(), VALIDITY);
    (key, cert)
}

fn gpu() -> GpuInfo {
    GpuInfo {
        index: 0,
        name: "cpu-reference".into(),
        uuid: "CPU-0".into(),
        memory_bytes: 16 << 20,
        pci_bus_id: String::new(),
        pcie_gen: None,
        pcie_width: None,
    }
}

/// Records each phase end's roots and answers with fixed nonces.
struct Phases {
    nonces: Vec<[u8; 32]>,
    ends: Arc<Mutex<Vec<Vec<[u8; 32]>>>>,
}

impl PhaseHook for Phases {
    fn phase_end(&mut self, ended: u32, roots: &[[u8; 32]]) -> Result<[u8; 32], PhaseRefused> {
        self.ends.lock().unwrap().push(roots.to_vec());
        self.nonces
            .get(ended as usize)
            .copied()
            .ok_or_else(|| PhaseRefused("no nonce".into()))
    }
}

/// How the simulated miner answers.
#[derive(Clone, Copy, PartialEq)]
enum Miner {
    Honest,
    /// Flips one byte of leaf 0 of output 0 before committing (and opens consistently).
    WrongFirstLeaf,
}

fn matmul() -> (Builtin, Vec<u8>) {
    let p = MatmulParams {
        m: 32,
        n: 32,
        k: 64,
        count: 2,
    };
    (builtin_modules::MATMUL_I8, p.encode().to_vec())
}

fn membw() -> (Builtin, Vec<u8>) {
    let p = MembwParams {
        bytes: 128 << 10,
        group: 1024,
        rounds: 1,
        passes: 2,
    };
    (builtin_modules::MEMBW, p.encode().to_vec())
}

/// A session for `module` with `params` from `identity` to the miner's key, judged by the
/// calibrated `cpu-reference` class's envelopes (whole, and per phase), 2 ms of RTT.
fn session_for(
    module: Builtin,
    params: &[u8],
    identity: &Identity,
    miner_key: &SigningKey,
) -> (VerifierSession, Envelope, Vec<Envelope>) {
    let class = table()
        .get("cpu-reference")
        .unwrap()
        .with_cpu_rates(RATES)
        .unwrap();
    let work = module.spec().work(params).unwrap();
    let whole = envelope(&class, &work).unwrap();
    let phases = step_envelopes(&class, &work).unwrap();
    let module_hash = ModuleHash::new(module.hash());
    let (_, miner_cert) = miner();
    let spec = ChallengeSpec {
        challenge_id: ChallengeId::new([7; 16]),
        versions: Negotiated {
            protocol_version: PROTOCOL_VERSION,
            abi_version: ABI_VERSION,
        },
        validator: identity.hotkey(),
        miner: miner_cert.hotkey,
        module_hash,
        module_bytes: None,
        params: params.to_vec(),
        device: 0,
        expires_at_ms: u64::MAX,
        layout: OutputLayout::builtin(&module_hash, params).unwrap(),
    };
    let config = SessionConfig::new(whole, Duration::from_millis(2)).with_phases(phases.clone());
    let session = VerifierSession::new(
        spec,
        config,
        identity.signing_key().clone(),
        SessionKey::of(miner_key),
    )
    .unwrap();
    (session, whole, phases)
}

/// Plays one challenge in simulated time and returns its receipt file: each phase takes the
/// middle of its window, the RTT is 2 ms.
fn play((module, params): (Builtin, Vec<u8>), how: Miner) -> Vec<u8> {
    // One CPU device: the tests that play take turns on it.
    static DEVICE: Mutex<()> = Mutex::new(());
    let _device = DEVICE.lock().unwrap_or_else(|p| p.into_inner());
    let identity = validator();
    let (miner_key, miner_cert) = miner();
    let (mut session, whole, phases) = session_for(module, &params, &identity, &miner_key);
    let spec = session.spec().clone();
    let module_hash = spec.module_hash;
    let rtt = session.config().min_rtt;
    let mut now = Duration::from_millis(5);
    let prepare = session.start(now).unwrap();
    now += Duration::from_millis(3);
    let ready = Ready {
        challenge_id: spec.challenge_id,
        prepare: prepare.digest(),
    };
    assert!(session.on_ready(&ready, now).unwrap().is_none());
    now += Duration::from_millis(1);
    let nonce = [0x42; 32];
    let go = session.go(now, nonce).unwrap();
    let seed = challenge_seed(
        &nonce,
        spec.validator.as_bytes(),
        spec.miner.as_bytes(),
        module_hash.as_bytes(),
        &params,
        0,
    );
    let phase_nonces: Vec<[u8; 32]> = (1..phases.len()).map(|k| [k as u8 + 0x10; 32]).collect();
    let ends = Arc::new(Mutex::new(Vec::new()));
    let loaded = sandbox().load(module.bytes).unwrap();
    let run = sandbox()
        .run_phased(
            &loaded,
            backend(),
            0,
            seed,
            &params,
            Box::new(Phases {
                nonces: phase_nonces.clone(),
                ends: Arc::clone(&ends),
            }),
        )
        .unwrap();
    // Each phase takes the middle of its window (plus the RTT the session credits back).
    let mid = |e: &Envelope| Duration::from_secs_f64((e.peak_floor_s + e.max_s) / 2.0) + rtt;
    let mut cites = go.digest();
    let ends = ends.lock().unwrap().clone();
    for (k, roots) in ends.iter().enumerate() {
        now += mid(&phases[k]);
        let done = PhaseDone {
            cites,
            phase: k as u32,
            roots: roots.iter().copied().map(Root::new).collect(),
        };
        let done = Signed::sign(&miner_key, &done).unwrap();
        assert!(session.on_phase_done(&done, now).unwrap().is_none());
        now += Duration::from_millis(1);
        let key = session.phase_key(now, phase_nonces[k]).unwrap();
        cites = key.digest();
    }
    let (outputs, trees) = committed_outputs(&run, &spec.layout, how);
    now += mid(phases.last().unwrap_or(&whole));
    let commitment = Commitment {
        challenge: go.digest(),
        roots: trees
            .iter()
            .map(|t| Root::new(*t.root().as_bytes()))
            .collect(),
        timings: MinerTimings::default(),
    };
    let commitment = Signed::sign(&miner_key, &commitment).unwrap();
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let open = match session.on_commitment(&commitment, now, &mut next).unwrap() {
        CommitmentOutcome::Open(open) => open,
        CommitmentOutcome::Verdict(v) => panic!("no open: {v:?}"),
    };
    if how == Miner::WrongFirstLeaf {
        assert!(
            open.leaves.iter().any(|l| l.output == 0 && l.leaf == 0),
            "the draw must reach the spoiled leaf for this test"
        );
    }
    let openings = openings_of(go.digest(), &open.leaves, &outputs, &trees);
    now += Duration::from_millis(4);
    let verdict = session.on_openings(&openings, now, checker()).unwrap();
    match how {
        Miner::Honest => assert!(verdict.is_pass(), "{verdict:?}"),
        Miner::WrongFirstLeaf => {
            assert_eq!(verdict.kind(), VerdictKind::WrongResult, "{verdict:?}")
        }
    }
    let report = report_of(module, &params, verdict, whole, &session, &miner_cert);
    let signer = Signer {
        identity: &identity,
        class_table: table().hash(),
    };
    let made = receipts_for(&report, miner_cert.hotkey, &signer).unwrap();
    assert_eq!(made.len(), 1);
    made.into_iter().next().unwrap().bytes
}

/// The round's report with the session's evidence, as the client makes it.
fn report_of(
    module: Builtin,
    params: &[u8],
    verdict: Verdict,
    whole: Envelope,
    session: &VerifierSession,
    miner_cert: &protocol::SessionCertificate,
) -> MinerReport {
    MinerReport {
        addr: "127.0.0.1:1".parse().unwrap(),
        hotkey: None,
        min_rtt_ms: Some(2.0),
        inventory: Some(Inventory {
            gpus: vec![gpu()],
            host: HostFacts {
                cpu_model: "test".into(),
                cpu_cores: 1,
                memory_bytes: 1 << 30,
                os: "test".into(),
            },
        }),
        devices: vec![DeviceReport {
            index: 0,
            name: gpu().name,
            uuid: gpu().uuid,
            memory_bytes: gpu().memory_bytes,
            class: Some("cpu-reference".into()),
            skipped: None,
            challenges: vec![ChallengeReport {
                module: module.name,
                params: hex::encode(params),
                verdict: Some(verdict),
                error: None,
                window: Some(whole),
                evidence: Some(Box::new(ChallengeEvidence {
                    spec: session.spec().clone(),
                    config: session.config().clone(),
                    transcript: session.transcript().clone(),
                    cpu_rates: Some(RATES),
                    rented: false,
                })),
            }],
        }],
        probe_plan: None,
        probe: Vec::new(),
        error: None,
        fault: None,
        elapsed_s: 1.0,
        started_at_ms: unix_ms_now(),
        miner_certificate: Some(miner_cert.clone()),
    }
}

/// The outputs the miner commits and their trees (the cheat spoils one byte of output 0's
/// leaf 0 and builds its tree over that).
fn committed_outputs(
    run: &challenge_runtime::RunOutcome,
    layout: &OutputLayout,
    how: Miner,
) -> (Vec<Vec<u8>>, Vec<OutputTree>) {
    let outputs: Vec<Vec<u8>> = (0..run.outputs.len() as u32)
        .map(|o| {
            let per = layout.leaves_per_output();
            let mut bytes: Vec<u8> = (0..per)
                .flat_map(|leaf| run.open(o, leaf).unwrap().chunk)
                .collect();
            if how == Miner::WrongFirstLeaf && o == 0 {
                bytes[17] ^= 0x01;
            }
            bytes
        })
        .collect();
    let trees = outputs.iter().map(|b| OutputTree::new(b)).collect();
    (outputs, trees)
}

/// The openings of `leaves` from the committed outputs.
fn openings_of(
    go: protocol::Digest,
    leaves: &[protocol::LeafRef],
    outputs: &[Vec<u8>],
    trees: &[OutputTree],
) -> Openings {
    Openings {
        challenge: go,
        openings: leaves
            .iter()
            .map(|l| {
                let o = l.output as usize;
                let opening = trees[o].open(&outputs[o], l.leaf).unwrap();
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
            .collect(),
    }
}

fn honest_matmul() -> &'static [u8] {
    static R: OnceLock<Vec<u8>> = OnceLock::new();
    R.get_or_init(|| play(matmul(), Miner::Honest))
}

fn honest_membw() -> &'static [u8] {
    static R: OnceLock<Vec<u8>> = OnceLock::new();
    R.get_or_init(|| play(membw(), Miner::Honest))
}

/// The receipt's body, decoded without checks.
fn decode(bytes: &[u8]) -> Receipt {
    let signed = Signed::<Receipt>::from_bytes(bytes).unwrap();
    let mut body = signed.body();
    ciborium::de::from_reader(&mut body).unwrap()
}

/// `receipt` changed after signing: re-encoded under the original envelope's signer and
/// signature (as a forger without the key would).
fn forged(original: &[u8], receipt: &Receipt) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Envelope {
        body: Buf,
        signer: Buf,
        signature: Buf,
    }
    let signed = Signed::<Receipt>::from_bytes(original).unwrap();
    let mut body = Vec::new();
    ciborium::into_writer(receipt, &mut body).unwrap();
    let mut out = Vec::new();
    ciborium::into_writer(
        &Envelope {
            body: Buf(body),
            signer: Buf(signed.signer().as_bytes().to_vec()),
            signature: Buf(signed.signature().to_vec()),
        },
        &mut out,
    )
    .unwrap();
    out
}

fn with_challenge(
    original: &[u8],
    change: impl FnOnce(&mut super::format::ChallengeRecord),
) -> Vec<u8> {
    let mut receipt = decode(original);
    let Subject::Challenge(c) = &mut receipt.subject else {
        panic!("not a challenge receipt")
    };
    change(c);
    forged(original, &receipt)
}

fn checks(a: &Audit) -> Vec<&'static str> {
    a.failures.iter().map(AuditError::check).collect()
}

/// The audit of `bytes` fails, with the validator's signature among the failures and a
/// failure `want` whose message contains `says`.
fn refused(bytes: &[u8], want: &str, says: &str) -> Audit {
    let a = audit(bytes, &ctx());
    assert!(!a.holds(), "a changed receipt held: {a:#?}");
    assert!(
        a.failures
            .iter()
            .any(|f| f.check() == want && f.to_string().contains(says)),
        "no {want} failure saying {says:?} in {:#?}",
        a.failures
    );
    a
}

/// Flips byte `at` of `bytes`.
fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0x01;
    out
}

/// Where `needle` starts in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("the bytes are in the receipt")
}

#[test]
fn honest_receipts_hold_with_nothing_but_the_file() {
    for bytes in [honest_matmul(), honest_membw()] {
        let a = audit(bytes, &ctx());
        assert!(a.holds(), "{:#?}", a.failures);
        assert_eq!(a.verdict, Some(VerdictKind::Pass));
        assert!(
            a.proven.iter().any(|p| p.contains("follow valid paths")),
            "{a:#?}"
        );
        assert!(
            a.proven
                .iter()
                .any(|p| p.contains("follows from the class table")),
            "{a:#?}"
        );
        assert!(a.attested.iter().any(|p| p.contains("the times")), "{a:#?}");
        // The id is the envelope's digest.
        let signed = Signed::<Receipt>::from_bytes(bytes).unwrap();
        assert_eq!(a.id.unwrap(), hex::encode(signed.digest().as_bytes()));
    }
    // The membw receipt carries its phases: one PhaseDone, one PhaseKey, the phase seed.
    let Subject::Challenge(c) = decode(honest_membw()).subject else {
        panic!()
    };
    assert_eq!((c.phase_dones.len(), c.phase_keys.len()), (1, 1));
    assert_eq!(c.phase_seeds.len(), 1);
    assert_eq!(c.verdict.timing().unwrap().phases.len(), 2);
}

#[test]
fn a_changed_signature_is_refused_as_the_validators() {
    let bytes = honest_matmul();
    let a = refused(
        &flip(bytes, bytes.len() - 5),
        "validator-signature",
        "changed",
    );
    assert_eq!(
        checks(&a),
        ["validator-signature"],
        "only the signature: {a:#?}"
    );
}

#[test]
fn a_changed_root_is_refused_as_the_miners_commitment() {
    let bytes = honest_matmul();
    let Subject::Challenge(c) = decode(bytes).subject else {
        panic!()
    };
    let commitment = Signed::<Commitment>::from_bytes(&c.commitment.unwrap().envelope.0).unwrap();
    let root = commitment.verify().unwrap().roots[1];
    let at = find(bytes, root.as_bytes()) + 7;
    let a = refused(&flip(bytes, at), "message", "the miner's commitment");
    assert!(checks(&a).contains(&"validator-signature"), "{a:#?}");
}

#[test]
fn a_changed_leaf_is_refused_naming_the_leaf() {
    let bytes = honest_matmul();
    let Subject::Challenge(c) = decode(bytes).subject else {
        panic!()
    };
    let first = &c.openings_received.unwrap().openings.openings[0];
    let at = find(bytes, &first.chunk) + 300;
    let want = format!("output {} leaf {}", first.output, first.leaf);
    let a = refused(&flip(bytes, at), "opening", &want);
    assert!(
        a.failures
            .iter()
            .any(|f| f.to_string().contains("do not hash")),
        "{a:#?}"
    );
    // A path node too.
    let node = first.path[0].left;
    refused(&flip(bytes, find(bytes, &node) + 3), "opening", &want);
}

#[test]
fn a_changed_time_is_refused_naming_the_figure() {
    let bytes = honest_matmul();
    let changed = with_challenge(bytes, |c| {
        c.commitment.as_mut().unwrap().at_ns += 1_000_000;
    });
    refused(&changed, "verdict", "measured_s");
    let changed = with_challenge(bytes, |c| c.min_rtt_ns += 1);
    refused(&changed, "verdict", "rtt_s");
    // A phase's end (membw).
    let changed = with_challenge(honest_membw(), |c| c.phase_dones[0].at_ns -= 1);
    refused(&changed, "verdict", "phase 0");
}

#[test]
fn a_changed_verdict_is_refused() {
    let bytes = honest_matmul();
    let changed = with_challenge(bytes, |c| {
        let Verdict::Pass(t) = &c.verdict else {
            panic!()
        };
        c.verdict = Verdict::TooSlow(t.clone());
    });
    refused(&changed, "verdict", "recorded too-slow");
    let changed = with_challenge(bytes, |c| {
        let Verdict::Pass(t) = &mut c.verdict else {
            panic!()
        };
        t.measured_s *= 0.5;
    });
    refused(&changed, "verdict", "measured_s");
    let changed = with_challenge(bytes, |c| {
        let Verdict::Pass(t) = &mut c.verdict else {
            panic!()
        };
        t.leaves_checked -= 1;
    });
    refused(&changed, "verdict", "leaves_checked");
}

#[test]
fn changed_bindings_are_refused_by_name() {
    let bytes = honest_matmul();
    refused(
        &with_challenge(bytes, |c| c.nonce = Some(B32([9; 32]))),
        "mismatch",
        "nonce",
    );
    refused(
        &with_challenge(bytes, |c| c.seed = Some(B32([9; 32]))),
        "seed",
        "challenge seed",
    );
    refused(
        &with_challenge(bytes, |c| c.params.0[0] ^= 1),
        "mismatch",
        "params",
    );
    refused(
        &with_challenge(bytes, |c| c.device = 3),
        "mismatch",
        "device",
    );
    refused(
        &with_challenge(honest_membw(), |c| c.phase_seeds[0] = B32([9; 32])),
        "seed",
        "phase 1",
    );
    refused(
        &with_challenge(honest_membw(), |c| c.phase_nonces[0] = B32([9; 32])),
        "mismatch",
        "phase_nonces",
    );
    let changed = with_challenge(bytes, |c| {
        c.envelope.as_mut().unwrap().max_s *= 2.0;
    });
    let a = refused(&changed, "envelope", "class table gives");
    assert!(
        checks(&a).contains(&"verdict"),
        "the verdict's window differs: {a:#?}"
    );
    let changed = with_challenge(bytes, |c| {
        c.claimed.as_mut().unwrap().name = "NVIDIA L4".into()
    });
    refused(&changed, "envelope", "maps to");
}

#[test]
fn changed_messages_and_certificates_are_refused_by_name() {
    // A PhaseDone's byte: the miner's signature over it fails.
    let bytes = honest_membw();
    let Subject::Challenge(c) = decode(bytes).subject else {
        panic!()
    };
    let done = &c.phase_dones[0].envelope.0;
    let signature = &done[done.len() - 64..];
    refused(
        &flip(bytes, find(bytes, signature) + 1),
        "message",
        "phase-done 0",
    );
    // The validator's Go.
    let go = &c.go.unwrap().envelope.0;
    refused(
        &flip(bytes, find(bytes, &go[go.len() - 64..]) + 1),
        "message",
        "the validator's go",
    );
    // The miner's certificate.
    let mut receipt = decode(bytes);
    receipt.miner_certificate.as_mut().unwrap().signature[3] ^= 1;
    refused(&forged(bytes, &receipt), "miner-certificate", "signature");
    // The validator's certificate.
    let mut receipt = decode(bytes);
    receipt.validator_certificate.not_after_ms += 1;
    refused(
        &forged(bytes, &receipt),
        "validator-certificate",
        "signature",
    );
    // Another hotkey named as the miner.
    let mut receipt = decode(bytes);
    receipt.miner = hotkey_of(&load_hotkey(&KeySource::Uri("//Eve".into())).unwrap());
    refused(
        &forged(bytes, &receipt),
        "miner-certificate",
        "receipt names miner",
    );
}

#[test]
fn another_class_table_must_be_given() {
    let text = format!("{}\n# edited\n", crate::classes::EMBEDDED_TOML);
    let other = ClassTable::from_toml(&text).unwrap();
    let a = audit(
        honest_matmul(),
        &AuditContext {
            table: &other,
            checker: checker(),
        },
    );
    assert_eq!(checks(&a), ["class-table"], "{a:#?}");
    assert!(a.failures[0].to_string().contains("pass --classes FILE"));
}

#[test]
fn a_wrong_leaf_is_evidence_against_the_miner() {
    let bytes = play(matmul(), Miner::WrongFirstLeaf);
    let a = audit(&bytes, &ctx());
    assert!(a.holds(), "{:#?}", a.failures);
    assert_eq!(a.verdict, Some(VerdictKind::WrongResult));
    let evidence = a.evidence.as_ref().expect("evidence");
    assert_eq!((evidence.output, evidence.leaf), (0, 0));
    let Subject::Challenge(c) = decode(&bytes).subject else {
        panic!()
    };
    let commitment = Signed::<Commitment>::from_bytes(&c.commitment.unwrap().envelope.0).unwrap();
    let roots = commitment.verify().unwrap().roots;
    assert_eq!(evidence.root, roots[0].to_string());
    assert!(
        a.proven.iter().any(|p| p.starts_with("evidence:")),
        "{a:#?}"
    );
    // Claiming the leaf was right instead is refused, naming the leaf.
    let changed = with_challenge(&bytes, |c| {
        let Verdict::WrongResult(w) = &c.verdict else {
            panic!()
        };
        c.verdict = Verdict::Pass(w.timing.clone());
    });
    refused(&changed, "opening", "output 0 leaf 0");
}

#[test]
fn garbage_and_every_cut_or_flip_are_refused_without_a_panic() {
    let bytes = honest_matmul();
    for junk in [&b""[..], b"\xa0", b"not a receipt", &[0xff; 64]] {
        assert_eq!(checks(&audit(junk, &ctx())), ["malformed"]);
    }
    for cut in (0..bytes.len()).step_by(97) {
        assert!(!audit(&bytes[..cut], &ctx()).holds(), "cut at {cut}");
    }
    for at in (0..bytes.len()).step_by(89) {
        let a = audit(&flip(bytes, at), &ctx());
        assert!(!a.holds(), "flip at {at} held");
    }
}
