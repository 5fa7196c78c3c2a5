//! The bandwidth probe, verifier side: the miner's upload (it streams PRF data the verifier
//! spot-checks at positions chosen after arrival) and its download (the verifier streams data
//! from a seed it keeps secret; the miner must return the BLAKE3 hash of every byte).

use std::time::{Duration, Instant};

use protocol::{Message, MessageKind, Nonce, ProbeChunk, ProbeDirection, ProbeRequest, probe_data};
use serde::Serialize;
use transport::identity::os_random;
use transport::{FramedStream, TransportError};

/// Bytes checked in every chunk the miner sends, at a random position.
const CHECK_WINDOW: usize = 256;

/// Size of each chunk the verifier sends.
const SEND_CHUNK: usize = 1 << 20;

/// One direction of a probe.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProbeResult {
    /// `miner-to-verifier` or `verifier-to-miner`.
    pub direction: &'static str,
    /// Bytes moved.
    pub bytes: u64,
    /// Seconds from the request to the last byte (or the miner's receipt).
    pub seconds: f64,
    /// Throughput in MB/s (10^6 bytes).
    pub mb_per_s: f64,
    /// Whether the data checked out; a miner sending wrong bytes (or a wrong receipt) fails.
    pub data_ok: bool,
}

fn result(direction: &'static str, bytes: u64, elapsed: Duration, data_ok: bool) -> ProbeResult {
    let seconds = elapsed.as_secs_f64();
    ProbeResult {
        direction,
        bytes,
        seconds,
        mb_per_s: if seconds > 0.0 {
            bytes as f64 / seconds / 1e6
        } else {
            0.0
        },
        data_ok,
    }
}

/// Times the miner streaming `bytes` to us, checking a window of every chunk.
pub async fn probe_upload(
    connection: &quinn::Connection,
    bytes: u64,
    timeout: Duration,
) -> Result<ProbeResult, TransportError> {
    let mut stream = FramedStream::open(connection).await?;
    let seed = Nonce::new(os_random()?);
    let started = Instant::now();
    let request = ProbeRequest {
        direction: ProbeDirection::MinerToVerifier,
        bytes,
        seed,
    };
    stream.send(&Message::ProbeRequest(request)).await?;
    let mut received = 0u64;
    let mut ok = true;
    let mut expected = vec![0u8; CHECK_WINDOW];
    while received < bytes {
        let left = timeout.saturating_sub(started.elapsed());
        let Message::ProbeChunk(chunk) = stream.expect(MessageKind::ProbeChunk, left).await? else {
            return Err(TransportError::Handshake("expected a probe chunk".into()));
        };
        if chunk.offset != received || chunk.data.is_empty() {
            ok = false;
            break;
        }
        let len = chunk.data.len();
        let window = CHECK_WINDOW.min(len);
        let span = u64::try_from(len - window).unwrap_or(0) + 1;
        let at = usize::try_from(u64::from_le_bytes(os_random()?) % span).unwrap_or(0);
        let want = expected.get_mut(..window).unwrap_or_default();
        probe_data(&seed, received.saturating_add(at as u64), want);
        if chunk.data.get(at..at + window) != Some(&*want) {
            ok = false;
        }
        received = received.saturating_add(len as u64);
    }
    let elapsed = started.elapsed();
    stream.finish();
    Ok(result(
        "miner-to-verifier",
        received,
        elapsed,
        ok && received == bytes,
    ))
}

/// Times us streaming `bytes` to the miner until its receipt (the hash of all it received).
pub async fn probe_download(
    connection: &quinn::Connection,
    bytes: u64,
    timeout: Duration,
) -> Result<ProbeResult, TransportError> {
    let mut stream = FramedStream::open(connection).await?;
    let secret = Nonce::new(os_random()?);
    let request = ProbeRequest {
        direction: ProbeDirection::VerifierToMiner,
        bytes,
        seed: Nonce::new(os_random()?),
    };
    // Generate before the clock starts, so our own PRF speed is not measured.
    let size =
        usize::try_from(bytes).map_err(|_| TransportError::Setup("probe too large".into()))?;
    let mut data = vec![0u8; size];
    probe_data(&secret, 0, &mut data);
    let expected = blake3::hash(&data);
    let started = Instant::now();
    stream.send(&Message::ProbeRequest(request)).await?;
    let mut offset = 0u64;
    for piece in data.chunks(SEND_CHUNK) {
        let chunk = ProbeChunk {
            offset,
            data: piece.to_vec(),
        };
        stream.send(&Message::ProbeChunk(chunk)).await?;
        offset = offset.saturating_add(piece.len() as u64);
    }
    let left = timeout.saturating_sub(started.elapsed());
    let Message::ProbeChunk(receipt) = stream.expect(MessageKind::ProbeChunk, left).await? else {
        return Err(TransportError::Handshake(
            "expected the probe receipt".into(),
        ));
    };
    let elapsed = started.elapsed();
    stream.finish();
    let ok = receipt.offset == bytes && receipt.data == expected.as_bytes();
    Ok(result("verifier-to-miner", bytes, elapsed, ok))
}
