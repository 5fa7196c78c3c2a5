//! `verifier run`: the validator service (issue #7).
//!
//! One loop, one round at a time:
//!
//! 1. **Round.** The store's unfinished round is resumed if a crash cut one short, else a new
//!    one is opened. Miners come from the metagraph (every neuron with an axon and no validator
//!    permit, but us) or the static list; those already recorded in this round are skipped.
//!    At most `[round] concurrency` miners are challenged at once, each bounded by
//!    `miner_timeout_s`. Whether a machine is rented comes from the store (the operator's or a
//!    marketplace's records), never from the miner.
//! 2. **Record.** Each miner's verdicts, probe figures and new standing (scoring:
//!    [`crate::scoring`], folded in [`record`]) are written in one transaction as soon as its
//!    round ends: a crash loses at most the miners in flight, never a recorded verdict, and a
//!    restart neither repeats nor duplicates one (the store's unique keys).
//! 3. **Weights.** With a chain: once per `weights_interval_blocks` (default: the subnet's
//!    tempo) the standings of the miners the metagraph still has at their UIDs become weights
//!    ([`weights`]) submitted by `ChainClient::submit_weights`, which reads the subnet's
//!    commit-reveal setting at that moment and uses `set_weights`, a commit-reveal v2 commit
//!    (its reveal kept in the store and sent when the reveal window opens, also after a
//!    restart) or a timelocked v4 commit. Without a chain the weights are computed and recorded
//!    as `local` each round. Every submission (or failure) is recorded.
//! 4. **Wait** until `interval_s` after the round's start, or a shutdown signal.
//!
//! Shutdown (SIGINT/SIGTERM): no new miner is started, the ones in flight finish (bounded by
//! their timeout) and are recorded, the round stays unfinished and is resumed at the next start.
//!
//! Hostile input never stops the loop: a miner's failure is its verdict; a chain or store
//! error is logged, counted in the metrics, and the loop goes on.
#![deny(clippy::indexing_slicing)]

pub mod config;
pub mod metrics;
pub mod record;
pub mod weights;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chain_client::{ChainClient, Metagraph, PendingReveal, WeightsSubmitted};
use protocol::{Hotkey, Role};
use tokio::sync::{Semaphore, watch};
use tracing::{error, info, warn};
use transport::identity::{self, DEFAULT_CERTIFICATE_VALIDITY};
use transport::{ConnectionLimits, Identity};
use validator_store::{Store, StoreError, SubmissionRow};

use crate::classes::ClassTable;
use crate::client::{ChallengeOptions, ClientContext, MinerTarget, challenge_miner};
use crate::planner::ClassPlanner;
use crate::session::SandboxChecker;
pub use config::{ConfigError, MinerSource, ValidatorConfig};
pub use metrics::Metrics;
use record::{MinerId, miner_record};
use weights::{WeightPlan, local_limits, plan_weights};

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
    /// Anything else at start (class table, checker, metrics port).
    #[error("{0}")]
    Setup(String),
}

/// Store key of the block weights were last submitted at.
const LAST_WEIGHTS_BLOCK: &str = "last_weights_block";

/// One miner to challenge.
#[derive(Debug, Clone)]
struct Miner {
    id: MinerId,
    hotkey: Hotkey,
    addr: SocketAddr,
}

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

/// A store call that failed: the store's own error, or the call's thread died.
#[derive(Debug, thiserror::Error)]
enum StoreCallError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store's thread failed: {0}")]
    Lost(String),
}

/// The store, shared by tasks; every call runs on a blocking thread.
#[derive(Clone)]
struct SharedStore(Arc<Mutex<Store>>);

impl SharedStore {
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreCallError> {
        let inner = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut store = inner
                .lock()
                .map_err(|_| StoreCallError::Lost("an earlier call panicked".into()))?;
            Ok(f(&mut store)?)
        })
        .await
        .map_err(|e| StoreCallError::Lost(e.to_string()))?
    }
}

/// Everything the loop holds.
struct Service {
    config: ValidatorConfig,
    store: SharedStore,
    ctx: Arc<ClientContext>,
    table: ClassTable,
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
        .map_err(|e| ServiceError::Setup(e.to_string()))??;
    info!(store = %config.store.display(), "store open");
    let store = SharedStore(Arc::new(Mutex::new(store)));

    let key = identity::load_key_file(&config.session_key)?;
    let source = config
        .hotkey
        .source()
        .map_err(|reason| ServiceError::Setup(format!("[hotkey]: {reason}")))?;
    let keypair = identity::load_hotkey(&source)?;
    let me = identity::hotkey_of(&keypair);
    let identity = Identity::issue(key, &keypair, Role::Validator, DEFAULT_CERTIFICATE_VALIDITY);
    info!(hotkey = %identity::ss58(&me), "validator identity loaded");

    let table = ClassTable::embedded().map_err(|e| ServiceError::Setup(e.to_string()))?;
    let mut planner = ClassPlanner::new(table.clone()).with_target_scale(config.round.target_scale);
    let calibration = planner
        .calibrate_cpu()
        .map_err(|e| ServiceError::Setup(format!("cpu-reference calibration failed: {e}")))?;
    info!(
        ms = calibration.elapsed.as_secs_f64() * 1e3,
        "cpu-reference calibrated (one thread)"
    );
    let checker =
        Arc::new(SandboxChecker::with_builtins().map_err(|e| ServiceError::Setup(e.to_string()))?);
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
    let endpoint =
        transport::client_endpoint(family, identity.signing_key(), &ConnectionLimits::default())?;
    let ctx = Arc::new(ClientContext {
        identity,
        endpoint,
        checker,
        planner: Arc::new(planner),
        options: ChallengeOptions {
            openings: config.round.openings,
            probe_bytes: config.round.probe_mib.saturating_mul(1 << 20),
            miner_timeout: Duration::from_secs(config.round.miner_timeout_s),
            ..ChallengeOptions::default()
        },
    });

    let metrics_task = match config
        .metrics
        .address()
        .map_err(|e| ServiceError::Setup(e.to_string()))?
    {
        Some(addr) => {
            let listener = metrics::bind(addr).await.map_err(|e| {
                ServiceError::Setup(format!(
                    "cannot serve metrics on {addr}: {e}; change [metrics] listen or set it to \"\""
                ))
            })?;
            info!(%addr, "metrics at /metrics");
            Some(tokio::spawn(metrics::serve(listener, Arc::clone(&metrics))))
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

    let service = Service {
        config,
        store,
        ctx,
        table,
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
    if let Some(task) = metrics_task {
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
        let round_started = Instant::now();
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
        let opened = self
            .store
            .with(|s| {
                let resumed = s.unfinished_round()?.is_some();
                Ok((s.open_round(now_unix())?, resumed))
            })
            .await;
        let (round, resumed) = match opened {
            Ok(r) => r,
            Err(e) => return self.store_failed("open a round", &e),
        };
        if resumed {
            self.metrics.rounds_resumed.fetch_add(1, Relaxed);
        }
        let miners = self.miners(metagraph.as_ref());
        let round_id = round.id;
        let done = match self.store.with(move |s| s.miners_done(round_id)).await {
            Ok(d) => d,
            Err(e) => return self.store_failed("read the round", &e),
        };
        let todo: Vec<Miner> = miners
            .iter()
            .filter(|m| !done.contains(&m.id.hotkey))
            .cloned()
            .collect();
        info!(
            round = round.id,
            resumed,
            miners = miners.len(),
            already_recorded = miners.len() - todo.len(),
            "round started"
        );
        self.metrics
            .miners
            .store(u64::try_from(miners.len()).unwrap_or(u64::MAX), Relaxed);

        let slots = Arc::new(Semaphore::new(self.config.round.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        let mut cut_short = false;
        for miner in todo {
            let permit = tokio::select! {
                p = Arc::clone(&slots).acquire_owned() => p,
                _ = shutdown.changed() => { cut_short = true; break; }
            };
            if *shutdown.borrow() {
                cut_short = true;
                break;
            }
            let Ok(permit) = permit else { break };
            let ctx = Arc::clone(&self.ctx);
            let store = self.store.clone();
            let table = self.table.clone();
            let metrics = Arc::clone(&self.metrics);
            tasks.spawn(async move {
                let _permit = permit;
                challenge_and_record(&ctx, &store, &table, &metrics, round_id, miner).await
            });
        }
        let mut all_recorded = true;
        while let Some(result) = tasks.join_next().await {
            if !matches!(result, Ok(true)) {
                all_recorded = false;
            }
        }
        if cut_short || !all_recorded {
            info!(
                round = round.id,
                "round left unfinished (shutdown or a store error); it resumes at the next start"
            );
            return false;
        }
        if let Err(e) = self
            .store
            .with(move |s| s.finish_round(round_id, now_unix()))
            .await
        {
            return self.store_failed("finish the round", &e);
        }
        let elapsed = round_started.elapsed();
        self.metrics.rounds.fetch_add(1, Relaxed);
        self.metrics.round_millis.store(
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            Relaxed,
        );
        info!(
            round = round.id,
            elapsed_s = elapsed.as_secs_f64(),
            "round finished"
        );
        match self.store.with(|s| s.duplicate_uuids()).await {
            Ok(dups) => {
                for d in dups {
                    warn!(gpu_uuid = %d.gpu_uuid, miners = ?d.hotkeys, "one GPU UUID claimed by several miners");
                }
            }
            Err(e) => {
                self.store_failed("read duplicate UUIDs", &e);
            }
        }
        self.weights(round_id, metagraph.as_ref()).await;
        true
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

    /// Submits (or, without a chain, records) the weights when they are due.
    async fn weights(&self, round_id: i64, metagraph: Option<&Metagraph>) {
        let (Some(client), Some(chain), Some(metagraph)) =
            (&self.chain, &self.config.chain, metagraph)
        else {
            let Some(standings) = self.standings().await else {
                return;
            };
            let outcome = plan_weights(&standings, &local_limits(&standings));
            self.record_submission(round_id, "local", outcome.map(|p| (p, None)))
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
        let Some(standings) = self.standings().await else {
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
                self.record_submission(round_id, "set-weights", Err(e))
                    .await;
                return;
            }
        };
        if plan.uids.is_empty() {
            info!("no miner has earned weight yet; nothing submitted");
            return;
        }
        let submitted = client
            .submit_weights(chain.netuid, &plan.uids, &plan.values, chain.version_key)
            .await;
        let (method, outcome) = match submitted {
            Ok(WeightsSubmitted::Set(s)) => (
                "set-weights",
                Ok((plan, Some(hex::encode(s.extrinsic_hash)))),
            ),
            Ok(WeightsSubmitted::CommittedV2 { submitted, pending }) => {
                self.keep_reveal(&pending).await;
                (
                    "commit-reveal-v2",
                    Ok((plan, Some(hex::encode(submitted.extrinsic_hash)))),
                )
            }
            Ok(WeightsSubmitted::Timelocked {
                reveal_round,
                reveal_block,
                ..
            }) => (
                "timelocked-v4",
                Ok((
                    plan,
                    Some(format!(
                        "drand round {reveal_round}, reveal block {reveal_block}"
                    )),
                )),
            ),
            Err(e) => ("submit", Err(e.to_string())),
        };
        let ok = outcome.is_ok();
        self.record_submission(round_id, method, outcome).await;
        if ok {
            let block = metagraph.block.to_string();
            if let Err(e) = self
                .store
                .with(move |s| s.set_meta(LAST_WEIGHTS_BLOCK, &block))
                .await
            {
                self.store_failed("record the weights block", &e);
            }
        }
    }

    /// Every standing, or `None` (logged and counted) when the store cannot be read.
    async fn standings(&self) -> Option<Vec<validator_store::StandingRow>> {
        match self.store.with(|s| s.standings()).await {
            Ok(s) => Some(s),
            Err(e) => {
                self.store_failed("read standings", &e);
                None
            }
        }
    }

    async fn record_submission<E: std::fmt::Display>(
        &self,
        round_id: i64,
        method: &str,
        outcome: Result<(WeightPlan, Option<String>), E>,
    ) {
        let ok = outcome.is_ok();
        self.metrics.count_submission(method, ok);
        let row = match outcome {
            Ok((plan, reference)) => {
                info!(method, uids = plan.uids.len(), "weights recorded");
                SubmissionRow {
                    id: 0,
                    at: now_unix(),
                    round_id,
                    method: method.to_string(),
                    uids: plan.uids,
                    values: plan.values,
                    outcome: "ok".into(),
                    reference,
                }
            }
            Err(e) => {
                warn!(method, error = %e, "weight submission failed");
                SubmissionRow {
                    id: 0,
                    at: now_unix(),
                    round_id,
                    method: method.to_string(),
                    uids: Vec::new(),
                    values: Vec::new(),
                    outcome: e.to_string(),
                    reference: None,
                }
            }
        };
        if let Err(e) = self.store.with(move |s| s.record_submission(&row)).await {
            self.store_failed("record a weight submission", &e);
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
                        warn!(%key, error = %e, "reveal failed; retrying next round");
                        self.metrics.count_submission("reveal-v2", false);
                        continue;
                    }
                }
                self.metrics.count_submission("reveal-v2", true);
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

/// Challenges one miner and records the outcome; true when recorded.
async fn challenge_and_record(
    ctx: &ClientContext,
    store: &SharedStore,
    table: &ClassTable,
    metrics: &Metrics,
    round_id: i64,
    miner: Miner,
) -> bool {
    let hotkey = miner.id.hotkey.clone();
    let (rented, prior) = match store
        .with(move |s| Ok((s.is_rented(&hotkey)?, s.standing(&hotkey)?)))
        .await
    {
        Ok(x) => x,
        Err(e) => {
            metrics.store_errors.fetch_add(1, Relaxed);
            error!(error = %e, "cannot read the miner's records");
            return false;
        }
    };
    let target = MinerTarget {
        addr: miner.addr,
        hotkey: Some(miner.hotkey),
        rented,
    };
    let report = challenge_miner(ctx, &target).await;
    let record = miner_record(
        round_id,
        &miner.id,
        &report,
        prior.as_ref(),
        table,
        now_unix(),
    );
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for v in &record.verdicts {
        let kind = v.verdict.clone().unwrap_or_else(|| "verifier-error".into());
        *counts.entry(kind).or_default() += 1;
    }
    let score = record.standing.score;
    match store.with(move |s| s.record_miner_round(&record)).await {
        Ok(_) => {
            for (kind, n) in &counts {
                metrics.count_verdicts(kind, *n);
            }
            metrics.miner_rounds.fetch_add(1, Relaxed);
            info!(miner = %miner.id.hotkey, uid = ?miner.id.uid, verdicts = ?counts, score, error = ?report.error, "miner recorded");
            true
        }
        Err(e) => {
            metrics.store_errors.fetch_add(1, Relaxed);
            error!(miner = %miner.id.hotkey, error = %e, "cannot record the miner's round");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
