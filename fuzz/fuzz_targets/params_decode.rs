//! Fuzzes the binary params decoders of both modules: never a panic, and whatever decodes
//! re-encodes to the same bytes.
#![no_main]

use challenges::{matmul::MatmulParams, membw::MembwParams};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = MatmulParams::decode(data) {
        assert_eq!(&p.encode()[..], data);
        let _ = challenges::matmul::work(&p);
    }
    if let Ok(p) = MembwParams::decode(data) {
        assert_eq!(&p.encode()[..], data);
        let _ = challenges::membw::work(&p);
    }
});
