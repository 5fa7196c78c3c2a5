//! `verifier localnet` end to end: real miner-host processes (two of them cheating), real
//! verifiers over QUIC, the chain simulation. Every cheater ends at zero weight and incentive,
//! every honest miner above zero; the JSON has the shape issue #7 pins.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod process;

use std::process::Command;

use process::miner_host_bin;

#[test]
fn cheaters_end_at_zero_and_honest_miners_above() {
    let out = Command::new(env!("CARGO_BIN_EXE_verifier"))
        .args([
            "localnet",
            "--miners",
            "4",
            "--cheaters",
            "2",
            "--rounds",
            "2",
            "--validators",
            "2",
            "--seed",
            "7",
            "--json",
            "--miner-host",
        ])
        .arg(miner_host_bin())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "localnet failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rounds"], 2);
    assert!(report["elapsed_s"].as_f64().unwrap() > 0.0);
    let miners = report["miners"].as_array().unwrap();
    assert_eq!(miners.len(), 4);
    let mut cheaters = 0;
    for m in miners {
        for key in [
            "uid",
            "claimed_class",
            "adversary",
            "verdicts",
            "score",
            "weight",
            "incentive",
        ] {
            assert!(m.get(key).is_some(), "{key} missing in {m}");
        }
        assert_eq!(m["claimed_class"], "cpu-reference", "{m}");
        let verdicts = m["verdicts"].as_object().unwrap();
        let total: u64 = verdicts.values().map(|v| v.as_u64().unwrap()).sum();
        // 2 validators × 2 rounds × 2 modules.
        assert_eq!(total, 8, "{m}");
        if m["adversary"].is_null() {
            assert_eq!(
                verdicts.get("pass").and_then(|v| v.as_u64()),
                Some(8),
                "{m}"
            );
            assert!(m["weight"].as_f64().unwrap() > 0.0, "{m}");
            assert!(m["incentive"].as_f64().unwrap() > 0.0, "{m}");
        } else {
            cheaters += 1;
            assert_eq!(m["weight"].as_f64().unwrap(), 0.0, "{m}");
            assert_eq!(m["incentive"].as_f64().unwrap(), 0.0, "{m}");
            assert_eq!(m["score"].as_f64().unwrap(), 0.0, "{m}");
        }
    }
    assert_eq!(cheaters, 2);
}

#[test]
fn localnet_refuses_more_cheaters_than_miners() {
    let out = Command::new(env!("CARGO_BIN_EXE_verifier"))
        .args(["localnet", "--miners", "2", "--cheaters", "3"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cheaters 3"));
}
