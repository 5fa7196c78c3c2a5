//! The bandwidth-probe cheats: other [`ProbeConduct`]s than the honest one, chosen once when the
//! server starts ([`super::Adversary::probe_conduct`]).
//!
//! - [`Fake`] (`probe-fake`): acknowledges without reading. A download's receipt claims every
//!   byte at once, without reading one (its hash is that of nothing), and an upload sends zeros
//!   instead of generating the seed's stream. A miner hoping the verifier takes its word for
//!   the bytes, or checks only some of them.
//! - [`Paced`] (`probe-slow:MBPS`): a link throttled to `MBPS` Mbit/s over all its probe
//!   streams together, honest otherwise: writes and reads go in small pieces, each waiting for
//!   its turn on one shared schedule (reading slowly throttles the verifier's sending through
//!   TCP flow control).

use std::sync::Mutex;
use std::time::Duration;

use protocol::{Nonce, ProbeReceipt};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::serve::probe::conduct::{
    ConductFuture, Honest, ProbeConduct, ProbeSocket, StreamReceipt, read_and_hash,
};

/// Acknowledges without reading (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fake;

impl ProbeConduct for Fake {
    fn upload_data(&self, _seed: &Nonce, bytes: usize) -> Vec<u8> {
        vec![0u8; bytes]
    }

    fn send<'a>(
        &'a self,
        socket: &'a mut dyn ProbeSocket,
        data: &'a [u8],
    ) -> ConductFuture<'a, ()> {
        Honest.send(socket, data)
    }

    fn receive<'a>(
        &'a self,
        _socket: &'a mut dyn ProbeSocket,
        len: u64,
    ) -> ConductFuture<'a, StreamReceipt> {
        Box::pin(async move {
            Ok(StreamReceipt {
                count: len,
                hash: ProbeReceipt::new().finish(),
            })
        })
    }
}

/// Piece size a paced stream writes or reads at a time.
const PIECE: usize = 16 << 10;

/// A link throttled to a fixed rate over all streams (see the module docs).
#[derive(Debug)]
pub(crate) struct Paced {
    /// Seconds of link time per byte.
    per_byte: f64,
    /// When the link is next free.
    next: Mutex<Instant>,
}

impl Paced {
    /// A link of `mbit` Mbit/s (at least 0.001).
    pub(crate) fn new(mbit: f64) -> Self {
        Self {
            per_byte: 8.0 / (mbit.max(0.001) * 1e6),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits until `n` bytes' turn on the link has passed.
    async fn pace(&self, n: usize) {
        let cost = Duration::from_secs_f64((n as f64 * self.per_byte).min(3600.0));
        let until = match self.next.lock() {
            Ok(mut next) => {
                let start = (*next).max(Instant::now());
                *next = start + cost;
                *next
            }
            Err(_) => Instant::now() + cost,
        };
        tokio::time::sleep_until(until).await;
    }
}

impl ProbeConduct for Paced {
    fn upload_data(&self, seed: &Nonce, bytes: usize) -> Vec<u8> {
        Honest.upload_data(seed, bytes)
    }

    fn send<'a>(
        &'a self,
        socket: &'a mut dyn ProbeSocket,
        data: &'a [u8],
    ) -> ConductFuture<'a, ()> {
        Box::pin(async move {
            for piece in data.chunks(PIECE) {
                self.pace(piece.len()).await;
                socket.write_all(piece).await?;
            }
            socket.shutdown().await
        })
    }

    fn receive<'a>(
        &'a self,
        socket: &'a mut dyn ProbeSocket,
        len: u64,
    ) -> ConductFuture<'a, StreamReceipt> {
        Box::pin(read_and_hash(socket, len, move |n| self.pace(n)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn the_fake_claims_every_byte_without_reading_and_uploads_zeros() {
        let (mut near, _far) = tokio::io::duplex(16);
        // Nothing was written: an honest read of 1 MiB would wait forever.
        let receipt =
            tokio::time::timeout(Duration::from_secs(5), Fake.receive(&mut near, 1 << 20))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(receipt.count, 1 << 20);
        assert_eq!(receipt.hash, *blake3::hash(&[]).as_bytes());
        assert!(
            Fake.upload_data(&Nonce::new([1; 32]), 4096)
                .iter()
                .all(|b| *b == 0)
        );
    }

    /// Paced I/O moves the same bytes as honest I/O (its time is not asserted: the tests over
    /// QUIC judge it by the verifier's clock).
    #[tokio::test]
    async fn paced_io_moves_the_same_bytes() {
        let paced = Paced::new(1000.0);
        let seed = Nonce::new([2; 32]);
        let data = paced.upload_data(&seed, 100_000);
        assert_eq!(data, Honest.upload_data(&seed, 100_000));
        let (mut near, mut far) = tokio::io::duplex(8 << 10);
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            Paced::new(1000.0).send(&mut near, &sent).await.unwrap();
        });
        let receipt = paced.receive(&mut far, 100_000).await.unwrap();
        writer.await.unwrap();
        assert_eq!(receipt.count, 100_000);
        assert_eq!(receipt.hash, *blake3::hash(&data).as_bytes());
    }
}
