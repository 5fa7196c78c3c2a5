//! Fuzzes the protocol's frame decoder and message decoders with arbitrary byte streams fed in
//! arbitrary pieces: never a panic, and every decoded message re-encodes and decodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{FrameDecoder, Message};

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else { return };
    let mut decoder = FrameDecoder::new();
    for piece in stream.chunks(usize::from(split).max(1)) {
        if decoder.push(piece).is_err() {
            return;
        }
        while let Some(frame) = decoder.next_frame() {
            if let Ok(message) = frame.decode() {
                let again = message.encode_payload().expect("a decoded message re-encodes");
                assert!(Message::decode(message.kind(), &again).is_ok());
            }
        }
    }
    let _ = decoder.finish();
});
