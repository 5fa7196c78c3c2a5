//! The keyed PRF: challenge-seed binding, key derivation and Philox4x32-10.
//!
//! Everything a backend generates comes from here, and must agree bit for bit on the CPU, on
//! CUDA and inside WASM:
//!
//! 1. [`challenge_seed`] binds the verifier's fresh nonce to who asked whom for what:
//!    `seed = BLAKE3-derive_key("gpuproof v1 challenge seed", nonce32 ‖ validator hotkey ‖
//!    miner hotkey ‖ module hash ‖ BLAKE3(params bytes) ‖ device index u32 LE)`.
//! 2. [`key`] turns a seed and a stream number into a 64-bit Philox key: the first 8 bytes of
//!    `BLAKE3-derive_key("gpuproof v1 philox key", seed ‖ stream u64 LE)`, read as two
//!    little-endian `u32` words.
//! 3. [`philox4x32_10`] is Philox4x32 with ten rounds exactly as published by Random123
//!    (Salmon et al., SC'11); *not* cuRAND's `curand_init` counter mapping.
//! 4. Byte `j` (0..16) of block `b` of tensor `id` is element `16·b + j` of the tensor in its
//!    canonical (row-major) order; the block is the four output words of
//!    `philox4x32_10(key, [lo32(b), hi32(b), id, 0])`, each written little-endian
//!    ([`tensor_block`], [`fill_tensor`]).
//!
//! ```
//! use challenges::prf;
//! let seed: [u8; 32] = core::array::from_fn(|i| i as u8);
//! assert_eq!(prf::key(&seed, 0), [0xec23f654, 0x4604376d]);
//! let mut row = [0u8; 40];
//! prf::fill_tensor(prf::key(&seed, 0), 7, 5, &mut row); // elements 5..45 of tensor 7
//! assert_eq!(row[0], prf::tensor_block(prf::key(&seed, 0), 7, 0)[5]);
//! ```

/// BLAKE3 `derive_key` context of the challenge seed (hard-coded, unique to gpuproof v1).
pub const SEED_CONTEXT: &str = "gpuproof v1 challenge seed";
/// BLAKE3 `derive_key` context of the Philox key.
pub const KEY_CONTEXT: &str = "gpuproof v1 philox key";
/// BLAKE3 `derive_key` context of a phase seed (docs/design.md §Interactive phases).
pub const PHASE_SEED_CONTEXT: &str = "gpuproof v2 phase seed";

/// Bytes per Philox block: four 32-bit words.
pub const BLOCK_BYTES: usize = 16;

/// A 64-bit Philox key as two 32-bit words (`[k0, k1]`).
pub type PhiloxKey = [u32; 2];
/// A 128-bit Philox counter (or output) as four 32-bit words.
pub type PhiloxBlock = [u32; 4];

/// Philox4x32's multipliers and Weyl key increments (Random123).
pub(crate) const M0: u32 = 0xD251_1F53;
pub(crate) const M1: u32 = 0xCD9E_8D57;
pub(crate) const W0: u32 = 0x9E37_79B9;
pub(crate) const W1: u32 = 0xBB67_AE85;

/// The seed of interactive phase `phase` (≥ 1) of a challenge, from the challenge seed and the
/// verifier's fresh `nonce` of its `PhaseKey`:
/// `BLAKE3-derive_key("gpuproof v2 phase seed", seed ‖ phase u32 LE ‖ nonce)`.
///
/// What `gpu.phase_end` writes for the guest on the run side, and what the verifier hands
/// `check` (through `gpu.phase_seed`) from the nonces it sent.
pub fn phase_seed(seed: &[u8; 32], phase: u32, nonce: &[u8; 32]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key(PHASE_SEED_CONTEXT);
    hasher.update(seed);
    hasher.update(&phase.to_le_bytes());
    hasher.update(nonce);
    *hasher.finalize().as_bytes()
}

/// The 32-byte seed of one challenge on one device, bound to the nonce, both hotkeys, the
/// module, its params and the device, as docs/design.md §The PRF specifies.
///
/// A miner that hands a challenge to another miner gets a different seed there (the miner
/// hotkey differs), so the answer it re-signs cannot match.
pub fn challenge_seed(
    nonce: &[u8; 32],
    validator_hotkey: &[u8; 32],
    miner_hotkey: &[u8; 32],
    module_hash: &[u8; 32],
    params: &[u8],
    device: u32,
) -> [u8; 32] {
    let mut material = [0u8; 32 * 5 + 4];
    let params_hash = blake3::hash(params);
    let parts: [&[u8]; 6] = [
        nonce,
        validator_hotkey,
        miner_hotkey,
        module_hash,
        params_hash.as_bytes(),
        &device.to_le_bytes(),
    ];
    let mut at = 0;
    for part in parts {
        if let Some(dst) = material.get_mut(at..at + part.len()) {
            dst.copy_from_slice(part);
        }
        at += part.len();
    }
    blake3::derive_key(SEED_CONTEXT, &material)
}

/// The Philox key of `stream` under `seed`: the first 8 bytes of
/// `derive_key("gpuproof v1 philox key", seed ‖ stream u64 LE)` as two LE words.
pub fn key(seed: &[u8; 32], stream: u64) -> PhiloxKey {
    let mut material = [0u8; 40];
    material[..32].copy_from_slice(seed);
    material[32..].copy_from_slice(&stream.to_le_bytes());
    let derived = blake3::derive_key(KEY_CONTEXT, &material);
    [
        u32::from_le_bytes([derived[0], derived[1], derived[2], derived[3]]),
        u32::from_le_bytes([derived[4], derived[5], derived[6], derived[7]]),
    ]
}

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let product = u64::from(a) * u64::from(b);
    ((product >> 32) as u32, product as u32)
}

/// Philox4x32 with ten rounds (Random123): one 128-bit output block for `counter` under `key`.
///
/// Matches the Random123 known-answer vectors (see the crate's tests).
#[inline]
pub fn philox4x32_10(key: PhiloxKey, counter: PhiloxBlock) -> PhiloxBlock {
    let [mut k0, mut k1] = key;
    let mut x = counter;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
        let (hi0, lo0) = mulhilo(M0, x[0]);
        let (hi1, lo1) = mulhilo(M1, x[2]);
        x = [hi1 ^ x[1] ^ k0, lo1, hi0 ^ x[3] ^ k1, lo0];
    }
    x
}

/// The counter of block `block` of tensor `tensor_id`: `[lo32(block), hi32(block), id, 0]`.
#[inline]
pub fn tensor_counter(tensor_id: u32, block: u64) -> PhiloxBlock {
    [block as u32, (block >> 32) as u32, tensor_id, 0]
}

/// Writes four Philox words as 16 little-endian bytes, in word order.
#[inline]
pub fn block_bytes(words: PhiloxBlock) -> [u8; BLOCK_BYTES] {
    let mut out = [0u8; BLOCK_BYTES];
    for (dst, word) in out.chunks_exact_mut(4).zip(words) {
        dst.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// Block `block` (elements `16·block .. 16·block + 16`) of tensor `tensor_id`, as bytes.
#[inline]
pub fn tensor_block(key: PhiloxKey, tensor_id: u32, block: u64) -> [u8; BLOCK_BYTES] {
    block_bytes(philox4x32_10(key, tensor_counter(tensor_id, block)))
}

/// Fills `out` with elements `start .. start + out.len()` of tensor `tensor_id` (as raw bytes;
/// read them as `i8` for int8 tensors). Any start and length are allowed.
pub fn fill_tensor(key: PhiloxKey, tensor_id: u32, start: u64, out: &mut [u8]) {
    let mut element = start;
    let mut rest = out;
    while !rest.is_empty() {
        let block = element / BLOCK_BYTES as u64;
        let offset = (element % BLOCK_BYTES as u64) as usize;
        let bytes = tensor_block(key, tensor_id, block);
        let src = bytes.get(offset..).unwrap_or(&[]);
        let take = src.len().min(rest.len());
        let (head, tail) = rest.split_at_mut(take);
        head.copy_from_slice(src.get(..take).unwrap_or(&[]));
        rest = tail;
        element += take as u64;
    }
}

/// Like [`fill_tensor`], reinterpreting the bytes as `i8` elements.
pub fn fill_tensor_i8(key: PhiloxKey, tensor_id: u32, start: u64, out: &mut [i8]) {
    let mut start = start;
    for chunk in out.chunks_mut(256) {
        let mut bytes = [0u8; 256];
        let dst = bytes.get_mut(..chunk.len()).unwrap_or(&mut []);
        fill_tensor(key, tensor_id, start, dst);
        for (e, b) in chunk.iter_mut().zip(dst.iter()) {
            *e = *b as i8;
        }
        start += chunk.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn fill_matches_blocks_at_any_offset() {
        let key = [1, 2];
        let mut whole = [0u8; 80];
        fill_tensor(key, 3, 0, &mut whole);
        for b in 0..5u64 {
            assert_eq!(
                &whole[(b as usize) * 16..(b as usize + 1) * 16],
                &tensor_block(key, 3, b)
            );
        }
        for start in 0..30usize {
            for len in [0usize, 1, 15, 16, 17, 33] {
                let mut part = vec![0u8; len];
                fill_tensor(key, 3, start as u64, &mut part);
                assert_eq!(&part[..], &whole[start..start + len]);
            }
        }
        let mut signed = [0i8; 70];
        fill_tensor_i8(key, 3, 3, &mut signed);
        assert!(
            signed
                .iter()
                .zip(&whole[3..73])
                .all(|(s, b)| *s == *b as i8)
        );
    }

    #[test]
    fn counter_splits_the_block_index() {
        assert_eq!(
            tensor_counter(9, 0x1234_5678_9abc_def0),
            [0x9abc_def0, 0x1234_5678, 9, 0]
        );
    }
}
