//! The `cuda` backend against the CPU reference, bit for bit: both built-in modules at small
//! sizes, every root and a sample of openings, with each GEMM path (dp4a kernel, cuBLASLt,
//! and the automatic choice). Runs only where a CUDA device is present and
//! says "skipped: no CUDA device" otherwise; without one it checks that the backend fails
//! cleanly (a typed error, no panic).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenge_runtime::{Backend, BackendError, FixedNonces, Sandbox, SandboxLimits};
use challenges::matmul::MatmulParams;
use challenges::membw::MembwParams;
use miner_host::cuda::{CudaBackend, GemmMode, NO_CUDA};
use std::io::Write;

fn cuda() -> Option<CudaBackend> {
    cuda_with(GemmMode::Auto)
}

fn cuda_with(mode: GemmMode) -> Option<CudaBackend> {
    match CudaBackend::with_gemm_mode(mode) {
        Ok(b) => Some(b),
        Err(BackendError::Unavailable(msg)) => {
            assert!(msg.starts_with(NO_CUDA), "{msg}");
            // Written to the real stderr (not the captured one) so the skip shows in every run.
            let _ = writeln!(std::io::stderr(), "skipped: no CUDA device ({msg})");
            None
        }
        Err(other) => panic!("a CUDA error other than 'no device': {other}"),
    }
}

#[test]
fn cuda_equals_cpu_bit_for_bit_with_the_dp4a_kernel() {
    equals_cpu(GemmMode::Dp4a);
}

#[test]
fn cuda_equals_cpu_bit_for_bit_with_cublaslt() {
    equals_cpu(GemmMode::CublasLt);
}

#[test]
fn cuda_equals_cpu_bit_for_bit_with_the_automatic_choice() {
    equals_cpu(GemmMode::Auto);
}

fn equals_cpu(mode: GemmMode) {
    let Some(gpu) = cuda_with(mode) else { return };
    let cpu = CpuBackend::new(CpuConfig::default()).unwrap();
    let sandbox = Sandbox::new(SandboxLimits {
        device_budget_bytes: 1 << 32,
        ..SandboxLimits::default()
    })
    .unwrap();
    let cases: Vec<(&[u8], Vec<u8>)> = vec![
        (
            builtin_modules::MATMUL_I8.bytes,
            MatmulParams {
                m: 64,
                n: 64,
                k: 64,
                count: 2,
            }
            .encode()
            .to_vec(),
        ),
        (
            builtin_modules::MATMUL_I8.bytes,
            MatmulParams {
                m: 16,
                n: 48,
                k: 272,
                count: 3,
            }
            .encode()
            .to_vec(),
        ),
        (
            builtin_modules::MATMUL_I8.bytes,
            MatmulParams {
                m: 256,
                n: 128,
                k: 4096,
                count: 1,
            }
            .encode()
            .to_vec(),
        ),
        (
            builtin_modules::MEMBW.bytes,
            MembwParams {
                bytes: 1024,
                group: 256,
                rounds: 1,
                passes: 2,
            }
            .encode()
            .to_vec(),
        ),
        (
            builtin_modules::MEMBW.bytes,
            MembwParams {
                bytes: 128 * 129,
                group: 128,
                rounds: 3,
                passes: 3,
            }
            .encode()
            .to_vec(),
        ),
        (
            builtin_modules::MEMBW.bytes,
            MembwParams {
                bytes: 64 << 20,
                group: 4096,
                rounds: 16,
                passes: 2,
            }
            .encode()
            .to_vec(),
        ),
    ];
    for device in 0..gpu.devices().len() as u32 {
        for (module, params) in &cases {
            let m = sandbox.load(module).unwrap();
            let seed = [device as u8 + 1; 32];
            // membw has two interactive phases: the same phase nonce on both backends.
            let nonces = || Box::new(FixedNonces::new(vec![[device as u8 + 7; 32]]));
            let on_gpu = sandbox
                .run_phased(&m, &gpu, device, seed, params, nonces())
                .unwrap();
            let on_cpu = sandbox
                .run_phased(&m, &cpu, 0, seed, params, nonces())
                .unwrap();
            assert_eq!(
                on_gpu.roots(),
                on_cpu.roots(),
                "{mode:?}: device {device}, params {params:02x?}"
            );
            for (i, out) in on_gpu.outputs.iter().enumerate() {
                let leaves = challenges::commitment::leaf_count(out.len);
                for leaf in [0, leaves / 2, leaves - 1] {
                    assert_eq!(
                        on_gpu.open(i as u32, leaf).unwrap(),
                        on_cpu.open(i as u32, leaf).unwrap()
                    );
                }
            }
        }
    }
}

#[test]
fn without_a_gpu_the_backend_fails_cleanly() {
    if let Some(gpu) = cuda() {
        assert!(!gpu.devices().is_empty());
        // Every device has the PCI address the driver reports (as nvidia-smi writes it).
        for d in gpu.devices() {
            let bus = d.pci_bus_id.as_deref().unwrap_or_default();
            assert_eq!((bus.len(), &bus.get(8..9)), (16, &Some(":")), "{d:?}");
        }
        assert!(matches!(
            gpu.open(u32::MAX),
            Err(BackendError::NoDevice { .. })
        ));
    }
}

#[test]
fn the_bench_runs_on_every_device_and_copy_is_exact() {
    let Some(gpu) = cuda() else { return };
    for device in gpu.devices() {
        let mut session = gpu.open(device.index).unwrap();
        let (a, b) = (
            session.alloc(1 << 20).unwrap(),
            session.alloc(1 << 20).unwrap(),
        );
        session.prf_fill(a, 0, 1 << 20, [1, 2], 0, 0).unwrap();
        session.copy(a, b).unwrap();
        assert_eq!(
            session.read(a, 0, 1 << 20).unwrap(),
            session.read(b, 0, 1 << 20).unwrap()
        );
        let short = session.alloc(1024).unwrap();
        assert!(matches!(
            session.copy(a, short),
            Err(BackendError::Invalid(_))
        ));
        drop(session);
        // The quick plan: its fill sweep (1 to 64 rounds over 8 MiB) must give a slope on a GPU.
        let plan = challenge_runtime::bench::BenchPlan::quick();
        let report = challenge_runtime::bench::run(&gpu, device.index, &plan, &mut |_| {}).unwrap();
        assert_eq!(report.backend, "cuda");
        assert_eq!(report.device_name, device.name);
        assert!(report.gemm.tops > 0.0 && report.copy.gbps > 0.0 && report.hash.gbps > 0.0);
        assert!(report.membw_rounds.rounds >= 1);
    }
}
