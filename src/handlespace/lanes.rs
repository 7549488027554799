//! The timer order: PE timers in a few FIFO lanes, and a tree for the rest.
//!
//! Nearly every PE timer is set to "now plus an interval": a registration's
//! lifetime, the keep-alive interval, the keep-alive timeout. Timers set
//! that way with one interval come in deadline order, so they need no
//! ordered index: each *lane* is a doubly linked list of PEs whose keys
//! (deadline, then the order the timers were set, then the record) grow
//! from head to tail, appended to in O(1) and unlinked from anywhere in
//! O(1). A timer goes to the lane whose last key is the largest below its
//! own (so that the timers of different intervals settle in lanes of their
//! own), to an empty lane when none fits, and to the timer tree (the
//! backend's O(log n) order) when all [`LANES`] lanes are taken and none
//! fits. The earliest timer is the least of the lane heads and the tree's
//! first, so the order in which timers fall due is exactly the order of one
//! sorted index, whatever the deadlines are; only the cost differs.

use super::*;

/// How many lanes a handlespace keeps.
/// (Room for a registrar's ten keep-alive steps, its keep-alive timeout
/// and a few registration lifetimes.)
pub(crate) const LANES: usize = 16;

/// The `timer_lane` of a PE whose timer is in the tree.
pub(crate) const IN_TREE: u8 = u8::MAX;

/// The place of a timer in the timer order.
pub(crate) type TimerKey = (Instant, u32, NodeId);

/// One lane: its ends and their keys, so that choosing a lane and finding
/// the earliest timer read no PE record (32 bytes; empty when `head` is
/// [`NIL`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lane {
    head_deadline: Instant,
    tail_deadline: Instant,
    head: NodeId,
    tail: NodeId,
    head_stamp: u32,
    tail_stamp: u32,
}

impl Lane {
    pub(crate) const EMPTY: Lane = Lane {
        head_deadline: Instant::MAX,
        tail_deadline: Instant::ZERO,
        head: NIL,
        tail: NIL,
        head_stamp: 0,
        tail_stamp: 0,
    };
    fn is_empty(&self) -> bool {
        self.head == NIL
    }
    fn head_key(&self) -> TimerKey {
        (self.head_deadline, self.head_stamp, self.head)
    }
    fn tail_key(&self) -> TimerKey {
        (self.tail_deadline, self.tail_stamp, self.tail)
    }
}

/// A walk through the timer order in key order: where each lane and the
/// tree are.
pub(crate) struct TimerWalk {
    lane_at: [NodeId; LANES],
    tree_at: Option<NodeId>,
}

impl<B: Backend, S: Storage> Handlespace<B, S> {
    /// PE `n`'s deadline and the stamp of when it was set.
    #[inline]
    fn timer_at(&self, n: NodeId) -> (Instant, u32) {
        let p = &self.pes[n];
        (p.deadline, p.timer_stamp)
    }

    #[inline]
    fn timer_key(&self, n: NodeId) -> TimerKey {
        let (deadline, stamp) = self.timer_at(n);
        (deadline, stamp, n)
    }

    /// Puts PE `n`, whose deadline and stamp are set, into the timer order.
    pub(super) fn timer_insert(&mut self, n: NodeId) {
        let key = self.timer_key(n);
        let mut fit: Option<(usize, TimerKey)> = None;
        let mut empty = None;
        for (i, lane) in self.lanes.iter().enumerate() {
            if lane.is_empty() {
                empty = empty.or(Some(i));
            } else {
                let tail = lane.tail_key();
                if tail < key && fit.is_none_or(|(_, best)| best < tail) {
                    fit = Some((i, tail));
                }
            }
        }
        let Some(i) = fit.map(|(i, _)| i).or(empty) else {
            self.pes[n].timer_lane = IN_TREE;
            B::insert(
                &mut self.timer_root,
                &mut TimerView { pes: &mut self.pes },
                n,
            );
            return;
        };
        let lane = &mut self.lanes[i];
        let tail = lane.tail;
        if lane.is_empty() {
            lane.head = n;
            (lane.head_deadline, lane.head_stamp) = (key.0, key.1);
        }
        lane.tail = n;
        (lane.tail_deadline, lane.tail_stamp) = (key.0, key.1);
        let pe = &mut self.pes[n];
        pe.timer_lane = i as u8;
        pe.timer_prev = tail;
        pe.timer_next = NIL;
        if tail != NIL {
            self.pes[tail].timer_next = n;
        }
    }

    /// Takes PE `n`, which has a timer, out of the timer order.
    pub(super) fn timer_remove(&mut self, n: NodeId) {
        let (i, prev, next) = {
            let pe = &self.pes[n];
            (pe.timer_lane, pe.timer_prev, pe.timer_next)
        };
        if i == IN_TREE {
            B::remove(
                &mut self.timer_root,
                &mut TimerView { pes: &mut self.pes },
                n,
            );
            return;
        }
        let i = usize::from(i);
        if prev == NIL {
            self.lanes[i].head = next;
            if next != NIL {
                (self.lanes[i].head_deadline, self.lanes[i].head_stamp) = self.timer_at(next);
            }
        } else {
            self.pes[prev].timer_next = next;
        }
        if next == NIL {
            self.lanes[i].tail = prev;
            if prev != NIL {
                (self.lanes[i].tail_deadline, self.lanes[i].tail_stamp) = self.timer_at(prev);
            }
        } else {
            self.pes[next].timer_prev = prev;
        }
        if self.lanes[i].is_empty() {
            self.lanes[i] = Lane::EMPTY;
        }
    }

    /// The PE with the earliest timer.
    pub(super) fn first_timer(&self) -> Option<NodeId> {
        let mut best =
            B::first(&self.timer_root, &TimerView { pes: &self.pes }).map(|n| self.timer_key(n));
        for lane in &self.lanes {
            if !lane.is_empty() && best.is_none_or(|b| lane.head_key() < b) {
                best = Some(lane.head_key());
            }
        }
        best.map(|(_, _, n)| n)
    }

    /// A walk through the timer order from its earliest timer.
    pub(super) fn timer_walk(&self) -> TimerWalk {
        TimerWalk {
            lane_at: core::array::from_fn(|i| self.lanes[i].head),
            tree_at: B::first(&self.timer_root, &TimerView { pes: &self.pes }),
        }
    }

    /// The next PE of a walk through the timer order. The walk has already
    /// moved past the PE it gives, so that PE may then be removed.
    pub(super) fn timer_walk_next(&self, walk: &mut TimerWalk) -> Option<NodeId> {
        // Which source holds the least key: a lane (its index) or the tree.
        let mut best: Option<(TimerKey, Option<usize>)> =
            walk.tree_at.map(|n| (self.timer_key(n), None));
        for (i, &n) in walk.lane_at.iter().enumerate() {
            if n != NIL {
                let key = self.timer_key(n);
                if best.is_none_or(|(b, _)| key < b) {
                    best = Some((key, Some(i)));
                }
            }
        }
        let ((_, _, n), source) = best?;
        match source {
            Some(i) => walk.lane_at[i] = self.pes[n].timer_next,
            None => walk.tree_at = B::next(&self.timer_root, &TimerView { pes: &self.pes }, n),
        }
        Some(n)
    }

    /// Checks the lanes and the timer tree: links both ways, keys growing
    /// along each lane, the cached ends, every PE where its
    /// `timer_lane` says. Returns how many timers there are.
    pub(super) fn check_timers(&self) -> Result<usize, InvariantError> {
        let err = |rule, node| Err(InvariantError { rule, node });
        let view = TimerView { pes: &self.pes };
        B::check(&self.timer_root, &view)?;
        let mut count = B::len(&self.timer_root);
        let mut x = B::first(&self.timer_root, &view);
        while let Some(n) = x {
            if self.pes[n].timer_lane != IN_TREE || self.pes[n].timer == 0 {
                return err("timer tree holds a PE that is not there", n);
            }
            x = B::next(&self.timer_root, &view, n);
        }
        for (i, lane) in self.lanes.iter().enumerate() {
            if lane.is_empty() {
                if lane.tail != NIL {
                    return err("empty timer lane with a tail", NIL);
                }
                continue;
            }
            let (mut prev, mut n, mut len) = (NIL, lane.head, 0usize);
            let mut last: Option<TimerKey> = None;
            while n != NIL {
                let pe = &self.pes[n];
                if usize::from(pe.timer_lane) != i || pe.timer == 0 {
                    return err("timer lane holds a PE that is not there", n);
                }
                if pe.timer_prev != prev {
                    return err("timer lane back link wrong", n);
                }
                let key = self.timer_key(n);
                if last.is_some_and(|l| l >= key) {
                    return err("timer lane out of order", n);
                }
                last = Some(key);
                len += 1;
                if len > self.pes.len() {
                    return err("timer lane runs in a circle", n);
                }
                prev = n;
                n = pe.timer_next;
            }
            if prev != lane.tail {
                return err("timer lane tail wrong", NIL);
            }
            if self.timer_key(lane.head) != lane.head_key()
                || self.timer_key(lane.tail) != lane.tail_key()
            {
                return err("timer lane end keys stale", NIL);
            }
            count += len;
        }
        Ok(count)
    }
}
