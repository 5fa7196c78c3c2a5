//! Interactive phases on the miner's side (protocol v2, DESIGN.md §Interactive phases): the
//! run thread's `gpu.phase_end` becomes a signed `PhaseDone` on the challenge's stream, and the
//! validator's signed `PhaseKey` the nonce the guest gets its next phase seed from.
//!
//! The sandbox runs on a blocking thread; [`StreamPhases`] (its [`PhaseHook`]) hands each
//! phase end to the stream task over a channel and waits for the answer. The stream task
//! ([`relay`]) signs and sends the `PhaseDone` (citing the `Go` for phase 0, the last
//! `PhaseKey` after), waits for the validator's `PhaseKey` and checks that it is signed by the
//! validator's session key, cites that `PhaseDone` and begins the next phase. Anything else
//! ends the run (the guest's `phase_end` returns `status::PHASE`).
#![deny(clippy::indexing_slicing)]

use std::sync::mpsc as sync_mpsc;
use std::time::Duration;

use challenge_runtime::{PhaseHook, PhaseRefused};
use protocol::ed25519_dalek::SigningKey;
use protocol::{Digest, Message, MessageKind, PhaseDone, Root, SessionKey, Signed};
use tokio::sync::mpsc;
use transport::{FramedStream, TransportError};

/// One phase end, from the run thread: the phase that ended, the roots committed so far, and
/// where to send the next phase's nonce (or why there is none).
pub(crate) struct PhaseEnd {
    ended: u32,
    roots: Vec<[u8; 32]>,
    answer: sync_mpsc::SyncSender<Result<[u8; 32], String>>,
}

/// The run thread's [`PhaseHook`]: forwards each phase end to the stream task.
pub(crate) struct StreamPhases {
    ends: mpsc::Sender<PhaseEnd>,
}

/// A hook for the run thread and the receiver the stream task reads phase ends from.
pub(crate) fn channel() -> (StreamPhases, mpsc::Receiver<PhaseEnd>) {
    let (ends, rx) = mpsc::channel(1);
    (StreamPhases { ends }, rx)
}

impl PhaseHook for StreamPhases {
    fn phase_end(&mut self, ended: u32, roots: &[[u8; 32]]) -> Result<[u8; 32], PhaseRefused> {
        let (answer, reply) = sync_mpsc::sync_channel(1);
        let end = PhaseEnd {
            ended,
            roots: roots.to_vec(),
            answer,
        };
        self.ends
            .blocking_send(end)
            .map_err(|_| PhaseRefused("the challenge's stream has ended".into()))?;
        reply
            .recv()
            .map_err(|_| PhaseRefused("the challenge's stream has ended".into()))?
            .map_err(PhaseRefused)
    }
}

/// Where the phases of one challenge stand on the stream: what the next `PhaseDone` cites.
pub(crate) struct PhaseRelay {
    /// The digest of the validator's `Go`, then of its latest `PhaseKey`.
    cites: Digest,
    key: SigningKey,
    validator_key: SessionKey,
    timeout: Duration,
}

impl PhaseRelay {
    /// A relay for a challenge started by the `Go` with digest `go`, signing with `key`,
    /// accepting keys signed by `validator_key`, waiting `timeout` for each `PhaseKey`.
    pub(crate) fn new(
        go: Digest,
        key: SigningKey,
        validator_key: SessionKey,
        timeout: Duration,
    ) -> Self {
        Self {
            cites: go,
            key,
            validator_key,
            timeout,
        }
    }

    /// Answers one phase end: sends the `PhaseDone`, waits for the validator's `PhaseKey`, and
    /// hands the run thread its nonce or the reason there is none. `Err` only when the stream
    /// itself failed (the run thread is told too).
    pub(crate) async fn relay(
        &mut self,
        stream: &mut FramedStream,
        end: PhaseEnd,
    ) -> Result<(), TransportError> {
        let result = self.exchange(stream, &end).await;
        let reply = match &result {
            Ok(Ok(nonce)) => Ok(*nonce),
            Ok(Err(why)) => Err(why.clone()),
            Err(e) => Err(format!("the challenge's stream failed: {e}")),
        };
        // The run thread may have gone already (its run failed); nothing to tell then.
        let _ = end.answer.send(reply);
        result.map(|_| ())
    }

    async fn exchange(
        &mut self,
        stream: &mut FramedStream,
        end: &PhaseEnd,
    ) -> Result<Result<[u8; 32], String>, TransportError> {
        let done = PhaseDone {
            cites: self.cites,
            phase: end.ended,
            roots: end.roots.iter().copied().map(Root::new).collect(),
        };
        let signed = Signed::sign(&self.key, &done)?;
        let done_digest = signed.digest();
        stream.send(&Message::PhaseDone(signed)).await?;
        // `expect` answers a message of another kind as an error: only a PhaseKey is `Ok`.
        let key = match stream.expect(MessageKind::PhaseKey, self.timeout).await {
            Ok(Message::PhaseKey(key)) => key,
            Ok(_) => return Err(TransportError::Closed("expect gave another kind".into())),
            Err(TransportError::Timeout(_)) => {
                return Ok(Err(format!(
                    "no phase key within {:.1} s of PhaseDone {}",
                    self.timeout.as_secs_f64(),
                    end.ended
                )));
            }
            Err(e) => return Err(e),
        };
        let digest = key.digest();
        let key = match key.verify_from(&self.validator_key) {
            Ok(key) => key,
            Err(e) => return Ok(Err(format!("the phase key does not verify: {e}"))),
        };
        if key.cites != done_digest || Some(key.phase) != end.ended.checked_add(1) {
            return Ok(Err(format!(
                "the phase key for phase {} does not answer PhaseDone {}",
                key.phase, end.ended
            )));
        }
        self.cites = digest;
        Ok(Ok(key.nonce.into_bytes()))
    }
}
