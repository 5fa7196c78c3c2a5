//! Holder crate for gpuproof's cross-crate tests in `tests/tests/`. Today they check that the
//! spec crates fit together (`spec_and_wire.rs`: the seed bound through `challenges` from what
//! `protocol` carries, openings that cross the wire still verify); later issues add real QUIC on
//! loopback with honest and adversarial miners.
