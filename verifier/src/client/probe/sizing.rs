//! How big a bandwidth probe is, over how many TCP streams, and by when it must be done
//! (issue #24). Pure: the round passes in the RTT it measured and the share of the round's
//! byte budget this miner may use.
//!
//! **Why the RTT.** One TCP stream keeps at most its window in flight and starts in slow
//! start (an initial window of ten segments, doubling each round trip). Over 100 ms a
//! 16 MiB single stream spends most of its time ramping up, and measures slow start, not the
//! link. So the probe is sized for a link of `target` Mbit/s at the measured RTT:
//!
//! ```text
//! bdp      = target × rtt                                   bytes in flight to fill the link
//! streams  = clamp(⌈bdp / STREAM_WINDOW⌉, 1, MAX_PROBE_STREAMS)
//! ramp     = max(1, ⌈log2(bdp / streams / INITIAL_WINDOW)⌉)  slow-start round trips per stream
//! wanted   = max(MIN_PROBE_BYTES, target × RAMP_MARGIN × (ramp + 1) × rtt)
//! bytes    = min(wanted, probe_max, budget share)             each way
//! ```
//!
//! so that at the target rate the transfer lasts [`RAMP_MARGIN`] times as long as the ramp.
//! A probe the budget cut below `wanted` runs over [`MAX_PROBE_STREAMS`] streams instead: the
//! streams' initial windows together shorten slow start, which dominates a short transfer.
//! Every stream carries at least [`MIN_STREAM_BYTES`] (fewer streams for a small probe).
//!
//! **The budget.** A validator moves at most `probe_budget` bytes of probes a round, both ways,
//! over all miners: each miner's share each way is `budget / (2 × miners this round)`
//! ([`budget_share`]), and a probe never exceeds it. The RTT comes from the round's pings; a
//! miner that delays them only makes its own probe bigger (more bytes at its own speed), never
//! easier, and the RTT used for sizing is capped at [`MAX_SIZING_RTT`].
//!
//! **The deadline.** A probe must be done — every byte in, or the miner's receipt back — by
//! the time its bytes take at [`LATE_SHARE`] of the floor (at least [`MIN_DEADLINE`], at most
//! [`MAX_DEADLINE`]), plus four round trips. Past it the probe *failed* (a late receipt is not
//! a slow one): its link is at a tenth of the floor or worse, and nothing it holds (a
//! verifier's memory, a concurrency slot) is held longer. Without a floor the deadline is
//! [`MAX_DEADLINE`].

use std::time::Duration;

use protocol::limits::MAX_PROBE_STREAMS;
use serde::Serialize;

/// The congestion window a TCP stream starts with: ten segments of 1460 bytes (RFC 6928).
pub const INITIAL_WINDOW: f64 = 14_600.0;

/// The window one stream is counted on: Linux autotunes a socket's send buffer up to 4 MiB
/// (`tcp_wmem`'s default maximum), so more than this in flight needs another stream.
pub const STREAM_WINDOW: f64 = (4 << 20) as f64;

/// At the target rate a probe lasts this many times its slow-start ramp (plus one round trip).
pub const RAMP_MARGIN: f64 = 4.0;

/// The least a probe sizes itself to each way (a budget share may still cut it below).
pub const MIN_PROBE_BYTES: u64 = 1 << 20;

/// The least each stream carries: a smaller probe uses fewer streams.
pub const MIN_STREAM_BYTES: u64 = 64 << 10;

/// The RTT a probe is sized for when the miner answered no ping.
pub const UNMEASURED_RTT: Duration = Duration::from_millis(100);

/// The largest RTT a probe is sized for.
pub const MAX_SIZING_RTT: Duration = Duration::from_secs(1);

/// A probe is late once it has run as long as its bytes take at this share of the floor.
pub const LATE_SHARE: f64 = 0.1;

/// The shortest deadline a probe gets (before the round trips are added).
pub const MIN_DEADLINE: Duration = Duration::from_secs(2);

/// The longest deadline a probe gets (before the round trips are added).
pub const MAX_DEADLINE: Duration = Duration::from_secs(60);

/// What sizes a probe (`validator.toml` `[bandwidth]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeSettings {
    /// The link speed a probe is sized to measure, Mbit/s (`probe_target_mbps`).
    pub target_mbit: f64,
    /// The floor, Mbit/s (`min_link_mbps`; 0: bandwidth not scored): the deadline follows it.
    pub floor_mbit: f64,
    /// The most bytes one probe moves one way (`probe_max_mib`; 0: no probe).
    pub max_bytes: u64,
}

impl Default for ProbeSettings {
    /// `[bandwidth]`'s defaults: sized for 1000 Mbit/s, floor 100 Mbit/s, at most 128 MiB.
    fn default() -> Self {
        Self {
            target_mbit: 1000.0,
            floor_mbit: 100.0,
            max_bytes: 128 << 20,
        }
    }
}

/// One probe as planned: the same each way.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProbePlan {
    /// Bytes moved each way.
    pub bytes: u64,
    /// Parallel TCP streams.
    pub streams: u16,
    /// The probe failed if not done within this (from its first token), s.
    pub deadline_s: f64,
    /// The RTT it was sized for, ms.
    pub rtt_ms: f64,
    /// What the RTT asked for, before `probe_max` and the budget share.
    pub wanted_bytes: u64,
    /// Whether the budget share cut it below `wanted_bytes` (and `probe_max`).
    pub cut_by_budget: bool,
}

impl ProbePlan {
    /// The deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_secs_f64(self.deadline_s.clamp(0.0, MAX_DEADLINE.as_secs_f64() * 4.0))
    }

    /// A plan of exactly `bytes` over `streams` streams, due within `deadline` (tests, benches,
    /// `verifier challenge`'s explicit sizes).
    pub fn fixed(bytes: u64, streams: u16, deadline: Duration) -> Self {
        Self {
            bytes,
            streams: streams.clamp(1, MAX_PROBE_STREAMS as u16),
            deadline_s: deadline.as_secs_f64(),
            rtt_ms: 0.0,
            wanted_bytes: bytes,
            cut_by_budget: false,
        }
    }
}

/// Each miner's share of the round's probe budget, each way: `budget / (2 × miners)`.
pub fn budget_share(budget_bytes: u64, miners: usize) -> u64 {
    let ways = u64::try_from(miners.max(1))
        .unwrap_or(u64::MAX)
        .saturating_mul(2);
    budget_bytes / ways
}

/// Sizes a probe for `rtt` (the round's minimum; `None` when no ping was answered) within
/// `share` (this miner's budget share each way; `None`: no budget). `None` when nothing may be
/// probed (`max_bytes` or the share is 0).
pub fn plan_probe(
    settings: &ProbeSettings,
    rtt: Option<Duration>,
    share: Option<u64>,
) -> Option<ProbePlan> {
    let rtt = rtt
        .unwrap_or(UNMEASURED_RTT)
        .clamp(Duration::from_micros(10), MAX_SIZING_RTT);
    let rtt_s = rtt.as_secs_f64();
    let rate = bytes_per_s(settings.target_mbit);
    let bdp = rate * rtt_s;
    let window_streams = ((bdp / STREAM_WINDOW).ceil()).clamp(1.0, MAX_PROBE_STREAMS as f64);
    let per_stream = bdp / window_streams;
    let ramp = if per_stream > INITIAL_WINDOW {
        (per_stream / INITIAL_WINDOW).log2().ceil().max(1.0)
    } else {
        1.0
    };
    let sized = rate * RAMP_MARGIN * (ramp + 1.0) * rtt_s;
    let wanted = to_bytes(sized).max(MIN_PROBE_BYTES);
    let cap = settings.max_bytes.min(share.unwrap_or(u64::MAX));
    let bytes = wanted.min(cap);
    if bytes == 0 {
        return None;
    }
    let cut_by_budget = share.is_some_and(|s| s < wanted && s < settings.max_bytes);
    // ceil(bdp / window) is in 1..=MAX_PROBE_STREAMS, so it fits a u16.
    let wanted_streams = if cut_by_budget {
        MAX_PROBE_STREAMS as u16
    } else {
        window_streams as u16
    };
    let most = u16::try_from((bytes / MIN_STREAM_BYTES).max(1)).unwrap_or(u16::MAX);
    let streams = wanted_streams.min(most).max(1);
    Some(ProbePlan {
        bytes,
        streams,
        deadline_s: deadline(bytes, settings.floor_mbit, rtt).as_secs_f64(),
        rtt_ms: rtt_s * 1e3,
        wanted_bytes: wanted,
        cut_by_budget,
    })
}

/// The deadline of a probe of `bytes` each way under `floor_mbit`, at `rtt`: see the module
/// docs.
pub fn deadline(bytes: u64, floor_mbit: f64, rtt: Duration) -> Duration {
    let late_rate = bytes_per_s(floor_mbit) * LATE_SHARE;
    let at_late_rate = if late_rate > 0.0 {
        bytes as f64 / late_rate
    } else {
        MAX_DEADLINE.as_secs_f64()
    };
    let base = at_late_rate.clamp(MIN_DEADLINE.as_secs_f64(), MAX_DEADLINE.as_secs_f64());
    Duration::from_secs_f64(base).saturating_add(rtt.saturating_mul(4))
}

/// Mbit/s (10^6 bits) as bytes per second; 0 for anything not positive and finite.
fn bytes_per_s(mbit: f64) -> f64 {
    if mbit.is_finite() && mbit > 0.0 {
        mbit * 1e6 / 8.0
    } else {
        0.0
    }
}

/// A non-negative byte count as `u64`, saturating (NaN: 0).
fn to_bytes(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= u64::MAX as f64 {
        u64::MAX
    } else {
        x as u64
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    /// The worked example of the module docs: 1000 Mbit/s at 100 ms needs three 4 MiB windows
    /// and nine ramp round trips: 4 × 10 × 0.1 s at 125 MB/s = 500 MB, capped by probe_max.
    #[test]
    fn a_long_fast_path_wants_parallel_streams_and_many_bytes() {
        let settings = ProbeSettings {
            max_bytes: u64::MAX,
            ..ProbeSettings::default()
        };
        let p = plan_probe(&settings, ms(100), None).unwrap();
        assert_eq!(p.streams, 3);
        assert_eq!(p.wanted_bytes, 500_000_000);
        assert_eq!(p.bytes, 500_000_000);
        assert!(!p.cut_by_budget);
        // The default probe_max caps it, and that is not the budget.
        let p = plan_probe(&ProbeSettings::default(), ms(100), None).unwrap();
        assert_eq!(p.bytes, 128 << 20);
        assert!(!p.cut_by_budget);
        // A 16 MiB single stream is what the old fixed probe did: far short of this.
        assert!(p.wanted_bytes > 16 << 20);
    }

    #[test]
    fn the_rtt_drives_the_size_monotonically_and_a_short_path_gets_the_minimum() {
        let settings = ProbeSettings {
            max_bytes: u64::MAX,
            ..ProbeSettings::default()
        };
        let mut last = 0;
        for rtt in [0, 1, 5, 20, 50, 100, 200, 400, 1000, 5000] {
            let p = plan_probe(&settings, ms(rtt), None).unwrap();
            assert!(p.wanted_bytes >= last, "{rtt} ms: {p:?}");
            assert!(p.bytes >= MIN_PROBE_BYTES);
            last = p.wanted_bytes;
        }
        // Loopback: the minimum, one stream.
        let p = plan_probe(&settings, Some(Duration::from_micros(100)), None).unwrap();
        assert_eq!((p.bytes, p.streams), (MIN_PROBE_BYTES, 1));
        // Past MAX_SIZING_RTT nothing grows: a miner delaying its pongs gains nothing.
        assert_eq!(
            plan_probe(&settings, ms(1000), None),
            plan_probe(&settings, ms(60_000), None)
        );
        // No RTT: sized for UNMEASURED_RTT.
        assert_eq!(
            plan_probe(&settings, None, None),
            plan_probe(&settings, Some(UNMEASURED_RTT), None)
        );
    }

    #[test]
    fn the_budget_share_is_a_hard_cap_and_a_cut_probe_uses_every_stream() {
        let settings = ProbeSettings::default();
        assert_eq!(budget_share(4096 << 20, 64), 32 << 20);
        assert_eq!(budget_share(4096 << 20, 0), 2048 << 20);
        let p = plan_probe(&settings, ms(100), Some(budget_share(4096 << 20, 256))).unwrap();
        assert_eq!(p.bytes, 8 << 20);
        assert!(p.cut_by_budget);
        assert_eq!(p.streams, MAX_PROBE_STREAMS as u16);
        // Every stream carries at least MIN_STREAM_BYTES: a tiny share uses fewer streams.
        let p = plan_probe(&settings, ms(100), Some(200 << 10)).unwrap();
        assert_eq!((p.bytes, p.streams), (200 << 10, 3));
        // Budget 0 or probe_max 0: no probe.
        assert_eq!(plan_probe(&settings, ms(100), Some(0)), None);
        let off = ProbeSettings {
            max_bytes: 0,
            ..settings
        };
        assert_eq!(plan_probe(&off, ms(100), None), None);
        // A share above what the RTT wants changes nothing.
        assert_eq!(
            plan_probe(&settings, ms(10), Some(u64::MAX)),
            plan_probe(&settings, ms(10), None)
        );
    }

    #[test]
    fn the_deadline_is_the_time_at_a_tenth_of_the_floor_within_its_bounds() {
        let rtt = Duration::from_millis(50);
        // 100 MB at 10 Mbit/s (a tenth of 100) = 80 s: capped at 60 s, plus 4 RTT.
        assert_eq!(
            deadline(100_000_000, 100.0, rtt),
            MAX_DEADLINE + Duration::from_millis(200)
        );
        // 10 MB at 10 Mbit/s = 8 s.
        assert_eq!(
            deadline(10_000_000, 100.0, rtt),
            Duration::from_secs(8) + Duration::from_millis(200)
        );
        // Small probes get MIN_DEADLINE; no floor gets MAX_DEADLINE.
        assert_eq!(deadline(1000, 100.0, Duration::ZERO), MIN_DEADLINE);
        assert_eq!(deadline(1000, 0.0, Duration::ZERO), MAX_DEADLINE);
        assert_eq!(deadline(1000, f64::NAN, Duration::ZERO), MAX_DEADLINE);
    }

    #[test]
    fn hostile_settings_never_panic() {
        for target in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
            let settings = ProbeSettings {
                target_mbit: target,
                floor_mbit: target,
                max_bytes: u64::MAX,
            };
            for rtt in [None, Some(Duration::ZERO), Some(Duration::MAX)] {
                let p = plan_probe(&settings, rtt, None).unwrap();
                assert!(p.bytes >= MIN_PROBE_BYTES);
                assert!((1..=MAX_PROBE_STREAMS as u16).contains(&p.streams));
                assert!(p.deadline_s.is_finite());
            }
        }
    }
}
