//! Argument parsing (clap derive) and dispatch of the `verifier` subcommands.

mod yuma;

use clap::{Parser, Subcommand};

/// gpuproof validator: verifies miners' GPUs and turns scores into on-chain weights.
#[derive(Debug, Parser)]
#[command(name = "verifier", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate Yuma Consensus epochs exactly as the subtensor runtime computes them.
    ///
    /// Reads a scenario (subnet size, stakes, emission, hyperparameters, and the weights each
    /// validator sets before each epoch) and writes, per epoch, the consensus, incentive,
    /// dividends, validator trust, validator permits, bonds and emission as the chain stores
    /// them. The format is documented in chain/README.md; chain/examples/scenario.json is an
    /// example.
    Yuma(yuma::YumaArgs),
}

/// Runs the chosen subcommand.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Yuma(args) => yuma::run(&args),
    }
}
