//! One challenge's use of one GPU: buffers, kernel launches, on-device commitment, openings.

use std::collections::HashMap;
use std::sync::Arc;

use challenge_runtime::{
    BackendError, BufferId, Committed, DeviceClaim, DeviceSession, byte_range,
};
use challenges::commitment::{self, ChainingValue, Opening, OutputTree};
use challenges::membw::Permutation;
use challenges::prf::PhiloxKey;
use cuda_kernels::launch::{self, DEFAULT_THREADS, Launch};
use cudarc::driver::{
    CudaFunction, CudaModule, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};

use super::cublaslt::{self, LtError, LtGemm};
use super::{GemmMode, LtSlot, driver_err};

struct Output {
    committed: Committed,
    tree: OutputTree,
    /// A device copy of the output, so the module may reuse its buffer; openings read one
    /// block of it back.
    data: CudaSlice<u8>,
}

/// A session on one GPU. Field order matters: device memory drops before the device is
/// released.
pub(crate) struct CudaSession {
    buffers: HashMap<u64, CudaSlice<u8>>,
    outputs: Vec<Output>,
    functions: HashMap<&'static str, CudaFunction>,
    /// cuBLASLt's workspace, allocated on the first cuBLASLt GEMM of the session.
    workspace: Option<CudaSlice<u8>>,
    next: u64,
    lt: Arc<LtSlot>,
    module: Arc<CudaModule>,
    stream: Arc<CudaStream>,
    claim: DeviceClaim,
}

fn geometry(e: launch::GeometryError) -> BackendError {
    BackendError::Invalid(format!("kernel launch geometry: {e}"))
}

fn config(l: Launch) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (l.grid[0], l.grid[1], l.grid[2]),
        block_dim: (l.block[0], l.block[1], l.block[2]),
        shared_mem_bytes: 0,
    }
}

fn usize_of(v: u64) -> Result<usize, BackendError> {
    usize::try_from(v).map_err(|_| {
        BackendError::Invalid(format!("{v} does not fit this machine's address space"))
    })
}

/// What one cuBLASLt product needs besides its operands ([`CudaSession::lt_scratch`]).
struct LtScratch {
    transpose: CudaFunction,
    transpose_cfg: LaunchConfig,
    /// B transposed: `n × k` bytes.
    bt: CudaSlice<u8>,
    /// The row-major `i32` product: `4·m·n` bytes.
    product: CudaSlice<u8>,
    /// The session's cuBLASLt workspace, lent for the call: give it back to the session.
    workspace: CudaSlice<u8>,
}

/// Transposes `b` into `scratch.bt`, then has cuBLASLt write `a · b` into `scratch.product`.
fn lt_run(
    stream: &Arc<CudaStream>,
    lt: &LtGemm,
    scratch: &mut LtScratch,
    a: &CudaSlice<u8>,
    b: &CudaSlice<u8>,
    (m, n, k): (u32, u32, u32),
) -> Result<(), LtError> {
    let need = |what: &str, slice: &CudaSlice<u8>, bytes: u64| {
        if (slice.len() as u64) < bytes {
            Err(LtError::Failed(format!(
                "{what} holds {} bytes, {bytes} needed",
                slice.len()
            )))
        } else {
            Ok(())
        }
    };
    let (m64, n64, k64) = (u64::from(m), u64::from(n), u64::from(k));
    need("A", a, m64 * k64)?;
    need("B", b, k64 * n64)?;
    need("the transposed B", &scratch.bt, k64 * n64)?;
    need("the product", &scratch.product, 4 * m64 * n64)?;
    need(
        "the workspace",
        &scratch.workspace,
        cublaslt::WORKSPACE_BYTES as u64,
    )?;
    // SAFETY: matches `transpose_i8` (in = k × n bytes, out = n × k bytes; both checked above).
    unsafe {
        stream
            .launch_builder(&scratch.transpose)
            .arg(b)
            .arg(&mut scratch.bt)
            .arg(&k)
            .arg(&n)
            .launch(scratch.transpose_cfg)
    }
    .map_err(|e| LtError::Failed(format!("transpose_i8: {e}")))?;
    // SAFETY: every size `matmul` requires was checked above; all slices belong to the
    // session's context.
    unsafe {
        lt.matmul(
            stream,
            a,
            &scratch.bt,
            &mut scratch.product,
            &mut scratch.workspace,
            m,
            n,
            k,
        )
    }
}

impl CudaSession {
    pub(crate) fn new(
        claim: DeviceClaim,
        module: Arc<CudaModule>,
        stream: Arc<CudaStream>,
        lt: Arc<LtSlot>,
    ) -> Self {
        Self {
            buffers: HashMap::new(),
            outputs: Vec::new(),
            functions: HashMap::new(),
            workspace: None,
            next: 1,
            lt,
            module,
            stream,
            claim,
        }
    }

    fn function(&mut self, name: &'static str) -> Result<CudaFunction, BackendError> {
        if let Some(f) = self.functions.get(name) {
            return Ok(f.clone());
        }
        let f = self.module.load_function(name).map_err(driver_err(name))?;
        self.functions.insert(name, f.clone());
        Ok(f)
    }

    fn take(&mut self, id: BufferId) -> Result<CudaSlice<u8>, BackendError> {
        self.buffers
            .remove(&id.0)
            .ok_or(BackendError::UnknownBuffer(id))
    }

    fn put(&mut self, id: BufferId, slice: CudaSlice<u8>) {
        self.buffers.insert(id.0, slice);
    }

    fn alloc_raw(&self, bytes: usize) -> Result<CudaSlice<u8>, BackendError> {
        self.stream
            .alloc_zeros::<u8>(bytes.max(1))
            .map_err(|e| BackendError::OutOfMemory {
                bytes: bytes as u64,
                detail: e.to_string(),
            })
    }

    /// The row-major `i32` product of buffers `a` (`m × k`) and `b` (`k × n`) by the dp4a
    /// kernel.
    fn dp4a_product(
        &mut self,
        a: BufferId,
        b: BufferId,
        m: u32,
        n: u32,
        k: u32,
    ) -> Result<CudaSlice<u8>, BackendError> {
        let gemm = self.function(cuda_kernels::GEMM_I8_DP4A)?;
        let gemm_cfg = config(launch::gemm_i8_dp4a(m, n, k).map_err(geometry)?);
        let mut row_major = self.alloc_raw(usize_of(4 * u64::from(m) * u64::from(n))?)?;
        let (ab, bb) = (
            self.buffers
                .get(&a.0)
                .ok_or(BackendError::UnknownBuffer(a))?,
            self.buffers
                .get(&b.0)
                .ok_or(BackendError::UnknownBuffer(b))?,
        );
        // SAFETY: matches `gemm_i8_dp4a`; the sandbox checked a = m·k, b = k·n bytes and
        // `row_major` holds m·n i32.
        unsafe {
            self.stream
                .launch_builder(&gemm)
                .arg(ab)
                .arg(bb)
                .arg(&mut row_major)
                .arg(&m)
                .arg(&n)
                .arg(&k)
                .launch(gemm_cfg)
        }
        .map_err(driver_err("gemm_i8_dp4a"))?;
        Ok(row_major)
    }

    /// The device's cuBLASLt handle if this device uses it: decided on the first GEMM (handle,
    /// then the self-check of [`cublaslt`]) and logged; `None` means the dp4a kernel.
    fn cublaslt(&mut self) -> Result<Option<Arc<LtGemm>>, BackendError> {
        let slot = Arc::clone(&self.lt);
        if slot.mode == GemmMode::Dp4a {
            return Ok(None);
        }
        let state = slot.state.get_or_init(|| {
            let decided = LtGemm::new(&self.stream).map(Arc::new).and_then(|lt| {
                self.lt_self_check(&lt)?;
                Ok(lt)
            });
            match &decided {
                Ok(_) => tracing::info!(
                    device = slot.device,
                    "cuBLASLt int8 GEMM passed its self-check; using it"
                ),
                Err(why) => tracing::warn!(
                    device = slot.device,
                    "cuBLASLt int8 GEMM not used ({why}); using the dp4a kernel"
                ),
            }
            decided
        });
        match (state, slot.mode) {
            (Ok(lt), _) => Ok(Some(Arc::clone(lt))),
            (Err(why), GemmMode::CublasLt) => Err(BackendError::Device(format!(
                "{}=cublaslt, but cuBLASLt cannot be used on device {}: {why}",
                GemmMode::ENV,
                slot.device
            ))),
            _ => Ok(None),
        }
    }

    /// The self-check: [`cublaslt::SELF_CHECK`]'s product through the whole cuBLASLt path
    /// must equal the `challenges` reference.
    fn lt_self_check(&mut self, lt: &LtGemm) -> Result<(), String> {
        let params = cublaslt::SELF_CHECK;
        let seed = cublaslt::SELF_CHECK_SEED;
        let (a, b) = cublaslt::spec_operands(&params, &seed);
        let upload = |bytes: &[u8]| {
            self.stream
                .clone_htod(bytes)
                .map_err(|e| format!("copying the self-check operands: {e}"))
        };
        let (a_dev, b_dev) = (upload(&a)?, upload(&b)?);
        let (m, n, k) = (params.m, params.n, params.k);
        let mut scratch = self.lt_scratch(m, n, k).map_err(|e| e.to_string())?;
        let ran = lt_run(&self.stream, lt, &mut scratch, &a_dev, &b_dev, (m, n, k));
        self.workspace = Some(scratch.workspace);
        ran.map_err(|(LtError::Unsupported(why) | LtError::Failed(why))| why)?;
        let got = self
            .stream
            .clone_dtoh(&scratch.product)
            .map_err(|e| format!("reading the self-check product: {e}"))?;
        if !cublaslt::is_spec_product(&got, &params, &seed) {
            return Err(format!(
                "its {m} x {n} x {k} self-check product differs from the host's"
            ));
        }
        Ok(())
    }

    /// Kernels and device memory for one cuBLASLt product, taken before the operands are
    /// borrowed (the workspace is the session's, allocated once).
    fn lt_scratch(&mut self, m: u32, n: u32, k: u32) -> Result<LtScratch, BackendError> {
        let transpose = self.function(cuda_kernels::TRANSPOSE_I8)?;
        let transpose_cfg = config(launch::transpose_i8(k, n).map_err(geometry)?);
        let bt = self.alloc_raw(usize_of(u64::from(k) * u64::from(n))?)?;
        let product = self.alloc_raw(usize_of(4 * u64::from(m) * u64::from(n))?)?;
        let workspace = match self.workspace.take() {
            Some(w) => w,
            None => self.alloc_raw(cublaslt::WORKSPACE_BYTES)?,
        };
        Ok(LtScratch {
            transpose,
            transpose_cfg,
            bt,
            product,
            workspace,
        })
    }

    /// The row-major product of buffers `a` and `b` by cuBLASLt, or `None` where the dp4a
    /// kernel must do it: a shape cuBLASLt refuses, or (unless `GPUPROOF_CUDA_GEMM=cublaslt`)
    /// a failure, logged.
    fn lt_product(
        &mut self,
        lt: &LtGemm,
        a: BufferId,
        b: BufferId,
        (m, n, k): (u32, u32, u32),
    ) -> Result<Option<CudaSlice<u8>>, BackendError> {
        let mut scratch = self.lt_scratch(m, n, k)?;
        let ran = match (self.buffers.get(&a.0), self.buffers.get(&b.0)) {
            (Some(ab), Some(bb)) => Ok(lt_run(&self.stream, lt, &mut scratch, ab, bb, (m, n, k))),
            (None, _) => Err(BackendError::UnknownBuffer(a)),
            (_, None) => Err(BackendError::UnknownBuffer(b)),
        };
        self.workspace = Some(scratch.workspace);
        match ran? {
            Ok(()) => Ok(Some(scratch.product)),
            Err(LtError::Unsupported(why)) => {
                tracing::debug!("cuBLASLt refused {m} x {n} x {k} ({why}); dp4a kernel");
                Ok(None)
            }
            Err(LtError::Failed(why)) if self.lt.mode == GemmMode::CublasLt => {
                Err(BackendError::Device(why))
            }
            Err(LtError::Failed(why)) => {
                tracing::warn!("cuBLASLt failed on {m} x {n} x {k} ({why}); dp4a kernel");
                Ok(None)
            }
        }
    }

    /// The BLAKE3 chaining values of every `2^height`-chunk block of `data` (the last block may
    /// be partial), computed on the device: chunk CVs, then `height` parent levels.
    fn block_cvs(
        &mut self,
        data: &CudaSlice<u8>,
        len: u64,
        height: u32,
    ) -> Result<Vec<ChainingValue>, BackendError> {
        let chunks = commitment::leaf_count(len);
        let mut level = self.alloc_raw(usize_of(chunks * 32)?)?;
        let f = self.function(cuda_kernels::BLAKE3_CHUNK_CVS)?;
        let cfg = config(launch::blake3_chunk_cvs(len, DEFAULT_THREADS).map_err(geometry)?);
        let base = 0u64;
        // SAFETY: argument list matches `blake3_chunk_cvs` in cuda_kernels::KERNELS; `level`
        // holds one 32-byte CV per chunk of `data`.
        unsafe {
            self.stream
                .launch_builder(&f)
                .arg(data)
                .arg(&len)
                .arg(&base)
                .arg(&mut level)
                .launch(cfg)
        }
        .map_err(driver_err("blake3_chunk_cvs"))?;
        let mut count = chunks;
        let parent = self.function(cuda_kernels::BLAKE3_PARENT_CVS)?;
        for _ in 0..height {
            if count <= 1 {
                break;
            }
            let up = count.div_ceil(2);
            let mut next = self.alloc_raw(usize_of(up * 32)?)?;
            let cfg = config(launch::blake3_parent_cvs(count, DEFAULT_THREADS).map_err(geometry)?);
            // SAFETY: matches `blake3_parent_cvs`; `next` holds ⌈count/2⌉ CVs.
            unsafe {
                self.stream
                    .launch_builder(&parent)
                    .arg(&level)
                    .arg(&count)
                    .arg(&mut next)
                    .launch(cfg)
            }
            .map_err(driver_err("blake3_parent_cvs"))?;
            level = next;
            count = up;
        }
        let host = self
            .stream
            .clone_dtoh(&level)
            .map_err(driver_err("copying block CVs"))?;
        Ok(host
            .chunks_exact(32)
            .take(usize_of(count)?)
            .map(|c| {
                let mut cv = [0u8; 32];
                cv.copy_from_slice(c);
                cv
            })
            .collect())
    }
}

impl DeviceSession for CudaSession {
    fn device(&self) -> u32 {
        self.claim.index()
    }

    fn alloc(&mut self, bytes: u64) -> Result<BufferId, BackendError> {
        let slice = self.alloc_raw(usize_of(bytes)?)?;
        let id = BufferId(self.next);
        self.next += 1;
        self.put(id, slice);
        Ok(id)
    }

    fn free(&mut self, buf: BufferId) -> Result<(), BackendError> {
        self.take(buf).map(drop)
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
        let f = self.function(cuda_kernels::PRF_FILL_I8)?;
        let cfg = config(launch::prf_fill_i8(start, len, DEFAULT_THREADS).map_err(geometry)?);
        let mut data = self.take(buf)?;
        let result = (|| {
            let range = byte_range(offset, len, data.len(), "prf_fill")?;
            let mut view = data
                .try_slice_mut(range)
                .ok_or_else(|| BackendError::Invalid("prf_fill range outside the buffer".into()))?;
            // SAFETY: matches `prf_fill_i8`; the view holds exactly `len` bytes.
            unsafe {
                self.stream
                    .launch_builder(&f)
                    .arg(&mut view)
                    .arg(&start)
                    .arg(&len)
                    .arg(&tensor_id)
                    .arg(&key[0])
                    .arg(&key[1])
                    .launch(cfg)
            }
            .map_err(driver_err("prf_fill_i8"))
            .map(drop)
        })();
        self.put(buf, data);
        result
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
        let relayout = self.function(cuda_kernels::RELAYOUT_TILES)?;
        let relayout_cfg = config(launch::relayout_tiles(m, n).map_err(geometry)?);
        let by_cublaslt = match self.cublaslt()? {
            Some(lt) => self.lt_product(&lt, a, b, (m, n, k))?,
            None => None,
        };
        let row_major = match by_cublaslt {
            Some(product) => product,
            None => self.dp4a_product(a, b, m, n, k)?,
        };
        let mut out = self.take(c)?;
        // SAFETY: matches `relayout_tiles`; `out` holds 4·m·n bytes (checked by the sandbox).
        let result = unsafe {
            self.stream
                .launch_builder(&relayout)
                .arg(&row_major)
                .arg(&mut out)
                .arg(&m)
                .arg(&n)
                .launch(relayout_cfg)
        }
        .map_err(driver_err("relayout_tiles"))
        .map(drop);
        self.put(c, out);
        result
    }

    fn membw_fill(
        &mut self,
        buf: BufferId,
        key: PhiloxKey,
        rounds: u32,
    ) -> Result<(), BackendError> {
        let f = self.function(cuda_kernels::MEMBW_FILL)?;
        let mut data = self.take(buf)?;
        let count = (data.len() / 16) as u64;
        let first = 0u64;
        let result = launch::membw_fill(count, DEFAULT_THREADS)
            .map_err(geometry)
            .and_then(|l| {
                // SAFETY: matches `membw_fill`; the buffer holds `count` 16-byte blocks.
                unsafe {
                    self.stream
                        .launch_builder(&f)
                        .arg(&mut data)
                        .arg(&first)
                        .arg(&count)
                        .arg(&rounds)
                        .arg(&key[0])
                        .arg(&key[1])
                        .launch(config(l))
                }
                .map_err(driver_err("membw_fill"))
                .map(drop)
            });
        self.put(buf, data);
        result
    }

    fn membw_pass(
        &mut self,
        buf: BufferId,
        out: BufferId,
        group: u32,
        pass: u32,
        perm: &Permutation,
    ) -> Result<(), BackendError> {
        let f = self.function(cuda_kernels::MEMBW_PASS)?;
        let mut dst = self.take(out)?;
        let result = (|| {
            let src = self
                .buffers
                .get(&buf.0)
                .ok_or(BackendError::UnknownBuffer(buf))?;
            let groups = (src.len() / group.max(1) as usize) as u64;
            let cfg = config(launch::membw_pass(groups, DEFAULT_THREADS).map_err(geometry)?);
            let rk = perm.round_keys();
            let half = perm.half_bits();
            // SAFETY: matches `membw_pass`; `dst` holds 8 bytes per group (checked by the sandbox).
            unsafe {
                self.stream
                    .launch_builder(&f)
                    .arg(src)
                    .arg(&mut dst)
                    .arg(&groups)
                    .arg(&group)
                    .arg(&pass)
                    .arg(&half)
                    .arg(&rk[0])
                    .arg(&rk[1])
                    .arg(&rk[2])
                    .arg(&rk[3])
                    .launch(cfg)
            }
            .map_err(driver_err("membw_pass"))
            .map(drop)
        })();
        self.put(out, dst);
        result
    }

    fn commit(&mut self, buf: BufferId) -> Result<Committed, BackendError> {
        let src = self.take(buf)?;
        let copy = self
            .stream
            .clone_dtod(&src)
            .map_err(driver_err("copying the output on the device"));
        self.put(buf, src);
        let data = copy?;
        let len = data.len() as u64;
        let height = commitment::DEFAULT_BLOCK_HEIGHT;
        let tree = if commitment::block_count(len, height) <= 1 {
            // One block (≤ 16 KiB): its root is a root node, so hash it on the host.
            let bytes = self
                .stream
                .clone_dtoh(&data)
                .map_err(driver_err("copying a small output"))?;
            OutputTree::with_block_height(&bytes, height)
                .map_err(|e| BackendError::Invalid(e.to_string()))?
        } else {
            let cvs = self.block_cvs(&data, len, height)?;
            OutputTree::from_block_cvs(len, height, cvs)
                .map_err(|e| BackendError::Invalid(e.to_string()))?
        };
        let committed = Committed::of(&tree);
        self.outputs.push(Output {
            committed,
            tree,
            data,
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
        let range = out.tree.block_byte_range(leaf).ok_or_else(|| {
            BackendError::Invalid(format!("leaf {leaf} is outside output {output}"))
        })?;
        let view = out
            .data
            .try_slice(usize_of(range.start)?..usize_of(range.end)?)
            .ok_or_else(|| BackendError::Invalid("block range outside the output".into()))?;
        let block = self
            .stream
            .clone_dtoh(&view)
            .map_err(driver_err("copying a block for an opening"))?;
        out.tree
            .open(&block, leaf)
            .map_err(|e| BackendError::Invalid(e.to_string()))
    }

    fn copy(&mut self, src: BufferId, dst: BufferId) -> Result<(), BackendError> {
        if src == dst {
            return Err(BackendError::Invalid(
                "copy source and destination are the same buffer".into(),
            ));
        }
        let mut out = self.take(dst)?;
        let result = (|| {
            let from = self
                .buffers
                .get(&src.0)
                .ok_or(BackendError::UnknownBuffer(src))?;
            // cudarc asserts (panics) on a short destination: check first.
            if out.len() < from.len() {
                return Err(BackendError::Invalid(
                    "copy destination is shorter than its source".into(),
                ));
            }
            self.stream
                .memcpy_dtod(from, &mut out)
                .map_err(driver_err("copying on the device"))
        })();
        self.put(dst, out);
        result
    }

    fn sync(&mut self) -> Result<(), BackendError> {
        self.stream
            .synchronize()
            .map_err(driver_err("synchronizing the stream"))
    }

    fn read(&self, buf: BufferId, offset: u64, len: u64) -> Result<Vec<u8>, BackendError> {
        let data = self
            .buffers
            .get(&buf.0)
            .ok_or(BackendError::UnknownBuffer(buf))?;
        let view = data
            .try_slice(byte_range(offset, len, data.len(), "read")?)
            .ok_or_else(|| BackendError::Invalid("read range outside the buffer".into()))?;
        self.stream
            .clone_dtoh(&view)
            .map_err(driver_err("reading a buffer"))
    }
}
