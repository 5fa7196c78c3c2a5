//! [`ProbeConduct`]: how the miner moves a probe's bytes over one TCP stream — the only part of
//! the probe an adversary changes. The honest server uses [`Honest`]; the probe cheats
//! (`probe-fake`, `probe-slow`) are other implementations in `adversary/probe.rs`, chosen once
//! when the server starts ([`Adversary::probe_conduct`](super::super::Adversary)), never a
//! branch in the honest path.

use std::future::Future;
use std::pin::Pin;

use protocol::{Nonce, ProbeReceipt, probe_data};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Size of the buffer a download is read through.
pub(crate) const READ_BUFFER: usize = 1 << 20;

/// A probe connection's byte stream (a TCP stream; anything that reads and writes in tests).
pub(crate) trait ProbeSocket: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> ProbeSocket for T {}

/// What a conduct's I/O returns.
pub(crate) type ConductFuture<'a, T> =
    Pin<Box<dyn Future<Output = std::io::Result<T>> + Send + 'a>>;

/// What one stream of a download brought: the count of bytes read and their BLAKE3 hash, in
/// order (the stream's [`ProbeReceipt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamReceipt {
    /// Bytes received.
    pub(crate) count: u64,
    /// Their hash.
    pub(crate) hash: [u8; 32],
}

/// How a miner moves probe bytes.
pub(crate) trait ProbeConduct: Send + Sync {
    /// The `bytes` bytes an upload for `seed` sends, generated before the ticket is issued
    /// (untimed).
    fn upload_data(&self, seed: &Nonce, bytes: usize) -> Vec<u8>;

    /// Writes one stream's part of an upload, then ends the stream.
    fn send<'a>(&'a self, socket: &'a mut dyn ProbeSocket, data: &'a [u8])
    -> ConductFuture<'a, ()>;

    /// Reads one stream of a download, `len` bytes, and returns its receipt.
    fn receive<'a>(
        &'a self,
        socket: &'a mut dyn ProbeSocket,
        len: u64,
    ) -> ConductFuture<'a, StreamReceipt>;
}

/// The honest conduct: the seed's probe stream, written whole; every byte read and hashed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Honest;

impl ProbeConduct for Honest {
    fn upload_data(&self, seed: &Nonce, bytes: usize) -> Vec<u8> {
        let mut data = vec![0u8; bytes];
        probe_data(seed, 0, &mut data);
        data
    }

    fn send<'a>(
        &'a self,
        socket: &'a mut dyn ProbeSocket,
        data: &'a [u8],
    ) -> ConductFuture<'a, ()> {
        Box::pin(async move {
            socket.write_all(data).await?;
            socket.shutdown().await
        })
    }

    fn receive<'a>(
        &'a self,
        socket: &'a mut dyn ProbeSocket,
        len: u64,
    ) -> ConductFuture<'a, StreamReceipt> {
        Box::pin(read_and_hash(socket, len, |_| std::future::ready(())))
    }
}

/// Reads up to `len` bytes (fewer if the stream ends), hashing every one, in pieces of at most
/// [`READ_BUFFER`]; after each piece `pace(n)` is awaited (the honest conduct does not wait).
pub(crate) async fn read_and_hash<F: Future<Output = ()>>(
    socket: &mut dyn ProbeSocket,
    len: u64,
    mut pace: impl FnMut(usize) -> F,
) -> std::io::Result<StreamReceipt> {
    let mut hasher = ProbeReceipt::new();
    let mut buffer = vec![0u8; READ_BUFFER];
    while hasher.fed() < len {
        let want =
            usize::try_from((len - hasher.fed()).min(READ_BUFFER as u64)).unwrap_or(READ_BUFFER);
        let Some(space) = buffer.get_mut(..want) else {
            break;
        };
        let n = socket.read(space).await?;
        if n == 0 {
            break;
        }
        hasher.update(space.get(..n).unwrap_or_default());
        pace(n).await;
    }
    Ok(StreamReceipt {
        count: hasher.fed(),
        hash: hasher.finish(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn the_honest_conduct_sends_the_seeds_stream_and_hashes_every_byte_read() {
        let seed = Nonce::new([4; 32]);
        let data = Honest.upload_data(&seed, 300_000);
        let mut want = vec![0u8; 300_000];
        probe_data(&seed, 0, &mut want);
        assert_eq!(data, want);

        let (mut near, mut far) = tokio::io::duplex(64 << 10);
        let writer = tokio::spawn(async move {
            Honest.send(&mut near, &want).await.unwrap();
        });
        let receipt = Honest.receive(&mut far, 300_000).await.unwrap();
        writer.await.unwrap();
        assert_eq!(receipt.count, 300_000);
        assert_eq!(receipt.hash, *blake3::hash(&data).as_bytes());

        // A stream that ends early: its count and the hash of what came.
        let (mut near, mut far) = tokio::io::duplex(64 << 10);
        near.write_all(&data[..1000]).await.unwrap();
        drop(near);
        let receipt = Honest.receive(&mut far, 300_000).await.unwrap();
        assert_eq!(receipt.count, 1000);
        assert_eq!(receipt.hash, *blake3::hash(&data[..1000]).as_bytes());
    }
}
