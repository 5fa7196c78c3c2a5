//! Axis mappings from data values to SVG pixels, and their tick positions.

/// A linear mapping of `[d0, d1]` onto `[r0, r1]`, clamped at both edges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Linear {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Linear {
    /// A degenerate or non-finite domain is widened to a unit one, so `map` never divides by
    /// zero.
    pub(crate) fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Self {
        let d0 = if d0.is_finite() { d0 } else { 0.0 };
        let d1 = if d1.is_finite() && d1 > d0 {
            d1
        } else {
            d0 + 1.0
        };
        Self { d0, d1, r0, r1 }
    }

    /// The pixel position of `v`; values outside the domain land on its edges, NaN on the
    /// lower one.
    pub(crate) fn map(&self, v: f64) -> f64 {
        let t = (v - self.d0) / (self.d1 - self.d0);
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        self.r0 + t * (self.r1 - self.r0)
    }

    /// The domain.
    pub(crate) fn domain(&self) -> (f64, f64) {
        (self.d0, self.d1)
    }

    /// Round-number ticks (steps of 1, 2 or 5 × 10^k) inside the domain, about `target` of
    /// them; with `integers` the step is at least 1.
    pub(crate) fn ticks(&self, target: usize, integers: bool) -> Vec<f64> {
        let span = self.d1 - self.d0;
        let raw = span / (target.max(1) as f64);
        let mut step = nice_step(raw);
        if integers && step < 1.0 {
            step = 1.0;
        }
        let first = (self.d0 / step).ceil();
        let mut out = Vec::new();
        // Bounded: `step` is at least span / (5 × target), so at most ~5 × target + 1 ticks.
        for i in 0..=(5 * target.max(1) + 1) {
            let v = (first + i as f64) * step;
            if v > self.d1 + step * 1e-9 {
                break;
            }
            out.push(v);
        }
        out
    }
}

/// The smallest 1, 2 or 5 × 10^k not below `raw` (1 for a non-positive or non-finite `raw`).
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-12))
        .unwrap_or(10.0 * mag)
}

/// A logarithmic mapping of `[lo, hi]` (both > 0) onto `[r0, r1]`, clamped at both edges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Log {
    lo: f64,
    hi: f64,
    r0: f64,
    r1: f64,
}

impl Log {
    /// A non-positive or non-finite `lo` becomes 1 ms; an `hi` not above `lo` becomes
    /// `10 × lo`, so `map` never takes the log of zero or divides by zero.
    pub(crate) fn new(lo: f64, hi: f64, r0: f64, r1: f64) -> Self {
        let lo = if lo.is_finite() && lo > 0.0 { lo } else { 1e-3 };
        let hi = if hi.is_finite() && hi > lo {
            hi
        } else {
            lo * 10.0
        };
        Self { lo, hi, r0, r1 }
    }

    /// The pixel position of `v`: `lo` maps to `r0`, `hi` to `r1`, the geometric mean to the
    /// middle. Values outside land on the edges; zero, negative values and NaN on the `lo`
    /// edge, +∞ on the `hi` edge.
    pub(crate) fn map(&self, v: f64) -> f64 {
        let t = if v > 0.0 {
            ((v.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())).clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.r0 + t * (self.r1 - self.r0)
    }

    /// Ticks at 1, 2 and 5 × 10^k inside the domain (only the powers of ten when that would
    /// be more than 12 ticks).
    pub(crate) fn ticks(&self) -> Vec<f64> {
        let k0 = self.lo.log10().floor() as i32;
        let k1 = self.hi.log10().ceil() as i32;
        let inside = |v: &f64| *v >= self.lo * (1.0 - 1e-9) && *v <= self.hi * (1.0 + 1e-9);
        let decades = (k0..=k1).map(|k| 10f64.powi(k));
        let all: Vec<f64> = decades
            .clone()
            .flat_map(|p| [p, 2.0 * p, 5.0 * p])
            .filter(inside)
            .collect();
        if all.len() <= 12 {
            all
        } else {
            decades.filter(inside).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn log_maps_edges_and_geometric_mean() {
        // y axis: small values at the bottom (pixel 200), large at the top (pixel 10).
        let s = Log::new(0.01, 10.0, 200.0, 10.0);
        assert!(close(s.map(0.01), 200.0));
        assert!(close(s.map(10.0), 10.0));
        // sqrt(0.01 × 10) = 0.316…: exactly halfway on a log axis.
        assert!(close(s.map((0.01f64 * 10.0).sqrt()), 105.0));
        // One decade of three is a third of the way.
        assert!(close(s.map(0.1), 200.0 - 190.0 / 3.0));
    }

    #[test]
    fn log_clamps_outside_and_degenerate_values() {
        let s = Log::new(0.01, 10.0, 200.0, 10.0);
        assert!(close(s.map(1e-9), 200.0));
        assert!(close(s.map(1e9), 10.0));
        assert!(close(s.map(0.0), 200.0));
        assert!(close(s.map(-3.0), 200.0));
        assert!(close(s.map(f64::NAN), 200.0));
        assert!(close(s.map(f64::INFINITY), 10.0));
        assert!(close(s.map(f64::NEG_INFINITY), 200.0));
    }

    #[test]
    fn log_repairs_bad_domains() {
        // lo == hi: widened to a decade, so the single value sits on the lower edge.
        let s = Log::new(2.0, 2.0, 100.0, 0.0);
        assert!(close(s.map(2.0), 100.0));
        assert!(close(s.map(20.0), 0.0));
        // Non-positive lo.
        let s = Log::new(0.0, 1.0, 0.0, 30.0);
        assert!(close(s.map(1e-3), 0.0));
        assert!(close(s.map(1.0), 30.0));
        // NaN everywhere still maps to finite pixels.
        let s = Log::new(f64::NAN, f64::NAN, 0.0, 1.0);
        assert!(s.map(f64::NAN).is_finite());
        assert!(s.map(5.0).is_finite());
    }

    #[test]
    fn log_ticks_are_inside_and_round() {
        let s = Log::new(0.03, 4.0, 0.0, 1.0);
        let t = s.ticks();
        let want = [0.05, 0.1, 0.2, 0.5, 1.0, 2.0];
        assert_eq!(t.len(), want.len(), "{t:?}");
        assert!(t.iter().zip(want).all(|(a, b)| close(*a, b)), "{t:?}");
        // Many decades: powers of ten only.
        let s = Log::new(1e-6, 1e3, 0.0, 1.0);
        let t = s.ticks();
        assert_eq!(t.len(), 10);
        assert!(t.iter().all(|v| close(v.log10(), v.log10().round())));
    }

    #[test]
    fn linear_maps_edges_and_clamps() {
        let s = Linear::new(0.5, 10.5, 100.0, 1100.0);
        assert!(close(s.map(0.5), 100.0));
        assert!(close(s.map(10.5), 1100.0));
        assert!(close(s.map(5.5), 600.0));
        assert!(close(s.map(-100.0), 100.0));
        assert!(close(s.map(1e12), 1100.0));
        assert!(close(s.map(f64::NAN), 100.0));
        assert_eq!(s.domain(), (0.5, 10.5));
    }

    #[test]
    fn linear_repairs_degenerate_domain() {
        let s = Linear::new(3.0, 3.0, 0.0, 10.0);
        assert!(close(s.map(3.0), 0.0));
        assert!(close(s.map(4.0), 10.0));
        let s = Linear::new(f64::NAN, f64::INFINITY, 0.0, 10.0);
        assert!(close(s.map(0.5), 5.0));
    }

    #[test]
    fn linear_ticks() {
        let s = Linear::new(0.5, 10.5, 0.0, 1.0);
        assert_eq!(s.ticks(5, true), vec![2.0, 4.0, 6.0, 8.0, 10.0]);
        // A single round: integer ticks never go below a step of 1.
        let s = Linear::new(6.5, 7.5, 0.0, 1.0);
        assert_eq!(s.ticks(8, true), vec![7.0]);
        let s = Linear::new(0.0, 1.0, 0.0, 1.0);
        assert_eq!(s.ticks(4, false), vec![0.0, 0.5, 1.0]);
        let s = Linear::new(0.0, 1.0, 0.0, 1.0);
        assert_eq!(s.ticks(10, false).len(), 11);
    }
}
