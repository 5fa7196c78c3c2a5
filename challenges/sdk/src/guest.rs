//! The wasm32 side: raw imports, safe wrappers, allocator, panic handler, export macro.
//!
//! The ABI is FFI, so this module needs `unsafe`; each block says why it holds.
#![allow(unsafe_code)]

use alloc::vec::Vec;

use crate::{Error, status};

/// The raw `gpu.*` imports (see `challenges::abi` for each one's contract).
#[allow(missing_docs)]
pub mod raw {
    #[link(wasm_import_module = "gpu")]
    unsafe extern "C" {
        pub fn abi_version() -> i32;
        pub fn device_info(out_ptr: i32) -> i32;
        pub fn alloc(bytes: i64) -> i32;
        pub fn free(buf: i32) -> i32;
        pub fn prf_fill(
            buf: i32,
            offset: i64,
            len: i64,
            stream: i64,
            tensor_id: i32,
            start: i64,
        ) -> i32;
        pub fn gemm_i8(a: i32, b: i32, c: i32, m: i32, n: i32, k: i32) -> i32;
        pub fn membw_fill(buf: i32, stream: i64, rounds: i32) -> i32;
        pub fn membw_pass(
            buf: i32,
            out: i32,
            group: i32,
            pass: i32,
            key_ptr: i32,
            key_len: i32,
        ) -> i32;
        pub fn commit(buf: i32) -> i32;
        pub fn root(output: i32, out_ptr: i32) -> i32;
        pub fn philox_key(stream: i64, out_ptr: i32) -> i32;
        pub fn sync() -> i32;
        pub fn phase_end(seed_out_ptr: i32) -> i32;
        pub fn phase_seed(phase: i32, out_ptr: i32) -> i32;
        pub fn log(ptr: i32, len: i32) -> i32;
        pub fn tile_i8(
            out_ptr: i32,
            stream: i64,
            a_id: i32,
            b_id: i32,
            n: i32,
            k: i32,
            tile_row: i32,
            tile_col: i32,
        ) -> i32;
        pub fn membw_output(
            out_ptr: i32,
            stream: i64,
            params_ptr: i32,
            params_len: i32,
            pass: i32,
            key_ptr: i32,
            key_len: i32,
            group_index: i64,
        ) -> i32;
    }
}

fn ptr<T>(p: *const T) -> i32 {
    p as usize as i32
}

/// A device buffer owned by this instance; freed when dropped.
#[derive(Debug)]
pub struct Buffer {
    handle: i32,
    len: u64,
}

impl Buffer {
    /// A new zeroed device buffer of `bytes` bytes.
    pub fn alloc(bytes: u64) -> Result<Self, Error> {
        // SAFETY: host import; the host checks every argument.
        let handle = status(unsafe { raw::alloc(bytes as i64) })?;
        Ok(Self { handle, len: bytes })
    }

    /// The host's handle.
    pub fn handle(&self) -> i32 {
        self.handle
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the buffer is empty (never true: the host refuses empty buffers).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes elements `start..start+len` of tensor `tensor_id` under `key(seed, stream)` at
    /// `offset`.
    pub fn prf_fill(
        &self,
        offset: u64,
        len: u64,
        stream: u64,
        tensor_id: u32,
        start: u64,
    ) -> Result<(), Error> {
        // SAFETY: host import; the host checks every argument.
        status(unsafe {
            raw::prf_fill(
                self.handle,
                offset as i64,
                len as i64,
                stream as i64,
                tensor_id as i32,
                start as i64,
            )
        })
        .map(|_| ())
    }

    /// Commits the buffer's bytes as the next output; returns the output index.
    pub fn commit(&self) -> Result<u32, Error> {
        // SAFETY: host import; the host checks every argument.
        status(unsafe { raw::commit(self.handle) }).map(|i| i as u32)
    }

    /// The `membw` fill of the whole buffer.
    pub fn membw_fill(&self, stream: u64, rounds: u32) -> Result<(), Error> {
        // SAFETY: host import; the host checks every argument.
        status(unsafe { raw::membw_fill(self.handle, stream as i64, rounds as i32) }).map(|_| ())
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: host import; freeing an owned handle.
        unsafe { raw::free(self.handle) };
    }
}

/// `c = a · b` (int8 → tile-major int32) on the device.
pub fn gemm_i8(a: &Buffer, b: &Buffer, c: &Buffer, m: u32, n: u32, k: u32) -> Result<(), Error> {
    // SAFETY: host import; the host checks every argument.
    status(unsafe { raw::gemm_i8(a.handle, b.handle, c.handle, m as i32, n as i32, k as i32) })
        .map(|_| ())
}

/// One `membw` pass of `buf` into `out`, keyed by `key_material`.
pub fn membw_pass(
    buf: &Buffer,
    out: &Buffer,
    group: u32,
    pass: u32,
    key_material: &[u8],
) -> Result<(), Error> {
    // SAFETY: host import; the key slice is live guest memory for the call.
    status(unsafe {
        raw::membw_pass(
            buf.handle,
            out.handle,
            group as i32,
            pass as i32,
            ptr(key_material.as_ptr()),
            key_material.len() as i32,
        )
    })
    .map(|_| ())
}

/// The root of committed output `output` (on the verifier: of the miner's commitment).
pub fn root(output: u32) -> Result<[u8; 32], Error> {
    let mut out = [0u8; 32];
    // SAFETY: host import writing 32 bytes into `out`.
    status(unsafe { raw::root(output as i32, ptr(out.as_mut_ptr())) })?;
    Ok(out)
}

/// `prf::key(seed, stream)` as 8 bytes (two LE words): the key material of `membw` pass 0.
pub fn philox_key(stream: u64) -> Result<[u8; 8], Error> {
    let mut out = [0u8; 8];
    // SAFETY: host import writing 8 bytes into `out`.
    status(unsafe { raw::philox_key(stream as i64, ptr(out.as_mut_ptr())) })?;
    Ok(out)
}

/// Ends the current interactive phase (ABI v1.1): the host waits for the device, reports the
/// outputs committed so far to the verifier and blocks until its next phase key arrives; the
/// result is the next phase's seed (`prf::phase_seed`).
pub fn phase_end() -> Result<[u8; 32], Error> {
    let mut out = [0u8; 32];
    // SAFETY: host import writing 32 bytes into `out`.
    status(unsafe { raw::phase_end(ptr(out.as_mut_ptr())) })?;
    Ok(out)
}

/// The seed of interactive phase `phase` (≥ 1): on the run side one already received through
/// [`phase_end`], on the check side the one the verifier derived from the nonce it sent.
pub fn phase_seed(phase: u32) -> Result<[u8; 32], Error> {
    let mut out = [0u8; 32];
    // SAFETY: host import writing 32 bytes into `out`.
    status(unsafe { raw::phase_seed(phase as i32, ptr(out.as_mut_ptr())) })?;
    Ok(out)
}

/// Waits for queued device work.
pub fn sync() -> Result<(), Error> {
    // SAFETY: host import without arguments.
    status(unsafe { raw::sync() }).map(|_| ())
}

/// Logs a line through the host.
pub fn log(text: &str) {
    // SAFETY: host import reading `text`.
    unsafe { raw::log(ptr(text.as_ptr()), text.len() as i32) };
}

/// Check side: one 1 KiB tile of `A·B` computed natively by the host.
pub fn tile_i8(
    stream: u64,
    a_id: u32,
    b_id: u32,
    n: u32,
    k: u32,
    tile_row: u32,
    tile_col: u32,
) -> Result<[u8; 1024], Error> {
    let mut out = [0u8; 1024];
    // SAFETY: host import writing 1024 bytes into `out`.
    status(unsafe {
        raw::tile_i8(
            ptr(out.as_mut_ptr()),
            stream as i64,
            a_id as i32,
            b_id as i32,
            n as i32,
            k as i32,
            tile_row as i32,
            tile_col as i32,
        )
    })?;
    Ok(out)
}

/// Check side: one `membw` output regenerated natively by the host.
pub fn membw_output(
    stream: u64,
    params: &[u8],
    pass: u32,
    key_material: &[u8],
    group: u64,
) -> Result<u64, Error> {
    let mut out = [0u8; 8];
    // SAFETY: host import reading `params` and `key_material`, writing 8 bytes into `out`.
    status(unsafe {
        raw::membw_output(
            ptr(out.as_mut_ptr()),
            stream as i64,
            ptr(params.as_ptr()),
            params.len() as i32,
            pass as i32,
            ptr(key_material.as_ptr()),
            key_material.len() as i32,
            group as i64,
        )
    })?;
    Ok(u64::from_le_bytes(out))
}

/// Reads `len` bytes the host placed at `ptr` (used by the generated exports).
///
/// # Safety
/// `ptr..ptr+len` must be memory the host wrote through this module's `alloc`.
pub unsafe fn host_bytes<'a>(ptr: i32, len: i32) -> &'a [u8] {
    if len <= 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts(ptr as usize as *const u8, len as usize) }
}

/// Writes `bytes` at `ptr` (used by the generated `work` export).
///
/// # Safety
/// `ptr..ptr+bytes.len()` must be memory the host allocated through this module's `alloc`.
pub unsafe fn write_host(ptr: i32, bytes: &[u8]) {
    // SAFETY: guaranteed by the caller.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr as usize as *mut u8, bytes.len()) };
}

/// Allocates `len` bytes for the host to write into (the `alloc` export). 0 on failure.
pub fn host_alloc(len: i32) -> i32 {
    let mut v: Vec<u8> = Vec::new();
    if v.try_reserve_exact(len.max(1) as usize).is_err() {
        return 0;
    }
    let p = v.as_mut_ptr();
    core::mem::forget(v);
    ptr(p)
}

/// A bump allocator over linear memory: modules allocate little and an instance lives for one
/// call, so nothing is ever freed. It starts past the memory the module was instantiated with
/// (stack, data and whatever heap slack the linker left) and grows memory as needed; when the
/// host's memory cap refuses a grow it returns null, which the caller turns into an error or
/// an abort (the host reports that as the memory limit).
struct Bump;

const PAGE: usize = 65_536;
static mut NEXT: usize = 0;
static mut END: usize = 0;

// SAFETY: wasm32 here is single-threaded; `alloc` hands out disjoint, aligned ranges of memory
// that has been grown and is never handed out twice.
unsafe impl core::alloc::GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        // SAFETY: single-threaded; the statics are only read and written by value here.
        unsafe {
            if END == 0 {
                END = core::arch::wasm32::memory_size(0) * PAGE;
                NEXT = END;
            }
            let align = layout.align();
            let Some(start) = NEXT.checked_add(align - 1).map(|v| v & !(align - 1)) else {
                return core::ptr::null_mut();
            };
            let Some(end) = start.checked_add(layout.size()) else {
                return core::ptr::null_mut();
            };
            if end > END {
                let pages = (end - END).div_ceil(PAGE);
                if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                    return core::ptr::null_mut();
                }
                END += pages * PAGE;
            }
            NEXT = end;
            start as *mut u8
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {}
}

#[global_allocator]
static ALLOCATOR: Bump = Bump;

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// Generates a module's exports (`alloc`, `run`, `check`, `work`) around a [`crate::Challenge`].
#[macro_export]
macro_rules! export_challenge {
    ($ty:ty) => {
        /// Host entry: memory for the host to write params and requests into.
        #[unsafe(no_mangle)]
        pub extern "C" fn alloc(len: i32) -> i32 {
            $crate::host_alloc(len)
        }

        /// Host entry: run the challenge.
        #[unsafe(no_mangle)]
        pub extern "C" fn run(params_ptr: i32, params_len: i32) -> i32 {
            // SAFETY: the host wrote the params through `alloc`.
            let params = unsafe { $crate::host_bytes(params_ptr, params_len) };
            match <$ty as $crate::Challenge>::run(params) {
                Ok(()) => $crate::abi::status::OK,
                Err(e) => e.code(),
            }
        }

        /// Host entry: check one opened leaf.
        #[unsafe(no_mangle)]
        pub extern "C" fn check(
            params_ptr: i32,
            params_len: i32,
            req_ptr: i32,
            req_len: i32,
        ) -> i32 {
            // SAFETY: the host wrote both through `alloc`.
            let (params, req) = unsafe {
                (
                    $crate::host_bytes(params_ptr, params_len),
                    $crate::host_bytes(req_ptr, req_len),
                )
            };
            let Ok(request) = $crate::abi::CheckRequest::decode(req) else {
                return $crate::abi::status::BAD_REQUEST;
            };
            match <$ty as $crate::Challenge>::check(params, &request) {
                Ok(true) => $crate::abi::CHECK_PASS,
                Ok(false) => $crate::abi::CHECK_FAIL,
                Err(e) => e.code(),
            }
        }

        /// Host entry: the declared work.
        #[unsafe(no_mangle)]
        pub extern "C" fn work(params_ptr: i32, params_len: i32, out_ptr: i32) -> i32 {
            // SAFETY: the host wrote the params through `alloc`.
            let params = unsafe { $crate::host_bytes(params_ptr, params_len) };
            match <$ty as $crate::Challenge>::work(params) {
                Ok(work) => {
                    let record = $crate::abi::WorkRecord::from_work(&work).encode();
                    // SAFETY: the host allocated WORK_RECORD_LEN bytes at out_ptr through `alloc`.
                    unsafe { $crate::write_host(out_ptr, &record) };
                    $crate::abi::status::OK
                }
                Err(e) => e.code(),
            }
        }
    };
}
