//! Receipts (schema 4): one per recorded verdict, written in the miner's round transaction,
//! kept zstd-compressed (ruzstd, pure Rust); pass receipts are pruned after the retention the
//! caller gives ([`Store::prune_pass_receipts`]), their figures kept.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::{
    MinerRoundRecord, MinerSeen, ReceiptFigures, ReceiptFilter, ReceiptRow, Store, StoreError,
    StoredReceipt, VerdictKind,
};

/// The largest receipt the store keeps (bytes, uncompressed). A receipt is at most a few
/// hundred KiB (the openings of one challenge and the module when the `Prepare` carried it);
/// the bound keeps a damaged `size` column from asking for more memory than that.
pub const MAX_RECEIPT_BYTES: usize = 16 << 20;

/// The columns [`receipt_row`] reads, in its order.
const RECEIPT_COLUMNS: &str = "receipt_id, verdict_id, round_id, hotkey, device_index, module, \
     verdict, recorded_at, int8_ops, int8_s, dram_bytes, dram_s, memory_bytes, size, \
     body IS NOT NULL";

/// [`RECEIPT_COLUMNS`] with each column prefixed (`r.`) for a join.
fn prefixed(prefix: &str) -> String {
    RECEIPT_COLUMNS
        .split(", ")
        .map(|c| format!("{prefix}{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why the receipts of `record` cannot be kept, if they cannot: each must belong to one of its
/// verdicts (not a verifier error), at most one per verdict, with an id and at most
/// [`MAX_RECEIPT_BYTES`] bytes.
pub(crate) fn validate(record: &MinerRoundRecord) -> Result<(), String> {
    let verdicts: BTreeSet<(u32, &str)> = record
        .verdicts
        .iter()
        .filter(|v| v.verdict.is_some())
        .map(|v| (v.device_index, v.module.as_str()))
        .collect();
    let mut seen = BTreeSet::new();
    for r in &record.receipts {
        let key = (r.device_index, r.module.as_str());
        if !verdicts.contains(&key) {
            return Err(format!(
                "a receipt for device {} module {} has no verdict in the record",
                r.device_index, r.module
            ));
        }
        if !seen.insert(key) {
            return Err(format!(
                "two receipts for device {} module {}",
                r.device_index, r.module
            ));
        }
        if r.receipt_id.is_empty() || r.receipt_id.len() > 128 {
            return Err(format!(
                "the receipt for device {} module {} has a bad id {:?}",
                r.device_index, r.module, r.receipt_id
            ));
        }
        if r.bytes.is_empty() || r.bytes.len() > MAX_RECEIPT_BYTES {
            return Err(format!(
                "the receipt for device {} module {} has {} bytes (1 to {MAX_RECEIPT_BYTES})",
                r.device_index,
                r.module,
                r.bytes.len()
            ));
        }
    }
    Ok(())
}

/// Writes the receipts of `record` inside its transaction; `verdict_ids` maps each verdict
/// `(device_index, module)` to its row id and kind.
pub(crate) fn insert(
    tx: &Transaction<'_>,
    path: &Path,
    record: &MinerRoundRecord,
    verdict_ids: &BTreeMap<(u32, &str), (i64, VerdictKind)>,
) -> Result<(), StoreError> {
    const CONTEXT: &str = "recording receipts";
    let err = |e| StoreError::Sqlite {
        path: path.to_path_buf(),
        context: CONTEXT.to_owned(),
        source: e,
    };
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO receipts (receipt_id, verdict_id, round_id, hotkey, device_index,
                 module, verdict, recorded_at, int8_ops, int8_s, dram_bytes, dram_s,
                 memory_bytes, size, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )
        .map_err(err)?;
    for r in &record.receipts {
        // `validate` checked every receipt has its verdict.
        let Some((verdict_id, kind)) = verdict_ids.get(&(r.device_index, r.module.as_str())) else {
            continue;
        };
        let f = &r.figures;
        let compressed = ruzstd::encoding::compress_to_vec(
            r.bytes.as_slice(),
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        insert
            .execute(params![
                r.receipt_id,
                verdict_id,
                record.round_id,
                record.hotkey,
                r.device_index,
                r.module,
                kind,
                record.recorded_at,
                f.int8_ops,
                f.int8_s,
                f.dram_bytes,
                f.dram_s,
                f.memory_bytes.map(|m| i64::try_from(m).unwrap_or(i64::MAX)),
                i64::try_from(r.bytes.len()).unwrap_or(i64::MAX),
                compressed,
            ])
            .map_err(err)?;
    }
    Ok(())
}

impl Store {
    /// The receipt `receipt_id`: its row and, while it is kept, its bytes (decompressed).
    /// `None` when no receipt has that id.
    pub fn receipt(&self, receipt_id: &str) -> Result<Option<StoredReceipt>, StoreError> {
        let found = self
            .conn
            .query_row(
                &format!("SELECT {RECEIPT_COLUMNS}, id, body FROM receipts WHERE receipt_id = ?1"),
                [receipt_id],
                |row| {
                    Ok((
                        receipt_row(row)?,
                        row.get::<_, i64>(15)?,
                        row.get::<_, Option<Vec<u8>>>(16)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.sql("reading a receipt", e))?;
        let Some((meta, id, body)) = found else {
            return Ok(None);
        };
        let bytes = match body {
            Some(body) => Some(self.decompress(id, &body, meta.size)?),
            None => None,
        };
        Ok(Some(StoredReceipt { row: meta, bytes }))
    }

    /// The rows of the receipts `filter` selects (kept or pruned), oldest first.
    pub fn receipt_rows(&self, filter: &ReceiptFilter) -> Result<Vec<ReceiptRow>, StoreError> {
        self.collect(
            "reading receipts",
            &format!(
                "SELECT {RECEIPT_COLUMNS} FROM receipts
                 WHERE (?1 IS NULL OR hotkey = ?1) AND (?2 IS NULL OR round_id = ?2)
                   AND (?3 IS NULL OR verdict = ?3)
                 ORDER BY id"
            ),
            params![filter.hotkey, filter.round_id, filter.verdict],
            receipt_row,
        )
    }

    /// The rows of every receipt of each device's last passing round: the latest round in
    /// which every verdict of that device (every module) was a pass. Miner-level faults are
    /// never a device's. Ordered by hotkey, device, module.
    pub fn last_pass_receipts(&self) -> Result<Vec<ReceiptRow>, StoreError> {
        self.collect(
            "reading the last passing receipts",
            &format!(
                "WITH rounds_passed AS (
                     SELECT hotkey, device_index, round_id FROM receipts
                     WHERE module NOT IN ('connection', 'inventory')
                     GROUP BY hotkey, device_index, round_id
                     HAVING sum(verdict <> 'pass') = 0
                 ),
                 last AS (
                     SELECT hotkey, device_index, max(round_id) AS round_id FROM rounds_passed
                     GROUP BY hotkey, device_index
                 )
                 SELECT {cols} FROM receipts r
                 JOIN last l ON r.hotkey = l.hotkey AND r.device_index = l.device_index
                     AND r.round_id = l.round_id
                 ORDER BY r.hotkey, r.device_index, r.module",
                cols = prefixed("r.")
            ),
            [],
            receipt_row,
        )
    }

    /// The rows of every receipt of rounds `from_round` and later, oldest first.
    pub fn receipt_rows_from(&self, from_round: i64) -> Result<Vec<ReceiptRow>, StoreError> {
        self.collect(
            "reading recent receipts",
            &format!("SELECT {RECEIPT_COLUMNS} FROM receipts WHERE round_id >= ?1 ORDER BY id"),
            [from_round],
            receipt_row,
        )
    }

    /// Drops the bodies of pass receipts of rounds before `before_round` (their rows and
    /// figures stay: the catalogue's measured figures come from them); non-pass receipts are
    /// always kept. Returns how many bodies were dropped.
    pub fn prune_pass_receipts(&mut self, before_round: i64) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE receipts SET body = NULL
                 WHERE verdict = 'pass' AND round_id < ?1 AND body IS NOT NULL",
                [before_round],
            )
            .map_err(|e| self.sql("pruning pass receipts", e))
    }

    /// Every miner ever recorded, as the latest round that recorded it saw it (UID, address),
    /// sorted by UID (unknown last), then hotkey.
    pub fn miners_seen(&self) -> Result<Vec<MinerSeen>, StoreError> {
        self.collect(
            "reading miners",
            "SELECT m.hotkey, m.uid, m.addr, m.round_id, m.recorded_at FROM miner_rounds m
             JOIN (SELECT hotkey, max(round_id) AS round_id FROM miner_rounds GROUP BY hotkey)
                 l ON l.hotkey = m.hotkey AND l.round_id = m.round_id
             ORDER BY m.uid IS NULL, m.uid, m.hotkey",
            [],
            |row| {
                Ok(MinerSeen {
                    hotkey: row.get(0)?,
                    uid: row.get(1)?,
                    addr: row.get(2)?,
                    round_id: row.get(3)?,
                    recorded_at: row.get(4)?,
                })
            },
        )
    }

    /// The zstd `body` of receipt row `id`, decompressed: at most `size` bytes (and
    /// [`MAX_RECEIPT_BYTES`]), exactly `size`.
    fn decompress(&self, id: i64, body: &[u8], size: u64) -> Result<Vec<u8>, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            path: self.path.clone(),
            table: "receipts",
            column: "body",
            row: id,
            reason,
        };
        let limit = usize::try_from(size)
            .ok()
            .filter(|s| *s <= MAX_RECEIPT_BYTES)
            .ok_or_else(|| corrupt(format!("its size {size} is over {MAX_RECEIPT_BYTES}")))?;
        let decoder = ruzstd::decoding::StreamingDecoder::new(body)
            .map_err(|e| corrupt(format!("not a zstd frame: {e}")))?;
        let mut out = Vec::with_capacity(limit);
        decoder
            .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| corrupt(format!("zstd: {e}")))?;
        if out.len() != limit {
            return Err(corrupt(format!(
                "it decompresses to {} bytes, its size says {limit}",
                out.len()
            )));
        }
        Ok(out)
    }
}

/// A `receipts` row, selected with [`RECEIPT_COLUMNS`].
fn receipt_row(row: &Row<'_>) -> rusqlite::Result<ReceiptRow> {
    let memory: Option<i64> = row.get(12)?;
    let size: i64 = row.get(13)?;
    Ok(ReceiptRow {
        receipt_id: row.get(0)?,
        verdict_id: row.get(1)?,
        round_id: row.get(2)?,
        hotkey: row.get(3)?,
        device_index: row.get(4)?,
        module: row.get(5)?,
        verdict: row.get(6)?,
        recorded_at: row.get(7)?,
        figures: ReceiptFigures {
            int8_ops: row.get(8)?,
            int8_s: row.get(9)?,
            dram_bytes: row.get(10)?,
            dram_s: row.get(11)?,
            memory_bytes: memory.and_then(|m| u64::try_from(m).ok()),
        },
        size: u64::try_from(size).unwrap_or(0),
        kept: row.get(14)?,
    })
}
