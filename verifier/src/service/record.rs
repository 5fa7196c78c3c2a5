//! From a round's [`MinerReport`] to what the store keeps (pure: no I/O, no clock): the verdict
//! rows, the probe figures, and the miner's new standing folded with [`crate::scoring`] from the
//! standing it had.

use validator_store::{MinerRoundRecord, StandingRow, VerdictRecord};

use crate::classes::ClassTable;
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
/// miner never seen, starting at the scoring's initial reliability). A round that could not
/// run at all (`report.error` with no device verdicts: unreachable, handshake refused) counts
/// as one `timeout` for reliability, so a miner that vanishes drifts to zero instead of keeping
/// its last score.
pub fn miner_record(
    round_id: i64,
    miner: &MinerId,
    report: &MinerReport,
    prior: Option<&StandingRow>,
    table: &ClassTable,
    now: i64,
) -> MinerRoundRecord {
    let mut verdicts = Vec::new();
    for device in &report.devices {
        for challenge in &device.challenges {
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
    let devices = report.device_rounds(|class| table.weight_of(class));
    let any_verdict = devices.iter().any(|d| !d.verdicts.is_empty());
    if any_verdict {
        standing.record_round(&devices);
    } else if report.error.is_some() {
        standing.record_unreachable();
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
    }
}
