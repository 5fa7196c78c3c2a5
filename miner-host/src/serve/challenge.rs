//! One challenge on one stream: the QUIC glue around a [`Responder`] (the honest
//! [`MinerSession`], or an adversary wrapping one).
//!
//! The server admits the stream first (per-validator rate limit, the `PrepareGate`: unsigned,
//! expired, replayed or wrongly addressed `Prepare`s are refused with a typed error); then the
//! session decides everything else and this file only carries out its [`Action`]s: loading the
//! module, reserving the device (one challenge per device at a time; a validator whose last
//! reservation of it lapsed without a `Go` waits `reserve` before reserving it again, docs/design.md
//! §No score without proof, rule 9), running the sandbox on a blocking thread (each
//! `gpu.phase_end` comes back as an [`Event::PhaseEnd`] through [`super::phases`]), opening
//! leaves, sending, and ending the stream. Everything the challenge held on the device is freed
//! when the stream ends, whatever way it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use challenge_runtime::{LoadedModule, RunOutcome, SandboxError};
use protocol::{ErrorCode, ErrorMsg, Message, NodePair, OpeningWire, Prepare, Sender, Signed};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use transport::identity::unix_ms_now;
use transport::{FramedStream, Peer, TransportError};

use super::phases::{self, PhaseEnd};
use super::server::{ConnectionState, Shared};
use crate::session::{Action, Event, MinerSession, Responder, SessionLimits};

/// Releases a device reservation when dropped.
struct Reservation<'a> {
    flag: &'a AtomicBool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.flag.store(false, Ordering::Release);
    }
}

fn refuse(code: ErrorCode, detail: impl Into<String>) -> ErrorMsg {
    ErrorMsg::new(code, detail)
}

/// The refusal code for a failed run, one per cause (every variant named, so a new one needs
/// a decision): a busy device or sandbox is `busy-device` (the validator retries); the module
/// failing on its params (a trap, an error status, a bad record, a request the backend
/// refuses) is `bad-params`; a module that does not compile or link is `bad-module`; this
/// machine's own failure (the engine, the device, out of device memory) is `internal`. The
/// verifier judges every refusal the same way (a fault; docs/design.md §Protocol); the code is
/// for the people reading its transcript.
fn sandbox_code(e: &SandboxError) -> ErrorCode {
    use challenge_runtime::BackendError as B;
    match e {
        SandboxError::Busy | SandboxError::Backend(B::Busy(_)) => ErrorCode::BusyDevice,
        SandboxError::Trap { .. }
        | SandboxError::Status { .. }
        | SandboxError::GuestAlloc { .. }
        | SandboxError::BadRecord { .. }
        | SandboxError::Backend(
            B::Invalid(_) | B::UnknownBuffer(_) | B::NoOutput(_) | B::NoDevice { .. },
        ) => ErrorCode::BadParams,
        SandboxError::Compile { .. }
        | SandboxError::ForbiddenImport { .. }
        | SandboxError::Link(_)
        | SandboxError::MissingExport { .. } => ErrorCode::BadModule,
        SandboxError::Engine(_)
        | SandboxError::Backend(B::OutOfMemory { .. } | B::Device(_) | B::Unavailable(_)) => {
            ErrorCode::Internal
        }
    }
}

/// How long `validator` must still wait before reserving `device` again, when its last
/// reservation of it lapsed without a `Go` less than `reserve` ago.
fn cooling_down(
    shared: &Shared,
    validator: &protocol::Hotkey,
    device: u32,
    reserve: Duration,
) -> Option<Duration> {
    let lapsed = shared.lapsed.lock().ok()?;
    let at = lapsed.get(&(*validator, device))?;
    reserve.checked_sub(at.elapsed()).filter(|w| !w.is_zero())
}

/// Notes that `validator`'s reservation of `device` lapsed now; forgets lapses older than the
/// reservation time (so the map holds at most one entry per validator and device).
fn lapse(shared: &Shared, validator: &protocol::Hotkey, device: u32) {
    let reserve = shared.settings.limits.reserve;
    if let Ok(mut lapsed) = shared.lapsed.lock() {
        lapsed.retain(|_, at| at.elapsed() < reserve);
        lapsed.insert((*validator, device), Instant::now());
    }
    shared
        .stats
        .reservations_expired
        .fetch_add(1, Ordering::Relaxed);
}

/// Runs a blocking closure off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TransportError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TransportError::Closed(format!("worker failed: {e}")))
}

/// Admits a challenge whose `Prepare` has arrived (rate limit, gate) and serves it.
pub(crate) async fn serve_challenge(
    stream: &mut FramedStream,
    connection: &quinn::Connection,
    shared: &Arc<Shared>,
    peer: &Peer,
    state: &ConnectionState,
    signed: Signed<Prepare>,
) -> Result<(), TransportError> {
    let now = shared.started.elapsed();
    let allowed = shared
        .rate
        .lock()
        .map(|mut r| r.try_take(&peer.hotkey, now))
        .unwrap_or(false);
    if !allowed {
        let detail = "too many challenges from this validator; retry in a few seconds";
        return refuse_and_end(stream, shared, refuse(ErrorCode::RateLimited, detail)).await;
    }
    let sender = Sender {
        session_key: peer.session_key,
        hotkey: peer.hotkey,
    };
    let accepted = shared
        .gate
        .lock()
        .map_err(|_| TransportError::Closed("gate lock poisoned".into()))
        .map(|mut gate| gate.accept(&signed, &sender, unix_ms_now()))?;
    let prepare = match accepted {
        Ok(p) => p,
        Err(e) => return refuse_and_end(stream, shared, ErrorMsg::from(&e)).await,
    };
    let session = MinerSession::new(
        shared.settings.identity.signing_key().clone(),
        peer.session_key,
        prepare.clone(),
        signed.digest(),
        SessionLimits {
            reserve: shared.settings.limits.reserve,
            message: shared.settings.limits.message_timeout,
        },
    );
    let responder: Box<dyn Responder> = match shared.adversary() {
        Some(adversary) => adversary.wrap_session(session, &shared.memory, &state.memory),
        None => Box::new(session),
    };
    let mut driver = Driver {
        stream,
        connection,
        shared,
        peer,
        state,
        prepare,
        clock: Instant::now(),
        module: None,
        reservation: None,
        run: None,
        outcome: None,
        answer: None,
    };
    driver.drive(responder).await
}

/// Sends a refusal before a session exists and ends the stream.
async fn refuse_and_end(
    stream: &mut FramedStream,
    shared: &Shared,
    error: ErrorMsg,
) -> Result<(), TransportError> {
    shared.stats.refusals.fetch_add(1, Ordering::Relaxed);
    info!(code = ?error.code, detail = %error.detail, "challenge refused");
    stream.send(&Message::Error(error)).await?;
    stream.finish();
    Ok(())
}

/// A run on its blocking thread: its result, and the phase ends it reports on the way.
struct RunningModule {
    done: JoinHandle<Result<RunOutcome, SandboxError>>,
    ends: tokio::sync::mpsc::Receiver<PhaseEnd>,
}

/// What the glue holds for one challenge while it carries out the session's actions.
struct Driver<'a> {
    stream: &'a mut FramedStream,
    connection: &'a quinn::Connection,
    shared: &'a Arc<Shared>,
    peer: &'a Peer,
    state: &'a ConnectionState,
    prepare: Prepare,
    /// The session's clock: `now` is the time since this instant.
    clock: Instant,
    module: Option<LoadedModule>,
    reservation: Option<Reservation<'a>>,
    run: Option<RunningModule>,
    outcome: Option<RunOutcome>,
    /// Where the pending phase end waits for its nonce.
    answer: Option<PhaseEnd>,
}

/// Whether the session goes on after an action.
enum Flow {
    Continue,
    /// The stream is over (finished, held to its end, or its connection closed).
    Over,
}

impl<'a> Driver<'a> {
    fn now(&self) -> Duration {
        self.clock.elapsed()
    }

    async fn drive(&mut self, mut responder: Box<dyn Responder>) -> Result<(), TransportError> {
        let mut actions = responder.start(self.now());
        loop {
            for action in std::mem::take(&mut actions) {
                match self.perform(action, responder.as_mut()).await? {
                    Flow::Continue => {}
                    Flow::Over => return Ok(()),
                }
            }
            if let Some(ended) = responder.ended() {
                debug!(?ended, device = self.prepare.device, "challenge ended");
                return Ok(());
            }
            let (awaits, deadline) = (responder.awaits_message(), responder.poll_timeout());
            let Some(event) = self.next_event(awaits, deadline).await? else {
                return Ok(());
            };
            actions = responder.handle(event, self.now());
        }
    }

    /// Carries out one action. Actions whose result is immediate (load, reserve, open) feed it
    /// back to the responder at once and carry out what it answers.
    async fn perform(
        &mut self,
        action: Action,
        responder: &mut dyn Responder,
    ) -> Result<Flow, TransportError> {
        let event = match action {
            Action::Load => Event::Loaded(self.load().await?),
            Action::Reserve => Event::Reserved(self.reserve()),
            Action::Open(leaves) => Event::Opened(self.open(leaves).await?),
            Action::Send(message) => {
                self.send(&message).await?;
                return Ok(Flow::Continue);
            }
            Action::SendRaw(bytes) => {
                self.stream.send_raw(&bytes).await?;
                return Ok(Flow::Continue);
            }
            Action::Run { seed } => {
                self.start_run(seed);
                return Ok(Flow::Continue);
            }
            Action::Resume(nonce) => {
                if let Some(end) = self.answer.take() {
                    end.answer(nonce);
                }
                return Ok(Flow::Continue);
            }
            Action::Release => {
                self.reservation = None;
                return Ok(Flow::Continue);
            }
            Action::Lapse => {
                lapse(self.shared, &self.peer.hotkey, self.prepare.device);
                return Ok(Flow::Continue);
            }
            Action::Finish => {
                self.stream.finish();
                return Ok(Flow::Over);
            }
            Action::CloseConnection => {
                self.connection.close(quinn::VarInt::from_u32(0), b"bye");
                return Ok(Flow::Over);
            }
            Action::Hold => {
                let _ = self.connection.closed().await;
                return Ok(Flow::Over);
            }
        };
        let actions = responder.handle(event, self.now());
        for action in actions {
            if let Flow::Over = Box::pin(self.perform(action, responder)).await? {
                return Ok(Flow::Over);
            }
        }
        Ok(Flow::Continue)
    }

    async fn send(&mut self, message: &Message) -> Result<(), TransportError> {
        match message {
            Message::Error(e) => {
                self.shared.stats.refusals.fetch_add(1, Ordering::Relaxed);
                info!(code = ?e.code, detail = %e.detail, device = self.prepare.device, "challenge refused");
            }
            Message::Commitment(_) => {
                self.shared
                    .stats
                    .commitments
                    .fetch_add(1, Ordering::Relaxed);
                debug!(device = self.prepare.device, "committed");
            }
            _ => {}
        }
        self.stream.send(message).await
    }

    /// The next event: a message when the responder awaits one, else the run's next report,
    /// else the responder's timer (`deadline`, on the session's clock). `None` when nothing can
    /// come any more.
    async fn next_event(
        &mut self,
        awaits_message: bool,
        deadline: Option<Duration>,
    ) -> Result<Option<Event>, TransportError> {
        let left = deadline.map(|d| d.saturating_sub(self.now()));
        if awaits_message {
            let wait = left.unwrap_or(self.shared.settings.limits.message_timeout);
            return match self.stream.recv(wait).await {
                Ok(message) => Ok(Some(Event::Message(message))),
                Err(TransportError::Timeout(_)) => Ok(Some(Event::Timeout)),
                Err(TransportError::Protocol(e)) => {
                    let _ = self.stream.send(&Message::Error(ErrorMsg::from(&e))).await;
                    Err(TransportError::Protocol(e))
                }
                Err(e) => Err(e),
            };
        }
        let timer = async {
            match left {
                Some(left) => tokio::time::sleep(left).await,
                None => std::future::pending().await,
            }
        };
        let Some(run) = self.run.as_mut() else {
            if left.is_none() {
                return Ok(None);
            }
            timer.await;
            return Ok(Some(Event::Timeout));
        };
        tokio::select! {
            done = &mut run.done => {
                self.run = None;
                let done = done.map_err(|e| TransportError::Closed(format!("worker failed: {e}")))?;
                Ok(Some(self.run_finished(done)))
            }
            Some(end) = run.ends.recv() => {
                let event = Event::PhaseEnd { ended: end.ended(), roots: end.roots().to_vec() };
                self.answer = Some(end);
                Ok(Some(event))
            }
            () = timer => Ok(Some(Event::Timeout)),
        }
    }

    fn run_finished(&mut self, done: Result<RunOutcome, SandboxError>) -> Event {
        match done {
            Ok(outcome) => {
                let event = Event::RunDone {
                    roots: outcome.roots(),
                    stages: outcome.timings.stages,
                };
                self.outcome = Some(outcome);
                event
            }
            Err(e) => {
                warn!(error = %e, device = self.prepare.device, "challenge run failed");
                Event::RunFailed(refuse(sandbox_code(&e), e.to_string()))
            }
        }
    }

    /// Loads the module (from the bytes sent, or the cache) and checks the params with its
    /// `work`. Untimed, before the device is reserved, so a validator told `unknown-module`
    /// can ask again at once.
    async fn load(&mut self) -> Result<Result<(), ErrorMsg>, TransportError> {
        let hash = *self.prepare.module_hash.as_bytes();
        let shared = Arc::clone(self.shared);
        let bytes = self.prepare.module_bytes.clone();
        let params = self.prepare.params.clone();
        let loaded = blocking(move || {
            let module = match (shared.sandbox.cached(&hash), bytes) {
                (Some(m), _) => m,
                (None, Some(bytes)) => shared.sandbox.load(&bytes).map_err(|e| {
                    refuse(
                        ErrorCode::BadModule,
                        format!("the module does not load: {e}"),
                    )
                })?,
                (None, None) => {
                    return Err(refuse(
                        ErrorCode::UnknownModule,
                        "module not cached here; send its bytes",
                    ));
                }
            };
            shared.sandbox.work(&module, &params).map_err(|e| {
                refuse(
                    ErrorCode::BadParams,
                    format!("the module rejects its params: {e}"),
                )
            })?;
            Ok(module)
        })
        .await?;
        Ok(loaded.map(|module| self.module = Some(module)))
    }

    /// Reserves the device, or says why not.
    fn reserve(&mut self) -> Result<(), ErrorMsg> {
        let device = self.prepare.device;
        let offered = self.state.offer.devices;
        let flag = usize::try_from(device)
            .ok()
            .filter(|d| *d < offered)
            .and_then(|d| self.shared.reserved.get(d))
            .ok_or_else(|| {
                refuse(
                    ErrorCode::BadParams,
                    format!("no device {device}; this machine has {offered}"),
                )
            })?;
        let reserve = self.shared.settings.limits.reserve;
        if let Some(wait) = cooling_down(self.shared, &self.peer.hotkey, device, reserve) {
            let detail = format!(
                "your last reservation of device {device} lapsed without a Go; reserve it \
                 again in {:.1} s",
                wait.as_secs_f64()
            );
            return Err(refuse(ErrorCode::RateLimited, detail));
        }
        if flag
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            let detail = format!("device {device} is running another challenge");
            return Err(refuse(ErrorCode::BusyDevice, detail));
        }
        self.reservation = Some(Reservation { flag });
        Ok(())
    }

    /// Starts the module's run on a blocking thread; its phase ends come back on a channel.
    fn start_run(&mut self, seed: [u8; 32]) {
        let Some(module) = self.module.clone() else {
            // The session asks to run only after a successful load; nothing to run otherwise.
            return;
        };
        let shared = Arc::clone(self.shared);
        let backend = Arc::clone(&self.state.offer.backend);
        let params = self.prepare.params.clone();
        let device = self.prepare.device;
        let (hook, ends) = phases::channel();
        let done = tokio::task::spawn_blocking(move || {
            shared.sandbox.run_phased(
                &module,
                backend.as_ref(),
                device,
                seed,
                &params,
                Box::new(hook),
            )
        });
        self.run = Some(RunningModule { done, ends });
    }

    /// Opens the leaves asked for from the run's outputs.
    async fn open(
        &mut self,
        leaves: Vec<protocol::LeafRef>,
    ) -> Result<Result<Vec<OpeningWire>, String>, TransportError> {
        let Some(outcome) = self.outcome.take() else {
            return Ok(Err("no committed outputs".into()));
        };
        let (outcome, opened) = blocking(move || {
            let opened = open_leaves(&outcome, &leaves).map_err(|e| e.to_string());
            (outcome, opened)
        })
        .await?;
        self.outcome = Some(outcome);
        Ok(opened)
    }
}

fn open_leaves(
    outcome: &RunOutcome,
    leaves: &[protocol::LeafRef],
) -> Result<Vec<OpeningWire>, SandboxError> {
    leaves
        .iter()
        .map(|leaf| {
            let opening = outcome.open(leaf.output, leaf.leaf)?;
            Ok(OpeningWire {
                output: leaf.output,
                leaf: leaf.leaf,
                chunk: opening.chunk,
                path: opening
                    .path
                    .iter()
                    .map(|p| NodePair {
                        left: p.left,
                        right: p.right,
                    })
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use challenge_runtime::BackendError;

    #[test]
    fn each_sandbox_failure_has_the_code_of_its_cause() {
        let cases = [
            (SandboxError::Busy, ErrorCode::BusyDevice),
            (
                SandboxError::Backend(BackendError::Busy(0)),
                ErrorCode::BusyDevice,
            ),
            (
                SandboxError::Backend(BackendError::Invalid("k > 65536".into())),
                ErrorCode::BadParams,
            ),
            (SandboxError::Link("gpu.x".into()), ErrorCode::BadModule),
            (SandboxError::Engine("no".into()), ErrorCode::Internal),
            (
                SandboxError::Backend(BackendError::OutOfMemory {
                    bytes: 1 << 40,
                    detail: "CUDA_ERROR_OUT_OF_MEMORY".into(),
                }),
                ErrorCode::Internal,
            ),
            (
                SandboxError::Backend(BackendError::Device("Xid 79".into())),
                ErrorCode::Internal,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(sandbox_code(&error), code, "{error}");
        }
    }
}
