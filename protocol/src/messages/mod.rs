//! The message types of docs/design.md §Protocol, as plain data with serde.
//!
//! Every struct rejects unknown fields; every variable-length field is bounded (see
//! [`crate::limits`]); every byte field is a CBOR byte string. Which messages are signed, and
//! by whom, is stated on each type.

pub(crate) mod challenge;
pub(crate) mod error_msg;
pub(crate) mod hello;
pub(crate) mod identity;
pub(crate) mod inventory;
pub(crate) mod probe;

pub use challenge::{
    Commitment, Go, LeafRef, MinerTimings, NodePair, Open, OpeningWire, Openings, PhaseDone,
    PhaseKey, Prepare, Ready,
};
pub use error_msg::{ErrorCode, ErrorMsg};
pub use hello::{ABI_VERSION, Hello, Negotiated, PROTOCOL_VERSION, Role, negotiate};
pub use identity::{CERTIFICATE_CONTEXT, Ping, Pong, SessionCertificate};
pub use inventory::{GpuInfo, HostFacts, Inventory, normalize_driver_name};
pub use probe::{
    ProbeChunk, ProbeDirection, ProbeReceipt, ProbeRequest, ProbeTicket, probe_data, receipt_data,
    stream_span,
};
