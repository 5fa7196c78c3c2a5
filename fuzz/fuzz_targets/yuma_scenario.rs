//! Fuzzes the Yuma scenario format end to end: arbitrary UTF-8 to `Scenario::from_json`, and a
//! scenario that parses to `Scenario::run` when it is small enough for a fast exec (at most
//! `MAX_N` neurons, `MAX_EPOCHS` epochs, `MAX_CALLS` `set_weights` calls of at most `MAX_N`
//! destinations each; the parser itself sees every input).
//!
//! Asserts: never a panic (parse and run errors are typed); a result has one report per listed
//! epoch and one entry per uid in every per-uid vector; it serialises to JSON; running the same
//! scenario again gives the same result.
#![no_main]

use chain::scenario::Scenario;
use libfuzzer_sys::fuzz_target;

const MAX_N: usize = 32;
const MAX_EPOCHS: usize = 12;
const MAX_CALLS: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let scenario = match Scenario::from_json(text) {
        Ok(scenario) => scenario,
        Err(e) => return gpuproof_fuzz::debug(|| format!("rejected: {e}")),
    };
    let calls = scenario
        .epochs
        .iter()
        .map(|e| e.set_weights.len())
        .sum::<usize>();
    if usize::from(scenario.n) > MAX_N
        || scenario.stakes.len() > MAX_N
        || scenario.epochs.len() > MAX_EPOCHS
        || calls > MAX_CALLS
        || scenario
            .epochs
            .iter()
            .flat_map(|e| &e.set_weights)
            .any(|c| c.dests.len() > MAX_N || c.weights.len() > MAX_N)
    {
        return;
    }
    let result = match scenario.run() {
        Ok(result) => result,
        Err(e) => return gpuproof_fuzz::debug(|| format!("run failed: {e}")),
    };
    let n = usize::from(scenario.n);
    assert_eq!(
        result.epochs.len(),
        scenario.epochs.len(),
        "one report per epoch"
    );
    for (i, e) in result.epochs.iter().enumerate() {
        for (what, len) in [
            ("consensus", e.consensus.len()),
            ("incentive", e.incentive.len()),
            ("dividends", e.dividends.len()),
            ("validator_trust", e.validator_trust.len()),
            ("validator_permit", e.validator_permit.len()),
            ("bonds", e.bonds.len()),
            ("emission", e.emission.len()),
        ] {
            assert_eq!(len, n, "epoch {i}: {what} has {len} entries for n = {n}");
        }
    }
    serde_json::to_string(&result).expect("a scenario result serialises");
    let again = scenario.run().expect("a scenario that ran runs again");
    assert_eq!(again, result, "the same scenario gave two results");
});
