//! `verifier completions SHELL` and `verifier man --out DIR`: generated from the CLI's own
//! definition (`clap_complete`, `clap_mangen`), never checked in.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

/// Arguments of `verifier completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    shell: Shell,
}

/// Arguments of `verifier man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Directory to write the pages into (created if missing).
    #[arg(long, default_value = "man")]
    out: PathBuf,
}

/// Prints the completion script.
pub(crate) fn completions(args: &CompletionsArgs) -> Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "verifier", &mut std::io::stdout());
    Ok(())
}

/// Writes the man pages.
pub(crate) fn man(args: &ManArgs) -> Result<()> {
    for path in transport::cli_docs::write_man_pages(Cli::command(), &args.out)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}
