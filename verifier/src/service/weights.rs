//! From standings to the u16 weights a validator submits (pure): scores normalized
//! ([`crate::scoring::normalize`]), processed as the chain expects
//! (`chain::weights::process_weights`: `min_allowed_weights`, `max_weight_limit`), converted to
//! u16 (`convert_weights_and_uids_for_emit`). Only standings with a UID count, each UID once
//! (when two hotkeys claim a UID, the one updated last wins: the other was deregistered).

use std::collections::BTreeMap;

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
    let (uids, values) = convert_weights_and_uids_for_emit(&processed.uids, &processed.weights)?;
    Ok(WeightPlan { uids, values })
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
