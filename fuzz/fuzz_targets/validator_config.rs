//! Fuzzes `verifier::service::ValidatorConfig::parse(&str)` (the parser behind
//! `ValidatorConfig::load`) with arbitrary UTF-8, then its environment overrides: lines
//! `#!env NAME=VALUE` (TOML comments, so the parser ignores them) are handed to
//! `ValidatorConfig::apply_env` as the environment. An accepted config's `round.target_scale`
//! then scales the embedded class table's targets in the class planner, as the service does.
//!
//! Asserts: never a panic; an accepted config passes its own checks again (`apply_env` with no
//! variables), as does one after overrides were accepted (idempotent); its metrics address and
//! hotkey source resolve; every planned challenge (first GPU class, both modules) has params
//! its module decodes and an envelope that validates.
#![no_main]

use std::sync::OnceLock;

use challenges::{matmul::MatmulParams, membw::MembwParams};
use libfuzzer_sys::fuzz_target;
use protocol::GpuInfo;
use verifier::classes::{ClassKind, ClassTable};
use verifier::client::Planner;
use verifier::planner::ClassPlanner;
use transport::EnvOverrides;
use verifier::service::ValidatorConfig;

fn recheck(config: &ValidatorConfig, what: &str) {
    let mut again = config.clone();
    if let Err(e) = again.apply_env(&EnvOverrides::new(|_: &str| None)) {
        panic!("{what}: a config fails the checks it passed: {e}");
    }
    if let Err(e) = config.metrics.address() {
        panic!("{what}: bad metrics address accepted: {e}");
    }
    if let Err(e) = config.hotkey.source() {
        panic!("{what}: no hotkey source accepted: {e}");
    }
    let _ = config.round.interval();
}

fn plan(scale: f64) {
    static TABLE: OnceLock<Option<ClassTable>> = OnceLock::new();
    let Some(table) = TABLE.get_or_init(|| ClassTable::embedded().ok()) else {
        return;
    };
    let Some(class) = table.classes().iter().find(|c| c.kind() == ClassKind::Gpu) else {
        return;
    };
    let Some(name) = class.driver_names().first() else {
        return;
    };
    let planner = ClassPlanner::new(table.clone()).with_target_scale(scale);
    let device = GpuInfo {
        index: 0,
        name: name.clone(),
        uuid: String::new(),
        memory_bytes: 0,
        pci_bus_id: String::new(),
        pcie_gen: None,
        pcie_width: None,
    };
    for module in builtin_modules::ALL {
        let Ok(planned) = planner.plan(&device, module, false) else {
            continue;
        };
        let decodes = match module.name {
            "matmul-i8" => MatmulParams::decode(&planned.params).is_ok(),
            _ => MembwParams::decode(&planned.params).is_ok(),
        };
        assert!(
            decodes,
            "target_scale {scale}: planned {} params do not decode",
            module.name
        );
        if let Err(e) = planned.envelope.validate() {
            panic!(
                "target_scale {scale}: planned {} envelope is invalid: {e}",
                module.name
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match ValidatorConfig::parse(text) {
        Ok(config) => config,
        Err(e) => return gpuproof_fuzz::debug(|| format!("rejected: {e}")),
    };
    recheck(&config, "parse");
    let env: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("#!env "))
        .filter_map(|kv| kv.split_once('='))
        .collect();
    if !env.is_empty() {
        let mut overridden = config.clone();
        let var = |name: &str| {
            env.iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        match overridden.apply_env(&EnvOverrides::new(var)) {
            Ok(()) => recheck(&overridden, "apply_env"),
            Err(e) => gpuproof_fuzz::debug(|| format!("overrides rejected: {e}")),
        }
    }
    plan(config.round.target_scale);
});
