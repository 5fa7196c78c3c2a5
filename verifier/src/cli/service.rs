//! `verifier run`, `status`, `report` and `rented`: the validator service and the operator's
//! views of its store (see [`verifier::service`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use validator_report::{ReportInput, render_html};
use validator_store::Store;
use verifier::service::{self, ValidatorConfig};

/// Arguments of `verifier run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The config file (see verifier/validator.example.toml for every field and default).
    #[arg(long)]
    config: PathBuf,
    /// Stop after this many finished rounds (default: run until SIGINT/SIGTERM).
    #[arg(long)]
    rounds: Option<u64>,
    /// Log one JSON object per line (overrides [log] json).
    #[arg(long)]
    log_json: bool,
}

/// Where a view reads the store from: `--db PATH`, or the `store` of `--config`.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The SQLite store.
    #[arg(long, conflicts_with = "config", global = true)]
    db: Option<PathBuf>,
    /// A validator.toml whose `store` to read.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
}

impl StoreArgs {
    fn path(&self) -> Result<PathBuf> {
        match (&self.db, &self.config) {
            (Some(db), _) => Ok(db.clone()),
            (None, Some(config)) => Ok(ValidatorConfig::load(config)?.store),
            (None, None) => bail!("say which store: --db PATH or --config validator.toml"),
        }
    }
}

/// Arguments of `verifier status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `verifier report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The HTML file to write.
    #[arg(long, default_value = "report.html")]
    out: PathBuf,
}

/// Arguments of `verifier rented`.
#[derive(Debug, Args)]
pub(crate) struct RentedArgs {
    #[command(subcommand)]
    action: RentedAction,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Subcommand)]
enum RentedAction {
    /// Record that a miner's machine is rented (it then gets the small exact-work challenge).
    Add {
        /// The miner's hotkey (SS58 or 0x-hex).
        hotkey: String,
        /// Who says so.
        #[arg(long, default_value = "operator")]
        source: String,
    },
    /// Record that it is no longer rented.
    Remove {
        /// The miner's hotkey (SS58 or 0x-hex).
        hotkey: String,
    },
    /// List the machines recorded as rented.
    List,
}

/// Runs the service until SIGINT/SIGTERM or `--rounds`.
pub(crate) fn run(args: &RunArgs) -> Result<()> {
    let config = ValidatorConfig::load(&args.config)?;
    transport::init_logging(args.log_json || config.log.json);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let summary = runtime.block_on(async {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!(
                "shutdown requested: finishing the miners in flight, then stopping (again to \
                 stop at once)"
            );
            let _ = stop.send(true);
            wait_for_signal().await;
            std::process::exit(130);
        });
        service::run(config, args.rounds, shutdown).await
    })?;
    eprintln!(
        "stopped after {} finished round(s){}",
        summary.rounds,
        if summary.interrupted {
            " (interrupted: the round in progress resumes at the next start)"
        } else {
            ""
        }
    );
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn open_existing(path: &Path) -> Result<Store> {
    Store::open_read_only(path).with_context(|| {
        format!(
            "cannot read the store {}; is it the `store` of your validator.toml?",
            path.display()
        )
    })
}

/// Prints the store's summary: rounds, standings with verdict counts, the last submission.
pub(crate) fn status(args: &StatusArgs) -> Result<()> {
    let path = args.store.path()?;
    let store = open_existing(&path)?;
    let rounds = store.rounds()?;
    let standings = store.standings()?;
    let last = store.last_submission()?;
    let duplicates = store.duplicate_uuids()?;
    let rented = store.rented()?;
    let mut miners = Vec::new();
    for s in &standings {
        miners.push((s, store.verdict_counts(&s.hotkey)?));
    }
    if args.json {
        let value = serde_json::json!({
            "store": path.display().to_string(),
            "rounds": rounds.len(),
            "last_round": rounds.last(),
            "miners": miners.iter().map(|(s, counts)| serde_json::json!({
                "uid": s.uid, "hotkey": s.hotkey, "score": s.score,
                "reliability": s.reliability, "round_score": s.round_score,
                "link_factor": s.link_factor, "up_mbit": s.up_mbit, "down_mbit": s.down_mbit,
                "verdicts": counts,
            })).collect::<Vec<_>>(),
            "last_submission": last,
            "duplicate_gpu_uuids": duplicates,
            "rented": rented,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("store {}", path.display());
    let now = service::now_unix();
    let when = |ts: i64| validator_report::readable_time(ts, now);
    match rounds.last() {
        Some(r) => println!(
            "{} round(s); last #{} started {} ({})",
            rounds.len(),
            r.id,
            when(r.started_at),
            match r.finished_at {
                Some(t) => format!("finished {}", when(t)),
                None => "unfinished: resumes at the next start".to_string(),
            }
        ),
        None => println!("no rounds yet"),
    }
    println!(
        "{:>5}  {:<48}  {:>8}  {:>11}  {:>5}  {:>15}  verdicts",
        "uid", "hotkey", "score", "reliability", "link", "up/down Mbit/s"
    );
    let figure = |x: Option<f64>, precision: usize| {
        x.map_or_else(|| "-".to_string(), |x| format!("{x:.precision$}"))
    };
    for (s, counts) in &miners {
        let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "{:>5}  {:<48}  {:>8.4}  {:>11.3}  {:>5}  {:>15}  {}",
            s.uid.map_or_else(|| "-".to_string(), |u| u.to_string()),
            s.hotkey,
            s.score,
            s.reliability,
            figure(s.link_factor, 2),
            format!("{}/{}", figure(s.up_mbit, 0), figure(s.down_mbit, 0)),
            counts.join(", ")
        );
    }
    println!(
        "link: the last round's bandwidth factor (1 at or above [bandwidth] min_link_mbps, \
         measured/floor below it, 0 for a failed or missing probe); up/down: the EMAs of the \
         measured upload and download"
    );
    match last {
        Some(l) => println!(
            "last weights: {} at {} for round {}: {} ({} uids)",
            l.method,
            when(l.at),
            l.round_id,
            l.outcome,
            l.uids.len()
        ),
        None => println!("no weights recorded yet"),
    }
    for d in &duplicates {
        println!(
            "warning: GPU UUID {} is claimed by {}",
            d.gpu_uuid,
            d.hotkeys.join(", ")
        );
    }
    if !rented.is_empty() {
        let list: Vec<&str> = rented.iter().map(|r| r.hotkey.as_str()).collect();
        println!("rented: {}", list.join(", "));
    }
    Ok(())
}

/// Writes the HTML report.
pub(crate) fn report(args: &ReportArgs) -> Result<()> {
    let path = args.store.path()?;
    let store = open_existing(&path)?;
    let input = ReportInput {
        title: format!("gpuproof validator report — {}", path.display()),
        generated_at: service::now_unix(),
        rounds: store.rounds()?,
        verdicts: store.verdicts(None)?,
        standings: store.standings()?,
        submissions: store.submissions()?,
        duplicates: store.duplicate_uuids()?,
    };
    std::fs::write(&args.out, render_html(&input))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} ({} rounds, {} verdicts); open it in a browser",
        args.out.display(),
        input.rounds.len(),
        input.verdicts.len()
    );
    Ok(())
}

/// Adds, removes or lists rented machines.
pub(crate) fn rented(args: &RentedArgs) -> Result<()> {
    let path = args.store.path()?;
    let now = service::now_unix();
    let ss58 = |h: &str| -> Result<String> {
        Ok(transport::identity::ss58(
            &transport::identity::parse_hotkey(h)?,
        ))
    };
    match &args.action {
        RentedAction::Add { hotkey, source } => {
            let hotkey = ss58(hotkey)?;
            Store::open(&path)?.set_rented(&hotkey, true, source, now)?;
            println!("{hotkey} recorded as rented ({source})");
        }
        RentedAction::Remove { hotkey } => {
            let hotkey = ss58(hotkey)?;
            Store::open(&path)?.set_rented(&hotkey, false, "operator", now)?;
            println!("{hotkey} no longer recorded as rented");
        }
        RentedAction::List => {
            for r in open_existing(&path)?.rented()? {
                let since = validator_report::readable_time(r.since, now);
                println!("{}  {}  since {since}", r.hotkey, r.source);
            }
        }
    }
    Ok(())
}
