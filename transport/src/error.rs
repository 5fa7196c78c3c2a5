//! [`TransportError`]: everything that can go wrong below the protocol's own messages.

use std::path::PathBuf;

use protocol::{ErrorMsg, ProtocolError};
use thiserror::Error;

/// Why a transport operation failed. Messages say what to do where there is something to do.
#[derive(Debug, Error)]
pub enum TransportError {
    /// A session key file could not be written or read.
    #[error("session key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, and what to do.
        reason: String,
    },
    /// The OS random number generator failed.
    #[error("the OS random number generator failed: {0}")]
    Random(String),
    /// The hotkey could not be loaded.
    #[error("hotkey: {0}")]
    Hotkey(String),
    /// An allow/deny list entry is not an SS58 address or hex public key.
    #[error("{entry:?} is not an SS58 address or a 0x-prefixed 32-byte hex public key: {reason}")]
    BadAccount {
        /// The entry as written.
        entry: String,
        /// Why it does not parse.
        reason: String,
    },
    /// TLS or QUIC configuration failed (a bug or an unusable key).
    #[error("TLS/QUIC setup failed: {0}")]
    Setup(String),
    /// Binding the UDP socket failed.
    #[error("cannot bind UDP {addr}: {source}; is another process using the port?")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Connecting failed (handshake refused, unreachable, timed out).
    #[error("connection to {addr} failed: {reason}")]
    Connect {
        /// The peer.
        addr: std::net::SocketAddr,
        /// Why.
        reason: String,
    },
    /// The connection or stream was closed or reset.
    #[error("connection lost: {0}")]
    Closed(String),
    /// No message within the deadline.
    #[error("no answer from the peer within {0:?}")]
    Timeout(std::time::Duration),
    /// The peer sent bytes that are not a valid frame or message.
    #[error("the peer sent an invalid frame: {0}")]
    Protocol(#[from] ProtocolError),
    /// The peer refused with a typed error.
    #[error("the peer refused: {:?}: {}", .0.code, .0.detail)]
    Refused(ErrorMsg),
    /// The peer's handshake (hello, certificate) was wrong.
    #[error("handshake with the peer failed: {0}")]
    Handshake(String),
    /// A message arrived where another was expected.
    #[error("expected {expected}, got {got}")]
    Unexpected {
        /// What the exchange needed.
        expected: &'static str,
        /// What came.
        got: &'static str,
    },
}
