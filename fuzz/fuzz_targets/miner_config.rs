//! Fuzzes `miner_host::serve::MinerConfig::parse(&str)` (the parser behind `MinerConfig::load`)
//! with arbitrary UTF-8, and checks an accepted config against what `miner-host serve` then
//! does with it.
//!
//! Asserts: never a panic; an accepted config passes again the checks `parse` made (one hotkey
//! source, an address to publish, a valid access list, a known backend); its server limits have
//! at least one connection; every timeout can be added to `Instant::now()` (the probe listener
//! does `Instant::now() + message_timeout`, `serve/probe.rs`); the certificate validity in
//! seconds fits a `u64` (`main.rs` computes `certificate_validity_h.max(1) * 3600`); parsing
//! is deterministic.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use miner_host::serve::MinerConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match MinerConfig::parse(text) {
        Ok(config) => config,
        Err(e) => return gpuproof_fuzz::debug(|| format!("rejected: {e}")),
    };
    if let Err(e) = config.hotkey.source() {
        panic!("an accepted config has no hotkey source: {e}");
    }
    if let Err(e) = config.external_addr() {
        panic!("an accepted config has no address to publish: {e}");
    }
    if let Err(e) = transport::AllowList::parse(&config.access.allow, &config.access.deny) {
        panic!("an accepted config has a bad access list: {e}");
    }
    assert!(matches!(config.backend.kind.as_str(), "cpu" | "cuda"));
    let limits = config.limits.to_limits();
    assert!(limits.max_connections >= 1);
    let now = Instant::now();
    for (what, timeout) in [
        ("handshake_timeout_s", limits.handshake_timeout),
        ("message_timeout_s", limits.message_timeout),
    ] {
        assert!(
            now.checked_add(timeout).is_some(),
            "[limits] {what} is accepted but Instant::now() + it overflows"
        );
    }
    assert!(
        config
            .limits
            .certificate_validity_h
            .max(1)
            .checked_mul(3600)
            .is_some(),
        "[limits] certificate_validity_h is accepted but its seconds overflow a u64"
    );
    assert!(
        MinerConfig::parse(text).is_ok(),
        "parse is not deterministic"
    );
});
