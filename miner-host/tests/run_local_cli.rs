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
            && text.contains("phase 1 nonce ")
            && text.contains("openings 4 checked, 0 failed"),
        "{text}"
    );
}

/// `run-local` with `--phase-nonce` reproduces every case of `challenges/vectors/membw.json`
/// (membw v2: the nonce of the verifier's `PhaseKey 1` keys the passes), and checks openings
/// of both passes with the phase seed it gives.
#[test]
fn membw_run_local_reproduces_the_v2_vectors() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../challenges/vectors/membw.json");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let nonce = case["phase_nonce"].as_str().unwrap();
        let out = miner_host(&[
            "run-local",
            "--module",
            "membw",
            "--params",
            &case["params"].to_string(),
            "--seed",
            case["seed"].as_str().unwrap(),
            "--phase-nonce",
            nonce,
            "--open",
            "4",
            "--threads",
            "1",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["roots"], case["roots"], "{case}");
        assert_eq!(v["phase_nonces"], serde_json::json!([nonce]));
        assert_eq!(v["openings"]["failed"], 0);
        assert_eq!(v["openings"]["checked"], 4);
    }
}

/// Without `--phase-nonce` the nonce is fresh OS randomness, printed so the run can be
/// reproduced: the roots are the reference's for that nonce.
#[test]
fn membw_run_local_prints_the_nonce_it_drew() {
    let params = r#"{"bytes":65536,"group":1024,"rounds":1,"passes":2}"#;
    let run = || {
        let out = miner_host(&[
            "run-local",
            "--module",
            "membw",
            "--params",
            params,
            "--seed",
            SEED,
            "--json",
        ]);
        assert!(out.status.success());
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let (a, b) = (run(), run());
    let nonce_hex = a["phase_nonces"][0].as_str().unwrap();
    assert_ne!(
        a["phase_nonces"], b["phase_nonces"],
        "a fresh nonce each run"
    );
    let seed: [u8; 32] = hex::decode(SEED).unwrap().try_into().unwrap();
    let nonce: [u8; 32] = hex::decode(nonce_hex).unwrap().try_into().unwrap();
    let p = challenges::membw::MembwParams {
        bytes: 65536,
        group: 1024,
        rounds: 1,
        passes: 2,
    };
    let expected: Vec<String> = challenges::membw::roots(&seed, &p, &nonce)
        .unwrap()
        .iter()
        .map(|h| h.to_hex().to_string())
        .collect();
    assert_eq!(a["roots"], serde_json::json!(expected));
    // A one-phase module uses none.
    let out = miner_host(&[
        "run-local",
        "--module",
        "matmul-i8",
        "--params",
        r#"{"m":32,"n":32,"k":64,"count":1}"#,
        "--seed",
        SEED,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["phase_nonces"], serde_json::json!([]));
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
                "membw",
                "--params",
                r#"{"bytes":65536,"group":1024,"rounds":1,"passes":2}"#,
                "--seed",
                SEED,
                "--phase-nonce",
                "abcd",
            ],
            "--phase-nonce must be 32 bytes",
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
