//! The challenge-seed binding: every bound input changes the seed, and streams give distinct
//! keys.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use challenges::prf;

#[test]
fn every_bound_input_changes_the_seed() {
    let base = prf::challenge_seed(&[1; 32], &[2; 32], &[3; 32], &[4; 32], b"params", 0);
    let variants = [
        prf::challenge_seed(&[9; 32], &[2; 32], &[3; 32], &[4; 32], b"params", 0),
        prf::challenge_seed(&[1; 32], &[9; 32], &[3; 32], &[4; 32], b"params", 0),
        prf::challenge_seed(&[1; 32], &[2; 32], &[9; 32], &[4; 32], b"params", 0),
        prf::challenge_seed(&[1; 32], &[2; 32], &[3; 32], &[9; 32], b"params", 0),
        prf::challenge_seed(&[1; 32], &[2; 32], &[3; 32], &[4; 32], b"paramz", 0),
        prf::challenge_seed(&[1; 32], &[2; 32], &[3; 32], &[4; 32], b"params", 1),
        // Swapping validator and miner hotkeys gives another seed too.
        prf::challenge_seed(&[1; 32], &[3; 32], &[2; 32], &[4; 32], b"params", 0),
    ];
    for (i, v) in variants.iter().enumerate() {
        assert_ne!(v, &base, "variant {i} did not change the seed");
    }
}

#[test]
fn seed_is_derive_key_over_the_concatenation() {
    // The definition, spelled out independently of the implementation.
    let mut material = Vec::new();
    material.extend_from_slice(&[1; 32]);
    material.extend_from_slice(&[2; 32]);
    material.extend_from_slice(&[3; 32]);
    material.extend_from_slice(&[4; 32]);
    material.extend_from_slice(blake3::hash(b"xyz").as_bytes());
    material.extend_from_slice(&7u32.to_le_bytes());
    assert_eq!(
        prf::challenge_seed(&[1; 32], &[2; 32], &[3; 32], &[4; 32], b"xyz", 7),
        blake3::derive_key("gpuproof v1 challenge seed", &material)
    );
}

#[test]
fn streams_give_distinct_keys() {
    let seed = [5u8; 32];
    let keys: std::collections::HashSet<_> = (0..64).map(|s| prf::key(&seed, s)).collect();
    assert_eq!(keys.len(), 64);
}
