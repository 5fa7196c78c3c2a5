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
    /// The interactive phase (protocol v2, docs/design.md §Interactive phases) this part of the work
    /// runs in: 0 from `Go` to the first `gpu.phase_end` (or to the `Commitment` of a one-phase
    /// module), `k` after the `k`-th phase key. Non-decreasing along [`Work::phases`].
    pub step: u32,
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

impl Work {
    /// How many interactive phases the work spans (1 for a one-phase module; at least 1).
    pub fn steps(&self) -> u32 {
        self.phases
            .iter()
            .map(|p| p.step)
            .max()
            .map_or(1, |m| m.saturating_add(1))
    }

    /// The part of the work that runs in interactive phase `step` (the headline figures are the
    /// sums of its parts' ops and bytes).
    pub fn step(&self, step: u32) -> Work {
        let phases: Vec<Phase> = self
            .phases
            .iter()
            .filter(|p| p.step == step)
            .copied()
            .collect();
        Work {
            ops: phases.iter().fold(0u64, |a, p| a.saturating_add(p.ops)),
            bytes: phases.iter().fold(0u64, |a, p| a.saturating_add(p.bytes)),
            phases,
        }
    }
}

/// Saturating product of several `u64` factors.
pub(crate) fn mul_sat(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |acc, f| acc.saturating_mul(*f))
}
