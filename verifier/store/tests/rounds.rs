//! Rounds, miners' rounds, verdicts, standings and duplicate UUIDs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;

use common::{TempDir, count, raw, record, verdict};
use validator_store::{
    DuplicateUuid, RoundRow, StandingRow, Store, StoreError, Tallied, VerdictKind,
};

#[test]
fn open_round_resumes_the_unfinished_round_and_opens_a_new_one_after_finish() {
    let dir = TempDir::new("rounds");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.unfinished_round().unwrap(), None);
    assert!(store.rounds().unwrap().is_empty());

    let first = store.open_round(100).unwrap();
    assert_eq!(
        first,
        RoundRow {
            id: 1,
            started_at: 100,
            finished_at: None
        }
    );
    // Asked again (the service restarted mid-round): the same round, not a new one.
    assert_eq!(store.open_round(150).unwrap(), first);
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.unfinished_round().unwrap(), Some(first.clone()));
    assert_eq!(store.open_round(160).unwrap(), first);

    store.finish_round(first.id, 200).unwrap();
    // Idempotent: finishing again keeps the first time.
    store.finish_round(first.id, 300).unwrap();
    assert_eq!(store.unfinished_round().unwrap(), None);

    let second = store.open_round(400).unwrap();
    assert_eq!(second.id, 2);
    assert_eq!(second.finished_at, None);
    assert_eq!(
        store.rounds().unwrap(),
        [
            RoundRow {
                id: 1,
                started_at: 100,
                finished_at: Some(200)
            },
            second.clone(),
        ]
    );

    let err = store.finish_round(99, 500).unwrap_err();
    assert!(
        matches!(err, StoreError::NoSuchRound { round_id: 99, .. }),
        "{err:?}"
    );
}

#[test]
fn record_miner_round_writes_every_verdict_and_the_standing() {
    let dir = TempDir::new("record");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    let round = store.open_round(100).unwrap();
    assert!(store.miners_done(round.id).unwrap().is_empty());

    let mut rec = record(
        round.id,
        "5Alice",
        Some(17),
        vec![
            verdict(0, "matmul-i8", Some("pass"), "GPU-a"),
            verdict(0, "membw", Some("too-slow"), "GPU-a"),
            verdict(1, "matmul-i8", None, "GPU-b"),
        ],
    );
    rec.verdicts[1].max_s = Some(f64::INFINITY);
    rec.verdicts[1].claimed_class = None;
    assert!(store.record_miner_round(&rec).unwrap());

    assert_eq!(
        store
            .miners_done(round.id)
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["5Alice"]
    );
    let rows = store.verdicts(None).unwrap();
    assert_eq!(rows.len(), 3);
    for (row, want) in rows.iter().zip(&rec.verdicts) {
        assert_eq!(row.round_id, round.id);
        assert_eq!(row.hotkey, "5Alice");
        assert_eq!(row.uid, Some(17));
        assert_eq!(row.recorded_at, rec.recorded_at);
        assert_eq!(&row.record, want);
    }
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(
        store.standing("5Alice").unwrap(),
        Some(rec.standing.clone())
    );
    assert_eq!(store.standing("5Nobody").unwrap(), None);

    // As an operator sees it with the sqlite3 CLI.
    let conn = raw(&path);
    let kinds: Vec<String> = conn
        .prepare("SELECT verdict FROM verdicts WHERE uid = 17 ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kinds, ["pass", "too-slow", "verifier-error"]);
    let (addr, up, up_ok, down_ok, score): (String, f64, bool, bool, f64) = conn
        .query_row(
            "SELECT addr, probe_up_mbps, probe_up_ok, probe_down_ok, score FROM miner_rounds
             WHERE round_id = ?1 AND hotkey = '5Alice'",
            [round.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        (addr.as_str(), up, up_ok, down_ok, score),
        ("203.0.113.7:4433", 812.5, true, false, 0.375)
    );
    // Schema 5: the bandwidth figures of the round and the standing after it.
    type Link = (f64, f64, String, String, i64, i64, String, f64, f64);
    let link: Link = conn
        .query_row(
            "SELECT link_factor, gpu_score, probe_up_outcome, probe_down_outcome, probe_bytes,
                 probe_streams, probe_json, up_mbit, down_mbit FROM miner_rounds
             WHERE round_id = ?1 AND hotkey = '5Alice'",
            [round.id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        link,
        (
            0.5,
            1.0,
            "measured".to_owned(),
            "failed".to_owned(),
            16 << 20,
            4,
            r#"{"plan":{"bytes":16777216}}"#.to_owned(),
            6500.0,
            0.0
        )
    );
    let standing = store.standing("5Alice").unwrap().unwrap();
    assert_eq!(
        (standing.up_mbit, standing.down_mbit, standing.link_factor),
        (Some(6500.0), Some(0.0), Some(0.5))
    );
}

#[test]
fn a_miner_whose_round_could_not_run_is_recorded_with_its_error() {
    let dir = TempDir::new("error");
    let mut store = Store::open(&dir.store()).unwrap();
    let round = store.open_round(100).unwrap();
    let mut rec = record(round.id, "5Gone", None, vec![]);
    rec.error = Some("connection refused".to_owned());
    rec.probe_up = None;
    rec.probe_down = None;
    assert!(store.record_miner_round(&rec).unwrap());
    assert!(store.miners_done(round.id).unwrap().contains("5Gone"));
    assert!(store.verdicts(None).unwrap().is_empty());
    let error: Option<String> = raw(&dir.store())
        .query_row(
            "SELECT error FROM miner_rounds WHERE hotkey = '5Gone'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(error.as_deref(), Some("connection refused"));
}

#[test]
fn recording_the_same_miner_round_twice_changes_nothing() {
    let dir = TempDir::new("twice");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    let round = store.open_round(100).unwrap();
    let rec = record(
        round.id,
        "5Alice",
        Some(3),
        vec![
            verdict(0, "matmul-i8", Some("pass"), "GPU-a"),
            verdict(0, "membw", Some("pass"), "GPU-a"),
        ],
    );
    assert!(store.record_miner_round(&rec).unwrap());
    assert!(!store.record_miner_round(&rec).unwrap());

    // Even a different record for the same (round, hotkey) is not written.
    let mut other = record(
        round.id,
        "5Alice",
        Some(3),
        vec![verdict(5, "matmul-i8", Some("timeout"), "GPU-z")],
    );
    other.standing.score = 0.0;
    assert!(!store.record_miner_round(&other).unwrap());

    assert_eq!(count(&path, "miner_rounds"), 1);
    assert_eq!(count(&path, "verdicts"), 2);
    assert_eq!(
        store.standing("5Alice").unwrap(),
        Some(rec.standing.clone())
    );
    assert_eq!(store.miners_done(round.id).unwrap().len(), 1);
}

#[test]
fn racing_writers_record_a_miner_round_once() {
    let dir = TempDir::new("race");
    let path = dir.store();
    let round = Store::open(&path).unwrap().open_round(100).unwrap();
    let rec = record(
        round.id,
        "5Alice",
        Some(3),
        vec![verdict(0, "matmul-i8", Some("pass"), "GPU-a")],
    );
    let written: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut store = Store::open(&path).unwrap();
                    store.record_miner_round(&rec).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(written.iter().filter(|w| **w).count(), 1, "{written:?}");
    assert_eq!(count(&path, "miner_rounds"), 1);
    assert_eq!(count(&path, "verdicts"), 1);
}

#[test]
fn a_failure_mid_record_writes_nothing() {
    let dir = TempDir::new("atomic");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    let round = store.open_round(100).unwrap();
    // Make the third verdict's insert fail, after the miner's row and two verdicts went in.
    raw(&path)
        .execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON verdicts WHEN NEW.module = 'boom'
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .unwrap();
    let rec = record(
        round.id,
        "5Alice",
        Some(3),
        vec![
            verdict(0, "matmul-i8", Some("pass"), "GPU-a"),
            verdict(0, "membw", Some("pass"), "GPU-a"),
            verdict(1, "boom", Some("pass"), "GPU-b"),
        ],
    );
    let err = store.record_miner_round(&rec).unwrap_err();
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err:?}");
    assert_eq!(count(&path, "miner_rounds"), 0);
    assert_eq!(count(&path, "verdicts"), 0);
    assert_eq!(count(&path, "standings"), 0);
    assert!(store.miners_done(round.id).unwrap().is_empty());

    raw(&path).execute_batch("DROP TRIGGER boom").unwrap();
    assert!(store.record_miner_round(&rec).unwrap());
    assert_eq!(count(&path, "verdicts"), 3);
}

#[test]
fn invalid_records_are_refused_and_write_nothing() {
    let dir = TempDir::new("invalid");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    let round = store.open_round(100).unwrap();
    let good = || {
        record(
            round.id,
            "5Alice",
            Some(3),
            vec![verdict(0, "matmul-i8", Some("pass"), "GPU-a")],
        )
    };

    let mut nan_standing = good();
    nan_standing.standing.reliability = f64::NAN;
    let mut twice = good();
    twice
        .verdicts
        .push(verdict(0, "matmul-i8", Some("too-slow"), "GPU-a"));
    let mut other_hotkey = good();
    other_hotkey.standing.hotkey = "5Bob".to_owned();
    let mut other_round = good();
    other_round.standing.round_id = round.id + 1;
    let mut other_uid = good();
    other_uid.standing.uid = Some(4);
    let mut empty_hotkey = good();
    empty_hotkey.hotkey = String::new();
    empty_hotkey.standing.hotkey = String::new();
    let link = |f: &dyn Fn(&mut validator_store::LinkRecord)| {
        let mut rec = good();
        if let Some(l) = rec.link.as_mut() {
            f(l);
        }
        rec
    };
    let factor_over_one = link(&|l| l.factor = 1.5);
    let nan_factor = link(&|l| l.factor = f64::NAN);
    let nan_gpu_score = link(&|l| l.gpu_score = f64::NAN);
    let no_streams = link(&|l| l.streams = Some(0));

    for (name, rec) in [
        ("NaN standing", nan_standing),
        ("same device and module twice", twice),
        ("standing of another hotkey", other_hotkey),
        ("standing of another round", other_round),
        ("standing with another uid", other_uid),
        ("empty hotkey", empty_hotkey),
        ("link factor over 1", factor_over_one),
        ("NaN link factor", nan_factor),
        ("NaN score before the link factor", nan_gpu_score),
        ("a probe over 0 streams", no_streams),
    ] {
        let err = store.record_miner_round(&rec).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidRecord { .. }),
            "{name}: {err:?}"
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{name}: {err}"
        );
    }
    assert_eq!(count(&path, "miner_rounds"), 0);
    assert_eq!(count(&path, "verdicts"), 0);

    let mut no_round = good();
    no_round.round_id = 42;
    no_round.standing.round_id = 42;
    let err = store.record_miner_round(&no_round).unwrap_err();
    assert!(
        matches!(err, StoreError::NoSuchRound { round_id: 42, .. }),
        "{err:?}"
    );

    // A NaN figure is no figure: stored as NULL, read back as None.
    let mut nan = good();
    nan.verdicts[0].measured_s = Some(f64::NAN);
    nan.probe_up = Some((f64::NAN, false));
    assert!(store.record_miner_round(&nan).unwrap());
    assert_eq!(store.verdicts(None).unwrap()[0].record.measured_s, None);
    let up: Option<f64> = raw(&path)
        .query_row("SELECT probe_up_mbps FROM miner_rounds", [], |r| r.get(0))
        .unwrap();
    assert_eq!(up, None);
}

#[test]
fn a_late_record_of_an_older_round_does_not_overwrite_a_newer_standing() {
    let dir = TempDir::new("standing");
    let mut store = Store::open(&dir.store()).unwrap();
    let first = store.open_round(100).unwrap();
    store.finish_round(first.id, 110).unwrap();
    let second = store.open_round(200).unwrap();

    let mut newer = record(second.id, "5Alice", Some(3), vec![]);
    newer.standing.reliability = 0.9;
    assert!(store.record_miner_round(&newer).unwrap());
    let mut older = record(first.id, "5Alice", Some(3), vec![]);
    older.standing.reliability = 0.1;
    assert!(store.record_miner_round(&older).unwrap());
    assert_eq!(
        store.standing("5Alice").unwrap(),
        Some(newer.standing.clone())
    );

    // A newer round replaces it, UID included.
    store.finish_round(second.id, 210).unwrap();
    let third = store.open_round(300).unwrap();
    let mut moved = record(third.id, "5Alice", Some(8), vec![]);
    moved.standing.reliability = 0.95;
    assert!(store.record_miner_round(&moved).unwrap());
    assert_eq!(
        store.standing("5Alice").unwrap(),
        Some(moved.standing.clone())
    );
}

#[test]
fn standings_are_sorted_by_uid_with_unknown_uids_last() {
    let dir = TempDir::new("standings");
    let mut store = Store::open(&dir.store()).unwrap();
    let round = store.open_round(100).unwrap();
    for (hotkey, uid) in [
        ("5Eve", None),
        ("5Carol", Some(9)),
        ("5Alice", Some(2)),
        ("5Dave", None),
        ("5Bob", Some(0)),
    ] {
        assert!(
            store
                .record_miner_round(&record(round.id, hotkey, uid, vec![]))
                .unwrap()
        );
    }
    let order: Vec<(String, Option<u16>)> = store
        .standings()
        .unwrap()
        .into_iter()
        .map(|StandingRow { hotkey, uid, .. }| (hotkey, uid))
        .collect();
    assert_eq!(
        order,
        [
            ("5Bob".to_owned(), Some(0)),
            ("5Alice".to_owned(), Some(2)),
            ("5Carol".to_owned(), Some(9)),
            ("5Dave".to_owned(), None),
            ("5Eve".to_owned(), None),
        ]
    );
}

#[test]
fn verdicts_since_and_counts_by_kind() {
    let dir = TempDir::new("counts");
    let mut store = Store::open(&dir.store()).unwrap();
    let r1 = store.open_round(100).unwrap();
    // `record` stamps recorded_at = 1_700_000_000 + round id.
    assert!(
        store
            .record_miner_round(&record(
                r1.id,
                "5Alice",
                Some(1),
                vec![
                    verdict(0, "matmul-i8", Some("pass"), "GPU-a"),
                    verdict(0, "membw", None, "GPU-a"),
                ],
            ))
            .unwrap()
    );
    assert!(
        store
            .record_miner_round(&record(
                r1.id,
                "5Bob",
                Some(2),
                vec![verdict(0, "matmul-i8", Some("too-fast"), "GPU-b")],
            ))
            .unwrap()
    );
    store.finish_round(r1.id, 150).unwrap();
    let r2 = store.open_round(200).unwrap();
    assert!(
        store
            .record_miner_round(&record(
                r2.id,
                "5Alice",
                Some(1),
                vec![
                    verdict(0, "matmul-i8", Some("pass"), "GPU-a"),
                    verdict(0, "membw", Some("wrong-result"), "GPU-a"),
                ],
            ))
            .unwrap()
    );

    assert_eq!(store.verdicts(None).unwrap().len(), 5);
    let recent = store.verdicts(Some(1_700_000_000 + r2.id)).unwrap();
    assert_eq!(recent.len(), 2);
    assert!(recent.iter().all(|v| v.round_id == r2.id));
    assert!(store.verdicts(Some(i64::MAX)).unwrap().is_empty());

    let want: BTreeMap<Tallied, u64> = [("pass", 2), ("verifier-error", 1), ("wrong-result", 1)]
        .into_iter()
        .map(|(k, n)| (Tallied::parse(k).unwrap(), n))
        .collect();
    assert_eq!(store.verdict_counts("5Alice").unwrap(), want);
    assert_eq!(
        store.verdict_counts("5Bob").unwrap(),
        BTreeMap::from([(Tallied::Verdict(VerdictKind::TooFast), 1)])
    );
    assert!(store.verdict_counts("5Nobody").unwrap().is_empty());
}

#[test]
fn duplicate_uuids_across_miners_in_their_latest_rounds() {
    let dir = TempDir::new("uuids");
    let mut store = Store::open(&dir.store()).unwrap();
    let r1 = store.open_round(100).unwrap();
    let devices = |uuids: &[&str]| {
        uuids
            .iter()
            .zip(0u32..)
            .map(|(uuid, i)| verdict(i, "matmul-i8", Some("pass"), uuid))
            .collect::<Vec<_>>()
    };
    // Alice and Bob both claim GPU-shared; Carol claims GPU-c on two devices (herself only);
    // everyone has an empty UUID somewhere, which is ignored.
    for (hotkey, uuids) in [
        ("5Alice", vec!["GPU-shared", "GPU-a", ""]),
        ("5Bob", vec!["GPU-b", "GPU-shared", " "]),
        ("5Carol", vec!["GPU-c", "GPU-c", ""]),
    ] {
        assert!(
            store
                .record_miner_round(&record(r1.id, hotkey, None, devices(&uuids)))
                .unwrap()
        );
    }
    assert_eq!(
        store.duplicate_uuids().unwrap(),
        [DuplicateUuid {
            gpu_uuid: "GPU-shared".to_owned(),
            hotkeys: vec!["5Alice".to_owned(), "5Bob".to_owned()],
        }]
    );

    // In round 2 Bob no longer claims it, and Dave claims Carol's: only the latest round of
    // each miner counts (Alice and Carol were last recorded in round 1).
    store.finish_round(r1.id, 150).unwrap();
    let r2 = store.open_round(200).unwrap();
    assert!(
        store
            .record_miner_round(&record(r2.id, "5Bob", None, devices(&["GPU-b"])))
            .unwrap()
    );
    assert!(
        store
            .record_miner_round(&record(r2.id, "5Dave", None, devices(&["GPU-c", "GPU-x"])))
            .unwrap()
    );
    assert_eq!(
        store.duplicate_uuids().unwrap(),
        [DuplicateUuid {
            gpu_uuid: "GPU-c".to_owned(),
            hotkeys: vec!["5Carol".to_owned(), "5Dave".to_owned()],
        }]
    );
}
