#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Receipts of rounds over real QUIC on loopback (issue #19): the `wrong-tile` adversary of
//! `miner_host::serve::adversary` (leaf 0 of its first output spoiled, opened consistently)
//! gets a `wrong-result` whose receipt, audited with nothing but its bytes, is evidence: the
//! miner signed a root from which a valid path leads to a leaf the module's `check` finds
//! wrong. An honest miner's receipts carry every signature, seed, path and leaf right; judged
//! here by the test planner's window, not the class table's, their audit refuses exactly the
//! envelope.
mod harness;

use harness::{
    CPU, FixedPlanner, MATMUL_I8, MEMBW, MinerSpec, Profile, TINY_MATMUL, TINY_MEMBW, options,
    preload_modules, start_miner, validator, verdict, window,
};
use miner_host::serve::Adversary;
use protocol::LeafRef;
use validator_store::VerdictKind;
use verifier::classes::ClassTable;
use verifier::client::challenge_miner;
use verifier::receipt::audit::{AuditContext, audit};
use verifier::receipt::{Signer, receipts_for};
use verifier::session::{Cause, SandboxChecker, Verdict};

fn planner() -> FixedPlanner {
    FixedPlanner::new().with(
        "cpu-reference",
        Profile {
            matmul: TINY_MATMUL,
            membw: TINY_MEMBW,
            envelope: window(0.0, 1.5),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_tile_receipt_is_evidence_anyone_can_check() {
    let _cpu = CPU.read().await;
    let miner = start_miner(MinerSpec::cheating(1, Adversary::WrongTile));
    preload_modules(&miner).await;
    let ctx = validator(planner(), options(&[MATMUL_I8]));
    let report = challenge_miner(&ctx, &miner.target()).await;
    miner.stop().await;
    // 4 leaves, 32 drawn: leaf 0 is missed with probability (3/4)^32 ≈ 1e-4.
    match verdict(&report, 0, "matmul-i8") {
        Verdict::WrongResult(w) => {
            assert_eq!(w.cause, Cause::WrongContent);
            assert_eq!(w.leaf, Some(LeafRef { output: 0, leaf: 0 }));
        }
        other => panic!("wrong-tile got {other:?}"),
    }
    let table = ClassTable::embedded().unwrap();
    let signer = Signer {
        identity: &ctx.identity,
        class_table: table.hash(),
    };
    let made = receipts_for(&report, report_miner(&report), &signer).unwrap();
    assert_eq!(made.len(), 1);
    // Audited by a third party: its own sandbox, the file's bytes, nothing else.
    let checker = SandboxChecker::with_builtins().unwrap();
    let ctx = AuditContext {
        table: &table,
        checker: &checker,
    };
    let a = audit(&made[0].bytes, &ctx);
    assert!(a.holds(), "{:#?}", a.failures);
    assert_eq!(a.verdict.map(VerdictKind::as_str), Some("wrong-result"));
    let evidence = a.evidence.expect("a wrong leaf is evidence");
    assert_eq!((evidence.output, evidence.leaf), (0, 0));
    assert_eq!(Some(evidence.miner), report.hotkey);
    println!("{}", a.proven.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_miners_receipts_hold_but_for_a_window_the_table_does_not_give() {
    let _cpu = CPU.read().await;
    let miner = start_miner(MinerSpec::honest(2, 2));
    preload_modules(&miner).await;
    let ctx = validator(planner(), options(&[MATMUL_I8, MEMBW]));
    let report = challenge_miner(&ctx, &miner.target()).await;
    miner.stop().await;
    for device in 0..2 {
        for module in ["matmul-i8", "membw"] {
            assert!(verdict(&report, device, module).is_pass());
        }
    }
    let table = ClassTable::embedded().unwrap();
    let signer = Signer {
        identity: &ctx.identity,
        class_table: table.hash(),
    };
    let made = receipts_for(&report, report_miner(&report), &signer).unwrap();
    assert_eq!(made.len(), 4);
    let checker = SandboxChecker::with_builtins().unwrap();
    let ctx = AuditContext {
        table: &table,
        checker: &checker,
    };
    for m in &made {
        let a = audit(&m.bytes, &ctx);
        // Signatures, seeds, phases, paths, leaves and figures all hold; the test window
        // (0 to 1.5 s) is not what the class table gives cpu-reference.
        let checks: Vec<&str> = a.failures.iter().map(|f| f.check()).collect();
        assert!(
            !checks.is_empty() && checks.iter().all(|c| *c == "envelope"),
            "{} {}: {:#?}",
            m.device_index,
            m.module,
            a.failures
        );
        assert!(
            a.proven.iter().any(|p| p.contains("follow valid paths")),
            "{:#?}",
            a.proven
        );
    }
}

/// The miner's hotkey as its handshake showed it.
fn report_miner(report: &verifier::client::MinerReport) -> protocol::Hotkey {
    report.miner_certificate.as_ref().unwrap().hotkey
}
