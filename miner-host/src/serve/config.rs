//! `miner.toml`: what `miner-host serve --config` reads. Every field has a default except the
//! hotkey; unknown fields are errors (a typo must not silently fall back to a default).
//!
//! ```toml
//! listen = "0.0.0.0:8091"                 # UDP (QUIC) and TCP (probe data) port
//! session_key = "miner-session.key"       # written by `miner-host keygen` (relative: to this file)
//!
//! [hotkey]                                # exactly one of:
//! wallet = "default"                      #   ~/.bittensor/wallets/<wallet>/hotkeys/<name>
//! name = "default"
//! # file = "/path/to/hotkey"              #   a bittensor hotkey file
//! # uri = "//Bob"                         #   a secret URI (local networks only)
//!
//! [backend]
//! kind = "cpu"                            # "cpu" or "cuda"
//! cpu_devices = 1                         # cpu: devices offered, one thread each (≤ cores)
//! cpu_memory_mib = 1024                   # cpu: memory each device reports
//!
//! [access]
//! allow = ["5F..."]                       # validator hotkeys served (SS58 or 0x-hex; "*" = any)
//! deny = []                               # never served, even if allowed
//!
//! [limits]
//! max_connections = 256
//! max_connections_per_ip = 16
//! handshake_timeout_s = 10
//! message_timeout_s = 60
//! reserve_s = 5                           # a device waits this long for Go after Ready
//! challenges_per_minute = 120             # per validator
//! challenge_burst = 32
//! probes_per_minute = 4                   # bandwidth probes, per validator (also the burst)
//! max_probe_mib = 256
//! certificate_validity_h = 24
//!
//! [chain]                                 # optional: leave out for a local or operator-only setup
//! url = "ws://127.0.0.1:9944"             # subtensor node RPC (ws:// or wss://)
//! netuid = 51
//! external_addr = "203.0.113.7:8091"      # published with serve_axon (default: listen, if not 0.0.0.0)
//! refresh_s = 0                           # metagraph refresh; 0 = once per subnet tempo
//! ```
//!
//! With `[chain]`, the validators served are those holding a validator permit in the metagraph
//! plus `[access] allow`, minus `[access] deny` (see [`super::chain`]).
//!
//! Environment overrides: `GPUPROOF_MINER_LISTEN` replaces `listen`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use challenge_runtime::BackendKind;
use serde::Deserialize;
pub use transport::identity::HotkeyConfig;
use transport::{ConfigProblem, EnvOverrides};

use super::server::ServeLimits;

/// Why the config cannot be used: which file, which field, what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading the file failed.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The TOML is invalid, a field is wrong, or an environment override is.
    #[error("{path}: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Which field or variable, why, and what to write instead.
        #[source]
        problem: ConfigProblem,
    },
}

/// `miner.toml` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinerConfig {
    /// Listen address: UDP for QUIC, TCP on the same port for bandwidth-probe data.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The session key file.
    #[serde(default = "default_session_key")]
    pub session_key: PathBuf,
    /// The hotkey.
    pub hotkey: HotkeyConfig,
    /// The devices.
    #[serde(default)]
    pub backend: BackendConfig,
    /// Who is served.
    #[serde(default)]
    pub access: AccessConfig,
    /// Limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The chain to publish the axon on and follow for validator permits.
    pub chain: Option<ChainConfig>,
}

/// `[chain]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// Node RPC URL (`ws://` or `wss://`).
    pub url: String,
    /// The subnet.
    pub netuid: u16,
    /// The public `IP:PORT` published with `serve_axon`; default: `listen` when it names a
    /// specific IP.
    pub external_addr: Option<SocketAddr>,
    /// Seconds between metagraph reads; 0 (default): once per subnet tempo.
    #[serde(default)]
    pub refresh_s: u64,
}

/// Longest `handshake_timeout_s` / `message_timeout_s` / `reserve_s` accepted: a day.
pub const MAX_TIMEOUT_S: u64 = 86_400;
/// Longest `certificate_validity_h` accepted: a year.
pub const MAX_CERTIFICATE_VALIDITY_H: u64 = 8_760;

impl LimitsConfig {
    /// Checks the bounds: timeouts of 1 s to a day, a certificate validity of 1 h to a year,
    /// at least one probe a minute.
    pub fn check(&self) -> Result<(), ConfigProblem> {
        for (name, value) in [
            ("handshake_timeout_s", self.handshake_timeout_s),
            ("message_timeout_s", self.message_timeout_s),
            ("reserve_s", self.reserve_s),
        ] {
            if !(1..=MAX_TIMEOUT_S).contains(&value) {
                return Err(ConfigProblem::field(
                    format!("[limits] {name}"),
                    value,
                    format!("use 1 to {MAX_TIMEOUT_S} seconds"),
                ));
            }
        }
        if !(1..=MAX_CERTIFICATE_VALIDITY_H).contains(&self.certificate_validity_h) {
            return Err(ConfigProblem::field(
                "[limits] certificate_validity_h",
                self.certificate_validity_h,
                format!("use 1 to {MAX_CERTIFICATE_VALIDITY_H} hours"),
            ));
        }
        if self.probes_per_minute == 0 {
            return Err(ConfigProblem::field(
                "[limits] probes_per_minute",
                0,
                "use at least 1 (validators measure bandwidth with two probes a round)",
            ));
        }
        Ok(())
    }
}

impl MinerConfig {
    /// The address to publish: `[chain] external_addr`, else `listen` if it is a specific IP.
    pub fn external_addr(&self) -> Result<Option<SocketAddr>, ConfigProblem> {
        let Some(chain) = &self.chain else {
            return Ok(None);
        };
        match chain.external_addr {
            Some(addr) => Ok(Some(addr)),
            None if !self.listen.ip().is_unspecified() => Ok(Some(self.listen)),
            None => Err(ConfigProblem::field(
                "[chain] external_addr",
                "(not set)",
                format!(
                    "listen = {} does not say which address validators should use; write \
                     external_addr = \"PUBLIC_IP:{}\"",
                    self.listen,
                    self.listen.port()
                ),
            )),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8091))
}

fn default_session_key() -> PathBuf {
    PathBuf::from("miner-session.key")
}

/// Which backend and how many devices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// `cpu` or `cuda` (parsed by [`BackendKind`]'s one parser; anything else is an error).
    #[serde(default = "default_kind", deserialize_with = "backend_kind")]
    pub kind: BackendKind,
    /// CPU devices offered (each one thread); at most the core count.
    #[serde(default = "one")]
    pub cpu_devices: u32,
    /// Memory each CPU device reports, MiB.
    #[serde(default = "default_cpu_memory")]
    pub cpu_memory_mib: u64,
}

fn default_kind() -> BackendKind {
    BackendKind::Cpu
}

fn backend_kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BackendKind, D::Error> {
    let name = String::deserialize(d)?;
    name.parse()
        .map_err(|e| serde::de::Error::custom(format!("backend.kind: {e}")))
}
fn one() -> u32 {
    1
}
fn default_cpu_memory() -> u64 {
    1024
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            kind: default_kind(),
            cpu_devices: 1,
            cpu_memory_mib: default_cpu_memory(),
        }
    }
}

/// Allow and deny lists.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// Validator hotkeys served.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Hotkeys never served.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// `[limits]`, in friendly units.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Connections held at once.
    #[serde(default = "d_conn")]
    pub max_connections: usize,
    /// Connections held at once from one IP address.
    #[serde(default = "d_conn_ip")]
    pub max_connections_per_ip: usize,
    /// Seconds to complete the handshake.
    #[serde(default = "d_hs")]
    pub handshake_timeout_s: u64,
    /// Seconds to wait for the validator's next message in a challenge.
    #[serde(default = "d_msg")]
    pub message_timeout_s: u64,
    /// Seconds a device stays reserved after `Ready` without the validator's `Go`.
    #[serde(default = "d_reserve")]
    pub reserve_s: u64,
    /// Challenges a minute per validator.
    #[serde(default = "d_rate")]
    pub challenges_per_minute: u32,
    /// Burst of challenges.
    #[serde(default = "d_burst")]
    pub challenge_burst: u32,
    /// Bandwidth probes a minute per validator (also the burst).
    #[serde(default = "d_probes")]
    pub probes_per_minute: u32,
    /// Largest probe, MiB.
    #[serde(default = "d_probe")]
    pub max_probe_mib: u64,
    /// Hours the self-issued certificate is valid.
    #[serde(default = "d_cert")]
    pub certificate_validity_h: u64,
}

fn d_conn() -> usize {
    ServeLimits::default().max_connections
}
fn d_conn_ip() -> usize {
    ServeLimits::default().max_connections_per_ip
}
fn d_hs() -> u64 {
    ServeLimits::default().handshake_timeout.as_secs()
}
fn d_msg() -> u64 {
    ServeLimits::default().message_timeout.as_secs()
}
fn d_reserve() -> u64 {
    ServeLimits::default().reserve.as_secs()
}
fn d_probes() -> u32 {
    ServeLimits::default().probes_per_minute
}
fn d_rate() -> u32 {
    ServeLimits::default().challenges_per_minute
}
fn d_burst() -> u32 {
    ServeLimits::default().challenge_burst
}
fn d_probe() -> u64 {
    ServeLimits::default().max_probe_bytes >> 20
}
fn d_cert() -> u64 {
    24
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: d_conn(),
            max_connections_per_ip: d_conn_ip(),
            handshake_timeout_s: d_hs(),
            message_timeout_s: d_msg(),
            reserve_s: d_reserve(),
            challenges_per_minute: d_rate(),
            challenge_burst: d_burst(),
            probes_per_minute: d_probes(),
            max_probe_mib: d_probe(),
            certificate_validity_h: d_cert(),
        }
    }
}

impl LimitsConfig {
    /// The server limits these give.
    pub fn to_limits(&self) -> ServeLimits {
        ServeLimits {
            max_connections: self.max_connections.max(1),
            max_connections_per_ip: self.max_connections_per_ip.max(1),
            handshake_timeout: Duration::from_secs(self.handshake_timeout_s.max(1)),
            message_timeout: Duration::from_secs(self.message_timeout_s.max(1)),
            reserve: Duration::from_secs(self.reserve_s.max(1)),
            challenges_per_minute: self.challenges_per_minute,
            challenge_burst: self.challenge_burst,
            probes_per_minute: self.probes_per_minute.max(1),
            max_probe_bytes: self.max_probe_mib.saturating_mul(1 << 20),
            ..ServeLimits::default()
        }
    }
}

impl MinerConfig {
    /// Reads and checks `path`; relative paths inside are resolved against its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(path, &EnvOverrides::process())
    }

    /// [`MinerConfig::load`] with the environment read through `env`: `GPUPROOF_MINER_LISTEN`
    /// replaces `listen`.
    pub fn load_with_env<F: Fn(&str) -> Option<String>>(
        path: &Path,
        env: &EnvOverrides<F>,
    ) -> Result<Self, ConfigError> {
        let invalid = |problem: ConfigProblem| ConfigError::Invalid {
            path: path.to_path_buf(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut config = Self::parse(&text).map_err(invalid)?;
        let base = path.parent().unwrap_or(Path::new("."));
        if config.session_key.is_relative() {
            config.session_key = base.join(&config.session_key);
        }
        if let Some(f) = &config.hotkey.file
            && f.is_relative()
        {
            config.hotkey.file = Some(base.join(f));
        }
        if let Some(listen) = env.parsed("GPUPROOF_MINER_LISTEN").map_err(invalid)? {
            config.listen = listen;
        }
        Ok(config)
    }

    /// Parses and checks the TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigProblem> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigProblem::Toml(e.to_string()))?;
        config.hotkey.source()?;
        config.external_addr()?;
        config.limits.check()?;
        if let Some(chain) = &config.chain
            && !(chain.url.starts_with("ws://") || chain.url.starts_with("wss://"))
        {
            return Err(ConfigProblem::field(
                "[chain] url",
                format!("{:?}", chain.url),
                "must start with ws:// or wss://",
            ));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let devices = usize::try_from(config.backend.cpu_devices).unwrap_or(usize::MAX);
        if config.backend.kind == BackendKind::Cpu && (devices == 0 || devices > cores) {
            return Err(ConfigProblem::field(
                "[backend] cpu_devices",
                devices,
                format!(
                    "each cpu-reference device is one thread, so this machine can offer 1 to \
                     {cores}"
                ),
            ));
        }
        transport::AllowList::parse(&config.access.allow, &config.access.deny)
            .map_err(ConfigProblem::Access)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BASE: &str = "[hotkey]\nuri = \"//Bob\"\n";

    #[test]
    fn chain_table_defaults_and_external_address() {
        let c = MinerConfig::parse(&format!(
            "listen = \"198.51.100.4:9000\"\n{BASE}[chain]\nurl = \"ws://127.0.0.1:9944\"\nnetuid = 3\n"
        ))
        .unwrap();
        assert_eq!(c.chain.as_ref().unwrap().refresh_s, 0);
        assert_eq!(
            c.external_addr().unwrap(),
            Some("198.51.100.4:9000".parse().unwrap())
        );
        let none = MinerConfig::parse(BASE).unwrap();
        assert_eq!(none.external_addr().unwrap(), None);
    }

    #[test]
    fn the_example_file_parses() {
        let c = MinerConfig::parse(include_str!("../../miner.example.toml")).unwrap();
        assert!(c.chain.is_none());
        let with_chain = include_str!("../../miner.example.toml")
            .replace("# [chain]", "[chain]")
            .replace("# url", "url")
            .replace("# netuid", "netuid")
            .replace("# external_addr", "external_addr")
            .replace("# refresh_s", "refresh_s");
        let c = MinerConfig::parse(&with_chain).unwrap();
        assert_eq!(c.chain.unwrap().netuid, 51);
    }

    /// Fuzzing found these accepted (fuzz/regressions/miner_config): a validity whose seconds
    /// overflow, and a timeout that overflows the clock.
    #[test]
    fn out_of_range_limits_are_refused() {
        for (field, value) in [
            ("certificate_validity_h", "5124095576030432"),
            ("message_timeout_s", "9223372036854775807"),
            ("handshake_timeout_s", "0"),
            ("reserve_s", "0"),
            ("reserve_s", "86401"),
            ("probes_per_minute", "0"),
        ] {
            let text = format!("{BASE}[limits]\n{field} = {value}\n");
            let err = MinerConfig::parse(&text).unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn limits_defaults_and_new_fields_reach_the_server() {
        let defaults = MinerConfig::parse(BASE).unwrap().limits.to_limits();
        assert_eq!(defaults, ServeLimits::default());
        assert_eq!(defaults.reserve, Duration::from_secs(5));
        assert_eq!(defaults.probes_per_minute, 4);
        assert_eq!(
            defaults.connection.max_bidi_streams,
            u32::try_from(protocol::limits::MAX_GPUS).unwrap() + 2
        );
        let set = MinerConfig::parse(&format!(
            "{BASE}[limits]\nreserve_s = 2\nprobes_per_minute = 9\n"
        ))
        .unwrap()
        .limits
        .to_limits();
        assert_eq!(set.reserve, Duration::from_secs(2));
        assert_eq!(set.probes_per_minute, 9);
    }

    #[test]
    fn chain_errors_say_what_to_write() {
        let unspecified = format!("{BASE}[chain]\nurl = \"ws://x:9944\"\nnetuid = 3\n");
        let err = MinerConfig::parse(&unspecified).unwrap_err().to_string();
        assert!(err.contains("external_addr = \"PUBLIC_IP:8091\""), "{err}");
        let http = format!(
            "{BASE}[chain]\nurl = \"http://x\"\nnetuid = 3\nexternal_addr = \"203.0.113.1:8091\"\n"
        );
        let err = MinerConfig::parse(&http).unwrap_err().to_string();
        assert!(err.contains("ws://"), "{err}");
    }
}
