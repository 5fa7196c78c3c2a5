//! Every figure of the subtensor reference vectors (`tests/vectors/yuma.json`): the sparse
//! weighted median cases and the classic-bonds epoch sequence, run through the scenario
//! simulation. Integers must match exactly, fixed-point values to 1e-9.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chain::math::weighted_median_col_sparse;
use chain::scenario::Scenario;
use serde_json::Value;
use substrate_fixed::types::I32F32;

const VECTORS: &str = include_str!("vectors/yuma.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vectors file is valid JSON")
}

/// A JSON number as the runtime's math tests build it: an f32 literal through `I32F32::from_num`.
fn fixed_f32(v: &Value) -> I32F32 {
    I32F32::from_num(v.as_f64().expect("number") as f32)
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("integer"))
        .collect()
}

fn assert_close(label: &str, got: &[I32F32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{label}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let g: f64 = g.to_num();
        assert!((g - w).abs() <= 1e-9, "{label}[{i}]: got {g}, want {w}");
    }
}

#[test]
fn weighted_median_col_sparse_cases() {
    let v = vectors();
    for (case_index, case) in v["weighted_median_col_sparse"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let stake: Vec<I32F32> = case["stake"]
            .as_array()
            .unwrap()
            .iter()
            .map(fixed_f32)
            .collect();
        // Dense rows to sparse rows; a zero entry is the same as a missing one.
        let weights: Vec<Vec<(u16, I32F32)>> = case["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .enumerate()
                    .map(|(j, w)| (j as u16, fixed_f32(w)))
                    .filter(|(_, w)| *w != I32F32::from_num(0))
                    .collect()
            })
            .collect();
        let columns = case["columns"].as_u64().unwrap() as u16;
        let majority = fixed_f32(&case["majority"]);
        let want: Vec<I32F32> = case["median"]
            .as_array()
            .unwrap()
            .iter()
            .map(fixed_f32)
            .collect();
        let got = weighted_median_col_sparse(&stake, &weights, columns, majority);
        assert_eq!(got, want, "median case {case_index}");
    }
}

#[test]
fn classic_bonds_sequence() {
    let v = vectors();
    let cb = &v["classic_bonds"];
    let scenario = Scenario::from_json(&cb["scenario"].to_string()).unwrap();
    let outputs = scenario.run_outputs().unwrap();
    assert_eq!(outputs.len(), 3);

    // Stored bonds of validators 0..3 on server 4 after each step.
    for (step, want) in cb["bonds_column_4"].as_array().unwrap().iter().enumerate() {
        let got: Vec<u64> = (0..4)
            .map(|i| {
                outputs[step].bonds[i]
                    .iter()
                    .find(|(j, _)| *j == 4)
                    .map_or(0, |(_, b)| u64::from(*b))
            })
            .collect();
        assert_eq!(got, u64s(want), "bonds[0..4][4] after step {}", step + 1);
    }

    let s1 = &cb["step1"];
    let t1 = &outputs[0].terms;
    assert_close("S", &t1.stake, &f64s(&s1["stake"]));
    for (i, row) in t1.weights.iter().enumerate().take(4) {
        let want: Vec<(u16, f64)> = s1["weights_row"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap() as u16, p[1].as_f64().unwrap()))
            .collect();
        let cols: Vec<u16> = row.iter().map(|(j, _)| *j).collect();
        assert_eq!(
            cols,
            want.iter().map(|(j, _)| *j).collect::<Vec<_>>(),
            "W row {i}"
        );
        let vals: Vec<I32F32> = row.iter().map(|(_, w)| *w).collect();
        assert_close(
            "W row",
            &vals,
            &want.iter().map(|(_, w)| *w).collect::<Vec<_>>(),
        );
    }
    assert_close("C", &t1.consensus.consensus, &f64s(&s1["consensus"]));
    assert_close("I", &t1.consensus.incentive, &f64s(&s1["incentive"]));
    assert_close("D step 1", &t1.bonds.dividends, &f64s(&s1["dividends"]));
    assert_eq!(outputs[0].emission, u64s(&s1["emission"]), "E step 1");

    let s2 = &cb["step2"];
    assert_close(
        "D step 2",
        &outputs[1].terms.bonds.dividends,
        &f64s(&s2["dividends"]),
    );
    assert_eq!(outputs[1].emission, u64s(&s2["emission"]), "E step 2");

    let s3 = &cb["step3"];
    assert_close(
        "D step 3",
        &outputs[2].terms.bonds.dividends,
        &f64s(&s3["dividends"]),
    );
}
