//! [`Message`]: one variant per frame kind, encoded to and decoded from whole frames.
//!
//! Signed kinds (`Prepare`, `Go`, `Commitment`, `PhaseDone`, `PhaseKey`) carry a [`Signed`] envelope: decoding one
//! parses the envelope but does not verify it; call [`Signed::verify_from`] before use.
#![deny(clippy::indexing_slicing)]

use crate::codec;
use crate::error::ProtocolError;
use crate::frame::{MessageKind, frame_header};
use crate::limits::FRAME_HEADER_LEN;
use crate::messages::{
    Commitment, ErrorMsg, Go, Hello, Inventory, Open, Openings, PhaseDone, PhaseKey, Ping, Pong,
    Prepare, ProbeChunk, ProbeRequest, ProbeTicket, Ready, SessionCertificate,
};
use crate::signed::Signed;

/// Any message of the protocol, as carried by one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Version negotiation, both directions.
    Hello(Hello),
    /// Miner → verifier: claimed GPUs and host.
    Inventory(Inventory),
    /// Verifier → miner, signed by the verifier.
    Prepare(Signed<Prepare>),
    /// Miner → verifier.
    Ready(Ready),
    /// Verifier → miner, signed by the verifier.
    Go(Signed<Go>),
    /// Miner → verifier, signed by the miner.
    Commitment(Signed<Commitment>),
    /// Verifier → miner.
    Open(Open),
    /// Miner → verifier.
    Openings(Openings),
    /// Verifier → miner.
    ProbeRequest(ProbeRequest),
    /// Either direction, during a probe.
    ProbeChunk(ProbeChunk),
    /// Either direction: a typed refusal.
    Error(ErrorMsg),
    /// Both directions, right after `Hello`: the sender's session key vouched for by its hotkey.
    Certificate(SessionCertificate),
    /// Verifier → miner: RTT measurement.
    Ping(Ping),
    /// Miner → verifier: answer to a `Ping`.
    Pong(Pong),
    /// Miner → verifier: where and with which token to run a probe's data.
    ProbeTicket(ProbeTicket),
    /// Miner → verifier, signed by the miner (protocol v2): an interactive phase is over.
    PhaseDone(Signed<PhaseDone>),
    /// Verifier → miner, signed by the verifier (protocol v2): the next phase's nonce.
    PhaseKey(Signed<PhaseKey>),
}

impl Message {
    /// The frame kind that carries this message.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::Hello(_) => MessageKind::Hello,
            Self::Inventory(_) => MessageKind::Inventory,
            Self::Prepare(_) => MessageKind::Prepare,
            Self::Ready(_) => MessageKind::Ready,
            Self::Go(_) => MessageKind::Go,
            Self::Commitment(_) => MessageKind::Commitment,
            Self::Open(_) => MessageKind::Open,
            Self::Openings(_) => MessageKind::Openings,
            Self::ProbeRequest(_) => MessageKind::ProbeRequest,
            Self::ProbeChunk(_) => MessageKind::ProbeChunk,
            Self::Error(_) => MessageKind::Error,
            Self::Certificate(_) => MessageKind::Certificate,
            Self::Ping(_) => MessageKind::Ping,
            Self::Pong(_) => MessageKind::Pong,
            Self::ProbeTicket(_) => MessageKind::ProbeTicket,
            Self::PhaseDone(_) => MessageKind::PhaseDone,
            Self::PhaseKey(_) => MessageKind::PhaseKey,
        }
    }

    /// The whole frame (header and payload), ready to write to a stream.
    ///
    /// Fails if a field or the payload exceeds its limit; the payload is encoded in place,
    /// without an extra copy.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        let kind = self.kind();
        let mut out = vec![0u8; FRAME_HEADER_LEN];
        self.encode_payload_into(&mut out)?;
        let header = frame_header(kind, out.len().saturating_sub(FRAME_HEADER_LEN))?;
        for (dst, src) in out.iter_mut().zip(header) {
            *dst = src;
        }
        Ok(out)
    }

    /// The payload alone (what a frame of [`kind`](Self::kind) carries), unframed.
    pub fn encode_payload(&self) -> Result<Vec<u8>, ProtocolError> {
        let mut out = Vec::new();
        self.encode_payload_into(&mut out)?;
        Ok(out)
    }

    fn encode_payload_into(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        let what = self.kind().name();
        match self {
            Self::Hello(m) => codec::encode_into(what, m, out),
            Self::Inventory(m) => codec::encode_into(what, m, out),
            Self::Ready(m) => codec::encode_into(what, m, out),
            Self::Open(m) => codec::encode_into(what, m, out),
            Self::Openings(m) => codec::encode_into(what, m, out),
            Self::ProbeRequest(m) => codec::encode_into(what, m, out),
            Self::ProbeChunk(m) => codec::encode_into(what, m, out),
            Self::Error(m) => codec::encode_into(what, m, out),
            Self::Certificate(m) => codec::encode_into(what, m, out),
            Self::Ping(m) => codec::encode_into(what, m, out),
            Self::Pong(m) => codec::encode_into(what, m, out),
            Self::ProbeTicket(m) => codec::encode_into(what, m, out),
            Self::Prepare(s) => {
                s.write_cbor(&mut |part| out.extend_from_slice(part));
                Ok(())
            }
            Self::Go(s) => {
                s.write_cbor(&mut |part| out.extend_from_slice(part));
                Ok(())
            }
            Self::Commitment(s) => {
                s.write_cbor(&mut |part| out.extend_from_slice(part));
                Ok(())
            }
            Self::PhaseDone(s) => {
                s.write_cbor(&mut |part| out.extend_from_slice(part));
                Ok(())
            }
            Self::PhaseKey(s) => {
                s.write_cbor(&mut |part| out.extend_from_slice(part));
                Ok(())
            }
        }
    }

    /// Decodes the payload of a frame of `kind`.
    ///
    /// Rejects a payload over the kind's limit before reading it, trailing bytes, unknown
    /// fields and any field over its limit. Signed kinds are parsed, not verified.
    pub fn decode(kind: MessageKind, payload: &[u8]) -> Result<Self, ProtocolError> {
        if payload.len() > kind.max_payload() {
            return Err(ProtocolError::FrameTooLarge {
                kind,
                len: u64::try_from(payload.len()).unwrap_or(u64::MAX),
                max: kind.max_payload(),
            });
        }
        let what = kind.name();
        Ok(match kind {
            MessageKind::Hello => Self::Hello(codec::decode(what, payload)?),
            MessageKind::Inventory => Self::Inventory(codec::decode(what, payload)?),
            MessageKind::Prepare => Self::Prepare(Signed::from_bytes(payload)?),
            MessageKind::Ready => Self::Ready(codec::decode(what, payload)?),
            MessageKind::Go => Self::Go(Signed::from_bytes(payload)?),
            MessageKind::Commitment => Self::Commitment(Signed::from_bytes(payload)?),
            MessageKind::PhaseDone => Self::PhaseDone(Signed::from_bytes(payload)?),
            MessageKind::PhaseKey => Self::PhaseKey(Signed::from_bytes(payload)?),
            MessageKind::Open => Self::Open(codec::decode(what, payload)?),
            MessageKind::Openings => Self::Openings(codec::decode(what, payload)?),
            MessageKind::ProbeRequest => Self::ProbeRequest(codec::decode(what, payload)?),
            MessageKind::ProbeChunk => Self::ProbeChunk(codec::decode(what, payload)?),
            MessageKind::Error => Self::Error(codec::decode(what, payload)?),
            MessageKind::Certificate => Self::Certificate(codec::decode(what, payload)?),
            MessageKind::Ping => Self::Ping(codec::decode(what, payload)?),
            MessageKind::Pong => Self::Pong(codec::decode(what, payload)?),
            MessageKind::ProbeTicket => Self::ProbeTicket(codec::decode(what, payload)?),
        })
    }
}
