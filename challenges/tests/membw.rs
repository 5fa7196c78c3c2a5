//! `membw` reference: params rules, permutations (bijective, no fixed point, keyed), the fold,
//! single-output regeneration against whole passes, and the worked example of the crate docs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashSet;

use challenges::{
    SpecError,
    membw::{self, MembwParams, Permutation},
    prf,
};

#[test]
fn params_rules() {
    let ok = MembwParams {
        bytes: 1024,
        group: 256,
        rounds: 1,
        passes: 2,
    };
    assert_eq!(MembwParams::decode(&ok.encode()), Ok(ok));
    assert_eq!(ok.encode().len(), 20);
    for (bad, field) in [
        (MembwParams { group: 100, ..ok }, "group"),
        (MembwParams { group: 0, ..ok }, "group"),
        (MembwParams { bytes: 1000, ..ok }, "bytes"),
        (MembwParams { bytes: 256, ..ok }, "bytes"), // one group only
        (MembwParams { rounds: 5000, ..ok }, "rounds"),
        (MembwParams { passes: 0, ..ok }, "passes"),
    ] {
        match bad.validate() {
            Err(SpecError::BadParam { field: f, .. }) => assert_eq!(f, field, "{bad:?}"),
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
    assert!(MembwParams::decode(&[0; 19]).is_err());
}

#[test]
fn permutations_are_fixed_point_free_bijections_for_every_small_size() {
    for groups in 2..=300u64 {
        for pass in 0..3u32 {
            let perm = Permutation::new(groups, pass, &[pass as u8; 32]).unwrap();
            let mut seen = HashSet::new();
            for b in 0..groups {
                let pi = perm.apply(b);
                assert!(pi < groups);
                assert_ne!(pi, b, "fixed point at {b} (G={groups})");
                assert!(seen.insert(pi), "not injective (G={groups})");
                assert_eq!(perm.sigma_inverse(perm.sigma(b)), b);
            }
            // π is one cycle through all groups.
            let (mut b, mut steps) = (0u64, 0u64);
            loop {
                b = perm.apply(b);
                steps += 1;
                if b == 0 {
                    break;
                }
            }
            assert_eq!(steps, groups);
        }
    }
}

#[test]
fn permutation_depends_on_its_key_and_has_no_low_bit_structure() {
    let groups = 1u64 << 16;
    let a = Permutation::new(groups, 1, &[1; 32]).unwrap();
    let b = Permutation::new(groups, 1, &[2; 32]).unwrap();
    let same = (0..groups).filter(|x| a.apply(*x) == b.apply(*x)).count();
    assert!(same < 16, "two keys agree on {same} of {groups} points");
    // The low bit of π(b) is independent of the low bit of b (≈ half agree).
    let agree = (0..groups).filter(|x| (a.apply(*x) ^ x) & 1 == 0).count() as f64;
    assert!((agree / groups as f64 - 0.5).abs() < 0.02);
    // Adjacent groups do not map to adjacent groups.
    let adjacent = (0..groups - 1)
        .filter(|x| a.apply(x + 1).abs_diff(a.apply(*x)) == 1)
        .count();
    assert!(adjacent < 16);
    assert!(membw::permutation(&a, groups).is_err());
}

#[test]
fn later_passes_need_the_previous_root() {
    let p = MembwParams {
        bytes: 4096,
        group: 128,
        rounds: 0,
        passes: 2,
    };
    let ps = prf::phase_seed(&[3; 32], 1, &[5; 32]);
    assert!(Permutation::for_pass(&p, &ps, 1, None).is_err());
    assert!(Permutation::for_pass(&p, &ps, 2, Some(&[0; 32])).is_err());
    assert_ne!(
        Permutation::for_pass(&p, &ps, 1, Some(&[0; 32])).unwrap(),
        Permutation::for_pass(&p, &ps, 1, Some(&[1; 32])).unwrap()
    );
}

/// v2: pass 0 is keyed by the phase seed, so the verifier's phase nonce changes every root and
/// nothing of the passes can be computed before it arrives.
#[test]
fn the_phase_nonce_keys_every_pass() {
    let p = MembwParams {
        bytes: 128 * 64,
        group: 128,
        rounds: 1,
        passes: 3,
    };
    let seed = [6u8; 32];
    let a = membw::roots(&seed, &p, &[1; 32]).unwrap();
    let b = membw::roots(&seed, &p, &[2; 32]).unwrap();
    assert!(a.iter().zip(&b).all(|(x, y)| x != y), "{a:?} {b:?}");
    assert_eq!(a, membw::roots(&seed, &p, &[1; 32]).unwrap());
    // The phase seed is bound to the challenge seed and the phase number too.
    assert_ne!(
        prf::phase_seed(&seed, 1, &[1; 32]),
        prf::phase_seed(&[7; 32], 1, &[1; 32])
    );
    assert_ne!(
        prf::phase_seed(&seed, 1, &[1; 32]),
        prf::phase_seed(&seed, 2, &[1; 32])
    );
}

#[test]
fn fold_is_order_dependent_and_nonlinear() {
    let x: Vec<u8> = (0..256u32).map(|i| (i * 7 + 3) as u8).collect();
    let y: Vec<u8> = (0..256u32).map(|i| (i * 13 + 1) as u8).collect();
    let f = membw::fold(0, 5, &x, &y).unwrap();
    assert_ne!(
        f,
        membw::fold(0, 5, &y, &x).unwrap(),
        "swapping groups must change the fold"
    );
    assert_ne!(f, membw::fold(1, 5, &x, &y).unwrap(), "seeded by the pass");
    assert_ne!(f, membw::fold(0, 6, &x, &y).unwrap(), "seeded by the group");
    // Not XOR-separable: fold(x, y) ^ fold(x, y') != fold(x', y) ^ fold(x', y').
    let x2: Vec<u8> = x.iter().map(|v| v ^ 0x80).collect();
    let y2: Vec<u8> = y.iter().map(|v| v.wrapping_add(1)).collect();
    let lhs = f ^ membw::fold(0, 5, &x, &y2).unwrap();
    let rhs = membw::fold(0, 5, &x2, &y).unwrap() ^ membw::fold(0, 5, &x2, &y2).unwrap();
    assert_ne!(lhs, rhs);
    // Every single-bit flip of either group changes the output.
    for bit in (0..256 * 8).step_by(61) {
        let mut z = x.clone();
        z[bit / 8] ^= 1 << (bit % 8);
        assert_ne!(membw::fold(0, 5, &z, &y).unwrap(), f);
        assert_ne!(membw::fold(0, 5, &x, &z).unwrap(), f);
    }
    assert!(membw::fold(0, 5, &x, &y[..128]).is_err());
    assert!(membw::fold(0, 5, &x[..100], &y[..100]).is_err());
}

#[test]
fn single_outputs_match_whole_passes() {
    for p in [
        MembwParams {
            bytes: 128 * 3,
            group: 128,
            rounds: 0,
            passes: 2,
        },
        MembwParams {
            bytes: 256 * 130,
            group: 256,
            rounds: 2,
            passes: 3,
        },
    ] {
        let key = prf::key(&[8; 32], membw::STREAM);
        let buffer = membw::fill(key, &p).unwrap();
        let mut group = vec![0u8; p.group as usize];
        membw::fill_group(key, &p, p.groups() - 1, &mut group).unwrap();
        assert_eq!(&buffer[buffer.len() - p.group as usize..], &group[..]);
        let ps = prf::phase_seed(&[8; 32], 1, &[9; 32]);
        let outputs = membw::passes(&p, &buffer, &ps).unwrap();
        assert_eq!(outputs.len(), p.passes as usize);
        let mut previous: Option<[u8; 32]> = None;
        for (pass, out) in outputs.iter().enumerate() {
            assert_eq!(out.len() as u64, p.pass_output_bytes());
            let perm = Permutation::for_pass(&p, &ps, pass as u32, previous.as_ref()).unwrap();
            for b in 0..p.groups() {
                let one = membw::output(key, &p, &perm, pass as u32, b).unwrap();
                assert_eq!(&out[b as usize * 8..b as usize * 8 + 8], &one.to_le_bytes());
            }
            previous = Some(*blake3::hash(out).as_bytes());
        }
        let roots = membw::roots(&[8; 32], &p, &[9; 32]).unwrap();
        assert_eq!(
            roots,
            outputs.iter().map(|o| blake3::hash(o)).collect::<Vec<_>>()
        );
    }
}

#[test]
fn fill_block_chains_philox() {
    let key = prf::key(&[4; 32], 0);
    let x0 = prf::philox4x32_10(key, [9, 0, membw::FILL_ID, 0]);
    let x2 = prf::philox4x32_10(key, prf::philox4x32_10(key, x0));
    assert_eq!(membw::fill_block(key, 2, 9), prf::block_bytes(x2));
}

/// The worked example of the module docs: V = 1024, g = 256, R = 1, P = 2, counting seed,
/// phase nonce `20 21 … 3f`.
#[test]
fn worked_example() {
    let seed: [u8; 32] = core::array::from_fn(|i| i as u8);
    let p = MembwParams {
        bytes: 1024,
        group: 256,
        rounds: 1,
        passes: 2,
    };
    let key = prf::key(&seed, membw::STREAM);
    assert_eq!(key, [0xec23f654, 0x4604376d]);
    let buffer = membw::fill(key, &p).unwrap();
    let block0 = prf::philox4x32_10(key, prf::philox4x32_10(key, [0, 0, 0, 0]));
    assert_eq!(&buffer[..16], &prf::block_bytes(block0));
    let nonce: [u8; 32] = core::array::from_fn(|i| 0x20 + i as u8);
    let ps = prf::phase_seed(&seed, 1, &nonce);
    let mut material = blake3::Hasher::new_derive_key("gpuproof v2 phase seed");
    material
        .update(&seed)
        .update(&1u32.to_le_bytes())
        .update(&nonce);
    assert_eq!(&ps, material.finalize().as_bytes());
    let perm = Permutation::for_pass(&p, &ps, 0, None).unwrap();
    assert_eq!(perm.half_bits(), 1);
    assert_eq!(perm, Permutation::new(4, 0, &ps).unwrap());
    let outputs = membw::passes(&p, &buffer, &ps).unwrap();
    assert_eq!(outputs[0].len(), 32);
    let perm1 =
        Permutation::for_pass(&p, &ps, 1, Some(blake3::hash(&outputs[0]).as_bytes())).unwrap();
    let b = 2u64;
    let (gb, gp) = (&buffer[512..768], perm1.apply(b) as usize);
    let expect = membw::fold(1, b, gb, &buffer[gp * 256..gp * 256 + 256]).unwrap();
    assert_eq!(&outputs[1][16..24], &expect.to_le_bytes());
}

#[test]
fn work_model() {
    let p = MembwParams {
        bytes: 1 << 20,
        group: 1024,
        rounds: 16,
        passes: 3,
    };
    let w = membw::work(&p);
    assert_eq!(w.ops, (1 << 20) / 16 * 17);
    assert_eq!(w.bytes, 2 * (1 << 20) * 3);
    assert_eq!(p.leaves_per_pass(), 8);
}
