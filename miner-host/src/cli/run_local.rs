//! `miner-host run-local`: one challenge in the sandbox on this machine, its leaves opened and
//! checked in a CPU-only sandbox as a verifier would.

use anyhow::{Result, bail};
use clap::Args;
use miner_host::params::{encode_params, resolve_module};
use miner_host::run_local::{DEFAULT_SAMPLES, RunLocalRequest, report_json, run_local};

use challenge_runtime::BackendKind;

use super::{backend_arg, hex32, local_backend};

/// Arguments of `miner-host run-local`.
#[derive(Args)]
pub(super) struct RunLocalArgs {
    /// A built-in module (`matmul-i8`, `membw`) or a path to a challenge module (.wasm).
    #[arg(long)]
    module: String,
    /// Params as JSON: matmul-i8 `{"m","n","k","count"}`, membw
    /// `{"bytes","group","rounds","passes"}`, or `{"hex": "<binary params>"}`.
    #[arg(long)]
    params: String,
    /// The 32-byte challenge seed, 64 hex digits.
    #[arg(long)]
    seed: String,
    /// Backend to run on: cpu or cuda.
    #[arg(long, default_value = "cpu", value_parser = backend_arg)]
    backend: BackendKind,
    /// Device index.
    #[arg(long, default_value_t = 0)]
    device: u32,
    /// Leaves to open (uniformly, with replacement) and check in a CPU-only sandbox.
    #[arg(long, default_value_t = 0)]
    open: u32,
    /// Outputs sampled per opened leaf by modules that sample (membw).
    #[arg(long, default_value_t = DEFAULT_SAMPLES)]
    samples: u32,
    /// The nonce of the verifier's next phase key, 64 hex digits; repeat it for later
    /// phases (modules with interactive phases, such as membw). Phases without one get
    /// fresh OS randomness; the nonces used are printed, so a run can be reproduced.
    #[arg(long = "phase-nonce", value_name = "HEX")]
    phase_nonces: Vec<String>,
    /// Worker threads of the CPU backend (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(args: &RunLocalArgs) -> Result<()> {
    let module = resolve_module(&args.module)?;
    let params = encode_params(&module.name, &args.params)?;
    let seed = hex32("--seed", &args.seed)?;
    let phase_nonces = args
        .phase_nonces
        .iter()
        .map(|n| hex32("--phase-nonce", n))
        .collect::<Result<Vec<_>>>()?;
    let backend = local_backend(args.backend, args.threads)?;
    let report = run_local(
        backend.as_ref(),
        &RunLocalRequest {
            module,
            params,
            seed,
            device: args.device,
            open: args.open,
            samples: args.samples,
            phase_nonces,
        },
    )?;
    if args.json {
        println!("{}", report_json(&report));
    } else {
        println!("module   {}", hex::encode(report.module_hash));
        for (i, (root, len)) in report.roots.iter().zip(&report.output_lens).enumerate() {
            println!("root {i:<3} {} ({len} bytes)", hex::encode(root));
        }
        for (k, nonce) in report.phase_nonces.iter().enumerate() {
            println!("phase {} nonce {}", k + 1, hex::encode(nonce));
        }
        println!(
            "work     {} ops, {} bytes",
            report.work.ops, report.work.bytes
        );
        let t = &report.timings;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        println!(
            "time     {:.3} ms total: run {:.3} ms, of which backend {:.3} ms \
             (fill {:.3}, compute {:.3}, hash {:.3}); instantiate {:.3} ms",
            ms(report.elapsed),
            ms(t.run),
            ms(t.backend),
            ms(t.stages.fill),
            ms(t.stages.compute),
            ms(t.stages.hash),
            ms(t.instantiate)
        );
        if args.open > 0 {
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
