//! The built modules are exactly the ones `challenges/modules/module-hashes.txt` records: the
//! build is reproducible, and a module change cannot slip through without updating the list.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

#[test]
fn built_modules_match_the_committed_hash_list() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../modules/module-hashes.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let listed: BTreeMap<&str, &str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(char::is_whitespace))
        .map(|(name, hash)| (name, hash.trim()))
        .collect();
    let built: BTreeMap<&str, String> = builtin_modules::ALL
        .iter()
        .map(|m| {
            (
                m.name,
                blake3::Hash::from_bytes(m.hash()).to_hex().to_string(),
            )
        })
        .collect();
    let actual: String = built.iter().map(|(n, h)| format!("{n} {h}\n")).collect();
    assert_eq!(
        listed,
        built
            .iter()
            .map(|(n, h)| (*n, h.as_str()))
            .collect::<BTreeMap<_, _>>(),
        "challenges/modules/module-hashes.txt is stale or the build is not reproducible; \
         if you changed a module on purpose, replace its lines with:\n{actual}"
    );
}

#[test]
fn lookups() {
    for m in builtin_modules::ALL {
        assert_eq!(builtin_modules::by_name(m.name), Some(m));
        assert_eq!(builtin_modules::by_hash(&m.hash()), Some(m));
        assert_eq!(&m.bytes[..4], b"\0asm");
    }
    assert!(builtin_modules::by_name("nope").is_none());
}
