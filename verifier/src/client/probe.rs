//! The bandwidth probe, verifier side: the miner's upload (it streams PRF data the verifier
//! spot-checks at positions chosen after arrival) and its download (the verifier streams data
//! from a seed it keeps secret; the miner must return their count and the BLAKE3 hash of every
//! byte, in order).
//!
//! The request and the receipt travel on an authenticated QUIC stream; the bulk bytes on a
//! TCP connection the miner's ticket names, bound to the session by a one-time token (see
//! [`protocol::ProbeTicket`]'s module for why).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use protocol::{
    Message, MessageKind, Nonce, ProbeDirection, ProbeReceipt, ProbeRequest, probe_data,
};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use transport::identity::os_random;
use transport::{FramedStream, TransportError};

/// Bytes checked in every chunk the miner sends, at a random position.
const CHECK_WINDOW: usize = 256;

/// The upload is read, and one window of it checked, in pieces of this size.
const CHUNK: usize = 4 << 20;

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

/// Asks for a probe on a new QUIC stream and opens the TCP connection its ticket names
/// (the miner's QUIC IP address, the ticket's port). Returns the stream (for the receipt),
/// the socket and the token to write first.
async fn open_probe(
    connection: &quinn::Connection,
    request: ProbeRequest,
    timeout: Duration,
) -> Result<(FramedStream, TcpStream, [u8; 32]), TransportError> {
    let mut stream = FramedStream::open_to(connection, protocol::Role::Miner).await?;
    stream.send(&Message::ProbeRequest(request)).await?;
    let Message::ProbeTicket(ticket) = stream.expect(MessageKind::ProbeTicket, timeout).await?
    else {
        return Err(TransportError::Handshake("expected a probe ticket".into()));
    };
    let addr = SocketAddr::new(connection.remote_address().ip(), ticket.port);
    let socket = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| TransportError::Timeout(timeout))?
        .map_err(|e| TransportError::Setup(format!("cannot reach the probe port {addr}: {e}")))?;
    socket
        .set_nodelay(true)
        .map_err(|e| TransportError::Setup(format!("probe socket: {e}")))?;
    Ok((stream, socket, *ticket.token.as_bytes()))
}

fn io_error(what: &str, e: &std::io::Error) -> TransportError {
    TransportError::Closed(format!("probe {what}: {e}"))
}

/// Times the miner streaming `bytes` to us (from writing the token to the last byte),
/// checking a random window of every `CHUNK` (4 MiB).
pub async fn probe_upload(
    connection: &quinn::Connection,
    bytes: u64,
    timeout: Duration,
) -> Result<ProbeResult, TransportError> {
    let seed = Nonce::new(os_random()?);
    let request = ProbeRequest {
        direction: ProbeDirection::MinerToVerifier,
        bytes,
        seed,
    };
    let (mut stream, mut socket, token) = open_probe(connection, request, timeout).await?;
    let started = Instant::now();
    let mut received = 0u64;
    let mut ok = true;
    let mut expected = vec![0u8; CHECK_WINDOW];
    let mut chunk = vec![0u8; CHUNK];
    let transfer = async {
        socket
            .write_all(&token)
            .await
            .map_err(|e| io_error("token", &e))?;
        while received < bytes {
            let len = usize::try_from((bytes - received).min(CHUNK as u64)).unwrap_or(CHUNK);
            let piece = chunk.get_mut(..len).unwrap_or_default();
            if socket.read_exact(piece).await.is_err() {
                ok = false;
                break;
            }
            let window = CHECK_WINDOW.min(len);
            let span = u64::try_from(len - window).unwrap_or(0) + 1;
            let at = usize::try_from(u64::from_le_bytes(os_random()?) % span).unwrap_or(0);
            let want = expected.get_mut(..window).unwrap_or_default();
            probe_data(&seed, received.saturating_add(at as u64), want);
            if piece.get(at..at + window) != Some(&*want) {
                ok = false;
            }
            received = received.saturating_add(len as u64);
        }
        Ok::<_, TransportError>(())
    };
    tokio::time::timeout(timeout, transfer)
        .await
        .map_err(|_| TransportError::Timeout(timeout))??;
    let elapsed = started.elapsed();
    stream.finish();
    Ok(result(
        "miner-to-verifier",
        received,
        elapsed,
        ok && received == bytes,
    ))
}

/// Times us streaming `bytes` to the miner (from writing the token to its receipt: the count
/// and hash of all it received, on the QUIC stream).
pub async fn probe_download(
    connection: &quinn::Connection,
    bytes: u64,
    timeout: Duration,
) -> Result<ProbeResult, TransportError> {
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
    // The receipt covers every byte: none can be skipped or made up without the miner
    // holding the whole stream.
    let expected = {
        let mut receipt = ProbeReceipt::new();
        receipt.update(&data);
        receipt.finish()
    };
    let (mut stream, mut socket, token) = open_probe(connection, request, timeout).await?;
    let started = Instant::now();
    let send = async {
        socket.write_all(&token).await?;
        socket.write_all(&data).await
    };
    tokio::time::timeout(timeout, send)
        .await
        .map_err(|_| TransportError::Timeout(timeout))?
        .map_err(|e| io_error("data", &e))?;
    let left = timeout.saturating_sub(started.elapsed());
    let Message::ProbeChunk(receipt) = stream.expect(MessageKind::ProbeChunk, left).await? else {
        return Err(TransportError::Handshake(
            "expected the probe receipt".into(),
        ));
    };
    let elapsed = started.elapsed();
    stream.finish();
    let ok = receipt.offset == bytes && receipt.data == expected;
    Ok(result("verifier-to-miner", bytes, elapsed, ok))
}
