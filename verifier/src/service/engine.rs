//! [`RoundEngine`]: the one round engine behind `verifier run` and `verifier localnet`.
//!
//! A round: the store's unfinished round is resumed (or a new one opened); every miner of the
//! challenge set not yet recorded in it is challenged ([`challenge_miner`]) with at most the
//! engine's slots at once; each miner's report becomes its verdict rows and new standing
//! ([`record::miner_record`]) in one store transaction; then the round is finished. The
//! weights that follow come from [`RoundEngine::eligible_standings`] through
//! [`super::weights::plan_weights`].
//!
//! What the two commands differ in is outside: where the miners come from (the metagraph or
//! a static list; localnet's own `miner-host` processes), where the weights go (the chain;
//! localnet's Yuma simulation) and the store's file (localnet: a temporary one).
//!
//! The rules of docs/design.md §No score without proof that live here:
//! - **Nothing one miner sends stops a round** (rule 3): a miner whose record the store
//!   refuses is recorded again as a `verifier-error` note with no score for the round
//!   ([`record::verifier_error_record`]), counted in the metrics; if even that fails, it is
//!   logged and counted, and the round still finishes for everyone else.
//! - **Standings expire** (rule 4): weights come only from standings of miners in this round's
//!   challenge set, refreshed by a challenge in the last `stale_rounds` rounds.
//! - **Rented machines** (rule 6) are challenged and scored only for the devices they last
//!   proved unrented (read from the store before the challenge).
//! - **`cpu-reference` earns nothing** unless `allow_cpu_reference` (rule 7): its class weight
//!   is 0 for scoring.
//! - **Receipts** (docs/design.md §Receipts and the catalogue): every verdict recorded gets a
//!   signed receipt in the same transaction (`crate::receipt`); a receipt that cannot be made
//!   or kept is our failure, logged and counted, and the round is recorded without it (never a
//!   lost verdict). After each finished round, pass receipts older than
//!   `receipt_retention_rounds` lose their bodies (their figures stay for the catalogue).
//! - **Bandwidth** (issue #24): each miner's probe may move at most its share of the round's
//!   probe budget each way, `probe_budget / (2 × miners in the challenge set)`
//!   ([`budget_share`]), so a validator facing many miners never probes more than its budget a
//!   round whatever their RTTs ask for; its round score is scaled by the link factor under
//!   `min_link_mbps` ([`record::RoundScoring`], [`crate::scoring::link_factor`]).
#![deny(clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use protocol::Hotkey;
use tokio::sync::{Semaphore, watch};
use tracing::{error, info, warn};
use validator_store::{
    ReceiptRecord, StandingRow, Store, StoreError, SubmissionMethod, SubmissionRow, Tallied,
};

use super::metrics::Metrics;
use super::now_unix;
use super::record::{self, MinerId};
use super::weights::WeightPlan;
use crate::classes::{ClassKind, ClassTable};
use crate::client::probe::budget_share;
use crate::client::{ClientContext, MinerReport, MinerTarget, ProvenDevice, challenge_miner};
use crate::receipt;
use crate::scoring::LinkRules;

/// One miner to challenge.
#[derive(Debug, Clone)]
pub struct Miner {
    /// Its hotkey (SS58) and UID.
    pub id: MinerId,
    /// Its hotkey, as the handshake must show it.
    pub hotkey: Hotkey,
    /// Where its `miner-host serve` listens.
    pub addr: SocketAddr,
}

/// The numbers the round rules take (`validator.toml` `[round]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundRules {
    /// Weights come only from standings refreshed in the last this many rounds (default 3).
    pub stale_rounds: u64,
    /// Whether `cpu-reference` devices may earn (local testing only; default false).
    pub allow_cpu_reference: bool,
    /// Pass receipts are kept for this many rounds (the round that wrote them and the ones
    /// after it); non-pass receipts always (default [`DEFAULT_RECEIPT_RETENTION_ROUNDS`]).
    pub receipt_retention_rounds: u64,
    /// The bandwidth floor (`[bandwidth] min_link_mbps`; default 100 Mbit/s).
    pub link: LinkRules,
    /// Bytes of probes a round may move, both ways, over all miners (`[bandwidth]
    /// probe_budget_mib`; default 4 GiB); `None`: no budget (each probe only capped by its
    /// own maximum).
    pub probe_budget: Option<u64>,
}

/// Rounds a pass receipt is kept by default: a day of the default 10-minute rounds.
pub const DEFAULT_RECEIPT_RETENTION_ROUNDS: u64 = 144;

impl Default for RoundRules {
    /// 3 stale rounds, `cpu-reference` earns nothing, pass receipts kept 144 rounds, a
    /// 100 Mbit/s floor, a 4 GiB probe budget.
    fn default() -> Self {
        Self {
            stale_rounds: 3,
            allow_cpu_reference: false,
            receipt_retention_rounds: DEFAULT_RECEIPT_RETENTION_ROUNDS,
            link: LinkRules::default(),
            probe_budget: Some(4096 << 20),
        }
    }
}

/// A store call that failed: the store's own error, or the call's thread died.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreCallError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store's thread failed: {0}")]
    Lost(String),
}

/// The store, shared by tasks; every call runs on a blocking thread.
#[derive(Clone)]
pub(crate) struct SharedStore(Arc<Mutex<Store>>);

impl SharedStore {
    pub(crate) fn new(store: Store) -> Self {
        Self(Arc::new(Mutex::new(store)))
    }

    pub(crate) async fn with<T: Send + 'static>(
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

/// Called once per miner recorded (localnet's progress bar).
pub type MinerDone = Arc<dyn Fn(&MinerId) + Send + Sync>;

/// One validator's rounds: its client, its store, its scoring rules.
#[derive(Clone)]
pub struct RoundEngine {
    pub(crate) store: SharedStore,
    ctx: Arc<ClientContext>,
    table: ClassTable,
    pub(crate) metrics: Arc<Metrics>,
    rules: RoundRules,
    slots: Arc<Semaphore>,
    on_miner: Option<MinerDone>,
}

/// How a round ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundEnd {
    /// Every miner of the challenge set is recorded and the round is closed.
    Finished {
        /// The round's id in the store.
        round_id: i64,
    },
    /// Cut short by a shutdown or a store failure; it is resumed at the next start.
    Unfinished,
}

impl RoundEngine {
    /// An engine over `store`, challenging through `ctx` with at most `slots` miners at once
    /// (a semaphore several engines may share), scoring by `table` and `rules`.
    pub fn new(
        store: Store,
        ctx: Arc<ClientContext>,
        table: ClassTable,
        metrics: Arc<Metrics>,
        rules: RoundRules,
        slots: Arc<Semaphore>,
    ) -> Self {
        Self {
            store: SharedStore::new(store),
            ctx,
            table,
            metrics,
            rules,
            slots,
            on_miner: None,
        }
    }

    /// Calls `f` each time a miner's round is recorded.
    pub fn on_miner_done(mut self, f: MinerDone) -> Self {
        self.on_miner = Some(f);
        self
    }

    /// The rules it scores by.
    pub fn rules(&self) -> RoundRules {
        self.rules
    }

    /// The weight a claimed class earns here: the table's, but 0 for `cpu-reference` unless
    /// allowed, and 0 for a name that maps to no class.
    pub fn class_weight(&self, class: Option<&str>) -> f64 {
        let Some(class) = class.and_then(|c| self.table.get(c)) else {
            return 0.0;
        };
        if class.kind() == ClassKind::Cpu && !self.rules.allow_cpu_reference {
            return 0.0;
        }
        class.weight().max(0.0)
    }

    /// One round over `miners`: resumes the unfinished round or opens one, challenges every
    /// miner not yet recorded in it, records each, and finishes it. Stops starting miners when
    /// `shutdown` turns true (those in flight finish and are recorded).
    pub async fn round(&self, miners: &[Miner], shutdown: &mut watch::Receiver<bool>) -> RoundEnd {
        let round_started = Instant::now();
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

        let todo_count = todo.len();
        // Each miner's share of the round's probe budget, each way (the whole challenge set
        // counts, so a resumed round never exceeds it either).
        let probe_share = self
            .rules
            .probe_budget
            .map(|budget| budget_share(budget, miners.len()));
        let mut tasks = tokio::task::JoinSet::new();
        let mut cut_short = false;
        for miner in todo {
            let permit = tokio::select! {
                p = Arc::clone(&self.slots).acquire_owned() => p,
                _ = shutdown.changed() => { cut_short = true; break; }
            };
            if *shutdown.borrow() {
                cut_short = true;
                break;
            }
            let Ok(permit) = permit else { break };
            let engine = self.clone();
            tasks.spawn(async move {
                let _permit = permit;
                engine
                    .challenge_and_record(round_id, miner, probe_share)
                    .await
            });
        }
        let mut verdicts: BTreeMap<Tallied, u64> = BTreeMap::new();
        let mut recorded = miners.len() - todo_count;
        while let Some(result) = tasks.join_next().await {
            match result {
                Ok(counts) => {
                    recorded += usize::from(!counts.is_empty());
                    for (kind, n) in counts {
                        *verdicts.entry(kind).or_default() += n;
                    }
                }
                Err(e) => {
                    // A task that panicked: its miner is not recorded this round; the round still
                    // finishes for everyone else (rule 3).
                    self.metrics.store_errors.fetch_add(1, Relaxed);
                    error!(error = %e, "a miner's task failed; it is not recorded this round");
                }
            }
        }
        if cut_short {
            info!(
                round = round.id,
                "round left unfinished (shutdown); it resumes at the next start"
            );
            return RoundEnd::Unfinished;
        }
        if let Err(e) = self
            .store
            .with(move |s| s.finish_round(round_id, now_unix()))
            .await
        {
            return self.store_failed("finish the round", &e);
        }
        self.prune_receipts(round_id).await;
        let elapsed = round_started.elapsed();
        self.metrics.rounds.fetch_add(1, Relaxed);
        self.metrics.round_millis.store(
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            Relaxed,
        );
        let summary: Vec<String> = verdicts.iter().map(|(k, n)| format!("{k}:{n}")).collect();
        info!(
            round = round.id,
            miners = format!("{recorded}/{}", miners.len()),
            verdicts = %summary.join(" "),
            elapsed_s = format!("{:.1}", elapsed.as_secs_f64()),
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
        RoundEnd::Finished { round_id }
    }

    /// Drops the bodies of pass receipts older than `receipt_retention_rounds` rounds before
    /// `round_id` (their figures stay); a failure is logged and counted, never fatal.
    async fn prune_receipts(&self, round_id: i64) {
        let keep = i64::try_from(self.rules.receipt_retention_rounds).unwrap_or(i64::MAX);
        let before = round_id.saturating_sub(keep).saturating_add(1);
        match self
            .store
            .with(move |s| s.prune_pass_receipts(before))
            .await
        {
            Ok(0) => {}
            Ok(n) => info!(pruned = n, before_round = before, "pass receipts pruned"),
            Err(e) => {
                self.store_failed("prune pass receipts", &e);
            }
        }
    }

    /// The class table the engine scores and judges by.
    pub fn table(&self) -> &ClassTable {
        &self.table
    }

    /// The client context (identity, planner, options) rounds run with.
    pub fn context(&self) -> &Arc<ClientContext> {
        &self.ctx
    }

    /// The standings weights may come from after round `round_id` over `miners`: those of
    /// miners in the challenge set, refreshed in the last `stale_rounds` rounds (rule 4).
    /// `None` (logged and counted) when the store cannot be read.
    pub async fn eligible_standings(
        &self,
        round_id: i64,
        miners: &[Miner],
    ) -> Option<Vec<StandingRow>> {
        match self.store.with(|s| s.standings()).await {
            Ok(all) => {
                let set: BTreeSet<&str> = miners.iter().map(|m| m.id.hotkey.as_str()).collect();
                Some(eligible(all, round_id, self.rules.stale_rounds, &set))
            }
            Err(e) => {
                self.store_failed("read standings", &e);
                None
            }
        }
    }

    /// Records a weight submission (or its failure) under `method`, counted in the metrics.
    pub async fn record_submission<E: std::fmt::Display>(
        &self,
        round_id: i64,
        method: SubmissionMethod,
        outcome: Result<(WeightPlan, Option<String>), E>,
    ) {
        match outcome {
            Ok((plan, reference)) => {
                self.metrics.count_submission(method, true);
                info!(%method, uids = plan.uids.len(), "weights recorded");
                self.insert_submission(SubmissionRow {
                    id: 0,
                    at: now_unix(),
                    round_id,
                    method,
                    uids: plan.uids,
                    values: plan.values,
                    outcome: "ok".into(),
                    reference,
                    refusal: None,
                })
                .await;
            }
            Err(e) => {
                self.record_failure(round_id, method, &e.to_string(), None)
                    .await;
            }
        }
    }

    /// Records a failed (or withheld) weight submission under `method`: the error in words and,
    /// when the chain refused the weights or would have (`refusal`), the runtime error's name
    /// (`SubtensorModule::SettingWeightsTooFast`), in the log and the store.
    pub async fn record_failure(
        &self,
        round_id: i64,
        method: SubmissionMethod,
        message: &str,
        refusal: Option<&str>,
    ) {
        self.metrics.count_submission(method, false);
        match refusal {
            Some(refusal) => warn!(%method, refusal, error = message, "weights refused"),
            None => warn!(%method, error = message, "weight submission failed"),
        }
        self.insert_submission(SubmissionRow {
            id: 0,
            at: now_unix(),
            round_id,
            method,
            uids: Vec::new(),
            values: Vec::new(),
            outcome: message.to_owned(),
            reference: None,
            refusal: refusal.map(str::to_owned),
        })
        .await;
    }

    async fn insert_submission(&self, row: SubmissionRow) {
        if let Err(e) = self.store.with(move |s| s.record_submission(&row)).await {
            self.store_failed("record a weight submission", &e);
        }
    }

    fn store_failed(&self, what: &str, e: &StoreCallError) -> RoundEnd {
        self.metrics.store_errors.fetch_add(1, Relaxed);
        error!(error = %e, "cannot {what} in the store");
        RoundEnd::Unfinished
    }

    /// Challenges one miner and records the outcome. A failure to record is recorded as a
    /// verifier error for the miner; if that fails too, it is logged and counted.
    /// Challenges `miner` and records its round; the verdict counts recorded (empty when
    /// nothing could be recorded).
    async fn challenge_and_record(
        &self,
        round_id: i64,
        miner: Miner,
        probe_share: Option<u64>,
    ) -> BTreeMap<Tallied, u64> {
        let hotkey = miner.id.hotkey.clone();
        let read = self
            .store
            .with(move |s| {
                let rented = s.is_rented(&hotkey)?;
                let proven = if rented {
                    s.proven_devices(&hotkey)?
                } else {
                    Vec::new()
                };
                Ok((rented, s.standing(&hotkey)?, proven))
            })
            .await;
        let (rented, prior, proven) = match read {
            Ok(x) => x,
            Err(e) => {
                self.metrics.store_errors.fetch_add(1, Relaxed);
                error!(miner = %miner.id.hotkey, error = %e, "cannot read the miner's records");
                return self
                    .record_verifier_error(round_id, &miner, None, &e.to_string())
                    .await;
            }
        };
        let target = MinerTarget {
            addr: miner.addr,
            hotkey: Some(miner.hotkey),
            rented,
            proven_only: rented.then(|| {
                proven
                    .into_iter()
                    .map(|p| ProvenDevice {
                        index: p.device_index,
                        name: p.gpu_name,
                        uuid: p.gpu_uuid,
                        memory_bytes: p.memory_bytes,
                    })
                    .collect()
            }),
            probe_share,
        };
        let report = challenge_miner(&self.ctx, &target).await;
        let mut record = {
            let weight = |class: Option<&str>| self.class_weight(class);
            let scoring = record::RoundScoring {
                class_weight: &weight,
                rented,
                link: self.rules.link,
            };
            record::miner_record(
                round_id,
                &miner.id,
                &report,
                prior.as_ref(),
                &scoring,
                now_unix(),
            )
        };
        // Without its receipts, in case the store refuses them: the verdicts are kept then.
        let bare = record.clone();
        record.receipts = self.receipts(&miner, &report);
        let with_receipts = !record.receipts.is_empty();
        let counts = verdict_counts(&record);
        let score = record.standing.score;
        let mut stored = self
            .store
            .with(move |s| s.record_miner_round(&record))
            .await;
        if let (Err(e), true) = (&stored, with_receipts) {
            self.metrics.store_errors.fetch_add(1, Relaxed);
            error!(miner = %miner.id.hotkey, error = %e, "cannot record the round with its receipts; recording it without them");
            stored = self.store.with(move |s| s.record_miner_round(&bare)).await;
        }
        match stored {
            Ok(_) => {
                for (kind, n) in &counts {
                    self.metrics.count_verdicts(*kind, *n);
                }
                self.metrics.miner_rounds.fetch_add(1, Relaxed);
                info!(miner = %miner.id.hotkey, uid = ?miner.id.uid, verdicts = ?counts, score, error = ?report.error, "miner recorded");
                self.done(&miner.id);
                counts
            }
            Err(e) => {
                self.metrics.store_errors.fetch_add(1, Relaxed);
                error!(miner = %miner.id.hotkey, error = %e, "cannot record the miner's round; recording a verifier error instead");
                self.record_verifier_error(round_id, &miner, Some(&report), &e.to_string())
                    .await
            }
        }
    }

    /// The receipts of `report`'s verdicts; a failure to make them (ours, never the miner's)
    /// is logged and counted, and the round is recorded without them.
    fn receipts(&self, miner: &Miner, report: &MinerReport) -> Vec<ReceiptRecord> {
        let signer = receipt::Signer {
            identity: &self.ctx.identity,
            class_table: self.table.hash(),
        };
        match receipt::receipts_for(report, miner.hotkey, &signer) {
            Ok(made) => made
                .into_iter()
                .map(|m| ReceiptRecord {
                    device_index: m.device_index,
                    module: m.module,
                    receipt_id: m.id.to_string(),
                    bytes: m.bytes,
                    figures: m.figures,
                })
                .collect(),
            Err(e) => {
                self.metrics.store_errors.fetch_add(1, Relaxed);
                error!(miner = %miner.id.hotkey, error = %e, "cannot make the round's receipts; recording it without them");
                Vec::new()
            }
        }
    }

    /// Records a verifier error for `miner`; its verdict counts (`verifier-error`: 1), empty
    /// when even that could not be recorded.
    async fn record_verifier_error(
        &self,
        round_id: i64,
        miner: &Miner,
        report: Option<&MinerReport>,
        reason: &str,
    ) -> BTreeMap<Tallied, u64> {
        let id = miner.id.clone();
        let addr = report.map_or(miner.addr, |r| r.addr).to_string();
        let reason = reason.to_string();
        let fallback = self
            .store
            .with(move |s| {
                let prior = s.standing(&id.hotkey).ok().flatten();
                let record = record::verifier_error_record(
                    round_id,
                    &id,
                    &addr,
                    prior.as_ref(),
                    &reason,
                    now_unix(),
                );
                s.record_miner_round(&record)
            })
            .await;
        let counts = match fallback {
            Ok(_) => {
                self.metrics.count_verdicts(Tallied::VerifierError, 1);
                self.metrics.miner_rounds.fetch_add(1, Relaxed);
                BTreeMap::from([(Tallied::VerifierError, 1)])
            }
            Err(e) => {
                self.metrics.store_errors.fetch_add(1, Relaxed);
                error!(miner = %miner.id.hotkey, error = %e, "cannot record even a verifier error for the miner; it is skipped this round");
                BTreeMap::new()
            }
        };
        self.done(&miner.id);
        counts
    }

    fn done(&self, miner: &MinerId) {
        if let Some(f) = &self.on_miner {
            f(miner);
        }
    }
}

/// Verdict counts by kind of one record (a verifier error counted as `verifier-error`).
fn verdict_counts(record: &validator_store::MinerRoundRecord) -> BTreeMap<Tallied, u64> {
    let mut counts: BTreeMap<Tallied, u64> = BTreeMap::new();
    for v in &record.verdicts {
        *counts.entry(Tallied::from(v.verdict)).or_default() += 1;
    }
    counts
}

/// The standings of `all` that weights may come from after round `round_id`: miners in the
/// challenge set `set`, refreshed within the last `stale_rounds` rounds (`round_id` and the
/// `stale_rounds − 1` before it). Pure.
pub fn eligible(
    all: Vec<StandingRow>,
    round_id: i64,
    stale_rounds: u64,
    set: &BTreeSet<&str>,
) -> Vec<StandingRow> {
    let window = i64::try_from(stale_rounds).unwrap_or(i64::MAX);
    all.into_iter()
        .filter(|s| set.contains(s.hotkey.as_str()))
        .filter(|s| s.round_id.saturating_add(window) > round_id)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn standing(hotkey: &str, round_id: i64) -> StandingRow {
        StandingRow {
            hotkey: hotkey.into(),
            uid: Some(1),
            reliability: 1.0,
            round_score: 1.0,
            score: 1.0,
            round_id,
            up_mbit: None,
            down_mbit: None,
            link_factor: None,
        }
    }

    #[test]
    fn standings_expire_and_leave_with_the_challenge_set() {
        let all = vec![
            standing("fresh", 10),
            standing("two-ago", 8),
            standing("three-ago", 7),
            standing("gone", 10),
        ];
        let set: BTreeSet<&str> = ["fresh", "two-ago", "three-ago"].into_iter().collect();
        let kept: Vec<String> = eligible(all, 10, 3, &set)
            .into_iter()
            .map(|s| s.hotkey)
            .collect();
        // Rounds 8, 9 and 10 are the last three; "gone" left the challenge set.
        assert_eq!(kept, vec!["fresh".to_string(), "two-ago".to_string()]);
    }
}
