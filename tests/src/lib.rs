//! Holder crate for gpuproof's cross-crate tests in `tests/tests/` (see `tests/README.md`):
//! `spec_and_wire.rs` checks that the spec crates fit together (the seed bound through
//! `challenges` from what `protocol` carries, openings that cross the wire still verify);
//! `adversaries.rs` runs honest and adversarial miners against the verifier over real QUIC on
//! loopback; `scale.rs` runs one round against 64 miners. Their shared harness is
//! `tests/tests/harness/mod.rs` (the crate has dev-dependencies only).
