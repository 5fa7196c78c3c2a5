//! `verifier yuma`: runs a Yuma scenario file through `chain::scenario` and writes the
//! per-epoch result as JSON.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Arguments of `verifier yuma`.
#[derive(Debug, Args)]
pub(crate) struct YumaArgs {
    /// Scenario JSON file to run.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// Where to write the result JSON (default: standard output).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Reads, runs and writes one scenario.
pub(crate) fn run(args: &YumaArgs) -> anyhow::Result<()> {
    let input = args.input.display();
    let text = std::fs::read_to_string(&args.input)
        .with_context(|| format!("cannot read scenario file {input}"))?;
    let scenario = chain::Scenario::from_json(&text)
        .with_context(|| format!("{input} is not a valid scenario (format: chain/README.md)"))?;
    let result = scenario
        .run()
        .with_context(|| format!("scenario {input} cannot be run"))?;
    let mut json = serde_json::to_string_pretty(&result).context("cannot encode the result")?;
    json.push('\n');
    match &args.output {
        Some(path) => std::fs::write(path, json)
            .with_context(|| format!("cannot write result to {}", path.display()))?,
        None => print!("{json}"),
    }
    Ok(())
}
