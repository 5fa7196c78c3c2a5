//! Argument parsing (clap derive) and dispatch of the `miner-host` subcommands, one file per
//! command.

mod bench;
mod completions;
mod doctor;
mod keygen;
mod run_local;
mod serve;

use anyhow::Result;
use challenge_runtime::BackendKind;
use challenge_runtime::cpu::CpuConfig;
use clap::{Parser, Subcommand};

/// gpuproof miner host: lets validators measure this machine's GPUs, and nothing else.
#[derive(Parser)]
#[command(
    name = "miner-host",
    version = concat!(env!("CARGO_PKG_VERSION"), " (opt-level ", env!("GPUPROOF_OPT_LEVEL"), ")"),
    about = "gpuproof miner host: lets validators measure this machine's GPUs, and nothing else"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve validators' challenges over QUIC. Without --config: a local development setup
    /// (127.0.0.1:8091, hotkey //Bob, a fresh session key, serving only //Alice, one CPU device).
    Serve(serve::ServeArgs),
    /// Write a fresh ed25519 session key (mode 0600).
    Keygen(keygen::KeygenArgs),
    /// Run one challenge locally in the sandbox, print its roots, work and timings, and
    /// optionally open and check leaves as a verifier would.
    RunLocal(run_local::RunLocalArgs),
    /// Measure a device's throughput (copy, PRF fill, int8 GEMM, membw fill rounds and pass,
    /// BLAKE3 tree) through the same backend calls a challenge makes. `verifier calibrate`
    /// compares the JSON report with the class table; scripts/gpu-selftest runs both.
    Bench(bench::BenchArgs),
    /// Check a miner.toml from the inside before serving: the config, the session key's file
    /// and permissions, the hotkey, the backend and its devices (as the class table names
    /// them), the listen ports (UDP and TCP), and the chain's axon record when [chain] is set.
    /// Prints what to fix for each problem; exits non-zero if there is one.
    Doctor(doctor::DoctorArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(completions::CompletionsArgs),
    /// Write man pages (miner-host.1 and one per subcommand) into a directory.
    Man(completions::ManArgs),
}

/// Runs the chosen subcommand.
pub(crate) fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::Keygen(args) => keygen::run(&args),
        Command::RunLocal(args) => run_local::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
    }
}

/// A `--backend` name: `cpu` or `cuda` (parsed by `BackendKind`, the one parser).
fn backend_arg(name: &str) -> Result<BackendKind, String> {
    name.parse()
        .map_err(|e: challenge_runtime::UnknownBackend| e.to_string())
}

/// A local backend for `run-local` and `bench`: the CPU reference with `threads` workers
/// (default: every core) on one device, or CUDA.
fn local_backend(
    kind: BackendKind,
    threads: Option<usize>,
) -> Result<std::sync::Arc<dyn challenge_runtime::Backend>> {
    let mut cpu = CpuConfig::default();
    if let Some(t) = threads {
        cpu.threads_per_device = t.max(1);
    }
    Ok(miner_host::backend::open(kind, cpu)?)
}

/// 32 bytes from 64 hex digits, or an error naming the flag.
fn hex32(flag: &str, text: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(text.trim())
        .map_err(|e| anyhow::anyhow!("{flag} must be 64 hex digits: {e}"))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        anyhow::anyhow!("{flag} must be 32 bytes (64 hex digits), got {}", b.len())
    })
}
