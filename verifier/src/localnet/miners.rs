//! The local network's miners: real `miner-host serve` processes on loopback, each with its own
//! session key, hotkey (`//LocalMiner<i>`), config and one `cpu-reference` device; cheaters run
//! with `--adversary KIND`. Every process is killed when its [`MinerProcess`] is dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use protocol::Hotkey;
use transport::KeySource;
use transport::identity::{hotkey_of, load_hotkey, ss58};

/// Why the local network could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalnetError {
    /// The `miner-host` binary is missing and could not be built.
    #[error("{0}")]
    MinerHost(String),
    /// Writing a miner's files failed.
    #[error("cannot prepare {path}: {reason}")]
    Files {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A miner process did not start.
    #[error("miner {index} did not start: {reason}")]
    Start {
        /// Which miner.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The run's receipts could not be written (`--receipts DIR`).
    #[error("cannot write the run's receipts to {dir}: {reason}")]
    Receipts {
        /// The directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// The catalogue could not be served (`--catalogue ADDR`).
    #[error("cannot serve the catalogue on {addr}: {reason}; pick another --catalogue address")]
    Catalogue {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        reason: String,
    },
    /// The command line asks for no network at all.
    #[error("--miners, --validators and --rounds must each be at least 1")]
    EmptyNetwork,
    /// More neurons than one subnet holds.
    #[error("{neurons} neurons are too many for one subnet (at most 65535 miners and validators)")]
    TooManyNeurons {
        /// Miners plus validators asked for.
        neurons: usize,
    },
    /// A validator's key or QUIC endpoint could not be made.
    #[error("validator keys or endpoint: {0}")]
    Validator(#[source] transport::TransportError),
    /// The built-in class table does not load (a build problem).
    #[error(transparent)]
    Classes(crate::classes::ClassError),
    /// The cpu-reference class could not be calibrated on this machine.
    #[error("cpu-reference calibration failed: {0}")]
    Calibration(#[source] crate::classes::ClassError),
    /// The tile checker (the built-in modules' kernels) could not be set up.
    #[error("the tile checker could not start: {0}")]
    Checker(#[from] crate::session::CheckerError),
    /// A validator's temporary store failed.
    #[error("validator {validator}'s store failed: {reason}")]
    Store {
        /// Which validator.
        validator: usize,
        /// The store's words.
        reason: String,
    },
    /// A validator's round ended without being recorded.
    #[error("validator {validator}'s round {round} did not finish (its store failed)")]
    RoundUnfinished {
        /// Which validator.
        validator: usize,
        /// The round, from 1.
        round: usize,
    },
    /// A validator's standings could not be read back.
    #[error("validator {validator} cannot read its standings")]
    Standings {
        /// Which validator.
        validator: usize,
    },
    /// A validator's standings give no weights the simulated chain would take.
    #[error("validator {validator}'s weights: {source}")]
    Weights {
        /// Which validator.
        validator: usize,
        /// Why.
        #[source]
        source: chain::weights::WeightError,
    },
    /// The Yuma Consensus simulation refused the epochs.
    #[error("the Yuma simulation failed: {0}")]
    Yuma(#[from] chain::scenario::ScenarioError),
}

/// The optimisation level this verifier was built with (from its build script).
pub const OPT_LEVEL: &str = env!("GPUPROOF_OPT_LEVEL");

/// Refuses a `miner-host` binary built at another optimisation level than this verifier: the
/// `cpu-reference` class is calibrated in this process and run in the miners, and a dev build
/// (opt-level 0) runs the kernels about 10× slower than a test build (1) or a release build,
/// so honest miners would be judged too slow (or too fast).
pub fn check_same_build(binary: &Path) -> Result<(), LocalnetError> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| LocalnetError::MinerHost(format!("cannot run {}: {e}", binary.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let theirs = text
        .split("(opt-level ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or("unknown");
    if theirs == OPT_LEVEL {
        return Ok(());
    }
    Err(LocalnetError::MinerHost(format!(
        "{} was built at opt-level {theirs}, this verifier at opt-level {OPT_LEVEL}: the \
         cpu-reference class is calibrated here and run there, so honest miners would be judged \
         too slow or too fast; build both with one profile (`cargo build --release -p verifier \
         -p miner-host`) or pass --miner-host with a matching binary",
        binary.display()
    )))
}

/// Finds the `miner-host` binary: `explicit`, else next to this executable; if it is not there
/// and this runs under cargo (`CARGO` is set), builds it with the same profile.
pub fn find_miner_host(explicit: Option<&Path>) -> Result<PathBuf, LocalnetError> {
    if let Some(path) = explicit {
        return if path.exists() {
            Ok(path.to_path_buf())
        } else {
            Err(LocalnetError::MinerHost(format!(
                "--miner-host {} does not exist",
                path.display()
            )))
        };
    }
    let exe = std::env::current_exe()
        .map_err(|e| LocalnetError::MinerHost(format!("cannot find this executable: {e}")))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let sibling = dir.join(format!("miner-host{}", std::env::consts::EXE_SUFFIX));
    if sibling.exists() {
        return Ok(sibling);
    }
    let Ok(cargo) = std::env::var("CARGO") else {
        return Err(LocalnetError::MinerHost(format!(
            "miner-host is not next to the verifier ({}); build it with \
             `cargo build --release -p miner-host` or pass --miner-host PATH",
            sibling.display()
        )));
    };
    eprintln!("building miner-host (once) ...");
    let mut build = Command::new(cargo);
    build.args(["build", "-p", "miner-host", "--bin", "miner-host"]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build
        .status()
        .map_err(|e| LocalnetError::MinerHost(format!("cannot run cargo: {e}")))?;
    if !status.success() || !sibling.exists() {
        return Err(LocalnetError::MinerHost(
            "building miner-host failed; run `cargo build --release -p miner-host` to see why"
                .into(),
        ));
    }
    Ok(sibling)
}

/// One running miner.
#[derive(Debug)]
pub struct MinerProcess {
    /// Its index among the miners.
    pub index: usize,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its hotkey.
    pub hotkey: Hotkey,
    /// Its adversary kind, if it cheats.
    pub adversary: Option<String>,
    child: Child,
}

impl MinerProcess {
    /// Whether the process is still running.
    pub fn child_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for MinerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The hotkey URI of miner `index`.
pub fn miner_uri(index: usize) -> String {
    format!("//LocalMiner{index}")
}

/// Bandwidth probes a minute a local miner serves each validator (`[limits]
/// probes_per_minute`): a local network runs its rounds back to back, two probes each, faster
/// than a real validator's (the miner default, 4, fits a round every 30 s).
pub const LOCALNET_PROBES_PER_MINUTE: u32 = 60;

/// Starts miner `index` in `dir`, serving `validators`.
pub fn start_miner(
    binary: &Path,
    dir: &Path,
    index: usize,
    adversary: Option<&str>,
    validators: &[Hotkey],
) -> Result<MinerProcess, LocalnetError> {
    start_miner_with(binary, dir, index, adversary, validators, "")
}

/// [`start_miner`] with `limits` added to the `[limits]` table of the miner's `miner.toml`
/// (lines such as `reserve_s = 1`). The table sets `probes_per_minute` to
/// [`LOCALNET_PROBES_PER_MINUTE`] unless `limits` sets it.
pub fn start_miner_with(
    binary: &Path,
    dir: &Path,
    index: usize,
    adversary: Option<&str>,
    validators: &[Hotkey],
    limits: &str,
) -> Result<MinerProcess, LocalnetError> {
    let files = |path: &Path, reason: String| LocalnetError::Files {
        path: path.to_path_buf(),
        reason,
    };
    let key = dir.join(format!("miner{index}.key"));
    transport::identity::keygen(&key, true).map_err(|e| files(&key, e.to_string()))?;
    let allow = validators
        .iter()
        .map(|h| format!("\"{}\"", ss58(h)))
        .collect::<Vec<_>>()
        .join(", ");
    let config = dir.join(format!("miner{index}.toml"));
    let probes = if limits.contains("probes_per_minute") {
        String::new()
    } else {
        format!("probes_per_minute = {LOCALNET_PROBES_PER_MINUTE}\n")
    };
    let text = format!(
        "listen = \"127.0.0.1:0\"\nsession_key = \"{}\"\n\n[hotkey]\nuri = \"{}\"\n\n\
         [backend]\nkind = \"cpu\"\ncpu_devices = 1\n\n[access]\nallow = [{allow}]\n\n\
         [limits]\n{probes}{limits}\n",
        key.display(),
        miner_uri(index)
    );
    std::fs::write(&config, text).map_err(|e| files(&config, e.to_string()))?;
    let mut command = Command::new(binary);
    command
        .args(["serve", "--print-addr", "--config"])
        .arg(&config)
        .env("GPUPROOF_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(kind) = adversary {
        command.args(["--adversary", kind]);
    }
    let mut child = command.spawn().map_err(|e| LocalnetError::Start {
        index,
        reason: e.to_string(),
    })?;
    let start_err = |reason: String| LocalnetError::Start { index, reason };
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| start_err("no stdout".into()))?;
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line);
    let addr = match read {
        Ok(_) => line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse::<SocketAddr>().ok()),
        Err(_) => None,
    };
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(start_err(format!(
            "it printed {line:?} instead of its address; run `{} serve --config {}` to see why",
            binary.display(),
            config.display()
        )));
    };
    let hotkey = load_hotkey(&KeySource::Uri(miner_uri(index)))
        .map(|k| hotkey_of(&k))
        .map_err(|e| start_err(e.to_string()))?;
    Ok(MinerProcess {
        index,
        addr,
        hotkey,
        adversary: adversary.map(str::to_string),
        child,
    })
}
