//! [`Verdict`]: the judgement of one challenge of one device, with the figures behind it.
//!
//! Serialized with serde as an object tagged by `kind` (`pass`, `wrong-result`, `too-slow`,
//! `too-fast`, `timeout`, `protocol-error`), the figures beside it in snake_case, times in
//! seconds. For example
//! `{"kind":"too-slow","window":{"min_s":1.0,"max_s":3.0,"peak_floor_s":0.5},"measured_s":3.2,
//! "raw_s":3.21,"rtt_s":0.01,"leaves_checked":32}`.

use protocol::{ErrorCode, LeafRef};
use serde::{Deserialize, Serialize};
use validator_store::VerdictKind;

use super::spec::Envelope;

/// The judgement of one challenge of one device. See docs/design.md §Verdicts.
///
/// Guarantees: `Pass`, `TooSlow` and `TooFast` are only given after every requested leaf was
/// opened with a valid path and recomputed by the module's `check`; `WrongResult` is only given
/// after a valid commitment; `Timeout` and `ProtocolError` only before one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Verdict {
    /// Every leaf checked and the measured time lies within `[peak_floor_s, max_s]`.
    Pass(Timing),
    /// After a valid commitment, anything but valid openings by the deadline.
    WrongResult(WrongResult),
    /// Every leaf checked, but the measured time is above the window's `max_s`.
    TooSlow(Timing),
    /// Every leaf checked, but faster than the claimed class's datasheet peak allows.
    TooFast(Timing),
    /// No answer before a deadline (or the connection closed) before the commitment.
    Timeout(TimedOut),
    /// Before the commitment, a message that is unsigned, wrongly signed, names another
    /// challenge, has no place at that point, or a refusal by the miner.
    ProtocolError(ProtocolFault),
}

impl Verdict {
    /// The kind (its text is the serialized `kind` tag: `pass`, `wrong-result`, ...).
    pub fn kind(&self) -> VerdictKind {
        match self {
            Self::Pass(_) => VerdictKind::Pass,
            Self::WrongResult(_) => VerdictKind::WrongResult,
            Self::TooSlow(_) => VerdictKind::TooSlow,
            Self::TooFast(_) => VerdictKind::TooFast,
            Self::Timeout(_) => VerdictKind::Timeout,
            Self::ProtocolError(_) => VerdictKind::ProtocolError,
        }
    }

    /// Whether the device passed.
    pub fn is_pass(&self) -> bool {
        matches!(self, Self::Pass(_))
    }

    /// The timing figures, when a valid commitment arrived.
    pub fn timing(&self) -> Option<&Timing> {
        match self {
            Self::Pass(t) | Self::TooSlow(t) | Self::TooFast(t) => Some(t),
            Self::WrongResult(w) => Some(&w.timing),
            Self::Timeout(_) | Self::ProtocolError(_) => None,
        }
    }

    /// The expected window the verdict was judged by (none for a `ProtocolError`, which may
    /// come before the challenge was sized).
    pub fn window(&self) -> Option<&Envelope> {
        match self {
            Self::Timeout(t) => Some(&t.window),
            other => other.timing().map(|t| &t.window),
        }
    }

    /// The leaf a `WrongResult` names, if it names one.
    pub fn failed_leaf(&self) -> Option<LeafRef> {
        match self {
            Self::WrongResult(w) => w.leaf,
            _ => None,
        }
    }
}

/// The timing of a challenge, measured on the verifier's clock only.
///
/// `measured_s = raw_s − rtt_s`, never negative, where `raw_s` runs from sending `Go` to the
/// arrival of the `Commitment` and `rtt_s = min(min RTT measured before the challenge, cap)`.
/// The miner's own timings are never used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// The expected window.
    pub window: Envelope,
    /// The time judged: `raw_s − rtt_s`, at least 0.
    pub measured_s: f64,
    /// From sending `Go` to receiving the `Commitment`.
    pub raw_s: f64,
    /// The RTT credit subtracted.
    pub rtt_s: f64,
    /// Leaves whose path and content were checked and found right.
    pub leaves_checked: u32,
    /// Per interactive phase (protocol v2), in order: each phase's own window and time. Empty
    /// for a one-phase challenge, which is judged on `window` and `measured_s` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseTiming>,
}

/// One interactive phase's figures (docs/design.md §Interactive phases): phase 0 from `Go` to
/// `PhaseDone 0`, phase `k` from our `PhaseKey k` to the next `PhaseDone` or the `Commitment`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhaseTiming {
    /// The phase's own window (its part of the work on the claimed class).
    pub window: Envelope,
    /// The time judged: `raw_s` less the RTT credit, at least 0.
    pub measured_s: f64,
    /// From the message that began the phase to the one that ended it.
    pub raw_s: f64,
}

impl PhaseTiming {
    /// `too-slow` above the phase's window, `too-fast` below its peak floor.
    pub fn judged(&self) -> TimeJudgement {
        if self.measured_s > self.window.max_s {
            TimeJudgement::TooSlow
        } else if self.measured_s < self.window.peak_floor_s {
            TimeJudgement::TooFast
        } else {
            TimeJudgement::Pass
        }
    }
}

/// What a time says against its window, before any other check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimeJudgement {
    /// Inside the window.
    Pass,
    /// Slower than the claimed class allows.
    TooSlow,
    /// Faster than the claimed class's datasheet peak allows: another device answered.
    TooFast,
}

/// Why a result is wrong, with the leaf when one leaf is to blame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrongResult {
    /// What went wrong.
    pub cause: Cause,
    /// The failing leaf (output and leaf index), when the cause is about one leaf.
    pub leaf: Option<LeafRef>,
    /// Details for a person (bounded; never parsed).
    pub detail: String,
    /// The miner's refusal code, when the cause is [`Cause::PeerError`].
    pub peer_code: Option<ErrorCode>,
    /// The timing of the commitment (judged only after the openings).
    #[serde(flatten)]
    pub timing: Timing,
}

/// A deadline passed (or the connection closed) before the commitment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimedOut {
    /// The answer the session was waiting for.
    pub waiting_for: Phase,
    /// How long it waited since asking.
    pub waited_s: f64,
    /// The deadline, counted from asking.
    pub limit_s: f64,
    /// The connection closed before the deadline (rather than the deadline passing).
    pub connection_closed: bool,
    /// The expected window of the challenge.
    pub window: Envelope,
    /// The device stayed busy (`busy-device` refusals) for the whole retry budget: no pass
    /// this round, but no reliability charge either (docs/design.md §No score without proof, rule
    /// 5: another validator's honest challenge is not the miner's fault).
    #[serde(default)]
    pub busy: bool,
}

impl TimedOut {
    /// The verdict of a device still busy after `waited_s` of retries against a budget of
    /// `limit_s` (the claimed class's `busy_budget × max_s`).
    pub fn busy(window: Envelope, waited_s: f64, limit_s: f64) -> Self {
        Self {
            waiting_for: Phase::Ready,
            waited_s,
            limit_s,
            connection_closed: false,
            window,
            busy: true,
        }
    }
}

/// A protocol fault before the commitment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolFault {
    /// The answer the session was waiting for.
    pub waiting_for: Phase,
    /// What went wrong.
    pub cause: Cause,
    /// Details for a person (bounded; never parsed).
    pub detail: String,
    /// The miner's refusal code, when the cause is [`Cause::PeerError`].
    pub peer_code: Option<ErrorCode>,
}

/// Which answer of the miner a session waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// `Ready`, after our `Prepare`.
    Ready,
    /// Our own `Go` (the miner is ready; the caller has not started the clock yet).
    Go,
    /// The `Commitment`, after our `Go` (or our last `PhaseKey`).
    Commitment,
    /// A `PhaseDone` (protocol v2), after our `Go` or `PhaseKey`.
    PhaseDone,
    /// Our own `PhaseKey` (protocol v2): the phase is done, the caller releases the next one
    /// to every device of the machine at once.
    PhaseKey,
    /// The `Openings`, after our `Open`.
    Openings,
}

/// What a miner did wrong (in a [`WrongResult`] or a [`ProtocolFault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// A signed message whose envelope or signature does not verify against the miner's
    /// session key.
    BadSignature,
    /// A message naming another `Prepare` or `Go` than ours (e.g. a replayed commitment).
    OtherChallenge,
    /// A well-formed message with no place at this point of the session.
    Unexpected,
    /// Bytes that do not decode as a message, or are oversized (reported by the transport).
    Malformed,
    /// The miner sent an error message instead of an answer.
    PeerError,
    /// The connection closed.
    ConnectionClosed,
    /// No openings arrived before the deadline.
    NoOpenings,
    /// The commitment has another number of roots than the module's layout.
    RootCount,
    /// The openings hold another number of leaves than requested.
    OpeningCount,
    /// An opening is for another leaf than the one requested at its position.
    OtherLeaf,
    /// An opening's tree path does not lead to the committed root.
    BadPath,
    /// The leaf's content is not what the module's `check` recomputes.
    WrongContent,
    /// A `PhaseDone` for a phase we did not open, or roots that contradict the ones reported
    /// before (protocol v2), or a `Commitment` before the last phase.
    BadPhase,
}

/// Most bytes of peer-derived text kept in a verdict's `detail`.
pub(crate) const MAX_DETAIL: usize = 256;

/// `text` cut to at most [`MAX_DETAIL`] bytes on a character boundary.
pub(crate) fn bounded(text: impl Into<String>) -> String {
    let mut text = text.into();
    if text.len() > MAX_DETAIL {
        let mut cut = MAX_DETAIL;
        while !text.is_char_boundary(cut) {
            cut = cut.saturating_sub(1);
        }
        text.truncate(cut);
    }
    text
}
