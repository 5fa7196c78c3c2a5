//! The bandwidth probe, verifier side (docs/design.md §Protocol step 7; issue #24): the miner's
//! upload (it streams the PRF data of a seed we send; we compare **every byte** with the same
//! stream generated here before the clock starts) and its download (we stream data from a
//! seed we keep secret; the miner must return the BLAKE3 hash of every byte of each stream,
//! in order, **before the probe's deadline**).
//!
//! The request and the receipt travel on an authenticated QUIC stream; the bulk bytes on
//! `streams` parallel TCP connections the miner's ticket names, each bound to the session by
//! its one-time token (see [`protocol::ProbeTicket`]'s module for why). How big a probe is,
//! over how many streams and by when it must be done: [`sizing`].
//!
//! A probe ends in one of four [`ProbeOutcome`]s:
//! - `measured`: every byte checked out before the deadline; its rate counts.
//! - `failed` (the miner's fault): a wrong byte, a wrong receipt, the deadline passed (a late
//!   receipt is a failed probe, not a slow one), a connection it closed or refused, a malformed
//!   ticket, or a refusal other than `rate-limited`.
//! - `busy`: refused `rate-limited` through [`BUSY_RETRIES`] retries (another validator's probe
//!   held the miner's place, or we probed more often than its published limit): like a busy
//!   device, no pass this round and no charge.
//! - `verifier-error`: our own failure (OS randomness, a task of ours): never charged, never
//!   a pass.
//!
//! Timing: the clock starts when the first token is written (the TCP connections are open by
//! then, and every byte we send or compare with was generated before, once the miner's ticket
//! let the probe in: a refused probe costs us nothing) and stops at the last byte (upload) or
//! at the receipt (download). Our PRF speed is never measured; comparing and reading are all
//! the verifier does meanwhile. The miner's tokens are good for 10 s, far longer than
//! generating `probe_max_mib` (≤ 4 GiB at ≥ 2 GB/s) takes.
#![deny(clippy::indexing_slicing)]

pub mod sizing;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{
    ErrorCode, Message, MessageKind, Nonce, ProbeChunk, ProbeDirection, ProbeReceipt, ProbeRequest,
    ProbeTicket, probe_data, receipt_data, stream_span,
};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use transport::identity::os_random;
use transport::{FramedStream, TransportError};

pub use sizing::{ProbePlan, ProbeSettings, budget_share, plan_probe};

/// The upload is read, and compared, in pieces of this size per stream.
const CHUNK: usize = 1 << 20;

/// How often a `rate-limited` refusal is retried before the probe counts as `busy`.
pub const BUSY_RETRIES: u32 = 3;

/// The wait before the first retry of a `rate-limited` probe; each retry waits twice as long.
pub const BUSY_BACKOFF: Duration = Duration::from_millis(500);

/// After one of our writes failed (the miner closed a stream), how long we still wait for its
/// receipt before the probe fails.
const CLOSED_GRACE: Duration = Duration::from_secs(1);

/// How a probe ended (see the module docs): the store's type, so the column's text has one
/// mapping.
pub use validator_store::ProbeOutcome;

/// One direction of a probe.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProbeResult {
    /// `miner-to-verifier` or `verifier-to-miner`.
    pub direction: &'static str,
    /// How it ended.
    pub outcome: ProbeOutcome,
    /// Bytes planned, over all streams.
    pub bytes: u64,
    /// Bytes that arrived (upload), or that the miner's receipt says it received (download).
    pub received: u64,
    /// Parallel TCP streams.
    pub streams: u16,
    /// Seconds from the first token to the last byte (upload) or the receipt (download); the
    /// time it waited, when it failed.
    pub seconds: f64,
    /// `bytes / seconds` in MB/s (10^6 bytes); 0 unless measured.
    pub mb_per_s: f64,
    /// The same in Mbit/s (10^6 bits); 0 unless measured.
    pub mbit_per_s: f64,
    /// The probe's deadline, s.
    pub deadline_s: f64,
    /// Whether every byte checked out before the deadline (`outcome` is `measured`).
    pub data_ok: bool,
    /// Why it failed, was busy or could not run, for a person.
    pub detail: Option<String>,
}

impl ProbeResult {
    /// A probe that moved no data: refused, unreachable, or our own failure.
    pub fn unmeasured(
        direction: ProbeDirection,
        plan: &ProbePlan,
        outcome: ProbeOutcome,
        detail: String,
    ) -> Self {
        Self {
            direction: direction_name(direction),
            outcome,
            bytes: plan.bytes,
            received: 0,
            streams: plan.streams,
            seconds: 0.0,
            mb_per_s: 0.0,
            mbit_per_s: 0.0,
            deadline_s: plan.deadline_s,
            data_ok: false,
            detail: Some(detail),
        }
    }
}

/// The name of a direction in reports and the store.
pub fn direction_name(direction: ProbeDirection) -> &'static str {
    match direction {
        ProbeDirection::MinerToVerifier => "miner-to-verifier",
        ProbeDirection::VerifierToMiner => "verifier-to-miner",
    }
}

/// Why a probe moved no data to judge.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The miner refused the request with a typed error.
    #[error("the miner refused the probe ({code:?}): {detail}")]
    Refused {
        /// Its code (`rate-limited` is retried, then `busy`).
        code: ErrorCode,
        /// Its words.
        detail: String,
    },
    /// The miner's side failed before any data moved: the stream closed, a message out of
    /// place, no ticket in time, a ticket with the wrong number of tokens, its probe port
    /// unreachable. Counted against the miner.
    #[error("probe {stage}: {reason}")]
    Miner {
        /// Where (`request`, `ticket`, `connect`).
        stage: &'static str,
        /// What happened.
        reason: String,
    },
    /// Our own failure (OS randomness, a task of ours, memory): never charged. Check the
    /// verifier's host.
    #[error("verifier error (not charged to the miner): {0}")]
    Verifier(String),
}

impl ProbeError {
    fn miner(stage: &'static str, e: impl std::fmt::Display) -> Self {
        Self::Miner {
            stage,
            reason: e.to_string(),
        }
    }

    fn from_transport(stage: &'static str, e: TransportError) -> Self {
        match e {
            TransportError::Refused(msg) => Self::Refused {
                code: msg.code,
                detail: msg.detail,
            },
            TransportError::Random(reason) => Self::Verifier(reason),
            other => Self::miner(stage, other),
        }
    }

    /// The outcome this error gives a probe.
    pub fn outcome(&self) -> ProbeOutcome {
        match self {
            Self::Refused {
                code: ErrorCode::RateLimited,
                ..
            } => ProbeOutcome::Busy,
            Self::Refused { .. } | Self::Miner { .. } => ProbeOutcome::Failed,
            Self::Verifier(_) => ProbeOutcome::VerifierError,
        }
    }
}

/// Runs one direction of `plan`: `Ok` once data moved (measured, or failed on its content or
/// its deadline), `Err` when none could.
pub async fn run_probe(
    connection: &quinn::Connection,
    direction: ProbeDirection,
    plan: &ProbePlan,
) -> Result<ProbeResult, ProbeError> {
    match direction {
        ProbeDirection::MinerToVerifier => upload(connection, plan).await,
        ProbeDirection::VerifierToMiner => download(connection, plan).await,
    }
}

/// Runs one direction of `plan` to an outcome: a `rate-limited` refusal is retried
/// [`BUSY_RETRIES`] times (waiting [`BUSY_BACKOFF`], doubling) before it counts as `busy`; any
/// other error becomes the outcome [`ProbeError::outcome`] gives it.
pub async fn probe_direction(
    connection: &quinn::Connection,
    direction: ProbeDirection,
    plan: &ProbePlan,
) -> ProbeResult {
    let mut wait = BUSY_BACKOFF;
    let mut attempt = 0;
    loop {
        match run_probe(connection, direction, plan).await {
            Ok(result) => return result,
            Err(e) if e.outcome() == ProbeOutcome::Busy && attempt < BUSY_RETRIES => {
                attempt += 1;
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
            Err(e) => {
                return ProbeResult::unmeasured(direction, plan, e.outcome(), e.to_string());
            }
        }
    }
}

/// The miner's upload of `bytes` over one stream, due within `timeout` (for tests, benches and
/// the hostile-validator test; the round sizes its probes with [`sizing`]).
pub async fn probe_upload(
    connection: &quinn::Connection,
    bytes: u64,
    timeout: Duration,
) -> Result<ProbeResult, ProbeError> {
    upload(connection, &ProbePlan::fixed(bytes, 1, timeout)).await
}

/// The miner's download of `bytes` over one stream, due within `timeout` (see
/// [`probe_upload`]).
pub async fn probe_download(
    connection: &quinn::Connection,
    bytes: u64,
    timeout: Duration,
) -> Result<ProbeResult, ProbeError> {
    download(connection, &ProbePlan::fixed(bytes, 1, timeout)).await
}

/// Asks for a probe on a new QUIC stream; its ticket, checked to have a token per stream.
async fn request_ticket(
    connection: &quinn::Connection,
    request: ProbeRequest,
    wait: Duration,
) -> Result<(FramedStream, ProbeTicket), ProbeError> {
    let mut stream = FramedStream::open_to(connection, protocol::Role::Miner)
        .await
        .map_err(|e| ProbeError::from_transport("request", e))?;
    stream
        .send(&Message::ProbeRequest(request))
        .await
        .map_err(|e| ProbeError::from_transport("request", e))?;
    let ticket = match stream.expect(MessageKind::ProbeTicket, wait).await {
        Ok(Message::ProbeTicket(ticket)) => ticket,
        Ok(other) => {
            return Err(ProbeError::miner(
                "ticket",
                format!("expected a probe ticket, got {}", other.kind().name()),
            ));
        }
        Err(e) => return Err(ProbeError::from_transport("ticket", e)),
    };
    if ticket.tokens.len() != usize::from(request.streams) {
        return Err(ProbeError::miner(
            "ticket",
            format!(
                "{} tokens for a probe of {} streams",
                ticket.tokens.len(),
                request.streams
            ),
        ));
    }
    Ok((stream, ticket))
}

/// Opens the TCP connection of every token of `ticket` (the miner's QUIC IP address, the
/// ticket's port), in stream order, before the clock starts.
async fn connect_streams(
    connection: &quinn::Connection,
    ticket: ProbeTicket,
    wait: Duration,
) -> Result<Vec<(TcpStream, [u8; 32])>, ProbeError> {
    let ProbeTicket { port, tokens } = ticket;
    let addr = SocketAddr::new(connection.remote_address().ip(), port);
    let mut connecting = JoinSet::new();
    for (index, token) in tokens.into_iter().enumerate() {
        connecting.spawn(async move {
            let socket = tokio::time::timeout(wait, TcpStream::connect(addr))
                .await
                .map_err(|_| format!("no TCP connection to {addr} within {wait:?}"))?
                .map_err(|e| format!("cannot reach the probe port {addr}: {e}"))?;
            socket
                .set_nodelay(true)
                .map_err(|e| format!("probe socket: {e}"))?;
            Ok::<_, String>((index, socket, *token.as_bytes()))
        });
    }
    let mut sockets = Vec::new();
    while let Some(joined) = connecting.join_next().await {
        let (index, socket, token) = joined
            .map_err(|e| ProbeError::Verifier(format!("a probe connect task failed: {e}")))?
            .map_err(|e| ProbeError::miner("connect", e))?;
        sockets.push((index, socket, token));
    }
    sockets.sort_unstable_by_key(|(index, _, _)| *index);
    Ok(sockets
        .into_iter()
        .map(|(_, socket, token)| (socket, token))
        .collect())
}

/// `bytes` of the probe stream of `seed`, on a blocking thread.
async fn generate(seed: Nonce, bytes: u64) -> Result<Arc<Vec<u8>>, ProbeError> {
    let size = usize::try_from(bytes)
        .map_err(|_| ProbeError::Verifier(format!("a probe of {bytes} bytes is too large")))?;
    tokio::task::spawn_blocking(move || {
        let mut data = vec![0u8; size];
        probe_data(&seed, 0, &mut data);
        Arc::new(data)
    })
    .await
    .map_err(|e| ProbeError::Verifier(format!("probe data generation failed: {e}")))
}

/// The part of `data` stream `index` carries.
fn span<'a>(data: &'a [u8], plan: &ProbePlan, index: u16) -> &'a [u8] {
    stream_span(plan.bytes, plan.streams, index)
        .and_then(|(offset, len)| {
            let start = usize::try_from(offset).ok()?;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            data.get(start..end)
        })
        .unwrap_or_default()
}

/// What one upload stream brought: bytes read, whether all of them matched, when it ended.
struct Arrival {
    received: u64,
    matched: bool,
    at: Instant,
}

/// Writes the token, then reads `expected.len()` bytes and compares every one.
async fn receive_stream(
    mut socket: TcpStream,
    token: [u8; 32],
    expected: &[u8],
) -> std::io::Result<Arrival> {
    socket.write_all(&token).await?;
    let mut chunk = vec![0u8; CHUNK.min(expected.len().max(1))];
    let mut received = 0usize;
    let mut matched = true;
    while let Some(rest) = expected.get(received..).filter(|r| !r.is_empty()) {
        let want = rest.len().min(chunk.len());
        let Some(piece) = chunk.get_mut(..want) else {
            break;
        };
        let n = socket.read(piece).await?;
        if n == 0 {
            break;
        }
        if piece.get(..n) != rest.get(..n) {
            matched = false;
            received += n;
            break;
        }
        received += n;
    }
    Ok(Arrival {
        received: received as u64,
        matched: matched && received == expected.len(),
        at: Instant::now(),
    })
}

/// Times the miner streaming `plan.bytes` to us over `plan.streams` streams, comparing every
/// byte with the probe stream of the seed we sent.
async fn upload(
    connection: &quinn::Connection,
    plan: &ProbePlan,
) -> Result<ProbeResult, ProbeError> {
    let seed = Nonce::new(os_random().map_err(|e| ProbeError::Verifier(e.to_string()))?);
    let request = ProbeRequest {
        direction: ProbeDirection::MinerToVerifier,
        bytes: plan.bytes,
        streams: plan.streams,
        seed,
    };
    let deadline = plan.deadline();
    // Generated once the miner let the probe in (a refused one costs nothing), before the
    // clock starts.
    let (mut stream, ticket) = request_ticket(connection, request, deadline).await?;
    let expected = generate(seed, plan.bytes).await?;
    let sockets = connect_streams(connection, ticket, deadline).await?;
    let started = Instant::now();
    let mut streams = JoinSet::new();
    for (index, (socket, token)) in (0u16..).zip(sockets) {
        let expected = Arc::clone(&expected);
        let plan = *plan;
        streams.spawn(
            async move { receive_stream(socket, token, span(&expected, &plan, index)).await },
        );
    }
    let mut received = 0u64;
    let mut problem: Option<String> = None;
    let mut last = started;
    let collect = async {
        while let Some(joined) = streams.join_next().await {
            match joined {
                Ok(Ok(arrival)) => {
                    received = received.saturating_add(arrival.received);
                    last = last.max(arrival.at);
                    if !arrival.matched && problem.is_none() {
                        problem = Some(if arrival.received > 0 {
                            "the miner sent bytes that are not its seed's probe stream, or too \
                             few"
                            .into()
                        } else {
                            "a stream ended before its first byte".into()
                        });
                    }
                }
                Ok(Err(e)) => {
                    problem.get_or_insert_with(|| format!("a probe stream failed: {e}"));
                }
                Err(e) => {
                    return Err(ProbeError::Verifier(format!(
                        "a probe stream task failed: {e}"
                    )));
                }
            }
        }
        Ok(())
    };
    let in_time = tokio::time::timeout(deadline, collect).await;
    stream.finish();
    let (elapsed, problem) = match in_time {
        Ok(Ok(())) => (last.saturating_duration_since(started), problem),
        Ok(Err(e)) => return Err(e),
        Err(_) => (
            started.elapsed(),
            Some(format!(
                "late: not every byte arrived within the probe's deadline of {deadline:?}"
            )),
        ),
    };
    Ok(judged(
        ProbeDirection::MinerToVerifier,
        plan,
        received,
        elapsed,
        problem,
    ))
}

/// Times us streaming `plan.bytes` to the miner over `plan.streams` streams, from a secret
/// seed, to its receipt: the count of bytes and every stream's hash, before the deadline.
async fn download(
    connection: &quinn::Connection,
    plan: &ProbePlan,
) -> Result<ProbeResult, ProbeError> {
    let random = |e: TransportError| ProbeError::Verifier(e.to_string());
    let secret = Nonce::new(os_random().map_err(random)?);
    let request = ProbeRequest {
        direction: ProbeDirection::VerifierToMiner,
        bytes: plan.bytes,
        streams: plan.streams,
        seed: Nonce::new(os_random().map_err(random)?),
    };
    let deadline = plan.deadline();
    // Generated, and the expected receipt computed, once the miner let the probe in (a
    // refused one costs nothing) and before the clock starts.
    let (mut stream, ticket) = request_ticket(connection, request, deadline).await?;
    let data = generate(secret, plan.bytes).await?;
    let expected = {
        let data = Arc::clone(&data);
        let plan = *plan;
        tokio::task::spawn_blocking(move || {
            let hashes: Vec<[u8; 32]> = (0..plan.streams)
                .map(|index| {
                    let mut receipt = ProbeReceipt::new();
                    receipt.update(span(&data, &plan, index));
                    receipt.finish()
                })
                .collect();
            receipt_data(&hashes)
        })
        .await
        .map_err(|e| ProbeError::Verifier(format!("probe receipt computation failed: {e}")))?
    };
    let sockets = connect_streams(connection, ticket, deadline).await?;
    let started = Instant::now();
    let mut writers = JoinSet::new();
    for (index, (mut socket, token)) in (0u16..).zip(sockets) {
        let data = Arc::clone(&data);
        let plan = *plan;
        writers.spawn(async move {
            socket.write_all(&token).await?;
            socket.write_all(span(&data, &plan, index)).await?;
            // Held open until the probe ends (the task is aborted then): the miner reads it.
            std::future::pending::<()>().await;
            Ok::<(), std::io::Error>(())
        });
    }
    let receipt = wait_for_receipt(&mut stream, &mut writers, deadline).await;
    let elapsed = started.elapsed();
    writers.abort_all();
    stream.finish();
    let (received, problem) = match receipt {
        Ok(receipt) => judge_receipt(&receipt, plan.bytes, &expected),
        Err(why) => (0, Some(why)),
    };
    Ok(judged(
        ProbeDirection::VerifierToMiner,
        plan,
        received,
        elapsed,
        problem,
    ))
}

/// Waits for the miner's receipt until `deadline` from now; if one of our writes fails (the
/// miner closed a stream), for [`CLOSED_GRACE`] more at most. `Err` says why there is none.
async fn wait_for_receipt(
    stream: &mut FramedStream,
    writers: &mut JoinSet<std::io::Result<()>>,
    deadline: Duration,
) -> Result<ProbeChunk, String> {
    let until = tokio::time::Instant::now() + deadline;
    let mut cut: Option<(tokio::time::Instant, String)> = None;
    let receipt = async {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        stream.expect(MessageKind::ProbeChunk, left).await
    };
    tokio::pin!(receipt);
    loop {
        let grace = cut.as_ref().map_or(until, |(at, _)| (*at).min(until));
        tokio::select! {
            answer = &mut receipt => {
                return match answer {
                    Ok(Message::ProbeChunk(receipt)) => Ok(receipt),
                    Ok(other) => Err(format!("expected the probe receipt, got {}", other.kind().name())),
                    Err(TransportError::Timeout(_)) => Err(format!(
                        "late: no receipt within the probe's deadline of {deadline:?}"
                    )),
                    Err(e) => Err(format!("no receipt: {e}")),
                };
            }
            () = tokio::time::sleep_until(grace) => {
                return Err(match cut {
                    Some((_, why)) => why,
                    None => format!("late: no receipt within the probe's deadline of {deadline:?}"),
                });
            }
            Some(joined) = writers.join_next(), if cut.is_none() => {
                if let Ok(Err(e)) = joined {
                    let at = tokio::time::Instant::now() + CLOSED_GRACE;
                    cut = Some((at, format!("the miner closed a probe stream before all its bytes: {e}")));
                }
            }
        }
    }
}

/// The bytes the receipt claims, and what is wrong with it, if anything.
fn judge_receipt(receipt: &ProbeChunk, bytes: u64, expected: &[u8]) -> (u64, Option<String>) {
    let problem = if receipt.offset != bytes {
        Some(format!(
            "the receipt counts {} bytes, {bytes} were sent",
            receipt.offset
        ))
    } else if receipt.data != expected {
        Some("the receipt's hashes are not those of the bytes sent".to_string())
    } else {
        None
    };
    (receipt.offset, problem)
}

/// The result of a probe whose data moved: measured when there is no `problem`.
fn judged(
    direction: ProbeDirection,
    plan: &ProbePlan,
    received: u64,
    elapsed: Duration,
    problem: Option<String>,
) -> ProbeResult {
    let seconds = elapsed.as_secs_f64();
    let measured = problem.is_none();
    let mb_per_s = if measured && seconds > 0.0 {
        plan.bytes as f64 / seconds / 1e6
    } else {
        0.0
    };
    ProbeResult {
        direction: direction_name(direction),
        outcome: if measured {
            ProbeOutcome::Measured
        } else {
            ProbeOutcome::Failed
        },
        bytes: plan.bytes,
        received,
        streams: plan.streams,
        seconds,
        mb_per_s,
        mbit_per_s: mb_per_s * 8.0,
        deadline_s: plan.deadline_s,
        data_ok: measured,
        detail: problem,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn a_receipt_must_count_and_hash_every_byte() {
        let expected = receipt_data(&[[1; 32], [2; 32]]);
        let good = ProbeChunk {
            offset: 100,
            data: expected.clone(),
        };
        assert_eq!(judge_receipt(&good, 100, &expected), (100, None));
        let short = ProbeChunk {
            offset: 99,
            ..good.clone()
        };
        assert!(judge_receipt(&short, 100, &expected).1.is_some());
        let mut swapped = receipt_data(&[[2; 32], [1; 32]]);
        assert!(
            judge_receipt(
                &ProbeChunk {
                    offset: 100,
                    data: swapped.clone()
                },
                100,
                &expected
            )
            .1
            .is_some(),
            "the streams' hashes are in stream order"
        );
        swapped.truncate(32);
        let one = ProbeChunk {
            offset: 100,
            data: swapped,
        };
        assert!(judge_receipt(&one, 100, &expected).1.is_some());
    }

    #[test]
    fn only_a_clean_probe_is_measured_and_errors_map_to_outcomes() {
        let plan = ProbePlan::fixed(8_000_000, 2, Duration::from_secs(5));
        let ok = judged(
            ProbeDirection::VerifierToMiner,
            &plan,
            8_000_000,
            Duration::from_secs(1),
            None,
        );
        assert_eq!(ok.outcome, ProbeOutcome::Measured);
        assert!((ok.mbit_per_s - 64.0).abs() < 1e-9, "{ok:?}");
        let bad = judged(
            ProbeDirection::MinerToVerifier,
            &plan,
            8_000_000,
            Duration::from_secs(1),
            Some("wrong".into()),
        );
        assert_eq!(bad.outcome, ProbeOutcome::Failed);
        assert_eq!(bad.mbit_per_s, 0.0);
        assert!(!bad.data_ok);
        let refusal = |code| ProbeError::Refused {
            code,
            detail: String::new(),
        };
        assert_eq!(
            refusal(ErrorCode::RateLimited).outcome(),
            ProbeOutcome::Busy
        );
        assert_eq!(
            refusal(ErrorCode::Oversized).outcome(),
            ProbeOutcome::Failed
        );
        assert_eq!(
            ProbeError::from_transport("ticket", TransportError::Closed("x".into())).outcome(),
            ProbeOutcome::Failed
        );
        assert_eq!(
            ProbeError::from_transport("request", TransportError::Random("x".into())).outcome(),
            ProbeOutcome::VerifierError
        );
    }

    #[test]
    fn spans_cut_the_data_as_the_protocol_says() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1001).collect();
        let plan = ProbePlan::fixed(1001, 4, Duration::from_secs(1));
        let joined: Vec<u8> = (0..4)
            .flat_map(|i| span(&data, &plan, i).to_vec())
            .collect();
        assert_eq!(joined, data);
        assert_eq!(span(&data, &plan, 0).len(), 251);
        assert!(span(&data, &plan, 4).is_empty());
    }
}
