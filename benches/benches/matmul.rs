//! `matmul-i8` reference: the verifier-side cost of checking one tile (operand generation plus
//! 16·16·K multiply-adds) at K = 4096, and a whole small product.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use challenges::{
    matmul::{self, MatmulParams},
    prf,
};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let key = prf::key(&[7; 32], matmul::STREAM);
    let params = MatmulParams {
        m: 256,
        n: 256,
        k: 4096,
        count: 1,
    };
    let mut group = c.benchmark_group("matmul-i8 reference");
    group.bench_function("check one tile, K=4096 (operands + GEMM tile)", |b| {
        b.iter(|| matmul::tile(key, &params, 0, black_box(37)))
    });
    let a = matmul::a_rows(key, &params, 0, 2).unwrap_or_default();
    let bb = matmul::b_block(key, &params, 0, 5).unwrap_or_default();
    group.bench_function("tile_from_operands, K=4096", |b| {
        b.iter(|| matmul::tile_from_operands(black_box(&a), black_box(&bb), 4096))
    });
    let small = MatmulParams {
        m: 128,
        n: 128,
        k: 256,
        count: 1,
    };
    group.sample_size(10);
    group.bench_function("product 128x128x256", |b| {
        b.iter(|| matmul::product(key, &small, 0))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
