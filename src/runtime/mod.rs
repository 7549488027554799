//! Runs the sans-IO machines over real sockets (`std` only).
//!
//! Each node (a [`RegistrarNode`], a [`PoolElementNode`], a
//! [`PoolUserNode`], an [`AppNode`]) is one tokio task with one event
//! loop: it waits in one `select!` on its sockets (the non-blocking,
//! bounded transports of [`transport::tokio`](crate::transport::tokio)),
//! on its handle's commands (a bounded channel, [`INPUT_QUEUE`]) and on the
//! machine's next deadline ([`Node::poll_timeout`]), so nothing
//! busy-waits and no thread is started per node or per connection. The
//! loop feeds datagrams, association events and timeouts to the node —
//! one of the crate's hosts ([`crate::host`]), the very code the
//! simulator (`sim`) runs over its virtual network — and the node sends
//! through the loop's [`Env`] (the sockets), which never waits: a UDP
//! datagram the kernel does not take at once is dropped (the machines
//! resend), a TCP peer that does not read loses its connection when its
//! send buffer is full, and neither stalls anyone else.
//!
//! # Where the task runs
//!
//! A node started from within a tokio runtime (a `#[tokio::main]`
//! program, a task) is spawned on that runtime. A node started outside
//! any runtime runs on the crate's own shared runtime ([`shared_runtime`]:
//! two worker threads for the whole process, however many nodes), so a
//! program without async code can use the blocking methods as before.
//!
//! Every handle has async methods (`status`, `request`, `deregister`,
//! `stop`, ...) for async code, and blocking ones for other code. A
//! blocking method must not be called from within an async task (it would
//! block that task's worker thread): it panics there, naming the async
//! method to call instead.
//!
//! Dropping a handle stops its node; outside a runtime, the drop also
//! waits (at most [`STOP_WAIT`]) until the node's sockets are closed.
//! [`stop`](RegistrarNode::stop) (async) and `shutdown` (blocking) stop it
//! and wait.
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
//! With `NodeConfig::tls` set (feature `tls`), ASAP to registrars and ENRP
//! between registrars run over TLS 1.3 on TCP
//! ([`transport::tokio::tls`](crate::transport::tokio)): a registrar listens
//! for ASAP over TLS on the addresses and ports of its ASAP UDP sockets and
//! for ENRP over TLS on its ENRP socket's, and opens its ENRP associations
//! (and its associations to pool elements) over TLS; pool elements and pool
//! users reach their registrars over TLS. The registrar presents its
//! certificate and verifies its clients' (required on ENRP, optional on
//! ASAP so that pool users need none); a registrar then takes
//! registrations only from pool elements that authenticated
//! ([`RegistrarConfig::require_authentication`](crate::registrar::RegistrarConfig))
//! and trusts for ENRP every peer that authenticated, configured or not. A
//! registrar with TLS takes no association over UDP (its UDP sockets carry
//! multicast announcements only; what comes to them otherwise is dropped
//! and counted, [`RegistrarStatus::plain_refused`]). Sessions between pool
//! users and pool elements stay on UDP. TLS over SCTP (RFC 3436) is not
//! implemented: a node with both fails to start. SECURITY.md, "TLS", says
//! what this covers and where it departs from the RFCs.
//!
//! With [`NodeConfig::capture`] set, every ASAP and ENRP message the node
//! sends or receives is written to a pcap file (feature `capture`, `capture::PcapWriter`): over UDP
//! and TCP as UDP when one end uses the well-known port ([`ASAP_PORT`],
//! [`ENRP_PORT`]), else as SCTP over UDP, whose PPID names the protocol
//! whatever the ports; over SCTP as what is on the wire: SCTP over UDP
//! port 9899 with usrsctp (with the real SCTP ports and PPID), plain SCTP
//! (IP protocol 132) with the kernel's SCTP.

pub mod blocking;
pub mod csp;
pub mod element;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod loopback;
#[cfg(not(feature = "capture"))]
mod no_capture;
pub mod registrar;
mod sctp;
pub mod serve;
pub mod snapshot;
pub mod user;

pub use element::{
    DeregisterError, ElementEvent, PoolElementNode, RuntimeElement, EVENT_CHANNEL_LEN,
};
pub use registrar::{
    RegistrarNode, RegistrarStatus, RuntimeRegistrar, StatusHandle, STATUS_ELEMENTS,
};
pub use serve::{Message, ServeError, Session};
pub use snapshot::RegistrarSnapshot;
pub use user::{
    AppNode, PoolUserNode, RequestError, Requests, Resolved, RuntimeUser, SessionEvent, UserSession,
};

use std::boxed::Box;
use std::fs::File;
use std::future::Future;
use std::io::{self, BufWriter};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::string::String;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::vec::Vec;

use tokio::sync::{mpsc, oneshot};

#[cfg(feature = "capture")]
use crate::capture::{Encapsulation, PcapWriter};
use crate::host::{ppid_of, protocol_of, Env, Node, Tally};
use crate::session::SessionConnect;
use crate::time::{Instant, StdClock};
use crate::transmit::{Destination, TransportEvent};
use crate::transport::tokio::{tcp::is_tcp, Input as NetInput, Net, OpenError, SendError, Via};
pub use crate::transport::tokio::{TcpConfig, UdpConfig};
pub use crate::transport::Multicast;
use crate::transport::{Framing, Incoming, Payload};
use crate::wire::{Protocol, ASAP_PORT, ENRP_PORT};
#[cfg(not(feature = "capture"))]
use no_capture::{Encapsulation, PcapWriter};

/// How many commands from a node's handle (and SCTP events) wait for the
/// node at most; a blocking caller waits for room beyond that, an async
/// one yields.
pub const INPUT_QUEUE: usize = 1024;

/// How long dropping a handle outside a runtime waits for its node to stop.
pub const STOP_WAIT: core::time::Duration = core::time::Duration::from_secs(5);

/// What every node needs besides its role's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// The address the node's socket binds (port 0: an ephemeral port).
    pub bind: SocketAddr,
    /// Further addresses to listen on (a registrar on several interfaces);
    /// associations this node opens leave from `bind`.
    pub also_bind: Vec<SocketAddr>,
    /// The UDP transport's timers and limits (see the table of bounds in
    /// [`transport::tokio`](crate::transport::tokio)).
    pub udp: UdpConfig,
    /// The TCP transport's limits: connection cap, send buffer per
    /// connection, idle and connect timeouts.
    pub tcp: TcpConfig,
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
    /// the UDP sockets (pool users may reach a registrar over TCP). A
    /// registrar with `tls` (feature `tls`) listens there over TLS
    /// instead, whatever this says.
    pub listen_tcp: bool,
    /// Open the associations the machine asks for over TCP instead of UDP
    /// (a pool user reaching its registrars over TCP). With `tls` (feature
    /// `tls`) they are opened over TLS on TCP, whatever this says.
    pub connect_tcp: bool,
    /// Carry ASAP (and ENRP) associations over SCTP of this kind instead
    /// of UDP; multicast announcements stay on UDP. `None`: UDP.
    pub sctp: Option<crate::transport::sctp::SctpKind>,
    /// The SCTP transport's settings (when `sctp` is set).
    pub sctp_config: crate::transport::sctp::SctpConfig,
    /// Write the ASAP/ENRP traffic to this pcap file.
    pub capture: Option<PathBuf>,
    /// Report the node's status to a CSP monitor (rsplib's `cspmonitor`).
    pub csp: Option<csp::CspConfig>,
    /// Run ASAP to registrars and ENRP between registrars over TLS on TCP
    /// with these certificates (see the [module](self) documentation);
    /// `None`: no TLS.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub tls: Option<crate::transport::tokio::tls::TlsConfig>,
    /// A name for the node's log lines.
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
            tcp: TcpConfig::default(),
            sctp: None,
            sctp_config: crate::transport::sctp::SctpConfig::default(),
            capture: None,
            csp: None,
            #[cfg(feature = "tls")]
            tls: None,
            name: String::from("node"),
        }
    }
}

/// The runtime nodes started outside a tokio runtime run on: a
/// multi-threaded tokio runtime with two worker threads named
/// `rserpool`, made on first use and kept for the life of the process.
///
/// # Panics
///
/// When the operating system refuses the runtime's threads.
pub fn shared_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rserpool")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("rserpool: cannot start the shared tokio runtime: {e}"))
    })
}

/// The runtime to start a node on: the caller's, else the shared one.
fn runtime_handle() -> tokio::runtime::Handle {
    tokio::runtime::Handle::try_current().unwrap_or_else(|_| shared_runtime().handle().clone())
}

/// Waits for `future` from blocking code.
///
/// # Panics
///
/// When called from within an async task: `method` names the async
/// method to use there.
pub(crate) fn block_on<F: Future>(method: &str, future: F) -> F::Output {
    if tokio::runtime::Handle::try_current().is_ok() {
        panic!(
            "rserpool: a blocking method was called from within an async task; \
             call `{method}(..).await` instead"
        );
    }
    shared_runtime().block_on(future)
}

/// Something a node's handle asks its task to do with the node.
pub(crate) type Command = Box<dyn FnOnce(&mut dyn Node, &mut Driver) + Send>;

/// An SCTP endpoint's event, from the SCTP stack's own thread.
type SctpInput = (usize, crate::transport::sctp::SctpEvent);

/// The sockets, clock and capture of one node.
pub(crate) struct Driver {
    pub(crate) clock: StdClock,
    pub(crate) net: Net,
    /// The ENRP socket's index, if the node speaks ENRP.
    pub(crate) enrp_socket: Option<usize>,
    /// Where `Destination::Multicast` goes, per protocol: group and the
    /// socket it leaves from.
    multicast_asap: Option<(SocketAddr, usize)>,
    multicast_enrp: Option<(SocketAddr, usize)>,
    /// Open the machine's ASAP associations over TCP.
    connect_tcp: bool,
    /// The SCTP endpoints (ASAP at index 0), when the node runs on SCTP.
    pub(crate) sctp: Option<sctp::Sctp>,
    /// The ENRP SCTP endpoint's index.
    sctp_enrp: Option<usize>,
    capture: Option<PcapWriter<BufWriter<File>>>,
    /// Something was captured since the last flush.
    capture_dirty: bool,
    buf: Vec<u8>,
    /// Association events the driver's own calls caused (a connect
    /// answered at once, a failed send): given to the node after its call.
    events: Vec<TransportEvent>,
    /// The node's generator.
    rng: crate::random::Xoshiro256StarStar,
    /// What the node's host counts.
    pub(crate) counters: Arc<NodeCounters>,
    /// The node's TLS settings: its associations to registrars (and a
    /// registrar's to peers and PEs) are opened over TLS.
    #[cfg(feature = "tls")]
    tls: Option<crate::transport::tokio::tls::TlsConfig>,
    /// A registrar with TLS: associations over UDP are refused.
    refuse_plain: bool,
    /// Datagrams and UDP associations refused for it.
    pub(crate) plain_refused: u64,
    /// The node's own command channel, for handles the node gives out
    /// (they do not keep the node running).
    pub(crate) commands: Option<mpsc::WeakSender<Command>>,
    /// The runtime the node's task runs on.
    pub(crate) runtime: tokio::runtime::Handle,
}

impl Driver {
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
        let r = w.write(protocol, src, dst, std::time::SystemTime::now(), msg, e);
        self.captured(r);
    }

    /// Notes the outcome of a capture write: the capture has something to
    /// flush, or it failed and is given up (counted,
    /// [`NodeCounters::capture_errors`]).
    fn captured(&mut self, r: io::Result<()>) {
        match r {
            Ok(()) => self.capture_dirty = true,
            Err(_) => {
                self.capture = None;
                self.capture_dirty = false;
                self.counters.capture_error();
            }
        }
    }

    /// Captures a message on an SCTP association as what is on the wire.
    fn capture_sctp(&mut self, protocol: Protocol, src: SocketAddr, dst: SocketAddr, msg: &[u8]) {
        let (Some(w), Some(s)) = (self.capture.as_mut(), self.sctp.as_ref()) else {
            return;
        };
        let src = unspecified_to_loopback(src);
        let dst = unspecified_to_loopback(dst);
        let e = s.encapsulation();
        let r = w.write(protocol, src, dst, std::time::SystemTime::now(), msg, e);
        self.captured(r);
    }

    /// Writes what the capture holds to its file (so that a running node's
    /// capture can be followed); a failure gives the capture up and is
    /// counted.
    fn flush_capture(&mut self) {
        if !self.capture_dirty {
            return;
        }
        self.capture_dirty = false;
        if let Some(w) = self.capture.as_mut() {
            let r = w.flush();
            if r.is_err() {
                self.captured(r);
            }
        }
    }

    /// The addresses pool users and registrars reach the node's ASAP at:
    /// its SCTP endpoint's, else its first UDP socket's.
    pub(crate) fn asap_locals(&self) -> Vec<SocketAddr> {
        match self.sctp.as_ref() {
            Some(s) => s.locals(0).to_vec(),
            None => self.net.udp.local_addr(0).into_iter().collect(),
        }
    }

    /// Where the node hears ENRP: its ENRP SCTP endpoint, else its ENRP
    /// UDP socket.
    pub(crate) fn enrp_local(&self) -> Option<SocketAddr> {
        match (self.sctp.as_ref(), self.sctp_enrp) {
            (Some(s), Some(i)) => s.locals(i).first().copied(),
            (Some(_), None) => None,
            (None, _) => self.enrp_socket.and_then(|i| self.net.udp.local_addr(i)),
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
        } else {
            self.net.close(assoc);
        }
    }

    /// Sends a message with `ppid` on `assoc` (ASAP and ENRP are
    /// captured); never waits. A failure that ends the association for the
    /// machine is reported as [`TransportEvent::SendFailed`]; a datagram the
    /// kernel did not take is loss (the machines resend), and a TCP
    /// connection closed for a full send buffer reports its own `Down`.
    pub(crate) fn send_on(&mut self, assoc: crate::AssocId, ppid: u32, msg: &[u8]) {
        let protocol = protocol_of(ppid);
        if crate::transport::sctp::is_sctp(assoc) {
            let sent = match self.sctp.as_mut() {
                Some(s) => {
                    let ends = s.addresses(assoc);
                    s.send(assoc, ppid, msg).then_some(ends)
                }
                None => None,
            };
            match sent {
                Some(ends) => {
                    if let (Some((local, remote)), Some(p)) = (ends, protocol) {
                        self.capture_sctp(p, local, remote, msg);
                    }
                }
                None => self.events.push(TransportEvent::SendFailed { assoc }),
            }
            return;
        }
        let tcp = is_tcp(assoc);
        if let Some(p) = protocol.filter(|_| self.capture.is_some()) {
            let ends = if tcp {
                self.net
                    .tcp
                    .addresses(assoc)
                    .and_then(|(l, r)| Some((l?, r)))
            } else {
                self.net
                    .udp
                    .association(assoc)
                    .and_then(|(socket, r)| Some((self.net.udp.local_addr(socket)?, r)))
            };
            if let Some((local, remote)) = ends {
                self.capture(p, local, remote, msg, tcp);
            }
        }
        match self.net.send(assoc, ppid, msg) {
            Ok(()) | Err(SendError::Dropped(_)) | Err(SendError::SendBufferFull) => {}
            Err(SendError::UnknownAssociation | SendError::NoSuchSocket | SendError::TooLarge) => {
                self.events.push(TransportEvent::SendFailed { assoc })
            }
        }
    }

    /// Sends a plain datagram from UDP socket `socket` (captured).
    fn send_datagram(&mut self, socket: usize, remote: SocketAddr, protocol: Protocol, msg: &[u8]) {
        if let Some(local) = self.net.udp.local_addr(socket) {
            self.capture(protocol, local, remote, msg, false);
        }
        // A datagram the kernel does not take is loss.
        let _ = self.net.send_to(socket, remote, msg);
    }

    /// The UDP socket a protocol's associations and datagrams leave from.
    fn socket_of(&self, protocol: Protocol) -> usize {
        match protocol {
            Protocol::Enrp => self.enrp_socket.unwrap_or(0),
            Protocol::Asap => 0,
        }
    }

    /// Opens an association to a registrar (or a peer registrar):
    /// over SCTP, TCP (a pool user's ASAP with `connect_tcp`) or UDP.
    fn connect_registrar(&mut self, c: crate::transmit::Connect) {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_ref() {
            // The connection's Up (or ConnectFailed) comes as an input.
            if self.net.tcp.connect_tls(c.remote, c.protocol, tls).is_err() {
                self.events
                    .push(TransportEvent::ConnectFailed { remote: c.remote });
            }
            return;
        }
        let over_tcp = c.protocol == Protocol::Asap && self.connect_tcp;
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
            // The connection's Up (or ConnectFailed) comes as an input.
            if self.net.open(c.remote, Via::Tcp(c.protocol)).is_err() {
                self.events
                    .push(TransportEvent::ConnectFailed { remote: c.remote });
            }
            return;
        }
        let socket = self.socket_of(c.protocol);
        let event = match self.net.open(c.remote, Via::Udp(socket, Framing::Plain)) {
            Ok((assoc, _)) => TransportEvent::Up {
                assoc,
                remote: c.remote,
                protocol: c.protocol,
                // UDP: nothing has come back from the peer yet.
                verified: false,
            },
            Err(OpenError::Full | OpenError::NoSuchSocket | OpenError::NoRuntime) => {
                TransportEvent::ConnectFailed { remote: c.remote }
            }
        };
        self.events.push(event);
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
        self.events
            .push(match self.net.open(remote, Via::Udp(0, Framing::Tagged)) {
                Ok((assoc, true)) => TransportEvent::Up {
                    assoc,
                    remote,
                    protocol: Protocol::Asap,
                    verified: false,
                },
                Ok((_, false)) | Err(_) => TransportEvent::ConnectFailed { remote },
            });
    }
}

impl Env for Driver {
    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn send(&mut self, destination: Destination, ppid: u32, msg: &[u8]) {
        match destination {
            Destination::Association(assoc) => self.send_on(assoc, ppid, msg),
            Destination::Address(remote) => {
                let protocol = protocol_of(ppid).unwrap_or(Protocol::Asap);
                let socket = self.socket_of(protocol);
                self.send_datagram(socket, remote, protocol, msg);
            }
            Destination::Multicast => {
                let (channel, p) = match protocol_of(ppid) {
                    Some(Protocol::Asap) => (self.multicast_asap, Protocol::Asap),
                    Some(Protocol::Enrp) => (self.multicast_enrp, Protocol::Enrp),
                    None => (None, Protocol::Asap),
                };
                // Without a channel, announcements are not sent.
                if let Some((group, socket)) = channel {
                    self.send_datagram(socket, group, p, msg);
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

    /// The node's state changes (registrations, removals with their
    /// reason, home changes, sessions, ENRP peers and takeovers) are
    /// logged at info level, with target `rserpool::node`.
    fn tracing(&self) -> bool {
        log::log_enabled!(target: "rserpool::node", log::Level::Info)
    }

    fn log(&mut self, args: core::fmt::Arguments<'_>) {
        log::info!(target: "rserpool::node", "{args}");
    }

    fn take_buffer(&mut self, len: usize) -> Vec<u8> {
        let mut b = core::mem::take(&mut self.buf);
        if b.len() < len {
            b.resize(len, 0);
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
    sessions_overrun: AtomicU64,
    capture_errors: AtomicU64,
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
    /// Sessions closed because their handler fell
    /// [`SESSION_QUEUE`](serve::SESSION_QUEUE) messages behind.
    pub fn sessions_overrun(&self) -> u64 {
        Self::get(&self.sessions_overrun)
    }
    /// Capture writes that failed ([`NodeConfig::capture`]); after the
    /// first, the node captures nothing more.
    pub fn capture_errors(&self) -> u64 {
        Self::get(&self.capture_errors)
    }
    pub(crate) fn capture_error(&self) {
        self.capture_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn session_overrun(&self) {
        self.sessions_overrun.fetch_add(1, Ordering::Relaxed);
    }
}

/// How many rounds of driver-caused events one input may cause at most.
const MAX_EVENT_ROUNDS: usize = 64;

/// How many inputs a node takes from its sockets in a row before it
/// looks at its commands and timers again.
const INPUT_BATCH: usize = 64;

/// A running node: its task's input and what it told at start.
#[derive(Debug)]
pub(crate) struct Runner {
    /// The node's commands; `None` once it was told to stop.
    commands: Option<mpsc::Sender<Command>>,
    /// Disconnected when the node's task has ended (its sockets closed).
    done: Option<std::sync::mpsc::Receiver<()>>,
    local: SocketAddr,
    locals: Vec<SocketAddr>,
    /// What the node's host counts.
    pub(crate) counters: Arc<NodeCounters>,
    /// Dropped with the runner: the CSP reporter sends its last report.
    csp_stop: Option<oneshot::Sender<()>>,
}

/// What a node reports to a CSP monitor, asked in its task.
pub(crate) type CspSource =
    Arc<dyn Fn(&mut dyn Node, &mut Driver) -> Option<csp::CspStatus> + Send + Sync>;

/// What the node's task owns.
struct Task {
    node: Box<dyn Node + Send>,
    driver: Driver,
    commands: mpsc::Receiver<Command>,
    sctp: Option<mpsc::Receiver<SctpInput>>,
    /// Dropped when the task ends.
    _done: std::sync::mpsc::Sender<()>,
}

impl Runner {
    /// Opens the node's sockets, builds its node with `build` (which may
    /// also return something for the handle) and spawns its task: on the
    /// caller's tokio runtime, else on [`shared_runtime`]. `announcer`: a
    /// registrar (sends on the ASAP channel, sends and hears on the ENRP
    /// channel); otherwise the node hears the ASAP channel.
    pub(crate) fn start<T>(
        config: &NodeConfig,
        protocol: Protocol,
        inbound: Framing,
        announcer: bool,
        build: impl FnOnce(&mut Driver) -> io::Result<(Box<dyn Node + Send>, T)>,
    ) -> io::Result<(Self, T)> {
        let handle = runtime_handle();
        let _entered = handle.enter();
        // TCP listeners take the UDP sockets' ports; an ephemeral UDP port
        // may already be taken for TCP, so such a node tries other ports.
        let ephemeral = (config.listen_tcp || tls_listens(config, announcer))
            && core::iter::once(&config.bind)
                .chain(&config.also_bind)
                .any(|a| a.port() == 0);
        let mut attempts = 0;
        let (mut driver, sctp) = loop {
            match Self::open(config, protocol, inbound, announcer, handle.clone()) {
                Err(e) if ephemeral && e.kind() == io::ErrorKind::AddrInUse && attempts < 8 => {
                    attempts += 1;
                }
                opened => break opened?,
            }
        };
        let local_addrs = driver.asap_locals();
        let local = local_addrs.first().copied().unwrap_or(config.bind);
        let counters = driver.counters.clone();
        let (tx, commands) = mpsc::channel(INPUT_QUEUE);
        driver.commands = Some(tx.downgrade());
        let (node, extra) = match build(&mut driver) {
            Ok(built) => built,
            Err(e) => {
                driver.shutdown();
                return Err(e);
            }
        };
        let (done_tx, done) = std::sync::mpsc::channel();
        let task = Task {
            node,
            driver,
            commands,
            sctp,
            _done: done_tx,
        };
        handle.spawn(task.run());
        Ok((
            Runner {
                commands: Some(tx),
                done: Some(done),
                local,
                locals: local_addrs,
                counters,
                csp_stop: None,
            },
            extra,
        ))
    }

    /// Opens the node's transports and capture: the driver and, on SCTP,
    /// the channel its events come by.
    fn open(
        config: &NodeConfig,
        protocol: Protocol,
        inbound: Framing,
        announcer: bool,
        runtime: tokio::runtime::Handle,
    ) -> io::Result<(Driver, Option<mpsc::Receiver<SctpInput>>)> {
        let mut net = Net::new(config.udp, config.tcp);
        // The node's task flushes before it waits (`Task::run`).
        net.udp.defer_sends(true);
        net.udp.bind(config.bind, protocol, inbound)?;
        for &addr in &config.also_bind {
            net.udp.bind(addr, protocol, inbound)?;
        }
        let locals: Vec<SocketAddr> = (0..=config.also_bind.len())
            .filter_map(|i| net.udp.local_addr(i))
            .collect();
        let enrp_socket = match config.enrp_bind {
            Some(addr) => Some(net.udp.bind(addr, Protocol::Enrp, Framing::Plain)?),
            None => None,
        };
        let mut multicast_asap = None;
        let mut multicast_enrp = None;
        if let Some(channel) = config.asap_multicast {
            if announcer {
                net.udp.enable_multicast_send(0, channel)?;
                multicast_asap = Some((channel.group(), 0));
            } else {
                net.udp.join_multicast(channel, Protocol::Asap)?;
            }
        }
        if let (Some(channel), Some(socket), true) = (config.enrp_multicast, enrp_socket, announcer)
        {
            net.udp.enable_multicast_send(socket, channel)?;
            net.udp.join_multicast(channel, Protocol::Enrp)?;
            multicast_enrp = Some((channel.group(), socket));
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = config.tls.as_ref() {
            if config.sctp.is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "TLS runs over TCP: TLS over SCTP (RFC 3436) is not implemented",
                ));
            }
            if announcer {
                // TLS replaces plain TCP: ASAP on the ASAP sockets'
                // addresses, ENRP on the ENRP socket's, clients verified.
                for &addr in &locals {
                    net.tcp
                        .listen_tls(addr, protocol, tls, tls.require_client_auth())?;
                }
                if let Some(addr) = enrp_socket.and_then(|s| net.udp.local_addr(s)) {
                    net.tcp.listen_tls(addr, Protocol::Enrp, tls, true)?;
                }
            }
        }
        if config.listen_tcp && !tls_listens(config, announcer) {
            for &addr in &locals {
                net.tcp.listen(addr, protocol)?;
            }
        }
        let mut sctp = None;
        let mut sctp_rx = None;
        let mut sctp_enrp = None;
        if let Some(kind) = config.sctp {
            let s = sctp.insert(sctp::Sctp::new(kind));
            let (tx, rx) = mpsc::channel::<SctpInput>(INPUT_QUEUE);
            sctp_rx = Some(rx);
            let mut bind = std::vec![config.bind];
            bind.extend(config.also_bind.iter().copied());
            s.open(
                &config.sctp_config,
                &bind,
                protocol,
                inbound,
                sctp_sink(tx.clone()),
            )?;
            if let Some(addr) = config.enrp_bind {
                let i = s.open(
                    &config.sctp_config,
                    &[addr],
                    Protocol::Enrp,
                    Framing::Plain,
                    sctp_sink(tx),
                )?;
                sctp_enrp = Some(i);
            }
        }
        let capture = match &config.capture {
            Some(path) => {
                let mut w = PcapWriter::new(BufWriter::new(File::create(path)?))?;
                // A file that cannot take the header is an error now, not
                // a capture lost later.
                w.flush()?;
                Some(w)
            }
            None => None,
        };
        let seed = seed_of(locals.first().copied().unwrap_or(config.bind));
        let driver = Driver {
            clock: StdClock::new(),
            net,
            enrp_socket,
            multicast_asap,
            multicast_enrp,
            connect_tcp: config.connect_tcp,
            sctp,
            sctp_enrp,
            capture,
            capture_dirty: false,
            buf: Vec::new(),
            events: Vec::new(),
            rng: crate::random::Xoshiro256StarStar::seed_from_u64(seed),
            counters: Arc::new(NodeCounters::default()),
            #[cfg(feature = "tls")]
            tls: config.tls.clone(),
            refuse_plain: tls_listens(config, announcer),
            plain_refused: 0,
            commands: None,
            runtime,
        };
        Ok((driver, sctp_rx))
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub(crate) fn local_addrs(&self) -> &[SocketAddr] {
        &self.locals
    }

    /// Runs `f` on the node in its task (then the node's output is
    /// flushed); `false` when the node has stopped.
    pub(crate) async fn call(
        &self,
        f: impl FnOnce(&mut dyn Node, &mut Driver) + Send + 'static,
    ) -> bool {
        match self.commands.as_ref() {
            Some(tx) => tx.send(Box::new(f)).await.is_ok(),
            None => false,
        }
    }

    /// Runs `f` on the node in its task and waits for what it returns;
    /// `None` when the node has stopped (or `f` returned nothing).
    pub(crate) async fn ask<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Node, &mut Driver) -> Option<R> + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let asked = self
            .call(move |node, d| {
                if let Some(r) = f(node, d) {
                    let _ = tx.send(r);
                }
            })
            .await;
        if !asked {
            return None;
        }
        rx.await.ok()
    }

    /// Reports the node's status to `config.csp`'s monitor (if set) every
    /// interval, with what `source` says in the node's task; the last
    /// report (flagged final) goes when the node stops.
    pub(crate) fn report_csp(&mut self, config: &NodeConfig, source: CspSource) -> io::Result<()> {
        let (Some(csp), Some(commands)) = (config.csp, self.weak()) else {
            return Ok(());
        };
        let handle = runtime_handle();
        let _entered = handle.enter();
        let any: SocketAddr = match csp.to {
            SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = std::net::UdpSocket::bind(any)?;
        socket.set_nonblocking(true)?;
        let socket = tokio::net::UdpSocket::from_std(socket)?;
        let mut location = csp::host_name();
        for (i, a) in self.locals.iter().enumerate() {
            location.push_str(if i == 0 { ": " } else { ", " });
            location.push_str(&unspecified_to_loopback(*a).to_string());
        }
        let (stop, stopped) = oneshot::channel();
        self.csp_stop = Some(stop);
        handle.spawn(csp_reporter(
            socket, csp, commands, source, location, stopped,
        ));
        Ok(())
    }

    /// The node's command channel without keeping the node running (the
    /// node stops when its handle does, whoever holds these).
    pub(crate) fn weak(&self) -> Option<mpsc::WeakSender<Command>> {
        self.commands.as_ref().map(mpsc::Sender::downgrade)
    }

    /// Tells the node to stop and waits until its task has ended.
    pub(crate) async fn stop(&mut self) {
        drop(self.csp_stop.take());
        let Some(tx) = self.commands.take() else {
            return;
        };
        drop(tx);
        let done = self.done.take();
        // The task drops its end when it ends; waiting for that on a
        // blocking thread keeps this future from blocking its executor.
        if let Some(done) = done {
            let _ = tokio::task::spawn_blocking(move || done.recv_timeout(STOP_WAIT)).await;
        }
    }

    /// Tells the node to stop; outside a runtime, waits (at most
    /// [`STOP_WAIT`]) until its task has ended.
    fn stop_from_drop(&mut self) {
        drop(self.csp_stop.take());
        let Some(tx) = self.commands.take() else {
            return;
        };
        drop(tx);
        if let (Some(done), Err(_)) = (self.done.take(), tokio::runtime::Handle::try_current()) {
            let _ = done.recv_timeout(STOP_WAIT);
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop_from_drop();
    }
}

/// Sends a CSP report every interval until the node stops, then a last one.
async fn csp_reporter(
    socket: tokio::net::UdpSocket,
    config: csp::CspConfig,
    commands: mpsc::WeakSender<Command>,
    source: CspSource,
    location: String,
    mut stopped: oneshot::Receiver<()>,
) {
    let started = std::time::Instant::now();
    let interval = config.interval.max(core::time::Duration::from_millis(100));
    let interval_us = u32::try_from(interval.as_micros()).unwrap_or(u32::MAX);
    let report = |status: csp::CspStatus, last: bool| csp::CspReport {
        status,
        location: location.clone(),
        uptime_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        interval_us,
        last,
    };
    let mut latest: Option<csp::CspStatus> = None;
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = tick.tick() => {}
        }
        let Some(tx) = commands.upgrade() else { break };
        let (answer, status) = oneshot::channel();
        let source = source.clone();
        let asked = tx
            .send(Box::new(move |node, d| {
                let _ = answer.send(source(node, d));
            }))
            .await;
        drop(tx);
        if asked.is_err() {
            break;
        }
        match status.await {
            Ok(Some(s)) => {
                // A monitor that is not there is no error of the node's.
                let _ = socket
                    .send_to(&report(s.clone(), false).encode(), config.to)
                    .await;
                latest = Some(s);
            }
            Ok(None) => {}
            Err(_) => break,
        }
    }
    if let Some(s) = latest {
        let _ = socket.send_to(&report(s, true).encode(), config.to).await;
    }
}

/// The SCTP stack's events (from its own threads) into the node's channel:
/// without waiting where possible, else waiting for room (never on a
/// runtime thread: there the event is dropped, as a lost packet).
fn sctp_sink(
    tx: mpsc::Sender<SctpInput>,
) -> impl FnMut(usize, crate::transport::sctp::SctpEvent) -> bool + Send + 'static {
    move |endpoint, e| match tx.try_send((endpoint, e)) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(input)) => {
            if tokio::runtime::Handle::try_current().is_err() {
                tx.blocking_send(input).is_ok()
            } else {
                true
            }
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Whether the node is a registrar with TLS (it listens over TLS and
/// refuses plain associations).
fn tls_listens(config: &NodeConfig, announcer: bool) -> bool {
    #[cfg(feature = "tls")]
    {
        announcer && config.tls.is_some()
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (config, announcer);
        false
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

/// What woke the node's task.
enum Wake {
    Command(Command),
    Stop,
    Net(NetInput),
    Sctp(SctpInput),
    Timer,
}

/// The next SCTP input (never, without SCTP).
async fn next_sctp(rx: &mut Option<mpsc::Receiver<SctpInput>>) -> Option<SctpInput> {
    match rx.as_mut() {
        Some(rx) => rx.recv().await,
        None => core::future::pending().await,
    }
}

impl Task {
    async fn run(mut self) {
        let Task {
            node,
            driver: d,
            commands,
            sctp,
            _done,
        } = &mut self;
        let node = node.as_mut();
        node.start(d);
        // One timer for the task's life, moved only when the machine's
        // deadline moves (not registered anew at every wake-up).
        let mut timer = Box::pin(tokio::time::sleep_until(tokio::time::Instant::now()));
        let mut armed: Option<tokio::time::Instant> = None;
        loop {
            settle(node, d);
            // What the last inputs caused leaves together (the UDP sends
            // wait until here, one system call per socket) and is in the
            // capture file before the node waits again.
            d.net.udp.flush();
            d.flush_capture();
            let deadline = node
                .poll_timeout()
                .map(|t| tokio::time::Instant::from_std(d.clock.std_instant(t)));
            if let Some(t) = deadline {
                if armed != Some(t) {
                    timer.as_mut().reset(t);
                    armed = Some(t);
                }
            }
            let pending_events = !d.events.is_empty();
            let wake = tokio::select! {
                biased;
                c = commands.recv() => match c {
                    Some(c) => Wake::Command(c),
                    None => Wake::Stop,
                },
                () = tokio::task::yield_now(), if pending_events => Wake::Timer,
                () = &mut timer, if deadline.is_some() => {
                    // Elapsed: the next deadline re-arms it.
                    armed = None;
                    Wake::Timer
                }
                i = d.net.next_input() => Wake::Net(i),
                s = next_sctp(sctp) => match s {
                    Some(s) => Wake::Sctp(s),
                    None => Wake::Stop,
                },
            };
            match wake {
                Wake::Stop => break,
                Wake::Command(c) => c(node, d),
                Wake::Net(i) => {
                    net_input(node, d, i);
                    // Take what else is ready without waiting, then flush
                    // once: the output of a burst leaves together.
                    for _ in 1..INPUT_BATCH {
                        // The output first: a close it holds must reach
                        // the transport before the next input is read.
                        settle(node, d);
                        let Some(i) = ready(d) else { break };
                        net_input(node, d, i);
                    }
                }
                Wake::Sctp((endpoint, event)) => sctp_event(node, d, endpoint, event),
                Wake::Timer => {}
            }
            let now = d.clock.now();
            if node.poll_timeout().is_some_and(|t| t <= now) {
                node.handle_timeout(d);
            }
        }
        settle(node, d);
        d.shutdown();
    }
}

/// An input the transports have ready now, if any.
fn ready(d: &mut Driver) -> Option<NetInput> {
    // A waker that does nothing: this only looks; the task's next
    // `select!` registers its own waker.
    let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    match d.net.poll_input(&mut cx) {
        core::task::Poll::Ready(i) => Some(i),
        core::task::Poll::Pending => None,
    }
}

impl Driver {
    /// Flushes the capture and closes every socket.
    fn shutdown(&mut self) {
        self.net.udp.flush();
        self.flush_capture();
        if let Some(s) = self.sctp.as_mut() {
            s.shutdown();
        }
        // The UDP sockets and TCP listeners close when the driver is
        // dropped; the connections' tasks end when their channels close.
    }
}

/// Hands a transport input to the node.
fn net_input(node: &mut dyn Node, d: &mut Driver, input: NetInput) {
    use crate::transport::tokio::Endpoint;
    match input {
        // A registrar with TLS takes no association over UDP.
        NetInput::Up {
            assoc,
            endpoint: Endpoint::Udp(_),
            ..
        } if d.refuse_plain => {
            d.plain_refused += 1;
            d.net.close(assoc);
        }
        NetInput::Message {
            endpoint: Endpoint::Udp(_),
            ref incoming,
            ..
        } if d.refuse_plain && !incoming.connectionless => d.plain_refused += 1,
        NetInput::Message {
            endpoint,
            local,
            incoming,
        } => {
            if let Payload::Message(p) = incoming.payload {
                let tcp = !matches!(endpoint, crate::transport::tokio::Endpoint::Udp(_));
                d.capture(p, incoming.remote, local, &incoming.bytes, tcp);
            }
            deliver(node, d, incoming);
        }
        other => {
            if let Some(e) = other.event() {
                node.handle_transport_event(d, e);
            }
            if let NetInput::Up {
                assoc,
                authenticated: true,
                ..
            } = other
            {
                node.handle_transport_event(d, TransportEvent::Authenticated { assoc });
            }
        }
    }
}

/// Hands a received message to the node with its PPID.
fn deliver(node: &mut dyn Node, d: &mut Driver, inc: Incoming) {
    let ppid = match inc.payload {
        Payload::Message(p) => ppid_of(p),
        Payload::Data(ppid) => ppid,
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
            if let Payload::Message(p) = inc.payload {
                if let Some((local, remote)) = s.addresses(inc.assoc) {
                    d.capture_sctp(p, remote, local, &inc.bytes);
                }
            }
            deliver(node, d, inc);
        }
    }
}
