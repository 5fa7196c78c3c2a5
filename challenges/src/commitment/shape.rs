//! The shape of BLAKE3's tree over an output's chunks: leaf counts, leaf lengths, and the
//! top-down walk from the root to one leaf. Pure integer arithmetic on verifier-chosen values.

use super::CHUNK_LEN;

/// [`CHUNK_LEN`] as a `u64`, for offset arithmetic.
pub(crate) const CHUNK_LEN_U64: u64 = CHUNK_LEN as u64;

/// Number of leaves (1 KiB chunks) of an output of `output_len` bytes.
///
/// Guarantees: at least 1. An empty output has exactly one leaf of 0 bytes, as in BLAKE3 (the
/// hash of `b""` is the root of a single empty chunk); otherwise `⌈output_len / 1024⌉`.
pub fn leaf_count(output_len: u64) -> u64 {
    output_len.div_ceil(CHUNK_LEN_U64).max(1)
}

/// Length in bytes of leaf `leaf` of an output of `output_len` bytes, or `None` when the output
/// has no such leaf.
///
/// Guarantees: `Some(1024)` for every leaf but the last; the last leaf holds the remaining
/// `1..=1024` bytes, or 0 bytes for the single leaf of an empty output.
pub fn leaf_len(output_len: u64, leaf: u64) -> Option<usize> {
    if leaf >= leaf_count(output_len) {
        return None;
    }
    let start = leaf.checked_mul(CHUNK_LEN_U64)?;
    let len = output_len.checked_sub(start)?.min(CHUNK_LEN_U64);
    usize::try_from(len).ok()
}

/// Depth of leaf `leaf` in the tree of an output of `output_len` bytes: the number of
/// [`NodePair`](super::NodePair)s in its opening. `None` when the output has no such leaf.
///
/// Guarantees: 0 for the single leaf of a one-chunk (or empty) output; otherwise between 1 and
/// `⌈log2(leaves)⌉`, so at most 54 (a `u64` length has at most 2^54 chunks).
pub fn leaf_depth(output_len: u64, leaf: u64) -> Option<usize> {
    let leaves = leaf_count(output_len);
    (leaf < leaves).then(|| PathWalk::new(leaves, leaf).count())
}

/// Number of chunks in the left child of a node of `chunks ≥ 2` chunks: the largest power of
/// two strictly below `chunks` (BLAKE3's `left_subtree_len`, counted in chunks). Returns 0 for
/// `chunks < 2`, which has no children.
pub(crate) fn left_chunks(chunks: u64) -> u64 {
    match chunks.saturating_sub(1).checked_ilog2() {
        Some(log) if chunks >= 2 => 1u64.checked_shl(log).unwrap_or(0),
        _ => 0,
    }
}

/// One parent node on the way from the root down to a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// First chunk the parent covers.
    pub(crate) first: u64,
    /// Number of chunks it covers (≥ 2).
    pub(crate) chunks: u64,
    /// Number of chunks in its left child.
    pub(crate) left: u64,
    /// Whether the leaf lies under the left child.
    pub(crate) leaf_left: bool,
}

impl Step {
    /// One past the last chunk the parent covers.
    pub(crate) fn end(&self) -> u64 {
        self.first.saturating_add(self.chunks)
    }

    /// `(first chunk, chunk count)` of the left child.
    pub(crate) fn left_child(&self) -> (u64, u64) {
        (self.first, self.left)
    }

    /// `(first chunk, chunk count)` of the right child.
    pub(crate) fn right_child(&self) -> (u64, u64) {
        (
            self.first.saturating_add(self.left),
            self.chunks.saturating_sub(self.left),
        )
    }

    /// `(first chunk, chunk count)` of the child that does not contain the leaf.
    pub(crate) fn sibling(&self) -> (u64, u64) {
        if self.leaf_left {
            self.right_child()
        } else {
            self.left_child()
        }
    }
}

/// Iterator over the parents on the path from the root of a tree of `leaves` chunks down to
/// `leaf`, top-down. Yields nothing for a one-leaf tree. The caller guarantees
/// `leaf < leaves`; for any other input it still terminates (each step halves the node at
/// least) and never panics.
#[derive(Clone, Debug)]
pub(crate) struct PathWalk {
    leaf: u64,
    first: u64,
    chunks: u64,
}

impl PathWalk {
    /// Walk from the root of a tree of `leaves` chunks to `leaf`.
    pub(crate) fn new(leaves: u64, leaf: u64) -> Self {
        Self {
            leaf,
            first: 0,
            chunks: leaves,
        }
    }
}

impl Iterator for PathWalk {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        if self.chunks < 2 {
            return None;
        }
        let left = left_chunks(self.chunks);
        let right_first = self.first.saturating_add(left);
        let step = Step {
            first: self.first,
            chunks: self.chunks,
            left,
            leaf_left: self.leaf < right_first,
        };
        if step.leaf_left {
            self.chunks = left;
        } else {
            self.first = right_first;
            self.chunks = self.chunks.saturating_sub(left);
        }
        Some(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_chunks_is_largest_power_of_two_below() {
        assert_eq!(left_chunks(0), 0);
        assert_eq!(left_chunks(1), 0);
        for n in 2..=4096u64 {
            let l = left_chunks(n);
            assert!(
                l.is_power_of_two() && l < n && 2 * l >= n,
                "n = {n}, l = {l}"
            );
            // Agrees with BLAKE3's own (byte-counted) definition.
            let bytes = n * CHUNK_LEN_U64;
            assert_eq!(
                blake3::hazmat::left_subtree_len(bytes),
                l * CHUNK_LEN_U64,
                "n = {n}"
            );
        }
        assert_eq!(left_chunks(u64::MAX), 1 << 63);
    }

    #[test]
    fn leaf_lengths_at_boundaries() {
        assert_eq!(leaf_count(0), 1);
        assert_eq!(leaf_len(0, 0), Some(0));
        assert_eq!(leaf_len(0, 1), None);
        assert_eq!(leaf_count(1024), 1);
        assert_eq!(leaf_count(1025), 2);
        assert_eq!(leaf_len(1025, 1), Some(1));
        assert_eq!(leaf_len(2048, 1), Some(1024));
        assert_eq!(leaf_count(u64::MAX), (1 << 54));
        assert_eq!(leaf_len(u64::MAX, (1 << 54) - 1), Some(1023));
        assert_eq!(leaf_depth(u64::MAX, 0), Some(54));
        assert_eq!(leaf_depth(u64::MAX, u64::MAX), None);
    }

    #[test]
    fn depths_of_small_trees() {
        // 5 chunks: root [0,5) = [0,4) + [4,5).
        let depths: alloc::vec::Vec<_> = (0..5).map(|i| leaf_depth(5 * 1024, i)).collect();
        assert_eq!(depths, [Some(3), Some(3), Some(3), Some(3), Some(1)]);
        assert_eq!(leaf_depth(1024, 0), Some(0));
        assert_eq!(leaf_depth(3 * 1024, 2), Some(1));
        assert_eq!(leaf_depth(3 * 1024, 0), Some(2));
    }
}
