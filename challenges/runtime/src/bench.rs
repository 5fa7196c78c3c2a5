//! Throughput of one device's operations, measured through the [`Backend`] trait: the numbers
//! `scripts/gpu-selftest` records for the class table (issue #4).
//!
//! [`run`] times each operation a challenge is made of, on one device, with the buffers of a
//! [`BenchPlan`], and returns a [`BenchReport`] (JSON through serde; schema [`SCHEMA`]). It goes
//! through the same `DeviceSession` calls the sandbox makes, so it measures exactly the code a
//! challenge runs, on any backend (`miner-host bench --backend cuda|cpu`). `verifier calibrate`
//! reads the report and sets it against the class table (datasheet peaks, `membw_rounds`).
//!
//! # What is measured, and how
//!
//! Every operation runs once untimed (warm-up: kernel loading, cuBLASLt's self-check, first
//! touch of memory), then [`BenchPlan::repeats`] times, each between two `sync` calls timed by
//! the host's monotonic clock; the report keeps every time and uses the **best** (least
//! disturbed) one for its rates.
//!
//! - `copy`: a device-to-device copy of `copy_bytes`; rate = `2 · bytes / s` (read and write,
//!   as CUDA's `bandwidthTest` counts it). The reference for `membw`'s passes.
//! - `prf_fill`: the int8 PRF fill of `prf_bytes` (Philox blocks/s = `bytes / 16 / s`).
//! - `gemm`: one `gemm_i8` of the plan's shape, `2·m·n·k` ops; includes the backend's re-layout
//!   of the product into tiles (a memory pass of `8·m·n` bytes: ≈ 3 % of the time at the full
//!   plan's shape on a GPU).
//! - `membw_fill` at each fill round count of the sweep; `membw_pass`: one pass over the
//!   filled buffer, rate = `2 · V / s` (each group is read twice: as `b` and as `π(b)`).
//! - `hash`: `commit` of `hash_bytes` (a fresh session per run, so committed outputs do not
//!   pile up). A commit copies the output on the device before hashing it; `hash` subtracts
//!   that copy at the measured `copy` rate, `commit` is the whole call.
//!
//! # `R` for `membw` ([`RoundsEstimate`])
//!
//! docs/design.md: regenerating a group must cost ≥ 10× reading it. The cost of one more fill round
//! is the **slope** of fill time over rounds between the sweep's smallest and largest count
//! (this leaves out the write of the buffer, which a miner regenerating in registers does not
//! pay), per Philox call. Reading a group costs the pass time divided by the `2·G` group reads
//! of a pass. The least `R` with `(g/16)·(R+1)·slope ≥ 10 · read` is the measured `R`; the
//! per-point ratios (whole fill time, write included) are reported beside it.

use std::time::Instant;

use challenges::membw::Permutation;
use challenges::prf::{self, PhiloxKey};
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, BackendError, BufferId, DeviceSession};

/// The report's schema name; a reader refuses any other.
pub const SCHEMA: &str = "gpuproof-bench/1";

/// How much dearer than reading a group regenerating it must be (docs/design.md §membw).
pub const REGENERATION_FACTOR: f64 = 10.0;

/// The Philox key every fill of the bench uses (the values do not matter for timing).
const BENCH_KEY: PhiloxKey = [0x6770_7570, 0x726f_6f66];

/// What went wrong while benchmarking.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The plan cannot be run (sizes, shapes, sweep).
    #[error("bad bench plan: {0}")]
    Plan(String),
    /// The backend refused or failed an operation.
    #[error("{step}: {source}")]
    Backend {
        /// Which operation of the bench.
        step: &'static str,
        /// The backend's error.
        source: BackendError,
    },
    /// The timings do not allow a figure (e.g. fill time not growing with rounds).
    #[error("cannot derive {what}: {why}")]
    Unmeasurable {
        /// The figure.
        what: &'static str,
        /// Why the timings don't give it.
        why: String,
    },
}

fn at(step: &'static str) -> impl Fn(BackendError) -> BenchError {
    move |source| BenchError::Backend { step, source }
}

/// The `gemm_i8` shape a bench times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GemmShape {
    /// Rows of `A` and `C`.
    pub m: u32,
    /// Columns of `B` and `C`.
    pub n: u32,
    /// Columns of `A`, rows of `B`.
    pub k: u32,
}

/// Sizes of everything a bench allocates. [`BenchPlan::validate`] says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchPlan {
    /// Bytes of the device-to-device copy.
    pub copy_bytes: u64,
    /// Bytes of the int8 PRF fill.
    pub prf_bytes: u64,
    /// The GEMM's shape (multiples of 16).
    pub gemm: GemmShape,
    /// Bytes of the `membw` buffer (a multiple of the group, ≥ 2 groups).
    pub membw_bytes: u64,
    /// `membw` group size (a multiple of 128).
    pub membw_group: u32,
    /// Fill round counts to time, ascending, at least two, each ≥ 1.
    pub rounds: Vec<u32>,
    /// Bytes of the committed output (more than one 16 KiB block, so the device builds the
    /// tree).
    pub hash_bytes: u64,
    /// Timed runs of each operation (after one warm-up run), ≥ 1.
    pub repeats: u32,
}

const MIB: u64 = 1 << 20;

impl BenchPlan {
    /// Small sizes (at most 16 MiB a buffer): a check that everything runs, not a measurement of
    /// a GPU. 19 s on the CPU backend of the 2-core development machine in a debug build.
    pub fn quick() -> Self {
        Self {
            copy_bytes: 16 * MIB,
            prf_bytes: 4 * MIB,
            gemm: GemmShape {
                m: 128,
                n: 128,
                k: 512,
            },
            membw_bytes: 8 * MIB,
            membw_group: 1024,
            // Wide enough that the fill's slope stands out of launch overheads on a GPU too.
            rounds: vec![1, 8, 64],
            hash_bytes: 4 * MIB,
            repeats: 3,
        }
    }

    /// The smallest plan whose figures are still sound on a busy CPU (a 1 MiB copy, a
    /// 32 × 32 × 64 GEMM, 256 KiB `membw` filled at 1 and 64 rounds, best of three): what
    /// tests run, in well under a second.
    pub fn smoke() -> Self {
        Self {
            copy_bytes: MIB,
            prf_bytes: 256 * 1024,
            gemm: GemmShape {
                m: 32,
                n: 32,
                k: 64,
            },
            membw_bytes: 256 * 1024,
            membw_group: 1024,
            // A wide sweep, best of three: the fill's slope must stand out of the noise of
            // tests running side by side on two cores.
            rounds: vec![1, 64],
            hash_bytes: 64 * 1024,
            repeats: 3,
        }
    }

    /// The sizes for a GPU with `memory_bytes` of memory: big enough that launch overheads
    /// vanish (the GEMM 8192 × 8192 × 32768 where it fits), each phase within an eighth of the
    /// memory, and a fill sweep up to 256 rounds (above every class's estimated `R`).
    pub fn full(memory_bytes: u64) -> Self {
        let budget = (memory_bytes / 8).max(64 * MIB);
        let round_down = |bytes: u64, unit: u64| (bytes / unit).max(1) * unit;
        // A, B, the product, C, and cuBLASLt's transposed B: 4·(mk + kn) + 8·mn ≈ 6 units of
        // 256 MiB at the full shape; halve k until it fits.
        let (m, n) = (8192u32, 8192u32);
        let mut k = 32768u32;
        let held = |k: u32| {
            let (m, n, k) = (u64::from(m), u64::from(n), u64::from(k));
            2 * (m * k + k * n) + 8 * m * n
        };
        while k > 1024 && held(k) > budget {
            k /= 2;
        }
        Self {
            copy_bytes: round_down(budget.min(2048 * MIB) / 2, MIB),
            prf_bytes: round_down(budget.min(1024 * MIB), MIB),
            gemm: GemmShape { m, n, k },
            membw_bytes: round_down(budget.min(4096 * MIB), 4096),
            membw_group: 1024,
            rounds: vec![1, 2, 4, 8, 16, 32, 64, 128, 256],
            hash_bytes: round_down(budget.min(2048 * MIB) / 2, MIB),
            repeats: 5,
        }
    }

    /// Checks every rule of the fields' docs.
    pub fn validate(&self) -> Result<(), BenchError> {
        let bad = |why: &str| Err(BenchError::Plan(why.to_string()));
        let GemmShape { m, n, k } = self.gemm;
        if [m, n, k].iter().any(|&d| d == 0 || d % 16 != 0) {
            return bad("gemm m, n and k must be non-zero multiples of 16");
        }
        if self.copy_bytes == 0 || self.prf_bytes == 0 {
            return bad("copy_bytes and prf_bytes must be non-zero");
        }
        let group = u64::from(self.membw_group);
        if group == 0 || group % 128 != 0 {
            return bad("membw_group must be a non-zero multiple of 128");
        }
        if !self.membw_bytes.is_multiple_of(group) || self.membw_bytes / group < 2 {
            return bad("membw_bytes must be a whole number (≥ 2) of groups");
        }
        if self.rounds.len() < 2
            || self.rounds.first().is_some_and(|&r| r == 0)
            || self.rounds.windows(2).any(|w| w.first() >= w.get(1))
        {
            return bad("rounds must be at least two strictly ascending counts, each ≥ 1");
        }
        if self.hash_bytes <= 16 * 1024 {
            return bad("hash_bytes must exceed one 16 KiB block");
        }
        if self.repeats == 0 {
            return bad("repeats must be ≥ 1");
        }
        Ok(())
    }
}

/// The timings of one operation: every timed run, and the best.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Seconds of each timed run, in order.
    pub runs_s: Vec<f64>,
    /// The least of them: what the rates below use.
    pub best_s: f64,
}

impl Timing {
    fn of(runs_s: Vec<f64>) -> Self {
        let best_s = runs_s.iter().copied().fold(f64::INFINITY, f64::min);
        Self { runs_s, best_s }
    }
}

/// A device-to-device copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopyFigures {
    /// Bytes copied.
    pub bytes: u64,
    /// Times.
    pub timing: Timing,
    /// `2 · bytes / best` in GB/s (10⁹ bytes/s): bytes read plus bytes written.
    pub gbps: f64,
}

/// The int8 PRF fill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrfFigures {
    /// Bytes filled.
    pub bytes: u64,
    /// Times.
    pub timing: Timing,
    /// Philox4x32-10 blocks per second (`bytes / 16 / best`).
    pub philox_blocks_per_s: f64,
}

/// One `gemm_i8`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GemmFigures {
    /// The shape.
    pub shape: GemmShape,
    /// Times.
    pub timing: Timing,
    /// `2·m·n·k / best / 10¹²`.
    pub tops: f64,
}

/// The `membw` fill at one round count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillPoint {
    /// Fill rounds `R` (each block takes `R + 1` Philox calls).
    pub rounds: u32,
    /// Times of filling the whole buffer.
    pub timing: Timing,
    /// Philox calls per second over the whole fill, write included.
    pub philox_per_s: f64,
    /// Whole fill time per group over the read time per group (≥ 10 is the goal).
    pub fill_over_read: f64,
}

/// One `membw` pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassFigures {
    /// Buffer bytes `V`.
    pub bytes: u64,
    /// Group bytes `g`.
    pub group: u32,
    /// Times.
    pub timing: Timing,
    /// `2 · V / best` in GB/s: every group is read twice per pass.
    pub gbps: f64,
    /// `gbps` over the copy's GB/s (issue #4 asks ≥ 0.8).
    pub fraction_of_copy: f64,
}

impl PassFigures {
    /// Seconds to read one group: the best pass time over the pass's `2·G` group reads.
    pub fn group_read_s(&self) -> f64 {
        let groups = self.bytes / u64::from(self.group.max(1));
        self.timing.best_s / (2.0 * groups as f64)
    }
}

/// The fill round count the timings call for ([module docs](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundsEstimate {
    /// Seconds per Philox call beyond the write (slope of fill time over rounds, per block).
    pub philox_call_s: f64,
    /// Seconds to read one group in a pass (`pass best / (2·G)`).
    pub group_read_s: f64,
    /// The least `R ≥ 1` with `(g/16)·(R+1)·philox_call_s ≥ 10 · group_read_s`.
    pub rounds: u32,
}

/// BLAKE3 tree of a committed output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HashFigures {
    /// Bytes committed.
    pub bytes: u64,
    /// Times of the whole `commit`.
    pub timing: Timing,
    /// `bytes / best` in GB/s, the whole commit.
    pub commit_gbps: f64,
    /// The device copy inside a commit, at the measured copy rate, in seconds.
    pub copy_s: f64,
    /// `bytes / (best − copy_s)` in GB/s: the tree alone.
    pub gbps: f64,
}

/// Everything one bench run measured on one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// [`SCHEMA`].
    pub schema: String,
    /// Backend name (`cpu`, `cuda`).
    pub backend: String,
    /// Device index.
    pub device: u32,
    /// Device name as the driver reports it (what the class table classifies).
    pub device_name: String,
    /// Device memory in bytes.
    pub memory_bytes: u64,
    /// The plan it ran.
    pub plan: BenchPlan,
    /// Device-to-device copy.
    pub copy: CopyFigures,
    /// int8 PRF fill.
    pub prf_fill: PrfFigures,
    /// int8 GEMM.
    pub gemm: GemmFigures,
    /// `membw` fill per round count of the sweep.
    pub membw_fill: Vec<FillPoint>,
    /// One `membw` pass.
    pub membw_pass: PassFigures,
    /// The measured `R`.
    pub membw_rounds: RoundsEstimate,
    /// BLAKE3 tree.
    pub hash: HashFigures,
}

/// Why a text is not a bench report this build reads.
#[derive(Debug, thiserror::Error)]
pub enum BenchReportError {
    /// The text is not a bench report's JSON.
    #[error("not a bench report (schema {SCHEMA}, from `miner-host bench --json`): {0}")]
    NotAReport(#[source] serde_json::Error),
    /// A bench report of another schema (another build's `miner-host bench`).
    #[error("bench report schema is `{found}`, this build reads `{SCHEMA}`")]
    Schema {
        /// The schema the report names.
        found: String,
    },
}

impl BenchReport {
    /// Parses a report, refusing another schema.
    pub fn from_json(text: &str) -> Result<Self, BenchReportError> {
        let report: Self = serde_json::from_str(text).map_err(BenchReportError::NotAReport)?;
        if report.schema != SCHEMA {
            return Err(BenchReportError::Schema {
                found: report.schema,
            });
        }
        Ok(report)
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// A rate for people: four significant digits, in plain notation from 0.01 up to 10⁶.
pub fn figure(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 || !(0.01..1e6).contains(&magnitude) {
        return format!("{value:.3e}");
    }
    let decimals = (3 - magnitude.log10().floor() as i32).max(0) as usize;
    format!("{value:.decimals$}")
}

/// Runs `op` once untimed, then `repeats` times between `sync` calls.
fn time(
    session: &mut dyn DeviceSession,
    repeats: u32,
    step: &'static str,
    mut op: impl FnMut(&mut dyn DeviceSession) -> Result<(), BackendError>,
) -> Result<Timing, BenchError> {
    op(session).map_err(at(step))?;
    session.sync().map_err(at(step))?;
    let mut runs = Vec::with_capacity(repeats as usize);
    for _ in 0..repeats {
        let start = Instant::now();
        op(session).map_err(at(step))?;
        session.sync().map_err(at(step))?;
        runs.push(start.elapsed().as_secs_f64().max(1e-9));
    }
    Ok(Timing::of(runs))
}

fn alloc(
    session: &mut dyn DeviceSession,
    bytes: u64,
    step: &'static str,
) -> Result<BufferId, BenchError> {
    session.alloc(bytes).map_err(at(step))
}

fn fill(
    session: &mut dyn DeviceSession,
    buf: BufferId,
    bytes: u64,
    tensor: u32,
) -> Result<(), BenchError> {
    session
        .prf_fill(buf, 0, bytes, BENCH_KEY, tensor, 0)
        .map_err(at("filling operands"))
}

/// The rounds estimate from a fill sweep and a pass ([module docs](self)).
pub fn estimate_rounds(
    fills: &[FillPoint],
    pass: &PassFigures,
) -> Result<RoundsEstimate, BenchError> {
    let unmeasurable = |why: String| BenchError::Unmeasurable {
        what: "membw rounds",
        why,
    };
    let (Some(low), Some(high)) = (fills.first(), fills.last()) else {
        return Err(unmeasurable("the fill sweep is empty".into()));
    };
    let blocks = pass.bytes as f64 / prf::BLOCK_BYTES as f64;
    let extra_calls = blocks * f64::from(high.rounds.saturating_sub(low.rounds));
    let extra_s = high.timing.best_s - low.timing.best_s;
    if extra_calls <= 0.0 || extra_s <= 0.0 {
        return Err(unmeasurable(format!(
            "filling took no longer at {} rounds ({:.3e} s) than at {} ({:.3e} s): widen the sweep \
             or enlarge the buffer",
            high.rounds, high.timing.best_s, low.rounds, low.timing.best_s
        )));
    }
    let philox_call_s = extra_s / extra_calls;
    let group_read_s = pass.group_read_s();
    let calls_per_round = f64::from(pass.group) / prf::BLOCK_BYTES as f64;
    // (g/16)·(R+1)·c ≥ 10·read  ⇔  R + 1 ≥ 10·read / ((g/16)·c)
    let needed = REGENERATION_FACTOR * group_read_s / (calls_per_round * philox_call_s);
    let rounds = (needed.ceil() - 1.0).clamp(1.0, f64::from(u32::MAX)) as u32;
    Ok(RoundsEstimate {
        philox_call_s,
        group_read_s,
        rounds,
    })
}

/// Measures `device` of `backend` with `plan`. `progress` gets a line before each step.
/// Holds the device (one session at a time) for the whole run and frees everything on return.
pub fn run(
    backend: &dyn Backend,
    device: u32,
    plan: &BenchPlan,
    progress: &mut dyn FnMut(&str),
) -> Result<BenchReport, BenchError> {
    plan.validate()?;
    let devices = backend.devices();
    let count = devices.len() as u32;
    let info = devices
        .into_iter()
        .find(|d| d.index == device)
        .ok_or(BenchError::Backend {
            step: "finding the device",
            source: BackendError::NoDevice {
                index: device,
                count,
            },
        })?;
    let repeats = plan.repeats;
    let mut session = backend.open(device).map_err(at("opening the device"))?;
    let s = session.as_mut();

    progress(&format!("copy: {} bytes device to device", plan.copy_bytes));
    let src = alloc(s, plan.copy_bytes, "allocating the copy source")?;
    let dst = alloc(s, plan.copy_bytes, "allocating the copy destination")?;
    fill(s, src, plan.copy_bytes, 0)?;
    let timing = time(s, repeats, "copy", |s| s.copy(src, dst))?;
    let copy = CopyFigures {
        bytes: plan.copy_bytes,
        gbps: 2.0 * plan.copy_bytes as f64 / timing.best_s / 1e9,
        timing,
    };
    s.free(src).map_err(at("freeing"))?;
    s.free(dst).map_err(at("freeing"))?;

    progress(&format!("prf fill: {} bytes", plan.prf_bytes));
    let buf = alloc(s, plan.prf_bytes, "allocating the prf buffer")?;
    let timing = time(s, repeats, "prf fill", |s| {
        s.prf_fill(buf, 0, plan.prf_bytes, BENCH_KEY, 1, 0)
    })?;
    let prf_fill = PrfFigures {
        bytes: plan.prf_bytes,
        philox_blocks_per_s: plan.prf_bytes as f64 / prf::BLOCK_BYTES as f64 / timing.best_s,
        timing,
    };
    s.free(buf).map_err(at("freeing"))?;

    let GemmShape { m, n, k } = plan.gemm;
    progress(&format!("gemm: {m} × {n} × {k} int8"));
    let (mu, nu, ku) = (u64::from(m), u64::from(n), u64::from(k));
    let a = alloc(s, mu * ku, "allocating gemm A")?;
    let b = alloc(s, ku * nu, "allocating gemm B")?;
    let c = alloc(s, 4 * mu * nu, "allocating gemm C")?;
    fill(s, a, mu * ku, 2)?;
    fill(s, b, ku * nu, 3)?;
    let timing = time(s, repeats, "gemm", |s| s.gemm_i8(a, b, c, m, n, k))?;
    let gemm = GemmFigures {
        shape: plan.gemm,
        tops: 2.0 * (mu * nu) as f64 * ku as f64 / timing.best_s / 1e12,
        timing,
    };
    for buf in [a, b, c] {
        s.free(buf).map_err(at("freeing"))?;
    }

    let groups = plan.membw_bytes / u64::from(plan.membw_group);
    let buf = alloc(s, plan.membw_bytes, "allocating the membw buffer")?;
    let out = alloc(s, 8 * groups, "allocating the membw output")?;
    let mut fill_times = Vec::with_capacity(plan.rounds.len());
    for &rounds in &plan.rounds {
        progress(&format!(
            "membw fill: {} bytes, {rounds} rounds",
            plan.membw_bytes
        ));
        fill_times.push((
            rounds,
            time(s, repeats, "membw fill", |s| {
                s.membw_fill(buf, BENCH_KEY, rounds)
            })?,
        ));
    }
    progress(&format!(
        "membw pass: {} bytes in groups of {}",
        plan.membw_bytes, plan.membw_group
    ));
    let perm =
        Permutation::new(groups, 0, &[7u8; 8]).map_err(|e| BenchError::Plan(e.to_string()))?;
    let timing = time(s, repeats, "membw pass", |s| {
        s.membw_pass(buf, out, plan.membw_group, 0, &perm)
    })?;
    let gbps = 2.0 * plan.membw_bytes as f64 / timing.best_s / 1e9;
    let membw_pass = PassFigures {
        bytes: plan.membw_bytes,
        group: plan.membw_group,
        gbps,
        fraction_of_copy: gbps / copy.gbps,
        timing,
    };
    s.free(buf).map_err(at("freeing"))?;
    s.free(out).map_err(at("freeing"))?;
    let group_read_s = membw_pass.group_read_s();
    let blocks = plan.membw_bytes as f64 / prf::BLOCK_BYTES as f64;
    let membw_fill: Vec<FillPoint> = fill_times
        .into_iter()
        .map(|(rounds, timing)| FillPoint {
            rounds,
            philox_per_s: blocks * f64::from(rounds + 1) / timing.best_s,
            fill_over_read: timing.best_s / groups as f64 / group_read_s,
            timing,
        })
        .collect();
    let membw_rounds = estimate_rounds(&membw_fill, &membw_pass)?;
    drop(session);

    progress(&format!("hash: commit of {} bytes", plan.hash_bytes));
    // One session per run: a session keeps what it commits until it ends.
    let mut runs = Vec::with_capacity(repeats as usize + 1);
    for _ in 0..=repeats {
        let mut session = backend.open(device).map_err(at("opening the device"))?;
        let s = session.as_mut();
        let buf = alloc(s, plan.hash_bytes, "allocating the hash input")?;
        fill(s, buf, plan.hash_bytes, 4)?;
        s.sync().map_err(at("hash"))?;
        let start = Instant::now();
        s.commit(buf).map_err(at("hash"))?;
        s.sync().map_err(at("hash"))?;
        runs.push(start.elapsed().as_secs_f64().max(1e-9));
    }
    let timing = Timing::of(runs.split_off(1));
    let bytes = plan.hash_bytes as f64;
    let copy_s = 2.0 * bytes / (copy.gbps * 1e9);
    let tree_s = timing.best_s - copy_s;
    let hash = HashFigures {
        bytes: plan.hash_bytes,
        commit_gbps: bytes / timing.best_s / 1e9,
        copy_s,
        gbps: if tree_s > 0.0 {
            bytes / tree_s / 1e9
        } else {
            bytes / timing.best_s / 1e9
        },
        timing,
    };

    Ok(BenchReport {
        schema: SCHEMA.to_string(),
        backend: backend.name().to_string(),
        device,
        device_name: info.name,
        memory_bytes: info.memory_bytes,
        plan: plan.clone(),
        copy,
        prf_fill,
        gemm,
        membw_fill,
        membw_pass,
        membw_rounds,
        hash,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::cpu::{CpuBackend, CpuConfig};

    fn cpu() -> CpuBackend {
        CpuBackend::new(CpuConfig {
            devices: 1,
            threads_per_device: 2,
            memory_bytes: 256 * MIB,
        })
        .unwrap()
    }

    #[test]
    fn figures_keep_four_significant_digits() {
        assert_eq!(figure(1979.04), "1979");
        assert_eq!(figure(4.56789), "4.568");
        assert_eq!(figure(0.0123456), "0.01235");
        assert_eq!(figure(0.000_012_3), "1.230e-5");
        assert_eq!(figure(0.0), "0.000e0");
        assert_eq!(figure(2.5e9), "2.500e9");
    }

    #[test]
    fn the_built_in_plans_are_valid_and_fit_their_memory() {
        BenchPlan::quick().validate().unwrap();
        for gib in [8u64, 24, 80, 141] {
            let memory = gib << 30;
            let plan = BenchPlan::full(memory);
            plan.validate().unwrap();
            let GemmShape { m, n, k } = plan.gemm;
            let (m, n, k) = (u64::from(m), u64::from(n), u64::from(k));
            // A, B, cuBLASLt's transposed B, the product and C.
            assert!(m * k + 2 * k * n + 8 * m * n <= memory / 4, "{gib} GiB");
            assert!(plan.membw_bytes <= memory / 8 && plan.hash_bytes <= memory / 8);
        }
        assert_eq!(BenchPlan::full(80 << 30).gemm.k, 32768);
        assert!(BenchPlan::full(8 << 30).gemm.k < 32768);
    }

    #[test]
    fn bad_plans_are_refused_with_the_rule() {
        type Spoil = fn(&mut BenchPlan);
        let cases: [(&str, Spoil); 6] = [
            ("multiples of 16", |p| p.gemm.k = 40),
            ("multiple of 128", |p| p.membw_group = 1000),
            ("whole number", |p| p.membw_bytes = 1024),
            ("ascending", |p| p.rounds = vec![4, 4]),
            ("16 KiB", |p| p.hash_bytes = 16 * 1024),
            ("repeats", |p| p.repeats = 0),
        ];
        for (rule, spoil) in cases {
            let mut plan = BenchPlan::smoke();
            spoil(&mut plan);
            let err = plan.validate().unwrap_err().to_string();
            assert!(err.contains(rule), "{err} should name `{rule}`");
            let err = run(&cpu(), 0, &plan, &mut |_| {}).unwrap_err();
            assert!(matches!(err, BenchError::Plan(_)));
        }
    }

    fn point(rounds: u32, best_s: f64) -> FillPoint {
        FillPoint {
            rounds,
            timing: Timing::of(vec![best_s]),
            philox_per_s: 0.0,
            fill_over_read: 0.0,
        }
    }

    fn pass(bytes: u64, group: u32, best_s: f64) -> PassFigures {
        PassFigures {
            bytes,
            group,
            timing: Timing::of(vec![best_s, 2.0 * best_s]),
            gbps: 0.0,
            fraction_of_copy: 0.0,
        }
    }

    #[test]
    fn rounds_come_from_the_fill_slope_and_the_read_time() {
        // 1 MiB = 65 536 blocks, 1024 groups of 1 KiB. Fill: 1 ms at R = 1, 1 + 15·t ms at
        // R = 16 with t = 1 ms per extra round → 1 ms / 65 536 calls per call.
        let fills = [point(1, 1e-3), point(16, 16e-3)];
        // Pass: 2·1024 group reads in 2.048 ms → 1 µs per group read.
        let p = pass(1 << 20, 1024, 2.048e-3);
        let e = estimate_rounds(&fills, &p).unwrap();
        let call = 1e-3 / 65536.0;
        assert!((e.philox_call_s - call).abs() < call * 1e-9);
        assert!((e.group_read_s - 1e-6).abs() < 1e-15);
        // Regenerating a group at R: 64·(R+1)·call ≥ 10 µs ⇔ R + 1 ≥ 10.24 → R = 10.
        assert_eq!(e.rounds, 10);
        assert!(64.0 * 11.0 * call >= 10.0 * 1e-6 && 64.0 * 10.0 * call < 10.0 * 1e-6);
        // A read twice as dear needs about twice the rounds.
        let e2 = estimate_rounds(&fills, &pass(1 << 20, 1024, 4.096e-3)).unwrap();
        assert_eq!(e2.rounds, 20);
        // Never below 1.
        let e3 = estimate_rounds(&fills, &pass(1 << 20, 1024, 1e-9)).unwrap();
        assert_eq!(e3.rounds, 1);
    }

    #[test]
    fn a_flat_sweep_cannot_give_rounds() {
        let p = pass(1 << 20, 1024, 1e-3);
        for fills in [
            vec![],
            vec![point(1, 2e-3), point(16, 2e-3)],
            vec![point(1, 3e-3), point(16, 2e-3)],
        ] {
            let err = estimate_rounds(&fills, &p).unwrap_err();
            assert!(matches!(err, BenchError::Unmeasurable { .. }), "{err}");
        }
    }

    #[test]
    fn a_cpu_bench_measures_every_step_and_frees_the_device() {
        let backend = cpu();
        let plan = BenchPlan::smoke();
        let mut steps = Vec::new();
        let report = run(&backend, 0, &plan, &mut |s| steps.push(s.to_string())).unwrap();
        assert_eq!(steps.len(), 5 + plan.rounds.len(), "{steps:?}");
        assert_eq!(report.schema, SCHEMA);
        assert_eq!((report.backend.as_str(), report.device), ("cpu", 0));
        assert_eq!(report.device_name, "cpu-reference");
        assert_eq!(report.plan, plan);
        for t in [
            &report.copy.timing,
            &report.prf_fill.timing,
            &report.gemm.timing,
            &report.membw_pass.timing,
            &report.hash.timing,
        ] {
            assert_eq!(t.runs_s.len(), plan.repeats as usize);
            assert!(t.runs_s.iter().all(|&s| s >= t.best_s && t.best_s > 0.0));
        }
        let best = |t: &Timing| t.best_s;
        let gemm_ops = 2.0 * 32.0 * 32.0 * 64.0;
        assert!((report.gemm.tops - gemm_ops / best(&report.gemm.timing) / 1e12).abs() < 1e-12);
        assert!(
            (report.copy.gbps - 2.0 * MIB as f64 / best(&report.copy.timing) / 1e9).abs() < 1e-9
        );
        assert!(
            (report.membw_pass.fraction_of_copy - report.membw_pass.gbps / report.copy.gbps).abs()
                < 1e-12
        );
        let rounds: Vec<u32> = report.membw_fill.iter().map(|p| p.rounds).collect();
        assert_eq!(rounds, plan.rounds);
        assert!(report.membw_rounds.rounds >= 1);
        assert!(report.hash.gbps >= report.hash.commit_gbps);
        // The device was given back: a challenge can open it.
        backend.open(0).unwrap();
        // The report survives JSON; another schema is refused by name.
        // (serde_json parses floats to within an ulp, not always exactly.)
        let back = BenchReport::from_json(&report.to_json()).unwrap();
        assert_eq!(
            (&back.plan, &back.device_name),
            (&report.plan, &report.device_name)
        );
        assert_eq!(back.membw_rounds.rounds, report.membw_rounds.rounds);
        assert!((back.gemm.tops / report.gemm.tops - 1.0).abs() < 1e-12);
        let other = report.to_json().replace(SCHEMA, "gpuproof-bench/0");
        let err = BenchReport::from_json(&other).unwrap_err();
        assert!(
            matches!(&err, BenchReportError::Schema { found } if found == "gpuproof-bench/0"),
            "{err:?}"
        );
        assert!(err.to_string().contains("gpuproof-bench/0"), "{err}");
        let err = BenchReport::from_json("{}").unwrap_err();
        assert!(matches!(err, BenchReportError::NotAReport(_)), "{err:?}");
        assert!(err.to_string().contains("miner-host bench"), "{err}");
    }

    #[test]
    fn a_missing_or_busy_device_is_an_error() {
        let backend = cpu();
        let err = run(&backend, 3, &BenchPlan::smoke(), &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("no device 3"), "{err}");
        let held = backend.open(0).unwrap();
        let err = run(&backend, 0, &BenchPlan::smoke(), &mut |_| {}).unwrap_err();
        assert!(matches!(
            err,
            BenchError::Backend {
                source: BackendError::Busy(0),
                ..
            }
        ));
        drop(held);
    }

    #[test]
    fn copy_refuses_a_short_destination_and_itself() {
        let backend = cpu();
        let mut s = backend.open(0).unwrap();
        let a = s.alloc(64).unwrap();
        let b = s.alloc(32).unwrap();
        let c = s.alloc(128).unwrap();
        s.prf_fill(a, 0, 64, BENCH_KEY, 0, 0).unwrap();
        assert!(matches!(s.copy(a, b), Err(BackendError::Invalid(_))));
        assert!(matches!(s.copy(a, a), Err(BackendError::Invalid(_))));
        s.copy(a, c).unwrap();
        assert_eq!(s.read(c, 0, 64).unwrap(), s.read(a, 0, 64).unwrap());
        assert_eq!(s.read(c, 64, 64).unwrap(), vec![0u8; 64]);
    }
}
