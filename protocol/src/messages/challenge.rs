//! The challenge messages: `Prepare` → `Ready` → `Go` → (`PhaseDone` → `PhaseKey`)* →
//! `Commitment` → `Open` → `Openings`. The `PhaseDone`/`PhaseKey` pairs (protocol v2) come
//! only from modules with interactive phases (docs/design.md §Interactive phases).
//!
//! [`Prepare`] and [`Go`] are signed by the verifier, [`Commitment`] by the miner (each through
//! [`Signed`](crate::Signed)); a later message names the signed one it answers by its envelope
//! [`Digest`]. Openings carry raw tree paths and stay independent of the `challenges` crate:
//! conversion to its proof types happens in the verifier.

use serde::{Deserialize, Serialize};

use crate::bytes;
use crate::ids::{ChallengeId, Digest, Hotkey, ModuleHash, Nonce, Root};
use crate::limits::{
    MAX_CHUNK_LEN, MAX_MODULE_LEN, MAX_OPEN_LEAVES, MAX_PARAMS_LEN, MAX_PATH_LEN, MAX_ROOTS,
};
use crate::signed::Signable;

/// Verifier → miner, signed: load this module with these params on this device, then answer
/// [`Ready`]. Untimed. Accept it only through [`PrepareGate`](crate::PrepareGate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prepare {
    /// Protocol version of this message ([`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION)).
    pub protocol_version: u16,
    /// Host ABI version the module needs ([`ABI_VERSION`](crate::ABI_VERSION)).
    pub abi_version: u16,
    /// The validator's id for this challenge, unique per validator (replay key).
    pub challenge_id: ChallengeId,
    /// The validator sending it.
    pub validator: Hotkey,
    /// The miner it is addressed to.
    pub miner: Hotkey,
    /// BLAKE3 of the module bytes.
    pub module_hash: ModuleHash,
    /// The module itself (at most [`MAX_MODULE_LEN`] bytes), or `None` if the miner has it.
    #[serde(
        serialize_with = "bytes::opt_bounded::serialize::<_, MAX_MODULE_LEN>",
        deserialize_with = "bytes::opt_bounded::deserialize::<_, MAX_MODULE_LEN>"
    )]
    pub module_bytes: Option<Vec<u8>>,
    /// The module's binary params (at most [`MAX_PARAMS_LEN`] bytes), opaque here.
    #[serde(
        serialize_with = "bytes::bounded::serialize::<_, MAX_PARAMS_LEN>",
        deserialize_with = "bytes::bounded::deserialize::<_, MAX_PARAMS_LEN>"
    )]
    pub params: Vec<u8>,
    /// Index of the GPU to run on (as in [`GpuInfo::index`](crate::GpuInfo::index)).
    pub device: u32,
    /// Unix time in ms after which the miner must refuse it (plus a stated skew tolerance).
    pub expires_at_ms: u64,
}

impl Signable for Prepare {
    const TAG: &'static str = "prepare";
}

/// Miner → verifier: the module is loaded and the device ready for the `Prepare` named here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// The challenge it answers.
    pub challenge_id: ChallengeId,
    /// Digest of the signed `Prepare` envelope it answers.
    pub prepare: Digest,
}

/// Verifier → miner, signed: start now with this nonce. The verifier's clock starts here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Go {
    /// The challenge it starts.
    pub challenge_id: ChallengeId,
    /// Digest of the signed `Prepare` envelope it follows.
    pub prepare: Digest,
    /// The secret from which the challenge seed is derived.
    pub nonce: Nonce,
}

impl Signable for Go {
    const TAG: &'static str = "go";
}

/// Miner → verifier, signed: the roots of the challenge outputs. The verifier's clock stops here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commitment {
    /// Digest of the signed `Go` envelope it answers.
    pub challenge: Digest,
    /// One root per challenge output, in output order (at most [`MAX_ROOTS`]).
    #[serde(
        serialize_with = "bytes::seq_max::serialize::<_, _, MAX_ROOTS>",
        deserialize_with = "bytes::seq_max::deserialize::<_, _, MAX_ROOTS>"
    )]
    pub roots: Vec<Root>,
    /// The miner's own timings. Informational only: never used to judge speed.
    pub timings: MinerTimings,
}

impl Signable for Commitment {
    const TAG: &'static str = "commitment";
}

/// Miner → verifier, signed (protocol v2): interactive phase `phase` is over, with the roots
/// committed so far. The verifier's clock for that phase stops here; the miner's run then
/// waits for the [`PhaseKey`] of `phase + 1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseDone {
    /// Digest of the signed message that began the phase: the `Go` for phase 0, the
    /// `PhaseKey phase` otherwise.
    pub cites: Digest,
    /// The phase that ended (the first is 0).
    pub phase: u32,
    /// Every root committed so far, in output order (at most [`MAX_ROOTS`]).
    #[serde(
        serialize_with = "bytes::seq_max::serialize::<_, _, MAX_ROOTS>",
        deserialize_with = "bytes::seq_max::deserialize::<_, _, MAX_ROOTS>"
    )]
    pub roots: Vec<Root>,
}

impl Signable for PhaseDone {
    const TAG: &'static str = "phase-done";
}

/// Verifier → miner, signed (protocol v2): begin phase `phase` with this fresh nonce; the
/// phase seed is `prf::phase_seed(seed, phase, nonce)`. Sent to every device of a machine in
/// the same instant; the verifier's clock for the phase starts here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseKey {
    /// Digest of the signed [`PhaseDone`] of `phase − 1` it answers.
    pub cites: Digest,
    /// The phase it begins (≥ 1).
    pub phase: u32,
    /// The verifier's fresh randomness for this phase.
    pub nonce: Nonce,
}

impl Signable for PhaseKey {
    const TAG: &'static str = "phase-key";
}

/// The miner's own account of where the time went, in milliseconds. Informational only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinerTimings {
    /// From receiving `Go` to sending `Commitment`.
    pub total_ms: u64,
    /// Filling inputs from the PRF.
    pub fill_ms: u64,
    /// The main computation (GEMM, memory passes).
    pub compute_ms: u64,
    /// Hashing outputs into roots.
    pub hash_ms: u64,
}

/// Verifier → miner: open these leaves of the committed outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Open {
    /// Digest of the signed `Go` envelope (same as [`Commitment::challenge`]).
    pub challenge: Digest,
    /// The leaves to open (at most [`MAX_OPEN_LEAVES`]).
    #[serde(
        serialize_with = "bytes::seq_max::serialize::<_, _, MAX_OPEN_LEAVES>",
        deserialize_with = "bytes::seq_max::deserialize::<_, _, MAX_OPEN_LEAVES>"
    )]
    pub leaves: Vec<LeafRef>,
}

/// One leaf of one output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafRef {
    /// Output index (position in [`Commitment::roots`]).
    pub output: u32,
    /// Leaf index within that output's tree.
    pub leaf: u64,
}

/// Miner → verifier: the requested leaves with their tree paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Openings {
    /// Digest of the signed `Go` envelope (same as [`Open::challenge`]).
    pub challenge: Digest,
    /// One opening per requested leaf (at most [`MAX_OPEN_LEAVES`]).
    #[serde(
        serialize_with = "bytes::seq_max::serialize::<_, _, MAX_OPEN_LEAVES>",
        deserialize_with = "bytes::seq_max::deserialize::<_, _, MAX_OPEN_LEAVES>"
    )]
    pub openings: Vec<OpeningWire>,
}

/// One opened leaf on the wire: its bytes and the sibling pairs from the root down.
///
/// Only sizes are checked here; the verifier checks the path against the committed root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpeningWire {
    /// Output index.
    pub output: u32,
    /// Leaf index.
    pub leaf: u64,
    /// The leaf's bytes (at most [`MAX_CHUNK_LEN`]).
    #[serde(
        serialize_with = "bytes::bounded::serialize::<_, MAX_CHUNK_LEN>",
        deserialize_with = "bytes::bounded::deserialize::<_, MAX_CHUNK_LEN>"
    )]
    pub chunk: Vec<u8>,
    /// Node pairs top-down: the root's two children first (at most [`MAX_PATH_LEN`]).
    #[serde(
        serialize_with = "bytes::seq_max::serialize::<_, _, MAX_PATH_LEN>",
        deserialize_with = "bytes::seq_max::deserialize::<_, _, MAX_PATH_LEN>"
    )]
    pub path: Vec<NodePair>,
}

/// The two children of one tree node, as 32-byte chaining values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePair {
    /// Left child.
    #[serde(with = "bytes::fixed")]
    pub left: [u8; 32],
    /// Right child.
    #[serde(with = "bytes::fixed")]
    pub right: [u8; 32],
}
