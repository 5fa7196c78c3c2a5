//! `prf_fill_i8` against `challenges::prf::fill_tensor`.

use challenges::prf;
use cuda_kernels::emulated::{self, DeviceBuffer};
use proptest::prelude::*;

const SENTINEL: u8 = 0xA5;

/// Fills `[start, start + len)` at `offset` into a sentinel-filled buffer and checks the
/// range against the reference and that nothing outside it was touched.
fn check(key: prf::PhiloxKey, id: u32, start: u64, len: usize, offset: usize, threads: u32) {
    let total = offset + len + 19;
    let mut out = DeviceBuffer::from_bytes(&vec![SENTINEL; total]);
    emulated::prf_fill_i8(&mut out, offset, start, len as u64, id, key, threads).unwrap();
    let got = out.to_vec();
    let mut want = vec![0u8; len];
    prf::fill_tensor(key, id, start, &mut want);
    assert_eq!(
        &got[offset..offset + len],
        &want[..],
        "start {start}, len {len}, offset {offset}, threads {threads}"
    );
    assert!(
        got[..offset].iter().all(|&b| b == SENTINEL),
        "wrote before the range"
    );
    assert!(
        got[offset + len..].iter().all(|&b| b == SENTINEL),
        "wrote past the range"
    );
}

#[test]
fn boundary_starts_and_lengths() {
    let key = prf::key(&crate::vector_seed(), 0);
    let hi_word = 16 * ((1u64 << 32) - 1); // Philox block 2^32 - 1: the counter's hi32 ticks
    let starts = [
        0,
        1,
        15,
        16,
        17,
        31,
        33,
        1000,
        hi_word - 3,
        hi_word + 13,
        u64::MAX - 2000,
    ];
    let lens = [0usize, 1, 15, 16, 17, 33, 255, 1000];
    for (i, &start) in starts.iter().enumerate() {
        for (j, &len) in lens.iter().enumerate() {
            let offset = [0, 1, 16, 5][(i + j) % 4];
            let threads = if (i + j).is_multiple_of(2) { 32 } else { 256 };
            check(key, 7, start, len, offset, threads);
        }
    }
}

#[test]
fn matmul_vector_first_block() {
    // A_0 of the docs/design.md matmul vector: tensor 0, block 0 = philox(key, [0, 0, 0, 0]).
    let key = prf::key(&crate::vector_seed(), 0);
    assert_eq!(key, [0xec23f654, 0x4604376d]);
    let mut out = DeviceBuffer::zeroed(64);
    emulated::prf_fill_i8(&mut out, 0, 0, 64, 0, key, 32).unwrap();
    assert_eq!(out.to_vec()[..16], prf::tensor_block(key, 0, 0));
    let mut signed = [0i8; 64];
    prf::fill_tensor_i8(key, 0, 0, &mut signed);
    assert!(out.to_vec().iter().zip(signed).all(|(b, s)| *b as i8 == s));
}

#[test]
fn many_blocks_across_thread_blocks() {
    // 300 Philox blocks over 2 and 10 thread blocks.
    let key = [0x0123_4567, 0x89ab_cdef];
    check(key, 0xffff_ffff, 5, 300 * 16 - 9, 3, 256);
    check(key, 1, 0, 300 * 16, 0, 32);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_range(
        key in any::<[u32; 2]>(),
        id in any::<u32>(),
        start in any::<u64>().prop_map(|s| s >> 20),
        len in 0usize..200,
        offset in 0usize..17,
    ) {
        check(key, id, start, len, offset, 32);
    }
}
