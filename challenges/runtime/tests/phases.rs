//! Host ABI v1.1's interactive phases: `gpu.phase_end` reports the committed roots to the
//! run's [`PhaseHook`], blocks until it answers, and hands the guest the phase seed
//! `prf::phase_seed(seed, k + 1, nonce)`; `gpu.phase_seed` gives it back on both sides; every
//! misuse is a status code, never a trap.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};

use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenge_runtime::{
    FixedNonces, MAX_PHASES, PhaseHook, PhaseRefused, Sandbox, SandboxError, SandboxLimits,
};
use challenges::abi::{CheckRequest, status};
use challenges::prf;

const IMPORTS: &str = r#"
  (import "gpu" "alloc" (func $alloc (param i64) (result i32)))
  (import "gpu" "commit" (func $commit (param i32) (result i32)))
  (import "gpu" "prf_fill" (func $fill (param i32 i64 i64 i64 i32 i64) (result i32)))
  (import "gpu" "phase_end" (func $phase_end (param i32) (result i32)))
  (import "gpu" "phase_seed" (func $phase_seed (param i32 i32) (result i32)))
"#;

/// A module whose `run` body is `run` and whose `check` body is `check`. Memory: page 0 is
/// scratch; the host writes params and requests at 1024.
fn module(run: &str, check: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module {IMPORTS}
            (memory (export "memory") 2)
            (func (export "alloc") (param i32) (result i32) (i32.const 1024))
            (func (export "run") (param i32 i32) (result i32) (local $h i32) (local $r i32) {run})
            (func (export "check") (param i32 i32 i32 i32) (result i32) (local $r i32) {check})
            (func (export "work") (param i32 i32 i32) (result i32) (i32.const 0)))"#
    ))
    .unwrap()
}

fn setup() -> (Sandbox, CpuBackend) {
    (
        Sandbox::new(SandboxLimits {
            fuel: 50_000_000,
            device_budget_bytes: 64 << 20,
            ..SandboxLimits::default()
        })
        .unwrap(),
        CpuBackend::new(CpuConfig {
            devices: 1,
            threads_per_device: 1,
            memory_bytes: 1 << 30,
        })
        .unwrap(),
    )
}

/// Commits one PRF-filled buffer, ends phase 0, checks that `phase_seed(1)` is what
/// `phase_end` wrote (else returns 99), commits a second buffer, ends phase 1.
const TWO_PHASES: &str = r#"
    (local.set $h (call $alloc (i64.const 4096)))
    (drop (call $fill (local.get $h) (i64.const 0) (i64.const 4096) (i64.const 0) (i32.const 1) (i64.const 0)))
    (drop (call $commit (local.get $h)))
    (local.set $r (call $phase_end (i32.const 0)))
    (if (i32.ne (local.get $r) (i32.const 0)) (then (return (local.get $r))))
    (local.set $r (call $phase_seed (i32.const 1) (i32.const 64)))
    (if (i32.ne (local.get $r) (i32.const 0)) (then (return (local.get $r))))
    (if (i64.ne (i64.load (i32.const 0)) (i64.load (i32.const 64))) (then (return (i32.const 99))))
    (if (i64.ne (i64.load (i32.const 24)) (i64.load (i32.const 88))) (then (return (i32.const 99))))
    (drop (call $fill (local.get $h) (i64.const 0) (i64.const 4096) (i64.const 0) (i32.const 2) (i64.const 0)))
    (drop (call $commit (local.get $h)))
    (local.set $r (call $phase_end (i32.const 128)))
    (if (i32.ne (local.get $r) (i32.const 0)) (then (return (local.get $r))))
    (i32.const 0)
"#;

/// One `phase_end` call: the phase that ended and the roots reported.
type Call = (u32, Vec<[u8; 32]>);

/// Records every call, answering with nonce `[k + 1; 32]` for phase `k`.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Call>>>);

impl PhaseHook for Recorder {
    fn phase_end(&mut self, ended: u32, roots: &[[u8; 32]]) -> Result<[u8; 32], PhaseRefused> {
        self.0.lock().unwrap().push((ended, roots.to_vec()));
        Ok([ended as u8 + 1; 32])
    }
}

#[test]
fn phase_end_reports_the_roots_so_far_and_returns_the_phase_seed() {
    let (sandbox, backend) = setup();
    let m = sandbox.load(&module(TWO_PHASES, "(i32.const 0)")).unwrap();
    let calls = Recorder::default();
    let seed = [7u8; 32];
    let run = sandbox
        .run_phased(&m, &backend, 0, seed, b"", Box::new(calls.clone()))
        .unwrap();
    let roots = run.roots();
    assert_eq!(roots.len(), 2);
    let calls = calls.0.lock().unwrap().clone();
    assert_eq!(calls, vec![(0, vec![roots[0]]), (1, roots.clone())]);
    assert_eq!(
        run.phase_seeds,
        vec![
            prf::phase_seed(&seed, 1, &[1; 32]),
            prf::phase_seed(&seed, 2, &[2; 32])
        ]
    );
}

#[test]
fn fixed_nonces_answer_in_order_and_refuse_past_the_end() {
    let (sandbox, backend) = setup();
    let m = sandbox.load(&module(TWO_PHASES, "(i32.const 0)")).unwrap();
    let run = sandbox
        .run_phased(
            &m,
            &backend,
            0,
            [1; 32],
            b"",
            Box::new(FixedNonces::new(vec![[5; 32], [6; 32]])),
        )
        .unwrap();
    assert_eq!(run.phase_seeds[1], prf::phase_seed(&[1; 32], 2, &[6; 32]));
    drop(run); // gives the device back
    let one = FixedNonces::new(vec![[5; 32]]);
    match sandbox.run_phased(&m, &backend, 0, [1; 32], b"", Box::new(one)) {
        Err(SandboxError::Status { code, detail, .. }) => {
            assert_eq!(code, status::PHASE);
            assert!(detail.contains("only 1 phase nonce"), "{detail}");
        }
        other => panic!("expected status PHASE, got {other:?}"),
    }
}

#[test]
fn a_run_without_a_verifier_refuses_phase_end() {
    let (sandbox, backend) = setup();
    let m = sandbox.load(&module(TWO_PHASES, "(i32.const 0)")).unwrap();
    match sandbox.run(&m, &backend, 0, [1; 32], b"") {
        Err(SandboxError::Status { code, detail, .. }) => {
            assert_eq!(code, status::PHASE);
            assert!(detail.contains("no verifier"), "{detail}");
        }
        other => panic!("expected status PHASE, got {other:?}"),
    }
}

/// A hook that must never be reached.
struct Untouchable;

impl PhaseHook for Untouchable {
    fn phase_end(&mut self, _: u32, _: &[[u8; 32]]) -> Result<[u8; 32], PhaseRefused> {
        panic!("phase_end reached the hook with a bad argument")
    }
}

#[test]
fn a_bad_seed_pointer_is_refused_before_the_verifier_is_asked() {
    let (sandbox, backend) = setup();
    let run = "(call $phase_end (i32.const 131060))"; // 12 bytes short of the 2-page end
    let m = sandbox.load(&module(run, "(i32.const 0)")).unwrap();
    match sandbox.run_phased(&m, &backend, 0, [1; 32], b"", Box::new(Untouchable)) {
        Err(SandboxError::Status { code, .. }) => assert_eq!(code, status::BAD_POINTER),
        other => panic!("expected BAD_POINTER, got {other:?}"),
    }
}

#[test]
fn phase_seed_of_a_phase_not_begun_is_out_of_range() {
    let (sandbox, backend) = setup();
    for phase in [0, 1, -1, i32::MAX] {
        let run = format!("(call $phase_seed (i32.const {phase}) (i32.const 0))");
        let m = sandbox.load(&module(&run, "(i32.const 0)")).unwrap();
        match sandbox.run_phased(&m, &backend, 0, [1; 32], b"", Box::new(Untouchable)) {
            Err(SandboxError::Status { code, .. }) => assert_eq!(code, status::OUT_OF_RANGE),
            other => panic!("phase {phase}: expected OUT_OF_RANGE, got {other:?}"),
        }
    }
}

#[test]
fn at_most_max_phases() {
    let (sandbox, backend) = setup();
    let run = r#"
        (block $out (loop $again
            (local.set $r (call $phase_end (i32.const 0)))
            (br_if $out (i32.ne (local.get $r) (i32.const 0)))
            (br $again)))
        (local.get $r)"#;
    let m = sandbox.load(&module(run, "(i32.const 0)")).unwrap();
    let nonces = FixedNonces::new(vec![[3; 32]; 2 * MAX_PHASES as usize]);
    match sandbox.run_phased(&m, &backend, 0, [1; 32], b"", Box::new(nonces)) {
        Err(SandboxError::Status { code, detail, .. }) => {
            assert_eq!(code, status::OUT_OF_RANGE);
            assert!(detail.contains(&MAX_PHASES.to_string()), "{detail}");
        }
        other => panic!("expected OUT_OF_RANGE, got {other:?}"),
    }
}

/// `check` returns the first byte of `phase_seed(1)` xor its first byte as the verifier
/// derived it, so 0 (pass) only when the seeds given reach the guest; `phase_end` there is
/// unavailable.
#[test]
fn the_check_side_reads_the_seeds_it_is_given_and_cannot_end_a_phase() {
    let (sandbox, _) = setup();
    let check = r#"
        (local.set $r (call $phase_end (i32.const 0)))
        (if (i32.ne (local.get $r) (i32.const -7)) (then (return (i32.const 1))))
        (local.set $r (call $phase_seed (i32.const 2) (i32.const 0)))
        (if (i32.ne (local.get $r) (i32.const -3)) (then (return (i32.const 1))))
        (local.set $r (call $phase_seed (i32.const 1) (i32.const 0)))
        (if (i32.ne (local.get $r) (i32.const 0)) (then (return (local.get $r))))
        (if (i32.ne (i32.load8_u (i32.const 0)) (i32.const 0xab)) (then (return (i32.const 1))))
        (i32.const 0)"#;
    let m = sandbox.load(&module("(i32.const 0)", check)).unwrap();
    let req = CheckRequest {
        output: 0,
        leaf: 0,
        samples: 1,
        salt: [0; 32],
        chunk: &[],
    };
    let verdict = sandbox
        .check(&m, [1; 32], b"", &[], &[[0xab; 32]], &req)
        .unwrap();
    assert_eq!(verdict, challenge_runtime::CheckVerdict::Pass);
    let verdict = sandbox
        .check(&m, [1; 32], b"", &[], &[[0xac; 32]], &req)
        .unwrap();
    assert_eq!(verdict, challenge_runtime::CheckVerdict::Fail);
    // Without seeds, phase_seed(1) is out of range and check returns that status.
    assert!(sandbox.check(&m, [1; 32], b"", &[], &[], &req).is_err());
}

/// Answers each phase after sleeping `.0`.
struct SlowVerifier(std::time::Duration);

impl PhaseHook for SlowVerifier {
    fn phase_end(&mut self, ended: u32, _: &[[u8; 32]]) -> Result<[u8; 32], PhaseRefused> {
        std::thread::sleep(self.0);
        Ok([ended as u8 + 1; 32])
    }
}

#[test]
fn waiting_for_phase_keys_is_neither_backend_nor_stage_time() {
    let (sandbox, backend) = setup();
    let m = sandbox.load(&module(TWO_PHASES, "(i32.const 0)")).unwrap();
    let pause = std::time::Duration::from_millis(30);
    let run = sandbox
        .run_phased(&m, &backend, 0, [7; 32], b"", Box::new(SlowVerifier(pause)))
        .unwrap();
    let t = run.timings;
    assert!(t.phase_wait >= pause * 2, "{t:?}");
    assert!(t.run >= t.phase_wait + t.backend, "{t:?}");
    let stages = t.stages.fill + t.stages.compute + t.stages.hash;
    assert!(stages <= t.backend, "{t:?}");
    assert!(t.stages.fill > std::time::Duration::ZERO, "{t:?}");
    assert!(t.stages.hash > std::time::Duration::ZERO, "{t:?}");
}
