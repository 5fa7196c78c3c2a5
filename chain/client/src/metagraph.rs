//! [`Metagraph`]: the neurons of one subnet (and one of its incentive mechanisms) at one block,
//! read from `SubtensorModule` storage and checked for consistency, and its mapping onto
//! `chain::SubnetState`.
//!
//! What is read (finney runtime names): `SubnetworkN` (n), `Keys` (uid → hotkey, every uid in
//! `0..n` exactly once), `TotalHotkeyAlpha` (the hotkey's alpha on this subnet, and on the root
//! subnet 0 where alpha is TAO), `ValidatorPermit` and `LastUpdate` (one entry per uid),
//! `BlockAtRegistration`, `Axons` (per hotkey), `Weights` and `Bonds` (sparse rows). `Weights`,
//! `Bonds` and `LastUpdate` are keyed by the mechanism storage index
//! `mechanism · 4096 + netuid` (mechanism 0 is the netuid itself). Rows keyed by a uid ≥ n are
//! dropped, as the runtime's epoch drops them; a target uid ≥ n inside a row is kept (the epoch
//! ignores it).

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chain::SubnetState;
use subxt::ext::futures::{StreamExt, TryStreamExt, stream};
use subxt::utils::AccountId32;

use crate::acceptance::ValidatorStanding;
use crate::error::ClientError;
use crate::hyperparams::SubnetHyperparams;
use crate::read::{PALLET, Reader};

/// `GLOBAL_MAX_SUBNET_COUNT` of the runtime: the stride of mechanism storage indices.
pub const GLOBAL_MAX_SUBNET_COUNT: u16 = 4096;

/// How many per-hotkey storage reads run at once.
const CONCURRENT_READS: usize = 16;

/// The storage index of mechanism `mechanism` of `netuid` (`mechanism · 4096 + netuid`), or
/// `None` when it does not fit in u16 (netuid ≥ 4096 or mechanism ≥ 16).
pub fn mechanism_storage_index(netuid: u16, mechanism: u8) -> Option<u16> {
    if netuid >= GLOBAL_MAX_SUBNET_COUNT {
        return None;
    }
    u16::from(mechanism)
        .checked_mul(GLOBAL_MAX_SUBNET_COUNT)?
        .checked_add(netuid)
}

/// An axon endpoint as the runtime stores it (`pallet_subtensor::AxonInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, subxt::ext::scale_decode::DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
pub struct AxonInfo {
    /// Block of the last `serve_axon`.
    pub block: u64,
    /// Software version the neuron announced.
    pub version: u32,
    /// IP address as an integer (IPv4 in the low 32 bits when `ip_type` is 4).
    pub ip: u128,
    /// Port.
    pub port: u16,
    /// 4 or 6.
    pub ip_type: u8,
    /// Protocol tag (bittensor uses 4 for TCP).
    pub protocol: u8,
    /// Reserved.
    pub placeholder1: u8,
    /// Reserved.
    pub placeholder2: u8,
}

impl AxonInfo {
    /// The IP address, or `None` when `ip_type` is neither 4 nor 6 or an IPv4 `ip` does not fit
    /// in 32 bits (a node or neuron could store anything here).
    pub fn ip_addr(&self) -> Option<IpAddr> {
        match self.ip_type {
            4 => u32::try_from(self.ip)
                .ok()
                .map(|v| IpAddr::V4(Ipv4Addr::from(v))),
            6 => Some(IpAddr::V6(Ipv6Addr::from(self.ip))),
            _ => None,
        }
    }
}

/// One neuron (uid) of the metagraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neuron {
    /// The uid (its index in [`Metagraph::neurons`]).
    pub uid: u16,
    /// Its hotkey (`Keys`).
    pub hotkey: [u8; 32],
    /// Alpha staked to the hotkey on this subnet (`TotalHotkeyAlpha(hotkey, netuid)`).
    pub alpha_stake: u64,
    /// TAO staked to the hotkey on the root subnet (`TotalHotkeyAlpha(hotkey, 0)`).
    pub tao_stake: u64,
    /// `ValidatorPermit[uid]`.
    pub validator_permit: bool,
    /// `LastUpdate[uid]` of the mechanism read.
    pub last_update: u64,
    /// `BlockAtRegistration(netuid, uid)`.
    pub block_at_registration: u64,
    /// `Axons(netuid, hotkey)`, `None` when the neuron never served one.
    pub axon: Option<AxonInfo>,
    /// `Weights(index, uid)`: `(target uid, u16 weight)` as stored.
    pub weights: Vec<(u16, u16)>,
    /// `Bonds(index, uid)`: `(target uid, u16 bond)` as stored.
    pub bonds: Vec<(u16, u16)>,
}

/// The neurons of one subnet mechanism at one block.
///
/// Guarantees: `neurons[i].uid == i` for every `i`, `neurons.len()` is `SubnetworkN`, and no
/// hotkey appears twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metagraph {
    /// The subnet.
    pub netuid: u16,
    /// The incentive mechanism read (0 for `set_weights`).
    pub mechanism: u8,
    /// Number of the block read.
    pub block: u64,
    /// Hash of the block read.
    pub block_hash: [u8; 32],
    /// Global `TaoWeight` at that block (fraction of `u64::MAX`).
    pub tao_weight: u64,
    /// One entry per uid, in uid order.
    pub neurons: Vec<Neuron>,
}

impl Metagraph {
    /// Number of neurons.
    pub fn n(&self) -> u16 {
        u16::try_from(self.neurons.len()).unwrap_or(u16::MAX)
    }

    /// The uid of `hotkey`, if registered.
    pub fn uid_of(&self, hotkey: &[u8; 32]) -> Option<u16> {
        self.neurons
            .iter()
            .find(|n| &n.hotkey == hotkey)
            .map(|n| n.uid)
    }

    /// Stake weight per uid as the epoch combines it: alpha + TAO · `TaoWeight` / `u64::MAX`
    /// (floored, saturating). Child-key stake inheritance is not applied: a hotkey with parent
    /// or child keys has a different stake weight on chain.
    pub fn stake_weights(&self) -> Vec<u64> {
        let tao_weight = u128::from(self.tao_weight);
        self.neurons
            .iter()
            .map(|n| {
                let tao_part = u128::from(n.tao_stake)
                    .saturating_mul(tao_weight)
                    .checked_div(u128::from(u64::MAX))
                    .unwrap_or(0);
                n.alpha_stake
                    .saturating_add(u64::try_from(tao_part).unwrap_or(u64::MAX))
            })
            .collect()
    }

    /// The `chain::SubnetState` of this metagraph for an epoch run at `current_block`, with
    /// `hyperparams`' consensus settings, tempo and owner. Stake is [`Metagraph::stake_weights`].
    pub fn to_subnet_state(
        &self,
        hyperparams: &SubnetHyperparams,
        current_block: u64,
    ) -> SubnetState {
        SubnetState {
            n: self.n(),
            current_block,
            tempo: hyperparams.tempo,
            stake: self.stake_weights(),
            last_update: self.neurons.iter().map(|n| n.last_update).collect(),
            block_at_registration: self
                .neurons
                .iter()
                .map(|n| n.block_at_registration)
                .collect(),
            validator_permit: self.neurons.iter().map(|n| n.validator_permit).collect(),
            weights: self.neurons.iter().map(|n| n.weights.clone()).collect(),
            bonds: self.neurons.iter().map(|n| n.bonds.clone()).collect(),
            owner_uid: self.uid_of(&hyperparams.owner_hotkey),
            hyperparameters: hyperparams.consensus(),
        }
    }
}

/// The per-uid vectors of a subnet, before they are zipped into [`Neuron`]s.
struct Columns {
    hotkeys: Vec<[u8; 32]>,
    permits: Vec<bool>,
    last_update: Vec<u64>,
    registered: Vec<u64>,
    weights: Vec<Vec<(u16, u16)>>,
    bonds: Vec<Vec<(u16, u16)>>,
}

/// Reads the metagraph of mechanism `mechanism` of `netuid` at the reader's block.
pub(crate) async fn read_metagraph(
    reader: &Reader<'_>,
    netuid: u16,
    mechanism: u8,
    block: u64,
    block_hash: [u8; 32],
) -> Result<Metagraph, ClientError> {
    let key = format!("netuid {netuid}");
    let n: u16 = reader.value("SubnetworkN", (netuid,), &key).await?;
    let index =
        mechanism_storage_index(netuid, mechanism).ok_or_else(|| ClientError::InvalidCall {
            call: "read_metagraph",
            reason: format!("mechanism {mechanism} of netuid {netuid} has no storage index"),
        })?;
    let columns = read_columns(reader, netuid, index, n).await?;
    let tao_weight: u64 = reader.value("TaoWeight", (), "the global value").await?;
    let stakes = read_stakes(reader, netuid, &columns.hotkeys).await?;
    let axons = read_axons(reader, netuid, &columns.hotkeys).await?;
    let neurons = zip_neurons(columns, stakes, axons);
    Ok(Metagraph {
        netuid,
        mechanism,
        block,
        block_hash,
        tao_weight,
        neurons,
    })
}

fn zip_neurons(c: Columns, stakes: Vec<(u64, u64)>, axons: Vec<Option<AxonInfo>>) -> Vec<Neuron> {
    let rows = c
        .hotkeys
        .into_iter()
        .zip(c.permits)
        .zip(c.last_update)
        .zip(c.registered)
        .zip(c.weights.into_iter().zip(c.bonds))
        .zip(stakes.into_iter().zip(axons));
    rows.enumerate()
        .map(
            |(uid, (((((hotkey, permit), last), reg), (w, b)), ((alpha, tao), axon)))| Neuron {
                uid: u16::try_from(uid).unwrap_or(u16::MAX),
                hotkey,
                alpha_stake: alpha,
                tao_stake: tao,
                validator_permit: permit,
                last_update: last,
                block_at_registration: reg,
                axon,
                weights: w,
                bonds: b,
            },
        )
        .collect()
}

async fn read_columns(
    reader: &Reader<'_>,
    netuid: u16,
    index: u16,
    n: u16,
) -> Result<Columns, ClientError> {
    let key = format!("netuid {netuid}");
    let index_key = format!("netuid {netuid} (storage index {index})");
    let keys: Vec<((u16, u16), AccountId32)> = reader.iter("Keys", (netuid,), &key).await?;
    let hotkeys = hotkeys_by_uid(netuid, n, keys)?;
    let permits: Vec<bool> = reader.value("ValidatorPermit", (netuid,), &key).await?;
    check_len("ValidatorPermit", &key, permits.len(), n)?;
    let last_update: Vec<u64> = reader.value("LastUpdate", (index,), &index_key).await?;
    check_len("LastUpdate", &index_key, last_update.len(), n)?;
    let registered = reader.iter("BlockAtRegistration", (netuid,), &key).await?;
    let registered = dense_by_uid("BlockAtRegistration", &key, n, registered)?;
    let weights = reader.iter("Weights", (index,), &index_key).await?;
    let weights = dense_by_uid("Weights", &index_key, n, weights)?;
    let bonds = reader.iter("Bonds", (index,), &index_key).await?;
    let bonds = dense_by_uid("Bonds", &index_key, n, bonds)?;
    Ok(Columns {
        hotkeys,
        permits,
        last_update,
        registered,
        weights,
        bonds,
    })
}

/// `Keys` rows into one hotkey per uid: every uid `< n` present once, no hotkey twice; rows
/// for uids ≥ n dropped.
fn hotkeys_by_uid(
    netuid: u16,
    n: u16,
    rows: Vec<((u16, u16), AccountId32)>,
) -> Result<Vec<[u8; 32]>, ClientError> {
    let invalid = |reason: String| ClientError::InvalidChainData {
        pallet: PALLET,
        entry: "Keys",
        key: format!("netuid {netuid}"),
        reason,
    };
    let mut by_uid = BTreeMap::new();
    let mut seen = HashSet::new();
    for ((row_netuid, uid), hotkey) in rows {
        if row_netuid != netuid {
            return Err(invalid(format!(
                "the node returned a row of netuid {row_netuid}"
            )));
        }
        if uid >= n {
            continue;
        }
        if !seen.insert(hotkey.0) {
            return Err(invalid(format!(
                "hotkey {hotkey} is registered under two uids"
            )));
        }
        if by_uid.insert(uid, hotkey.0).is_some() {
            return Err(invalid(format!("uid {uid} appears twice")));
        }
    }
    (0..n)
        .map(|uid| {
            by_uid
                .remove(&uid)
                .ok_or_else(|| invalid(format!("uid {uid} < SubnetworkN {n} has no hotkey")))
        })
        .collect()
}

/// Sparse `(index, uid) → V` rows into one `V` per uid (`V::default()` where absent, as the
/// runtime's `ValueQuery` reads them); rows for uids ≥ n dropped, duplicate uids refused.
fn dense_by_uid<V: Default + Clone>(
    entry: &'static str,
    key: &str,
    n: u16,
    rows: Vec<((u16, u16), V)>,
) -> Result<Vec<V>, ClientError> {
    let mut out = vec![V::default(); usize::from(n)];
    let mut seen = HashSet::new();
    for ((_, uid), value) in rows {
        if !seen.insert(uid) {
            return Err(ClientError::InvalidChainData {
                pallet: PALLET,
                entry,
                key: key.to_owned(),
                reason: format!("uid {uid} appears twice"),
            });
        }
        if let Some(slot) = out.get_mut(usize::from(uid)) {
            *slot = value;
        }
    }
    Ok(out)
}

fn check_len(entry: &'static str, key: &str, len: usize, n: u16) -> Result<(), ClientError> {
    if len == usize::from(n) {
        return Ok(());
    }
    Err(ClientError::InvalidChainData {
        pallet: PALLET,
        entry,
        key: key.to_owned(),
        reason: format!("{len} entries for SubnetworkN = {n} neurons"),
    })
}

/// Where `hotkey` stands on `netuid` (mechanism 0): `SubnetworkN`, its uid (`Uids`), and that
/// uid's `ValidatorPermit` and `LastUpdate` entries (false / 0 where the vectors are short).
pub(crate) async fn read_validator_standing(
    reader: &Reader<'_>,
    netuid: u16,
    hotkey: [u8; 32],
) -> Result<ValidatorStanding, ClientError> {
    let key = format!("netuid {netuid}");
    let subnet_n: u16 = reader.value("SubnetworkN", (netuid,), &key).await?;
    let account = AccountId32(hotkey);
    let uid_key = format!("netuid {netuid}, hotkey {account}");
    let uid: Option<u16> = reader.optional("Uids", (netuid, account), &uid_key).await?;
    let Some(uid) = uid.filter(|u| *u < subnet_n) else {
        return Ok(ValidatorStanding {
            subnet_n,
            uid: None,
            validator_permit: false,
            last_update: 0,
        });
    };
    let permits: Vec<bool> = reader.value("ValidatorPermit", (netuid,), &key).await?;
    let last_update: Vec<u64> = reader.value("LastUpdate", (netuid,), &key).await?;
    Ok(ValidatorStanding {
        subnet_n,
        uid: Some(uid),
        validator_permit: permits.get(usize::from(uid)).copied().unwrap_or(false),
        last_update: last_update.get(usize::from(uid)).copied().unwrap_or(0),
    })
}

/// `(alpha on netuid, TAO on root)` per hotkey, read concurrently, in hotkey order.
async fn read_stakes(
    reader: &Reader<'_>,
    netuid: u16,
    hotkeys: &[[u8; 32]],
) -> Result<Vec<(u64, u64)>, ClientError> {
    stream::iter(hotkeys.iter().enumerate())
        .map(|(uid, hotkey)| async move {
            let account = AccountId32(*hotkey);
            let alpha_key = format!("uid {uid} (hotkey {account}), netuid {netuid}");
            let root_key = format!("uid {uid} (hotkey {account}), netuid 0");
            let alpha: u64 = reader
                .value("TotalHotkeyAlpha", (account, netuid), &alpha_key)
                .await?;
            let tao: u64 = reader
                .value("TotalHotkeyAlpha", (account, 0u16), &root_key)
                .await?;
            Ok::<_, ClientError>((alpha, tao))
        })
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await
}

/// `Axons(netuid, hotkey)` per hotkey, read concurrently, in hotkey order.
async fn read_axons(
    reader: &Reader<'_>,
    netuid: u16,
    hotkeys: &[[u8; 32]],
) -> Result<Vec<Option<AxonInfo>>, ClientError> {
    stream::iter(hotkeys.iter().enumerate())
        .map(|(uid, hotkey)| async move {
            let account = AccountId32(*hotkey);
            let key = format!("netuid {netuid}, uid {uid} (hotkey {account})");
            reader.optional("Axons", (netuid, account), &key).await
        })
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await
}
