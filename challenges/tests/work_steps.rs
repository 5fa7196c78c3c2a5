//! Work vectors per interactive phase (host ABI v1.1): `Work::steps`/`Work::step`, and the
//! work record's step-start bits, which a hostile module must not be able to bend.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use challenges::abi::{WORK_MAX_PHASES, WORK_RECORD_LEN, WorkRecord};
use challenges::matmul::{self, MatmulParams};
use challenges::membw::{self, MembwParams};

fn membw_work() -> challenges::work::Work {
    membw::work(&MembwParams {
        bytes: 1 << 20,
        group: 1024,
        rounds: 3,
        passes: 4,
    })
}

#[test]
fn membw_fill_is_phase_zero_and_the_passes_phase_one() {
    let w = membw_work();
    assert_eq!(w.steps(), 2);
    let fill = w.step(0);
    let passes = w.step(1);
    assert_eq!(
        fill.phases.iter().map(|p| p.name).collect::<Vec<_>>(),
        ["membw-fill"]
    );
    assert_eq!(
        passes.phases.iter().map(|p| p.name).collect::<Vec<_>>(),
        ["membw-pass", "hash"]
    );
    assert_eq!(fill.ops, w.phases[0].ops);
    assert_eq!(passes.bytes, w.phases[1].bytes + w.phases[2].bytes);
    assert!(w.step(2).phases.is_empty());
}

#[test]
fn matmul_is_one_phase_and_its_record_is_unchanged() {
    let w = matmul::work(&MatmulParams {
        m: 64,
        n: 64,
        k: 64,
        count: 2,
    });
    assert_eq!(w.steps(), 1);
    let record = WorkRecord::from_work(&w);
    assert_eq!(record.step_starts, 0);
    // ABI v1's layout: the word after the phase count stays zero for one-phase work.
    assert_eq!(&record.encode()[20..24], &[0; 4]);
}

#[test]
fn step_starts_round_trip_through_the_record() {
    let w = membw_work();
    let record = WorkRecord::from_work(&w);
    assert_eq!(record.step_starts, 0b010);
    let back = WorkRecord::decode(&record.encode()).unwrap();
    assert_eq!(back, record);
    let steps: Vec<u32> = (0..w.phases.len()).map(|i| back.step_of(i)).collect();
    assert_eq!(steps, w.phases.iter().map(|p| p.step).collect::<Vec<_>>());
}

#[test]
fn hostile_step_bits_are_refused() {
    let mut bytes = WorkRecord::from_work(&membw_work()).encode();
    assert_eq!(bytes.len(), WORK_RECORD_LEN);
    for bad in [1u32, 1 << 3, 1 << (WORK_MAX_PHASES - 1), u32::MAX] {
        bytes[20..24].copy_from_slice(&bad.to_le_bytes());
        assert!(WorkRecord::decode(&bytes).is_err(), "{bad:#x} accepted");
    }
    bytes[20..24].copy_from_slice(&0b110u32.to_le_bytes());
    let r = WorkRecord::decode(&bytes).unwrap();
    assert_eq!((r.step_of(0), r.step_of(1), r.step_of(2)), (0, 1, 2));
}
