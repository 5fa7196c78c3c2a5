//! Shared by the process-level tests of the `verifier` binary.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use protocol::Hotkey;
use transport::KeySource;
use transport::identity::{hotkey_of, load_hotkey, ss58};
use verifier::localnet::{MinerProcess, start_miner};

/// The process tests of one test binary run one at a time: each runs `verifier` and miner
/// processes on `cpu-reference` devices, whose timing would suffer from another test's beside
/// it (and a calibration disturbed by another test's miners reads this machine as slower than
/// it is). Hold the guard for the whole test.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `(opt-level N)` a binary's `--version` reports.
fn opt_level(binary: &Path) -> Option<String> {
    let out = Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let level = text.split("(opt-level ").nth(1)?.split(')').next()?;
    Some(level.to_string())
}

/// `target/<profile>/miner-host`, built if it is not there yet or was built at another
/// optimisation level than the `verifier` under test.
pub fn miner_host_bin() -> PathBuf {
    let verifier = PathBuf::from(env!("CARGO_BIN_EXE_verifier"));
    let dir = verifier.parent().unwrap().to_path_buf();
    let path = dir.join(format!("miner-host{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() || opt_level(&path) != opt_level(&verifier) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            // The test profile, as the `verifier` binary under test was built: the
            // `cpu-reference` class is calibrated in one and run in the other, and a dev build
            // (opt-level 0) runs its kernels ~10× slower than a test build (opt-level 1).
            .args([
                "build",
                "--profile",
                "test",
                "-p",
                "miner-host",
                "--bin",
                "miner-host",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "cannot build the miner-host binary");
    }
    path
}

pub const VALIDATOR_URI: &str = "//ServiceTestValidator";

pub fn validator_hotkey() -> Hotkey {
    hotkey_of(&load_hotkey(&KeySource::Uri(VALIDATOR_URI.into())).unwrap())
}

/// Starts `kinds.len()` miners (None: honest) serving the test validator.
pub fn miners(dir: &Path, kinds: &[Option<&str>]) -> Vec<MinerProcess> {
    let binary = miner_host_bin();
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| start_miner(&binary, dir, i, *kind, &[validator_hotkey()]).unwrap())
        .collect()
}

/// Writes validator.toml (static miners with uids 1.., the store, a session key,
/// `cpu-reference` allowed to earn, probes of at most 1 MiB under the default 100 Mbit/s floor,
/// `miner_timeout_s = 60` unless `extra` sets it) and returns its path. `extra` goes inside
/// `[round]` and may open further tables.
pub fn write_config(dir: &Path, miners: &[MinerProcess], extra: &str) -> std::path::PathBuf {
    let key = dir.join("validator-session.key");
    transport::identity::keygen(&key, true).unwrap();
    let list: Vec<String> = miners
        .iter()
        .map(|m| {
            format!(
                "{{ hotkey = \"{}\", addr = \"{}\", uid = {} }}",
                ss58(&m.hotkey),
                m.addr,
                m.index + 1
            )
        })
        .collect();
    let timeout = if extra.contains("miner_timeout_s") {
        ""
    } else {
        "miner_timeout_s = 60\n"
    };
    let text = format!(
        "store = \"validator.sqlite\"\nsession_key = \"validator-session.key\"\n\n\
         [hotkey]\nuri = \"{VALIDATOR_URI}\"\n\n[miners]\nsource = \"static\"\nstatic = [{}]\n\n\
         [bandwidth]\nprobe_max_mib = 1\n\n\
         [round]\n{timeout}allow_cpu_reference = true\n{extra}\n",
        list.join(", ")
    );
    let path = dir.join("validator.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub fn verifier() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_verifier"));
    c.env("GPUPROOF_LOG", "info");
    c
}

pub fn spawn_run(config: &Path, rounds: u64) -> Child {
    verifier()
        .args(["run", "--rounds", &rounds.to_string(), "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn finish(child: Child, within: Duration) -> String {
    let started = Instant::now();
    let mut child = child;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(status.success(), "verifier run failed: {stderr}");
            return stderr;
        }
        if started.elapsed() > within {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "verifier run did not finish in {within:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
