//! Shared pieces of the gpuproof fuzz targets: small sandbox limits so each exec is fast, one
//! CPU backend per process, the `gpu.*` import signatures of host ABI v1, the wasm modules the
//! sandbox targets build (wasm-smith's import/export shapes and `abi_calls`' call programs),
//! and [`exercise`], which runs a loaded module every way the sandbox can and checks what
//! comes back.
//!
//! Nothing here unwraps fuzzer data: a panic in this crate is a harness bug or a finding.

use std::sync::OnceLock;

use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenge_runtime::{CheckVerdict, LoadedModule, Sandbox, SandboxError, SandboxLimits};
use challenges::abi::{self, CheckRequest, WorkRecord};
use challenges::commitment::{self, Opening};
use challenges::matmul::MatmulParams;
use challenges::membw::MembwParams;
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection,
    Function, FunctionSection, GlobalSection, GlobalType, ImportSection, MemArg, MemArgTarget,
    MemorySection, MemoryType, Module, TypeSection, ValType,
};

/// Largest guest memory of the fuzzing sandbox (the built-in modules need about 1.1 MiB).
pub const GUEST_MEMORY: usize = 4 << 20;

/// The limits every fuzz exec runs under: small enough that the worst module or call sequence
/// costs milliseconds, large enough that the built-in modules pass with [`small_params`].
pub fn limits() -> SandboxLimits {
    SandboxLimits {
        guest_memory_bytes: GUEST_MEMORY,
        fuel: 5_000_000,
        device_budget_bytes: 1 << 20,
        max_buffers: 8,
        max_outputs: 8,
        host_ops_budget: 1 << 22,
        max_log_lines: 4,
        max_instances: 4,
        max_cached_modules: 64,
    }
}

thread_local! {
    static SANDBOX: Sandbox = Sandbox::new(limits()).expect("the fuzz sandbox configures");
}

/// Loads `bytes` into this thread's sandbox (built with [`limits`]) and runs `f` with the
/// sandbox and what `load` answered. The sandbox's bounded cache (64 modules, least recently
/// used evicted) keeps a long run's memory flat; a cached module costs nothing to load again.
pub fn with_loaded<R>(
    bytes: &[u8],
    f: impl FnOnce(&Sandbox, Result<LoadedModule, SandboxError>) -> R,
) -> R {
    SANDBOX.with(|sandbox| f(sandbox, sandbox.load(bytes)))
}

/// Prints `what()` to stderr when `FUZZ_DEBUG` is set (read once): why an input was rejected,
/// when running a target by hand on one file.
pub fn debug(what: impl FnOnce() -> String) {
    static ON: OnceLock<bool> = OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("FUZZ_DEBUG").is_some()) {
        eprintln!("FUZZ_DEBUG: {}", what());
    }
}

/// True when the known, unfixed bug `id` should be let pass: `FUZZ_SKIP_KNOWN` is set (read
/// once; `1` for every known bug, or a comma-separated list of ids). Long runs and the smoke
/// run's fuzzing set it so a known bug does not stop the search for new ones; replays of
/// `fuzz/regressions/` leave it unset, so `open-*` inputs still fail until the bug is fixed.
/// Ids are listed under "Findings" in `fuzz/README.md`.
pub fn known(id: &str) -> bool {
    static SKIP: OnceLock<Option<String>> = OnceLock::new();
    match SKIP.get_or_init(|| std::env::var("FUZZ_SKIP_KNOWN").ok()) {
        Some(list) => list == "1" || list.split(',').any(|s| s.trim() == id),
        None => false,
    }
}

/// The process's CPU backend: one device, one worker thread, 64 MiB reported.
pub fn backend() -> &'static CpuBackend {
    static BACKEND: OnceLock<CpuBackend> = OnceLock::new();
    BACKEND.get_or_init(|| {
        CpuBackend::new(CpuConfig {
            devices: 1,
            threads_per_device: 1,
            memory_bytes: 64 << 20,
        })
        .expect("the fuzz CPU backend starts")
    })
}

/// Small valid params of both built-in modules: `matmul-i8` 16×16×16 once, `membw` two
/// 128-byte groups, no extra rounds, one pass.
pub fn small_params() -> [Vec<u8>; 2] {
    [
        MatmulParams {
            m: 16,
            n: 16,
            k: 16,
            count: 1,
        }
        .encode()
        .to_vec(),
        MembwParams {
            bytes: 256,
            group: 128,
            rounds: 0,
            passes: 1,
        }
        .encode()
        .to_vec(),
    ]
}

/// A parameter type of a `gpu.*` import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `i32`: pointers, lengths, handles, shapes.
    I32,
    /// `i64`: sizes, offsets, streams, element indices.
    I64,
}

use Param::{I32, I64};

/// Every import of ABI v1.1 with its parameters (all return `i32`), in `abi::IMPORTS` order, as
/// `challenge-runtime/src/imports.rs` defines them.
pub const IMPORTS: [(&str, &[Param]); 17] = [
    ("abi_version", &[]),
    ("device_info", &[I32]),
    ("alloc", &[I64]),
    ("free", &[I32]),
    ("prf_fill", &[I32, I64, I64, I64, I32, I64]),
    ("gemm_i8", &[I32, I32, I32, I32, I32, I32]),
    ("membw_fill", &[I32, I64, I32]),
    ("membw_pass", &[I32, I32, I32, I32, I32, I32]),
    ("commit", &[I32]),
    ("root", &[I32, I32]),
    ("philox_key", &[I64, I32]),
    ("sync", &[]),
    ("log", &[I32, I32]),
    ("tile_i8", &[I32, I64, I32, I32, I32, I32, I32, I32]),
    ("membw_output", &[I32, I64, I32, I32, I32, I32, I32, I64]),
    ("phase_end", &[I32]),
    ("phase_seed", &[I32, I32]),
];

/// Fails (a harness bug, not a finding) if [`IMPORTS`] no longer names `abi::IMPORTS`.
fn check_import_table() {
    let names: Vec<&str> = IMPORTS.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        abi::IMPORTS,
        "fuzz/src/lib.rs IMPORTS is out of date with challenges::abi::IMPORTS"
    );
}

fn val(p: Param) -> ValType {
    match p {
        I32 => ValType::I32,
        I64 => ValType::I64,
    }
}

/// Adds one function type per import to `types` and the imports themselves to `imports`.
fn add_imports(types: &mut TypeSection, imports: &mut ImportSection) {
    check_import_table();
    for (name, params) in IMPORTS {
        let index = types.len();
        types
            .ty()
            .function(params.iter().copied().map(val), [ValType::I32]);
        imports.import(abi::IMPORT_MODULE, name, EntityType::Function(index));
    }
}

/// The exports a module must have besides `memory`: name and parameter count (all `i32`,
/// one `i32` result).
const EXPORTS: [(&str, usize); 4] = [("alloc", 1), ("run", 2), ("check", 4), ("work", 3)];

/// A module declaring every `gpu.*` import and nothing else: wasm-smith's `available_imports`.
pub fn smith_imports() -> Vec<u8> {
    let mut types = TypeSection::new();
    let mut imports = ImportSection::new();
    add_imports(&mut types, &mut imports);
    let mut module = Module::new();
    module.section(&types).section(&imports);
    module.finish()
}

/// Pages of the memory the generated modules export (min 1, max this): 1 MiB.
pub const SMITH_MAX_PAGES: u64 = 16;

/// A module with exactly the exports the sandbox requires (`memory`, `alloc`, `run`, `check`,
/// `work`, bodies `unreachable`): wasm-smith's `exports`.
pub fn smith_exports() -> Vec<u8> {
    let mut types = TypeSection::new();
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut exports = ExportSection::new();
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 1,
        maximum: Some(SMITH_MAX_PAGES),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    exports.export("memory", ExportKind::Memory, 0);
    for (i, (name, params)) in EXPORTS.iter().enumerate() {
        types
            .ty()
            .function(vec![ValType::I32; *params], [ValType::I32]);
        funcs.function(i as u32);
        let mut body = Function::new([]);
        body.instructions().unreachable().end();
        code.function(&body);
        exports.export(name, ExportKind::Func, i as u32);
    }
    let mut module = Module::new();
    module
        .section(&types)
        .section(&funcs)
        .section(&memories)
        .section(&exports)
        .section(&code);
    module.finish()
}

/// wasm-smith settings for `sandbox_smith`: the `gpu.*` imports and the required exports,
/// wasm features this sandbox's wasmtime build compiles (no threads, GC, exceptions,
/// memory64, custom page sizes, wide arithmetic), one memory of at most
/// [`SMITH_MAX_PAGES`], small tables and bodies.
pub fn smith_config() -> wasm_smith::Config {
    static IMPORTS_MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    static EXPORTS_MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    wasm_smith::Config {
        available_imports: Some(IMPORTS_MODULE.get_or_init(smith_imports).clone()),
        exports: Some(EXPORTS_MODULE.get_or_init(smith_exports).clone()),
        // The exported memory is generated on top of this count (`exports` ignores the
        // limits), and the sandbox's pooling allocator takes one memory per instance.
        max_memories: 0,
        max_memory32_bytes: SMITH_MAX_PAGES * 65536,
        memory64_enabled: false,
        max_tables: 1,
        max_table_elements: 1000,
        max_funcs: 32,
        max_instructions: 500,
        max_data_segments: 8,
        max_element_segments: 8,
        max_globals: 16,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        gc_enabled: false,
        exceptions_enabled: false,
        reference_types_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        compact_imports_enabled: false,
        custom_descriptors_enabled: false,
        relaxed_simd_enabled: false,
        ..wasm_smith::Config::default()
    }
}

/// Bytes of `abi_calls`' guest memory (two pages, fixed).
pub const PROGRAM_MEMORY: i32 = 2 * 65536;
/// Where `abi_calls`' modules keep valid `membw` params ([`small_params`]).
pub const PROGRAM_PARAMS_PTR: i32 = 256;
/// Where `abi_calls`' modules keep 32 bytes of key material.
pub const PROGRAM_KEY_PTR: i32 = 512;
/// Where `abi_calls`' `alloc` export starts allocating.
pub const PROGRAM_ALLOC_PTR: i32 = 4096;
/// Most import calls in one program.
pub const PROGRAM_MAX_STEPS: usize = 48;

/// An argument of one import call in an `abi_calls` program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// A constant (truncated to `i32` for `i32` parameters).
    Const(i64),
    /// The result of the previous call (sign-extended for `i64` parameters).
    Last,
}

/// One import call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Index into [`IMPORTS`].
    pub import: usize,
    /// One argument per parameter.
    pub args: Vec<Arg>,
}

/// `i32` values worth trying: handles, tile multiples, lengths of records, the pointers this
/// module's data lives at, the edges of its memory, and the extremes.
pub const I32_VALUES: [i32; 24] = [
    0,
    1,
    2,
    3,
    -1,
    16,
    20,
    24,
    32,
    48,
    64,
    128,
    256,
    PROGRAM_KEY_PTR,
    1024,
    4096,
    65536,
    PROGRAM_MEMORY - 24,
    PROGRAM_MEMORY - 8,
    PROGRAM_MEMORY,
    1 << 20,
    i32::MAX,
    i32::MIN,
    -10,
];

/// `i64` values worth trying: sizes around the budgets, streams, and the extremes.
pub const I64_VALUES: [i64; 16] = [
    0,
    1,
    16,
    128,
    256,
    1024,
    4096,
    16384,
    65536,
    1 << 20,
    (1 << 20) + 16,
    1 << 32,
    -1,
    i64::MAX,
    i64::MIN,
    i64::MAX - 15,
];

/// Decodes a call program from fuzzer bytes, one byte at a time so seeds are easy to write
/// (`fuzz/seedgen`): per step an import byte (`% 17`, index into [`IMPORTS`]), then per
/// parameter a selector byte and its value:
///
/// | selector `% 4` | argument | value bytes |
/// |---|---|---|
/// | 0 | a listed value ([`I32_VALUES`] / [`I64_VALUES`]) | 1: index, modulo the list |
/// | 1 | the previous call's result | none |
/// | 2 | a raw constant | 4 (`i32`) or 8 (`i64`), little-endian |
/// | 3 | a small number `0..64` | 1, modulo 64 |
///
/// Stops at [`PROGRAM_MAX_STEPS`] steps or where the bytes run out (a step cut short is
/// dropped).
pub fn decode_program(data: &[u8]) -> Vec<Step> {
    let mut bytes = data.iter().copied();
    let mut steps = Vec::new();
    'steps: while steps.len() < PROGRAM_MAX_STEPS {
        let Some(import) = bytes.next() else { break };
        let import = usize::from(import) % IMPORTS.len();
        let mut args = Vec::with_capacity(IMPORTS[import].1.len());
        for &param in IMPORTS[import].1 {
            let Some(selector) = bytes.next() else {
                break 'steps;
            };
            let arg = match (selector % 4, param) {
                (0, I32) => match bytes.next() {
                    Some(i) => Arg::Const(i64::from(I32_VALUES[usize::from(i) % I32_VALUES.len()])),
                    None => break 'steps,
                },
                (0, I64) => match bytes.next() {
                    Some(i) => Arg::Const(I64_VALUES[usize::from(i) % I64_VALUES.len()]),
                    None => break 'steps,
                },
                (1, _) => Arg::Last,
                (2, I32) => {
                    let mut le = [0u8; 4];
                    for b in &mut le {
                        let Some(next) = bytes.next() else {
                            break 'steps;
                        };
                        *b = next;
                    }
                    Arg::Const(i64::from(i32::from_le_bytes(le)))
                }
                (2, I64) => {
                    let mut le = [0u8; 8];
                    for b in &mut le {
                        let Some(next) = bytes.next() else {
                            break 'steps;
                        };
                        *b = next;
                    }
                    Arg::Const(i64::from_le_bytes(le))
                }
                _ => match bytes.next() {
                    Some(v) => Arg::Const(i64::from(v % 64)),
                    None => break 'steps,
                },
            };
            args.push(arg);
        }
        steps.push(Step { import, args });
    }
    steps
}

/// Bytes of one encoded step: import index `u32`, `last` mask `u32` (bit `j`: argument `j`
/// is the previous result), then 8 argument slots of `i64`, all little-endian.
pub const STEP_BYTES: usize = 8 + 8 * 8;

/// Encodes `steps` for [`interpreter_module`]: what `abi_calls` passes as the params of `run`,
/// `check` and `work`.
pub fn encode_program(steps: &[Step]) -> Vec<u8> {
    let mut out = Vec::with_capacity(steps.len() * STEP_BYTES);
    for step in steps {
        let mut mask = 0u32;
        let mut slots = [0i64; 8];
        for (j, arg) in step.args.iter().enumerate().take(8) {
            match arg {
                Arg::Const(v) => slots[j] = *v,
                Arg::Last => mask |= 1 << j,
            }
        }
        out.extend_from_slice(&(step.import as u32).to_le_bytes());
        out.extend_from_slice(&mask.to_le_bytes());
        for v in slots {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

fn mem(offset: u64, align: u32) -> MemArg {
    MemArg {
        offset,
        align,
        target: MemArgTarget::Memory(0),
        ordering: None,
    }
}

/// The interpreter loop of `run`, `check` and `work` (parameters `0` = program pointer,
/// `1` = its length; locals from `first_local`: `last`, `ptr`, `end`, `mask`): every whole
/// [`STEP_BYTES`] record in order, dispatched with `br_table` to the call of its import with
/// each argument either the record's constant (wrapped to `i32` where the parameter is one) or
/// `last` (sign-extended where `i64`). Each result goes to `last`; one below
/// `abi::status::LOWEST` (no status of ABI v1.1) executes `unreachable`, so an import answering outside its contract shows up as
/// an `Unreachable` trap. Returns `last` when `result_is_last`, else `OK`.
fn interpreter_body(first_local: u32, result_is_last: bool) -> Function {
    let (last, ptr, end, mask) = (
        first_local,
        first_local + 1,
        first_local + 2,
        first_local + 3,
    );
    let mut f = Function::new([(4, ValType::I32)]);
    let mut ins = f.instructions();
    ins.local_get(0).local_set(ptr);
    ins.local_get(0).local_get(1).i32_add().local_set(end);
    ins.block(BlockType::Empty); // exit
    ins.loop_(BlockType::Empty); // top
    ins.local_get(ptr)
        .i32_const(STEP_BYTES as i32)
        .i32_add()
        .local_get(end)
        .i32_gt_u()
        .br_if(1);
    ins.local_get(ptr).i32_load(mem(4, 0)).local_set(mask);
    ins.block(BlockType::Empty); // done
    for _ in 0..IMPORTS.len() {
        ins.block(BlockType::Empty);
    }
    ins.local_get(ptr).i32_load(mem(0, 0));
    let targets: Vec<u32> = (0..IMPORTS.len() as u32).collect();
    ins.br_table(targets, IMPORTS.len() as u32);
    for (i, (_, params)) in IMPORTS.iter().enumerate() {
        ins.end();
        for (j, p) in params.iter().enumerate() {
            let slot = 8 + 8 * j as u64;
            match p {
                I32 => {
                    ins.local_get(last)
                        .local_get(ptr)
                        .i64_load(mem(slot, 0))
                        .i32_wrap_i64();
                }
                I64 => {
                    ins.local_get(last)
                        .i64_extend_i32_s()
                        .local_get(ptr)
                        .i64_load(mem(slot, 0));
                }
            }
            ins.local_get(mask).i32_const(1 << j).i32_and().select();
        }
        ins.call(i as u32)
            .local_tee(last)
            .i32_const(abi::status::LOWEST)
            .i32_lt_s()
            .if_(BlockType::Empty)
            .unreachable()
            .end();
        // From the end of block `i`, `done` is `IMPORTS.len() - 1 - i` labels out.
        ins.br((IMPORTS.len() - 1 - i) as u32);
    }
    ins.end(); // done
    ins.local_get(ptr)
        .i32_const(STEP_BYTES as i32)
        .i32_add()
        .local_set(ptr);
    ins.br(0);
    ins.end(); // top
    ins.end(); // exit
    if result_is_last {
        ins.local_get(last);
    } else {
        ins.i32_const(abi::status::OK);
    }
    ins.end();
    f
}

/// The `abi_calls` module, built once: its `run`, `check` and `work` interpret the program
/// passed as their params ([`encode_program`]) and return `OK`, the last result, and `OK`;
/// `alloc` is a bump allocator from [`PROGRAM_ALLOC_PTR`]; two fixed pages of memory hold
/// valid `membw` params at [`PROGRAM_PARAMS_PTR`] and 32 bytes of key material at
/// [`PROGRAM_KEY_PTR`]. One module for every input means one compilation per sandbox,
/// not per exec.
pub fn interpreter_module() -> &'static [u8] {
    static MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    MODULE.get_or_init(|| {
        let mut types = TypeSection::new();
        let mut imports = ImportSection::new();
        add_imports(&mut types, &mut imports);
        let mut funcs = FunctionSection::new();
        let mut code = CodeSection::new();
        let mut exports = ExportSection::new();
        let first = IMPORTS.len() as u32;
        for (i, (name, params)) in EXPORTS.iter().enumerate() {
            let ty = types.len();
            types
                .ty()
                .function(vec![ValType::I32; *params], [ValType::I32]);
            funcs.function(ty);
            let body = if *name == "alloc" {
                // old = next; next += (len + 15) & !15; old
                let mut f = Function::new([]);
                f.instructions()
                    .global_get(0)
                    .global_get(0)
                    .local_get(0)
                    .i32_const(15)
                    .i32_add()
                    .i32_const(!15)
                    .i32_and()
                    .i32_add()
                    .global_set(0)
                    .end();
                f
            } else {
                interpreter_body(*params as u32, *name == "check")
            };
            code.function(&body);
            exports.export(name, ExportKind::Func, first + i as u32);
        }
        let mut memories = MemorySection::new();
        let pages = (PROGRAM_MEMORY / 65536) as u64;
        memories.memory(MemoryType {
            minimum: pages,
            maximum: Some(pages),
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        exports.export("memory", ExportKind::Memory, 0);
        let mut globals = GlobalSection::new();
        globals.global(
            GlobalType {
                val_type: ValType::I32,
                mutable: true,
                shared: false,
            },
            &ConstExpr::i32_const(PROGRAM_ALLOC_PTR),
        );
        let mut data = DataSection::new();
        let [_, membw] = small_params();
        data.active(0, &ConstExpr::i32_const(PROGRAM_PARAMS_PTR), membw);
        data.active(0, &ConstExpr::i32_const(PROGRAM_KEY_PTR), [0x5a; 32]);
        let mut module = Module::new();
        module
            .section(&types)
            .section(&imports)
            .section(&funcs)
            .section(&memories)
            .section(&globals)
            .section(&exports)
            .section(&code)
            .section(&data);
        module.finish()
    })
}

/// What [`exercise`] saw.
#[derive(Debug)]
pub struct Exercised {
    /// `Sandbox::run` on the CPU backend (the outcome itself is checked and dropped).
    pub run: Result<(), SandboxError>,
    /// `Sandbox::check` of leaf 0 of output 0 (the opened chunk when `run` committed one).
    pub check: Result<CheckVerdict, SandboxError>,
    /// `Sandbox::work`.
    pub work: Result<WorkRecord, SandboxError>,
}

/// Runs `module` every way the sandbox can with `params`: `run` on the CPU backend, then
/// opens the first and last leaf of each committed output (and one past the end), then
/// `check` of leaf 0 of output 0 against the run's roots, then `work`.
///
/// Asserts what must hold for any module: at most `max_outputs` outputs; every leaf inside an
/// output opens and its opening verifies against the committed root and length; no leaf past
/// the end opens.
pub fn exercise(sandbox: &Sandbox, module: &LoadedModule, params: &[u8]) -> Exercised {
    let seed = [7u8; 32];
    let mut roots = vec![[0u8; 32]];
    let mut chunk: Vec<u8> = vec![0u8; commitment::CHUNK_LEN];
    let run = sandbox
        .run(module, backend(), 0, seed, params)
        .map(|outcome| {
            assert!(
                outcome.outputs.len() <= limits().max_outputs as usize,
                "more outputs committed than max_outputs"
            );
            let mut first: Option<Opening> = None;
            for (i, committed) in outcome.outputs.iter().enumerate() {
                let output = i as u32;
                let leaves = commitment::leaf_count(committed.len);
                let root = blake3::Hash::from_bytes(committed.root);
                for leaf in [0, leaves.saturating_sub(1), leaves] {
                    match outcome.open(output, leaf) {
                        Ok(opening) => {
                            assert!(leaf < leaves, "leaf {leaf} of {leaves} opened");
                            if let Err(e) =
                                commitment::verify_opening(&root, committed.len, leaf, &opening)
                            {
                                panic!("output {i} leaf {leaf}: the backend's opening fails: {e}");
                            }
                            if first.is_none() {
                                first = Some(opening);
                            }
                        }
                        Err(e) => assert!(
                            leaf >= leaves,
                            "output {i} leaf {leaf} of {leaves} does not open: {e}"
                        ),
                    }
                }
            }
            if !outcome.outputs.is_empty() {
                roots = outcome.roots();
            }
            if let Some(opening) = first {
                chunk = opening.chunk;
            }
        });
    let request = CheckRequest {
        output: 0,
        leaf: 0,
        samples: 4,
        salt: [3u8; 32],
        chunk: &chunk,
    };
    let check = sandbox.check(module, seed, params, &roots, &[], &request);
    let work = sandbox.work(module, params);
    Exercised { run, check, work }
}
