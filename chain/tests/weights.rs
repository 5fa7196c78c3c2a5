//! Client-side weight processing against figures derived by hand from the Python SDK's
//! `weight_utils.py` formulas (each derivation is in the comment next to it).

use chain::weights::{
    VersionKeyScheme, WeightError, WeightLimits, convert_weights_and_uids_for_emit,
    normalize_max_weight, process_weights,
};

fn assert_all_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "got {got:?}, want {want:?}");
    }
}

fn limits(num_neurons: usize, min_allowed_weights: usize, max_weight_limit: f64) -> WeightLimits {
    WeightLimits {
        num_neurons,
        min_allowed_weights,
        max_weight_limit,
        exclude_quantile: 0,
    }
}

#[test]
fn emit_conversion_rounds_half_to_even_and_drops_zeros() {
    // max = 65535, so value · 65535 / 65535 is exact: 2.5 → 2 and 4.5 → 4 (half to even, as
    // Python's round; half away from zero would give 3 and 5), 1.5 → 2, 0.4 → 0 and dropped.
    let (uids, vals) =
        convert_weights_and_uids_for_emit(&[0, 1, 2, 3, 4], &[65535.0, 2.5, 4.5, 0.4, 1.5])
            .unwrap();
    assert_eq!(uids, vec![0, 1, 2, 4]);
    assert_eq!(vals, vec![65535, 2, 4, 2]);
    // Max-upscale: 0.5 / 0.5 → 65535, 0.25 / 0.5 · 65535 = 32767.5 → 32768 (even).
    let (_, vals) = convert_weights_and_uids_for_emit(&[0, 1], &[0.5, 0.25]).unwrap();
    assert_eq!(vals, vec![65535, 32768]);
    // All zero: nothing to set.
    assert_eq!(
        convert_weights_and_uids_for_emit(&[0, 1], &[0.0, 0.0]).unwrap(),
        (vec![], vec![])
    );
    assert!(matches!(
        convert_weights_and_uids_for_emit(&[0], &[-1.0]),
        Err(WeightError::InvalidWeight { index: 0, .. })
    ));
    assert!(matches!(
        convert_weights_and_uids_for_emit(&[0, 1], &[1.0]),
        Err(WeightError::LengthMismatch {
            uids: 2,
            weights: 1
        })
    ));
}

#[test]
fn max_weight_cap() {
    // [1, 1, 1, 7], limit 0.4. Sorted estimation [0.1, 0.1, 0.1, 0.7], cumsum [.1, .2, .3, 1].
    // est_i / ((3 − i)·est_i + cumsum_i + ε): 0.25, 0.25, 0.25, 0.7 → 3 values under the limit.
    // cutoff = (0.4 · 0.3 − 1e-7) / (1 − 0.4 · 1) · 10 = 2 − 1e-6 / 0.6. Only 7 exceeds it.
    let cutoff = 2.0 - 1e-6 / 0.6;
    let sum = 3.0 + cutoff;
    let got = normalize_max_weight(&[1.0, 1.0, 1.0, 7.0], 0.4);
    assert_all_close(&got, &[1.0 / sum, 1.0 / sum, 1.0 / sum, cutoff / sum]);
    assert!(got[3] <= 0.4);
    // Limit already met: plain normalisation.
    assert_all_close(&normalize_max_weight(&[1.0, 3.0], 0.9), &[0.25, 0.75]);
    // len · limit <= 1 cannot be met: uniform.
    assert_all_close(&normalize_max_weight(&[1.0, 3.0], 0.5), &[0.5, 0.5]);
}

#[test]
fn process_keeps_nonzero_and_caps() {
    // Zero weight on uid 1 is dropped; the rest is capped as in `max_weight_cap`.
    let p = process_weights(
        &[0, 1, 2, 3, 4],
        &[1.0, 0.0, 1.0, 1.0, 7.0],
        &limits(5, 1, 0.4),
    )
    .unwrap();
    assert_eq!(p.uids, vec![0, 2, 3, 4]);
    let cutoff = 2.0 - 1e-6 / 0.6;
    let sum = 3.0 + cutoff;
    assert_all_close(&p.weights, &[1.0 / sum, 1.0 / sum, 1.0 / sum, cutoff / sum]);
}

#[test]
fn process_without_nonzero_weights_is_uniform() {
    let p = process_weights(&[0, 1], &[0.0, 0.0], &limits(4, 1, 0.5)).unwrap();
    assert_eq!(p.uids, vec![0, 1, 2, 3]);
    assert_all_close(&p.weights, &[0.25; 4]);
}

#[test]
fn process_below_min_allowed_pads_every_neuron() {
    // One non-zero weight but min_allowed_weights 2: every neuron starts at 1e-5 and 0.6 is
    // added at position 1; with limit 1 that is plainly normalised over 0.6 + 4e-5.
    let p = process_weights(&[0, 1, 2, 3], &[0.0, 0.6, 0.0, 0.0], &limits(4, 2, 1.0)).unwrap();
    assert_eq!(p.uids, vec![0, 1, 2, 3]);
    let sum = 0.6 + 4e-5;
    assert_all_close(
        &p.weights,
        &[1e-5 / sum, (0.6 + 1e-5) / sum, 1e-5 / sum, 1e-5 / sum],
    );
}

#[test]
fn process_excludes_lowest_quantile() {
    // exclude_quantile 65535 asks for q = 1, but keeping min_allowed_weights = 2 of 4 caps it at
    // 0.5; numpy's linear quantile of [.1, .2, .3, .4] at 0.5 is 0.25, so 0.3 and 0.4 remain.
    let l = WeightLimits {
        exclude_quantile: 65535,
        ..limits(4, 2, 1.0)
    };
    let p = process_weights(&[0, 1, 2, 3], &[0.1, 0.2, 0.3, 0.4], &l).unwrap();
    assert_eq!(p.uids, vec![2, 3]);
    assert_all_close(&p.weights, &[0.3 / 0.7, 0.4 / 0.7]);
}

#[test]
fn version_keys() {
    let h = VersionKeyScheme::HUNDREDS;
    assert_eq!(h.key(1, 2, 3).unwrap(), 10_203);
    assert_eq!(h.key_from_str("v2.10.0").unwrap(), 21_000);
    assert_eq!(
        VersionKeyScheme::BITTENSOR_SDK
            .key_from_str("9.7.1")
            .unwrap(),
        971
    );
    assert_eq!(VersionKeyScheme::default(), h);
    assert!(matches!(
        h.key_from_str("1.2"),
        Err(WeightError::BadVersion(_))
    ));
    assert!(matches!(
        h.key_from_str("1.2.3.4"),
        Err(WeightError::BadVersion(_))
    ));
    assert!(matches!(
        h.key_from_str("1.x.3"),
        Err(WeightError::BadVersion(_))
    ));
    assert_eq!(h.key(u64::MAX, 0, 0), Err(WeightError::VersionOverflow));
}
