//! [`SessionCertificate`]: binds a session's ed25519 key to the sender's sr25519 chain hotkey,
//! and [`Ping`]/[`Pong`], which the verifier uses to measure the round-trip time itself.
//!
//! Each side sends its certificate right after its [`Hello`](crate::Hello). The transport has
//! already proved, in the TLS handshake, that the peer holds the session key's secret; the
//! certificate adds that the hotkey's owner vouches for that session key until `not_after_ms`,
//! for the stated role. This crate only carries the certificate and defines the exact bytes the
//! hotkey signs ([`SessionCertificate::signing_bytes`]); the sr25519 check is the caller's
//! (this crate has no sr25519 code).

use serde::{Deserialize, Serialize};

use crate::bytes;
use crate::ids::{Hotkey, SessionKey};
use crate::messages::hello::Role;

/// Domain separation for what a hotkey signs in a certificate.
pub const CERTIFICATE_CONTEXT: &[u8] = b"gpuproof/session-certificate/v1";

/// A session key vouched for by a chain hotkey (signed with sr25519, substrate's `substrate`
/// signing context).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCertificate {
    /// The role the key may act in: a validator's certificate cannot serve as a miner's.
    pub role: Role,
    /// The ed25519 session key the hotkey vouches for.
    pub session_key: SessionKey,
    /// The sr25519 hotkey (chain identity) that signs.
    pub hotkey: Hotkey,
    /// Unix time in ms after which the certificate is void.
    pub not_after_ms: u64,
    /// sr25519 signature by `hotkey` over [`signing_bytes`](Self::signing_bytes).
    #[serde(
        serialize_with = "bytes::fixed::serialize::<_, 64>",
        deserialize_with = "bytes::fixed::deserialize::<_, 64>"
    )]
    pub signature: [u8; 64],
}

impl SessionCertificate {
    /// The exact bytes the hotkey signs: [`CERTIFICATE_CONTEXT`] ‖ role byte (1 validator,
    /// 2 miner) ‖ session key (32) ‖ hotkey (32) ‖ `not_after_ms` (u64 LE). Fixed length, so no
    /// two different certificates share signing bytes.
    pub fn signing_bytes(
        role: Role,
        session_key: &SessionKey,
        hotkey: &Hotkey,
        not_after_ms: u64,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(CERTIFICATE_CONTEXT.len() + 1 + 32 + 32 + 8);
        out.extend_from_slice(CERTIFICATE_CONTEXT);
        out.push(match role {
            Role::Validator => 1,
            Role::Miner => 2,
        });
        out.extend_from_slice(session_key.as_bytes());
        out.extend_from_slice(hotkey.as_bytes());
        out.extend_from_slice(&not_after_ms.to_le_bytes());
        out
    }

    /// The signing bytes of this certificate.
    pub fn to_signing_bytes(&self) -> Vec<u8> {
        Self::signing_bytes(
            self.role,
            &self.session_key,
            &self.hotkey,
            self.not_after_ms,
        )
    }
}

/// Verifier → miner: answer with a [`Pong`] echoing `seq` at once. The verifier times the
/// round trip on its own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ping {
    /// Sequence number chosen by the verifier.
    pub seq: u64,
}

/// Miner → verifier: the answer to a [`Ping`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pong {
    /// The `seq` of the ping answered.
    pub seq: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn signing_bytes_bind_every_field() {
        let base = SessionCertificate::signing_bytes(
            Role::Validator,
            &SessionKey::new([1; 32]),
            &Hotkey::new([2; 32]),
            7,
        );
        assert_eq!(base.len(), CERTIFICATE_CONTEXT.len() + 73);
        let variants = [
            SessionCertificate::signing_bytes(
                Role::Miner,
                &SessionKey::new([1; 32]),
                &Hotkey::new([2; 32]),
                7,
            ),
            SessionCertificate::signing_bytes(
                Role::Validator,
                &SessionKey::new([3; 32]),
                &Hotkey::new([2; 32]),
                7,
            ),
            SessionCertificate::signing_bytes(
                Role::Validator,
                &SessionKey::new([1; 32]),
                &Hotkey::new([3; 32]),
                7,
            ),
            SessionCertificate::signing_bytes(
                Role::Validator,
                &SessionKey::new([1; 32]),
                &Hotkey::new([2; 32]),
                8,
            ),
        ];
        for v in variants {
            assert_ne!(v, base);
        }
    }
}
