//! Fuzzes the `gpu.*` host imports with arbitrary arguments on the CPU backend. The input is a
//! call program (`gpuproof_fuzz::decode_program`: up to 48 calls, each an import and one
//! argument per parameter, picked from listed values, raw constants, small numbers or the
//! previous call's result, so `alloc`'s handle can feed `prf_fill`, `commit`, ...). One fixed
//! module (`interpreter_module`, compiled once) interprets it from its params in each of `run`,
//! `check` and `work`, and it is run every way (`exercise`): the run side, the check side
//! (`tile_i8`, `membw_output`, `root`) and the work side each see the same calls.
//!
//! Asserts: the host never panics; every import answers a non-negative value or a status code
//! of ABI v1.1 (the module executes `unreachable` otherwise, and that trap fails the target);
//! nothing else traps but fuel; committed outputs open and verify.
#![no_main]

use challenge_runtime::{SandboxError, TrapKind};
use gpuproof_fuzz::{decode_program, encode_program, exercise, interpreter_module, with_loaded};
use libfuzzer_sys::fuzz_target;

fn no_contract_break<T: std::fmt::Debug>(phase: &str, result: &Result<T, SandboxError>) {
    if let Err(SandboxError::Trap { kind, .. }) = result {
        assert!(
            !matches!(kind, TrapKind::Unreachable),
            "{phase}: an import answered outside ABI v1.1's status codes"
        );
        assert!(
            matches!(kind, TrapKind::OutOfFuel),
            "{phase}: a call program trapped: {kind}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let steps = decode_program(data);
    if steps.is_empty() {
        return;
    }
    let program = encode_program(&steps);
    with_loaded(interpreter_module(), |sandbox, loaded| {
        let module = match loaded {
            Ok(module) => module,
            Err(e) => panic!("the interpreter module does not load (harness bug): {e}"),
        };
        let seen = exercise(sandbox, &module, &program);
        no_contract_break("run", &seen.run);
        no_contract_break("check", &seen.check);
        no_contract_break("work", &seen.work);
    });
});
