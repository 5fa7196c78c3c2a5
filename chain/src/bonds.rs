//! Bonds and dividends, both ways the runtime computes them.
//!
//! * Classic (Yuma3 off): stored bonds are column max-upscaled `u16`. They are read raw,
//!   column-normalised, blended with the column-normalised bond delta `ΔB = W ∘ S` at the rate
//!   `1 − bonds_moving_average / 10⁶`, column-normalised again; dividends are `B · I`,
//!   normalised; the new bonds are column max-upscaled before storage.
//! * Yuma3: stored bonds are fractions of `u16::MAX`, kept in [0, 1] and stored without
//!   upscaling. The EMA blends the bond weights themselves (not `W ∘ S`), at a fixed rate or, with
//!   liquid alpha, at a per-bond rate from a sigmoid of how far the weight is from consensus.
//!   With liquid alpha, a bond whose column the validator left out of its weights is dropped
//!   (not decayed): only columns present in the weight row survive. Dividends are
//!   `Σ_j B̂_ij · I_j` (B̂ column-normalised) times the validator's active stake, normalised.

use substrate_fixed::types::I32F32;

use crate::hyperparams::Hyperparameters;
use crate::math::{
    SparseMatrix, SparseRow, inplace_col_max_upscale_sparse, inplace_col_normalize_sparse,
    inplace_normalize, mat_ema_sparse, mat_vec_mul_sparse, matmul_transpose_sparse, one,
    row_hadamard_sparse, row_sum_sparse, vec_mul, zero,
};

/// New bonds (in the scale they are stored in, before the `u16` conversion) and dividends.
#[derive(Debug, Clone, PartialEq)]
pub struct BondsOutcome {
    /// Bonds to store: classic ones column max-upscaled, Yuma3 ones as fractions in [0, 1].
    pub ema_bonds: SparseMatrix,
    /// Dividends, normalised to sum 1 (or all 0).
    pub dividends: Vec<I32F32>,
}

/// Classic Yuma bonds. `bonds` are the stored `u16` values read raw (already masked for
/// recently registered targets); `weights_for_bonds` the weights after the bonds penalty.
pub fn classic_bonds(
    weights_for_bonds: &[SparseRow],
    bonds: &[SparseRow],
    active_stake: &[I32F32],
    incentive: &[I32F32],
    n: u16,
    hyper: &Hyperparameters,
) -> BondsOutcome {
    let mut bonds = bonds.to_vec();
    inplace_col_normalize_sparse(&mut bonds, n);
    let mut bonds_delta = row_hadamard_sparse(weights_for_bonds, active_stake);
    inplace_col_normalize_sparse(&mut bonds_delta, n);
    let mut ema_bonds = mat_ema_sparse(&bonds_delta, &bonds, hyper.bonds_ema_alpha());
    inplace_col_normalize_sparse(&mut ema_bonds, n);
    let mut dividends = matmul_transpose_sparse(&ema_bonds, incentive);
    inplace_normalize(&mut dividends);
    inplace_col_max_upscale_sparse(&mut ema_bonds, n);
    BondsOutcome {
        ema_bonds,
        dividends,
    }
}

/// Yuma3 bonds. `bonds` are the stored values as fractions of `u16::MAX` (already masked for
/// recently registered targets); `consensus` is this epoch's consensus.
pub fn yuma3_bonds(
    weights_for_bonds: &[SparseRow],
    bonds: &[SparseRow],
    consensus: &[I32F32],
    active_stake: &[I32F32],
    incentive: &[I32F32],
    n: u16,
    hyper: &Hyperparameters,
) -> BondsOutcome {
    let ema_bonds = compute_bonds_sparse(weights_for_bonds, bonds, consensus, hyper);
    let mut ema_bonds_norm = ema_bonds.clone();
    inplace_col_normalize_sparse(&mut ema_bonds_norm, n);
    let total_bonds_per_validator = row_sum_sparse(&mat_vec_mul_sparse(&ema_bonds_norm, incentive));
    let mut dividends = vec_mul(&total_bonds_per_validator, active_stake);
    inplace_normalize(&mut dividends);
    BondsOutcome {
        ema_bonds,
        dividends,
    }
}

/// The Yuma3 bond EMA: per-bond liquid alphas when liquid alpha is on and consensus has a
/// non-zero entry, else the fixed rate `1 − bonds_moving_average / 10⁶` (`compute_bonds_sparse`).
pub fn compute_bonds_sparse(
    weights: &[SparseRow],
    bonds: &[SparseRow],
    consensus: &[I32F32],
    hyper: &Hyperparameters,
) -> SparseMatrix {
    if hyper.liquid_alpha_enabled && consensus.iter().any(|c| *c != zero()) {
        let alphas = liquid_alpha_values_sparse(weights, bonds, consensus, hyper);
        mat_ema_alpha_sparse(weights, bonds, &alphas)
    } else {
        mat_ema_sparse(weights, bonds, hyper.bonds_ema_alpha())
    }
}

/// The liquid alpha of one bond: a sigmoid of the weight's distance above consensus (when the
/// weight is at least the bond) or of the bond's distance above the weight (otherwise),
/// scaled into `[alpha_low, alpha_high]` (`alpha_sigmoid`).
pub fn alpha_sigmoid(
    consensus: I32F32,
    weight: I32F32,
    bond: I32F32,
    alpha_low: I32F32,
    alpha_high: I32F32,
    steepness: I32F32,
) -> I32F32 {
    let clamp = |v: I32F32, lo: I32F32, hi: I32F32| v.min(hi).max(lo);
    let diff_buy = clamp(weight.saturating_sub(consensus), zero(), one());
    let diff_sell = clamp(bond.saturating_sub(weight), zero(), one());
    let combined_diff = if weight >= bond { diff_buy } else { diff_sell };
    let exponent = steepness
        .saturating_div(I32F32::saturating_from_num(-100))
        .saturating_mul(combined_diff.saturating_sub(I32F32::saturating_from_num(0.5)));
    let sigmoid = one().saturating_div(one().saturating_add(safe_exp(exponent)));
    let alpha =
        alpha_low.saturating_add(sigmoid.saturating_mul(alpha_high.saturating_sub(alpha_low)));
    clamp(alpha, alpha_low, alpha_high)
}

/// `e^x` in I32F32 by the runtime's series, or 0 where it fails (`safe_exp`).
pub fn safe_exp(x: I32F32) -> I32F32 {
    substrate_fixed::transcendental::exp::<I32F32, I32F32>(x).unwrap_or_default()
}

/// Dense matrix of liquid alphas, one per (validator, column), walking each sparse weight and
/// bond row in step with the columns as `compute_liquid_alpha_values_sparse` does (rows are
/// assumed sorted by column there too).
pub fn liquid_alpha_values_sparse(
    weights: &[SparseRow],
    bonds: &[SparseRow],
    consensus: &[I32F32],
    hyper: &Hyperparameters,
) -> Vec<Vec<I32F32>> {
    let steepness = hyper.float_alpha_sigmoid_steepness();
    let (alpha_low, alpha_high) = hyper.float_alpha_values();
    weights
        .iter()
        .zip(bonds)
        .map(|(w_row, b_row)| {
            let mut w_iter = w_row.iter().peekable();
            let mut b_iter = b_row.iter().peekable();
            consensus
                .iter()
                .zip(0..=u16::MAX)
                .map(|(c, j)| {
                    let weight = value_at(&mut w_iter, j);
                    let bond = value_at(&mut b_iter, j);
                    alpha_sigmoid(*c, weight, bond, alpha_low, alpha_high, steepness)
                })
                .collect()
        })
        .collect()
}

/// Advances a sorted sparse-row iterator past columns below `j` and returns the value at `j`,
/// or 0 when the next column is beyond `j`.
fn value_at<'a>(
    it: &mut std::iter::Peekable<impl Iterator<Item = &'a (u16, I32F32)>>,
    j: u16,
) -> I32F32 {
    while let Some(&&(col, val)) = it.peek() {
        if col < j {
            it.next();
        } else {
            return if col == j { val } else { zero() };
        }
    }
    zero()
}

/// EMA with a per-entry rate: `(1 − α_ij) · old_ij + α_ij · new_ij`, clamped to at most 1, for
/// the columns present in `new`'s row only; a bond whose column is absent from `new` is
/// dropped (`mat_ema_alpha_sparse`). Mismatched row counts return `new` unchanged.
pub fn mat_ema_alpha_sparse(
    new: &[SparseRow],
    old: &[SparseRow],
    alpha: &[Vec<I32F32>],
) -> SparseMatrix {
    if new.len() != old.len() || new.len() != alpha.len() {
        return new.to_vec();
    }
    new.iter()
        .zip(old)
        .zip(alpha)
        .map(|((new_row, old_row), alpha_row)| {
            let mut decayed = vec![zero(); alpha_row.len()];
            for &(j, old_val) in old_row {
                let j = usize::from(j);
                if let (Some(a), Some(cell)) = (alpha_row.get(j), decayed.get_mut(j)) {
                    *cell = one().saturating_sub(*a).saturating_mul(old_val);
                }
            }
            new_row
                .iter()
                .filter_map(|&(j, new_val)| {
                    let a = alpha_row.get(usize::from(j))?;
                    let d = decayed.get(usize::from(j))?;
                    let inc = a.saturating_mul(new_val).max(zero());
                    let val = d.saturating_add(inc).min(one());
                    (val > zero()).then_some((j, val))
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
    fn sigmoid_midpoint_is_halfway() {
        // combined_diff = 0.5 → exponent 0 → exp 1 → sigmoid 0.5 → alpha = low + (high−low)/2.
        let a = alpha_sigmoid(f(0.0), f(0.5), f(0.0), f(0.1), f(0.3), f(1000.0));
        let got: f64 = a.to_num();
        assert!((got - 0.2).abs() < 1e-9, "{got}");
    }

    #[test]
    fn sigmoid_is_clamped_to_bounds() {
        // Weight equal to consensus: diff 0 → exponent +5 → alpha near low (clamped to ≥ low).
        let a = alpha_sigmoid(f(0.4), f(0.4), f(0.0), f(0.1), f(0.3), f(1000.0));
        assert!(a >= f(0.1) && a < f(0.102));
    }

    #[test]
    fn omitted_column_drops_the_bond() {
        // Old bond on column 1, new weights only on column 2: the column-1 bond disappears.
        let new = vec![vec![(2, f(1.0))]];
        let old = vec![vec![(1, f(0.5))]];
        let alpha = vec![vec![f(0.1); 3]];
        let ema = mat_ema_alpha_sparse(&new, &old, &alpha);
        assert_eq!(ema, vec![vec![(2, f(0.1))]]);
    }
}
