//! Philox4x32-10 and tensor-fill throughput of the CPU reference (`challenges::prf`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use challenges::prf;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let key = prf::key(&[7; 32], 0);
    let mut group = c.benchmark_group("prf");
    group.throughput(Throughput::Elements(1));
    group.bench_function("philox4x32_10 block", |b| {
        let mut ctr = 0u32;
        b.iter(|| {
            ctr = ctr.wrapping_add(1);
            black_box(prf::philox4x32_10(key, [ctr, 0, 0, 0]))
        })
    });
    let mut row = vec![0u8; 1 << 16];
    group.throughput(Throughput::Bytes(row.len() as u64));
    group.bench_function("fill_tensor 64 KiB", |b| {
        b.iter(|| prf::fill_tensor(key, 1, 0, black_box(&mut row)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
