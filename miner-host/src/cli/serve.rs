//! `miner-host serve`: the QUIC server, from a miner.toml or the local development setup.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use clap::Args;
use miner_host::serve::{self, Adversary, MinerConfig, ServeLimits, ServerSettings};
use protocol::Role;
use transport::identity::DEFAULT_CERTIFICATE_VALIDITY;
use transport::{AllowList, Identity};

/// Arguments of `miner-host serve`.
#[derive(Args)]
pub(super) struct ServeArgs {
    /// miner.toml (see `miner-host/miner.example.toml` for every field and its default).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override the listen address (UDP), e.g. 127.0.0.1:0 for any free port.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
    /// Cheat in the given way (tests and the local network): one of `Adversary::KINDS`.
    #[arg(long, hide = true)]
    adversary: Option<String>,
    /// Print `listening <addr>` on stdout once bound (for scripts that start it on port 0).
    #[arg(long)]
    print_addr: bool,
}

/// The development setup used when `serve` has no `--config`.
fn dev_settings(listen: Option<SocketAddr>) -> Result<ServerSettings> {
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
        listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8091))),
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

/// The backend miner.toml's `[backend]` names.
pub(super) fn config_backend(config: &MinerConfig) -> Result<Arc<dyn challenge_runtime::Backend>> {
    let cpu = CpuConfig {
        devices: config.backend.cpu_devices,
        threads_per_device: 1,
        memory_bytes: config.backend.cpu_memory_mib.saturating_mul(1 << 20),
    };
    Ok(miner_host::backend::open(config.backend.kind, cpu)?)
}

fn config_settings(
    path: &Path,
    listen: Option<SocketAddr>,
) -> Result<(ServerSettings, Option<ChainSetup>)> {
    let config = MinerConfig::load(path)?;
    let key = transport::identity::load_key_file(&config.session_key)?;
    let source = config.hotkey.source()?;
    let hotkey = transport::identity::load_hotkey(&source)?;
    let validity = Duration::from_secs(config.limits.certificate_validity_h.max(1) * 3600);
    let backend = config_backend(&config)?;
    let operator = AllowList::parse(&config.access.allow, &config.access.deny)?;
    let chain = match (&config.chain, config.external_addr()?) {
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

pub(super) fn run(args: &ServeArgs) -> Result<()> {
    transport::init_logging(args.log_json);
    let (mut settings, chain) = match &args.config {
        Some(path) => config_settings(path, args.listen)?,
        None => (dev_settings(args.listen)?, None),
    };
    if let Some(kind) = &args.adversary {
        settings.adversary = Some(kind.parse::<Adversary>().map_err(anyhow::Error::msg)?);
    }
    let print_addr = args.print_addr;
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
