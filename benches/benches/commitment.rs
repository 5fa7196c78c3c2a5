//! Commitment hashing: the plain BLAKE3 root of an output against building the opening tree
//! (`challenges::commitment::OutputTree`) over the same 64 MiB buffer on one thread.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let data: Vec<u8> = (0..64u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let mut g = c.benchmark_group("commitment 64 MiB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("blake3::hash", |b| b.iter(|| blake3::hash(black_box(&data))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
