//! The catalogue's data: per miner what the store says it proved ([`Machine`]), read from the
//! store in one go ([`Catalogue::read`]), then sorted and filtered per request
//! ([`Catalogue::query`]). JSON is this module's types through serde
//! (`verifier/catalogue.schema.json` is their schema).

use std::collections::BTreeMap;

use serde::Serialize;
use validator_store::{ReceiptRow, Store, StoreError, Tallied, VerdictKind, VerdictRow};

/// Rounds of verdict history shown per miner.
pub const HISTORY_ROUNDS: i64 = 10;

/// Most machines one answer lists (the rest are left out, and the answer says so).
pub const MAX_MACHINES: usize = 2048;

/// Everything the catalogue shows, read from the store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalogue {
    /// When it was read, Unix s.
    pub generated_at: i64,
    /// The latest round in the store (0: none yet).
    pub last_round: i64,
    /// Every miner the store has recorded.
    pub machines: Vec<Machine>,
}

/// One miner's machine, as proven to this validator.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Hotkey, SS58.
    pub hotkey: String,
    /// UID on the subnet, when known.
    pub uid: Option<u16>,
    /// The address it was challenged at (its axon).
    pub axon: String,
    /// Whether the validator's records say it is rented.
    pub rented: bool,
    /// Reliability (EMA of past verdicts, 0..1), when it has a standing.
    pub reliability: Option<f64>,
    /// Score after the latest round.
    pub score: Option<f64>,
    /// The latest round it was recorded in.
    pub last_round: i64,
    /// When it was last proven (the latest round in which one of its devices passed every
    /// module), Unix s.
    pub last_proven_at: Option<i64>,
    /// The classes of its devices, deduplicated, in device order.
    pub classes: Vec<String>,
    /// Measured int8 TOPS, summed over devices (each from its last passing round).
    pub int8_tops: Option<f64>,
    /// Measured memory bandwidth, GB/s, summed over devices.
    pub memory_gbs: Option<f64>,
    /// Proven memory, bytes, summed over devices.
    pub proven_memory_bytes: Option<u64>,
    /// Verdict counts by kind over every round.
    pub verdicts: BTreeMap<Tallied, u64>,
    /// The verdicts of its latest rounds (at most [`HISTORY_ROUNDS`]), newest first.
    pub history: Vec<RoundVerdicts>,
    /// Its devices (as the latest round's inventory claimed them).
    pub devices: Vec<Device>,
    /// Receipts of its latest round that are not a device's (a miner-level fault).
    pub receipts: Vec<ReceiptLink>,
}

/// One round's verdicts of a miner.
#[derive(Debug, Clone, Serialize)]
pub struct RoundVerdicts {
    /// The round.
    pub round_id: i64,
    /// When it was recorded, Unix s.
    pub recorded_at: i64,
    /// Verdict kinds in that round, by count.
    pub verdicts: BTreeMap<Tallied, u64>,
}

/// One device of a machine.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    /// Device index.
    pub index: u32,
    /// Driver name claimed.
    pub name: String,
    /// The class the name maps to.
    pub class: Option<String>,
    /// Bytes of memory its last passing `membw` held resident.
    pub proven_memory_bytes: Option<u64>,
    /// Int8 TOPS its last passing round measured (`matmul-i8`: work over measured time).
    pub int8_tops: Option<f64>,
    /// Memory GB/s its last passing round measured (`membw` passes: bytes read over time).
    pub memory_gbs: Option<f64>,
    /// The last round in which every module passed on it.
    pub last_pass_round: Option<i64>,
    /// When that round was recorded, Unix s.
    pub last_pass_at: Option<i64>,
    /// The receipts of its last passing round and of its latest round.
    pub receipts: Vec<ReceiptLink>,
}

/// A receipt, linked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReceiptLink {
    /// The receipt's id (hex).
    pub id: String,
    /// `/v1/receipts/{id}` while the receipt is kept; `None` once a pass receipt is pruned.
    pub url: Option<String>,
    /// The round.
    pub round_id: i64,
    /// The module (or stage).
    pub module: String,
    /// The verdict kind.
    pub verdict: VerdictKind,
}

impl ReceiptLink {
    fn of(row: &ReceiptRow) -> Self {
        Self {
            id: row.receipt_id.clone(),
            url: row.kept.then(|| format!("/v1/receipts/{}", row.receipt_id)),
            round_id: row.round_id,
            module: row.module.clone(),
            verdict: row.verdict,
        }
    }
}

impl Catalogue {
    /// Reads the catalogue from `store` at `now` (Unix s).
    pub fn read(store: &Store, now: i64) -> Result<Self, StoreError> {
        let last_round = store.rounds()?.last().map_or(0, |r| r.id);
        let from = last_round.saturating_sub(HISTORY_ROUNDS - 1).max(1);
        let standings: BTreeMap<String, _> = store
            .standings()?
            .into_iter()
            .map(|s| (s.hotkey.clone(), s))
            .collect();
        let rented: Vec<String> = store.rented()?.into_iter().map(|r| r.hotkey).collect();
        let recent = store.verdicts_from_round(from)?;
        let receipts = store.receipt_rows_from(from)?;
        let passes = store.last_pass_receipts()?;
        let mut machines = Vec::new();
        for seen in store.miners_seen()? {
            let standing = standings.get(&seen.hotkey);
            let mine = |v: &&VerdictRow| v.hotkey == seen.hotkey;
            let verdicts: Vec<&VerdictRow> = recent.iter().filter(mine).collect();
            let own_receipts: Vec<&ReceiptRow> = receipts
                .iter()
                .filter(|r| r.hotkey == seen.hotkey)
                .collect();
            let own_passes: Vec<&ReceiptRow> =
                passes.iter().filter(|r| r.hotkey == seen.hotkey).collect();
            let devices = devices(&verdicts, seen.round_id, &own_receipts, &own_passes);
            let fault_receipts = own_receipts
                .iter()
                .filter(|r| r.round_id == seen.round_id)
                .filter(|r| matches!(r.module.as_str(), "connection" | "inventory"))
                .map(|r| ReceiptLink::of(r))
                .collect();
            let mut machine = Machine {
                hotkey: seen.hotkey.clone(),
                uid: seen.uid,
                axon: seen.addr.clone(),
                rented: rented.contains(&seen.hotkey),
                reliability: standing.map(|s| s.reliability),
                score: standing.map(|s| s.score),
                last_round: seen.round_id,
                last_proven_at: devices.iter().filter_map(|d| d.last_pass_at).max(),
                classes: Vec::new(),
                int8_tops: sum(devices.iter().map(|d| d.int8_tops)),
                memory_gbs: sum(devices.iter().map(|d| d.memory_gbs)),
                proven_memory_bytes: devices
                    .iter()
                    .filter_map(|d| d.proven_memory_bytes)
                    .reduce(u64::saturating_add),
                verdicts: store.verdict_counts(&seen.hotkey)?,
                history: history(&verdicts),
                devices,
                receipts: fault_receipts,
            };
            for class in machine.devices.iter().filter_map(|d| d.class.clone()) {
                if !machine.classes.contains(&class) {
                    machine.classes.push(class);
                }
            }
            machines.push(machine);
        }
        Ok(Self {
            generated_at: now,
            last_round,
            machines,
        })
    }

    /// The machines `query` selects, in its order (at most [`MAX_MACHINES`]).
    pub fn query(&self, query: &Query) -> Machines {
        let mut machines: Vec<Machine> = self
            .machines
            .iter()
            .filter(|m| {
                query
                    .class
                    .as_ref()
                    .is_none_or(|c| m.classes.iter().any(|k| k == c))
            })
            .cloned()
            .collect();
        machines.sort_by(|a, b| {
            let order = match query.sort {
                Sort::Class => a.classes.first().cmp(&b.classes.first()),
                Sort::Tops => cmp_opt(a.int8_tops, b.int8_tops),
                Sort::Gbs => cmp_opt(a.memory_gbs, b.memory_gbs),
                Sort::Reliability => cmp_opt(a.reliability, b.reliability),
                Sort::Uid => a.uid.cmp(&b.uid),
            };
            let order = if query.descending {
                order.reverse()
            } else {
                order
            };
            order.then_with(|| a.hotkey.cmp(&b.hotkey))
        });
        let truncated = machines.len() > MAX_MACHINES;
        machines.truncate(MAX_MACHINES);
        Machines {
            generated_at: self.generated_at,
            last_round: self.last_round,
            sort: query.sort.name().to_string(),
            order: if query.descending { "desc" } else { "asc" }.to_string(),
            class: query.class.clone(),
            classes: self.classes(),
            truncated,
            machines,
        }
    }

    /// Every class some machine's device claims, sorted.
    pub fn classes(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .machines
            .iter()
            .flat_map(|m| m.classes.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The machine with this hotkey.
    pub fn machine(&self, hotkey: &str) -> Option<&Machine> {
        self.machines.iter().find(|m| m.hotkey == hotkey)
    }
}

/// `/v1/machines`: the machines a query selects.
#[derive(Debug, Clone, Serialize)]
pub struct Machines {
    /// When the catalogue was read, Unix s.
    pub generated_at: i64,
    /// The store's latest round.
    pub last_round: i64,
    /// The sort key (`uid`, `class`, `tops`, `gbs`, `reliability`).
    pub sort: String,
    /// `asc` or `desc`.
    pub order: String,
    /// The class filter, if any.
    pub class: Option<String>,
    /// Every class in the catalogue (for filter choices).
    pub classes: Vec<String>,
    /// Whether machines were left out ([`MAX_MACHINES`]).
    pub truncated: bool,
    /// The machines.
    pub machines: Vec<Machine>,
}

/// How machines are sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// By UID (the default).
    #[default]
    Uid,
    /// By the first device's class.
    Class,
    /// By measured int8 TOPS.
    Tops,
    /// By measured memory GB/s.
    Gbs,
    /// By reliability.
    Reliability,
}

impl Sort {
    /// Its query-parameter value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uid => "uid",
            Self::Class => "class",
            Self::Tops => "tops",
            Self::Gbs => "gbs",
            Self::Reliability => "reliability",
        }
    }

    /// The sort named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Uid,
            Self::Class,
            Self::Tops,
            Self::Gbs,
            Self::Reliability,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// A request's selection: `?sort=tops&order=desc&class=h100-sxm`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// Sort key.
    pub sort: Sort,
    /// Largest first.
    pub descending: bool,
    /// Only machines with a device of this class.
    pub class: Option<String>,
}

/// `a` against `b`, a missing figure below every present one.
fn cmp_opt(a: Option<f64>, b: Option<f64>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

/// The sum of the present figures, `None` when none is.
fn sum(figures: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    figures.flatten().reduce(|a, b| a + b)
}

/// The devices of a miner: those its latest round (`latest`) challenged and those it proved
/// before, each with the figures of its last passing round (name and class from its newest
/// verdict of the history window).
fn devices(
    verdicts: &[&VerdictRow],
    latest: i64,
    receipts: &[&ReceiptRow],
    passes: &[&ReceiptRow],
) -> Vec<Device> {
    let device_verdict =
        |v: &&&VerdictRow| !matches!(v.record.module.as_str(), "connection" | "inventory");
    let mut indices: Vec<u32> = verdicts
        .iter()
        .filter(device_verdict)
        .filter(|v| v.round_id == latest)
        .map(|v| v.record.device_index)
        .chain(passes.iter().map(|p| p.device_index))
        .collect();
    indices.sort_unstable();
    indices.dedup();
    indices
        .into_iter()
        .map(|index| {
            let newest = verdicts
                .iter()
                .filter(device_verdict)
                .rev()
                .find(|v| v.record.device_index == index);
            device(index, newest.copied(), latest, receipts, passes)
        })
        .collect()
}

/// One device: its claims from `newest` (its newest verdict), its figures from `passes`.
fn device(
    index: u32,
    newest: Option<&VerdictRow>,
    latest: i64,
    receipts: &[&ReceiptRow],
    passes: &[&ReceiptRow],
) -> Device {
    let pass: Vec<&ReceiptRow> = passes
        .iter()
        .filter(|p| p.device_index == index)
        .copied()
        .collect();
    let rate = |ops: Option<f64>, s: Option<f64>, unit: f64| match (ops, s) {
        (Some(ops), Some(s)) if s > 0.0 => Some(ops / s / unit),
        _ => None,
    };
    let mut links: Vec<ReceiptLink> = pass.iter().map(|p| ReceiptLink::of(p)).collect();
    for row in receipts
        .iter()
        .filter(|x| x.device_index == index && x.round_id == latest)
    {
        let link = ReceiptLink::of(row);
        if !links.contains(&link) && !matches!(row.module.as_str(), "connection" | "inventory") {
            links.push(link);
        }
    }
    Device {
        index,
        name: newest.map_or_else(String::new, |v| v.record.gpu_name.clone()),
        class: newest.and_then(|v| v.record.claimed_class.clone()),
        proven_memory_bytes: pass.iter().find_map(|p| p.figures.memory_bytes),
        int8_tops: pass
            .iter()
            .find_map(|p| rate(p.figures.int8_ops, p.figures.int8_s, 1e12)),
        memory_gbs: pass
            .iter()
            .find_map(|p| rate(p.figures.dram_bytes, p.figures.dram_s, 1e9)),
        last_pass_round: pass.first().map(|p| p.round_id),
        last_pass_at: pass.first().map(|p| p.recorded_at),
        receipts: links,
    }
}

/// Verdict counts per round, newest first.
fn history(verdicts: &[&VerdictRow]) -> Vec<RoundVerdicts> {
    let mut rounds: BTreeMap<i64, RoundVerdicts> = BTreeMap::new();
    for v in verdicts {
        let entry = rounds.entry(v.round_id).or_insert_with(|| RoundVerdicts {
            round_id: v.round_id,
            recorded_at: v.recorded_at,
            verdicts: BTreeMap::new(),
        });
        *entry
            .verdicts
            .entry(Tallied::from(v.record.verdict))
            .or_default() += 1;
    }
    rounds.into_values().rev().collect()
}
