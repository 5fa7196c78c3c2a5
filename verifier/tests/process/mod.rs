//! Shared by the process-level tests of the `verifier` binary.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/miner-host`, built if it is not there yet.
pub fn miner_host_bin() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_verifier"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = dir.join(format!("miner-host{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "miner-host", "--bin", "miner-host"])
            .status()
            .unwrap();
        assert!(status.success(), "cannot build the miner-host binary");
    }
    path
}
