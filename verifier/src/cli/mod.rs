//! Argument parsing (clap derive) and dispatch of the `verifier` subcommands.

mod bench;
mod calibrate;
mod chain;
mod challenge;
mod classes;
mod docs;
mod localnet;
mod receipts;
mod service;
mod yuma;

use clap::{Parser, Subcommand};

/// gpuproof validator: verifies miners' GPUs and turns scores into on-chain weights.
#[derive(Debug, Parser)]
#[command(
    name = "verifier",
    version = concat!(env!("CARGO_PKG_VERSION"), " (opt-level ", env!("GPUPROOF_OPT_LEVEL"), ")"),
    about
)]
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
    /// Challenge one miner: every claimed GPU at once with matmul-i8, then membw, then a
    /// bandwidth probe; prints a verdict per GPU with its measured time and envelope.
    Challenge(challenge::ChallengeArgs),
    /// Write a fresh ed25519 session key (mode 0600).
    Keygen(challenge::KeygenArgs),
    /// Run the whole system on this machine: miner hosts on loopback (some cheating), real
    /// verifiers over QUIC, and a simulated chain (Yuma) turning scores into incentive.
    Localnet(localnet::LocalnetArgs),
    /// Run the validator service: rounds against the miners of the metagraph (or a static
    /// list), every verdict in the SQLite store, weights each tempo, Prometheus metrics.
    Run(service::RunArgs),
    /// Summarize the store: rounds, per-miner scores and verdicts, the last weights.
    Status(service::StatusArgs),
    /// Write one HTML file with plots of the store's verdicts (open it in a browser).
    Report(service::ReportArgs),
    /// Record which miners' machines are rented (the verifier's own records, never the miner's
    /// word): they get a small exact-work challenge instead of the full one.
    Rented(service::RentedArgs),
    /// Compare a device's measured throughput (`miner-host bench --json`) with its GPU class:
    /// GEMM against the dense int8 peak, membw against the device copy, BLAKE3 and Philox
    /// against their compute ceilings, the measured membw R against the table's.
    Calibrate(calibrate::CalibrateArgs),
    /// Inspect the GPU-class table: `classes audit` models every card claiming every class
    /// (1..=64 devices) and prints what a cheat would earn against honest.
    Classes(classes::ClassesArgs),
    /// First contact with a chain: `chain info` prints the runtime's version and what it lacks,
    /// the subnet's hyperparameters, the weight submission path, this validator's standing and
    /// the miners of the metagraph with their axons.
    Chain(chain::ChainArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(docs::CompletionsArgs),
    /// Write man pages (verifier.1 and one per subcommand) into a directory.
    Man(docs::ManArgs),
    /// Measure what checking one GPU's round costs this machine, per GPU class (every opened
    /// leaf of a matmul-i8 and a membw challenge at the class's plan sizes, recomputed on one
    /// thread), and how many GPUs a round of `round.interval_s` can check: sizes the verifier.
    Bench(bench::BenchArgs),
    /// Re-check verification receipts offline (no network, no store): the validator's
    /// signature and certificate, the miner's signatures up to its hotkey, the seeds, every
    /// path to its signed root, every leaf through the module's check on the CPU, and that the
    /// verdict follows from the figures under the class table. Exit 0 only if every receipt
    /// holds.
    Audit(receipts::AuditArgs),
    /// The store's verification receipts: `export` writes them as files, `show` prints one.
    Receipts(receipts::ReceiptsArgs),
    /// Serve the renters' catalogue of the store (HTML at /, JSON at /v1/machines) until
    /// Ctrl-C.
    Catalogue(receipts::CatalogueArgs),
}

/// Runs the chosen subcommand.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Yuma(args) => yuma::run(&args),
        Command::Challenge(args) => challenge::run(&args),
        Command::Keygen(args) => challenge::keygen(&args),
        Command::Localnet(args) => localnet::run(&args),
        Command::Run(args) => service::run(&args),
        Command::Status(args) => service::status(&args),
        Command::Report(args) => service::report(&args),
        Command::Rented(args) => service::rented(&args),
        Command::Calibrate(args) => calibrate::run(&args),
        Command::Classes(args) => classes::run(&args),
        Command::Chain(args) => chain::run(&args),
        Command::Completions(args) => docs::completions(&args),
        Command::Man(args) => docs::man(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Audit(args) => receipts::audit_files(&args),
        Command::Receipts(args) => receipts::receipts(&args),
        Command::Catalogue(args) => receipts::catalogue(&args),
    }
}
