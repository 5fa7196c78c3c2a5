//! The one bounded HTTP/1.1 responder the verifier serves with (the catalogue and `/metrics`):
//! one request per connection, answered and closed. Everything a client controls is bounded
//! ([`Bounds`]): connections at once (more are closed unanswered), the request head's size
//! and the time it may take to arrive (a slow or endless head is dropped, an oversized one
//! reaches the [`Responder`] as [`Head::TooLarge`]). What a request means is the
//! responder's business; this module only reads heads and writes answers.
#![deny(clippy::indexing_slicing)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::debug;

/// What a client may use of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Longest request head read (request line and headers).
    pub max_head: usize,
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// Time a client has to send its request head.
    pub head_timeout: Duration,
}

/// A request head as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// Everything up to and including the blank line (at most [`Bounds::max_head`] bytes
    /// plus the rest of the last read).
    Complete(Vec<u8>),
    /// The head did not end within [`Bounds::max_head`] bytes.
    TooLarge,
}

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status line's code and reason (`200 OK`).
    pub status: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// A plain-text answer.
    pub fn text(status: &'static str, body: String) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    /// The answer's bytes: the status line, `Content-Type`, `Content-Length`,
    /// `Connection: close`, `X-Content-Type-Options: nosniff`, `Cache-Control: no-store`,
    /// the extra headers, a blank line and the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// What answers a request head.
pub trait Responder: Send + Sync + 'static {
    /// The answer to `head` (never fails: a failure is a 4xx or 5xx answer).
    fn respond(&self, head: Head) -> Pin<Box<dyn Future<Output = Answer> + Send + '_>>;
}

/// Serves `responder` on `listener` until the task is aborted; `name` goes in the log lines
/// (debug level: a refused or dropped connection is the client's business).
pub async fn serve(
    listener: TcpListener,
    bounds: Bounds,
    name: &'static str,
    responder: Arc<dyn Responder>,
) {
    let slots = Arc::new(Semaphore::new(bounds.max_connections));
    loop {
        let Ok((socket, remote)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            debug!(%remote, server = name, "connection refused: too many at once");
            continue;
        };
        let responder = Arc::clone(&responder);
        tokio::spawn(async move {
            if let Err(e) = connection(socket, bounds, responder.as_ref()).await {
                debug!(%remote, server = name, error = %e, "request dropped");
            }
            drop(permit);
        });
    }
}

/// Reads one request head (bounded in size and time), answers it and closes.
async fn connection(
    mut socket: TcpStream,
    bounds: Bounds,
    responder: &dyn Responder,
) -> std::io::Result<()> {
    let head = tokio::time::timeout(bounds.head_timeout, read_head(&mut socket, bounds.max_head))
        .await
        .map_err(|_| std::io::Error::other("request head not sent in time"))??;
    let answer = responder.respond(head).await;
    socket.write_all(&answer.to_bytes()).await?;
    socket.shutdown().await
}

/// Reads until the blank line that ends a head, or past `max_head` bytes.
async fn read_head(socket: &mut TcpStream, max_head: usize) -> std::io::Result<Head> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::other(
                "closed before the request head ended",
            ));
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
        if head.len() > max_head {
            return Ok(Head::TooLarge);
        }
    }
    Ok(Head::Complete(head))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_answer_is_a_closed_http_1_1_response_with_its_length() {
        let mut answer = Answer::text("405 Method Not Allowed", "GET only\n".into());
        answer.headers.push(("Allow", "GET".into()));
        let bytes = String::from_utf8(answer.to_bytes()).unwrap();
        assert_eq!(
            bytes,
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 9\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\n\
             Cache-Control: no-store\r\nAllow: GET\r\n\r\nGET only\n"
        );
    }
}
