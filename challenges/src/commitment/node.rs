//! Chaining values of single nodes, computed from the node's own bytes with
//! `blake3::hazmat`, with every precondition of hazmat checked first so that no input panics.

use blake3::hazmat::{ChainingValue, HasherExt};

use super::CHUNK_LEN;
use super::shape::CHUNK_LEN_U64;

/// Why a chaining value could not be computed by [`chunk_cv`] or [`subtree_cv`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The node has no bytes.
    #[error(
        "the node starting at chunk {first_chunk} is empty: BLAKE3 gives no chaining value to \
         an empty subtree (an empty output is a single leaf whose root is blake3::hash(b\"\"))"
    )]
    Empty {
        /// First chunk of the node.
        first_chunk: u64,
    },
    /// More bytes than a subtree starting at that chunk may hold.
    #[error(
        "a node starting at chunk {first_chunk} holds at most {max} bytes (a chunk, or \
         2^trailing_zeros(first_chunk) chunks for a subtree), got {len}"
    )]
    TooLong {
        /// First chunk of the node.
        first_chunk: u64,
        /// Bytes given.
        len: u64,
        /// Most bytes such a node may hold.
        max: u64,
    },
    /// The node's byte offset or end does not fit in a `u64`.
    #[error("a node of {len} bytes starting at chunk {first_chunk} ends past 2^64 bytes")]
    OffsetOverflow {
        /// First chunk of the node.
        first_chunk: u64,
        /// Bytes given.
        len: u64,
    },
}

/// Chaining value of leaf `leaf` of an output, from that leaf's own bytes (`1..=1024` bytes).
///
/// Guarantees: this is the non-root chaining value BLAKE3 gives chunk number `leaf` (chunk
/// counter `leaf`, flags `CHUNK_START | CHUNK_END`, no `ROOT`), i.e. the value a GPU backend
/// computes per chunk on the device and the value [`verify_opening`](super::verify_opening)
/// checks a chunk against. Never panics: an empty or over-long chunk is an error.
///
/// For an output of a single leaf this is *not* the commitment: its root is
/// `blake3::hash(chunk)`, the same chunk finalized with the `ROOT` flag.
pub fn chunk_cv(chunk: &[u8], leaf: u64) -> Result<ChainingValue, NodeError> {
    let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
    if chunk.len() > CHUNK_LEN {
        return Err(NodeError::TooLong {
            first_chunk: leaf,
            len,
            max: CHUNK_LEN_U64,
        });
    }
    subtree_cv(chunk, leaf)
}

/// Chaining value of the subtree whose bytes are `bytes` and whose first chunk is chunk number
/// `first_chunk` of the output.
///
/// Guarantees: equals the chaining value of that node in BLAKE3's tree whenever the node is one
/// (a complete, aligned subtree of 2^k chunks, or a right-spine node running to the end of the
/// output); it is computed with one `Hasher::update` over the whole slice, so BLAKE3's SIMD
/// hashes many chunks at once. Never panics: empty input, more bytes than a subtree starting at
/// `first_chunk` may hold (`2^trailing_zeros(first_chunk)` chunks; unbounded at chunk 0), and
/// offset overflow are errors.
pub fn subtree_cv(bytes: &[u8], first_chunk: u64) -> Result<ChainingValue, NodeError> {
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if bytes.is_empty() {
        return Err(NodeError::Empty { first_chunk });
    }
    let overflow = NodeError::OffsetOverflow { first_chunk, len };
    let offset = first_chunk.checked_mul(CHUNK_LEN_U64).ok_or(overflow)?;
    offset.checked_add(len).ok_or(overflow)?;
    if first_chunk != 0 {
        // hazmat::max_subtree_len, without its alignment assertion.
        let max_chunks = 1u64
            .checked_shl(first_chunk.trailing_zeros())
            .ok_or(overflow)?;
        let max = max_chunks.saturating_mul(CHUNK_LEN_U64);
        if len > max {
            return Err(NodeError::TooLong {
                first_chunk,
                len,
                max,
            });
        }
    }
    // Preconditions of hazmat, all checked above: the offset is a multiple of CHUNK_LEN, the
    // input fits the subtree at that offset, and it is not empty.
    Ok(blake3::Hasher::new()
        .set_input_offset(offset)
        .update(bytes)
        .finalize_non_root())
}

#[cfg(test)]
mod tests {
    use super::*;
    use blake3::hazmat::{Mode, merge_subtrees_non_root, merge_subtrees_root};

    #[test]
    fn rejects_what_hazmat_would_panic_on() {
        assert_eq!(subtree_cv(&[], 3), Err(NodeError::Empty { first_chunk: 3 }));
        assert_eq!(chunk_cv(&[], 0), Err(NodeError::Empty { first_chunk: 0 }));
        assert!(matches!(
            chunk_cv(&[0; 1025], 0),
            Err(NodeError::TooLong { max: 1024, .. })
        ));
        assert!(matches!(
            subtree_cv(&[0; 2049], 2),
            Err(NodeError::TooLong { max: 2048, .. })
        ));
        assert!(matches!(
            subtree_cv(&[0; 1], u64::MAX),
            Err(NodeError::OffsetOverflow { .. })
        ));
        assert!(matches!(
            subtree_cv(&[0; 1024], u64::MAX / 1024),
            Err(NodeError::OffsetOverflow { .. })
        ));
        assert!(subtree_cv(&[0; 5000], 0).is_ok());
        assert!(subtree_cv(&[0; 2048], 2).is_ok());
    }

    #[test]
    fn two_chunks_merge_to_the_root() {
        let bytes: alloc::vec::Vec<u8> = (0..1500u32).map(|i| i as u8).collect();
        let (a, b) = bytes.split_at(1024);
        let left = chunk_cv(a, 0).unwrap();
        let right = chunk_cv(b, 1).unwrap();
        assert_eq!(
            merge_subtrees_root(&left, &right, Mode::Hash),
            blake3::hash(&bytes)
        );
        assert_eq!(
            subtree_cv(&bytes, 0).unwrap(),
            merge_subtrees_non_root(&left, &right, Mode::Hash)
        );
    }
}
