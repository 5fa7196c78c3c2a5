//! gpuproof verifier.
//!
//! [`session`] is the challenge session of docs/design.md §Protocol as a sans-IO state machine
//! (Prepare → Go → Commitment → Open → Openings → verdict, with the clock passed in);
//! [`client`] drives it over QUIC against one miner, then probes the miner's bandwidth;
//! [`classes`] and [`planner`] size the challenges; [`scoring`] turns verdicts and bandwidth
//! into standings; [`service`] is `verifier run` (its round engine is shared with
//! [`localnet`]). It never depends on `miner-host`.
//!
//! **Bandwidth** (issue #24): every miner is probed both ways after its challenges, every byte
//! checked, each direction failed when late ([`client::probe`]). A probe sizes itself from the
//! miner's measured RTT — bytes and parallel TCP streams to fill the bandwidth-delay product of
//! a `probe_target_mbps` link — and the validator's budget bounds it: **probe bytes per miner
//! each way = min(RTT-sized bytes, `probe_max_mib`, `probe_budget_mib / (2 × miners this
//! round)`)** ([`client::probe::sizing`], [`client::probe::budget_share`]), so a round never
//! moves more than `probe_budget_mib` of probes however many miners it faces. The round score
//! is × the link factor `min(up EMA, down EMA) / min_link_mbps` clamped to [0, 1], 0 for a
//! round whose probe failed or was missing ([`scoring::link_factor`]).
//!
//! [`receipt`] makes every recorded verdict a signed receipt anyone can re-check offline
//! (`verifier audit`); [`catalogue`] serves what the validator proved to renters over HTTP;
//! [`checkcost`] measures what checking one GPU's round costs this machine (`verifier bench`).

pub mod catalogue;
pub mod checkcost;
/// GPU classes: the class table, time model, envelopes, sizing and `cpu-reference` calibration.
pub mod classes;
pub mod client;
pub mod http_get;
pub mod localnet;
pub mod planner;
pub mod receipt;
pub mod scoring;
pub mod service;
pub mod session;
