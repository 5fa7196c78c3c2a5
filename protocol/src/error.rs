//! [`ProtocolError`]: every way encoding, framing, signing or checking a message can fail.
//!
//! Each variant names the message type, the limit and the length involved, so the text is
//! enough to act on; [`ProtocolError::code`] maps it to the [`ErrorCode`] sent to the peer.

use crate::frame::MessageKind;
use crate::ids::{ChallengeId, Hotkey, ModuleHash, SessionKey};
use crate::kinds::KindSet;
use crate::messages::{ErrorCode, Role};

/// A failure to encode, frame, decode, verify or accept a protocol message.
///
/// Errors caused by a peer's bytes never carry more than a bounded amount of the peer's data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A value could not be encoded (a field exceeds its limit, see [`crate::limits`]).
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// The message type.
        what: &'static str,
        /// Why, as reported by the encoder.
        reason: String,
    },

    /// The bytes are not a valid CBOR encoding of the expected type.
    #[error("malformed {what}: {reason}")]
    Decode {
        /// The message type.
        what: &'static str,
        /// Why, as reported by the decoder.
        reason: String,
    },

    /// A complete value was decoded but bytes remain after it.
    #[error("malformed {what}: {extra} unexpected bytes after the value")]
    TrailingBytes {
        /// The message type.
        what: &'static str,
        /// How many bytes follow the value.
        extra: usize,
    },

    /// A signed body decodes, but not from the one encoding this crate produces (fields out of
    /// order, non-minimal lengths, unknown fields...). Signed bodies have exactly one encoding.
    #[error("{what} body is not in canonical encoding; re-encode it with this crate")]
    NonCanonical {
        /// The message type.
        what: &'static str,
    },

    /// A frame that must hold a signed envelope holds something else.
    #[error("{what} must be a signed envelope: {reason}")]
    Unsigned {
        /// The message type.
        what: &'static str,
        /// Why the envelope did not parse.
        reason: String,
    },

    /// The envelope's signer bytes are not a valid ed25519 public key.
    #[error("{what} signer {signer} is not a valid ed25519 public key")]
    InvalidSigner {
        /// The message type.
        what: &'static str,
        /// The claimed signer.
        signer: SessionKey,
    },

    /// The signature does not verify (tampered body, wrong key, or signed as another type).
    #[error("bad signature on {what} from {signer}")]
    BadSignature {
        /// The message type the signature was checked as.
        what: &'static str,
        /// The claimed signer.
        signer: SessionKey,
    },

    /// The envelope is signed by a different session key than the one expected.
    #[error("{what} is signed by {got}, expected {expected}")]
    WrongSigner {
        /// The message type.
        what: &'static str,
        /// The session key the peer authenticated with.
        expected: SessionKey,
        /// The envelope's signer.
        got: SessionKey,
    },

    /// A frame header carries a tag that names no message kind.
    #[error("unknown frame tag {tag:#04x}; the peer speaks another protocol version")]
    UnknownFrameTag {
        /// The tag byte.
        tag: u8,
    },

    /// A frame header announces a kind this decoder does not admit: one the peer's role never
    /// sends (see [`KindSet::sent_by`]). Refused before any payload byte is buffered.
    #[error("{} frame refused: this peer sends only {accepted}", kind.name())]
    UnexpectedKind {
        /// The kind the header announces.
        kind: MessageKind,
        /// The kinds the decoder admits.
        accepted: KindSet,
    },

    /// A frame (header or payload to encode) is larger than its kind allows.
    #[error("{kind:?} frame of {len} bytes exceeds its limit of {max} bytes")]
    FrameTooLarge {
        /// The frame's kind.
        kind: MessageKind,
        /// The length claimed by the header, or of the payload being encoded.
        len: u64,
        /// The limit for this kind.
        max: usize,
    },

    /// Pushing these bytes would make the decoder hold more than its cap. Nothing was consumed:
    /// take the complete frames out with `next_frame` and push again.
    #[error(
        "frame decoder holds {buffered} bytes; {incoming} more would exceed its cap of {cap} \
         bytes (drain frames before pushing)"
    )]
    BufferFull {
        /// Bytes already held.
        buffered: usize,
        /// Bytes offered.
        incoming: usize,
        /// The decoder's cap.
        cap: usize,
    },

    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame: {have} bytes of {need} received")]
    TruncatedFrame {
        /// Bytes of the frame (header included) received.
        have: u64,
        /// Bytes the frame needs (header included; 5 while the header itself is incomplete).
        need: u64,
    },

    /// Both hellos share no version of `what` (`"protocol"` or `"abi"`).
    #[error("no common {what} version: we support {ours:?}, the peer supports {theirs:?}")]
    NoCommonVersion {
        /// `"protocol"` or `"abi"`.
        what: &'static str,
        /// Versions we support.
        ours: Vec<u16>,
        /// Versions the peer supports (at most `MAX_VERSIONS`).
        theirs: Vec<u16>,
    },

    /// The peer announced the same role as ours (two miners or two validators).
    #[error("peer announced role {role:?}, the same as ours")]
    SameRole {
        /// The shared role.
        role: Role,
    },

    /// A message names a protocol or ABI version that this side does not run.
    #[error("{what} version {got} is not supported; this side runs {supported}")]
    UnsupportedVersion {
        /// `"protocol"` or `"abi"`.
        what: &'static str,
        /// The version in the message.
        got: u16,
        /// The version this side runs.
        supported: u16,
    },

    /// The `Prepare` expired (beyond the clock-skew tolerance).
    #[error(
        "prepare expired at {expires_at_ms} ms; now is {now_ms} ms (skew tolerance \
         {skew_ms} ms): check both clocks"
    )]
    Expired {
        /// Expiry in the message (Unix ms).
        expires_at_ms: u64,
        /// The receiver's clock (Unix ms).
        now_ms: u64,
        /// Tolerated clock skew.
        skew_ms: u64,
    },

    /// The `Prepare` expires further in the future than the receiver accepts.
    #[error(
        "prepare expires at {expires_at_ms} ms, more than {max_lifetime_ms} ms (+ skew) after \
         now ({now_ms} ms)"
    )]
    LifetimeTooLong {
        /// Expiry in the message (Unix ms).
        expires_at_ms: u64,
        /// The receiver's clock (Unix ms).
        now_ms: u64,
        /// Longest accepted lifetime.
        max_lifetime_ms: u64,
    },

    /// The message is addressed to another miner.
    #[error("message is addressed to miner {got}, but this miner is {expected}")]
    WrongMiner {
        /// This miner's hotkey.
        expected: Hotkey,
        /// The hotkey in the message.
        got: Hotkey,
    },

    /// The message names a validator other than the one this session authenticated.
    #[error("message claims validator {got}, but the session belongs to {expected}")]
    WrongValidator {
        /// The session's validator hotkey.
        expected: Hotkey,
        /// The hotkey in the message.
        got: Hotkey,
    },

    /// The module bytes do not hash to the declared module hash.
    #[error("module bytes hash to {actual}, but the message declares {declared}")]
    ModuleHashMismatch {
        /// Declared hash.
        declared: ModuleHash,
        /// BLAKE3 of the bytes sent.
        actual: ModuleHash,
    },

    /// This validator already sent a `Prepare` with this challenge id.
    #[error("challenge {challenge_id} from validator {validator} was already received")]
    Replayed {
        /// The validator.
        validator: Hotkey,
        /// The repeated challenge id.
        challenge_id: ChallengeId,
    },

    /// The replay guard is full of unexpired challenges; the peer is sending too many.
    #[error("replay guard holds {capacity} unexpired challenges; refusing more until some expire")]
    ReplayGuardFull {
        /// The guard's capacity.
        capacity: usize,
    },

    /// Text that should be hex is not.
    #[error("invalid hex for {what}: {reason}")]
    InvalidHex {
        /// The type being parsed.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

impl ProtocolError {
    /// The code to send the peer in an [`ErrorMsg`](crate::ErrorMsg) for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Encode { .. } | Self::InvalidHex { .. } => ErrorCode::Internal,
            Self::Decode { .. }
            | Self::TrailingBytes { .. }
            | Self::NonCanonical { .. }
            | Self::UnknownFrameTag { .. }
            | Self::TruncatedFrame { .. } => ErrorCode::Malformed,
            Self::Unsigned { .. } => ErrorCode::Unsigned,
            Self::UnexpectedKind { .. } => ErrorCode::UnexpectedMessage,
            Self::InvalidSigner { .. } | Self::BadSignature { .. } | Self::WrongSigner { .. } => {
                ErrorCode::BadSignature
            }
            Self::FrameTooLarge { .. } | Self::BufferFull { .. } => ErrorCode::Oversized,
            Self::NoCommonVersion { .. } | Self::UnsupportedVersion { .. } => {
                ErrorCode::VersionMismatch
            }
            Self::SameRole { .. } | Self::WrongMiner { .. } | Self::WrongValidator { .. } => {
                ErrorCode::WronglyAddressed
            }
            Self::Expired { .. } | Self::LifetimeTooLong { .. } => ErrorCode::Expired,
            Self::ModuleHashMismatch { .. } => ErrorCode::BadModule,
            Self::Replayed { .. } => ErrorCode::Replayed,
            Self::ReplayGuardFull { .. } => ErrorCode::RateLimited,
        }
    }
}
