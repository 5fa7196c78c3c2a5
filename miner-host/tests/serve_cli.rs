//! The issue's two terminals, as processes: `miner-host serve` (configured by a miner.toml with
//! a keygen'd session key) and `verifier challenge --miner 127.0.0.1:PORT --json`, which must
//! give a `pass` per module for the CPU device with its measured time and envelope.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The `(opt-level N)` a binary's `--version` reports.
fn opt_level(binary: &std::path::Path) -> Option<String> {
    let out = Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let level = text.split("(opt-level ").nth(1)?.split(')').next()?;
    Some(level.to_string())
}

/// `target/<profile>/verifier`, built (with the test profile, as the miner-host under test)
/// if it is not there yet or was built at another optimisation level: the verifier calibrates
/// `cpu-reference` in its own build, and a dev build's kernels run ~10× slower than a test
/// build's.
fn verifier_bin() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_miner-host"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = dir.join(format!("verifier{}", std::env::consts::EXE_SUFFIX));
    let ours = opt_level(std::path::Path::new(env!("CARGO_BIN_EXE_miner-host")));
    if !path.exists() || opt_level(&path) != ours {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--profile",
                "test",
                "-p",
                "verifier",
                "--bin",
                "verifier",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "cannot build the verifier binary");
    }
    path
}

/// Runs `miner-host` with `args`, then `path` as the last argument, to completion.
fn miner_host(args: &[&str], path: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_miner-host"))
        .args(args)
        .arg(path)
        .output()
        .unwrap()
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_and_challenge_in_two_processes_give_a_pass_per_module() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("miner-session.key");
    let out = miner_host(&["keygen", "--out"], &key);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // //Alice's SS58 address: the only validator served.
    let config = dir.path().join("miner.toml");
    std::fs::write(
        &config,
        r#"
listen = "127.0.0.1:0"
session_key = "miner-session.key"
[hotkey]
uri = "//Bob"
[access]
allow = ["5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"]
"#,
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_miner-host"))
        .args(["serve", "--print-addr", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = Killed(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();

    let out = Command::new(verifier_bin())
        .args([
            "challenge",
            "--miner",
            &addr,
            "--json",
            "--hotkey-uri",
            "//Alice",
            "--miner-hotkey",
            "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
            "--probe-mib",
            "2",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verifier failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let devices = report["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{report}");
    assert_eq!(devices[0]["class"], "cpu-reference");
    let challenges = devices[0]["challenges"].as_array().unwrap();
    let modules: Vec<&str> = challenges
        .iter()
        .map(|c| c["module"].as_str().unwrap())
        .collect();
    assert_eq!(modules, ["matmul-i8", "membw"]);
    for c in challenges {
        let verdict = &c["verdict"];
        assert_eq!(verdict["kind"], "pass", "{c}");
        let measured = verdict["measured_s"].as_f64().unwrap();
        let window = &verdict["window"];
        assert!(measured > 0.0);
        assert!(measured <= window["max_s"].as_f64().unwrap());
        assert!(measured >= window["peak_floor_s"].as_f64().unwrap());
        assert_eq!(verdict["leaves_checked"], 32);
    }
    // The probe sizes itself from the RTT (on loopback: its 1 MiB minimum), within 2 MiB.
    let planned = report["probe_plan"]["bytes"].as_u64().unwrap();
    assert!((1..=2 << 20).contains(&planned), "{report}");
    let probes = report["probe"].as_array().unwrap();
    assert_eq!(probes.len(), 2, "{report}");
    for probe in probes {
        assert_eq!(probe["data_ok"], true, "{probe}");
        assert_eq!(probe["outcome"], "measured", "{probe}");
        assert_eq!(probe["bytes"], planned);
    }
}

#[test]
fn serve_refuses_a_bad_config_with_a_message_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("miner.toml");
    std::fs::write(
        &config,
        "[hotkey]\nuri = \"//Bob\"\n[backend]\nkind = \"tpu\"\n",
    )
    .unwrap();
    let out = miner_host(&["serve", "--config"], &config);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("backend.kind"), "{stderr}");

    std::fs::write(&config, "[hotkey]\nuri = \"//Bob\"\nlisten_on = 1\n").unwrap();
    let out = miner_host(&["serve", "--config"], &config);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listen_on"), "{stderr}");
}

#[test]
fn serve_refuses_a_world_readable_session_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    let out = miner_host(&["keygen", "--out"], &key);
    assert!(out.status.success());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let config = dir.path().join("miner.toml");
        std::fs::write(&config, "session_key = \"k\"\n[hotkey]\nuri = \"//Bob\"\n").unwrap();
        let out = miner_host(&["serve", "--config"], &config);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("chmod 600"), "{stderr}");
    }
    // keygen never overwrites without --force.
    let again = miner_host(&["keygen", "--out"], &key);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
}
