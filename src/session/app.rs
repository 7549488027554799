//! What both session machines hand to the application: received user
//! messages (in a bounded byte ring), other events, and the associations
//! the driver is asked to shut down, with one order across messages and
//! events.

use heapless::Deque;

use crate::id::AssocId;
use crate::transmit::QueueError;

use super::buffer::{Full, Ring};
use super::{copy_out, Backpressure, SessionId, CLOSE_QUEUE_LEN, EVENT_QUEUE_LEN};

/// A received user message's place in the application's order.
#[derive(Clone, Copy, Debug)]
struct Incoming {
    session: SessionId,
    ppid: u32,
    stamp: u64,
}

/// The next thing for the application: a message (its bytes copied into
/// the caller's buffer) or another event.
pub(super) enum Next<E> {
    /// A user message of `len` bytes.
    Message {
        /// Its session.
        session: SessionId,
        /// Its PPID.
        ppid: u32,
        /// Its length (the bytes are in the caller's buffer).
        len: usize,
    },
    /// Anything else, in the order it happened.
    Event(E),
}

/// The application's side of a session machine: `BUF` bytes and `MSGS`
/// messages of received data, [`EVENT_QUEUE_LEN`] events,
/// [`CLOSE_QUEUE_LEN`] associations to close; what does not fit is refused
/// (messages: [`Backpressure`]) or counted (events, closes), never evicts
/// what waits.
pub(super) struct AppQueue<E, const BUF: usize, const MSGS: usize> {
    inbox: Ring<Incoming, BUF, MSGS>,
    events: Deque<(u64, E), EVENT_QUEUE_LEN>,
    stamp: u64,
    closes: Deque<AssocId, CLOSE_QUEUE_LEN>,
    events_lost: u32,
    closes_lost: u32,
}

impl<E, const BUF: usize, const MSGS: usize> AppQueue<E, BUF, MSGS> {
    pub(super) fn new() -> Self {
        AppQueue {
            inbox: Ring::new(),
            events: Deque::new(),
            stamp: 0,
            closes: Deque::new(),
            events_lost: 0,
            closes_lost: 0,
        }
    }

    /// Takes a received user message, or refuses it when the ring is full.
    pub(super) fn deliver(
        &mut self,
        session: SessionId,
        ppid: u32,
        bytes: &[u8],
    ) -> Result<(), Backpressure> {
        let meta = Incoming {
            session,
            ppid,
            stamp: self.stamp,
        };
        self.inbox
            .push(meta, bytes)
            .map_err(|Full { needed }| Backpressure { needed })?;
        self.stamp += 1;
        Ok(())
    }

    /// Whether a received message of `len` bytes fits now.
    pub(super) fn has_room(&self, len: usize) -> bool {
        self.inbox.has_room(len)
    }

    /// Queues an event (counted as lost when the queue is full).
    pub(super) fn event(&mut self, e: E) {
        if self.events.push_back((self.stamp, e)).is_err() {
            self.events_lost = self.events_lost.saturating_add(1);
        } else {
            self.stamp += 1;
        }
    }

    /// Asks the driver to shut `assoc` down (counted as lost when the
    /// queue is full).
    pub(super) fn close(&mut self, assoc: AssocId) {
        if self.closes.push_back(assoc).is_err() {
            self.closes_lost = self.closes_lost.saturating_add(1);
        }
    }

    /// The next association to shut down.
    pub(super) fn poll_close(&mut self) -> Option<AssocId> {
        self.closes.pop_front()
    }

    /// Events dropped because their queue was full.
    pub(super) const fn events_lost(&self) -> u32 {
        self.events_lost
    }

    /// Closes dropped because their queue was full.
    pub(super) const fn closes_lost(&self) -> u32 {
        self.closes_lost
    }

    /// The earliest of the waiting message and the waiting event; a
    /// message's bytes go to `buf` ([`QueueError::BufferTooSmall`] leaves
    /// it waiting).
    pub(super) fn poll(&mut self, buf: &mut [u8]) -> Result<Option<Next<E>>, QueueError> {
        let message = self.inbox.iter().next().map(|(p, m)| (p, *m));
        let other = self.events.front().map(|(stamp, _)| *stamp);
        match (message, other) {
            (Some((pos, m)), o) if o.is_none_or(|o| m.stamp < o) => {
                let len = copy_out(&self.inbox, pos, buf)?;
                self.inbox.remove(pos);
                Ok(Some(Next::Message {
                    session: m.session,
                    ppid: m.ppid,
                    len,
                }))
            }
            _ => Ok(self.events.pop_front().map(|(_, e)| Next::Event(e))),
        }
    }
}
