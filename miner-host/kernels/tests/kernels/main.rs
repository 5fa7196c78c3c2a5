//! Every kernel of `cuda/`, run through the grid emulator, checked bit for bit against the
//! `challenges` reference at boundary sizes; plus checks that `SOURCE` (what NVRTC compiles)
//! is exactly the text these tests build, and that the tests would catch a missing barrier.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod blake3_tree;
mod emulator;
mod gemm;
mod membw;
mod prf;
mod relayout;
mod source;

/// The seed of the docs/design.md vectors: `00 01 … 1f`.
pub(crate) fn vector_seed() -> [u8; 32] {
    core::array::from_fn(|i| i as u8)
}

/// `n` deterministic pseudo-random bytes (BLAKE3 XOF of `tag`).
pub(crate) fn noise(tag: &str, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    blake3::Hasher::new()
        .update(tag.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}
