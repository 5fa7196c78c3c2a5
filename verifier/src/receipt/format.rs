//! The receipt's body ([`Receipt`]) and its parts, as the validator signs them: plain serde
//! types encoded as CBOR by ciborium, every byte field a CBOR byte string, every signed
//! message kept as the exact envelope bytes that travelled.
//!
//! Times are nanoseconds on the validator's monotonic clock, counted from the moment its
//! `Prepare` was sent (so only differences mean anything); `at_ms` dates the receipt in Unix
//! milliseconds.

use core::fmt;

use protocol::{
    ErrorMsg, GpuInfo, Hotkey, Inventory, LeafRef, ModuleHash, Openings, SessionCertificate,
    Signable,
};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use validator_store::VerdictKind;

use crate::classes::CpuRates;
use crate::session::{Envelope, Verdict};

/// The receipt format this build writes and audits.
pub const RECEIPT_FORMAT: u16 = 1;

/// A verification receipt: everything needed to re-check one recorded verdict, signed by the
/// validator's session key (as `Signed<Receipt>`, tag `receipt`) with its hotkey certificate
/// inside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// [`RECEIPT_FORMAT`].
    pub format: u16,
    /// The protocol version the challenge ran under.
    pub protocol_version: u16,
    /// The class table the verdict was judged under (`ClassTable::hash`).
    pub class_table: B32,
    /// The validator's hotkey.
    pub validator: Hotkey,
    /// The miner's hotkey.
    pub miner: Hotkey,
    /// The validator's session certificate: its hotkey vouches for the key that signs this.
    pub validator_certificate: SessionCertificate,
    /// The miner's session certificate, as its handshake showed it (`None` when the handshake
    /// did not get that far): its hotkey vouches for the key that signed the miner's messages.
    pub miner_certificate: Option<SessionCertificate>,
    /// When the round against the miner began, Unix ms (the certificates must be valid then).
    pub at_ms: u64,
    /// What was judged.
    pub subject: Subject,
}

impl Signable for Receipt {
    const TAG: &'static str = "receipt";
}

/// What a receipt is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Subject {
    /// One challenge of one device.
    Challenge(Box<ChallengeRecord>),
    /// A miner-level verdict: nothing could be challenged (unreachable, an inventory that
    /// cannot be challenged).
    MinerFault(FaultRecord),
}

/// A miner-level verdict (no device challenged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRecord {
    /// Where it happened: `connection` or `inventory`.
    pub stage: String,
    /// The verdict kind: `timeout` or `protocol-error`.
    pub kind: VerdictKind,
    /// What happened, for a person.
    pub detail: String,
    /// The inventory the miner sent, when it sent one (unsigned: the validator's word).
    pub inventory: Option<Inventory>,
}

/// A signed message as its envelope's exact CBOR bytes, with its time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedBytes {
    /// Sending time for the validator's messages, arrival time for the miner's (ns).
    pub at_ns: u64,
    /// The envelope (`Signed<T>::to_bytes`).
    pub envelope: Buf,
}

/// One challenge of one device: what was asked, what came back, when, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRecord {
    /// The module's name (informational; the hash decides).
    pub module: String,
    /// BLAKE3 of the module's bytes.
    pub module_hash: ModuleHash,
    /// The module's binary params.
    pub params: Buf,
    /// The device index challenged.
    pub device: u32,
    /// The inventory entry claimed for the device (unsigned: the validator's word).
    pub claimed: Option<GpuInfo>,
    /// The class the claimed name maps to.
    pub class: Option<String>,
    /// The `cpu` class's rates as calibrated on the validator's machine (`None` for GPU
    /// classes).
    pub cpu_rates: Option<CpuRates>,
    /// Whether the machine was rented (the small challenge, with the rented window).
    pub rented: bool,
    /// The window of the whole challenge (`None` when the challenge was never planned).
    pub envelope: Option<Envelope>,
    /// The window of each interactive phase (empty for a one-phase module).
    pub phase_envelopes: Vec<Envelope>,
    /// The minimum RTT measured before the challenge (ns).
    pub min_rtt_ns: u64,
    /// The most RTT credited (ns).
    pub rtt_cap_ns: u64,
    /// Leaves to open.
    pub openings: u32,
    /// Positions sampled per opened leaf by sampling modules.
    pub samples: u32,
    /// How long the session waited for `Ready`, each phase, and the openings (ns).
    pub timeouts: TimeoutsNs,
    /// The challenge seed the validator derived (`challenges::prf::challenge_seed`).
    pub seed: Option<B32>,
    /// The nonce of the validator's `Go`.
    pub nonce: Option<B32>,
    /// The nonce of each `PhaseKey`, in order.
    pub phase_nonces: Vec<B32>,
    /// The seed of each phase after the first (`challenges::prf::phase_seed`).
    pub phase_seeds: Vec<B32>,
    /// The validator's signed `Prepare`.
    pub prepare: Option<TimedBytes>,
    /// When the miner's `Ready` arrived (ns).
    pub ready_ns: Option<u64>,
    /// The validator's signed `Go` (the clock starts).
    pub go: Option<TimedBytes>,
    /// Every `PhaseDone` the miner sent, as received.
    pub phase_dones: Vec<TimedBytes>,
    /// The validator's signed `PhaseKey`s, in order.
    pub phase_keys: Vec<TimedBytes>,
    /// The miner's signed `Commitment`, as received.
    pub commitment: Option<TimedBytes>,
    /// When the `Open` was sent (ns).
    pub open_ns: Option<u64>,
    /// The leaves drawn after the commitment, in order.
    pub leaves: Vec<LeafRef>,
    /// The secret salt of each leaf (sampling modules pick their positions from it).
    pub salts: Vec<B32>,
    /// The miner's `Openings`, as received, and when.
    pub openings_received: Option<TimedOpenings>,
    /// A refusal the miner sent instead of an answer, and when.
    pub peer_error: Option<TimedError>,
    /// The verdict recorded.
    pub verdict: Verdict,
}

/// The session's timeouts, in ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsNs {
    /// From `Prepare` to `Ready`.
    pub ready: u64,
    /// From the start of each phase to its end.
    pub commitment: u64,
    /// From `Open` to the `Openings`.
    pub openings: u64,
}

/// The `Openings` as received, with their arrival time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedOpenings {
    /// Arrival (ns).
    pub at_ns: u64,
    /// The openings.
    pub openings: Openings,
}

/// A refusal as received, with its arrival time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedError {
    /// Arrival (ns).
    pub at_ns: u64,
    /// The refusal.
    pub error: ErrorMsg,
}

impl Receipt {
    /// The verdict kind the receipt records.
    pub fn verdict_kind(&self) -> VerdictKind {
        match &self.subject {
            Subject::Challenge(c) => c.verdict.kind(),
            Subject::MinerFault(f) => f.kind,
        }
    }
}

/// 32 bytes, as one CBOR byte string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct B32(pub [u8; 32]);

impl fmt::Debug for B32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Display for B32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl Serialize for B32 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for B32 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fixed;
        impl Visitor<'_> for Fixed {
            type Value = B32;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string of exactly 32 bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<B32, E> {
                <[u8; 32]>::try_from(v)
                    .map(B32)
                    .map_err(|_| E::invalid_length(v.len(), &self))
            }
        }
        deserializer.deserialize_bytes(Fixed)
    }
}

/// Bytes, as one CBOR byte string.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Buf(pub Vec<u8>);

impl fmt::Debug for Buf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0.len())
    }
}

impl Serialize for Buf {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Buf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl Visitor<'_> for Bytes {
            type Value = Buf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Buf, E> {
                Ok(Buf(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Buf, E> {
                Ok(Buf(v))
            }
        }
        deserializer.deserialize_byte_buf(Bytes)
    }
}
