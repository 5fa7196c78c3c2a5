//! [`Hello`] and version negotiation: the first message each side sends.
//!
//! [`negotiate`] is pure: given both hellos it picks the highest protocol and ABI versions both
//! sides support, or says which list had nothing in common.

use serde::{Deserialize, Serialize};

use crate::bytes;
use crate::error::ProtocolError;
use crate::limits::MAX_VERSIONS;

/// The protocol version this crate speaks: 2 added the interactive phases (`PhaseDone`,
/// `PhaseKey`; docs/design.md §Interactive phases); 3 changed the bandwidth probe's messages
/// (`ProbeRequest.streams`, a `ProbeTicket` token per parallel TCP stream, a receipt hash per
/// stream: issue #24). A peer offering only an older version is refused at the handshake: v1
/// verifiers would judge `membw` v2 as one phase, and a v2 peer cannot read a v3 probe.
pub const PROTOCOL_VERSION: u16 = 3;

/// The host ABI version (module ↔ host calls) this crate's peers run: major in the high byte,
/// minor in the low one, as `challenges::abi::ABI_VERSION` (`0x0101` = v1.1, which added
/// `gpu.phase_end` and `gpu.phase_seed`). Kept equal to it by a test in `miner-host`.
pub const ABI_VERSION: u16 = 0x0101;

/// Which side of a session a peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Sends challenges and judges the answers.
    Validator,
    /// Owns GPUs and answers challenges.
    Miner,
}

/// Versions and role a peer announces. Each list holds at most [`MAX_VERSIONS`] entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// Protocol versions the sender can speak, any order.
    #[serde(
        serialize_with = "bytes::seq_max::serialize::<_, _, MAX_VERSIONS>",
        deserialize_with = "bytes::seq_max::deserialize::<_, _, MAX_VERSIONS>"
    )]
    pub protocol_versions: Vec<u16>,
    /// Host ABI versions the sender can run, any order.
    #[serde(
        serialize_with = "bytes::seq_max::serialize::<_, _, MAX_VERSIONS>",
        deserialize_with = "bytes::seq_max::deserialize::<_, _, MAX_VERSIONS>"
    )]
    pub abi_versions: Vec<u16>,
    /// The sender's role.
    pub role: Role,
}

impl Hello {
    /// The hello this crate sends: [`PROTOCOL_VERSION`] and [`ABI_VERSION`] only.
    pub fn current(role: Role) -> Self {
        Self {
            protocol_versions: vec![PROTOCOL_VERSION],
            abi_versions: vec![ABI_VERSION],
            role,
        }
    }
}

/// The versions both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Negotiated {
    /// Highest protocol version both support.
    pub protocol_version: u16,
    /// Highest ABI version both support.
    pub abi_version: u16,
}

/// Picks the highest common protocol and ABI versions of `ours` and `theirs`.
///
/// Fails with [`ProtocolError::SameRole`] if both announce the same role, and with
/// [`ProtocolError::NoCommonVersion`] if either list has nothing in common. Symmetric: both
/// sides compute the same result from the same two hellos.
pub fn negotiate(ours: &Hello, theirs: &Hello) -> Result<Negotiated, ProtocolError> {
    if ours.role == theirs.role {
        return Err(ProtocolError::SameRole { role: ours.role });
    }
    Ok(Negotiated {
        protocol_version: highest_common(
            "protocol",
            &ours.protocol_versions,
            &theirs.protocol_versions,
        )?,
        abi_version: highest_common("abi", &ours.abi_versions, &theirs.abi_versions)?,
    })
}

fn highest_common(what: &'static str, ours: &[u16], theirs: &[u16]) -> Result<u16, ProtocolError> {
    ours.iter()
        .filter(|v| theirs.contains(v))
        .max()
        .copied()
        .ok_or_else(|| ProtocolError::NoCommonVersion {
            what,
            ours: ours.to_vec(),
            theirs: theirs.iter().copied().take(MAX_VERSIONS).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(role: Role, protocol: &[u16], abi: &[u16]) -> Hello {
        Hello {
            protocol_versions: protocol.to_vec(),
            abi_versions: abi.to_vec(),
            role,
        }
    }

    fn check(ours: Hello, theirs: Hello, expected: Result<(u16, u16), ProtocolError>) {
        let got = negotiate(&ours, &theirs).map(|n| (n.protocol_version, n.abi_version));
        assert_eq!(got, expected);
        // Symmetric when it succeeds.
        if let Ok(pair) = got {
            let back = negotiate(&theirs, &ours).map(|n| (n.protocol_version, n.abi_version));
            assert_eq!(back, Ok(pair));
        }
    }

    #[test]
    fn negotiation_cases() {
        use Role::{Miner, Validator};
        check(
            Hello::current(Validator),
            Hello::current(Miner),
            Ok((PROTOCOL_VERSION, ABI_VERSION)),
        );
        check(
            hello(Validator, &[1, 2, 3], &[1]),
            hello(Miner, &[3, 2], &[1, 5]),
            Ok((3, 1)),
        );
        check(
            hello(Validator, &[2, 1], &[2, 1]),
            hello(Miner, &[1, 2], &[1]),
            Ok((2, 1)),
        );
        check(
            hello(Validator, &[1], &[1]),
            hello(Miner, &[2], &[1]),
            Err(ProtocolError::NoCommonVersion {
                what: "protocol",
                ours: vec![1],
                theirs: vec![2],
            }),
        );
        check(
            hello(Validator, &[1], &[1]),
            hello(Miner, &[1], &[]),
            Err(ProtocolError::NoCommonVersion {
                what: "abi",
                ours: vec![1],
                theirs: vec![],
            }),
        );
        check(
            hello(Miner, &[1], &[1]),
            hello(Miner, &[1], &[1]),
            Err(ProtocolError::SameRole { role: Miner }),
        );
    }
}
