//! [`VerdictKind`], [`Tallied`] and [`ProbeOutcome`]: the verdict kinds and probe outcomes as
//! types, and the one mapping between them and the text the `verdicts.verdict`,
//! `receipts.verdict` and `miner_rounds.probe_*_outcome` columns hold (and the JSON shows).

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The kind of a device's verdict, as the verifier gives it (docs/design.md §Verdicts).
///
/// [`VerdictKind::as_str`] and [`VerdictKind::parse`] are the one mapping between the enum
/// and its text (`pass`, `wrong-result`, `too-slow`, `too-fast`, `timeout`,
/// `protocol-error`); serde writes and reads the same text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VerdictKind {
    /// `pass`: every leaf checked and the time inside the claimed class's window.
    Pass,
    /// `wrong-result`: after a valid commitment, anything but valid openings.
    WrongResult,
    /// `too-slow`: every leaf checked, slower than the claimed class allows.
    TooSlow,
    /// `too-fast`: every leaf checked, faster than the claimed class's datasheet peak.
    TooFast,
    /// `timeout`: no answer before a deadline, before the commitment.
    Timeout,
    /// `protocol-error`: before the commitment, a message out of place, unsigned or refused.
    ProtocolError,
}

impl VerdictKind {
    /// Every kind, in the order above.
    pub const ALL: [Self; 6] = [
        Self::Pass,
        Self::WrongResult,
        Self::TooSlow,
        Self::TooFast,
        Self::Timeout,
        Self::ProtocolError,
    ];

    /// The kind's text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::WrongResult => "wrong-result",
            Self::TooSlow => "too-slow",
            Self::TooFast => "too-fast",
            Self::Timeout => "timeout",
            Self::ProtocolError => "protocol-error",
        }
    }

    /// The kind `text` names, `None` for any other text (`verifier-error` included: that is
    /// not a verdict, see [`Tallied`]).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Every kind's text, comma-separated, for an error message.
    pub fn list() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl std::fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A text that names no verdict kind; its message names the kinds there are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a verdict kind; use one of {}", VerdictKind::list())]
pub struct UnknownVerdictKind {
    /// The text given.
    pub text: String,
}

impl std::str::FromStr for VerdictKind {
    type Err = UnknownVerdictKind;

    /// Parses a kind's text.
    fn from_str(text: &str) -> Result<Self, UnknownVerdictKind> {
        Self::parse(text).ok_or_else(|| UnknownVerdictKind {
            text: text.to_owned(),
        })
    }
}

impl Serialize for VerdictKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for VerdictKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What one `verdicts` row counts as: a device verdict of some kind, or the verifier's own
/// error (never charged to the miner). The key of every verdict tally (status, catalogue,
/// metrics, localnet), written as the kind's text or `verifier-error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tallied {
    /// A verdict the verifier gave.
    Verdict(VerdictKind),
    /// `verifier-error`: the verifier could not judge (its own failure).
    VerifierError,
}

impl Tallied {
    /// The text of the verifier's own error.
    pub const VERIFIER_ERROR: &'static str = "verifier-error";

    /// Every value: the six kinds, then `verifier-error`.
    pub const ALL: [Self; 7] = [
        Self::Verdict(VerdictKind::Pass),
        Self::Verdict(VerdictKind::WrongResult),
        Self::Verdict(VerdictKind::TooSlow),
        Self::Verdict(VerdictKind::TooFast),
        Self::Verdict(VerdictKind::Timeout),
        Self::Verdict(VerdictKind::ProtocolError),
        Self::VerifierError,
    ];

    /// The text: the kind's, or `verifier-error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Verdict(kind) => kind.as_str(),
            Self::VerifierError => Self::VERIFIER_ERROR,
        }
    }

    /// The value `text` names, `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// The verdict kind, `None` for the verifier's own error.
    pub const fn kind(self) -> Option<VerdictKind> {
        match self {
            Self::Verdict(kind) => Some(kind),
            Self::VerifierError => None,
        }
    }
}

impl From<VerdictKind> for Tallied {
    fn from(kind: VerdictKind) -> Self {
        Self::Verdict(kind)
    }
}

impl From<Option<VerdictKind>> for Tallied {
    /// `None` (a record's verifier error) is [`Tallied::VerifierError`].
    fn from(kind: Option<VerdictKind>) -> Self {
        kind.map_or(Self::VerifierError, Self::Verdict)
    }
}

impl std::fmt::Display for Tallied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for Tallied {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// How one direction of a bandwidth probe ended (docs/design.md §Protocol step 7).
///
/// [`ProbeOutcome::as_str`] is the one mapping to the text `miner_rounds.probe_up_outcome` and
/// `probe_down_outcome` hold (CHECKed to the same list) and the JSON shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProbeOutcome {
    /// `measured`: every byte checked out before the deadline.
    Measured,
    /// `failed`: the miner's fault: wrong data or receipt, late, a connection it closed, a
    /// refusal.
    Failed,
    /// `busy`: refused `rate-limited` through every retry: no pass, no charge.
    Busy,
    /// `verifier-error`: the verifier's own failure: never charged, never a pass.
    VerifierError,
}

impl ProbeOutcome {
    /// Every outcome, in the order above.
    pub const ALL: [Self; 4] = [
        Self::Measured,
        Self::Failed,
        Self::Busy,
        Self::VerifierError,
    ];

    /// The outcome's text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Measured => "measured",
            Self::Failed => "failed",
            Self::Busy => "busy",
            Self::VerifierError => "verifier-error",
        }
    }
}

impl std::fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for ProbeOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

// The columns' text, through the same mappings (the CHECK constraints list the same texts).

impl ToSql for ProbeOutcome {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl ToSql for VerdictKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for VerdictKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        text.parse()
            .map_err(|e: UnknownVerdictKind| FromSqlError::Other(Box::new(e)))
    }
}

impl ToSql for Tallied {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Tallied {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Self::parse(text).ok_or_else(|| {
            FromSqlError::Other(Box::new(UnknownVerdictKind {
                text: text.to_owned(),
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_nothing_else_parses() {
        for kind in VerdictKind::ALL {
            assert_eq!(VerdictKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
            assert_eq!(serde_json::from_str::<VerdictKind>(&json).unwrap(), kind);
        }
        for t in Tallied::ALL {
            assert_eq!(Tallied::parse(t.as_str()), Some(t));
        }
        for bad in ["passed", "", "PASS", "error", "verifier-error"] {
            assert_eq!(VerdictKind::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            Tallied::parse("verifier-error"),
            Some(Tallied::VerifierError)
        );
        assert!(
            "nope"
                .parse::<VerdictKind>()
                .unwrap_err()
                .to_string()
                .contains("too-slow")
        );
    }

    #[test]
    fn a_tally_serializes_as_a_map_of_texts() {
        let tally = std::collections::BTreeMap::from([
            (Tallied::from(Some(VerdictKind::TooSlow)), 2u64),
            (Tallied::from(None), 1),
        ]);
        assert_eq!(
            serde_json::to_string(&tally).unwrap(),
            r#"{"too-slow":2,"verifier-error":1}"#
        );
    }
}
