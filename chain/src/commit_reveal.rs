//! Commit-reveal of weights: which submission path a subnet requires, the commit-reveal v2
//! commit hash, the timelocked (v4) commit, and the runtime's epoch arithmetic for the reveal
//! window.
//!
//! **Choosing the path** ([`weight_submission`]), from the subnet's
//! `CommitRevealWeightsEnabled`, the chain's `CommitRevealWeightsVersion` and the subnet's
//! `RevealPeriodEpochs`:
//!
//! | enabled | version | path |
//! |---|---|---|
//! | no | any | [`WeightSubmission::SetWeights`] |
//! | yes | 0–2 | [`WeightSubmission::CommitRevealV2`]: `commit_weights` + `reveal_weights` |
//! | yes | 4 | [`WeightSubmission::Timelocked`]: `commit_timelocked_weights`; the chain reveals |
//! | yes | 3, ≥ 5 | [`CommitRevealError::UnsupportedVersion`] |
//!
//! (Version 3 was timelocked with a payload without the hotkey; no current runtime runs it.)
//!
//! **v2.** The commit hash is BlakeTwo256 (BLAKE2b, 32-byte digest) of the SCALE encoding of the
//! tuple `(hotkey: AccountId32, netuid: u16, uids: Vec<u16>, values: Vec<u16>, salt: Vec<u16>,
//! version_key: u64)`: the 32 key bytes, then little-endian integers, each `Vec` prefixed with
//! its SCALE compact length. This is what `commit_weights` expects and `reveal_weights`
//! recomputes (and what the Python SDK's `generate_weight_hash` produces).
//!
//! **v4 (timelocked).** The plaintext is the SCALE encoding of [`WeightsTlockPayload`]
//! `{ hotkey: Vec<u8>, uids: Vec<u16>, values: Vec<u16>, version_key: u64 }`, encrypted with
//! [`crate::tlock::encrypt`] to the drand round from [`crate::reveal_round::reveal_target`].
//! [`timelocked_commit`] does both; the chain decrypts the commit itself at the reveal block, so
//! there is no reveal call.

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

use crate::reveal_round::{EpochSchedule, RevealRoundError, RevealTarget, reveal_target};
use crate::tlock::{TlockError, TlockRandomness, encrypt};

/// The `CommitRevealWeightsVersion` of timelocked commit-reveal that this crate implements.
pub const TIMELOCKED_VERSION: u16 = 4;

/// The runtime's bound on a timelocked commit (`MAX_CRV3_COMMIT_SIZE_BYTES`).
pub const MAX_TIMELOCKED_COMMIT_BYTES: usize = 5000;

/// How a validator must submit weights on a subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightSubmission {
    /// Commit-reveal is off: call `set_weights` directly.
    SetWeights,
    /// Commit-reveal v2: `commit_weights` with [`commit_hash_v2`], then `reveal_weights` in the
    /// epoch `reveal_period_epochs` after the commit's epoch.
    CommitRevealV2 {
        /// Epochs between commit and reveal (`RevealPeriodEpochs`).
        reveal_period_epochs: u64,
    },
    /// Timelocked commit-reveal (v4): `commit_timelocked_weights` with [`timelocked_commit`];
    /// the chain decrypts and applies the weights itself `reveal_period_epochs` epochs later.
    Timelocked {
        /// Epochs between commit and reveal (`RevealPeriodEpochs`).
        reveal_period_epochs: u64,
        /// The version to pass to `commit_timelocked_weights` (the chain's
        /// `CommitRevealWeightsVersion`, [`TIMELOCKED_VERSION`]).
        version: u16,
    },
}

/// Why no supported submission path exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitRevealError {
    /// The chain runs a commit-reveal version this crate does not implement (3, or above 4).
    #[error(
        "the chain runs commit-reveal version {version} (CommitRevealWeightsVersion); gpuproof implements set_weights, commit-reveal v2 and timelocked commit-reveal v4. Update gpuproof, or ask the subnet owner to disable commit-reveal"
    )]
    UnsupportedVersion {
        /// The chain's `CommitRevealWeightsVersion`.
        version: u16,
    },
}

/// Decides the submission path from the subnet's `CommitRevealWeightsEnabled`, the chain's
/// `CommitRevealWeightsVersion` and the subnet's `RevealPeriodEpochs` (table in the module docs).
pub fn weight_submission(
    commit_reveal_enabled: bool,
    commit_reveal_version: u16,
    reveal_period_epochs: u64,
) -> Result<WeightSubmission, CommitRevealError> {
    match (commit_reveal_enabled, commit_reveal_version) {
        (false, _) => Ok(WeightSubmission::SetWeights),
        (true, 0..=2) => Ok(WeightSubmission::CommitRevealV2 {
            reveal_period_epochs,
        }),
        (true, TIMELOCKED_VERSION) => Ok(WeightSubmission::Timelocked {
            reveal_period_epochs,
            version: TIMELOCKED_VERSION,
        }),
        (true, version) => Err(CommitRevealError::UnsupportedVersion { version }),
    }
}

/// The plaintext of a timelocked (v4) commit, as the runtime decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsTlockPayload {
    /// The committing hotkey's public key (the runtime checks it is the signer).
    pub hotkey: [u8; 32],
    /// Destination uids.
    pub uids: Vec<u16>,
    /// u16 weights, one per uid.
    pub values: Vec<u16>,
    /// The validator's version key.
    pub version_key: u64,
}

/// Why bytes are not a SCALE [`WeightsTlockPayload`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SCALE WeightsTlockPayload: {0}")]
pub struct PayloadDecodeError(String);

impl WeightsTlockPayload {
    /// SCALE encoding: `hotkey` as a `Vec<u8>` (compact length 32, then the key), `uids` and
    /// `values` as `Vec<u16>`, `version_key` as u64 little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(43 + 2 * (self.uids.len() + self.values.len()) + 8);
        encode_compact(self.hotkey.len() as u64, &mut out);
        out.extend_from_slice(&self.hotkey);
        encode_vec_u16(&self.uids, &mut out);
        encode_vec_u16(&self.values, &mut out);
        out.extend_from_slice(&self.version_key.to_le_bytes());
        out
    }

    /// Decodes [`Self::encode`]'s format exactly: the hotkey must be 32 bytes and nothing may
    /// follow `version_key`.
    pub fn decode(bytes: &[u8]) -> Result<Self, PayloadDecodeError> {
        let mut rest = bytes;
        let key_len = decode_compact(&mut rest)?;
        if key_len != 32 {
            return Err(PayloadDecodeError(format!(
                "hotkey of {key_len} bytes, expected 32"
            )));
        }
        let mut hotkey = [0u8; 32];
        hotkey.copy_from_slice(take(&mut rest, 32, "hotkey")?);
        let uids = decode_vec_u16(&mut rest, "uids")?;
        let values = decode_vec_u16(&mut rest, "values")?;
        let mut key = [0u8; 8];
        key.copy_from_slice(take(&mut rest, 8, "version_key")?);
        if !rest.is_empty() {
            return Err(PayloadDecodeError(format!("{} trailing bytes", rest.len())));
        }
        Ok(WeightsTlockPayload {
            hotkey,
            uids,
            values,
            version_key: u64::from_le_bytes(key),
        })
    }
}

/// Why a timelocked commit could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimelockedCommitError {
    /// The weights are not one value per distinct uid.
    #[error("invalid weights: {0}")]
    InvalidWeights(String),
    /// The ciphertext would exceed the runtime's [`MAX_TIMELOCKED_COMMIT_BYTES`].
    #[error(
        "the encrypted commit would be {bytes} bytes; the chain accepts at most {MAX_TIMELOCKED_COMMIT_BYTES} (too many uids)"
    )]
    TooLarge {
        /// The commit's size.
        bytes: usize,
    },
    /// No reveal block or round.
    #[error(transparent)]
    RevealRound(#[from] RevealRoundError),
    /// Encryption failed.
    #[error(transparent)]
    Tlock(#[from] TlockError),
}

/// A timelocked commit ready for `commit_timelocked_weights`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelockedCommit {
    /// The ciphertext (the call's `commit`).
    pub commit: Vec<u8>,
    /// Where and when the chain will reveal it (`reveal_round` is the call's argument).
    pub target: RevealTarget,
}

/// Everything [`timelocked_commit`] needs to know about the chain and the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelockContext {
    /// The subnet's epoch schedule at `current_block`.
    pub schedule: EpochSchedule,
    /// The head block the schedule was read at.
    pub current_block: u64,
    /// `RevealPeriodEpochs`.
    pub reveal_period_epochs: u64,
    /// Unix time now, milliseconds.
    pub now_ms: u64,
    /// Block time, milliseconds ([`crate::reveal_round::DEFAULT_BLOCK_TIME_MS`] on subtensor).
    pub block_time_ms: u64,
}

/// Builds a timelocked commit: checks the weights (one per distinct uid), finds the reveal
/// block and round ([`reveal_target`]), SCALE-encodes the [`WeightsTlockPayload`] and encrypts
/// it to that round. The result decrypts with the round's drand signature to exactly that
/// payload, and fits the runtime's size bound.
pub fn timelocked_commit(
    payload: &WeightsTlockPayload,
    context: &TimelockContext,
    randomness: &TlockRandomness,
) -> Result<TimelockedCommit, TimelockedCommitError> {
    if payload.uids.len() != payload.values.len() {
        return Err(TimelockedCommitError::InvalidWeights(format!(
            "{} uids but {} values",
            payload.uids.len(),
            payload.values.len()
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = payload.uids.iter().find(|uid| !seen.insert(**uid)) {
        return Err(TimelockedCommitError::InvalidWeights(format!(
            "uid {dup} appears twice"
        )));
    }
    let target = reveal_target(
        &context.schedule,
        context.current_block,
        context.reveal_period_epochs,
        context.now_ms,
        context.block_time_ms,
    )?;
    let plaintext = payload.encode();
    let bytes = crate::tlock::CIPHERTEXT_OVERHEAD + plaintext.len();
    if bytes > MAX_TIMELOCKED_COMMIT_BYTES {
        return Err(TimelockedCommitError::TooLarge { bytes });
    }
    let commit = encrypt(&plaintext, target.reveal_round, randomness)?;
    Ok(TimelockedCommit { commit, target })
}

/// Appends the SCALE compact encoding of `value` (used for `Vec` length prefixes).
pub fn encode_compact(value: u64, out: &mut Vec<u8>) {
    if value < 1 << 6 {
        out.extend_from_slice(&[(value as u8) << 2]);
    } else if value < 1 << 14 {
        out.extend_from_slice(&((((value as u16) << 2) | 0b01).to_le_bytes()));
    } else if value < 1 << 30 {
        out.extend_from_slice(&((((value as u32) << 2) | 0b10).to_le_bytes()));
    } else {
        let bytes = value.to_le_bytes();
        let used = bytes
            .iter()
            .rposition(|b| *b != 0)
            .map_or(1, |i| i + 1)
            .max(4);
        // Big-integer mode: low two bits 0b11, upper six bits = byte count − 4.
        out.push((((used - 4) as u8) << 2) | 0b11);
        out.extend(bytes.iter().take(used));
    }
}

/// Appends the SCALE encoding of a `Vec<u16>`: compact length, then little-endian items.
fn encode_vec_u16(items: &[u16], out: &mut Vec<u8>) {
    encode_compact(items.len() as u64, out);
    for item in items {
        out.extend_from_slice(&item.to_le_bytes());
    }
}

fn take<'a>(rest: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], PayloadDecodeError> {
    if rest.len() < n {
        return Err(PayloadDecodeError(format!(
            "{what}: need {n} bytes, {} left",
            rest.len()
        )));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

/// Reads a SCALE compact integer (any mode), advancing `rest`.
fn decode_compact(rest: &mut &[u8]) -> Result<u64, PayloadDecodeError> {
    let first = *take(rest, 1, "compact")?
        .first()
        .ok_or_else(|| PayloadDecodeError("compact: empty".into()))?;
    let extra = match first & 0b11 {
        0b00 => return Ok(u64::from(first >> 2)),
        0b01 => 1,
        0b10 => 3,
        _ => usize::from(first >> 2) + 4,
    };
    if extra > 8 {
        return Err(PayloadDecodeError("compact integer wider than u64".into()));
    }
    let tail = take(rest, extra, "compact")?;
    let mut bytes = [0u8; 8];
    bytes
        .get_mut(..extra)
        .ok_or_else(|| PayloadDecodeError("compact width".into()))?
        .copy_from_slice(tail);
    let mut value = u64::from_le_bytes(bytes);
    if first & 0b11 != 0b11 {
        value = (value << 8 | u64::from(first)) >> 2;
    }
    Ok(value)
}

fn decode_vec_u16(rest: &mut &[u8], what: &str) -> Result<Vec<u16>, PayloadDecodeError> {
    let len = decode_compact(rest)?;
    let n = usize::try_from(len)
        .ok()
        .filter(|n| n.saturating_mul(2) <= rest.len())
        .ok_or_else(|| PayloadDecodeError(format!("{what}: {len} items exceed the input")))?;
    let bytes = take(rest, 2 * n, what)?;
    Ok(bytes
        .chunks_exact(2)
        .map(|c| {
            u16::from_le_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
        .collect())
}

/// The SCALE encoding hashed by [`commit_hash_v2`].
pub fn commit_preimage_v2(
    hotkey: &[u8; 32],
    netuid: u16,
    uids: &[u16],
    values: &[u16],
    salt: &[u16],
    version_key: u64,
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(32 + 2 + 8 + 2 * (uids.len() + values.len() + salt.len()) + 12);
    out.extend_from_slice(hotkey);
    out.extend_from_slice(&netuid.to_le_bytes());
    encode_vec_u16(uids, &mut out);
    encode_vec_u16(values, &mut out);
    encode_vec_u16(salt, &mut out);
    out.extend_from_slice(&version_key.to_le_bytes());
    out
}

/// The commit-reveal v2 commit hash: BlakeTwo256 of [`commit_preimage_v2`].
pub fn commit_hash_v2(
    hotkey: &[u8; 32],
    netuid: u16,
    uids: &[u16],
    values: &[u16],
    salt: &[u16],
    version_key: u64,
) -> [u8; 32] {
    let preimage = commit_preimage_v2(hotkey, netuid, uids, values, salt, version_key);
    Blake2b::<U32>::digest(&preimage).into()
}

/// The runtime's epoch index of a block: `(block + netuid + 1) / (tempo + 1)` (`get_epoch_index`).
pub fn epoch_index(netuid: u16, tempo: u16, block: u64) -> u64 {
    let tempo_plus_one = u64::from(tempo).saturating_add(1);
    block
        .saturating_add(u64::from(netuid).saturating_add(1))
        .checked_div(tempo_plus_one)
        .unwrap_or(0)
}

/// Blocks until the subnet's next epoch under the fixed (legacy) schedule, as runtimes without
/// `LastEpochBlock` compute it (`blocks_until_next_epoch`): `tempo − (block + netuid + 1) mod
/// (tempo + 1)`; 0 means the epoch runs in `block`. `None` for tempo 0 (the subnet runs no
/// epochs; the runtime answers `u64::MAX`).
pub fn blocks_until_next_epoch(netuid: u16, tempo: u16, block: u64) -> Option<u64> {
    if tempo == 0 {
        return None;
    }
    let tempo_plus_one = u64::from(tempo).saturating_add(1);
    let remainder = block
        .saturating_add(u64::from(netuid).saturating_add(1))
        .checked_rem(tempo_plus_one)?;
    Some(u64::from(tempo).saturating_sub(remainder))
}

/// The inclusive block range in which a commit made at `commit_block` may be revealed: the
/// whole epoch `commit_epoch + reveal_period_epochs` (`is_reveal_block_range`).
pub fn reveal_window(
    netuid: u16,
    tempo: u16,
    commit_block: u64,
    reveal_period_epochs: u64,
) -> (u64, u64) {
    let epoch = epoch_index(netuid, tempo, commit_block).saturating_add(reveal_period_epochs);
    let tempo_plus_one = u64::from(tempo).saturating_add(1);
    let offset = u64::from(netuid).saturating_add(1);
    let first = epoch.saturating_mul(tempo_plus_one).saturating_sub(offset);
    let last = epoch
        .saturating_add(1)
        .saturating_mul(tempo_plus_one)
        .saturating_sub(offset)
        .saturating_sub(1);
    (first, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode_compact(v, &mut out);
        out
    }

    #[test]
    fn compact_encoding_modes() {
        // Values from the SCALE specification's compact examples.
        assert_eq!(compact(0), [0x00]);
        assert_eq!(compact(1), [0x04]);
        assert_eq!(compact(42), [0xa8]);
        assert_eq!(compact(63), [0xfc]);
        assert_eq!(compact(64), [0x01, 0x01]);
        assert_eq!(compact(69), [0x15, 0x01]);
        assert_eq!(compact(16383), [0xfd, 0xff]);
        assert_eq!(compact(16384), [0x02, 0x00, 0x01, 0x00]);
        assert_eq!(compact(65535), [0xfe, 0xff, 0x03, 0x00]);
        assert_eq!(compact((1 << 30) - 1), [0xfe, 0xff, 0xff, 0xff]);
        assert_eq!(compact(1 << 30), [0x03, 0x00, 0x00, 0x00, 0x40]);
        assert_eq!(
            compact(u64::MAX),
            [0x13, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn blocks_until_next_epoch_is_the_runtimes_fixed_schedule() {
        // (tempo, netuid) → the first block whose epoch runs, from subtensor's own table.
        for (tempo, netuid, first) in [
            (1, 0, 0),
            (1, 1, 1),
            (2, 0, 1),
            (2, 1, 0),
            (100, 0, 99),
            (100, 1, 98),
        ] {
            assert_eq!(
                blocks_until_next_epoch(netuid, tempo, first),
                Some(0),
                "{tempo} {netuid}"
            );
            let before = (0..first).map(|b| blocks_until_next_epoch(netuid, tempo, b));
            assert!(
                before.clone().all(|left| left != Some(0)),
                "{tempo} {netuid}"
            );
            // The epoch block is the last of its epoch index: the next block starts a new one.
            assert_eq!(
                epoch_index(netuid, tempo, first + 1),
                epoch_index(netuid, tempo, first) + 1
            );
            // And the epoch runs again tempo + 1 blocks later.
            assert_eq!(
                blocks_until_next_epoch(netuid, tempo, first + u64::from(tempo) + 1),
                Some(0)
            );
            assert_eq!(
                blocks_until_next_epoch(netuid, tempo, first + 1),
                Some(u64::from(tempo))
            );
        }
        assert_eq!(blocks_until_next_epoch(1, 0, 5), None);
        // Saturates at the top instead of overflowing: u64::MAX mod 65536 = 65535 = tempo.
        assert_eq!(
            blocks_until_next_epoch(u16::MAX, u16::MAX, u64::MAX),
            Some(0)
        );
    }

    #[test]
    fn submission_path() {
        assert_eq!(
            weight_submission(false, 4, 1),
            Ok(WeightSubmission::SetWeights)
        );
        assert_eq!(
            weight_submission(true, 2, 3),
            Ok(WeightSubmission::CommitRevealV2 {
                reveal_period_epochs: 3
            })
        );
        assert_eq!(
            weight_submission(true, 4, 1),
            Ok(WeightSubmission::Timelocked {
                reveal_period_epochs: 1,
                version: 4
            })
        );
        assert_eq!(
            weight_submission(false, 4, 1),
            Ok(WeightSubmission::SetWeights)
        );
        for version in [3, 5, u16::MAX] {
            assert_eq!(
                weight_submission(true, version, 1),
                Err(CommitRevealError::UnsupportedVersion { version })
            );
        }
    }

    #[test]
    fn reveal_window_is_the_target_epoch() {
        // netuid 1, tempo 360: epoch index = (block + 2) / 361. A commit in block 100 is in
        // epoch 0; with reveal period 1 the reveal epoch 1 spans blocks 359..=719.
        assert_eq!(epoch_index(1, 360, 100), 0);
        assert_eq!(reveal_window(1, 360, 100, 1), (359, 719));
        assert_eq!(epoch_index(1, 360, 359), 1);
        assert_eq!(epoch_index(1, 360, 719), 1);
        assert_eq!(epoch_index(1, 360, 720), 2);
    }
}
