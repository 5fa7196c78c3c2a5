//! `verifier calibrate` end to end: a real bench report of the CPU backend (its figures then
//! set to an H100's), compared with the class table through the binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Output};

use challenge_runtime::bench::{self, BenchPlan, BenchReport};
use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use verifier::localnet::TempDir;

fn cpu_report() -> BenchReport {
    let backend = CpuBackend::new(CpuConfig {
        devices: 1,
        threads_per_device: 1,
        memory_bytes: 64 << 20,
    })
    .unwrap();
    bench::run(&backend, 0, &BenchPlan::smoke(), &mut |_| {}).unwrap()
}

fn as_h100(mut r: BenchReport) -> BenchReport {
    r.device_name = "NVIDIA H100 80GB HBM3".into();
    r.gemm.tops = 1500.0;
    r.copy.gbps = 3000.0;
    r.membw_pass.gbps = 2600.0;
    r.hash.gbps = 900.0;
    r.membw_rounds.rounds = 25;
    r
}

fn calibrate(dir: &Path, report: &BenchReport, extra: &[&str]) -> Output {
    let file = dir.join("bench.json");
    std::fs::write(&file, report.to_json()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_verifier"))
        .arg("calibrate")
        .arg("--bench")
        .arg(&file)
        .args(extra)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn an_h100_report_is_judged_against_its_class() {
    let dir = TempDir::new("calibrate").unwrap();
    let report = as_h100(cpu_report());
    let out = calibrate(dir.path(), &report, &["--strict"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("class h100-sxm"), "{stdout}");
    assert!(stdout.contains("goal ≥ 70 %: met"), "{stdout}");
    assert!(stdout.contains("membw_rounds = 25 # measured"), "{stdout}");

    let out = calibrate(dir.path(), &report, &["--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["class"], "h100-sxm");
    assert_eq!(v["all_met"], true);
    let fraction = v["gemm"]["fraction"].as_f64().unwrap();
    assert!((fraction - 1500.0 / 1979.0).abs() < 1e-9);
    let table = verifier::classes::ClassTable::embedded().unwrap();
    let h100 = table.get("h100-sxm").unwrap();
    assert_eq!(v["membw_rounds"]["table"], h100.membw_rounds());
}

#[test]
fn strict_fails_on_a_missed_goal_and_plain_mode_only_reports_it() {
    let dir = TempDir::new("calibrate").unwrap();
    let mut report = as_h100(cpu_report());
    report.membw_pass.gbps = 2000.0; // 0.67 of the copy
    let out = calibrate(dir.path(), &report, &[]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("goal ≥ 80 %: BELOW GOAL"));
    let out = calibrate(dir.path(), &report, &["--strict"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("goal is missed"));
}

#[test]
fn unusable_input_says_what_to_do() {
    let dir = TempDir::new("calibrate").unwrap();
    let cpu = cpu_report();
    // The CPU device maps to the cpu class, which has no datasheet.
    let out = calibrate(dir.path(), &cpu, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("name a GPU class"),
        "{}",
        text(&out.stderr)
    );
    // A named GPU class works for any report.
    let out = calibrate(dir.path(), &cpu, &["--class", "l4"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = calibrate(dir.path(), &cpu, &["--class", "b200"]);
    assert!(text(&out.stderr).contains("no class `b200`"));
    let mut unknown = cpu.clone();
    unknown.device_name = "Some Future GPU".into();
    let out = calibrate(dir.path(), &unknown, &[]);
    assert!(
        text(&out.stderr).contains("--class"),
        "{}",
        text(&out.stderr)
    );
    // Not a report at all.
    let file = dir.path().join("not.json");
    std::fs::write(&file, "{\"schema\": 1}").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_verifier"))
        .args(["calibrate", "--bench"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("miner-host bench"),
        "{}",
        text(&out.stderr)
    );
}
