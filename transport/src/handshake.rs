//! The application handshake on a connection's first stream, after TLS has proved each side's
//! ed25519 session key:
//!
//! ```text
//! verifier → miner   Hello, Certificate
//! miner              negotiate versions; verify the certificate (role validator, the key TLS
//!                    proved, unexpired, sr25519 signature); admit the hotkey (allow list)
//! miner → verifier   Hello, Certificate, Inventory        (or Error and close)
//! verifier           negotiate; verify the miner's certificate; check the miner's hotkey when
//!                    one is expected
//! ```
//!
//! The stream stays open afterwards as the connection's control stream (pings). Both sides
//! restrict it to the kinds the peer's role sends ([`FramedStream::set_peer_role`]) before
//! reading from it, so a frame the peer never sends is refused from its header.

use std::time::Duration;

use protocol::{
    ErrorCode, ErrorMsg, Hello, Hotkey, Inventory, Message, MessageKind, Negotiated, Role,
    SessionCertificate, SessionKey, negotiate,
};

use crate::error::TransportError;
use crate::framed::FramedStream;
use crate::identity::{Identity, ss58, unix_ms_now, verify_certificate};
use crate::tls::peer_session_key;

/// A peer whose handshake succeeded.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The peer's hotkey, vouched for by its certificate.
    pub hotkey: Hotkey,
    /// The ed25519 session key the peer proved in TLS (and signs protocol messages with).
    pub session_key: SessionKey,
    /// The versions both sides agreed on.
    pub versions: Negotiated,
    /// The certificate the peer showed (already checked): kept so that what the peer signs
    /// can be verified up to its hotkey by a third party (the verifier's receipts).
    pub certificate: SessionCertificate,
}

async fn read_hello_and_certificate(
    stream: &mut FramedStream,
    connection: &quinn::Connection,
    ours: &Hello,
    peer_role: Role,
    timeout: Duration,
) -> Result<Peer, TransportError> {
    let Message::Hello(theirs) = stream.expect(MessageKind::Hello, timeout).await? else {
        return Err(TransportError::Handshake("expected Hello".into()));
    };
    let versions = negotiate(ours, &theirs)
        .map_err(|e| TransportError::Handshake(format!("version negotiation: {e}")))?;
    if theirs.role != peer_role {
        return Err(TransportError::Handshake(format!(
            "the peer says it is a {:?}, expected a {peer_role:?}",
            theirs.role
        )));
    }
    let Message::Certificate(certificate) =
        stream.expect(MessageKind::Certificate, timeout).await?
    else {
        return Err(TransportError::Handshake("expected Certificate".into()));
    };
    let proven = peer_session_key(connection).ok_or_else(|| {
        TransportError::Handshake("the TLS handshake proved no ed25519 key".into())
    })?;
    let hotkey = verify_certificate(&certificate, peer_role, &proven, unix_ms_now())
        .map_err(|e| TransportError::Handshake(e.to_string()))?;
    Ok(Peer {
        hotkey,
        session_key: proven,
        versions,
        certificate,
    })
}

/// The verifier's side. `expected_miner`, when given, must be the miner's hotkey. Returns the
/// miner and its inventory (claims only). `stream` admits only miner kinds from here on.
pub async fn client_handshake(
    connection: &quinn::Connection,
    stream: &mut FramedStream,
    identity: &Identity,
    expected_miner: Option<&Hotkey>,
    timeout: Duration,
) -> Result<(Peer, Inventory), TransportError> {
    stream.set_peer_role(Role::Miner);
    let ours = Hello::current(Role::Validator);
    stream.send(&Message::Hello(ours.clone())).await?;
    stream
        .send(&Message::Certificate(identity.certificate().clone()))
        .await?;
    let peer = read_hello_and_certificate(stream, connection, &ours, Role::Miner, timeout).await?;
    if let Some(expected) = expected_miner
        && *expected != peer.hotkey
    {
        return Err(TransportError::Handshake(format!(
            "the miner at this address is {}, expected {}",
            ss58(&peer.hotkey),
            ss58(expected)
        )));
    }
    let Message::Inventory(inventory) = stream.expect(MessageKind::Inventory, timeout).await?
    else {
        return Err(TransportError::Handshake("expected Inventory".into()));
    };
    Ok((peer, inventory))
}

/// The miner's side. `admit` decides whether the validator's hotkey is served; a refused peer
/// gets a typed [`ErrorMsg`] before the error is returned. `stream` admits only validator kinds
/// from here on.
pub async fn server_handshake(
    connection: &quinn::Connection,
    stream: &mut FramedStream,
    identity: &Identity,
    admit: impl Fn(&Hotkey) -> bool,
    inventory: &Inventory,
    timeout: Duration,
) -> Result<Peer, TransportError> {
    stream.set_peer_role(Role::Validator);
    let ours = Hello::current(Role::Miner);
    let peer = match read_hello_and_certificate(stream, connection, &ours, Role::Validator, timeout)
        .await
    {
        Ok(peer) => peer,
        Err(e) => {
            let code = match &e {
                TransportError::Handshake(d) if d.starts_with("version") => {
                    ErrorCode::VersionMismatch
                }
                TransportError::Handshake(_) => ErrorCode::BadCertificate,
                TransportError::Protocol(p) => ErrorMsg::from(p).code,
                _ => ErrorCode::UnexpectedMessage,
            };
            // Best effort: the peer may be gone already.
            let _ = stream
                .send(&Message::Error(ErrorMsg::new(code, e.to_string())))
                .await;
            stream.finish();
            return Err(e);
        }
    };
    if !admit(&peer.hotkey) {
        let detail = format!("hotkey {} is not allowed on this miner", ss58(&peer.hotkey));
        let _ = stream
            .send(&Message::Error(ErrorMsg::new(
                ErrorCode::NotAllowed,
                detail.clone(),
            )))
            .await;
        stream.finish();
        return Err(TransportError::Handshake(detail));
    }
    stream.send(&Message::Hello(ours)).await?;
    stream
        .send(&Message::Certificate(identity.certificate().clone()))
        .await?;
    stream.send(&Message::Inventory(inventory.clone())).await?;
    Ok(peer)
}
