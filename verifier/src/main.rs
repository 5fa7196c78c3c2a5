//! The `verifier` command line. Subcommands live in [`cli`]; each returns `anyhow::Result`,
//! and `main` prints the error chain and exits with status 1.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    transport::logging::quiet_broken_pipe();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
