//! A command whose reader goes away (`verifier classes audit --json | head -c 10`) ends
//! quietly with status 141 (128 + SIGPIPE), as a shell expects, not with a panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_ends_the_command_quietly_with_status_141() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_verifier"))
        .args(["classes", "audit", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the output (about 800 KB, far over a pipe's buffer) is
    // written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}
