//! gpuproof transport: what both binaries need to talk QUIC to each other.
//!
//! - [`identity`]: the ed25519 session key file (`keygen`, mode 0600), the sr25519 hotkey, the
//!   [`SessionCertificate`](protocol::SessionCertificate) binding them, allow lists.
//! - [`tls`]: rustls (ring provider) with raw ed25519 public keys on both sides (RFC 7250): the
//!   TLS handshake proves each side's session key; no certificate authority is involved.
//! - [`endpoint`]: quinn endpoints with the connection limits.
//! - [`framed`]: protocol frames over a QUIC stream, with deadlines.
//! - [`handshake`]: Hello, Certificate and Inventory on a connection's first stream.
//! - [`config`]: the typed reason a config file or environment override is refused, and the
//!   one way both binaries read environment overrides.
//! - [`logging`], [`progress`] and [`cli_docs`]: what both binaries show a person (log lines
//!   with local times, progress of long commands, man pages).
//!
//! The protocol logic itself (what to send when, verdicts) lives in `protocol`, the verifier's
//! session state machine and the miner's server; this crate only moves authenticated frames.
#![deny(clippy::indexing_slicing)]

pub mod cli_docs;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod framed;
pub mod handshake;
pub mod identity;
pub mod logging;
pub mod progress;
pub mod tls;

pub use config::{ConfigProblem, EnvOverrides, HotkeySourceError};
pub use endpoint::{
    ConnectionLimits, DEFAULT_MAX_BIDI_STREAMS, client_endpoint, client_endpoint_at, connect,
    server_endpoint,
};
pub use error::TransportError;
pub use framed::FramedStream;
pub use handshake::{Peer, client_handshake, server_handshake};
pub use identity::{AllowList, Identity, KeySource};
pub use logging::init_logging;
