//! ASAP and ENRP over UDP.
//!
//! # Association model
//!
//! UDP has no associations, so the transport numbers each remote socket
//! address as one [`AssocId`]:
//!
//! * the first datagram from a new address opens an association (the
//!   caller reports [`TransportEvent::Up`](crate::transmit::TransportEvent)
//!   before the message), and so does [`UdpTransport::open`] (at once: UDP
//!   has no handshake);
//! * an association the caller opened whose peer has sent nothing within
//!   [`UdpConfig::no_answer_timeout`] of the first message sent to it is
//!   reported down (the "connect" never answered);
//! * any association that has received nothing for
//!   [`UdpConfig::idle_timeout`] is reported down and forgotten;
//! * at most [`UdpConfig::max_associations`] exist; a new peer beyond that
//!   ends the least recently heard one (reported down).
//!
//! Loss is the machines' business (their timers resend). A datagram that is
//! empty is ignored, one too short for its framing is dropped, and every
//! other one is handed to the machine as it is, which answers or ignores
//! it. Received datagrams are read into one fixed buffer of
//! [`MAX_DATAGRAM`] bytes, so nothing grows with bad input.
//!
//! Each socket has a reader thread that blocks on `recv_from` and hands
//! datagrams to the node's bounded input channel; sending happens on the
//! node's thread.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use std::vec::Vec;

pub use super::multicast::{Multicast, ASAP_GROUP_V4, ASAP_GROUP_V6, ENRP_GROUP_V4, ENRP_GROUP_V6};
use super::{Framing, Incoming, Payload, PPID_DATA};
use crate::id::AssocId;
use crate::wire::Protocol;

/// The largest datagram read (larger ones are truncated by the kernel and
/// then rejected by the codec).
pub const MAX_DATAGRAM: usize = 65_536;

/// The UDP transport's limits and timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpConfig {
    /// An association opened by this side whose peer has not answered this
    /// long after the first message is reported down.
    pub no_answer_timeout: Duration,
    /// An association that has received nothing this long is reported down.
    pub idle_timeout: Duration,
    /// The most associations at once.
    pub max_associations: usize,
    /// The kernel receive buffer (`SO_RCVBUF`) asked for each socket, in
    /// bytes (the kernel caps it at `net.core.rmem_max`); `None` keeps the
    /// system's default. Datagrams arriving while it is full are dropped
    /// by the kernel: a registrar answered by many PEs at once needs room.
    pub receive_buffer: Option<usize>,
}

/// [`UdpConfig::receive_buffer`] by default: 4 MiB (Linux's default
/// `rmem_max` caps it at 208 KiB unless raised).
pub const DEFAULT_RECEIVE_BUFFER: usize = 4 << 20;

impl Default for UdpConfig {
    /// 5 s without an answer, 120 s idle, 4096 associations,
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

/// A datagram a reader thread received.
#[derive(Debug)]
pub struct Datagram {
    /// Which of the transport's sockets it came on.
    pub socket: usize,
    /// The sender.
    pub from: SocketAddr,
    /// The bytes.
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
struct Peer {
    id: AssocId,
    framing: Framing,
    protocol: Protocol,
    /// The socket used to reach it.
    socket: usize,
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
    /// A multicast channel: its datagrams are connectionless
    /// ([`Incoming::connectionless`]) and open no association.
    multicast: bool,
    reader: Option<JoinHandle<()>>,
}

/// See the [module](self) documentation.
#[derive(Debug)]
pub struct UdpTransport {
    config: UdpConfig,
    sockets: Vec<Bound>,
    peers: HashMap<SocketAddr, Peer>,
    by_id: HashMap<AssocId, SocketAddr>,
    next_id: u32,
    /// No association expires before this (a lower bound, exact after
    /// each scan): [`expire`](Self::expire) scans only from then on, so
    /// that a busy node does not walk every association per datagram.
    next_check: Option<Instant>,
    stop: Arc<AtomicBool>,
    frame: Vec<u8>,
}

impl UdpTransport {
    /// A transport with no socket yet.
    pub fn new(config: UdpConfig) -> Self {
        UdpTransport {
            config,
            sockets: Vec::new(),
            peers: HashMap::new(),
            by_id: HashMap::new(),
            next_id: 1,
            next_check: None,
            stop: Arc::new(AtomicBool::new(false)),
            frame: Vec::with_capacity(MAX_DATAGRAM + 4),
        }
    }

    /// Binds a socket for `protocol` (what plain datagrams on it carry) at
    /// `addr` and starts its reader, which sends every datagram into
    /// `input` (wrapped by `wrap`). Peers that contact it first are framed
    /// as `inbound` says. Returns the socket's index.
    pub fn bind<T: Send + 'static>(
        &mut self,
        addr: SocketAddr,
        protocol: Protocol,
        inbound: Framing,
        input: SyncSender<T>,
        wrap: fn(Datagram) -> T,
    ) -> io::Result<usize> {
        let socket = UdpSocket::bind(addr)?;
        self.add_socket(socket, protocol, inbound, false, input, wrap)
    }

    /// Joins the multicast `channel` (IPv4 or IPv6) for `protocol`
    /// (announcements from registrars, ASAP SERVER_ANNOUNCE or ENRP
    /// PRESENCE): a socket bound to the group and port with address reuse,
    /// so that several nodes of one host can listen. Its datagrams are
    /// connectionless. Returns the socket's index.
    pub fn join_multicast<T: Send + 'static>(
        &mut self,
        channel: Multicast,
        protocol: Protocol,
        input: SyncSender<T>,
        wrap: fn(Datagram) -> T,
    ) -> io::Result<usize> {
        use socket2::{Domain, Socket, Type};
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
        // So that the wake-up at shutdown leaves on the right interface.
        channel.configure_send(&socket2::SockRef::from(&socket))?;
        let socket: UdpSocket = socket.into();
        // A safety net should the wake-up datagram not come back.
        socket.set_read_timeout(Some(Duration::from_millis(500)))?;
        self.add_socket(socket, protocol, Framing::Plain, true, input, wrap)
    }

    /// A socket of this transport bound to the wildcard address on the
    /// group's port (a registrar's ENRP socket on `0.0.0.0:9901` with the
    /// ENRP group on port 9901) would keep the group's socket from binding,
    /// and would also receive the group's datagrams (as association
    /// traffic): it gets address reuse (Linux checks it at the later bind)
    /// and no longer receives groups it did not join itself.
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

    /// Makes socket `index` send multicast on `channel`'s interface, with
    /// loopback on (so that nodes of the same host hear it) and a TTL (hop
    /// limit) of 1. The socket must be of the channel's family.
    pub fn enable_multicast_send(&mut self, index: usize, channel: Multicast) -> io::Result<()> {
        let Some(b) = self.sockets.get(index) else {
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

    fn add_socket<T: Send + 'static>(
        &mut self,
        socket: UdpSocket,
        protocol: Protocol,
        inbound: Framing,
        multicast: bool,
        input: SyncSender<T>,
        wrap: fn(Datagram) -> T,
    ) -> io::Result<usize> {
        if let Some(bytes) = self.config.receive_buffer {
            socket2::SockRef::from(&socket).set_recv_buffer_size(bytes)?;
        }
        let local = socket.local_addr()?;
        let index = self.sockets.len();
        let reader_socket = socket.try_clone()?;
        let stop = self.stop.clone();
        let reader = std::thread::Builder::new()
            .name(std::format!("udp {local}"))
            .spawn(move || {
                let mut buf = std::vec![0u8; MAX_DATAGRAM];
                while !stop.load(Ordering::Acquire) {
                    match reader_socket.recv_from(&mut buf) {
                        Ok((n, from)) => {
                            if stop.load(Ordering::Acquire) {
                                break;
                            }
                            if n == 0 {
                                continue;
                            }
                            let d = Datagram {
                                socket: index,
                                from,
                                bytes: buf[..n].to_vec(),
                            };
                            if input.send(wrap(d)).is_err() {
                                break;
                            }
                        }
                        // ICMP errors reported on the socket, interrupted calls.
                        Err(_) => continue,
                    }
                }
            })?;
        self.sockets.push(Bound {
            socket,
            local,
            protocol,
            inbound,
            multicast,
            reader: Some(reader),
        });
        Ok(index)
    }

    /// The local address of socket `index`.
    pub fn local_addr(&self, index: usize) -> Option<SocketAddr> {
        self.sockets.get(index).map(|b| b.local)
    }

    /// The number of associations.
    pub fn association_count(&self) -> usize {
        self.peers.len()
    }

    /// The remote address of `assoc`.
    pub fn remote(&self, assoc: AssocId) -> Option<SocketAddr> {
        self.by_id.get(&assoc).copied()
    }

    /// The local address `assoc` is reached from.
    pub fn local_of(&self, assoc: AssocId) -> Option<SocketAddr> {
        let remote = self.by_id.get(&assoc)?;
        let peer = self.peers.get(remote)?;
        self.local_addr(peer.socket)
    }

    fn new_id(&mut self) -> AssocId {
        loop {
            let id = AssocId(self.next_id);
            self.next_id = self.next_id.wrapping_add(1).max(1);
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    /// Makes room for one more association; returns the one ended for it.
    fn make_room(&mut self) -> Option<AssocId> {
        if self.peers.len() < self.config.max_associations.max(1) {
            return None;
        }
        let oldest = self
            .peers
            .iter()
            .min_by_key(|(_, p)| p.last_heard)
            .map(|(a, _)| *a)?;
        let peer = self.peers.remove(&oldest)?;
        self.by_id.remove(&peer.id);
        Some(peer.id)
    }

    /// Opens (or finds) the association to `remote` for `protocol`, sent
    /// from socket `socket`. Returns it, whether it is new, and an
    /// association ended to make room.
    pub fn open(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        protocol: Protocol,
        framing: Framing,
        socket: usize,
    ) -> (AssocId, bool, Option<AssocId>) {
        if let Some(p) = self.peers.get(&remote) {
            return (p.id, false, None);
        }
        let ended = self.make_room();
        let id = self.new_id();
        self.check_by(now.checked_add(self.config.idle_timeout));
        self.peers.insert(
            remote,
            Peer {
                id,
                framing,
                protocol,
                socket,
                last_heard: now,
                unanswered_since: None,
                heard: false,
            },
        );
        self.by_id.insert(id, remote);
        (id, true, ended)
    }

    /// Forgets `assoc` (no event).
    pub fn close(&mut self, assoc: AssocId) {
        if let Some(remote) = self.by_id.remove(&assoc) {
            self.peers.remove(&remote);
        }
    }

    /// Turns a datagram from a reader into a message for the machine, or
    /// `None` when it is dropped. `ended` receives an association ended to
    /// make room for a new peer.
    pub fn receive(
        &mut self,
        now: Instant,
        datagram: Datagram,
        ended: &mut Option<AssocId>,
    ) -> Option<Incoming> {
        let Datagram {
            socket,
            from,
            mut bytes,
        } = datagram;
        let bound = self.sockets.get(socket)?;
        let (protocol, inbound) = (bound.protocol, bound.inbound);
        if bound.multicast {
            return Some(Incoming {
                assoc: AssocId(0),
                remote: from,
                new: false,
                connectionless: true,
                payload: Payload::Message(protocol),
                bytes,
            });
        }
        // One too short for its PPID is dropped before it opens (and ends,
        // to make room) an association that nobody would hear of.
        let framing = self.peers.get(&from).map_or(inbound, |p| p.framing);
        if framing == Framing::Tagged && bytes.len() < 4 {
            return None;
        }
        let (assoc, new, gone) = self.open(now, from, protocol, inbound, socket);
        *ended = gone;
        let peer = self.peers.get_mut(&from)?;
        peer.last_heard = now;
        peer.unanswered_since = None;
        peer.heard = true;
        let payload = match peer.framing {
            Framing::Plain => Payload::Message(peer.protocol),
            Framing::Tagged => {
                if bytes.len() < 4 {
                    return None;
                }
                let ppid = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                bytes.drain(..4);
                match Protocol::from_ppid(ppid) {
                    Some(protocol) => Payload::Message(protocol),
                    None => Payload::Data(ppid),
                }
            }
        };
        Some(Incoming {
            assoc,
            remote: from,
            new,
            connectionless: false,
            payload,
            bytes,
        })
    }

    fn send_framed(&mut self, remote: SocketAddr, socket: usize, bytes: &[u8]) {
        if let Some(b) = self.sockets.get(socket) {
            // Loss (a full socket buffer, an ICMP error) is the machines' business.
            let _ = b.socket.send_to(bytes, remote);
        }
    }

    /// Sends a message of `protocol` on `assoc` (framed as the association
    /// wants). Returns `false` when the association is unknown.
    pub fn send(&mut self, now: Instant, assoc: AssocId, protocol: Protocol, msg: &[u8]) -> bool {
        self.send_with(now, assoc, protocol.ppid(), msg)
    }

    /// Sends application data with [`PPID_DATA`] on a tagged association
    /// (on a plain one, the bytes go as they are).
    pub fn send_data(&mut self, now: Instant, assoc: AssocId, msg: &[u8]) -> bool {
        self.send_with(now, assoc, PPID_DATA, msg)
    }

    /// Sends `msg` with `ppid` on `assoc`: on a tagged association the PPID
    /// goes first, on a plain one the bytes go as they are. Returns `false`
    /// when the association is unknown.
    pub fn send_with(&mut self, now: Instant, assoc: AssocId, ppid: u32, msg: &[u8]) -> bool {
        let Some(&remote) = self.by_id.get(&assoc) else {
            return false;
        };
        let Some(peer) = self.peers.get_mut(&remote) else {
            return false;
        };
        let mut unanswered = false;
        if !peer.heard && peer.unanswered_since.is_none() {
            peer.unanswered_since = Some(now);
            unanswered = true;
        }
        let (framing, socket) = (peer.framing, peer.socket);
        if unanswered {
            self.check_by(now.checked_add(self.config.no_answer_timeout));
        }
        let mut frame = core::mem::take(&mut self.frame);
        frame.clear();
        if framing == Framing::Tagged {
            frame.extend_from_slice(&ppid.to_be_bytes());
        }
        frame.extend_from_slice(msg);
        self.send_framed(remote, socket, &frame);
        self.frame = frame;
        true
    }

    /// Sends a plain message to `remote` from socket `socket`, outside any
    /// association.
    pub fn send_to(&mut self, remote: SocketAddr, socket: usize, msg: &[u8]) {
        self.send_framed(remote, socket, msg);
    }

    /// Lowers the time of the next scan to `at` (`None`: never, a timeout
    /// too long to be added to an `Instant`).
    fn check_by(&mut self, at: Option<Instant>) {
        if let Some(at) = at {
            self.next_check = Some(self.next_check.map_or(at, |t| t.min(at)));
        }
    }

    /// When `peer` expires (`None`: never).
    fn expiry_of(c: &UdpConfig, p: &Peer) -> Option<Instant> {
        let idle = p.last_heard.checked_add(c.idle_timeout);
        let unanswered = p
            .unanswered_since
            .and_then(|t| t.checked_add(c.no_answer_timeout));
        match (idle, unanswered) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Associations that failed by `now` (no answer, idle): they are
    /// forgotten and returned, to be reported down. Walks the associations
    /// only once [`next_expiry`](Self::next_expiry) has come.
    pub fn expire(&mut self, now: Instant) -> Vec<AssocId> {
        if self.next_check.is_none_or(|t| now < t) {
            return Vec::new();
        }
        let c = self.config;
        let mut next: Option<Instant> = None;
        let mut dead = Vec::new();
        for (a, p) in &self.peers {
            match Self::expiry_of(&c, p) {
                Some(at) if at <= now => dead.push(*a),
                Some(at) => next = Some(next.map_or(at, |n| n.min(at))),
                None => {}
            }
        }
        self.next_check = next;
        let mut ids = Vec::with_capacity(dead.len());
        for a in dead {
            if let Some(p) = self.peers.remove(&a) {
                self.by_id.remove(&p.id);
                ids.push(p.id);
            }
        }
        ids
    }

    /// When [`expire`](Self::expire) next has something to do (no
    /// association expires earlier; one may expire later, when it was heard
    /// from since).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.next_check
    }

    /// Stops the reader threads and waits for them.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        for b in &self.sockets {
            // Wakes the reader blocked in recv_from (a multicast socket
            // bound to its group is woken through the group).
            let mut to = b.local;
            if to.ip().is_unspecified() {
                to.set_ip(match to {
                    SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            let _ = b.socket.send_to(&[], to);
        }
        for b in &mut self.sockets {
            if let Some(r) = b.reader.take() {
                let _ = r.join();
            }
        }
    }
}

impl Drop for UdpTransport {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn associations_are_bounded_and_expire() {
        let config = UdpConfig {
            no_answer_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(10),
            max_associations: 4,
            receive_buffer: None,
        };
        let mut t = UdpTransport::new(config);
        let t0 = Instant::now();
        let mut ended = Vec::new();
        for p in 1..=10u16 {
            let d = Datagram {
                socket: 0,
                from: addr(p),
                bytes: std::vec![1, 2, 3, 4],
            };
            let mut gone = None;
            // No socket 0 is bound: the datagram is dropped, nothing grows.
            assert!(t.receive(t0, d, &mut gone).is_none());
            let when = t0 + Duration::from_millis(u64::from(p));
            let (_, new, gone) = t.open(when, addr(p), Protocol::Asap, Framing::Plain, 0);
            assert!(new);
            ended.extend(gone);
        }
        assert_eq!(t.association_count(), 4);
        // The least recently heard ones made room.
        assert_eq!(ended.len(), 6);
        assert_eq!(t.remote(ended[0]), None);
        // An opened association that sent and never heard back goes after 1 s.
        let (a, _, _) = t.open(t0, addr(10), Protocol::Asap, Framing::Plain, 0);
        assert!(t.send(t0, a, Protocol::Asap, &[1, 2, 3, 4]));
        assert_eq!(t.expire(t0 + Duration::from_millis(500)), Vec::new());
        assert_eq!(t.expire(t0 + Duration::from_millis(1100)), std::vec![a]);
        // The others go when idle.
        assert_eq!(t.expire(t0 + Duration::from_secs(11)).len(), 3);
        assert_eq!(t.association_count(), 0);
        assert_eq!(t.next_expiry(), None);
    }

    #[test]
    fn expiry_follows_what_was_heard_since() {
        let config = UdpConfig {
            no_answer_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(10),
            max_associations: 8,
            receive_buffer: None,
        };
        let mut t = UdpTransport::new(config);
        let (tx, _rx) = std::sync::mpsc::sync_channel::<Datagram>(4);
        t.bind(addr(0), Protocol::Asap, Framing::Plain, tx, |d| d)
            .unwrap();
        let t0 = Instant::now();
        let d = |p: u16| Datagram {
            socket: 0,
            from: addr(p),
            bytes: std::vec![1, 2, 3, 4],
        };
        let s = Duration::from_secs;
        let mut gone = None;
        let a = t.receive(t0, d(1), &mut gone).unwrap().assoc;
        let b = t.receive(t0 + s(2), d(2), &mut gone).unwrap().assoc;
        assert_eq!(t.next_expiry(), Some(t0 + s(10)));
        // a is heard again: at its first expiry time nothing goes, and the
        // next one is b's.
        t.receive(t0 + s(8), d(1), &mut gone).unwrap();
        assert_eq!(t.expire(t0 + s(10)), Vec::new());
        assert_eq!(t.next_expiry(), Some(t0 + s(12)));
        assert_eq!(t.expire(t0 + s(11)), Vec::new());
        assert_eq!(t.expire(t0 + s(12)), std::vec![b]);
        assert_eq!(t.next_expiry(), Some(t0 + s(18)));
        // A peer opened by this side and never answering goes earlier.
        let (c, _, _) = t.open(t0 + s(13), addr(3), Protocol::Asap, Framing::Plain, 0);
        assert!(t.send(t0 + s(13), c, Protocol::Asap, &[1, 2, 3, 4]));
        assert_eq!(t.next_expiry(), Some(t0 + s(14)));
        assert_eq!(t.expire(t0 + s(14)), std::vec![c]);
        assert_eq!(t.expire(t0 + s(18)), std::vec![a]);
        assert_eq!(t.next_expiry(), None);
        assert_eq!(t.association_count(), 0);
        t.shutdown();
    }

    #[test]
    fn sockets_get_the_receive_buffer_asked_for() {
        let size = |receive_buffer| {
            let mut t = UdpTransport::new(UdpConfig {
                receive_buffer,
                ..UdpConfig::default()
            });
            let (tx, _rx) = std::sync::mpsc::sync_channel::<Datagram>(4);
            t.bind(addr(0), Protocol::Asap, Framing::Plain, tx, |d| d)
                .unwrap();
            let n = socket2::SockRef::from(&t.sockets[0].socket)
                .recv_buffer_size()
                .unwrap();
            t.shutdown();
            n
        };
        let max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let asked = 1 << 20;
        // Linux reports twice what was set (its bookkeeping overhead).
        assert!(size(Some(asked)) >= asked.min(max));
        assert!(size(Some(asked)) > size(Some(4096)));
    }

    #[test]
    fn a_group_on_the_port_of_a_wildcard_socket() {
        // A registrar's ENRP socket on the wildcard address and the ENRP
        // group on the same port (rsplib's 9901 for both).
        let mut t = UdpTransport::new(UdpConfig::default());
        let (tx, rx) = std::sync::mpsc::sync_channel::<Datagram>(16);
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        t.bind(any, Protocol::Enrp, Framing::Plain, tx.clone(), |d| d)
            .unwrap();
        let port = t.local_addr(0).unwrap().port();
        let last = (std::process::id() % 200) as u8 + 1;
        let group = SocketAddrV4::new(Ipv4Addr::new(239, 0, 8, last), port);
        let channel = Multicast::v4(group, Ipv4Addr::LOCALHOST);
        t.join_multicast(channel, Protocol::Enrp, tx, |d| d)
            .unwrap();
        let sender = UdpSocket::bind(addr(0)).unwrap();
        socket2::SockRef::from(&sender)
            .set_multicast_if_v4(&Ipv4Addr::LOCALHOST)
            .unwrap();
        sender.send_to(&[1, 2, 3, 4], group).unwrap();
        sender.send_to(&[5, 6, 7, 8], addr(port)).unwrap();
        // The group's datagram once, on the group's socket; the unicast
        // one on the wildcard socket.
        let mut got = Vec::new();
        while let Ok(d) = rx.recv_timeout(Duration::from_millis(300)) {
            got.push((d.socket, d.bytes));
        }
        got.sort();
        assert_eq!(
            got,
            std::vec![(0, std::vec![5, 6, 7, 8]), (1, std::vec![1, 2, 3, 4])]
        );
        t.shutdown();
    }

    #[test]
    fn multicast_channels_of_both_families() {
        let v4 = Multicast::asap(Ipv4Addr::LOCALHOST);
        assert_eq!(v4.group(), SocketAddr::from(([239, 0, 0, 50], 3863)));
        assert!(!v4.is_ipv6());
        let e = Multicast::enrp(Ipv4Addr::UNSPECIFIED);
        assert_eq!(e.group(), SocketAddr::from(([239, 0, 0, 51], 9901)));
        let v6 = Multicast::asap_v6(1);
        assert_eq!(v6.group(), "[ff05::50]:3863".parse::<SocketAddr>().unwrap());
        assert!(v6.is_ipv6());
        let e6 = Multicast::enrp_v6(1);
        assert_eq!(e6.group(), "[ff05::51]:9901".parse::<SocketAddr>().unwrap());
        // Sending on a channel needs a socket of its family.
        let mut t = UdpTransport::new(UdpConfig::default());
        let (tx, _rx) = std::sync::mpsc::sync_channel::<Datagram>(4);
        t.bind(addr(0), Protocol::Asap, Framing::Plain, tx, |d| d)
            .unwrap();
        let err = t.enable_multicast_send(0, v6).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        t.enable_multicast_send(0, v4).unwrap();
        assert_eq!(
            t.enable_multicast_send(1, v4).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        t.shutdown();
    }

    #[test]
    fn a_datagram_too_short_for_its_ppid_ends_no_association() {
        let mut t = UdpTransport::new(UdpConfig {
            max_associations: 1,
            receive_buffer: None,
            ..UdpConfig::default()
        });
        let (tx, _rx) = std::sync::mpsc::sync_channel::<Datagram>(4);
        t.bind(addr(0), Protocol::Asap, Framing::Tagged, tx, |d| d)
            .unwrap();
        let now = Instant::now();
        let d = |port: u16, bytes: &[u8]| Datagram {
            socket: 0,
            from: addr(port),
            bytes: bytes.to_vec(),
        };
        let mut gone = None;
        let a = t.receive(now, d(1, &[0, 0, 0, 11, 9]), &mut gone).unwrap();
        assert!(a.new);
        // A new peer's datagram too short for its PPID is dropped before it
        // opens anything: the one association stays (nothing ended unseen).
        assert!(t.receive(now, d(2, &[0, 0]), &mut gone).is_none());
        assert_eq!(gone, None);
        assert_eq!(t.remote(a.assoc), Some(addr(1)));
        assert_eq!(t.association_count(), 1);
        // Its first whole datagram is then reported as new.
        let b = t.receive(now, d(2, &[0, 0, 0, 11, 9]), &mut gone).unwrap();
        assert!(b.new);
        assert_eq!(gone, Some(a.assoc));
        t.shutdown();
    }

    #[test]
    fn timeouts_too_long_to_add_mean_never() {
        let mut t = UdpTransport::new(UdpConfig {
            no_answer_timeout: Duration::MAX,
            idle_timeout: Duration::MAX,
            max_associations: 4,
            receive_buffer: None,
        });
        let (tx, _rx) = std::sync::mpsc::sync_channel::<Datagram>(4);
        t.bind(addr(0), Protocol::Asap, Framing::Plain, tx, |d| d)
            .unwrap();
        let now = Instant::now();
        let mut gone = None;
        let d = Datagram {
            socket: 0,
            from: addr(1),
            bytes: std::vec![1, 2, 3, 4],
        };
        let a = t.receive(now, d, &mut gone).unwrap().assoc;
        let (b, _, _) = t.open(now, addr(2), Protocol::Asap, Framing::Plain, 0);
        assert!(t.send(now, b, Protocol::Asap, &[1, 2, 3, 4]));
        assert_eq!(t.expire(now + Duration::from_secs(1 << 40)), Vec::new());
        assert_eq!(t.remote(a), Some(addr(1)));
        assert_eq!(t.remote(b), Some(addr(2)));
        t.shutdown();
    }

    #[test]
    fn tagged_datagrams_carry_a_ppid() {
        let mut t = UdpTransport::new(UdpConfig::default());
        let (tx, _rx) = std::sync::mpsc::sync_channel::<Datagram>(4);
        t.bind(addr(0), Protocol::Asap, Framing::Tagged, tx, |d| d)
            .unwrap();
        let now = Instant::now();
        let mut gone = None;
        let d = |bytes: &[u8]| Datagram {
            socket: 0,
            from: addr(9),
            bytes: bytes.to_vec(),
        };
        let m = t.receive(now, d(&[0, 0, 0, 11, 9, 9]), &mut gone).unwrap();
        assert_eq!(m.payload, Payload::Message(Protocol::Asap));
        assert_eq!(m.bytes, std::vec![9, 9]);
        assert!(m.new);
        let m = t.receive(now, d(&[0, 0, 0, 0, 7]), &mut gone).unwrap();
        assert_eq!(m.payload, Payload::Data(0));
        assert!(!m.new);
        // Too short for its PPID: dropped.
        assert!(t.receive(now, d(&[0, 0]), &mut gone).is_none());
        t.shutdown();
    }
}
