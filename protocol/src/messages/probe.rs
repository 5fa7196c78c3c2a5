//! The bandwidth probe: a [`ProbeRequest`] on a QUIC stream, answered by a [`ProbeTicket`];
//! the data itself then runs over a plain TCP connection to the ticket's port.
//!
//! Why TCP for the bulk bytes: one QUIC connection (user-space crypto and packetisation) moves
//! about a tenth of what the kernel's TCP moves on the same path, so a probe over QUIC would
//! measure the miner's CPU, not its network. The TCP connection carries no secrets and needs
//! no encryption: it is bound to the authenticated QUIC session by the one-time `token` (the
//! first 32 bytes the verifier writes), and the content is checked as before.
//!
//! - `miner-to-verifier`: the miner generates `bytes` bytes of [`probe_data`]`(seed)` before
//!   it issues the ticket (untimed), then writes them all once the token arrives; the verifier
//!   times from writing the token to the last byte and checks windows of its own choosing.
//! - `verifier-to-miner`: after the token the verifier writes `bytes` bytes from a secret seed;
//!   the miner answers on the QUIC stream with one [`ProbeChunk`] whose `offset` is the count
//!   of bytes received and whose `data` is their [`ProbeReceipt`]: the BLAKE3 hash of every
//!   byte received, in order. The data come from a seed the miner never sees, so the receipt
//!   cannot be made without receiving every byte (an earlier sampled receipt let a miner skip
//!   15/16 of the stream's content; issue #17).
//!
//! Each side caps `bytes` by its own policy.

use serde::{Deserialize, Serialize};

use crate::bytes;
use crate::ids::Nonce;
use crate::limits::MAX_PROBE_CHUNK_LEN;

/// Fills `out` with the probe stream of `seed` from byte `offset` on: the BLAKE3 extendable
/// output keyed by `seed`, read from position `offset`. Both sides compute the same bytes, so
/// the receiver can check any part of what it got without the sender knowing which.
pub fn probe_data(seed: &Nonce, offset: u64, out: &mut [u8]) {
    let mut reader = blake3::Hasher::new_keyed(seed.as_bytes()).finalize_xof();
    reader.set_position(offset);
    reader.fill(out);
}

/// The receipt of a `verifier-to-miner` probe, fed the stream's bytes in order, in pieces of
/// any size: the BLAKE3 hash of every byte fed, and their count. Both sides compute it the same
/// way.
#[derive(Debug, Clone, Default)]
pub struct ProbeReceipt {
    hasher: blake3::Hasher,
    fed: u64,
}

impl ProbeReceipt {
    /// An empty receipt.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the stream.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.fed = self.fed.saturating_add(bytes.len() as u64);
    }

    /// The count of bytes fed.
    pub fn fed(&self) -> u64 {
        self.fed
    }

    /// The receipt hash.
    pub fn finish(&self) -> [u8; 32] {
        *self.hasher.finalize().as_bytes()
    }
}

/// Which way the probe data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeDirection {
    /// The miner sends, the verifier times (miner upload).
    MinerToVerifier,
    /// The verifier sends, the miner receives (miner download).
    VerifierToMiner,
}

/// Verifier → miner: start a bandwidth probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeRequest {
    /// Which way the data flows.
    pub direction: ProbeDirection,
    /// Total bytes to stream.
    pub bytes: u64,
    /// Seed of the PRF stream the data is drawn from.
    pub seed: Nonce,
}

/// Miner → verifier: the probe is ready; connect over TCP to `port` on the miner's address and
/// write `token` first. A ticket is good for one connection, for a short time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeTicket {
    /// TCP port of the probe listener, on the same IP address as the QUIC endpoint.
    pub port: u16,
    /// One-time token the verifier writes as the connection's first 32 bytes.
    pub token: Nonce,
}

/// One chunk of probe data, or (from the miner, `verifier-to-miner`) the receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeChunk {
    /// Offset of `data` in the stream.
    pub offset: u64,
    /// The data (at most [`MAX_PROBE_CHUNK_LEN`] bytes).
    #[serde(
        serialize_with = "bytes::bounded::serialize::<_, MAX_PROBE_CHUNK_LEN>",
        deserialize_with = "bytes::bounded::deserialize::<_, MAX_PROBE_CHUNK_LEN>"
    )]
    pub data: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The receipt does not depend on how the stream is cut, and every byte counts.
    #[test]
    fn receipt_is_independent_of_piece_sizes_and_covers_every_byte() {
        let mut data = vec![0u8; 300_000];
        probe_data(&Nonce::new([3; 32]), 0, &mut data);
        let whole = {
            let mut r = ProbeReceipt::new();
            r.update(&data);
            r.finish()
        };
        assert_eq!(whole, *blake3::hash(&data).as_bytes());
        for piece in [1usize, 7, 4096, 4097, 65_536, 100_000] {
            let mut r = ProbeReceipt::new();
            for c in data.chunks(piece) {
                r.update(c);
            }
            assert_eq!(r.finish(), whole, "piece {piece}");
            assert_eq!(r.fed(), 300_000);
        }
        // A byte the old 1/16 sample skipped now changes the receipt.
        for at in [0, 65_536 + 5000, 299_999] {
            let mut changed = data.clone();
            changed[at] ^= 1;
            let mut r = ProbeReceipt::new();
            r.update(&changed);
            assert_ne!(r.finish(), whole, "byte {at}");
        }
    }
}
