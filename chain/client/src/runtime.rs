//! [`RuntimeSupport`]: what the connected runtime's metadata offers, and the behaviour used
//! where it lacks a storage item finney (spec 393) has.
//!
//! Subtensor runtimes differ: a local subtensor, testnet and finney run different spec
//! versions, and older ones lack storage items and calls that newer ones have. The client reads
//! every hyperparameter through the metadata of the block it reads at, and where an item is
//! missing it applies the behaviour of the runtimes that lack it ([`Fallback`]):
//!
//! | missing | behaviour used | why |
//! |---|---|---|
//! | `CommitRevealWeightsVersion` | commit-reveal **v2** when `CommitRevealWeightsEnabled` | the item arrived with timelocked commits; before it, `commit_weights` / `reveal_weights` (v2) were the commit-reveal calls |
//! | `MechanismCountCurrent` | **one** mechanism (mechanism 0 = the netuid) | sub-subnet mechanisms did not exist |
//! | `LastEpochBlock`, `PendingEpochAt`, `SubnetEpochIndex` | the **fixed** epoch schedule from `Tempo` and the netuid (`blocks_until_next_epoch`: `tempo − (block + netuid + 1) mod (tempo + 1)`; `BlocksSinceLastStep` counts the blocks since the last one) | the stateful scheduler did not exist |
//! | `WeightsVersionKey` | no version-key requirement (0) | nothing to check against |
//!
//! A call the runtime lacks (`commit_timelocked_weights` before timelocked commits) is
//! [`ClientError::CallNotInRuntime`] naming the call and the runtime's spec version, checked
//! before anything is signed: never a panic, never a silent skip.
//!
//! The finney metadata in `metadata/finney.scale` (spec 393) lacks the three epoch-schedule
//! items too; `metadata/spec293.scale` (spec 293, July 2025, metadata V14) lacks all four rows'
//! items but `WeightsVersionKey`, and the `commit_timelocked_weights` call. Spec 293 also has
//! `commit_crv3_weights` (the timelocked v3 commit, whose payload has no hotkey), which gpuproof
//! never sends: with no `CommitRevealWeightsVersion` to say v3 is required, commit-reveal is v2
//! there, and v2 commits were seen landing in `WeightCommits` on such a runtime.

use subxt::Metadata;

use chain::commit_reveal::WeightSubmission;

use crate::calls::PALLET;
use crate::error::ClientError;

/// The `CommitRevealWeightsVersion` assumed where the runtime has no such item: commit-reveal v2.
pub const LEGACY_COMMIT_REVEAL_VERSION: u16 = 2;

/// The mechanism count assumed where the runtime has no `MechanismCountCurrent`.
pub const LEGACY_MECHANISM_COUNT: u8 = 1;

/// The storage items of the stateful epoch scheduler.
pub const EPOCH_SCHEDULE_ITEMS: [&str; 3] =
    ["LastEpochBlock", "PendingEpochAt", "SubnetEpochIndex"];

/// The `SubtensorModule` calls gpuproof sends.
pub const CALLS: [&str; 5] = [
    "set_weights",
    "commit_weights",
    "reveal_weights",
    "commit_timelocked_weights",
    "serve_axon",
];

/// A storage item the connected runtime lacks, and the behaviour used instead (the behaviour of
/// the runtimes that lack it; table in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fallback {
    /// No `CommitRevealWeightsVersion`: commit-reveal v2 when it is enabled.
    CommitRevealVersion,
    /// No `MechanismCountCurrent`: one mechanism.
    MechanismCount,
    /// No `LastEpochBlock` / `PendingEpochAt` / `SubnetEpochIndex`: the fixed epoch schedule
    /// from `Tempo` and the netuid.
    EpochSchedule,
    /// No `WeightsVersionKey`: no version-key requirement.
    WeightsVersionKey,
}

impl Fallback {
    /// Every fallback, in a fixed order.
    pub const ALL: [Fallback; 4] = [
        Fallback::CommitRevealVersion,
        Fallback::MechanismCount,
        Fallback::EpochSchedule,
        Fallback::WeightsVersionKey,
    ];

    /// The missing storage item(s), as the metadata names them.
    pub fn missing(&self) -> &'static str {
        match self {
            Fallback::CommitRevealVersion => "CommitRevealWeightsVersion",
            Fallback::MechanismCount => "MechanismCountCurrent",
            Fallback::EpochSchedule => "LastEpochBlock, PendingEpochAt, SubnetEpochIndex",
            Fallback::WeightsVersionKey => "WeightsVersionKey",
        }
    }

    /// What is used instead, in words.
    pub fn used(&self) -> &'static str {
        match self {
            Fallback::CommitRevealVersion => {
                "commit-reveal v2 (commit_weights / reveal_weights) when CommitRevealWeightsEnabled"
            }
            Fallback::MechanismCount => "one mechanism (mechanism 0)",
            Fallback::EpochSchedule => {
                "the fixed epoch schedule: tempo - (block + netuid + 1) mod (tempo + 1) blocks to the next epoch"
            }
            Fallback::WeightsVersionKey => "no version-key requirement (0)",
        }
    }

    /// Whether the runtime described by `metadata` lacks this fallback's item(s).
    fn applies(&self, metadata: &Metadata) -> bool {
        match self {
            Fallback::EpochSchedule => !EPOCH_SCHEDULE_ITEMS
                .iter()
                .all(|entry| has_storage(metadata, entry)),
            other => !has_storage(metadata, other.missing()),
        }
    }
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no {}: {}", self.missing(), self.used())
    }
}

/// What one runtime version offers the client: its spec version, the [`Fallback`]s that apply
/// to it, and which of gpuproof's calls ([`CALLS`]) it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSupport {
    /// `spec_version` of the runtime read.
    pub spec_version: u32,
    /// The storage items it lacks and what is used instead, in [`Fallback::ALL`] order.
    pub fallbacks: Vec<Fallback>,
    /// Each of [`CALLS`], and whether the runtime has it.
    pub calls: Vec<(&'static str, bool)>,
}

impl RuntimeSupport {
    /// What the runtime with `metadata` and `spec_version` offers.
    pub fn of(metadata: &Metadata, spec_version: u32) -> Self {
        let pallet = metadata.pallet_by_name(PALLET);
        RuntimeSupport {
            spec_version,
            fallbacks: Fallback::ALL
                .into_iter()
                .filter(|f| f.applies(metadata))
                .collect(),
            calls: CALLS
                .iter()
                .map(|name| {
                    let has = pallet.is_some_and(|p| p.call_variant_by_name(name).is_some());
                    (*name, has)
                })
                .collect(),
        }
    }

    /// Whether `fallback` applies to this runtime.
    pub fn lacks(&self, fallback: Fallback) -> bool {
        self.fallbacks.contains(&fallback)
    }

    /// Whether the runtime has `SubtensorModule::<name>`.
    pub fn has_call(&self, name: &str) -> bool {
        self.calls.iter().any(|(n, has)| *n == name && *has)
    }

    /// The call that submission `path` sends first.
    pub fn call_of(path: &WeightSubmission) -> &'static str {
        match path {
            WeightSubmission::SetWeights => "set_weights",
            WeightSubmission::CommitRevealV2 { .. } => "commit_weights",
            WeightSubmission::Timelocked { .. } => "commit_timelocked_weights",
        }
    }

    /// `Ok` when the runtime has every call `path` needs (`commit_weights` and `reveal_weights`
    /// for v2), else [`ClientError::CallNotInRuntime`] naming the first missing one.
    pub fn supports(&self, path: &WeightSubmission) -> Result<(), ClientError> {
        let needed: &[&'static str] = match path {
            WeightSubmission::SetWeights => &["set_weights"],
            WeightSubmission::CommitRevealV2 { .. } => &["commit_weights", "reveal_weights"],
            WeightSubmission::Timelocked { .. } => &["commit_timelocked_weights"],
        };
        needed
            .iter()
            .find(|name| !self.has_call(name))
            .map_or(Ok(()), |name| Err(self.missing_call(name)))
    }

    /// [`ClientError::CallNotInRuntime`] for `SubtensorModule::<name>` on this runtime.
    pub(crate) fn missing_call(&self, name: &str) -> ClientError {
        ClientError::CallNotInRuntime {
            call: format!("{PALLET}::{name}"),
            spec_version: self.spec_version,
        }
    }
}

/// Whether `metadata` has storage `SubtensorModule::entry`.
pub(crate) fn has_storage(metadata: &Metadata, entry: &str) -> bool {
    metadata
        .pallet_by_name(PALLET)
        .and_then(|p| p.storage())
        .and_then(|s| s.entry_by_name(entry))
        .is_some()
}

/// Whether `metadata` has call `SubtensorModule::name`.
pub(crate) fn has_call(metadata: &Metadata, name: &str) -> bool {
    metadata
        .pallet_by_name(PALLET)
        .and_then(|p| p.call_variant_by_name(name))
        .is_some()
}
