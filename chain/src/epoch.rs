//! The sparse epoch as the subtensor runtime runs it (`epoch_mechanism` in `run_epoch.rs`), as a
//! pure function from a [`SubnetState`] to an [`EpochOutput`].
//!
//! Order of operations, each step bit-identical to the runtime's:
//! 1. stake: below-threshold stake zeroed, normalised in I64F64, narrowed to I32F32;
//! 2. new validator permits: top `max_allowed_validators` non-zero stakes;
//! 3. active stake: stake of inactive neurons and of neurons without a (current) permit
//!    removed, renormalised;
//! 4. weights: rows without permit emptied, self-weights removed (owner's kept), weights set
//!    no later than the target's registration removed, rows normalised;
//! 5. consensus, clipping, validator trust, ranks, trust, incentive ([`crate::consensus`]);
//! 6. bond weights interpolated between weights and clipped weights by `bonds_penalty`;
//!    bonds to targets registered since the last tempo masked; classic or Yuma3 bonds and
//!    dividends ([`crate::bonds`]);
//! 7. emission split: incentive and dividends over their joint sum (all to stake when both are
//!    0), times the emission in I96F32, floored to `u64`;
//! 8. storage: proportions floored to `u16`; bond rows written for new permit holders, cleared
//!    for neurons that lost their permit, left alone otherwise.
//!
//! Not modelled: the commit-reveal column mask (the state is taken to have no pending commits)
//! and child-key stake inheritance (stake is given per uid, already combined).

use substrate_fixed::types::{I32F32, I64F64, I96F32};

use crate::bonds::{BondsOutcome, classic_bonds, yuma3_bonds};
use crate::consensus::{ConsensusTerms, compute_consensus};
use crate::hyperparams::Hyperparameters;
use crate::masks::{
    mask_diag_sparse, mask_rows_sparse, scalar_vec_mask_sparse_matrix, vec_mask_sparse_matrix,
};
use crate::math::{
    SparseMatrix, fixed_proportion_to_u16, fixed_to_fixed_u16_proportion, fixed64_to_fixed32,
    fixed64_to_u64, inplace_mask_vector, inplace_normalize, inplace_normalize_64,
    inplace_normalize_using_sum, inplace_row_normalize_sparse, interpolate_sparse, is_topk_nonzero,
    is_zero, sum, u16_to_fixed, vec_max_upscale_to_u16,
};

/// What a subnet holds on chain when its epoch runs. Every per-uid vector has `n` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetState {
    /// Number of registered neurons (uids `0..n`).
    pub n: u16,
    /// The block the epoch runs in.
    pub current_block: u64,
    /// Blocks per epoch; bonds to targets registered after `current_block − tempo` are masked.
    pub tempo: u16,
    /// Stake weight per uid (alpha plus TAO times the TAO weight, already combined).
    pub stake: Vec<u64>,
    /// Block of each uid's last weight update (`LastUpdate`).
    pub last_update: Vec<u64>,
    /// Block each uid was (last) registered in (`BlockAtRegistration`).
    pub block_at_registration: Vec<u64>,
    /// Validator permits from the previous epoch (`ValidatorPermit`).
    pub validator_permit: Vec<bool>,
    /// Stored weight rows: `(target uid, u16 weight)`, max-upscaled, in the order set.
    pub weights: Vec<Vec<(u16, u16)>>,
    /// Stored bond rows: `(target uid, u16 bond)`.
    pub bonds: Vec<Vec<(u16, u16)>>,
    /// The subnet owner's uid, whose self-weight is not masked, if the owner has one.
    pub owner_uid: Option<u16>,
    /// Consensus hyperparameters.
    pub hyperparameters: Hyperparameters,
}

/// Why a [`SubnetState`] cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpochError {
    /// A per-uid vector does not have `n` entries.
    #[error("subnet state field `{field}` has {len} entries but n is {n}: give one entry per uid")]
    LengthMismatch {
        /// The field's name.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The subnet size.
        n: u16,
    },
}

/// Fixed-point terms of one epoch, before they are converted for storage.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochTerms {
    /// Normalised stake (`S`).
    pub stake: Vec<I32F32>,
    /// Stake of active, permitted validators, normalised.
    pub active_stake: Vec<I32F32>,
    /// Masked, row-normalised weights (`W`).
    pub weights: SparseMatrix,
    /// Consensus, clipping, trust and incentive.
    pub consensus: ConsensusTerms,
    /// Bonds before storage conversion, and dividends.
    pub bonds: BondsOutcome,
    /// Server emission share, `u64` units.
    pub server_emission: Vec<u64>,
    /// Validator emission share, `u64` units.
    pub validator_emission: Vec<u64>,
}

/// What the runtime stores after the epoch, and the fixed-point terms behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochOutput {
    /// Stored `StakeWeight` (`u16` proportions).
    pub stake_weight: Vec<u16>,
    /// Stored `Active` flags.
    pub active: Vec<bool>,
    /// Stored `Emission`: the combined emission per uid.
    pub emission: Vec<u64>,
    /// Stored `Rank`.
    pub rank: Vec<u16>,
    /// Stored `Trust`.
    pub trust: Vec<u16>,
    /// Stored `Consensus`.
    pub consensus: Vec<u16>,
    /// Stored `Incentive`.
    pub incentive: Vec<u16>,
    /// Stored `Dividends`.
    pub dividends: Vec<u16>,
    /// Stored `PruningScores` (max-upscaled combined emission).
    pub pruning_scores: Vec<u16>,
    /// Stored `ValidatorTrust`.
    pub validator_trust: Vec<u16>,
    /// Stored `ValidatorPermit` (the new permits).
    pub validator_permit: Vec<bool>,
    /// Every bond row after the epoch: rewritten for permit holders, emptied for neurons that
    /// lost their permit, unchanged for the rest.
    pub bonds: Vec<Vec<(u16, u16)>>,
    /// The fixed-point terms.
    pub terms: EpochTerms,
}

impl SubnetState {
    /// Checks that every per-uid vector has `n` entries.
    pub fn validate(&self) -> Result<(), EpochError> {
        let n = self.n;
        let check = |field: &'static str, len: usize| {
            if len == usize::from(n) {
                Ok(())
            } else {
                Err(EpochError::LengthMismatch { field, len, n })
            }
        };
        check("stake", self.stake.len())?;
        check("last_update", self.last_update.len())?;
        check("block_at_registration", self.block_at_registration.len())?;
        check("validator_permit", self.validator_permit.len())?;
        check("weights", self.weights.len())?;
        check("bonds", self.bonds.len())
    }
}

/// Runs one epoch distributing `emission` units. Pure: the caller applies the output.
pub fn run_epoch(state: &SubnetState, emission: u64) -> Result<EpochOutput, EpochError> {
    state.validate()?;
    let hyper = &state.hyperparameters;
    let n = state.n;
    let active = active_flags(state);
    let inactive: Vec<bool> = active.iter().map(|a| !a).collect();
    let stake = normalized_stake(&state.stake, hyper.stake_threshold);
    let forbids: Vec<bool> = state.validator_permit.iter().map(|p| !p).collect();
    let new_permits = is_topk_nonzero(&stake, usize::from(hyper.max_allowed_validators));

    let mut active_stake = stake.clone();
    inplace_mask_vector(&inactive, &mut active_stake);
    inplace_mask_vector(&forbids, &mut active_stake);
    inplace_normalize(&mut active_stake);

    let weights = masked_weights(state, &forbids);
    let consensus = compute_consensus(&weights, &active_stake, n, hyper.float_kappa());
    let weights_for_bonds = interpolate_sparse(
        &weights,
        &consensus.clipped_weights,
        n,
        hyper.float_bonds_penalty(),
    );
    let bonds = epoch_bonds(state, &weights_for_bonds, &consensus, &active_stake);
    let split = split_emission(
        &consensus.incentive,
        &bonds.dividends,
        &stake,
        &active_stake,
        emission,
    );

    let to_u16 = |v: &[I32F32]| {
        v.iter()
            .map(|x| fixed_proportion_to_u16(*x))
            .collect::<Vec<_>>()
    };
    let stored_bonds = stored_bond_rows(state, &new_permits, &bonds.ema_bonds);
    Ok(EpochOutput {
        stake_weight: to_u16(&stake),
        active,
        emission: split.combined,
        rank: to_u16(&consensus.ranks),
        trust: to_u16(&consensus.trust),
        consensus: to_u16(&consensus.consensus),
        incentive: to_u16(&consensus.incentive),
        dividends: to_u16(&bonds.dividends),
        pruning_scores: vec_max_upscale_to_u16(&split.pruning_scores),
        validator_trust: to_u16(&consensus.validator_trust),
        validator_permit: new_permits,
        bonds: stored_bonds,
        terms: EpochTerms {
            stake,
            active_stake,
            weights,
            consensus,
            bonds,
            server_emission: split.server,
            validator_emission: split.validator,
        },
    })
}

/// Active means a weight update within the activity cutoff: `last_update + cutoff ≥ block`.
fn active_flags(state: &SubnetState) -> Vec<bool> {
    let cutoff = u64::from(state.hyperparameters.activity_cutoff);
    state
        .last_update
        .iter()
        .map(|updated| updated.saturating_add(cutoff) >= state.current_block)
        .collect()
}

/// Stake below the threshold zeroed, normalised in I64F64, narrowed (floored) to I32F32.
fn normalized_stake(stake: &[u64], threshold: u64) -> Vec<I32F32> {
    let mut filtered: Vec<I64F64> = stake
        .iter()
        .map(|s| {
            let s = I64F64::saturating_from_num(*s);
            if fixed64_to_u64(s) < threshold {
                I64F64::from_bits(0)
            } else {
                s
            }
        })
        .collect();
    inplace_normalize_64(&mut filtered);
    filtered.into_iter().map(fixed64_to_fixed32).collect()
}

/// Stored weights as I32F32 (columns `< n` only), masked and row-normalised.
fn masked_weights(state: &SubnetState, forbids: &[bool]) -> SparseMatrix {
    let n = state.n;
    let raw: SparseMatrix = state
        .weights
        .iter()
        .map(|row| {
            row.iter()
                .filter(|(j, _)| *j < n)
                .map(|&(j, w)| (j, I32F32::saturating_from_num(w)))
                .collect()
        })
        .collect();
    let permitted = mask_rows_sparse(forbids, &raw);
    let no_self = mask_diag_sparse(&permitted, state.owner_uid);
    let mut weights = vec_mask_sparse_matrix(
        &no_self,
        &state.last_update,
        &state.block_at_registration,
        |updated, registered| updated <= registered,
    );
    inplace_row_normalize_sparse(&mut weights);
    weights
}

/// Reads the stored bonds for the active bonds mode, masks recently registered targets and
/// computes new bonds and dividends.
fn epoch_bonds(
    state: &SubnetState,
    weights_for_bonds: &[crate::math::SparseRow],
    consensus: &ConsensusTerms,
    active_stake: &[I32F32],
) -> BondsOutcome {
    let hyper = &state.hyperparameters;
    let yuma3 = hyper.yuma3_enabled;
    let stored: SparseMatrix = state
        .bonds
        .iter()
        .map(|row| {
            row.iter()
                .map(|&(j, b)| {
                    let raw = u16_to_fixed(b);
                    (
                        j,
                        if yuma3 {
                            fixed_to_fixed_u16_proportion(raw)
                        } else {
                            raw
                        },
                    )
                })
                .collect()
        })
        .collect();
    let last_tempo = state.current_block.saturating_sub(u64::from(state.tempo));
    let bonds = scalar_vec_mask_sparse_matrix(
        &stored,
        last_tempo,
        &state.block_at_registration,
        |last_tempo, registered| last_tempo <= registered,
    );
    if yuma3 {
        yuma3_bonds(
            weights_for_bonds,
            &bonds,
            &consensus.consensus,
            active_stake,
            &consensus.incentive,
            state.n,
            hyper,
        )
    } else {
        classic_bonds(
            weights_for_bonds,
            &bonds,
            active_stake,
            &consensus.incentive,
            state.n,
            hyper,
        )
    }
}

/// Emission per uid: server, validator and combined shares, and the pruning scores.
struct EmissionSplit {
    server: Vec<u64>,
    validator: Vec<u64>,
    combined: Vec<u64>,
    pruning_scores: Vec<I32F32>,
}

/// Splits `emission` between incentive (servers) and dividends (validators) on their joint
/// sum; when both are 0 everything goes to (active, else plain) stake.
fn split_emission(
    incentive: &[I32F32],
    dividends: &[I32F32],
    stake: &[I32F32],
    active_stake: &[I32F32],
    emission: u64,
) -> EmissionSplit {
    let combined: Vec<I32F32> = incentive
        .iter()
        .zip(dividends)
        .map(|(i, d)| i.saturating_add(*d))
        .collect();
    let emission_sum = sum(&combined);
    let mut server = incentive.to_vec();
    let mut validator = dividends.to_vec();
    let mut combined_norm = combined;
    inplace_normalize_using_sum(&mut server, emission_sum);
    inplace_normalize_using_sum(&mut validator, emission_sum);
    inplace_normalize(&mut combined_norm);
    if emission_sum == I32F32::from_bits(0) {
        let fallback = if is_zero(active_stake) {
            stake
        } else {
            active_stake
        };
        validator = fallback.to_vec();
        combined_norm = fallback.to_vec();
    }
    let total = I96F32::saturating_from_num(emission);
    let to_units = |v: &[I32F32]| -> Vec<u64> {
        v.iter()
            .map(|x| {
                I96F32::saturating_from_num(*x)
                    .saturating_mul(total)
                    .saturating_to_num::<u64>()
            })
            .collect()
    };
    EmissionSplit {
        server: to_units(&server),
        validator: to_units(&validator),
        combined: to_units(&combined_norm),
        pruning_scores: combined_norm,
    }
}

/// Bond rows after the epoch: new permit holders get their EMA row (as `u16` proportions of
/// what is stored), neurons that lost their permit get an empty row, the rest keep theirs.
fn stored_bond_rows(
    state: &SubnetState,
    new_permits: &[bool],
    ema_bonds: &[crate::math::SparseRow],
) -> Vec<Vec<(u16, u16)>> {
    state
        .bonds
        .iter()
        .enumerate()
        .map(|(i, old_row)| {
            let new_permit = new_permits.get(i).copied().unwrap_or(false);
            let old_permit = state.validator_permit.get(i).copied().unwrap_or(false);
            if new_permit {
                ema_bonds
                    .get(i)
                    .map(|row| {
                        row.iter()
                            .map(|&(j, v)| (j, fixed_proportion_to_u16(v)))
                            .collect()
                    })
                    .unwrap_or_default()
            } else if old_permit {
                Vec::new()
            } else {
                old_row.clone()
            }
        })
        .collect()
}
