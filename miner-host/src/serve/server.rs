//! The QUIC server: accepts connections up to a limit, runs the handshake (only admitted
//! validator hotkeys get further), answers pings on the control stream, and hands every other
//! stream to [`super::challenge`] or [`super::probe`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use challenge_runtime::{Backend, Sandbox, SandboxLimits};
use protocol::limits::MAX_GPUS;
use protocol::{
    ErrorCode, ErrorMsg, GatePolicy, GpuInfo, HostFacts, Hotkey, Inventory, Message, MessageKind,
    Negotiated, Pong, PrepareGate, Role,
};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};
use transport::{AllowList, ConnectionLimits, FramedStream, Identity, Peer, TransportError};

use super::adversary::{Adversary, ConnectionMemory, ServerMemory};
use super::ip_slots::IpSlots;
use super::rate::RateLimiter;
use super::{challenge, probe};

/// Bidirectional streams a validator may have open at once on one connection: a challenge on
/// each of [`MAX_GPUS`] devices, the control stream and a bandwidth probe.
pub const MINER_STREAMS: u32 = MAX_GPUS as u32 + 2; // 66: MAX_GPUS is 64, far below u32::MAX

/// The server's limits. Defaults are what `miner.toml` documents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServeLimits {
    /// Connections held at once; further attempts are refused at once.
    pub max_connections: usize,
    /// Connections held at once from one IP address (a validator needs a few), so one host
    /// cannot take every place.
    pub max_connections_per_ip: usize,
    /// Time a new connection has to complete the TLS and application handshakes.
    pub handshake_timeout: Duration,
    /// Longest wait for the next message of a challenge the validator started (its first
    /// message on a stream, `Open` after the commitment).
    pub message_timeout: Duration,
    /// Longest a device stays reserved for a validator between `Ready` and its `Go`
    /// (docs/design.md §No score without proof, rule 5): without a `Go` by then the device is
    /// released and the stream refused.
    pub reserve: Duration,
    /// Challenges a minute per validator hotkey.
    pub challenges_per_minute: u32,
    /// Burst of challenges a validator may start at once.
    pub challenge_burst: u32,
    /// Bandwidth probes a minute per validator hotkey (also the burst). A validator probes
    /// twice a round (upload, download).
    pub probes_per_minute: u32,
    /// Largest bandwidth probe, in bytes, either way.
    pub max_probe_bytes: u64,
    /// QUIC connection limits. The miner's default allows [`MAX_GPUS`] + 2 bidirectional
    /// streams at once: one challenge per device of the largest inventory, the control stream
    /// and a probe.
    pub connection: ConnectionLimits,
    /// `Prepare` expiry and replay policy.
    pub gate: GatePolicy,
}

impl Default for ServeLimits {
    /// 256 connections (16 per IP address), 10 s handshake, 60 s per message, devices
    /// reserved for 5 s without `Go`, 120 challenges a minute with bursts of 32 and 4 probes a
    /// minute per validator, 256 MiB probes, [`MAX_GPUS`] + 2 streams per connection.
    fn default() -> Self {
        Self {
            max_connections: 256,
            max_connections_per_ip: 16,
            handshake_timeout: Duration::from_secs(10),
            message_timeout: Duration::from_secs(60),
            reserve: Duration::from_secs(5),
            challenges_per_minute: 120,
            challenge_burst: 32,
            probes_per_minute: 4,
            max_probe_bytes: 256 << 20,
            connection: ConnectionLimits {
                max_bidi_streams: MINER_STREAMS,
                ..ConnectionLimits::default()
            },
            gate: GatePolicy::default(),
        }
    }
}

/// Everything a server needs.
#[derive(Clone)]
pub struct ServerSettings {
    /// UDP address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Session key and hotkey certificate.
    pub identity: Identity,
    /// The devices.
    pub backend: Arc<dyn Backend>,
    /// Which validators are served (shared: the operator or the metagraph may update it).
    pub allow: Arc<RwLock<AllowList>>,
    /// Limits.
    pub limits: ServeLimits,
    /// Cheat in this way (tests and the local network only).
    pub adversary: Option<Adversary>,
}

/// Counters a caller (and the load tests) can read.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections accepted (handshake started).
    pub accepted: AtomicU64,
    /// Connection attempts refused because `max_connections` were held, or
    /// `max_connections_per_ip` from the same address.
    pub refused: AtomicU64,
    /// Most connections open at once so far.
    pub peak_connections: AtomicU64,
    /// Handshakes that failed (bad certificate, not allowed, timeout, garbage).
    pub handshake_failures: AtomicU64,
    /// Challenges answered with a commitment.
    pub commitments: AtomicU64,
    /// Challenges and probes refused with a typed error.
    pub refusals: AtomicU64,
    /// Connections open now.
    pub open_connections: AtomicU64,
    /// Reservations released because no `Go` came within `reserve`.
    pub reservations_expired: AtomicU64,
    /// Bandwidth-probe tickets issued.
    pub probe_tickets: AtomicU64,
    /// Bytes of probe data generated for uploads (only after every limit let the probe in).
    pub probe_bytes_generated: AtomicU64,
    /// Probes refused by the per-validator probe rate limit.
    pub probes_rate_limited: AtomicU64,
    /// Connections the `go-dark` adversary refused or closed.
    pub gone_dark: AtomicU64,
}

/// State shared by every connection of one server.
pub(crate) struct Shared {
    pub(crate) settings: ServerSettings,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) sandbox: Sandbox,
    pub(crate) gate: Mutex<PrepareGate>,
    pub(crate) rate: Mutex<RateLimiter>,
    /// Probes a minute per validator.
    pub(crate) probe_rate: Mutex<RateLimiter>,
    /// One flag per device index any connection may be offered (the real devices, or the
    /// `rented-inflate` adversary's claimed ones if more).
    pub(crate) reserved: Vec<AtomicBool>,
    /// The inventory (honest, or as the adversary claims it).
    pub(crate) inventory: Inventory,
    /// Devices of `backend`.
    pub(crate) devices: usize,
    /// `rented-inflate`: what connections after the first are offered.
    pub(crate) inflated: Option<Offer>,
    /// `rented-inflate`: a connection has taken the honest first turn.
    pub(crate) first_taken: AtomicBool,
    /// Handshakes completed so far (`go-dark` counts them).
    pub(crate) handshakes: AtomicU64,
    pub(crate) started: Instant,
    pub(crate) stats: Arc<ServerStats>,
    /// What an adversary remembers across challenges (nothing for an honest server).
    pub(crate) memory: Arc<ServerMemory>,
    /// When each (validator, device) reservation last lapsed without a `Go`: that validator
    /// may not reserve that device again for `reserve`, so a validator that reserves and never
    /// starts cannot hold a device back to back (docs/design.md §No score without proof, rule 9).
    pub(crate) lapsed: Mutex<BTreeMap<(Hotkey, u32), Instant>>,
    /// Outstanding bandwidth-probe tickets.
    pub(crate) probes: probe::ProbeDesk,
    /// TCP port of the probe listener.
    pub(crate) probe_port: u16,
    /// How probe bytes are moved: honestly, or as a probe adversary does.
    pub(crate) probe_conduct: Arc<dyn probe::conduct::ProbeConduct>,
}

impl Shared {
    pub(crate) fn adversary(&self) -> Option<&Adversary> {
        self.settings.adversary.as_ref()
    }

    /// `go-dark`: whether the miner has served all the connections it will.
    fn dark(&self) -> bool {
        self.adversary()
            .is_some_and(|a| a.refuses_connection(self.handshakes.load(Ordering::Acquire)))
    }
}

/// What one connection is offered: the inventory it is sent and the backend its challenges
/// run on (the same for every connection, except for the `rented-inflate` adversary).
#[derive(Clone)]
pub(crate) struct Offer {
    pub(crate) inventory: Inventory,
    pub(crate) backend: Arc<dyn Backend>,
    /// Devices of `backend`: a `Prepare` for an index at or above it names no device.
    pub(crate) devices: usize,
}

/// One connection's state.
pub(crate) struct ConnectionState {
    pub(crate) offer: Offer,
    /// What an adversary remembers across this connection's challenges.
    pub(crate) memory: Arc<ConnectionMemory>,
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The transport failed to set up.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The sandbox failed to start.
    #[error("cannot start the challenge sandbox: {0}")]
    Sandbox(#[from] challenge_runtime::SandboxError),
    /// The backend has no device.
    #[error("the backend offers no device; nothing to serve")]
    NoDevices,
}

/// A running server.
pub struct ServerHandle {
    /// The (UDP) address it listens on.
    pub addr: SocketAddr,
    /// The TCP port bandwidth-probe data runs over (the same number as `addr`'s unless that
    /// was chosen by the OS and taken for TCP).
    pub probe_port: u16,
    /// Its counters.
    pub stats: Arc<ServerStats>,
    endpoint: quinn::Endpoint,
    task: tokio::task::JoinHandle<()>,
    probe_task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// Stops accepting, closes every connection and waits for the accept loop to end.
    pub async fn shutdown(self) {
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"miner shutting down");
        self.probe_task.abort();
        let _ = self.task.await;
    }

    /// Waits until the server stops (it runs until [`shutdown`](Self::shutdown) or a fatal
    /// endpoint error).
    pub async fn wait(self) {
        let _ = self.task.await;
        self.probe_task.abort();
    }
}

/// What this machine says about itself: the backend's devices (as the inventory names them,
/// or as the adversary claims) and host facts read from the OS. Claims only.
///
/// This is what every connection is sent, except the `rented-inflate` adversary's connections
/// after its first: they get `inventory_of` its [`Adversary::inflated_backend`].
pub fn inventory_of(backend: &dyn Backend, adversary: Option<&Adversary>) -> Inventory {
    inventory_with(backend, adversary, host_facts())
}

fn inventory_with(
    backend: &dyn Backend,
    adversary: Option<&Adversary>,
    host: HostFacts,
) -> Inventory {
    let gpus = backend
        .devices()
        .into_iter()
        .map(|d| GpuInfo {
            index: d.index,
            name: d.name,
            uuid: d.uuid.unwrap_or_else(|| format!("cpu-{}", d.index)),
            memory_bytes: d.memory_bytes,
            pci_bus_id: d.pci_bus_id.unwrap_or_default(),
            pcie_gen: d.pcie_gen,
            pcie_width: d.pcie_width,
        })
        .collect();
    Inventory {
        gpus: match adversary {
            Some(adversary) => adversary.claims(gpus),
            None => gpus,
        },
        host,
    }
}

fn host_facts() -> HostFacts {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(
            || std::env::consts::ARCH.to_string(),
            |(_, v)| v.trim().to_string(),
        );
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb.saturating_mul(1024));
    HostFacts {
        cpu_model: cpu_model.chars().take(128).collect(),
        cpu_cores: std::thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
        memory_bytes,
        os: std::env::consts::OS.to_string(),
    }
}

/// Binds the endpoint and starts serving in the background (on the current tokio runtime).
pub fn start(settings: ServerSettings) -> Result<ServerHandle, ServeError> {
    let backend = match &settings.adversary {
        Some(adversary) => adversary.wrap_backend(Arc::clone(&settings.backend)),
        None => Arc::clone(&settings.backend),
    };
    let devices = backend.devices();
    if devices.is_empty() {
        return Err(ServeError::NoDevices);
    }
    let inflated_backend = settings
        .adversary
        .as_ref()
        .and_then(|a| a.inflated_backend(&backend));
    let inflated_devices = inflated_backend.as_ref().map_or(0, |b| b.devices().len());
    let offered = devices.len().max(inflated_devices);
    let largest = devices.iter().map(|d| d.memory_bytes).max().unwrap_or(0);
    let sandbox = Sandbox::new(SandboxLimits {
        device_budget_bytes: largest.max(1),
        max_instances: u32::try_from(offered).unwrap_or(u32::MAX).saturating_add(4),
        ..SandboxLimits::default()
    })?;
    // The built-in modules stay compiled for the life of the server; modules validators send
    // share the sandbox's bounded cache (least recently used evicted; a validator whose module
    // was evicted is answered `unknown-module` and sends the bytes again).
    for builtin in builtin_modules::ALL {
        sandbox.load_pinned(builtin.bytes)?;
    }
    let endpoint = transport::server_endpoint(
        settings.listen,
        settings.identity.signing_key(),
        &settings.limits.connection,
    )?;
    let addr = endpoint
        .local_addr()
        .map_err(|e| TransportError::Setup(format!("cannot read the bound address: {e}")))?;
    let probe_listener = probe::bind_listener(addr, settings.listen.port())?;
    let probe_port = probe_listener
        .local_addr()
        .map_err(|e| TransportError::Setup(format!("cannot read the probe port: {e}")))?
        .port();
    let stats = Arc::new(ServerStats::default());
    let host = host_facts();
    let inventory = inventory_with(backend.as_ref(), settings.adversary.as_ref(), host.clone());
    let inflated = inflated_backend.map(|backend| Offer {
        inventory: inventory_with(backend.as_ref(), None, host),
        devices: backend.devices().len(),
        backend,
    });
    let versions = Negotiated {
        protocol_version: protocol::PROTOCOL_VERSION,
        abi_version: protocol::ABI_VERSION,
    };
    let shared = Arc::new(Shared {
        gate: Mutex::new(PrepareGate::new(
            settings.identity.hotkey(),
            versions,
            settings.limits.gate,
        )),
        rate: Mutex::new(RateLimiter::new(
            settings.limits.challenges_per_minute,
            settings.limits.challenge_burst,
        )),
        probe_rate: Mutex::new(RateLimiter::new(
            settings.limits.probes_per_minute,
            settings.limits.probes_per_minute,
        )),
        reserved: (0..offered).map(|_| AtomicBool::new(false)).collect(),
        inventory,
        devices: devices.len(),
        inflated,
        first_taken: AtomicBool::new(false),
        handshakes: AtomicU64::new(0),
        sandbox,
        backend,
        started: Instant::now(),
        stats: Arc::clone(&stats),
        memory: Arc::default(),
        lapsed: Mutex::new(BTreeMap::new()),
        probes: probe::ProbeDesk::default(),
        probe_port,
        probe_conduct: settings.adversary.as_ref().map_or_else(
            || Arc::new(probe::conduct::Honest) as Arc<dyn probe::conduct::ProbeConduct>,
            Adversary::probe_conduct,
        ),
        settings,
    });
    info!(
        %addr,
        probe_tcp_port = probe_port,
        hotkey = %transport::identity::ss58(&shared.settings.identity.hotkey()),
        devices = devices.len(),
        "miner-host serving"
    );
    let probe_task = tokio::spawn(probe::accept_loop(probe_listener, Arc::clone(&shared)));
    let accept_endpoint = endpoint.clone();
    let task = tokio::spawn(accept_loop(accept_endpoint, shared));
    Ok(ServerHandle {
        addr,
        probe_port,
        probe_task,
        stats,
        endpoint,
        task,
    })
}

async fn accept_loop(endpoint: quinn::Endpoint, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(shared.settings.limits.max_connections));
    let per_ip = IpSlots::new(shared.settings.limits.max_connections_per_ip);
    while let Some(incoming) = endpoint.accept().await {
        if shared.dark() {
            shared.stats.gone_dark.fetch_add(1, Ordering::Relaxed);
            debug!(peer = %incoming.remote_address(), "connection refused: gone dark");
            incoming.refuse();
            continue;
        }
        let Some(held) = per_ip.take(incoming.remote_address().ip()) else {
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            debug!(peer = %incoming.remote_address(), "connection refused: at max_connections_per_ip");
            incoming.refuse();
            continue;
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            debug!(peer = %incoming.remote_address(), "connection refused: at max_connections");
            incoming.refuse();
            continue;
        };
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let open = shared
                .stats
                .open_connections
                .fetch_add(1, Ordering::Relaxed)
                + 1;
            shared
                .stats
                .peak_connections
                .fetch_max(open, Ordering::Relaxed);
            let remote = incoming.remote_address();
            if let Err(e) = serve_connection(incoming, &shared).await {
                debug!(%remote, error = %e, "connection ended");
            }
            shared
                .stats
                .open_connections
                .fetch_sub(1, Ordering::Relaxed);
            drop((permit, held));
        });
    }
}

async fn serve_connection(
    incoming: quinn::Incoming,
    shared: &Arc<Shared>,
) -> Result<(), TransportError> {
    let limits = shared.settings.limits;
    let remote = incoming.remote_address();
    let deadline = limits.handshake_timeout;
    let started = std::time::Instant::now();
    let connection = match tokio::time::timeout(deadline, incoming).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => {
            return Err(handshake_failed(
                shared,
                remote,
                TransportError::Closed(e.to_string()),
            ));
        }
        Err(_) => {
            return Err(handshake_failed(
                shared,
                remote,
                TransportError::Timeout(deadline),
            ));
        }
    };
    let (offer, took_first) = choose_offer(shared);
    let handshake = async {
        let (send, recv) = connection
            .accept_bi()
            .await
            .map_err(|e| TransportError::Closed(e.to_string()))?;
        let mut control = FramedStream::new(send, recv);
        let allow = Arc::clone(&shared.settings.allow);
        let peer = transport::server_handshake(
            &connection,
            &mut control,
            &shared.settings.identity,
            |h| allow.read().map(|a| a.admits(h)).unwrap_or(false),
            &offer.inventory,
            deadline,
        )
        .await?;
        Ok::<_, TransportError>((control, peer))
    };
    let left = deadline.saturating_sub(started.elapsed());
    let done = tokio::time::timeout(left, handshake).await;
    if took_first && !matches!(done, Ok(Ok(_))) {
        // `rented-inflate`: the honest turn goes to the next connection that completes.
        shared.first_taken.store(false, Ordering::Release);
    }
    let (control, peer) = match done {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            // Give the typed refusal (already written) a moment to reach the peer, which closes
            // the connection once it has read it.
            let _ = tokio::time::timeout(Duration::from_secs(1), connection.closed()).await;
            return Err(handshake_failed(shared, remote, e));
        }
        Err(_) => {
            return Err(handshake_failed(
                shared,
                remote,
                TransportError::Timeout(deadline),
            ));
        }
    };
    let ordinal = shared.handshakes.fetch_add(1, Ordering::AcqRel);
    if shared
        .adversary()
        .is_some_and(|a| a.refuses_connection(ordinal))
    {
        // Completed after the last connection it serves: closed at once, like the rest.
        shared.stats.gone_dark.fetch_add(1, Ordering::Relaxed);
        connection.close(quinn::VarInt::from_u32(0), b"gone dark");
        return Ok(());
    }
    info!(%remote, validator = %transport::identity::ss58(&peer.hotkey), "validator connected");
    if shared.adversary().is_some_and(Adversary::is_silent) {
        // Hold the connection and say nothing until the peer gives up.
        let _ = connection.closed().await;
        return Ok(());
    }
    let peer = Arc::new(peer);
    let state = Arc::new(ConnectionState {
        offer,
        memory: Arc::default(),
    });
    let control_task = tokio::spawn(serve_control(control));
    loop {
        let (send, recv) = match connection.accept_bi().await {
            Ok(s) => s,
            Err(e) => {
                control_task.abort();
                return Err(TransportError::Closed(e.to_string()));
            }
        };
        let shared = Arc::clone(shared);
        let peer = Arc::clone(&peer);
        let state = Arc::clone(&state);
        let connection = connection.clone();
        tokio::spawn(async move {
            let mut stream = FramedStream::new(send, recv).with_peer_role(Role::Validator);
            let served = serve_stream(&mut stream, &connection, &shared, &peer, &state).await;
            if let Err(e) = served {
                debug!(error = %e, "stream ended");
            }
        });
    }
}

/// The offer a new connection gets, and whether it took `rented-inflate`'s honest first turn
/// (given back if its handshake fails).
fn choose_offer(shared: &Shared) -> (Offer, bool) {
    let honest = || Offer {
        inventory: shared.inventory.clone(),
        backend: Arc::clone(&shared.backend),
        devices: shared.devices,
    };
    match &shared.inflated {
        None => (honest(), false),
        Some(inflated) => {
            let first = shared
                .first_taken
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if first {
                (honest(), true)
            } else {
                (inflated.clone(), false)
            }
        }
    }
}

fn handshake_failed(shared: &Shared, remote: SocketAddr, error: TransportError) -> TransportError {
    shared
        .stats
        .handshake_failures
        .fetch_add(1, Ordering::Relaxed);
    warn!(%remote, error = %error, "handshake failed");
    error
}

async fn serve_control(mut control: FramedStream) {
    loop {
        match control.recv(Duration::from_secs(3600)).await {
            Ok(Message::Ping(ping)) => {
                if control
                    .send(&Message::Pong(Pong { seq: ping.seq }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(other) => {
                let detail = format!("{} on the control stream", other.kind().name());
                let _ = control
                    .send(&Message::Error(ErrorMsg::new(
                        ErrorCode::UnexpectedMessage,
                        detail,
                    )))
                    .await;
            }
            Err(_) => return,
        }
    }
}

/// Dispatches a stream by its first message.
async fn serve_stream(
    stream: &mut FramedStream,
    connection: &quinn::Connection,
    shared: &Arc<Shared>,
    peer: &Arc<Peer>,
    state: &ConnectionState,
) -> Result<(), TransportError> {
    let first = match stream.recv(shared.settings.limits.message_timeout).await {
        Ok(m) => m,
        Err(TransportError::Protocol(e)) => {
            let _ = stream.send(&Message::Error(ErrorMsg::from(&e))).await;
            return Err(TransportError::Protocol(e));
        }
        Err(e) => return Err(e),
    };
    match first {
        Message::Prepare(signed) => {
            challenge::serve_challenge(stream, connection, shared, peer, state, signed).await
        }
        Message::ProbeRequest(request) => {
            probe::serve_probe(stream, connection, shared, peer, request).await
        }
        other => {
            let detail = format!(
                "a stream must start with Prepare or ProbeRequest, not {}",
                other.kind().name()
            );
            let _ = stream
                .send(&Message::Error(ErrorMsg::new(
                    ErrorCode::UnexpectedMessage,
                    detail,
                )))
                .await;
            Err(TransportError::Unexpected {
                expected: MessageKind::Prepare.name(),
                got: other.kind().name(),
            })
        }
    }
}
