//! `miner-host bench`: a device's throughput through the backend calls a challenge makes.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use challenge_runtime::bench::{self, BenchPlan, BenchReport, GemmShape};
use clap::Args;
use transport::progress::{Progress, Style};

use challenge_runtime::BackendKind;

use super::{backend_arg, local_backend};

/// Arguments of `miner-host bench`.
#[derive(Args)]
pub(super) struct BenchArgs {
    /// Backend to measure: cpu or cuda.
    #[arg(long, default_value = "cuda", value_parser = backend_arg)]
    backend: BackendKind,
    /// Device index.
    #[arg(long, default_value_t = 0)]
    device: u32,
    /// Small sizes (at most 16 MiB a buffer): checks that everything runs, measures little.
    /// Default: sizes for the device's memory (GEMM 8192×8192×32768 where it fits).
    #[arg(long, conflicts_with = "plan")]
    quick: bool,
    /// A plan as JSON (the `plan` object of a report: copy_bytes, prf_bytes, gemm {m,n,k},
    /// membw_bytes, membw_group, rounds [...], hash_bytes, repeats).
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Worker threads of the CPU backend (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the report as JSON on stdout instead of a table (progress as plain lines).
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The plan the arguments ask for.
fn plan_of(args: &BenchArgs, backend: &dyn challenge_runtime::Backend) -> Result<BenchPlan> {
    Ok(match (&args.plan, args.quick) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read plan {}", path.display()))?;
            serde_json::from_str::<BenchPlan>(&text).with_context(|| {
                format!(
                    "{} is not a bench plan (the `plan` object of a `bench --json` report)",
                    path.display()
                )
            })?
        }
        (None, true) => BenchPlan::quick(),
        (None, false) => {
            let devices = backend.devices();
            let Some(info) = devices.iter().find(|d| d.index == args.device) else {
                bail!(
                    "no device {} on the {} backend ({} devices)",
                    args.device,
                    backend.name(),
                    devices.len()
                );
            };
            BenchPlan::full(info.memory_bytes)
        }
    })
}

pub(super) fn run(args: &BenchArgs) -> Result<()> {
    let backend = local_backend(args.backend, args.threads)?;
    let plan = plan_of(args, backend.as_ref())?;
    // Five measured steps plus one membw fill per R of the sweep.
    let steps = 5 + plan.rounds.len() as u64;
    let mut progress = Progress::new("bench", Some(steps), Style::for_output(args.json));
    let mut started = false;
    let report = bench::run(backend.as_ref(), args.device, &plan, &mut |step| {
        if started {
            progress.inc(1);
        }
        started = true;
        progress.set_message(step.to_string());
    })?;
    progress.inc(1);
    progress.finish("bench: done");
    let json = report.to_json();
    if let Some(path) = &args.out {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
    }
    if args.json {
        println!("{json}");
    } else {
        print_table(&report);
    }
    Ok(())
}

fn print_table(r: &BenchReport) {
    let f = bench::figure;
    println!(
        "device        {} #{} ({}, {} MiB)",
        r.device_name,
        r.device,
        r.backend,
        r.memory_bytes >> 20
    );
    println!("copy          {:>10} GB/s (read + write)", f(r.copy.gbps));
    println!(
        "prf fill      {:>10} G Philox blocks/s",
        f(r.prf_fill.philox_blocks_per_s / 1e9)
    );
    let GemmShape { m, n, k } = r.gemm.shape;
    println!(
        "int8 gemm     {:>10} TOPS ({m} × {n} × {k})",
        f(r.gemm.tops)
    );
    for p in &r.membw_fill {
        println!(
            "membw fill    {:>10} G Philox calls/s at R = {}: fill / read per group {}",
            f(p.philox_per_s / 1e9),
            p.rounds,
            f(p.fill_over_read)
        );
    }
    println!(
        "membw pass    {:>10} GB/s ({} % of the copy)",
        f(r.membw_pass.gbps),
        f(r.membw_pass.fraction_of_copy * 100.0)
    );
    println!(
        "membw R       {:>10}      (least R with regenerating a group ≥ 10× reading it)",
        r.membw_rounds.rounds
    );
    println!(
        "blake3 tree   {:>10} GB/s (whole commit {} GB/s)",
        f(r.hash.gbps),
        f(r.hash.commit_gbps)
    );
}
