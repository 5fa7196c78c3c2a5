//! 16 × 16 `i32` tiles: the leaf layout of every GEMM output.
//!
//! An `M × N` `i32` matrix (M, N multiples of 16) is stored **tile-major**: tiles in row-major
//! order of tiles (tile `(ti, tj)` has index `ti · N/16 + tj`), and inside a tile row-major,
//! every element little-endian. One tile is 16 · 16 · 4 = 1024 bytes = one BLAKE3 chunk, so
//! tile `t` is leaf `t` of the output's commitment.

use crate::SpecError;

/// Edge of a tile, in elements.
pub const TILE: usize = 16;
/// Bytes of one tile of `i32`: exactly one BLAKE3 chunk.
pub const TILE_BYTES: usize = TILE * TILE * 4;

/// Number of tiles of an `m × n` matrix (both multiples of 16).
pub fn tile_count(m: u32, n: u32) -> u64 {
    u64::from(m / TILE as u32) * u64::from(n / TILE as u32)
}

/// Tile index `t` of an `m × n` matrix as `(tile_row, tile_col)`.
pub fn tile_coords(n: u32, tile: u64) -> (u64, u64) {
    let tiles_per_row = u64::from(n / TILE as u32).max(1);
    (tile / tiles_per_row, tile % tiles_per_row)
}

/// Writes a 16 × 16 tile (row-major `i32`) as its 1024 little-endian bytes.
pub fn tile_to_bytes(tile: &[i32; TILE * TILE]) -> [u8; TILE_BYTES] {
    let mut out = [0u8; TILE_BYTES];
    for (dst, v) in out.chunks_exact_mut(4).zip(tile.iter()) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
    out
}

/// Re-lays a row-major `m × n` `i32` matrix into tile-major little-endian bytes.
///
/// Fails if `m`, `n` are not multiples of 16 or `row_major` is not `m · n` long.
pub fn to_tile_major(row_major: &[i32], m: u32, n: u32, out: &mut [u8]) -> Result<(), SpecError> {
    let (m, n) = (m as usize, n as usize);
    if m % TILE != 0 || n % TILE != 0 {
        return Err(SpecError::BadParam {
            module: "tiles",
            field: "m/n",
            value: (m | n) as u64,
            rule: "matrix dimensions must be multiples of 16",
        });
    }
    let elements = m * n;
    if row_major.len() != elements {
        return Err(SpecError::BufferSize {
            what: "row-major input",
            expected: elements as u64,
            got: row_major.len() as u64,
        });
    }
    if out.len() != elements * 4 {
        return Err(SpecError::BufferSize {
            what: "tile-major output",
            expected: (elements * 4) as u64,
            got: out.len() as u64,
        });
    }
    let tiles_per_row = n / TILE;
    for (t, tile_out) in out.chunks_exact_mut(TILE_BYTES).enumerate() {
        let (ti, tj) = (t / tiles_per_row, t % tiles_per_row);
        for (r, row_out) in tile_out.chunks_exact_mut(TILE * 4).enumerate() {
            let start = (ti * TILE + r) * n + tj * TILE;
            let src = row_major.get(start..start + TILE).unwrap_or(&[]);
            for (dst, v) in row_out.chunks_exact_mut(4).zip(src) {
                dst.copy_from_slice(&v.to_le_bytes());
            }
        }
    }
    Ok(())
}
