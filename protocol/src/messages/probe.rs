//! The bandwidth probe: a [`ProbeRequest`] on a QUIC stream, answered by a [`ProbeTicket`];
//! the data itself then runs over `streams` plain TCP connections to the ticket's port, in
//! parallel (protocol v3).
//!
//! Why TCP for the bulk bytes: one QUIC connection (user-space crypto and packetisation) moves
//! about a tenth of what the kernel's TCP moves on the same path, so a probe over QUIC would
//! measure the miner's CPU, not its network. Why several streams: one TCP stream keeps at most
//! its window in flight, so over a long round trip it cannot fill a fast link (a 4 MiB window
//! over 100 ms is 340 Mbit/s), and every stream starts in slow start; the verifier sizes the
//! probe (bytes and streams) from the round trip it measured. The TCP connections carry no
//! secrets and need no encryption: each is bound to the authenticated QUIC session by its
//! one-time token (the first 32 bytes the verifier writes on it), and the content is checked
//! in full.
//!
//! The `bytes` of a probe are split over its streams by [`stream_span`]: stream `i` carries the
//! probe stream's bytes `[offset_i, offset_i + len_i)`, the first `bytes % streams` streams one
//! byte more than the others.
//!
//! - `miner-to-verifier`: the miner generates `bytes` bytes of [`probe_data`]`(seed)` before
//!   it issues the ticket (untimed), then writes each stream's span once its token arrives; the
//!   verifier times from writing the first token to the last byte and compares every byte with
//!   the stream it generated itself.
//! - `verifier-to-miner`: after the tokens the verifier writes each stream's span of the
//!   probe stream of a seed it keeps secret (the request's `seed` is unrelated randomness); the
//!   miner answers on the QUIC stream with one [`ProbeChunk`] whose `offset` is the count of
//!   bytes it received over all streams and whose `data` is the streams' [`ProbeReceipt`]s in
//!   stream order, 32 bytes each: the BLAKE3 hash of every byte received on that stream, in
//!   order. The data come from a seed the miner never sees, so no receipt can be made without
//!   receiving every byte (an earlier sampled receipt let a miner skip 15/16 of the stream's
//!   content; issue #17). The verifier stops its clock at the receipt and fails a probe whose
//!   receipt is wrong, or later than its own deadline (issue #24).
//!
//! Each side caps `bytes` and `streams` by its own policy; `streams` is at most
//! [`MAX_PROBE_STREAMS`].

use serde::{Deserialize, Serialize};

use crate::bytes;
use crate::ids::Nonce;
use crate::limits::{MAX_PROBE_CHUNK_LEN, MAX_PROBE_STREAMS};

/// Fills `out` with the probe stream of `seed` from byte `offset` on: the BLAKE3 extendable
/// output keyed by `seed`, read from position `offset`. Both sides compute the same bytes, so
/// the receiver can check any part of what it got without the sender knowing which.
pub fn probe_data(seed: &Nonce, offset: u64, out: &mut [u8]) {
    let mut reader = blake3::Hasher::new_keyed(seed.as_bytes()).finalize_xof();
    reader.set_position(offset);
    reader.fill(out);
}

/// Where stream `index` of a probe of `bytes` bytes over `streams` streams lies in the probe
/// stream: `(offset, len)`. The bytes are split as evenly as they go, the first
/// `bytes % streams` streams carrying one byte more; the spans of streams `0..streams` are
/// disjoint and cover `0..bytes` in order. `None` when `index >= streams` (or `streams` is 0).
pub fn stream_span(bytes: u64, streams: u16, index: u16) -> Option<(u64, u64)> {
    if index >= streams {
        return None;
    }
    let n = u64::from(streams);
    let i = u64::from(index);
    let base = bytes / n;
    let extra = bytes % n;
    let len = base + u64::from(i < extra);
    // i·base + min(i, extra) <= bytes: no overflow.
    let offset = i * base + i.min(extra);
    Some((offset, len))
}

/// The bytes of a `verifier-to-miner` receipt's `data`: each stream's [`ProbeReceipt`] hash in
/// stream order, 32 bytes each.
pub fn receipt_data(hashes: &[[u8; 32]]) -> Vec<u8> {
    hashes.iter().flatten().copied().collect()
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
    /// Total bytes to stream, over all streams (split by [`stream_span`]).
    pub bytes: u64,
    /// Parallel TCP streams the bytes run over: 1 to [`MAX_PROBE_STREAMS`].
    pub streams: u16,
    /// Seed of the PRF stream the data is drawn from (`miner-to-verifier`; unrelated
    /// randomness for `verifier-to-miner`, whose data come from a seed the verifier keeps).
    pub seed: Nonce,
}

/// Miner → verifier: the probe is ready; open one TCP connection per token to `port` on the
/// miner's address and write the token first: the connection with `tokens[i]` carries stream
/// `i`. Each token is good for one connection, for a short time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeTicket {
    /// TCP port of the probe listener, on the same IP address as the QUIC endpoint.
    pub port: u16,
    /// One-time tokens, one per stream of the request, in stream order (at most
    /// [`MAX_PROBE_STREAMS`]).
    #[serde(
        serialize_with = "bytes::seq_max::serialize::<_, _, MAX_PROBE_STREAMS>",
        deserialize_with = "bytes::seq_max::deserialize::<_, _, MAX_PROBE_STREAMS>"
    )]
    pub tokens: Vec<Nonce>,
}

/// One chunk of probe data, or (from the miner, `verifier-to-miner`) the receipt: `offset` the
/// bytes received over all streams, `data` their hashes ([`receipt_data`]).
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
    #![allow(clippy::indexing_slicing)]
    use super::*;

    /// The spans are disjoint, in order, cover every byte, and differ in length by at most one.
    #[test]
    fn stream_spans_split_the_bytes_evenly_and_cover_them() {
        for bytes in [0u64, 1, 7, 8, 9, 1 << 20, (1 << 20) + 3, u64::MAX] {
            for streams in 1..=MAX_PROBE_STREAMS as u16 {
                let mut next = 0u64;
                let mut lens = Vec::new();
                for i in 0..streams {
                    let (offset, len) = stream_span(bytes, streams, i).unwrap();
                    assert_eq!(offset, next, "{bytes} over {streams}, stream {i}");
                    next = offset + len;
                    lens.push(len);
                }
                assert_eq!(next, bytes, "{bytes} over {streams}");
                let (lo, hi) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
                assert!(hi - lo <= 1, "{bytes} over {streams}: {lens:?}");
                assert_eq!(stream_span(bytes, streams, streams), None);
            }
            assert_eq!(stream_span(bytes, 0, 0), None);
        }
        assert_eq!(stream_span(10, 3, 0), Some((0, 4)));
        assert_eq!(stream_span(10, 3, 1), Some((4, 3)));
        assert_eq!(stream_span(10, 3, 2), Some((7, 3)));
    }

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
