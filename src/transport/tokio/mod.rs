//! Non-blocking, bounded UDP and TCP transports on tokio (feature `tokio`).
//!
//! These are what one tokio task per node drives: it waits on
//! [`Net::next_input`] (together with its machine's timer and its
//! commands, in one `select!`), feeds what comes to the machine, and sends
//! what the machine asks for with [`Net::send`], [`Net::send_to`] and
//! [`Net::open`], none of which ever waits. Nothing here starts a thread:
//! UDP sockets and TCP listeners are polled by the node's task itself, each
//! TCP connection is one small tokio task.
//!
//! * [`udp`]: endpoints bound to local sockets, each for one protocol and
//!   framing; one association per (local socket, remote address), so that
//!   a peer's ASAP and ENRP are two associations and a datagram that came
//!   to the ENRP socket is never taken as ASAP.
//! * [`tcp`]: listeners and connects, messages framed by the common
//!   header's Message Length, a bounded send buffer per connection.
//! * `tls` (feature `tls`): TLS 1.3 (rustls) on TCP listeners and
//!   connects, certificates from PEM files.
//!
//! # Every bound, its default, and what happens at it
//!
//! | bound | default | at the bound |
//! |---|---|---|
//! | UDP associations ([`UdpConfig::max_associations`]) | 4,096 | a datagram from a new remote is dropped and counted ([`UdpCounters::refused_peers`]); an established association is never ended for it; [`Net::open`] fails with [`OpenError::Full`] |
//! | UDP send ([`Net::send`], [`Net::send_to`]) | the kernel's socket buffer; deferred sends ([`UdpEndpoints::defer_sends`]): 32 datagrams, [`udp::DEFERRED_BYTES`] | a datagram the kernel does not take at once is dropped and counted ([`UdpCounters::dropped_sends`]); nothing waits for room; deferred datagrams beyond the bound send the kept ones first |
//! | UDP receive | one batch of 16 [`udp::MAX_DATAGRAM`] slots per node (Linux; one slot elsewhere); the kernel's receive buffer ([`UdpConfig::receive_buffer`], 4 MiB asked) | datagrams are read only as fast as the node asks for inputs; the kernel drops what does not fit |
//! | UDP idle ([`UdpConfig::idle_timeout`]) | 120 s | an association that received nothing that long is reported [`Input::Down`] ([`DownReason::Idle`]) |
//! | UDP no answer ([`UdpConfig::no_answer_timeout`]) | 5 s | an association this side opened, whose peer sent nothing that long after the first message to it, is reported down ([`DownReason::NoAnswer`]) |
//! | TCP connections ([`TcpConfig::max_connections`]) | 1,024 per node (all listeners and connects together) | a connection accepted beyond it is closed at once and counted ([`TcpCounters::refused_connections`]); a connect beyond it fails with [`OpenError::Full`] |
//! | TCP send buffer ([`TcpConfig::send_buffer`]) | 256 KiB per connection | a send that does not fit closes the connection (reset) and reports it down ([`DownReason::SendBufferFull`], counted in [`TcpCounters::closed_slow_readers`]) |
//! | TCP read/idle ([`TcpConfig::idle_timeout`]) | 120 s | a connection that sends no whole message that long is closed and reported down ([`DownReason::Idle`]) |
//! | TCP connect ([`TcpConfig::connect_timeout`]) | 5 s | [`Input::ConnectFailed`] |
//! | TLS handshake (feature `tls`, `tls::TlsConfig::handshake_timeout`) | 10 s | the connection is closed and counted ([`TcpCounters::tls_handshake_failures`]); a connect fails ([`Input::ConnectFailed`]) |
//! | TCP frames | 65,535 bytes (the Message Length field) | a reader holds at most one message; a Message Length below 4 ends the connection ([`DownReason::Garbage`]) |
//! | connection tasks → node ([`TcpConfig::event_queue`]) | 1,024 inputs, at most [`tcp::CONNECTION_QUEUE`] (1) message of one connection | a connection task waits for room before it reads on: a full queue, or a connection's full share, slows that peer down, no message of an established connection is dropped; a message waits behind at most one of each other connection |
//! | inputs the transport holds for the node | at most one per association (its Up, Down) plus one message | — |
//!
//! So the memory the peers can make a node hold is bounded: the UDP table
//! (`max_associations` small entries) and one receive batch (16 × 64 KiB
//! on Linux); per
//! TCP connection one message being read (at most 64 KiB, held at most the
//! idle timeout when the peer sends it slowly) and `send_buffer` bytes
//! queued; plus `event_queue` messages waiting for the node. With the
//! defaults that is at most 1,024 × (64 KiB + 256 KiB) + 1,024 × 64 KiB,
//! about 384 MiB, for a node whose every connection misbehaves at once. An
//! idle connection costs about 3-4.5 KiB of the process's resident memory
//! (its task, its queues, its table entry; the kernel's socket memory
//! apart): the
//! `thousands_of_idle_connections_without_a_thread_each_and_a_cap_beyond_them`
//! test prints what 3,000 cost.
//!
//! Every input is taken by [`Net::poll_input`] / [`Net::next_input`],
//! which are cancel-safe: dropping the future (another `select!` branch
//! won) loses nothing.
//!
//! # Association numbers
//!
//! UDP associations are numbered below
//! [`SCTP_ASSOC_BIT`](crate::transport::sctp::SCTP_ASSOC_BIT) (`0x4000_0000`),
//! TCP connections have [`tcp::TCP_ASSOC_BIT`] (`0x8000_0000`) set, as with
//! the thread-based transports, so that the numbers of all transports of a
//! node never collide; [`AssocId::NONE`] marks a connectionless datagram.

pub mod tcp;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
pub mod udp;
mod udp_sys;

use core::future::poll_fn;
use core::task::{Context, Poll};
use std::io;
use std::net::SocketAddr;

pub use self::tcp::{TcpConfig, TcpCounters, TcpEndpoints};
pub use self::udp::{UdpConfig, UdpCounters, UdpEndpoints};
use super::{Framing, Incoming};
use crate::id::AssocId;
use crate::transmit::TransportEvent;
use crate::wire::Protocol;

/// Where an input arrived: which of the node's sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The UDP socket with this index ([`UdpEndpoints::bind`],
    /// [`UdpEndpoints::join_multicast`]).
    Udp(usize),
    /// A connection accepted by the TCP listener with this index
    /// ([`TcpEndpoints::listen`]).
    TcpListener(usize),
    /// A TCP connection this node opened ([`TcpEndpoints::connect`]).
    TcpConnect,
}

/// Why an association went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// Nothing received for the idle timeout.
    Idle,
    /// An association this side opened over UDP whose peer never answered.
    NoAnswer,
    /// The peer closed the connection.
    Closed,
    /// The connection failed (the error's kind).
    Failed(io::ErrorKind),
    /// The peer sent what cannot be a message (a Message Length below 4):
    /// the stream cannot be resynchronised.
    Garbage,
    /// The peer did not read: its send buffer was full.
    SendBufferFull,
}

/// One input for the node: a message, or an association event.
#[derive(Debug)]
pub enum Input {
    /// An association is up: a UDP peer's first datagram (unverified: it
    /// comes just before that datagram's [`Input::Message`]), an accepted
    /// TCP connection, or a TCP connect that succeeded (both verified).
    Up {
        /// The association.
        assoc: AssocId,
        /// The socket it belongs to.
        endpoint: Endpoint,
        /// The local address.
        local: SocketAddr,
        /// The peer.
        remote: SocketAddr,
        /// The protocol of its socket.
        protocol: Protocol,
        /// Whether the peer's return path is verified (TCP's handshake);
        /// see [`TransportEvent::Up`].
        verified: bool,
        /// Whether the peer proved who it is with a certificate that
        /// chains to the node's TLS roots (a TLS connection, feature
        /// `tls`: the server's certificate on a connect, the client's on
        /// an accept when it presented one); always `false` for plain TCP
        /// and UDP. See [`TransportEvent::Authenticated`].
        authenticated: bool,
    },
    /// A message or application data on an association, or a
    /// connectionless datagram (a multicast announcement,
    /// [`Incoming::connectionless`]).
    Message {
        /// The socket it came to.
        endpoint: Endpoint,
        /// That socket's local address.
        local: SocketAddr,
        /// The message; [`Incoming::new`] is always `false` here (the
        /// association's [`Input::Up`] came before).
        incoming: Incoming,
    },
    /// An association is gone (it was forgotten; a later datagram from the
    /// same remote opens a new one).
    Down {
        /// The association.
        assoc: AssocId,
        /// Why.
        reason: DownReason,
    },
    /// A TCP connect ([`Net::open`] with TCP) failed or timed out; the
    /// association number is forgotten.
    ConnectFailed {
        /// The association number the connect was given.
        assoc: AssocId,
        /// The address asked for.
        remote: SocketAddr,
        /// What went wrong ([`io::ErrorKind::TimedOut`] at the connect
        /// timeout).
        error: io::ErrorKind,
    },
}

impl Input {
    /// The association event to give the machine, if this is one.
    pub fn event(&self) -> Option<TransportEvent> {
        match *self {
            Input::Up {
                assoc,
                remote,
                protocol,
                verified,
                ..
            } => Some(TransportEvent::Up {
                assoc,
                remote,
                protocol,
                verified,
            }),
            Input::Down { assoc, .. } => Some(TransportEvent::Down { assoc }),
            Input::ConnectFailed { remote, .. } => Some(TransportEvent::ConnectFailed { remote }),
            Input::Message { .. } => None,
        }
    }
}

/// Why a message was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// No such association (never opened, or already down or closed).
    UnknownAssociation,
    /// No such socket.
    NoSuchSocket,
    /// UDP: the kernel did not take the datagram at once (its buffer is
    /// full, or the error's kind); it is dropped and counted. The machines
    /// resend: a node takes this as loss, not as a failed association.
    Dropped(io::ErrorKind),
    /// TCP: the message did not fit in the connection's send buffer; the
    /// connection is closed and its [`Input::Down`] is on its way.
    SendBufferFull,
    /// The message is larger than the transport carries (UDP: 65,507
    /// bytes with its framing; TCP: 65,535).
    TooLarge,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SendError::UnknownAssociation => f.write_str("no such association"),
            SendError::NoSuchSocket => f.write_str("no such socket"),
            SendError::Dropped(k) => write!(f, "datagram dropped: {k}"),
            SendError::SendBufferFull => f.write_str("send buffer full, connection closed"),
            SendError::TooLarge => f.write_str("message too large"),
        }
    }
}

impl std::error::Error for SendError {}

/// Why an association could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The association table (UDP) or the connection cap (TCP) is full.
    Full,
    /// No such socket (or a multicast group's socket, which carries no
    /// association).
    NoSuchSocket,
    /// There is no tokio runtime to run the connection on.
    NoRuntime,
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            OpenError::Full => "association table full",
            OpenError::NoSuchSocket => "no such socket",
            OpenError::NoRuntime => "no tokio runtime",
        })
    }
}

impl std::error::Error for OpenError {}

/// What the transports counted (see the bounds in the [module](self)
/// documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// The UDP endpoints'.
    pub udp: UdpCounters,
    /// The TCP endpoints'.
    pub tcp: TcpCounters,
}

/// How an association is opened with [`Net::open`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// From UDP socket `.0` (its protocol), framed as `.1`. Up at once
    /// (unverified).
    Udp(usize, Framing),
    /// A TCP connection carrying `.0`: [`Input::Up`] or
    /// [`Input::ConnectFailed`] follows.
    Tcp(Protocol),
}

/// A node's UDP and TCP endpoints, driven together. See the
/// [module](self) documentation.
#[derive(Debug)]
pub struct Net {
    /// The UDP sockets and associations.
    pub udp: UdpEndpoints,
    /// The TCP listeners and connections.
    pub tcp: TcpEndpoints,
    /// Which of the two is polled first (they take turns).
    tcp_first: bool,
}

impl Net {
    /// No socket yet.
    pub fn new(udp: UdpConfig, tcp: TcpConfig) -> Self {
        Net {
            udp: UdpEndpoints::new(udp),
            tcp: TcpEndpoints::new(tcp),
            tcp_first: false,
        }
    }

    /// The next input of either transport; UDP and TCP take turns so
    /// that neither starves the other. Runs the UDP timers.
    pub fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Input> {
        self.tcp_first = !self.tcp_first;
        if self.tcp_first {
            if let Poll::Ready(i) = self.tcp.poll_input(cx) {
                return Poll::Ready(i);
            }
            self.udp.poll_input(cx)
        } else {
            if let Poll::Ready(i) = self.udp.poll_input(cx) {
                return Poll::Ready(i);
            }
            self.tcp.poll_input(cx)
        }
    }

    /// Waits for the next input (cancel-safe).
    pub async fn next_input(&mut self) -> Input {
        poll_fn(|cx| self.poll_input(cx)).await
    }

    /// Sends `msg` with `ppid` on `assoc` (UDP or TCP, by its number);
    /// never waits. TCP carries the message as it is (the PPID is not
    /// sent).
    pub fn send(&mut self, assoc: AssocId, ppid: u32, msg: &[u8]) -> Result<(), SendError> {
        if tcp::is_tcp(assoc) {
            self.tcp.send(assoc, msg)
        } else {
            self.udp.send(assoc, ppid, msg)
        }
    }

    /// Sends a plain datagram from UDP socket `socket` to `remote`, outside
    /// any association (a reply to a connectionless datagram, a multicast
    /// announcement); never waits.
    pub fn send_to(
        &mut self,
        socket: usize,
        remote: SocketAddr,
        msg: &[u8],
    ) -> Result<(), SendError> {
        self.udp.send_to(socket, remote, msg)
    }

    /// Opens an association to `remote`. Over UDP it is up at once (the
    /// caller reports it up, unverified) and `Ok((assoc, new))` tells
    /// whether it is new (an existing association of that socket and
    /// remote is returned as it is); over TCP the connect runs on and its
    /// outcome comes as an input.
    pub fn open(&mut self, remote: SocketAddr, via: Via) -> Result<(AssocId, bool), OpenError> {
        match via {
            Via::Udp(socket, framing) => self.udp.open(socket, remote, framing),
            Via::Tcp(protocol) => self.tcp.connect(remote, protocol).map(|a| (a, true)),
        }
    }

    /// Closes `assoc` (no input follows for it). A TCP connection sends
    /// what it has queued, then closes.
    pub fn close(&mut self, assoc: AssocId) {
        if tcp::is_tcp(assoc) {
            self.tcp.close(assoc);
        } else {
            self.udp.close(assoc);
        }
    }

    /// When the transports next have a timer to run (the UDP idle and
    /// no-answer timeouts; TCP's run in the connections' tasks). The
    /// input future wakes up by itself then; this is for a node that
    /// wants to know.
    pub fn next_deadline(&self) -> Option<::tokio::time::Instant> {
        self.udp.next_expiry()
    }

    /// What the transports counted.
    pub fn counters(&self) -> Counters {
        Counters {
            udp: self.udp.counters(),
            tcp: self.tcp.counters(),
        }
    }
}

/// Inputs and errors looped over in one poll before the transports yield
/// to the runtime (they then wake themselves up at once).
const POLL_BUDGET: usize = 128;

/// The running tokio runtime, or an error saying there is none.
fn runtime() -> io::Result<::tokio::runtime::Handle> {
    ::tokio::runtime::Handle::try_current()
        .map_err(|_| io::Error::other("the tokio transports need a running tokio runtime"))
}
