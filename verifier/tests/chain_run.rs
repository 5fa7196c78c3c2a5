//! `verifier run` against a chain node, once per committed runtime (finney, spec 393; an older
//! subtensor, spec 293), as issue #21 found it failing: the miners come from the metagraph (an
//! axon on loopback, where a real `miner-host serve` listens), one round is challenged and
//! recorded, and the weights are sent to the node over a WebSocket, on the path the runtime
//! offers: `set_weights` on finney with commit-reveal off; commit-reveal v2 (`commit_weights`,
//! its reveal kept in the store) on spec 293, which lacks `CommitRevealWeightsVersion` and
//! `MechanismCountCurrent`. The node is chain-client's mock node (its test support, shared
//! through `#[path]`) serving the runtime's real metadata.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../chain/client/tests/common/mod.rs"]
mod common;
mod process;

use std::time::Duration;

use chain_client::AxonInfo;
use common::mock::Outcome;
use common::runtimes;
use common::subnet::{AXON, NETUID, SUBNET_VERSION_KEY, Subnet, submitted_call, ws_node};
use process::{finish, miners, spawn_run, validator_hotkey};
use transport::identity::ss58;
use validator_store::{Store, SubmissionMethod};
use verifier::localnet::TempDir;

#[tokio::test(flavor = "multi_thread")]
async fn run_reads_the_metagraph_and_submits_weights_on_both_runtimes() {
    for rt in runtimes() {
        let name = rt.name;
        let dir = TempDir::new(&format!("chain-run-{name}")).unwrap();
        let miners = miners(dir.path(), &[None]);
        let miner = &miners[0];
        let old = !rt.has_storage("CommitRevealWeightsVersion");

        // uid 0: this validator (permit, last weights at block 90, rate limit 10, block 100);
        // uid 1: the miner, its axon where it listens; uid 2: a neuron without an axon.
        let mut s = Subnet::three_neurons(&rt);
        let std::net::IpAddr::V4(ip) = miner.addr.ip() else {
            panic!("miners listen on IPv4 loopback")
        };
        let axon = AxonInfo {
            ip: u32::from(ip).into(),
            port: miner.addr.port(),
            ..AXON
        };
        s.neuron(0, validator_hotkey().as_bytes(), None);
        s.neuron(1, miner.hotkey.as_bytes(), Some(&axon));
        if old {
            s.commit_reveal(None);
        }
        let (url, seen) = ws_node(&rt, s.storage, Outcome::Success).await;

        // The class table from a file (`classes = "…"`): the built-in one, copied.
        std::fs::write(
            dir.path().join("classes.toml"),
            verifier::classes::EMBEDDED_TOML,
        )
        .unwrap();
        let key = dir.path().join("validator-session.key");
        transport::identity::keygen(&key, true).unwrap();
        let config = dir.path().join("validator.toml");
        std::fs::write(
            &config,
            format!(
                "store = \"validator.sqlite\"\nsession_key = \"validator-session.key\"\n\
                 classes = \"classes.toml\"\n\n\
                 [hotkey]\nuri = \"{}\"\n\n\
                 [chain]\nurl = \"{url}\"\nnetuid = {NETUID}\nversion_key = {SUBNET_VERSION_KEY}\n\n\
                 [miners]\nsource = \"metagraph\"\n\n\
                 [bandwidth]\nprobe_max_mib = 1\n\n\
                 [round]\nminer_timeout_s = 60\nallow_cpu_reference = true\n",
                process::VALIDATOR_URI
            ),
        )
        .unwrap();
        let run_config = config.clone();
        let log = tokio::task::spawn_blocking(move || {
            finish(spawn_run(&run_config, 1), Duration::from_secs(300))
        })
        .await
        .unwrap();

        // The table in use, and its hash, are in the log.
        let hash = hex::encode(verifier::classes::class_table_hash(
            verifier::classes::EMBEDDED_TOML,
        ));
        assert!(
            log.contains("classes.toml") && log.contains(&hash),
            "{name}: the class table's file and hash are logged: {log}"
        );
        let store = Store::open(&dir.path().join("validator.sqlite")).unwrap();
        let standings = store.standings().unwrap();
        assert_eq!(
            standings.len(),
            1,
            "{name}: the metagraph's one miner: {log}"
        );
        assert_eq!(standings[0].hotkey, ss58(&miner.hotkey), "{name}");
        assert!(standings[0].score > 0.0, "{name}: {:?}", standings[0]);
        let submissions = store.submissions().unwrap();
        assert_eq!(submissions.len(), 1, "{name}: {submissions:?}\n{log}");
        let sub = &submissions[0];
        assert_eq!(sub.outcome, "ok", "{name}: {sub:?}\n{log}");
        assert_eq!(sub.uids, vec![1], "{name}: {sub:?}");
        assert_eq!(sub.values, vec![u16::MAX], "{name}: {sub:?}");
        let call = submitted_call(&rt, &seen);
        if old {
            assert_eq!(
                sub.method,
                SubmissionMethod::CommitRevealV2,
                "{name}: {sub:?}"
            );
            assert_eq!(call[..2], rt.call_prefix("commit_weights"), "{name}");
            // The reveal waits in the store for its window.
            assert_eq!(store.pending_reveals().unwrap().len(), 1, "{name}");
            assert!(
                log.contains("CommitRevealWeightsVersion"),
                "{name}: the fallback is logged: {log}"
            );
        } else {
            assert_eq!(sub.method, SubmissionMethod::SetWeights, "{name}: {sub:?}");
            assert_eq!(call[..2], rt.call_prefix("set_weights"), "{name}");
        }
        drop(store);
        drop(miners);
    }
}
