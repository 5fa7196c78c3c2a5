//! One challenge of one device over its own QUIC stream, driving a [`VerifierSession`]: the
//! session decides, this code only moves messages and reads the clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::ed25519_dalek::SigningKey;
use protocol::{
    ChallengeId, ErrorCode, Hotkey, Message, ModuleHash, Negotiated, Openings, Role, SessionKey,
};
use tracing::debug;
use transport::{FramedStream, TransportError};

use super::barrier::Member;
use super::plan::Planned;
use super::round::ChallengeEvidence;
use crate::classes::CpuRates;
use crate::session::{
    ChallengeSpec, CommitmentOutcome, OutputLayout, SandboxChecker, SessionConfig, SessionError,
    TimedOut, Verdict, VerifierSession,
};

/// What one device challenge is about.
#[derive(Debug, Clone)]
pub(crate) struct DeviceJob {
    pub(crate) device: u32,
    pub(crate) planned: Planned,
    pub(crate) validator: Hotkey,
    pub(crate) miner: Hotkey,
    pub(crate) miner_key: SessionKey,
    pub(crate) versions: Negotiated,
    pub(crate) key: SigningKey,
    pub(crate) min_rtt: Duration,
    pub(crate) openings: u32,
    pub(crate) samples: u32,
    pub(crate) rtt_cap: Duration,
    pub(crate) prepare_lifetime: Duration,
    pub(crate) ready_timeout: Duration,
    pub(crate) openings_timeout: Duration,
    /// When the round's time against the miner is up (from the round's epoch).
    pub(crate) round_deadline: Duration,
    /// `busy-device` answers are retried for this multiple of the envelope's `max_s`.
    pub(crate) busy_budget: f64,
    /// Whether the machine is rented (the challenge is the small exact-work one).
    pub(crate) rented: bool,
}

/// The first wait before retrying a `busy-device` answer; each retry doubles it up to
/// [`BUSY_BACKOFF_MAX`]. Retries go on for the job's busy budget (`busy_budget × max_s`), so a
/// device another validator holds for its short reservation is reached, and one kept busy for
/// longer is a busy `timeout` (no pass, no charge).
const BUSY_BACKOFF: Duration = Duration::from_millis(50);
const BUSY_BACKOFF_MAX: Duration = Duration::from_millis(500);

/// A device whose `Ready` came: the `Go` can be sent.
pub(crate) struct Prepared {
    session: VerifierSession,
    stream: FramedStream,
    round_deadline: Duration,
    cpu_rates: Option<CpuRates>,
    rented: bool,
}

/// How one device's challenge ended: judged, or stopped by our own failure.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The session's verdict on the miner.
    Judged(Verdict),
    /// Our own failure: no verdict, never charged to the miner.
    Ours(OwnFailure),
}

impl From<OwnFailure> for Outcome {
    fn from(failure: OwnFailure) -> Self {
        Self::Ours(failure)
    }
}

impl From<SessionError> for Outcome {
    fn from(e: SessionError) -> Self {
        Self::Ours(OwnFailure::Session(e))
    }
}

/// Why the verifier itself could not finish a device's challenge. The device gets no verdict
/// this round (no pass, no charge); the message goes to the round report's `error`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OwnFailure {
    /// The planned params do not lay out (a planner bug).
    #[error("verifier cannot lay out its own challenge: {0}")]
    Layout(#[source] crate::session::LayoutError),
    /// The session refused one of our own steps (a verifier bug).
    #[error("verifier error (not charged to the miner): {0}")]
    Session(#[source] SessionError),
    /// The OS random number generator failed: the session is void rather than run with
    /// predictable seeds, nonces or leaves.
    #[error("verifier error (not charged to the miner): {0}; session void")]
    Random(#[source] TransportError),
    /// A session just put in its slot was not there (cannot happen).
    #[error("verifier error (not charged to the miner): the session was lost")]
    SessionLost,
    /// The tile check's blocking task panicked or was cancelled.
    #[error("check worker failed: {0}")]
    CheckWorker(#[source] tokio::task::JoinError),
    /// The device's own task panicked or was cancelled.
    #[error("verifier error (not charged to the miner): the device's task failed: {0}")]
    DeviceTask(#[source] tokio::task::JoinError),
}

/// How one device's challenge ended: its outcome and the session's evidence (none when no
/// session was started, or our own task lost it).
pub(crate) struct Ended {
    pub(crate) outcome: Outcome,
    pub(crate) evidence: Option<Box<ChallengeEvidence>>,
}

/// What the stream gave.
enum Event {
    Message(Message),
    Malformed(String),
    Closed,
    Timeout,
    /// The round's time against the miner is up.
    RoundOver,
}

fn random<const N: usize>() -> Result<[u8; N], OwnFailure> {
    transport::identity::os_random().map_err(OwnFailure::Random)
}

async fn next_event(
    stream: &mut FramedStream,
    session: &VerifierSession,
    epoch: Instant,
    round_deadline: Duration,
) -> Event {
    let now = epoch.elapsed();
    if now >= round_deadline {
        return Event::RoundOver;
    }
    let session_deadline = session.poll_timeout().unwrap_or(round_deadline);
    let round_first = round_deadline < session_deadline;
    let wait = session_deadline.min(round_deadline).saturating_sub(now);
    match stream.recv(wait.max(Duration::from_millis(1))).await {
        Ok(m) => Event::Message(m),
        Err(TransportError::Timeout(_)) if round_first => Event::RoundOver,
        Err(TransportError::Timeout(_)) => Event::Timeout,
        Err(TransportError::Protocol(e)) => Event::Malformed(e.to_string()),
        Err(_) => Event::Closed,
    }
}

/// Runs a step that waits on the miner (opening a stream, sending) until the round's deadline;
/// `None` when the deadline came first.
async fn before_deadline<T>(
    epoch: Instant,
    round_deadline: Duration,
    step: impl std::future::Future<Output = T>,
) -> Option<T> {
    let left = round_deadline.saturating_sub(epoch.elapsed());
    tokio::time::timeout(left, step).await.ok()
}

/// The verdict of a session whose round ended before the miner let it go on.
fn round_over(session: &mut VerifierSession, epoch: Instant) -> Verdict {
    let verdict = session.on_round_over(epoch.elapsed());
    ended(session, verdict)
}

/// The verdict of a session an event ended (`verdict`), or the one it already had.
fn ended(session: &VerifierSession, verdict: Option<Verdict>) -> Verdict {
    verdict
        .or_else(|| session.verdict().cloned())
        .unwrap_or_else(session_gone)
}

/// A verdict for an event that is not the awaited message (`None`: keep waiting).
fn other_event(
    session: &mut VerifierSession,
    event: Event,
    epoch: Instant,
) -> Result<Option<Verdict>, SessionError> {
    let now = epoch.elapsed();
    Ok(match event {
        Event::Message(Message::Error(e)) => Some(session.on_peer_error(&e, now)?),
        Event::Message(other) => Some(session.on_unexpected(other.kind().name(), false, now)?),
        Event::Malformed(detail) => Some(session.on_unexpected(&detail, true, now)?),
        Event::Closed => session.on_closed(now),
        Event::Timeout => session.on_timeout(now),
        Event::RoundOver => session.on_round_over(now),
    })
}

/// Sends the `Prepare` on a new stream of `connection` and waits for `Ready`. When the miner
/// lacks the module, asks again with its bytes. `Err(ended)`: it ended before `Go` (with the
/// last session's evidence, when one was started).
pub(crate) async fn prepare(
    connection: &quinn::Connection,
    job: &DeviceJob,
    epoch: Instant,
) -> Result<Prepared, Ended> {
    let mut slot = None;
    match prepare_in(connection, job, epoch, &mut slot).await {
        Ok(prepared) => Ok(prepared),
        Err(outcome) => Err(Ended {
            outcome,
            evidence: slot
                .as_ref()
                .map(|s| evidence_of(s, job.planned.cpu_rates, job.rented)),
        }),
    }
}

/// [`prepare`], keeping the session in `slot` so that its evidence outlives an early end.
async fn prepare_in(
    connection: &quinn::Connection,
    job: &DeviceJob,
    epoch: Instant,
    slot: &mut Option<VerifierSession>,
) -> Result<Prepared, Outcome> {
    let mut with_bytes = false;
    let mut busy_since: Option<Duration> = None;
    let mut backoff = BUSY_BACKOFF;
    let envelope = job.planned.envelope;
    let busy_limit = Duration::try_from_secs_f64((job.busy_budget * envelope.max_s).max(0.0))
        .unwrap_or(Duration::ZERO);
    loop {
        let module_hash = ModuleHash::new(job.planned.module.hash());
        let layout =
            OutputLayout::builtin(&module_hash, &job.planned.params).map_err(OwnFailure::Layout)?;
        let expires = transport::identity::unix_ms_now()
            .saturating_add(u64::try_from(job.prepare_lifetime.as_millis()).unwrap_or(u64::MAX));
        let spec = ChallengeSpec {
            challenge_id: ChallengeId::new(random()?),
            versions: job.versions,
            validator: job.validator,
            miner: job.miner,
            module_hash,
            module_bytes: with_bytes.then(|| job.planned.module.bytes.to_vec()),
            params: job.planned.params.clone(),
            device: job.device,
            expires_at_ms: expires,
            layout,
        };
        let mut config = SessionConfig::new(job.planned.envelope, job.min_rtt)
            .with_phases(job.planned.phase_envelopes.clone());
        config.openings = job.openings;
        config.samples = job.samples;
        config.rtt_cap = job.rtt_cap;
        config.timeouts.ready = job.ready_timeout;
        config.timeouts.openings = job.openings_timeout;
        let session = slot.insert(VerifierSession::new(
            spec,
            config,
            job.key.clone(),
            job.miner_key,
        )?);
        let prepare = session.start(epoch.elapsed())?;
        let deadline = job.round_deadline;
        let mut stream = match before_deadline(
            epoch,
            deadline,
            FramedStream::open_to(connection, Role::Miner),
        )
        .await
        {
            Some(Ok(s)) => s,
            Some(Err(_)) => return Err(Outcome::Judged(closed(session, epoch))),
            None => return Err(Outcome::Judged(round_over(session, epoch))),
        };
        match before_deadline(epoch, deadline, stream.send(&Message::Prepare(prepare))).await {
            Some(Ok(())) => {}
            Some(Err(_)) => return Err(Outcome::Judged(closed(session, epoch))),
            None => return Err(Outcome::Judged(round_over(session, epoch))),
        }
        loop {
            let event = next_event(&mut stream, session, epoch, deadline).await;
            match event {
                Event::Message(Message::Ready(ready)) => {
                    match session.on_ready(&ready, epoch.elapsed()) {
                        Ok(None) => {
                            let Some(session) = slot.take() else {
                                return Err(OwnFailure::SessionLost.into());
                            };
                            return Ok(Prepared {
                                session,
                                stream,
                                round_deadline: deadline,
                                cpu_rates: job.planned.cpu_rates,
                                rented: job.rented,
                            });
                        }
                        Ok(Some(verdict)) => return Err(Outcome::Judged(verdict)),
                        Err(e) => return Err(e.into()),
                    }
                }
                Event::Message(Message::Error(e))
                    if e.code == ErrorCode::UnknownModule && !with_bytes =>
                {
                    debug!(
                        device = job.device,
                        "miner lacks the module; sending its bytes"
                    );
                    with_bytes = true;
                    break;
                }
                Event::Message(Message::Error(e)) if e.code == ErrorCode::BusyDevice => {
                    // Another validator's challenge (or our own previous one, winding down)
                    // holds the device: retry within the busy budget and the round's time.
                    let now = epoch.elapsed();
                    let since = *busy_since.get_or_insert(now);
                    let waited = now.saturating_sub(since);
                    let retry_at = now.saturating_add(backoff);
                    if waited.saturating_add(backoff) > busy_limit || retry_at >= deadline {
                        let busy = TimedOut::busy(
                            envelope,
                            waited.as_secs_f64(),
                            busy_limit.as_secs_f64(),
                        );
                        debug!(
                            device = job.device,
                            waited_s = busy.waited_s,
                            "device stayed busy"
                        );
                        return Err(Outcome::Judged(Verdict::Timeout(busy)));
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2).min(BUSY_BACKOFF_MAX);
                    break;
                }
                other => match other_event(session, other, epoch) {
                    Ok(Some(verdict)) => return Err(Outcome::Judged(verdict)),
                    Ok(None) => {}
                    Err(e) => return Err(e.into()),
                },
            }
        }
    }
}

/// The evidence a receipt is made of: the session's spec, config and transcript.
fn evidence_of(
    session: &VerifierSession,
    cpu_rates: Option<CpuRates>,
    rented: bool,
) -> Box<ChallengeEvidence> {
    Box::new(ChallengeEvidence {
        spec: session.spec().clone(),
        config: session.config().clone(),
        transcript: session.transcript().clone(),
        cpu_rates,
        rented,
    })
}

fn closed(session: &mut VerifierSession, epoch: Instant) -> Verdict {
    let verdict = session.on_closed(epoch.elapsed());
    ended(session, verdict)
}

/// The verdict when a session that had not started saw the connection go (cannot happen once
/// `start` succeeded; kept total rather than panicking).
fn session_gone() -> Verdict {
    Verdict::ProtocolError(crate::session::ProtocolFault {
        waiting_for: crate::session::Phase::Ready,
        cause: crate::session::Cause::ConnectionClosed,
        detail: "the connection closed".into(),
        peer_code: None,
    })
}

impl Prepared {
    /// How the challenge ended with `outcome`, with this session's evidence.
    pub(crate) fn ended(&self, outcome: Outcome) -> Ended {
        Ended {
            outcome,
            evidence: Some(evidence_of(&self.session, self.cpu_rates, self.rented)),
        }
    }

    /// This device was ready only after its machine's other devices had been started together
    /// (docs/design.md §Protocol: all GPUs of a machine are challenged at once; a device started
    /// alone could reuse another's compute and memory, one after the other). It is not
    /// challenged this round: the miner is told (its device is released at once) and the
    /// verdict is a `busy` timeout, no pass and no charge, as for a device another validator
    /// holds. `waited` is how long after the first device's `Ready` this one's came.
    pub(crate) async fn too_late(mut self, waited: Duration, barrier: Duration) -> Ended {
        let detail = format!(
            "ready {:.1} s after this machine's first device; its devices start together, so \
             this one is not challenged this round",
            waited.as_secs_f64()
        );
        // Best effort: a miner that does not read it still releases the device after reserve_s.
        let refusal = Message::Error(protocol::ErrorMsg::new(
            protocol::ErrorCode::UnexpectedMessage,
            detail,
        ));
        let _ = self.stream.send(&refusal).await;
        self.stream.finish();
        let late = TimedOut::busy(
            self.session.config().envelope,
            waited.as_secs_f64(),
            barrier.as_secs_f64(),
        );
        self.ended(Outcome::Judged(Verdict::Timeout(late)))
    }

    /// Sends `Go` (the clock starts now). A failure to send is judged at once.
    pub(crate) async fn go(&mut self, epoch: Instant) -> Result<(), Outcome> {
        let nonce = random()?;
        let go = self.session.go(epoch.elapsed(), nonce)?;
        let go = Message::Go(go);
        match before_deadline(epoch, self.round_deadline, self.stream.send(&go)).await {
            Some(Ok(())) => Ok(()),
            Some(Err(_)) => Err(Outcome::Judged(closed(&mut self.session, epoch))),
            None => Err(Outcome::Judged(round_over(&mut self.session, epoch))),
        }
    }

    /// Waits for the commitment (relaying the interactive phases: each `PhaseDone` waits at
    /// `member`'s barrier, then our `PhaseKey` goes out), opens the leaves, checks them: the
    /// verdict, with the session's evidence.
    pub(crate) async fn finish(
        mut self,
        checker: Arc<SandboxChecker>,
        epoch: Instant,
        member: Member,
    ) -> Ended {
        let (openings, arrived) = match self.exchange(epoch, member).await {
            Ok(received) => received,
            Err(outcome) => return self.ended(outcome),
        };
        let Self {
            session,
            mut stream,
            cpu_rates,
            rented,
            ..
        } = self;
        let checked = tokio::task::spawn_blocking(move || {
            let mut session = session;
            let verdict = session.on_openings(&openings, arrived, checker.as_ref());
            let outcome = verdict.map_or_else(Outcome::from, Outcome::Judged);
            (outcome, session)
        })
        .await;
        stream.finish();
        match checked {
            Ok((outcome, session)) => Ended {
                outcome,
                evidence: Some(evidence_of(&session, cpu_rates, rented)),
            },
            Err(e) => Ended {
                outcome: OwnFailure::CheckWorker(e).into(),
                evidence: None,
            },
        }
    }

    /// Everything up to the `Openings`: the phases, the commitment, the `Open`. `Ok` with the
    /// openings and their arrival time; `Err` when the session ended before them.
    async fn exchange(
        &mut self,
        epoch: Instant,
        mut member: Member,
    ) -> Result<(Openings, Duration), Outcome> {
        let session = &mut self.session;
        let stream = &mut self.stream;
        let deadline = self.round_deadline;
        // Phases, then the commitment.
        let open = loop {
            match next_event(stream, session, epoch, deadline).await {
                Event::Message(Message::PhaseDone(signed)) => {
                    let arrived = epoch.elapsed();
                    if let Some(v) = session.on_phase_done(&signed, arrived)? {
                        return Err(Outcome::Judged(v));
                    }
                    let Some(phase) = session.awaiting_phase_key() else {
                        return Err(Outcome::Judged(ended(session, None)));
                    };
                    if before_deadline(epoch, deadline, member.arrive(phase))
                        .await
                        .is_none()
                    {
                        return Err(Outcome::Judged(round_over(session, epoch)));
                    }
                    let nonce = random()?;
                    let key = session.phase_key(epoch.elapsed(), nonce)?;
                    let message = Message::PhaseKey(key);
                    match before_deadline(epoch, deadline, stream.send(&message)).await {
                        Some(Ok(())) => {}
                        Some(Err(_)) => return Err(Outcome::Judged(closed(session, epoch))),
                        None => return Err(Outcome::Judged(round_over(session, epoch))),
                    }
                }
                Event::Message(Message::Commitment(signed)) => {
                    let arrived = epoch.elapsed();
                    // The leaves are drawn from fresh OS randomness; without it the session is
                    // void (our failure), never opened at fixed leaves.
                    let mut draw = LeafDraw::from_os()?;
                    match session.on_commitment(&signed, arrived, &mut || draw.next_u64())? {
                        CommitmentOutcome::Open(open) => break open,
                        CommitmentOutcome::Verdict(v) => return Err(Outcome::Judged(v)),
                    }
                }
                other => {
                    if let Some(v) = other_event(session, other, epoch)? {
                        return Err(Outcome::Judged(v));
                    }
                }
            }
        };
        // Every phase is over for this device: the others no longer wait for it.
        member.leave();
        match before_deadline(epoch, deadline, stream.send(&Message::Open(open))).await {
            Some(Ok(())) => {}
            Some(Err(_)) => return Err(Outcome::Judged(closed(session, epoch))),
            None => return Err(Outcome::Judged(round_over(session, epoch))),
        }
        // Openings.
        loop {
            match next_event(stream, session, epoch, deadline).await {
                Event::Message(Message::Openings(openings)) => {
                    return Ok((openings, epoch.elapsed()));
                }
                other => {
                    if let Some(v) = other_event(session, other, epoch)? {
                        return Err(Outcome::Judged(v));
                    }
                }
            }
        }
    }
}

/// The uniform `u64`s leaves are drawn from: BLAKE3's extendable output keyed by 32 bytes of
/// fresh OS randomness (one OS call per commitment; a failed OS source is an error, never a
/// fixed stream).
struct LeafDraw(blake3::OutputReader);

impl LeafDraw {
    fn from_os() -> Result<Self, OwnFailure> {
        Self::from_source(random)
    }

    /// The draw keyed by what `source` gives; its failure is the draw's.
    fn from_source<E>(source: impl FnOnce() -> Result<[u8; 32], E>) -> Result<Self, E> {
        let key = source()?;
        let mut hasher = blake3::Hasher::new_keyed(&key);
        hasher.update(b"gpuproof leaf draw");
        Ok(Self(hasher.finalize_xof()))
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.0.fill(&mut bytes);
        u64::from_le_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_failed_random_source_voids_the_draw_instead_of_a_fixed_leaf() {
        assert!(LeafDraw::from_source(|| Err("no entropy")).is_err());
        let mut a = LeafDraw::from_source(|| Ok::<_, ()>([1; 32])).unwrap();
        let mut b = LeafDraw::from_source(|| Ok::<_, ()>([2; 32])).unwrap();
        let (x, y) = (a.next_u64(), a.next_u64());
        assert_ne!(x, y);
        assert_ne!(x, b.next_u64());
        assert!(LeafDraw::from_os().is_ok());
    }
}
