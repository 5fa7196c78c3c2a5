//! A subxt client for gpuproof validators on a Bittensor (subtensor) chain: read a subnet's
//! metagraph and hyperparameters, and submit `set_weights`, `commit_weights` /
//! `reveal_weights` (commit-reveal v2), `commit_timelocked_weights` (timelocked commit-reveal
//! v4, drand quicknet) and `serve_axon`, signed with an sr25519 hotkey.
//!
//! * [`ChainClient::submit_weights`]: the one call a validator needs — it reads the subnet's
//!   commit-reveal settings and submits through the path the chain requires ([`submit`]).
//!
//! * [`ChainClient`]: connect over `ws://` / `wss://` ([`ChainClient::connect`]) or wrap an
//!   existing subxt or RPC client; reads at the latest finalized block; submits and waits for
//!   inclusion, decoding dispatch errors to their module error names.
//! * [`Metagraph`] / [`SubnetHyperparams`]: typed, checked views of `SubtensorModule` storage
//!   that map onto the pure `chain` crate (`chain::SubnetState`, `chain::Hyperparameters`,
//!   `chain::commit_reveal::weight_submission`, `chain::weights::WeightLimits`).
//! * [`calls`]: the call argument structs, encoded by name against the runtime metadata.
//! * [`wallet`]: keys from a bittensor hotkey file or a secret URI.
//! * [`runtime`]: one client for every runtime it meets (a local subtensor, testnet, finney):
//!   what the connected runtime's metadata offers ([`RuntimeSupport`]), and the behaviour of
//!   runtimes that lack an item ([`Fallback`]: no `CommitRevealWeightsVersion` → commit-reveal
//!   v2, no `MechanismCountCurrent` → one mechanism, no epoch-schedule items → the fixed epoch
//!   schedule), logged once per runtime version; a call the runtime lacks is
//!   [`ClientError::CallNotInRuntime`] naming its spec version.
//! * [`acceptance`]: [`check_weights`], what the runtime would refuse (rate limit, permit,
//!   `MinAllowedWeights`, `MaxWeightsLimit`, version key…), checked by `submit_weights` before
//!   signing ([`ClientError::WeightsRefused`] names the runtime error it would have been).
//! * [`info`]: [`ChainInfo`], everything `verifier chain info` prints.
//!
//! Only subxt's **dynamic** API is used (no codegen): storage entries and calls are looked up
//! by name in the metadata the node serves. `metadata/finney.scale` (the finney runtime's
//! metadata, spec 393, V16) and `metadata/spec293.scale` (an older subtensor runtime, spec 293,
//! July 2025, V14) are used only by tests; both come from the project's `shared/chain/` copies. Everything read from the chain is hostile input: decoding is
//! checked against the metadata's types, and inconsistencies are typed [`ClientError`]s naming
//! the storage entry, netuid and uid.

#![deny(missing_docs)]
#![deny(clippy::indexing_slicing)]

pub mod acceptance;
pub mod calls;
pub mod client;
pub mod config;
pub mod error;
pub mod hyperparams;
pub mod info;
pub mod metagraph;
mod read;
pub mod runtime;
pub mod submit;
pub mod wallet;

pub use acceptance::{ValidatorStanding, WeightsRefusal, check_weights};
pub use calls::{
    CommitTimelockedWeights, CommitWeights, RevealWeights, ServeAxon, SetWeights, SubtensorCall,
};
pub use client::{ChainClient, Submitted, WaitFor};
pub use config::{SubtensorConfig, SubtensorParamsBuilder};
pub use error::ClientError;
pub use hyperparams::SubnetHyperparams;
pub use info::{ChainInfo, HotkeyStanding};
pub use metagraph::{AxonInfo, Metagraph, Neuron};
pub use runtime::{Fallback, RuntimeSupport};
pub use submit::{PendingReveal, WeightsSubmitted};
pub use wallet::{KeySource, Keypair};

/// Compiles the README's example (`no_run`) as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
