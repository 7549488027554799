//! Where a handlespace keeps its records: fixed capacities without heap, or
//! growable arenas and a hash index with `alloc`.

use core::fmt;

use super::checksum::finish;
use super::node::{ExtraAddress, PeNode, PoolNode};
use crate::id::{PeId, PoolHandle, ServerId};
use crate::storage::arena::{Arena, CapacityError, FixedArena};
use crate::storage::NodeId;
#[cfg(feature = "alloc")]
use crate::storage::NIL;

/// The storage of a handlespace: one arena for PEs, one for pools, one for
/// the addresses beyond a first IPv4 one of each transport, an optional pool-handle
/// index and the owner table.
pub trait Storage: 'static {
    /// The PE arena.
    type Pes<L: Copy + Default + 'static>: Arena<PeNode<L>> + Default;
    /// The pool arena.
    type Pools<L: Copy + Default + 'static, R: Copy + Default + 'static>: Arena<PoolNode<L, R>>
        + Default;
    /// The arena of further addresses.
    type Addrs: Arena<ExtraAddress> + Default;
    /// The pool-handle index.
    type PoolMap: PoolMap + Default;
    /// The (pool, PE id) index.
    type PeMap: PeMap + Default;
    /// The per-owner checksum table.
    type Owners: OwnerTable + Default;
}

/// A fast pool-handle index kept next to the pool tree, or none.
pub trait PoolMap {
    /// Whether lookups go through this index (otherwise through the pool tree).
    const ENABLED: bool;
    /// The pool with this handle.
    fn get(&self, handle: &PoolHandle) -> Option<NodeId>;
    /// Records a new pool.
    fn insert(&mut self, handle: PoolHandle, pool: NodeId);
    /// Forgets a pool.
    fn remove(&mut self, handle: &PoolHandle);
}

/// No index: pools are found in the pool tree (O(log pools)).
#[derive(Clone, Copy, Debug, Default)]
pub struct TreePoolLookup;

impl PoolMap for TreePoolLookup {
    const ENABLED: bool = false;
    fn get(&self, _handle: &PoolHandle) -> Option<NodeId> {
        None
    }
    fn insert(&mut self, _handle: PoolHandle, _pool: NodeId) {}
    fn remove(&mut self, _handle: &PoolHandle) {}
}

/// A hash index from pool handle to pool (feature `alloc`).
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, Default)]
pub struct HashPoolLookup {
    map: hashbrown::HashMap<PoolHandle, NodeId>,
}

#[cfg(feature = "alloc")]
impl PoolMap for HashPoolLookup {
    const ENABLED: bool = true;
    #[inline]
    fn get(&self, handle: &PoolHandle) -> Option<NodeId> {
        self.map.get(handle).copied()
    }
    fn insert(&mut self, handle: PoolHandle, pool: NodeId) {
        self.map.insert(handle, pool);
    }
    fn remove(&mut self, handle: &PoolHandle) {
        self.map.remove(handle);
    }
}

/// A fast (pool, PE id) index kept next to each pool's id order, or none.
///
/// The index may chain PEs through their records (`PeNode::map_next`), so
/// each call is given the PE arena.
pub trait PeMap {
    /// Whether lookups go through this index (otherwise through the pool's
    /// id order, O(log n)).
    const ENABLED: bool;
    /// The PE with this id in this pool.
    fn get<L, A: Arena<PeNode<L>>>(&self, pes: &A, pool: NodeId, pe_id: PeId) -> Option<NodeId>;
    /// Records PE `pe` (in the arena, with its pool and id set).
    fn insert<L, A: Arena<PeNode<L>>>(&mut self, pes: &mut A, pe: NodeId);
    /// Forgets PE `pe` (still in the arena).
    fn remove<L, A: Arena<PeNode<L>>>(&mut self, pes: &mut A, pe: NodeId);
    /// The number of PEs recorded.
    fn len(&self) -> usize;
    /// Whether no PE is recorded.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// No index: PEs are found in their pool's id order.
#[derive(Clone, Copy, Debug, Default)]
pub struct TreePeLookup;

impl PeMap for TreePeLookup {
    const ENABLED: bool = false;
    fn get<L, A: Arena<PeNode<L>>>(&self, _: &A, _: NodeId, _: PeId) -> Option<NodeId> {
        None
    }
    fn insert<L, A: Arena<PeNode<L>>>(&mut self, _: &mut A, _: NodeId) {}
    fn remove<L, A: Arena<PeNode<L>>>(&mut self, _: &mut A, _: NodeId) {}
    fn len(&self) -> usize {
        0
    }
}

/// A hash index from (pool, PE id) to PE (feature `alloc`): one memory
/// access to a bucket, then the PE records chained through the bucket,
/// instead of a tree descent, for registration, re-registration,
/// deregistration and lookup.
///
/// The chains run through the PE records themselves, so the index costs a
/// 4-byte bucket per PE or two (the bucket count is the next power of two
/// at or above the PE count; it doubles, rehashing every PE once, when the
/// PEs outnumber the buckets). The hash is seeded per index, so PE ids
/// chosen by peers cannot be aimed at one chain.
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, Default)]
pub struct HashPeLookup {
    buckets: alloc::vec::Vec<NodeId>,
    len: usize,
    hasher: hashbrown::DefaultHashBuilder,
}

#[cfg(feature = "alloc")]
impl HashPeLookup {
    /// The fewest buckets of a non-empty index.
    const MIN_BUCKETS: usize = 64;

    #[inline]
    fn bucket(&self, pool: NodeId, pe_id: PeId) -> usize {
        use core::hash::BuildHasher;
        // A power of two: the low bits of a well-mixed hash.
        (self.hasher.hash_one((pool, pe_id.get())) as usize) & (self.buckets.len() - 1)
    }

    fn link<L, A: Arena<PeNode<L>>>(&mut self, pes: &mut A, pe: NodeId) {
        let (pool, pe_id) = (pes[pe].pool, pes[pe].pe_id);
        let b = self.bucket(pool, pe_id);
        pes[pe].map_next = self.buckets[b];
        self.buckets[b] = pe;
    }

    /// Doubles the buckets and relinks every PE.
    fn grow<L, A: Arena<PeNode<L>>>(&mut self, pes: &mut A) {
        let size = (self.buckets.len() * 2).max(Self::MIN_BUCKETS);
        let old = core::mem::replace(&mut self.buckets, alloc::vec![NIL; size]);
        for mut n in old {
            while n != NIL {
                let next = pes[n].map_next;
                self.link(pes, n);
                n = next;
            }
        }
    }
}

#[cfg(feature = "alloc")]
impl PeMap for HashPeLookup {
    const ENABLED: bool = true;
    #[inline]
    fn get<L, A: Arena<PeNode<L>>>(&self, pes: &A, pool: NodeId, pe_id: PeId) -> Option<NodeId> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut n = self.buckets[self.bucket(pool, pe_id)];
        while n != NIL {
            let pe = &pes[n];
            if pe.pe_id == pe_id && pe.pool == pool {
                return Some(n);
            }
            n = pe.map_next;
        }
        None
    }
    #[inline]
    fn insert<L, A: Arena<PeNode<L>>>(&mut self, pes: &mut A, pe: NodeId) {
        if self.len >= self.buckets.len() {
            self.grow(pes);
        }
        self.link(pes, pe);
        self.len += 1;
    }
    #[inline]
    fn remove<L, A: Arena<PeNode<L>>>(&mut self, pes: &mut A, pe: NodeId) {
        if self.buckets.is_empty() {
            return;
        }
        let b = self.bucket(pes[pe].pool, pes[pe].pe_id);
        let next = pes[pe].map_next;
        if self.buckets[b] == pe {
            self.buckets[b] = next;
        } else {
            let mut n = self.buckets[b];
            while n != NIL {
                let after = pes[n].map_next;
                if after == pe {
                    pes[n].map_next = next;
                    break;
                }
                n = after;
            }
            if n == NIL {
                return;
            }
        }
        pes[pe].map_next = NIL;
        self.len -= 1;
    }
    fn len(&self) -> usize {
        self.len
    }
}

/// One owner registrar's PE count and checksum accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnerEntry {
    /// The owner.
    pub owner: ServerId,
    /// How many PEs it owns.
    pub count: u32,
    sum: u64,
}

impl OwnerEntry {
    /// The owner's PE checksum.
    pub fn checksum(&self) -> u16 {
        finish(self.sum)
    }
}

/// The per-owner table: PE count and checksum accumulator of every registrar
/// that owns at least one PE. Bounded; an entry goes when its last PE does.
pub trait OwnerTable {
    /// The most owners.
    fn capacity(&self) -> usize;
    /// The entries.
    fn entries(&self) -> &[OwnerEntry];
    /// The entry of `owner`.
    fn get(&self, owner: ServerId) -> Option<&OwnerEntry> {
        self.entries().iter().find(|e| e.owner == owner)
    }
    /// Whether a PE of `owner` can be added.
    fn can_add(&self, owner: ServerId) -> bool {
        self.entries().len() < self.capacity() || self.get(owner).is_some()
    }
    /// Adds a PE with checksum block sum `block`.
    fn add(&mut self, owner: ServerId, block: u64) -> Result<(), CapacityError>;
    /// Removes a PE added before.
    fn remove(&mut self, owner: ServerId, block: u64);
    /// Gives everything `from` owns to `to`.
    fn transfer(&mut self, from: ServerId, to: ServerId);
    /// Forgets every owner.
    fn clear(&mut self);
}

/// An owner table of at most `N` registrars, without heap.
#[derive(Clone, Default)]
pub struct Owners<const N: usize> {
    entries: heapless::Vec<OwnerEntry, N>,
}

impl<const N: usize> fmt::Debug for Owners<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter()).finish()
    }
}

impl<const N: usize> Owners<N> {
    /// An empty table.
    pub const fn new() -> Self {
        Owners {
            entries: heapless::Vec::new(),
        }
    }

    fn position(&self, owner: ServerId) -> Option<usize> {
        self.entries.iter().position(|e| e.owner == owner)
    }
}

impl<const N: usize> OwnerTable for Owners<N> {
    fn capacity(&self) -> usize {
        N
    }
    fn entries(&self) -> &[OwnerEntry] {
        &self.entries
    }
    fn add(&mut self, owner: ServerId, block: u64) -> Result<(), CapacityError> {
        match self.position(owner) {
            Some(i) => {
                let e = &mut self.entries[i];
                e.count += 1;
                e.sum += block;
                Ok(())
            }
            None => self
                .entries
                .push(OwnerEntry {
                    owner,
                    count: 1,
                    sum: block,
                })
                .map_err(|_| CapacityError),
        }
    }
    fn remove(&mut self, owner: ServerId, block: u64) {
        if let Some(i) = self.position(owner) {
            let e = &mut self.entries[i];
            e.count -= 1;
            e.sum -= block;
            if e.count == 0 {
                self.entries.swap_remove(i);
            }
        }
    }
    fn transfer(&mut self, from: ServerId, to: ServerId) {
        let Some(i) = self.position(from) else {
            return;
        };
        match self.position(to) {
            Some(j) => {
                let moved = self.entries.swap_remove(i);
                // swap_remove moved the last entry into i; find `to` again.
                let j = if j == self.entries.len() { i } else { j };
                let e = &mut self.entries[j];
                e.count += moved.count;
                e.sum += moved.sum;
            }
            None => self.entries[i].owner = to,
        }
    }
    fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Fixed capacities, no heap: at most `PES` pool elements, `POOLS` pools,
/// `ADDRS` addresses beyond a first IPv4 address of each transport (an IPv6
/// first address takes one) and `OWNERS` owner registrars.
#[derive(Debug)]
pub enum Fixed<const PES: usize, const POOLS: usize, const ADDRS: usize, const OWNERS: usize> {}

impl<const PES: usize, const POOLS: usize, const ADDRS: usize, const OWNERS: usize>
    Fixed<PES, POOLS, ADDRS, OWNERS>
{
    /// This storage's capacities, by name.
    pub const CAPACITY: crate::capacity::StorageCapacity = crate::capacity::StorageCapacity {
        pes: PES,
        pools: POOLS,
        addresses: ADDRS,
        owners: OWNERS,
    };
}

impl<const PES: usize, const POOLS: usize, const ADDRS: usize, const OWNERS: usize> Storage
    for Fixed<PES, POOLS, ADDRS, OWNERS>
{
    type Pes<L: Copy + Default + 'static> = FixedArena<PeNode<L>, PES>;
    type Pools<L: Copy + Default + 'static, R: Copy + Default + 'static> =
        FixedArena<PoolNode<L, R>, POOLS>;
    type Addrs = FixedArena<ExtraAddress, ADDRS>;
    type PoolMap = TreePoolLookup;
    type PeMap = TreePeLookup;
    type Owners = Owners<OWNERS>;
}

/// The most owner registrars a [`Growable`] handlespace tracks.
#[cfg(feature = "alloc")]
pub const GROWABLE_MAX_OWNERS: usize = 256;

/// Growable arenas and hash indexes (pools, PEs) on the heap (feature `alloc`); the owner
/// table holds at most [`GROWABLE_MAX_OWNERS`] registrars.
#[cfg(feature = "alloc")]
#[derive(Debug)]
pub enum Growable {}

#[cfg(feature = "alloc")]
impl Storage for Growable {
    type Pes<L: Copy + Default + 'static> = crate::storage::arena::GrowableArena<PeNode<L>>;
    type Pools<L: Copy + Default + 'static, R: Copy + Default + 'static> =
        crate::storage::arena::GrowableArena<PoolNode<L, R>>;
    type Addrs = crate::storage::arena::GrowableArena<ExtraAddress>;
    type PoolMap = HashPoolLookup;
    type PeMap = HashPeLookup;
    type Owners = Owners<GROWABLE_MAX_OWNERS>;
}
