//! Per-instance host state (`Store<HostState>` data) and the helpers every import uses to read
//! and write guest memory, resolve handles and account for budgets.
#![deny(clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use challenges::abi::status;
use wasmtime::{Caller, Memory, ResourceLimiter};

use crate::backend::{BackendError, BackendKind, BufferId, Committed, DeviceSession};
use crate::limits::SandboxLimits;
use crate::phase::{NoPhases, PhaseHook};

/// Caps guest memory and tables, and remembers whether the memory cap was hit so a later trap
/// can be reported as [`crate::TrapKind::MemoryLimit`].
pub(crate) struct GuestLimiter {
    pub(crate) memory_cap: usize,
    pub(crate) memory_limit_hit: bool,
}

/// Largest table a guest may have (elements).
const TABLE_CAP: usize = 10_000;

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_limit_hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_CAP)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        2
    }

    fn memories(&self) -> usize {
        1
    }
}

/// A live guest buffer: the backend's id and its size.
pub(crate) struct GuestBuffer {
    pub(crate) id: BufferId,
    pub(crate) len: u64,
}

/// State of an instance running a challenge on a device.
pub(crate) struct RunSide {
    pub(crate) session: Box<dyn DeviceSession>,
    pub(crate) buffers: BTreeMap<i32, GuestBuffer>,
    pub(crate) next_handle: i32,
    pub(crate) live_bytes: u64,
    pub(crate) committed: Vec<Committed>,
    pub(crate) committed_bytes: u64,
    pub(crate) device_memory: u64,
    pub(crate) backend: BackendKind,
}

/// What an instance is doing; imports check it and answer `UNAVAILABLE` when they do not fit.
pub(crate) enum Side {
    /// Running a challenge (`run`).
    Run(RunSide),
    /// Checking an opened leaf (`check`) against these committed roots.
    Check { roots: Vec<[u8; 32]> },
    /// Declaring work (`work`).
    Work,
}

/// The data of a `Store`: everything an import needs.
/// What a backend call's time counts towards in [`StageTimes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Filling inputs from the PRF (`prf_fill`, `membw_fill`).
    Fill,
    /// The main work (`gemm_i8`, `membw_pass`) and waiting for it (`sync`, the sync before a
    /// phase ends): on an asynchronous device the kernels' time surfaces in the waits.
    Compute,
    /// Hashing outputs into roots (`commit`).
    Hash,
    /// Bookkeeping (`alloc`, `free`): in the backend total only.
    Other,
}

/// The backend time of a run split by stage, measured on the host around each backend call.
/// The three parts add up to at most [`RunTimings::backend`](crate::RunTimings::backend) (the
/// rest is allocation). The miner's own account, informational only: the verifier times the
/// challenge itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StageTimes {
    /// `prf_fill` and `membw_fill`.
    pub fill: Duration,
    /// `gemm_i8`, `membw_pass` and the waits for them.
    pub compute: Duration,
    /// `commit`.
    pub hash: Duration,
}

impl StageTimes {
    fn add(&mut self, stage: Stage, took: Duration) {
        match stage {
            Stage::Fill => self.fill += took,
            Stage::Compute => self.compute += took,
            Stage::Hash => self.hash += took,
            Stage::Other => {}
        }
    }
}

pub(crate) struct HostState {
    pub(crate) limiter: GuestLimiter,
    pub(crate) memory: Option<Memory>,
    pub(crate) seed: [u8; 32],
    pub(crate) device: u32,
    pub(crate) side: Side,
    pub(crate) limits: SandboxLimits,
    pub(crate) logs: Vec<String>,
    pub(crate) host_ops: u64,
    pub(crate) backend_time: Duration,
    /// `backend_time` split by what the call was for.
    pub(crate) stage_times: StageTimes,
    pub(crate) last_error: Option<String>,
    /// Where `phase_end` gets the next phase key (run side).
    pub(crate) phases: Box<dyn PhaseHook>,
    /// The current interactive phase (0 until the first `phase_end`).
    pub(crate) phase: u32,
    /// `phase_seeds[k − 1]` is the seed of phase `k`: received on the run side, given on the
    /// check side.
    pub(crate) phase_seeds: Vec<[u8; 32]>,
    /// Time the run spent blocked in `phase_end`, waiting for phase keys.
    pub(crate) phase_wait: Duration,
}

impl HostState {
    pub(crate) fn new(limits: SandboxLimits, seed: [u8; 32], device: u32, side: Side) -> Self {
        Self {
            limiter: GuestLimiter {
                memory_cap: limits.guest_memory_bytes,
                memory_limit_hit: false,
            },
            memory: None,
            seed,
            device,
            side,
            limits,
            logs: Vec::new(),
            host_ops: 0,
            backend_time: Duration::ZERO,
            stage_times: StageTimes::default(),
            last_error: None,
            phases: Box::new(NoPhases),
            phase: 0,
            phase_seeds: Vec::new(),
            phase_wait: Duration::ZERO,
        }
    }

    /// Adds `ops` to the host work done; `BUDGET` once past the budget.
    pub(crate) fn charge(&mut self, ops: u64) -> Result<(), i32> {
        self.host_ops = self.host_ops.saturating_add(ops);
        if self.host_ops > self.limits.host_ops_budget {
            self.last_error = Some(format!(
                "host work budget of {} ops exceeded",
                self.limits.host_ops_budget
            ));
            return Err(status::BUDGET);
        }
        Ok(())
    }

    /// Records a failure's cause and returns its status code.
    pub(crate) fn fail(&mut self, code: i32, detail: impl Into<String>) -> i32 {
        self.last_error = Some(detail.into());
        code
    }

    /// The run side, or `UNAVAILABLE`.
    pub(crate) fn run_side(&mut self) -> Result<&mut RunSide, i32> {
        match &mut self.side {
            Side::Run(run) => Ok(run),
            _ => Err(status::UNAVAILABLE),
        }
    }

    /// Runs a backend call, timing it (in the total and in `stage`) and mapping its error to
    /// `DEVICE`.
    pub(crate) fn backend<R>(
        &mut self,
        stage: Stage,
        f: impl FnOnce(&mut RunSide) -> Result<R, BackendError>,
    ) -> Result<R, i32> {
        let start = Instant::now();
        let result = match &mut self.side {
            Side::Run(run) => f(run).map_err(|e| e.to_string()),
            _ => return Err(status::UNAVAILABLE),
        };
        let took = start.elapsed();
        self.backend_time += took;
        self.stage_times.add(stage, took);
        result.map_err(|e| self.fail(status::DEVICE, e))
    }
}

impl RunSide {
    /// The buffer behind a guest handle, or `BAD_HANDLE`.
    pub(crate) fn buffer(&self, handle: i32) -> Result<&GuestBuffer, i32> {
        self.buffers.get(&handle).ok_or(status::BAD_HANDLE)
    }
}

/// Converts a guest (offset, length) pair to a checked byte range of guest memory.
fn guest_range(
    caller: &Caller<'_, HostState>,
    ptr: i32,
    len: i64,
) -> Result<std::ops::Range<usize>, i32> {
    let memory = caller.data().memory.ok_or(status::UNAVAILABLE)?;
    let size = memory.data_size(caller);
    let start = usize::try_from(ptr).map_err(|_| status::BAD_POINTER)?;
    let len = usize::try_from(len).map_err(|_| status::BAD_POINTER)?;
    let end = start.checked_add(len).ok_or(status::BAD_POINTER)?;
    if end > size {
        return Err(status::BAD_POINTER);
    }
    Ok(start..end)
}

/// Copies `len` bytes of guest memory at `ptr`.
pub(crate) fn read_guest(
    caller: &Caller<'_, HostState>,
    ptr: i32,
    len: i32,
    max: usize,
) -> Result<Vec<u8>, i32> {
    if usize::try_from(len).map_or(true, |l| l > max) {
        return Err(status::OUT_OF_RANGE);
    }
    let range = guest_range(caller, ptr, i64::from(len))?;
    let memory = caller.data().memory.ok_or(status::UNAVAILABLE)?;
    memory
        .data(caller)
        .get(range)
        .map(<[u8]>::to_vec)
        .ok_or(status::BAD_POINTER)
}

/// Writes `bytes` into guest memory at `ptr`.
pub(crate) fn write_guest(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    bytes: &[u8],
) -> Result<(), i32> {
    let range = guest_range(caller, ptr, bytes.len() as i64)?;
    let memory = caller.data().memory.ok_or(status::UNAVAILABLE)?;
    memory
        .data_mut(caller)
        .get_mut(range)
        .ok_or(status::BAD_POINTER)?
        .copy_from_slice(bytes);
    Ok(())
}

/// Collapses an import's `Result` into its `i32` return value.
pub(crate) fn code(result: Result<i32, i32>) -> i32 {
    result.unwrap_or_else(|e| e)
}
