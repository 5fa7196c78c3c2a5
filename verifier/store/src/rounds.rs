//! Rounds, miners' rounds with their verdicts, and standings.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use crate::{
    DuplicateUuid, MinerRoundRecord, ProvenDeviceRow, RoundRow, StandingRow, Store, StoreError,
    Tallied, VerdictRecord, VerdictRow,
};

/// The columns [`standing_row`] reads, in its order.
const STANDING_COLUMNS: &str =
    "hotkey, uid, reliability, round_score, score, round_id, up_mbit, down_mbit, link_factor";

/// The columns [`verdict_row`] reads, in its order.
const VERDICT_COLUMNS: &str = "id, round_id, hotkey, uid, recorded_at, device_index, gpu_name, \
     gpu_uuid, claimed_class, module, verdict, measured_s, peak_floor_s, min_s, max_s, \
     detail_json";

impl Store {
    /// The round to work on: the unfinished one if there is one (a crash cut it short: resume
    /// it), else a new round opened at `now`. Read and insert happen in one write transaction,
    /// so two callers cannot open two rounds.
    pub fn open_round(&mut self, now: i64) -> Result<RoundRow, StoreError> {
        const CONTEXT: &str = "opening a round";
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_err(&self.path, CONTEXT, e))?;
        let unfinished = tx
            .query_row(
                "SELECT id, started_at, finished_at FROM rounds WHERE finished_at IS NULL
                 ORDER BY id DESC LIMIT 1",
                [],
                round_row,
            )
            .optional()
            .map_err(|e| sql_err(&self.path, CONTEXT, e))?;
        if let Some(round) = unfinished {
            return Ok(round);
        }
        tx.execute("INSERT INTO rounds (started_at) VALUES (?1)", [now])
            .map_err(|e| sql_err(&self.path, CONTEXT, e))?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(|e| sql_err(&self.path, CONTEXT, e))?;
        Ok(RoundRow {
            id,
            started_at: now,
            finished_at: None,
        })
    }

    /// The unfinished round, if there is one (there is never more than one).
    pub fn unfinished_round(&self) -> Result<Option<RoundRow>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, started_at, finished_at FROM rounds WHERE finished_at IS NULL
                 ORDER BY id DESC LIMIT 1",
                [],
                round_row,
            )
            .optional()
            .map_err(|e| self.sql("reading the unfinished round", e))
    }

    /// Every round, oldest first.
    pub fn rounds(&self) -> Result<Vec<RoundRow>, StoreError> {
        self.collect(
            "reading rounds",
            "SELECT id, started_at, finished_at FROM rounds ORDER BY id",
            [],
            round_row,
        )
    }

    /// Hotkeys (SS58) already recorded in `round_id` (empty for a round with none, or no such
    /// round).
    pub fn miners_done(&self, round_id: i64) -> Result<BTreeSet<String>, StoreError> {
        let hotkeys = self.collect(
            "reading the miners done in a round",
            "SELECT hotkey FROM miner_rounds WHERE round_id = ?1",
            [round_id],
            |row| row.get::<_, String>(0),
        )?;
        Ok(hotkeys.into_iter().collect())
    }

    /// Marks the round finished at `now`. Idempotent: a round already finished keeps its first
    /// `finished_at`. Fails with [`StoreError::NoSuchRound`] for a round never opened.
    pub fn finish_round(&mut self, round_id: i64, now: i64) -> Result<(), StoreError> {
        const CONTEXT: &str = "finishing a round";
        let changed = self
            .conn
            .execute(
                "UPDATE rounds SET finished_at = ?2 WHERE id = ?1 AND finished_at IS NULL",
                [round_id, now],
            )
            .map_err(|e| self.sql(CONTEXT, e))?;
        if changed == 0 && !self.round_exists(round_id)? {
            return Err(StoreError::NoSuchRound {
                path: self.path.clone(),
                round_id,
            });
        }
        Ok(())
    }

    /// Records one miner's round — its row (address, error, probe figures), every verdict, and
    /// its new standing — in one transaction: all of it is written, or none.
    ///
    /// Idempotent: if `(round_id, hotkey)` is already recorded it changes nothing and returns
    /// `Ok(false)`; `Ok(true)` when written. UNIQUE constraints on `(round_id, hotkey)` and on
    /// `(round_id, hotkey, device_index, module)` make duplicates impossible even if callers
    /// race. The standing replaces the miner's current one unless that one comes from a later
    /// round.
    ///
    /// Refused with [`StoreError::InvalidRecord`], writing nothing: an empty hotkey; a standing
    /// for another hotkey, round or UID; two verdicts for the same device and module; a NaN
    /// in the standing. A NaN optional figure (a verdict's times, a probe's throughput) is
    /// stored as `NULL` — no figure — as SQLite stores NaN. Fails with [`StoreError::NoSuchRound`] for a round
    /// never opened.
    pub fn record_miner_round(&mut self, record: &MinerRoundRecord) -> Result<bool, StoreError> {
        const CONTEXT: &str = "recording a miner's round";
        validate(record).map_err(|reason| StoreError::InvalidRecord {
            path: self.path.clone(),
            what: format!("round {} of miner {}", record.round_id, record.hotkey),
            reason,
        })?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_err(&self.path, CONTEXT, e))?;
        let round_exists = tx
            .query_row(
                "SELECT 1 FROM rounds WHERE id = ?1",
                [record.round_id],
                |_| Ok(()),
            )
            .optional()
            .map_err(|e| sql_err(&self.path, CONTEXT, e))?
            .is_some();
        if !round_exists {
            return Err(StoreError::NoSuchRound {
                path: self.path.clone(),
                round_id: record.round_id,
            });
        }
        let standing = &record.standing;
        let link = record.link.as_ref();
        let inserted = tx
            .execute(
                "INSERT INTO miner_rounds (round_id, hotkey, uid, addr, error, probe_up_mbps,
                     probe_up_ok, probe_down_mbps, probe_down_ok, reliability, round_score,
                     score, recorded_at, link_factor, gpu_score, probe_up_outcome,
                     probe_down_outcome, probe_bytes, probe_streams, probe_json, up_mbit,
                     down_mbit)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19, ?20, ?21, ?22)
                 ON CONFLICT (round_id, hotkey) DO NOTHING",
                params![
                    record.round_id,
                    record.hotkey,
                    record.uid,
                    record.addr,
                    record.error,
                    record.probe_up.map(|(mbps, _)| mbps),
                    record.probe_up.map(|(_, ok)| ok),
                    record.probe_down.map(|(mbps, _)| mbps),
                    record.probe_down.map(|(_, ok)| ok),
                    standing.reliability,
                    standing.round_score,
                    standing.score,
                    record.recorded_at,
                    link.map(|l| l.factor),
                    link.map(|l| l.gpu_score),
                    link.and_then(|l| l.up_outcome),
                    link.and_then(|l| l.down_outcome),
                    link.and_then(|l| l.bytes)
                        .map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
                    link.and_then(|l| l.streams),
                    link.map(|l| l.detail_json.as_str()),
                    standing.up_mbit,
                    standing.down_mbit,
                ],
            )
            .map_err(|e| sql_err(&self.path, CONTEXT, e))?;
        if inserted == 0 {
            // Already recorded: the transaction (which wrote nothing) rolls back on drop.
            return Ok(false);
        }
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO verdicts (round_id, hotkey, uid, recorded_at, device_index,
                         gpu_name, gpu_uuid, claimed_class, module, verdict, measured_s,
                         peak_floor_s, min_s, max_s, detail_json)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )
                .map_err(|e| sql_err(&self.path, CONTEXT, e))?;
            let mut verdict_ids = BTreeMap::new();
            for v in &record.verdicts {
                insert
                    .execute(params![
                        record.round_id,
                        record.hotkey,
                        record.uid,
                        record.recorded_at,
                        v.device_index,
                        v.gpu_name,
                        v.gpu_uuid,
                        v.claimed_class,
                        v.module,
                        crate::Tallied::from(v.verdict),
                        v.measured_s,
                        v.peak_floor_s,
                        v.min_s,
                        v.max_s,
                        v.detail_json,
                    ])
                    .map_err(|e| sql_err(&self.path, CONTEXT, e))?;
                if let Some(kind) = v.verdict {
                    verdict_ids.insert(
                        (v.device_index, v.module.as_str()),
                        (tx.last_insert_rowid(), kind),
                    );
                }
            }
            crate::receipts::insert(&tx, &self.path, record, &verdict_ids)?;
        }
        tx.execute(
            "INSERT INTO standings (hotkey, uid, reliability, round_score, score, round_id,
                 up_mbit, down_mbit, link_factor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (hotkey) DO UPDATE SET uid = excluded.uid,
                 reliability = excluded.reliability, round_score = excluded.round_score,
                 score = excluded.score, round_id = excluded.round_id,
                 up_mbit = excluded.up_mbit, down_mbit = excluded.down_mbit,
                 link_factor = excluded.link_factor
             WHERE excluded.round_id >= standings.round_id",
            params![
                standing.hotkey,
                standing.uid,
                standing.reliability,
                standing.round_score,
                standing.score,
                standing.round_id,
                standing.up_mbit,
                standing.down_mbit,
                standing.link_factor,
            ],
        )
        .map_err(|e| sql_err(&self.path, CONTEXT, e))?;
        if let Some(proven) = &record.proven {
            tx.execute(
                "DELETE FROM proven_devices WHERE hotkey = ?1",
                [&record.hotkey],
            )
            .map_err(|e| sql_err(&self.path, CONTEXT, e))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO proven_devices (hotkey, device_index, gpu_name, gpu_uuid,
                         memory_bytes, round_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(|e| sql_err(&self.path, CONTEXT, e))?;
            for d in proven {
                insert
                    .execute(params![
                        record.hotkey,
                        d.device_index,
                        d.gpu_name,
                        d.gpu_uuid,
                        i64::try_from(d.memory_bytes).unwrap_or(i64::MAX),
                        d.round_id,
                    ])
                    .map_err(|e| sql_err(&self.path, CONTEXT, e))?;
            }
        }
        tx.commit().map_err(|e| sql_err(&self.path, CONTEXT, e))?;
        Ok(true)
    }

    /// The devices `hotkey` last proved unrented, by index (empty when none).
    pub fn proven_devices(&self, hotkey: &str) -> Result<Vec<ProvenDeviceRow>, StoreError> {
        self.collect(
            "reading proven devices",
            "SELECT device_index, gpu_name, gpu_uuid, memory_bytes, round_id
             FROM proven_devices WHERE hotkey = ?1 ORDER BY device_index",
            [hotkey],
            |row| {
                let memory: i64 = row.get(3)?;
                Ok(ProvenDeviceRow {
                    device_index: row.get(0)?,
                    gpu_name: row.get(1)?,
                    gpu_uuid: row.get(2)?,
                    memory_bytes: u64::try_from(memory).unwrap_or(0),
                    round_id: row.get(4)?,
                })
            },
        )
    }

    /// The miner's current standing, if it was ever recorded.
    pub fn standing(&self, hotkey: &str) -> Result<Option<StandingRow>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {STANDING_COLUMNS} FROM standings WHERE hotkey = ?1"),
                [hotkey],
                standing_row,
            )
            .optional()
            .map_err(|e| self.sql("reading a standing", e))
    }

    /// Every miner's current standing, sorted by UID (unknown UIDs last), then hotkey.
    pub fn standings(&self) -> Result<Vec<StandingRow>, StoreError> {
        self.collect(
            "reading standings",
            &format!("SELECT {STANDING_COLUMNS} FROM standings ORDER BY uid IS NULL, uid, hotkey"),
            [],
            standing_row,
        )
    }

    /// Verdict rows in the order they were recorded (oldest first); only those with
    /// `recorded_at >= since` when `since` is given.
    pub fn verdicts(&self, since: Option<i64>) -> Result<Vec<VerdictRow>, StoreError> {
        const CONTEXT: &str = "reading verdicts";
        match since {
            Some(since) => self.collect(
                CONTEXT,
                &format!(
                    "SELECT {VERDICT_COLUMNS} FROM verdicts WHERE recorded_at >= ?1 ORDER BY id"
                ),
                [since],
                verdict_row,
            ),
            None => self.collect(
                CONTEXT,
                &format!("SELECT {VERDICT_COLUMNS} FROM verdicts ORDER BY id"),
                [],
                verdict_row,
            ),
        }
    }

    /// Verdict rows of rounds `from_round` and later, in the order they were recorded.
    pub fn verdicts_from_round(&self, from_round: i64) -> Result<Vec<VerdictRow>, StoreError> {
        self.collect(
            "reading recent verdicts",
            &format!("SELECT {VERDICT_COLUMNS} FROM verdicts WHERE round_id >= ?1 ORDER BY id"),
            [from_round],
            verdict_row,
        )
    }

    /// The miner's verdict counts by kind over all rounds; the verifier's own errors are
    /// counted under `"verifier-error"`. Kinds it never got are absent (not zero).
    pub fn verdict_counts(&self, hotkey: &str) -> Result<BTreeMap<Tallied, u64>, StoreError> {
        let counts = self.collect(
            "counting verdicts",
            "SELECT verdict, count(*) FROM verdicts WHERE hotkey = ?1 GROUP BY verdict",
            [hotkey],
            |row| Ok((row.get::<_, Tallied>(0)?, row.get::<_, i64>(1)?)),
        )?;
        // `count(*)` is never negative.
        Ok(counts
            .into_iter()
            .map(|(kind, n)| (kind, n.unsigned_abs()))
            .collect())
    }

    /// GPU UUIDs claimed by more than one miner, each miner judged by the latest round it was
    /// recorded in (an older claim it no longer makes does not count). Empty (or blank) UUIDs
    /// are ignored, and so is one miner claiming a UUID on several devices. Sorted by UUID,
    /// hotkeys sorted.
    pub fn duplicate_uuids(&self) -> Result<Vec<DuplicateUuid>, StoreError> {
        let claims = self.collect(
            "finding duplicate GPU UUIDs",
            "WITH latest AS (
                 SELECT hotkey, max(round_id) AS round_id FROM miner_rounds GROUP BY hotkey
             ),
             claims AS (
                 SELECT DISTINCT v.gpu_uuid, v.hotkey FROM verdicts v
                 JOIN latest l ON v.hotkey = l.hotkey AND v.round_id = l.round_id
                 WHERE trim(v.gpu_uuid) <> ''
             )
             SELECT gpu_uuid, hotkey FROM claims
             WHERE gpu_uuid IN (
                 SELECT gpu_uuid FROM claims GROUP BY gpu_uuid HAVING count(*) > 1
             )
             ORDER BY gpu_uuid, hotkey",
            [],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
        )?;
        let mut out: Vec<DuplicateUuid> = Vec::new();
        for (gpu_uuid, hotkey) in claims {
            match out.last_mut() {
                Some(last) if last.gpu_uuid == gpu_uuid => last.hotkeys.push(hotkey),
                _ => out.push(DuplicateUuid {
                    gpu_uuid,
                    hotkeys: vec![hotkey],
                }),
            }
        }
        Ok(out)
    }

    /// Whether the round was ever opened.
    fn round_exists(&self, round_id: i64) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT 1 FROM rounds WHERE id = ?1", [round_id], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| self.sql("looking up a round", e))
    }
}

/// [`StoreError::Sqlite`] without borrowing the whole store (for use beside a transaction).
fn sql_err(path: &std::path::Path, context: &str, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        context: context.to_owned(),
        source,
    }
}

/// Why the store refuses `record`, if it does.
fn validate(record: &MinerRoundRecord) -> Result<(), String> {
    if record.hotkey.is_empty() {
        return Err("the hotkey is empty".to_owned());
    }
    let standing = &record.standing;
    if standing.hotkey != record.hotkey {
        return Err(format!(
            "its standing is for another hotkey ({})",
            standing.hotkey
        ));
    }
    if standing.round_id != record.round_id {
        return Err(format!(
            "its standing is for another round ({})",
            standing.round_id
        ));
    }
    if standing.uid != record.uid {
        return Err(format!(
            "its standing has UID {:?}, the record {:?}",
            standing.uid, record.uid
        ));
    }
    let nan = [
        ("reliability", standing.reliability),
        ("round_score", standing.round_score),
        ("score", standing.score),
    ]
    .into_iter()
    .find(|(_, x)| x.is_nan());
    if let Some((name, _)) = nan {
        return Err(format!("its standing's {name} is NaN"));
    }
    if let Some(link) = &record.link {
        check_link(link)?;
    }
    let mut seen = BTreeSet::new();
    for v in &record.verdicts {
        if !seen.insert((v.device_index, v.module.as_str())) {
            return Err(format!(
                "two verdicts for device {} module {}",
                v.device_index, v.module
            ));
        }
    }
    crate::receipts::validate(record)
}

/// Refuses a NaN or out-of-range link factor, a NaN round score before it, and an unknown
/// probe outcome.
fn check_link(link: &crate::LinkRecord) -> Result<(), String> {
    if !(0.0..=1.0).contains(&link.factor) {
        return Err(format!(
            "its link factor is {} (a factor is in [0, 1])",
            link.factor
        ));
    }
    if link.gpu_score.is_nan() {
        return Err("its score before the link factor is NaN".to_owned());
    }
    if link.streams == Some(0) {
        return Err("its probe ran over 0 streams".to_owned());
    }
    Ok(())
}

/// A `rounds` row.
fn round_row(row: &Row<'_>) -> rusqlite::Result<RoundRow> {
    Ok(RoundRow {
        id: row.get(0)?,
        started_at: row.get(1)?,
        finished_at: row.get(2)?,
    })
}

/// A `standings` row.
fn standing_row(row: &Row<'_>) -> rusqlite::Result<StandingRow> {
    Ok(StandingRow {
        hotkey: row.get(0)?,
        uid: row.get(1)?,
        reliability: row.get(2)?,
        round_score: row.get(3)?,
        score: row.get(4)?,
        round_id: row.get(5)?,
        up_mbit: row.get(6)?,
        down_mbit: row.get(7)?,
        link_factor: row.get(8)?,
    })
}

/// A `verdicts` row, selected with [`VERDICT_COLUMNS`].
fn verdict_row(row: &Row<'_>) -> rusqlite::Result<VerdictRow> {
    let kind: Tallied = row.get(10)?;
    Ok(VerdictRow {
        id: row.get(0)?,
        round_id: row.get(1)?,
        hotkey: row.get(2)?,
        uid: row.get(3)?,
        recorded_at: row.get(4)?,
        record: VerdictRecord {
            device_index: row.get(5)?,
            gpu_name: row.get(6)?,
            gpu_uuid: row.get(7)?,
            claimed_class: row.get(8)?,
            module: row.get(9)?,
            verdict: kind.kind(),
            measured_s: row.get(11)?,
            peak_floor_s: row.get(12)?,
            min_s: row.get(13)?,
            max_s: row.get(14)?,
            detail_json: row.get(15)?,
        },
    })
}
