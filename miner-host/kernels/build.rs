//! Builds the grid emulator (the kernels of `cuda/` compiled as C++20 against `cuda/emu.h`,
//! launched from `emu/launchers.cpp`) when the `emulator` feature is on, i.e. for this crate's
//! tests. Without the feature nothing is compiled: the CUDA backend only needs the source text.

use std::process::ExitCode;

const SOURCES: [&str; 8] = [
    "cuda/emu.h",
    "cuda/common.cuh",
    "cuda/prf.cu",
    "cuda/relayout.cu",
    "cuda/membw.cu",
    "cuda/blake3.cu",
    "cuda/gemm_dp4a.cu",
    "emu/launchers.cpp",
];

fn main() -> ExitCode {
    println!("cargo:rerun-if-changed=build.rs");
    for source in SOURCES {
        println!("cargo:rerun-if-changed={source}");
    }
    if std::env::var_os("CARGO_FEATURE_EMULATOR").is_none() {
        return ExitCode::SUCCESS;
    }
    let built = cc::Build::new()
        .cpp(true)
        .std("c++20")
        .file("emu/launchers.cpp")
        // The kernels move 16-byte vectors through `reinterpret_cast`, as CUDA code does.
        .flag("-fno-strict-aliasing")
        .flag("-pthread")
        .try_compile("gpuproof_kernel_emu");
    match built {
        Ok(()) => {
            println!("cargo:rustc-link-lib=pthread");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "error: cuda-kernels: could not build the grid emulator (feature `emulator`, \
                 which this crate's tests turn on). It needs a C++20 compiler with <barrier>: \
                 g++ ≥ 11 or clang++ ≥ 14 with libstdc++ ≥ 11. Install one (Debian/Ubuntu: \
                 `apt-get install g++`) or point CXX at it, then rebuild.\ncause: {error}"
            );
            ExitCode::FAILURE
        }
    }
}
