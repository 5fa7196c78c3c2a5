//! `verifier calibrate`: sets a `miner-host bench` report against its GPU class
//! (`verifier::classes::compare_bench`) and prints what the class table should say.

use std::path::PathBuf;

use anyhow::{Context, bail};
use challenge_runtime::bench::{BenchReport, figure};
use clap::Args;
use verifier::classes::{Against, ClassTable, compare_bench};

/// Arguments of `verifier calibrate`.
#[derive(Debug, Args)]
pub(crate) struct CalibrateArgs {
    /// The report `miner-host bench --json` (or `--out`) wrote.
    #[arg(long, value_name = "FILE")]
    bench: PathBuf,
    /// Class id to compare with (default: the class the report's device name maps to).
    #[arg(long, value_name = "ID")]
    class: Option<String>,
    /// A class table to use instead of the embedded verifier/classes.toml.
    #[arg(long, value_name = "FILE")]
    classes: Option<PathBuf>,
    /// Print the comparison as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 when a goal of issue #4 is missed (GEMM ≥ 70 % of the dense peak,
    /// membw passes ≥ 80 % of the device copy) or the table's `membw_rounds` is below the
    /// measured R.
    #[arg(long)]
    strict: bool,
}

fn line(what: &str, a: &Against) -> String {
    let goal = match a.goal {
        Some(g) if a.meets_goal => format!("  goal ≥ {:.0} %: met", g * 100.0),
        Some(g) => format!("  goal ≥ {:.0} %: BELOW GOAL", g * 100.0),
        None => String::new(),
    };
    format!(
        "{what:<14}{:>10} {:<10} {:>6} % of {} ({}){goal}",
        figure(a.measured),
        a.unit,
        figure(a.fraction * 100.0),
        a.reference_is,
        figure(a.reference)
    )
}

/// Reads the report and the table, compares, prints.
pub(crate) fn run(args: &CalibrateArgs) -> anyhow::Result<()> {
    let path = args.bench.display();
    let text =
        std::fs::read_to_string(&args.bench).with_context(|| format!("cannot read {path}"))?;
    let report = BenchReport::from_json(&text).with_context(|| format!("{path} cannot be used"))?;
    let table = match &args.classes {
        Some(path) => ClassTable::load(path)?,
        None => ClassTable::embedded()?,
    };
    let class = match &args.class {
        Some(id) => table.get(id).with_context(|| {
            let ids: Vec<&str> = table.classes().iter().map(|c| c.id()).collect();
            format!("no class `{id}` in the table; classes: {}", ids.join(", "))
        })?,
        None => table.classify(&report.device_name).with_context(|| {
            format!(
                "device `{}` is in no class's driver_names; name one with --class, or add the \
                 device to classes.toml",
                report.device_name
            )
        })?,
    };
    let cmp = compare_bench(&report, class)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&cmp).context("cannot encode the comparison")?
        );
    } else {
        println!(
            "device        {} ({} backend), class {}",
            cmp.device_name, cmp.backend, cmp.class
        );
        println!("{}", line("int8 gemm", &cmp.gemm));
        println!("{}", line("membw pass", &cmp.membw_vs_copy));
        println!("{}", line("", &cmp.membw_vs_datasheet));
        println!("{}", line("blake3 tree", &cmp.blake3));
        println!("{}", line("philox", &cmp.philox));
        let r = &cmp.membw_rounds;
        println!(
            "membw R       measured {}, table {}: {}",
            r.measured,
            r.table,
            if r.table_is_enough {
                "the table's R is enough"
            } else {
                "TABLE R TOO SMALL for this device"
            }
        );
        println!("suggested classes.toml lines for `{}`:", cmp.class);
        for l in &cmp.suggested_toml {
            println!("  {l}");
        }
    }
    if args.strict && !cmp.all_met {
        bail!("a goal is missed or the table's membw_rounds is below the measured R (see above)");
    }
    Ok(())
}
