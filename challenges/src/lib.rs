//! # challenges — the deterministic gpuproof spec
//!
//! Everything that validators, miners, GPU backends and outside implementations must agree on
//! bit for bit, with no I/O:
//!
//! - [`prf`]: the challenge-seed binding, the Philox key derivation and Philox4x32-10, and how
//!   a tensor's elements come out of it;
//! - [`tiles`]: the 16 × 16 tile-major layout of GEMM outputs (one tile = one 1 KiB leaf);
//! - [`matmul`]: the `matmul-i8` module's params, inputs, output, openings and work;
//! - [`membw`]: the `membw` module's fill, permutations, fold, openings and work;
//! - [`commitment`]: the BLAKE3 commitment of an output and its opening proofs;
//! - [`work`]: the per-phase work vector used for expected-time models;
//! - [`simd`]: the same hot paths (Philox fills, tiles, `membw` groups and folds) on AVX2,
//!   AVX-512 or NEON where the CPU has them, bit-identical to the spec functions above.
//!
//! The crate is `no_std + alloc` (the `std` feature, on by default, only turns on BLAKE3's and
//! [`simd`]'s run-time CPU feature detection), so WASM challenge modules can link the same code.
//!
//! ```
//! use challenges::{matmul::{self, MatmulParams}, prf};
//! // The verifier binds a fresh nonce to both hotkeys, the module, its params and a device:
//! let params = MatmulParams { m: 32, n: 32, k: 64, count: 1 };
//! let seed = prf::challenge_seed(&[7; 32], &[1; 32], &[2; 32], &[3; 32], &params.encode(), 0);
//! // The miner commits to BLAKE3(C_0); the verifier recomputes any tile from the seed alone.
//! let root = matmul::roots(&seed, &params).unwrap()[0];
//! let tile = matmul::tile(prf::key(&seed, matmul::STREAM), &params, 0, 3).unwrap();
//! # let _ = (root, tile);
//! ```
#![no_std]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod abi;
pub mod commitment;
mod error;
pub mod matmul;
pub mod membw;
pub mod prf;
pub mod simd;
pub mod tiles;
pub mod work;

pub use error::SpecError;
