//! The bandwidth probe, miner side (DESIGN.md §Protocol step 7).
//!
//! - `miner-to-verifier`: the miner streams `bytes` bytes of [`probe_data`]`(seed)` in chunks of
//!   up to 1 MiB, then ends the stream; the verifier times them and checks windows of its
//!   choosing.
//! - `verifier-to-miner`: the verifier streams bytes of its own (from a seed it keeps secret);
//!   the miner reads them all and answers with one [`ProbeChunk`] whose `offset` is the count of bytes received and whose `data` is the
//!   BLAKE3 hash of them, which it cannot produce without receiving every byte.
//!
//! Either way a probe larger than the server's `max_probe_bytes` is refused.

use std::sync::Arc;

use protocol::{
    ErrorCode, ErrorMsg, Message, MessageKind, ProbeChunk, ProbeDirection, ProbeRequest, probe_data,
};
use transport::{FramedStream, TransportError};

use super::server::Shared;

/// Size of each chunk the miner sends.
pub const PROBE_CHUNK: usize = 1 << 20;

pub(crate) async fn serve_probe(
    stream: &mut FramedStream,
    shared: &Arc<Shared>,
    request: ProbeRequest,
) -> Result<(), TransportError> {
    let max = shared.settings.limits.max_probe_bytes;
    if request.bytes > max {
        let detail = format!(
            "probe of {} bytes is over this miner's limit of {max}",
            request.bytes
        );
        stream
            .send(&Message::Error(ErrorMsg::new(ErrorCode::Oversized, detail)))
            .await?;
        stream.finish();
        return Ok(());
    }
    match request.direction {
        ProbeDirection::MinerToVerifier => {
            let mut offset = 0u64;
            let mut data = vec![0u8; PROBE_CHUNK];
            while offset < request.bytes {
                let len = usize::try_from((request.bytes - offset).min(PROBE_CHUNK as u64))
                    .unwrap_or(PROBE_CHUNK);
                let buf = data.get_mut(..len).unwrap_or_default();
                probe_data(&request.seed, offset, buf);
                let chunk = Message::ProbeChunk(ProbeChunk {
                    offset,
                    data: buf.to_vec(),
                });
                stream.send(&chunk).await?;
                offset = offset.saturating_add(len as u64);
            }
            stream.finish();
            Ok(())
        }
        ProbeDirection::VerifierToMiner => {
            let timeout = shared.settings.limits.message_timeout;
            let mut hasher = blake3::Hasher::new();
            let mut received = 0u64;
            while received < request.bytes {
                let Message::ProbeChunk(chunk) =
                    stream.expect(MessageKind::ProbeChunk, timeout).await?
                else {
                    return Ok(());
                };
                if chunk.offset != received {
                    let detail = format!("chunk at offset {}, expected {received}", chunk.offset);
                    stream
                        .send(&Message::Error(ErrorMsg::new(ErrorCode::Malformed, detail)))
                        .await?;
                    return Ok(());
                }
                hasher.update(&chunk.data);
                received = received.saturating_add(chunk.data.len() as u64);
            }
            let receipt = ProbeChunk {
                offset: received,
                data: hasher.finalize().as_bytes().to_vec(),
            };
            stream.send(&Message::ProbeChunk(receipt)).await?;
            stream.finish();
            Ok(())
        }
    }
}
