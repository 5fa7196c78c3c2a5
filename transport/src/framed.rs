//! [`FramedStream`]: one QUIC bidirectional stream carrying protocol frames both ways.
//!
//! Reading goes through the sans-IO [`FrameDecoder`], so a frame header over its kind's limit
//! is refused before its payload is read, and memory grows only with bytes received. Every
//! read has a deadline.
//!
//! A stream whose peer's role is known admits only the kinds that role sends
//! ([`KindSet::sent_by`]): open it with [`FramedStream::open_to`], or wrap an accepted one with
//! [`FramedStream::new`]`(..).`[`with_peer_role`](FramedStream::with_peer_role). Any other
//! kind is refused from its header ([`ProtocolError::UnexpectedKind`], inside
//! [`TransportError::Protocol`]) before its payload is read, so a miner cannot make a verifier
//! buffer a `Prepare`-sized frame. [`FramedStream::new`] and [`FramedStream::open`] alone
//! admit every kind. The handshake restricts the control stream itself.
//!
//! [`ProtocolError::UnexpectedKind`]: protocol::ProtocolError::UnexpectedKind

use std::time::Duration;

use protocol::{Frame, FrameDecoder, KindSet, Message, MessageKind, Role};
use quinn::{RecvStream, SendStream};

use crate::error::TransportError;

/// Bytes read from the stream per call.
const READ_CHUNK: usize = 64 * 1024;

/// A bidirectional stream of frames.
#[derive(Debug)]
pub struct FramedStream {
    send: SendStream,
    recv: RecvStream,
    decoder: FrameDecoder,
    buf: Vec<u8>,
}

impl FramedStream {
    /// Wraps an opened or accepted bidirectional stream, admitting frames of every kind.
    pub fn new(send: SendStream, recv: RecvStream) -> Self {
        Self {
            send,
            recv,
            decoder: FrameDecoder::new(),
            buf: vec![0; READ_CHUNK],
        }
    }

    /// Opens a new bidirectional stream on `connection`, admitting frames of every kind.
    pub async fn open(connection: &quinn::Connection) -> Result<Self, TransportError> {
        let (send, recv) = connection
            .open_bi()
            .await
            .map_err(|e| TransportError::Closed(e.to_string()))?;
        Ok(Self::new(send, recv))
    }

    /// Opens a new bidirectional stream to a peer of role `peer`, admitting only the kinds
    /// that role sends. The verifier opens its streams to a miner with
    /// `open_to(connection, Role::Miner)`.
    pub async fn open_to(
        connection: &quinn::Connection,
        peer: Role,
    ) -> Result<Self, TransportError> {
        Ok(Self::open(connection).await?.with_peer_role(peer))
    }

    /// This stream, admitting only the kinds a peer of role `peer` sends. The miner wraps
    /// each stream it accepts from a validator with
    /// `FramedStream::new(send, recv).with_peer_role(Role::Validator)`.
    pub fn with_peer_role(mut self, peer: Role) -> Self {
        self.set_peer_role(peer);
        self
    }

    /// Admits only the kinds a peer of role `peer` sends, from the next frame header read on
    /// (frames already read in whole or in part are kept).
    pub fn set_peer_role(&mut self, peer: Role) {
        self.decoder.set_accepting(KindSet::sent_by(peer));
    }

    /// The kinds this stream admits from its peer.
    pub fn accepted_kinds(&self) -> KindSet {
        self.decoder.accepted()
    }

    /// Encodes and writes one message.
    pub async fn send(&mut self, message: &Message) -> Result<(), TransportError> {
        let bytes = message.encode()?;
        self.send_raw(&bytes).await
    }

    /// Writes bytes as they are (already framed, or deliberately not: tests of hostile peers).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.send
            .write_all(bytes)
            .await
            .map_err(|e| TransportError::Closed(e.to_string()))
    }

    /// Ends the sending side (the peer reads end-of-stream after what was sent).
    pub fn finish(&mut self) {
        // Already finished or reset: nothing left to end.
        let _ = self.send.finish();
    }

    /// Abandons the stream both ways with `code`.
    pub fn reset(&mut self, code: u32) {
        let _ = self.send.reset(quinn::VarInt::from_u32(code));
        let _ = self.recv.stop(quinn::VarInt::from_u32(code));
    }

    /// The next whole frame, waiting at most `timeout`. End of stream before a whole frame is
    /// [`TransportError::Closed`]; a bad header (over its limit, or of a kind this stream does
    /// not admit) is [`TransportError::Protocol`].
    pub async fn recv_frame(&mut self, timeout: Duration) -> Result<Frame, TransportError> {
        match tokio::time::timeout(timeout, self.recv_frame_inner()).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout(timeout)),
        }
    }

    /// Frames completed before a bad header are returned first, then the header's error (so
    /// what the caller sees does not depend on how the bytes were split into reads).
    async fn recv_frame_inner(&mut self) -> Result<Frame, TransportError> {
        loop {
            if let Some(frame) = self.decoder.next_frame() {
                return Ok(frame);
            }
            if let Some(error) = self.decoder.failure() {
                return Err(error.clone().into());
            }
            let read = self
                .recv
                .read(&mut self.buf)
                .await
                .map_err(|e| TransportError::Closed(e.to_string()))?;
            match read {
                Some(n) => {
                    let bytes = self.buf.get(..n).unwrap_or_default();
                    match self.decoder.push(bytes) {
                        Ok(()) => {}
                        // A header error: the loop's top hands out earlier frames, then it.
                        Err(_) if self.decoder.failure().is_some() => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                None => {
                    self.decoder.finish()?;
                    return Err(TransportError::Closed("the peer ended the stream".into()));
                }
            }
        }
    }

    /// The next message, decoded (not verified), waiting at most `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Result<Message, TransportError> {
        let frame = self.recv_frame(timeout).await?;
        Ok(frame.decode()?)
    }

    /// The next message, which must be of `kind`; a typed refusal from the peer is
    /// [`TransportError::Refused`].
    pub async fn expect(
        &mut self,
        kind: MessageKind,
        timeout: Duration,
    ) -> Result<Message, TransportError> {
        let message = self.recv(timeout).await?;
        match message {
            m if m.kind() == kind => Ok(m),
            Message::Error(e) => Err(TransportError::Refused(e)),
            other => Err(TransportError::Unexpected {
                expected: kind.name(),
                got: other.kind().name(),
            }),
        }
    }
}
