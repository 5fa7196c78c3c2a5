//! `chain::reveal_round`: the reveal block from the epoch schedule, and the drand round.
//! Expected values are worked out by hand in each comment.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use chain::commit_reveal::{epoch_index, reveal_window};
use chain::reveal_round::{
    EpochSchedule, MAX_TEMPO, RevealRoundError, RevealTarget, StatefulSchedule, first_reveal_block,
    reveal_round, reveal_target,
};
use chain::tlock::QUICKNET_GENESIS_TIME;

fn stateful(tempo: u16, last: u64, pending: u64, since: u64) -> EpochSchedule {
    EpochSchedule::Stateful(StatefulSchedule {
        tempo,
        last_epoch_block: last,
        pending_epoch_at: pending,
        subnet_epoch_index: 40,
        blocks_since_last_step: since,
    })
}

#[test]
fn issue_example_last_epoch_1000_tempo_360_head_1100() {
    // Commit lands at 1101 (epoch E); the next epoch runs at 1000 + 360 = 1360 → E + 1.
    let s = stateful(360, 1000, 0, 100);
    assert_eq!(first_reveal_block(&s, 1100, 1), Ok(1360));
}

#[test]
fn longer_reveal_periods_step_whole_tempos() {
    // Epochs at 1360, 1720, 2080: E+1, E+2, E+3.
    let s = stateful(360, 1000, 0, 100);
    assert_eq!(first_reveal_block(&s, 1100, 2), Ok(1720));
    assert_eq!(first_reveal_block(&s, 1100, 3), Ok(2080));
}

#[test]
fn commits_at_the_epoch_edges() {
    let s = stateful(360, 1000, 0, 0);
    // Head is the last epoch block itself: commit at 1001, reveal at the next epoch, 1360.
    assert_eq!(first_reveal_block(&s, 1000, 1), Ok(1360));
    // Commit lands in 1359, the last block before the epoch: still epoch E → 1360.
    let s = stateful(360, 1000, 0, 358);
    assert_eq!(first_reveal_block(&s, 1358, 1), Ok(1360));
    // Commit lands in 1360, the epoch block: extrinsics run after the block's epoch step, so the
    // commit belongs to E + 1 and is revealed at E + 2 = 1720.
    let s = stateful(360, 1000, 0, 359);
    assert_eq!(first_reveal_block(&s, 1359, 1), Ok(1720));
}

#[test]
fn a_pending_owner_epoch_fires_before_the_automatic_one() {
    // tempo 20, last 80, pending 95, head 91: commit at 92 (E), the pending epoch runs at 95.
    let s = stateful(20, 80, 95, 11);
    assert_eq!(first_reveal_block(&s, 91, 1), Ok(95));
    // After it, epochs every 20 blocks from 95: E + 2 at 115.
    assert_eq!(first_reveal_block(&s, 91, 2), Ok(115));
    // Pending at the commit block: the commit is in E + 1, reveal at E + 2 = 92 + 20.
    let s = stateful(20, 80, 92, 11);
    assert_eq!(first_reveal_block(&s, 91, 1), Ok(112));
}

#[test]
fn the_watchdog_forces_an_epoch_after_max_tempo_blocks() {
    // LastEpochBlock is recent but BlocksSinceLastStep is past MAX_TEMPO: the commit block
    // runs an epoch (commit in E + 1), then the next is a tempo later.
    let s = stateful(360, 100_000, 0, MAX_TEMPO + 1);
    assert_eq!(first_reveal_block(&s, 100_000, 1), Ok(100_361));
    // A reveal period of 0 is the commit's own epoch: revealed in the next block.
    assert_eq!(
        first_reveal_block(&stateful(360, 1000, 0, 100), 1100, 0),
        Ok(1102)
    );
    let legacy = EpochSchedule::Legacy {
        netuid: 1,
        tempo: 360,
    };
    assert_eq!(first_reveal_block(&legacy, 100, 0), Ok(102));
    // At exactly MAX_TEMPO: the commit block's step counts MAX_TEMPO + 1 and fires, so the
    // commit is stored under E + 1, revealed a tempo later.
    let s = stateful(360, 100_000, 0, MAX_TEMPO);
    assert_eq!(first_reveal_block(&s, 100_000, 1), Ok(100_361));
    // MAX_TEMPO − 1: no epoch at the commit block (100_001, commit in E). The step of 100_002
    // fires, but the reveal of 100_002 runs before it and still reads MAX_TEMPO (not past the
    // bound), so E + 1 is first seen by the reveal of 100_003.
    let s = stateful(360, 100_000, 0, MAX_TEMPO - 1);
    assert_eq!(first_reveal_block(&s, 100_000, 1), Ok(100_003));
}

#[test]
fn tempo_zero_and_absurd_periods_are_errors() {
    assert_eq!(
        first_reveal_block(&stateful(0, 10, 0, 0), 10, 1),
        Err(RevealRoundError::TempoIsZero)
    );
    assert_eq!(
        first_reveal_block(
            &EpochSchedule::Legacy {
                netuid: 1,
                tempo: 0
            },
            10,
            1
        ),
        Err(RevealRoundError::TempoIsZero)
    );
    for schedule in [
        stateful(360, 1000, 0, 100),
        EpochSchedule::Legacy {
            netuid: 3,
            tempo: 360,
        },
    ] {
        for period in [10_000, u64::MAX] {
            assert_eq!(
                first_reveal_block(&schedule, 1100, period),
                Err(RevealRoundError::TooFar {
                    reveal_period_epochs: period
                }),
                "{schedule:?} period {period}"
            );
        }
    }
}

#[test]
fn legacy_schedule_reveals_at_the_first_block_of_the_target_epoch() {
    let s = EpochSchedule::Legacy {
        netuid: 1,
        tempo: 360,
    };
    // epoch(b) = (b + 2) / 361: epoch 1 spans 359..=719, epoch 2 starts at 720.
    assert_eq!(first_reveal_block(&s, 100, 1), Ok(359));
    assert_eq!(first_reveal_block(&s, 357, 1), Ok(359)); // commit in 358, epoch 0
    assert_eq!(first_reveal_block(&s, 358, 1), Ok(720)); // commit in 359, epoch 1
    assert_eq!(first_reveal_block(&s, 100, 3), Ok(1081));
    // Agrees with the v2 reveal window of the commit block.
    for head in (0..3000).step_by(37) {
        assert_eq!(
            first_reveal_block(&s, head, 2),
            Ok(reveal_window(1, 360, head + 1, 2).0)
        );
    }
}

/// A stateful schedule whose epochs fall where the legacy ones do (every tempo + 1 blocks, at
/// `b` with `(b + netuid + 1) % (tempo + 1) == 0`) must give the same reveal block from every
/// head: the two implementations check each other.
#[test]
fn stateful_and_legacy_agree_on_the_same_epoch_boundaries() {
    let (netuid, tempo) = (5u16, 12u16);
    let legacy = EpochSchedule::Legacy { netuid, tempo };
    let period = u64::from(tempo) + 1;
    for head in 20u64..400 {
        // Last legacy epoch boundary at or before the head.
        let last = (head + u64::from(netuid) + 1) / period * period - u64::from(netuid) - 1;
        let s = EpochSchedule::Stateful(StatefulSchedule {
            tempo: tempo + 1,
            last_epoch_block: last,
            pending_epoch_at: 0,
            subnet_epoch_index: epoch_index(netuid, tempo, head),
            blocks_since_last_step: head - last,
        });
        for reveal_period in 1..4 {
            assert_eq!(
                first_reveal_block(&s, head, reveal_period),
                first_reveal_block(&legacy, head, reveal_period),
                "head {head}, period {reveal_period}"
            );
        }
    }
}

#[test]
fn reveal_round_formula() {
    let genesis_ms = QUICKNET_GENESIS_TIME * 1000;
    // now = genesis + 1000 s; 1360 + 3 − 1100 = 263 blocks = 3156 s → 4156 s / 3 = 1385.33.
    assert_eq!(
        reveal_round(1100, 1360, genesis_ms + 1_000_000, 12_000),
        1385
    );
    // Floor at an exact boundary and just before it.
    assert_eq!(
        reveal_round(0, 0, genesis_ms + 3 * 1000 * 10 - 36_000, 12_000),
        10
    );
    assert_eq!(
        reveal_round(0, 0, genesis_ms + 3 * 1000 * 10 - 36_001, 12_000),
        9
    );
    // Before genesis the round is 1, never 0.
    assert_eq!(reveal_round(100, 101, 0, 12_000), 1);
    // Saturates instead of overflowing.
    assert!(reveal_round(0, u64::MAX, u64::MAX, u64::MAX) > 0);
    // A faster chain (250 ms blocks, as on fast-blocks localnets).
    assert_eq!(reveal_round(10, 17, genesis_ms, 250), 1);
    assert_eq!(
        reveal_round(10, 10_000, genesis_ms, 250),
        (9_993 * 250) / 3000
    );
}

#[test]
fn reveal_target_combines_both() {
    let genesis_ms = QUICKNET_GENESIS_TIME * 1000;
    let s = stateful(360, 1000, 0, 100);
    assert_eq!(
        reveal_target(&s, 1100, 1, genesis_ms + 1_000_000, 12_000),
        Ok(RevealTarget {
            reveal_block: 1360,
            reveal_round: 1385
        })
    );
}
