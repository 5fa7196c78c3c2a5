//! [`ChainClient::submit_weights`]: submit a validator's weights the way the subnet requires,
//! decided from chain state at submission time.
//!
//! The path comes from `chain::commit_reveal::weight_submission` on the subnet's hyperparameters
//! (`CommitRevealWeightsEnabled`, `CommitRevealWeightsVersion`, `RevealPeriodEpochs`; on a
//! runtime without `CommitRevealWeightsVersion`, v2: see [`crate::runtime`]), and the runtime
//! must have its calls ([`ClientError::CallNotInRuntime`] otherwise). Whatever the path, the
//! `version_key` is first checked against the subnet's `WeightsVersionKey`, read at the same
//! block (see [`ChainClient::submit_weights`] for the rule): a key the chain would refuse is
//! [`ClientError::WeightsVersionKeyTooLow`] and nothing is submitted. Then the weights go
//! through [`crate::acceptance::check_weights`] with the signer's standing read at that block
//! (uid, permit, `LastUpdate`): whatever the chain would refuse is
//! [`ClientError::WeightsRefused`], naming the runtime error, and nothing is submitted.
//!
//! * commit-reveal off → `set_weights`; done.
//! * commit-reveal v2 → `commit_weights` with a fresh random salt; the caller keeps the returned
//!   [`PendingReveal`] and calls [`ChainClient::reveal_pending`] once the reveal epoch starts.
//! * timelocked (v4) → the subnet's epoch schedule is read, the reveal block and drand round
//!   computed (`chain::reveal_round`), the `WeightsTlockPayload` (with the signer's hotkey)
//!   encrypted to that round with fresh OS randomness, and `commit_timelocked_weights`
//!   submitted. The chain reveals it by itself; nothing is left to do.
//!
//! Reads happen at the latest finalized block, a block or two behind the best block the
//! extrinsic lands after. That makes the computed round, if anything, slightly early, which the
//! chain accepts (the pulse exists by the reveal block); the cost is that the weights become
//! decryptable by anyone up to a few blocks before the reveal block.

use std::time::{SystemTime, UNIX_EPOCH};

use chain::commit_reveal::{
    TimelockContext, WeightSubmission, WeightsTlockPayload, commit_hash_v2, reveal_window,
    timelocked_commit,
};
use chain::tlock::TlockRandomness;

use chain::reveal_round::COMMIT_INCLUSION_OFFSET;

use crate::acceptance::check_weights;
use crate::calls::{SetWeights, SubtensorCall};
use crate::client::{ChainClient, SubmissionState, Submitted};
use crate::error::ClientError;
use crate::hyperparams::version_key_accepted;
use crate::runtime::Fallback;

/// How many u16 a v2 salt has (as the Python SDK).
const SALT_LEN: usize = 8;

/// A commit-reveal v2 commit that still has to be revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReveal {
    /// Subnet.
    pub netuid: u16,
    /// Destination uids, as committed.
    pub uids: Vec<u16>,
    /// Weights, as committed.
    pub values: Vec<u16>,
    /// The random salt of the commit hash.
    pub salt: Vec<u16>,
    /// Version key, as committed.
    pub version_key: u64,
    /// The earliest block the reveal is accepted in, and the last (`reveal_window` of the
    /// earliest block the commit could have landed in; the commit may have landed later).
    pub reveal_window: (u64, u64),
}

/// What [`ChainClient::submit_weights`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsSubmitted {
    /// `set_weights` was included: the weights are on chain.
    Set(Submitted),
    /// `commit_weights` (v2) was included; reveal with [`ChainClient::reveal_pending`].
    CommittedV2 {
        /// The commit extrinsic.
        submitted: Submitted,
        /// What to reveal, and when.
        pending: PendingReveal,
    },
    /// `commit_timelocked_weights` (v4) was included; the chain reveals it itself.
    Timelocked {
        /// The commit extrinsic.
        submitted: Submitted,
        /// The drand round it is encrypted to.
        reveal_round: u64,
        /// The block the chain is expected to reveal it in.
        reveal_block: u64,
    },
}

fn os_random(buf: &mut [u8]) -> Result<(), ClientError> {
    getrandom::getrandom(buf).map_err(|e| ClientError::System {
        what: "OS randomness",
        reason: e.to_string(),
    })
}

fn now_ms() -> Result<u64, ClientError> {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| ClientError::System {
            what: "the system clock",
            reason: e.to_string(),
        })?;
    u64::try_from(since.as_millis()).map_err(|_| ClientError::System {
        what: "the system clock",
        reason: "time beyond u64 milliseconds".into(),
    })
}

fn no_signer(call: &'static str) -> ClientError {
    ClientError::InvalidCall {
        call,
        reason: "no signing key: build the client with .with_signer(keypair)".into(),
    }
}

/// Checks `version_key` against the subnet's `WeightsVersionKey` (`None`: the runtime has no
/// such entry, so the check is skipped and that is logged as a warning).
fn check_version_key(
    netuid: u16,
    subnet_version_key: Option<u64>,
    version_key: u64,
) -> Result<(), ClientError> {
    match subnet_version_key {
        None => {
            tracing::warn!(
                netuid,
                version_key,
                "SubtensorModule::WeightsVersionKey is not in the connected runtime's metadata; \
                 the version_key is submitted without checking it against the subnet's"
            );
            Ok(())
        }
        Some(subnet) if version_key_accepted(subnet, version_key) => Ok(()),
        Some(subnet) => Err(ClientError::WeightsVersionKeyTooLow {
            netuid,
            subnet_version_key: subnet,
            version_key,
        }),
    }
}

/// Everything the chain would refuse, checked before signing: the path must be one gpuproof
/// implements and the runtime has the calls for, the version key the subnet's, and the weights
/// pass [`check_weights`] for the signer's standing.
fn check_submission(
    state: &SubmissionState,
    netuid: u16,
    uids: &[u16],
    values: &[u16],
    version_key: u64,
) -> Result<WeightSubmission, ClientError> {
    let hyperparams = &state.hyperparams;
    let path = hyperparams.weight_submission()?;
    state.support.supports(&path)?;
    let subnet_version_key = (!hyperparams.defaulted.contains(&Fallback::WeightsVersionKey))
        .then_some(hyperparams.weights_version_key);
    check_version_key(netuid, subnet_version_key, version_key)?;
    crate::calls::check_uid_values(SetWeights::FULL_NAME, uids, values)?;
    let standing = state
        .standing
        .ok_or_else(|| no_signer(SetWeights::FULL_NAME))?;
    let landing = state.head.saturating_add(COMMIT_INCLUSION_OFFSET);
    check_weights(
        hyperparams,
        &standing,
        &path,
        landing,
        uids,
        values,
        version_key,
    )
    .map_err(|refusal| ClientError::WeightsRefused { netuid, refusal })?;
    Ok(path)
}

/// A fresh OS-random v2 salt.
fn fresh_salt() -> Result<Vec<u16>, ClientError> {
    let mut raw = [0u8; 2 * SALT_LEN];
    os_random(&mut raw)?;
    Ok(raw
        .chunks_exact(2)
        .map(|c| {
            u16::from_le_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
        .collect())
}

impl ChainClient {
    /// Submits weights for `netuid` the way the subnet requires, read from chain now:
    /// `set_weights`, a commit-reveal v2 commit, or a timelocked (v4) commit (see the module
    /// docs). Fails before anything is signed for invalid weights (lengths, duplicate uids, a
    /// timelocked commit over the chain's 5000 bytes), a commit-reveal version gpuproof does
    /// not implement, a path whose call the runtime lacks ([`ClientError::CallNotInRuntime`]),
    /// a `version_key` the subnet refuses, weights the chain would refuse
    /// ([`ClientError::WeightsRefused`]: rate limit, permit, `MinAllowedWeights`,
    /// `MaxWeightsLimit`, unknown uids, an unregistered hotkey; see [`crate::acceptance`]), or
    /// a missing signer.
    ///
    /// **Version key.** The subnet's `WeightsVersionKey` is read at the same finalized block
    /// as the commit-reveal settings. The rule is subtensor's `check_version_key`, which
    /// `set_weights` and every reveal (`reveal_weights`, and the chain's own reveal of a
    /// timelocked commit) apply: the weights are accepted iff `WeightsVersionKey == 0 ||
    /// version_key >= WeightsVersionKey`. A key equal to or above the subnet's passes; a key
    /// below it fails with [`ClientError::WeightsVersionKeyTooLow`] naming both values, before
    /// anything is signed. The check runs for every path, commits included: the chain does not
    /// check the key when it takes a commit, so a low key would only fail at the reveal (for a
    /// timelocked commit, silently in the chain's log). Where the connected runtime's metadata
    /// has no `WeightsVersionKey` entry the check is skipped and a warning is written to stderr.
    pub async fn submit_weights(
        &self,
        netuid: u16,
        uids: &[u16],
        values: &[u16],
        version_key: u64,
    ) -> Result<WeightsSubmitted, ClientError> {
        let state = self.read_submission_state(netuid).await?;
        match check_submission(&state, netuid, uids, values, version_key)? {
            WeightSubmission::SetWeights => Ok(WeightsSubmitted::Set(
                self.set_weights(netuid, uids, values, version_key).await?,
            )),
            WeightSubmission::CommitRevealV2 {
                reveal_period_epochs,
            } => {
                let hotkey = self
                    .signer_account()
                    .ok_or_else(|| no_signer("SubtensorModule::commit_weights"))?;
                let salt = fresh_salt()?;
                crate::calls::SubtensorCall::check(&crate::calls::RevealWeights {
                    netuid,
                    uids: uids.to_vec(),
                    values: values.to_vec(),
                    salt: salt.clone(),
                    version_key,
                })?;
                let hash = commit_hash_v2(&hotkey, netuid, uids, values, &salt, version_key);
                let submitted = self.commit_weights(netuid, hash).await?;
                Ok(WeightsSubmitted::CommittedV2 {
                    submitted,
                    pending: PendingReveal {
                        netuid,
                        uids: uids.to_vec(),
                        values: values.to_vec(),
                        salt,
                        version_key,
                        reveal_window: reveal_window(
                            netuid,
                            state.hyperparams.tempo,
                            state.head.saturating_add(COMMIT_INCLUSION_OFFSET),
                            reveal_period_epochs,
                        ),
                    },
                })
            }
            WeightSubmission::Timelocked {
                reveal_period_epochs,
                version,
            } => {
                self.commit_timelocked(
                    &state,
                    (uids, values, version_key),
                    reveal_period_epochs,
                    version,
                )
                .await
            }
        }
    }

    /// Encrypts the weights to the drand round of their reveal block and submits
    /// `commit_timelocked_weights`.
    async fn commit_timelocked(
        &self,
        state: &SubmissionState,
        (uids, values, version_key): (&[u16], &[u16], u64),
        reveal_period_epochs: u64,
        version: u16,
    ) -> Result<WeightsSubmitted, ClientError> {
        let netuid = state.hyperparams.netuid;
        let hotkey = self
            .signer_account()
            .ok_or_else(|| no_signer("SubtensorModule::commit_timelocked_weights"))?;
        let mut secrets = [0u8; 76];
        os_random(&mut secrets)?;
        let payload = WeightsTlockPayload {
            hotkey,
            uids: uids.to_vec(),
            values: values.to_vec(),
            version_key,
        };
        let context = TimelockContext {
            schedule: state.schedule,
            current_block: state.head,
            reveal_period_epochs,
            now_ms: now_ms()?,
            block_time_ms: self.block_time_ms,
        };
        let commit = timelocked_commit(&payload, &context, &TlockRandomness::from_bytes(secrets))?;
        let submitted = self
            .commit_timelocked_weights(netuid, commit.commit, commit.target.reveal_round, version)
            .await?;
        Ok(WeightsSubmitted::Timelocked {
            submitted,
            reveal_round: commit.target.reveal_round,
            reveal_block: commit.target.reveal_block,
        })
    }

    /// Reveals a commit-reveal v2 commit made by [`Self::submit_weights`]. The chain refuses it
    /// outside the reveal window (`RevealTooEarly`, `ExpiredWeightCommit`, as
    /// [`ClientError::Dispatch`]).
    pub async fn reveal_pending(&self, pending: &PendingReveal) -> Result<Submitted, ClientError> {
        self.reveal_weights(
            pending.netuid,
            &pending.uids,
            &pending.values,
            &pending.salt,
            pending.version_key,
        )
        .await
    }
}
