//! Yuma scenarios: a JSON description of a subnet and the weights its validators set epoch by
//! epoch, run through [`crate::epoch::run_epoch`] the way subtensor's own epoch tests drive the
//! runtime. This is what `verifier yuma` runs; the format is documented in `chain/README.md`.
//!
//! Semantics: every neuron registers at block 0 with its stake; tempo is 1 (the epoch tests'
//! setting, so bonds are never masked as "recently registered" after the first epoch). One epoch
//! runs at block 1 with no weights, to grant validator permits; it is not reported. Then each
//! listed epoch applies its `set_weights` in the current block (as the runtime stores them:
//! max-upscaled, `LastUpdate` = that block; an empty entry keeps the previous weights), moves one
//! block on and runs the epoch.
//!
//! `set_weights` is checked as the runtime checks it, where the rule is about the scenario's
//! own data: uids in range, one weight per destination, no duplicate destinations, and
//! non-self weights only from a uid holding a validator permit. Rate limits, version keys,
//! `min_allowed_weights` and `max_weight_limit` are not checked.

#![deny(clippy::indexing_slicing)]

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::epoch::{EpochError, EpochOutput, SubnetState, run_epoch};
use crate::hyperparams::{Hyperparameters, alpha_fraction_to_u16};
use crate::math::vec_u16_max_upscale_to_u16;

/// A scenario file, as parsed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Number of neurons, uids `0..n`.
    pub n: u16,
    /// Stake per uid; `n` entries.
    pub stakes: Vec<u64>,
    /// Units emitted per epoch.
    pub emission: u64,
    /// Hyperparameters; any left out takes the runtime default.
    #[serde(default)]
    pub hyperparameters: ScenarioHyperparameters,
    /// The epochs to run and report, in order.
    pub epochs: Vec<ScenarioEpoch>,
}

/// Scenario hyperparameters; `None` means the runtime default ([`Hyperparameters::default`]).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioHyperparameters {
    /// `u16` fraction of `u16::MAX`.
    pub kappa: Option<u16>,
    /// `u16` fraction of `u16::MAX`.
    pub bonds_penalty: Option<u16>,
    /// Millionths.
    pub bonds_moving_average: Option<u64>,
    /// Yuma3 bonds on or off.
    pub yuma3: Option<bool>,
    /// Liquid alpha on or off.
    pub liquid_alpha: Option<bool>,
    /// Fraction in [0, 1], stored as `floor(x · 65535)`.
    pub alpha_low: Option<f64>,
    /// Fraction in [0, 1], stored as `floor(x · 65535)`.
    pub alpha_high: Option<f64>,
    /// Sigmoid steepness.
    pub alpha_sigmoid_steepness: Option<i16>,
    /// Validator permits granted per epoch.
    pub max_allowed_validators: Option<u16>,
    /// Blocks.
    pub activity_cutoff: Option<u16>,
    /// Minimum stake that counts.
    pub stake_threshold: Option<u64>,
}

/// One listed epoch: the weights set before it runs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioEpoch {
    /// `set_weights` calls, applied in order.
    #[serde(default)]
    pub set_weights: Vec<SetWeights>,
}

/// One `set_weights` call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetWeights {
    /// The validator setting weights.
    pub uid: u16,
    /// Destination uids.
    pub dests: Vec<u16>,
    /// One raw `u16` weight per destination (the runtime max-upscales them).
    pub weights: Vec<u16>,
}

/// The result of a scenario: one entry per listed epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioResult {
    /// Per-epoch stored values.
    pub epochs: Vec<EpochReport>,
}

/// Values one epoch leaves in storage, as the runtime stores them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EpochReport {
    /// `Consensus`, `u16` proportions.
    pub consensus: Vec<u16>,
    /// `Incentive`, `u16` proportions.
    pub incentive: Vec<u16>,
    /// `Dividends`, `u16` proportions.
    pub dividends: Vec<u16>,
    /// `ValidatorTrust`, `u16` proportions.
    pub validator_trust: Vec<u16>,
    /// `ValidatorPermit`.
    pub validator_permit: Vec<bool>,
    /// `Bonds` rows: `[uid, u16]` pairs per validator.
    pub bonds: Vec<Vec<(u16, u16)>>,
    /// `Emission` per uid, in emission units.
    pub emission: Vec<u64>,
}

/// Why a scenario cannot be read or run. Messages say what to change in the file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file is not well-formed JSON (a syntax error or a truncated file).
    #[error("scenario is not valid JSON: {0}")]
    Json(String),
    /// The JSON does not match the scenario format; `path` is the JSON path of the offending
    /// value, e.g. `hyperparameters.kappa` (`(top level)` for the document itself).
    #[error("scenario field `{path}`: {message}")]
    Field {
        /// JSON path of the bad value.
        path: String,
        /// serde's description of the problem, with line and column.
        message: String,
    },
    /// `stakes` does not have `n` entries.
    #[error("`stakes` has {len} entries but `n` is {n}: give one stake per uid")]
    StakesLength {
        /// Entries given.
        len: usize,
        /// The subnet size.
        n: u16,
    },
    /// A liquid alpha bound is not a fraction in [0, 1], or low exceeds high.
    #[error(
        "`hyperparameters.{field}` = {value} is not usable: alpha_low and alpha_high are fractions in [0, 1] with alpha_low <= alpha_high"
    )]
    Alpha {
        /// `alpha_low` or `alpha_high`.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A `set_weights` entry breaks a rule the runtime enforces.
    #[error("`epochs[{epoch}].set_weights[{call}]`: {reason}")]
    SetWeights {
        /// Index into `epochs`.
        epoch: usize,
        /// Index into that epoch's `set_weights`.
        call: usize,
        /// What is wrong and what the runtime would say.
        reason: String,
    },
    /// The epoch itself rejected the state (an internal inconsistency).
    #[error("epoch failed: {0}")]
    Epoch(#[from] EpochError),
}

impl Scenario {
    /// Parses a scenario from JSON text; errors name the JSON path of the bad value.
    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let scenario: Scenario = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_data() {
                ScenarioError::Field {
                    path: if path == "." {
                        "(top level)".to_owned()
                    } else {
                        path
                    },
                    message: inner.to_string(),
                }
            } else {
                ScenarioError::Json(inner.to_string())
            }
        })?;
        de.end().map_err(|e| {
            ScenarioError::Json(format!("trailing characters after the scenario: {e}"))
        })?;
        Ok(scenario)
    }

    /// The hyperparameters with defaults filled in and liquid alpha bounds converted.
    pub fn resolved_hyperparameters(&self) -> Result<Hyperparameters, ScenarioError> {
        let h = &self.hyperparameters;
        let d = Hyperparameters::default();
        let alpha = |field: &'static str, value: Option<f64>, default: u16| match value {
            None => Ok(default),
            Some(v) => alpha_fraction_to_u16(v).ok_or(ScenarioError::Alpha { field, value: v }),
        };
        let alpha_low = alpha("alpha_low", h.alpha_low, d.alpha_low)?;
        let alpha_high = alpha("alpha_high", h.alpha_high, d.alpha_high)?;
        if alpha_low > alpha_high {
            return Err(ScenarioError::Alpha {
                field: "alpha_low",
                value: h.alpha_low.unwrap_or(f64::from(alpha_low) / 65_535.0),
            });
        }
        Ok(Hyperparameters {
            kappa: h.kappa.unwrap_or(d.kappa),
            bonds_penalty: h.bonds_penalty.unwrap_or(d.bonds_penalty),
            bonds_moving_average: h.bonds_moving_average.unwrap_or(d.bonds_moving_average),
            alpha_low,
            alpha_high,
            alpha_sigmoid_steepness: h
                .alpha_sigmoid_steepness
                .unwrap_or(d.alpha_sigmoid_steepness),
            activity_cutoff: h.activity_cutoff.unwrap_or(d.activity_cutoff),
            max_allowed_validators: h.max_allowed_validators.unwrap_or(d.max_allowed_validators),
            stake_threshold: h.stake_threshold.unwrap_or(d.stake_threshold),
            liquid_alpha_enabled: h.liquid_alpha.unwrap_or(d.liquid_alpha_enabled),
            yuma3_enabled: h.yuma3.unwrap_or(d.yuma3_enabled),
        })
    }

    /// Runs the permit-granting epoch and then every listed epoch; one report per listed epoch.
    pub fn run(&self) -> Result<ScenarioResult, ScenarioError> {
        let outputs = self.run_outputs()?;
        Ok(ScenarioResult {
            epochs: outputs.iter().map(report).collect(),
        })
    }

    /// Like [`Scenario::run`], but returns every listed epoch's full [`EpochOutput`], with its
    /// fixed-point terms.
    pub fn run_outputs(&self) -> Result<Vec<EpochOutput>, ScenarioError> {
        let mut state = self.initial_state()?;
        state.current_block = 1;
        let permits = run_epoch(&state, self.emission)?;
        apply_output(&mut state, &permits);
        let mut outputs = Vec::with_capacity(self.epochs.len());
        for (epoch_index, epoch) in self.epochs.iter().enumerate() {
            for (call_index, call) in epoch.set_weights.iter().enumerate() {
                set_weights(&mut state, call).map_err(|reason| ScenarioError::SetWeights {
                    epoch: epoch_index,
                    call: call_index,
                    reason,
                })?;
            }
            state.current_block = state.current_block.saturating_add(1);
            let output = run_epoch(&state, self.emission)?;
            apply_output(&mut state, &output);
            outputs.push(output);
        }
        Ok(outputs)
    }

    /// The subnet at block 0: everyone registered, no weights, bonds or permits yet.
    fn initial_state(&self) -> Result<SubnetState, ScenarioError> {
        let n = self.n;
        if self.stakes.len() != usize::from(n) {
            return Err(ScenarioError::StakesLength {
                len: self.stakes.len(),
                n,
            });
        }
        let rows = usize::from(n);
        Ok(SubnetState {
            n,
            current_block: 0,
            tempo: 1,
            stake: self.stakes.clone(),
            last_update: vec![0; rows],
            block_at_registration: vec![0; rows],
            validator_permit: vec![false; rows],
            weights: vec![Vec::new(); rows],
            bonds: vec![Vec::new(); rows],
            owner_uid: None,
            hyperparameters: self.resolved_hyperparameters()?,
        })
    }
}

/// Writes what the epoch stores back into the state the next epoch reads.
fn apply_output(state: &mut SubnetState, output: &EpochOutput) {
    state.validator_permit.clone_from(&output.validator_permit);
    state.bonds.clone_from(&output.bonds);
}

/// The reported slice of an epoch's output.
fn report(output: &EpochOutput) -> EpochReport {
    EpochReport {
        consensus: output.consensus.clone(),
        incentive: output.incentive.clone(),
        dividends: output.dividends.clone(),
        validator_trust: output.validator_trust.clone(),
        validator_permit: output.validator_permit.clone(),
        bonds: output.bonds.clone(),
        emission: output.emission.clone(),
    }
}

/// Applies one `set_weights` call in the current block, after the runtime's checks that
/// concern the scenario's data; the error string says what is wrong.
fn set_weights(state: &mut SubnetState, call: &SetWeights) -> Result<(), String> {
    let n = state.n;
    if call.uid >= n {
        return Err(format!("uid {} is not registered (n = {n})", call.uid));
    }
    if call.dests.len() != call.weights.len() {
        return Err(format!(
            "{} dests but {} weights: give one weight per destination",
            call.dests.len(),
            call.weights.len()
        ));
    }
    if let Some(bad) = call.dests.iter().find(|d| **d >= n) {
        return Err(format!(
            "destination uid {bad} is not registered (n = {n}); the runtime rejects this (UidVecContainInvalidOne)"
        ));
    }
    if call.dests.iter().collect::<BTreeSet<_>>().len() != call.dests.len() {
        return Err(
            "duplicate destination uids; the runtime rejects this (DuplicateUids)".to_owned(),
        );
    }
    let self_weight_only = call.dests.as_slice() == [call.uid];
    let permitted = state
        .validator_permit
        .get(usize::from(call.uid))
        .copied()
        .unwrap_or(false);
    if !self_weight_only && !permitted {
        return Err(format!(
            "uid {} has no validator permit, so it may only set a self-weight; the runtime rejects this (NeuronNoValidatorPermit). Give it more stake or raise max_allowed_validators",
            call.uid
        ));
    }
    let upscaled = vec_u16_max_upscale_to_u16(&call.weights);
    let row: Vec<(u16, u16)> = call.dests.iter().copied().zip(upscaled).collect();
    let block = state.current_block;
    if let (Some(w), Some(u)) = (
        state.weights.get_mut(usize::from(call.uid)),
        state.last_update.get_mut(usize::from(call.uid)),
    ) {
        *w = row;
        *u = block;
    }
    Ok(())
}
