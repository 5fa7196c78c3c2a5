//! [`ErrorMsg`]: a typed refusal sent to the peer, and its [`ErrorCode`].
//!
//! Peers match on the code, never on the detail text, which is for people and is capped at
//! [`MAX_DETAIL_LEN`] bytes.

use serde::{Deserialize, Serialize};

use crate::bytes;
use crate::error::ProtocolError;
use crate::limits::MAX_DETAIL_LEN;

/// Why a peer refused a message. Encoded as a kebab-case string (e.g. `"bad-signature"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// A message that must be signed came without a valid envelope.
    Unsigned,
    /// The signature does not verify, or is from an unexpected key.
    BadSignature,
    /// The message's expiry has passed (or lies too far in the future).
    Expired,
    /// The message was already received.
    Replayed,
    /// A frame or field is larger than its limit.
    Oversized,
    /// The message is addressed to another miner or comes from another validator.
    WronglyAddressed,
    /// The module hash is unknown and no bytes were sent.
    UnknownModule,
    /// The module bytes do not match their hash, or fail to load.
    BadModule,
    /// No common protocol or ABI version.
    VersionMismatch,
    /// The requested device is busy with another challenge.
    BusyDevice,
    /// Too many requests; retry later.
    RateLimited,
    /// The module rejected its params.
    BadParams,
    /// The bytes do not decode as the message their frame announces.
    Malformed,
    /// A valid message arrived at a point of the session where it is not expected.
    UnexpectedMessage,
    /// The sender failed for a reason of its own.
    Internal,
    /// The peer's session certificate is missing, expired, for another role or key, or its
    /// hotkey signature does not verify.
    BadCertificate,
    /// The peer's hotkey is not allowed here (not in the allow list, or denied).
    NotAllowed,
}

/// A refusal: a code to act on and a short human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorMsg {
    /// What went wrong.
    pub code: ErrorCode,
    /// Detail for a person (at most [`MAX_DETAIL_LEN`] bytes); never parsed.
    #[serde(
        serialize_with = "bytes::str_max::serialize::<_, MAX_DETAIL_LEN>",
        deserialize_with = "bytes::str_max::deserialize::<_, MAX_DETAIL_LEN>"
    )]
    pub detail: String,
}

impl ErrorMsg {
    /// An error message; `detail` is cut to [`MAX_DETAIL_LEN`] bytes on a character boundary.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        let mut detail = detail.into();
        if detail.len() > MAX_DETAIL_LEN {
            let mut cut = MAX_DETAIL_LEN;
            while !detail.is_char_boundary(cut) {
                cut = cut.saturating_sub(1);
            }
            detail.truncate(cut);
        }
        Self { code, detail }
    }
}

impl From<&ProtocolError> for ErrorMsg {
    /// The message to send the peer for a local failure: its code and its text.
    fn from(error: &ProtocolError) -> Self {
        Self::new(error.code(), error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_is_cut_on_a_char_boundary() {
        let msg = ErrorMsg::new(ErrorCode::Internal, "é".repeat(MAX_DETAIL_LEN));
        assert!(msg.detail.len() <= MAX_DETAIL_LEN);
        assert!(msg.detail.len() >= MAX_DETAIL_LEN - 1);
        let short = ErrorMsg::new(ErrorCode::BusyDevice, "device 0 busy");
        assert_eq!(short.detail, "device 0 busy");
    }
}
