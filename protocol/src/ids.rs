//! Fixed-size byte newtypes: keys, hashes, nonces and identifiers.
//!
//! Each type wraps a `[u8; N]` so that a hotkey can never be passed where a module hash is
//! expected. All of them encode as a CBOR byte string of exactly `N` bytes (never an array of
//! integers), decode only from a byte string of exactly `N` bytes, print as lowercase hex and
//! parse from hex with [`FromStr`].

#![deny(clippy::indexing_slicing)]

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bytes;
use crate::error::ProtocolError;

/// Writes `bytes` as lowercase hex.
pub(crate) fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

/// Parses exactly `N` bytes of hex (upper or lower case, no prefix).
fn parse_hex<const N: usize>(what: &'static str, s: &str) -> Result<[u8; N], ProtocolError> {
    let invalid = |reason: String| ProtocolError::InvalidHex { what, reason };
    if s.len() != N.saturating_mul(2) {
        return Err(invalid(format!(
            "expected {} hex digits, got {}",
            N * 2,
            s.len()
        )));
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        let hi = hex_digit(pair.first().copied());
        let lo = hex_digit(pair.get(1).copied());
        match (hi, lo) {
            (Some(hi), Some(lo)) => *byte = (hi << 4) | lo,
            _ => {
                return Err(invalid(format!(
                    "{s:?} contains a character that is not hex"
                )));
            }
        }
    }
    Ok(out)
}

fn hex_digit(c: Option<u8>) -> Option<u8> {
    match c? {
        c @ b'0'..=b'9' => Some(c - b'0'),
        c @ b'a'..=b'f' => Some(c - b'a' + 10),
        c @ b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

macro_rules! byte_newtype {
    ($(#[$doc:meta])* $name:ident, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length of the value in bytes.
            pub const LEN: usize = $len;

            /// Wraps raw bytes.
            pub const fn new(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Unwraps into the raw bytes.
            pub const fn into_bytes(self) -> [u8; $len] {
                self.0
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl From<$name> for [u8; $len] {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            /// Lowercase hex, `2 × LEN` digits.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "("))?;
                write_hex(f, &self.0)?;
                write!(f, ")")
            }
        }

        impl FromStr for $name {
            type Err = ProtocolError;

            /// Parses exactly `2 × LEN` hex digits (no `0x` prefix).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex::<$len>(stringify!($name), s).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                bytes::fixed::serialize(&self.0, serializer)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                bytes::fixed::deserialize(deserializer).map(Self)
            }
        }
    };
}

byte_newtype!(
    /// A miner's or validator's chain identity: an sr25519 public key (`AccountId32`).
    ///
    /// This crate only carries it; checking it against the metagraph is the caller's job.
    Hotkey,
    32
);

byte_newtype!(
    /// An ed25519 public key that signs protocol messages for one session.
    ///
    /// Bound to a [`Hotkey`] by a certificate checked during the handshake (outside this crate).
    SessionKey,
    32
);

byte_newtype!(
    /// BLAKE3 hash of a challenge module's bytes: names the module independently of transport.
    ModuleHash,
    32
);

byte_newtype!(
    /// The 32-byte secret of a [`Go`](crate::Go) from which the challenge seed is derived.
    Nonce,
    32
);

byte_newtype!(
    /// A commitment root (BLAKE3 Merkle root) of one challenge output.
    Root,
    32
);

byte_newtype!(
    /// Identifier of one challenge, chosen by the validator; unique per validator.
    ChallengeId,
    16
);

byte_newtype!(
    /// A 32-byte digest naming a signed envelope (see [`Signed::digest`](crate::Signed::digest)).
    Digest,
    32
);

impl ModuleHash {
    /// The BLAKE3 hash of `module_bytes`: the only way a module hash is computed.
    pub fn of(module_bytes: &[u8]) -> Self {
        Self(*blake3::hash(module_bytes).as_bytes())
    }
}

impl SessionKey {
    /// The public session key of `key`.
    pub fn of(key: &ed25519_dalek::SigningKey) -> Self {
        Self(key.verifying_key().to_bytes())
    }
}

impl From<ed25519_dalek::VerifyingKey> for SessionKey {
    fn from(key: ed25519_dalek::VerifyingKey) -> Self {
        Self(key.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = ChallengeId::new([0xab; 16]);
        let text = id.to_string();
        assert_eq!(text, "ab".repeat(16));
        assert_eq!(text.parse::<ChallengeId>().unwrap(), id);
        assert_eq!("AB".repeat(16).parse::<ChallengeId>().unwrap(), id);
        assert_eq!(format!("{id:?}"), format!("ChallengeId({text})"));
    }

    #[test]
    fn hex_rejects_bad_input() {
        assert!("ab".parse::<Digest>().is_err());
        assert!("zz".repeat(32).parse::<Digest>().is_err());
        // Multi-byte characters must not panic on a char boundary.
        assert!("é".repeat(32).parse::<Digest>().is_err());
        assert!("0x".repeat(32).parse::<Digest>().is_err());
    }

    #[test]
    fn module_hash_is_blake3() {
        assert_eq!(
            ModuleHash::of(b"abc").as_bytes(),
            blake3::hash(b"abc").as_bytes()
        );
    }
}
