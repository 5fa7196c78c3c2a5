//! `verifier bench`: what checking one GPU's round costs this machine, per class of the table
//! (`verifier::checkcost`), and how many GPUs a round can check, so an operator can size the
//! verifier.

use std::path::PathBuf;

use anyhow::{Context, bail};
use challenges::simd::Kernels;
use clap::Args;
use serde::Serialize;
use verifier::checkcost::{self, PreparedRound, RoundCost, RoundPlan, RoundShape};
use verifier::classes::{ClassKind, ClassTable, GpuClass, calibrate_cpu_reference};
use verifier::service::config::{RoundConfig, ValidatorConfig};
use verifier::session::DEFAULT_SAMPLES;

/// Arguments of `verifier bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The validator's config: `[round]`'s `interval_s`, `concurrency`, `openings` and
    /// `target_scale` are read from it (and the GPUPROOF_VALIDATOR_* overrides), else their
    /// defaults (600 s, 8, 32, 1).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A class to measure (repeat for more). Default: every GPU class of the table; the
    /// `cpu-reference` class only when named (it is calibrated on this machine first).
    #[arg(long = "class", value_name = "ID")]
    classes: Vec<String>,
    /// A class table to use instead of the embedded verifier/classes.toml.
    #[arg(long, value_name = "FILE")]
    table: Option<PathBuf>,
    /// Threads checking leaves at once. Default: `round.concurrency` (miners challenged at
    /// once, the config field that bounds how many sessions check openings together), capped
    /// at this machine's cores.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Leaves opened per challenge. Default: the config's `round.openings`, else 32.
    #[arg(long, value_name = "N")]
    openings: Option<u32>,
    /// Outputs sampled per opened membw leaf (default 4, the verifier's).
    #[arg(long, value_name = "N")]
    samples: Option<u32>,
    /// Factor on each class's target duration (smaller challenges, for a quick look). Default:
    /// the config's `round.target_scale`, else 1.
    #[arg(long, value_name = "F")]
    target_scale: Option<f64>,
    /// Times each class's round is checked; the fastest counts (the least disturbed by other
    /// processes).
    #[arg(long, value_name = "N", default_value_t = 3)]
    repeat: u32,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One class's figures.
#[derive(Debug, Serialize)]
struct ClassCost {
    #[serde(flatten)]
    plan: RoundPlan,
    /// CPU time of one GPU's round on one thread (the fastest of `repeat`).
    cost: RoundCost,
    /// `cost.matmul_s + cost.membw_s`.
    total_s: f64,
    /// GPUs whose rounds `threads` threads check in one `interval_s`.
    gpus_per_round: u64,
}

/// The whole report.
#[derive(Debug, Serialize)]
struct Report {
    /// The kernels the checks ran on (`avx512`, `avx2`, `neon`, `portable`).
    kernels: &'static str,
    /// Seconds from one round's start to the next.
    interval_s: u64,
    /// Threads checking at once.
    threads: usize,
    /// Where `threads` came from.
    threads_from: String,
    /// Per class.
    classes: Vec<ClassCost>,
}

/// How many GPUs' rounds `threads` threads check in `interval_s` at `per_gpu_s` each.
fn gpus_per_round(interval_s: u64, threads: usize, per_gpu_s: f64) -> u64 {
    if per_gpu_s > 0.0 && per_gpu_s.is_finite() {
        (interval_s as f64 * threads as f64 / per_gpu_s).floor() as u64
    } else {
        0
    }
}

fn classes_to_measure<'t>(
    table: &'t ClassTable,
    ids: &[String],
) -> anyhow::Result<Vec<&'t GpuClass>> {
    if ids.is_empty() {
        return Ok(table
            .classes()
            .iter()
            .filter(|c| c.kind() == ClassKind::Gpu)
            .collect());
    }
    ids.iter()
        .map(|id| {
            table.get(id).with_context(|| {
                let ids: Vec<&str> = table.classes().iter().map(|c| c.id()).collect();
                format!("no class `{id}` in the table; classes: {}", ids.join(", "))
            })
        })
        .collect()
}

/// Runs `verifier bench`.
pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let round = match &args.config {
        Some(path) => ValidatorConfig::load(path)?.round,
        None => RoundConfig::default(),
    };
    if args.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (threads, threads_from) = match args.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(t) => (t, "--threads".to_string()),
        None => (
            round.concurrency.clamp(1, cores),
            format!(
                "round.concurrency = {}, capped at this machine's {cores} cores",
                round.concurrency
            ),
        ),
    };
    let shape = RoundShape {
        openings: args.openings.unwrap_or(round.openings),
        samples: args.samples.unwrap_or(DEFAULT_SAMPLES),
        target_scale: args.target_scale.unwrap_or(round.target_scale),
    };
    let table = match &args.table {
        Some(path) => ClassTable::load(path)?,
        None => ClassTable::embedded()?,
    };
    let measured = classes_to_measure(&table, &args.classes)?;
    let checker = checkcost::checker().context("cannot start the verifier's checker")?;
    let mut classes = Vec::new();
    for class in measured {
        let calibrated;
        let class = if class.kind() == ClassKind::Cpu {
            calibrated = calibrate_cpu_reference(class)?.class;
            &calibrated
        } else {
            class
        };
        let plan = RoundPlan::for_class(class, shape)
            .with_context(|| format!("cannot size the round of class `{}`", class.id()))?;
        let prepared = PreparedRound::new(plan.clone(), [0x5b; 32])
            .with_context(|| format!("cannot prepare the round of class `{}`", class.id()))?;
        let mut best: Option<RoundCost> = None;
        for _ in 0..args.repeat {
            let cost = prepared.check(&checker)?;
            if best.is_none_or(|b| cost.total_s() < b.total_s()) {
                best = Some(cost);
            }
        }
        let Some(cost) = best else { continue };
        classes.push(ClassCost {
            plan,
            cost,
            total_s: cost.total_s(),
            gpus_per_round: gpus_per_round(round.interval_s, threads, cost.total_s()),
        });
    }
    let report = Report {
        kernels: Kernels::best().isa().name(),
        interval_s: round.interval_s,
        threads,
        threads_from,
        classes,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("cannot encode the report")?
        );
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

fn render(r: &Report) -> String {
    let mut out = format!(
        "Checking one GPU's round (matmul-i8 and membw, every opened leaf recomputed) on one \
         thread of this machine, {} kernels:\n\n",
        r.kernels
    );
    out.push_str(&format!(
        "{:<16} {:>8} {:>7} {:>9} {:>5} {:>6} {:>10} {:>10} {:>10} {:>14}\n",
        "class",
        "leaves",
        "K",
        "membw g",
        "R",
        "samp.",
        "matmul ms",
        "membw ms",
        "total ms",
        "GPUs per round"
    ));
    for c in &r.classes {
        out.push_str(&format!(
            "{:<16} {:>8} {:>7} {:>9} {:>5} {:>6} {:>10.2} {:>10.2} {:>10.2} {:>14}\n",
            c.plan.class,
            format!("{}+{}", c.plan.shape.openings, c.plan.shape.openings),
            c.plan.matmul.k,
            c.plan.membw.group,
            c.plan.membw.rounds,
            c.plan.shape.samples,
            c.cost.matmul_s * 1e3,
            c.cost.membw_s * 1e3,
            c.total_s * 1e3,
            c.gpus_per_round
        ));
    }
    out.push_str(&format!(
        "\nGPUs per round: GPUs whose rounds {} thread(s) ({}) check in one round of {} s \
         (round.interval_s), if checking were all they did.\n",
        r.threads, r.threads_from, r.interval_s
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_threads_times_interval_over_cost() {
        assert_eq!(gpus_per_round(600, 2, 0.02), 60_000);
        assert_eq!(gpus_per_round(600, 1, 0.7), 857);
        assert_eq!(gpus_per_round(600, 4, 0.0), 0);
        assert_eq!(gpus_per_round(600, 4, f64::NAN), 0);
    }
}
