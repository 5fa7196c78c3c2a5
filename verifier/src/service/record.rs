//! From a round's [`MinerReport`] to what the store keeps (pure: no I/O, no clock): the verdict
//! rows, the probe figures, and the miner's new standing folded with [`crate::scoring`] from the
//! standing it had — its devices' score scaled by the round's link factor (issue #24).

use std::collections::BTreeSet;

use validator_store::{LinkRecord, MinerRoundRecord, ProvenDeviceRow, StandingRow, VerdictRecord};

use crate::client::{MinerReport, ProbeOutcome};
use crate::scoring::{LinkProbe, LinkRules, MinerStanding};

/// How a miner's round is scored besides its verdicts.
pub struct RoundScoring<'a> {
    /// The weight a claimed class earns here (0 for a class that may not earn, e.g.
    /// `cpu-reference` in production, or a name that maps to no class).
    pub class_weight: &'a dyn Fn(Option<&str>) -> f64,
    /// Whether the round was a rented machine's light challenge.
    pub rented: bool,
    /// The bandwidth floor.
    pub link: LinkRules,
}

/// Who was challenged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerId {
    /// Hotkey, SS58.
    pub hotkey: String,
    /// UID, when known.
    pub uid: Option<u16>,
}

/// Builds the record of one miner's round. `prior` is its standing before the round (none: a
/// miner never seen, starting at the scoring's initial reliability); `scoring` gives the class
/// weights, whether the round was rented, and the bandwidth floor.
///
/// - A miner-level fault (unreachable, handshake not finished, an inventory that cannot be
///   challenged) is one verdict row of its kind (`timeout`, `protocol-error`) with `module` =
///   the stage (`connection`, `inventory`) and device index 0, and one such verdict for
///   reliability; the round scores 0.
/// - Otherwise every challenge is a row, and the standing folds the round in: the round score
///   is replaced by this round's, 0 when no device earned (docs/design.md §No score without proof,
///   rules 1–2). A second row for a `(device, module)` already recorded is dropped (the
///   inventory check refuses duplicate indices before anything runs; this keeps the store's
///   unique key from ever refusing a round).
/// - An unrented round that challenged devices replaces the miner's proven devices with the
///   ones that passed every challenge (rule 6).
/// - A round that challenged the miner folds its probes into the bandwidth EMAs and scales its
///   round score by the link factor ([`MinerStanding::record_link`]); a direction with no
///   result although a probe was planned failed (the round broke off before it), and one never
///   planned (probes off) did not run. A fault leaves the EMAs as they are.
pub fn miner_record(
    round_id: i64,
    miner: &MinerId,
    report: &MinerReport,
    prior: Option<&StandingRow>,
    scoring: &RoundScoring<'_>,
    now: i64,
) -> MinerRoundRecord {
    let mut verdicts = verdict_rows(report);
    let mut standing = MinerStanding::default();
    if let Some(p) = prior {
        standing.reliability = p.reliability;
        standing.round_score = p.round_score;
        standing.up_mbit = p.up_mbit;
        standing.down_mbit = p.down_mbit;
    }
    let mut proven = None;
    let mut link = None;
    match &report.fault {
        Some(fault) => {
            verdicts.push(VerdictRecord {
                device_index: 0,
                gpu_name: String::new(),
                gpu_uuid: String::new(),
                claimed_class: None,
                module: fault.stage.to_string(),
                verdict: Some(fault.kind),
                measured_s: None,
                peak_floor_s: None,
                min_s: None,
                max_s: None,
                detail_json: serde_json::json!({ "fault": fault }).to_string(),
            });
            standing.record_fault(fault.kind);
        }
        None => {
            let devices = report.device_rounds(scoring.class_weight);
            standing.record_round(&devices);
            let gpu_score = standing.round_score;
            let factor = standing.record_link(
                link_probe(report, "miner-to-verifier"),
                link_probe(report, "verifier-to-miner"),
                &scoring.link,
            );
            link = Some(link_record(report, factor, gpu_score));
            let challenged = report.devices.iter().any(|d| !d.challenges.is_empty());
            if !scoring.rented && challenged {
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
        link,
        standing: StandingRow {
            hotkey: miner.hotkey.clone(),
            uid: miner.uid,
            reliability: standing.reliability,
            round_score: standing.round_score,
            score: standing.score(),
            round_id,
            up_mbit: standing.up_mbit,
            down_mbit: standing.down_mbit,
            link_factor: Some(standing.link_factor),
        },
        recorded_at: now,
        proven,
        receipts: Vec::new(),
    }
}

/// Every challenge of the report as a verdict row, a second row for a `(device, module)`
/// dropped.
fn verdict_rows(report: &MinerReport) -> Vec<VerdictRecord> {
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
                verdict: challenge
                    .verdict
                    .as_ref()
                    .map(crate::session::Verdict::kind),
                measured_s: timing.map(|t| t.measured_s),
                peak_floor_s: window.and_then(|w| finite(w.peak_floor_s)),
                min_s: window.and_then(|w| finite(w.min_s)),
                max_s: window.and_then(|w| finite(w.max_s)),
                detail_json,
            });
        }
    }
    verdicts
}

/// What the round's probe in `direction` gives scoring.
fn link_probe(report: &MinerReport, direction: &str) -> LinkProbe {
    let Some(result) = report.probe.iter().find(|p| p.direction == direction) else {
        return if report.probe_plan.is_some() {
            // Planned, never run: the round broke off before it (the connection failed).
            LinkProbe::Failed
        } else {
            LinkProbe::NotRun
        };
    };
    match result.outcome {
        ProbeOutcome::Measured => LinkProbe::Measured(result.mbit_per_s),
        ProbeOutcome::Failed => LinkProbe::Failed,
        ProbeOutcome::Busy => LinkProbe::Busy,
        ProbeOutcome::VerifierError => LinkProbe::NotRun,
    }
}

/// The store's record of the round's probe.
fn link_record(report: &MinerReport, factor: f64, gpu_score: f64) -> LinkRecord {
    let outcome = |direction: &str| {
        let planned = report.probe_plan.is_some();
        match report.probe.iter().find(|p| p.direction == direction) {
            Some(p) => Some(p.outcome),
            None if planned => Some(ProbeOutcome::Failed),
            None => None,
        }
    };
    let detail = serde_json::json!({
        "plan": report.probe_plan,
        "results": report.probe,
    });
    LinkRecord {
        factor,
        gpu_score,
        up_outcome: outcome("miner-to-verifier"),
        down_outcome: outcome("verifier-to-miner"),
        bytes: report.probe_plan.map(|p| p.bytes),
        streams: report.probe_plan.map(|p| p.streams),
        detail_json: detail.to_string(),
    }
}

/// The record of a miner whose round could not be recorded as it was (the store refused it):
/// no verdict rows but one `verifier-error` note, the standing carried over unchanged from
/// `prior` but for this round's score, which is 0 (nothing was proven), and nothing charged
/// (docs/design.md §No score without proof, rules 3 and 8).
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
        link: None,
        standing: StandingRow {
            hotkey: miner.hotkey.clone(),
            uid: miner.uid,
            reliability,
            round_score: 0.0,
            score: 0.0,
            round_id,
            up_mbit: prior.and_then(|p| p.up_mbit),
            down_mbit: prior.and_then(|p| p.down_mbit),
            link_factor: Some(0.0),
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
    use crate::client::{ChallengeReport, DeviceReport, MinerFault, ProbePlan, ProbeResult};
    use crate::session::{Envelope, Timing, Verdict};
    use validator_store::VerdictKind;

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
            probe_plan: None,
            probe: Vec::new(),
            error: None,
            fault,
            elapsed_s: 0.0,
            started_at_ms: 0,
            miner_certificate: None,
        }
    }

    /// Every class at weight 1.
    const ONE: fn(Option<&str>) -> f64 = |_| 1.0;

    /// Scoring with every class at weight 1, bandwidth not scored (floor 0).
    fn no_link(rented: bool) -> RoundScoring<'static> {
        RoundScoring {
            class_weight: &ONE,
            rented,
            link: LinkRules { floor_mbit: 0.0 },
        }
    }

    /// A probe result of `direction` with `outcome` at `mbit` Mbit/s.
    fn probed(direction: &'static str, outcome: ProbeOutcome, mbit: f64) -> ProbeResult {
        let plan = ProbePlan::fixed(1 << 20, 2, std::time::Duration::from_secs(2));
        let mut r = ProbeResult::unmeasured(
            protocol::ProbeDirection::MinerToVerifier,
            &plan,
            outcome,
            String::new(),
        );
        r.direction = direction;
        r.mbit_per_s = mbit;
        r.mb_per_s = mbit / 8.0;
        r.data_ok = outcome == ProbeOutcome::Measured;
        r
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
            up_mbit: None,
            down_mbit: None,
            link_factor: None,
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
        let record = miner_record(2, &miner(), &r, Some(&prior()), &no_link(false), 9);
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
        let rented = miner_record(2, &miner(), &r, Some(&prior()), &no_link(true), 9);
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
                    kind: VerdictKind::ProtocolError,
                    stage: "inventory",
                    detail: "the inventory lists no GPU".into(),
                }),
            ),
        ] {
            let record = miner_record(2, &miner(), &r, Some(&prior()), &no_link(false), 9);
            assert_eq!(record.standing.round_score, 0.0, "{record:?}");
            assert_eq!(record.standing.score, 0.0, "{record:?}");
        }
    }

    #[test]
    fn a_fault_is_one_row_of_its_kind_and_duplicate_rows_are_dropped() {
        let fault = MinerFault {
            kind: VerdictKind::ProtocolError,
            stage: "inventory",
            detail: "the inventory lists device index 0 twice".into(),
        };
        let record = miner_record(
            2,
            &miner(),
            &report(Vec::new(), Some(fault)),
            None,
            &no_link(false),
            9,
        );
        assert_eq!(record.verdicts.len(), 1);
        assert_eq!(record.verdicts[0].module, "inventory");
        assert_eq!(record.verdicts[0].verdict, Some(VerdictKind::ProtocolError));
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
        let record = miner_record(2, &miner(), &twice, None, &no_link(false), 9);
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

    /// The round score is the devices' sum × the link factor the probes give under the floor,
    /// and the record keeps the factor, the score before it and each direction's outcome.
    #[test]
    fn the_link_factor_scales_the_round_score_and_is_recorded() {
        let floor = |floor_mbit| RoundScoring {
            class_weight: &ONE,
            rented: false,
            link: LinkRules { floor_mbit },
        };
        let mut r = report(vec![device(0, &[Some(pass()), Some(pass())])], None);
        r.probe_plan = Some(ProbePlan::fixed(
            1 << 20,
            2,
            std::time::Duration::from_secs(2),
        ));
        r.probe = vec![
            probed("miner-to-verifier", ProbeOutcome::Measured, 400.0),
            probed("verifier-to-miner", ProbeOutcome::Measured, 50.0),
        ];
        let record = miner_record(2, &miner(), &r, None, &floor(100.0), 9);
        let link = record.link.clone().unwrap();
        assert!((link.factor - 0.5).abs() < 1e-12, "{link:?}");
        assert!((link.gpu_score - 1.0).abs() < 1e-12);
        assert!((record.standing.round_score - 0.5).abs() < 1e-12);
        assert_eq!(record.standing.link_factor, Some(link.factor));
        assert_eq!(
            (record.standing.up_mbit, record.standing.down_mbit),
            (Some(400.0), Some(50.0))
        );
        assert_eq!(link.up_outcome.map(ProbeOutcome::as_str), Some("measured"));
        assert_eq!((link.bytes, link.streams), (Some(1 << 20), Some(2)));
        assert!(link.detail_json.contains("verifier-to-miner"), "{link:?}");
        // The EMAs carry over from the prior standing.
        let mut before = prior();
        before.down_mbit = Some(80.0);
        let record = miner_record(2, &miner(), &r, Some(&before), &floor(100.0), 9);
        let down = 80.0 + crate::scoring::LINK_EMA_ALPHA * (50.0 - 80.0);
        assert!((record.standing.down_mbit.unwrap() - down).abs() < 1e-9);
        assert!((record.link.unwrap().factor - down / 100.0).abs() < 1e-9);
        // A lower floor: factor 1.
        let record = miner_record(2, &miner(), &r, None, &floor(50.0), 9);
        assert!((record.standing.round_score - 1.0).abs() < 1e-12);
    }

    /// A probe planned but missing (the round broke off), failed, or busy scores 0; a fault
    /// records no link and keeps the EMAs.
    #[test]
    fn a_missing_failed_or_busy_probe_zeroes_the_round() {
        let scoring = RoundScoring {
            class_weight: &ONE,
            rented: false,
            link: LinkRules::default(),
        };
        let mut before = prior();
        before.up_mbit = Some(900.0);
        before.down_mbit = Some(900.0);
        let base = || {
            let mut r = report(vec![device(0, &[Some(pass()), Some(pass())])], None);
            r.probe_plan = Some(ProbePlan::fixed(
                1 << 20,
                1,
                std::time::Duration::from_secs(2),
            ));
            r
        };
        let missing = base();
        let mut failed = base();
        failed.probe = vec![
            probed("miner-to-verifier", ProbeOutcome::Measured, 900.0),
            probed("verifier-to-miner", ProbeOutcome::Failed, 0.0),
        ];
        let mut busy = base();
        busy.probe = vec![
            probed("miner-to-verifier", ProbeOutcome::Busy, 0.0),
            probed("verifier-to-miner", ProbeOutcome::Measured, 900.0),
        ];
        for (name, r, up_outcome) in [
            ("missing", missing, "failed"),
            ("failed", failed, "measured"),
            ("busy", busy, "busy"),
        ] {
            let record = miner_record(2, &miner(), &r, Some(&before), &scoring, 9);
            assert_eq!(record.standing.round_score, 0.0, "{name}: {record:?}");
            let link = record.link.unwrap();
            assert_eq!(link.factor, 0.0, "{name}");
            assert!((link.gpu_score - 1.0).abs() < 1e-12, "{name}");
            assert_eq!(
                link.up_outcome.map(ProbeOutcome::as_str),
                Some(up_outcome),
                "{name}"
            );
        }
        // No probe planned (probes off) with a floor: not run, factor 0, EMAs kept.
        let off = report(vec![device(0, &[Some(pass()), Some(pass())])], None);
        let record = miner_record(2, &miner(), &off, Some(&before), &scoring, 9);
        assert_eq!(record.standing.round_score, 0.0);
        assert_eq!(record.standing.up_mbit, Some(900.0));
        assert_eq!(record.link.unwrap().up_outcome, None);
        // A fault: no link record, the EMAs kept.
        let fault = report(
            Vec::new(),
            Some(MinerFault {
                kind: VerdictKind::Timeout,
                stage: "connection",
                detail: String::new(),
            }),
        );
        let record = miner_record(2, &miner(), &fault, Some(&before), &scoring, 9);
        assert!(record.link.is_none());
        assert_eq!(record.standing.down_mbit, Some(900.0));
        assert_eq!(record.standing.link_factor, Some(0.0));
    }
}
