//! The phase barrier across one machine's devices (protocol v2, docs/design.md §Interactive
//! phases): `PhaseKey k` goes to every device of the machine in the same instant, once every
//! device's `PhaseDone k − 1` has arrived or its session has ended (a device that missed its
//! phase deadline ends with `timeout` or `too-slow` and leaves the barrier). So every device
//! starts the phase together, and whatever it needs must already be on every device then: one
//! GPU cannot answer for several claimed devices one after another.
#![deny(clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// One barrier per set of devices started together (the devices whose `Go`s went out back to
/// back). Each member either arrives at each phase it reaches or leaves (its guard drops).
#[derive(Debug)]
pub(crate) struct PhaseBarrier {
    state: Mutex<State>,
    released: Notify,
}

#[derive(Debug)]
struct State {
    /// Members whose sessions still run.
    live: usize,
    /// Per phase `k`: how many live members have finished phase `k − 1` and wait for `k`.
    waiting: BTreeMap<u32, usize>,
    /// The highest phase released so far (0: none).
    released: u32,
}

impl PhaseBarrier {
    /// A barrier for `members` devices.
    pub(crate) fn new(members: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                live: members,
                waiting: BTreeMap::new(),
                released: 0,
            }),
            released: Notify::new(),
        })
    }

    /// A member's place in the barrier: leaves it when dropped.
    pub(crate) fn member(self: &Arc<Self>) -> Member {
        Member {
            barrier: Arc::clone(self),
            left: false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Releases every phase whose waiting count has reached the live members.
    fn release_ready(state: &mut State) -> bool {
        let mut any = false;
        while let Some((&phase, &count)) = state.waiting.iter().next() {
            if count < state.live {
                break;
            }
            state.waiting.remove(&phase);
            state.released = state.released.max(phase);
            any = true;
        }
        any
    }
}

/// One device's membership of a [`PhaseBarrier`].
#[derive(Debug)]
pub(crate) struct Member {
    barrier: Arc<PhaseBarrier>,
    left: bool,
}

impl Member {
    /// This device has finished phase `phase − 1`: waits until phase `phase` is released to
    /// every device (all live members have arrived, or the others have left).
    pub(crate) async fn arrive(&self, phase: u32) {
        let barrier = &self.barrier;
        {
            let mut state = barrier.lock();
            *state.waiting.entry(phase).or_insert(0) += 1;
            if PhaseBarrier::release_ready(&mut state) {
                barrier.released.notify_waiters();
            }
        }
        loop {
            let notified = barrier.released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if barrier.lock().released >= phase {
                return;
            }
            notified.await;
        }
    }

    /// This device's session has ended: the others no longer wait for it.
    pub(crate) fn leave(&mut self) {
        if self.left {
            return;
        }
        self.left = true;
        let barrier = &self.barrier;
        let mut state = barrier.lock();
        state.live = state.live.saturating_sub(1);
        if PhaseBarrier::release_ready(&mut state) {
            barrier.released.notify_waiters();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_phase_is_released_only_when_every_live_device_arrived() {
        let barrier = PhaseBarrier::new(3);
        let members: Vec<Member> = (0..3).map(|_| barrier.member()).collect();
        let mut members = members.into_iter();
        let (a, b, c) = (
            members.next().unwrap(),
            members.next().unwrap(),
            members.next().unwrap(),
        );
        let first = tokio::spawn(async move {
            a.arrive(1).await;
            a
        });
        let second = tokio::spawn(async move {
            b.arrive(1).await;
            b
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!first.is_finished() && !second.is_finished());
        c.arrive(1).await;
        let (a, b) = (first.await.unwrap(), second.await.unwrap());
        // Phase 2: one device leaves (its session ended), the other two go on without it.
        drop(c);
        let first = tokio::spawn(async move { a.arrive(2).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!first.is_finished());
        b.arrive(2).await;
        first.await.unwrap();
    }

    #[tokio::test]
    async fn a_device_that_leaves_releases_the_ones_waiting() {
        let barrier = PhaseBarrier::new(2);
        let a = barrier.member();
        let mut b = barrier.member();
        let waiting = tokio::spawn(async move { a.arrive(1).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        b.leave();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
    }
}
