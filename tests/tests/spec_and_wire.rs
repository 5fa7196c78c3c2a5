//! The spec crates fit together: a challenge described by `protocol` messages binds the seed
//! `challenges` defines, and an opening that crossed the wire (signed, framed, decoded) still
//! verifies against the committed root — while the same opening under another miner's seed or a
//! tampered frame does not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use challenges::commitment::{self, Opening, OutputTree, verify_opening};
use challenges::matmul::{self, MatmulParams};
use challenges::prf;
use protocol::ed25519_dalek::SigningKey;
use protocol::{
    ABI_VERSION, ChallengeId, Digest, FrameDecoder, Hotkey, Message, ModuleHash, NodePair,
    OpeningWire, Openings, PROTOCOL_VERSION, Prepare, Signed,
};

fn prepare(miner: [u8; 32]) -> Prepare {
    Prepare {
        protocol_version: PROTOCOL_VERSION,
        abi_version: ABI_VERSION,
        challenge_id: ChallengeId::new([7; 16]),
        validator: Hotkey::new([1; 32]),
        miner: Hotkey::new(miner),
        module_hash: ModuleHash::new([3; 32]),
        module_bytes: None,
        params: MatmulParams {
            m: 32,
            n: 32,
            k: 64,
            count: 1,
        }
        .encode()
        .to_vec(),
        device: 2,
        expires_at_ms: 1_000_000,
    }
}

/// The seed a miner derives from a decoded `Prepare` and the `Go` nonce.
fn seed_of(p: &Prepare, nonce: &[u8; 32]) -> [u8; 32] {
    prf::challenge_seed(
        nonce,
        p.validator.as_bytes(),
        p.miner.as_bytes(),
        p.module_hash.as_bytes(),
        &p.params,
        p.device,
    )
}

#[test]
fn a_signed_prepare_carries_everything_the_seed_binds() {
    let key = SigningKey::from_bytes(&[9; 32]);
    let signed = Signed::sign(&key, &prepare([2; 32])).unwrap();
    let decoded: Prepare = signed.verify().unwrap();
    let nonce = [5u8; 32];
    let seed = seed_of(&decoded, &nonce);
    assert_eq!(
        seed,
        prf::challenge_seed(&nonce, &[1; 32], &[2; 32], &[3; 32], &decoded.params, 2)
    );
    // Handed to another miner, the same challenge has another seed.
    assert_ne!(seed, seed_of(&prepare([4; 32]), &nonce));
}

fn wire(output: u32, leaf: u64, o: &Opening) -> OpeningWire {
    OpeningWire {
        output,
        leaf,
        chunk: o.chunk.clone(),
        path: o
            .path
            .iter()
            .map(|p| NodePair {
                left: p.left,
                right: p.right,
            })
            .collect(),
    }
}

fn unwire(w: &OpeningWire) -> Opening {
    Opening {
        chunk: w.chunk.clone(),
        path: w
            .path
            .iter()
            .map(|p| commitment::NodePair {
                left: p.left,
                right: p.right,
            })
            .collect(),
    }
}

#[test]
fn openings_survive_the_wire_and_still_bind_the_seed() {
    let p = prepare([2; 32]);
    let params = MatmulParams::decode(&p.params).unwrap();
    let seed = seed_of(&p, &[5; 32]);
    let c0 = matmul::product(prf::key(&seed, matmul::STREAM), &params, 0).unwrap();
    let tree = OutputTree::new(&c0);
    let leaves = [0u64, 1, 3];
    let msg = Message::Openings(Openings {
        challenge: Digest::new([8; 32]),
        openings: leaves
            .iter()
            .map(|l| wire(0, *l, &tree.open(&c0, *l).unwrap()))
            .collect(),
    });
    let frame = msg.encode().unwrap();
    // Framed, split into pieces, decoded.
    let mut decoder = FrameDecoder::new();
    for piece in frame.chunks(7) {
        decoder.push(piece).unwrap();
    }
    let Message::Openings(got) = decoder.next_frame().unwrap().decode().unwrap() else {
        panic!("not openings")
    };
    for w in &got.openings {
        let opening = unwire(w);
        verify_opening(&tree.root(), c0.len() as u64, w.leaf, &opening).unwrap();
        // The leaf is what the spec says for this seed, and not for another miner's seed.
        let tile = matmul::tile(prf::key(&seed, matmul::STREAM), &params, 0, w.leaf).unwrap();
        assert_eq!(opening.chunk, challenges::tiles::tile_to_bytes(&tile));
        let other = seed_of(&prepare([4; 32]), &[5; 32]);
        let wrong = matmul::tile(prf::key(&other, matmul::STREAM), &params, 0, w.leaf).unwrap();
        assert_ne!(opening.chunk, challenges::tiles::tile_to_bytes(&wrong));
    }
    // A flipped byte in the frame's payload either fails to decode or fails to verify.
    let mut bad = frame.clone();
    let last = bad.len() - 40;
    bad[last] ^= 0x10;
    let mut decoder = FrameDecoder::new();
    decoder.push(&bad).unwrap();
    if let Ok(Message::Openings(got)) = decoder.next_frame().unwrap().decode() {
        let failures = got
            .openings
            .iter()
            .filter(|w| verify_opening(&tree.root(), c0.len() as u64, w.leaf, &unwire(w)).is_err())
            .count();
        assert_eq!(failures, 1);
    }
}
