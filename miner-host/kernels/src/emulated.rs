//! The kernels run through the grid emulator on the CPU (feature `emulator`; this crate's
//! tests turn it on). For tests only: an emulated launch starts one OS thread per CUDA thread,
//! so it is slow, and launches are serialised process-wide.
//!
//! [`DeviceBuffer`] stands for device memory (256-byte aligned like `cudaMalloc`); each wrapper
//! checks every size and alignment the kernel relies on, computes the geometry with
//! [`crate::launch`] (the same functions the CUDA backend uses) and runs the kernel compiled
//! from the very text of [`crate::SOURCE`].

use core::ffi::{c_char, c_int};
use core::fmt;

use crate::launch::{self, GeometryError, Launch};

const LINE: usize = 256;

#[derive(Clone, Copy)]
#[repr(C, align(256))]
struct Line([u8; LINE]);

/// A zero-initialised, 256-byte aligned byte buffer standing in for device memory.
#[derive(Clone)]
pub struct DeviceBuffer {
    lines: Vec<Line>,
    len: usize,
}

impl fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceBuffer")
            .field("len", &self.len)
            .finish()
    }
}

impl DeviceBuffer {
    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Self {
        Self {
            lines: vec![Line([0; LINE]); len.div_ceil(LINE)],
            len,
        }
    }

    /// A copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut buf = Self::zeroed(bytes.len());
        for (line, src) in buf.lines.iter_mut().zip(bytes.chunks(LINE)) {
            line.0[..src.len()].copy_from_slice(src);
        }
        buf
    }

    /// A copy of `values` as their bytes.
    pub fn from_i8(values: &[i8]) -> Self {
        let bytes: Vec<u8> = values.iter().map(|v| v.to_le_bytes()[0]).collect();
        Self::from_bytes(&bytes)
    }

    /// A copy of `values` as little-endian bytes.
    pub fn from_i32(values: &[i32]) -> Self {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self::from_bytes(&bytes)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A copy of the contents.
    pub fn to_vec(&self) -> Vec<u8> {
        self.lines
            .iter()
            .flat_map(|line| line.0)
            .take(self.len)
            .collect()
    }

    /// The contents read as little-endian `i32` (a trailing partial word is dropped).
    pub fn to_i32(&self) -> Vec<i32> {
        let bytes = self.to_vec();
        bytes
            .chunks_exact(4)
            .map(|w| i32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect()
    }

    /// The contents read as little-endian `u32` (a trailing partial word is dropped).
    pub fn to_u32(&self) -> Vec<u32> {
        let bytes = self.to_vec();
        bytes
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect()
    }

    fn ptr(&self) -> *const u8 {
        self.lines.as_ptr().cast()
    }

    fn mut_ptr(&mut self) -> *mut u8 {
        self.lines.as_mut_ptr().cast()
    }
}

/// How the emulator runs the threads of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// One real thread per CUDA thread, real `__syncthreads` barriers and warp exchanges.
    #[default]
    Threads,
    /// A plain loop over the threads with `__syncthreads` as a no-op: **wrong on purpose**,
    /// so a test can show that the kernel tests catch a missing barrier.
    Sequential,
}

/// Why an emulated launch did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmuError {
    /// The launch geometry could not be formed.
    Geometry(GeometryError),
    /// A buffer is too small for what the kernel touches.
    Buffer {
        /// Which buffer.
        what: &'static str,
        /// Bytes the kernel touches.
        need: u64,
        /// Bytes available.
        got: u64,
    },
    /// An argument breaks the kernel's preconditions.
    Arg {
        /// The argument.
        what: &'static str,
        /// The rule.
        rule: &'static str,
    },
    /// The emulator refused or failed the launch (message from C++).
    Launch {
        /// The kernel.
        kernel: &'static str,
        /// What the emulator said.
        message: String,
    },
}

impl fmt::Display for EmuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Geometry(e) => write!(f, "launch geometry: {e}"),
            Self::Buffer { what, need, got } => {
                write!(
                    f,
                    "{what}: the kernel touches {need} bytes, the buffer has {got}"
                )
            }
            Self::Arg { what, rule } => write!(f, "{what}: {rule}"),
            Self::Launch { kernel, message } => {
                write!(f, "emulated launch of {kernel} failed: {message}")
            }
        }
    }
}

impl std::error::Error for EmuError {}

impl From<GeometryError> for EmuError {
    fn from(e: GeometryError) -> Self {
        Self::Geometry(e)
    }
}

/// Launch dimensions as the C++ launchers take them (`struct gp_launch`).
#[repr(C)]
struct EmuLaunch {
    grid: [u32; 3],
    block: [u32; 3],
}

impl From<Launch> for EmuLaunch {
    fn from(l: Launch) -> Self {
        Self {
            grid: l.grid,
            block: l.block,
        }
    }
}

#[allow(unsafe_code)]
mod ffi {
    use super::{EmuLaunch, c_char, c_int};

    // SAFETY: these are the `extern "C"` functions of emu/launchers.cpp, declared with the
    // same parameter types (u8/i8/i32/u32 pointers, u32 = unsigned int, u64 = unsigned long
    // long, int). Callers uphold each kernel's buffer preconditions.
    unsafe extern "C" {
        pub(super) fn gp_emu_last_error(buf: *mut c_char, cap: u64) -> u64;
        pub(super) fn gp_emu_prf_fill_i8(
            l: *const EmuLaunch,
            out: *mut u8,
            start: u64,
            len: u64,
            tensor_id: u32,
            key0: u32,
            key1: u32,
        ) -> c_int;
        pub(super) fn gp_emu_relayout_tiles(
            l: *const EmuLaunch,
            input: *const i32,
            out: *mut i32,
            m: u32,
            n: u32,
        ) -> c_int;
        pub(super) fn gp_emu_transpose_i8(
            l: *const EmuLaunch,
            input: *const i8,
            out: *mut i8,
            rows: u32,
            cols: u32,
        ) -> c_int;
        pub(super) fn gp_emu_membw_fill(
            l: *const EmuLaunch,
            buf: *mut u8,
            first_block: u64,
            count: u64,
            rounds: u32,
            key0: u32,
            key1: u32,
        ) -> c_int;
        pub(super) fn gp_emu_membw_perm(
            l: *const EmuLaunch,
            out: *mut u32,
            first: u64,
            count: u64,
            groups: u64,
            half_bits: u32,
            round_keys: *const u32,
        ) -> c_int;
        pub(super) fn gp_emu_membw_pass(
            l: *const EmuLaunch,
            buf: *const u8,
            out: *mut u8,
            groups: u64,
            group_bytes: u32,
            pass: u32,
            half_bits: u32,
            round_keys: *const u32,
        ) -> c_int;
        pub(super) fn gp_emu_blake3_chunk_cvs(
            l: *const EmuLaunch,
            data: *const u8,
            len: u64,
            chunk_base: u64,
            cvs: *mut u8,
        ) -> c_int;
        pub(super) fn gp_emu_blake3_parent_cvs(
            l: *const EmuLaunch,
            input: *const u8,
            count: u64,
            out: *mut u8,
        ) -> c_int;
        pub(super) fn gp_emu_gemm_i8_dp4a(
            l: *const EmuLaunch,
            a: *const i8,
            b: *const i8,
            c: *mut i32,
            m: u32,
            n: u32,
            k: u32,
            mode: c_int,
        ) -> c_int;
        pub(super) fn gp_emu_selftest_shuffles(l: *const EmuLaunch, out: *mut u32) -> c_int;
    }
}

/// Turns a launcher's status into a result, fetching the C++ message on failure.
fn status(kernel: &'static str, code: c_int) -> Result<(), EmuError> {
    if code == 0 {
        return Ok(());
    }
    let mut buf = vec![0u8; 1024];
    #[allow(unsafe_code)]
    // SAFETY: `buf` is a live, writable allocation of exactly `buf.len()` bytes; the function
    // writes at most `cap` bytes (message plus NUL) and keeps no pointer.
    let _ = unsafe { ffi::gp_emu_last_error(buf.as_mut_ptr().cast(), buf.len() as u64) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let message = String::from_utf8_lossy(buf.get(..end).unwrap_or(&[])).into_owned();
    Err(EmuError::Launch { kernel, message })
}

fn need(what: &'static str, need: Option<u64>, got: usize) -> Result<(), EmuError> {
    let got = got as u64;
    match need {
        Some(need) if need <= got => Ok(()),
        Some(need) => Err(EmuError::Buffer { what, need, got }),
        None => Err(EmuError::Buffer {
            what,
            need: u64::MAX,
            got,
        }),
    }
}

/// `prf_fill_i8`: writes elements `[start, start + len)` of tensor `tensor_id` under `key` to
/// `out[offset .. offset + len]` (an odd `offset` exercises the kernel's unaligned path).
pub fn prf_fill_i8(
    out: &mut DeviceBuffer,
    offset: usize,
    start: u64,
    len: u64,
    tensor_id: u32,
    key: [u32; 2],
    threads: u32,
) -> Result<(), EmuError> {
    need(
        "prf_fill_i8 out",
        (offset as u64).checked_add(len),
        out.len(),
    )?;
    let l = EmuLaunch::from(launch::prf_fill_i8(start, len, threads)?);
    #[allow(unsafe_code)]
    // SAFETY: the kernel writes exactly the bytes `[0, len)` from its `out`, which is
    // `offset` bytes into `out`'s allocation; `offset + len <= out.len()` was checked, and
    // `start + len` does not overflow (checked by launch::prf_fill_i8).
    let code = unsafe {
        ffi::gp_emu_prf_fill_i8(
            &l,
            out.mut_ptr().add(offset),
            start,
            len,
            tensor_id,
            key[0],
            key[1],
        )
    };
    status(crate::PRF_FILL_I8, code)
}

/// `relayout_tiles`: `input` (row-major `m × n` `i32`) into `out` (tile-major).
pub fn relayout_tiles(
    input: &DeviceBuffer,
    out: &mut DeviceBuffer,
    m: u32,
    n: u32,
) -> Result<(), EmuError> {
    let l = EmuLaunch::from(launch::relayout_tiles(m, n)?);
    let bytes = u64::from(m)
        .checked_mul(u64::from(n))
        .and_then(|e| e.checked_mul(4));
    need("relayout_tiles in", bytes, input.len())?;
    need("relayout_tiles out", bytes, out.len())?;
    #[allow(unsafe_code)]
    // SAFETY: the kernel reads 4·m·n bytes of `input` and writes 4·m·n bytes of `out`, both
    // checked above; both are 256-byte aligned, and distinct (one is borrowed mutably).
    let code =
        unsafe { ffi::gp_emu_relayout_tiles(&l, input.ptr().cast(), out.mut_ptr().cast(), m, n) };
    status(crate::RELAYOUT_TILES, code)
}

/// `transpose_i8`: `input` (row-major `rows × cols` `i8`) into `out` (`cols × rows`).
pub fn transpose_i8(
    input: &DeviceBuffer,
    out: &mut DeviceBuffer,
    rows: u32,
    cols: u32,
) -> Result<(), EmuError> {
    let l = EmuLaunch::from(launch::transpose_i8(rows, cols)?);
    let bytes = u64::from(rows).checked_mul(u64::from(cols));
    need("transpose_i8 in", bytes, input.len())?;
    need("transpose_i8 out", bytes, out.len())?;
    #[allow(unsafe_code)]
    // SAFETY: the kernel reads rows·cols bytes of `input` and writes rows·cols bytes of `out`,
    // both checked above, and they are distinct (one is borrowed mutably).
    let code = unsafe {
        ffi::gp_emu_transpose_i8(&l, input.ptr().cast(), out.mut_ptr().cast(), rows, cols)
    };
    status(crate::TRANSPOSE_I8, code)
}

/// `membw_fill`: blocks `[first_block, first_block + count)` of the `membw` buffer `buf`.
pub fn membw_fill(
    buf: &mut DeviceBuffer,
    first_block: u64,
    count: u64,
    rounds: u32,
    key: [u32; 2],
    threads: u32,
) -> Result<(), EmuError> {
    let end = first_block
        .checked_add(count)
        .and_then(|b| b.checked_mul(16));
    need("membw_fill buf", end, buf.len())?;
    let l = EmuLaunch::from(launch::membw_fill(count, threads)?);
    #[allow(unsafe_code)]
    // SAFETY: the kernel writes bytes `16·first_block .. 16·(first_block + count)` of `buf`,
    // inside its length (checked above).
    let code = unsafe {
        ffi::gp_emu_membw_fill(
            &l,
            buf.mut_ptr(),
            first_block,
            count,
            rounds,
            key[0],
            key[1],
        )
    };
    status(crate::MEMBW_FILL, code)
}

/// The permutation of one `membw` pass as the kernels take it (from
/// `challenges::membw::Permutation`: `round_keys()`, `half_bits()`, and `G`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermArgs {
    /// Number of groups `G` (2 ..= 2^32).
    pub groups: u64,
    /// Half width `h` of the Feistel network (1 ..= 16, with 2^(2h) ≥ G).
    pub half_bits: u32,
    /// The four round keys.
    pub round_keys: [u32; 4],
}

impl PermArgs {
    fn check(&self) -> Result<(), EmuError> {
        if !(2..=1u64 << 32).contains(&self.groups) {
            return Err(EmuError::Arg {
                what: "groups",
                rule: "must be between 2 and 2^32",
            });
        }
        if !(1..=16).contains(&self.half_bits) || 1u64 << (2 * self.half_bits) < self.groups {
            return Err(EmuError::Arg {
                what: "half_bits",
                rule: "must be 1..=16 with 2^(2·half_bits) >= groups",
            });
        }
        Ok(())
    }
}

/// `membw_perm`: `out[i] = π(first + i)` as `u32` for `i < count`.
pub fn membw_perm(
    out: &mut DeviceBuffer,
    first: u64,
    count: u64,
    perm: &PermArgs,
    threads: u32,
) -> Result<(), EmuError> {
    perm.check()?;
    if first.checked_add(count).is_none_or(|end| end > perm.groups) {
        return Err(EmuError::Arg {
            what: "first + count",
            rule: "must be at most groups",
        });
    }
    need("membw_perm out", count.checked_mul(4), out.len())?;
    let l = EmuLaunch::from(launch::membw_perm(count, threads)?);
    #[allow(unsafe_code)]
    // SAFETY: the kernel writes 4·count bytes of `out` (checked) and reads the four round
    // keys from a live array.
    let code = unsafe {
        ffi::gp_emu_membw_perm(
            &l,
            out.mut_ptr().cast(),
            first,
            count,
            perm.groups,
            perm.half_bits,
            perm.round_keys.as_ptr(),
        )
    };
    status(crate::MEMBW_PERM, code)
}

/// `membw_pass`: pass `pass` over the filled buffer `buf` (`G·group_bytes` bytes) into `out`
/// (`8·G` bytes).
pub fn membw_pass(
    buf: &DeviceBuffer,
    out: &mut DeviceBuffer,
    group_bytes: u32,
    pass: u32,
    perm: &PermArgs,
    threads: u32,
) -> Result<(), EmuError> {
    perm.check()?;
    if group_bytes == 0 || !group_bytes.is_multiple_of(128) {
        return Err(EmuError::Arg {
            what: "group_bytes",
            rule: "must be a non-zero multiple of 128",
        });
    }
    need(
        "membw_pass buf",
        perm.groups.checked_mul(u64::from(group_bytes)),
        buf.len(),
    )?;
    need("membw_pass out", perm.groups.checked_mul(8), out.len())?;
    let l = EmuLaunch::from(launch::membw_pass(perm.groups, threads)?);
    #[allow(unsafe_code)]
    // SAFETY: with valid permutation arguments (checked) every π(b) < G, so the kernel reads
    // only the G·group_bytes bytes of `buf` and writes 8·G bytes of `out`, both checked;
    // both buffers are 256-byte aligned and distinct.
    let code = unsafe {
        ffi::gp_emu_membw_pass(
            &l,
            buf.ptr(),
            out.mut_ptr(),
            perm.groups,
            group_bytes,
            pass,
            perm.half_bits,
            perm.round_keys.as_ptr(),
        )
    };
    status(crate::MEMBW_PASS, code)
}

/// `blake3_chunk_cvs`: the chunk CVs of `data[offset .. offset + len]`, chunk counters from
/// `chunk_base`, into `cvs` (32 bytes per chunk).
pub fn blake3_chunk_cvs(
    data: &DeviceBuffer,
    offset: usize,
    len: u64,
    chunk_base: u64,
    cvs: &mut DeviceBuffer,
    threads: u32,
) -> Result<(), EmuError> {
    need(
        "blake3_chunk_cvs data",
        (offset as u64).checked_add(len),
        data.len(),
    )?;
    need(
        "blake3_chunk_cvs cvs",
        len.div_ceil(1024).checked_mul(32),
        cvs.len(),
    )?;
    let l = EmuLaunch::from(launch::blake3_chunk_cvs(len, threads)?);
    #[allow(unsafe_code)]
    // SAFETY: the kernel reads `len` bytes from `offset` into `data` and writes
    // 32·⌈len/1024⌉ bytes of `cvs`, both checked above; the buffers are distinct.
    let code = unsafe {
        ffi::gp_emu_blake3_chunk_cvs(&l, data.ptr().add(offset), len, chunk_base, cvs.mut_ptr())
    };
    status(crate::BLAKE3_CHUNK_CVS, code)
}

/// `blake3_parent_cvs`: the `count` CVs of `input` one level up into `out` (`⌈count/2⌉` CVs).
pub fn blake3_parent_cvs(
    input: &DeviceBuffer,
    count: u64,
    out: &mut DeviceBuffer,
    threads: u32,
) -> Result<(), EmuError> {
    need("blake3_parent_cvs in", count.checked_mul(32), input.len())?;
    need(
        "blake3_parent_cvs out",
        count.div_ceil(2).checked_mul(32),
        out.len(),
    )?;
    let l = EmuLaunch::from(launch::blake3_parent_cvs(count, threads)?);
    #[allow(unsafe_code)]
    // SAFETY: the kernel reads 32·count bytes of `input` and writes 32·⌈count/2⌉ bytes of
    // `out`, both checked; the buffers are distinct.
    let code = unsafe { ffi::gp_emu_blake3_parent_cvs(&l, input.ptr(), count, out.mut_ptr()) };
    status(crate::BLAKE3_PARENT_CVS, code)
}

/// `gemm_i8_dp4a`: `c = a · b` with `a` `m × k` int8, `b` `k × n` int8, `c` `m × n` `i32`,
/// all row-major. [`Mode::Sequential`] is the deliberately broken barrier-less run.
#[allow(clippy::too_many_arguments)]
pub fn gemm_i8_dp4a(
    a: &DeviceBuffer,
    b: &DeviceBuffer,
    c: &mut DeviceBuffer,
    m: u32,
    n: u32,
    k: u32,
    mode: Mode,
) -> Result<(), EmuError> {
    let l = EmuLaunch::from(launch::gemm_i8_dp4a(m, n, k)?);
    let (m64, n64, k64) = (u64::from(m), u64::from(n), u64::from(k));
    need("gemm_i8_dp4a a", m64.checked_mul(k64), a.len())?;
    need("gemm_i8_dp4a b", k64.checked_mul(n64), b.len())?;
    need(
        "gemm_i8_dp4a c",
        m64.checked_mul(n64).and_then(|e| e.checked_mul(4)),
        c.len(),
    )?;
    let mode = match mode {
        Mode::Threads => 0,
        Mode::Sequential => 1,
    };
    #[allow(unsafe_code)]
    // SAFETY: the kernel reads m·k bytes of `a`, k·n bytes of `b` and writes 4·m·n bytes of
    // `c` (all checked); the buffers are 256-byte aligned (A rows are read as u32) and `c` is
    // distinct from the inputs.
    let code = unsafe {
        ffi::gp_emu_gemm_i8_dp4a(
            &l,
            a.ptr().cast(),
            b.ptr().cast(),
            c.mut_ptr().cast(),
            m,
            n,
            k,
            mode,
        )
    };
    status(crate::GEMM_I8_DP4A, code)
}

/// Emulator self-test (its kernel lives in `emu/launchers.cpp`, not in [`crate::SOURCE`]): one
/// block of `threads` threads, each writing six words: `__shfl_sync` from lane
/// `(7·lane + 3) mod 32`, `__shfl_down_sync` by 5, `__shfl_up_sync` by 3, `__shfl_xor_sync`
/// with 13, and a 64-bit `__shfl_sync` from lane `31 − lane` (low word, high word), of the
/// value `1000·warp + 3·lane + 1` (64-bit: that value in the high word, its complement low).
pub fn selftest_shuffles(threads: u32) -> Result<Vec<u32>, EmuError> {
    let l = EmuLaunch::from(launch::membw_perm(u64::from(threads), threads)?);
    let mut out = DeviceBuffer::zeroed(6 * 4 * threads as usize);
    #[allow(unsafe_code)]
    // SAFETY: one block of `threads` threads writes 6 words each: exactly `out`'s length.
    let code = unsafe { ffi::gp_emu_selftest_shuffles(&l, out.mut_ptr().cast()) };
    status("gp_emu_selftest_shuffles", code)?;
    Ok(out.to_u32())
}
