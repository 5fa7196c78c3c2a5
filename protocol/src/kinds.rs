//! [`KindSet`]: a set of [`MessageKind`]s, and the kinds each [`Role`] sends.
//!
//! A decoder that knows its peer's role admits only the kinds that role sends
//! ([`FrameDecoder::for_peer`](crate::FrameDecoder::for_peer)): a frame of any other kind is
//! refused from its header, before a payload byte is buffered. So a miner cannot make a
//! verifier buffer a `Prepare`-sized frame (megabytes of module bytes), and a validator cannot
//! make a miner buffer an `Openings`-sized one.
//!
//! | kind | miner sends | validator sends |
//! |---|---|---|
//! | `Hello`, `Certificate`, `Error` | yes | yes |
//! | `Inventory` | yes (handshake) | |
//! | `Ready`, `PhaseDone`, `Commitment`, `Openings` | yes | |
//! | `Pong` | yes (control stream) | |
//! | `ProbeTicket`, `ProbeChunk` | yes (the ticket; the receipt of a download) | |
//! | `Prepare`, `Go`, `PhaseKey`, `Open` | | yes |
//! | `Ping` | | yes (control stream) |
//! | `ProbeRequest` | | yes |
//!
//! The bulk bytes of a bandwidth probe run over TCP, not in `ProbeChunk` frames, so a
//! validator sends no `ProbeChunk`.
#![deny(clippy::indexing_slicing)]

use std::fmt;

use crate::frame::MessageKind;
use crate::messages::Role;

/// A set of [`MessageKind`]s (a bit per tag). Cheap to copy; usable in `const` items.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KindSet {
    bits: u32,
}

/// The bit of `kind` in a [`KindSet`].
const fn bit(kind: MessageKind) -> u32 {
    match 1u32.checked_shl(kind.tag() as u32) {
        Some(bit) => bit,
        None => 0,
    }
}

// Every tag has its own bit: a tag of 32 or more would need a wider set.
const _: () = {
    let mut rest: &[MessageKind] = &MessageKind::ALL;
    while let [kind, tail @ ..] = rest {
        assert!(kind.tag() < 32, "a tag does not fit KindSet's bits");
        rest = tail;
    }
};

impl KindSet {
    /// No kind.
    pub const EMPTY: KindSet = KindSet { bits: 0 };

    /// Every kind ([`MessageKind::ALL`]): what a decoder accepts unless told otherwise.
    pub const ALL: KindSet = KindSet::of(&MessageKind::ALL);

    /// The kinds a miner sends: its handshake (`Hello`, `Certificate`, `Inventory`), a
    /// challenge's answers (`Ready`, `Commitment`, `Openings`), `Pong` on the control stream,
    /// the probe's `ProbeTicket` and `ProbeChunk` (the receipt of a download), and `Error`.
    pub const MINER_SENDS: KindSet = KindSet::of(&[
        MessageKind::Hello,
        MessageKind::Certificate,
        MessageKind::Inventory,
        MessageKind::Ready,
        MessageKind::PhaseDone,
        MessageKind::Commitment,
        MessageKind::Openings,
        MessageKind::Pong,
        MessageKind::ProbeTicket,
        MessageKind::ProbeChunk,
        MessageKind::Error,
    ]);

    /// The kinds a validator sends: its handshake (`Hello`, `Certificate`), a challenge's
    /// requests (`Prepare`, `Go`, `Open`), `Ping` on the control stream, `ProbeRequest`, and
    /// `Error`.
    pub const VALIDATOR_SENDS: KindSet = KindSet::of(&[
        MessageKind::Hello,
        MessageKind::Certificate,
        MessageKind::Prepare,
        MessageKind::Go,
        MessageKind::PhaseKey,
        MessageKind::Open,
        MessageKind::Ping,
        MessageKind::ProbeRequest,
        MessageKind::Error,
    ]);

    /// The set holding exactly `kinds`.
    pub const fn of(kinds: &[MessageKind]) -> Self {
        let mut set = Self::EMPTY;
        let mut rest = kinds;
        while let [kind, tail @ ..] = rest {
            set = set.with(*kind);
            rest = tail;
        }
        set
    }

    /// The kinds a peer of `role` sends ([`MINER_SENDS`](Self::MINER_SENDS) or
    /// [`VALIDATOR_SENDS`](Self::VALIDATOR_SENDS)).
    pub const fn sent_by(role: Role) -> Self {
        match role {
            Role::Miner => Self::MINER_SENDS,
            Role::Validator => Self::VALIDATOR_SENDS,
        }
    }

    /// This set with `kind` added.
    pub const fn with(self, kind: MessageKind) -> Self {
        Self {
            bits: self.bits | bit(kind),
        }
    }

    /// This set with `kind` removed.
    pub const fn without(self, kind: MessageKind) -> Self {
        Self {
            bits: self.bits & !bit(kind),
        }
    }

    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: MessageKind) -> bool {
        self.bits & bit(kind) != 0
    }

    /// The kinds in both sets.
    pub const fn intersection(self, other: KindSet) -> Self {
        Self {
            bits: self.bits & other.bits,
        }
    }

    /// The kinds in either set.
    pub const fn union(self, other: KindSet) -> Self {
        Self {
            bits: self.bits | other.bits,
        }
    }

    /// Whether the set holds no kind.
    pub const fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// The kinds in the set, in tag order.
    pub fn iter(self) -> impl Iterator<Item = MessageKind> {
        MessageKind::ALL
            .into_iter()
            .filter(move |kind| self.contains(*kind))
    }

    /// The largest payload any kind in the set may carry (0 for the empty set).
    pub fn max_payload(self) -> usize {
        self.iter().map(MessageKind::max_payload).max().unwrap_or(0)
    }
}

impl FromIterator<MessageKind> for KindSet {
    fn from_iter<I: IntoIterator<Item = MessageKind>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

/// `{Hello, Certificate, ...}`, by kind name in tag order.
impl fmt::Display for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, kind) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(kind.name())?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KindSet{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{MAX_OPENINGS_PAYLOAD, MAX_PREPARE_PAYLOAD};

    #[test]
    fn every_kind_is_sent_by_some_role_and_only_the_shared_ones_by_both() {
        assert_eq!(
            KindSet::MINER_SENDS.union(KindSet::VALIDATOR_SENDS),
            KindSet::ALL
        );
        assert_eq!(
            KindSet::MINER_SENDS.intersection(KindSet::VALIDATOR_SENDS),
            KindSet::of(&[
                MessageKind::Hello,
                MessageKind::Certificate,
                MessageKind::Error
            ])
        );
        assert_eq!(KindSet::ALL.iter().count(), MessageKind::ALL.len());
    }

    #[test]
    fn a_miner_sends_nothing_the_size_of_a_prepare() {
        let miner = KindSet::sent_by(Role::Miner);
        assert!(!miner.contains(MessageKind::Prepare));
        assert!(miner.contains(MessageKind::Commitment));
        assert_eq!(miner.max_payload(), MAX_OPENINGS_PAYLOAD);
        let validator = KindSet::sent_by(Role::Validator);
        assert!(!validator.contains(MessageKind::Openings));
        assert!(!validator.contains(MessageKind::ProbeChunk));
        assert_eq!(validator.max_payload(), MAX_PREPARE_PAYLOAD);
    }

    #[test]
    fn set_operations_and_display() {
        let set: KindSet = [MessageKind::Pong, MessageKind::Hello]
            .into_iter()
            .collect();
        assert_eq!(set.to_string(), "{Hello, Pong}");
        assert_eq!(format!("{set:?}"), "KindSet{Hello, Pong}");
        assert!(set.without(MessageKind::Hello).contains(MessageKind::Pong));
        assert!(!set.without(MessageKind::Hello).contains(MessageKind::Hello));
        assert!(KindSet::EMPTY.is_empty());
        assert_eq!(KindSet::EMPTY.max_payload(), 0);
        assert_eq!(KindSet::EMPTY.to_string(), "{}");
    }
}
