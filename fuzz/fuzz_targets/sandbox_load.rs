//! Fuzzes module loading and instantiation with arbitrary bytes: `Sandbox::load`, then (when it
//! loads) `run` on the CPU backend, leaf openings, `check` and `work` with small valid params of
//! both built-in modules, under the small limits of `gpuproof_fuzz::limits`.
//!
//! Asserts: never a panic, only typed errors; whatever a module does, committed outputs open
//! and verify (see `gpuproof_fuzz::exercise`); the unmodified built-in modules load, run,
//! pass their own check of a true leaf, and declare work, with their own params.
#![no_main]

use challenge_runtime::CheckVerdict;
use gpuproof_fuzz::{exercise, small_params, with_loaded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    with_loaded(data, |sandbox, loaded| {
        let builtin = builtin_modules::ALL.iter().position(|m| m.bytes == data);
        let module = match (loaded, builtin) {
            (Ok(module), _) => module,
            (Err(e), Some(i)) => panic!("built-in module #{i} does not load: {e}"),
            (Err(_), None) => return,
        };
        for (i, params) in small_params().iter().enumerate() {
            let seen = exercise(sandbox, &module, params);
            // `small_params` lists params in `builtin_modules::ALL` order.
            if builtin == Some(i) {
                assert!(
                    seen.run.is_ok(),
                    "built-in #{i} fails its run: {:?}",
                    seen.run
                );
                assert!(
                    matches!(seen.check, Ok(CheckVerdict::Pass)),
                    "built-in #{i} does not pass a true leaf: {:?}",
                    seen.check
                );
                assert!(
                    seen.work.is_ok(),
                    "built-in #{i} declares no work: {:?}",
                    seen.work
                );
            }
        }
    });
});
