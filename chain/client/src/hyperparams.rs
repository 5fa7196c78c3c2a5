//! [`SubnetHyperparams`]: the subnet settings a validator needs, read from the chain rather than
//! assumed, and their mapping onto the pure `chain` crate's types.
//!
//! Storage names as in the finney runtime metadata (`metadata/finney.scale`), all in
//! `SubtensorModule`: per-subnet `Tempo`, `Kappa`, `BondsMovingAverage`, `BondsPenalty`,
//! `ActivityCutoff`, `MaxAllowedValidators`, `Yuma3On`, `LiquidAlphaOn`, `AlphaValues`,
//! `AlphaSigmoidSteepness`, `MinAllowedWeights`, `MaxWeightsLimit`, `WeightsVersionKey`,
//! `WeightsSetRateLimit`, `CommitRevealWeightsEnabled`, `RevealPeriodEpochs`,
//! `MechanismCountCurrent`, `SubnetOwnerHotkey`; global `CommitRevealWeightsVersion`,
//! `StakeThreshold` and `TaoWeight`. The epoch schedule for timelocked commits reads `Tempo`
//! and, where the runtime has them, `LastEpochBlock`, `PendingEpochAt`, `SubnetEpochIndex`,
//! `BlocksSinceLastStep` (the finney metadata in `metadata/` predates them: legacy schedule).
//!
//! Where the connected runtime lacks an item, the behaviour of the runtimes that lack it is used
//! and [`SubnetHyperparams::defaulted`] says so (`crate::runtime`): no
//! `CommitRevealWeightsVersion` reads as 2 (commit-reveal v2 when enabled), no
//! `MechanismCountCurrent` as 1, no `WeightsVersionKey` as 0 (no requirement).

use chain::Hyperparameters;
use chain::commit_reveal::{CommitRevealError, WeightSubmission, weight_submission};
use chain::reveal_round::{EpochSchedule, StatefulSchedule};
use chain::weights::WeightLimits;
use subxt::utils::AccountId32;

use crate::error::ClientError;
use crate::read::{PALLET, Reader};
use crate::runtime::{
    EPOCH_SCHEDULE_ITEMS, Fallback, LEGACY_COMMIT_REVEAL_VERSION, LEGACY_MECHANISM_COUNT,
};

/// A subnet's hyperparameters as stored on chain, in the runtime's units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetHyperparams {
    /// The subnet.
    pub netuid: u16,
    /// Blocks per epoch (`Tempo`).
    pub tempo: u16,
    /// `Kappa`, u16 fraction.
    pub kappa: u16,
    /// `BondsMovingAverage`, millionths.
    pub bonds_moving_average: u64,
    /// `BondsPenalty`, u16 fraction.
    pub bonds_penalty: u16,
    /// `ActivityCutoff`, blocks.
    pub activity_cutoff: u16,
    /// `MaxAllowedValidators`.
    pub max_allowed_validators: u16,
    /// `Yuma3On`.
    pub yuma3_enabled: bool,
    /// `LiquidAlphaOn`.
    pub liquid_alpha_enabled: bool,
    /// `AlphaValues.0` (liquid alpha low), u16 fraction; never above `alpha_high`.
    pub alpha_low: u16,
    /// `AlphaValues.1` (liquid alpha high), u16 fraction.
    pub alpha_high: u16,
    /// `AlphaSigmoidSteepness`.
    pub alpha_sigmoid_steepness: i16,
    /// Global `StakeThreshold` (stake units).
    pub stake_threshold: u64,
    /// `MinAllowedWeights`.
    pub min_allowed_weights: u16,
    /// `MaxWeightsLimit`, u16 fraction.
    pub max_weights_limit: u16,
    /// `WeightsVersionKey`: the lowest `version_key` the subnet accepts (0: any; also 0 where
    /// the runtime has no such storage). See [`SubnetHyperparams::accepts_version_key`].
    pub weights_version_key: u64,
    /// `WeightsSetRateLimit`: blocks between two weight submissions of one hotkey.
    pub weights_set_rate_limit: u64,
    /// `CommitRevealWeightsEnabled`.
    pub commit_reveal_enabled: bool,
    /// Global `CommitRevealWeightsVersion` (≥ 3 is timelocked commit-reveal).
    pub commit_reveal_version: u16,
    /// `RevealPeriodEpochs`.
    pub reveal_period_epochs: u64,
    /// `MechanismCountCurrent`: incentive mechanisms of the subnet (≥ 1).
    pub mechanism_count: u8,
    /// Global `TaoWeight`: TAO stake's weight as a fraction of `u64::MAX`.
    pub tao_weight: u64,
    /// `SubnetOwnerHotkey` (all zeros when unset).
    pub owner_hotkey: [u8; 32],
    /// `spec_version` of the runtime the values were read from.
    pub spec_version: u32,
    /// The items that runtime lacks, whose field above holds the value its behaviour implies
    /// ([`Fallback::CommitRevealVersion`], [`Fallback::MechanismCount`],
    /// [`Fallback::WeightsVersionKey`]); empty on finney.
    pub defaulted: Vec<Fallback>,
}

impl SubnetHyperparams {
    /// The consensus hyperparameters `chain::run_epoch` takes, field for field.
    pub fn consensus(&self) -> Hyperparameters {
        Hyperparameters {
            kappa: self.kappa,
            bonds_penalty: self.bonds_penalty,
            bonds_moving_average: self.bonds_moving_average,
            alpha_low: self.alpha_low,
            alpha_high: self.alpha_high,
            alpha_sigmoid_steepness: self.alpha_sigmoid_steepness,
            activity_cutoff: self.activity_cutoff,
            max_allowed_validators: self.max_allowed_validators,
            stake_threshold: self.stake_threshold,
            liquid_alpha_enabled: self.liquid_alpha_enabled,
            yuma3_enabled: self.yuma3_enabled,
        }
    }

    /// How this subnet wants weights: `set_weights`, commit-reveal v2 or timelocked commit-reveal
    /// (v4), or an error for a version gpuproof does not implement
    /// (`chain::commit_reveal::weight_submission` on the values read).
    pub fn weight_submission(&self) -> Result<WeightSubmission, CommitRevealError> {
        weight_submission(
            self.commit_reveal_enabled,
            self.commit_reveal_version,
            self.reveal_period_epochs,
        )
    }

    /// Whether the chain accepts weights sent with `version_key` on this subnet: subtensor's
    /// `check_version_key`, `WeightsVersionKey == 0 || version_key >= WeightsVersionKey` (a
    /// key above the subnet's is accepted too; only a lower one is refused, with
    /// `IncorrectWeightVersionKey`).
    pub fn accepts_version_key(&self, version_key: u64) -> bool {
        version_key_accepted(self.weights_version_key, version_key)
    }

    /// The limits `chain::weights::process_weights` applies, for a subnet of `num_neurons`
    /// (no exclusion quantile).
    pub fn weight_limits(&self, num_neurons: usize) -> WeightLimits {
        WeightLimits {
            num_neurons,
            min_allowed_weights: usize::from(self.min_allowed_weights),
            max_weight_limit: f64::from(self.max_weights_limit) / f64::from(u16::MAX),
            exclude_quantile: 0,
        }
    }
}

/// Subtensor's `check_version_key`: `subnet_key == 0 || version_key >= subnet_key`.
pub(crate) fn version_key_accepted(subnet_key: u64, version_key: u64) -> bool {
    subnet_key == 0 || version_key >= subnet_key
}

/// The storage entry holding a subnet's lowest accepted `version_key`.
pub(crate) const WEIGHTS_VERSION_KEY: &str = "WeightsVersionKey";

/// `WeightsVersionKey` of `netuid`, or `None` where the runtime's metadata has no such entry.
pub(crate) async fn read_weights_version_key(
    reader: &Reader<'_>,
    netuid: u16,
) -> Result<Option<u64>, ClientError> {
    if !reader.has_entry(WEIGHTS_VERSION_KEY) {
        return Ok(None);
    }
    let key = format!("netuid {netuid}");
    reader
        .value(WEIGHTS_VERSION_KEY, (netuid,), &key)
        .await
        .map(Some)
}

/// Reads every field of [`SubnetHyperparams`] for `netuid` (which must exist; the caller checks).
/// An item the runtime lacks takes the value of the runtimes without it (module docs) and is
/// listed in [`SubnetHyperparams::defaulted`].
pub(crate) async fn read_hyperparams(
    reader: &Reader<'_>,
    netuid: u16,
) -> Result<SubnetHyperparams, ClientError> {
    let key = format!("netuid {netuid}");
    let k = &key;
    let mut defaulted = Vec::new();
    let (alpha_low, alpha_high): (u16, u16) = reader.value("AlphaValues", (netuid,), k).await?;
    if alpha_low > alpha_high {
        return Err(ClientError::InvalidChainData {
            pallet: PALLET,
            entry: "AlphaValues",
            key,
            reason: format!("alpha_low {alpha_low} is above alpha_high {alpha_high}"),
        });
    }
    let mechanism_count = read_mechanism_count(reader, netuid, &mut defaulted).await?;
    let commit_reveal_version = if reader.has_entry("CommitRevealWeightsVersion") {
        reader
            .value("CommitRevealWeightsVersion", (), "the global value")
            .await?
    } else {
        defaulted.push(Fallback::CommitRevealVersion);
        LEGACY_COMMIT_REVEAL_VERSION
    };
    let weights_version_key = match read_weights_version_key(reader, netuid).await? {
        Some(key) => key,
        None => {
            defaulted.push(Fallback::WeightsVersionKey);
            0
        }
    };
    defaulted.sort_unstable();
    let owner: AccountId32 = reader.value("SubnetOwnerHotkey", (netuid,), k).await?;
    Ok(SubnetHyperparams {
        netuid,
        tempo: reader.value("Tempo", (netuid,), k).await?,
        kappa: reader.value("Kappa", (netuid,), k).await?,
        bonds_moving_average: reader.value("BondsMovingAverage", (netuid,), k).await?,
        bonds_penalty: reader.value("BondsPenalty", (netuid,), k).await?,
        activity_cutoff: reader.value("ActivityCutoff", (netuid,), k).await?,
        max_allowed_validators: reader.value("MaxAllowedValidators", (netuid,), k).await?,
        yuma3_enabled: reader.value("Yuma3On", (netuid,), k).await?,
        liquid_alpha_enabled: reader.value("LiquidAlphaOn", (netuid,), k).await?,
        alpha_low,
        alpha_high,
        alpha_sigmoid_steepness: reader.value("AlphaSigmoidSteepness", (netuid,), k).await?,
        stake_threshold: reader
            .value("StakeThreshold", (), "the global value")
            .await?,
        min_allowed_weights: reader.value("MinAllowedWeights", (netuid,), k).await?,
        max_weights_limit: reader.value("MaxWeightsLimit", (netuid,), k).await?,
        weights_version_key,
        weights_set_rate_limit: reader.value("WeightsSetRateLimit", (netuid,), k).await?,
        commit_reveal_enabled: reader
            .value("CommitRevealWeightsEnabled", (netuid,), k)
            .await?,
        commit_reveal_version,
        reveal_period_epochs: reader.value("RevealPeriodEpochs", (netuid,), k).await?,
        mechanism_count,
        tao_weight: reader.value("TaoWeight", (), "the global value").await?,
        owner_hotkey: owner.0,
        spec_version: reader.spec_version(),
        defaulted,
    })
}

/// `MechanismCountCurrent` (at least 1), or 1 where the runtime has no such item.
async fn read_mechanism_count(
    reader: &Reader<'_>,
    netuid: u16,
    defaulted: &mut Vec<Fallback>,
) -> Result<u8, ClientError> {
    const ENTRY: &str = "MechanismCountCurrent";
    if !reader.has_entry(ENTRY) {
        defaulted.push(Fallback::MechanismCount);
        return Ok(LEGACY_MECHANISM_COUNT);
    }
    let key = format!("netuid {netuid}");
    let count: u8 = reader.value(ENTRY, (netuid,), &key).await?;
    if count == 0 {
        return Err(ClientError::InvalidChainData {
            pallet: PALLET,
            entry: ENTRY,
            key,
            reason: "a subnet has at least one mechanism, found 0".into(),
        });
    }
    Ok(count)
}

/// Reads the subnet's epoch schedule at the reader's block: the stateful scheduler's
/// `Tempo`, `LastEpochBlock`, `PendingEpochAt`, `SubnetEpochIndex` and `BlocksSinceLastStep`
/// where the runtime has them, else the legacy fixed schedule (`Tempo` and the netuid).
pub(crate) async fn read_epoch_schedule(
    reader: &Reader<'_>,
    netuid: u16,
) -> Result<EpochSchedule, ClientError> {
    let key = format!("netuid {netuid}");
    let k = &key;
    let tempo: u16 = reader.value("Tempo", (netuid,), k).await?;
    let stateful = EPOCH_SCHEDULE_ITEMS
        .iter()
        .all(|entry| reader.has_entry(entry));
    if !stateful {
        return Ok(EpochSchedule::Legacy { netuid, tempo });
    }
    Ok(EpochSchedule::Stateful(StatefulSchedule {
        tempo,
        last_epoch_block: reader.value("LastEpochBlock", (netuid,), k).await?,
        pending_epoch_at: reader.value("PendingEpochAt", (netuid,), k).await?,
        subnet_epoch_index: reader.value("SubnetEpochIndex", (netuid,), k).await?,
        blocks_since_last_step: reader.value("BlocksSinceLastStep", (netuid,), k).await?,
    }))
}
