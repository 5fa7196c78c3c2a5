//! [`check_weights`]: would the runtime accept these weights from this validator now? A pure
//! function of values read from the chain, so a validator can say why instead of sending an
//! extrinsic the chain is bound to refuse.
//!
//! The checks are subtensor's `do_set_weights` (which `set_weights` runs, and every reveal —
//! `reveal_weights`, and the chain's own reveal of a timelocked commit — runs again), in the
//! runtime's order, and the commit calls' rate limit:
//!
//! | check | runtime error |
//! |---|---|
//! | no more uids than the subnet has neurons | `UidsLengthExceedUidsInSubNet` |
//! | the hotkey is registered on the subnet | `HotKeyNotRegisteredInSubNet` |
//! | `WeightsVersionKey == 0 \|\| version_key ≥ WeightsVersionKey` | `IncorrectWeightVersionKey` |
//! | `LastUpdate[uid] == 0 \|\| block − LastUpdate[uid] ≥ WeightsSetRateLimit` | `SettingWeightsTooFast` (`set_weights`), `CommittingWeightsTooFast` (commits) |
//! | a validator permit, unless the weights are a self-weight | `NeuronNoValidatorPermit` |
//! | every uid below `SubnetworkN` | `UidVecContainInvalidOne` |
//! | at least `min(MinAllowedWeights, SubnetworkN)` weights, unless a self-weight | `WeightVecLengthIsLow` |
//! | the max-upscaled weights, normalised, none above `MaxWeightsLimit / 65535` (`u16::MAX`: no limit), unless a self-weight | `MaxWeightExceeded` |
//!
//! A self-weight is exactly one weight, on the validator's own uid. Commits check only the rate
//! limit on chain (the rest waits for the reveal), but a commit whose reveal would fail is as
//! doomed, so every check applies to every path. The stake threshold (`StakeThreshold` against
//! the stake weight with child-key inheritance) is not checked: the metagraph's stake does not
//! apply child keys, so a local check could refuse weights the chain accepts.
//!
//! `block` is the earliest block the extrinsic can land in (the finalized head read at plus one):
//! the rate limit may clear a few blocks earlier on the best chain, in which case the check
//! refuses one weights interval early and the next one passes.

use chain::commit_reveal::WeightSubmission;
use chain::math::{check_vec_max_limited, vec_u16_max_upscale_to_u16};

use crate::hyperparams::{SubnetHyperparams, version_key_accepted};

/// Where the submitting hotkey stands on the subnet, read at one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatorStanding {
    /// `SubnetworkN`: the subnet's neuron count.
    pub subnet_n: u16,
    /// `Uids(netuid, hotkey)`: the hotkey's uid, `None` when it is not registered.
    pub uid: Option<u16>,
    /// `ValidatorPermit[uid]` (false when unregistered).
    pub validator_permit: bool,
    /// `LastUpdate[uid]` of mechanism 0 (0: never set weights).
    pub last_update: u64,
}

/// Why the runtime would refuse the weights; [`WeightsRefusal::chain_error`] is the error the
/// runtime would return. Messages say what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsRefusal {
    /// More uids than the subnet has neurons.
    #[error("{count} uids but the subnet has {subnet_n} neurons: read the metagraph again")]
    TooManyUids {
        /// Uids submitted.
        count: usize,
        /// `SubnetworkN`.
        subnet_n: u16,
    },
    /// The hotkey has no uid on the subnet.
    #[error(
        "this hotkey is not registered on the subnet: register it (btcli subnets register), or check [hotkey] and [chain] netuid"
    )]
    NotRegistered,
    /// `version_key` below the subnet's `WeightsVersionKey`.
    #[error(
        "the subnet's WeightsVersionKey is {subnet_version_key} but the weights carry version_key {version_key}: set [chain] version_key = {subnet_version_key}"
    )]
    VersionKeyTooLow {
        /// `WeightsVersionKey`.
        subnet_version_key: u64,
        /// The key submitted.
        version_key: u64,
    },
    /// Fewer than `WeightsSetRateLimit` blocks since the uid's `LastUpdate`.
    #[error(
        "this uid last set or committed weights at block {last_update} and the subnet allows one submission every {rate_limit} blocks (WeightsSetRateLimit): the earliest block is {next_block}, the submission would land at {block}; wait (verifier run tries again at its next weights interval)"
    )]
    RateLimited {
        /// Whether the submission is a commit (`CommittingWeightsTooFast`) rather than
        /// `set_weights` (`SettingWeightsTooFast`).
        commit: bool,
        /// `LastUpdate[uid]`.
        last_update: u64,
        /// `WeightsSetRateLimit`.
        rate_limit: u64,
        /// The block the submission would land in.
        block: u64,
        /// The first block it would be accepted in.
        next_block: u64,
    },
    /// Non-self weights from a uid without a validator permit.
    #[error(
        "uid {uid} has no validator permit, and only permitted validators may weight other uids: permits go to the top MaxAllowedValidators hotkeys by stake at each epoch, so add stake to this hotkey and wait for the next epoch"
    )]
    NoValidatorPermit {
        /// The validator's uid.
        uid: u16,
    },
    /// A uid the subnet does not have.
    #[error(
        "uid {uid} does not exist on the subnet ({subnet_n} neurons): read the metagraph again"
    )]
    InvalidUid {
        /// The first such uid.
        uid: u16,
        /// `SubnetworkN`.
        subnet_n: u16,
    },
    /// Fewer weights than the subnet requires.
    #[error(
        "{count} weights but the subnet requires at least {min_required} (MinAllowedWeights {min_allowed_weights}, {subnet_n} neurons): weight more miners, or ask the subnet owner to lower MinAllowedWeights"
    )]
    TooFewWeights {
        /// Weights submitted.
        count: usize,
        /// `min(MinAllowedWeights, SubnetworkN)`.
        min_required: usize,
        /// `MinAllowedWeights`.
        min_allowed_weights: u16,
        /// `SubnetworkN`.
        subnet_n: u16,
    },
    /// One weight's share of the total is above `MaxWeightsLimit`.
    #[error(
        "the largest weight is {share:.5} of the total, above the subnet's MaxWeightsLimit {limit:.5} ({max_weights_limit}/65535): spread the weights over more miners"
    )]
    MaxWeightExceeded {
        /// The largest weight's share of the total (for the message).
        share: f64,
        /// `MaxWeightsLimit / 65535`.
        limit: f64,
        /// `MaxWeightsLimit`.
        max_weights_limit: u16,
    },
}

impl WeightsRefusal {
    /// The runtime error the chain would answer with (`SubtensorModule::SettingWeightsTooFast`).
    pub fn chain_error(&self) -> &'static str {
        match self {
            WeightsRefusal::TooManyUids { .. } => "SubtensorModule::UidsLengthExceedUidsInSubNet",
            WeightsRefusal::NotRegistered => "SubtensorModule::HotKeyNotRegisteredInSubNet",
            WeightsRefusal::VersionKeyTooLow { .. } => "SubtensorModule::IncorrectWeightVersionKey",
            WeightsRefusal::RateLimited { commit: false, .. } => {
                "SubtensorModule::SettingWeightsTooFast"
            }
            WeightsRefusal::RateLimited { commit: true, .. } => {
                "SubtensorModule::CommittingWeightsTooFast"
            }
            WeightsRefusal::NoValidatorPermit { .. } => "SubtensorModule::NeuronNoValidatorPermit",
            WeightsRefusal::InvalidUid { .. } => "SubtensorModule::UidVecContainInvalidOne",
            WeightsRefusal::TooFewWeights { .. } => "SubtensorModule::WeightVecLengthIsLow",
            WeightsRefusal::MaxWeightExceeded { .. } => "SubtensorModule::MaxWeightExceeded",
        }
    }
}

/// Whether `uids`/`values` are a self-weight of `uid`: exactly one weight, on `uid` itself.
fn is_self_weight(uid: u16, uids: &[u16], values: &[u16]) -> bool {
    values.len() == 1 && uids.first() == Some(&uid)
}

/// The first reason (in the runtime's order) the chain would refuse `uids`/`values` with
/// `version_key`, sent through `path` by a validator standing as `standing`, landing in `block`
/// on a subnet with `hyperparams`; `Ok` when none applies. Expects one value per uid and no
/// duplicate uid (the call's own argument checks, [`crate::calls::SubtensorCall::check`]).
pub fn check_weights(
    hyperparams: &SubnetHyperparams,
    standing: &ValidatorStanding,
    path: &WeightSubmission,
    block: u64,
    uids: &[u16],
    values: &[u16],
    version_key: u64,
) -> Result<(), WeightsRefusal> {
    let n = standing.subnet_n;
    if uids.len() > usize::from(n) {
        return Err(WeightsRefusal::TooManyUids {
            count: uids.len(),
            subnet_n: n,
        });
    }
    let Some(uid) = standing.uid else {
        return Err(WeightsRefusal::NotRegistered);
    };
    if !version_key_accepted(hyperparams.weights_version_key, version_key) {
        return Err(WeightsRefusal::VersionKeyTooLow {
            subnet_version_key: hyperparams.weights_version_key,
            version_key,
        });
    }
    check_rate_limit(hyperparams, standing, path, block)?;
    let self_weight = is_self_weight(uid, uids, values);
    if !self_weight && !standing.validator_permit {
        return Err(WeightsRefusal::NoValidatorPermit { uid });
    }
    if let Some(&bad) = uids.iter().find(|u| **u >= n) {
        return Err(WeightsRefusal::InvalidUid {
            uid: bad,
            subnet_n: n,
        });
    }
    let min_required = usize::from(hyperparams.min_allowed_weights.min(n));
    if !self_weight && values.len() < min_required {
        return Err(WeightsRefusal::TooFewWeights {
            count: values.len(),
            min_required,
            min_allowed_weights: hyperparams.min_allowed_weights,
            subnet_n: n,
        });
    }
    check_max_weight(hyperparams.max_weights_limit, self_weight, values)
}

/// `check_rate_limit`: the uid's `LastUpdate` is 0 (never set) or at least `WeightsSetRateLimit`
/// blocks before `block`.
fn check_rate_limit(
    hyperparams: &SubnetHyperparams,
    standing: &ValidatorStanding,
    path: &WeightSubmission,
    block: u64,
) -> Result<(), WeightsRefusal> {
    let last_update = standing.last_update;
    let rate_limit = hyperparams.weights_set_rate_limit;
    if last_update == 0 || block.saturating_sub(last_update) >= rate_limit {
        return Ok(());
    }
    Err(WeightsRefusal::RateLimited {
        commit: !matches!(path, WeightSubmission::SetWeights),
        last_update,
        rate_limit,
        block,
        next_block: last_update.saturating_add(rate_limit),
    })
}

/// `max_weight_limited` on the max-upscaled weights, as `do_set_weights` applies it.
fn check_max_weight(
    max_weights_limit: u16,
    self_weight: bool,
    values: &[u16],
) -> Result<(), WeightsRefusal> {
    if self_weight || max_weights_limit == u16::MAX {
        return Ok(());
    }
    let upscaled = vec_u16_max_upscale_to_u16(values);
    if check_vec_max_limited(&upscaled, max_weights_limit) {
        return Ok(());
    }
    let total: f64 = upscaled.iter().map(|v| f64::from(*v)).sum();
    let largest = upscaled.iter().copied().max().map_or(0.0, f64::from);
    Err(WeightsRefusal::MaxWeightExceeded {
        share: if total > 0.0 { largest / total } else { 0.0 },
        limit: f64::from(max_weights_limit) / f64::from(u16::MAX),
        max_weights_limit,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn hyperparams() -> SubnetHyperparams {
        SubnetHyperparams {
            netuid: 1,
            tempo: 99,
            kappa: 32_767,
            bonds_moving_average: 900_000,
            bonds_penalty: 0,
            activity_cutoff: 5000,
            max_allowed_validators: 64,
            yuma3_enabled: false,
            liquid_alpha_enabled: false,
            alpha_low: 45_875,
            alpha_high: 58_982,
            alpha_sigmoid_steepness: 1000,
            stake_threshold: 0,
            min_allowed_weights: 2,
            max_weights_limit: 40_000,
            weights_version_key: 10,
            weights_set_rate_limit: 100,
            commit_reveal_enabled: false,
            commit_reveal_version: 2,
            reveal_period_epochs: 1,
            mechanism_count: 1,
            tao_weight: 0,
            owner_hotkey: [0; 32],
            spec_version: 293,
            defaulted: Vec::new(),
        }
    }

    const STANDING: ValidatorStanding = ValidatorStanding {
        subnet_n: 4,
        uid: Some(0),
        validator_permit: true,
        last_update: 900,
    };

    const V2: WeightSubmission = WeightSubmission::CommitRevealV2 {
        reveal_period_epochs: 1,
    };

    /// Runs the check at block 1000 with `version_key` 10 through `set_weights`.
    fn check(
        hp: &SubnetHyperparams,
        standing: &ValidatorStanding,
        uids: &[u16],
        values: &[u16],
    ) -> Result<(), WeightsRefusal> {
        check_weights(
            hp,
            standing,
            &WeightSubmission::SetWeights,
            1000,
            uids,
            values,
            10,
        )
    }

    /// Asserts `result` is a refusal with `chain_error` `name`; returns its message.
    fn refused(result: Result<(), WeightsRefusal>, name: &str) -> String {
        let refusal = result.expect_err(name);
        assert_eq!(refusal.chain_error(), name, "{refusal:?}");
        refusal.to_string()
    }

    #[test]
    fn weights_the_chain_takes_pass() {
        let hp = hyperparams();
        check(&hp, &STANDING, &[1, 2], &[30_000, 40_000]).unwrap();
        // Every path, with a key above the subnet's, a never-updated uid, no weight limit.
        let fresh = ValidatorStanding {
            last_update: 0,
            ..STANDING
        };
        let unlimited = SubnetHyperparams {
            max_weights_limit: u16::MAX,
            ..hyperparams()
        };
        for path in [WeightSubmission::SetWeights, V2] {
            check_weights(&unlimited, &fresh, &path, 1, &[1, 2], &[65_535, 1], 11).unwrap();
        }
    }

    #[test]
    fn the_rate_limit_refuses_until_last_update_plus_the_limit() {
        let hp = hyperparams();
        let late = ValidatorStanding {
            last_update: 950,
            ..STANDING
        };
        let message = refused(
            check(&hp, &late, &[1, 2], &[1, 1]),
            "SubtensorModule::SettingWeightsTooFast",
        );
        assert!(message.contains("earliest block is 1050"), "{message}");
        assert!(message.contains("WeightsSetRateLimit"), "{message}");
        // A commit is limited the same way, under its own error.
        refused(
            check_weights(&hp, &late, &V2, 1000, &[1, 2], &[1, 1], 10),
            "SubtensorModule::CommittingWeightsTooFast",
        );
        // Exactly the limit passes.
        let on_time = ValidatorStanding {
            last_update: 900,
            ..STANDING
        };
        check(&hp, &on_time, &[1, 2], &[1, 1]).unwrap();
    }

    #[test]
    fn too_few_weights_are_refused_unless_the_subnet_is_smaller() {
        let hp = SubnetHyperparams {
            min_allowed_weights: 3,
            ..hyperparams()
        };
        let message = refused(
            check(&hp, &STANDING, &[1, 2], &[1, 1]),
            "SubtensorModule::WeightVecLengthIsLow",
        );
        assert!(
            message.contains("at least 3 (MinAllowedWeights 3"),
            "{message}"
        );
        // MinAllowedWeights above SubnetworkN: n weights suffice.
        let hp = SubnetHyperparams {
            min_allowed_weights: 1024,
            max_weights_limit: u16::MAX,
            ..hyperparams()
        };
        check(&hp, &STANDING, &[0, 1, 2, 3], &[1, 1, 1, 1]).unwrap();
        refused(
            check(&hp, &STANDING, &[0, 1, 2], &[1, 1, 1]),
            "SubtensorModule::WeightVecLengthIsLow",
        );
    }

    #[test]
    fn a_weight_above_the_max_weight_limit_is_refused() {
        // 40 000 / 65 535 ≈ 0.61: two equal weights (0.5 each) pass, 3 : 1 (0.75) does not.
        let hp = hyperparams();
        check(&hp, &STANDING, &[1, 2], &[500, 500]).unwrap();
        let message = refused(
            check(&hp, &STANDING, &[1, 2], &[3, 1]),
            "SubtensorModule::MaxWeightExceeded",
        );
        assert!(message.contains("0.75000 of the total"), "{message}");
        assert!(message.contains("MaxWeightsLimit 0.61036"), "{message}");
    }

    #[test]
    fn the_version_key_must_reach_the_subnets() {
        let hp = hyperparams();
        let message = refused(
            check_weights(
                &hp,
                &STANDING,
                &WeightSubmission::SetWeights,
                1000,
                &[1, 2],
                &[1, 1],
                9,
            ),
            "SubtensorModule::IncorrectWeightVersionKey",
        );
        assert!(
            message.contains("set [chain] version_key = 10"),
            "{message}"
        );
    }

    #[test]
    fn a_validator_without_a_permit_may_only_weight_itself() {
        let hp = hyperparams();
        let no_permit = ValidatorStanding {
            validator_permit: false,
            ..STANDING
        };
        let message = refused(
            check(&hp, &no_permit, &[1, 2], &[1, 1]),
            "SubtensorModule::NeuronNoValidatorPermit",
        );
        assert!(
            message.contains("uid 0 has no validator permit"),
            "{message}"
        );
        // A self-weight needs no permit, and escapes the length and weight limits.
        check(&hp, &no_permit, &[0], &[65_535]).unwrap();
        // One weight on another uid is not a self-weight.
        refused(
            check(&hp, &no_permit, &[1], &[65_535]),
            "SubtensorModule::NeuronNoValidatorPermit",
        );
    }

    #[test]
    fn unregistered_hotkeys_and_unknown_uids_are_refused() {
        let hp = hyperparams();
        let stranger = ValidatorStanding {
            uid: None,
            validator_permit: false,
            last_update: 0,
            ..STANDING
        };
        refused(
            check(&hp, &stranger, &[1, 2], &[1, 1]),
            "SubtensorModule::HotKeyNotRegisteredInSubNet",
        );
        let message = refused(
            check(&hp, &STANDING, &[1, 4], &[1, 1]),
            "SubtensorModule::UidVecContainInvalidOne",
        );
        assert!(message.contains("uid 4 does not exist"), "{message}");
        refused(
            check(&hp, &STANDING, &[0, 1, 2, 3, 4], &[1; 5]),
            "SubtensorModule::UidsLengthExceedUidsInSubNet",
        );
    }

    #[test]
    fn the_first_failing_check_in_the_runtimes_order_is_reported() {
        // Rate-limited, without a permit, too few weights: the runtime stops at the rate limit.
        let hp = SubnetHyperparams {
            min_allowed_weights: 3,
            ..hyperparams()
        };
        let everything_wrong = ValidatorStanding {
            validator_permit: false,
            last_update: 999,
            ..STANDING
        };
        refused(
            check(&hp, &everything_wrong, &[1], &[1]),
            "SubtensorModule::SettingWeightsTooFast",
        );
    }
}
