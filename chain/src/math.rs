//! Fixed-point vector and sparse-matrix helpers of the epoch, as subtensor's
//! `pallets/subtensor/src/epoch/math.rs` computes them.
//!
//! Every function reproduces the runtime's order of operations and rounding: products and
//! quotients truncate to the type's resolution (`substrate-fixed`), additions saturate, a
//! division by zero gives 0 ([`SafeDiv`]) and a float-to-integer conversion floors. Sparse
//! matrices are rows of `(column, value)` pairs in the order they were stored; a missing entry
//! counts as 0 and a column at or past the declared width is ignored, as on chain.
//!
//! Nothing here panics or indexes unchecked: out-of-range columns and short vectors are read
//! as 0, exactly where the runtime does the same.

use substrate_fixed::types::{I32F32, I64F64};

/// A sparse matrix row: `(column, value)` pairs, in storage order.
pub type SparseRow = Vec<(u16, I32F32)>;

/// A sparse matrix: one [`SparseRow`] per row (uid).
pub type SparseMatrix = Vec<SparseRow>;

/// Division that gives 0 instead of failing when the divisor is 0 or the quotient overflows,
/// as the runtime's `safe_math::SafeDiv` does (`checked_div(..).unwrap_or_default()`).
pub trait SafeDiv: Sized {
    /// `self / rhs`, or 0 when that is undefined or does not fit.
    fn safe_div(self, rhs: Self) -> Self;
}

impl SafeDiv for I32F32 {
    fn safe_div(self, rhs: Self) -> Self {
        self.checked_div(rhs).unwrap_or_default()
    }
}

impl SafeDiv for I64F64 {
    fn safe_div(self, rhs: Self) -> Self {
        self.checked_div(rhs).unwrap_or_default()
    }
}

/// I32F32 zero.
pub(crate) fn zero() -> I32F32 {
    I32F32::from_bits(0)
}

/// I32F32 one.
pub(crate) fn one() -> I32F32 {
    I32F32::saturating_from_num(1)
}

/// Saturating sum of a fixed-point slice. Equal to the runtime's `iter().sum()` wherever that
/// sum does not overflow (it never does for normalised vectors).
pub fn sum(x: &[I32F32]) -> I32F32 {
    x.iter().fold(zero(), |acc, v| acc.saturating_add(*v))
}

/// True when the slice sums to exactly 0 (`is_zero` on chain).
pub fn is_zero(x: &[I32F32]) -> bool {
    sum(x) == zero()
}

/// `u16` value as I32F32, unscaled (`u16_to_fixed`).
pub fn u16_to_fixed(x: u16) -> I32F32 {
    I32F32::saturating_from_num(x)
}

/// A raw `u16` value read as a fraction of `u16::MAX` (`u16_proportion_to_fixed`).
pub fn u16_proportion_to_fixed(x: u16) -> I32F32 {
    I32F32::saturating_from_num(x).safe_div(I32F32::saturating_from_num(u16::MAX))
}

/// An I32F32 that holds a raw `u16` value divided by `u16::MAX` (`fixed_to_fixed_u16_proportion`).
pub fn fixed_to_fixed_u16_proportion(x: I32F32) -> I32F32 {
    x.safe_div(I32F32::saturating_from_num(u16::MAX))
}

/// A proportion in [0, 1] stored as `u16`: `floor(x · 65535)`, saturating (`fixed_proportion_to_u16`).
pub fn fixed_proportion_to_u16(x: I32F32) -> u16 {
    x.saturating_mul(I32F32::saturating_from_num(u16::MAX))
        .saturating_to_num::<u16>()
}

/// I64F64 narrowed to I32F32: the extra fraction bits are dropped (floor), saturating.
pub fn fixed64_to_fixed32(x: I64F64) -> I32F32 {
    I32F32::saturating_from_num(x)
}

/// Integer part of a non-negative I64F64 (floor), saturating (`fixed64_to_u64`).
pub fn fixed64_to_u64(x: I64F64) -> u64 {
    x.saturating_to_num::<u64>()
}

/// Max-upscales a vector to `u16` so that its largest entry becomes `u16::MAX`, rounding half
/// away from zero, exactly as `vec_max_upscale_to_u16` (used for stored weights and pruning
/// scores). An all-zero vector stays all zero.
pub fn vec_max_upscale_to_u16(vec: &[I32F32]) -> Vec<u16> {
    let u16_max = I32F32::saturating_from_num(u16::MAX);
    let threshold = I32F32::saturating_from_num(32768);
    let Some(max_value) = vec.iter().max().copied() else {
        // Empty input: the runtime divides by the (zero) sum; nothing to return either way.
        return Vec::new();
    };
    if max_value == zero() {
        return vec
            .iter()
            .map(|e| e.saturating_mul(u16_max).saturating_to_num::<u16>())
            .collect();
    }
    if max_value > threshold {
        return vec
            .iter()
            .map(|e| {
                e.saturating_mul(u16_max.safe_div(max_value))
                    .round()
                    .saturating_to_num::<u16>()
            })
            .collect();
    }
    vec.iter()
        .map(|e| {
            e.saturating_mul(u16_max)
                .safe_div(max_value)
                .round()
                .saturating_to_num::<u16>()
        })
        .collect()
}

/// Max-upscales raw `u16` weights as `set_weights` stores them (`vec_u16_max_upscale_to_u16`).
pub fn vec_u16_max_upscale_to_u16(vec: &[u16]) -> Vec<u16> {
    let fixed: Vec<I32F32> = vec
        .iter()
        .map(|e| I32F32::saturating_from_num(*e))
        .collect();
    vec_max_upscale_to_u16(&fixed)
}

/// Whether `vec`, normalised to proportions, has no entry above `max_limit / u16::MAX`
/// (`check_vec_max_limited`, the runtime's `MaxWeightExceeded` test, applied to the
/// max-upscaled weights). An empty or all-zero vector passes.
pub fn check_vec_max_limited(vec: &[u16], max_limit: u16) -> bool {
    let limit =
        I32F32::saturating_from_num(max_limit).safe_div(I32F32::saturating_from_num(u16::MAX));
    let mut fixed: Vec<I32F32> = vec
        .iter()
        .map(|e| I32F32::saturating_from_num(*e))
        .collect();
    inplace_normalize(&mut fixed);
    fixed.iter().max().is_none_or(|v| *v <= limit)
}

/// Normalises in place so the entries sum to 1; a zero-sum vector is left as it is.
pub fn inplace_normalize(x: &mut [I32F32]) {
    let x_sum = sum(x);
    if x_sum == zero() {
        return;
    }
    x.iter_mut().for_each(|v| *v = v.safe_div(x_sum));
}

/// Divides every entry by `x_sum`, unless `x_sum` is 0 (`inplace_normalize_using_sum`).
pub fn inplace_normalize_using_sum(x: &mut [I32F32], x_sum: I32F32) {
    if x_sum == zero() {
        return;
    }
    x.iter_mut().for_each(|v| *v = v.safe_div(x_sum));
}

/// I64F64 version of [`inplace_normalize`], used for stake (`inplace_normalize_64`).
pub fn inplace_normalize_64(x: &mut [I64F64]) {
    let x_sum = x
        .iter()
        .fold(I64F64::from_bits(0), |acc, v| acc.saturating_add(*v));
    if x_sum == I64F64::from_bits(0) {
        return;
    }
    x.iter_mut().for_each(|v| *v = v.safe_div(x_sum));
}

/// Element-wise `x / y`, 0 where `y` is 0 or missing (`vecdiv`).
pub fn vecdiv(x: &[I32F32], y: &[I32F32]) -> Vec<I32F32> {
    x.iter()
        .enumerate()
        .map(|(i, xi)| xi.safe_div(y.get(i).copied().unwrap_or_default()))
        .collect()
}

/// Element-wise product over the shorter length; an overflowing product gives 0 (`vec_mul`).
pub fn vec_mul(a: &[I32F32], b: &[I32F32]) -> Vec<I32F32> {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.checked_mul(*y).unwrap_or_default())
        .collect()
}

/// Sets entries to 0 where `mask` is true; a missing mask entry masks (`inplace_mask_vector`).
pub fn inplace_mask_vector(mask: &[bool], vector: &mut [I32F32]) {
    if mask.is_empty() {
        return;
    }
    for (i, v) in vector.iter_mut().enumerate() {
        if mask.get(i).copied().unwrap_or(true) {
            *v = zero();
        }
    }
}

/// True for the `k` largest entries that are non-zero; ties keep the lower uid, because the
/// runtime sorts indices ascending by value with a stable sort and drops the first `n - k`
/// (`is_topk_nonzero`).
pub fn is_topk_nonzero(vector: &[I32F32], k: usize) -> Vec<bool> {
    let n = vector.len();
    let mut result: Vec<bool> = vector.iter().map(|v| *v != zero()).collect();
    if n < k {
        return result;
    }
    let mut idxs: Vec<usize> = (0..n).collect();
    idxs.sort_by_key(|&i| vector.get(i).copied().unwrap_or_default());
    for &i in idxs.iter().take(n.saturating_sub(k)) {
        if let Some(cell) = result.get_mut(i) {
            *cell = false;
        }
    }
    result
}

/// Normalises each sparse row to sum 1; rows that sum to 0 are left (`inplace_row_normalize_sparse`).
pub fn inplace_row_normalize_sparse(matrix: &mut [SparseRow]) {
    for row in matrix.iter_mut() {
        let row_sum = row
            .iter()
            .fold(zero(), |acc, (_, v)| acc.saturating_add(*v));
        if row_sum > zero() {
            row.iter_mut().for_each(|(_, v)| *v = v.safe_div(row_sum));
        }
    }
}

/// Sum of each sparse row (`row_sum_sparse`).
pub fn row_sum_sparse(matrix: &[SparseRow]) -> Vec<I32F32> {
    matrix
        .iter()
        .map(|row| {
            row.iter()
                .fold(zero(), |acc, (_, v)| acc.saturating_add(*v))
        })
        .collect()
}

/// Normalises each column of a sparse matrix to sum 1; zero-sum columns and columns at or past
/// `columns` are left as they are (`inplace_col_normalize_sparse`).
pub fn inplace_col_normalize_sparse(matrix: &mut [SparseRow], columns: u16) {
    let mut col_sum = vec![zero(); usize::from(columns)];
    for row in matrix.iter() {
        for &(j, v) in row {
            if let Some(s) = col_sum.get_mut(usize::from(j)) {
                *s = s.saturating_add(v);
            }
        }
    }
    for row in matrix.iter_mut() {
        for (j, v) in row.iter_mut() {
            let denom = col_sum.get(usize::from(*j)).copied().unwrap_or_default();
            if denom != zero() {
                *v = v.safe_div(denom);
            }
        }
    }
}

/// Divides each column of a sparse matrix by its largest entry, so the column max becomes 1
/// (`inplace_col_max_upscale_sparse`).
pub fn inplace_col_max_upscale_sparse(matrix: &mut [SparseRow], columns: u16) {
    let mut col_max = vec![zero(); usize::from(columns)];
    for row in matrix.iter() {
        for &(j, v) in row {
            if let Some(m) = col_max.get_mut(usize::from(j))
                && *m < v
            {
                *m = v;
            }
        }
    }
    for row in matrix.iter_mut() {
        for (j, v) in row.iter_mut() {
            let m = col_max.get(usize::from(*j)).copied().unwrap_or_default();
            if m != zero() {
                *v = v.safe_div(m);
            }
        }
    }
}

/// `r_j = Σ_i vector_i · matrix_ij` over `columns` columns (`matmul_sparse`).
pub fn matmul_sparse(matrix: &[SparseRow], vector: &[I32F32], columns: u16) -> Vec<I32F32> {
    let mut result = vec![zero(); usize::from(columns)];
    let mut vec_it = vector.iter();
    for row in matrix {
        let scale = vec_it.next().copied().unwrap_or_default();
        for &(j, v) in row {
            if let Some(r) = result.get_mut(usize::from(j)) {
                *r = r.saturating_add(scale.saturating_mul(v));
            }
        }
    }
    result
}

/// `r_i = Σ_j vector_j · matrix_ij`, one entry per row (`matmul_transpose_sparse`).
pub fn matmul_transpose_sparse(matrix: &[SparseRow], vector: &[I32F32]) -> Vec<I32F32> {
    matrix
        .iter()
        .map(|row| {
            row.iter().fold(zero(), |acc, &(j, v)| {
                let vj = vector.get(usize::from(j)).copied().unwrap_or_default();
                acc.saturating_add(vj.saturating_mul(v))
            })
        })
        .collect()
}

/// Scales row `i` by `vector_i`; rows past the vector's end are dropped (`row_hadamard_sparse`).
pub fn row_hadamard_sparse(matrix: &[SparseRow], vector: &[I32F32]) -> SparseMatrix {
    matrix
        .iter()
        .zip(vector)
        .map(|(row, &scale)| {
            row.iter()
                .map(|&(j, v)| (j, v.saturating_mul(scale)))
                .collect()
        })
        .collect()
}

/// Multiplies entry `(i, j)` by `vector_j`, dropping products that are 0 and columns past the
/// vector (`mat_vec_mul_sparse`).
pub fn mat_vec_mul_sparse(matrix: &[SparseRow], vector: &[I32F32]) -> SparseMatrix {
    matrix
        .iter()
        .map(|row| {
            row.iter()
                .filter_map(|&(j, v)| {
                    let vj = vector.get(usize::from(j))?;
                    let product = v.saturating_mul(*vj);
                    (product != zero()).then_some((j, product))
                })
                .collect()
        })
        .collect()
}

/// Element-wise `A + ratio · (B − A)` over `columns` columns, keeping positive results in
/// column order; `ratio` 0 returns `A` and 1 returns `B` unchanged, and mismatched row counts
/// return `B`, as `interpolate_sparse` does.
pub fn interpolate_sparse(
    mat1: &[SparseRow],
    mat2: &[SparseRow],
    columns: u16,
    ratio: I32F32,
) -> SparseMatrix {
    if ratio == zero() {
        return mat1.to_vec();
    }
    if ratio == one() {
        return mat2.to_vec();
    }
    if mat1.len() != mat2.len() {
        return mat2.to_vec();
    }
    let width = usize::from(columns);
    let densify = |row: &SparseRow| {
        let mut dense = vec![zero(); width];
        for &(j, v) in row {
            if let Some(cell) = dense.get_mut(usize::from(j)) {
                *cell = v;
            }
        }
        dense
    };
    mat1.iter()
        .zip(mat2)
        .map(|(r1, r2)| {
            let (d1, d2) = (densify(r1), densify(r2));
            d1.iter()
                .zip(&d2)
                .zip(0..columns)
                .filter_map(|((v1, v2), j)| {
                    let interp = v1.saturating_add(ratio.saturating_mul(v2.saturating_sub(*v1)));
                    (zero() < interp).then_some((j, interp))
                })
                .collect()
        })
        .collect()
}

/// `alpha · new + (1 − alpha) · old` for square sparse matrices, keeping positive entries in
/// column order (`mat_ema_sparse`). The width is the number of rows of `new`.
pub fn mat_ema_sparse(new: &[SparseRow], old: &[SparseRow], alpha: I32F32) -> SparseMatrix {
    let one_minus_alpha = one().saturating_sub(alpha);
    let n = new.len();
    let mut old_it = old.iter();
    new.iter()
        .map(|new_row| {
            let mut acc = vec![zero(); n];
            for &(j, v) in new_row {
                if let Some(cell) = acc.get_mut(usize::from(j)) {
                    *cell = cell.saturating_add(alpha.saturating_mul(v));
                }
            }
            if let Some(old_row) = old_it.next() {
                for &(j, v) in old_row {
                    if let Some(cell) = acc.get_mut(usize::from(j)) {
                        *cell = cell.saturating_add(one_minus_alpha.saturating_mul(v));
                    }
                }
            }
            positive_entries(&acc)
        })
        .collect()
}

/// The positive entries of a dense row as a sparse row, in column order.
fn positive_entries(dense: &[I32F32]) -> SparseRow {
    dense
        .iter()
        .zip(0..=u16::MAX)
        .filter(|(v, _)| **v > zero())
        .map(|(v, j)| (j, *v))
        .collect()
}

/// Stake-weighted median of `score` over the indices in `partition_idx`, by the runtime's
/// deterministic mid-pivot binary search (`weighted_median`). `minority` is `1 − majority`
/// measured on the same stake scale as `[partition_lo, partition_hi]`.
pub fn weighted_median(
    stake: &[I32F32],
    score: &[I32F32],
    partition_idx: &[usize],
    minority: I32F32,
    mut partition_lo: I32F32,
    mut partition_hi: I32F32,
) -> I32F32 {
    if stake.len() != score.len() {
        return zero();
    }
    let get = |v: &[I32F32], i: usize| v.get(i).copied().unwrap_or_default();
    let mut current: Vec<usize> = partition_idx.to_vec();
    let iteration_limit = partition_idx.len();
    let mut iterations: usize = 0;
    loop {
        let n = current.len();
        if n == 0 {
            return zero();
        }
        if n == 1 {
            return current.first().map_or_else(zero, |&i| get(score, i));
        }
        let pivot = get(score, current.get(n / 2).copied().unwrap_or(0));
        let (mut lo_stake, mut hi_stake) = (zero(), zero());
        let (mut lower, mut upper) = (Vec::new(), Vec::new());
        for &idx in &current {
            let s = get(score, idx);
            if s == pivot {
                continue;
            }
            if s < pivot {
                lo_stake = lo_stake.saturating_add(get(stake, idx));
                lower.push(idx);
            } else {
                hi_stake = hi_stake.saturating_add(get(stake, idx));
                upper.push(idx);
            }
        }
        if minority < partition_lo.saturating_add(lo_stake) && !lower.is_empty() {
            current = lower;
            partition_hi = partition_lo.saturating_add(lo_stake);
        } else if partition_hi.saturating_sub(hi_stake) <= minority && !upper.is_empty() {
            current = upper;
            partition_lo = partition_hi.saturating_sub(hi_stake);
        } else {
            return pivot;
        }
        iterations = iterations.saturating_add(1);
        if iterations > iteration_limit {
            return zero();
        }
    }
}

/// Per-column stake-weighted median of a sparse matrix over the rows with positive stake, with
/// that stake renormalised and `majority` (kappa) as the quantile (`weighted_median_col_sparse`).
pub fn weighted_median_col_sparse(
    stake: &[I32F32],
    score: &[SparseRow],
    columns: u16,
    majority: I32F32,
) -> Vec<I32F32> {
    let mut use_stake: Vec<I32F32> = stake.iter().copied().filter(|s| *s > zero()).collect();
    inplace_normalize(&mut use_stake);
    let stake_sum = sum(&use_stake);
    let minority = stake_sum.saturating_sub(majority);
    let stake_idx: Vec<usize> = (0..use_stake.len()).collect();
    let mut use_score: Vec<Vec<I32F32>> = (0..columns)
        .map(|_| vec![zero(); use_stake.len()])
        .collect();
    let mut k: usize = 0;
    for (s, row) in stake.iter().zip(score) {
        if *s > zero() {
            for &(c, v) in row {
                if let Some(cell) = use_score
                    .get_mut(usize::from(c))
                    .and_then(|col| col.get_mut(k))
                {
                    *cell = v;
                }
            }
            k = k.saturating_add(1);
        }
    }
    use_score
        .iter()
        .map(|col| weighted_median(&use_stake, col, &stake_idx, minority, zero(), stake_sum))
        .collect()
}

/// Clips each entry at its column's threshold; an entry above a threshold of 0 is dropped
/// (`col_clip_sparse`).
pub fn col_clip_sparse(matrix: &[SparseRow], col_threshold: &[I32F32]) -> SparseMatrix {
    matrix
        .iter()
        .map(|row| {
            row.iter()
                .filter_map(|&(j, v)| {
                    let th = col_threshold
                        .get(usize::from(j))
                        .copied()
                        .unwrap_or_default();
                    if th < v {
                        (th > zero()).then_some((j, th))
                    } else {
                        Some((j, v))
                    }
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> I32F32 {
        I32F32::from_num(x)
    }

    #[test]
    fn max_limited_compares_normalised_proportions() {
        // Empty and all-zero vectors pass, as on chain.
        assert!(check_vec_max_limited(&[], 0));
        assert!(check_vec_max_limited(&[0, 0], 0));
        // Two equal weights are one half each: passes a limit of one half, fails below it.
        assert!(check_vec_max_limited(&[65535, 65535], 32768));
        assert!(!check_vec_max_limited(&[65535, 65535], 32767));
        // One weight alone is the whole: only the limit u16::MAX (1.0) passes.
        assert!(check_vec_max_limited(&[7], u16::MAX));
        assert!(!check_vec_max_limited(&[7], u16::MAX - 1));
    }

    #[test]
    fn safe_div_by_zero_is_zero() {
        assert_eq!(f(1.0).safe_div(f(0.0)), f(0.0));
        assert_eq!(
            I64F64::from_num(3).safe_div(I64F64::from_num(0)),
            I64F64::from_num(0)
        );
    }

    #[test]
    fn proportion_to_u16_floors() {
        // 0.5 · 65535 = 32767.5 → 32767 (floor), and 1 → 65535.
        assert_eq!(fixed_proportion_to_u16(f(0.5)), 32767);
        assert_eq!(fixed_proportion_to_u16(f(1.0)), 65535);
        assert_eq!(fixed_proportion_to_u16(f(2.0)), 65535);
    }

    #[test]
    fn max_upscale_rounds_and_keeps_zero() {
        // 16383/65535 stays, and [1, 2] → [32768 (32767.5 rounded away from 0), 65535].
        assert_eq!(vec_u16_max_upscale_to_u16(&[1, 2]), vec![32768, 65535]);
        assert_eq!(vec_u16_max_upscale_to_u16(&[0, 0]), vec![0, 0]);
        assert_eq!(
            vec_u16_max_upscale_to_u16(&[16383, 65535]),
            vec![16383, 65535]
        );
    }

    #[test]
    fn topk_nonzero_is_stable() {
        let v = [f(0.2), f(0.0), f(0.2), f(0.6)];
        // k = 2 among equal 0.2s: the stable ascending sort drops uid 0 first.
        assert_eq!(is_topk_nonzero(&v, 2), vec![false, false, true, true]);
        // n < k: every non-zero entry is in.
        assert_eq!(is_topk_nonzero(&v, 8), vec![true, false, true, true]);
    }

    #[test]
    fn col_clip_drops_above_zero_threshold() {
        let m = vec![vec![(0, f(0.5)), (1, f(0.5))]];
        let clipped = col_clip_sparse(&m, &[f(0.25), f(0.0)]);
        assert_eq!(clipped, vec![vec![(0, f(0.25))]]);
    }
}
