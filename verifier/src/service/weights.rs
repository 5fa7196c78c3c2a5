//! From standings to the u16 weights a validator submits (pure): scores normalized
//! ([`crate::scoring::normalize`]), processed as the chain expects
//! (`chain::weights::process_weights`: `min_allowed_weights`, `max_weight_limit`), converted to
//! u16 (`convert_weights_and_uids_for_emit`), then fitted to the chain's `MaxWeightsLimit` as
//! the runtime measures it ([`fit_max_weight_limit`]: u16 rounding can leave a capped plan a hair
//! above the limit, which the chain refuses as `MaxWeightExceeded`). Only standings with a UID
//! count, each UID once (when two hotkeys claim a UID, the one updated last wins: the other was
//! deregistered).

use std::collections::BTreeMap;

use chain::math::{check_vec_max_limited, vec_u16_max_upscale_to_u16};
use chain::weights::{
    WeightError, WeightLimits, convert_weights_and_uids_for_emit, process_weights,
};
use validator_store::StandingRow;

use crate::scoring::normalize;

/// Weights ready to submit: destination UIDs and their u16 values (same length; empty when
/// there is nothing to set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightPlan {
    /// Destination UIDs, ascending.
    pub uids: Vec<u16>,
    /// u16 weights (the largest is 65535).
    pub values: Vec<u16>,
}

/// The weights of `standings` under `limits`. With no chain, pass limits with
/// `num_neurons` = one past the largest UID, `min_allowed_weights` 0 and `max_weight_limit` 1.
pub fn plan_weights(
    standings: &[StandingRow],
    limits: &WeightLimits,
) -> Result<WeightPlan, WeightError> {
    let mut by_uid: BTreeMap<u16, &StandingRow> = BTreeMap::new();
    for s in standings {
        let Some(uid) = s.uid else { continue };
        if usize::from(uid) >= limits.num_neurons {
            continue;
        }
        match by_uid.get(&uid) {
            Some(prev) if prev.round_id >= s.round_id => {}
            _ => {
                by_uid.insert(uid, s);
            }
        }
    }
    let uids: Vec<u16> = by_uid.keys().copied().collect();
    let scores: Vec<f64> = by_uid.values().map(|s| s.score).collect();
    let weights = normalize(&scores);
    if weights.iter().all(|w| *w == 0.0) {
        // Nothing earned: set nothing rather than spreading weight over every neuron.
        return Ok(WeightPlan {
            uids: Vec::new(),
            values: Vec::new(),
        });
    }
    let processed = process_weights(&uids, &weights, limits)?;
    let (uids, mut values) =
        convert_weights_and_uids_for_emit(&processed.uids, &processed.weights)?;
    fit_max_weight_limit(&mut values, limit_as_u16(limits.max_weight_limit));
    Ok(WeightPlan { uids, values })
}

/// `MaxWeightsLimit` back from its fraction (`u16 / 65535`), rounded; 65535 (no limit) for 1 or
/// more.
fn limit_as_u16(fraction: f64) -> u16 {
    if fraction >= 1.0 {
        return u16::MAX;
    }
    // In [0, 65535) here, so the conversion is exact after rounding.
    (fraction.max(0.0) * f64::from(u16::MAX)).round() as u16
}

/// Raises the smaller of `values` (u16 weights whose largest is the one capped) just enough that
/// the largest one's share of the total passes the runtime's `MaxWeightsLimit` check
/// (`check_vec_max_limited` on the max-upscaled weights, as `do_set_weights` applies it). u16
/// rounding and entries dropped for rounding to 0 can leave a plan capped at the limit a hair
/// above it. No change when the limit is 65535 or already met; none possible when it is 0 or
/// unattainable (fewer than `1 / limit` weights), in which case the pre-submission check says so.
/// The largest weights stay the largest: no value is raised past them.
pub fn fit_max_weight_limit(values: &mut [u16], max_weights_limit: u16) {
    if max_weights_limit == u16::MAX || max_weights_limit == 0 {
        return;
    }
    // Each round closes the integer deficit; a few cover the fixed-point rounding.
    for _ in 0..8 {
        if check_vec_max_limited(&vec_u16_max_upscale_to_u16(values), max_weights_limit) {
            return;
        }
        let Some(max) = values.iter().copied().max() else {
            return;
        };
        let sum: u64 = values.iter().map(|v| u64::from(*v)).sum();
        let needed = (u64::from(max) * u64::from(u16::MAX)).div_ceil(u64::from(max_weights_limit));
        let deficit = needed.saturating_sub(sum).max(1);
        let raisable = values.iter().filter(|v| **v < max).count() as u64;
        if raisable == 0 {
            return;
        }
        let each = deficit.div_ceil(raisable);
        for v in values.iter_mut().filter(|v| **v < max) {
            let raised = u64::from(*v).saturating_add(each).min(u64::from(max));
            *v = u16::try_from(raised).unwrap_or(max);
        }
    }
}

/// The limits of a local run (no chain): every UID up to the largest known, no minimum, no cap.
pub fn local_limits(standings: &[StandingRow]) -> WeightLimits {
    let n = standings
        .iter()
        .filter_map(|s| s.uid)
        .max()
        .map_or(0, |u| usize::from(u) + 1);
    WeightLimits {
        num_neurons: n,
        min_allowed_weights: 0,
        max_weight_limit: 1.0,
        exclude_quantile: 0,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn standing(hotkey: &str, uid: Option<u16>, score: f64, round_id: i64) -> StandingRow {
        StandingRow {
            hotkey: hotkey.into(),
            uid,
            reliability: 1.0,
            round_score: score,
            score,
            round_id,
            up_mbit: None,
            down_mbit: None,
            link_factor: None,
        }
    }

    #[test]
    fn scores_become_u16_weights_by_uid() {
        let s = vec![
            standing("a", Some(3), 2.0, 1),
            standing("b", Some(1), 1.0, 1),
            standing("c", Some(2), 0.0, 1),
            standing("d", None, 9.0, 1),
        ];
        let plan = plan_weights(&s, &local_limits(&s)).unwrap();
        assert_eq!(plan.uids, vec![1, 3]);
        assert_eq!(plan.values, vec![32768, 65535]);
    }

    #[test]
    fn the_latest_hotkey_of_a_uid_wins_and_all_zero_sets_nothing() {
        let s = vec![
            standing("old", Some(1), 5.0, 1),
            standing("new", Some(1), 0.0, 2),
        ];
        let plan = plan_weights(&s, &local_limits(&s)).unwrap();
        assert!(plan.uids.is_empty() && plan.values.is_empty());
    }

    /// Scores of `n` miners, uid 0 far ahead of the rest (so the cap binds), varied by `seed`.
    fn skewed(n: usize, seed: u64) -> Vec<StandingRow> {
        (0..n)
            .map(|i| {
                let x = ((i as u64 * 2_654_435_761 + seed * 97) % 1000) as f64 + 1.0;
                let score = if i == 0 { x * 50.0 } else { x };
                standing(&format!("h{i}"), Some(i as u16), score, 1)
            })
            .collect()
    }

    #[test]
    fn capped_plans_pass_the_runtimes_max_weight_check() {
        // Without the fit, about a quarter of these plans land a hair above the limit after u16
        // rounding, and the chain refuses them (MaxWeightExceeded).
        let mut checked = 0;
        for limit in [20_000u16, 26_214, 30_000, 32_768, 40_000, 50_000, 60_000] {
            for n in 3..40usize {
                if n as f64 * f64::from(limit) <= 65_535.0 {
                    continue; // unattainable: the chain refuses any non-self weights
                }
                for seed in 0..20 {
                    let limits = WeightLimits {
                        num_neurons: n,
                        min_allowed_weights: 1,
                        max_weight_limit: f64::from(limit) / 65_535.0,
                        exclude_quantile: 0,
                    };
                    let plan = plan_weights(&skewed(n, seed), &limits).unwrap();
                    let upscaled = vec_u16_max_upscale_to_u16(&plan.values);
                    assert!(
                        check_vec_max_limited(&upscaled, limit),
                        "limit {limit}, n {n}, seed {seed}: {plan:?}"
                    );
                    assert_eq!(plan.values.iter().max(), Some(&u16::MAX), "{plan:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 4000, "{checked}");
    }

    #[test]
    fn the_fit_raises_only_what_it_must() {
        // 65535 against 65535: exactly one half each; a limit of one half passes unchanged.
        let mut v = vec![65_535, 65_535];
        fit_max_weight_limit(&mut v, 32_768);
        assert_eq!(v, [65_535, 65_535]);
        // 65535 : 30000 : 30000 has a share of 0.522; a limit of one half needs the others at
        // ≥ 32768 each (sum ≥ 131070 and a bit for the fixed point).
        let mut v = vec![65_535, 30_000, 30_000];
        fit_max_weight_limit(&mut v, 32_768);
        assert!(check_vec_max_limited(&v, 32_768) && v[0] == 65_535, "{v:?}");
        assert!(v[1] >= 32_767 && v[1] <= 32_780 && v[1] == v[2], "{v:?}");
        // No limit, an impossible limit, and a lone weight: untouched.
        let mut v = vec![65_535, 10];
        fit_max_weight_limit(&mut v, u16::MAX);
        assert_eq!(v, [65_535, 10]);
        fit_max_weight_limit(&mut v, 0);
        assert_eq!(v, [65_535, 10]);
        let mut one = vec![65_535];
        fit_max_weight_limit(&mut one, 1000);
        assert_eq!(one, [65_535]);
        assert_eq!(limit_as_u16(1.0), u16::MAX);
        assert_eq!(limit_as_u16(32_768.0 / 65_535.0), 32_768);
    }

    #[test]
    fn the_chain_cap_applies() {
        let s = vec![
            standing("a", Some(0), 10.0, 1),
            standing("b", Some(1), 1.0, 1),
            standing("c", Some(2), 1.0, 1),
        ];
        let limits = WeightLimits {
            num_neurons: 3,
            min_allowed_weights: 1,
            max_weight_limit: 0.5,
            exclude_quantile: 0,
        };
        let plan = plan_weights(&s, &limits).unwrap();
        // uid 0 is capped to half of the total: 65535 against 32768 + 32768 (rounded).
        assert_eq!(plan.uids, vec![0, 1, 2]);
        let total: f64 = plan.values.iter().map(|v| f64::from(*v)).sum();
        assert!(
            (f64::from(plan.values[0]) / total - 0.5).abs() < 1e-3,
            "{plan:?}"
        );
    }
}
