//! Helpers shared by the store's integration tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    unreachable_pub
)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use validator_store::{
    LinkRecord, MinerRoundRecord, ProbeOutcome, StandingRow, VerdictKind, VerdictRecord,
};

/// A fresh directory under the system's temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("validator-store-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The store's file in it (not created).
    pub fn store(&self) -> PathBuf {
        self.0.join("store.sqlite")
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A verdict of device `device_index` for `module`.
pub fn verdict(device_index: u32, module: &str, kind: Option<&str>, uuid: &str) -> VerdictRecord {
    VerdictRecord {
        device_index,
        gpu_name: "NVIDIA H100 80GB HBM3".to_owned(),
        gpu_uuid: uuid.to_owned(),
        claimed_class: Some("h100-sxm".to_owned()),
        module: module.to_owned(),
        verdict: kind.map(|k| VerdictKind::parse(k).expect("a verdict kind")),
        measured_s: kind.map(|_| 1.25),
        peak_floor_s: Some(0.5),
        min_s: Some(1.0),
        max_s: Some(3.0),
        detail_json: format!(r#"{{"kind":{:?}}}"#, kind.unwrap_or("error")),
    }
}

/// A miner's round with the given verdicts and a standing for that round.
pub fn record(
    round_id: i64,
    hotkey: &str,
    uid: Option<u16>,
    verdicts: Vec<VerdictRecord>,
) -> MinerRoundRecord {
    MinerRoundRecord {
        round_id,
        hotkey: hotkey.to_owned(),
        uid,
        addr: "203.0.113.7:4433".to_owned(),
        error: None,
        verdicts,
        probe_up: Some((812.5, true)),
        probe_down: Some((640.0, false)),
        link: Some(LinkRecord {
            factor: 0.5,
            gpu_score: 1.0,
            up_outcome: Some(ProbeOutcome::Measured),
            down_outcome: Some(ProbeOutcome::Failed),
            bytes: Some(16 << 20),
            streams: Some(4),
            detail_json: r#"{"plan":{"bytes":16777216}}"#.to_owned(),
        }),
        standing: StandingRow {
            hotkey: hotkey.to_owned(),
            uid,
            reliability: 0.75,
            round_score: 0.5,
            score: 0.375,
            round_id,
            up_mbit: Some(6500.0),
            down_mbit: Some(0.0),
            link_factor: Some(0.5),
        },
        recorded_at: 1_700_000_000 + round_id,
        proven: None,
        receipts: Vec::new(),
    }
}

/// A raw connection to the file, for looking under the API.
pub fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

/// `SELECT count(*) FROM table`, through a raw connection.
pub fn count(path: &Path, table: &str) -> i64 {
    raw(path)
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}
