//! `membw` reference: the CPU cost of regenerating a group from the PRF against reading the
//! same group from memory, per fill round count `R` — the CPU side of the argument that a miner
//! short of memory cannot substitute arithmetic (the GPU side is measured by the CUDA
//! self-test) — and the verifier's cost of checking one sampled output.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use challenges::{
    membw::{self, MembwParams, Permutation},
    prf,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let key = prf::key(&[7; 32], membw::STREAM);
    let group_bytes = 4096u32;
    let mut g = c.benchmark_group("membw group 4 KiB");
    g.throughput(Throughput::Bytes(u64::from(group_bytes)));
    // Reading: one group gathered from a 256 MiB buffer at a pseudo-random group index.
    let buffer = vec![0x5au8; 256 << 20];
    let groups = buffer.len() / group_bytes as usize;
    let mut i = 0usize;
    g.bench_function("read from memory (256 MiB buffer)", |b| {
        b.iter(|| {
            i = (i.wrapping_mul(2_654_435_761).wrapping_add(12_345)) % groups;
            let s = &buffer[i * group_bytes as usize..(i + 1) * group_bytes as usize];
            black_box(
                s.iter()
                    .fold(0u64, |acc, x| acc.wrapping_add(u64::from(*x))),
            )
        })
    });
    for rounds in [0u32, 4, 16] {
        let params = MembwParams {
            bytes: 1 << 30,
            group: group_bytes,
            rounds,
            passes: 1,
        };
        let mut out = vec![0u8; group_bytes as usize];
        g.bench_with_input(
            BenchmarkId::new("regenerate", format!("R={rounds}")),
            &params,
            |b, p| b.iter(|| membw::fill_group(key, p, black_box(12_345), &mut out)),
        );
    }
    g.finish();

    let params = MembwParams {
        bytes: 1 << 30,
        group: 1024,
        rounds: 16,
        passes: 2,
    };
    let perm = Permutation::for_pass(&params, &[4; 32], 1, Some(&[3; 32])).ok();
    let mut v = c.benchmark_group("membw verifier");
    if let Some(perm) = perm {
        v.bench_function("check one output (g=1 KiB, R=16)", |b| {
            b.iter(|| membw::output(key, &params, &perm, 1, black_box(777)))
        });
    }
    v.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
