//! The sandbox's own costs: a guest → host ABI call, instantiating a cached module, the
//! verifier-side `check` of one leaf (matmul-i8 at K = 4096, membw), and a whole matmul-i8 run
//! split between sandbox and backend. Targets (issue #3): ABI call ≤ 50 ns, instantiate ≤ 50 µs,
//! one check ≤ 0.5 ms, sandbox + ABI ≤ 1 % of backend time in a run of ≥ 100 ms.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenge_runtime::{Sandbox, SandboxLimits};
use challenges::abi::CheckRequest;
use challenges::matmul::{self, MatmulParams};
use challenges::membw::{self, MembwParams};
use challenges::{prf, tiles};
use criterion::{Criterion, criterion_group, criterion_main};

/// `run` calls the import `name` (no arguments but an out-pointer) as many times as the u32 at
/// params says.
fn call_loop(call: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
            (import "gpu" "abi_version" (func $abi (result i32)))
            (import "gpu" "device_info" (func $info (param i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 1024))
            (func (export "run") (param $p i32) (param i32) (result i32) (local $n i32)
                (local.set $n (i32.load (local.get $p)))
                (block $done (loop $l
                    (br_if $done (i32.eqz (local.get $n)))
                    (drop {call})
                    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                    (br $l)))
                (i32.const 0))
            (func (export "check") (param i32 i32 i32 i32) (result i32) (i32.const 0))
            (func (export "work") (param i32 i32 i32) (result i32) (i32.const 0)))"#
    ))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let backend = CpuBackend::new(CpuConfig::default()).unwrap();
    let sandbox = Sandbox::new(SandboxLimits {
        fuel: u64::MAX / 2,
        ..SandboxLimits::default()
    })
    .unwrap();
    let mut g = c.benchmark_group("sandbox");
    for (name, call) in [
        ("abi call: abi_version", "(call $abi)"),
        (
            "abi call: device_info (writes 24 B)",
            "(call $info (i32.const 64))",
        ),
    ] {
        let module = sandbox.load(&call_loop(call)).unwrap();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let n = u32::try_from(iters).unwrap_or(u32::MAX);
                sandbox
                    .run(&module, &backend, 0, [0; 32], &n.to_le_bytes())
                    .unwrap()
                    .timings
                    .run
            })
        });
    }
    let empty = sandbox.load(&call_loop("(call $abi)")).unwrap();
    g.bench_function("instantiate a cached module", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    sandbox
                        .run(&empty, &backend, 0, [0; 32], &0u32.to_le_bytes())
                        .unwrap()
                        .timings
                        .instantiate
                })
                .sum()
        })
    });

    // Verifier side: one leaf checked by the module's own `check`.
    let seed = [7u8; 32];
    let matmul_module = sandbox.load(builtin_modules::MATMUL_I8.bytes).unwrap();
    let mp = MatmulParams {
        m: 4096,
        n: 4096,
        k: 4096,
        count: 4,
    };
    let tile = tiles::tile_to_bytes(
        &matmul::tile(prf::key(&seed, matmul::STREAM), &mp, 2, 12_345).unwrap(),
    );
    let req = CheckRequest {
        output: 2,
        leaf: 12_345,
        samples: 0,
        salt: [1; 32],
        chunk: &tile,
    };
    let roots = [[0u8; 32]; 4];
    g.bench_function("check one matmul-i8 leaf, K=4096", |b| {
        b.iter(|| {
            sandbox
                .check(&matmul_module, seed, &mp.encode(), &roots, &[], &req)
                .unwrap()
        })
    });
    let membw_module = sandbox.load(builtin_modules::MEMBW.bytes).unwrap();
    let wp = MembwParams {
        bytes: 72 << 30,
        group: 1024,
        rounds: 22,
        passes: 2,
    };
    let perm = membw::Permutation::new(wp.groups(), 1, &[3; 32]).unwrap();
    let chunk: Vec<u8> = (0..128u64)
        .flat_map(|b| {
            membw::output(
                prf::key(&seed, membw::STREAM),
                &wp,
                &perm,
                1,
                1000 * 128 + b,
            )
            .unwrap()
            .to_le_bytes()
        })
        .collect();
    let req = CheckRequest {
        output: 1,
        leaf: 1000,
        samples: 4,
        salt: [2; 32],
        chunk: &chunk,
    };
    g.bench_function("check one membw leaf, 4 samples, g=1 KiB, R=22", |b| {
        b.iter(|| {
            sandbox
                .check(
                    &membw_module,
                    seed,
                    &wp.encode(),
                    &[[3; 32], [0; 32]],
                    &[],
                    &req,
                )
                .unwrap()
        })
    });
    g.finish();

    let mut r = c.benchmark_group("matmul-i8 run 512x512x512");
    r.sample_size(10);
    let p = MatmulParams {
        m: 512,
        n: 512,
        k: 512,
        count: 1,
    }
    .encode();
    r.bench_function("whole run (sandbox + backend)", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    sandbox
                        .run(&matmul_module, &backend, 0, seed, &p)
                        .unwrap()
                        .timings
                        .run
                })
                .sum()
        })
    });
    r.bench_function("sandbox + ABI overhead only", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    sandbox
                        .run(&matmul_module, &backend, 0, seed, &p)
                        .unwrap()
                        .timings
                        .overhead()
                })
                .sum::<Duration>()
        })
    });
    r.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
