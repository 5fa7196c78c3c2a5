//! The bandwidth probe, miner side (docs/design.md §Protocol step 7; wire format in
//! [`protocol::ProbeTicket`]'s module).
//!
//! A validator asks on a QUIC stream; the miner answers with a [`ProbeTicket`]: the port of its
//! TCP probe listener and one one-time token per parallel stream. The bulk bytes then run over
//! TCP, because a single QUIC connection moves about a tenth of what the kernel's TCP does and
//! the probe would measure our CPU instead of the network.
//!
//! - `miner-to-verifier`: the data (`probe_data(seed)`, all streams' spans) is generated before
//!   the ticket is issued, so the timed part is the network alone; once a stream's token
//!   arrives its span is written out whole and the connection closed.
//! - `verifier-to-miner`: after each token the miner reads exactly its stream's span, hashing
//!   every byte with BLAKE3; once every stream is in it sends the receipt ([`ProbeChunk`]:
//!   `offset` the count of bytes received over all streams, `data` each stream's hash in stream
//!   order) on the QUIC stream.
//!
//! How the bytes are moved is a [`ProbeConduct`]: [`conduct::Honest`] here, the probe cheats
//! in `adversary/probe.rs`.
//!
//! Hostile input, checked in this order before anything is generated or allocated: a probe
//! over `max_probe_bytes` or [`MAX_PROBE_STREAMS`] streams (or of none) is refused
//! (`oversized`, `malformed`); each validator hotkey may ask for `probes_per_minute` probes a
//! minute (`rate-limited` beyond); at most [`MAX_PENDING_PROBES`] probes are outstanding, and
//! [`desk::MAX_PENDING_PER_VALIDATOR`] of one validator, their data being generated or their
//! tokens waiting (`rate-limited` beyond). Only then is an upload's data generated. A token is
//! good for one connection from the validator's own IP address within [`TICKET_LIFETIME`] (or
//! the message timeout, if shorter); a TCP connection that does not present a valid token within
//! [`TOKEN_TIMEOUT`] is dropped; at most [`MAX_PROBE_CONNECTIONS`] such connections are held at
//! once, and [`MAX_PROBE_CONNECTIONS_PER_IP`] from one address. The tokens are withdrawn as soon
//! as the verifier ends its stream, so an abandoned probe frees its place at once.

pub(crate) mod conduct;
mod desk;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use protocol::limits::MAX_PROBE_STREAMS;
use protocol::{
    ErrorCode, ErrorMsg, Message, Nonce, ProbeChunk, ProbeDirection, ProbeRequest, ProbeTicket,
    receipt_data, stream_span,
};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tracing::{debug, warn};
use transport::{FramedStream, Peer, TransportError};

use self::conduct::StreamReceipt;
use self::desk::NoPlace;
pub(crate) use self::desk::ProbeDesk;
pub use self::desk::{MAX_PENDING_PER_VALIDATOR, MAX_PENDING_PROBES};
use super::ip_slots::IpSlots;
use super::server::Shared;

/// TCP connections to the probe port held at once (token not yet read, or data flowing).
pub const MAX_PROBE_CONNECTIONS: usize = 64;

/// TCP connections to the probe port held at once from one IP address: two probes' streams.
pub const MAX_PROBE_CONNECTIONS_PER_IP: usize = 2 * MAX_PROBE_STREAMS;

/// Time a TCP connection has to present its token.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a ticket's tokens stay good (the verifier connects as soon as it has the ticket).
pub const TICKET_LIFETIME: Duration = Duration::from_secs(10);

/// What a token's TCP connection is for.
pub(crate) enum Job {
    /// Write `data[offset .. offset + len]` (pre-generated for the whole probe).
    Upload {
        /// The whole upload.
        data: Arc<Vec<u8>>,
        /// Where this stream's span starts.
        offset: u64,
        /// Its length.
        len: u64,
    },
    /// Read this stream's `len` bytes and report its receipt as stream `index`.
    Download {
        /// The stream's index.
        index: u16,
        /// Its length.
        len: u64,
        /// Where the stream's receipt goes.
        receipts: mpsc::UnboundedSender<(u16, StreamReceipt)>,
    },
}

/// Binds the TCP probe listener on the QUIC endpoint's IP and port number (TCP and UDP ports
/// are separate, so one number serves both). When the QUIC port was chosen by the OS
/// (`listen` port 0) and that number is taken for TCP, any free TCP port is used instead: the
/// ticket names the port either way.
pub(crate) fn bind_listener(
    quic_addr: SocketAddr,
    configured_port: u16,
) -> Result<TcpListener, TransportError> {
    let bind = |addr: SocketAddr| -> std::io::Result<TcpListener> {
        let socket = std::net::TcpListener::bind(addr)?;
        socket.set_nonblocking(true)?;
        TcpListener::from_std(socket)
    };
    match bind(quic_addr) {
        Ok(listener) => Ok(listener),
        Err(_) if configured_port == 0 => bind(SocketAddr::new(quic_addr.ip(), 0)).map_err(|e| {
            TransportError::Setup(format!(
                "cannot bind the bandwidth probe's TCP listener on {}: {e}",
                quic_addr.ip()
            ))
        }),
        Err(e) => Err(TransportError::Setup(format!(
            "cannot bind TCP {quic_addr} for the bandwidth probe: {e}; the miner needs TCP and \
             UDP on its port (is another process using TCP {}?)",
            quic_addr.port()
        ))),
    }
}

/// Accepts probe connections until the task is aborted. At most [`MAX_PROBE_CONNECTIONS`] are
/// held at once, and at most [`MAX_PROBE_CONNECTIONS_PER_IP`] from one address, so one host
/// holding idle connections cannot keep a validator from its probe.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_PROBE_CONNECTIONS));
    let per_ip = IpSlots::new(MAX_PROBE_CONNECTIONS_PER_IP);
    loop {
        let (socket, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!(error = %e, "probe listener failed to accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(held) = per_ip.take(remote.ip()) else {
            debug!(%remote, "probe connection refused: too many from this address");
            continue;
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            debug!(%remote, "probe connection refused: at the limit");
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            if let Err(e) = serve_tcp(socket, remote, &shared).await {
                debug!(%remote, error = %e, "probe connection ended");
            }
            drop((permit, held));
        });
    }
}

async fn serve_tcp(
    mut socket: TcpStream,
    remote: SocketAddr,
    shared: &Shared,
) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let mut token = [0u8; 32];
    match tokio::time::timeout(TOKEN_TIMEOUT, socket.read_exact(&mut token)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(std::io::Error::other("no token in time")),
    }
    let Some(job) = shared.probes.take(&token, remote.ip()) else {
        return Err(std::io::Error::other("unknown, expired or foreign token"));
    };
    let deadline = shared.settings.limits.message_timeout;
    let conduct = &shared.probe_conduct;
    let work = async {
        match job {
            Job::Upload { data, offset, len } => {
                let span = usize::try_from(offset)
                    .ok()
                    .zip(usize::try_from(len).ok())
                    .and_then(|(start, len)| data.get(start..start.checked_add(len)?))
                    .unwrap_or_default();
                conduct.send(&mut socket, span).await
            }
            Job::Download {
                index,
                len,
                receipts,
            } => {
                let receipt = conduct.receive(&mut socket, len).await?;
                let _ = receipts.send((index, receipt));
                Ok(())
            }
        }
    };
    tokio::time::timeout(deadline, work)
        .await
        .map_err(|_| std::io::Error::other("probe data did not finish in time"))?
}

/// Why a request is refused before anything is held, if it is.
fn check_request(request: &ProbeRequest, max_bytes: u64) -> Option<(ErrorCode, String)> {
    if request.bytes > max_bytes {
        return Some((
            ErrorCode::Oversized,
            format!(
                "probe of {} bytes is over this miner's limit of {max_bytes}",
                request.bytes
            ),
        ));
    }
    if request.streams == 0 || usize::from(request.streams) > MAX_PROBE_STREAMS {
        return Some((
            ErrorCode::Malformed,
            format!(
                "probe over {} streams: use 1 to {MAX_PROBE_STREAMS}",
                request.streams
            ),
        ));
    }
    None
}

/// Answers a `ProbeRequest` stream: refuse, or issue a ticket (and, downloading, send the
/// receipt once every stream is in). Every limit is checked before any data is generated.
pub(crate) async fn serve_probe(
    stream: &mut FramedStream,
    connection: &quinn::Connection,
    shared: &Arc<Shared>,
    peer: &Peer,
    request: ProbeRequest,
) -> Result<(), TransportError> {
    let limits = shared.settings.limits;
    let place = match admit(shared, peer, &request) {
        Ok(place) => place,
        Err((code, detail)) => return refuse(stream, shared, code, detail).await,
    };
    let mut tokens = Vec::with_capacity(usize::from(request.streams));
    for _ in 0..request.streams {
        tokens.push(transport::identity::os_random::<32>()?);
    }
    let (jobs, receipts) = match request.direction {
        ProbeDirection::MinerToVerifier => (upload_jobs(shared, &request).await?, None),
        ProbeDirection::VerifierToMiner => {
            let (tx, rx) = mpsc::unbounded_channel();
            let jobs = (0..request.streams)
                .map(|index| {
                    let (_, len) =
                        stream_span(request.bytes, request.streams, index).unwrap_or_default();
                    Job::Download {
                        index,
                        len,
                        receipts: tx.clone(),
                    }
                })
                .collect();
            (jobs, Some(rx))
        }
    };
    let lifetime = TICKET_LIFETIME.min(limits.message_timeout);
    // A lifetime too large to add to the clock (only possible for settings built in code;
    // miner.toml bounds it) expires in a day.
    let expires = {
        let now = Instant::now();
        now.checked_add(lifetime)
            .unwrap_or(now + Duration::from_secs(super::config::MAX_TIMEOUT_S))
    };
    let peer_ip: IpAddr = connection.remote_address().ip().to_canonical();
    place.file(tokens.iter().copied().zip(jobs), peer_ip, expires);
    shared.stats.probe_tickets.fetch_add(1, Ordering::Relaxed);
    let ticket = ProbeTicket {
        port: shared.probe_port,
        tokens: tokens.iter().copied().map(Nonce::new).collect(),
    };
    if let Err(e) = stream.send(&Message::ProbeTicket(ticket)).await {
        shared.probes.cancel(&tokens);
        return Err(e);
    }
    // Hold the ticket until it is used (a download's receipts are all in), the verifier ends the
    // stream, or the message timeout passes; then make sure its tokens are gone.
    let outcome = tokio::time::timeout(limits.message_timeout, async {
        match receipts {
            Some(rx) => tokio::select! {
                receipt = collect_receipts(rx, request.streams) => receipt,
                _ = stream.recv(limits.message_timeout) => None,
            },
            None => {
                let _ = stream.recv(limits.message_timeout).await;
                None
            }
        }
    })
    .await;
    shared.probes.cancel(&tokens);
    if let Ok(Some(receipt)) = outcome {
        stream.send(&Message::ProbeChunk(receipt)).await?;
    }
    stream.finish();
    Ok(())
}

/// Lets a request in, in the order the module docs give (size and streams, the validator's
/// rate, a place), or says why not. Nothing is generated yet.
fn admit<'a>(
    shared: &'a Shared,
    peer: &Peer,
    request: &ProbeRequest,
) -> Result<desk::Place<'a>, (ErrorCode, String)> {
    let limits = shared.settings.limits;
    if let Some(refusal) = check_request(request, limits.max_probe_bytes) {
        return Err(refusal);
    }
    let now = shared.started.elapsed();
    let allowed = shared
        .probe_rate
        .lock()
        .map(|mut r| r.try_take(&peer.hotkey, now))
        .unwrap_or(false);
    if !allowed {
        shared
            .stats
            .probes_rate_limited
            .fetch_add(1, Ordering::Relaxed);
        let detail = format!(
            "too many probes from this validator (at most {} a minute); retry later",
            limits.probes_per_minute.max(1)
        );
        return Err((ErrorCode::RateLimited, detail));
    }
    shared.probes.place(peer.hotkey).map_err(|why| match why {
        NoPlace::Full => (
            ErrorCode::RateLimited,
            format!("{MAX_PENDING_PROBES} probes are already running; retry later"),
        ),
        NoPlace::Yours => (
            ErrorCode::RateLimited,
            "another probe of this validator is still pending; retry once it is done".into(),
        ),
    })
}

/// Generates the upload (on a blocking thread) and cuts it into the streams' jobs.
async fn upload_jobs(
    shared: &Arc<Shared>,
    request: &ProbeRequest,
) -> Result<Vec<Job>, TransportError> {
    let size = usize::try_from(request.bytes)
        .map_err(|_| TransportError::Setup("probe too large for memory".into()))?;
    let seed = request.seed;
    let conduct = Arc::clone(&shared.probe_conduct);
    let data = tokio::task::spawn_blocking(move || conduct.upload_data(&seed, size))
        .await
        .map_err(|e| TransportError::Setup(format!("probe generation failed: {e}")))?;
    shared
        .stats
        .probe_bytes_generated
        .fetch_add(request.bytes, Ordering::Relaxed);
    let data = Arc::new(data);
    Ok((0..request.streams)
        .map(|index| {
            let (offset, len) =
                stream_span(request.bytes, request.streams, index).unwrap_or_default();
            Job::Upload {
                data: Arc::clone(&data),
                offset,
                len,
            }
        })
        .collect())
}

/// The receipt once every one of `streams` streams has reported (`None` if a stream's job
/// went away without reporting).
async fn collect_receipts(
    mut rx: mpsc::UnboundedReceiver<(u16, StreamReceipt)>,
    streams: u16,
) -> Option<ProbeChunk> {
    let mut got: Vec<Option<StreamReceipt>> = vec![None; usize::from(streams)];
    while got.iter().any(Option::is_none) {
        let (index, receipt) = rx.recv().await?;
        if let Some(slot) = got.get_mut(usize::from(index)) {
            *slot = Some(receipt);
        }
    }
    let receipts: Vec<StreamReceipt> = got.into_iter().flatten().collect();
    let hashes: Vec<[u8; 32]> = receipts.iter().map(|r| r.hash).collect();
    Some(ProbeChunk {
        offset: receipts
            .iter()
            .fold(0u64, |sum, r| sum.saturating_add(r.count)),
        data: receipt_data(&hashes),
    })
}

async fn refuse(
    stream: &mut FramedStream,
    shared: &Shared,
    code: ErrorCode,
    detail: String,
) -> Result<(), TransportError> {
    shared.stats.refusals.fetch_add(1, Ordering::Relaxed);
    debug!(%detail, "probe refused");
    stream
        .send(&Message::Error(ErrorMsg::new(code, detail)))
        .await?;
    stream.finish();
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(bytes: u64, streams: u16) -> ProbeRequest {
        ProbeRequest {
            direction: ProbeDirection::VerifierToMiner,
            bytes,
            streams,
            seed: Nonce::new([0; 32]),
        }
    }

    #[test]
    fn requests_over_the_limits_are_refused_before_anything_is_held() {
        assert_eq!(check_request(&request(100, 1), 100), None);
        assert_eq!(check_request(&request(100, 8), 100), None);
        let code = |r| check_request(&r, 100).map(|(code, _)| code);
        assert_eq!(code(request(101, 1)), Some(ErrorCode::Oversized));
        assert_eq!(code(request(1, 0)), Some(ErrorCode::Malformed));
        assert_eq!(code(request(1, 9)), Some(ErrorCode::Malformed));
        assert_eq!(code(request(1, u16::MAX)), Some(ErrorCode::Malformed));
    }

    #[tokio::test]
    async fn the_receipt_waits_for_every_stream_and_lists_them_in_order() {
        let receipt = |count, b| StreamReceipt {
            count,
            hash: [b; 32],
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send((2, receipt(30, 3))).unwrap();
        tx.send((0, receipt(10, 1))).unwrap();
        tx.send((9, receipt(99, 9))).unwrap();
        tx.send((1, receipt(20, 2))).unwrap();
        let chunk = collect_receipts(rx, 3).await.unwrap();
        assert_eq!(chunk.offset, 60);
        assert_eq!(chunk.data, receipt_data(&[[1; 32], [2; 32], [3; 32]]));
        // A stream that never reports: no receipt.
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send((0, receipt(10, 1))).unwrap();
        drop(tx);
        assert_eq!(collect_receipts(rx, 2).await, None);
    }
}
