//! # miner-host — run validators' challenges on this machine's devices
//!
//! - [`session`]: the miner's side of one challenge as a sans-IO state machine
//!   ([`session::MinerSession`], the twin of the verifier's `VerifierSession`).
//! - [`serve`]: `miner-host serve`, the QUIC server; its challenge streams are the glue
//!   around a session.
//! - [`run_local`]: `miner-host run-local`, one challenge in the sandbox on a local backend,
//!   with its leaves opened and checked in a second, CPU-only sandbox as a verifier would.
//! - [`backend`]: the one place a backend is started from its kind; [`cuda`]: the CUDA
//!   backend; [`params`]: module names and JSON params.
//!
//! This crate never depends on `verifier`.

pub mod backend;
pub mod cuda;
pub mod params;
pub mod pci;
pub mod run_local;
pub mod serve;
pub mod session;

#[cfg(test)]
mod tests {
    /// The version the handshake negotiates is the version the sandbox implements.
    #[test]
    fn abi_versions_agree() {
        assert_eq!(
            i32::from(protocol::ABI_VERSION),
            challenges::abi::ABI_VERSION
        );
    }
}
