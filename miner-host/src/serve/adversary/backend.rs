//! The cheats that live in the device backend: a backend wrapper that corrupts what it
//! commits, claims more devices than it has, or computes claimed devices on fewer real ones;
//! and a `membw` session that keeps only part of its buffer. The protocol side of every
//! challenge stays the honest session's: these miners lie with their results and their time.
#![deny(clippy::indexing_slicing)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use challenge_runtime::cpu::build_tree;
use challenge_runtime::{
    Backend, BackendError, BackendKind, BufferId, Committed, DeviceInfo, DeviceSession,
};
use challenges::commitment::{CHUNK_LEN, Opening, OutputTree};
use challenges::membw::Permutation;
use challenges::prf::{self, PhiloxKey};
use challenges::simd::Kernels;

/// Which outputs a corrupting session spoils.
#[derive(Debug, Clone, Copy)]
pub(super) enum Corruption {
    /// Leaf 0 of the first output (one byte flipped).
    FirstLeaf,
    /// This fraction of the leaves of every output (at least one).
    Fraction(f64),
}

/// What a cheating backend changes about the honest one it wraps.
#[derive(Debug, Clone, Copy)]
pub(super) enum Cheat {
    /// Commits corrupted outputs (and opens them consistently).
    Corrupt(Corruption),
    /// Runs every session on device 0, waiting for it to be free: two claimed devices, one
    /// doing the work.
    Serial,
    /// Reports this many devices (device 0's name and memory, made-up UUIDs) and runs every
    /// one on device 0, waiting for it to be free.
    Inflate(u32),
    /// Reports this many devices (device 0's name and memory, made-up UUIDs); claimed device
    /// `d` holds its buffers on real device `d`, but every operation of every session takes
    /// one lock, so the claimed devices share one device's compute, interleaved. (The real
    /// backend needs that many devices to hold the sessions; its compute is what is faked.)
    Share(u32),
    /// Keeps only this fraction of every `membw` buffer and regenerates the rest of it, from
    /// the PRF, each time a pass needs it.
    Regenerate(f64),
}

/// The made-up UUID of claimed device `index` (NVIDIA's format, version 4 bits set).
fn made_up_uuid(index: u32) -> String {
    format!("GPU-1f1a7e00-0000-4000-8000-{index:012x}")
}

/// Reports the honest backend's devices (or claimed ones) and delegates to it, cheating as its
/// [`Cheat`] says.
pub(super) struct CheatingBackend {
    pub(super) inner: Arc<dyn Backend>,
    pub(super) cheat: Cheat,
    /// The one lock of [`Cheat::Share`].
    pub(super) shared: Arc<Mutex<()>>,
}

impl CheatingBackend {
    pub(super) fn new(inner: Arc<dyn Backend>, cheat: Cheat) -> Self {
        Self {
            inner,
            cheat,
            shared: Arc::default(),
        }
    }

    /// `n` claimed copies of real device 0 (none if it has no device 0).
    fn claimed(&self, n: u32) -> Vec<DeviceInfo> {
        let Some(zero) = self.inner.devices().into_iter().find(|d| d.index == 0) else {
            return Vec::new();
        };
        (0..n)
            .map(|index| DeviceInfo {
                index,
                uuid: Some(made_up_uuid(index)),
                ..zero.clone()
            })
            .collect()
    }
}

impl Backend for CheatingBackend {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn kind(&self) -> BackendKind {
        self.inner.kind()
    }
    fn devices(&self) -> Vec<DeviceInfo> {
        match self.cheat {
            Cheat::Inflate(n) | Cheat::Share(n) => self.claimed(n),
            _ => self.inner.devices(),
        }
    }
    fn open(&self, device: u32) -> Result<Box<dyn DeviceSession>, BackendError> {
        match self.cheat {
            Cheat::Corrupt(corrupt) => Ok(Box::new(CorruptingSession {
                inner: self.inner.open(device)?,
                corrupt,
                outputs: Vec::new(),
            })),
            Cheat::Regenerate(keep) => Ok(Box::new(RegeneratingSession {
                inner: self.inner.open(device)?,
                keep,
                fills: HashMap::new(),
                passes: HashMap::new(),
                outputs: Vec::new(),
            })),
            Cheat::Inflate(count) | Cheat::Share(count) if device >= count => {
                Err(BackendError::NoDevice {
                    index: device,
                    count,
                })
            }
            Cheat::Share(_) => Ok(Box::new(SharedSession {
                inner: self.inner.open(device)?,
                lock: Arc::clone(&self.shared),
            })),
            Cheat::Serial | Cheat::Inflate(_) => loop {
                match self.inner.open(0) {
                    Err(BackendError::Busy(_)) => std::thread::sleep(Duration::from_millis(1)),
                    other => return other,
                }
            },
        }
    }
}

pub(super) struct CorruptingSession {
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
                let mut skipped = false;
                for chunk in bytes.chunks_mut(CHUNK_LEN) {
                    let draw = f64::from(junk(&mut state)) / 256.0;
                    if draw < p {
                        chunk.iter_mut().for_each(|b| *b = junk(&mut state));
                        skipped = true;
                    }
                }
                // A skipping miner skips at least one leaf of every output: with a handful of
                // leaves, the per-leaf draw alone left a whole challenge honest now and then
                // (1 in 64 with 6 leaves), and the load test's skip:0.5 cheater then passed.
                if p > 0.0
                    && !skipped
                    && let Some(chunk) = bytes.chunks_mut(CHUNK_LEN).next()
                {
                    chunk.iter_mut().for_each(|b| *b = junk(&mut state));
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

/// One claimed device of [`Cheat::Share`]: its own buffers, every operation under the one lock
/// all claimed devices share.
struct SharedSession {
    inner: Box<dyn DeviceSession>,
    lock: Arc<Mutex<()>>,
}

impl SharedSession {
    /// Runs `f` on the inner session holding the shared lock (a poisoned lock still serializes:
    /// it only means another session's operation panicked).
    fn locked<T>(&mut self, f: impl FnOnce(&mut dyn DeviceSession) -> T) -> T {
        let _held = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(self.inner.as_mut())
    }
}

impl DeviceSession for SharedSession {
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
        self.locked(|s| s.prf_fill(buf, offset, len, key, tensor_id, start))
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
        self.locked(|s| s.gemm_i8(a, b, c, m, n, k))
    }
    fn membw_fill(
        &mut self,
        buf: BufferId,
        key: PhiloxKey,
        rounds: u32,
    ) -> Result<(), BackendError> {
        self.locked(|s| s.membw_fill(buf, key, rounds))
    }
    fn membw_pass(
        &mut self,
        buf: BufferId,
        out: BufferId,
        group: u32,
        pass: u32,
        perm: &Permutation,
    ) -> Result<(), BackendError> {
        self.locked(|s| s.membw_pass(buf, out, group, pass, perm))
    }
    fn commit(&mut self, buf: BufferId) -> Result<Committed, BackendError> {
        self.locked(|s| s.commit(buf))
    }
    fn roots(&self) -> Vec<[u8; 32]> {
        self.inner.roots()
    }
    fn open_leaf(&self, output: u32, leaf: u64) -> Result<Opening, BackendError> {
        self.inner.open_leaf(output, leaf)
    }
    fn copy(&mut self, src: BufferId, dst: BufferId) -> Result<(), BackendError> {
        self.locked(|s| s.copy(src, dst))
    }
    fn sync(&mut self) -> Result<(), BackendError> {
        self.locked(|s| s.sync())
    }
    fn read(&self, buf: BufferId, offset: u64, len: u64) -> Result<Vec<u8>, BackendError> {
        self.inner.read(buf, offset, len)
    }
}

/// A `membw` buffer of [`Cheat::Regenerate`]: the key and rounds it was filled with, and the
/// leading part kept (whole 16-byte blocks); the rest was never stored.
struct PartialFill {
    key: PhiloxKey,
    rounds: u32,
    len: u64,
    kept: Vec<u8>,
}

impl PartialFill {
    /// Group `b` of `g` bytes: the kept bytes, or regenerated from the PRF into `scratch`.
    fn group<'s>(&'s self, b: u64, g: usize, scratch: &'s mut [u8]) -> Option<&'s [u8]> {
        let start = usize::try_from(b).ok()?.checked_mul(g)?;
        let end = start.checked_add(g)?;
        if let Some(kept) = self.kept.get(start..end) {
            return Some(kept);
        }
        let first = u64::try_from(start / prf::BLOCK_BYTES).ok()?;
        // The fastest kernels this CPU has, as the honest backend uses: the cheater's best.
        Kernels::best().membw_fill_blocks(self.key, self.rounds, first, scratch);
        Some(scratch)
    }
}

/// A session that keeps only part of each `membw` buffer ([`Cheat::Regenerate`]) and computes
/// the passes itself on the host, regenerating every missing group each time a pass reads it;
/// everything else goes to the honest session. It commits every output itself (so it can open
/// the ones it computed).
struct RegeneratingSession {
    inner: Box<dyn DeviceSession>,
    keep: f64,
    fills: HashMap<BufferId, PartialFill>,
    /// Pass outputs computed here, waiting for their commit.
    passes: HashMap<BufferId, Vec<u8>>,
    outputs: Vec<(OutputTree, Vec<u8>)>,
}

impl RegeneratingSession {
    /// The buffer's length, as `alloc` recorded it (a membw fill covers the whole buffer).
    fn buffer_len(&self, buf: BufferId) -> Result<u64, BackendError> {
        self.fills
            .get(&buf)
            .map(|f| f.len)
            .ok_or_else(|| BackendError::Unavailable(format!("buffer {buf:?} was not filled")))
    }

    fn pass_output(
        &self,
        buf: BufferId,
        group: u32,
        pass: u32,
        perm: &Permutation,
    ) -> Result<Vec<u8>, BackendError> {
        let fill = self
            .fills
            .get(&buf)
            .ok_or_else(|| BackendError::Unavailable(format!("buffer {buf:?} was not filled")))?;
        let g = usize::try_from(group).map_err(|_| bad("group"))?;
        let groups = fill.len.checked_div(u64::from(group)).ok_or(bad("group"))?;
        let mut out = Vec::with_capacity(usize::try_from(groups.saturating_mul(8)).unwrap_or(0));
        let (mut scratch_b, mut scratch_pi) = (vec![0u8; g], vec![0u8; g]);
        let kernels = Kernels::best();
        for b in 0..groups {
            let pi = perm.apply(b);
            let gb = fill.group(b, g, &mut scratch_b).ok_or(bad("group index"))?;
            let gp = fill
                .group(pi, g, &mut scratch_pi)
                .ok_or(bad("group index"))?;
            let folded = kernels
                .fold(pass, b, gb, gp)
                .map_err(|e| BackendError::Unavailable(e.to_string()))?;
            out.extend_from_slice(&folded.to_le_bytes());
        }
        Ok(out)
    }
}

fn bad(what: &str) -> BackendError {
    BackendError::Unavailable(format!("regenerate: bad {what}"))
}

impl DeviceSession for RegeneratingSession {
    fn device(&self) -> u32 {
        self.inner.device()
    }
    fn alloc(&mut self, bytes: u64) -> Result<BufferId, BackendError> {
        let buf = self.inner.alloc(bytes)?;
        // Remembered so a membw fill of it knows the buffer's length.
        self.fills.insert(
            buf,
            PartialFill {
                key: [0, 0],
                rounds: 0,
                len: bytes,
                kept: Vec::new(),
            },
        );
        Ok(buf)
    }
    fn free(&mut self, buf: BufferId) -> Result<(), BackendError> {
        self.fills.remove(&buf);
        self.passes.remove(&buf);
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
        let len = self.buffer_len(buf)?;
        let blocks = (len as f64 * self.keep.clamp(0.0, 1.0)) as u64 / prf::BLOCK_BYTES as u64;
        let kept_len =
            usize::try_from(blocks * prf::BLOCK_BYTES as u64).map_err(|_| bad("length"))?;
        let mut kept = vec![0u8; kept_len];
        Kernels::best().membw_fill_blocks(key, rounds, 0, &mut kept);
        self.fills.insert(
            buf,
            PartialFill {
                key,
                rounds,
                len,
                kept,
            },
        );
        Ok(())
    }
    fn membw_pass(
        &mut self,
        buf: BufferId,
        out: BufferId,
        group: u32,
        pass: u32,
        perm: &Permutation,
    ) -> Result<(), BackendError> {
        let bytes = self.pass_output(buf, group, pass, perm)?;
        self.passes.insert(out, bytes);
        Ok(())
    }
    fn commit(&mut self, buf: BufferId) -> Result<Committed, BackendError> {
        let bytes = match self.passes.remove(&buf) {
            Some(bytes) => bytes,
            None => {
                let honest = self.inner.commit(buf)?;
                self.inner.read(buf, 0, honest.len)?
            }
        };
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
        let (tree, bytes) = usize::try_from(output)
            .ok()
            .and_then(|o| self.outputs.get(o))
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
