//! [`SubtensorConfig`]: the subxt `Config` of a subtensor (Bittensor) chain.
//!
//! Subtensor is a plain FRAME chain: `AccountId32`, `MultiAddress<AccountId32, ()>` (no account
//! index), `MultiSignature`, BlakeTwo256 hashes, u32 block numbers in a standard Substrate
//! header. Transaction extensions are the subxt defaults; the runtime's own extensions
//! (`SubtensorTransactionExtension`, `DrandPriority`, `CheckWeight`, `CheckNonZeroSender`, …) carry
//! no explicit or implicit data, so the metadata-driven encoder skips them.

use std::sync::Arc;

use subxt::config::substrate::{
    BlakeTwo256, SpecVersionForRange, SubstrateConfig, SubstrateHeader,
};
use subxt::config::{Config, DefaultExtrinsicParamsBuilder, DefaultTransactionExtensions, HashFor};
use subxt::metadata::ArcMetadata;
use subxt::utils::{AccountId32, H256, MultiAddress, MultiSignature};

/// The subxt configuration for subtensor. `Default` learns everything (genesis hash, runtime
/// version, metadata) from the node; [`SubtensorConfig::offline`] fixes them for offline use.
#[derive(Debug, Clone, Default)]
pub struct SubtensorConfig(SubstrateConfig);

/// Transaction parameters (nonce, mortality, tip) for [`SubtensorConfig`].
pub type SubtensorParamsBuilder = DefaultExtrinsicParamsBuilder<SubtensorConfig>;

impl SubtensorConfig {
    /// A configuration that needs no node: the given genesis hash, runtime `spec_version` /
    /// `transaction_version` for every block number, and metadata. This is what
    /// `subxt::OfflineClient` needs to build and sign extrinsics offline.
    pub fn offline(
        genesis_hash: [u8; 32],
        spec_version: u32,
        transaction_version: u32,
        metadata: ArcMetadata,
    ) -> Self {
        let inner = SubstrateConfig::builder()
            .set_genesis_hash(H256(genesis_hash))
            .set_spec_version_for_block_ranges([SpecVersionForRange {
                block_range: 0..u64::MAX,
                spec_version,
                transaction_version,
            }])
            .set_metadata_for_spec_versions([(spec_version, metadata)])
            .build();
        SubtensorConfig(inner)
    }
}

impl Config for SubtensorConfig {
    type AccountId = AccountId32;
    type Address = MultiAddress<AccountId32, ()>;
    type Signature = MultiSignature;
    type Hasher = BlakeTwo256;
    type Header = SubstrateHeader<H256>;
    type TransactionExtensions = DefaultTransactionExtensions<Self>;
    type AssetId = u32;

    fn genesis_hash(&self) -> Option<HashFor<Self>> {
        <SubstrateConfig as Config>::genesis_hash(&self.0)
    }

    fn spec_and_transaction_version_for_block_number(
        &self,
        block_number: u64,
    ) -> Option<(u32, u32)> {
        self.0
            .spec_and_transaction_version_for_block_number(block_number)
    }

    fn metadata_for_spec_version(&self, spec_version: u32) -> Option<ArcMetadata> {
        self.0.metadata_for_spec_version(spec_version)
    }

    fn set_metadata_for_spec_version(&self, spec_version: u32, metadata: ArcMetadata) {
        self.0.set_metadata_for_spec_version(spec_version, metadata)
    }
}

/// Decodes runtime metadata bytes (`RuntimeMetadataPrefixed`, as `state_getMetadata` and the
/// committed `metadata/finney.scale` hold it) into shareable metadata.
pub fn decode_metadata(bytes: &[u8]) -> Result<ArcMetadata, subxt::ext::codec::Error> {
    subxt::Metadata::decode_from(bytes).map(Arc::new)
}
