//! Regenerates the checked-in vector files in `challenges/vectors/` from the CPU reference.
//!
//! Run `cargo run -p challenges --example gen_vectors` after a deliberate spec change; the
//! `vectors` test fails whenever a file no longer matches what this writes.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

#[path = "../tests/support/vectors.rs"]
mod vectors;

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors");
    std::fs::create_dir_all(&dir).expect("create challenges/vectors");
    for (name, value) in vectors::generate() {
        let text = serde_json::to_string_pretty(&value).expect("serialise") + "\n";
        std::fs::write(dir.join(name), text).expect("write vector file");
        println!("wrote {}", dir.join(name).display());
    }
}
