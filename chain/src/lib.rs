//! Chain-side logic for gpuproof validators on a Bittensor subnet.
//!
//! * [`epoch`]: Yuma Consensus exactly as the subtensor runtime runs its sparse epoch, in the
//!   runtime's fixed-point types and rounding, as a pure function of a [`SubnetState`]
//!   (helpers in [`math`], [`masks`], [`consensus`], [`bonds`]; defaults in [`hyperparams`]).
//! * [`scenario`]: JSON scenarios driven through the epoch as subtensor's epoch tests do (what
//!   `verifier yuma` runs).
//! * [`weights`]: client-side weight processing as the Python SDK does it, and `version_key`.
//! * [`commit_reveal`]: which submission path a subnet needs (`set_weights`, commit-reveal v2,
//!   timelocked v4), the v2 commit hash, and the timelocked commit.
//! * [`tlock`]: timelock encryption to a drand quicknet round, in the runtime's ciphertext layout.
//! * [`reveal_round`]: the block a timelocked commit is revealed in, and its drand round.
//!
//! Everything here is pure: no I/O, no clock, no network; randomness and the time are passed in.
//! (The subxt client lives elsewhere.)
//!
//! ```
//! use chain::scenario::Scenario;
//!
//! let scenario = Scenario::from_json(r#"{
//!     "n": 3, "stakes": [10, 0, 0], "emission": 1000,
//!     "epochs": [{"set_weights": [{"uid": 0, "dests": [1, 2], "weights": [1, 3]}]}]
//! }"#)?;
//! let result = scenario.run()?;
//! // The one validator's weights become consensus; its max-upscaled 1:3 split is 0.25 : 0.75.
//! assert_eq!(result.epochs[0].incentive, vec![0, 16383, 49151]);
//! # Ok::<(), chain::scenario::ScenarioError>(())
//! ```

#![deny(missing_docs)]
// Hostile input (scenario files, chain state) must never reach an unchecked index.
#![deny(clippy::indexing_slicing)]

pub mod bonds;
pub mod commit_reveal;
pub mod consensus;
pub mod epoch;
pub mod hyperparams;
pub mod masks;
pub mod math;
pub mod reveal_round;
pub mod scenario;
pub mod tlock;
pub mod weights;

pub use epoch::{EpochError, EpochOutput, SubnetState, run_epoch};
pub use hyperparams::Hyperparameters;
pub use scenario::{Scenario, ScenarioError, ScenarioResult};
