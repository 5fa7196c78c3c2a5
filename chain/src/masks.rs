//! Masks the epoch applies to sparse weights and bonds before consensus: rows of validators
//! without a permit, self-weights (the diagonal, except the subnet owner's), weights set no
//! later than the target's registration, and bonds to targets registered within the last tempo.
//!
//! Each mask returns a new matrix with the masked cells removed, in the runtime's order
//! (`mask_rows_sparse`, `mask_diag_sparse[_except_index]`, `vec_mask_sparse_matrix`,
//! `scalar_vec_mask_sparse_matrix`).

use crate::math::{SparseMatrix, SparseRow};

/// Empties every row whose `mask` entry is true; a row without a mask entry is emptied too.
pub fn mask_rows_sparse(mask: &[bool], matrix: &[SparseRow]) -> SparseMatrix {
    matrix
        .iter()
        .enumerate()
        .map(|(i, row)| {
            if mask.get(i).copied().unwrap_or(true) {
                Vec::new()
            } else {
                row.clone()
            }
        })
        .collect()
}

/// Removes the diagonal (self-weights). With `except = Some(uid)`, that uid's own diagonal
/// entry is kept (the runtime keeps the subnet owner's self-weight).
pub fn mask_diag_sparse(matrix: &[SparseRow], except: Option<u16>) -> SparseMatrix {
    matrix
        .iter()
        .enumerate()
        .map(|(i, row)| {
            row.iter()
                .filter(|(j, _)| {
                    let j = usize::from(*j);
                    i != j || except.is_some_and(|e| usize::from(e) == i)
                })
                .copied()
                .collect()
        })
        .collect()
}

/// Removes cell `(i, j)` where `mask_fn(row_values[i], col_values[j])` is true; missing
/// values read as 0 (`vec_mask_sparse_matrix`). With `row_values` = last update and
/// `col_values` = registration block and `updated <= registered`, this drops weights a
/// validator set before (or in the block of) the target's registration.
pub fn vec_mask_sparse_matrix(
    matrix: &[SparseRow],
    row_values: &[u64],
    col_values: &[u64],
    mask_fn: impl Fn(u64, u64) -> bool,
) -> SparseMatrix {
    let mut row_it = row_values.iter();
    matrix
        .iter()
        .map(|row| {
            let rv = row_it.next().copied().unwrap_or(0);
            row.iter()
                .filter(|(j, _)| {
                    let cv = col_values.get(usize::from(*j)).copied().unwrap_or(0);
                    !mask_fn(rv, cv)
                })
                .copied()
                .collect()
        })
        .collect()
}

/// Removes cell `(i, j)` where `mask_fn(scalar, col_values[j])` is true; a missing value reads
/// as 0 (`scalar_vec_mask_sparse_matrix`). With `scalar` = current block − tempo and
/// `last_tempo <= registered`, this drops bonds to targets registered since the last tempo.
pub fn scalar_vec_mask_sparse_matrix(
    matrix: &[SparseRow],
    scalar: u64,
    col_values: &[u64],
    mask_fn: impl Fn(u64, u64) -> bool,
) -> SparseMatrix {
    matrix
        .iter()
        .map(|row| {
            row.iter()
                .filter(|(j, _)| {
                    let cv = col_values.get(usize::from(*j)).copied().unwrap_or(0);
                    !mask_fn(scalar, cv)
                })
                .copied()
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use substrate_fixed::types::I32F32;

    fn row(cols: &[u16]) -> SparseRow {
        cols.iter().map(|&j| (j, I32F32::from_num(1))).collect()
    }

    #[test]
    fn diagonal_is_masked_except_owner() {
        let m = vec![row(&[0, 1]), row(&[0, 1])];
        assert_eq!(mask_diag_sparse(&m, None), vec![row(&[1]), row(&[0])]);
        assert_eq!(mask_diag_sparse(&m, Some(1)), vec![row(&[1]), row(&[0, 1])]);
    }

    #[test]
    fn rows_without_mask_entry_are_emptied() {
        let m = vec![row(&[1]), row(&[0])];
        assert_eq!(mask_rows_sparse(&[false], &m), vec![row(&[1]), Vec::new()]);
    }

    #[test]
    fn outdated_weights_are_dropped() {
        // Row 0 last updated at block 5; column 1 registered at block 5: updated <= registered.
        let m = vec![row(&[1, 2])];
        let masked = vec_mask_sparse_matrix(&m, &[5], &[0, 5, 4], |u, r| u <= r);
        assert_eq!(masked, vec![row(&[2])]);
    }
}
