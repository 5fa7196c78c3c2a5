//! Opening, migrating, refusing, read-only access and crash durability.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{TempDir, count, raw, record, verdict};
use validator_store::{SCHEMA_VERSION, Store, StoreError, SubmissionRow};

#[test]
fn a_fresh_file_opens_at_the_latest_schema_in_wal_mode() {
    let dir = TempDir::new("fresh");
    let path = dir.store();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.path(), path);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert!(path.exists());

    let conn = raw(&path);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, 0x6770_7266);
    for table in [
        "rounds",
        "miner_rounds",
        "verdicts",
        "standings",
        "rented",
        "rented_log",
        "submissions",
        "pending_reveals",
        "meta",
    ] {
        assert_eq!(count(&path, table), 0, "{table}");
    }
}

#[test]
fn reopening_keeps_the_data_and_does_not_migrate_again() {
    let dir = TempDir::new("reopen");
    let path = dir.store();
    {
        let mut store = Store::open(&path).unwrap();
        store.set_meta("last_weights_block", "1234").unwrap();
    }
    let schema_before: String = raw(&path)
        .query_row(
            "SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_schema ORDER BY name)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // A migration re-run would fail on `CREATE TABLE rounds` (already there) or wipe the data.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.meta("last_weights_block").unwrap().as_deref(),
        Some("1234")
    );
    let schema_after: String = raw(&path)
        .query_row(
            "SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_schema ORDER BY name)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(schema_before, schema_after);
}

#[test]
fn a_newer_schema_is_refused_with_the_typed_error_and_left_untouched() {
    let dir = TempDir::new("newer");
    let path = dir.store();
    drop(Store::open(&path).unwrap());
    let newer = SCHEMA_VERSION + 1;
    raw(&path)
        .pragma_update(None, "user_version", newer)
        .unwrap();

    for err in [
        Store::open(&path).unwrap_err(),
        Store::open_read_only(&path).unwrap_err(),
    ] {
        match &err {
            StoreError::TooNew {
                path: p,
                found,
                supported,
            } => {
                assert_eq!(p, &path);
                assert_eq!(*found, newer);
                assert_eq!(*supported, SCHEMA_VERSION);
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!(
                "newer version (schema {newer} > {SCHEMA_VERSION} supported)"
            )),
            "{msg}"
        );
    }
    let version: u32 = raw(&path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, newer);
}

#[test]
fn open_read_only_on_a_missing_file_errors_clearly_and_creates_nothing() {
    let dir = TempDir::new("missing");
    let path = dir.store();
    let err = Store::open_read_only(&path).unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
    assert!(!path.exists());
}

#[test]
fn open_read_only_refuses_an_older_schema_without_migrating() {
    let dir = TempDir::new("older");
    let path = dir.store();
    // A store at schema 0: created, never migrated.
    raw(&path)
        .pragma_update(None, "application_id", 0x6770_7266)
        .unwrap();
    let err = Store::open_read_only(&path).unwrap_err();
    match &err {
        StoreError::TooOld {
            found, supported, ..
        } => {
            assert_eq!((*found, *supported), (0, SCHEMA_VERSION));
        }
        other => panic!("expected TooOld, got {other:?}"),
    }
    assert!(err.to_string().contains(&path.display().to_string()));
    assert_eq!(count(&path, "sqlite_schema"), 0);
    // The read-write open migrates it.
    assert_eq!(
        Store::open(&path).unwrap().schema_version().unwrap(),
        SCHEMA_VERSION
    );
}

#[test]
fn open_in_a_missing_directory_names_the_path_and_the_fix() {
    let dir = TempDir::new("nodir");
    let path = dir.path().join("no").join("such").join("store.sqlite");
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("cannot open the store {}: ", path.display())),
        "{msg}"
    );
    assert!(
        msg.contains("check the directory exists and is writable"),
        "{msg}"
    );
}

#[test]
fn files_that_are_not_stores_are_refused_untouched() {
    let dir = TempDir::new("foreign");

    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "this is not a database, it is text long enough to matter\n",
    )
    .unwrap();
    let err = Store::open(&text).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.txt"), "{err}");

    let other = dir.path().join("other.sqlite");
    raw(&other)
        .execute_batch("CREATE TABLE accounts (name TEXT)")
        .unwrap();
    let err = Store::open(&other).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert!(err.to_string().contains("other.sqlite"), "{err}");
    let err = Store::open_read_only(&other).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    // Nothing of ours was added, and the journal mode was not changed.
    assert_eq!(count(&other, "sqlite_schema"), 1);
    let mode: String = raw(&other)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
}

#[test]
fn a_read_only_store_sees_the_writers_commits_and_cannot_write() {
    let dir = TempDir::new("readonly");
    let path = dir.store();
    let mut writer = Store::open(&path).unwrap();
    let round = writer.open_round(100).unwrap();
    writer
        .record_miner_round(&record(
            round.id,
            "5Alice",
            Some(1),
            vec![verdict(0, "matmul-i8", Some("pass"), "GPU-a")],
        ))
        .unwrap();

    let mut reader = Store::open_read_only(&path).unwrap();
    assert_eq!(reader.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(reader.verdicts(None).unwrap().len(), 1);
    assert_eq!(reader.unfinished_round().unwrap(), Some(round.clone()));

    // The writer goes on while the reader is open.
    writer
        .record_miner_round(&record(
            round.id,
            "5Bob",
            Some(2),
            vec![verdict(0, "matmul-i8", Some("too-slow"), "GPU-b")],
        ))
        .unwrap();
    writer.finish_round(round.id, 200).unwrap();
    assert_eq!(reader.verdicts(None).unwrap().len(), 2);
    assert_eq!(reader.unfinished_round().unwrap(), None);

    let err = reader.set_meta("k", "v").unwrap_err();
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err:?}");
    assert!(err.to_string().contains("read-only"), "{err}");
    assert_eq!(writer.meta("k").unwrap(), None);
    assert_eq!(reader.integrity_check().unwrap(), "ok");
}

/// Writes one of everything, as the child of the crash test does.
fn write_everything(store: &mut Store) {
    let round = store.open_round(1_000).unwrap();
    assert!(
        store
            .record_miner_round(&record(
                round.id,
                "5Alice",
                Some(17),
                vec![
                    verdict(0, "matmul-i8", Some("pass"), "GPU-a"),
                    verdict(0, "membw", None, "GPU-a"),
                ],
            ))
            .unwrap()
    );
    store.set_rented("5Bob", true, "operator", 1_001).unwrap();
    store
        .record_submission(&SubmissionRow {
            id: 0,
            at: 1_002,
            round_id: round.id,
            method: validator_store::SubmissionMethod::Local,
            uids: vec![17],
            values: vec![65_535],
            outcome: "ok".to_owned(),
            reference: None,
            refusal: None,
        })
        .unwrap();
    store
        .put_pending_reveal("epoch-9", r#"{"salt":[1,2]}"#, 1_100)
        .unwrap();
    store.set_meta("last_weights_block", "42").unwrap();
}

/// Checks what [`write_everything`] wrote.
fn check_everything(path: &Path) {
    let store = Store::open(path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let rounds = store.rounds().unwrap();
    assert_eq!(rounds.len(), 1);
    assert_eq!(rounds[0].finished_at, None);
    assert_eq!(
        store.unfinished_round().unwrap().map(|r| r.id),
        Some(rounds[0].id)
    );
    assert_eq!(
        store
            .miners_done(rounds[0].id)
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["5Alice"]
    );
    let verdicts = store.verdicts(None).unwrap();
    assert_eq!(verdicts.len(), 2);
    assert_eq!(verdicts[1].record.verdict, None);
    assert_eq!(store.standing("5Alice").unwrap().unwrap().uid, Some(17));
    assert!(store.is_rented("5Bob").unwrap());
    assert_eq!(store.last_submission().unwrap().unwrap().uids, [17]);
    assert_eq!(store.pending_reveals().unwrap().len(), 1);
    assert_eq!(
        store.meta("last_weights_block").unwrap().as_deref(),
        Some("42")
    );
}

#[test]
fn everything_survives_a_drop_without_close() {
    let dir = TempDir::new("drop");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    write_everything(&mut store);
    drop(store);
    check_everything(&path);
}

#[test]
fn everything_survives_a_leaked_connection() {
    // The connection is never closed (no checkpoint, no WAL cleanup), as after a crash,
    // while the process lives on.
    let dir = TempDir::new("leak");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    write_everything(&mut store);
    std::mem::forget(store);
    check_everything(&path);
}

const CRASH_DIR: &str = "VALIDATOR_STORE_CRASH_DIR";

/// The child of [`everything_survives_the_process_aborting`]: writes, then aborts (no
/// destructor, no close, no checkpoint). Ignored unless run by that test.
#[test]
#[ignore = "run as a child process by everything_survives_the_process_aborting"]
fn crash_child_writes_then_aborts() {
    let Some(dir) = std::env::var_os(CRASH_DIR) else {
        return;
    };
    let mut store = Store::open(&Path::new(&dir).join("store.sqlite")).unwrap();
    write_everything(&mut store);
    std::process::abort();
}

#[test]
fn everything_survives_the_process_aborting() {
    let dir = TempDir::new("abort");
    let path = dir.store();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_writes_then_aborts",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CRASH_DIR, dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child did not abort: {status}");
    // The commits live in the write-ahead log the aborted process left behind.
    let wal = dir.path().join("store.sqlite-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    check_everything(&path);
}
