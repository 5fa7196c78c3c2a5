//! gpuproof miner host.
//!
//! Will hold the CUDA backend (issue #4), the QUIC server, its config and CLI (issue #5). It runs
//! validators' challenge modules through `challenge-runtime` and never depends on `verifier`.
//! Nothing is implemented here yet, on purpose: no binary is built until one works.
