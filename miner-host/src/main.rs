//! `miner-host`: the miner's side of gpuproof.
//!
//! `miner-host serve` answers validators' challenges over QUIC; `keygen` writes the session
//! key; `run-local` runs one challenge module in the sandbox on this machine and checks
//! openings as a verifier would; `bench` measures a device's throughput for the class table.

use std::process::ExitCode;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use clap::{Args, Parser, Subcommand, ValueEnum};
use miner_host::params::{encode_params, resolve_module};
use miner_host::run_local::{DEFAULT_SAMPLES, RunLocalRequest, report_json, run_local};
use miner_host::serve::{self, Adversary, MinerConfig, ServeLimits, ServerSettings};
use protocol::Role;
use transport::identity::DEFAULT_CERTIFICATE_VALIDITY;
use transport::{AllowList, Identity};

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
    /// Serve validators' challenges over QUIC. Without --config: a local development setup
    /// (127.0.0.1:8091, hotkey //Bob, a fresh session key, serving only //Alice, one CPU device).
    Serve {
        /// miner.toml (see `miner-host/miner.example.toml` for every field and its default).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override the listen address (UDP), e.g. 127.0.0.1:0 for any free port.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Log as JSON lines instead of text.
        #[arg(long)]
        log_json: bool,
        /// Cheat in the given way (tests and the local network): one of
        /// wrong-tile, skip[:P], replay, forge, slow[:S], claim:NAME, serial, hang-up, garbage,
        /// oversized, silent, drop-mid-opening, duplicate-index, empty-inventory,
        /// unknown-names, go-dark[:N], stall-last-module[:S], busy-forever, rented-inflate[:N].
        #[arg(long, hide = true)]
        adversary: Option<String>,
        /// Print `listening <addr>` on stdout once bound (for scripts that start it on port 0).
        #[arg(long)]
        print_addr: bool,
    },
    /// Write a fresh ed25519 session key (mode 0600).
    Keygen {
        /// Where to write it.
        #[arg(long, default_value = "miner-session.key")]
        out: PathBuf,
        /// Replace an existing file (the old key is lost).
        #[arg(long)]
        force: bool,
    },
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
    },
    /// Measure a device's throughput (copy, PRF fill, int8 GEMM, membw fill rounds and pass,
    /// BLAKE3 tree) through the same backend calls a challenge makes. `verifier calibrate`
    /// compares the JSON report with the class table; scripts/gpu-selftest runs both.
    Bench(BenchArgs),
}

fn parse_phase_nonce(hex_nonce: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(hex_nonce.trim()).context("--phase-nonce must be 64 hex digits")?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        anyhow::anyhow!(
            "--phase-nonce must be 32 bytes (64 hex digits), got {}",
            b.len()
        )
    })
}

fn parse_seed(hex_seed: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(hex_seed.trim()).context("--seed must be 64 hex digits")?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        anyhow::anyhow!("--seed must be 32 bytes (64 hex digits), got {}", b.len())
    })
}

/// The backend `run-local` and `bench` run on.
fn local_backend(
    backend: BackendName,
    threads: Option<usize>,
) -> Result<Box<dyn challenge_runtime::Backend>> {
    Ok(match backend {
        BackendName::Cpu => {
            let mut config = CpuConfig::default();
            if let Some(t) = threads {
                config.threads_per_device = t.max(1);
            }
            Box::new(CpuBackend::new(config)?)
        }
        BackendName::Cuda => Box::new(miner_host::cuda::CudaBackend::new()?),
    })
}

/// Arguments of `miner-host bench`.
#[derive(Args)]
struct BenchArgs {
    /// Backend to measure.
    #[arg(long, value_enum, default_value = "cuda")]
    backend: BackendName,
    /// Device index.
    #[arg(long, default_value_t = 0)]
    device: u32,
    /// Small sizes (at most 16 MiB a buffer): checks that everything runs, measures little.
    /// Default: sizes for the device's memory (GEMM 8192×8192×32768 where it fits).
    #[arg(long, conflicts_with = "plan")]
    quick: bool,
    /// A plan as JSON (the `plan` object of a report: copy_bytes, prf_bytes, gemm {m,n,k},
    /// membw_bytes, membw_group, rounds [...], hash_bytes, repeats).
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Worker threads of the CPU backend (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the report as JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn bench_command(args: BenchArgs) -> Result<()> {
    use challenge_runtime::bench::{self, BenchPlan, GemmShape};
    let backend = local_backend(args.backend, args.threads)?;
    let plan = match (&args.plan, args.quick) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read plan {}", path.display()))?;
            serde_json::from_str::<BenchPlan>(&text).with_context(|| {
                format!(
                    "{} is not a bench plan (the `plan` object of a `bench --json` report)",
                    path.display()
                )
            })?
        }
        (None, true) => BenchPlan::quick(),
        (None, false) => {
            let devices = backend.devices();
            let Some(info) = devices.iter().find(|d| d.index == args.device) else {
                bail!(
                    "no device {} on the {} backend ({} devices)",
                    args.device,
                    backend.name(),
                    devices.len()
                );
            };
            BenchPlan::full(info.memory_bytes)
        }
    };
    let report = bench::run(backend.as_ref(), args.device, &plan, &mut |step| {
        eprintln!("bench: {step}");
    })?;
    let json = report.to_json();
    if let Some(path) = &args.out {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
    }
    if args.json {
        println!("{json}");
        return Ok(());
    }
    let r = &report;
    let f = bench::figure;
    println!(
        "device        {} #{} ({}, {} MiB)",
        r.device_name,
        r.device,
        r.backend,
        r.memory_bytes >> 20
    );
    println!("copy          {:>10} GB/s (read + write)", f(r.copy.gbps));
    println!(
        "prf fill      {:>10} G Philox blocks/s",
        f(r.prf_fill.philox_blocks_per_s / 1e9)
    );
    let GemmShape { m, n, k } = r.gemm.shape;
    println!(
        "int8 gemm     {:>10} TOPS ({m} × {n} × {k})",
        f(r.gemm.tops)
    );
    for p in &r.membw_fill {
        println!(
            "membw fill    {:>10} G Philox calls/s at R = {}: fill / read per group {}",
            f(p.philox_per_s / 1e9),
            p.rounds,
            f(p.fill_over_read)
        );
    }
    println!(
        "membw pass    {:>10} GB/s ({} % of the copy)",
        f(r.membw_pass.gbps),
        f(r.membw_pass.fraction_of_copy * 100.0)
    );
    println!(
        "membw R       {:>10}      (least R with regenerating a group ≥ 10× reading it)",
        r.membw_rounds.rounds
    );
    println!(
        "blake3 tree   {:>10} GB/s (whole commit {} GB/s)",
        f(r.hash.gbps),
        f(r.hash.commit_gbps)
    );
    Ok(())
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
    phase_nonces: &[String],
) -> Result<()> {
    let module = resolve_module(module)?;
    let params = encode_params(&module.name, params)?;
    let seed = parse_seed(seed)?;
    let phase_nonces = phase_nonces
        .iter()
        .map(|n| parse_phase_nonce(n))
        .collect::<Result<Vec<_>>>()?;
    let backend = local_backend(backend, threads)?;
    let report = run_local(
        backend.as_ref(),
        &RunLocalRequest {
            module,
            params,
            seed,
            device,
            open,
            samples,
            phase_nonces,
        },
    )?;
    if json {
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

fn keygen_command(out: &std::path::Path, force: bool) -> Result<()> {
    let key = transport::identity::keygen(out, force)?;
    println!(
        "wrote {} (mode 0600); session public key {key}",
        out.display()
    );
    Ok(())
}

/// The development setup used when `serve` has no `--config`.
fn dev_settings(listen: Option<std::net::SocketAddr>) -> Result<ServerSettings> {
    let key = transport::identity::generate_key()?;
    let hotkey = transport::identity::load_hotkey(&transport::KeySource::Uri("//Bob".into()))?;
    let alice = transport::identity::load_hotkey(&transport::KeySource::Uri("//Alice".into()))?;
    eprintln!(
        "no --config: local development setup (hotkey //Bob, a fresh session key, serving only \
         //Alice = {}, one cpu-reference device)",
        transport::identity::ss58(&transport::identity::hotkey_of(&alice))
    );
    let backend = CpuBackend::new(CpuConfig {
        devices: 1,
        threads_per_device: 1,
        memory_bytes: 1 << 30,
    })?;
    Ok(ServerSettings {
        listen: listen.unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8091))),
        identity: Identity::issue(key, &hotkey, Role::Miner, DEFAULT_CERTIFICATE_VALIDITY),
        backend: Arc::new(backend),
        allow: Arc::new(RwLock::new(AllowList::of([
            transport::identity::hotkey_of(&alice),
        ]))),
        limits: ServeLimits::default(),
        adversary: None,
    })
}

/// The chain follower's setup, when miner.toml has `[chain]`.
struct ChainSetup {
    url: String,
    follow: serve::chain::ChainFollow,
    signer: chain_client::Keypair,
    operator: AllowList,
}

fn config_settings(
    path: &std::path::Path,
    listen: Option<std::net::SocketAddr>,
) -> Result<(ServerSettings, Option<ChainSetup>)> {
    let config = MinerConfig::load(path)?;
    let key = transport::identity::load_key_file(&config.session_key)?;
    let source = config.hotkey.source().map_err(anyhow::Error::msg)?;
    let hotkey = transport::identity::load_hotkey(&source)?;
    let validity = Duration::from_secs(config.limits.certificate_validity_h.max(1) * 3600);
    let backend: Arc<dyn challenge_runtime::Backend> = match config.backend.kind.as_str() {
        "cuda" => Arc::new(miner_host::cuda::CudaBackend::new()?),
        _ => Arc::new(CpuBackend::new(CpuConfig {
            devices: config.backend.cpu_devices,
            threads_per_device: 1,
            memory_bytes: config.backend.cpu_memory_mib.saturating_mul(1 << 20),
        })?),
    };
    let operator = AllowList::parse(&config.access.allow, &config.access.deny)?;
    let chain = match (
        &config.chain,
        config.external_addr().map_err(anyhow::Error::msg)?,
    ) {
        (Some(chain), Some(external)) => Some(ChainSetup {
            url: chain.url.clone(),
            follow: serve::chain::ChainFollow {
                netuid: chain.netuid,
                external,
                refresh: (chain.refresh_s > 0).then(|| Duration::from_secs(chain.refresh_s)),
            },
            signer: hotkey.clone(),
            operator: operator.clone(),
        }),
        _ => None,
    };
    let settings = ServerSettings {
        listen: listen.unwrap_or(config.listen),
        identity: Identity::issue(key, &hotkey, Role::Miner, validity),
        backend,
        allow: Arc::new(RwLock::new(operator)),
        limits: config.limits.to_limits(),
        adversary: None,
    };
    Ok((settings, chain))
}

fn serve_command(
    config: Option<&std::path::Path>,
    listen: Option<std::net::SocketAddr>,
    log_json: bool,
    adversary: Option<&str>,
    print_addr: bool,
) -> Result<()> {
    transport::init_logging(log_json);
    let (mut settings, chain) = match config {
        Some(path) => config_settings(path, listen)?,
        None => (dev_settings(listen)?, None),
    };
    if let Some(kind) = adversary {
        settings.adversary = Some(kind.parse::<Adversary>().map_err(anyhow::Error::msg)?);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let me = settings.identity.hotkey();
        let allow = Arc::clone(&settings.allow);
        let handle = serve::start(settings)?;
        // Runs on this (non-spawned) future: subxt's read futures are not `Send` enough for
        // `tokio::spawn`.
        let follower = match chain {
            Some(setup) => {
                let client = chain_client::ChainClient::connect(&setup.url)
                    .await
                    .with_context(|| {
                        format!("cannot reach the chain at {}; check [chain] url", setup.url)
                    })?
                    .with_signer(setup.signer);
                Some(serve::chain::follow(
                    client,
                    setup.follow,
                    me,
                    setup.operator,
                    allow,
                ))
            }
            None => None,
        };
        let follow = async {
            match follower {
                Some(f) => f.await,
                None => std::future::pending().await,
            }
        };
        if print_addr {
            println!("listening {}", handle.addr);
        }
        eprintln!("serving on {} (UDP); Ctrl-C stops", handle.addr);
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                eprintln!("shutting down");
                handle.shutdown().await;
            }
            () = follow => {}
        }
        Ok::<(), anyhow::Error>(())
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            listen,
            log_json,
            adversary,
            print_addr,
        } => serve_command(
            config.as_deref(),
            listen,
            log_json,
            adversary.as_deref(),
            print_addr,
        ),
        Command::Keygen { out, force } => keygen_command(&out, force),
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
            phase_nonces,
        } => run_local_command(
            &module,
            &params,
            &seed,
            backend,
            device,
            open,
            samples,
            threads,
            json,
            &phase_nonces,
        ),
        Command::Bench(args) => bench_command(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
