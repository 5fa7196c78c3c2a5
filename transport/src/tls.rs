//! TLS 1.3 for QUIC with raw ed25519 public keys (RFC 7250) on both sides, and no certificate
//! authority: the TLS handshake proves that each peer holds the secret of the ed25519 session
//! key it presents; who that key belongs to is then settled by the hotkey certificate each side
//! sends inside the connection ([`crate::handshake`]).
//!
//! Both verifiers accept any well-formed ed25519 key (and nothing else: no RSA, no ECDSA, no
//! X.509 chain) and check every handshake signature with it. Client authentication is
//! mandatory. The peer's key is read back with [`peer_session_key`].

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use protocol::SessionKey;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{
    CertificateDer, PrivatePkcs8KeyDer, ServerName, SubjectPublicKeyInfoDer, UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::error::TransportError;

/// The ALPN protocol id both sides require.
pub const ALPN: &[u8] = b"gpuproof/1";

/// DER prefix of an ed25519 SubjectPublicKeyInfo (RFC 8410): the key's 32 bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// DER prefix of an ed25519 PKCS#8 v1 private key (RFC 8410): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The SubjectPublicKeyInfo DER of an ed25519 public key.
pub fn spki_of(key: &SessionKey) -> Vec<u8> {
    let mut out = ED25519_SPKI_PREFIX.to_vec();
    out.extend_from_slice(key.as_bytes());
    out
}

/// The ed25519 key in a SubjectPublicKeyInfo DER, if that is what it is (exactly).
pub fn session_key_of_spki(spki: &[u8]) -> Option<SessionKey> {
    let rest = spki.strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    let bytes: [u8; 32] = rest.try_into().ok()?;
    Some(SessionKey::new(bytes))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certified_key(key: &SigningKey) -> Result<Arc<rustls::sign::CertifiedKey>, TransportError> {
    let mut pkcs8 = ED25519_PKCS8_PREFIX.to_vec();
    pkcs8.extend_from_slice(&key.to_bytes());
    let der = PrivatePkcs8KeyDer::from(pkcs8);
    let signer = rustls::crypto::ring::sign::any_eddsa_type(&der)
        .map_err(|e| TransportError::Setup(format!("ed25519 key rejected by rustls: {e}")))?;
    let spki = spki_of(&SessionKey::of(key));
    Ok(Arc::new(rustls::sign::CertifiedKey::new(
        vec![CertificateDer::from(spki)],
        signer,
    )))
}

/// Accepts exactly one raw ed25519 key and verifies handshake signatures with it.
#[derive(Debug)]
struct RawEd25519Verifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl RawEd25519Verifier {
    fn new() -> Self {
        Self {
            algorithms: provider().signature_verification_algorithms,
        }
    }

    fn check_key(end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        session_key_of_spki(end_entity.as_ref()).map(|_| ()).ok_or(
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding),
        )
    }

    /// A raw key is one "certificate" with no chain behind it.
    fn check_chain(
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadEncoding,
            ));
        }
        Self::check_key(end_entity)
    }

    fn verify13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if dss.scheme != SignatureScheme::ED25519 {
            return Err(rustls::Error::PeerIncompatible(
                rustls::PeerIncompatible::NoSignatureSchemesInCommon,
            ));
        }
        Self::check_key(cert)?;
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(cert.as_ref()),
            dss,
            &self.algorithms,
        )
    }
}

/// QUIC is TLS 1.3 only: a TLS 1.2 signature is never accepted.
fn tls12_refused() -> Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::PeerIncompatible(
        rustls::PeerIncompatible::Tls13RequiredForQuic,
    ))
}

impl ServerCertVerifier for RawEd25519Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Self::check_chain(end_entity, intermediates)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

impl ClientCertVerifier for RawEd25519Verifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Self::check_chain(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

/// The rustls server config of a miner presenting `key`.
pub fn server_config(key: &SigningKey) -> Result<rustls::ServerConfig, TransportError> {
    let setup = |e: rustls::Error| TransportError::Setup(e.to_string());
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(setup)?
        .with_client_cert_verifier(Arc::new(RawEd25519Verifier::new()))
        .with_cert_resolver(Arc::new(
            rustls::server::AlwaysResolvesServerRawPublicKeys::new(certified_key(key)?),
        ));
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.max_early_data_size = 0;
    Ok(config)
}

/// The rustls client config of a verifier presenting `key`.
pub fn client_config(key: &SigningKey) -> Result<rustls::ClientConfig, TransportError> {
    let setup = |e: rustls::Error| TransportError::Setup(e.to_string());
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(setup)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RawEd25519Verifier::new()))
        .with_client_cert_resolver(Arc::new(
            rustls::client::AlwaysResolvesClientRawPublicKeys::new(certified_key(key)?),
        ));
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.enable_early_data = false;
    Ok(config)
}

/// The ed25519 session key the peer of `connection` proved in the TLS handshake.
pub fn peer_session_key(connection: &quinn::Connection) -> Option<SessionKey> {
    let identity = connection.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    match certs.as_slice() {
        [one] => session_key_of_spki(one.as_ref()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn spki_round_trips_and_rejects_other_keys() {
        let key = SessionKey::new([9; 32]);
        assert_eq!(session_key_of_spki(&spki_of(&key)), Some(key));
        let mut long = spki_of(&key);
        long.push(0);
        assert_eq!(session_key_of_spki(&long), None);
        assert_eq!(session_key_of_spki(&spki_of(&key)[..43]), None);
        let mut other_alg = spki_of(&key);
        other_alg[8] = 0x71; // Ed448's OID ends in 0x71
        assert_eq!(session_key_of_spki(&other_alg), None);
    }

    #[test]
    fn configs_build_for_a_fresh_key() {
        let key = SigningKey::from_bytes(&[5; 32]);
        server_config(&key).unwrap();
        client_config(&key).unwrap();
    }
}
