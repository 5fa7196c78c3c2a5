//! Holder crate for gpuproof's criterion benches; the benches live in `benches/benches/`, one
//! file per hot path. Run them with `cargo bench -p gpuproof-benches`.
