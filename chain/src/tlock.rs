//! Timelock encryption to a drand quicknet round ("tlock"), byte-compatible with what the
//! subtensor runtime decrypts for timelocked commit-reveal (CR v4).
//!
//! # Scheme
//!
//! Boneh–Franklin IBE (the "FullIdent" variant, with the Fujisaki–Okamoto check) on BLS12-381,
//! where the IBE master public key is drand quicknet's G2 key and the identity of round `n` is
//! `sha256(n as u64 big-endian)` hashed to G1 with RFC 9380
//! (`BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_`). The round's drand signature is then the
//! IBE private key of that identity, so anyone can decrypt once drand has published round `n`
//! and nobody can before. The IBE layer encrypts a random 32-byte AES-256 key; the payload is
//! encrypted with AES-256-GCM under that key (empty associated data, 12-byte nonce).
//!
//! With `P` the G2 generator, `pk` the quicknet key, `Q = H_G1(identity)` and random `σ`, key
//! `k`:
//!
//! * `r = Fr::from_be_bytes_mod_order(sha256(σ ‖ k))`
//! * `U = r·P` (G2), `V = σ ⊕ sha256(ser(e(Q, r·pk)))`, `W = k ⊕ sha256(σ)`
//!
//! where `ser` is arkworks' compressed serialization of the GT (Fq12) element. Decryption with
//! the round signature `s` recovers `σ = V ⊕ sha256(ser(e(s, U)))`, `k = W ⊕ sha256(σ)`, and
//! accepts only if `U = H3(σ, k)·P`: a signature of any other round fails that check.
//!
//! # Ciphertext layout (the runtime's)
//!
//! arkworks `CanonicalSerialize` of the runtime's `TLECiphertext`, where every `Vec<u8>` is a
//! u64 little-endian length followed by the bytes:
//!
//! | field | bytes |
//! |---|---|
//! | `U`, compressed G2 (zcash encoding) | 96 |
//! | `V`: len (8) + 32 | 40 |
//! | `W`: len (8) + 32 | 40 |
//! | `body`: len (8) + [ AES ciphertext with tag: len (8) + `m + 16`; nonce: len (8) + 12 ] | 8 + 44 + m |
//! | `cipher_suite`: len (8) + `"AES_GCM_"` | 16 |
//!
//! `244 + m` bytes for an `m`-byte plaintext ([`CIPHERTEXT_OVERHEAD`]). The crates.io
//! `timelock` 0.3 writes `V` and `W` as fixed 32-byte arrays (16 bytes shorter), which the
//! runtime does not accept; this module writes the layout itself.
//!
//! # Purity and randomness
//!
//! Like the rest of the crate this module does no I/O: the caller passes the randomness
//! ([`TlockRandomness`], from the OS in `chain-client`). The same inputs give the same bytes,
//! which is what lets the test vectors be exact. The arithmetic (arkworks) is not constant
//! time; what it protects is public after the round anyway, and the secrets (`σ`, `k`) are
//! single-use.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ark_bls12_381::{Bls12_381, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::hashing::HashToCurve;
use ark_ec::hashing::curve_maps::wb::WBMap;
use ark_ec::hashing::map_to_curve_hasher::MapToCurveBasedHasher;
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, PrimeGroup};
use ark_ff::PrimeField;
use ark_ff::field_hashers::DefaultFieldHasher;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use sha2::{Digest, Sha256};

/// drand quicknet's group public key: a compressed G2 point (zcash encoding), hex
/// `83cf0f28…f5ece45a` as published in the network's `/info`.
pub const QUICKNET_PUBLIC_KEY: [u8; 96] = [
    0x83, 0xcf, 0x0f, 0x28, 0x96, 0xad, 0xee, 0x7e, 0xb8, 0xb5, 0xf0, 0x1f, //
    0xca, 0xd3, 0x91, 0x22, 0x12, 0xc4, 0x37, 0xe0, 0x07, 0x3e, 0x91, 0x1f, //
    0xb9, 0x00, 0x22, 0xd3, 0xe7, 0x60, 0x18, 0x3c, 0x8c, 0x4b, 0x45, 0x0b, //
    0x6a, 0x0a, 0x6c, 0x3a, 0xc6, 0xa5, 0x77, 0x6a, 0x2d, 0x10, 0x64, 0x51, //
    0x0d, 0x1f, 0xec, 0x75, 0x8c, 0x92, 0x1c, 0xc2, 0x2b, 0x0e, 0x17, 0xe6, //
    0x3a, 0xaf, 0x4b, 0xcb, 0x5e, 0xd6, 0x63, 0x04, 0xde, 0x9c, 0xf8, 0x09, //
    0xbd, 0x27, 0x4c, 0xa7, 0x3b, 0xab, 0x4a, 0xf5, 0xa6, 0xe9, 0xc7, 0x6a, //
    0x4b, 0xc0, 0x9e, 0x76, 0xea, 0xe8, 0x99, 0x1e, 0xf5, 0xec, 0xe4, 0x5a, //
];

/// drand quicknet's chain hash (`52db9ba7…0c84e971`): names the network whose rounds the
/// runtime's drand pallet ingests.
pub const QUICKNET_CHAIN_HASH: [u8; 32] = [
    0x52, 0xdb, 0x9b, 0xa7, 0x0e, 0x0c, 0xc0, 0xf6, 0xea, 0xf7, 0x80, 0x3d, 0xd0, 0x74, 0x47,
    0xa1, //
    0xf5, 0x47, 0x77, 0x35, 0xfd, 0x3f, 0x66, 0x17, 0x92, 0xba, 0x94, 0x60, 0x0c, 0x84, 0xe9,
    0x71, //
];

/// Unix time (seconds) of quicknet round 1.
pub const QUICKNET_GENESIS_TIME: u64 = 1_692_803_367;

/// Seconds between quicknet rounds.
pub const QUICKNET_PERIOD_SECS: u64 = 3;

/// Domain separation tag of quicknet's hash to G1 (RFC 9380 `expand_message_xmd` with SHA-256,
/// simplified SWU): the tag drand signs round messages under.
pub const QUICKNET_DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

/// The `cipher_suite` the runtime expects: AES-256-GCM.
pub const CIPHER_SUITE: &[u8; 8] = b"AES_GCM_";

/// Ciphertext bytes beyond the plaintext: a ciphertext is exactly `244 + plaintext.len()` bytes.
pub const CIPHERTEXT_OVERHEAD: usize = 244;

/// A compressed G1 point: a drand quicknet round signature.
pub type RoundSignature = [u8; 48];

const G2_COMPRESSED: usize = 96;
const AES_TAG: usize = 16;
const AES_NONCE: usize = 12;

/// The single-use secrets of one encryption. Each must be fresh uniform randomness for every
/// ciphertext (reusing `aes_key` with the same `nonce`, or `sigma`, leaks the plaintext's
/// structure); fixed values are for test vectors only.
#[derive(Clone, PartialEq, Eq)]
pub struct TlockRandomness {
    /// The IBE randomness `σ`.
    pub sigma: [u8; 32],
    /// The AES-256-GCM key `k` that the IBE layer carries.
    pub aes_key: [u8; 32],
    /// The AES-GCM nonce.
    pub nonce: [u8; 12],
}

impl std::fmt::Debug for TlockRandomness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlockRandomness(<secret>)")
    }
}

impl TlockRandomness {
    /// Splits 76 random bytes into `σ` (0..32), the AES key (32..64) and the nonce (64..76).
    pub fn from_bytes(bytes: [u8; 76]) -> Self {
        let mut sigma = [0u8; 32];
        let mut aes_key = [0u8; 32];
        let mut nonce = [0u8; 12];
        let (a, rest) = bytes.split_at(32);
        let (b, c) = rest.split_at(32);
        sigma.copy_from_slice(a);
        aes_key.copy_from_slice(b);
        nonce.copy_from_slice(c);
        TlockRandomness {
            sigma,
            aes_key,
            nonce,
        }
    }
}

/// Why a timelock ciphertext could not be produced, parsed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlockError {
    /// The bytes are not a ciphertext in the runtime's layout.
    #[error("malformed timelock ciphertext: {0}")]
    Malformed(String),
    /// The signature bytes are not a compressed G1 point in the prime-order subgroup.
    #[error("the round signature is not a valid compressed BLS12-381 G1 point")]
    InvalidSignature,
    /// The IBE check failed: the signature is not the one of the round the ciphertext was
    /// encrypted to (or the header was altered).
    #[error(
        "the signature does not open this ciphertext (wrong drand round, or a tampered header)"
    )]
    WrongRound,
    /// The AES-GCM tag did not verify: the body was altered.
    #[error("the ciphertext body failed AES-GCM authentication")]
    BodyAuthentication,
    /// An internal step of encryption failed (a curve constant would not load); never expected.
    #[error("timelock encryption failed: {0}")]
    Internal(&'static str),
}

/// The parsed parts of a ciphertext in the runtime's layout (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ciphertext {
    /// `U = r·P`, a compressed G2 point (not checked to be on the curve until decryption).
    pub u: [u8; 96],
    /// `V = σ ⊕ H2(…)`.
    pub v: [u8; 32],
    /// `W = k ⊕ H4(σ)`.
    pub w: [u8; 32],
    /// AES-256-GCM output: the encrypted plaintext followed by the 16-byte tag.
    pub aes_ciphertext: Vec<u8>,
    /// The AES-GCM nonce.
    pub nonce: [u8; 12],
}

fn push_vec(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A cursor over ciphertext bytes that never indexes out of range.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], TlockError> {
        if self.rest.len() < n {
            return Err(TlockError::Malformed(format!(
                "{what}: need {n} bytes, {} left",
                self.rest.len()
            )));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], TlockError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn vec(&mut self, what: &str) -> Result<&'a [u8], TlockError> {
        let len = u64::from_le_bytes(self.array::<8>(what)?);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= self.rest.len())
            .ok_or_else(|| {
                TlockError::Malformed(format!(
                    "{what}: length {len} exceeds the {} bytes left",
                    self.rest.len()
                ))
            })?;
        self.take(len, what)
    }

    fn fixed_vec<const N: usize>(&mut self, what: &str) -> Result<[u8; N], TlockError> {
        let bytes = self.vec(what)?;
        let mut out = [0u8; N];
        if bytes.len() != N {
            return Err(TlockError::Malformed(format!(
                "{what}: {} bytes, expected {N}",
                bytes.len()
            )));
        }
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn finish(&self, what: &str) -> Result<(), TlockError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(TlockError::Malformed(format!(
                "{} trailing bytes after {what}",
                self.rest.len()
            )))
        }
    }
}

impl Ciphertext {
    /// The runtime's serialization: exactly `244 + plaintext length` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(28 + self.aes_ciphertext.len());
        push_vec(&mut body, &self.aes_ciphertext);
        push_vec(&mut body, &self.nonce);
        let mut out = Vec::with_capacity(CIPHERTEXT_OVERHEAD + self.aes_ciphertext.len());
        out.extend_from_slice(&self.u);
        push_vec(&mut out, &self.v);
        push_vec(&mut out, &self.w);
        push_vec(&mut out, &body);
        push_vec(&mut out, CIPHER_SUITE);
        out
    }

    /// Parses the runtime's serialization. Rejects anything else: wrong lengths for `V`, `W` or
    /// the nonce, a cipher suite other than `AES_GCM_`, a body shorter than the GCM tag, or
    /// trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TlockError> {
        let mut r = Reader { rest: bytes };
        let u = r.array::<G2_COMPRESSED>("U")?;
        let v = r.fixed_vec::<32>("V")?;
        let w = r.fixed_vec::<32>("W")?;
        let body = r.vec("body")?;
        let suite = r.vec("cipher_suite")?;
        r.finish("cipher_suite")?;
        if suite != CIPHER_SUITE {
            return Err(TlockError::Malformed(format!(
                "cipher suite {:?}, expected \"AES_GCM_\"",
                String::from_utf8_lossy(suite)
            )));
        }
        let mut b = Reader { rest: body };
        let aes_ciphertext = b.vec("body.ciphertext")?.to_vec();
        let nonce = b.fixed_vec::<AES_NONCE>("body.nonce")?;
        b.finish("body.nonce")?;
        if aes_ciphertext.len() < AES_TAG {
            return Err(TlockError::Malformed(format!(
                "AES-GCM output of {} bytes is shorter than its 16-byte tag",
                aes_ciphertext.len()
            )));
        }
        Ok(Ciphertext {
            u,
            v,
            w,
            aes_ciphertext,
            nonce,
        })
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x ^ y;
    }
    out
}

/// The drand message (IBE identity) of `round`: `sha256(round as u64 big-endian)`.
pub fn round_message(round: u64) -> [u8; 32] {
    sha256(&[&round.to_be_bytes()])
}

/// `Q_round`: [`round_message`] hashed to G1 under [`QUICKNET_DST`].
fn identity_point(round: u64) -> Result<G1Affine, TlockError> {
    let hasher = MapToCurveBasedHasher::<
        G1Projective,
        DefaultFieldHasher<Sha256, 128>,
        WBMap<ark_bls12_381::g1::Config>,
    >::new(QUICKNET_DST)
    .map_err(|_| TlockError::Internal("hash-to-G1 setup"))?;
    hasher
        .hash(&round_message(round))
        .map_err(|_| TlockError::Internal("hash to G1"))
}

fn quicknet_public_key() -> Result<G2Affine, TlockError> {
    G2Affine::deserialize_compressed(&QUICKNET_PUBLIC_KEY[..])
        .map_err(|_| TlockError::Internal("quicknet public key"))
}

/// `H2`: sha256 of the compressed serialization of a pairing value.
fn h2(gt: &<Bls12_381 as Pairing>::TargetField) -> Result<[u8; 32], TlockError> {
    let mut bytes = Vec::with_capacity(576);
    gt.serialize_compressed(&mut bytes)
        .map_err(|_| TlockError::Internal("GT serialization"))?;
    Ok(sha256(&[&bytes]))
}

/// `H3`: the scalar `r` bound to `σ` and the key.
fn h3(sigma: &[u8; 32], key: &[u8; 32]) -> Fr {
    Fr::from_be_bytes_mod_order(&sha256(&[sigma, key]))
}

fn compress_g2(point: G2Projective) -> Result<[u8; 96], TlockError> {
    let mut out = Vec::with_capacity(G2_COMPRESSED);
    point
        .serialize_compressed(&mut out)
        .map_err(|_| TlockError::Internal("G2 serialization"))?;
    let mut u = [0u8; 96];
    if out.len() != G2_COMPRESSED {
        return Err(TlockError::Internal("G2 serialization length"));
    }
    u.copy_from_slice(&out);
    Ok(u)
}

/// Encrypts `plaintext` to drand quicknet round `round`, in the runtime's layout
/// (`244 + plaintext.len()` bytes). Deterministic in its inputs: `randomness` must be fresh for
/// every call outside tests.
pub fn encrypt(
    plaintext: &[u8],
    round: u64,
    randomness: &TlockRandomness,
) -> Result<Vec<u8>, TlockError> {
    Ok(encrypt_parts(plaintext, round, randomness)?.to_bytes())
}

/// [`encrypt`], returning the parsed parts instead of the bytes.
pub fn encrypt_parts(
    plaintext: &[u8],
    round: u64,
    randomness: &TlockRandomness,
) -> Result<Ciphertext, TlockError> {
    let TlockRandomness {
        sigma,
        aes_key,
        nonce,
    } = randomness;
    let pk = quicknet_public_key()?;
    let q_id = identity_point(round)?;
    let r = h3(sigma, aes_key);
    let u = compress_g2(G2Projective::generator() * r)?;
    let g_id = Bls12_381::pairing(q_id, pk * r).0;
    let v = xor32(sigma, &h2(&g_id)?);
    let w = xor32(aes_key, &sha256(&[sigma]));
    let cipher = Aes256Gcm::new(aes_key.into());
    let aes_ciphertext = cipher
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad: b"",
            },
        )
        .map_err(|_| TlockError::Internal("AES-GCM encryption"))?;
    Ok(Ciphertext {
        u,
        v,
        w,
        aes_ciphertext,
        nonce: *nonce,
    })
}

fn parse_signature(signature: &RoundSignature) -> Result<G1Affine, TlockError> {
    G1Affine::deserialize_compressed(&signature[..]).map_err(|_| TlockError::InvalidSignature)
}

/// Decrypts a ciphertext in the runtime's layout with the drand signature of the round it was
/// encrypted to. Any other round's signature gives [`TlockError::WrongRound`]; an altered body
/// gives [`TlockError::BodyAuthentication`]. This is what the runtime does once the round's
/// pulse is on chain, and what tests use to check ciphertexts against published signatures.
pub fn decrypt_with_signature(
    ciphertext: &[u8],
    signature: &RoundSignature,
) -> Result<Vec<u8>, TlockError> {
    let ct = Ciphertext::from_bytes(ciphertext)?;
    let sig = parse_signature(signature)?;
    let u = G2Affine::deserialize_compressed(&ct.u[..])
        .map_err(|_| TlockError::Malformed("U is not a compressed G2 point".into()))?;
    let sigma = xor32(&ct.v, &h2(&Bls12_381::pairing(sig, u).0)?);
    let aes_key = xor32(&ct.w, &sha256(&[&sigma]));
    if (G2Projective::generator() * h3(&sigma, &aes_key)) != u.into_group() {
        return Err(TlockError::WrongRound);
    }
    Aes256Gcm::new((&aes_key).into())
        .decrypt(
            Nonce::from_slice(&ct.nonce),
            Payload {
                msg: &ct.aes_ciphertext,
                aad: b"",
            },
        )
        .map_err(|_| TlockError::BodyAuthentication)
}

/// Whether `signature` is drand quicknet's signature of `round`:
/// `e(signature, P) = e(H_G1(round_message(round)), pk)`. False for malformed bytes.
pub fn verify_round_signature(round: u64, signature: &RoundSignature) -> bool {
    let (Ok(sig), Ok(q_id), Ok(pk)) = (
        parse_signature(signature),
        identity_point(round),
        quicknet_public_key(),
    ) else {
        return false;
    };
    Bls12_381::pairing(sig, G2Affine::generator()) == Bls12_381::pairing(q_id, pk)
}

/// The quicknet round whose signature drand publishes at or before Unix time `unix_secs`
/// (round 1 at genesis): `floor((t − genesis) / 3) + 1`, 0 before genesis.
pub fn round_at(unix_secs: u64) -> u64 {
    match unix_secs.checked_sub(QUICKNET_GENESIS_TIME) {
        Some(elapsed) => elapsed / QUICKNET_PERIOD_SECS + 1,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn randomness(seed: u8) -> TlockRandomness {
        let mut bytes = [0u8; 76];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = seed.wrapping_mul(31).wrapping_add(i as u8);
        }
        TlockRandomness::from_bytes(bytes)
    }

    #[test]
    fn layout_round_trips_and_has_the_fixed_overhead() {
        let ct = encrypt(b"hello", 7, &randomness(1)).unwrap();
        assert_eq!(ct.len(), CIPHERTEXT_OVERHEAD + 5);
        let parts = Ciphertext::from_bytes(&ct).unwrap();
        assert_eq!(parts.to_bytes(), ct);
        assert_eq!(&ct[96..104], &32u64.to_le_bytes());
        assert_eq!(&ct[ct.len() - 16..ct.len() - 8], &8u64.to_le_bytes());
        assert_eq!(&ct[ct.len() - 8..], CIPHER_SUITE);
    }

    #[test]
    fn malformed_bytes_are_errors_not_panics() {
        let ct = encrypt(b"hello", 7, &randomness(2)).unwrap();
        for cut in 0..ct.len() {
            assert!(Ciphertext::from_bytes(&ct[..cut]).is_err(), "cut {cut}");
        }
        let mut long = ct.clone();
        long.push(0);
        assert!(Ciphertext::from_bytes(&long).is_err());
        let mut suite = ct.clone();
        let n = suite.len();
        suite[n - 1] = b'X';
        assert!(matches!(
            Ciphertext::from_bytes(&suite),
            Err(TlockError::Malformed(_))
        ));
        let mut huge = ct;
        huge[96..104].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Ciphertext::from_bytes(&huge).is_err());
    }

    #[test]
    fn rounds_at_times() {
        assert_eq!(round_at(QUICKNET_GENESIS_TIME - 1), 0);
        assert_eq!(round_at(QUICKNET_GENESIS_TIME), 1);
        assert_eq!(round_at(QUICKNET_GENESIS_TIME + 2), 1);
        assert_eq!(round_at(QUICKNET_GENESIS_TIME + 3), 2);
    }
}
