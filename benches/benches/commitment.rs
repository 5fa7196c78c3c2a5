//! Commitment hashing: building an output's opening tree (`challenge_runtime::cpu::build_tree`,
//! what the CPU backend does on `commit`) against raw `blake3` (`Hasher::update_rayon`) on the
//! same 64 MiB buffer and the same thread pool. Target: ≥ 90 % of raw throughput.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let data: Vec<u8> = (0..64u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let mut g = c.benchmark_group(format!("commitment 64 MiB, {threads} threads"));
    g.sample_size(10);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("raw blake3 (update_rayon)", |b| {
        b.iter(|| {
            pool.install(|| {
                blake3::Hasher::new()
                    .update_rayon(black_box(&data))
                    .finalize()
            })
        })
    });
    g.bench_function("opening tree (cpu backend commit)", |b| {
        b.iter(|| {
            pool.install(|| {
                challenge_runtime::cpu::build_tree(black_box(&data))
                    .unwrap()
                    .root()
            })
        })
    });
    g.bench_function("raw blake3, one thread", |b| {
        b.iter(|| blake3::hash(black_box(&data)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
