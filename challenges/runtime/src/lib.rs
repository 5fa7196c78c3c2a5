//! # challenge-runtime — the gpuproof challenge sandbox
//!
//! Runs challenge modules (WASM, host ABI v1.1 as `challenges::abi` pins it) with wasmtime:
//!
//! - one [`Sandbox`] per process: one `Engine` configured once (fuel on, pooling allocator),
//!   modules compiled once and cached by the BLAKE3 hash of their bytes ([`LoadedModule`]);
//! - no WASI and no import outside `gpu.*`: a module asking for one is refused at load time
//!   with [`SandboxError::ForbiddenImport`] naming it;
//! - guest memory capped by a resource limiter, guest instructions by fuel, device memory,
//!   buffer count, outputs and host work by per-challenge budgets ([`SandboxLimits`]);
//! - every ABI argument checked by the host (handles owned by the instance, sizes inside the
//!   budget, shapes multiples of 16); a bad call returns a negative status, never a panic;
//! - traps mapped to typed errors ([`TrapKind`]);
//! - devices behind the [`Backend`] trait; [`cpu::CpuBackend`] is the multi-threaded reference;
//!   [`bench`](mod@bench) measures any backend's operations through it (`miner-host bench`).
//!
//! A module may split its run into interactive phases (`gpu.phase_end`); the caller of
//! [`Sandbox::run_phased`] supplies the [`PhaseHook`] that reports each phase and returns the
//! verifier's next key ([`phase`]).
//!
//! `miner-host` uses [`Sandbox::run`] to run a challenge on its devices and
//! [`RunOutcome::open`] to answer openings; `verifier` uses [`Sandbox::check`] on its own CPU
//! to recompute each opened leaf, and [`Sandbox::work`] for the declared work.

pub mod backend;
pub mod bench;
pub mod cpu;
mod error;
mod host;
mod imports;
mod limits;
pub mod phase;
mod sandbox;

pub use backend::{
    Backend, BackendError, BackendKind, BufferId, Committed, DeviceClaim, DeviceInfo, DeviceLock,
    DeviceSession, UnknownBackend, byte_range,
};
pub use error::{SandboxError, TrapKind};
pub use host::StageTimes;
pub use limits::SandboxLimits;
pub use phase::{FixedNonces, MAX_PHASES, NoPhases, PhaseHook, PhaseRefused};
pub use sandbox::{CheckVerdict, LoadedModule, RunOutcome, RunTimings, Sandbox};
