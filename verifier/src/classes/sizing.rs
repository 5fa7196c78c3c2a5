//! Challenge sizing: valid params whose expected time on a class is a target duration and that
//! fit the memory the challenge may hold. Pure functions: no I/O, no clock.
//!
//! # Memory
//!
//! `challenge-runtime` charges a challenge for its live buffers **and** every output it has
//! committed, until the session ends (committed outputs serve openings; the CUDA backend keeps
//! a device copy of each). So `matmul-i8` holds `M·K + K·N + 4·M·N·(T+1)` bytes
//! ([`matmul_held_bytes`]) and `membw` holds `V + 8·G·(P+1)` ([`membw_held_bytes`]).
//!
//! # `matmul-i8` ([`size_matmul`])
//!
//! Square products `M = N = S`, `S` a power of two from 8192 down to 16; `K` a multiple of 16
//! from [`MATMUL_MIN_K`] (4096, the verifier-cost design point: 32 openings of a
//! `K = 4096` product cost ≤ 20 ms of verifier CPU, issue #5) up to the module's 65 536; at
//! least [`MATMUL_MIN_PRODUCTS`] products, at most the sandbox's default output cap (4096) and
//! the roots a commitment carries (`protocol::limits::MAX_ROOTS`, 1024).
//! The held memory stays within [`MATMUL_MEMORY_FRACTION`] of the class memory (room for the
//! CUDA context and cuBLASLt's workspace).
//!
//! For the largest `S` whose [`MATMUL_MIN_PRODUCTS`] products at `K = 4096` fit the target and
//! memory: take the most products `T` that fit memory and do not pass the target at
//! `K = 4096`, then raise `K` (in steps of 16) until the expected time is the target. Checking
//! one opened tile costs the verifier `16·16·K` multiply-adds, so `K` is kept as small as the
//! memory allows. Holding `4·S²` bytes per product caps the work at about
//! `(K/2) × held bytes`; where even `K = 65 536` with all the memory cannot reach the target, the
//! result is the largest such challenge, marked [`SizeLimit::Memory`] (expected time below the
//! target).
//!
//! # `membw` ([`size_membw`])
//!
//! `R` is the class's (`membw_rounds`). The buffer `V` is at least [`MEMBW_MIN_FRACTION`] (90 %)
//! of the class memory, so a device short of memory cannot hold it (DESIGN.md: `V` ≥ 90 % of the
//! claimed VRAM), and `V` plus the `P + 1` pass outputs stay within [`MEMBW_MEMORY_FRACTION`]
//! (95 %). The pass outputs (`8·V/g` bytes each) must fit beside `V`, so more passes need a
//! larger group `g`. Among the params that reach the target (power-of-two `g` ≥ 1 KiB, `R` from
//! the class's value up to a quarter more — `R` is a minimum, more rounds only make
//! regeneration dearer — `P` and then `V` within its range set so the expected time is the
//! target), the sizer picks the cheapest to check: the verifier regenerates two groups per
//! sampled output, `2·(g/16)·(R+1)` Philox calls, so it minimises `g·(R+1)`, then prefers more
//! passes. If the fill alone plus one pass at 90 % of memory is longer than
//! the target, the result is that challenge, marked [`SizeLimit::MinimumWork`].
//!
//! # Rented machines ([`size_rented`])
//!
//! A rented device serves its renter, so it gets a small exact-work `matmul-i8` with openings
//! instead of the full challenges: `K` fixed at [`MATMUL_MIN_K`] (cheap to check), at most
//! [`RENTED_MEMORY_CAP`] or [`RENTED_MEMORY_FRACTION`] of the class memory (whichever is less),
//! at least one product, and the target the caller gives ([`RENTED_TARGET_S`] is the suggested
//! one). On large GPUs memory caps it well below the target (a few ms of GPU time): it proves
//! that a device of the class still computes exact results, not its speed, and
//! [`rented_envelope`] judges it leniently.
//!
//! Beside it, a rented machine gets a small `membw` ([`size_rented_membw`], DESIGN.md §No score
//! without proof, rule 6): `V` = [`RENTED_MEMBW_BYTES`] (1 GiB), or [`MEMBW_MIN_FRACTION`] of
//! the class memory where that is less (the `cpu-reference` class), `g` =
//! [`MEMBW_MIN_GROUP`], the class's `R`, one pass: it shows the device still holds and reads
//! memory at the class's rate without taking the renter's memory.

use challenge_runtime::SandboxLimits;
use challenges::matmul::{self, MatmulParams};
use challenges::membw::{self, MembwParams};
use challenges::work::Work;

use super::ClassError;
use super::model::{ExpectedTime, envelope, expected_time};
use super::table::GpuClass;
use crate::session::Envelope;

/// Fraction of the class memory a `matmul-i8` challenge may hold.
pub const MATMUL_MEMORY_FRACTION: f64 = 0.90;
/// Fraction of the class memory a `membw` challenge may hold (buffer and pass outputs).
pub const MEMBW_MEMORY_FRACTION: f64 = 0.95;
/// Least fraction of the class memory the `membw` buffer `V` covers.
pub const MEMBW_MIN_FRACTION: f64 = 0.90;
/// Smallest `K` the sizer picks for full challenges (and the `K` of rented ones).
pub const MATMUL_MIN_K: u32 = 4096;
/// Largest product side `S` the sizer picks (a 256 MiB `i32` product).
pub const MATMUL_MAX_SIDE: u32 = 8192;
/// Fewest products of a full `matmul-i8` challenge.
pub const MATMUL_MIN_PRODUCTS: u32 = 8;
/// Smallest `membw` group the sizer picks (DESIGN.md: `g` = 1 KiB keeps a leaf check cheap).
pub const MEMBW_MIN_GROUP: u32 = 1024;
/// Most memory a rented machine's challenge may hold.
pub const RENTED_MEMORY_CAP: u64 = 256 << 20;
/// Most memory a rented machine's challenge may hold, as a fraction of the class memory.
pub const RENTED_MEMORY_FRACTION: f64 = 0.01;
/// The buffer of a rented machine's small `membw` (DESIGN.md: at least 1 GiB).
pub const RENTED_MEMBW_BYTES: u64 = 1 << 30;
/// Relative distance from the target below which a sizing counts as reaching it.
const TOLERANCE: f64 = 0.01;
/// Suggested target of a rented machine's challenge, in seconds.
pub const RENTED_TARGET_S: f64 = 0.05;
/// How much slower than the class's `max_s` a rented device may be (its renter's kernels share
/// it), in [`rented_envelope`].
pub const RENTED_SLOWDOWN: f64 = 10.0;
/// Fixed slack added to a rented challenge's `max_s` (module start and one commit dominate a
/// challenge of a few milliseconds), in seconds.
pub const RENTED_SLACK_S: f64 = 0.25;

/// Why a sizing could not reach its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeLimit {
    /// The memory the challenge may hold caps the work: the expected time is below the target.
    Memory,
    /// The smallest challenge the rules allow takes longer than the target.
    MinimumWork,
    /// The module's largest pass count is reached below the target (`membw`).
    MaxPasses,
    /// The target falls between two steps of the params that no finer knob bridges: the
    /// nearest step is returned (more than 1 % off).
    Granularity,
}

/// A sized challenge: valid params, their work and expected time, and what they hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizing<P> {
    /// Params that pass the module's `validate`.
    pub params: P,
    /// The module's work for them (`matmul::work` / `membw::work`).
    pub work: Work,
    /// Expected time on the class (nominal efficiencies).
    pub expected: ExpectedTime,
    /// Bytes the challenge holds on the device at its peak (within the sizing's budget).
    pub held_bytes: u64,
    /// The target asked for, in seconds.
    pub target_s: f64,
    /// `None` when the expected time is the target (to within the granularity of the params);
    /// otherwise why it is not.
    pub limit: Option<SizeLimit>,
}

/// Bytes a `matmul-i8` challenge holds in the sandbox: `A`, `B` and `C` live, plus every
/// committed copy of `C` (saturating).
pub fn matmul_held_bytes(p: &MatmulParams) -> u64 {
    let (m, n, k, t) = (
        u64::from(p.m),
        u64::from(p.n),
        u64::from(p.k),
        u64::from(p.count),
    );
    m.saturating_mul(k)
        .saturating_add(k.saturating_mul(n))
        .saturating_add(
            4u64.saturating_mul(m)
                .saturating_mul(n)
                .saturating_mul(t.saturating_add(1)),
        )
}

/// Bytes a `membw` challenge holds in the sandbox: the buffer, the live pass output and every
/// committed pass output (saturating).
pub fn membw_held_bytes(p: &MembwParams) -> u64 {
    p.bytes.saturating_add(
        p.pass_output_bytes()
            .saturating_mul(u64::from(p.passes).saturating_add(1)),
    )
}

fn check_target(target_s: f64) -> Result<(), ClassError> {
    if target_s.is_finite() && target_s > 0.0 {
        Ok(())
    } else {
        Err(ClassError::BadTarget(target_s))
    }
}

fn fraction(bytes: u64, f: f64) -> u64 {
    // Exact enough: memory sizes are far below 2^53.
    (bytes as f64 * f).floor() as u64
}

/// The largest `x` in `lo..=hi` with `pred(x)`, for a predicate true up to some point and false
/// after it; `None` if `pred(lo)` is false.
fn last_true(
    lo: u64,
    hi: u64,
    mut pred: impl FnMut(u64) -> Result<bool, ClassError>,
) -> Result<Option<u64>, ClassError> {
    if lo > hi || !pred(lo)? {
        return Ok(None);
    }
    let (mut ok, mut bad) = (lo, hi.saturating_add(1));
    while bad - ok > 1 {
        let mid = ok + (bad - ok) / 2;
        if pred(mid)? {
            ok = mid;
        } else {
            bad = mid;
        }
    }
    Ok(Some(ok))
}

/// Rules of one matmul sizing.
struct MatmulRules {
    budget: u64,
    k_min: u32,
    k_max: u32,
    min_products: u32,
}

fn matmul_time(class: &GpuClass, p: &MatmulParams) -> Result<f64, ClassError> {
    Ok(expected_time(class, &matmul::work(p))?.seconds)
}

fn matmul_sizing(
    class: &GpuClass,
    params: MatmulParams,
    target_s: f64,
    limit: Option<SizeLimit>,
) -> Result<Sizing<MatmulParams>, ClassError> {
    let work = matmul::work(&params);
    let expected = expected_time(class, &work)?;
    Ok(Sizing {
        params,
        held_bytes: matmul_held_bytes(&params),
        work,
        expected,
        target_s,
        limit,
    })
}

fn solve_matmul(
    class: &GpuClass,
    target_s: f64,
    rules: &MatmulRules,
) -> Result<Sizing<MatmulParams>, ClassError> {
    check_target(target_s)?;
    // Every output is a root of the commitment: never more than the protocol carries.
    let max_roots = u32::try_from(protocol::limits::MAX_ROOTS).unwrap_or(u32::MAX);
    let max_outputs = SandboxLimits::default()
        .max_outputs
        .min(matmul::MAX_COUNT)
        .min(max_roots);
    let sides = (4..=MATMUL_MAX_SIDE.trailing_zeros())
        .rev()
        .map(|b| 1u32 << b);
    let shape = |s: u32, k: u32, count: u32| MatmulParams {
        m: s,
        n: s,
        k,
        count,
    };
    for s in sides {
        let least = shape(s, rules.k_min, rules.min_products);
        if matmul_held_bytes(&least) > rules.budget || matmul_time(class, &least)? > target_s {
            continue;
        }
        // Most products that fit memory at the largest K this sizing may pick.
        let fits = |c: u64| {
            let c = u32::try_from(c).unwrap_or(u32::MAX);
            Ok(matmul_held_bytes(&shape(s, rules.k_max, c)) <= rules.budget)
        };
        let t_hi = last_true(u64::from(rules.min_products), u64::from(max_outputs), fits)?
            .unwrap_or(u64::from(rules.min_products));
        // Most products not passing the target at k_min.
        let under = |c: u64| Ok(matmul_time(class, &shape(s, rules.k_min, c as u32))? <= target_s);
        let count = last_true(u64::from(rules.min_products), t_hi, under)?
            .unwrap_or(u64::from(rules.min_products)) as u32;
        // Raise K (multiples of 16) while the time stays within the target and memory.
        let k_steps = (u64::from(rules.k_min) / 16, u64::from(rules.k_max) / 16);
        let ok_k = |k16: u64| {
            let p = shape(s, (k16 * 16) as u32, count);
            Ok(matmul_held_bytes(&p) <= rules.budget && matmul_time(class, &p)? <= target_s)
        };
        let k16 = last_true(k_steps.0, k_steps.1, ok_k)?.unwrap_or(k_steps.0);
        let gap =
            |p: &MatmulParams| Ok::<f64, ClassError>((matmul_time(class, p)? - target_s).abs());
        let mut best = shape(s, (k16 * 16) as u32, count);
        // The next step (one more K step, or one more product) may be closer, slightly over.
        let next = if k16 < k_steps.1 {
            Some(shape(s, ((k16 + 1) * 16) as u32, count))
        } else if u64::from(count) < t_hi {
            Some(shape(s, rules.k_min, count + 1))
        } else {
            None
        };
        let bracketed = next.is_some_and(|p| matmul_held_bytes(&p) <= rules.budget);
        if let Some(p) = next.filter(|p| matmul_held_bytes(p) <= rules.budget)
            && gap(&p)? < gap(&best)?
        {
            best = p;
        }
        // Below the target with no larger challenge fitting: memory is the limit.
        let limit = (!bracketed && matmul_time(class, &best)? < target_s * (1.0 - TOLERANCE))
            .then_some(SizeLimit::Memory);
        return matmul_sizing(class, best, target_s, limit);
    }
    // No side fits both: the smallest challenge, if it fits memory at all.
    let smallest = shape(16, rules.k_min, rules.min_products);
    if matmul_held_bytes(&smallest) > rules.budget {
        return Err(ClassError::Unsizable {
            module: matmul::NAME,
            class: class.id().to_string(),
            reason: format!(
                "the smallest challenge holds {} bytes, over the budget of {}",
                matmul_held_bytes(&smallest),
                rules.budget
            ),
        });
    }
    matmul_sizing(class, smallest, target_s, Some(SizeLimit::MinimumWork))
}

/// A `matmul-i8` challenge for `class` whose expected time is `target_s` (module docs,
/// §`matmul-i8`). The params are valid, hold at most [`MATMUL_MEMORY_FRACTION`] of the class
/// memory, and, unless `limit` says otherwise, their expected time is within one `K` step of the
/// target. Fails for a non-positive target, an uncalibrated CPU class, or a class too small for
/// any challenge.
pub fn size_matmul(class: &GpuClass, target_s: f64) -> Result<Sizing<MatmulParams>, ClassError> {
    solve_matmul(
        class,
        target_s,
        &MatmulRules {
            budget: fraction(class.memory_bytes(), MATMUL_MEMORY_FRACTION),
            k_min: MATMUL_MIN_K,
            k_max: matmul::MAX_K,
            min_products: MATMUL_MIN_PRODUCTS,
        },
    )
}

/// The small exact-work challenge of a rented machine (module docs, §Rented machines): a
/// `matmul-i8` with `K` = [`MATMUL_MIN_K`], holding at most
/// `min(RENTED_MEMORY_CAP, RENTED_MEMORY_FRACTION × memory)`, at least one product (so 32
/// openings always have leaves to land on: a product of side ≥ 16 has ≥ 1 tile and openings are
/// drawn with replacement), expected time at most about `target_s`.
pub fn size_rented(class: &GpuClass, target_s: f64) -> Result<Sizing<MatmulParams>, ClassError> {
    let budget = RENTED_MEMORY_CAP.min(fraction(class.memory_bytes(), RENTED_MEMORY_FRACTION));
    solve_matmul(
        class,
        target_s,
        &MatmulRules {
            budget,
            k_min: MATMUL_MIN_K,
            k_max: MATMUL_MIN_K,
            min_products: 1,
        },
    )
}

/// The envelope of a rented machine's challenge: [`envelope`] with `max_s` stretched by
/// [`RENTED_SLOWDOWN`] plus [`RENTED_SLACK_S`] (the renter shares the device); the `too-fast`
/// floor is unchanged. Same guarantees as [`envelope`].
pub fn rented_envelope(class: &GpuClass, work: &Work) -> Result<Envelope, ClassError> {
    Ok(rented_window(envelope(class, work)?))
}

/// A window stretched for a rented machine: `max_s` × [`RENTED_SLOWDOWN`] + [`RENTED_SLACK_S`],
/// the `too-fast` floor unchanged (what [`rented_envelope`] does to the whole work; the planner
/// does it to each interactive phase's window too).
pub fn rented_window(e: Envelope) -> Envelope {
    Envelope {
        max_s: e.max_s * RENTED_SLOWDOWN + RENTED_SLACK_S,
        ..e
    }
}

/// The small `membw` of a rented machine (module docs, §Rented machines): `V` =
/// `min(RENTED_MEMBW_BYTES, MEMBW_MIN_FRACTION × memory)` rounded down to the group, `g` =
/// [`MEMBW_MIN_GROUP`], the class's `R`, one pass. Judged by [`rented_envelope`].
pub fn size_rented_membw(class: &GpuClass) -> Result<Sizing<MembwParams>, ClassError> {
    let g = u64::from(MEMBW_MIN_GROUP);
    let cap = (class.memory_bytes() as f64 * MEMBW_MIN_FRACTION).floor() as u64;
    let bytes = (RENTED_MEMBW_BYTES.min(cap) / g).max(1) * g;
    let params = MembwParams {
        bytes,
        group: MEMBW_MIN_GROUP,
        rounds: class.membw_rounds(),
        passes: 1,
    };
    params.validate().map_err(|e| ClassError::Unsizable {
        module: "membw",
        class: class.id().to_string(),
        reason: format!("the rented machine's small membw: {e}"),
    })?;
    let target = membw_time(class, &params)?;
    membw_sizing(class, params, target, None)
}

fn membw_time(class: &GpuClass, p: &MembwParams) -> Result<f64, ClassError> {
    Ok(expected_time(class, &membw::work(p))?.seconds)
}

fn membw_sizing(
    class: &GpuClass,
    params: MembwParams,
    target_s: f64,
    limit: Option<SizeLimit>,
) -> Result<Sizing<MembwParams>, ClassError> {
    let work = membw::work(&params);
    let expected = expected_time(class, &work)?;
    Ok(Sizing {
        params,
        held_bytes: membw_held_bytes(&params),
        work,
        expected,
        target_s,
        limit,
    })
}

/// The `V` (a multiple of `p.group` in `v_min..=v_max`) whose expected time is closest to the
/// target, if the target lies within the range's times.
fn solve_v(
    class: &GpuClass,
    target_s: f64,
    p: MembwParams,
    v_min: u64,
    v_max: u64,
) -> Result<Option<MembwParams>, ClassError> {
    let g = u64::from(p.group);
    let with = |units: u64| MembwParams {
        bytes: units * g,
        ..p
    };
    if membw_time(class, &with(v_min / g))? > target_s
        || membw_time(class, &with(v_max / g))? < target_s
    {
        return Ok(None);
    }
    let ok = |units: u64| Ok(membw_time(class, &with(units))? <= target_s);
    let units = last_true(v_min / g, v_max / g, ok)?.unwrap_or(v_min / g);
    let gap = |p: &MembwParams| Ok::<f64, ClassError>((membw_time(class, p)? - target_s).abs());
    let (below, above) = (with(units), with(units + 1));
    if (units + 1) * g <= v_max && gap(&above)? < gap(&below)? {
        Ok(Some(above))
    } else {
        Ok(Some(below))
    }
}

/// A `membw` challenge for `class` whose expected time is `target_s` (module docs,
/// §`membw`). Among the params that reach the target — `V` between [`MEMBW_MIN_FRACTION`] of
/// the class memory and what fits beside the pass outputs within [`MEMBW_MEMORY_FRACTION`],
/// any power-of-two group ≥ [`MEMBW_MIN_GROUP`], `R` from the class's value (a minimum: more
/// rounds only make regeneration dearer) up to a quarter more, any pass count — it picks the
/// cheapest for the verifier to check (`g·(R+1)` Philox calls per sampled output), then the one
/// with the most passes. Unless `limit` says otherwise the expected time is within one group
/// of `V` of the target. Fails for a non-positive target, an uncalibrated CPU class, or a
/// class whose memory cannot hold a buffer of 90 % of it.
pub fn size_membw(class: &GpuClass, target_s: f64) -> Result<Sizing<MembwParams>, ClassError> {
    check_target(target_s)?;
    let memory = class.memory_bytes();
    let budget = fraction(memory, MEMBW_MEMORY_FRACTION);
    let v_floor = (memory as f64 * MEMBW_MIN_FRACTION).ceil() as u64;
    let r0 = class.membw_rounds();
    let r_max = r0.saturating_add(r0 / 4 + 4).min(membw::MAX_ROUNDS);
    let cost = |p: &MembwParams| u64::from(p.group) * (u64::from(p.rounds) + 1);
    let mut best: Option<MembwParams> = None;
    // The least and the most work that fit (for the limits when nothing reaches the target).
    let mut least: Option<MembwParams> = None;
    let mut most: Option<(f64, MembwParams)> = None;
    let mut closest: Option<(f64, MembwParams)> = None;
    for group in
        (MEMBW_MIN_GROUP.trailing_zeros()..=membw::MAX_GROUP.trailing_zeros()).map(|b| 1u32 << b)
    {
        let g = u64::from(group);
        let v_min = v_floor.div_ceil(g) * g;
        let at = |bytes: u64, rounds: u32, passes: u32| MembwParams {
            bytes,
            group,
            rounds,
            passes,
        };
        let fits_p = |p: u64| {
            let params = at(v_min, r0, p as u32);
            Ok(params.validate().is_ok() && membw_held_bytes(&params) <= budget)
        };
        let Some(p_max) = last_true(1, u64::from(membw::MAX_PASSES), fits_p)? else {
            continue;
        };
        let p_max = p_max as u32;
        least.get_or_insert(at(v_min, r0, 1));
        let v_max_of = |passes: u32| -> Result<u64, ClassError> {
            let fits = |units: u64| Ok(membw_held_bytes(&at(units * g, r0, passes)) <= budget);
            Ok(last_true(v_min / g, budget / g, fits)?.unwrap_or(v_min / g) * g)
        };
        let biggest = at(v_max_of(p_max)?, r0, p_max);
        let t = membw_time(class, &biggest)?;
        if most.is_none_or(|(m, _)| t > m) {
            most = Some((t, biggest));
        }
        for rounds in r0..=r_max {
            if best.is_some_and(|b| cost(&at(0, rounds, 1)) >= cost(&b)) {
                break;
            }
            let under = |p: u64| Ok(membw_time(class, &at(v_min, rounds, p as u32))? <= target_s);
            let Some(passes) = last_true(1, u64::from(p_max), under)? else {
                // One pass at the least buffer is already over the target.
                break;
            };
            let passes = passes as u32;
            let v_max = v_max_of(passes)?;
            if let Some(p) = solve_v(class, target_s, at(v_min, rounds, passes), v_min, v_max)? {
                let better = best.is_none_or(|b| {
                    cost(&p) < cost(&b) || cost(&p) == cost(&b) && p.passes > b.passes
                });
                if better {
                    best = Some(p);
                }
                break;
            }
            for cand in [at(v_max, rounds, passes), at(v_min, rounds, passes + 1)] {
                if cand.passes <= p_max {
                    let gap = (membw_time(class, &cand)? - target_s).abs();
                    if closest.is_none_or(|(c, _)| gap < c) {
                        closest = Some((gap, cand));
                    }
                }
            }
        }
    }
    if let Some(p) = best {
        return membw_sizing(class, p, target_s, None);
    }
    let (Some(least), Some((most_t, most))) = (least, most) else {
        return Err(ClassError::Unsizable {
            module: membw::NAME,
            class: class.id().to_string(),
            reason: format!(
                "{memory} bytes of memory cannot hold a buffer of 90 % of it with one pass output"
            ),
        });
    };
    if membw_time(class, &least)? > target_s {
        return membw_sizing(class, least, target_s, Some(SizeLimit::MinimumWork));
    }
    if most_t < target_s {
        let limit = if most.passes == membw::MAX_PASSES {
            SizeLimit::MaxPasses
        } else {
            SizeLimit::Memory
        };
        return membw_sizing(class, most, target_s, Some(limit));
    }
    let (gap, p) = closest.unwrap_or((f64::INFINITY, least));
    let limit = (gap > target_s * TOLERANCE).then_some(SizeLimit::Granularity);
    membw_sizing(class, p, target_s, limit)
}
