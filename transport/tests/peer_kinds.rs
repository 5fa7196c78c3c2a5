//! Real QUIC on loopback: a stream to a peer of known role refuses, from the header, every
//! frame kind that role never sends, and the handshake sets this up on the control stream.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use ed25519_dalek::SigningKey;
use protocol::limits::{MAX_OPENINGS_PAYLOAD, MAX_PREPARE_PAYLOAD};
use protocol::{
    HostFacts, Inventory, KindSet, Message, MessageKind, Ping, Pong, ProtocolError, Role,
    frame_header,
};
use subxt_signer::sr25519::dev;
use transport::*;

const T: Duration = Duration::from_secs(5);

/// Both endpoints (kept alive by the test), the verifier's connection to the miner and the
/// miner's from the verifier: QUIC on loopback, TLS only.
async fn connected() -> ([quinn::Endpoint; 2], quinn::Connection, quinn::Connection) {
    let server_key = SigningKey::from_bytes(&[2; 32]);
    let client_key = SigningKey::from_bytes(&[1; 32]);
    let limits = ConnectionLimits::default();
    let server = server_endpoint("127.0.0.1:0".parse().unwrap(), &server_key, &limits).unwrap();
    let addr = server.local_addr().unwrap();
    let accept = {
        let server = server.clone();
        tokio::spawn(async move { server.accept().await.unwrap().await.unwrap() })
    };
    let client = client_endpoint(addr, &client_key, &limits).unwrap();
    let to_miner = connect(&client, addr, T).await.unwrap();
    let from_validator = accept.await.unwrap();
    ([server, client], to_miner, from_validator)
}

fn refused(result: Result<Message, TransportError>, kind: MessageKind, accepted: KindSet) {
    match result {
        Err(TransportError::Protocol(e)) => {
            assert_eq!(e, ProtocolError::UnexpectedKind { kind, accepted })
        }
        other => panic!("expected {kind:?} to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn streams_to_a_known_peer_refuse_kinds_it_never_sends() {
    let (_endpoints, to_miner, from_validator) = connected().await;

    // Verifier: a stream to a miner. Its first frame makes the stream visible to the miner.
    let mut verifier = FramedStream::open_to(&to_miner, Role::Miner).await.unwrap();
    assert_eq!(verifier.accepted_kinds(), KindSet::MINER_SENDS);
    verifier
        .send(&Message::Ping(Ping { seq: 7 }))
        .await
        .unwrap();
    // A validator never sends Openings: a header claiming 2 MiB, and a little of the payload.
    let header = frame_header(MessageKind::Openings, MAX_OPENINGS_PAYLOAD).unwrap();
    verifier.send_raw(&header).await.unwrap();
    verifier.send_raw(&[0u8; 1000]).await.unwrap();

    // Miner: the accepted stream admits validator kinds only.
    let (send, recv) = from_validator.accept_bi().await.unwrap();
    let mut miner = FramedStream::new(send, recv).with_peer_role(Role::Validator);
    assert_eq!(miner.accepted_kinds(), KindSet::VALIDATOR_SENDS);
    assert_eq!(miner.recv(T).await.unwrap(), Message::Ping(Ping { seq: 7 }));
    refused(
        miner.recv(T).await,
        MessageKind::Openings,
        KindSet::VALIDATOR_SENDS,
    );

    // A miner never sends Prepare: the verifier refuses its header, whatever follows.
    miner.send(&Message::Pong(Pong { seq: 7 })).await.unwrap();
    let header = frame_header(MessageKind::Prepare, MAX_PREPARE_PAYLOAD).unwrap();
    miner.send_raw(&header).await.unwrap();
    miner.send_raw(&[0u8; 1000]).await.unwrap();
    assert_eq!(
        verifier.recv(T).await.unwrap(),
        Message::Pong(Pong { seq: 7 })
    );
    refused(
        verifier.recv(T).await,
        MessageKind::Prepare,
        KindSet::MINER_SENDS,
    );

    // Plain `open`/`new` streams still admit every kind.
    let plain = FramedStream::open(&to_miner).await.unwrap();
    assert_eq!(plain.accepted_kinds(), KindSet::ALL);
}

#[tokio::test]
async fn handshake_restricts_the_control_stream_to_the_peers_kinds() {
    let (_endpoints, to_miner, from_validator) = connected().await;
    let miner_identity = Identity::issue(
        SigningKey::from_bytes(&[2; 32]),
        &dev::bob(),
        Role::Miner,
        Duration::from_secs(60),
    );
    let validator_identity = Identity::issue(
        SigningKey::from_bytes(&[1; 32]),
        &dev::alice(),
        Role::Validator,
        Duration::from_secs(60),
    );
    let inventory = Inventory {
        gpus: vec![],
        host: HostFacts {
            cpu_model: "test".into(),
            cpu_cores: 1,
            memory_bytes: 1,
            os: "test".into(),
        },
    };
    let server = tokio::spawn(async move {
        let (send, recv) = from_validator.accept_bi().await.unwrap();
        let mut control = FramedStream::new(send, recv);
        server_handshake(
            &from_validator,
            &mut control,
            &miner_identity,
            |_| true,
            &inventory,
            T,
        )
        .await
        .unwrap();
        assert_eq!(control.accepted_kinds(), KindSet::VALIDATOR_SENDS);
        // A hostile miner: a Prepare header on the control stream.
        let header = frame_header(MessageKind::Prepare, 1 << 20).unwrap();
        control.send_raw(&header).await.unwrap();
        control.send_raw(&[0u8; 1000]).await.unwrap();
        // The verifier's Openings header is refused here.
        refused(
            control.recv(T).await,
            MessageKind::Openings,
            KindSet::VALIDATOR_SENDS,
        );
    });
    let mut control = FramedStream::open(&to_miner).await.unwrap();
    client_handshake(&to_miner, &mut control, &validator_identity, None, T)
        .await
        .unwrap();
    assert_eq!(control.accepted_kinds(), KindSet::MINER_SENDS);
    refused(
        control.recv(T).await,
        MessageKind::Prepare,
        KindSet::MINER_SENDS,
    );
    let header = frame_header(MessageKind::Openings, 1 << 20).unwrap();
    control.send_raw(&header).await.unwrap();
    server.await.unwrap();
}
