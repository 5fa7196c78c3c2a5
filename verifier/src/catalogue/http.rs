//! The catalogue's HTTP/1.1 responder (on [`crate::http_get`]): one request per connection,
//! `GET` only, bounded in every way a client controls (the request head's size and time,
//! connections at once), and in what it sends (every answer is at most
//! [`MAX_RESPONSE_BYTES`]). Requests are hostile
//! input: [`parse_request`] is pure, never panics, and refuses with a typed [`RequestError`].
#![deny(clippy::indexing_slicing)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::model::{Query, Sort};
use super::{Answer, CatalogueSource};
use crate::http_get::{self, Bounds, Head, Responder};

/// Longest request head read (request line and headers).
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 32;
/// Time a client has to send its request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest answer body; a larger one is refused with 503 (the catalogue lists at most
/// `model::MAX_MACHINES` machines, well under it).
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;
/// Longest query parameter value (a class id).
const MAX_PARAM: usize = 128;

/// Why a request is refused, with the status it gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The head did not end within [`MAX_REQUEST_HEAD`] bytes.
    #[error("the request head is over {MAX_REQUEST_HEAD} bytes")]
    TooLarge,
    /// Not an HTTP/1.x request line.
    #[error("not an HTTP/1.x request line")]
    Malformed,
    /// A method other than `GET`.
    #[error("method {0} is not allowed here: the catalogue answers GET only")]
    Method(String),
    /// A query parameter with a value the catalogue does not take.
    #[error("bad query: {0}")]
    BadQuery(String),
}

impl RequestError {
    /// The HTTP status line's code and reason.
    pub fn status(&self) -> &'static str {
        match self {
            Self::TooLarge => "431 Request Header Fields Too Large",
            Self::Malformed | Self::BadQuery(_) => "400 Bad Request",
            Self::Method(_) => "405 Method Not Allowed",
        }
    }
}

/// A parsed `GET`: the path (percent-decoded) and the catalogue's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The path, percent-decoded.
    pub path: String,
    /// Sort, order and class filter.
    pub query: Query,
}

/// Parses a request head (everything up to the blank line). Only the request line matters:
/// `GET <target> HTTP/1.x`; headers are ignored.
pub fn parse_request(head: &[u8]) -> Result<Request, RequestError> {
    if head.len() > MAX_REQUEST_HEAD {
        return Err(RequestError::TooLarge);
    }
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(head.len());
    let line = head.get(..line_end).ok_or(RequestError::Malformed)?;
    let line = std::str::from_utf8(line).map_err(|_| RequestError::Malformed)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::Malformed);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(RequestError::Malformed);
    }
    if method != "GET" {
        let shown: String = method.chars().take(16).collect();
        return Err(RequestError::Method(shown));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(path).ok_or(RequestError::Malformed)?;
    Ok(Request {
        path,
        query: parse_query(query)?,
    })
}

/// `sort`, `order` and `class` from a query string; other keys are ignored.
fn parse_query(query: &str) -> Result<Query, RequestError> {
    let mut out = Query::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)
            .filter(|v| v.len() <= MAX_PARAM)
            .ok_or_else(|| RequestError::BadQuery(format!("the value of {key:?} is not valid")))?;
        match key {
            "sort" => {
                out.sort = Sort::parse(&value).ok_or_else(|| {
                    RequestError::BadQuery(format!(
                        "sort={value:?}: use uid, class, tops, gbs or reliability"
                    ))
                })?;
            }
            "order" => {
                out.descending = match value.as_str() {
                    "asc" => false,
                    "desc" => true,
                    _ => {
                        return Err(RequestError::BadQuery(format!(
                            "order={value:?}: use asc or desc"
                        )));
                    }
                };
            }
            "class" if value.is_empty() => out.class = None,
            "class" => out.class = Some(value),
            _ => {}
        }
    }
    Ok(out)
}

/// `%XX` and `+` decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hi = hex_digit(bytes.next()?)?;
                let lo = hex_digit(bytes.next()?)?;
                out.push(hi << 4 | lo);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Binds `addr` for [`serve`].
pub async fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves the catalogue from `source` on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, source: Arc<dyn CatalogueSource>) {
    let bounds = Bounds {
        max_head: MAX_REQUEST_HEAD,
        max_connections: MAX_CONNECTIONS,
        head_timeout: REQUEST_TIMEOUT,
    };
    http_get::serve(listener, bounds, "catalogue", Arc::new(Catalogue(source))).await;
}

/// The catalogue as a responder: parses the head, asks the source, caps the answer.
struct Catalogue(Arc<dyn CatalogueSource>);

impl Responder for Catalogue {
    fn respond(&self, head: Head) -> Pin<Box<dyn Future<Output = Answer> + Send + '_>> {
        Box::pin(async move {
            let answer = match head {
                Head::Complete(head) => match parse_request(&head) {
                    Ok(request) => self.0.answer(&request).await,
                    Err(e) => Answer::refused(&e),
                },
                Head::TooLarge => Answer::refused(&RequestError::TooLarge),
            };
            capped(answer)
        })
    }
}

/// `answer`, or a 503 when it is over [`MAX_RESPONSE_BYTES`].
fn capped(answer: Answer) -> Answer {
    if answer.body.len() > MAX_RESPONSE_BYTES {
        Answer::text(
            "503 Service Unavailable",
            "the answer is larger than the catalogue sends; filter by class\n".into(),
        )
    } else {
        answer
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_parse_and_hostile_ones_are_refused_with_a_type() {
        let r = parse_request(
            b"GET /v1/machines?sort=tops&order=desc&class=h100%2Dsxm HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.path, "/v1/machines");
        assert_eq!(r.query.sort, Sort::Tops);
        assert!(r.query.descending);
        assert_eq!(r.query.class.as_deref(), Some("h100-sxm"));
        assert_eq!(parse_request(b"GET / HTTP/1.0\r\n\r\n").unwrap().path, "/");
        let cases: [(&[u8], RequestError); 8] = [
            (
                b"POST / HTTP/1.1\r\n\r\n",
                RequestError::Method("POST".into()),
            ),
            (
                b"HEAD / HTTP/1.1\r\n\r\n",
                RequestError::Method("HEAD".into()),
            ),
            (b"GET /\r\n\r\n", RequestError::Malformed),
            (b"GET / SPDY/3\r\n\r\n", RequestError::Malformed),
            (b"GET noslash HTTP/1.1\r\n\r\n", RequestError::Malformed),
            (b"\xff\xfe / HTTP/1.1\r\n\r\n", RequestError::Malformed),
            (b"GET /%zz HTTP/1.1\r\n\r\n", RequestError::Malformed),
            (
                b"GET /?sort=price HTTP/1.1\r\n\r\n",
                RequestError::BadQuery(
                    "sort=\"price\": use uid, class, tops, gbs or reliability".into(),
                ),
            ),
        ];
        for (head, want) in cases {
            assert_eq!(
                parse_request(head),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
        assert_eq!(
            parse_request(&vec![b'a'; MAX_REQUEST_HEAD + 1]),
            Err(RequestError::TooLarge)
        );
        assert!(matches!(
            parse_request(b"GET /?order=up HTTP/1.1\r\n\r\n"),
            Err(RequestError::BadQuery(_))
        ));
        let long = format!("GET /?class={} HTTP/1.1\r\n\r\n", "a".repeat(MAX_PARAM + 1));
        assert!(matches!(
            parse_request(long.as_bytes()),
            Err(RequestError::BadQuery(_))
        ));
        // Percent-escapes cut short, odd bytes: refused, never a panic.
        for head in [
            &b"GET /% HTTP/1.1\r\n\r\n"[..],
            b"GET /%4 HTTP/1.1\r\n\r\n",
            b"GET /?class=%ff HTTP/1.1\r\n\r\n",
            b"",
            b"\r\n\r\n",
            b"GET  HTTP/1.1",
        ] {
            assert!(parse_request(head).is_err(), "{head:?}");
        }
    }
}
