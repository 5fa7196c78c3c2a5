//! Framing: `[tag: u8][len: u32 LE][payload]`, with a per-kind payload limit.
//!
//! [`FrameDecoder`] is sans-IO: push bytes as they arrive, pull complete [`Frame`]s. It checks
//! each header as soon as its 5 bytes are in: an unknown tag, a kind the decoder does not admit
//! (one the peer's role never sends, see [`FrameDecoder::for_peer`] and [`KindSet`]) or a
//! length over the kind's limit is an error before a single payload byte is buffered, and
//! payload memory grows only with bytes actually received (never with the length a header
//! claims). The total it holds is capped. A header error is fatal: the stream cannot be
//! resynchronised, so every later call returns the same error.
#![deny(clippy::indexing_slicing)]

use std::collections::VecDeque;

use crate::error::ProtocolError;
use crate::kinds::KindSet;
use crate::limits::{
    DEFAULT_BUFFER_CAP, FRAME_HEADER_LEN, MAX_OPENINGS_PAYLOAD, MAX_PREPARE_PAYLOAD,
    MAX_PROBE_CHUNK_PAYLOAD, MAX_SMALL_PAYLOAD,
};
use crate::message::Message;
use crate::messages::Role;

/// The kind of a frame: its tag byte, and the largest payload it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKind {
    /// [`Hello`](crate::Hello), tag 1.
    Hello,
    /// [`Inventory`](crate::Inventory), tag 2.
    Inventory,
    /// Signed [`Prepare`](crate::Prepare), tag 3.
    Prepare,
    /// [`Ready`](crate::Ready), tag 4.
    Ready,
    /// Signed [`Go`](crate::Go), tag 5.
    Go,
    /// Signed [`Commitment`](crate::Commitment), tag 6.
    Commitment,
    /// [`Open`](crate::Open), tag 7.
    Open,
    /// [`Openings`](crate::Openings), tag 8.
    Openings,
    /// [`ProbeRequest`](crate::ProbeRequest), tag 9.
    ProbeRequest,
    /// [`ProbeChunk`](crate::ProbeChunk), tag 10.
    ProbeChunk,
    /// [`ErrorMsg`](crate::ErrorMsg), tag 11.
    Error,
    /// [`SessionCertificate`](crate::SessionCertificate), tag 12.
    Certificate,
    /// [`Ping`](crate::Ping), tag 13.
    Ping,
    /// [`Pong`](crate::Pong), tag 14.
    Pong,
    /// [`ProbeTicket`](crate::ProbeTicket), tag 15.
    ProbeTicket,
    /// Signed [`PhaseDone`](crate::PhaseDone), tag 16 (protocol v2).
    PhaseDone,
    /// Signed [`PhaseKey`](crate::PhaseKey), tag 17 (protocol v2).
    PhaseKey,
}

impl MessageKind {
    /// Every kind, in tag order.
    pub const ALL: [MessageKind; 17] = [
        Self::Hello,
        Self::Inventory,
        Self::Prepare,
        Self::Ready,
        Self::Go,
        Self::Commitment,
        Self::Open,
        Self::Openings,
        Self::ProbeRequest,
        Self::ProbeChunk,
        Self::Error,
        Self::Certificate,
        Self::Ping,
        Self::Pong,
        Self::ProbeTicket,
        Self::PhaseDone,
        Self::PhaseKey,
    ];

    /// The tag byte on the wire (never 0).
    pub const fn tag(self) -> u8 {
        match self {
            Self::Hello => 1,
            Self::Inventory => 2,
            Self::Prepare => 3,
            Self::Ready => 4,
            Self::Go => 5,
            Self::Commitment => 6,
            Self::Open => 7,
            Self::Openings => 8,
            Self::ProbeRequest => 9,
            Self::ProbeChunk => 10,
            Self::Error => 11,
            Self::Certificate => 12,
            Self::Ping => 13,
            Self::Pong => 14,
            Self::ProbeTicket => 15,
            Self::PhaseDone => 16,
            Self::PhaseKey => 17,
        }
    }

    /// The kind with this tag, if any.
    pub const fn from_tag(tag: u8) -> Option<Self> {
        Some(match tag {
            1 => Self::Hello,
            2 => Self::Inventory,
            3 => Self::Prepare,
            4 => Self::Ready,
            5 => Self::Go,
            6 => Self::Commitment,
            7 => Self::Open,
            8 => Self::Openings,
            9 => Self::ProbeRequest,
            10 => Self::ProbeChunk,
            11 => Self::Error,
            12 => Self::Certificate,
            13 => Self::Ping,
            14 => Self::Pong,
            15 => Self::ProbeTicket,
            16 => Self::PhaseDone,
            17 => Self::PhaseKey,
            _ => return None,
        })
    }

    /// The largest payload a frame of this kind may carry, in bytes.
    pub const fn max_payload(self) -> usize {
        match self {
            Self::Prepare => MAX_PREPARE_PAYLOAD,
            Self::Openings => MAX_OPENINGS_PAYLOAD,
            Self::ProbeChunk => MAX_PROBE_CHUNK_PAYLOAD,
            Self::Hello
            | Self::Inventory
            | Self::Ready
            | Self::Go
            | Self::Commitment
            | Self::Open
            | Self::ProbeRequest
            | Self::Error
            | Self::Certificate
            | Self::Ping
            | Self::Pong
            | Self::ProbeTicket
            | Self::PhaseDone
            | Self::PhaseKey => MAX_SMALL_PAYLOAD,
        }
    }

    /// The kind's name, as used in error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hello => "Hello",
            Self::Inventory => "Inventory",
            Self::Prepare => "Prepare",
            Self::Ready => "Ready",
            Self::Go => "Go",
            Self::Commitment => "Commitment",
            Self::Open => "Open",
            Self::Openings => "Openings",
            Self::ProbeRequest => "ProbeRequest",
            Self::ProbeChunk => "ProbeChunk",
            Self::Error => "ErrorMsg",
            Self::Certificate => "Certificate",
            Self::Ping => "Ping",
            Self::Pong => "Pong",
            Self::ProbeTicket => "ProbeTicket",
            Self::PhaseDone => "PhaseDone",
            Self::PhaseKey => "PhaseKey",
        }
    }
}

/// The 5 header bytes of a frame of `kind` carrying `len` payload bytes.
///
/// Fails if `len` exceeds the kind's limit.
pub fn frame_header(
    kind: MessageKind,
    len: usize,
) -> Result<[u8; FRAME_HEADER_LEN], ProtocolError> {
    let too_large = || ProtocolError::FrameTooLarge {
        kind,
        len: u64::try_from(len).unwrap_or(u64::MAX),
        max: kind.max_payload(),
    };
    if len > kind.max_payload() {
        return Err(too_large());
    }
    let [a, b, c, d] = u32::try_from(len).map_err(|_| too_large())?.to_le_bytes();
    Ok([kind.tag(), a, b, c, d])
}

/// A complete frame: `header ‖ payload`. Fails if `payload` exceeds the kind's limit.
pub fn encode_frame(kind: MessageKind, payload: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let header = frame_header(kind, payload.len())?;
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN.saturating_add(payload.len()));
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    Ok(out)
}

/// One complete frame taken from a [`FrameDecoder`]: its payload is within the kind's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame's kind.
    pub kind: MessageKind,
    /// The payload bytes (not yet decoded).
    pub payload: Vec<u8>,
}

impl Frame {
    /// Decodes the payload as the message its kind announces.
    pub fn decode(&self) -> Result<Message, ProtocolError> {
        Message::decode(self.kind, &self.payload)
    }
}

/// A frame whose header has been checked and whose payload is arriving.
#[derive(Debug)]
struct Partial {
    kind: MessageKind,
    len: usize,
    payload: Vec<u8>,
}

/// Incremental, sans-IO frame decoder. See the [module docs](self).
#[derive(Debug)]
pub struct FrameDecoder {
    header: [u8; FRAME_HEADER_LEN],
    header_len: usize,
    partial: Option<Partial>,
    ready: VecDeque<Frame>,
    ready_bytes: usize,
    cap: usize,
    accepted: KindSet,
    failed: Option<ProtocolError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder admitting every kind, holding at most [`DEFAULT_BUFFER_CAP`] bytes.
    pub fn new() -> Self {
        Self::with_cap(DEFAULT_BUFFER_CAP)
    }

    /// A decoder admitting only `kinds` (holding at most [`DEFAULT_BUFFER_CAP`] bytes): a
    /// header of any other kind is [`ProtocolError::UnexpectedKind`], found before a payload
    /// byte is buffered, and fatal like every header error.
    pub fn accepting(kinds: KindSet) -> Self {
        let mut decoder = Self::new();
        decoder.set_accepting(kinds);
        decoder
    }

    /// A decoder for the frames a peer of `role` sends: [`accepting`](Self::accepting)
    /// [`KindSet::sent_by`]`(role)`. A verifier reads a miner with `for_peer(Role::Miner)`, a
    /// miner reads a validator with `for_peer(Role::Validator)`.
    pub fn for_peer(role: Role) -> Self {
        Self::accepting(KindSet::sent_by(role))
    }

    /// Admits only `kinds` from the next header checked on. Frames whose header was checked
    /// before the call (complete, or with their payload arriving) are kept.
    pub fn set_accepting(&mut self, kinds: KindSet) {
        self.accepted = kinds;
    }

    /// The kinds this decoder admits ([`KindSet::ALL`] unless restricted).
    pub fn accepted(&self) -> KindSet {
        self.accepted
    }

    /// A decoder admitting every kind, holding at most `cap` bytes (header and payload bytes, received and not yet
    /// taken). A frame whose header and payload together exceed `cap` is rejected from its
    /// header like an over-limit frame, so `cap` also lowers every kind's limit. A `cap`
    /// below [`FRAME_HEADER_LEN`] is raised to it.
    pub fn with_cap(cap: usize) -> Self {
        Self {
            header: [0; FRAME_HEADER_LEN],
            header_len: 0,
            partial: None,
            ready: VecDeque::new(),
            ready_bytes: 0,
            cap: cap.max(FRAME_HEADER_LEN),
            accepted: KindSet::ALL,
            failed: None,
        }
    }

    /// Bytes currently held (partial header, partial payload and complete frames).
    pub fn buffered(&self) -> usize {
        let partial = self.partial.as_ref().map_or(0, |p| p.payload.len());
        self.header_len
            .saturating_add(partial)
            .saturating_add(self.ready_bytes)
    }

    /// Feeds bytes received from the peer.
    ///
    /// Either all of `input` is consumed or, on [`ProtocolError::BufferFull`], none of it (take
    /// frames out with [`next_frame`](Self::next_frame) and push again). Any other error is a
    /// header error, found as soon as the header's 5 bytes are in, and is fatal (see
    /// [`failure`](Self::failure)); frames completed before the bad header can still be taken.
    pub fn push(&mut self, input: &[u8]) -> Result<(), ProtocolError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let buffered = self.buffered();
        if buffered
            .checked_add(input.len())
            .is_none_or(|total| total > self.cap)
        {
            return Err(ProtocolError::BufferFull {
                buffered,
                incoming: input.len(),
                cap: self.cap,
            });
        }
        let mut input = input;
        while !input.is_empty() {
            input = match self.partial.take() {
                None => self.take_header_bytes(input)?,
                Some(partial) => self.take_payload_bytes(partial, input),
            };
        }
        Ok(())
    }

    /// The fatal header error, once one was found: every later [`push`](Self::push) and
    /// [`finish`](Self::finish) returns it.
    pub fn failure(&self) -> Option<&ProtocolError> {
        self.failed.as_ref()
    }

    /// The next complete frame, in arrival order, if any.
    pub fn next_frame(&mut self) -> Option<Frame> {
        let frame = self.ready.pop_front()?;
        self.ready_bytes = self.ready_bytes.saturating_sub(frame.payload.len());
        Some(frame)
    }

    /// Call when the peer closes the stream: `Ok` if it ended on a frame boundary, otherwise
    /// [`ProtocolError::TruncatedFrame`] (or the earlier fatal error). Frames already complete
    /// can still be taken with [`next_frame`](Self::next_frame).
    pub fn finish(&self) -> Result<(), ProtocolError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let header = FRAME_HEADER_LEN as u64;
        if let Some(partial) = &self.partial {
            let have = header.saturating_add(partial.payload.len() as u64);
            let need = header.saturating_add(partial.len as u64);
            return Err(ProtocolError::TruncatedFrame { have, need });
        }
        if self.header_len > 0 {
            return Err(ProtocolError::TruncatedFrame {
                have: self.header_len as u64,
                need: header,
            });
        }
        Ok(())
    }

    /// Copies header bytes; once the header is whole, checks it. Returns the unused input.
    fn take_header_bytes<'a>(&mut self, input: &'a [u8]) -> Result<&'a [u8], ProtocolError> {
        let want = FRAME_HEADER_LEN
            .saturating_sub(self.header_len)
            .min(input.len());
        let (head, rest) = input.split_at_checked(want).unwrap_or((input, &[]));
        for (dst, src) in self.header.iter_mut().skip(self.header_len).zip(head) {
            *dst = *src;
        }
        self.header_len = self.header_len.saturating_add(head.len());
        if self.header_len == FRAME_HEADER_LEN {
            self.header_len = 0;
            match self.check_header() {
                Ok(partial) => self.start_payload(partial),
                Err(error) => {
                    self.failed = Some(error.clone());
                    return Err(error);
                }
            }
        }
        Ok(rest)
    }

    /// Validates the whole header in `self.header`: known tag, admitted kind, length within
    /// limit and cap.
    fn check_header(&self) -> Result<Partial, ProtocolError> {
        let [tag, a, b, c, d] = self.header;
        let kind = MessageKind::from_tag(tag).ok_or(ProtocolError::UnknownFrameTag { tag })?;
        if !self.accepted.contains(kind) {
            return Err(ProtocolError::UnexpectedKind {
                kind,
                accepted: self.accepted,
            });
        }
        let len = u32::from_le_bytes([a, b, c, d]);
        let max = kind
            .max_payload()
            .min(self.cap.saturating_sub(FRAME_HEADER_LEN));
        let too_large = ProtocolError::FrameTooLarge {
            kind,
            len: u64::from(len),
            max,
        };
        let len = usize::try_from(len).map_err(|_| too_large.clone())?;
        if len > max {
            return Err(too_large);
        }
        Ok(Partial {
            kind,
            len,
            payload: Vec::new(),
        })
    }

    /// Installs a checked header; an empty payload completes the frame at once.
    fn start_payload(&mut self, partial: Partial) {
        if partial.len == 0 {
            self.ready.push_back(Frame {
                kind: partial.kind,
                payload: Vec::new(),
            });
        } else {
            self.partial = Some(partial);
        }
    }

    /// Appends payload bytes (never more than the frame still needs). Returns the unused input.
    fn take_payload_bytes<'a>(&mut self, mut partial: Partial, input: &'a [u8]) -> &'a [u8] {
        let want = partial
            .len
            .saturating_sub(partial.payload.len())
            .min(input.len());
        let (chunk, rest) = input.split_at_checked(want).unwrap_or((input, &[]));
        partial.payload.extend_from_slice(chunk);
        if partial.payload.len() >= partial.len {
            self.ready_bytes = self.ready_bytes.saturating_add(partial.payload.len());
            self.ready.push_back(Frame {
                kind: partial.kind,
                payload: partial.payload,
            });
        } else {
            self.partial = Some(partial);
        }
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_are_unique() {
        for (i, kind) in MessageKind::ALL.iter().enumerate() {
            assert_eq!(usize::from(kind.tag()), i + 1);
            assert_eq!(MessageKind::from_tag(kind.tag()), Some(*kind));
        }
        assert_eq!(MessageKind::from_tag(0), None);
        assert_eq!(MessageKind::from_tag(18), None);
        assert_eq!(MessageKind::from_tag(255), None);
    }

    #[test]
    fn header_bytes_are_counted_while_partial() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&[MessageKind::Go.tag(), 1]).unwrap();
        assert_eq!(decoder.buffered(), 2);
        assert_eq!(
            decoder.finish(),
            Err(ProtocolError::TruncatedFrame { have: 2, need: 5 })
        );
    }

    #[test]
    fn empty_payload_frame_completes_from_header() {
        let mut decoder = FrameDecoder::new();
        decoder
            .push(&encode_frame(MessageKind::Ready, &[]).unwrap())
            .unwrap();
        assert_eq!(
            decoder.next_frame(),
            Some(Frame {
                kind: MessageKind::Ready,
                payload: vec![]
            })
        );
        assert_eq!(decoder.finish(), Ok(()));
    }
}
