//! [`ProbeDesk`]: the outstanding probes of one server and the places they hold.
//!
//! A probe holds a **place** from before its data is generated until every one of its tokens
//! was redeemed, withdrawn or expired. At most [`MAX_PENDING_PROBES`] places are held at once
//! over all validators (each may hold a generated upload of up to `max_probe_bytes`), and at
//! most [`MAX_PENDING_PER_VALIDATOR`] by one validator hotkey, so a validator holding tickets
//! it never redeems cannot keep another validator from probing (its probes count for the
//! miner's score: issue #24).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use protocol::Hotkey;

use super::Job;

/// Probes outstanding at once, over all validators: data being generated or tokens not yet
/// redeemed (each may hold a generated upload of up to `max_probe_bytes`).
pub const MAX_PENDING_PROBES: usize = 2;

/// Probes one validator may have outstanding at once.
pub const MAX_PENDING_PER_VALIDATOR: usize = 1;

/// One token of an issued ticket.
pub(crate) struct Pending {
    /// What its connection is for.
    pub(crate) job: Job,
    /// The validator's IP address: only a connection from it may redeem the token.
    pub(crate) peer_ip: IpAddr,
    /// When the token lapses.
    pub(crate) expires: Instant,
    /// The probe it belongs to (its place).
    pub(crate) probe: u64,
    /// The validator that asked.
    pub(crate) validator: Hotkey,
}

/// The outstanding probes of one server.
#[derive(Default)]
pub(crate) struct ProbeDesk {
    inner: Mutex<DeskInner>,
}

#[derive(Default)]
struct DeskInner {
    /// Tokens issued, by token.
    pending: HashMap<[u8; 32], Pending>,
    /// Places held by probes whose job is still being prepared (upload data generated), by
    /// probe id.
    preparing: BTreeMap<u64, Hotkey>,
    /// The next probe id.
    next: u64,
}

impl DeskInner {
    /// Every place held: the probes preparing and those with a live token.
    fn places(&self) -> BTreeMap<u64, Hotkey> {
        let mut places = self.preparing.clone();
        for p in self.pending.values() {
            places.insert(p.probe, p.validator);
        }
        places
    }
}

/// Why no place was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoPlace {
    /// [`MAX_PENDING_PROBES`] are outstanding.
    Full,
    /// This validator has [`MAX_PENDING_PER_VALIDATOR`] outstanding.
    Yours,
}

/// A place among the [`MAX_PENDING_PROBES`], held from before the probe's data is generated
/// until its tokens are filed (or given back when dropped unfiled).
pub(crate) struct Place<'a> {
    desk: &'a ProbeDesk,
    probe: u64,
    validator: Hotkey,
    held: bool,
}

impl Place<'_> {
    /// Files the probe's tokens in this place, each with its job, good for one connection from
    /// `peer_ip` until `expires`.
    pub(crate) fn file(
        mut self,
        tokens: impl IntoIterator<Item = ([u8; 32], Job)>,
        peer_ip: IpAddr,
        expires: Instant,
    ) {
        if let Ok(mut inner) = self.desk.inner.lock() {
            inner.preparing.remove(&self.probe);
            for (token, job) in tokens {
                let pending = Pending {
                    job,
                    peer_ip,
                    expires,
                    probe: self.probe,
                    validator: self.validator,
                };
                inner.pending.insert(token, pending);
            }
        }
        self.held = false;
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.held
            && let Ok(mut inner) = self.desk.inner.lock()
        {
            inner.preparing.remove(&self.probe);
        }
    }
}

impl ProbeDesk {
    /// A place for a new probe of `validator`, unless [`MAX_PENDING_PROBES`] are outstanding or
    /// it has [`MAX_PENDING_PER_VALIDATOR`] (expired tokens are dropped first). Taken before
    /// anything is generated.
    pub(crate) fn place(&self, validator: Hotkey) -> Result<Place<'_>, NoPlace> {
        let mut inner = self.inner.lock().map_err(|_| NoPlace::Full)?;
        let now = Instant::now();
        inner.pending.retain(|_, p| p.expires > now);
        let places = inner.places();
        if places.len() >= MAX_PENDING_PROBES {
            return Err(NoPlace::Full);
        }
        if places.values().filter(|v| **v == validator).count() >= MAX_PENDING_PER_VALIDATOR {
            return Err(NoPlace::Yours);
        }
        let probe = inner.next;
        inner.next = inner.next.wrapping_add(1);
        inner.preparing.insert(probe, validator);
        Ok(Place {
            desk: self,
            probe,
            validator,
            held: true,
        })
    }

    /// Takes the job of `token` if it is live and was issued to `peer_ip`.
    pub(crate) fn take(&self, token: &[u8; 32], peer_ip: IpAddr) -> Option<Job> {
        let mut inner = self.inner.lock().ok()?;
        let live = inner
            .pending
            .get(token)
            .is_some_and(|p| p.peer_ip == peer_ip.to_canonical() && p.expires > Instant::now());
        if !live {
            return None;
        }
        inner.pending.remove(token).map(|p| p.job)
    }

    /// Withdraws these tokens (those not yet redeemed).
    pub(crate) fn cancel(&self, tokens: &[[u8; 32]]) {
        if let Ok(mut inner) = self.inner.lock() {
            for token in tokens {
                inner.pending.remove(token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn upload() -> Job {
        Job::Upload {
            data: Arc::new(vec![1, 2, 3]),
            offset: 0,
            len: 3,
        }
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn places_are_limited_per_validator_and_in_all_and_freed_by_redeeming() {
        let desk = ProbeDesk::default();
        let (a, b, c) = (
            Hotkey::new([1; 32]),
            Hotkey::new([2; 32]),
            Hotkey::new([3; 32]),
        );
        let later = Instant::now() + Duration::from_secs(60);
        let first = desk.place(a).unwrap();
        assert_eq!(desk.place(a).err(), Some(NoPlace::Yours));
        first.file([([1; 32], upload()), ([2; 32], upload())], IP, later);
        assert_eq!(desk.place(a).err(), Some(NoPlace::Yours));
        let second = desk.place(b).unwrap();
        assert_eq!(desk.place(c).err(), Some(NoPlace::Full));
        // Dropped unfiled: its place is back.
        drop(second);
        let second = desk.place(b).unwrap();
        second.file([([3; 32], upload())], IP, later);
        // Another address, or a wrong token, redeems nothing.
        assert!(desk.take(&[1; 32], "127.0.0.2".parse().unwrap()).is_none());
        assert!(desk.take(&[9; 32], IP).is_none());
        // The first probe holds its place until both its tokens are redeemed.
        assert!(desk.take(&[1; 32], IP).is_some());
        assert!(desk.take(&[1; 32], IP).is_none(), "a token is good once");
        assert_eq!(desk.place(c).err(), Some(NoPlace::Full));
        assert!(desk.take(&[2; 32], IP).is_some());
        let third = desk.place(c).unwrap();
        drop(third);
        // Withdrawn tokens free their place too.
        desk.cancel(&[[3; 32]]);
        assert!(desk.place(b).is_ok());
    }

    #[test]
    fn expired_tokens_free_their_place_and_redeem_nothing() {
        let desk = ProbeDesk::default();
        let a = Hotkey::new([1; 32]);
        let place = desk.place(a).unwrap();
        place.file([([1; 32], upload())], IP, Instant::now());
        std::thread::sleep(Duration::from_millis(5));
        assert!(desk.take(&[1; 32], IP).is_none());
        assert!(desk.place(a).is_ok());
    }
}
