//! ASAP and ENRP over UDP on tokio, without blocking and with bounds.
//!
//! # Association model
//!
//! Each bound socket ([`UdpEndpoints::bind`]) is for one protocol (what
//! plain datagrams on it carry) and one inbound [`Framing`]. An
//! association is one **(local socket, remote address)** pair: a peer that
//! talks ASAP to the ASAP socket and ENRP to the ENRP socket from one
//! address has two associations, and a datagram sent to the ENRP socket is
//! always an input of the ENRP socket's association ([`Input::Message`]
//! with [`Endpoint::Udp`] of that socket and
//! [`Payload::Message`]`(`[`Protocol::Enrp`]`)`), whatever it carries: the
//! node refuses it when it does not parse as ENRP.
//!
//! * The first datagram from a new remote on a socket opens an association:
//!   [`Input::Up`] (unverified) comes, then its [`Input::Message`].
//!   [`UdpEndpoints::open`] opens one at once (UDP has no handshake).
//! * At most [`UdpConfig::max_associations`] exist (all sockets together).
//!   When the table is full, a datagram from a new remote is dropped and
//!   counted ([`UdpCounters::refused_peers`]), and `open` fails with
//!   [`OpenError::Full`]: an established association is never ended to
//!   make room (no silent Down for a flood of new source ports).
//! * An association this side opened whose peer has sent nothing within
//!   [`UdpConfig::no_answer_timeout`] of the first message sent to it is
//!   reported down ([`DownReason::NoAnswer`]: the "connect" never
//!   answered).
//! * Any association that has received nothing for
//!   [`UdpConfig::idle_timeout`] is reported down ([`DownReason::Idle`])
//!   and forgotten.
//! * A multicast group's socket ([`UdpEndpoints::join_multicast`]) opens
//!   no association: its datagrams are connectionless
//!   ([`Incoming::connectionless`], [`AssocId::NONE`]).
//!
//! # Receiving and sending
//!
//! The node's task polls the sockets itself ([`UdpEndpoints::poll_input`]),
//! through tokio's readiness of each socket, and takes what a socket has
//! ready in one batch: on Linux one `recvmmsg` of up to 16 datagrams, each
//! into a slot of [`MAX_DATAGRAM`] bytes (1 MiB of slots per node, whose
//! pages the system maps only as datagrams are written to them); elsewhere
//! one `recvfrom`. The batch is handed out one input at a time; nothing
//! more is read before the node has taken it and asks for its next input,
//! so a busy node leaves the backlog in the kernel's receive buffer (which
//! drops what does not fit) instead of in memory. An empty datagram, or
//! one too short for its framing, is dropped and counted
//! ([`UdpCounters::dropped_datagrams`]); every other one goes to the node
//! as it is.
//!
//! Sending never waits. By default the datagram is handed to the kernel
//! with one non-blocking `sendto`. A node's task instead defers its sends
//! ([`UdpEndpoints::defer_sends`]): what it sends while it handles the
//! inputs that are ready waits (at most 32 datagrams and
//! [`DEFERRED_BYTES`]; more sends the ones kept first) until the task
//! flushes before it waits again ([`UdpEndpoints::flush`]), and leaves
//! then with one `sendmmsg` per socket on Linux (one `sendto` each
//! elsewhere). Either way, a datagram the kernel does not take at once
//! (its send buffer is full) is dropped and counted
//! ([`UdpCounters::dropped_sends`]), never queued for later. UDP may lose;
//! the machines resend. (The send goes to the socket directly rather than
//! through `try_send_to`, which refuses until the runtime's reactor has
//! once reported the socket writable, and would drop a new socket's first
//! datagrams.)
//!
//! # Batched system calls
//!
//! The batched calls are this transport's own FFI (`udp_sys`, `libc`'s
//! `recvmmsg` and `sendmmsg`), not `quinn-udp`: `quinn-udp` sends one
//! destination's segments per call (GSO), while a node answers many peers
//! at once, and its receive path asks for control messages (GRO, ECN,
//! packet info) that a node does not use. One receive call serves a burst
//! of requests and one send call carries their answers: a registrar
//! answering handle resolutions over loopback spent 3.2-3.7 µs of CPU per
//! resolution with them against 3.8-4.2 µs before (1,000 PEs; 4.1-4.3 µs
//! against 5.2-6.0 µs with 100,000), together with the registrar's
//! cheaper answers (`BENCHMARKS.md`, "Resolutions against a one-thread
//! blocking UDP echo server", "With batched UDP I/O"). The
//! transport's own receive figure is printed by the `udp_receive_cost`
//! test (`cargo test --release --test it net::tokio_udp::udp_receive_cost
//! -- --nocapture`).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::collections::VecDeque;

// foldhash, seeded per process: cheaper than SipHash for the table looked
// up at every datagram; the table is bounded by `max_associations`.
use hashbrown::HashMap;
use std::boxed::Box;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use std::vec::Vec;

use ::tokio::net::UdpSocket;
use ::tokio::time::{Instant, Sleep};

use super::udp_sys::{self, Outgoing, RecvBatch, SEND_BATCH};
use super::{DownReason, Endpoint, Input, OpenError, SendError, POLL_BUDGET};
use crate::id::AssocId;
use crate::transport::multicast::Multicast;
use crate::transport::{Framing, Incoming, Payload};
use crate::wire::Protocol;

/// The largest datagram read (larger ones are truncated by the kernel and
/// then rejected by the codec).
pub const MAX_DATAGRAM: usize = 65_536;

/// The largest datagram sent (IPv4's UDP payload limit).
pub const MAX_SEND: usize = 65_507;

/// How many bytes of deferred datagrams are kept at most before they are
/// sent ([`UdpEndpoints::defer_sends`]).
pub const DEFERRED_BYTES: usize = 256 * 1024;

/// UDP association numbers stay below this (the SCTP transport's bit).
const UDP_ID_LIMIT: u32 = 0x4000_0000;

/// The UDP endpoints' limits and timers (the same meaning as the
/// thread-based transport's, except that a full table refuses new peers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpConfig {
    /// An association opened by this side whose peer has not answered this
    /// long after the first message sent to it is reported down
    /// ([`DownReason::NoAnswer`]).
    pub no_answer_timeout: Duration,
    /// An association that has received nothing this long is reported down
    /// ([`DownReason::Idle`]).
    pub idle_timeout: Duration,
    /// The most associations at once, all sockets together; beyond it new
    /// remotes are refused (see the [module](self) documentation).
    pub max_associations: usize,
    /// The kernel receive buffer (`SO_RCVBUF`) asked for each socket, in
    /// bytes (the kernel caps it at `net.core.rmem_max`); `None` keeps the
    /// system's default.
    pub receive_buffer: Option<usize>,
}

/// [`UdpConfig::receive_buffer`] by default: 4 MiB.
pub const DEFAULT_RECEIVE_BUFFER: usize = 4 << 20;

impl Default for UdpConfig {
    /// 5 s without an answer, 120 s idle, 4,096 associations,
    /// [`DEFAULT_RECEIVE_BUFFER`].
    fn default() -> Self {
        UdpConfig {
            no_answer_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(120),
            max_associations: 4096,
            receive_buffer: Some(DEFAULT_RECEIVE_BUFFER),
        }
    }
}

/// What the UDP endpoints counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpCounters {
    /// Datagrams from a new remote dropped because the association table
    /// was full.
    pub refused_peers: u64,
    /// Datagrams the kernel did not take at once (dropped, not queued).
    pub dropped_sends: u64,
    /// Received datagrams dropped: empty, or too short for their framing.
    pub dropped_datagrams: u64,
    /// Errors reported by a socket on receive (ICMP errors).
    pub receive_errors: u64,
}

#[derive(Debug)]
struct Peer {
    id: AssocId,
    framing: Framing,
    last_heard: Instant,
    /// Opened by this side and not answered yet: since when.
    unanswered_since: Option<Instant>,
    heard: bool,
}

#[derive(Debug)]
struct Bound {
    socket: UdpSocket,
    local: SocketAddr,
    protocol: Protocol,
    inbound: Framing,
    multicast: bool,
}

type Key = (usize, SocketAddr);

/// A node's UDP sockets and associations. See the [module](self)
/// documentation.
#[derive(Debug)]
pub struct UdpEndpoints {
    config: UdpConfig,
    sockets: Vec<Bound>,
    peers: HashMap<Key, Peer>,
    by_id: HashMap<AssocId, Key>,
    next_id: u32,
    /// No association expires before this (a lower bound, exact after each
    /// scan).
    next_check: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
    /// Inputs ready for the node (a new association's message after its
    /// Up, the associations an expiry scan ended).
    pending: VecDeque<Input>,
    /// The datagrams of the last receive call, of socket `batch_socket`;
    /// those from `batch_next` on are not handed out yet. (Boxed: the
    /// transport is moved around inside a node's driver.)
    batch: Box<RecvBatch>,
    batch_socket: usize,
    batch_next: usize,
    /// Sends wait in `out` until [`flush`](Self::flush) (see
    /// [`defer_sends`](Self::defer_sends)).
    defer: bool,
    /// The bytes of the datagrams waiting to be sent, and the datagrams.
    out: Vec<u8>,
    out_msgs: Vec<Outgoing>,
    frame: Vec<u8>,
    /// The socket polled first next time (they take turns).
    turn: usize,
    counters: UdpCounters,
}

impl UdpEndpoints {
    /// No socket yet.
    pub fn new(config: UdpConfig) -> Self {
        UdpEndpoints {
            config,
            sockets: Vec::new(),
            peers: HashMap::new(),
            by_id: HashMap::new(),
            next_id: 1,
            next_check: None,
            timer: None,
            pending: VecDeque::new(),
            batch: Box::default(),
            batch_socket: 0,
            batch_next: 0,
            defer: false,
            out: Vec::new(),
            out_msgs: Vec::new(),
            frame: Vec::new(),
            turn: 0,
            counters: UdpCounters::default(),
        }
    }

    /// Binds a socket at `addr` for `protocol` (what plain datagrams on it
    /// carry; every association of this socket is of this protocol); peers
    /// that contact it first are framed as `inbound` says. Must be called
    /// within a tokio runtime. Returns the socket's index.
    pub fn bind(
        &mut self,
        addr: SocketAddr,
        protocol: Protocol,
        inbound: Framing,
    ) -> io::Result<usize> {
        super::runtime()?;
        let socket = std::net::UdpSocket::bind(addr)?;
        self.add_socket(socket, protocol, inbound, false)
    }

    /// Joins the multicast `channel` (IPv4 or IPv6) for `protocol`: a
    /// socket bound to the group and port with address reuse, so that
    /// several nodes of one host can listen. Its datagrams are
    /// connectionless. Must be called within a tokio runtime. Returns the
    /// socket's index.
    pub fn join_multicast(&mut self, channel: Multicast, protocol: Protocol) -> io::Result<usize> {
        use socket2::{Domain, Socket, Type};
        super::runtime()?;
        let group = channel.group();
        self.share_port_with_group(group)?;
        let socket = Socket::new(Domain::for_address(group), Type::DGRAM, None)?;
        socket.set_reuse_address(true)?;
        if channel.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.bind(&group.into())?;
        match channel {
            Multicast::V4 { group, interface } => {
                socket.join_multicast_v4(group.ip(), &interface)?
            }
            Multicast::V6 { group, interface } => {
                socket.join_multicast_v6(group.ip(), interface)?
            }
        }
        channel.configure_send(&socket2::SockRef::from(&socket))?;
        self.add_socket(socket.into(), protocol, Framing::Plain, true)
    }

    /// A wildcard socket of this node on the group's port would keep the
    /// group's socket from binding and would also receive the group's
    /// datagrams: it gets address reuse and no longer receives groups it
    /// did not join itself.
    fn share_port_with_group(&self, group: SocketAddr) -> io::Result<()> {
        for b in &self.sockets {
            let wildcard = b.local.ip().is_unspecified();
            if b.multicast || !wildcard || b.local.port() != group.port() {
                continue;
            }
            let s = socket2::SockRef::from(&b.socket);
            s.set_reuse_address(true)?;
            #[cfg(target_os = "linux")]
            match b.local {
                SocketAddr::V4(_) => s.set_multicast_all_v4(false)?,
                SocketAddr::V6(_) => s.set_multicast_all_v6(false)?,
            }
        }
        Ok(())
    }

    /// Makes socket `socket` send multicast on `channel`'s interface, with
    /// loopback on and a TTL (hop limit) of 1. The socket must be of the
    /// channel's family.
    pub fn enable_multicast_send(&mut self, socket: usize, channel: Multicast) -> io::Result<()> {
        let Some(b) = self.sockets.get(socket) else {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such socket"));
        };
        if b.local.is_ipv6() != channel.is_ipv6() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the multicast group and the socket are of different address families",
            ));
        }
        channel.configure_send(&socket2::SockRef::from(&b.socket))
    }

    fn add_socket(
        &mut self,
        socket: std::net::UdpSocket,
        protocol: Protocol,
        inbound: Framing,
        multicast: bool,
    ) -> io::Result<usize> {
        if let Some(bytes) = self.config.receive_buffer {
            socket2::SockRef::from(&socket).set_recv_buffer_size(bytes)?;
        }
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let socket = UdpSocket::from_std(socket)?;
        self.sockets.push(Bound {
            socket,
            local,
            protocol,
            inbound,
            multicast,
        });
        Ok(self.sockets.len() - 1)
    }

    /// The local address of socket `socket`.
    pub fn local_addr(&self, socket: usize) -> Option<SocketAddr> {
        self.sockets.get(socket).map(|b| b.local)
    }

    /// The protocol of socket `socket`.
    pub fn protocol(&self, socket: usize) -> Option<Protocol> {
        self.sockets.get(socket).map(|b| b.protocol)
    }

    /// The number of associations.
    pub fn association_count(&self) -> usize {
        self.peers.len()
    }

    /// The socket and remote address of `assoc`.
    pub fn association(&self, assoc: AssocId) -> Option<(usize, SocketAddr)> {
        self.by_id.get(&assoc).copied()
    }

    /// What was counted.
    pub fn counters(&self) -> UdpCounters {
        self.counters
    }

    fn new_id(&mut self) -> AssocId {
        loop {
            let id = AssocId(self.next_id);
            self.next_id = self.next_id.wrapping_add(1) % UDP_ID_LIMIT;
            if self.next_id == 0 {
                self.next_id = 1;
            }
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    /// Adds an association; `None` when the table is full.
    fn insert(&mut self, key: Key, framing: Framing, now: Instant) -> Option<AssocId> {
        if self.peers.len() >= self.config.max_associations {
            return None;
        }
        let id = self.new_id();
        self.check_by(now.checked_add(self.config.idle_timeout));
        self.peers.insert(
            key,
            Peer {
                id,
                framing,
                last_heard: now,
                unanswered_since: None,
                heard: false,
            },
        );
        self.by_id.insert(id, key);
        Some(id)
    }

    /// Opens (or finds) the association of socket `socket` with `remote`,
    /// framed as `framing` when new. Returns it and whether it is new; a
    /// new one is up at once (the caller reports it up, unverified).
    pub fn open(
        &mut self,
        socket: usize,
        remote: SocketAddr,
        framing: Framing,
    ) -> Result<(AssocId, bool), OpenError> {
        match self.sockets.get(socket) {
            Some(b) if !b.multicast => {}
            _ => return Err(OpenError::NoSuchSocket),
        }
        if let Some(p) = self.peers.get(&(socket, remote)) {
            return Ok((p.id, false));
        }
        let now = Instant::now();
        match self.insert((socket, remote), framing, now) {
            Some(id) => Ok((id, true)),
            None => Err(OpenError::Full),
        }
    }

    /// Forgets `assoc` (no input follows).
    pub fn close(&mut self, assoc: AssocId) {
        if let Some(key) = self.by_id.remove(&assoc) {
            self.peers.remove(&key);
            // A message of it not taken yet (the one that opened it) goes
            // with it: no input follows a close.
            self.pending.retain(|i| match i {
                Input::Message { incoming, .. } => {
                    incoming.connectionless || incoming.assoc != assoc
                }
                Input::Up { assoc: a, .. } | Input::Down { assoc: a, .. } => *a != assoc,
                Input::ConnectFailed { .. } => true,
            });
        }
    }

    /// Sends `msg` with `ppid` on `assoc`: on a tagged association the PPID
    /// goes first, on a plain one the bytes go as they are. Never waits.
    pub fn send(&mut self, assoc: AssocId, ppid: u32, msg: &[u8]) -> Result<(), SendError> {
        let Some(&key) = self.by_id.get(&assoc) else {
            return Err(SendError::UnknownAssociation);
        };
        let Some(peer) = self.peers.get_mut(&key) else {
            return Err(SendError::UnknownAssociation);
        };
        let framing = peer.framing;
        let extra = if framing == Framing::Tagged { 4 } else { 0 };
        if msg.len() + extra > MAX_SEND {
            return Err(SendError::TooLarge);
        }
        if !peer.heard && peer.unanswered_since.is_none() {
            let now = Instant::now();
            peer.unanswered_since = Some(now);
            self.check_by(now.checked_add(self.config.no_answer_timeout));
        }
        let mut frame = core::mem::take(&mut self.frame);
        frame.clear();
        if framing == Framing::Tagged {
            frame.extend_from_slice(&ppid.to_be_bytes());
        }
        frame.extend_from_slice(msg);
        let sent = self.send_raw(key.0, key.1, &frame);
        self.frame = frame;
        sent
    }

    /// Sends a plain datagram from socket `socket` to `remote`, outside any
    /// association (a reply to a connectionless datagram, a multicast
    /// announcement to the group). Never waits.
    pub fn send_to(
        &mut self,
        socket: usize,
        remote: SocketAddr,
        msg: &[u8],
    ) -> Result<(), SendError> {
        if msg.len() > MAX_SEND {
            return Err(SendError::TooLarge);
        }
        self.send_raw(socket, remote, msg)
    }

    fn send_raw(
        &mut self,
        socket: usize,
        remote: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), SendError> {
        let Some(b) = self.sockets.get(socket) else {
            return Err(SendError::NoSuchSocket);
        };
        if !self.defer {
            // One non-blocking sendto (the socket is non-blocking).
            return match socket2::SockRef::from(&b.socket).send_to(bytes, &remote.into()) {
                Ok(_) => Ok(()),
                Err(e) => {
                    self.counters.dropped_sends += 1;
                    Err(SendError::Dropped(e.kind()))
                }
            };
        }
        if self.out_msgs.len() >= SEND_BATCH || self.out.len() + bytes.len() > DEFERRED_BYTES {
            self.flush();
        }
        self.out_msgs.push(Outgoing {
            socket,
            to: remote,
            start: self.out.len(),
            len: bytes.len(),
        });
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    /// Makes [`send`](Self::send) and [`send_to`](Self::send_to) keep
    /// their datagrams (at most 32 or [`DEFERRED_BYTES`]; more sends the
    /// ones kept first) until [`flush`](Self::flush), which hands
    /// each socket's to the kernel together (one `sendmmsg` on Linux). A
    /// node's task defers, and flushes before it waits for its next input.
    /// Turning it off flushes.
    pub fn defer_sends(&mut self, on: bool) {
        if !on {
            self.flush();
        }
        self.defer = on;
    }

    /// Hands the datagrams kept by [`defer_sends`](Self::defer_sends) to
    /// the kernel, never waiting: what it does not take at once is dropped
    /// and counted ([`UdpCounters::dropped_sends`]), as an undeferred send
    /// would be.
    pub fn flush(&mut self) {
        let mut done = 0;
        while done < self.out_msgs.len() {
            let socket = self.out_msgs[done].socket;
            // The run of datagrams from the same socket.
            let run = self.out_msgs[done..]
                .iter()
                .take_while(|o| o.socket == socket)
                .count();
            let msgs = &self.out_msgs[done..done + run];
            match self.sockets.get(socket) {
                Some(b) => match udp_sys::send(&b.socket, &self.out, msgs) {
                    Ok(n) if n > 0 => done += n,
                    // The first one refused: it is lost, the next ones
                    // are tried.
                    Ok(_) | Err(_) => {
                        self.counters.dropped_sends += 1;
                        done += 1;
                    }
                },
                None => {
                    self.counters.dropped_sends += run as u64;
                    done += run;
                }
            }
        }
        self.out_msgs.clear();
        self.out.clear();
    }

    /// Lowers the time of the next expiry scan to `at` (`None`: never).
    fn check_by(&mut self, at: Option<Instant>) {
        if let Some(at) = at {
            self.next_check = Some(self.next_check.map_or(at, |t| t.min(at)));
        }
    }

    /// When `p` expires, and why (`None`: never).
    fn expiry_of(c: &UdpConfig, p: &Peer) -> Option<(Instant, DownReason)> {
        let idle = p
            .last_heard
            .checked_add(c.idle_timeout)
            .map(|t| (t, DownReason::Idle));
        let unanswered = p
            .unanswered_since
            .and_then(|t| t.checked_add(c.no_answer_timeout))
            .map(|t| (t, DownReason::NoAnswer));
        match (idle, unanswered) {
            (Some(a), Some(b)) => Some(if b.0 <= a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Ends the associations that expired by `now` (their Downs go to
    /// `pending`); walks the table only once the next expiry has come.
    fn expire(&mut self, now: Instant) {
        if self.next_check.is_none_or(|t| now < t) {
            return;
        }
        let c = self.config;
        let mut next: Option<Instant> = None;
        let mut dead = Vec::new();
        for (k, p) in &self.peers {
            match Self::expiry_of(&c, p) {
                Some((at, reason)) if at <= now => dead.push((*k, reason)),
                Some((at, _)) => next = Some(next.map_or(at, |n| n.min(at))),
                None => {}
            }
        }
        self.next_check = next;
        for (k, reason) in dead {
            if let Some(p) = self.peers.remove(&k) {
                self.by_id.remove(&p.id);
                self.pending.push_back(Input::Down {
                    assoc: p.id,
                    reason,
                });
            }
        }
    }

    /// When the next association may expire (the input future wakes up
    /// then by itself).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.next_check
    }

    /// Runs the expiry timer; `true` when it has come (scan again).
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(at) = self.next_check else {
            return false;
        };
        let now = Instant::now();
        if at <= now {
            self.expire(now);
            return true;
        }
        let timer = match self.timer.as_mut() {
            Some(t) => {
                if t.deadline() != at {
                    t.as_mut().reset(at);
                }
                t
            }
            None => self.timer.insert(Box::pin(::tokio::time::sleep_until(at))),
        };
        if timer.as_mut().poll(cx).is_ready() {
            self.expire(Instant::now().max(at));
            return true;
        }
        false
    }

    /// The next input: a message, a new association's Up, an expired
    /// association's Down. Cancel-safe; never blocks.
    pub fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Input> {
        for _ in 0..POLL_BUDGET {
            if let Some(i) = self.pending.pop_front() {
                return Poll::Ready(i);
            }
            if !self.poll_timer(cx) {
                break;
            }
        }
        if let Some(i) = self.pending.pop_front() {
            return Poll::Ready(i);
        }
        let mut budget = POLL_BUDGET;
        // What the last receive call took comes first.
        while self.batch_next < self.batch.len() {
            let k = self.batch_next;
            self.batch_next += 1;
            if let Some(input) = self.receive(self.batch_socket, k) {
                return Poll::Ready(input);
            }
            budget -= 1;
        }
        let n = self.sockets.len();
        for k in 0..n {
            let i = (self.turn + k) % n;
            loop {
                if budget == 0 {
                    // Dropped datagrams only so far: let others run, and
                    // come back at once.
                    self.turn = i;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                match self.sockets[i].socket.poll_recv_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => {
                        self.counters.receive_errors += 1;
                        budget -= 1;
                        continue;
                    }
                    Poll::Pending => break,
                }
                match udp_sys::try_recv(&self.sockets[i].socket, &mut self.batch) {
                    Ok(_) => {
                        self.batch_socket = i;
                        self.batch_next = 0;
                        self.turn = (i + 1) % n;
                        while self.batch_next < self.batch.len() {
                            let k = self.batch_next;
                            self.batch_next += 1;
                            if let Some(input) = self.receive(i, k) {
                                return Poll::Ready(input);
                            }
                            budget = budget.saturating_sub(1);
                        }
                    }
                    // Readiness cleared: the next poll registers the waker.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // An ICMP error reported on the socket.
                    Err(_) => {
                        self.counters.receive_errors += 1;
                        budget -= 1;
                    }
                }
            }
        }
        Poll::Pending
    }

    /// Waits for the next input (cancel-safe).
    pub async fn next_input(&mut self) -> Input {
        core::future::poll_fn(|cx| self.poll_input(cx)).await
    }

    /// Makes an input of datagram `k` of the last receive call, on socket
    /// `i`, or drops it (`None`).
    fn receive(&mut self, i: usize, k: usize) -> Option<Input> {
        let b = &self.sockets[i];
        let (protocol, inbound, local, multicast) = (b.protocol, b.inbound, b.local, b.multicast);
        let endpoint = Endpoint::Udp(i);
        let (bytes, from) = self.batch.get(k)?;
        let len = bytes.len();
        let Some(from) = from.filter(|_| len > 0) else {
            self.counters.dropped_datagrams += 1;
            return None;
        };
        if multicast {
            return Some(Input::Message {
                endpoint,
                local,
                incoming: Incoming {
                    assoc: AssocId::NONE,
                    remote: from,
                    new: false,
                    connectionless: true,
                    payload: Payload::Message(protocol),
                    bytes: bytes.to_vec(),
                },
            });
        }
        let key = (i, from);
        let known = self.peers.get(&key).map(|p| p.framing);
        let framing = known.unwrap_or(inbound);
        // One too short for its PPID is dropped before it opens anything.
        if framing == Framing::Tagged && len < 4 {
            self.counters.dropped_datagrams += 1;
            return None;
        }
        let now = Instant::now();
        let new = known.is_none();
        if new && self.insert(key, framing, now).is_none() {
            self.counters.refused_peers += 1;
            return None;
        }
        let peer = self.peers.get_mut(&key)?;
        peer.last_heard = now;
        peer.unanswered_since = None;
        peer.heard = true;
        let assoc = peer.id;
        let (bytes, _) = self.batch.get(k)?;
        let (payload, bytes) = match framing {
            Framing::Plain => (Payload::Message(protocol), bytes.to_vec()),
            Framing::Tagged => {
                let ppid = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                let payload = match Protocol::from_ppid(ppid) {
                    Some(p) => Payload::Message(p),
                    None => Payload::Data(ppid),
                };
                (payload, bytes[4..].to_vec())
            }
        };
        let message = Input::Message {
            endpoint,
            local,
            incoming: Incoming {
                assoc,
                remote: from,
                new: false,
                connectionless: false,
                payload,
                bytes,
            },
        };
        if new {
            self.pending.push_back(message);
            return Some(Input::Up {
                assoc,
                endpoint,
                local,
                remote: from,
                protocol,
                // Only the datagram's source address says where the peer is.
                verified: false,
                authenticated: false,
            });
        }
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn association_numbers_stay_below_the_sctp_bit() {
        let mut t = UdpEndpoints::new(UdpConfig::default());
        t.next_id = UDP_ID_LIMIT - 1;
        let a = t.new_id();
        let b = t.new_id();
        assert_eq!((a, b), (AssocId(UDP_ID_LIMIT - 1), AssocId(1)));
        for id in [a, b] {
            assert_eq!(id.0 & 0x4000_0000, 0, "not the SCTP bit");
            assert!(!super::super::tcp::is_tcp(id));
        }
    }

    #[test]
    fn the_earlier_of_idle_and_no_answer_names_the_reason() {
        let c = UdpConfig {
            no_answer_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(10),
            ..UdpConfig::default()
        };
        let t0 = Instant::now();
        let mut p = Peer {
            id: AssocId(1),
            framing: Framing::Plain,
            last_heard: t0,
            unanswered_since: None,
            heard: false,
        };
        let s = Duration::from_secs;
        assert_eq!(
            UdpEndpoints::expiry_of(&c, &p),
            Some((t0 + s(10), DownReason::Idle))
        );
        p.unanswered_since = Some(t0 + s(2));
        assert_eq!(
            UdpEndpoints::expiry_of(&c, &p),
            Some((t0 + s(3), DownReason::NoAnswer))
        );
        p.unanswered_since = Some(t0 + s(9) + Duration::from_millis(500));
        assert_eq!(
            UdpEndpoints::expiry_of(&c, &p),
            Some((t0 + s(10), DownReason::Idle))
        );
        let never = UdpConfig {
            no_answer_timeout: Duration::MAX,
            idle_timeout: Duration::MAX,
            ..c
        };
        assert_eq!(UdpEndpoints::expiry_of(&never, &p), None);
    }
}
