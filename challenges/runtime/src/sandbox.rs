//! The sandbox: one wasmtime `Engine` configured once, modules compiled once and cached by
//! hash (at most [`SandboxLimits::max_cached_modules`] of them, least recently used evicted
//! first, plus the pinned ones), and the three ways to use a module — `run` on a device, `check` an opened leaf on the
//! CPU, and ask it for its declared `work`.
#![deny(clippy::indexing_slicing)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use challenges::abi::{self, CheckRequest, WorkRecord, status};
use challenges::commitment::Opening;
use wasmtime::{
    Config, Engine, ExternType, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, Store, Trap, TypedFunc,
};

use crate::backend::{Backend, Committed, DeviceSession};
use crate::error::{SandboxError, TrapKind};
use crate::host::{HostState, RunSide, Side, StageTimes};
use crate::imports;
use crate::limits::SandboxLimits;
use crate::phase::{NoPhases, PhaseHook};

/// A compiled, linked module, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct LoadedModule {
    hash: [u8; 32],
    pre: InstancePre<HostState>,
}

impl LoadedModule {
    /// BLAKE3 of the module's bytes: how a module is known everywhere.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }
}

impl std::fmt::Debug for LoadedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LoadedModule({})",
            blake3::Hash::from_bytes(self.hash).to_hex()
        )
    }
}

/// Where the time of a run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunTimings {
    /// Compiling nothing (cached) and instantiating: store creation to a ready instance.
    pub instantiate: Duration,
    /// The whole `run` call, from entry to return.
    pub run: Duration,
    /// Time spent inside backend calls during `run`.
    pub backend: Duration,
    /// [`RunTimings::backend`] split into filling, computing and hashing.
    pub stages: StageTimes,
    /// Time `run` spent blocked in `gpu.phase_end`, waiting for the verifier's phase keys.
    pub phase_wait: Duration,
}

impl RunTimings {
    /// Time spent in the sandbox and the ABI rather than the backend or waiting for keys.
    pub fn overhead(&self) -> Duration {
        self.run
            .saturating_sub(self.backend)
            .saturating_sub(self.phase_wait)
    }
}

/// A finished run: the committed outputs, and the device session that can open their leaves.
/// Dropping it frees the device and everything the challenge held there.
pub struct RunOutcome {
    /// Outputs in commit order.
    pub outputs: Vec<Committed>,
    /// The seeds of the phases after the first (`phase_seeds[k − 1]` is phase `k`'s); empty for
    /// a one-phase run.
    pub phase_seeds: Vec<[u8; 32]>,
    /// The guest's log lines.
    pub logs: Vec<String>,
    /// Timings.
    pub timings: RunTimings,
    /// Fuel (guest instructions) used.
    pub fuel_used: u64,
    /// Host work done, in ops (see [`SandboxLimits::host_ops_budget`]).
    pub host_ops: u64,
    session: Box<dyn DeviceSession>,
}

impl RunOutcome {
    /// The opening of leaf `leaf` of output `output`.
    pub fn open(&self, output: u32, leaf: u64) -> Result<Opening, SandboxError> {
        Ok(self.session.open_leaf(output, leaf)?)
    }

    /// Roots in commit order.
    pub fn roots(&self) -> Vec<[u8; 32]> {
        self.outputs.iter().map(|c| c.root).collect()
    }
}

impl std::fmt::Debug for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOutcome")
            .field("outputs", &self.outputs)
            .field("timings", &self.timings)
            .field("fuel_used", &self.fuel_used)
            .finish_non_exhaustive()
    }
}

/// The verdict of a module's `check` on one leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckVerdict {
    /// The leaf is what the spec says.
    Pass,
    /// The leaf is wrong.
    Fail,
}

/// Compiled modules by hash: the pinned ones, plus at most `capacity` others, the least
/// recently used evicted first.
struct ModuleCache {
    entries: HashMap<[u8; 32], CacheEntry>,
    capacity: usize,
    clock: u64,
}

struct CacheEntry {
    module: LoadedModule,
    last_used: u64,
    pinned: bool,
}

impl ModuleCache {
    fn new(capacity: u32) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: usize::try_from(capacity).unwrap_or(usize::MAX),
            clock: 0,
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn tick(&mut self) -> u64 {
        self.clock = self.clock.wrapping_add(1);
        self.clock
    }

    fn get(&mut self, hash: &[u8; 32]) -> Option<LoadedModule> {
        let now = self.tick();
        self.entries.get_mut(hash).map(|entry| {
            entry.last_used = now;
            entry.module.clone()
        })
    }

    /// Adds (or re-adds) a module; pinning is sticky. Then, if more than `capacity` unpinned
    /// modules are held, evicts the least recently used one (one insert adds at most one, so
    /// one eviction restores the bound).
    fn insert(&mut self, module: LoadedModule, pinned: bool) {
        let now = self.tick();
        let entry = self.entries.entry(module.hash).or_insert(CacheEntry {
            module,
            last_used: now,
            pinned,
        });
        entry.last_used = now;
        entry.pinned |= pinned;
        let unpinned = || self.entries.values().filter(|e| !e.pinned);
        if unpinned().count() > self.capacity
            && let Some(oldest) = unpinned()
                .min_by_key(|e| e.last_used)
                .map(|e| e.module.hash)
        {
            self.entries.remove(&oldest);
        }
    }
}

/// The challenge sandbox. Thread-safe: share one per process.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Mutex<ModuleCache>,
    limits: SandboxLimits,
    live: Arc<AtomicU32>,
}

/// One of the sandbox's `max_instances` slots, given back on drop. Taking slots before
/// instantiating makes "too many at once" a typed [`SandboxError::Busy`] rather than an
/// allocator failure.
struct InstanceSlot(Arc<AtomicU32>);

impl InstanceSlot {
    fn take(live: &Arc<AtomicU32>, max: u32) -> Result<Self, SandboxError> {
        live.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .map(|_| Self(Arc::clone(live)))
        .map_err(|_| SandboxError::Busy)
    }
}

impl Drop for InstanceSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn engine(limits: &SandboxLimits) -> Result<Engine, SandboxError> {
    let mut config = Config::new();
    config.consume_fuel(true);
    config.max_wasm_stack(1 << 20);
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_core_instances(limits.max_instances)
        .total_memories(limits.max_instances)
        .total_tables(limits.max_instances)
        .max_memory_size(limits.guest_memory_bytes)
        .table_elements(10_000);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Engine::new(&config).map_err(|e| SandboxError::Engine(e.to_string()))
}

/// Maps a wasmtime error from a guest call to a typed error.
fn trap(phase: &'static str, err: &wasmtime::Error, memory_limit_hit: bool) -> SandboxError {
    let kind = match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => TrapKind::OutOfFuel,
        Some(_) if memory_limit_hit => TrapKind::MemoryLimit,
        Some(Trap::UnreachableCodeReached) => TrapKind::Unreachable,
        Some(Trap::StackOverflow) => TrapKind::StackOverflow,
        Some(Trap::MemoryOutOfBounds) => TrapKind::MemoryOutOfBounds,
        Some(Trap::IntegerOverflow | Trap::IntegerDivisionByZero) => TrapKind::Arithmetic,
        Some(other) => TrapKind::Other(other.to_string()),
        None if memory_limit_hit => TrapKind::MemoryLimit,
        None => TrapKind::Other(format!("{err:#}")),
    };
    SandboxError::Trap { phase, kind }
}

/// One instantiated guest with typed exports.
struct Guest {
    /// Held for the instance's life: counts it against `max_instances`.
    _slot: InstanceSlot,
    store: Store<HostState>,
    memory: wasmtime::Memory,
    alloc: TypedFunc<i32, i32>,
    instance: wasmtime::Instance,
}

impl Guest {
    fn put(&mut self, bytes: &[u8]) -> Result<(i32, i32), SandboxError> {
        let len = i32::try_from(bytes.len())
            .map_err(|_| SandboxError::GuestAlloc { len: bytes.len() })?;
        let ptr = self
            .alloc
            .call(&mut self.store, len.max(1))
            .map_err(|e| trap("alloc", &e, self.store.data().limiter.memory_limit_hit))?;
        let start =
            usize::try_from(ptr).map_err(|_| SandboxError::GuestAlloc { len: bytes.len() })?;
        let dst = self
            .memory
            .data_mut(&mut self.store)
            .get_mut(start..start.saturating_add(bytes.len()))
            .filter(|_| ptr != 0)
            .ok_or(SandboxError::GuestAlloc { len: bytes.len() })?;
        dst.copy_from_slice(bytes);
        Ok((ptr, len))
    }

    fn status(&self, phase: &'static str, code: i32) -> SandboxError {
        SandboxError::Status {
            phase,
            code,
            name: status::name(code),
            detail: self
                .store
                .data()
                .last_error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default(),
        }
    }

    fn fuel_used(&self, limits: &SandboxLimits) -> u64 {
        limits
            .fuel
            .saturating_sub(self.store.get_fuel().unwrap_or(0))
    }
}

impl Sandbox {
    /// A sandbox with these limits. Fails only if the engine cannot be configured.
    pub fn new(limits: SandboxLimits) -> Result<Self, SandboxError> {
        let engine = engine(&limits)?;
        let mut linker = Linker::new(&engine);
        imports::define(&mut linker).map_err(|e| SandboxError::Engine(e.to_string()))?;
        Ok(Self {
            engine,
            linker,
            cache: Mutex::new(ModuleCache::new(limits.max_cached_modules)),
            limits,
            live: Arc::new(AtomicU32::new(0)),
        })
    }

    /// The limits every instance gets.
    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    /// The module with this hash, if it is in the cache (loaded before and not evicted since).
    /// A hit counts as a use for the eviction order.
    pub fn cached(&self, hash: &[u8; 32]) -> Option<LoadedModule> {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(hash)
    }

    /// How many compiled modules the cache holds, pinned ones included.
    pub fn cached_count(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Compiles, checks and caches a module (a cache hit costs one hash). Refuses any import
    /// outside `gpu.*` ABI v1, naming it, and any module lacking the required exports. The
    /// module may later be evicted (see [`SandboxLimits::max_cached_modules`]); the returned
    /// handle stays valid regardless.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedModule, SandboxError> {
        self.load_into_cache(bytes, false)
    }

    /// Like [`Sandbox::load`], but the module is never evicted and does not count against
    /// [`SandboxLimits::max_cached_modules`]: for the built-in modules a host serves all day.
    pub fn load_pinned(&self, bytes: &[u8]) -> Result<LoadedModule, SandboxError> {
        self.load_into_cache(bytes, true)
    }

    fn load_into_cache(&self, bytes: &[u8], pinned: bool) -> Result<LoadedModule, SandboxError> {
        let hash = *blake3::hash(bytes).as_bytes();
        {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(hit) = cache.get(&hash) {
                if pinned {
                    cache.insert(hit.clone(), true);
                }
                return Ok(hit);
            }
        }
        let module = Module::new(&self.engine, bytes).map_err(|e| SandboxError::Compile {
            hash: blake3::Hash::from_bytes(hash).to_hex().to_string(),
            detail: e.to_string(),
        })?;
        for import in module.imports() {
            if import.module() != abi::IMPORT_MODULE || !abi::IMPORTS.contains(&import.name()) {
                return Err(SandboxError::ForbiddenImport {
                    module: import.module().to_string(),
                    name: import.name().to_string(),
                });
            }
        }
        let exports: BTreeMap<&str, ExternType> =
            module.exports().map(|e| (e.name(), e.ty())).collect();
        let wants: [(&'static str, &'static str, usize, usize); 4] = [
            ("alloc", "func (i32) -> i32", 1, 1),
            ("run", "func (i32, i32) -> i32", 2, 1),
            ("check", "func (i32, i32, i32, i32) -> i32", 4, 1),
            ("work", "func (i32, i32, i32) -> i32", 3, 1),
        ];
        if !matches!(exports.get("memory"), Some(ExternType::Memory(_))) {
            return Err(SandboxError::MissingExport {
                name: "memory",
                expected: "memory",
            });
        }
        for (name, expected, params, results) in wants {
            let ok = matches!(exports.get(name), Some(ExternType::Func(f))
                if f.params().len() == params && f.results().len() == results
                && f.params().all(|p| p.is_i32()) && f.results().all(|r| r.is_i32()));
            if !ok {
                return Err(SandboxError::MissingExport { name, expected });
            }
        }
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| SandboxError::Link(format!("{e:#}")))?;
        let loaded = LoadedModule { hash, pre };
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(loaded.clone(), pinned);
        Ok(loaded)
    }

    fn instantiate(&self, module: &LoadedModule, state: HostState) -> Result<Guest, SandboxError> {
        let slot = InstanceSlot::take(&self.live, self.limits.max_instances)?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| SandboxError::Engine(e.to_string()))?;
        let instance = module
            .pre
            .instantiate(&mut store)
            .map_err(|e| trap("start", &e, store.data().limiter.memory_limit_hit))?;
        let memory =
            instance
                .get_memory(&mut store, "memory")
                .ok_or(SandboxError::MissingExport {
                    name: "memory",
                    expected: "memory",
                })?;
        store.data_mut().memory = Some(memory);
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, "alloc")
            .map_err(|_| SandboxError::MissingExport {
                name: "alloc",
                expected: "func (i32) -> i32",
            })?;
        Ok(Guest {
            _slot: slot,
            store,
            memory,
            alloc,
            instance,
        })
    }

    /// Runs a one-phase challenge: [`Sandbox::run_phased`] with [`NoPhases`] (a module that
    /// calls `gpu.phase_end` fails with `status::PHASE`).
    pub fn run(
        &self,
        module: &LoadedModule,
        backend: &dyn Backend,
        device: u32,
        seed: [u8; 32],
        params: &[u8],
    ) -> Result<RunOutcome, SandboxError> {
        self.run_phased(module, backend, device, seed, params, Box::new(NoPhases))
    }

    /// Runs a challenge: opens `device` on `backend`, instantiates the module with `seed`,
    /// calls `run(params)`, and returns the committed outputs with the session that can open
    /// them. Each `gpu.phase_end` goes to `phases`, which returns the next phase's nonce.
    /// Everything the guest held on the device is freed if this fails.
    pub fn run_phased(
        &self,
        module: &LoadedModule,
        backend: &dyn Backend,
        device: u32,
        seed: [u8; 32],
        params: &[u8],
        phases: Box<dyn PhaseHook>,
    ) -> Result<RunOutcome, SandboxError> {
        let session = backend.open(device)?;
        let device_memory = backend
            .devices()
            .iter()
            .find(|d| d.index == device)
            .map_or(0, |d| d.memory_bytes);
        let side = Side::Run(RunSide {
            session,
            buffers: BTreeMap::new(),
            next_handle: 1,
            live_bytes: 0,
            committed: Vec::new(),
            committed_bytes: 0,
            device_memory,
            backend: backend.kind(),
        });
        let started = Instant::now();
        let mut state = HostState::new(self.limits, seed, device, side);
        state.phases = phases;
        let mut guest = self.instantiate(module, state)?;
        let (ptr, len) = guest.put(params)?;
        let instantiate = started.elapsed();
        let run = guest
            .instance
            .get_typed_func::<(i32, i32), i32>(&mut guest.store, "run")
            .map_err(|_| SandboxError::MissingExport {
                name: "run",
                expected: "func (i32, i32) -> i32",
            })?;
        let run_start = Instant::now();
        let result = run.call(&mut guest.store, (ptr, len));
        let run_time = run_start.elapsed();
        let code =
            result.map_err(|e| trap("run", &e, guest.store.data().limiter.memory_limit_hit))?;
        if code != status::OK {
            return Err(guest.status("run", code));
        }
        let fuel_used = guest.fuel_used(&self.limits);
        let state = guest.store.into_data();
        let timings = RunTimings {
            instantiate,
            run: run_time,
            backend: state.backend_time,
            stages: state.stage_times,
            phase_wait: state.phase_wait,
        };
        match state.side {
            Side::Run(mut run) => {
                // Buffers the guest did not free are freed now; committed outputs stay.
                for buf in std::mem::take(&mut run.buffers).into_values() {
                    run.session.free(buf.id)?;
                }
                Ok(RunOutcome {
                    outputs: run.committed,
                    phase_seeds: state.phase_seeds,
                    logs: state.logs,
                    timings,
                    fuel_used,
                    host_ops: state.host_ops,
                    session: run.session,
                })
            }
            _ => Err(SandboxError::Engine("instance lost its run state".into())),
        }
    }

    /// Checks one opened leaf with the module's `check`, on the CPU, against the committed
    /// `roots` (the caller has already verified the leaf's tree path) and the `phase_seeds`
    /// (`phase_seeds[k − 1]` is phase `k`'s, derived from the nonces the verifier sent; empty
    /// for a one-phase module).
    pub fn check(
        &self,
        module: &LoadedModule,
        seed: [u8; 32],
        params: &[u8],
        roots: &[[u8; 32]],
        phase_seeds: &[[u8; 32]],
        request: &CheckRequest<'_>,
    ) -> Result<CheckVerdict, SandboxError> {
        let side = Side::Check {
            roots: roots.to_vec(),
        };
        let mut state = HostState::new(self.limits, seed, 0, side);
        state.phase_seeds = phase_seeds.to_vec();
        let mut guest = self.instantiate(module, state)?;
        let (pp, pl) = guest.put(params)?;
        let (rp, rl) = guest.put(&request.encode())?;
        let check = guest
            .instance
            .get_typed_func::<(i32, i32, i32, i32), i32>(&mut guest.store, "check")
            .map_err(|_| SandboxError::MissingExport {
                name: "check",
                expected: "func (i32, i32, i32, i32) -> i32",
            })?;
        let code = check
            .call(&mut guest.store, (pp, pl, rp, rl))
            .map_err(|e| trap("check", &e, guest.store.data().limiter.memory_limit_hit))?;
        match code {
            abi::CHECK_PASS => Ok(CheckVerdict::Pass),
            abi::CHECK_FAIL => Ok(CheckVerdict::Fail),
            other => Err(guest.status("check", other)),
        }
    }

    /// The work the module declares for `params`.
    pub fn work(&self, module: &LoadedModule, params: &[u8]) -> Result<WorkRecord, SandboxError> {
        let mut guest =
            self.instantiate(module, HostState::new(self.limits, [0; 32], 0, Side::Work))?;
        let (pp, pl) = guest.put(params)?;
        let (out, _) = guest.put(&[0u8; abi::WORK_RECORD_LEN])?;
        let work = guest
            .instance
            .get_typed_func::<(i32, i32, i32), i32>(&mut guest.store, "work")
            .map_err(|_| SandboxError::MissingExport {
                name: "work",
                expected: "func (i32, i32, i32) -> i32",
            })?;
        let code = work
            .call(&mut guest.store, (pp, pl, out))
            .map_err(|e| trap("work", &e, guest.store.data().limiter.memory_limit_hit))?;
        if code != status::OK {
            return Err(guest.status("work", code));
        }
        let start = usize::try_from(out).unwrap_or(usize::MAX);
        let bytes = guest
            .memory
            .data(&guest.store)
            .get(start..start.saturating_add(abi::WORK_RECORD_LEN))
            .ok_or(SandboxError::BadRecord {
                what: "work record",
                detail: "outside guest memory".into(),
            })?;
        WorkRecord::decode(bytes).map_err(|e| SandboxError::BadRecord {
            what: "work record",
            detail: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_slots_are_counted_and_given_back() {
        let live = Arc::new(AtomicU32::new(0));
        let first = InstanceSlot::take(&live, 2).unwrap();
        let second = InstanceSlot::take(&live, 2).unwrap();
        assert!(matches!(
            InstanceSlot::take(&live, 2),
            Err(SandboxError::Busy)
        ));
        drop(first);
        let third = InstanceSlot::take(&live, 2).unwrap();
        drop((second, third));
        assert_eq!(live.load(Ordering::Acquire), 0);
    }
}
