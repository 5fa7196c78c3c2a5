//! The one place a backend is started from its [`BackendKind`]: `miner-host serve` (from
//! miner.toml's `[backend]`), `run-local`, `bench` and `doctor` all come here.

use std::sync::Arc;

use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenge_runtime::{Backend, BackendError, BackendKind};

/// Starts the backend of `kind`; `cpu` is the CPU reference laid out as `cpu` says (ignored
/// for other kinds). Fails with the backend's own error (e.g. no CUDA driver).
pub fn open(kind: BackendKind, cpu: CpuConfig) -> Result<Arc<dyn Backend>, BackendError> {
    Ok(match kind {
        BackendKind::Cpu => Arc::new(CpuBackend::new(cpu)?),
        BackendKind::Cuda => Arc::new(crate::cuda::CudaBackend::new()?),
    })
}
