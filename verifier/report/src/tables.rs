//! The summary and the tables: standings, weight submissions, recent non-pass verdicts. Every
//! data string goes through [`Esc`].

use std::collections::HashMap;
use std::fmt::Write as _;

use validator_store::{SubmissionRow, VerdictKind, VerdictRow};

use crate::ReportInput;
use crate::escape::Esc;
use crate::format;
use crate::model::{Counts, Kind, LEGEND, Miner, Palette, Window};

/// The submissions table shows at most this many (newest first).
const MAX_SUBMISSIONS: usize = 200;
/// The non-pass table shows at most this many (newest first).
const MAX_FAILURES: usize = 100;
/// Verdict details are cut to this many characters in the non-pass table.
const MAX_DETAIL: usize = 300;

/// A coloured verdict label.
fn chip(out: &mut String, k: Kind, n: Option<usize>) {
    let _ = write!(
        out,
        "<span class=\"chip\"><span class=\"sw\" style=\"background:{};border-color:{}\"></span>{}",
        k.fill(),
        k.border(),
        k.label()
    );
    if let Some(n) = n {
        let _ = write!(out, " <b>{n}</b>");
    }
    out.push_str("</span>");
}

/// The latest weight submission, if any.
fn last_submission(input: &ReportInput) -> Option<&SubmissionRow> {
    input.submissions.iter().max_by_key(|s| (s.at, s.id))
}

/// A miner's `uid N · short hotkey` with the full hotkey as a tooltip.
fn miner_label(out: &mut String, uid: Option<u16>, hotkey: &str) {
    let _ = write!(
        out,
        "<span title=\"{}\">{} · <code>{}</code></span>",
        Esc(hotkey),
        Esc(&format::uid(uid)),
        Esc(&format::short_hotkey(hotkey))
    );
}

/// The summary: rounds, miners, verdict totals by kind, the last weight submission, and the
/// duplicate-GPU-UUID warnings.
pub(crate) fn summary(
    input: &ReportInput,
    miners: &[Miner<'_>],
    totals: &Counts,
    window: &Window,
) -> String {
    let mut out = String::new();
    let finished = input
        .rounds
        .iter()
        .filter(|r| r.finished_at.is_some())
        .count();
    let open = input.rounds.len() - finished;
    let total: usize = totals.values().sum();
    out.push_str("<div class=\"cards\">");
    let _ = write!(
        out,
        "<div class=\"card\"><div class=\"big\">{}</div>rounds<div class=\"muted\">{finished} \
         finished · {open} open</div></div>\
         <div class=\"card\"><div class=\"big\">{}</div>miners</div>\
         <div class=\"card\"><div class=\"big\">{total}</div>verdicts</div>",
        input.rounds.len(),
        miners.len(),
    );
    out.push_str("<div class=\"card wide\">last weight submission");
    match last_submission(input) {
        Some(s) => {
            let ok = s.outcome == "ok";
            let _ = write!(
                out,
                "<div class=\"big {}\">{}</div>method <b>{}</b> · round {} · {} · {} UID(s)",
                if ok { "ok" } else { "bad" },
                Esc(&format::truncate(&s.outcome, 120)),
                Esc(s.method.as_str()),
                s.round_id,
                Esc(&format::readable_time(s.at, input.generated_at)),
                s.uids.len(),
            );
        }
        None => out.push_str("<div class=\"big\">none yet</div>"),
    }
    out.push_str("</div></div>");

    if window.range.is_none() {
        out.push_str(
            "<p class=\"empty\">No rounds yet: the validator has not challenged any miner, so \
             there is nothing to plot.</p>",
        );
    } else {
        let first = input.rounds.iter().min_by_key(|r| (r.started_at, r.id));
        let last = input.rounds.iter().max_by_key(|r| (r.started_at, r.id));
        if let (Some(a), Some(b)) = (first, last) {
            let _ = write!(
                out,
                "<p>Rounds {} to {}: first started {}, latest started {}{}.</p>",
                a.id,
                b.id,
                format::readable_time(a.started_at, input.generated_at),
                format::readable_time(b.started_at, input.generated_at),
                match b.finished_at {
                    Some(t) => format!(
                        ", finished {}",
                        format::readable_time(t, input.generated_at)
                    ),
                    None => " (still open)".to_owned(),
                }
            );
        }
        if window.shown < window.total {
            let _ = write!(
                out,
                "<p class=\"muted\">The plots show the latest {} of {} rounds; the tables \
                 count every round.</p>",
                window.shown, window.total
            );
        }
    }

    out.push_str("<p class=\"chips\">Verdicts by kind: ");
    if totals.is_empty() {
        out.push_str("none yet");
    }
    for (k, n) in totals {
        chip(&mut out, *k, Some(*n));
    }
    out.push_str("</p>");

    let uid_of: HashMap<&str, Option<u16>> = miners.iter().map(|m| (m.hotkey, m.uid)).collect();
    if input.duplicates.is_empty() {
        out.push_str("<p class=\"note ok\">No GPU UUID is claimed by more than one miner.</p>");
    } else {
        let _ = write!(
            out,
            "<div class=\"note warn\"><b>Warning: {} GPU UUID(s) claimed by more than one \
             miner</b> (the same physical GPU cannot serve two miners; UUIDs are claims, so one \
             of them may be lying).<ul>",
            input.duplicates.len()
        );
        for d in &input.duplicates {
            let _ = write!(
                out,
                "<li><code>{}</code> claimed by {} miners: ",
                Esc(&d.gpu_uuid),
                d.hotkeys.len()
            );
            for (i, h) in d.hotkeys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                miner_label(&mut out, uid_of.get(h.as_str()).copied().flatten(), h);
            }
            out.push_str("</li>");
        }
        out.push_str("</ul></div>");
    }
    out
}

/// The standings table: one row per miner, sorted by UID.
pub(crate) fn standings(miners: &[Miner<'_>]) -> String {
    if miners.is_empty() {
        return "<p class=\"empty\">No miners yet.</p>".to_owned();
    }
    // Verdict-count columns: every kind, always.
    let kinds = LEGEND;
    let mut out = String::from(
        "<table class=\"num\"><thead><tr><th>UID</th><th>hotkey</th><th>score</th>\
         <th>reliability</th><th>round score</th><th title=\"the last round's bandwidth factor: \
         1 at or above the floor, measured/floor below it, 0 for a failed or missing probe\">\
         link</th><th title=\"EMA of the measured upload (miner to validator)\">up Mbit/s</th>\
         <th title=\"EMA of the measured download (validator to miner)\">down Mbit/s</th>\
         <th>as of round</th>",
    );
    for k in &kinds {
        let _ = write!(out, "<th>{}</th>", k.label());
    }
    out.push_str("</tr></thead><tbody>");
    for m in miners {
        let zero = m.standing.is_some_and(|s| s.score <= 0.0);
        let _ = write!(
            out,
            "<tr{}><td>{}</td><td class=\"hk\"><code>{}</code></td>",
            if zero { " class=\"zero\"" } else { "" },
            m.uid.map_or_else(|| "?".to_owned(), |u| u.to_string()),
            Esc(m.hotkey),
        );
        match m.standing {
            Some(s) => {
                let figure = |x: Option<f64>, precision: usize| {
                    x.filter(|x| x.is_finite())
                        .map_or_else(|| "—".to_owned(), |x| format!("{x:.precision$}"))
                };
                let _ = write!(
                    out,
                    "<td>{:.4}</td><td>{:.3}</td><td>{:.4}</td><td{}>{}</td><td>{}</td>\
                     <td>{}</td><td>{}</td>",
                    s.score,
                    s.reliability,
                    s.round_score,
                    if s.link_factor.is_some_and(|f| f < 1.0) {
                        " class=\"hot\""
                    } else {
                        ""
                    },
                    figure(s.link_factor, 2),
                    figure(s.up_mbit, 0),
                    figure(s.down_mbit, 0),
                    s.round_id
                );
            }
            None => out
                .push_str("<td>—</td><td>—</td><td>—</td><td>—</td><td>—</td><td>—</td><td>—</td>"),
        }
        for k in &kinds {
            let n = m.counts.get(k).copied().unwrap_or(0);
            if n == 0 {
                out.push_str("<td class=\"muted\">0</td>");
            } else {
                let _ = write!(
                    out,
                    "<td{}>{n}</td>",
                    if *k == Kind::Verdict(VerdictKind::Pass) {
                        ""
                    } else {
                        " class=\"hot\""
                    }
                );
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The weight submissions table, newest first.
pub(crate) fn submissions(input: &ReportInput) -> String {
    if input.submissions.is_empty() {
        return "<p class=\"empty\">No weight submissions yet.</p>".to_owned();
    }
    let mut rows: Vec<&SubmissionRow> = input.submissions.iter().collect();
    rows.sort_by_key(|s| std::cmp::Reverse((s.at, s.id)));
    let mut out = String::new();
    if rows.len() > MAX_SUBMISSIONS {
        let _ = write!(
            out,
            "<p class=\"muted\">The latest {MAX_SUBMISSIONS} of {} submissions.</p>",
            rows.len()
        );
    }
    out.push_str(
        "<table><thead><tr><th>time</th><th>round</th><th>method</th><th>outcome</th>\
         <th>reference</th><th>weights (uid:value)</th></tr></thead><tbody>",
    );
    for s in rows.into_iter().take(MAX_SUBMISSIONS) {
        let ok = s.outcome == "ok";
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td><code>{}</code></td>\
             <td><details><summary>{} UID(s)",
            Esc(&format::readable_time(s.at, input.generated_at)),
            s.round_id,
            Esc(s.method.as_str()),
            if ok { "ok" } else { "bad" },
            Esc(&s.outcome),
            Esc(s.reference.as_deref().unwrap_or("—")),
            s.uids.len(),
        );
        if s.uids.len() != s.values.len() {
            let _ = write!(
                out,
                " <span class=\"bad\">({} values for {} UIDs)</span>",
                s.values.len(),
                s.uids.len()
            );
        }
        out.push_str("</summary><code>");
        for (i, (u, w)) in s.uids.iter().zip(&s.values).enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{u}:{w}");
        }
        out.push_str("</code></details></td></tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The latest non-pass verdicts with their details: where "why did this miner drop?" ends.
pub(crate) fn failures(input: &ReportInput) -> String {
    let mut rows: Vec<&VerdictRow> = input
        .verdicts
        .iter()
        .filter(|v| v.record.verdict != Some(VerdictKind::Pass))
        .collect();
    if rows.is_empty() {
        return "<p class=\"empty\">No non-pass verdicts.</p>".to_owned();
    }
    rows.sort_by_key(|v| std::cmp::Reverse((v.round_id, v.recorded_at, v.id)));
    let mut out = String::new();
    if rows.len() > MAX_FAILURES {
        let _ = write!(
            out,
            "<p class=\"muted\">The latest {MAX_FAILURES} of {} non-pass verdicts.</p>",
            rows.len()
        );
    }
    out.push_str(
        "<table><thead><tr><th>round</th><th>time</th><th>miner</th><th>device</th>\
         <th>class</th><th>module</th><th>verdict</th><th>measured</th><th>window</th>\
         <th>detail</th></tr></thead><tbody>",
    );
    for v in rows.into_iter().take(MAX_FAILURES) {
        let r = &v.record;
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>",
            v.round_id,
            Esc(&format::readable_time(v.recorded_at, input.generated_at))
        );
        miner_label(&mut out, v.uid, &v.hotkey);
        let _ = write!(
            out,
            "</td><td>{}: {}</td><td>{}</td><td>{}</td><td>",
            r.device_index,
            Esc(&r.gpu_name),
            Esc(r.claimed_class.as_deref().unwrap_or("—")),
            Esc(&r.module),
        );
        chip(&mut out, Kind::from(r.verdict), None);
        let _ = write!(
            out,
            "</td><td>{}</td><td>{}</td><td><code class=\"detail\">{}</code></td></tr>",
            format::opt_secs(r.measured_s),
            if r.min_s.is_none() && r.max_s.is_none() && r.peak_floor_s.is_none() {
                "—".to_owned()
            } else {
                format!(
                    "{} – {} (floor {})",
                    format::opt_secs(r.min_s),
                    format::opt_secs(r.max_s),
                    format::opt_secs(r.peak_floor_s)
                )
            },
            Esc(&format::truncate(&r.detail_json, MAX_DETAIL)),
        );
    }
    out.push_str("</tbody></table>");
    out
}
