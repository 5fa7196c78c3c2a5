//! Scores (docs/design.md §Verdicts, §No score without proof): per miner, Σ over its passing
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
//! - **Bandwidth** (issue #24): each round's probe gives, per direction, a measured rate
//!   (every byte checked, before its deadline), a failure (the miner's fault: wrong bytes or
//!   receipt, late, a closed connection, a refusal, no probe because its round broke off), a
//!   `busy` refusal, or nothing (the verifier's own failure) ([`LinkProbe`]). Each direction
//!   keeps an EMA of the measured Mbit/s ([`LINK_EMA_ALPHA`]; the first measurement sets it;
//!   a failure counts as 0 Mbit/s; busy and the verifier's failures leave it). The round's
//!   **link factor** is `min(clamp(up EMA / floor, 0, 1), clamp(down EMA / floor, 0, 1))`: 1 at
//!   or above the floor (`min_link_mbps`), falling in proportion below it (monotone in either
//!   rate), and **0 for a round whose probe was not measured both ways** — failed, busy, or
//!   not run — which counts as below the floor ([`link_factor`], [`MinerStanding::record_link`]).
//!   The round score is the devices' sum × the link factor. A floor of 0 turns bandwidth off
//!   (factor 1; the EMAs are still kept).
//! - The miner's score is its last round score × reliability; weights are scores normalized
//!   to sum 1 over the miners scored (all zero: no weights).

use std::collections::BTreeMap;

use validator_store::VerdictKind;

use crate::session::Verdict;

/// EMA factor of the reliability per verdict.
pub const EMA_ALPHA: f64 = 0.3;
/// EMA factor of each direction's measured bandwidth per round.
pub const LINK_EMA_ALPHA: f64 = 0.3;
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
    pub verdicts: BTreeMap<VerdictKind, u64>,
    /// The EMA of the miner's upload (miner → verifier), Mbit/s; `None` before its first
    /// probe that counted.
    pub up_mbit: Option<f64>,
    /// The EMA of the miner's download (verifier → miner), Mbit/s.
    pub down_mbit: Option<f64>,
    /// The last round's link factor, in [0, 1] ([`link_factor`]).
    pub link_factor: f64,
}

impl Default for MinerStanding {
    fn default() -> Self {
        Self {
            reliability: RELIABILITY_START,
            round_score: 0.0,
            verdicts: BTreeMap::new(),
            up_mbit: None,
            down_mbit: None,
            link_factor: 0.0,
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
                *self.verdicts.entry(verdict.kind()).or_default() += 1;
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
    pub fn record_fault(&mut self, kind: VerdictKind) {
        *self.verdicts.entry(kind).or_default() += 1;
        self.reliability = (self.reliability * (1.0 - EMA_ALPHA)).clamp(0.0, 1.0);
        self.round_score = 0.0;
        self.link_factor = 0.0;
    }

    /// Folds one round's probes into the bandwidth EMAs and scales the round score (already
    /// folded by [`record_round`](Self::record_round)) by the round's link factor, which it
    /// returns. Called for rounds that challenged the miner, not for a fault.
    pub fn record_link(&mut self, up: LinkProbe, down: LinkProbe, rules: &LinkRules) -> f64 {
        self.up_mbit = fold_link(self.up_mbit, up);
        self.down_mbit = fold_link(self.down_mbit, down);
        let both = up.is_measured() && down.is_measured();
        let factor = link_factor(self.up_mbit, self.down_mbit, both, rules);
        self.link_factor = factor;
        self.round_score *= factor;
        factor
    }

    /// The miner's score: last round score × reliability.
    pub fn score(&self) -> f64 {
        self.round_score * self.reliability
    }
}

/// What one round's probe in one direction gave, as scoring takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LinkProbe {
    /// Every byte checked out before the deadline, at this many Mbit/s.
    Measured(f64),
    /// The miner's fault (wrong bytes or receipt, late, a connection it closed, a refusal, no
    /// probe because its round broke off): 0 Mbit/s in the EMA, factor 0 this round.
    Failed,
    /// Refused as busy through the retries: factor 0 this round, the EMA left as it is (as a
    /// busy device: no pass, no charge).
    Busy,
    /// Not run for a reason of the verifier's own: factor 0 this round (never turned into a
    /// pass), the EMA left as it is (never charged).
    NotRun,
}

impl LinkProbe {
    fn is_measured(self) -> bool {
        matches!(self, Self::Measured(_))
    }
}

/// The bandwidth rule (`validator.toml` `[bandwidth]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkRules {
    /// The floor, Mbit/s each way (`min_link_mbps`): at or above it a direction's factor is 1,
    /// below it the measured share of it. 0: bandwidth is not scored.
    pub floor_mbit: f64,
}

impl Default for LinkRules {
    /// A 100 Mbit/s floor.
    fn default() -> Self {
        Self { floor_mbit: 100.0 }
    }
}

/// One direction's EMA after a round's `probe`.
fn fold_link(ema: Option<f64>, probe: LinkProbe) -> Option<f64> {
    let x = match probe {
        LinkProbe::Measured(mbit) if mbit.is_finite() && mbit > 0.0 => mbit,
        LinkProbe::Measured(_) | LinkProbe::Failed => 0.0,
        LinkProbe::Busy | LinkProbe::NotRun => return ema,
    };
    Some(match ema {
        Some(e) if e.is_finite() => e + LINK_EMA_ALPHA * (x - e),
        _ => x,
    })
}

/// The link factor of a round: 1 when bandwidth is not scored (a floor of 0); 0 when this
/// round's probe was not measured both ways (`both_measured` false); else
/// `min(clamp(up / floor, 0, 1), clamp(down / floor, 0, 1))` of the EMAs (a direction never
/// measured counts 0). Monotone: a faster link never scores less.
pub fn link_factor(
    up_mbit: Option<f64>,
    down_mbit: Option<f64>,
    both_measured: bool,
    rules: &LinkRules,
) -> f64 {
    let floor = rules.floor_mbit;
    if !(floor.is_finite() && floor > 0.0) {
        return 1.0;
    }
    if !both_measured {
        return 0.0;
    }
    let share = |ema: Option<f64>| {
        ema.filter(|e| e.is_finite())
            .map_or(0.0, |e| (e / floor).clamp(0.0, 1.0))
    };
    share(up_mbit).min(share(down_mbit))
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
        assert_eq!(b.verdicts[&VerdictKind::WrongResult], 1);
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
            ..MinerStanding::default()
        };
        s.record_fault(VerdictKind::Timeout);
        assert!((s.reliability - 0.8 * (1.0 - EMA_ALPHA)).abs() < 1e-12);
        assert_eq!(s.round_score, 0.0);
        assert_eq!(s.score(), 0.0);
        assert_eq!(s.verdicts.get(&VerdictKind::Timeout), Some(&1));
    }

    #[test]
    fn a_round_without_a_passing_device_scores_zero_and_unjudged_never_passes() {
        let pass = Verdict::Pass(timing(2.0));
        let mut s = MinerStanding {
            reliability: 0.9,
            round_score: 2.0,
            ..MinerStanding::default()
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
            ..MinerStanding::default()
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
            ..MinerStanding::default()
        };
        s.record_round(&[DeviceRound {
            class_weight: 1.0,
            verdicts: vec![&busy],
            unjudged: 0,
        }]);
        assert_eq!(s.round_score, 0.0);
        assert!((s.reliability - 0.8).abs() < 1e-12);
    }

    fn passing(class_weight: f64, pass: &Verdict) -> Vec<DeviceRound<'_>> {
        vec![DeviceRound {
            class_weight,
            verdicts: vec![pass],
            unjudged: 0,
        }]
    }

    /// The factor is measured/floor clamped to [0, 1], the lower direction decides, and it
    /// scales the round score.
    #[test]
    fn the_link_factor_follows_the_floor_and_scales_the_round_score() {
        let rules = LinkRules { floor_mbit: 100.0 };
        let pass = Verdict::Pass(timing(2.0));
        let check = |up: f64, down: f64, want: f64| {
            let mut s = MinerStanding::default();
            s.record_round(&passing(2.0, &pass));
            let f = s.record_link(LinkProbe::Measured(up), LinkProbe::Measured(down), &rules);
            assert!((f - want).abs() < 1e-12, "{up}/{down}: {f}");
            assert!((s.round_score - 2.0 * want).abs() < 1e-12, "{s:?}");
            assert_eq!(s.link_factor, f);
        };
        check(1000.0, 5000.0, 1.0);
        check(100.0, 100.0, 1.0);
        check(50.0, 900.0, 0.5);
        check(900.0, 25.0, 0.25);
        check(0.0, 900.0, 0.0);
        check(f64::NAN, 900.0, 0.0);
        // Monotone in each direction.
        let mut last = 0.0;
        for mbit in [0.0, 1.0, 10.0, 42.0, 99.0, 100.0, 101.0, 1e6] {
            let f = link_factor(Some(mbit), Some(1e6), true, &rules);
            assert!(f >= last, "{mbit}: {f} < {last}");
            last = f;
        }
        // No floor: bandwidth does not count, whatever the probe did.
        let off = LinkRules { floor_mbit: 0.0 };
        assert_eq!(link_factor(None, None, false, &off), 1.0);
        let mut s = MinerStanding::default();
        s.record_round(&passing(2.0, &pass));
        assert_eq!(
            s.record_link(LinkProbe::Failed, LinkProbe::NotRun, &off),
            1.0
        );
        assert!((s.round_score - 2.0).abs() < 1e-12);
    }

    /// A failed, busy or unrun probe counts as below the floor (factor 0 this round); only a
    /// failure is charged to the EMA, as 0 Mbit/s.
    #[test]
    fn a_missing_or_failed_probe_scores_zero_and_only_a_failure_is_charged() {
        let rules = LinkRules { floor_mbit: 100.0 };
        let pass = Verdict::Pass(timing(2.0));
        let measured = LinkProbe::Measured(400.0);
        for (probe, charged) in [
            (LinkProbe::Failed, true),
            (LinkProbe::Busy, false),
            (LinkProbe::NotRun, false),
        ] {
            for (up, down) in [(probe, measured), (measured, probe)] {
                let mut s = MinerStanding {
                    up_mbit: Some(400.0),
                    down_mbit: Some(400.0),
                    ..MinerStanding::default()
                };
                s.record_round(&passing(1.0, &pass));
                assert_eq!(s.record_link(up, down, &rules), 0.0, "{probe:?}");
                assert_eq!(s.round_score, 0.0);
                let ema = if up == probe { s.up_mbit } else { s.down_mbit };
                let want = if charged {
                    400.0 * (1.0 - LINK_EMA_ALPHA)
                } else {
                    400.0
                };
                assert!((ema.unwrap() - want).abs() < 1e-9, "{probe:?}: {s:?}");
            }
        }
        // A first probe that fails starts the EMA at 0; a first measurement sets it.
        let mut s = MinerStanding::default();
        s.record_link(LinkProbe::Failed, LinkProbe::Measured(80.0), &rules);
        assert_eq!((s.up_mbit, s.down_mbit), (Some(0.0), Some(80.0)));
        // A fault round (nothing challenged) has factor 0.
        s.link_factor = 1.0;
        s.record_fault(VerdictKind::Timeout);
        assert_eq!(s.link_factor, 0.0);
    }

    /// The EMA smooths one slow round, and a link that stays slow converges to its rate.
    #[test]
    fn the_bandwidth_ema_smooths_and_converges() {
        let rules = LinkRules { floor_mbit: 100.0 };
        let fast = LinkProbe::Measured(1000.0);
        let mut s = MinerStanding::default();
        s.record_link(fast, fast, &rules);
        let f = s.record_link(LinkProbe::Measured(10.0), fast, &rules);
        assert_eq!(
            f, 1.0,
            "one slow round after a fast one stays over the floor: {s:?}"
        );
        for _ in 0..30 {
            s.record_link(LinkProbe::Measured(40.0), fast, &rules);
        }
        assert!((s.up_mbit.unwrap() - 40.0).abs() < 0.1, "{s:?}");
        assert!((s.link_factor - 0.4).abs() < 1e-3, "{s:?}");
    }
}
