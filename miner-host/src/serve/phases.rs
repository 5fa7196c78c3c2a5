//! Interactive phases on the miner's side (protocol v2, docs/design.md §Interactive phases): the
//! run thread's `gpu.phase_end` reaches the challenge's session as an `Event::PhaseEnd`, and
//! the nonce of the validator's `PhaseKey` (or why there is none) goes back to the guest.
//!
//! The sandbox runs on a blocking thread; [`StreamPhases`] (its [`PhaseHook`]) hands each
//! phase end to the stream task over a channel and waits for the answer the session gives
//! (`Action::Resume`). What is signed and checked is the session's (`crate::session`).
#![deny(clippy::indexing_slicing)]

use std::sync::mpsc as sync_mpsc;

use challenge_runtime::{PhaseHook, PhaseRefused};
use tokio::sync::mpsc;

/// One phase end, from the run thread: the phase that ended, the roots committed so far, and
/// where to send the next phase's nonce (or why there is none).
pub(crate) struct PhaseEnd {
    ended: u32,
    roots: Vec<[u8; 32]>,
    answer: sync_mpsc::SyncSender<Result<[u8; 32], String>>,
}

impl PhaseEnd {
    /// The phase that ended.
    pub(crate) fn ended(&self) -> u32 {
        self.ended
    }

    /// The roots committed so far.
    pub(crate) fn roots(&self) -> &[[u8; 32]] {
        &self.roots
    }

    /// Hands the run thread its nonce, or the reason there is none.
    pub(crate) fn answer(self, nonce: Result<[u8; 32], String>) {
        // The run thread may have gone already (its run failed); nothing to tell then.
        let _ = self.answer.send(nonce);
    }
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
