//! `verifier classes audit`: the cheat audit of a class table
//! (`verifier::classes::audit`), as a table of the cheats that pass or as JSON.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use verifier::classes::{Audit, ClassTable, MAX_CLAIMED, audit};

/// Arguments of `verifier classes`.
#[derive(Debug, Args)]
pub(crate) struct ClassesArgs {
    #[command(subcommand)]
    command: ClassesCommand,
}

#[derive(Debug, Subcommand)]
enum ClassesCommand {
    /// Check that no card can earn more by claiming other cards than by being itself.
    ///
    /// For every real GPU class D at its datasheet peak (times its peak headroom, every phase
    /// overlapped: the fastest the time model allows), every claimed GPU class C and every
    /// claimed count N from 1 to the inventory limit (64), models one D answering N claimed
    /// C devices: matmul-i8 computed one device after another, membw v2 with only what D's
    /// memory holds resident at the phase barrier and the rest regenerated or fetched over
    /// PCIe in every pass. A cheat passes when every phase fits C's too-slow bound; its gain is
    /// N × weight(C) / weight(D). The table is sound when the worst gain of a passing cheat is
    /// at most 1 (same-silicon pairs are marked: the windows may not separate them before
    /// calibration on real cards). The model is documented in verifier/src/classes/audit.rs.
    ///
    /// Exit status: 0 when the audit ran, whatever the gains (read `worst_gain`), unless
    /// --strict; 1 when the table cannot be read or a class cannot be sized, or with --strict
    /// when the worst gain is above 1.
    Audit(AuditArgs),
}

/// Arguments of `verifier classes audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// A class table to audit instead of the embedded verifier/classes.toml.
    #[arg(long, value_name = "FILE")]
    classes: Option<PathBuf>,
    /// Print `{"cheats": [{"real", "claimed", "count", "passes", "gain"}, ...], "worst_gain"}`
    /// with every audited (real, claimed, count), passing or not, instead of the table of
    /// passing cheats.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 when a passing cheat earns more than honest (worst gain above 1).
    #[arg(long)]
    strict: bool,
}

/// Runs `verifier classes …`.
pub(crate) fn run(args: &ClassesArgs) -> anyhow::Result<()> {
    match &args.command {
        ClassesCommand::Audit(a) => run_audit(a),
    }
}

fn run_audit(args: &AuditArgs) -> anyhow::Result<()> {
    let table = match &args.classes {
        Some(path) => ClassTable::load(path)?,
        None => ClassTable::embedded()?,
    };
    let result = audit(&table).context("cannot audit the class table")?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).context("cannot encode the audit")?
        );
    } else {
        print!("{}", render(&result));
    }
    if args.strict && result.worst_gain > 1.0 {
        bail!(
            "the table is not sound: a passing cheat earns {:.3}× the honest score",
            result.worst_gain
        );
    }
    Ok(())
}

/// The text report: the passing cheats, worst first, then a summary line.
fn render(a: &Audit) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let passing = a.passing();
    let _ = writeln!(
        out,
        "{:<14} {:<14} {:>5} {:>8}  {:>19}  {:>19}  {:>9}  note",
        "real", "claimed", "count", "gain", "matmul need/max s", "membw pass need/max", "missing"
    );
    for c in &passing {
        let d = &c.detail;
        let mut notes = Vec::new();
        if d.same_silicon {
            notes.push("same-silicon");
        }
        if c.gain > 1.0 {
            notes.push("EARNS MORE THAN HONEST");
        }
        let _ = writeln!(
            out,
            "{:<14} {:<14} {:>5} {:>8.3}  {:>8.3} / {:<8.3}  {:>8.3} / {:<8.3}  {:>6.1} GB  {}",
            c.real,
            c.claimed,
            c.count,
            c.gain,
            d.matmul.needed_s,
            d.matmul.max_s,
            d.membw_pass.needed_s,
            d.membw_pass.max_s,
            d.missing_bytes / 1e9,
            notes.join(", ")
        );
    }
    let over = passing.iter().filter(|c| c.gain > 1.0).count();
    let worst = passing
        .first()
        .map(|c| format!(" ({} as {} × {})", c.real, c.count, c.claimed))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} cheats audited (every real/claimed GPU class pair, 1..={MAX_CLAIMED} claimed), {} pass, \
         {over} earn more than honest; worst gain {:.3}{worst}: {}",
        a.cheats.len(),
        passing.len(),
        a.worst_gain,
        if a.worst_gain <= 1.0 {
            "sound (≤ 1)"
        } else {
            "NOT SOUND (> 1)"
        }
    );
    out
}
