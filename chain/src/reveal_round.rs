//! When the runtime will reveal a timelocked commit, and which drand round to encrypt it to.
//!
//! A `commit_timelocked_weights` extrinsic lands at `current_block + 1`
//! ([`COMMIT_INCLUSION_OFFSET`]) and is stored under the subnet's epoch at that moment. The
//! runtime reveals (decrypts and applies) the commits of epoch `e` in the first block whose
//! epoch step sees epoch `e + RevealPeriodEpochs`, using the drand pulse of the commit's
//! `reveal_round`; a commit whose pulse is not on chain by then is dropped. So the round must be
//! one that drand has published — and the chain has ingested — by the reveal block, and no
//! earlier than needed (an earlier round opens the weights to everyone sooner).
//!
//! [`first_reveal_block`] finds that block by stepping the subnet's epoch schedule block by
//! block, as the runtime's block step does; [`reveal_round`] turns it into a round:
//!
//! `reveal_round = max(1, floor((now + (reveal_block + 3 − current_block)·block_time − genesis) / 3 s))`
//!
//! — the round published when the chain reaches the reveal block plus
//! [`SECURITY_BLOCK_OFFSET`] blocks, at quicknet's 3 s period. These are the figures of the
//! reference client (`bittensor-drand` 2.0.0, `get_encrypted_commit_v2`), and the cross-check
//! test compares the two.
//!
//! # Two epoch schedules
//!
//! * [`EpochSchedule::Stateful`] (runtimes with `LastEpochBlock`, `PendingEpochAt`,
//!   `SubnetEpochIndex`): an epoch runs in block `b` when `b − LastEpochBlock ≥ tempo`, or an
//!   owner-triggered epoch is pending (`PendingEpochAt ≠ 0` and `b ≥ PendingEpochAt`), or
//!   `BlocksSinceLastStep > MAX_TEMPO` (a watchdog); running it sets `LastEpochBlock = b`,
//!   clears `PendingEpochAt`, increments `SubnetEpochIndex` and resets `BlocksSinceLastStep`.
//!   Reveals run before that step in each block, so the reveal of block `b` sees the index as it
//!   will be after block `b`'s epoch runs. The commit's epoch is the index after the commit
//!   block's own step (the extrinsic runs after it). The reference client evaluates the
//!   commit's epoch before that step instead; the two differ only when the
//!   `BlocksSinceLastStep` watchdog fires exactly in the commit block.
//! * [`EpochSchedule::Legacy`] (runtimes without those entries, such as the finney metadata
//!   this crate's client was written against): epochs are fixed in block numbers,
//!   `epoch(b) = (b + netuid + 1) / (tempo + 1)` ([`crate::commit_reveal::epoch_index`]), and the
//!   reveal block is the first block of epoch `epoch(commit block) + RevealPeriodEpochs`.
//!
//! Everything here is a pure function of numbers read from the chain and the caller's clock.

use crate::commit_reveal::{blocks_until_next_epoch, epoch_index};
use crate::tlock::{QUICKNET_GENESIS_TIME, QUICKNET_PERIOD_SECS};

/// Blocks between the head a commit is prepared at and the block it lands in.
pub const COMMIT_INCLUSION_OFFSET: u64 = 1;

/// Blocks added past the reveal block so that the round's pulse has reached the chain.
pub const SECURITY_BLOCK_OFFSET: u64 = 3;

/// The runtime's upper bound on a subnet's tempo (`MaxTempo`, about 7 days of 12 s blocks); also
/// the `BlocksSinceLastStep` past which the stateful schedule forces an epoch.
pub const MAX_TEMPO: u64 = 50_400;

/// Subtensor's target block time, milliseconds.
pub const DEFAULT_BLOCK_TIME_MS: u64 = 12_000;

/// The most blocks [`first_reveal_block`] steps through before giving up (at `MAX_TEMPO` per
/// epoch this is about 20 epochs; any real reveal is far closer).
pub const MAX_SIMULATED_BLOCKS: u64 = 1_000_000;

/// A subnet's epoch state under the stateful scheduler, as read at the head block (after that
/// block's epoch step ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatefulSchedule {
    /// `Tempo`: blocks between automatic epochs.
    pub tempo: u16,
    /// `LastEpochBlock`: the block the last epoch ran in.
    pub last_epoch_block: u64,
    /// `PendingEpochAt`: block of an owner-triggered epoch, 0 when none is pending.
    pub pending_epoch_at: u64,
    /// `SubnetEpochIndex`: epochs run so far.
    pub subnet_epoch_index: u64,
    /// `BlocksSinceLastStep`.
    pub blocks_since_last_step: u64,
}

impl StatefulSchedule {
    /// Whether the epoch step of `block` runs an epoch, given the state after the previous block.
    fn runs_epoch(&self, block: u64) -> bool {
        if self.tempo == 0 {
            return false;
        }
        if self.pending_epoch_at != 0 && block >= self.pending_epoch_at {
            return true;
        }
        if self.blocks_since_last_step > MAX_TEMPO {
            return true;
        }
        block.saturating_sub(self.last_epoch_block) >= u64::from(self.tempo)
    }

    /// The epoch index a reveal in `block` compares against (reveals run before the epoch
    /// step, but count the epoch that step is about to run).
    fn epoch_seen_in(&self, block: u64) -> u64 {
        self.subnet_epoch_index
            .saturating_add(u64::from(self.runs_epoch(block)))
    }

    /// The state after `block`'s epoch step.
    fn step(mut self, block: u64) -> Self {
        self.blocks_since_last_step = self.blocks_since_last_step.saturating_add(1);
        if self.runs_epoch(block) {
            self.last_epoch_block = block;
            self.pending_epoch_at = 0;
            self.subnet_epoch_index = self.subnet_epoch_index.saturating_add(1);
            self.blocks_since_last_step = 0;
        }
        self
    }
}

/// How a subnet's epochs are scheduled on the chain being used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochSchedule {
    /// Fixed epochs: `epoch(b) = (b + netuid + 1) / (tempo + 1)`.
    Legacy {
        /// The subnet.
        netuid: u16,
        /// `Tempo`.
        tempo: u16,
    },
    /// The stateful scheduler's storage, read at the head block.
    Stateful(StatefulSchedule),
}

impl EpochSchedule {
    /// The subnet's tempo.
    pub fn tempo(&self) -> u16 {
        match self {
            EpochSchedule::Legacy { tempo, .. } => *tempo,
            EpochSchedule::Stateful(s) => s.tempo,
        }
    }

    /// The first block after `head` (the block the schedule was read at) whose epoch step runs
    /// the subnet's epoch; `None` for tempo 0 (no epochs). Legacy: the next block with
    /// `blocks_until_next_epoch = 0` ([`crate::commit_reveal::blocks_until_next_epoch`]);
    /// stateful: the state stepped block by block (at most `MAX_TEMPO + 2` blocks, the
    /// watchdog's bound).
    pub fn next_epoch_block(&self, head: u64) -> Option<u64> {
        let next = head.checked_add(1)?;
        match self {
            EpochSchedule::Legacy { netuid, tempo } => {
                blocks_until_next_epoch(*netuid, *tempo, next).map(|b| next.saturating_add(b))
            }
            EpochSchedule::Stateful(state) => {
                let mut state = *state;
                for block in next..=next.saturating_add(MAX_TEMPO + 1) {
                    if state.runs_epoch(block) {
                        return Some(block);
                    }
                    state = state.step(block);
                }
                None
            }
        }
    }
}

/// Why no reveal block or round could be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevealRoundError {
    /// Tempo 0: the subnet runs no epochs, so nothing would ever be revealed.
    #[error(
        "the subnet's tempo is 0: it runs no epochs, so a timelocked commit would never be revealed"
    )]
    TempoIsZero,
    /// The reveal block is further away than [`MAX_SIMULATED_BLOCKS`].
    #[error(
        "no reveal block within {MAX_SIMULATED_BLOCKS} blocks (reveal period {reveal_period_epochs} epochs): chain state is implausible"
    )]
    TooFar {
        /// `RevealPeriodEpochs` as read.
        reveal_period_epochs: u64,
    },
}

/// The first block in which the runtime reveals a commit prepared at head `current_block` (and
/// so landing at `current_block + 1`), with reveal period `reveal_period_epochs`; always after
/// the commit block.
///
/// Stateful schedule: the commit's epoch is `SubnetEpochIndex` after the commit block's epoch
/// step; then the state is stepped block by block to the first block whose reveal sees epoch
/// `commit_epoch + reveal_period_epochs`. Legacy schedule: the first block of
/// that epoch. Errors for tempo 0 and for a reveal beyond [`MAX_SIMULATED_BLOCKS`].
pub fn first_reveal_block(
    schedule: &EpochSchedule,
    current_block: u64,
    reveal_period_epochs: u64,
) -> Result<u64, RevealRoundError> {
    if schedule.tempo() == 0 {
        return Err(RevealRoundError::TempoIsZero);
    }
    let commit_block = current_block.saturating_add(COMMIT_INCLUSION_OFFSET);
    let too_far = RevealRoundError::TooFar {
        reveal_period_epochs,
    };
    match schedule {
        EpochSchedule::Legacy { netuid, tempo } => {
            // First block of epoch `epoch(commit) + period`: `e·(tempo + 1) − (netuid + 1)`.
            let first = epoch_index(*netuid, *tempo, commit_block)
                .checked_add(reveal_period_epochs)
                .and_then(|epoch| epoch.checked_mul(u64::from(*tempo) + 1))
                .map(|start| start.saturating_sub(u64::from(*netuid) + 1))
                .ok_or(too_far.clone())?;
            if first.saturating_sub(commit_block) > MAX_SIMULATED_BLOCKS {
                return Err(too_far);
            }
            // A reveal period of 0 names the commit's own epoch: revealed in the next block.
            Ok(first.max(commit_block.saturating_add(1)))
        }
        EpochSchedule::Stateful(head) => {
            // Blocks between the head and the commit block (none with an offset of 1), then the
            // commit block's own epoch step: the extrinsic runs after it, so the commit is
            // stored under the index as that step leaves it.
            let mut state = *head;
            for block in current_block.saturating_add(1)..=commit_block {
                state = state.step(block);
            }
            let target = state
                .subnet_epoch_index
                .checked_add(reveal_period_epochs)
                .ok_or(too_far.clone())?;
            let first = commit_block.saturating_add(1);
            for block in first..=first.saturating_add(MAX_SIMULATED_BLOCKS) {
                if state.epoch_seen_in(block) == target {
                    return Ok(block);
                }
                state = state.step(block);
            }
            Err(too_far)
        }
    }
}

/// The drand round to encrypt to for a commit revealed in `reveal_block`, prepared at head
/// `current_block` at Unix time `now_ms` (milliseconds), with `block_time_ms` per block:
/// `max(1, floor((now + (reveal_block + 3 − current_block)·block_time − genesis) / 3 s))`.
/// Saturates instead of overflowing; a `reveal_block` before the head counts as the head.
pub fn reveal_round(current_block: u64, reveal_block: u64, now_ms: u64, block_time_ms: u64) -> u64 {
    let blocks = reveal_block
        .saturating_add(SECURITY_BLOCK_OFFSET)
        .saturating_sub(current_block);
    let target_ms = now_ms.saturating_add(blocks.saturating_mul(block_time_ms));
    let since_genesis = target_ms.saturating_sub(QUICKNET_GENESIS_TIME.saturating_mul(1000));
    (since_genesis / (QUICKNET_PERIOD_SECS * 1000)).max(1)
}

/// Where and when a timelocked commit will be revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevealTarget {
    /// The block the runtime reveals the commit in ([`first_reveal_block`]).
    pub reveal_block: u64,
    /// The drand round the commit is encrypted to ([`reveal_round`]).
    pub reveal_round: u64,
}

/// [`first_reveal_block`], then [`reveal_round`] for it.
pub fn reveal_target(
    schedule: &EpochSchedule,
    current_block: u64,
    reveal_period_epochs: u64,
    now_ms: u64,
    block_time_ms: u64,
) -> Result<RevealTarget, RevealRoundError> {
    let reveal_block = first_reveal_block(schedule, current_block, reveal_period_epochs)?;
    Ok(RevealTarget {
        reveal_block,
        reveal_round: reveal_round(current_block, reveal_block, now_ms, block_time_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_epoch_block_follows_each_schedule() {
        // Legacy, tempo 99, netuid 1: epochs run where (b + 2) mod 100 = 99, i.e. b = 97, 197, …
        let legacy = EpochSchedule::Legacy {
            netuid: 1,
            tempo: 99,
        };
        assert_eq!(legacy.next_epoch_block(100), Some(197));
        assert_eq!(legacy.next_epoch_block(96), Some(97));
        assert_eq!(legacy.next_epoch_block(97), Some(197));
        let idle = EpochSchedule::Legacy {
            netuid: 1,
            tempo: 0,
        };
        assert_eq!(idle.next_epoch_block(100), None);
        // Stateful: tempo blocks after the last epoch, or a pending owner-triggered one sooner.
        let state = StatefulSchedule {
            tempo: 10,
            last_epoch_block: 95,
            pending_epoch_at: 0,
            subnet_epoch_index: 7,
            blocks_since_last_step: 5,
        };
        assert_eq!(
            EpochSchedule::Stateful(state).next_epoch_block(100),
            Some(105)
        );
        let pending = StatefulSchedule {
            pending_epoch_at: 102,
            ..state
        };
        assert_eq!(
            EpochSchedule::Stateful(pending).next_epoch_block(100),
            Some(102)
        );
        let stopped = StatefulSchedule { tempo: 0, ..state };
        assert_eq!(EpochSchedule::Stateful(stopped).next_epoch_block(100), None);
    }
}
