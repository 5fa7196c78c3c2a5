//! gpuproof wire protocol: messages, signed envelopes and framing. No I/O.
//!
//! A validator and a miner exchange [`Message`]s, each carried in one frame
//! (`[tag: u8][len: u32 LE][payload]`, see [`frame`]). Payloads are CBOR. `Prepare` and `Go`
//! (from the verifier) and `Commitment` (from the miner) travel inside a [`Signed`] ed25519
//! envelope whose [`digest`](Signed::digest) later messages cite. Every size is capped (see
//! [`limits`]), and caps are checked from the frame header before any payload is buffered.
//!
//! ```
//! use protocol::ed25519_dalek::SigningKey;
//! use protocol::{ChallengeId, Digest, FrameDecoder, Go, Message, Nonce, SessionKey, Signed};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Verifier: sign a Go and frame it.
//! let key = SigningKey::from_bytes(&[7; 32]);
//! let go = Go {
//!     challenge_id: ChallengeId::new([1; 16]),
//!     prepare: Digest::new([2; 32]),
//!     nonce: Nonce::new([3; 32]),
//! };
//! let bytes = Message::Go(Signed::sign(&key, &go)?).encode()?;
//!
//! // Miner: bytes arrive in pieces; frames come out whole.
//! let mut decoder = FrameDecoder::new();
//! let (first, rest) = bytes.split_at(3);
//! decoder.push(first)?;
//! assert!(decoder.next_frame().is_none());
//! decoder.push(rest)?;
//! let frame = decoder.next_frame().ok_or("no frame")?;
//!
//! // Decode, then verify against the session key the peer authenticated with.
//! let Message::Go(signed) = frame.decode()? else { return Err("expected Go".into()) };
//! assert_eq!(signed.verify_from(&SessionKey::of(&key))?, go);
//! # Ok(())
//! # }
//! ```
//!
//! Code map: [`ids`] (byte newtypes), [`messages`] (the message structs), [`signed`]
//! (envelopes), [`frame`] (framing), [`kinds`] (which kinds each role sends: a decoder made
//! with [`FrameDecoder::for_peer`] refuses the others from the header), [`message`]
//! ([`Message`]), [`gate`] (a miner's `Prepare` admission), [`limits`], [`error`].
//!
//! Architecture invariants: this crate does no I/O and reads no clock (callers pass `now`);
//! it does not depend on the `challenges` crate; nothing a peer sends can make it panic or
//! allocate more than the limits allow.
#![deny(missing_docs)]

mod bytes;
mod codec;
pub mod error;
pub mod frame;
pub mod gate;
pub mod ids;
pub mod kinds;
pub mod limits;
pub mod message;
pub mod messages;
pub mod signed;

pub use ed25519_dalek;

pub use error::ProtocolError;
pub use frame::{Frame, FrameDecoder, MessageKind, encode_frame, frame_header};
pub use gate::{GatePolicy, PrepareGate, Sender};
pub use ids::{ChallengeId, Digest, Hotkey, ModuleHash, Nonce, Root, SessionKey};
pub use kinds::KindSet;
pub use message::Message;
pub use messages::{
    ABI_VERSION, Commitment, ErrorCode, ErrorMsg, Go, GpuInfo, Hello, HostFacts, Inventory,
    LeafRef, MinerTimings, Negotiated, NodePair, Open, OpeningWire, Openings, PROTOCOL_VERSION,
    PhaseDone, PhaseKey, Ping, Pong, Prepare, ProbeChunk, ProbeDirection, ProbeReceipt,
    ProbeRequest, ProbeTicket, Ready, Role, SessionCertificate, negotiate, normalize_driver_name,
    probe_data, receipt_data, stream_span,
};
pub use signed::{ENVELOPE_DIGEST_CONTEXT, SIGNING_PREFIX, Signable, Signed};
