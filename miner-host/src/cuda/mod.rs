//! The `cuda` backend: NVIDIA GPUs through cudarc with dynamic loading.
//!
//! It compiles everywhere (no CUDA toolkit needed to build). Before any cudarc call it checks
//! that the driver library (`libcuda`) and NVRTC can be loaded — cudarc panics when they can't
//! — and otherwise returns "no CUDA device" as [`BackendError::Unavailable`].
//!
//! Kernels are the `cuda-kernels` crate's source text (the very text its grid-emulator tests
//! check against the `challenges` reference), compiled with NVRTC for the device's compute
//! capability once per device and cached. Outputs never cross PCIe in full: `commit` builds the
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

mod cublaslt;
mod session;

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
    arch: &'static str,
    lt: Arc<LtSlot>,
}

/// NVIDIA GPUs of this machine.
pub struct CudaBackend {
    devices: Vec<Arc<Device>>,
}

/// Whether NVRTC, the runtime compiler, can be loaded. Compiling the kernels needs NVRTC only,
/// not a GPU or its driver.
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library by name; nothing is called in it.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// What to do when NVRTC is missing.
const NVRTC_MISSING: &str = "NVRTC (libnvrtc.so) was not found; install the CUDA toolkit's \
                             runtime compiler (or run scripts/install-nvrtc) and make sure \
                             LD_LIBRARY_PATH includes it";

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

/// Every architecture the backend compiles for (what a device's compute capability maps to).
pub const ARCHES: [&str; 9] = [
    "sm_61", "sm_70", "sm_75", "sm_80", "sm_86", "sm_87", "sm_89", "sm_90", "sm_100",
];

/// The kernels — [`cuda_kernels::SOURCE`], the text the grid emulator tests, unchanged —
/// compiled by NVRTC to PTX for `arch` (`sm_90`) with the options the backend uses for every
/// device. Needs NVRTC, not a GPU; without NVRTC it is an error, never a panic.
pub fn compile_kernels(arch: &'static str) -> Result<cudarc::nvrtc::Ptx, BackendError> {
    if !nvrtc_present() {
        return Err(BackendError::Unavailable(NVRTC_MISSING.into()));
    }
    let opts = cudarc::nvrtc::CompileOptions {
        arch: Some(arch),
        name: Some(cuda_kernels::PROGRAM_NAME.to_string()),
        options: vec!["-std=c++17".to_string()],
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(cuda_kernels::SOURCE, opts).map_err(|e| {
        BackendError::Device(format!(
            "NVRTC could not compile the kernels for {arch}: {e:?}"
        ))
    })
}

fn driver_err(what: &str) -> impl Fn(cudarc::driver::DriverError) -> BackendError + '_ {
    move |e| BackendError::Device(format!("{what}: {e}"))
}

/// NVRTC's architecture name for a compute capability (`sm_90` for an H100).
fn arch_name(major: i32, minor: i32) -> &'static str {
    match (major, minor) {
        (10, _) => "sm_100",
        (9, _) => "sm_90",
        (8, 9) => "sm_89",
        (8, 7) => "sm_87",
        (8, 6) => "sm_86",
        (8, _) => "sm_80",
        (7, 5) => "sm_75",
        (7, _) => "sm_70",
        _ => "sm_61",
    }
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
            devices.push(Arc::new(Device {
                ctx,
                info: DeviceInfo {
                    index,
                    name,
                    memory_bytes,
                    uuid,
                },
                lock: Arc::default(),
                module: Mutex::new(None),
                arch: arch_name(major, minor),
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
        let ptx = compile_kernels(self.arch)?;
        let module = self
            .ctx
            .load_module(ptx)
            .map_err(driver_err("loading the compiled kernels"))?;
        *slot = Some(Arc::clone(&module));
        Ok(module)
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
    fn every_architecture_a_device_can_map_to_is_in_arches() {
        let mut seen = std::collections::BTreeSet::new();
        for major in 0..=12 {
            for minor in 0..=9 {
                let arch = arch_name(major, minor);
                assert!(ARCHES.contains(&arch), "{major}.{minor} → {arch}");
                seen.insert(arch);
            }
        }
        assert_eq!(seen.len(), ARCHES.len());
        assert_eq!(arch_name(9, 0), "sm_90");
        assert_eq!(arch_name(8, 9), "sm_89");
    }

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
