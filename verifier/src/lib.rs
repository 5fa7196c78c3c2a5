//! gpuproof verifier.
//!
//! Will hold challenge generation, the QUIC client, opening checks, GPU-class envelopes, scoring,
//! the SQLite store, the epoch loop and the local network (issues #5 and #7). It never depends on
//! `miner-host`.
