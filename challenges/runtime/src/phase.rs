//! Interactive phases (host ABI v1.1, docs/design.md §Interactive phases): what `gpu.phase_end`
//! asks of whoever runs the challenge.
//!
//! The sandbox knows nothing of the network: the miner's session supplies a [`PhaseHook`] that
//! sends `PhaseDone` and waits for the verifier's `PhaseKey`; `run-local`, tests and benches
//! supply [`FixedNonces`]. A run with [`NoPhases`] is a one-phase run: a `phase_end` call fails
//! with `status::PHASE`.

/// Most interactive phases one challenge may have (a `phase_end` past this fails).
pub const MAX_PHASES: u32 = 16;

/// Why no phase key came; the guest's `phase_end` returns `status::PHASE` and the run fails
/// with this text in its error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PhaseRefused(pub String);

/// The run side's link to the verifier for `gpu.phase_end`.
pub trait PhaseHook: Send {
    /// Interactive phase `ended` is over (the device has finished its queued work) with `roots`
    /// committed so far: report it, wait for the verifier's `PhaseKey ended+1`, and return its
    /// 32-byte nonce; or say why none came. Called at most [`MAX_PHASES`] − 1 times per run,
    /// with `ended` = 0, 1, 2, … in order.
    fn phase_end(&mut self, ended: u32, roots: &[[u8; 32]]) -> Result<[u8; 32], PhaseRefused>;
}

/// No verifier to ask: every `phase_end` is refused (one-phase runs).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPhases;

impl PhaseHook for NoPhases {
    fn phase_end(&mut self, ended: u32, _roots: &[[u8; 32]]) -> Result<[u8; 32], PhaseRefused> {
        Err(PhaseRefused(format!(
            "the module ended phase {ended}, but this run has no verifier to send a phase key"
        )))
    }
}

/// Nonces fixed in advance: the `k`-th `phase_end` (k = 0, 1, …) gets `nonces[k]`; past the
/// end it is refused.
#[derive(Debug, Clone, Default)]
pub struct FixedNonces {
    nonces: Vec<[u8; 32]>,
}

impl FixedNonces {
    /// A hook answering with `nonces` in order.
    pub fn new(nonces: Vec<[u8; 32]>) -> Self {
        Self { nonces }
    }
}

impl PhaseHook for FixedNonces {
    fn phase_end(&mut self, ended: u32, roots: &[[u8; 32]]) -> Result<[u8; 32], PhaseRefused> {
        let nonce = usize::try_from(ended)
            .ok()
            .and_then(|k| self.nonces.get(k))
            .copied()
            .ok_or_else(|| {
                PhaseRefused(format!(
                    "the module ended phase {ended}, but only {} phase nonce(s) were given",
                    self.nonces.len()
                ))
            })?;
        let _ = roots;
        Ok(nonce)
    }
}

impl<H: PhaseHook + ?Sized> PhaseHook for Box<H> {
    fn phase_end(&mut self, ended: u32, roots: &[[u8; 32]]) -> Result<[u8; 32], PhaseRefused> {
        (**self).phase_end(ended, roots)
    }
}
