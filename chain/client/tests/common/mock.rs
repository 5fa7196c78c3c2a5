//! A canned subtensor node behind subxt's `MockRpcClient`: it answers the legacy JSON-RPC
//! methods subxt uses (block hashes and headers, `state_call` for the runtime version, metadata
//! and nonce, storage reads and key paging, extrinsic submission with a status subscription,
//! block bodies), from one committed runtime metadata file (`super::Runtime`) and storage
//! values the test encodes itself. This is a transport test: no runtime executes anything.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};
use subxt::config::substrate::{Digest, SubstrateHeader};
use subxt::ext::scale_encode::EncodeAsType;
use subxt::ext::scale_value::Value;
use subxt::rpcs::RpcClient;
use subxt::utils::H256;
use subxt_rpcs::client::MockRpcClient;
use subxt_rpcs::client::mock_rpc_client::Json as J;

use super::{FINNEY, GENESIS, compact, runtime_version_bytes, storage_key};

/// Hash of the finalized head the client reads at (block 100).
pub const FINALIZED: [u8; 32] = [0x22; 32];
/// Hash of the block submitted extrinsics land in (block 101).
pub const INCLUDED: [u8; 32] = [0x33; 32];

/// What the dispatch of a submitted extrinsic reports in its events.
#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    Success,
    /// `ExtrinsicFailed` with `DispatchError::Module { index, error: [error, 0, 0, 0] }`.
    ModuleError {
        pallet_index: u8,
        error_index: u8,
    },
}

/// The node's state: raw storage (key → SCALE value) and the nonces it reports.
pub struct MockChain {
    pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
    /// `system_accountNextIndex` (counts the pool).
    pub next_nonce: u64,
    /// `AccountNonceApi_account_nonce` (finalized state only).
    pub state_nonce: u32,
    pub outcome: Outcome,
}

/// What the test can inspect afterwards.
#[derive(Clone, Default)]
pub struct Seen {
    pub submitted: Arc<Mutex<Vec<Vec<u8>>>>,
    pub methods: Arc<Mutex<Vec<String>>>,
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn unhex(v: &Json) -> Vec<u8> {
    let s = v.as_str().unwrap_or_default();
    hex::decode(s.trim_start_matches("0x")).expect("hex param")
}

fn params(raw: Option<Box<serde_json::value::RawValue>>) -> Vec<Json> {
    raw.map(|r| serde_json::from_str(r.get()).expect("params are JSON"))
        .unwrap_or_default()
}

fn header(number: u64, parent: [u8; 32]) -> Json {
    serde_json::to_value(SubstrateHeader::<H256> {
        parent_hash: H256(parent),
        number,
        state_root: H256([0; 32]),
        extrinsics_root: H256([0; 32]),
        digest: Digest::default(),
    })
    .expect("header serialises")
}

fn block_number(hash: &[u8]) -> Option<u64> {
    if hash == GENESIS {
        Some(0)
    } else if hash == FINALIZED {
        Some(100)
    } else if hash == INCLUDED {
        Some(101)
    } else {
        None
    }
}

/// `System::Events` with one record for extrinsic 0 of the block (success or a module error),
/// encoded against `metadata`'s own types.
pub fn events_value(metadata: &subxt::metadata::Metadata, outcome: Outcome) -> Vec<u8> {
    let info = Value::named_composite([
        (
            "weight",
            Value::named_composite([("ref_time", Value::u128(1)), ("proof_size", Value::u128(2))]),
        ),
        ("class", Value::unnamed_variant("Normal", [])),
        ("pays_fee", Value::unnamed_variant("Yes", [])),
    ]);
    let system_event = match outcome {
        Outcome::Success => Value::named_variant("ExtrinsicSuccess", [("dispatch_info", info)]),
        Outcome::ModuleError {
            pallet_index,
            error_index,
        } => {
            let module = Value::named_composite([
                ("index", Value::u128(pallet_index.into())),
                (
                    "error",
                    Value::unnamed_composite([error_index, 0, 0, 0].map(|b| Value::u128(b.into()))),
                ),
            ]);
            Value::named_variant(
                "ExtrinsicFailed",
                [
                    ("dispatch_error", Value::unnamed_variant("Module", [module])),
                    ("dispatch_info", info),
                ],
            )
        }
    };
    let record = Value::named_composite([
        (
            "phase",
            Value::unnamed_variant("ApplyExtrinsic", [Value::u128(0)]),
        ),
        ("event", Value::unnamed_variant("System", [system_event])),
        ("topics", Value::unnamed_composite([])),
    ]);
    let events = Value::unnamed_composite([record]);
    let ty = metadata
        .pallet_by_name("System")
        .and_then(|p| p.storage())
        .and_then(|s| s.entry_by_name("Events"))
        .expect("System::Events")
        .value_ty();
    events
        .encode_as_type(ty, metadata.types())
        .expect("events encode against the metadata")
}

/// The metadata format version of `RuntimeMetadataPrefixed` bytes (14 for V14, 16 for V16).
fn metadata_format(metadata: &[u8]) -> u32 {
    use subxt::ext::codec::Decode;
    subxt::ext::frame_metadata::RuntimeMetadataPrefixed::decode(&mut &metadata[..])
        .expect("metadata decodes")
        .1
        .version()
}

/// `state_call` answers: runtime version, metadata (offered in its own format version only),
/// nonce.
fn state_call(method: &str, runtime_version: &[u8], metadata: &[u8], nonce: u32) -> Option<String> {
    match method {
        "Core_version" => Some(hex0x(runtime_version)),
        "Metadata_metadata_versions" => {
            let mut out = compact(1);
            out.extend_from_slice(&metadata_format(metadata).to_le_bytes());
            Some(hex0x(&out))
        }
        "Metadata_metadata_at_version" => {
            // Option::Some, then the metadata as a length-prefixed Vec<u8>.
            let mut out = vec![1u8];
            out.extend(compact(metadata.len() as u32));
            out.extend_from_slice(metadata);
            Some(hex0x(&out))
        }
        "AccountNonceApi_account_nonce" => Some(hex0x(&nonce.to_le_bytes())),
        _ => None,
    }
}

/// An RPC client serving `chain` through subxt's mock client, with `runtime`'s metadata.
pub fn rpc_client(runtime: &super::Runtime, chain: MockChain) -> (RpcClient, Seen) {
    rpc_client_with_metadata(chain, runtime.bytes.to_vec())
}

/// The finney metadata (V16) without storage `SubtensorModule::entry`: a runtime that lacks it.
pub fn finney_without_storage(entry: &str) -> Vec<u8> {
    use subxt::ext::codec::{Decode, Encode};
    use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
    let mut prefixed =
        RuntimeMetadataPrefixed::decode(&mut &FINNEY[..]).expect("finney metadata decodes");
    let RuntimeMetadata::V16(m) = &mut prefixed.1 else {
        panic!("finney.scale is V16 metadata");
    };
    let storage = m
        .pallets
        .iter_mut()
        .find(|p| p.name == "SubtensorModule")
        .and_then(|p| p.storage.as_mut())
        .expect("SubtensorModule storage");
    let before = storage.entries.len();
    storage.entries.retain(|e| e.name != entry);
    assert_eq!(storage.entries.len() + 1, before, "{entry} removed");
    prefixed.encode()
}

/// The finney metadata (V16) without call `SubtensorModule::name`: a runtime that lacks it.
pub fn finney_without_call(name: &str) -> Vec<u8> {
    use scale_info::TypeDef;
    use subxt::ext::codec::{Decode, Encode};
    use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
    let mut prefixed =
        RuntimeMetadataPrefixed::decode(&mut &FINNEY[..]).expect("finney metadata decodes");
    let RuntimeMetadata::V16(m) = &mut prefixed.1 else {
        panic!("finney.scale is V16 metadata");
    };
    let call_ty = m
        .pallets
        .iter()
        .find(|p| p.name == "SubtensorModule")
        .and_then(|p| p.calls.as_ref())
        .expect("SubtensorModule calls")
        .ty
        .id;
    let ty = m
        .types
        .types
        .iter_mut()
        .find(|t| t.id == call_ty)
        .expect("the call enum type");
    let TypeDef::Variant(variants) = &mut ty.ty.type_def else {
        panic!("the call type is an enum");
    };
    let before = variants.variants.len();
    variants.variants.retain(|v| v.name != name);
    assert_eq!(variants.variants.len() + 1, before, "{name} removed");
    prefixed.encode()
}

/// An RPC client serving `chain` through subxt's mock client, with `metadata` (SCALE-encoded
/// `RuntimeMetadataPrefixed`) as the runtime's metadata.
pub fn rpc_client_with_metadata(chain: MockChain, metadata_bytes: Vec<u8>) -> (RpcClient, Seen) {
    let (mock, seen) = mock_node(chain, metadata_bytes);
    (RpcClient::new(mock), seen)
}

/// The node's handlers as subxt's mock client: in-process ([`rpc_client_with_metadata`]) or
/// behind a WebSocket (`super::ws::serve`).
pub fn mock_node(chain: MockChain, metadata_bytes: Vec<u8>) -> (MockRpcClient, Seen) {
    let seen = Seen::default();
    let metadata = chain_client::config::decode_metadata(&metadata_bytes).expect("metadata");
    let metadata_bytes = Arc::new(metadata_bytes);
    let mut storage = chain.storage;
    storage.insert(
        storage_key("System", "Events", &[]),
        events_value(&metadata, chain.outcome),
    );
    let storage = Arc::new(storage);
    let runtime_version = Arc::new(runtime_version_bytes(&metadata));
    let nonce = chain.next_nonce;
    let state_nonce = chain.state_nonce;
    let methods = seen.methods.clone();
    let submitted_body = seen.submitted.clone();
    let submitted = seen.submitted.clone();

    let (s1, s2, s3) = (storage.clone(), storage.clone(), storage.clone());
    let mock = MockRpcClient::builder()
        .method_handler("rpc_methods", async |_| {
            J(
                json!({"methods": ["chain_getBlockHash", "chain_getHeader", "state_call",
                "state_getStorage", "state_getKeysPaged", "state_queryStorageAt",
                "author_submitAndWatchExtrinsic", "system_accountNextIndex", "chain_getBlock"]}),
            )
        })
        .method_handler("chain_getBlockHash", async |p| {
            let n = params(p).first().and_then(Json::as_u64);
            J(match n {
                Some(0) => json!(hex0x(&GENESIS)),
                Some(100) => json!(hex0x(&FINALIZED)),
                Some(101) => json!(hex0x(&INCLUDED)),
                _ => Json::Null,
            })
        })
        .method_handler("chain_getFinalizedHead", async |_| J(hex0x(&FINALIZED)))
        .method_handler("chain_getHeader", async |p| {
            let hash = params(p).first().map(unhex).unwrap_or(FINALIZED.to_vec());
            J(match block_number(&hash) {
                Some(0) => header(0, [0; 32]),
                Some(100) => header(100, [0x44; 32]),
                Some(101) => header(101, FINALIZED),
                _ => Json::Null,
            })
        })
        .method_handler("state_call", move |p| {
            let p = params(p);
            let method = p
                .first()
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned();
            let answer = state_call(&method, &runtime_version, &metadata_bytes, state_nonce);
            async move { answer.map(J) }
        })
        .method_handler("state_getStorage", move |p| {
            let key = params(p).first().map(unhex).unwrap_or_default();
            let value = s1.get(&key).map(|v| hex0x(v));
            async move { J(value) }
        })
        .method_handler("state_getKeysPaged", move |p| {
            let p = params(p);
            let prefix = p.first().map(unhex).unwrap_or_default();
            let count = p.get(1).and_then(Json::as_u64).unwrap_or(0) as usize;
            let start = p.get(2).filter(|v| !v.is_null()).map(unhex);
            let keys: Vec<String> = s2
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .filter(|k| start.as_ref().is_none_or(|s| *k > s))
                .take(count)
                .map(|k| hex0x(k))
                .collect();
            async move { J(keys) }
        })
        .method_handler("state_queryStorageAt", move |p| {
            let p = params(p);
            let keys = p
                .first()
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            let changes: Vec<Json> = keys
                .iter()
                .map(|k| json!([k, s3.get(&unhex(k)).map(|v| hex0x(v))]))
                .collect();
            let at = p.get(1).cloned().unwrap_or(Json::Null);
            async move { J(json!([{"block": at, "changes": changes}])) }
        })
        .method_handler("system_accountNextIndex", move |_| async move { J(nonce) })
        .method_handler("chain_getBlock", move |p| {
            let hash = params(p).first().map(unhex).unwrap_or_default();
            let body: Vec<String> = if hash == INCLUDED {
                submitted_body
                    .lock()
                    .expect("lock")
                    .iter()
                    .map(|x| hex0x(x))
                    .collect()
            } else {
                Vec::new()
            };
            let block = block_number(&hash).map(|n| {
                json!({"block": {"header": header(n, [0; 32]), "extrinsics": body},
                       "justifications": null})
            });
            async move { J(block.unwrap_or(Json::Null)) }
        })
        .method_fallback(move |name, _| {
            methods.lock().expect("lock").push(name);
            async { None::<J<Json>> }
        })
        .subscription_handler("author_submitAndWatchExtrinsic", move |p, _unsub| {
            let ext = params(p).first().map(unhex).unwrap_or_default();
            submitted.lock().expect("lock").push(ext);
            async move {
                vec![
                    J(json!("ready")),
                    J(json!({"inBlock": hex0x(&INCLUDED)})),
                    J(json!({"finalized": hex0x(&INCLUDED)})),
                ]
            }
        })
        .build();
    (mock, seen)
}
