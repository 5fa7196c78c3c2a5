//! `miner-host bench` end to end on the CPU backend (a real run at tiny sizes), its errors, and
//! `--backend cuda` failing cleanly where there is no GPU.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::{Command, Output};

use challenge_runtime::bench::{BenchPlan, BenchReport, GemmShape, SCHEMA};

fn miner_host(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_miner-host"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh temp dir (removed when dropped).
fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn tiny_plan() -> BenchPlan {
    BenchPlan {
        copy_bytes: 1 << 20,
        prf_bytes: 128 << 10,
        gemm: GemmShape {
            m: 32,
            n: 16,
            k: 48,
        },
        membw_bytes: 128 << 10,
        membw_group: 256,
        // A wide sweep, best of three: the fill's slope must stand out of the noise of
        // tests running side by side on two cores.
        rounds: vec![1, 64],
        hash_bytes: 64 << 10,
        repeats: 3,
    }
}

#[test]
fn a_cpu_bench_prints_and_writes_its_report() {
    let dir = temp();
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, serde_json::to_string(&tiny_plan()).unwrap()).unwrap();
    let out_file = dir.path().join("report.json");
    let bench = [
        "bench",
        "--backend",
        "cpu",
        "--threads",
        "1",
        "--plan",
        plan_file.to_str().unwrap(),
    ];
    let out = miner_host(&[&bench[..], &["--json", "--out", out_file.to_str().unwrap()]].concat());
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for step in [
        "bench: copy",
        "bench: gemm: 32 × 16 × 48",
        "bench: membw fill",
        "bench: hash",
    ] {
        assert!(
            stderr.contains(step),
            "progress should say `{step}`: {stderr}"
        );
    }
    let printed = BenchReport::from_json(&text(&out.stdout)).unwrap();
    let written = BenchReport::from_json(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(printed.to_json(), written.to_json());
    assert_eq!(printed.schema, SCHEMA);
    assert_eq!(printed.plan, tiny_plan());
    assert_eq!(printed.device_name, "cpu-reference");
    assert!(printed.gemm.tops > 0.0 && printed.copy.gbps > 0.0 && printed.hash.gbps > 0.0);

    // The table form names every figure.
    let out = miner_host(&bench);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for word in [
        "copy",
        "prf fill",
        "int8 gemm",
        "membw fill",
        "membw pass",
        "membw R",
        "blake3 tree",
    ] {
        assert!(table.contains(word), "{table}");
    }
}

#[test]
fn bad_plans_and_devices_are_refused_with_a_message() {
    let dir = temp();
    let bad = dir.path().join("bad-plan.json");
    let mut plan = tiny_plan();
    plan.gemm.k = 40;
    std::fs::write(&bad, serde_json::to_string(&plan).unwrap()).unwrap();
    let out = miner_host(&["bench", "--backend", "cpu", "--plan", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("multiples of 16"),
        "{}",
        text(&out.stderr)
    );

    let junk = dir.path().join("junk-plan.json");
    std::fs::File::create(&junk)
        .unwrap()
        .write_all(b"[1, 2]")
        .unwrap();
    let out = miner_host(&[
        "bench",
        "--backend",
        "cpu",
        "--plan",
        junk.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not a bench plan"),
        "{}",
        text(&out.stderr)
    );

    let out = miner_host(&["bench", "--backend", "cpu", "--device", "7"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no device 7"),
        "{}",
        text(&out.stderr)
    );

    let out = miner_host(&["bench", "--quick", "--plan", "x.json"]);
    assert!(!out.status.success());
}

#[test]
fn the_cuda_bench_without_a_gpu_says_so() {
    if miner_host::cuda::CudaBackend::new().is_ok() {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: a CUDA device is present (scripts/gpu-selftest runs the bench on it)"
        );
        return;
    }
    let out = miner_host(&["bench", "--quick"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no CUDA device"),
        "{}",
        text(&out.stderr)
    );
}
