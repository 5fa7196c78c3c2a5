//! `miner-host completions SHELL` and `miner-host man --out DIR`: generated from the CLI's own
//! definition (`clap_complete`, `clap_mangen`), never checked in.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

/// Arguments of `miner-host completions`.
#[derive(Args)]
pub(super) struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    shell: Shell,
}

/// Arguments of `miner-host man`.
#[derive(Args)]
pub(super) struct ManArgs {
    /// Directory to write the pages into (created if missing).
    #[arg(long, default_value = "man")]
    out: PathBuf,
}

pub(super) fn completions(args: &CompletionsArgs) -> Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "miner-host",
        &mut std::io::stdout(),
    );
    Ok(())
}

pub(super) fn man(args: &ManArgs) -> Result<()> {
    let written = transport::cli_docs::write_man_pages(Cli::command(), &args.out)?;
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}
