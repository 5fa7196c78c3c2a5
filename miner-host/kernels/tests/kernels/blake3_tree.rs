//! `blake3_chunk_cvs` and `blake3_parent_cvs` against `challenges::commitment` and
//! `blake3::hash`.

use blake3::hazmat::{ChainingValue, Mode, merge_subtrees_non_root, merge_subtrees_root};
use challenges::commitment::{self, OutputTree};
use cuda_kernels::emulated::{self, DeviceBuffer};

/// What the device computes for an output of more than one chunk.
pub(crate) struct DeviceTree {
    /// Level 0: chunk CVs; level l: level l − 1 merged in pairs (odd last carried), down to the
    /// level of two CVs.
    pub(crate) levels: Vec<Vec<ChainingValue>>,
    /// The two top CVs merged with the ROOT flag (on the host).
    pub(crate) root: [u8; 32],
}

fn cvs_of(buf: &DeviceBuffer, count: usize) -> Vec<ChainingValue> {
    buf.to_vec()[..32 * count]
        .chunks_exact(32)
        .map(|c| c.try_into().unwrap())
        .collect()
}

/// Chunk CVs of `data[offset .. offset + len]` (chunk counters from 0) and every parent level
/// on the emulated device, with thread counts varied per level.
pub(crate) fn device_levels(data: &DeviceBuffer, offset: usize, len: u64) -> DeviceTree {
    let chunks = len.div_ceil(1024) as usize;
    assert!(chunks >= 2);
    let mut cvs = DeviceBuffer::zeroed(32 * chunks);
    emulated::blake3_chunk_cvs(data, offset, len, 0, &mut cvs, 32).unwrap();
    let mut levels = vec![cvs_of(&cvs, chunks)];
    let mut count = chunks;
    let mut level = cvs;
    while count > 2 {
        let up = count.div_ceil(2);
        let mut next = DeviceBuffer::zeroed(32 * up);
        let threads = if count.is_multiple_of(2) { 32 } else { 64 };
        emulated::blake3_parent_cvs(&level, count as u64, &mut next, threads).unwrap();
        levels.push(cvs_of(&next, up));
        level = next;
        count = up;
    }
    let top = levels.last().unwrap();
    let root = *merge_subtrees_root(&top[0], &top[1], Mode::Hash).as_bytes();
    DeviceTree { levels, root }
}

/// The host reference of one level up (what commitment::OutputTree does).
fn merge_pairs(level: &[ChainingValue]) -> Vec<ChainingValue> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => merge_subtrees_non_root(l, r, Mode::Hash),
            [single] => *single,
            _ => unreachable!(),
        })
        .collect()
}

fn check(len: usize, offset: usize) {
    let bytes = crate::noise(&format!("blake3 {len}"), len);
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(&bytes);
    let data = DeviceBuffer::from_bytes(&padded);
    let chunks = len.div_ceil(1024);

    let mut cvs = DeviceBuffer::zeroed(32 * chunks);
    emulated::blake3_chunk_cvs(&data, offset, len as u64, 0, &mut cvs, 32).unwrap();
    let chunk_cvs = cvs_of(&cvs, chunks);
    for (i, cv) in chunk_cvs.iter().enumerate() {
        let chunk = &bytes[1024 * i..(1024 * (i + 1)).min(len)];
        assert_eq!(
            cv,
            &commitment::chunk_cv(chunk, i as u64).unwrap(),
            "len {len}, chunk {i}"
        );
    }
    if chunks == 1 {
        // A one-chunk output's root is its chunk finalized as root: done on the host.
        return;
    }
    let tree = device_levels(&data, offset, len as u64);
    assert_eq!(tree.levels[0], chunk_cvs);
    for pair in tree.levels.windows(2) {
        assert_eq!(pair[1], merge_pairs(&pair[0]), "len {len}");
    }
    assert_eq!(tree.root, *blake3::hash(&bytes).as_bytes(), "len {len}");
    // Level h is commitment::OutputTree's block level at block height h.
    for (height, level) in tree.levels.iter().enumerate() {
        let from_bytes = OutputTree::with_block_height(&bytes, height as u32).unwrap();
        if level.len() >= 2 {
            assert_eq!(
                from_bytes.block_cvs(),
                &level[..],
                "len {len}, height {height}"
            );
        }
        let from_cvs =
            OutputTree::from_block_cvs(len as u64, height as u32, level.clone()).unwrap();
        assert_eq!(from_cvs, from_bytes);
    }
    let from_chunks = OutputTree::from_chunk_cvs(len as u64, 4, &chunk_cvs).unwrap();
    assert_eq!(from_chunks.root(), blake3::hash(&bytes));
}

#[test]
fn chunk_cvs_and_levels_at_boundary_lengths() {
    for len in [
        1,
        63,
        64,
        65,
        1023,
        1024,
        1025,
        2048,
        3 * 1024,
        5 * 1024 + 17,
        17 * 1024,
        33 * 1024 + 1,
    ] {
        check(len, 0);
    }
}

#[test]
fn unaligned_input_takes_the_byte_path() {
    for len in [1025, 3 * 1024 - 1] {
        check(len, 1);
        check(len, 4);
    }
}

#[test]
fn a_block_hashes_on_its_own_with_its_chunk_base() {
    // Block 1 (chunks 16..32, the last one short) of a 31.5-chunk output, as a miner rehashes
    // it to open a leaf inside it.
    let len = 31 * 1024 + 512;
    let bytes = crate::noise("blake3 block", len);
    let block = &bytes[16 * 1024..];
    let data = DeviceBuffer::from_bytes(block);
    let mut cvs = DeviceBuffer::zeroed(32 * 16);
    emulated::blake3_chunk_cvs(&data, 0, block.len() as u64, 16, &mut cvs, 32).unwrap();
    for (i, cv) in cvs_of(&cvs, 16).iter().enumerate() {
        let chunk = &block[1024 * i..(1024 * (i + 1)).min(block.len())];
        assert_eq!(cv, &commitment::chunk_cv(chunk, 16 + i as u64).unwrap());
    }
    let mut level = cvs;
    let mut count = 16u64;
    while count > 1 {
        let mut next = DeviceBuffer::zeroed(32 * count.div_ceil(2) as usize);
        emulated::blake3_parent_cvs(&level, count, &mut next, 32).unwrap();
        level = next;
        count = count.div_ceil(2);
    }
    let tree = OutputTree::with_block_height(&bytes, 4).unwrap();
    assert_eq!(cvs_of(&level, 1)[0], tree.block_cvs()[1]);
    assert_eq!(
        cvs_of(&level, 1)[0],
        commitment::subtree_cv(block, 16).unwrap()
    );
}
