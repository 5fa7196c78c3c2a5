//! [`LeafChecker`]: recomputes one opened leaf, and [`SandboxChecker`], the production one: the
//! module's own `check` in the verifier's CPU-only [`Sandbox`].

use std::sync::Arc;

use challenge_runtime::{CheckVerdict, Sandbox, SandboxError, SandboxLimits};
use challenges::abi::CheckRequest;
use protocol::ModuleHash;

/// What a checker knows about the challenge a leaf belongs to.
#[derive(Debug, Clone, Copy)]
pub struct CheckInput<'a> {
    /// The module that defines the leaf.
    pub module_hash: &'a ModuleHash,
    /// The challenge seed (derived by the verifier from its own nonce and the binding).
    pub seed: [u8; 32],
    /// The module's binary params.
    pub params: &'a [u8],
    /// The committed roots, in output order (`membw` keys each pass by the previous root).
    pub roots: &'a [[u8; 32]],
    /// The seeds of the interactive phases after the first (`phase_seeds[k − 1]` is phase
    /// `k`'s), derived by the verifier from the nonces of the `PhaseKey`s it sent; empty for a
    /// one-phase challenge.
    pub phase_seeds: &'a [[u8; 32]],
}

/// Recomputes one opened leaf whose tree path has already been verified.
///
/// An implementation must answer `Pass` only if the leaf's bytes are what the module's spec
/// gives for that seed, params, roots and leaf (for sampling modules: at the positions the
/// request's salt picks), and return `Err` only for its own failures, never for a wrong leaf.
pub trait LeafChecker {
    /// Checks `request` (one leaf, its bytes authenticated by its path) of the challenge `input`.
    fn check_leaf(
        &self,
        input: &CheckInput<'_>,
        request: &CheckRequest<'_>,
    ) -> Result<CheckVerdict, CheckerError>;
}

/// A checker's own failure: never a judgement of the leaf.
#[derive(Debug, thiserror::Error)]
pub enum CheckerError {
    /// The checker has no module with this hash (not built in, not loaded).
    #[error("no module {0} is loaded in the verifier's sandbox")]
    UnknownModule(ModuleHash),
    /// The sandbox failed (engine, trap, bad status from the module).
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

/// The production checker: each leaf goes to the module's `check` export in the verifier's own
/// CPU-only sandbox, which never sees a device session. Built-in modules are loaded on first
/// use; others must be [`load`](Self::load)ed first.
///
/// Checks wait for a free instance slot of the sandbox instead of failing when every slot is
/// taken (docs/design.md §No score without proof, rule 8: under load the verifier's own limits
/// never abort a session).
#[derive(Debug, Clone)]
pub struct SandboxChecker {
    sandbox: Arc<Sandbox>,
    slots: Arc<CheckSlots>,
    /// Nanoseconds spent in `check_leaf` so far (each check runs on one thread, computing).
    /// Shared by clones.
    check_nanos: Arc<std::sync::atomic::AtomicU64>,
}

impl SandboxChecker {
    /// A checker with a sandbox of its own, with the default limits.
    pub fn new() -> Result<Self, SandboxError> {
        Ok(Self::with_sandbox(Arc::new(Sandbox::new(
            SandboxLimits::default(),
        )?)))
    }

    /// A checker of its own with both built-in modules (`matmul-i8`, `membw`) loaded.
    pub fn with_builtins() -> Result<Self, CheckerError> {
        let checker = Self::new()?;
        for builtin in builtin_modules::ALL {
            checker.load(builtin.bytes)?;
        }
        Ok(checker)
    }

    /// A checker sharing `sandbox` (and its module cache).
    pub fn with_sandbox(sandbox: Arc<Sandbox>) -> Self {
        let slots = usize::try_from(sandbox.limits().max_instances)
            .unwrap_or(usize::MAX)
            .max(1);
        Self {
            sandbox,
            slots: Arc::new(CheckSlots::new(slots)),
            check_nanos: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// Seconds spent checking leaves since this checker was made, summed over threads: each
    /// check computes on the thread that calls it, so this is the checks' CPU time.
    pub fn check_seconds(&self) -> f64 {
        self.check_nanos.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9
    }

    /// The sandbox it checks in.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Compiles and caches a module, so that leaves of its challenges can be checked; returns
    /// its hash.
    pub fn load(&self, module_bytes: &[u8]) -> Result<ModuleHash, CheckerError> {
        Ok(ModuleHash::new(
            self.sandbox.load_pinned(module_bytes)?.hash(),
        ))
    }
}

impl LeafChecker for SandboxChecker {
    fn check_leaf(
        &self,
        input: &CheckInput<'_>,
        request: &CheckRequest<'_>,
    ) -> Result<CheckVerdict, CheckerError> {
        let hash = input.module_hash.as_bytes();
        let module = match self.sandbox.cached(hash) {
            Some(module) => module,
            None => {
                let builtin = builtin_modules::by_hash(hash)
                    .ok_or(CheckerError::UnknownModule(*input.module_hash))?;
                self.sandbox.load_pinned(builtin.bytes)?
            }
        };
        let _slot = self.slots.take();
        let started = std::time::Instant::now();
        let verdict = self.sandbox.check(
            &module,
            input.seed,
            input.params,
            input.roots,
            input.phase_seeds,
            request,
        );
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.check_nanos
            .fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
        Ok(verdict?)
    }
}

/// A counting semaphore for blocking threads: checks take one of the sandbox's instance slots
/// and wait while none is free.
#[derive(Debug)]
struct CheckSlots {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

/// One taken slot, given back on drop.
struct CheckSlot<'a>(&'a CheckSlots);

impl CheckSlots {
    fn new(slots: usize) -> Self {
        Self {
            free: std::sync::Mutex::new(slots),
            freed: std::sync::Condvar::new(),
        }
    }

    /// Waits for a free slot and takes it. A poisoned lock (a panic elsewhere while holding
    /// it) still counts: the count itself is always consistent.
    fn take(&self) -> CheckSlot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        CheckSlot(self)
    }
}

impl Drop for CheckSlot<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|p| p.into_inner());
        *free += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn check_slots_wait_instead_of_failing() {
        let slots = Arc::new(CheckSlots::new(2));
        let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (slots, busy, most) =
                    (Arc::clone(&slots), Arc::clone(&busy), Arc::clone(&most));
                std::thread::spawn(move || {
                    let _slot = slots.take();
                    let now = busy.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    busy.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Every one of the 8 got through, never more than 2 at once.
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(*slots.free.lock().unwrap(), 2);
    }

    #[test]
    fn more_checks_than_sandbox_slots_all_complete() {
        // A sandbox with 2 instance slots and 12 concurrent checks: before the slots, the
        // surplus failed with `Busy` and aborted their sessions.
        let limits = SandboxLimits {
            max_instances: 2,
            ..SandboxLimits::default()
        };
        let checker = SandboxChecker::with_sandbox(Arc::new(Sandbox::new(limits).unwrap()));
        let builtin = builtin_modules::MATMUL_I8;
        let hash = checker.load(builtin.bytes).unwrap();
        let params = challenges::matmul::MatmulParams {
            m: 16,
            n: 16,
            k: 64,
            count: 1,
        };
        let seed = [7u8; 32];
        // The leaf's content does not matter here (a wrong leaf is a `Fail` verdict, still
        // `Ok`): what is tested is that no check fails for want of a slot.
        let chunk = vec![0u8; 1024];
        let encoded = params.encode();
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let checker = checker.clone();
                let chunk = chunk.clone();
                let encoded = encoded.to_vec();
                std::thread::spawn(move || {
                    let roots = [[0u8; 32]];
                    let input = CheckInput {
                        module_hash: &hash,
                        seed,
                        params: &encoded,
                        roots: &roots,
                        phase_seeds: &[],
                    };
                    let request = CheckRequest {
                        output: 0,
                        leaf: 0,
                        chunk: &chunk,
                        salt: [0u8; 32],
                        samples: 0,
                    };
                    checker.check_leaf(&input, &request).map(|_| ())
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
    }
}
