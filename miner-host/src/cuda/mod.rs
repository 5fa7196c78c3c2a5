//! The `cuda` backend: NVIDIA GPUs through cudarc with dynamic loading.
//!
//! It compiles everywhere (no CUDA toolkit needed to build). Before any cudarc call it checks
//! that the driver library (`libcuda`) and NVRTC can be loaded — cudarc panics when they can't
//! — and otherwise returns "no CUDA device" as [`BackendError::Unavailable`].
//!
//! Kernels are the `cuda-kernels` crate's source text (the very text its grid-emulator tests
//! check against the `challenges` reference), compiled with NVRTC once per device and cached:
//! to the device's own machine code wherever NVRTC knows its architecture, so the driver never
//! JIT-compiles PTX (an older driver refuses a newer NVRTC's PTX; see `cuda/compile.rs`). Outputs never cross PCIe in full: `commit` builds the
//! BLAKE3 chunk chaining values and the parent levels up to 16-chunk blocks on the device,
//! copies only the block CVs to the host ([`challenges::commitment::OutputTree::from_block_cvs`]),
//! and keeps a device copy of the output; an opening copies one 16 KiB block back.
//!
//! GEMM: cuBLASLt `int8 × int8 → int32` (`CUBLAS_COMPUTE_32I`, B first transposed by the
//! `transpose_i8` kernel; layouts in `cuda/cublaslt.rs`) into a row-major `i32` product, then the
//! re-layout kernel into tiles. The `__dp4a` kernel of `cuda-kernels` stands in where
//! cuBLASLt is missing, refuses a shape, or fails its once-per-device self-check against the
//! host (the cuBLASLt path has not run on a GPU yet). `GPUPROOF_CUDA_GEMM` picks the path:
//! `auto` (default, as above), `dp4a` (never cuBLASLt), or `cublaslt` (cuBLASLt or an error;
//! for the self-test).
//!
//! One challenge per device at a time; dropping a session frees every buffer and output it
//! holds on every path (cudarc frees device memory when its slices drop).
#![allow(unsafe_code)]

mod compile;
mod cublaslt;
mod session;

use compile::NVRTC_MISSING;
pub use compile::{
    ARCHES, CompiledKernels, KernelResources, KernelTarget, Nvrtc, REGISTERS_PER_BLOCK,
    STATIC_SHARED_LIMIT, UnsupportedArch, compile_kernels, nvrtc_present, parse_ptxas_info,
};

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use challenge_runtime::{
    Backend, BackendError, BackendKind, DeviceInfo, DeviceLock, DeviceSession,
};
use cudarc::driver::{CudaContext, CudaModule};

/// Which GEMM the backend uses (`GPUPROOF_CUDA_GEMM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmMode {
    /// cuBLASLt when present and verified on the device, else the dp4a kernel.
    Auto,
    /// Only the dp4a kernel.
    Dp4a,
    /// Only cuBLASLt: a device where it is missing or fails its self-check errors.
    CublasLt,
}

impl GemmMode {
    /// The environment variable that picks the mode.
    pub const ENV: &'static str = "GPUPROOF_CUDA_GEMM";

    /// Parses `auto`, `dp4a` or `cublaslt`.
    pub fn parse(text: &str) -> Result<Self, BackendError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "dp4a" => Ok(Self::Dp4a),
            "cublaslt" => Ok(Self::CublasLt),
            other => Err(BackendError::Invalid(format!(
                "{}={other:?}: use auto, dp4a or cublaslt",
                Self::ENV
            ))),
        }
    }
}

/// A device's cuBLASLt state, decided on its first GEMM: the verified handle, or why the
/// device does without.
pub(crate) struct LtSlot {
    mode: GemmMode,
    device: u32,
    state: OnceLock<Result<Arc<cublaslt::LtGemm>, String>>,
}

/// The message every "this machine cannot run CUDA" error starts with.
pub const NO_CUDA: &str = "no CUDA device";

struct Device {
    ctx: Arc<CudaContext>,
    info: DeviceInfo,
    lock: Arc<DeviceLock>,
    module: Mutex<Option<Arc<CudaModule>>>,
    /// What the kernels compile to for this device, or why NVRTC cannot compile for it.
    target: Result<KernelTarget, UnsupportedArch>,
    lt: Arc<LtSlot>,
}

/// NVIDIA GPUs of this machine.
pub struct CudaBackend {
    devices: Vec<Arc<Device>>,
}

/// Whether the CUDA driver and NVRTC libraries can be loaded, without touching them further.
pub fn libraries_present() -> Result<(), BackendError> {
    // SAFETY: this only tries to dlopen the library by name; nothing is called in it.
    let driver = unsafe { cudarc::driver::sys::is_culib_present() };
    if !driver {
        return Err(BackendError::Unavailable(format!(
            "{NO_CUDA}: the NVIDIA driver library (libcuda.so) was not found; install the NVIDIA \
             driver or run with --backend cpu"
        )));
    }
    if !nvrtc_present() {
        return Err(BackendError::Unavailable(format!(
            "{NO_CUDA}: {NVRTC_MISSING}"
        )));
    }
    Ok(())
}

fn driver_err(what: &str) -> impl Fn(cudarc::driver::DriverError) -> BackendError + '_ {
    move |e| BackendError::Device(format!("{what}: {e}"))
}

fn format_uuid(bytes: &[std::ffi::c_char; 16]) -> String {
    let b: Vec<u8> = bytes.iter().map(|c| *c as u8).collect();
    let h = hex::encode(b);
    format!(
        "GPU-{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The device's PCI address as `nvidia-smi` writes it (`00000000:18:00.0`), from the driver's
/// domain, bus and device attributes; `None` if the driver does not answer.
fn pci_bus_id(ctx: &CudaContext) -> Option<String> {
    use cudarc::driver::sys::CUdevice_attribute as A;
    let read = |a| ctx.attribute(a).ok().and_then(|v| u32::try_from(v).ok());
    let domain = read(A::CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID)?;
    let bus = read(A::CU_DEVICE_ATTRIBUTE_PCI_BUS_ID)?;
    let device = read(A::CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID)?;
    Some(format!("{domain:08x}:{bus:02x}:{device:02x}.0"))
}

impl CudaBackend {
    /// Every CUDA device of the machine, or "no CUDA device" when there is none or the driver
    /// libraries are missing. Never panics.
    /// The GEMM path comes from `GPUPROOF_CUDA_GEMM` ([`GemmMode`]; unset means `auto`).
    pub fn new() -> Result<Self, BackendError> {
        let mode = GemmMode::parse(&std::env::var(GemmMode::ENV).unwrap_or_default())?;
        Self::with_gemm_mode(mode)
    }

    /// Like [`CudaBackend::new`], with the GEMM path given.
    pub fn with_gemm_mode(mode: GemmMode) -> Result<Self, BackendError> {
        libraries_present()?;
        let count = CudaContext::device_count()
            .map_err(|e| BackendError::Unavailable(format!("{NO_CUDA}: {e}")))?;
        if count <= 0 {
            return Err(BackendError::Unavailable(format!(
                "{NO_CUDA}: the driver reports no GPU"
            )));
        }
        let nvrtc = Nvrtc::load()?;
        let mut devices = Vec::new();
        for index in 0..count as u32 {
            let ctx =
                CudaContext::new(index as usize).map_err(driver_err("creating a CUDA context"))?;
            let name = ctx.name().map_err(driver_err("reading the device name"))?;
            let memory_bytes =
                ctx.total_mem()
                    .map_err(driver_err("reading device memory"))? as u64;
            let uuid = ctx.uuid().ok().map(|u| format_uuid(&u.bytes));
            let (major, minor) = ctx
                .compute_capability()
                .map_err(driver_err("reading the compute capability"))?;
            let cc = u32::try_from(major * 10 + minor).unwrap_or(0);
            let pci_bus_id = pci_bus_id(&ctx);
            let (pcie_gen, pcie_width) = pci_bus_id
                .as_deref()
                .map_or((None, None), crate::pci::pcie_link);
            let target = KernelTarget::for_device(cc, &nvrtc.archs);
            devices.push(Arc::new(Device {
                ctx,
                info: DeviceInfo {
                    index,
                    name,
                    memory_bytes,
                    uuid,
                    pci_bus_id,
                    pcie_gen,
                    pcie_width,
                },
                lock: Arc::default(),
                module: Mutex::new(None),
                target,
                lt: Arc::new(LtSlot {
                    mode,
                    device: index,
                    state: OnceLock::new(),
                }),
            }));
        }
        Ok(Self { devices })
    }
}

static COMPILE_LOCK: OnceLock<Mutex<()>> = OnceLock::new();

impl Device {
    /// The kernels compiled for this device, compiling them on first use.
    fn module(&self) -> Result<Arc<CudaModule>, BackendError> {
        let mut slot = self.module.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = slot.as_ref() {
            return Ok(Arc::clone(m));
        }
        let _one_at_a_time = COMPILE_LOCK
            .get_or_init(|| Mutex::new(()))
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let target = self.target.clone().map_err(|why| {
            BackendError::Unavailable(format!("device {}: {why}", self.info.index))
        })?;
        let started = std::time::Instant::now();
        let compiled = compile_kernels(target)?;
        log_resources(self.info.index, &compiled, started.elapsed());
        let module = self
            .ctx
            .load_module(compiled.into_loadable())
            .map_err(driver_err("loading the compiled kernels"))?;
        *slot = Some(Arc::clone(&module));
        Ok(module)
    }
}

/// One line per device on what its kernels compiled to, one per kernel at debug level, and a
/// warning for any kernel that uses local memory (spills or a stack frame: slow).
fn log_resources(device: u32, compiled: &CompiledKernels, took: std::time::Duration) {
    tracing::info!(
        device,
        target = %compiled.target,
        ms = took.as_millis() as u64,
        "kernels compiled"
    );
    for k in &compiled.resources {
        tracing::debug!(
            device,
            kernel = %k.name,
            registers = k.registers,
            shared_bytes = k.shared_bytes,
            "kernel resources"
        );
        if k.uses_local_memory() {
            tracing::warn!(
                device,
                kernel = %k.name,
                stack_bytes = k.stack_bytes,
                spill_stores = k.spill_stores,
                spill_loads = k.spill_loads,
                "kernel uses local memory (register spills or a stack frame); it will run slower"
            );
        }
    }
}

impl Backend for CudaBackend {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Cuda
    }

    fn devices(&self) -> Vec<DeviceInfo> {
        self.devices.iter().map(|d| d.info.clone()).collect()
    }

    fn open(&self, device: u32) -> Result<Box<dyn DeviceSession>, BackendError> {
        let dev = self
            .devices
            .get(device as usize)
            .ok_or(BackendError::NoDevice {
                index: device,
                count: self.devices.len() as u32,
            })?;
        let claim = dev.lock.claim(device)?;
        let module = dev.module()?;
        let stream = dev
            .ctx
            .new_stream()
            .map_err(driver_err("creating a stream"))?;
        Ok(Box::new(session::CudaSession::new(
            claim,
            module,
            stream,
            Arc::clone(&dev.lt),
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn gemm_modes_parse_and_bad_values_say_what_is_allowed() {
        assert_eq!(GemmMode::parse("").unwrap(), GemmMode::Auto);
        assert_eq!(GemmMode::parse("auto").unwrap(), GemmMode::Auto);
        assert_eq!(GemmMode::parse(" DP4A ").unwrap(), GemmMode::Dp4a);
        assert_eq!(GemmMode::parse("cublaslt").unwrap(), GemmMode::CublasLt);
        let err = GemmMode::parse("cublas").unwrap_err().to_string();
        assert!(
            err.contains("GPUPROOF_CUDA_GEMM") && err.contains("dp4a"),
            "{err}"
        );
    }
}
