//! [`SessionError`]: misuse of a [`VerifierSession`](super::VerifierSession) and failures on the
//! verifier's own side. Never a judgement of the miner: that is a [`Verdict`](super::Verdict).

use protocol::{LeafRef, ModuleHash, ProtocolError};

use super::checker::CheckerError;
use super::layout::LayoutError;

/// Why a session could not be built or could not take an event.
///
/// Guarantee: nothing a miner sends produces one of these while the session is waiting for the
/// miner; what the miner does wrong ends the session with a verdict instead. These errors mean
/// the caller used the session wrongly (an event in the wrong state, a bad config) or the
/// verifier's own machinery failed (signing, its checker), and none is charged to the miner.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// An event that the session cannot take in its current state (e.g. `go` before the miner
    /// is ready, any event after the verdict).
    #[error("`{event}` is not allowed while the session is {state}")]
    WrongState {
        /// The event called.
        event: &'static str,
        /// The state the session is in.
        state: &'static str,
    },

    /// The timing envelope is not `0 ≤ peak_floor_s ≤ min_s ≤ max_s` with finite numbers.
    #[error(
        "envelope must satisfy 0 ≤ peak_floor_s ≤ min_s ≤ max_s with finite seconds, got \
         peak_floor_s = {peak_floor_s}, min_s = {min_s}, max_s = {max_s}"
    )]
    BadEnvelope {
        /// Floor from the datasheet peak.
        peak_floor_s: f64,
        /// Lower edge of the calibrated window.
        min_s: f64,
        /// Upper edge of the calibrated window.
        max_s: f64,
    },

    /// The number of leaves to open is outside `1..=MAX_OPEN_LEAVES`.
    #[error("leaves to open must be between 1 and {max}, got {got}")]
    BadOpenCount {
        /// The configured count.
        got: u32,
        /// The protocol's limit (`protocol::limits::MAX_OPEN_LEAVES`).
        max: usize,
    },

    /// The module bytes in the spec do not hash to its module hash.
    #[error("the spec's module bytes hash to {actual}, but it names module {declared}")]
    ModuleHashMismatch {
        /// The spec's module hash.
        declared: ModuleHash,
        /// BLAKE3 of the bytes.
        actual: ModuleHash,
    },

    /// The output layout could not be derived.
    #[error(transparent)]
    Layout(#[from] LayoutError),

    /// A message of ours could not be signed (a field over its protocol limit).
    #[error("cannot sign our own message: {0}")]
    Sign(#[from] ProtocolError),

    /// The verifier's own checker failed on a leaf (module missing, sandbox failure). The
    /// session is aborted without a verdict: the miner is not blamed for our failure.
    #[error("the verifier's checker failed on output {} leaf {}: {source}", leaf.output, leaf.leaf)]
    Checker {
        /// The leaf being checked.
        leaf: LeafRef,
        /// What failed.
        #[source]
        source: CheckerError,
    },
}
