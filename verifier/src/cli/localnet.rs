//! `verifier localnet`: the README's main job (see [`verifier::localnet`]).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use verifier::localnet::{LocalnetOptions, LocalnetReport, Progress, run_localnet};

/// Arguments of `verifier localnet`.
#[derive(Debug, Args)]
pub(crate) struct LocalnetArgs {
    /// Miner hosts started on loopback (one cpu-reference device each).
    #[arg(long, default_value_t = 8)]
    miners: usize,
    /// How many of them cheat (kinds chosen reproducibly from --seed).
    #[arg(long, default_value_t = 2)]
    cheaters: usize,
    /// Rounds (one simulated chain epoch each).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Validators, staked equally on the simulated subnet.
    #[arg(long, default_value_t = 2)]
    validators: usize,
    /// Seed of the cheater choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The most MiB a bandwidth probe moves each way (0: none; then also --min-link-mbps 0).
    #[arg(long, default_value_t = 1)]
    probe_mib: u64,
    /// The bandwidth floor, Mbit/s each way: below it a miner's round score is scaled by
    /// measured/floor; a failed probe scores 0 (0: bandwidth not scored).
    #[arg(long, default_value_t = 100.0)]
    min_link_mbps: f64,
    /// The simulated subnet's MinAllowedWeights (weights are processed as the chain does).
    #[arg(long, default_value_t = 1)]
    min_allowed_weights: usize,
    /// The simulated subnet's MaxWeightsLimit, as a fraction of the total (0 < x <= 1).
    #[arg(long, default_value_t = 1.0)]
    max_weight_limit: f64,
    /// The miner-host binary (default: next to this one, built with cargo if missing).
    #[arg(long)]
    miner_host: Option<PathBuf>,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

/// Runs the subcommand.
pub(crate) fn run(args: &LocalnetArgs) -> Result<()> {
    if args.cheaters > args.miners {
        bail!(
            "--cheaters {} is more than --miners {}",
            args.cheaters,
            args.miners
        );
    }
    if !(args.max_weight_limit > 0.0 && args.max_weight_limit <= 1.0) {
        bail!(
            "--max-weight-limit {} must be above 0 and at most 1",
            args.max_weight_limit
        );
    }
    if !(args.min_link_mbps.is_finite() && args.min_link_mbps >= 0.0) {
        bail!("--min-link-mbps {} must be 0 or more", args.min_link_mbps);
    }
    if args.probe_mib == 0 && args.min_link_mbps > 0.0 {
        bail!(
            "--probe-mib 0 turns probes off: every miner would score 0 under a floor; add \
             --min-link-mbps 0"
        );
    }
    let options = LocalnetOptions {
        miners: args.miners,
        cheaters: args.cheaters,
        rounds: args.rounds,
        validators: args.validators,
        seed: args.seed,
        miner_host: args.miner_host.clone(),
        probe_mib: args.probe_mib,
        min_link_mbps: args.min_link_mbps,
        min_allowed_weights: args.min_allowed_weights,
        max_weight_limit: args.max_weight_limit,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} miner rounds {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("calibrating cpu-reference, starting miners");
    let progress_bar = bar.clone();
    let progress = move |p: Progress| match p {
        Progress::Started { total } => {
            progress_bar.set_length(u64::try_from(total).unwrap_or(u64::MAX));
            progress_bar.set_message("");
        }
        Progress::RoundDone { round } => {
            progress_bar.set_message(format!("(round {})", round + 1));
            progress_bar.inc(1);
        }
    };
    let report = runtime.block_on(run_localnet(&options, &progress))?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn print_table(report: &LocalnetReport) {
    println!(
        "{:>4}  {:<14} {:<17} {:<38} {:>5} {:>13} {:>8} {:>8} {:>9}",
        "uid",
        "class",
        "adversary",
        "verdicts",
        "link",
        "up/down Mb/s",
        "score",
        "weight",
        "incentive"
    );
    for m in &report.miners {
        let verdicts = m
            .verdicts
            .iter()
            .map(|(k, c)| format!("{k}:{c}"))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "{:>4}  {:<14} {:<17} {:<38} {:>5.2} {:>13} {:>8.3} {:>8.3} {:>9.3}",
            m.uid,
            m.claimed_class,
            m.adversary.as_deref().unwrap_or("-"),
            verdicts,
            m.link_factor,
            format!("{:.0}/{:.0}", m.up_mbit, m.down_mbit),
            m.score,
            m.weight,
            m.incentive
        );
    }
    println!(
        "{} rounds in {:.1} s; concurrency: {}",
        report.rounds, report.elapsed_s, report.concurrency
    );
}
