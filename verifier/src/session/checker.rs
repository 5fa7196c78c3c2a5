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
#[derive(Debug, Clone)]
pub struct SandboxChecker {
    sandbox: Arc<Sandbox>,
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
        Self {
            sandbox,
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
        let started = std::time::Instant::now();
        let verdict = self
            .sandbox
            .check(&module, input.seed, input.params, input.roots, request);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.check_nanos
            .fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
        Ok(verdict?)
    }
}
