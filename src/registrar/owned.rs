//! The table of the PEs a registrar owns, bounded by `OWNED` entries.
//!
//! Without `alloc` it is a fixed `heapless` index map (which holds at most
//! 65,536 entries, `OWNED` must be a power of two up to that); with `alloc`
//! a `hashbrown` map that grows with the PEs actually owned, so that
//! `OWNED` may be any bound (a host registrar owning 100,000 PEs and more)
//! and an idle registrar does not carry the whole table.

use core::hash::Hash;
#[cfg(feature = "alloc")]
use core::hash::{BuildHasherDefault, Hasher};

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
