//! `challenges::simd`: every instruction set this CPU runs gives exactly the bytes of the
//! portable spec functions, on random shapes (proptest) and at `K`'s bounds (16 and 65 536),
//! with unaligned starts and lengths, and reproduces the checked-in vectors.
//!
//! Which sets ran is printed (`cargo test -p challenges --test simd -- --nocapture`): a set this
//! CPU lacks cannot be tested here (`Isa::Neon` on x86-64, `Isa::Avx512` without AVX-512).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use challenges::matmul::{self, MatmulParams};
use challenges::membw::{self, MembwParams, Permutation};
use challenges::prf::{self, PhiloxKey};
use challenges::simd::{self, Isa, Kernels};
use challenges::tiles;
use proptest::prelude::*;
use serde_json::Value;

/// Every SIMD kernel set this CPU runs (never the portable one: that is the reference).
fn fast_kernels() -> Vec<Kernels> {
    let sets: Vec<Kernels> = Isa::available()
        .into_iter()
        .filter(|i| *i != Isa::Portable)
        .filter_map(Kernels::new)
        .collect();
    let names: Vec<&str> = sets.iter().map(|k| k.isa().name()).collect();
    println!("SIMD kernel sets tested on this CPU: {names:?}");
    sets
}

fn spec_tile(key: PhiloxKey, a_id: u32, b_id: u32, n: u32, k: u32, tr: u32, tc: u32) -> [i32; 256] {
    let a = matmul::a_rows_of(key, a_id, k, tr);
    let b = matmul::b_block_of(key, b_id, n, k, tc);
    matmul::tile_from_operands(&a, &b, k as usize).unwrap()
}

fn load(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn word(v: &Value) -> u32 {
    u32::from_str_radix(v.as_str().unwrap(), 16).unwrap()
}

fn seed_of(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn detection_is_consistent() {
    let available = Isa::available();
    assert_eq!(available.last(), Some(&Isa::Portable));
    assert_eq!(Kernels::best().isa(), available[0]);
    for isa in Isa::ALL {
        assert_eq!(Kernels::new(isa).is_some(), available.contains(&isa));
        if let Some(k) = Kernels::new(isa) {
            assert_eq!(k.isa(), isa);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(
            Isa::Avx2.is_available(),
            std::is_x86_feature_detected!("avx2")
        );
        assert!(!Isa::Neon.is_available());
    }
}

#[test]
fn prf_vectors() {
    let file = load("prf.json");
    let seed = support::vectors::counting_seed();
    let key = prf::key(&seed, 0);
    for fast in fast_kernels() {
        // `philox_chain`: blocks 0..4 of tensor 0.
        let mut out = [0u8; 64];
        fast.philox_blocks(key, 0, 0, 1, 0, &mut out);
        for (i, words) in file["philox_chain"].as_array().unwrap().iter().enumerate() {
            let expected: Vec<u8> = (0..4).flat_map(|w| word(&words[w]).to_le_bytes()).collect();
            assert_eq!(&out[16 * i..16 * i + 16], &expected[..], "{}", fast.isa());
        }
        // `tensor_blocks`, across the 32-bit carry of the block index.
        for case in file["tensor_blocks"].as_array().unwrap() {
            let id = case["tensor_id"].as_u64().unwrap() as u32;
            let block = case["block"].as_u64().unwrap();
            let mut out = [0u8; 16];
            fast.fill_tensor(key, id, block * 16, &mut out);
            assert_eq!(hex::encode(out), case["bytes"].as_str().unwrap());
        }
        // The Random123 vector whose counter has the tensor form [0, 0, 0, 0].
        let kat = &file["philox_kat"][0];
        let mut out = [0u8; 16];
        fast.philox_blocks([0, 0], 0, 0, 1, 0, &mut out);
        let expected: Vec<u8> = (0..4)
            .flat_map(|w| word(&kat["output"][w]).to_le_bytes())
            .collect();
        assert_eq!(&out[..], &expected[..]);
    }
}

#[test]
fn matmul_vectors() {
    let file = load("matmul-i8.json");
    for fast in fast_kernels() {
        for case in file["cases"].as_array().unwrap() {
            let p = &case["params"];
            let params = MatmulParams {
                m: p["m"].as_u64().unwrap() as u32,
                n: p["n"].as_u64().unwrap() as u32,
                k: p["k"].as_u64().unwrap() as u32,
                count: p["count"].as_u64().unwrap() as u32,
            };
            let key = prf::key(&seed_of(&case["seed"]), matmul::STREAM);
            let (m, n, k) = (params.m as usize, params.n as usize, params.k as usize);
            for (t, root) in case["roots"].as_array().unwrap().iter().enumerate() {
                let t = t as u32;
                // The CPU backend's route: fill A and B, pack B, one band at a time.
                let mut a = vec![0u8; m * k];
                fast.fill_tensor(key, matmul::a_id(t), 0, &mut a);
                let mut b = vec![0u8; k * n];
                fast.fill_tensor(key, matmul::b_id(t), 0, &mut b);
                let packed = simd::pack_b(&b, n, k).unwrap();
                let mut c = vec![0u8; 4 * m * n];
                for (band, out) in c.chunks_exact_mut(4 * 16 * n).enumerate() {
                    let a_band = &a[band * 16 * k..(band + 1) * 16 * k];
                    fast.gemm_band(a_band, &packed, n, k, out).unwrap();
                }
                assert_eq!(
                    blake3::hash(&c).to_hex().as_str(),
                    root.as_str().unwrap(),
                    "{} {params:?} product {t}",
                    fast.isa()
                );
            }
            // The verifier's route: one tile straight from the PRF.
            let last = &case["last_tile_of_last_product"];
            let t = last["product"].as_u64().unwrap() as u32;
            let tile = last["tile"].as_u64().unwrap();
            let (tr, tc) = tiles::tile_coords(params.n, tile);
            let got = fast.tile(
                key,
                matmul::a_id(t),
                matmul::b_id(t),
                params.n,
                params.k,
                tr as u32,
                tc as u32,
            );
            let row: Vec<i64> = last["first_row"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            let got_row: Vec<i64> = got[..16].iter().map(|v| i64::from(*v)).collect();
            assert_eq!(got_row, row, "{} {params:?}", fast.isa());
        }
    }
}

#[test]
fn membw_vectors() {
    let file = load("membw.json");
    for fast in fast_kernels() {
        for case in file["cases"].as_array().unwrap() {
            let p = &case["params"];
            let params = MembwParams {
                bytes: p["bytes"].as_u64().unwrap(),
                group: p["group"].as_u64().unwrap() as u32,
                rounds: p["rounds"].as_u64().unwrap() as u32,
                passes: p["passes"].as_u64().unwrap() as u32,
            };
            let seed = seed_of(&case["seed"]);
            let key = prf::key(&seed, membw::STREAM);
            let mut buffer = vec![0u8; params.bytes as usize];
            fast.membw_fill_blocks(key, params.rounds, 0, &mut buffer);
            assert_eq!(
                hex::encode(&buffer[..16]),
                case["buffer_first_block"].as_str().unwrap()
            );
            assert_eq!(
                blake3::hash(&buffer).to_hex().as_str(),
                case["buffer_blake3"].as_str().unwrap(),
                "{} {params:?}",
                fast.isa()
            );
            let phase_seed = seed_of(&case["phase_seed_1"]);
            let perm = Permutation::for_pass(&params, &phase_seed, 0, None).unwrap();
            let g = params.group as usize;
            for (b, expected) in case["pass0_outputs_head"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
            {
                let pi = perm.apply(b as u64) as usize;
                let out = fast
                    .fold(
                        0,
                        b as u64,
                        &buffer[b * g..(b + 1) * g],
                        &buffer[pi * g..(pi + 1) * g],
                    )
                    .unwrap();
                assert_eq!(hex::encode(out.to_le_bytes()), expected.as_str().unwrap());
                let regenerated = fast.membw_output(key, &params, &perm, 0, b as u64).unwrap();
                assert_eq!(regenerated, out);
            }
        }
    }
}

#[test]
fn tiles_at_the_bounds_of_k() {
    let key = prf::key(&[5; 32], matmul::STREAM);
    for fast in fast_kernels() {
        for (n, k, tr, tc) in [(16, 16, 0, 0), (48, 16, 3, 2), (32, 65_536, 1, 1)] {
            assert_eq!(
                fast.tile(key, 4, 5, n, k, tr, tc),
                spec_tile(key, 4, 5, n, k, tr, tc),
                "{} n={n} k={k}",
                fast.isa()
            );
        }
        // The largest magnitudes: every product is (-128)·(-128) = 2^14, and at K = 65 536 the
        // sum is 2^30, the most an i32 accumulator ever holds.
        let k = 65_536usize;
        let ones = vec![-128i8; 16 * k];
        let tile = fast.tile_from_operands(&ones, &ones, k).unwrap();
        assert!(tile.iter().all(|v| *v == 1 << 30), "{}", fast.isa());
        let mixed: Vec<i8> = (0..16 * k)
            .map(|i| if i % 3 == 0 { 127 } else { -128 })
            .collect();
        assert_eq!(
            fast.tile_from_operands(&mixed, &ones, k).unwrap(),
            matmul::tile_from_operands(&mixed, &ones, k).unwrap()
        );
    }
}

#[test]
fn wrong_lengths_are_refused_like_the_spec() {
    for fast in fast_kernels() {
        let a = vec![1i8; 16 * 8];
        assert_eq!(
            fast.tile_from_operands(&a, &a[1..], 8),
            matmul::tile_from_operands(&a, &a[1..], 8)
        );
        assert!(fast.fold(0, 0, &[0; 128], &[0; 256]).is_err());
        assert!(
            fast.gemm_band(&[0; 16 * 4], &[0; 16 * 4], 16, 4, &mut [0; 1023])
                .is_err()
        );
    }
}

#[test]
fn peak_loops_count_their_multiply_adds() {
    for isa in Isa::available() {
        let kernels = Kernels::new(isa).unwrap();
        let (macs, _) = kernels.multiply_add_peak(10);
        let (more, _) = kernels.multiply_add_peak(20);
        assert!(macs > 0 && more == 2 * macs, "{isa}: {macs} then {more}");
    }
}

fn bytes(len: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), len)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn philox_blocks_match_the_spec(
        key in any::<[u32; 2]>(),
        id in any::<u32>(),
        first in any::<u64>(),
        stride in prop_oneof![Just(1u64), 1u64..5000, any::<u64>()],
        rounds in prop_oneof![Just(0u32), 0u32..70],
        len in 0usize..1100,
    ) {
        let mut spec = vec![0xa5u8; len];
        let mut counter = first;
        for dst in spec.chunks_exact_mut(16) {
            let mut x = prf::philox4x32_10(key, prf::tensor_counter(id, counter));
            for _ in 0..rounds {
                x = prf::philox4x32_10(key, x);
            }
            dst.copy_from_slice(&prf::block_bytes(x));
            counter = counter.wrapping_add(stride);
        }
        for fast in fast_kernels() {
            let mut out = vec![0xa5u8; len];
            fast.philox_blocks(key, id, first, stride, rounds, &mut out);
            prop_assert_eq!(&out, &spec, "{}", fast.isa());
        }
    }

    #[test]
    fn fills_match_the_spec_at_any_start_and_length(
        key in any::<[u32; 2]>(),
        id in any::<u32>(),
        start in prop_oneof![0u64..100, any::<u64>().prop_map(|s| s >> 4)],
        len in 0usize..3000,
        rounds in 0u32..20,
    ) {
        let mut spec = vec![0u8; len];
        prf::fill_tensor(key, id, start, &mut spec);
        let mut spec_fill = vec![0x3cu8; len];
        membw::fill_blocks(key, rounds, start, &mut spec_fill);
        for fast in fast_kernels() {
            let mut out = vec![0u8; len];
            fast.fill_tensor(key, id, start, &mut out);
            prop_assert_eq!(&out, &spec, "{} fill_tensor", fast.isa());
            let mut fill = vec![0x3cu8; len];
            fast.membw_fill_blocks(key, rounds, start, &mut fill);
            prop_assert_eq!(&fill, &spec_fill, "{} membw fill", fast.isa());
        }
    }

    #[test]
    fn operands_and_tiles_match_the_spec(
        key in any::<[u32; 2]>(),
        ids in any::<(u32, u32)>(),
        n16 in 1u32..80,
        k16 in prop_oneof![Just(1u32), 1u32..300],
        tile_row in 0u32..1000,
        col in any::<u32>(),
    ) {
        let (n, k) = (16 * n16, 16 * k16);
        let tile_col = col % n16;
        let (a_id, b_id) = ids;
        let a = matmul::a_rows_of(key, a_id, k, tile_row);
        let b = matmul::b_block_of(key, b_id, n, k, tile_col);
        let spec = matmul::tile_from_operands(&a, &b, k as usize).unwrap();
        for fast in fast_kernels() {
            prop_assert_eq!(&fast.a_rows(key, a_id, k, tile_row), &a);
            prop_assert_eq!(&fast.b_block(key, b_id, n, k, tile_col), &b);
            prop_assert_eq!(fast.tile_from_operands(&a, &b, k as usize).unwrap(), spec);
            prop_assert_eq!(fast.tile(key, a_id, b_id, n, k, tile_row, tile_col), spec);
        }
    }

    #[test]
    fn tiles_of_any_operands_and_any_k_match_the_spec(
        k in prop_oneof![Just(0usize), 0usize..700],
        seed in any::<u64>(),
    ) {
        // Operands of any bytes (not only PRF output), `k` not a multiple of anything.
        let mut state = seed | 1;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as i8
        };
        let a: Vec<i8> = (0..16 * k).map(|_| next()).collect();
        let b: Vec<i8> = (0..16 * k).map(|_| next()).collect();
        let spec = matmul::tile_from_operands(&a, &b, k).unwrap();
        for fast in fast_kernels() {
            prop_assert_eq!(fast.tile_from_operands(&a, &b, k).unwrap(), spec, "{} k={}", fast.isa(), k);
        }
    }

    #[test]
    fn gemm_bands_match_the_spec(
        a in bytes(16 * 40),
        b in bytes(40 * 48),
    ) {
        let (n, k) = (48usize, 40usize);
        let packed = simd::pack_b(&b, n, k).unwrap();
        let a_i8: Vec<i8> = a.iter().map(|v| *v as i8).collect();
        let mut spec = vec![0u8; 3 * 1024];
        for (j, out) in spec.chunks_exact_mut(1024).enumerate() {
            let block: Vec<i8> = packed[j * 16 * k..(j + 1) * 16 * k].iter().map(|v| *v as i8).collect();
            let tile = matmul::tile_from_operands(&a_i8, &block, k).unwrap();
            out.copy_from_slice(&tiles::tile_to_bytes(&tile));
        }
        for fast in fast_kernels() {
            let mut out = vec![0u8; 3 * 1024];
            fast.gemm_band(&a, &packed, n, k, &mut out).unwrap();
            prop_assert_eq!(&out, &spec, "{}", fast.isa());
        }
    }

    #[test]
    fn folds_and_outputs_match_the_spec(
        lines in 1usize..40,
        fill in any::<u8>(),
        pass in any::<u32>(),
        b in any::<u64>(),
        rounds in 0u32..12,
        group_key in any::<[u8; 32]>(),
    ) {
        let g = 128 * lines;
        let gb: Vec<u8> = (0..g).map(|i| (i as u8).wrapping_mul(fill) ^ 0x5a).collect();
        let gp: Vec<u8> = (0..g).map(|i| (i as u8).wrapping_add(fill)).collect();
        let spec = membw::fold(pass, b, &gb, &gp).unwrap();
        let params = MembwParams { bytes: 64 * g as u64, group: g as u32, rounds, passes: 2 };
        let perm = Permutation::for_pass(&params, &group_key, 0, None).unwrap();
        let key = [fill as u32, pass];
        let group = b % 64;
        let spec_output = membw::output(key, &params, &perm, 1, group).unwrap();
        for fast in fast_kernels() {
            prop_assert_eq!(fast.fold(pass, b, &gb, &gp).unwrap(), spec, "{}", fast.isa());
            prop_assert_eq!(fast.membw_output(key, &params, &perm, 1, group).unwrap(), spec_output);
        }
    }
}
