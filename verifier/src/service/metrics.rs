//! Prometheus metrics of the validator service, served as text (format 0.0.4) at
//! `GET /metrics` by the verifier's bounded HTTP/1.1 responder ([`crate::http_get`]): one
//! request per connection, the request head read within 5 s and at most 8 KiB, at most 16
//! connections at once. Anything else gets 404; a slow request is dropped and logged at debug
//! level.
//!
//! | metric | kind | what |
//! |---|---|---|
//! | `gpuproof_rounds_total` | counter | rounds finished |
//! | `gpuproof_rounds_resumed_total` | counter | rounds resumed after a restart |
//! | `gpuproof_round_seconds` | gauge | wall time of the last finished round |
//! | `gpuproof_miners` | gauge | miners in the last round |
//! | `gpuproof_miner_rounds_total` | counter | miners challenged and recorded |
//! | `gpuproof_verdicts_total{verdict}` | counter | device verdicts by kind (`verifier-error`: our own failures) |
//! | `gpuproof_check_cpu_seconds_total` | counter | CPU time spent re-computing opened leaves |
//! | `gpuproof_weight_submissions_total{method,outcome}` | counter | weight submissions (`ok` or `error`) |
//! | `gpuproof_store_errors_total` | counter | store writes that failed |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use validator_store::{SubmissionMethod, Tallied};

use crate::http_get::{self, Answer, Bounds, Head, Responder};

/// Longest request head read.
const MAX_REQUEST: usize = 8 * 1024;
/// Connections served at once.
const MAX_CONNECTIONS: usize = 16;
/// Time a client has to send its request head.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads a cumulative number of seconds.
pub type SecondsSource = Arc<dyn Fn() -> f64 + Send + Sync>;

/// The service's counters; cheap to update from any task.
#[derive(Default)]
pub struct Metrics {
    /// Rounds finished.
    pub rounds: AtomicU64,
    /// Rounds resumed after a restart.
    pub rounds_resumed: AtomicU64,
    /// Last round's wall time, milliseconds.
    pub round_millis: AtomicU64,
    /// Miners in the last round.
    pub miners: AtomicU64,
    /// Miners challenged and recorded.
    pub miner_rounds: AtomicU64,
    /// Store writes that failed.
    pub store_errors: AtomicU64,
    /// Check CPU time, read from the checker when rendering.
    check_seconds: Mutex<Option<SecondsSource>>,
    verdicts: Mutex<BTreeMap<Tallied, u64>>,
    submissions: Mutex<BTreeMap<(String, String), u64>>,
}

impl Metrics {
    /// Counts `n` device verdicts of `kind`.
    pub fn count_verdicts(&self, kind: Tallied, n: u64) {
        if let Ok(mut v) = self.verdicts.lock() {
            *v.entry(kind).or_default() += n;
        }
    }

    /// Counts one weight submission by `method`, `ok` or not.
    pub fn count_submission(&self, method: SubmissionMethod, ok: bool) {
        self.count_extrinsic(method.as_str(), ok);
    }

    /// Counts a commit-reveal v2 reveal sent (`method="reveal-v2"`).
    pub fn count_reveal(&self, ok: bool) {
        self.count_extrinsic("reveal-v2", ok);
    }

    fn count_extrinsic(&self, method: &'static str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        if let Ok(mut s) = self.submissions.lock() {
            *s.entry((method.to_string(), outcome.to_string()))
                .or_default() += 1;
        }
    }

    /// Where the check CPU time is read from.
    pub fn set_check_seconds(&self, source: SecondsSource) {
        if let Ok(mut s) = self.check_seconds.lock() {
            *s = Some(source);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, lines: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in lines {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let plain = |v: &AtomicU64| vec![(String::new(), v.load(Ordering::Relaxed).to_string())];
        metric(
            "gpuproof_rounds_total",
            "counter",
            "Rounds finished.",
            plain(&self.rounds),
        );
        metric(
            "gpuproof_rounds_resumed_total",
            "counter",
            "Rounds resumed after a restart.",
            plain(&self.rounds_resumed),
        );
        let secs = self.round_millis.load(Ordering::Relaxed) as f64 / 1e3;
        metric(
            "gpuproof_round_seconds",
            "gauge",
            "Wall time of the last finished round.",
            vec![(String::new(), format!("{secs}"))],
        );
        metric(
            "gpuproof_miners",
            "gauge",
            "Miners in the last round.",
            plain(&self.miners),
        );
        metric(
            "gpuproof_miner_rounds_total",
            "counter",
            "Miners challenged and recorded.",
            plain(&self.miner_rounds),
        );
        let verdicts = self.verdicts.lock().map(|v| v.clone()).unwrap_or_default();
        metric(
            "gpuproof_verdicts_total",
            "counter",
            "Device verdicts by kind.",
            verdicts
                .iter()
                .map(|(k, v)| (format!("{{verdict=\"{k}\"}}"), v.to_string()))
                .collect(),
        );
        let check = self
            .check_seconds
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(|f| f()))
            .unwrap_or(0.0);
        metric(
            "gpuproof_check_cpu_seconds_total",
            "counter",
            "CPU time spent re-computing opened leaves.",
            vec![(String::new(), format!("{check}"))],
        );
        let submissions = self
            .submissions
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        metric(
            "gpuproof_weight_submissions_total",
            "counter",
            "Weight submissions by method and outcome.",
            submissions
                .iter()
                .map(|((m, o), v)| {
                    (
                        format!("{{method=\"{}\",outcome=\"{}\"}}", label(m), label(o)),
                        v.to_string(),
                    )
                })
                .collect(),
        );
        metric(
            "gpuproof_store_errors_total",
            "counter",
            "Store writes that failed.",
            plain(&self.store_errors),
        );
        out
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

/// A label value with `\`, `"` and newlines escaped as the text format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Binds `addr` and serves `/metrics` until the task is aborted.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `metrics` on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let bounds = Bounds {
        max_head: MAX_REQUEST,
        max_connections: MAX_CONNECTIONS,
        head_timeout: REQUEST_TIMEOUT,
    };
    http_get::serve(listener, bounds, "metrics", Arc::new(Page(metrics))).await;
}

/// `/metrics` as a responder: the text format for `GET /metrics`, 404 for anything else.
struct Page(Arc<Metrics>);

impl Responder for Page {
    fn respond(&self, head: Head) -> Pin<Box<dyn Future<Output = Answer> + Send + '_>> {
        let wanted = match &head {
            Head::Complete(head) => head
                .split(|b| *b == b'\r')
                .next()
                .is_some_and(|line| line.starts_with(b"GET /metrics ")),
            Head::TooLarge => false,
        };
        let answer = if wanted {
            Answer {
                status: "200 OK",
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                headers: Vec::new(),
                body: self.0.render().into_bytes(),
            }
        } else {
            Answer::text(
                "404 Not Found",
                "only GET /metrics is served here\n".to_string(),
            )
        };
        Box::pin(std::future::ready(answer))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use validator_store::VerdictKind;

    async fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_the_text_format_and_404_otherwise() {
        let metrics = Arc::new(Metrics::default());
        metrics.rounds.fetch_add(2, Ordering::Relaxed);
        metrics.count_verdicts(VerdictKind::Pass.into(), 2);
        metrics.count_verdicts(VerdictKind::WrongResult.into(), 1);
        metrics.count_submission(SubmissionMethod::SetWeights, true);
        metrics.set_check_seconds(Arc::new(|| 1.25));
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve(listener, Arc::clone(&metrics)));
        let page = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        for line in [
            "# TYPE gpuproof_rounds_total counter",
            "gpuproof_rounds_total 2",
            "gpuproof_verdicts_total{verdict=\"pass\"} 2",
            "gpuproof_verdicts_total{verdict=\"wrong-result\"} 1",
            "gpuproof_check_cpu_seconds_total 1.25",
            "gpuproof_weight_submissions_total{method=\"set-weights\",outcome=\"ok\"} 1",
        ] {
            assert!(page.contains(line), "missing {line:?} in\n{page}");
        }
        let other = get(addr, "GET / HTTP/1.1\r\n\r\n").await;
        assert!(other.starts_with("HTTP/1.1 404"), "{other}");
        // Garbage without a head end, then close: dropped, and the server still answers.
        {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(&[0xff; 9000]).await.unwrap();
        }
        let again = get(addr, "GET /metrics HTTP/1.0\r\n\r\n").await;
        assert!(again.contains("gpuproof_rounds_total 2"));
        task.abort();
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
