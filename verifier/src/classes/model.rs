//! The per-phase time model: expected time and the timing envelope of a challenge's work on a
//! class.

use challenges::work::{Phase, Work};

use super::ClassError;
use super::table::{ClassKind, CpuRates, Efficiency, GpuClass, GpuPeaks, Throughput, Window};
use crate::session::Envelope;

/// 32-bit instructions one Philox4x32-10 block needs at least on an NVIDIA GPU: per round two
/// `IMAD.WIDE.U32` (each multiply gives both halves) and two 3-input `LOP3` xors, ten rounds;
/// the round keys are launch constants. Used to turn the integer issue rate into a Philox peak;
/// a lower bound on instructions makes the peak an upper bound on speed, as `too-fast` needs.
pub const PHILOX_INSTR_PER_BLOCK: f64 = 40.0;

/// 32-bit instructions BLAKE3 needs at least per byte hashed on an NVIDIA GPU: a 64-byte block
/// is 7 rounds × 8 `G` calls × 12 instructions (four 3-input adds, four xors, four rotates:
/// `LOP3` cannot rotate and `SHF`/`PRMT` cannot xor) = 672, plus the output xors and message
/// loads (≈ 680 per 64 bytes = 10.6 per byte), plus one parent compression per 1 KiB chunk;
/// rounded down to 10.5 so the derived peak stays an upper bound.
pub const BLAKE3_INSTR_PER_BYTE: f64 = 10.5;

/// What limits a phase in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bound {
    /// Tensor int8 throughput.
    Tensor,
    /// 32-bit integer throughput (Philox, BLAKE3).
    Integer,
    /// Memory bandwidth.
    Memory,
    /// The phase costs nothing separately: it is fused into another one (the CPU backend
    /// writes GEMM results straight into tiles, so `relayout` is part of `gemm`).
    Fused,
    /// A calibrated single-thread CPU rate.
    Calibrated,
}

/// One phase's expected time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseTime {
    /// The phase name (`gemm`, `membw-fill`, …).
    pub name: &'static str,
    /// Expected seconds at the class's nominal efficiencies (≥ 0, finite).
    pub seconds: f64,
    /// What limits it.
    pub bound: Bound,
}

/// The expected time of a challenge on a class: the sum of its phases at nominal efficiency.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedTime {
    /// Total expected seconds (the sum of `phases`).
    pub seconds: f64,
    /// Per phase, in the work's order.
    pub phases: Vec<PhaseTime>,
}

/// The phases the model knows, by name and unit (`challenges::work`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PrfFill,
    Gemm,
    Relayout,
    Hash,
    MembwFill,
    MembwPass,
}

fn kind(phase: &Phase) -> Result<Kind, ClassError> {
    let k = match (phase.name, phase.unit) {
        ("prf-fill", "philox-block") => Kind::PrfFill,
        ("gemm", "int8-op") => Kind::Gemm,
        ("relayout", "byte") => Kind::Relayout,
        ("hash", "byte") => Kind::Hash,
        ("membw-fill", "philox-block") => Kind::MembwFill,
        ("membw-pass", "byte") => Kind::MembwPass,
        _ => {
            return Err(ClassError::UnknownPhase {
                name: phase.name.to_string(),
                unit: phase.unit.to_string(),
            });
        }
    };
    Ok(k)
}

/// Which edge of the efficiency windows.
#[derive(Debug, Clone, Copy)]
enum Edge {
    Low,
    Nominal,
    High,
}

fn at(w: &Window, edge: Edge) -> f64 {
    match edge {
        Edge::Low => w.low,
        Edge::Nominal => w.nominal,
        Edge::High => w.high,
    }
}

/// Seconds for `amount` at `rate × eff`; zero work costs zero.
fn secs(amount: f64, rate: f64, eff: f64) -> f64 {
    if amount <= 0.0 {
        0.0
    } else {
        amount / (rate * eff)
    }
}

fn gpu_phase(p: &GpuPeaks, e: &Efficiency, edge: Edge, k: Kind, ph: &Phase) -> (f64, Bound) {
    let ops = ph.ops as f64;
    let (et, ei, ed) = (at(&e.tensor, edge), at(&e.int, edge), at(&e.dram, edge));
    let (tensor, int) = match k {
        Kind::Gemm => (secs(ops, p.int8_ops_per_s, et), 0.0),
        Kind::PrfFill | Kind::MembwFill => (0.0, secs(ops, p.philox_blocks_per_s, ei)),
        Kind::Hash => (0.0, secs(ops, p.blake3_bytes_per_s, ei)),
        Kind::Relayout | Kind::MembwPass => (0.0, 0.0),
    };
    let mem = secs(ph.bytes as f64, p.dram_bytes_per_s, ed);
    if tensor >= int && tensor >= mem && tensor > 0.0 {
        (tensor, Bound::Tensor)
    } else if int >= mem && int > 0.0 {
        (int, Bound::Integer)
    } else {
        (mem, Bound::Memory)
    }
}

fn cpu_phase(r: &CpuRates, e: &Efficiency, edge: Edge, k: Kind, ph: &Phase) -> (f64, Bound) {
    let ops = ph.ops as f64;
    let t = match k {
        Kind::PrfFill => secs(ops, r.prf_fill_blocks_per_s, at(&e.int, edge)),
        Kind::Gemm => secs(ops, r.gemm_ops_per_s, at(&e.tensor, edge)),
        Kind::Hash => secs(ops, r.hash_bytes_per_s, at(&e.int, edge)),
        Kind::MembwFill => secs(ops, r.membw_fill_blocks_per_s, at(&e.int, edge)),
        Kind::MembwPass => secs(ph.bytes as f64, r.membw_pass_bytes_per_s, at(&e.dram, edge)),
        Kind::Relayout => return (0.0, Bound::Fused),
    };
    (t, Bound::Calibrated)
}

fn phases_at(class: &GpuClass, work: &Work, edge: Edge) -> Result<ExpectedTime, ClassError> {
    let e = class.efficiency();
    let mut phases = Vec::with_capacity(work.phases.len());
    for ph in &work.phases {
        let k = kind(ph)?;
        let (seconds, bound) = match class.throughput() {
            Throughput::Gpu(p) => gpu_phase(p, e, edge, k, ph),
            Throughput::Cpu(Some(r)) => cpu_phase(r, e, edge, k, ph),
            Throughput::Cpu(None) => {
                return Err(ClassError::Uncalibrated {
                    class: class.id().to_string(),
                });
            }
        };
        phases.push(PhaseTime {
            name: ph.name,
            seconds,
            bound,
        });
    }
    let seconds = phases.iter().map(|p| p.seconds).sum();
    Ok(ExpectedTime { seconds, phases })
}

/// The expected time of `work` on `class`: per phase, the time at the class's nominal
/// efficiencies, summed (module docs, §The time model). Fails for a phase the model does not
/// know (an unknown name, or a known name with another unit) and for an uncalibrated CPU class.
pub fn expected_time(class: &GpuClass, work: &Work) -> Result<ExpectedTime, ClassError> {
    phases_at(class, work, Edge::Nominal)
}

/// Seconds `work` takes on one thread at the calibrated CPU `rates` themselves (efficiency 1,
/// phases one after another): what a `cpu-reference` device needs at the measured speed.
pub(crate) fn cpu_seconds(rates: &CpuRates, work: &Work) -> Result<f64, ClassError> {
    let ones = Efficiency {
        tensor: ONE,
        int: ONE,
        dram: ONE,
    };
    work.phases.iter().try_fold(0.0, |sum, ph| {
        Ok(sum + cpu_phase(rates, &ones, Edge::Nominal, kind(ph)?, ph).0)
    })
}

/// The shortest time `work` can take on `class`'s datasheet peaks (the window plays no part),
/// divided by the class's `peak_headroom`.
///
/// On a GPU every phase is assumed to overlap perfectly with every other, so the bound is the
/// busiest resource: tensor ops ÷ int8 peak; Philox blocks ÷ Philox peak plus BLAKE3 bytes ÷
/// BLAKE3 peak (both on the integer ALUs); and the memory traffic no implementation can avoid ÷
/// bandwidth. That traffic is the `membw` buffer written once by the fill and read once per pass
/// (half of the pass's `2·V`: walking the permutation's single cycle, consecutive outputs share
/// a group); matmul inputs can be generated where they are used, and relayout and hashing can be
/// fused into the GEMM's epilogue, so they count for nothing. On the CPU class the phases run
/// one after another on one thread at the calibrated rates.
fn peak_floor_s(class: &GpuClass, work: &Work) -> Result<f64, ClassError> {
    let (mut tensor, mut int, mut dram, mut cpu) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for ph in &work.phases {
        let k = kind(ph)?;
        let ops = ph.ops as f64;
        let bytes = ph.bytes as f64;
        match class.throughput() {
            Throughput::Gpu(p) => match k {
                Kind::Gemm => tensor += ops / p.int8_ops_per_s,
                Kind::PrfFill => int += ops / p.philox_blocks_per_s,
                Kind::MembwFill => {
                    int += ops / p.philox_blocks_per_s;
                    dram += bytes / p.dram_bytes_per_s;
                }
                Kind::Hash => int += ops / p.blake3_bytes_per_s,
                Kind::MembwPass => dram += bytes / 2.0 / p.dram_bytes_per_s,
                Kind::Relayout => {}
            },
            Throughput::Cpu(Some(r)) => {
                let ones = Efficiency {
                    tensor: ONE,
                    int: ONE,
                    dram: ONE,
                };
                cpu += cpu_phase(r, &ones, Edge::Nominal, k, ph).0;
            }
            Throughput::Cpu(None) => {
                return Err(ClassError::Uncalibrated {
                    class: class.id().to_string(),
                });
            }
        }
    }
    let busiest = match class.kind() {
        ClassKind::Gpu => tensor.max(int).max(dram),
        ClassKind::Cpu => cpu,
    };
    Ok(busiest / class.peak_headroom())
}

const ONE: Window = Window {
    low: 1.0,
    nominal: 1.0,
    high: 1.0,
};

/// The timing envelope of `work` on `class`, in seconds of measured time.
///
/// - `peak_floor_s`: the work on the datasheet peaks with every phase overlapped, divided by the
///   class's `peak_headroom` (see the module docs): faster is `too-fast`. Never the window.
/// - `max_s`: the work at the windows' **low** efficiencies, phases summed: slower is
///   `too-slow`.
/// - `min_s`: the work at the windows' high efficiencies (informational).
///
/// Guarantees `0 ≤ peak_floor_s ≤ min_s ≤ max_s`, all finite, so
/// [`Envelope::validate`] accepts it. Fails like [`expected_time`].
pub fn envelope(class: &GpuClass, work: &Work) -> Result<Envelope, ClassError> {
    let max_s = phases_at(class, work, Edge::Low)?.seconds;
    let min_s = phases_at(class, work, Edge::High)?.seconds.min(max_s);
    // high ≤ 1 ≤ headroom makes the floor ≤ min_s already; the `min` only absorbs rounding.
    let peak_floor_s = peak_floor_s(class, work)?.min(min_s).max(0.0);
    Ok(Envelope {
        min_s,
        max_s,
        peak_floor_s,
    })
}

/// The envelope of each interactive phase of `work` on `class` (docs/design.md §Interactive phases:
/// every phase is timed on its own, against its own part of the work), in phase order: one
/// entry for a one-phase module, equal to [`envelope`] of the whole work. Fails like
/// [`envelope`].
pub fn step_envelopes(class: &GpuClass, work: &Work) -> Result<Vec<Envelope>, ClassError> {
    (0..work.steps())
        .map(|k| envelope(class, &work.step(k)))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use challenges::matmul::{self, MatmulParams};
    use challenges::membw::{self, MembwParams};

    use super::*;
    use crate::classes::ClassTable;

    #[test]
    fn gemm_bound_matmul_on_h100_matches_hand_arithmetic() {
        let table = ClassTable::embedded().unwrap();
        let h100 = table.get("h100-sxm").unwrap();
        let p = MatmulParams {
            m: 8192,
            n: 8192,
            k: 65536,
            count: 10,
        };
        let w = matmul::work(&p);
        let t = expected_time(h100, &w).unwrap();
        let gemm = t.phases.iter().find(|p| p.name == "gemm").unwrap();
        assert_eq!(gemm.bound, Bound::Tensor);
        let peaks = h100.gpu_peaks().unwrap();
        let want = 2.0 * 8192f64 * 8192.0 * 65536.0 * 10.0
            / (peaks.int8_ops_per_s * h100.efficiency().tensor.nominal);
        assert!((gemm.seconds - want).abs() / want < 1e-9);
        assert!(t.seconds > gemm.seconds);
    }

    #[test]
    fn floor_counts_half_the_pass_traffic() {
        let table = ClassTable::embedded().unwrap();
        let h100 = table.get("h100-sxm").unwrap();
        let p = MembwParams {
            bytes: 1 << 30,
            group: 1024,
            rounds: 0,
            passes: 64,
        };
        let w = membw::work(&p);
        let env = envelope(h100, &w).unwrap();
        let peaks = h100.gpu_peaks().unwrap();
        // 64 passes dominate: (V + V·P) bytes at peak bandwidth, over the headroom.
        let want = (f64::from(1u32 << 30) * 65.0) / peaks.dram_bytes_per_s / h100.peak_headroom();
        assert!((env.peak_floor_s - want).abs() / want < 1e-9, "{env:?}");
    }

    #[test]
    fn unknown_phase_is_an_error() {
        let table = ClassTable::embedded().unwrap();
        let l4 = table.get("l4").unwrap();
        let w = Work {
            ops: 1,
            bytes: 1,
            phases: vec![Phase {
                name: "gemm",
                unit: "byte",
                ops: 1,
                bytes: 1,
                step: 0,
            }],
        };
        assert!(matches!(
            expected_time(l4, &w),
            Err(ClassError::UnknownPhase { .. })
        ));
    }
}
