//! The commitment to an output and the proofs that open one leaf of it.
//!
//! **Commitment.** A miner commits to each output (a GEMM result in tile-major order, a
//! `membw` pass's folds) with the plain BLAKE3 hash of its bytes: `root = blake3::hash(output)`.
//! No length or domain is mixed in; the verifier knows the output's length from its own params.
//!
//! **Leaves and tree.** The leaves are BLAKE3's own 1 KiB chunks ([`CHUNK_LEN`]; one 16 × 16
//! int32 tile each); the last may be shorter, and an empty output has one leaf of 0 bytes
//! ([`leaf_count`]). The tree is BLAKE3's: a node over chunks `[s, s + n)` with `n > 1` has a
//! left child of the largest power of two below `n` chunks, so every node is either a complete,
//! aligned subtree of 2^k chunks or a right-spine node `[s, leaves)`. A leaf's value is its
//! chunk chaining value ([`chunk_cv`]: chunk counter = leaf index, no `ROOT` flag), a parent's
//! is BLAKE3's parent compression of its children's, and the root's two children are merged
//! with the `ROOT` flag, giving exactly `blake3::hash(output)`. A one-leaf output is its chunk
//! finalized as the root.
//!
//! **Openings.** An [`Opening`] of leaf `i` is the chunk and, top-down, the chaining values of
//! both children of every parent from the root to the chunk ([`NodePair`]). The verifier
//! ([`verify_opening`]) takes the output length and the leaf index from its own state, never
//! from the miner, checks the shape, then walks down from the root, so a forged value is
//! reported at the exact level it is inconsistent ([`OpeningError`] names the leaf, the depth
//! and the chunks of the failing parent).
//!
//! **Prover.** [`OutputTree`] keeps only the chaining values at and above a block height `h0`
//! (blocks of 2^h0 chunks, default [`DEFAULT_BLOCK_HEIGHT`] = 16 KiB): `O(leaves / 2^h0)`
//! values. To open a leaf it needs only that leaf's block, so a miner may drop an output after
//! committing and recompute one block when asked. A GPU backend that hashes chunks (or whole
//! blocks) on the device builds the same tree with [`OutputTree::from_chunk_cvs`] or
//! [`OutputTree::from_block_cvs`].
//!
//! **Why our own code on `blake3::hazmat` rather than `bao-tree`.** The tree is plain
//! BLAKE3's with 1 KiB leaves (bao-tree's block size 0), which `blake3::hazmat` exposes
//! directly (`set_input_offset`, `finalize_non_root`, `merge_subtrees_*`): no extra dependency
//! in a `no_std` crate linked into WASM modules; exact control over errors, which name the
//! failing leaf and level; and the GPU backend computes the same chunk chaining values and
//! parent levels on the device, which this module consumes as plain `[u8; 32]` values.
//!
//! ```
//! use challenges::commitment::{OutputTree, OpeningError, verify_opening};
//!
//! // The miner's output: 5 000 bytes = 5 leaves (the last one 904 bytes).
//! let output: Vec<u8> = (0..5_000u32).map(|i| (i % 251) as u8).collect();
//! let tree = OutputTree::new(&output);
//! let root = tree.root(); // sent as the commitment
//! assert_eq!(root, blake3::hash(&output));
//!
//! // The verifier draws leaf 3; the miner opens it and the verifier checks it.
//! let opening = tree.open(&output, 3)?;
//! verify_opening(&root, 5_000, 3, &opening)?;
//!
//! // A miner that kept only the tree may open from the leaf's block alone.
//! let block = tree.block_byte_range(3).unwrap();
//! let again = tree.open(&output[block.start as usize..block.end as usize], 3)?;
//! assert_eq!(again, opening);
//!
//! // Presented for another leaf (whose bytes differ), the same opening is rejected.
//! assert!(matches!(
//!     verify_opening(&root, 5_000, 2, &opening),
//!     Err(OpeningError::ParentMismatch { leaf: 2, .. } | OpeningError::ChunkMismatch { leaf: 2 })
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod node;
mod shape;
mod tree;
mod verify;

pub use blake3::hazmat::ChainingValue;
pub use node::{NodeError, chunk_cv, subtree_cv};
pub use shape::{leaf_count, leaf_depth, leaf_len};
pub use tree::{DEFAULT_BLOCK_HEIGHT, MAX_BLOCK_HEIGHT, OutputTree, TreeError, block_count};
pub use verify::{NodePair, Opening, OpeningError, verify_opening};

/// Bytes per leaf: BLAKE3's chunk length, 1 024 (one 16 × 16 int32 tile).
pub const CHUNK_LEN: usize = blake3::CHUNK_LEN;
