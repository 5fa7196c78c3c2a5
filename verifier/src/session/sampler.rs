//! The leaves to open: drawn uniformly with replacement over all leaves of all outputs, from
//! randomness the caller passes in after the commitment arrived.
//!
//! The session never reads a random source itself (it stays deterministic for tests); in
//! production the caller passes a closure over the OS random source, so the miner cannot
//! predict the leaves before it has committed.

use protocol::LeafRef;

use super::layout::OutputLayout;

/// Rejection rounds before [`uniform_below`] falls back to a plain remainder. Each round
/// rejects with probability below 1/4 (the layout has at most 2^62 leaves), so the fallback is
/// taken with probability below 2^-128 for a working source, and only bounds the loop for a
/// broken one.
const MAX_REJECTIONS: u32 = 64;

/// A draw from `0..n` (`n` of 0 is read as 1), uniform when `next` gives uniform `u64`s.
///
/// Uses rejection sampling (no modulo bias); always returns after at most
/// 65 calls of `next`, even for a source stuck in the rejected zone.
pub fn uniform_below(n: u64, next: &mut dyn FnMut() -> u64) -> u64 {
    let n = n.max(1);
    // The largest multiple of n that fits: values at or above it are rejected.
    let zone = u64::MAX - (u64::MAX % n);
    let mut value = next();
    for _ in 0..MAX_REJECTIONS {
        if value < zone {
            break;
        }
        value = next();
    }
    value % n
}

/// `count` leaves drawn uniformly with replacement from all leaves of `layout`, in draw order.
///
/// Guarantee: every leaf returned exists in the layout, and each draw consumes one
/// [`uniform_below`] draw over `0..layout.total_leaves()`.
pub fn draw_leaves(
    layout: &OutputLayout,
    count: u32,
    next: &mut dyn FnMut() -> u64,
) -> Vec<LeafRef> {
    let total = layout.total_leaves();
    (0..count)
        .map(|_| {
            let global = uniform_below(total, next);
            layout
                .locate(global)
                .unwrap_or(LeafRef { output: 0, leaf: 0 })
        })
        .collect()
}

/// A 32-byte salt (four draws of `next`, little-endian): the verifier's secret from which a
/// sampling module picks the positions it checks inside a leaf. Never sent to the miner.
pub fn draw_salt(next: &mut dyn FnMut() -> u64) -> [u8; 32] {
    let mut salt = [0u8; 32];
    for word in salt.chunks_exact_mut(8) {
        word.copy_from_slice(&next().to_le_bytes());
    }
    salt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_skips_the_biased_zone() {
        // n = 3: zone = u64::MAX - (u64::MAX % 3) = u64::MAX; u64::MAX itself is rejected.
        let mut values = [u64::MAX, 7].into_iter();
        assert_eq!(uniform_below(3, &mut || values.next().unwrap_or(0)), 1);
        // A stuck source still terminates.
        assert_eq!(uniform_below(3, &mut || u64::MAX), u64::MAX % 3);
        assert_eq!(uniform_below(0, &mut || 5), 0);
    }

    #[test]
    fn draws_cover_every_leaf() {
        let layout = OutputLayout::uniform(2, 3 * 1024).unwrap();
        let mut counter = 0u64;
        let leaves = draw_leaves(&layout, 6, &mut || {
            counter += 1;
            counter - 1
        });
        let expected: Vec<_> = (0..6).map(|g| layout.locate(g).unwrap()).collect();
        assert_eq!(leaves, expected);
    }
}
