//! The statistical test of issue #5 item 5: a miner that skipped a fraction `p` of the leaves
//! passes at the rate `(1 − p)^32`, within 4 standard deviations, for p in {0.01, 0.1, 0.5}.
//!
//! Not a restatement of the formula: each of the 10 000 simulated challenges per `p` goes
//! through a real `VerifierSession` (its sampler draws the 32 leaves after the commitment) and
//! the real path and leaf checks (`verify_opening`, then the `matmul-i8` module's `check` in
//! the verifier's CPU sandbox). To stay cheap, the honest outputs are built once (one fixed
//! nonce, so one seed, checked against a sandbox run on the CPU backend) with the chaining
//! value of every honest and every corrupted leaf; each challenge corrupts exactly `p · L`
//! leaves chosen at random, builds its trees from those chaining values, commits to them and
//! opens from them, as such a miner would. The three values of `p` run as three tests, so the
//! harness spreads them over the cores.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::Rng;
use std::time::Duration;

use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenges::abi::CheckRequest;
use challenges::commitment::{CHUNK_LEN, ChainingValue, OutputTree, chunk_cv};
use challenges::matmul::{self, MatmulParams};
use challenges::prf;
use protocol::ed25519_dalek::SigningKey;
use protocol::{
    ABI_VERSION, ChallengeId, Commitment, Hotkey, MinerTimings, ModuleHash, Negotiated, Openings,
    PROTOCOL_VERSION, Ready, Root, SessionKey, Signed,
};
use verifier::session::{
    Cause, ChallengeSpec, CheckInput, CheckVerdict, CheckerError, CommitmentOutcome, Envelope,
    LeafChecker, OutputLayout, SandboxChecker, SessionConfig, Verdict, VerifierSession,
};

/// Simulated challenges per `p`.
const CHALLENGES: u32 = 10_000;
/// 160 × 160 outputs are 100 tiles each; two of them give L = 200 leaves, so `p · L` is a whole
/// number of leaves for every `p` tested.
const PARAMS: MatmulParams = MatmulParams {
    m: 160,
    n: 160,
    k: 16,
    count: 2,
};
const LEAVES: u64 = 200;
const TILES_PER_OUTPUT: u64 = 100;
const NONCE: [u8; 32] = [0x5e; 32];
const GO_AT: Duration = Duration::from_millis(10);
const ENVELOPE: Envelope = Envelope {
    min_s: 0.5,
    max_s: 2.0,
    peak_floor_s: 0.1,
};

impl Rng {
    /// `count` distinct values of `0..n` (partial Fisher–Yates).
    fn distinct(&mut self, n: u64, count: usize) -> Vec<u64> {
        let mut all: Vec<u64> = (0..n).collect();
        for i in 0..count {
            let j = i + (self.next() % (n - i as u64)) as usize;
            all.swap(i, j);
        }
        all.truncate(count);
        all
    }
}

/// The real sandbox checker, counting its calls.
struct Counting {
    inner: SandboxChecker,
    calls: std::cell::Cell<u64>,
}

impl LeafChecker for Counting {
    fn check_leaf(
        &self,
        input: &CheckInput<'_>,
        request: &CheckRequest<'_>,
    ) -> Result<CheckVerdict, CheckerError> {
        self.calls.set(self.calls.get() + 1);
        self.inner.check_leaf(input, request)
    }
}

/// Everything shared by the simulated challenges.
struct Fixture {
    spec: ChallengeSpec,
    config: SessionConfig,
    verifier_key: SigningKey,
    miner_key: SigningKey,
    /// Per global leaf: its honest chunk and chaining value, then a corrupted chunk and its.
    honest: Vec<Leaf>,
    corrupted: Vec<Leaf>,
    checker: Counting,
}

/// One leaf's bytes and BLAKE3 chunk chaining value.
struct Leaf {
    chunk: Vec<u8>,
    cv: ChainingValue,
}

impl Leaf {
    fn new(chunk: &[u8], leaf: u64) -> Self {
        Self {
            chunk: chunk.to_vec(),
            cv: chunk_cv(chunk, leaf).unwrap(),
        }
    }
}

impl Fixture {
    fn new() -> Self {
        let module = builtin_modules::MATMUL_I8;
        let module_hash = ModuleHash::new(module.hash());
        let params = PARAMS.encode().to_vec();
        let (validator, miner) = (Hotkey::new([0xaa; 32]), Hotkey::new([0xbb; 32]));
        let spec = ChallengeSpec {
            challenge_id: ChallengeId::new([1; 16]),
            versions: Negotiated {
                protocol_version: PROTOCOL_VERSION,
                abi_version: ABI_VERSION,
            },
            validator,
            miner,
            module_hash,
            module_bytes: None,
            params: params.clone(),
            device: 0,
            expires_at_ms: u64::MAX,
            layout: OutputLayout::builtin(&module_hash, &params).unwrap(),
        };
        assert_eq!(spec.layout.total_leaves(), LEAVES);
        let seed = prf::challenge_seed(
            &NONCE,
            validator.as_bytes(),
            miner.as_bytes(),
            module_hash.as_bytes(),
            &params,
            0,
        );
        let key = prf::key(&seed, matmul::STREAM);
        let outputs: Vec<Vec<u8>> = (0..PARAMS.count)
            .map(|t| matmul::product(key, &PARAMS, t).unwrap())
            .collect();
        let chunks = || {
            outputs
                .iter()
                .flat_map(|o| o.chunks_exact(CHUNK_LEN).enumerate())
                .map(|(leaf, chunk)| (leaf as u64, chunk.to_vec()))
        };
        let honest: Vec<Leaf> = chunks().map(|(l, c)| Leaf::new(&c, l)).collect();
        let corrupted: Vec<Leaf> = chunks()
            .map(|(l, mut c)| {
                c[(l as usize * 37) % CHUNK_LEN] ^= 0x5a;
                Leaf::new(&c, l)
            })
            .collect();
        let checker = Counting {
            inner: SandboxChecker::new().unwrap(),
            calls: std::cell::Cell::new(0),
        };
        // The honest outputs are what the sandbox computes on the CPU backend.
        let backend = CpuBackend::new(CpuConfig {
            devices: 1,
            threads_per_device: 1,
            memory_bytes: 64 << 20,
        })
        .unwrap();
        let sandbox = checker.inner.sandbox();
        let loaded = sandbox.load(module.bytes).unwrap();
        let run = sandbox.run(&loaded, &backend, 0, seed, &params).unwrap();
        let roots: Vec<[u8; 32]> = outputs
            .iter()
            .map(|o| *blake3::hash(o).as_bytes())
            .collect();
        assert_eq!(run.roots(), roots);
        assert_eq!(honest.len() as u64, LEAVES);
        Self {
            spec,
            config: SessionConfig::new(ENVELOPE, Duration::from_millis(1)),
            verifier_key: SigningKey::from_bytes(&[1; 32]),
            miner_key: SigningKey::from_bytes(&[2; 32]),
            honest,
            corrupted,
            checker,
        }
    }

    /// One challenge against a miner that corrupted the leaves `bad` (global indices).
    /// Returns the verdict and the leaves the verifier asked for.
    fn challenge(&self, bad: &[u64], rng: &mut Rng) -> (Verdict, Vec<u64>) {
        let mut session = VerifierSession::new(
            self.spec.clone(),
            self.config.clone(),
            self.verifier_key.clone(),
            SessionKey::of(&self.miner_key),
        )
        .unwrap();
        let prepare = session.start(Duration::ZERO).unwrap();
        let ready = Ready {
            challenge_id: self.spec.challenge_id,
            prepare: prepare.digest(),
        };
        assert_eq!(
            session.on_ready(&ready, Duration::from_millis(5)).unwrap(),
            None
        );
        let go = session.go(GO_AT, NONCE).unwrap();

        // The miner's leaves: honest ones, and corrupted ones where it skipped the work.
        let leaves: Vec<&Leaf> = (0..LEAVES as usize)
            .map(|g| {
                if bad.contains(&(g as u64)) {
                    &self.corrupted[g]
                } else {
                    &self.honest[g]
                }
            })
            .collect();
        let trees: Vec<OutputTree> = leaves
            .chunks_exact(TILES_PER_OUTPUT as usize)
            .map(|output| {
                let cvs: Vec<ChainingValue> = output.iter().map(|l| l.cv).collect();
                OutputTree::from_chunk_cvs(self.spec.layout.output_bytes(), 0, &cvs).unwrap()
            })
            .collect();
        let commitment = Commitment {
            challenge: go.digest(),
            roots: trees
                .iter()
                .map(|t| Root::new(*t.root().as_bytes()))
                .collect(),
            timings: MinerTimings::default(),
        };
        let commitment = Signed::sign(&self.miner_key, &commitment).unwrap();
        let at = GO_AT + Duration::from_secs(1);
        let open = match session
            .on_commitment(&commitment, at, &mut || rng.next())
            .unwrap()
        {
            CommitmentOutcome::Open(open) => open,
            CommitmentOutcome::Verdict(v) => panic!("no Open: {v:?}"),
        };
        let openings = open
            .leaves
            .iter()
            .map(|l| {
                // Block height 0: a leaf's block is the leaf itself.
                let g = u64::from(l.output) * TILES_PER_OUTPUT + l.leaf;
                let chunk = &leaves[g as usize].chunk;
                let opening = trees[l.output as usize].open(chunk, l.leaf).unwrap();
                common::opening_wire(l.output, l.leaf, opening)
            })
            .collect();
        let openings = Openings {
            challenge: open.challenge,
            openings,
        };
        let verdict = session.on_openings(&openings, at, &self.checker).unwrap();
        let asked = open
            .leaves
            .iter()
            .map(|l| u64::from(l.output) * TILES_PER_OUTPUT + l.leaf)
            .collect();
        (verdict, asked)
    }
}

/// `CHALLENGES` challenges against a miner that corrupted a fraction `p` of the leaves: the
/// pass rate is `(1 − p)^32` within 4 standard deviations, every failure names the first
/// corrupted leaf asked for, and the leaves drawn are uniform (chi-square).
fn pass_rate_matches(p: f64, seed: u64) {
    let fixture = Fixture::new();
    let mut rng = Rng(seed);
    let mut histogram = vec![0u64; LEAVES as usize];
    let corrupted = (p * LEAVES as f64).round() as usize;
    let mut passes = 0u32;
    for _ in 0..CHALLENGES {
        let bad = rng.distinct(LEAVES, corrupted);
        let (verdict, asked) = fixture.challenge(&bad, &mut rng);
        for g in &asked {
            histogram[*g as usize] += 1;
        }
        let hit = asked.iter().find(|g| bad.contains(g));
        match (&verdict, hit) {
            (Verdict::Pass(t), None) => {
                assert_eq!(t.leaves_checked, 32);
                passes += 1;
            }
            (Verdict::WrongResult(w), Some(first)) => {
                assert_eq!(w.cause, Cause::WrongContent);
                let leaf = w.leaf.unwrap();
                assert_eq!(
                    u64::from(leaf.output) * TILES_PER_OUTPUT + leaf.leaf,
                    *first
                );
            }
            (v, hit) => panic!("p = {p}: verdict {v:?} with corrupted leaf asked: {hit:?}"),
        }
    }
    let n = f64::from(CHALLENGES);
    let q = (1.0 - p).powi(32);
    let sd = (n * q * (1.0 - q)).sqrt();
    println!(
        "p = {p}: {passes} / {CHALLENGES} passed, expected {:.1} ± {sd:.1}; {} sandbox checks",
        n * q,
        fixture.checker.calls.get()
    );
    assert!(
        (f64::from(passes) - n * q).abs() <= 4.0 * sd,
        "p = {p}: {passes} passes, expected {:.1} ± 4 × {sd:.2}",
        n * q
    );
    // Uniform draws: chi-square over 200 cells has 199 degrees of freedom (mean 199,
    // standard deviation √398 ≈ 20); accept within 4 standard deviations.
    let draws: u64 = histogram.iter().sum();
    let expected = draws as f64 / LEAVES as f64;
    let chi2: f64 = histogram
        .iter()
        .map(|c| (*c as f64 - expected).powi(2) / expected)
        .sum();
    let bound = 4.0 * 398f64.sqrt();
    assert!(
        (199.0 - bound..199.0 + bound).contains(&chi2),
        "chi-square {chi2}"
    );
}

#[test]
fn skipping_1_percent_passes_at_0_99_to_the_32() {
    pass_rate_matches(0.01, 0x0101);
}

#[test]
fn skipping_10_percent_passes_at_0_9_to_the_32() {
    pass_rate_matches(0.1, 0x1010);
}

#[test]
fn skipping_half_passes_at_0_5_to_the_32() {
    pass_rate_matches(0.5, 0x5050);
}
