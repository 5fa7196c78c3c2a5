//! docs/design.md §No score without proof, against `verifier run` as a process with real
//! `miner-host serve` processes on loopback (static miners, no chain): every hole of issue #17
//! tried by the adversary kind that uses it, and what the rule says checked in the store the
//! service wrote: rounds finish, weights are recorded, the cheater's weight is 0 (or bounded as
//! the rule says), every honest miner's weight is above 0.
//!
//! Each test prints a table of every miner's verdicts and weight (`--nocapture` shows it; the
//! figures in `tests/README.md` come from these runs).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod process;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use process::{
    finish, miner_host_bin, one_at_a_time, spawn_run, validator_hotkey, verifier, write_config,
};
use transport::identity::ss58;
use validator_store::{Store, SubmissionRow, Tallied, VerdictKind, VerdictRow};
use verifier::localnet::{MinerProcess, TempDir, start_miner_with};

/// Starts one miner per kind (None: honest) serving the test validator and `others`, each with
/// `extra` in its miner.toml's `[limits]` table.
fn start(
    dir: &Path,
    kinds: &[Option<&str>],
    others: &[protocol::Hotkey],
    extra: &str,
) -> Vec<MinerProcess> {
    let binary = miner_host_bin();
    let mut validators = vec![validator_hotkey()];
    validators.extend_from_slice(others);
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| start_miner_with(&binary, dir, i, *kind, &validators, extra).unwrap())
        .collect()
}

/// Verdict rows of one miner, by round then device then module.
fn rows_of<'a>(verdicts: &'a [VerdictRow], miner: &MinerProcess) -> Vec<&'a VerdictRow> {
    let hotkey = ss58(&miner.hotkey);
    verdicts.iter().filter(|v| v.hotkey == hotkey).collect()
}

/// `kind@module` counts of `rows`.
fn counts(rows: &[&VerdictRow]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in rows {
        *out.entry(format!(
            "{}@{}",
            Tallied::from(r.record.verdict),
            r.record.module
        ))
        .or_default() += 1;
    }
    out
}

/// The weight fraction the submission gives `uid`.
fn weight(submission: &SubmissionRow, uid: u16) -> f64 {
    let total: f64 = submission.values.iter().map(|v| f64::from(*v)).sum();
    submission
        .uids
        .iter()
        .zip(&submission.values)
        .find(|(u, _)| **u == uid)
        .map_or(0.0, |(_, v)| f64::from(*v) / total.max(1.0))
}

/// Prints every miner's verdict counts, score and last weight (the README's figures).
fn print_table(title: &str, store: &Store, miners: &[MinerProcess]) {
    let verdicts = store.verdicts(None).unwrap();
    let last = store.last_submission().unwrap();
    eprintln!("\n{title}");
    eprintln!(
        "{:>4}  {:<24} {:>8} {:>7}  verdicts",
        "uid", "adversary", "score", "weight"
    );
    for m in miners {
        let hotkey = ss58(&m.hotkey);
        let score = store.standing(&hotkey).unwrap().map_or(0.0, |s| s.score);
        let w = last
            .as_ref()
            .map_or(0.0, |s| weight(s, u16::try_from(m.index + 1).unwrap()));
        eprintln!(
            "{:>4}  {:<24} {:>8.5} {:>7.3}  {:?}",
            m.index + 1,
            m.adversary.as_deref().unwrap_or("honest"),
            score,
            w,
            counts(&rows_of(&verdicts, m))
        );
    }
}

#[test]
fn every_round_hole_earns_nothing_and_the_rounds_finish() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("no-score").unwrap();
    let kinds = [
        None,
        None,
        Some("duplicate-index"),
        Some("empty-inventory"),
        Some("unknown-names"),
        Some("busy-forever"),
        // Ready for matmul-i8 held to just under the ready timeout, membw never answered: the
        // round's limit cuts it, and the cut is a timeout, never a pass on matmul-i8 alone.
        Some("stall-last-module:3"),
        // Passes round 1, then unreachable.
        Some("go-dark:1"),
    ];
    let miners = start(dir.path(), &kinds, &[], "");
    let config = write_config(
        dir.path(),
        &miners,
        "concurrency = 1\ninterval_s = 1\nready_timeout_s = 4\nminer_timeout_s = 7\n\n\
         [metrics]\nlisten = \"\"",
    );
    let log = finish(spawn_run(&config, 3), Duration::from_secs(600));
    assert!(log.contains("round finished"), "{log}");

    let store = Store::open_read_only(&dir.path().join("validator.sqlite")).unwrap();
    print_table(
        "every round hole, 3 rounds of verifier run",
        &store,
        &miners,
    );
    let rounds = store.rounds().unwrap();
    assert_eq!(rounds.len(), 3, "{rounds:?}");
    assert!(rounds.iter().all(|r| r.finished_at.is_some()), "{rounds:?}");
    let submissions = store.submissions().unwrap();
    assert_eq!(
        submissions.len(),
        3,
        "weights after every round: {submissions:?}"
    );
    let last = submissions.last().unwrap();
    assert_eq!(last.outcome, "ok", "{last:?}");
    assert_eq!(
        last.uids,
        vec![1, 2],
        "only the honest miners are weighted: {last:?}"
    );
    assert!(weight(last, 1) > 0.0 && weight(last, 2) > 0.0, "{last:?}");

    let verdicts = store.verdicts(None).unwrap();
    for m in &miners {
        let rows = rows_of(&verdicts, m);
        let c = counts(&rows);
        let standing = store.standing(&ss58(&m.hotkey)).unwrap().unwrap();
        match m.adversary.as_deref() {
            None => {
                assert_eq!(c.get("pass@matmul-i8"), Some(&3), "{c:?}");
                assert_eq!(c.get("pass@membw"), Some(&3), "{c:?}");
            }
            Some("duplicate-index" | "empty-inventory" | "unknown-names") => {
                assert_eq!(
                    c.get("protocol-error@inventory"),
                    Some(&3),
                    "{:?}: {c:?}",
                    m.adversary
                );
                assert_eq!(rows.len(), 3, "nothing else recorded: {c:?}");
                assert_eq!(standing.score, 0.0, "{standing:?}");
            }
            Some("busy-forever") => {
                assert_eq!(c.get("timeout@matmul-i8"), Some(&3), "{c:?}");
                assert!(
                    rows.iter()
                        .all(|r| r.record.detail_json.contains("\"busy\":true")),
                    "every timeout is a busy one: {rows:?}"
                );
                assert_eq!(standing.score, 0.0, "{standing:?}");
                // Busy is not charged: reliability stays where a new miner starts.
                assert!((standing.reliability - 0.5).abs() < 1e-9, "{standing:?}");
            }
            Some(kind) if kind.starts_with("stall-last-module") => {
                assert_eq!(
                    c.get("timeout@membw"),
                    Some(&3),
                    "the cut membw is a timeout: {c:?}"
                );
                assert!(!c.keys().any(|k| k.starts_with("verifier-error")), "{c:?}");
                assert_eq!(standing.score, 0.0, "{standing:?}");
            }
            Some(kind) if kind.starts_with("go-dark") => {
                let first: Vec<_> = rows.iter().filter(|r| r.round_id == rounds[0].id).collect();
                assert!(
                    first
                        .iter()
                        .all(|r| r.record.verdict == Some(VerdictKind::Pass)),
                    "it passed round 1: {first:?}"
                );
                assert_eq!(c.get("timeout@connection"), Some(&2), "then dark: {c:?}");
                assert_eq!(standing.score, 0.0, "{standing:?}");
            }
            other => panic!("unexpected kind {other:?}"),
        }
    }
}

#[test]
fn a_rented_miner_is_scored_only_for_the_devices_it_proved_unrented() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("no-score-rented").unwrap();
    let miners = start(dir.path(), &[None, Some("rented-inflate:8")], &[], "");
    let config = write_config(
        dir.path(),
        &miners,
        "concurrency = 1\ninterval_s = 1\n\n[metrics]\nlisten = \"\"",
    );
    // Round 1 unrented: both prove their one device.
    finish(spawn_run(&config, 1), Duration::from_secs(240));
    // Then the marketplace says both are rented.
    for m in &miners {
        let out = verifier()
            .args(["rented", "add", &ss58(&m.hotkey), "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    finish(spawn_run(&config, 2), Duration::from_secs(240));

    let store = Store::open_read_only(&dir.path().join("validator.sqlite")).unwrap();
    print_table(
        "rented-inflate, 1 round unrented then 2 rented",
        &store,
        &miners,
    );
    let rounds = store.rounds().unwrap();
    assert_eq!(rounds.len(), 3);
    let verdicts = store.verdicts(None).unwrap();
    let honest = rows_of(&verdicts, &miners[0]);
    let inflater = rows_of(&verdicts, &miners[1]);
    // The honest rented machine keeps passing its light challenge, membw included.
    for round in &rounds[1..] {
        let light: Vec<_> = honest.iter().filter(|r| r.round_id == round.id).collect();
        let modules: Vec<_> = light.iter().map(|r| r.record.module.as_str()).collect();
        assert_eq!(modules, vec!["matmul-i8", "membw"], "{light:?}");
        assert!(
            light
                .iter()
                .all(|r| r.record.verdict == Some(VerdictKind::Pass)),
            "{light:?}"
        );
    }
    // The inflater claims 8 devices once rented; only what it proved unrented (device 0, as
    // it was then) is ever challenged or scored.
    for round in &rounds[1..] {
        let devices: Vec<u32> = inflater
            .iter()
            .filter(|r| r.round_id == round.id)
            .map(|r| r.record.device_index)
            .collect();
        assert!(devices.iter().all(|d| *d == 0), "{devices:?}");
    }
    let honest_standing = store.standing(&ss58(&miners[0].hotkey)).unwrap().unwrap();
    let inflater_standing = store.standing(&ss58(&miners[1].hotkey)).unwrap().unwrap();
    assert!(honest_standing.score > 0.0, "{honest_standing:?}");
    // At most one cpu-reference device's worth (class weight 0.001 × the 1.5 top factor).
    assert!(
        inflater_standing.round_score <= 0.0015 + 1e-12,
        "{inflater_standing:?}"
    );
}

/// A validator that holds the miner's device with `Prepare`s it never follows with `Go`, and
/// floods bandwidth probes, for `run_for`; returns how many of each it got through (Ready
/// answers, probes served) and how many were refused.
async fn hostile_validator(
    addr: std::net::SocketAddr,
    miner: protocol::Hotkey,
    run_for: Duration,
) -> BTreeMap<&'static str, u64> {
    use protocol::{ChallengeId, Message, ModuleHash};
    use verifier::session::{
        ChallengeSpec, Envelope, OutputLayout, SessionConfig, VerifierSession,
    };

    let keypair =
        transport::identity::load_hotkey(&transport::KeySource::Uri(HOSTILE_URI.into())).unwrap();
    let identity = transport::Identity::issue(
        transport::identity::generate_key().unwrap(),
        &keypair,
        protocol::Role::Validator,
        transport::identity::DEFAULT_CERTIFICATE_VALIDITY,
    );
    let endpoint = transport::client_endpoint(
        addr,
        identity.signing_key(),
        &transport::ConnectionLimits::default(),
    )
    .unwrap();
    let connection = transport::connect(&endpoint, addr, Duration::from_secs(5))
        .await
        .unwrap();
    let mut control = transport::FramedStream::open(&connection).await.unwrap();
    let (peer, _inventory) = transport::client_handshake(
        &connection,
        &mut control,
        &identity,
        Some(&miner),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let until = std::time::Instant::now() + run_for;
    let mut tally = BTreeMap::new();

    // Probe flood: many 256 MiB uploads at once, again and again.
    let flood = {
        let connection = connection.clone();
        tokio::spawn(async move {
            let mut served = 0u64;
            let mut refused = 0u64;
            while std::time::Instant::now() < until {
                let tries = (0..16).map(|_| {
                    let connection = connection.clone();
                    tokio::spawn(async move {
                        verifier::client::probe::probe_upload(
                            &connection,
                            256 << 20,
                            Duration::from_secs(2),
                        )
                        .await
                    })
                });
                for t in tries.collect::<Vec<_>>() {
                    match t.await.unwrap() {
                        Ok(_) => served += 1,
                        Err(_) => refused += 1,
                    }
                }
                // Bounded: a burst of 16 every 100 ms.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (served, refused)
        })
    };

    // Reservations without Go, back to back.
    let builtin = builtin_modules::MATMUL_I8;
    let params = challenges::matmul::MatmulParams {
        m: 16,
        n: 16,
        k: 64,
        count: 1,
    }
    .encode()
    .to_vec();
    let module_hash = ModuleHash::new(builtin.hash());
    let envelope = Envelope {
        min_s: 0.0,
        max_s: 60.0,
        peak_floor_s: 0.0,
    };
    let epoch = std::time::Instant::now();
    while std::time::Instant::now() < until {
        let spec = ChallengeSpec {
            challenge_id: ChallengeId::new(transport::identity::os_random().unwrap()),
            versions: peer.versions,
            validator: identity.hotkey(),
            miner,
            module_hash,
            module_bytes: Some(builtin.bytes.to_vec()),
            params: params.clone(),
            device: 0,
            expires_at_ms: transport::identity::unix_ms_now() + 60_000,
            layout: OutputLayout::builtin(&module_hash, &params).unwrap(),
        };
        let mut session = VerifierSession::new(
            spec,
            SessionConfig::new(envelope, Duration::ZERO),
            identity.signing_key().clone(),
            peer.session_key,
        )
        .unwrap();
        let prepare = session.start(epoch.elapsed()).unwrap();
        let Ok(mut stream) = transport::FramedStream::open(&connection).await else {
            break;
        };
        if stream.send(&Message::Prepare(prepare)).await.is_err() {
            break;
        }
        // Read what comes (Ready, then the miner ending the reservation; or a refusal), never
        // sending Go.
        let mut got_ready = false;
        loop {
            match stream.recv(Duration::from_secs(30)).await {
                Ok(Message::Ready(_)) => {
                    got_ready = true;
                    *tally.entry("reservations held").or_default() += 1;
                }
                Ok(Message::Error(_)) => {
                    *tally
                        .entry(if got_ready {
                            "reservations ended by the miner"
                        } else {
                            "prepares refused"
                        })
                        .or_default() += 1;
                    break;
                }
                _ => break,
            }
        }
        if !got_ready {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (served, refused) = flood.await.unwrap();
    tally.insert("probes served", served);
    tally.insert("probes refused", refused);
    connection.close(quinn::VarInt::from_u32(0), b"done");
    tally
}

const HOSTILE_URI: &str = "//HostileValidator";

#[test]
fn a_hostile_validator_neither_starves_the_miner_nor_exhausts_its_memory() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("no-score-hostile").unwrap();
    let hostile = transport::identity::hotkey_of(
        &transport::identity::load_hotkey(&transport::KeySource::Uri(HOSTILE_URI.into())).unwrap(),
    );
    let mut miners = start(
        dir.path(),
        &[None],
        &[hostile],
        "reserve_s = 1\nprobes_per_minute = 4\n",
    );
    let config = write_config(
        dir.path(),
        &miners,
        "concurrency = 1\ninterval_s = 1\n\n[metrics]\nlisten = \"\"",
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (addr, hotkey) = (miners[0].addr, miners[0].hotkey);
    let attack = runtime.spawn(hostile_validator(addr, hotkey, Duration::from_secs(25)));
    std::thread::sleep(Duration::from_secs(1));
    let log = finish(spawn_run(&config, 2), Duration::from_secs(240));
    let tally = runtime.block_on(attack).unwrap();
    eprintln!("hostile validator: {tally:?}");
    assert!(log.contains("round finished"), "{log}");
    assert!(
        tally.get("reservations held").copied().unwrap_or(0) > 0,
        "the attack never held the device: {tally:?}"
    );
    assert!(
        tally.get("probes refused").copied().unwrap_or(0) > 0,
        "the probe flood was never refused: {tally:?}"
    );
    // The miner is still up (no out-of-memory) and the honest validator got every pass.
    assert!(miners[0].child_alive(), "the miner died under the attack");
    let store = Store::open_read_only(&dir.path().join("validator.sqlite")).unwrap();
    print_table(
        "hostile validator beside verifier run, 2 rounds",
        &store,
        &miners,
    );
    let verdicts = store.verdicts(None).unwrap();
    let c = counts(&rows_of(&verdicts, &miners[0]));
    assert_eq!(c.get("pass@matmul-i8"), Some(&2), "{c:?}");
    assert_eq!(c.get("pass@membw"), Some(&2), "{c:?}");
    let last = store.last_submission().unwrap().unwrap();
    assert!(weight(&last, 1) > 0.0, "{last:?}");
    drop(miners.pop());
}
