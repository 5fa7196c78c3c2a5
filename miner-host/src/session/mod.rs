//! The miner's side of one challenge of one device, as a state machine with no I/O and no
//! clock ([`MinerSession`]): the twin of the verifier's `VerifierSession`, in the manner of
//! quinn-proto. The caller (the QUIC glue of `miner-host serve`, or a test driving both sides
//! in memory) feeds it [`Event`]s with the time they happened and carries out the
//! [`Action`]s it returns.
//!
//! ```text
//! MinerSession::new(prepare, now)     -> [Load]                      (module and params)
//! Loaded(Ok)                          -> [Reserve]                   (the device)
//! Reserved(Ok)                        -> [Send(Ready)]               (held ≤ reserve without Go)
//! Message(Go)                         -> [Run { seed }]              (the validator's clock runs)
//! PhaseEnd { ended, roots }           -> [Send(PhaseDone)]           (protocol v2)
//! Message(PhaseKey)                   -> [Resume(Ok(nonce))]         (the guest's next phase)
//! RunDone { roots, .. }               -> [Send(Commitment)]
//! Message(Open)                       -> [Open(leaves)]
//! Opened(Ok(openings))                -> [Release, Send(Openings), Finish]
//! Timeout / anything out of place     -> a typed refusal, [Release, Send(Error), Finish]
//! ```
//!
//! # Choices
//!
//! - **What is the session's and what is the server's.** The server admits a stream before a
//!   session exists: the per-validator rate limit and the `PrepareGate` (signature, expiry,
//!   replay, addressing) hold state shared by every stream. Loading the module, reserving the
//!   device and running the sandbox are the caller's work, asked for by [`Action::Load`],
//!   [`Action::Reserve`] and [`Action::Run`]; their results come back as events. Everything
//!   the protocol says about one challenge is here: what is signed and what it cites, which
//!   message may come when, how long the device is held without a `Go`
//!   ([`SessionLimits::reserve`]), what a validator that goes quiet gets.
//! - **Clock.** Events take `now: Duration` on the caller's monotonic clock (any epoch);
//!   [`Responder::poll_timeout`] gives the next deadline, and an overdue answer is judged by
//!   the `now` of the event that brings it.
//! - **Refusals.** Anything the validator sends out of place, badly signed or citing another
//!   message ends the session with a typed `Error` message ([`Ended::Refused`]); the device
//!   is released before that last message, so the validator's next challenge on it never
//!   finds it still reserved. A validator that goes quiet after the commitment is not owed an
//!   answer: the session ends without one ([`Ended::Abandoned`]).
//! - **Cheating is not a branch here.** The adversaries of tests and the local network
//!   (`serve::adversary`) wrap a [`MinerSession`] behind the same [`Responder`] trait and
//!   change what it does; the honest session has no notion of them.
#![deny(clippy::indexing_slicing)]

mod machine;

use std::time::Duration;

use challenge_runtime::StageTimes;
use protocol::{ErrorCode, ErrorMsg, LeafRef, Message, OpeningWire};

pub use machine::{MinerSession, SessionLimits};

/// Something that happened, fed to a [`Responder`].
#[derive(Debug, Clone)]
pub enum Event {
    /// The module asked for by [`Action::Load`] is compiled and accepts the params, or the
    /// refusal to send (`unknown-module`, `bad-module`, `bad-params`).
    Loaded(Result<(), ErrorMsg>),
    /// The device asked for by [`Action::Reserve`] is held for this challenge, or the refusal
    /// to send (`busy-device`, no such device, a validator cooling down).
    Reserved(Result<(), ErrorMsg>),
    /// A message from the validator on this challenge's stream.
    Message(Message),
    /// The run ended interactive phase `ended` with `roots` committed so far; it waits for an
    /// [`Action::Resume`].
    PhaseEnd {
        /// The phase that ended (0, 1, … in order).
        ended: u32,
        /// The roots committed so far, in commit order.
        roots: Vec<[u8; 32]>,
    },
    /// The run finished with these roots (commit order); `stages` is the backend's own time.
    RunDone {
        /// Roots in commit order.
        roots: Vec<[u8; 32]>,
        /// Time the backend spent filling, computing and hashing, reported in the commitment's
        /// `timings` (informational only: the validator times the challenge).
        stages: StageTimes,
    },
    /// The run failed; the refusal to send.
    RunFailed(ErrorMsg),
    /// The leaves asked for by [`Action::Open`], or why they cannot be opened.
    Opened(Result<Vec<OpeningWire>, String>),
    /// The caller's timer fired (at or after [`Responder::poll_timeout`]).
    Timeout,
}

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Load (compile, or find cached) the `Prepare`'s module and check its params; answer
    /// with [`Event::Loaded`].
    Load,
    /// Reserve the `Prepare`'s device for this challenge; answer with [`Event::Reserved`].
    Reserve,
    /// Send this message on the challenge's stream.
    Send(Message),
    /// Send these bytes as they are (they need not be a frame: adversaries only).
    SendRaw(Vec<u8>),
    /// Start the module's run with this seed; answer with [`Event::PhaseEnd`],
    /// [`Event::RunDone`] or [`Event::RunFailed`].
    Run {
        /// The challenge seed (`challenges::prf::challenge_seed`).
        seed: [u8; 32],
    },
    /// Answer the run's pending phase end: the next phase's nonce, or why there is none (the
    /// guest's `phase_end` then fails and so does the run).
    Resume(Result<[u8; 32], String>),
    /// Open these leaves of the run's outputs; answer with [`Event::Opened`].
    Open(Vec<LeafRef>),
    /// Release the device reservation (the challenge holds it no longer).
    Release,
    /// The reservation lapsed because no `Go` came in time: the server makes this validator
    /// wait before reserving the device again.
    Lapse,
    /// End the stream (after the sends before it); the session is over.
    Finish,
    /// Close the whole connection (adversaries only).
    CloseConnection,
    /// Answer nothing more: keep the stream open and unread until the connection ends
    /// (adversaries only).
    Hold,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The openings were sent.
    Served,
    /// A typed refusal was sent with this code.
    Refused(ErrorCode),
    /// No `Go` came within the reservation time (a refusal was sent too).
    Lapsed,
    /// The validator stopped asking after the commitment: nothing more was owed.
    Abandoned,
    /// The responder stopped answering on purpose, or dropped the stream or connection
    /// (adversaries only).
    Dropped,
}

/// One challenge's miner side, as the QUIC glue drives it: the honest [`MinerSession`], or an
/// adversary wrapping one.
pub trait Responder: Send {
    /// The first actions, right after the `Prepare` was admitted.
    fn start(&mut self, now: Duration) -> Vec<Action>;
    /// An event at `now`; the actions to carry out, in order.
    fn handle(&mut self, event: Event, now: Duration) -> Vec<Action>;
    /// When the caller must deliver [`Event::Timeout`] at the latest (`None`: no deadline).
    fn poll_timeout(&self) -> Option<Duration>;
    /// Whether the next event is a message from the validator (the caller reads the stream
    /// only then; otherwise it waits for the run, the openings or the timer).
    fn awaits_message(&self) -> bool;
    /// How it ended, once it has.
    fn ended(&self) -> Option<&Ended>;
}

/// A refusal message with `code` and `detail`.
pub(crate) fn refusal(code: ErrorCode, detail: impl Into<String>) -> Message {
    Message::Error(ErrorMsg::new(code, detail))
}
