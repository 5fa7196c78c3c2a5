//! The bandwidth probe: a [`ProbeRequest`] then a stream of [`ProbeChunk`]s.
//!
//! The sending side streams `bytes` bytes generated from `seed` (by the PRF, outside this
//! crate); the receiving side times them and checks the content. Each side caps `bytes` by its
//! own policy: this crate only bounds one chunk.

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

/// One chunk of probe data.
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
