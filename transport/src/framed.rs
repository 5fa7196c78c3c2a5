//! [`FramedStream`]: one QUIC bidirectional stream carrying protocol frames both ways.
//!
//! Reading goes through the sans-IO [`FrameDecoder`], so a frame header over its kind's limit
//! is refused before its payload is read, and memory grows only with bytes received. Every
//! read has a deadline.

use std::time::Duration;

use protocol::{Frame, FrameDecoder, Message, MessageKind};
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
    /// Wraps an opened or accepted bidirectional stream.
    pub fn new(send: SendStream, recv: RecvStream) -> Self {
        Self {
            send,
            recv,
            decoder: FrameDecoder::new(),
            buf: vec![0; READ_CHUNK],
        }
    }

    /// Opens a new bidirectional stream on `connection`.
    pub async fn open(connection: &quinn::Connection) -> Result<Self, TransportError> {
        let (send, recv) = connection
            .open_bi()
            .await
            .map_err(|e| TransportError::Closed(e.to_string()))?;
        Ok(Self::new(send, recv))
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
    /// [`TransportError::Closed`]; a bad header is [`TransportError::Protocol`].
    pub async fn recv_frame(&mut self, timeout: Duration) -> Result<Frame, TransportError> {
        match tokio::time::timeout(timeout, self.recv_frame_inner()).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout(timeout)),
        }
    }

    async fn recv_frame_inner(&mut self) -> Result<Frame, TransportError> {
        loop {
            if let Some(frame) = self.decoder.next_frame() {
                return Ok(frame);
            }
            let read = self
                .recv
                .read(&mut self.buf)
                .await
                .map_err(|e| TransportError::Closed(e.to_string()))?;
            match read {
                Some(n) => {
                    let bytes = self.buf.get(..n).unwrap_or_default();
                    self.decoder.push(bytes)?;
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
