//! `verifier audit`, `verifier receipts export|show` and `verifier catalogue`: receipts and the
//! renters' view (see [`verifier::receipt`] and [`verifier::catalogue`]).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use validator_store::{ReceiptFilter, Store, VerdictKind};
use verifier::classes::ClassTable;
use verifier::receipt::audit::{Audit, AuditContext, audit};
use verifier::service::ValidatorConfig;
use verifier::session::SandboxChecker;

/// Arguments of `verifier audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Receipt files (as `verifier receipts export` writes them or `/v1/receipts/{id}` serves
    /// them).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The class table the receipts were judged under, when it is not the built-in one (a
    /// receipt names its table by hash).
    #[arg(long)]
    classes: Option<PathBuf>,
    /// Print one JSON object per receipt (one array) instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `verifier receipts`.
#[derive(Debug, Args)]
pub(crate) struct ReceiptsArgs {
    #[command(subcommand)]
    action: ReceiptsAction,
}

#[derive(Debug, Subcommand)]
enum ReceiptsAction {
    /// Write the store's receipts as files (`<round>-<hotkey>-<device>-<module>-<verdict>-<id>.receipt`).
    Export(ExportArgs),
    /// Print a receipt for a person (it checks nothing: `verifier audit` does).
    Show {
        /// The receipt file.
        file: PathBuf,
    },
}

/// Arguments of `verifier receipts export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The validator.toml whose store to read.
    #[arg(long, conflicts_with = "db")]
    config: Option<PathBuf>,
    /// The SQLite store (instead of --config).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Only this miner's (SS58 or 0x-hex).
    #[arg(long)]
    miner: Option<String>,
    /// Only this round's.
    #[arg(long)]
    round: Option<i64>,
    /// Only verdicts of this kind (pass, wrong-result, too-slow, too-fast, timeout,
    /// protocol-error).
    #[arg(long)]
    verdict: Option<String>,
    /// Where to write them (created if missing).
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `verifier catalogue`.
#[derive(Debug, Args)]
pub(crate) struct CatalogueArgs {
    /// The validator.toml whose store to serve (and whose [catalogue] listen to use).
    #[arg(long)]
    config: PathBuf,
    /// Serve here instead of [catalogue] listen (HOST:PORT).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
}

/// Audits every file; fails (exit 1) unless every receipt holds.
pub(crate) fn audit_files(args: &AuditArgs) -> Result<()> {
    let table = match &args.classes {
        Some(path) => ClassTable::load(path)
            .with_context(|| format!("cannot use --classes {}", path.display()))?,
        None => ClassTable::embedded()?,
    };
    let checker = SandboxChecker::with_builtins()
        .context("cannot start the CPU sandbox that recomputes leaves")?;
    let ctx = AuditContext {
        table: &table,
        checker: &checker,
    };
    let mut results = Vec::new();
    for file in &args.files {
        let audited = match read_receipt(file) {
            Ok(bytes) => audit(&bytes, &ctx),
            Err(e) => Audit {
                failures: vec![verifier::receipt::audit::AuditError::Malformed {
                    reason: format!("{e:#}"),
                }],
                ..Audit::default()
            },
        };
        results.push((file, audited));
    }
    let failed = results.iter().filter(|(_, a)| !a.holds()).count();
    if args.json {
        let all: Vec<serde_json::Value> = results
            .iter()
            .map(|(file, a)| {
                let mut v = serde_json::to_value(a).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("file".into(), file.display().to_string().into());
                    o.insert("holds".into(), a.holds().into());
                }
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        for (file, a) in &results {
            print_audit(file, a);
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} receipt(s) do not hold (see above for which check failed where)",
            results.len()
        );
    }
    if !args.json {
        eprintln!("{} receipt(s) hold", results.len());
    }
    Ok(())
}

/// A receipt file's bytes (at most the largest receipt).
fn read_receipt(file: &PathBuf) -> Result<Vec<u8>> {
    let meta =
        std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    let max = verifier::receipt::MAX_RECEIPT_BYTES;
    if meta.len() > max as u64 {
        bail!(
            "{} is {} bytes, more than a receipt may have ({max})",
            file.display(),
            meta.len()
        );
    }
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

fn print_audit(file: &std::path::Path, a: &Audit) {
    let id = a.id.as_deref().unwrap_or("?");
    let verdict = a.verdict.map_or("?", VerdictKind::as_str);
    if a.holds() {
        println!("{}: HOLDS ({verdict}, receipt {id})", file.display());
    } else {
        println!("{}: FAILS ({verdict}, receipt {id})", file.display());
        for f in &a.failures {
            println!("  failed [{}]: {f}", f.check());
        }
    }
    for p in &a.proven {
        println!("  proven: {p}");
    }
    for t in &a.attested {
        println!("  attested by the validator: {t}");
    }
}

/// `verifier receipts export` and `show`.
pub(crate) fn receipts(args: &ReceiptsArgs) -> Result<()> {
    match &args.action {
        ReceiptsAction::Show { file } => {
            let bytes = read_receipt(file)?;
            let text = verifier::receipt::summary(&bytes)
                .with_context(|| format!("{} is not a receipt", file.display()))?;
            print!("{text}");
            Ok(())
        }
        ReceiptsAction::Export(export) => export_receipts(export),
    }
}

fn export_receipts(args: &ExportArgs) -> Result<()> {
    let path = match (&args.db, &args.config) {
        (Some(db), _) => db.clone(),
        (None, Some(config)) => ValidatorConfig::load(config)?.store,
        (None, None) => bail!("say which store: --config validator.toml or --db PATH"),
    };
    let verdict = match &args.verdict {
        Some(kind) => match VerdictKind::parse(kind) {
            Some(kind) => Some(kind),
            None => bail!("--verdict {kind}: use one of {}", VerdictKind::list()),
        },
        None => None,
    };
    let miner = match &args.miner {
        Some(m) => Some(transport::identity::ss58(
            &transport::identity::parse_hotkey(m).with_context(|| format!("--miner {m}"))?,
        )),
        None => None,
    };
    let store = Store::open_read_only(&path).with_context(|| {
        format!(
            "cannot read the store {}; is it the `store` of your validator.toml?",
            path.display()
        )
    })?;
    let rows = store.receipt_rows(&ReceiptFilter {
        hotkey: miner,
        round_id: args.round,
        verdict,
    })?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let (mut written, mut pruned) = (0usize, 0usize);
    for row in rows {
        let Some(bytes) = store.receipt(&row.receipt_id)?.and_then(|s| s.bytes) else {
            pruned += 1;
            continue;
        };
        let name = verifier::receipt::file_name(&row);
        let file = args.out.join(name);
        std::fs::write(&file, bytes).with_context(|| format!("cannot write {}", file.display()))?;
        written += 1;
    }
    println!(
        "wrote {written} receipt(s) to {}{}",
        args.out.display(),
        if pruned > 0 {
            format!(" ({pruned} pass receipt(s) past receipt_retention_rounds were pruned)")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Serves the catalogue of a validator's store until Ctrl-C.
pub(crate) fn catalogue(args: &CatalogueArgs) -> Result<()> {
    let config = ValidatorConfig::load(&args.config)?;
    transport::init_logging(config.log.json);
    let addr = match (args.listen, &config.catalogue) {
        (Some(addr), _) => addr,
        (None, Some(c)) => c.address().map_err(anyhow::Error::msg)?,
        (None, None) => bail!(
            "{} has no [catalogue] table: add one with listen = \"HOST:PORT\", or pass --listen",
            args.config.display()
        ),
    };
    if !config.store.exists() {
        bail!(
            "the store {} does not exist yet; run `verifier run --config {}` first",
            config.store.display(),
            args.config.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (bound, task) = verifier::catalogue::start(addr, config.store.clone())
            .await
            .with_context(|| format!("cannot serve the catalogue on {addr}"))?;
        eprintln!("catalogue at http://{bound}/ (Ctrl-C to stop)");
        let _ = tokio::signal::ctrl_c().await;
        task.abort();
        Ok::<(), anyhow::Error>(())
    })
}
