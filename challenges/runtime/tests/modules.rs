//! The built-in modules run in the sandbox on the CPU backend give exactly the `challenges`
//! reference's roots, their openings verify, and their `check` accepts right leaves and
//! rejects wrong ones.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenge_runtime::{
    Backend, BackendError, CheckVerdict, FixedNonces, Sandbox, SandboxError, SandboxLimits,
};
use challenges::abi::CheckRequest;
use challenges::commitment::verify_opening;
use challenges::matmul::{self, MatmulParams};
use challenges::membw::{self, MembwParams};

fn counting_seed() -> [u8; 32] {
    core::array::from_fn(|i| i as u8)
}

fn backend() -> CpuBackend {
    CpuBackend::new(CpuConfig {
        devices: 2,
        threads_per_device: 2,
        memory_bytes: 1 << 30,
    })
    .unwrap()
}

fn check_all_leaves(
    sandbox: &Sandbox,
    module: &challenge_runtime::LoadedModule,
    seed: [u8; 32],
    params: &[u8],
    run: &challenge_runtime::RunOutcome,
    samples: u32,
) {
    let roots = run.roots();
    for (output, committed) in run.outputs.iter().enumerate() {
        let leaves = challenges::commitment::leaf_count(committed.len);
        for leaf in 0..leaves {
            let opening = run.open(output as u32, leaf).unwrap();
            verify_opening(
                &blake3::Hash::from_bytes(committed.root),
                committed.len,
                leaf,
                &opening,
            )
            .unwrap();
            let req = CheckRequest {
                output: output as u32,
                leaf,
                samples,
                salt: [leaf as u8; 32],
                chunk: &opening.chunk,
            };
            assert_eq!(
                sandbox
                    .check(module, seed, params, &roots, &run.phase_seeds, &req)
                    .unwrap(),
                CheckVerdict::Pass,
                "output {output} leaf {leaf}"
            );
            // Any wrong byte in the leaf fails the check (for membw: the sampled output).
            let mut bad = opening.chunk.clone();
            let pos = if samples == 0 {
                0
            } else {
                req.sample(0, (bad.len() / 8) as u64) as usize * 8
            };
            bad[pos] ^= 1;
            let req = CheckRequest { chunk: &bad, ..req };
            assert_eq!(
                sandbox
                    .check(module, seed, params, &roots, &run.phase_seeds, &req)
                    .unwrap(),
                CheckVerdict::Fail
            );
        }
    }
}

#[test]
fn matmul_i8_in_the_sandbox_equals_the_reference() {
    let sandbox = Sandbox::new(SandboxLimits::default()).unwrap();
    let backend = backend();
    let module = sandbox.load(builtin_modules::MATMUL_I8.bytes).unwrap();
    for params in [
        MatmulParams {
            m: 64,
            n: 64,
            k: 64,
            count: 2,
        },
        MatmulParams {
            m: 48,
            n: 16,
            k: 272,
            count: 3,
        },
    ] {
        let seed = counting_seed();
        let bytes = params.encode();
        let run = sandbox.run(&module, &backend, 1, seed, &bytes).unwrap();
        let expected: Vec<[u8; 32]> = matmul::roots(&seed, &params)
            .unwrap()
            .iter()
            .map(|h| *h.as_bytes())
            .collect();
        assert_eq!(run.roots(), expected);
        check_all_leaves(&sandbox, &module, seed, &bytes, &run, 0);
        let work = sandbox.work(&module, &bytes).unwrap();
        assert_eq!(work.ops, matmul::work(&params).ops);
        assert_eq!(work.phases.len(), 4);
    }
    // docs/design.md's vector, through the sandbox.
    let run = sandbox
        .run(
            &module,
            &backend,
            0,
            counting_seed(),
            &MatmulParams {
                m: 64,
                n: 64,
                k: 64,
                count: 2,
            }
            .encode(),
        )
        .unwrap();
    assert!(
        blake3::Hash::from_bytes(run.roots()[0])
            .to_hex()
            .starts_with("f4319b06")
    );
}

#[test]
fn backend_time_is_split_into_fill_compute_and_hash() {
    let sandbox = Sandbox::new(SandboxLimits::default()).unwrap();
    let module = sandbox.load(builtin_modules::MATMUL_I8.bytes).unwrap();
    let params = MatmulParams {
        m: 128,
        n: 128,
        k: 256,
        count: 2,
    };
    let run = sandbox
        .run(&module, &backend(), 0, counting_seed(), &params.encode())
        .unwrap();
    let t = run.timings;
    let zero = std::time::Duration::ZERO;
    assert!(
        t.stages.fill > zero && t.stages.compute > zero && t.stages.hash > zero,
        "{t:?}"
    );
    assert!(
        t.stages.fill + t.stages.compute + t.stages.hash <= t.backend,
        "{t:?}"
    );
    assert!(t.backend <= t.run, "{t:?}");
}

#[test]
fn membw_in_the_sandbox_equals_the_reference() {
    let sandbox = Sandbox::new(SandboxLimits::default()).unwrap();
    let backend = backend();
    let module = sandbox.load(builtin_modules::MEMBW.bytes).unwrap();
    for params in [
        MembwParams {
            bytes: 1024,
            group: 256,
            rounds: 1,
            passes: 2,
        },
        MembwParams {
            bytes: 128 * 300,
            group: 128,
            rounds: 2,
            passes: 3,
        },
    ] {
        let seed = [3u8; 32];
        let nonce = [4u8; 32];
        let bytes = params.encode();
        let run = sandbox
            .run_phased(
                &module,
                &backend,
                0,
                seed,
                &bytes,
                Box::new(FixedNonces::new(vec![nonce])),
            )
            .unwrap();
        assert_eq!(
            run.phase_seeds,
            [challenges::prf::phase_seed(&seed, 1, &nonce)]
        );
        let expected: Vec<[u8; 32]> = membw::roots(&seed, &params, &nonce)
            .unwrap()
            .iter()
            .map(|h| *h.as_bytes())
            .collect();
        assert_eq!(run.roots(), expected);
        check_all_leaves(&sandbox, &module, seed, &bytes, &run, 4);
        let work = sandbox.work(&module, &bytes).unwrap();
        assert_eq!(work.bytes, membw::work(&params).bytes);
        assert_eq!(work.step_starts, 0b010, "the passes are phase 1");
    }
    // v2: without a verifier to send the phase key, membw cannot run its passes.
    let params = MembwParams {
        bytes: 1024,
        group: 256,
        rounds: 1,
        passes: 2,
    };
    assert!(matches!(
        sandbox.run(&module, &backend, 0, [3; 32], &params.encode()),
        Err(SandboxError::Status {
            code: challenges::abi::status::PHASE,
            ..
        })
    ));
}

#[test]
fn check_uses_the_committed_roots_and_the_seed() {
    let sandbox = Sandbox::new(SandboxLimits::default()).unwrap();
    let backend = backend();
    let module = sandbox.load(builtin_modules::MEMBW.bytes).unwrap();
    let params = MembwParams {
        bytes: 128 * 256,
        group: 128,
        rounds: 0,
        passes: 2,
    };
    let bytes = params.encode();
    let nonces = FixedNonces::new(vec![[7; 32]]);
    let run = sandbox
        .run_phased(&module, &backend, 0, [5; 32], &bytes, Box::new(nonces))
        .unwrap();
    let seeds = run.phase_seeds.clone();
    let opening = run.open(1, 0).unwrap();
    let req = CheckRequest {
        output: 1,
        leaf: 0,
        samples: 8,
        salt: [9; 32],
        chunk: &opening.chunk,
    };
    // Right seed, roots and phase seed pass; a wrong root for pass 0 keys pass 1 differently
    // and fails; a different seed (another miner's challenge) fails.
    assert_eq!(
        sandbox
            .check(&module, [5; 32], &bytes, &run.roots(), &seeds, &req)
            .unwrap(),
        CheckVerdict::Pass
    );
    let mut roots = run.roots();
    roots[0][0] ^= 1;
    assert_eq!(
        sandbox
            .check(&module, [5; 32], &bytes, &roots, &seeds, &req)
            .unwrap(),
        CheckVerdict::Fail
    );
    assert_eq!(
        sandbox
            .check(&module, [6; 32], &bytes, &run.roots(), &seeds, &req)
            .unwrap(),
        CheckVerdict::Fail
    );
    // Pass 0 is keyed by the phase seed: another nonce's seed fails, none is an error.
    let pass0 = run.open(0, 0).unwrap();
    let req0 = CheckRequest {
        output: 0,
        chunk: &pass0.chunk,
        ..req.clone()
    };
    let other = [challenges::prf::phase_seed(&[5; 32], 1, &[8; 32])];
    assert_eq!(
        sandbox
            .check(&module, [5; 32], &bytes, &run.roots(), &seeds, &req0)
            .unwrap(),
        CheckVerdict::Pass
    );
    assert_eq!(
        sandbox
            .check(&module, [5; 32], &bytes, &run.roots(), &other, &req0)
            .unwrap(),
        CheckVerdict::Fail
    );
    assert!(
        sandbox
            .check(&module, [5; 32], &bytes, &run.roots(), &[], &req0)
            .is_err()
    );
    // A malformed request is a typed error, not a verdict.
    let short = CheckRequest {
        chunk: &opening.chunk[..100],
        ..req
    };
    assert!(matches!(
        sandbox.check(&module, [5; 32], &bytes, &run.roots(), &seeds, &short),
        Err(SandboxError::Status { phase: "check", .. })
    ));
}

#[test]
fn one_challenge_per_device_and_devices_freed_on_drop() {
    let sandbox = Sandbox::new(SandboxLimits::default()).unwrap();
    let backend = backend();
    let module = sandbox.load(builtin_modules::MATMUL_I8.bytes).unwrap();
    let params = MatmulParams {
        m: 16,
        n: 16,
        k: 16,
        count: 1,
    }
    .encode();
    let held = sandbox.run(&module, &backend, 0, [1; 32], &params).unwrap();
    assert!(matches!(
        sandbox.run(&module, &backend, 0, [1; 32], &params),
        Err(SandboxError::Backend(BackendError::Busy(0)))
    ));
    sandbox.run(&module, &backend, 1, [1; 32], &params).unwrap();
    drop(held);
    sandbox.run(&module, &backend, 0, [1; 32], &params).unwrap();
    assert!(matches!(
        backend.open(7),
        Err(BackendError::NoDevice { index: 7, count: 2 })
    ));
}

#[test]
fn modules_are_cached_by_hash() {
    let sandbox = Sandbox::new(SandboxLimits::default()).unwrap();
    let a = sandbox.load(builtin_modules::MATMUL_I8.bytes).unwrap();
    assert_eq!(a.hash(), builtin_modules::MATMUL_I8.hash());
    assert!(sandbox.cached(&a.hash()).is_some());
    assert!(sandbox.cached(&builtin_modules::MEMBW.hash()).is_none());
}

#[test]
fn bad_params_are_a_typed_error() {
    let sandbox = Sandbox::new(SandboxLimits::default()).unwrap();
    let module = sandbox.load(builtin_modules::MATMUL_I8.bytes).unwrap();
    let err = sandbox
        .run(&module, &backend(), 0, [0; 32], b"nonsense")
        .unwrap_err();
    assert!(
        matches!(
            err,
            SandboxError::Status {
                phase: "run",
                code: -6,
                ..
            }
        ),
        "{err}"
    );
}
