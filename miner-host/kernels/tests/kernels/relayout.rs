//! `relayout_tiles` against `challenges::tiles::to_tile_major`.

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
