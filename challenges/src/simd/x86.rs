//! x86-64 kernels: AVX2, and AVX-512 (F + BW + VNNI), chosen at run time.
//!
//! The only module of the crate (with `aarch64.rs`) allowed `unsafe`: unaligned loads and
//! stores through pointers whose bounds are established just before (each block says how),
//! and calls into `#[target_feature]` functions from the token types [`Avx2`] and [`Avx512`],
//! which only run-time detection creates. Everything else is safe `core::arch` value code.
//!
//! **Philox** keeps each of the four words of 4 (AVX2) or 8 (AVX-512) blocks in the low half of
//! a 64-bit lane, so `vpmuludq` (which reads only those halves) gives each block's full 64-bit
//! product; the high word is shifted down, the low word is already in place, and the garbage
//! left in the upper halves is never read. Four vectors are in flight to cover the multiplier's
//! latency; the words are transposed back to block order only when stored.
//!
//! **Tile, AVX-512.** `vpdpbusd` multiplies unsigned by signed bytes, four `k` per 32-bit lane:
//! lane `j` of a B vector holds `B[k..k+4][j] + 128` (four rows of the block transposed by one
//! `vpermd` and one `vpshufb`, then offset to unsigned), and row `i`'s accumulator gets the
//! broadcast `A[i][k..k+4]`. That sums `Σ A·(B + 128)`, so `128·Σ_k A[i][k]` is taken off at the
//! end (row sums by `vpdpbusd` against ones). All arithmetic wraps, and the true sum fits in
//! `i32` (`|Σ| ≤ 2³⁰` for `K ≤ 65 536`), so the result is exact.
//!
//! **Tile, AVX2.** `vpmaddwd` on `i16`: B is re-laid per chunk so that a 32-bit lane holds
//! `(B[k][j], B[k+1][j])`, A as `i16` pairs `(A[i][k], A[i][k+1])` broadcast; each instruction
//! is 16 multiply-adds, accumulated in `i32` four rows at a time.
#![allow(unsafe_code)]

use core::arch::x86_64::*;

use crate::membw::LANES;
use crate::prf::{BLOCK_BYTES, M0, M1, PhiloxKey, W0, W1};
use crate::tiles::TILE;

use super::{AChunk, TILE_CHUNK, chained_block};

/// Proof that this CPU runs AVX2: only [`Avx2::detect`] makes one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Avx2(());

/// Proof that this CPU runs AVX2 and AVX-512 F, BW and VNNI: only [`Avx512::detect`] makes one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Avx512(());

impl Avx2 {
    /// `Some` where the CPU reports AVX2.
    pub(super) fn detect() -> Option<Self> {
        std::is_x86_feature_detected!("avx2").then_some(Self(()))
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
        // SAFETY: an `Avx2` exists only where AVX2 was detected at run time.
        unsafe { philox_avx2(key, id, first, stride, rounds, out) }
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
        // SAFETY: AVX2 was detected (the token); `a` is a whole chunk and `k ≤ TILE_CHUNK`, `b` is `16·k` bytes (checked above).
        unsafe { tile_avx2(a.as_ptr(), b.as_ptr(), k, acc) }
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
        unsafe { tile_avx2(a.as_ptr(), b.as_ptr().cast(), k, acc) }
    }

    /// Absorbs `group`'s whole 128-byte lines into the fold's lane states.
    pub(super) fn fold_absorb(self, a: &mut [u32; LANES], c: &mut [u32; LANES], group: &[u8]) {
        // SAFETY: AVX2 was detected (the token).
        unsafe { fold_avx2(a, c, group) }
    }

    /// A tight `vpmaddwd` loop: (multiply-adds done, a value depending on all of them).
    pub(super) fn multiply_add_peak(self, iterations: u64) -> (u64, u64) {
        // SAFETY: AVX2 was detected (the token).
        unsafe { peak_avx2(iterations) }
    }
}

impl Avx512 {
    /// `Some` where the CPU reports AVX2 and AVX-512 F, BW and VNNI.
    pub(super) fn detect() -> Option<Self> {
        let all = std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni");
        all.then_some(Self(()))
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
        // SAFETY: an `Avx512` exists only where AVX-512 F was detected at run time.
        unsafe { philox_avx512(key, id, first, stride, rounds, out) }
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
        // SAFETY: AVX-512 F/BW/VNNI were detected (the token); `a` is a whole chunk and `k ≤ TILE_CHUNK`, `b` is `16·k` bytes.
        unsafe { tile_avx512(a.as_ptr(), b.as_ptr(), k, acc) }
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
        unsafe { tile_avx512(a.as_ptr(), b.as_ptr().cast(), k, acc) }
    }

    /// Absorbs `group`'s whole 128-byte lines into the fold's lane states.
    pub(super) fn fold_absorb(self, a: &mut [u32; LANES], c: &mut [u32; LANES], group: &[u8]) {
        // SAFETY: AVX-512 F was detected (the token).
        unsafe { fold_avx512(a, c, group) }
    }

    /// A tight `vpdpbusd` (zmm) loop: (multiply-adds done, a value depending on all of them).
    pub(super) fn multiply_add_peak(self, iterations: u64) -> (u64, u64) {
        // SAFETY: AVX-512 F and VNNI were detected (the token).
        unsafe { peak_avx512(iterations) }
    }

    /// `Kernels::tile` for `n` and `k` multiples of 16 (the caller checks): the operands
    /// generated straight into the layouts the kernel reads.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn tile_from_prf(
        self,
        key: PhiloxKey,
        a_id: u32,
        b_id: u32,
        n: u32,
        k: u32,
        tile_row: u32,
        tile_col: u32,
    ) -> [i32; TILE * TILE] {
        let shape = PrfTile {
            key,
            a_id,
            b_id,
            a_first: u64::from(tile_row) * TILE as u64 * u64::from(k) / BLOCK_BYTES as u64,
            a_row_stride: u64::from(k) / BLOCK_BYTES as u64,
            b_first: u64::from(tile_col),
            b_row_stride: u64::from(n) / BLOCK_BYTES as u64,
            k: k as usize,
        };
        // SAFETY: AVX-512 F, BW and VNNI were detected (the token).
        unsafe { tile_prf_avx512(&shape) }
    }
}

// ---------------------------------------------------------------------------------------------
// Loads and stores. Each takes a reference to exactly the bytes it touches.

#[inline]
#[target_feature(enable = "avx2")]
fn load256(bytes: &[u8; 32]) -> __m256i {
    // SAFETY: `bytes` is 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn store256(bytes: &mut [u8; 32], v: __m256i) {
    // SAFETY: `bytes` is 32 writable bytes; `storeu` has no alignment requirement.
    unsafe { _mm256_storeu_si256(bytes.as_mut_ptr().cast(), v) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn load512(bytes: &[u8; 64]) -> __m512i {
    // SAFETY: `bytes` is 64 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn store512(bytes: &mut [u8; 64], v: __m512i) {
    // SAFETY: `bytes` is 64 writable bytes; `storeu` has no alignment requirement.
    unsafe { _mm512_storeu_si512(bytes.as_mut_ptr().cast(), v) }
}

/// The fold's 32 lanes as bytes, for vector loads and stores (little-endian, as x86 is).
fn lanes_to_bytes(lanes: &[u32; LANES]) -> [u8; 4 * LANES] {
    let mut out = [0u8; 4 * LANES];
    for (dst, v) in out.chunks_exact_mut(4).zip(lanes) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
    out
}

fn bytes_to_lanes(bytes: &[u8; 4 * LANES], lanes: &mut [u32; LANES]) {
    for (v, src) in lanes.iter_mut().zip(bytes.chunks_exact(4)) {
        *v = u32::from_le_bytes([src[0], src[1], src[2], src[3]]);
    }
}

// ---------------------------------------------------------------------------------------------
// Philox, AVX2: 4 blocks per vector (one per 64-bit lane), `G` vectors in flight.

/// Round keys of the ten rounds, broadcast.
struct Keys256 {
    k0: [__m256i; 10],
    k1: [__m256i; 10],
}

#[inline]
#[target_feature(enable = "avx2")]
fn keys256(key: PhiloxKey) -> Keys256 {
    let mut k0 = [_mm256_setzero_si256(); 10];
    let mut k1 = [_mm256_setzero_si256(); 10];
    let (mut a, mut b) = (key[0], key[1]);
    for r in 0..10 {
        k0[r] = _mm256_set1_epi32(a as i32);
        k1[r] = _mm256_set1_epi32(b as i32);
        a = a.wrapping_add(W0);
        b = b.wrapping_add(W1);
    }
    Keys256 { k0, k1 }
}

/// Counters `[lo32(c), hi32(c), id, 0]` of 4 blocks `c = base + j·stride` (`offsets` =
/// `j·stride`), one per 64-bit lane.
#[inline]
#[target_feature(enable = "avx2")]
fn counters256(base: u64, offsets: __m256i, id: __m256i) -> [__m256i; 4] {
    let c = _mm256_add_epi64(_mm256_set1_epi64x(base as i64), offsets);
    [c, _mm256_srli_epi64::<32>(c), id, _mm256_setzero_si256()]
}

/// One Philox round on `G` vectors of 4 blocks.
#[inline]
#[target_feature(enable = "avx2")]
fn round256<const G: usize>(x: &mut [[__m256i; 4]; G], k0: __m256i, k1: __m256i) {
    let m0 = _mm256_set1_epi64x(i64::from(M0));
    let m1 = _mm256_set1_epi64x(i64::from(M1));
    for v in x.iter_mut() {
        let p0 = _mm256_mul_epu32(v[0], m0);
        let p1 = _mm256_mul_epu32(v[2], m1);
        let hi0 = _mm256_srli_epi64::<32>(p0);
        let hi1 = _mm256_srli_epi64::<32>(p1);
        *v = [
            _mm256_xor_si256(_mm256_xor_si256(hi1, v[1]), k0),
            p1,
            _mm256_xor_si256(_mm256_xor_si256(hi0, v[3]), k1),
            p0,
        ];
    }
}

/// Ten Philox rounds on `G` vectors of 4 blocks, written out (a loop over the rounds made the
/// compiler shuffle registers between iterations).
#[inline]
#[target_feature(enable = "avx2")]
fn philox10_256<const G: usize>(x: &mut [[__m256i; 4]; G], keys: &Keys256) {
    let (k0, k1) = (&keys.k0, &keys.k1);
    round256(x, k0[0], k1[0]);
    round256(x, k0[1], k1[1]);
    round256(x, k0[2], k1[2]);
    round256(x, k0[3], k1[3]);
    round256(x, k0[4], k1[4]);
    round256(x, k0[5], k1[5]);
    round256(x, k0[6], k1[6]);
    round256(x, k0[7], k1[7]);
    round256(x, k0[8], k1[8]);
    round256(x, k0[9], k1[9]);
}

/// Writes the 4 blocks of `x` (words in the low halves of 64-bit lanes) in block order.
#[inline]
#[target_feature(enable = "avx2")]
fn store_blocks256(x: &[__m256i; 4], dst: &mut [u8; 64]) {
    let t01 = _mm256_blend_epi32::<0b1010_1010>(x[0], _mm256_slli_epi64::<32>(x[1]));
    let t23 = _mm256_blend_epi32::<0b1010_1010>(x[2], _mm256_slli_epi64::<32>(x[3]));
    let even = _mm256_unpacklo_epi64(t01, t23); // blocks 0 | 2
    let odd = _mm256_unpackhi_epi64(t01, t23); // blocks 1 | 3
    let (lo, hi) = dst.split_at_mut(32);
    if let (Ok(lo), Ok(hi)) = (<&mut [u8; 32]>::try_from(lo), <&mut [u8; 32]>::try_from(hi)) {
        store256(lo, _mm256_permute2x128_si256::<0x20>(even, odd));
        store256(hi, _mm256_permute2x128_si256::<0x31>(even, odd));
    }
}

/// Blocks of `out` in steps of `G` vectors; returns the bytes done and the next counter.
#[inline]
#[target_feature(enable = "avx2")]
fn philox_steps256<const G: usize>(
    keys: &Keys256,
    id: u32,
    mut counter: u64,
    stride: u64,
    rounds: u32,
    out: &mut [u8],
) -> (usize, u64) {
    let step = G * 4 * BLOCK_BYTES;
    let s = stride as i64;
    let offsets = _mm256_set_epi64x(s.wrapping_mul(3), s.wrapping_mul(2), s, 0);
    let idv = _mm256_set1_epi64x(i64::from(id));
    let mut done = 0;
    for chunk in out.chunks_exact_mut(step) {
        let mut x: [[__m256i; 4]; G] = [[_mm256_setzero_si256(); 4]; G];
        for (g, v) in x.iter_mut().enumerate() {
            let base = counter.wrapping_add(stride.wrapping_mul(4 * g as u64));
            *v = counters256(base, offsets, idv);
        }
        for _ in 0..=rounds {
            philox10_256(&mut x, keys);
        }
        for (v, dst) in x.iter().zip(chunk.chunks_exact_mut(4 * BLOCK_BYTES)) {
            if let Ok(dst) = <&mut [u8; 64]>::try_from(dst) {
                store_blocks256(v, dst);
            }
        }
        counter = counter.wrapping_add(stride.wrapping_mul(4 * G as u64));
        done += step;
    }
    (done, counter)
}

#[target_feature(enable = "avx2")]
fn philox_avx2(key: PhiloxKey, id: u32, first: u64, stride: u64, rounds: u32, out: &mut [u8]) {
    let keys = keys256(key);
    let (done, counter) = philox_steps256::<3>(&keys, id, first, stride, rounds, out);
    let rest = out.get_mut(done..).unwrap_or_default();
    let (done, counter) = philox_steps256::<1>(&keys, id, counter, stride, rounds, rest);
    let rest = rest.get_mut(done..).unwrap_or_default();
    tail_blocks(key, id, counter, stride, rounds, rest);
}

/// The last blocks (fewer than a vector's) by the spec's Philox.
fn tail_blocks(
    key: PhiloxKey,
    id: u32,
    mut counter: u64,
    stride: u64,
    rounds: u32,
    out: &mut [u8],
) {
    for dst in out.chunks_exact_mut(BLOCK_BYTES) {
        dst.copy_from_slice(&chained_block(key, id, counter, rounds));
        counter = counter.wrapping_add(stride);
    }
}

// ---------------------------------------------------------------------------------------------
// Philox, AVX-512: 8 blocks per vector.

struct Keys512 {
    k0: [__m512i; 10],
    k1: [__m512i; 10],
}

#[inline]
#[target_feature(enable = "avx512f")]
fn keys512(key: PhiloxKey) -> Keys512 {
    let mut k0 = [_mm512_setzero_si512(); 10];
    let mut k1 = [_mm512_setzero_si512(); 10];
    let (mut a, mut b) = (key[0], key[1]);
    for r in 0..10 {
        k0[r] = _mm512_set1_epi32(a as i32);
        k1[r] = _mm512_set1_epi32(b as i32);
        a = a.wrapping_add(W0);
        b = b.wrapping_add(W1);
    }
    Keys512 { k0, k1 }
}

/// One Philox round on `G` vectors of 8 blocks.
#[inline]
#[target_feature(enable = "avx512f")]
fn round512<const G: usize>(x: &mut [[__m512i; 4]; G], k0: __m512i, k1: __m512i) {
    let m0 = _mm512_set1_epi64(i64::from(M0));
    let m1 = _mm512_set1_epi64(i64::from(M1));
    for v in x.iter_mut() {
        let p0 = _mm512_mul_epu32(v[0], m0);
        let p1 = _mm512_mul_epu32(v[2], m1);
        // The high words down into the low halves (`vpshufd`, off the multiplier's port).
        let hi0 = _mm512_shuffle_epi32::<_MM_PERM_DDBB>(p0);
        let hi1 = _mm512_shuffle_epi32::<_MM_PERM_DDBB>(p1);
        *v = [
            _mm512_ternarylogic_epi32::<0x96>(hi1, v[1], k0),
            p1,
            _mm512_ternarylogic_epi32::<0x96>(hi0, v[3], k1),
            p0,
        ];
    }
}

/// Ten Philox rounds on `G` vectors of 8 blocks, written out (see `philox10_256`).
#[inline]
#[target_feature(enable = "avx512f")]
fn philox10_512<const G: usize>(x: &mut [[__m512i; 4]; G], keys: &Keys512) {
    let (k0, k1) = (&keys.k0, &keys.k1);
    round512(x, k0[0], k1[0]);
    round512(x, k0[1], k1[1]);
    round512(x, k0[2], k1[2]);
    round512(x, k0[3], k1[3]);
    round512(x, k0[4], k1[4]);
    round512(x, k0[5], k1[5]);
    round512(x, k0[6], k1[6]);
    round512(x, k0[7], k1[7]);
    round512(x, k0[8], k1[8]);
    round512(x, k0[9], k1[9]);
}

#[inline]
#[target_feature(enable = "avx512f")]
fn store_blocks512(x: &[__m512i; 4], dst: &mut [u8; 128]) {
    let t01 = _mm512_mask_blend_epi32(0xAAAA, x[0], _mm512_slli_epi64::<32>(x[1]));
    let t23 = _mm512_mask_blend_epi32(0xAAAA, x[2], _mm512_slli_epi64::<32>(x[3]));
    let even = _mm512_unpacklo_epi64(t01, t23); // blocks 0 | 2 | 4 | 6
    let odd = _mm512_unpackhi_epi64(t01, t23); // blocks 1 | 3 | 5 | 7
    let first = _mm512_permutex2var_epi64(even, _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), odd);
    let second =
        _mm512_permutex2var_epi64(even, _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15), odd);
    let (lo, hi) = dst.split_at_mut(64);
    if let (Ok(lo), Ok(hi)) = (<&mut [u8; 64]>::try_from(lo), <&mut [u8; 64]>::try_from(hi)) {
        store512(lo, first);
        store512(hi, second);
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn philox_steps512<const G: usize>(
    keys: &Keys512,
    id: u32,
    mut counter: u64,
    stride: u64,
    rounds: u32,
    out: &mut [u8],
) -> (usize, u64) {
    let step = G * 8 * BLOCK_BYTES;
    let s = stride as i64;
    let o = |j: i64| s.wrapping_mul(j);
    let offsets = _mm512_setr_epi64(0, s, o(2), o(3), o(4), o(5), o(6), o(7));
    let idv = _mm512_set1_epi64(i64::from(id));
    let mut done = 0;
    for chunk in out.chunks_exact_mut(step) {
        let mut x: [[__m512i; 4]; G] = [[_mm512_setzero_si512(); 4]; G];
        for (g, v) in x.iter_mut().enumerate() {
            let base = counter.wrapping_add(stride.wrapping_mul(8 * g as u64));
            let c = _mm512_add_epi64(_mm512_set1_epi64(base as i64), offsets);
            *v = [c, _mm512_srli_epi64::<32>(c), idv, _mm512_setzero_si512()];
        }
        for _ in 0..=rounds {
            philox10_512(&mut x, keys);
        }
        for (v, dst) in x.iter().zip(chunk.chunks_exact_mut(8 * BLOCK_BYTES)) {
            if let Ok(dst) = <&mut [u8; 128]>::try_from(dst) {
                store_blocks512(v, dst);
            }
        }
        counter = counter.wrapping_add(stride.wrapping_mul(8 * G as u64));
        done += step;
    }
    (done, counter)
}

#[target_feature(enable = "avx2,avx512f")]
fn philox_avx512(key: PhiloxKey, id: u32, first: u64, stride: u64, rounds: u32, out: &mut [u8]) {
    let keys = keys512(key);
    let (done, counter) = philox_steps512::<4>(&keys, id, first, stride, rounds, out);
    let rest = out.get_mut(done..).unwrap_or_default();
    let (done, counter) = philox_steps512::<1>(&keys, id, counter, stride, rounds, rest);
    let rest = rest.get_mut(done..).unwrap_or_default();
    // Fewer than 8 blocks left: AVX2 takes 4 of them, the spec the rest.
    philox_avx2(key, id, counter, stride, rounds, rest);
}

// ---------------------------------------------------------------------------------------------
// Tile, AVX-512 VNNI.
//
// Straight from the PRF (`Avx512::tile_from_prf`, the verifier's tile check), per chunk of K:
// - A goes in *quads*: entry `q` (64 bytes) holds `A[i][4q .. 4q+4] + 128` for the 16 rows
//   `i` at byte `4i`, so every row's broadcast comes from one base with a constant offset.
//   Sixteen rows' blocks for the same `k` are one Philox vector pair (the rows' counters are
//   `K/16` apart), and `vpmovqd` packs each word of 8 rows into 8 dwords.
// - B goes in *groups* of 4 rows: 128-bit lane `w` of group `g` holds word `w` (columns
//   `4w .. 4w+4`) of rows `4g .. 4g+4`, so one `vpshufb` gives lane `j` = `B[4g..4g+4][j]`.
// - `vpdpbusd(A + 128, B)` sums `C + 128·Σ_k B[k][j]`; the column sums come from one more
//   `vpdpbusd` against ones per group and are taken off at the end (wrapping, exact).

/// Where the operands of one tile come from.
struct PrfTile {
    key: PhiloxKey,
    a_id: u32,
    b_id: u32,
    /// Philox block of `A[16·tile_row][0]`.
    a_first: u64,
    /// Blocks between two rows of A (`K/16`).
    a_row_stride: u64,
    /// Philox block of `B[0][16·tile_col]`.
    b_first: u64,
    /// Blocks between two rows of B (`N/16`).
    b_row_stride: u64,
    /// `K`, a multiple of 16.
    k: usize,
}

/// `vpshufb` mask: inside each 128-bit lane, byte `4c + r` from byte `4r + c` (a 4 × 4 byte
/// transpose: four rows' words into four columns' dwords).
#[inline]
#[target_feature(enable = "avx512f")]
fn interleave_mask() -> __m512i {
    _mm512_set4_epi32(0x0f0b_0703, 0x0e0a_0602, 0x0d09_0501, 0x0c08_0400)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn tile_prf_avx512(t: &PrfTile) -> [i32; TILE * TILE] {
    let keys = keys512(t.key);
    let mut quads = [[0u8; 64]; TILE_CHUNK / 4];
    let mut groups = [[0u8; 64]; TILE_CHUNK / 4];
    let interleave = interleave_mask();
    let ones = _mm512_set1_epi8(1);
    let mut c = [_mm512_setzero_si512(); TILE];
    let mut column_sums = _mm512_setzero_si512();
    let mut k0 = 0;
    while k0 < t.k {
        let kc = (t.k - k0).min(TILE_CHUNK);
        let (quads, groups) = (&mut quads[..kc / 4], &mut groups[..kc / 4]);
        let a_first = t.a_first.wrapping_add((k0 / BLOCK_BYTES) as u64);
        a_quads(&keys, t.a_id, a_first, t.a_row_stride, quads);
        let b_first = t
            .b_first
            .wrapping_add((k0 as u64).wrapping_mul(t.b_row_stride));
        b_groups(&keys, t.b_id, b_first, t.b_row_stride, groups);
        for (qa, qb) in quads.iter().zip(groups.iter()) {
            let bt = _mm512_shuffle_epi8(load512(qb), interleave);
            column_sums = _mm512_dpbusd_epi32(column_sums, ones, bt);
            for (i, ci) in c.iter_mut().enumerate() {
                let a =
                    i32::from_le_bytes([qa[4 * i], qa[4 * i + 1], qa[4 * i + 2], qa[4 * i + 3]]);
                *ci = _mm512_dpbusd_epi32(*ci, _mm512_set1_epi32(a), bt);
            }
        }
        k0 += kc;
    }
    let correction = _mm512_slli_epi32::<7>(column_sums);
    let mut acc = [0i32; TILE * TILE];
    for (ci, row) in c.iter().zip(acc.chunks_exact_mut(TILE)) {
        let mut out = [0u8; 64];
        store512(&mut out, _mm512_sub_epi32(*ci, correction));
        for (v, b) in row.iter_mut().zip(out.chunks_exact(4)) {
            *v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }
    acc
}

/// Philox counters of 8 blocks `first + l·stride` (lane `l`), words in 64-bit lanes.
#[inline]
#[target_feature(enable = "avx512f")]
fn counters512(first: u64, offsets: __m512i, id: __m512i) -> [__m512i; 4] {
    let c = _mm512_add_epi64(_mm512_set1_epi64(first as i64), offsets);
    [c, _mm512_srli_epi64::<32>(c), id, _mm512_setzero_si512()]
}

/// `[0, s, 2s, …, 7s]` (wrapping).
#[inline]
#[target_feature(enable = "avx512f")]
fn lane_offsets(s: u64) -> __m512i {
    let o = |j: u64| s.wrapping_mul(j) as i64;
    _mm512_setr_epi64(0, o(1), o(2), o(3), o(4), o(5), o(6), o(7))
}

/// A's quads of one chunk: for each block column `j` (16 k), the blocks of the 16 rows
/// (`first + j + i·row_stride`), word `w` of them into quad `4j + w`, offset by 128.
#[target_feature(enable = "avx512f")]
fn a_quads(keys: &Keys512, id: u32, first: u64, row_stride: u64, quads: &mut [[u8; 64]]) {
    let offsets = lane_offsets(row_stride);
    let idv = _mm512_set1_epi64(i64::from(id));
    let upper = row_stride.wrapping_mul(8);
    let offset = _mm512_set1_epi8(-128);
    let store = |x: &[__m512i; 4], y: &[__m512i; 4], out: &mut [[u8; 64]]| {
        for ((xw, yw), dst) in x.iter().zip(y).zip(out.iter_mut()) {
            let rows = _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm512_cvtepi64_epi32(*xw)),
                _mm512_cvtepi64_epi32(*yw),
            );
            store512(dst, _mm512_xor_si512(rows, offset));
        }
    };
    let mut j = 0u64;
    let mut pairs = quads.chunks_exact_mut(8);
    for out in &mut pairs {
        let (c0, c1) = (first.wrapping_add(j), first.wrapping_add(j + 1));
        let mut x = [
            counters512(c0, offsets, idv),
            counters512(c0.wrapping_add(upper), offsets, idv),
            counters512(c1, offsets, idv),
            counters512(c1.wrapping_add(upper), offsets, idv),
        ];
        philox10_512(&mut x, keys);
        let (first_half, second_half) = out.split_at_mut(4);
        store(&x[0], &x[1], first_half);
        store(&x[2], &x[3], second_half);
        j += 2;
    }
    let rest = pairs.into_remainder();
    if !rest.is_empty() {
        let c0 = first.wrapping_add(j);
        let mut x = [
            counters512(c0, offsets, idv),
            counters512(c0.wrapping_add(upper), offsets, idv),
        ];
        philox10_512(&mut x, keys);
        store(&x[0], &x[1], rest);
    }
}

/// B's groups of one chunk: rows `first + r·row_stride` (`r` < 4 · `groups.len()`), eight rows
/// per vector, each vector's words regrouped into two groups of four rows.
#[target_feature(enable = "avx512f")]
fn b_groups(keys: &Keys512, id: u32, first: u64, row_stride: u64, groups: &mut [[u8; 64]]) {
    let offsets = lane_offsets(row_stride);
    let idv = _mm512_set1_epi64(i64::from(id));
    let store = |x: &[__m512i; 4], out: &mut [[u8; 64]]| {
        let w = |i: usize| _mm512_cvtepi64_epi32(x[i]);
        let t01 = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(w(0)), w(1));
        let t23 = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(w(2)), w(3));
        if let [low, high] = out {
            store512(low, _mm512_shuffle_i64x2::<0x88>(t01, t23));
            store512(high, _mm512_shuffle_i64x2::<0xDD>(t01, t23));
        }
    };
    let mut row = first;
    let step = row_stride.wrapping_mul(8);
    let mut fours = groups.chunks_exact_mut(8);
    for out in &mut fours {
        let mut x: [[__m512i; 4]; 4] = [[_mm512_setzero_si512(); 4]; 4];
        for v in x.iter_mut() {
            *v = counters512(row, offsets, idv);
            row = row.wrapping_add(step);
        }
        philox10_512(&mut x, keys);
        for (v, out) in x.iter().zip(out.chunks_exact_mut(2)) {
            store(v, out);
        }
    }
    for out in fours.into_remainder().chunks_exact_mut(2) {
        let mut x = [counters512(row, offsets, idv)];
        row = row.wrapping_add(step);
        philox10_512(&mut x, keys);
        store(&x[0], out);
    }
}

// Tile over operands given (`tile_from_operands`, the CPU backend's GEMM): row-major chunks.

/// Adds the tile of `a` times `b` into `acc`.
///
/// # Safety
///
/// AVX-512 F, BW and VNNI must be available, `k ≤ TILE_CHUNK`, `a` must point to a whole
/// [`AChunk`] (row `i` at `i·TILE_CHUNK`) and `b` to `16·k` readable bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_avx512(a: *const u8, b: *const u8, k: usize, acc: &mut [i32; TILE * TILE]) {
    let k4 = k - k % 4;
    // Lane j of a transposed B vector: bytes B[k..k+4][j]. `vpermd` moves column group L of
    // the four rows into 128-bit lane L, `vpshufb` interleaves the four rows inside it.
    // Through `black_box`: as constants, LLVM re-derived the two shuffles as five (measured:
    // the tile ran at a third of the multiply-add peak); opaque, they stay `vpermd` + `vpshufb`.
    let gather = core::hint::black_box(_mm512_setr_epi32(
        0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
    ));
    let interleave = core::hint::black_box(_mm512_set4_epi32(
        0x0f0b_0703,
        0x0e0a_0602,
        0x0d09_0501,
        0x0c08_0400,
    ));
    let offset = _mm512_set1_epi8(-128);
    let mut c = [_mm512_setzero_si512(); TILE];
    let mut kb = 0;
    while kb < k4 {
        // SAFETY: `kb + 4 ≤ k4 ≤ k`, so the 64 bytes of B rows kb..kb+4 lie in `b`'s `16·k`.
        let rows = unsafe { _mm512_loadu_si512(b.add(kb * TILE).cast()) };
        let bt = _mm512_shuffle_epi8(_mm512_permutexvar_epi32(gather, rows), interleave);
        let bu = _mm512_xor_si512(bt, offset);
        for (i, ci) in c.iter_mut().enumerate() {
            // SAFETY: `i < 16` and `kb + 4 ≤ k ≤ TILE_CHUNK`: 4 bytes inside row `i` of the chunk.
            let word = unsafe { a.add(i * TILE_CHUNK + kb).cast::<i32>().read_unaligned() };
            *ci = _mm512_dpbusd_epi32(*ci, bu, _mm512_set1_epi32(word));
        }
        kb += 4;
    }
    // Σ_k A[i][k] over the same k, for the +128 taken off.
    let ones = _mm512_set1_epi8(1);
    for (i, ci) in c.iter().enumerate() {
        let mut sums = _mm512_setzero_si512();
        let mut kk = 0;
        while kk + 64 <= k4 {
            // SAFETY: `kk + 64 ≤ k ≤ TILE_CHUNK`: 64 bytes inside row `i` of the chunk.
            let v = unsafe { _mm512_loadu_si512(a.add(i * TILE_CHUNK + kk).cast()) };
            sums = _mm512_dpbusd_epi32(sums, ones, v);
            kk += 64;
        }
        let mut row_sum = _mm512_reduce_add_epi32(sums);
        while kk < k4 {
            // SAFETY: `kk < k4 ≤ k ≤ TILE_CHUNK`: inside row `i` of the chunk.
            let v = unsafe { a.add(i * TILE_CHUNK + kk).read() } as i8;
            row_sum = row_sum.wrapping_add(i32::from(v));
            kk += 1;
        }
        let mut out = [0u8; 64];
        store512(&mut out, *ci);
        let correction = row_sum.wrapping_mul(128);
        for (j, v) in out.chunks_exact(4).enumerate() {
            let v = i32::from_le_bytes([v[0], v[1], v[2], v[3]]);
            let at = &mut acc[i * TILE + j];
            *at = at.wrapping_add(v.wrapping_sub(correction));
        }
    }
    // SAFETY: `k4 ≤ k` and the caller's bounds on `a` and `b`.
    unsafe { tile_tail(a, b, k, k4, acc) }
}

/// Adds the products of `k` in `from..k` (the few a vector step left) by the spec's loop.
///
/// # Safety
///
/// `k ≤ TILE_CHUNK`, `a` must point to a whole [`AChunk`] and `b` to `16·k` readable bytes,
/// and `from ≤ k`.
unsafe fn tile_tail(a: *const u8, b: *const u8, k: usize, from: usize, acc: &mut [i32; 256]) {
    for kk in from..k {
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
// Tile, AVX2 (`vpmaddwd`).

/// `k` per chunk of the AVX2 tile: its `i16` operands (4 KiB each) stay in L1.
const CHUNK2: usize = 128;

/// Adds the tile of `a` times `b` into `acc`.
///
/// # Safety
///
/// AVX2 must be available, `k ≤ TILE_CHUNK`, `a` must point to a whole [`AChunk`] (row `i`
/// at `i·TILE_CHUNK`) and `b` to `16·k` readable bytes.
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2(a: *const u8, b: *const u8, k: usize, acc: &mut [i32; TILE * TILE]) {
    let k2 = k - k % 2;
    // Per chunk: A rows as i16 (pairs of k in one 32-bit word), B as i16 with each 32-bit
    // lane holding (B[k][j], B[k+1][j]): 16 columns = two vectors per pair of k.
    let mut a16 = [[0u8; 2 * CHUNK2]; TILE];
    let mut b16 = [[0u8; 64]; CHUNK2 / 2];
    let mut c = [[_mm256_setzero_si256(); 2]; TILE];
    let mut k0 = 0;
    while k0 < k2 {
        let kc = (k2 - k0).min(CHUNK2);
        for (i, row) in a16.iter_mut().enumerate() {
            for (q, dst) in row.chunks_exact_mut(32).enumerate().take(kc / 16) {
                // SAFETY: `i < 16`, `k0 + 16q + 16 ≤ k0 + kc ≤ k ≤ TILE_CHUNK`: inside row `i`.
                let v = unsafe { _mm_loadu_si128(a.add(i * TILE_CHUNK + k0 + 16 * q).cast()) };
                if let Ok(dst) = <&mut [u8; 32]>::try_from(dst) {
                    store256(dst, _mm256_cvtepi8_epi16(v));
                }
            }
            for kk in kc - kc % 16..kc {
                // SAFETY: `i < 16`, `k0 + kk < k0 + kc ≤ k ≤ TILE_CHUNK`: inside row `i`.
                let v = i16::from(unsafe { a.add(i * TILE_CHUNK + k0 + kk).read() } as i8);
                if let Some(dst) = row.get_mut(2 * kk..2 * kk + 2) {
                    dst.copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        for (p, pair) in b16.iter_mut().enumerate().take(kc / 2) {
            // SAFETY: rows `k0 + 2p` and `k0 + 2p + 1 < k` of `b`: 32 bytes inside its `16·k`.
            let rows = unsafe { _mm256_loadu_si256(b.add((k0 + 2 * p) * TILE).cast()) };
            let lo = _mm256_castsi256_si128(rows);
            let hi = _mm256_extracti128_si256::<1>(rows);
            let mixed_lo = _mm_unpacklo_epi8(lo, hi); // columns 0..8, k and k+1 alternating
            let mixed_hi = _mm_unpackhi_epi8(lo, hi); // columns 8..16
            let (first, second) = pair.split_at_mut(32);
            if let (Ok(f), Ok(s)) = (
                <&mut [u8; 32]>::try_from(first),
                <&mut [u8; 32]>::try_from(second),
            ) {
                store256(f, _mm256_cvtepi8_epi16(mixed_lo));
                store256(s, _mm256_cvtepi8_epi16(mixed_hi));
            }
        }
        for (rows_a, rows_c) in a16.chunks_exact(4).zip(c.chunks_exact_mut(4)) {
            let mut acc4 = [rows_c[0], rows_c[1], rows_c[2], rows_c[3]];
            for (p, pair) in b16.iter().enumerate().take(kc / 2) {
                let (first, second) = pair.split_at(32);
                let (Ok(f), Ok(s)) = (<&[u8; 32]>::try_from(first), <&[u8; 32]>::try_from(second))
                else {
                    continue;
                };
                let (b0, b1) = (load256(f), load256(s));
                for (r, cr) in acc4.iter_mut().enumerate() {
                    let row = &rows_a[r];
                    let pair = [row[4 * p], row[4 * p + 1], row[4 * p + 2], row[4 * p + 3]];
                    let av = _mm256_set1_epi32(i32::from_le_bytes(pair));
                    cr[0] = _mm256_add_epi32(cr[0], _mm256_madd_epi16(b0, av));
                    cr[1] = _mm256_add_epi32(cr[1], _mm256_madd_epi16(b1, av));
                }
            }
            rows_c.copy_from_slice(&acc4);
        }
        k0 += kc;
    }
    for (i, ci) in c.iter().enumerate() {
        let mut out = [0u8; 64];
        let (lo, hi) = out.split_at_mut(32);
        if let (Ok(lo), Ok(hi)) = (<&mut [u8; 32]>::try_from(lo), <&mut [u8; 32]>::try_from(hi)) {
            store256(lo, ci[0]);
            store256(hi, ci[1]);
        }
        for (j, v) in out.chunks_exact(4).enumerate() {
            let v = i32::from_le_bytes([v[0], v[1], v[2], v[3]]);
            acc[i * TILE + j] = acc[i * TILE + j].wrapping_add(v);
        }
    }
    // SAFETY: `k2 ≤ k` and the caller's bounds on `a` and `b`.
    unsafe { tile_tail(a, b, k, k2, acc) }
}

// ---------------------------------------------------------------------------------------------
// membw fold: the 32 lanes as 4 (AVX2) or 2 (AVX-512) vectors.

#[target_feature(enable = "avx2")]
fn fold_avx2(a: &mut [u32; LANES], c: &mut [u32; LANES], group: &[u8]) {
    let (ab, cb) = (lanes_to_bytes(a), lanes_to_bytes(c));
    let load4 = |bytes: &[u8; 128]| -> [__m256i; 4] {
        core::array::from_fn(|q| {
            let part = bytes.get(32 * q..32 * q + 32).unwrap_or(&[0; 32]);
            load256(<&[u8; 32]>::try_from(part).unwrap_or(&[0; 32]))
        })
    };
    let (mut av, mut cv) = (load4(&ab), load4(&cb));
    let (ma, mc) = (
        _mm256_set1_epi32(0x9E37_79B1_u32 as i32),
        _mm256_set1_epi32(0x85EB_CA77_u32 as i32),
    );
    for line in group.chunks_exact(4 * LANES) {
        let Ok(line) = <&[u8; 128]>::try_from(line) else {
            continue;
        };
        let w = load4(line);
        for q in 0..4 {
            let mut x = _mm256_mullo_epi32(_mm256_xor_si256(av[q], w[q]), ma);
            x = _mm256_xor_si256(x, _mm256_srli_epi32::<15>(x));
            av[q] = x;
            let mut y = _mm256_mullo_epi32(_mm256_add_epi32(cv[q], x), mc);
            y = _mm256_xor_si256(y, _mm256_srli_epi32::<13>(y));
            cv[q] = y;
        }
    }
    let mut out = [0u8; 128];
    for (half, lanes) in [(av, &mut *a), (cv, &mut *c)] {
        for (q, dst) in out.chunks_exact_mut(32).enumerate() {
            if let Ok(dst) = <&mut [u8; 32]>::try_from(dst) {
                store256(dst, half[q]);
            }
        }
        bytes_to_lanes(&out, lanes);
    }
}

#[target_feature(enable = "avx512f")]
fn fold_avx512(a: &mut [u32; LANES], c: &mut [u32; LANES], group: &[u8]) {
    let (ab, cb) = (lanes_to_bytes(a), lanes_to_bytes(c));
    let load2 = |bytes: &[u8; 128]| -> [__m512i; 2] {
        core::array::from_fn(|q| {
            let part = bytes.get(64 * q..64 * q + 64).unwrap_or(&[0; 64]);
            load512(<&[u8; 64]>::try_from(part).unwrap_or(&[0; 64]))
        })
    };
    let (mut av, mut cv) = (load2(&ab), load2(&cb));
    let (ma, mc) = (
        _mm512_set1_epi32(0x9E37_79B1_u32 as i32),
        _mm512_set1_epi32(0x85EB_CA77_u32 as i32),
    );
    for line in group.chunks_exact(4 * LANES) {
        let Ok(line) = <&[u8; 128]>::try_from(line) else {
            continue;
        };
        let w = load2(line);
        for q in 0..2 {
            let mut x = _mm512_mullo_epi32(_mm512_xor_si512(av[q], w[q]), ma);
            x = _mm512_xor_si512(x, _mm512_srli_epi32::<15>(x));
            av[q] = x;
            let mut y = _mm512_mullo_epi32(_mm512_add_epi32(cv[q], x), mc);
            y = _mm512_xor_si512(y, _mm512_srli_epi32::<13>(y));
            cv[q] = y;
        }
    }
    let mut out = [0u8; 128];
    for (half, lanes) in [(av, &mut *a), (cv, &mut *c)] {
        for (q, dst) in out.chunks_exact_mut(64).enumerate() {
            if let Ok(dst) = <&mut [u8; 64]>::try_from(dst) {
                store512(dst, half[q]);
            }
        }
        bytes_to_lanes(&out, lanes);
    }
}

// ---------------------------------------------------------------------------------------------
// Multiply-add peaks: independent accumulators, enough to cover the instruction's latency.

/// Independent accumulator chains in the peak loops.
const CHAINS: usize = 12;

#[target_feature(enable = "avx2")]
fn peak_avx2(iterations: u64) -> (u64, u64) {
    let b = _mm256_set1_epi16(3);
    let mut acc: [__m256i; CHAINS] = core::array::from_fn(|i| _mm256_set1_epi32(i as i32));
    for _ in 0..iterations {
        for v in acc.iter_mut() {
            *v = _mm256_madd_epi16(*v, b);
        }
    }
    let mut sum = _mm256_setzero_si256();
    for v in acc {
        sum = _mm256_xor_si256(sum, v);
    }
    let mut out = [0u8; 32];
    store256(&mut out, sum);
    let value = out
        .iter()
        .fold(0u64, |s, x| s.wrapping_mul(31).wrapping_add(u64::from(*x)));
    (iterations * CHAINS as u64 * 16, value)
}

#[target_feature(enable = "avx512f,avx512vnni")]
fn peak_avx512(iterations: u64) -> (u64, u64) {
    let a = _mm512_set1_epi8(3);
    let b = _mm512_set1_epi8(-5);
    let mut acc: [__m512i; CHAINS] = core::array::from_fn(|i| _mm512_set1_epi32(i as i32));
    for _ in 0..iterations {
        for v in acc.iter_mut() {
            *v = _mm512_dpbusd_epi32(*v, a, b);
        }
    }
    let mut sum = _mm512_setzero_si512();
    for v in acc {
        sum = _mm512_xor_si512(sum, v);
    }
    let mut out = [0u8; 64];
    store512(&mut out, sum);
    let value = out
        .iter()
        .fold(0u64, |s, x| s.wrapping_mul(31).wrapping_add(u64::from(*x)));
    (iterations * CHAINS as u64 * 64, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::portable_accumulate;
    use alloc::vec::Vec;

    #[test]
    fn tails_match_the_portable_loop() {
        // `tile_tail` alone (k = 3, from 0) against the spec's loop over bytes.
        let mut a: AChunk = [0; TILE * TILE_CHUNK];
        for (i, v) in a.iter_mut().enumerate() {
            *v = (i as u32 * 37 + 5) as u8;
        }
        let b: Vec<u8> = (0..48u32).map(|i| (i * 91 + 200) as u8).collect();
        let mut fast = [0i32; 256];
        let mut spec = [0i32; 256];
        // SAFETY: `a` is a whole chunk, `b` is 16·3 bytes, 3 ≤ TILE_CHUNK, 0 ≤ 3.
        unsafe { tile_tail(a.as_ptr(), b.as_ptr(), 3, 0, &mut fast) };
        portable_accumulate(&a, &b, 3, &mut spec);
        assert_eq!(fast, spec);
    }
}
