//! Commit-reveal v2 hash against digests computed independently in Python:
//! `hashlib.blake2b(preimage, digest_size=32).hexdigest()` over the bytes spelled out below.

use chain::commit_reveal::{commit_hash_v2, commit_preimage_v2};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn small_commit() {
    // hotkey 0x01..0x20, netuid 1 (01 00), uids [0, 1, 2] (0c = compact 3, then LE u16s),
    // values [65535, 32768, 0], salt [1..8] (20 = compact 8), version_key 10203 (db27 LE u64).
    let hotkey: [u8; 32] = core::array::from_fn(|i| i as u8 + 1);
    let preimage = commit_preimage_v2(
        &hotkey,
        1,
        &[0, 1, 2],
        &[65535, 32768, 0],
        &[1, 2, 3, 4, 5, 6, 7, 8],
        10_203,
    );
    assert_eq!(
        hex(&preimage),
        "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\
         0100\
         0c000001000200\
         0cffff00800000\
         2001000200030004000500060007000800\
         db27000000000000"
    );
    let hash = commit_hash_v2(
        &hotkey,
        1,
        &[0, 1, 2],
        &[65535, 32768, 0],
        &[1, 2, 3, 4, 5, 6, 7, 8],
        10_203,
    );
    assert_eq!(
        hex(&hash),
        "1725770f337359c2e4311ffcee77cb84b5fd0efde323c39a22ff22b1dc2af35e"
    );
}

#[test]
fn empty_commit() {
    // Zero hotkey, netuid 0, three empty vectors (00 each), version 0.
    let preimage = commit_preimage_v2(&[0; 32], 0, &[], &[], &[], 0);
    assert_eq!(preimage, vec![0u8; 32 + 2 + 3 + 8]);
    assert_eq!(
        hex(&commit_hash_v2(&[0; 32], 0, &[], &[], &[], 0)),
        "71d89eb3a07cafb9da5952046aa3c44953306c3820d1985221f645302bc8a55b"
    );
}

#[test]
fn two_byte_length_prefix() {
    // 100 uids and 100 values: the compact length takes two bytes, (100 << 2) | 1 = 0x0191 LE.
    // Hotkey 0xaa × 32, netuid 65535, empty salt, version_key u64::MAX.
    let uids: Vec<u16> = (0..100).collect();
    let values = vec![1u16; 100];
    let preimage = commit_preimage_v2(&[0xaa; 32], 65535, &uids, &values, &[], u64::MAX);
    assert_eq!(&preimage[34..36], &[0x91, 0x01]);
    assert_eq!(preimage.len(), 32 + 2 + (2 + 200) * 2 + 1 + 8);
    assert_eq!(
        hex(&commit_hash_v2(
            &[0xaa; 32],
            65535,
            &uids,
            &values,
            &[],
            u64::MAX
        )),
        "a577c722e5793ee4e923aacbe7911f3edcea830caad3731617037dc04959f26b"
    );
}
