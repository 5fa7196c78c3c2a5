//! The miner's server over real QUIC on loopback, driven with `transport` and `protocol`
//! directly (no verifier): short reservations (a `Prepare` without `Go` does not hold the
//! device past `reserve`), the per-validator probe rate limit and the pending-probe limit
//! checked before any probe data is generated (one pending probe per validator), the download
//! receipt over every byte of every parallel stream, enough
//! streams for `MAX_GPUS` devices at once, and the adversaries whose behaviour shows at this
//! level (inventory shapes, busy-forever, go-dark, stall-last-module, rented-inflate).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use miner_host::params::encode_params;
use miner_host::serve::{
    Adversary, MAX_PENDING_PER_VALIDATOR, MAX_PENDING_PROBES, MINER_STREAMS, ServeLimits,
    ServerHandle, ServerSettings, UNKNOWN_NAME,
};
use protocol::{
    ChallengeId, ErrorCode, Go, Inventory, Message, MessageKind, ModuleHash, Nonce, Prepare,
    ProbeDirection, ProbeRequest, ProbeTicket, Role, Signed,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use transport::identity::{hotkey_of, load_hotkey, unix_ms_now};
use transport::{AllowList, ConnectionLimits, FramedStream, Identity, KeySource, Peer};

const WAIT: Duration = Duration::from_secs(10);
const MATMUL: &str = r#"{"m":32,"n":32,"k":64,"count":1}"#;
const MEMBW: &str = r#"{"bytes":65536,"group":1024,"rounds":1,"passes":2}"#;

fn keypair(uri: &str) -> chain_client::Keypair {
    load_hotkey(&KeySource::Uri(uri.into())).unwrap()
}

/// Starts a miner (hotkey //Bob) with `devices` one-thread CPU devices serving //Alice.
fn start(devices: u32, limits: ServeLimits, adversary: Option<Adversary>) -> ServerHandle {
    let backend = CpuBackend::new(CpuConfig {
        devices,
        threads_per_device: 1,
        memory_bytes: 64 << 20,
    })
    .unwrap();
    let key = transport::identity::generate_key().unwrap();
    miner_host::serve::start(ServerSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        identity: Identity::issue(key, &keypair("//Bob"), Role::Miner, WAIT * 360),
        backend: Arc::new(backend),
        allow: Arc::new(RwLock::new(AllowList::of([
            hotkey_of(&keypair("//Alice")),
            hotkey_of(&keypair("//Bob")),
            hotkey_of(&keypair("//Charlie")),
        ]))),
        limits,
        adversary,
    })
    .unwrap()
}

/// A handshaken validator (//Alice) connection.
struct Session {
    connection: quinn::Connection,
    peer: Peer,
    inventory: Inventory,
    identity: Identity,
    _control: FramedStream,
    _endpoint: quinn::Endpoint,
}

async fn connect(addr: SocketAddr) -> Result<Session, transport::TransportError> {
    connect_as(addr, "//Alice").await
}

/// A handshaken connection of the validator with hotkey `uri` (//Alice, //Bob or //Charlie).
async fn connect_as(addr: SocketAddr, uri: &str) -> Result<Session, transport::TransportError> {
    let identity = Identity::issue(
        transport::identity::generate_key().unwrap(),
        &keypair(uri),
        Role::Validator,
        WAIT * 360,
    );
    let endpoint =
        transport::client_endpoint(addr, identity.signing_key(), &ConnectionLimits::default())?;
    let connection = transport::connect(&endpoint, addr, WAIT).await?;
    let mut control = FramedStream::open(&connection).await?;
    let (peer, inventory) =
        transport::client_handshake(&connection, &mut control, &identity, None, WAIT).await?;
    Ok(Session {
        connection,
        peer,
        inventory,
        identity,
        _control: control,
        _endpoint: endpoint,
    })
}

fn challenge_id() -> ChallengeId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&NEXT.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    id[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    ChallengeId::new(id)
}

/// A signed `Prepare` for a built-in module (`matmul-i8` or `membw`, tiny params) on `device`.
fn prepare(session: &Session, module: &str, device: u32) -> Signed<Prepare> {
    let (builtin, json) = match module {
        "matmul-i8" => (builtin_modules::MATMUL_I8, MATMUL),
        _ => (builtin_modules::MEMBW, MEMBW),
    };
    let prepare = Prepare {
        protocol_version: session.peer.versions.protocol_version,
        abi_version: session.peer.versions.abi_version,
        challenge_id: challenge_id(),
        validator: session.identity.hotkey(),
        miner: session.peer.hotkey,
        module_hash: ModuleHash::new(builtin.hash()),
        module_bytes: None,
        params: encode_params(module, json).unwrap(),
        device,
        expires_at_ms: unix_ms_now() + 60_000,
    };
    Signed::sign(session.identity.signing_key(), &prepare).unwrap()
}

/// Sends a `Prepare` on a new stream; returns the stream and the miner's first answer (or the
/// transport error, e.g. a timeout).
async fn ask(
    session: &Session,
    signed: &Signed<Prepare>,
    wait: Duration,
) -> (FramedStream, Result<Message, transport::TransportError>) {
    let mut stream = FramedStream::open(&session.connection).await.unwrap();
    stream
        .send(&Message::Prepare(signed.clone()))
        .await
        .unwrap();
    let answer = stream.recv(wait).await;
    (stream, answer)
}

fn refusal(answer: Result<Message, transport::TransportError>) -> ErrorCode {
    match answer {
        Ok(Message::Error(e)) => e.code,
        other => panic!("expected a typed refusal, got {other:?}"),
    }
}

fn ready(answer: Result<Message, transport::TransportError>) {
    match answer {
        Ok(Message::Ready(_)) => {}
        other => panic!("expected Ready, got {other:?}"),
    }
}

/// Sends the `Go` for `signed`, waits for the commitment, then ends the stream (so the miner
/// releases the device without waiting for `Open`).
async fn go_and_commit(session: &Session, mut stream: FramedStream, signed: &Signed<Prepare>) {
    let go = Go {
        challenge_id: signed.verify().unwrap().challenge_id,
        prepare: signed.digest(),
        nonce: Nonce::new([7; 32]),
    };
    let go = Signed::sign(session.identity.signing_key(), &go).unwrap();
    stream.send(&Message::Go(go)).await.unwrap();
    let answer = stream.expect(MessageKind::Commitment, WAIT * 6).await;
    assert!(
        matches!(answer, Ok(Message::Commitment(_))),
        "expected a commitment, got {answer:?}"
    );
    stream.reset(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepare_without_go_holds_the_device_only_for_reserve_s() {
    let limits = ServeLimits {
        reserve: Duration::from_secs(1),
        ..ServeLimits::default()
    };
    let miner = start(1, limits, None);
    let idle = connect(miner.addr).await.unwrap();
    let other = connect_as(miner.addr, "//Bob").await.unwrap();

    let asked = Instant::now();
    let (mut held, answer) = ask(&idle, &prepare(&idle, "matmul-i8", 0), WAIT).await;
    ready(answer);
    // While it is reserved, another validator's Prepare is told the device is busy.
    let (_s, answer) = ask(&other, &prepare(&other, "matmul-i8", 0), WAIT).await;
    assert_eq!(refusal(answer), ErrorCode::BusyDevice);

    // No Go: after reserve_s the stream is refused with a typed error and ended…
    let lapse = held.recv(WAIT).await;
    let waited = asked.elapsed();
    match lapse {
        Ok(Message::Error(e)) => {
            assert_eq!(e.code, ErrorCode::UnexpectedMessage, "{e:?}");
            assert!(e.detail.contains("reserve_s"), "{}", e.detail);
        }
        other => panic!("expected the reservation's typed end, got {other:?}"),
    }
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "reservation held {waited:?} with reserve = 1 s"
    );
    assert!(
        matches!(
            held.recv(WAIT).await,
            Err(transport::TransportError::Closed(_))
        ),
        "the stream ends after the refusal"
    );
    assert_eq!(miner.stats.reservations_expired.load(Ordering::Relaxed), 1);
    // The validator whose reservation lapsed may not reserve the device again at once, so it
    // cannot hold it back to back…
    let (_s, answer) = ask(&idle, &prepare(&idle, "matmul-i8", 0), WAIT).await;
    assert_eq!(refusal(answer), ErrorCode::RateLimited);

    // …and the device is free: the other validator gets it, and its challenge runs.
    let signed = prepare(&other, "matmul-i8", 0);
    let (stream, answer) = ask(&other, &signed, WAIT).await;
    ready(answer);
    go_and_commit(&other, stream, &signed).await;
    miner.shutdown().await;
}

async fn probe(
    session: &Session,
    direction: ProbeDirection,
    bytes: u64,
) -> (FramedStream, Message) {
    probe_over(session, direction, bytes, 1).await
}

async fn probe_over(
    session: &Session,
    direction: ProbeDirection,
    bytes: u64,
    streams: u16,
) -> (FramedStream, Message) {
    let mut stream = FramedStream::open(&session.connection).await.unwrap();
    let request = ProbeRequest {
        direction,
        bytes,
        streams,
        seed: Nonce::new([3; 32]),
    };
    stream.send(&Message::ProbeRequest(request)).await.unwrap();
    let answer = stream.recv(WAIT).await.unwrap();
    (stream, answer)
}

fn ticket(answer: Message) -> ProbeTicket {
    match answer {
        Message::ProbeTicket(t) => t,
        other => panic!("expected a probe ticket, got {other:?}"),
    }
}

/// Redeems every token of an upload's ticket and reads all it sends.
async fn redeem_upload(addr: SocketAddr, ticket: &ProbeTicket) -> usize {
    let mut total = 0;
    for token in &ticket.tokens {
        let mut tcp = TcpStream::connect(SocketAddr::new(addr.ip(), ticket.port))
            .await
            .unwrap();
        tcp.write_all(token.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(WAIT, tcp.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        total += got.len();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_flood_is_rate_limited_per_validator_before_any_data_is_generated() {
    const SIZE: u64 = 8 << 20;
    let limits = ServeLimits {
        probes_per_minute: 2,
        max_probe_bytes: SIZE,
        ..ServeLimits::default()
    };
    let miner = start(1, limits, None);
    let session = connect(miner.addr).await.unwrap();
    // The validator's two probes a minute, one after the other (one may be pending at once).
    let (_a, first) = probe_over(&session, ProbeDirection::MinerToVerifier, SIZE, 4).await;
    let first = ticket(first);
    assert_eq!(first.tokens.len(), 4);
    assert_eq!(redeem_upload(miner.addr, &first).await as u64, SIZE);
    let (_b, second) = probe(&session, ProbeDirection::MinerToVerifier, SIZE).await;
    ticket(second);
    let stats = &miner.stats;
    assert_eq!(
        stats.probe_bytes_generated.load(Ordering::Relaxed),
        2 * SIZE
    );
    // A flood of 32 more, at once: every one refused as rate-limited, nothing generated.
    let flood = (0..32).map(|_| {
        let connection = session.connection.clone();
        tokio::spawn(async move {
            let mut stream = FramedStream::open(&connection).await.unwrap();
            let request = ProbeRequest {
                direction: ProbeDirection::MinerToVerifier,
                bytes: SIZE,
                streams: 1,
                seed: Nonce::new([4; 32]),
            };
            stream.send(&Message::ProbeRequest(request)).await.unwrap();
            stream.recv(WAIT).await
        })
    });
    let flood: Vec<_> = flood.collect();
    for answer in flood {
        assert_eq!(refusal(answer.await.unwrap()), ErrorCode::RateLimited);
    }
    assert_eq!(stats.probes_rate_limited.load(Ordering::Relaxed), 32);
    assert_eq!(stats.probe_tickets.load(Ordering::Relaxed), 2);
    assert_eq!(
        stats.probe_bytes_generated.load(Ordering::Relaxed),
        2 * SIZE,
        "no probe data generated for a refused request"
    );
    miner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pending_probe_limit_is_checked_before_data_is_generated() {
    const SIZE: u64 = 4 << 20;
    assert_eq!((MAX_PENDING_PROBES, MAX_PENDING_PER_VALIDATOR), (2, 1));
    let limits = ServeLimits {
        probes_per_minute: 1000,
        max_probe_bytes: SIZE,
        ..ServeLimits::default()
    };
    let miner = start(1, limits, None);
    let alice = connect_as(miner.addr, "//Alice").await.unwrap();
    let bob = connect_as(miner.addr, "//Bob").await.unwrap();
    let charlie = connect_as(miner.addr, "//Charlie").await.unwrap();
    let (mut held, answer) = probe(&alice, ProbeDirection::MinerToVerifier, SIZE).await;
    ticket(answer);
    // One validator holds at most one place: Alice's second probe waits for her first…
    for _ in 0..4 {
        let (_s, answer) = probe(&alice, ProbeDirection::MinerToVerifier, SIZE).await;
        assert_eq!(refusal(Ok(answer)), ErrorCode::RateLimited);
    }
    // …so another validator still gets a place, and with it every place is taken.
    let (_bob_held, answer) = probe(&bob, ProbeDirection::VerifierToMiner, SIZE).await;
    ticket(answer);
    for _ in 0..4 {
        let (_s, answer) = probe(&charlie, ProbeDirection::MinerToVerifier, SIZE).await;
        assert_eq!(refusal(Ok(answer)), ErrorCode::RateLimited);
    }
    let generated = miner.stats.probe_bytes_generated.load(Ordering::Relaxed);
    assert_eq!(
        generated, SIZE,
        "one upload generated; refused ones and downloads none"
    );
    assert_eq!(miner.stats.probes_rate_limited.load(Ordering::Relaxed), 0);
    // Ending a probe's stream withdraws its tokens and frees its place.
    held.finish();
    let deadline = Instant::now() + WAIT;
    loop {
        let (_s, answer) = probe(&charlie, ProbeDirection::MinerToVerifier, SIZE).await;
        match answer {
            Message::ProbeTicket(_) => break,
            Message::Error(e) if e.code == ErrorCode::RateLimited && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("expected a ticket once a place is free, got {other:?}"),
        }
    }
    miner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_download_receipt_hashes_every_byte_of_every_stream() {
    let miner = start(1, ServeLimits::default(), None);
    let session = connect(miner.addr).await.unwrap();
    // Not a whole number of 64 KiB blocks, nor of streams, so partial blocks are covered too.
    let len = (1 << 20) + 12_347;
    let streams = 3u16;
    let mut data = vec![0u8; len];
    protocol::probe_data(&Nonce::new([5; 32]), 0, &mut data);
    // A byte the old receipt (first 4 KiB of every 64 KiB) never read, in stream 1.
    let (offset1, _) = protocol::stream_span(len as u64, streams, 1).unwrap();
    data[offset1 as usize + 65_536 + 5_000] ^= 0x40;
    let (mut stream, answer) = probe_over(
        &session,
        ProbeDirection::VerifierToMiner,
        len as u64,
        streams,
    )
    .await;
    let ticket = ticket(answer);
    assert_eq!(ticket.tokens.len(), usize::from(streams));
    let mut hashes = Vec::new();
    let mut sockets = Vec::new();
    for (i, token) in ticket.tokens.iter().enumerate() {
        let (offset, n) = protocol::stream_span(len as u64, streams, i as u16).unwrap();
        let part = &data[offset as usize..(offset + n) as usize];
        hashes.push(*blake3::hash(part).as_bytes());
        let mut tcp = TcpStream::connect(SocketAddr::new(miner.addr.ip(), ticket.port))
            .await
            .unwrap();
        tcp.write_all(token.as_bytes()).await.unwrap();
        tcp.write_all(part).await.unwrap();
        sockets.push(tcp);
    }
    let receipt = match stream.expect(MessageKind::ProbeChunk, WAIT).await.unwrap() {
        Message::ProbeChunk(c) => c,
        other => panic!("expected the receipt, got {other:?}"),
    };
    assert_eq!(receipt.offset, len as u64);
    assert_eq!(receipt.data, protocol::receipt_data(&hashes));
    for mut tcp in sockets {
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut rest)).await;
    }
    miner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_over_too_many_streams_or_none_is_refused() {
    let miner = start(1, ServeLimits::default(), None);
    let session = connect(miner.addr).await.unwrap();
    for streams in [0, protocol::limits::MAX_PROBE_STREAMS as u16 + 1] {
        let (_s, answer) =
            probe_over(&session, ProbeDirection::MinerToVerifier, 1 << 20, streams).await;
        assert_eq!(
            refusal(Ok(answer)),
            ErrorCode::Malformed,
            "{streams} streams"
        );
    }
    assert_eq!(miner.stats.probe_bytes_generated.load(Ordering::Relaxed), 0);
    miner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_may_hold_a_stream_per_device_of_the_largest_inventory() {
    let miner = start(1, ServeLimits::default(), None);
    let session = connect(miner.addr).await.unwrap();
    // The control stream is one; hold MAX_GPUS more open (each with half a frame, so the
    // miner sees it and waits for the rest)…
    let mut idle = Vec::new();
    for _ in 0..protocol::limits::MAX_GPUS {
        let mut stream = tokio::time::timeout(WAIT, FramedStream::open(&session.connection))
            .await
            .expect("the miner grants a stream per device")
            .unwrap();
        stream
            .send_raw(&[MessageKind::Prepare.tag()])
            .await
            .unwrap();
        idle.push(stream);
    }
    assert_eq!(idle.len() + 2, MINER_STREAMS as usize);
    // …and the last one (a probe's, or here a challenge's) still opens and is answered.
    let opened = tokio::time::timeout(
        WAIT,
        ask(&session, &prepare(&session, "matmul-i8", 0), WAIT),
    )
    .await
    .expect("a stream beyond MAX_GPUS + 1 is granted");
    ready(opened.1);
    miner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_adversaries_shape_what_the_handshake_claims() {
    async fn claimed(adversary: Adversary) -> Inventory {
        let miner = start(2, ServeLimits::default(), Some(adversary));
        let session = connect(miner.addr).await.unwrap();
        miner.shutdown().await;
        session.inventory
    }
    let duplicate = claimed(Adversary::DuplicateIndex).await;
    let indices: Vec<u32> = duplicate.gpus.iter().map(|g| g.index).collect();
    assert_eq!(indices, [0, 0, 1]);
    assert!(claimed(Adversary::EmptyInventory).await.gpus.is_empty());
    let unknown = claimed(Adversary::UnknownNames).await;
    assert_eq!(unknown.gpus.len(), 2);
    assert!(unknown.gpus.iter().all(|g| g.name == UNKNOWN_NAME));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_forever_answers_every_prepare_busy() {
    let miner = start(2, ServeLimits::default(), Some(Adversary::BusyForever));
    let session = connect(miner.addr).await.unwrap();
    for device in [0, 1, 0] {
        let (_s, answer) = ask(&session, &prepare(&session, "matmul-i8", device), WAIT).await;
        assert_eq!(refusal(answer), ErrorCode::BusyDevice);
    }
    assert_eq!(miner.stats.commitments.load(Ordering::Relaxed), 0);
    miner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_dark_serves_its_first_connections_then_refuses_every_other() {
    let miner = start(1, ServeLimits::default(), Some(Adversary::GoDark(1)));
    let first = connect(miner.addr).await.unwrap();
    // The first connection is served honestly.
    let signed = prepare(&first, "matmul-i8", 0);
    let (stream, answer) = ask(&first, &signed, WAIT).await;
    ready(answer);
    go_and_commit(&first, stream, &signed).await;
    // Every later one is refused at once.
    for _ in 0..2 {
        let started = Instant::now();
        assert!(
            connect(miner.addr).await.is_err(),
            "a dark miner serves no one"
        );
        assert!(started.elapsed() < WAIT / 2, "refused at once");
    }
    assert!(miner.stats.gone_dark.load(Ordering::Relaxed) >= 2);
    miner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_last_module_delays_the_first_module_and_never_answers_another() {
    let stall = Duration::from_millis(1500);
    let miner = start(
        1,
        ServeLimits::default(),
        Some(Adversary::StallLastModule(stall)),
    );
    let session = connect(miner.addr).await.unwrap();
    let asked = Instant::now();
    let signed = prepare(&session, "matmul-i8", 0);
    let (stream, answer) = ask(&session, &signed, WAIT).await;
    ready(answer);
    assert!(
        asked.elapsed() >= stall,
        "Ready came after {:?}",
        asked.elapsed()
    );
    go_and_commit(&session, stream, &signed).await;
    // Another module on the same connection: never answered, the stream held open.
    let (_held, answer) = ask(&session, &prepare(&session, "membw", 0), stall * 2).await;
    assert!(
        matches!(answer, Err(transport::TransportError::Timeout(_))),
        "expected silence, got {answer:?}"
    );
    // The first module again: delayed, then served.
    let (_s, answer) = ask(&session, &prepare(&session, "matmul-i8", 0), WAIT).await;
    ready(answer);
    miner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rented_inflate_is_honest_once_then_claims_n_devices_computed_on_device_0() {
    let miner = start(1, ServeLimits::default(), Some(Adversary::RentedInflate(4)));
    let first = connect(miner.addr).await.unwrap();
    assert_eq!(
        first.inventory.gpus.len(),
        1,
        "the first connection sees the real device"
    );
    let real = first.inventory.gpus[0].clone();
    let (_s, answer) = ask(&first, &prepare(&first, "matmul-i8", 3), WAIT).await;
    assert_eq!(
        refusal(answer),
        ErrorCode::BadParams,
        "no device 3 on the honest turn"
    );
    drop(first);

    let later = connect(miner.addr).await.unwrap();
    let gpus = &later.inventory.gpus;
    assert_eq!(
        gpus.iter().map(|g| g.index).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert!(gpus.iter().all(|g| g.name == real.name));
    assert!(gpus.iter().all(|g| g.memory_bytes == real.memory_bytes));
    let uuids: std::collections::BTreeSet<_> = gpus.iter().map(|g| g.uuid.clone()).collect();
    assert_eq!(uuids.len(), 4, "distinct made-up UUIDs");
    // Every claimed device has a reservation of its own and runs (on real device 0).
    let mut running = Vec::new();
    for device in 0..4 {
        let signed = prepare(&later, "matmul-i8", device);
        let (stream, answer) = ask(&later, &signed, WAIT).await;
        ready(answer);
        running.push((stream, signed));
    }
    for (stream, signed) in running {
        go_and_commit(&later, stream, &signed).await;
    }
    assert_eq!(miner.stats.commitments.load(Ordering::Relaxed), 4);
    miner.shutdown().await;
}
