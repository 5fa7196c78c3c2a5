#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The bandwidth probe over real QUIC + TCP on loopback (issue #5, docs/design.md §Protocol step 7):
//! both directions check out, over one stream and over parallel streams; the TCP side gives
//! nothing to a wrong, foreign, reused or absent token; an oversized probe and a flood of
//! tickets are refused with typed errors; idle TCP connections from another host do not block
//! a real probe. The probe cheats and the bandwidth score: `bandwidth.rs`.

mod harness;

use std::net::SocketAddr;
use std::time::Duration;

use harness::{MinerSpec, start_miner, validator_hotkey};
use miner_host::serve::ServeLimits;
use protocol::{
    ErrorCode, Message, Nonce, ProbeDirection, ProbeRequest, ProbeTicket, Role, probe_data,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use transport::{ConnectionLimits, FramedStream, Identity};
use verifier::client::ProbeOutcome;
use verifier::client::probe::{ProbePlan, probe_download, probe_upload, run_probe};

const WAIT: Duration = Duration::from_secs(10);

/// A connected, handshaken validator connection (endpoint and control stream kept alive).
struct Session {
    connection: quinn::Connection,
    _endpoint: quinn::Endpoint,
    _control: FramedStream,
}

async fn connect(addr: SocketAddr) -> Session {
    let identity = Identity::issue(
        harness::session_key(),
        &validator_hotkey(),
        Role::Validator,
        harness::VALIDITY,
    );
    let endpoint =
        transport::client_endpoint(addr, identity.signing_key(), &ConnectionLimits::default())
            .unwrap();
    let connection = transport::connect(&endpoint, addr, WAIT).await.unwrap();
    let mut control = FramedStream::open(&connection).await.unwrap();
    transport::client_handshake(&connection, &mut control, &identity, None, WAIT)
        .await
        .unwrap();
    Session {
        connection,
        _endpoint: endpoint,
        _control: control,
    }
}

/// Sends a raw `ProbeRequest` and returns the miner's first answer (and the stream).
async fn request(
    session: &Session,
    direction: ProbeDirection,
    bytes: u64,
    seed: [u8; 32],
) -> (FramedStream, Message) {
    let mut stream = FramedStream::open(&session.connection).await.unwrap();
    let request = ProbeRequest {
        direction,
        bytes,
        streams: 1,
        seed: Nonce::new(seed),
    };
    stream.send(&Message::ProbeRequest(request)).await.unwrap();
    let answer = stream.recv(WAIT).await.unwrap();
    (stream, answer)
}

/// Connects to the ticket's port from `local_ip`, writes `token`, and reads all the miner
/// sends until it closes.
async fn redeem(miner: SocketAddr, port: u16, local_ip: &str, token: [u8; 32]) -> Vec<u8> {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{local_ip}:0").parse().unwrap())
        .unwrap();
    let mut tcp = socket
        .connect(SocketAddr::new(miner.ip(), port))
        .await
        .unwrap();
    tcp.write_all(&token).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut got))
        .await
        .expect("the miner closes a redeemed or refused probe connection");
    got
}

fn ticket(answer: Message) -> ProbeTicket {
    match answer {
        Message::ProbeTicket(t) => t,
        other => panic!("expected a ticket, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_both_ways_checks_out() {
    let miner = start_miner(MinerSpec::honest(1, 1));
    let session = connect(miner.handle.addr).await;
    let bytes = 4 << 20;
    let up = probe_upload(&session.connection, bytes, WAIT)
        .await
        .unwrap();
    assert!(up.data_ok, "{up:?}");
    assert_eq!(up.bytes, bytes);
    assert_eq!(up.direction, "miner-to-verifier");
    let down = probe_download(&session.connection, bytes, WAIT)
        .await
        .unwrap();
    assert!(down.data_ok, "{down:?}");
    assert_eq!(down.direction, "verifier-to-miner");
    println!(
        "probe on loopback, 1 stream: up {:.0} MB/s, down {:.0} MB/s",
        up.mb_per_s, down.mb_per_s
    );
    // Parallel streams (a size no stream count divides): every byte of every stream checked.
    let plan = ProbePlan::fixed((8 << 20) + 5, 8, WAIT);
    for direction in [
        ProbeDirection::MinerToVerifier,
        ProbeDirection::VerifierToMiner,
    ] {
        let r = run_probe(&session.connection, direction, &plan)
            .await
            .unwrap();
        assert_eq!(r.outcome, ProbeOutcome::Measured, "{r:?}");
        assert!(r.data_ok && r.detail.is_none(), "{r:?}");
        assert_eq!(
            (r.bytes, r.received, r.streams),
            (plan.bytes, plan.bytes, 8)
        );
        println!(
            "probe on loopback, 8 streams, {}: {:.0} Mbit/s",
            r.direction, r.mbit_per_s
        );
    }
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_serves_only_its_token_once_from_the_validators_address() {
    let miner = start_miner(MinerSpec::honest(2, 1));
    let addr = miner.handle.addr;
    let session = connect(addr).await;
    let seed = [9; 32];
    let bytes = 1 << 20;
    let (_stream, answer) = request(&session, ProbeDirection::MinerToVerifier, bytes, seed).await;
    let ticket = ticket(answer);
    assert_eq!(ticket.port, miner.handle.probe_port);
    assert_eq!(ticket.tokens.len(), 1);
    let token = *ticket.tokens[0].as_bytes();

    let mut wrong = token;
    wrong[0] ^= 1;
    assert!(
        redeem(addr, ticket.port, "127.0.0.1", wrong)
            .await
            .is_empty()
    );
    // Another address (127.0.0.2 is loopback too on Linux) may not use the ticket…
    assert!(
        redeem(addr, ticket.port, "127.0.0.2", token)
            .await
            .is_empty()
    );
    // …which leaves it for the validator, once, with the seed's data.
    let data = redeem(addr, ticket.port, "127.0.0.1", token).await;
    let mut want = vec![0u8; 1 << 20];
    probe_data(&Nonce::new(seed), 0, &mut want);
    assert!(data == want, "{} bytes, not the seed's data", data.len());
    assert!(
        redeem(addr, ticket.port, "127.0.0.1", token)
            .await
            .is_empty()
    );
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_probes_and_ticket_floods_are_refused_with_typed_errors() {
    let mut spec = MinerSpec::honest(3, 1);
    spec.limits = ServeLimits {
        max_probe_bytes: 1 << 20,
        ..ServeLimits::default()
    };
    let miner = start_miner(spec);
    let session = connect(miner.handle.addr).await;
    let (_s, answer) = request(&session, ProbeDirection::VerifierToMiner, 2 << 20, [1; 32]).await;
    match answer {
        Message::Error(e) => assert_eq!(e.code, ErrorCode::Oversized, "{e:?}"),
        other => panic!("expected oversized, got {other:?}"),
    }
    // A validator's probe holds its place until its ticket is redeemed: a second one waits.
    let (_held, first) = request(&session, ProbeDirection::MinerToVerifier, 1 << 10, [6; 32]).await;
    let first = ticket(first);
    let (_s, answer) = request(&session, ProbeDirection::MinerToVerifier, 1 << 10, [7; 32]).await;
    match answer {
        Message::Error(e) => assert_eq!(e.code, ErrorCode::RateLimited, "{e:?}"),
        other => panic!("expected rate-limited, got {other:?}"),
    }
    // Redeeming a ticket frees its place.
    let got = redeem(
        miner.handle.addr,
        first.port,
        "127.0.0.1",
        *first.tokens[0].as_bytes(),
    )
    .await;
    assert_eq!(got.len(), 1 << 10);
    let (_s, answer) = request(&session, ProbeDirection::MinerToVerifier, 1 << 10, [8; 32]).await;
    ticket(answer);
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tcp_connections_from_another_host_do_not_block_a_probe() {
    let miner = start_miner(MinerSpec::honest(4, 1));
    let probe_addr = SocketAddr::new(miner.handle.addr.ip(), miner.handle.probe_port);
    // Another host (127.0.0.2) opens more idle connections than the listener holds in all: it
    // gets MAX_PROBE_CONNECTIONS_PER_IP of them, the rest are closed at once.
    let mut idle = Vec::new();
    for _ in 0..miner_host::serve::MAX_PROBE_CONNECTIONS + 4 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        idle.push(socket.connect(probe_addr).await.unwrap());
    }
    let session = connect(miner.handle.addr).await;
    let up = probe_upload(&session.connection, 1 << 20, WAIT)
        .await
        .unwrap();
    assert!(up.data_ok, "{up:?}");
    let down = probe_download(&session.connection, 1 << 20, WAIT)
        .await
        .unwrap();
    assert!(down.data_ok, "{down:?}");
    // The connections over the per-address cap were closed without a byte.
    let mut closed = 0;
    for tcp in &mut idle {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut byte)).await
        {
            closed += 1;
        }
    }
    assert_eq!(
        closed,
        idle.len() - miner_host::serve::MAX_PROBE_CONNECTIONS_PER_IP
    );
    miner.stop().await;
}
