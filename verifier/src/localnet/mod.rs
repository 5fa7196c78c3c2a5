//! `verifier localnet`: the whole system on one machine, with no GPU and no chain.
//!
//! Starts `miners` real `miner-host serve` processes on loopback ([`miners`]), each with one
//! `cpu-reference` device; `cheaters` of them cheat, with kinds from [`CHEATER_KINDS`] chosen
//! reproducibly from `seed`. `validators` verifiers (hotkeys `//LocalValidator<i>`, each with its
//! own QUIC endpoint and session key) run `rounds` rounds over QUIC against every miner, score
//! the verdicts ([`crate::scoring`]) and set weights; a local chain simulation (the `chain`
//! crate's Yuma Consensus, one epoch per round, validators staked equally) turns the weights
//! into incentive.
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
use protocol::Role;
use serde::Serialize;
use tokio::sync::Semaphore;
use transport::identity::{DEFAULT_CERTIFICATE_VALIDITY, load_hotkey};
use transport::{ConnectionLimits, Identity, KeySource};

use crate::classes::ClassTable;
use crate::client::{ChallengeOptions, ClientContext, MinerReport, MinerTarget, challenge_miner};
use crate::planner::ClassPlanner;
use crate::scoring::{MinerStanding, normalize};
use crate::session::SandboxChecker;
pub use miners::{LocalnetError, MinerProcess, find_miner_host, start_miner};

/// Cheating kinds the local network assigns (`miner-host serve --adversary`), each of which
/// fails every device it has: skipped leaves (half, or a quarter: caught with probability
/// `1 − 0.75^32` per challenge), forged signatures, replayed commitments, a slow device,
/// hanging up on `Open`, garbage frames, dropping mid-opening. A single wrong tile is left
/// out: among the hundreds of leaves of a sized challenge, 32 openings find it rarely (that
/// adversary is tested with a challenge of 4 leaves in `tests/`).
pub const CHEATER_KINDS: [&str; 8] = [
    "skip:0.25",
    "skip:0.5",
    "forge",
    "replay",
    "slow:6",
    "hang-up",
    "garbage",
    "drop-mid-opening",
];

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
    /// MiB probed each way per round (0: none).
    pub probe_mib: u64,
}

impl Default for LocalnetOptions {
    /// 8 miners, 2 cheaters, 3 rounds, 2 validators, seed 1, 1 MiB probes.
    fn default() -> Self {
        Self {
            miners: 8,
            cheaters: 2,
            rounds: 3,
            validators: 2,
            seed: 1,
            miner_host: None,
            probe_mib: 1,
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
    pub verdicts: BTreeMap<String, u64>,
    /// Mean over validators of its final score.
    pub score: f64,
    /// Mean over validators of the weight they set for it in the last round (fractions).
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
}

/// A progress event.
#[derive(Debug, Clone)]
pub enum Progress {
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

/// Picks which miners cheat and how, reproducibly: `(miner index, kind)`.
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
    let offset = usize::try_from(next() % CHEATER_KINDS.len() as u64).unwrap_or(0);
    let mut chosen: Vec<(usize, &'static str)> = order
        .into_iter()
        .take(cheaters.min(miners))
        .enumerate()
        .map(|(k, miner)| {
            let kind = CHEATER_KINDS
                .get((offset + k) % CHEATER_KINDS.len())
                .copied()
                .unwrap_or("wrong-tile");
            (miner, kind)
        })
        .collect();
    chosen.sort_unstable();
    chosen
}

fn other(e: impl std::fmt::Display) -> LocalnetError {
    LocalnetError::Other(e.to_string())
}

/// Runs the local network. Must be called inside a tokio runtime.
pub async fn run_localnet(
    options: &LocalnetOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<LocalnetReport, LocalnetError> {
    let started = Instant::now();
    if options.miners == 0 || options.validators == 0 || options.rounds == 0 {
        return Err(LocalnetError::Other(
            "--miners, --validators and --rounds must each be at least 1".into(),
        ));
    }
    let n = options
        .miners
        .checked_add(options.validators)
        .filter(|n| *n <= usize::from(u16::MAX))
        .ok_or_else(|| LocalnetError::Other("too many neurons for one subnet".into()))?;
    let binary = find_miner_host(options.miner_host.as_deref())?;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let concurrent = (cores / 2).max(1);

    // Validators: identities, endpoints, one calibrated planner shared by all.
    let mut identities = Vec::new();
    for v in 0..options.validators {
        let hotkey = load_hotkey(&KeySource::Uri(format!("//LocalValidator{v}"))).map_err(other)?;
        identities.push(Identity::issue(
            transport::identity::generate_key().map_err(other)?,
            &hotkey,
            Role::Validator,
            DEFAULT_CERTIFICATE_VALIDITY,
        ));
    }
    let validator_hotkeys: Vec<_> = identities.iter().map(Identity::hotkey).collect();
    let mut planner = ClassPlanner::new(ClassTable::embedded().map_err(other)?);
    planner.calibrate_cpu().map_err(other)?;
    let table = planner.table().clone();
    let planner = Arc::new(planner);
    let checker = Arc::new(SandboxChecker::with_builtins().map_err(other)?);

    // Miners.
    let dir = tempdir()?;
    let cheaters = choose_cheaters(options.miners, options.cheaters, options.seed);
    let mut processes = Vec::new();
    for index in 0..options.miners {
        let kind = cheaters.iter().find(|(i, _)| *i == index).map(|(_, k)| *k);
        processes.push(start_miner(
            &binary,
            dir.path(),
            index,
            kind,
            &validator_hotkeys,
        )?);
    }
    progress(Progress::Started {
        total: options.rounds * options.validators * options.miners,
    });

    let mut contexts = Vec::new();
    for identity in identities {
        let endpoint = transport::client_endpoint(
            processes
                .first()
                .map_or(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), |p| p.addr),
            identity.signing_key(),
            &ConnectionLimits::default(),
        )
        .map_err(other)?;
        contexts.push(Arc::new(ClientContext {
            identity,
            endpoint,
            checker: Arc::clone(&checker),
            planner: Arc::clone(&planner) as Arc<dyn crate::client::Planner>,
            options: ChallengeOptions {
                probe_bytes: options.probe_mib.saturating_mul(1 << 20),
                miner_timeout: Duration::from_secs(60),
                ..ChallengeOptions::default()
            },
        }));
    }

    // standings[validator][miner]
    let mut standings = vec![vec![MinerStanding::default(); options.miners]; options.validators];
    let mut classes = vec![String::from("unknown"); options.miners];
    let mut epochs = Vec::new();
    let mut last_weights = vec![vec![0.0; options.miners]; options.validators];
    let slots = Arc::new(Semaphore::new(concurrent));
    for round in 0..options.rounds {
        let mut tasks = Vec::new();
        for (v, ctx) in contexts.iter().enumerate() {
            for miner in &processes {
                let ctx = Arc::clone(ctx);
                let slots = Arc::clone(&slots);
                let target = MinerTarget {
                    addr: miner.addr,
                    hotkey: Some(miner.hotkey),
                    rented: false,
                };
                let index = miner.index;
                tasks.push(tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    let report = challenge_miner(&ctx, &target).await;
                    (v, index, report)
                }));
            }
        }
        let mut reports: Vec<(usize, usize, MinerReport)> = Vec::new();
        for task in tasks {
            let done = task.await.map_err(other)?;
            progress(Progress::RoundDone { round });
            reports.push(done);
        }
        for (v, m, report) in &reports {
            let devices = report.device_rounds(|class| table.weight_of(class));
            if let Some(class) = report.devices.first().and_then(|d| d.class.clone())
                && let Some(slot) = classes.get_mut(*m)
            {
                *slot = class;
            }
            if let Some(standing) = standings.get_mut(*v).and_then(|s| s.get_mut(*m)) {
                standing.record_round(&devices);
            }
        }
        let mut set_weights = Vec::new();
        for (v, row) in standings.iter().enumerate() {
            let scores: Vec<f64> = row.iter().map(MinerStanding::score).collect();
            let weights = normalize(&scores);
            let uids: Vec<u16> = (0..options.miners)
                .map(|m| u16::try_from(options.validators + m).unwrap_or(u16::MAX))
                .collect();
            let (dests, values) =
                chain::weights::convert_weights_and_uids_for_emit(&uids, &weights)
                    .map_err(other)?;
            if !dests.is_empty() {
                set_weights.push(SetWeights {
                    uid: u16::try_from(v).unwrap_or(u16::MAX),
                    dests,
                    weights: values,
                });
            }
            if let Some(slot) = last_weights.get_mut(v) {
                *slot = weights;
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
    let result = scenario.run().map_err(other)?;
    let incentive = result
        .epochs
        .last()
        .map(|e| e.incentive.clone())
        .unwrap_or_default();
    let vcount = options.validators as f64;
    let miners = (0..options.miners)
        .map(|m| {
            let uid = options.validators + m;
            let mut verdicts = BTreeMap::new();
            for row in &standings {
                if let Some(s) = row.get(m) {
                    for (k, c) in &s.verdicts {
                        *verdicts.entry(k.clone()).or_default() += c;
                    }
                }
            }
            MinerRow {
                uid: u16::try_from(uid).unwrap_or(u16::MAX),
                claimed_class: classes.get(m).cloned().unwrap_or_default(),
                adversary: processes.get(m).and_then(|p| p.adversary.clone()),
                verdicts,
                score: standings
                    .iter()
                    .filter_map(|row| row.get(m))
                    .map(MinerStanding::score)
                    .sum::<f64>()
                    / vcount,
                weight: last_weights.iter().filter_map(|w| w.get(m)).sum::<f64>() / vcount,
                incentive: incentive
                    .get(uid)
                    .map_or(0.0, |i| f64::from(*i) / f64::from(u16::MAX)),
            }
        })
        .collect();
    drop(processes);
    Ok(LocalnetReport {
        miners,
        rounds: options.rounds,
        elapsed_s: started.elapsed().as_secs_f64(),
        concurrency: format!(
            "{concurrent} round(s) at once on {cores} core(s): each miner device is one thread, \
             cpu-reference calibrated on one thread"
        ),
    })
}

/// A temporary directory removed on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// A new, empty directory under the system temp dir, named `gpuproof-<tag>-<random>`.
    pub fn new(tag: &str) -> Result<Self, LocalnetError> {
        let suffix: [u8; 8] = transport::identity::os_random().map_err(other)?;
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
