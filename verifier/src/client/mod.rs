//! The verifier's QUIC client: one round against one miner ([`challenge_miner`]), driving one
//! [`VerifierSession`](crate::session::VerifierSession) per device over its own stream, plus
//! the RTT pings and the bandwidth probe.
//!
//! Choices:
//! - **RTT**: the minimum over `pings` Ping/Pong round trips on the control stream, timed on
//!   our clock after the handshake and before any challenge (never quinn's estimate, which
//!   trusts the peer's ack-delay figures); the session subtracts at most `rtt_cap` of it.
//! - **All devices at once**: every device is prepared (untimed), then every `Go` is sent back
//!   to back, then the answers are awaited together; each module of the round (`matmul-i8`, then
//!   `membw`) runs this way on all devices. A device still preparing [`GO_BARRIER`] after the
//!   first is ready (busy with another validator's challenge, or a slow `Ready`) gets its `Go`
//!   when it is ready, so the others' short reservations on the miner do not lapse.
//! - **Interactive phases** (protocol v2): each device's `PhaseDone` waits at the barrier of
//!   the devices started with it; the next `PhaseKey` goes to all of them in the same instant,
//!   once each has finished the phase or its session has ended (`barrier.rs`).
//! - **Busy devices** are retried for `busy_budget × max_s` of their class; still busy then, the
//!   verdict is a busy `timeout` (no pass, no reliability charge).
//! - **The round's deadline** (`miner_timeout`) reaches every session: what is pending then is
//!   judged as overdue, a planned challenge never started is a `timeout`.
//! - **Inventories** are checked before anything runs ([`check_inventory`]); one that cannot be
//!   challenged is a miner-level `protocol-error` ([`MinerFault`]).
//! - **Module bytes** are first omitted; a miner answering `unknown-module` gets a fresh
//!   `Prepare` with the bytes.
//! - **Our failures** (a verifier bug, OS randomness) are reported as `error`, never as a
//!   verdict against the miner.
//! - **The bandwidth probe** runs after the challenges, both ways, over parallel TCP streams:
//!   sized from the measured RTT within the miner's share of the round's probe budget, every
//!   byte checked, each direction failed when late ([`probe`], [`probe::sizing`]).
#![deny(clippy::indexing_slicing)]

mod barrier;
mod device;
pub mod plan;
pub mod probe;
mod round;

pub use plan::{PlanError, Planned, Planner};
pub use probe::{ProbeOutcome, ProbePlan, ProbeResult, ProbeSettings};
pub use round::{
    ChallengeEvidence, ChallengeOptions, ChallengeReport, ClientContext, DeviceReport, GO_BARRIER,
    MinerFault, MinerReport, MinerTarget, ProvenDevice, challenge_miner, check_inventory,
};
