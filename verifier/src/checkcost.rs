//! What checking one GPU's round costs the verifier's CPU (docs/design.md §Verifier cost), at the
//! plan sizes the class table gives today.
//!
//! A GPU's round is one `matmul-i8` and one `membw` challenge, sized for its class by
//! [`size_matmul`] and [`size_membw`]. After each commitment the verifier opens
//! [`DEFAULT_OPENINGS`] leaves and recomputes every one through the module's `check` in its own
//! sandbox ([`LeafChecker`]): a `matmul-i8` leaf is one 16 × 16 tile at the plan's `K`, a
//! `membw` leaf costs [`DEFAULT_SAMPLES`] sampled outputs, two group regenerations each.
//! [`PreparedRound`] draws such leaves for one class, with the bytes an honest miner would
//! send (computed by the spec functions of `challenges`, so every check must pass), and
//! [`PreparedRound::check`] runs them all on the calling thread and times them: the CPU time
//! of one GPU's round. Tree paths are not part of it (a path check is a few dozen BLAKE3
//! compressions, microseconds against the leaves' milliseconds).
//!
//! Used by `benches/benches/verifier.rs` and by `verifier bench`.

use std::time::{Duration, Instant};

use challenge_runtime::CheckVerdict;
use challenges::abi::CheckRequest;
use challenges::commitment;
use challenges::matmul::{self, MatmulParams};
use challenges::membw::{self, MembwParams, Permutation};
use challenges::prf;
use protocol::ModuleHash;
use serde::Serialize;

use crate::classes::{ClassError, GpuClass, size_matmul, size_membw};
use crate::session::{
    CheckInput, CheckerError, DEFAULT_OPENINGS, DEFAULT_SAMPLES, LeafChecker, SandboxChecker,
};

/// What one GPU's round opens and how its challenges are sized.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RoundShape {
    /// Leaves opened per challenge (each module gets this many).
    pub openings: u32,
    /// Outputs sampled inside each opened `membw` leaf.
    pub samples: u32,
    /// Factor on the class's target duration (`round.target_scale` of `validator.toml`).
    pub target_scale: f64,
}

impl Default for RoundShape {
    /// [`DEFAULT_OPENINGS`], [`DEFAULT_SAMPLES`], the classes' own targets.
    fn default() -> Self {
        Self {
            openings: DEFAULT_OPENINGS,
            samples: DEFAULT_SAMPLES,
            target_scale: 1.0,
        }
    }
}

/// The challenges of one GPU's round of a class, as the sizer makes them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundPlan {
    /// The class id.
    pub class: String,
    /// The `matmul-i8` params.
    #[serde(serialize_with = "ser_matmul")]
    pub matmul: MatmulParams,
    /// The `membw` params.
    #[serde(serialize_with = "ser_membw")]
    pub membw: MembwParams,
    /// What is opened.
    pub shape: RoundShape,
}

fn ser_matmul<S: serde::Serializer>(p: &MatmulParams, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(
        &serde_json::json!({"m": p.m, "n": p.n, "k": p.k, "count": p.count}),
        s,
    )
}

fn ser_membw<S: serde::Serializer>(p: &MembwParams, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(
        &serde_json::json!({"bytes": p.bytes, "group": p.group, "rounds": p.rounds, "passes": p.passes}),
        s,
    )
}

impl RoundPlan {
    /// The plan of `class` at `shape.target_scale` × its target duration, sized by
    /// [`size_matmul`] and [`size_membw`]. Fails where the sizer does (an uncalibrated CPU
    /// class, a class too small for any challenge, a bad target).
    pub fn for_class(class: &GpuClass, shape: RoundShape) -> Result<Self, ClassError> {
        let target = class.target_s() * shape.target_scale;
        Ok(Self {
            class: class.id().to_string(),
            matmul: size_matmul(class, target)?.params,
            membw: size_membw(class, target)?.params,
            shape,
        })
    }

    /// Multiply-adds of the opened tiles: `openings · 16 · 16 · K`.
    pub fn tile_multiply_adds(&self) -> u64 {
        u64::from(self.shape.openings) * 256 * u64::from(self.matmul.k)
    }

    /// Philox calls of the opened `membw` leaves: `openings · samples · 2 · (g/16) · (R+1)`.
    pub fn membw_philox_calls(&self) -> u64 {
        u64::from(self.shape.openings)
            * u64::from(self.shape.samples)
            * 2
            * u64::from(self.membw.group / 16)
            * (u64::from(self.membw.rounds) + 1)
    }
}

/// Why a round could not be prepared or checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckCostError {
    /// The spec refused the plan's params (a sizer bug).
    #[error("the plan's params are refused by the spec: {0}")]
    Spec(#[from] challenges::SpecError),
    /// The checker failed (module missing, sandbox error).
    #[error(transparent)]
    Checker(#[from] CheckerError),
    /// An honest leaf did not pass: the checker disagrees with the spec.
    #[error(
        "{module} leaf {leaf} of output {output} did not pass the check: the checker disagrees with the spec"
    )]
    Rejected {
        /// The module.
        module: &'static str,
        /// The output (product or pass).
        output: u32,
        /// The leaf.
        leaf: u64,
    },
}

/// One opened leaf with the bytes an honest miner sends.
#[derive(Debug, Clone)]
struct Leaf {
    output: u32,
    leaf: u64,
    salt: [u8; 32],
    chunk: Vec<u8>,
}

/// Deterministic draws for the bench (the verifier's own draws come from the OS; here the same
/// leaves each run make runs comparable).
struct Draws(blake3::OutputReader);

impl Draws {
    fn new(seed: &[u8; 32], what: &str) -> Self {
        let mut h = blake3::Hasher::new_keyed(seed);
        h.update(what.as_bytes());
        Self(h.finalize_xof())
    }

    fn bytes(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.0.fill(&mut out);
        out
    }

    fn below(&mut self, n: u64) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b) % n.max(1)
    }
}

/// One GPU's round, ready to check: the plan, the seed, the leaves drawn and their honest bytes.
#[derive(Debug, Clone)]
pub struct PreparedRound {
    plan: RoundPlan,
    seed: [u8; 32],
    phase_seed: [u8; 32],
    membw_roots: Vec<[u8; 32]>,
    matmul_leaves: Vec<Leaf>,
    membw_leaves: Vec<Leaf>,
}

/// The CPU time of checking one GPU's round, by module.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RoundCost {
    /// The opened `matmul-i8` leaves, seconds.
    pub matmul_s: f64,
    /// The opened `membw` leaves, seconds.
    pub membw_s: f64,
}

impl RoundCost {
    /// Both modules, seconds.
    pub fn total_s(&self) -> f64 {
        self.matmul_s + self.membw_s
    }
}

impl PreparedRound {
    /// Draws `plan.shape.openings` leaves of each challenge from `seed` (uniformly over every
    /// tile of every product, and every leaf of every pass) and computes each one's honest
    /// bytes with the spec (`matmul::tile`; `membw::output` at the positions the leaf's salt
    /// samples, the others left zero: `check` reads only those).
    pub fn new(plan: RoundPlan, seed: [u8; 32]) -> Result<Self, CheckCostError> {
        plan.matmul.validate()?;
        plan.membw.validate()?;
        let mut draws = Draws::new(&seed, "gpuproof check-cost leaves");
        let phase_seed = draws.bytes();
        let membw_roots: Vec<[u8; 32]> = (0..plan.membw.passes).map(|_| draws.bytes()).collect();
        let matmul_key = prf::key(&seed, matmul::STREAM);
        let tiles = plan.matmul.tiles_per_product();
        let mut matmul_leaves = Vec::new();
        for _ in 0..plan.shape.openings {
            let output = draws.below(u64::from(plan.matmul.count)) as u32;
            let leaf = draws.below(tiles);
            let tile = matmul::tile(matmul_key, &plan.matmul, output, leaf)?;
            matmul_leaves.push(Leaf {
                output,
                leaf,
                salt: draws.bytes(),
                chunk: challenges::tiles::tile_to_bytes(&tile).to_vec(),
            });
        }
        let mut membw_leaves = Vec::new();
        for _ in 0..plan.shape.openings {
            let output = draws.below(u64::from(plan.membw.passes)) as u32;
            let leaf = draws.below(plan.membw.leaves_per_pass());
            let salt = draws.bytes();
            let chunk = membw_leaf(&plan, &seed, &phase_seed, &membw_roots, output, leaf, salt)?;
            membw_leaves.push(Leaf {
                output,
                leaf,
                salt,
                chunk,
            });
        }
        Ok(Self {
            plan,
            seed,
            phase_seed,
            membw_roots,
            matmul_leaves,
            membw_leaves,
        })
    }

    /// The plan.
    pub fn plan(&self) -> &RoundPlan {
        &self.plan
    }

    /// Checks every leaf on the calling thread with `checker` and returns the time each
    /// module's leaves took. Fails if a leaf does not pass (the checker disagrees with the spec)
    /// or the checker fails.
    pub fn check(&self, checker: &impl LeafChecker) -> Result<RoundCost, CheckCostError> {
        let matmul_hash = ModuleHash::new(builtin_modules::MATMUL_I8.hash());
        let membw_hash = ModuleHash::new(builtin_modules::MEMBW.hash());
        let matmul_params = self.plan.matmul.encode();
        let membw_params = self.plan.membw.encode();
        let phase_seeds = [self.phase_seed];
        let matmul_s = self.check_leaves(
            checker,
            matmul::NAME,
            &CheckInput {
                module_hash: &matmul_hash,
                seed: self.seed,
                params: &matmul_params,
                roots: &[],
                phase_seeds: &[],
            },
            &self.matmul_leaves,
        )?;
        let membw_s = self.check_leaves(
            checker,
            membw::NAME,
            &CheckInput {
                module_hash: &membw_hash,
                seed: self.seed,
                params: &membw_params,
                roots: &self.membw_roots,
                phase_seeds: &phase_seeds,
            },
            &self.membw_leaves,
        )?;
        Ok(RoundCost {
            matmul_s: matmul_s.as_secs_f64(),
            membw_s: membw_s.as_secs_f64(),
        })
    }

    fn check_leaves(
        &self,
        checker: &impl LeafChecker,
        module: &'static str,
        input: &CheckInput<'_>,
        leaves: &[Leaf],
    ) -> Result<Duration, CheckCostError> {
        let started = Instant::now();
        for leaf in leaves {
            let request = CheckRequest {
                output: leaf.output,
                leaf: leaf.leaf,
                samples: self.plan.shape.samples,
                salt: leaf.salt,
                chunk: &leaf.chunk,
            };
            if checker.check_leaf(input, &request)? != CheckVerdict::Pass {
                return Err(CheckCostError::Rejected {
                    module,
                    output: leaf.output,
                    leaf: leaf.leaf,
                });
            }
        }
        Ok(started.elapsed())
    }
}

/// The honest bytes of `membw` leaf `leaf` of pass `pass` at the positions `salt` samples (the
/// module's `check` samples `samples.clamp(1, 128)` of them); zero elsewhere.
fn membw_leaf(
    plan: &RoundPlan,
    seed: &[u8; 32],
    phase_seed: &[u8; 32],
    roots: &[[u8; 32]],
    pass: u32,
    leaf: u64,
    salt: [u8; 32],
) -> Result<Vec<u8>, CheckCostError> {
    let p = &plan.membw;
    let len = commitment::leaf_len(p.pass_output_bytes(), leaf).unwrap_or(0);
    let mut chunk = vec![0u8; len];
    let previous = pass
        .checked_sub(1)
        .and_then(|i| roots.get(i as usize))
        .copied();
    let perm = Permutation::for_pass(p, phase_seed, pass, previous.as_ref())?;
    let key = prf::key(seed, membw::STREAM);
    let outputs = (len / membw::OUTPUT_BYTES) as u64;
    let request = CheckRequest {
        output: pass,
        leaf,
        samples: plan.shape.samples,
        salt,
        chunk: &[],
    };
    for j in 0..plan.shape.samples.clamp(1, 128) {
        let pos = request.sample(j, outputs);
        let value = membw::output(key, p, &perm, pass, leaf * membw::OUTPUTS_PER_LEAF + pos)?;
        let at = pos as usize * membw::OUTPUT_BYTES;
        if let Some(dst) = chunk.get_mut(at..at + membw::OUTPUT_BYTES) {
            dst.copy_from_slice(&value.to_le_bytes());
        }
    }
    Ok(chunk)
}

/// A checker with the built-in modules, for [`PreparedRound::check`]: the verifier's own.
pub fn checker() -> Result<SandboxChecker, CheckerError> {
    SandboxChecker::with_builtins()
}
