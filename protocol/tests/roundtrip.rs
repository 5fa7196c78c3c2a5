//! Every message survives encode → frame → incremental decode → (verify) unchanged.
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
use protocol::*;

/// Round-trips `msg` through a decoder split at `split`, and checks signed bodies verify back
/// to what was signed.
fn check_round_trip(msg: &Message, split: usize) {
    let frame = msg.encode().unwrap();
    assert_eq!(frame.first(), Some(&msg.kind().tag()));
    assert_eq!(frame.len(), 5 + msg.encode_payload().unwrap().len());
    let back = through_decoder(&frame, split);
    assert_eq!(&back, msg);
    // Re-encoding is byte-identical (one encoding per value).
    assert_eq!(back.encode().unwrap(), frame);
}

proptest! {
    #[test]
    fn any_message_round_trips(msg in arb_message(), split in any::<usize>()) {
        let frame_len = msg.encode().unwrap().len();
        check_round_trip(&msg, split % (frame_len + 1));
    }

    #[test]
    fn signed_prepare_verifies_to_itself(key in arb_key(), prepare in arb_prepare()) {
        let signed = Signed::sign(&key, &prepare).unwrap();
        let Message::Prepare(back) = through_decoder(&Message::Prepare(signed.clone()).encode().unwrap(), 7) else {
            panic!("wrong kind")
        };
        prop_assert_eq!(back.verify_from(&SessionKey::of(&key)).unwrap(), prepare);
        prop_assert_eq!(back.digest(), signed.digest());
    }

    #[test]
    fn signed_go_and_commitment_verify(key in arb_key(), go in arb_go(), commitment in arb_commitment()) {
        let go_signed = Signed::sign(&key, &go).unwrap();
        prop_assert_eq!(go_signed.verify().unwrap(), go);
        let c_signed = Signed::sign(&key, &commitment).unwrap();
        prop_assert_eq!(c_signed.verify().unwrap(), commitment);
        prop_assert_ne!(go_signed.digest(), c_signed.digest());
    }

    #[test]
    fn many_frames_in_one_stream(msgs in proptest::collection::vec(arb_message(), 1..6), chunk in 1usize..64) {
        let stream: Vec<u8> = msgs.iter().flat_map(|m| m.encode().unwrap()).collect();
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        for piece in stream.chunks(chunk) {
            decoder.push(piece).unwrap();
            while let Some(frame) = decoder.next_frame() {
                out.push(frame.decode().unwrap());
            }
        }
        decoder.finish().unwrap();
        prop_assert_eq!(decoder.buffered(), 0);
        prop_assert_eq!(out, msgs);
    }
}

#[test]
fn byte_fields_are_cbor_byte_strings() {
    // A Ready is a map of two byte strings: 16 and 32 bytes, each with a byte-string head
    // (0x50 = bstr(16), 0x58 0x20 = bstr(32)), never arrays of integers.
    let ready = Ready {
        challenge_id: ChallengeId::new([0xaa; 16]),
        prepare: Digest::new([0xbb; 32]),
    };
    let payload = Message::Ready(ready).encode_payload().unwrap();
    let find = |needle: &[u8]| payload.windows(needle.len()).any(|w| w == needle);
    assert!(find(&[&[0x50][..], &[0xaa; 16]].concat()));
    assert!(find(&[&[0x58, 0x20][..], &[0xbb; 32]].concat()));

    let chunk = ProbeChunk {
        offset: 0,
        data: vec![7; 300],
    };
    let payload = Message::ProbeChunk(chunk).encode_payload().unwrap();
    assert!(payload.windows(3).any(|w| w == [0x59, 0x01, 0x2c])); // bstr(300)
}

#[test]
fn byte_fields_reject_integer_arrays() {
    use ciborium::Value;
    let arr = |n: usize| Value::Array(vec![Value::Integer(1.into()); n]);
    let map = Value::Map(vec![
        (Value::Text("challenge_id".into()), arr(16)),
        (Value::Text("prepare".into()), Value::Bytes(vec![0; 32])),
    ]);
    let mut payload = Vec::new();
    ciborium::into_writer(&map, &mut payload).unwrap();
    let err = Message::decode(MessageKind::Ready, &payload).unwrap_err();
    assert!(matches!(err, ProtocolError::Decode { .. }), "{err}");
}

#[test]
fn every_error_code_round_trips_as_kebab_text() {
    for code in ALL_CODES {
        let msg = Message::Error(ErrorMsg::new(code, format!("{code:?}")));
        check_round_trip(&msg, 3);
    }
    let payload = Message::Error(ErrorMsg::new(ErrorCode::BadSignature, ""))
        .encode_payload()
        .unwrap();
    assert!(payload.windows(13).any(|w| w == b"bad-signature"));
}

#[test]
fn protocol_error_maps_to_a_code() {
    let err = ProtocolError::FrameTooLarge {
        kind: MessageKind::Go,
        len: 1 << 32,
        max: 65536,
    };
    let msg = ErrorMsg::from(&err);
    assert_eq!(msg.code, ErrorCode::Oversized);
    assert_eq!(
        msg.detail,
        "Go frame of 4294967296 bytes exceeds its limit of 65536 bytes"
    );
}
