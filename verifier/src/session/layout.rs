//! [`OutputLayout`]: how many outputs a challenge commits and how long each one is, derived from
//! the module and its params on the verifier's side, never from what the miner says.
//!
//! The layout fixes the tree shape every opening is checked against (docs/design.md: "the output's
//! length and the leaf index come from the verifier's own params and request, never from the
//! miner") and the population the leaves to open are drawn from. The built-in modules' layouts
//! come from their descriptors (`builtin_modules::ChallengeModule::outputs`: `matmul-i8` commits
//! `count` outputs of `4·m·n` bytes, `membw` `passes` outputs of `8·G` bytes). A module the
//! verifier does not know has no layout: the
//! host ABI has no export that declares one, so its caller must give it with
//! [`OutputLayout::uniform`].

use challenges::SpecError;
use challenges::commitment::leaf_count;
use challenges::matmul::MatmulParams;
use challenges::membw::MembwParams;
use protocol::limits::MAX_ROOTS;
use protocol::{LeafRef, ModuleHash};

/// Why no layout could be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The module is not a built-in one, so its layout is unknown.
    #[error(
        "module {0} is not a built-in module: give its output layout with OutputLayout::uniform"
    )]
    UnknownModule(ModuleHash),
    /// The params do not decode or break the module's rules.
    #[error("bad params: {0}")]
    Params(#[from] SpecError),
    /// The challenge commits no output, or more than a `Commitment` can carry.
    #[error("a challenge must commit between 1 and {max} outputs, these params give {outputs}")]
    OutputCount {
        /// Outputs the params give.
        outputs: u64,
        /// The protocol's limit (`protocol::limits::MAX_ROOTS`).
        max: usize,
    },
}

/// The outputs of one challenge: `outputs` outputs of `output_bytes` bytes each.
///
/// Guarantees: `1 ≤ outputs ≤ MAX_ROOTS`, and the total leaf count fits in a `u64` (each output
/// has at most 2^54 leaves and there are at most 256 outputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutputLayout {
    outputs: u32,
    output_bytes: u64,
}

impl OutputLayout {
    /// `outputs` outputs of `output_bytes` bytes each; fails unless `1 ≤ outputs ≤ MAX_ROOTS`.
    pub fn uniform(outputs: u32, output_bytes: u64) -> Result<Self, LayoutError> {
        let max = MAX_ROOTS;
        if outputs == 0 || usize::try_from(outputs).map_or(true, |n| n > max) {
            return Err(LayoutError::OutputCount {
                outputs: u64::from(outputs),
                max,
            });
        }
        Ok(Self {
            outputs,
            output_bytes,
        })
    }

    /// The layout of a built-in module with these binary params, from its descriptor.
    ///
    /// Fails for any other module hash, for params the module's spec rejects, and for params
    /// giving more outputs than a `Commitment` can carry.
    pub fn builtin(module_hash: &ModuleHash, params: &[u8]) -> Result<Self, LayoutError> {
        let module = builtin_modules::by_hash(module_hash.as_bytes())
            .ok_or(LayoutError::UnknownModule(*module_hash))?;
        let shape = module.spec().outputs(params)?;
        Self::counted(shape.outputs, shape.output_bytes)
    }

    /// `matmul-i8`: `count` outputs of `4·m·n` bytes (one 1 KiB tile per leaf).
    pub fn matmul(params: &MatmulParams) -> Result<Self, LayoutError> {
        params.validate()?;
        Self::counted(u64::from(params.count), params.product_bytes())
    }

    /// `membw`: `passes` outputs of `8·G` bytes (128 folds per leaf).
    pub fn membw(params: &MembwParams) -> Result<Self, LayoutError> {
        params.validate()?;
        Self::counted(u64::from(params.passes), params.pass_output_bytes())
    }

    fn counted(outputs: u64, output_bytes: u64) -> Result<Self, LayoutError> {
        let count = u32::try_from(outputs).map_err(|_| LayoutError::OutputCount {
            outputs,
            max: MAX_ROOTS,
        })?;
        Self::uniform(count, output_bytes)
    }

    /// Number of outputs (roots in the commitment).
    pub fn outputs(&self) -> u32 {
        self.outputs
    }

    /// Bytes of each output.
    pub fn output_bytes(&self) -> u64 {
        self.output_bytes
    }

    /// Leaves (1 KiB chunks) of each output; at least 1.
    pub fn leaves_per_output(&self) -> u64 {
        leaf_count(self.output_bytes)
    }

    /// Leaves of all outputs together; at least 1.
    pub fn total_leaves(&self) -> u64 {
        self.leaves_per_output()
            .saturating_mul(u64::from(self.outputs))
    }

    /// The leaf with global index `global` (outputs in order, leaves in order within each), or
    /// `None` past the last leaf. A bijection from `0..total_leaves()` onto all leaves.
    pub fn locate(&self, global: u64) -> Option<LeafRef> {
        let per = self.leaves_per_output();
        let output = u32::try_from(global.checked_div(per)?).ok()?;
        (output < self.outputs).then(|| LeafRef {
            output,
            leaf: global.checked_rem(per).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_layouts_follow_the_specs() {
        let mm = ModuleHash::new(builtin_modules::MATMUL_I8.hash());
        let params = MatmulParams {
            m: 32,
            n: 48,
            k: 16,
            count: 3,
        };
        let layout = OutputLayout::builtin(&mm, &params.encode()).unwrap();
        assert_eq!((layout.outputs(), layout.output_bytes()), (3, 4 * 32 * 48));
        assert_eq!(layout.leaves_per_output(), 6);
        assert_eq!(layout.total_leaves(), 18);

        let bw = ModuleHash::new(builtin_modules::MEMBW.hash());
        let params = MembwParams {
            bytes: 1 << 20,
            group: 1024,
            rounds: 1,
            passes: 2,
        };
        let layout = OutputLayout::builtin(&bw, &params.encode()).unwrap();
        assert_eq!((layout.outputs(), layout.output_bytes()), (2, 8 * 1024));
    }

    #[test]
    fn unknown_modules_and_bad_params_are_refused() {
        let other = ModuleHash::of(b"not a module");
        assert_eq!(
            OutputLayout::builtin(&other, &[]),
            Err(LayoutError::UnknownModule(other))
        );
        let mm = ModuleHash::new(builtin_modules::MATMUL_I8.hash());
        assert!(matches!(
            OutputLayout::builtin(&mm, &[1, 2, 3]),
            Err(LayoutError::Params(_))
        ));
        let over = u32::try_from(MAX_ROOTS + 1).unwrap();
        let many = MatmulParams {
            m: 16,
            n: 16,
            k: 16,
            count: over,
        };
        assert!(matches!(
            OutputLayout::matmul(&many),
            Err(LayoutError::OutputCount { outputs, .. }) if outputs == u64::from(over)
        ));
        assert!(OutputLayout::uniform(0, 10).is_err());
    }

    #[test]
    fn locate_walks_outputs_in_order() {
        let layout = OutputLayout::uniform(3, 2 * 1024 + 1).unwrap();
        assert_eq!(layout.total_leaves(), 9);
        let all: Vec<_> = (0..10).map(|g| layout.locate(g)).collect();
        assert_eq!(all[0], Some(LeafRef { output: 0, leaf: 0 }));
        assert_eq!(all[3], Some(LeafRef { output: 1, leaf: 0 }));
        assert_eq!(all[8], Some(LeafRef { output: 2, leaf: 2 }));
        assert_eq!(all[9], None);
    }
}
