//! PrepareGate: the miner's admission of a signed Prepare (sans-IO, time passed in).
// Test code: a failed unwrap or panic is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::key;
use protocol::*;

const NOW: u64 = 1_700_000_000_000;

struct Fixture {
    gate: PrepareGate,
    validator_key: ed25519_dalek::SigningKey,
    sender: Sender,
}

fn fixture(policy: GatePolicy) -> Fixture {
    let validator_key = key(10);
    let sender = Sender {
        session_key: SessionKey::of(&validator_key),
        hotkey: Hotkey::new([0xaa; 32]),
    };
    let versions = Negotiated {
        protocol_version: PROTOCOL_VERSION,
        abi_version: ABI_VERSION,
    };
    Fixture {
        gate: PrepareGate::new(Hotkey::new([0xbb; 32]), versions, policy),
        validator_key,
        sender,
    }
}

fn prepare(id: u8) -> Prepare {
    let module = b"\0asm fake module".to_vec();
    Prepare {
        protocol_version: PROTOCOL_VERSION,
        abi_version: ABI_VERSION,
        challenge_id: ChallengeId::new([id; 16]),
        validator: Hotkey::new([0xaa; 32]),
        miner: Hotkey::new([0xbb; 32]),
        module_hash: ModuleHash::of(&module),
        module_bytes: Some(module),
        params: vec![1, 2, 3],
        device: 0,
        expires_at_ms: NOW + 30_000,
    }
}

/// Signs `p` with the fixture's validator key and runs it through the gate at `now`.
fn check(f: &mut Fixture, p: &Prepare, now: u64) -> Result<Prepare, ProtocolError> {
    let signed = Signed::sign(&f.validator_key, p).unwrap();
    f.gate.accept(&signed, &f.sender, now)
}

#[test]
fn accepts_a_good_prepare_once() {
    let mut f = fixture(GatePolicy::default());
    assert_eq!(check(&mut f, &prepare(1), NOW), Ok(prepare(1)));
    let err = check(&mut f, &prepare(1), NOW + 1).unwrap_err();
    assert!(matches!(err, ProtocolError::Replayed { .. }));
    assert_eq!(err.code(), ErrorCode::Replayed);
    // Another id is fine.
    assert!(check(&mut f, &prepare(2), NOW).is_ok());
}

/// An edit that makes a good `Prepare` bad.
type Edit = fn(&mut Prepare);

#[test]
fn refuses_each_bad_field_with_its_code() {
    let cases: [(Edit, ErrorCode); 7] = [
        (|p| p.protocol_version = 1, ErrorCode::VersionMismatch),
        (|p| p.abi_version = 0, ErrorCode::VersionMismatch),
        (
            |p| p.miner = Hotkey::new([1; 32]),
            ErrorCode::WronglyAddressed,
        ),
        (
            |p| p.validator = Hotkey::new([1; 32]),
            ErrorCode::WronglyAddressed,
        ),
        (|p| p.expires_at_ms = NOW - 5_001, ErrorCode::Expired),
        (|p| p.expires_at_ms = NOW + 200_000, ErrorCode::Expired),
        (
            |p| p.module_hash = ModuleHash::new([0; 32]),
            ErrorCode::BadModule,
        ),
    ];
    for (i, (edit, code)) in cases.into_iter().enumerate() {
        let mut f = fixture(GatePolicy::default());
        let mut p = prepare(1);
        edit(&mut p);
        let err = check(&mut f, &p, NOW).unwrap_err();
        assert_eq!(err.code(), code, "case {i}: {err}");
        // A refused prepare is not remembered: the good one still passes.
        assert!(check(&mut f, &prepare(1), NOW).is_ok(), "case {i}");
    }
}

#[test]
fn skew_tolerance_is_inclusive() {
    let mut f = fixture(GatePolicy::default());
    let mut p = prepare(1);
    p.expires_at_ms = NOW - 5_000;
    assert!(check(&mut f, &p, NOW).is_ok());
}

#[test]
fn module_hash_only_checked_when_bytes_are_sent() {
    let mut f = fixture(GatePolicy::default());
    let mut p = prepare(1);
    p.module_bytes = None;
    p.module_hash = ModuleHash::new([7; 32]);
    assert!(check(&mut f, &p, NOW).is_ok());
}

#[test]
fn wrong_session_key_is_refused() {
    let mut f = fixture(GatePolicy::default());
    let signed = Signed::sign(&key(11), &prepare(1)).unwrap();
    let err = f.gate.accept(&signed, &f.sender, NOW).unwrap_err();
    assert_eq!(err.code(), ErrorCode::BadSignature);
}

#[test]
fn replay_memory_is_bounded_and_forgets_expired() {
    let mut f = fixture(GatePolicy {
        replay_capacity: 2,
        ..GatePolicy::default()
    });
    assert!(check(&mut f, &prepare(1), NOW).is_ok());
    assert!(check(&mut f, &prepare(2), NOW).is_ok());
    let err = check(&mut f, &prepare(3), NOW).unwrap_err();
    assert_eq!(err.code(), ErrorCode::RateLimited);
    // Once the first two are past expiry + skew they are forgotten (and would be refused as
    // expired anyway), making room.
    let later = NOW + 30_000 + 5_001;
    let mut p = prepare(3);
    p.expires_at_ms = later + 10_000;
    assert!(check(&mut f, &p, later).is_ok());
    assert_eq!(f.gate.remembered(), 1);
    let err = check(&mut f, &prepare(1), later).unwrap_err();
    assert!(matches!(err, ProtocolError::Expired { .. }), "{err}");
}
