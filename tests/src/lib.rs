//! Holder crate for gpuproof's cross-crate tests in `tests/tests/`. Today they check that the
//! spec crates fit together (a seed bound through `challenges` matches what `protocol` carries);
//! later issues add real QUIC on loopback with honest and adversarial miners.
