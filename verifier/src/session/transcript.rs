//! [`Transcript`]: what one session sent and received, with the time of each, kept as it was
//! (read-only to the caller: [`VerifierSession::transcript`](super::VerifierSession::transcript)).
//!
//! It is what a receipt is made of (`crate::receipt`): the signed messages exactly as they
//! travelled, so a third party can check every signature and citation, the nonces the verifier
//! drew, the leaves and salts it drew after the commitment, the openings as received, and the
//! caller's clock at each event. The session records it as a side effect of its events; it
//! never reads it to decide anything.
//!
//! Every miner message the session was handed is kept, also one it refused (a bad signature,
//! another challenge's citation): a `protocol-error` receipt then carries the message that
//! earned it.

use std::time::Duration;

use protocol::{Commitment, ErrorMsg, Go, LeafRef, Openings, PhaseDone, PhaseKey, Prepare, Signed};

/// A message and the time (on the caller's clock) it was sent or arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    /// When: sending time for ours, arrival time for the miner's.
    pub at: Duration,
    /// The message.
    pub message: T,
}

/// What a session sent and received, in order, with times. Empty until
/// [`start`](super::VerifierSession::start).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    /// Our signed `Prepare`.
    pub prepare: Option<At<Signed<Prepare>>>,
    /// When the miner's accepted `Ready` arrived.
    pub ready_at: Option<Duration>,
    /// Our signed `Go` (its nonce is [`nonce`](Self::nonce)).
    pub go: Option<At<Signed<Go>>>,
    /// The nonce of our `Go`.
    pub nonce: Option<[u8; 32]>,
    /// Every `PhaseDone` the miner sent, as received (also one that was refused).
    pub phase_dones: Vec<At<Signed<PhaseDone>>>,
    /// Our signed `PhaseKey`s, in order (`phase_keys[k − 1]` began phase `k`).
    pub phase_keys: Vec<At<Signed<PhaseKey>>>,
    /// The nonce of each `PhaseKey`, in order.
    pub phase_nonces: Vec<[u8; 32]>,
    /// The miner's `Commitment`, as received (also one that was refused).
    pub commitment: Option<At<Signed<Commitment>>>,
    /// The leaves our `Open` asked for, in order, with its sending time.
    pub open: Option<At<Vec<LeafRef>>>,
    /// The secret salt drawn for each leaf (sampling modules pick positions from it).
    pub salts: Vec<[u8; 32]>,
    /// The miner's `Openings`, as received.
    pub openings: Option<At<Openings>>,
    /// A refusal the miner sent instead of an answer.
    pub peer_error: Option<At<ErrorMsg>>,
}
