//! cuBLASLt `int8 × int8 → int32` GEMM (`CUBLAS_COMPUTE_32I`), the fast path of `gemm_i8`.
//!
//! ## Layouts
//!
//! The sandbox's operands are row-major: A is M × K, B is K × N, C is M × N `i32`. cuBLASLt is
//! column-major, and for int8 inputs it wants both operands K-contiguous (the "TN" form:
//! `transa = T`, `transb = N`). Reading row-major buffers as column-major transposes them, so
//! the product is asked for as Cᵀ = Bᵀ · Aᵀ ([`LtPlan::for_shape`]):
//!
//! | cuBLASLt | buffer | stored (rows × cols, ld) | op | gives |
//! |---|---|---|---|---|
//! | A′ | Bᵀ: B transposed by the `transpose_i8` kernel (N × K row-major) | K × N, ld K | T | N × K |
//! | B′ | A as given (M × K row-major) | K × M, ld K | N | K × M |
//! | D | C (M × N row-major) | N × M, ld N | — | N × M |
//!
//! so D, read back row-major, is C exactly (integer sums; no rounding anywhere). The unit tests
//! run these layouts through a model of cuBLASLt's column-major semantics against the
//! `challenges` product, so a layout mistake shows without a GPU. cuBLASLt's int8 rules —
//! dimensions and leading dimensions multiples of 4, pointers 4-byte aligned (cudaMalloc gives
//! 256) — hold for every shape the sandbox accepts (M, N, K multiples of 16).
//!
//! ## Trust
//!
//! This path has not yet run on a GPU (see issue #4's notes). So the CUDA session checks it
//! once per device before use: [`SELF_CHECK`]'s product through the whole path (transpose,
//! cuBLASLt, copy back) must equal the `challenges` reference ([`is_spec_product`]); if it does not, or cuBLASLt is missing
//! or refuses, the device uses the `gemm_i8_dp4a` kernel, and the reason is logged. A shape
//! cuBLASLt refuses later (no algorithm) falls back to the kernel for that call.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::Arc;

use challenges::matmul::{self, MatmulParams};
use challenges::{prf, tiles};
use cudarc::cublaslt::{result, sys};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut};

/// One operand's layout as cuBLASLt sees it (column-major).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Rows as stored (before the operation).
    pub rows: u64,
    /// Columns as stored.
    pub cols: u64,
    /// Leading dimension: elements between the starts of consecutive columns.
    pub ld: i64,
    /// Whether cuBLASLt transposes it (`CUBLAS_OP_T`).
    pub transposed: bool,
}

/// The cuBLASLt call that computes the row-major C = A · B (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LtPlan {
    /// cuBLASLt's A: the transposed B.
    pub a: Layout,
    /// cuBLASLt's B: the sandbox's A.
    pub b: Layout,
    /// cuBLASLt's C and D: the sandbox's C.
    pub d: Layout,
}

impl LtPlan {
    /// The plan for an `m × k` by `k × n` product, or why cuBLASLt cannot take it.
    pub(crate) fn for_shape(m: u32, n: u32, k: u32) -> Result<Self, String> {
        for (what, v) in [("m", m), ("n", n), ("k", k)] {
            if v == 0 || v % 4 != 0 || i64::from(v) > i64::from(i32::MAX) {
                return Err(format!(
                    "{what} = {v}: cuBLASLt's int8 GEMM needs a non-zero multiple of 4"
                ));
            }
        }
        let (m, n, k) = (u64::from(m), u64::from(n), u64::from(k));
        let ld = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Ok(Self {
            a: Layout {
                rows: k,
                cols: n,
                ld: ld(k),
                transposed: true,
            },
            b: Layout {
                rows: k,
                cols: m,
                ld: ld(k),
                transposed: false,
            },
            d: Layout {
                rows: n,
                cols: m,
                ld: ld(n),
                transposed: false,
            },
        })
    }
}

/// Whether cuBLASLt's library can be loaded (cudarc panics on the first call otherwise).
pub(crate) fn library_present() -> bool {
    // SAFETY: only tries to dlopen the library by name; nothing in it is called.
    unsafe { sys::is_culib_present() }
}

fn lt_err(what: &'static str) -> impl Fn(result::CublasError) -> String {
    move |e| format!("cuBLASLt {what}: {e}")
}

/// A cuBLASLt handle for one device. Used by one session at a time (the device lock).
pub(crate) struct LtGemm {
    handle: sys::cublasLtHandle_t,
}

// SAFETY: a cuBLASLt handle may be used from any host thread; the device lock keeps its use to
// one session (so one thread) at a time.
unsafe impl Send for LtGemm {}
// SAFETY: as above: `&LtGemm` is only used under the device lock.
unsafe impl Sync for LtGemm {}

impl Drop for LtGemm {
    fn drop(&mut self) {
        // SAFETY: the handle was created by `cublasLtCreate` and is destroyed once.
        if let Err(e) = unsafe { result::destroy_handle(self.handle) } {
            tracing::warn!("destroying a cuBLASLt handle failed: {e}");
        }
    }
}

/// Workspace given to cuBLASLt: its recommendation for Hopper (32 MiB), enough elsewhere.
pub(crate) const WORKSPACE_BYTES: usize = 32 << 20;

/// RAII wrappers so every descriptor is destroyed on every path.
struct MatrixLayout(sys::cublasLtMatrixLayout_t);
struct MatmulDesc(sys::cublasLtMatmulDesc_t);
struct MatmulPref(sys::cublasLtMatmulPreference_t);

impl Drop for MatrixLayout {
    fn drop(&mut self) {
        // SAFETY: created by `cublasLtMatrixLayoutCreate`, destroyed once.
        let _ = unsafe { result::destroy_matrix_layout(self.0) };
    }
}
impl Drop for MatmulDesc {
    fn drop(&mut self) {
        // SAFETY: created by `cublasLtMatmulDescCreate`, destroyed once.
        let _ = unsafe { result::destroy_matmul_desc(self.0) };
    }
}
impl Drop for MatmulPref {
    fn drop(&mut self) {
        // SAFETY: created by `cublasLtMatmulPreferenceCreate`, destroyed once.
        let _ = unsafe { result::destroy_matmul_pref(self.0) };
    }
}

fn layout(l: &Layout, ty: sys::cudaDataType) -> Result<MatrixLayout, String> {
    result::create_matrix_layout(ty, l.rows, l.cols, l.ld)
        .map(MatrixLayout)
        .map_err(lt_err("matrix layout"))
}

/// Why a cuBLASLt call did not run.
#[derive(Debug)]
pub(crate) enum LtError {
    /// No algorithm for this shape: use the kernel for this call.
    Unsupported(String),
    /// Anything else.
    Failed(String),
}

impl LtGemm {
    /// A handle, or why there is none (library missing, creation failed).
    pub(crate) fn new(stream: &Arc<CudaStream>) -> Result<Self, String> {
        if !library_present() {
            return Err(
                "libcublasLt.so was not found (it ships with the CUDA toolkit's cuBLAS)".into(),
            );
        }
        // cuBLASLt works on the calling thread's current context.
        stream
            .context()
            .bind_to_thread()
            .map_err(|e| format!("binding the CUDA context: {e}"))?;
        let handle = result::create_handle().map_err(lt_err("handle"))?;
        Ok(Self { handle })
    }

    /// D = the row-major `m × n` `i32` product of `a` (`m × k` row-major `i8`) and the matrix
    /// whose transpose is `bt` (`n × k` row-major `i8`), on `stream`.
    ///
    /// # Safety
    ///
    /// `a` holds at least `m·k` bytes, `bt` at least `n·k`, `d` at least `4·m·n`, `workspace`
    /// at least [`WORKSPACE_BYTES`]; all belong to `stream`'s context.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn matmul(
        &self,
        stream: &Arc<CudaStream>,
        a: &CudaSlice<u8>,
        bt: &CudaSlice<u8>,
        d: &mut CudaSlice<u8>,
        workspace: &mut CudaSlice<u8>,
        m: u32,
        n: u32,
        k: u32,
    ) -> Result<(), LtError> {
        let plan = LtPlan::for_shape(m, n, k).map_err(LtError::Unsupported)?;
        // cuBLASLt works on the calling thread's current context; a session may move between
        // the runtime's blocking threads.
        stream
            .context()
            .bind_to_thread()
            .map_err(|e| LtError::Failed(format!("binding the CUDA context: {e}")))?;
        let i8_type = sys::cudaDataType::CUDA_R_8I;
        let i32_type = sys::cudaDataType::CUDA_R_32I;
        let a_layout = layout(&plan.a, i8_type).map_err(LtError::Failed)?;
        let b_layout = layout(&plan.b, i8_type).map_err(LtError::Failed)?;
        let d_layout = layout(&plan.d, i32_type).map_err(LtError::Failed)?;
        let desc =
            result::create_matmul_desc(sys::cublasComputeType_t::CUBLAS_COMPUTE_32I, i32_type)
                .map(MatmulDesc)
                .map_err(|e| LtError::Failed(lt_err("matmul descriptor")(e)))?;
        let op = |t: bool| {
            if t {
                cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_T
            } else {
                cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_N
            }
        };
        let (op_a, op_b) = (op(plan.a.transposed), op(plan.b.transposed));
        for (attr, value) in [
            (
                sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA,
                &op_a,
            ),
            (
                sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSB,
                &op_b,
            ),
        ] {
            // SAFETY: the descriptor is live; the attribute takes a `cublasOperation_t`.
            unsafe {
                result::set_matmul_desc_attribute(
                    desc.0,
                    attr,
                    std::ptr::from_ref(value).cast::<c_void>(),
                    size_of::<cudarc::cublas::sys::cublasOperation_t>(),
                )
            }
            .map_err(|e| LtError::Failed(lt_err("transpose attribute")(e)))?;
        }
        let pref = result::create_matmul_pref()
            .map(MatmulPref)
            .map_err(|e| LtError::Failed(lt_err("preference")(e)))?;
        let workspace_bytes: usize = WORKSPACE_BYTES;
        // SAFETY: the preference is live; the attribute takes a `size_t`.
        unsafe {
            result::set_matmul_pref_attribute(
                pref.0,
                sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                std::ptr::from_ref(&workspace_bytes).cast::<c_void>(),
                size_of::<usize>(),
            )
        }
        .map_err(|e| LtError::Failed(lt_err("workspace preference")(e)))?;
        // SAFETY: every descriptor is live.
        let heuristic = unsafe {
            result::get_matmul_algo_heuristic(
                self.handle,
                desc.0,
                a_layout.0,
                b_layout.0,
                d_layout.0,
                d_layout.0,
                pref.0,
            )
        }
        .map_err(|e| LtError::Unsupported(lt_err("algorithm search")(e)))?;
        let (alpha, beta): (i32, i32) = (1, 0);
        let (bt_ptr, _bt_sync) = bt.device_ptr(stream);
        let (a_ptr, _a_sync) = a.device_ptr(stream);
        let (d_ptr, _d_sync) = d.device_ptr_mut(stream);
        let (w_ptr, _w_sync) = workspace.device_ptr_mut(stream);
        // SAFETY: the layouts describe n·k bytes of `bt`, m·k of `a` and 4·m·n of `d` (the
        // caller guarantees the sizes); alpha and beta are `i32` as the `CUDA_R_32I` scale
        // type requires; beta = 0, so C (= D) is not read.
        unsafe {
            result::matmul(
                self.handle,
                desc.0,
                std::ptr::from_ref(&alpha).cast::<c_void>(),
                std::ptr::from_ref(&beta).cast::<c_void>(),
                bt_ptr as *const c_void,
                a_layout.0,
                a_ptr as *const c_void,
                b_layout.0,
                d_ptr as *const c_void,
                d_layout.0,
                d_ptr as *mut c_void,
                d_layout.0,
                std::ptr::from_ref(&heuristic.algo),
                w_ptr as *mut c_void,
                WORKSPACE_BYTES,
                stream.cu_stream() as sys::cudaStream_t,
            )
        }
        .map_err(|e| LtError::Failed(lt_err("matmul")(e)))
    }
}

/// The self-check's product: product 0 of these `matmul-i8` params under
/// [`SELF_CHECK_SEED`]. Multiples of 16, not of 32 or 64, and m ≠ n ≠ k, so a swapped dimension
/// or a wrong leading dimension cannot give the right answer.
pub(crate) const SELF_CHECK: MatmulParams = MatmulParams {
    m: 48,
    n: 80,
    k: 112,
    count: 1,
};

/// The self-check's seed (any seed would do).
pub(crate) const SELF_CHECK_SEED: [u8; 32] = [0x5c; 32];

/// Product 0's operands A (`m × k`) and B (`k × n`), row-major bytes, as the spec generates
/// them.
pub(crate) fn spec_operands(params: &MatmulParams, seed: &[u8; 32]) -> (Vec<u8>, Vec<u8>) {
    let key = prf::key(seed, 0);
    let fill = |tensor_id: u32, len: u32| {
        let mut out = vec![0i8; len as usize];
        prf::fill_tensor_i8(key, tensor_id, 0, &mut out);
        out.into_iter().map(|v| v as u8).collect::<Vec<u8>>()
    };
    (
        fill(matmul::a_id(0), params.m * params.k),
        fill(matmul::b_id(0), params.k * params.n),
    )
}

/// Whether `row_major` (the device's `m × n` little-endian `i32` product) is the spec's
/// product 0 of `params` under `seed` (which is tile-major).
pub(crate) fn is_spec_product(row_major: &[u8], params: &MatmulParams, seed: &[u8; 32]) -> bool {
    let values: Vec<i32> = row_major
        .chunks_exact(4)
        .map(|w| i32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    let mut tile_major = vec![0u8; row_major.len()];
    let Ok(want) = matmul::product(prf::key(seed, 0), params, 0) else {
        return false;
    };
    tiles::to_tile_major(&values, params.m, params.n, &mut tile_major).is_ok() && tile_major == want
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// cuBLASLt's semantics on host memory: D = op(A′) · op(B′), every matrix column-major
    /// with its leading dimension, as the library documents them.
    fn column_major_gemm(plan: &LtPlan, a: &[u8], b: &[u8]) -> Vec<u8> {
        let at = |l: &Layout, data: &[u8], r: u64, c: u64| -> i32 {
            // (r, c) of op(X): X's (c, r) if transposed.
            let (r, c) = if l.transposed { (c, r) } else { (r, c) };
            assert!(r < l.rows && c < l.cols);
            i32::from(data[(r + c * l.ld as u64) as usize] as i8)
        };
        let (rows, inner) = if plan.a.transposed {
            (plan.a.cols, plan.a.rows)
        } else {
            (plan.a.rows, plan.a.cols)
        };
        let cols = if plan.b.transposed {
            plan.b.rows
        } else {
            plan.b.cols
        };
        assert_eq!((plan.d.rows, plan.d.cols), (rows, cols), "D's shape");
        let mut d = vec![0i32; (plan.d.ld as u64 * cols) as usize];
        for i in 0..rows {
            for j in 0..cols {
                d[(i + j * plan.d.ld as u64) as usize] = (0..inner)
                    .map(|l| at(&plan.a, a, i, l) * at(&plan.b, b, l, j))
                    .sum();
            }
        }
        d.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn transpose(b: &[u8], rows: usize, cols: usize) -> Vec<u8> {
        let mut t = vec![0; b.len()];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = b[r * cols + c];
            }
        }
        t
    }

    #[test]
    fn the_plan_computes_the_spec_product() {
        for (m, n, k) in [(48, 80, 112), (16, 16, 16), (16, 48, 32), (64, 16, 80)] {
            let params = MatmulParams { m, n, k, count: 1 };
            let seed = [m as u8; 32];
            let (a, b) = spec_operands(&params, &seed);
            let plan = LtPlan::for_shape(m, n, k).unwrap();
            let bt = transpose(&b, k as usize, n as usize);
            let got = column_major_gemm(&plan, &bt, &a);
            assert!(is_spec_product(&got, &params, &seed), "{m}x{n}x{k}");
            // And the check is not vacuous: one wrong element fails it.
            let mut wrong = got.clone();
            wrong[4] ^= 1;
            assert!(!is_spec_product(&wrong, &params, &seed));
        }
    }

    #[test]
    fn shapes_cublaslt_cannot_take_are_refused() {
        assert!(LtPlan::for_shape(0, 16, 16).is_err());
        assert!(LtPlan::for_shape(16, 18, 16).is_err());
        assert!(LtPlan::for_shape(16, 16, 6).is_err());
        assert!(LtPlan::for_shape(16, 16, 16).is_ok());
    }
}
