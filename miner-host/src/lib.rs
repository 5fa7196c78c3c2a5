//! # miner-host — run validators' challenges on this machine's devices
//!
//! Today: [`run_local`], the engine behind `miner-host run-local`, which runs one challenge
//! module in the sandbox on a local backend, prints its roots, work and timings, and can open
//! leaves and check them in a second, CPU-only sandbox exactly as a verifier will. The CUDA
//! backend (issue #4) and the QUIC server (issue #5) come next; this crate never depends on
//! `verifier`.

pub mod cuda;
pub mod params;
pub mod run_local;
pub mod serve;
