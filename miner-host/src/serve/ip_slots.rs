//! [`IpSlots`]: at most `per_ip` connections held at once from one IP address, so one host
//! cannot take every place of a listener. A taken [`IpSlot`] gives its place back when dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts of connections held per address, with a cap.
#[derive(Debug, Clone)]
pub(crate) struct IpSlots {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    per_ip: usize,
}

/// One place held by an address; released on drop.
#[derive(Debug)]
pub(crate) struct IpSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl IpSlots {
    /// At most `per_ip` places per address (IPv4-mapped IPv6 counts as its IPv4 address).
    pub(crate) fn new(per_ip: usize) -> Self {
        Self {
            counts: Arc::default(),
            per_ip,
        }
    }

    /// A place for `ip`, or `None` when it holds `per_ip` already.
    pub(crate) fn take(&self, ip: IpAddr) -> Option<IpSlot> {
        let ip = ip.to_canonical();
        let mut map = self.counts.lock().ok()?;
        let held = map.entry(ip).or_insert(0);
        if *held >= self.per_ip {
            return None;
        }
        *held += 1;
        Some(IpSlot {
            counts: Arc::clone(&self.counts),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.counts.lock()
            && let Some(held) = map.get_mut(&self.ip)
        {
            *held = held.saturating_sub(1);
            if *held == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn places_are_capped_per_address_and_given_back() {
        let slots = IpSlots::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = slots.take(a).unwrap();
        let _second = slots.take(mapped).unwrap();
        assert!(
            slots.take(a).is_none(),
            "the mapped form counts as the same host"
        );
        assert!(slots.take(b).is_some(), "another host has its own places");
        drop(first);
        assert!(slots.take(a).is_some());
    }
}
