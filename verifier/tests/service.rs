//! `verifier run` as a process against real `miner-host serve` processes on loopback, with no
//! chain (static miners): rounds are recorded in the SQLite store, `/metrics` answers,
//! `status` and `report` read the store; and the crash test of issue #7: SIGKILL mid-round,
//! restart, nothing recorded lost or duplicated, `PRAGMA integrity_check` ok, the round resumes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod process;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use process::{finish, miners, one_at_a_time, spawn_run, verifier, write_config};
use transport::identity::ss58;
use validator_store::Store;
use verifier::localnet::TempDir;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn run_records_rounds_scores_cheaters_at_zero_and_serves_metrics() {
    let _alone = one_at_a_time();
    let dir = TempDir::new("service-run").unwrap();
    let miners = miners(dir.path(), &[None, None, Some("forge")]);
    let port = free_port();
    let config = write_config(
        dir.path(),
        &miners,
        &format!("concurrency = 1\ninterval_s = 1\n\n[metrics]\nlisten = \"127.0.0.1:{port}\""),
    );
    let child = spawn_run(&config, 2);
    // /metrics answers while the service runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    let page = loop {
        if let Some(page) = http_get(port, "/metrics") {
            break page;
        }
        assert!(Instant::now() < deadline, "/metrics never answered");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("# TYPE gpuproof_rounds_total counter"),
        "{page}"
    );
    let log = finish(child, Duration::from_secs(240));
    assert!(log.contains("round finished"), "{log}");

    let store = Store::open_read_only(&dir.path().join("validator.sqlite")).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let rounds = store.rounds().unwrap();
    assert_eq!(rounds.len(), 2, "{rounds:?}");
    assert!(rounds.iter().all(|r| r.finished_at.is_some()));
    // 2 rounds × 3 miners × 1 device × 2 modules.
    let verdicts = store.verdicts(None).unwrap();
    assert_eq!(verdicts.len(), 12, "{verdicts:#?}");
    let standings = store.standings().unwrap();
    assert_eq!(standings.len(), 3);
    for s in &standings {
        let cheater = s.hotkey == ss58(&miners[2].hotkey);
        if cheater {
            assert_eq!(s.score, 0.0, "{s:?}");
        } else {
            assert!(s.score > 0.0, "{s:?} {:?}", store.verdict_counts(&s.hotkey));
            // Loopback is far above the default 100 Mbit/s floor.
            assert_eq!(s.link_factor, Some(1.0), "{s:?}");
            assert!(s.up_mbit.is_some_and(|m| m > 100.0), "{s:?}");
        }
    }
    let submissions = store.submissions().unwrap();
    assert_eq!(submissions.len(), 2, "{submissions:?}");
    let last = submissions.last().unwrap();
    assert_eq!(
        (last.method, last.outcome.as_str()),
        (validator_store::SubmissionMethod::Local, "ok")
    );
    assert_eq!(last.uids, vec![1, 2], "honest uids only: {last:?}");
    drop(store);

    let status = verifier()
        .args(["status", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["rounds"], 2);
    assert_eq!(status["miners"].as_array().unwrap().len(), 3);
    for m in status["miners"].as_array().unwrap() {
        for key in ["link_factor", "up_mbit", "down_mbit"] {
            assert!(m.get(key).is_some(), "{key} missing in {m}");
        }
    }
    let text = verifier()
        .args(["status", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("up/down Mbit/s"), "{text}");

    let html = dir.path().join("report.html");
    let report = verifier()
        .args(["report", "--db"])
        .arg(dir.path().join("validator.sqlite"))
        .arg("--out")
        .arg(&html)
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg"), "no plot in the report");
}

#[test]
fn sigkill_mid_round_loses_nothing_duplicates_nothing_and_the_round_resumes() {
    let _alone = one_at_a_time();
    let dir = TempDir::new("service-kill").unwrap();
    let miners = miners(dir.path(), &[None, None, None, None]);
    let config = write_config(
        dir.path(),
        &miners,
        "concurrency = 1\ninterval_s = 3600\n\n[metrics]\nlisten = \"\"",
    );
    let db = dir.path().join("validator.sqlite");
    let mut child = spawn_run(&config, 1);

    // Kill it once some, not all, miners of round 1 are recorded.
    let deadline = Instant::now() + Duration::from_secs(180);
    let recorded = loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the service ended before it could be killed"
        );
        if let Ok(store) = Store::open_read_only(&db)
            && let Ok(Some(round)) = store.unfinished_round()
        {
            let done = store.miners_done(round.id).unwrap();
            if !done.is_empty() && done.len() < miners.len() {
                break done.len();
            }
        }
        assert!(Instant::now() < deadline, "no miner recorded in time");
        std::thread::sleep(Duration::from_millis(20));
    };
    // SIGKILL: no chance to clean up.
    child.kill().unwrap();
    let _ = child.wait_with_output().unwrap();

    let before = {
        let store = Store::open_read_only(&db).unwrap();
        assert_eq!(store.integrity_check().unwrap(), "ok");
        let rounds = store.rounds().unwrap();
        assert_eq!(rounds.len(), 1);
        store.verdicts(None).unwrap()
    };
    assert!(
        before.len() >= recorded * 2,
        "{recorded} miners but {before:?}"
    );

    let log = finish(spawn_run(&config, 1), Duration::from_secs(240));
    assert!(log.contains("resumed"), "{log}");

    let store = Store::open_read_only(&db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let rounds = store.rounds().unwrap();
    assert_eq!(
        rounds.len(),
        1,
        "the killed round is resumed, not replaced: {rounds:?}"
    );
    assert!(rounds[0].finished_at.is_some());
    let after = store.verdicts(None).unwrap();
    // Everything recorded before the kill is still there, unchanged.
    for row in &before {
        assert!(after.contains(row), "lost or changed: {row:?}");
    }
    // Every miner × module exactly once.
    assert_eq!(after.len(), miners.len() * 2, "{after:#?}");
    let keys: BTreeSet<_> = after
        .iter()
        .map(|v| {
            (
                v.hotkey.clone(),
                v.record.device_index,
                v.record.module.clone(),
            )
        })
        .collect();
    assert_eq!(keys.len(), after.len(), "a verdict was duplicated");
    assert_eq!(store.miners_done(rounds[0].id).unwrap().len(), miners.len());
}

/// `verifier run --config <config>`, which must fail; its stderr.
fn run_failing(config: &Path) -> String {
    let out = verifier()
        .args(["run", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn config_errors_say_what_to_fix() {
    let dir = TempDir::new("service-config").unwrap();
    let config = dir.path().join("validator.toml");
    std::fs::write(&config, "[hotkey]\nuri = \"//Alice\"\n").unwrap();
    let stderr = run_failing(&config);
    assert!(stderr.contains("validator.toml"), "{stderr}");
    assert!(stderr.contains("source = \"static\""), "{stderr}");

    let stderr = run_failing(&dir.path().join("nope.toml"));
    assert!(stderr.contains("validator.example.toml"), "{stderr}");

    // A store path in a directory that does not exist: the error names it.
    std::fs::write(
        &config,
        "store = \"no/such/dir/v.sqlite\"\n[hotkey]\nuri = \"//Alice\"\n[miners]\nsource = \"static\"\n\
         static = [{ hotkey = \"5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty\", addr = \"127.0.0.1:1\" }]\n",
    )
    .unwrap();
    let stderr = run_failing(&config);
    assert!(stderr.contains("no/such/dir"), "{stderr}");

    // A class table that is not there: the error names the file and the way back to the
    // built-in table.
    transport::identity::keygen(&dir.path().join("validator-session.key"), true).unwrap();
    std::fs::write(
        &config,
        "classes = \"my-classes.toml\"\n[hotkey]\nuri = \"//Alice\"\n[miners]\nsource = \"static\"\n\
         static = [{ hotkey = \"5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty\", addr = \"127.0.0.1:1\" }]\n",
    )
    .unwrap();
    let stderr = run_failing(&config);
    assert!(stderr.contains("my-classes.toml"), "{stderr}");
    assert!(stderr.contains("remove `classes`"), "{stderr}");
}

#[test]
fn sigterm_stops_gracefully_and_the_next_start_resumes_the_round() {
    let _alone = one_at_a_time();
    let dir = TempDir::new("service-term").unwrap();
    let miners = miners(dir.path(), &[None, None, None]);
    let config = write_config(
        dir.path(),
        &miners,
        "concurrency = 1\ninterval_s = 3600\n\n[metrics]\nlisten = \"\"",
    );
    let db = dir.path().join("validator.sqlite");
    let child = spawn_run(&config, 5);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(store) = Store::open_read_only(&db)
            && let Ok(Some(round)) = store.unfinished_round()
            && !store.miners_done(round.id).unwrap().is_empty()
        {
            break;
        }
        assert!(Instant::now() < deadline, "no miner recorded in time");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // It finishes the miner in flight, records it, and exits 0 without finishing the round.
    let log = finish(child, Duration::from_secs(120));
    assert!(log.contains("shutdown requested"), "{log}");
    assert!(log.contains("interrupted"), "{log}");
    {
        let store = Store::open_read_only(&db).unwrap();
        assert_eq!(store.integrity_check().unwrap(), "ok");
        let round = store
            .unfinished_round()
            .unwrap()
            .expect("the round stays open");
        assert!(!store.miners_done(round.id).unwrap().is_empty());
    }
    let log = finish(spawn_run(&config, 1), Duration::from_secs(240));
    assert!(log.contains("resumed"), "{log}");
    let store = Store::open_read_only(&db).unwrap();
    let rounds = store.rounds().unwrap();
    assert_eq!(rounds.len(), 1, "{rounds:?}");
    assert!(rounds[0].finished_at.is_some());
    assert_eq!(store.verdicts(None).unwrap().len(), miners.len() * 2);
}
