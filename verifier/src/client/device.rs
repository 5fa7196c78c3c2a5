//! One challenge of one device over its own QUIC stream, driving a [`VerifierSession`]: the
//! session decides, this code only moves messages and reads the clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::ed25519_dalek::SigningKey;
use protocol::{ChallengeId, ErrorCode, Hotkey, Message, ModuleHash, Negotiated, SessionKey};
use tracing::debug;
use transport::{FramedStream, TransportError};

use super::plan::Planned;
use crate::session::{
    ChallengeSpec, CommitmentOutcome, OutputLayout, SandboxChecker, SessionConfig, SessionError,
    Verdict, VerifierSession,
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
}

/// How often a `busy-device` answer is retried, and how long to wait before each retry: covers
/// the miner releasing the device of our previous challenge, never a device kept busy by
/// someone else for long.
const BUSY_RETRIES: u32 = 20;
const BUSY_BACKOFF: Duration = Duration::from_millis(50);

/// A device whose `Ready` came: the `Go` can be sent.
pub(crate) struct Prepared {
    session: VerifierSession,
    stream: FramedStream,
}

/// A verdict, or our own failure (never charged to the miner).
pub(crate) type Outcome = Result<Verdict, String>;

/// What the stream gave.
enum Event {
    Message(Message),
    Malformed(String),
    Closed,
    Timeout,
}

fn random<const N: usize>() -> Result<[u8; N], String> {
    transport::identity::os_random().map_err(|e| e.to_string())
}

fn ours(e: SessionError) -> String {
    format!("verifier error (not charged to the miner): {e}")
}

async fn next_event(stream: &mut FramedStream, session: &VerifierSession, epoch: Instant) -> Event {
    let now = epoch.elapsed();
    let wait = session
        .poll_timeout()
        .map_or(Duration::from_secs(60), |deadline| {
            deadline.saturating_sub(now)
        });
    match stream.recv(wait.max(Duration::from_millis(1))).await {
        Ok(m) => Event::Message(m),
        Err(TransportError::Timeout(_)) => Event::Timeout,
        Err(TransportError::Protocol(e)) => Event::Malformed(e.to_string()),
        Err(_) => Event::Closed,
    }
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
    })
}

/// Sends the `Prepare` on a new stream of `connection` and waits for `Ready`. When the miner
/// lacks the module, asks again with its bytes. `Err(outcome)`: it ended before `Go`.
pub(crate) async fn prepare(
    connection: &quinn::Connection,
    job: &DeviceJob,
    epoch: Instant,
) -> Result<Prepared, Outcome> {
    let mut with_bytes = false;
    let mut busy_retries = 0u32;
    loop {
        let module_hash = ModuleHash::new(job.planned.module.hash());
        let layout = OutputLayout::builtin(&module_hash, &job.planned.params)
            .map_err(|e| Err(format!("verifier cannot lay out its own challenge: {e}")))?;
        let expires = transport::identity::unix_ms_now()
            .saturating_add(u64::try_from(job.prepare_lifetime.as_millis()).unwrap_or(u64::MAX));
        let spec = ChallengeSpec {
            challenge_id: ChallengeId::new(random().map_err(Err)?),
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
        let mut config = SessionConfig::new(job.planned.envelope, job.min_rtt);
        config.openings = job.openings;
        config.samples = job.samples;
        config.rtt_cap = job.rtt_cap;
        config.timeouts.ready = job.ready_timeout;
        config.timeouts.openings = job.openings_timeout;
        let mut session = VerifierSession::new(spec, config, job.key.clone(), job.miner_key)
            .map_err(|e| Err(ours(e)))?;
        let prepare = session.start(epoch.elapsed()).map_err(|e| Err(ours(e)))?;
        let mut stream = match FramedStream::open(connection).await {
            Ok(s) => s,
            Err(_) => return Err(Ok(closed(&mut session, epoch))),
        };
        if stream.send(&Message::Prepare(prepare)).await.is_err() {
            return Err(Ok(closed(&mut session, epoch)));
        }
        loop {
            let event = next_event(&mut stream, &session, epoch).await;
            match event {
                Event::Message(Message::Ready(ready)) => {
                    match session.on_ready(&ready, epoch.elapsed()) {
                        Ok(None) => return Ok(Prepared { session, stream }),
                        Ok(Some(verdict)) => return Err(Ok(verdict)),
                        Err(e) => return Err(Err(ours(e))),
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
                Event::Message(Message::Error(e))
                    if e.code == ErrorCode::BusyDevice && busy_retries < BUSY_RETRIES =>
                {
                    // Our own previous challenge on this device may still be winding down on
                    // the miner (it releases the device when its stream ends).
                    busy_retries += 1;
                    tokio::time::sleep(BUSY_BACKOFF).await;
                    break;
                }
                other => match other_event(&mut session, other, epoch) {
                    Ok(Some(verdict)) => return Err(Ok(verdict)),
                    Ok(None) => {}
                    Err(e) => return Err(Err(ours(e))),
                },
            }
        }
    }
}

fn closed(session: &mut VerifierSession, epoch: Instant) -> Verdict {
    session
        .on_closed(epoch.elapsed())
        .or_else(|| session.verdict().cloned())
        .unwrap_or_else(session_gone)
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
    /// Sends `Go` (the clock starts now). A failure to send is judged at once.
    pub(crate) async fn go(&mut self, epoch: Instant) -> Result<(), Outcome> {
        let nonce = random().map_err(Err)?;
        let go = self
            .session
            .go(epoch.elapsed(), nonce)
            .map_err(|e| Err(ours(e)))?;
        if self.stream.send(&Message::Go(go)).await.is_err() {
            return Err(Ok(closed(&mut self.session, epoch)));
        }
        Ok(())
    }

    /// Waits for the commitment, opens the leaves, checks them: the verdict.
    pub(crate) async fn finish(mut self, checker: Arc<SandboxChecker>, epoch: Instant) -> Outcome {
        let session = &mut self.session;
        let stream = &mut self.stream;
        // Commitment.
        let open = loop {
            match next_event(stream, session, epoch).await {
                Event::Message(Message::Commitment(signed)) => {
                    let mut draw = || random::<8>().map_or(0, u64::from_le_bytes);
                    match session
                        .on_commitment(&signed, epoch.elapsed(), &mut draw)
                        .map_err(ours)?
                    {
                        CommitmentOutcome::Open(open) => break open,
                        CommitmentOutcome::Verdict(v) => return Ok(v),
                    }
                }
                other => {
                    if let Some(v) = other_event(session, other, epoch).map_err(ours)? {
                        return Ok(v);
                    }
                }
            }
        };
        if stream.send(&Message::Open(open)).await.is_err() {
            return Ok(closed(session, epoch));
        }
        // Openings.
        loop {
            match next_event(stream, session, epoch).await {
                Event::Message(Message::Openings(openings)) => {
                    let now = epoch.elapsed();
                    let mut session = self.session;
                    let checked = tokio::task::spawn_blocking(move || {
                        let verdict = session.on_openings(&openings, now, checker.as_ref());
                        verdict.map_err(ours)
                    })
                    .await
                    .map_err(|e| format!("check worker failed: {e}"))?;
                    self.stream.finish();
                    return checked;
                }
                other => {
                    if let Some(v) = other_event(session, other, epoch).map_err(ours)? {
                        return Ok(v);
                    }
                }
            }
        }
    }
}
