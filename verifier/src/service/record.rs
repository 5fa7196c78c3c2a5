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
        receipts: Vec::new(),
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
        receipts: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::client::{ChallengeReport, DeviceReport, MinerFault};
    use crate::session::{Envelope, Timing, Verdict};

    fn pass() -> Verdict {
        Verdict::Pass(Timing {
            window: Envelope {
                min_s: 1.0,
                max_s: 4.0,
                peak_floor_s: 0.5,
            },
            measured_s: 2.0,
            raw_s: 2.0,
            rtt_s: 0.0,
            leaves_checked: 32,
            phases: Vec::new(),
        })
    }

    fn device(index: u32, verdicts: &[Option<Verdict>]) -> DeviceReport {
        DeviceReport {
            index,
            name: "cpu-reference".into(),
            uuid: format!("CPU-{index}"),
            memory_bytes: 1 << 24,
            class: Some("cpu-reference".into()),
            skipped: None,
            challenges: verdicts
                .iter()
                .zip(["matmul-i8", "membw"])
                .map(|(v, module)| ChallengeReport {
                    module,
                    params: String::new(),
                    verdict: v.clone(),
                    error: v.is_none().then(|| "verifier error".to_string()),
                    window: None,
                    evidence: None,
                })
                .collect(),
        }
    }

    fn report(devices: Vec<DeviceReport>, fault: Option<MinerFault>) -> MinerReport {
        MinerReport {
            addr: "127.0.0.1:1".parse().unwrap(),
            hotkey: None,
            min_rtt_ms: None,
            inventory: None,
            devices,
            probe: Vec::new(),
            error: None,
            fault,
            elapsed_s: 0.0,
            started_at_ms: 0,
            miner_certificate: None,
        }
    }

    fn miner() -> MinerId {
        MinerId {
            hotkey: "5Miner".into(),
            uid: Some(3),
        }
    }

    fn prior() -> StandingRow {
        StandingRow {
            hotkey: "5Miner".into(),
            uid: Some(3),
            reliability: 0.9,
            round_score: 2.0,
            score: 1.8,
            round_id: 1,
        }
    }

    #[test]
    fn a_device_proves_only_when_every_module_passed_and_an_unjudged_one_earns_nothing() {
        let r = report(
            vec![
                device(0, &[Some(pass()), Some(pass())]),
                device(1, &[Some(pass()), None]),
            ],
            None,
        );
        let record = miner_record(2, &miner(), &r, Some(&prior()), &|_| 1.0, false, 9);
        let proven = record.proven.clone().unwrap();
        assert_eq!(proven.len(), 1);
        assert_eq!(proven[0].device_index, 0);
        // Device 0 earns (weight 1 × performance 1); device 1's membw has no verdict.
        assert!(
            (record.standing.round_score - 1.0).abs() < 1e-12,
            "{record:?}"
        );
        assert_eq!(record.verdicts.len(), 4);
        // Rented rounds never replace the proven set.
        let rented = miner_record(2, &miner(), &r, Some(&prior()), &|_| 1.0, true, 9);
        assert!(rented.proven.is_none());
    }

    #[test]
    fn an_old_score_never_carries_over_a_round_without_a_pass() {
        for r in [
            report(Vec::new(), None),
            report(vec![device(0, &[None, None])], None),
            report(
                Vec::new(),
                Some(MinerFault {
                    kind: "protocol-error",
                    stage: "inventory",
                    detail: "the inventory lists no GPU".into(),
                }),
            ),
        ] {
            let record = miner_record(2, &miner(), &r, Some(&prior()), &|_| 1.0, false, 9);
            assert_eq!(record.standing.round_score, 0.0, "{record:?}");
            assert_eq!(record.standing.score, 0.0, "{record:?}");
        }
    }

    #[test]
    fn a_fault_is_one_row_of_its_kind_and_duplicate_rows_are_dropped() {
        let fault = MinerFault {
            kind: "protocol-error",
            stage: "inventory",
            detail: "the inventory lists device index 0 twice".into(),
        };
        let record = miner_record(
            2,
            &miner(),
            &report(Vec::new(), Some(fault)),
            None,
            &|_| 1.0,
            false,
            9,
        );
        assert_eq!(record.verdicts.len(), 1);
        assert_eq!(record.verdicts[0].module, "inventory");
        assert_eq!(
            record.verdicts[0].verdict.as_deref(),
            Some("protocol-error")
        );
        assert!(record.standing.reliability < crate::scoring::RELIABILITY_START);
        // Two devices with one index (which the inventory check refuses first) never make two
        // rows for one (device, module): the store would refuse the whole round.
        let twice = report(
            vec![
                device(0, &[Some(pass()), Some(pass())]),
                device(0, &[Some(pass()), Some(pass())]),
            ],
            None,
        );
        let record = miner_record(2, &miner(), &twice, None, &|_| 1.0, false, 9);
        assert_eq!(record.verdicts.len(), 2);
    }

    #[test]
    fn a_verifier_error_record_charges_nothing_and_scores_nothing() {
        let record =
            verifier_error_record(2, &miner(), "127.0.0.1:1", Some(&prior()), "disk full", 9);
        assert!((record.standing.reliability - 0.9).abs() < 1e-12);
        assert_eq!(record.standing.score, 0.0);
        assert!(record.verdicts.is_empty());
        assert!(record.error.unwrap().contains("not charged"));
    }
}
