//! [`VerifierSession`]: the state machine of one challenge of one device.

use std::time::Duration;

use challenges::prf::{challenge_seed, phase_seed};
use protocol::ed25519_dalek::SigningKey;
use protocol::{
    Commitment, Digest, ErrorMsg, Go, LeafRef, ModuleHash, Nonce, Open, Openings, PhaseDone,
    PhaseKey, Prepare, Ready, SessionKey, Signed,
};

use super::checker::LeafChecker;
use super::error::SessionError;
use super::judge::{Context, Judgement, Requested};
use super::sampler::{draw_leaves, draw_salt};
use super::spec::{ChallengeSpec, SessionConfig};
use super::transcript::{At, Transcript};
use super::verdict::{
    Cause, Phase, PhaseTiming, ProtocolFault, TimeJudgement, TimedOut, Timing, Verdict,
    WrongResult, bounded,
};

/// The interactive phases so far (protocol v2): what each ended phase measured and reported,
/// and the nonces we sent.
#[derive(Debug, Clone, Default)]
struct PhaseLog {
    /// The nonce of each `PhaseKey` sent (`nonces[k − 1]` began phase `k`).
    nonces: Vec<[u8; 32]>,
    /// Each ended phase's figures.
    timings: Vec<PhaseTiming>,
    /// The roots the last `PhaseDone` reported (each must extend the one before).
    roots: Vec<[u8; 32]>,
}

/// Where a session stands. Times are the caller's clock (`now` of the event that set them).
#[derive(Debug, Clone)]
enum State {
    /// Built, nothing sent.
    Idle,
    /// `Prepare` sent at `asked_at`.
    AwaitReady { prepare: Digest, asked_at: Duration },
    /// The miner is ready; `Go` not sent yet.
    Ready { prepare: Digest },
    /// `Go` sent at `sent_at`: the clock runs. Phase `phase` began at `phase_at` with the
    /// signed message whose digest is `cites` (our `Go`, or our `PhaseKey phase`).
    AwaitCommitment {
        go: Digest,
        seed: [u8; 32],
        sent_at: Duration,
        phase: u32,
        phase_at: Duration,
        cites: Digest,
        log: Box<PhaseLog>,
    },
    /// Phase `phase − 1` is done (its `PhaseDone` has digest `done`); our `PhaseKey phase`
    /// waits for the caller to release it to every device of the machine at once.
    AwaitPhaseKey {
        go: Digest,
        seed: [u8; 32],
        sent_at: Duration,
        phase: u32,
        done: Digest,
        log: Box<PhaseLog>,
    },
    /// `Open` sent at `asked_at`.
    AwaitOpenings {
        requested: Box<Requested>,
        timing: Timing,
        asked_at: Duration,
    },
    /// Judged.
    Done(Verdict),
    /// Our own checker failed: no verdict.
    Aborted,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::AwaitReady { .. } => "waiting for Ready",
            Self::Ready { .. } => "ready for Go",
            Self::AwaitCommitment { .. } => "waiting for the commitment",
            Self::AwaitPhaseKey { .. } => "ready for the next phase key",
            Self::AwaitOpenings { .. } => "waiting for the openings",
            Self::Done(_) => "finished",
            Self::Aborted => "aborted",
        }
    }
}

/// What the session does after a `Commitment`.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitmentOutcome {
    /// Send this `Open` to the miner and wait for its `Openings`.
    Open(Open),
    /// The session ended with this verdict (nothing to send).
    Verdict(Verdict),
}

/// One challenge of one device, as a state machine with no I/O and no clock of its own.
///
/// Events: [`start`](Self::start) → [`on_ready`](Self::on_ready) → [`go`](Self::go) →
/// [`on_commitment`](Self::on_commitment) → [`on_openings`](Self::on_openings), plus
/// [`on_timeout`](Self::on_timeout), [`on_closed`](Self::on_closed),
/// [`on_peer_error`](Self::on_peer_error) and [`on_unexpected`](Self::on_unexpected) at any
/// time. Every event takes `now` (a monotonic time on the caller's clock, any epoch);
/// [`poll_timeout`](Self::poll_timeout) says when the caller must call `on_timeout` at the
/// latest.
///
/// Guarantees: each event either moves the session on or ends it with one [`Verdict`], which
/// never changes afterwards; the same events at the same times with the same randomness give
/// the same messages and verdict; nothing the miner sends panics it or yields a
/// [`SessionError`] (see the [module docs](super) for which verdict each misdeed gets).
#[derive(Debug)]
pub struct VerifierSession {
    spec: ChallengeSpec,
    config: SessionConfig,
    key: SigningKey,
    miner_key: SessionKey,
    state: State,
    transcript: Transcript,
}

impl VerifierSession {
    /// A session for `spec`, judged by `config`, signing with the verifier's session `key`,
    /// expecting the miner's messages signed by `miner_key` (the session key its handshake
    /// proved).
    ///
    /// Fails if the config is invalid (see [`SessionConfig::validate`]) or the spec's module
    /// bytes do not hash to its module hash.
    pub fn new(
        spec: ChallengeSpec,
        config: SessionConfig,
        key: SigningKey,
        miner_key: SessionKey,
    ) -> Result<Self, SessionError> {
        config.validate()?;
        if let Some(bytes) = &spec.module_bytes {
            let actual = ModuleHash::of(bytes);
            if actual != spec.module_hash {
                return Err(SessionError::ModuleHashMismatch {
                    declared: spec.module_hash,
                    actual,
                });
            }
        }
        Ok(Self {
            spec,
            config,
            key,
            miner_key,
            state: State::Idle,
            transcript: Transcript::default(),
        })
    }

    /// The challenge.
    pub fn spec(&self) -> &ChallengeSpec {
        &self.spec
    }

    /// How it is judged.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// What the session sent and received so far, with the times (read-only: the session
    /// records it and never decides from it). A receipt is made of it (`crate::receipt`).
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// The state's name, for logs and errors.
    pub fn state(&self) -> &'static str {
        self.state.name()
    }

    /// The verdict, once the session has one.
    pub fn verdict(&self) -> Option<&Verdict> {
        match &self.state {
            State::Done(v) => Some(v),
            _ => None,
        }
    }

    /// The leaves asked for, once the `Open` is out.
    pub fn requested(&self) -> Option<&[LeafRef]> {
        match &self.state {
            State::AwaitOpenings { requested, .. } => Some(&requested.leaves),
            _ => None,
        }
    }

    /// The time (on the caller's clock) at which the pending answer is overdue: call
    /// [`on_timeout`](Self::on_timeout) then, unless another event comes first. `None` when
    /// nothing is pending from the miner.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let t = &self.config.timeouts;
        match &self.state {
            State::AwaitReady { asked_at, .. } => Some(asked_at.saturating_add(t.ready)),
            State::AwaitCommitment { phase_at, .. } => Some(phase_at.saturating_add(t.commitment)),
            State::AwaitOpenings { asked_at, .. } => Some(asked_at.saturating_add(t.openings)),
            _ => None,
        }
    }

    /// Starts the challenge: the signed `Prepare` to send now (untimed).
    pub fn start(&mut self, now: Duration) -> Result<Signed<Prepare>, SessionError> {
        self.require("start", matches!(self.state, State::Idle))?;
        let spec = &self.spec;
        let prepare = Prepare {
            protocol_version: spec.versions.protocol_version,
            abi_version: spec.versions.abi_version,
            challenge_id: spec.challenge_id,
            validator: spec.validator,
            miner: spec.miner,
            module_hash: spec.module_hash,
            module_bytes: spec.module_bytes.clone(),
            params: spec.params.clone(),
            device: spec.device,
            expires_at_ms: spec.expires_at_ms,
        };
        let signed = Signed::sign(&self.key, &prepare)?;
        self.transcript.prepare = Some(At {
            at: now,
            message: signed.clone(),
        });
        self.state = State::AwaitReady {
            prepare: signed.digest(),
            asked_at: now,
        };
        Ok(signed)
    }

    /// The miner's `Ready`. `Ok(None)`: accepted, call [`go`](Self::go) next. `Ok(Some(_))`:
    /// the session ended (a `Ready` for another `Prepare`, out of place, or too late).
    pub fn on_ready(
        &mut self,
        ready: &Ready,
        now: Duration,
    ) -> Result<Option<Verdict>, SessionError> {
        if let Some(verdict) = self.peer_event("on_ready", now)? {
            return Ok(Some(verdict));
        }
        let State::AwaitReady { prepare, .. } = self.state else {
            return Ok(Some(self.unexpected("Ready")));
        };
        if ready.challenge_id != self.spec.challenge_id || ready.prepare != prepare {
            let detail = format!(
                "Ready names challenge {} / Prepare {}, ours is {} / {}",
                ready.challenge_id, ready.prepare, self.spec.challenge_id, prepare
            );
            return Ok(Some(self.fault(Cause::OtherChallenge, detail, None)));
        }
        self.transcript.ready_at = Some(now);
        self.state = State::Ready { prepare };
        Ok(None)
    }

    /// Starts the clock: the signed `Go` to send now, carrying `nonce` (fresh OS randomness in
    /// production). The seed is bound to the nonce, both hotkeys, the module, its params and
    /// the device (`challenges::prf::challenge_seed`).
    pub fn go(&mut self, now: Duration, nonce: [u8; 32]) -> Result<Signed<Go>, SessionError> {
        let State::Ready { prepare } = self.state else {
            return Err(self.wrong_state("go"));
        };
        let spec = &self.spec;
        let seed = challenge_seed(
            &nonce,
            spec.validator.as_bytes(),
            spec.miner.as_bytes(),
            spec.module_hash.as_bytes(),
            &spec.params,
            spec.device,
        );
        let go = Go {
            challenge_id: spec.challenge_id,
            prepare,
            nonce: Nonce::new(nonce),
        };
        let signed = Signed::sign(&self.key, &go)?;
        self.transcript.go = Some(At {
            at: now,
            message: signed.clone(),
        });
        self.transcript.nonce = Some(nonce);
        self.state = State::AwaitCommitment {
            go: signed.digest(),
            seed,
            sent_at: now,
            phase: 0,
            phase_at: now,
            cites: signed.digest(),
            log: Box::default(),
        };
        Ok(signed)
    }

    /// The phase whose `PhaseKey` waits to be sent (protocol v2): `Some(k)` after the miner's
    /// `PhaseDone k − 1` was accepted, until [`phase_key`](Self::phase_key) sends it.
    pub fn awaiting_phase_key(&self) -> Option<u32> {
        match self.state {
            State::AwaitPhaseKey { phase, .. } => Some(phase),
            _ => None,
        }
    }

    /// The miner's signed `PhaseDone` (protocol v2), arrived at `now`: the clock of that phase
    /// stops here. `Ok(None)` when it is accepted: the session then waits for the caller to
    /// send the next phase's key ([`phase_key`](Self::phase_key)), to every device of the
    /// machine in the same instant. `Ok(Some(verdict))` when it ended the session:
    /// `protocol-error` for a bad signature, another challenge's citation, a phase we did not
    /// open (also any `PhaseDone` of a one-phase module), or roots that drop or change ones
    /// reported before or exceed the layout's outputs; `timeout` past the phase's deadline.
    pub fn on_phase_done(
        &mut self,
        signed: &Signed<PhaseDone>,
        now: Duration,
    ) -> Result<Option<Verdict>, SessionError> {
        if let Some(verdict) = self.peer_event("on_phase_done", now)? {
            return Ok(Some(verdict));
        }
        let phases = self.config.phase_count();
        let State::AwaitCommitment {
            go,
            seed,
            sent_at,
            phase,
            phase_at,
            cites,
            ref log,
        } = self.state
        else {
            return Ok(Some(self.unexpected("PhaseDone")));
        };
        self.transcript.phase_dones.push(At {
            at: now,
            message: signed.clone(),
        });
        let done = match signed.verify_from(&self.miner_key) {
            Ok(done) => done,
            Err(e) => return Ok(Some(self.fault(Cause::BadSignature, e.to_string(), None))),
        };
        if done.cites != cites {
            let detail = format!(
                "PhaseDone cites {}, phase {phase} began with {cites}",
                done.cites
            );
            return Ok(Some(self.fault(Cause::OtherChallenge, detail, None)));
        }
        if done.phase != phase || phase.saturating_add(1) >= phases {
            let detail = format!(
                "PhaseDone for phase {} while phase {phase} of {phases} runs",
                done.phase
            );
            return Ok(Some(self.fault(Cause::BadPhase, detail, None)));
        }
        let roots: Vec<[u8; 32]> = done.roots.iter().map(|r| r.into_bytes()).collect();
        if let Some(detail) = self.root_contradiction(&log.roots, &roots) {
            return Ok(Some(self.fault(Cause::BadPhase, detail, None)));
        }
        let mut log = log.clone();
        log.timings
            .push(self.phase_timing(phase, now.saturating_sub(phase_at)));
        log.roots = roots;
        self.state = State::AwaitPhaseKey {
            go,
            seed,
            sent_at,
            phase: phase + 1,
            done: signed.digest(),
            log,
        };
        Ok(None)
    }

    /// Our signed `PhaseKey` for the phase [`awaiting_phase_key`](Self::awaiting_phase_key)
    /// names, with the verifier's fresh `nonce` (OS randomness in production), sent at `now`:
    /// the clock of that phase starts here. The nonce is kept: `check` gets the phase seed it
    /// gives.
    pub fn phase_key(
        &mut self,
        now: Duration,
        nonce: [u8; 32],
    ) -> Result<Signed<PhaseKey>, SessionError> {
        let State::AwaitPhaseKey {
            go,
            seed,
            sent_at,
            phase,
            done,
            ref log,
        } = self.state
        else {
            return Err(self.wrong_state("phase_key"));
        };
        let key = PhaseKey {
            cites: done,
            phase,
            nonce: Nonce::new(nonce),
        };
        let signed = Signed::sign(&self.key, &key)?;
        self.transcript.phase_keys.push(At {
            at: now,
            message: signed.clone(),
        });
        self.transcript.phase_nonces.push(nonce);
        let mut log = log.clone();
        log.nonces.push(nonce);
        self.state = State::AwaitCommitment {
            go,
            seed,
            sent_at,
            phase,
            phase_at: now,
            cites: signed.digest(),
            log,
        };
        Ok(signed)
    }

    /// The miner's signed `Commitment`, arrived at `now` (the clock stops here). On success the
    /// leaves to open are drawn from `next` (uniform `u64`s; the OS random source in
    /// production) and the `Open` to send is returned.
    ///
    /// A commitment not signed by the miner's session key, or answering another `Go`, ends the
    /// session with `protocol-error`; one with the wrong number of roots with `wrong-result`;
    /// one past the deadline with `timeout`.
    pub fn on_commitment(
        &mut self,
        signed: &Signed<Commitment>,
        now: Duration,
        next: &mut dyn FnMut() -> u64,
    ) -> Result<CommitmentOutcome, SessionError> {
        if let Some(verdict) = self.peer_event("on_commitment", now)? {
            return Ok(CommitmentOutcome::Verdict(verdict));
        }
        let phases = self.config.phase_count();
        let State::AwaitCommitment {
            go,
            seed,
            sent_at,
            phase,
            phase_at,
            ref log,
            ..
        } = self.state
        else {
            return Ok(CommitmentOutcome::Verdict(self.unexpected("Commitment")));
        };
        self.transcript.commitment = Some(At {
            at: now,
            message: signed.clone(),
        });
        let log = log.clone();
        let commitment = match signed.verify_from(&self.miner_key) {
            Ok(commitment) => commitment,
            Err(e) => {
                let verdict = self.fault(Cause::BadSignature, e.to_string(), None);
                return Ok(CommitmentOutcome::Verdict(verdict));
            }
        };
        if commitment.challenge != go {
            let detail = format!(
                "commitment answers Go {}, ours is {go}",
                commitment.challenge
            );
            let verdict = self.fault(Cause::OtherChallenge, detail, None);
            return Ok(CommitmentOutcome::Verdict(verdict));
        }
        if phase.saturating_add(1) < phases {
            let detail = format!("Commitment during phase {phase} of {phases}");
            let verdict = self.fault(Cause::BadPhase, detail, None);
            return Ok(CommitmentOutcome::Verdict(verdict));
        }
        let committed: Vec<[u8; 32]> = commitment.roots.iter().map(|r| r.into_bytes()).collect();
        if let Some(detail) = self.root_contradiction(&log.roots, &committed) {
            let verdict = self.fault(Cause::BadPhase, detail, None);
            return Ok(CommitmentOutcome::Verdict(verdict));
        }
        let mut timing = self.timing(now.saturating_sub(sent_at));
        if phases > 1 {
            timing.phases = log.timings.clone();
            timing
                .phases
                .push(self.phase_timing(phase, now.saturating_sub(phase_at)));
        }
        let layout = self.spec.layout;
        let outputs = usize::try_from(layout.outputs()).unwrap_or(usize::MAX);
        if commitment.roots.len() != outputs {
            let detail = format!(
                "{} roots committed, the module's layout has {outputs} outputs",
                commitment.roots.len()
            );
            let wrong = wrong_result(Cause::RootCount, None, detail, None, timing);
            return Ok(CommitmentOutcome::Verdict(self.finish(wrong)));
        }
        let leaves = draw_leaves(&layout, self.config.openings, next);
        let salts: Vec<[u8; 32]> = leaves.iter().map(|_| draw_salt(next)).collect();
        self.transcript.open = Some(At {
            at: now,
            message: leaves.clone(),
        });
        self.transcript.salts = salts.clone();
        let open = Open {
            challenge: go,
            leaves: leaves.clone(),
        };
        let requested = Requested {
            go,
            seed,
            roots: commitment.roots.iter().map(|r| r.into_bytes()).collect(),
            leaves,
            salts,
            phase_seeds: log
                .nonces
                .iter()
                .zip(1u32..)
                .map(|(nonce, k)| phase_seed(&seed, k, nonce))
                .collect(),
        };
        self.state = State::AwaitOpenings {
            requested: Box::new(requested),
            timing,
            asked_at: now,
        };
        Ok(CommitmentOutcome::Open(open))
    }

    /// The miner's `Openings`: judged with `checker` (the module's `check` in the verifier's
    /// own CPU sandbox in production). Always ends the session.
    ///
    /// `Err` only for misuse or when `checker` itself fails (then the session is aborted with
    /// no verdict: our failure is not charged to the miner).
    pub fn on_openings(
        &mut self,
        openings: &Openings,
        now: Duration,
        checker: &dyn LeafChecker,
    ) -> Result<Verdict, SessionError> {
        if let Some(verdict) = self.peer_event("on_openings", now)? {
            return Ok(verdict);
        }
        let State::AwaitOpenings {
            requested, timing, ..
        } = &self.state
        else {
            return Ok(self.unexpected("Openings"));
        };
        self.transcript.openings = Some(At {
            at: now,
            message: openings.clone(),
        });
        let context = Context {
            layout: &self.spec.layout,
            module_hash: &self.spec.module_hash,
            params: &self.spec.params,
            samples: self.config.samples,
        };
        let mut timing = timing.clone();
        let judgement = match requested.judge(&context, openings, checker) {
            Ok(judgement) => judgement,
            Err(e) => {
                self.state = State::Aborted;
                return Err(e);
            }
        };
        let verdict = match judgement {
            Judgement::AllRight { checked } => {
                timing.leaves_checked = checked;
                judge_time(timing)
            }
            Judgement::Wrong {
                cause,
                leaf,
                detail,
            } => wrong_result(cause, leaf, detail, None, timing),
        };
        Ok(self.finish(verdict))
    }

    /// The caller's timer fired at `now`: if the pending answer is overdue, the session ends
    /// and its verdict is returned (`timeout` before the commitment, `wrong-result` after).
    /// `None` if nothing was overdue or the session had already ended.
    pub fn on_timeout(&mut self, now: Duration) -> Option<Verdict> {
        self.expire(now)
    }

    /// The round's time against this miner is up at `now` (the caller's per-miner limit):
    /// ends a running session as if its pending answer's deadline had passed — `timeout`
    /// before the commitment (also while `Go` waits for the other devices), `wrong-result`
    /// after it. A round cut short is never "no verdict" (docs/design.md §No score without proof,
    /// rule 1). `None` if the session was idle or had already ended.
    pub fn on_round_over(&mut self, now: Duration) -> Option<Verdict> {
        self.phase()?;
        Some(self.no_answer(now, false))
    }

    /// The connection to the miner closed at `now`. Ends a running session: `timeout` before
    /// the commitment (no answer came), `wrong-result` after it. `None` if the session was idle
    /// or had already ended.
    pub fn on_closed(&mut self, now: Duration) -> Option<Verdict> {
        if let Some(verdict) = self.expire(now) {
            return Some(verdict);
        }
        self.phase()?;
        Some(self.no_answer(now, true))
    }

    /// The miner sent an error message instead of an answer: `protocol-error` before the
    /// commitment, `wrong-result` after. Ends the session.
    pub fn on_peer_error(
        &mut self,
        error: &ErrorMsg,
        now: Duration,
    ) -> Result<Verdict, SessionError> {
        if let Some(verdict) = self.peer_event("on_peer_error", now)? {
            return Ok(verdict);
        }
        self.transcript.peer_error = Some(At {
            at: now,
            message: error.clone(),
        });
        let detail = format!("the miner refused: {}", error.detail);
        Ok(self.fault(Cause::PeerError, detail, Some(error.code)))
    }

    /// The transport received something from the miner that has no place here: bytes that do
    /// not decode (`malformed: true`) or a message of another kind than the one awaited,
    /// described by `what`. `protocol-error` before the commitment, `wrong-result` after.
    pub fn on_unexpected(
        &mut self,
        what: &str,
        malformed: bool,
        now: Duration,
    ) -> Result<Verdict, SessionError> {
        if let Some(verdict) = self.peer_event("on_unexpected", now)? {
            return Ok(verdict);
        }
        if malformed {
            let detail = format!("undecodable message: {what}");
            return Ok(self.fault(Cause::Malformed, detail, None));
        }
        Ok(self.unexpected(what))
    }
}

/// Internals: state checks, deadlines, faults and timing.
impl VerifierSession {
    fn require(&self, event: &'static str, ok: bool) -> Result<(), SessionError> {
        if ok {
            Ok(())
        } else {
            Err(self.wrong_state(event))
        }
    }

    fn wrong_state(&self, event: &'static str) -> SessionError {
        SessionError::WrongState {
            event,
            state: self.state.name(),
        }
    }

    /// The prologue of every event caused by the miner: refused when idle or ended; ends the
    /// session if the pending answer is already overdue at `now`.
    fn peer_event(
        &mut self,
        event: &'static str,
        now: Duration,
    ) -> Result<Option<Verdict>, SessionError> {
        if self.phase().is_none() {
            return Err(self.wrong_state(event));
        }
        Ok(self.expire(now))
    }

    /// The answer awaited, while the session runs.
    fn phase(&self) -> Option<Phase> {
        match self.state {
            State::AwaitReady { .. } => Some(Phase::Ready),
            State::Ready { .. } => Some(Phase::Go),
            State::AwaitCommitment { phase, .. } => {
                Some(if phase.saturating_add(1) < self.config.phase_count() {
                    Phase::PhaseDone
                } else {
                    Phase::Commitment
                })
            }
            State::AwaitPhaseKey { .. } => Some(Phase::PhaseKey),
            State::AwaitOpenings { .. } => Some(Phase::Openings),
            State::Idle | State::Done(_) | State::Aborted => None,
        }
    }

    /// When the pending question was asked.
    fn asked_at(&self) -> Option<Duration> {
        match self.state {
            State::AwaitReady { asked_at, .. } | State::AwaitOpenings { asked_at, .. } => {
                Some(asked_at)
            }
            State::AwaitCommitment { phase_at, .. } => Some(phase_at),
            _ => None,
        }
    }

    /// The timeout of a phase (zero for our own `Go`, which has none).
    fn limit(&self, phase: Phase) -> Duration {
        let t = &self.config.timeouts;
        match phase {
            Phase::Ready => t.ready,
            Phase::Go => Duration::ZERO,
            Phase::Commitment | Phase::PhaseDone => t.commitment,
            Phase::PhaseKey => Duration::ZERO,
            Phase::Openings => t.openings,
        }
    }

    /// Ends the session if the pending answer is overdue at `now`.
    fn expire(&mut self, now: Duration) -> Option<Verdict> {
        let deadline = self.poll_timeout()?;
        (now >= deadline).then(|| self.no_answer(now, false))
    }

    /// Ends a running session whose pending answer will not come (deadline passed, or the
    /// connection closed): `wrong-result` after the commitment, `timeout` before it.
    fn no_answer(&mut self, now: Duration, connection_closed: bool) -> Verdict {
        if let State::AwaitOpenings { timing, .. } = &self.state {
            let (cause, detail) = if connection_closed {
                (
                    Cause::ConnectionClosed,
                    "the connection closed before the openings".to_string(),
                )
            } else {
                let limit = self.config.timeouts.openings.as_secs_f64();
                (
                    Cause::NoOpenings,
                    format!("no openings within {limit:.3} s of the Open"),
                )
            };
            let wrong = wrong_result(cause, None, detail, None, timing.clone());
            return self.finish(wrong);
        }
        let waiting_for = self.phase().unwrap_or(Phase::Ready);
        let waited = now.saturating_sub(self.asked_at().unwrap_or(now));
        let timed_out = TimedOut {
            waiting_for,
            waited_s: waited.as_secs_f64(),
            limit_s: self.limit(waiting_for).as_secs_f64(),
            connection_closed,
            window: self.config.envelope,
            busy: false,
        };
        self.finish(Verdict::Timeout(timed_out))
    }

    /// A message of kind `what` that has no place in the current state.
    fn unexpected(&mut self, what: &str) -> Verdict {
        let detail = format!("{} while {}", bounded(what), self.state.name());
        self.fault(Cause::Unexpected, detail, None)
    }

    /// The miner's fault: `protocol-error` before the commitment, `wrong-result` after it.
    fn fault(
        &mut self,
        cause: Cause,
        detail: String,
        peer_code: Option<protocol::ErrorCode>,
    ) -> Verdict {
        let verdict = match &self.state {
            State::AwaitOpenings { timing, .. } => {
                wrong_result(cause, None, detail, peer_code, timing.clone())
            }
            _ => Verdict::ProtocolError(ProtocolFault {
                waiting_for: self.phase().unwrap_or(Phase::Ready),
                cause,
                detail: bounded(detail),
                peer_code,
            }),
        };
        self.finish(verdict)
    }

    fn finish(&mut self, verdict: Verdict) -> Verdict {
        self.state = State::Done(verdict.clone());
        verdict
    }

    /// The timing of a commitment that arrived `raw` after `Go` was sent.
    fn timing(&self, raw: Duration) -> Timing {
        let measured = raw.saturating_sub(self.config.rtt_credit());
        Timing {
            window: self.config.envelope,
            measured_s: measured.as_secs_f64(),
            raw_s: raw.as_secs_f64(),
            rtt_s: raw.saturating_sub(measured).as_secs_f64(),
            leaves_checked: 0,
            phases: Vec::new(),
        }
    }

    /// The figures of interactive phase `phase`, which took `raw` on our clock.
    fn phase_timing(&self, phase: u32, raw: Duration) -> PhaseTiming {
        let window = usize::try_from(phase)
            .ok()
            .and_then(|k| self.config.phase_envelopes.get(k))
            .copied()
            .unwrap_or(self.config.envelope);
        PhaseTiming {
            window,
            measured_s: raw.saturating_sub(self.config.rtt_credit()).as_secs_f64(),
            raw_s: raw.as_secs_f64(),
        }
    }

    /// Why `roots` cannot follow `before` (roots reported at an earlier phase end): each report
    /// keeps every root reported before, unchanged, and none has more roots than the layout.
    fn root_contradiction(&self, before: &[[u8; 32]], roots: &[[u8; 32]]) -> Option<String> {
        let outputs = usize::try_from(self.spec.layout.outputs()).unwrap_or(usize::MAX);
        if roots.len() > outputs {
            return Some(format!(
                "{} roots reported, the module's layout has {outputs} outputs",
                roots.len()
            ));
        }
        if roots.len() < before.len() || roots.iter().zip(before).any(|(a, b)| a != b) {
            return Some(format!(
                "the roots do not extend the {} reported at the last phase end",
                before.len()
            ));
        }
        None
    }
}

/// `too-slow` above the window, `too-fast` below the peak floor, `pass` otherwise. With
/// interactive phases every phase is judged on its own window and the worst counts:
/// `too-fast` (another device answered) over `too-slow` over `pass`.
pub(crate) fn judge_time(timing: Timing) -> Verdict {
    let judged = if timing.phases.is_empty() {
        PhaseTiming {
            window: timing.window,
            measured_s: timing.measured_s,
            raw_s: timing.raw_s,
        }
        .judged()
    } else {
        timing
            .phases
            .iter()
            .map(PhaseTiming::judged)
            .max()
            .unwrap_or(TimeJudgement::Pass)
    };
    match judged {
        TimeJudgement::TooSlow => Verdict::TooSlow(timing),
        TimeJudgement::TooFast => Verdict::TooFast(timing),
        TimeJudgement::Pass => Verdict::Pass(timing),
    }
}

fn wrong_result(
    cause: Cause,
    leaf: Option<LeafRef>,
    detail: String,
    peer_code: Option<protocol::ErrorCode>,
    timing: Timing,
) -> Verdict {
    Verdict::WrongResult(WrongResult {
        cause,
        leaf,
        detail: bounded(detail),
        peer_code,
        timing,
    })
}
