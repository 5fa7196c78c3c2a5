//! The `Backend` trait: what a device must do for the sandbox.
//!
//! The sandbox ([`crate::Sandbox`]) checks every guest argument (handles, sizes, shapes,
//! budget) *before* it calls a backend, so a backend may assume well-formed requests; it still
//! returns [`BackendError`] rather than panicking if one is not. A backend owns device buffers
//! named by [`BufferId`] and the committed outputs of a challenge, and produces openings for
//! them. The `cpu` backend ([`crate::cpu`]) is the reference; the `cuda` backend (in
//! `miner-host`) must equal it bit for bit.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use challenges::commitment::Opening;
use challenges::membw::Permutation;
use challenges::prf::PhiloxKey;
use thiserror::Error;

/// A device buffer, as named by a backend session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub u64);

/// What a backend says about one of its devices (claims; the verifier trusts none of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Index on this machine.
    pub index: u32,
    /// Name as the driver reports it (`cpu-reference` for the CPU backend).
    pub name: String,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Driver UUID, if any.
    pub uuid: Option<String>,
    /// PCI address (`DDDDDDDD:BB:DD.F`) as the driver reports it; `None` for a device without
    /// one (the CPU backend).
    pub pci_bus_id: Option<String>,
    /// Current PCIe generation of the device's link, where the OS reports it.
    pub pcie_gen: Option<u8>,
    /// Current PCIe link width (lanes), where the OS reports it.
    pub pcie_width: Option<u8>,
}

/// The kind of a backend, as reported to modules by `device_info`, and as operators name it
/// (`cpu`, `cuda`: the one place a backend name is parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// The multi-threaded CPU reference.
    Cpu = 0,
    /// NVIDIA GPUs through CUDA.
    Cuda = 1,
}

impl BackendKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [BackendKind; 2] = [BackendKind::Cpu, BackendKind::Cuda];

    /// The name operators use (`cpu`, `cuda`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A backend name that is none of [`BackendKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown backend {0:?}: use \"cpu\" (the CPU reference) or \"cuda\" (NVIDIA GPUs)")]
pub struct UnknownBackend(pub String);

impl std::str::FromStr for BackendKind {
    type Err = UnknownBackend;

    /// `cpu` or `cuda`; nothing else (never a fallback).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownBackend(s.to_string()))
    }
}

/// A backend failure. Messages say which device and what to do.
#[derive(Debug, Error)]
pub enum BackendError {
    /// No device with this index.
    #[error("no device {index} (this backend has {count})")]
    NoDevice {
        /// The index asked for.
        index: u32,
        /// Devices available.
        count: u32,
    },
    /// The device is running another challenge.
    #[error("device {0} is busy with another challenge; one challenge per device at a time")]
    Busy(u32),
    /// A buffer id this session does not know.
    #[error("unknown buffer {0:?}")]
    UnknownBuffer(BufferId),
    /// A request the backend cannot honour (sizes, shapes).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The device could not allocate.
    #[error("device out of memory allocating {bytes} bytes: {detail}")]
    OutOfMemory {
        /// Bytes requested.
        bytes: u64,
        /// The device's own words.
        detail: String,
    },
    /// No committed output with this index.
    #[error("no committed output {0}")]
    NoOutput(u32),
    /// The device failed; `detail` has the driver's words.
    #[error("device error: {0}")]
    Device(String),
    /// The backend is not usable on this machine (e.g. no CUDA driver).
    #[error("{0}")]
    Unavailable(String),
}

/// A committed output: its root and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// `BLAKE3(output bytes)`.
    pub root: [u8; 32],
    /// Output length in bytes.
    pub len: u64,
}

impl Committed {
    /// The root and length an opening tree commits to: what every backend's `commit` returns.
    pub fn of(tree: &challenges::commitment::OutputTree) -> Self {
        Self {
            root: *tree.root().as_bytes(),
            len: tree.output_len(),
        }
    }
}

/// A machine's devices of one kind.
pub trait Backend: Send + Sync {
    /// Short name (`cpu`, `cuda`).
    fn name(&self) -> &'static str;
    /// Kind, as reported to modules.
    fn kind(&self) -> BackendKind;
    /// The devices this backend can run challenges on.
    fn devices(&self) -> Vec<DeviceInfo>;
    /// Opens a session on `device` for one challenge. Fails with [`BackendError::Busy`] while
    /// another session holds the device; the device is free again when the session is dropped,
    /// and every buffer and output of the session is freed then, on every path.
    fn open(&self, device: u32) -> Result<Box<dyn DeviceSession>, BackendError>;
}

/// One challenge's use of one device. Dropping it frees everything it holds.
pub trait DeviceSession: Send {
    /// Device index.
    fn device(&self) -> u32;
    /// A new zeroed buffer of `bytes` bytes.
    fn alloc(&mut self, bytes: u64) -> Result<BufferId, BackendError>;
    /// Frees a buffer.
    fn free(&mut self, buf: BufferId) -> Result<(), BackendError>;
    /// Writes elements `start .. start + len` of tensor `tensor_id` under `key` at
    /// `buf[offset .. offset + len]` (`challenges::prf::fill_tensor`).
    fn prf_fill(
        &mut self,
        buf: BufferId,
        offset: u64,
        len: u64,
        key: PhiloxKey,
        tensor_id: u32,
        start: u64,
    ) -> Result<(), BackendError>;
    /// `c` = `a · b` as tile-major `i32` (`a`: `m×k` int8, `b`: `k×n` int8, row-major).
    fn gemm_i8(
        &mut self,
        a: BufferId,
        b: BufferId,
        c: BufferId,
        m: u32,
        n: u32,
        k: u32,
    ) -> Result<(), BackendError>;
    /// The `membw` fill of the whole buffer (`challenges::membw::fill`).
    fn membw_fill(
        &mut self,
        buf: BufferId,
        key: PhiloxKey,
        rounds: u32,
    ) -> Result<(), BackendError>;
    /// One `membw` pass over `buf` (groups of `group` bytes) into `out` (`8·G` bytes).
    fn membw_pass(
        &mut self,
        buf: BufferId,
        out: BufferId,
        group: u32,
        pass: u32,
        perm: &Permutation,
    ) -> Result<(), BackendError>;
    /// Commits the buffer's current bytes as the next output; returns its root and length.
    /// The session keeps what it needs to open any leaf of it later.
    fn commit(&mut self, buf: BufferId) -> Result<Committed, BackendError>;
    /// Roots of the outputs committed so far, in order.
    fn roots(&self) -> Vec<[u8; 32]>;
    /// The opening of leaf `leaf` of committed output `output`.
    fn open_leaf(&self, output: u32, leaf: u64) -> Result<Opening, BackendError>;
    /// Copies all of `src` into the start of `dst` on the device (`dst` at least as long).
    /// Not reachable from guests: `bench` uses it as the device's copy-bandwidth reference.
    fn copy(&mut self, src: BufferId, dst: BufferId) -> Result<(), BackendError>;
    /// Waits for queued device work.
    fn sync(&mut self) -> Result<(), BackendError>;
    /// Copies `len` bytes at `offset` of a buffer to the host (tests and diagnostics).
    fn read(&self, buf: BufferId, offset: u64, len: u64) -> Result<Vec<u8>, BackendError>;
}

/// The "one challenge per device at a time" flag of one device, shared by every backend.
#[derive(Debug, Default)]
pub struct DeviceLock(AtomicBool);

impl DeviceLock {
    /// Claims device `index` for one session: [`BackendError::Busy`] while another claim is
    /// alive. The claim frees the device when dropped, on every path.
    pub fn claim(self: &Arc<Self>, index: u32) -> Result<DeviceClaim, BackendError> {
        if self.0.swap(true, Ordering::AcqRel) {
            return Err(BackendError::Busy(index));
        }
        Ok(DeviceClaim {
            lock: Arc::clone(self),
            index,
        })
    }
}

/// A live claim on a device (see [`DeviceLock::claim`]); dropping it frees the device.
#[derive(Debug)]
pub struct DeviceClaim {
    lock: Arc<DeviceLock>,
    index: u32,
}

impl DeviceClaim {
    /// The claimed device's index.
    pub fn index(&self) -> u32 {
        self.index
    }
}

impl Drop for DeviceClaim {
    fn drop(&mut self) {
        self.lock.0.store(false, Ordering::Release);
    }
}

/// `offset .. offset + len` as a `usize` range inside a buffer of `size` bytes, or
/// [`BackendError::Invalid`] naming `what` when it does not fit.
pub fn byte_range(
    offset: u64,
    len: u64,
    size: usize,
    what: &str,
) -> Result<Range<usize>, BackendError> {
    let end = offset.checked_add(len);
    match (usize::try_from(offset), end.map(usize::try_from)) {
        (Ok(start), Some(Ok(end))) if end <= size => Ok(start..end),
        _ => Err(BackendError::Invalid(format!(
            "{what}: bytes {offset}..{} are outside a buffer of {size} bytes",
            end.map_or_else(|| "overflow".to_string(), |e| e.to_string())
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_parse_one_way() {
        for kind in BackendKind::ALL {
            assert_eq!(kind.as_str().parse::<BackendKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        let Err(err) = "gpu".parse::<BackendKind>() else {
            panic!("`gpu` is no backend");
        };
        assert!(err.to_string().contains("\"cpu\""), "{err}");
        assert!("CPU".parse::<BackendKind>().is_err());
    }
}
