//! # challenge-sdk — write gpuproof challenge modules in Rust
//!
//! A challenge module is a `no_std` Rust `cdylib` compiled to `wasm32-unknown-unknown`. It
//! drives the GPU only through the `gpu.*` host ABI (version 1.1, pinned in
//! [`challenges::abi`]); this crate wraps those imports in safe Rust: device buffers are
//! `Buffer` handles (freed on drop), every import's status becomes a [`Result`], and
//! `export_challenge!` generates the exports the host calls (`alloc`, `run`, `check`,
//! `work`) around a type implementing [`Challenge`]. The crate also provides the module's
//! allocator and panic handler on wasm32.
//!
//! ```ignore
//! #![no_std]
//! use challenge_sdk::{Buffer, Challenge, Error, abi::CheckRequest, export_challenge};
//! struct Fill;
//! impl Challenge for Fill {
//!     fn run(params: &[u8]) -> Result<(), Error> {
//!         let buf = Buffer::alloc(4096)?;
//!         buf.prf_fill(0, 4096, 0, 7, 0)?;
//!         buf.commit()?;
//!         Ok(())
//!     }
//!     fn check(_params: &[u8], _req: &CheckRequest<'_>) -> Result<bool, Error> { Ok(true) }
//!     fn work(_params: &[u8]) -> Result<challenge_sdk::work::Work, Error> { Err(Error::BadParams) }
//! }
//! export_challenge!(Fill);
//! ```
//!
//! On other targets the crate compiles to the types alone (so host tools can depend on it);
//! the import wrappers exist only on wasm32.
#![no_std]

extern crate alloc;

pub use challenges as spec;
pub use challenges::{abi, work};

#[cfg(target_arch = "wasm32")]
mod guest;
#[cfg(target_arch = "wasm32")]
pub use guest::*;

/// Why an SDK call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// An import returned this negative status (see [`abi::status`]).
    Status(i32),
    /// The params did not decode or broke a module rule.
    BadParams,
    /// The check request was malformed for this module.
    BadRequest,
}

impl Error {
    /// The status code a module export returns for this error.
    pub fn code(self) -> i32 {
        match self {
            Self::Status(code) if code < 0 => code,
            Self::Status(_) => abi::status::DEVICE,
            Self::BadParams => abi::status::BAD_PARAMS,
            Self::BadRequest => abi::status::BAD_REQUEST,
        }
    }
}

impl From<challenges::SpecError> for Error {
    fn from(_: challenges::SpecError) -> Self {
        Self::BadParams
    }
}

/// Turns an import's return value into a `Result` (negative = error status).
pub fn status(ret: i32) -> Result<i32, Error> {
    if ret < 0 {
        Err(Error::Status(ret))
    } else {
        Ok(ret)
    }
}

/// What a module implements; `export_challenge!` wires it to the exports.
pub trait Challenge {
    /// Runs the challenge on the device: generate, compute, `commit` each output in order.
    fn run(params: &[u8]) -> Result<(), Error>;
    /// Checks one opened leaf (its tree path already verified by the host): `Ok(true)` if it
    /// is right, `Ok(false)` if wrong.
    fn check(params: &[u8], request: &abi::CheckRequest<'_>) -> Result<bool, Error>;
    /// The work these params declare.
    fn work(params: &[u8]) -> Result<work::Work, Error>;
}
