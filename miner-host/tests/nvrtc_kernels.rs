//! The kernels' text (`cuda_kernels::SOURCE`, the same text the grid emulator tests) compiled
//! by NVRTC for every architecture the backend targets, with the backend's own options: every
//! entry point of `cuda_kernels::KERNELS` is in the PTX, unmangled, with its parameters in the
//! order and sizes the launches pass them. Needs NVRTC (the runtime compiler), not a GPU:
//! `scripts/install-nvrtc` fetches it and `scripts/test` puts it on LD_LIBRARY_PATH. Without it
//! the test says "skipped: no NVRTC library" (and fails under GPUPROOF_CI=1, where
//! `.ci/run` has installed it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;

use cuda_kernels::{KERNELS, ParamKind};
use miner_host::cuda::{ARCHES, compile_kernels, nvrtc_present};

/// The PTX types of an entry's parameters, in order (`.param .u64 name_param_0, …`).
fn entry_params(ptx: &str, name: &str) -> Option<Vec<String>> {
    let start = ptx.find(&format!(".entry {name}("))?;
    let rest = &ptx[start..];
    let end = rest.find(')')?;
    Some(
        rest[..end]
            .lines()
            .filter_map(|line| {
                let line = line.trim();
                line.strip_prefix(".param ")
                    .and_then(|p| p.split_whitespace().next())
                    .map(str::to_string)
            })
            .collect(),
    )
}

#[test]
fn the_kernels_compile_under_nvrtc_for_every_architecture() {
    if !nvrtc_present() {
        assert!(
            std::env::var("GPUPROOF_CI").as_deref() != Ok("1"),
            "NVRTC is missing under GPUPROOF_CI=1: .ci/run should have run scripts/install-nvrtc"
        );
        let _ = writeln!(
            std::io::stderr(),
            "skipped: no NVRTC library (scripts/install-nvrtc, then scripts/test)"
        );
        return;
    }
    for arch in ARCHES {
        let ptx = compile_kernels(arch)
            .unwrap_or_else(|e| panic!("{arch}: {e}"))
            .to_src();
        assert!(ptx.contains(&format!(".target {arch}")), "{arch}");
        // The fallback GEMM really uses the 4-way int8 dot product instruction.
        assert!(ptx.contains("dp4a.s32.s32"), "{arch}: no dp4a in the PTX");
        for kernel in KERNELS {
            let params = entry_params(&ptx, kernel.name)
                .unwrap_or_else(|| panic!("{arch}: no entry `{}` in the PTX", kernel.name));
            let expected: Vec<&str> = kernel
                .params
                .iter()
                .map(|p| match p.kind {
                    ParamKind::U32 => ".u32",
                    ParamKind::U64 | ParamKind::ConstPtr | ParamKind::MutPtr => ".u64",
                })
                .collect();
            assert_eq!(params, expected, "{arch}: parameters of {}", kernel.name);
        }
    }
}

#[test]
fn without_nvrtc_compiling_is_an_error_not_a_panic() {
    if nvrtc_present() {
        return;
    }
    let err = compile_kernels("sm_90").unwrap_err().to_string();
    assert!(err.contains("NVRTC"), "{err}");
}
