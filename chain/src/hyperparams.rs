//! Subnet hyperparameters the epoch reads, in the units the runtime stores them, with the
//! runtime's defaults for a new subnet, and their fixed-point readings (`get_float_kappa`,
//! `get_float_bonds_penalty`, the bonds EMA rate, `get_alpha_values_32`, the sigmoid steepness).

use substrate_fixed::types::{I32F32, I64F64};

use crate::math::{SafeDiv, one};

/// Consensus hyperparameters of one subnet, as stored on chain.
///
/// [`Hyperparameters::default`] gives the runtime's defaults for a new subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hyperparameters {
    /// Consensus majority as a `u16` fraction of `u16::MAX` (runtime default 32767 ≈ 0.5).
    pub kappa: u16,
    /// How much of the weights above consensus is taken out of bonds, `u16` fraction
    /// (default 65535 = all of it: bonds are built from clipped weights).
    pub bonds_penalty: u16,
    /// Bonds EMA memory in millionths: the EMA rate is `1 − bonds_moving_average / 10⁶`
    /// (default 900 000, rate 0.1).
    pub bonds_moving_average: u64,
    /// Liquid alpha lower bound, `u16` fraction (default 45875 ≈ 0.7).
    pub alpha_low: u16,
    /// Liquid alpha upper bound, `u16` fraction (default 58982 ≈ 0.9).
    pub alpha_high: u16,
    /// Liquid alpha sigmoid steepness (default 1000).
    pub alpha_sigmoid_steepness: i16,
    /// Blocks without a weight update after which a validator's stake is inactive (default 5000).
    pub activity_cutoff: u16,
    /// How many top-stake neurons hold a validator permit (default 64 for a new subnet).
    pub max_allowed_validators: u16,
    /// Minimum stake to count at all; smaller stakes are set to 0 (runtime default 0).
    pub stake_threshold: u64,
    /// Liquid alpha (per-bond EMA rate from a sigmoid) in Yuma3 (default off).
    pub liquid_alpha_enabled: bool,
    /// Yuma3 bonds (default off: classic EMA bonds).
    pub yuma3_enabled: bool,
}

impl Default for Hyperparameters {
    fn default() -> Self {
        Self {
            kappa: 32_767,
            bonds_penalty: 65_535,
            bonds_moving_average: 900_000,
            alpha_low: 45_875,
            alpha_high: 58_982,
            alpha_sigmoid_steepness: 1_000,
            activity_cutoff: 5_000,
            max_allowed_validators: 64,
            stake_threshold: 0,
            liquid_alpha_enabled: false,
            yuma3_enabled: false,
        }
    }
}

impl Hyperparameters {
    /// Kappa as a fraction: `kappa / 65535` (`get_float_kappa`).
    pub fn float_kappa(&self) -> I32F32 {
        I32F32::saturating_from_num(self.kappa).safe_div(I32F32::saturating_from_num(u16::MAX))
    }

    /// Bonds penalty as a fraction: `bonds_penalty / 65535` (`get_float_bonds_penalty`).
    pub fn float_bonds_penalty(&self) -> I32F32 {
        I32F32::saturating_from_num(self.bonds_penalty)
            .safe_div(I32F32::saturating_from_num(u16::MAX))
    }

    /// The fixed bonds EMA rate `1 − bonds_moving_average / 10⁶`, computed in I64F64 and
    /// narrowed to I32F32 as `compute_ema_bonds_normal_sparse` does.
    pub fn bonds_ema_alpha(&self) -> I32F32 {
        let moving_average = I64F64::saturating_from_num(self.bonds_moving_average)
            .safe_div(I64F64::saturating_from_num(1_000_000));
        one().saturating_sub(I32F32::saturating_from_num(moving_average))
    }

    /// `(alpha_low, alpha_high)` as fractions of 65535 (`get_alpha_values_32`).
    pub fn float_alpha_values(&self) -> (I32F32, I32F32) {
        let max = I32F32::saturating_from_num(u16::MAX);
        (
            I32F32::saturating_from_num(self.alpha_low).safe_div(max),
            I32F32::saturating_from_num(self.alpha_high).safe_div(max),
        )
    }

    /// The sigmoid steepness as I32F32 (`get_alpha_sigmoid_steepness`).
    pub fn float_alpha_sigmoid_steepness(&self) -> I32F32 {
        I32F32::saturating_from_num(self.alpha_sigmoid_steepness)
    }
}

/// Converts a liquid-alpha fraction the way subtensor's `set_alpha_values_32` stores it:
/// the fraction as I32F32, times 65535, floored to `u16`. `None` for a value outside [0, 1]
/// or not a number.
pub fn alpha_fraction_to_u16(fraction: f64) -> Option<u16> {
    if !(0.0..=1.0).contains(&fraction) {
        return None;
    }
    let fixed = I32F32::checked_from_num(fraction)?;
    Some(
        fixed
            .saturating_mul(I32F32::saturating_from_num(u16::MAX))
            .saturating_to_num::<u16>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_read_as_the_runtime_does() {
        let h = Hyperparameters::default();
        // 900 000 / 10⁶ = 0.9 in I64F64, narrowed (floor) to I32F32, 1 − that.
        let alpha: f64 = h.bonds_ema_alpha().to_num();
        assert!((alpha - 0.1).abs() < 1e-9);
        let kappa: f64 = h.float_kappa().to_num();
        assert!((kappa - 32_767.0 / 65_535.0).abs() < 1e-9);
        assert_eq!(h.float_bonds_penalty(), I32F32::from_num(1));
    }

    #[test]
    fn alpha_fraction_conversion_floors() {
        // 0.1 · 65535 = 6553.5 → 6553; 0.3 · 65535 = 19660.5 → 19660.
        assert_eq!(alpha_fraction_to_u16(0.1), Some(6553));
        assert_eq!(alpha_fraction_to_u16(0.3), Some(19660));
        assert_eq!(alpha_fraction_to_u16(1.0), Some(65535));
        assert_eq!(alpha_fraction_to_u16(1.5), None);
        assert_eq!(alpha_fraction_to_u16(f64::NAN), None);
    }
}
