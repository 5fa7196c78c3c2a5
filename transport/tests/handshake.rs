//! Real QUIC on loopback: the raw-key TLS handshake, then Hello/Certificate/Inventory, with the
//! refusals a miner must make.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use protocol::{ErrorCode, HostFacts, Inventory, Role};
use subxt_signer::sr25519::dev;
use transport::identity::{hotkey_of, issue_certificate, unix_ms_now};
use transport::*;

const T: Duration = Duration::from_secs(5);

fn inventory() -> Inventory {
    Inventory {
        gpus: vec![],
        host: HostFacts {
            cpu_model: "test".into(),
            cpu_cores: 1,
            memory_bytes: 1,
            os: "test".into(),
        },
    }
}

/// Starts a miner (Bob) that admits `allowed`; returns its address and a handle yielding the
/// server-side handshake result.
async fn miner(
    allowed: AllowList,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<Result<Peer, TransportError>>,
) {
    let key = SigningKey::from_bytes(&[2; 32]);
    let identity = Identity::issue(
        key.clone(),
        &dev::bob(),
        Role::Miner,
        Duration::from_secs(60),
    );
    let endpoint = server_endpoint(
        "127.0.0.1:0".parse().unwrap(),
        &key,
        &ConnectionLimits::default(),
    )
    .unwrap();
    let addr = endpoint.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let incoming = endpoint.accept().await.unwrap();
        let connection = incoming
            .await
            .map_err(|e| TransportError::Closed(e.to_string()))?;
        let (send, recv) = connection
            .accept_bi()
            .await
            .map_err(|e| TransportError::Closed(e.to_string()))?;
        let mut stream = FramedStream::new(send, recv);
        let peer = server_handshake(
            &connection,
            &mut stream,
            &identity,
            |h| allowed.admits(h),
            &inventory(),
            T,
        )
        .await;
        stream.finish();
        tokio::time::sleep(Duration::from_millis(200)).await;
        peer
    });
    (addr, handle)
}

async fn validator(
    addr: SocketAddr,
    identity: &Identity,
    expected: Option<&protocol::Hotkey>,
) -> Result<(Peer, Inventory), TransportError> {
    let endpoint =
        client_endpoint(addr, identity.signing_key(), &ConnectionLimits::default()).unwrap();
    let connection = connect(&endpoint, addr, T).await?;
    let mut stream = FramedStream::open(&connection).await?;
    client_handshake(&connection, &mut stream, identity, expected, T).await
}

fn alice() -> Identity {
    Identity::issue(
        SigningKey::from_bytes(&[1; 32]),
        &dev::alice(),
        Role::Validator,
        Duration::from_secs(60),
    )
}

#[tokio::test]
async fn allowed_validator_completes_the_handshake_both_ways() {
    let (addr, server) = miner(AllowList::of([hotkey_of(&dev::alice())])).await;
    let (peer, inv) = validator(addr, &alice(), Some(&hotkey_of(&dev::bob())))
        .await
        .unwrap();
    assert_eq!(peer.hotkey, hotkey_of(&dev::bob()));
    assert_eq!(
        peer.session_key,
        protocol::SessionKey::of(&SigningKey::from_bytes(&[2; 32]))
    );
    assert_eq!(inv, inventory());
    let seen = server.await.unwrap().unwrap();
    assert_eq!(seen.hotkey, hotkey_of(&dev::alice()));
    assert_eq!(seen.session_key, alice().session_key());
}

#[tokio::test]
async fn validator_not_in_the_allow_list_is_refused_with_not_allowed() {
    let (addr, server) = miner(AllowList::of([hotkey_of(&dev::charlie())])).await;
    let err = validator(addr, &alice(), None).await.unwrap_err();
    match err {
        TransportError::Refused(msg) => assert_eq!(msg.code, ErrorCode::NotAllowed),
        other => panic!("expected NotAllowed, got {other}"),
    }
    assert!(server.await.unwrap().is_err());
}

#[tokio::test]
async fn certificate_for_another_session_key_is_refused() {
    // Alice's hotkey signs a certificate for key [3;32], but the connection proves key [1;32]:
    // a stolen certificate without its session key is worthless.
    let (addr, server) = miner(AllowList::of([hotkey_of(&dev::alice())])).await;
    let stolen = Identity::issue(
        SigningKey::from_bytes(&[3; 32]),
        &dev::alice(),
        Role::Validator,
        Duration::from_secs(60),
    );
    let forged = ForgedIdentity::new(SigningKey::from_bytes(&[1; 32]), stolen);
    let err = validator(addr, &forged.0, None).await.unwrap_err();
    match err {
        TransportError::Refused(msg) => assert_eq!(msg.code, ErrorCode::BadCertificate),
        other => panic!("expected BadCertificate, got {other}"),
    }
    assert!(server.await.unwrap().is_err());
}

#[tokio::test]
async fn miner_certificate_role_and_expected_hotkey_are_checked() {
    let (addr, _server) = miner(AllowList::parse(&["*".into()], &[]).unwrap()).await;
    let err = validator(addr, &alice(), Some(&hotkey_of(&dev::charlie())))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expected"), "{err}");

    // A validator presenting a miner-role certificate is refused.
    let (addr, _server) = miner(AllowList::parse(&["*".into()], &[]).unwrap()).await;
    let wrong_role = Identity::issue(
        SigningKey::from_bytes(&[1; 32]),
        &dev::alice(),
        Role::Miner,
        Duration::from_secs(60),
    );
    let err = validator(addr, &wrong_role, None).await.unwrap_err();
    assert!(
        matches!(err, TransportError::Refused(ref m) if m.code == ErrorCode::BadCertificate),
        "{err}"
    );
}

#[tokio::test]
async fn expired_certificate_is_refused() {
    let (addr, _server) = miner(AllowList::parse(&["*".into()], &[]).unwrap()).await;
    let key = SigningKey::from_bytes(&[1; 32]);
    let old = issue_certificate(
        &key,
        &dev::alice(),
        Role::Validator,
        unix_ms_now() - 3_600_000,
        Duration::from_secs(60),
    );
    let forged = ForgedIdentity::with_certificate(key, old);
    let err = validator(addr, &forged.0, None).await.unwrap_err();
    assert!(
        matches!(err, TransportError::Refused(ref m) if m.code == ErrorCode::BadCertificate),
        "{err}"
    );
}

/// An identity whose certificate is not its own.
struct ForgedIdentity(Identity);

impl ForgedIdentity {
    fn new(key: SigningKey, stolen: Identity) -> Self {
        Self::with_certificate(key, stolen.certificate().clone())
    }
    fn with_certificate(key: SigningKey, certificate: protocol::SessionCertificate) -> Self {
        Self(Identity::from_parts(key, certificate))
    }
}
