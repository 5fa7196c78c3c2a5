//! Fuzzes opening verification with arbitrary chunks, paths, lengths and leaf indices against
//! a real root: never a panic, and nothing but the true opening of a leaf verifies.
#![no_main]

use challenges::commitment::{NodePair, Opening, OutputTree, verify_opening};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let (head, rest) = data.split_at(9);
    let output_len = u64::from(u16::from_le_bytes([head[0], head[1]])) * 16;
    let leaf = u64::from(head[2]);
    let output: Vec<u8> = (0..output_len)
        .map(|i| (i as u8).wrapping_mul(head[3] | 1))
        .collect();
    let tree = OutputTree::new(&output);
    let root = tree.root();
    // An arbitrary opening: chunk then 64-byte node pairs.
    let split = usize::from(head[4]) * 8 % (rest.len() + 1);
    let (chunk, path_bytes) = rest.split_at(split);
    let path = path_bytes
        .chunks_exact(64)
        .map(|p| {
            let mut left = [0u8; 32];
            let mut right = [0u8; 32];
            left.copy_from_slice(&p[..32]);
            right.copy_from_slice(&p[32..]);
            NodePair { left, right }
        })
        .collect();
    let forged = Opening {
        chunk: chunk.to_vec(),
        path,
    };
    if verify_opening(&root, output_len, leaf, &forged).is_ok() {
        let real = tree
            .open(&output, leaf)
            .expect("a leaf that verified exists");
        assert_eq!(forged.chunk, real.chunk, "a forged chunk verified");
    }
    if let Ok(real) = tree.open(&output, leaf) {
        verify_opening(&root, output_len, leaf, &real).expect("true openings verify");
    }
});
