//! Checked storage reads of `SubtensorModule` at one block, through subxt's dynamic storage API.
//!
//! Every read names its entry and key in words, so any failure becomes a [`ClientError`] that
//! says which storage, netuid and uid were involved: the entry missing from the runtime
//! ([`ClientError::MissingStorage`]), the RPC failing ([`ClientError::StorageFetch`]), or the
//! bytes not decoding as the metadata's type into the expected Rust type
//! ([`ClientError::StorageDecode`]). Decoding is type-directed by the metadata and rejects
//! leftover bytes and out-of-range integers.

use subxt::OnlineClientAtBlock;
use subxt::ext::frame_decode::storage::{IntoDecodableValues, IntoEncodableValues};
use subxt::ext::scale_decode::DecodeAsType;
use subxt::storage::PrefixOf;

use crate::config::SubtensorConfig;
use crate::error::{ClientError, boxed};

/// The pallet every read here targets.
pub(crate) const PALLET: &str = "SubtensorModule";

/// The most entries one prefix iteration accepts: a node streaming more is treated as hostile.
pub(crate) const MAX_ITER_ENTRIES: usize = 1 << 16;

/// Storage reads at one block.
pub(crate) struct Reader<'a> {
    at: &'a OnlineClientAtBlock<SubtensorConfig>,
}

impl<'a> Reader<'a> {
    /// Reads at the block `at` is pinned to.
    pub(crate) fn new(at: &'a OnlineClientAtBlock<SubtensorConfig>) -> Self {
        Reader { at }
    }

    /// Whether the runtime's metadata has storage `SubtensorModule::entry` (entries come and
    /// go with runtime upgrades).
    pub(crate) fn has_entry(&self, entry: &str) -> bool {
        crate::runtime::has_storage(self.at.metadata_ref(), entry)
    }

    /// The number of the block reads happen at.
    pub(crate) fn block_number(&self) -> u64 {
        self.at.block_number()
    }

    /// The `spec_version` of the runtime at the block reads happen at.
    pub(crate) fn spec_version(&self) -> u32 {
        self.at.spec_version()
    }

    /// Reads `SubtensorModule::entry` at `keys`, falling back to the metadata's default value
    /// when the chain holds none (as the runtime's `ValueQuery` getters do). An absent value
    /// with no default is [`ClientError::InvalidChainData`].
    pub(crate) async fn value<K, V>(
        &self,
        entry: &'static str,
        keys: K,
        key: &str,
    ) -> Result<V, ClientError>
    where
        K: IntoEncodableValues + IntoDecodableValues,
        V: DecodeAsType,
    {
        self.optional(entry, keys, key)
            .await?
            .ok_or_else(|| ClientError::InvalidChainData {
                pallet: PALLET,
                entry,
                key: key.to_owned(),
                reason: "no value stored and the metadata gives no default".into(),
            })
    }

    /// Like [`Reader::value`], but `None` when nothing is stored and there is no default
    /// (`OptionQuery` entries such as `Axons`).
    pub(crate) async fn optional<K, V>(
        &self,
        entry: &'static str,
        keys: K,
        key: &str,
    ) -> Result<Option<V>, ClientError>
    where
        K: IntoEncodableValues + IntoDecodableValues,
        V: DecodeAsType,
    {
        let address = subxt::dynamic::storage::<K, V>(PALLET, entry);
        let storage = self.at.storage();
        let handle = storage.entry(address).map_err(|e| missing(entry, e))?;
        let fetched = handle
            .try_fetch(keys)
            .await
            .map_err(|e| fetch_error(entry, key, e))?;
        fetched
            .map(|value| value.decode().map_err(|e| decode_error(entry, key, e)))
            .transpose()
    }

    /// Every `(key parts, value)` under `prefix` of `SubtensorModule::entry`, in the node's
    /// order. Fails past [`MAX_ITER_ENTRIES`] entries.
    pub(crate) async fn iter<K, P, V>(
        &self,
        entry: &'static str,
        prefix: P,
        key: &str,
    ) -> Result<Vec<(K, V)>, ClientError>
    where
        K: IntoEncodableValues + IntoDecodableValues,
        P: PrefixOf<K>,
        V: DecodeAsType,
    {
        let address = subxt::dynamic::storage::<K, V>(PALLET, entry);
        let storage = self.at.storage();
        let handle = storage.entry(address).map_err(|e| missing(entry, e))?;
        let mut stream = handle
            .iter(prefix)
            .await
            .map_err(|e| fetch_error(entry, key, e))?;
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let item = item.map_err(|e| fetch_error(entry, key, e))?;
            if out.len() >= MAX_ITER_ENTRIES {
                return Err(ClientError::InvalidChainData {
                    pallet: PALLET,
                    entry,
                    key: key.to_owned(),
                    reason: format!("more than {MAX_ITER_ENTRIES} entries under one prefix"),
                });
            }
            let parts = item
                .key()
                .and_then(|k| k.decode())
                .map_err(|e| decode_error(entry, key, e))?;
            let value = item
                .value()
                .decode()
                .map_err(|e| decode_error(entry, key, e))?;
            out.push((parts, value));
        }
        Ok(out)
    }
}

/// The entry is not in the runtime's metadata (or not in the shape asked for).
fn missing(entry: &'static str, error: subxt::error::StorageError) -> ClientError {
    ClientError::MissingStorage {
        pallet: PALLET,
        entry,
        reason: error.to_string(),
    }
}

fn fetch_error<E: std::error::Error + Send + Sync + 'static>(
    entry: &'static str,
    key: &str,
    error: E,
) -> ClientError {
    ClientError::StorageFetch {
        pallet: PALLET,
        entry,
        key: key.to_owned(),
        source: boxed(error),
    }
}

fn decode_error<E: std::error::Error + Send + Sync + 'static>(
    entry: &'static str,
    key: &str,
    error: E,
) -> ClientError {
    ClientError::StorageDecode {
        pallet: PALLET,
        entry,
        key: key.to_owned(),
        source: boxed(error),
    }
}
