//! `gemm_i8_dp4a` (inputs from `prf_fill_i8`, output through `relayout_tiles` and the BLAKE3
//! kernels) against `challenges::matmul`.

use challenges::matmul::{self, MatmulParams};
use challenges::{prf, tiles};
use cuda_kernels::emulated::{self, DeviceBuffer, Mode};

/// `A_t`, `B_t` of a challenge filled on the emulated device.
fn device_inputs(
    key: prf::PhiloxKey,
    params: &MatmulParams,
    t: u32,
) -> (DeviceBuffer, DeviceBuffer) {
    let (m, n, k) = (
        u64::from(params.m),
        u64::from(params.n),
        u64::from(params.k),
    );
    let mut a = DeviceBuffer::zeroed((m * k) as usize);
    emulated::prf_fill_i8(&mut a, 0, 0, m * k, matmul::a_id(t), key, 256).unwrap();
    let mut b = DeviceBuffer::zeroed((k * n) as usize);
    emulated::prf_fill_i8(&mut b, 0, 0, k * n, matmul::b_id(t), key, 256).unwrap();
    (a, b)
}

/// Row-major `C_t` computed by the dp4a kernel.
fn device_product(key: prf::PhiloxKey, params: &MatmulParams, t: u32, mode: Mode) -> DeviceBuffer {
    let (a, b) = device_inputs(key, params, t);
    let mut c = DeviceBuffer::zeroed(4 * (params.m * params.n) as usize);
    emulated::gemm_i8_dp4a(&a, &b, &mut c, params.m, params.n, params.k, mode).unwrap();
    c
}

fn tile_major(c: &DeviceBuffer, params: &MatmulParams) -> Vec<u8> {
    let mut out = vec![0u8; c.len()];
    tiles::to_tile_major(&c.to_i32(), params.m, params.n, &mut out).unwrap();
    out
}

#[test]
fn product_matches_the_reference_at_boundary_shapes() {
    let key = prf::key(
        &crate::noise("gemm seed", 32).try_into().unwrap(),
        matmul::STREAM,
    );
    // (M, N, K): one partial 64 × 64 block, partial blocks both ways, K with a half k-slice,
    // and two block columns.
    for (m, n, k) in [(16, 16, 16), (32, 48, 64), (48, 16, 272), (64, 80, 48)] {
        let params = MatmulParams { m, n, k, count: 2 };
        let c = device_product(key, &params, 1, Mode::Threads);
        let want = matmul::product(key, &params, 1).unwrap();
        assert_eq!(tile_major(&c, &params), want, "{m} x {n} x {k}");
        // The device re-layout gives the same bytes.
        let mut relaid = DeviceBuffer::zeroed(c.len());
        emulated::relayout_tiles(&c, &mut relaid, m, n).unwrap();
        assert_eq!(relaid.to_vec(), want, "{m} x {n} x {k}, device re-layout");
    }
}

#[test]
fn extreme_values_accumulate_exactly() {
    // All −128: every product is +16384; K = 272 sums to 4 456 448 (far from wrap-around, but
    // each __dp4a step adds four of them, so sign handling of every byte lane is exercised).
    let (m, n, k) = (16u32, 32u32, 272u32);
    let a = DeviceBuffer::from_i8(&vec![-128; (m * k) as usize]);
    let mut b_vals = vec![-128i8; (k * n) as usize];
    for (i, v) in b_vals.iter_mut().enumerate() {
        if i % 3 == 0 {
            *v = 127;
        }
    }
    let b = DeviceBuffer::from_i8(&b_vals);
    let mut c = DeviceBuffer::zeroed(4 * (m * n) as usize);
    emulated::gemm_i8_dp4a(&a, &b, &mut c, m, n, k, Mode::Threads).unwrap();
    let got = c.to_i32();
    for row in 0..m as usize {
        for col in 0..n as usize {
            let want: i32 = (0..k as usize)
                .map(|kk| -128 * i32::from(b_vals[kk * n as usize + col]))
                .sum();
            assert_eq!(got[row * n as usize + col], want, "({row}, {col})");
        }
    }
}

#[test]
fn a_missing_barrier_is_caught() {
    // The same launch as a plain loop over threads (__syncthreads a no-op): each thread would
    // multiply shared tiles that the others have not staged yet. The kernel test above must
    // see the difference, or it could not prove the barriers are right.
    let key = prf::key(&crate::vector_seed(), matmul::STREAM);
    let params = MatmulParams {
        m: 48,
        n: 16,
        k: 272,
        count: 1,
    };
    let want = matmul::product(key, &params, 0).unwrap();
    let good = device_product(key, &params, 0, Mode::Threads);
    assert_eq!(tile_major(&good, &params), want);
    let broken = device_product(key, &params, 0, Mode::Sequential);
    assert_ne!(
        tile_major(&broken, &params),
        want,
        "a barrier-less run must give a wrong product"
    );
}

#[test]
fn matmul_vector_roots_on_the_device() {
    // docs/design.md: seed 00..1f, m = n = k = 64, count = 2 → roots f4319b06…, 8966255a…, here with
    // every step on the emulated device: PRF fill, GEMM, re-layout, BLAKE3 chunk and parent
    // levels (the host merges only the root's two children).
    let seed = crate::vector_seed();
    let params = MatmulParams {
        m: 64,
        n: 64,
        k: 64,
        count: 2,
    };
    let key = prf::key(&seed, matmul::STREAM);
    let mut roots = Vec::new();
    for t in 0..params.count {
        let c = device_product(key, &params, t, Mode::Threads);
        let mut relaid = DeviceBuffer::zeroed(c.len());
        emulated::relayout_tiles(&c, &mut relaid, params.m, params.n).unwrap();
        let tree = crate::blake3_tree::device_levels(&relaid, 0, relaid.len() as u64);
        roots.push(blake3::Hash::from_bytes(tree.root));
    }
    assert!(roots[0].to_hex().starts_with("f4319b06"), "{}", roots[0]);
    assert!(roots[1].to_hex().starts_with("8966255a"), "{}", roots[1]);
    assert_eq!(roots, matmul::roots(&seed, &params).unwrap());
}

#[test]
fn rejects_bad_shapes() {
    let a = DeviceBuffer::zeroed(256);
    let b = DeviceBuffer::zeroed(256);
    let mut c = DeviceBuffer::zeroed(1024);
    assert!(emulated::gemm_i8_dp4a(&a, &b, &mut c, 16, 16, 8, Mode::Threads).is_err());
    assert!(emulated::gemm_i8_dp4a(&a, &b, &mut c, 16, 16, 32, Mode::Threads).is_err());
    assert!(emulated::gemm_i8_dp4a(&a, &b, &mut c, 16, 16, 16, Mode::Threads).is_ok());
}
