//! The cheats interactive phases exist to stop (issue #18 item 7), over real QUIC on loopback,
//! judged by the production planner: the embedded class table with `cpu-reference` calibrated
//! on this machine before the round (as `verifier localnet` does), never hand-set windows.
//!
//! - `serial-share`: claims two devices and computes both on one device's compute time,
//!   holding each commitment back until its sibling's is ready. Every phase of every claimed
//!   device then takes about twice as long as one device needs: at most the one device it
//!   has may pass.
//! - `regenerate`: keeps half of every `membw` buffer and regenerates the other half from the
//!   PRF each time a pass reads it. Its results are exact; its pass phase is too slow.
//!
//! An honest miner is judged by the same planner in the same test first, so a test that could
//! not tell honest from cheating would fail on the honest side. The tests of this binary run
//! one at a time (`CPU`), as timing-sensitive tests must.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

use harness::*;
use verifier::client::{MinerReport, challenge_miner};
use verifier::planner::ClassPlanner;

/// The production planner with `cpu-reference` calibrated here, targets scaled down so the
/// tests stay short.
fn calibrated_planner() -> ClassPlanner {
    let mut planner = ClassPlanner::new(verifier::classes::ClassTable::embedded().unwrap())
        .with_target_scale(0.5);
    let calibration = planner.calibrate_cpu().unwrap();
    println!(
        "calibrated cpu-reference in {:.0} ms: {:?} (R = {})",
        calibration.elapsed.as_secs_f64() * 1e3,
        calibration.rates,
        calibration.class.membw_rounds()
    );
    planner
}

/// Every verdict of the report, printed with its phase figures; whether device `d` passed
/// every module planned for it (docs/design.md §No score without proof, rule 1).
fn device_passes(report: &MinerReport, who: &str) -> Vec<bool> {
    report
        .devices
        .iter()
        .map(|device| {
            let mut all = !device.challenges.is_empty();
            for c in &device.challenges {
                let Some(v) = c.verdict.as_ref() else {
                    println!("{who} device {} {}: no verdict", device.index, c.module);
                    all = false;
                    continue;
                };
                let timing = v.timing();
                let phases: Vec<String> = timing
                    .map(|t| {
                        t.phases
                            .iter()
                            .map(|p| format!("{:.3}/{:.3}", p.measured_s, p.window.max_s))
                            .collect()
                    })
                    .unwrap_or_default();
                println!(
                    "{who} device {} {}: {} measured {:.3} s of max {:.3} s, phases {:?}",
                    device.index,
                    c.module,
                    v.kind(),
                    timing.map_or(f64::NAN, |t| t.measured_s),
                    timing.map_or(f64::NAN, |t| t.window.max_s),
                    phases
                );
                all &= v.is_pass();
            }
            all
        })
        .collect()
}

async fn judge(planner: &ClassPlanner, spec: MinerSpec, who: &str) -> Vec<bool> {
    let miner = start_miner(spec);
    preload_modules(&miner).await;
    let ctx = validator(planner.clone(), options(&[MATMUL_I8, MEMBW]));
    let report = challenge_miner(&ctx, &miner.target()).await;
    miner.stop().await;
    assert!(
        report
            .devices
            .iter()
            .all(|d| d.class.as_deref() == Some("cpu-reference")),
        "{}",
        describe(&report)
    );
    device_passes(&report, who)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_share_gets_no_pass_for_the_device_it_cannot_back() {
    let _cpu = CPU.write().await;
    let planner = calibrated_planner();
    let honest = judge(&planner, MinerSpec::honest(60, 1), "honest").await;
    assert_eq!(honest, [true], "an honest one-device miner must pass");

    let mut spec = MinerSpec::honest(61, 2);
    spec.adversary = Some("serial-share:2".parse().unwrap());
    let shared = judge(&planner, spec, "serial-share").await;
    assert_eq!(shared.len(), 2, "it claims two devices");
    let passing = shared.iter().filter(|p| **p).count();
    assert!(
        passing <= 1,
        "serial-share backs one device's compute, yet {passing} of its 2 claimed devices passed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerating_half_the_buffer_fails_membw() {
    let _cpu = CPU.write().await;
    let planner = calibrated_planner();
    let honest = judge(&planner, MinerSpec::honest(62, 1), "honest").await;
    assert_eq!(honest, [true], "an honest one-device miner must pass");

    let mut spec = MinerSpec::honest(63, 1);
    spec.adversary = Some("regenerate:0.5".parse().unwrap());
    let regenerating = judge(&planner, spec, "regenerate").await;
    assert_eq!(
        regenerating,
        [false],
        "a device keeping half of its membw buffer must not pass"
    );
}

/// A miner that answers each module's first `Prepare` at once and holds its other devices'
/// `Ready`s back past the verifier's `Go` barrier, hoping each device is started alone (one
/// GPU could then answer for all of them in turn), gains nothing: only the devices ready
/// together are challenged; a late one gets a `busy` timeout for that module, no pass and no
/// charge, so at most one device passes both modules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_ready_after_the_go_barrier_is_not_challenged_alone() {
    let _cpu = CPU.write().await;
    let planner = calibrated_planner();
    let mut spec = MinerSpec::honest(64, 2);
    spec.adversary = Some("stagger-ready:3".parse().unwrap());
    let miner = start_miner(spec);
    preload_modules(&miner).await;
    let ctx = validator(planner, options(&[MATMUL_I8, MEMBW]));
    let report = challenge_miner(&ctx, &miner.target()).await;
    miner.stop().await;
    let passes = device_passes(&report, "stagger-ready");
    assert_eq!(passes.len(), 2, "{}", describe(&report));
    // Which device is late may differ per module (its first `Ready` goes out at once): at
    // most one device can pass both.
    assert!(
        passes.iter().filter(|p| **p).count() <= 1,
        "holding a Ready back must not let both devices pass: {}",
        describe(&report)
    );
    // Every verdict is a pass (ready in time) or a busy timeout (late, not charged).
    let verdicts: Vec<&verifier::session::Verdict> = report
        .devices
        .iter()
        .flat_map(|d| d.challenges.iter().filter_map(|c| c.verdict.as_ref()))
        .collect();
    assert!(
        verdicts.iter().any(|v| v.is_pass()),
        "the devices ready in time are challenged: {}",
        describe(&report)
    );
    assert!(
        verdicts
            .iter()
            .all(|v| v.is_pass() || matches!(v, verifier::session::Verdict::Timeout(t) if t.busy)),
        "the late device's verdicts are busy timeouts (no charge): {}",
        describe(&report)
    );
}
