//! Offline encoding tests against the real finney runtime metadata (`metadata/finney.scale`):
//! each call's data is built with subxt's dynamic API and compared with a SCALE encoding
//! written out by hand (pallet index 7, the call index, then the arguments); a full signed
//! extrinsic is built with `OfflineClient` and decoded back with the metadata.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chain_client::calls::SubtensorCall;
use chain_client::{
    CommitTimelockedWeights, CommitWeights, RevealWeights, ServeAxon, SetWeights,
    SubtensorParamsBuilder,
};
use common::{GENESIS, compact, metadata, offline_client, runtime_version};
use subxt::ext::frame_decode::extrinsics::decode_extrinsic;
use subxt::utils::H256;
use subxt_signer::sr25519::{self, dev};

/// `SubtensorModule` is pallet 7 in the finney runtime.
const SUBTENSOR: u8 = 7;

fn call_data<C: SubtensorCall>(call: C) -> Vec<u8> {
    let payload = call.payload().expect("arguments pass the checks");
    let at = offline_client()
        .at_block(0u64)
        .expect("offline client at block 0");
    at.transactions()
        .call_data(&payload)
        .expect("encodes against the metadata")
}

#[test]
fn set_weights_encodes_as_pallet_7_call_0() {
    let data = call_data(SetWeights {
        netuid: 1,
        dests: vec![0, 3, 70],
        weights: vec![65535, 1, 300],
        version_key: 2_001_003,
    });
    #[rustfmt::skip]
    let expected = [
        SUBTENSOR, 0,                          // SubtensorModule::set_weights
        0x01, 0x00,                            // netuid: u16 = 1
        0x0c, 0x00, 0x00, 0x03, 0x00, 0x46, 0x00, // dests: compact(3), 0, 3, 70
        0x0c, 0xff, 0xff, 0x01, 0x00, 0x2c, 0x01, // weights: compact(3), 65535, 1, 300
        0x6b, 0x88, 0x1e, 0x00, 0x00, 0x00, 0x00, 0x00, // version_key: u64 = 2_001_003
    ];
    assert_eq!(data, expected);
}

#[test]
fn commit_weights_encodes_as_pallet_7_call_96() {
    let hash = chain::commit_reveal::commit_hash_v2(&[9; 32], 3, &[1, 2], &[10, 20], &[7], 5);
    let data = call_data(CommitWeights {
        netuid: 3,
        commit_hash: hash,
    });
    let mut expected = vec![SUBTENSOR, 96, 0x03, 0x00];
    expected.extend_from_slice(&hash); // H256: the 32 bytes, no length prefix
    assert_eq!(data, expected);
}

#[test]
fn reveal_weights_encodes_as_pallet_7_call_97() {
    let data = call_data(RevealWeights {
        netuid: 2,
        uids: vec![1, 2],
        values: vec![10, 20],
        salt: vec![9, 8, 7],
        version_key: 7,
    });
    #[rustfmt::skip]
    let expected = [
        SUBTENSOR, 97,                          // SubtensorModule::reveal_weights
        0x02, 0x00,                             // netuid 2
        0x08, 0x01, 0x00, 0x02, 0x00,           // uids [1, 2]
        0x08, 0x0a, 0x00, 0x14, 0x00,           // values [10, 20]
        0x0c, 0x09, 0x00, 0x08, 0x00, 0x07, 0x00, // salt [9, 8, 7]
        0x07, 0, 0, 0, 0, 0, 0, 0,              // version_key 7
    ];
    assert_eq!(data, expected);
}

#[test]
fn commit_timelocked_weights_encodes_as_pallet_7_call_113() {
    let commit: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
    let data = call_data(CommitTimelockedWeights {
        netuid: 5,
        commit: commit.clone(),
        reveal_round: 0x0102_0304_0506,
        commit_reveal_version: 4,
    });
    let mut expected = vec![SUBTENSOR, 113, 0x05, 0x00]; // call 113, netuid 5
    expected.extend([0xb1, 0x04]); // BoundedVec<u8>: compact(300) = (300 << 2 | 1) LE
    expected.extend(&commit);
    expected.extend(0x0102_0304_0506u64.to_le_bytes()); // reveal_round: u64
    expected.extend(4u16.to_le_bytes()); // commit_reveal_version: u16
    assert_eq!(data, expected);
    // The index and argument names are the metadata's.
    let metadata = metadata();
    let call = metadata
        .pallet_by_name("SubtensorModule")
        .and_then(|p| p.call_variant_by_name("commit_timelocked_weights"))
        .expect("call in finney metadata");
    assert_eq!(call.index, 113);
    let names: Vec<_> = call.fields.iter().map(|f| f.name.as_deref()).collect();
    assert_eq!(
        names,
        [
            Some("netuid"),
            Some("commit"),
            Some("reveal_round"),
            Some("commit_reveal_version")
        ]
    );
}

#[test]
fn commit_timelocked_weights_checks_its_bounds() {
    let call = |commit: Vec<u8>, reveal_round| CommitTimelockedWeights {
        netuid: 1,
        commit,
        reveal_round,
        commit_reveal_version: 4,
    };
    assert!(call(vec![1; 5000], 1).payload().is_ok());
    assert!(call(vec![1; 5001], 1).payload().is_err());
    assert!(call(vec![], 1).payload().is_err());
    assert!(call(vec![1], 0).payload().is_err());
}

#[test]
fn serve_axon_encodes_as_pallet_7_call_4() {
    let addr = "192.168.0.1:8091".parse().expect("socket address");
    let call = ServeAxon::from_socket(1, 900, addr, 4);
    assert_eq!(call.ip, 0xc0a8_0001);
    assert_eq!(call.ip_type, 4);
    #[rustfmt::skip]
    let expected = [
        SUBTENSOR, 4,                   // SubtensorModule::serve_axon
        0x01, 0x00,                     // netuid 1
        0x84, 0x03, 0x00, 0x00,         // version: u32 = 900
        0x01, 0x00, 0xa8, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ip: u128 LE
        0x9b, 0x1f,                     // port 8091
        0x04,                           // ip_type 4
        0x04,                           // protocol 4
        0x00, 0x00,                     // placeholder1, placeholder2
    ];
    assert_eq!(call_data(call), expected);
}

#[test]
fn invalid_arguments_are_refused_before_encoding() {
    let err = SetWeights {
        netuid: 1,
        dests: vec![1, 2],
        weights: vec![1],
        version_key: 0,
    }
    .payload()
    .expect_err("length mismatch");
    assert!(err.to_string().contains("2 uids but 1 weights"), "{err}");
    let err = RevealWeights {
        netuid: 1,
        uids: vec![4, 4],
        values: vec![1, 2],
        salt: vec![],
        version_key: 0,
    }
    .payload()
    .expect_err("duplicate uid");
    assert!(err.to_string().contains("uid 4 appears twice"), "{err}");
    let mut axon = ServeAxon::from_socket(1, 1, "[::1]:9".parse().expect("addr"), 4);
    axon.ip_type = 5;
    assert!(axon.payload().is_err());
}

/// Mortal era for 64 blocks from block 1000, encoded by hand: period 64 → low nibble
/// `trailing_zeros(64) − 1 = 5`, phase `1000 % 64 = 40` in the upper 12 bits: `5 | 40 << 4`.
const ERA_64_AT_1000: [u8; 2] = [0x85, 0x02];

#[test]
fn signed_set_weights_extrinsic_decodes_back_with_the_metadata() {
    let metadata = metadata();
    let version = runtime_version(&metadata);
    let checkpoint = [0x5a; 32];
    let alice = dev::alice();
    let call = SetWeights {
        netuid: 1,
        dests: vec![0, 3],
        weights: vec![65535, 1],
        version_key: 42,
    };
    let payload = call.payload().expect("valid");
    let params = SubtensorParamsBuilder::new()
        .nonce(5)
        .tip(0)
        .mortal_from_unchecked(64, 1000, H256(checkpoint))
        .build();
    let at = offline_client().at_block(1000u64).expect("at block");
    let txs = at.transactions();
    let mut signable = txs
        .create_signable_offline(&payload, params)
        .expect("signable offline");
    let signer_payload = signable.signer_payload().expect("signer payload");
    let tx = signable.sign(&alice).expect("signed");
    let bytes = tx.encoded().to_vec();

    // The signer payload, written out: call, extension values, extension implicits, in the
    // metadata's extension order (empty extensions contribute nothing).
    let call_bytes = txs.call_data(&payload).expect("call data");
    let mut expected_payload = call_bytes.clone();
    expected_payload.extend_from_slice(&ERA_64_AT_1000); // CheckMortality: Era
    expected_payload.extend(compact(5)); // CheckNonce: Compact<u32> nonce
    expected_payload.extend(compact(0)); // ChargeTransactionPayment: Compact tip
    expected_payload.push(0); // CheckMetadataHash: Mode::Disabled
    expected_payload.extend_from_slice(&version.spec_version.to_le_bytes()); // CheckSpecVersion
    expected_payload.extend_from_slice(&version.transaction_version.to_le_bytes()); // CheckTxVersion
    expected_payload.extend_from_slice(&GENESIS); // CheckGenesis
    expected_payload.extend_from_slice(&checkpoint); // CheckMortality: block hash of the era start
    expected_payload.push(0); // CheckMetadataHash: Option::None
    assert_eq!(signer_payload, expected_payload);

    // Decode the whole extrinsic back with the metadata.
    let cursor = &mut &bytes[..];
    let ext = decode_extrinsic(cursor, &*metadata, metadata.types()).expect("decodes");
    assert!(cursor.is_empty(), "no trailing bytes");
    assert_eq!(ext.version(), 4);
    assert!(ext.is_signed());
    assert_eq!(
        (ext.pallet_name(), ext.pallet_index()),
        ("SubtensorModule", 7)
    );
    assert_eq!((ext.call_name(), ext.call_index()), ("set_weights", 0));
    let range = ext.call_data_range();
    assert_eq!(&bytes[range], &call_bytes[..]);
    let names: Vec<&str> = ext.call_data().map(|a| a.name()).collect();
    assert_eq!(names, ["netuid", "dests", "weights", "version_key"]);

    // Signer: MultiAddress::Id (variant 0) + Alice's public key; signature: Sr25519 (variant 1).
    let sig = ext.signature_payload().expect("signed extrinsic");
    let address = &bytes[sig.address_range()];
    assert_eq!(address[0], 0);
    assert_eq!(&address[1..], &alice.public_key().0);
    let signature = &bytes[sig.signature_range()];
    assert_eq!((signature.len(), signature[0]), (65, 1));
    let signature = sr25519::Signature(signature[1..].try_into().expect("64 bytes"));
    assert!(sr25519::verify(
        &signature,
        &expected_payload,
        &alice.public_key()
    ));

    // Extension values as encoded: era, nonce 5, tip 0, metadata-hash mode 0.
    let exts = ext.transaction_extension_payload().expect("extensions");
    let values: Vec<(&str, &[u8])> = exts
        .iter()
        .map(|e| (e.name(), &bytes[e.range()]))
        .filter(|(_, b)| !b.is_empty())
        .collect();
    assert_eq!(
        values,
        [
            ("CheckMortality", &ERA_64_AT_1000[..]),
            ("CheckNonce", &[0x14][..]),
            ("ChargeTransactionPayment", &[0x00][..]),
            ("CheckMetadataHash", &[0x00][..]),
        ]
    );
}

#[test]
fn metadata_has_the_storage_the_client_reads() {
    let metadata = metadata();
    let storage = metadata
        .pallet_by_name("SubtensorModule")
        .and_then(|p| p.storage())
        .expect("SubtensorModule storage");
    for entry in [
        "NetworksAdded",
        "SubnetworkN",
        "Keys",
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
        "WeightsVersionKey",
        "WeightsSetRateLimit",
        "CommitRevealWeightsEnabled",
        "CommitRevealWeightsVersion",
        "RevealPeriodEpochs",
        "MechanismCountCurrent",
        "SubnetOwnerHotkey",
    ] {
        assert!(storage.entry_by_name(entry).is_some(), "missing {entry}");
    }
}
