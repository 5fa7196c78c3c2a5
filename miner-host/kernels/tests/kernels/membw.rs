//! `membw_fill`, `membw_perm` and `membw_pass` against `challenges::membw`, with passes keyed
//! by the real roots of the previous pass.

use challenges::membw::{self, MembwParams, Permutation};
use challenges::prf;
use cuda_kernels::emulated::{self, DeviceBuffer, PermArgs};

fn perm_args(perm: &Permutation, groups: u64) -> PermArgs {
    PermArgs {
        groups,
        half_bits: perm.half_bits(),
        round_keys: perm.round_keys(),
    }
}

/// Fills the buffer on the emulated device (in two launches, to exercise `first_block`).
fn device_fill(key: prf::PhiloxKey, params: &MembwParams, threads: u32) -> DeviceBuffer {
    let blocks = params.bytes / 16;
    let mut buf = DeviceBuffer::zeroed(params.bytes as usize);
    let split = blocks / 3;
    emulated::membw_fill(&mut buf, 0, split, params.rounds, key, threads).unwrap();
    emulated::membw_fill(&mut buf, split, blocks - split, params.rounds, key, threads).unwrap();
    buf
}

/// Root of a pass output computed from device chaining values where the output has more than
/// one chunk (the host only merges the last two), `blake3::hash` otherwise.
fn device_root(output: &DeviceBuffer) -> [u8; 32] {
    let len = output.len() as u64;
    if len <= 1024 {
        return *blake3::hash(&output.to_vec()).as_bytes();
    }
    let roots = crate::blake3_tree::device_levels(output, 0, len);
    roots.root
}

#[test]
fn fill_matches_at_every_round_count() {
    let seed = crate::vector_seed();
    let key = prf::key(&seed, membw::STREAM);
    for groups in [2u64, 3, 127, 128, 129] {
        for group in [128u32, 256] {
            // Every R at g = 128, one R at g = 256.
            let all: Vec<u32> = if group == 128 {
                (0..4).collect()
            } else {
                vec![groups as u32 % 4]
            };
            for rounds in all {
                let params = MembwParams {
                    bytes: groups * u64::from(group),
                    group,
                    rounds,
                    passes: 1,
                };
                let buf = device_fill(
                    key,
                    &params,
                    if groups.is_multiple_of(2) { 256 } else { 32 },
                );
                assert_eq!(
                    buf.to_vec(),
                    membw::fill(key, &params).unwrap(),
                    "{params:?}"
                );
            }
        }
    }
}

#[test]
fn worked_example_roots() {
    // challenges::membw's worked example: V = 1024, g = 256, R = 1, P = 2.
    let seed = crate::vector_seed();
    let params = MembwParams {
        bytes: 1024,
        group: 256,
        rounds: 1,
        passes: 2,
    };
    let key = prf::key(&seed, membw::STREAM);
    let buf = device_fill(key, &params, 32);
    assert_eq!(
        buf.to_vec()[..16],
        [
            0x4c, 0x93, 0xc2, 0x3c, 0x5c, 0xc9, 0xf0, 0x69, 0xb9, 0xd8, 0xc1, 0xda, 0x79, 0xea,
            0xc9, 0x72
        ]
    );
    assert!(blake3::hash(&buf.to_vec()).to_hex().starts_with("9e6b533f"));
    let mut previous: Option<[u8; 32]> = None;
    let mut roots = Vec::new();
    let nonce: [u8; 32] = core::array::from_fn(|i| 0x20 + i as u8);
    let phase_seed = prf::phase_seed(&seed, 1, &nonce);
    for pass in 0..params.passes {
        let perm = Permutation::for_pass(&params, &phase_seed, pass, previous.as_ref()).unwrap();
        let mut out = DeviceBuffer::zeroed(8 * 4);
        emulated::membw_pass(&buf, &mut out, params.group, pass, &perm_args(&perm, 4), 32).unwrap();
        if pass == 0 {
            assert_eq!(
                out.to_vec(),
                hex_bytes("b17469b55c412c0918d958ae3ced32023b92071cab34191637df2f9b0e4f8e91")
            );
        }
        let root = device_root(&out);
        roots.push(blake3::Hash::from_bytes(root).to_hex().to_string());
        previous = Some(root);
    }
    assert!(roots[0].starts_with("ab22fe98"), "{roots:?}");
    assert!(roots[1].starts_with("f282cd76"), "{roots:?}");
}

#[test]
fn passes_keyed_by_real_roots() {
    let seed = crate::noise("membw passes seed", 32).try_into().unwrap();
    let key = prf::key(&seed, membw::STREAM);
    for groups in [2u64, 3, 127, 128, 129] {
        for group in [128u32, 256] {
            let rounds = (groups as u32 + group) % 4;
            let params = MembwParams {
                bytes: groups * u64::from(group),
                group,
                rounds,
                passes: 3,
            };
            let buf = device_fill(key, &params, 256);
            let nonce = [groups as u8; 32];
            let phase_seed = prf::phase_seed(&seed, 1, &nonce);
            let want = membw::passes(&params, &buf.to_vec(), &phase_seed).unwrap();
            let mut previous: Option<[u8; 32]> = None;
            for pass in 0..params.passes {
                let perm =
                    Permutation::for_pass(&params, &phase_seed, pass, previous.as_ref()).unwrap();
                let mut out = DeviceBuffer::zeroed(8 * groups as usize);
                let threads = [256, 256, 256][pass as usize % 3];
                emulated::membw_pass(
                    &buf,
                    &mut out,
                    group,
                    pass,
                    &perm_args(&perm, groups),
                    threads,
                )
                .unwrap();
                assert_eq!(out.to_vec(), want[pass as usize], "{params:?}, pass {pass}");
                let root = device_root(&out);
                assert_eq!(root, *blake3::hash(&want[pass as usize]).as_bytes());
                previous = Some(root);
            }
            assert_eq!(
                membw::roots(&seed, &params, &nonce)
                    .unwrap()
                    .last()
                    .unwrap()
                    .as_bytes(),
                &previous.unwrap(),
            );
        }
    }
}

fn check_perm(groups: u64, pass: u32, first: u64, count: u64) {
    let perm = Permutation::new(groups, pass, format!("material {groups}").as_bytes()).unwrap();
    let mut out = DeviceBuffer::zeroed(4 * count as usize);
    emulated::membw_perm(&mut out, first, count, &perm_args(&perm, groups), 64).unwrap();
    let want: Vec<u32> = (first..first + count)
        .map(|b| perm.apply(b) as u32)
        .collect();
    assert_eq!(out.to_u32(), want, "G = {groups}, from {first}");
}

#[test]
fn permutation_on_the_device() {
    for groups in [2u64, 3, 4, 5, 127, 128, 129, 1000, 65_537] {
        check_perm(groups, 0, 0, groups.min(300));
        check_perm(groups, 5, groups - groups.min(100), groups.min(100));
    }
    for groups in [(1u64 << 31) + 3, (1 << 32) - 1, 1 << 32] {
        check_perm(groups, 1, 0, 64);
        check_perm(groups, 2, groups - 64, 64);
    }
}

#[test]
fn rejects_bad_arguments() {
    let buf = DeviceBuffer::zeroed(1024);
    let mut out = DeviceBuffer::zeroed(32);
    let good = PermArgs {
        groups: 4,
        half_bits: 1,
        round_keys: [1, 2, 3, 4],
    };
    assert!(emulated::membw_pass(&buf, &mut out, 256, 0, &good, 32).is_ok());
    let bad_half = PermArgs {
        half_bits: 17,
        ..good
    };
    assert!(emulated::membw_pass(&buf, &mut out, 256, 0, &bad_half, 32).is_err());
    let narrow = PermArgs { groups: 5, ..good };
    assert!(emulated::membw_pass(&buf, &mut out, 256, 0, &narrow, 32).is_err());
    assert!(emulated::membw_pass(&buf, &mut out, 200, 0, &good, 32).is_err());
    assert!(emulated::membw_pass(&buf, &mut out, 512, 0, &good, 32).is_err());
    assert!(emulated::membw_pass(&buf, &mut out, 256, 0, &good, 48).is_err());
}

/// Bytes from hex (test vectors).
fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}
