//! [`MinerSession`]: the state machine of one challenge of one device, miner side.

use std::time::Duration;

use challenges::prf::challenge_seed;
use protocol::ed25519_dalek::SigningKey;
use protocol::{
    Commitment, Digest, ErrorCode, ErrorMsg, Go, Message, MinerTimings, Open, Openings, PhaseDone,
    PhaseKey, Prepare, Ready, Root, SessionKey, Signed,
};

use challenge_runtime::StageTimes;

use super::{Action, Ended, Event, Responder, refusal};

/// How long the session waits for the validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Longest the device stays reserved between `Ready` and the validator's `Go`
    /// (docs/design.md §No score without proof, rule 5).
    pub reserve: Duration,
    /// Longest wait for the validator's `PhaseKey` after a `PhaseDone`, and for its `Open`
    /// after the commitment.
    pub message: Duration,
}

/// Where a session stands. Times are the caller's clock.
#[derive(Debug, Clone)]
enum State {
    /// `Load` asked for.
    Loading,
    /// `Reserve` asked for.
    Reserving,
    /// `Ready` sent at `ready_at`; the device is held for `reserve` at most.
    AwaitGo { ready_at: Duration },
    /// The run goes on. `cites` is what the next `PhaseDone` cites (the `Go`, then the last
    /// `PhaseKey`); `failed` is the refusal to send when the run fails because a phase key
    /// was refused.
    Running {
        go: Digest,
        go_at: Duration,
        cites: Digest,
        failed: Option<ErrorMsg>,
    },
    /// `PhaseDone ended` (digest `done`) sent at `asked_at`; the run waits for the key.
    AwaitPhaseKey {
        go: Digest,
        go_at: Duration,
        done: Digest,
        ended: u32,
        asked_at: Duration,
    },
    /// The commitment was sent at `asked_at`; the `Open` is awaited.
    AwaitOpen { go: Digest, asked_at: Duration },
    /// `Open` asked of the caller.
    Opening { go: Digest },
    /// Over.
    Done(Ended),
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::Loading => "loading the module",
            Self::Reserving => "reserving the device",
            Self::AwaitGo { .. } => "waiting for Go",
            Self::Running { .. } => "running",
            Self::AwaitPhaseKey { .. } => "waiting for the phase key",
            Self::AwaitOpen { .. } => "waiting for Open",
            Self::Opening { .. } => "opening leaves",
            Self::Done(_) => "finished",
        }
    }
}

/// The honest miner's side of one challenge: a state machine with no I/O and no clock of its
/// own (see the [module docs](super)).
///
/// Guarantees: every `Go`, `PhaseKey` and `Open` it acts on is signed by the validator's
/// session key (the `Open` is bound to the stream the handshake authenticated) and cites this
/// challenge's previous message; everything it signs cites the validator's message it answers
/// (`PhaseDone` the `Go` or the last `PhaseKey`, the `Commitment` the `Go`); the device is held
/// without a `Go` for [`SessionLimits::reserve`] at most; a session that ends sends at most one
/// refusal and nothing after it; the same events at the same times give the same actions.
pub struct MinerSession {
    key: SigningKey,
    validator_key: SessionKey,
    prepare: Prepare,
    prepare_digest: Digest,
    limits: SessionLimits,
    state: State,
}

impl std::fmt::Debug for MinerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MinerSession")
            .field("challenge", &self.prepare.challenge_id)
            .field("device", &self.prepare.device)
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

impl MinerSession {
    /// A session for the admitted `prepare` (its signed form has digest `prepare_digest`),
    /// signing with the miner's session `key`, accepting the validator's messages signed by
    /// `validator_key` (the session key its handshake proved).
    pub fn new(
        key: SigningKey,
        validator_key: SessionKey,
        prepare: Prepare,
        prepare_digest: Digest,
        limits: SessionLimits,
    ) -> Self {
        Self {
            key,
            validator_key,
            prepare,
            prepare_digest,
            limits,
            state: State::Loading,
        }
    }

    /// The challenge's `Prepare`.
    pub fn prepare(&self) -> &Prepare {
        &self.prepare
    }

    /// The state's name, for logs.
    pub fn state(&self) -> &'static str {
        self.state.name()
    }

    fn on_loaded(&mut self, loaded: Result<(), ErrorMsg>) -> Vec<Action> {
        match loaded {
            Ok(()) => {
                self.state = State::Reserving;
                vec![Action::Reserve]
            }
            // Nothing reserved yet: nothing to release.
            Err(e) => self.end_with(e.code, Message::Error(e), false),
        }
    }

    fn on_reserved(&mut self, reserved: Result<(), ErrorMsg>, now: Duration) -> Vec<Action> {
        match reserved {
            Ok(()) => {
                self.state = State::AwaitGo { ready_at: now };
                vec![Action::Send(Message::Ready(Ready {
                    challenge_id: self.prepare.challenge_id,
                    prepare: self.prepare_digest,
                }))]
            }
            Err(e) => self.end_with(e.code, Message::Error(e), false),
        }
    }

    fn on_message(&mut self, message: Message, now: Duration) -> Vec<Action> {
        if let Some(actions) = self.overdue(now) {
            return actions;
        }
        match (&self.state, message) {
            (State::AwaitGo { .. }, Message::Go(go)) => self.on_go(&go, now),
            (State::AwaitPhaseKey { .. }, Message::PhaseKey(key)) => self.on_phase_key(&key),
            (State::AwaitOpen { go, .. }, Message::Open(open)) => {
                let go = *go;
                self.on_open(go, open)
            }
            // The validator gave up on this challenge: nothing more is owed.
            (State::AwaitGo { .. } | State::AwaitOpen { .. }, Message::Error(_)) => {
                self.state = State::Done(Ended::Abandoned);
                vec![Action::Release, Action::Finish]
            }
            (State::AwaitPhaseKey { go, go_at, .. }, other) => {
                let detail = format!("{} while waiting for the phase key", other.kind().name());
                let (go, go_at) = (*go, *go_at);
                self.refuse_phase(go, go_at, ErrorCode::UnexpectedMessage, detail)
            }
            (_, other) => {
                let detail = format!("{} while {}", other.kind().name(), self.state.name());
                self.refuse(ErrorCode::UnexpectedMessage, detail)
            }
        }
    }

    fn on_go(&mut self, signed: &Signed<Go>, now: Duration) -> Vec<Action> {
        let go = match signed.verify_from(&self.validator_key) {
            Ok(go) => go,
            Err(e) => {
                let e = ErrorMsg::from(&e);
                return self.refuse(e.code, e.detail);
            }
        };
        if go.prepare != self.prepare_digest || go.challenge_id != self.prepare.challenge_id {
            return self.refuse(
                ErrorCode::UnexpectedMessage,
                "this Go cites another Prepare",
            );
        }
        let p = &self.prepare;
        let seed = challenge_seed(
            go.nonce.as_bytes(),
            p.validator.as_bytes(),
            p.miner.as_bytes(),
            p.module_hash.as_bytes(),
            &p.params,
            p.device,
        );
        let digest = signed.digest();
        self.state = State::Running {
            go: digest,
            go_at: now,
            cites: digest,
            failed: None,
        };
        vec![Action::Run { seed }]
    }

    fn on_phase_end(&mut self, ended: u32, roots: Vec<[u8; 32]>, now: Duration) -> Vec<Action> {
        let State::Running {
            go,
            go_at,
            cites,
            ref failed,
        } = self.state
        else {
            return self.misuse("PhaseEnd");
        };
        if let Some(failed) = failed {
            // A phase key was refused and the guest ended a phase anyway: no key comes.
            return vec![Action::Resume(Err(failed.detail.clone()))];
        }
        let done = PhaseDone {
            cites,
            phase: ended,
            roots: roots.into_iter().map(Root::new).collect(),
        };
        match Signed::sign(&self.key, &done) {
            Ok(signed) => {
                self.state = State::AwaitPhaseKey {
                    go,
                    go_at,
                    done: signed.digest(),
                    ended,
                    asked_at: now,
                };
                vec![Action::Send(Message::PhaseDone(signed))]
            }
            Err(e) => {
                let detail = format!("cannot sign PhaseDone {ended}: {e}");
                self.refuse_phase(go, go_at, ErrorCode::Internal, detail)
            }
        }
    }

    fn on_phase_key(&mut self, signed: &Signed<PhaseKey>) -> Vec<Action> {
        let State::AwaitPhaseKey {
            go,
            go_at,
            done,
            ended,
            ..
        } = self.state
        else {
            return self.misuse("PhaseKey");
        };
        let key = match signed.verify_from(&self.validator_key) {
            Ok(key) => key,
            Err(e) => {
                let e = ErrorMsg::from(&e);
                let detail = format!("the phase key does not verify: {}", e.detail);
                return self.refuse_phase(go, go_at, e.code, detail);
            }
        };
        if key.cites != done || Some(key.phase) != ended.checked_add(1) {
            let detail = format!(
                "the phase key for phase {} does not answer PhaseDone {ended}",
                key.phase
            );
            return self.refuse_phase(go, go_at, ErrorCode::UnexpectedMessage, detail);
        }
        self.state = State::Running {
            go,
            go_at,
            cites: signed.digest(),
            failed: None,
        };
        vec![Action::Resume(Ok(key.nonce.into_bytes()))]
    }

    fn on_run_done(
        &mut self,
        roots: Vec<[u8; 32]>,
        stages: StageTimes,
        now: Duration,
    ) -> Vec<Action> {
        let State::Running {
            go, go_at, failed, ..
        } = &self.state
        else {
            return self.misuse("RunDone");
        };
        let (go, go_at) = (*go, *go_at);
        if let Some(failed) = failed.clone() {
            // The module finished although a phase key was refused: the refusal stands.
            return self.refuse(failed.code, failed.detail);
        }
        let commitment = Commitment {
            challenge: go,
            roots: roots.into_iter().map(Root::new).collect(),
            timings: MinerTimings {
                total_ms: ms(now.saturating_sub(go_at)),
                fill_ms: ms(stages.fill),
                compute_ms: ms(stages.compute),
                hash_ms: ms(stages.hash),
            },
        };
        match Signed::sign(&self.key, &commitment) {
            Ok(signed) => {
                self.state = State::AwaitOpen { go, asked_at: now };
                vec![Action::Send(Message::Commitment(signed))]
            }
            Err(e) => self.refuse(
                ErrorCode::Internal,
                format!("cannot sign the commitment: {e}"),
            ),
        }
    }

    fn on_run_failed(&mut self, error: ErrorMsg) -> Vec<Action> {
        let State::Running { failed, .. } = &self.state else {
            return self.misuse("RunFailed");
        };
        let error = failed.clone().unwrap_or(error);
        self.refuse(error.code, error.detail)
    }

    fn on_open(&mut self, go: Digest, open: Open) -> Vec<Action> {
        if open.challenge != go {
            return self.refuse(
                ErrorCode::UnexpectedMessage,
                "this Open cites another challenge",
            );
        }
        self.state = State::Opening { go };
        vec![Action::Open(open.leaves)]
    }

    fn on_opened(&mut self, opened: Result<Vec<protocol::OpeningWire>, String>) -> Vec<Action> {
        let State::Opening { go } = self.state else {
            return self.misuse("Opened");
        };
        match opened {
            Ok(openings) => {
                self.state = State::Done(Ended::Served);
                let openings = Openings {
                    challenge: go,
                    openings,
                };
                vec![
                    Action::Release,
                    Action::Send(Message::Openings(openings)),
                    Action::Finish,
                ]
            }
            Err(e) => self.refuse(
                ErrorCode::BadParams,
                format!("cannot open the leaves asked for: {e}"),
            ),
        }
    }

    fn on_timeout(&mut self, now: Duration) -> Vec<Action> {
        self.overdue(now).unwrap_or_default()
    }

    /// The actions that end or move the session when its pending answer is overdue at `now`.
    fn overdue(&mut self, now: Duration) -> Option<Vec<Action>> {
        let deadline = self.poll_timeout()?;
        if now < deadline {
            return None;
        }
        Some(match self.state {
            State::AwaitGo { .. } => {
                let detail = format!(
                    "no Go within {:.1} s of Ready: the reservation of device {} has lapsed \
                     (reserve_s); send a new Prepare",
                    self.limits.reserve.as_secs_f64(),
                    self.prepare.device
                );
                self.state = State::Done(Ended::Lapsed);
                vec![
                    Action::Release,
                    Action::Lapse,
                    Action::Send(refusal(ErrorCode::UnexpectedMessage, detail)),
                    Action::Finish,
                ]
            }
            State::AwaitPhaseKey {
                go, go_at, ended, ..
            } => {
                let detail = format!(
                    "no phase key within {:.1} s of PhaseDone {ended}",
                    self.limits.message.as_secs_f64()
                );
                self.refuse_phase(go, go_at, ErrorCode::UnexpectedMessage, detail)
            }
            State::AwaitOpen { .. } => {
                self.state = State::Done(Ended::Abandoned);
                vec![Action::Release, Action::Finish]
            }
            _ => Vec::new(),
        })
    }

    /// Refuses the pending phase key: the run is told (its `phase_end` fails), and the
    /// refusal is sent when the run has stopped.
    fn refuse_phase(
        &mut self,
        go: Digest,
        go_at: Duration,
        code: ErrorCode,
        detail: String,
    ) -> Vec<Action> {
        let error = ErrorMsg::new(code, detail);
        let reason = error.detail.clone();
        self.state = State::Running {
            go,
            go_at,
            cites: go,
            failed: Some(error),
        };
        vec![Action::Resume(Err(reason))]
    }

    /// Ends the session with a refusal, releasing the device first.
    fn refuse(&mut self, code: ErrorCode, detail: impl Into<String>) -> Vec<Action> {
        self.end_with(code, refusal(code, detail), true)
    }

    fn end_with(&mut self, code: ErrorCode, message: Message, release: bool) -> Vec<Action> {
        self.state = State::Done(Ended::Refused(code));
        let mut actions = Vec::with_capacity(3);
        if release {
            actions.push(Action::Release);
        }
        actions.push(Action::Send(message));
        actions.push(Action::Finish);
        actions
    }

    /// An event the caller should not have delivered now (a bug in the caller, not the
    /// validator's doing): the session ends with an internal refusal.
    fn misuse(&mut self, event: &str) -> Vec<Action> {
        if matches!(self.state, State::Done(_)) {
            return Vec::new();
        }
        let detail = format!("{event} while {}", self.state.name());
        self.refuse(ErrorCode::Internal, detail)
    }
}

impl Responder for MinerSession {
    fn start(&mut self, _now: Duration) -> Vec<Action> {
        self.state = State::Loading;
        vec![Action::Load]
    }

    fn handle(&mut self, event: Event, now: Duration) -> Vec<Action> {
        if matches!(self.state, State::Done(_)) {
            return Vec::new();
        }
        match event {
            Event::Loaded(result) if matches!(self.state, State::Loading) => self.on_loaded(result),
            Event::Reserved(result) if matches!(self.state, State::Reserving) => {
                self.on_reserved(result, now)
            }
            Event::Loaded(_) => self.misuse("Loaded"),
            Event::Reserved(_) => self.misuse("Reserved"),
            Event::Message(message) => self.on_message(message, now),
            Event::PhaseEnd { ended, roots } => self.on_phase_end(ended, roots, now),
            Event::RunDone { roots, stages } => self.on_run_done(roots, stages, now),
            Event::RunFailed(error) => self.on_run_failed(error),
            Event::Opened(opened) => self.on_opened(opened),
            Event::Timeout => self.on_timeout(now),
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        match self.state {
            State::AwaitGo { ready_at } => Some(ready_at.saturating_add(self.limits.reserve)),
            State::AwaitPhaseKey { asked_at, .. } | State::AwaitOpen { asked_at, .. } => {
                Some(asked_at.saturating_add(self.limits.message))
            }
            _ => None,
        }
    }

    fn awaits_message(&self) -> bool {
        matches!(
            self.state,
            State::AwaitGo { .. } | State::AwaitPhaseKey { .. } | State::AwaitOpen { .. }
        )
    }

    fn ended(&self) -> Option<&Ended> {
        match &self.state {
            State::Done(ended) => Some(ended),
            _ => None,
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
