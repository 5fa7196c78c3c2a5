//! # cuda-kernels — gpuproof's CUDA kernels, as source text tested on the CPU
//!
//! The CUDA backend compiles [`SOURCE`] with NVRTC at run time (one program, all entry points
//! below); this crate's tests compile **the same files** as C++20 against a grid emulator
//! (`cuda/emu.h`: one real thread per CUDA thread, real barriers for `__syncthreads`, real
//! per-warp exchanges for shuffles) and check every kernel bit for bit against the
//! `challenges` reference. See the crate's README for the emulator's model and limits.
//!
//! ## Entry points (`extern "C"`, so NVRTC keeps these names unmangled)
//!
//! | kernel | what | launch ([`launch`]) |
//! |---|---|---|
//! | [`PRF_FILL_I8`] | elements `[start, start+len)` of a PRF tensor (`challenges::prf`) | 1 thread / Philox block |
//! | [`RELAYOUT_TILES`] | row-major `i32` M × N → 16 × 16 tile-major (`challenges::tiles`) | 16 × 16 threads / tile |
//! | [`TRANSPOSE_I8`] | row-major `i8` R × C → C × R (B into the K-contiguous form cuBLASLt needs) | 32 × 8 threads / 32 × 32 tile |
//! | [`MEMBW_FILL`] | `membw` buffer blocks `x_R(i)` (`challenges::membw`) | 1 thread / 16-byte block |
//! | [`MEMBW_PERM`] | `π_p(b)` for a range of `b` (checks and self-test only) | 1 thread / index |
//! | [`MEMBW_PASS`] | `membw` pass output: the fold of groups `b`, `π_p(b)` | 1 warp / group |
//! | [`BLAKE3_CHUNK_CVS`] | non-root chaining value of every 1 KiB chunk | 1 thread / chunk |
//! | [`BLAKE3_PARENT_CVS`] | one tree level up: CV pairs merged, odd last carried | 1 thread / output CV |
//! | [`GEMM_I8_DP4A`] | `int8 × int8 → int32` GEMM with `__dp4a` (cuBLASLt fallback) | 16 × 16 threads / 64 × 64 of C |
//!
//! Every parameter list is in [`KERNELS`] (names, C types and ABI kinds, in order: what a
//! launcher pushes as kernel arguments); `tests/source.rs` checks it against the source text.
//! Pointers are device pointers, 16-byte aligned unless the kernel says otherwise (cudaMalloc
//! gives 256); `u32` is `unsigned int`, `u64` is `unsigned long long`. No kernel uses dynamic
//! shared memory. The BLAKE3 kernels never set the `ROOT` flag: the host merges the root's two
//! children (or hashes an output of at most one chunk itself), as
//! `challenges::commitment::OutputTree::from_chunk_cvs` does.
//!
//! ## NVRTC
//!
//! Compile [`SOURCE`] as one program (name [`PROGRAM_NAME`]) with no extra headers, for
//! `compute_61` or newer (`__dp4a`); NVRTC's implicit builtins are all the text needs. The
//! files are also exported one by one ([`SOURCE_FILES`]) for error messages.
//!
//! ```
//! assert!(cuda_kernels::SOURCE.contains("extern \"C\" __global__ void prf_fill_i8("));
//! let launch = cuda_kernels::launch::relayout_tiles(32, 48).unwrap();
//! assert_eq!((launch.grid, launch.block), ([6, 1, 1], [16, 16, 1]));
//! ```

pub mod launch;

#[cfg(feature = "emulator")]
pub mod emulated;

/// `cuda/common.cuh`: types, Philox4x32-10, BLAKE3 compression, aligned loads and stores.
pub const COMMON_CUH: &str = include_str!("../cuda/common.cuh");
/// `cuda/prf.cu`: [`PRF_FILL_I8`].
pub const PRF_CU: &str = include_str!("../cuda/prf.cu");
/// `cuda/relayout.cu`: [`RELAYOUT_TILES`], [`TRANSPOSE_I8`].
pub const RELAYOUT_CU: &str = include_str!("../cuda/relayout.cu");
/// `cuda/membw.cu`: [`MEMBW_FILL`], [`MEMBW_PERM`], [`MEMBW_PASS`].
pub const MEMBW_CU: &str = include_str!("../cuda/membw.cu");
/// `cuda/blake3.cu`: [`BLAKE3_CHUNK_CVS`], [`BLAKE3_PARENT_CVS`].
pub const BLAKE3_CU: &str = include_str!("../cuda/blake3.cu");
/// `cuda/gemm_dp4a.cu`: [`GEMM_I8_DP4A`].
pub const GEMM_DP4A_CU: &str = include_str!("../cuda/gemm_dp4a.cu");

/// The whole program NVRTC compiles: the files of [`SOURCE_FILES`] concatenated in order,
/// exactly as `emu/launchers.cpp` includes them for the emulator tests.
pub const SOURCE: &str = concat!(
    include_str!("../cuda/common.cuh"),
    include_str!("../cuda/prf.cu"),
    include_str!("../cuda/relayout.cu"),
    include_str!("../cuda/membw.cu"),
    include_str!("../cuda/blake3.cu"),
    include_str!("../cuda/gemm_dp4a.cu"),
);

/// The files of [`SOURCE`], in order, as `(file name, text)`.
pub const SOURCE_FILES: [(&str, &str); 6] = [
    ("common.cuh", COMMON_CUH),
    ("prf.cu", PRF_CU),
    ("relayout.cu", RELAYOUT_CU),
    ("membw.cu", MEMBW_CU),
    ("blake3.cu", BLAKE3_CU),
    ("gemm_dp4a.cu", GEMM_DP4A_CU),
];

/// Program name to give NVRTC (shows up in its diagnostics).
pub const PROGRAM_NAME: &str = "gpuproof_kernels.cu";

/// Entry point: PRF tensor fill (see [`KERNELS`] for its parameters).
pub const PRF_FILL_I8: &str = "prf_fill_i8";
/// Entry point: row-major → tile-major re-layout of an `i32` matrix.
pub const RELAYOUT_TILES: &str = "relayout_tiles";
/// Entry point: transpose of an `i8` matrix.
pub const TRANSPOSE_I8: &str = "transpose_i8";
/// Entry point: `membw` buffer fill.
pub const MEMBW_FILL: &str = "membw_fill";
/// Entry point: `membw` permutation `π_p` over a range of groups.
pub const MEMBW_PERM: &str = "membw_perm";
/// Entry point: one `membw` pass.
pub const MEMBW_PASS: &str = "membw_pass";
/// Entry point: BLAKE3 chunk chaining values.
pub const BLAKE3_CHUNK_CVS: &str = "blake3_chunk_cvs";
/// Entry point: one BLAKE3 parent level.
pub const BLAKE3_PARENT_CVS: &str = "blake3_parent_cvs";
/// Entry point: `int8 × int8 → int32` GEMM with `__dp4a`.
pub const GEMM_I8_DP4A: &str = "gemm_i8_dp4a";

/// How a kernel parameter is passed (its size and meaning in the argument buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A device pointer the kernel only reads (8 bytes).
    ConstPtr,
    /// A device pointer the kernel writes (8 bytes).
    MutPtr,
    /// `unsigned int` (4 bytes).
    U32,
    /// `unsigned long long` (8 bytes).
    U64,
}

/// One kernel parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Param {
    /// Name in the source.
    pub name: &'static str,
    /// C type as written in the source (`u32`, `const u8*`, …; typedefs of `common.cuh`).
    pub c_type: &'static str,
    /// How it is passed.
    pub kind: ParamKind,
}

/// One entry point of [`SOURCE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelSpec {
    /// Unmangled name (`extern "C"`).
    pub name: &'static str,
    /// Parameters, in order.
    pub params: &'static [Param],
    /// Launch geometry in words; [`launch`] computes it.
    pub geometry: &'static str,
}

const fn p(name: &'static str, c_type: &'static str, kind: ParamKind) -> Param {
    Param { name, c_type, kind }
}

use ParamKind::{ConstPtr, MutPtr, U32, U64};

/// Every entry point of [`SOURCE`] with its parameter layout, in source order.
pub const KERNELS: [KernelSpec; 9] = [
    KernelSpec {
        name: PRF_FILL_I8,
        params: &[
            p("out", "u8*", MutPtr),
            p("start", "u64", U64),
            p("len", "u64", U64),
            p("tensor_id", "u32", U32),
            p("key0", "u32", U32),
            p("key1", "u32", U32),
        ],
        geometry: "1-D, one thread per Philox block touched: launch::prf_fill_i8",
    },
    KernelSpec {
        name: RELAYOUT_TILES,
        params: &[
            p("in", "const i32*", ConstPtr),
            p("out", "i32*", MutPtr),
            p("m", "u32", U32),
            p("n", "u32", U32),
        ],
        geometry: "block (16, 16, 1), grid (tiles, 1, 1): launch::relayout_tiles",
    },
    KernelSpec {
        name: TRANSPOSE_I8,
        params: &[
            p("in", "const i8*", ConstPtr),
            p("out", "i8*", MutPtr),
            p("rows", "u32", U32),
            p("cols", "u32", U32),
        ],
        geometry: "block (32, 8, 1), grid (ceil(cols/32), ceil(rows/32), 1): launch::transpose_i8",
    },
    KernelSpec {
        name: MEMBW_FILL,
        params: &[
            p("buf", "u8*", MutPtr),
            p("first_block", "u64", U64),
            p("count", "u64", U64),
            p("rounds", "u32", U32),
            p("key0", "u32", U32),
            p("key1", "u32", U32),
        ],
        geometry: "1-D, one thread per 16-byte block: launch::membw_fill",
    },
    KernelSpec {
        name: MEMBW_PERM,
        params: &[
            p("out", "u32*", MutPtr),
            p("first", "u64", U64),
            p("count", "u64", U64),
            p("groups", "u64", U64),
            p("half_bits", "u32", U32),
            p("rk0", "u32", U32),
            p("rk1", "u32", U32),
            p("rk2", "u32", U32),
            p("rk3", "u32", U32),
        ],
        geometry: "1-D, one thread per index: launch::membw_perm",
    },
    KernelSpec {
        name: MEMBW_PASS,
        params: &[
            p("buf", "const u8*", ConstPtr),
            p("out", "u8*", MutPtr),
            p("groups", "u64", U64),
            p("group_bytes", "u32", U32),
            p("pass", "u32", U32),
            p("half_bits", "u32", U32),
            p("rk0", "u32", U32),
            p("rk1", "u32", U32),
            p("rk2", "u32", U32),
            p("rk3", "u32", U32),
        ],
        geometry: "1-D, one warp per group: launch::membw_pass",
    },
    KernelSpec {
        name: BLAKE3_CHUNK_CVS,
        params: &[
            p("data", "const u8*", ConstPtr),
            p("len", "u64", U64),
            p("chunk_base", "u64", U64),
            p("cvs", "u8*", MutPtr),
        ],
        geometry: "1-D, one thread per 1 KiB chunk: launch::blake3_chunk_cvs",
    },
    KernelSpec {
        name: BLAKE3_PARENT_CVS,
        params: &[
            p("in", "const u8*", ConstPtr),
            p("count", "u64", U64),
            p("out", "u8*", MutPtr),
        ],
        geometry: "1-D, one thread per output CV: launch::blake3_parent_cvs",
    },
    KernelSpec {
        name: GEMM_I8_DP4A,
        params: &[
            p("a", "const i8*", ConstPtr),
            p("b", "const i8*", ConstPtr),
            p("c", "i32*", MutPtr),
            p("m", "u32", U32),
            p("n", "u32", U32),
            p("k", "u32", U32),
        ],
        geometry: "block (16, 16, 1), grid (⌈N/64⌉, ⌈M/64⌉, 1): launch::gemm_i8_dp4a",
    },
];

/// The spec of entry point `name`, if [`SOURCE`] has it.
pub fn kernel(name: &str) -> Option<&'static KernelSpec> {
    KERNELS.iter().find(|k| k.name == name)
}
