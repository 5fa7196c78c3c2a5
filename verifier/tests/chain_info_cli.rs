//! `verifier chain info` as an operator runs it: the binary, pointed with `--url` at a node
//! reached over a WebSocket on loopback, once per committed runtime (finney, spec 393; an older
//! subtensor, spec 293). The node is chain-client's mock node (its test support, shared through
//! `#[path]`) serving the runtime's real metadata and a three-neuron subnet; what the command
//! prints must be what that storage and metadata say: the spec version, what the old runtime
//! lacks and the behaviour used instead, the submission path `verifier run` would take, this
//! validator's uid and permit, and the metagraph's neurons with their axons.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../chain/client/tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

use common::mock::Outcome;
use common::runtimes;
use common::subnet::{AXON, NETUID, Subnet, ws_node};
use serde_json::Value;
use subxt_signer::sr25519::dev;

/// Alice's public key as 0x-hex: the hotkey of uid 0 in the mock subnet.
fn alice_hex() -> String {
    format!("0x{}", hex::encode(dev::alice().public_key().0))
}

/// Runs the verifier binary off the async runtime (the node serves on it meanwhile).
async fn verifier(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_verifier"))
            .args(&args)
            .output()
            .expect("verifier runs")
    })
    .await
    .expect("the command's thread")
}

#[tokio::test(flavor = "multi_thread")]
async fn chain_info_reads_both_runtimes_over_a_websocket() {
    for rt in runtimes() {
        let name = rt.name;
        let mut s = Subnet::three_neurons(&rt);
        s.commit_reveal(None);
        let (url, _seen) = ws_node(&rt, s.storage, Outcome::Success).await;
        let out = verifier(vec![
            "chain".into(),
            "info".into(),
            "--url".into(),
            url.clone(),
            "--netuid".into(),
            NETUID.to_string(),
            "--hotkey".into(),
            alice_hex(),
            "--json".into(),
        ])
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: chain info failed: {stderr}");
        let info: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: --json prints one object: {e}"));

        assert_eq!(info["url"], url.as_str(), "{name}");
        assert_eq!(info["netuid"], NETUID, "{name}");
        assert_eq!(info["block"], 100, "{name}");
        assert_eq!(info["runtime"]["spec_version"], rt.spec_version(), "{name}");
        let missing: Vec<&str> = info["runtime"]["fallbacks"]
            .as_array()
            .expect("fallbacks")
            .iter()
            .map(|f| f["missing"].as_str().expect("missing names an item"))
            .collect();
        let old = !rt.has_storage("CommitRevealWeightsVersion");
        if old {
            // The spec-293 runtime lacks these; each is named with the behaviour used.
            assert!(
                missing.contains(&"CommitRevealWeightsVersion"),
                "{name}: {missing:?}"
            );
            assert!(
                missing.contains(&"MechanismCountCurrent"),
                "{name}: {missing:?}"
            );
            assert_eq!(
                info["runtime"]["calls"]["commit_timelocked_weights"], false,
                "{name}"
            );
            assert_eq!(info["hyperparameters"]["mechanism_count"], 1, "{name}");
            assert_eq!(info["submission"]["path"], "commit-reveal-v2", "{name}");
        } else {
            assert!(
                !missing.contains(&"CommitRevealWeightsVersion"),
                "{name}: {missing:?}"
            );
            assert!(
                !missing.contains(&"MechanismCountCurrent"),
                "{name}: {missing:?}"
            );
            assert_eq!(
                info["runtime"]["calls"]["commit_timelocked_weights"], true,
                "{name}"
            );
            assert_eq!(info["hyperparameters"]["mechanism_count"], 2, "{name}");
            assert_eq!(info["submission"]["path"], "timelocked-v4", "{name}");
        }
        // The epoch-schedule items arrived after both committed runtimes: the fixed schedule.
        let epoch_items = "LastEpochBlock, PendingEpochAt, SubnetEpochIndex";
        assert_eq!(
            missing.contains(&epoch_items),
            !rt.has_storage("LastEpochBlock"),
            "{name}: {missing:?}"
        );
        assert_eq!(
            info["epoch"]["schedule"],
            if rt.has_storage("LastEpochBlock") {
                "stateful"
            } else {
                "fixed"
            },
            "{name}"
        );
        assert_eq!(info["hyperparameters"]["tempo"], 99, "{name}");
        assert_eq!(
            info["hyperparameters"]["commit_reveal_enabled"], true,
            "{name}"
        );
        assert_eq!(info["validator"]["uid"], 0, "{name}");
        assert_eq!(info["validator"]["validator_permit"], true, "{name}");
        let neurons = info["neurons"].as_array().expect("neurons");
        assert_eq!(neurons.len(), 3, "{name}");
        assert_eq!(neurons[0]["role"], "this validator", "{name}");
        let axon =
            std::net::SocketAddr::new(AXON.ip_addr().expect("an IPv4 axon"), AXON.port).to_string();
        assert_eq!(neurons[1]["axon"], axon.as_str(), "{name}");
        assert_eq!(neurons[1]["role"], "miner", "{name}");
        assert_eq!(neurons[2]["role"], "no axon", "{name}");

        // The text form says the same in words, without --json.
        let text = verifier(vec![
            "chain".into(),
            "info".into(),
            "--url".into(),
            url.clone(),
            "--netuid".into(),
            NETUID.to_string(),
        ])
        .await;
        assert!(text.status.success(), "{name}");
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains(&format!("spec version {}", rt.spec_version())),
            "{name}: {text}"
        );
        if old {
            assert!(
                text.contains("lacks CommitRevealWeightsVersion"),
                "{name}: {text}"
            );
            assert!(text.contains("commit-reveal v2"), "{name}: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chain_info_on_a_node_that_is_not_there_says_so_and_fails() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}");
    let out = verifier(vec![
        "chain".into(),
        "info".into(),
        "--url".into(),
        url.clone(),
        "--netuid".into(),
        "1".into(),
    ])
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&url), "the error names the node: {stderr}");
}
