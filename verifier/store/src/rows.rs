//! The records the store keeps, as plain structs: what the validator service writes, and what
//! `verifier status` and `verifier report` read back. Times are Unix seconds (UTC).

use serde::Serialize;

use crate::{ProbeOutcome, VerdictKind};

/// One round of challenges over every miner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundRow {
    /// Row id (rounds are numbered 1, 2, … in the order they were opened).
    pub id: i64,
    /// When it was opened.
    pub started_at: i64,
    /// When its last miner was recorded; `None` while it runs (or was cut short by a crash:
    /// a restart resumes it).
    pub finished_at: Option<i64>,
}

/// One verdict of one device for one module in one round, with its figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictRecord {
    /// Device index as the miner numbers them.
    pub device_index: u32,
    /// Claimed GPU name.
    pub gpu_name: String,
    /// Claimed GPU UUID (claims only; duplicates across miners are flagged).
    pub gpu_uuid: String,
    /// The class the name maps to, if any.
    pub claimed_class: Option<String>,
    /// Challenge module (`matmul-i8`, `membw`).
    pub module: String,
    /// Verdict kind, or `None` when the verifier itself failed (`detail_json` says why; never
    /// charged to the miner).
    pub verdict: Option<VerdictKind>,
    /// Measured time, s (when a commitment arrived).
    pub measured_s: Option<f64>,
    /// The class window's lower edge (datasheet-peak floor), s.
    pub peak_floor_s: Option<f64>,
    /// The window's calibrated lower bound, s.
    pub min_s: Option<f64>,
    /// The window's upper bound, s.
    pub max_s: Option<f64>,
    /// The whole verdict (or the verifier's error) as JSON, for a person.
    pub detail_json: String,
}

/// A miner's standing after a round: what scoring carries from round to round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StandingRow {
    /// Hotkey, SS58.
    pub hotkey: String,
    /// UID on the subnet, when known.
    pub uid: Option<u16>,
    /// Reliability EMA in [0, 1].
    pub reliability: f64,
    /// The last round's score before reliability.
    pub round_score: f64,
    /// `round_score × reliability`.
    pub score: f64,
    /// The round that last updated it.
    pub round_id: i64,
    /// The EMA of the miner's upload (miner → verifier), Mbit/s (schema 5); `None` before a
    /// probe counted (or recorded before schema 5).
    pub up_mbit: Option<f64>,
    /// The EMA of the miner's download (verifier → miner), Mbit/s (schema 5).
    pub down_mbit: Option<f64>,
    /// The link factor of the round that last updated it, in [0, 1] (schema 5): the round
    /// score is the passing devices' sum × this. `None` when recorded before schema 5.
    pub link_factor: Option<f64>,
}

/// Everything one miner's round produced, written in one transaction with its new standing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinerRoundRecord {
    /// The round.
    pub round_id: i64,
    /// Hotkey, SS58.
    pub hotkey: String,
    /// UID, when known.
    pub uid: Option<u16>,
    /// Address challenged.
    pub addr: String,
    /// Why the round could not be run against it (connection, handshake), if it could not.
    pub error: Option<String>,
    /// Every device verdict.
    pub verdicts: Vec<VerdictRecord>,
    /// Probe throughput miner → verifier, MB/s, and whether its data checked out.
    pub probe_up: Option<(f64, bool)>,
    /// Probe throughput verifier → miner, MB/s, and whether its receipt checked out.
    pub probe_down: Option<(f64, bool)>,
    /// What the bandwidth probe did and what it did to the round score (schema 5); `None` for
    /// a round that challenged nothing (a fault, a verifier error).
    pub link: Option<LinkRecord>,
    /// The standing after this round.
    pub standing: StandingRow,
    /// When it was recorded.
    pub recorded_at: i64,
    /// The miner's proven devices after this round, when the round was unrented and
    /// challenged devices (they replace the stored set); `None` leaves the stored set as it is.
    pub proven: Option<Vec<ProvenDeviceRow>>,
    /// The receipts of this round's verdicts (schema 4), each for one verdict of `verdicts`
    /// by `(device_index, module)`.
    #[serde(skip)]
    pub receipts: Vec<ReceiptRecord>,
}

/// What a verdict measured, as the catalogue shows it: int8 ops over the time of their
/// interactive phase (`matmul-i8`), bytes read by the memory passes over theirs, and the
/// buffer a `membw` filled (`None` where the module or the verdict has no such figure).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ReceiptFigures {
    /// Int8 operations of the GEMM parts.
    pub int8_ops: Option<f64>,
    /// Measured seconds of the phase they ran in.
    pub int8_s: Option<f64>,
    /// Bytes read by the memory passes.
    pub dram_bytes: Option<f64>,
    /// Measured seconds of the phase they ran in.
    pub dram_s: Option<f64>,
    /// Bytes of the memory buffer filled (proven resident when the verdict is a pass).
    pub memory_bytes: Option<u64>,
}

/// A receipt to keep with a miner's round: the signed receipt and its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptRecord {
    /// The verdict's device index.
    pub device_index: u32,
    /// The verdict's module (or stage, for a miner-level fault).
    pub module: String,
    /// The receipt's id (hex of its envelope digest): unique.
    pub receipt_id: String,
    /// The receipt file's bytes (kept zstd-compressed).
    pub bytes: Vec<u8>,
    /// Its figures.
    pub figures: ReceiptFigures,
}

/// A stored receipt, without its body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReceiptRow {
    /// The receipt's id (hex).
    pub receipt_id: String,
    /// The verdict row it belongs to.
    pub verdict_id: i64,
    /// The round.
    pub round_id: i64,
    /// Miner hotkey, SS58.
    pub hotkey: String,
    /// The verdict's device index.
    pub device_index: u32,
    /// The verdict's module (or stage).
    pub module: String,
    /// The verdict kind.
    pub verdict: VerdictKind,
    /// When it was recorded, Unix s.
    pub recorded_at: i64,
    /// Its figures (kept when the body is pruned).
    pub figures: ReceiptFigures,
    /// Bytes of the receipt file.
    pub size: u64,
    /// Whether the receipt itself is still kept (pass receipts are pruned after
    /// `receipt_retention_rounds`; the figures stay).
    pub kept: bool,
}

/// A stored receipt: its row, and its bytes while it is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReceipt {
    /// Its row.
    pub row: ReceiptRow,
    /// The receipt file's bytes (decompressed); `None` once pruned.
    pub bytes: Option<Vec<u8>>,
}

/// Which receipts to read: every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiptFilter {
    /// Miner hotkey, SS58.
    pub hotkey: Option<String>,
    /// Round.
    pub round_id: Option<i64>,
    /// Verdict kind.
    pub verdict: Option<VerdictKind>,
}

/// A miner as the latest round that recorded it saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinerSeen {
    /// Hotkey, SS58.
    pub hotkey: String,
    /// UID, when known.
    pub uid: Option<u16>,
    /// The address challenged (its axon).
    pub addr: String,
    /// That round.
    pub round_id: i64,
    /// When it was recorded, Unix s.
    pub recorded_at: i64,
}

/// The bandwidth part of a miner's round (schema 5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkRecord {
    /// The round's link factor, in [0, 1].
    pub factor: f64,
    /// The round score before the link factor: the passing devices' sum.
    pub gpu_score: f64,
    /// How the upload probe ended; `None` when none was planned.
    pub up_outcome: Option<ProbeOutcome>,
    /// How the download probe ended.
    pub down_outcome: Option<ProbeOutcome>,
    /// Bytes each way the probe was planned for.
    pub bytes: Option<u64>,
    /// Parallel TCP streams it ran over.
    pub streams: Option<u16>,
    /// The probe's plan and results as JSON, for a person (`null` when none was planned).
    pub detail_json: String,
}

/// A device a miner proved unrented (a `proven_devices` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvenDeviceRow {
    /// Device index, as the miner numbers them.
    pub device_index: u32,
    /// Driver name claimed.
    pub gpu_name: String,
    /// Driver UUID claimed.
    pub gpu_uuid: String,
    /// Memory claimed, bytes.
    pub memory_bytes: u64,
    /// The round that proved it.
    pub round_id: i64,
}

/// A stored verdict with its round and miner, as the report and status read them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictRow {
    /// Row id.
    pub id: i64,
    /// The round.
    pub round_id: i64,
    /// Miner hotkey, SS58.
    pub hotkey: String,
    /// Miner UID, when known.
    pub uid: Option<u16>,
    /// When it was recorded.
    pub recorded_at: i64,
    /// The verdict and its figures.
    pub record: VerdictRecord,
}

/// How a weight submission went (or would have gone) to the chain: the `submissions.method`
/// column. [`SubmissionMethod::as_str`] and [`SubmissionMethod::parse`] are the one mapping
/// between the enum and the column's text; JSON shows the same text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubmissionMethod {
    /// `set-weights`: `SubtensorModule::set_weights` (commit-reveal off).
    SetWeights,
    /// `commit-reveal-v2`: `commit_weights`, then `reveal_weights` when its window opens.
    CommitRevealV2,
    /// `timelocked-v4`: `commit_timelocked_weights`, revealed by the chain.
    TimelockedV4,
    /// `local`: no chain configured; the weights were computed and recorded only.
    Local,
    /// `no-path`: the subnet's hyperparameters name no submission path this client can take
    /// (e.g. an unknown commit-reveal version), so nothing was sent.
    NoPath,
}

impl SubmissionMethod {
    /// Every method, in the order above.
    pub const ALL: [Self; 5] = [
        Self::SetWeights,
        Self::CommitRevealV2,
        Self::TimelockedV4,
        Self::Local,
        Self::NoPath,
    ];

    /// The column's text: `set-weights`, `commit-reveal-v2`, `timelocked-v4`, `local`,
    /// `no-path`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SetWeights => "set-weights",
            Self::CommitRevealV2 => "commit-reveal-v2",
            Self::TimelockedV4 => "timelocked-v4",
            Self::Local => "local",
            Self::NoPath => "no-path",
        }
    }

    /// The method `text` names, `None` for any other text. `submit`, which earlier builds
    /// wrote for the `no-path` case, reads as [`SubmissionMethod::NoPath`].
    pub fn parse(text: &str) -> Option<Self> {
        if text == "submit" {
            return Some(Self::NoPath);
        }
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

impl std::fmt::Display for SubmissionMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SubmissionMethod {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One weight submission (or the decision not to submit).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubmissionRow {
    /// Row id.
    pub id: i64,
    /// When.
    pub at: i64,
    /// The round whose standings were used.
    pub round_id: i64,
    /// How it went to the chain (or `local`: no chain configured, computed and recorded only).
    pub method: SubmissionMethod,
    /// The UIDs weighted.
    pub uids: Vec<u16>,
    /// Their u16 weights, as submitted.
    pub values: Vec<u16>,
    /// `ok`, or the error a person should read.
    pub outcome: String,
    /// Extrinsic hash or reveal round, when there is one.
    pub reference: Option<String>,
    /// The runtime error that refused the weights, by name
    /// (`SubtensorModule::SettingWeightsTooFast`): the chain's answer, or the one the
    /// validator's own check predicted when it did not send them. `None` when nothing was
    /// refused, or a failure had no runtime error (connection, decoding…).
    pub refusal: Option<String>,
}

/// A machine the verifier's own records say is rented (fed by the operator or a marketplace
/// API; never by the miner).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RentedRow {
    /// Miner hotkey, SS58.
    pub hotkey: String,
    /// Who said so (`operator`, or the marketplace's name).
    pub source: String,
    /// Since when.
    pub since: i64,
}

/// A GPU UUID claimed by more than one miner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DuplicateUuid {
    /// The UUID.
    pub gpu_uuid: String,
    /// The miners (SS58) claiming it, sorted.
    pub hotkeys: Vec<String>,
}
