//! aarch64 kernels: NEON (baseline on aarch64, still checked at run time like the x86 sets).
//!
//! The only module of the crate (with `x86.rs`) allowed `unsafe`: loads and stores through
//! pointers whose bounds are established just before (each block says how), and calls into
//! `#[target_feature]` functions from the token type [`Neon`], which only run-time detection
//! creates.
//!
//! **Philox** holds one word of 4 blocks per vector; `umull`/`umull2` give the four 64-bit
//! products and `uzp1`/`uzp2` split them into low and high words; four vectors are in flight,
//! and `st4` writes the words back in block order.
//!
//! **Tile.** `smull`/`smull2` multiply B (a 32-bit lane of bytes holding `B[k][j], B[k+1][j]`,
//! interleaved per chunk by `zip1`/`zip2`) by the broadcast pair `A[i][k], A[i][k+1]` into `i16`,
//! and `sadalp` adds each pair of products into `i32` lanes: 8 multiply-adds per instruction
//! pair, four rows at a time. (`sdot` would do 16 per instruction, but its intrinsics are
//! stable only from Rust 1.98; this workspace builds with 1.95.) All sums are exact: a product
//! fits `i16` (`|a·b| ≤ 2¹⁴`), two fit the `i32` lane, and the tile's sums fit `i32`.
#![allow(unsafe_code)]

use core::arch::aarch64::*;

use crate::membw::LANES;
use crate::prf::{BLOCK_BYTES, M0, M1, PhiloxKey, W0, W1};
use crate::tiles::TILE;

use super::{AChunk, TILE_CHUNK, chained_block};

/// Proof that this CPU runs NEON: only [`Neon::detect`] makes one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Neon(());

impl Neon {
    /// `Some` where the CPU reports NEON (every aarch64 CPU Rust targets).
    pub(super) fn detect() -> Option<Self> {
        std::arch::is_aarch64_feature_detected!("neon").then_some(Self(()))
    }

    /// See `Kernels::philox_blocks`.
    pub(super) fn philox_blocks(
        self,
        key: PhiloxKey,
        id: u32,
        first: u64,
        stride: u64,
        rounds: u32,
        out: &mut [u8],
    ) {
        // SAFETY: a `Neon` exists only where NEON was detected at run time.
        unsafe { philox_neon(key, id, first, stride, rounds, out) }
    }

    /// Adds the `16 × k` chunk `a` times `b` (`k × 16`; bytes read as `i8`) into `acc`.
    pub(super) fn tile_accumulate(
        self,
        a: &AChunk,
        b: &[u8],
        k: usize,
        acc: &mut [i32; TILE * TILE],
    ) {
        if k > TILE_CHUNK || b.len() != TILE * k {
            return;
        }
        // SAFETY: NEON was detected (the token); `a` is a whole chunk and `k ≤ TILE_CHUNK`, `b` is `16·k` bytes (checked above).
        unsafe { tile_neon(a.as_ptr(), b.as_ptr(), k, acc) }
    }

    /// [`Self::tile_accumulate`] with B as `i8`.
    pub(super) fn tile_accumulate_i8(
        self,
        a: &AChunk,
        b: &[i8],
        k: usize,
        acc: &mut [i32; TILE * TILE],
    ) {
        if k > TILE_CHUNK || b.len() != TILE * k {
            return;
        }
        // SAFETY: as in `tile_accumulate`; `i8` and `u8` have the same size and layout.
        unsafe { tile_neon(a.as_ptr(), b.as_ptr().cast(), k, acc) }
    }

    /// Absorbs `group`'s whole 128-byte lines into the fold's lane states.
    pub(super) fn fold_absorb(self, a: &mut [u32; LANES], c: &mut [u32; LANES], group: &[u8]) {
        // SAFETY: NEON was detected (the token).
        unsafe { fold_neon(a, c, group) }
    }

    /// A tight `smull` + `sadalp` loop: (multiply-adds done, a value depending on all of them).
    pub(super) fn multiply_add_peak(self, iterations: u64) -> (u64, u64) {
        // SAFETY: NEON was detected (the token).
        unsafe { peak_neon(iterations) }
    }
}

#[inline]
#[target_feature(enable = "neon")]
fn load_u32x4(words: &[u32; 4]) -> uint32x4_t {
    // SAFETY: `words` is 16 readable bytes; `ld1` has no alignment requirement beyond `u32`'s.
    unsafe { vld1q_u32(words.as_ptr()) }
}

#[inline]
#[target_feature(enable = "neon")]
fn store_u32x4(words: &mut [u32; 4], v: uint32x4_t) {
    // SAFETY: `words` is 16 writable bytes.
    unsafe { vst1q_u32(words.as_mut_ptr(), v) }
}

#[inline]
#[target_feature(enable = "neon")]
fn load_u8x16(bytes: &[u8; 16]) -> uint8x16_t {
    // SAFETY: `bytes` is 16 readable bytes.
    unsafe { vld1q_u8(bytes.as_ptr()) }
}

#[inline]
#[target_feature(enable = "neon")]
fn store_u8x16(bytes: &mut [u8; 16], v: uint8x16_t) {
    // SAFETY: `bytes` is 16 writable bytes.
    unsafe { vst1q_u8(bytes.as_mut_ptr(), v) }
}

// ---------------------------------------------------------------------------------------------
// Philox: 4 blocks per vector (lane j = block j), `G` vectors in flight.

/// `(hi, lo)` words of `x · m` for the 4 lanes.
#[inline]
#[target_feature(enable = "neon")]
fn mulhilo(x: uint32x4_t, m: uint32x2_t, m4: uint32x4_t) -> (uint32x4_t, uint32x4_t) {
    let p01 = vreinterpretq_u32_u64(vmull_u32(vget_low_u32(x), m));
    let p23 = vreinterpretq_u32_u64(vmull_high_u32(x, m4));
    (vuzp2q_u32(p01, p23), vuzp1q_u32(p01, p23))
}

/// One Philox round on `G` vectors of 4 blocks.
#[inline]
#[target_feature(enable = "neon")]
fn round<const G: usize>(x: &mut [[uint32x4_t; 4]; G], k0: u32, k1: u32) {
    let (m0, m1) = (vdup_n_u32(M0), vdup_n_u32(M1));
    let (m0q, m1q) = (vdupq_n_u32(M0), vdupq_n_u32(M1));
    let (k0v, k1v) = (vdupq_n_u32(k0), vdupq_n_u32(k1));
    for v in x.iter_mut() {
        let (hi0, lo0) = mulhilo(v[0], m0, m0q);
        let (hi1, lo1) = mulhilo(v[2], m1, m1q);
        *v = [
            veorq_u32(veorq_u32(hi1, v[1]), k0v),
            lo1,
            veorq_u32(veorq_u32(hi0, v[3]), k1v),
            lo0,
        ];
    }
}

/// Ten Philox rounds, written out (a loop over the rounds can make the compiler shuffle
/// registers between iterations).
#[inline]
#[target_feature(enable = "neon")]
fn philox10<const G: usize>(x: &mut [[uint32x4_t; 4]; G], key: PhiloxKey) {
    let k = |r: u32| {
        (
            key[0].wrapping_add(W0.wrapping_mul(r)),
            key[1].wrapping_add(W1.wrapping_mul(r)),
        )
    };
    let ((a0, b0), (a1, b1), (a2, b2), (a3, b3), (a4, b4)) = (k(0), k(1), k(2), k(3), k(4));
    let ((a5, b5), (a6, b6), (a7, b7), (a8, b8), (a9, b9)) = (k(5), k(6), k(7), k(8), k(9));
    round(x, a0, b0);
    round(x, a1, b1);
    round(x, a2, b2);
    round(x, a3, b3);
    round(x, a4, b4);
    round(x, a5, b5);
    round(x, a6, b6);
    round(x, a7, b7);
    round(x, a8, b8);
    round(x, a9, b9);
}

#[inline]
#[target_feature(enable = "neon")]
fn philox_steps<const G: usize>(
    key: PhiloxKey,
    id: u32,
    mut counter: u64,
    stride: u64,
    rounds: u32,
    out: &mut [u8],
) -> (usize, u64) {
    let step = G * 4 * BLOCK_BYTES;
    let mut done = 0;
    for chunk in out.chunks_exact_mut(step) {
        let mut x = [[vdupq_n_u32(0); 4]; G];
        for (g, v) in x.iter_mut().enumerate() {
            let mut lo = [0u32; 4];
            let mut hi = [0u32; 4];
            for j in 0..4 {
                let c = counter.wrapping_add(stride.wrapping_mul((4 * g + j) as u64));
                lo[j] = c as u32;
                hi[j] = (c >> 32) as u32;
            }
            *v = [
                load_u32x4(&lo),
                load_u32x4(&hi),
                vdupq_n_u32(id),
                vdupq_n_u32(0),
            ];
        }
        for _ in 0..=rounds {
            philox10(&mut x, key);
        }
        for (v, dst) in x.iter().zip(chunk.chunks_exact_mut(4 * BLOCK_BYTES)) {
            if dst.len() == 4 * BLOCK_BYTES {
                // SAFETY: `dst` is 64 writable bytes; `st4` writes exactly 64 (4 × 4 words,
                // interleaved: word w of block j at byte 16j + 4w, little-endian as aarch64 is).
                unsafe {
                    vst4q_u32(
                        dst.as_mut_ptr().cast(),
                        uint32x4x4_t(v[0], v[1], v[2], v[3]),
                    )
                }
            }
        }
        counter = counter.wrapping_add(stride.wrapping_mul(4 * G as u64));
        done += step;
    }
    (done, counter)
}

#[target_feature(enable = "neon")]
fn philox_neon(key: PhiloxKey, id: u32, first: u64, stride: u64, rounds: u32, out: &mut [u8]) {
    let (done, counter) = philox_steps::<4>(key, id, first, stride, rounds, out);
    let rest = out.get_mut(done..).unwrap_or_default();
    let (done, mut counter) = philox_steps::<1>(key, id, counter, stride, rounds, rest);
    let rest = rest.get_mut(done..).unwrap_or_default();
    for dst in rest.chunks_exact_mut(BLOCK_BYTES) {
        dst.copy_from_slice(&chained_block(key, id, counter, rounds));
        counter = counter.wrapping_add(stride);
    }
}

// ---------------------------------------------------------------------------------------------
// Tile (`smull` + `sadalp`).

/// `k` per chunk: the interleaved B (4 KiB) stays in L1.
const CHUNK: usize = 256;

/// Adds the tile of `a` times `b` into `acc`.
///
/// # Safety
///
/// NEON must be available, `k ≤ TILE_CHUNK`, `a` must point to a whole [`AChunk`] (row `i`
/// at `i·TILE_CHUNK`) and `b` to `16·k` readable bytes.
#[target_feature(enable = "neon")]
unsafe fn tile_neon(a: *const u8, b: *const u8, k: usize, acc: &mut [i32; TILE * TILE]) {
    let k2 = k - k % 2;
    // Per pair of k: 32 bytes, lane j (16 bits) of the first half = (B[k][j], B[k+1][j]) for
    // columns 0..8, the second half columns 8..16.
    let mut pairs = [[0u8; 32]; CHUNK / 2];
    let mut c = [[vdupq_n_s32(0); 4]; TILE];
    let mut k0 = 0;
    while k0 < k2 {
        let kc = (k2 - k0).min(CHUNK);
        for (p, pair) in pairs.iter_mut().enumerate().take(kc / 2) {
            // SAFETY: rows `k0 + 2p` and `k0 + 2p + 1 < k` of `b`: 32 bytes inside its `16·k`.
            let (r0, r1) = unsafe {
                let row = b.add((k0 + 2 * p) * TILE);
                (vld1q_u8(row), vld1q_u8(row.add(TILE)))
            };
            let (lo, hi) = pair.split_at_mut(16);
            if let (Ok(lo), Ok(hi)) = (<&mut [u8; 16]>::try_from(lo), <&mut [u8; 16]>::try_from(hi))
            {
                store_u8x16(lo, vzip1q_u8(r0, r1));
                store_u8x16(hi, vzip2q_u8(r0, r1));
            }
        }
        for (rows, cr) in c.chunks_exact_mut(4).enumerate() {
            let mut acc4 = [cr[0], cr[1], cr[2], cr[3]];
            for (p, pair) in pairs.iter().enumerate().take(kc / 2) {
                let (lo, hi) = pair.split_at(16);
                let (Ok(lo), Ok(hi)) = (<&[u8; 16]>::try_from(lo), <&[u8; 16]>::try_from(hi))
                else {
                    continue;
                };
                let (b_lo, b_hi) = (
                    vreinterpretq_s8_u8(load_u8x16(lo)),
                    vreinterpretq_s8_u8(load_u8x16(hi)),
                );
                for (r, cv) in acc4.iter_mut().enumerate() {
                    let i = 4 * rows + r;
                    // SAFETY: `i < 16`, `k0 + 2p + 1 < k ≤ TILE_CHUNK`: two bytes inside row `i`.
                    let pair = unsafe {
                        a.add(i * TILE_CHUNK + k0 + 2 * p)
                            .cast::<u16>()
                            .read_unaligned()
                    };
                    let av = vreinterpretq_s8_u16(vdupq_n_u16(u16::from_le(pair)));
                    cv[0] = vpadalq_s16(cv[0], vmull_s8(vget_low_s8(b_lo), vget_low_s8(av)));
                    cv[1] = vpadalq_s16(cv[1], vmull_high_s8(b_lo, av));
                    cv[2] = vpadalq_s16(cv[2], vmull_s8(vget_low_s8(b_hi), vget_low_s8(av)));
                    cv[3] = vpadalq_s16(cv[3], vmull_high_s8(b_hi, av));
                }
            }
            cr.copy_from_slice(&acc4);
        }
        k0 += kc;
    }
    for (i, ci) in c.iter().enumerate() {
        for (q, v) in ci.iter().enumerate() {
            let mut words = [0u32; 4];
            store_u32x4(&mut words, vreinterpretq_u32_s32(*v));
            for (j, w) in words.iter().enumerate() {
                let at = &mut acc[i * TILE + 4 * q + j];
                *at = at.wrapping_add(*w as i32);
            }
        }
    }
    for kk in k2..k {
        for i in 0..TILE {
            // SAFETY: `i < 16`, `kk < k ≤ TILE_CHUNK`: inside row `i` of the chunk.
            let av = i32::from(unsafe { a.add(i * TILE_CHUNK + kk).read() } as i8);
            for j in 0..TILE {
                // SAFETY: `kk < k`, `j < 16`: inside `b`'s `16·k` bytes.
                let bv = i32::from(unsafe { b.add(kk * TILE + j).read() } as i8);
                acc[i * TILE + j] = acc[i * TILE + j].wrapping_add(av * bv);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// membw fold: 32 lanes as 8 vectors.

#[target_feature(enable = "neon")]
fn fold_neon(a: &mut [u32; LANES], c: &mut [u32; LANES], group: &[u8]) {
    let load8 = |lanes: &[u32; LANES]| -> [uint32x4_t; 8] {
        core::array::from_fn(|q| {
            let w = [
                lanes[4 * q],
                lanes[4 * q + 1],
                lanes[4 * q + 2],
                lanes[4 * q + 3],
            ];
            load_u32x4(&w)
        })
    };
    let (mut av, mut cv) = (load8(a), load8(c));
    let (ma, mc) = (vdupq_n_u32(0x9E37_79B1), vdupq_n_u32(0x85EB_CA77));
    for line in group.chunks_exact(4 * LANES) {
        for (q, word) in line.chunks_exact(16).enumerate().take(8) {
            let Ok(word) = <&[u8; 16]>::try_from(word) else {
                continue;
            };
            let w = vreinterpretq_u32_u8(load_u8x16(word));
            let mut x = vmulq_u32(veorq_u32(av[q], w), ma);
            x = veorq_u32(x, vshrq_n_u32::<15>(x));
            av[q] = x;
            let mut y = vmulq_u32(vaddq_u32(cv[q], x), mc);
            y = veorq_u32(y, vshrq_n_u32::<13>(y));
            cv[q] = y;
        }
    }
    for (vs, lanes) in [(av, &mut *a), (cv, &mut *c)] {
        for (q, v) in vs.iter().enumerate() {
            let mut w = [0u32; 4];
            store_u32x4(&mut w, *v);
            lanes[4 * q..4 * q + 4].copy_from_slice(&w);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Multiply-add peak.

/// Independent accumulator chains in the peak loop.
const CHAINS: usize = 8;

#[target_feature(enable = "neon")]
fn peak_neon(iterations: u64) -> (u64, u64) {
    let y = vdupq_n_s8(-5);
    let mut acc: [int32x4_t; CHAINS] = core::array::from_fn(|i| vdupq_n_s32(i as i32));
    for _ in 0..iterations {
        for v in acc.iter_mut() {
            // The product depends on the chain, so it is computed every time.
            *v = vpadalq_s16(*v, vmull_high_s8(vreinterpretq_s8_s32(*v), y));
        }
    }
    let mut sum = vdupq_n_s32(0);
    for v in acc {
        sum = veorq_s32(sum, v);
    }
    let mut words = [0u32; 4];
    store_u32x4(&mut words, vreinterpretq_u32_s32(sum));
    let value = words
        .iter()
        .fold(0u64, |s, w| s.wrapping_mul(31).wrapping_add(u64::from(*w)));
    (iterations * CHAINS as u64 * 8, value)
}
