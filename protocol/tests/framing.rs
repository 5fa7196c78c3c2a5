//! Framing: limits enforced from the header alone, truncation, garbage, buffer cap.
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
use protocol::limits::*;
use protocol::*;

fn header(tag: u8, len: u32) -> [u8; 5] {
    let [a, b, c, d] = len.to_le_bytes();
    [tag, a, b, c, d]
}

#[test]
fn over_limit_length_is_rejected_from_the_header_alone() {
    for kind in MessageKind::ALL {
        for len in [u32::MAX, (kind.max_payload() + 1) as u32] {
            let mut decoder = FrameDecoder::new();
            let err = decoder.push(&header(kind.tag(), len)).unwrap_err();
            assert_eq!(
                err,
                ProtocolError::FrameTooLarge {
                    kind,
                    len: u64::from(len),
                    max: kind.max_payload()
                }
            );
            assert_eq!(
                decoder.buffered(),
                0,
                "{kind:?}: payload buffered after a bad header"
            );
            // Fatal: the same error forever after.
            assert_eq!(decoder.push(&[0]), Err(err.clone()));
            assert_eq!(decoder.finish(), Err(err));
        }
        // Exactly at the limit is accepted (and waits for the payload).
        let mut decoder = FrameDecoder::new();
        decoder
            .push(&header(kind.tag(), kind.max_payload() as u32))
            .unwrap();
        assert!(decoder.next_frame().is_none());
    }
}

#[test]
fn header_error_is_found_even_when_payload_bytes_follow_in_the_same_push() {
    let mut decoder = FrameDecoder::new();
    let mut input = header(MessageKind::Hello.tag(), 1 << 20).to_vec();
    input.extend_from_slice(&[0u8; 1000]);
    assert!(matches!(
        decoder.push(&input),
        Err(ProtocolError::FrameTooLarge { .. })
    ));
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn unknown_tag_is_rejected_from_the_header() {
    for tag in [0u8, 18, 0x7f, 0xff] {
        let mut decoder = FrameDecoder::new();
        assert_eq!(
            decoder.push(&header(tag, 1)),
            Err(ProtocolError::UnknownFrameTag { tag })
        );
    }
}

#[test]
fn truncated_frame_waits_then_errors_at_end() {
    let frame = Message::Go(
        Signed::sign(
            &key(1),
            &Go {
                challenge_id: ChallengeId::new([1; 16]),
                prepare: Digest::new([2; 32]),
                nonce: Nonce::new([3; 32]),
            },
        )
        .unwrap(),
    )
    .encode()
    .unwrap();
    for cut in 1..frame.len() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&frame[..cut]).unwrap();
        assert!(
            decoder.next_frame().is_none(),
            "frame out after {cut} bytes"
        );
        let need = if cut < 5 { 5 } else { frame.len() as u64 };
        assert_eq!(
            decoder.finish(),
            Err(ProtocolError::TruncatedFrame {
                have: cut as u64,
                need
            })
        );
        // The rest completes it.
        decoder.push(&frame[cut..]).unwrap();
        assert!(decoder.next_frame().is_some());
        assert_eq!(decoder.finish(), Ok(()));
    }
    // A truncated payload handed straight to Message::decode is a decode error.
    let err = Message::decode(MessageKind::Go, &frame[5..frame.len() - 1]).unwrap_err();
    assert!(matches!(err, ProtocolError::Unsigned { .. }), "{err}");
}

#[test]
fn buffer_cap_refuses_without_consuming() {
    let mut decoder = FrameDecoder::with_cap(64);
    let frame = encode_frame(MessageKind::Ready, &[0u8; 40]).unwrap();
    decoder.push(&frame).unwrap();
    // 45 held; 45 more would exceed 64: refused, nothing consumed.
    assert_eq!(
        decoder.push(&frame),
        Err(ProtocolError::BufferFull {
            buffered: 45 - 5,
            incoming: 45,
            cap: 64
        })
    );
    assert!(decoder.next_frame().is_some());
    decoder.push(&frame).unwrap();
    assert_eq!(decoder.next_frame().map(|f| f.payload.len()), Some(40));
    // The cap also lowers the per-frame limit, checked from the header.
    assert_eq!(
        decoder.push(&header(MessageKind::Ready.tag(), 60)),
        Err(ProtocolError::FrameTooLarge {
            kind: MessageKind::Ready,
            len: 60,
            max: 59
        })
    );
}

#[test]
fn encode_refuses_over_limit_payloads_and_fields() {
    let err = encode_frame(MessageKind::Hello, &vec![0; MAX_SMALL_PAYLOAD + 1]).unwrap_err();
    assert!(matches!(
        err,
        ProtocolError::FrameTooLarge {
            kind: MessageKind::Hello,
            ..
        }
    ));

    let chunk = ProbeChunk {
        offset: 0,
        data: vec![0; MAX_PROBE_CHUNK_LEN + 1],
    };
    let err = Message::ProbeChunk(chunk).encode().unwrap_err();
    assert!(matches!(err, ProtocolError::Encode { .. }), "{err}");

    let opening = OpeningWire {
        output: 0,
        leaf: 0,
        chunk: vec![0; MAX_CHUNK_LEN + 1],
        path: vec![],
    };
    let openings = Openings {
        challenge: Digest::default(),
        openings: vec![opening],
    };
    assert!(Message::Openings(openings).encode().is_err());

    let commitment = Commitment {
        challenge: Digest::default(),
        roots: vec![Root::default(); MAX_ROOTS + 1],
        timings: MinerTimings::default(),
    };
    assert!(Signed::sign(&key(1), &commitment).is_err());
}

#[test]
fn over_limit_fields_are_rejected_when_decoding() {
    // A Hello with MAX_VERSIONS + 1 versions, encoded by hand (the encoder refuses it).
    use ciborium::Value;
    let versions = Value::Array(vec![Value::Integer(1.into()); MAX_VERSIONS + 1]);
    let map = Value::Map(vec![
        (Value::Text("protocol_versions".into()), versions),
        (Value::Text("abi_versions".into()), Value::Array(vec![])),
        (Value::Text("role".into()), Value::Text("miner".into())),
    ]);
    let mut payload = Vec::new();
    ciborium::into_writer(&map, &mut payload).unwrap();
    let err = Message::decode(MessageKind::Hello, &payload).unwrap_err();
    assert!(matches!(err, ProtocolError::Decode { .. }), "{err}");

    let map = Value::Map(vec![
        (Value::Text("offset".into()), Value::Integer(0.into())),
        (
            Value::Text("data".into()),
            Value::Bytes(vec![0; MAX_PROBE_CHUNK_LEN + 1]),
        ),
    ]);
    let mut payload = Vec::new();
    ciborium::into_writer(&map, &mut payload).unwrap();
    let err = Message::decode(MessageKind::ProbeChunk, &payload).unwrap_err();
    assert!(matches!(err, ProtocolError::Decode { .. }), "{err}");
}

#[test]
fn decode_refuses_payload_over_the_kind_limit() {
    let err = Message::decode(MessageKind::Ready, &vec![0; MAX_SMALL_PAYLOAD + 1]).unwrap_err();
    assert!(matches!(err, ProtocolError::FrameTooLarge { .. }));
}

/// The largest value each field limit allows still fits its frame.
#[test]
fn limits_fit() {
    let k = key(1);
    let max_u64 = u64::MAX;
    let prepare = Prepare {
        protocol_version: u16::MAX,
        abi_version: u16::MAX,
        challenge_id: ChallengeId::default(),
        validator: Hotkey::default(),
        miner: Hotkey::default(),
        module_hash: ModuleHash::default(),
        module_bytes: Some(vec![0xff; MAX_MODULE_LEN]),
        params: vec![0xff; MAX_PARAMS_LEN],
        device: u32::MAX,
        expires_at_ms: max_u64,
    };
    let node = NodePair {
        left: [0xff; 32],
        right: [0xff; 32],
    };
    let opening = OpeningWire {
        output: u32::MAX,
        leaf: max_u64,
        chunk: vec![0xff; MAX_CHUNK_LEN],
        path: vec![node; MAX_PATH_LEN],
    };
    let messages = [
        Message::Hello(Hello {
            protocol_versions: vec![u16::MAX; MAX_VERSIONS],
            abi_versions: vec![u16::MAX; MAX_VERSIONS],
            role: Role::Validator,
        }),
        Message::Prepare(Signed::sign(&k, &prepare).unwrap()),
        Message::Commitment(
            Signed::sign(
                &k,
                &Commitment {
                    challenge: Digest::default(),
                    roots: vec![Root::default(); MAX_ROOTS],
                    timings: MinerTimings {
                        total_ms: max_u64,
                        fill_ms: max_u64,
                        compute_ms: max_u64,
                        hash_ms: max_u64,
                    },
                },
            )
            .unwrap(),
        ),
        Message::PhaseDone(
            Signed::sign(
                &k,
                &PhaseDone {
                    cites: Digest::default(),
                    phase: u32::MAX,
                    roots: vec![Root::default(); MAX_ROOTS],
                },
            )
            .unwrap(),
        ),
        Message::PhaseKey(
            Signed::sign(
                &k,
                &PhaseKey {
                    cites: Digest::default(),
                    phase: u32::MAX,
                    nonce: Nonce::default(),
                },
            )
            .unwrap(),
        ),
        Message::Open(Open {
            challenge: Digest::default(),
            leaves: vec![
                LeafRef {
                    output: u32::MAX,
                    leaf: max_u64
                };
                MAX_OPEN_LEAVES
            ],
        }),
        Message::Openings(Openings {
            challenge: Digest::default(),
            openings: vec![opening; MAX_OPEN_LEAVES],
        }),
        Message::ProbeChunk(ProbeChunk {
            offset: max_u64,
            data: vec![0; MAX_PROBE_CHUNK_LEN],
        }),
        Message::ProbeRequest(ProbeRequest {
            direction: ProbeDirection::VerifierToMiner,
            bytes: max_u64,
            streams: u16::MAX,
            seed: Nonce::default(),
        }),
        Message::ProbeTicket(ProbeTicket {
            port: u16::MAX,
            tokens: vec![Nonce::new([0xff; 32]); MAX_PROBE_STREAMS],
        }),
        Message::Error(ErrorMsg::new(
            ErrorCode::UnexpectedMessage,
            "x".repeat(MAX_DETAIL_LEN),
        )),
    ];
    for msg in messages {
        let payload = msg.encode_payload().unwrap();
        let kind = msg.kind();
        assert!(
            payload.len() <= kind.max_payload(),
            "{kind:?}: {} > {}",
            payload.len(),
            kind.max_payload()
        );
        assert_eq!(through_decoder(&msg.encode().unwrap(), 5), msg);
    }
}

/// A ticket with more tokens than a probe may have streams is refused both ways.
#[test]
fn a_ticket_over_the_stream_limit_is_refused() {
    let ticket = ProbeTicket {
        port: 1,
        tokens: vec![Nonce::default(); MAX_PROBE_STREAMS + 1],
    };
    assert!(Message::ProbeTicket(ticket.clone()).encode().is_err());
    let mut ok = ticket;
    ok.tokens.truncate(MAX_PROBE_STREAMS);
    let mut payload = Message::ProbeTicket(ok).encode_payload().unwrap();
    assert!(Message::decode(MessageKind::ProbeTicket, &payload).is_ok());
    // The CBOR array header of 8 tokens is 0x88; announce 9 (0x89) and add one more.
    let at = payload.iter().position(|b| *b == 0x88).unwrap();
    payload[at] = 0x89;
    payload.extend_from_slice(&[0x58, 32]);
    payload.extend_from_slice(&[0; 32]);
    assert!(Message::decode(MessageKind::ProbeTicket, &payload).is_err());
}

proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut decoder = FrameDecoder::new();
        let _ = decoder.push(&bytes);
        while let Some(frame) = decoder.next_frame() {
            let _ = frame.decode();
        }
        let _ = decoder.finish();
        for kind in MessageKind::ALL {
            if let Ok(msg) = Message::decode(kind, &bytes) {
                // Whatever decodes re-encodes, and signed ones can be checked without panic.
                let _ = msg.encode();
                match msg {
                    Message::Prepare(s) => { let _ = s.verify(); }
                    Message::Go(s) => { let _ = s.verify(); }
                    Message::Commitment(s) => { let _ = s.verify(); }
                    Message::PhaseDone(s) => { let _ = s.verify(); }
                    Message::PhaseKey(s) => { let _ = s.verify(); }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn garbage_after_a_valid_tag_never_panics(
        kind in proptest::sample::select(&MessageKind::ALL[..]),
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let frame = encode_frame(kind, &body).unwrap();
        let mut decoder = FrameDecoder::new();
        decoder.push(&frame).unwrap();
        let got = decoder.next_frame().unwrap();
        prop_assert_eq!(&got.payload, &body);
        let _ = got.decode();
    }

    #[test]
    fn mutated_valid_frames_never_panic(msg in arb_message(), edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut frame = msg.encode().unwrap();
        for (pos, byte) in edits {
            let i = pos % frame.len();
            frame[i] = byte;
        }
        let mut decoder = FrameDecoder::new();
        if decoder.push(&frame).is_ok() {
            while let Some(f) = decoder.next_frame() {
                let _ = f.decode();
            }
            let _ = decoder.finish();
        }
    }
}

/// A verifier's decoder (for a miner peer) refuses a `Prepare` header, even one within the
/// Prepare limit, before a payload byte is pushed; it holds only header bytes until then.
#[test]
fn decoder_for_a_miner_refuses_prepare_from_the_header() {
    let mut decoder = FrameDecoder::for_peer(Role::Miner);
    assert_eq!(decoder.accepted(), KindSet::MINER_SENDS);
    let prepare = header(MessageKind::Prepare.tag(), MAX_PREPARE_PAYLOAD as u32);
    decoder.push(&prepare[..4]).unwrap();
    assert_eq!(decoder.buffered(), 4, "only the header bytes are held");
    let err = decoder.push(&prepare[4..]).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::UnexpectedKind {
            kind: MessageKind::Prepare,
            accepted: KindSet::MINER_SENDS,
        }
    );
    assert_eq!(err.code(), ErrorCode::UnexpectedMessage);
    assert!(
        err.to_string().starts_with("Prepare frame refused"),
        "{err}"
    );
    assert_eq!(decoder.buffered(), 0);
    // Fatal: the payload that follows is never taken.
    assert_eq!(decoder.push(&[0u8; 1024]), Err(err.clone()));
    assert_eq!(decoder.buffered(), 0);
    assert_eq!(decoder.finish(), Err(err));
}

#[test]
fn decoder_for_a_miner_accepts_a_commitment() {
    let commitment = Commitment {
        challenge: Digest::new([4; 32]),
        roots: vec![Root::new([5; 32]); 3],
        timings: MinerTimings::default(),
    };
    let signed = Signed::sign(&key(2), &commitment).unwrap();
    let frame = Message::Commitment(signed.clone()).encode().unwrap();
    let mut decoder = FrameDecoder::for_peer(Role::Miner);
    decoder.push(&frame).unwrap();
    decoder.finish().unwrap();
    let got = decoder.next_frame().unwrap();
    assert_eq!(got.kind, MessageKind::Commitment);
    assert_eq!(got.decode().unwrap(), Message::Commitment(signed));
}

/// For both roles: every kind the peer sends passes the header check (a frame at its kind's
/// limit waits for its payload); every other kind is refused with nothing buffered, even when
/// its payload arrives in the same push.
#[test]
fn decoder_for_a_peer_admits_exactly_the_kinds_it_sends() {
    for role in [Role::Miner, Role::Validator] {
        let sends = KindSet::sent_by(role);
        for kind in MessageKind::ALL {
            let mut decoder = FrameDecoder::for_peer(role);
            let mut input = header(kind.tag(), kind.max_payload() as u32).to_vec();
            input.extend_from_slice(&[0u8; 100]);
            let result = decoder.push(&input);
            if sends.contains(kind) {
                assert_eq!(result, Ok(()), "{role:?} sends {kind:?}");
                assert_eq!(decoder.buffered(), 100);
            } else {
                assert_eq!(
                    result,
                    Err(ProtocolError::UnexpectedKind {
                        kind,
                        accepted: sends
                    }),
                    "{role:?} never sends {kind:?}"
                );
                assert_eq!(decoder.buffered(), 0);
            }
        }
    }
}

#[test]
fn restriction_applies_from_the_next_header_and_defaults_to_every_kind() {
    assert_eq!(FrameDecoder::new().accepted(), KindSet::ALL);
    assert_eq!(FrameDecoder::with_cap(64).accepted(), KindSet::ALL);
    assert_eq!(FrameDecoder::new().failure(), None);
    let ready = encode_frame(MessageKind::Ready, &[]).unwrap();
    let ping = encode_frame(MessageKind::Ping, &[0xa0]).unwrap();
    let mut decoder = FrameDecoder::new();
    decoder.push(&ping[..5]).unwrap();
    // The Ping's header was checked before the restriction: its payload still completes it.
    decoder.set_accepting(KindSet::of(&[MessageKind::Ready]));
    decoder.push(&ping[5..]).unwrap();
    decoder.push(&ready).unwrap();
    assert_eq!(decoder.next_frame().unwrap().kind, MessageKind::Ping);
    assert_eq!(decoder.next_frame().unwrap().kind, MessageKind::Ready);
    assert!(matches!(
        decoder.push(&ping),
        Err(ProtocolError::UnexpectedKind {
            kind: MessageKind::Ping,
            ..
        })
    ));
    // A frame completed before a refused header in the same push can still be taken.
    let mut decoder = FrameDecoder::for_peer(Role::Miner);
    let mut input = ready.clone();
    input.extend_from_slice(&ping);
    assert!(decoder.push(&input).is_err());
    assert!(matches!(
        decoder.failure(),
        Some(ProtocolError::UnexpectedKind { .. })
    ));
    assert_eq!(decoder.next_frame().unwrap().kind, MessageKind::Ready);
    assert!(decoder.next_frame().is_none());
    // The empty set admits nothing.
    let mut decoder = FrameDecoder::accepting(KindSet::EMPTY);
    assert!(decoder.push(&ready).is_err());
}
