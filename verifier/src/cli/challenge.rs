//! `verifier challenge --miner HOST:PORT [--json]`: one round against one miner, printed.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use protocol::Role;
use transport::Identity;
use transport::identity::{self, DEFAULT_CERTIFICATE_VALIDITY, KeySource};
use verifier::classes::ClassTable;
use verifier::client::{
    ChallengeOptions, ClientContext, MinerReport, MinerTarget, challenge_miner,
};
use verifier::planner::ClassPlanner;
use verifier::session::SandboxChecker;

/// Where the validator's hotkey comes from (the first given wins; default `//Alice`, for local
/// networks only).
#[derive(Debug, Args)]
pub(crate) struct HotkeyArgs {
    /// Bittensor wallet name (with --hotkey): ~/.bittensor/wallets/<wallet>/hotkeys/<hotkey>.
    #[arg(long, requires = "hotkey")]
    pub(crate) wallet: Option<String>,
    /// Hotkey name in the wallet.
    #[arg(long, requires = "wallet")]
    pub(crate) hotkey: Option<String>,
    /// A hotkey file.
    #[arg(long, conflicts_with_all = ["wallet", "hotkey_uri"])]
    pub(crate) hotkey_file: Option<PathBuf>,
    /// A secret URI such as //Alice (local networks only).
    #[arg(long, conflicts_with = "wallet")]
    pub(crate) hotkey_uri: Option<String>,
}

impl HotkeyArgs {
    pub(crate) fn source(&self) -> Result<KeySource> {
        Ok(
            match (
                &self.wallet,
                &self.hotkey,
                &self.hotkey_file,
                &self.hotkey_uri,
            ) {
                (Some(w), Some(h), _, _) => {
                    KeySource::HotkeyFile(chain_client::wallet::default_hotkey_path(w, h)?)
                }
                (_, _, Some(f), _) => KeySource::HotkeyFile(f.clone()),
                (_, _, _, Some(u)) => KeySource::Uri(u.clone()),
                _ => {
                    eprintln!(
                        "note: no hotkey given; using the development hotkey //Alice \
                     (pass --wallet/--hotkey, --hotkey-file or --hotkey-uri)"
                    );
                    KeySource::Uri("//Alice".into())
                }
            },
        )
    }
}

/// Arguments of `verifier challenge`.
#[derive(Debug, Args)]
pub(crate) struct ChallengeArgs {
    /// The miner's address (HOST:PORT, UDP).
    #[arg(long)]
    miner: String,
    /// The miner's hotkey (SS58); when given, the miner's certificate must show it.
    #[arg(long)]
    miner_hotkey: Option<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// The session key file (from `verifier keygen`); default: a fresh key for this run.
    #[arg(long)]
    key: Option<PathBuf>,
    #[command(flatten)]
    hotkey: HotkeyArgs,
    /// A class table to use instead of the embedded verifier/classes.toml.
    #[arg(long)]
    classes: Option<PathBuf>,
    /// Leaves opened per challenge.
    #[arg(long, default_value_t = verifier::session::DEFAULT_OPENINGS)]
    openings: u32,
    /// The most MiB the bandwidth probe moves each way (0: no probe); within it the probe sizes
    /// itself from the miner's RTT (validator.toml's [bandwidth] probe_max_mib).
    #[arg(long, default_value_t = 128)]
    probe_mib: u64,
    /// The link speed, Mbit/s, the probe is sized to measure at the miner's RTT.
    #[arg(long, default_value_t = 1000.0)]
    probe_target_mbps: f64,
    /// The floor, Mbit/s: a probe slower than a tenth of it fails (its deadline); the link
    /// factor it would give is printed.
    #[arg(long, default_value_t = 100.0)]
    min_link_mbps: f64,
    /// Treat the machine as rented: a small exact-work challenge.
    #[arg(long)]
    rented: bool,
    /// Seconds the whole round may take.
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
}

fn resolve(addr: &str) -> Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("--miner {addr:?} is not HOST:PORT"))?
        .next()
        .ok_or_else(|| anyhow!("--miner {addr:?} resolves to no address"))
}

/// Runs the subcommand.
pub(crate) fn run(args: &ChallengeArgs) -> Result<()> {
    let addr = resolve(&args.miner)?;
    let key = match &args.key {
        Some(path) => identity::load_key_file(path)?,
        None => identity::generate_key()?,
    };
    let hotkey = identity::load_hotkey(&args.hotkey.source()?)?;
    let identity = Identity::issue(key, &hotkey, Role::Validator, DEFAULT_CERTIFICATE_VALIDITY);
    let expected = args
        .miner_hotkey
        .as_deref()
        .map(identity::parse_hotkey)
        .transpose()?;
    let table = match &args.classes {
        Some(path) => ClassTable::load(path)?,
        None => ClassTable::embedded()?,
    };
    let mut planner = ClassPlanner::new(table);
    let calibration = planner.calibrate_cpu()?;
    if !args.json {
        eprintln!(
            "calibrated cpu-reference on this machine in {:.0} ms (one thread)",
            calibration.elapsed.as_secs_f64() * 1e3
        );
    }
    let checker = Arc::new(SandboxChecker::with_builtins()?);
    let options = ChallengeOptions {
        openings: args.openings,
        probe: verifier::client::ProbeSettings {
            target_mbit: args.probe_target_mbps,
            floor_mbit: args.min_link_mbps,
            max_bytes: args.probe_mib.saturating_mul(1 << 20),
        },
        miner_timeout: Duration::from_secs(args.timeout_s.max(1)),
        ..ChallengeOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        let ctx = ClientContext::new(identity, checker, Arc::new(planner), options, addr)?;
        let target = MinerTarget {
            addr,
            hotkey: expected,
            rented: args.rented,
            proven_only: None,
            probe_share: None,
        };
        Ok::<_, anyhow::Error>(challenge_miner(&ctx, &target).await)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, args.min_link_mbps);
    }
    if let Some(e) = &report.error {
        bail!("the round against {} failed: {e}", report.addr);
    }
    Ok(())
}

fn print_report(report: &MinerReport, floor_mbit: f64) {
    println!(
        "miner {} hotkey {} min RTT {}",
        report.addr,
        report.hotkey.as_deref().unwrap_or("?"),
        report
            .min_rtt_ms
            .map_or_else(|| "?".into(), |ms| format!("{ms:.3} ms"))
    );
    if let Some(f) = &report.fault {
        println!("miner verdict {} ({}): {}", f.kind, f.stage, f.detail);
    }
    for device in &report.devices {
        println!(
            "device {} {:?} (class {})",
            device.index,
            device.name,
            device.class.as_deref().unwrap_or("unknown")
        );
        if let Some(why) = &device.skipped {
            println!("  not challenged: {why}");
        }
        for c in &device.challenges {
            match (&c.verdict, &c.error) {
                (Some(v), _) => {
                    let timing = v.timing().map_or_else(String::new, |t| {
                        format!(
                            " measured {:.3} s, window [{:.3}, {:.3}] s, peak floor {:.3} s",
                            t.measured_s, t.window.min_s, t.window.max_s, t.window.peak_floor_s
                        )
                    });
                    println!("  {:<10} {}{timing}", c.module, v.kind());
                }
                (None, Some(e)) => println!("  {:<10} error: {e}", c.module),
                (None, None) => println!("  {:<10} no verdict", c.module),
            }
        }
    }
    if let Some(plan) = &report.probe_plan {
        println!(
            "probe sized for RTT {:.1} ms: {} bytes each way over {} stream(s), deadline {:.1} s",
            plan.rtt_ms, plan.bytes, plan.streams, plan.deadline_s
        );
    }
    let mut measured = Vec::new();
    for p in &report.probe {
        println!(
            "probe {:<18} {:<14} {:.1} Mbit/s ({:.1} MB/s) over {} bytes in {:.3} s{}",
            p.direction,
            p.outcome.as_str(),
            p.mbit_per_s,
            p.mb_per_s,
            p.bytes,
            p.seconds,
            p.detail
                .as_deref()
                .map_or_else(String::new, |d| format!(": {d}"))
        );
        measured
            .push((p.outcome == verifier::client::ProbeOutcome::Measured).then_some(p.mbit_per_s));
    }
    if let [up, down] = measured.as_slice() {
        let rules = verifier::scoring::LinkRules { floor_mbit };
        let factor =
            verifier::scoring::link_factor(*up, *down, up.is_some() && down.is_some(), &rules);
        println!("link factor {factor:.3} under a {floor_mbit} Mbit/s floor (this round alone)");
    }
}

/// Arguments of `verifier keygen`.
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the key.
    #[arg(long, default_value = "validator-session.key")]
    out: PathBuf,
    /// Replace an existing file (the old key is lost).
    #[arg(long)]
    force: bool,
}

/// Runs `verifier keygen`.
pub(crate) fn keygen(args: &KeygenArgs) -> Result<()> {
    let key = identity::keygen(&args.out, args.force)?;
    println!(
        "wrote {} (mode 0600); session public key {key}",
        args.out.display()
    );
    Ok(())
}
