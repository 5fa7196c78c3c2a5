//! Fuzzes the GPU-class table parser, `verifier::classes::ClassTable::from_toml(&str)` (the
//! parser behind `ClassTable::load(path)` and the embedded `classes.toml`), and what the
//! verifier does with an accepted table: the class planner sizing both built-in modules for each
//! class (the first `MAX_PLANNED` classes), full and rented (the CPU class with fixed rates in
//! place of the service's calibration).
//!
//! Asserts: never a panic; driver-name normalisation is idempotent; in an accepted table every
//! class is found by its id and by each of its driver names, and replacing a class by itself
//! gives the same table; every planned challenge has params its module decodes and an envelope
//! that validates (`0 ≤ peak_floor ≤ min ≤ max`, finite).
#![no_main]

use builtin_modules::Builtin;
use challenges::{matmul::MatmulParams, membw::MembwParams};
use libfuzzer_sys::fuzz_target;
use protocol::GpuInfo;
use verifier::classes::{ClassKind, ClassTable, CpuRates, normalize_driver_name};
use verifier::client::Planner;
use verifier::planner::ClassPlanner;

const MAX_PLANNED: usize = 4;

fn gpu(name: &str) -> GpuInfo {
    GpuInfo {
        index: 0,
        name: name.to_string(),
        uuid: String::new(),
        memory_bytes: 0,
        pci_bus_id: String::new(),
        pcie_gen: None,
        pcie_width: None,
    }
}

fn params_decode(module: &Builtin, params: &[u8]) -> bool {
    match module.name {
        "matmul-i8" => MatmulParams::decode(params).is_ok(),
        "membw" => MembwParams::decode(params).is_ok(),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines().take(8) {
        let once = normalize_driver_name(line);
        assert_eq!(
            normalize_driver_name(&once),
            once,
            "normalisation is not idempotent"
        );
    }
    let table = match ClassTable::from_toml(text) {
        Ok(table) => table,
        Err(e) => return gpuproof_fuzz::debug(|| format!("rejected: {e}")),
    };
    assert!(
        !table.classes().is_empty(),
        "an accepted table has no class"
    );
    for class in table.classes() {
        let by_id = table.get(class.id()).map(|c| c.id());
        assert_eq!(
            by_id,
            Some(class.id()),
            "class {} not found by id",
            class.id()
        );
        for name in class.driver_names() {
            let found = table.classify(name).map(|c| c.id());
            assert_eq!(
                found,
                Some(class.id()),
                "driver name {name:?} maps elsewhere"
            );
        }
        let same = table
            .with_class(class.clone())
            .expect("replacing a class by itself is accepted");
        assert_eq!(same, table, "replacing a class by itself changed the table");
    }
    let mut planner = ClassPlanner::new(table.clone());
    // The service calibrates the CPU class on its machine; here it gets fixed rates of the
    // order a single core measures.
    if let Some(cpu) = table.classes().iter().find(|c| c.kind() == ClassKind::Cpu) {
        let rates = CpuRates {
            prf_fill_blocks_per_s: 5.0e7,
            gemm_ops_per_s: 2.0e10,
            hash_bytes_per_s: 1.0e9,
            membw_fill_blocks_per_s: 3.0e7,
            membw_pass_bytes_per_s: 5.0e9,
        };
        match cpu.with_cpu_rates(rates) {
            Ok(calibrated) => planner = planner.with_cpu_class(calibrated),
            Err(e) => gpuproof_fuzz::debug(|| format!("cpu rates refused: {e}")),
        }
    }
    for class in table.classes().iter().take(MAX_PLANNED) {
        let Some(name) = class.driver_names().first() else {
            continue;
        };
        let device = gpu(name);
        for module in builtin_modules::ALL {
            for rented in [false, true] {
                let planned = match planner.plan(&device, module, rented) {
                    Ok(planned) => planned,
                    Err(e) => {
                        gpuproof_fuzz::debug(|| format!("{} {}: {e}", class.id(), module.name));
                        continue;
                    }
                };
                assert!(
                    params_decode(&module, &planned.params),
                    "class {}: planned {} params do not decode (rented: {rented})",
                    class.id(),
                    module.name
                );
                if let Err(e) = planned.envelope.validate() {
                    panic!(
                        "class {}: planned {} envelope is invalid (rented: {rented}): {e}",
                        class.id(),
                        module.name
                    );
                }
            }
        }
    }
});
