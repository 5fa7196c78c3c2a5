//! A device's measured throughput (a `miner-host bench` report) set against its class: what
//! `verifier calibrate` prints and `scripts/gpu-selftest` records (issue #4).
//!
//! [`compare_bench`] is pure: from a [`BenchReport`] and a GPU class it derives
//!
//! - **int8 GEMM** as a fraction of the datasheet dense peak (issue #4's goal: ≥ 0.70);
//! - **`membw` passes** as a fraction of the same device's measured device-to-device copy
//!   (goal: ≥ 0.80), and of the datasheet bandwidth (the `dram` efficiency);
//! - **BLAKE3 tree** against its compute ceiling, the class's `int32` issue rate over
//!   [`BLAKE3_INSTR_PER_BYTE`](super::BLAKE3_INSTR_PER_BYTE) (or the table's measured override):
//!   hashing is compute-bound, so this is the figure to compare with;
//! - **PRF fill** against the Philox ceiling (`int32` rate over
//!   [`PHILOX_INSTR_PER_BLOCK`](super::PHILOX_INSTR_PER_BLOCK)): the `int` efficiency;
//! - **`R`** measured on the device against the table's `membw_rounds`: the table is safe for
//!   that device when its `R` is at least the measured one.
//!
//! It then proposes the table lines the measurement supports (`membw_rounds`, the nominal
//! efficiencies); a person edits `classes.toml`, nothing is rewritten automatically.

use challenge_runtime::bench::BenchReport;
use serde::Serialize;

use super::{ClassError, GpuClass};

/// Issue #4's goal for int8 GEMM: this fraction of the datasheet dense peak.
pub const GEMM_GOAL: f64 = 0.70;
/// Issue #4's goal for `membw` passes: this fraction of the measured device-to-device copy.
pub const MEMBW_GOAL: f64 = 0.80;

/// One measured rate beside the figure it is judged against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Against {
    /// The measured rate, in `unit`.
    pub measured: f64,
    /// The reference rate, in `unit`.
    pub reference: f64,
    /// `measured / reference`.
    pub fraction: f64,
    /// Unit of both rates.
    pub unit: &'static str,
    /// What the reference is.
    pub reference_is: &'static str,
    /// The goal for `fraction`, where issue #4 sets one.
    pub goal: Option<f64>,
    /// `fraction ≥ goal` (true where there is no goal).
    pub meets_goal: bool,
}

impl Against {
    fn new(
        measured: f64,
        reference: f64,
        unit: &'static str,
        reference_is: &'static str,
        goal: Option<f64>,
    ) -> Self {
        let fraction = if reference > 0.0 {
            measured / reference
        } else {
            0.0
        };
        Self {
            measured,
            reference,
            fraction,
            unit,
            reference_is,
            goal,
            meets_goal: goal.is_none_or(|g| fraction >= g),
        }
    }
}

/// The measured `membw` fill round count beside the table's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundsCheck {
    /// `R` measured on the device.
    pub measured: u32,
    /// `membw_rounds` of the class table.
    pub table: u32,
    /// The table's `R` is at least the measured one.
    pub table_is_enough: bool,
}

/// A bench report set against a class: four rates against their references, and `R`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchComparison {
    /// The device as the report names it.
    pub device_name: String,
    /// The backend that was measured.
    pub backend: String,
    /// The class compared with.
    pub class: String,
    /// int8 GEMM, TOPS, against the datasheet dense peak.
    pub gemm: Against,
    /// `membw` pass, GB/s, against the measured device copy.
    pub membw_vs_copy: Against,
    /// `membw` pass, GB/s, against the datasheet bandwidth.
    pub membw_vs_datasheet: Against,
    /// BLAKE3 tree, GB/s, against its compute ceiling.
    pub blake3: Against,
    /// PRF fill, G Philox blocks/s, against its compute ceiling.
    pub philox: Against,
    /// `R`.
    pub membw_rounds: RoundsCheck,
    /// Every goal of issue #4 met and the table's `R` enough.
    pub all_met: bool,
    /// `classes.toml` lines the measurement supports (comments say where they came from).
    pub suggested_toml: Vec<String>,
}

/// Sets `report` against `class`: int8 GEMM against the dense peak, `membw` passes against the
/// measured device copy and the datasheet bandwidth, BLAKE3 and Philox against their compute
/// ceilings, the measured `R` against the table's. Fails for a `cpu` class (no datasheet).
pub fn compare_bench(
    report: &BenchReport,
    class: &GpuClass,
) -> Result<BenchComparison, ClassError> {
    let peaks = class.gpu_peaks().ok_or_else(|| ClassError::NoDatasheet {
        class: class.id().to_string(),
    })?;
    let gemm = Against::new(
        report.gemm.tops,
        peaks.int8_ops_per_s / 1e12,
        "TOPS",
        "datasheet dense int8 peak",
        Some(GEMM_GOAL),
    );
    let membw_vs_copy = Against::new(
        report.membw_pass.gbps,
        report.copy.gbps,
        "GB/s",
        "measured device-to-device copy",
        Some(MEMBW_GOAL),
    );
    let membw_vs_datasheet = Against::new(
        report.membw_pass.gbps,
        peaks.dram_bytes_per_s / 1e9,
        "GB/s",
        "datasheet memory bandwidth",
        None,
    );
    let blake3 = Against::new(
        report.hash.gbps,
        peaks.blake3_bytes_per_s / 1e9,
        "GB/s",
        "compute ceiling (int32 issue rate / instructions per byte)",
        None,
    );
    let philox = Against::new(
        report.prf_fill.philox_blocks_per_s / 1e9,
        peaks.philox_blocks_per_s / 1e9,
        "G blocks/s",
        "compute ceiling (int32 issue rate / instructions per block)",
        None,
    );
    let membw_rounds = RoundsCheck {
        measured: report.membw_rounds.rounds,
        table: class.membw_rounds(),
        table_is_enough: class.membw_rounds() >= report.membw_rounds.rounds,
    };
    let all_met = gemm.meets_goal && membw_vs_copy.meets_goal && membw_rounds.table_is_enough;
    let source = format!("{} bench of {}", report.backend, report.device_name);
    let suggested_toml = vec![
        format!(
            "membw_rounds = {} # measured: {source}, regeneration ≥ 10× a read at {:.3e} s per Philox call",
            membw_rounds.measured, report.membw_rounds.philox_call_s
        ),
        format!(
            "# efficiency nominals measured ({source}): tensor {:.2}, dram {:.2}, int {:.2}",
            gemm.fraction, membw_vs_datasheet.fraction, philox.fraction
        ),
        format!(
            "# blake3 tree {:.1} GB/s measured: {:.2} of the ceiling the model assumes",
            blake3.measured, blake3.fraction
        ),
    ];
    Ok(BenchComparison {
        device_name: report.device_name.clone(),
        backend: report.backend.clone(),
        class: class.id().to_string(),
        gemm,
        membw_vs_copy,
        membw_vs_datasheet,
        blake3,
        philox,
        membw_rounds,
        all_met,
        suggested_toml,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::classes::ClassTable;
    use challenge_runtime::bench::{self, BenchPlan};
    use challenge_runtime::cpu::{CpuBackend, CpuConfig};

    /// A real bench of the CPU backend (the smoke plan), its figures then set by the test.
    fn report() -> BenchReport {
        let backend = CpuBackend::new(CpuConfig {
            devices: 1,
            threads_per_device: 1,
            memory_bytes: 64 << 20,
        })
        .unwrap();
        bench::run(&backend, 0, &BenchPlan::smoke(), &mut |_| {}).unwrap()
    }

    fn h100(report: &mut BenchReport) {
        report.device_name = "NVIDIA H100 80GB HBM3".into();
        report.gemm.tops = 1400.0; // 0.707 of 1979
        report.copy.gbps = 3000.0;
        report.membw_pass.gbps = 2500.0; // 0.833 of the copy, 0.746 of 3350
        report.hash.gbps = 1000.0;
        report.prf_fill.philox_blocks_per_s = 418.1e9; // ≈ 0.5 of 33.45e12 / 40
        report.membw_rounds.rounds = 30;
    }

    #[test]
    fn an_h100_report_is_set_against_the_h100_class() {
        let table = ClassTable::embedded().unwrap();
        let mut r = report();
        h100(&mut r);
        let class = table.classify(&r.device_name).unwrap();
        assert_eq!(class.id(), "h100-sxm");
        let c = compare_bench(&r, class).unwrap();
        assert!((c.gemm.fraction - 1400.0 / 1979.0).abs() < 1e-12);
        assert!(c.gemm.meets_goal && c.gemm.goal == Some(GEMM_GOAL));
        assert!((c.membw_vs_copy.fraction - 2500.0 / 3000.0).abs() < 1e-12);
        assert!(c.membw_vs_copy.meets_goal);
        assert!((c.membw_vs_datasheet.fraction - 2500.0 / 3350.0).abs() < 1e-12);
        assert!(c.membw_vs_datasheet.meets_goal && c.membw_vs_datasheet.goal.is_none());
        // BLAKE3 ceiling: 33.45e12 / 10.5 bytes/s.
        assert!((c.blake3.reference - 33.45e12 / 10.5 / 1e9).abs() < 1e-6);
        assert!((c.philox.fraction - 418.1e9 * 40.0 / 33.45e12).abs() < 1e-9);
        assert_eq!(
            c.membw_rounds,
            RoundsCheck {
                measured: 30,
                table: class.membw_rounds(),
                table_is_enough: true
            }
        );
        assert!(c.all_met);
        assert!(c.suggested_toml[0].starts_with("membw_rounds = 30 # measured"));
        assert!(c.suggested_toml[1].contains("tensor 0.71, dram 0.75, int 0.50"));
    }

    #[test]
    fn missed_goals_and_a_short_table_r_are_flagged() {
        let table = ClassTable::embedded().unwrap();
        let class = table.get("h100-sxm").unwrap();
        let above_table = class.membw_rounds() + 1;
        type Spoil = Box<dyn Fn(&mut BenchReport)>;
        let spoils: [Spoil; 3] = [
            Box::new(|r| r.gemm.tops = 1300.0),
            Box::new(|r| r.membw_pass.gbps = 2300.0),
            // A device that needs one round more than the table's R.
            Box::new(move |r| r.membw_rounds.rounds = above_table),
        ];
        for spoil in spoils {
            let mut r = report();
            h100(&mut r);
            spoil(&mut r);
            let c = compare_bench(&r, class).unwrap();
            assert!(!c.all_met);
            assert_eq!(
                [
                    c.gemm.meets_goal,
                    c.membw_vs_copy.meets_goal,
                    c.membw_rounds.table_is_enough
                ]
                .iter()
                .filter(|met| !**met)
                .count(),
                1
            );
        }
    }

    #[test]
    fn a_cpu_class_has_no_datasheet_to_compare_with() {
        let table = ClassTable::embedded().unwrap();
        let r = report();
        let class = table.classify(&r.device_name).unwrap();
        assert_eq!(class.id(), "cpu-reference");
        assert_eq!(
            compare_bench(&r, class).unwrap_err(),
            ClassError::NoDatasheet {
                class: "cpu-reference".into()
            }
        );
    }
}
