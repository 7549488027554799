//! A bounded ring of messages with per-message metadata, in fixed storage.
//!
//! Like [`TransmitQueue`](crate::transmit::TransmitQueue), each message is
//! stored contiguously in a ring of `BYTES` bytes and at most `ENTRIES`
//! messages are held. Unlike it, a message may be taken out of the middle
//! (the session layer skips messages of sessions that have no association
//! yet): it is marked removed, and its bytes are reclaimed once every
//! message before it is gone too. Nothing is ever overwritten: a full ring
//! refuses the newcomer.
//!
//! # A message never wraps
//!
//! A message is one run of bytes, so that it can be lent as one slice (the
//! session machines' `peek_transmit`). When it does not fit between the
//! newest message and the end of the ring, the bytes up to the end are
//! skipped and it starts at the front, before the oldest message, if there
//! is room there; otherwise it is refused. The skipped bytes (padding) are
//! fewer than the message that skipped them, at most one run per lap, and
//! are free again once every message before them has left (the oldest
//! message then starts at the front). So:
//!
//! * an empty ring takes any message of up to `BYTES` bytes;
//! * a ring that holds messages takes one of `len` bytes exactly when the
//!   free run after its newest message, or (when the messages do not wrap
//!   yet) the free run before its oldest one, has `len` bytes:
//!   [`has_room`](Ring::has_room) answers exactly what
//!   [`push_with`](Ring::push_with) does;
//! * the two free runs together are what the messages held, their padding
//!   included, leave: a message of `len` bytes always fits while those
//!   take at most `BYTES - 2 × len` (a quarter of the ring while they take
//!   half).

use core::fmt;

/// The ring has no room for a message of `needed` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full {
    /// The message's size.
    pub needed: usize,
}

#[derive(Clone, Copy, Debug)]
struct Slot<M> {
    meta: M,
    start: u32,
    len: u32,
    removed: bool,
}

/// See the [module documentation](self).
pub(crate) struct Ring<M: Copy, const BYTES: usize, const ENTRIES: usize> {
    bytes: [u8; BYTES],
    slots: heapless::Deque<Slot<M>, ENTRIES>,
    /// Start of the oldest slot (meaningless when empty).
    head: usize,
    /// End of the newest slot (meaningless when empty).
    tail: usize,
    /// Live (not removed) messages.
    live: usize,
}

impl<M: Copy, const BYTES: usize, const ENTRIES: usize> fmt::Debug for Ring<M, BYTES, ENTRIES> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("messages", &self.live)
            .field("capacity_bytes", &BYTES)
            .finish()
    }
}

impl<M: Copy, const BYTES: usize, const ENTRIES: usize> Ring<M, BYTES, ENTRIES> {
    /// An empty ring.
    pub(crate) const fn new() -> Self {
        Ring {
            bytes: [0; BYTES],
            slots: heapless::Deque::new(),
            head: 0,
            tail: 0,
            live: 0,
        }
    }

    /// Live messages held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Whether a message of `len` bytes can be stored now.
    pub(crate) fn has_room(&self, len: usize) -> bool {
        self.allocate(len.max(1)).is_some()
    }

    fn allocate(&self, len: usize) -> Option<usize> {
        if self.slots.is_full() || len > BYTES {
            return None;
        }
        if self.slots.is_empty() {
            return Some(0);
        }
        if self.tail > self.head {
            if BYTES - self.tail >= len {
                Some(self.tail)
            } else if self.head >= len {
                Some(0)
            } else {
                None
            }
        } else if self.head - self.tail >= len {
            Some(self.tail)
        } else {
            None
        }
    }

    /// Stores a message of exactly `len` bytes that `write` fills in; an
    /// error of `write` leaves the ring unchanged. At least one byte is
    /// reserved, so that an empty message still moves the tail and the
    /// wrapped/not wrapped test stays exact.
    pub(crate) fn push_with<E, F>(
        &mut self,
        meta: M,
        len: usize,
        write: F,
    ) -> Result<(), PushError<E>>
    where
        F: FnOnce(&mut [u8]) -> Result<(), E>,
    {
        let reserved = len.max(1);
        let start = self
            .allocate(reserved)
            .ok_or(PushError::Full(Full { needed: len }))?;
        write(&mut self.bytes[start..start + len]).map_err(PushError::Write)?;
        let slot = Slot {
            meta,
            // Cannot truncate: both are at most BYTES, and a ring of more
            // than u32::MAX bytes cannot be built.
            start: start as u32,
            len: len as u32,
            removed: false,
        };
        if self.slots.push_back(slot).is_err() {
            return Err(PushError::Full(Full { needed: len }));
        }
        if self.slots.len() == 1 {
            self.head = start;
        }
        self.tail = start + reserved;
        self.live += 1;
        Ok(())
    }

    /// Stores a copy of `message`.
    pub(crate) fn push(&mut self, meta: M, message: &[u8]) -> Result<(), Full> {
        self.push_with::<(), _>(meta, message.len(), |b| {
            b.copy_from_slice(message);
            Ok(())
        })
        .map_err(|e| match e {
            PushError::Full(f) => f,
            PushError::Write(()) => Full {
                needed: message.len(),
            },
        })
    }

    /// The live messages' metadata, oldest first, with their positions
    /// (valid until the next removal or push).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &M)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.removed)
            .map(|(i, s)| (i, &s.meta))
    }

    /// The metadata of every live message, oldest first, to change in place.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut M> + '_ {
        self.slots
            .iter_mut()
            .filter(|s| !s.removed)
            .map(|s| &mut s.meta)
    }

    /// The first live message whose metadata satisfies `f`.
    pub(crate) fn find(&self, mut f: impl FnMut(&M) -> bool) -> Option<usize> {
        self.iter().find(|(_, m)| f(m)).map(|(i, _)| i)
    }

    /// The metadata of the message at `pos`.
    pub(crate) fn meta(&self, pos: usize) -> Option<&M> {
        self.slots
            .iter()
            .nth(pos)
            .filter(|s| !s.removed)
            .map(|s| &s.meta)
    }

    /// The metadata of the message at `pos`, to change.
    pub(crate) fn meta_mut(&mut self, pos: usize) -> Option<&mut M> {
        self.slots
            .iter_mut()
            .nth(pos)
            .filter(|s| !s.removed)
            .map(|s| &mut s.meta)
    }

    /// The oldest live message: its position, metadata and bytes (one
    /// slice: a message never wraps).
    pub(crate) fn front(&self) -> Option<(usize, &M, &[u8])> {
        let (pos, meta) = self.iter().next()?;
        Some((pos, meta, self.bytes(pos)))
    }

    /// The bytes of the message at `pos`.
    pub(crate) fn bytes(&self, pos: usize) -> &[u8] {
        match self.slots.iter().nth(pos) {
            Some(s) if !s.removed => {
                let start = s.start as usize;
                &self.bytes[start..start + s.len as usize]
            }
            _ => &[],
        }
    }

    /// Removes the message at `pos` (positions after it stay valid only
    /// when nothing before it was freed: callers look positions up again).
    pub(crate) fn remove(&mut self, pos: usize) {
        if let Some(s) = self.slots.iter_mut().nth(pos) {
            if !s.removed {
                s.removed = true;
                self.live -= 1;
            }
        }
        self.reclaim();
    }

    /// Removes every live message whose metadata satisfies `f`.
    pub(crate) fn remove_where(&mut self, mut f: impl FnMut(&M) -> bool) {
        for s in self.slots.iter_mut() {
            if !s.removed && f(&s.meta) {
                s.removed = true;
                self.live -= 1;
            }
        }
        self.reclaim();
    }

    /// Frees the removed messages at the front.
    fn reclaim(&mut self) {
        while matches!(self.slots.front(), Some(s) if s.removed) {
            self.slots.pop_front();
        }
        match self.slots.front() {
            Some(s) => self.head = s.start as usize,
            None => {
                self.head = 0;
                self.tail = 0;
            }
        }
    }
}

/// Why [`Ring::push_with`] stored nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PushError<E> {
    /// No room.
    Full(Full),
    /// The writer failed.
    Write(E),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::vec::Vec;

    #[test]
    fn refuses_when_full_and_reclaims_removed_front() {
        let mut r: Ring<u8, 16, 4> = Ring::new();
        r.push(1, &[1; 6]).unwrap();
        r.push(2, &[2; 6]).unwrap();
        assert_eq!(r.push(3, &[3; 6]), Err(Full { needed: 6 }));
        // Removing the middle frees nothing yet; removing the front frees both.
        r.remove(1);
        assert!(!r.has_room(6));
        assert_eq!(r.find(|m| *m == 1), Some(0));
        r.remove(0);
        assert_eq!(r.len(), 0);
        r.push(3, &[3; 16]).unwrap();
        assert_eq!(r.bytes(0), &[3; 16]);
        assert_eq!(r.push(4, &[]), Err(Full { needed: 0 }));
        // Larger than the ring.
        r.remove(0);
        assert_eq!(r.push(5, &[0; 17]), Err(Full { needed: 17 }));
        // Entry limit, with empty messages.
        for i in 0..4 {
            r.push(i, &[]).unwrap();
        }
        assert_eq!(r.push(9, &[]), Err(Full { needed: 0 }));
        assert_eq!(r.bytes(2), &[] as &[u8]);
    }

    /// Every head position and every message length: a message that does
    /// not fit before the end starts at the front when the oldest message
    /// leaves room there (and only then), comes out intact and in order,
    /// and a ring without room refuses it and keeps what it holds.
    #[test]
    fn a_message_never_wraps_at_any_offset() {
        const N: usize = 32;
        let body = |id: u32, len: usize| -> Vec<u8> {
            (0..len)
                .map(|i| (id as u8).wrapping_mul(31).wrapping_add(i as u8))
                .collect()
        };
        let check = |r: &Ring<u32, N, 8>, model: &VecDeque<(u32, Vec<u8>)>| {
            let live: Vec<(usize, u32)> = r.iter().map(|(p, m)| (p, *m)).collect();
            assert_eq!(live.len(), model.len());
            for ((pos, id), (mid, bytes)) in live.iter().zip(model) {
                assert_eq!(id, mid);
                assert_eq!(r.bytes(*pos), &bytes[..]);
            }
        };
        for offset in 0..N {
            for first in 1..=N - offset {
                for len in 1..=N {
                    let mut r: Ring<u32, N, 8> = Ring::new();
                    let mut model: VecDeque<(u32, Vec<u8>)> = VecDeque::new();
                    // The oldest message at `offset`, the newest ending at
                    // `offset + first`.
                    if offset > 0 {
                        r.push(u32::MAX, &body(99, offset)).unwrap();
                    }
                    r.push(0, &body(0, first)).unwrap();
                    model.push_back((0, body(0, first)));
                    if offset > 0 {
                        r.remove(0);
                    }
                    check(&r, &model);
                    // The end has `N - offset - first` bytes, the front
                    // `offset`.
                    let fits = N - offset - first >= len || offset >= len;
                    assert_eq!(
                        r.has_room(len),
                        fits,
                        "offset {offset} first {first} len {len}"
                    );
                    // Fill, then run first in first out for a few laps.
                    for next in 1..=(4 * N / len + 4) as u32 {
                        let b = body(next, len);
                        let room = r.has_room(len);
                        match r.push(next, &b) {
                            Ok(()) => {
                                assert!(room);
                                model.push_back((next, b));
                            }
                            Err(Full { needed }) => {
                                assert!(!room);
                                assert_eq!(needed, len);
                                assert!(!model.is_empty());
                                // Nothing held changed; the oldest leaves.
                                check(&r, &model);
                                let (pos, id, bytes) = r.front().unwrap();
                                let (mid, mbytes) = model.pop_front().unwrap();
                                assert_eq!((*id, bytes), (mid, &mbytes[..]));
                                r.remove(pos);
                            }
                        }
                        check(&r, &model);
                    }
                    // Everything comes out in order, intact.
                    while let Some((pos, id, bytes)) = r.front() {
                        let (mid, mbytes) = model.pop_front().unwrap();
                        assert_eq!((*id, bytes), (mid, &mbytes[..]));
                        r.remove(pos);
                    }
                    assert!(model.is_empty());
                    // Empty again: the whole ring is one run.
                    assert!(r.has_room(N));
                    r.push(7, &body(7, N)).unwrap();
                    assert_eq!(r.bytes(0), &body(7, N)[..]);
                    assert!(!r.has_room(1));
                }
            }
        }
    }

    /// The bound the documentation gives: a message of `len` bytes fits
    /// while the messages held, their padding included, take at most
    /// `BYTES - 2 × len`.
    #[test]
    fn a_message_fits_while_the_ring_holds_at_most_the_rest_less_its_size() {
        const N: usize = 64;
        let mut r: Ring<u32, N, 64> = Ring::new();
        let mut model: VecDeque<(u32, usize)> = VecDeque::new();
        let mut x: u32 = 0x9E37_79B9;
        for step in 0..50_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // The bytes from the oldest message's start to the newest
            // one's end, padding included.
            let span = match (r.slots.front(), r.slots.back()) {
                (Some(_), Some(_)) if r.tail > r.head => r.tail - r.head,
                (Some(_), Some(_)) => N - r.head + r.tail,
                _ => 0,
            };
            let len = 1 + (x as usize >> 8) % (N / 2);
            if span + 2 * len <= N {
                assert!(r.has_room(len), "step {step}: span {span} len {len}");
            }
            if x % 3 != 0 && r.push(step, &[step as u8; 64][..len]).is_ok() {
                model.push_back((step, len));
            } else if let Some((pos, id, bytes)) = r.front() {
                let (mid, mlen) = model.pop_front().unwrap();
                assert_eq!((*id, bytes.len()), (mid, mlen));
                assert!(bytes.iter().all(|b| *b == mid as u8));
                r.remove(pos);
            }
        }
    }

    proptest! {
        /// Random pushes and removals anywhere agree with a model: contents,
        /// order, and a push refused only when the ring really holds data.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec((0u8..4, 0usize..40, any::<u8>()), 1..400)) {
            let mut r: Ring<u32, 100, 8> = Ring::new();
            let mut model: VecDeque<(u32, Vec<u8>)> = VecDeque::new();
            let mut next = 0u32;
            for (op, n, byte) in ops {
                match op {
                    0 | 1 => {
                        let body: Vec<u8> = (0..n).map(|i| byte.wrapping_add(i as u8)).collect();
                        match r.push(next, &body) {
                            Ok(()) => model.push_back((next, body)),
                            Err(Full { needed }) => {
                                prop_assert_eq!(needed, n);
                                prop_assert!(!model.is_empty());
                            }
                        }
                        next += 1;
                    }
                    2 if !model.is_empty() => {
                        let k = n % model.len();
                        let (id, _) = model.remove(k).unwrap();
                        let pos = r.find(|m| *m == id).unwrap();
                        r.remove(pos);
                    }
                    _ => {
                        let k = byte as u32 % 3;
                        r.remove_where(|m| m % 3 == k);
                        model.retain(|(id, _)| id % 3 != k);
                    }
                }
                prop_assert_eq!(r.len(), model.len());
                let live: Vec<(usize, u32)> = r.iter().map(|(p, m)| (p, *m)).collect();
                prop_assert_eq!(live.len(), model.len());
                for ((pos, id), (mid, body)) in live.iter().zip(model.iter()) {
                    prop_assert_eq!(id, mid);
                    prop_assert_eq!(r.bytes(*pos), &body[..]);
                    prop_assert_eq!(r.meta(*pos), Some(mid));
                }
                if model.is_empty() {
                    prop_assert!(r.has_room(100));
                }
            }
        }
    }
}
