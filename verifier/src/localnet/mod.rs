//! `verifier localnet`: the whole system on one machine, with no GPU and no chain.
//!
//! Starts `miners` real `miner-host serve` processes on loopback ([`miners`]), each with one
//! `cpu-reference` device; `cheaters` of them cheat, with kinds from [`CHEATER_KINDS`] chosen
//! reproducibly from `seed`. `validators` verifiers (hotkeys `//LocalValidator<i>`, each with its
//! own QUIC endpoint, session key and temporary SQLite store) run `rounds` rounds over QUIC
//! against every miner through the same [`RoundEngine`] as `verifier run` — the same round,
//! the same `MinerReport → standing` scoring, the same expiry of standings and the same weight
//! processing ([`plan_weights`] under the chain's `min_allowed_weights` and `max_weight_limit`)
//! — and a local chain simulation (the `chain` crate's Yuma Consensus, one epoch per round,
//! validators staked equally) turns the weights into incentive. What differs from
//! `verifier run` is only where miners come from (these processes), where weights go (the
//! simulation), the store's file (temporary), and `allow_cpu_reference = true`.
//!
//! A `rented-inflate` cheater is marked rented in every validator's store after the first
//! round (the marketplace's records), so its inflated inventory meets docs/design.md §No score
//! without proof, rule 6.
//!
//! **Cores.** Miners and verifiers share this machine: each miner device is one thread, the
//! `cpu-reference` class is calibrated on one thread before the first round, and at most
//! `max(1, cores / 2)` rounds run at once, so a computing miner has a core and the verifiers'
//! checks have the rest. The report says how it was capped.

pub mod miners;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chain::scenario::{Scenario, ScenarioEpoch, ScenarioHyperparameters, SetWeights};
use chain::weights::WeightLimits;
use protocol::Role;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use transport::identity::{DEFAULT_CERTIFICATE_VALIDITY, load_hotkey, ss58};
use transport::{Identity, KeySource};
use validator_store::{Store, Tallied};

use crate::classes::ClassTable;
use crate::client::{ChallengeOptions, ClientContext};
use crate::planner::ClassPlanner;
use crate::service::engine::{Miner, RoundEnd, RoundEngine, RoundRules};
use crate::service::metrics::Metrics;
use crate::service::record::MinerId;
use crate::service::weights::{WeightPlan, plan_weights};
use crate::session::SandboxChecker;
pub use miners::{
    LocalnetError, MinerProcess, OPT_LEVEL, check_same_build, find_miner_host, start_miner,
    start_miner_with,
};

/// Cheating kinds the local network assigns (`miner-host serve --adversary`), each of which
/// should earn nothing (or, for `rented-inflate` and `go-dark`, no more than it proved):
/// skipped leaves (half, or a quarter: caught with probability `1 − 0.75^32` per challenge),
/// forged signatures, replayed commitments, a slow device, hanging up on `Open`, garbage
/// frames, an oversized frame, silence after the handshake, dropping mid-opening, a faster
/// class claimed, two inventory entries with one index, an empty inventory, names no class
/// knows, going dark after one round, stalling the last module, a device busy forever, and
/// more devices claimed once rented. `go-dark` and `stall-last-module` take their arguments
/// from the run (`go-dark:<validators>`: it serves the first round of every validator;
/// `stall-last-module:<ready timeout − 1 s>`).
///
/// Left out: a single wrong tile (among the hundreds of leaves of a sized challenge, 32
/// openings find it rarely; that adversary is tested with a challenge of 4 leaves in `tests/`)
/// and `serial` (with one device it computes honestly).
pub const CHEATER_KINDS: [&str; 17] = [
    "skip:0.25",
    "skip:0.5",
    "forge",
    "replay",
    "slow:6",
    "hang-up",
    "garbage",
    "oversized",
    "silent",
    "drop-mid-opening",
    "claim:NVIDIA H100 80GB HBM3",
    "duplicate-index",
    "empty-inventory",
    "unknown-names",
    "go-dark",
    "stall-last-module",
    "busy-forever",
];

/// The kind the local network marks rented after round 1 (the 18th kind, drawn like the
/// others: see [`choose_cheaters`]).
pub const RENTED_INFLATE: &str = "rented-inflate";

/// Longest wait for `Ready` in a local network's rounds (short, so that a stalling cheater
/// costs seconds, not a minute).
pub const LOCALNET_READY_TIMEOUT: Duration = Duration::from_secs(5);

/// The whole round against one miner in a local network.
pub const LOCALNET_MINER_TIMEOUT: Duration = Duration::from_secs(12);

/// What to run.
#[derive(Debug, Clone)]
pub struct LocalnetOptions {
    /// Miners started.
    pub miners: usize,
    /// How many of them cheat.
    pub cheaters: usize,
    /// Rounds (one chain epoch each).
    pub rounds: usize,
    /// Validators.
    pub validators: usize,
    /// Seed of the cheater choice.
    pub seed: u64,
    /// The `miner-host` binary (default: next to this executable, built if missing).
    pub miner_host: Option<std::path::PathBuf>,
    /// The most MiB a probe moves each way (0: none); within it each probe sizes itself from
    /// the miner's RTT (on loopback: 1 MiB). No round budget applies.
    pub probe_mib: u64,
    /// The bandwidth floor, Mbit/s (0: bandwidth not scored).
    pub min_link_mbps: f64,
    /// The simulated subnet's `MinAllowedWeights`.
    pub min_allowed_weights: usize,
    /// The simulated subnet's `MaxWeightsLimit`, as a fraction.
    pub max_weight_limit: f64,
    /// Write every validator's receipts here after the rounds (`validator<i>/` each).
    pub receipts: Option<std::path::PathBuf>,
    /// Serve the first validator's catalogue here after the rounds ([`LocalnetRun::catalogue`]
    /// keeps it up until dropped).
    pub catalogue: Option<std::net::SocketAddr>,
}

impl Default for LocalnetOptions {
    /// 8 miners, 2 cheaters, 3 rounds, 2 validators, seed 1, probes of at most 1 MiB under a
    /// 100 Mbit/s floor, at least 1 weight and at most 1.0 of the total per miner (the limits a
    /// fresh local subnet has).
    fn default() -> Self {
        Self {
            miners: 8,
            cheaters: 2,
            rounds: 3,
            validators: 2,
            seed: 1,
            miner_host: None,
            probe_mib: 1,
            min_link_mbps: 100.0,
            min_allowed_weights: 1,
            max_weight_limit: 1.0,
            receipts: None,
            catalogue: None,
        }
    }
}

/// One miner's line of the report (the `--json` shape of issue #7).
#[derive(Debug, Clone, Serialize)]
pub struct MinerRow {
    /// Its uid on the simulated subnet (validators take uids `0..validators`).
    pub uid: u16,
    /// The class its devices claim.
    pub claimed_class: String,
    /// Its cheating kind, or null.
    pub adversary: Option<String>,
    /// Verdict counts by kind, over every validator and round.
    pub verdicts: BTreeMap<Tallied, u64>,
    /// Mean over validators of its final score.
    pub score: f64,
    /// Mean over validators of its last round's link factor (bandwidth under the floor).
    pub link_factor: f64,
    /// Mean over validators of its upload EMA, Mbit/s (0 when never measured).
    pub up_mbit: f64,
    /// Mean over validators of its download EMA, Mbit/s (0 when never measured).
    pub down_mbit: f64,
    /// Mean over validators of the weight they set for it in the last round (fractions of
    /// each validator's u16 weights).
    pub weight: f64,
    /// Its incentive in the last epoch, as a fraction.
    pub incentive: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct LocalnetReport {
    /// One row per miner, by uid.
    pub miners: Vec<MinerRow>,
    /// Rounds run.
    pub rounds: usize,
    /// Wall time, s.
    pub elapsed_s: f64,
    /// How concurrency was capped, for a person.
    pub concurrency: String,
    /// Receipts written with `--receipts` (all validators).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipts_written: Option<usize>,
}

/// A finished local network: its report, and the catalogue still served when asked for.
pub struct LocalnetRun {
    /// The report.
    pub report: LocalnetReport,
    /// The first validator's catalogue, served until this is dropped.
    pub catalogue: Option<ServedCatalogue>,
}

/// A catalogue served over a local network's store (kept, with its directory, until dropped).
pub struct ServedCatalogue {
    /// Where it is served.
    pub addr: std::net::SocketAddr,
    /// The store it serves (validator 0's, in the run's temporary directory).
    pub store: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
    _dir: TempDir,
}

impl Drop for ServedCatalogue {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A progress event.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The `cpu-reference` class is being calibrated on this machine.
    Calibrating,
    /// `miners` miner-host processes are being started.
    StartingMiners {
        /// How many.
        miners: usize,
    },
    /// Round `round` (0-based) begins for every validator.
    RoundStarted {
        /// The round.
        round: usize,
    },
    /// Miners are up.
    Started {
        /// Rounds against miners to run in all (rounds × validators × miners).
        total: usize,
    },
    /// One validator finished one round against one miner.
    RoundDone {
        /// The round.
        round: usize,
    },
}

/// Picks which miners cheat and how, reproducibly: `(miner index, kind)`, the kinds drawn in
/// turn from [`CHEATER_KINDS`] and [`RENTED_INFLATE`] from a seeded offset (so `cheaters` ≥ 18
/// uses every kind).
pub fn choose_cheaters(miners: usize, cheaters: usize, seed: u64) -> Vec<(usize, &'static str)> {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..miners).collect();
    for i in (1..order.len()).rev() {
        let j = usize::try_from(next() % (i as u64 + 1)).unwrap_or(0);
        order.swap(i, j);
    }
    let kinds = CHEATER_KINDS.len() + 1;
    let offset = usize::try_from(next() % kinds as u64).unwrap_or(0);
    let mut chosen: Vec<(usize, &'static str)> = order
        .into_iter()
        .take(cheaters.min(miners))
        .enumerate()
        .map(|(k, miner)| {
            let kind = CHEATER_KINDS
                .get((offset + k) % kinds)
                .copied()
                .unwrap_or(RENTED_INFLATE);
            (miner, kind)
        })
        .collect();
    chosen.sort_unstable();
    chosen
}

/// Runs the local network. Must be called inside a tokio runtime.
pub async fn run_localnet(
    options: &LocalnetOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<LocalnetRun, LocalnetError> {
    let started = Instant::now();
    if options.miners == 0 || options.validators == 0 || options.rounds == 0 {
        return Err(LocalnetError::EmptyNetwork);
    }
    let n = options
        .miners
        .checked_add(options.validators)
        .filter(|n| *n <= usize::from(u16::MAX))
        .ok_or(LocalnetError::TooManyNeurons {
            neurons: options.miners.saturating_add(options.validators),
        })?;
    let binary = find_miner_host(options.miner_host.as_deref())?;
    check_same_build(&binary)?;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let concurrent = (cores / 2).max(1);

    // Validators: identities, endpoints, one calibrated planner shared by all.
    let mut identities = Vec::new();
    for v in 0..options.validators {
        let hotkey = load_hotkey(&KeySource::Uri(format!("//LocalValidator{v}")))
            .map_err(LocalnetError::Validator)?;
        identities.push(Identity::issue(
            transport::identity::generate_key().map_err(LocalnetError::Validator)?,
            &hotkey,
            Role::Validator,
            DEFAULT_CERTIFICATE_VALIDITY,
        ));
    }
    let validator_hotkeys: Vec<_> = identities.iter().map(Identity::hotkey).collect();
    let mut planner = ClassPlanner::new(ClassTable::embedded().map_err(LocalnetError::Classes)?);
    progress(Progress::Calibrating);
    planner
        .calibrate_cpu()
        .map_err(LocalnetError::Calibration)?;
    let table = planner.table().clone();
    let planner = Arc::new(planner);
    let checker = Arc::new(SandboxChecker::with_builtins()?);

    // Miners.
    let dir = tempdir()?;
    let cheaters = choose_cheaters(options.miners, options.cheaters, options.seed);
    let mut processes = Vec::new();
    progress(Progress::StartingMiners {
        miners: options.miners,
    });
    for index in 0..options.miners {
        let kind = cheaters
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, k)| adversary_argument(k, options.validators));
        processes.push(start_miner(
            &binary,
            dir.path(),
            index,
            kind.as_deref(),
            &validator_hotkeys,
        )?);
    }
    let miners: Vec<Miner> = processes
        .iter()
        .map(|p| Miner {
            id: MinerId {
                hotkey: ss58(&p.hotkey),
                uid: Some(u16::try_from(options.validators + p.index).unwrap_or(u16::MAX)),
            },
            hotkey: p.hotkey,
            addr: p.addr,
        })
        .collect();
    progress(Progress::Started {
        total: options.rounds * options.validators * options.miners,
    });

    // One round engine per validator, each with its own store; one set of slots for all.
    let slots = Arc::new(Semaphore::new(concurrent));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let rules = RoundRules {
        allow_cpu_reference: true,
        receipt_retention_rounds: u64::MAX,
        link: crate::scoring::LinkRules {
            floor_mbit: options.min_link_mbps,
        },
        probe_budget: None,
        ..RoundRules::default()
    };
    let mut engines = Vec::new();
    for (v, identity) in identities.into_iter().enumerate() {
        let family = processes
            .first()
            .map_or(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), |p| p.addr);
        let ctx = Arc::new(
            ClientContext::new(
                identity,
                Arc::clone(&checker),
                Arc::clone(&planner) as Arc<dyn crate::client::Planner>,
                ChallengeOptions {
                    probe: crate::client::ProbeSettings {
                        floor_mbit: options.min_link_mbps,
                        max_bytes: options.probe_mib.saturating_mul(1 << 20),
                        ..crate::client::ProbeSettings::default()
                    },
                    miner_timeout: LOCALNET_MINER_TIMEOUT,
                    ready_timeout: LOCALNET_READY_TIMEOUT,
                    ..ChallengeOptions::default()
                },
                family,
            )
            .map_err(LocalnetError::Validator)?,
        );
        let path = dir.path().join(format!("validator{v}.sqlite"));
        let store = Store::open(&path).map_err(|e| LocalnetError::Store {
            validator: v,
            reason: e.to_string(),
        })?;
        let tx = done_tx.clone();
        engines.push(
            RoundEngine::new(
                store,
                ctx,
                table.clone(),
                Arc::new(Metrics::default()),
                rules,
                Arc::clone(&slots),
            )
            .on_miner_done(Arc::new(move |_| {
                let _ = tx.send(());
            })),
        );
    }
    drop(done_tx);

    let limits = WeightLimits {
        num_neurons: n,
        min_allowed_weights: options.min_allowed_weights,
        max_weight_limit: options.max_weight_limit,
        exclude_quantile: 0,
    };
    // The sender lives to the end of the run: a local network is never shut down mid-round.
    let (_never, no_shutdown) = watch::channel(false);
    let mut epochs = Vec::new();
    let mut last_weights = vec![vec![0.0; options.miners]; options.validators];
    for round in 0..options.rounds {
        if round == 1 {
            mark_rented(&engines, &miners, &processes).await?;
        }
        progress(Progress::RoundStarted { round });
        let ends = {
            let handles: Vec<_> = engines
                .iter()
                .map(|e| {
                    let (engine, miners, mut shutdown) =
                        (e.clone(), miners.clone(), no_shutdown.clone());
                    tokio::spawn(async move { engine.round(&miners, &mut shutdown).await })
                })
                .collect();
            // In the engines' order; a task that failed is an unfinished round.
            let rounds = async {
                let mut ends = Vec::with_capacity(handles.len());
                for handle in handles {
                    ends.push(handle.await.unwrap_or(RoundEnd::Unfinished));
                }
                ends
            };
            tokio::pin!(rounds);
            loop {
                tokio::select! {
                    ends = &mut rounds => break ends,
                    Some(()) = done_rx.recv() => progress(Progress::RoundDone { round }),
                }
            }
        };
        while done_rx.try_recv().is_ok() {
            progress(Progress::RoundDone { round });
        }
        let mut set_weights = Vec::new();
        for (v, (engine, end)) in engines.iter().zip(ends).enumerate() {
            let RoundEnd::Finished { round_id } = end else {
                return Err(LocalnetError::RoundUnfinished {
                    validator: v,
                    round: round.saturating_add(1),
                });
            };
            let standings = engine
                .eligible_standings(round_id, &miners)
                .await
                .ok_or(LocalnetError::Standings { validator: v })?;
            let plan = plan_weights(&standings, &limits);
            engine
                .record_submission(
                    round_id,
                    validator_store::SubmissionMethod::Local,
                    plan.clone().map(|p| (p, None::<String>)),
                )
                .await;
            let plan = plan.map_err(|source| LocalnetError::Weights {
                validator: v,
                source,
            })?;
            if let Some(slot) = last_weights.get_mut(v) {
                *slot = weight_fractions(&plan, &miners);
            }
            if !plan.uids.is_empty() {
                set_weights.push(SetWeights {
                    uid: u16::try_from(v).unwrap_or(u16::MAX),
                    dests: plan.uids,
                    weights: plan.values,
                });
            }
        }
        epochs.push(ScenarioEpoch { set_weights });
    }

    // The chain: validators staked equally, one epoch per round.
    let mut stakes = vec![0u64; n];
    for stake in stakes.iter_mut().take(options.validators) {
        *stake = 1_000_000_000;
    }
    let scenario = Scenario {
        n: u16::try_from(n).unwrap_or(u16::MAX),
        stakes,
        emission: 1_000_000_000,
        hyperparameters: ScenarioHyperparameters::default(),
        epochs,
    };
    let result = scenario.run()?;
    let incentive = result
        .epochs
        .last()
        .map(|e| e.incentive.clone())
        .unwrap_or_default();
    let vcount = options.validators as f64;
    let mut rows = Vec::new();
    for (m, miner) in miners.iter().enumerate() {
        let uid = miner.id.uid.unwrap_or(u16::MAX);
        let mut verdicts = BTreeMap::new();
        let mut score = 0.0;
        let (mut link_factor, mut up_mbit, mut down_mbit) = (0.0, 0.0, 0.0);
        let mut claimed_class = String::from("unknown");
        for (v, engine) in engines.iter().enumerate() {
            let hotkey = miner.id.hotkey.clone();
            let (counts, standing, class) = engine
                .store
                .with(move |s| {
                    let class = s
                        .verdicts(None)?
                        .into_iter()
                        .rev()
                        .find(|v| v.hotkey == hotkey)
                        .and_then(|v| v.record.claimed_class);
                    Ok((s.verdict_counts(&hotkey)?, s.standing(&hotkey)?, class))
                })
                .await
                .map_err(|e| LocalnetError::Store {
                    validator: v,
                    reason: e.to_string(),
                })?;
            for (k, c) in counts {
                *verdicts.entry(k).or_default() += c;
            }
            if let Some(s) = &standing {
                score += s.score;
                link_factor += s.link_factor.unwrap_or(0.0);
                up_mbit += s.up_mbit.unwrap_or(0.0);
                down_mbit += s.down_mbit.unwrap_or(0.0);
            }
            if let Some(class) = class {
                claimed_class = class;
            }
        }
        rows.push(MinerRow {
            uid,
            claimed_class,
            adversary: processes.get(m).and_then(|p| p.adversary.clone()),
            verdicts,
            score: score / vcount,
            link_factor: link_factor / vcount,
            up_mbit: up_mbit / vcount,
            down_mbit: down_mbit / vcount,
            weight: last_weights.iter().filter_map(|w| w.get(m)).sum::<f64>() / vcount,
            incentive: incentive
                .get(usize::from(uid))
                .map_or(0.0, |i| f64::from(*i) / f64::from(u16::MAX)),
        });
    }
    drop(processes);
    let receipts_written = match &options.receipts {
        Some(out) => Some(write_receipts(&engines, out).await?),
        None => None,
    };
    let report = LocalnetReport {
        miners: rows,
        rounds: options.rounds,
        elapsed_s: started.elapsed().as_secs_f64(),
        concurrency: format!(
            "{concurrent} miner round(s) at once on {cores} core(s): each miner device is one \
             thread, cpu-reference calibrated on one thread"
        ),
        receipts_written,
    };
    let catalogue = match options.catalogue {
        Some(addr) => {
            let store = dir.path().join("validator0.sqlite");
            let (bound, task) =
                crate::catalogue::start(addr, store.clone())
                    .await
                    .map_err(|e| LocalnetError::Catalogue {
                        addr,
                        reason: e.to_string(),
                    })?;
            Some(ServedCatalogue {
                addr: bound,
                store,
                task,
                _dir: dir,
            })
        }
        None => None,
    };
    Ok(LocalnetRun { report, catalogue })
}

/// Writes every validator's receipts into `out/validator<i>/`; how many in all.
async fn write_receipts(
    engines: &[RoundEngine],
    out: &std::path::Path,
) -> Result<usize, LocalnetError> {
    let mut written = 0;
    for (v, engine) in engines.iter().enumerate() {
        let dir = out.join(format!("validator{v}"));
        let target = dir.clone();
        let n = engine
            .store
            .with(move |s| {
                crate::receipt::export_all(s, &target).map_err(|e| match e {
                    crate::receipt::ExportError::Store(e) => e,
                    other => validator_store::StoreError::Unusable {
                        path: target.clone(),
                        reason: other.to_string(),
                    },
                })
            })
            .await
            .map_err(|e| LocalnetError::Receipts {
                dir: dir.clone(),
                reason: e.to_string(),
            })?;
        written += n;
    }
    Ok(written)
}

/// The `--adversary` argument of a chosen kind: `go-dark` serves one round of each of the
/// `validators`, `stall-last-module` stalls to 1 s under the local ready timeout.
pub fn adversary_argument(kind: &str, validators: usize) -> String {
    match kind {
        "go-dark" => format!("go-dark:{validators}"),
        "stall-last-module" => format!(
            "stall-last-module:{}",
            LOCALNET_READY_TIMEOUT.as_secs().saturating_sub(1)
        ),
        other => other.to_string(),
    }
}

/// Marks the `rented-inflate` miners rented in every validator's store (the marketplace's
/// records, never the miner's word).
async fn mark_rented(
    engines: &[RoundEngine],
    miners: &[Miner],
    processes: &[MinerProcess],
) -> Result<(), LocalnetError> {
    for (miner, process) in miners.iter().zip(processes) {
        if process.adversary.as_deref() != Some(RENTED_INFLATE) {
            continue;
        }
        for (v, engine) in engines.iter().enumerate() {
            let hotkey = miner.id.hotkey.clone();
            engine
                .store
                .with(move |s| s.set_rented(&hotkey, true, "localnet", 0))
                .await
                .map_err(|e| LocalnetError::Store {
                    validator: v,
                    reason: e.to_string(),
                })?;
        }
    }
    Ok(())
}

/// Each miner's share of a plan's u16 weights, in `miners`' order.
fn weight_fractions(plan: &WeightPlan, miners: &[Miner]) -> Vec<f64> {
    let total: f64 = plan.values.iter().map(|v| f64::from(*v)).sum();
    miners
        .iter()
        .map(|m| {
            plan.uids
                .iter()
                .zip(&plan.values)
                .find(|(u, _)| Some(**u) == m.id.uid)
                .map_or(0.0, |(_, v)| {
                    if total > 0.0 {
                        f64::from(*v) / total
                    } else {
                        0.0
                    }
                })
        })
        .collect()
}

/// A temporary directory removed on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// A new, empty directory under the system temp dir, named `gpuproof-<tag>-<random>`.
    pub fn new(tag: &str) -> Result<Self, LocalnetError> {
        let path = std::env::temp_dir().join(format!("gpuproof-{tag}-"));
        let suffix: [u8; 8] =
            transport::identity::os_random().map_err(|e| LocalnetError::Files {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let path = std::env::temp_dir().join(format!("gpuproof-{tag}-{}", hex::encode(suffix)));
        std::fs::create_dir_all(&path).map_err(|e| LocalnetError::Files {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self(path))
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> Result<TempDir, LocalnetError> {
    TempDir::new("localnet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheaters_are_reproducible_distinct_and_bounded() {
        let a = choose_cheaters(8, 2, 1);
        assert_eq!(a, choose_cheaters(8, 2, 1));
        assert_eq!(a.len(), 2);
        assert_ne!(a[0].0, a[1].0);
        assert_ne!(a[0].1, a[1].1);
        assert_eq!(choose_cheaters(3, 10, 5).len(), 3);
        assert!(choose_cheaters(8, 0, 1).is_empty());
        assert_ne!(choose_cheaters(8, 2, 1), choose_cheaters(8, 2, 2));
    }
}
