//! [`PrepareGate`]: the miner's admission check for a signed `Prepare`, with replay memory.
//!
//! Sans-IO: the caller passes the current time in. A `Prepare` comes out of
//! [`PrepareGate::accept`] only if it is signed by the session's validator key, runs the
//! negotiated versions, names this miner and the session's validator, has not expired (beyond
//! the skew tolerance), does not live too long, carries module bytes that match its hash (when
//! it carries any), and was not accepted before. What the gate cannot know (whether the module
//! is cached, whether the device is free) is the caller's to check next.

use std::collections::BTreeMap;

use crate::error::ProtocolError;
use crate::ids::{ChallengeId, Hotkey, ModuleHash, SessionKey};
use crate::messages::{Negotiated, Prepare};
use crate::signed::Signed;

/// The gate's tolerances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatePolicy {
    /// Clock skew tolerated on `expires_at_ms`, in ms.
    pub skew_ms: u64,
    /// Longest time before expiry a `Prepare` may have, in ms (bounds replay memory).
    pub max_lifetime_ms: u64,
    /// Most unexpired challenges remembered; beyond it new ones are refused (rate limit).
    pub replay_capacity: usize,
}

impl Default for GatePolicy {
    /// 5 s skew, 120 s lifetime, 4096 remembered challenges.
    fn default() -> Self {
        Self {
            skew_ms: 5_000,
            max_lifetime_ms: 120_000,
            replay_capacity: 4096,
        }
    }
}

/// Admission check and replay memory for one miner. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct PrepareGate {
    miner: Hotkey,
    versions: Negotiated,
    policy: GatePolicy,
    /// `(validator, challenge id)` → expiry of the accepted `Prepare`.
    seen: BTreeMap<(Hotkey, ChallengeId), u64>,
}

/// The peer a `Prepare` arrived from, as authenticated by the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    /// The ed25519 session key the peer proved.
    pub session_key: SessionKey,
    /// The hotkey the session key's certificate binds it to.
    pub hotkey: Hotkey,
}

impl PrepareGate {
    /// A gate for the miner `miner`, expecting the `versions` negotiated with the peer.
    pub fn new(miner: Hotkey, versions: Negotiated, policy: GatePolicy) -> Self {
        Self {
            miner,
            versions,
            policy,
            seen: BTreeMap::new(),
        }
    }

    /// Unexpired challenges currently remembered.
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }

    /// Verifies and checks `signed` from `sender` at time `now_ms` (Unix ms); on success
    /// remembers it (so the same challenge is refused as replayed) and returns the `Prepare`.
    ///
    /// A refused `Prepare` is not remembered.
    pub fn accept(
        &mut self,
        signed: &Signed<Prepare>,
        sender: &Sender,
        now_ms: u64,
    ) -> Result<Prepare, ProtocolError> {
        let prepare = signed.verify_from(&sender.session_key)?;
        self.check(&prepare, sender, now_ms)?;
        self.remember(&prepare, now_ms)?;
        Ok(prepare)
    }

    fn check(&self, prepare: &Prepare, sender: &Sender, now_ms: u64) -> Result<(), ProtocolError> {
        let versions = [
            (
                "protocol",
                prepare.protocol_version,
                self.versions.protocol_version,
            ),
            ("abi", prepare.abi_version, self.versions.abi_version),
        ];
        for (what, got, supported) in versions {
            if got != supported {
                return Err(ProtocolError::UnsupportedVersion {
                    what,
                    got,
                    supported,
                });
            }
        }
        if prepare.validator != sender.hotkey {
            return Err(ProtocolError::WrongValidator {
                expected: sender.hotkey,
                got: prepare.validator,
            });
        }
        if prepare.miner != self.miner {
            return Err(ProtocolError::WrongMiner {
                expected: self.miner,
                got: prepare.miner,
            });
        }
        let skew_ms = self.policy.skew_ms;
        if prepare.expires_at_ms.saturating_add(skew_ms) < now_ms {
            return Err(ProtocolError::Expired {
                expires_at_ms: prepare.expires_at_ms,
                now_ms,
                skew_ms,
            });
        }
        let latest = now_ms
            .saturating_add(skew_ms)
            .saturating_add(self.policy.max_lifetime_ms);
        if prepare.expires_at_ms > latest {
            return Err(ProtocolError::LifetimeTooLong {
                expires_at_ms: prepare.expires_at_ms,
                now_ms,
                max_lifetime_ms: self.policy.max_lifetime_ms,
            });
        }
        if let Some(module) = &prepare.module_bytes {
            let actual = ModuleHash::of(module);
            if actual != prepare.module_hash {
                return Err(ProtocolError::ModuleHashMismatch {
                    declared: prepare.module_hash,
                    actual,
                });
            }
        }
        Ok(())
    }

    fn remember(&mut self, prepare: &Prepare, now_ms: u64) -> Result<(), ProtocolError> {
        let key = (prepare.validator, prepare.challenge_id);
        if self.seen.contains_key(&key) {
            return Err(ProtocolError::Replayed {
                validator: prepare.validator,
                challenge_id: prepare.challenge_id,
            });
        }
        // Forget what would now be refused as expired anyway.
        let skew_ms = self.policy.skew_ms;
        self.seen
            .retain(|_, expires_at_ms| expires_at_ms.saturating_add(skew_ms) >= now_ms);
        if self.seen.len() >= self.policy.replay_capacity {
            return Err(ProtocolError::ReplayGuardFull {
                capacity: self.policy.replay_capacity,
            });
        }
        self.seen.insert(key, prepare.expires_at_ms);
        Ok(())
    }
}
