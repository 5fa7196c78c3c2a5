//! `miner-host serve`: the QUIC server validators challenge (docs/design.md §Protocol).
//!
//! [`start`] binds the endpoint and serves in the background; [`MinerConfig`] is `miner.toml`.
//! Per connection: the handshake of [`transport::handshake`] (only admitted validator hotkeys
//! get further), then a control stream answering pings, and one stream per challenge
//! (`challenge.rs`) or bandwidth probe (`probe.rs`). [`adversary`] holds the cheating variants the
//! tests and the local network use.
#![deny(clippy::indexing_slicing)]

pub mod adversary;
pub mod chain;
mod challenge;
pub mod config;
mod ip_slots;
mod phases;
mod probe;
pub mod rate;
mod server;

pub use adversary::{Adversary, UNKNOWN_NAME};
pub use config::{ConfigError, MinerConfig};
pub use probe::{
    MAX_PENDING_PER_VALIDATOR, MAX_PENDING_PROBES, MAX_PROBE_CONNECTIONS,
    MAX_PROBE_CONNECTIONS_PER_IP, TICKET_LIFETIME, TOKEN_TIMEOUT,
};
pub use server::{
    MINER_STREAMS, ServeError, ServeLimits, ServerHandle, ServerSettings, ServerStats,
    inventory_of, start,
};
