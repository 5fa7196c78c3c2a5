//! `miner-host`: the miner's side of gpuproof.
//!
//! `miner-host run-local` runs one challenge module in the sandbox on this machine and checks
//! openings as a verifier would; `serve` (the QUIC server) arrives with issue #5.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use clap::{Parser, Subcommand, ValueEnum};
use miner_host::params::{encode_params, resolve_module};
use miner_host::run_local::{DEFAULT_SAMPLES, RunLocalRequest, report_json, run_local};

#[derive(Parser)]
#[command(
    name = "miner-host",
    version,
    about = "gpuproof miner host: lets validators measure this machine's GPUs, and nothing else"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendName {
    /// The multi-threaded CPU reference (class `cpu-reference`).
    Cpu,
    /// NVIDIA GPUs through CUDA.
    Cuda,
}

#[derive(Subcommand)]
enum Command {
    /// Run one challenge locally in the sandbox, print its roots, work and timings, and
    /// optionally open and check leaves as a verifier would.
    RunLocal {
        /// `matmul-i8`, `membw`, or a path to a challenge module (.wasm).
        #[arg(long)]
        module: String,
        /// Params as JSON: matmul-i8 `{"m","n","k","count"}`, membw
        /// `{"bytes","group","rounds","passes"}`, or `{"hex": "<binary params>"}`.
        #[arg(long)]
        params: String,
        /// The 32-byte challenge seed, 64 hex digits.
        #[arg(long)]
        seed: String,
        /// Backend to run on.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendName,
        /// Device index.
        #[arg(long, default_value_t = 0)]
        device: u32,
        /// Leaves to open (uniformly, with replacement) and check in a CPU-only sandbox.
        #[arg(long, default_value_t = 0)]
        open: u32,
        /// Outputs sampled per opened leaf by modules that sample (membw).
        #[arg(long, default_value_t = DEFAULT_SAMPLES)]
        samples: u32,
        /// Worker threads of the CPU backend (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Print one JSON object on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn parse_seed(hex_seed: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(hex_seed.trim()).context("--seed must be 64 hex digits")?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        anyhow::anyhow!("--seed must be 32 bytes (64 hex digits), got {}", b.len())
    })
}

#[allow(clippy::too_many_arguments)]
fn run_local_command(
    module: &str,
    params: &str,
    seed: &str,
    backend: BackendName,
    device: u32,
    open: u32,
    samples: u32,
    threads: Option<usize>,
    json: bool,
) -> Result<()> {
    let module = resolve_module(module)?;
    let params = encode_params(&module.name, params)?;
    let seed = parse_seed(seed)?;
    let backend: Box<dyn challenge_runtime::Backend> = match backend {
        BackendName::Cpu => {
            let mut config = CpuConfig::default();
            if let Some(t) = threads {
                config.threads_per_device = t.max(1);
            }
            Box::new(CpuBackend::new(config)?)
        }
        BackendName::Cuda => Box::new(miner_host::cuda::CudaBackend::new()?),
    };
    let report = run_local(
        backend.as_ref(),
        &RunLocalRequest {
            module,
            params,
            seed,
            device,
            open,
            samples,
        },
    )?;
    if json {
        println!("{}", report_json(&report));
    } else {
        println!("module   {}", hex::encode(report.module_hash));
        for (i, (root, len)) in report.roots.iter().zip(&report.output_lens).enumerate() {
            println!("root {i:<3} {} ({len} bytes)", hex::encode(root));
        }
        println!(
            "work     {} ops, {} bytes",
            report.work.ops, report.work.bytes
        );
        println!(
            "time     {:.3} ms total: run {:.3} ms, of which backend {:.3} ms; instantiate {:.3} ms",
            report.elapsed.as_secs_f64() * 1e3,
            report.timings.run.as_secs_f64() * 1e3,
            report.timings.backend.as_secs_f64() * 1e3,
            report.timings.instantiate.as_secs_f64() * 1e3
        );
        if open > 0 {
            println!(
                "openings {} checked, {} failed",
                report.openings.checked, report.openings.failed
            );
        }
    }
    for line in &report.logs {
        eprintln!("module log: {line}");
    }
    for failure in &report.openings.failures {
        eprintln!("opening failed: {failure}");
    }
    if report.openings.failed > 0 {
        bail!(
            "{} of {} openings failed",
            report.openings.failed,
            report.openings.checked
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::RunLocal {
            module,
            params,
            seed,
            backend,
            device,
            open,
            samples,
            threads,
            json,
        } => run_local_command(
            &module, &params, &seed, backend, device, open, samples, threads, json,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
