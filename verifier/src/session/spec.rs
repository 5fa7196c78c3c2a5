//! What one session challenges ([`ChallengeSpec`]) and how it judges the answer
//! ([`SessionConfig`]: timing [`Envelope`], minimum RTT, leaves to open, [`Timeouts`]).

use std::time::Duration;

use protocol::limits::MAX_OPEN_LEAVES;
use protocol::{ChallengeId, Hotkey, ModuleHash, Negotiated};
use serde::{Deserialize, Serialize};

use super::error::SessionError;
use super::layout::OutputLayout;

/// Leaves opened per challenge unless configured otherwise (docs/design.md: default 32).
pub const DEFAULT_OPENINGS: u32 = 32;

/// Positions sampled inside each opened leaf by modules that sample (`membw`).
pub const DEFAULT_SAMPLES: u32 = 4;

/// Most RTT ever subtracted from a measured time, unless configured otherwise: a miner can
/// inflate the RTT measured before the challenge, and this bounds what that buys it.
pub const DEFAULT_RTT_CAP: Duration = Duration::from_millis(50);

/// One challenge of one device: who asks whom to run what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeSpec {
    /// The validator's id for this challenge (unique per validator: the miner's replay key).
    pub challenge_id: ChallengeId,
    /// Protocol and ABI versions negotiated with the miner.
    pub versions: Negotiated,
    /// The validator's hotkey (bound into the seed).
    pub validator: Hotkey,
    /// The miner's hotkey (bound into the seed; the `Prepare` is addressed to it).
    pub miner: Hotkey,
    /// BLAKE3 of the module's bytes.
    pub module_hash: ModuleHash,
    /// The module's bytes, when the miner lacks them (must hash to `module_hash`).
    pub module_bytes: Option<Vec<u8>>,
    /// The module's binary params.
    pub params: Vec<u8>,
    /// The device index on the miner's machine.
    pub device: u32,
    /// Unix time in ms after which the miner must refuse the `Prepare`.
    pub expires_at_ms: u64,
    /// The outputs the module commits with these params (from the verifier's knowledge).
    pub layout: OutputLayout,
}

/// The time window a claimed device class allows for this challenge, in seconds of measured
/// time (see [`Timing`](super::Timing)).
///
/// Only `peak_floor_s` and `max_s` decide: below `peak_floor_s` (the work at the class's
/// datasheet peak) is `too-fast`, above `max_s` is `too-slow`. `min_s`, the calibrated
/// window's lower edge, is reported but never fails a challenge, so a well-optimised honest
/// backend is never punished (docs/design.md §Verdicts).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Lower edge of the calibrated window (informational).
    pub min_s: f64,
    /// Upper edge of the calibrated window: slower is `too-slow`.
    pub max_s: f64,
    /// The physical bound from the datasheet peak: faster is `too-fast`.
    pub peak_floor_s: f64,
}

impl Envelope {
    /// Checks `0 ≤ peak_floor_s ≤ min_s ≤ max_s`, all finite.
    pub fn validate(&self) -> Result<(), SessionError> {
        let ordered = self.peak_floor_s >= 0.0
            && self.peak_floor_s <= self.min_s
            && self.min_s <= self.max_s
            && self.max_s.is_finite();
        if ordered {
            Ok(())
        } else {
            Err(SessionError::BadEnvelope {
                peak_floor_s: self.peak_floor_s,
                min_s: self.min_s,
                max_s: self.max_s,
            })
        }
    }
}

/// How long the session waits for each answer of the miner, from the moment it asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From sending `Prepare` to `Ready` (module compiled, device readied). Untimed work, so
    /// generous.
    pub ready: Duration,
    /// From sending `Go` to the `Commitment`. Must exceed the envelope's `max_s`, or a slow
    /// device reads as `timeout` instead of `too-slow`.
    pub commitment: Duration,
    /// From sending `Open` to the `Openings`.
    pub openings: Duration,
}

impl Timeouts {
    /// 60 s for `Ready`, `2·max_s + 1 s` for the commitment, 10 s for the openings.
    pub fn for_envelope(envelope: &Envelope) -> Self {
        let commitment = Duration::try_from_secs_f64(2.0 * envelope.max_s)
            .unwrap_or(Duration::from_secs(3600))
            .saturating_add(Duration::from_secs(1));
        Self {
            ready: Duration::from_secs(60),
            commitment,
            openings: Duration::from_secs(10),
        }
    }
}

/// How a session judges the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// The claimed class's window for this challenge.
    pub envelope: Envelope,
    /// The minimum RTT to the miner measured by the verifier before the challenge (never the
    /// peer's own figures).
    pub min_rtt: Duration,
    /// The most RTT subtracted, whatever `min_rtt` says.
    pub rtt_cap: Duration,
    /// Leaves opened, drawn uniformly with replacement (`1..=MAX_OPEN_LEAVES`).
    pub openings: u32,
    /// Positions sampled per opened leaf by sampling modules.
    pub samples: u32,
    /// How long to wait for each answer (each interactive phase gets `timeouts.commitment`
    /// from its start).
    pub timeouts: Timeouts,
    /// The window of each interactive phase (protocol v2), in order; empty for a one-phase
    /// module. When set, its length is the number of phases the module must go through
    /// (a `PhaseDone` past the last is `protocol-error`), and every phase is judged on its own
    /// window: the verdict is the worst of them.
    pub phase_envelopes: Vec<Envelope>,
}

impl SessionConfig {
    /// The defaults: [`DEFAULT_RTT_CAP`], [`DEFAULT_OPENINGS`], [`DEFAULT_SAMPLES`] and
    /// [`Timeouts::for_envelope`].
    pub fn new(envelope: Envelope, min_rtt: Duration) -> Self {
        Self {
            envelope,
            min_rtt,
            rtt_cap: DEFAULT_RTT_CAP,
            openings: DEFAULT_OPENINGS,
            samples: DEFAULT_SAMPLES,
            timeouts: Timeouts::for_envelope(&envelope),
            phase_envelopes: Vec::new(),
        }
    }

    /// The same config with one window per interactive phase (see
    /// [`phase_envelopes`](Self::phase_envelopes)); a single window means a one-phase module.
    pub fn with_phases(mut self, phase_envelopes: Vec<Envelope>) -> Self {
        self.phase_envelopes = if phase_envelopes.len() > 1 {
            phase_envelopes
        } else {
            Vec::new()
        };
        self
    }

    /// How many interactive phases the module goes through (at least 1).
    pub fn phase_count(&self) -> u32 {
        u32::try_from(self.phase_envelopes.len()).map_or(u32::MAX, |n| n.max(1))
    }

    /// Checks the envelope and the number of leaves to open.
    pub fn validate(&self) -> Result<(), SessionError> {
        self.envelope.validate()?;
        for envelope in &self.phase_envelopes {
            envelope.validate()?;
        }
        let max = MAX_OPEN_LEAVES;
        if self.openings == 0 || usize::try_from(self.openings).map_or(true, |n| n > max) {
            return Err(SessionError::BadOpenCount {
                got: self.openings,
                max,
            });
        }
        Ok(())
    }

    /// The RTT subtracted from measured times: `min(min_rtt, rtt_cap)`.
    pub fn rtt_credit(&self) -> Duration {
        self.min_rtt.min(self.rtt_cap)
    }
}
