//! A three-neuron subnet 1 as the raw storage of one [`Runtime`]: keys hashed with that
//! runtime's hashers, values encoded against its own type registry. uid 0 is Alice (the signer
//! of the submission tests: a validator with a permit), uids 1 and 2 are miners (uid 1 serves an
//! axon). Plus the client and extrinsic helpers the mock-node tests share.

use std::collections::BTreeMap;

use chain_client::{AxonInfo, ChainClient};
use subxt::ext::frame_decode::extrinsics::decode_extrinsic;
use subxt::ext::scale_value::Value;
use subxt_signer::sr25519::dev;

use super::Runtime;
use super::mock::{MockChain, Outcome, Seen, rpc_client};

/// The subnet.
pub const NETUID: u16 = 1;
/// Its `WeightsVersionKey`.
pub const SUBNET_VERSION_KEY: u64 = 2_001_003;
/// Its `WeightsSetRateLimit`: uid 0 (last update 90) may set weights again from block 100.
pub const RATE_LIMIT: u64 = 10;

/// The hotkeys of uids 0 (Alice), 1 and 2.
pub fn hotkeys() -> [[u8; 32]; 3] {
    [dev::alice().public_key().0, [0xa1; 32], [0xa2; 32]]
}

/// uid 1's axon.
pub const AXON: AxonInfo = AxonInfo {
    block: 77,
    version: 900,
    ip: 0x0a00_0002,
    port: 8091,
    ip_type: 4,
    protocol: 4,
    placeholder1: 0,
    placeholder2: 0,
};

/// Little-endian u16 bytes (netuids and uids in keys).
pub fn n(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}

fn uint(v: u64) -> Value {
    Value::u128(u128::from(v))
}

fn pairs(items: &[(u16, u16)]) -> Value {
    Value::unnamed_composite(
        items
            .iter()
            .map(|(a, b)| Value::unnamed_composite([uint((*a).into()), uint((*b).into())])),
    )
}

fn account(key: &[u8; 32]) -> Value {
    Value::from_bytes(key)
}

/// One runtime's storage, written through its metadata.
pub struct Subnet<'a> {
    /// The runtime whose hashers and types are used.
    pub rt: &'a Runtime,
    /// Raw key → SCALE value.
    pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl<'a> Subnet<'a> {
    /// An empty chain of `rt`.
    pub fn empty(rt: &'a Runtime) -> Self {
        Subnet {
            rt,
            storage: BTreeMap::new(),
        }
    }

    /// Stores `value` (encoded as the entry's type) at `entry(parts)`.
    pub fn set(&mut self, entry: &str, parts: &[&[u8]], value: Value) -> &mut Self {
        let key = self.rt.key(entry, parts);
        let bytes = self.rt.value(entry, value);
        self.storage.insert(key, bytes);
        self
    }

    /// Stores raw bytes at `entry(parts)` (hostile data).
    pub fn set_raw(&mut self, entry: &str, parts: &[&[u8]], bytes: Vec<u8>) -> &mut Self {
        self.storage.insert(self.rt.key(entry, parts), bytes);
        self
    }

    /// Removes `entry(parts)`.
    pub fn remove(&mut self, entry: &str, parts: &[&[u8]]) -> &mut Self {
        self.storage.remove(&self.rt.key(entry, parts));
        self
    }

    /// Sets a subnet-keyed value (`entry(NETUID)`).
    pub fn subnet_value(&mut self, entry: &str, value: Value) -> &mut Self {
        self.set(entry, &[&n(NETUID)], value)
    }

    /// Commit-reveal on (`CommitRevealWeightsEnabled`), and the global
    /// `CommitRevealWeightsVersion` when given and the runtime has it.
    pub fn commit_reveal(&mut self, version: Option<u16>) -> &mut Self {
        self.subnet_value("CommitRevealWeightsEnabled", Value::bool(true));
        if let Some(v) = version
            && self.rt.has_storage("CommitRevealWeightsVersion")
        {
            self.set("CommitRevealWeightsVersion", &[], uint(v.into()));
        }
        self
    }

    /// `LastUpdate` of the subnet, one entry per uid.
    pub fn last_update(&mut self, blocks: &[u64]) -> &mut Self {
        self.subnet_value(
            "LastUpdate",
            Value::unnamed_composite(blocks.iter().map(|b| uint(*b))),
        )
    }

    /// `ValidatorPermit` of the subnet, one entry per uid.
    pub fn permits(&mut self, permits: &[bool]) -> &mut Self {
        self.subnet_value(
            "ValidatorPermit",
            Value::unnamed_composite(permits.iter().map(|p| Value::bool(*p))),
        )
    }

    /// Puts `hotkey` at `uid` (`Keys`, `Uids`), serving at `axon` when given.
    pub fn neuron(&mut self, uid: u16, hotkey: &[u8; 32], axon: Option<&AxonInfo>) -> &mut Self {
        let net = n(NETUID);
        self.set("Keys", &[&net, &n(uid)], account(hotkey));
        self.set("Uids", &[&net, hotkey], uint(uid.into()));
        if let Some(a) = axon {
            self.set("Axons", &[&net, hotkey], axon_value(a));
        }
        self
    }

    /// The three-neuron subnet with non-default hyperparameters.
    pub fn three_neurons(rt: &'a Runtime) -> Self {
        let mut s = Subnet::empty(rt);
        let net = n(NETUID);
        s.subnet_value("NetworksAdded", Value::bool(true));
        s.subnet_value("SubnetworkN", uint(3));
        for (uid, hotkey) in (0u16..).zip(hotkeys()) {
            s.set("Keys", &[&net, &n(uid)], account(&hotkey));
            s.set("Uids", &[&net, &hotkey], uint(uid.into()));
        }
        // A Weights row for uid 7 ≥ n: dropped, as the runtime's epoch drops it.
        s.set("Weights", &[&net, &n(7)], pairs(&[(0, 1)]));
        s.set("Weights", &[&net, &n(0)], pairs(&[(1, 65535), (2, 100)]));
        s.set("Bonds", &[&net, &n(0)], pairs(&[(1, 5000)]));
        // Another subnet's row must not leak in.
        s.set("Weights", &[&n(2), &n(1)], pairs(&[(0, 9)]));
        s.permits(&[true, false, false]);
        s.last_update(&[90, 80, 0]);
        for (uid, block) in [(0u16, 10u64), (1, 20)] {
            s.set("BlockAtRegistration", &[&net, &n(uid)], uint(block));
        }
        let [h0, h1, h2] = hotkeys();
        for (hotkey, netuid, alpha) in [(h0, NETUID, 1_000u64), (h0, 0, 500), (h1, NETUID, 7)] {
            s.set("TotalHotkeyAlpha", &[&hotkey, &n(netuid)], uint(alpha));
        }
        s.set("TaoWeight", &[], uint(u64::MAX / 2));
        s.set("Axons", &[&net, &h1], axon_value(&AXON));
        s.hyperparams(h2);
        s
    }

    fn hyperparams(&mut self, owner: [u8; 32]) {
        self.subnet_value("Tempo", uint(99));
        self.subnet_value("Kappa", uint(30_000));
        self.subnet_value("WeightsVersionKey", uint(SUBNET_VERSION_KEY));
        self.subnet_value("WeightsSetRateLimit", uint(RATE_LIMIT));
        self.subnet_value("MinAllowedWeights", uint(1));
        self.subnet_value("MaxWeightsLimit", uint(u16::MAX.into()));
        self.subnet_value("CommitRevealWeightsEnabled", Value::bool(false));
        self.subnet_value("Yuma3On", Value::bool(true));
        self.subnet_value(
            "AlphaValues",
            Value::unnamed_composite([uint(1000), uint(2000)]),
        );
        if self.rt.has_storage("MechanismCountCurrent") {
            self.subnet_value("MechanismCountCurrent", uint(2));
        }
        self.subnet_value("RevealPeriodEpochs", uint(3));
        self.subnet_value("BlocksSinceLastStep", uint(3));
        self.subnet_value("SubnetOwnerHotkey", account(&owner));
    }
}

/// `AxonInfo` as a value of the runtime's `AxonInfo` type.
pub fn axon_value(a: &AxonInfo) -> Value {
    Value::named_composite([
        ("block", uint(a.block)),
        ("version", uint(a.version.into())),
        ("ip", Value::u128(a.ip)),
        ("port", uint(a.port.into())),
        ("ip_type", uint(a.ip_type.into())),
        ("protocol", uint(a.protocol.into())),
        ("placeholder1", uint(a.placeholder1.into())),
        ("placeholder2", uint(a.placeholder2.into())),
    ])
}

/// A node with `storage`, nonces 7 (pool) and 6 (state), and dispatch `outcome`.
pub fn chain(storage: BTreeMap<Vec<u8>, Vec<u8>>, outcome: Outcome) -> MockChain {
    MockChain {
        storage,
        next_nonce: 7,
        state_nonce: 6,
        outcome,
    }
}

/// A client (no signer) over a mock node of `rt` holding `storage`.
pub async fn client(
    rt: &Runtime,
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
    outcome: Outcome,
) -> (ChainClient, Seen) {
    let (rpc, seen) = rpc_client(rt, chain(storage, outcome));
    let client = ChainClient::from_rpc_client(rpc)
        .await
        .unwrap_or_else(|e| panic!("{}: client over the mock: {e}", rt.name));
    (client, seen)
}

/// A client signing as Alice (uid 0) over a mock node of `rt` holding `storage`.
pub async fn signed(rt: &Runtime, storage: BTreeMap<Vec<u8>, Vec<u8>>) -> (ChainClient, Seen) {
    let (c, seen) = client(rt, storage, Outcome::Success).await;
    (c.with_signer(dev::alice()), seen)
}

/// The extrinsics the node received.
pub fn submitted(seen: &Seen) -> Vec<Vec<u8>> {
    seen.submitted.lock().expect("lock").clone()
}

/// The call bytes (pallet index, call index, arguments) of the one extrinsic submitted,
/// decoded with `rt`'s metadata.
pub fn submitted_call(rt: &Runtime, seen: &Seen) -> Vec<u8> {
    let all = submitted(seen);
    assert_eq!(all.len(), 1, "{}: exactly one extrinsic", rt.name);
    let bytes = &all[0];
    let ext = decode_extrinsic(&mut &bytes[..], &*rt.metadata, rt.metadata.types())
        .unwrap_or_else(|e| panic!("{}: extrinsic decodes: {e}", rt.name));
    bytes[ext.call_data_range()].to_vec()
}

/// Call bytes written out: `rt`'s `[pallet, call]` indices of `name`, then the arguments.
pub fn call_bytes(rt: &Runtime, name: &str, args: &[&[u8]]) -> Vec<u8> {
    let mut out = rt.call_prefix(name).to_vec();
    for a in args {
        out.extend_from_slice(a);
    }
    out
}

/// A mock node of `rt` holding `storage` with dispatch `outcome`, served over a WebSocket on
/// loopback (`super::ws`): its `ws://` URL, and what it saw.
pub async fn ws_node(
    rt: &Runtime,
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
    outcome: Outcome,
) -> (String, Seen) {
    let (node, seen) = super::mock::mock_node(chain(storage, outcome), rt.bytes.to_vec());
    let addr = super::ws::serve(node).await;
    (format!("ws://{addr}"), seen)
}
