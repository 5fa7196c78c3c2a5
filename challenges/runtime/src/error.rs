//! The sandbox's error type: one enum for everything a caller of [`crate::Sandbox`] can see.

use thiserror::Error;

use crate::backend::BackendError;

/// Why a guest stopped abnormally. Matched by trap type, never by message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrapKind {
    /// It used all its fuel (an endless or too long loop).
    OutOfFuel,
    /// It tried to grow its memory past the cap and then failed.
    MemoryLimit,
    /// It executed `unreachable` (a Rust guest's panic or abort).
    Unreachable,
    /// It overflowed the wasm stack.
    StackOverflow,
    /// It accessed memory out of bounds.
    MemoryOutOfBounds,
    /// Integer overflow or division by zero.
    Arithmetic,
    /// Any other trap, with wasmtime's words.
    Other(String),
}

impl std::fmt::Display for TrapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OutOfFuel => write!(f, "ran out of fuel (instruction limit)"),
            Self::MemoryLimit => write!(f, "hit the guest memory limit"),
            Self::Unreachable => write!(f, "executed `unreachable` (guest panic)"),
            Self::StackOverflow => write!(f, "overflowed its stack"),
            Self::MemoryOutOfBounds => write!(f, "accessed memory out of bounds"),
            Self::Arithmetic => write!(f, "integer overflow or division by zero"),
            Self::Other(s) => write!(f, "trapped: {s}"),
        }
    }
}

/// What went wrong running, checking or loading a challenge module.
#[derive(Debug, Error)]
pub enum SandboxError {
    /// The wasmtime engine could not be configured.
    #[error("cannot configure the wasm engine: {0}")]
    Engine(String),
    /// The bytes are not a valid wasm module.
    #[error("module {hash} does not compile: {detail}")]
    Compile {
        /// BLAKE3 of the module bytes (hex).
        hash: String,
        /// wasmtime's words.
        detail: String,
    },
    /// The module imports something outside `gpu.*` ABI v1.
    #[error(
        "module imports `{module}.{name}`, which the sandbox refuses: only the `gpu.*` imports of host ABI v1 exist (no WASI, no files, sockets or clocks)"
    )]
    ForbiddenImport {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// A `gpu.*` import with the wrong type, or another link failure.
    #[error("module does not link against host ABI v1: {0}")]
    Link(String),
    /// A required export is missing or has the wrong type.
    #[error(
        "module lacks the export `{name}` ({expected}); see challenges::abi for the exports a module must provide"
    )]
    MissingExport {
        /// Export name.
        name: &'static str,
        /// Expected type, in words.
        expected: &'static str,
    },
    /// The guest trapped.
    #[error("module {phase} {kind}")]
    Trap {
        /// Where: `start`, `run`, `check`, `work`, `alloc`.
        phase: &'static str,
        /// What.
        kind: TrapKind,
    },
    /// The guest returned an error status.
    #[error("module `{phase}` returned status {code} ({name}){detail}")]
    Status {
        /// Which export.
        phase: &'static str,
        /// The status code.
        code: i32,
        /// Its name.
        name: &'static str,
        /// The host's last recorded error, if any.
        detail: String,
    },
    /// The guest's `alloc` gave an unusable pointer.
    #[error("module `alloc` returned an unusable pointer for {len} bytes")]
    GuestAlloc {
        /// Bytes asked for.
        len: usize,
    },
    /// Too many instances alive at once.
    #[error("sandbox is at its instance limit; retry when a challenge finishes")]
    Busy,
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The guest wrote a malformed record.
    #[error("module wrote a malformed {what}: {detail}")]
    BadRecord {
        /// Which record.
        what: &'static str,
        /// Why.
        detail: String,
    },
}
