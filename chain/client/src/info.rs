//! [`ChainInfo`]: an operator's first look at a chain, as `verifier chain info` prints it — the
//! runtime's spec version and what it lacks, the subnet's hyperparameters as read (and which
//! were defaulted), the submission path `submit_weights` would take, the epoch schedule, one
//! validator's standing, and the metagraph's neurons with their axons. Everything is read at one
//! finalized block.

use chain::commit_reveal::WeightSubmission;
use chain::reveal_round::EpochSchedule;

use crate::client::ChainClient;
use crate::error::ClientError;
use crate::hyperparams::{SubnetHyperparams, read_epoch_schedule, read_hyperparams};
use crate::metagraph::{Metagraph, read_metagraph};
use crate::read::Reader;
use crate::runtime::RuntimeSupport;

/// One hotkey's place in the subnet, from the metagraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotkeyStanding {
    /// The hotkey.
    pub hotkey: [u8; 32],
    /// Its uid, `None` when it is not registered on the subnet.
    pub uid: Option<u16>,
    /// `ValidatorPermit[uid]`.
    pub validator_permit: bool,
    /// Its stake weight ([`Metagraph::stake_weights`]: alpha + TAO · `TaoWeight`, no child keys).
    pub stake: u64,
    /// `LastUpdate[uid]`: the block it last set (or committed) weights, 0 for never.
    pub last_update: u64,
    /// The first block at which the chain takes its next weights (`LastUpdate +
    /// WeightsSetRateLimit`, or now when it never set any); `None` when unregistered.
    pub weights_accepted_from: Option<u64>,
}

/// What [`ChainClient::chain_info`] read.
#[derive(Debug)]
pub struct ChainInfo {
    /// The finalized head everything was read at.
    pub block: u64,
    /// What the runtime offers (spec version, fallbacks, calls).
    pub runtime: RuntimeSupport,
    /// The subnet's hyperparameters (with [`SubnetHyperparams::defaulted`]).
    pub hyperparams: SubnetHyperparams,
    /// The path `submit_weights` would take now, or why there is none (an unsupported
    /// commit-reveal version, a call the runtime lacks).
    pub submission: Result<WeightSubmission, ClientError>,
    /// The subnet's epoch schedule.
    pub epoch: EpochSchedule,
    /// `BlocksSinceLastStep`, where the runtime has it.
    pub blocks_since_last_step: Option<u64>,
    /// The next block that runs the subnet's epoch (`None`: tempo 0).
    pub next_epoch_block: Option<u64>,
    /// The validator asked about, if any.
    pub validator: Option<HotkeyStanding>,
    /// The subnet's neurons (mechanism 0).
    pub metagraph: Metagraph,
}

impl ChainClient {
    /// Reads a [`ChainInfo`] of `netuid` at the latest finalized block, with the standing of
    /// `hotkey` when given. Fails only when something cannot be read; a submission path that
    /// cannot be used is reported in [`ChainInfo::submission`].
    pub async fn chain_info(
        &self,
        netuid: u16,
        hotkey: Option<[u8; 32]>,
    ) -> Result<ChainInfo, ClientError> {
        let at = self.existing_subnet(netuid).await?;
        let reader = Reader::new(&at);
        let block = reader.block_number();
        let runtime = RuntimeSupport::of(at.metadata_ref(), at.spec_version());
        let hyperparams = read_hyperparams(&reader, netuid).await?;
        let submission = hyperparams
            .weight_submission()
            .map_err(ClientError::from)
            .and_then(|path| runtime.supports(&path).map(|()| path));
        let epoch = read_epoch_schedule(&reader, netuid).await?;
        let blocks_since_last_step = if reader.has_entry("BlocksSinceLastStep") {
            let key = format!("netuid {netuid}");
            Some(reader.value("BlocksSinceLastStep", (netuid,), &key).await?)
        } else {
            None
        };
        let metagraph = read_metagraph(&reader, netuid, 0, block, at.block_hash().0).await?;
        let validator = hotkey.map(|h| standing_of(&metagraph, &hyperparams, h));
        Ok(ChainInfo {
            block,
            runtime,
            submission,
            next_epoch_block: epoch.next_epoch_block(block),
            epoch,
            blocks_since_last_step,
            validator,
            hyperparams,
            metagraph,
        })
    }
}

/// `hotkey`'s standing in `metagraph`.
pub fn standing_of(
    metagraph: &Metagraph,
    hyperparams: &SubnetHyperparams,
    hotkey: [u8; 32],
) -> HotkeyStanding {
    let stakes = metagraph.stake_weights();
    let neuron = metagraph
        .uid_of(&hotkey)
        .and_then(|uid| metagraph.neurons.get(usize::from(uid)));
    match neuron {
        Some(n) => HotkeyStanding {
            hotkey,
            uid: Some(n.uid),
            validator_permit: n.validator_permit,
            stake: stakes.get(usize::from(n.uid)).copied().unwrap_or(0),
            last_update: n.last_update,
            weights_accepted_from: Some(if n.last_update == 0 {
                metagraph.block
            } else {
                n.last_update
                    .saturating_add(hyperparams.weights_set_rate_limit)
            }),
        },
        None => HotkeyStanding {
            hotkey,
            uid: None,
            validator_permit: false,
            stake: 0,
            last_update: 0,
            weights_accepted_from: None,
        },
    }
}
