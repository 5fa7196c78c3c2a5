//! `validator.toml`: what `verifier run` reads. `verifier/validator.example.toml` lists every
//! field with its default; the defaults are also on each field below.
//!
//! ```toml
//! store = "validator.sqlite"            # SQLite store (WAL); created if missing
//! session_key = "validator-session.key" # `verifier keygen --out …` (mode 0600)
//! # classes = "classes.toml"            # a GPU class table (default: the built-in one,
//! #                                     # verifier/classes.toml); its BLAKE3 is logged at start
//!
//! [hotkey]                              # exactly one of: wallet + name, file, uri
//! wallet = "default"
//! name = "default"
//!
//! [chain]                               # leave the table out to run without a chain
//! url = "ws://127.0.0.1:9944"
//! netuid = 51
//! version_key = 0
//! weights_interval_blocks = 0           # 0: once per subnet tempo
//!
//! [miners]
//! source = "metagraph"                  # or "static"
//! static = [{ hotkey = "5F…", addr = "203.0.113.7:8091", uid = 3 }]
//!
//! [round]
//! interval_s = 600                      # from one round's start to the next
//! concurrency = 8                       # miners challenged at once
//! miner_timeout_s = 120                 # whole round against one miner
//! openings = 32
//! target_scale = 1.0                    # × each class's target duration (3 s on GPU classes)
//! ready_timeout_s = 60                  # longest wait for a miner's Ready after a Prepare
//! busy_budget = 2.0                     # busy-device retried for this × the class's max_s
//! stale_rounds = 3                      # weights only from standings this fresh
//! allow_cpu_reference = false           # cpu-reference devices earn (local testing only)
//! receipt_retention_rounds = 144        # pass receipts kept this many rounds (others: always)
//!
//! [catalogue]                           # leave the table out for no catalogue
//! listen = "127.0.0.1:8080"             # renters' view: /, /v1/machines, /v1/receipts/{id}
//!
//! [bandwidth]
//! min_link_mbps = 100.0                 # floor each way; below it the round score × measured/floor
//! probe_budget_mib = 4096               # all probes of a round, both ways, all miners
//! probe_max_mib = 128                   # one probe, one way
//! probe_target_mbps = 1000.0            # the link speed probes are sized (from the RTT) to measure
//!
//! [metrics]
//! listen = "127.0.0.1:9464"             # Prometheus /metrics; "" turns it off
//!
//! [log]
//! json = false
//! ```
//!
//! Environment overrides (after the file): `GPUPROOF_VALIDATOR_STORE`,
//! `GPUPROOF_VALIDATOR_CHAIN_URL`, `GPUPROOF_VALIDATOR_NETUID`,
//! `GPUPROOF_VALIDATOR_METRICS_LISTEN`, `GPUPROOF_VALIDATOR_ROUND_INTERVAL_S`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use transport::identity::HotkeyConfig;
use transport::{ConfigProblem, EnvOverrides};

/// Why the config cannot be used: which file, which field, what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading the file failed.
    #[error("cannot read the config {path}: {reason}")]
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

/// `validator.toml` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorConfig {
    /// The SQLite store. Default `validator.sqlite`.
    #[serde(default = "default_store")]
    pub store: PathBuf,
    /// The ed25519 session key file. Default `validator-session.key`.
    #[serde(default = "default_session_key")]
    pub session_key: PathBuf,
    /// A GPU class table to use instead of the built-in `verifier/classes.toml` (a calibration
    /// applied without a rebuild); `None` (default): the built-in table. Relative to the
    /// config file. `verifier run` logs which table and its BLAKE3 hash at start.
    #[serde(default)]
    pub classes: Option<PathBuf>,
    /// The validator's hotkey.
    pub hotkey: HotkeyConfig,
    /// The chain; `None`: no chain (static miners; weights computed and recorded only).
    pub chain: Option<ChainConfig>,
    /// Where the miners come from.
    #[serde(default)]
    pub miners: MinersConfig,
    /// Rounds.
    #[serde(default)]
    pub round: RoundConfig,
    /// Bandwidth: the probe and its weight in the score.
    #[serde(default)]
    pub bandwidth: BandwidthConfig,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The renters' catalogue; `None` (no table): not served by `verifier run`.
    pub catalogue: Option<CatalogueConfig>,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
}

fn default_store() -> PathBuf {
    PathBuf::from("validator.sqlite")
}

fn default_session_key() -> PathBuf {
    PathBuf::from("validator-session.key")
}

/// `[chain]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// Node RPC URL (`ws://` or `wss://`).
    pub url: String,
    /// The subnet.
    pub netuid: u16,
    /// `version_key` sent with the weights. Default 0.
    #[serde(default)]
    pub version_key: u64,
    /// Blocks between weight submissions; 0 (default): the subnet's tempo.
    #[serde(default)]
    pub weights_interval_blocks: u64,
}

/// Where miners come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MinerSource {
    /// Every neuron of the metagraph with an axon, except validators with a permit (default).
    #[default]
    Metagraph,
    /// The `static` list only.
    Static,
}

/// One statically configured miner.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticMiner {
    /// Its hotkey (SS58 or 0x-hex): the handshake must show it.
    pub hotkey: String,
    /// `HOST:PORT` of its `miner-host serve`.
    pub addr: SocketAddr,
    /// Its UID on the subnet, when it has one (weights go to UIDs).
    pub uid: Option<u16>,
}

/// `[miners]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinersConfig {
    /// `metagraph` (default) or `static`.
    #[serde(default)]
    pub source: MinerSource,
    /// The static list (used when `source = "static"`).
    #[serde(default, rename = "static")]
    pub static_miners: Vec<StaticMiner>,
}

/// `[round]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundConfig {
    /// Seconds from one round's start to the next. Default 600.
    #[serde(default = "d_interval")]
    pub interval_s: u64,
    /// Miners challenged at once. Default 8.
    #[serde(default = "d_concurrency")]
    pub concurrency: usize,
    /// Longest round against one miner, s. Default 120.
    #[serde(default = "d_miner_timeout")]
    pub miner_timeout_s: u64,
    /// Leaves opened per challenge. Default 32.
    #[serde(default = "d_openings")]
    pub openings: u32,
    /// Replaced by `[bandwidth]` (issue #24): a config that still sets it is refused with a
    /// message saying where the value goes now.
    #[serde(default)]
    pub probe_mib: Option<u64>,
    /// Factor on each class's target duration (the class table's: 3 s on GPU classes, under
    /// 1 s on `cpu-reference`). Default 1.
    #[serde(default = "d_target")]
    pub target_scale: f64,
    /// Longest wait for a miner's `Ready` after a `Prepare` (module compile, device readied),
    /// s. Default 60.
    #[serde(default = "d_ready_timeout")]
    pub ready_timeout_s: u64,
    /// A device answering `busy-device` is retried for this multiple of its claimed class's
    /// `max_s`; still busy then, it gets no pass this round and no reliability charge
    /// (docs/design.md §No score without proof, rule 5). Default 2.
    #[serde(default = "d_busy_budget")]
    pub busy_budget: f64,
    /// Weights come only from standings refreshed by a challenge in the last this many rounds
    /// (rule 4). Default 3.
    #[serde(default = "d_stale_rounds")]
    pub stale_rounds: u64,
    /// Whether `cpu-reference` devices earn (rule 7): local testing only. Default false.
    #[serde(default)]
    pub allow_cpu_reference: bool,
    /// Pass receipts are kept in the store for this many rounds (the round that wrote them
    /// included), then their bodies are dropped (their figures stay for the catalogue);
    /// receipts of every other verdict are kept for good. Default 144 (a day of 10-minute
    /// rounds).
    #[serde(default = "d_receipt_retention")]
    pub receipt_retention_rounds: u64,
}

fn d_interval() -> u64 {
    600
}
fn d_concurrency() -> usize {
    8
}
fn d_miner_timeout() -> u64 {
    120
}
fn d_openings() -> u32 {
    32
}
fn d_target() -> f64 {
    1.0
}
fn d_ready_timeout() -> u64 {
    60
}
fn d_busy_budget() -> f64 {
    2.0
}
fn d_stale_rounds() -> u64 {
    3
}
fn d_receipt_retention() -> u64 {
    super::engine::DEFAULT_RECEIPT_RETENTION_ROUNDS
}

impl Default for RoundConfig {
    fn default() -> Self {
        Self {
            interval_s: d_interval(),
            concurrency: d_concurrency(),
            miner_timeout_s: d_miner_timeout(),
            openings: d_openings(),
            probe_mib: None,
            target_scale: d_target(),
            ready_timeout_s: d_ready_timeout(),
            busy_budget: d_busy_budget(),
            stale_rounds: d_stale_rounds(),
            allow_cpu_reference: false,
            receipt_retention_rounds: d_receipt_retention(),
        }
    }
}

impl RoundConfig {
    /// `interval_s` as a duration.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_s)
    }

    /// How each miner's round is run under this config and its `[bandwidth]`.
    pub fn challenge_options(
        &self,
        bandwidth: &BandwidthConfig,
    ) -> crate::client::ChallengeOptions {
        crate::client::ChallengeOptions {
            openings: self.openings,
            probe: bandwidth.probe_settings(),
            miner_timeout: Duration::from_secs(self.miner_timeout_s),
            ready_timeout: Duration::from_secs(self.ready_timeout_s),
            busy_budget: self.busy_budget,
            ..crate::client::ChallengeOptions::default()
        }
    }

    /// The scoring rules of this config and its `[bandwidth]`.
    pub fn rules(&self, bandwidth: &BandwidthConfig) -> super::RoundRules {
        super::RoundRules {
            stale_rounds: self.stale_rounds,
            allow_cpu_reference: self.allow_cpu_reference,
            receipt_retention_rounds: self.receipt_retention_rounds,
            link: crate::scoring::LinkRules {
                floor_mbit: bandwidth.min_link_mbps,
            },
            probe_budget: Some(bandwidth.probe_budget_mib.saturating_mul(1 << 20)),
        }
    }
}

/// `[bandwidth]`: the probe (docs/design.md §Protocol step 7) and its weight in the score
/// (issue #24). See `crate::client::probe::sizing` for how a probe is sized and
/// `crate::scoring` for the link factor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandwidthConfig {
    /// The floor, Mbit/s each way: a miner whose measured upload or download (EMA) is below it
    /// has its round score × measured/floor (the lower direction's); a failed, late, refused or
    /// missing probe counts as 0 for that round. 0: bandwidth is not scored (probes still run
    /// for the figures). Default 100.
    #[serde(default = "d_min_link")]
    pub min_link_mbps: f64,
    /// MiB of probes one round may move, both ways, over all miners: each miner's probe is at
    /// most `probe_budget_mib / (2 × miners)` each way. Default 4096.
    #[serde(default = "d_probe_budget")]
    pub probe_budget_mib: u64,
    /// The most MiB one probe moves one way (the miners' default `max_probe_mib` is 256).
    /// Default 128.
    #[serde(default = "d_probe_max")]
    pub probe_max_mib: u64,
    /// The link speed, Mbit/s, a probe is sized to measure at the miner's RTT (more bytes and
    /// streams over a longer round trip). Default 1000.
    #[serde(default = "d_probe_target")]
    pub probe_target_mbps: f64,
}

fn d_min_link() -> f64 {
    100.0
}
fn d_probe_budget() -> u64 {
    4096
}
fn d_probe_max() -> u64 {
    128
}
fn d_probe_target() -> f64 {
    1000.0
}

impl Default for BandwidthConfig {
    fn default() -> Self {
        Self {
            min_link_mbps: d_min_link(),
            probe_budget_mib: d_probe_budget(),
            probe_max_mib: d_probe_max(),
            probe_target_mbps: d_probe_target(),
        }
    }
}

impl BandwidthConfig {
    /// How probes are sized under this config.
    pub fn probe_settings(&self) -> crate::client::ProbeSettings {
        crate::client::ProbeSettings {
            target_mbit: self.probe_target_mbps,
            floor_mbit: self.min_link_mbps,
            max_bytes: if self.probe_budget_mib == 0 {
                0
            } else {
                self.probe_max_mib.saturating_mul(1 << 20)
            },
        }
    }

    fn check(&self) -> Result<(), ConfigProblem> {
        if !(self.min_link_mbps.is_finite() && (0.0..=1e6).contains(&self.min_link_mbps)) {
            return Err(ConfigProblem::field(
                "[bandwidth] min_link_mbps",
                self.min_link_mbps,
                "use 0 (bandwidth not scored) to 1000000 Mbit/s (default 100)",
            ));
        }
        if !(self.probe_target_mbps.is_finite() && (1.0..=1e6).contains(&self.probe_target_mbps)) {
            return Err(ConfigProblem::field(
                "[bandwidth] probe_target_mbps",
                self.probe_target_mbps,
                "use 1 to 1000000 Mbit/s (default 1000)",
            ));
        }
        if self.probe_max_mib > 4_096 {
            return Err(ConfigProblem::field(
                "[bandwidth] probe_max_mib",
                self.probe_max_mib,
                "use 0 to 4096 (default 128; a miner refuses probes over its own \
                 max_probe_mib, 256 by default)",
            ));
        }
        if self.probe_budget_mib > 1 << 30 {
            return Err(ConfigProblem::field(
                "[bandwidth] probe_budget_mib",
                self.probe_budget_mib,
                format!("use 0 to {} (default 4096)", 1u64 << 30),
            ));
        }
        let probes_off = self.probe_budget_mib == 0 || self.probe_max_mib == 0;
        if probes_off && self.min_link_mbps > 0.0 {
            return Err(ConfigProblem::field(
                "[bandwidth] min_link_mbps",
                self.min_link_mbps,
                "probes are off (probe_budget_mib or probe_max_mib is 0), so every miner \
                 would score 0; set min_link_mbps = 0 to stop scoring bandwidth, or give \
                 probes a budget",
            ));
        }
        Ok(())
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `HOST:PORT` of `/metrics`, or "" for none. Default `127.0.0.1:9464`.
    #[serde(default = "d_metrics")]
    pub listen: String,
}

fn d_metrics() -> String {
    "127.0.0.1:9464".into()
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: d_metrics(),
        }
    }
}

impl MetricsConfig {
    /// The address to serve on, `None` when turned off.
    pub fn address(&self) -> Result<Option<SocketAddr>, ConfigProblem> {
        let listen = self.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        listen.parse().map(Some).map_err(|e| {
            ConfigProblem::field(
                "[metrics] listen",
                format!("{listen:?}"),
                format!("{e}; write HOST:PORT, or \"\" to turn it off"),
            )
        })
    }
}

/// `[catalogue]`: the renters' view of what this validator proved (`crate::catalogue`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueConfig {
    /// `HOST:PORT` of the catalogue (`/`, `/v1/machines`, `/v1/receipts/{id}`).
    pub listen: String,
}

impl CatalogueConfig {
    /// The address to serve on.
    pub fn address(&self) -> Result<SocketAddr, ConfigProblem> {
        let listen = self.listen.trim();
        listen.parse().map_err(|e| {
            ConfigProblem::field(
                "[catalogue] listen",
                format!("{listen:?}"),
                format!(
                    "{e}; write HOST:PORT (e.g. \"127.0.0.1:8080\"), or leave the [catalogue] \
                     table out"
                ),
            )
        })
    }
}

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// One JSON object per line instead of text. Default false.
    #[serde(default)]
    pub json: bool,
}

impl ValidatorConfig {
    /// Reads and checks `path`: relative paths inside are resolved against its directory,
    /// then the environment overrides are applied.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(path, |k| std::env::var(k).ok())
    }

    /// [`ValidatorConfig::load`] with the environment read through `var`. The file is checked
    /// once, after the overrides: a file without `[chain]` is accepted for
    /// `source = "metagraph"` when the environment supplies the chain.
    pub fn load_with_env(
        path: &Path,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let invalid = |problem: ConfigProblem| ConfigError::Invalid {
            path: path.to_path_buf(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            reason: format!("{e}; write one from verifier/validator.example.toml"),
        })?;
        let mut config: Self =
            toml::from_str(&text).map_err(|e| invalid(ConfigProblem::Toml(e.to_string())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&mut config.store, &mut config.session_key]
            .into_iter()
            .chain(config.classes.as_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(f) = &config.hotkey.file
            && f.is_relative()
        {
            config.hotkey.file = Some(base.join(f));
        }
        // `apply_env` ends with the checks `parse` makes.
        config.apply_env(&EnvOverrides::new(var)).map_err(invalid)?;
        Ok(config)
    }

    /// Applies the `GPUPROOF_VALIDATOR_*` overrides `var` returns.
    pub fn apply_env<F: Fn(&str) -> Option<String>>(
        &mut self,
        env: &EnvOverrides<F>,
    ) -> Result<(), ConfigProblem> {
        if let Some(v) = env.text("GPUPROOF_VALIDATOR_STORE") {
            self.store = PathBuf::from(v);
        }
        if let Some(v) = env.text("GPUPROOF_VALIDATOR_METRICS_LISTEN") {
            self.metrics.listen = v;
        }
        if let Some(v) = env.parsed("GPUPROOF_VALIDATOR_ROUND_INTERVAL_S")? {
            self.round.interval_s = v;
        }
        let url = env.text("GPUPROOF_VALIDATOR_CHAIN_URL");
        let netuid = env.parsed::<u16>("GPUPROOF_VALIDATOR_NETUID")?;
        if url.is_some() || netuid.is_some() {
            match (&mut self.chain, url, netuid) {
                (Some(chain), url, netuid) => {
                    if let Some(url) = url {
                        chain.url = url;
                    }
                    if let Some(netuid) = netuid {
                        chain.netuid = netuid;
                    }
                }
                (None, Some(url), Some(netuid)) => {
                    self.chain = Some(ChainConfig {
                        url,
                        netuid,
                        version_key: 0,
                        weights_interval_blocks: 0,
                    });
                }
                (None, _, _) => {
                    return Err(ConfigProblem::EnvTogether {
                        first: "GPUPROOF_VALIDATOR_CHAIN_URL",
                        second: "GPUPROOF_VALIDATOR_NETUID",
                        when: "when the file has no [chain] table",
                    });
                }
            }
        }
        self.check()
    }

    /// Parses and checks the TOML text (no environment, no path resolution).
    pub fn parse(text: &str) -> Result<Self, ConfigProblem> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigProblem::Toml(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigProblem> {
        self.hotkey.source()?;
        self.metrics.address()?;
        if let Some(catalogue) = &self.catalogue {
            catalogue.address()?;
        }
        let r = &self.round;
        if r.concurrency == 0 {
            return Err(ConfigProblem::field(
                "[round] concurrency",
                0,
                "at least one miner must be challenged at a time (default 8)",
            ));
        }
        if !(1..=604_800).contains(&r.interval_s) {
            return Err(ConfigProblem::field(
                "[round] interval_s",
                r.interval_s,
                "use 1 to 604800 seconds (a week; default 600)",
            ));
        }
        if !(1..=3_600).contains(&r.miner_timeout_s) {
            return Err(ConfigProblem::field(
                "[round] miner_timeout_s",
                r.miner_timeout_s,
                "use 1 to 3600 seconds (default 120)",
            ));
        }
        if let Some(mib) = r.probe_mib {
            return Err(ConfigProblem::field(
                "[round] probe_mib",
                mib,
                "this key is gone: probes now size themselves from each miner's RTT; move \
                 the value to [bandwidth] probe_max_mib (the most one probe moves one way; \
                 default 128), and see [bandwidth] in verifier/validator.example.toml for the \
                 budget and the floor",
            ));
        }
        self.bandwidth.check()?;
        if r.openings == 0 || r.openings > 1024 {
            return Err(ConfigProblem::field(
                "[round] openings",
                r.openings,
                "use 1 to 1024 (default 32)",
            ));
        }
        if !(1..=3_600).contains(&r.ready_timeout_s) {
            return Err(ConfigProblem::field(
                "[round] ready_timeout_s",
                r.ready_timeout_s,
                "use 1 to 3600 seconds (default 60)",
            ));
        }
        if !(r.busy_budget.is_finite() && (0.0..=100.0).contains(&r.busy_budget)) {
            return Err(ConfigProblem::field(
                "[round] busy_budget",
                r.busy_budget,
                "use 0 to 100 (multiples of the class's max_s; default 2.0)",
            ));
        }
        if r.receipt_retention_rounds == 0 {
            return Err(ConfigProblem::field(
                "[round] receipt_retention_rounds",
                0,
                "pass receipts must be kept for at least the round that wrote them \
                 (default 144)",
            ));
        }
        if !(1..=1_000).contains(&r.stale_rounds) {
            return Err(ConfigProblem::field(
                "[round] stale_rounds",
                r.stale_rounds,
                "use 1 to 1000 (default 3)",
            ));
        }
        if !(r.target_scale.is_finite() && r.target_scale > 0.0) {
            return Err(ConfigProblem::field(
                "[round] target_scale",
                r.target_scale,
                "must be a positive factor (default 1.0)",
            ));
        }
        match (self.miners.source, &self.chain) {
            (MinerSource::Metagraph, None) => {
                return Err(ConfigProblem::field(
                    "[miners] source",
                    "\"metagraph\"",
                    "needs a [chain] table (url, netuid), or both GPUPROOF_VALIDATOR_CHAIN_URL \
                     and GPUPROOF_VALIDATOR_NETUID in the environment; without a chain write \
                     source = \"static\" and list the miners",
                ));
            }
            (MinerSource::Static, _) if self.miners.static_miners.is_empty() => {
                return Err(ConfigProblem::field(
                    "[miners] source",
                    "\"static\"",
                    "the static list is empty: add static = [{ hotkey = \"5F…\", \
                     addr = \"HOST:PORT\" }]",
                ));
            }
            _ => {}
        }
        for (i, m) in self.miners.static_miners.iter().enumerate() {
            transport::identity::parse_hotkey(&m.hotkey).map_err(|e| {
                ConfigProblem::field(
                    format!("[miners] static[{i}].hotkey"),
                    format!("{:?}", m.hotkey),
                    e.to_string(),
                )
            })?;
        }
        if let Some(chain) = &self.chain
            && !(chain.url.starts_with("ws://") || chain.url.starts_with("wss://"))
        {
            return Err(ConfigProblem::field(
                "[chain] url",
                format!("{:?}", chain.url),
                "must start with ws:// or wss://",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const STATIC: &str = r#"
        [hotkey]
        uri = "//Alice"
        [miners]
        source = "static"
        static = [{ hotkey = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", addr = "127.0.0.1:8091", uid = 1 }]
    "#;

    #[test]
    fn a_static_config_gets_every_default() {
        let c = ValidatorConfig::parse(STATIC).unwrap();
        assert_eq!(c.store, PathBuf::from("validator.sqlite"));
        assert_eq!(c.round.interval_s, 600);
        assert_eq!(c.round.concurrency, 8);
        assert_eq!(c.round.openings, 32);
        assert_eq!(c.round.stale_rounds, 3);
        assert_eq!(c.round.ready_timeout_s, 60);
        assert!((c.round.busy_budget - 2.0).abs() < 1e-12);
        assert!(!c.round.allow_cpu_reference);
        assert_eq!(c.round.receipt_retention_rounds, 144);
        assert!(c.catalogue.is_none());
        assert_eq!(c.bandwidth.min_link_mbps, 100.0);
        assert_eq!(c.bandwidth.probe_budget_mib, 4096);
        assert_eq!(c.bandwidth.probe_max_mib, 128);
        assert_eq!(c.bandwidth.probe_target_mbps, 1000.0);
        let rules = c.round.rules(&c.bandwidth);
        assert_eq!(rules.link.floor_mbit, 100.0);
        assert_eq!(rules.probe_budget, Some(4096 << 20));
        let options = c.round.challenge_options(&c.bandwidth);
        assert_eq!(options.probe.max_bytes, 128 << 20);
        assert_eq!(
            c.metrics.address().unwrap(),
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert!(c.chain.is_none());
        assert_eq!(c.miners.static_miners.len(), 1);
    }

    #[test]
    fn the_example_file_parses() {
        let text = include_str!("../../validator.example.toml");
        let c = ValidatorConfig::parse(text).unwrap();
        assert_eq!(c.miners.source, MinerSource::Metagraph);
        assert!(c.chain.is_some());
    }

    #[test]
    fn errors_say_what_to_fix() {
        let cases = [
            ("[hotkey]\nuri = \"//Alice\"\n", "needs a [chain] table"),
            ("[hotkey]\n", "exactly one of"),
            (
                "[hotkey]\nuri = \"//A\"\n[miners]\nsource = \"static\"\n",
                "static list is empty",
            ),
            (
                &STATIC.replace("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", "nope"),
                "static[0].hotkey",
            ),
            (
                &format!("{STATIC}\n[round]\nconcurrency = 0\n"),
                "concurrency = 0",
            ),
            (
                &format!("{STATIC}\n[round]\nminer_timeout_s = 18446744073709551615\n"),
                "miner_timeout_s",
            ),
            (
                &format!("{STATIC}\n[round]\ninterval_s = 0\n"),
                "interval_s = 0",
            ),
            (
                &format!("{STATIC}\n[metrics]\nlisten = \"x\"\n"),
                "HOST:PORT",
            ),
            (&format!("{STATIC}\nbogus = 1\n"), "unknown field"),
            (
                &format!("{STATIC}\n[round]\nstale_rounds = 0\n"),
                "stale_rounds = 0",
            ),
            (
                &format!("{STATIC}\n[round]\nbusy_budget = -1.0\n"),
                "busy_budget",
            ),
            (
                &format!("{STATIC}\n[round]\nready_timeout_s = 0\n"),
                "ready_timeout_s",
            ),
            (
                &format!("{STATIC}\n[round]\nreceipt_retention_rounds = 0\n"),
                "receipt_retention_rounds = 0",
            ),
            (
                &format!("{STATIC}\n[catalogue]\nlisten = \"nowhere\"\n"),
                "[catalogue] listen",
            ),
            (
                &format!("{STATIC}\n[round]\nprobe_mib = 16\n"),
                "[bandwidth] probe_max_mib",
            ),
            (
                &format!("{STATIC}\n[bandwidth]\nmin_link_mbps = -1.0\n"),
                "min_link_mbps",
            ),
            (
                &format!("{STATIC}\n[bandwidth]\nprobe_budget_mib = 0\n"),
                "set min_link_mbps = 0",
            ),
            (
                &format!("{STATIC}\n[bandwidth]\nprobe_target_mbps = 0.0\n"),
                "probe_target_mbps",
            ),
            (
                &format!("{STATIC}\n[bandwidth]\nprobe_max_mib = 5000\n"),
                "probe_max_mib",
            ),
            (
                "[hotkey]\nuri = \"//A\"\n[chain]\nurl = \"http://x\"\nnetuid = 1\n",
                "ws://",
            ),
        ];
        for (text, want) in cases {
            let err = ValidatorConfig::parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn environment_overrides_apply_and_are_checked() {
        let mut c = ValidatorConfig::parse(STATIC).unwrap();
        let env = |k: &str| match k {
            "GPUPROOF_VALIDATOR_STORE" => Some("/tmp/x.sqlite".to_string()),
            "GPUPROOF_VALIDATOR_METRICS_LISTEN" => Some(String::new()),
            "GPUPROOF_VALIDATOR_CHAIN_URL" => Some("ws://127.0.0.1:9944".to_string()),
            "GPUPROOF_VALIDATOR_NETUID" => Some("7".to_string()),
            _ => None,
        };
        c.apply_env(&EnvOverrides::new(env)).unwrap();
        assert_eq!(c.store, PathBuf::from("/tmp/x.sqlite"));
        assert_eq!(c.metrics.address().unwrap(), None);
        assert_eq!(c.chain.as_ref().unwrap().netuid, 7);
        let mut c = ValidatorConfig::parse(STATIC).unwrap();
        let err = c
            .apply_env(&EnvOverrides::new(|k: &str| {
                (k == "GPUPROOF_VALIDATOR_NETUID").then(|| "x".to_string())
            }))
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigProblem::Env {
                    var: "GPUPROOF_VALIDATOR_NETUID",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("GPUPROOF_VALIDATOR_NETUID"),
            "{err}"
        );
    }

    #[test]
    fn a_metagraph_file_may_take_its_chain_from_the_environment() {
        let tmp = crate::localnet::TempDir::new("config").unwrap();
        let dir = tmp.path();
        let path = dir.join("validator.toml");
        std::fs::write(&path, "[hotkey]\nuri = \"//Alice\"\n").unwrap();
        let chain_env = |k: &str| match k {
            "GPUPROOF_VALIDATOR_CHAIN_URL" => Some("ws://127.0.0.1:9944".to_string()),
            "GPUPROOF_VALIDATOR_NETUID" => Some("51".to_string()),
            _ => None,
        };
        let c = ValidatorConfig::load_with_env(&path, chain_env).unwrap();
        assert_eq!(c.miners.source, MinerSource::Metagraph);
        assert_eq!(c.chain.as_ref().unwrap().netuid, 51);
        assert_eq!(c.store, dir.join("validator.sqlite"));
        assert_eq!(c.classes, None, "the built-in class table by default");
        // A class table path is relative to the file, as the other paths are.
        std::fs::write(
            &path,
            "classes = \"tables/classes.toml\"\n[hotkey]\nuri = \"//Alice\"\n",
        )
        .unwrap();
        let c = ValidatorConfig::load_with_env(&path, chain_env).unwrap();
        assert_eq!(c.classes, Some(dir.join("tables/classes.toml")));
        // Without the environment the same file is refused, saying both ways out.
        let err = ValidatorConfig::load_with_env(&path, |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("needs a [chain] table") && err.contains("GPUPROOF_VALIDATOR_CHAIN_URL"),
            "{err}"
        );
    }
}
