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
