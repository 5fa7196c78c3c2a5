//! `relayout_tiles` against `challenges::tiles::to_tile_major`, and `transpose_i8` against a
//! plain transpose.

use challenges::tiles;
use cuda_kernels::emulated::{self, DeviceBuffer};

fn check(m: u32, n: u32) {
    let noise = crate::noise(&format!("relayout {m}x{n}"), 4 * (m * n) as usize);
    let values: Vec<i32> = noise
        .chunks_exact(4)
        .map(|w| i32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    let input = DeviceBuffer::from_i32(&values);
    let mut out = DeviceBuffer::zeroed(values.len() * 4);
    emulated::relayout_tiles(&input, &mut out, m, n).unwrap();
    let mut want = vec![0u8; values.len() * 4];
    tiles::to_tile_major(&values, m, n, &mut want).unwrap();
    assert_eq!(out.to_vec(), want, "{m} x {n}");
}

#[test]
fn boundary_shapes() {
    for (m, n) in [(16, 16), (16, 48), (48, 16), (32, 32), (64, 80)] {
        check(m, n);
    }
}

#[test]
fn rejects_bad_shapes_and_short_buffers() {
    let input = DeviceBuffer::zeroed(16 * 16 * 4);
    let mut out = DeviceBuffer::zeroed(16 * 16 * 4);
    assert!(emulated::relayout_tiles(&input, &mut out, 16, 8).is_err());
    assert!(emulated::relayout_tiles(&input, &mut out, 0, 16).is_err());
    assert!(matches!(
        emulated::relayout_tiles(&input, &mut out, 16, 32),
        Err(emulated::EmuError::Buffer { .. })
    ));
}

fn check_transpose(rows: u32, cols: u32) {
    let bytes = crate::noise(&format!("transpose {rows}x{cols}"), (rows * cols) as usize);
    let input = DeviceBuffer::from_bytes(&bytes);
    // Poisoned, so a byte the kernel forgets shows.
    let mut out = DeviceBuffer::from_bytes(&vec![0xa5; bytes.len()]);
    emulated::transpose_i8(&input, &mut out, rows, cols).unwrap();
    let (r, c) = (rows as usize, cols as usize);
    let mut want = vec![0u8; bytes.len()];
    for i in 0..r {
        for j in 0..c {
            want[j * r + i] = bytes[i * c + j];
        }
    }
    assert_eq!(out.to_vec(), want, "{rows} x {cols}");
}

#[test]
fn transpose_at_boundary_shapes() {
    // Whole tiles, partial tiles on either side, a single row or column, and GEMM shapes
    // (k × n, multiples of 16 that are not multiples of 32).
    for (rows, cols) in [
        (32, 32),
        (16, 16),
        (1, 1),
        (1, 70),
        (70, 1),
        (33, 31),
        (48, 80),
        (96, 16),
        (64, 160),
    ] {
        check_transpose(rows, cols);
    }
}

#[test]
fn transpose_rejects_bad_shapes_and_short_buffers() {
    let input = DeviceBuffer::zeroed(32 * 32);
    let mut out = DeviceBuffer::zeroed(32 * 32);
    assert!(emulated::transpose_i8(&input, &mut out, 0, 32).is_err());
    assert!(emulated::transpose_i8(&input, &mut out, 32, 0).is_err());
    assert!(matches!(
        emulated::transpose_i8(&input, &mut out, 32, 33),
        Err(emulated::EmuError::Buffer { .. })
    ));
}
