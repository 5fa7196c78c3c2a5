//! Cheating miners, for tests and the local network: each [`Adversary`] is one way a miner might
//! try to get paid for work it did not do, built from the honest server's own parts so that the
//! verifier faces real QUIC, real signatures and real trees. A real cheater can write any of
//! these; having them here only lets us prove each is caught, with the verdict docs/design.md gives.
//!
//! Selected with `miner-host serve --adversary KIND` (hidden from `--help`) or
//! [`ServerSettings::adversary`](super::ServerSettings::adversary).
//!
//! None of them is a branch inside the honest code: a cheat in the results or the time lives
//! in a backend wrapper ([`Adversary::wrap_backend`]: corrupted outputs, claimed devices
//! computed on fewer real ones, a `membw` buffer partly regenerated), a cheat in the protocol
//! wraps the honest [`MinerSession`] behind the same [`Responder`] trait
//! ([`Adversary::wrap_session`]: forged or replayed commitments, garbage, stalls, hang-ups),
//! and the few that shape a whole connection (what the inventory claims, going dark, silence)
//! are asked by the server through [`Adversary::claims`], [`Adversary::inflated_backend`],
//! [`Adversary::refuses_connection`] and [`Adversary::is_silent`]. The bandwidth probe is a
//! stream of its own kind: its cheats replace how the probe's bytes are moved
//! (`Adversary::probe_conduct`, the `ProbeConduct` strategy in `probe.rs`: acknowledging
//! without reading, a throttled link).

mod backend;
mod probe;
mod session;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use challenge_runtime::Backend;
use protocol::GpuInfo;

use self::backend::{Cheat, CheatingBackend, Corruption};
use self::session::{Cheater, SessionCheat};
use crate::serve::probe::conduct::{Honest, ProbeConduct};
use crate::session::{MinerSession, Responder};
pub use session::{ConnectionMemory, ServerMemory};

/// The name [`Adversary::UnknownNames`] gives every GPU: a class table maps it to no class.
pub const UNKNOWN_NAME: &str = "NVIDIA Imaginary X1";

/// One way of cheating.
#[derive(Debug, Clone, PartialEq)]
pub enum Adversary {
    /// Computes honestly but one tile (leaf 0 of output 0) is wrong; the tree is built over the
    /// wrong bytes, so only the content check can catch it.
    WrongTile,
    /// Leaves a fraction of the leaves uncomputed (random bytes), the tree built over them.
    SkipFraction(f64),
    /// Answers a challenge with the commitment it signed for an earlier one.
    ReplayCommitment,
    /// Signs its commitments with a key other than the session key it proved.
    ForgeSignature,
    /// Computes honestly, then waits this long before committing.
    Slow(Duration),
    /// Claims every device under this driver name (e.g. a faster or slower class).
    ClaimName(String),
    /// Claims its devices but computes all of them on device 0, one after another.
    Serial,
    /// Commits, then hangs up once it sees which leaves are asked for.
    HangUpOnOpen,
    /// Answers `Go` with bytes that are not a frame.
    Garbage,
    /// Answers `Go` with a frame header announcing a commitment far over its limit.
    Oversized,
    /// Completes the handshake, then never answers anything (slowloris).
    Silent,
    /// Sends half of its `Openings` frame, then drops the connection.
    DropMidOpening,
    /// Lists device 0 twice in its inventory (two entries with the same index); otherwise
    /// honest.
    DuplicateIndex,
    /// Claims no GPU at all (it still has its devices, and serves them if asked).
    EmptyInventory,
    /// Names every GPU [`UNKNOWN_NAME`], which maps to no class; otherwise honest.
    UnknownNames,
    /// Serves honestly for the first `N` connections whose handshake completed, then goes dark
    /// as an unreachable miner would: every later connection attempt is refused at the QUIC
    /// level at once (`CONNECTION_REFUSED`, before any handshake), and a connection already in
    /// its handshake when the `N`-th completed is closed as soon as its handshake completes.
    /// The first `N` connections are served to their end.
    GoDark(u32),
    /// On each connection, the first module hash seen in a `Prepare` (that the gate accepts)
    /// is served with its `Ready` delayed by this long, then honestly; every `Prepare` for any
    /// other module on that connection is never answered (its stream is held open, nothing
    /// read, until the connection ends). A miner that stalls the last module of a round,
    /// hoping a missing verdict costs less than a failing one.
    StallLastModule(Duration),
    /// Answers every `Prepare` with `busy-device` (a miner hoping "busy" is never charged).
    BusyForever,
    /// A miner that passed once and then rents out its machine while claiming more: the first
    /// connection whose handshake completes sees its real devices, honestly; every later
    /// connection's inventory claims `N` devices (indices `0..N`, device 0's name and memory,
    /// distinct made-up UUIDs), every one of them computed on real device 0, one after another.
    RentedInflate(u32),
    /// Claims `N` devices (device 0's name and memory, made-up UUIDs) and computes all of them
    /// on the compute of one: every device operation of every claimed device takes one lock,
    /// so their challenges interleave on one device's time. Each commitment is held back until
    /// every claimed device's run of that module is done (as long as a validator waits), so
    /// they arrive together, as concurrent devices' would. The backend must have `N` devices
    /// to hold the buffers (a CPU backend started with `--devices N`); it is their compute
    /// that is faked.
    SerialShare(u32),
    /// Keeps only this fraction of every `membw` buffer and regenerates the rest from the PRF
    /// each time a pass needs it (a card with less memory than it claims); its results are
    /// exact, only its time can give it away.
    Regenerate(f64),
    /// Answers the first `Prepare` of each module on a connection at once and holds every other
    /// device's `Ready` back this long, so that (it hopes) each claimed device is started on its
    /// own and one GPU can answer for all of them in turn.
    StaggerReady(Duration),
    /// Acknowledges bandwidth probes without reading them: a download's receipt claims every
    /// byte at once (the hash of nothing), an upload sends zeros instead of the seed's stream.
    ProbeFake,
    /// A link throttled to this many Mbit/s over all its probe streams (writes and reads
    /// paced), honest otherwise.
    ProbeSlow(f64),
}

impl Adversary {
    /// Every kind's name, as [`FromStr`] takes them (`skip`, `slow`, `go-dark`,
    /// `stall-last-module`, `rented-inflate`, `serial-share`, `regenerate` and `probe-slow`
    /// take defaults).
    pub const KINDS: [&'static str; 24] = [
        "wrong-tile",
        "skip",
        "replay",
        "forge",
        "slow",
        "claim",
        "serial",
        "hang-up",
        "garbage",
        "oversized",
        "silent",
        "drop-mid-opening",
        "duplicate-index",
        "empty-inventory",
        "unknown-names",
        "go-dark",
        "stall-last-module",
        "busy-forever",
        "rented-inflate",
        "serial-share",
        "regenerate",
        "stagger-ready",
        "probe-fake",
        "probe-slow",
    ];

    /// `go-dark`'s default: serve one connection.
    pub const DEFAULT_GO_DARK_AFTER: u32 = 1;
    /// `stall-last-module`'s default delay of the first module's `Ready`, seconds.
    pub const DEFAULT_STALL_S: f64 = 55.0;
    /// `rented-inflate`'s default claimed device count.
    pub const DEFAULT_INFLATED_DEVICES: u32 = 64;
    /// `serial-share`'s default claimed device count.
    pub const DEFAULT_SHARED_DEVICES: u32 = 2;
    /// `stagger-ready`'s default hold of every `Ready` but the first, seconds (past the
    /// verifier's 2 s `Go` barrier, within the miner's 5 s reservation).
    pub const DEFAULT_STAGGER_S: f64 = 3.0;
    /// `regenerate`'s default kept fraction of the `membw` buffer.
    pub const DEFAULT_KEPT_FRACTION: f64 = 0.5;
    /// `probe-slow`'s default link speed, Mbit/s.
    pub const DEFAULT_PROBE_MBIT: f64 = 20.0;
    /// How long `serial-share` holds a commitment for its siblings at most.
    pub const SHARE_HOLD: Duration = Duration::from_secs(30);

    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::WrongTile => "wrong-tile",
            Self::SkipFraction(_) => "skip",
            Self::ReplayCommitment => "replay",
            Self::ForgeSignature => "forge",
            Self::Slow(_) => "slow",
            Self::ClaimName(_) => "claim",
            Self::Serial => "serial",
            Self::HangUpOnOpen => "hang-up",
            Self::Garbage => "garbage",
            Self::Oversized => "oversized",
            Self::Silent => "silent",
            Self::DropMidOpening => "drop-mid-opening",
            Self::DuplicateIndex => "duplicate-index",
            Self::EmptyInventory => "empty-inventory",
            Self::UnknownNames => "unknown-names",
            Self::GoDark(_) => "go-dark",
            Self::StallLastModule(_) => "stall-last-module",
            Self::BusyForever => "busy-forever",
            Self::RentedInflate(_) => "rented-inflate",
            Self::SerialShare(_) => "serial-share",
            Self::Regenerate(_) => "regenerate",
            Self::StaggerReady(_) => "stagger-ready",
            Self::ProbeFake => "probe-fake",
            Self::ProbeSlow(_) => "probe-slow",
        }
    }

    /// How this miner moves bandwidth-probe bytes: the honest way for every kind but the probe
    /// cheats (`probe-fake`, `probe-slow`).
    pub(crate) fn probe_conduct(&self) -> std::sync::Arc<dyn ProbeConduct> {
        match self {
            Self::ProbeFake => Arc::new(probe::Fake),
            Self::ProbeSlow(mbit) => Arc::new(probe::Paced::new(*mbit)),
            _ => Arc::new(Honest),
        }
    }

    /// The GPUs this adversary claims, given the honest entries (the inventory of every
    /// connection, except later connections of [`RentedInflate`](Self::RentedInflate), whose
    /// inventory comes from [`inflated_backend`](Self::inflated_backend)).
    pub fn claims(&self, mut gpus: Vec<GpuInfo>) -> Vec<GpuInfo> {
        match self {
            Self::ClaimName(name) => gpus.iter_mut().for_each(|g| g.name.clone_from(name)),
            Self::UnknownNames => gpus.iter_mut().for_each(|g| g.name = UNKNOWN_NAME.into()),
            Self::EmptyInventory => gpus.clear(),
            Self::DuplicateIndex => {
                if let Some(zero) = gpus.iter().position(|g| g.index == 0)
                    && let Some(copy) = gpus.get(zero).cloned()
                {
                    gpus.insert(zero + 1, copy);
                }
            }
            _ => {}
        }
        gpus
    }

    /// The backend later connections of [`RentedInflate`](Self::RentedInflate) run on: it
    /// reports `N` devices and runs every one of them on `inner`'s device 0, waiting for it to
    /// be free. `None` for every other kind.
    pub fn inflated_backend(&self, inner: &Arc<dyn Backend>) -> Option<Arc<dyn Backend>> {
        match self {
            Self::RentedInflate(n) => Some(Arc::new(CheatingBackend::new(
                Arc::clone(inner),
                Cheat::Inflate(*n),
            ))),
            _ => None,
        }
    }

    /// Wraps the honest backend as this adversary needs (most need nothing).
    pub fn wrap_backend(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
        let cheat = match self {
            Self::WrongTile => Cheat::Corrupt(Corruption::FirstLeaf),
            Self::SkipFraction(p) => Cheat::Corrupt(Corruption::Fraction(*p)),
            Self::Serial => Cheat::Serial,
            Self::SerialShare(n) => Cheat::Share(*n),
            Self::Regenerate(keep) => Cheat::Regenerate(*keep),
            _ => return inner,
        };
        Arc::new(CheatingBackend::new(inner, cheat))
    }

    /// The responder for one challenge: the honest `session`, wrapped when this adversary
    /// cheats in the protocol (`server` and `connection` are what it remembers across the
    /// server's and the connection's challenges).
    pub fn wrap_session(
        &self,
        session: MinerSession,
        server: &Arc<ServerMemory>,
        connection: &Arc<ConnectionMemory>,
    ) -> Box<dyn Responder> {
        let cheat = match self {
            Self::Garbage => SessionCheat::RawAnswer(session::garbage()),
            Self::Oversized => SessionCheat::RawAnswer(session::oversized()),
            Self::Slow(delay) => SessionCheat::Slow(*delay),
            Self::ForgeSignature => {
                SessionCheat::Forge(protocol::ed25519_dalek::SigningKey::from_bytes(&[0x66; 32]))
            }
            Self::ReplayCommitment => SessionCheat::Replay,
            Self::HangUpOnOpen => SessionCheat::HangUpOnOpen,
            Self::DropMidOpening => SessionCheat::DropMidOpening,
            Self::StallLastModule(delay) => SessionCheat::StallLastModule(*delay),
            Self::BusyForever => SessionCheat::BusyForever,
            Self::SerialShare(_) => SessionCheat::HoldForSiblings(Self::SHARE_HOLD),
            Self::StaggerReady(delay) => SessionCheat::StaggerReady(*delay),
            _ => return Box::new(session),
        };
        Box::new(Cheater::new(
            session,
            cheat,
            Arc::clone(server),
            Arc::clone(connection),
        ))
    }

    /// Whether a connection whose handshake is the `completed`-th (0-based) to complete is
    /// refused (`go-dark` past its count).
    pub fn refuses_connection(&self, completed: u64) -> bool {
        matches!(self, Self::GoDark(n) if completed >= u64::from(*n))
    }

    /// Whether connections are held without a word after the handshake (`silent`).
    pub fn is_silent(&self) -> bool {
        matches!(self, Self::Silent)
    }
}

impl FromStr for Adversary {
    type Err = String;

    /// `wrong-tile`, `skip[:P]` (default 0.5), `replay`, `forge`, `slow[:SECONDS]` (default 5),
    /// `claim:NAME`, `serial`, `hang-up`, `garbage`, `oversized`, `silent`, `drop-mid-opening`,
    /// `duplicate-index`, `empty-inventory`, `unknown-names`, `go-dark[:N]` (default 1),
    /// `stall-last-module[:SECONDS]` (default 55), `busy-forever`, `rented-inflate[:N]`
    /// (default 64, at most [`MAX_GPUS`](protocol::limits::MAX_GPUS)), `serial-share[:N]`
    /// (default 2, at least 2), `regenerate[:KEPT]` (default 0.5, below 1), `probe-fake`,
    /// `probe-slow[:MBPS]` (default 20 Mbit/s, above 0). Seconds are capped at an hour.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, arg) = s.split_once(':').map_or((s, None), |(k, a)| (k, Some(a)));
        let number = |default: f64| -> Result<f64, String> {
            arg.map_or(Ok(default), |a| {
                a.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| format!("{kind}: {a:?} is not a non-negative number"))
            })
        };
        let count = |default: u32| -> Result<u32, String> {
            arg.map_or(Ok(default), |a| {
                a.parse::<u32>()
                    .map_err(|_| format!("{kind}: {a:?} is not a whole number"))
            })
        };
        let no_arg = |v: Self| -> Result<Self, String> {
            match arg {
                Some(a) => Err(format!("{kind} takes no argument (got {a:?})")),
                None => Ok(v),
            }
        };
        Ok(match kind {
            "duplicate-index" => no_arg(Self::DuplicateIndex)?,
            "empty-inventory" => no_arg(Self::EmptyInventory)?,
            "unknown-names" => no_arg(Self::UnknownNames)?,
            "go-dark" => Self::GoDark(count(Self::DEFAULT_GO_DARK_AFTER)?),
            "stall-last-module" => Self::StallLastModule(Duration::from_secs_f64(
                number(Self::DEFAULT_STALL_S)?.min(3600.0),
            )),
            "busy-forever" => no_arg(Self::BusyForever)?,
            "probe-fake" => no_arg(Self::ProbeFake)?,
            "probe-slow" => {
                let mbit = number(Self::DEFAULT_PROBE_MBIT)?;
                if mbit <= 0.0 {
                    return Err(format!(
                        "probe-slow: {mbit} Mbit/s; give a link speed above 0 (probe-slow:20)"
                    ));
                }
                Self::ProbeSlow(mbit)
            }
            "serial-share" => {
                let n = count(Self::DEFAULT_SHARED_DEVICES)?;
                let max = protocol::limits::MAX_GPUS;
                if n < 2 || usize::try_from(n).map_or(true, |n| n > max) {
                    return Err(format!(
                        "serial-share: {n} devices; claim 2 to {max} (one device shared by them)"
                    ));
                }
                Self::SerialShare(n)
            }
            "stagger-ready" => Self::StaggerReady(Duration::from_secs_f64(
                number(Self::DEFAULT_STAGGER_S)?.min(3600.0),
            )),
            "regenerate" => {
                let keep = number(Self::DEFAULT_KEPT_FRACTION)?;
                if keep >= 1.0 {
                    return Err(format!(
                        "regenerate: kept fraction {keep}; keep less than 1 (at 1 nothing is \
                         regenerated)"
                    ));
                }
                Self::Regenerate(keep)
            }
            "rented-inflate" => {
                let n = count(Self::DEFAULT_INFLATED_DEVICES)?;
                let max = protocol::limits::MAX_GPUS;
                if n == 0 || usize::try_from(n).map_or(true, |n| n > max) {
                    return Err(format!(
                        "rented-inflate: {n} devices; claim 1 to {max} (an inventory holds at \
                         most {max})"
                    ));
                }
                Self::RentedInflate(n)
            }
            "wrong-tile" => Self::WrongTile,
            "skip" => {
                let p = number(0.5)?;
                if p > 1.0 {
                    return Err(format!("skip: fraction {p} is over 1"));
                }
                Self::SkipFraction(p)
            }
            "replay" => Self::ReplayCommitment,
            "forge" => Self::ForgeSignature,
            "slow" => Self::Slow(Duration::from_secs_f64(number(5.0)?.min(3600.0))),
            "claim" => Self::ClaimName(
                arg.filter(|a| !a.is_empty())
                    .ok_or("claim needs a device name: claim:NAME")?
                    .to_string(),
            ),
            "serial" => Self::Serial,
            "hang-up" => Self::HangUpOnOpen,
            "garbage" => Self::Garbage,
            "oversized" => Self::Oversized,
            "silent" => Self::Silent,
            "drop-mid-opening" => Self::DropMidOpening,
            other => {
                return Err(format!(
                    "unknown adversary {other:?}; one of {}",
                    Self::KINDS.join(", ")
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use challenge_runtime::BackendError;
    use challenge_runtime::cpu::{CpuBackend, CpuConfig};
    use challenges::commitment::CHUNK_LEN;

    #[test]
    fn every_kind_parses_with_its_defaults_and_names_itself() {
        for kind in Adversary::KINDS {
            let text = if kind == "claim" { "claim:X" } else { kind };
            let parsed: Adversary = text.parse().unwrap();
            assert_eq!(parsed.kind(), kind);
        }
        assert_eq!("go-dark".parse(), Ok(Adversary::GoDark(1)));
        assert_eq!("go-dark:3".parse(), Ok(Adversary::GoDark(3)));
        assert_eq!("go-dark:0".parse(), Ok(Adversary::GoDark(0)));
        assert_eq!(
            "stall-last-module".parse(),
            Ok(Adversary::StallLastModule(Duration::from_secs(55)))
        );
        assert_eq!(
            "stall-last-module:2.5".parse(),
            Ok(Adversary::StallLastModule(Duration::from_millis(2500)))
        );
        assert_eq!("rented-inflate".parse(), Ok(Adversary::RentedInflate(64)));
        assert_eq!("rented-inflate:8".parse(), Ok(Adversary::RentedInflate(8)));
        assert_eq!("busy-forever".parse(), Ok(Adversary::BusyForever));
        assert_eq!("duplicate-index".parse(), Ok(Adversary::DuplicateIndex));
        assert_eq!("empty-inventory".parse(), Ok(Adversary::EmptyInventory));
        assert_eq!("unknown-names".parse(), Ok(Adversary::UnknownNames));
        assert_eq!("probe-fake".parse(), Ok(Adversary::ProbeFake));
        assert_eq!("probe-slow".parse(), Ok(Adversary::ProbeSlow(20.0)));
        assert_eq!("probe-slow:2.5".parse(), Ok(Adversary::ProbeSlow(2.5)));
    }

    #[test]
    fn bad_arguments_are_refused_with_the_kind_named() {
        for bad in [
            "go-dark:-1",
            "go-dark:x",
            "go-dark:1.5",
            "stall-last-module:-2",
            "stall-last-module:soon",
            "rented-inflate:0",
            "rented-inflate:65",
            "rented-inflate:many",
            "serial-share:1",
            "serial-share:65",
            "regenerate:1",
            "regenerate:-0.5",
            "busy-forever:1",
            "empty-inventory:2",
            "probe-fake:1",
            "probe-slow:0",
            "probe-slow:-3",
            "probe-slow:fast",
        ] {
            let err = bad.parse::<Adversary>().unwrap_err();
            let kind = bad.split(':').next().unwrap();
            assert!(err.contains(kind), "{bad}: {err}");
        }
        let err = "go-bright".parse::<Adversary>().unwrap_err();
        assert!(err.contains("rented-inflate"), "{err}");
    }

    fn gpu(index: u32) -> GpuInfo {
        GpuInfo {
            index,
            name: "NVIDIA H100 80GB HBM3".into(),
            uuid: format!("GPU-{index}"),
            memory_bytes: 80 << 30,
            pci_bus_id: String::new(),
            pcie_gen: None,
            pcie_width: None,
        }
    }

    #[test]
    fn inventory_shapes() {
        let honest = vec![gpu(0), gpu(1)];
        let dup = Adversary::DuplicateIndex.claims(honest.clone());
        assert_eq!(
            dup.iter().map(|g| g.index).collect::<Vec<_>>(),
            [0, 0, 1],
            "device 0 listed twice, the rest as it is"
        );
        assert_eq!(dup[0], dup[1]);
        assert!(Adversary::EmptyInventory.claims(honest.clone()).is_empty());
        let unknown = Adversary::UnknownNames.claims(honest.clone());
        assert!(unknown.iter().all(|g| g.name == UNKNOWN_NAME));
        assert_eq!(unknown.len(), 2);
        // Kinds that do not touch the inventory leave it as it is.
        for kind in [
            Adversary::BusyForever,
            Adversary::GoDark(1),
            Adversary::RentedInflate(8),
            Adversary::StallLastModule(Duration::from_secs(1)),
        ] {
            assert_eq!(kind.claims(honest.clone()), honest, "{}", kind.kind());
        }
    }

    /// A CPU backend with one one-thread device of 64 MiB.
    fn one_cpu_device() -> Arc<dyn Backend> {
        Arc::new(
            CpuBackend::new(CpuConfig {
                devices: 1,
                threads_per_device: 1,
                memory_bytes: 64 << 20,
            })
            .unwrap(),
        )
    }

    #[test]
    fn the_inflated_backend_claims_n_devices_and_computes_them_all_on_device_0() {
        let inner = one_cpu_device();
        assert!(Adversary::Serial.inflated_backend(&inner).is_none());
        let inflated = Adversary::RentedInflate(5)
            .inflated_backend(&inner)
            .unwrap();
        let devices = inflated.devices();
        let zero = inner.devices().remove(0);
        assert_eq!(
            devices.iter().map(|d| d.index).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert!(devices.iter().all(|d| d.name == zero.name));
        assert!(devices.iter().all(|d| d.memory_bytes == zero.memory_bytes));
        let uuids: std::collections::BTreeSet<_> =
            devices.iter().map(|d| d.uuid.clone().unwrap()).collect();
        assert_eq!(uuids.len(), 5, "distinct made-up UUIDs");
        // Claimed device 3 is real device 0: while it is open, real device 0 is busy.
        let session = inflated.open(3).unwrap();
        assert_eq!(session.device(), 0);
        assert!(matches!(inner.open(0), Err(BackendError::Busy(0))));
        drop(session);
        assert!(inner.open(0).is_ok());
        assert!(matches!(
            inflated.open(5),
            Err(BackendError::NoDevice { index: 5, count: 5 })
        ));
    }

    #[test]
    fn a_skipping_miner_skips_at_least_one_leaf_of_every_output() {
        let inner = one_cpu_device();
        let cheat = Adversary::SkipFraction(0.5).wrap_backend(Arc::clone(&inner));
        // Outputs of one to six leaves, many keys: the per-leaf draw alone left some of them
        // wholly honest; every one must now differ from the honest commitment.
        for leaves in 1..=6u64 {
            for seed in 0..32u8 {
                let key = challenges::prf::key(&[seed; 32], 0);
                let commit = |backend: &Arc<dyn Backend>| {
                    let mut session = backend.open(0).unwrap();
                    let buf = session.alloc(leaves * CHUNK_LEN as u64).unwrap();
                    session
                        .prf_fill(buf, 0, leaves * CHUNK_LEN as u64, key, 1, 0)
                        .unwrap();
                    session.commit(buf).unwrap().root
                };
                assert_ne!(
                    commit(&cheat),
                    commit(&inner),
                    "{leaves} leaves, seed {seed}"
                );
            }
        }
    }
}
