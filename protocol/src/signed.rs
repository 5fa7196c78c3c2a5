//! [`Signed<T>`]: an ed25519-signed envelope around the exact CBOR bytes of a message.
//!
//! The signature covers `b"gpuproof v1 signed " ‖ T::TAG ‖ 0x00 ‖ body`, so a signature made
//! for one message type never verifies as another, and bytes signed by gpuproof are never a
//! valid signature in another protocol. Verification is `verify_strict` (no small-order keys,
//! canonical `S`) over the body bytes as received, then the body is decoded and must be the
//! one canonical encoding of its value.
//!
//! An envelope is named by [`Signed::digest`]: BLAKE3 `derive_key` over the envelope's CBOR
//! encoding, which is a function of `(body, signer, signature)` only.
#![deny(clippy::indexing_slicing)]

use core::fmt;
use core::marker::PhantomData;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::bytes;
use crate::codec;
use crate::error::ProtocolError;
use crate::ids::{Digest, SessionKey};
use crate::limits::MAX_FRAME_PAYLOAD;

/// Prefix of every signed message (domain separation from any other protocol).
pub const SIGNING_PREFIX: &[u8] = b"gpuproof v1 signed ";

/// BLAKE3 `derive_key` context of [`Signed::digest`].
pub const ENVELOPE_DIGEST_CONTEXT: &str = "gpuproof v1 envelope digest";

/// A message type that can be signed.
///
/// `TAG` is unique among signable types and contains no NUL byte; it is part of the signed
/// bytes, so a signature binds the type as well as the content.
pub trait Signable: Serialize + DeserializeOwned {
    /// The type's unique tag in the signed message.
    const TAG: &'static str;
}

/// A signed envelope holding the exact CBOR bytes of a `T`.
///
/// It can only be built by [`Signed::sign`] or parsed from bytes; the body is only readable as
/// a `T` through [`Signed::verify`] / [`Signed::verify_from`].
pub struct Signed<T> {
    body: Vec<u8>,
    signer: SessionKey,
    signature: [u8; 64],
    _type: PhantomData<fn() -> T>,
}

/// The envelope as CBOR: a map `{ "body": bstr, "signer": bstr(32), "signature": bstr(64) }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    #[serde(deserialize_with = "bytes::bounded::deserialize::<_, MAX_FRAME_PAYLOAD>")]
    body: Vec<u8>,
    signer: SessionKey,
    #[serde(with = "bytes::fixed")]
    signature: [u8; 64],
}

impl<T: Signable> Signed<T> {
    /// Encodes `value` and signs it with `key`.
    ///
    /// Fails only if `value` breaks a field limit (see [`crate::limits`]).
    pub fn sign(key: &SigningKey, value: &T) -> Result<Self, ProtocolError> {
        let body = codec::encode(T::TAG, value)?;
        let signature = key.sign(&signing_message(T::TAG, &body)).to_bytes();
        Ok(Self {
            body,
            signer: SessionKey::of(key),
            signature,
            _type: PhantomData,
        })
    }

    /// Checks the signature over the exact body bytes, then decodes the body.
    ///
    /// Rejects an invalid signer key, a signature that fails `verify_strict` (including one
    /// made for another message type), a body that does not decode as `T`, and a body that is
    /// not the canonical encoding of the value it decodes to.
    pub fn verify(&self) -> Result<T, ProtocolError> {
        let what = T::TAG;
        let key = VerifyingKey::from_bytes(self.signer.as_bytes()).map_err(|_| {
            ProtocolError::InvalidSigner {
                what,
                signer: self.signer,
            }
        })?;
        key.verify_strict(
            &signing_message(what, &self.body),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| ProtocolError::BadSignature {
            what,
            signer: self.signer,
        })?;
        let value: T = codec::decode(what, &self.body)?;
        if codec::encode(what, &value)? != self.body {
            return Err(ProtocolError::NonCanonical { what });
        }
        Ok(value)
    }

    /// Like [`verify`](Self::verify), but first requires the signer to be `expected` (the
    /// session key the peer authenticated with).
    pub fn verify_from(&self, expected: &SessionKey) -> Result<T, ProtocolError> {
        if self.signer != *expected {
            return Err(ProtocolError::WrongSigner {
                what: T::TAG,
                expected: *expected,
                got: self.signer,
            });
        }
        self.verify()
    }

    /// Parses an envelope from its CBOR bytes. The signature is not checked here.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let envelope: Envelope =
            codec::decode(T::TAG, bytes).map_err(|e| ProtocolError::Unsigned {
                what: T::TAG,
                reason: e.to_string(),
            })?;
        let signed = Self {
            body: envelope.body,
            signer: envelope.signer,
            signature: envelope.signature,
            _type: PhantomData,
        };
        // Only the canonical encoding is accepted, so no byte of an envelope can change
        // unnoticed (serde would also take a key written as a byte string, say).
        if !signed.is_encoded_as(bytes) {
            return Err(ProtocolError::Unsigned {
                what: T::TAG,
                reason: "the envelope is not in canonical CBOR (a map of text keys body, \
                         signer, signature, in that order, with definite lengths)"
                    .to_string(),
            });
        }
        Ok(signed)
    }
}

impl<T> Signed<T> {
    /// The signed body: the CBOR bytes of the `T`, unverified.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The session key that claims to have signed it (unverified until `verify`).
    pub fn signer(&self) -> &SessionKey {
        &self.signer
    }

    /// The 64-byte ed25519 signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The envelope's CBOR encoding, as sent on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len().saturating_add(128));
        self.write_cbor(&mut |part| out.extend_from_slice(part));
        out
    }

    /// Whether `bytes` is exactly this envelope's canonical encoding (compared in parts, with
    /// no copy).
    fn is_encoded_as(&self, bytes: &[u8]) -> bool {
        let mut rest = bytes;
        let mut same = true;
        self.write_cbor(&mut |part| match rest.split_at_checked(part.len()) {
            Some((head, tail)) if same && head == part => rest = tail,
            _ => same = false,
        });
        same && rest.is_empty()
    }

    /// The name of this envelope: `blake3::derive_key(ENVELOPE_DIGEST_CONTEXT, to_bytes())`.
    ///
    /// Later messages cite it (`Go::prepare`, `Commitment::challenge`) to say what they answer.
    pub fn digest(&self) -> Digest {
        let mut hasher = blake3::Hasher::new_derive_key(ENVELOPE_DIGEST_CONTEXT);
        self.write_cbor(&mut |part| {
            hasher.update(part);
        });
        Digest::new(*hasher.finalize().as_bytes())
    }

    /// Writes the canonical CBOR of the envelope, in parts (so digesting needs no copy).
    ///
    /// Identical to what ciborium writes for the `Envelope` struct (checked by a test).
    pub(crate) fn write_cbor(&self, sink: &mut dyn FnMut(&[u8])) {
        sink(&[0xa3]); // map of 3 pairs
        write_text(sink, "body");
        write_bytes(sink, &self.body);
        write_text(sink, "signer");
        write_bytes(sink, self.signer.as_bytes());
        write_text(sink, "signature");
        write_bytes(sink, &self.signature);
    }
}

/// `SIGNING_PREFIX ‖ tag ‖ 0x00 ‖ body`.
fn signing_message(tag: &str, body: &[u8]) -> Vec<u8> {
    let len = SIGNING_PREFIX
        .len()
        .saturating_add(tag.len())
        .saturating_add(1);
    let mut msg = Vec::with_capacity(len.saturating_add(body.len()));
    msg.extend_from_slice(SIGNING_PREFIX);
    msg.extend_from_slice(tag.as_bytes());
    msg.push(0);
    msg.extend_from_slice(body);
    msg
}

/// A minimal-length CBOR head of major type `major` with argument `len`.
fn write_head(sink: &mut dyn FnMut(&[u8]), major: u8, len: usize) {
    let major = major << 5;
    let len = len as u64;
    if let Ok(small) = u8::try_from(len) {
        if small < 24 {
            sink(&[major | small]);
        } else {
            sink(&[major | 24, small]);
        }
    } else if let Ok(len) = u16::try_from(len) {
        sink(&[major | 25]);
        sink(&len.to_be_bytes());
    } else if let Ok(len) = u32::try_from(len) {
        sink(&[major | 26]);
        sink(&len.to_be_bytes());
    } else {
        sink(&[major | 27]);
        sink(&len.to_be_bytes());
    }
}

fn write_bytes(sink: &mut dyn FnMut(&[u8]), bytes: &[u8]) {
    write_head(sink, 2, bytes.len());
    sink(bytes);
}

fn write_text(sink: &mut dyn FnMut(&[u8]), text: &str) {
    write_head(sink, 3, text.len());
    sink(text.as_bytes());
}

impl<T> Clone for Signed<T> {
    fn clone(&self) -> Self {
        Self {
            body: self.body.clone(),
            signer: self.signer,
            signature: self.signature,
            _type: PhantomData,
        }
    }
}

impl<T> PartialEq for Signed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body && self.signer == other.signer && self.signature == other.signature
    }
}

impl<T> Eq for Signed<T> {}

impl<T> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("type", &core::any::type_name::<T>())
            .field("body_len", &self.body.len())
            .field("signer", &self.signer)
            .field("digest", &self.digest())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    struct EnvelopeOut<'a> {
        #[serde(serialize_with = "bytes::bounded::serialize::<_, MAX_FRAME_PAYLOAD>")]
        body: &'a [u8],
        signer: SessionKey,
        #[serde(with = "bytes::fixed")]
        signature: [u8; 64],
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Blob(
        #[serde(
            serialize_with = "bytes::bounded::serialize::<_, { usize::MAX }>",
            deserialize_with = "bytes::bounded::deserialize::<_, { usize::MAX }>"
        )]
        Vec<u8>,
    );

    impl Signable for Blob {
        const TAG: &'static str = "test-blob";
    }

    #[test]
    fn manual_envelope_encoding_matches_ciborium() {
        let key = SigningKey::from_bytes(&[9; 32]);
        for len in [0usize, 1, 23, 24, 255, 256, 65_535, 65_536, 70_000] {
            let signed = Signed::sign(&key, &Blob(vec![0x5a; len])).unwrap();
            let reference = codec::encode(
                "envelope",
                &EnvelopeOut {
                    body: &signed.body,
                    signer: signed.signer,
                    signature: signed.signature,
                },
            )
            .unwrap();
            assert_eq!(signed.to_bytes(), reference, "body of {len} bytes");
            assert_eq!(
                signed.digest().into_bytes(),
                blake3::derive_key(ENVELOPE_DIGEST_CONTEXT, &reference)
            );
            let back = Signed::<Blob>::from_bytes(&reference).unwrap();
            assert_eq!(back, signed);
            assert_eq!(back.verify().unwrap(), Blob(vec![0x5a; len]));
        }
    }
}
