//! Making receipts: one per recorded verdict of a [`MinerReport`], from the sessions'
//! evidence ([`ChallengeEvidence`]: their specs, configs and transcripts), signed by the
//! validator's session key.

use std::collections::BTreeSet;
use std::time::Duration;

use builtin_modules::Builtin;
use challenges::prf::{challenge_seed, phase_seed};
use protocol::{Hotkey, ModuleHash, Signed};
use transport::Identity;
use validator_store::ReceiptFigures;

use super::format::{
    B32, Buf, ChallengeRecord, FaultRecord, RECEIPT_FORMAT, Receipt, Subject, TimedBytes,
    TimedError, TimedOpenings, TimeoutsNs,
};
use super::{MAX_RECEIPT_BYTES, ReceiptError, ReceiptId};
use crate::client::{ChallengeEvidence, ChallengeReport, DeviceReport, MinerReport};
use crate::session::{At, DEFAULT_RTT_CAP, Timing, Verdict};

/// Who signs receipts, and under which class table it judged.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// The validator's identity (session key and hotkey certificate).
    pub identity: &'a Identity,
    /// The hash of the class table the verdicts were judged under (`ClassTable::hash`).
    pub class_table: [u8; 32],
}

/// One signed receipt and where it belongs in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Made {
    /// The device index of the verdict (0 for a miner-level fault).
    pub device_index: u32,
    /// The verdict row's module (the stage, `connection` or `inventory`, for a fault).
    pub module: String,
    /// The receipt's id.
    pub id: ReceiptId,
    /// The receipt file: the signed envelope's canonical CBOR.
    pub bytes: Vec<u8>,
    /// The measured figures the catalogue shows (none for a fault).
    pub figures: ReceiptFigures,
}

/// One receipt per verdict that [`crate::service::record::miner_record`] records from
/// `report` (the same rows: a second challenge of one `(device, module)` is dropped there and
/// here; the verifier's own failures have no verdict and no receipt), for the miner `miner`.
///
/// Fails only if a receipt cannot be encoded or is larger than [`MAX_RECEIPT_BYTES`].
pub fn receipts_for(
    report: &MinerReport,
    miner: Hotkey,
    signer: &Signer<'_>,
) -> Result<Vec<Made>, ReceiptError> {
    let mut made = Vec::new();
    let head = |subject| Receipt {
        format: RECEIPT_FORMAT,
        protocol_version: protocol::PROTOCOL_VERSION,
        class_table: B32(signer.class_table),
        validator: signer.identity.hotkey(),
        miner,
        validator_certificate: signer.identity.certificate().clone(),
        miner_certificate: report.miner_certificate.clone(),
        at_ms: report.started_at_ms,
        subject,
    };
    if let Some(fault) = &report.fault {
        let subject = Subject::MinerFault(FaultRecord {
            stage: fault.stage.to_string(),
            kind: fault.kind,
            detail: fault.detail.clone(),
            inventory: report.inventory.clone(),
        });
        let (id, bytes) = sign(signer, &head(subject))?;
        made.push(Made {
            device_index: 0,
            module: fault.stage.to_string(),
            id,
            bytes,
            figures: ReceiptFigures::default(),
        });
        return Ok(made);
    }
    let mut seen = BTreeSet::new();
    for device in &report.devices {
        for challenge in &device.challenges {
            if !seen.insert((device.index, challenge.module)) {
                continue;
            }
            let Some(verdict) = &challenge.verdict else {
                continue;
            };
            let record = challenge_record(report, device, challenge, verdict);
            let figures = builtin_modules::by_name(challenge.module)
                .map(|m| figures(m, &record.params.0, verdict))
                .unwrap_or_default();
            let mut receipt = head(Subject::Challenge(Box::new(record)));
            if let Some(evidence) = &challenge.evidence {
                receipt.protocol_version = evidence.spec.versions.protocol_version;
            }
            let (id, bytes) = sign(signer, &receipt)?;
            made.push(Made {
                device_index: device.index,
                module: challenge.module.to_string(),
                id,
                bytes,
                figures,
            });
        }
    }
    Ok(made)
}

/// Signs `receipt`: its id and file bytes.
fn sign(signer: &Signer<'_>, receipt: &Receipt) -> Result<(ReceiptId, Vec<u8>), ReceiptError> {
    let signed = Signed::sign(signer.identity.signing_key(), receipt)
        .map_err(|e| ReceiptError::Encode(e.to_string()))?;
    let bytes = signed.to_bytes();
    if bytes.len() > MAX_RECEIPT_BYTES {
        return Err(ReceiptError::TooLarge {
            bytes: bytes.len(),
            max: MAX_RECEIPT_BYTES,
        });
    }
    Ok((ReceiptId(signed.digest().into_bytes()), bytes))
}

/// The record of one challenge: from its session's evidence, or (a challenge the round's end
/// cut before it started) from the plan alone.
fn challenge_record(
    report: &MinerReport,
    device: &DeviceReport,
    challenge: &ChallengeReport,
    verdict: &Verdict,
) -> ChallengeRecord {
    let claimed = report
        .inventory
        .as_ref()
        .and_then(|inv| inv.gpus.iter().find(|g| g.index == device.index))
        .cloned();
    let mut record = ChallengeRecord {
        module: challenge.module.to_string(),
        module_hash: builtin_modules::by_name(challenge.module)
            .map_or(ModuleHash::new([0; 32]), |m| ModuleHash::new(m.hash())),
        params: Buf(hex::decode(&challenge.params).unwrap_or_default()),
        device: device.index,
        claimed,
        class: device.class.clone(),
        cpu_rates: None,
        rented: false,
        envelope: challenge.window,
        phase_envelopes: Vec::new(),
        min_rtt_ns: report
            .min_rtt_ms
            .map_or(0, |ms| nanos(Duration::from_secs_f64((ms / 1e3).max(0.0)))),
        rtt_cap_ns: nanos(DEFAULT_RTT_CAP),
        openings: 0,
        samples: 0,
        timeouts: TimeoutsNs {
            ready: 0,
            commitment: 0,
            openings: 0,
        },
        seed: None,
        nonce: None,
        phase_nonces: Vec::new(),
        phase_seeds: Vec::new(),
        prepare: None,
        ready_ns: None,
        go: None,
        phase_dones: Vec::new(),
        phase_keys: Vec::new(),
        commitment: None,
        open_ns: None,
        leaves: Vec::new(),
        salts: Vec::new(),
        openings_received: None,
        peer_error: None,
        verdict: verdict.clone(),
    };
    if let Some(evidence) = &challenge.evidence {
        fill_from_evidence(&mut record, evidence);
    }
    record
}

/// The session's part of a record: what was asked, sent and received, with the times.
fn fill_from_evidence(record: &mut ChallengeRecord, evidence: &ChallengeEvidence) {
    let ChallengeEvidence {
        spec,
        config,
        transcript,
        cpu_rates,
        rented,
    } = evidence;
    record.module_hash = spec.module_hash;
    record.params = Buf(spec.params.clone());
    record.device = spec.device;
    record.cpu_rates = *cpu_rates;
    record.rented = *rented;
    record.envelope = Some(config.envelope);
    record.phase_envelopes = config.phase_envelopes.clone();
    record.min_rtt_ns = nanos(config.min_rtt);
    record.rtt_cap_ns = nanos(config.rtt_cap);
    record.openings = config.openings;
    record.samples = config.samples;
    record.timeouts = TimeoutsNs {
        ready: nanos(config.timeouts.ready),
        commitment: nanos(config.timeouts.commitment),
        openings: nanos(config.timeouts.openings),
    };
    let t = transcript;
    // Every time counts from the Prepare (only differences mean anything).
    let base = t.prepare.as_ref().map_or(Duration::ZERO, |p| p.at);
    let ns = |at: Duration| nanos(at.saturating_sub(base));
    let seed = t.nonce.map(|nonce| {
        challenge_seed(
            &nonce,
            spec.validator.as_bytes(),
            spec.miner.as_bytes(),
            spec.module_hash.as_bytes(),
            &spec.params,
            spec.device,
        )
    });
    record.seed = seed.map(B32);
    record.nonce = t.nonce.map(B32);
    record.phase_nonces = t.phase_nonces.iter().copied().map(B32).collect();
    record.phase_seeds = match seed {
        Some(seed) => t
            .phase_nonces
            .iter()
            .zip(1u32..)
            .map(|(nonce, k)| B32(phase_seed(&seed, k, nonce)))
            .collect(),
        None => Vec::new(),
    };
    record.prepare = t.prepare.as_ref().map(|m| timed(m, &ns));
    record.ready_ns = t.ready_at.map(ns);
    record.go = t.go.as_ref().map(|m| timed(m, &ns));
    record.phase_dones = t.phase_dones.iter().map(|m| timed(m, &ns)).collect();
    record.phase_keys = t.phase_keys.iter().map(|m| timed(m, &ns)).collect();
    record.commitment = t.commitment.as_ref().map(|m| timed(m, &ns));
    record.open_ns = t.open.as_ref().map(|o| ns(o.at));
    record.leaves = t
        .open
        .as_ref()
        .map(|o| o.message.clone())
        .unwrap_or_default();
    record.salts = t.salts.iter().copied().map(B32).collect();
    record.openings_received = t.openings.as_ref().map(|o| TimedOpenings {
        at_ns: ns(o.at),
        openings: o.message.clone(),
    });
    record.peer_error = t.peer_error.as_ref().map(|e| TimedError {
        at_ns: ns(e.at),
        error: e.message.clone(),
    });
}

/// A signed message with its time.
fn timed<T>(m: &At<Signed<T>>, ns: &dyn Fn(Duration) -> u64) -> TimedBytes {
    TimedBytes {
        at_ns: ns(m.at),
        envelope: Buf(m.message.to_bytes()),
    }
}

/// Whole nanoseconds of `d` (saturating).
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What a verdict measured, from the module's work model and the measured times: the int8 ops
/// of `gemm` parts over their phase's time, the bytes read by `membw-pass` parts over theirs,
/// and the buffer `membw-fill` filled (the memory a passing `membw` proves). Empty for a
/// verdict without timing or params the module rejects.
pub fn figures(module: Builtin, params: &[u8], verdict: &Verdict) -> ReceiptFigures {
    let (Some(timing), Ok(work)) = (verdict.timing(), module.spec().work(params)) else {
        return ReceiptFigures::default();
    };
    let mut out = ReceiptFigures::default();
    for part in &work.phases {
        let time = step_time(timing, part.step);
        match part.name {
            "gemm" => {
                out.int8_ops = Some(out.int8_ops.unwrap_or(0.0) + part.ops as f64);
                out.int8_s = time;
            }
            "membw-pass" => {
                out.dram_bytes = Some(out.dram_bytes.unwrap_or(0.0) + part.bytes as f64);
                out.dram_s = time;
            }
            "membw-fill" => out.memory_bytes = Some(part.bytes),
            _ => {}
        }
    }
    out
}

/// The measured time of interactive phase `step` (the whole challenge's for a one-phase one).
fn step_time(timing: &Timing, step: u32) -> Option<f64> {
    if timing.phases.is_empty() {
        return Some(timing.measured_s);
    }
    usize::try_from(step)
        .ok()
        .and_then(|s| timing.phases.get(s))
        .map(|p| p.measured_s)
}
