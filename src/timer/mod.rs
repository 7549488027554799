//! Timer indexes: schedule, cancel, next deadline, pop what is due.
//!
//! [`TimerIndex`] is the interface of a timer store. The handlespace
//! implements it for its per-PE timers, which it keeps in the PE arena as
//! one more order (no storage of their own: the registrar's keep-alive and
//! lifetime timers cost nothing beyond the PE); [`TimerQueue`] is a
//! stand-alone, fixed-capacity implementation without heap, built on the
//! same arena and index backends, for an application's own timers.
//!
//! The machines take no timer index as a parameter: the registrar's PE
//! timers are the handlespace's order above, and its other timers, like
//! those of the pool element and the pool user, are a few deadlines each
//! (`poll_timeout` gives the earliest). A board drives them all from one
//! hardware timer set to `poll_timeout`.

use core::cmp::Ordering;
use core::fmt;

use crate::storage::arena::{Arena, CapacityError, FixedArena};
use crate::storage::{Backend, InvariantError, NodeId, Nodes};
use crate::time::Instant;

/// A store of timers: one deadline per key.
pub trait TimerIndex {
    /// What a timer is for.
    type Key;
    /// Why a timer could not be scheduled.
    type Error;
    /// Sets the timer of `key` to `deadline` (replacing an earlier one).
    fn schedule(&mut self, key: Self::Key, deadline: Instant) -> Result<(), Self::Error>;
    /// Cancels the timer of `key`; `false` if there was none.
    fn cancel(&mut self, key: &Self::Key) -> bool;
    /// The earliest deadline.
    fn next_deadline(&self) -> Option<Instant>;
    /// Takes out the earliest timer if its deadline is at or before `now`.
    fn pop_due(&mut self, now: Instant) -> Option<(Self::Key, Instant)>;
}

/// One timer in a [`TimerQueue`].
#[derive(Clone, Copy, Debug)]
pub struct TimerEntry<K, L> {
    key: K,
    deadline: Instant,
    by_deadline: L,
    by_key: L,
}

struct DeadlineOrder<'a, K, L, const N: usize>(&'a mut FixedArena<TimerEntry<K, L>, N>);
struct KeyOrder<'a, K, L, const N: usize>(&'a mut FixedArena<TimerEntry<K, L>, N>);

impl<K: Ord, L, const N: usize> Nodes<L> for DeadlineOrder<'_, K, L, N> {
    fn link(&self, n: NodeId) -> &L {
        &self.0[n].by_deadline
    }
    fn link_mut(&mut self, n: NodeId) -> &mut L {
        &mut self.0[n].by_deadline
    }
    fn cmp(&self, a: NodeId, b: NodeId) -> Ordering {
        let (x, y) = (&self.0[a], &self.0[b]);
        (x.deadline, &x.key).cmp(&(y.deadline, &y.key))
    }
}

impl<K: Ord, L, const N: usize> Nodes<L> for KeyOrder<'_, K, L, N> {
    fn link(&self, n: NodeId) -> &L {
        &self.0[n].by_key
    }
    fn link_mut(&mut self, n: NodeId) -> &mut L {
        &mut self.0[n].by_key
    }
    fn cmp(&self, a: NodeId, b: NodeId) -> Ordering {
        self.0[a].key.cmp(&self.0[b].key)
    }
}

/// A fixed-capacity timer queue of at most `N` timers with keys `K`, indexed
/// by deadline and by key with the backend `B`. No heap.
pub struct TimerQueue<K, B: Backend, const N: usize> {
    entries: FixedArena<TimerEntry<K, B::Link>, N>,
    by_deadline: B::Root,
    by_key: B::Root,
}

impl<K, B: Backend, const N: usize> fmt::Debug for TimerQueue<K, B, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerQueue")
            .field("len", &self.entries.len())
            .field("capacity", &N)
            .finish()
    }
}

impl<K: Ord + Copy, B: Backend, const N: usize> Default for TimerQueue<K, B, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Copy, B: Backend, const N: usize> TimerQueue<K, B, N> {
    /// An empty queue.
    pub fn new() -> Self {
        TimerQueue {
            entries: FixedArena::new(),
            by_deadline: B::Root::default(),
            by_key: B::Root::default(),
        }
    }
    /// The number of timers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether no timer is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    // The arena is only read through these views; the &mut is for the
    // `Nodes` trait's link_mut, which read-only walks do not call.
    fn find(&mut self, key: &K) -> Option<NodeId> {
        B::find(&self.by_key, &KeyOrder(&mut self.entries), |v, n| {
            v.0[n].key.cmp(key)
        })
    }
    /// The deadline of `key`'s timer.
    pub fn deadline(&mut self, key: &K) -> Option<Instant> {
        self.find(key).map(|n| self.entries[n].deadline)
    }
    fn unlink(&mut self, n: NodeId) -> TimerEntry<K, B::Link> {
        B::remove(
            &mut self.by_deadline,
            &mut DeadlineOrder(&mut self.entries),
            n,
        );
        B::remove(&mut self.by_key, &mut KeyOrder(&mut self.entries), n);
        match self.entries.remove(n) {
            Some(e) => e,
            None => unreachable!("linked timer missing"),
        }
    }
    /// Checks both indexes (for tests).
    pub fn check(&mut self) -> Result<(), InvariantError> {
        B::check(&self.by_deadline, &DeadlineOrder(&mut self.entries))?;
        B::check(&self.by_key, &KeyOrder(&mut self.entries))?;
        if B::len(&self.by_key) != self.entries.len()
            || B::len(&self.by_deadline) != self.entries.len()
        {
            return Err(InvariantError {
                rule: "timer count wrong",
                node: crate::storage::NIL,
            });
        }
        Ok(())
    }
}

impl<K: Ord + Copy, B: Backend, const N: usize> TimerIndex for TimerQueue<K, B, N> {
    type Key = K;
    type Error = CapacityError;

    fn schedule(&mut self, key: K, deadline: Instant) -> Result<(), CapacityError> {
        if let Some(n) = self.find(&key) {
            B::remove(
                &mut self.by_deadline,
                &mut DeadlineOrder(&mut self.entries),
                n,
            );
            self.entries[n].deadline = deadline;
            B::insert(
                &mut self.by_deadline,
                &mut DeadlineOrder(&mut self.entries),
                n,
            );
            return Ok(());
        }
        let n = self
            .entries
            .insert(TimerEntry {
                key,
                deadline,
                by_deadline: Default::default(),
                by_key: Default::default(),
            })
            .map_err(|(e, _)| e)?;
        B::insert(
            &mut self.by_deadline,
            &mut DeadlineOrder(&mut self.entries),
            n,
        );
        B::insert(&mut self.by_key, &mut KeyOrder(&mut self.entries), n);
        Ok(())
    }

    fn cancel(&mut self, key: &K) -> bool {
        match self.find(key) {
            Some(n) => {
                self.unlink(n);
                true
            }
            None => false,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        // `first` only reads; walk the deadline order's leftmost path.
        let n = first_of::<K, B, N>(&self.by_deadline, &self.entries)?;
        Some(self.entries[n].deadline)
    }

    fn pop_due(&mut self, now: Instant) -> Option<(K, Instant)> {
        let n = first_of::<K, B, N>(&self.by_deadline, &self.entries)?;
        if self.entries[n].deadline > now {
            return None;
        }
        let e = self.unlink(n);
        Some((e.key, e.deadline))
    }
}

/// A read-only deadline-order view (never changes links).
struct DeadlineRead<'a, K, L, const N: usize>(&'a FixedArena<TimerEntry<K, L>, N>);

impl<K: Ord, L, const N: usize> Nodes<L> for DeadlineRead<'_, K, L, N> {
    fn link(&self, n: NodeId) -> &L {
        &self.0[n].by_deadline
    }
    fn link_mut(&mut self, _n: NodeId) -> &mut L {
        unreachable!("read-only view")
    }
    fn cmp(&self, a: NodeId, b: NodeId) -> Ordering {
        let (x, y) = (&self.0[a], &self.0[b]);
        (x.deadline, &x.key).cmp(&(y.deadline, &y.key))
    }
}

fn first_of<K: Ord, B: Backend, const N: usize>(
    root: &B::Root,
    entries: &FixedArena<TimerEntry<K, B::Link>, N>,
) -> Option<NodeId> {
    B::first(root, &DeadlineRead(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SortedList;

    #[test]
    fn schedule_cancel_pop() {
        let mut q: TimerQueue<u32, SortedList, 3> = TimerQueue::new();
        let t = Instant::from_secs;
        q.schedule(7, t(30)).unwrap();
        q.schedule(8, t(10)).unwrap();
        q.schedule(9, t(20)).unwrap();
        assert_eq!(q.schedule(10, t(5)), Err(CapacityError));
        q.check().unwrap();
        assert_eq!(q.next_deadline(), Some(t(10)));
        q.schedule(8, t(40)).unwrap(); // reschedule
        assert_eq!(q.len(), 3);
        assert_eq!(q.next_deadline(), Some(t(20)));
        assert!(q.cancel(&9));
        assert!(!q.cancel(&9));
        assert_eq!(q.pop_due(t(29)), None);
        assert_eq!(q.pop_due(t(30)), Some((7, t(30))));
        assert_eq!(q.deadline(&8), Some(t(40)));
        assert_eq!(q.pop_due(t(100)), Some((8, t(40))));
        assert!(q.is_empty());
        q.check().unwrap();
    }
}
