//! Client-side weight processing as validators do it with the Python bittensor SDK
//! (`bittensor/utils/weight_utils.py`): `process_weights` (non-zero filter, `min_allowed_weights`,
//! exclusion quantile, `normalize_max_weight` cap), `convert_weights_and_uids_for_emit` (max-upscale
//! to `u16`, round half to even, zeros dropped), and the `version_key` convention.
//!
//! This is client-side, not consensus: it uses `f64`. The SDK casts weights to `float32` first,
//! so results can differ from it in the last float32 bits (about 1e-7 relative); after the `u16`
//! conversion they agree except where a value sits within that distance of a rounding tie.

/// Why weights cannot be processed or converted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightError {
    /// `uids` and `weights` differ in length.
    #[error("{uids} uids but {weights} weights: give one weight per uid")]
    LengthMismatch {
        /// Number of uids.
        uids: usize,
        /// Number of weights.
        weights: usize,
    },
    /// A weight is negative, infinite or not a number.
    #[error("weight {value} at position {index} is not a finite non-negative number")]
    InvalidWeight {
        /// Position in the input.
        index: usize,
        /// The value.
        value: f64,
    },
    /// The SDK's fallback indexes a `num_neurons` vector by input position and would fail.
    #[error(
        "{len} weights given for a subnet of {num_neurons} neurons: pass at most one weight per neuron"
    )]
    TooManyWeights {
        /// Number of weights given.
        len: usize,
        /// The subnet size.
        num_neurons: usize,
    },
    /// A version string is not `major.minor.patch` of integers.
    #[error("version `{0}` is not major.minor.patch with integer parts")]
    BadVersion(String),
    /// The version key does not fit in `u64`.
    #[error("version key overflows u64 with this scheme")]
    VersionOverflow,
}

/// Subnet limits `process_weights` applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightLimits {
    /// Neurons on the subnet (`metagraph.n`).
    pub num_neurons: usize,
    /// `MinAllowedWeights`.
    pub min_allowed_weights: usize,
    /// `MaxWeightsLimit` as a fraction (`u16 / 65535`).
    pub max_weight_limit: f64,
    /// `exclude_quantile` as the SDK takes it, in `u16` units (0 excludes nothing).
    pub exclude_quantile: u16,
}

/// Uids and their normalised float weights, ready for [`convert_weights_and_uids_for_emit`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedWeights {
    /// Destination uids.
    pub uids: Vec<u16>,
    /// Weights summing to 1, none above the limit where the limit is attainable.
    pub weights: Vec<f64>,
}

fn check_inputs(uids: &[u16], weights: &[f64]) -> Result<(), WeightError> {
    if uids.len() != weights.len() {
        return Err(WeightError::LengthMismatch {
            uids: uids.len(),
            weights: weights.len(),
        });
    }
    match weights
        .iter()
        .enumerate()
        .find(|(_, w)| !w.is_finite() || **w < 0.0)
    {
        Some((index, value)) => Err(WeightError::InvalidWeight {
            index,
            value: *value,
        }),
        None => Ok(()),
    }
}

/// `process_weights`: keeps the non-zero weights, drops those below the exclusion quantile
/// (never leaving fewer than `min_allowed_weights`), and caps them with
/// [`normalize_max_weight`]. With no non-zero weight, or fewer neurons than
/// `min_allowed_weights`, every neuron gets `1 / num_neurons`. With fewer non-zero weights than
/// `min_allowed_weights`, every neuron starts at 1e-5 and the given weights are added by input
/// position (the SDK indexes by position, not by uid).
pub fn process_weights(
    uids: &[u16],
    weights: &[f64],
    limits: &WeightLimits,
) -> Result<ProcessedWeights, WeightError> {
    check_inputs(uids, weights)?;
    let num_neurons = limits.num_neurons;
    let non_zero: Vec<(usize, u16, f64)> = uids
        .iter()
        .zip(weights)
        .enumerate()
        .filter(|(_, (_, w))| **w > 0.0)
        .map(|(i, (u, w))| (i, *u, *w))
        .collect();
    let all_uids = || {
        (0..num_neurons)
            .map(|u| u16::try_from(u).unwrap_or(u16::MAX))
            .collect()
    };
    if non_zero.is_empty() || num_neurons < limits.min_allowed_weights {
        let uniform = if num_neurons == 0 {
            0.0
        } else {
            1.0 / num_neurons as f64
        };
        return Ok(ProcessedWeights {
            uids: all_uids(),
            weights: vec![uniform; num_neurons],
        });
    }
    if non_zero.len() < limits.min_allowed_weights {
        if weights.len() > num_neurons {
            return Err(WeightError::TooManyWeights {
                len: weights.len(),
                num_neurons,
            });
        }
        let mut padded = vec![1e-5; num_neurons];
        for &(i, _, w) in &non_zero {
            if let Some(cell) = padded.get_mut(i) {
                *cell += w;
            }
        }
        return Ok(ProcessedWeights {
            uids: all_uids(),
            weights: normalize_max_weight(&padded, limits.max_weight_limit),
        });
    }
    let values: Vec<f64> = non_zero.iter().map(|(_, _, w)| *w).collect();
    let max_exclude =
        non_zero.len().saturating_sub(limits.min_allowed_weights) as f64 / non_zero.len() as f64;
    let quantile = (f64::from(limits.exclude_quantile) / 65_535.0).min(max_exclude);
    let lowest = numpy_quantile(&values, quantile);
    let kept: Vec<(u16, f64)> = non_zero
        .iter()
        .filter(|(_, _, w)| lowest <= *w)
        .map(|(_, u, w)| (*u, *w))
        .collect();
    let kept_weights: Vec<f64> = kept.iter().map(|(_, w)| *w).collect();
    Ok(ProcessedWeights {
        uids: kept.iter().map(|(u, _)| *u).collect(),
        weights: normalize_max_weight(&kept_weights, limits.max_weight_limit),
    })
}

/// `numpy.quantile` with its default linear interpolation; `values` must be non-empty.
fn numpy_quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = sorted.len().saturating_sub(1);
    let h = last as f64 * q;
    let lo = (h.floor() as usize).min(last);
    let hi = (lo + 1).min(last);
    let (a, b) = (
        sorted.get(lo).copied().unwrap_or(0.0),
        sorted.get(hi).copied().unwrap_or(0.0),
    );
    a + (h - lo as f64) * (b - a)
}

/// `normalize_max_weight`: normalises `x` to sum 1 with no entry above `limit`, by the SDK's
/// closed-form cutoff on the sorted values (with its `epsilon = 1e-7`). If `x` sums to 0 or
/// `len · limit <= 1` (the limit is unattainable), every entry becomes `1 / len`.
pub fn normalize_max_weight(x: &[f64], limit: f64) -> Vec<f64> {
    const EPSILON: f64 = 1e-7;
    let len = x.len();
    if len == 0 {
        return Vec::new();
    }
    let total: f64 = x.iter().sum();
    if total == 0.0 || len as f64 * limit <= 1.0 {
        return vec![1.0 / len as f64; len];
    }
    let mut values = x.to_vec();
    values.sort_by(f64::total_cmp);
    let estimation: Vec<f64> = values.iter().map(|v| v / total).collect();
    if estimation.iter().copied().fold(f64::MIN, f64::max) <= limit {
        return x.iter().map(|w| w / total).collect();
    }
    let mut cumsum = Vec::with_capacity(len);
    let mut running = 0.0;
    for e in &estimation {
        running += e;
        cumsum.push(running);
    }
    let n_values = estimation
        .iter()
        .zip(&cumsum)
        .enumerate()
        .filter(|(i, (e, c))| {
            let estimation_sum = (len - i - 1) as f64 * **e;
            **e / (estimation_sum + **c + EPSILON) < limit
        })
        .count();
    // numpy's cumsum[n_values - 1]; n_values ≥ 1 here because the smallest entry is at most
    // 1/len < limit, but index −1 would read the last entry in numpy, so mirror that.
    let cum = if n_values == 0 {
        cumsum.last().copied().unwrap_or(0.0)
    } else {
        cumsum.get(n_values - 1).copied().unwrap_or(0.0)
    };
    let cutoff_scale = (limit * cum - EPSILON) / (1.0 - limit * (len - n_values) as f64);
    let cutoff = cutoff_scale * total;
    let capped: Vec<f64> = x
        .iter()
        .map(|w| if *w > cutoff { cutoff } else { *w })
        .collect();
    let capped_sum: f64 = capped.iter().sum();
    capped.iter().map(|w| w / capped_sum).collect()
}

/// `convert_weights_and_uids_for_emit`: max-upscales the weights so the largest is 65535,
/// rounds half to even (Python's `round`), and drops entries that round to 0. All-zero weights
/// give empty vectors (nothing to set).
pub fn convert_weights_and_uids_for_emit(
    uids: &[u16],
    weights: &[f64],
) -> Result<(Vec<u16>, Vec<u16>), WeightError> {
    check_inputs(uids, weights)?;
    let total: f64 = weights.iter().sum();
    if total == 0.0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let max = weights.iter().copied().fold(0.0, f64::max);
    let mut out_uids = Vec::new();
    let mut out_vals = Vec::new();
    for (uid, w) in uids.iter().zip(weights) {
        let scaled = (w / max * f64::from(u16::MAX)).round_ties_even();
        // scaled is in [0, 65535] because w <= max.
        let value = scaled as u16;
        if value != 0 {
            out_uids.push(*uid);
            out_vals.push(value);
        }
    }
    Ok((out_uids, out_vals))
}

/// How a `major.minor.patch` version becomes a `u64` `version_key`: each part times its
/// multiplier, summed. Subnets choose their own; the chain only compares the number with
/// `WeightsVersionKey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionKeyScheme {
    /// Multiplier of the major version.
    pub major: u64,
    /// Multiplier of the minor version.
    pub minor: u64,
    /// Multiplier of the patch version.
    pub patch: u64,
}

impl VersionKeyScheme {
    /// `major·10000 + minor·100 + patch`: two decimal digits each for minor and patch.
    pub const HUNDREDS: Self = Self {
        major: 10_000,
        minor: 100,
        patch: 1,
    };

    /// `major·100 + minor·10 + patch`: the Python SDK's own `__version_as_int__`.
    pub const BITTENSOR_SDK: Self = Self {
        major: 100,
        minor: 10,
        patch: 1,
    };

    /// The version key of `major.minor.patch`, checked for overflow.
    pub fn key(&self, major: u64, minor: u64, patch: u64) -> Result<u64, WeightError> {
        major
            .checked_mul(self.major)
            .and_then(|a| minor.checked_mul(self.minor).and_then(|b| a.checked_add(b)))
            .and_then(|ab| {
                patch
                    .checked_mul(self.patch)
                    .and_then(|c| ab.checked_add(c))
            })
            .ok_or(WeightError::VersionOverflow)
    }

    /// The version key of a `"major.minor.patch"` string (a leading `v` is allowed).
    pub fn key_from_str(&self, version: &str) -> Result<u64, WeightError> {
        let bad = || WeightError::BadVersion(version.to_owned());
        let trimmed = version.strip_prefix('v').unwrap_or(version);
        let mut parts = trimmed
            .split('.')
            .map(|p| p.parse::<u64>().map_err(|_| bad()));
        let (Some(major), Some(minor), Some(patch), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        self.key(major?, minor?, patch?)
    }
}

impl Default for VersionKeyScheme {
    fn default() -> Self {
        Self::HUNDREDS
    }
}
