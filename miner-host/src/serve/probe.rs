//! The bandwidth probe, miner side (DESIGN.md §Protocol step 7; wire format in
//! [`protocol::ProbeTicket`]'s module).
//!
//! A validator asks on a QUIC stream; the miner answers with a [`ProbeTicket`]: the port of its
//! TCP probe listener and a one-time token. The bulk bytes then run over TCP, because a single
//! QUIC connection moves about a tenth of what the kernel's TCP does and the probe would
//! measure our CPU instead of the network.
//!
//! - `miner-to-verifier`: the data (`probe_data(seed)`) is generated before the ticket is
//!   issued, so the timed part is the network alone; once the token arrives it is written out
//!   whole and the connection closed.
//! - `verifier-to-miner`: after the token the miner reads exactly `bytes` bytes, hashing every
//!   one of them with BLAKE3, and sends the receipt ([`ProbeChunk`]: `offset` the count of
//!   bytes received, `data` the BLAKE3 hash of all of them, in order) on the QUIC stream.
//!
//! Hostile input, checked in this order before anything is generated or allocated: a probe
//! over `max_probe_bytes` is refused (`oversized`); each validator hotkey may ask for
//! `probes_per_minute` probes a minute (`rate-limited` beyond); at most
//! [`MAX_PENDING_PROBES`] probes are outstanding, their data being generated or their ticket
//! waiting (`rate-limited` beyond). Only then is an upload's data generated. A ticket is good for
//! one connection from the validator's own IP address within the message timeout; a TCP
//! connection that does not present a valid token within [`TOKEN_TIMEOUT`] is dropped; at most
//! [`MAX_PROBE_CONNECTIONS`] such connections are held at once, and
//! [`MAX_PROBE_CONNECTIONS_PER_IP`] from one address. A ticket is withdrawn as soon as the
//! verifier ends its stream, so an abandoned probe frees its place at once.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::{
    ErrorCode, ErrorMsg, Message, Nonce, ProbeChunk, ProbeDirection, ProbeReceipt, ProbeRequest,
    ProbeTicket, probe_data,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tracing::{debug, warn};
use transport::{FramedStream, Peer, TransportError};

use super::ip_slots::IpSlots;
use super::server::Shared;

/// Probes outstanding at once, over all validators: data being generated or a ticket waiting
/// (each may hold a generated upload of up to `max_probe_bytes`).
pub const MAX_PENDING_PROBES: usize = 2;

/// TCP connections to the probe port held at once (token not yet read, or data flowing).
pub const MAX_PROBE_CONNECTIONS: usize = 16;

/// TCP connections to the probe port held at once from one IP address.
pub const MAX_PROBE_CONNECTIONS_PER_IP: usize = 4;

/// Time a TCP connection has to present its token.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Size of the buffer the download is read through.
const READ_BUFFER: usize = 1 << 20;

/// What a ticket's TCP connection is for.
enum Job {
    /// Write this (pre-generated) data.
    Upload(Arc<Vec<u8>>),
    /// Read this many bytes and report their count and hash.
    Download {
        bytes: u64,
        receipt: oneshot::Sender<ProbeChunk>,
    },
}

struct Pending {
    job: Job,
    peer_ip: IpAddr,
    expires: Instant,
}

/// The outstanding probes of one server.
#[derive(Default)]
pub(crate) struct ProbeDesk {
    inner: Mutex<DeskInner>,
}

#[derive(Default)]
struct DeskInner {
    /// Tickets issued, by token.
    pending: HashMap<[u8; 32], Pending>,
    /// Places held by probes whose job is still being prepared (upload data generated).
    preparing: usize,
}

/// A place among the [`MAX_PENDING_PROBES`], held from before the probe's data is generated
/// until its ticket is filed (or given back when dropped unfiled).
pub(crate) struct Place<'a> {
    desk: &'a ProbeDesk,
    held: bool,
}

impl Place<'_> {
    /// Files the ticket in this place.
    fn file(mut self, token: [u8; 32], pending: Pending) {
        if let Ok(mut inner) = self.desk.inner.lock() {
            inner.preparing = inner.preparing.saturating_sub(1);
            inner.pending.insert(token, pending);
        }
        self.held = false;
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.held
            && let Ok(mut inner) = self.desk.inner.lock()
        {
            inner.preparing = inner.preparing.saturating_sub(1);
        }
    }
}

impl ProbeDesk {
    /// A place for a new probe, unless [`MAX_PENDING_PROBES`] are outstanding (expired tickets
    /// are dropped first). Taken before anything is generated.
    fn place(&self) -> Option<Place<'_>> {
        let mut inner = self.inner.lock().ok()?;
        let now = Instant::now();
        inner.pending.retain(|_, p| p.expires > now);
        if inner.pending.len().saturating_add(inner.preparing) >= MAX_PENDING_PROBES {
            return None;
        }
        inner.preparing += 1;
        Some(Place {
            desk: self,
            held: true,
        })
    }

    /// Takes the ticket of `token` if it is live and was issued to `peer_ip`.
    fn take(&self, token: &[u8; 32], peer_ip: IpAddr) -> Option<Job> {
        let mut inner = self.inner.lock().ok()?;
        let live = inner
            .pending
            .get(token)
            .is_some_and(|p| p.peer_ip == peer_ip.to_canonical() && p.expires > Instant::now());
        if !live {
            return None;
        }
        inner.pending.remove(token).map(|p| p.job)
    }

    fn cancel(&self, token: &[u8; 32]) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.pending.remove(token);
        }
    }
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
    let work = async {
        match job {
            Job::Upload(data) => {
                socket.write_all(&data).await?;
                socket.shutdown().await
            }
            Job::Download { bytes, receipt } => {
                let mut hasher = ProbeReceipt::new();
                let mut buffer = vec![0u8; READ_BUFFER];
                while hasher.fed() < bytes {
                    let want = usize::try_from((bytes - hasher.fed()).min(READ_BUFFER as u64))
                        .unwrap_or(READ_BUFFER);
                    let Some(space) = buffer.get_mut(..want) else {
                        break;
                    };
                    let n = socket.read(space).await?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(space.get(..n).unwrap_or_default());
                }
                let _ = receipt.send(ProbeChunk {
                    offset: hasher.fed(),
                    data: hasher.finish().to_vec(),
                });
                Ok(())
            }
        }
    };
    tokio::time::timeout(deadline, work)
        .await
        .map_err(|_| std::io::Error::other("probe data did not finish in time"))?
}

/// Answers a `ProbeRequest` stream: refuse, or issue a ticket (and, downloading, send the
/// receipt once the data is in). Every limit is checked before any data is generated.
pub(crate) async fn serve_probe(
    stream: &mut FramedStream,
    connection: &quinn::Connection,
    shared: &Arc<Shared>,
    peer: &Peer,
    request: ProbeRequest,
) -> Result<(), TransportError> {
    let limits = shared.settings.limits;
    if request.bytes > limits.max_probe_bytes {
        let detail = format!(
            "probe of {} bytes is over this miner's limit of {}",
            request.bytes, limits.max_probe_bytes
        );
        return refuse(stream, shared, ErrorCode::Oversized, detail).await;
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
        return refuse(stream, shared, ErrorCode::RateLimited, detail).await;
    }
    let Some(place) = shared.probes.place() else {
        let detail = format!("{MAX_PENDING_PROBES} probes are already running; retry later");
        return refuse(stream, shared, ErrorCode::RateLimited, detail).await;
    };
    let token = transport::identity::os_random::<32>()?;
    let (job, receipt) = match request.direction {
        ProbeDirection::MinerToVerifier => {
            let size = usize::try_from(request.bytes)
                .map_err(|_| TransportError::Setup("probe too large for memory".into()))?;
            let seed = request.seed;
            let data = tokio::task::spawn_blocking(move || generate(&seed, size))
                .await
                .map_err(|e| TransportError::Setup(format!("probe generation failed: {e}")))?;
            shared
                .stats
                .probe_bytes_generated
                .fetch_add(request.bytes, Ordering::Relaxed);
            (Job::Upload(Arc::new(data)), None)
        }
        ProbeDirection::VerifierToMiner => {
            let (tx, rx) = oneshot::channel();
            (
                Job::Download {
                    bytes: request.bytes,
                    receipt: tx,
                },
                Some(rx),
            )
        }
    };
    let pending = Pending {
        job,
        peer_ip: connection.remote_address().ip().to_canonical(),
        // A timeout too large to add to the clock (only possible for settings built in code;
        // miner.toml bounds it) expires in a day.
        expires: {
            let now = Instant::now();
            now.checked_add(limits.message_timeout)
                .unwrap_or(now + Duration::from_secs(super::config::MAX_TIMEOUT_S))
        },
    };
    place.file(token, pending);
    shared.stats.probe_tickets.fetch_add(1, Ordering::Relaxed);
    let ticket = ProbeTicket {
        port: shared.probe_port,
        token: Nonce::new(token),
    };
    if let Err(e) = stream.send(&Message::ProbeTicket(ticket)).await {
        shared.probes.cancel(&token);
        return Err(e);
    }
    // Hold the ticket until it is used (a download's receipt arrives), the verifier ends the
    // stream, or the message timeout passes; then make sure it is gone.
    let outcome = tokio::time::timeout(limits.message_timeout, async {
        match receipt {
            Some(rx) => tokio::select! {
                receipt = rx => receipt.ok(),
                _ = stream.recv(limits.message_timeout) => None,
            },
            None => {
                let _ = stream.recv(limits.message_timeout).await;
                None
            }
        }
    })
    .await;
    shared.probes.cancel(&token);
    if let Ok(Some(receipt)) = outcome {
        stream.send(&Message::ProbeChunk(receipt)).await?;
    }
    stream.finish();
    Ok(())
}

fn generate(seed: &Nonce, size: usize) -> Vec<u8> {
    let mut data = vec![0u8; size];
    probe_data(seed, 0, &mut data);
    data
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
