//! `verifier run`: the validator service (issue #7).
//!
//! One loop, one round at a time, driven by the [`RoundEngine`] that `verifier localnet` runs
//! too:
//!
//! 1. **Round.** The store's unfinished round is resumed if a crash cut one short, else a new
//!    one is opened. Miners come from the metagraph (every neuron with an axon and no validator
//!    permit, but us) or the static list; those already recorded in this round are skipped.
//!    At most `[round] concurrency` miners are challenged at once, each bounded by
//!    `miner_timeout_s`, then probed both ways for bandwidth (each probe sized from the miner's
//!    RTT, at most `probe_budget_mib / (2 × miners)` each way, so the round's probes stay
//!    within `[bandwidth] probe_budget_mib`). Whether a machine is rented comes from the store
//!    (the operator's or a marketplace's records), never from the miner.
//! 2. **Record.** Each miner's verdicts, probe figures and new standing (scoring:
//!    [`crate::scoring`], folded in [`record`]: the passing devices' sum × the link factor under
//!    `[bandwidth] min_link_mbps`, × reliability) are written in one transaction as soon as its
//!    round ends: a crash loses at most the miners in flight, never a recorded verdict, and a
//!    restart neither repeats nor duplicates one (the store's unique keys). Nothing one miner
//!    sends stops the round ([`engine`]).
//! 3. **Weights.** With a chain: once per `weights_interval_blocks` (default: the subnet's
//!    tempo) the standings of the miners in this round's challenge set, refreshed in the last
//!    `stale_rounds` rounds, that the metagraph still has at their UIDs become weights
//!    ([`weights`]) submitted by `ChainClient::submit_weights`, which reads the subnet's
//!    commit-reveal setting at that moment and uses `set_weights`, a commit-reveal v2 commit
//!    (its reveal kept in the store and sent when the reveal window opens, also after a
//!    restart) or a timelocked v4 commit — whichever the connected runtime offers (an older
//!    runtime without `CommitRevealWeightsVersion` or `MechanismCountCurrent` gets the behaviour
//!    of its own version: `chain_client::runtime`). Weights the chain would refuse (rate limit,
//!    permit, `MinAllowedWeights`, `MaxWeightsLimit`, version key) are not sent: the reason is
//!    logged and recorded instead, under the runtime error it would have been. Without a chain
//!    the weights are computed and recorded as `local` each round. Every submission (or
//!    failure) is recorded; a refusal, the chain's or predicted, with its runtime error's name
//!    (`SubtensorModule::SettingWeightsTooFast`) in the store's `refusal` column.
//! 4. **Wait** until `interval_s` after the round's start, or a shutdown signal.
//!
//! Shutdown (SIGINT/SIGTERM): no new miner is started, the ones in flight finish (bounded by
//! their timeout) and are recorded, the round stays unfinished and is resumed at the next start.
//!
//! Hostile input never stops the loop: a miner's failure is its verdict; a chain or store
//! error is logged, counted in the metrics, and the loop goes on.
#![deny(clippy::indexing_slicing)]

pub mod config;
pub mod engine;
pub mod metrics;
pub mod record;
pub mod weights;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use chain_client::{ChainClient, Metagraph, PendingReveal, WeightsSubmitted};
use protocol::{Hotkey, Role};
use tokio::sync::{Semaphore, watch};
use tracing::{error, info, warn};
use transport::Identity;
use transport::identity::{self, DEFAULT_CERTIFICATE_VALIDITY};
use validator_store::{Store, StoreError, SubmissionMethod};

use crate::classes::{ClassError, ClassTable};
use crate::client::ClientContext;
use crate::planner::ClassPlanner;
use crate::session::SandboxChecker;
pub use config::{BandwidthConfig, ConfigError, MinerSource, ValidatorConfig};
pub use engine::{Miner, RoundEnd, RoundEngine, RoundRules};
use engine::{SharedStore, StoreCallError};
pub use metrics::Metrics;
use record::MinerId;
use weights::{local_limits, plan_weights};

/// Why the service could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The config is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Keys, endpoint or certificate.
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    /// The chain could not be reached at start.
    #[error("cannot use the chain at {url}: {reason}; check [chain] url and that the node is up")]
    Chain {
        /// The node.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The store's task failed before the store opened (a panic in SQLite's thread).
    #[error("opening the store failed: {0}")]
    StoreTask(#[source] tokio::task::JoinError),
    /// `[hotkey]` names no usable key.
    #[error("[hotkey]: {0}")]
    Hotkey(#[from] transport::HotkeySourceError),
    /// A setting that was checked when the config loaded is wrong after all (set by code
    /// rather than read from a file).
    #[error(transparent)]
    Setting(#[from] transport::ConfigProblem),
    /// The class table (built-in or `classes = "…"`) does not load.
    #[error("{source}; fix the table or remove `classes` to use the built-in one")]
    Classes {
        /// Why.
        #[source]
        source: ClassError,
    },
    /// The cpu-reference class could not be calibrated on this machine.
    #[error("cpu-reference calibration failed: {0}")]
    Calibration(#[source] ClassError),
    /// The tile checker (the built-in modules' kernels) could not be set up.
    #[error("the tile checker could not start: {0}")]
    Checker(#[from] crate::session::CheckerError),
    /// An HTTP endpoint (`/metrics`, the catalogue) could not listen.
    #[error("cannot serve {what} on {addr}: {source}; {fix}")]
    Listen {
        /// Which endpoint.
        what: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
        /// What to change.
        fix: &'static str,
    },
}

/// Store key of the block weights were last submitted at.
const LAST_WEIGHTS_BLOCK: &str = "last_weights_block";

/// What a finished [`run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSummary {
    /// Rounds finished by this run.
    pub rounds: u64,
    /// Whether it stopped for a shutdown signal (rather than `max_rounds`).
    pub interrupted: bool,
}

/// Now, in Unix seconds (0 if the clock is before 1970).
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Everything the loop holds.
struct Service {
    config: ValidatorConfig,
    engine: RoundEngine,
    store: SharedStore,
    metrics: Arc<Metrics>,
    chain: Option<ChainClient>,
    me: Hotkey,
}

/// Runs the service until `shutdown` turns true or `max_rounds` rounds are finished.
/// Must be called inside a tokio runtime.
pub async fn run(
    config: ValidatorConfig,
    max_rounds: Option<u64>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<ServiceSummary, ServiceError> {
    let path = config.store.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&path))
        .await
        .map_err(ServiceError::StoreTask)??;
    info!(store = %config.store.display(), "store open");

    let key = identity::load_key_file(&config.session_key)?;
    let source = config.hotkey.source()?;
    let keypair = identity::load_hotkey(&source)?;
    let me = identity::hotkey_of(&keypair);
    let identity = Identity::issue(key, &keypair, Role::Validator, DEFAULT_CERTIFICATE_VALIDITY);
    info!(hotkey = %identity::ss58(&me), "validator identity loaded");

    let table = match &config.classes {
        Some(path) => ClassTable::load(path),
        None => ClassTable::embedded(),
    }
    .map_err(|source| ServiceError::Classes { source })?;
    info!(
        classes = %config
            .classes
            .as_deref()
            .map_or_else(|| "built-in".to_owned(), |p| p.display().to_string()),
        blake3 = %hex::encode(table.hash()),
        "class table"
    );
    let mut planner = ClassPlanner::new(table.clone()).with_target_scale(config.round.target_scale);
    let calibration = planner.calibrate_cpu().map_err(ServiceError::Calibration)?;
    info!(
        ms = calibration.elapsed.as_secs_f64() * 1e3,
        "cpu-reference calibrated (one thread)"
    );
    let checker = Arc::new(SandboxChecker::with_builtins()?);
    let metrics = Arc::new(Metrics::default());
    {
        let checker = Arc::clone(&checker);
        metrics.set_check_seconds(Arc::new(move || checker.check_seconds()));
    }
    let family = config
        .miners
        .static_miners
        .first()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |m| m.addr);
    let ctx = Arc::new(ClientContext::new(
        identity,
        checker,
        Arc::new(planner),
        config.round.challenge_options(&config.bandwidth),
        family,
    )?);

    let metrics_task = match config.metrics.address()? {
        Some(addr) => {
            let listener = metrics::bind(addr)
                .await
                .map_err(|source| ServiceError::Listen {
                    what: "metrics",
                    addr,
                    source,
                    fix: "change [metrics] listen or set it to \"\"",
                })?;
            info!(%addr, "metrics at /metrics");
            Some(tokio::spawn(metrics::serve(listener, Arc::clone(&metrics))))
        }
        None => None,
    };

    let catalogue_task = match &config.catalogue {
        Some(c) => {
            let addr = c.address()?;
            let (bound, task) = crate::catalogue::start(addr, config.store.clone())
                .await
                .map_err(|source| ServiceError::Listen {
                    what: "the catalogue",
                    addr,
                    source,
                    fix: "change [catalogue] listen or leave the table out",
                })?;
            info!(addr = %bound, "catalogue at http://{bound}/");
            Some(task)
        }
        None => None,
    };

    let chain = match &config.chain {
        Some(c) => {
            let client = ChainClient::connect(&c.url)
                .await
                .map_err(|e| ServiceError::Chain {
                    url: c.url.clone(),
                    reason: e.to_string(),
                })?
                .with_signer(keypair);
            info!(url = %c.url, netuid = c.netuid, "chain connected");
            Some(client)
        }
        None => {
            info!("no [chain]: weights are computed and recorded, not submitted");
            None
        }
    };

    let engine = RoundEngine::new(
        store,
        ctx,
        table,
        Arc::clone(&metrics),
        config.round.rules(&config.bandwidth),
        Arc::new(Semaphore::new(config.round.concurrency)),
    );
    let service = Service {
        config,
        store: engine.store.clone(),
        engine,
        metrics,
        chain,
        me,
    };
    let mut rounds = 0u64;
    let interrupted = loop {
        if *shutdown.borrow() {
            break true;
        }
        let started = Instant::now();
        let finished = service.round(&mut shutdown).await;
        if finished {
            rounds += 1;
            if max_rounds.is_some_and(|max| rounds >= max) {
                break false;
            }
        }
        if *shutdown.borrow() {
            break true;
        }
        let wait = service
            .config
            .round
            .interval()
            .saturating_sub(started.elapsed());
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    };
    for task in [metrics_task, catalogue_task].into_iter().flatten() {
        task.abort();
    }
    info!(rounds, interrupted, "validator service stopped");
    Ok(ServiceSummary {
        rounds,
        interrupted,
    })
}

impl Service {
    /// One round; true when it finished (false: cut short by shutdown or an error, and it will
    /// be resumed).
    async fn round(&self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let metagraph = match self.read_metagraph().await {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "cannot read the metagraph; retrying next round");
                return false;
            }
        };
        if let Some(m) = &metagraph {
            self.reveal_due(m.block).await;
        }
        let miners = self.miners(metagraph.as_ref());
        match self.engine.round(&miners, shutdown).await {
            RoundEnd::Finished { round_id } => {
                self.weights(round_id, &miners, metagraph.as_ref()).await;
                true
            }
            RoundEnd::Unfinished => false,
        }
    }

    fn store_failed(&self, what: &str, e: &StoreCallError) -> bool {
        self.metrics.store_errors.fetch_add(1, Relaxed);
        error!(error = %e, "cannot {what} in the store");
        false
    }

    async fn read_metagraph(&self) -> Result<Option<Metagraph>, chain_client::ClientError> {
        match (&self.chain, &self.config.chain) {
            (Some(client), Some(c)) => Ok(Some(client.read_metagraph(c.netuid).await?)),
            _ => Ok(None),
        }
    }

    /// The miners of this round.
    fn miners(&self, metagraph: Option<&Metagraph>) -> Vec<Miner> {
        match (self.config.miners.source, metagraph) {
            (MinerSource::Metagraph, Some(m)) => m
                .neurons
                .iter()
                .filter(|n| !n.validator_permit && n.hotkey != *self.me.as_bytes())
                .filter_map(|n| {
                    let axon = n.axon?;
                    let ip = axon.ip_addr()?;
                    if axon.port == 0 || ip.is_unspecified() {
                        return None;
                    }
                    let hotkey = Hotkey::new(n.hotkey);
                    Some(Miner {
                        id: MinerId {
                            hotkey: identity::ss58(&hotkey),
                            uid: Some(n.uid),
                        },
                        hotkey,
                        addr: SocketAddr::new(ip, axon.port),
                    })
                })
                .collect(),
            _ => self
                .config
                .miners
                .static_miners
                .iter()
                .filter_map(|m| {
                    let hotkey = identity::parse_hotkey(&m.hotkey).ok()?;
                    Some(Miner {
                        id: MinerId {
                            hotkey: identity::ss58(&hotkey),
                            uid: m.uid,
                        },
                        hotkey,
                        addr: m.addr,
                    })
                })
                .collect(),
        }
    }

    /// Submits (or, without a chain, records) the weights when they are due: from the
    /// standings of this round's challenge set `miners` that are fresh (rule 4).
    async fn weights(&self, round_id: i64, miners: &[Miner], metagraph: Option<&Metagraph>) {
        let (Some(client), Some(chain), Some(metagraph)) =
            (&self.chain, &self.config.chain, metagraph)
        else {
            let Some(standings) = self.engine.eligible_standings(round_id, miners).await else {
                return;
            };
            let outcome = plan_weights(&standings, &local_limits(&standings));
            self.engine
                .record_submission(
                    round_id,
                    SubmissionMethod::Local,
                    outcome.map(|p| (p, None)),
                )
                .await;
            return;
        };
        let hyperparams = match client.read_hyperparams(chain.netuid).await {
            Ok(h) => h,
            Err(e) => {
                warn!(error = %e, "cannot read the subnet's hyperparameters; weights wait");
                return;
            }
        };
        let interval = if chain.weights_interval_blocks > 0 {
            chain.weights_interval_blocks
        } else {
            u64::from(hyperparams.tempo).max(1)
        };
        let last = self
            .store
            .with(|s| s.meta(LAST_WEIGHTS_BLOCK))
            .await
            .ok()
            .flatten()
            .and_then(|v| v.parse::<u64>().ok());
        if last.is_some_and(|l| metagraph.block < l.saturating_add(interval)) {
            return;
        }
        let Some(standings) = self.engine.eligible_standings(round_id, miners).await else {
            return;
        };
        // Only miners still at their UID count.
        let current: Vec<_> = standings
            .into_iter()
            .filter(|s| {
                s.uid
                    .and_then(|u| metagraph.neurons.get(usize::from(u)))
                    .zip(identity::parse_hotkey(&s.hotkey).ok())
                    .is_some_and(|(n, h)| n.hotkey == *h.as_bytes())
            })
            .collect();
        let limits = hyperparams.weight_limits(metagraph.neurons.len());
        let plan = match plan_weights(&current, &limits) {
            Ok(p) => p,
            Err(e) => {
                self.engine
                    .record_submission(round_id, SubmissionMethod::SetWeights, Err(e))
                    .await;
                return;
            }
        };
        if plan.uids.is_empty() {
            info!("no miner has earned weight yet; nothing submitted");
            return;
        }
        self.submit_plan(client, chain, round_id, plan, &hyperparams, metagraph.block)
            .await;
    }

    /// Submits `plan` through `submit_weights` and records the outcome: on success the
    /// extrinsic (or drand round) and the block; on failure the error and, when the chain
    /// refused the weights or would have, the runtime error's name
    /// (`SubtensorModule::SettingWeightsTooFast`) in the log and the store.
    async fn submit_plan(
        &self,
        client: &ChainClient,
        chain: &config::ChainConfig,
        round_id: i64,
        plan: weights::WeightPlan,
        hyperparams: &chain_client::SubnetHyperparams,
        block: u64,
    ) {
        let submitted = match client
            .submit_weights(chain.netuid, &plan.uids, &plan.values, chain.version_key)
            .await
        {
            Ok(submitted) => submitted,
            Err(e) => {
                self.engine
                    .record_failure(
                        round_id,
                        path_label(hyperparams),
                        &e.to_string(),
                        e.chain_error(),
                    )
                    .await;
                return;
            }
        };
        let (method, reference) = match submitted {
            WeightsSubmitted::Set(s) => {
                (SubmissionMethod::SetWeights, hex::encode(s.extrinsic_hash))
            }
            WeightsSubmitted::CommittedV2 { submitted, pending } => {
                self.keep_reveal(&pending).await;
                (
                    SubmissionMethod::CommitRevealV2,
                    hex::encode(submitted.extrinsic_hash),
                )
            }
            WeightsSubmitted::Timelocked {
                reveal_round,
                reveal_block,
                ..
            } => (
                SubmissionMethod::TimelockedV4,
                format!("drand round {reveal_round}, reveal block {reveal_block}"),
            ),
        };
        self.engine
            .record_submission(
                round_id,
                method,
                Ok::<_, std::convert::Infallible>((plan, Some(reference))),
            )
            .await;
        let block = block.to_string();
        if let Err(e) = self
            .store
            .with(move |s| s.set_meta(LAST_WEIGHTS_BLOCK, &block))
            .await
        {
            self.store_failed("record the weights block", &e);
        }
    }

    /// Keeps a v2 reveal in the store until its window opens.
    async fn keep_reveal(&self, pending: &PendingReveal) {
        let json = reveal_to_json(pending);
        let key = format!("v2-{}-{}", pending.netuid, pending.reveal_window.0);
        let after = i64::try_from(pending.reveal_window.0).unwrap_or(i64::MAX);
        if let Err(e) = self
            .store
            .with(move |s| s.put_pending_reveal(&key, &json, after))
            .await
        {
            self.store_failed("keep a commit-reveal reveal", &e);
        }
    }

    /// Sends the v2 reveals whose window has opened at `block`; drops those whose window has
    /// passed.
    async fn reveal_due(&self, block: u64) {
        let Some(client) = &self.chain else { return };
        let pending = match self.store.with(|s| s.pending_reveals()).await {
            Ok(p) => p,
            Err(e) => {
                self.store_failed("read pending reveals", &e);
                return;
            }
        };
        for (key, json, _) in pending {
            let Some(reveal) = parse_reveal(&json) else {
                warn!(%key, "unreadable pending reveal dropped");
                let _ = self
                    .store
                    .with(move |s| s.remove_pending_reveal(&key))
                    .await;
                continue;
            };
            let (first, last) = reveal.reveal_window;
            if block < first {
                continue;
            }
            if block <= last {
                match client.reveal_pending(&reveal).await {
                    Ok(_) => info!(%key, "weights revealed"),
                    Err(e) => {
                        let refusal = e.chain_error().unwrap_or("none");
                        warn!(%key, refusal, error = %e, "reveal failed; retrying next round");
                        self.metrics.count_reveal(false);
                        continue;
                    }
                }
                self.metrics.count_reveal(true);
            } else {
                warn!(%key, block, last, "reveal window passed; the commit is lost");
            }
            if let Err(e) = self
                .store
                .with(move |s| s.remove_pending_reveal(&key))
                .await
            {
                self.store_failed("drop a sent reveal", &e);
            }
        }
    }
}

/// The store's `method` for the path `hyperparams` ask for: `set-weights`, `commit-reveal-v2`,
/// `timelocked-v4`, or `no-path` when no path is usable.
fn path_label(hyperparams: &chain_client::SubnetHyperparams) -> SubmissionMethod {
    match hyperparams.weight_submission() {
        Ok(chain::commit_reveal::WeightSubmission::SetWeights) => SubmissionMethod::SetWeights,
        Ok(chain::commit_reveal::WeightSubmission::CommitRevealV2 { .. }) => {
            SubmissionMethod::CommitRevealV2
        }
        Ok(chain::commit_reveal::WeightSubmission::Timelocked { .. }) => {
            SubmissionMethod::TimelockedV4
        }
        Err(_) => SubmissionMethod::NoPath,
    }
}

/// A pending reveal as the store keeps it (JSON text).
fn reveal_to_json(pending: &PendingReveal) -> String {
    serde_json::json!({
        "netuid": pending.netuid,
        "uids": pending.uids,
        "values": pending.values,
        "salt": pending.salt,
        "version_key": pending.version_key,
        "reveal_window": [pending.reveal_window.0, pending.reveal_window.1],
    })
    .to_string()
}

/// Reads back [`reveal_to_json`]'s text; `None` for anything else.
fn parse_reveal(json: &str) -> Option<PendingReveal> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let list = |k: &str| -> Option<Vec<u16>> {
        v.get(k)?
            .as_array()?
            .iter()
            .map(|x| x.as_u64().and_then(|x| u16::try_from(x).ok()))
            .collect()
    };
    let window = v.get("reveal_window")?.as_array()?;
    Some(PendingReveal {
        netuid: u16::try_from(v.get("netuid")?.as_u64()?).ok()?,
        uids: list("uids")?,
        values: list("values")?,
        salt: list("salt")?,
        version_key: v.get("version_key")?.as_u64()?,
        reveal_window: (window.first()?.as_u64()?, window.get(1)?.as_u64()?),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn submissions_are_recorded_under_the_path_the_subnet_asks_for() {
        let mut hp = chain_client::SubnetHyperparams {
            netuid: 1,
            tempo: 99,
            kappa: 0,
            bonds_moving_average: 0,
            bonds_penalty: 0,
            activity_cutoff: 0,
            max_allowed_validators: 0,
            yuma3_enabled: false,
            liquid_alpha_enabled: false,
            alpha_low: 0,
            alpha_high: 0,
            alpha_sigmoid_steepness: 0,
            stake_threshold: 0,
            min_allowed_weights: 0,
            max_weights_limit: 0,
            weights_version_key: 0,
            weights_set_rate_limit: 0,
            commit_reveal_enabled: false,
            commit_reveal_version: 4,
            reveal_period_epochs: 1,
            mechanism_count: 1,
            tao_weight: 0,
            owner_hotkey: [0; 32],
            spec_version: 293,
            defaulted: Vec::new(),
        };
        assert_eq!(path_label(&hp), SubmissionMethod::SetWeights);
        hp.commit_reveal_enabled = true;
        assert_eq!(path_label(&hp), SubmissionMethod::TimelockedV4);
        hp.commit_reveal_version = 2;
        assert_eq!(path_label(&hp), SubmissionMethod::CommitRevealV2);
        hp.commit_reveal_version = 3;
        assert_eq!(path_label(&hp), SubmissionMethod::NoPath);
    }

    #[test]
    fn a_kept_reveal_reads_back() {
        let pending = PendingReveal {
            netuid: 3,
            uids: vec![1, 2],
            values: vec![65535, 100],
            salt: vec![9; 8],
            version_key: 7,
            reveal_window: (100, 460),
        };
        let json = reveal_to_json(&pending);
        assert_eq!(parse_reveal(&json), Some(pending));
        assert_eq!(parse_reveal("{\"netuid\": 70000}"), None);
        assert_eq!(parse_reveal("not json"), None);
    }
}
