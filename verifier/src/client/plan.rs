//! What to ask of each claimed device: a [`Planner`] turns a GPU of the miner's inventory and a
//! built-in module into sized params and the timing [`Envelope`] of the class it claims.

use builtin_modules::Builtin;
use protocol::GpuInfo;

use crate::classes::ClassError;
use crate::session::Envelope;

/// Why a claimed device cannot be challenged with a module this round. The round records it as
/// the device's error (no pass, no charge) and goes on with the other devices.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// No class of the table maps the claimed device name.
    #[error(
        "no class in the table maps the device name {name:?}; it cannot be scored (a class \
         table entry with this driver name adds it)"
    )]
    UnknownDevice {
        /// The name the miner's inventory claims.
        name: String,
    },
    /// The device claims the `cpu-reference` class, and it was not calibrated on this machine.
    #[error("cpu-reference is not calibrated on this machine")]
    CpuNotCalibrated,
    /// The planner has no challenge of this module.
    #[error("no challenge of module {module} is planned for this device")]
    NoSuchModule {
        /// The module's name.
        module: &'static str,
    },
    /// The class cannot size the module (its figures give no usable size or window).
    #[error(transparent)]
    Class(#[from] ClassError),
}

/// One planned challenge of one device.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The module.
    pub module: Builtin,
    /// Its binary params.
    pub params: Vec<u8>,
    /// The claimed class's window for these params (the whole challenge).
    pub envelope: Envelope,
    /// One window per interactive phase (protocol v2), in order; empty or one entry for a
    /// one-phase module (`SessionConfig::with_phases` keeps none then).
    pub phase_envelopes: Vec<Envelope>,
    /// The class the device's claimed name maps to.
    pub class: String,
    /// The class's rates as calibrated on this machine, for a `cpu` class (`cpu-reference`):
    /// the envelopes follow from the table and these (a receipt carries them, so its audit
    /// can recompute the envelopes). `None` for GPU classes, whose figures are the table's.
    pub cpu_rates: Option<crate::classes::CpuRates>,
}

/// Sizes challenges for claimed devices.
pub trait Planner: Send + Sync {
    /// The challenge of `module` for `gpu` (a smaller exact-work one when the machine is
    /// `rented`), or why the device cannot be challenged (e.g. an unknown device name).
    fn plan(&self, gpu: &GpuInfo, module: Builtin, rented: bool) -> Result<Planned, PlanError>;

    /// The class `gpu`'s claimed name maps to, `None` when it maps to none (the inventory
    /// check: an inventory with no classifiable GPU is a `protocol-error`). By default: the
    /// class of its `matmul-i8` plan.
    fn class_of(&self, gpu: &GpuInfo) -> Option<String> {
        self.plan(gpu, builtin_modules::MATMUL_I8, false)
            .ok()
            .map(|p| p.class)
    }
}
