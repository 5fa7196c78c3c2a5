//! Shared test helpers: the committed finney metadata, hand-written SCALE and storage-key
//! encodings (independent of subxt's own key encoder), and the runtime version constant.

#![allow(dead_code, unreachable_pub, missing_docs)]

use chain_client::SubtensorConfig;
use subxt::ext::scale_decode::DecodeAsType;
use subxt::metadata::ArcMetadata;

pub mod mock;

/// The finney runtime metadata committed with the crate.
pub const FINNEY: &[u8] = include_bytes!("../../metadata/finney.scale");

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
