#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Load and abuse on loopback (issue #8 item 3), over real QUIC against in-process
//! `miner-host` servers. Each test prints its figures (held connections, latency for honest
//! peers, the process's memory high-water mark); `tests/README.md` records them. Latency is
//! printed, never asserted: what is asserted is that honest peers are served and every
//! abuser is refused or judged.
//!
//! The tests hold [`harness::CPU`] for writing: each floods the machine and must not share
//! it with another test of this binary.

mod harness;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use harness::{
    CPU, FixedPlanner, MATMUL_I8, MEMBW, MinerSpec, Profile, TINY_MATMUL, TINY_MEMBW, VALIDITY,
    describe, hotkey, options, preload_modules, session_key, start_miner, validator,
    validator_hotkey, validator_with, window,
};
use miner_host::serve::{Adversary, ServeLimits};
use protocol::{ErrorCode, Role};
use tokio::task::JoinSet;
use transport::{ConnectionLimits, FramedStream, Identity, TransportError};
use verifier::client::challenge_miner;
use verifier::scoring::MinerStanding;
use verifier::session::Verdict;

const WAIT: Duration = Duration::from_secs(10);

/// The process's peak resident memory (`VmHWM`), MiB; `NaN` where `/proc` has no such line.
fn memory_high_water_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let rank = ((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

fn loopback(host: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, host])
}

fn cpu_profile() -> Profile {
    Profile {
        matmul: TINY_MATMUL,
        membw: TINY_MEMBW,
        envelope: window(0.0, 10.0),
    }
}

/// A fresh connection from `from` through the application handshake as `identity`; the time
/// it took, or why it failed.
async fn handshake_from(
    from: IpAddr,
    miner: SocketAddr,
    identity: &Identity,
) -> Result<(Duration, quinn::Connection, quinn::Endpoint), TransportError> {
    let endpoint = transport::client_endpoint_at(
        SocketAddr::new(from, 0),
        identity.signing_key(),
        &ConnectionLimits::default(),
    )?;
    let started = Instant::now();
    let connection = transport::connect(&endpoint, miner, WAIT).await?;
    let mut control = FramedStream::open(&connection).await?;
    transport::client_handshake(&connection, &mut control, identity, None, WAIT).await?;
    Ok((started.elapsed(), connection, endpoint))
}

/// 1 000 connection attempts at once from ten hosts (127.0.0.2 to 127.0.0.11, 100 each), each
/// finishing TLS and then saying nothing (slowloris). The per-address cap holds 16 of each
/// host's attempts and refuses the rest at once; the held ones are dropped at the handshake
/// deadline. Meanwhile an honest validator on 127.0.0.1 connects, handshakes and completes a
/// challenge round every 200 ms or so: every attempt is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connection_attempts_leave_an_honest_validator_served() {
    let _cpu = CPU.write().await;
    let mut spec = MinerSpec::honest(40, 1);
    spec.limits = ServeLimits {
        handshake_timeout: Duration::from_secs(3),
        ..ServeLimits::default()
    };
    let miner = start_miner(spec);
    preload_modules(&miner).await;
    let addr = miner.handle.addr;

    let started = Instant::now();
    let mut attacks = JoinSet::new();
    for host in 2..12u8 {
        // One endpoint (one UDP socket, one session key) per attacking host.
        let identity = Identity::issue(
            session_key(),
            &validator_hotkey(),
            Role::Validator,
            VALIDITY,
        );
        let endpoint = Arc::new(
            transport::client_endpoint_at(
                SocketAddr::new(loopback(host), 0),
                identity.signing_key(),
                &ConnectionLimits::default(),
            )
            .unwrap(),
        );
        for _ in 0..100 {
            let endpoint = Arc::clone(&endpoint);
            attacks.spawn(async move {
                match transport::connect(&endpoint, addr, WAIT).await {
                    Ok(connection) => {
                        // Hold it, silent, past the miner's handshake deadline.
                        let closed =
                            tokio::time::timeout(Duration::from_secs(6), connection.closed())
                                .await
                                .is_ok();
                        (true, closed)
                    }
                    Err(_) => (false, false),
                }
            });
        }
    }

    // The honest validator, meanwhile.
    let ctx = validator(
        FixedPlanner::new().with("cpu-reference", cpu_profile()),
        options(&[MATMUL_I8]),
    );
    let target = miner.target();
    let honest_identity = Identity::issue(
        session_key(),
        &validator_hotkey(),
        Role::Validator,
        VALIDITY,
    );
    let mut handshakes = Vec::new();
    let mut rounds = Vec::new();
    while started.elapsed() < Duration::from_secs(4) {
        let (took, connection, _endpoint) = handshake_from(loopback(1), addr, &honest_identity)
            .await
            .expect("an honest handshake during the flood");
        connection.close(0u32.into(), b"done");
        handshakes.push(took.as_secs_f64());
        let round = Instant::now();
        let report = challenge_miner(&ctx, &target).await;
        assert!(
            report.verdicts().all(Verdict::is_pass) && report.verdicts().count() == 1,
            "{}",
            describe(&report)
        );
        rounds.push(round.elapsed().as_secs_f64());
        // A validator's pace: well inside the miner's rate limit (burst 32, 120 a minute).
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut held = 0;
    let mut dropped_by_miner = 0;
    let mut refused = 0;
    while let Some(done) = attacks.join_next().await {
        match done.unwrap() {
            (true, closed) => {
                held += 1;
                if closed {
                    dropped_by_miner += 1;
                }
            }
            (false, _) => refused += 1,
        }
    }
    let stats = &miner.handle.stats;
    println!(
        "1000 attempts from 10 hosts: {held} connected, {refused} refused; the miner refused \
         {} and held at most {} at once; {dropped_by_miner} idle ones closed by the handshake \
         deadline",
        stats.refused.load(Relaxed),
        stats.peak_connections.load(Relaxed),
    );
    println!(
        "honest validator during the flood: {} handshakes, p50 {:.1} ms, p99 {:.1} ms; {} \
         rounds, p99 {:.1} ms; memory high-water mark {:.0} MiB",
        handshakes.len(),
        percentile(handshakes.clone(), 0.5) * 1e3,
        percentile(handshakes.clone(), 0.99) * 1e3,
        rounds.len(),
        percentile(rounds.clone(), 0.99) * 1e3,
        memory_high_water_mib()
    );
    assert_eq!(held + refused, 1000);
    // Ten attacking hosts at 16 places each, plus the honest validator's two connections (its
    // handshake and its round). An attempt that got through after a held one was dropped at
    // the deadline adds to `held` but never to what is held at once.
    let peak = stats.peak_connections.load(Relaxed);
    assert!(
        peak <= 10 * 16 + 2,
        "the per-address cap did not hold: {peak} at once"
    );
    assert_eq!(
        dropped_by_miner, held,
        "an idle connection outlived the handshake deadline"
    );
    assert!(!handshakes.is_empty() && !rounds.is_empty());
    miner.stop().await;
}

/// 200 handshakes at once with bad certificates (half from a hotkey the miner does not serve,
/// half with a certificate made for another session key) from twenty hosts: every one is
/// refused with its typed reason and counted; an honest validator is served right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_certificates_in_bulk_are_refused_and_counted() {
    let _cpu = CPU.write().await;
    let miner = start_miner(MinerSpec::honest(41, 1));
    let addr = miner.handle.addr;
    let started = Instant::now();
    let mut attempts = JoinSet::new();
    for i in 0..200u32 {
        let host = 20 + u8::try_from(i % 20).unwrap();
        attempts.spawn(async move {
            let identity = if i % 2 == 0 {
                Identity::issue(
                    session_key(),
                    &harness::miner_hotkey(200),
                    Role::Validator,
                    VALIDITY,
                )
            } else {
                // A certificate of Alice's, but for another session key.
                let other = Identity::issue(
                    session_key(),
                    &validator_hotkey(),
                    Role::Validator,
                    VALIDITY,
                );
                Identity::from_parts(session_key(), other.certificate().clone())
            };
            handshake_from(loopback(host), addr, &identity).await.err()
        });
    }
    let mut refusals = std::collections::BTreeMap::<String, u32>::new();
    while let Some(done) = attempts.join_next().await {
        let err = done.unwrap().expect("a bad certificate was accepted");
        let text = err.to_string();
        let kind = if text.contains("NotAllowed") {
            "not-allowed"
        } else if text.contains("BadCertificate") {
            "bad-certificate"
        } else {
            "other"
        };
        *refusals.entry(kind.to_string()).or_default() += 1;
    }
    let elapsed = started.elapsed();
    let (took, _c, _e) = handshake_from(
        loopback(1),
        addr,
        &Identity::issue(
            session_key(),
            &validator_hotkey(),
            Role::Validator,
            VALIDITY,
        ),
    )
    .await
    .expect("the honest validator after the bad certificates");
    println!(
        "200 bad certificates refused in {:.0} ms: {refusals:?}; miner counted {} handshake \
         failures; honest handshake then {:.1} ms; memory high-water mark {:.0} MiB",
        elapsed.as_secs_f64() * 1e3,
        miner.handle.stats.handshake_failures.load(Relaxed),
        took.as_secs_f64() * 1e3,
        memory_high_water_mib()
    );
    assert_eq!(refusals.get("not-allowed"), Some(&100), "{refusals:?}");
    assert_eq!(refusals.get("bad-certificate"), Some(&100), "{refusals:?}");
    miner.stop().await;
}

/// One validator starts 60 rounds at once against a miner (burst 8, 60 a minute); another
/// validator's round runs in the middle of the flood. The rate limit holds — at most the
/// burst (plus what refills while it runs) of the flooder's challenges are admitted, the rest
/// are refused with `rate-limited` — and the other validator passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_flood_is_rate_limited_and_another_validator_is_still_served() {
    let _cpu = CPU.write().await;
    let second = harness::miner_hotkey(201);
    let mut spec = MinerSpec::honest(42, 1);
    spec.allow.push(hotkey(&second));
    spec.limits = ServeLimits {
        challenges_per_minute: 60,
        challenge_burst: 8,
        max_connections_per_ip: 128,
        ..ServeLimits::default()
    };
    let miner = Arc::new(start_miner(spec));
    preload_modules(&miner).await;
    let planner = || FixedPlanner::new().with("cpu-reference", cpu_profile());
    let flooder = Arc::new(validator(planner(), options(&[MATMUL_I8])));
    let started = Instant::now();
    let mut flood = JoinSet::new();
    for _ in 0..60 {
        let (ctx, target) = (Arc::clone(&flooder), miner.target());
        flood.spawn(async move { challenge_miner(&ctx, &target).await });
    }
    let other = validator_with(
        Identity::issue(session_key(), &second, Role::Validator, VALIDITY),
        planner(),
        options(&[MATMUL_I8, MEMBW]),
    );
    let other_started = Instant::now();
    let other_report = challenge_miner(&other, &miner.target()).await;
    let other_s = other_started.elapsed().as_secs_f64();
    let mut admitted = 0;
    let mut rate_limited = 0;
    let mut otherwise = 0;
    while let Some(done) = flood.join_next().await {
        let report = done.unwrap();
        for v in report.verdicts() {
            match v {
                Verdict::Pass(_) => admitted += 1,
                Verdict::ProtocolError(p) if p.peer_code == Some(ErrorCode::RateLimited) => {
                    rate_limited += 1;
                }
                _ => otherwise += 1,
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "flood of 60 rounds in {elapsed:.2} s: {admitted} admitted, {rate_limited} rate-limited, \
         {otherwise} other; the other validator's round took {:.1} ms; miner refusals {}; \
         memory high-water mark {:.0} MiB",
        other_s * 1e3,
        miner.handle.stats.refusals.load(Relaxed),
        memory_high_water_mib()
    );
    assert!(
        other_report.verdicts().count() == 2 && other_report.verdicts().all(Verdict::is_pass),
        "{}",
        describe(&other_report)
    );
    // The burst, plus at most one refill a second while the flood ran.
    let allowed = 8 + elapsed.ceil() as usize;
    assert!(
        admitted <= allowed,
        "{admitted} admitted, at most {allowed} allowed"
    );
    assert!(
        rate_limited >= 60 - allowed - otherwise,
        "{rate_limited} rate-limited"
    );
    assert!(rate_limited > 0);
}

/// The cheating kinds the half-bad round uses, cycled over 32 miners.
const BAD: [&str; 8] = [
    "wrong-tile",
    "skip:0.5",
    "forge",
    "replay",
    "slow:3",
    "hang-up",
    "garbage",
    "drop-mid-opening",
];

/// One verifier round against 64 miners at once (8 at a time), 32 of them misbehaving in
/// eight different ways: every honest miner passes both modules, and every misbehaving one
/// ends the round with a score of zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_facing_64_miners_half_misbehaving() {
    let _cpu = CPU.write().await;
    let started = Instant::now();
    let miners: Vec<_> = (0..64u8)
        .map(|n| {
            let spec = if n % 2 == 0 {
                MinerSpec::honest(100 + n, 1)
            } else {
                let kind: Adversary = BAD[usize::from(n / 2) % BAD.len()].parse().unwrap();
                MinerSpec::cheating(100 + n, kind)
            };
            Arc::new(start_miner(spec))
        })
        .collect();
    for m in &miners {
        preload_modules(m).await;
    }
    let mut opts = options(&[MATMUL_I8, MEMBW]);
    opts.miner_timeout = Duration::from_secs(30);
    let planner = FixedPlanner::new().with(
        "cpu-reference",
        Profile {
            envelope: window(0.0, 1.5),
            ..cpu_profile()
        },
    );
    let ctx = Arc::new(validator(planner, opts));
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    let round_started = Instant::now();
    let mut rounds = JoinSet::new();
    for (i, m) in miners.iter().enumerate() {
        let (ctx, gate, target) = (Arc::clone(&ctx), Arc::clone(&gate), m.target());
        rounds.spawn(async move {
            let _slot = gate.acquire_owned().await.unwrap();
            let t = Instant::now();
            let report = challenge_miner(&ctx, &target).await;
            (i, report, t.elapsed().as_secs_f64())
        });
    }
    let mut failures = Vec::new();
    let mut per_miner = Vec::new();
    while let Some(done) = rounds.join_next().await {
        let (i, report, took) = done.unwrap();
        per_miner.push(took);
        let devices = report.device_rounds(|_| 1.0);
        let mut standing = MinerStanding::default();
        standing.record_round(&devices);
        let honest = i % 2 == 0;
        if honest {
            if !(report.verdicts().count() == 2 && report.verdicts().all(Verdict::is_pass)) {
                failures.push(format!("honest miner {i}: {}", describe(&report)));
            }
        } else if standing.round_score != 0.0 {
            failures.push(format!(
                "cheater {i} ({}) scored {}: {}",
                BAD[i / 2 % BAD.len()],
                standing.round_score,
                describe(&report)
            ));
        }
    }
    println!(
        "64 miners (32 misbehaving): round {:.2} s, per-miner p50 {:.0} ms, p99 {:.0} ms; \
         setup {:.2} s; memory high-water mark {:.0} MiB",
        round_started.elapsed().as_secs_f64(),
        percentile(per_miner.clone(), 0.5) * 1e3,
        percentile(per_miner, 0.99) * 1e3,
        round_started.duration_since(started).as_secs_f64(),
        memory_high_water_mib()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
