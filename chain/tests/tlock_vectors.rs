//! Timelock vectors (`vectors/tlock.json`, sources named there): real drand quicknet round
//! signatures, our ciphertext for round 1000, and ciphertexts made by the reference client
//! (PyPI `bittensor-drand` 2.0.0). No Python needed: `tlock_crosscheck.rs` does the live check.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use chain::commit_reveal::{
    TimelockContext, TimelockedCommitError, WeightsTlockPayload, timelocked_commit,
};
use chain::reveal_round::{EpochSchedule, StatefulSchedule};
use chain::tlock::{
    CIPHERTEXT_OVERHEAD, Ciphertext, QUICKNET_CHAIN_HASH, QUICKNET_GENESIS_TIME,
    QUICKNET_PUBLIC_KEY, RoundSignature, TlockError, TlockRandomness, decrypt_with_signature,
    encrypt, verify_round_signature,
};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/tlock.json")).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn signature(v: &Value, round: u64) -> RoundSignature {
    bytes(&v["signatures"][round.to_string()])
        .try_into()
        .unwrap()
}

fn payload(v: &Value) -> WeightsTlockPayload {
    let p = &v["payload"];
    let list = |k: &str| -> Vec<u16> {
        p[k].as_array()
            .unwrap()
            .iter()
            .map(|x| u16::try_from(x.as_u64().unwrap()).unwrap())
            .collect()
    };
    WeightsTlockPayload {
        hotkey: bytes(&p["hotkey"]).try_into().unwrap(),
        uids: list("uids"),
        values: list("values"),
        version_key: p["version_key"].as_u64().unwrap(),
    }
}

fn fixed_randomness(v: &Value) -> TlockRandomness {
    TlockRandomness::from_bytes(bytes(&v["ours"]["randomness"]).try_into().unwrap())
}

#[test]
fn constants_are_drand_quicknets() {
    assert_eq!(
        hex::encode(QUICKNET_PUBLIC_KEY),
        "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a"
    );
    assert_eq!(
        hex::encode(QUICKNET_CHAIN_HASH),
        "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
    );
    assert_eq!(QUICKNET_GENESIS_TIME, 1_692_803_367);
}

/// The signatures are real: each verifies against the quicknet key for its own round and no
/// other. This also pins our hash to G1 (RFC 9380, quicknet's DST) to drand's.
#[test]
fn round_signatures_verify_against_the_quicknet_key() {
    let v = vectors();
    for round in [1000, 1001, 1002] {
        let sig = signature(&v, round);
        for other in [999, 1000, 1001, 1002, 1003] {
            assert_eq!(
                verify_round_signature(other, &sig),
                other == round,
                "signature of {round} checked as round {other}"
            );
        }
    }
    let mut bad = signature(&v, 1000);
    bad[47] ^= 1;
    assert!(!verify_round_signature(1000, &bad));
}

#[test]
fn payload_scale_encoding_is_the_vector() {
    let v = vectors();
    let p = payload(&v);
    assert_eq!(p.encode(), bytes(&v["payload"]["scale"]));
    assert_eq!(WeightsTlockPayload::decode(&p.encode()).unwrap(), p);
    // By hand: Vec<u8> hotkey = compact(32) = 0x80 + 32 bytes; Vec<u16> = compact(n) + LE items.
    let small = WeightsTlockPayload {
        hotkey: [7; 32],
        uids: vec![3],
        values: vec![0x0102],
        version_key: 5,
    };
    let mut expected = vec![0x80];
    expected.extend([7; 32]);
    expected.extend([0x04, 0x03, 0x00, 0x04, 0x02, 0x01]);
    expected.extend(5u64.to_le_bytes());
    assert_eq!(small.encode(), expected);
    // Exact decoding: wrong hotkey length, truncation and trailing bytes are errors.
    assert!(WeightsTlockPayload::decode(&expected[..expected.len() - 1]).is_err());
    let mut trailing = expected.clone();
    trailing.push(0);
    assert!(WeightsTlockPayload::decode(&trailing).is_err());
    let mut short_key = expected.clone();
    short_key[0] = 0x7c; // compact(31)
    assert!(WeightsTlockPayload::decode(&short_key).is_err());
    // A long list exercises the two-byte compact length.
    let long = WeightsTlockPayload {
        hotkey: [1; 32],
        uids: (0..300).collect(),
        values: (0..300).rev().collect(),
        version_key: u64::MAX,
    };
    assert_eq!(WeightsTlockPayload::decode(&long.encode()).unwrap(), long);
}

#[test]
fn our_round_1000_ciphertext_is_the_committed_vector() {
    let v = vectors();
    let plaintext = bytes(&v["payload"]["scale"]);
    let ct = encrypt(&plaintext, 1000, &fixed_randomness(&v)).unwrap();
    assert_eq!(ct.len(), CIPHERTEXT_OVERHEAD + plaintext.len());
    assert_eq!(hex::encode(&ct), v["ours"]["ciphertext"].as_str().unwrap());
}

#[test]
fn our_round_1000_ciphertext_opens_with_the_round_1000_signature_only() {
    let v = vectors();
    let ct = bytes(&v["ours"]["ciphertext"]);
    let plain = decrypt_with_signature(&ct, &signature(&v, 1000)).unwrap();
    assert_eq!(plain, bytes(&v["payload"]["scale"]));
    assert_eq!(WeightsTlockPayload::decode(&plain).unwrap(), payload(&v));
    for round in [1001, 1002] {
        assert_eq!(
            decrypt_with_signature(&ct, &signature(&v, round)),
            Err(TlockError::WrongRound),
            "round {round}"
        );
    }
}

#[test]
fn bittensor_drand_ciphertexts_open_with_their_rounds_signature() {
    let v = vectors();
    let fixtures = v["bittensor_drand"].as_array().unwrap();
    assert!(!fixtures.is_empty());
    for f in fixtures {
        let round = f["round"].as_u64().unwrap();
        let ct = bytes(&f["ciphertext"]);
        // Their layout is the runtime's: it parses and re-serializes to the same bytes.
        assert_eq!(Ciphertext::from_bytes(&ct).unwrap().to_bytes(), ct);
        let plain = decrypt_with_signature(&ct, &signature(&v, round)).unwrap();
        assert_eq!(plain, bytes(&v["payload"]["scale"]), "round {round}");
        for other in [1000, 1001, 1002].into_iter().filter(|r| *r != round) {
            assert_eq!(
                decrypt_with_signature(&ct, &signature(&v, other)),
                Err(TlockError::WrongRound)
            );
        }
    }
}

#[test]
fn tampering_is_detected() {
    let v = vectors();
    let ct = bytes(&v["ours"]["ciphertext"]);
    let sig = signature(&v, 1000);
    // Body (AES ciphertext starts after U, V, W, body length and inner length: 96+40+40+8+8).
    let mut body = ct.clone();
    body[96 + 40 + 40 + 16] ^= 1;
    assert_eq!(
        decrypt_with_signature(&body, &sig),
        Err(TlockError::BodyAuthentication)
    );
    // V or W: the IBE check fails.
    for at in [96 + 8, 96 + 40 + 8] {
        let mut header = ct.clone();
        header[at] ^= 1;
        assert_eq!(
            decrypt_with_signature(&header, &sig),
            Err(TlockError::WrongRound)
        );
    }
    // U: not a point, or another point.
    let mut u = ct.clone();
    u[5] ^= 0xff;
    assert!(decrypt_with_signature(&u, &sig).is_err());
    // A signature that is not a G1 point.
    assert_eq!(
        decrypt_with_signature(&ct, &[0x11; 48]),
        Err(TlockError::InvalidSignature)
    );
}

/// The whole commit path, pure: schedule → reveal round 1000 → payload → ciphertext, which the
/// real round-1000 signature opens to the exact payload.
#[test]
fn timelocked_commit_targets_the_computed_round_and_opens_with_its_signature() {
    let v = vectors();
    let p = payload(&v);
    let schedule = EpochSchedule::Stateful(StatefulSchedule {
        tempo: 360,
        last_epoch_block: 1000,
        pending_epoch_at: 0,
        subnet_epoch_index: 7,
        blocks_since_last_step: 100,
    });
    // Reveal block 1360; 1360 + 3 − 1100 = 263 blocks of 12 s after now. Pick `now` so that the
    // target time falls 1.5 s into round 1000's period.
    let target_ms = (QUICKNET_GENESIS_TIME + 1000 * 3) * 1000 + 1500;
    let context = TimelockContext {
        schedule,
        current_block: 1100,
        reveal_period_epochs: 1,
        now_ms: target_ms - 263 * 12_000,
        block_time_ms: 12_000,
    };
    let commit = timelocked_commit(&p, &context, &fixed_randomness(&v)).unwrap();
    assert_eq!(commit.target.reveal_block, 1360);
    assert_eq!(commit.target.reveal_round, 1000);
    assert_eq!(
        hex::encode(&commit.commit),
        v["ours"]["ciphertext"].as_str().unwrap()
    );
    let plain = decrypt_with_signature(&commit.commit, &signature(&v, 1000)).unwrap();
    assert_eq!(WeightsTlockPayload::decode(&plain).unwrap(), p);

    // Invalid weights and oversized commits are refused before encryption.
    let mut dup = p.clone();
    dup.uids[1] = dup.uids[0];
    assert!(matches!(
        timelocked_commit(&dup, &context, &fixed_randomness(&v)),
        Err(TimelockedCommitError::InvalidWeights(_))
    ));
    let mut short = p.clone();
    short.values.pop();
    assert!(matches!(
        timelocked_commit(&short, &context, &fixed_randomness(&v)),
        Err(TimelockedCommitError::InvalidWeights(_))
    ));
    let huge = WeightsTlockPayload {
        hotkey: p.hotkey,
        uids: (0..1200).collect(),
        values: vec![1; 1200],
        version_key: 1,
    };
    assert!(matches!(
        timelocked_commit(&huge, &context, &fixed_randomness(&v)),
        Err(TimelockedCommitError::TooLarge { .. })
    ));
}
