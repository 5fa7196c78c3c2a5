//! Cheating miners, for tests and the local network: each [`Adversary`] is one way a miner might
//! try to get paid for work it did not do, built from the honest server's own parts so that the
//! verifier faces real QUIC, real signatures and real trees. A real cheater can write any of
//! these; having them here only lets us prove each is caught, with the verdict DESIGN.md gives.
//!
//! Selected with `miner-host serve --adversary KIND` (hidden from `--help`) or
//! [`ServerSettings::adversary`](super::ServerSettings::adversary).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use challenge_runtime::cpu::build_tree;
use challenge_runtime::{
    Backend, BackendError, BackendKind, BufferId, Committed, DeviceInfo, DeviceSession,
};
use challenges::commitment::{CHUNK_LEN, Opening, OutputTree};
use challenges::membw::Permutation;
use challenges::prf::PhiloxKey;

/// One way of cheating.
#[derive(Debug, Clone, PartialEq)]
pub enum Adversary {
    /// Computes honestly but one tile (leaf 0 of output 0) is wrong; the tree is built over the
    /// wrong bytes, so only the content check can catch it.
    WrongTile,
    /// Leaves a fraction of the leaves uncomputed (random bytes), the tree built over them.
    SkipFraction(f64),
    /// Answers a challenge with the commitment it signed for an earlier one.
    ReplayCommitment,
    /// Signs its commitments with a key other than the session key it proved.
    ForgeSignature,
    /// Computes honestly, then waits this long before committing.
    Slow(Duration),
    /// Claims every device under this driver name (e.g. a faster or slower class).
    ClaimName(String),
    /// Claims its devices but computes all of them on device 0, one after another.
    Serial,
    /// Commits, then hangs up once it sees which leaves are asked for.
    HangUpOnOpen,
    /// Answers `Go` with bytes that are not a frame.
    Garbage,
    /// Answers `Go` with a frame header announcing a commitment far over its limit.
    Oversized,
    /// Completes the handshake, then never answers anything (slowloris).
    Silent,
    /// Sends half of its `Openings` frame, then drops the connection.
    DropMidOpening,
}

impl Adversary {
    /// Every kind's name, as [`FromStr`] takes them (`skip` and `slow` take defaults).
    pub const KINDS: [&'static str; 12] = [
        "wrong-tile",
        "skip",
        "replay",
        "forge",
        "slow",
        "claim",
        "serial",
        "hang-up",
        "garbage",
        "oversized",
        "silent",
        "drop-mid-opening",
    ];

    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::WrongTile => "wrong-tile",
            Self::SkipFraction(_) => "skip",
            Self::ReplayCommitment => "replay",
            Self::ForgeSignature => "forge",
            Self::Slow(_) => "slow",
            Self::ClaimName(_) => "claim",
            Self::Serial => "serial",
            Self::HangUpOnOpen => "hang-up",
            Self::Garbage => "garbage",
            Self::Oversized => "oversized",
            Self::Silent => "silent",
            Self::DropMidOpening => "drop-mid-opening",
        }
    }

    /// Wraps the honest backend as this adversary needs (most need nothing).
    pub fn wrap_backend(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
        match self {
            Self::WrongTile => Arc::new(CheatingBackend {
                inner,
                cheat: Cheat::Corrupt(Corruption::FirstLeaf),
            }),
            Self::SkipFraction(p) => Arc::new(CheatingBackend {
                inner,
                cheat: Cheat::Corrupt(Corruption::Fraction(*p)),
            }),
            Self::Serial => Arc::new(CheatingBackend {
                inner,
                cheat: Cheat::Serial,
            }),
            _ => inner,
        }
    }
}

impl FromStr for Adversary {
    type Err = String;

    /// `wrong-tile`, `skip[:P]` (default 0.5), `replay`, `forge`, `slow[:SECONDS]` (default 5),
    /// `claim:NAME`, `serial`, `hang-up`, `garbage`, `oversized`, `silent`, `drop-mid-opening`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, arg) = s.split_once(':').map_or((s, None), |(k, a)| (k, Some(a)));
        let number = |default: f64| -> Result<f64, String> {
            arg.map_or(Ok(default), |a| {
                a.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| format!("{kind}: {a:?} is not a non-negative number"))
            })
        };
        Ok(match kind {
            "wrong-tile" => Self::WrongTile,
            "skip" => {
                let p = number(0.5)?;
                if p > 1.0 {
                    return Err(format!("skip: fraction {p} is over 1"));
                }
                Self::SkipFraction(p)
            }
            "replay" => Self::ReplayCommitment,
            "forge" => Self::ForgeSignature,
            "slow" => Self::Slow(Duration::from_secs_f64(number(5.0)?.min(3600.0))),
            "claim" => Self::ClaimName(
                arg.filter(|a| !a.is_empty())
                    .ok_or("claim needs a device name: claim:NAME")?
                    .to_string(),
            ),
            "serial" => Self::Serial,
            "hang-up" => Self::HangUpOnOpen,
            "garbage" => Self::Garbage,
            "oversized" => Self::Oversized,
            "silent" => Self::Silent,
            "drop-mid-opening" => Self::DropMidOpening,
            other => {
                return Err(format!(
                    "unknown adversary {other:?}; one of {}",
                    Self::KINDS.join(", ")
                ));
            }
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Corruption {
    FirstLeaf,
    Fraction(f64),
}

/// What a cheating backend changes about the honest one it wraps.
#[derive(Debug, Clone, Copy)]
enum Cheat {
    /// Commits corrupted outputs (and opens them consistently).
    Corrupt(Corruption),
    /// Runs every session on device 0, waiting for it to be free: two claimed devices, one
    /// doing the work.
    Serial,
}

/// Reports the honest backend's devices and delegates to it, cheating as its [`Cheat`] says.
struct CheatingBackend {
    inner: Arc<dyn Backend>,
    cheat: Cheat,
}

impl Backend for CheatingBackend {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn kind(&self) -> BackendKind {
        self.inner.kind()
    }
    fn devices(&self) -> Vec<DeviceInfo> {
        self.inner.devices()
    }
    fn open(&self, device: u32) -> Result<Box<dyn DeviceSession>, BackendError> {
        match self.cheat {
            Cheat::Corrupt(corrupt) => Ok(Box::new(CorruptingSession {
                inner: self.inner.open(device)?,
                corrupt,
                outputs: Vec::new(),
            })),
            Cheat::Serial => loop {
                match self.inner.open(0) {
                    Err(BackendError::Busy(_)) => std::thread::sleep(Duration::from_millis(1)),
                    other => return other,
                }
            },
        }
    }
}

struct CorruptingSession {
    inner: Box<dyn DeviceSession>,
    corrupt: Corruption,
    outputs: Vec<(OutputTree, Vec<u8>)>,
}

/// A cheap deterministic generator for the junk a skipping miner commits.
fn junk(state: &mut u64) -> u8 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*state >> 56) as u8
}

impl DeviceSession for CorruptingSession {
    fn device(&self) -> u32 {
        self.inner.device()
    }
    fn alloc(&mut self, bytes: u64) -> Result<BufferId, BackendError> {
        self.inner.alloc(bytes)
    }
    fn free(&mut self, buf: BufferId) -> Result<(), BackendError> {
        self.inner.free(buf)
    }
    fn prf_fill(
        &mut self,
        buf: BufferId,
        offset: u64,
        len: u64,
        key: PhiloxKey,
        tensor_id: u32,
        start: u64,
    ) -> Result<(), BackendError> {
        self.inner.prf_fill(buf, offset, len, key, tensor_id, start)
    }
    fn gemm_i8(
        &mut self,
        a: BufferId,
        b: BufferId,
        c: BufferId,
        m: u32,
        n: u32,
        k: u32,
    ) -> Result<(), BackendError> {
        self.inner.gemm_i8(a, b, c, m, n, k)
    }
    fn membw_fill(
        &mut self,
        buf: BufferId,
        key: PhiloxKey,
        rounds: u32,
    ) -> Result<(), BackendError> {
        self.inner.membw_fill(buf, key, rounds)
    }
    fn membw_pass(
        &mut self,
        buf: BufferId,
        out: BufferId,
        group: u32,
        pass: u32,
        perm: &Permutation,
    ) -> Result<(), BackendError> {
        self.inner.membw_pass(buf, out, group, pass, perm)
    }
    fn commit(&mut self, buf: BufferId) -> Result<Committed, BackendError> {
        let honest = self.inner.commit(buf)?;
        let mut bytes = self.inner.read(buf, 0, honest.len)?;
        let first_output = self.outputs.is_empty();
        let mut state = honest.len ^ u64::from(honest.root[0]);
        match self.corrupt {
            Corruption::FirstLeaf => {
                if first_output && let Some(b) = bytes.first_mut() {
                    *b ^= 0x01;
                }
            }
            Corruption::Fraction(p) => {
                for chunk in bytes.chunks_mut(CHUNK_LEN) {
                    let draw = f64::from(junk(&mut state)) / 256.0;
                    if draw < p {
                        chunk.iter_mut().for_each(|b| *b = junk(&mut state));
                    }
                }
            }
        }
        let tree = build_tree(&bytes)?;
        let committed = Committed::of(&tree);
        self.outputs.push((tree, bytes));
        Ok(committed)
    }
    fn roots(&self) -> Vec<[u8; 32]> {
        self.outputs
            .iter()
            .map(|(tree, _)| *tree.root().as_bytes())
            .collect()
    }
    fn open_leaf(&self, output: u32, leaf: u64) -> Result<Opening, BackendError> {
        let (tree, bytes) = self
            .outputs
            .get(output as usize)
            .ok_or(BackendError::NoOutput(output))?;
        tree.open(bytes, leaf)
            .map_err(|e| BackendError::Unavailable(e.to_string()))
    }
    fn copy(&mut self, src: BufferId, dst: BufferId) -> Result<(), BackendError> {
        self.inner.copy(src, dst)
    }
    fn sync(&mut self) -> Result<(), BackendError> {
        self.inner.sync()
    }
    fn read(&self, buf: BufferId, offset: u64, len: u64) -> Result<Vec<u8>, BackendError> {
        self.inner.read(buf, offset, len)
    }
}
