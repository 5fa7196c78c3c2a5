//! The cheat audit of a class table (`verifier classes audit`, issue #18 item 6): for every
//! real GPU class `D` running at its datasheet peak and every claimed class `C`, can one `D`
//! answer `N` claimed `C` devices and pass both modules, and what would it earn against `D`'s
//! honest score? Pure: no I/O, no clock.
//!
//! # What is audited
//!
//! Every ordered pair of **GPU** classes `(D, C)` (the `cpu` class is neither a cheater's card
//! nor a claim worth faking: it only runs on local networks, with a token weight) and every
//! claimed count `N` from 1 to [`MAX_CLAIMED`] (the inventory limit, `protocol`'s `MAX_GPUS`),
//! except `N = 1` with `C = D` (the honest answer). `C = D` with `N ≥ 2` (one card claimed as
//! several of its own class) is included: it is the plainest multi-claim cheat. Every
//! `(D, C, N)` is listed in [`Audit::cheats`], passing or not, in table order of `D`, then `C`,
//! then ascending `N`.
//!
//! # The cheater
//!
//! `D` is as fast as the time model lets any device be: its datasheet peaks times its
//! `peak_headroom`, every phase of a step overlapped with every other, only the memory traffic
//! no implementation can avoid — the bound `too-fast` is judged by
//! ([`envelope`]'s `peak_floor_s` of the work on `D`). Any cheat that fails here fails on real
//! hardware, which is slower. Each claimed device's challenge is sized for `C` exactly as the
//! planner sizes it ([`size_matmul`], [`size_membw`] at `C`'s target) and judged by `C`'s
//! envelope per interactive phase ([`step_envelopes`]). The cheater may always hold an answer
//! back, so the `too-fast` floors never stop it: a cheat passes a step when it can be done
//! within the step's `max_s`.
//!
//! - **`matmul-i8`** (one phase; every claimed device's `Go` is sent at once): `D` computes
//!   the `N` challenges one after the other, so the last commitment is ready at `N · t_D`
//!   (`t_D` = the challenge's peak time on `D`). It passes iff `N · t_D ≤ max_s`. Memory is
//!   not charged (a cheater may recompute opened subtrees rather than keep every product).
//! - **`membw` phase 0** (the fill, from `Go`): nothing is committed in it, so `D` may send
//!   each `PhaseDone 0` at any time within the window; the phase only limits what `D` can have
//!   resident at the barrier: `min(memory_D, N·V, V · max_s₀ / t_fill_D)` bytes, counted in
//!   bytes, not whole buffers (a cheater's own kernel keeps any subset of groups). The rest,
//!   `m = N·V − resident` bytes, is missing.
//! - **`membw` phase 1** (the passes; every claimed device starts at the barrier instant, so
//!   the `N` pass phases share `D` and its time for all of them is the total): per pass, every
//!   resident byte is read [`PASS_READS`] (2) times at `D`'s peak bandwidth — the pass work's
//!   `2·V`, as the brief of issue #18 and the expected time have it. (Walking the permutation's
//!   cycles from distinguished points would let consecutive outputs share a group and halve
//!   it; the `too-fast` floor allows for that, the audit does not credit it, since then no
//!   bandwidth window could separate any two classes within 4× of each other.) The pass
//!   outputs are hashed at
//!   `D`'s BLAKE3 peak, and every missing byte is produced **once per pass** — pass `p`'s
//!   permutation is keyed by pass `p−1`'s root, so the order the groups are needed in is
//!   unknown until then, and there is no room to keep what was produced. A missing byte is
//!   either regenerated (`(R+1)/16` Philox blocks at `D`'s Philox peak, on the same integer
//!   ALUs as the hashing) or fetched from host memory over PCIe at [`host_link_bytes_per_s`]
//!   of `D`; the copy engines run beside the ALUs, so the cheater splits the missing bytes
//!   between the two to finish both at once (more than "the cheaper of the two"). Phase 1 takes
//!   `max(DRAM time, max(hash + regeneration, fetch))`; it passes iff that is ≤ `max_s₁`.
//!
//! # Gain
//!
//! `gain = N · weight_C / weight_D` when both modules pass, else 0: what the cheat earns
//! against `D`'s honest score (one device of `D` passing both modules). The scorer's
//! performance factor (`clamp(√(min_s·max_s) / measured, 0.5, 1.5)` of the `matmul-i8` time,
//! [`crate::scoring::performance`]) is taken as equal on both sides: it rewards speed, which the
//! honest `D` at its peak has as much as the cheater, and a serial share only makes the
//! cheater's later devices slower. A `D` of weight 0 has no honest score: a passing cheat on it
//! has gain `f64::MAX` (when the claim carries any weight). [`Audit::worst_gain`] is the largest
//! gain of a passing cheat (0 when none passes); a table is sound when it is ≤ 1.
//!
//! # What it does not cover (docs/design.md §Residual risks)
//!
//! Several real cards pooling memory over NVLink (a `K`-card domain holds `K`·10 % spare: with
//! `K ≥ 9` a whole extra `V` fits), outsourcing, time-sharing across validators, and cards not
//! in the table. Classes built on the same die ([`same_silicon`]) differ only in clocks, SM
//! count, memory and power cap, which the windows may not separate before they are calibrated
//! on real cards; the audit marks them.

use serde::Serialize;

use super::ClassError;
use super::model::{envelope, step_envelopes};
use super::sizing::{size_matmul, size_membw};
use super::table::{ClassKind, ClassTable, GpuClass};
use crate::session::Envelope;

/// Reads of each resident byte per pass: the pass work's `2·V` (`x[b]` and `x[π(b)]` per
/// output), as the model's expected time and the shipped kernels have it. (Walking the
/// permutation's cycles would let consecutive outputs share a group and halve it; the
/// `too-fast` floor allows for that, the audit does not credit it: see the module docs.)
pub const PASS_READS: f64 = 2.0;

/// The most devices one miner may claim: the inventory limit (`protocol::limits::MAX_GPUS`,
/// 64); the audit tries every claimed count from 1 to this.
pub const MAX_CLAIMED: u32 = protocol::limits::MAX_GPUS as u32;

/// PCIe 5.0 ×16 host link, one direction: 32 GT/s × 16 lanes × 128/130 ÷ 8 = 63.0 GB/s
/// (PCI-SIG base specification 5.0), rounded up to 64 GB/s in the cheater's favour.
pub const PCIE5_X16_BYTES_PER_S: f64 = 64e9;

/// PCIe 4.0 ×16 host link, one direction: 16 GT/s × 16 lanes × 128/130 ÷ 8 = 31.5 GB/s
/// (PCI-SIG base specification 4.0), rounded up to 32 GB/s in the cheater's favour.
pub const PCIE4_X16_BYTES_PER_S: f64 = 32e9;

/// The host-to-device rate a card of class `id` can fetch at, bytes/s: its datasheet host
/// interface. Hopper boards (`h100-sxm`, `h100-pcie`, `h200`) have PCIe 5.0 ×16; Ampere and
/// Ada boards (`a100-*`, `l40s`, `rtx-*`, `l4`) PCIe 4.0 ×16 (NVIDIA datasheets). A class this
/// list does not know gets the faster PCIe 5.0 figure: the audit never understates a cheater.
/// (The table has no host-link field; the day it has one, this list goes.)
pub fn host_link_bytes_per_s(id: &str) -> f64 {
    let gen4 = id.starts_with("a100-") || id.starts_with("rtx-") || matches!(id, "l40s" | "l4");
    if gen4 {
        PCIE4_X16_BYTES_PER_S
    } else {
        PCIE5_X16_BYTES_PER_S
    }
}

/// Classes of the shipped table built on one die (NVIDIA architecture whitepapers): GH100
/// (H100 SXM5, H100 PCIe, H200), GA100 (A100 80GB, A100 40GB), AD102 (L40S, RTX 4090), GA102
/// (RTX 3090, RTX A6000). They differ in SM count, clocks, power cap and memory only.
pub const SAME_SILICON: &[&[&str]] = &[
    &["h100-sxm", "h100-pcie", "h200"],
    &["a100-80gb-sxm", "a100-40gb"],
    &["l40s", "rtx-4090"],
    &["rtx-3090", "rtx-a6000"],
];

/// True when classes `a` and `b` (ids, `a ≠ b`) are built on the same die ([`SAME_SILICON`]):
/// a pair the timing windows may not separate before calibration on real cards.
pub fn same_silicon(a: &str, b: &str) -> bool {
    a != b
        && SAME_SILICON
            .iter()
            .any(|group| group.contains(&a) && group.contains(&b))
}

/// One audited cheat: real class `D` answering `count` claimed devices of class `C`.
/// Serializes as `{"real", "claimed", "count", "passes", "gain"}` only; the figures behind the
/// verdict are in [`Cheat::detail`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cheat {
    /// The class of the card that really answers (`D`).
    pub real: String,
    /// The class it claims (`C`).
    pub claimed: String,
    /// How many devices of `C` it claims (`N`, 1 ..= [`MAX_CLAIMED`]).
    pub count: u32,
    /// True when every step of both modules fits its `max_s` in the model.
    pub passes: bool,
    /// `N · weight_C / weight_D` when it passes, else 0 (module docs, §Gain); finite, ≥ 0.
    pub gain: f64,
    /// Why it passes or fails.
    #[serde(skip)]
    pub detail: CheatDetail,
}

/// The figures behind one cheat's verdict, in seconds and bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheatDetail {
    /// `D` and `C` are built on the same die ([`same_silicon`]).
    pub same_silicon: bool,
    /// `matmul-i8`: `N · t_D` against `C`'s `max_s`.
    pub matmul: StepCheck,
    /// `membw` phase 1 (the passes): `D`'s time for all `N` against `C`'s phase-1 `max_s`.
    pub membw_pass: StepCheck,
    /// Bytes of the `N` buffers resident on `D` at the barrier.
    pub resident_bytes: f64,
    /// Bytes that must be regenerated or fetched in every pass (`N·V − resident`).
    pub missing_bytes: f64,
}

/// One step of one module: the time the cheater needs and the window's upper edge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepCheck {
    /// Seconds the cheat needs at `D`'s peak (finite, ≥ 0).
    pub needed_s: f64,
    /// The claimed class's `max_s` for this step.
    pub max_s: f64,
}

impl StepCheck {
    /// True when the cheat fits the window (`needed_s ≤ max_s`).
    pub fn passes(&self) -> bool {
        self.needed_s <= self.max_s
    }
}

/// The audit of one table: every cheat and the worst gain among those that pass.
/// Serializes as `{"cheats": [...], "worst_gain": f64}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Audit {
    /// Every `(D, C, N)` of the module docs' §What is audited, in table order of `D`, then `C`,
    /// then ascending `N`.
    pub cheats: Vec<Cheat>,
    /// The largest [`Cheat::gain`] among the passing cheats; 0.0 when none passes. A sound
    /// table has it ≤ 1.
    pub worst_gain: f64,
}

impl Audit {
    /// The passing cheats, highest gain first (ties: table order).
    pub fn passing(&self) -> Vec<&Cheat> {
        let mut v: Vec<&Cheat> = self.cheats.iter().filter(|c| c.passes).collect();
        v.sort_by(|a, b| b.gain.total_cmp(&a.gain));
        v
    }
}

/// What a claimed class's challenges look like, as the planner sizes them.
struct Claim<'a> {
    class: &'a GpuClass,
    matmul: challenges::work::Work,
    matmul_env: Envelope,
    membw: challenges::membw::MembwParams,
    fill: challenges::work::Work,
    pass: challenges::work::Work,
    fill_env: Envelope,
    pass_env: Envelope,
}

fn claim(class: &GpuClass) -> Result<Claim<'_>, ClassError> {
    let m = size_matmul(class, class.target_s())?;
    let matmul_env = envelope(class, &m.work)?;
    let b = size_membw(class, class.target_s())?;
    let envs = step_envelopes(class, &b.work)?;
    let (Some(fill_env), Some(pass_env)) = (envs.first(), envs.get(1)) else {
        return Err(ClassError::Unsizable {
            module: challenges::membw::NAME,
            class: class.id().to_string(),
            reason: "the audit models membw v2 (fill in phase 0, passes in phase 1): the work \
                     must span two interactive phases"
                .into(),
        });
    };
    Ok(Claim {
        class,
        matmul_env,
        matmul: m.work,
        membw: b.params,
        fill: b.work.step(0),
        pass: b.work.step(1),
        fill_env: *fill_env,
        pass_env: *pass_env,
    })
}

/// Per-claim figures on one real class that do not depend on `N`.
struct OnReal {
    matmul_s: f64,
    fill_s: f64,
}

fn phase1_seconds(real: &GpuClass, c: &Claim<'_>, n: u32, missing: f64) -> f64 {
    let Some(p) = real.gpu_peaks() else {
        return f64::INFINITY;
    };
    let hr = real.peak_headroom();
    let nf = f64::from(n);
    let v = c.membw.bytes as f64;
    let passes = f64::from(c.membw.passes);
    let hash_bytes: f64 = c
        .pass
        .phases
        .iter()
        .filter(|ph| ph.name == "hash")
        .map(|ph| ph.ops as f64)
        .sum();
    let hash_s = nf * hash_bytes / (p.blake3_bytes_per_s * hr);
    let dram_s = PASS_READS * passes * (nf * v - missing).max(0.0) / (p.dram_bytes_per_s * hr);
    // Seconds per missing byte: regenerated on the ALUs, or fetched over the host link.
    let a = (f64::from(c.membw.rounds) + 1.0) / (16.0 * p.philox_blocks_per_s * hr);
    let link = 1.0 / host_link_bytes_per_s(real.id());
    let total_missing = passes * missing;
    // Fetch x bytes, regenerate the rest: ALUs take hash + a·(M − x), the link c·x; both end
    // together at x = (hash + a·M) / (a + c), unless the link alone is enough for all of it.
    let fetched = ((hash_s + a * total_missing) / (a + link)).min(total_missing);
    let alu_link_s = (hash_s + a * (total_missing - fetched)).max(link * fetched);
    dram_s.max(alu_link_s)
}

fn cheat(real: &GpuClass, c: &Claim<'_>, on: &OnReal, n: u32) -> Cheat {
    let nf = f64::from(n);
    let matmul = StepCheck {
        needed_s: nf * on.matmul_s,
        max_s: c.matmul_env.max_s,
    };
    let v = c.membw.bytes as f64;
    let fillable = if on.fill_s > 0.0 {
        v * c.fill_env.max_s / on.fill_s
    } else {
        f64::INFINITY
    };
    let resident = (real.memory_bytes() as f64).min(nf * v).min(fillable);
    let missing = (nf * v - resident).max(0.0);
    let membw_pass = StepCheck {
        needed_s: phase1_seconds(real, c, n, missing),
        max_s: c.pass_env.max_s,
    };
    let passes = matmul.passes() && membw_pass.passes();
    let earned = nf * c.class.weight();
    let gain = if !passes || earned <= 0.0 {
        0.0
    } else if real.weight() > 0.0 {
        earned / real.weight()
    } else {
        f64::MAX
    };
    Cheat {
        real: real.id().to_string(),
        claimed: c.class.id().to_string(),
        count: n,
        passes,
        gain,
        detail: CheatDetail {
            same_silicon: same_silicon(real.id(), c.class.id()),
            matmul,
            membw_pass,
            resident_bytes: resident,
            missing_bytes: missing,
        },
    }
}

/// Audits `table` (module docs): every GPU class `D` at its peak answering `N` claimed devices
/// of every GPU class `C`, `N` = 1 ..= [`MAX_CLAIMED`] (`C = D` only for `N ≥ 2`).
///
/// Guarantees: one [`Cheat`] per audited `(D, C, N)`, in the documented order; every gain
/// finite and ≥ 0, 0 for a failing cheat; `worst_gain` the largest passing gain, 0.0 when none
/// passes. Deterministic. Fails when a GPU class cannot be sized (as [`size_matmul`] and
/// [`size_membw`] fail) or its `membw` work does not span two interactive phases.
pub fn audit(table: &ClassTable) -> Result<Audit, ClassError> {
    let gpus: Vec<&GpuClass> = table
        .classes()
        .iter()
        .filter(|c| c.kind() == ClassKind::Gpu)
        .collect();
    let claims = gpus
        .iter()
        .map(|c| claim(c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cheats = Vec::new();
    for real in &gpus {
        for c in &claims {
            let on = OnReal {
                matmul_s: envelope(real, &c.matmul)?.peak_floor_s,
                fill_s: envelope(real, &c.fill)?.peak_floor_s,
            };
            let first = if real.id() == c.class.id() { 2 } else { 1 };
            for n in first..=MAX_CLAIMED {
                cheats.push(cheat(real, c, &on, n));
            }
        }
    }
    let worst_gain = cheats
        .iter()
        .filter(|c| c.passes)
        .map(|c| c.gain)
        .fold(0.0f64, f64::max);
    Ok(Audit { cheats, worst_gain })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;

    #[test]
    fn host_links_and_same_silicon() {
        assert_eq!(host_link_bytes_per_s("h200"), PCIE5_X16_BYTES_PER_S);
        assert_eq!(host_link_bytes_per_s("rtx-4090"), PCIE4_X16_BYTES_PER_S);
        assert_eq!(host_link_bytes_per_s("l4"), PCIE4_X16_BYTES_PER_S);
        assert_eq!(host_link_bytes_per_s("b200"), PCIE5_X16_BYTES_PER_S);
        assert!(same_silicon("h100-sxm", "h200"));
        assert!(same_silicon("rtx-4090", "l40s"));
        assert!(!same_silicon("rtx-4090", "rtx-4090"));
        assert!(!same_silicon("l4", "l40s"));
    }

    #[test]
    fn every_triple_once_and_the_order_is_documented() {
        let table = ClassTable::embedded().unwrap();
        let a = audit(&table).unwrap();
        let g = table
            .classes()
            .iter()
            .filter(|c| c.kind() == ClassKind::Gpu)
            .count();
        let per_pair = MAX_CLAIMED as usize;
        assert_eq!(a.cheats.len(), g * g * per_pair - g);
        assert!(a.cheats.iter().all(|c| c.gain.is_finite() && c.gain >= 0.0));
        assert!(a.cheats.iter().all(|c| c.passes || c.gain == 0.0));
        assert!(a.cheats.windows(2).all(|w| w[0].real != w[1].real
            || w[0].claimed != w[1].claimed
            || w[0].count < w[1].count));
    }
}
