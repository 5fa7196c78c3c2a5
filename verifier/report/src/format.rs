//! Text for people: local times with how long ago they were, UTC times, durations, scores,
//! short hotkeys.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A Unix time as a person reads it: the local date and time of this machine's time zone and
/// how long before `now` it was (`2026-12-05 20:14:03 CET (3 min ago)`). Times the time zone
/// database cannot place fall back to UTC (`2026-12-05 19:14:03 UTC`). JSON output keeps Unix
/// seconds instead.
pub fn readable_time(ts: i64, now: i64) -> String {
    readable_time_in(ts, now, &TimeZone::system())
}

/// [`readable_time`] in the time zone `tz`.
pub fn readable_time_in(ts: i64, now: i64, tz: &TimeZone) -> String {
    format!("{} ({})", local_time_in(ts, tz), ago(ts, now))
}

/// A Unix time as the local date and time of this machine's time zone
/// (`2026-12-05 20:14:03 CET`); UTC where the time zone database cannot place it.
pub fn local_time(ts: i64) -> String {
    local_time_in(ts, &TimeZone::system())
}

fn local_time_in(ts: i64, tz: &TimeZone) -> String {
    Timestamp::from_second(ts)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        })
        .unwrap_or_else(|_| utc(ts))
}

/// How long before `now` the Unix time `ts` was, in the largest whole unit: `just now`,
/// `42 s ago`, `3 min ago`, `5 h ago`, `12 d ago`; `in 3 min` for a time after `now`.
pub fn ago(ts: i64, now: i64) -> String {
    let delta = now.saturating_sub(ts);
    let span = delta.unsigned_abs();
    let amount = match span {
        0..=4 => return "just now".to_owned(),
        5..=59 => format!("{span} s"),
        60..=3_599 => format!("{} min", span / 60),
        3_600..=86_399 => format!("{} h", span / 3_600),
        _ => format!("{} d", span / 86_400),
    };
    if delta >= 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian, any i64).
pub(crate) fn utc(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe.saturating_add(era.saturating_mul(400)) + i64::from(m <= 2);
    (y, m, d)
}

/// Three significant digits (fewer decimals as the value grows).
fn sig3(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A duration in seconds with a readable unit: `1.23 s`, `45.6 ms`, `789 µs`.
pub(crate) fn secs(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        format!("{v} s")
    } else if a == 0.0 || a >= 1.0 {
        format!("{} s", sig3(v))
    } else if a >= 1e-3 {
        format!("{} ms", sig3(v * 1e3))
    } else {
        format!("{} µs", sig3(v * 1e6))
    }
}

/// An optional duration, `—` when absent.
pub(crate) fn opt_secs(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), secs)
}

/// A hotkey shortened to its first 6 and last 4 characters, for labels (the full key goes in
/// tooltips and tables).
pub(crate) fn short_hotkey(hotkey: &str) -> String {
    let n = hotkey.chars().count();
    if n <= 12 {
        return hotkey.to_owned();
    }
    let head: String = hotkey.chars().take(6).collect();
    let tail: String = hotkey.chars().skip(n - 4).collect();
    format!("{head}…{tail}")
}

/// `uid 17`, or `uid ?` when unknown.
pub(crate) fn uid(uid: Option<u16>) -> String {
    uid.map_or_else(|| "uid ?".to_owned(), |u| format!("uid {u}"))
}

/// At most `max` characters of `s`, with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_times_are_local_with_how_long_ago() {
        let tz = TimeZone::fixed(jiff::tz::offset(1));
        let t = 1_700_000_000;
        assert_eq!(
            readable_time_in(t, t + 180, &tz),
            "2023-11-14 23:13:20 +01 (3 min ago)"
        );
        assert_eq!(
            readable_time_in(t, t, &TimeZone::UTC),
            "2023-11-14 22:13:20 UTC (just now)"
        );
        assert_eq!(ago(t, t + 42), "42 s ago");
        assert_eq!(ago(t, t + 5 * 3600 + 7), "5 h ago");
        assert_eq!(ago(t, t + 12 * 86_400), "12 d ago");
        assert_eq!(ago(t + 600, t), "in 10 min");
        // Out of the time zone database's range: UTC, and no overflow.
        assert!(readable_time_in(i64::MAX, 0, &tz).contains("UTC"));
        assert!(!ago(i64::MIN, i64::MAX).is_empty());
    }

    #[test]
    fn utc_known_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
        // Extreme values do not overflow.
        assert!(!utc(i64::MAX).is_empty());
        assert!(!utc(i64::MIN).is_empty());
    }

    #[test]
    fn durations() {
        assert_eq!(secs(1.234), "1.23 s");
        assert_eq!(secs(123.4), "123 s");
        assert_eq!(secs(0.0456), "45.6 ms");
        assert_eq!(secs(0.000789), "789 µs");
        assert_eq!(secs(0.0), "0.00 s");
        assert_eq!(secs(f64::NAN), "NaN s");
        assert_eq!(opt_secs(None), "—");
    }

    #[test]
    fn short_keys_and_truncation() {
        assert_eq!(
            short_hotkey("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"),
            "5Grwva…utQY"
        );
        assert_eq!(short_hotkey("short"), "short");
        assert_eq!(short_hotkey("ééééééééééééé"), "éééééé…éééé");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(uid(Some(17)), "uid 17");
        assert_eq!(uid(None), "uid ?");
    }
}
