//! Judging the `Openings`: the right challenge, one opening per requested leaf in order, every
//! tree path leading to its committed root, then every leaf recomputed by the checker.
//!
//! All paths are checked before any leaf is recomputed (a path costs a few hashes, a check a
//! sandbox call), and judging stops at the first failure, which the result names.

use challenge_runtime::CheckVerdict;
use challenges::abi::CheckRequest;
use challenges::commitment::{NodePair, Opening, verify_opening};
use protocol::{Digest, LeafRef, OpeningWire, Openings};

use super::checker::{CheckInput, LeafChecker};
use super::error::SessionError;
use super::layout::OutputLayout;
use super::verdict::{Cause, bounded};

/// What the session committed to check once the `Commitment` arrived.
#[derive(Debug, Clone)]
pub(crate) struct Requested {
    /// Digest of our signed `Go` (what every later message must cite).
    pub(crate) go: Digest,
    /// The challenge seed.
    pub(crate) seed: [u8; 32],
    /// The committed roots, checked to be one per output of the layout.
    pub(crate) roots: Vec<[u8; 32]>,
    /// The leaves asked for, in order.
    pub(crate) leaves: Vec<LeafRef>,
    /// One secret salt per leaf, for sampling modules.
    pub(crate) salts: Vec<[u8; 32]>,
    /// The seeds of the phases after the first, from the nonces we sent (empty for one phase).
    pub(crate) phase_seeds: Vec<[u8; 32]>,
}

/// The outcome of judging openings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Judgement {
    /// Every requested leaf was opened, its path verified and its content checked.
    AllRight {
        /// Leaves checked.
        checked: u32,
    },
    /// The first thing found wrong.
    Wrong {
        /// What.
        cause: Cause,
        /// The leaf, when one is to blame.
        leaf: Option<LeafRef>,
        /// For a person.
        detail: String,
    },
}

impl Judgement {
    fn wrong(cause: Cause, leaf: Option<LeafRef>, detail: impl Into<String>) -> Self {
        Self::Wrong {
            cause,
            leaf,
            detail: bounded(detail),
        }
    }
}

/// The challenge's fixed facts a judgement needs besides the request.
pub(crate) struct Context<'a> {
    pub(crate) layout: &'a OutputLayout,
    pub(crate) module_hash: &'a protocol::ModuleHash,
    pub(crate) params: &'a [u8],
    pub(crate) samples: u32,
}

impl Requested {
    /// Judges `openings` against this request. `Err` only for the checker's own failure.
    pub(crate) fn judge(
        &self,
        context: &Context<'_>,
        openings: &Openings,
        checker: &dyn LeafChecker,
    ) -> Result<Judgement, SessionError> {
        if openings.challenge != self.go {
            return Ok(Judgement::wrong(
                Cause::OtherChallenge,
                None,
                format!(
                    "openings answer challenge {}, ours is {}",
                    openings.challenge, self.go
                ),
            ));
        }
        if openings.openings.len() != self.leaves.len() {
            return Ok(Judgement::wrong(
                Cause::OpeningCount,
                None,
                format!(
                    "{} leaves requested, {} opened",
                    self.leaves.len(),
                    openings.openings.len()
                ),
            ));
        }
        let mut verified = Vec::with_capacity(self.leaves.len());
        for (wanted, wire) in self.leaves.iter().zip(&openings.openings) {
            match self.verify_path(context.layout, *wanted, wire) {
                Ok(opening) => verified.push((*wanted, opening)),
                Err(wrong) => return Ok(wrong),
            }
        }
        let input = CheckInput {
            module_hash: context.module_hash,
            seed: self.seed,
            params: context.params,
            roots: &self.roots,
            phase_seeds: &self.phase_seeds,
        };
        let mut checked = 0u32;
        for ((leaf, opening), salt) in verified.iter().zip(&self.salts) {
            let request = CheckRequest {
                output: leaf.output,
                leaf: leaf.leaf,
                samples: context.samples,
                salt: *salt,
                chunk: &opening.chunk,
            };
            let verdict =
                checker
                    .check_leaf(&input, &request)
                    .map_err(|source| SessionError::Checker {
                        leaf: *leaf,
                        source,
                    })?;
            if verdict == CheckVerdict::Fail {
                return Ok(Judgement::wrong(
                    Cause::WrongContent,
                    Some(*leaf),
                    format!(
                        "output {} leaf {}: the content is not what the module recomputes",
                        leaf.output, leaf.leaf
                    ),
                ));
            }
            checked = checked.saturating_add(1);
        }
        Ok(Judgement::AllRight { checked })
    }

    /// The opening of `wanted`, if `wire` is for that leaf and its path leads to the root.
    fn verify_path(
        &self,
        layout: &OutputLayout,
        wanted: LeafRef,
        wire: &OpeningWire,
    ) -> Result<Opening, Judgement> {
        if wire.output != wanted.output || wire.leaf != wanted.leaf {
            return Err(Judgement::wrong(
                Cause::OtherLeaf,
                Some(wanted),
                format!(
                    "output {} leaf {} requested, output {} leaf {} opened",
                    wanted.output, wanted.leaf, wire.output, wire.leaf
                ),
            ));
        }
        // The root count was checked against the layout when the commitment arrived, and
        // every requested output exists in the layout.
        let root = usize::try_from(wanted.output)
            .ok()
            .and_then(|i| self.roots.get(i))
            .ok_or_else(|| {
                Judgement::wrong(Cause::RootCount, Some(wanted), "no root for that output")
            })?;
        let opening = Opening {
            chunk: wire.chunk.clone(),
            path: wire
                .path
                .iter()
                .map(|pair| NodePair {
                    left: pair.left,
                    right: pair.right,
                })
                .collect(),
        };
        let root = blake3::Hash::from_bytes(*root);
        verify_opening(&root, layout.output_bytes(), wanted.leaf, &opening).map_err(|e| {
            Judgement::wrong(
                Cause::BadPath,
                Some(wanted),
                format!("output {}: {e}", wanted.output),
            )
        })?;
        Ok(opening)
    }
}
