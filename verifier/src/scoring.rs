//! Scores (DESIGN.md §Verdicts, §No score without proof): per miner, Σ over its passing
//! devices of the class weight × a performance factor, times a reliability factor (an EMA of
//! past verdicts, where one wrong result costs far more than one timeout).
//!
//! Choices, pure and deterministic:
//! - A device **passes a round** only when every challenge planned for it that round ended
//!   with a verdict and every verdict is `pass` ([`DeviceRound::earns`]): a planned challenge
//!   with no verdict (the verifier's own failure, counted in [`DeviceRound::unjudged`]) is
//!   never turned into a pass. Its performance factor is `clamp(mid / measured, 0.5, 1.5)` for
//!   the round's first challenge (`matmul-i8`), where `mid = √(min_s · max_s)`, the geometric
//!   middle of the class window: faster than the class's typical card earns up to 1.5×,
//!   slower down to 0.5×.
//! - **Reliability** starts at [`RELIABILITY_START`] and moves towards each device verdict's
//!   value by [`EMA_ALPHA`] ([`verdict_effect`]): `pass` 1, `too-slow` 0.25, `timeout` and
//!   `protocol-error` 0. A `wrong-result` or `too-fast` (someone else's device answered)
//!   resets it to 0: a timeout costs `α` of it, a wrong result all of it. A device that stayed
//!   busy for the whole retry budget and the verifier's own failures move it not at all.
//!   A miner-level fault (unreachable, an inventory that cannot be challenged) counts as one
//!   `timeout` or `protocol-error` ([`MinerStanding::record_fault`]).
//! - A miner's **round score** is the sum over the devices that pass, and it replaces the
//!   last round's whatever happened: a round with no passing device (an empty or unclassifiable
//!   inventory, every check aborted, every device busy) scores 0. A round with **any**
//!   `wrong-result` or `too-fast` scores 0, whatever its other devices did.
//! - The miner's score is its last round score × reliability; weights are scores normalized
//!   to sum 1 over the miners scored (all zero: no weights).

use std::collections::BTreeMap;

use crate::session::Verdict;

/// EMA factor of the reliability per verdict.
pub const EMA_ALPHA: f64 = 0.3;
/// Reliability of a miner never seen before.
pub const RELIABILITY_START: f64 = 0.5;

/// What one verdict does to the reliability EMA.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect {
    /// Moves it towards this value by [`EMA_ALPHA`].
    Toward(f64),
    /// Resets it to 0 (someone else's result or device answered).
    Reset,
    /// Leaves it (a device busy with another validator's challenge).
    Neutral,
}

/// The effect of `verdict` on reliability.
pub fn verdict_effect(verdict: &Verdict) -> Effect {
    match verdict {
        Verdict::Pass(_) => Effect::Toward(1.0),
        Verdict::TooSlow(_) => Effect::Toward(0.25),
        Verdict::Timeout(t) if t.busy => Effect::Neutral,
        Verdict::Timeout(_) | Verdict::ProtocolError(_) => Effect::Toward(0.0),
        Verdict::WrongResult(_) | Verdict::TooFast(_) => Effect::Reset,
    }
}

/// Performance factor of a passing timing: `clamp(√(min_s·max_s) / measured, 0.5, 1.5)`.
pub fn performance(verdict: &Verdict) -> f64 {
    match verdict.timing() {
        Some(t) if t.measured_s > 0.0 => {
            let mid = (t.window.min_s.max(0.0) * t.window.max_s.max(0.0)).sqrt();
            (mid / t.measured_s).clamp(0.5, 1.5)
        }
        _ => 0.5,
    }
}

/// One device's verdicts in one round, with its class weight.
#[derive(Debug, Clone)]
pub struct DeviceRound<'a> {
    /// The class weight of the device's claimed class (0 when unclassified, or when the
    /// class may not earn here, e.g. `cpu-reference` in production).
    pub class_weight: f64,
    /// The round's verdicts of this device, in order.
    pub verdicts: Vec<&'a Verdict>,
    /// Challenges planned for the device this round that ended without a verdict (the
    /// verifier's own failure): the device cannot pass, and nothing is charged.
    pub unjudged: usize,
}

impl DeviceRound<'_> {
    /// Whether the device earns this round: at least one challenge, every planned one judged,
    /// every verdict `pass`, and a class that carries weight.
    pub fn earns(&self) -> bool {
        self.unjudged == 0
            && !self.verdicts.is_empty()
            && self.verdicts.iter().all(|v| v.is_pass())
            && self.class_weight > 0.0
    }
}

/// A miner's standing across rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerStanding {
    /// The reliability EMA, in [0, 1].
    pub reliability: f64,
    /// The last round's score before reliability.
    pub round_score: f64,
    /// Verdict counts by kind, over every round.
    pub verdicts: BTreeMap<String, u64>,
}

impl Default for MinerStanding {
    fn default() -> Self {
        Self {
            reliability: RELIABILITY_START,
            round_score: 0.0,
            verdicts: BTreeMap::new(),
        }
    }
}

impl MinerStanding {
    /// Folds one round of this miner's devices in; the round score is replaced by this
    /// round's (0 when no device earns).
    pub fn record_round(&mut self, devices: &[DeviceRound<'_>]) {
        let mut score = 0.0;
        let mut cheated = false;
        for device in devices {
            for verdict in &device.verdicts {
                *self.verdicts.entry(verdict.kind().to_string()).or_default() += 1;
                match verdict_effect(verdict) {
                    Effect::Toward(x) => self.reliability += EMA_ALPHA * (x - self.reliability),
                    Effect::Reset => {
                        self.reliability = 0.0;
                        cheated = true;
                    }
                    Effect::Neutral => {}
                }
            }
            if device.earns() {
                let perf = device.verdicts.first().map_or(0.5, |v| performance(v));
                score += device.class_weight * perf;
            }
        }
        self.reliability = self.reliability.clamp(0.0, 1.0);
        self.round_score = if cheated { 0.0 } else { score };
    }

    /// Folds in a round that could not challenge any device for a reason the miner controls
    /// (unreachable, handshake refused, an inventory that cannot be challenged): one verdict
    /// of `kind` (`timeout` or `protocol-error`) for reliability, and no score this round.
    pub fn record_fault(&mut self, kind: &str) {
        *self.verdicts.entry(kind.to_string()).or_default() += 1;
        self.reliability = (self.reliability * (1.0 - EMA_ALPHA)).clamp(0.0, 1.0);
        self.round_score = 0.0;
    }

    /// The miner's score: last round score × reliability.
    pub fn score(&self) -> f64 {
        self.round_score * self.reliability
    }
}

/// Scores normalized to sum 1 (all zeros when every score is 0 or not finite).
pub fn normalize(scores: &[f64]) -> Vec<f64> {
    let clean: Vec<f64> = scores
        .iter()
        .map(|s| if s.is_finite() && *s > 0.0 { *s } else { 0.0 })
        .collect();
    let total: f64 = clean.iter().sum();
    if total <= 0.0 {
        return vec![0.0; clean.len()];
    }
    clean.iter().map(|s| s / total).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::session::{Cause, Envelope, Timing, WrongResult};

    fn timing(measured_s: f64) -> Timing {
        Timing {
            window: Envelope {
                min_s: 1.0,
                max_s: 4.0,
                peak_floor_s: 0.5,
            },
            measured_s,
            raw_s: measured_s,
            rtt_s: 0.0,
            leaves_checked: 32,
            phases: Vec::new(),
        }
    }

    fn wrong() -> Verdict {
        Verdict::WrongResult(WrongResult {
            cause: Cause::WrongContent,
            leaf: None,
            detail: String::new(),
            peer_code: None,
            timing: timing(2.0),
        })
    }

    #[test]
    fn performance_is_relative_to_the_window_middle_and_clamped() {
        assert!((performance(&Verdict::Pass(timing(2.0))) - 1.0).abs() < 1e-12);
        assert!((performance(&Verdict::Pass(timing(4.0))) - 0.5).abs() < 1e-12);
        assert!((performance(&Verdict::Pass(timing(0.1))) - 1.5).abs() < 1e-12);
    }

    #[test]
    fn a_wrong_result_costs_far_more_than_a_timeout() {
        let pass = Verdict::Pass(timing(2.0));
        let timeout = Verdict::Timeout(crate::session::TimedOut {
            waiting_for: crate::session::Phase::Commitment,
            waited_s: 9.0,
            limit_s: 9.0,
            connection_closed: false,
            window: timing(2.0).window,
            busy: false,
        });
        let mut a = MinerStanding::default();
        let mut b = MinerStanding::default();
        for _ in 0..5 {
            a.record_round(&[DeviceRound {
                class_weight: 1.0,
                verdicts: vec![&pass],
                unjudged: 0,
            }]);
            b.record_round(&[DeviceRound {
                class_weight: 1.0,
                verdicts: vec![&pass],
                unjudged: 0,
            }]);
        }
        a.record_round(&[DeviceRound {
            class_weight: 1.0,
            verdicts: vec![&timeout],
            unjudged: 0,
        }]);
        let w = wrong();
        b.record_round(&[DeviceRound {
            class_weight: 1.0,
            verdicts: vec![&w],
            unjudged: 0,
        }]);
        a.record_round(&[DeviceRound {
            class_weight: 1.0,
            verdicts: vec![&pass],
            unjudged: 0,
        }]);
        b.record_round(&[DeviceRound {
            class_weight: 1.0,
            verdicts: vec![&pass],
            unjudged: 0,
        }]);
        assert!(a.reliability > 0.7, "{a:?}");
        assert!(b.reliability < 0.35, "{b:?}");
        assert!(a.score() > 2.0 * b.score());
        assert_eq!(b.verdicts["wrong-result"], 1);
    }

    #[test]
    fn any_wrong_result_zeroes_the_round_and_a_failing_device_earns_nothing() {
        let pass = Verdict::Pass(timing(2.0));
        let w = wrong();
        let mut m = MinerStanding::default();
        m.record_round(&[
            DeviceRound {
                class_weight: 2.0,
                verdicts: vec![&pass, &pass],
                unjudged: 0,
            },
            DeviceRound {
                class_weight: 2.0,
                verdicts: vec![&pass, &w],
                unjudged: 0,
            },
        ]);
        assert_eq!(m.score(), 0.0);
        let slow = Verdict::TooSlow(timing(5.0));
        let mut n = MinerStanding::default();
        n.record_round(&[
            DeviceRound {
                class_weight: 2.0,
                verdicts: vec![&pass, &pass],
                unjudged: 0,
            },
            DeviceRound {
                class_weight: 2.0,
                verdicts: vec![&pass, &slow],
                unjudged: 0,
            },
        ]);
        assert!((n.round_score - 2.0).abs() < 1e-12);
    }

    #[test]
    fn normalize_sums_to_one_or_gives_zeros() {
        let w = normalize(&[1.0, 3.0, 0.0, f64::NAN]);
        assert_eq!(w, vec![0.25, 0.75, 0.0, 0.0]);
        assert_eq!(normalize(&[0.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn an_unreachable_round_costs_a_timeout_and_the_round_score() {
        let mut s = MinerStanding {
            reliability: 0.8,
            round_score: 2.0,
            verdicts: BTreeMap::new(),
        };
        s.record_fault("timeout");
        assert!((s.reliability - 0.8 * (1.0 - EMA_ALPHA)).abs() < 1e-12);
        assert_eq!(s.round_score, 0.0);
        assert_eq!(s.score(), 0.0);
        assert_eq!(s.verdicts.get("timeout"), Some(&1));
    }

    #[test]
    fn a_round_without_a_passing_device_scores_zero_and_unjudged_never_passes() {
        let pass = Verdict::Pass(timing(2.0));
        let mut s = MinerStanding {
            reliability: 0.9,
            round_score: 2.0,
            verdicts: BTreeMap::new(),
        };
        // The first module passed, the second ended with no verdict (the verifier's failure):
        // no pass, no charge, and the old score does not carry over.
        s.record_round(&[DeviceRound {
            class_weight: 1.0,
            verdicts: vec![&pass],
            unjudged: 1,
        }]);
        assert_eq!(s.round_score, 0.0);
        assert!(s.reliability > 0.9, "{s:?}");
        // No device at all.
        let mut t = MinerStanding {
            reliability: 0.9,
            round_score: 2.0,
            verdicts: BTreeMap::new(),
        };
        t.record_round(&[]);
        assert_eq!(t.score(), 0.0);
        // A class without weight (cpu-reference in production) earns nothing.
        let mut u = MinerStanding::default();
        u.record_round(&[DeviceRound {
            class_weight: 0.0,
            verdicts: vec![&pass, &pass],
            unjudged: 0,
        }]);
        assert_eq!(u.score(), 0.0);
    }

    #[test]
    fn a_busy_device_earns_nothing_and_costs_nothing() {
        let busy = Verdict::Timeout(crate::session::TimedOut::busy(timing(2.0).window, 8.0, 8.0));
        let mut s = MinerStanding {
            reliability: 0.8,
            round_score: 2.0,
            verdicts: BTreeMap::new(),
        };
        s.record_round(&[DeviceRound {
            class_weight: 1.0,
            verdicts: vec![&busy],
            unjudged: 0,
        }]);
        assert_eq!(s.round_score, 0.0);
        assert!((s.reliability - 0.8).abs() < 1e-12);
    }
}
