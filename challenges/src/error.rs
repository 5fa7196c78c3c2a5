//! The error type of the spec crate.

use thiserror::Error;

/// Why a module's params or a request against them was refused. Messages name the field and
/// the rule so a person can fix the request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    /// The binary params had the wrong length.
    #[error("{module} params must be {expected} bytes, got {got}")]
    ParamsLength {
        /// Module whose params were decoded.
        module: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// A field broke one of the module's rules.
    #[error("{module} params: `{field}` = {value} is invalid: {rule}")]
    BadParam {
        /// Module whose params were checked.
        module: &'static str,
        /// Field name as in the JSON form.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The rule it broke, in words.
        rule: &'static str,
    },
    /// An index (product, tile, pass, group, leaf) was outside the output.
    #[error("{what} index {index} is out of range (there are {count})")]
    OutOfRange {
        /// What was indexed.
        what: &'static str,
        /// The index asked for.
        index: u64,
        /// How many exist.
        count: u64,
    },
    /// A buffer handed in had the wrong size for the request.
    #[error("{what} buffer must be {expected} bytes, got {got}")]
    BufferSize {
        /// Which buffer.
        what: &'static str,
        /// Required size.
        expected: u64,
        /// Size given.
        got: u64,
    },
}
