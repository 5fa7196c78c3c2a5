//! Compiling the kernels with NVRTC, for one device or for a named architecture.
//!
//! A device gets its own machine code (SASS, a CUBIN) wherever the NVRTC at hand knows its
//! architecture: the driver then loads it as it is. PTX would have to be JIT-compiled by the
//! driver, and a driver older than the NVRTC refuses newer PTX (driver 535 with NVRTC 12.9:
//! `CUDA_ERROR_UNSUPPORTED_PTX_VERSION`), while a CUBIN loads under CUDA's minor-version
//! compatibility. Only a device newer than every architecture NVRTC knows gets PTX, for the
//! newest architecture below it ([`KernelTarget::for_device`]).
//!
//! A CUBIN comes with ptxas' resource report (`--ptxas-options=-v`): registers, static shared
//! memory, stack and spills per kernel ([`KernelResources`]). The backend logs it;
//! `tests/nvrtc_kernels.rs` checks that every kernel fits the largest block its launch may use
//! and spills nothing, for every architecture, without a GPU.

use std::ffi::{CString, c_char, c_int};
use std::fmt;

use challenge_runtime::BackendError;
use cudarc::nvrtc::{result, sys};

/// Whether NVRTC, the runtime compiler, can be loaded. Compiling the kernels needs NVRTC only,
/// not a GPU or its driver.
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library by name; nothing is called in it.
    unsafe { sys::is_culib_present() }
}

/// What to do when NVRTC is missing.
pub(crate) const NVRTC_MISSING: &str = "NVRTC (libnvrtc.so) was not found; install the CUDA \
                                        toolkit's runtime compiler (or run scripts/install-nvrtc) \
                                        and make sure LD_LIBRARY_PATH includes it";

/// Compute capabilities (`major · 10 + minor`) the tests compile for: every architecture a
/// miner's GPU may have, from Pascal (`61`, the first with `__dp4a`) to Blackwell (`100`, `120`).
pub const ARCHES: [u32; 10] = [61, 70, 75, 80, 86, 87, 89, 90, 100, 120];

/// The NVRTC library found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nvrtc {
    /// Its version, `(major, minor)`.
    pub version: (i32, i32),
    /// The architectures it compiles for (`major · 10 + minor`), ascending.
    pub archs: Vec<u32>,
}

fn nvrtc_err(what: &'static str) -> impl Fn(result::NvrtcError) -> BackendError {
    move |e| BackendError::Device(format!("NVRTC {what}: {e}"))
}

impl Nvrtc {
    /// Loads NVRTC and asks it for its version and architectures; an error (never a panic)
    /// when it is missing or too old to say (before CUDA 11.2).
    pub fn load() -> Result<Self, BackendError> {
        if !nvrtc_present() {
            return Err(BackendError::Unavailable(NVRTC_MISSING.into()));
        }
        // cudarc looks symbols up lazily and panics on a missing one: check first.
        // SAFETY: `culib` loads the library found above; looking a symbol up calls nothing.
        let has = |name: &[u8]| unsafe { sys::culib().get::<*const ()>(name).is_ok() };
        for symbol in [
            &b"nvrtcGetNumSupportedArchs\0"[..],
            b"nvrtcGetSupportedArchs\0",
            b"nvrtcGetCUBINSize\0",
            b"nvrtcGetCUBIN\0",
        ] {
            if !has(symbol) {
                return Err(BackendError::Unavailable(
                    "the NVRTC found is older than CUDA 11.2 (it cannot list its architectures \
                     or emit machine code); install CUDA 12's NVRTC"
                        .into(),
                ));
            }
        }
        let (mut major, mut minor): (c_int, c_int) = (0, 0);
        // SAFETY: both pointers are valid for one write each.
        unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
            .result()
            .map_err(nvrtc_err("version"))?;
        let mut count: c_int = 0;
        // SAFETY: the pointer is valid for one write.
        unsafe { sys::nvrtcGetNumSupportedArchs(&mut count) }
            .result()
            .map_err(nvrtc_err("architecture count"))?;
        let mut raw: Vec<c_int> = vec![0; usize::try_from(count).unwrap_or(0)];
        if !raw.is_empty() {
            // SAFETY: `raw` holds the `count` entries NVRTC writes.
            unsafe { sys::nvrtcGetSupportedArchs(raw.as_mut_ptr()) }
                .result()
                .map_err(nvrtc_err("architectures"))?;
        }
        let mut archs: Vec<u32> = raw
            .into_iter()
            .filter_map(|a| u32::try_from(a).ok())
            .collect();
        archs.sort_unstable();
        archs.dedup();
        Ok(Self {
            version: (major, minor),
            archs,
        })
    }
}

/// The NVRTC found cannot compile for a device: its architecture is older than every one
/// this NVRTC supports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the NVRTC found cannot compile for compute capability {}.{} (it supports {}); install a \
     CUDA toolkit whose NVRTC supports this GPU",
    .cc / 10,
    .cc % 10,
    arch_list(.supported)
)]
pub struct UnsupportedArch {
    /// The device's compute capability, `major · 10 + minor`.
    pub cc: u32,
    /// The architectures the NVRTC supports.
    pub supported: Vec<u32>,
}

/// What NVRTC compiles the kernels to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelTarget {
    /// Machine code for `sm_<arch>`: runs on compute capability `arch` and on later minor
    /// versions of the same major (an `sm_86` CUBIN runs on an 8.9 device).
    Sass(u32),
    /// PTX for `compute_<arch>`, JIT-compiled by the driver when loaded.
    Ptx(u32),
}

impl KernelTarget {
    /// The target for a device of compute capability `cc` (`major · 10 + minor`) given the
    /// architectures NVRTC supports: SASS for the newest supported architecture of the
    /// device's major version not above it; else PTX for the newest supported one below it;
    /// else an error that says what to install.
    pub fn for_device(cc: u32, supported: &[u32]) -> Result<Self, UnsupportedArch> {
        let newest = |keep: &dyn Fn(u32) -> bool| {
            supported
                .iter()
                .copied()
                .filter(|&a| a <= cc && keep(a))
                .max()
        };
        if let Some(arch) = newest(&|a| a / 10 == cc / 10) {
            return Ok(Self::Sass(arch));
        }
        if let Some(arch) = newest(&|_| true) {
            return Ok(Self::Ptx(arch));
        }
        Err(UnsupportedArch {
            cc,
            supported: supported.to_vec(),
        })
    }

    /// NVRTC's `--gpu-architecture` value: `sm_90` or `compute_90`.
    pub fn arch_option(&self) -> String {
        match self {
            Self::Sass(a) => format!("sm_{a}"),
            Self::Ptx(a) => format!("compute_{a}"),
        }
    }
}

impl fmt::Display for KernelTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sass(a) => write!(f, "sm_{a} machine code"),
            Self::Ptx(a) => write!(f, "compute_{a} PTX (JIT-compiled by the driver)"),
        }
    }
}

fn arch_list(archs: &[u32]) -> String {
    if archs.is_empty() {
        return "none".into();
    }
    archs
        .iter()
        .map(|a| format!("sm_{a}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One kernel's resources as ptxas reported them for a CUBIN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelResources {
    /// The entry point.
    pub name: String,
    /// Registers per thread.
    pub registers: u32,
    /// Static shared memory per block, bytes.
    pub shared_bytes: u32,
    /// Stack frame per thread, bytes.
    pub stack_bytes: u32,
    /// Bytes spilled to local memory (stores).
    pub spill_stores: u32,
    /// Bytes spilled to local memory (loads).
    pub spill_loads: u32,
}

/// Registers of one multiprocessor's register file (and of one block), on every architecture
/// from Pascal on.
pub const REGISTERS_PER_BLOCK: u32 = 65_536;
/// Static shared memory one block may use without opting in, bytes.
pub const STATIC_SHARED_LIMIT: u32 = 48 * 1024;

impl KernelResources {
    /// The largest block (threads) the register file allows: registers are allocated per warp
    /// in units of 256, at most 255 per thread.
    pub fn max_threads_per_block(&self) -> u32 {
        if self.registers > 255 {
            return 0;
        }
        let per_warp = (self.registers.max(1) * 32).div_ceil(256) * 256;
        ((REGISTERS_PER_BLOCK / per_warp) * 32).min(1024)
    }

    /// Whether anything goes to local memory (a spill or a stack frame): slow, and never
    /// needed by these kernels.
    pub fn uses_local_memory(&self) -> bool {
        self.stack_bytes > 0 || self.spill_stores > 0 || self.spill_loads > 0
    }
}

/// The number before `unit` in `text` (`"48 registers"` → 48), if any.
fn figure(text: &str, unit: &str) -> Option<u32> {
    let end = text.find(unit)?;
    text.get(..end)?
        .split(|c: char| !c.is_ascii_digit())
        .rfind(|s| !s.is_empty())?
        .parse()
        .ok()
}

/// Every kernel's resources from an NVRTC log compiled with `--ptxas-options=-v`:
///
/// ```text
/// ptxas info    : Compiling entry function 'membw_pass' for 'sm_90'
/// ptxas info    : Function properties for membw_pass
/// ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
/// ptxas info    : Used 26 registers, used 0 barriers, 8192 bytes smem
/// ```
pub fn parse_ptxas_info(log: &str) -> Vec<KernelResources> {
    let mut kernels: Vec<KernelResources> = Vec::new();
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let name = rest.split('\'').next().unwrap_or_default();
            kernels.push(KernelResources {
                name: name.to_string(),
                ..KernelResources::default()
            });
            continue;
        }
        let Some(k) = kernels.last_mut() else {
            continue;
        };
        if line.contains("bytes stack frame") {
            k.stack_bytes = figure(line, "bytes stack frame").unwrap_or(0);
            k.spill_stores = figure(line, "bytes spill stores").unwrap_or(0);
            k.spill_loads = figure(line, "bytes spill loads").unwrap_or(0);
        } else if line.contains("Used") && line.contains("registers") {
            k.registers = figure(line, "registers").unwrap_or(0);
            k.shared_bytes = figure(line, "bytes smem").unwrap_or(0);
        }
    }
    kernels
}

/// The kernels compiled for one target: what the driver loads.
#[derive(Debug, Clone)]
pub struct CompiledKernels {
    /// What was compiled for.
    pub target: KernelTarget,
    /// The CUBIN ([`KernelTarget::Sass`]) or the PTX text ([`KernelTarget::Ptx`]).
    pub image: Vec<u8>,
    /// ptxas' report per kernel (a CUBIN only; empty for PTX).
    pub resources: Vec<KernelResources>,
}

impl CompiledKernels {
    /// The PTX text (for [`KernelTarget::Ptx`]; `None` for a CUBIN).
    pub fn ptx_text(&self) -> Option<&str> {
        match self.target {
            KernelTarget::Ptx(_) => std::str::from_utf8(&self.image).ok(),
            KernelTarget::Sass(_) => None,
        }
    }

    /// The image as cudarc loads it (`cuModuleLoadData` takes a CUBIN or PTX text).
    pub fn into_loadable(self) -> cudarc::nvrtc::Ptx {
        match self.target {
            KernelTarget::Sass(_) => cudarc::nvrtc::Ptx::from_binary(self.image),
            KernelTarget::Ptx(_) => {
                cudarc::nvrtc::Ptx::from_src(String::from_utf8_lossy(&self.image).into_owned())
            }
        }
    }
}

/// An NVRTC program, destroyed on every path.
struct Program {
    prog: sys::nvrtcProgram,
    // NVRTC may keep pointers into these until the program is destroyed.
    _source: CString,
    _name: CString,
}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: created by `create_program`, destroyed once.
        let _ = unsafe { result::destroy_program(self.prog) };
    }
}

fn c_text(raw: &[c_char]) -> String {
    let bytes: Vec<u8> = raw
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// [`cuda_kernels::SOURCE`] — the text the grid emulator tests, unchanged — compiled by NVRTC
/// for `target` with the options the backend uses for every device. Needs NVRTC, not a GPU;
/// without NVRTC it is an error, never a panic.
pub fn compile_kernels(target: KernelTarget) -> Result<CompiledKernels, BackendError> {
    if !nvrtc_present() {
        return Err(BackendError::Unavailable(NVRTC_MISSING.into()));
    }
    let source = CString::new(cuda_kernels::SOURCE)
        .map_err(|_| BackendError::Device("the kernel source holds a NUL byte".into()))?;
    let name = CString::new(cuda_kernels::PROGRAM_NAME)
        .map_err(|_| BackendError::Device("the program name holds a NUL byte".into()))?;
    let prog = result::create_program(&source, Some(&name)).map_err(nvrtc_err("create"))?;
    let program = Program {
        prog,
        _source: source,
        _name: name,
    };
    let mut options = vec![
        format!("--gpu-architecture={}", target.arch_option()),
        "-std=c++17".to_string(),
    ];
    if matches!(target, KernelTarget::Sass(_)) {
        options.push("--ptxas-options=-v".to_string());
    }
    // SAFETY: `program` holds a live program for the calls below.
    let compiled = unsafe { result::compile_program(program.prog, &options) };
    // SAFETY: as above.
    let log = unsafe { result::get_program_log(program.prog) }
        .map(|raw| c_text(&raw))
        .unwrap_or_default();
    if let Err(e) = compiled {
        return Err(BackendError::Device(format!(
            "NVRTC could not compile the kernels for {}: {e}\n{log}",
            target.arch_option()
        )));
    }
    let image = match target {
        KernelTarget::Sass(_) => {
            let mut size = 0usize;
            // SAFETY: as above; `size` is valid for one write.
            unsafe { sys::nvrtcGetCUBINSize(program.prog, &mut size) }
                .result()
                .map_err(nvrtc_err("CUBIN size"))?;
            let mut cubin = vec![0u8; size];
            // SAFETY: `cubin` holds the `size` bytes NVRTC writes.
            unsafe { sys::nvrtcGetCUBIN(program.prog, cubin.as_mut_ptr().cast::<c_char>()) }
                .result()
                .map_err(nvrtc_err("CUBIN"))?;
            cubin
        }
        KernelTarget::Ptx(_) => {
            // SAFETY: as above.
            let raw = unsafe { result::get_ptx(program.prog) }.map_err(nvrtc_err("PTX"))?;
            c_text(&raw).into_bytes()
        }
    };
    Ok(CompiledKernels {
        target,
        image,
        resources: match target {
            KernelTarget::Sass(_) => parse_ptxas_info(&log),
            KernelTarget::Ptx(_) => Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NVRTC_12_9: [u32; 19] = [
        50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90, 100, 101, 103, 120, 121,
    ];

    #[test]
    fn a_device_nvrtc_knows_gets_its_own_machine_code() {
        for cc in ARCHES {
            assert_eq!(
                KernelTarget::for_device(cc, &NVRTC_12_9),
                Ok(KernelTarget::Sass(cc))
            );
        }
        // A later minor version runs the newest CUBIN of its major version.
        let older = [61, 70, 75, 80, 86, 90];
        assert_eq!(
            KernelTarget::for_device(89, &older),
            Ok(KernelTarget::Sass(86))
        );
        assert_eq!(
            KernelTarget::for_device(87, &older),
            Ok(KernelTarget::Sass(86))
        );
        assert_eq!(KernelTarget::Sass(90).arch_option(), "sm_90");
    }

    #[test]
    fn a_device_newer_than_nvrtc_gets_ptx_and_an_older_one_an_error() {
        let cuda_12_4 = [50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90];
        assert_eq!(
            KernelTarget::for_device(120, &cuda_12_4),
            Ok(KernelTarget::Ptx(90))
        );
        assert_eq!(KernelTarget::Ptx(90).arch_option(), "compute_90");
        // NVRTC 13 dropped Pascal and Volta.
        let cuda_13 = [75, 80, 86, 87, 89, 90, 100, 103, 110, 120, 121];
        let err = KernelTarget::for_device(61, &cuda_13)
            .unwrap_err()
            .to_string();
        assert!(err.contains("6.1") && err.contains("sm_75"), "{err}");
        assert!(
            KernelTarget::for_device(90, &[])
                .unwrap_err()
                .to_string()
                .contains("none")
        );
    }

    #[test]
    fn the_ptxas_report_is_read_per_kernel() {
        let log = "ptxas info    : 0 bytes gmem\n\
ptxas info    : Compiling entry function 'gemm_i8_dp4a' for 'sm_61'\n\
ptxas info    : Function properties for gemm_i8_dp4a\n\
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
ptxas info    : Used 47 registers, used 1 barriers, 4608 bytes smem, 356 bytes cmem[0]\n\
ptxas info    : Compile time = 51.963 ms\n\
ptxas info    : Compiling entry function 'membw_fill' for 'sm_61'\n\
ptxas info    : Function properties for membw_fill\n\
ptxas         .     16 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads\n\
ptxas info    : Used 38 registers, used 0 barriers, 356 bytes cmem[0]\n";
        let got = parse_ptxas_info(log);
        assert_eq!(
            got,
            vec![
                KernelResources {
                    name: "gemm_i8_dp4a".into(),
                    registers: 47,
                    shared_bytes: 4608,
                    ..KernelResources::default()
                },
                KernelResources {
                    name: "membw_fill".into(),
                    registers: 38,
                    shared_bytes: 0,
                    stack_bytes: 16,
                    spill_stores: 8,
                    spill_loads: 12,
                },
            ]
        );
        assert!(!got[0].uses_local_memory());
        assert!(got[1].uses_local_memory());
        assert!(parse_ptxas_info("garbage\nUsed 3 registers").is_empty());
    }

    #[test]
    fn register_use_bounds_the_block() {
        let with = |registers| KernelResources {
            registers,
            ..KernelResources::default()
        };
        assert_eq!(with(0).max_threads_per_block(), 1024);
        assert_eq!(with(32).max_threads_per_block(), 1024);
        assert_eq!(with(64).max_threads_per_block(), 1024);
        // 65 registers round up to 72 per thread: 2 304 a warp, 28 warps.
        assert_eq!(with(65).max_threads_per_block(), 896);
        assert_eq!(with(128).max_threads_per_block(), 512);
        assert_eq!(with(255).max_threads_per_block(), 256);
        assert_eq!(with(256).max_threads_per_block(), 0);
    }
}
