//! Hostile modules are contained: each ends with a typed error in bounded time, leaks nothing
//! on the device, and the host runs the next challenge normally.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenge_runtime::{Backend, Sandbox, SandboxError, SandboxLimits, TrapKind};
use challenges::abi::status;
use challenges::matmul::MatmulParams;

const IMPORTS: &str = r#"
  (import "gpu" "alloc" (func $alloc (param i64) (result i32)))
  (import "gpu" "free" (func $free (param i32) (result i32)))
  (import "gpu" "commit" (func $commit (param i32) (result i32)))
  (import "gpu" "gemm_i8" (func $gemm (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "gpu" "prf_fill" (func $fill (param i32 i64 i64 i64 i32 i64) (result i32)))
"#;

/// A module with the required exports whose `run` body is `run`, plus `extra` items.
fn module(run: &str, extra: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module {IMPORTS} {extra}
            (memory (export "memory") 2)
            (global $g (mut i32) (i32.const 0))
            (func (export "alloc") (param i32) (result i32) (i32.const 1024))
            (func (export "run") (param i32 i32) (result i32) (local $i i32) (local $h i32) {run})
            (func (export "check") (param i32 i32 i32 i32) (result i32) (i32.const 0))
            (func (export "work") (param i32 i32 i32) (result i32) (i32.const 0)))"#
    ))
    .unwrap()
}

fn limits() -> SandboxLimits {
    SandboxLimits {
        fuel: 50_000_000,
        device_budget_bytes: 64 << 20,
        max_buffers: 16,
        ..SandboxLimits::default()
    }
}

fn setup() -> (Sandbox, CpuBackend) {
    (
        Sandbox::new(limits()).unwrap(),
        CpuBackend::new(CpuConfig {
            devices: 1,
            threads_per_device: 1,
            memory_bytes: 1 << 30,
        })
        .unwrap(),
    )
}

/// Runs a hostile module, then proves the device was released and an honest challenge runs.
fn contained(bytes: &[u8]) -> Result<Vec<[u8; 32]>, SandboxError> {
    let (sandbox, backend) = setup();
    let start = Instant::now();
    let result = sandbox.load(bytes).and_then(|m| {
        sandbox
            .run(&m, &backend, 0, [1; 32], b"")
            .map(|r| r.roots())
    });
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "not contained in bounded time"
    );
    // Nothing leaked: the device opens again and an honest challenge runs on it.
    let honest = sandbox.load(builtin_modules::MATMUL_I8.bytes).unwrap();
    let p = MatmulParams {
        m: 16,
        n: 16,
        k: 16,
        count: 1,
    };
    let roots = sandbox
        .run(&honest, &backend, 0, [1; 32], &p.encode())
        .unwrap()
        .roots();
    assert_eq!(
        roots[0],
        *challenges::matmul::roots(&[1; 32], &p).unwrap()[0].as_bytes()
    );
    result
}

fn assert_trap(result: Result<Vec<[u8; 32]>, SandboxError>, phase: &str, kind: TrapKind) {
    match result {
        Err(SandboxError::Trap { phase: p, kind: k }) => {
            assert_eq!((p, &k), (phase, &kind));
        }
        other => panic!("expected a {phase} trap {kind:?}, got {other:?}"),
    }
}

fn assert_status(result: Result<Vec<[u8; 32]>, SandboxError>, code: i32) {
    match result {
        Err(SandboxError::Status {
            phase: "run",
            code: c,
            ..
        }) => assert_eq!(c, code),
        other => panic!("expected run status {code}, got {other:?}"),
    }
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    assert_trap(
        contained(&module("(loop $l (br $l)) (i32.const 0)", "")),
        "run",
        TrapKind::OutOfFuel,
    );
}

#[test]
fn start_function_that_loops_runs_out_of_fuel() {
    let bytes = module(
        "(i32.const 0)",
        "(func $spin (loop $l (br $l))) (start $spin)",
    );
    assert_trap(contained(&bytes), "start", TrapKind::OutOfFuel);
}

#[test]
fn memory_growth_bomb_hits_the_limit() {
    // Grow one page at a time until refused, then trap.
    let body =
        "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable";
    assert_trap(contained(&module(body, "")), "run", TrapKind::MemoryLimit);
}

#[test]
fn one_huge_device_allocation_is_refused() {
    let body = "(call $alloc (i64.const 0x7fffffffffff))";
    assert_status(contained(&module(body, "")), status::BUDGET);
}

#[test]
fn thousands_of_small_allocations_hit_the_buffer_limit() {
    // Allocate 4 KiB buffers until an error, and return that error.
    let body = "(loop $l (local.set $h (call $alloc (i64.const 4096))) (br_if $l (i32.gt_s (local.get $h) (i32.const 0)))) (local.get $h)";
    assert_status(contained(&module(body, "")), status::BUDGET);
}

#[test]
fn allocate_and_free_in_a_loop_leaks_nothing() {
    // 5 000 alloc/free pairs stay inside a 16-buffer limit because frees are honoured.
    let body = "(loop $l (local.set $h (call $alloc (i64.const 4096)))
                  (if (i32.le_s (local.get $h) (i32.const 0)) (then (return (local.get $h))))
                  (drop (call $free (local.get $h)))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $l (i32.lt_u (local.get $i) (i32.const 5000))))
                (i32.const 0)";
    assert_eq!(
        contained(&module(body, "")).unwrap(),
        Vec::<[u8; 32]>::new()
    );
}

#[test]
fn forged_and_freed_handles_are_refused() {
    assert_status(
        contained(&module("(call $commit (i32.const 12345))", "")),
        status::BAD_HANDLE,
    );
    let freed = "(local.set $h (call $alloc (i64.const 64))) (drop (call $free (local.get $h))) (call $commit (local.get $h))";
    assert_status(contained(&module(freed, "")), status::BAD_HANDLE);
    let double = "(local.set $h (call $alloc (i64.const 64))) (drop (call $free (local.get $h))) (call $free (local.get $h))";
    assert_status(contained(&module(double, "")), status::BAD_HANDLE);
}

#[test]
fn bad_sizes_and_shapes_are_refused() {
    let out_of_range = "(local.set $h (call $alloc (i64.const 64))) (call $fill (local.get $h) (i64.const 60) (i64.const 8) (i64.const 0) (i32.const 0) (i64.const 0))";
    assert_status(contained(&module(out_of_range, "")), status::OUT_OF_RANGE);
    let negative = "(local.set $h (call $alloc (i64.const 64))) (call $fill (local.get $h) (i64.const -1) (i64.const 8) (i64.const 0) (i32.const 0) (i64.const 0))";
    assert_status(contained(&module(negative, "")), status::OUT_OF_RANGE);
    let shape = "(local.set $h (call $alloc (i64.const 4096))) (call $gemm (local.get $h) (local.get $h) (local.get $h) (i32.const 17) (i32.const 16) (i32.const 16))";
    assert_status(contained(&module(shape, "")), status::BAD_SHAPE);
    let sizes = "(local.set $h (call $alloc (i64.const 4096))) (call $gemm (local.get $h) (local.get $h) (local.get $h) (i32.const 16) (i32.const 16) (i32.const 16))";
    assert_status(contained(&module(sizes, "")), status::BAD_SHAPE);
}

#[test]
fn wrong_import_signature_is_a_link_error() {
    let bytes = wat::parse_str(
        r#"(module (import "gpu" "alloc" (func (param i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "run") (param i32 i32) (result i32) (i32.const 0))
            (func (export "check") (param i32 i32 i32 i32) (result i32) (i32.const 0))
            (func (export "work") (param i32 i32 i32) (result i32) (i32.const 0)))"#,
    )
    .unwrap();
    let err = contained(&bytes).unwrap_err();
    assert!(
        matches!(&err, SandboxError::Link(msg) if msg.contains("alloc")),
        "{err}"
    );
}

#[test]
fn wrong_export_signature_is_refused() {
    let bytes = wat::parse_str(
        r#"(module (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "run") (param i64) (result i32) (i32.const 0))
            (func (export "check") (param i32 i32 i32 i32) (result i32) (i32.const 0))
            (func (export "work") (param i32 i32 i32) (result i32) (i32.const 0)))"#,
    )
    .unwrap();
    assert!(matches!(
        contained(&bytes),
        Err(SandboxError::MissingExport { name: "run", .. })
    ));
}

#[test]
fn wasi_and_unknown_imports_are_refused_by_name() {
    for (module_name, field) in [
        ("wasi_snapshot_preview1", "fd_write"),
        ("env", "abort"),
        ("gpu", "open_file"),
    ] {
        let bytes = wat::parse_str(format!(
            r#"(module (import "{module_name}" "{field}" (func (param i32) (result i32)))
                (memory (export "memory") 1))"#
        ))
        .unwrap();
        match contained(&bytes) {
            Err(e @ SandboxError::ForbiddenImport { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&format!("{module_name}.{field}")), "{msg}");
            }
            other => panic!("expected ForbiddenImport, got {other:?}"),
        }
    }
}

#[test]
fn trap_mid_run_after_allocating_is_cleaned_up() {
    // Allocate and commit device memory, then trap: the session is freed anyway.
    let body = "(local.set $h (call $alloc (i64.const 1048576))) (drop (call $commit (local.get $h))) (drop (i32.div_u (i32.const 1) (i32.const 0))) (i32.const 0)";
    assert_trap(contained(&module(body, "")), "run", TrapKind::Arithmetic);
    assert_trap(
        contained(&module("unreachable", "")),
        "run",
        TrapKind::Unreachable,
    );
}

#[test]
fn guest_memory_out_of_bounds_and_stack_overflow_are_typed() {
    assert_trap(
        contained(&module(
            "(drop (i32.load (i32.const 0x7ffffff0))) (i32.const 0)",
            "",
        )),
        "run",
        TrapKind::MemoryOutOfBounds,
    );
    let bytes = module("(call $rec) (i32.const 0)", "(func $rec (call $rec))");
    assert_trap(contained(&bytes), "run", TrapKind::StackOverflow);
}

#[test]
fn garbage_bytes_do_not_compile() {
    assert!(matches!(
        contained(b"\0asm\x01\0\0\0garbage"),
        Err(SandboxError::Compile { .. })
    ));
    assert!(matches!(contained(b""), Err(SandboxError::Compile { .. })));
}

#[test]
fn host_work_budget_bounds_a_loop_of_cheap_calls() {
    // A loop of PRF fills, each cheap in fuel but costly on the host, stops at the work budget.
    let sandbox = Sandbox::new(SandboxLimits {
        host_ops_budget: 1 << 24,
        ..limits()
    })
    .unwrap();
    let backend = CpuBackend::new(CpuConfig {
        devices: 1,
        threads_per_device: 1,
        memory_bytes: 1 << 30,
    })
    .unwrap();
    let body = "(local.set $h (call $alloc (i64.const 1048576)))
        (loop $l (local.set $i (call $fill (local.get $h) (i64.const 0) (i64.const 1048576) (i64.const 0) (i32.const 0) (i64.const 0)))
                 (br_if $l (i32.eqz (local.get $i))))
        (local.get $i)";
    let m = sandbox.load(&module(body, "")).unwrap();
    match sandbox.run(&m, &backend, 0, [0; 32], b"") {
        Err(SandboxError::Status { code, detail, .. }) => {
            assert_eq!(code, status::BUDGET);
            assert!(detail.contains("host work budget"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert!(backend.open(0).is_ok(), "device released");
}

#[test]
fn log_calls_are_charged_and_stop_reading_once_the_log_is_full() {
    let backend = CpuBackend::new(CpuConfig {
        devices: 1,
        threads_per_device: 1,
        memory_bytes: 1 << 30,
    })
    .unwrap();
    let log_import = r#"(import "gpu" "log" (func $log (param i32 i32) (result i32)))"#;
    // 10 000 lines of 100 bytes: 64 are kept, every call is charged its length.
    let body = "(loop $l (drop (call $log (i32.const 0) (i32.const 100)))
                 (local.set $i (i32.add (local.get $i) (i32.const 1)))
                 (br_if $l (i32.lt_u (local.get $i) (i32.const 10000))))
        (i32.const 0)";
    let bytes = module(body, log_import);
    let sandbox = Sandbox::new(limits()).unwrap();
    let m = sandbox.load(&bytes).unwrap();
    let outcome = sandbox.run(&m, &backend, 0, [0; 32], b"").unwrap();
    assert_eq!(outcome.logs.len(), limits().max_log_lines as usize);
    assert_eq!(outcome.host_ops, 10_000 * 100);
    drop(outcome); // frees the device

    // An endless loop of logging ends at the host work budget, not at the fuel limit.
    let body = "(loop $l (local.set $i (call $log (i32.const 0) (i32.const 1024)))
                 (br_if $l (i32.eqz (local.get $i))))
        (local.get $i)";
    let sandbox = Sandbox::new(SandboxLimits {
        host_ops_budget: 1 << 20,
        ..limits()
    })
    .unwrap();
    let m = sandbox.load(&module(body, log_import)).unwrap();
    match sandbox.run(&m, &backend, 0, [0; 32], b"") {
        Err(SandboxError::Status { code, detail, .. }) => {
            assert_eq!(code, status::BUDGET);
            assert!(detail.contains("host work budget"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

/// A module that differs from the others only by the constant its `run` returns.
fn numbered_module(n: i32) -> Vec<u8> {
    module(&format!("(drop (i32.const {n})) (i32.const 0)"), "")
}

#[test]
fn the_module_cache_is_bounded_and_keeps_pinned_modules() {
    let sandbox = Sandbox::new(SandboxLimits {
        max_cached_modules: 4,
        ..limits()
    })
    .unwrap();
    let builtin = sandbox
        .load_pinned(builtin_modules::MATMUL_I8.bytes)
        .unwrap();
    let first = sandbox.load(&numbered_module(0)).unwrap();
    // Loading 40 distinct modules keeps 4 of them, plus the pinned one.
    for n in 1..40 {
        sandbox.load(&numbered_module(n)).unwrap();
        // Keep module 0 recently used: it is never the one evicted.
        assert!(
            sandbox.cached(&first.hash()).is_some(),
            "module 0 evicted at {n}"
        );
        assert!(
            sandbox.cached_count() <= 5,
            "{} cached",
            sandbox.cached_count()
        );
    }
    assert_eq!(sandbox.cached_count(), 5);
    assert!(
        sandbox.cached(&builtin.hash()).is_some(),
        "pinned module evicted"
    );
    let evicted = blake3::hash(&numbered_module(1));
    assert!(sandbox.cached(evicted.as_bytes()).is_none());
    // The most recent ones are there; an evicted module loads again (and compiles anew).
    let last = blake3::hash(&numbered_module(39));
    assert!(sandbox.cached(last.as_bytes()).is_some());
    let again = sandbox.load(&numbered_module(1)).unwrap();
    assert_eq!(again.hash(), *evicted.as_bytes());
    // A handle outlives its eviction: module 1 still runs after 4 newer ones push it out.
    for n in 100..104 {
        sandbox.load(&numbered_module(n)).unwrap();
    }
    assert!(sandbox.cached(evicted.as_bytes()).is_none());
    let backend = CpuBackend::new(CpuConfig {
        devices: 1,
        threads_per_device: 1,
        memory_bytes: 1 << 30,
    })
    .unwrap();
    assert!(sandbox.run(&again, &backend, 0, [0; 32], b"").is_ok());
}
