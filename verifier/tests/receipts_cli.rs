//! Receipts through the command line, from a real `verifier run` against real `miner-host
//! serve` processes on loopback: `verifier receipts export` writes one receipt per verdict;
//! a receipt copied alone into a fresh directory passes `verifier audit` there (exit 0, no
//! network, no store); a changed one is refused naming what changed (exit 1, `--json` too);
//! `verifier receipts show` prints it; the export's filters select; and `verifier catalogue`
//! serves the same receipt bytes over HTTP, GET only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod process;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use process::{finish, miners, spawn_run, verifier, write_config};
use transport::identity::ss58;
use validator_store::{ReceiptFilter, Store};
use verifier::localnet::TempDir;

fn run(args: &[&str], cwd: &Path) -> Output {
    verifier().args(args).current_dir(cwd).output().unwrap()
}

/// `verifier receipts export --config CONFIG --out OUT`, which must succeed.
fn export(config: &Path, out: &Path, cwd: &Path) -> Output {
    let o = run(
        &[
            "receipts",
            "export",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        cwd,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    o
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The receipt files of `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "receipt"))
        .collect();
    out.sort();
    out
}

/// `GET`-style raw request; the status line and the body.
fn http(addr: SocketAddr, request: &[u8]) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = text(&out[..split]);
    let status = head.lines().next().unwrap().to_string();
    (status, out[split + 4..].to_vec())
}

/// `verifier catalogue` on `config`, with the address it printed.
fn catalogue(config: &Path) -> (Child, SocketAddr) {
    let mut child = verifier()
        .args(["catalogue", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("catalogue exited").unwrap();
        if let Some(rest) = line.split("catalogue at http://").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
    };
    (child, addr)
}

#[test]
fn receipts_of_a_real_run_audit_alone_and_changes_are_named() {
    let dir = TempDir::new("receipts-cli").unwrap();
    let ms = miners(dir.path(), &[None, None, Some("forge")]);
    // The catalogue runs inside `verifier run` too ([catalogue] listen): it answers while the
    // service runs.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let served: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = write_config(
        dir.path(),
        &ms,
        &format!(
            "concurrency = 1\ninterval_s = 1\nminer_timeout_s = 30\n\n[metrics]\nlisten = \"\"\n\n\
             [catalogue]\nlisten = \"{served}\""
        ),
    );
    let mut child = spawn_run(&config, 2);
    let mut answered = false;
    while !answered && child.try_wait().unwrap().is_none() {
        if let Ok(mut s) = TcpStream::connect(served) {
            let _ = s.write_all(b"GET /v1/machines HTTP/1.1\r\n\r\n");
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            answered = out.starts_with(b"HTTP/1.1 200 OK");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = finish(child, Duration::from_secs(600));
    assert!(log.contains("round finished"), "{log}");
    assert!(
        log.contains(&format!("catalogue at http://{served}/")),
        "{log}"
    );
    assert!(
        answered,
        "the catalogue inside verifier run answered while it ran"
    );
    drop(ms);

    // Export: one receipt per verdict row.
    let out = dir.path().join("receipts");
    let o = export(&config, &out, dir.path());
    let store = Store::open_read_only(&dir.path().join("validator.sqlite")).unwrap();
    let verdict_rows = store.verdicts(None).unwrap();
    let exported = files(&out);
    assert_eq!(exported.len(), verdict_rows.len(), "{}", text(&o.stdout));
    assert!(
        exported
            .iter()
            .any(|p| p.to_string_lossy().contains("-pass-")),
        "{exported:?}"
    );

    // One pass receipt, alone in a fresh directory: it holds there.
    let pass = exported
        .iter()
        .find(|p| p.to_string_lossy().contains("-membw-pass-"))
        .unwrap_or_else(|| panic!("no membw pass among {exported:#?}"));
    let fresh = TempDir::new("receipts-fresh").unwrap();
    let alone = fresh.path().join("one.receipt");
    std::fs::copy(pass, &alone).unwrap();
    let o = run(&["audit", "one.receipt"], fresh.path());
    assert!(
        o.status.success(),
        "{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let said = text(&o.stdout);
    assert!(said.contains("HOLDS (pass"), "{said}");
    assert!(said.contains("proven: all 32 opened leaves"), "{said}");
    assert_eq!(
        std::fs::read_dir(fresh.path()).unwrap().count(),
        1,
        "the audit wrote nothing beside the file"
    );

    // The table given with --classes, when it is the one the receipt names, is as good.
    let table = Path::new(env!("CARGO_MANIFEST_DIR")).join("classes.toml");
    let o = run(
        &["audit", "--classes", table.to_str().unwrap(), "one.receipt"],
        fresh.path(),
    );
    assert!(o.status.success(), "{}", text(&o.stdout));

    // --json for scripts.
    let o = run(&["audit", "--json", "one.receipt"], fresh.path());
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["holds"], true);
    assert_eq!(v[0]["verdict"], "pass");

    // Every receipt of the run holds (the forger's protocol-error ones prove its bad
    // signature).
    let mut args = vec!["audit".to_string()];
    args.extend(exported.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("protocol-error (BadSignature) proven"),
        "{}",
        text(&o.stdout)
    );

    // A changed byte of the signature, then of a leaf: refused, exit 1, named.
    let bytes = std::fs::read(&alone).unwrap();
    let mut changed = bytes.clone();
    let last = changed.len() - 3;
    changed[last] ^= 1;
    std::fs::write(fresh.path().join("sig.receipt"), &changed).unwrap();
    let o = run(&["audit", "--json", "sig.receipt"], fresh.path());
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["holds"], false);
    assert_eq!(v[0]["failures"][0]["check"], "validator-signature");
    let mut changed = bytes.clone();
    let middle = changed.len() / 2;
    changed[middle] ^= 1;
    std::fs::write(fresh.path().join("mid.receipt"), &changed).unwrap();
    let o = run(&["audit", "mid.receipt", "one.receipt"], fresh.path());
    assert_eq!(o.status.code(), Some(1));
    let said = text(&o.stdout);
    assert!(said.contains("mid.receipt: FAILS"), "{said}");
    assert!(said.contains("one.receipt: HOLDS"), "{said}");
    assert!(text(&o.stderr).contains("1 of 2 receipt(s) do not hold"));

    // Show.
    let o = run(&["receipts", "show", "one.receipt"], fresh.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let shown = text(&o.stdout);
    for want in [
        "verdict   pass",
        "module    membw",
        "phase-done 0 received",
        "root 0",
    ] {
        assert!(shown.contains(want), "{want:?} in\n{shown}");
    }

    // Filters.
    let forger = ss58(&transport::identity::hotkey_of(
        &transport::identity::load_hotkey(&transport::KeySource::Uri(
            verifier::localnet::miners::miner_uri(2),
        ))
        .unwrap(),
    ));
    let only = dir.path().join("only");
    let o = run(
        &[
            "receipts",
            "export",
            "--config",
            config.to_str().unwrap(),
            "--miner",
            &forger,
            "--verdict",
            "protocol-error",
            "--round",
            "1",
            "--out",
            only.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let selected = files(&only);
    let want = store
        .receipt_rows(&ReceiptFilter {
            hotkey: Some(forger.clone()),
            round_id: Some(1),
            verdict: Some(validator_store::VerdictKind::ProtocolError),
        })
        .unwrap();
    assert!(!want.is_empty());
    assert_eq!(selected.len(), want.len());
    assert!(
        selected
            .iter()
            .all(|p| p.to_string_lossy().contains(&forger))
    );
    let o = run(
        &[
            "receipts",
            "export",
            "--config",
            config.to_str().unwrap(),
            "--verdict",
            "great",
            "--out",
            "x",
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("--verdict great"));

    // The catalogue serves the same bytes, GET only, bounded.
    let (mut child, addr) = catalogue(&config);
    let id = hex_id(&alone);
    let (status, body) = http(
        addr,
        format!("GET /v1/receipts/{id} HTTP/1.1\r\n\r\n").as_bytes(),
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, bytes);
    let (status, _) = http(
        addr,
        format!("GET /v1/receipts/{} HTTP/1.1\r\n\r\n", "0".repeat(64)).as_bytes(),
    );
    assert!(status.contains("404"), "{status}");
    let (status, body) = http(
        addr,
        b"POST /v1/machines HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(status.contains("405"), "{status}");
    assert!(text(&body).contains("GET only"));
    let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
    huge.extend(vec![b'a'; 10_000]);
    huge.extend_from_slice(b"\r\n\r\n");
    let (status, _) = http(addr, &huge);
    assert!(status.contains("431"), "{status}");
    let (status, body) = http(addr, b"GET /v1/machines HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["machines"].as_array().unwrap().len(), 3);
    let _ = child.kill();
    let _ = child.wait();
}

/// The receipt id of a file: its envelope's digest, as `verifier audit --json` reports it.
fn hex_id(file: &Path) -> String {
    let o = run(
        &["audit", "--json", file.to_str().unwrap()],
        file.parent().unwrap(),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v[0]["id"].as_str().unwrap().to_string()
}

#[test]
fn audit_refuses_what_is_not_a_receipt_and_asks_for_another_class_table() {
    let dir = TempDir::new("receipts-junk").unwrap();
    std::fs::write(dir.path().join("junk.receipt"), b"hello").unwrap();
    let o = run(&["audit", "junk.receipt", "missing.receipt"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let said = text(&o.stdout);
    assert!(said.contains("[malformed]"), "{said}");
    assert!(said.contains("cannot read missing.receipt"), "{said}");
    // A --classes file that does not parse is an error before anything is audited.
    std::fs::write(dir.path().join("bad.toml"), "not = [toml").unwrap();
    let o = run(
        &["audit", "--classes", "bad.toml", "junk.receipt"],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("--classes bad.toml"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn every_receipt_of_a_round_full_of_holes_holds() {
    // Miner-level faults (an empty inventory, unknown names), a device busy past its budget,
    // a module stalled to the round's end, a hang-up after the commitment, a slow device,
    // garbage frames: every verdict's receipt audits clean, proving what the messages prove
    // and saying what rests on the validator's word.
    let dir = TempDir::new("receipts-holes").unwrap();
    let ms = miners(
        dir.path(),
        &[
            None,
            Some("empty-inventory"),
            Some("unknown-names"),
            Some("busy-forever"),
            Some("stall-last-module:3"),
            Some("hang-up"),
            Some("garbage"),
            Some("replay"),
        ],
    );
    let config = write_config(
        dir.path(),
        &ms,
        "concurrency = 1\ninterval_s = 1\nready_timeout_s = 4\nminer_timeout_s = 7\n\n\
         [metrics]\nlisten = \"\"",
    );
    let log = finish(spawn_run(&config, 1), Duration::from_secs(600));
    assert!(log.contains("round finished"), "{log}");
    drop(ms);
    let out = dir.path().join("receipts");
    export(&config, &out, dir.path());
    let exported = files(&out);
    let store = Store::open_read_only(&dir.path().join("validator.sqlite")).unwrap();
    assert_eq!(exported.len(), store.verdicts(None).unwrap().len());
    let mut args = vec!["audit".to_string(), "--json".to_string()];
    args.extend(exported.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args, dir.path());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let audits = v.as_array().unwrap();
    let failed: Vec<&serde_json::Value> = audits.iter().filter(|a| a["holds"] != true).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(o.status.success());
    let kinds: std::collections::BTreeSet<&str> = audits
        .iter()
        .filter_map(|a| a["verdict"].as_str())
        .collect();
    for want in ["pass", "protocol-error", "timeout", "wrong-result"] {
        assert!(kinds.contains(want), "no {want} receipt among {kinds:?}");
    }
}
