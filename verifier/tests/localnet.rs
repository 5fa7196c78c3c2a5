//! `verifier localnet` end to end: real miner-host processes (some of them cheating), real
//! verifiers over QUIC through the round engine `verifier run` uses, the chain simulation.
//! Every cheater ends at zero weight and incentive, every honest miner above zero with a link
//! factor of 1; the JSON has the shape issue #7 pins (and issue #24's bandwidth figures);
//! `--cheaters 18` draws every adversary kind once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod process;

use std::process::Command;

use process::{miner_host_bin, one_at_a_time};

/// Runs `verifier localnet` with `args` and `--json`; the report.
fn localnet(args: &[&str]) -> serde_json::Value {
    let _alone = one_at_a_time();
    let out = Command::new(env!("CARGO_BIN_EXE_verifier"))
        .arg("localnet")
        .args(args)
        .args(["--json", "--miner-host"])
        .arg(miner_host_bin())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "localnet failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Checks the report's shape and that every cheater ends at zero and every honest miner above
/// (`modules_per_round` verdicts per validator and round for an honest miner); the number of
/// cheaters and the kinds they had.
fn check(report: &serde_json::Value, rounds: u64, verdicts_per_honest: u64) -> Vec<String> {
    assert_eq!(report["rounds"], rounds);
    assert!(report["elapsed_s"].as_f64().unwrap() > 0.0);
    let mut kinds = Vec::new();
    for m in report["miners"].as_array().unwrap() {
        for key in [
            "uid",
            "claimed_class",
            "adversary",
            "verdicts",
            "score",
            "link_factor",
            "up_mbit",
            "down_mbit",
            "weight",
            "incentive",
        ] {
            assert!(m.get(key).is_some(), "{key} missing in {m}");
        }
        let verdicts = m["verdicts"].as_object().unwrap();
        if m["adversary"].is_null() {
            assert_eq!(m["claimed_class"], "cpu-reference", "{m}");
            assert_eq!(
                verdicts.get("pass").and_then(|v| v.as_u64()),
                Some(verdicts_per_honest),
                "{m}"
            );
            assert!(m["weight"].as_f64().unwrap() > 0.0, "{m}");
            assert!(m["incentive"].as_f64().unwrap() > 0.0, "{m}");
            // Loopback is far above the 100 Mbit/s floor (or bandwidth is not scored).
            assert_eq!(m["link_factor"].as_f64(), Some(1.0), "{m}");
        } else {
            kinds.push(m["adversary"].as_str().unwrap().to_string());
            assert_eq!(m["weight"].as_f64().unwrap(), 0.0, "{m}");
            assert_eq!(m["incentive"].as_f64().unwrap(), 0.0, "{m}");
            assert_eq!(m["score"].as_f64().unwrap(), 0.0, "{m}");
        }
    }
    kinds
}

#[test]
fn cheaters_end_at_zero_and_honest_miners_above() {
    let report = localnet(&[
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
    ]);
    assert_eq!(report["miners"].as_array().unwrap().len(), 4);
    // 2 validators × 2 rounds × 2 modules.
    assert_eq!(check(&report, 2, 8).len(), 2);
}

#[test]
fn every_adversary_kind_at_once_earns_nothing() {
    // 18 cheaters: every kind once (they are drawn in turn), beside one honest miner.
    let report = localnet(&[
        "--miners",
        "19",
        "--cheaters",
        "18",
        "--rounds",
        "2",
        "--validators",
        "1",
        "--probe-mib",
        "0",
        "--min-link-mbps",
        "0",
    ]);
    let mut kinds = check(&report, 2, 4);
    kinds.sort();
    let mut want: Vec<String> = verifier::localnet::CHEATER_KINDS
        .iter()
        .map(|k| verifier::localnet::adversary_argument(k, 1))
        .chain([verifier::localnet::RENTED_INFLATE.to_string()])
        .collect();
    want.sort();
    assert_eq!(kinds, want);
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
