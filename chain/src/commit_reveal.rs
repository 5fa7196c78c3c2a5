//! Commit-reveal of weights: which submission path a subnet requires, the commit-reveal v2
//! commit hash, and the runtime's epoch arithmetic for the reveal window.
//!
//! The v2 commit hash is BlakeTwo256 (BLAKE2b, 32-byte digest) of the SCALE encoding of the
//! tuple `(hotkey: AccountId32, netuid: u16, uids: Vec<u16>, values: Vec<u16>, salt: Vec<u16>,
//! version_key: u64)`: the 32 key bytes, then little-endian integers, each `Vec` prefixed with
//! its SCALE compact length. This is what `commit_weights` expects and `reveal_weights`
//! recomputes (and what the Python SDK's `generate_weight_hash` produces).
//!
//! Timelocked commit-reveal (v3/v4, drand) is out of scope: [`weight_submission`] says so with
//! a typed error instead of choosing a path that the chain would reject.

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

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
}

/// Why no supported submission path exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitRevealError {
    /// The subnet uses timelocked (drand) commit-reveal, which this crate does not implement.
    #[error(
        "subnet requires timelocked commit-reveal (CommitRevealWeightsVersion = {version}); gpuproof supports only set_weights and commit-reveal v2. Ask the subnet owner to disable commit-reveal or use a client with drand timelock encryption"
    )]
    TimelockedUnsupported {
        /// The subnet's `CommitRevealWeightsVersion`.
        version: u16,
    },
}

/// Decides the submission path from the subnet's `CommitRevealWeightsEnabled`,
/// `CommitRevealWeightsVersion` and `RevealPeriodEpochs`. Versions 3 and above are timelocked.
pub fn weight_submission(
    commit_reveal_enabled: bool,
    commit_reveal_version: u16,
    reveal_period_epochs: u64,
) -> Result<WeightSubmission, CommitRevealError> {
    if !commit_reveal_enabled {
        return Ok(WeightSubmission::SetWeights);
    }
    if commit_reveal_version >= 3 {
        return Err(CommitRevealError::TimelockedUnsupported {
            version: commit_reveal_version,
        });
    }
    Ok(WeightSubmission::CommitRevealV2 {
        reveal_period_epochs,
    })
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
            Err(CommitRevealError::TimelockedUnsupported { version: 4 })
        );
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
