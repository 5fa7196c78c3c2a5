//! From a round's [`MinerReport`] to what the store keeps (pure: no I/O, no clock): the verdict
//! rows, the probe figures, and the miner's new standing folded with [`crate::scoring`] from the
//! standing it had.

use std::collections::BTreeSet;

use validator_store::{MinerRoundRecord, ProvenDeviceRow, StandingRow, VerdictRecord};

use crate::client::MinerReport;
use crate::scoring::MinerStanding;

/// Who was challenged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerId {
    /// Hotkey, SS58.
    pub hotkey: String,
    /// UID, when known.
    pub uid: Option<u16>,
}

/// Builds the record of one miner's round. `prior` is its standing before the round (none: a
/// miner never seen, starting at the scoring's initial reliability); `class_weight` gives the
/// weight a claimed class earns here (0 for a class that may not earn, e.g. `cpu-reference`
/// in production); `rented` says whether the round was a rented machine's light challenge.
///
/// - A miner-level fault (unreachable, handshake not finished, an inventory that cannot be
///   challenged) is one verdict row of its kind (`timeout`, `protocol-error`) with `module` =
///   the stage (`connection`, `inventory`) and device index 0, and one such verdict for
///   reliability; the round scores 0.
/// - Otherwise every challenge is a row, and the standing folds the round in: the round score
///   is replaced by this round's, 0 when no device earned (DESIGN.md §No score without proof,
///   rules 1–2). A second row for a `(device, module)` already recorded is dropped (the
///   inventory check refuses duplicate indices before anything runs; this keeps the store's
///   unique key from ever refusing a round).
/// - An unrented round that challenged devices replaces the miner's proven devices with the
///   ones that passed every challenge (rule 6).
pub fn miner_record(
    round_id: i64,
    miner: &MinerId,
    report: &MinerReport,
    prior: Option<&StandingRow>,
    class_weight: &dyn Fn(Option<&str>) -> f64,
    rented: bool,
    now: i64,
) -> MinerRoundRecord {
    let mut verdicts = Vec::new();
    let mut seen = BTreeSet::new();
    for device in &report.devices {
        for challenge in &device.challenges {
            if !seen.insert((device.index, challenge.module)) {
                continue;
            }
            let timing = challenge.verdict.as_ref().and_then(|v| v.timing());
            let window = challenge.verdict.as_ref().and_then(|v| v.window());
            let finite = |x: f64| x.is_finite().then_some(x);
            let detail_json = match (&challenge.verdict, &challenge.error) {
                (Some(v), _) => serde_json::to_string(v).unwrap_or_default(),
                (None, Some(e)) => serde_json::json!({ "verifier_error": e }).to_string(),
                (None, None) => "{}".to_string(),
            };
            verdicts.push(VerdictRecord {
                device_index: device.index,
                gpu_name: device.name.clone(),
                gpu_uuid: device.uuid.clone(),
                claimed_class: device.class.clone(),
                module: challenge.module.to_string(),
                verdict: challenge.verdict.as_ref().map(|v| v.kind().to_string()),
                measured_s: timing.map(|t| t.measured_s),
                peak_floor_s: window.and_then(|w| finite(w.peak_floor_s)),
                min_s: window.and_then(|w| finite(w.min_s)),
                max_s: window.and_then(|w| finite(w.max_s)),
                detail_json,
            });
        }
    }
    let mut standing = MinerStanding::default();
    if let Some(p) = prior {
        standing.reliability = p.reliability;
        standing.round_score = p.round_score;
    }
    let mut proven = None;
    match &report.fault {
        Some(fault) => {
            verdicts.push(VerdictRecord {
                device_index: 0,
                gpu_name: String::new(),
                gpu_uuid: String::new(),
                claimed_class: None,
                module: fault.stage.to_string(),
                verdict: Some(fault.kind.to_string()),
                measured_s: None,
                peak_floor_s: None,
                min_s: None,
                max_s: None,
                detail_json: serde_json::json!({ "fault": fault }).to_string(),
            });
            standing.record_fault(fault.kind);
        }
        None => {
            let devices = report.device_rounds(class_weight);
            standing.record_round(&devices);
            let challenged = report.devices.iter().any(|d| !d.challenges.is_empty());
            if !rented && challenged {
                proven = Some(
                    report
                        .devices
                        .iter()
                        .zip(&devices)
                        .filter(|(_, round)| round.earns())
                        .map(|(d, _)| ProvenDeviceRow {
                            device_index: d.index,
                            gpu_name: d.name.clone(),
                            gpu_uuid: d.uuid.clone(),
                            memory_bytes: d.memory_bytes,
                            round_id,
                        })
                        .collect(),
                );
            }
        }
    }
    let probe = |direction: &str| {
        report
            .probe
            .iter()
            .find(|p| p.direction == direction)
            .map(|p| (p.mb_per_s, p.data_ok))
    };
    MinerRoundRecord {
        round_id,
        hotkey: miner.hotkey.clone(),
        uid: miner.uid,
        addr: report.addr.to_string(),
        error: report.error.clone(),
        verdicts,
        probe_up: probe("miner-to-verifier"),
        probe_down: probe("verifier-to-miner"),
        standing: StandingRow {
            hotkey: miner.hotkey.clone(),
            uid: miner.uid,
            reliability: standing.reliability,
            round_score: standing.round_score,
            score: standing.score(),
            round_id,
        },
        recorded_at: now,
        proven,
    }
}

/// The record of a miner whose round could not be recorded as it was (the store refused it):
/// no verdict rows but one `verifier-error` note, the standing carried over unchanged from
/// `prior` but for this round's score, which is 0 (nothing was proven), and nothing charged
/// (DESIGN.md §No score without proof, rules 3 and 8).
pub fn verifier_error_record(
    round_id: i64,
    miner: &MinerId,
    addr: &str,
    prior: Option<&StandingRow>,
    reason: &str,
    now: i64,
) -> MinerRoundRecord {
    let reliability = prior.map_or(crate::scoring::RELIABILITY_START, |p| p.reliability);
    MinerRoundRecord {
        round_id,
        hotkey: miner.hotkey.clone(),
        uid: miner.uid,
        addr: addr.to_string(),
        error: Some(format!(
            "verifier error (not charged to the miner): {reason}"
        )),
        verdicts: Vec::new(),
        probe_up: None,
        probe_down: None,
        standing: StandingRow {
            hotkey: miner.hotkey.clone(),
            uid: miner.uid,
            reliability,
            round_score: 0.0,
            score: 0.0,
            round_id,
        },
        recorded_at: now,
        proven: None,
    }
}
