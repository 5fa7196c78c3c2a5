//! `miner-host run-local` end to end: the issue's command prints the reference roots and 8
//! checked openings as JSON; bad input gives a message on stderr and a non-zero exit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::Command;

const SEED: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn miner_host(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_miner-host"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn matmul_run_local_json_matches_the_reference() {
    let out = miner_host(&[
        "run-local",
        "--module",
        "matmul-i8",
        "--params",
        r#"{"m":64,"n":64,"k":64,"count":2}"#,
        "--seed",
        SEED,
        "--open",
        "8",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let seed: [u8; 32] = hex::decode(SEED).unwrap().try_into().unwrap();
    let params = challenges::matmul::MatmulParams {
        m: 64,
        n: 64,
        k: 64,
        count: 2,
    };
    let expected: Vec<String> = challenges::matmul::roots(&seed, &params)
        .unwrap()
        .iter()
        .map(|h| h.to_hex().to_string())
        .collect();
    let roots: Vec<String> = v["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(roots, expected);
    assert!(roots[0].starts_with("f4319b06") && roots[1].starts_with("8966255a"));
    assert_eq!(v["openings"]["checked"], 8);
    assert_eq!(v["openings"]["failed"], 0);
    assert_eq!(v["work"]["ops"], 2 * 64 * 64 * 64 * 2);
    assert_eq!(v["module"], hex::encode(builtin_modules::MATMUL_I8.hash()));
    assert!(v["elapsed_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn membw_run_local_text_output() {
    let out = miner_host(&[
        "run-local",
        "--module",
        "membw",
        "--params",
        r#"{"bytes":1048576,"group":1024,"rounds":2,"passes":2}"#,
        "--seed",
        SEED,
        "--open",
        "4",
        "--threads",
        "1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("root 0")
            && text.contains("root 1")
            && text.contains("openings 4 checked, 0 failed"),
        "{text}"
    );
}

#[test]
fn bad_input_fails_with_a_message() {
    for (args, needle) in [
        (
            vec![
                "run-local",
                "--module",
                "matmul-i8",
                "--params",
                r#"{"m":60,"n":64,"k":64,"count":1}"#,
                "--seed",
                SEED,
            ],
            "multiple of 16",
        ),
        (
            vec![
                "run-local",
                "--module",
                "matmul-i8",
                "--params",
                r#"{"m":64,"n":64,"k":64,"count":1}"#,
                "--seed",
                "abc",
            ],
            "--seed",
        ),
        (
            vec![
                "run-local",
                "--module",
                "/no/such.wasm",
                "--params",
                "{}",
                "--seed",
                SEED,
            ],
            "neither a built-in",
        ),
        (
            vec![
                "run-local",
                "--module",
                "matmul-i8",
                "--params",
                r#"{"m":16,"n":16,"k":16,"count":1}"#,
                "--seed",
                SEED,
                "--device",
                "5",
            ],
            "no device 5",
        ),
    ] {
        let out = miner_host(&args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "stderr for {args:?}: {err}");
    }
}

#[test]
fn cuda_backend_without_a_gpu_is_a_clear_error() {
    if miner_host::cuda::CudaBackend::new().is_ok() {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: a CUDA device is present (this test checks the no-GPU message)"
        );
        return;
    }
    let out = miner_host(&[
        "run-local",
        "--module",
        "matmul-i8",
        "--params",
        r#"{"m":16,"n":16,"k":16,"count":1}"#,
        "--seed",
        SEED,
        "--backend",
        "cuda",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no CUDA device"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
