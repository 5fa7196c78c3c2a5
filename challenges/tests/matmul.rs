//! `matmul-i8` reference: params rules, tiles against whole products at boundary shapes, the
//! work model, and the absence of displacement structure in generated matrices.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use challenges::{
    SpecError,
    matmul::{self, MatmulParams},
    prf, tiles,
};

fn check_params(bytes: &[u8], expect_ok: bool) {
    assert_eq!(
        MatmulParams::decode(bytes).is_ok(),
        expect_ok,
        "params {bytes:02x?}"
    );
}

fn params_bytes(m: u32, n: u32, k: u32, count: u32) -> Vec<u8> {
    MatmulParams { m, n, k, count }.encode().to_vec()
}

#[test]
fn params_rules() {
    check_params(&params_bytes(64, 64, 64, 2), true);
    check_params(&params_bytes(16, 16, 65_536, 1), true);
    check_params(&params_bytes(16, 16, 65_552, 1), false); // k above 65 536
    check_params(&params_bytes(0, 16, 16, 1), false);
    check_params(&params_bytes(17, 16, 16, 1), false);
    check_params(&params_bytes(16, 24, 16, 1), false);
    check_params(&params_bytes(16, 16, 16, 0), false);
    check_params(&params_bytes(16, 16, 16, 1)[..15], false);
    check_params(&[0u8; 17], false);
    let p = MatmulParams {
        m: 48,
        n: 32,
        k: 16,
        count: 3,
    };
    assert_eq!(MatmulParams::decode(&p.encode()), Ok(p));
    assert_eq!(
        p.encode(),
        [48, 0, 0, 0, 32, 0, 0, 0, 16, 0, 0, 0, 3, 0, 0, 0]
    );
    match MatmulParams::decode(&params_bytes(16, 16, 20, 1)) {
        Err(SpecError::BadParam {
            field: "k",
            value: 20,
            ..
        }) => {}
        other => panic!("expected a bad `k`, got {other:?}"),
    }
}

#[test]
fn every_tile_equals_the_whole_product_at_boundary_shapes() {
    let seed = [9u8; 32];
    let key = prf::key(&seed, matmul::STREAM);
    for p in [
        MatmulParams {
            m: 16,
            n: 16,
            k: 16,
            count: 1,
        },
        MatmulParams {
            m: 32,
            n: 16,
            k: 48,
            count: 2,
        },
        MatmulParams {
            m: 16,
            n: 64,
            k: 32,
            count: 1,
        },
        MatmulParams {
            m: 48,
            n: 48,
            k: 1024,
            count: 1,
        },
    ] {
        for t in 0..p.count {
            let c = matmul::product(key, &p, t).unwrap();
            assert_eq!(c.len() as u64, p.product_bytes());
            for tile in 0..p.tiles_per_product() {
                let got = tiles::tile_to_bytes(&matmul::tile(key, &p, t, tile).unwrap());
                let at = tile as usize * tiles::TILE_BYTES;
                assert_eq!(
                    &c[at..at + tiles::TILE_BYTES],
                    &got[..],
                    "{p:?} t={t} tile={tile}"
                );
            }
        }
    }
}

#[test]
fn tile_is_a_plain_dot_product_of_prf_elements() {
    // Element (i, j) of C_t computed straight from the PRF definition.
    let key = prf::key(&[5; 32], matmul::STREAM);
    let p = MatmulParams {
        m: 32,
        n: 48,
        k: 80,
        count: 2,
    };
    let (t, i, j) = (1u32, 21u64, 37u64);
    let mut a_row = vec![0i8; 80];
    prf::fill_tensor_i8(key, 2 * t, i * 80, &mut a_row);
    let mut sum = 0i32;
    for (kk, a) in a_row.iter().enumerate() {
        let mut b = [0i8; 1];
        prf::fill_tensor_i8(key, 2 * t + 1, kk as u64 * 48 + j, &mut b);
        sum += i32::from(*a) * i32::from(b[0]);
    }
    let tile_index = (i / 16) * 3 + j / 16;
    let tile = matmul::tile(key, &p, t, tile_index).unwrap();
    assert_eq!(tile[((i % 16) * 16 + j % 16) as usize], sum);
}

#[test]
fn extreme_values_do_not_overflow_at_k_max() {
    let a = vec![-128i8; 16 * 65_536];
    let b = vec![-128i8; 65_536 * 16];
    let tile = matmul::tile_from_operands(&a, &b, 65_536).unwrap();
    assert!(tile.iter().all(|v| *v == 1 << 30));
}

#[test]
fn out_of_range_requests_are_errors() {
    let key = prf::key(&[1; 32], 0);
    let p = MatmulParams {
        m: 32,
        n: 32,
        k: 16,
        count: 1,
    };
    assert!(matches!(
        matmul::tile(key, &p, 1, 0),
        Err(SpecError::OutOfRange {
            what: "product",
            ..
        })
    ));
    assert!(matches!(
        matmul::tile(key, &p, 0, 4),
        Err(SpecError::OutOfRange { what: "tile", .. })
    ));
    assert!(matmul::a_rows(key, &p, 0, 2).is_err());
    assert!(matmul::b_block(key, &p, 0, 2).is_err());
    assert!(matmul::tile_from_operands(&[0; 10], &[0; 256], 16).is_err());
}

#[test]
fn work_model() {
    let w = matmul::work(&MatmulParams {
        m: 64,
        n: 32,
        k: 128,
        count: 3,
    });
    assert_eq!(w.ops, 2 * 64 * 32 * 128 * 3);
    assert_eq!(w.bytes, 3 * (64 * 128 + 128 * 32 + 4 * 64 * 32));
    let names: Vec<_> = w.phases.iter().map(|p| p.name).collect();
    assert_eq!(names, ["prf-fill", "gemm", "relayout", "hash"]);
    assert_eq!(w.phases[0].ops, 3 * (64 * 128 + 128 * 32) / 16);
}

/// Over a 256 × 256 sample, the fraction of `A[i][j] == A[i+1][j-1]` (Hankel) and of
/// `A[i][j] == A[i+1][j+1]` (Toeplitz) must be near 1/256: generated matrices have no
/// displacement structure, so no O(n²) shortcut to the product exists.
#[test]
fn generated_matrices_have_no_displacement_structure() {
    let key = prf::key(&[0x42; 32], matmul::STREAM);
    let n = 256usize;
    let p = MatmulParams {
        m: 256,
        n: 256,
        k: 256,
        count: 1,
    };
    for tensor in [matmul::a_id(0), matmul::b_id(0)] {
        let mut a = vec![0i8; n * n];
        prf::fill_tensor_i8(key, tensor, 0, &mut a);
        let (mut hankel, mut toeplitz, mut pairs) = (0u32, 0u32, 0u32);
        for i in 0..n - 1 {
            for j in 1..n - 1 {
                pairs += 1;
                hankel += u32::from(a[i * n + j] == a[(i + 1) * n + j - 1]);
                toeplitz += u32::from(a[i * n + j] == a[(i + 1) * n + j + 1]);
            }
        }
        // Expected 1/256 of 64 770 pairs ≈ 253, sd ≈ 16: allow 6 sd either way.
        let expected = f64::from(pairs) / 256.0;
        for (name, count) in [("hankel", hankel), ("toeplitz", toeplitz)] {
            let dev = (f64::from(count) - expected).abs();
            assert!(
                dev < 6.0 * expected.sqrt(),
                "{name} fraction {count}/{pairs} is not near 1/256"
            );
        }
    }
    let _ = p;
}
