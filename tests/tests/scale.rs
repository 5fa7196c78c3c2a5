#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Scale (issue #5 item 6): one verifier round against 64 in-process `miner-host` servers on
//! loopback, each with one one-thread CPU device, tiny challenges (about 10 ms of work per
//! module), at most 8 rounds at once (a semaphore) and a per-miner time limit. Every miner
//! must get a verdict for both modules and every (honest) one must pass under a generous
//! envelope. Wall time and figures are printed, not asserted (the ≤ 30 s target on 2 cores is
//! measured here and reported; performance is not asserted in tests).

mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use challenges::matmul::MatmulParams;
use challenges::membw::MembwParams;
use harness::{
    FixedPlanner, MATMUL_I8, MEMBW, MinerSpec, Profile, describe, measured_s, options,
    preload_modules, start_miner, validator, verdict, window,
};
use tokio::sync::Semaphore;
use verifier::client::challenge_miner;

const MINERS: u8 = 64;
const AT_ONCE: usize = 8;
const PER_MINER: Duration = Duration::from_secs(30);

/// About 10 ms on one thread: 2·64·64·1024·2 ≈ 17 M int8 ops.
const MATMUL: MatmulParams = MatmulParams {
    m: 64,
    n: 64,
    k: 1024,
    count: 2,
};

/// About 10 ms on one thread: 1 MiB filled (2 Philox calls per block), 4 passes.
const MEMBW_PARAMS: MembwParams = MembwParams {
    bytes: 1 << 20,
    group: 1024,
    rounds: 1,
    passes: 4,
};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_round_against_64_miners() {
    let started = Instant::now();
    let miners: Vec<_> = (0..MINERS)
        .map(|n| Arc::new(start_miner(MinerSpec::honest(n, 1))))
        .collect();
    // Compile both modules in every miner's sandbox first (see harness::preload_modules).
    let gate = Arc::new(Semaphore::new(AT_ONCE));
    let mut preloads = tokio::task::JoinSet::new();
    for miner in &miners {
        let (miner, gate) = (Arc::clone(miner), Arc::clone(&gate));
        preloads.spawn(async move {
            let _slot = gate.acquire_owned().await.unwrap();
            preload_modules(&miner).await;
        });
    }
    while let Some(done) = preloads.join_next().await {
        done.unwrap();
    }
    let ready_s = started.elapsed().as_secs_f64();

    let planner = FixedPlanner::new().with(
        "cpu-reference",
        Profile {
            matmul: MATMUL,
            membw: MEMBW_PARAMS,
            envelope: window(0.0, 10.0),
        },
    );
    let mut opts = options(&[MATMUL_I8, MEMBW]);
    opts.miner_timeout = PER_MINER;
    opts.probe.max_bytes = 256 << 10;
    let ctx = Arc::new(validator(planner, opts));

    let round = Instant::now();
    let mut rounds = tokio::task::JoinSet::new();
    for (i, miner) in miners.iter().enumerate() {
        let (ctx, gate, target) = (Arc::clone(&ctx), Arc::clone(&gate), miner.target());
        rounds.spawn(async move {
            let _slot = gate.acquire_owned().await.unwrap();
            (i, challenge_miner(&ctx, &target).await)
        });
    }
    let mut reports = Vec::new();
    while let Some(done) = rounds.join_next().await {
        reports.push(done.unwrap());
    }
    let round_s = round.elapsed().as_secs_f64();
    reports.sort_by_key(|(i, _)| *i);

    let mut failures = Vec::new();
    let (mut matmul_s, mut membw_s, mut elapsed_s) = (Vec::new(), Vec::new(), Vec::new());
    for (i, report) in &reports {
        let complete = report.error.is_none()
            && report.devices.len() == 1
            && report.verdicts().count() == 2
            && report.verdicts().all(verifier::session::Verdict::is_pass)
            && report.probe.iter().all(|p| p.data_ok);
        if !complete {
            failures.push(format!("miner {i}: {}", describe(report)));
            continue;
        }
        matmul_s.push(measured_s(verdict(report, 0, "matmul-i8")));
        membw_s.push(measured_s(verdict(report, 0, "membw")));
        elapsed_s.push(report.elapsed_s);
    }
    println!(
        "{MINERS} miners, {AT_ONCE} rounds at once: started and modules loaded in {ready_s:.2} s, \
         round {round_s:.2} s ({:.3} s per miner)",
        round_s / f64::from(MINERS)
    );
    if !elapsed_s.is_empty() {
        println!(
            "per miner: round median {:.3} s (max {:.3}); matmul-i8 measured median {:.4} s \
             (max {:.4}); membw measured median {:.4} s (max {:.4})",
            median(elapsed_s.clone()),
            elapsed_s.iter().copied().fold(0.0, f64::max),
            median(matmul_s.clone()),
            matmul_s.iter().copied().fold(0.0, f64::max),
            median(membw_s.clone()),
            membw_s.iter().copied().fold(0.0, f64::max),
        );
    }
    for miner in miners {
        if let Ok(miner) = Arc::try_unwrap(miner) {
            miner.stop().await;
        }
    }
    assert_eq!(reports.len(), usize::from(MINERS));
    assert!(
        failures.is_empty(),
        "{} of {MINERS} miners without a full pass:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
