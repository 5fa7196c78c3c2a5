//! [`ClientError`]: every way the client can fail, each with what was being done (which storage
//! entry, netuid, uid or call) and what to do about it.

use std::path::PathBuf;

/// A boxed error from subxt or its RPC layer, kept as the `source` of a [`ClientError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of the chain client. Values read from the chain are hostile input: a value that does
/// not decode, or decodes to something inconsistent, is an error naming the storage entry and key,
/// never a panic.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `ws://` or `wss://`.
    #[error("invalid node URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The node could not be reached or did not answer the initial requests.
    #[error(
        "cannot connect to the subtensor node at {url}: {source}. Check that the node runs, the URL (ws://host:9944 or wss://…) and that its RPC port is reachable"
    )]
    Connect {
        /// The URL dialled.
        url: String,
        /// The transport or RPC error.
        #[source]
        source: BoxError,
    },
    /// The node could not give a block to read at (finalized head, header, runtime version or
    /// metadata).
    #[error("cannot read the chain's {what}: {source}")]
    Block {
        /// What was being read.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The runtime has no such storage entry (or with other key/value types than expected): the
    /// runtime changed and this client needs updating.
    #[error(
        "the runtime has no usable storage {pallet}::{entry} ({reason}); the runtime changed since chain-client was written against finney metadata: update chain-client"
    )]
    MissingStorage {
        /// Pallet name.
        pallet: &'static str,
        /// Storage entry name.
        entry: &'static str,
        /// Why it is unusable.
        reason: String,
    },
    /// Fetching a storage value failed at the RPC/backend level.
    #[error("cannot fetch {pallet}::{entry} for {key}: {source}")]
    StorageFetch {
        /// Pallet name.
        pallet: &'static str,
        /// Storage entry name.
        entry: &'static str,
        /// The key, in words (`netuid 1, uid 3`).
        key: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A storage value or key did not decode as the metadata's type into the expected Rust type.
    #[error("cannot decode {pallet}::{entry} for {key}: {source}")]
    StorageDecode {
        /// Pallet name.
        pallet: &'static str,
        /// Storage entry name.
        entry: &'static str,
        /// The key, in words.
        key: String,
        /// The decode error.
        #[source]
        source: BoxError,
    },
    /// A value decoded but is inconsistent (uid out of range, wrong vector length, duplicate uid…).
    #[error("inconsistent chain data in {pallet}::{entry} for {key}: {reason}")]
    InvalidChainData {
        /// Pallet name.
        pallet: &'static str,
        /// Storage entry name.
        entry: &'static str,
        /// The key, in words.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The subnet does not exist (`SubtensorModule::NetworksAdded` is false).
    #[error(
        "subnet netuid {netuid} does not exist on this chain (NetworksAdded is false); check the netuid"
    )]
    SubnetNotFound {
        /// The netuid asked for.
        netuid: u16,
    },
    /// The arguments of a call are invalid before anything is sent.
    #[error("invalid arguments for {call}: {reason}")]
    InvalidCall {
        /// The call (`SubtensorModule::set_weights`).
        call: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Building, encoding or signing the extrinsic failed (a call/argument mismatch with the
    /// runtime metadata, or the nonce could not be read).
    #[error("cannot build the {call} extrinsic: {source}")]
    BuildExtrinsic {
        /// The call.
        call: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The node refused the extrinsic or the status stream failed before inclusion.
    #[error("submitting {call} failed: {source}")]
    Submit {
        /// The call.
        call: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The transaction pool reported the extrinsic invalid or dropped it.
    #[error(
        "{call} was not included: {message} (bad nonce, insufficient balance for fees, or a rate limit; check the node logs)"
    )]
    NotIncluded {
        /// The call.
        call: &'static str,
        /// The node's message.
        message: String,
    },
    /// The extrinsic was included but failed: a dispatch error, with the module error's name
    /// where the metadata resolves it (`SubtensorModule::SettingWeightsTooFast`).
    #[error("{call} failed on chain in block {block_hash}: {error}{}", docs.as_deref().map(|d| format!(" — {d}")).unwrap_or_default())]
    Dispatch {
        /// The call.
        call: &'static str,
        /// The block it was included in (0x hex).
        block_hash: String,
        /// `Pallet::ErrorName` for module errors, else the dispatch error in words.
        error: String,
        /// Whether `error` is a module error's `Pallet::ErrorName` resolved by the metadata.
        module_error: bool,
        /// The error's documentation from the metadata, when there is any.
        docs: Option<String>,
    },
    /// The events of the block could not be read or decoded to tell success from failure.
    #[error(
        "{call} was included in block {block_hash}, but its outcome could not be read: {source}"
    )]
    Outcome {
        /// The call.
        call: &'static str,
        /// The block (0x hex).
        block_hash: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A bittensor wallet file could not be used.
    #[error("wallet key {path:?}: {reason}")]
    Wallet {
        /// The file.
        path: PathBuf,
        /// What is wrong (never contains secrets).
        reason: String,
    },
    /// A secret URI could not be parsed or derived.
    #[error(
        "invalid secret URI: {reason} (expected //Alice, '<mnemonic>//hard/soft' or 0x<32-byte seed hex>)"
    )]
    SecretUri {
        /// What is wrong (never contains the secret).
        reason: String,
    },
    /// The `version_key` given to [`ChainClient::submit_weights`] is below the subnet's
    /// `WeightsVersionKey`, so the chain would refuse the weights (`IncorrectWeightVersionKey`
    /// on `set_weights` and reveals; a timelocked commit would be accepted and then silently
    /// dropped at its automatic reveal). Nothing was signed or submitted.
    ///
    /// [`ChainClient::submit_weights`]: crate::ChainClient::submit_weights
    #[error(
        "subnet netuid {netuid}'s WeightsVersionKey is {subnet_version_key} but this validator submits version_key {version_key}; the chain refuses weights whose version_key is below the subnet's (IncorrectWeightVersionKey), so nothing was submitted: set [chain] version_key = {subnet_version_key} in validator.toml (or upgrade the validator to the release the subnet requires)"
    )]
    WeightsVersionKeyTooLow {
        /// The subnet.
        netuid: u16,
        /// The subnet's `WeightsVersionKey`: the lowest `version_key` it accepts.
        subnet_version_key: u64,
        /// The `version_key` this validator was going to submit.
        version_key: u64,
    },
    /// The connected runtime has no such call (an older runtime: `commit_timelocked_weights`
    /// arrived with timelocked commit-reveal). Nothing was signed or submitted.
    #[error(
        "the connected runtime (spec version {spec_version}) has no call {call}: this chain's runtime predates it. Check that [chain] url names the chain you mean; on this runtime gpuproof submits weights through the calls it does have (see `verifier chain info`)"
    )]
    CallNotInRuntime {
        /// `SubtensorModule::<call>`.
        call: String,
        /// The runtime's `spec_version`.
        spec_version: u32,
    },
    /// The weights would be refused by the chain (rate limit, permit, too few weights, a weight
    /// above the subnet's limit, unknown uids, an unregistered hotkey), so nothing was signed or
    /// submitted. [`WeightsRefusal::chain_error`] names the runtime error it would have been.
    ///
    /// [`WeightsRefusal::chain_error`]: crate::acceptance::WeightsRefusal::chain_error
    #[error(
        "weights for subnet netuid {netuid} not submitted: the chain would refuse them with {}: {refusal}",
        refusal.chain_error()
    )]
    WeightsRefused {
        /// The subnet.
        netuid: u16,
        /// Why.
        refusal: crate::acceptance::WeightsRefusal,
    },
    /// The subnet needs a weight submission path this client does not implement.
    #[error(transparent)]
    CommitReveal(#[from] chain::commit_reveal::CommitRevealError),
    /// A timelocked commit could not be built (invalid weights, too many of them, tempo 0, or an
    /// implausible epoch schedule read from the chain).
    #[error("cannot build the timelocked weight commit: {0}")]
    Timelock(#[from] chain::commit_reveal::TimelockedCommitError),
    /// The operating system's random number generator or clock failed.
    #[error("{what} unavailable: {reason}")]
    System {
        /// `randomness` or `clock`.
        what: &'static str,
        /// The error.
        reason: String,
    },
}

impl ClientError {
    /// The runtime error a weight submission failed on, or would have: the module error of a
    /// dispatch failure (`SubtensorModule::SettingWeightsTooFast`), or the one a refused or
    /// version-key check stands for. `None` for every other error (connection, decoding, …).
    pub fn chain_error(&self) -> Option<&str> {
        match self {
            ClientError::Dispatch {
                error,
                module_error: true,
                ..
            } => Some(error),
            ClientError::WeightsRefused { refusal, .. } => Some(refusal.chain_error()),
            ClientError::WeightsVersionKeyTooLow { .. } => {
                Some("SubtensorModule::IncorrectWeightVersionKey")
            }
            _ => None,
        }
    }
}

/// Boxes any error as a [`BoxError`].
pub(crate) fn boxed<E: std::error::Error + Send + Sync + 'static>(error: E) -> BoxError {
    Box::new(error)
}
