//! The table of the PEs a registrar owns, bounded by `OWNED` entries.
//!
//! Without `alloc` it is a fixed `heapless` index map (which holds at most
//! 65,536 entries, `OWNED` must be a power of two up to that); with `alloc`
//! a `hashbrown` map that grows with the PEs actually owned, so that
//! `OWNED` may be any bound (a host registrar owning 100,000 PEs and more)
//! and an idle registrar does not carry the whole table.

use core::hash::Hash;

use crate::time::Instant;
#[cfg(feature = "alloc")]
use core::hash::{BuildHasherDefault, Hasher};

/// The most ENDPOINT_UNREACHABLE reports an owned PE's state counts
/// (2^31 − 1); further reports leave it there.
pub(super) const MAX_COUNTED_REPORTS: u32 = (1 << 31) - 1;

/// The claim-home flag's bit in [`OwnedPe`]'s report word.
const CLAIM_HOME: u32 = 1 << 31;

/// The registrar's state for a PE it owns, in 12 bytes aligned to 4 (so
/// that an entry of the table, with its 4-byte PE key, is 16 bytes rather
/// than 24): when its registration life ends, as the microseconds of an
/// [`Instant`] in two words (exact, [`Instant::MAX`] included), and one
/// word with the ENDPOINT_UNREACHABLE reports counted since the PE last
/// answered a keep-alive (low 31 bits, saturating at
/// [`MAX_COUNTED_REPORTS`]) and whether the next keep-alive carries H=1
/// (top bit; after a takeover).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct OwnedPe {
    lifetime_low: u32,
    lifetime_high: u32,
    reports_and_claim: u32,
}

impl OwnedPe {
    /// A PE whose registration life ends at `lifetime` ([`Instant::MAX`]:
    /// never), with no reports.
    pub(super) const fn new(lifetime: Instant, claim_home: bool) -> Self {
        let us = lifetime.as_micros();
        OwnedPe {
            lifetime_low: us as u32,
            lifetime_high: (us >> 32) as u32,
            reports_and_claim: if claim_home { CLAIM_HOME } else { 0 },
        }
    }

    /// When its registration life ends ([`Instant::MAX`]: never).
    pub(super) const fn lifetime(&self) -> Instant {
        Instant::from_micros(((self.lifetime_high as u64) << 32) | self.lifetime_low as u64)
    }

    /// ENDPOINT_UNREACHABLE reports counted since the PE last answered a
    /// keep-alive (at most [`MAX_COUNTED_REPORTS`]).
    pub(super) const fn reports(&self) -> u32 {
        self.reports_and_claim & !CLAIM_HOME
    }

    /// Counts one more report (saturating at [`MAX_COUNTED_REPORTS`]).
    pub(super) fn add_report(&mut self) {
        if self.reports() < MAX_COUNTED_REPORTS {
            self.reports_and_claim += 1;
        }
    }

    /// The PE answered: its reports are disproved.
    pub(super) fn clear_reports(&mut self) {
        self.reports_and_claim &= CLAIM_HOME;
    }

    /// The next keep-alive carries H=1 (after a takeover).
    pub(super) const fn claim_home(&self) -> bool {
        self.reports_and_claim & CLAIM_HOME != 0
    }

    /// Sets whether the next keep-alive carries H=1.
    pub(super) fn set_claim_home(&mut self, claim: bool) {
        if claim {
            self.reports_and_claim |= CLAIM_HOME;
        } else {
            self.reports_and_claim &= !CLAIM_HOME;
        }
    }
}

/// The hasher of the heap table: keys are the handlespace's own node
/// numbers (never chosen by a peer), so a multiplicative hash of them is
/// enough, and, unlike a randomly keyed one, it can be built in a
/// `const fn`.
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct IdHasher(u64);

#[cfg(feature = "alloc")]
impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // hashbrown takes its control bits from the top and its bucket
        // from the bottom: fold the well-mixed upper half down.
        self.0 ^ (self.0 >> 32)
    }
}

/// See the [module](self) documentation: PE (`K`) → state (`V`).
pub(super) struct OwnedTable<K, V, const OWNED: usize> {
    #[cfg(feature = "alloc")]
    map: hashbrown::HashMap<K, V, BuildHasherDefault<IdHasher>>,
    #[cfg(not(feature = "alloc"))]
    map: heapless::index_map::FnvIndexMap<K, V, OWNED>,
}

impl<K: Eq + Hash, V, const OWNED: usize> OwnedTable<K, V, OWNED> {
    pub(super) const fn new() -> Self {
        OwnedTable {
            #[cfg(feature = "alloc")]
            map: hashbrown::HashMap::with_hasher(BuildHasherDefault::new()),
            #[cfg(not(feature = "alloc"))]
            map: heapless::index_map::FnvIndexMap::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    pub(super) fn contains_key(&self, pe: &K) -> bool {
        self.map.contains_key(pe)
    }

    pub(super) fn get(&self, pe: &K) -> Option<&V> {
        self.map.get(pe)
    }

    pub(super) fn get_mut(&mut self, pe: &K) -> Option<&mut V> {
        self.map.get_mut(pe)
    }

    /// Inserts or replaces; `Err` (nothing changed) when a new PE finds
    /// `OWNED` entries already.
    pub(super) fn insert(&mut self, pe: K, state: V) -> Result<(), ()> {
        #[cfg(feature = "alloc")]
        {
            if self.map.len() >= OWNED && !self.map.contains_key(&pe) {
                return Err(());
            }
            self.map.insert(pe, state);
            Ok(())
        }
        #[cfg(not(feature = "alloc"))]
        {
            self.map.insert(pe, state).map(|_| ()).map_err(|_| ())
        }
    }

    pub(super) fn swap_remove(&mut self, pe: &K) -> Option<V> {
        #[cfg(feature = "alloc")]
        {
            self.map.remove(pe)
        }
        #[cfg(not(feature = "alloc"))]
        {
            self.map.swap_remove(pe)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pe(i: u32) -> u32 {
        i
    }

    #[test]
    fn owned_pe_is_twelve_bytes_and_keeps_every_field() {
        assert_eq!(core::mem::size_of::<OwnedPe>(), 12);
        assert_eq!(
            core::mem::size_of::<(crate::handlespace::PeRef, OwnedPe)>(),
            16
        );
        for t in [
            Instant::ZERO,
            Instant::from_micros(1),
            Instant::from_micros(u64::from(u32::MAX)),
            Instant::from_micros(u64::from(u32::MAX) + 1),
            Instant::from_micros(0x1234_5678_9ABC_DEF0),
            Instant::from_micros(u64::MAX - 1),
            Instant::MAX,
        ] {
            for claim in [false, true] {
                let o = OwnedPe::new(t, claim);
                assert_eq!(o.lifetime(), t);
                assert_eq!(o.claim_home(), claim);
                assert_eq!(o.reports(), 0);
            }
        }
        let mut o = OwnedPe::new(Instant::MAX, true);
        for n in 1..=5 {
            o.add_report();
            assert_eq!(o.reports(), n);
        }
        assert!(o.claim_home());
        o.set_claim_home(false);
        assert_eq!(o.reports(), 5);
        assert!(!o.claim_home());
        assert_eq!(o.lifetime(), Instant::MAX);
        o.set_claim_home(true);
        o.clear_reports();
        assert_eq!(o.reports(), 0);
        assert!(o.claim_home());
    }

    #[test]
    fn owned_pe_reports_saturate_without_touching_the_flag() {
        let mut o = OwnedPe::new(Instant::from_secs(3), false);
        o.reports_and_claim = MAX_COUNTED_REPORTS - 1;
        o.add_report();
        assert_eq!(o.reports(), MAX_COUNTED_REPORTS);
        o.add_report();
        assert_eq!(o.reports(), MAX_COUNTED_REPORTS);
        assert!(!o.claim_home());
        o.set_claim_home(true);
        o.add_report();
        assert_eq!(o.reports(), MAX_COUNTED_REPORTS);
        assert!(o.claim_home());
        assert_eq!(o.lifetime(), Instant::from_secs(3));
    }

    #[test]
    fn bounded_by_owned() {
        let mut t = OwnedTable::<u32, (u32, u32), 4>::new();
        let s = (1, 0);
        for i in 0..4 {
            assert!(t.insert(pe(i), s).is_ok());
        }
        assert!(t.insert(pe(9), s).is_err());
        // Replacing an entry needs no room.
        assert!(t.insert(pe(3), (1, 2)).is_ok());
        assert_eq!(t.get(&pe(3)), Some(&(1, 2)));
        t.get_mut(&pe(3)).unwrap().1 = 5;
        assert_eq!(t.get(&pe(3)), Some(&(1, 5)));
        assert_eq!(t.len(), 4);
        assert!(t.swap_remove(&pe(0)).is_some());
        assert!(!t.contains_key(&pe(0)));
        assert!(t.insert(pe(9), s).is_ok());
        assert_eq!(t.len(), 4);
    }
}
