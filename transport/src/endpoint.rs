//! QUIC endpoints for the miner (server) and the verifier (client), with the limits that keep a
//! hostile peer from holding resources: idle timeout, stream counts, no 0-RTT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

use crate::error::TransportError;
use crate::tls;

/// Largest UDP payload MTU discovery may try.
const MAX_UDP_PAYLOAD: u16 = 65_527;
/// Flow-control window of one stream: a whole largest `Prepare` (module + params) in flight.
const STREAM_WINDOW: u32 = 16 << 20;
/// Flow-control window of a connection (bounds what a peer can make us buffer).
const CONNECTION_WINDOW: u32 = 32 << 20;

/// Default of [`ConnectionLimits::max_bidi_streams`]: one challenge stream per device of the
/// largest inventory ([`MAX_GPUS`](protocol::limits::MAX_GPUS)), since the verifier challenges
/// every device at once, plus the control stream (handshake, then pings) and one bandwidth
/// probe stream.
pub const DEFAULT_MAX_BIDI_STREAMS: u32 = {
    let streams = protocol::limits::MAX_GPUS + 2;
    assert!(streams <= u32::MAX as usize);
    streams as u32
};

/// Connection-level limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Keep-alive interval (the client sends them; keeps NAT bindings and idle timers alive).
    pub keep_alive: Duration,
    /// Most bidirectional streams a peer may have open at once (each side grants this many
    /// to the other).
    pub max_bidi_streams: u32,
}

impl Default for ConnectionLimits {
    /// 30 s idle timeout, 5 s keep-alive, [`DEFAULT_MAX_BIDI_STREAMS`] (66) streams: enough
    /// for a miner with [`MAX_GPUS`](protocol::limits::MAX_GPUS) devices to be challenged on
    /// all of them at once beside its control and probe streams.
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(5),
            max_bidi_streams: DEFAULT_MAX_BIDI_STREAMS,
        }
    }
}

fn transport_config(
    limits: &ConnectionLimits,
    client: bool,
) -> Result<quinn::TransportConfig, TransportError> {
    let mut transport = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(limits.idle_timeout)
        .map_err(|e| TransportError::Setup(format!("idle timeout: {e}")))?;
    transport
        .max_idle_timeout(Some(idle))
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(limits.max_bidi_streams))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    // Let MTU discovery go as high as the path allows (loopback and jumbo-frame LANs carry far
    // more than 1500 bytes per packet; the internet settles near 1452 after a few probes).
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(MAX_UDP_PAYLOAD);
    transport
        .mtu_discovery_config(Some(mtu))
        .stream_receive_window(quinn::VarInt::from_u32(STREAM_WINDOW))
        .receive_window(quinn::VarInt::from_u32(CONNECTION_WINDOW))
        .send_window(u64::from(CONNECTION_WINDOW));
    if client {
        transport.keep_alive_interval(Some(limits.keep_alive));
    }
    Ok(transport)
}

/// A miner's endpoint listening on `addr` with session key `key`.
pub fn server_endpoint(
    addr: SocketAddr,
    key: &SigningKey,
    limits: &ConnectionLimits,
) -> Result<quinn::Endpoint, TransportError> {
    let crypto = QuicServerConfig::try_from(tls::server_config(key)?)
        .map_err(|e| TransportError::Setup(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport_config(limits, false)?));
    quinn::Endpoint::server(config, addr).map_err(|source| TransportError::Bind { addr, source })
}

/// A verifier's endpoint (an ephemeral UDP port on the unspecified address of `family`'s kind).
pub fn client_endpoint(
    family: SocketAddr,
    key: &SigningKey,
    limits: &ConnectionLimits,
) -> Result<quinn::Endpoint, TransportError> {
    let bind: SocketAddr = if family.is_ipv6() {
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
    };
    client_endpoint_at(bind, key, limits)
}

/// A client endpoint bound to `bind` (e.g. one of several local addresses of a validator;
/// port 0 for any), proving `key`.
pub fn client_endpoint_at(
    bind: SocketAddr,
    key: &SigningKey,
    limits: &ConnectionLimits,
) -> Result<quinn::Endpoint, TransportError> {
    let crypto = QuicClientConfig::try_from(tls::client_config(key)?)
        .map_err(|e| TransportError::Setup(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport_config(limits, true)?));
    let mut endpoint = quinn::Endpoint::client(bind)
        .map_err(|source| TransportError::Bind { addr: bind, source })?;
    endpoint.set_default_client_config(config);
    Ok(endpoint)
}

/// Connects to `addr` and completes the TLS handshake within `timeout`.
pub async fn connect(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<quinn::Connection, TransportError> {
    let failed = |reason: String| TransportError::Connect { addr, reason };
    // Raw public keys carry no name; the server name is only a label.
    let connecting = endpoint
        .connect(addr, "miner.gpuproof")
        .map_err(|e| failed(e.to_string()))?;
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(_) => Err(failed(format!(
            "no QUIC handshake within {timeout:?}; is miner-host serving on that address (UDP)?"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_streams_cover_every_device_plus_control_and_probe() {
        let limits = ConnectionLimits::default();
        assert_eq!(limits.max_bidi_streams, DEFAULT_MAX_BIDI_STREAMS);
        assert_eq!(
            usize::try_from(limits.max_bidi_streams).ok(),
            Some(protocol::limits::MAX_GPUS + 2)
        );
    }
}
