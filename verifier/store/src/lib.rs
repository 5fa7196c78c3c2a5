//! The validator's SQLite store: rounds, verdicts, standings, rented machines, weight
//! submissions, pending reveals and a little metadata, in one file.
//!
//! [`Store`] is a synchronous wrapper around one SQLite connection (callers on an async
//! runtime wrap its calls in `spawn_blocking`). Every method either does what it says or
//! returns a [`StoreError`] that names the file and what a person can do; none panics.
//!
//! # Durability
//!
//! - **WAL journal** (`PRAGMA journal_mode = WAL`, persistent in the file): readers
//!   (`verifier status`, `verifier report`, an operator's `sqlite3`) never block the service's
//!   writes, nor it theirs.
//! - **`synchronous = FULL`**: every commit is fsynced to the write-ahead log before it
//!   returns, so nothing a method reported as written is lost on a crash or power cut. There is
//!   no `close` to call: dropping a [`Store`] (or the process dying) loses nothing committed.
//! - **One transaction per logical write**: a miner's round (its row, every verdict, its new
//!   standing) commits whole or not at all; so does each migration with its version bump.
//! - **`foreign_keys = ON`** and `busy_timeout` 5 s (a second process holding the lock makes a
//!   write wait up to 5 s, then fail with a message saying so).
//! - **Constraints make duplicates impossible**, even if two callers race: one row per
//!   `(round_id, hotkey)` in `miner_rounds`, one per `(round_id, hotkey, device_index, module)`
//!   in `verdicts`, at most one unfinished round.
//!
//! # Schema (version 5)
//!
//! Columns are listed with the schema that added them (4: receipts, issue #19; 5: bandwidth in
//! the standing, issue #24).
//!
//! Tracked with `PRAGMA user_version`; `PRAGMA application_id` is `0x67707266` (`gprf`) so a
//! store is told from other SQLite files. [`Store::open`] migrates older files, one migration
//! per transaction, and refuses newer ones ([`StoreError::TooNew`]); [`Store::open_read_only`]
//! never migrates. Tables are plain (not `STRICT`) so any `sqlite3` from 3.9 on reads them.
//! Times are Unix seconds (UTC), verdict kinds and submission methods are text (the enums
//! [`VerdictKind`], [`Tallied`] and [`SubmissionMethod`] are the one mapping to and from
//! it), lists of `u16` are JSON arrays, and
//! there is one row per verdict, so an operator can ask "why did UID 17 drop?" with
//! `sqlite3 store.sqlite "SELECT * FROM miner_rounds WHERE uid = 17 ORDER BY round_id"`.
//!
//! **`rounds`**: one row per round of challenges over every miner.
//! - `id` (integer primary key, autoincrement: 1, 2, … never reused), `started_at`,
//!   `finished_at` (`NULL` while it runs or after a crash cut it short; a restart resumes it).
//!   A partial unique index (`rounds_one_unfinished`) allows at most one unfinished round.
//!
//! **`miner_rounds`**: one row per miner per round, `UNIQUE (round_id, hotkey)`.
//! - `id`; `round_id` (→ `rounds.id`); `hotkey` (SS58); `uid` (0..=65535, `NULL` when
//!   unknown); `addr` (the address challenged); `error` (why the round could not be run
//!   against the miner — connection, handshake — else `NULL`);
//! - `probe_up_mbps`, `probe_up_ok` (miner → verifier throughput, MB/s, and whether its data
//!   checked out: 0/1), `probe_down_mbps`, `probe_down_ok` (verifier → miner), `NULL` when
//!   not measured;
//! - `reliability`, `round_score`, `score`: the miner's standing after this round (the history
//!   of `standings`); `recorded_at`.
//! - Schema 5, `NULL` on older rows and on rounds that challenged nothing: `link_factor` (the
//!   round's bandwidth factor in [0, 1]: `round_score` = `gpu_score` × it), `gpu_score` (the
//!   passing devices' sum before it), `probe_up_outcome`, `probe_down_outcome` (`measured`,
//!   `failed`, `busy`, `verifier-error`: `CHECK`ed; `NULL` when no probe was planned),
//!   `probe_bytes` (bytes each way), `probe_streams` (parallel TCP streams), `probe_json` (the
//!   probe's plan and both results, for a person), `up_mbit`, `down_mbit` (the bandwidth EMAs
//!   after this round, Mbit/s).
//! - Index `miner_rounds_by_hotkey (hotkey, round_id)`.
//!
//! **`verdicts`**: one row per device per challenge module per miner round,
//! `UNIQUE (round_id, hotkey, device_index, module)`, foreign key `(round_id, hotkey)` →
//! `miner_rounds`.
//! - `id`; `round_id`; `hotkey`; `uid`; `recorded_at` (copied from the miner's round, so the
//!   table reads alone); `device_index` (as the miner numbers them); `gpu_name`, `gpu_uuid`
//!   (the miner's claims); `claimed_class` (the class the name maps to, `NULL` if none);
//!   `module` (`matmul-i8`, `membw`, …);
//! - `verdict`: `CHECK`ed to be one of `pass`, `wrong-result`, `too-slow`, `too-fast`,
//!   `timeout`, `protocol-error` ([`VerdictKind`]), or `verifier-error` (the verifier itself
//!   failed: never charged to the miner; `detail_json` says why). [`Tallied`] is the one
//!   mapping between the column's text and the types;
//! - `measured_s`, `peak_floor_s`, `min_s`, `max_s` (seconds: the measured time and the class
//!   window, `NULL` when there is none, or NaN); `detail_json` (the whole verdict, or the verifier's
//!   error, as JSON).
//! - Indexes: the unique one (by round), `verdicts_by_hotkey (hotkey, round_id)`,
//!   `verdicts_by_recorded_at`, `verdicts_by_uuid`.
//!
//! **`standings`**: one row per miner, its standing after the latest round that updated it.
//! - `hotkey` (primary key), `uid`, `reliability` (EMA in [0, 1]), `round_score`, `score`
//!   (`round_score × reliability`), `round_id` (→ `rounds.id`). A record for an older round
//!   never overwrites a newer standing.
//! - Schema 5: `up_mbit`, `down_mbit` (EMAs of the measured upload and download, Mbit/s;
//!   `NULL` before a probe counted), `link_factor` (the last round's, `NULL` when recorded
//!   before schema 5).
//!
//! **`rented`**: the machines the verifier's own records say are rented (never the miner's
//! word). `hotkey` (primary key), `source` (`operator` or a marketplace's name), `since`.
//!
//! **`rented_log`**: every change [`Store::set_rented`] made (not repeats), for the history:
//! `id`, `at`, `hotkey`, `rented` (0/1), `source`.
//!
//! **`submissions`**: one row per weight submission (or decision not to submit).
//! - `id` (autoincrement), `at`, `round_id` (whose standings were used; not a foreign key, so
//!   recording a submission never fails on it), `method` ([`SubmissionMethod`]: `set-weights`,
//!   `commit-reveal-v2`, `timelocked-v4`, `local`, `no-path`), `uids` and `weights` (JSON arrays of `u16`, index-aligned),
//!   `outcome` (`ok` or the error), `reference` (extrinsic hash or reveal round, or `NULL`),
//!   `refusal` (schema 3: the runtime error by name, `SubtensorModule::SettingWeightsTooFast`,
//!   that refused the weights or that the validator's own check predicted; `NULL` otherwise).
//!
//! **`pending_reveals`**: commit-reveal (v2) reveals not yet sent, so a restart can send them.
//! `key` (primary key, the caller's name for it), `json` (opaque to the store), `reveal_after`
//! (when it may be revealed: block or time, the caller's unit).
//!
//! **`meta`**: `key` (primary key), `value`: small facts such as `last_weights_block`.
//!
//! **`proven_devices`** (schema 2): per miner, the devices that passed every challenge of its
//! latest unrented round that challenged devices; a rented machine is scored only for these.
//! `hotkey`, `device_index` (primary key together), `gpu_name`, `gpu_uuid`, `memory_bytes`
//! (the inventory entry as claimed when proven), `round_id`. Replaced whole by
//! [`Store::record_miner_round`] when a record carries `proven`.
//!
//! **`receipts`** (schema 4): one row per verdict that has a verification receipt (every
//! recorded verdict but the verifier's own errors), written in the miner's round transaction.
//! - `id`; `receipt_id` (unique: hex of the signed receipt's envelope digest, the name the
//!   catalogue and `verifier receipts` use); `verdict_id` (unique, → `verdicts.id`);
//!   `round_id`, `hotkey`, `device_index`, `module`, `verdict`, `recorded_at` (copied from the
//!   verdict, so the table reads alone);
//! - the figures the verdict measured (`NULL` where none): `int8_ops` and `int8_s` (GEMM int8
//!   operations and the measured seconds of their phase), `dram_bytes` and `dram_s` (bytes
//!   read by the memory passes and their phase's seconds), `memory_bytes` (the buffer a
//!   `membw` filled);
//! - `size` (bytes of the receipt) and `body` (the receipt, zstd-compressed with the pure-Rust
//!   `ruzstd`; `NULL` once pruned: [`Store::prune_pass_receipts`] drops pass receipts' bodies
//!   after the service's `receipt_retention_rounds`, non-pass receipts are always kept, and
//!   every row's figures stay).
//! - Indexes `receipts_by_hotkey (hotkey, round_id)`, `receipts_by_round (round_id, verdict)`.
#![deny(clippy::indexing_slicing)]

mod error;
mod misc;
mod receipts;
mod rounds;
pub mod rows;
mod schema;
mod verdict_kind;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use error::StoreError;
pub use receipts::MAX_RECEIPT_BYTES;
pub use rows::*;
pub use verdict_kind::{ProbeOutcome, Tallied, UnknownVerdictKind, VerdictKind};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = schema::LATEST;

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The validator's store: one SQLite connection to one file.
///
/// Opened with [`Store::open`] (the service: read-write, migrated) or
/// [`Store::open_read_only`] (status and report while the service runs). Dropping it closes
/// the connection; everything committed is already on disk.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if missing) the store at `path`: WAL journal, `synchronous = FULL`
    /// (nothing recorded is lost on a crash or power cut), foreign keys on, busy timeout 5 s,
    /// then migrates to the latest schema (each migration in one transaction, tracked with
    /// `PRAGMA user_version`). Refuses, without changing it, a file whose schema is newer than
    /// this build knows ([`StoreError::TooNew`]) or that is not a store
    /// ([`StoreError::NotAStore`]).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;

        // Look before writing anything: a newer or foreign file is left exactly as it was.
        known_version(&conn, path)?;

        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unusable {
                path: path.to_path_buf(),
                reason: format!(
                    "its journal mode stayed {mode:?} instead of WAL; keep the store on a \
                     local filesystem"
                ),
            });
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;

        schema::migrate(&mut conn, path)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing store read-only (for `verifier status` / `report` while the service
    /// runs): never creates, writes or migrates it. Fails with [`StoreError::Missing`] when the
    /// file does not exist, and with [`StoreError::TooNew`] / [`StoreError::TooOld`] when its
    /// schema is not exactly this build's. Every write method on it fails (with an error that
    /// says the store is read-only).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        match path.try_exists() {
            Ok(true) => {}
            Ok(false) => {
                return Err(StoreError::Missing {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => {
                return Err(StoreError::Unusable {
                    path: path.to_path_buf(),
                    reason: format!("{e}; check the directory exists and is readable"),
                });
            }
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(open_err)?;
        let version = known_version(&conn, path)?;
        if version < schema::LATEST {
            return Err(StoreError::TooOld {
                path: path.to_path_buf(),
                found: version,
                supported: schema::LATEST,
            });
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The path the store was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's schema version (`PRAGMA user_version`): [`SCHEMA_VERSION`] once opened.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        schema::user_version(&self.conn, &self.path)
    }

    /// `PRAGMA integrity_check`'s answer: `"ok"` when the file is sound, else its findings, one
    /// per line.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(|e| self.sql("checking integrity", e))?;
        let lines = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| self.sql("checking integrity", e))?;
        Ok(lines.join("\n"))
    }

    /// Runs a query and maps every row, failing as a whole if any row fails.
    fn collect<T, P: rusqlite::Params>(
        &self,
        context: &str,
        sql: &str,
        params: P,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| self.sql(context, e))?;
        stmt.query_map(params, map)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| self.sql(context, e))
    }

    /// Wraps an SQLite failure with the file and what was being done.
    fn sql(&self, context: impl Into<String>, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            context: context.into(),
            source,
        }
    }
}

/// The file's schema version, refusing one newer than this build knows or a file that is not
/// a store; reads only.
fn known_version(conn: &Connection, path: &Path) -> Result<u32, StoreError> {
    let version = schema::user_version(conn, path)?;
    if version > schema::LATEST {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: schema::LATEST,
        });
    }
    schema::check_identity(conn, path, version)?;
    Ok(version)
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

    /// The connection's own settings, which another connection cannot see.
    #[test]
    fn open_sets_full_sync_foreign_keys_and_the_busy_timeout() {
        let dir = std::env::temp_dir().join(format!("validator-store-lib-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("store.sqlite")).unwrap();
        let pragma = |name: &str| -> i64 {
            store
                .conn
                .pragma_query_value(None, name, |row| row.get(0))
                .unwrap()
        };
        assert_eq!(pragma("synchronous"), 2, "FULL");
        assert_eq!(pragma("foreign_keys"), 1);
        assert_eq!(pragma("busy_timeout"), 5000);
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");

        let reader = Store::open_read_only(&dir.join("store.sqlite")).unwrap();
        let query_only: i64 = reader
            .conn
            .pragma_query_value(None, "query_only", |row| row.get(0))
            .unwrap();
        assert_eq!(query_only, 1);
        drop((store, reader));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
