//! `miner-host doctor`: a good miner.toml passes every check; each misconfiguration it is
//! given is named, with what to do, and makes it exit non-zero.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Output};

fn miner_host(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_miner-host"))
        .args(args)
        .output()
        .unwrap()
}

fn keygen(path: &Path) {
    let out = miner_host(&["keygen", "--out", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A working config in `dir`: a keygen'd key, //Bob, one 64 MiB CPU device, any free port.
fn good(dir: &Path) -> String {
    keygen(&dir.join("miner-session.key"));
    format!(
        "listen = \"127.0.0.1:0\"\nsession_key = \"{}\"\n[hotkey]\nuri = \"//Bob\"\n\
         [backend]\nkind = \"cpu\"\ncpu_devices = 1\ncpu_memory_mib = 64\n",
        dir.join("miner-session.key").display()
    )
}

/// Runs doctor on `toml`; returns (success, stdout).
fn doctor(dir: &Path, toml: &str) -> (bool, String) {
    let config = dir.join("miner.toml");
    std::fs::write(&config, toml).unwrap();
    let out = miner_host(&[
        "doctor",
        "--config",
        config.to_str().unwrap(),
        "--chain-timeout-s",
        "5",
    ]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The problem line of `topic`, with its fix: panics (showing the whole output) if absent.
fn problem<'a>(stdout: &'a str, topic: &str) -> &'a str {
    let start = stdout
        .find(&format!("PROBLEM  {topic}"))
        .unwrap_or_else(|| panic!("no problem reported for {topic}:\n{stdout}"));
    let rest = &stdout[start..];
    let end = rest
        .find("\nok ")
        .or_else(|| rest.find("\nPROBLEM"))
        .or_else(|| rest.find("\nskipped"))
        .or_else(|| rest.find("\nnote"))
        .unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn a_good_config_passes_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout) = doctor(dir.path(), &good(dir.path()));
    assert!(ok, "{stdout}");
    for line in [
        "ok       config",
        "ok       session key",
        "ok       hotkey: 5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
        "ok       backend: cpu with 1 device(s)",
        "ok       device 0: \"cpu-reference\" is class cpu-reference (64 MiB)",
        "ok       listen (UDP, QUIC)",
        "ok       listen (TCP, probe data)",
        "skipped  chain axon",
        "no problems found",
    ] {
        assert!(stdout.contains(line), "missing {line:?}:\n{stdout}");
    }
}

#[test]
fn each_misconfiguration_is_named_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let base = good(dir.path());

    // Not TOML at all.
    let (ok, out) = doctor(dir.path(), "listen = ");
    assert!(!ok);
    assert!(problem(&out, "config").contains("fix: see miner-host/miner.example.toml"));

    // The session key file is missing.
    let missing = base.replace("miner-session.key", "nowhere.key");
    let (ok, out) = doctor(dir.path(), &missing);
    assert!(!ok);
    assert!(
        problem(&out, "session key").contains("miner-host keygen --out"),
        "{out}"
    );

    // The session key is readable by others.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let open = dir.path().join("open.key");
        keygen(&open);
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (ok, out) = doctor(dir.path(), &base.replace("miner-session.key", "open.key"));
        assert!(!ok);
        assert!(
            problem(&out, "session key").contains("fix: chmod 600"),
            "{out}"
        );
    }

    // A hotkey that does not load.
    let (ok, out) = doctor(
        dir.path(),
        &base.replace("uri = \"//Bob\"", "uri = \"not a uri\""),
    );
    assert!(!ok);
    assert!(
        problem(&out, "hotkey").contains("fix: set [hotkey]"),
        "{out}"
    );

    // Less memory than the class's membw buffer needs.
    let (ok, out) = doctor(
        dir.path(),
        &base.replace("cpu_memory_mib = 64", "cpu_memory_mib = 8"),
    );
    assert!(!ok);
    assert!(
        problem(&out, "device 0").contains("less than 90 %"),
        "{out}"
    );

    // The port is taken, for UDP and for TCP.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    let tcp = std::net::TcpListener::bind(("127.0.0.1", port)).ok();
    let taken = base.replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let (ok, out) = doctor(dir.path(), &taken);
    assert!(!ok);
    assert!(
        problem(&out, "listen (UDP, QUIC)").contains("cannot bind UDP"),
        "{out}"
    );
    if tcp.is_some() {
        assert!(
            problem(&out, "listen (TCP, probe data)").contains("cannot bind TCP"),
            "{out}"
        );
    }
    drop((udp, tcp));

    // [chain] with a node that does not answer.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let chained = format!(
        "{base}[chain]\nurl = \"ws://127.0.0.1:{dead_port}\"\nnetuid = 1\n\
         external_addr = \"127.0.0.1:8091\"\n"
    );
    let (ok, out) = doctor(dir.path(), &chained);
    assert!(!ok);
    assert!(
        problem(&out, "chain axon").contains("check [chain] url"),
        "{out}"
    );

    // A backend that cannot start here (no NVIDIA driver on this machine) is named; where a
    // GPU is present the check passes instead.
    let (_, out) = doctor(
        dir.path(),
        &base.replace("kind = \"cpu\"", "kind = \"cuda\""),
    );
    if out.contains("PROBLEM  backend") {
        assert!(problem(&out, "backend").contains("kind = \"cpu\""), "{out}");
    } else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: a CUDA device is present, the cuda backend started"
        );
    }
}
