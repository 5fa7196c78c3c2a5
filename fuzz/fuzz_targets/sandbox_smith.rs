//! Fuzzes the sandbox with valid modules: wasm-smith turns the input into a module that may
//! import any `gpu.*` function of ABI v1 and exports exactly `memory`, `alloc`, `run`,
//! `check` and `work` (see `gpuproof_fuzz::smith_config`), then it is loaded and run every way
//! (`gpuproof_fuzz::exercise`) on the CPU backend under small fuel, memory and device budgets.
//!
//! Asserts: such a module always loads (it is valid, imports only the ABI and exports what
//! the sandbox requires); running it never panics the host, only typed errors; committed
//! outputs open and verify.
#![no_main]

use gpuproof_fuzz::{exercise, small_params, smith_config, with_loaded};
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The last byte picks the params; the rest drives the generator.
    let Some((&which, rest)) = data.split_last() else {
        return;
    };
    let mut u = Unstructured::new(rest);
    let Ok(module) = wasm_smith::Module::new(smith_config(), &mut u) else {
        return;
    };
    let bytes = module.to_bytes();
    with_loaded(&bytes, |sandbox, loaded| {
        let module = match loaded {
            Ok(module) => module,
            Err(e) => panic!("a generated module with only ABI imports does not load: {e}"),
        };
        let params = &small_params()[usize::from(which) % 2];
        let _ = exercise(sandbox, &module, params);
    });
});
