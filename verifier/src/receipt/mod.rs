//! Verification receipts (docs/design.md §Receipts and the catalogue): every recorded verdict as a
//! file anyone can re-check offline, with nothing but the file (and this binary).
//!
//! A receipt is one `Signed<Receipt>` envelope (tag `receipt`) in canonical CBOR, signed by the
//! validator's session key, with the validator's hotkey certificate inside ([`Receipt`]). It
//! holds the protocol version, the class table's hash, both hotkeys, the miner's session
//! certificate, the module hash and params, the device and the inventory entry claimed, and,
//! for a challenge ([`ChallengeRecord`]): every signed message exactly as it travelled (our
//! `Prepare`, `Go` and `PhaseKey`s, the miner's `PhaseDone`s and `Commitment`), the nonce and
//! phase nonces, the seeds derived from them, the leaves drawn and their salts, the `Openings`
//! as received, the min RTT and its cap, every time on the validator's clock, the envelopes
//! (whole and per phase), the calibrated rates of a `cpu` class, and the verdict.
//!
//! [`audit::audit`] re-checks one ([`verifier audit`](crate) is its command line): the
//! validator's signature and certificate, the miner's signatures up to its hotkey, the seed
//! and phase seeds, every citation between the signed messages, every path to its signed root,
//! every leaf through the module's `check` on the CPU, and that the recorded verdict follows
//! from the figures and the envelopes under the class table the receipt names.
//!
//! # Choices
//!
//! - **Id.** A receipt's id is its envelope's digest ([`protocol::Signed::digest`]), in hex:
//!   content-addressed, the same in every store and file name.
//! - **One envelope.** The validator's certificate sits inside the signed body (the signer
//!   must be the key it certifies), so the file is exactly one envelope and any byte changed
//!   anywhere breaks the validator's signature. The audit still runs every other check, so
//!   it also says *what* changed (a leaf's path, a root's signature, a time's figures).
//! - **Messages as bytes.** Signed messages are kept as their envelope bytes, not decoded:
//!   their digests, which later messages cite, are recomputed from exactly those bytes.
//! - **Times** are nanoseconds from the `Prepare`, on the validator's monotonic clock; the
//!   audit recomputes every figure of the verdict from them exactly (the same `Duration`
//!   arithmetic as the session), so a changed time or figure is caught bit for bit. Times are
//!   attested by the validator's signature, not proven.
//! - **Seeds** are recorded and recomputed (`challenges::prf::challenge_seed`,
//!   `phase_seed`): a receipt whose nonce or binding changed fails the seed check by name.
//! - **What is proven and what is attested.** Results are proven: a path to a root the miner
//!   signed, a leaf the module recomputes. Times, the inventory, and the endings that left no
//!   message (a timeout, a closed connection) are the validator's word; the audit checks they
//!   agree with each other and with the verdict, and says which parts were attested.
//! - **Envelopes** are recomputed from the class table (the built-in one, or the file given to
//!   `--classes`: a receipt naming another table's hash is refused until it is given), the
//!   class the claimed name maps to, the module's work model, the calibrated rates the receipt
//!   carries for a `cpu` class, and the rented window for a rented machine; they must match
//!   within a relative 1e-9 (the same formulas, floating point). Only verdicts judged on time
//!   (`pass`, `too-slow`, `too-fast`) need them: a wrong result is wrong whatever the window.
//! - **Which verdicts have receipts.** Every recorded verdict: device challenges (also one the
//!   round's end cut before it started: a receipt with no messages) and miner-level faults
//!   (unreachable, an inventory that cannot be challenged, [`FaultRecord`]). The verifier's
//!   own errors are not verdicts and have none.
#![deny(clippy::indexing_slicing)]

pub mod audit;
mod build;
mod format;
mod replay;
mod show;

use std::fmt;

pub use build::{Made, Signer, figures, receipts_for};
pub use format::{
    B32, Buf, ChallengeRecord, FaultRecord, RECEIPT_FORMAT, Receipt, Subject, TimedBytes,
    TimedError, TimedOpenings, TimeoutsNs,
};
pub use show::summary;

/// The largest receipt file made or read (bytes): the store's limit.
pub const MAX_RECEIPT_BYTES: usize = validator_store::MAX_RECEIPT_BYTES;

/// A receipt's id: its envelope's digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiptId(pub [u8; 32]);

impl fmt::Display for ReceiptId {
    /// Lowercase hex, 64 digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ReceiptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReceiptId({self})")
    }
}

/// The file name a receipt is exported under:
/// `r<round>-<hotkey>-d<device>-<module>-<verdict>-<first 16 hex digits of its id>.receipt`,
/// every part from the store made safe for a file name.
pub fn file_name(row: &validator_store::ReceiptRow) -> String {
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect()
    };
    format!(
        "r{}-{}-d{}-{}-{}-{}.receipt",
        row.round_id,
        safe(&row.hotkey),
        row.device_index,
        safe(&row.module),
        safe(row.verdict.as_str()),
        safe(row.receipt_id.get(..16).unwrap_or(&row.receipt_id))
    )
}

/// Writes every kept receipt of `store` into `dir` (created if missing) under
/// [`file_name`]; returns how many were written.
pub fn export_all(
    store: &validator_store::Store,
    dir: &std::path::Path,
) -> Result<usize, ExportError> {
    let rows = store.receipt_rows(&validator_store::ReceiptFilter::default())?;
    std::fs::create_dir_all(dir).map_err(|e| ExportError::Write {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut written = 0;
    for row in rows {
        let Some(bytes) = store.receipt(&row.receipt_id)?.and_then(|s| s.bytes) else {
            continue;
        };
        let path = dir.join(file_name(&row));
        std::fs::write(&path, bytes).map_err(|e| ExportError::Write {
            path,
            reason: e.to_string(),
        })?;
        written += 1;
    }
    Ok(written)
}

/// Why receipts could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] validator_store::StoreError),
    /// A file could not be written.
    #[error("cannot write {path}: {reason}; check the directory is writable")]
    Write {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The OS error.
        reason: String,
    },
}

/// Why a receipt could not be made (the verifier's own failure: never the miner's).
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The receipt could not be encoded or signed (a field over a protocol limit).
    #[error("cannot encode the receipt: {0}")]
    Encode(String),
    /// The receipt is larger than the store keeps.
    #[error(
        "the receipt is {bytes} bytes, more than the {max} kept; the challenge is too large to \
         attest (lower [round] openings)"
    )]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
}

#[cfg(test)]
mod tests;
