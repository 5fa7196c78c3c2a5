//! The schema and its migrations, tracked with `PRAGMA user_version`.
//!
//! `MIGRATIONS[i]` takes a file from schema `i` to schema `i + 1`. Each runs in one
//! `BEGIN IMMEDIATE` transaction together with the `user_version` bump, so a crash or failure
//! mid-migration leaves the file at the version before it. Migrations are only ever appended:
//! a released one is never edited.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

/// `PRAGMA application_id` of a store: `gprf` in ASCII. It tells a store from another SQLite
/// file (`file` prints it too).
pub(crate) const APPLICATION_ID: i64 = 0x6770_7266;

/// Schema 1: every table and index. See the crate documentation for what each column means.
const V1: &str = "
CREATE TABLE rounds (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
);
-- At most one unfinished round: the one a restart resumes.
CREATE UNIQUE INDEX rounds_one_unfinished ON rounds (finished_at IS NULL)
    WHERE finished_at IS NULL;

CREATE TABLE miner_rounds (
    id              INTEGER PRIMARY KEY,
    round_id        INTEGER NOT NULL REFERENCES rounds (id),
    hotkey          TEXT    NOT NULL,
    uid             INTEGER CHECK (uid BETWEEN 0 AND 65535),
    addr            TEXT    NOT NULL,
    error           TEXT,
    probe_up_mbps   REAL,
    probe_up_ok     INTEGER CHECK (probe_up_ok IN (0, 1)),
    probe_down_mbps REAL,
    probe_down_ok   INTEGER CHECK (probe_down_ok IN (0, 1)),
    reliability     REAL    NOT NULL,
    round_score     REAL    NOT NULL,
    score           REAL    NOT NULL,
    recorded_at     INTEGER NOT NULL,
    UNIQUE (round_id, hotkey)
);
CREATE INDEX miner_rounds_by_hotkey ON miner_rounds (hotkey, round_id);

CREATE TABLE verdicts (
    id            INTEGER PRIMARY KEY,
    round_id      INTEGER NOT NULL,
    hotkey        TEXT    NOT NULL,
    uid           INTEGER CHECK (uid BETWEEN 0 AND 65535),
    recorded_at   INTEGER NOT NULL,
    device_index  INTEGER NOT NULL CHECK (device_index BETWEEN 0 AND 4294967295),
    gpu_name      TEXT    NOT NULL,
    gpu_uuid      TEXT    NOT NULL,
    claimed_class TEXT,
    module        TEXT    NOT NULL,
    verdict       TEXT    NOT NULL CHECK (verdict IN ('pass', 'wrong-result', 'too-slow',
                      'too-fast', 'timeout', 'protocol-error', 'verifier-error')),
    measured_s    REAL,
    peak_floor_s  REAL,
    min_s         REAL,
    max_s         REAL,
    detail_json   TEXT    NOT NULL,
    UNIQUE (round_id, hotkey, device_index, module),
    FOREIGN KEY (round_id, hotkey) REFERENCES miner_rounds (round_id, hotkey)
);
CREATE INDEX verdicts_by_hotkey ON verdicts (hotkey, round_id);
CREATE INDEX verdicts_by_recorded_at ON verdicts (recorded_at);
CREATE INDEX verdicts_by_uuid ON verdicts (gpu_uuid);

CREATE TABLE standings (
    hotkey      TEXT    PRIMARY KEY,
    uid         INTEGER CHECK (uid BETWEEN 0 AND 65535),
    reliability REAL    NOT NULL,
    round_score REAL    NOT NULL,
    score       REAL    NOT NULL,
    round_id    INTEGER NOT NULL REFERENCES rounds (id)
);

CREATE TABLE rented (
    hotkey TEXT    PRIMARY KEY,
    source TEXT    NOT NULL,
    since  INTEGER NOT NULL
);

CREATE TABLE rented_log (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    hotkey TEXT    NOT NULL,
    rented INTEGER NOT NULL CHECK (rented IN (0, 1)),
    source TEXT    NOT NULL
);

CREATE TABLE submissions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    round_id  INTEGER NOT NULL,
    method    TEXT    NOT NULL,
    uids      TEXT    NOT NULL,
    weights   TEXT    NOT NULL,
    outcome   TEXT    NOT NULL,
    reference TEXT
);

CREATE TABLE pending_reveals (
    key          TEXT    PRIMARY KEY,
    json         TEXT    NOT NULL,
    reveal_after INTEGER NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// Schema 2: the devices each miner last proved unrented (a rented machine is scored only for
/// those: docs/design.md §No score without proof, rule 6).
const V2: &str = "
CREATE TABLE proven_devices (
    hotkey       TEXT    NOT NULL,
    device_index INTEGER NOT NULL CHECK (device_index BETWEEN 0 AND 4294967295),
    gpu_name     TEXT    NOT NULL,
    gpu_uuid     TEXT    NOT NULL,
    memory_bytes INTEGER NOT NULL CHECK (memory_bytes >= 0),
    round_id     INTEGER NOT NULL,
    PRIMARY KEY (hotkey, device_index)
);
";

/// Schema 3: the runtime error a weight submission was refused with (or would have been: the
/// validator's own check refused to send it), by name (`SubtensorModule::SettingWeightsTooFast`).
const V3: &str = "
ALTER TABLE submissions ADD COLUMN refusal TEXT;
";

/// Schema 4: verification receipts, one per recorded verdict (docs/design.md §Receipts and the
/// catalogue): the signed receipt, zstd-compressed (`body`, `NULL` once a pass receipt is
/// pruned), and the figures the catalogue shows, which stay when the body goes.
const V4: &str = "
CREATE TABLE receipts (
    id           INTEGER PRIMARY KEY,
    receipt_id   TEXT    NOT NULL UNIQUE,
    verdict_id   INTEGER NOT NULL UNIQUE REFERENCES verdicts (id),
    round_id     INTEGER NOT NULL,
    hotkey       TEXT    NOT NULL,
    device_index INTEGER NOT NULL CHECK (device_index BETWEEN 0 AND 4294967295),
    module       TEXT    NOT NULL,
    verdict      TEXT    NOT NULL,
    recorded_at  INTEGER NOT NULL,
    int8_ops     REAL,
    int8_s       REAL,
    dram_bytes   REAL,
    dram_s       REAL,
    memory_bytes INTEGER CHECK (memory_bytes >= 0),
    size         INTEGER NOT NULL CHECK (size >= 0),
    body         BLOB
);
CREATE INDEX receipts_by_hotkey ON receipts (hotkey, round_id);
CREATE INDEX receipts_by_round ON receipts (round_id, verdict);
";

/// Schema 5 (issue #24): bandwidth in the standing. Per miner round: the link factor, the round
/// score before it, each probe direction's outcome, the probe's bytes each way, its streams and
/// its plan and results as JSON, and the bandwidth EMAs after the round; per standing: the
/// EMAs and the last link factor. Every new column is `NULL` for rows written before it.
const V5: &str = "
ALTER TABLE miner_rounds ADD COLUMN link_factor REAL;
ALTER TABLE miner_rounds ADD COLUMN gpu_score REAL;
ALTER TABLE miner_rounds ADD COLUMN probe_up_outcome TEXT
    CHECK (probe_up_outcome IN ('measured', 'failed', 'busy', 'verifier-error'));
ALTER TABLE miner_rounds ADD COLUMN probe_down_outcome TEXT
    CHECK (probe_down_outcome IN ('measured', 'failed', 'busy', 'verifier-error'));
ALTER TABLE miner_rounds ADD COLUMN probe_bytes INTEGER CHECK (probe_bytes >= 0);
ALTER TABLE miner_rounds ADD COLUMN probe_streams INTEGER CHECK (probe_streams BETWEEN 1 AND 65535);
ALTER TABLE miner_rounds ADD COLUMN probe_json TEXT;
ALTER TABLE miner_rounds ADD COLUMN up_mbit REAL;
ALTER TABLE miner_rounds ADD COLUMN down_mbit REAL;
ALTER TABLE standings ADD COLUMN up_mbit REAL;
ALTER TABLE standings ADD COLUMN down_mbit REAL;
ALTER TABLE standings ADD COLUMN link_factor REAL;
";

/// The migrations, in order: `MIGRATIONS[i]` takes schema `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

/// The schema this version writes and reads.
pub(crate) const LATEST: u32 = 5;

// `LATEST` is the number of migrations.
const _: () = assert!(MIGRATIONS.len() == LATEST as usize);

/// The file's `user_version`, as a schema version.
pub(crate) fn user_version(conn: &Connection, path: &Path) -> Result<u32, StoreError> {
    let raw: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    u32::try_from(raw).map_err(|_| StoreError::NotAStore {
        path: path.to_path_buf(),
        reason: format!("its user_version is {raw}"),
    })
}

/// Refuses a file that is not a store: another application's id, or schema 0 with tables in
/// it (some other program's database, which migrating would scribble over).
pub(crate) fn check_identity(
    conn: &Connection,
    path: &Path,
    version: u32,
) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let app: i64 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(open_err)?;
    if app != APPLICATION_ID && !(app == 0 && version == 0) {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            reason: format!("its application_id is {app:#x}, a store's is {APPLICATION_ID:#x}"),
        });
    }
    if version == 0 {
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'",
                [],
                |row| row.get(0),
            )
            .map_err(open_err)?;
        if tables > 0 {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
                reason: format!("it is at schema 0 yet holds {tables} tables or indexes"),
            });
        }
    }
    Ok(())
}

/// Brings the file to [`LATEST`], one migration per transaction; returns how many were
/// applied (0 when it was already there). Refuses a newer schema without touching the file.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<u32, StoreError> {
    let mut applied = 0;
    loop {
        // Another process may migrate concurrently: the version is read again inside each
        // write transaction, which excludes it.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let from = user_version(&tx, path)?;
        if from > LATEST {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: from,
                supported: LATEST,
            });
        }
        check_identity(&tx, path, from)?;
        let Some(sql) = usize::try_from(from).ok().and_then(|i| MIGRATIONS.get(i)) else {
            // At LATEST: nothing to do (the empty transaction rolls back on drop).
            return Ok(applied);
        };
        let to = from.saturating_add(1);
        let migrate_err = |source| StoreError::Migrate {
            path: path.to_path_buf(),
            from,
            to,
            source,
        };
        tx.execute_batch(sql).map_err(migrate_err)?;
        tx.pragma_update(None, "user_version", to)
            .map_err(migrate_err)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(migrate_err)?;
        tx.commit().map_err(migrate_err)?;
        applied += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;

    #[test]
    fn migrating_twice_applies_nothing_the_second_time() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        assert_eq!(migrate(&mut conn, path).unwrap(), LATEST);
        assert_eq!(user_version(&conn, path).unwrap(), LATEST);
        assert_eq!(migrate(&mut conn, path).unwrap(), 0);
        assert_eq!(user_version(&conn, path).unwrap(), LATEST);
    }

    #[test]
    fn the_verdict_check_lists_exactly_the_known_kinds() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        conn.execute_batch(
            "INSERT INTO rounds (id, started_at) VALUES (1, 0);
             INSERT INTO miner_rounds (round_id, hotkey, addr, reliability, round_score, score,
                 recorded_at) VALUES (1, 'k', 'a', 1, 1, 1, 0);",
        )
        .unwrap();
        let insert = |module: &str, kind: &str| {
            conn.execute(
                "INSERT INTO verdicts (round_id, hotkey, recorded_at, device_index, gpu_name,
                     gpu_uuid, module, verdict, detail_json)
                 VALUES (1, 'k', 0, 0, 'n', 'u', ?1, ?2, '{}')",
                (module, kind),
            )
        };
        for kind in crate::Tallied::ALL.map(crate::Tallied::as_str) {
            insert(kind, kind).unwrap();
        }
        for bad in ["passed", "", "PASS", "error"] {
            assert!(
                insert(&format!("m-{bad}"), bad).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn schema_3_keeps_schema_2_submissions_with_no_refusal() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.execute(
            "INSERT INTO submissions (at, round_id, method, uids, weights, outcome)
             VALUES (1, 1, 'set-weights', '[1]', '[65535]', 'ok')",
            [],
        )
        .unwrap();
        // Schema 3 and every later migration.
        assert_eq!(migrate(&mut conn, path).unwrap(), LATEST - 2);
        let (outcome, refusal): (String, Option<String>) = conn
            .query_row("SELECT outcome, refusal FROM submissions", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((outcome.as_str(), refusal), ("ok", None));
    }

    /// Schema 5 keeps every older miner round and standing, with no bandwidth figures, and
    /// its outcome columns accept exactly the probe outcomes.
    #[test]
    fn schema_5_keeps_older_rows_with_no_bandwidth_figures() {
        let at = MIGRATIONS.iter().position(|m| *m == V5).unwrap();
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        for sql in &MIGRATIONS[..at] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", at as i64).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO rounds (id, started_at) VALUES (1, 0);
             INSERT INTO miner_rounds (round_id, hotkey, addr, probe_up_mbps, probe_up_ok,
                 reliability, round_score, score, recorded_at)
                 VALUES (1, 'k', 'a', 12.5, 1, 0.9, 2, 1.8, 0);
             INSERT INTO standings (hotkey, reliability, round_score, score, round_id)
                 VALUES ('k', 0.9, 2, 1.8, 1);",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn, path).unwrap(), LATEST - at as u32);
        let (mbps, factor, outcome): (f64, Option<f64>, Option<String>) = conn
            .query_row(
                "SELECT probe_up_mbps, link_factor, probe_up_outcome FROM miner_rounds",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((mbps, factor, outcome), (12.5, None, None));
        let (score, up): (f64, Option<f64>) = conn
            .query_row("SELECT score, up_mbit FROM standings", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((score, up), (1.8, None));
        let set = |outcome: &str| {
            conn.execute("UPDATE miner_rounds SET probe_down_outcome = ?1", [outcome])
        };
        for outcome in crate::ProbeOutcome::ALL.map(crate::ProbeOutcome::as_str) {
            set(outcome).unwrap();
        }
        for bad in ["ok", "", "MEASURED", "late"] {
            assert!(set(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn schema_4_adds_receipts_and_keeps_schema_3_verdicts() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO rounds (id, started_at) VALUES (1, 0);
             INSERT INTO miner_rounds (round_id, hotkey, addr, reliability, round_score, score,
                 recorded_at) VALUES (1, 'k', 'a', 1, 1, 1, 0);
             INSERT INTO verdicts (round_id, hotkey, recorded_at, device_index, gpu_name,
                 gpu_uuid, module, verdict, detail_json)
             VALUES (1, 'k', 0, 0, 'n', 'u', 'membw', 'pass', '{}');",
        )
        .unwrap();
        // Schema 3 → 4 (receipts), then on to the latest.
        assert_eq!(migrate(&mut conn, path).unwrap(), LATEST - 3);
        assert_eq!(user_version(&conn, path).unwrap(), LATEST);
        let (verdicts, receipts): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM verdicts), (SELECT count(*) FROM receipts)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((verdicts, receipts), (1, 0));
        // A receipt must name a verdict row.
        assert!(
            conn.execute(
                "INSERT INTO receipts (receipt_id, verdict_id, round_id, hotkey, device_index,
                     module, verdict, recorded_at, size) VALUES ('x', 1, 1, 'k', 0, 'membw',
                     'pass', 0, 1)",
                [],
            )
            .is_ok()
        );
        assert!(
            conn.execute(
                "INSERT INTO receipts (receipt_id, verdict_id, round_id, hotkey, device_index,
                     module, verdict, recorded_at, size) VALUES ('y', 1, 1, 'k', 0, 'membw',
                     'pass', 0, 1)",
                [],
            )
            .is_err(),
            "one receipt per verdict"
        );
    }

    #[test]
    fn a_second_unfinished_round_is_impossible() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        conn.execute("INSERT INTO rounds (started_at) VALUES (1)", [])
            .unwrap();
        assert!(
            conn.execute("INSERT INTO rounds (started_at) VALUES (2)", [])
                .is_err()
        );
        conn.execute("UPDATE rounds SET finished_at = 3", [])
            .unwrap();
        conn.execute("INSERT INTO rounds (started_at) VALUES (4)", [])
            .unwrap();
    }

    #[test]
    fn a_foreign_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE other (x)").unwrap();
        let err = migrate(&mut conn, Path::new("/x/other.sqlite")).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
        assert!(err.to_string().contains("/x/other.sqlite"), "{err}");

        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "application_id", 42).unwrap();
        let err = migrate(&mut conn, Path::new("/x/other.sqlite")).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    }
}
