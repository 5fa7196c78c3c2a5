//! [`ClassPlanner`]: sizes each claimed device's challenge from the GPU-class table
//! ([`crate::classes`]): the device's driver name picks the class; the class's target duration
//! sizes the params; the class's envelope judges them. `cpu-reference` devices use the class as
//! calibrated on this machine by [`ClassPlanner::calibrate_cpu`] before the round.

use builtin_modules::Builtin;
use protocol::GpuInfo;

use crate::classes::sizing::{class_error, sizing_target};
use crate::classes::{
    ClassError, ClassKind, ClassTable, CpuCalibration, GpuClass, calibrate_cpu_reference, envelope,
    refine_with_reference_runs, rented_window, step_envelopes,
};
use crate::client::{PlanError, Planned, Planner};
use crate::session::Envelope;

/// Plans challenges from a class table.
#[derive(Debug, Clone)]
pub struct ClassPlanner {
    table: ClassTable,
    cpu: Option<GpuClass>,
    target_scale: f64,
}

impl ClassPlanner {
    /// A planner over `table`; `cpu-reference` devices cannot be planned until
    /// [`calibrate_cpu`](Self::calibrate_cpu) has run.
    pub fn new(table: ClassTable) -> Self {
        Self {
            table,
            cpu: None,
            target_scale: 1.0,
        }
    }

    /// Scales every class's target duration by `scale` (e.g. 0.01 for tiny challenges in load
    /// tests). Values that are not positive and finite are ignored.
    pub fn with_target_scale(mut self, scale: f64) -> Self {
        if scale.is_finite() && scale > 0.0 {
            self.target_scale = scale;
        }
        self
    }

    /// Measures this machine's single-thread rates for the table's `cpu-reference` class: each
    /// kernel alone, then refined by one honest reference run of each module at this
    /// planner's target (`classes::refine_with_reference_runs`).
    pub fn calibrate_cpu(&mut self) -> Result<CpuCalibration, ClassError> {
        let base = self
            .table
            .classes()
            .iter()
            .find(|c| c.kind() == ClassKind::Cpu)
            .ok_or_else(|| ClassError::Calibration("the class table has no CPU class".into()))?;
        let calibration = calibrate_cpu_reference(base)?;
        let target = base.target_s() * self.target_scale;
        let calibration = refine_with_reference_runs(calibration, target)?;
        self.cpu = Some(calibration.class.clone());
        Ok(calibration)
    }

    /// Uses an already calibrated CPU class (e.g. shared by several planners).
    pub fn with_cpu_class(mut self, class: GpuClass) -> Self {
        self.cpu = Some(class);
        self
    }

    /// The class table.
    pub fn table(&self) -> &ClassTable {
        &self.table
    }

    fn class_for(&self, gpu: &GpuInfo) -> Result<&GpuClass, PlanError> {
        let class = self
            .table
            .classify(&gpu.name)
            .ok_or_else(|| PlanError::UnknownDevice {
                name: gpu.name.clone(),
            })?;
        if class.kind() == ClassKind::Cpu {
            return self.cpu.as_ref().ok_or(PlanError::CpuNotCalibrated);
        }
        Ok(class)
    }
}

impl Planner for ClassPlanner {
    fn class_of(&self, gpu: &GpuInfo) -> Option<String> {
        self.table.classify(&gpu.name).map(|c| c.id().to_string())
    }

    fn plan(&self, gpu: &GpuInfo, module: Builtin, rented: bool) -> Result<Planned, PlanError> {
        let class = self.class_for(gpu)?;
        let target = class.target_s() * self.target_scale;
        let sized = module
            .spec()
            .size(&sizing_target(class, target, rented))
            .map_err(class_error)?;
        let (params, work) = (sized.params, sized.work);
        // Every interactive phase is judged on its own part of the work (docs/design.md
        // §Interactive phases); a rented machine's small challenge gets the rented slack on
        // each phase as on the whole.
        let window = |e: Envelope| if rented { rented_window(e) } else { e };
        let whole = envelope(class, &work)?;
        let phases = step_envelopes(class, &work)?;
        Ok(Planned {
            module,
            params,
            envelope: window(whole),
            phase_envelopes: phases.into_iter().map(window).collect(),
            class: class.id().to_string(),
            cpu_rates: class.cpu_rates().copied(),
        })
    }
}
