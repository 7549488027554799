//! Runs the sans-IO machines over real sockets (`std` only).
//!
//! Each node (a [`RegistrarNode`], a [`PoolElementNode`], a
//! [`PoolUserNode`]) is one thread with one event loop: the transport's
//! reader threads and the node's handle put their input into one bounded
//! channel, and the loop waits on it with the machine's next deadline
//! ([`Node::poll_timeout`]) as the timeout, so nothing busy-waits. The
//! loop feeds datagrams, association events and timeouts to the node —
//! one of the crate's hosts ([`crate::host`]), the very code the
//! simulator (`sim`) runs over its virtual network — and the
//! node sends through the loop's [`Env`] (the sockets).
//!
//! Dropping a handle (or calling its `shutdown`) stops the thread and
//! joins it and the transport's reader threads.
//!
//! With [`NodeConfig::sctp`] set, ASAP (and a registrar's ENRP) runs over
//! SCTP instead: one endpoint on [`NodeConfig::bind`] and
//! [`NodeConfig::also_bind`] (multi-homed: one port, all addresses), a
//! second one on [`NodeConfig::enrp_bind`] for a registrar's ENRP. The
//! machines' connects become SCTP associations (their `Up` or
//! `ConnectFailed` comes when SCTP answers), every message carries its
//! PPID (11 ASAP, 12 ENRP, user data on a session's association with the
//! application's PPID and no prefix, as rsplib sends it), and PPIDs are
//! checked on receive: a channel to or from a registrar takes
//! its protocol's PPID only, a pool user ↔ pool element channel takes 11 as
//! ASAP and anything else as data; other messages are dropped and counted
//! ([`RegistrarStatus::wrong_ppid`]). Multicast announcements and replies
//! to datagrams stay on the node's UDP sockets, which are still bound.
//! usrsctp runs one stack per process on one UDP port
//! ([`SctpConfig::udp_encapsulation_port`](crate::transport::sctp::SctpConfig)):
//! any number of nodes of one process share it, nodes in different
//! processes of one host each need their own port (and must name their
//! peers' port as the remote one).
//!
//! With [`NodeConfig::capture`] set, every ASAP and ENRP message the node
//! sends or receives is written to a pcap file (feature `capture`, `capture::PcapWriter`): over UDP
//! and TCP as UDP when one end uses the well-known port ([`ASAP_PORT`],
//! [`ENRP_PORT`]), else as SCTP over UDP, whose PPID names the protocol
//! whatever the ports; over SCTP as what is on the wire: SCTP over UDP
//! port 9899 with usrsctp (with the real SCTP ports and PPID), plain SCTP
//! (IP protocol 132) with the kernel's SCTP.

pub mod element;
pub mod loopback;
#[cfg(not(feature = "capture"))]
mod no_capture;
pub mod registrar;
mod sctp;
pub mod user;

pub use element::{DeregisterError, PoolElementNode, RuntimeElement, EVENT_CHANNEL_LEN};
pub use registrar::{RegistrarNode, RegistrarStatus, RuntimeRegistrar};
pub use user::{AppNode, PoolUserNode, RequestError, Requests, RuntimeUser};

use std::fs::File;
use std::io::{self, BufWriter};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::string::String;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::vec::Vec;

#[cfg(feature = "capture")]
use crate::capture::{Encapsulation, PcapWriter};
use crate::host::{ppid_of, protocol_of, Env, Node, Tally};
use crate::session::SessionConnect;
use crate::time::{Instant, StdClock};
use crate::transmit::{Destination, TransportEvent, MAX_MESSAGE_SIZE};
use crate::transport::tcp::{self, StreamEvent, TcpTransport};
pub use crate::transport::udp::Multicast;
use crate::transport::udp::{Datagram, UdpConfig, UdpTransport};
use crate::transport::{Framing, Incoming};
use crate::wire::{Protocol, ASAP_PORT, ENRP_PORT};
#[cfg(not(feature = "capture"))]
use no_capture::{Encapsulation, PcapWriter};

/// How many inputs (datagrams, commands) wait for a node at most; a
/// reader blocks beyond that and the kernel drops further datagrams.
pub const INPUT_QUEUE: usize = 1024;

/// What every node needs besides its role's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// The address the node's socket binds (port 0: an ephemeral port).
    pub bind: SocketAddr,
    /// Further addresses to listen on (a registrar on several interfaces);
    /// associations this node opens leave from `bind`.
    pub also_bind: Vec<SocketAddr>,
    /// The UDP transport's timers and limits.
    pub udp: UdpConfig,
    /// Where a registrar with ENRP enabled listens for ENRP over UDP (port
    /// [`ENRP_PORT`] by default; port 0: an ephemeral port). `None`: the
    /// address of `bind` with an ephemeral port.
    pub enrp_bind: Option<SocketAddr>,
    /// The ASAP announce channel: a registrar sends ASAP_SERVER_ANNOUNCE
    /// there (naming its ASAP socket as its transport), pool elements and
    /// pool users listen there to find registrars.
    pub asap_multicast: Option<Multicast>,
    /// The ENRP channel: a registrar with ENRP sends and hears PRESENCE
    /// there (so that peers find each other without static peers).
    pub enrp_multicast: Option<Multicast>,
    /// Also listen for ASAP over TCP, on the same addresses and ports as
    /// the UDP sockets (pool users may reach a registrar over TCP).
    pub listen_tcp: bool,
    /// Open the associations the machine asks for over TCP instead of UDP
    /// (a pool user reaching its registrars over TCP).
    pub connect_tcp: bool,
    /// Carry ASAP (and ENRP) associations over SCTP of this kind instead
    /// of UDP; multicast announcements stay on UDP. `None`: UDP.
    pub sctp: Option<crate::transport::sctp::SctpKind>,
    /// The SCTP transport's settings (when `sctp` is set).
    pub sctp_config: crate::transport::sctp::SctpConfig,
    /// Write the ASAP/ENRP traffic to this pcap file.
    pub capture: Option<PathBuf>,
    /// A name for the node's thread and log lines.
    pub name: String,
}

impl NodeConfig {
    /// A node bound to `bind` with the default transport settings.
    pub fn new(bind: SocketAddr) -> Self {
        NodeConfig {
            bind,
            also_bind: Vec::new(),
            enrp_bind: None,
            asap_multicast: None,
            enrp_multicast: None,
            listen_tcp: false,
            connect_tcp: false,
            udp: UdpConfig::default(),
            sctp: None,
            sctp_config: crate::transport::sctp::SctpConfig::default(),
            capture: None,
            name: String::from("node"),
        }
    }
}

/// Something a node's handle asks its thread to do with the node.
pub(crate) type Command = Box<dyn FnOnce(&mut dyn Node, &mut Driver) + Send>;

/// The node loop's input.
pub(crate) enum Input {
    Datagram(Datagram),
    Stream(StreamEvent),
    /// An event of SCTP endpoint `.0`.
    Sctp(usize, crate::transport::sctp::SctpEvent),
    Command(Command),
    Stop,
}

/// Opens a TCP connection whose reader feeds the node's input.
type TcpConnect =
    Box<dyn FnMut(&mut TcpTransport, SocketAddr) -> io::Result<crate::AssocId> + Send>;

/// The sockets, clock and capture of one node.
pub(crate) struct Driver {
    pub(crate) clock: StdClock,
    pub(crate) udp: UdpTransport,
    pub(crate) tcp: TcpTransport,
    /// The ENRP socket's index, if the node speaks ENRP.
    pub(crate) enrp_socket: Option<usize>,
    /// Where `Destination::Multicast` goes, per protocol: group and the
    /// socket it leaves from.
    multicast_asap: Option<(SocketAddr, usize)>,
    multicast_enrp: Option<(SocketAddr, usize)>,
    tcp_connect: Option<TcpConnect>,
    /// The SCTP endpoints (ASAP at index 0), when the node runs on SCTP.
    pub(crate) sctp: Option<sctp::Sctp>,
    /// The ENRP SCTP endpoint's index.
    sctp_enrp: Option<usize>,
    capture: Option<PcapWriter<BufWriter<File>>>,
    buf: Vec<u8>,
    /// Association events the driver's own calls caused (a connect
    /// answered at once, a failed send): given to the node after its call.
    events: Vec<TransportEvent>,
    /// The node's generator.
    rng: crate::random::Xoshiro256StarStar,
    /// What the node's host counts.
    pub(crate) counters: Arc<NodeCounters>,
}

impl Driver {
    fn std_now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }

    pub(crate) fn capture(
        &mut self,
        protocol: Protocol,
        src: SocketAddr,
        dst: SocketAddr,
        msg: &[u8],
        over_tcp: bool,
    ) {
        let Some(w) = self.capture.as_mut() else {
            return;
        };
        let well_known = [src.port(), dst.port()]
            .iter()
            .any(|&p| p == ASAP_PORT || p == ENRP_PORT);
        let e = if well_known && over_tcp {
            Encapsulation::Tcp
        } else if well_known {
            Encapsulation::Udp
        } else {
            Encapsulation::SctpOverUdp
        };
        let src = unspecified_to_loopback(src);
        let dst = unspecified_to_loopback(dst);
        let _ = w.write(protocol, src, dst, std::time::SystemTime::now(), msg, e);
    }

    /// Captures a message on an SCTP association as what is on the wire.
    fn capture_sctp(&mut self, protocol: Protocol, src: SocketAddr, dst: SocketAddr, msg: &[u8]) {
        let (Some(w), Some(s)) = (self.capture.as_mut(), self.sctp.as_ref()) else {
            return;
        };
        let src = unspecified_to_loopback(src);
        let dst = unspecified_to_loopback(dst);
        let e = s.encapsulation();
        let _ = w.write(protocol, src, dst, std::time::SystemTime::now(), msg, e);
    }

    /// The addresses pool users and registrars reach the node's ASAP at:
    /// its SCTP endpoint's, else its first UDP socket's.
    pub(crate) fn asap_locals(&self) -> Vec<SocketAddr> {
        match self.sctp.as_ref() {
            Some(s) => s.locals(0).to_vec(),
            None => self.udp.local_addr(0).into_iter().collect(),
        }
    }

    /// Where the node hears ENRP: its ENRP SCTP endpoint, else its ENRP
    /// UDP socket.
    pub(crate) fn enrp_local(&self) -> Option<SocketAddr> {
        match (self.sctp.as_ref(), self.sctp_enrp) {
            (Some(s), Some(i)) => s.locals(i).first().copied(),
            (Some(_), None) => None,
            (None, _) => self.enrp_socket.and_then(|i| self.udp.local_addr(i)),
        }
    }

    /// The number of SCTP associations (0 without SCTP).
    pub(crate) fn sctp_association_count(&self) -> usize {
        self.sctp.as_ref().map_or(0, |s| s.association_count())
    }

    /// Messages dropped for a wrong PPID (0 without SCTP).
    pub(crate) fn wrong_ppid(&self) -> u64 {
        self.sctp.as_ref().map_or(0, |s| s.wrong_ppid)
    }

    /// Closes `assoc` (no event follows).
    pub(crate) fn close(&mut self, assoc: crate::AssocId) {
        if crate::transport::sctp::is_sctp(assoc) {
            if let Some(s) = self.sctp.as_mut() {
                s.close(assoc);
            }
        } else if tcp::is_tcp(assoc) {
            self.tcp.forget(assoc);
        } else {
            self.udp.close(assoc);
        }
    }

    /// Opens an association to `remote` on the node's socket.
    pub(crate) fn open(
        &mut self,
        remote: SocketAddr,
        protocol: Protocol,
        framing: Framing,
        events: &mut Vec<TransportEvent>,
    ) -> crate::AssocId {
        let now = self.std_now();
        let socket = match protocol {
            Protocol::Enrp => self.enrp_socket.unwrap_or(0),
            Protocol::Asap => 0,
        };
        let (assoc, _, ended) = self.udp.open(now, remote, protocol, framing, socket);
        if let Some(gone) = ended {
            events.push(TransportEvent::Down { assoc: gone });
        }
        assoc
    }

    /// Sends a message with `ppid` on `assoc` (ASAP and ENRP are
    /// captured); `false` when it could not be sent. TCP carries ASAP only.
    pub(crate) fn send_on(&mut self, assoc: crate::AssocId, ppid: u32, msg: &[u8]) -> bool {
        let protocol = protocol_of(ppid);
        if crate::transport::sctp::is_sctp(assoc) {
            let Some(s) = self.sctp.as_mut() else {
                return false;
            };
            let ends = s.addresses(assoc);
            let sent = s.send(assoc, ppid, msg);
            if let (true, Some((local, remote)), Some(p)) = (sent, ends, protocol) {
                self.capture_sctp(p, local, remote, msg);
            }
            return sent;
        }
        if tcp::is_tcp(assoc) {
            if protocol != Some(Protocol::Asap) {
                return false;
            }
            if let Some((local, remote)) = self.tcp.addresses(assoc) {
                self.capture(Protocol::Asap, local, remote, msg, true);
            }
            return self.tcp.send(assoc, msg);
        }
        if let (Some(local), Some(remote), Some(p)) =
            (self.udp.local_of(assoc), self.udp.remote(assoc), protocol)
        {
            self.capture(p, local, remote, msg, false);
        }
        let now = self.std_now();
        self.udp.send_with(now, assoc, ppid, msg)
    }

    /// Opens an association to a registrar (or a peer registrar):
    /// over SCTP, TCP (a pool user's ASAP with `connect_tcp`) or UDP.
    fn connect_registrar(&mut self, c: crate::transmit::Connect) {
        let over_tcp = c.protocol == Protocol::Asap && self.tcp_connect.is_some();
        if let (Some(s), false) = (self.sctp.as_mut(), over_tcp) {
            let endpoint = match c.protocol {
                Protocol::Enrp => self.sctp_enrp.unwrap_or(0),
                Protocol::Asap => 0,
            };
            if s.connect(endpoint, &[c.remote], c.protocol, Framing::Plain, true)
                .is_err()
            {
                self.events
                    .push(TransportEvent::ConnectFailed { remote: c.remote });
            }
            return;
        }
        if over_tcp {
            if let Some(connect) = self.tcp_connect.as_mut() {
                let e = match connect(&mut self.tcp, c.remote) {
                    Ok(assoc) => TransportEvent::Up {
                        assoc,
                        remote: c.remote,
                        protocol: c.protocol,
                        // TCP's handshake completed.
                        verified: true,
                    },
                    Err(_) => TransportEvent::ConnectFailed { remote: c.remote },
                };
                self.events.push(e);
                return;
            }
        }
        let mut events = core::mem::take(&mut self.events);
        let assoc = self.open(c.remote, c.protocol, Framing::Plain, &mut events);
        events.push(TransportEvent::Up {
            assoc,
            remote: c.remote,
            protocol: c.protocol,
            // UDP: nothing has come back from the peer yet.
            verified: false,
        });
        self.events = events;
    }

    /// Opens a session's association to a PE (user data and ASAP control,
    /// PPID-tagged over UDP).
    fn connect_element(&mut self, remote: SocketAddr) {
        if let Some(s) = self.sctp.as_mut() {
            if s.connect(0, &[remote], Protocol::Asap, Framing::Tagged, true)
                .is_err()
            {
                self.events.push(TransportEvent::ConnectFailed { remote });
            }
            return;
        }
        // One socket has one association per remote: a second session to
        // a PE this node already has a session with is refused (the
        // session picks another PE), never given the first one's
        // association.
        let now = self.std_now();
        let (assoc, new, ended) = self
            .udp
            .open(now, remote, Protocol::Asap, Framing::Tagged, 0);
        if let Some(gone) = ended {
            self.events.push(TransportEvent::Down { assoc: gone });
        }
        self.events.push(if new {
            TransportEvent::Up {
                assoc,
                remote,
                protocol: Protocol::Asap,
                verified: false,
            }
        } else {
            TransportEvent::ConnectFailed { remote }
        });
    }
}

impl Env for Driver {
    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn send(&mut self, destination: Destination, ppid: u32, msg: &[u8]) {
        match destination {
            Destination::Association(assoc) => {
                if !self.send_on(assoc, ppid, msg) {
                    self.events.push(TransportEvent::SendFailed { assoc });
                }
            }
            Destination::Address(remote) => {
                let socket = match protocol_of(ppid) {
                    Some(Protocol::Enrp) => self.enrp_socket.unwrap_or(0),
                    _ => 0,
                };
                if let (Some(local), Some(p)) = (self.udp.local_addr(socket), protocol_of(ppid)) {
                    self.capture(p, local, remote, msg, false);
                }
                self.udp.send_to(remote, socket, msg);
            }
            Destination::Multicast => {
                let (channel, p) = match protocol_of(ppid) {
                    Some(Protocol::Asap) => (self.multicast_asap, Protocol::Asap),
                    Some(Protocol::Enrp) => (self.multicast_enrp, Protocol::Enrp),
                    None => (None, Protocol::Asap),
                };
                // Without a channel, announcements are not sent.
                if let Some((group, socket)) = channel {
                    if let Some(local) = self.udp.local_addr(socket) {
                        self.capture(p, local, group, msg, false);
                    }
                    self.udp.send_to(group, socket, msg);
                }
            }
        }
    }

    fn connect(&mut self, connect: SessionConnect) {
        match connect {
            SessionConnect::Registrar(c) => self.connect_registrar(c),
            SessionConnect::PoolElement { remote, .. } => self.connect_element(remote),
        }
    }

    fn close(&mut self, assoc: crate::AssocId) {
        Driver::close(self, assoc);
    }

    fn random_u64(&mut self) -> u64 {
        crate::random::Rng::next_u64(&mut self.rng)
    }

    fn record(&mut self, tally: Tally) {
        self.counters.record(tally);
    }

    fn take_buffer(&mut self) -> Vec<u8> {
        let mut b = core::mem::take(&mut self.buf);
        if b.len() < MAX_MESSAGE_SIZE {
            b.resize(MAX_MESSAGE_SIZE, 0);
        }
        b
    }

    fn give_buffer(&mut self, buf: Vec<u8>) {
        self.buf = buf;
    }
}

pub(crate) fn unspecified_to_loopback(mut a: SocketAddr) -> SocketAddr {
    if a.ip().is_unspecified() {
        a.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

/// What a node's host counts ([`Tally`]), shared with its handle.
#[derive(Debug, Default)]
pub struct NodeCounters {
    registered: AtomicU64,
    registration_failures: AtomicU64,
    cookies_sent: AtomicU64,
    cookie_echoes: AtomicU64,
    answers: AtomicU64,
    sessions_closed: AtomicU64,
    requests: AtomicU64,
    served: AtomicU64,
    failovers: AtomicU64,
    duplicates: AtomicU64,
    mismatches: AtomicU64,
    transmit_errors: AtomicU64,
    events_dropped: AtomicU64,
}

impl NodeCounters {
    /// Counts one [`Tally`].
    pub fn record(&self, tally: Tally) {
        let c = match tally {
            Tally::Registered => &self.registered,
            Tally::RegistrationFailed => &self.registration_failures,
            Tally::CookieSent => &self.cookies_sent,
            Tally::CookieEcho => &self.cookie_echoes,
            Tally::Answer => &self.answers,
            Tally::SessionClosed => &self.sessions_closed,
            Tally::Request => &self.requests,
            Tally::Served { .. } => &self.served,
            Tally::Failover => &self.failovers,
            Tally::Duplicate => &self.duplicates,
            Tally::Mismatch => &self.mismatches,
            Tally::TransmitError => &self.transmit_errors,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    /// Registrations granted.
    pub fn registered(&self) -> u64 {
        Self::get(&self.registered)
    }
    /// Registrations rejected or not answered.
    pub fn registration_failures(&self) -> u64 {
        Self::get(&self.registration_failures)
    }
    /// COOKIEs sent.
    pub fn cookies_sent(&self) -> u64 {
        Self::get(&self.cookies_sent)
    }
    /// COOKIE_ECHOs received.
    pub fn cookie_echoes(&self) -> u64 {
        Self::get(&self.cookie_echoes)
    }
    /// User messages a pool element's service sent.
    pub fn answers(&self) -> u64 {
        Self::get(&self.answers)
    }
    /// Sessions a pool element closed, refused or lost.
    pub fn sessions_closed(&self) -> u64 {
        Self::get(&self.sessions_closed)
    }
    /// Requests a pool user's application issued.
    pub fn requests(&self) -> u64 {
        Self::get(&self.requests)
    }
    /// Requests answered.
    pub fn served(&self) -> u64 {
        Self::get(&self.served)
    }
    /// Session failovers.
    pub fn failovers(&self) -> u64 {
        Self::get(&self.failovers)
    }
    /// Answers no request waited for.
    pub fn duplicates(&self) -> u64 {
        Self::get(&self.duplicates)
    }
    /// Answers that differed from their request.
    pub fn mismatches(&self) -> u64 {
        Self::get(&self.mismatches)
    }
    /// Messages a machine could not queue or take.
    pub fn transmit_errors(&self) -> u64 {
        Self::get(&self.transmit_errors)
    }
    /// Events dropped because the application did not read them.
    pub fn events_dropped(&self) -> u64 {
        Self::get(&self.events_dropped)
    }
    pub(crate) fn event_dropped(&self) {
        self.events_dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// A node to run: built once the sockets are open (the driver tells it its
/// addresses).
pub(crate) type Build = Box<dyn FnOnce(&mut Driver) -> io::Result<Box<dyn Node + Send>> + Send>;

/// How many rounds of driver-caused events one input may cause at most.
const MAX_EVENT_ROUNDS: usize = 64;

/// A running node: its thread and its input.
#[derive(Debug)]
pub(crate) struct Runner {
    input: SyncSender<Input>,
    thread: Option<JoinHandle<()>>,
    local: SocketAddr,
    locals: Vec<SocketAddr>,
    /// What the node's host counts.
    pub(crate) counters: Arc<NodeCounters>,
}

impl core::fmt::Debug for Input {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Input::Datagram(_) => "Datagram",
            Input::Stream(_) => "Stream",
            Input::Sctp(..) => "Sctp",
            Input::Command(_) => "Command",
            Input::Stop => "Stop",
        })
    }
}

impl Runner {
    /// `announcer`: a registrar (sends on the ASAP channel, sends and hears
    /// on the ENRP channel); otherwise the node hears the ASAP channel.
    pub(crate) fn start(
        config: &NodeConfig,
        protocol: Protocol,
        inbound: Framing,
        announcer: bool,
        build: Build,
    ) -> io::Result<Self> {
        // TCP listeners take the UDP sockets' ports; an ephemeral UDP port
        // may already be taken for TCP, so such a node tries other ports.
        let ephemeral = config.listen_tcp
            && core::iter::once(&config.bind)
                .chain(&config.also_bind)
                .any(|a| a.port() == 0);
        let mut attempts = 0;
        let (mut driver, tx, rx, local, locals) = loop {
            match Self::open(config, protocol, inbound, announcer) {
                Err(e) if ephemeral && e.kind() == io::ErrorKind::AddrInUse && attempts < 8 => {
                    attempts += 1;
                }
                opened => break opened?,
            }
        };
        let counters = driver.counters.clone();
        let node = build(&mut driver)?;
        let thread = std::thread::Builder::new()
            .name(config.name.clone())
            .spawn(move || run(node, driver, rx))?;
        Ok(Runner {
            input: tx,
            thread: Some(thread),
            local,
            locals,
            counters,
        })
    }
    /// Opens the node's transports and capture: the driver, the input
    /// channel, and the node's local address(es).
    #[allow(clippy::type_complexity)]
    fn open(
        config: &NodeConfig,
        protocol: Protocol,
        inbound: Framing,
        announcer: bool,
    ) -> io::Result<(
        Driver,
        SyncSender<Input>,
        Receiver<Input>,
        SocketAddr,
        Vec<SocketAddr>,
    )> {
        // The transports are declared before the input channel, so that on
        // an error below the receiver is dropped first: a reader blocked on
        // the full queue then returns, and dropping its transport (which
        // joins it) cannot wait for ever.
        let mut udp = UdpTransport::new(config.udp);
        let mut tcp = TcpTransport::new();
        let mut sctp: Option<sctp::Sctp> = None;
        let (tx, rx) = mpsc::sync_channel::<Input>(INPUT_QUEUE);
        udp.bind(config.bind, protocol, inbound, tx.clone(), Input::Datagram)?;
        for &addr in &config.also_bind {
            udp.bind(addr, protocol, inbound, tx.clone(), Input::Datagram)?;
        }
        let mut local = udp.local_addr(0).unwrap_or(config.bind);
        let mut locals: Vec<SocketAddr> = (0..=config.also_bind.len())
            .filter_map(|i| udp.local_addr(i))
            .collect();
        let enrp_socket = match config.enrp_bind {
            Some(addr) => Some(udp.bind(
                addr,
                Protocol::Enrp,
                Framing::Plain,
                tx.clone(),
                Input::Datagram,
            )?),
            None => None,
        };
        let mut multicast_asap = None;
        let mut multicast_enrp = None;
        if let Some(channel) = config.asap_multicast {
            if announcer {
                udp.enable_multicast_send(0, channel)?;
                multicast_asap = Some((channel.group(), 0));
            } else {
                udp.join_multicast(channel, Protocol::Asap, tx.clone(), Input::Datagram)?;
            }
        }
        if let (Some(channel), Some(socket), true) = (config.enrp_multicast, enrp_socket, announcer)
        {
            udp.enable_multicast_send(socket, channel)?;
            udp.join_multicast(channel, Protocol::Enrp, tx.clone(), Input::Datagram)?;
            multicast_enrp = Some((channel.group(), socket));
        }
        if config.listen_tcp {
            for &addr in &locals {
                tcp.listen(addr, tx.clone(), Input::Stream)?;
            }
        }
        let tcp_connect: Option<TcpConnect> = if config.connect_tcp {
            let input = tx.clone();
            Some(Box::new(move |t: &mut TcpTransport, remote| {
                t.connect(remote, input.clone(), Input::Stream)
            }))
        } else {
            None
        };
        let mut sctp_enrp = None;
        if let Some(kind) = config.sctp {
            let s = sctp.insert(sctp::Sctp::new(kind));
            let mut bind = std::vec![config.bind];
            bind.extend(config.also_bind.iter().copied());
            let sink = |tx: SyncSender<Input>| {
                move |endpoint, e| tx.send(Input::Sctp(endpoint, e)).is_ok()
            };
            s.open(
                &config.sctp_config,
                &bind,
                protocol,
                inbound,
                sink(tx.clone()),
            )?;
            if let Some(addr) = config.enrp_bind {
                let i = s.open(
                    &config.sctp_config,
                    &[addr],
                    Protocol::Enrp,
                    Framing::Plain,
                    sink(tx.clone()),
                )?;
                sctp_enrp = Some(i);
            }
            locals = s.locals(0).to_vec();
            local = locals.first().copied().unwrap_or(config.bind);
        }
        let capture = match &config.capture {
            Some(path) => Some(PcapWriter::new(BufWriter::new(File::create(path)?))?),
            None => None,
        };
        let clock = StdClock::new();
        let driver = Driver {
            clock,
            udp,
            tcp,
            enrp_socket,
            multicast_asap,
            multicast_enrp,
            tcp_connect,
            sctp,
            sctp_enrp,
            capture,
            buf: Vec::new(),
            events: Vec::new(),
            rng: crate::random::Xoshiro256StarStar::seed_from_u64(seed_of(local)),
            counters: Arc::new(NodeCounters::default()),
        };
        Ok((driver, tx, rx, local, locals))
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub(crate) fn local_addrs(&self) -> &[SocketAddr] {
        &self.locals
    }

    /// Runs `f` on the node in its thread (then the node's output is
    /// flushed); `false` when the node has stopped.
    pub(crate) fn call(&self, f: impl FnOnce(&mut dyn Node, &mut Driver) + Send + 'static) -> bool {
        self.input.send(Input::Command(Box::new(f))).is_ok()
    }

    pub(crate) fn shutdown(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.input.send(Input::Stop);
            let _ = t.join();
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.input.send(Input::Stop);
            let _ = t.join();
        }
    }
}

/// A seed for a node's random state: its address and the time.
fn seed_of(local: SocketAddr) -> u64 {
    use core::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    local.hash(&mut h);
    std::time::SystemTime::now().hash(&mut h);
    std::process::id().hash(&mut h);
    h.finish()
}

/// Gives the node the events the driver's own calls caused, then flushes,
/// until none are left (at most [`MAX_EVENT_ROUNDS`] rounds).
fn settle(node: &mut dyn Node, d: &mut Driver) {
    node.flush(d);
    for _ in 0..MAX_EVENT_ROUNDS {
        if d.events.is_empty() {
            return;
        }
        for e in core::mem::take(&mut d.events) {
            node.handle_transport_event(d, e);
        }
        node.flush(d);
    }
    // A node that keeps causing events is cut short; what is left goes
    // with the next input.
}

fn run(mut node: Box<dyn Node + Send>, mut d: Driver, rx: Receiver<Input>) {
    node.start(&mut d);
    loop {
        settle(node.as_mut(), &mut d);
        let now = d.clock.now();
        let machine_deadline = node.poll_timeout();
        let expiry = d.udp.next_expiry();
        let mut wait: Option<core::time::Duration> =
            machine_deadline.map(|t| core::time::Duration::from(t.saturating_duration_since(now)));
        if let Some(e) = expiry {
            let w = e.saturating_duration_since(std::time::Instant::now());
            wait = Some(wait.map_or(w, |x| x.min(w)));
        }
        if !d.events.is_empty() {
            wait = Some(core::time::Duration::ZERO);
        }
        let input = match wait {
            Some(w) => match rx.recv_timeout(w) {
                Ok(i) => Some(i),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(i) => Some(i),
                Err(_) => break,
            },
        };
        let node = node.as_mut();
        match input {
            Some(Input::Stop) => break,
            Some(Input::Command(c)) => c(node, &mut d),
            Some(Input::Stream(event)) => stream_event(node, &mut d, event),
            Some(Input::Sctp(endpoint, event)) => sctp_event(node, &mut d, endpoint, event),
            Some(Input::Datagram(dg)) => {
                let mut ended = None;
                let from = dg.from;
                let socket = dg.socket;
                let std_now = std::time::Instant::now();
                if let Some(inc) = d.udp.receive(std_now, dg, &mut ended) {
                    if let Some(assoc) = ended {
                        node.handle_transport_event(&mut d, TransportEvent::Down { assoc });
                    }
                    if let crate::transport::Payload::Message(p) = inc.payload {
                        if let Some(local) = d.udp.local_addr(socket) {
                            d.capture(p, from, local, &inc.bytes, false);
                        }
                    }
                    if inc.new {
                        let protocol = match inc.payload {
                            crate::transport::Payload::Message(p) => p,
                            crate::transport::Payload::Data(_) => Protocol::Asap,
                        };
                        node.handle_transport_event(
                            &mut d,
                            TransportEvent::Up {
                                assoc: inc.assoc,
                                remote: inc.remote,
                                protocol,
                                // A datagram's source address may be forged.
                                verified: false,
                            },
                        );
                    }
                    deliver(node, &mut d, inc);
                }
            }
            None => {}
        }
        for assoc in d.udp.expire(std::time::Instant::now()) {
            node.handle_transport_event(&mut d, TransportEvent::Down { assoc });
        }
        let now = d.clock.now();
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(&mut d);
        }
    }
    settle(node.as_mut(), &mut d);
    if let Some(w) = d.capture.as_mut() {
        let _ = w.flush();
    }
    // Dropping the receiver first lets a reader blocked on a full queue go.
    drop(rx);
    d.tcp_connect = None;
    d.udp.shutdown();
    d.tcp.shutdown();
    if let Some(s) = d.sctp.as_mut() {
        s.shutdown();
    }
}

/// Hands a received message to the node with its PPID.
fn deliver(node: &mut dyn Node, d: &mut Driver, inc: Incoming) {
    let ppid = match inc.payload {
        crate::transport::Payload::Message(p) => ppid_of(p),
        crate::transport::Payload::Data(ppid) => ppid,
    };
    node.handle_message(d, inc.source(), ppid, &inc.bytes);
}

fn sctp_event(
    node: &mut dyn Node,
    d: &mut Driver,
    endpoint: usize,
    event: crate::transport::sctp::SctpEvent,
) {
    let Some(s) = d.sctp.as_mut() else {
        return;
    };
    match s.event(endpoint, event) {
        sctp::Outcome::None => {}
        sctp::Outcome::Event(e) => {
            let further = s.take_peer_addresses();
            node.handle_transport_event(d, e);
            for e in further {
                node.handle_transport_event(d, e);
            }
        }
        sctp::Outcome::Message(inc) => {
            if let crate::transport::Payload::Message(p) = inc.payload {
                if let Some((local, remote)) = s.addresses(inc.assoc) {
                    d.capture_sctp(p, remote, local, &inc.bytes);
                }
            }
            deliver(node, d, inc);
        }
    }
}

fn stream_event(node: &mut dyn Node, d: &mut Driver, event: StreamEvent) {
    match event {
        StreamEvent::Accepted { assoc, remote } => node.handle_transport_event(
            d,
            TransportEvent::Up {
                assoc,
                remote,
                protocol: Protocol::Asap,
                // TCP's handshake completed.
                verified: true,
            },
        ),
        StreamEvent::Message { assoc, bytes } => {
            let Some((local, remote)) = d.tcp.addresses(assoc) else {
                return;
            };
            d.capture(Protocol::Asap, remote, local, &bytes, true);
            deliver(
                node,
                d,
                Incoming {
                    assoc,
                    remote,
                    new: false,
                    connectionless: false,
                    payload: crate::transport::Payload::Message(Protocol::Asap),
                    bytes,
                },
            );
        }
        StreamEvent::Closed { assoc } => {
            d.tcp.forget(assoc);
            node.handle_transport_event(d, TransportEvent::Down { assoc });
        }
    }
}
