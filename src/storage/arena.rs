//! Arenas of nodes addressed by [`NodeId`].
//!
//! An arena hands out small integer handles for the values it stores and
//! reuses freed slots through a free list threaded through the empty slots.
//! Capacity is explicit: [`Arena::insert`] returns [`CapacityError`] when the
//! arena is full, it never panics and never grows beyond its limit.
//!
//! * [`FixedArena`] keeps its slots in a `heapless::Vec`: no heap, a `const`
//!   constructor (so it can live in a `static`) and no big initialisation.
//! * `GrowableArena` (feature `alloc`) grows in fixed-size chunks of
//!   [`CHUNK_SLOTS`] slots, so memory follows the number of values closely and
//!   nothing is ever copied when it grows.
//!
//! Indexing (`arena[id]`) is the hot path; it panics only if `id` names a free
//! slot, which is a caller bug (a stale handle).
//!
#![cfg_attr(not(feature = "alloc"), doc = "[`CHUNK_SLOTS`]: crate#features")]

use core::fmt;
use core::ops::{Index, IndexMut};

use super::{NodeId, NIL};

/// The arena is full (or the handle space of [`NodeId`] is exhausted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CapacityError;

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("capacity exhausted")
    }
}

impl core::error::Error for CapacityError {}

/// The largest number of slots any arena may have: every [`NodeId`] below
/// [`NIL`].
pub const MAX_SLOTS: usize = NIL as usize;

/// A store of values addressed by [`NodeId`], with explicit capacity.
pub trait Arena<T>: Index<NodeId, Output = T> + IndexMut<NodeId> {
    /// The value at `id`, or `None` if the slot is free or out of range.
    fn get(&self, id: NodeId) -> Option<&T>;
    /// The value at `id` for changing, or `None` if the slot is free.
    fn get_mut(&mut self, id: NodeId) -> Option<&mut T>;
    /// Stores `value` and returns its handle, or gives the value back with
    /// the error if the arena is full.
    fn insert(&mut self, value: T) -> Result<NodeId, (CapacityError, T)>;
    /// Takes the value at `id` out and frees the slot.
    fn remove(&mut self, id: NodeId) -> Option<T>;
    /// The number of values stored.
    fn len(&self) -> usize;
    /// Whether nothing is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The most values the arena may ever hold.
    fn capacity(&self) -> usize;
    /// How many more values fit.
    fn free_slots(&self) -> usize {
        self.capacity() - self.len()
    }
    /// Drops every value.
    fn clear(&mut self);
}

/// One slot: a value, or the next free slot.
#[derive(Clone, Debug)]
enum Slot<T> {
    Used(T),
    Free(NodeId),
}

#[cold]
#[inline(never)]
fn free_slot(id: NodeId) -> ! {
    panic!("arena slot {id} is free (stale handle)")
}

/// A fixed-capacity arena of `N` slots without heap.
///
/// `new` is `const` and initialises nothing but a length, so a large arena
/// can be a `static` or sit inside a bigger structure without a stack copy.
pub struct FixedArena<T, const N: usize> {
    slots: heapless::Vec<Slot<T>, N>,
    free_head: NodeId,
    len: u32,
}

impl<T, const N: usize> FixedArena<T, N> {
    /// An empty arena.
    pub const fn new() -> Self {
        assert!(N < MAX_SLOTS, "arena capacity exceeds the NodeId range");
        FixedArena {
            slots: heapless::Vec::new(),
            free_head: NIL,
            len: 0,
        }
    }
}

impl<T, const N: usize> Default for FixedArena<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> fmt::Debug for FixedArena<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedArena")
            .field("len", &self.len)
            .field("capacity", &N)
            .finish()
    }
}

impl<T, const N: usize> Index<NodeId> for FixedArena<T, N> {
    type Output = T;
    #[inline]
    fn index(&self, id: NodeId) -> &T {
        match self.slots.get(id as usize) {
            Some(Slot::Used(v)) => v,
            _ => free_slot(id),
        }
    }
}

impl<T, const N: usize> IndexMut<NodeId> for FixedArena<T, N> {
    #[inline]
    fn index_mut(&mut self, id: NodeId) -> &mut T {
        match self.slots.get_mut(id as usize) {
            Some(Slot::Used(v)) => v,
            _ => free_slot(id),
        }
    }
}

impl<T, const N: usize> Arena<T> for FixedArena<T, N> {
    #[inline]
    fn get(&self, id: NodeId) -> Option<&T> {
        match self.slots.get(id as usize) {
            Some(Slot::Used(v)) => Some(v),
            _ => None,
        }
    }
    #[inline]
    fn get_mut(&mut self, id: NodeId) -> Option<&mut T> {
        match self.slots.get_mut(id as usize) {
            Some(Slot::Used(v)) => Some(v),
            _ => None,
        }
    }
    fn insert(&mut self, value: T) -> Result<NodeId, (CapacityError, T)> {
        if self.free_head != NIL {
            let id = self.free_head;
            let slot = &mut self.slots[id as usize];
            self.free_head = match *slot {
                Slot::Free(next) => next,
                Slot::Used(_) => unreachable!("free list points at a used slot"),
            };
            *slot = Slot::Used(value);
            self.len += 1;
            return Ok(id);
        }
        let id = self.slots.len() as NodeId;
        match self.slots.push(Slot::Used(value)) {
            Ok(()) => {
                self.len += 1;
                Ok(id)
            }
            Err(Slot::Used(value)) => Err((CapacityError, value)),
            Err(Slot::Free(_)) => unreachable!(),
        }
    }
    fn remove(&mut self, id: NodeId) -> Option<T> {
        let slot = self.slots.get_mut(id as usize)?;
        if matches!(slot, Slot::Free(_)) {
            return None;
        }
        let old = core::mem::replace(slot, Slot::Free(self.free_head));
        self.free_head = id;
        self.len -= 1;
        match old {
            Slot::Used(v) => Some(v),
            Slot::Free(_) => None,
        }
    }
    #[inline]
    fn len(&self) -> usize {
        self.len as usize
    }
    #[inline]
    fn capacity(&self) -> usize {
        N
    }
    fn clear(&mut self) {
        self.slots.clear();
        self.free_head = NIL;
        self.len = 0;
    }
}

/// log2 of [`CHUNK_SLOTS`].
#[cfg(feature = "alloc")]
const CHUNK_SHIFT: u32 = 9;

/// The number of slots a [`GrowableArena`] adds at a time.
#[cfg(feature = "alloc")]
pub const CHUNK_SLOTS: usize = 1 << CHUNK_SHIFT;

/// A heap arena that grows by [`CHUNK_SLOTS`] slots at a time (never by
/// doubling, never by copying), up to an optional limit.
#[cfg(feature = "alloc")]
pub struct GrowableArena<T> {
    chunks: alloc::vec::Vec<alloc::boxed::Box<[Slot<T>; CHUNK_SLOTS]>>,
    free_head: NodeId,
    len: u32,
    /// Slots handed out so far (used or on the free list); the rest of the
    /// last chunk is untouched.
    used: u32,
    limit: usize,
}

#[cfg(feature = "alloc")]
impl<T> GrowableArena<T> {
    /// An empty arena limited only by the [`NodeId`] range.
    pub const fn new() -> Self {
        Self::with_limit(MAX_SLOTS)
    }
    /// An empty arena that holds at most `limit` values.
    pub const fn with_limit(limit: usize) -> Self {
        GrowableArena {
            chunks: alloc::vec::Vec::new(),
            free_head: NIL,
            len: 0,
            used: 0,
            limit: if limit < MAX_SLOTS { limit } else { MAX_SLOTS },
        }
    }
    // Slots past `used` in the last chunk hold `Free(NIL)` and read as free.
    #[inline]
    fn slot(&self, id: NodeId) -> Option<&Slot<T>> {
        let chunk = self.chunks.get((id >> CHUNK_SHIFT) as usize)?;
        Some(&chunk[(id as usize) & (CHUNK_SLOTS - 1)])
    }
    #[inline]
    fn slot_mut(&mut self, id: NodeId) -> Option<&mut Slot<T>> {
        let chunk = self.chunks.get_mut((id >> CHUNK_SHIFT) as usize)?;
        Some(&mut chunk[(id as usize) & (CHUNK_SLOTS - 1)])
    }
    fn new_chunk() -> alloc::boxed::Box<[Slot<T>; CHUNK_SLOTS]> {
        let slots: alloc::vec::Vec<Slot<T>> = (0..CHUNK_SLOTS).map(|_| Slot::Free(NIL)).collect();
        match slots.into_boxed_slice().try_into() {
            Ok(chunk) => chunk,
            Err(_) => unreachable!("a chunk has CHUNK_SLOTS slots"),
        }
    }
}

#[cfg(feature = "alloc")]
impl<T> Default for GrowableArena<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "alloc")]
impl<T> fmt::Debug for GrowableArena<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrowableArena")
            .field("len", &self.len)
            .field("chunks", &self.chunks.len())
            .field("limit", &self.limit)
            .finish()
    }
}

#[cfg(feature = "alloc")]
impl<T> Index<NodeId> for GrowableArena<T> {
    type Output = T;
    #[inline]
    fn index(&self, id: NodeId) -> &T {
        match self.slot(id) {
            Some(Slot::Used(v)) => v,
            _ => free_slot(id),
        }
    }
}

#[cfg(feature = "alloc")]
impl<T> IndexMut<NodeId> for GrowableArena<T> {
    #[inline]
    fn index_mut(&mut self, id: NodeId) -> &mut T {
        match self.slot_mut(id) {
            Some(Slot::Used(v)) => v,
            _ => free_slot(id),
        }
    }
}

#[cfg(feature = "alloc")]
impl<T> Arena<T> for GrowableArena<T> {
    #[inline]
    fn get(&self, id: NodeId) -> Option<&T> {
        match self.slot(id) {
            Some(Slot::Used(v)) => Some(v),
            _ => None,
        }
    }
    #[inline]
    fn get_mut(&mut self, id: NodeId) -> Option<&mut T> {
        match self.slot_mut(id) {
            Some(Slot::Used(v)) => Some(v),
            _ => None,
        }
    }
    fn insert(&mut self, value: T) -> Result<NodeId, (CapacityError, T)> {
        if self.len as usize >= self.limit {
            return Err((CapacityError, value));
        }
        if self.free_head != NIL {
            let id = self.free_head;
            let slot = match self.slot_mut(id) {
                Some(s) => s,
                None => unreachable!("free list points outside the arena"),
            };
            let next = match *slot {
                Slot::Free(next) => next,
                Slot::Used(_) => unreachable!("free list points at a used slot"),
            };
            *slot = Slot::Used(value);
            self.free_head = next;
            self.len += 1;
            return Ok(id);
        }
        // No free slot: take the next untouched one, in a new chunk if need be.
        let id = self.used;
        if (id as usize) >> CHUNK_SHIFT == self.chunks.len() {
            self.chunks.push(Self::new_chunk());
        }
        self.used += 1;
        match self.slot_mut(id) {
            Some(slot) => *slot = Slot::Used(value),
            None => unreachable!("the chunk was just added"),
        }
        self.len += 1;
        Ok(id)
    }
    fn remove(&mut self, id: NodeId) -> Option<T> {
        let free_head = self.free_head;
        let slot = self.slot_mut(id)?;
        if matches!(slot, Slot::Free(_)) {
            return None;
        }
        let old = core::mem::replace(slot, Slot::Free(free_head));
        self.free_head = id;
        self.len -= 1;
        match old {
            Slot::Used(v) => Some(v),
            Slot::Free(_) => None,
        }
    }
    #[inline]
    fn len(&self) -> usize {
        self.len as usize
    }
    #[inline]
    fn capacity(&self) -> usize {
        self.limit
    }
    fn clear(&mut self) {
        self.chunks.clear();
        self.free_head = NIL;
        self.len = 0;
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise<A: Arena<u64>>(a: &mut A, cap: usize) {
        let mut ids = [NIL; 8];
        for (i, id) in ids.iter_mut().enumerate().take(cap) {
            *id = a.insert(i as u64 * 10).unwrap();
        }
        assert_eq!(a.len(), cap);
        assert_eq!(a.insert(99), Err((CapacityError, 99)));
        assert_eq!(a[ids[2]], 20);
        assert_eq!(a.remove(ids[2]), Some(20));
        assert_eq!(a.remove(ids[2]), None);
        assert_eq!(a.get(ids[2]), None);
        assert_eq!(a.free_slots(), 1);
        let again = a.insert(7).unwrap();
        assert_eq!(again, ids[2], "a freed slot is reused");
        *a.get_mut(again).unwrap() += 1;
        assert_eq!(a[again], 8);
        assert_eq!(a.get(NIL - 1), None);
        a.clear();
        assert!(a.is_empty());
        assert_eq!(a.insert(1).unwrap(), 0);
    }

    #[test]
    fn fixed_arena() {
        static_assertions();
        let mut a: FixedArena<u64, 4> = FixedArena::new();
        exercise(&mut a, 4);
    }

    fn static_assertions() {
        // A fixed arena can be built in a const context (e.g. a `static`).
        const A: FixedArena<u32, 16> = FixedArena::new();
        assert_eq!(A.capacity(), 16);
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn growable_arena() {
        let mut a = GrowableArena::with_limit(5);
        exercise(&mut a, 5);
        let mut big = GrowableArena::new();
        for i in 0..(CHUNK_SLOTS as u64 * 3 + 1) {
            assert_eq!(big.insert(i).unwrap() as u64, i);
        }
        assert_eq!(big.chunks.len(), 4);
        assert_eq!(
            big[CHUNK_SLOTS as NodeId * 2 + 5],
            CHUNK_SLOTS as u64 * 2 + 5
        );
        for i in (0..CHUNK_SLOTS as NodeId).rev() {
            big.remove(i).unwrap();
        }
        assert_eq!(big.insert(1).unwrap(), 0);
    }

    #[test]
    #[should_panic(expected = "stale handle")]
    fn indexing_a_free_slot_panics() {
        let mut a: FixedArena<u8, 2> = FixedArena::new();
        let id = a.insert(1).unwrap();
        a.remove(id);
        let _ = a[id];
    }
}
