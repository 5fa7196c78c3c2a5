//! Reads end-to-end through the real client code over subxt's `MockRpcClient`, once per
//! committed runtime metadata file (finney, spec 393, V16; an older subtensor, spec 293, V14):
//! the node serves that metadata, its runtime version, and storage whose keys are hashed with
//! that runtime's hashers and whose values are encoded against its own type registry
//! (`common::subnet`). This is a transport test: it proves the client asks for the right keys,
//! decodes and checks what comes back, and falls back where a runtime lacks an item; no runtime
//! runs. Submissions are in `mock_submit.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chain::commit_reveal::{CommitRevealError, WeightSubmission};
use chain::reveal_round::EpochSchedule;
use chain_client::acceptance::WeightsRefusal;
use chain_client::{ChainClient, ClientError, Fallback, Neuron, RuntimeSupport, WaitFor};
use common::mock::Outcome;
use common::subnet::{AXON, NETUID, RATE_LIMIT, Subnet, client, hotkeys, n, signed};
use common::{Runtime, runtimes, subtensor_key};
use subxt::ext::frame_decode::storage::StorageHasher;
use subxt::ext::scale_value::Value;
use subxt_signer::sr25519::dev;

/// What each committed runtime lacks, as the client must see it.
fn expected_fallbacks(rt: &Runtime) -> Vec<Fallback> {
    match rt.name {
        "finney" => vec![Fallback::EpochSchedule],
        "spec293" => vec![
            Fallback::CommitRevealVersion,
            Fallback::MechanismCount,
            Fallback::EpochSchedule,
        ],
        other => panic!("unknown runtime {other}"),
    }
}

#[test]
fn the_metadata_files_are_the_runtimes_they_claim() {
    let [finney, spec293] = runtimes();
    assert_eq!(
        (finney.spec_version(), finney.metadata_version()),
        (393, 16)
    );
    assert_eq!(
        (spec293.spec_version(), spec293.metadata_version()),
        (293, 14)
    );
    for rt in runtimes() {
        let support = RuntimeSupport::of(&rt.metadata, rt.spec_version());
        assert_eq!(support.fallbacks, expected_fallbacks(&rt), "{}", rt.name);
        let lacks: Vec<&str> = support
            .calls
            .iter()
            .filter(|(_, has)| !has)
            .map(|(name, _)| *name)
            .collect();
        let expected: &[&str] = if rt.name == "spec293" {
            &["commit_timelocked_weights"]
        } else {
            &[]
        };
        assert_eq!(lacks, expected, "{}", rt.name);
        // The same pallet and call indices on both (the client takes them from the metadata).
        for (call, index) in [
            ("set_weights", 0),
            ("serve_axon", 4),
            ("commit_weights", 96),
            ("reveal_weights", 97),
        ] {
            assert_eq!(rt.call_prefix(call), [7, index], "{}: {call}", rt.name);
        }
    }
    assert_eq!(finney.call_prefix("commit_timelocked_weights"), [7, 113]);
}

#[test]
fn every_storage_item_the_client_reads_is_there_or_has_a_fallback() {
    let fallbacks = [
        "CommitRevealWeightsVersion",
        "MechanismCountCurrent",
        "LastEpochBlock",
        "PendingEpochAt",
        "SubnetEpochIndex",
        "WeightsVersionKey",
    ];
    for rt in runtimes() {
        for entry in [
            "NetworksAdded",
            "SubnetworkN",
            "Keys",
            "Uids",
            "TotalHotkeyAlpha",
            "TaoWeight",
            "ValidatorPermit",
            "Axons",
            "LastUpdate",
            "BlockAtRegistration",
            "Weights",
            "Bonds",
            "Kappa",
            "BondsMovingAverage",
            "BondsPenalty",
            "ActivityCutoff",
            "MaxAllowedValidators",
            "Tempo",
            "Yuma3On",
            "LiquidAlphaOn",
            "AlphaValues",
            "AlphaSigmoidSteepness",
            "StakeThreshold",
            "MinAllowedWeights",
            "MaxWeightsLimit",
            "WeightsSetRateLimit",
            "CommitRevealWeightsEnabled",
            "RevealPeriodEpochs",
            "SubnetOwnerHotkey",
            "BlocksSinceLastStep",
        ] {
            assert!(rt.has_storage(entry), "{}: missing {entry}", rt.name);
        }
        for entry in fallbacks {
            let lacked = !rt.has_storage(entry);
            let covered = RuntimeSupport::of(&rt.metadata, 0)
                .fallbacks
                .iter()
                .any(|f| f.missing().contains(entry));
            assert_eq!(lacked, covered, "{}: {entry}", rt.name);
        }
    }
}

#[test]
fn keys_are_hashed_as_each_runtime_declares() {
    use StorageHasher::{Blake2_128Concat as B, Identity as I, Twox64Concat as T};
    // Written out from the finney metadata: what the hand-written keys of the first version of
    // these tests assumed. A runtime that changes a hasher changes these.
    for rt in runtimes() {
        for (entry, finney) in [
            ("Keys", vec![I, I]),
            ("Uids", vec![I, B]),
            ("TotalHotkeyAlpha", vec![B, I]),
            ("Axons", vec![I, B]),
            ("Weights", vec![I, I]),
            ("Tempo", vec![I]),
            ("RevealPeriodEpochs", vec![T]),
        ] {
            assert_eq!(rt.hashers(entry), finney, "{}: {entry}", rt.name);
        }
    }
    let [finney, _] = runtimes();
    assert_eq!(finney.hashers("Yuma3On"), vec![B]);
    assert_eq!(finney.hashers("MechanismCountCurrent"), vec![T]);
}

#[test]
fn values_encode_as_the_primitives_the_client_decodes() {
    // The runtimes' own types give the plain SCALE layouts the client's Rust types expect.
    let axon = [
        77u64.to_le_bytes().to_vec(),
        900u32.to_le_bytes().to_vec(),
        0x0a00_0002u128.to_le_bytes().to_vec(),
        8091u16.to_le_bytes().to_vec(),
        vec![4, 4, 0, 0],
    ]
    .concat();
    for rt in runtimes() {
        assert_eq!(rt.value("Tempo", Value::u128(99)), 99u16.to_le_bytes());
        assert_eq!(
            rt.value("WeightsSetRateLimit", Value::u128(7)),
            7u64.to_le_bytes()
        );
        assert_eq!(rt.value("Yuma3On", Value::bool(true)), [1]);
        assert_eq!(
            rt.value("Keys", Value::from_bytes([5u8; 32])),
            [5u8; 32].to_vec()
        );
        assert_eq!(
            rt.value("TotalHotkeyAlpha", Value::u128(3)),
            3u64.to_le_bytes()
        );
        assert_eq!(rt.value("Axons", common::subnet::axon_value(&AXON)), axon);
    }
}

#[tokio::test]
async fn reads_the_metagraph_through_the_client() {
    let [h0, h1, h2] = hotkeys();
    for rt in runtimes() {
        let (client, _) = client(&rt, Subnet::three_neurons(&rt).storage, Outcome::Success).await;
        let graph = client.read_metagraph(NETUID).await.expect("metagraph");
        assert_eq!((graph.netuid, graph.mechanism, graph.block), (1, 0, 100));
        assert_eq!(graph.block_hash, common::mock::FINALIZED);
        let neuron = |uid, hotkey, alpha, tao, permit, last, reg| Neuron {
            uid,
            hotkey,
            alpha_stake: alpha,
            tao_stake: tao,
            validator_permit: permit,
            last_update: last,
            block_at_registration: reg,
            axon: None,
            weights: vec![],
            bonds: vec![],
        };
        let expected = vec![
            Neuron {
                weights: vec![(1, 65535), (2, 100)],
                bonds: vec![(1, 5000)],
                ..neuron(0, h0, 1_000, 500, true, 90, 10)
            },
            Neuron {
                axon: Some(AXON),
                ..neuron(1, h1, 7, 0, false, 80, 20)
            },
            neuron(2, h2, 0, 0, false, 0, 0),
        ];
        assert_eq!(graph.neurons, expected, "{}", rt.name);
        // TAO weight one half (floored): 1000 + floor(500 · (2⁶³ − 1) / (2⁶⁴ − 1)) = 1000 + 249.
        assert_eq!(graph.stake_weights(), vec![1_249, 7, 0], "{}", rt.name);
    }
    assert_eq!(AXON.ip_addr(), Some("10.0.0.2".parse().expect("ip")));
}

#[tokio::test]
async fn reads_hyperparameters_from_what_each_runtime_has() {
    for rt in runtimes() {
        let name = rt.name;
        // A stale CommitRevealWeightsVersion left in storage (key of the item as finney names
        // it): a runtime without the item never reads it.
        let mut s = Subnet::three_neurons(&rt);
        s.storage.insert(
            subtensor_key("CommitRevealWeightsVersion", &[]),
            3u16.to_le_bytes().to_vec(),
        );
        let finney = rt.has_storage("CommitRevealWeightsVersion");
        if finney {
            s.set("CommitRevealWeightsVersion", &[], Value::u128(4));
        }
        let (client, _) = client(&rt, s.storage, Outcome::Success).await;
        let hp = client
            .read_hyperparams(NETUID)
            .await
            .expect("hyperparameters");
        // Stored values.
        assert_eq!(
            (hp.tempo, hp.kappa, hp.weights_version_key),
            (99, 30_000, 2_001_003),
            "{name}"
        );
        assert_eq!((hp.alpha_low, hp.alpha_high), (1000, 2000), "{name}");
        assert!(hp.yuma3_enabled && !hp.commit_reveal_enabled, "{name}");
        assert_eq!(hp.reveal_period_epochs, 3, "{name}");
        assert_eq!(hp.owner_hotkey, hotkeys()[2], "{name}");
        assert_eq!(hp.weights_set_rate_limit, RATE_LIMIT, "{name}");
        assert_eq!(hp.spec_version, rt.spec_version(), "{name}");
        // What the runtime lacks: the behaviour of runtimes without it.
        let (version, mechanisms, defaulted) = if finney {
            (4, 2, vec![])
        } else {
            (
                2,
                1,
                vec![Fallback::CommitRevealVersion, Fallback::MechanismCount],
            )
        };
        assert_eq!(
            (hp.commit_reveal_version, hp.mechanism_count),
            (version, mechanisms),
            "{name}"
        );
        assert_eq!(hp.defaulted, defaulted, "{name}");
        // Not stored: the runtime's own metadata defaults, as its getters return them.
        assert_eq!(
            (
                u64::from(hp.bonds_penalty),
                u64::from(hp.activity_cutoff),
                hp.bonds_moving_average,
                u64::from(hp.max_allowed_validators),
            ),
            (
                rt.default_int("BondsPenalty"),
                rt.default_int("ActivityCutoff"),
                rt.default_int("BondsMovingAverage"),
                rt.default_int("MaxAllowedValidators"),
            ),
            "{name}"
        );
        if finney {
            // The finney defaults, written out.
            assert_eq!(
                (
                    hp.bonds_penalty,
                    hp.activity_cutoff,
                    hp.bonds_moving_average,
                    hp.max_allowed_validators,
                    hp.alpha_sigmoid_steepness
                ),
                (65535, 5000, 900_000, 128, 1000)
            );
        }
        let consensus = hp.consensus();
        assert_eq!(
            (
                consensus.kappa,
                consensus.yuma3_enabled,
                consensus.alpha_low
            ),
            (30_000, true, 1000),
            "{name}"
        );
        assert_eq!(hp.weight_submission(), Ok(WeightSubmission::SetWeights));

        // The metagraph and hyperparameters drive the pure epoch.
        let graph = client.read_metagraph(NETUID).await.expect("metagraph");
        let state = graph.to_subnet_state(&hp, 101);
        assert_eq!(state.owner_uid, Some(2), "{name}");
        let out = chain::run_epoch(&state, 1_000_000).expect("epoch runs");
        assert_eq!(out.emission.len(), 3, "{name}");
    }
}

#[tokio::test]
async fn commit_reveal_is_v2_on_a_runtime_without_a_version_item() {
    for rt in runtimes() {
        let mut s = Subnet::three_neurons(&rt);
        s.commit_reveal(None);
        let (client, _) = client(&rt, s.storage, Outcome::Success).await;
        let hp = client.read_hyperparams(NETUID).await.expect("read");
        let expected = if rt.has_storage("CommitRevealWeightsVersion") {
            // finney: the metadata default, 4 (what new subnets get).
            WeightSubmission::Timelocked {
                reveal_period_epochs: 3,
                version: 4,
            }
        } else {
            WeightSubmission::CommitRevealV2 {
                reveal_period_epochs: 3,
            }
        };
        assert_eq!(hp.weight_submission(), Ok(expected), "{}", rt.name);
    }
    // Where the item exists, version 3 is refused by name.
    let [finney, _] = runtimes();
    let mut s = Subnet::three_neurons(&finney);
    s.commit_reveal(Some(3));
    let (client, _) = client(&finney, s.storage, Outcome::Success).await;
    let hp = client.read_hyperparams(NETUID).await.expect("read");
    assert_eq!(
        hp.weight_submission(),
        Err(CommitRevealError::UnsupportedVersion { version: 3 })
    );
}

#[tokio::test]
async fn chain_info_describes_each_runtime_and_the_validator() {
    let alice = dev::alice().public_key().0;
    for rt in runtimes() {
        let name = rt.name;
        let mut s = Subnet::three_neurons(&rt);
        s.commit_reveal(None);
        let (client, _) = client(&rt, s.storage, Outcome::Success).await;
        let info = client
            .chain_info(NETUID, Some(alice))
            .await
            .expect("chain info");
        assert_eq!(info.block, 100, "{name}");
        assert_eq!(info.runtime.spec_version, rt.spec_version(), "{name}");
        assert_eq!(info.runtime.fallbacks, expected_fallbacks(&rt), "{name}");
        assert_eq!(info.hyperparams.tempo, 99, "{name}");
        let path = info.submission.as_ref().expect("a usable path");
        let expected = if rt.has_storage("CommitRevealWeightsVersion") {
            RuntimeSupport::call_of(&WeightSubmission::Timelocked {
                reveal_period_epochs: 3,
                version: 4,
            })
        } else {
            "commit_weights"
        };
        assert_eq!(RuntimeSupport::call_of(path), expected, "{name}");
        // Both runtimes run the fixed schedule: tempo 99, netuid 1 → epochs at 97, 197, …
        assert_eq!(
            info.epoch,
            EpochSchedule::Legacy {
                netuid: 1,
                tempo: 99
            },
            "{name}"
        );
        assert_eq!(
            (info.next_epoch_block, info.blocks_since_last_step),
            (Some(197), Some(3)),
            "{name}"
        );
        let me = info.validator.as_ref().expect("standing");
        assert_eq!(
            (me.uid, me.validator_permit, me.stake, me.last_update),
            (Some(0), true, 1_249, 90),
            "{name}"
        );
        assert_eq!(me.weights_accepted_from, Some(90 + RATE_LIMIT), "{name}");
        assert_eq!(info.metagraph.neurons.len(), 3, "{name}");
        assert_eq!(info.metagraph.neurons[1].axon, Some(AXON), "{name}");

        // A hotkey that is not registered.
        let stranger = client
            .chain_info(NETUID, Some([9; 32]))
            .await
            .expect("chain info");
        let standing = stranger.validator.expect("standing");
        assert_eq!(
            (standing.uid, standing.weights_accepted_from),
            (None, None),
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_validator_standing_is_read_from_uids_permits_and_last_update() {
    for rt in runtimes() {
        let (client, _) = client(&rt, Subnet::three_neurons(&rt).storage, Outcome::Success).await;
        let alice = client
            .read_validator_standing(NETUID, dev::alice().public_key().0)
            .await
            .expect("standing");
        assert_eq!(
            (
                alice.subnet_n,
                alice.uid,
                alice.validator_permit,
                alice.last_update
            ),
            (3, Some(0), true, 90),
            "{}",
            rt.name
        );
        let miner = client
            .read_validator_standing(NETUID, hotkeys()[1])
            .await
            .expect("standing");
        assert_eq!(
            (miner.uid, miner.validator_permit, miner.last_update),
            (Some(1), false, 80),
            "{}",
            rt.name
        );
        let stranger = client
            .read_validator_standing(NETUID, [9; 32])
            .await
            .expect("standing");
        assert_eq!(stranger.uid, None, "{}", rt.name);
    }
}

#[tokio::test]
async fn dispatch_errors_are_decoded_to_their_names() {
    for rt in runtimes() {
        let pallet = rt
            .metadata
            .pallet_by_name("SubtensorModule")
            .expect("pallet");
        let error_index = pallet
            .error_variants()
            .and_then(|v| v.iter().find(|v| v.name == "SettingWeightsTooFast"))
            .expect("error variant")
            .index;
        let outcome = Outcome::ModuleError {
            pallet_index: pallet.error_index(),
            error_index,
        };
        let (client, _) = client(&rt, Subnet::three_neurons(&rt).storage, outcome).await;
        let err = client
            .with_signer(dev::alice())
            .set_weights(NETUID, &[1], &[1], 1)
            .await
            .expect_err("dispatch fails");
        match &err {
            ClientError::Dispatch {
                call,
                error,
                module_error,
                ..
            } => {
                assert_eq!(*call, "SubtensorModule::set_weights", "{}", rt.name);
                assert_eq!(
                    error, "SubtensorModule::SettingWeightsTooFast",
                    "{}",
                    rt.name
                );
                assert!(*module_error, "{}", rt.name);
            }
            other => panic!("{}: expected a dispatch error, got {other:?}", rt.name),
        }
        assert_eq!(
            err.chain_error(),
            Some("SubtensorModule::SettingWeightsTooFast")
        );
    }
}

#[test]
fn every_refusal_names_an_error_both_runtimes_have() {
    let refusals = [
        WeightsRefusal::TooManyUids {
            count: 1,
            subnet_n: 0,
        },
        WeightsRefusal::NotRegistered,
        WeightsRefusal::VersionKeyTooLow {
            subnet_version_key: 1,
            version_key: 0,
        },
        WeightsRefusal::RateLimited {
            commit: false,
            last_update: 1,
            rate_limit: 1,
            block: 1,
            next_block: 2,
        },
        WeightsRefusal::RateLimited {
            commit: true,
            last_update: 1,
            rate_limit: 1,
            block: 1,
            next_block: 2,
        },
        WeightsRefusal::NoValidatorPermit { uid: 0 },
        WeightsRefusal::InvalidUid {
            uid: 1,
            subnet_n: 1,
        },
        WeightsRefusal::TooFewWeights {
            count: 0,
            min_required: 1,
            min_allowed_weights: 1,
            subnet_n: 1,
        },
        WeightsRefusal::MaxWeightExceeded {
            share: 1.0,
            limit: 0.5,
            max_weights_limit: 32768,
        },
    ];
    for rt in runtimes() {
        let pallet = rt
            .metadata
            .pallet_by_name("SubtensorModule")
            .expect("pallet");
        let errors = pallet.error_variants().expect("errors");
        for refusal in &refusals {
            let name = refusal
                .chain_error()
                .strip_prefix("SubtensorModule::")
                .expect("pallet prefix");
            assert!(
                errors.iter().any(|v| v.name == name),
                "{}: no SubtensorModule::{name}",
                rt.name
            );
        }
    }
}

#[tokio::test]
async fn hostile_storage_is_a_typed_error_naming_entry_and_key() {
    for rt in runtimes() {
        let name = rt.name;
        let fresh = || Subnet::three_neurons(&rt);
        // A uid < n without a hotkey.
        let mut s = fresh();
        s.remove("Keys", &[&n(NETUID), &n(1)]);
        let (c, _) = client(&rt, s.storage, Outcome::Success).await;
        let err = c.read_metagraph(NETUID).await.expect_err("missing uid");
        assert!(
            matches!(&err, ClientError::InvalidChainData { entry: "Keys", .. }),
            "{name}: {err:?}"
        );
        assert!(
            err.to_string()
                .contains("uid 1 < SubnetworkN 3 has no hotkey"),
            "{name}: {err}"
        );

        // ValidatorPermit with the wrong number of entries.
        let mut s = fresh();
        s.permits(&[true, false]);
        let (c, _) = client(&rt, s.storage, Outcome::Success).await;
        let err = c.read_metagraph(NETUID).await.expect_err("short vector");
        assert!(
            err.to_string()
                .contains("ValidatorPermit for netuid 1: 2 entries for SubnetworkN = 3"),
            "{name}: {err}"
        );

        // Bytes that do not decode as the metadata's type (u16 needs two bytes).
        let mut s = fresh();
        s.set_raw("SubnetworkN", &[&n(NETUID)], vec![3]);
        let (c, _) = client(&rt, s.storage, Outcome::Success).await;
        let err = c.read_metagraph(NETUID).await.expect_err("bad bytes");
        assert!(
            matches!(
                &err,
                ClientError::StorageDecode {
                    entry: "SubnetworkN",
                    ..
                }
            ),
            "{name}: {err:?}"
        );

        // A bool that is neither 0 nor 1.
        let mut s = fresh();
        s.set_raw("Yuma3On", &[&n(NETUID)], vec![7]);
        let (c, _) = client(&rt, s.storage, Outcome::Success).await;
        let err = c.read_hyperparams(NETUID).await.expect_err("bad bool");
        assert!(
            matches!(
                &err,
                ClientError::StorageDecode {
                    entry: "Yuma3On",
                    ..
                }
            ),
            "{name}: {err:?}"
        );

        // Trailing bytes after a value.
        let mut s = fresh();
        s.set_raw("Tempo", &[&n(NETUID)], vec![1, 0, 0]);
        let (c, _) = client(&rt, s.storage, Outcome::Success).await;
        assert!(c.read_hyperparams(NETUID).await.is_err(), "{name}");

        // Inverted liquid-alpha bounds.
        let mut s = fresh();
        s.subnet_value(
            "AlphaValues",
            Value::unnamed_composite([Value::u128(2000), Value::u128(1000)]),
        );
        let (c, _) = client(&rt, s.storage, Outcome::Success).await;
        let err = c.read_hyperparams(NETUID).await.expect_err("alpha bounds");
        assert!(
            err.to_string()
                .contains("alpha_low 2000 is above alpha_high 1000"),
            "{name}: {err}"
        );
    }
}

#[tokio::test]
async fn a_zero_mechanism_count_is_refused_where_the_runtime_has_the_item() {
    let [finney, _] = runtimes();
    let mut s = Subnet::three_neurons(&finney);
    s.subnet_value("MechanismCountCurrent", Value::u128(0));
    let (c, _) = client(&finney, s.storage, Outcome::Success).await;
    let err = c
        .read_hyperparams(NETUID)
        .await
        .expect_err("zero mechanisms");
    assert!(
        matches!(
            &err,
            ClientError::InvalidChainData {
                entry: "MechanismCountCurrent",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_subnet_is_reported() {
    for rt in runtimes() {
        let (client, _) = client(&rt, Subnet::three_neurons(&rt).storage, Outcome::Success).await;
        let err = client.read_metagraph(9).await.expect_err("no subnet 9");
        assert!(
            matches!(err, ClientError::SubnetNotFound { netuid: 9 }),
            "{}: {err:?}",
            rt.name
        );
        assert!(!client.subnet_exists(9).await.expect("read"), "{}", rt.name);
    }
}

#[tokio::test]
async fn a_prebuilt_subxt_client_works_and_takes_the_nonce_from_state() {
    for rt in runtimes() {
        let name = rt.name;
        let (rpc, seen) = common::mock::rpc_client(
            &rt,
            common::subnet::chain(Subnet::three_neurons(&rt).storage, Outcome::Success),
        );
        let api = subxt::OnlineClient::<chain_client::SubtensorConfig>::from_rpc_client(rpc)
            .await
            .expect("subxt client");
        let client = ChainClient::from_client(api).with_signer(dev::alice());
        let graph = client.read_metagraph(NETUID).await.expect("metagraph");
        assert_eq!(graph.neurons.len(), 3, "{name}");
        let axon = chain_client::ServeAxon::from_socket(
            NETUID,
            1,
            "[2001:db8::1]:443".parse().unwrap(),
            4,
        );
        client.serve_axon(axon).await.expect("served");
        let bytes = common::subnet::submitted(&seen)[0].clone();
        let ext = subxt::ext::frame_decode::extrinsics::decode_extrinsic(
            &mut &bytes[..],
            &*rt.metadata,
            rt.metadata.types(),
        )
        .expect("decodes");
        assert_eq!(
            (ext.pallet_name(), ext.call_name()),
            ("SubtensorModule", "serve_axon"),
            "{name}"
        );
        // Without our own RPC handle the nonce comes from AccountNonceApi (6), not the pool (7).
        let exts = ext.transaction_extension_payload().expect("extensions");
        let nonce = exts
            .iter()
            .find(|e| e.name() == "CheckNonce")
            .expect("nonce");
        assert_eq!(&bytes[nonce.range()], &[6 << 2], "{name}");
        // Every RPC method the client used is one the mock serves.
        assert!(
            seen.methods.lock().unwrap().is_empty(),
            "{name}: {:?}",
            seen.methods
        );
    }
}

#[tokio::test]
async fn waits_for_finality_when_asked() {
    for rt in runtimes() {
        let (client, _) = signed(&rt, Subnet::three_neurons(&rt).storage).await;
        let done = client
            .with_wait_for(WaitFor::Finalized)
            .commit_weights(NETUID, [3; 32])
            .await
            .expect("submitted");
        assert!(done.finalized, "{}", rt.name);
    }
}

#[tokio::test]
async fn connect_checks_the_url_and_reports_unreachable_nodes() {
    for url in [
        "http://127.0.0.1:9944",
        "127.0.0.1:9944",
        "ws://",
        "wss://:443",
    ] {
        let err = ChainClient::connect(url).await.expect_err(url);
        assert!(
            matches!(err, ClientError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
    }
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let err = ChainClient::connect("ws://127.0.0.1:1")
        .await
        .expect_err("refused");
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("ws://127.0.0.1:1"), "{err}");
}
