//! `matmul-i8`: exact `int8 × int8 → int32` GEMM, committed tile by tile.
//!
//! # Spec (pinned; every backend and any outside implementation must agree bit for bit)
//!
//! **Params.** JSON form `{"m": M, "n": N, "k": K, "count": T}`; binary form (what the module
//! receives, and what the challenge seed hashes) is 16 bytes: `M`, `N`, `K`, `T`, each `u32`
//! little-endian, in that order ([`MatmulParams::encode`]). Rules: `M`, `N`, `K` are non-zero
//! multiples of 16, `K ≤ 65 536` (so no `i32` sum can overflow: `|a·b| ≤ 128² = 16 384` and
//! `65 536 · 16 384 = 2³⁰`), `1 ≤ T ≤ 2³⁰`, and `M, N ≤ 1 048 576`.
//!
//! **Inputs.** The Philox key is `prf::key(seed, 0)`. For product `t` in `0..T`, `A_t` is
//! tensor id `2t` (`M × K`, row-major) and `B_t` is tensor id `2t + 1` (`K × N`, row-major);
//! element `e` of a tensor is byte `e mod 16` of its Philox block `e / 16`, read as `i8`
//! (see [`crate::prf`]).
//!
//! **Output.** `C_t = A_t · B_t` in `i32`, stored tile-major ([`crate::tiles`]): 16 × 16 tiles
//! in row-major order of tiles, row-major inside a tile, little-endian; `4·M·N` bytes.
//! `root_t = BLAKE3(C_t bytes)`; tile `i` of `C_t` is leaf `i` of that commitment.
//!
//! **Openings.** The verifier draws `(t, tile)` pairs uniformly with replacement over all
//! tiles of all products. Checking one tile needs rows `16·ti .. 16·ti+16` of `A_t`
//! ([`a_rows`]), columns `16·tj .. 16·tj+16` of `B_t` ([`b_block`]) and `16·16·K`
//! multiply-adds ([`tile_from_operands`]).
//!
//! **Work.** Headline `ops = 2·M·N·K·T` (int8 multiply and add counted separately) and
//! `bytes = T·(M·K + K·N + 4·M·N)` (inputs written and read once, output written once).
//! Phases: `prf-fill` (Philox blocks `T·(M·K + K·N)/16`), `gemm` (the ops above), `relayout`
//! (`8·M·N·T` bytes: the product read and written once), `hash` (`4·M·N·T` bytes).
//!
//! # Worked example
//!
//! Seed `00 01 … 1f`, `M = N = K = 64`, `T = 2`: the key is `[0xec23f654, 0x4604376d]`;
//! `A_0` is tensor 0, whose first block is `philox4x32_10(key, [0, 0, 0, 0])`; `C_0` has 16
//! tiles (16 KiB) and `root_0` begins `f4319b06`, `root_1` begins `8966255a` (these are the
//! vectors docs/design.md fixes; `challenges/vectors/matmul-i8.json` has more).
//!
//! ```
//! use challenges::{matmul::{self, MatmulParams}, prf};
//! let seed: [u8; 32] = core::array::from_fn(|i| i as u8);
//! let params = MatmulParams { m: 64, n: 64, k: 64, count: 2 };
//! let roots = matmul::roots(&seed, &params).unwrap();
//! assert!(roots[0].to_hex().starts_with("f4319b06"));
//! assert!(roots[1].to_hex().starts_with("8966255a"));
//! // Any single tile can be recomputed from the PRF alone:
//! let key = prf::key(&seed, matmul::STREAM);
//! let tile = matmul::tile(key, &params, 1, 5).unwrap();
//! let c1 = matmul::product(key, &params, 1).unwrap();
//! assert_eq!(&c1[5 * 1024..6 * 1024], &challenges::tiles::tile_to_bytes(&tile)[..]);
//! ```

use alloc::{vec, vec::Vec};

use crate::SpecError;
use crate::prf::{self, PhiloxKey};
use crate::tiles::{self, TILE, TILE_BYTES};
use crate::work::{Phase, Work, mul_sat};

/// Module name, as used on the CLI and in errors.
pub const NAME: &str = "matmul-i8";
/// PRF stream of the module's key: `prf::key(seed, STREAM)`.
pub const STREAM: u64 = 0;
/// Largest allowed `K`.
pub const MAX_K: u32 = 65_536;
/// Largest allowed `M` or `N`.
pub const MAX_MN: u32 = 1 << 20;
/// Largest allowed product count `T`.
pub const MAX_COUNT: u32 = 1 << 30;
/// Length of the binary params.
pub const PARAMS_LEN: usize = 16;

/// Parameters of a `matmul-i8` challenge (see the module docs for the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatmulParams {
    /// Rows of `A_t` and `C_t`.
    pub m: u32,
    /// Columns of `B_t` and `C_t`.
    pub n: u32,
    /// Inner dimension.
    pub k: u32,
    /// Number of products `T`.
    pub count: u32,
}

impl MatmulParams {
    /// The 16-byte binary form: `m`, `n`, `k`, `count` as `u32` LE.
    pub fn encode(&self) -> [u8; PARAMS_LEN] {
        let mut out = [0u8; PARAMS_LEN];
        for (dst, v) in out
            .chunks_exact_mut(4)
            .zip([self.m, self.n, self.k, self.count])
        {
            dst.copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Decodes and validates the binary form; any other length or a rule broken is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, SpecError> {
        let words: [u8; PARAMS_LEN] = bytes.try_into().map_err(|_| SpecError::ParamsLength {
            module: NAME,
            expected: PARAMS_LEN,
            got: bytes.len(),
        })?;
        let word = |i: usize| {
            u32::from_le_bytes([
                words[4 * i],
                words[4 * i + 1],
                words[4 * i + 2],
                words[4 * i + 3],
            ])
        };
        let params = Self {
            m: word(0),
            n: word(1),
            k: word(2),
            count: word(3),
        };
        params.validate()?;
        Ok(params)
    }

    /// Checks the rules of the module docs.
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |field, value: u32, rule| SpecError::BadParam {
            module: NAME,
            field,
            value: u64::from(value),
            rule,
        };
        for (field, value, max) in [
            ("m", self.m, MAX_MN),
            ("n", self.n, MAX_MN),
            ("k", self.k, MAX_K),
        ] {
            if value == 0 || value % TILE as u32 != 0 {
                return Err(bad(field, value, "must be a non-zero multiple of 16"));
            }
            if value > max {
                return Err(bad(
                    field,
                    value,
                    "is above the module's limit (m, n ≤ 2^20, k ≤ 65536)",
                ));
            }
        }
        if self.count == 0 || self.count > MAX_COUNT {
            return Err(bad("count", self.count, "must be between 1 and 2^30"));
        }
        Ok(())
    }

    /// Tiles (leaves) per product.
    pub fn tiles_per_product(&self) -> u64 {
        tiles::tile_count(self.m, self.n)
    }

    /// Bytes of one product `C_t`.
    pub fn product_bytes(&self) -> u64 {
        u64::from(self.m) * u64::from(self.n) * 4
    }
}

/// Tensor id of `A_t`.
pub fn a_id(t: u32) -> u32 {
    t.wrapping_mul(2)
}

/// Tensor id of `B_t`.
pub fn b_id(t: u32) -> u32 {
    t.wrapping_mul(2).wrapping_add(1)
}

fn check_product(params: &MatmulParams, t: u32) -> Result<(), SpecError> {
    params.validate()?;
    if t >= params.count {
        return Err(SpecError::OutOfRange {
            what: "product",
            index: u64::from(t),
            count: u64::from(params.count),
        });
    }
    Ok(())
}

/// Rows `16·tile_row .. 16·tile_row + 16` of `A_t`, row-major (`16 × K` elements).
pub fn a_rows(
    key: PhiloxKey,
    params: &MatmulParams,
    t: u32,
    tile_row: u32,
) -> Result<Vec<i8>, SpecError> {
    check_product(params, t)?;
    if u64::from(tile_row) * TILE as u64 >= u64::from(params.m) {
        return Err(SpecError::OutOfRange {
            what: "tile row",
            index: u64::from(tile_row),
            count: u64::from(params.m / TILE as u32),
        });
    }
    Ok(a_rows_of(key, a_id(t), params.k, tile_row))
}

/// Rows `16·tile_row .. 16·tile_row + 16` of any int8 tensor with rows of `k` elements
/// (`16 × k`, row-major): the operand generator behind [`a_rows`], for callers that name the
/// tensor directly (the host ABI's `tile_i8`).
pub fn a_rows_of(key: PhiloxKey, tensor_id: u32, k: u32, tile_row: u32) -> Vec<i8> {
    let mut out = vec![0i8; TILE * k as usize];
    let start = u64::from(tile_row) * TILE as u64 * u64::from(k);
    prf::fill_tensor_i8(key, tensor_id, start, &mut out);
    out
}

/// Columns `16·tile_col .. 16·tile_col + 16` of `B_t`, as a row-major `K × 16` block
/// (`out[r·16 + c] = B_t[r][16·tile_col + c]`). Each row of the block is exactly one Philox
/// block of `B_t`.
pub fn b_block(
    key: PhiloxKey,
    params: &MatmulParams,
    t: u32,
    tile_col: u32,
) -> Result<Vec<i8>, SpecError> {
    check_product(params, t)?;
    if u64::from(tile_col) * TILE as u64 >= u64::from(params.n) {
        return Err(SpecError::OutOfRange {
            what: "tile column",
            index: u64::from(tile_col),
            count: u64::from(params.n / TILE as u32),
        });
    }
    Ok(b_block_of(key, b_id(t), params.n, params.k, tile_col))
}

/// Columns `16·tile_col ..+16` of any `k × n` int8 tensor (`n` a multiple of 16) as a
/// row-major `k × 16` block: the generator behind [`b_block`].
pub fn b_block_of(key: PhiloxKey, tensor_id: u32, n: u32, k: u32, tile_col: u32) -> Vec<i8> {
    let n = u64::from(n);
    let mut out = vec![0i8; TILE * k as usize];
    for (r, row) in out.chunks_exact_mut(TILE).enumerate() {
        let element = r as u64 * n + u64::from(tile_col) * TILE as u64;
        let bytes = prf::tensor_block(key, tensor_id, element / prf::BLOCK_BYTES as u64);
        for (dst, b) in row.iter_mut().zip(bytes) {
            *dst = b as i8;
        }
    }
    out
}

/// One 16 × 16 output tile from its operands: `a_rows` is `16 × k` row-major, `b_block` is
/// `k × 16` row-major. Returns the tile row-major. Fails if the slices are not that long.
pub fn tile_from_operands(
    a_rows: &[i8],
    b_block: &[i8],
    k: usize,
) -> Result<[i32; TILE * TILE], SpecError> {
    let need = TILE * k;
    for (what, got) in [("A rows", a_rows.len()), ("B block", b_block.len())] {
        if got != need {
            return Err(SpecError::BufferSize {
                what,
                expected: need as u64,
                got: got as u64,
            });
        }
    }
    let mut acc = [0i32; TILE * TILE];
    if k == 0 {
        // An empty sum (and `chunks_exact(0)` would panic).
        return Ok(acc);
    }
    for (a_row, acc_row) in a_rows.chunks_exact(k).zip(acc.chunks_exact_mut(TILE)) {
        // Fixed-size rows let the compiler keep the 16 sums in vector registers.
        let mut sums = [0i32; TILE];
        for (a, b_row) in a_row.iter().zip(b_block.chunks_exact(TILE)) {
            let Ok(b_row) = <&[i8; TILE]>::try_from(b_row) else {
                continue;
            };
            let a = i32::from(*a);
            for (s, b) in sums.iter_mut().zip(b_row) {
                *s += a * i32::from(*b);
            }
        }
        acc_row.copy_from_slice(&sums);
    }
    Ok(acc)
}

/// Tile `tile` (row-major index over tiles) of `C_t`, row-major inside the tile.
pub fn tile(
    key: PhiloxKey,
    params: &MatmulParams,
    t: u32,
    tile: u64,
) -> Result<[i32; TILE * TILE], SpecError> {
    check_product(params, t)?;
    let count = params.tiles_per_product();
    if tile >= count {
        return Err(SpecError::OutOfRange {
            what: "tile",
            index: tile,
            count,
        });
    }
    let (ti, tj) = tiles::tile_coords(params.n, tile);
    let a = a_rows(key, params, t, ti as u32)?;
    let b = b_block(key, params, t, tj as u32)?;
    tile_from_operands(&a, &b, params.k as usize)
}

/// The whole product `C_t`, tile-major little-endian bytes (`4·M·N`).
///
/// This is the plain single-threaded reference; backends must equal it bit for bit.
pub fn product(key: PhiloxKey, params: &MatmulParams, t: u32) -> Result<Vec<u8>, SpecError> {
    check_product(params, t)?;
    let (m, n, k) = (params.m as usize, params.n as usize, params.k as usize);
    let mut a = vec![0i8; m * k];
    prf::fill_tensor_i8(key, a_id(t), 0, &mut a);
    let mut b = vec![0i8; k * n];
    prf::fill_tensor_i8(key, b_id(t), 0, &mut b);
    let mut c = vec![0i32; m * n];
    for (a_row, c_row) in a.chunks_exact(k).zip(c.chunks_exact_mut(n)) {
        for (a, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
            let a = i32::from(*a);
            for (c, b) in c_row.iter_mut().zip(b_row) {
                *c += a * i32::from(*b);
            }
        }
    }
    let mut out = vec![0u8; m * n * 4];
    tiles::to_tile_major(&c, params.m, params.n, &mut out)?;
    debug_assert_eq!(out.len() % TILE_BYTES, 0);
    Ok(out)
}

/// `root_t = BLAKE3(C_t)` for every product, in order.
pub fn roots(seed: &[u8; 32], params: &MatmulParams) -> Result<Vec<blake3::Hash>, SpecError> {
    params.validate()?;
    let key = prf::key(seed, STREAM);
    (0..params.count)
        .map(|t| product(key, params, t).map(|c| blake3::hash(&c)))
        .collect()
}

/// The work of a `matmul-i8` challenge (module docs, §Work).
pub fn work(params: &MatmulParams) -> Work {
    let (m, n, k, t) = (
        u64::from(params.m),
        u64::from(params.n),
        u64::from(params.k),
        u64::from(params.count),
    );
    let inputs = mul_sat(&[t, m.saturating_mul(k).saturating_add(k.saturating_mul(n))]);
    let output = mul_sat(&[4, m, n, t]);
    let ops = mul_sat(&[2, m, n, k, t]);
    Work {
        ops,
        bytes: inputs.saturating_add(output),
        phases: vec![
            Phase {
                name: "prf-fill",
                unit: "philox-block",
                ops: inputs / 16,
                bytes: inputs,
                step: 0,
            },
            Phase {
                name: "gemm",
                unit: "int8-op",
                ops,
                bytes: inputs.saturating_add(output),
                step: 0,
            },
            Phase {
                name: "relayout",
                unit: "byte",
                ops: 0,
                bytes: output.saturating_mul(2),
                step: 0,
            },
            Phase {
                name: "hash",
                unit: "byte",
                ops: output,
                bytes: output,
                step: 0,
            },
        ],
    }
}
