//! Launch geometry of every kernel: what the CUDA backend passes to `cuLaunchKernel` and what
//! the emulator tests run, so the geometry is tested along with the kernels.
//!
//! 1-D kernels take `threads` per block: a multiple of 32 between 32 and 1024
//! ([`DEFAULT_THREADS`] is a good choice). A launch with nothing to do still has one block (a
//! CUDA grid cannot be empty); its threads find nothing in range and return. No kernel uses
//! dynamic shared memory.

use core::fmt;

/// Default threads per block for the 1-D kernels.
pub const DEFAULT_THREADS: u32 = 256;

/// Most threads per block a 1-D launch may ask for (CUDA's limit).
pub const MAX_THREADS: u32 = 1024;

/// Largest `gridDim.x` CUDA accepts.
pub const MAX_GRID_X: u64 = (1 << 31) - 1;

/// Grid and block dimensions of one launch (`(x, y, z)` each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Launch {
    /// Blocks in the grid.
    pub grid: [u32; 3],
    /// Threads in a block.
    pub block: [u32; 3],
}

impl Launch {
    /// Total threads launched.
    pub fn threads(&self) -> u64 {
        self.grid
            .iter()
            .chain(&self.block)
            .map(|&d| u64::from(d))
            .product()
    }
}

/// Why a launch geometry could not be formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeometryError {
    /// Threads per block not a multiple of 32 in `32..=1024`.
    Threads {
        /// The value given.
        threads: u32,
    },
    /// A shape argument breaks the kernel's rule.
    Shape {
        /// The kernel.
        kernel: &'static str,
        /// The argument.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The work needs more than [`MAX_GRID_X`] blocks (or overflows `u64`): split it.
    TooLarge {
        /// The kernel.
        kernel: &'static str,
        /// Work items (threads or warps) asked for.
        items: u64,
    },
}

impl fmt::Display for GeometryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Threads { threads } => write!(
                f,
                "{threads} threads per block: use a multiple of 32 between 32 and 1024"
            ),
            Self::Shape {
                kernel,
                what,
                value,
                rule,
            } => {
                write!(f, "{kernel}: {what} = {value}: {rule}")
            }
            Self::TooLarge { kernel, items } => write!(
                f,
                "{kernel}: {items} work items need more than 2^31 - 1 blocks: split the launch"
            ),
        }
    }
}

impl std::error::Error for GeometryError {}

fn check_threads(threads: u32) -> Result<(), GeometryError> {
    if threads == 0 || threads > MAX_THREADS || !threads.is_multiple_of(32) {
        return Err(GeometryError::Threads { threads });
    }
    Ok(())
}

/// A 1-D launch of `items` threads (`per_item` threads each) in blocks of `threads`.
fn linear(
    kernel: &'static str,
    items: u64,
    per_item: u64,
    threads: u32,
) -> Result<Launch, GeometryError> {
    check_threads(threads)?;
    let too_large = GeometryError::TooLarge { kernel, items };
    let total = items.checked_mul(per_item).ok_or(too_large)?;
    let blocks = total.div_ceil(u64::from(threads)).max(1);
    if blocks > MAX_GRID_X {
        return Err(too_large);
    }
    let grid_x = u32::try_from(blocks).map_err(|_| too_large)?;
    Ok(Launch {
        grid: [grid_x, 1, 1],
        block: [threads, 1, 1],
    })
}

/// Philox blocks a PRF fill of elements `[start, start + len)` touches:
/// `⌈(start + len)/16⌉ − ⌊start/16⌋` (0 for `len = 0`); `None` if `start + len` overflows.
pub fn prf_blocks(start: u64, len: u64) -> Option<u64> {
    let end = start.checked_add(len)?;
    if len == 0 {
        return Some(0);
    }
    Some(end.div_ceil(16) - start / 16)
}

/// `prf_fill_i8` over elements `[start, start + len)`: one thread per Philox block touched.
pub fn prf_fill_i8(start: u64, len: u64, threads: u32) -> Result<Launch, GeometryError> {
    let blocks = prf_blocks(start, len).ok_or(GeometryError::Shape {
        kernel: crate::PRF_FILL_I8,
        what: "start + len",
        value: start,
        rule: "the range must end at or below 2^64",
    })?;
    linear(crate::PRF_FILL_I8, blocks, 1, threads)
}

fn multiple_of_16(
    kernel: &'static str,
    what: &'static str,
    value: u32,
) -> Result<(), GeometryError> {
    if value == 0 || !value.is_multiple_of(16) {
        return Err(GeometryError::Shape {
            kernel,
            what,
            value: u64::from(value),
            rule: "must be a non-zero multiple of 16",
        });
    }
    Ok(())
}

/// `transpose_i8` of a `rows × cols` matrix: one 32 × 8 block per 32 × 32 tile. Any non-zero
/// `rows` up to 65 536 · 32 (the grid's `y` limit) and any non-zero `cols`.
pub fn transpose_i8(rows: u32, cols: u32) -> Result<Launch, GeometryError> {
    let kernel = crate::TRANSPOSE_I8;
    for (what, value) in [("rows", rows), ("cols", cols)] {
        if value == 0 {
            return Err(GeometryError::Shape {
                kernel,
                what,
                value: 0,
                rule: "must be non-zero",
            });
        }
    }
    let grid_y = rows.div_ceil(32);
    if grid_y > 65_535 {
        return Err(GeometryError::TooLarge {
            kernel,
            items: u64::from(grid_y),
        });
    }
    Ok(Launch {
        grid: [cols.div_ceil(32), grid_y, 1],
        block: [32, 8, 1],
    })
}

/// `relayout_tiles` of an `m × n` matrix: one 16 × 16 block per tile.
pub fn relayout_tiles(m: u32, n: u32) -> Result<Launch, GeometryError> {
    let kernel = crate::RELAYOUT_TILES;
    multiple_of_16(kernel, "m", m)?;
    multiple_of_16(kernel, "n", n)?;
    let tiles = u64::from(m / 16) * u64::from(n / 16);
    if tiles > MAX_GRID_X {
        return Err(GeometryError::TooLarge {
            kernel,
            items: tiles,
        });
    }
    let grid_x = u32::try_from(tiles).map_err(|_| GeometryError::TooLarge {
        kernel,
        items: tiles,
    })?;
    Ok(Launch {
        grid: [grid_x, 1, 1],
        block: [16, 16, 1],
    })
}

/// `membw_fill` of `count` 16-byte blocks: one thread per block.
pub fn membw_fill(count: u64, threads: u32) -> Result<Launch, GeometryError> {
    linear(crate::MEMBW_FILL, count, 1, threads)
}

/// `membw_perm` of `count` indices: one thread per index.
pub fn membw_perm(count: u64, threads: u32) -> Result<Launch, GeometryError> {
    linear(crate::MEMBW_PERM, count, 1, threads)
}

/// `membw_pass` over `groups` groups: one warp (32 threads) per group.
pub fn membw_pass(groups: u64, threads: u32) -> Result<Launch, GeometryError> {
    linear(crate::MEMBW_PASS, groups, 32, threads)
}

/// `blake3_chunk_cvs` over `len` bytes: one thread per 1 KiB chunk.
pub fn blake3_chunk_cvs(len: u64, threads: u32) -> Result<Launch, GeometryError> {
    linear(crate::BLAKE3_CHUNK_CVS, len.div_ceil(1024), 1, threads)
}

/// `blake3_parent_cvs` of a level of `count` CVs: one thread per output CV (`⌈count/2⌉`).
pub fn blake3_parent_cvs(count: u64, threads: u32) -> Result<Launch, GeometryError> {
    linear(crate::BLAKE3_PARENT_CVS, count.div_ceil(2), 1, threads)
}

/// `gemm_i8_dp4a` of `(m × k) · (k × n)`: 16 × 16 threads per 64 × 64 block of C.
pub fn gemm_i8_dp4a(m: u32, n: u32, k: u32) -> Result<Launch, GeometryError> {
    let kernel = crate::GEMM_I8_DP4A;
    multiple_of_16(kernel, "m", m)?;
    multiple_of_16(kernel, "n", n)?;
    multiple_of_16(kernel, "k", k)?;
    if k > 65_536 {
        return Err(GeometryError::Shape {
            kernel,
            what: "k",
            value: u64::from(k),
            rule: "must be at most 65536 (so no i32 sum overflows)",
        });
    }
    // m ≤ 2^32 − 16 gives ⌈m/64⌉ ≤ 2^26: over gridDim.y's 65535 past m = 4 194 240.
    let grid_y = m.div_ceil(64);
    if grid_y > 65_535 {
        return Err(GeometryError::Shape {
            kernel,
            what: "m",
            value: u64::from(m),
            rule: "must be at most 4194240 (gridDim.y ≤ 65535)",
        });
    }
    Ok(Launch {
        grid: [n.div_ceil(64), grid_y, 1],
        block: [16, 16, 1],
    })
}

/// The most threads a block of `kernel` may have under this module's geometry: the fixed block
/// of a 2-D kernel, [`MAX_THREADS`] for a 1-D one (its caller picks); `None` for a name that is
/// no entry point. A kernel's registers and shared memory must allow this many (checked for
/// every architecture by the backend's NVRTC test).
pub fn largest_block(kernel: &str) -> Option<u32> {
    let fixed = |l: Result<Launch, GeometryError>| l.ok().map(|l| l.block.iter().product());
    match kernel {
        crate::PRF_FILL_I8
        | crate::MEMBW_FILL
        | crate::MEMBW_PERM
        | crate::MEMBW_PASS
        | crate::BLAKE3_CHUNK_CVS
        | crate::BLAKE3_PARENT_CVS => Some(MAX_THREADS),
        crate::RELAYOUT_TILES => fixed(relayout_tiles(16, 16)),
        crate::TRANSPOSE_I8 => fixed(transpose_i8(32, 32)),
        crate::GEMM_I8_DP4A => fixed(gemm_i8_dp4a(16, 16, 16)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_point_has_a_largest_block() {
        for k in crate::KERNELS {
            let threads = largest_block(k.name).unwrap_or(0);
            assert!(
                (32..=MAX_THREADS).contains(&threads),
                "{}: {threads}",
                k.name
            );
        }
        assert_eq!(largest_block(crate::GEMM_I8_DP4A), Some(256));
        assert_eq!(largest_block("nope"), None);
    }

    #[test]
    fn prf_blocks_counts_partial_ends() {
        assert_eq!(prf_blocks(0, 0), Some(0));
        assert_eq!(prf_blocks(5, 0), Some(0));
        assert_eq!(prf_blocks(0, 16), Some(1));
        assert_eq!(prf_blocks(15, 2), Some(2));
        assert_eq!(prf_blocks(16, 17), Some(2));
        assert_eq!(prf_blocks(u64::MAX, 1), None);
        assert_eq!(prf_blocks(u64::MAX - 1, 1), Some(1));
    }

    #[test]
    fn geometry_rules() {
        assert_eq!(
            prf_fill_i8(0, 0, 256).unwrap(),
            Launch {
                grid: [1, 1, 1],
                block: [256, 1, 1]
            }
        );
        assert_eq!(prf_fill_i8(0, 16 * 257, 256).unwrap().grid, [2, 1, 1]);
        assert!(matches!(
            prf_fill_i8(0, 1, 48),
            Err(GeometryError::Threads { threads: 48 })
        ));
        assert_eq!(membw_pass(129, 128).unwrap().grid, [33, 1, 1]);
        assert_eq!(blake3_chunk_cvs(1025, 32).unwrap().grid, [1, 1, 1]);
        assert_eq!(blake3_parent_cvs(65, 32).unwrap().grid, [2, 1, 1]);
        assert_eq!(gemm_i8_dp4a(48, 80, 16).unwrap().grid, [2, 1, 1]);
        assert!(gemm_i8_dp4a(48, 80, 8).is_err());
        assert!(relayout_tiles(16, 20).is_err());
        let t = transpose_i8(65_536, 48).unwrap();
        assert_eq!((t.grid, t.block), ([2, 2048, 1], [32, 8, 1]));
        assert!(transpose_i8(0, 16).is_err());
        assert!(matches!(
            transpose_i8(u32::MAX, 16),
            Err(GeometryError::TooLarge { .. })
        ));
        assert!(matches!(
            membw_fill(u64::MAX, 32),
            Err(GeometryError::TooLarge { .. })
        ));
        assert_eq!(
            Launch {
                grid: [2, 3, 1],
                block: [16, 16, 1]
            }
            .threads(),
            1536
        );
    }
}
