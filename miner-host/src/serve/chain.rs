//! `miner-host serve` on a real chain (issue #7 item 2): publish the axon, and serve exactly
//! the validators the metagraph gives a permit, on top of the operator's lists.
//!
//! [`follow`] runs beside the server: it reads the metagraph once per subnet tempo (12 s
//! blocks), calls `serve_axon` when the chain's record of our axon differs from the address we
//! announce (at start, and whenever it changes), and replaces the served set with
//! [`served_validators`]: the hotkeys holding a validator permit, plus the operator's `allow`
//! entries, minus its `deny` entries. A chain error is logged and retried at the next refresh;
//! the last good list stays in force meanwhile.
//!
//! Choices: the axon's `protocol` field is 4 (what bittensor writes for its TCP axons; the
//! validator reads only the IP and port); `version` is this crate's version as
//! `major·1 000 000 + minor·1 000 + patch`.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chain_client::{ChainClient, Metagraph, ServeAxon};
use protocol::Hotkey;
use tracing::{info, warn};
use transport::AllowList;

/// What to follow and announce.
#[derive(Debug, Clone)]
pub struct ChainFollow {
    /// The subnet.
    pub netuid: u16,
    /// The public address validators reach us at (UDP for QUIC, TCP for probe data).
    pub external: SocketAddr,
    /// Refresh period; `None`: the subnet's tempo × 12 s.
    pub refresh: Option<Duration>,
}

/// The axon `version` of this build.
pub fn axon_version() -> u32 {
    let part = |s: &str| s.parse::<u32>().unwrap_or(0);
    part(env!("CARGO_PKG_VERSION_MAJOR"))
        .saturating_mul(1_000_000)
        .saturating_add(part(env!("CARGO_PKG_VERSION_MINOR")).saturating_mul(1_000))
        .saturating_add(part(env!("CARGO_PKG_VERSION_PATCH")))
}

/// Whether the metagraph records `me`'s axon at `external`.
pub fn axon_is_current(metagraph: &Metagraph, me: &Hotkey, external: SocketAddr) -> bool {
    metagraph
        .neurons
        .iter()
        .find(|n| n.hotkey == *me.as_bytes())
        .and_then(|n| n.axon)
        .is_some_and(|a| a.ip_addr() == Some(external.ip()) && a.port == external.port())
}

/// The validators to serve: every hotkey with a validator permit in `metagraph`, plus the
/// operator's allowed hotkeys, minus its denied ones (the deny list always wins).
pub fn served_validators(metagraph: &Metagraph, operator: &AllowList) -> AllowList {
    operator.with_also(
        metagraph
            .neurons
            .iter()
            .filter(|n| n.validator_permit)
            .map(|n| Hotkey::new(n.hotkey)),
    )
}

/// Follows the chain until the task is aborted (see the module docs).
pub async fn follow(
    client: ChainClient,
    settings: ChainFollow,
    me: Hotkey,
    operator: AllowList,
    allow: Arc<RwLock<AllowList>>,
) {
    loop {
        let mut wait = settings.refresh.unwrap_or(Duration::from_secs(60));
        match client.read_metagraph(settings.netuid).await {
            Ok(metagraph) => {
                if !metagraph.neurons.iter().any(|n| n.hotkey == *me.as_bytes()) {
                    warn!(
                        netuid = settings.netuid,
                        "this hotkey is not registered on the subnet; register it, then the \
                         axon is published at the next refresh"
                    );
                } else if !axon_is_current(&metagraph, &me, settings.external) {
                    let call = ServeAxon::from_socket(
                        settings.netuid,
                        axon_version(),
                        settings.external,
                        4,
                    );
                    match client.serve_axon(call).await {
                        Ok(_) => info!(external = %settings.external, "axon published"),
                        Err(e) => {
                            warn!(error = %e, "serve_axon failed; retrying at the next refresh")
                        }
                    }
                }
                let served = served_validators(&metagraph, &operator);
                let permits = metagraph
                    .neurons
                    .iter()
                    .filter(|n| n.validator_permit)
                    .count();
                match allow.write() {
                    Ok(mut list) => *list = served,
                    Err(_) => warn!("the allow list lock is poisoned; keeping the old list"),
                }
                info!(
                    block = metagraph.block,
                    permits, "validators with a permit now served"
                );
                if settings.refresh.is_none()
                    && let Ok(h) = client.read_hyperparams(settings.netuid).await
                {
                    wait = Duration::from_secs(u64::from(h.tempo).max(1).saturating_mul(12));
                }
            }
            Err(e) => warn!(error = %e, "cannot read the metagraph; keeping the served list"),
        }
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use chain_client::{AxonInfo, Neuron};

    use super::*;

    fn neuron(uid: u16, key: u8, permit: bool, axon: Option<AxonInfo>) -> Neuron {
        Neuron {
            uid,
            hotkey: [key; 32],
            alpha_stake: 0,
            tao_stake: 0,
            validator_permit: permit,
            last_update: 0,
            block_at_registration: 0,
            axon,
            weights: Vec::new(),
            bonds: Vec::new(),
        }
    }

    fn metagraph(neurons: Vec<Neuron>) -> Metagraph {
        Metagraph {
            netuid: 1,
            mechanism: 0,
            block: 10,
            block_hash: [0; 32],
            tao_weight: 0,
            neurons,
        }
    }

    #[test]
    fn permits_plus_operator_allow_minus_deny() {
        let m = metagraph(vec![
            neuron(0, 1, true, None),
            neuron(1, 2, true, None),
            neuron(2, 3, false, None),
        ]);
        let hex = |k: u8| format!("0x{}", hex::encode([k; 32]));
        let operator = AllowList::parse(&[hex(9)], &[hex(2)]).unwrap();
        let served = served_validators(&m, &operator);
        let admits = |k: u8| served.admits(&Hotkey::new([k; 32]));
        assert!(admits(1), "permit holder");
        assert!(!admits(2), "denied by the operator despite a permit");
        assert!(!admits(3), "no permit");
        assert!(admits(9), "the operator's own allow entry");
    }

    #[test]
    fn the_axon_is_current_only_at_the_announced_address() {
        let at = |ip: u32, port: u16| AxonInfo {
            block: 1,
            version: 1,
            ip: u128::from(ip),
            port,
            ip_type: 4,
            protocol: 4,
            placeholder1: 0,
            placeholder2: 0,
        };
        let external: SocketAddr = "203.0.113.7:8091".parse().unwrap();
        let ip = u32::from(std::net::Ipv4Addr::new(203, 0, 113, 7));
        let me = Hotkey::new([5; 32]);
        let m = metagraph(vec![neuron(0, 5, false, Some(at(ip, 8091)))]);
        assert!(axon_is_current(&m, &me, external));
        let moved = metagraph(vec![neuron(0, 5, false, Some(at(ip, 9000)))]);
        assert!(!axon_is_current(&moved, &me, external));
        let never = metagraph(vec![neuron(0, 5, false, None)]);
        assert!(!axon_is_current(&never, &me, external));
        // The workspace version is 0.1.0.
        assert_eq!(axon_version(), 1_000);
    }
}
