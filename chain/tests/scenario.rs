//! Scenario parsing and checks: the example file runs, and bad files are rejected with a
//! message that names what to fix.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chain::scenario::{Scenario, ScenarioError};

const EXAMPLE: &str = include_str!("../examples/scenario.json");

fn parse_err(text: &str) -> String {
    Scenario::from_json(text).unwrap_err().to_string()
}

fn run_err(text: &str) -> ScenarioError {
    Scenario::from_json(text).unwrap().run().unwrap_err()
}

#[test]
fn example_runs() {
    let result = Scenario::from_json(EXAMPLE).unwrap().run().unwrap();
    assert_eq!(result.epochs.len(), 2);
    let first = &result.epochs[0];
    // Only uid 0 (stake 0.8 of the three permit holders) set weights: all of server 3.
    assert_eq!(first.consensus, vec![0, 0, 0, 65535, 0]);
    assert_eq!(first.incentive, vec![0, 0, 0, 65535, 0]);
    assert_eq!(first.validator_permit, vec![true, true, true, false, false]);
    assert_eq!(first.dividends, vec![65535, 0, 0, 0, 0]);
    // The second epoch keeps the weights (empty entry): the same picture, bonds growing.
    assert_eq!(result.epochs[1].incentive, first.incentive);
    let bond = |e: usize| {
        result.epochs[e].bonds[0]
            .iter()
            .find(|(j, _)| *j == 3)
            .unwrap()
            .1
    };
    assert!(bond(1) > bond(0));
    // Emission: half to server 3, half to validator 0.
    assert_eq!(first.emission[3], 500_000_000);
}

#[test]
fn result_serialises_as_documented() {
    let result = Scenario::from_json(EXAMPLE).unwrap().run().unwrap();
    let json = serde_json::to_value(&result).unwrap();
    let epoch = &json["epochs"][0];
    for key in [
        "consensus",
        "incentive",
        "dividends",
        "validator_trust",
        "validator_permit",
        "bonds",
        "emission",
    ] {
        assert!(epoch.get(key).is_some(), "missing {key}");
    }
    // Bonds are rows of [uid, u16] pairs.
    assert_eq!(epoch["bonds"][0][0][0], 3);
}

#[test]
fn unknown_field_is_named() {
    let err = parse_err(
        r#"{"n": 1, "stakes": [1], "emission": 1, "epochs": [], "hyperparameters": {"kapa": 1}}"#,
    );
    assert!(
        err.contains("hyperparameters") && err.contains("kapa"),
        "{err}"
    );
}

#[test]
fn wrong_type_names_its_path() {
    let err = parse_err(
        r#"{"n": 1, "stakes": [1], "emission": 1, "epochs": [], "hyperparameters": {"kappa": "high"}}"#,
    );
    assert!(err.contains("hyperparameters.kappa"), "{err}");
    let err = parse_err(
        r#"{"n": 1, "stakes": [1], "emission": 1, "epochs": [{"set_weights": [{"uid": 0, "dests": [70000], "weights": [1]}]}]}"#,
    );
    assert!(err.contains("epochs[0].set_weights[0].dests[0]"), "{err}");
}

#[test]
fn missing_field_is_named() {
    let err = parse_err(r#"{"n": 1, "stakes": [1], "epochs": []}"#);
    assert!(err.contains("emission"), "{err}");
}

#[test]
fn stakes_must_match_n() {
    let err = run_err(r#"{"n": 2, "stakes": [1], "emission": 1, "epochs": []}"#);
    assert!(
        matches!(err, ScenarioError::StakesLength { len: 1, n: 2 }),
        "{err}"
    );
}

#[test]
fn alpha_bounds_are_checked() {
    let err = run_err(
        r#"{"n": 1, "stakes": [1], "emission": 1, "epochs": [], "hyperparameters": {"alpha_low": 1.5}}"#,
    );
    assert!(err.to_string().contains("alpha_low"), "{err}");
    let err = run_err(
        r#"{"n": 1, "stakes": [1], "emission": 1, "epochs": [], "hyperparameters": {"alpha_low": 0.5, "alpha_high": 0.2}}"#,
    );
    assert!(matches!(err, ScenarioError::Alpha { .. }), "{err}");
}

#[test]
fn set_weights_rules() {
    // uid 1 has no stake, so no permit: it may set a self-weight only.
    let base = |calls: &str| {
        format!(
            r#"{{"n": 3, "stakes": [1, 0, 0], "emission": 1, "epochs": [{{"set_weights": [{calls}]}}]}}"#
        )
    };
    let err = run_err(&base(r#"{"uid": 1, "dests": [2], "weights": [1]}"#)).to_string();
    assert!(
        err.contains("epochs[0].set_weights[0]") && err.contains("validator permit"),
        "{err}"
    );
    Scenario::from_json(&base(r#"{"uid": 1, "dests": [1], "weights": [1]}"#))
        .unwrap()
        .run()
        .unwrap();
    let err = run_err(&base(r#"{"uid": 0, "dests": [1, 1], "weights": [1, 2]}"#)).to_string();
    assert!(err.contains("duplicate"), "{err}");
    let err = run_err(&base(r#"{"uid": 0, "dests": [3], "weights": [1]}"#)).to_string();
    assert!(err.contains("not registered"), "{err}");
    let err = run_err(&base(r#"{"uid": 0, "dests": [1, 2], "weights": [1]}"#)).to_string();
    assert!(err.contains("one weight per destination"), "{err}");
    let err = run_err(&base(r#"{"uid": 5, "dests": [1], "weights": [1]}"#)).to_string();
    assert!(err.contains("uid 5"), "{err}");
}
