//! Rented machines, weight submissions, pending reveals and metadata.

use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use crate::{RentedRow, Store, StoreError, SubmissionMethod, SubmissionRow};

/// The columns [`raw_submission`] reads, in its order.
const SUBMISSION_COLUMNS: &str =
    "id, at, round_id, method, uids, weights, outcome, reference, refusal";

impl Store {
    /// Marks the miner's machine rented (`rented: true`) or not, on the verifier's own records
    /// (`source`: `operator` or a marketplace's name; never the miner). Marking an already
    /// rented machine again keeps its `since` (and takes the new `source`). Each change (not a
    /// repeat) is also appended to `rented_log` with `now`, in the same transaction.
    pub fn set_rented(
        &mut self,
        hotkey: &str,
        rented: bool,
        source: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        const CONTEXT: &str = "recording a rented machine";
        let err = |e| StoreError::Sqlite {
            path: self.path.clone(),
            context: CONTEXT.to_owned(),
            source: e,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let before: Option<String> = tx
            .query_row(
                "SELECT source FROM rented WHERE hotkey = ?1",
                [hotkey],
                |row| row.get(0),
            )
            .optional()
            .map_err(err)?;
        let changed = match (rented, before) {
            (true, None) => {
                tx.execute(
                    "INSERT INTO rented (hotkey, source, since) VALUES (?1, ?2, ?3)",
                    params![hotkey, source, now],
                )
                .map_err(err)?;
                true
            }
            (true, Some(before)) if before != source => {
                tx.execute(
                    "UPDATE rented SET source = ?2 WHERE hotkey = ?1",
                    params![hotkey, source],
                )
                .map_err(err)?;
                true
            }
            (false, Some(_)) => {
                tx.execute("DELETE FROM rented WHERE hotkey = ?1", [hotkey])
                    .map_err(err)?;
                true
            }
            (true, Some(_)) | (false, None) => false,
        };
        if changed {
            tx.execute(
                "INSERT INTO rented_log (at, hotkey, rented, source) VALUES (?1, ?2, ?3, ?4)",
                params![now, hotkey, rented, source],
            )
            .map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(())
    }

    /// The machines currently marked rented, sorted by hotkey.
    pub fn rented(&self) -> Result<Vec<RentedRow>, StoreError> {
        self.collect(
            "reading rented machines",
            "SELECT hotkey, source, since FROM rented ORDER BY hotkey",
            [],
            |row| {
                Ok(RentedRow {
                    hotkey: row.get(0)?,
                    source: row.get(1)?,
                    since: row.get(2)?,
                })
            },
        )
    }

    /// Whether the miner's machine is currently marked rented.
    pub fn is_rented(&self, hotkey: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM rented WHERE hotkey = ?1)",
                [hotkey],
                |row| row.get(0),
            )
            .map_err(|e| self.sql("reading a rented machine", e))
    }

    /// Records a weight submission (or the decision not to submit) and returns its row id,
    /// which is larger than every earlier one's. The `id` field of `row` is ignored. `uids`
    /// and `values` are stored as given (as JSON arrays in `uids` and `weights`).
    pub fn record_submission(&mut self, row: &SubmissionRow) -> Result<i64, StoreError> {
        const CONTEXT: &str = "recording a weight submission";
        let uids = self.to_json(&row.uids)?;
        let weights = self.to_json(&row.values)?;
        self.conn
            .execute(
                "INSERT INTO submissions
                     (at, round_id, method, uids, weights, outcome, reference, refusal)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    row.at,
                    row.round_id,
                    row.method.as_str(),
                    uids,
                    weights,
                    row.outcome,
                    row.reference,
                    row.refusal
                ],
            )
            .map_err(|e| self.sql(CONTEXT, e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every weight submission, oldest first.
    pub fn submissions(&self) -> Result<Vec<SubmissionRow>, StoreError> {
        let raw = self.collect(
            "reading weight submissions",
            &format!("SELECT {SUBMISSION_COLUMNS} FROM submissions ORDER BY id"),
            [],
            raw_submission,
        )?;
        raw.into_iter().map(|r| self.submission_row(r)).collect()
    }

    /// The latest weight submission, if any.
    pub fn last_submission(&self) -> Result<Option<SubmissionRow>, StoreError> {
        let raw = self
            .conn
            .query_row(
                &format!("SELECT {SUBMISSION_COLUMNS} FROM submissions ORDER BY id DESC LIMIT 1"),
                [],
                raw_submission,
            )
            .optional()
            .map_err(|e| self.sql("reading the last weight submission", e))?;
        raw.map(|r| self.submission_row(r)).transpose()
    }

    /// Stores a pending commit-reveal (v2) reveal under `key` — `json` is opaque to the store,
    /// `reveal_after` is when it may be revealed — replacing any reveal stored under the same
    /// key. Survives restarts until removed.
    pub fn put_pending_reveal(
        &mut self,
        key: &str,
        json: &str,
        reveal_after: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO pending_reveals (key, json, reveal_after) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET json = excluded.json,
                     reveal_after = excluded.reveal_after",
                params![key, json, reveal_after],
            )
            .map_err(|e| self.sql("storing a pending reveal", e))?;
        Ok(())
    }

    /// Every pending reveal as `(key, json, reveal_after)`, earliest `reveal_after` first
    /// (then by key). Nothing is removed: call [`Store::remove_pending_reveal`] once a reveal
    /// went through, so a crash in between loses none.
    pub fn pending_reveals(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.collect(
            "reading pending reveals",
            "SELECT key, json, reveal_after FROM pending_reveals ORDER BY reveal_after, key",
            [],
            reveal_row,
        )
    }

    /// Removes the pending reveal stored under `key`; a key with none is not an error.
    pub fn remove_pending_reveal(&mut self, key: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM pending_reveals WHERE key = ?1", [key])
            .map_err(|e| self.sql("removing a pending reveal", e))?;
        Ok(())
    }

    /// Returns every pending reveal, as [`Store::pending_reveals`] does, and deletes them, in
    /// one transaction. A reveal taken is gone even if sending it then fails: prefer
    /// [`Store::pending_reveals`] with [`Store::remove_pending_reveal`] after each success.
    pub fn take_pending_reveals(&mut self) -> Result<Vec<(String, String, i64)>, StoreError> {
        const CONTEXT: &str = "taking pending reveals";
        let err = |e| StoreError::Sqlite {
            path: self.path.clone(),
            context: CONTEXT.to_owned(),
            source: e,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let reveals = {
            let mut stmt = tx
                .prepare(
                    "SELECT key, json, reveal_after FROM pending_reveals
                     ORDER BY reveal_after, key",
                )
                .map_err(err)?;
            stmt.query_map([], reveal_row)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(err)?
        };
        tx.execute("DELETE FROM pending_reveals", []).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(reveals)
    }

    /// Sets the metadata `key` to `value`, replacing any earlier value.
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map_err(|e| self.sql("writing metadata", e))?;
        Ok(())
    }

    /// The metadata value of `key`, if it was ever set.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| self.sql("reading metadata", e))
    }

    /// `values` as JSON text.
    fn to_json(&self, values: &[u16]) -> Result<String, StoreError> {
        serde_json::to_string(values).map_err(|e| StoreError::InvalidRecord {
            path: self.path.clone(),
            what: "a weight submission".to_owned(),
            reason: e.to_string(),
        })
    }

    /// Decodes the JSON columns of a `submissions` row.
    fn submission_row(&self, raw: RawSubmission) -> Result<SubmissionRow, StoreError> {
        let decode = |column: &'static str, text: &str| {
            serde_json::from_str::<Vec<u16>>(text).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                table: "submissions",
                column,
                row: raw.id,
                reason: format!("not a JSON array of u16 ({e})"),
            })
        };
        Ok(SubmissionRow {
            id: raw.id,
            at: raw.at,
            round_id: raw.round_id,
            method: SubmissionMethod::parse(&raw.method).ok_or_else(|| StoreError::Corrupt {
                path: self.path.clone(),
                table: "submissions",
                column: "method",
                row: raw.id,
                reason: format!(
                    "{:?} is not a submission method ({})",
                    raw.method,
                    SubmissionMethod::ALL
                        .map(SubmissionMethod::as_str)
                        .join(", ")
                ),
            })?,
            uids: decode("uids", &raw.uids)?,
            values: decode("weights", &raw.weights)?,
            outcome: raw.outcome,
            reference: raw.reference,
            refusal: raw.refusal,
        })
    }
}

/// A `submissions` row with its JSON columns still text.
struct RawSubmission {
    id: i64,
    at: i64,
    round_id: i64,
    method: String,
    uids: String,
    weights: String,
    outcome: String,
    reference: Option<String>,
    refusal: Option<String>,
}

/// A `submissions` row, selected with [`SUBMISSION_COLUMNS`].
fn raw_submission(row: &Row<'_>) -> rusqlite::Result<RawSubmission> {
    Ok(RawSubmission {
        id: row.get(0)?,
        at: row.get(1)?,
        round_id: row.get(2)?,
        method: row.get(3)?,
        uids: row.get(4)?,
        weights: row.get(5)?,
        outcome: row.get(6)?,
        reference: row.get(7)?,
        refusal: row.get(8)?,
    })
}

/// A `pending_reveals` row.
fn reveal_row(row: &Row<'_>) -> rusqlite::Result<(String, String, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}
