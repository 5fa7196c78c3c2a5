//! Consensus step of the epoch: pre-ranks, the stake-weighted median consensus with kappa,
//! clipping at consensus, validator trust, ranks, server trust and incentive, in the order
//! `run_epoch.rs` computes them.

use substrate_fixed::types::I32F32;

use crate::math::{
    SparseMatrix, col_clip_sparse, inplace_normalize, matmul_sparse, row_sum_sparse, vecdiv,
    weighted_median_col_sparse,
};

/// What consensus yields from masked, row-normalised weights and active stake.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsensusTerms {
    /// `Σ_i w_ij · s_i` before clipping.
    pub preranks: Vec<I32F32>,
    /// Per-column stake-weighted median of the weights at quantile kappa.
    pub consensus: Vec<I32F32>,
    /// Weights clipped at consensus (entries above a zero consensus dropped).
    pub clipped_weights: SparseMatrix,
    /// Row sums of the clipped weights.
    pub validator_trust: Vec<I32F32>,
    /// `Σ_i clipped_ij · s_i`, normalised to sum 1 (the runtime stores these as `Rank`).
    pub ranks: Vec<I32F32>,
    /// Ranks after clipping over ranks before (0 where the pre-rank is 0).
    pub trust: Vec<I32F32>,
    /// Incentive: equal to the normalised ranks.
    pub incentive: Vec<I32F32>,
}

/// Runs the consensus step over `n` columns. `weights` must already be masked and
/// row-normalised; `active_stake` normalised over permitted, active validators.
pub fn compute_consensus(
    weights: &[crate::math::SparseRow],
    active_stake: &[I32F32],
    n: u16,
    kappa: I32F32,
) -> ConsensusTerms {
    let preranks = matmul_sparse(weights, active_stake, n);
    let consensus = weighted_median_col_sparse(active_stake, weights, n, kappa);
    let clipped_weights = col_clip_sparse(weights, &consensus);
    let validator_trust = row_sum_sparse(&clipped_weights);
    let mut ranks = matmul_sparse(&clipped_weights, active_stake, n);
    let trust = vecdiv(&ranks, &preranks);
    inplace_normalize(&mut ranks);
    let incentive = ranks.clone();
    ConsensusTerms {
        preranks,
        consensus,
        clipped_weights,
        validator_trust,
        ranks,
        trust,
        incentive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> I32F32 {
        I32F32::from_num(x)
    }

    #[test]
    fn minority_weight_above_consensus_is_clipped() {
        // Two validators (stake 0.75 / 0.25) on one server (column 2): 0.75 says 0.2, 0.25 says
        // 1.0. With kappa 0.5 the median is 0.2, so the minority weight is clipped to 0.2 and
        // the minority validator's trust is 0.2.
        let weights = vec![vec![(2, f(0.2))], vec![(2, f(1.0))], vec![]];
        let stake = [f(0.75), f(0.25), f(0.0)];
        let terms = compute_consensus(&weights, &stake, 3, f(0.5));
        assert_eq!(terms.consensus, vec![f(0.0), f(0.0), f(0.2)]);
        assert_eq!(terms.validator_trust, vec![f(0.2), f(0.2), f(0.0)]);
        assert_eq!(terms.incentive, vec![f(0.0), f(0.0), f(1.0)]);
    }
}
