//! End-to-end through the real client code over subxt's `MockRpcClient`, which serves the finney
//! metadata, its runtime version and storage values encoded here by hand (keys included).
//! This is a transport test: it proves the client asks for the right keys, decodes and checks
//! what comes back, and builds, signs, submits and follows an extrinsic; no runtime runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use chain::commit_reveal::{CommitRevealError, WeightSubmission};
use chain_client::{AxonInfo, ChainClient, ClientError, Neuron, WaitFor, WeightsSubmitted};
use common::mock::{
    INCLUDED, MockChain, Outcome, finney_without_storage, rpc_client, rpc_client_with_metadata,
};
use common::{Part, subtensor_key, vec_pairs};
use subxt::ext::frame_decode::extrinsics::decode_extrinsic;
use subxt_signer::sr25519::dev;

const NETUID: u16 = 1;
/// The subnet's `WeightsVersionKey` in `subnet_storage`.
const SUBNET_VERSION_KEY: u64 = 2_001_003;
const HOTKEYS: [[u8; 32]; 3] = [[0xa0; 32], [0xa1; 32], [0xa2; 32]];

fn n(netuid: u16) -> [u8; 2] {
    netuid.to_le_bytes()
}

/// AxonInfo written out field by field: block u64, version u32, ip u128, port u16, 4 × u8.
fn axon_bytes(a: &AxonInfo) -> Vec<u8> {
    let mut v = a.block.to_le_bytes().to_vec();
    v.extend_from_slice(&a.version.to_le_bytes());
    v.extend_from_slice(&a.ip.to_le_bytes());
    v.extend_from_slice(&a.port.to_le_bytes());
    v.extend_from_slice(&[a.ip_type, a.protocol, a.placeholder1, a.placeholder2]);
    v
}

const AXON: AxonInfo = AxonInfo {
    block: 77,
    version: 900,
    ip: 0x0a00_0002,
    port: 8091,
    ip_type: 4,
    protocol: 4,
    placeholder1: 0,
    placeholder2: 0,
};

/// A three-neuron subnet 1 with non-default hyperparameters, as raw storage.
fn subnet_storage() -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut s = BTreeMap::new();
    s.insert(
        subtensor_key("NetworksAdded", &[Part::Identity(&n(NETUID))]),
        vec![1],
    );
    s.insert(
        subtensor_key("SubnetworkN", &[Part::Identity(&n(NETUID))]),
        n(3).to_vec(),
    );
    for (uid, hotkey) in HOTKEYS.iter().enumerate() {
        let uid = uid as u16;
        let key = subtensor_key(
            "Keys",
            &[
                Part::Identity(&n(NETUID)),
                Part::Identity(&uid.to_le_bytes()),
            ],
        );
        s.insert(key, hotkey.to_vec());
    }
    // Weights row for uid 7 ≥ n: dropped, as the runtime's epoch drops it.
    s.insert(
        subtensor_key(
            "Weights",
            &[Part::Identity(&n(NETUID)), Part::Identity(&n(7))],
        ),
        vec_pairs(&[(0, 1)]),
    );
    s.insert(
        subtensor_key(
            "Weights",
            &[Part::Identity(&n(NETUID)), Part::Identity(&n(0))],
        ),
        vec_pairs(&[(1, 65535), (2, 100)]),
    );
    s.insert(
        subtensor_key(
            "Bonds",
            &[Part::Identity(&n(NETUID)), Part::Identity(&n(0))],
        ),
        vec_pairs(&[(1, 5000)]),
    );
    // Another subnet's row must not leak in.
    s.insert(
        subtensor_key("Weights", &[Part::Identity(&n(2)), Part::Identity(&n(1))]),
        vec_pairs(&[(0, 9)]),
    );
    s.insert(
        subtensor_key("ValidatorPermit", &[Part::Identity(&n(NETUID))]),
        vec![0x0c, 1, 0, 0],
    );
    let mut last = vec![0x0c];
    for v in [90u64, 80, 0] {
        last.extend_from_slice(&v.to_le_bytes());
    }
    s.insert(
        subtensor_key("LastUpdate", &[Part::Identity(&n(NETUID))]),
        last,
    );
    for (uid, block) in [(0u16, 10u64), (1, 20)] {
        let key = subtensor_key(
            "BlockAtRegistration",
            &[
                Part::Identity(&n(NETUID)),
                Part::Identity(&uid.to_le_bytes()),
            ],
        );
        s.insert(key, block.to_le_bytes().to_vec());
    }
    for (hotkey, netuid, alpha) in [
        (HOTKEYS[0], NETUID, 1_000u64),
        (HOTKEYS[0], 0, 500),
        (HOTKEYS[1], NETUID, 7),
    ] {
        let key = subtensor_key(
            "TotalHotkeyAlpha",
            &[Part::Blake2_128Concat(&hotkey), Part::Identity(&n(netuid))],
        );
        s.insert(key, alpha.to_le_bytes().to_vec());
    }
    s.insert(
        subtensor_key("TaoWeight", &[]),
        (u64::MAX / 2).to_le_bytes().to_vec(),
    );
    let key = subtensor_key(
        "Axons",
        &[
            Part::Identity(&n(NETUID)),
            Part::Blake2_128Concat(&HOTKEYS[1]),
        ],
    );
    s.insert(key, axon_bytes(&AXON));
    hyperparams(&mut s);
    s
}

fn hyperparams(s: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
    let net = n(NETUID);
    s.insert(
        subtensor_key("Tempo", &[Part::Identity(&net)]),
        99u16.to_le_bytes().to_vec(),
    );
    s.insert(
        subtensor_key("Kappa", &[Part::Identity(&net)]),
        30_000u16.to_le_bytes().to_vec(),
    );
    s.insert(
        subtensor_key("WeightsVersionKey", &[Part::Identity(&net)]),
        SUBNET_VERSION_KEY.to_le_bytes().to_vec(),
    );
    s.insert(
        subtensor_key("CommitRevealWeightsEnabled", &[Part::Identity(&net)]),
        vec![0],
    );
    s.insert(
        subtensor_key("Yuma3On", &[Part::Blake2_128Concat(&net)]),
        vec![1],
    );
    s.insert(
        subtensor_key("AlphaValues", &[Part::Identity(&net)]),
        [1000u16.to_le_bytes(), 2000u16.to_le_bytes()].concat(),
    );
    s.insert(
        subtensor_key("MechanismCountCurrent", &[Part::Twox64Concat(&net)]),
        vec![2],
    );
    s.insert(
        subtensor_key("RevealPeriodEpochs", &[Part::Twox64Concat(&net)]),
        3u64.to_le_bytes().to_vec(),
    );
    s.insert(
        subtensor_key("SubnetOwnerHotkey", &[Part::Identity(&net)]),
        HOTKEYS[2].to_vec(),
    );
}

fn chain(storage: BTreeMap<Vec<u8>, Vec<u8>>, outcome: Outcome) -> MockChain {
    MockChain {
        storage,
        next_nonce: 7,
        state_nonce: 6,
        outcome,
    }
}

async fn client(
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
    outcome: Outcome,
) -> (ChainClient, common::mock::Seen) {
    let (rpc, seen) = rpc_client(chain(storage, outcome));
    let client = ChainClient::from_rpc_client(rpc)
        .await
        .expect("client over the mock");
    (client, seen)
}

#[tokio::test]
async fn reads_the_metagraph_through_the_client() {
    let (client, _) = client(subnet_storage(), Outcome::Success).await;
    let graph = client.read_metagraph(NETUID).await.expect("metagraph");
    assert_eq!((graph.netuid, graph.mechanism, graph.block), (1, 0, 100));
    assert_eq!(graph.block_hash, common::mock::FINALIZED);
    let expected = vec![
        Neuron {
            uid: 0,
            hotkey: HOTKEYS[0],
            alpha_stake: 1_000,
            tao_stake: 500,
            validator_permit: true,
            last_update: 90,
            block_at_registration: 10,
            axon: None,
            weights: vec![(1, 65535), (2, 100)],
            bonds: vec![(1, 5000)],
        },
        Neuron {
            uid: 1,
            hotkey: HOTKEYS[1],
            alpha_stake: 7,
            tao_stake: 0,
            validator_permit: false,
            last_update: 80,
            block_at_registration: 20,
            axon: Some(AXON),
            weights: vec![],
            bonds: vec![],
        },
        Neuron {
            uid: 2,
            hotkey: HOTKEYS[2],
            alpha_stake: 0,
            tao_stake: 0,
            validator_permit: false,
            last_update: 0,
            block_at_registration: 0,
            axon: None,
            weights: vec![],
            bonds: vec![],
        },
    ];
    assert_eq!(graph.neurons, expected);
    assert_eq!(AXON.ip_addr(), Some("10.0.0.2".parse().expect("ip")));
    // TAO weight one half (floored): 1000 + floor(500 · (2⁶³ − 1) / (2⁶⁴ − 1)) = 1000 + 249.
    assert_eq!(graph.stake_weights(), vec![1_249, 7, 0]);
}

#[tokio::test]
async fn reads_hyperparameters_and_maps_them_onto_chain_types() {
    let (client, _) = client(subnet_storage(), Outcome::Success).await;
    let hp = client
        .read_hyperparams(NETUID)
        .await
        .expect("hyperparameters");
    // Stored values.
    assert_eq!(
        (hp.tempo, hp.kappa, hp.weights_version_key),
        (99, 30_000, 2_001_003)
    );
    assert_eq!(
        (hp.alpha_low, hp.alpha_high, hp.mechanism_count),
        (1000, 2000, 2)
    );
    assert!(hp.yuma3_enabled && !hp.commit_reveal_enabled);
    assert_eq!((hp.reveal_period_epochs, hp.owner_hotkey), (3, HOTKEYS[2]));
    // Not stored: the metadata's defaults, as the runtime's getters return them.
    assert_eq!(
        (
            hp.bonds_penalty,
            hp.activity_cutoff,
            hp.bonds_moving_average
        ),
        (65535, 5000, 900_000)
    );
    assert_eq!(
        (hp.max_allowed_validators, hp.alpha_sigmoid_steepness),
        (128, 1000)
    );
    assert_eq!(
        (hp.weights_set_rate_limit, hp.commit_reveal_version),
        (100, 4)
    );
    assert_eq!(
        (hp.min_allowed_weights, hp.max_weights_limit),
        (1024, 65535)
    );
    let consensus = hp.consensus();
    assert_eq!(
        (
            consensus.kappa,
            consensus.yuma3_enabled,
            consensus.alpha_low
        ),
        (30_000, true, 1000)
    );
    assert_eq!(hp.weight_submission(), Ok(WeightSubmission::SetWeights));
    let timelocked = chain_client::SubnetHyperparams {
        commit_reveal_enabled: true,
        ..hp.clone()
    };
    assert_eq!(
        timelocked.weight_submission(),
        Ok(WeightSubmission::Timelocked {
            reveal_period_epochs: 3,
            version: 4
        })
    );
    let v3 = chain_client::SubnetHyperparams {
        commit_reveal_version: 3,
        ..timelocked.clone()
    };
    assert_eq!(
        v3.weight_submission(),
        Err(CommitRevealError::UnsupportedVersion { version: 3 })
    );

    // The metagraph and hyperparameters drive the pure epoch.
    let graph = client.read_metagraph(NETUID).await.expect("metagraph");
    let state = graph.to_subnet_state(&hp, 101);
    assert_eq!(state.owner_uid, Some(2));
    let out = chain::run_epoch(&state, 1_000_000).expect("epoch runs");
    assert_eq!(out.emission.len(), 3);
}

#[tokio::test]
async fn set_weights_is_signed_submitted_and_confirmed() {
    let (client, seen) = client(subnet_storage(), Outcome::Success).await;
    let client = client.with_signer(dev::alice());
    let done = client
        .set_weights(NETUID, &[0, 2], &[65535, 10], 2_001_003)
        .await
        .expect("submitted");
    assert_eq!(
        (done.call, done.block_hash, done.finalized),
        ("SubtensorModule::set_weights", INCLUDED, false)
    );

    let submitted = seen.submitted.lock().expect("lock").clone();
    assert_eq!(submitted.len(), 1);
    let bytes = &submitted[0];
    assert_eq!(sp_crypto_hashing::blake2_256(bytes), done.extrinsic_hash);
    let metadata = common::metadata();
    let ext = decode_extrinsic(&mut &bytes[..], &*metadata, metadata.types()).expect("decodes");
    assert_eq!((ext.pallet_index(), ext.call_index()), (7, 0));
    let mut expected_call = vec![7, 0, 1, 0];
    expected_call.extend(common::vec_u16(&[0, 2]));
    expected_call.extend(common::vec_u16(&[65535, 10]));
    expected_call.extend_from_slice(&2_001_003u64.to_le_bytes());
    assert_eq!(&bytes[ext.call_data_range()], &expected_call[..]);
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
    assert_eq!(&bytes[nonce.range()], &[7 << 2]);
}

#[tokio::test]
async fn waits_for_finality_when_asked() {
    let (client, _) = client(subnet_storage(), Outcome::Success).await;
    let client = client
        .with_signer(dev::bob())
        .with_wait_for(WaitFor::Finalized);
    let done = client
        .commit_weights(NETUID, [3; 32])
        .await
        .expect("submitted");
    assert!(done.finalized);
}

#[tokio::test]
async fn dispatch_errors_are_decoded_to_their_names() {
    let metadata = common::metadata();
    let pallet = metadata.pallet_by_name("SubtensorModule").expect("pallet");
    let error_index = pallet
        .error_variants()
        .and_then(|v| v.iter().find(|v| v.name == "SettingWeightsTooFast"))
        .expect("error variant")
        .index;
    let outcome = Outcome::ModuleError {
        pallet_index: pallet.error_index(),
        error_index,
    };
    let (client, _) = client(subnet_storage(), outcome).await;
    let client = client.with_signer(dev::alice());
    let err = client
        .set_weights(NETUID, &[1], &[1], 1)
        .await
        .expect_err("dispatch fails");
    match &err {
        ClientError::Dispatch { call, error, .. } => {
            assert_eq!(*call, "SubtensorModule::set_weights");
            assert_eq!(error, "SubtensorModule::SettingWeightsTooFast");
        }
        other => panic!("expected a dispatch error, got {other:?}"),
    }
}

#[tokio::test]
async fn calls_without_a_signer_are_refused() {
    let (client, seen) = client(subnet_storage(), Outcome::Success).await;
    let err = client
        .set_weights(NETUID, &[1], &[1], 1)
        .await
        .expect_err("no signer");
    assert!(err.to_string().contains("with_signer"), "{err}");
    assert!(seen.submitted.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn hostile_storage_is_a_typed_error_naming_entry_and_key() {
    // A uid < n without a hotkey.
    let mut s = subnet_storage();
    s.remove(&subtensor_key(
        "Keys",
        &[Part::Identity(&n(NETUID)), Part::Identity(&n(1))],
    ));
    let (c, _) = client(s, Outcome::Success).await;
    let err = c.read_metagraph(NETUID).await.expect_err("missing uid");
    assert!(
        matches!(&err, ClientError::InvalidChainData { entry: "Keys", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("uid 1 < SubnetworkN 3 has no hotkey"),
        "{err}"
    );

    // ValidatorPermit with the wrong number of entries.
    let mut s = subnet_storage();
    s.insert(
        subtensor_key("ValidatorPermit", &[Part::Identity(&n(NETUID))]),
        vec![0x08, 1, 0],
    );
    let (c, _) = client(s, Outcome::Success).await;
    let err = c.read_metagraph(NETUID).await.expect_err("short vector");
    assert!(
        err.to_string()
            .contains("ValidatorPermit for netuid 1: 2 entries for SubnetworkN = 3"),
        "{err}"
    );

    // Bytes that do not decode as the metadata's type (u16 needs two bytes).
    let mut s = subnet_storage();
    s.insert(
        subtensor_key("SubnetworkN", &[Part::Identity(&n(NETUID))]),
        vec![3],
    );
    let (c, _) = client(s, Outcome::Success).await;
    let err = c.read_metagraph(NETUID).await.expect_err("bad bytes");
    assert!(
        matches!(
            &err,
            ClientError::StorageDecode {
                entry: "SubnetworkN",
                ..
            }
        ),
        "{err:?}"
    );

    // A bool that is neither 0 nor 1.
    let mut s = subnet_storage();
    s.insert(
        subtensor_key("Yuma3On", &[Part::Blake2_128Concat(&n(NETUID))]),
        vec![7],
    );
    let (c, _) = client(s, Outcome::Success).await;
    let err = c.read_hyperparams(NETUID).await.expect_err("bad bool");
    assert!(
        matches!(
            &err,
            ClientError::StorageDecode {
                entry: "Yuma3On",
                ..
            }
        ),
        "{err:?}"
    );

    // Trailing bytes after a value.
    let mut s = subnet_storage();
    s.insert(
        subtensor_key("Tempo", &[Part::Identity(&n(NETUID))]),
        vec![1, 0, 0],
    );
    let (c, _) = client(s, Outcome::Success).await;
    assert!(c.read_hyperparams(NETUID).await.is_err());

    // Inverted liquid-alpha bounds.
    let mut s = subnet_storage();
    s.insert(
        subtensor_key("AlphaValues", &[Part::Identity(&n(NETUID))]),
        [2000u16.to_le_bytes(), 1000u16.to_le_bytes()].concat(),
    );
    let (c, _) = client(s, Outcome::Success).await;
    let err = c.read_hyperparams(NETUID).await.expect_err("alpha bounds");
    assert!(
        err.to_string()
            .contains("alpha_low 2000 is above alpha_high 1000"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_subnet_is_reported() {
    let (client, _) = client(subnet_storage(), Outcome::Success).await;
    let err = client.read_metagraph(9).await.expect_err("no subnet 9");
    assert!(
        matches!(err, ClientError::SubnetNotFound { netuid: 9 }),
        "{err:?}"
    );
    assert!(!client.subnet_exists(9).await.expect("read"));
}

#[tokio::test]
async fn a_prebuilt_subxt_client_works_and_takes_the_nonce_from_state() {
    let (rpc, seen) = rpc_client(chain(subnet_storage(), Outcome::Success));
    let api = subxt::OnlineClient::<chain_client::SubtensorConfig>::from_rpc_client(rpc)
        .await
        .expect("subxt client");
    let client = ChainClient::from_client(api).with_signer(dev::alice());
    assert_eq!(
        client
            .read_metagraph(NETUID)
            .await
            .expect("metagraph")
            .neurons
            .len(),
        3
    );
    let axon =
        chain_client::ServeAxon::from_socket(NETUID, 1, "[2001:db8::1]:443".parse().unwrap(), 4);
    client.serve_axon(axon).await.expect("served");
    let bytes = seen.submitted.lock().unwrap()[0].clone();
    let metadata = common::metadata();
    let ext = decode_extrinsic(&mut &bytes[..], &*metadata, metadata.types()).expect("decodes");
    assert_eq!(
        (ext.pallet_name(), ext.call_name()),
        ("SubtensorModule", "serve_axon")
    );
    // Without our own RPC handle the nonce comes from AccountNonceApi (6), not the pool (7).
    let exts = ext.transaction_extension_payload().expect("extensions");
    let nonce = exts
        .iter()
        .find(|e| e.name() == "CheckNonce")
        .expect("nonce");
    assert_eq!(&bytes[nonce.range()], &[6 << 2]);
    // Every RPC method the client used is one the mock serves.
    assert!(
        seen.methods.lock().unwrap().is_empty(),
        "{:?}",
        seen.methods
    );
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

/// `subnet_storage` with commit-reveal on (`CommitRevealWeightsEnabled` = true) and, when given,
/// the global `CommitRevealWeightsVersion` (the metadata's default is 4).
fn commit_reveal_storage(version: Option<u16>) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut s = subnet_storage();
    s.insert(
        subtensor_key("CommitRevealWeightsEnabled", &[Part::Identity(&n(NETUID))]),
        vec![1],
    );
    if let Some(v) = version {
        s.insert(
            subtensor_key("CommitRevealWeightsVersion", &[]),
            v.to_le_bytes().to_vec(),
        );
    }
    s
}

/// The call bytes (pallet index, call index, arguments) of the one submitted extrinsic.
fn submitted_call(seen: &common::mock::Seen) -> Vec<u8> {
    let submitted = seen.submitted.lock().expect("lock").clone();
    assert_eq!(submitted.len(), 1, "exactly one extrinsic");
    let bytes = &submitted[0];
    let metadata = common::metadata();
    let ext = decode_extrinsic(&mut &bytes[..], &*metadata, metadata.types()).expect("decodes");
    bytes[ext.call_data_range()].to_vec()
}

#[tokio::test]
async fn submit_weights_uses_set_weights_when_commit_reveal_is_off() {
    let (client, seen) = client(subnet_storage(), Outcome::Success).await;
    let client = client.with_signer(dev::alice());
    let done = client
        .submit_weights(NETUID, &[0, 2], &[65535, 10], 2_001_003)
        .await
        .expect("submitted");
    assert!(matches!(done, WeightsSubmitted::Set(s) if s.call == "SubtensorModule::set_weights"));
    assert_eq!(&submitted_call(&seen)[..2], &[7, 0]);
}

#[tokio::test]
async fn submit_weights_commits_a_v2_hash_when_the_chain_runs_version_2() {
    let (client, seen) = client(commit_reveal_storage(Some(2)), Outcome::Success).await;
    let client = client.with_signer(dev::alice());
    let done = client
        .submit_weights(NETUID, &[0, 2], &[65535, 10], 2_001_003)
        .await
        .expect("submitted");
    let WeightsSubmitted::CommittedV2 { submitted, pending } = done else {
        panic!("expected a v2 commit, got {done:?}");
    };
    assert_eq!(submitted.call, "SubtensorModule::commit_weights");
    assert_eq!(pending.salt.len(), 8);
    assert_eq!(
        (pending.uids.clone(), pending.values.clone()),
        (vec![0, 2], vec![65535, 10])
    );
    // Finalized head 100, commit at 101; tempo 99, netuid 1: epoch (101 + 2) / 100 = 1, reveal
    // period 3 → epoch 4 = blocks 398..=497.
    assert_eq!(pending.reveal_window, (398, 497));
    let hash = chain::commit_reveal::commit_hash_v2(
        &dev::alice().public_key().0,
        NETUID,
        &[0, 2],
        &[65535, 10],
        &pending.salt,
        2_001_003,
    );
    let mut expected = vec![7, 96, 1, 0];
    expected.extend_from_slice(&hash);
    assert_eq!(submitted_call(&seen), expected);
}

#[tokio::test]
async fn submit_weights_commits_timelocked_weights_when_the_chain_runs_version_4() {
    // No version stored: the metadata default, 4 (what new subnets get).
    let (client, seen) = client(commit_reveal_storage(None), Outcome::Success).await;
    let client = client.with_signer(dev::alice());
    let before = now_ms();
    let done = client
        .submit_weights(NETUID, &[0, 2], &[65535, 10], 2_001_003)
        .await
        .expect("submitted");
    let after = now_ms();
    let WeightsSubmitted::Timelocked {
        submitted,
        reveal_round,
        reveal_block,
    } = done
    else {
        panic!("expected a timelocked commit, got {done:?}");
    };
    assert_eq!(submitted.call, "SubtensorModule::commit_timelocked_weights");
    // The finney metadata has no stateful epoch entries: legacy schedule, reveal at 398 (see the
    // v2 test); 398 + 3 − 100 = 301 blocks of 12 s from now.
    assert_eq!(reveal_block, 398);
    let round = |ms| chain::reveal_round::reveal_round(100, 398, ms, 12_000);
    assert!((round(before)..=round(after)).contains(&reveal_round));

    let call = submitted_call(&seen);
    // Payload: Vec<u8> hotkey (1 + 32) + uids (1 + 4) + values (1 + 4) + version key (8) = 51.
    let commit_len = chain::tlock::CIPHERTEXT_OVERHEAD + 51;
    assert_eq!(commit_len, 295);
    assert_eq!(&call[..4], &[7, 113, 1, 0]);
    assert_eq!(&call[4..6], &common::compact(commit_len as u32)[..]);
    let commit = &call[6..6 + commit_len];
    chain::tlock::Ciphertext::from_bytes(commit).expect("the runtime's layout");
    assert_eq!(
        &call[6 + commit_len..6 + commit_len + 8],
        &reveal_round.to_le_bytes()
    );
    assert_eq!(&call[6 + commit_len + 8..], &[4, 0]);
}

#[tokio::test]
async fn submit_weights_refuses_unsupported_versions_and_bad_weights_before_signing() {
    let (client3, seen) = client_pair(commit_reveal_storage(Some(3))).await;
    let err = client3
        .submit_weights(NETUID, &[0], &[1], 1)
        .await
        .expect_err("version 3");
    assert!(matches!(
        err,
        ClientError::CommitReveal(CommitRevealError::UnsupportedVersion { version: 3 })
    ));
    let (client4, seen4) = client_pair(commit_reveal_storage(None)).await;
    let err = client4
        .submit_weights(NETUID, &[0, 0], &[1, 2], SUBNET_VERSION_KEY)
        .await
        .expect_err("duplicate uid");
    assert!(err.to_string().contains("uid 0 appears twice"), "{err}");
    let err = client4
        .submit_weights(
            NETUID,
            &(0..1200).collect::<Vec<_>>(),
            &[1; 1200],
            SUBNET_VERSION_KEY,
        )
        .await
        .expect_err("too large");
    assert!(err.to_string().contains("5000"), "{err}");
    let (unsigned, _) = client(commit_reveal_storage(None), Outcome::Success).await;
    assert!(
        unsigned
            .submit_weights(NETUID, &[0], &[1], SUBNET_VERSION_KEY)
            .await
            .is_err_and(|e| e.to_string().contains("with_signer"))
    );
    assert!(seen.submitted.lock().expect("lock").is_empty());
    assert!(seen4.submitted.lock().expect("lock").is_empty());
}

async fn client_pair(storage: BTreeMap<Vec<u8>, Vec<u8>>) -> (ChainClient, common::mock::Seen) {
    let (c, seen) = client(storage, Outcome::Success).await;
    (c.with_signer(dev::alice()), seen)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

#[tokio::test]
async fn submit_weights_refuses_a_version_key_below_the_subnets_before_signing() {
    // set_weights, commit-reveal v2 and timelocked v4: the chain checks the key at
    // set_weights and at every reveal, so no path may submit a key it will refuse.
    for storage in [
        subnet_storage(),
        commit_reveal_storage(Some(2)),
        commit_reveal_storage(None),
    ] {
        for low in [0, SUBNET_VERSION_KEY - 1] {
            let (client, seen) = client_pair(storage.clone()).await;
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
                "{err:?}"
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
            assert!(seen.submitted.lock().expect("lock").is_empty());
        }
    }
}

#[tokio::test]
async fn submit_weights_sends_a_version_key_equal_to_or_above_the_subnets() {
    for key in [SUBNET_VERSION_KEY, SUBNET_VERSION_KEY + 1, u64::MAX] {
        let (client, seen) = client_pair(subnet_storage()).await;
        let done = client
            .submit_weights(NETUID, &[0, 2], &[65535, 10], key)
            .await
            .expect("submitted");
        assert!(matches!(done, WeightsSubmitted::Set(_)), "{done:?}");
        let call = submitted_call(&seen);
        assert_eq!(&call[..2], &[7, 0]);
        assert_eq!(&call[call.len() - 8..], &key.to_le_bytes());
    }
    // Commits pass the check too (the v2 commit hash covers the key; see the v2 test).
    let (client, seen) = client_pair(commit_reveal_storage(Some(2))).await;
    let done = client
        .submit_weights(NETUID, &[0], &[1], SUBNET_VERSION_KEY + 1)
        .await
        .expect("committed");
    assert!(
        matches!(&done, WeightsSubmitted::CommittedV2 { pending, .. } if pending.version_key == SUBNET_VERSION_KEY + 1),
        "{done:?}"
    );
    assert_eq!(&submitted_call(&seen)[..2], &[7, 96]);

    // No WeightsVersionKey stored: the metadata's default, 0, which accepts any key.
    let mut storage = subnet_storage();
    storage.remove(&subtensor_key(
        "WeightsVersionKey",
        &[Part::Identity(&n(NETUID))],
    ));
    let (client, seen) = client_pair(storage).await;
    let hp = client
        .read_hyperparams(NETUID)
        .await
        .expect("hyperparameters");
    assert_eq!(hp.weights_version_key, 0);
    assert!(hp.accepts_version_key(0));
    client
        .submit_weights(NETUID, &[0], &[1], 0)
        .await
        .expect("submitted");
    assert_eq!(&submitted_call(&seen)[..2], &[7, 0]);
}

#[tokio::test]
async fn submit_weights_skips_the_version_key_check_where_the_runtime_has_no_such_storage() {
    // A runtime without WeightsVersionKey: the stale value left in storage is not read, the
    // hyperparameters report 0, and the weights go out unchecked (a warning is logged).
    let metadata = finney_without_storage("WeightsVersionKey");
    let (rpc, seen) = rpc_client_with_metadata(chain(subnet_storage(), Outcome::Success), metadata);
    let client = ChainClient::from_rpc_client(rpc)
        .await
        .expect("client over the mock")
        .with_signer(dev::alice());
    let hp = client
        .read_hyperparams(NETUID)
        .await
        .expect("hyperparameters");
    assert_eq!((hp.tempo, hp.weights_version_key), (99, 0));
    let done = client
        .submit_weights(NETUID, &[0, 2], &[65535, 10], 0)
        .await
        .expect("submitted without the check");
    assert!(matches!(done, WeightsSubmitted::Set(_)), "{done:?}");
    let call = submitted_call(&seen);
    assert_eq!(&call[..2], &[7, 0]);
    assert_eq!(&call[call.len() - 8..], &0u64.to_le_bytes());
}

#[tokio::test]
async fn the_version_key_rule_is_subtensors_check_version_key() {
    let (client, _) = client(subnet_storage(), Outcome::Success).await;
    let hp = client
        .read_hyperparams(NETUID)
        .await
        .expect("hyperparameters");
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
