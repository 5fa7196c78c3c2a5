//! Epoch cases of our own, each explained where it is built, plus a Yuma3 trajectory checked
//! against the dividend targets of subtensor's `test_yuma_3_kappa_moves_first`.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chain::epoch::{SubnetState, run_epoch};
use chain::hyperparams::Hyperparameters;
use chain::scenario::Scenario;

/// A subnet in block 100, everyone registered at block 0, weights set at block 50.
fn state(
    n: u16,
    stake: Vec<u64>,
    permits: Vec<bool>,
    weights: Vec<Vec<(u16, u16)>>,
) -> SubnetState {
    let rows = usize::from(n);
    SubnetState {
        n,
        current_block: 100,
        tempo: 10,
        stake,
        last_update: vec![50; rows],
        block_at_registration: vec![0; rows],
        validator_permit: permits,
        weights,
        bonds: vec![Vec::new(); rows],
        owner_uid: None,
        hyperparameters: Hyperparameters::default(),
    }
}

#[test]
fn validator_without_permit_is_ignored() {
    // uid 1 has stake and set weights on server 3, but holds no permit from the last epoch:
    // its row is masked and its stake is not active. Only uid 0's vote (server 2) counts, and
    // uid 0 alone earns dividends.
    let s = state(
        4,
        vec![6, 4, 0, 0],
        vec![true, false, false, false],
        vec![vec![(2, 65535)], vec![(3, 65535)], vec![], vec![]],
    );
    let out = run_epoch(&s, 1_000).unwrap();
    assert_eq!(out.consensus, vec![0, 0, 65535, 0]);
    assert_eq!(out.incentive, vec![0, 0, 65535, 0]);
    assert_eq!(out.dividends, vec![65535, 0, 0, 0]);
    assert_eq!(out.validator_trust, vec![65535, 0, 0, 0]);
    // Half to the server, half to the validator (I and D each sum to 1, split on their sum).
    assert_eq!(out.emission, vec![500, 0, 500, 0]);
    // New permits: both uids with stake are in the top 64.
    assert_eq!(out.validator_permit, vec![true, true, false, false]);
}

#[test]
fn weights_not_newer_than_target_registration_are_masked() {
    // uid 0 last set weights at block 50. Server 1 re-registered at block 50 (the same block:
    // `updated <= registered` masks it), server 2 at block 49 (kept). The whole incentive goes
    // to server 2, although uid 0 put equal weight on both.
    let mut s = state(
        3,
        vec![1, 0, 0],
        vec![true, false, false],
        vec![vec![(1, 65535), (2, 65535)], vec![], vec![]],
    );
    s.block_at_registration = vec![0, 50, 49];
    let out = run_epoch(&s, 1_000).unwrap();
    assert_eq!(out.incentive, vec![0, 0, 65535]);
    assert_eq!(
        out.bonds[0].iter().map(|(j, _)| *j).collect::<Vec<_>>(),
        vec![2]
    );
}

#[test]
fn inactive_validator_loses_its_vote() {
    // uid 1 last updated at block 50 and the activity cutoff is 40 blocks at block 100, so its
    // stake is inactive: its weights (on server 3) carry no stake and consensus follows uid 0.
    let mut s = state(
        4,
        vec![1, 9, 0, 0],
        vec![true, true, false, false],
        vec![vec![(2, 65535)], vec![(3, 65535)], vec![], vec![]],
    );
    s.last_update = vec![100, 50, 0, 0];
    s.hyperparameters.activity_cutoff = 40;
    let out = run_epoch(&s, 1_000).unwrap();
    assert_eq!(out.active, vec![true, false, false, false]);
    assert_eq!(out.incentive, vec![0, 0, 65535, 0]);
    assert_eq!(out.dividends, vec![65535, 0, 0, 0]);
}

#[test]
fn no_weights_sends_emission_to_stake() {
    // Nobody set weights: incentive and dividends are all 0, so the whole emission follows
    // stake (3/4 and 1/4 are exact in fixed point).
    let scenario =
        Scenario::from_json(r#"{"n": 2, "stakes": [3, 1], "emission": 1000, "epochs": [{}]}"#)
            .unwrap();
    let result = scenario.run().unwrap();
    assert_eq!(result.epochs[0].emission, vec![750, 250]);
    assert_eq!(result.epochs[0].dividends, vec![0, 0]);
}

#[test]
fn length_mismatch_is_an_error() {
    let mut s = state(2, vec![1, 1], vec![true, true], vec![vec![], vec![]]);
    s.last_update = vec![0];
    let err = run_epoch(&s, 1).unwrap_err();
    assert!(err.to_string().contains("last_update"), "{err}");
}

/// The issue's example scenario is subtensor's `test_yuma_3_kappa_moves_first`: validators
/// A (stake 0.8), B and C (0.1 each); two servers. Yuma3 with liquid alpha in [0.1, 0.3],
/// kappa 0.5, no bonds penalty, bonds_moving_average 0.975, three permits.
const YUMA3_KAPPA_MOVES_FIRST: &str = r#"{
  "n": 5, "stakes": [8, 1, 1, 0, 0], "emission": 1000000000,
  "hyperparameters": {"kappa": 32767, "bonds_penalty": 0, "bonds_moving_average": 975000,
    "yuma3": true, "liquid_alpha": true, "alpha_low": 0.1, "alpha_high": 0.3,
    "alpha_sigmoid_steepness": 1000, "max_allowed_validators": 3, "activity_cutoff": 5000},
  "epochs": [
    {"set_weights": [{"uid": 0, "dests": [3, 4], "weights": [65535, 0]},
                     {"uid": 1, "dests": [3, 4], "weights": [65535, 0]},
                     {"uid": 2, "dests": [3, 4], "weights": [65535, 0]}]},
    {"set_weights": [{"uid": 0, "dests": [3, 4], "weights": [0, 65535]},
                     {"uid": 1, "dests": [3, 4], "weights": [65535, 0]},
                     {"uid": 2, "dests": [3, 4], "weights": [65535, 0]}]},
    {"set_weights": [{"uid": 0, "dests": [3, 4], "weights": [0, 65535]},
                     {"uid": 1, "dests": [3, 4], "weights": [0, 65535]},
                     {"uid": 2, "dests": [3, 4], "weights": [65535, 0]}]},
    {"set_weights": [{"uid": 0, "dests": [3, 4], "weights": [0, 65535]},
                     {"uid": 1, "dests": [3, 4], "weights": [0, 65535]},
                     {"uid": 2, "dests": [3, 4], "weights": [0, 65535]}]},
    {},
    {}
  ]
}"#;

#[test]
fn yuma3_kappa_moves_first_matches_subtensor_targets() {
    // Dividend targets of subtensor's test, which checks them to 1e-3 (4 decimals given).
    // The big validator moves to server 4 first; the eager small one follows, the lazy one
    // last, and dividends shift towards whoever moved with consensus early.
    let targets = [
        [0.8000, 0.1000, 0.1000],
        [1.0000, 0.0000, 0.0000],
        [0.9382, 0.0618, 0.0000],
        [0.8819, 0.0773, 0.0407],
        [0.8564, 0.0844, 0.0592],
        [0.8418, 0.0884, 0.0697],
    ];
    let scenario = Scenario::from_json(YUMA3_KAPPA_MOVES_FIRST).unwrap();
    let result = scenario.run().unwrap();
    assert_eq!(result.epochs.len(), targets.len());
    for (epoch, (report, want)) in result.epochs.iter().zip(targets).enumerate() {
        for (uid, w) in want.iter().enumerate() {
            let got = f64::from(report.dividends[uid]) / 65535.0;
            assert!(
                (got - w).abs() <= 1e-3,
                "epoch {epoch} uid {uid}: got {got}, want {w}"
            );
        }
        assert_eq!(&report.dividends[3..], &[0, 0]);
    }
    // Bond targets of the same test (fractions of u16::MAX, servers 3 and 4 per validator; the
    // runtime test's own bond check is vacuous, but these trajectories agree to 1e-3 as well).
    // Yuma3 stores bonds without upscaling; a bond of 0 is absent from the stored row because the
    // EMA keeps positive entries only.
    let bond_targets = [
        [[0.1013, 0.0], [0.1013, 0.0], [0.1013, 0.0]],
        [[0.0908, 0.1013], [0.3697, 0.0], [0.3697, 0.0]],
        [[0.0815, 0.1924], [0.3170, 0.1013], [0.5580, 0.0]],
        [[0.0731, 0.2742], [0.2765, 0.1924], [0.4306, 0.1013]],
        [[0.0656, 0.3478], [0.2435, 0.2742], [0.3589, 0.1924]],
        [[0.0588, 0.4139], [0.2157, 0.3478], [0.3089, 0.2742]],
    ];
    for (epoch, (report, want)) in result.epochs.iter().zip(bond_targets).enumerate() {
        for (uid, servers) in want.iter().enumerate() {
            for (server, w) in [3u16, 4].iter().zip(servers) {
                let got = report.bonds[uid]
                    .iter()
                    .find(|(j, _)| j == server)
                    .map_or(0.0, |(_, b)| f64::from(*b) / 65535.0);
                assert!(
                    (got - w).abs() <= 1e-3,
                    "epoch {epoch} bond {uid}->{server}: got {got}, want {w}"
                );
            }
        }
    }
}
