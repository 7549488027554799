//! Two sans-IO machines wired together in virtual time, in the manner of
//! quinn-proto's test `Pair`.
//!
//! Side A lives at [`Pair::a_addr`], side B at [`Pair::b_addr`]. A
//! [`Connect`](rserpool::transmit::Connect) to the other side's address
//! brings up an association between them (both machines get
//! [`TransportEvent::Up`], each with the other's address); a connect to any
//! other address is left unanswered, as on a network where nothing listens
//! there. What a side transmits over such an association, to the other
//! side's address or to the multicast channel reaches the other side at the
//! same instant (a datagram with the sender's address as its source);
//! anything else (another association, another address) is dropped. Every
//! message sent is kept in [`Pair::log`].
//!
//! [`Pair::step`] moves the pair forward by one round: fire the timeouts
//! that are due, answer the connects, then deliver what A transmitted to B
//! and what B transmitted to A. [`Pair::drive`] steps until neither side has
//! anything left to do at the current instant; [`Pair::run_until`] also
//! moves the clock from one timeout to the next. Both loops are bounded.

use std::net::SocketAddr;

use rserpool::transmit::{Destination, Machine, Source, Transmit, TransportEvent};
use rserpool::wire::Protocol;
use rserpool::{AssocId, Instant};

use super::machine::transmits;

/// The most steps [`Pair::drive`] takes at one instant before it calls the
/// pair a livelock.
pub const MAX_STEPS: usize = 10_000;

/// The most timeouts [`Pair::run_until`] fires before it gives up.
pub const MAX_TIMEOUTS: usize = 1_000_000;

/// One side of a [`Pair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// [`Pair::a`].
    A,
    /// [`Pair::b`].
    B,
}

/// A message one side sent, as the pair saw it.
#[derive(Clone, Debug)]
pub struct Sent {
    /// When.
    pub at: Instant,
    /// By whom.
    pub from: Side,
    /// Where to and in which protocol.
    pub transmit: Transmit,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Whether it reached the other side.
    pub delivered: bool,
}

/// Two machines and the link between them.
pub struct Pair<A: Machine, B: Machine> {
    /// Side A (boxed: a machine with fixed storage can be large).
    pub a: Box<A>,
    /// Side B.
    pub b: Box<B>,
    /// A's address (what B connects to, the source of A's datagrams).
    pub a_addr: SocketAddr,
    /// B's address.
    pub b_addr: SocketAddr,
    /// The current instant.
    pub now: Instant,
    /// Every message sent, in order.
    pub log: Vec<Sent>,
    /// The associations A and B share, as each of them numbers them.
    links: Vec<(AssocId, AssocId)>,
    /// The next association number handed out.
    next_assoc: u32,
    /// Whether each side is alive (a dead side does nothing and gets nothing).
    alive: [bool; 2],
}

impl<A: Machine, B: Machine> Pair<A, B> {
    /// `a` at `a_addr` and `b` at `b_addr`, not yet connected, at `now`.
    pub fn new(a: Box<A>, a_addr: SocketAddr, b: Box<B>, b_addr: SocketAddr, now: Instant) -> Self {
        Pair {
            a,
            b,
            a_addr,
            b_addr,
            now,
            log: Vec::new(),
            links: Vec::new(),
            next_assoc: 1000,
            alive: [true, true],
        }
    }

    /// The associations between the two that are up, as A and as B number
    /// them, oldest first.
    pub fn links(&self) -> &[(AssocId, AssocId)] {
        &self.links
    }

    /// How many messages of `protocol` were sent, by either side.
    pub fn sent(&self, protocol: Protocol) -> usize {
        self.log
            .iter()
            .filter(|s| s.transmit.protocol == protocol)
            .count()
    }

    /// One round: due timeouts, connects, then A's messages to B and B's to
    /// A. Whether anything happened.
    pub fn step(&mut self) -> bool {
        let mut moved = false;
        let now = self.now;
        if self.alive[0] && self.a.poll_timeout().is_some_and(|t| t <= now) {
            self.a.handle_timeout(now);
            moved = true;
        }
        if self.alive[1] && self.b.poll_timeout().is_some_and(|t| t <= now) {
            self.b.handle_timeout(now);
            moved = true;
        }
        moved |= self.connect(Side::A);
        moved |= self.connect(Side::B);
        moved |= self.deliver(Side::A);
        moved |= self.deliver(Side::B);
        moved
    }

    /// Steps until nothing happens at the current instant.
    ///
    /// # Panics
    ///
    /// After [`MAX_STEPS`] steps that all did something.
    pub fn drive(&mut self) {
        for _ in 0..MAX_STEPS {
            if !self.step() {
                return;
            }
        }
        panic!(
            "the pair is still busy after {MAX_STEPS} steps at {}",
            self.now
        );
    }

    /// Drives the pair, then moves the clock to each next timeout up to
    /// `end` and drives it there; the clock ends at `end`.
    ///
    /// # Panics
    ///
    /// After [`MAX_TIMEOUTS`] timeouts, or as [`drive`](Pair::drive) does.
    pub fn run_until(&mut self, end: Instant) {
        self.drive();
        for _ in 0..MAX_TIMEOUTS {
            let next = [
                self.alive[0].then(|| self.a.poll_timeout()).flatten(),
                self.alive[1].then(|| self.b.poll_timeout()).flatten(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.drive();
                }
                _ => {
                    self.now = self.now.max(end);
                    return;
                }
            }
        }
        panic!("more than {MAX_TIMEOUTS} timeouts before {end}");
    }

    /// `side` fails: it does nothing from now on, and the other side's
    /// associations to it go down. The pair is driven afterwards.
    pub fn kill(&mut self, side: Side) {
        let now = self.now;
        self.alive[side as usize] = false;
        for (a, b) in std::mem::take(&mut self.links) {
            match side {
                Side::A => self
                    .b
                    .handle_transport_event(now, TransportEvent::Down { assoc: b }),
                Side::B => self
                    .a
                    .handle_transport_event(now, TransportEvent::Down { assoc: a }),
            }
        }
        self.drive();
    }

    /// Answers `side`'s connects: to the other side's address with an
    /// association (on both sides), to anywhere else with silence.
    fn connect(&mut self, side: Side) -> bool {
        let mut moved = false;
        if !self.alive[side as usize] {
            return false;
        }
        loop {
            let c = match side {
                Side::A => self.a.poll_connect(),
                Side::B => self.b.poll_connect(),
            };
            let Some(c) = c else { return moved };
            moved = true;
            let (there, other) = match side {
                Side::A => (self.b_addr, Side::B),
                Side::B => (self.a_addr, Side::A),
            };
            if c.remote != there {
                continue;
            }
            let now = self.now;
            if !self.alive[other as usize] {
                let failed = TransportEvent::ConnectFailed { remote: c.remote };
                match side {
                    Side::A => self.a.handle_transport_event(now, failed),
                    Side::B => self.b.handle_transport_event(now, failed),
                }
                continue;
            }
            let (a_assoc, b_assoc) = (AssocId(self.next_assoc), AssocId(self.next_assoc + 1));
            self.next_assoc += 2;
            self.links.push((a_assoc, b_assoc));
            let up = |assoc, remote| TransportEvent::Up {
                assoc,
                remote,
                protocol: c.protocol,
                verified: true,
            };
            self.a.handle_transport_event(now, up(a_assoc, self.b_addr));
            self.b.handle_transport_event(now, up(b_assoc, self.a_addr));
        }
    }

    /// Takes `side`'s queued messages and hands the other side those meant
    /// for it.
    fn deliver(&mut self, side: Side) -> bool {
        if !self.alive[side as usize] {
            return false;
        }
        let out = match side {
            Side::A => transmits(&mut *self.a),
            Side::B => transmits(&mut *self.b),
        };
        let moved = !out.is_empty();
        let now = self.now;
        for (t, bytes) in out {
            let (other_addr, my_addr) = match side {
                Side::A => (self.b_addr, self.a_addr),
                Side::B => (self.a_addr, self.b_addr),
            };
            let source = match t.destination {
                Destination::Association(x) => self
                    .links
                    .iter()
                    .find_map(|&(a, b)| match side {
                        Side::A => (a == x).then_some(b),
                        Side::B => (b == x).then_some(a),
                    })
                    .map(Source::Association),
                Destination::Address(x) if x == other_addr => Some(Source::Datagram(my_addr)),
                Destination::Address(_) => None,
                Destination::Multicast => Some(Source::Datagram(my_addr)),
            };
            let other_alive = self.alive[1 - side as usize];
            let delivered = source.is_some() && other_alive;
            if let (Some(source), true) = (source, other_alive) {
                match side {
                    Side::A => self.b.handle(now, source, t.protocol, &bytes),
                    Side::B => self.a.handle(now, source, t.protocol, &bytes),
                }
            }
            self.log.push(Sent {
                at: now,
                from: side,
                transmit: t,
                bytes,
                delivered,
            });
        }
        moved
    }
}
