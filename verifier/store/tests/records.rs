//! Rented machines, weight submissions, pending reveals and metadata.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{TempDir, count, raw, record};
use validator_store::{RentedRow, Store, StoreError, SubmissionMethod, SubmissionRow};

#[test]
fn rented_machines_round_trip_and_keep_their_history() {
    let dir = TempDir::new("rented");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    assert!(store.rented().unwrap().is_empty());
    assert!(!store.is_rented("5Bob").unwrap());

    store.set_rented("5Bob", true, "operator", 100).unwrap();
    store.set_rented("5Alice", true, "vast", 110).unwrap();
    // Marked again: `since` is kept, the source follows the latest word; a repeat is no change.
    store.set_rented("5Bob", true, "operator", 120).unwrap();
    store.set_rented("5Bob", true, "runpod", 130).unwrap();
    // Unmarking one that is not rented is no change either.
    store.set_rented("5Carol", false, "operator", 140).unwrap();

    assert!(store.is_rented("5Bob").unwrap());
    assert!(!store.is_rented("5Carol").unwrap());
    assert_eq!(
        store.rented().unwrap(),
        [
            RentedRow {
                hotkey: "5Alice".to_owned(),
                source: "vast".to_owned(),
                since: 110
            },
            RentedRow {
                hotkey: "5Bob".to_owned(),
                source: "runpod".to_owned(),
                since: 100
            },
        ]
    );

    store.set_rented("5Bob", false, "operator", 150).unwrap();
    assert!(!store.is_rented("5Bob").unwrap());
    drop(store);

    let store = Store::open(&path).unwrap();
    assert_eq!(
        store
            .rented()
            .unwrap()
            .into_iter()
            .map(|r| r.hotkey)
            .collect::<Vec<_>>(),
        ["5Alice"]
    );
    let log: Vec<(i64, String, bool, String)> = raw(&path)
        .prepare("SELECT at, hotkey, rented, source FROM rented_log ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let log: Vec<(i64, &str, bool, &str)> = log
        .iter()
        .map(|(at, h, r, s)| (*at, h.as_str(), *r, s.as_str()))
        .collect();
    assert_eq!(
        log,
        [
            (100, "5Bob", true, "operator"),
            (110, "5Alice", true, "vast"),
            (130, "5Bob", true, "runpod"),
            (150, "5Bob", false, "operator"),
        ]
    );
}

fn submission(
    at: i64,
    method: SubmissionMethod,
    uids: Vec<u16>,
    values: Vec<u16>,
) -> SubmissionRow {
    SubmissionRow {
        id: -7,
        at,
        round_id: 3,
        method,
        uids,
        values,
        outcome: "ok".to_owned(),
        reference: Some("0xabc".to_owned()),
        refusal: None,
    }
}

#[test]
fn submissions_round_trip_oldest_first() {
    let dir = TempDir::new("submissions");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    assert!(store.submissions().unwrap().is_empty());
    assert_eq!(store.last_submission().unwrap(), None);

    let first = submission(
        100,
        SubmissionMethod::SetWeights,
        vec![0, 17, 65_535],
        vec![1, 65_535, 0],
    );
    let mut second = submission(200, SubmissionMethod::Local, vec![], vec![]);
    second.outcome = "no chain configured".to_owned();
    second.reference = None;
    second.refusal = Some("SubtensorModule::SettingWeightsTooFast".to_owned());
    let id1 = store.record_submission(&first).unwrap();
    let id2 = store.record_submission(&second).unwrap();
    assert!(id2 > id1);

    let want = [
        SubmissionRow { id: id1, ..first },
        SubmissionRow { id: id2, ..second },
    ];
    assert_eq!(store.submissions().unwrap(), want);
    assert_eq!(store.last_submission().unwrap().as_ref(), want.last());

    // Operator-readable: JSON arrays in plain columns.
    let (uids, weights): (String, String) = raw(&path)
        .query_row(
            "SELECT uids, weights FROM submissions WHERE id = ?1",
            [id1],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (uids.as_str(), weights.as_str()),
        ("[0,17,65535]", "[1,65535,0]")
    );
}

#[test]
fn a_damaged_submission_is_reported_not_panicked_on() {
    let dir = TempDir::new("corrupt");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    let id = store
        .record_submission(&submission(
            100,
            SubmissionMethod::SetWeights,
            vec![1],
            vec![2],
        ))
        .unwrap();
    raw(&path)
        .execute(
            "UPDATE submissions SET weights = '[70000]' WHERE id = ?1",
            [id],
        )
        .unwrap();
    let err = store.submissions().unwrap_err();
    match &err {
        StoreError::Corrupt {
            table, column, row, ..
        } => assert_eq!((*table, *column, *row), ("submissions", "weights", id)),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(err.to_string().contains("submissions.weights"), "{err}");
    assert!(store.last_submission().is_err());
}

#[test]
fn submission_methods_map_to_one_text_each_and_unknown_text_is_corrupt() {
    let dir = TempDir::new("methods");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    for method in SubmissionMethod::ALL {
        assert_eq!(SubmissionMethod::parse(method.as_str()), Some(method));
        store
            .record_submission(&submission(1, method, vec![], vec![]))
            .unwrap();
    }
    let read: Vec<SubmissionMethod> = store
        .submissions()
        .unwrap()
        .into_iter()
        .map(|s| s.method)
        .collect();
    assert_eq!(read, SubmissionMethod::ALL);
    // The text in the column, and in JSON, is the documented one.
    let texts: Vec<String> = raw(&path)
        .prepare("SELECT method FROM submissions ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        texts,
        [
            "set-weights",
            "commit-reveal-v2",
            "timelocked-v4",
            "local",
            "no-path"
        ]
    );
    assert_eq!(
        serde_json::to_string(&SubmissionMethod::TimelockedV4).unwrap(),
        "\"timelocked-v4\""
    );
    // An earlier build's `submit` reads as no-path; any other text is damage, reported.
    raw(&path)
        .execute("UPDATE submissions SET method = 'submit' WHERE id = 5", [])
        .unwrap();
    assert_eq!(
        store.submissions().unwrap()[4].method,
        SubmissionMethod::NoPath
    );
    raw(&path)
        .execute(
            "UPDATE submissions SET method = 'teleport' WHERE id = 2",
            [],
        )
        .unwrap();
    match store.submissions().unwrap_err() {
        StoreError::Corrupt {
            table, column, row, ..
        } => assert_eq!((table, column, row), ("submissions", "method", 2)),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn pending_reveals_round_trip_and_survive_a_restart() {
    let dir = TempDir::new("reveals");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    assert!(store.pending_reveals().unwrap().is_empty());

    store
        .put_pending_reveal("epoch-10", r#"{"a":1}"#, 500)
        .unwrap();
    store
        .put_pending_reveal("epoch-9", r#"{"b":2}"#, 400)
        .unwrap();
    store
        .put_pending_reveal("epoch-11", "not even json", 600)
        .unwrap();
    // The same key replaces.
    store
        .put_pending_reveal("epoch-10", r#"{"a":3}"#, 450)
        .unwrap();
    drop(store);

    let mut store = Store::open(&path).unwrap();
    let own = |v: &[(&str, &str, i64)]| {
        v.iter()
            .map(|(k, j, t)| ((*k).to_owned(), (*j).to_owned(), *t))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        store.pending_reveals().unwrap(),
        own(&[
            ("epoch-9", r#"{"b":2}"#, 400),
            ("epoch-10", r#"{"a":3}"#, 450),
            ("epoch-11", "not even json", 600),
        ])
    );

    store.remove_pending_reveal("epoch-9").unwrap();
    store.remove_pending_reveal("epoch-9").unwrap();
    store.remove_pending_reveal("never-put").unwrap();
    assert_eq!(
        store.pending_reveals().unwrap(),
        own(&[
            ("epoch-10", r#"{"a":3}"#, 450),
            ("epoch-11", "not even json", 600),
        ])
    );

    assert_eq!(
        store.take_pending_reveals().unwrap(),
        own(&[
            ("epoch-10", r#"{"a":3}"#, 450),
            ("epoch-11", "not even json", 600),
        ])
    );
    assert!(store.pending_reveals().unwrap().is_empty());
    assert!(store.take_pending_reveals().unwrap().is_empty());
    assert_eq!(count(&path, "pending_reveals"), 0);
}

#[test]
fn meta_round_trips() {
    let dir = TempDir::new("meta");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.meta("last_weights_block").unwrap(), None);
    store.set_meta("last_weights_block", "100").unwrap();
    store.set_meta("netuid", "7").unwrap();
    store.set_meta("last_weights_block", "160").unwrap();
    store.set_meta("empty", "").unwrap();
    drop(store);

    let store = Store::open_read_only(&path).unwrap();
    assert_eq!(
        store.meta("last_weights_block").unwrap().as_deref(),
        Some("160")
    );
    assert_eq!(store.meta("netuid").unwrap().as_deref(), Some("7"));
    assert_eq!(store.meta("empty").unwrap().as_deref(), Some(""));
    assert_eq!(store.meta("absent").unwrap(), None);
    assert_eq!(count(&path, "meta"), 3);
}

#[test]
fn proven_devices_are_replaced_whole_and_kept_when_a_record_carries_none() {
    let dir = TempDir::new("proven");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    let device = |index: u32, round_id: i64| validator_store::ProvenDeviceRow {
        device_index: index,
        gpu_name: "NVIDIA H100 80GB HBM3".into(),
        gpu_uuid: format!("GPU-{index}"),
        memory_bytes: 85_520_809_984,
        round_id,
    };
    let r1 = store.open_round(1).unwrap().id;
    let mut first = record(r1, "miner", Some(1), Vec::new());
    first.proven = Some(vec![device(0, r1), device(1, r1)]);
    assert!(store.record_miner_round(&first).unwrap());
    assert_eq!(store.proven_devices("miner").unwrap().len(), 2);
    store.finish_round(r1, 2).unwrap();
    // A rented round (no `proven`) leaves the set alone.
    let r2 = store.open_round(3).unwrap().id;
    assert!(
        store
            .record_miner_round(&record(r2, "miner", Some(1), Vec::new()))
            .unwrap()
    );
    assert_eq!(store.proven_devices("miner").unwrap().len(), 2);
    store.finish_round(r2, 4).unwrap();
    // The next unrented round replaces it whole.
    let r3 = store.open_round(5).unwrap().id;
    let mut third = record(r3, "miner", Some(1), Vec::new());
    third.proven = Some(vec![device(1, r3)]);
    assert!(store.record_miner_round(&third).unwrap());
    assert_eq!(store.proven_devices("miner").unwrap(), vec![device(1, r3)]);
    assert!(store.proven_devices("someone else").unwrap().is_empty());
}
