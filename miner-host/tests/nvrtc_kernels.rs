//! The kernels' text (`cuda_kernels::SOURCE`, the same text the grid emulator tests) compiled
//! by NVRTC for every architecture the backend targets, with the backend's own options, both
//! ways the backend may load it:
//! - PTX: every entry point of `cuda_kernels::KERNELS` is there, unmangled, with its
//!   parameters in the order and sizes the launches pass them;
//! - machine code (a CUBIN, what a device gets): ptxas reports every entry point, each fits the
//!   largest block its launch geometry may use (registers, static shared memory) and spills
//!   nothing to local memory — so no launch fails with "too many resources requested" on a GPU.
//!
//! Needs NVRTC (the runtime compiler), not a GPU:
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
use miner_host::cuda::{
    ARCHES, KernelTarget, Nvrtc, REGISTERS_PER_BLOCK, STATIC_SHARED_LIMIT, compile_kernels,
    nvrtc_present,
};

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

/// NVRTC, or `None` after saying the test is skipped (a failure under GPUPROOF_CI=1).
fn nvrtc() -> Option<Nvrtc> {
    if !nvrtc_present() {
        assert!(
            std::env::var("GPUPROOF_CI").as_deref() != Ok("1"),
            "NVRTC is missing under GPUPROOF_CI=1: .ci/run should have run scripts/install-nvrtc"
        );
        let _ = writeln!(
            std::io::stderr(),
            "skipped: no NVRTC library (scripts/install-nvrtc, then scripts/test)"
        );
        return None;
    }
    Some(Nvrtc::load().expect("NVRTC loads"))
}

#[test]
fn the_kernels_compile_to_ptx_for_every_architecture() {
    if nvrtc().is_none() {
        return;
    }
    for arch in ARCHES {
        let compiled = compile_kernels(KernelTarget::Ptx(arch))
            .unwrap_or_else(|e| panic!("compute_{arch}: {e}"));
        assert!(compiled.resources.is_empty(), "PTX has no ptxas report");
        let ptx = compiled.ptx_text().expect("PTX is text");
        assert!(ptx.contains(&format!(".target sm_{arch}")), "{arch}");
        // The fallback GEMM really uses the 4-way int8 dot product instruction.
        assert!(ptx.contains("dp4a.s32.s32"), "{arch}: no dp4a in the PTX");
        for kernel in KERNELS {
            let params = entry_params(ptx, kernel.name)
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
fn the_machine_code_of_every_kernel_fits_its_launches_on_every_architecture() {
    let Some(nvrtc) = nvrtc() else {
        return;
    };
    for arch in ARCHES {
        // Every architecture of ARCHES gets its own machine code from this NVRTC.
        assert_eq!(
            KernelTarget::for_device(arch, &nvrtc.archs),
            Ok(KernelTarget::Sass(arch)),
            "NVRTC {:?} supports {:?}",
            nvrtc.version,
            nvrtc.archs
        );
        let compiled =
            compile_kernels(KernelTarget::Sass(arch)).unwrap_or_else(|e| panic!("sm_{arch}: {e}"));
        assert!(compiled.ptx_text().is_none());
        // A CUBIN is an ELF file.
        assert_eq!(compiled.image.get(..4), Some(&b"\x7fELF"[..]), "sm_{arch}");
        let mut report = format!("sm_{arch}:");
        for kernel in KERNELS {
            let res = compiled
                .resources
                .iter()
                .find(|r| r.name == kernel.name)
                .unwrap_or_else(|| panic!("sm_{arch}: ptxas reported no `{}`", kernel.name));
            let block = cuda_kernels::launch::largest_block(kernel.name).unwrap();
            assert!(
                res.registers > 0 && res.max_threads_per_block() >= block,
                "sm_{arch}: `{}` uses {} registers a thread: a block of {block} needs more than \
                 the {REGISTERS_PER_BLOCK} registers a block may have",
                kernel.name,
                res.registers
            );
            assert!(
                res.shared_bytes <= STATIC_SHARED_LIMIT,
                "sm_{arch}: `{}` uses {} bytes of static shared memory",
                kernel.name,
                res.shared_bytes
            );
            assert!(
                !res.uses_local_memory(),
                "sm_{arch}: `{}` uses local memory: {res:?}",
                kernel.name
            );
            report.push_str(&format!(" {} {}r", kernel.name, res.registers));
        }
        let _ = writeln!(std::io::stderr(), "{report}");
    }
}

#[test]
fn without_nvrtc_compiling_is_an_error_not_a_panic() {
    if nvrtc_present() {
        return;
    }
    let err = compile_kernels(KernelTarget::Sass(90))
        .unwrap_err()
        .to_string();
    assert!(err.contains("NVRTC"), "{err}");
    let err = Nvrtc::load().unwrap_err().to_string();
    assert!(err.contains("NVRTC"), "{err}");
}
