//! A per-validator token bucket: each validator hotkey may make `per_minute` requests a minute
//! (challenges, or bandwidth probes: the server keeps one limiter for each), with bursts up to
//! `burst`. Sans-IO: the caller passes `now`.

use std::collections::HashMap;
use std::time::Duration;

use protocol::Hotkey;

/// Token buckets keyed by validator hotkey.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_minute: u32,
    burst: u32,
    buckets: HashMap<Hotkey, (f64, Duration)>,
}

impl RateLimiter {
    /// `per_minute` requests a minute per validator, bursts of `burst` (both at least 1).
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            burst: burst.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `who` at `now` (any monotonic epoch); false when the bucket is empty.
    /// Memory stays bounded: buckets that have refilled completely are forgotten.
    pub fn try_take(&mut self, who: &Hotkey, now: Duration) -> bool {
        let rate = f64::from(self.per_minute) / 60.0;
        let burst = f64::from(self.burst);
        if self.buckets.len() > 4096 {
            self.buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_sub(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = self.buckets.entry(*who).or_insert((burst, now));
        let refilled = (*tokens + now.saturating_sub(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            true
        } else {
            *tokens = refilled;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_per_validator() {
        let mut limiter = RateLimiter::new(60, 3);
        let a = Hotkey::new([1; 32]);
        let b = Hotkey::new([2; 32]);
        let t0 = Duration::from_secs(100);
        assert!((0..3).all(|_| limiter.try_take(&a, t0)));
        assert!(!limiter.try_take(&a, t0));
        // Another validator is not affected.
        assert!(limiter.try_take(&b, t0));
        // One token a second comes back.
        assert!(!limiter.try_take(&a, t0 + Duration::from_millis(500)));
        assert!(limiter.try_take(&a, t0 + Duration::from_millis(1100)));
        assert!(!limiter.try_take(&a, t0 + Duration::from_millis(1200)));
    }
}
