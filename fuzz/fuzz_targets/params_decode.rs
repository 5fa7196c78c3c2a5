//! Fuzzes the binary decoders of module data: both modules' params, and the ABI records a
//! (possibly hostile) module or verifier hands the other side (`WorkRecord`, `CheckRequest`).
//! Never a panic; params and check requests that decode re-encode to the same bytes; a work
//! record that decodes re-encodes to bytes that decode to the same record.
#![no_main]

use challenges::abi::{CheckRequest, WorkRecord};
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
    if let Ok(r) = WorkRecord::decode(data) {
        let again = WorkRecord::decode(&r.encode()).expect("an encoded work record decodes");
        assert_eq!(again, r);
    }
    if let Ok(r) = CheckRequest::decode(data) {
        assert_eq!(r.encode(), data);
        for j in 0..u32::min(r.samples, 4) {
            assert!(r.sample(j, r.leaf) < r.leaf.max(1));
        }
    }
});
