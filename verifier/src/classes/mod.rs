//! GPU classes: what each claimed device class can do, how long a challenge should take on it,
//! the timing [`Envelope`](crate::session::Envelope) it is judged by, and how big to make a
//! challenge so that the class needs its target duration (docs/design.md §Verdicts, issue #5 item 4).
//!
//! # The table
//!
//! `verifier/classes.toml` (embedded with `include_str!`, so the binary works from any
//! directory; [`ClassTable::load`](crate::classes::ClassTable::load) reads another copy) lists, per class: its id, the driver
//! names that map to it, memory, the datasheet peaks (dense int8 TOPS, memory bandwidth) and the
//! 32-bit integer issue rate, an efficiency window per resource, the peak headroom, the scoring
//! weight, the `membw` fill round count `R` and the target duration. Every figure carries a
//! comment saying where it came from; the efficiency windows and `R` are estimates to be
//! calibrated on real cards (`scripts/gpu-selftest`, issue #4): `miner-host bench` measures a
//! device and [`compare_bench`](crate::classes::compare_bench) (`verifier calibrate`) sets the
//! report against its class and proposes the lines to change.
//!
//! # The time model ([`expected_time`](crate::classes::expected_time), [`envelope`](crate::classes::envelope))
//!
//! A challenge's [`Work`](challenges::work::Work) is a vector of phases (`prf-fill`, `gemm`,
//! `relayout`, `hash`, `membw-fill`, `membw-pass`). Each phase asks for some of three GPU
//! resources: tensor int8 ops (`gemm`), 32-bit integer instructions (Philox blocks at
//! [`PHILOX_INSTR_PER_BLOCK`](crate::classes::PHILOX_INSTR_PER_BLOCK), BLAKE3 bytes at [`BLAKE3_INSTR_PER_BYTE`](crate::classes::BLAKE3_INSTR_PER_BYTE)) and memory traffic
//! (its `bytes`). On a GPU class:
//!
//! - a phase takes `max(tensor time, integer time, memory time)`, each at `peak × efficiency`
//!   of its resource; a challenge takes the **sum** over its phases (they run one after the
//!   other in the modules);
//! - expected time uses the nominal efficiencies, `max_s` the window's low ones (slower is
//!   `too-slow`), `min_s` the high ones (informational);
//! - `peak_floor_s` uses the datasheet peaks only (never the window), times a `peak_headroom`
//!   (≥ 1: clocks above the rated boost), with every phase perfectly overlapped and only the
//!   memory traffic that no implementation can avoid ([`envelope`](crate::classes::envelope) has the list): it is a true
//!   lower bound, so a well-optimised honest backend is never `too-fast`.
//!
//! The `cpu-reference` class has no datasheet: its per-phase rates are measured on the machine
//! that runs the local network by [`calibrate_cpu_reference`](crate::classes::calibrate_cpu_reference) (one thread = one device),
//! refined by one honest reference run of each module on this machine
//! ([`refine_with_reference_runs`](crate::classes::refine_with_reference_runs)), before the round
//! and never from the runs it judges; phases then run one after another on one core. Its `R`
//! follows DESIGN's rule from the kernels' measured rates ([`CpuRates::membw_rounds`](crate::classes::CpuRates::membw_rounds)).
//!
//! # Sizing ([`size_matmul`](crate::classes::size_matmul), [`size_membw`](crate::classes::size_membw), [`size_rented`](crate::classes::size_rented))
//!
//! Pure functions from a class and a target duration to valid params whose expected time is
//! the target, within the memory the sandbox will let the challenge hold (live buffers **and**
//! every committed output: `challenge-runtime` keeps committed outputs until the session ends).
//! Where memory (or another limit of the module) caps the work below the target, the result
//! says so ([`SizeLimit`](crate::classes::SizeLimit)) rather than exceeding the device. See [`sizing`](crate::classes::sizing) for the rules.

pub mod audit;
mod bench;
mod calibrate;
mod model;
pub mod sizing;
mod table;

pub use audit::{Audit, Cheat, CheatDetail, MAX_CLAIMED, StepCheck, audit, same_silicon};
pub use bench::{Against, BenchComparison, GEMM_GOAL, MEMBW_GOAL, RoundsCheck, compare_bench};
pub use calibrate::{
    CALIBRATION_BUDGET, CpuCalibration, REFERENCE_RUNS, REFINEMENTS, calibrate_cpu_reference,
    refine_with_reference_runs,
};
pub use model::{
    BLAKE3_INSTR_PER_BYTE, Bound, ExpectedTime, PHILOX_INSTR_PER_BLOCK, PhaseTime, envelope,
    expected_time, step_envelopes,
};
pub use sizing::{
    MATMUL_MEMORY_FRACTION, MEMBW_MEMORY_FRACTION, MEMBW_MIN_FRACTION, RENTED_MEMBW_BYTES,
    SizeLimit, Sizing, matmul_held_bytes, membw_held_bytes, rented_envelope, rented_window,
    size_matmul, size_membw, size_rented, size_rented_membw,
};
pub use table::{
    CLASS_TABLE_HASH_CONTEXT, ClassKind, ClassTable, CpuRates, EMBEDDED_TOML, Efficiency, GpuClass,
    GpuPeaks, SCHEMA, Throughput, Window, class_table_hash, normalize_driver_name,
};

use std::path::PathBuf;

/// Why a class table could not be used, or a class could not be sized or judged. Table errors
/// name the class and the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClassError {
    /// The text is not TOML (the message has the line and column).
    #[error("class table is not valid TOML: {0}")]
    Syntax(String),
    /// A top-level key of the table is missing or wrong.
    #[error("class table: field `{field}`: {problem}")]
    Table {
        /// The top-level key.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A field of one class is missing or wrong.
    #[error("class table: class {class}: field `{field}`: {problem}")]
    Field {
        /// The class: its position in the file and its id when it has one.
        class: String,
        /// The field, dotted for nested ones (`efficiency.tensor`).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The table file could not be read.
    #[error("cannot read class table {path}: {detail}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        detail: String,
    },
    /// The class has no rates yet (`cpu-reference` before calibration).
    #[error(
        "class `{class}` has no measured rates yet: run calibrate_cpu_reference before sizing or judging it"
    )]
    Uncalibrated {
        /// The class id.
        class: String,
    },
    /// A phase the time model does not know (or with another unit than the model expects).
    #[error("phase `{name}` with unit `{unit}` is not in the time model")]
    UnknownPhase {
        /// The phase name.
        name: String,
        /// The phase unit.
        unit: String,
    },
    /// A target duration that is not a positive finite number of seconds.
    #[error("target duration {0} s must be positive and finite")]
    BadTarget(f64),
    /// No valid params fit the class at all.
    #[error("cannot size `{module}` for class `{class}`: {reason}")]
    Unsizable {
        /// The module.
        module: &'static str,
        /// The class id.
        class: String,
        /// Why.
        reason: String,
    },
    /// The CPU calibration failed (the CPU backend refused a measurement).
    #[error("cpu-reference calibration failed: {0}")]
    Calibration(String),
    /// A bench was set against a class without datasheet figures (a `cpu` class).
    #[error(
        "class `{class}` is a cpu class: it has no datasheet figures to compare a bench with (name a GPU class)"
    )]
    NoDatasheet {
        /// The class id.
        class: String,
    },
}
