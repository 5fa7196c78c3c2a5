//! The `SubtensorModule` calls a validator makes, as typed argument structs that become subxt
//! dynamic payloads (no codegen).
//!
//! Finney metadata (`metadata/finney.scale`): `SubtensorModule` is pallet index 7;
//! `set_weights` = call 0 `(netuid: u16, dests: Vec<u16>, weights: Vec<u16>, version_key: u64)`,
//! `serve_axon` = call 4 `(netuid: u16, version: u32, ip: u128, port: u16, ip_type: u8,
//! protocol: u8, placeholder1: u8, placeholder2: u8)`, `commit_weights` = call 96
//! `(netuid: u16, commit_hash: H256)`, `reveal_weights` = call 97 `(netuid: u16, uids: Vec<u16>,
//! values: Vec<u16>, salt: Vec<u16>, version_key: u64)`, `commit_timelocked_weights` = call 113
//! `(netuid: u16, commit: BoundedVec<u8, ConstU32<5000>>, reveal_round: u64,
//! commit_reveal_version: u16)` (a bounded vector encodes as a `Vec<u8>`). Arguments are encoded against the
//! metadata's types **by name**, so a renamed or retyped argument fails to encode instead of
//! shifting positions. The indices are not hard-coded: they come from the node's metadata.

use std::net::{IpAddr, SocketAddr};

use subxt::ext::scale_encode::{EncodeAsFields, EncodeAsType};
use subxt::transactions::DynamicPayload;

use crate::error::ClientError;

/// The pallet of every call here.
pub const PALLET: &str = "SubtensorModule";

/// A `SubtensorModule` call: its metadata name, its argument checks, and its payload.
pub trait SubtensorCall: EncodeAsFields + Sized {
    /// The call's name in the metadata (`set_weights`).
    const NAME: &'static str;
    /// `SubtensorModule::<name>`, for messages.
    const FULL_NAME: &'static str;

    /// Checks the arguments the way the runtime would refuse them outright (mismatched lengths,
    /// duplicate uids, bad IP type), before anything is signed or sent.
    fn check(&self) -> Result<(), ClientError>;

    /// The dynamic payload (`subxt::dynamic::tx(PALLET, NAME, self)`), after [`Self::check`].
    fn payload(self) -> Result<DynamicPayload<Self>, ClientError> {
        self.check()?;
        Ok(subxt::dynamic::tx(PALLET, Self::NAME, self))
    }
}

/// `set_weights(netuid, dests, weights, version_key)`.
#[derive(Debug, Clone, PartialEq, Eq, EncodeAsType)]
#[encode_as_type(crate_path = "subxt::ext::scale_encode")]
pub struct SetWeights {
    /// Subnet.
    pub netuid: u16,
    /// Destination uids.
    pub dests: Vec<u16>,
    /// u16 weights, one per destination.
    pub weights: Vec<u16>,
    /// The validator's version key (must be ≥ `WeightsVersionKey`).
    pub version_key: u64,
}

/// `commit_weights(netuid, commit_hash)` (commit-reveal v2).
#[derive(Debug, Clone, PartialEq, Eq, EncodeAsType)]
#[encode_as_type(crate_path = "subxt::ext::scale_encode")]
pub struct CommitWeights {
    /// Subnet.
    pub netuid: u16,
    /// `chain::commit_reveal::commit_hash_v2` of the weights to reveal later.
    pub commit_hash: [u8; 32],
}

/// `reveal_weights(netuid, uids, values, salt, version_key)` (commit-reveal v2).
#[derive(Debug, Clone, PartialEq, Eq, EncodeAsType)]
#[encode_as_type(crate_path = "subxt::ext::scale_encode")]
pub struct RevealWeights {
    /// Subnet.
    pub netuid: u16,
    /// Destination uids, as committed.
    pub uids: Vec<u16>,
    /// u16 weights, as committed.
    pub values: Vec<u16>,
    /// The salt, as committed.
    pub salt: Vec<u16>,
    /// The version key, as committed.
    pub version_key: u64,
}

/// `commit_timelocked_weights(netuid, commit, reveal_round, commit_reveal_version)`
/// (timelocked commit-reveal, v4): the chain decrypts `commit` itself with drand round
/// `reveal_round` and applies the weights; there is no reveal call.
#[derive(Debug, Clone, PartialEq, Eq, EncodeAsType)]
#[encode_as_type(crate_path = "subxt::ext::scale_encode")]
pub struct CommitTimelockedWeights {
    /// Subnet.
    pub netuid: u16,
    /// `chain::commit_reveal::timelocked_commit`'s ciphertext (1 to 5000 bytes).
    pub commit: Vec<u8>,
    /// The drand quicknet round the commit is encrypted to (≥ 1).
    pub reveal_round: u64,
    /// The chain's `CommitRevealWeightsVersion` (4).
    pub commit_reveal_version: u16,
}

/// `serve_axon(netuid, version, ip, port, ip_type, protocol, placeholder1, placeholder2)`.
#[derive(Debug, Clone, PartialEq, Eq, EncodeAsType)]
#[encode_as_type(crate_path = "subxt::ext::scale_encode")]
pub struct ServeAxon {
    /// Subnet.
    pub netuid: u16,
    /// Software version to announce.
    pub version: u32,
    /// IP as an integer (IPv4 in the low 32 bits).
    pub ip: u128,
    /// Port.
    pub port: u16,
    /// 4 or 6.
    pub ip_type: u8,
    /// Protocol tag (bittensor uses 4 for TCP).
    pub protocol: u8,
    /// Reserved, 0.
    pub placeholder1: u8,
    /// Reserved, 0.
    pub placeholder2: u8,
}

impl ServeAxon {
    /// A `serve_axon` for a socket address: `ip`/`ip_type` from the address family, reserved
    /// fields 0.
    pub fn from_socket(netuid: u16, version: u32, addr: SocketAddr, protocol: u8) -> Self {
        let (ip, ip_type) = match addr.ip() {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 4),
            IpAddr::V6(v6) => (u128::from(v6), 6),
        };
        ServeAxon {
            netuid,
            version,
            ip,
            port: addr.port(),
            ip_type,
            protocol,
            placeholder1: 0,
            placeholder2: 0,
        }
    }
}

fn invalid(call: &'static str, reason: String) -> ClientError {
    ClientError::InvalidCall { call, reason }
}

/// One value per uid, no uid twice.
pub(crate) fn check_uid_values(
    call: &'static str,
    uids: &[u16],
    values: &[u16],
) -> Result<(), ClientError> {
    if uids.len() != values.len() {
        return Err(invalid(
            call,
            format!(
                "{} uids but {} weights: give one weight per uid",
                uids.len(),
                values.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = uids.iter().find(|uid| !seen.insert(**uid)) {
        return Err(invalid(call, format!("uid {dup} appears twice")));
    }
    Ok(())
}

impl SubtensorCall for SetWeights {
    const NAME: &'static str = "set_weights";
    const FULL_NAME: &'static str = "SubtensorModule::set_weights";
    fn check(&self) -> Result<(), ClientError> {
        check_uid_values(Self::FULL_NAME, &self.dests, &self.weights)
    }
}

impl SubtensorCall for CommitWeights {
    const NAME: &'static str = "commit_weights";
    const FULL_NAME: &'static str = "SubtensorModule::commit_weights";
    fn check(&self) -> Result<(), ClientError> {
        Ok(())
    }
}

impl SubtensorCall for RevealWeights {
    const NAME: &'static str = "reveal_weights";
    const FULL_NAME: &'static str = "SubtensorModule::reveal_weights";
    fn check(&self) -> Result<(), ClientError> {
        check_uid_values(Self::FULL_NAME, &self.uids, &self.values)
    }
}

impl SubtensorCall for CommitTimelockedWeights {
    const NAME: &'static str = "commit_timelocked_weights";
    const FULL_NAME: &'static str = "SubtensorModule::commit_timelocked_weights";
    fn check(&self) -> Result<(), ClientError> {
        let max = chain::commit_reveal::MAX_TIMELOCKED_COMMIT_BYTES;
        if self.commit.is_empty() || self.commit.len() > max {
            return Err(invalid(
                Self::FULL_NAME,
                format!(
                    "commit of {} bytes; the chain accepts 1 to {max}",
                    self.commit.len()
                ),
            ));
        }
        if self.reveal_round == 0 {
            return Err(invalid(
                Self::FULL_NAME,
                "reveal round 0 does not exist".into(),
            ));
        }
        Ok(())
    }
}

impl SubtensorCall for ServeAxon {
    const NAME: &'static str = "serve_axon";
    const FULL_NAME: &'static str = "SubtensorModule::serve_axon";
    fn check(&self) -> Result<(), ClientError> {
        match self.ip_type {
            4 if self.ip > u128::from(u32::MAX) => Err(invalid(
                Self::FULL_NAME,
                format!("ip {} does not fit IPv4 (ip_type 4)", self.ip),
            )),
            4 | 6 => Ok(()),
            other => Err(invalid(
                Self::FULL_NAME,
                format!("ip_type must be 4 or 6, got {other}"),
            )),
        }
    }
}
