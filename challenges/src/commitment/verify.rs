//! Openings and their verification: the verifier's side of the commitment. Everything in an
//! [`Opening`] is hostile input; the output length and the leaf index are the verifier's own.

use alloc::vec::Vec;

use blake3::hazmat::{ChainingValue, Mode, merge_subtrees_non_root, merge_subtrees_root};

use super::node::chunk_cv;
use super::shape::{PathWalk, leaf_count, leaf_len};

/// The two children of one parent node on an opening's path: their chaining values, left
/// (lower chunks) then right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodePair {
    /// Chaining value of the left child.
    pub left: ChainingValue,
    /// Chaining value of the right child.
    pub right: ChainingValue,
}

/// Proof that one leaf (1 KiB chunk) belongs to an output with a given root.
///
/// Holds the chunk's bytes and, top-down, the children of every parent between the root and
/// the chunk: `path[0]` is the root's two children, the last pair holds the chunk's own
/// chaining value and its sibling's. An output of one leaf has an empty path. The output's
/// length and the leaf's index are not part of it: the verifier supplies both, so a prover
/// cannot choose the tree shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    /// The leaf's bytes: 1024, or fewer for the last leaf of the output (0 for an empty one).
    pub chunk: Vec<u8>,
    /// Children of each parent on the path, root first.
    pub path: Vec<NodePair>,
}

impl Opening {
    /// Same as [`verify_opening`]`(root, output_len, leaf, self)`.
    pub fn verify(
        &self,
        root: &blake3::Hash,
        output_len: u64,
        leaf: u64,
    ) -> Result<(), OpeningError> {
        verify_opening(root, output_len, leaf, self)
    }
}

/// Why an opening was rejected. Every variant names the leaf; tree failures name the level
/// (`depth` 0 is the pair of the root's children) and the chunks of the failing parent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpeningError {
    /// The verifier asked for a leaf the output does not have (a verifier-side bug).
    #[error("leaf {leaf} does not exist: the output has {leaves} leaves")]
    LeafOutOfRange {
        /// The requested leaf.
        leaf: u64,
        /// Leaves in the output.
        leaves: u64,
    },
    /// The chunk does not have the length of that leaf of an output of that length.
    #[error("opening of leaf {leaf}: the chunk has {got} bytes, that leaf has {expected}")]
    ChunkLength {
        /// The requested leaf.
        leaf: u64,
        /// Bytes in that leaf.
        expected: usize,
        /// Bytes in the opening's chunk.
        got: usize,
    },
    /// The path does not have one pair per level between the root and that leaf.
    #[error(
        "opening of leaf {leaf}: the path has {got} node pairs, that leaf is at depth {expected}"
    )]
    PathLength {
        /// The requested leaf.
        leaf: u64,
        /// Depth of that leaf.
        expected: usize,
        /// Pairs in the opening's path.
        got: usize,
    },
    /// The pair at `depth` does not merge to its parent: to the root at depth 0, otherwise to
    /// the chaining value the pair at `depth − 1` gave on the leaf's side.
    #[error(
        "opening of leaf {leaf}: the children at depth {depth} (of the parent over chunks \
         {first_chunk}..{end_chunk}) do not hash to {}",
        if *depth == 0 { "the committed root" } else { "the chaining value given one level up" }
    )]
    ParentMismatch {
        /// The requested leaf.
        leaf: u64,
        /// Index of the failing pair in the path (0 = the root's children).
        depth: usize,
        /// First chunk under the parent whose children failed.
        first_chunk: u64,
        /// One past the last chunk under that parent.
        end_chunk: u64,
    },
    /// The chunk does not hash to the chaining value the last pair gives for it (to the root,
    /// for an output of one leaf).
    #[error(
        "opening of leaf {leaf}: the chunk's bytes do not hash to the value committed for that \
         leaf"
    )]
    ChunkMismatch {
        /// The requested leaf.
        leaf: u64,
    },
}

/// Checks that `opening` proves leaf `leaf` of an output of `output_len` bytes whose BLAKE3
/// hash is `root`.
///
/// `output_len` and `leaf` must come from the verifier (its params and its own random draw),
/// never from the prover. On `Ok`, `opening.chunk` is the leaf's content under the
/// collision resistance of BLAKE3. Checks, in order: the leaf exists; the chunk has that
/// leaf's length; the path has one pair per level; top-down, each pair merges to the root
/// (depth 0) or to the chaining value selected from the pair above; the chunk's chaining value
/// equals the one selected from the last pair. So a change anywhere is reported at the first
/// level it breaks: a changed chaining value at depth `d` as
/// [`OpeningError::ParentMismatch`] with that `depth`, a changed chunk as
/// [`OpeningError::ChunkMismatch`].
///
/// What a wrong `output_len` changes: the expected chunk length and the shape of the path.
/// It is rejected wherever it changes this leaf's length or a node on the leaf's side of the
/// path; an opening of a leaf lying, under both lengths, below the same nodes still verifies,
/// which accepts nothing false: `root` commits to those bytes at that position either way.
///
/// Cost: one chunk (16 compressions) plus one compression per level, at most 54 levels. Hash
/// comparisons are constant-time ([`blake3::Hash`] equality). Never panics.
pub fn verify_opening(
    root: &blake3::Hash,
    output_len: u64,
    leaf: u64,
    opening: &Opening,
) -> Result<(), OpeningError> {
    let leaves = leaf_count(output_len);
    let expected_len =
        leaf_len(output_len, leaf).ok_or(OpeningError::LeafOutOfRange { leaf, leaves })?;
    if opening.chunk.len() != expected_len {
        return Err(OpeningError::ChunkLength {
            leaf,
            expected: expected_len,
            got: opening.chunk.len(),
        });
    }
    let walk = PathWalk::new(leaves, leaf);
    let depth = walk.clone().count();
    if opening.path.len() != depth {
        return Err(OpeningError::PathLength {
            leaf,
            expected: depth,
            got: opening.path.len(),
        });
    }

    // `None` while the next pair must merge to the root; then the CV it must merge to.
    let mut expected: Option<ChainingValue> = None;
    for (depth, (step, pair)) in walk.zip(&opening.path).enumerate() {
        let merges = match expected {
            None => merge_subtrees_root(&pair.left, &pair.right, Mode::Hash) == *root,
            Some(cv) => {
                let merged = merge_subtrees_non_root(&pair.left, &pair.right, Mode::Hash);
                blake3::Hash::from_bytes(merged) == blake3::Hash::from_bytes(cv)
            }
        };
        if !merges {
            return Err(OpeningError::ParentMismatch {
                leaf,
                depth,
                first_chunk: step.first,
                end_chunk: step.end(),
            });
        }
        expected = Some(if step.leaf_left {
            pair.left
        } else {
            pair.right
        });
    }

    let chunk_matches = match expected {
        // One leaf: the chunk itself is finalized as the root.
        None => blake3::hash(&opening.chunk) == *root,
        // Two or more leaves: every chunk has 1..=1024 bytes, so `chunk_cv` succeeds; an error
        // would still only reject.
        Some(cv) => chunk_cv(&opening.chunk, leaf)
            .is_ok_and(|got| blake3::Hash::from_bytes(got) == blake3::Hash::from_bytes(cv)),
    };
    if chunk_matches {
        Ok(())
    } else {
        Err(OpeningError::ChunkMismatch { leaf })
    }
}
