//! `miner-host run-local`: one challenge in the sandbox on a local backend, then (optionally)
//! leaves opened and checked in a second, CPU-only sandbox exactly as the verifier does it:
//! leaves drawn uniformly with replacement over all leaves of all outputs with OS randomness,
//! each tree path verified against its root, each leaf recomputed by the module's `check`.
//!
//! A module with interactive phases (`membw`) gets the verifier's phase keys from
//! `phase_nonces` in order (`--phase-nonce`, repeatable), and fresh OS randomness for any phase
//! past those; the report names every nonce used, so a run can be reproduced, and the check
//! side gets the phase seeds they give, as the verifier's does.

use std::time::{Duration, Instant};

use challenge_runtime::{
    Backend, CheckVerdict, FixedNonces, MAX_PHASES, RunTimings, Sandbox, SandboxError,
    SandboxLimits,
};
use challenges::abi::{CheckRequest, WorkRecord};
use challenges::commitment::{leaf_count, verify_opening};
use serde::Serialize;
use thiserror::Error;

use crate::params::ModuleSource;

/// Outputs sampled per opened leaf by modules that sample (`membw`).
pub const DEFAULT_SAMPLES: u32 = 4;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunLocalRequest {
    /// The module.
    pub module: ModuleSource,
    /// Its binary params.
    pub params: Vec<u8>,
    /// The challenge seed (as `challenges::prf::challenge_seed` would derive it).
    pub seed: [u8; 32],
    /// Device index.
    pub device: u32,
    /// Leaves to open and check afterwards.
    pub open: u32,
    /// Outputs sampled per leaf by sampling modules.
    pub samples: u32,
    /// The nonces of the verifier's `PhaseKey`s, in order (`phase_nonces[k − 1]` begins phase
    /// `k`); phases past these get OS randomness.
    pub phase_nonces: Vec<[u8; 32]>,
}

/// Why `run-local` failed.
#[derive(Debug, Error)]
pub enum RunLocalError {
    /// The sandbox or backend failed.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The OS random source failed.
    #[error("the OS random number generator failed: {0}")]
    Random(String),
}

/// Result of opening and checking leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OpeningsReport {
    /// Leaves opened and checked.
    pub checked: u32,
    /// Leaves whose path or content was wrong.
    pub failed: u32,
    /// One line per failure: which output and leaf, and why.
    #[serde(skip)]
    pub failures: Vec<String>,
}

/// What `run-local` found.
#[derive(Debug, Clone)]
pub struct RunLocalReport {
    /// BLAKE3 of the module bytes.
    pub module_hash: [u8; 32],
    /// Output roots in commit order.
    pub roots: Vec<[u8; 32]>,
    /// The phase nonces the run used, in order (empty for a one-phase module).
    pub phase_nonces: Vec<[u8; 32]>,
    /// Output lengths in bytes.
    pub output_lens: Vec<u64>,
    /// The module's declared work.
    pub work: WorkRecord,
    /// Wall time of load + run (what a verifier would time, minus the network).
    pub elapsed: Duration,
    /// Split of the run's time.
    pub timings: RunTimings,
    /// Openings, if any were asked for.
    pub openings: OpeningsReport,
    /// The module's log lines.
    pub logs: Vec<String>,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], RunLocalError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| RunLocalError::Random(e.to_string()))?;
    Ok(out)
}

/// A uniform draw from `0..n` (n ≥ 1) by rejection, without modulo bias.
pub fn uniform_below(n: u64) -> Result<u64, RunLocalError> {
    let n = n.max(1);
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let v = u64::from_le_bytes(random_bytes::<8>()?);
        if v < zone {
            return Ok(v % n);
        }
    }
}

/// Maps a global leaf index (over all outputs, in order) to `(output, leaf)`.
pub fn locate_leaf(output_lens: &[u64], mut global: u64) -> Option<(u32, u64)> {
    for (i, len) in output_lens.iter().enumerate() {
        let leaves = leaf_count(*len);
        if global < leaves {
            return Some((u32::try_from(i).ok()?, global));
        }
        global -= leaves;
    }
    None
}

/// Runs the challenge on `backend` and checks `request.open` leaves.
pub fn run_local(
    backend: &dyn Backend,
    request: &RunLocalRequest,
) -> Result<RunLocalReport, RunLocalError> {
    let device_memory = backend
        .devices()
        .iter()
        .find(|d| d.index == request.device)
        .map_or(0, |d| d.memory_bytes);
    let limits = SandboxLimits {
        device_budget_bytes: device_memory.max(1),
        ..SandboxLimits::default()
    };
    let sandbox = Sandbox::new(limits)?;
    let started = Instant::now();
    let module = sandbox.load(&request.module.bytes)?;
    let mut nonces = request.phase_nonces.clone();
    while nonces.len() + 1 < MAX_PHASES as usize {
        nonces.push(random_bytes()?);
    }
    let run = sandbox.run_phased(
        &module,
        backend,
        request.device,
        request.seed,
        &request.params,
        Box::new(FixedNonces::new(nonces.clone())),
    )?;
    nonces.truncate(run.phase_seeds.len());
    let elapsed = started.elapsed();
    let work = sandbox.work(&module, &request.params)?;
    let roots = run.roots();
    let output_lens: Vec<u64> = run.outputs.iter().map(|c| c.len).collect();

    let mut openings = OpeningsReport::default();
    if request.open > 0 {
        // The verifier's side: its own CPU-only sandbox, which never sees the device session.
        let checker = Sandbox::new(SandboxLimits::default())?;
        let check_module = checker.load(&request.module.bytes)?;
        let total: u64 = output_lens.iter().map(|l| leaf_count(*l)).sum();
        for _ in 0..request.open {
            let Some((output, leaf)) = locate_leaf(&output_lens, uniform_below(total)?) else {
                break;
            };
            openings.checked += 1;
            let idx = output as usize;
            let (root, len) = (
                roots.get(idx).copied().unwrap_or_default(),
                output_lens.get(idx).copied().unwrap_or(0),
            );
            let opening = run.open(output, leaf)?;
            if let Err(e) = verify_opening(&blake3::Hash::from_bytes(root), len, leaf, &opening) {
                openings.failed += 1;
                openings.failures.push(format!(
                    "output {output} leaf {leaf}: tree path rejected: {e}"
                ));
                continue;
            }
            let req = CheckRequest {
                output,
                leaf,
                samples: request.samples,
                salt: random_bytes()?,
                chunk: &opening.chunk,
            };
            match checker.check(
                &check_module,
                request.seed,
                &request.params,
                &roots,
                &run.phase_seeds,
                &req,
            )? {
                CheckVerdict::Pass => {}
                CheckVerdict::Fail => {
                    openings.failed += 1;
                    openings.failures.push(format!(
                        "output {output} leaf {leaf}: content does not match the spec"
                    ));
                }
            }
        }
    }
    Ok(RunLocalReport {
        module_hash: module.hash(),
        roots,
        phase_nonces: nonces,
        output_lens,
        work,
        elapsed,
        timings: run.timings,
        openings,
        logs: run.logs.clone(),
    })
}

/// The `--json` object: `{"module", "roots", "phase_nonces", "work": {"ops", "bytes"},
/// "elapsed_ms", "timings_ms": {"instantiate", "run", "backend", "fill", "compute", "hash"},
/// "openings": {"checked", "failed"}}` (`phase_nonces`: hex, in order; empty for a one-phase
/// module; `timings_ms` as [`RunTimings`] measures them, fractional milliseconds).
pub fn report_json(report: &RunLocalReport) -> serde_json::Value {
    let t = &report.timings;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    serde_json::json!({
        "module": hex::encode(report.module_hash),
        "roots": report.roots.iter().map(hex::encode).collect::<Vec<_>>(),
        "phase_nonces": report.phase_nonces.iter().map(hex::encode).collect::<Vec<_>>(),
        "work": {"ops": report.work.ops, "bytes": report.work.bytes},
        "elapsed_ms": report.elapsed.as_secs_f64() * 1e3,
        "timings_ms": {
            "instantiate": ms(t.instantiate),
            "run": ms(t.run),
            "backend": ms(t.backend),
            "fill": ms(t.stages.fill),
            "compute": ms(t.stages.compute),
            "hash": ms(t.stages.hash),
        },
        "openings": {"checked": report.openings.checked, "failed": report.openings.failed},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_map_across_outputs() {
        let lens = [1024 * 3, 10, 2048];
        assert_eq!(locate_leaf(&lens, 0), Some((0, 0)));
        assert_eq!(locate_leaf(&lens, 2), Some((0, 2)));
        assert_eq!(locate_leaf(&lens, 3), Some((1, 0)));
        assert_eq!(locate_leaf(&lens, 5), Some((2, 1)));
        assert_eq!(locate_leaf(&lens, 6), None);
    }

    #[test]
    fn uniform_draws_cover_the_range() {
        let mut seen = [0u32; 5];
        for _ in 0..2000 {
            seen[uniform_below(5).unwrap() as usize] += 1;
        }
        assert!(seen.iter().all(|c| (300..500).contains(c)), "{seen:?}");
    }
}
