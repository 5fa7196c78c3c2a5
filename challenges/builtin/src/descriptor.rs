//! [`ChallengeModule`]: everything the host side knows about one challenge module, in the one
//! place the module owns (its file in this crate): its name and bytes, its params' binary and
//! JSON forms, its output layout, its work per interactive phase, how to size it for a device
//! class, and what checking one opened leaf costs the verifier.
//!
//! The binaries never match module names: `miner-host` turns JSON params into bytes, the
//! verifier derives output layouts, plans and sizes challenges through this trait, whatever the
//! module. Adding a module means its crate under `challenges/modules/`, its file here, and one
//! entry in [`crate::ALL`].

use std::error::Error;

use challenges::SpecError;
use challenges::work::Work;

/// Why params given in their JSON form are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    /// The JSON does not have the module's shape.
    #[error("params {json} do not fit {module}: {detail}; expected {shape}")]
    Shape {
        /// The module.
        module: &'static str,
        /// The JSON given.
        json: String,
        /// What the JSON parser said.
        detail: String,
        /// The shape the module takes (its fields).
        shape: &'static str,
    },
    /// The JSON has the right shape but breaks the module's rules.
    #[error("params {json} break the rules of {module}: {source}")]
    Rules {
        /// The module.
        module: &'static str,
        /// The JSON given.
        json: String,
        /// The rule broken.
        source: SpecError,
    },
}

/// How many outputs a challenge commits and how long each is: the shape of the trees its
/// openings are checked against. Derived from the params alone, never from the miner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputShape {
    /// Outputs (roots of the commitment).
    pub outputs: u64,
    /// Bytes of each output.
    pub output_bytes: u64,
}

/// What the verifier computes to check one opened leaf: Philox blocks generated and int8
/// multiply-adds (per sampled output for sampling modules, times the samples).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckCost {
    /// Philox4x32-10 calls.
    pub philox_calls: u64,
    /// int8 × int8 → int32 multiply-adds.
    pub multiply_adds: u64,
}

/// What a sizer needs to know about the device class it sizes a challenge for. The verifier's
/// GPU classes implement it with their time model.
pub trait SizingClass {
    /// The class id, for errors.
    fn id(&self) -> &str;
    /// Device memory in bytes.
    fn memory_bytes(&self) -> u64;
    /// `membw`'s fill rounds `R` for this class (a minimum).
    fn membw_rounds(&self) -> u32;
    /// Expected seconds of `work` on this class at its nominal efficiencies.
    fn expected_s(&self, work: &Work) -> Result<f64, Box<dyn Error + Send + Sync>>;
}

/// What to size for.
#[derive(Clone, Copy)]
pub struct SizingTarget<'a> {
    /// The claimed class.
    pub class: &'a dyn SizingClass,
    /// The duration the challenge should take on it, seconds (positive, finite).
    pub target_s: f64,
    /// The most outputs a challenge may commit (the sandbox's and the protocol's caps).
    pub max_outputs: u32,
    /// A rented machine's small exact-work challenge instead of the full one.
    pub rented: bool,
}

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

/// A sized challenge: valid params (typed `P`), their work, what they hold on the device.
#[derive(Debug, Clone, PartialEq)]
pub struct Sized<P> {
    /// Params that pass the module's `validate`.
    pub params: P,
    /// The module's work for them.
    pub work: Work,
    /// Expected seconds on the class (nominal efficiencies).
    pub expected_s: f64,
    /// Bytes the challenge holds on the device at its peak (within the sizing's budget).
    pub held_bytes: u64,
    /// The target asked for, in seconds.
    pub target_s: f64,
    /// `None` when the expected time is the target (to within the params' granularity);
    /// otherwise why it is not.
    pub limit: Option<SizeLimit>,
}

/// Why no challenge could be sized.
#[derive(Debug, thiserror::Error)]
pub enum SizingError {
    /// The target is not a positive, finite number of seconds.
    #[error("target duration {0} s is not a positive finite number")]
    BadTarget(f64),
    /// No valid challenge fits the class.
    #[error("cannot size {module} for class {class}: {reason}")]
    Unsizable {
        /// The module.
        module: &'static str,
        /// The class.
        class: String,
        /// Why.
        reason: String,
    },
    /// The class's time model could not price the work.
    #[error("cannot price {module} on class {class}: {source}")]
    Model {
        /// The module.
        module: &'static str,
        /// The class.
        class: String,
        /// The model's error.
        source: Box<dyn Error + Send + Sync>,
    },
}

/// One challenge module, as the host side sees it (module docs).
pub trait ChallengeModule: Send + Sync {
    /// The name used on the command line and in logs (`matmul-i8`).
    fn name(&self) -> &'static str;
    /// The interactive phases the module goes through (docs/design.md §Interactive phases; 1 for a
    /// module that never calls `gpu.phase_end`).
    fn phases(&self) -> u32;
    /// Binary params from their JSON form, validated by the module's rules.
    fn params_from_json(&self, json: &str) -> Result<Vec<u8>, ParamsError>;
    /// The JSON form of binary params (fails for params that do not decode or break the
    /// rules).
    fn params_to_json(&self, params: &[u8]) -> Result<String, SpecError>;
    /// The outputs these params commit.
    fn outputs(&self, params: &[u8]) -> Result<OutputShape, SpecError>;
    /// The work of these params, each part tagged with its interactive phase.
    fn work(&self, params: &[u8]) -> Result<Work, SpecError>;
    /// What the verifier computes to check one opened leaf of these params, with `samples`
    /// sampled outputs per leaf where the module samples (`membw`).
    fn check_cost(&self, params: &[u8], samples: u32) -> Result<CheckCost, SpecError>;
    /// Params for `target` (the full challenge, or a rented machine's small one).
    fn size(&self, target: &SizingTarget<'_>) -> Result<Sized<Vec<u8>>, SizingError>;
}

/// `Sized<P>` with its params encoded.
pub(crate) fn encoded<P>(sized: Sized<P>, encode: impl FnOnce(&P) -> Vec<u8>) -> Sized<Vec<u8>> {
    Sized {
        params: encode(&sized.params),
        work: sized.work,
        expected_s: sized.expected_s,
        held_bytes: sized.held_bytes,
        target_s: sized.target_s,
        limit: sized.limit,
    }
}

/// The expected seconds of `work` on `class`, as a sizing error when the model fails.
pub(crate) fn priced(
    module: &'static str,
    class: &dyn SizingClass,
    work: &Work,
) -> Result<f64, SizingError> {
    class.expected_s(work).map_err(|source| SizingError::Model {
        module,
        class: class.id().to_string(),
        source,
    })
}

/// `Ok` for a positive, finite target.
pub(crate) fn check_target(target_s: f64) -> Result<(), SizingError> {
    if target_s.is_finite() && target_s > 0.0 {
        Ok(())
    } else {
        Err(SizingError::BadTarget(target_s))
    }
}

/// `bytes × f`, rounded down (memory sizes are far below 2^53, so exact enough).
pub(crate) fn fraction(bytes: u64, f: f64) -> u64 {
    (bytes as f64 * f).floor() as u64
}

/// The largest `x` in `lo..=hi` with `pred(x)`, for a predicate true up to some point and false
/// after it; `None` if `pred(lo)` is false.
pub(crate) fn last_true<E>(
    lo: u64,
    hi: u64,
    mut pred: impl FnMut(u64) -> Result<bool, E>,
) -> Result<Option<u64>, E> {
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

/// Relative distance from the target below which a sizing counts as reaching it.
pub(crate) const TOLERANCE: f64 = 0.01;
