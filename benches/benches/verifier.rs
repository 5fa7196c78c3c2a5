//! The verifier's costs (issues #5 and #20): CPU to check one challenge (32 openings of
//! `matmul-i8` at K = 4096: every path verified, every leaf recomputed by the module's `check`
//! in the verifier's sandbox); CPU to check one GPU's whole round at the production plan sizes
//! the class table gives today (`h100-sxm`, `h200`, `rtx-4090`: 32 `matmul-i8` leaves and 32
//! `membw` leaves with their samples, one thread, `verifier::checkcost`); the tile check's
//! multiply-add rate; and the bandwidth probe against raw TCP.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenge_runtime::{RunOutcome, Sandbox, SandboxLimits};
use challenges::matmul::MatmulParams;
use challenges::prf;
use challenges::simd::{Isa, Kernels};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use protocol::ed25519_dalek::SigningKey;
use protocol::{
    ABI_VERSION, ChallengeId, Commitment, Hotkey, MinerTimings, ModuleHash, Negotiated, NodePair,
    OpeningWire, Openings, PROTOCOL_VERSION, Ready, Role, Root, SessionKey, Signed,
};
use subxt_signer::sr25519::dev;
use transport::identity::hotkey_of;
use transport::{AllowList, ConnectionLimits, Identity};
use verifier::checkcost::{self, PreparedRound, RoundPlan, RoundShape};
use verifier::classes::ClassTable;
use verifier::session::{
    ChallengeSpec, CommitmentOutcome, Envelope, OutputLayout, SandboxChecker, SessionConfig,
    VerifierSession,
};

const NONCE: [u8; 32] = [7; 32];

struct Fixture {
    spec: ChallengeSpec,
    config: SessionConfig,
    verifier_key: SigningKey,
    miner_key: SigningKey,
    run: RunOutcome,
    checker: SandboxChecker,
}

fn fixture() -> Fixture {
    // 4 × 4 tiles of K = 4096: 16 leaves, 32 openings drawn with replacement.
    let params = MatmulParams {
        m: 64,
        n: 64,
        k: 4096,
        count: 1,
    };
    let module = builtin_modules::MATMUL_I8;
    let module_hash = ModuleHash::new(module.hash());
    let validator = Hotkey::new([1; 32]);
    let miner = Hotkey::new([2; 32]);
    let spec = ChallengeSpec {
        challenge_id: ChallengeId::new([3; 16]),
        versions: Negotiated {
            protocol_version: PROTOCOL_VERSION,
            abi_version: ABI_VERSION,
        },
        validator,
        miner,
        module_hash,
        module_bytes: None,
        params: params.encode().to_vec(),
        device: 0,
        expires_at_ms: u64::MAX / 2,
        layout: OutputLayout::matmul(&params).unwrap(),
    };
    let envelope = Envelope {
        min_s: 0.0,
        max_s: 1e9,
        peak_floor_s: 0.0,
    };
    let seed = prf::challenge_seed(
        &NONCE,
        validator.as_bytes(),
        miner.as_bytes(),
        module_hash.as_bytes(),
        &spec.params,
        0,
    );
    let sandbox = Sandbox::new(SandboxLimits::default()).unwrap();
    let loaded = sandbox.load(module.bytes).unwrap();
    let backend = CpuBackend::new(CpuConfig::default()).unwrap();
    let run = sandbox
        .run(&loaded, &backend, 0, seed, &spec.params)
        .unwrap();
    // The run's session keeps the outputs; the backend may go.
    Fixture {
        config: SessionConfig::new(envelope, Duration::ZERO),
        spec,
        verifier_key: SigningKey::from_bytes(&[4; 32]),
        miner_key: SigningKey::from_bytes(&[5; 32]),
        run,
        checker: SandboxChecker::with_builtins().unwrap(),
    }
}

/// A session waiting for its openings, and the openings the honest miner sends.
fn session_at_openings(f: &Fixture, draws: &mut u64) -> (VerifierSession, Openings) {
    let mut session = VerifierSession::new(
        f.spec.clone(),
        f.config.clone(),
        f.verifier_key.clone(),
        SessionKey::of(&f.miner_key),
    )
    .unwrap();
    let prepare = session.start(Duration::ZERO).unwrap();
    session
        .on_ready(
            &Ready {
                challenge_id: f.spec.challenge_id,
                prepare: prepare.digest(),
            },
            Duration::from_millis(1),
        )
        .unwrap();
    let go = session.go(Duration::from_millis(2), NONCE).unwrap();
    let commitment = Signed::sign(
        &f.miner_key,
        &Commitment {
            challenge: go.digest(),
            roots: f.run.roots().into_iter().map(Root::new).collect(),
            timings: MinerTimings::default(),
        },
    )
    .unwrap();
    let mut next = || {
        *draws = draws.wrapping_mul(6364136223846793005).wrapping_add(1);
        *draws
    };
    let CommitmentOutcome::Open(open) = session
        .on_commitment(&commitment, Duration::from_millis(3), &mut next)
        .unwrap()
    else {
        panic!("honest commitment refused")
    };
    let openings = open
        .leaves
        .iter()
        .map(|l| {
            let o = f.run.open(l.output, l.leaf).unwrap();
            OpeningWire {
                output: l.output,
                leaf: l.leaf,
                chunk: o.chunk,
                path: o
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
    (
        session,
        Openings {
            challenge: go.digest(),
            openings,
        },
    )
}

fn check_cost(c: &mut Criterion) {
    let f = fixture();
    let mut draws = 1u64;
    let mut g = c.benchmark_group("verifier");
    g.sample_size(20);
    g.bench_function("check 32 openings, matmul-i8 K=4096 (one core)", |b| {
        b.iter_batched(
            || session_at_openings(&f, &mut draws),
            |(mut session, openings)| {
                let verdict = session
                    .on_openings(&openings, Duration::from_millis(4), &f.checker)
                    .unwrap();
                assert!(verdict.is_pass(), "{verdict:?}");
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

const PROBE_BYTES: u64 = 64 << 20;

fn tcp_loopback(bytes: u64) -> Duration {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sender = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let chunk = vec![0x5au8; 1 << 20];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            s.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
    });
    let started = Instant::now();
    let mut r = std::net::TcpStream::connect(addr).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    while got < bytes {
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0);
        got += n as u64;
    }
    let elapsed = started.elapsed();
    sender.join().unwrap();
    elapsed
}

fn probe_vs_tcp(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (miner, connection) = runtime.block_on(async {
        let miner = miner_host::serve::start(miner_host::serve::ServerSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            identity: Identity::issue(
                SigningKey::from_bytes(&[6; 32]),
                &dev::bob(),
                Role::Miner,
                Duration::from_secs(3600),
            ),
            backend: Arc::new(CpuBackend::new(CpuConfig::default()).unwrap()),
            allow: Arc::new(RwLock::new(AllowList::of([hotkey_of(&dev::alice())]))),
            limits: miner_host::serve::ServeLimits {
                max_probe_bytes: PROBE_BYTES,
                probes_per_minute: 100_000,
                ..Default::default()
            },
            adversary: None,
        })
        .unwrap();
        let identity = Identity::issue(
            SigningKey::from_bytes(&[8; 32]),
            &dev::alice(),
            Role::Validator,
            Duration::from_secs(3600),
        );
        let endpoint = transport::client_endpoint(
            miner.addr,
            identity.signing_key(),
            &ConnectionLimits::default(),
        )
        .unwrap();
        let connection = transport::connect(&endpoint, miner.addr, Duration::from_secs(5))
            .await
            .unwrap();
        let mut control = transport::FramedStream::open(&connection).await.unwrap();
        transport::client_handshake(
            &connection,
            &mut control,
            &identity,
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        // Keep the endpoint and control stream alive with the connection.
        std::mem::forget(control);
        std::mem::forget(endpoint);
        (miner, connection)
    });
    let mut g = c.benchmark_group("bandwidth probe, 64 MiB on loopback");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(PROBE_BYTES));
    g.bench_function("raw TCP", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| tcp_loopback(PROBE_BYTES)).sum());
    });
    // Each probe is timed by the verifier itself (request to last byte or receipt).
    let probe_time = |download: bool, streams: u16| {
        let plan =
            verifier::client::ProbePlan::fixed(PROBE_BYTES, streams, Duration::from_secs(60));
        let direction = if download {
            protocol::ProbeDirection::VerifierToMiner
        } else {
            protocol::ProbeDirection::MinerToVerifier
        };
        let r = runtime
            .block_on(verifier::client::probe::run_probe(
                &connection,
                direction,
                &plan,
            ))
            .unwrap();
        assert!(r.data_ok, "{r:?}");
        Duration::from_secs_f64(r.seconds)
    };
    for (name, download, streams) in [
        (
            "probe, miner to verifier (every byte compared), 1 stream",
            false,
            1,
        ),
        (
            "probe, verifier to miner (receipt over every byte), 1 stream",
            true,
            1,
        ),
        (
            "probe, miner to verifier (every byte compared), 8 streams",
            false,
            8,
        ),
        (
            "probe, verifier to miner (receipt over every byte), 8 streams",
            true,
            8,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| probe_time(download, streams)).sum());
        });
    }
    g.finish();
    runtime.block_on(miner.shutdown());
}

/// The classes whose round the bench checks (ids of `verifier/classes.toml`).
const ROUND_CLASSES: [&str; 3] = ["h100-sxm", "h200", "rtx-4090"];

fn round_check_cost(c: &mut Criterion) {
    let table = ClassTable::embedded().unwrap();
    let checker = checkcost::checker().unwrap();
    let mut g = c.benchmark_group("verifier: one GPU's round at the production plan (one thread)");
    g.sample_size(10);
    for id in ROUND_CLASSES {
        let plan = RoundPlan::for_class(table.get(id).unwrap(), RoundShape::default()).unwrap();
        let (mm, mb) = (plan.matmul, plan.membw);
        let name = format!(
            "{id}: 32 tiles K={} + 32 membw leaves g={} R={} ({} samples)",
            mm.k, mb.group, mb.rounds, plan.shape.samples
        );
        let round = PreparedRound::new(plan, [9; 32]).unwrap();
        let split = round.check(&checker).unwrap();
        println!(
            "{id}: matmul-i8 {mm:?}, membw {mb:?}; one check: matmul {:.1} ms + membw {:.1} ms",
            split.matmul_s * 1e3,
            split.membw_s * 1e3
        );
        g.bench_function(name, |b| b.iter(|| round.check(&checker).unwrap()));
    }
    g.finish();
}

/// The tile check's multiply-adds at the `h100-sxm` plan's `K` (criterion's element rate is
/// multiply-adds per second): the spec's loop, then every SIMD kernel set this CPU runs, on
/// operands already generated (`tile_from_operands`) and straight from the PRF (`tile`, what the
/// host import `tile_i8` runs for the module's `check`).
fn tile_multiply_adds(c: &mut Criterion) {
    let table = ClassTable::embedded().unwrap();
    let plan = RoundPlan::for_class(table.get("h100-sxm").unwrap(), RoundShape::default()).unwrap();
    let p = plan.matmul;
    let key = prf::key(&[9; 32], challenges::matmul::STREAM);
    let a = challenges::matmul::a_rows(key, &p, 0, 1).unwrap();
    let b = challenges::matmul::b_block(key, &p, 0, 2).unwrap();
    let k = p.k as usize;
    let mut g = c.benchmark_group("verifier: tile multiply-adds");
    g.sample_size(10);
    g.throughput(Throughput::Elements(256 * p.k as u64));
    g.bench_function(format!("spec tile_from_operands K={k}"), |bch| {
        bch.iter(|| challenges::matmul::tile_from_operands(&a, &b, k).unwrap())
    });
    g.bench_function(format!("operands + tile K={k} (matmul::tile)"), |bch| {
        bch.iter(|| challenges::matmul::tile(key, &p, 0, 7).unwrap())
    });
    for isa in Isa::available() {
        let kernels = Kernels::new(isa).unwrap();
        g.bench_function(format!("{isa} tile_from_operands K={k}"), |bch| {
            bch.iter(|| kernels.tile_from_operands(&a, &b, k).unwrap())
        });
        g.bench_function(format!("{isa} tile from the PRF K={k}"), |bch| {
            bch.iter(|| kernels.tile(key, 0, 1, p.n, p.k, 1, 2))
        });
    }
    g.finish();
}

/// The fastest of `runs` timings of `f`, in seconds.
fn fastest(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// This machine's multiply-add peak on `kernels`' instruction (`Kernels::multiply_add_peak`:
/// a tight `vpmaddwd` loop for AVX2, `vpdpbusd` for AVX-512), in multiply-adds per second.
fn peak(kernels: Kernels) -> f64 {
    let iterations = 1_000_000;
    let macs = kernels.multiply_add_peak(iterations).0 as f64;
    macs / fastest(7, || {
        black_box(kernels.multiply_add_peak(black_box(iterations)));
    })
}

/// Prints the tile check's multiply-add rate against this machine's own peaks, measured in the
/// same run: the kernel alone, the whole tile from the PRF, and the round's 32 sandboxed tile
/// checks (`h100-sxm` plan).
fn tile_rate_against_peak(_: &mut Criterion) {
    let table = ClassTable::embedded().unwrap();
    let plan = RoundPlan::for_class(table.get("h100-sxm").unwrap(), RoundShape::default()).unwrap();
    let p = plan.matmul;
    let key = prf::key(&[9; 32], challenges::matmul::STREAM);
    let a = challenges::matmul::a_rows(key, &p, 0, 1).unwrap();
    let b = challenges::matmul::b_block(key, &p, 0, 2).unwrap();
    let macs = 256.0 * f64::from(p.k);
    let best = Kernels::best();
    let kernel = macs
        / fastest(20, || {
            black_box(best.tile_from_operands(&a, &b, p.k as usize).unwrap());
        });
    let tile_s = fastest(20, || {
        black_box(best.tile(key, 0, 1, p.n, p.k, 1, 2));
    });
    // The same number of Philox blocks as the tile's operands (A: 16 rows of K/16 blocks, B: K
    // rows of one block), generated alone: the tile's multiply-adds are roughly the rest.
    let mut blocks = vec![0u8; 2 * 16 * p.k as usize];
    let philox_s = fastest(20, || best.philox_blocks(key, 0, 0, 1, 0, &mut blocks));
    let checker = checkcost::checker().unwrap();
    let round = PreparedRound::new(plan.clone(), [9; 32]).unwrap();
    let matmul_s = (0..5)
        .map(|_| round.check(&checker).unwrap().matmul_s)
        .fold(f64::INFINITY, f64::min);
    let sandboxed = plan.tile_multiply_adds() as f64 / matmul_s;
    let g = |x: f64| x / 1e9;
    println!(
        "tile check, K = {} (h100-sxm), on {} kernels:",
        p.k,
        best.isa()
    );
    let mut peaks = vec![(best.isa(), peak(best))];
    if let Some(avx2) = Kernels::new(Isa::Avx2).filter(|_| best.isa() != Isa::Avx2) {
        peaks.push((Isa::Avx2, peak(avx2)));
    }
    for (isa, peak) in &peaks {
        let what = match isa {
            Isa::Avx512 => "vpdpbusd zmm",
            Isa::Avx2 => "vpmaddwd ymm",
            Isa::Neon => "smull+sadalp",
            Isa::Portable => "scalar",
        };
        println!(
            "  machine peak, tight {what} loop: {:.1} G multiply-adds/s",
            g(*peak)
        );
    }
    println!(
        "  one tile from the PRF: {:.3} ms, of which its {} Philox blocks alone take {:.3} ms \
         ({:.2} ns a block)",
        tile_s * 1e3,
        2 * p.k,
        philox_s * 1e3,
        philox_s * 1e9 / (2.0 * f64::from(p.k))
    );
    let multiply_adds_s = (tile_s - philox_s).max(f64::MIN_POSITIVE);
    for (what, rate) in [
        (
            "tile check's multiply-adds (tile - its Philox)",
            macs / multiply_adds_s,
        ),
        ("tile from the PRF, all of it", macs / tile_s),
        ("32 sandboxed tile checks", sandboxed),
        ("kernel on operands given (row-major)", kernel),
    ] {
        let ratios: Vec<String> = peaks
            .iter()
            .map(|(isa, peak)| format!("{:.0} % of the {isa} peak", 100.0 * rate / peak))
            .collect();
        println!("  {what:<48} {:>7.1} G/s = {}", g(rate), ratios.join(", "));
    }
}

criterion_group!(
    benches,
    round_check_cost,
    tile_rate_against_peak,
    tile_multiply_adds,
    check_cost,
    probe_vs_tcp
);
criterion_main!(benches);
