//! Receipts (schema 4): kept with their round in one transaction, compressed and read back
//! exactly, refused when they do not belong to a verdict, pruned (passes only, figures kept),
//! and the catalogue's reads (each device's last passing round, miners as last seen).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{TempDir, raw, record, verdict};
use validator_store::{
    MinerRoundRecord, ReceiptFigures, ReceiptFilter, ReceiptRecord, Store, StoreError, VerdictKind,
};

/// A receipt for `(device, module)` whose bytes are `fill` repeated (compressible) plus the
/// id, so that each is distinct.
fn receipt(device: u32, module: &str, id: &str, figures: ReceiptFigures) -> ReceiptRecord {
    let mut bytes = vec![0xa5; 20_000];
    bytes.extend_from_slice(id.as_bytes());
    ReceiptRecord {
        device_index: device,
        module: module.to_owned(),
        receipt_id: id.to_owned(),
        bytes,
        figures,
    }
}

fn matmul_figures(ops: f64, s: f64) -> ReceiptFigures {
    ReceiptFigures {
        int8_ops: Some(ops),
        int8_s: Some(s),
        ..ReceiptFigures::default()
    }
}

fn membw_figures(bytes: f64, s: f64, memory: u64) -> ReceiptFigures {
    ReceiptFigures {
        dram_bytes: Some(bytes),
        dram_s: Some(s),
        memory_bytes: Some(memory),
        ..ReceiptFigures::default()
    }
}

/// A round of one device with `matmul-i8` and `membw` verdicts `kinds`, each with a receipt.
fn device_round(round: i64, hotkey: &str, kinds: [&str; 2]) -> MinerRoundRecord {
    let mut r = record(
        round,
        hotkey,
        Some(3),
        vec![
            verdict(0, "matmul-i8", Some(kinds[0]), "GPU-1"),
            verdict(0, "membw", Some(kinds[1]), "GPU-1"),
        ],
    );
    r.receipts = vec![
        receipt(
            0,
            "matmul-i8",
            &format!("{hotkey}-{round}-mm"),
            matmul_figures(1e12 * f64::from(round as u32), 2.0),
        ),
        receipt(
            0,
            "membw",
            &format!("{hotkey}-{round}-bw"),
            membw_figures(4e9, 2.0, 1 << 24),
        ),
    ];
    r
}

#[test]
fn receipts_are_kept_compressed_and_read_back_exactly() {
    let dir = TempDir::new("receipts");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    let round = store.open_round(10).unwrap().id;
    let rec = device_round(round, "5Alice", ["pass", "pass"]);
    assert!(store.record_miner_round(&rec).unwrap());
    let rows = store.receipt_rows(&ReceiptFilter::default()).unwrap();
    assert_eq!(rows.len(), 2);
    for (row, want) in rows.iter().zip(&rec.receipts) {
        assert_eq!(row.receipt_id, want.receipt_id);
        assert_eq!(
            (row.device_index, row.module.as_str()),
            (0, want.module.as_str())
        );
        assert_eq!(row.verdict, VerdictKind::Pass);
        assert_eq!(row.figures, want.figures);
        assert_eq!(row.size, want.bytes.len() as u64);
        assert!(row.kept);
        let stored = store.receipt(&row.receipt_id).unwrap().unwrap();
        assert_eq!(stored.row, *row);
        assert_eq!(stored.bytes.unwrap(), want.bytes);
    }
    // Compressed in the file: the 20 kB of 0xa5 take far less.
    let stored: i64 = raw(&path)
        .query_row("SELECT max(length(body)) FROM receipts", [], |r| r.get(0))
        .unwrap();
    assert!(stored < 2_000, "{stored} bytes stored");
    assert!(store.receipt("nope").unwrap().is_none());
    // Filters.
    let only = |f: ReceiptFilter| store.receipt_rows(&f).unwrap().len();
    assert_eq!(
        only(ReceiptFilter {
            verdict: Some(VerdictKind::WrongResult),
            ..ReceiptFilter::default()
        }),
        0
    );
    assert_eq!(
        only(ReceiptFilter {
            hotkey: Some("5Alice".into()),
            round_id: Some(round),
            verdict: Some(VerdictKind::Pass),
        }),
        2
    );
}

#[test]
fn a_receipt_without_its_verdict_refuses_the_whole_round() {
    let dir = TempDir::new("receipts-refused");
    let mut store = Store::open(&dir.store()).unwrap();
    let round = store.open_round(10).unwrap().id;
    type Change = fn(&mut MinerRoundRecord);
    let cases: [(Change, &str); 4] = [
        (|r| r.receipts[0].module = "other".into(), "has no verdict"),
        (
            |r| {
                let again = r.receipts[0].clone();
                r.receipts.push(again);
            },
            "two receipts",
        ),
        (|r| r.receipts[0].bytes.clear(), "bytes"),
        (|r| r.verdicts[0].verdict = None, "has no verdict"),
    ];
    for (change, says) in cases {
        let mut rec = device_round(round, "5Bob", ["pass", "pass"]);
        change(&mut rec);
        let err = store.record_miner_round(&rec).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidRecord { .. }) && err.to_string().contains(says),
            "{says}: {err}"
        );
    }
    // Nothing was written.
    assert!(store.miners_done(round).unwrap().is_empty());
    assert!(
        store
            .receipt_rows(&ReceiptFilter::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn passes_are_pruned_after_retention_and_their_figures_stay() {
    let dir = TempDir::new("receipts-prune");
    let mut store = Store::open(&dir.store()).unwrap();
    for n in 1..=3 {
        let round = store.open_round(n * 10).unwrap().id;
        let kinds = if n == 2 {
            ["wrong-result", "pass"]
        } else {
            ["pass", "pass"]
        };
        store
            .record_miner_round(&device_round(round, "5Carol", kinds))
            .unwrap();
        store.finish_round(round, n * 10 + 5).unwrap();
    }
    // Keep passes of round 3 only.
    assert_eq!(store.prune_pass_receipts(3).unwrap(), 3);
    let rows = store.receipt_rows(&ReceiptFilter::default()).unwrap();
    assert_eq!(rows.len(), 6, "rows stay");
    for row in &rows {
        let kept = row.round_id == 3 || row.verdict != VerdictKind::Pass;
        assert_eq!(row.kept, kept, "{row:?}");
        let stored = store.receipt(&row.receipt_id).unwrap().unwrap();
        assert_eq!(stored.bytes.is_some(), kept, "{row:?}");
        assert!(row.figures.int8_ops.is_some() || row.figures.dram_bytes.is_some());
    }
    assert_eq!(store.prune_pass_receipts(3).unwrap(), 0, "idempotent");

    // The last passing round of the device is round 3 (round 2 had a wrong result).
    let last = store.last_pass_receipts().unwrap();
    assert_eq!(last.len(), 2);
    assert!(last.iter().all(|r| r.round_id == 3), "{last:?}");
    // Miners as last seen.
    let seen = store.miners_seen().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].round_id, seen[0].uid), (3, Some(3)));
    assert_eq!(store.verdicts_from_round(3).unwrap().len(), 2);
}

#[test]
fn a_damaged_body_is_a_typed_error() {
    let dir = TempDir::new("receipts-corrupt");
    let path = dir.store();
    let mut store = Store::open(&path).unwrap();
    let round = store.open_round(10).unwrap().id;
    store
        .record_miner_round(&device_round(round, "5Dave", ["pass", "pass"]))
        .unwrap();
    raw(&path)
        .execute("UPDATE receipts SET body = x'00010203'", [])
        .unwrap();
    let err = store.receipt("5Dave-1-mm").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    raw(&path)
        .execute("UPDATE receipts SET size = 1000000000000", [])
        .unwrap();
    let err = store.receipt("5Dave-1-mm").unwrap_err();
    assert!(err.to_string().contains("size"), "{err}");
}
