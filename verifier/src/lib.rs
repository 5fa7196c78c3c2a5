//! gpuproof verifier.
//!
//! [`session`] is the challenge session of DESIGN.md §Protocol as a sans-IO state machine
//! (Prepare → Go → Commitment → Open → Openings → verdict, with the clock passed in).
//! Will also hold challenge generation, the QUIC client, GPU-class envelopes, scoring, the
//! SQLite store, the epoch loop and the local network (issues #5 and #7). It never depends on
//! `miner-host`.
//!
//! [`receipt`] makes every recorded verdict a signed receipt anyone can re-check offline
//! (`verifier audit`); [`catalogue`] serves what the validator proved to renters over HTTP.

pub mod catalogue;
pub mod checkcost;
/// GPU classes: the class table, time model, envelopes, sizing and `cpu-reference` calibration.
pub mod classes;
pub mod client;
pub mod localnet;
pub mod planner;
pub mod receipt;
pub mod scoring;
pub mod service;
pub mod session;
