//! [`ChainClient`]: a connection to a subtensor node that reads a subnet's metagraph and
//! hyperparameters and submits weight and axon extrinsics, signed with an sr25519 hotkey.
//!
//! Reads happen at the latest **finalized** block. Submission signs with a mortal era (64 blocks
//! by default), takes the nonce from `system_accountNextIndex` (which counts the node's pool)
//! when the client owns its RPC connection, and waits until the extrinsic is in a block
//! ([`WaitFor::InBlock`], default) or finalized, then reads the block's events: success is
//! [`Submitted`], an `ExtrinsicFailed` event is [`ClientError::Dispatch`] with the module
//! error's name (`SubtensorModule::SettingWeightsTooFast`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use subxt::config::RpcConfigFor;
use subxt::error::TransactionEventsError;
use subxt::rpcs::RpcClient;
use subxt::rpcs::methods::LegacyRpcMethods;
use subxt::transactions::TransactionStatus;
use subxt::utils::AccountId32;
use subxt::{OnlineClient, OnlineClientAtBlock};
use subxt_signer::sr25519::Keypair;

use chain::reveal_round::{DEFAULT_BLOCK_TIME_MS, EpochSchedule};

use crate::acceptance::ValidatorStanding;
use crate::calls::{
    CommitTimelockedWeights, CommitWeights, RevealWeights, ServeAxon, SetWeights, SubtensorCall,
};
use crate::config::{SubtensorConfig, SubtensorParamsBuilder};
use crate::error::{ClientError, boxed};
use crate::hyperparams::{SubnetHyperparams, read_epoch_schedule, read_hyperparams};
use crate::metagraph::{Metagraph, read_metagraph, read_validator_standing};
use crate::read::Reader;
use crate::runtime::{RuntimeSupport, has_call};

/// How long [`ChainClient`] waits after submitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitFor {
    /// Until the extrinsic is in a best block (about one block, ~12 s), then check its events.
    #[default]
    InBlock,
    /// Until the block holding it is finalized (GRANDPA, usually a few blocks more).
    Finalized,
}

/// An extrinsic that was included and dispatched successfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    /// The call (`SubtensorModule::set_weights`).
    pub call: &'static str,
    /// BlakeTwo256 hash of the signed extrinsic.
    pub extrinsic_hash: [u8; 32],
    /// The block it was included in.
    pub block_hash: [u8; 32],
    /// Whether that block was reported finalized (else: in a best block).
    pub finalized: bool,
}

/// A client for one subtensor node. Cheap to clone; reads need no key, calls need
/// [`ChainClient::with_signer`].
#[derive(Clone)]
pub struct ChainClient {
    api: OnlineClient<SubtensorConfig>,
    rpc: Option<RpcClient>,
    signer: Option<Keypair>,
    wait_for: WaitFor,
    mortality_blocks: u64,
    pub(crate) block_time_ms: u64,
    /// `spec_version + 1` of the runtime whose fallbacks were last logged (0: none yet), shared
    /// by clones so each runtime version is described once.
    logged_runtime: Arc<AtomicU64>,
}

/// What [`ChainClient::submit_weights`] reads before deciding, all at one finalized block.
#[derive(Debug, Clone)]
pub(crate) struct SubmissionState {
    /// The subnet's hyperparameters.
    pub(crate) hyperparams: SubnetHyperparams,
    /// What the runtime offers.
    pub(crate) support: RuntimeSupport,
    /// The signer's standing on the subnet (`None` without a signer).
    pub(crate) standing: Option<ValidatorStanding>,
    /// The finalized head read at.
    pub(crate) head: u64,
    /// The subnet's epoch schedule at `head`.
    pub(crate) schedule: EpochSchedule,
}

impl std::fmt::Debug for ChainClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainClient")
            .field(
                "signer",
                &self.signer.as_ref().map(|k| AccountId32(k.public_key().0)),
            )
            .field("wait_for", &self.wait_for)
            .field("mortality_blocks", &self.mortality_blocks)
            .finish_non_exhaustive()
    }
}

/// Checks that `url` is a `ws://` or `wss://` URL with a host.
fn check_url(url: &str) -> Result<(), ClientError> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or_else(|| ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: "use ws://host:port (local node) or wss://host (TLS endpoint)".into(),
        })?;
    if rest.is_empty() || rest.starts_with('/') || rest.starts_with(':') {
        return Err(ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: "no host".into(),
        });
    }
    Ok(())
}

impl ChainClient {
    /// Connects to a node at `ws://…` or `wss://…` and learns its genesis hash. Fails with
    /// [`ClientError::InvalidUrl`] for any other scheme and [`ClientError::Connect`] when the
    /// node cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, ClientError> {
        check_url(url)?;
        let connect_err = |source| ClientError::Connect {
            url: url.to_owned(),
            source,
        };
        let rpc = RpcClient::from_insecure_url(url)
            .await
            .map_err(|e| connect_err(boxed(e)))?;
        Self::from_rpc_client(rpc).await.map_err(|e| match e {
            ClientError::Connect { source, .. } => connect_err(source),
            other => other,
        })
    }

    /// A client over an existing RPC client (any `RpcClientT`: jsonrpsee, reconnecting, or
    /// subxt's mock for tests). Keeps the RPC client for `system_accountNextIndex`.
    pub async fn from_rpc_client(rpc: RpcClient) -> Result<Self, ClientError> {
        let api = OnlineClient::<SubtensorConfig>::from_rpc_client(rpc.clone())
            .await
            .map_err(|e| ClientError::Connect {
                url: "<rpc client>".into(),
                source: boxed(e),
            })?;
        Ok(Self::from_parts(api, Some(rpc)))
    }

    /// A client over an already-built subxt client. Nonces then come from the finalized
    /// state (`AccountNonceApi`), which does not count extrinsics still in the pool.
    pub fn from_client(api: OnlineClient<SubtensorConfig>) -> Self {
        Self::from_parts(api, None)
    }

    fn from_parts(api: OnlineClient<SubtensorConfig>, rpc: Option<RpcClient>) -> Self {
        ChainClient {
            api,
            rpc,
            signer: None,
            wait_for: WaitFor::default(),
            mortality_blocks: 64,
            block_time_ms: DEFAULT_BLOCK_TIME_MS,
            logged_runtime: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Signs calls with `signer` (the validator's or miner's hotkey).
    pub fn with_signer(mut self, signer: Keypair) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Sets how long submissions wait ([`WaitFor::InBlock`] by default).
    pub fn with_wait_for(mut self, wait_for: WaitFor) -> Self {
        self.wait_for = wait_for;
        self
    }

    /// The signer's account id, if a signer is set.
    pub fn signer_account(&self) -> Option<[u8; 32]> {
        self.signer.as_ref().map(|k| k.public_key().0)
    }

    async fn finalized(&self) -> Result<OnlineClientAtBlock<SubtensorConfig>, ClientError> {
        let at = self
            .api
            .at_current_block()
            .await
            .map_err(|e| ClientError::Block {
                what: "latest finalized block",
                source: boxed(e),
            })?;
        self.describe_runtime_once(&at);
        Ok(at)
    }

    /// Logs, once per runtime version met, what the runtime lacks and what is used instead.
    fn describe_runtime_once(&self, at: &OnlineClientAtBlock<SubtensorConfig>) {
        let spec_version = at.spec_version();
        let tag = u64::from(spec_version).saturating_add(1);
        if self.logged_runtime.swap(tag, Ordering::Relaxed) == tag {
            return;
        }
        let support = RuntimeSupport::of(at.metadata_ref(), spec_version);
        if support.fallbacks.is_empty() {
            tracing::info!(
                spec_version,
                "runtime has every storage item chain-client reads"
            );
        }
        for fallback in &support.fallbacks {
            tracing::info!(
                spec_version,
                missing = fallback.missing(),
                used = fallback.used(),
                "runtime lacks a storage item; using the behaviour of runtimes without it"
            );
        }
        let missing: Vec<&str> = support
            .calls
            .iter()
            .filter(|(_, has)| !has)
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            tracing::info!(
                spec_version,
                calls = missing.join(", "),
                "runtime lacks these calls; a submission path that needs one is refused"
            );
        }
    }

    /// What the runtime at the latest finalized block offers: its spec version, the storage
    /// items it lacks (and the behaviour used instead), and which of gpuproof's calls it has.
    pub async fn runtime_support(&self) -> Result<RuntimeSupport, ClientError> {
        let at = self.finalized().await?;
        Ok(RuntimeSupport::of(at.metadata_ref(), at.spec_version()))
    }

    /// Whether `netuid` exists (`NetworksAdded`) at the latest finalized block.
    pub async fn subnet_exists(&self, netuid: u16) -> Result<bool, ClientError> {
        let at = self.finalized().await?;
        Reader::new(&at)
            .value("NetworksAdded", (netuid,), &format!("netuid {netuid}"))
            .await
    }

    pub(crate) async fn existing_subnet(
        &self,
        netuid: u16,
    ) -> Result<OnlineClientAtBlock<SubtensorConfig>, ClientError> {
        let at = self.finalized().await?;
        let exists: bool = Reader::new(&at)
            .value("NetworksAdded", (netuid,), &format!("netuid {netuid}"))
            .await?;
        if exists {
            Ok(at)
        } else {
            Err(ClientError::SubnetNotFound { netuid })
        }
    }

    /// The hyperparameters of `netuid` at the latest finalized block, read from the items the
    /// runtime has ([`SubnetHyperparams::defaulted`] lists those it lacks).
    pub async fn read_hyperparams(&self, netuid: u16) -> Result<SubnetHyperparams, ClientError> {
        let at = self.existing_subnet(netuid).await?;
        read_hyperparams(&Reader::new(&at), netuid).await
    }

    /// Where `hotkey` stands on `netuid` at the latest finalized block: its uid (`Uids`),
    /// permit, `LastUpdate` and the subnet's size.
    pub async fn read_validator_standing(
        &self,
        netuid: u16,
        hotkey: [u8; 32],
    ) -> Result<ValidatorStanding, ClientError> {
        let at = self.existing_subnet(netuid).await?;
        read_validator_standing(&Reader::new(&at), netuid, hotkey).await
    }

    /// Everything [`Self::submit_weights`] decides on, at one finalized block.
    pub(crate) async fn read_submission_state(
        &self,
        netuid: u16,
    ) -> Result<SubmissionState, ClientError> {
        let at = self.existing_subnet(netuid).await?;
        let reader = Reader::new(&at);
        let hyperparams = read_hyperparams(&reader, netuid).await?;
        let standing = match self.signer_account() {
            Some(hotkey) => Some(read_validator_standing(&reader, netuid, hotkey).await?),
            None => None,
        };
        Ok(SubmissionState {
            hyperparams,
            support: RuntimeSupport::of(at.metadata_ref(), at.spec_version()),
            standing,
            head: reader.block_number(),
            schedule: read_epoch_schedule(&reader, netuid).await?,
        })
    }

    /// The epoch schedule of `netuid` at the latest finalized block, and that block's number:
    /// the stateful scheduler's storage where the runtime has it, else the legacy fixed
    /// schedule (see `chain::reveal_round`).
    pub async fn read_epoch_schedule(
        &self,
        netuid: u16,
    ) -> Result<(u64, EpochSchedule), ClientError> {
        let at = self.existing_subnet(netuid).await?;
        let reader = Reader::new(&at);
        let schedule = read_epoch_schedule(&reader, netuid).await?;
        Ok((reader.block_number(), schedule))
    }

    /// The metagraph of `netuid`'s main mechanism (0, the one `set_weights` targets) at the
    /// latest finalized block.
    pub async fn read_metagraph(&self, netuid: u16) -> Result<Metagraph, ClientError> {
        self.read_mechanism_metagraph(netuid, 0).await
    }

    /// The metagraph of mechanism `mechanism` of `netuid` at the latest finalized block
    /// (`Weights`, `Bonds`, `LastUpdate` of that mechanism; the rest is per subnet).
    pub async fn read_mechanism_metagraph(
        &self,
        netuid: u16,
        mechanism: u8,
    ) -> Result<Metagraph, ClientError> {
        let at = self.existing_subnet(netuid).await?;
        let block_hash = at.block_hash().0;
        let block = at.block_number();
        read_metagraph(&Reader::new(&at), netuid, mechanism, block, block_hash).await
    }

    /// `set_weights(netuid, dests, weights, version_key)`, signed and submitted.
    pub async fn set_weights(
        &self,
        netuid: u16,
        uids: &[u16],
        values: &[u16],
        version_key: u64,
    ) -> Result<Submitted, ClientError> {
        self.submit(SetWeights {
            netuid,
            dests: uids.to_vec(),
            weights: values.to_vec(),
            version_key,
        })
        .await
    }

    /// `commit_weights(netuid, commit_hash)`: commit-reveal v2, with the hash from
    /// `chain::commit_reveal::commit_hash_v2` over the signer's account id.
    pub async fn commit_weights(
        &self,
        netuid: u16,
        commit_hash: [u8; 32],
    ) -> Result<Submitted, ClientError> {
        self.submit(CommitWeights {
            netuid,
            commit_hash,
        })
        .await
    }

    /// `reveal_weights(netuid, uids, values, salt, version_key)`: reveals a v2 commit.
    pub async fn reveal_weights(
        &self,
        netuid: u16,
        uids: &[u16],
        values: &[u16],
        salt: &[u16],
        version_key: u64,
    ) -> Result<Submitted, ClientError> {
        self.submit(RevealWeights {
            netuid,
            uids: uids.to_vec(),
            values: values.to_vec(),
            salt: salt.to_vec(),
            version_key,
        })
        .await
    }

    /// `commit_timelocked_weights(netuid, commit, reveal_round, version)`: a timelocked (v4)
    /// commit from `chain::commit_reveal::timelocked_commit`, signed and submitted.
    pub async fn commit_timelocked_weights(
        &self,
        netuid: u16,
        commit: Vec<u8>,
        reveal_round: u64,
        commit_reveal_version: u16,
    ) -> Result<Submitted, ClientError> {
        self.submit(CommitTimelockedWeights {
            netuid,
            commit,
            reveal_round,
            commit_reveal_version,
        })
        .await
    }

    /// `serve_axon(netuid, version, ip, port, ip_type, protocol, placeholder1, placeholder2)`
    /// (see [`ServeAxon::from_socket`]).
    pub async fn serve_axon(&self, axon: ServeAxon) -> Result<Submitted, ClientError> {
        self.submit(axon).await
    }

    /// Checks, signs, submits and watches any [`SubtensorCall`].
    pub async fn submit<C: SubtensorCall>(&self, call: C) -> Result<Submitted, ClientError> {
        let name = C::FULL_NAME;
        let signer = self
            .signer
            .as_ref()
            .ok_or_else(|| ClientError::InvalidCall {
                call: name,
                reason: "no signing key: build the client with .with_signer(keypair)".into(),
            })?;
        let payload = call.payload()?;
        let at = self.finalized().await?;
        if !has_call(at.metadata_ref(), C::NAME) {
            return Err(
                RuntimeSupport::of(at.metadata_ref(), at.spec_version()).missing_call(C::NAME)
            );
        }
        let account = signer.public_key().to_account_id();
        let params = self.params(&account, name).await?;
        let build_err = |e| ClientError::BuildExtrinsic {
            call: name,
            source: boxed(e),
        };
        let mut signable = at
            .transactions()
            .create_signable(&payload, &account, params)
            .await
            .map_err(build_err)?;
        let tx = signable.sign(signer).map_err(build_err)?;
        let extrinsic_hash = tx.hash().0;
        let progress = tx
            .submit_and_watch()
            .await
            .map_err(|e| ClientError::Submit {
                call: name,
                source: boxed(e),
            })?;
        self.watch(progress, name, extrinsic_hash).await
    }

    /// Transaction parameters: mortality, and the pool-aware nonce when the RPC client is ours.
    async fn params(
        &self,
        account: &AccountId32,
        call: &'static str,
    ) -> Result<subxt::config::DefaultExtrinsicParams<SubtensorConfig>, ClientError> {
        let mut builder = SubtensorParamsBuilder::new().mortal(self.mortality_blocks);
        if let Some(rpc) = &self.rpc {
            let nonce = LegacyRpcMethods::<RpcConfigFor<SubtensorConfig>>::new(rpc.clone())
                .system_account_next_index(account)
                .await
                .map_err(|e| ClientError::BuildExtrinsic {
                    call,
                    source: boxed(e),
                })?;
            builder = builder.nonce(nonce);
        }
        Ok(builder.build())
    }

    /// Follows the status stream until inclusion (or finality), then reads the outcome.
    async fn watch<P>(
        &self,
        mut progress: subxt::transactions::TransactionProgress<SubtensorConfig, P>,
        call: &'static str,
        extrinsic_hash: [u8; 32],
    ) -> Result<Submitted, ClientError>
    where
        P: subxt::client::OnlineClientAtBlockT<SubtensorConfig>,
    {
        while let Some(status) = progress.next().await {
            let status = status.map_err(|e| ClientError::Submit {
                call,
                source: boxed(e),
            })?;
            let (in_block, finalized) = match status {
                TransactionStatus::InBestBlock(b) if self.wait_for == WaitFor::InBlock => {
                    (b, false)
                }
                TransactionStatus::InFinalizedBlock(b) => (b, true),
                TransactionStatus::Error { message }
                | TransactionStatus::Invalid { message }
                | TransactionStatus::Dropped { message } => {
                    return Err(ClientError::NotIncluded { call, message });
                }
                _ => continue,
            };
            let block_hash = in_block.block_hash().0;
            return match in_block.wait_for_success().await {
                Ok(_) => Ok(Submitted {
                    call,
                    extrinsic_hash,
                    block_hash,
                    finalized,
                }),
                Err(e) => Err(outcome_error(call, block_hash, e)),
            };
        }
        Err(ClientError::NotIncluded {
            call,
            message: "the node closed the status stream before inclusion".into(),
        })
    }
}

/// Maps a failed outcome: a dispatch error with its module error name and docs where the
/// metadata resolves them, else the reason the events could not be read.
fn outcome_error(
    call: &'static str,
    block_hash: [u8; 32],
    error: TransactionEventsError,
) -> ClientError {
    let block_hash = format!("0x{}", hex::encode(block_hash));
    match error {
        TransactionEventsError::ExtrinsicFailed(dispatch) => {
            let module_error = module_error(&dispatch);
            let (error, docs) = describe_dispatch_error(&dispatch);
            ClientError::Dispatch {
                call,
                block_hash,
                error,
                module_error: module_error.is_some(),
                docs,
            }
        }
        other => ClientError::Outcome {
            call,
            block_hash,
            source: boxed(other),
        },
    }
}

/// `Pallet::Error` and the error's docs for a module error; the dispatch error in words otherwise.
pub fn describe_dispatch_error(error: &subxt::error::DispatchError) -> (String, Option<String>) {
    module_error(error).unwrap_or_else(|| (error.to_string(), None))
}

/// `Pallet::Error` and its docs when `error` is a module error the metadata resolves.
fn module_error(error: &subxt::error::DispatchError) -> Option<(String, Option<String>)> {
    let subxt::error::DispatchError::Module(module) = error else {
        return None;
    };
    let details = module.details().ok()?;
    let docs = details.variant.docs.join(" ");
    let docs = (!docs.trim().is_empty()).then(|| docs.trim().to_owned());
    Some((
        format!("{}::{}", details.pallet.name(), details.variant.name),
        docs,
    ))
}
