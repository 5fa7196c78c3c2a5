//! Signed envelopes: tampering, wrong keys, cross-type signatures and canonical bodies.
// Test code: a failed unwrap or panic is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use proptest::prelude::*;
use protocol::ed25519_dalek::{Signer, SigningKey};
use protocol::*;

fn go() -> Go {
    Go {
        challenge_id: ChallengeId::new([1; 16]),
        prepare: Digest::new([2; 32]),
        nonce: Nonce::new([3; 32]),
    }
}

/// Decodes a Go frame payload and verifies it from `expected`.
fn open_go(payload: &[u8], expected: &SessionKey) -> Result<Go, ProtocolError> {
    match Message::decode(MessageKind::Go, payload)? {
        Message::Go(signed) => signed.verify_from(expected),
        other => panic!("decoded as {:?}", other.kind()),
    }
}

#[test]
fn every_single_byte_change_is_rejected() {
    let key = key(1);
    let signer = SessionKey::of(&key);
    let payload = Signed::sign(&key, &go()).unwrap().to_bytes();
    assert_eq!(open_go(&payload, &signer).unwrap(), go());
    for i in 0..payload.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = payload.clone();
            bad[i] ^= flip;
            assert!(
                open_go(&bad, &signer).is_err(),
                "byte {i} ^ {flip:#x} accepted"
            );
        }
    }
}

#[test]
fn signer_must_be_the_expected_key() {
    let signed = Signed::sign(&key(1), &go()).unwrap();
    let other = SessionKey::of(&key(2));
    assert_eq!(
        signed.verify_from(&other),
        Err(ProtocolError::WrongSigner {
            what: "go",
            expected: other,
            got: SessionKey::of(&key(1))
        })
    );
}

/// Builds an envelope by hand: `body` signed by `signing` but claiming `signer`.
fn envelope(body: &[u8], signer: SessionKey, signature: [u8; 64]) -> Vec<u8> {
    use ciborium::Value;
    let map = Value::Map(vec![
        (Value::Text("body".into()), Value::Bytes(body.to_vec())),
        (
            Value::Text("signer".into()),
            Value::Bytes(signer.as_bytes().to_vec()),
        ),
        (
            Value::Text("signature".into()),
            Value::Bytes(signature.to_vec()),
        ),
    ]);
    let mut out = Vec::new();
    ciborium::into_writer(&map, &mut out).unwrap();
    out
}

fn sign_raw(key: &SigningKey, tag: &str, body: &[u8]) -> [u8; 64] {
    let msg = [SIGNING_PREFIX, tag.as_bytes(), &[0], body].concat();
    key.sign(&msg).to_bytes()
}

#[test]
fn signature_by_another_key_is_rejected() {
    let body = Signed::sign(&key(1), &go()).unwrap().body().to_vec();
    // Claims key 1, signed by key 2.
    let bytes = envelope(
        &body,
        SessionKey::of(&key(1)),
        sign_raw(&key(2), "go", &body),
    );
    let err = open_go(&bytes, &SessionKey::of(&key(1))).unwrap_err();
    assert!(
        matches!(err, ProtocolError::BadSignature { what: "go", .. }),
        "{err}"
    );
}

#[test]
fn signature_for_one_type_never_verifies_as_another() {
    // The strongest case: a valid Go body, correctly signed by the right key, but under
    // another type's tag (or a near miss of "go"), presented as a Go.
    let key = key(3);
    let body = Signed::sign(&key, &go()).unwrap().body().to_vec();
    for tag in [
        <Prepare as Signable>::TAG,
        <Commitment as Signable>::TAG,
        "go ",
        "g",
        "",
        "gox",
    ] {
        let bytes = envelope(&body, SessionKey::of(&key), sign_raw(&key, tag, &body));
        let err = open_go(&bytes, &SessionKey::of(&key)).unwrap_err();
        assert!(
            matches!(err, ProtocolError::BadSignature { .. }),
            "tag {tag:?}: {err}"
        );
    }
    // And the real tag works, so the test above is meaningful.
    let bytes = envelope(&body, SessionKey::of(&key), sign_raw(&key, "go", &body));
    assert_eq!(open_go(&bytes, &SessionKey::of(&key)).unwrap(), go());

    // A signed Go envelope presented in a Commitment or Prepare frame does not verify.
    let go_env = Signed::sign(&key, &go()).unwrap().to_bytes();
    match Message::decode(MessageKind::Commitment, &go_env).unwrap() {
        Message::Commitment(s) => assert!(matches!(
            s.verify(),
            Err(ProtocolError::BadSignature { .. })
        )),
        _ => unreachable!(),
    }
    match Message::decode(MessageKind::Prepare, &go_env).unwrap() {
        Message::Prepare(s) => assert!(matches!(
            s.verify(),
            Err(ProtocolError::BadSignature { .. })
        )),
        _ => unreachable!(),
    }
}

#[test]
fn tags_are_unique_and_nul_free() {
    let tags = [
        <Prepare as Signable>::TAG,
        <Go as Signable>::TAG,
        <Commitment as Signable>::TAG,
    ];
    for (i, a) in tags.iter().enumerate() {
        assert!(!a.is_empty() && !a.contains('\0'));
        for b in &tags[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn non_canonical_body_is_rejected_even_when_signed() {
    use ciborium::Value;
    // Go's fields in another order: same value, different bytes.
    let g = go();
    let map = Value::Map(vec![
        (
            Value::Text("nonce".into()),
            Value::Bytes(g.nonce.as_bytes().to_vec()),
        ),
        (
            Value::Text("prepare".into()),
            Value::Bytes(g.prepare.as_bytes().to_vec()),
        ),
        (
            Value::Text("challenge_id".into()),
            Value::Bytes(g.challenge_id.as_bytes().to_vec()),
        ),
    ]);
    let mut body = Vec::new();
    ciborium::into_writer(&map, &mut body).unwrap();
    let key = key(4);
    let bytes = envelope(&body, SessionKey::of(&key), sign_raw(&key, "go", &body));
    assert_eq!(
        open_go(&bytes, &SessionKey::of(&key)),
        Err(ProtocolError::NonCanonical { what: "go" })
    );

    // An unknown extra field is a decode error, not silently ignored.
    let map = Value::Map(vec![
        (
            Value::Text("challenge_id".into()),
            Value::Bytes(g.challenge_id.as_bytes().to_vec()),
        ),
        (
            Value::Text("prepare".into()),
            Value::Bytes(g.prepare.as_bytes().to_vec()),
        ),
        (
            Value::Text("nonce".into()),
            Value::Bytes(g.nonce.as_bytes().to_vec()),
        ),
        (Value::Text("extra".into()), Value::Integer(1.into())),
    ]);
    let mut body = Vec::new();
    ciborium::into_writer(&map, &mut body).unwrap();
    let bytes = envelope(&body, SessionKey::of(&key), sign_raw(&key, "go", &body));
    assert!(matches!(
        open_go(&bytes, &SessionKey::of(&key)),
        Err(ProtocolError::Decode { .. })
    ));
}

#[test]
fn small_order_signer_is_rejected() {
    // The identity point (small order) as a "public key": verify_strict must refuse it.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let body = Signed::sign(&key(1), &go()).unwrap().body().to_vec();
    let bytes = envelope(&body, SessionKey::new(identity), [0; 64]);
    let err = open_go(&bytes, &SessionKey::new(identity)).unwrap_err();
    assert!(
        matches!(
            err,
            ProtocolError::BadSignature { .. } | ProtocolError::InvalidSigner { .. }
        ),
        "{err}"
    );
}

#[test]
fn bare_message_in_a_signed_frame_is_unsigned() {
    let payload = Message::Ready(Ready {
        challenge_id: ChallengeId::new([0; 16]),
        prepare: Digest::new([0; 32]),
    })
    .encode_payload()
    .unwrap();
    let err = Message::decode(MessageKind::Go, &payload).unwrap_err();
    assert!(
        matches!(err, ProtocolError::Unsigned { what: "go", .. }),
        "{err}"
    );
    assert_eq!(err.code(), ErrorCode::Unsigned);
}

#[test]
fn digest_depends_on_every_field() {
    let a = Signed::sign(&key(1), &go()).unwrap();
    let b = Signed::sign(&key(2), &go()).unwrap();
    let mut g = go();
    g.nonce = Nonce::new([9; 32]);
    let c = Signed::sign(&key(1), &g).unwrap();
    assert_ne!(a.digest(), b.digest());
    assert_ne!(a.digest(), c.digest());
    assert_eq!(
        a.digest(),
        Signed::<Go>::from_bytes(&a.to_bytes()).unwrap().digest()
    );
}

proptest! {
    #[test]
    fn random_byte_edit_of_signed_commitment_is_rejected(
        key in arb_key(), c in arb_commitment(), pos in any::<usize>(), xor in 1u8..=255,
    ) {
        let signed = Signed::sign(&key, &c).unwrap();
        let mut bytes = signed.to_bytes();
        let i = pos % bytes.len();
        bytes[i] ^= xor;
        let verified = Signed::<Commitment>::from_bytes(&bytes)
            .and_then(|s| s.verify_from(&SessionKey::of(&key)));
        prop_assert!(verified.is_err());
    }
}

/// The phase messages (protocol v2) are signed like the others, and one can never pass for
/// the other or for a `Go` (each type has its own signing tag).
#[test]
fn phase_messages_are_signed_and_typed() {
    let key = key(1);
    let signer = SessionKey::of(&key);
    let done = PhaseDone {
        cites: Digest::new([4; 32]),
        phase: 0,
        roots: vec![Root::new([5; 32])],
    };
    let phase_key = PhaseKey {
        cites: Digest::new([6; 32]),
        phase: 1,
        nonce: Nonce::new([7; 32]),
    };
    let signed_done = Signed::sign(&key, &done).unwrap();
    let signed_key = Signed::sign(&key, &phase_key).unwrap();
    assert_eq!(signed_done.verify_from(&signer).unwrap(), done);
    assert_eq!(signed_key.verify_from(&signer).unwrap(), phase_key);
    // Re-labelled as another kind, the bytes do not verify (or do not decode).
    for (bytes, as_kind) in [
        (signed_done.to_bytes(), MessageKind::PhaseKey),
        (signed_key.to_bytes(), MessageKind::PhaseDone),
        (signed_key.to_bytes(), MessageKind::Go),
    ] {
        let verified = match Message::decode(as_kind, &bytes) {
            Ok(Message::PhaseKey(s)) => s.verify_from(&signer).is_ok(),
            Ok(Message::PhaseDone(s)) => s.verify_from(&signer).is_ok(),
            Ok(Message::Go(s)) => s.verify_from(&signer).is_ok(),
            Ok(other) => panic!("decoded as {:?}", other.kind()),
            Err(_) => false,
        };
        assert!(
            !verified,
            "{as_kind:?} accepted another message's signature"
        );
    }
    // A miner sends PhaseDone and never PhaseKey; a validator the other way round.
    assert!(KindSet::MINER_SENDS.contains(MessageKind::PhaseDone));
    assert!(!KindSet::MINER_SENDS.contains(MessageKind::PhaseKey));
    assert!(KindSet::VALIDATOR_SENDS.contains(MessageKind::PhaseKey));
    assert!(!KindSet::VALIDATOR_SENDS.contains(MessageKind::PhaseDone));
}

/// The envelope's keys written as byte strings decode with serde, and the body and signature
/// are untouched, so the signature would verify: only canonical envelopes are accepted, so
/// no byte of one can change unnoticed (found by the random byte-edit property above).
#[test]
fn a_non_canonical_envelope_is_refused() {
    let key = key(1);
    let bytes = Signed::sign(&key, &go()).unwrap().to_bytes();
    assert_eq!(bytes[1], 0x64, "text(4) \"body\"");
    let mut bad = bytes.clone();
    bad[1] = 0x44; // bytes(4) "body"
    let err = Signed::<Go>::from_bytes(&bad).unwrap_err();
    assert!(
        matches!(err, ProtocolError::Unsigned { what: "go", .. }),
        "{err}"
    );
    assert_eq!(open_go(&bytes, &SessionKey::of(&key)).unwrap(), go());
}
