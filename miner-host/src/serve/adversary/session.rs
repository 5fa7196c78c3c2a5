//! The cheats that live in the protocol: a [`Cheater`] wraps the honest
//! [`MinerSession`](crate::session::MinerSession) behind the same
//! [`Responder`](crate::session::Responder) trait and changes what it sends, when, or whether
//! it answers at all. The honest session has no notion of any of them.
#![deny(clippy::indexing_slicing)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::ed25519_dalek::SigningKey;
use protocol::{ErrorCode, ErrorMsg, Message, MessageKind, ModuleHash, Signed};

use crate::session::{Action, Ended, Event, MinerSession, Responder};

/// What an adversary remembers across the challenges of one server.
#[derive(Debug, Default)]
pub struct ServerMemory {
    /// The last commitment signed (`replay`).
    last_commitment: Mutex<Option<Message>>,
}

/// What an adversary remembers across the challenges of one connection.
#[derive(Debug, Default)]
pub struct ConnectionMemory {
    /// The first module a `Prepare` named on this connection (`stall-last-module`).
    first_module: Mutex<Option<ModuleHash>>,
    /// Per module: challenges started and runs finished on this connection (`serial-share`).
    shares: Mutex<HashMap<ModuleHash, (u32, u32)>>,
    /// Per module: `Ready`s sent on this connection (`stagger-ready`).
    readies: Mutex<HashMap<ModuleHash, u32>>,
}

/// How often a held `serial-share` commitment looks whether its siblings are done.
const SHARE_POLL: Duration = Duration::from_millis(5);

/// The protocol-side cheats.
#[derive(Debug, Clone)]
pub(super) enum SessionCheat {
    /// Answers `Go` with these bytes (not a frame, or a header far over its limit), then ends.
    RawAnswer(Vec<u8>),
    /// Computes honestly, then waits this long before committing.
    Slow(Duration),
    /// Signs its commitments with this key instead of its session key.
    Forge(SigningKey),
    /// Sends the commitment it signed for the previous challenge instead of this one's.
    Replay,
    /// Closes the connection once it sees which leaves are asked for.
    HangUpOnOpen,
    /// Sends half of its `Openings` frame, then closes the connection.
    DropMidOpening,
    /// Delays the first module of each connection by this long; never answers any other.
    StallLastModule(Duration),
    /// Answers every `Prepare` with `busy-device`.
    BusyForever,
    /// Holds each commitment until every claimed device's run of the same module on this
    /// connection is done (at most this long), so they arrive together as concurrent devices'
    /// would.
    HoldForSiblings(Duration),
    /// Answers the first `Prepare` of each module on a connection at once and holds every later
    /// device's `Ready` back this long, hoping each device is then started on its own.
    StaggerReady(Duration),
}

/// Something held back until `until`.
#[derive(Debug)]
enum Held {
    /// Actions of the inner session, carried out late.
    Actions(Vec<Action>),
    /// An event given to the inner session late.
    Event(Event),
}

/// An adversary's session: the honest one, wrapped.
pub(super) struct Cheater {
    inner: MinerSession,
    cheat: SessionCheat,
    server: Arc<ServerMemory>,
    connection: Arc<ConnectionMemory>,
    held: Option<(Duration, Held)>,
    /// Set when the cheater ended the session itself.
    ended: Option<Ended>,
    /// When this challenge's run finished (`serial-share` holds from then).
    done_at: Option<Duration>,
}

impl Cheater {
    pub(super) fn new(
        inner: MinerSession,
        cheat: SessionCheat,
        server: Arc<ServerMemory>,
        connection: Arc<ConnectionMemory>,
    ) -> Self {
        Self {
            inner,
            cheat,
            server,
            connection,
            held: None,
            ended: None,
            done_at: None,
        }
    }

    fn module(&self) -> ModuleHash {
        self.inner.prepare().module_hash
    }

    /// Ends the session on the cheater's terms with these last actions.
    fn drop_with(&mut self, actions: Vec<Action>) -> Vec<Action> {
        self.ended = Some(Ended::Dropped);
        actions
    }

    /// The inner session's answer to `event`, changed as the cheat says.
    fn inner_handle(&mut self, event: Event, now: Duration) -> Vec<Action> {
        let actions = self.inner.handle(event, now);
        self.rewrite(actions, now)
    }

    fn rewrite(&mut self, actions: Vec<Action>, now: Duration) -> Vec<Action> {
        let mut out = Vec::with_capacity(actions.len());
        for action in actions {
            match (&self.cheat, action) {
                (SessionCheat::BusyForever, Action::Reserve) => {
                    let device = self.inner.prepare().device;
                    let busy = ErrorMsg::new(
                        ErrorCode::BusyDevice,
                        format!("device {device} is running another challenge"),
                    );
                    out.extend(self.inner_handle(Event::Reserved(Err(busy)), now));
                }
                (SessionCheat::Forge(key), Action::Send(Message::Commitment(signed))) => {
                    let forged = signed
                        .verify()
                        .ok()
                        .and_then(|body| Signed::sign(key, &body).ok())
                        .unwrap_or(signed);
                    out.push(Action::Send(Message::Commitment(forged)));
                }
                (SessionCheat::Replay, Action::Send(message @ Message::Commitment(_))) => {
                    let previous = self
                        .server
                        .last_commitment
                        .lock()
                        .ok()
                        .and_then(|mut last| last.replace(message.clone()));
                    out.push(Action::Send(previous.unwrap_or(message)));
                }
                (SessionCheat::StaggerReady(delay), Action::Send(message @ Message::Ready(_))) => {
                    let earlier = self
                        .connection
                        .readies
                        .lock()
                        .map(|mut r| {
                            let n = r.entry(self.module()).or_default();
                            *n = n.saturating_add(1);
                            *n - 1
                        })
                        .unwrap_or(0);
                    if earlier == 0 {
                        out.push(Action::Send(message));
                    } else {
                        // Held back: sent when the timer fires.
                        let until = now.saturating_add(*delay);
                        self.held = Some((until, Held::Actions(vec![Action::Send(message)])));
                        return out;
                    }
                }
                (SessionCheat::DropMidOpening, Action::Send(message @ Message::Openings(_))) => {
                    let bytes = message.encode().unwrap_or_default();
                    let half = bytes.get(..bytes.len() / 2).unwrap_or_default().to_vec();
                    self.ended = Some(Ended::Dropped);
                    out.push(Action::SendRaw(half));
                    out.push(Action::CloseConnection);
                    return out;
                }
                (_, action) => out.push(action),
            }
        }
        out
    }

    /// `serial-share`: how many runs of this module on this connection started and finished.
    fn share_counts(&self) -> (u32, u32) {
        self.connection
            .shares
            .lock()
            .ok()
            .and_then(|s| s.get(&self.module()).copied())
            .unwrap_or((0, 0))
    }

    fn share_bump(&self, started: u32, done: u32) {
        if let Ok(mut shares) = self.connection.shares.lock() {
            let entry = shares.entry(self.module()).or_default();
            entry.0 = entry.0.saturating_add(started);
            entry.1 = entry.1.saturating_add(done);
        }
    }

    /// Gives back what is held if its time has come (or, for `serial-share`, its siblings are
    /// done); otherwise nothing.
    fn release(&mut self, now: Duration) -> Option<Vec<Action>> {
        let (until, _) = self.held.as_ref()?;
        let ready = match (&self.cheat, self.done_at) {
            (SessionCheat::HoldForSiblings(limit), Some(done_at)) => {
                let (started, done) = self.share_counts();
                done >= started || now >= done_at.saturating_add(*limit)
            }
            _ => now >= *until,
        };
        if !ready {
            if matches!(self.cheat, SessionCheat::HoldForSiblings(_))
                && let Some((until, _)) = self.held.as_mut()
            {
                *until = now.saturating_add(SHARE_POLL);
            }
            return Some(Vec::new());
        }
        let (_, held) = self.held.take()?;
        Some(match held {
            Held::Actions(actions) => actions,
            Held::Event(event) => self.inner_handle(event, now),
        })
    }
}

impl Responder for Cheater {
    fn start(&mut self, now: Duration) -> Vec<Action> {
        let actions = self.inner.start(now);
        match self.cheat {
            SessionCheat::StallLastModule(delay) => {
                let module = self.module();
                let first = self
                    .connection
                    .first_module
                    .lock()
                    .map(|mut first| *first.get_or_insert(module))
                    .unwrap_or(module);
                if first != module {
                    // Never answered: the stream stays open, nothing is read.
                    return self.drop_with(vec![Action::Hold]);
                }
                self.held = Some((now.saturating_add(delay), Held::Actions(actions)));
                Vec::new()
            }
            SessionCheat::HoldForSiblings(_) => {
                self.share_bump(1, 0);
                actions
            }
            _ => actions,
        }
    }

    fn handle(&mut self, event: Event, now: Duration) -> Vec<Action> {
        if self.ended.is_some() {
            return Vec::new();
        }
        if let Event::Timeout = event
            && let Some(actions) = self.release(now)
        {
            return actions;
        }
        match (&self.cheat, event) {
            (SessionCheat::RawAnswer(bytes), Event::Message(Message::Go(_))) => {
                let bytes = bytes.clone();
                self.drop_with(vec![Action::SendRaw(bytes), Action::Finish])
            }
            (SessionCheat::HangUpOnOpen, Event::Message(Message::Open(_))) => {
                self.drop_with(vec![Action::CloseConnection])
            }
            (SessionCheat::Slow(delay), event @ Event::RunDone { .. }) => {
                self.held = Some((now.saturating_add(*delay), Held::Event(event)));
                Vec::new()
            }
            (SessionCheat::HoldForSiblings(_), event @ Event::RunDone { .. }) => {
                self.share_bump(0, 1);
                self.done_at = Some(now);
                self.held = Some((now, Held::Event(event)));
                self.release(now).unwrap_or_default()
            }
            (SessionCheat::HoldForSiblings(_), event @ Event::RunFailed(_)) => {
                self.share_bump(0, 1);
                self.inner_handle(event, now)
            }
            (_, event) => self.inner_handle(event, now),
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if self.ended.is_some() {
            return None;
        }
        let held = self.held.as_ref().map(|(until, _)| *until);
        match (held, self.inner.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn awaits_message(&self) -> bool {
        self.ended.is_none() && self.held.is_none() && self.inner.awaits_message()
    }

    fn ended(&self) -> Option<&Ended> {
        self.ended.as_ref().or_else(|| self.inner.ended())
    }
}

/// The bytes `garbage` answers `Go` with: not a frame at all.
pub(super) fn garbage() -> Vec<u8> {
    b"\xffthis is not a frame at all".to_vec()
}

/// The bytes `oversized` answers `Go` with: a commitment header announcing a frame far over
/// its limit, then some of its "payload".
pub(super) fn oversized() -> Vec<u8> {
    let mut bytes = vec![MessageKind::Commitment.tag()];
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0u8; 4096]);
    bytes
}
