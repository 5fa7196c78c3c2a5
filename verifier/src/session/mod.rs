//! The verifier's side of one challenge of one device, as a state machine with no I/O and no
//! clock ([`VerifierSession`]), in the manner of quinn-proto: the caller (the QUIC driver, or a
//! test) feeds it the miner's messages with the time they arrived and sends what it returns.
//!
//! ```text
//! start(now)                      -> Signed<Prepare>      (untimed; module bytes if needed)
//! on_ready(&Ready, now)           -> None | Some(verdict)
//! go(now, nonce)                  -> Signed<Go>           (the clock starts)
//! on_commitment(&signed, now, rng) -> Open | verdict      (the clock stops; leaves drawn)
//! on_openings(&Openings, now, &checker) -> verdict
//! on_timeout(now) / on_closed(now) / on_peer_error(..) / on_unexpected(..)  at any time
//! ```
//!
//! # Choices
//!
//! - **Clock.** Every event takes `now: Duration` on the caller's monotonic clock (any epoch);
//!   [`VerifierSession::poll_timeout`] gives the next deadline. A late answer is judged by its
//!   own `now`, so the verdict does not depend on when the caller's timer fires.
//! - **Seed.** [`VerifierSession::go`] takes the 32-byte nonce (OS randomness in production)
//!   and derives the seed with [`challenges::prf::challenge_seed`] from the nonce, both
//!   hotkeys, the module hash, the params and the device: an answer computed for another miner
//!   fails the leaf checks.
//! - **Timing.** measured = arrival of the `Commitment` − sending of `Go` − min(min RTT
//!   measured before the challenge, cap), never negative ([`Timing`]); the miner's own
//!   timings are ignored. With every leaf right: above the envelope's `max_s` is `too-slow`,
//!   below its `peak_floor_s` (the datasheet peak) is `too-fast`, anything else `pass`;
//!   `min_s` is reported only. Leaves are checked before timing is judged: a wrong result
//!   always reads as `wrong-result`.
//! - **Leaves.** Drawn after the commitment, uniformly with replacement over all leaves of all
//!   outputs ([`sampler`]), from randomness passed in (`&mut dyn FnMut() -> u64`), with one
//!   secret salt per leaf for sampling modules. Output lengths come from the verifier's
//!   [`OutputLayout`] (built-in modules' specs), never from the miner.
//! - **Checking.** Openings must cite our `Go`, answer every requested leaf in order, and
//!   each path must lead to the committed root (`challenges::commitment::verify_opening`);
//!   then each leaf goes to a [`LeafChecker`] — in production [`SandboxChecker`], the module's
//!   `check` in the verifier's own CPU sandbox.
//! - **Verdicts** ([`Verdict`]). Before a valid commitment: an overdue answer or a closed
//!   connection is `timeout`; a bad or foreign signature, a message citing another `Prepare`
//!   or `Go` (a replayed commitment), a message out of place, undecodable bytes, or a refusal
//!   by the miner is `protocol-error`. After it, anything but valid openings by the deadline
//!   (silence, a closed connection, garbage, a refusal, the wrong count, another leaf, a path
//!   that fails, a wrong leaf) is `wrong-result`, naming the leaf when one is to blame. A
//!   signed commitment for our `Go` with the wrong number of roots is `wrong-result` too.
//! - **Errors.** [`SessionError`] is for the caller: an event in the wrong state, a bad
//!   config, or a failure of the verifier's own checker (the session is then aborted without
//!   a verdict: our failure is never charged to the miner). Nothing the miner sends yields one
//!   while the session waits for it.
//! - `Openings` are not signed by the protocol: the transport authenticates the peer, and each
//!   path binds the leaf to a root the miner signed.
#![deny(clippy::indexing_slicing)]

mod checker;
mod error;
mod judge;
mod layout;
mod machine;
pub mod sampler;
mod spec;
mod transcript;
mod verdict;

pub use checker::{CheckInput, CheckerError, LeafChecker, SandboxChecker};
pub use error::SessionError;
pub(crate) use judge::{Context as JudgeContext, Judgement, Requested};
pub use layout::{LayoutError, OutputLayout};
pub(crate) use machine::judge_time;
pub use machine::{CommitmentOutcome, VerifierSession};
pub use spec::{
    ChallengeSpec, DEFAULT_OPENINGS, DEFAULT_RTT_CAP, DEFAULT_SAMPLES, Envelope, SessionConfig,
    Timeouts,
};
pub use transcript::{At, Transcript};
pub use verdict::{
    Cause, Phase, PhaseTiming, ProtocolFault, TimeJudgement, TimedOut, Timing, Verdict, WrongResult,
};

pub use challenge_runtime::CheckVerdict;
