//! What the page is drawn from: verdict kinds with their colours, the miners (one row each),
//! and the window of rounds the plots show.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use validator_store::{StandingRow, Tallied, VerdictKind, VerdictRow};

use crate::ReportInput;

/// The plots show at most this many of the latest rounds (the tables show everything).
pub(crate) const MAX_PLOT_ROUNDS: usize = 120;

/// A verdict kind as the page colours it: the store's [`Tallied`] (a verdict kind, or the
/// verifier's own error, never charged to the miner).
pub(crate) type Kind = Tallied;

/// Every kind in legend order (cheating next to cheating).
pub(crate) const LEGEND: [Kind; 7] = [
    Kind::Verdict(VerdictKind::Pass),
    Kind::Verdict(VerdictKind::WrongResult),
    Kind::Verdict(VerdictKind::TooFast),
    Kind::Verdict(VerdictKind::TooSlow),
    Kind::Verdict(VerdictKind::Timeout),
    Kind::Verdict(VerdictKind::ProtocolError),
    Kind::VerifierError,
];

/// How the page draws a kind.
pub(crate) trait Palette: Copy {
    /// The label in legends and tables.
    fn label(self) -> &'static str;
    /// CSS class (`k-pass`, …), also what the browser test counts marks by.
    fn css(self) -> &'static str;
    /// Fill colour: pass green, too-slow amber, timeout grey, protocol-error purple,
    /// wrong-result and too-fast red (cheating), a verifier error white (outlined).
    fn fill(self) -> &'static str;
    /// Outline colour (only the white verifier-error mark needs a visible one).
    fn stroke(self) -> &'static str;
    /// Border colour of a legend swatch: the outline where there is one, else the fill.
    fn border(self) -> &'static str {
        match self.stroke() {
            "none" => self.fill(),
            stroke => stroke,
        }
    }
}

impl Palette for Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Verdict(kind) => kind.as_str(),
            Kind::VerifierError => "verifier error",
        }
    }

    fn css(self) -> &'static str {
        match self {
            Kind::Verdict(VerdictKind::Pass) => "k-pass",
            Kind::Verdict(VerdictKind::WrongResult) => "k-wrong-result",
            Kind::Verdict(VerdictKind::TooFast) => "k-too-fast",
            Kind::Verdict(VerdictKind::TooSlow) => "k-too-slow",
            Kind::Verdict(VerdictKind::Timeout) => "k-timeout",
            Kind::Verdict(VerdictKind::ProtocolError) => "k-protocol-error",
            Kind::VerifierError => "k-verifier-error",
        }
    }

    fn fill(self) -> &'static str {
        match self {
            Kind::Verdict(VerdictKind::Pass) => "#2e9e44",
            Kind::Verdict(VerdictKind::WrongResult | VerdictKind::TooFast) => "#d62728",
            Kind::Verdict(VerdictKind::TooSlow) => "#e6a800",
            Kind::Verdict(VerdictKind::Timeout) => "#8c8c8c",
            Kind::Verdict(VerdictKind::ProtocolError) => "#8e44ad",
            Kind::VerifierError => "#ffffff",
        }
    }

    fn stroke(self) -> &'static str {
        match self {
            Kind::VerifierError => "#444444",
            Kind::Verdict(_) => "none",
        }
    }
}

/// Counts per kind.
pub(crate) type Counts = BTreeMap<Kind, usize>;

/// Counts the verdicts of `rows` by kind.
pub(crate) fn count<'a>(rows: impl IntoIterator<Item = &'a VerdictRow>) -> Counts {
    let mut c = Counts::new();
    for v in rows {
        *c.entry(Kind::from(v.record.verdict)).or_default() += 1;
    }
    c
}

/// One miner: a row in the standings table and in the verdict timeline.
#[derive(Debug)]
pub(crate) struct Miner<'a> {
    pub(crate) hotkey: &'a str,
    pub(crate) uid: Option<u16>,
    /// Its latest standing, if any.
    pub(crate) standing: Option<&'a StandingRow>,
    /// Its verdicts by kind, over all the input.
    pub(crate) counts: Counts,
}

/// Every miner that has a standing or a verdict, sorted by UID (unknown last), then hotkey.
pub(crate) fn miners(input: &ReportInput) -> Vec<Miner<'_>> {
    let mut by_key: BTreeMap<&str, Miner<'_>> = BTreeMap::new();
    for s in &input.standings {
        let m = by_key.entry(s.hotkey.as_str()).or_insert_with(|| Miner {
            hotkey: &s.hotkey,
            uid: None,
            standing: None,
            counts: Counts::new(),
        });
        // Keep the latest standing when several rounds' standings are given.
        if m.standing.is_none_or(|old| s.round_id >= old.round_id) {
            m.standing = Some(s);
            if s.uid.is_some() {
                m.uid = s.uid;
            }
        }
    }
    // The latest verdict's UID fills in a UID the standings do not know.
    let mut latest_uid: HashMap<&str, (i64, i64, u16)> = HashMap::new();
    for v in &input.verdicts {
        let m = by_key.entry(v.hotkey.as_str()).or_insert_with(|| Miner {
            hotkey: &v.hotkey,
            uid: None,
            standing: None,
            counts: Counts::new(),
        });
        *m.counts.entry(Kind::from(v.record.verdict)).or_default() += 1;
        if let Some(u) = v.uid {
            let e = latest_uid
                .entry(v.hotkey.as_str())
                .or_insert((v.round_id, v.id, u));
            if (v.round_id, v.id) >= (e.0, e.1) {
                *e = (v.round_id, v.id, u);
            }
        }
    }
    let mut out: Vec<Miner<'_>> = by_key.into_values().collect();
    for m in &mut out {
        if m.uid.is_none() {
            m.uid = latest_uid.get(m.hotkey).map(|e| e.2);
        }
    }
    out.sort_by(|a, b| (a.uid.is_none(), a.uid, a.hotkey).cmp(&(b.uid.is_none(), b.uid, b.hotkey)));
    out
}

/// The rounds the plots show: the latest [`MAX_PLOT_ROUNDS`] round ids among the rounds and
/// the verdicts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Window {
    /// First and last round id shown; `None` when there are no rounds at all.
    pub(crate) range: Option<(i64, i64)>,
    /// How many distinct rounds there are in all.
    pub(crate) total: usize,
    /// How many of them are shown.
    pub(crate) shown: usize,
}

impl Window {
    /// The window over `input`.
    pub(crate) fn of(input: &ReportInput) -> Window {
        let ids: BTreeSet<i64> = input
            .rounds
            .iter()
            .map(|r| r.id)
            .chain(input.verdicts.iter().map(|v| v.round_id))
            .collect();
        let total = ids.len();
        let last = ids.iter().next_back().copied();
        let first = ids
            .iter()
            .nth(total.saturating_sub(MAX_PLOT_ROUNDS))
            .copied();
        Window {
            range: first.zip(last),
            total,
            shown: total.min(MAX_PLOT_ROUNDS),
        }
    }

    /// Whether round `id` is shown.
    pub(crate) fn contains(&self, id: i64) -> bool {
        self.range.is_some_and(|(a, b)| (a..=b).contains(&id))
    }
}

/// The verdicts of `input` inside `window`, ordered by round, miner, device, module.
pub(crate) fn windowed<'a>(input: &'a ReportInput, window: &Window) -> Vec<&'a VerdictRow> {
    let mut v: Vec<&VerdictRow> = input
        .verdicts
        .iter()
        .filter(|v| window.contains(v.round_id))
        .collect();
    v.sort_by(|a, b| {
        (
            a.round_id,
            &a.hotkey,
            a.record.device_index,
            &a.record.module,
            a.id,
        )
            .cmp(&(
                b.round_id,
                &b.hotkey,
                b.record.device_index,
                &b.record.module,
                b.id,
            ))
    });
    v
}
