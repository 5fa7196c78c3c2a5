//! Shared test helpers: the committed runtime metadata files (finney, spec 393, V16; an older
//! subtensor, spec 293, V14) as [`Runtime`]s that tests run over, hand-written SCALE and
//! storage-key encodings (independent of subxt's own key encoder; the hashers come from each
//! runtime's metadata), and the runtime version constant.

#![allow(dead_code, unreachable_pub, missing_docs)]

use chain_client::SubtensorConfig;
use subxt::ext::frame_decode::storage::StorageHasher;
use subxt::ext::scale_decode::DecodeAsType;
use subxt::ext::scale_value::Value;
use subxt::metadata::ArcMetadata;

pub mod mock;
pub mod subnet;
pub mod ws;

/// The finney runtime metadata committed with the crate (spec 393, metadata V16).
pub const FINNEY: &[u8] = include_bytes!("../../metadata/finney.scale");

/// An older subtensor runtime's metadata committed with the crate (spec 293, July 2025, V14).
pub const SPEC293: &[u8] = include_bytes!("../../metadata/spec293.scale");

/// One runtime the mock node can serve: its metadata file, decoded.
#[derive(Clone)]
pub struct Runtime {
    /// `finney` or `spec293`, for assertion messages.
    pub name: &'static str,
    /// `RuntimeMetadataPrefixed`, as the node serves it.
    pub bytes: &'static [u8],
    /// The decoded metadata.
    pub metadata: ArcMetadata,
}

/// Every runtime the tests run over: finney, then spec 293.
pub fn runtimes() -> [Runtime; 2] {
    [("finney", FINNEY), ("spec293", SPEC293)].map(|(name, bytes)| Runtime {
        name,
        bytes,
        metadata: chain_client::config::decode_metadata(bytes)
            .unwrap_or_else(|e| panic!("{name} metadata decodes: {e}")),
    })
}

impl Runtime {
    /// `spec_version` from `System::Version`.
    pub fn spec_version(&self) -> u32 {
        runtime_version(&self.metadata).spec_version
    }

    /// The metadata format version (14, 15, 16) of the file.
    pub fn metadata_version(&self) -> u32 {
        use subxt::ext::codec::Decode;
        let prefixed =
            subxt::ext::frame_metadata::RuntimeMetadataPrefixed::decode(&mut &self.bytes[..])
                .expect("metadata decodes");
        prefixed.1.version()
    }

    fn entry(&self, entry: &str) -> &subxt::metadata::StorageEntryMetadata {
        self.metadata
            .pallet_by_name("SubtensorModule")
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name(entry))
            .unwrap_or_else(|| panic!("{}: no SubtensorModule::{entry}", self.name))
    }

    /// Whether the runtime has storage `SubtensorModule::entry`.
    pub fn has_storage(&self, entry: &str) -> bool {
        self.metadata
            .pallet_by_name("SubtensorModule")
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name(entry))
            .is_some()
    }

    /// Whether the runtime has call `SubtensorModule::name`.
    pub fn has_call(&self, name: &str) -> bool {
        self.metadata
            .pallet_by_name("SubtensorModule")
            .and_then(|p| p.call_variant_by_name(name))
            .is_some()
    }

    /// `[pallet index, call index]` of `SubtensorModule::name`.
    pub fn call_prefix(&self, name: &str) -> [u8; 2] {
        let pallet = self
            .metadata
            .pallet_by_name("SubtensorModule")
            .expect("SubtensorModule");
        let call = pallet
            .call_variant_by_name(name)
            .unwrap_or_else(|| panic!("{}: no call {name}", self.name));
        [pallet.call_index(), call.index]
    }

    /// The hashers of `SubtensorModule::entry`'s keys, as the metadata declares them.
    pub fn hashers(&self, entry: &str) -> Vec<StorageHasher> {
        self.entry(entry).keys().map(|k| k.hasher).collect()
    }

    /// The storage key of `SubtensorModule::entry` at `parts` (each part's SCALE bytes), each
    /// part hashed with the hasher the runtime's metadata gives it; the hashing is written out
    /// here ([`storage_key`]).
    pub fn key(&self, entry: &str, parts: &[&[u8]]) -> Vec<u8> {
        let hashers = self.hashers(entry);
        assert_eq!(
            hashers.len(),
            parts.len(),
            "{}: {entry} key parts",
            self.name
        );
        let parts: Vec<Part<'_>> = hashers
            .iter()
            .zip(parts)
            .map(|(hasher, bytes)| match hasher {
                StorageHasher::Identity => Part::Identity(bytes),
                StorageHasher::Blake2_128Concat => Part::Blake2_128Concat(bytes),
                StorageHasher::Twox64Concat => Part::Twox64Concat(bytes),
                other => panic!("{}: {entry} uses {other:?}", self.name),
            })
            .collect();
        subtensor_key(entry, &parts)
    }

    /// `value` SCALE-encoded as `SubtensorModule::entry`'s value type in this runtime's own type
    /// registry (fails the test when it does not fit).
    pub fn value(&self, entry: &str, value: Value) -> Vec<u8> {
        use subxt::ext::scale_encode::EncodeAsType;
        value
            .encode_as_type(self.entry(entry).value_ty(), self.metadata.types())
            .unwrap_or_else(|e| panic!("{}: {entry} value: {e}", self.name))
    }

    /// The metadata's default value of `SubtensorModule::entry`, read as a little-endian
    /// unsigned integer (entries whose value is one).
    pub fn default_int(&self, entry: &str) -> u64 {
        let bytes = self
            .entry(entry)
            .default_value()
            .unwrap_or_else(|| panic!("{}: {entry} has no default", self.name));
        assert!(bytes.len() <= 8, "{}: {entry} default {bytes:?}", self.name);
        let mut le = [0u8; 8];
        le[..bytes.len()].copy_from_slice(bytes);
        u64::from_le_bytes(le)
    }
}

pub fn metadata() -> ArcMetadata {
    chain_client::config::decode_metadata(FINNEY).expect("finney.scale decodes")
}

/// `System::Version` from the metadata: the runtime version the node reports in `Core_version`.
#[derive(Debug, DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
pub struct RuntimeVersion {
    pub spec_version: u32,
    pub transaction_version: u32,
}

/// The raw SCALE bytes of the `System::Version` constant.
pub fn runtime_version_bytes(metadata: &ArcMetadata) -> Vec<u8> {
    metadata
        .pallet_by_name("System")
        .and_then(|p| p.constant_by_name("Version"))
        .expect("System::Version constant")
        .value()
        .to_vec()
}

pub fn runtime_version(metadata: &ArcMetadata) -> RuntimeVersion {
    let bytes = runtime_version_bytes(metadata);
    let ty = metadata
        .pallet_by_name("System")
        .and_then(|p| p.constant_by_name("Version"))
        .expect("System::Version constant")
        .ty();
    RuntimeVersion::decode_as_type(&mut &bytes[..], ty, metadata.types()).expect("RuntimeVersion")
}

pub const GENESIS: [u8; 32] = [0x11; 32];

/// An offline subxt client over the finney metadata.
pub fn offline_client() -> subxt::OfflineClient<SubtensorConfig> {
    let metadata = metadata();
    let version = runtime_version(&metadata);
    subxt::OfflineClient::new_with_config(SubtensorConfig::offline(
        GENESIS,
        version.spec_version,
        version.transaction_version,
        metadata,
    ))
}

/// SCALE compact encoding, written out (modes 0–2 are all the tests need).
pub fn compact(v: u32) -> Vec<u8> {
    match v {
        0..=63 => vec![(v as u8) << 2],
        64..=16_383 => (((v as u16) << 2) | 1).to_le_bytes().to_vec(),
        _ => ((v << 2) | 2).to_le_bytes().to_vec(),
    }
}

pub fn vec_u16(items: &[u16]) -> Vec<u8> {
    let mut out = compact(items.len() as u32);
    for i in items {
        out.extend_from_slice(&i.to_le_bytes());
    }
    out
}

pub fn vec_pairs(items: &[(u16, u16)]) -> Vec<u8> {
    let mut out = compact(items.len() as u32);
    for (a, b) in items {
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
    }
    out
}

/// How one storage key part is hashed.
pub enum Part<'a> {
    Identity(&'a [u8]),
    Blake2_128Concat(&'a [u8]),
    Twox64Concat(&'a [u8]),
}

/// A storage key written out: `twox128(pallet) ++ twox128(entry) ++ hashed parts`.
pub fn storage_key(pallet: &str, entry: &str, parts: &[Part<'_>]) -> Vec<u8> {
    use sp_crypto_hashing::{blake2_128, twox_64, twox_128};
    let mut key = twox_128(pallet.as_bytes()).to_vec();
    key.extend_from_slice(&twox_128(entry.as_bytes()));
    for part in parts {
        match part {
            Part::Identity(b) => key.extend_from_slice(b),
            Part::Blake2_128Concat(b) => {
                key.extend_from_slice(&blake2_128(b));
                key.extend_from_slice(b);
            }
            Part::Twox64Concat(b) => {
                key.extend_from_slice(&twox_64(b));
                key.extend_from_slice(b);
            }
        }
    }
    key
}

pub fn subtensor_key(entry: &str, parts: &[Part<'_>]) -> Vec<u8> {
    storage_key("SubtensorModule", entry, parts)
}
