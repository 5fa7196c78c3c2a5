//! The BLAKE3 commitment and its openings: every leaf of outputs at the chunk boundaries opens
//! and verifies, every single-bit forgery is rejected at the level it was made, and trees built
//! from bytes, chunk CVs and block CVs agree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use challenges::commitment::{
    CHUNK_LEN, ChainingValue, DEFAULT_BLOCK_HEIGHT, NodePair, Opening, OpeningError, OutputTree,
    TreeError, block_count, chunk_cv, leaf_count, leaf_depth, leaf_len, subtree_cv, verify_opening,
};
use proptest::prelude::*;

/// Deterministic, non-repeating bytes (xorshift64*), so no two chunks are equal.
fn output(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Parents from the root down to `leaf` as `(first chunk, end chunk)`, computed independently
/// of the crate: the left child of `n` chunks has the largest power of two below `n`.
fn parents(leaves: u64, leaf: u64) -> Vec<(u64, u64)> {
    let (mut first, mut n) = (0u64, leaves);
    let mut out = Vec::new();
    while n > 1 {
        out.push((first, first + n));
        let left = 1u64 << (63 - (n - 1).leading_zeros());
        if leaf < first + left {
            n = left;
        } else {
            first += left;
            n -= left;
        }
    }
    out
}

fn block_bytes(tree: &OutputTree, bytes: &[u8], leaf: u64) -> Vec<u8> {
    let range = tree.block_byte_range(leaf).unwrap();
    bytes[range.start as usize..range.end as usize].to_vec()
}

/// Every leaf opens from the whole output and from its block alone, and verifies.
fn check_every_leaf(bytes: &[u8], block_height: u32) {
    let len = bytes.len() as u64;
    let tree = OutputTree::with_block_height(bytes, block_height).unwrap();
    assert_eq!(
        tree.root(),
        blake3::hash(bytes),
        "len {len}, h0 {block_height}"
    );
    assert_eq!(tree.leaf_count(), leaf_count(len));
    for leaf in 0..tree.leaf_count() {
        let opening = tree.open(bytes, leaf).unwrap();
        let start = (leaf as usize * CHUNK_LEN).min(bytes.len());
        let end = (start + CHUNK_LEN).min(bytes.len());
        assert_eq!(opening.chunk, bytes[start..end]);
        assert_eq!(Some(opening.path.len()), leaf_depth(len, leaf));
        assert_eq!(opening.path.len(), parents(leaf_count(len), leaf).len());
        verify_opening(&tree.root(), len, leaf, &opening).unwrap();
        let from_block = tree.open(&block_bytes(&tree, bytes, leaf), leaf).unwrap();
        assert_eq!(
            from_block, opening,
            "len {len}, h0 {block_height}, leaf {leaf}"
        );
    }
}

#[test]
fn every_leaf_of_whole_chunk_outputs_opens() {
    for chunks in [1usize, 2, 3, 17, 1024, 1025] {
        let bytes = output(chunks * CHUNK_LEN, chunks as u64);
        for block_height in [0, 1, DEFAULT_BLOCK_HEIGHT, 11] {
            check_every_leaf(&bytes, block_height);
        }
    }
}

#[test]
fn every_leaf_of_boundary_lengths_opens() {
    for len in [0usize, 1, 1023, 1024, 1025, 2047, 2048, 2049] {
        let bytes = output(len, len as u64 + 7);
        for block_height in 0..=3 {
            check_every_leaf(&bytes, block_height);
        }
    }
}

#[test]
fn empty_output_is_one_empty_leaf() {
    let tree = OutputTree::new(&[]);
    assert_eq!(tree.root(), blake3::hash(b""));
    assert_eq!(
        (leaf_count(0), leaf_len(0, 0), leaf_depth(0, 0)),
        (1, Some(0), Some(0))
    );
    let opening = tree.open(&[], 0).unwrap();
    assert_eq!(
        opening,
        Opening {
            chunk: vec![],
            path: vec![]
        }
    );
    verify_opening(&tree.root(), 0, 0, &opening).unwrap();
    assert_eq!(
        verify_opening(&tree.root(), 0, 1, &opening),
        Err(OpeningError::LeafOutOfRange { leaf: 1, leaves: 1 })
    );
}

/// Flips every bit of every path node of every leaf (and every bit, or every 13th bit for the
/// larger trees, of every chunk) and checks the error names that leaf and that level.
#[test]
fn every_flipped_bit_is_named_by_leaf_and_level() {
    for len in [
        1usize,
        700,
        1024,
        1025,
        2048,
        3000,
        4096,
        5 * 1024,
        6000,
        9 * 1024 - 1,
    ] {
        let bytes = output(len, 99);
        let tree = OutputTree::with_block_height(&bytes, 1).unwrap();
        let root = tree.root();
        let len = len as u64;
        let bit_stride = if len <= 3000 { 1 } else { 13 };
        for leaf in 0..leaf_count(len) {
            let opening = tree.open(&bytes, leaf).unwrap();
            let nodes = parents(leaf_count(len), leaf);
            assert_eq!(nodes.len(), opening.path.len());
            for (depth, &(first_chunk, end_chunk)) in nodes.iter().enumerate() {
                for side in 0..2 {
                    for bit in 0..256 {
                        let mut forged = opening.clone();
                        let pair = &mut forged.path[depth];
                        let cv = if side == 0 {
                            &mut pair.left
                        } else {
                            &mut pair.right
                        };
                        cv[bit / 8] ^= 1 << (bit % 8);
                        assert_eq!(
                            verify_opening(&root, len, leaf, &forged),
                            Err(OpeningError::ParentMismatch {
                                leaf,
                                depth,
                                first_chunk,
                                end_chunk,
                            })
                        );
                    }
                }
            }
            for bit in (0..opening.chunk.len() * 8).step_by(bit_stride) {
                let mut forged = opening.clone();
                forged.chunk[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(
                    verify_opening(&root, len, leaf, &forged),
                    Err(OpeningError::ChunkMismatch { leaf })
                );
            }
        }
    }
}

#[test]
fn error_messages_name_leaf_and_level() {
    let bytes = output(5 * 1024, 1);
    let tree = OutputTree::new(&bytes);
    let mut opening = tree.open(&bytes, 2).unwrap();
    opening.path[1].right[0] ^= 1;
    let message = verify_opening(&tree.root(), 5 * 1024, 2, &opening)
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "opening of leaf 2: the children at depth 1 (of the parent over chunks 0..4) do not \
         hash to the chaining value given one level up"
    );
    opening.path[0].left[0] ^= 1;
    let message = verify_opening(&tree.root(), 5 * 1024, 2, &opening)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("depth 0") && message.contains("the committed root"),
        "{message}"
    );
}

#[test]
fn shape_errors() {
    let bytes = output(3000, 5);
    let tree = OutputTree::new(&bytes);
    let root = tree.root();
    let opening = tree.open(&bytes, 1).unwrap();
    let mut short = opening.clone();
    short.chunk.pop();
    assert_eq!(
        verify_opening(&root, 3000, 1, &short),
        Err(OpeningError::ChunkLength {
            leaf: 1,
            expected: 1024,
            got: 1023
        })
    );
    let mut long = opening.clone();
    long.path.push(NodePair {
        left: [0; 32],
        right: [0; 32],
    });
    assert_eq!(
        verify_opening(&root, 3000, 1, &long),
        Err(OpeningError::PathLength {
            leaf: 1,
            expected: 2,
            got: 3
        })
    );
    assert_eq!(
        verify_opening(&root, 3000, 3, &opening),
        Err(OpeningError::LeafOutOfRange { leaf: 3, leaves: 3 })
    );
    assert_eq!(opening.verify(&root, 3000, 1), Ok(()));
}

#[test]
fn opening_for_another_leaf_is_rejected() {
    for len in [2048usize, 3000, 17 * 1024, 40 * 1024 - 3] {
        let bytes = output(len, 3);
        let tree = OutputTree::with_block_height(&bytes, 2).unwrap();
        let leaves = leaf_count(len as u64);
        let openings: Vec<_> = (0..leaves).map(|i| tree.open(&bytes, i).unwrap()).collect();
        for (i, opening) in openings.iter().enumerate() {
            for j in 0..leaves {
                let result = verify_opening(&tree.root(), len as u64, j, opening);
                assert_eq!(
                    result.is_ok(),
                    i as u64 == j,
                    "len {len}, opening {i} as {j}"
                );
                // The right chunk under another leaf's path is rejected too.
                let mut mixed = opening.clone();
                mixed.chunk.clone_from(&openings[j as usize].chunk);
                if i as u64 != j && mixed.chunk.len() == opening.chunk.len() {
                    assert!(verify_opening(&tree.root(), len as u64, i as u64, &mixed).is_err());
                }
            }
        }
    }
}

/// A wrong output length is rejected wherever it changes the leaf's length or any node on the
/// leaf's side of its path (the parents below the root). It cannot be caught where both
/// lengths put the leaf under the same child of the root and the same nodes below: the root
/// still commits to the opened bytes at that position, so nothing false is accepted.
#[test]
fn wrong_output_len_is_rejected_where_it_changes_the_leaf() {
    for len in [1usize, 1024, 1025, 3000, 4096, 5 * 1024, 17 * 1024 + 5] {
        let bytes = output(len, 11);
        let tree = OutputTree::new(&bytes);
        let len = len as u64;
        let last = leaf_count(len) - 1;
        for leaf in 0..=last {
            let opening = tree.open(&bytes, leaf).unwrap();
            for wrong in [
                len.saturating_sub(1),
                len + 1,
                len.saturating_sub(1024),
                len + 1024,
            ] {
                if wrong == len {
                    continue;
                }
                let moved = leaf_depth(wrong, leaf) != leaf_depth(len, leaf)
                    || leaf_len(wrong, leaf) != leaf_len(len, leaf)
                    || parents(leaf_count(wrong), leaf).get(1..)
                        != parents(leaf_count(len), leaf).get(1..);
                if leaf == last || moved {
                    assert!(
                        verify_opening(&tree.root(), wrong, leaf, &opening).is_err(),
                        "len {len} as {wrong}, leaf {leaf}"
                    );
                }
            }
        }
        // The last leaf always pins the length: one byte more or less is rejected.
        let opening = tree.open(&bytes, last).unwrap();
        assert!(verify_opening(&tree.root(), len + 1, last, &opening).is_err());
        if len > 0 {
            assert!(verify_opening(&tree.root(), len - 1, last, &opening).is_err());
        }
    }
}

fn block_cvs_of(bytes: &[u8], block_height: u32) -> Vec<ChainingValue> {
    let block = CHUNK_LEN << block_height;
    bytes
        .chunks(block)
        .enumerate()
        .map(|(b, bytes)| subtree_cv(bytes, (b << block_height) as u64).unwrap())
        .collect()
}

fn chunk_cvs_of(bytes: &[u8]) -> Vec<ChainingValue> {
    bytes
        .chunks(CHUNK_LEN)
        .enumerate()
        .map(|(i, c)| chunk_cv(c, i as u64).unwrap())
        .collect()
}

#[test]
fn trees_from_chunk_and_block_cvs_equal_tree_from_bytes() {
    for len in [
        1025usize,
        2048,
        3000,
        16 * 1024,
        16 * 1024 + 1,
        33 * 1024,
        100 * 1024 - 1,
    ] {
        let bytes = output(len, 21);
        for block_height in 0..=6 {
            let tree = OutputTree::with_block_height(&bytes, block_height).unwrap();
            let from_chunks =
                OutputTree::from_chunk_cvs(len as u64, block_height, &chunk_cvs_of(&bytes));
            assert_eq!(
                from_chunks,
                Ok(tree.clone()),
                "len {len}, h0 {block_height}"
            );
            let blocks = block_cvs_of(&bytes, block_height);
            assert_eq!(blocks.len() as u64, block_count(len as u64, block_height));
            let from_blocks = OutputTree::from_block_cvs(len as u64, block_height, blocks);
            if tree.block_count() == 1 {
                assert!(matches!(from_blocks, Err(TreeError::RootNeedsBytes { .. })));
                assert!(tree.block_cvs().is_empty());
            } else {
                assert_eq!(
                    from_blocks,
                    Ok(tree.clone()),
                    "len {len}, h0 {block_height}"
                );
                assert_eq!(tree.block_cvs(), block_cvs_of(&bytes, block_height));
            }
        }
    }
}

/// Regression vector, made with this module from `output(3000, 5)` (xorshift64* bytes above):
/// the root is `blake3::hash` of those bytes; leaf 2 (952 bytes) has depth 1, and its one
/// pair is the CV of chunks 0..2 and the CV of chunk 2.
#[test]
fn known_opening_vector() {
    let bytes = output(3000, 5);
    let tree = OutputTree::new(&bytes);
    let opening = tree.open(&bytes, 2).unwrap();
    let cv01 = subtree_cv(&bytes[..2048], 0).unwrap();
    let cv2 = chunk_cv(&bytes[2048..], 2).unwrap();
    assert_eq!(
        opening.path,
        [NodePair {
            left: cv01,
            right: cv2
        }]
    );
    assert_eq!(hex::encode(tree.root().as_bytes()), KNOWN_ROOT);
    assert_eq!(hex::encode(cv01), KNOWN_LEFT);
    assert_eq!(hex::encode(cv2), KNOWN_RIGHT);
}
const KNOWN_ROOT: &str = "75bbbd05301116e1d18377306f19256458ecf5cfbaa4ca6967fc9e484f2ab268";
const KNOWN_LEFT: &str = "4d00cf64bb4bbcf2e010c797f57ec50da6e7440342ce2f74359c832dec2d43b5";
const KNOWN_RIGHT: &str = "8287ec9300c2b3c7af1d8d73aeeb29a5acaede19be34f88eefdc3efb192fe564";

/// Bytes of an opening in a flat layout (chunk, then each pair left ‖ right), for corruption.
fn flat_len(opening: &Opening) -> usize {
    opening.chunk.len() + 64 * opening.path.len()
}

fn corrupt(opening: &mut Opening, position: usize, mask: u8) {
    if let Some(byte) = opening.chunk.get_mut(position) {
        *byte ^= mask;
        return;
    }
    let p = position - opening.chunk.len();
    let pair = &mut opening.path[p / 64];
    let cv = if p % 64 < 32 {
        &mut pair.left
    } else {
        &mut pair.right
    };
    cv[p % 32] ^= mask;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_lengths_open_and_verify(
        len in 0usize..=40 * CHUNK_LEN + 1,
        block_height in 0u32..=5,
        seed in any::<u64>(),
    ) {
        let bytes = output(len, seed);
        check_every_leaf(&bytes, block_height);
        let tree = OutputTree::with_block_height(&bytes, block_height).unwrap();
        if leaf_count(len as u64) > 1 {
            let from_chunks =
                OutputTree::from_chunk_cvs(len as u64, block_height, &chunk_cvs_of(&bytes));
            prop_assert_eq!(from_chunks, Ok(tree.clone()));
        }
        if tree.block_count() > 1 {
            let blocks = block_cvs_of(&bytes, block_height);
            prop_assert_eq!(
                OutputTree::from_block_cvs(len as u64, block_height, blocks),
                Ok(tree)
            );
        }
    }

    #[test]
    fn corrupted_openings_never_verify(
        len in 0usize..=40 * CHUNK_LEN + 1,
        block_height in 0u32..=5,
        seed in any::<u64>(),
        leaf_pick in any::<u64>(),
        position_pick in any::<usize>(),
        mask in 1u8..,
    ) {
        let bytes = output(len, seed);
        let tree = OutputTree::with_block_height(&bytes, block_height).unwrap();
        let leaf = leaf_pick % leaf_count(len as u64);
        let opening = tree.open(&bytes, leaf).unwrap();
        let total = flat_len(&opening);
        prop_assume!(total > 0);
        let position = position_pick % total;
        let mut forged = opening.clone();
        corrupt(&mut forged, position, mask);
        let result = verify_opening(&tree.root(), len as u64, leaf, &forged);
        if position < opening.chunk.len() {
            prop_assert_eq!(result, Err(OpeningError::ChunkMismatch { leaf }));
        } else {
            let depth = (position - opening.chunk.len()) / 64;
            prop_assert!(
                matches!(result, Err(OpeningError::ParentMismatch { leaf: l, depth: d, .. })
                    if l == leaf && d == depth),
                "{:?}", result
            );
        }
        // Truncated or extended openings are rejected too.
        let mut truncated = opening.clone();
        truncated.path.pop();
        truncated.chunk.truncate(position_pick % (opening.chunk.len() + 1));
        prop_assert!(truncated == opening
            || verify_opening(&tree.root(), len as u64, leaf, &truncated).is_err());
        let mut extended = opening.clone();
        extended.chunk.push(mask);
        prop_assert!(verify_opening(&tree.root(), len as u64, leaf, &extended).is_err());
    }

    #[test]
    fn arbitrary_inputs_never_panic(
        output_len in prop_oneof![any::<u64>(), 0u64..100_000],
        leaf in prop_oneof![any::<u64>(), 0u64..100],
        chunk in proptest::collection::vec(any::<u8>(), 0..1100),
        path in proptest::collection::vec(any::<[u8; 32]>(), 0..60),
        root in any::<[u8; 32]>(),
        first_chunk in any::<u64>(),
    ) {
        let path = path.chunks(2).map(|p| NodePair { left: p[0], right: p[p.len() - 1] }).collect();
        let opening = Opening { chunk: chunk.clone(), path };
        prop_assert!(
            verify_opening(&blake3::Hash::from_bytes(root), output_len, leaf, &opening).is_err()
        );
        let _ = (chunk_cv(&chunk, first_chunk), subtree_cv(&chunk, first_chunk));
        let _ = (leaf_len(output_len, leaf), leaf_depth(output_len, leaf));
        let _ = OutputTree::from_block_cvs(output_len % 100_000, (leaf % 40) as u32, vec![root; 3]);
        let tree = OutputTree::new(&chunk);
        let _ = tree.open(&chunk[..chunk.len() / 2], leaf % 3);
    }
}
