//! Shared proptest strategies and helpers for the protocol tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;
use protocol::ed25519_dalek::SigningKey;
use protocol::limits::{MAX_CHUNK_LEN, MAX_DETAIL_LEN, MAX_PATH_LEN};
use protocol::*;

/// Feeds `frame` to a fresh decoder split at `split`, returns the one decoded message.
pub fn through_decoder(frame: &[u8], split: usize) -> Message {
    let mut decoder = FrameDecoder::new();
    let (a, b) = frame.split_at(split.min(frame.len()));
    decoder.push(a).unwrap();
    decoder.push(b).unwrap();
    decoder.finish().unwrap();
    let msg = decoder.next_frame().unwrap().decode().unwrap();
    assert!(decoder.next_frame().is_none());
    msg
}

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn arb_key() -> impl Strategy<Value = SigningKey> {
    any::<[u8; 32]>().prop_map(|b| SigningKey::from_bytes(&b))
}

pub fn arb_hello() -> impl Strategy<Value = Hello> {
    (
        vec(any::<u16>(), 0..8),
        vec(any::<u16>(), 0..8),
        prop_oneof![Just(Role::Miner), Just(Role::Validator)],
    )
        .prop_map(|(protocol_versions, abi_versions, role)| Hello {
            protocol_versions,
            abi_versions,
            role,
        })
}

pub fn arb_inventory() -> impl Strategy<Value = Inventory> {
    let gpu = (
        any::<u32>(),
        ".{0,20}",
        ".{0,20}",
        any::<u64>(),
        ".{0,16}",
        any::<Option<u8>>(),
        any::<Option<u8>>(),
    )
        .prop_map(
            |(index, name, uuid, memory_bytes, pci_bus_id, pcie_gen, pcie_width)| GpuInfo {
                index,
                name,
                uuid,
                memory_bytes,
                pci_bus_id,
                pcie_gen,
                pcie_width,
            },
        );
    let host = (".{0,20}", any::<u32>(), any::<u64>(), ".{0,20}").prop_map(
        |(cpu_model, cpu_cores, memory_bytes, os)| HostFacts {
            cpu_model,
            cpu_cores,
            memory_bytes,
            os,
        },
    );
    (vec(gpu, 0..8), host).prop_map(|(gpus, host)| Inventory { gpus, host })
}

pub fn arb_prepare() -> impl Strategy<Value = Prepare> {
    (
        (
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 16]>(),
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
        ),
        (
            any::<[u8; 32]>(),
            proptest::option::of(vec(any::<u8>(), 0..300)),
            vec(any::<u8>(), 0..300),
        ),
        (any::<u32>(), any::<u64>()),
    )
        .prop_map(
            |((pv, av, id, validator, miner), (hash, module_bytes, params), (device, exp))| {
                Prepare {
                    protocol_version: pv,
                    abi_version: av,
                    challenge_id: ChallengeId::new(id),
                    validator: Hotkey::new(validator),
                    miner: Hotkey::new(miner),
                    module_hash: ModuleHash::new(hash),
                    module_bytes,
                    params,
                    device,
                    expires_at_ms: exp,
                }
            },
        )
}

pub fn arb_ready() -> impl Strategy<Value = Ready> {
    (any::<[u8; 16]>(), any::<[u8; 32]>()).prop_map(|(id, d)| Ready {
        challenge_id: ChallengeId::new(id),
        prepare: Digest::new(d),
    })
}

pub fn arb_go() -> impl Strategy<Value = Go> {
    (any::<[u8; 16]>(), any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(id, d, n)| Go {
        challenge_id: ChallengeId::new(id),
        prepare: Digest::new(d),
        nonce: Nonce::new(n),
    })
}

pub fn arb_commitment() -> impl Strategy<Value = Commitment> {
    (
        any::<[u8; 32]>(),
        vec(any::<[u8; 32]>(), 0..10),
        any::<[u64; 4]>(),
    )
        .prop_map(|(d, roots, t)| Commitment {
            challenge: Digest::new(d),
            roots: roots.into_iter().map(Root::new).collect(),
            timings: MinerTimings {
                total_ms: t[0],
                fill_ms: t[1],
                compute_ms: t[2],
                hash_ms: t[3],
            },
        })
}

pub fn arb_open() -> impl Strategy<Value = Open> {
    (any::<[u8; 32]>(), vec((any::<u32>(), any::<u64>()), 0..20)).prop_map(|(d, leaves)| Open {
        challenge: Digest::new(d),
        leaves: leaves
            .into_iter()
            .map(|(output, leaf)| LeafRef { output, leaf })
            .collect(),
    })
}

pub fn arb_openings() -> impl Strategy<Value = Openings> {
    let node =
        (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(left, right)| NodePair { left, right });
    let opening = (
        any::<u32>(),
        any::<u64>(),
        vec(any::<u8>(), 0..=MAX_CHUNK_LEN),
        vec(node, 0..=MAX_PATH_LEN),
    )
        .prop_map(|(output, leaf, chunk, path)| OpeningWire {
            output,
            leaf,
            chunk,
            path,
        });
    (any::<[u8; 32]>(), vec(opening, 0..4)).prop_map(|(d, openings)| Openings {
        challenge: Digest::new(d),
        openings,
    })
}

pub fn arb_probe_request() -> impl Strategy<Value = ProbeRequest> {
    (
        prop_oneof![
            Just(ProbeDirection::MinerToVerifier),
            Just(ProbeDirection::VerifierToMiner)
        ],
        any::<u64>(),
        any::<u16>(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(direction, bytes, streams, seed)| ProbeRequest {
            direction,
            bytes,
            streams,
            seed: Nonce::new(seed),
        })
}

pub fn arb_probe_chunk() -> impl Strategy<Value = ProbeChunk> {
    (any::<u64>(), vec(any::<u8>(), 0..5000)).prop_map(|(offset, data)| ProbeChunk { offset, data })
}

pub const ALL_CODES: [ErrorCode; 17] = [
    ErrorCode::Unsigned,
    ErrorCode::BadSignature,
    ErrorCode::Expired,
    ErrorCode::Replayed,
    ErrorCode::Oversized,
    ErrorCode::WronglyAddressed,
    ErrorCode::UnknownModule,
    ErrorCode::BadModule,
    ErrorCode::VersionMismatch,
    ErrorCode::BusyDevice,
    ErrorCode::RateLimited,
    ErrorCode::BadParams,
    ErrorCode::Malformed,
    ErrorCode::UnexpectedMessage,
    ErrorCode::Internal,
    ErrorCode::BadCertificate,
    ErrorCode::NotAllowed,
];

pub fn arb_error() -> impl Strategy<Value = ErrorMsg> {
    (proptest::sample::select(&ALL_CODES[..]), ".{0,64}")
        .prop_map(|(code, detail)| ErrorMsg::new(code, detail))
        .prop_filter("detail fits", |m| m.detail.len() <= MAX_DETAIL_LEN)
}

/// Any message; signed ones signed with an arbitrary key.
pub fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        arb_hello().prop_map(Message::Hello),
        arb_inventory().prop_map(Message::Inventory),
        (arb_key(), arb_prepare())
            .prop_map(|(k, m)| Message::Prepare(Signed::sign(&k, &m).unwrap())),
        arb_ready().prop_map(Message::Ready),
        (arb_key(), arb_go()).prop_map(|(k, m)| Message::Go(Signed::sign(&k, &m).unwrap())),
        (arb_key(), arb_commitment())
            .prop_map(|(k, m)| Message::Commitment(Signed::sign(&k, &m).unwrap())),
        arb_open().prop_map(Message::Open),
        arb_openings().prop_map(Message::Openings),
        arb_probe_request().prop_map(Message::ProbeRequest),
        arb_probe_chunk().prop_map(Message::ProbeChunk),
        arb_error().prop_map(Message::Error),
        arb_certificate().prop_map(Message::Certificate),
        any::<u64>().prop_map(|seq| Message::Ping(Ping { seq })),
        any::<u64>().prop_map(|seq| Message::Pong(Pong { seq })),
        (
            any::<u16>(),
            vec(any::<[u8; 32]>(), 0..=protocol::limits::MAX_PROBE_STREAMS)
        )
            .prop_map(|(port, tokens)| Message::ProbeTicket(ProbeTicket {
                port,
                tokens: tokens.into_iter().map(Nonce::new).collect(),
            })),
        (
            arb_key(),
            any::<[u8; 32]>(),
            any::<u32>(),
            vec(any::<[u8; 32]>(), 0..40)
        )
            .prop_map(|(k, cites, phase, roots)| Message::PhaseDone(
                Signed::sign(
                    &k,
                    &PhaseDone {
                        cites: Digest::new(cites),
                        phase,
                        roots: roots.into_iter().map(Root::new).collect(),
                    }
                )
                .unwrap()
            )),
        (
            arb_key(),
            any::<[u8; 32]>(),
            any::<u32>(),
            any::<[u8; 32]>()
        )
            .prop_map(|(k, cites, phase, nonce)| Message::PhaseKey(
                Signed::sign(
                    &k,
                    &PhaseKey {
                        cites: Digest::new(cites),
                        phase,
                        nonce: Nonce::new(nonce),
                    }
                )
                .unwrap()
            )),
    ]
}

pub fn arb_certificate() -> impl Strategy<Value = SessionCertificate> {
    (
        any::<bool>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 64),
    )
        .prop_map(
            |(miner, key, hotkey, not_after_ms, sig)| SessionCertificate {
                role: if miner { Role::Miner } else { Role::Validator },
                session_key: SessionKey::new(key),
                hotkey: Hotkey::new(hotkey),
                not_after_ms,
                signature: sig.try_into().unwrap(),
            },
        )
}
