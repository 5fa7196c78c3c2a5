//! The checked-in vectors are fresh (regenerate with `cargo run -p challenges --example
//! gen_vectors`), and the figures docs/design.md fixes and Random123 publishes hold.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use challenges::{matmul::MatmulParams, prf};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `cargo run -p challenges --example gen_vectors`",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

#[test]
fn checked_in_vectors_are_fresh() {
    for (name, expected) in support::vectors::generate() {
        assert_eq!(
            load(name),
            expected,
            "challenges/vectors/{name} is stale: run `cargo run -p challenges --example gen_vectors` and review the diff"
        );
    }
}

fn word(v: &Value) -> u32 {
    u32::from_str_radix(v.as_str().unwrap(), 16).unwrap()
}

#[test]
fn random123_known_answers() {
    let file = load("prf.json");
    let kats = file["philox_kat"].as_array().unwrap();
    assert_eq!(kats.len(), 3);
    for kat in kats {
        let c = &kat["counter"];
        let k = &kat["key"];
        let o = &kat["output"];
        let out = prf::philox4x32_10(
            [word(&k[0]), word(&k[1])],
            [word(&c[0]), word(&c[1]), word(&c[2]), word(&c[3])],
        );
        assert_eq!(out, [word(&o[0]), word(&o[1]), word(&o[2]), word(&o[3])]);
    }
    // The same three, spelled out independently of the file.
    assert_eq!(
        prf::philox4x32_10([0, 0], [0; 4]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    assert_eq!(
        prf::philox4x32_10([u32::MAX; 2], [u32::MAX; 4]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
        prf::philox4x32_10(
            [0xa4093822, 0x299f31d0],
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

#[test]
fn design_key_vector() {
    assert_eq!(
        prf::key(&support::vectors::counting_seed(), 0),
        [0xec23f654, 0x4604376d]
    );
}

#[test]
fn design_matmul_vector() {
    let roots = challenges::matmul::roots(
        &support::vectors::counting_seed(),
        &MatmulParams {
            m: 64,
            n: 64,
            k: 64,
            count: 2,
        },
    )
    .unwrap();
    assert_eq!(&roots[0].to_hex()[..8], "f4319b06");
    assert_eq!(&roots[1].to_hex()[..8], "8966255a");
}
