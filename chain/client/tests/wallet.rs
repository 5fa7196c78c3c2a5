//! Key loading: bittensor hotkey files written into a temporary directory, and secret URIs,
//! checked against public keys published by Substrate's `subkey` for the dev accounts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use chain_client::wallet::{
    KeySource, default_hotkey_path, keypair_from_hotkey_file, keypair_from_uri, parse_hotkey_json,
};

/// `subkey inspect //Alice`: secret seed and public key.
const ALICE_SEED: &str = "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";
const ALICE_PUBLIC: &str = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
const ALICE_SS58: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
/// The Substrate dev phrase and its public key without derivation (`subkey inspect "<phrase>"`).
const DEV_PHRASE: &str = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
const DEV_PHRASE_PUBLIC: &str = "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chain-client-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn public_hex(k: &chain_client::Keypair) -> String {
    hex::encode(k.public_key().0)
}

#[test]
fn hotkey_file_with_seed_gives_the_expected_public_key() {
    let dir = temp_dir("seed");
    let path = dir.join("default");
    let json = format!(
        r#"{{"accountId": "0x{ALICE_PUBLIC}", "publicKey": "0x{ALICE_PUBLIC}",
            "secretSeed": "{ALICE_SEED}", "ss58Address": "{ALICE_SS58}",
            "privateKey": "0x00"}}"#
    );
    std::fs::write(&path, json).expect("write hotkey file");
    let key = keypair_from_hotkey_file(&path).expect("loads");
    assert_eq!(public_hex(&key), ALICE_PUBLIC);
    let via_source = KeySource::HotkeyFile(path).load().expect("loads");
    assert_eq!(public_hex(&via_source), ALICE_PUBLIC);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn hotkey_file_with_only_a_phrase_derives_from_it() {
    let json = format!(r#"{{"secretPhrase": "{DEV_PHRASE}"}}"#);
    let key = parse_hotkey_json(&json, "h".as_ref()).expect("phrase");
    assert_eq!(public_hex(&key), DEV_PHRASE_PUBLIC);
}

#[test]
fn secret_uri_alice_is_the_well_known_key() {
    assert_eq!(
        public_hex(&keypair_from_uri("//Alice").expect("uri")),
        ALICE_PUBLIC
    );
    let same = keypair_from_uri(&format!("{DEV_PHRASE}//Alice")).expect("uri");
    assert_eq!(public_hex(&same), ALICE_PUBLIC);
    assert_eq!(
        public_hex(&keypair_from_uri(ALICE_SEED).expect("seed uri")),
        ALICE_PUBLIC
    );
    assert!(keypair_from_uri("not a uri at all").is_err());
}

#[test]
fn inconsistent_or_unusable_files_are_refused_without_leaking_secrets() {
    let path = PathBuf::from("hk");
    let wrong_public =
        format!(r#"{{"secretSeed": "{ALICE_SEED}", "publicKey": "0x{DEV_PHRASE_PUBLIC}"}}"#);
    let err = parse_hotkey_json(&wrong_public, &path).expect_err("mismatch");
    assert!(err.to_string().contains("does not match"), "{err}");
    let wrong_ss58 = format!(
        r#"{{"secretSeed": "{ALICE_SEED}", "ss58Address": "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"}}"#
    );
    assert!(parse_hotkey_json(&wrong_ss58, &path).is_err());
    for (json, needle) in [
        ("$NACL\u{1}\u{2}garbage", "encrypted"),
        (r#"{"ss58Address": "x"}"#, "no secretSeed or secretPhrase"),
        (r#"{"secretSeed": "0x1234"}"#, "32 bytes"),
        (r#"{"secretSeed": "zz"}"#, "not hex"),
        (r#"{"secretPhrase": "not twelve words"}"#, "BIP-39"),
        ("[1, 2", "not a bittensor keyfile"),
    ] {
        let err = parse_hotkey_json(json, &path).expect_err(json);
        let text = err.to_string();
        assert!(text.contains(needle), "{json}: {text}");
        assert!(!text.contains(&ALICE_SEED[2..]), "secret leaked: {text}");
    }
    let missing = keypair_from_hotkey_file("/nonexistent/chain-client/hotkey".as_ref());
    assert!(
        missing
            .expect_err("missing")
            .to_string()
            .contains("cannot read")
    );
}

#[test]
fn default_path_follows_the_sdk_layout() {
    let path = default_hotkey_path("validator", "default").expect("path");
    assert!(
        path.ends_with(".bittensor/wallets/validator/hotkeys/default"),
        "{path:?}"
    );
    assert!(default_hotkey_path("../x", "default").is_err());
    assert!(default_hotkey_path("w", "").is_err());
}
