//! Runs the built `verifier` binary's `yuma` subcommand on the example scenario and on broken
//! input.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_verifier");

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../chain/examples/scenario.json")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gpuproof-yuma-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn example_prints_per_epoch_result() {
    let out = Command::new(BIN)
        .arg("yuma")
        .arg("--input")
        .arg(example())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let epochs = json["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    assert_eq!(
        epochs[0]["incentive"],
        serde_json::json!([0, 0, 0, 65535, 0])
    );
    assert_eq!(
        epochs[0]["validator_permit"],
        serde_json::json!([true, true, true, false, false])
    );
}

#[test]
fn output_file_matches_stdout() {
    let path = scratch("result.json");
    let status = Command::new(BIN)
        .arg("yuma")
        .arg("--input")
        .arg(example())
        .arg("--output")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let stdout = Command::new(BIN)
        .arg("yuma")
        .arg("--input")
        .arg(example())
        .output()
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), stdout.stdout);
}

#[test]
fn broken_file_fails_with_the_field_named() {
    let path = scratch("broken.json");
    std::fs::write(
        &path,
        r#"{"n": 2, "stakes": [1, 1], "emission": 10, "hyperparameters": {"kappa": -1}, "epochs": []}"#,
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("yuma")
        .arg("--input")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hyperparameters.kappa"), "{stderr}");
}

#[test]
fn missing_file_fails() {
    let out = Command::new(BIN)
        .args(["yuma", "--input", "/nonexistent/scenario.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read scenario file"));
}

#[test]
fn help_describes_the_subcommand() {
    let out = Command::new(BIN).args(["yuma", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--input") && help.contains("--output") && help.contains("README"));
}
