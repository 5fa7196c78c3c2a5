//! The prover's side: [`OutputTree`] keeps the levels of an output's tree at and above the
//! block height and opens leaves, recomputing what lies below from one block's bytes.

use alloc::vec::Vec;
use core::ops::Range;

use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root,
};

use super::node::{NodeError, chunk_cv, subtree_cv};
use super::shape::{CHUNK_LEN_U64, PathWalk, leaf_count};
use super::verify::{NodePair, Opening, OpeningError, verify_opening};

/// Block height used by [`OutputTree::new`]: blocks of 2^4 = 16 chunks (16 KiB). Opening a leaf
/// rehashes at most one block; the tree keeps about two chaining values (64 bytes) per block.
pub const DEFAULT_BLOCK_HEIGHT: u32 = 4;

/// Largest accepted block height: blocks of 2^32 chunks (4 TiB), i.e. "one block".
pub const MAX_BLOCK_HEIGHT: u32 = 32;

/// Number of blocks of 2^`block_height` chunks in an output of `output_len` bytes: the number
/// of chaining values [`OutputTree::from_block_cvs`] takes. Blocks are aligned to their size;
/// the last one may be shorter. At least 1 (an empty output is one block of one empty leaf).
pub fn block_count(output_len: u64, block_height: u32) -> u64 {
    leaf_count(output_len).div_ceil(block_chunks(block_height))
}

/// Chunks per block of height `block_height` (saturating, for heights past 63).
fn block_chunks(block_height: u32) -> u64 {
    1u64.checked_shl(block_height).unwrap_or(u64::MAX)
}

/// Why an [`OutputTree`] could not be built or could not open a leaf.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The block height is above [`MAX_BLOCK_HEIGHT`].
    #[error("block height {height} is above the maximum of {max}")]
    BlockHeight {
        /// Height asked for.
        height: u32,
        /// [`MAX_BLOCK_HEIGHT`].
        max: u32,
    },
    /// [`OutputTree::from_chunk_cvs`] was not given one chaining value per leaf.
    #[error(
        "an output of {output_len} bytes has {expected} chunks, but {got} chunk chaining values \
         were given"
    )]
    ChunkCvCount {
        /// Output length in bytes.
        output_len: u64,
        /// Leaves in that output.
        expected: u64,
        /// Chaining values given.
        got: usize,
    },
    /// [`OutputTree::from_block_cvs`] was not given one chaining value per block.
    #[error(
        "an output of {output_len} bytes has {expected} blocks of 2^{block_height} chunks, but \
         {got} block chaining values were given"
    )]
    BlockCvCount {
        /// Output length in bytes.
        output_len: u64,
        /// Block height.
        block_height: u32,
        /// Blocks in that output.
        expected: u64,
        /// Chaining values given.
        got: usize,
    },
    /// The output fits in a single chunk (or a single block, for block CVs): its root is that
    /// node finalized with BLAKE3's `ROOT` flag, which no chaining value determines.
    #[error(
        "an output of {output_len} bytes is a single node at this height, so its root is \
         blake3::hash of its bytes, not a merge of chaining values: build the tree from the \
         bytes (OutputTree::with_block_height)"
    )]
    RootNeedsBytes {
        /// Output length in bytes.
        output_len: u64,
    },
    /// The leaf asked for does not exist.
    #[error("leaf {leaf} does not exist: the output has {leaves} leaves")]
    LeafOutOfRange {
        /// The requested leaf.
        leaf: u64,
        /// Leaves in the output.
        leaves: u64,
    },
    /// The bytes given to [`OutputTree::open`] are neither the whole output nor the leaf's
    /// block.
    #[error(
        "to open leaf {leaf}, pass the whole output ({output_len} bytes) or its block (bytes \
         {block_start}..{block_end}); got {got} bytes"
    )]
    BytesLength {
        /// The requested leaf.
        leaf: u64,
        /// Bytes given.
        got: u64,
        /// Output length in bytes.
        output_len: u64,
        /// First byte of the leaf's block.
        block_start: u64,
        /// One past the last byte of the leaf's block.
        block_end: u64,
    },
    /// A node's chaining value could not be computed from the bytes given.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The bytes given are not the ones the tree was built from: the opening they produce
    /// does not verify against the tree's root (`cause` says at which level).
    #[error("the bytes given to open leaf {leaf} are not those the tree was built from: {cause}")]
    BytesMismatch {
        /// The requested leaf.
        leaf: u64,
        /// How the produced opening failed.
        cause: OpeningError,
    },
}

/// The commitment tree of one output, as a prover keeps it.
///
/// Holds the output's length, its root (`== blake3::hash(output)`), and the chaining values of
/// the tree's nodes at and above the *block height* `h0`: level 0 are the blocks (the aligned
/// runs of 2^h0 chunks, the last one possibly shorter, each a node of BLAKE3's tree), each
/// further level merges pairs of the one below (an odd last node is carried up unchanged, as
/// it is a right-spine node), up to the root's two children. An output of a single block keeps
/// no levels, only its root.
///
/// Memory: with `b = ⌈leaves / 2^h0⌉` blocks, at most `2·b + ⌈log2 b⌉` chaining values of 32
/// bytes (a 64 MiB output at the default `h0 = 4`: 4 096 blocks, about 256 KiB). Building from bytes costs one BLAKE3
/// pass over the output (block by block, with BLAKE3's SIMD) and one compression per stored
/// parent; [`open`](Self::open) rehashes at most one block (2^h0 KiB) plus one compression per
/// level, then checks its own result with [`verify_opening`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputTree {
    output_len: u64,
    block_height: u32,
    /// `levels[0]`: block CVs; `levels[l]`: pairs of `levels[l − 1]` merged, an odd last one
    /// carried. The last level has exactly two CVs (the root's children). Empty for a
    /// single-block output.
    levels: Vec<Vec<ChainingValue>>,
    root: blake3::Hash,
}

impl OutputTree {
    /// The tree of `output` with blocks of 2^[`DEFAULT_BLOCK_HEIGHT`] chunks.
    ///
    /// Guarantees: `root() == blake3::hash(output)`. Never fails.
    pub fn new(output: &[u8]) -> Self {
        Self::build_from_bytes(output, DEFAULT_BLOCK_HEIGHT)
    }

    /// The tree of `output` keeping the levels at and above `block_height`.
    ///
    /// Guarantees: `root() == blake3::hash(output)`; each block CV is the BLAKE3 chaining value
    /// of that block, computed with one `update` over the block at its chunk offset. Fails
    /// only if `block_height > MAX_BLOCK_HEIGHT`.
    pub fn with_block_height(output: &[u8], block_height: u32) -> Result<Self, TreeError> {
        check_height(block_height)?;
        Ok(Self::build_from_bytes(output, block_height))
    }

    /// The tree of an output of `output_len` bytes from the chaining values of all its chunks
    /// (as [`chunk_cv`] gives them, e.g. computed on a GPU), in chunk order.
    ///
    /// Guarantees: equal to [`with_block_height`](Self::with_block_height) on the bytes those
    /// CVs came from. Fails if the count is not [`leaf_count`]`(output_len)`, or if the output
    /// has a single chunk (its root needs the bytes, see [`TreeError::RootNeedsBytes`]).
    pub fn from_chunk_cvs(
        output_len: u64,
        block_height: u32,
        chunk_cvs: &[ChainingValue],
    ) -> Result<Self, TreeError> {
        check_height(block_height)?;
        let leaves = leaf_count(output_len);
        if u64::try_from(chunk_cvs.len()).ok() != Some(leaves) {
            return Err(TreeError::ChunkCvCount {
                output_len,
                expected: leaves,
                got: chunk_cvs.len(),
            });
        }
        let mut level = chunk_cvs.to_vec();
        for _ in 0..block_height {
            if let [left, right] = level.as_slice() {
                // The whole output fits in one block: keep only the root.
                return Ok(Self {
                    output_len,
                    block_height,
                    levels: Vec::new(),
                    root: merge_subtrees_root(left, right, Mode::Hash),
                });
            }
            if level.len() < 2 {
                break;
            }
            level = merge_pairs(&level);
        }
        Self::from_block_level(output_len, block_height, level)
    }

    /// The tree of an output of `output_len` bytes from the chaining values of its blocks of
    /// 2^`block_height` chunks (as [`subtree_cv`] gives them for each block's bytes at its
    /// first chunk), in order.
    ///
    /// Guarantees: equal to [`with_block_height`](Self::with_block_height) on the bytes those
    /// CVs came from. Fails if the count is not [`block_count`]`(output_len, block_height)`,
    /// or if that count is 1 (its root needs the bytes, see [`TreeError::RootNeedsBytes`]).
    pub fn from_block_cvs(
        output_len: u64,
        block_height: u32,
        block_cvs: Vec<ChainingValue>,
    ) -> Result<Self, TreeError> {
        check_height(block_height)?;
        let expected = block_count(output_len, block_height);
        if u64::try_from(block_cvs.len()).ok() != Some(expected) {
            return Err(TreeError::BlockCvCount {
                output_len,
                block_height,
                expected,
                got: block_cvs.len(),
            });
        }
        Self::from_block_level(output_len, block_height, block_cvs)
    }

    /// The commitment: equal to `blake3::hash` of the output's bytes.
    pub fn root(&self) -> blake3::Hash {
        self.root
    }

    /// Length of the output in bytes.
    pub fn output_len(&self) -> u64 {
        self.output_len
    }

    /// The block height `h0`: levels below it are recomputed from bytes when opening.
    pub fn block_height(&self) -> u32 {
        self.block_height
    }

    /// Number of leaves (1 KiB chunks) of the output; see [`leaf_count`].
    pub fn leaf_count(&self) -> u64 {
        leaf_count(self.output_len)
    }

    /// Number of blocks of the output; see [`block_count`].
    pub fn block_count(&self) -> u64 {
        block_count(self.output_len, self.block_height)
    }

    /// The stored block chaining values, in order; empty for a single-block output (whose
    /// only stored value is the root).
    pub fn block_cvs(&self) -> &[ChainingValue] {
        self.levels.first().map_or(&[], Vec::as_slice)
    }

    /// Byte range of the block containing leaf `leaf`: the bytes [`open`](Self::open) needs
    /// when not given the whole output. `None` if the leaf does not exist.
    pub fn block_byte_range(&self, leaf: u64) -> Option<Range<u64>> {
        if leaf >= self.leaf_count() {
            return None;
        }
        let chunks = block_chunks(self.block_height);
        let first_chunk = leaf.checked_div(chunks)?.saturating_mul(chunks);
        let start = first_chunk.saturating_mul(CHUNK_LEN_U64);
        let end = chunks
            .saturating_mul(CHUNK_LEN_U64)
            .saturating_add(start)
            .min(self.output_len);
        Some(start..end)
    }

    /// Opening of leaf `leaf`, from `bytes`: either the whole output or only the bytes of the
    /// leaf's block ([`block_byte_range`](Self::block_byte_range)); the two are told apart by
    /// length, and coincide for a single-block output.
    ///
    /// Guarantees: the returned opening passes [`verify_opening`] against
    /// [`root`](Self::root) for this `output_len` and `leaf` (it is checked before returning);
    /// bytes that differ from those the tree was built from give
    /// [`TreeError::BytesMismatch`], never a bad opening. Siblings above the block height come
    /// from the stored levels; those below are hashed from the block's bytes. Never panics.
    pub fn open(&self, bytes: &[u8], leaf: u64) -> Result<Opening, TreeError> {
        let leaves = self.leaf_count();
        let block = self
            .block_byte_range(leaf)
            .ok_or(TreeError::LeafOutOfRange { leaf, leaves })?;
        let got = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        let length_error = TreeError::BytesLength {
            leaf,
            got,
            output_len: self.output_len,
            block_start: block.start,
            block_end: block.end,
        };
        let base_chunk = if got == self.output_len {
            0
        } else if Some(got) == block.end.checked_sub(block.start) {
            block.start / CHUNK_LEN_U64
        } else {
            return Err(length_error);
        };
        let node_bytes = |first_chunk: u64, chunks: u64| -> Option<&[u8]> {
            let start = first_chunk
                .checked_sub(base_chunk)?
                .checked_mul(CHUNK_LEN_U64)?;
            let end = chunks
                .checked_mul(CHUNK_LEN_U64)?
                .checked_add(start)?
                .min(got);
            bytes.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
        };

        let chunk = node_bytes(leaf, 1).ok_or_else(|| length_error.clone())?;
        let steps: Vec<_> = PathWalk::new(leaves, leaf).collect();
        let mut path = Vec::with_capacity(steps.len());
        if !steps.is_empty() {
            // Bottom-up: the leaf's side comes from merging, the sibling from the stored
            // levels or, below the block height, from the block's bytes.
            let mut on_path = chunk_cv(chunk, leaf)?;
            for step in steps.iter().rev() {
                let (first, chunks) = step.sibling();
                let sibling = match self.stored_cv(first, chunks) {
                    Some(cv) => cv,
                    None => {
                        let sibling_bytes =
                            node_bytes(first, chunks).ok_or_else(|| length_error.clone())?;
                        subtree_cv(sibling_bytes, first)?
                    }
                };
                let pair = if step.leaf_left {
                    NodePair {
                        left: on_path,
                        right: sibling,
                    }
                } else {
                    NodePair {
                        left: sibling,
                        right: on_path,
                    }
                };
                on_path = merge_subtrees_non_root(&pair.left, &pair.right, Mode::Hash);
                path.push(pair);
            }
            path.reverse();
        }
        let opening = Opening {
            chunk: chunk.to_vec(),
            path,
        };
        verify_opening(&self.root, self.output_len, leaf, &opening)
            .map_err(|cause| TreeError::BytesMismatch { leaf, cause })?;
        Ok(opening)
    }

    /// Builds from bytes with an already checked height.
    fn build_from_bytes(output: &[u8], block_height: u32) -> Self {
        let output_len = u64::try_from(output.len()).unwrap_or(u64::MAX);
        let single_block = || Self {
            output_len,
            block_height,
            levels: Vec::new(),
            root: blake3::hash(output),
        };
        let block_len = block_chunks(block_height).saturating_mul(CHUNK_LEN_U64);
        let block_len_usize = usize::try_from(block_len).unwrap_or(usize::MAX);
        if output.len() <= block_len_usize {
            return single_block();
        }
        // Every block starts at a multiple of 2^block_height chunks, so its offset is chunk
        // aligned and a subtree there may hold the whole block; `chunks` never yields an empty
        // slice. These are hazmat's preconditions.
        let blocks: Vec<ChainingValue> = output
            .chunks(block_len_usize)
            .zip(0u64..)
            .map(|(block, index)| {
                blake3::Hasher::new()
                    .set_input_offset(index.saturating_mul(block_len))
                    .update(block)
                    .finalize_non_root()
            })
            .collect();
        match build_levels(blocks) {
            Some((levels, root)) => Self {
                output_len,
                block_height,
                levels,
                root,
            },
            None => single_block(),
        }
    }

    /// Builds from a level of ≥ 2 block CVs (count already checked).
    fn from_block_level(
        output_len: u64,
        block_height: u32,
        blocks: Vec<ChainingValue>,
    ) -> Result<Self, TreeError> {
        let (levels, root) =
            build_levels(blocks).ok_or(TreeError::RootNeedsBytes { output_len })?;
        Ok(Self {
            output_len,
            block_height,
            levels,
            root,
        })
    }

    /// The stored chaining value of the node over chunks `first..first + chunks`, if that
    /// node is a whole number of blocks (then it is stored); `None` for nodes inside a block.
    fn stored_cv(&self, first: u64, chunks: u64) -> Option<ChainingValue> {
        let per_block = block_chunks(self.block_height);
        let end = first.checked_add(chunks)?;
        let leaves = self.leaf_count();
        if chunks == 0
            || !first.is_multiple_of(per_block)
            || (!end.is_multiple_of(per_block) && end != leaves)
        {
            return None;
        }
        let first_block = first.checked_div(per_block)?;
        let blocks = chunks.div_ceil(per_block);
        let level = match blocks.checked_sub(1)?.checked_ilog2() {
            None => 0,
            Some(log) => log.checked_add(1)?,
        };
        let span = 1u64.checked_shl(level)?;
        // Element `index` of level `level` covers blocks [index·span, min((index+1)·span, n)).
        if !first_block.is_multiple_of(span) {
            return None;
        }
        let block_total = self.block_count();
        let covered_end = first_block.checked_add(span)?.min(block_total);
        if first_block.checked_add(blocks)? != covered_end {
            return None;
        }
        let index = usize::try_from(first_block.checked_div(span)?).ok()?;
        self.levels
            .get(usize::try_from(level).ok()?)?
            .get(index)
            .copied()
    }
}

fn check_height(block_height: u32) -> Result<(), TreeError> {
    if block_height > MAX_BLOCK_HEIGHT {
        return Err(TreeError::BlockHeight {
            height: block_height,
            max: MAX_BLOCK_HEIGHT,
        });
    }
    Ok(())
}

/// One level up: adjacent pairs merged, an odd last node carried unchanged.
fn merge_pairs(level: &[ChainingValue]) -> Vec<ChainingValue> {
    level
        .chunks(2)
        .filter_map(|pair| match pair {
            [left, right] => Some(merge_subtrees_non_root(left, right, Mode::Hash)),
            [single] => Some(*single),
            _ => None,
        })
        .collect()
}

/// All levels from `base` (≥ 2 CVs) up to the root's two children, and the root. `None` for
/// fewer than 2 CVs.
fn build_levels(base: Vec<ChainingValue>) -> Option<(Vec<Vec<ChainingValue>>, blake3::Hash)> {
    if base.len() < 2 {
        return None;
    }
    let mut levels = alloc::vec![base];
    loop {
        let top = levels.last()?;
        if let [left, right] = top.as_slice() {
            let root = merge_subtrees_root(left, right, Mode::Hash);
            return Some((levels, root));
        }
        let next = merge_pairs(top);
        levels.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn levels_are_small() {
        for chunks in [2u64, 3, 16, 17, 100, 1025] {
            for h in 0..=5 {
                let bytes = output(chunks as usize * 1024 - 7);
                let tree = OutputTree::with_block_height(&bytes, h).unwrap();
                let blocks = tree.block_count();
                let stored: usize = tree.levels.iter().map(Vec::len).sum();
                assert!(
                    stored <= 2 * blocks as usize + tree.levels.len(),
                    "{chunks} {h}"
                );
                if blocks == 1 {
                    assert!(tree.levels.is_empty());
                } else {
                    assert_eq!(tree.levels.last().unwrap().len(), 2);
                    assert_eq!(tree.block_cvs().len() as u64, blocks);
                }
            }
        }
    }

    #[test]
    fn stored_cvs_are_the_nodes_cvs() {
        // 13 chunks, blocks of 2: every stored node matches a direct hash of its bytes.
        let bytes = output(13 * 1024 - 100);
        let tree = OutputTree::with_block_height(&bytes, 1).unwrap();
        for leaf in 0..13 {
            for step in PathWalk::new(13, leaf) {
                for (first, chunks) in [step.left_child(), step.right_child()] {
                    if let Some(cv) = tree.stored_cv(first, chunks) {
                        let start = (first * 1024) as usize;
                        let end = (((first + chunks) * 1024) as usize).min(bytes.len());
                        assert_eq!(cv, subtree_cv(&bytes[start..end], first).unwrap());
                    } else {
                        assert!(chunks < 2 || first % 2 != 0, "{first} {chunks}");
                    }
                }
            }
        }
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(matches!(
            OutputTree::with_block_height(&[], 33),
            Err(TreeError::BlockHeight { height: 33, .. })
        ));
        assert!(matches!(
            OutputTree::from_chunk_cvs(1024, 0, &[[0; 32]]),
            Err(TreeError::RootNeedsBytes { .. })
        ));
        assert!(matches!(
            OutputTree::from_chunk_cvs(2048, 0, &[[0; 32]]),
            Err(TreeError::ChunkCvCount {
                expected: 2,
                got: 1,
                ..
            })
        ));
        assert!(matches!(
            OutputTree::from_block_cvs(16 * 1024, 4, alloc::vec![[0; 32]]),
            Err(TreeError::RootNeedsBytes { .. })
        ));
        assert!(matches!(
            OutputTree::from_block_cvs(17 * 1024, 4, alloc::vec![[0; 32]]),
            Err(TreeError::BlockCvCount {
                expected: 2,
                got: 1,
                ..
            })
        ));
        let bytes = output(5000);
        let tree = OutputTree::with_block_height(&bytes, 1).unwrap();
        assert_eq!(
            tree.open(&bytes, 5),
            Err(TreeError::LeafOutOfRange { leaf: 5, leaves: 5 })
        );
        assert!(matches!(
            tree.open(&bytes[..100], 0),
            Err(TreeError::BytesLength {
                block_start: 0,
                block_end: 2048,
                ..
            })
        ));
        // The right block, but different bytes.
        let mut block = bytes[2048..4096].to_vec();
        block[5] ^= 1;
        assert!(matches!(
            tree.open(&block, 2),
            Err(TreeError::BytesMismatch { leaf: 2, .. })
        ));
        assert!(tree.open(&bytes[2048..4096], 3).is_ok());
        assert!(tree.open(&bytes[4096..], 4).is_ok());
    }
}
