//! The two plots, as inline SVG: verdicts over time per miner, and measured time against the
//! class envelope. Every data string goes through [`Esc`].

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use validator_store::VerdictRow;

use crate::escape::Esc;
use crate::format;
use crate::model::{Kind, LEGEND, Miner, Palette, Window};
use crate::scale::{Linear, Log};

/// The colour legend for verdict kinds.
pub(crate) fn legend() -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for k in LEGEND {
        let note = match k {
            Kind::VerifierError => " (not charged to the miner)",
            _ => "",
        };
        let _ = write!(
            out,
            "<li><span class=\"sw\" style=\"background:{};border-color:{}\"></span>{}{note}</li>",
            k.fill(),
            k.border(),
            k.label()
        );
    }
    out.push_str("</ul>");
    out
}

/// A verdict's tooltip, unescaped (the caller escapes it).
fn tooltip(v: &VerdictRow) -> String {
    let r = &v.record;
    let class = r.claimed_class.as_deref().unwrap_or("no class");
    let mut t = format!(
        "{} · {}\nround {} · {}\ndevice {}: {} (class {})\nmodule {}: {}\nmeasured {}",
        format::uid(v.uid),
        v.hotkey,
        v.round_id,
        format::local_time(v.recorded_at),
        r.device_index,
        r.gpu_name,
        class,
        r.module,
        Kind::from(r.verdict).label(),
        format::opt_secs(r.measured_s),
    );
    if r.min_s.is_some() || r.max_s.is_some() || r.peak_floor_s.is_some() {
        let _ = write!(
            t,
            "\nwindow {} – {}, peak floor {}",
            format::opt_secs(r.min_s),
            format::opt_secs(r.max_s),
            format::opt_secs(r.peak_floor_s)
        );
    }
    t
}

/// An `<svg>` number: one decimal is plenty at these sizes.
struct N(f64);

impl std::fmt::Display for N {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_finite() {
            write!(f, "{:.1}", self.0)
        } else {
            f.write_str("0")
        }
    }
}

/// Pixel width of one round on an axis spanning `first..=last`.
fn round_width(x: &Linear, first: i64, last: i64) -> f64 {
    let (d0, d1) = x.domain();
    let span = (last as f64 - first as f64 + 1.0).max(1.0);
    (x.map(d1) - x.map(d0)) / span
}

/// Vertical grid lines and round labels along the bottom of a plot.
fn x_axis(out: &mut String, x: &Linear, top: f64, bottom: f64, target: usize) {
    out.push_str("<g class=\"axis\">");
    for t in x.ticks(target, true) {
        let px = x.map(t);
        let _ = write!(
            out,
            "<line x1=\"{px}\" y1=\"{top}\" x2=\"{px}\" y2=\"{bottom}\" class=\"grid\"/>\
             <text x=\"{px}\" y=\"{ty}\" text-anchor=\"middle\">{t:.0}</text>",
            px = N(px),
            top = N(top),
            bottom = N(bottom),
            ty = N(bottom + 14.0),
        );
    }
    out.push_str("</g>");
}

/// Layout of the verdict timeline.
const TL_WIDTH: f64 = 1160.0;
const TL_LEFT: f64 = 210.0;
const TL_RIGHT: f64 = 16.0;
const TL_TOP: f64 = 8.0;
const TL_BOTTOM: f64 = 40.0;
const TL_ROW: f64 = 18.0;
const TL_MARK: f64 = 12.0;

/// "Verdicts over time per miner": one row per miner, one coloured mark per verdict, placed
/// side by side within the round's column (ordered by device, then module).
pub(crate) fn timeline(miners: &[Miner<'_>], verdicts: &[&VerdictRow], window: &Window) -> String {
    let Some((first, last)) = window.range else {
        return "<p class=\"empty\">No rounds yet: nothing to plot.</p>".to_owned();
    };
    if verdicts.is_empty() || miners.is_empty() {
        return "<p class=\"empty\">No verdicts recorded in these rounds yet.</p>".to_owned();
    }
    let row_of: HashMap<&str, usize> = miners
        .iter()
        .enumerate()
        .map(|(i, m)| (m.hotkey, i))
        .collect();
    let mut per_cell: HashMap<(&str, i64), usize> = HashMap::new();
    for v in verdicts {
        *per_cell.entry((v.hotkey.as_str(), v.round_id)).or_default() += 1;
    }
    let max_slots = per_cell.values().copied().max().unwrap_or(1).max(1);

    let height = TL_TOP + miners.len() as f64 * TL_ROW + TL_BOTTOM;
    let plot_bottom = TL_TOP + miners.len() as f64 * TL_ROW;
    let x = Linear::new(
        first as f64 - 0.5,
        last as f64 + 0.5,
        TL_LEFT,
        TL_WIDTH - TL_RIGHT,
    );
    let col = round_width(&x, first, last);
    let mark_w = (col * 0.85 / max_slots as f64).clamp(1.0, TL_MARK);

    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"plot timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" \
         height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"Verdicts over time per miner\">",
        w = N(TL_WIDTH),
        h = N(height),
    );
    // Row stripes and labels.
    out.push_str("<g class=\"rows\">");
    for (i, m) in miners.iter().enumerate() {
        let y = TL_TOP + i as f64 * TL_ROW;
        if i % 2 == 0 {
            let _ = write!(
                out,
                "<rect class=\"stripe\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                N(TL_LEFT),
                N(y),
                N(TL_WIDTH - TL_RIGHT - TL_LEFT),
                N(TL_ROW)
            );
        }
        let _ = write!(
            out,
            "<text class=\"lbl\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{} · {}\
             <title>{}</title></text>",
            N(TL_LEFT - 8.0),
            N(y + TL_ROW / 2.0 + 4.0),
            Esc(&format::uid(m.uid)),
            Esc(&format::short_hotkey(m.hotkey)),
            Esc(m.hotkey),
        );
    }
    out.push_str("</g>");
    x_axis(&mut out, &x, TL_TOP, plot_bottom, 12);
    let _ = write!(
        out,
        "<text class=\"axis-title\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">round</text>",
        N((TL_LEFT + TL_WIDTH - TL_RIGHT) / 2.0),
        N(height - 4.0)
    );

    out.push_str("<g class=\"marks\">");
    let mut slot: HashMap<(&str, i64), usize> = HashMap::new();
    for v in verdicts {
        let Some(&row) = row_of.get(v.hotkey.as_str()) else {
            continue;
        };
        let key = (v.hotkey.as_str(), v.round_id);
        let n = per_cell.get(&key).copied().unwrap_or(1);
        let s = slot.entry(key).or_default();
        let k = Kind::from(v.record.verdict);
        let xc = x.map(v.round_id as f64);
        let x0 = xc - mark_w * n as f64 / 2.0 + mark_w * *s as f64;
        *s += 1;
        let w = if mark_w > 3.0 { mark_w - 1.0 } else { mark_w };
        let y = TL_TOP + row as f64 * TL_ROW + (TL_ROW - TL_MARK) / 2.0;
        let _ = write!(
            out,
            "<rect class=\"mark {}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" \
             stroke=\"{}\"><title>{}</title></rect>",
            k.css(),
            N(x0),
            N(y),
            N(w),
            N(TL_MARK),
            k.fill(),
            k.stroke(),
            Esc(&tooltip(v)),
        );
    }
    out.push_str("</g></svg>");
    out
}

/// A measured time that can go on a log axis.
fn plottable(v: Option<f64>) -> Option<f64> {
    v.filter(|s| s.is_finite() && *s > 0.0)
}

/// One envelope panel's key: (claimed class, module). Verdicts whose GPU maps to no class
/// share a `None` class.
pub(crate) type PanelKey<'a> = (Option<&'a str>, &'a str);

/// The envelope panels, in order: classes alphabetically (no class last), then modules, each
/// with its verdicts that have a measured time.
pub(crate) fn panels<'a>(verdicts: &[&'a VerdictRow]) -> Vec<(PanelKey<'a>, Vec<&'a VerdictRow>)> {
    let mut groups: BTreeMap<(bool, &str, &str), Vec<&VerdictRow>> = BTreeMap::new();
    for v in verdicts {
        if plottable(v.record.measured_s).is_none() {
            continue;
        }
        let class = v.record.claimed_class.as_deref();
        groups
            .entry((
                class.is_none(),
                class.unwrap_or(""),
                v.record.module.as_str(),
            ))
            .or_default()
            .push(v);
    }
    groups
        .into_iter()
        .map(|((none, class, module), vs)| (((!none).then_some(class), module), vs))
        .collect()
}

/// Layout of one envelope panel.
const EN_WIDTH: f64 = 560.0;
const EN_HEIGHT: f64 = 300.0;
const EN_LEFT: f64 = 70.0;
const EN_RIGHT: f64 = 14.0;
const EN_TOP: f64 = 12.0;
const EN_BOTTOM: f64 = 40.0;

/// Runs of consecutive rounds with the same value: (first round, last round, value).
fn runs<T: PartialEq + Copy>(per_round: &BTreeMap<i64, T>) -> Vec<(i64, i64, T)> {
    let mut out: Vec<(i64, i64, T)> = Vec::new();
    for (&r, &val) in per_round {
        match out.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(r) && last.2 == val => last.1 = r,
            _ => out.push((r, r, val)),
        }
    }
    out
}

/// "Measured time against the class envelope": one panel per (claimed class, module), x the
/// round, y the measured time on a log scale, the calibrated window `[min_s, max_s]` shaded,
/// the peak floor (the too-fast bound) dashed, and one point per verdict coloured by kind.
/// Verdicts without a measured time are skipped.
pub(crate) fn envelope(miners: &[Miner<'_>], verdicts: &[&VerdictRow], window: &Window) -> String {
    let Some((first, last)) = window.range else {
        return "<p class=\"empty\">No rounds yet: nothing to plot.</p>".to_owned();
    };
    let groups = panels(verdicts);
    let skipped = verdicts
        .iter()
        .filter(|v| plottable(v.record.measured_s).is_none())
        .count();
    let mut out = String::new();
    if groups.is_empty() {
        out.push_str("<p class=\"empty\">No measured times in these rounds yet.</p>");
    } else {
        out.push_str("<div class=\"panels\">");
        for ((class, module), vs) in &groups {
            panel(&mut out, miners, *class, module, vs, first, last);
        }
        out.push_str("</div>");
    }
    if skipped > 0 {
        let _ = write!(
            out,
            "<p class=\"muted\">{skipped} verdict(s) without a measured time are not shown \
             here (see the timeline).</p>"
        );
    }
    out
}

/// One envelope panel.
fn panel(
    out: &mut String,
    miners: &[Miner<'_>],
    class: Option<&str>,
    module: &str,
    vs: &[&VerdictRow],
    first: i64,
    last: i64,
) {
    // The envelope per round (recalibration may move it): widest window, lowest floor.
    let mut band: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    let mut floor: BTreeMap<i64, f64> = BTreeMap::new();
    let mut ys: Vec<f64> = Vec::new();
    for v in vs {
        let r = &v.record;
        ys.extend(plottable(r.measured_s));
        if let (Some(a), Some(b)) = (plottable(r.min_s), plottable(r.max_s)) {
            let (lo, hi) = (a.min(b), a.max(b));
            let e = band.entry(v.round_id).or_insert((lo, hi));
            *e = (e.0.min(lo), e.1.max(hi));
            ys.extend([lo, hi]);
        }
        if let Some(f) = plottable(r.peak_floor_s) {
            let e = floor.entry(v.round_id).or_insert(f);
            *e = e.min(f);
            ys.push(f);
        }
    }
    let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let y = Log::new(lo / 1.5, hi * 1.5, EN_HEIGHT - EN_BOTTOM, EN_TOP);
    let x = Linear::new(
        first as f64 - 0.5,
        last as f64 + 0.5,
        EN_LEFT,
        EN_WIDTH - EN_RIGHT,
    );
    let col = round_width(&x, first, last);
    let class_label = class.unwrap_or("no class");

    let _ = write!(
        out,
        "<figure class=\"panel\"><figcaption>class <b>{}</b> · module <b>{}</b> · {} \
         measurement(s)",
        Esc(class_label),
        Esc(module),
        vs.len()
    );
    if let Some((_, &(a, b))) = band.iter().next_back() {
        let _ = write!(
            out,
            " · latest window {} – {}",
            format::secs(a),
            format::secs(b)
        );
    }
    if let Some((_, &f)) = floor.iter().next_back() {
        let _ = write!(out, " · peak floor {}", format::secs(f));
    }
    if band.is_empty() && floor.is_empty() {
        out.push_str(" · no envelope recorded");
    }
    let _ = write!(
        out,
        "</figcaption><svg class=\"plot envelope\" data-panel=\"{}|{}\" \
         xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Measured time against the class \
         envelope: class {} module {}\">",
        Esc(class.unwrap_or("")),
        Esc(module),
        Esc(class_label),
        Esc(module),
        w = N(EN_WIDTH),
        h = N(EN_HEIGHT),
    );

    // y grid and labels.
    out.push_str("<g class=\"axis\">");
    for t in y.ticks() {
        let py = y.map(t);
        let _ = write!(
            out,
            "<line x1=\"{l}\" y1=\"{py}\" x2=\"{r}\" y2=\"{py}\" class=\"grid\"/>\
             <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{}</text>",
            format::secs(t),
            l = N(EN_LEFT),
            r = N(EN_WIDTH - EN_RIGHT),
            py = N(py),
            tx = N(EN_LEFT - 6.0),
            ty = N(py + 4.0),
        );
    }
    out.push_str("</g>");
    x_axis(out, &x, EN_TOP, EN_HEIGHT - EN_BOTTOM, 8);
    let _ = write!(
        out,
        "<text class=\"axis-title\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">round</text>\
         <text class=\"axis-title\" transform=\"translate(14 {}) rotate(-90)\" \
         text-anchor=\"middle\">measured time (log scale)</text>",
        N((EN_LEFT + EN_WIDTH - EN_RIGHT) / 2.0),
        N(EN_HEIGHT - 4.0),
        N((EN_TOP + EN_HEIGHT - EN_BOTTOM) / 2.0),
    );

    // The calibrated window, shaded.
    for (r0, r1, (a, b)) in runs(&band) {
        let x0 = x.map(r0 as f64 - 0.5);
        let x1 = x.map(r1 as f64 + 0.5);
        let (top, bottom) = (y.map(b), y.map(a));
        let _ = write!(
            out,
            "<rect class=\"band\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\">\
             <title>rounds {r0}–{r1}: calibrated window {} – {}</title></rect>",
            N(x0),
            N(top),
            N((x1 - x0).max(0.5)),
            N((bottom - top).max(0.5)),
            format::secs(a),
            format::secs(b),
        );
    }
    // The peak floor, dashed: faster than this is too-fast.
    let mut d = String::new();
    for (r0, r1, f) in runs(&floor) {
        let _ = write!(
            d,
            "M{} {}H{}",
            N(x.map(r0 as f64 - 0.5)),
            N(y.map(f)),
            N(x.map(r1 as f64 + 0.5))
        );
    }
    if !d.is_empty() {
        let _ = write!(
            out,
            "<path class=\"floor\" d=\"{d}\"><title>peak floor: faster than this is \
             too-fast</title></path>"
        );
    }

    // Points, spread across their round's column so that devices and miners do not overlap.
    let order: HashMap<&str, usize> = miners
        .iter()
        .enumerate()
        .map(|(i, m)| (m.hotkey, i))
        .collect();
    let mut by_round: BTreeMap<i64, Vec<&VerdictRow>> = BTreeMap::new();
    for v in vs {
        by_round.entry(v.round_id).or_default().push(v);
    }
    out.push_str("<g class=\"marks\">");
    for (round, mut pts) in by_round {
        pts.sort_by_key(|v| {
            (
                order.get(v.hotkey.as_str()).copied().unwrap_or(usize::MAX),
                v.record.device_index,
                v.id,
            )
        });
        let n = pts.len() as f64;
        for (i, v) in pts.into_iter().enumerate() {
            let Some(m) = plottable(v.record.measured_s) else {
                continue;
            };
            let k = Kind::from(v.record.verdict);
            let off = if n > 1.0 {
                ((i as f64 + 0.5) / n - 0.5) * 0.7 * col
            } else {
                0.0
            };
            let _ = write!(
                out,
                "<circle class=\"mark {}\" cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{}\" \
                 stroke=\"{}\"><title>{}</title></circle>",
                k.css(),
                N(x.map(round as f64) + off),
                N(y.map(m)),
                k.fill(),
                if k == Kind::VerifierError {
                    k.stroke()
                } else {
                    "#ffffff"
                },
                Esc(&tooltip(v)),
            );
        }
    }
    out.push_str("</g></svg></figure>");
}
