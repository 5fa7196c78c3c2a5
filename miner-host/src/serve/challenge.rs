//! One challenge on one stream: `Prepare` → `Ready`, `Go` → (`PhaseDone` → `PhaseKey`)* →
//! `Commitment`, `Open` → `Openings`. A module with interactive phases (`gpu.phase_end`) has
//! each phase end relayed to the validator while the run waits ([`super::phases`]).
//!
//! Refusals are typed [`ErrorMsg`]s: a rate-limited validator, a `Prepare` the gate refuses
//! (unsigned, expired, replayed, wrongly addressed, bad module bytes), an unknown module without
//! bytes, bad params, a missing or busy device. A device is reserved from `Prepare` until the
//! stream ends, so one device runs one challenge at a time; everything the challenge held on
//! the device is freed when the stream ends, whatever way it ends. Reservations are short
//! (DESIGN.md §No score without proof, rule 5): a validator that does not send its `Go` within
//! [`ServeLimits::reserve`](super::ServeLimits::reserve) of `Ready` loses the device (another
//! validator's `Prepare` then gets it) and its stream is refused with `unexpected-message`;
//! that validator's next `Prepare` for the same device within `reserve` is refused with
//! `rate-limited` (rule 9), so reserving and never starting cannot hold a device back to back.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use challenge_runtime::{LoadedModule, RunOutcome, SandboxError};
use protocol::{
    Commitment, ErrorCode, ErrorMsg, Go, Message, MessageKind, MinerTimings, NodePair, Open,
    OpeningWire, Openings, Prepare, Ready, Root, Sender, Signed,
};
use tracing::{debug, info, warn};
use transport::identity::unix_ms_now;
use transport::{FramedStream, Peer, TransportError};

use super::adversary::Adversary;
use super::phases::{self, PhaseRelay};
use super::server::{ConnectionState, Shared};

/// Releases a device reservation when dropped.
struct Reservation<'a> {
    flag: &'a std::sync::atomic::AtomicBool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.flag.store(false, Ordering::Release);
    }
}

fn refuse(code: ErrorCode, detail: impl Into<String>) -> Message {
    Message::Error(ErrorMsg::new(code, detail))
}

fn sandbox_code(e: &SandboxError) -> ErrorCode {
    match e {
        SandboxError::Busy => ErrorCode::BusyDevice,
        SandboxError::Backend(challenge_runtime::BackendError::Busy(_)) => ErrorCode::BusyDevice,
        _ => ErrorCode::BadParams,
    }
}

/// Sends `message` and returns `Err(reason)` (the stream is done).
async fn refuse_and_end(
    stream: &mut FramedStream,
    shared: &Shared,
    message: Message,
) -> Result<(), TransportError> {
    shared.stats.refusals.fetch_add(1, Ordering::Relaxed);
    if let Message::Error(e) = &message {
        info!(code = ?e.code, detail = %e.detail, "challenge refused");
    }
    stream.send(&message).await?;
    stream.finish();
    Ok(())
}

/// How long `validator` must still wait before reserving `device` again, when its last
/// reservation of it lapsed without a `Go` less than `reserve` ago.
fn cooling_down(
    shared: &Shared,
    validator: &protocol::Hotkey,
    device: u32,
    reserve: std::time::Duration,
) -> Option<std::time::Duration> {
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
}

/// Runs a blocking closure off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TransportError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TransportError::Closed(format!("worker failed: {e}")))
}

/// Serves one challenge whose `Prepare` has arrived.
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
        Err(e) => return refuse_and_end(stream, shared, Message::Error(ErrorMsg::from(&e))).await,
    };
    let stall = match shared.adversary() {
        Some(Adversary::StallLastModule(delay)) => {
            let first = state
                .first_module
                .lock()
                .map(|mut first| *first.get_or_insert(prepare.module_hash))
                .map_err(|_| TransportError::Closed("lock poisoned".into()))?;
            if first != prepare.module_hash {
                // Never answered: the stream stays open, nothing is read, until the
                // connection ends.
                debug!(
                    device = prepare.device,
                    "stall-last-module: leaving a Prepare unanswered"
                );
                let _ = connection.closed().await;
                return Ok(());
            }
            Some(*delay)
        }
        _ => None,
    };
    // Untimed: load (compile) the module and check the params, before the device is reserved,
    // so a validator told `unknown-module` can ask again at once.
    let module = match load_module(shared, &prepare).await? {
        Ok(m) => m,
        Err(message) => return refuse_and_end(stream, shared, *message).await,
    };
    if let Some(delay) = stall {
        tokio::time::sleep(delay).await;
    }
    let device = prepare.device;
    let offered = state.offer.devices;
    let flag = usize::try_from(device)
        .ok()
        .filter(|d| *d < offered)
        .and_then(|d| shared.reserved.get(d));
    let Some(flag) = flag else {
        let detail = format!("no device {device}; this machine has {offered}");
        return refuse_and_end(stream, shared, refuse(ErrorCode::BadParams, detail)).await;
    };
    let reserve = shared.settings.limits.reserve;
    if let Some(wait) = cooling_down(shared, &peer.hotkey, device, reserve) {
        let detail = format!(
            "your last reservation of device {device} lapsed without a Go; reserve it again in \
             {:.1} s",
            wait.as_secs_f64()
        );
        return refuse_and_end(stream, shared, refuse(ErrorCode::RateLimited, detail)).await;
    }
    if matches!(shared.adversary(), Some(Adversary::BusyForever))
        || flag
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        let detail = format!("device {device} is running another challenge");
        return refuse_and_end(stream, shared, refuse(ErrorCode::BusyDevice, detail)).await;
    }
    // Released before the last message of every path, so the validator's next challenge on
    // this device never finds it still reserved.
    let reservation = Reservation { flag };

    let ready = Ready {
        challenge_id: prepare.challenge_id,
        prepare: signed.digest(),
    };
    stream.send(&Message::Ready(ready)).await?;

    // The device is held for `reserve` at most unless the Go arrives.
    let go_signed = match stream.expect(MessageKind::Go, reserve).await {
        Ok(Message::Go(g)) => g,
        Ok(_) => return Ok(()),
        Err(TransportError::Timeout(_)) => {
            drop(reservation);
            lapse(shared, &peer.hotkey, device);
            shared
                .stats
                .reservations_expired
                .fetch_add(1, Ordering::Relaxed);
            let detail = format!(
                "no Go within {:.1} s of Ready: the reservation of device {device} has lapsed \
                 (reserve_s); send a new Prepare",
                reserve.as_secs_f64()
            );
            return refuse_and_end(stream, shared, refuse(ErrorCode::UnexpectedMessage, detail))
                .await;
        }
        Err(e) => return Err(e),
    };
    // Timed: Go → run → Commitment.
    let timeout = shared.settings.limits.message_timeout;
    let go_received = Instant::now();
    let go: Go = match go_signed.verify_from(&peer.session_key) {
        Ok(go) => go,
        Err(e) => {
            drop(reservation);
            return refuse_and_end(stream, shared, Message::Error(ErrorMsg::from(&e))).await;
        }
    };
    if go.prepare != signed.digest() || go.challenge_id != prepare.challenge_id {
        let detail = "this Go cites another Prepare";
        return {
            drop(reservation);
            refuse_and_end(stream, shared, refuse(ErrorCode::UnexpectedMessage, detail)).await
        };
    }
    match shared.adversary() {
        Some(Adversary::Garbage) => {
            stream.send_raw(b"\xffthis is not a frame at all").await?;
            stream.finish();
            return Ok(());
        }
        Some(Adversary::Oversized) => {
            let mut header = vec![MessageKind::Commitment.tag()];
            header.extend_from_slice(&u32::MAX.to_le_bytes());
            stream.send_raw(&header).await?;
            stream.send_raw(&[0u8; 4096]).await?;
            stream.finish();
            return Ok(());
        }
        _ => {}
    }
    let seed = challenges::prf::challenge_seed(
        go.nonce.as_bytes(),
        prepare.validator.as_bytes(),
        prepare.miner.as_bytes(),
        prepare.module_hash.as_bytes(),
        &prepare.params,
        device,
    );
    let run = {
        let shared_run = Arc::clone(shared);
        let backend = Arc::clone(&state.offer.backend);
        let params = prepare.params.clone();
        let (hook, mut ends) = phases::channel();
        let run = blocking(move || {
            shared_run.sandbox.run_phased(
                &module,
                backend.as_ref(),
                device,
                seed,
                &params,
                Box::new(hook),
            )
        });
        tokio::pin!(run);
        let mut relay = PhaseRelay::new(
            go_signed.digest(),
            shared.settings.identity.signing_key().clone(),
            peer.session_key,
            timeout,
        );
        loop {
            tokio::select! {
                done = &mut run => break done?,
                Some(end) = ends.recv() => relay.relay(stream, end).await?,
            }
        }
    };
    let outcome: RunOutcome = match run {
        Ok(o) => o,
        Err(e) => {
            warn!(error = %e, device, "challenge run failed");
            let code = sandbox_code(&e);
            return {
                drop(reservation);
                refuse_and_end(stream, shared, refuse(code, e.to_string())).await
            };
        }
    };
    if let Some(Adversary::Slow(delay)) = shared.adversary() {
        tokio::time::sleep(*delay).await;
    }
    let timings = MinerTimings {
        total_ms: ms(go_received.elapsed()),
        fill_ms: 0,
        compute_ms: ms(outcome.timings.backend),
        hash_ms: 0,
    };
    let commitment = Commitment {
        challenge: go_signed.digest(),
        roots: outcome.roots().into_iter().map(Root::new).collect(),
        timings,
    };
    let key = match shared.adversary() {
        Some(Adversary::ForgeSignature) => ed25519_dalek::SigningKey::from_bytes(&[0x66; 32]),
        _ => shared.settings.identity.signing_key().clone(),
    };
    let message = Message::Commitment(Signed::sign(&key, &commitment)?);
    let to_send = match shared.adversary() {
        Some(Adversary::ReplayCommitment) => {
            let mut last = shared
                .last_commitment
                .lock()
                .map_err(|_| TransportError::Closed("lock poisoned".into()))?;
            let previous = last.replace(message.clone());
            previous.unwrap_or(message)
        }
        _ => message,
    };
    stream.send(&to_send).await?;
    shared.stats.commitments.fetch_add(1, Ordering::Relaxed);
    debug!(device, ms = timings.total_ms, "committed");

    // Openings.
    let open: Open = match stream.expect(MessageKind::Open, timeout).await? {
        Message::Open(o) => o,
        _ => return Ok(()),
    };
    if matches!(shared.adversary(), Some(Adversary::HangUpOnOpen)) {
        connection.close(quinn::VarInt::from_u32(0), b"bye");
        return Ok(());
    }
    if open.challenge != go_signed.digest() {
        let detail = "this Open cites another challenge";
        return {
            drop(reservation);
            refuse_and_end(stream, shared, refuse(ErrorCode::UnexpectedMessage, detail)).await
        };
    }
    let opened = {
        let leaves = open.leaves.clone();
        blocking(move || open_leaves(&outcome, &leaves)).await?
    };
    let openings = match opened {
        Ok(openings) => openings,
        Err(e) => {
            let detail = format!("cannot open the leaves asked for: {e}");
            return {
                drop(reservation);
                refuse_and_end(stream, shared, refuse(ErrorCode::BadParams, detail)).await
            };
        }
    };
    drop(reservation);
    let message = Message::Openings(Openings {
        challenge: go_signed.digest(),
        openings,
    });
    if matches!(shared.adversary(), Some(Adversary::DropMidOpening)) {
        let bytes = message.encode()?;
        stream
            .send_raw(bytes.get(..bytes.len() / 2).unwrap_or_default())
            .await?;
        connection.close(quinn::VarInt::from_u32(0), b"bye");
        return Ok(());
    }
    stream.send(&message).await?;
    stream.finish();
    Ok(())
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Loads the module (from the bytes sent, or the cache) and checks the params with its `work`.
/// The outer error is ours (a worker failure); the inner one is a refusal to send.
async fn load_module(
    shared: &Arc<Shared>,
    prepare: &Prepare,
) -> Result<Result<LoadedModule, Box<Message>>, TransportError> {
    let hash = *prepare.module_hash.as_bytes();
    let shared2 = Arc::clone(shared);
    let bytes = prepare.module_bytes.clone();
    let params = prepare.params.clone();
    blocking(move || {
        let module = match (shared2.sandbox.cached(&hash), bytes) {
            (Some(m), _) => m,
            (None, Some(bytes)) => shared2.sandbox.load(&bytes).map_err(|e| {
                Box::new(refuse(
                    ErrorCode::BadModule,
                    format!("the module does not load: {e}"),
                ))
            })?,
            (None, None) => {
                return Err(Box::new(refuse(
                    ErrorCode::UnknownModule,
                    "module not cached here; send its bytes",
                )));
            }
        };
        shared2.sandbox.work(&module, &params).map_err(|e| {
            Box::new(refuse(
                ErrorCode::BadParams,
                format!("the module rejects its params: {e}"),
            ))
        })?;
        Ok(module)
    })
    .await
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
