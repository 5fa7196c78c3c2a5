//! `membw` (spec: `challenges::membw`, v2: two interactive phases): its bytes, params forms,
//! layout, work, sizing and check cost.
//!
//! # Sizing
//!
//! A `membw` challenge holds its buffer and every pass output, live or committed:
//! `V + 8·G·(P+1)` bytes ([`held_bytes`]).
//!
//! Full challenge ([`size_full`]): `R` is the class's (`membw_rounds`). The buffer `V` is at
//! least [`MIN_FRACTION`] (90 %) of the class memory, so a device short of memory cannot hold
//! it (docs/design.md: `V` ≥ 90 % of the claimed VRAM), and `V` plus the `P + 1` pass outputs stay
//! within [`MEMORY_FRACTION`] (95 %). More passes need a larger group `g` (their outputs must
//! fit beside `V`). Among the params that reach the target (power-of-two `g` ≥ 1 KiB, `R` from
//! the class's value up to a quarter more — `R` is a minimum, more rounds only make
//! regeneration dearer — `P` and then `V` within its range set so the expected time is the
//! target), the sizer picks the cheapest to check: the verifier regenerates two groups per
//! sampled output, `2·(g/16)·(R+1)` Philox calls, so it minimises `g·(R+1)`, then prefers more
//! passes. If the fill alone plus one pass at 90 % of memory is longer than the target, the
//! result is that challenge, marked [`SizeLimit::MinimumWork`].
//!
//! Rented machine ([`size_rented`], docs/design.md §No score without proof, rule 6): `V` =
//! [`RENTED_BYTES`] (1 GiB), or [`MIN_FRACTION`] of the class memory where that is less, `g`
//! = [`MIN_GROUP`], the class's `R`, one pass: it shows the device still holds and reads memory
//! at the class's rate without taking the renter's memory. Its target is its own expected time.

use challenges::SpecError;
use challenges::membw::{self, MembwParams};
use serde::{Deserialize, Serialize};

use crate::descriptor::{
    ChallengeModule, CheckCost, OutputShape, ParamsError, SizeLimit, Sized, SizingError,
    SizingTarget, TOLERANCE, check_target, encoded, fraction, last_true, priced,
};

/// Fraction of the class memory a `membw` challenge may hold (buffer and pass outputs).
pub const MEMORY_FRACTION: f64 = 0.95;
/// Least fraction of the class memory the buffer `V` covers.
pub const MIN_FRACTION: f64 = 0.90;
/// Smallest group the sizer picks (`g` = 1 KiB keeps a leaf check cheap).
pub const MIN_GROUP: u32 = 1024;
/// The buffer of a rented machine's small `membw` (docs/design.md: at least 1 GiB).
pub const RENTED_BYTES: u64 = 1 << 30;

/// The descriptor of `membw` (see [`crate::MEMBW`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MembwModule;

/// The JSON form of the params (`{"bytes", "group", "rounds", "passes"}`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Json {
    bytes: u64,
    group: u32,
    rounds: u32,
    passes: u32,
}

const SHAPE: &str = "{\"bytes\", \"group\", \"rounds\", \"passes\"}";

fn decoded(params: &[u8]) -> Result<MembwParams, SpecError> {
    let p = MembwParams::decode(params)?;
    p.validate()?;
    Ok(p)
}

impl ChallengeModule for MembwModule {
    fn name(&self) -> &'static str {
        membw::NAME
    }

    fn phases(&self) -> u32 {
        membw::PHASES
    }

    fn params_from_json(&self, json: &str) -> Result<Vec<u8>, ParamsError> {
        let j: Json = serde_json::from_str(json).map_err(|e| ParamsError::Shape {
            module: membw::NAME,
            json: json.to_string(),
            detail: e.to_string(),
            shape: SHAPE,
        })?;
        let p = MembwParams {
            bytes: j.bytes,
            group: j.group,
            rounds: j.rounds,
            passes: j.passes,
        };
        p.validate().map_err(|source| ParamsError::Rules {
            module: membw::NAME,
            json: json.to_string(),
            source,
        })?;
        Ok(p.encode().to_vec())
    }

    fn params_to_json(&self, params: &[u8]) -> Result<String, SpecError> {
        let p = decoded(params)?;
        let json = Json {
            bytes: p.bytes,
            group: p.group,
            rounds: p.rounds,
            passes: p.passes,
        };
        Ok(serde_json::to_string(&json).unwrap_or_default())
    }

    fn outputs(&self, params: &[u8]) -> Result<OutputShape, SpecError> {
        let p = decoded(params)?;
        Ok(OutputShape {
            outputs: u64::from(p.passes),
            output_bytes: p.pass_output_bytes(),
        })
    }

    fn work(&self, params: &[u8]) -> Result<challenges::work::Work, SpecError> {
        Ok(membw::work(&decoded(params)?))
    }

    fn check_cost(&self, params: &[u8], samples: u32) -> Result<CheckCost, SpecError> {
        let p = decoded(params)?;
        // Each sampled output regenerates two groups: 2·(g/16)·(R+1) Philox calls.
        let per_sample = (u64::from(p.group) / 16)
            .saturating_mul(u64::from(p.rounds) + 1)
            .saturating_mul(2);
        Ok(CheckCost {
            philox_calls: per_sample.saturating_mul(u64::from(samples)),
            multiply_adds: 0,
        })
    }

    fn size(&self, target: &SizingTarget<'_>) -> Result<Sized<Vec<u8>>, SizingError> {
        let sized = if target.rented {
            size_rented(target)?
        } else {
            size_full(target)?
        };
        Ok(encoded(sized, |p| p.encode().to_vec()))
    }
}

/// Bytes a `membw` challenge holds in the sandbox: the buffer, the live pass output and every
/// committed pass output (saturating).
pub fn held_bytes(p: &MembwParams) -> u64 {
    p.bytes.saturating_add(
        p.pass_output_bytes()
            .saturating_mul(u64::from(p.passes).saturating_add(1)),
    )
}

fn time(target: &SizingTarget<'_>, p: &MembwParams) -> Result<f64, SizingError> {
    priced(membw::NAME, target.class, &membw::work(p))
}

fn sized(
    target: &SizingTarget<'_>,
    params: MembwParams,
    target_s: f64,
    limit: Option<SizeLimit>,
) -> Result<Sized<MembwParams>, SizingError> {
    let work = membw::work(&params);
    let expected_s = priced(membw::NAME, target.class, &work)?;
    Ok(Sized {
        params,
        held_bytes: held_bytes(&params),
        work,
        expected_s,
        target_s,
        limit,
    })
}

/// A rented machine's small `membw` (module docs, §Sizing).
pub fn size_rented(target: &SizingTarget<'_>) -> Result<Sized<MembwParams>, SizingError> {
    let class = target.class;
    let g = u64::from(MIN_GROUP);
    let cap = (class.memory_bytes() as f64 * MIN_FRACTION).floor() as u64;
    let bytes = (RENTED_BYTES.min(cap) / g).max(1) * g;
    let params = MembwParams {
        bytes,
        group: MIN_GROUP,
        rounds: class.membw_rounds(),
        passes: 1,
    };
    params.validate().map_err(|e| SizingError::Unsizable {
        module: membw::NAME,
        class: class.id().to_string(),
        reason: format!("the rented machine's small membw: {e}"),
    })?;
    let own = time(target, &params)?;
    sized(target, params, own, None)
}

/// The `V` (a multiple of `p.group` in `v_min..=v_max`) whose expected time is closest to the
/// target, if the target lies within the range's times.
fn solve_v(
    target: &SizingTarget<'_>,
    p: MembwParams,
    v_min: u64,
    v_max: u64,
) -> Result<Option<MembwParams>, SizingError> {
    let target_s = target.target_s;
    let g = u64::from(p.group);
    let with = |units: u64| MembwParams {
        bytes: units * g,
        ..p
    };
    if time(target, &with(v_min / g))? > target_s || time(target, &with(v_max / g))? < target_s {
        return Ok(None);
    }
    let ok = |units: u64| Ok(time(target, &with(units))? <= target_s);
    let units = last_true(v_min / g, v_max / g, ok)?.unwrap_or(v_min / g);
    let gap = |p: &MembwParams| Ok::<f64, SizingError>((time(target, p)? - target_s).abs());
    let (below, above) = (with(units), with(units + 1));
    if (units + 1) * g <= v_max && gap(&above)? < gap(&below)? {
        Ok(Some(above))
    } else {
        Ok(Some(below))
    }
}

/// The full challenge for `target` (module docs, §Sizing). Unless `limit` says otherwise the
/// expected time is within one group of `V` of the target. Fails for a non-positive target, a
/// class the model cannot price, or a class whose memory cannot hold a buffer of 90 % of it.
pub fn size_full(target: &SizingTarget<'_>) -> Result<Sized<MembwParams>, SizingError> {
    let target_s = target.target_s;
    check_target(target_s)?;
    let class = target.class;
    let memory = class.memory_bytes();
    let budget = fraction(memory, MEMORY_FRACTION);
    let v_floor = (memory as f64 * MIN_FRACTION).ceil() as u64;
    let r0 = class.membw_rounds();
    let r_max = r0.saturating_add(r0 / 4 + 4).min(membw::MAX_ROUNDS);
    let cost = |p: &MembwParams| u64::from(p.group) * (u64::from(p.rounds) + 1);
    let mut best: Option<MembwParams> = None;
    // The least and the most work that fit (for the limits when nothing reaches the target).
    let mut least: Option<MembwParams> = None;
    let mut most: Option<(f64, MembwParams)> = None;
    let mut closest: Option<(f64, MembwParams)> = None;
    for group in (MIN_GROUP.trailing_zeros()..=membw::MAX_GROUP.trailing_zeros()).map(|b| 1u32 << b)
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
            Ok::<_, SizingError>(params.validate().is_ok() && held_bytes(&params) <= budget)
        };
        let Some(p_max) = last_true(1, u64::from(membw::MAX_PASSES), fits_p)? else {
            continue;
        };
        let p_max = p_max as u32;
        least.get_or_insert(at(v_min, r0, 1));
        let v_max_of = |passes: u32| -> Result<u64, SizingError> {
            let fits = |units: u64| Ok(held_bytes(&at(units * g, r0, passes)) <= budget);
            Ok(last_true(v_min / g, budget / g, fits)?.unwrap_or(v_min / g) * g)
        };
        let biggest = at(v_max_of(p_max)?, r0, p_max);
        let t = time(target, &biggest)?;
        if most.is_none_or(|(m, _)| t > m) {
            most = Some((t, biggest));
        }
        for rounds in r0..=r_max {
            if best.is_some_and(|b| cost(&at(0, rounds, 1)) >= cost(&b)) {
                break;
            }
            let under = |p: u64| Ok(time(target, &at(v_min, rounds, p as u32))? <= target_s);
            let Some(passes) = last_true(1, u64::from(p_max), under)? else {
                // One pass at the least buffer is already over the target.
                break;
            };
            let passes = passes as u32;
            let v_max = v_max_of(passes)?;
            if let Some(p) = solve_v(target, at(v_min, rounds, passes), v_min, v_max)? {
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
                    let gap = (time(target, &cand)? - target_s).abs();
                    if closest.is_none_or(|(c, _)| gap < c) {
                        closest = Some((gap, cand));
                    }
                }
            }
        }
    }
    if let Some(p) = best {
        return sized(target, p, target_s, None);
    }
    let (Some(least), Some((most_t, most))) = (least, most) else {
        return Err(SizingError::Unsizable {
            module: membw::NAME,
            class: class.id().to_string(),
            reason: format!(
                "{memory} bytes of memory cannot hold a buffer of 90 % of it with one pass output"
            ),
        });
    };
    if time(target, &least)? > target_s {
        return sized(target, least, target_s, Some(SizeLimit::MinimumWork));
    }
    if most_t < target_s {
        let limit = if most.passes == membw::MAX_PASSES {
            SizeLimit::MaxPasses
        } else {
            SizeLimit::Memory
        };
        return sized(target, most, target_s, Some(limit));
    }
    let (gap, p) = closest.unwrap_or((f64::INFINITY, least));
    let limit = (gap > target_s * TOLERANCE).then_some(SizeLimit::Granularity);
    sized(target, p, target_s, limit)
}
