//! `matmul-i8` (spec: `challenges::matmul`): its bytes, params forms, layout, work, sizing and
//! check cost.
//!
//! # Sizing
//!
//! `challenge-runtime` charges a challenge for its live buffers **and** every output it has
//! committed until the session ends, so `matmul-i8` holds `M·K + K·N + 4·M·N·(T+1)` bytes
//! ([`held_bytes`]).
//!
//! Full challenge ([`size_full`]): square products `M = N = S`, `S` a power of two from 8192
//! down to 16; `K` a multiple of 16 from [`MIN_K`] (4096, the verifier-cost design point) up to
//! the module's 65 536; at least [`MIN_PRODUCTS`] products, at most the caller's output cap.
//! The held memory stays within [`MEMORY_FRACTION`] of the class memory (room for the CUDA
//! context and cuBLASLt's workspace). For the largest `S` whose [`MIN_PRODUCTS`] products at
//! `K = 4096` fit the target and memory: take the most products `T` that fit memory and do not
//! pass the target at `K = 4096`, then raise `K` (in steps of 16) until the expected time is
//! the target. Checking one opened tile costs the verifier `16·16·K` multiply-adds, so `K` is
//! kept as small as the memory allows. Where even `K = 65 536` with all the memory cannot reach
//! the target, the result is the largest such challenge, marked [`SizeLimit::Memory`].
//!
//! Rented machine ([`size_rented`]): `K` fixed at [`MIN_K`] (cheap to check), at most
//! [`RENTED_MEMORY_CAP`] or [`RENTED_MEMORY_FRACTION`] of the class memory (whichever is less),
//! at least one product, the target the caller gives. It proves that a device of the class
//! still computes exact results, not its speed.

use challenges::SpecError;
use challenges::matmul::{self, MatmulParams};
use serde::{Deserialize, Serialize};

use crate::descriptor::{
    ChallengeModule, CheckCost, OutputShape, ParamsError, SizeLimit, Sized, SizingError,
    SizingTarget, TOLERANCE, check_target, encoded, fraction, last_true, priced,
};

/// Fraction of the class memory a full `matmul-i8` challenge may hold.
pub const MEMORY_FRACTION: f64 = 0.90;
/// Smallest `K` the sizer picks for full challenges (and the `K` of rented ones).
pub const MIN_K: u32 = 4096;
/// Largest product side `S` the sizer picks (a 256 MiB `i32` product).
pub const MAX_SIDE: u32 = 8192;
/// Fewest products of a full challenge.
pub const MIN_PRODUCTS: u32 = 8;
/// Most memory a rented machine's challenge may hold.
pub const RENTED_MEMORY_CAP: u64 = 256 << 20;
/// Most memory a rented machine's challenge may hold, as a fraction of the class memory.
pub const RENTED_MEMORY_FRACTION: f64 = 0.01;

/// The descriptor of `matmul-i8` (see [`crate::MATMUL_I8`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MatmulModule;

/// The JSON form of the params (`{"m", "n", "k", "count"}`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Json {
    m: u32,
    n: u32,
    k: u32,
    count: u32,
}

const SHAPE: &str = "{\"m\", \"n\", \"k\", \"count\"}";

impl ChallengeModule for MatmulModule {
    fn name(&self) -> &'static str {
        matmul::NAME
    }

    fn phases(&self) -> u32 {
        1
    }

    fn params_from_json(&self, json: &str) -> Result<Vec<u8>, ParamsError> {
        let j: Json = serde_json::from_str(json).map_err(|e| ParamsError::Shape {
            module: matmul::NAME,
            json: json.to_string(),
            detail: e.to_string(),
            shape: SHAPE,
        })?;
        let p = MatmulParams {
            m: j.m,
            n: j.n,
            k: j.k,
            count: j.count,
        };
        p.validate().map_err(|source| ParamsError::Rules {
            module: matmul::NAME,
            json: json.to_string(),
            source,
        })?;
        Ok(p.encode().to_vec())
    }

    fn params_to_json(&self, params: &[u8]) -> Result<String, SpecError> {
        let p = MatmulParams::decode(params)?;
        p.validate()?;
        let json = Json {
            m: p.m,
            n: p.n,
            k: p.k,
            count: p.count,
        };
        Ok(serde_json::to_string(&json).unwrap_or_default())
    }

    fn outputs(&self, params: &[u8]) -> Result<OutputShape, SpecError> {
        let p = MatmulParams::decode(params)?;
        p.validate()?;
        Ok(OutputShape {
            outputs: u64::from(p.count),
            output_bytes: p.product_bytes(),
        })
    }

    fn work(&self, params: &[u8]) -> Result<challenges::work::Work, SpecError> {
        let p = MatmulParams::decode(params)?;
        p.validate()?;
        Ok(matmul::work(&p))
    }

    fn check_cost(&self, params: &[u8], _samples: u32) -> Result<CheckCost, SpecError> {
        let p = MatmulParams::decode(params)?;
        p.validate()?;
        let k = u64::from(p.k);
        // Sixteen rows of A (16·K bytes) and a 16-column block of B (one Philox block per row
        // of B), then one 16 × 16 × K tile.
        Ok(CheckCost {
            philox_calls: k.saturating_mul(2),
            multiply_adds: k.saturating_mul(256),
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

/// Bytes a `matmul-i8` challenge holds in the sandbox: `A`, `B` and `C` live, plus every
/// committed copy of `C` (saturating).
pub fn held_bytes(p: &MatmulParams) -> u64 {
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

/// Rules of one sizing.
struct Rules {
    budget: u64,
    k_min: u32,
    k_max: u32,
    min_products: u32,
}

fn time(target: &SizingTarget<'_>, p: &MatmulParams) -> Result<f64, SizingError> {
    priced(matmul::NAME, target.class, &matmul::work(p))
}

fn sized(
    target: &SizingTarget<'_>,
    params: MatmulParams,
    limit: Option<SizeLimit>,
) -> Result<Sized<MatmulParams>, SizingError> {
    let work = matmul::work(&params);
    let expected_s = priced(matmul::NAME, target.class, &work)?;
    Ok(Sized {
        params,
        held_bytes: held_bytes(&params),
        work,
        expected_s,
        target_s: target.target_s,
        limit,
    })
}

fn solve(target: &SizingTarget<'_>, rules: &Rules) -> Result<Sized<MatmulParams>, SizingError> {
    let target_s = target.target_s;
    check_target(target_s)?;
    let max_outputs = target.max_outputs.clamp(1, matmul::MAX_COUNT);
    let sides = (4..=MAX_SIDE.trailing_zeros()).rev().map(|b| 1u32 << b);
    let shape = |s: u32, k: u32, count: u32| MatmulParams {
        m: s,
        n: s,
        k,
        count,
    };
    for s in sides {
        let least = shape(s, rules.k_min, rules.min_products);
        if held_bytes(&least) > rules.budget || time(target, &least)? > target_s {
            continue;
        }
        // Most products that fit memory at the largest K this sizing may pick.
        let fits = |c: u64| {
            let c = u32::try_from(c).unwrap_or(u32::MAX);
            Ok::<_, SizingError>(held_bytes(&shape(s, rules.k_max, c)) <= rules.budget)
        };
        let t_hi = last_true(u64::from(rules.min_products), u64::from(max_outputs), fits)?
            .unwrap_or(u64::from(rules.min_products));
        // Most products not passing the target at k_min.
        let under = |c: u64| Ok(time(target, &shape(s, rules.k_min, c as u32))? <= target_s);
        let count = last_true(u64::from(rules.min_products), t_hi, under)?
            .unwrap_or(u64::from(rules.min_products)) as u32;
        // Raise K (multiples of 16) while the time stays within the target and memory.
        let k_steps = (u64::from(rules.k_min) / 16, u64::from(rules.k_max) / 16);
        let ok_k = |k16: u64| {
            let p = shape(s, (k16 * 16) as u32, count);
            Ok(held_bytes(&p) <= rules.budget && time(target, &p)? <= target_s)
        };
        let k16 = last_true(k_steps.0, k_steps.1, ok_k)?.unwrap_or(k_steps.0);
        let gap = |p: &MatmulParams| Ok::<f64, SizingError>((time(target, p)? - target_s).abs());
        let mut best = shape(s, (k16 * 16) as u32, count);
        // The next step (one more K step, or one more product) may be closer, slightly over.
        let next = if k16 < k_steps.1 {
            Some(shape(s, ((k16 + 1) * 16) as u32, count))
        } else if u64::from(count) < t_hi {
            Some(shape(s, rules.k_min, count + 1))
        } else {
            None
        };
        let bracketed = next.is_some_and(|p| held_bytes(&p) <= rules.budget);
        if let Some(p) = next.filter(|p| held_bytes(p) <= rules.budget)
            && gap(&p)? < gap(&best)?
        {
            best = p;
        }
        // Below the target with no larger challenge fitting: memory is the limit.
        let limit = (!bracketed && time(target, &best)? < target_s * (1.0 - TOLERANCE))
            .then_some(SizeLimit::Memory);
        return sized(target, best, limit);
    }
    // No side fits both: the smallest challenge, if it fits memory at all.
    let smallest = shape(16, rules.k_min, rules.min_products);
    if held_bytes(&smallest) > rules.budget {
        return Err(SizingError::Unsizable {
            module: matmul::NAME,
            class: target.class.id().to_string(),
            reason: format!(
                "the smallest challenge holds {} bytes, over the budget of {}",
                held_bytes(&smallest),
                rules.budget
            ),
        });
    }
    sized(target, smallest, Some(SizeLimit::MinimumWork))
}

/// The full challenge for `target` (module docs, §Sizing). The params are valid, hold at most
/// [`MEMORY_FRACTION`] of the class memory, and, unless `limit` says otherwise, their expected
/// time is within one `K` step of the target. Fails for a non-positive target, a class the
/// model cannot price, or a class too small for any challenge.
pub fn size_full(target: &SizingTarget<'_>) -> Result<Sized<MatmulParams>, SizingError> {
    solve(
        target,
        &Rules {
            budget: fraction(target.class.memory_bytes(), MEMORY_FRACTION),
            k_min: MIN_K,
            k_max: matmul::MAX_K,
            min_products: MIN_PRODUCTS,
        },
    )
}

/// A rented machine's small exact-work challenge (module docs, §Sizing): `K` = [`MIN_K`],
/// holding at most `min(RENTED_MEMORY_CAP, RENTED_MEMORY_FRACTION × memory)`, at least one
/// product (so openings always have leaves to land on), expected time at most about the
/// target.
pub fn size_rented(target: &SizingTarget<'_>) -> Result<Sized<MatmulParams>, SizingError> {
    let budget = RENTED_MEMORY_CAP.min(fraction(
        target.class.memory_bytes(),
        RENTED_MEMORY_FRACTION,
    ));
    solve(
        target,
        &Rules {
            budget,
            k_min: MIN_K,
            k_max: MIN_K,
            min_products: 1,
        },
    )
}
