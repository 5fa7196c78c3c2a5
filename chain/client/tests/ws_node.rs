//! The client over a real WebSocket: `ChainClient::connect("ws://…")` against the mock node
//! served on loopback (`common::ws`), once per committed runtime (finney, spec 393; spec 293),
//! as an operator's first contact goes: connect, read what the runtime offers, submit weights
//! and wait for the node's status updates (a subscription over the socket). What the in-process
//! tests (`mock_node.rs`, `mock_submit.rs`) check through subxt's mock client, this checks
//! through jsonrpsee's WebSocket client, the transport every real node is reached by.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chain::commit_reveal::WeightSubmission;
use chain_client::{ChainClient, ClientError, RuntimeSupport};
use common::mock::Outcome;
use common::runtimes;
use common::subnet::{NETUID, SUBNET_VERSION_KEY, Subnet, submitted, ws_node};
use subxt_signer::sr25519::dev;

#[tokio::test(flavor = "multi_thread")]
async fn connects_reads_and_submits_over_a_websocket_on_both_runtimes() {
    let alice = dev::alice().public_key().0;
    for rt in runtimes() {
        let name = rt.name;
        let mut s = Subnet::three_neurons(&rt);
        s.commit_reveal(None);
        let (url, seen) = ws_node(&rt, s.storage, Outcome::Success).await;
        let client = ChainClient::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{name}: connect {url}: {e}"));
        let info = client
            .chain_info(NETUID, Some(alice))
            .await
            .unwrap_or_else(|e| panic!("{name}: chain info: {e}"));
        assert_eq!(info.runtime.spec_version, rt.spec_version(), "{name}");
        assert_eq!(info.block, 100, "{name}");
        assert_eq!(info.metagraph.neurons.len(), 3, "{name}");
        let me = info.validator.as_ref().expect("standing");
        assert_eq!((me.uid, me.validator_permit), (Some(0), true), "{name}");
        // Commit-reveal off: set_weights, signed as Alice, sent and watched to its block.
        let expected_path = if rt.has_storage("CommitRevealWeightsVersion") {
            RuntimeSupport::call_of(&WeightSubmission::Timelocked {
                reveal_period_epochs: 3,
                version: 4,
            })
        } else {
            "commit_weights"
        };
        let path = info.submission.as_ref().expect("a usable path");
        assert_eq!(RuntimeSupport::call_of(path), expected_path, "{name}");
        let client = client.with_signer(dev::alice());
        let done = client
            .set_weights(NETUID, &[0, 2], &[65_535, 10], SUBNET_VERSION_KEY)
            .await
            .unwrap_or_else(|e| panic!("{name}: set_weights over the socket: {e}"));
        assert_eq!(done.call, "SubtensorModule::set_weights", "{name}");
        assert_eq!(done.block_hash, common::mock::INCLUDED, "{name}");
        assert_eq!(submitted(&seen).len(), 1, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_is_not_there_is_a_connect_error_naming_the_url() {
    // A port that was free a moment ago: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}");
    let Err(err) = ChainClient::connect(&url).await else {
        panic!("nothing listens at {url}");
    };
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
}
