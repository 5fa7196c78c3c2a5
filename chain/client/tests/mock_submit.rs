//! Submissions end-to-end through the real client code over subxt's `MockRpcClient`, once per
//! committed runtime metadata file (finney, spec 393; spec 293): every path `submit_weights`
//! takes on each runtime (checked by decoding the extrinsic the node received, with that
//! runtime's call indices), the refusal of the path a runtime lacks, and the weights the chain
//! would refuse, refused before anything is signed. A transport test: no runtime runs, so it
//! does not prove the runtime accepts what was sent (fees, signatures): only a live node does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chain::commit_reveal::{CommitRevealError, commit_hash_v2};
use chain_client::acceptance::WeightsRefusal;
use chain_client::{ClientError, WeightsSubmitted};
use common::mock::{Outcome, finney_without_call, finney_without_storage};
use common::subnet::{
    NETUID, SUBNET_VERSION_KEY, Subnet, call_bytes, client, n, signed, submitted, submitted_call,
};
use common::{Runtime, compact, runtimes, vec_u16};
use subxt::ext::scale_value::Value;
use subxt_signer::sr25519::dev;

/// `set_weights(1, [0, 2], [65535, 10], key)` as `rt` encodes it.
fn set_weights_call(rt: &Runtime, key: u64) -> Vec<u8> {
    call_bytes(
        rt,
        "set_weights",
        &[
            &n(NETUID),
            &vec_u16(&[0, 2]),
            &vec_u16(&[65535, 10]),
            &key.to_le_bytes(),
        ],
    )
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

#[tokio::test]
async fn set_weights_is_signed_submitted_and_confirmed() {
    for rt in runtimes() {
        let (client, seen) = signed(&rt, Subnet::three_neurons(&rt).storage).await;
        let done = client
            .set_weights(NETUID, &[0, 2], &[65535, 10], SUBNET_VERSION_KEY)
            .await
            .expect("submitted");
        assert_eq!(
            (done.call, done.block_hash, done.finalized),
            (
                "SubtensorModule::set_weights",
                common::mock::INCLUDED,
                false
            ),
            "{}",
            rt.name
        );
        let bytes = &submitted(&seen)[0];
        assert_eq!(sp_crypto_hashing::blake2_256(bytes), done.extrinsic_hash);
        assert_eq!(
            submitted_call(&rt, &seen),
            set_weights_call(&rt, SUBNET_VERSION_KEY),
            "{}",
            rt.name
        );
        let ext = subxt::ext::frame_decode::extrinsics::decode_extrinsic(
            &mut &bytes[..],
            &*rt.metadata,
            rt.metadata.types(),
        )
        .expect("decodes");
        let sig = ext.signature_payload().expect("signed");
        assert_eq!(
            &bytes[sig.address_range()][1..],
            &dev::alice().public_key().0
        );
        // The nonce came from system_accountNextIndex (7), not the finalized state (6).
        let exts = ext.transaction_extension_payload().expect("extensions");
        let nonce = exts
            .iter()
            .find(|e| e.name() == "CheckNonce")
            .expect("nonce");
        assert_eq!(&bytes[nonce.range()], &[7 << 2], "{}", rt.name);
    }
}

#[tokio::test]
async fn calls_without_a_signer_are_refused() {
    for rt in runtimes() {
        let (client, seen) =
            client(&rt, Subnet::three_neurons(&rt).storage, Outcome::Success).await;
        let err = client
            .set_weights(NETUID, &[1], &[1], 1)
            .await
            .expect_err("no signer");
        assert!(err.to_string().contains("with_signer"), "{err}");
        let err = client
            .submit_weights(NETUID, &[0, 2], &[1, 1], SUBNET_VERSION_KEY)
            .await
            .expect_err("no signer");
        assert!(err.to_string().contains("with_signer"), "{err}");
        assert!(submitted(&seen).is_empty(), "{}", rt.name);
    }
}

#[tokio::test]
async fn submit_weights_uses_set_weights_when_commit_reveal_is_off() {
    for rt in runtimes() {
        let (client, seen) = signed(&rt, Subnet::three_neurons(&rt).storage).await;
        let done = client
            .submit_weights(NETUID, &[0, 2], &[65535, 10], SUBNET_VERSION_KEY)
            .await
            .expect("submitted");
        assert!(
            matches!(done, WeightsSubmitted::Set(s) if s.call == "SubtensorModule::set_weights"),
            "{}",
            rt.name
        );
        assert_eq!(
            submitted_call(&rt, &seen),
            set_weights_call(&rt, SUBNET_VERSION_KEY)
        );
    }
}

#[tokio::test]
async fn submit_weights_commits_v2_and_reveals_it_on_both_runtimes() {
    for rt in runtimes() {
        let name = rt.name;
        // Version 2 stored where the runtime has the item; no item at all on spec 293.
        let mut s = Subnet::three_neurons(&rt);
        s.commit_reveal(Some(2));
        let (client, seen) = signed(&rt, s.storage).await;
        let done = client
            .submit_weights(NETUID, &[0, 2], &[65535, 10], SUBNET_VERSION_KEY)
            .await
            .expect("submitted");
        let WeightsSubmitted::CommittedV2 { submitted, pending } = done else {
            panic!("{name}: expected a v2 commit, got {done:?}");
        };
        assert_eq!(submitted.call, "SubtensorModule::commit_weights", "{name}");
        assert_eq!(pending.salt.len(), 8, "{name}");
        // Finalized head 100, commit at 101; tempo 99, netuid 1: epoch (101 + 2) / 100 = 1,
        // reveal period 3 → epoch 4 = blocks 398..=497.
        assert_eq!(pending.reveal_window, (398, 497), "{name}");
        let hash = commit_hash_v2(
            &dev::alice().public_key().0,
            NETUID,
            &[0, 2],
            &[65535, 10],
            &pending.salt,
            SUBNET_VERSION_KEY,
        );
        assert_eq!(
            submitted_call(&rt, &seen),
            call_bytes(&rt, "commit_weights", &[&n(NETUID), &hash]),
            "{name}"
        );

        // The reveal, on a fresh node of the same runtime.
        let mut s = Subnet::three_neurons(&rt);
        s.commit_reveal(Some(2));
        let (client, seen) = signed(&rt, s.storage).await;
        let done = client.reveal_pending(&pending).await.expect("revealed");
        assert_eq!(done.call, "SubtensorModule::reveal_weights", "{name}");
        assert_eq!(
            submitted_call(&rt, &seen),
            call_bytes(
                &rt,
                "reveal_weights",
                &[
                    &n(NETUID),
                    &vec_u16(&[0, 2]),
                    &vec_u16(&[65535, 10]),
                    &vec_u16(&pending.salt),
                    &SUBNET_VERSION_KEY.to_le_bytes(),
                ]
            ),
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_default_commit_reveal_path_is_each_runtimes_own() {
    for rt in runtimes() {
        let name = rt.name;
        // No version stored: finney's metadata default is 4 (timelocked); spec 293 has no such
        // item, so commit-reveal is v2 there, even with a stale value left under the key.
        let mut s = Subnet::three_neurons(&rt);
        s.commit_reveal(None);
        s.storage.insert(
            common::subtensor_key("CommitRevealWeightsVersion", &[]),
            4u16.to_le_bytes().to_vec(),
        );
        let (client, seen) = signed(&rt, s.storage).await;
        let before = now_ms();
        let done = client
            .submit_weights(NETUID, &[0, 2], &[65535, 10], SUBNET_VERSION_KEY)
            .await
            .expect("submitted");
        let after = now_ms();
        let call = submitted_call(&rt, &seen);
        if rt.has_call("commit_timelocked_weights") {
            let WeightsSubmitted::Timelocked {
                submitted,
                reveal_round,
                reveal_block,
            } = done
            else {
                panic!("{name}: expected a timelocked commit, got {done:?}");
            };
            assert_eq!(submitted.call, "SubtensorModule::commit_timelocked_weights");
            // No stateful epoch items: the fixed schedule, reveal at 398 (see the v2 test);
            // 398 + 3 − 100 = 301 blocks of 12 s from now.
            assert_eq!(reveal_block, 398);
            let round = |ms| chain::reveal_round::reveal_round(100, 398, ms, 12_000);
            assert!((round(before)..=round(after)).contains(&reveal_round));
            // Payload: Vec<u8> hotkey (1 + 32) + uids (1 + 4) + values (1 + 4) + key (8) = 51.
            let commit_len = chain::tlock::CIPHERTEXT_OVERHEAD + 51;
            assert_eq!(commit_len, 295);
            let prefix = call_bytes(&rt, "commit_timelocked_weights", &[&n(NETUID)]);
            assert_eq!(&call[..4], &prefix[..]);
            assert_eq!(&call[4..6], &compact(commit_len as u32)[..]);
            let commit = &call[6..6 + commit_len];
            chain::tlock::Ciphertext::from_bytes(commit).expect("the runtime's layout");
            assert_eq!(
                &call[6 + commit_len..6 + commit_len + 8],
                &reveal_round.to_le_bytes()
            );
            assert_eq!(&call[6 + commit_len + 8..], &[4, 0]);
        } else {
            assert!(
                matches!(&done, WeightsSubmitted::CommittedV2 { .. }),
                "{name}: {done:?}"
            );
            assert_eq!(&call[..2], &rt.call_prefix("commit_weights"), "{name}");
        }
    }
}

#[tokio::test]
async fn a_call_the_runtime_lacks_is_a_typed_error_naming_its_spec_version() {
    // Spec 293 has no commit_timelocked_weights: asking for it directly is refused by name,
    // before anything is signed.
    let [_, spec293] = runtimes();
    let (client, seen) = signed(&spec293, Subnet::three_neurons(&spec293).storage).await;
    let err = client
        .commit_timelocked_weights(NETUID, vec![1; 10], 5, 4)
        .await
        .expect_err("no such call");
    assert!(
        matches!(
            &err,
            ClientError::CallNotInRuntime { call, spec_version: 293 }
                if call == "SubtensorModule::commit_timelocked_weights"
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("spec version 293"), "{err}");
    assert!(submitted(&seen).is_empty());

    // A runtime whose commit-reveal settings ask for timelocked commits but which has no
    // commit_timelocked_weights (finney's metadata without the call): submit_weights refuses
    // the path, naming the runtime's spec version, and sends nothing.
    let [finney, _] = runtimes();
    let mut s = Subnet::three_neurons(&finney);
    s.commit_reveal(Some(4));
    let metadata = finney_without_call("commit_timelocked_weights");
    let (rpc, seen) = common::mock::rpc_client_with_metadata(
        common::subnet::chain(s.storage, Outcome::Success),
        metadata,
    );
    let client = chain_client::ChainClient::from_rpc_client(rpc)
        .await
        .expect("client")
        .with_signer(dev::alice());
    let err = client
        .submit_weights(NETUID, &[0, 2], &[65535, 10], SUBNET_VERSION_KEY)
        .await
        .expect_err("path not in the runtime");
    assert!(
        matches!(
            &err,
            ClientError::CallNotInRuntime {
                spec_version: 393,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(submitted(&seen).is_empty());
}

#[tokio::test]
async fn submit_weights_refuses_unsupported_versions_and_bad_weights_before_signing() {
    let [finney, _] = runtimes();
    let mut s = Subnet::three_neurons(&finney);
    s.commit_reveal(Some(3));
    let (client3, seen) = signed(&finney, s.storage).await;
    let err = client3
        .submit_weights(NETUID, &[0], &[1], SUBNET_VERSION_KEY)
        .await
        .expect_err("version 3");
    assert!(matches!(
        err,
        ClientError::CommitReveal(CommitRevealError::UnsupportedVersion { version: 3 })
    ));
    assert!(submitted(&seen).is_empty());

    for rt in runtimes() {
        let mut s = Subnet::three_neurons(&rt);
        s.commit_reveal(None);
        let (client, seen) = signed(&rt, s.storage).await;
        let err = client
            .submit_weights(NETUID, &[0, 0], &[1, 2], SUBNET_VERSION_KEY)
            .await
            .expect_err("duplicate uid");
        assert!(err.to_string().contains("uid 0 appears twice"), "{err}");
        assert!(submitted(&seen).is_empty(), "{}", rt.name);
    }

    // A timelocked commit over the chain's 5000 bytes, on a subnet big enough for 1200 uids.
    let mut s = Subnet::three_neurons(&finney);
    s.commit_reveal(None);
    s.subnet_value("SubnetworkN", Value::u128(1200));
    let (client, seen) = signed(&finney, s.storage).await;
    let err = client
        .submit_weights(
            NETUID,
            &(0..1200).collect::<Vec<_>>(),
            &[1; 1200],
            SUBNET_VERSION_KEY,
        )
        .await
        .expect_err("too large");
    assert!(err.to_string().contains("5000"), "{err}");
    assert!(submitted(&seen).is_empty());
}

/// Submits `[0, 2] → [65535, 10]` with the subnet's key to a node holding `subnet` and returns
/// the refusal, checking that nothing was sent.
async fn refusal_of(rt: &Runtime, subnet: Subnet<'_>) -> WeightsRefusal {
    let (client, seen) = signed(rt, subnet.storage).await;
    let err = client
        .submit_weights(NETUID, &[0, 2], &[65535, 10], SUBNET_VERSION_KEY)
        .await
        .expect_err("refused");
    assert!(submitted(&seen).is_empty(), "{}: {err}", rt.name);
    match err {
        ClientError::WeightsRefused { netuid, refusal } => {
            assert_eq!(netuid, NETUID);
            let message = ClientError::WeightsRefused {
                netuid,
                refusal: refusal.clone(),
            }
            .to_string();
            assert!(
                message.contains(refusal.chain_error()) && message.contains("not submitted"),
                "{message}"
            );
            refusal
        }
        other => panic!("{}: expected a refusal, got {other:?}", rt.name),
    }
}

#[tokio::test]
async fn weights_the_chain_would_refuse_are_not_sent_and_name_the_reason() {
    for rt in runtimes() {
        let name = rt.name;
        // Rate limit: uid 0 updated at 95, limit 10, the extrinsic would land at 101.
        let mut s = Subnet::three_neurons(&rt);
        s.last_update(&[95, 80, 0]);
        let refusal = refusal_of(&rt, s).await;
        assert_eq!(
            refusal.chain_error(),
            "SubtensorModule::SettingWeightsTooFast",
            "{name}"
        );
        assert!(
            refusal.to_string().contains("earliest block is 105"),
            "{refusal}"
        );
        // The same through a commit: the commit's own error.
        let mut s = Subnet::three_neurons(&rt);
        s.last_update(&[95, 80, 0]).commit_reveal(Some(2));
        assert_eq!(
            refusal_of(&rt, s).await.chain_error(),
            "SubtensorModule::CommittingWeightsTooFast",
            "{name}"
        );
        // No validator permit.
        let mut s = Subnet::three_neurons(&rt);
        s.permits(&[false, false, false]);
        assert_eq!(
            refusal_of(&rt, s).await.chain_error(),
            "SubtensorModule::NeuronNoValidatorPermit",
            "{name}"
        );
        // Too few weights for MinAllowedWeights.
        let mut s = Subnet::three_neurons(&rt);
        s.subnet_value("MinAllowedWeights", Value::u128(3));
        assert_eq!(
            refusal_of(&rt, s).await.chain_error(),
            "SubtensorModule::WeightVecLengthIsLow",
            "{name}"
        );
        // One weight far above MaxWeightsLimit (one half).
        let mut s = Subnet::three_neurons(&rt);
        s.subnet_value("MaxWeightsLimit", Value::u128(32_768));
        assert_eq!(
            refusal_of(&rt, s).await.chain_error(),
            "SubtensorModule::MaxWeightExceeded",
            "{name}"
        );
        // The signer is not registered.
        let mut s = Subnet::three_neurons(&rt);
        s.remove("Uids", &[&n(NETUID), &dev::alice().public_key().0]);
        assert_eq!(
            refusal_of(&rt, s).await.chain_error(),
            "SubtensorModule::HotKeyNotRegisteredInSubNet",
            "{name}"
        );
    }
}

#[tokio::test]
async fn submit_weights_refuses_a_version_key_below_the_subnets_before_signing() {
    // set_weights, commit-reveal v2 and the default path: the chain checks the key at
    // set_weights and at every reveal, so no path may submit a key it will refuse.
    for rt in runtimes() {
        for version in [None, Some(Some(2)), Some(None)] {
            for low in [0, SUBNET_VERSION_KEY - 1] {
                let mut s = Subnet::three_neurons(&rt);
                if let Some(v) = version {
                    s.commit_reveal(v);
                }
                let (client, seen) = signed(&rt, s.storage).await;
                let err = client
                    .submit_weights(NETUID, &[0, 2], &[65535, 10], low)
                    .await
                    .expect_err("version key below the subnet's");
                assert!(
                    matches!(
                        err,
                        ClientError::WeightsVersionKeyTooLow {
                            netuid: NETUID,
                            subnet_version_key: SUBNET_VERSION_KEY,
                            version_key,
                        } if version_key == low
                    ),
                    "{}: {err:?}",
                    rt.name
                );
                assert_eq!(
                    err.chain_error(),
                    Some("SubtensorModule::IncorrectWeightVersionKey")
                );
                let message = err.to_string();
                assert!(
                    message.contains(&format!(
                        "WeightsVersionKey is 2001003 but this validator submits version_key {low}"
                    )),
                    "{message}"
                );
                assert!(
                    message.contains("set [chain] version_key = 2001003 in validator.toml"),
                    "{message}"
                );
                assert!(submitted(&seen).is_empty());
            }
        }
    }
}

#[tokio::test]
async fn submit_weights_sends_a_version_key_equal_to_or_above_the_subnets() {
    for rt in runtimes() {
        for key in [SUBNET_VERSION_KEY, SUBNET_VERSION_KEY + 1, u64::MAX] {
            let (client, seen) = signed(&rt, Subnet::three_neurons(&rt).storage).await;
            let done = client
                .submit_weights(NETUID, &[0, 2], &[65535, 10], key)
                .await
                .expect("submitted");
            assert!(matches!(done, WeightsSubmitted::Set(_)), "{done:?}");
            assert_eq!(submitted_call(&rt, &seen), set_weights_call(&rt, key));
        }
        // No WeightsVersionKey stored: the metadata's default, 0, which accepts any key.
        let mut s = Subnet::three_neurons(&rt);
        s.remove("WeightsVersionKey", &[&n(NETUID)]);
        let (client, seen) = signed(&rt, s.storage).await;
        let hp = client.read_hyperparams(NETUID).await.expect("read");
        assert_eq!(hp.weights_version_key, 0, "{}", rt.name);
        assert!(hp.accepts_version_key(0));
        client
            .submit_weights(NETUID, &[0, 2], &[65535, 10], 0)
            .await
            .expect("submitted");
        assert_eq!(submitted_call(&rt, &seen), set_weights_call(&rt, 0));
    }
}

#[tokio::test]
async fn submit_weights_skips_the_version_key_check_where_the_runtime_has_no_such_storage() {
    // A runtime without WeightsVersionKey: the stale value left in storage is not read, the
    // hyperparameters report 0 and say it was defaulted, and the weights go out unchecked.
    let [finney, _] = runtimes();
    let metadata = finney_without_storage("WeightsVersionKey");
    let (rpc, seen) = common::mock::rpc_client_with_metadata(
        common::subnet::chain(Subnet::three_neurons(&finney).storage, Outcome::Success),
        metadata,
    );
    let client = chain_client::ChainClient::from_rpc_client(rpc)
        .await
        .expect("client over the mock")
        .with_signer(dev::alice());
    let hp = client.read_hyperparams(NETUID).await.expect("read");
    assert_eq!((hp.tempo, hp.weights_version_key), (99, 0));
    assert_eq!(
        hp.defaulted,
        vec![chain_client::Fallback::WeightsVersionKey]
    );
    let done = client
        .submit_weights(NETUID, &[0, 2], &[65535, 10], 0)
        .await
        .expect("submitted without the check");
    assert!(matches!(done, WeightsSubmitted::Set(_)), "{done:?}");
    assert_eq!(submitted_call(&finney, &seen), set_weights_call(&finney, 0));
}

#[tokio::test]
async fn the_version_key_rule_is_subtensors_check_version_key() {
    let [finney, _] = runtimes();
    let (client, _) = client(
        &finney,
        Subnet::three_neurons(&finney).storage,
        Outcome::Success,
    )
    .await;
    let hp = client.read_hyperparams(NETUID).await.expect("read");
    let with = |weights_version_key| chain_client::SubnetHyperparams {
        weights_version_key,
        ..hp.clone()
    };
    // WeightsVersionKey 0: any key.
    assert!(with(0).accepts_version_key(0));
    assert!(with(0).accepts_version_key(u64::MAX));
    // Otherwise version_key >= WeightsVersionKey.
    assert!(!with(5).accepts_version_key(0));
    assert!(!with(5).accepts_version_key(4));
    assert!(with(5).accepts_version_key(5));
    assert!(with(5).accepts_version_key(6));
}
