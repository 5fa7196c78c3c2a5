#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Bandwidth in the score, over real QUIC + TCP on loopback (issue #24): a miner that
//! acknowledges probes without reading them (`probe-fake`) fails both directions; a throttled
//! link (`probe-slow`) is measured slow, not failed, and its link factor drops; an honest
//! miner's factor is 1; and through the production round engine, store, scorer and weight
//! processing, each miner's weight follows the floor.
//!
//! Timing margins (no other time is asserted): the floor is 50 Mbit/s and the throttled miner
//! runs at 10 Mbit/s, so its factor is about 0.2 and is asserted below 0.5 (2.5×); its 1 MiB
//! probe takes about 0.84 s against a deadline of 2 s (2.4×). An honest 1 MiB probe on
//! loopback takes a few milliseconds; it has 168 ms before it would fall under the floor.

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{
    FixedPlanner, MEMBW, MinerSpec, Profile, TINY_MATMUL, TINY_MEMBW, start_miner, validator,
    window,
};
use miner_host::serve::{Adversary, ServeLimits};
use protocol::ProbeDirection;
use verifier::client::probe::{ProbePlan, run_probe};
use verifier::client::{ProbeOutcome, ProbeSettings};
use verifier::service::engine::{Miner, RoundEnd, RoundEngine, RoundRules};
use verifier::service::metrics::Metrics;
use verifier::service::record::MinerId;
use verifier::service::weights::plan_weights;

const WAIT: Duration = Duration::from_secs(10);
const FLOOR_MBIT: f64 = 50.0;
const SLOW_MBIT: f64 = 10.0;

/// Limits a test miner serves its validator under: probes as often as the tests ask.
fn limits() -> ServeLimits {
    ServeLimits {
        probes_per_minute: 1000,
        ..ServeLimits::default()
    }
}

fn spec(n: u8, adversary: Option<Adversary>) -> MinerSpec {
    MinerSpec {
        adversary,
        limits: limits(),
        ..MinerSpec::honest(n, 1)
    }
}

/// A handshaken connection of the test validator (with its endpoint and control stream, kept
/// alive beside it).
async fn connect(
    miner: &harness::Miner,
) -> (quinn::Connection, quinn::Endpoint, transport::FramedStream) {
    let identity = transport::Identity::issue(
        harness::session_key(),
        &harness::validator_hotkey(),
        protocol::Role::Validator,
        harness::VALIDITY,
    );
    let endpoint = transport::client_endpoint(
        miner.handle.addr,
        identity.signing_key(),
        &transport::ConnectionLimits::default(),
    )
    .unwrap();
    let connection = transport::connect(&endpoint, miner.handle.addr, WAIT)
        .await
        .unwrap();
    let mut control = transport::FramedStream::open(&connection).await.unwrap();
    transport::client_handshake(&connection, &mut control, &identity, None, WAIT)
        .await
        .unwrap();
    (connection, endpoint, control)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_acknowledging_without_reading_fails_both_ways() {
    let _cpu = harness::CPU.read().await;
    let miner = start_miner(spec(40, Some(Adversary::ProbeFake)));
    let (connection, _endpoint, _control) = connect(&miner).await;
    let plan = ProbePlan::fixed(4 << 20, 4, WAIT);
    let down = run_probe(&connection, ProbeDirection::VerifierToMiner, &plan)
        .await
        .unwrap();
    assert_eq!(down.outcome, ProbeOutcome::Failed, "{down:?}");
    assert!(!down.data_ok);
    assert_eq!(down.mbit_per_s, 0.0, "a failed probe has no rate");
    let why = down.detail.clone().unwrap();
    assert!(
        why.contains("receipt") || why.contains("closed a probe stream"),
        "{why}"
    );
    let up = run_probe(&connection, ProbeDirection::MinerToVerifier, &plan)
        .await
        .unwrap();
    assert_eq!(up.outcome, ProbeOutcome::Failed, "{up:?}");
    assert!(up.detail.unwrap().contains("not its seed's probe stream"));
    println!("probe-fake: download {why}; upload failed too");
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_link_is_measured_slow_and_not_failed() {
    let _cpu = harness::CPU.read().await;
    let miner = start_miner(spec(41, Some(Adversary::ProbeSlow(SLOW_MBIT))));
    let (connection, _endpoint, _control) = connect(&miner).await;
    let plan = ProbePlan::fixed(1 << 20, 2, Duration::from_secs(2));
    for direction in [
        ProbeDirection::MinerToVerifier,
        ProbeDirection::VerifierToMiner,
    ] {
        let r = run_probe(&connection, direction, &plan).await.unwrap();
        assert_eq!(r.outcome, ProbeOutcome::Measured, "{r:?}");
        assert!(
            r.mbit_per_s < 2.0 * SLOW_MBIT,
            "a {SLOW_MBIT} Mbit/s link measured at {} Mbit/s",
            r.mbit_per_s
        );
        println!(
            "probe-slow:{SLOW_MBIT} {}: {:.1} Mbit/s in {:.2} s",
            r.direction, r.mbit_per_s, r.seconds
        );
    }
    // Past its deadline the same link fails: a late receipt is not a slow one.
    let late = ProbePlan::fixed(1 << 20, 1, Duration::from_millis(200));
    let r = run_probe(&connection, ProbeDirection::VerifierToMiner, &late)
        .await
        .unwrap();
    assert_eq!(r.outcome, ProbeOutcome::Failed, "{r:?}");
    assert!(r.detail.unwrap().contains("late"));
    miner.stop().await;
}

/// The standings of one round of the production engine over `miners`, with a floor of
/// `FLOOR_MBIT` and a probe budget of 1 MiB each way per miner.
async fn one_round(
    miners: &[(&harness::Miner, u16)],
    dir: &std::path::Path,
) -> Vec<validator_store::StandingRow> {
    let profile = Profile {
        matmul: TINY_MATMUL,
        membw: TINY_MEMBW,
        envelope: window(0.0, 30.0),
    };
    let planner = FixedPlanner::new().with(challenge_runtime::cpu::DEVICE_NAME, profile);
    let mut options = harness::options(&[harness::MATMUL_I8, MEMBW]);
    options.probe = ProbeSettings {
        floor_mbit: FLOOR_MBIT,
        ..ProbeSettings::default()
    };
    let ctx = Arc::new(validator(planner, options));
    let store = validator_store::Store::open(&dir.join("validator.sqlite")).unwrap();
    let rules = RoundRules {
        allow_cpu_reference: true,
        link: verifier::scoring::LinkRules {
            floor_mbit: FLOOR_MBIT,
        },
        // Each miner's share: exactly 1 MiB each way.
        probe_budget: Some(2 * miners.len() as u64 * (1 << 20)),
        ..RoundRules::default()
    };
    let engine = RoundEngine::new(
        store,
        ctx,
        verifier::classes::ClassTable::embedded().unwrap(),
        Arc::new(Metrics::default()),
        rules,
        Arc::new(tokio::sync::Semaphore::new(1)),
    );
    let list: Vec<Miner> = miners
        .iter()
        .map(|(m, uid)| Miner {
            id: MinerId {
                hotkey: transport::identity::ss58(&m.hotkey),
                uid: Some(*uid),
            },
            hotkey: m.hotkey,
            addr: m.handle.addr,
        })
        .collect();
    let (_keep, mut shutdown) = tokio::sync::watch::channel(false);
    let RoundEnd::Finished { round_id } = engine.round(&list, &mut shutdown).await else {
        panic!("the round did not finish");
    };
    engine.eligible_standings(round_id, &list).await.unwrap()
}

/// End to end: the production round engine (probe sized within the budget share), the store,
/// the scorer and the chain's weight processing. The honest miner's link factor is 1, the
/// throttled one's is its measured share of the floor, the faker's is 0; the weights follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_changes_the_weight_as_the_floor_says() {
    let _cpu = harness::CPU.write().await;
    let honest = start_miner(spec(42, None));
    let slow = start_miner(spec(43, Some(Adversary::ProbeSlow(SLOW_MBIT))));
    let fake = start_miner(spec(44, Some(Adversary::ProbeFake)));
    for m in [&honest, &slow, &fake] {
        harness::preload_modules(m).await;
    }
    let dir = verifier::localnet::TempDir::new("bandwidth").unwrap();
    let standings = one_round(&[(&honest, 1), (&slow, 2), (&fake, 3)], dir.path()).await;
    let by_uid = |uid: u16| {
        standings
            .iter()
            .find(|s| s.uid == Some(uid))
            .unwrap_or_else(|| panic!("no standing for uid {uid}: {standings:?}"))
    };
    let (h, s, f) = (by_uid(1), by_uid(2), by_uid(3));
    for row in [h, s, f] {
        println!(
            "uid {:?}: link {:?}, up {:?} Mbit/s, down {:?} Mbit/s, round score {:.6}, score {:.6}",
            row.uid, row.link_factor, row.up_mbit, row.down_mbit, row.round_score, row.score
        );
    }
    assert_eq!(h.link_factor, Some(1.0), "honest on loopback: {h:?}");
    assert!(h.score > 0.0, "{h:?}");
    let slow_factor = s.link_factor.unwrap();
    assert!(
        slow_factor > 0.0 && slow_factor < 0.5,
        "a {SLOW_MBIT} Mbit/s link under a {FLOOR_MBIT} Mbit/s floor: {s:?}"
    );
    let expected = s.up_mbit.unwrap().min(s.down_mbit.unwrap()) / FLOOR_MBIT;
    assert!((slow_factor - expected).abs() < 1e-9, "{s:?}");
    assert_eq!(f.link_factor, Some(0.0), "{f:?}");
    assert_eq!(f.score, 0.0);
    // The devices' scores are equal (same class, same window), so the scores differ by the
    // link factor alone, and so do the weights.
    assert!(
        (s.score / h.score - slow_factor).abs() < 1e-9,
        "{h:?} {s:?}"
    );
    let limits = chain::weights::WeightLimits {
        num_neurons: 4,
        min_allowed_weights: 1,
        max_weight_limit: 1.0,
        exclude_quantile: 0,
    };
    let plan = plan_weights(&standings, &limits).unwrap();
    let weight = |uid: u16| {
        plan.uids
            .iter()
            .zip(&plan.values)
            .find(|(u, _)| **u == uid)
            .map_or(0.0, |(_, v)| f64::from(*v))
    };
    println!(
        "weights (uid: u16): {:?}",
        plan.uids.iter().zip(&plan.values).collect::<Vec<_>>()
    );
    assert_eq!(weight(3), 0.0, "{plan:?}");
    let ratio = weight(2) / weight(1);
    assert!(
        (ratio - slow_factor).abs() < 0.01,
        "weights {plan:?}: ratio {ratio}, factor {slow_factor}"
    );
    // What the store keeps: the round's factor, the score before it, each probe's outcome.
    let store =
        validator_store::Store::open_read_only(&dir.path().join("validator.sqlite")).unwrap();
    let stored = store.standings().unwrap();
    assert_eq!(stored.len(), 3);
    for m in [honest, slow, fake] {
        m.stop().await;
    }
}
