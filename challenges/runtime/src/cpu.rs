//! The `cpu` backend: the multi-threaded reference, bit-identical to `challenges`.
//!
//! Each device is a fixed pool of worker threads (rayon), so a machine with no GPU can serve
//! challenges as the `cpu-reference` class, and the verifier can recompute anything. Buffers are
//! host memory; committed outputs are kept (bytes and tree) until the session ends, so any leaf
//! can be opened. The kernels (Philox fills, GEMM tiles, `membw` fill and fold) are
//! `challenges::simd`'s widest for this CPU, bit-identical to the spec functions.

use std::collections::HashMap;
use std::sync::Arc;

use challenges::commitment::{self, Opening, OutputTree};
use challenges::membw::{self, Permutation};
use challenges::prf::{self, PhiloxKey};
use challenges::simd::{self, Kernels};
use challenges::tiles::TILE;
use rayon::prelude::*;

use crate::backend::{
    Backend, BackendError, BackendKind, BufferId, Committed, DeviceClaim, DeviceInfo, DeviceLock,
    DeviceSession, byte_range,
};

/// Name every CPU device reports (and the GPU class it maps to).
pub const DEVICE_NAME: &str = "cpu-reference";

/// How a CPU backend is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuConfig {
    /// Number of devices offered.
    pub devices: u32,
    /// Worker threads per device.
    pub threads_per_device: usize,
    /// Memory each device reports (and the most one session may allocate).
    pub memory_bytes: u64,
}

impl Default for CpuConfig {
    /// One device using every core, reporting 4 GiB.
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Self {
            devices: 1,
            threads_per_device: cores,
            memory_bytes: 4 << 30,
        }
    }
}

struct CpuDevice {
    index: u32,
    lock: Arc<DeviceLock>,
    pool: rayon::ThreadPool,
    memory_bytes: u64,
}

/// The multi-threaded CPU reference backend.
pub struct CpuBackend {
    devices: Vec<Arc<CpuDevice>>,
}

impl CpuBackend {
    /// A backend with the given layout. Fails if a thread pool cannot be started.
    pub fn new(config: CpuConfig) -> Result<Self, BackendError> {
        let devices = (0..config.devices.max(1))
            .map(|index| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(config.threads_per_device.max(1))
                    .thread_name(move |i| format!("cpu-dev{index}-{i}"))
                    .build()
                    .map_err(|e| {
                        BackendError::Unavailable(format!("cannot start CPU worker threads: {e}"))
                    })?;
                Ok(Arc::new(CpuDevice {
                    index,
                    lock: Arc::default(),
                    pool,
                    memory_bytes: config.memory_bytes,
                }))
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        Ok(Self { devices })
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Cpu
    }

    fn devices(&self) -> Vec<DeviceInfo> {
        self.devices
            .iter()
            .map(|d| DeviceInfo {
                index: d.index,
                name: DEVICE_NAME.to_string(),
                memory_bytes: d.memory_bytes,
                uuid: None,
                pci_bus_id: None,
                pcie_gen: None,
                pcie_width: None,
            })
            .collect()
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
        Ok(Box::new(CpuSession {
            device: Arc::clone(dev),
            buffers: HashMap::new(),
            next: 1,
            outputs: Vec::new(),
            _claim: claim,
        }))
    }
}

struct CpuOutput {
    committed: Committed,
    tree: OutputTree,
    bytes: Vec<u8>,
}

/// One session on a CPU device. Field order matters: buffers and outputs drop before the
/// claim frees the device.
struct CpuSession {
    device: Arc<CpuDevice>,
    buffers: HashMap<u64, Vec<u8>>,
    next: u64,
    outputs: Vec<CpuOutput>,
    _claim: DeviceClaim,
}

/// Elements per parallel work item of a PRF fill (a multiple of the Philox block).
const FILL_CHUNK: usize = 64 << 10;

impl CpuSession {
    fn buf(&self, id: BufferId) -> Result<&Vec<u8>, BackendError> {
        self.buffers
            .get(&id.0)
            .ok_or(BackendError::UnknownBuffer(id))
    }

    fn buf_mut(&mut self, id: BufferId) -> Result<&mut Vec<u8>, BackendError> {
        self.buffers
            .get_mut(&id.0)
            .ok_or(BackendError::UnknownBuffer(id))
    }

    /// Takes a buffer out of the map for the duration of `f`, so that it can be written while
    /// others are read.
    fn with_taken<R>(
        &mut self,
        id: BufferId,
        f: impl FnOnce(&Self, &mut Vec<u8>) -> Result<R, BackendError>,
    ) -> Result<R, BackendError> {
        let mut taken = self
            .buffers
            .remove(&id.0)
            .ok_or(BackendError::UnknownBuffer(id))?;
        let result = f(self, &mut taken);
        self.buffers.insert(id.0, taken);
        result
    }
}

fn invalid(msg: impl Into<String>) -> BackendError {
    BackendError::Invalid(msg.into())
}

impl DeviceSession for CpuSession {
    fn device(&self) -> u32 {
        self.device.index
    }

    fn alloc(&mut self, bytes: u64) -> Result<BufferId, BackendError> {
        let len = usize::try_from(bytes)
            .map_err(|_| invalid(format!("{bytes} bytes do not fit in memory")))?;
        let mut v = Vec::new();
        v.try_reserve_exact(len)
            .map_err(|e| BackendError::OutOfMemory {
                bytes,
                detail: e.to_string(),
            })?;
        v.resize(len, 0);
        let id = self.next;
        self.next += 1;
        self.buffers.insert(id, v);
        Ok(BufferId(id))
    }

    fn free(&mut self, buf: BufferId) -> Result<(), BackendError> {
        self.buffers
            .remove(&buf.0)
            .map(|_| ())
            .ok_or(BackendError::UnknownBuffer(buf))
    }

    fn prf_fill(
        &mut self,
        buf: BufferId,
        offset: u64,
        len: u64,
        key: PhiloxKey,
        tensor_id: u32,
        start: u64,
    ) -> Result<(), BackendError> {
        let pool = Arc::clone(&self.device);
        let data = self.buf_mut(buf)?;
        let range = byte_range(offset, len, data.len(), "prf_fill")?;
        let range = data.get_mut(range).unwrap_or_default();
        pool.pool.install(|| {
            range
                .par_chunks_mut(FILL_CHUNK)
                .enumerate()
                .for_each(|(i, part)| {
                    let start = start + (i * FILL_CHUNK) as u64;
                    Kernels::best().fill_tensor(key, tensor_id, start, part);
                })
        });
        Ok(())
    }

    fn gemm_i8(
        &mut self,
        a: BufferId,
        b: BufferId,
        c: BufferId,
        m: u32,
        n: u32,
        k: u32,
    ) -> Result<(), BackendError> {
        let (m, n, k) = (m as usize, n as usize, k as usize);
        if m % TILE != 0 || n % TILE != 0 || k % TILE != 0 || m == 0 || n == 0 || k == 0 {
            return Err(invalid("gemm dimensions must be non-zero multiples of 16"));
        }
        let device = Arc::clone(&self.device);
        self.with_taken(c, |s, c_data| {
            let a_data = s.buf(a)?;
            let b_data = s.buf(b)?;
            if a_data.len() < m * k || b_data.len() < k * n || c_data.len() < m * n * 4 {
                return Err(invalid("gemm buffers are smaller than m×k, k×n and 4·m·n"));
            }
            let c_out = c_data.get_mut(..m * n * 4).unwrap_or(&mut []);
            let b_data = b_data.get(..k * n).unwrap_or(&[]);
            let kernels = Kernels::best();
            device.pool.install(|| {
                // B once in the kernels' layout (column blocks of `k × 16`), then every band's
                // tiles from it (`Kernels::gemm_band`: tile-major, as the spec lays them out).
                let packed = simd::pack_b(b_data, n, k)
                    .ok_or_else(|| invalid("gemm B buffer does not hold k×n bytes"))?;
                c_out
                    .par_chunks_mut(TILE * n * 4)
                    .enumerate()
                    .try_for_each(|(band, out)| {
                        let a_band = a_data
                            .get(band * TILE * k..(band + 1) * TILE * k)
                            .unwrap_or(&[]);
                        kernels
                            .gemm_band(a_band, &packed, n, k, out)
                            .map_err(|e| invalid(e.to_string()))
                    })
            })
        })
    }

    fn membw_fill(
        &mut self,
        buf: BufferId,
        key: PhiloxKey,
        rounds: u32,
    ) -> Result<(), BackendError> {
        let device = Arc::clone(&self.device);
        let data = self.buf_mut(buf)?;
        if data.len() % prf::BLOCK_BYTES != 0 {
            return Err(invalid("membw buffer must be a multiple of 16 bytes"));
        }
        device.pool.install(|| {
            data.par_chunks_mut(FILL_CHUNK)
                .enumerate()
                .for_each(|(i, part)| {
                    let first = (i * FILL_CHUNK / prf::BLOCK_BYTES) as u64;
                    Kernels::best().membw_fill_blocks(key, rounds, first, part);
                })
        });
        Ok(())
    }

    fn membw_pass(
        &mut self,
        buf: BufferId,
        out: BufferId,
        group: u32,
        pass: u32,
        perm: &Permutation,
    ) -> Result<(), BackendError> {
        let g = group as usize;
        let device = Arc::clone(&self.device);
        self.with_taken(out, |s, out_data| {
            let data = s.buf(buf)?;
            if g == 0 || data.len() % g != 0 {
                return Err(invalid("membw buffer is not a whole number of groups"));
            }
            let groups = data.len() / g;
            if out_data.len() < groups * membw::OUTPUT_BYTES {
                return Err(invalid(
                    "membw output buffer is smaller than 8 bytes per group",
                ));
            }
            let outs = out_data
                .get_mut(..groups * membw::OUTPUT_BYTES)
                .unwrap_or(&mut []);
            let kernels = Kernels::best();
            device.pool.install(|| {
                outs.par_chunks_mut(membw::OUTPUT_BYTES)
                    .enumerate()
                    .try_for_each(|(b, dst)| {
                        let pi = perm.apply(b as u64) as usize;
                        let gb = data.get(b * g..(b + 1) * g).unwrap_or(&[]);
                        let gp = data.get(pi * g..(pi + 1) * g).unwrap_or(&[]);
                        let v = kernels
                            .fold(pass, b as u64, gb, gp)
                            .map_err(|e| invalid(e.to_string()))?;
                        dst.copy_from_slice(&v.to_le_bytes());
                        Ok(())
                    })
            })
        })
    }

    fn commit(&mut self, buf: BufferId) -> Result<Committed, BackendError> {
        let device = Arc::clone(&self.device);
        let bytes = self.buf(buf)?.clone();
        let tree = device.pool.install(|| build_tree(&bytes))?;
        let committed = Committed::of(&tree);
        self.outputs.push(CpuOutput {
            committed,
            tree,
            bytes,
        });
        Ok(committed)
    }

    fn roots(&self) -> Vec<[u8; 32]> {
        self.outputs.iter().map(|o| o.committed.root).collect()
    }

    fn open_leaf(&self, output: u32, leaf: u64) -> Result<Opening, BackendError> {
        let out = self
            .outputs
            .get(output as usize)
            .ok_or(BackendError::NoOutput(output))?;
        out.tree
            .open(&out.bytes, leaf)
            .map_err(|e| invalid(e.to_string()))
    }

    fn copy(&mut self, src: BufferId, dst: BufferId) -> Result<(), BackendError> {
        if src == dst {
            return Err(invalid("copy source and destination are the same buffer"));
        }
        let device = Arc::clone(&self.device);
        self.with_taken(dst, |s, dst_data| {
            let src_data = s.buf(src)?;
            let dst_data = dst_data
                .get_mut(..src_data.len())
                .ok_or_else(|| invalid("copy destination is shorter than its source"))?;
            device.pool.install(|| {
                dst_data
                    .par_chunks_mut(FILL_CHUNK)
                    .zip(src_data.par_chunks(FILL_CHUNK))
                    .for_each(|(d, s)| d.copy_from_slice(s))
            });
            Ok(())
        })
    }

    fn sync(&mut self) -> Result<(), BackendError> {
        Ok(())
    }

    fn read(&self, buf: BufferId, offset: u64, len: u64) -> Result<Vec<u8>, BackendError> {
        let data = self.buf(buf)?;
        let range = byte_range(offset, len, data.len(), "read")?;
        Ok(data.get(range).unwrap_or_default().to_vec())
    }
}

/// Builds an output's opening tree on the current rayon pool: the block chaining values in
/// parallel, then the upper levels. Equal to `OutputTree::new(bytes)`.
pub fn build_tree(bytes: &[u8]) -> Result<OutputTree, BackendError> {
    let height = commitment::DEFAULT_BLOCK_HEIGHT;
    let blocks = commitment::block_count(bytes.len() as u64, height);
    if blocks <= 1 {
        return OutputTree::with_block_height(bytes, height).map_err(|e| invalid(e.to_string()));
    }
    let block_len = commitment::CHUNK_LEN << height;
    let cvs = bytes
        .par_chunks(block_len)
        .enumerate()
        .map(|(i, block)| {
            commitment::subtree_cv(block, (i * (block_len / commitment::CHUNK_LEN)) as u64)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    OutputTree::from_block_cvs(bytes.len() as u64, height, cvs).map_err(|e| invalid(e.to_string()))
}
