//! Host ABI version 1.1: the contract between a challenge module (WASM guest) and the host.
//!
//! This module pins the names, signatures, status codes and byte encodings that the guest SDK
//! (`challenge-sdk`) and the sandbox (`challenge-runtime`) both use, so the two can never drift.
//!
//! # Exports a module must provide
//!
//! | export | signature | meaning |
//! |---|---|---|
//! | `memory` | memory | the guest's linear memory |
//! | `alloc` | `(len: i32) -> i32` | a guest pointer to `len` writable bytes (0 on failure) |
//! | `run` | `(params_ptr: i32, params_len: i32) -> i32` | runs the challenge, committing outputs; [`status`] code |
//! | `check` | `(params_ptr, params_len, request_ptr, request_len: i32) -> i32` | checks one opened leaf: [`CHECK_PASS`], [`CHECK_FAIL`] or a negative [`status`] |
//! | `work` | `(params_ptr, params_len, out_ptr: i32) -> i32` | writes the [`WorkRecord`] of these params at `out_ptr` ([`WORK_RECORD_LEN`] bytes) |
//!
//! # Imports the host provides (module `gpu`; nothing else can be imported)
//!
//! Pointers and lengths are guest-memory offsets (`i32`); sizes and element indices are `i64`;
//! buffers are `i32` handles (never pointers) owned by the calling instance. Every import
//! returns a non-negative value on success and a negative [`status`] code on error; the host
//! checks every argument and never traps or panics on a bad one.
//!
//! | import | signature | effect |
//! |---|---|---|
//! | `abi_version` | `() -> i32` | [`ABI_VERSION`] |
//! | `device_info` | `(out_ptr) -> i32` | writes [`DeviceInfoRecord`] ([`DEVICE_INFO_LEN`] bytes) |
//! | `alloc` | `(bytes: i64) -> i32` | a new zeroed device buffer's handle (≥ 1), within the challenge's device budget |
//! | `free` | `(buf) -> i32` | frees a buffer; a handle is never reused within an instance |
//! | `prf_fill` | `(buf, offset: i64, len: i64, stream: i64, tensor_id: i32, start: i64) -> i32` | writes elements `start..start+len` of tensor `tensor_id` under `prf::key(seed, stream)` at `buf[offset..]` |
//! | `gemm_i8` | `(a, b, c, m: i32, n: i32, k: i32) -> i32` | `c` (`4·m·n` bytes, [`crate::tiles`] tile-major `i32`) = `a` (`m×k` `i8`) · `b` (`k×n` `i8`); m, n, k multiples of 16, k ≤ 65 536 |
//! | `membw_fill` | `(buf, stream: i64, rounds: i32) -> i32` | the [`crate::membw`] fill of the whole buffer |
//! | `membw_pass` | `(buf, out, group: i32, pass: i32, key_ptr, key_len) -> i32` | pass `pass` over `buf` into `out` (`8·G` bytes), permutation keyed by the `key_len` bytes at `key_ptr` (`K_p`) |
//! | `commit` | `(buf) -> i32` | commits the buffer's current bytes as the next output; returns its index |
//! | `root` | `(output: i32, out_ptr) -> i32` | writes the 32-byte root of a committed output (on the verifier: of the miner's commitment) |
//! | `philox_key` | `(stream: i64, out_ptr) -> i32` | writes `prf::key(seed, stream)` as 8 bytes (two LE words) |
//! | `sync` | `() -> i32` | waits for the device to finish queued work |
//! | `log` | `(ptr, len) -> i32` | logs UTF-8 text (truncated to [`LOG_MAX`] bytes; rate-limited) |
//! | `tile_i8` | `(out_ptr, stream: i64, a_id: i32, b_id: i32, n: i32, k: i32, tile_row: i32, tile_col: i32) -> i32` | *check side*: writes one 1 KiB tile of `A·B` (A `·×k` tensor `a_id`, B `k×n` tensor `b_id`) computed natively |
//! | `membw_output` | `(out_ptr, stream: i64, params_ptr, params_len, pass: i32, key_ptr, key_len, group_index: i64) -> i32` | *check side*: writes one 8-byte `membw` output, regenerating both groups natively |
//! | `phase_end` | `(seed_out_ptr) -> i32` | *v1.1, run side*: ends interactive phase `k` (the first is 0): waits for the device, reports the roots committed so far (the miner's signed `PhaseDone k`), blocks until the verifier's `PhaseKey k+1` and writes `phase_seed_{k+1}` ([`crate::prf::phase_seed`], 32 bytes); [`status::PHASE`] when no key comes |
//! | `phase_seed` | `(phase: i32, out_ptr) -> i32` | *v1.1*: writes the 32-byte seed of phase `phase ≥ 1`: on the run side one `phase_end` already returned, on the check side the one the verifier derived from the nonce it sent; [`status::OUT_OF_RANGE`] for a phase not (yet) begun |
//!
//! A module that never calls `phase_end` is a one-phase module, exactly as in ABI v1. The
//! check side receives the phase seeds through `phase_seed`, as it receives the committed roots
//! through `root` (a choice: docs/design.md says `check` receives them "with the params and the
//! opening"; an import keeps the check request's encoding, and so one-phase modules, unchanged).
//!
//! # Check requests
//!
//! The verifier hands `check` one opened leaf whose tree path it has already verified against
//! the committed root, encoded as ([`CheckRequest`]):
//! `output u32 LE ‖ leaf u64 LE ‖ samples u32 LE ‖ salt [32] ‖ chunk bytes (the rest)`.
//! `salt` is fresh verifier randomness (never known to the miner) from which a module picks the
//! positions it samples inside the leaf, when it samples (`membw` does; `matmul-i8` checks
//! the whole tile); `samples` is how many.
#![deny(clippy::indexing_slicing)]

use crate::SpecError;

/// `N` bytes at `at`, if there are that many.
fn bytes_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes_at(bytes, at).map(u32::from_le_bytes)
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes_at(bytes, at).map(u64::from_le_bytes)
}

/// The ABI version this crate describes: major in the high byte, minor in the low one
/// (`0x0101` = v1.1, which added `phase_end` and `phase_seed`).
pub const ABI_VERSION: i32 = 0x0101;
/// The only import module a challenge may use.
pub const IMPORT_MODULE: &str = "gpu";
/// Names of every import of ABI version 1.1, in the order of the table above.
pub const IMPORTS: [&str; 17] = [
    "abi_version",
    "device_info",
    "alloc",
    "free",
    "prf_fill",
    "gemm_i8",
    "membw_fill",
    "membw_pass",
    "commit",
    "root",
    "philox_key",
    "sync",
    "log",
    "tile_i8",
    "membw_output",
    "phase_end",
    "phase_seed",
];
/// Names of the exports a module must provide (besides `memory`).
pub const EXPORTS: [&str; 4] = ["alloc", "run", "check", "work"];

/// `check` result: the leaf is right.
pub const CHECK_PASS: i32 = 0;
/// `check` result: the leaf is wrong.
pub const CHECK_FAIL: i32 = 1;
/// Longest log line kept, in bytes.
pub const LOG_MAX: usize = 1024;

/// Status codes returned by imports (negative) and by `run`/`check` on error.
pub mod status {
    /// Success.
    pub const OK: i32 = 0;
    /// A handle that this instance does not own (never allocated, freed, or forged).
    pub const BAD_HANDLE: i32 = -1;
    /// A guest pointer/length outside guest memory.
    pub const BAD_POINTER: i32 = -2;
    /// A size or offset outside the buffer, or an invalid size.
    pub const OUT_OF_RANGE: i32 = -3;
    /// A shape rule broken (not a multiple of 16, k too large, mismatched buffer sizes).
    pub const BAD_SHAPE: i32 = -4;
    /// The challenge's device-memory budget or handle limit would be exceeded.
    pub const BUDGET: i32 = -5;
    /// Bad params bytes.
    pub const BAD_PARAMS: i32 = -6;
    /// The import is not available on this side (e.g. `tile_i8` while running, `commit` while checking).
    pub const UNAVAILABLE: i32 = -7;
    /// The backend failed (device error); the host logged the cause.
    pub const DEVICE: i32 = -8;
    /// An output index that does not exist.
    pub const NO_OUTPUT: i32 = -9;
    /// A malformed check request.
    pub const BAD_REQUEST: i32 = -10;
    /// `phase_end`: the next phase key did not come (the verifier ended the challenge, the
    /// connection closed, or this run has no verifier to ask).
    pub const PHASE: i32 = -11;
    /// The most negative status code an import or export may answer: anything below it is
    /// outside the ABI.
    pub const LOWEST: i32 = PHASE;

    /// A short name for a status code, for error messages.
    pub fn name(code: i32) -> &'static str {
        match code {
            OK => "ok",
            BAD_HANDLE => "bad handle",
            BAD_POINTER => "bad guest pointer",
            OUT_OF_RANGE => "out of range",
            BAD_SHAPE => "bad shape",
            BUDGET => "over budget",
            BAD_PARAMS => "bad params",
            UNAVAILABLE => "unavailable here",
            DEVICE => "device error",
            NO_OUTPUT => "no such output",
            BAD_REQUEST => "bad check request",
            PHASE => "no phase key",
            _ => "unknown status",
        }
    }
}

/// Bytes of a [`DeviceInfoRecord`].
pub const DEVICE_INFO_LEN: usize = 24;

/// What `device_info` writes: `memory_bytes u64 ‖ budget_bytes u64 ‖ device index u32 ‖
/// backend kind u32` (0 = cpu, 1 = cuda), all LE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfoRecord {
    /// Device memory as the backend reports it.
    pub memory_bytes: u64,
    /// This challenge's device-memory budget.
    pub budget_bytes: u64,
    /// Device index on the machine.
    pub device: u32,
    /// Backend kind (0 = cpu, 1 = cuda).
    pub backend: u32,
}

impl DeviceInfoRecord {
    /// The fixed-size encoding.
    #[allow(clippy::indexing_slicing)] // constant ranges inside a fixed-size array
    pub fn encode(&self) -> [u8; DEVICE_INFO_LEN] {
        let mut out = [0u8; DEVICE_INFO_LEN];
        out[..8].copy_from_slice(&self.memory_bytes.to_le_bytes());
        out[8..16].copy_from_slice(&self.budget_bytes.to_le_bytes());
        out[16..20].copy_from_slice(&self.device.to_le_bytes());
        out[20..24].copy_from_slice(&self.backend.to_le_bytes());
        out
    }
}

/// Most phases a [`WorkRecord`] carries.
pub const WORK_MAX_PHASES: usize = 8;
/// Bytes of a phase name in a [`WorkRecord`] (ASCII, zero-padded).
pub const WORK_NAME_LEN: usize = 16;
/// Bytes of a [`WorkRecord`]: header 24 + 8 phases × 32.
pub const WORK_RECORD_LEN: usize = 24 + WORK_MAX_PHASES * (WORK_NAME_LEN + 16);

/// What `work` writes: `ops u64 ‖ bytes u64 ‖ phase count u32 ‖ step starts u32`, then
/// [`WORK_MAX_PHASES`] slots of `name [16] ‖ ops u64 ‖ bytes u64` (unused slots zero), LE.
/// Phase units are implied by the phase name (see [`crate::work::Phase`]). `step starts`
/// (ABI v1.1) has bit `i` set when slot `i` is the first part of the next interactive phase,
/// so slot `i` runs in phase `popcount(bits 1..=i)`; 0 (ABI v1) is a one-phase module. Bit 0
/// and bits at or past the phase count must be clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkRecord {
    /// Headline ops.
    pub ops: u64,
    /// Headline bytes.
    pub bytes: u64,
    /// Phases: name, ops, bytes.
    pub phases: alloc::vec::Vec<([u8; WORK_NAME_LEN], u64, u64)>,
    /// Bit `i` set: slot `i` starts the next interactive phase (see the type's docs).
    pub step_starts: u32,
}

impl WorkRecord {
    /// The record of a [`crate::work::Work`] (names longer than 16 bytes are cut; phases past
    /// [`WORK_MAX_PHASES`] dropped).
    pub fn from_work(work: &crate::work::Work) -> Self {
        let phases = work
            .phases
            .iter()
            .take(WORK_MAX_PHASES)
            .map(|p| {
                let mut name = [0u8; WORK_NAME_LEN];
                for (d, s) in name.iter_mut().zip(p.name.bytes()) {
                    *d = s;
                }
                (name, p.ops, p.bytes)
            })
            .collect();
        let step_starts = work
            .phases
            .iter()
            .take(WORK_MAX_PHASES)
            .zip(work.phases.iter().skip(1))
            .enumerate()
            .filter(|(i, (a, b))| i + 1 < WORK_MAX_PHASES && b.step > a.step)
            .fold(0u32, |m, (i, _)| m | 1 << (i + 1));
        Self {
            ops: work.ops,
            bytes: work.bytes,
            phases,
            step_starts,
        }
    }

    /// The interactive phase of slot `i` (`popcount` of the step-start bits `1..=i`).
    pub fn step_of(&self, i: usize) -> u32 {
        let upto = if i >= 31 { u32::MAX } else { (2u32 << i) - 1 };
        (self.step_starts & upto & !1).count_ones()
    }

    /// The fixed-size encoding.
    #[allow(clippy::indexing_slicing)] // constant ranges inside a fixed-size array
    pub fn encode(&self) -> [u8; WORK_RECORD_LEN] {
        let mut out = [0u8; WORK_RECORD_LEN];
        out[..8].copy_from_slice(&self.ops.to_le_bytes());
        out[8..16].copy_from_slice(&self.bytes.to_le_bytes());
        let count = self.phases.len().min(WORK_MAX_PHASES);
        out[16..20].copy_from_slice(&(count as u32).to_le_bytes());
        out[20..24].copy_from_slice(&self.step_starts.to_le_bytes());
        for (slot, (name, ops, bytes)) in out[24..].chunks_exact_mut(32).zip(&self.phases) {
            slot[..16].copy_from_slice(name);
            slot[16..24].copy_from_slice(&ops.to_le_bytes());
            slot[24..32].copy_from_slice(&bytes.to_le_bytes());
        }
        out
    }

    /// Decodes a record written by a (possibly hostile) module.
    pub fn decode(bytes: &[u8]) -> Result<Self, SpecError> {
        let size = SpecError::BufferSize {
            what: "work record",
            expected: WORK_RECORD_LEN as u64,
            got: bytes.len() as u64,
        };
        if bytes.len() != WORK_RECORD_LEN {
            return Err(size);
        }
        let count = u32_at(bytes, 16).ok_or(size.clone())? as usize;
        if count > WORK_MAX_PHASES {
            return Err(SpecError::OutOfRange {
                what: "work phase count",
                index: count as u64,
                count: WORK_MAX_PHASES as u64,
            });
        }
        let phases = (0..count)
            .map(|i| {
                let at = 24 + 32 * i;
                Some((
                    bytes_at(bytes, at)?,
                    u64_at(bytes, at + 16)?,
                    u64_at(bytes, at + 24)?,
                ))
            })
            .collect::<Option<_>>()
            .ok_or(size.clone())?;
        let step_starts = u32_at(bytes, 20).ok_or(size.clone())?;
        let allowed = ((1u64 << count) - 1) as u32 & !1;
        if step_starts & !allowed != 0 {
            return Err(SpecError::BadParam {
                module: "work record",
                field: "step starts",
                value: u64::from(step_starts),
                rule: "bit 0 and bits at or past the phase count must be clear",
            });
        }
        Ok(Self {
            ops: u64_at(bytes, 0).ok_or(size.clone())?,
            bytes: u64_at(bytes, 8).ok_or(size)?,
            phases,
            step_starts,
        })
    }
}

/// Bytes of a check request before the chunk.
pub const CHECK_HEADER_LEN: usize = 4 + 8 + 4 + 32;

/// One opened leaf handed to a module's `check` (see the module docs for the encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest<'a> {
    /// Output index (product `t` for `matmul-i8`, pass `p` for `membw`).
    pub output: u32,
    /// Leaf (chunk) index inside that output.
    pub leaf: u64,
    /// How many positions to sample inside the leaf, for modules that sample.
    pub samples: u32,
    /// Fresh verifier randomness for choosing those positions.
    pub salt: [u8; 32],
    /// The leaf's bytes, already authenticated by the tree path.
    pub chunk: &'a [u8],
}

impl<'a> CheckRequest<'a> {
    /// Encodes the request.
    pub fn encode(&self) -> alloc::vec::Vec<u8> {
        let mut out = alloc::vec::Vec::with_capacity(CHECK_HEADER_LEN + self.chunk.len());
        out.extend_from_slice(&self.output.to_le_bytes());
        out.extend_from_slice(&self.leaf.to_le_bytes());
        out.extend_from_slice(&self.samples.to_le_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(self.chunk);
        out
    }

    /// Decodes a request; the chunk borrows from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, SpecError> {
        let short = SpecError::BufferSize {
            what: "check request header",
            expected: CHECK_HEADER_LEN as u64,
            got: bytes.len() as u64,
        };
        let chunk = bytes.get(CHECK_HEADER_LEN..).ok_or(short.clone())?;
        Ok(Self {
            output: u32_at(bytes, 0).ok_or(short.clone())?,
            leaf: u64_at(bytes, 4).ok_or(short.clone())?,
            samples: u32_at(bytes, 12).ok_or(short.clone())?,
            salt: bytes_at(bytes, 16).ok_or(short)?,
            chunk,
        })
    }

    /// The `j`-th sampled position in `0..positions`, drawn from the salt:
    /// `u64 LE of BLAKE3-keyed(salt, leaf LE ‖ j LE)[0..8] mod positions`.
    pub fn sample(&self, j: u32, positions: u64) -> u64 {
        let mut msg = [0u8; 12];
        let (leaf, index) = msg.split_at_mut(8);
        leaf.copy_from_slice(&self.leaf.to_le_bytes());
        index.copy_from_slice(&j.to_le_bytes());
        let h = blake3::keyed_hash(&self.salt, &msg);
        u64_at(h.as_bytes(), 0).unwrap_or(0) % positions.max(1)
    }
}
