//! Fuzzes the protocol's frame decoder and every message decoder.
//!
//! Input: `selector ‖ rest`. The low nibble of `selector` picks a mode:
//! - even: `rest` is a byte stream fed to a `FrameDecoder` in pieces of `selector` bytes
//!   (at least 1), frames taken out as they complete;
//! - odd: `rest` is the payload of one frame of kind `MessageKind::ALL[selector / 2 % 15]`,
//!   decoded directly, so every kind (`ProbeTicket`, tag 15, included) gets payloads without
//!   the fuzzer first having to find a valid header.
//!
//! Asserts: never a panic; every decoded message re-encodes (payload and whole frame), the
//! payload decodes to the same message, the frame passes through a fresh `FrameDecoder` whole
//! and decodes to the same message again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{FrameDecoder, Message, MessageKind};

fn round_trip(message: &Message) {
    let payload = message
        .encode_payload()
        .expect("a decoded message re-encodes");
    let again = Message::decode(message.kind(), &payload).expect("a re-encoded payload decodes");
    assert_eq!(&again, message, "payload round trip changed the message");
    let frame = message.encode().expect("a decoded message re-frames");
    let mut decoder = FrameDecoder::new();
    decoder
        .push(&frame)
        .expect("a re-encoded frame is accepted");
    let frame = decoder.next_frame().expect("a re-encoded frame completes");
    assert!(decoder.next_frame().is_none(), "one frame became two");
    decoder
        .finish()
        .expect("a re-encoded frame ends on a boundary");
    assert_eq!(frame.kind, message.kind());
    assert_eq!(frame.payload, payload, "framing changed the payload");
    assert_eq!(&frame.decode().expect("the frame decodes"), message);
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 1 {
        let kind = MessageKind::ALL[usize::from(selector / 2) % MessageKind::ALL.len()];
        if let Ok(message) = Message::decode(kind, rest) {
            assert_eq!(message.kind(), kind);
            round_trip(&message);
        }
        return;
    }
    let mut decoder = FrameDecoder::new();
    for piece in rest.chunks(usize::from(selector).max(1)) {
        if decoder.push(piece).is_err() {
            return;
        }
        while let Some(frame) = decoder.next_frame() {
            assert!(frame.payload.len() <= frame.kind.max_payload());
            if let Ok(message) = frame.decode() {
                assert_eq!(message.kind(), frame.kind);
                round_trip(&message);
            }
        }
    }
    let _ = decoder.finish();
});
