//! `verifier bench` end to end through the binary, on a reduced plan of one class (a tiny
//! target: `K` = 4096, two leaves per module), so it runs in seconds. Speed is not asserted:
//! only that every leaf checked (the command fails otherwise) and the figures add up.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Output};

use serde_json::Value;
use verifier::localnet::TempDir;

const REDUCED: [&str; 10] = [
    "--class",
    "rtx-4090",
    "--target-scale",
    "0.001",
    "--openings",
    "2",
    "--samples",
    "1",
    "--repeat",
    "1",
];

fn bench(extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verifier"))
        .arg("bench")
        .args(extra)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn one_class_on_a_reduced_plan() {
    let out = bench(&[&REDUCED[..], &["--json"]].concat());
    let v = json(&out);
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(v["interval_s"], 600); // the documented default of round.interval_s
    assert_eq!(v["threads"].as_u64().unwrap() as usize, cores.min(8)); // round.concurrency = 8
    let classes = v["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 1);
    let c = &classes[0];
    assert_eq!(c["class"], "rtx-4090");
    // A reduced plan: the full one has K = 65 536 (benches/README.md).
    let k = c["matmul"]["k"].as_u64().unwrap();
    assert!(
        (4096..65_536).contains(&k) && k.is_multiple_of(16),
        "K = {k}"
    );
    assert_eq!(c["shape"]["openings"], 2);
    // At least rtx-4090's R in verifier/classes.toml (the sizer may take up to a quarter more).
    let rounds = c["membw"]["rounds"].as_u64().unwrap();
    assert!((163..=204).contains(&rounds), "R = {rounds}");
    let (mm, mb) = (
        c["cost"]["matmul_s"].as_f64().unwrap(),
        c["cost"]["membw_s"].as_f64().unwrap(),
    );
    let total = c["total_s"].as_f64().unwrap();
    assert!(mm > 0.0 && mb > 0.0 && (total - (mm + mb)).abs() < 1e-12);
    let threads = v["threads"].as_f64().unwrap();
    assert_eq!(
        c["gpus_per_round"].as_u64().unwrap(),
        (600.0 * threads / total).floor() as u64
    );
    let kernels = v["kernels"].as_str().unwrap();
    assert!(["avx512", "avx2", "neon", "portable"].contains(&kernels));
}

#[test]
fn the_config_sets_the_round_and_the_table_is_printed() {
    let dir = TempDir::new("bench-cli").unwrap();
    let config = dir.path().join("validator.toml");
    std::fs::write(
        &config,
        "[hotkey]\nuri = \"//Alice\"\n[miners]\nsource = \"static\"\n\
         static = [{ hotkey = \"5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty\", addr = \"127.0.0.1:1\" }]\n\
         [round]\ninterval_s = 60\nconcurrency = 1\nopenings = 3\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let reduced: Vec<&str> = REDUCED
        .iter()
        .copied()
        .filter(|a| *a != "--openings" && *a != "2")
        .collect();
    let v = json(&bench(
        &[&reduced[..], &["--config", config, "--json"]].concat(),
    ));
    assert_eq!(v["interval_s"], 60);
    assert_eq!(v["threads"], 1);
    assert_eq!(v["classes"][0]["shape"]["openings"], 3);

    let out = bench(&[&REDUCED[..], &["--config", config, "--threads", "3"]].concat());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("GPUs per round"), "{stdout}");
    assert!(stdout.contains("rtx-4090"), "{stdout}");
    assert!(stdout.contains("3 thread(s) (--threads)"), "{stdout}");
}

#[test]
fn bad_arguments_say_what_to_do() {
    let out = bench(&["--class", "no-such-gpu", "--repeat", "1"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no class `no-such-gpu`"), "{stderr}");
    assert!(stderr.contains("h100-sxm"), "{stderr}");

    let out = bench(&[&REDUCED[..], &["--threads", "0"]].concat());
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--threads must be at least 1"));

    let help = bench(&["--help"]);
    let stdout = text(&help.stdout);
    for flag in [
        "--config",
        "--class",
        "--threads",
        "--json",
        "round.concurrency",
    ] {
        assert!(stdout.contains(flag), "--help lacks {flag}: {stdout}");
    }
}
