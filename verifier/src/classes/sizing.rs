//! Challenge sizing for a GPU class: the built-in modules' descriptors size their params
//! (`builtin_modules::matmul` and `builtin_modules::membw` hold the rules and their docs); this
//! module gives them the class (its memory, `R` and time model, through
//! [`builtin_modules::SizingClass`]) and returns typed [`Sizing`]s with the model's
//! per-phase expected time. Pure functions: no I/O, no clock.
//!
//! Rented machines get a small exact-work `matmul-i8` ([`size_rented`]) and a small `membw`
//! ([`size_rented_membw`]), judged leniently by [`rented_envelope`] (the renter shares the
//! device): they prove that a device of the class still computes exact results and holds and
//! reads memory at the class's rate, not its full speed.

use std::error::Error;

use builtin_modules::{SizingClass, SizingError, SizingTarget, matmul as mm, membw as bw};
use challenge_runtime::SandboxLimits;
use challenges::matmul::MatmulParams;
use challenges::membw::MembwParams;
use challenges::work::Work;

use super::ClassError;
use super::model::{ExpectedTime, envelope, expected_time};
use super::table::GpuClass;
use crate::session::Envelope;

pub use builtin_modules::SizeLimit;
pub use builtin_modules::matmul::held_bytes as matmul_held_bytes;
pub use builtin_modules::membw::held_bytes as membw_held_bytes;

/// Fraction of the class memory a `matmul-i8` challenge may hold.
pub const MATMUL_MEMORY_FRACTION: f64 = mm::MEMORY_FRACTION;
/// Fraction of the class memory a `membw` challenge may hold (buffer and pass outputs).
pub const MEMBW_MEMORY_FRACTION: f64 = bw::MEMORY_FRACTION;
/// Least fraction of the class memory the `membw` buffer `V` covers.
pub const MEMBW_MIN_FRACTION: f64 = bw::MIN_FRACTION;
/// Smallest `K` the sizer picks for full challenges (and the `K` of rented ones).
pub const MATMUL_MIN_K: u32 = mm::MIN_K;
/// Largest product side `S` the sizer picks (a 256 MiB `i32` product).
pub const MATMUL_MAX_SIDE: u32 = mm::MAX_SIDE;
/// Fewest products of a full `matmul-i8` challenge.
pub const MATMUL_MIN_PRODUCTS: u32 = mm::MIN_PRODUCTS;
/// Smallest `membw` group the sizer picks.
pub const MEMBW_MIN_GROUP: u32 = bw::MIN_GROUP;
/// Most memory a rented machine's challenge may hold.
pub const RENTED_MEMORY_CAP: u64 = mm::RENTED_MEMORY_CAP;
/// Most memory a rented machine's challenge may hold, as a fraction of the class memory.
pub const RENTED_MEMORY_FRACTION: f64 = mm::RENTED_MEMORY_FRACTION;
/// The buffer of a rented machine's small `membw` (docs/design.md: at least 1 GiB).
pub const RENTED_MEMBW_BYTES: u64 = bw::RENTED_BYTES;
/// Suggested target of a rented machine's challenge, in seconds.
pub const RENTED_TARGET_S: f64 = 0.05;
/// How much slower than the class's `max_s` a rented device may be (its renter's kernels share
/// it), in [`rented_envelope`].
pub const RENTED_SLOWDOWN: f64 = 10.0;
/// Fixed slack added to a rented challenge's `max_s` (module start and one commit dominate a
/// challenge of a few milliseconds), in seconds.
pub const RENTED_SLACK_S: f64 = 0.25;

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

impl SizingClass for GpuClass {
    fn id(&self) -> &str {
        GpuClass::id(self)
    }

    fn memory_bytes(&self) -> u64 {
        GpuClass::memory_bytes(self)
    }

    fn membw_rounds(&self) -> u32 {
        GpuClass::membw_rounds(self)
    }

    fn expected_s(&self, work: &Work) -> Result<f64, Box<dyn Error + Send + Sync>> {
        Ok(expected_time(self, work)?.seconds)
    }
}

/// The most outputs a sized challenge may commit: the sandbox's default cap and the roots a
/// `Commitment` carries (`protocol::limits::MAX_ROOTS`).
pub fn max_outputs() -> u32 {
    let max_roots = u32::try_from(protocol::limits::MAX_ROOTS).unwrap_or(u32::MAX);
    SandboxLimits::default().max_outputs.min(max_roots)
}

/// What the descriptors size for: `class` at `target_s`, full or rented.
pub fn sizing_target(class: &GpuClass, target_s: f64, rented: bool) -> SizingTarget<'_> {
    SizingTarget {
        class,
        target_s,
        max_outputs: max_outputs(),
        rented,
    }
}

/// The verifier's error for a descriptor's sizing error (the time model's own errors come back
/// as they were).
pub fn class_error(e: SizingError) -> ClassError {
    match e {
        SizingError::BadTarget(t) => ClassError::BadTarget(t),
        SizingError::Unsizable {
            module,
            class,
            reason,
        } => ClassError::Unsizable {
            module,
            class,
            reason,
        },
        SizingError::Model {
            module,
            class,
            source,
        } => match source.downcast_ref::<ClassError>() {
            Some(e) => e.clone(),
            None => ClassError::Unsizable {
                module,
                class,
                reason: source.to_string(),
            },
        },
    }
}

fn typed<P>(class: &GpuClass, sized: builtin_modules::Sized<P>) -> Result<Sizing<P>, ClassError> {
    Ok(Sizing {
        expected: expected_time(class, &sized.work)?,
        params: sized.params,
        work: sized.work,
        held_bytes: sized.held_bytes,
        target_s: sized.target_s,
        limit: sized.limit,
    })
}

/// A full `matmul-i8` challenge for `class` whose expected time is `target_s`
/// (`builtin_modules::matmul`, §Sizing). Fails for a non-positive target, an uncalibrated CPU
/// class, or a class too small for any challenge.
pub fn size_matmul(class: &GpuClass, target_s: f64) -> Result<Sizing<MatmulParams>, ClassError> {
    let sized = mm::size_full(&sizing_target(class, target_s, false)).map_err(class_error)?;
    typed(class, sized)
}

/// The small exact-work `matmul-i8` of a rented machine (`builtin_modules::matmul`,
/// §Sizing), expected time at most about `target_s`.
pub fn size_rented(class: &GpuClass, target_s: f64) -> Result<Sizing<MatmulParams>, ClassError> {
    let sized = mm::size_rented(&sizing_target(class, target_s, true)).map_err(class_error)?;
    typed(class, sized)
}

/// The small `membw` of a rented machine (`builtin_modules::membw`, §Sizing). Judged by
/// [`rented_envelope`].
pub fn size_rented_membw(class: &GpuClass) -> Result<Sizing<MembwParams>, ClassError> {
    let sized = bw::size_rented(&sizing_target(class, 1.0, true)).map_err(class_error)?;
    typed(class, sized)
}

/// A full `membw` challenge for `class` whose expected time is `target_s`
/// (`builtin_modules::membw`, §Sizing). Fails for a non-positive target, an uncalibrated CPU
/// class, or a class whose memory cannot hold a buffer of 90 % of it.
pub fn size_membw(class: &GpuClass, target_s: f64) -> Result<Sizing<MembwParams>, ClassError> {
    let sized = bw::size_full(&sizing_target(class, target_s, false)).map_err(class_error)?;
    typed(class, sized)
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
