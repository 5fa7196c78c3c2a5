//! `verifier localnet`: the README's main job (see [`verifier::localnet`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use clap::Args;
use transport::progress::{Progress, Style};
use verifier::localnet::{
    LocalnetOptions, LocalnetReport, Progress as LocalnetProgress, run_localnet,
};

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
    /// Write every validator's verification receipts here after the rounds
    /// (`DIR/validator<i>/*.receipt`; check one with `verifier audit FILE`).
    #[arg(long, value_name = "DIR")]
    receipts: Option<PathBuf>,
    /// Keep the first validator's catalogue (the renters' view: HTML at /, JSON at
    /// /v1/machines) up at HOST:PORT after the rounds, until Ctrl-C.
    #[arg(long, value_name = "ADDR")]
    catalogue: Option<std::net::SocketAddr>,
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
        receipts: args.receipts.clone(),
        catalogue: args.catalogue,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // On a terminal a bar, in a pipe or with --json one line per step (never both).
    let style = Style::for_output(args.json);
    let shown = Arc::new(Mutex::new(Progress::new("localnet", None, style)));
    let rounds = args.rounds;
    let progress_shown = Arc::clone(&shown);
    let progress = move |p: LocalnetProgress| {
        let shown = &progress_shown;
        let Ok(mut shown) = shown.lock() else { return };
        match p {
            LocalnetProgress::Calibrating => {
                shown.set_message("calibrating cpu-reference on one thread");
            }
            LocalnetProgress::StartingMiners { miners } => {
                shown.set_message(format!("starting {miners} miner-host processes"));
            }
            LocalnetProgress::Started { total } => {
                let total = u64::try_from(total).unwrap_or(u64::MAX);
                std::mem::replace(
                    &mut *shown,
                    Progress::new("miner rounds", Some(total), style),
                )
                .clear();
                shown.set_message("miners started");
            }
            LocalnetProgress::RoundStarted { round } => {
                shown.set_message(format!("round {} of {rounds}", round + 1));
            }
            LocalnetProgress::RoundDone { round } => {
                shown.inc(1);
                shown.set_message(format!("round {} of {rounds}", round + 1));
            }
        }
    };
    let run = runtime.block_on(run_localnet(&options, &progress))?;
    drop(progress);
    if let Some(shown) = Arc::into_inner(shown).and_then(|m| m.into_inner().ok()) {
        shown.finish("localnet: rounds done");
    }
    let report = &run.report;
    if args.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print_table(report);
    }
    if let (Some(dir), Some(n)) = (&args.receipts, report.receipts_written) {
        eprintln!(
            "wrote {n} receipt(s) to {}/validator<i>/; check one with `verifier audit FILE`",
            dir.display()
        );
    }
    if let Some(served) = &run.catalogue {
        eprintln!(
            "catalogue at http://{}/ (the renters' view of validator 0, store {}; JSON at \
             /v1/machines); Ctrl-C to stop",
            served.addr,
            served.store.display()
        );
        runtime.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
    }
    drop(run);
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
