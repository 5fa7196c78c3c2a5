//! `miner-host doctor`: what a miner can check from the inside before validators try to reach
//! it, each problem with what to do about it.
//!
//! Checks, in order (a failed config stops the rest, since they read it): the config; the
//! session key file (it exists, only its owner can read it, it is a session key); the hotkey;
//! the backend and its devices, each named as the verifier's class table
//! (`verifier/classes.toml`, embedded here) would classify it, with its memory against the
//! class's; the listen address, bound for UDP (QUIC) and TCP (bandwidth-probe data); and, when
//! `[chain]` is set, the axon the chain records for this hotkey against `external_addr`. The
//! checks that need the outside world (that validators can reach the ports through the
//! firewall or NAT) cannot be made from here: the output says so.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use miner_host::serve::MinerConfig;
use serde::Deserialize;

use super::serve::config_backend;

/// Arguments of `miner-host doctor`.
#[derive(Args)]
pub(super) struct DoctorArgs {
    /// The miner.toml to check.
    #[arg(long)]
    config: PathBuf,
    /// Longest wait for the chain's node when `[chain]` is set, seconds.
    #[arg(long, default_value_t = 15)]
    chain_timeout_s: u64,
}

/// One check's outcome.
#[derive(Debug)]
enum Outcome {
    /// Fine: what was found.
    Ok(String),
    /// A problem: what is wrong, and what to do.
    Problem { what: String, fix: String },
    /// Not checked: why.
    Skipped(String),
}

/// The checks so far, printed as they come.
#[derive(Default)]
struct Report {
    problems: usize,
}

impl Report {
    fn record(&mut self, topic: &str, outcome: Outcome) {
        match outcome {
            Outcome::Ok(found) => println!("ok       {topic}: {found}"),
            Outcome::Skipped(why) => println!("skipped  {topic}: {why}"),
            Outcome::Problem { what, fix } => {
                self.problems += 1;
                println!("PROBLEM  {topic}: {what}");
                println!("         fix: {fix}");
            }
        }
    }
}

fn problem(what: impl Into<String>, fix: impl Into<String>) -> Outcome {
    Outcome::Problem {
        what: what.into(),
        fix: fix.into(),
    }
}

pub(super) fn run(args: &DoctorArgs) -> Result<()> {
    let mut report = Report::default();
    let config = match MinerConfig::load(&args.config) {
        Ok(config) => {
            report.record(
                "config",
                Outcome::Ok(format!("{} parses and is valid", args.config.display())),
            );
            config
        }
        Err(e) => {
            report.record(
                "config",
                problem(
                    e.to_string(),
                    "see miner-host/miner.example.toml for every field and its default",
                ),
            );
            return finish(&report);
        }
    };
    report.record("session key", session_key(&config));
    let hotkey = hotkey(&config);
    report.record(
        "hotkey",
        match &hotkey {
            Ok(h) => Outcome::Ok(transport::identity::ss58(h)),
            Err(o) => problem(o.0.clone(), o.1.clone()),
        },
    );
    for (topic, outcome) in devices(&config) {
        report.record(&topic, outcome);
    }
    report.record("listen (UDP, QUIC)", bind_udp(config.listen));
    report.record("listen (TCP, probe data)", bind_tcp(config.listen));
    let chain = match (&config.chain, hotkey) {
        (None, _) => Outcome::Skipped("no [chain]: the operator's allow list decides".into()),
        (Some(_), Err(_)) => Outcome::Skipped("the hotkey did not load".into()),
        (Some(_), Ok(hotkey)) => axon(&config, &hotkey, Duration::from_secs(args.chain_timeout_s)),
    };
    report.record("chain axon", chain);
    println!(
        "note     reachability from outside (firewall, NAT) cannot be checked from here: open \
         UDP and TCP port {} to validators",
        config.listen.port()
    );
    finish(&report)
}

fn finish(report: &Report) -> Result<()> {
    if report.problems == 0 {
        println!("no problems found");
        Ok(())
    } else {
        anyhow::bail!(
            "{} problem(s) found; fix them and run doctor again",
            report.problems
        )
    }
}

fn session_key(config: &MinerConfig) -> Outcome {
    let path = &config.session_key;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return problem(
                    format!(
                        "{} has mode {mode:o}: other users can read or change the key",
                        path.display()
                    ),
                    format!("chmod 600 {}", path.display()),
                );
            }
        }
    }
    match transport::identity::load_key_file(path) {
        Ok(key) => Outcome::Ok(format!(
            "{} (public key {})",
            config.session_key.display(),
            hex::encode(key.verifying_key().as_bytes())
        )),
        Err(e) => problem(
            e.to_string(),
            format!(
                "`miner-host keygen --out {}` writes a new one with mode 0600",
                config.session_key.display()
            ),
        ),
    }
}

fn hotkey(config: &MinerConfig) -> Result<protocol::Hotkey, (String, String)> {
    let fix = "set [hotkey] to your registered hotkey (see miner.example.toml)".to_string();
    let source = config
        .hotkey
        .source()
        .map_err(|e| (format!("[hotkey]: {e}"), fix.clone()))?;
    let pair = transport::identity::load_hotkey(&source).map_err(|e| (e.to_string(), fix))?;
    Ok(transport::identity::hotkey_of(&pair))
}

/// The class table's view of device names: id, driver names, memory.
#[derive(Deserialize)]
struct Table {
    class: Vec<ClassEntry>,
}

#[derive(Deserialize)]
struct ClassEntry {
    id: String,
    driver_names: Vec<String>,
    memory_bytes: u64,
}

/// The verifier's class table, embedded at build time.
const CLASSES_TOML: &str = include_str!("../../../verifier/classes.toml");

fn classify<'t>(table: &'t Table, name: &str) -> Option<&'t ClassEntry> {
    let wanted = protocol::normalize_driver_name(name);
    table.class.iter().find(|c| {
        c.driver_names
            .iter()
            .any(|n| protocol::normalize_driver_name(n) == wanted)
    })
}

fn devices(config: &MinerConfig) -> Vec<(String, Outcome)> {
    let backend = match config_backend(config) {
        Ok(b) => b,
        Err(e) => {
            return vec![(
                "backend".into(),
                problem(
                    format!("the {} backend does not start: {e:#}", config.backend.kind),
                    "install the NVIDIA driver and CUDA libraries, or set [backend] kind = \"cpu\"",
                ),
            )];
        }
    };
    let table: Option<Table> = toml::from_str(CLASSES_TOML).ok();
    let devices = backend.devices();
    let mut out = vec![(
        "backend".to_string(),
        Outcome::Ok(format!(
            "{} with {} device(s)",
            backend.name(),
            devices.len()
        )),
    )];
    if devices.is_empty() {
        out.push((
            "devices".into(),
            problem(
                "the backend offers no device; validators have nothing to measure",
                "check `nvidia-smi` sees the GPUs (cuda), or [backend] cpu_devices (cpu)",
            ),
        ));
    }
    for d in devices {
        let topic = format!("device {}", d.index);
        let mib = d.memory_bytes >> 20;
        let outcome = match table.as_ref().and_then(|t| classify(t, &d.name)) {
            None => problem(
                format!(
                    "{:?} ({mib} MiB) maps to no class of the verifier's table: validators \
                     cannot score it",
                    d.name
                ),
                "only the classes of verifier/classes.toml earn; a card that is missing needs \
                 a class (measured with `miner-host bench`, see scripts/gpu-selftest)",
            ),
            Some(c) if d.memory_bytes < c.memory_bytes.saturating_mul(9) / 10 => problem(
                format!(
                    "{:?} is class {} but reports {mib} MiB, less than 90 % of the class's \
                     {} MiB: the membw challenge will not fit",
                    d.name,
                    c.id,
                    c.memory_bytes >> 20
                ),
                if config.backend.kind == challenge_runtime::BackendKind::Cpu {
                    "raise [backend] cpu_memory_mib"
                } else {
                    "free the GPU's memory (other processes, MIG partitions) before serving"
                },
            ),
            Some(c) => Outcome::Ok(format!("{:?} is class {} ({mib} MiB)", d.name, c.id)),
        };
        out.push((topic, outcome));
    }
    out
}

fn bind_udp(addr: SocketAddr) -> Outcome {
    match UdpSocket::bind(addr) {
        Ok(_) => Outcome::Ok(format!("{addr} can be bound")),
        Err(e) => problem(
            format!("cannot bind UDP {addr}: {e}"),
            "another process (a running miner-host?) holds the port: stop it, or choose another \
             `listen` port",
        ),
    }
}

fn bind_tcp(addr: SocketAddr) -> Outcome {
    match TcpListener::bind(addr) {
        Ok(_) => Outcome::Ok(format!("{addr} can be bound")),
        Err(e) => problem(
            format!("cannot bind TCP {addr}: {e}"),
            "the bandwidth probe's data runs over TCP on the same port number: stop the \
             process holding it, or choose another `listen` port",
        ),
    }
}

/// The chain's axon record of `hotkey` against the configured external address.
fn axon(config: &MinerConfig, hotkey: &protocol::Hotkey, timeout: Duration) -> Outcome {
    let Some(chain) = &config.chain else {
        return Outcome::Skipped("no [chain]".into());
    };
    let external = match config.external_addr() {
        Ok(Some(addr)) => addr,
        Ok(None) => return Outcome::Skipped("no external address".into()),
        Err(e) => {
            return problem(
                e.to_string(),
                "set [chain] external_addr = \"PUBLIC_IP:PORT\"",
            );
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return Outcome::Skipped(format!("no async runtime: {e}")),
    };
    let read = runtime.block_on(async {
        tokio::time::timeout(timeout, async {
            let client = chain_client::ChainClient::connect(&chain.url).await?;
            client.read_metagraph(chain.netuid).await
        })
        .await
    });
    let metagraph = match read {
        Err(_) => {
            return problem(
                format!(
                    "no answer from {} within {} s",
                    chain.url,
                    timeout.as_secs()
                ),
                "check [chain] url and that the node is up and reachable from here",
            );
        }
        Ok(Err(e)) => {
            return problem(
                format!(
                    "cannot read subnet {} from {}: {e}",
                    chain.netuid, chain.url
                ),
                "check [chain] url and netuid",
            );
        }
        Ok(Ok(m)) => m,
    };
    let Some(uid) = metagraph.uid_of(hotkey.as_bytes()) else {
        return problem(
            format!(
                "hotkey {} is not registered on subnet {}",
                transport::identity::ss58(hotkey),
                chain.netuid
            ),
            "register it (e.g. `btcli subnet register`) before serving",
        );
    };
    let recorded = metagraph
        .neurons
        .get(usize::from(uid))
        .and_then(|n| n.axon.as_ref())
        .and_then(|a| a.ip_addr().map(|ip| SocketAddr::new(ip, a.port)));
    match recorded {
        Some(addr) if addr == external => Outcome::Ok(format!(
            "uid {uid}: the chain's axon is {addr}, as configured"
        )),
        Some(addr) => problem(
            format!("uid {uid}: the chain's axon is {addr}, external_addr is {external}"),
            "start `miner-host serve` (it publishes external_addr with serve_axon), or correct \
             [chain] external_addr",
        ),
        None => problem(
            format!("uid {uid} has published no axon"),
            "start `miner-host serve` with [chain] set: it publishes external_addr with serve_axon",
        ),
    }
}
