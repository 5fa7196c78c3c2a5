//! Opt-in test against a real subtensor node: set `SUBTENSOR_URL` (e.g. `ws://127.0.0.1:9944`
//! for a local node, or a testnet `wss://` endpoint) and optionally `SUBTENSOR_NETUID`
//! (default 1). Without `SUBTENSOR_URL` it prints that it skipped and passes. It only reads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chain_client::ChainClient;

#[tokio::test]
async fn reads_a_live_metagraph_when_subtensor_url_is_set() {
    let Ok(url) = std::env::var("SUBTENSOR_URL") else {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "skipped: SUBTENSOR_URL not set");
        return;
    };
    let netuid: u16 = std::env::var("SUBTENSOR_NETUID")
        .ok()
        .map(|v| v.parse().expect("SUBTENSOR_NETUID is a u16"))
        .unwrap_or(1);
    let client = ChainClient::connect(&url).await.expect("connects");
    let info = client.chain_info(netuid, None).await.expect("chain info");
    println!(
        "runtime spec {}: lacks {:?}; calls {:?}; hyperparameters defaulted {:?}; submission {:?}; next epoch at {:?}",
        info.runtime.spec_version,
        info.runtime.fallbacks,
        info.runtime.calls,
        info.hyperparams.defaulted,
        info.submission,
        info.next_epoch_block
    );
    let hp = client
        .read_hyperparams(netuid)
        .await
        .expect("hyperparameters");
    let graph = client.read_metagraph(netuid).await.expect("metagraph");
    println!(
        "netuid {netuid} at block {}: {} neurons, tempo {}, version key {}, commit-reveal {} (v{}), {} mechanism(s), submission {:?}",
        graph.block,
        graph.neurons.len(),
        hp.tempo,
        hp.weights_version_key,
        hp.commit_reveal_enabled,
        hp.commit_reveal_version,
        hp.mechanism_count,
        hp.weight_submission()
    );
    for neuron in graph.neurons.iter().take(5) {
        println!(
            "  uid {} stake α{} τ{} permit {} axon {:?}",
            neuron.uid,
            neuron.alpha_stake,
            neuron.tao_stake,
            neuron.validator_permit,
            neuron.axon.and_then(|a| a.ip_addr().map(|ip| (ip, a.port)))
        );
    }
    let state = graph.to_subnet_state(&hp, graph.block);
    chain::run_epoch(&state, 1_000_000_000).expect("the live metagraph runs through the epoch");
}
