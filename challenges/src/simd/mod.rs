//! SIMD kernels for the verifier's hot paths, bit-identical to the spec functions.
//!
//! Checking an opened leaf costs the verifier's CPU (docs/design.md §Verifier cost): a `matmul-i8`
//! tile is `16·16·K` multiply-adds over operands that are themselves `2·16·K/16` Philox blocks,
//! and a `membw` sample regenerates two groups, `(g/16)·(R+1)` chained Philox calls each. The
//! CPU backend runs the same operations over whole buffers. [`Kernels`] does them with the
//! widest instructions this CPU has, chosen at run time:
//!
//! | [`Isa`] | needs | Philox | tile |
//! |---|---|---|---|
//! | [`Isa::Avx512`] | AVX-512 F + BW + VNNI (and AVX2) | 8 blocks per `vpmuludq` pair, 4 vectors in flight | `vpdpbusd`: 64 multiply-adds per instruction; from the PRF, A and B are generated straight into the layouts it reads |
//! | [`Isa::Avx2`] | AVX2 | 4 blocks per `vpmuludq` pair, 3 vectors in flight | `vpmaddwd`: 16 per instruction, B interleaved by pairs of `k` |
//! | [`Isa::Neon`] | aarch64 (NEON is baseline) | 4 blocks per `umull`/`umull2` pair, 4 vectors in flight | `smull` + `sadalp`: 8 per instruction pair (`sdot`'s intrinsics are stable only from Rust 1.98) |
//! | [`Isa::Portable`] | nothing | the spec functions themselves | the spec functions themselves |
//!
//! **The portable path is the spec.** `Kernels::portable()` calls [`crate::prf`],
//! [`crate::matmul`] and [`crate::membw`] and nothing else; every other path must give the same
//! bytes for every input, which the crate's tests check against it and against the checked-in
//! vectors on random shapes (K from 16 to 65 536, unaligned starts and lengths). Inputs a SIMD
//! kernel has no fast path for (a `K` that is not a multiple of 16, an `N` that is not, a
//! partial Philox block at either end of a fill) go to the portable code for that part.
//!
//! **Cost.** Philox dominates: on AVX-512 a round is two multiplies, two shuffles and two
//! three-way XORs per 8 blocks (60 instructions per 8 blocks), while a tile's multiply-adds are
//! 2 `vpdpbusd` per Philox block of its operands. `benches/README.md` has the figures.
//!
//! **Detection.** Only with the `std` feature (`std::is_x86_feature_detected!`); without it —
//! the wasm guest modules, which link this crate — only the portable path exists, and the
//! modules' code is unchanged by this module (they call none of it).
//!
//! **Why `core::arch` and not a safe SIMD crate.** The kernels need `vpmuludq` (32 × 32 → 64
//! multiplies), `vpdpbusd`, `vpmaddwd`, `vpermd`/`vpshufb` transposes and NEON's `umull`/`smull`
//! under *run-time* detection on stable Rust 1.95: `std::simd` is nightly-only, and `wide` and
//! `safe_arch` pick instructions at compile time (a binary built for baseline x86-64 would get
//! none of them). On this toolchain the value intrinsics are safe to call inside a
//! `#[target_feature]` function, so the `unsafe` that remains is small and confined to one module
//! per architecture (`x86.rs`, `aarch64.rs`, each with `#![allow(unsafe_code)]` and a
//! `// SAFETY:` line on every block): unaligned loads and stores through pointers whose bounds are
//! checked just before, and the calls into `#[target_feature]` functions, each guarded by a
//! token type that only run-time detection can create. The rest of the crate still denies
//! `unsafe_code`.
//!
//! ```
//! use challenges::{matmul, prf, simd::Kernels};
//! let key = prf::key(&[7; 32], matmul::STREAM);
//! let fast = Kernels::best(); // AVX-512, AVX2, NEON or portable, whatever this CPU has
//! let tile = fast.tile(key, 0, 1, 64, 256, 2, 3);
//! let a = matmul::a_rows_of(key, 0, 256, 2);
//! let b = matmul::b_block_of(key, 1, 64, 256, 3);
//! assert_eq!(tile, matmul::tile_from_operands(&a, &b, 256).unwrap());
//! ```

#[cfg(all(feature = "std", target_arch = "aarch64"))]
mod aarch64;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod x86;

use alloc::{vec, vec::Vec};

use crate::SpecError;
use crate::matmul;
use crate::membw::{self, MembwParams, Permutation};
use crate::prf::{self, BLOCK_BYTES, PhiloxKey};
use crate::tiles::TILE;

/// An instruction set a kernel can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// The spec functions: any CPU, and the only one without the `std` feature.
    Portable,
    /// x86-64 with AVX2.
    Avx2,
    /// x86-64 with AVX-512 F, BW and VNNI (and AVX2).
    Avx512,
    /// aarch64 NEON.
    Neon,
}

impl Isa {
    /// Every instruction set, widest first within each architecture.
    pub const ALL: [Isa; 4] = [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Portable];

    /// Its short name (`avx512`, `avx2`, `neon`, `portable`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// Whether this CPU runs it (checked at run time; always `false` for the SIMD sets without
    /// the `std` feature, always `true` for [`Isa::Portable`]).
    pub fn is_available(self) -> bool {
        Kernels::new(self).is_some()
    }

    /// The instruction sets this CPU runs, widest first (the last is [`Isa::Portable`]).
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
    }
}

impl core::fmt::Display for Isa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which implementation runs: the portable spec, or an architecture's kernels together with
/// the proof (a token only run-time detection makes) that this CPU has them.
#[derive(Debug, Clone, Copy)]
enum Imp {
    Portable,
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    Avx2(x86::Avx2),
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    Avx512(x86::Avx512),
    #[cfg(all(feature = "std", target_arch = "aarch64"))]
    Neon(aarch64::Neon),
}

/// The verifier's hot paths on one instruction set. Every method gives exactly the bytes of the
/// spec function it names, on every [`Isa`].
#[derive(Debug, Clone, Copy)]
pub struct Kernels {
    imp: Imp,
}

/// Elements of `K` per chunk of a tile: the chunk's A rows and B block (8 KiB each) stay in the
/// L1 cache between their generation (or copy) and their multiply-adds.
pub(crate) const TILE_CHUNK: usize = 512;

/// One chunk of 16 A rows, row `i` at `TILE_CHUNK · i` whatever the chunk's length: a fixed
/// stride lets the kernels address every row from one pointer (rows of a long A, `K` bytes
/// apart, would also alias in the cache).
pub(crate) type AChunk = [u8; TILE * TILE_CHUNK];

impl Kernels {
    /// The kernels of `isa`, or `None` where this CPU (or this build: no `std`, another
    /// architecture) does not run it.
    pub fn new(isa: Isa) -> Option<Self> {
        let imp = match isa {
            Isa::Portable => Some(Imp::Portable),
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Isa::Avx2 => x86::Avx2::detect().map(Imp::Avx2),
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Isa::Avx512 => x86::Avx512::detect().map(Imp::Avx512),
            #[cfg(all(feature = "std", target_arch = "aarch64"))]
            Isa::Neon => aarch64::Neon::detect().map(Imp::Neon),
            #[allow(unreachable_patterns)]
            _ => None,
        };
        imp.map(|imp| Self { imp })
    }

    /// The widest kernels this CPU runs (the portable spec where it has none).
    pub fn best() -> Self {
        Isa::ALL
            .into_iter()
            .find_map(Self::new)
            .unwrap_or(Self::portable())
    }

    /// The portable spec functions.
    pub fn portable() -> Self {
        Self { imp: Imp::Portable }
    }

    /// The instruction set these kernels use.
    pub fn isa(&self) -> Isa {
        match self.imp {
            Imp::Portable => Isa::Portable,
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Imp::Avx2(_) => Isa::Avx2,
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Imp::Avx512(_) => Isa::Avx512,
            #[cfg(all(feature = "std", target_arch = "aarch64"))]
            Imp::Neon(_) => Isa::Neon,
        }
    }

    /// Writes whole blocks of Philox output: block `j` of `out` (bytes `16j .. 16j + 16`) is
    /// `x_{rounds}` where `x_0 = philox4x32_10(key, [lo32(c_j), hi32(c_j), tensor_id, 0])`,
    /// `x_{r+1} = philox4x32_10(key, x_r)` and `c_j = first + j·stride` (wrapping). A tail of
    /// `out` shorter than a block is left as it is.
    ///
    /// With `rounds = 0` and `stride = 1` this is [`prf::tensor_block`] of consecutive blocks;
    /// with `tensor_id = membw::FILL_ID` and `stride = 1`, [`membw::fill_blocks`].
    pub fn philox_blocks(
        &self,
        key: PhiloxKey,
        tensor_id: u32,
        first: u64,
        stride: u64,
        rounds: u32,
        out: &mut [u8],
    ) {
        match self.imp {
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Imp::Avx2(t) => t.philox_blocks(key, tensor_id, first, stride, rounds, out),
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Imp::Avx512(t) => t.philox_blocks(key, tensor_id, first, stride, rounds, out),
            #[cfg(all(feature = "std", target_arch = "aarch64"))]
            Imp::Neon(t) => t.philox_blocks(key, tensor_id, first, stride, rounds, out),
            Imp::Portable => portable_blocks(key, tensor_id, first, stride, rounds, out),
        }
    }

    /// [`prf::fill_tensor`]: elements `start .. start + out.len()` of tensor `tensor_id`.
    pub fn fill_tensor(&self, key: PhiloxKey, tensor_id: u32, start: u64, out: &mut [u8]) {
        if matches!(self.imp, Imp::Portable) {
            return prf::fill_tensor(key, tensor_id, start, out);
        }
        // A partial first block, whole blocks, a partial last block.
        let skip = (start % BLOCK_BYTES as u64) as usize;
        let head_len = if skip == 0 {
            0
        } else {
            (BLOCK_BYTES - skip).min(out.len())
        };
        let (head, rest) = out.split_at_mut(head_len);
        prf::fill_tensor(key, tensor_id, start, head);
        let middle_start = start + head_len as u64;
        let whole = rest.len() - rest.len() % BLOCK_BYTES;
        let (middle, tail) = rest.split_at_mut(whole);
        self.philox_blocks(
            key,
            tensor_id,
            middle_start / BLOCK_BYTES as u64,
            1,
            0,
            middle,
        );
        prf::fill_tensor(key, tensor_id, middle_start + whole as u64, tail);
    }

    /// [`matmul::a_rows_of`]: rows `16·tile_row ..+16` of a tensor with rows of `k` elements.
    pub fn a_rows(&self, key: PhiloxKey, tensor_id: u32, k: u32, tile_row: u32) -> Vec<i8> {
        let mut bytes = vec![0u8; TILE * k as usize];
        let start = u64::from(tile_row) * TILE as u64 * u64::from(k);
        self.fill_tensor(key, tensor_id, start, &mut bytes);
        bytes.into_iter().map(|b| b as i8).collect()
    }

    /// [`matmul::b_block_of`]: columns `16·tile_col ..+16` of a `k × n` tensor as a row-major
    /// `k × 16` block.
    pub fn b_block(
        &self,
        key: PhiloxKey,
        tensor_id: u32,
        n: u32,
        k: u32,
        tile_col: u32,
    ) -> Vec<i8> {
        if matches!(self.imp, Imp::Portable) || !n.is_multiple_of(TILE as u32) {
            return matmul::b_block_of(key, tensor_id, n, k, tile_col);
        }
        let mut bytes = vec![0u8; TILE * k as usize];
        let stride = u64::from(n) / TILE as u64;
        self.philox_blocks(key, tensor_id, u64::from(tile_col), stride, 0, &mut bytes);
        bytes.into_iter().map(|b| b as i8).collect()
    }

    /// [`matmul::tile_from_operands`]: the 16 × 16 tile of `a_rows` (`16 × k`, row-major) times
    /// `b_block` (`k × 16`, row-major), row-major. Fails if the slices are not `16·k` long.
    pub fn tile_from_operands(
        &self,
        a_rows: &[i8],
        b_block: &[i8],
        k: usize,
    ) -> Result<[i32; TILE * TILE], SpecError> {
        let need = TILE * k;
        if a_rows.len() != need || b_block.len() != need {
            return matmul::tile_from_operands(a_rows, b_block, k);
        }
        if matches!(self.imp, Imp::Portable) {
            return matmul::tile_from_operands(a_rows, b_block, k);
        }
        let mut acc = [0i32; TILE * TILE];
        let mut chunk: AChunk = [0; TILE * TILE_CHUNK];
        let mut k0 = 0;
        while k0 < k {
            let kc = (k - k0).min(TILE_CHUNK);
            copy_rows(a_rows, k, k0, kc, &mut chunk);
            let b = b_block.get(TILE * k0..TILE * (k0 + kc)).unwrap_or(&[]);
            self.accumulate(&chunk, Operand::I8(b), kc, &mut acc);
            k0 += kc;
        }
        Ok(acc)
    }

    /// Adds the `16 × k` chunk `a` (bytes read as `i8`, see [`AChunk`]) times `b` (`k × 16`)
    /// into `acc` (row-major, wrapping). Nothing is added unless `k ≤ TILE_CHUNK` and `b` is
    /// `16·k` long.
    fn accumulate(&self, a: &AChunk, b: Operand<'_>, k: usize, acc: &mut [i32; TILE * TILE]) {
        match (self.imp, b) {
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            (Imp::Avx2(t), Operand::U8(b)) => t.tile_accumulate(a, b, k, acc),
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            (Imp::Avx2(t), Operand::I8(b)) => t.tile_accumulate_i8(a, b, k, acc),
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            (Imp::Avx512(t), Operand::U8(b)) => t.tile_accumulate(a, b, k, acc),
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            (Imp::Avx512(t), Operand::I8(b)) => t.tile_accumulate_i8(a, b, k, acc),
            #[cfg(all(feature = "std", target_arch = "aarch64"))]
            (Imp::Neon(t), Operand::U8(b)) => t.tile_accumulate(a, b, k, acc),
            #[cfg(all(feature = "std", target_arch = "aarch64"))]
            (Imp::Neon(t), Operand::I8(b)) => t.tile_accumulate_i8(a, b, k, acc),
            (Imp::Portable, Operand::U8(b)) => portable_accumulate(a, b, k, acc),
            (Imp::Portable, Operand::I8(b)) => {
                let b: Vec<u8> = b.iter().map(|v| *v as u8).collect();
                portable_accumulate(a, &b, k, acc);
            }
        }
    }

    /// One tile of a product straight from the PRF: rows `16·tile_row ..+16` of tensor `a_id`
    /// (`· × k`) times columns `16·tile_col ..+16` of tensor `b_id` (`k × n`). Equal to
    /// `matmul::tile_from_operands(&a_rows_of(..), &b_block_of(..), k)`; the fast paths generate
    /// and multiply `K` in chunks that stay in the L1 cache. What the host import `tile_i8`
    /// computes for a module's `check`.
    #[allow(clippy::too_many_arguments)]
    pub fn tile(
        &self,
        key: PhiloxKey,
        a_id: u32,
        b_id: u32,
        n: u32,
        k: u32,
        tile_row: u32,
        tile_col: u32,
    ) -> [i32; TILE * TILE] {
        let spec = || {
            let a = matmul::a_rows_of(key, a_id, k, tile_row);
            let b = matmul::b_block_of(key, b_id, n, k, tile_col);
            matmul::tile_from_operands(&a, &b, k as usize).unwrap_or([0; TILE * TILE])
        };
        if matches!(self.imp, Imp::Portable)
            || !n.is_multiple_of(TILE as u32)
            || !k.is_multiple_of(TILE as u32)
        {
            return spec();
        }
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if let Imp::Avx512(t) = self.imp {
            return t.tile_from_prf(key, a_id, b_id, n, k, tile_row, tile_col);
        }
        let (k, row0) = (u64::from(k), u64::from(tile_row) * TILE as u64);
        let b_stride = u64::from(n) / TILE as u64;
        let mut a: AChunk = [0; TILE * TILE_CHUNK];
        let mut b = [0u8; TILE_CHUNK * TILE];
        let mut acc = [0i32; TILE * TILE];
        let mut k0 = 0u64;
        while k0 < k {
            let kc = (k - k0).min(TILE_CHUNK as u64) as usize;
            for (i, row) in a.chunks_exact_mut(TILE_CHUNK).enumerate() {
                let first = ((row0 + i as u64) * k + k0) / BLOCK_BYTES as u64;
                self.philox_blocks(key, a_id, first, 1, 0, &mut row[..kc]);
            }
            let b = &mut b[..TILE * kc];
            let first = k0 * b_stride + u64::from(tile_col);
            self.philox_blocks(key, b_id, first, b_stride, 0, b);
            self.accumulate(&a, Operand::U8(b), kc, &mut acc);
            k0 += kc as u64;
        }
        acc
    }

    /// The CPU backend's GEMM of one 16-row band, tile-major: `a_band` is `16 × k` bytes
    /// (`i8`), `b_packed` is B re-laid by [`pack_b`] (`n/16` blocks of `k × 16`), `out` is the
    /// band's `n/16` tiles (1 KiB each, row-major, `i32` LE). Equal to computing every tile with
    /// [`matmul::tile_from_operands`]. Fails if a length does not match.
    pub fn gemm_band(
        &self,
        a_band: &[u8],
        b_packed: &[u8],
        n: usize,
        k: usize,
        out: &mut [u8],
    ) -> Result<(), SpecError> {
        let tiles = n / TILE;
        let size = |what, expected: usize, got: usize| SpecError::BufferSize {
            what,
            expected: expected as u64,
            got: got as u64,
        };
        if a_band.len() != TILE * k {
            return Err(size("A band", TILE * k, a_band.len()));
        }
        if b_packed.len() != tiles * TILE * k || !n.is_multiple_of(TILE) {
            return Err(size("packed B", tiles * TILE * k, b_packed.len()));
        }
        if out.len() != tiles * TILE * TILE * 4 {
            return Err(size("band tiles", tiles * TILE * TILE * 4, out.len()));
        }
        if k == 0 {
            out.fill(0);
            return Ok(());
        }
        // Each chunk of the band's A rows is copied together once (rows of a long A are far
        // apart, and the same 4 KiB-aliased cache sets would thrash) and multiplied by every
        // column block's rows of that chunk.
        let mut accs = vec![[0i32; TILE * TILE]; tiles];
        let mut chunk: AChunk = [0; TILE * TILE_CHUNK];
        let mut k0 = 0;
        while k0 < k {
            let kc = (k - k0).min(TILE_CHUNK);
            copy_rows(a_band, k, k0, kc, &mut chunk);
            for (acc, block) in accs.iter_mut().zip(b_packed.chunks_exact(TILE * k)) {
                let b = block.get(TILE * k0..TILE * (k0 + kc)).unwrap_or(&[]);
                self.accumulate(&chunk, Operand::U8(b), kc, acc);
            }
            k0 += kc;
        }
        for (acc, tile_out) in accs.iter().zip(out.chunks_exact_mut(TILE * TILE * 4)) {
            for (dst, v) in tile_out.chunks_exact_mut(4).zip(acc) {
                dst.copy_from_slice(&v.to_le_bytes());
            }
        }
        Ok(())
    }

    /// [`membw::fill_blocks`]: fill blocks `first, first + 1, …` (`R` = `rounds`) into `out`; a
    /// tail shorter than a block is left as it is.
    pub fn membw_fill_blocks(&self, key: PhiloxKey, rounds: u32, first: u64, out: &mut [u8]) {
        if matches!(self.imp, Imp::Portable) {
            return membw::fill_blocks(key, rounds, first, out);
        }
        self.philox_blocks(key, membw::FILL_ID, first, 1, rounds, out);
    }

    /// [`membw::fold`]: the fold of pass `pass` for group `b` over `group_b` then `group_pi`.
    pub fn fold(
        &self,
        pass: u32,
        b: u64,
        group_b: &[u8],
        group_pi: &[u8],
    ) -> Result<u64, SpecError> {
        membw::check_fold_groups(group_b, group_pi)?;
        let (mut a, mut c) = membw::fold_start(pass, b);
        for group in [group_b, group_pi] {
            match self.imp {
                #[cfg(all(feature = "std", target_arch = "x86_64"))]
                Imp::Avx2(t) => t.fold_absorb(&mut a, &mut c, group),
                #[cfg(all(feature = "std", target_arch = "x86_64"))]
                Imp::Avx512(t) => t.fold_absorb(&mut a, &mut c, group),
                #[cfg(all(feature = "std", target_arch = "aarch64"))]
                Imp::Neon(t) => t.fold_absorb(&mut a, &mut c, group),
                Imp::Portable => membw::fold_absorb(&mut a, &mut c, group),
            }
        }
        Ok(membw::fold_finish(&a, &c))
    }

    /// [`membw::output`]: one output of pass `pass` for group `b`, both groups regenerated from
    /// the PRF. What the host import `membw_output` computes for a module's `check`.
    pub fn membw_output(
        &self,
        key: PhiloxKey,
        params: &MembwParams,
        perm: &Permutation,
        pass: u32,
        b: u64,
    ) -> Result<u64, SpecError> {
        if matches!(self.imp, Imp::Portable) {
            return membw::output(key, params, perm, pass, b);
        }
        let pi = membw::permutation(perm, b)?;
        params.validate()?;
        let groups = params.groups();
        for group in [b, pi] {
            if group >= groups {
                return Err(SpecError::OutOfRange {
                    what: "group",
                    index: group,
                    count: groups,
                });
            }
        }
        let g = params.group as usize;
        let mut both = vec![0u8; 2 * g];
        let (gb, gp) = both.split_at_mut(g);
        let blocks_per_group = u64::from(params.group) / BLOCK_BYTES as u64;
        self.membw_fill_blocks(key, params.rounds, b * blocks_per_group, gb);
        self.membw_fill_blocks(key, params.rounds, pi * blocks_per_group, gp);
        self.fold(pass, b, gb, gp)
    }

    /// Runs a tight loop of the multiply-add instruction these kernels' tile uses
    /// (`vpdpbusd` zmm for AVX-512, `vpmaddwd` ymm for AVX2, `smull`+`sadalp` for NEON, scalar
    /// `i32` multiply-adds for the portable path), `iterations` times over independent
    /// accumulators, and returns how many `i8`/`i16` multiply-adds it did and a value that
    /// depends on all of them (so the loop is not optimised away). Timed by the caller, it is
    /// this machine's multiply-add peak on this instruction set, to set a tile's rate against.
    pub fn multiply_add_peak(&self, iterations: u64) -> (u64, u64) {
        match self.imp {
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Imp::Avx2(t) => t.multiply_add_peak(iterations),
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Imp::Avx512(t) => t.multiply_add_peak(iterations),
            #[cfg(all(feature = "std", target_arch = "aarch64"))]
            Imp::Neon(t) => t.multiply_add_peak(iterations),
            Imp::Portable => portable_peak(iterations),
        }
    }
}

/// B (`k × n` bytes, row-major, `n` a multiple of 16) re-laid as `n/16` row-major `k × 16`
/// blocks, block `j` holding columns `16j ..+16`: the operand layout of
/// [`Kernels::gemm_band`]. `None` if `b` is not `k·n` bytes or `n` is not a multiple of 16.
pub fn pack_b(b: &[u8], n: usize, k: usize) -> Option<Vec<u8>> {
    if b.len() != k.checked_mul(n)? || !n.is_multiple_of(TILE) {
        return None;
    }
    let mut packed = vec![0u8; b.len()];
    if n == 0 {
        return Some(packed);
    }
    for (j, block) in packed.chunks_exact_mut((TILE * k).max(1)).enumerate() {
        for (dst, row) in block.chunks_exact_mut(TILE).zip(b.chunks_exact(n)) {
            dst.copy_from_slice(row.get(j * TILE..(j + 1) * TILE).unwrap_or(&[0; TILE]));
        }
    }
    Some(packed)
}

/// A B operand: raw bytes (PRF output, the CPU backend's buffers) or the spec's `i8`.
#[derive(Debug, Clone, Copy)]
enum Operand<'a> {
    U8(&'a [u8]),
    I8(&'a [i8]),
}

/// Something read as bytes: `u8` as is, `i8` as its two's complement.
trait Byte: Copy {
    fn byte(self) -> u8;
}

impl Byte for u8 {
    fn byte(self) -> u8 {
        self
    }
}

impl Byte for i8 {
    fn byte(self) -> u8 {
        self as u8
    }
}

/// Copies elements `k0 .. k0 + kc` (`kc ≤ TILE_CHUNK`) of each of the 16 rows of `a` (rows `k`
/// apart) into `out`.
fn copy_rows<T: Byte>(a: &[T], k: usize, k0: usize, kc: usize, out: &mut AChunk) {
    for (i, dst) in out.chunks_exact_mut(TILE_CHUNK).enumerate() {
        let src = a.get(i * k + k0..i * k + k0 + kc).unwrap_or(&[]);
        for (d, v) in dst.iter_mut().zip(src) {
            *d = v.byte();
        }
    }
}

/// The portable [`Kernels::philox_blocks`]: the spec's Philox, one block at a time.
fn portable_blocks(
    key: PhiloxKey,
    tensor_id: u32,
    first: u64,
    stride: u64,
    rounds: u32,
    out: &mut [u8],
) {
    let mut counter = first;
    for dst in out.chunks_exact_mut(BLOCK_BYTES) {
        dst.copy_from_slice(&chained_block(key, tensor_id, counter, rounds));
        counter = counter.wrapping_add(stride);
    }
}

/// One block of [`Kernels::philox_blocks`] by the spec's Philox (the SIMD paths' tails).
pub(crate) fn chained_block(
    key: PhiloxKey,
    tensor_id: u32,
    counter: u64,
    rounds: u32,
) -> [u8; BLOCK_BYTES] {
    let mut x = prf::philox4x32_10(key, prf::tensor_counter(tensor_id, counter));
    for _ in 0..rounds {
        x = prf::philox4x32_10(key, x);
    }
    prf::block_bytes(x)
}

/// The portable tile accumulation over an [`AChunk`] and `k` B rows (the spec's loop, `i8` read
/// from bytes).
pub(crate) fn portable_accumulate(a: &AChunk, b: &[u8], k: usize, acc: &mut [i32; TILE * TILE]) {
    if k > TILE_CHUNK || b.len() != TILE * k {
        return;
    }
    for (a_row, acc_row) in a.chunks_exact(TILE_CHUNK).zip(acc.chunks_exact_mut(TILE)) {
        for (av, b_row) in a_row[..k].iter().zip(b.chunks_exact(TILE)) {
            let av = i32::from(*av as i8);
            for (s, bv) in acc_row.iter_mut().zip(b_row) {
                *s = s.wrapping_add(av * i32::from(*bv as i8));
            }
        }
    }
}

/// Scalar multiply-adds over 8 independent accumulators.
fn portable_peak(iterations: u64) -> (u64, u64) {
    let mut acc = [1i32, 2, 3, 4, 5, 6, 7, 8];
    let mut x = 3i32;
    for _ in 0..iterations {
        for a in acc.iter_mut() {
            *a = a.wrapping_mul(x).wrapping_add(x);
        }
        x = core::hint::black_box(x);
    }
    let sum = acc.iter().fold(0u64, |s, a| s.wrapping_add(*a as u64));
    (iterations * acc.len() as u64, sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_b_lays_out_column_blocks() {
        let (n, k) = (48usize, 5usize);
        let b: Vec<u8> = (0..n * k).map(|i| i as u8).collect();
        let packed = pack_b(&b, n, k).unwrap_or_default();
        for j in 0..n / TILE {
            for r in 0..k {
                for c in 0..TILE {
                    assert_eq!(packed[j * TILE * k + r * TILE + c], b[r * n + j * TILE + c]);
                }
            }
        }
        assert!(pack_b(&b, 40, 6).is_none());
        assert!(pack_b(&b[1..], n, k).is_none());
    }

    #[test]
    fn the_best_kernels_are_available() {
        let best = Kernels::best();
        assert!(best.isa().is_available());
        assert!(Isa::available().contains(&Isa::Portable));
        assert_eq!(Isa::available()[0], best.isa());
    }
}
