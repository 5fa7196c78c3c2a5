//! Work models: how much work a challenge is, split into phases, so expected time can be
//! computed per phase against a GPU class's throughput figures.

use alloc::vec::Vec;

/// One phase of a challenge's work: what it is and how much of it there is.
///
/// `ops` counts the phase's own unit (named by `unit`); `bytes` counts memory traffic of the
/// phase (written for fills, read for passes and GEMM inputs, hashed for commitments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    /// Short stable name (`prf-fill`, `gemm`, `relayout`, `hash`, `membw-fill`, `membw-pass`).
    pub name: &'static str,
    /// What one op is (`philox-block`, `int8-op`, `byte`).
    pub unit: &'static str,
    /// Count of `unit`s.
    pub ops: u64,
    /// Bytes of memory traffic.
    pub bytes: u64,
}

/// The work of one challenge: the headline figures and the per-phase vector.
///
/// The headline `ops` and `bytes` are defined per module (see each module's docs); the phases
/// are what an expected-time model sums over. All figures saturate at `u64::MAX` rather than
/// wrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Work {
    /// Headline operation count (int8 ops for `matmul-i8`, Philox blocks for `membw`).
    pub ops: u64,
    /// Headline byte count (bytes moved through device memory).
    pub bytes: u64,
    /// Per-phase breakdown, in execution order.
    pub phases: Vec<Phase>,
}

/// Saturating product of several `u64` factors.
pub(crate) fn mul_sat(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |acc, f| acc.saturating_mul(*f))
}
