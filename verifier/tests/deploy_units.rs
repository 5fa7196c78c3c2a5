//! `deploy/systemd/`: both service units name the sandboxing options the deployment guide
//! promises, and `systemd-analyze verify` accepts them (with their binaries pointed at the
//! ones just built); where systemd-analyze is missing that part says "skipped".
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod process;

use std::path::{Path, PathBuf};
use std::process::Command;

use process::miner_host_bin;

fn unit(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/systemd")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every unit: restart policy, a dedicated user, and the sandboxing of deploy/README.md.
#[test]
fn both_units_restart_run_as_their_own_user_and_are_sandboxed() {
    for name in ["gpuproof-verifier.service", "gpuproof-miner-host.service"] {
        let text = unit(name);
        for line in [
            "User=gpuproof",
            "Restart=on-failure",
            "NoNewPrivileges=true",
            "ProtectSystem=strict",
            "ProtectHome=true",
            "PrivateTmp=true",
            "ReadWritePaths=/var/lib/gpuproof",
            "LimitNOFILE=",
            "WantedBy=multi-user.target",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(line)),
                "{name} lacks `{line}`"
            );
        }
    }
    assert!(unit("gpuproof-verifier.service").contains("verifier run --config"));
    assert!(unit("gpuproof-miner-host.service").contains("miner-host serve --config"));
}

#[test]
fn systemd_analyze_verifies_both_units() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: systemd-analyze not found (install systemd to check the units)"
        );
        return;
    }
    let dir = verifier::localnet::TempDir::new("units").unwrap();
    let binaries: [(&str, PathBuf); 2] = [
        (
            "/usr/local/bin/verifier",
            PathBuf::from(env!("CARGO_BIN_EXE_verifier")),
        ),
        ("/usr/local/bin/miner-host", miner_host_bin()),
    ];
    for name in ["gpuproof-verifier.service", "gpuproof-miner-host.service"] {
        let mut text = unit(name);
        for (installed, built) in &binaries {
            text = text.replace(installed, &built.display().to_string());
        }
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Lines about other units on this machine are not ours to judge.
        let ours: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
        assert!(out.status.success() && ours.is_empty(), "{name}: {stderr}");
    }
}
