//! SCTP transports: one interface, two implementations (`std` only).
//!
//! * `usrsctp` (feature `usrsctp`): the userland SCTP stack of Debian's
//!   `libusrsctp-dev`, over UDP encapsulation (RFC 6951, UDP port
//!   [`SCTP_UDP_ENCAPSULATION_PORT`]). Works on any host, kernel SCTP or not.
//! * `kernel` (feature `sctp-kernel`, Linux): the kernel's SCTP through
//!   one-to-many sockets.
//!
//! Both implement [`SctpTransport`]: a one-to-many endpoint bound to one or
//! more local addresses (multi-homing) on one SCTP port, that opens
//! associations ([`SctpTransport::connect`]), accepts them, sends whole
//! messages with a PPID, stream and ordering ([`SendInfo`]) and reports
//! everything it sees as [`SctpEvent`]s to the sink it was opened with (from
//! its own reader thread). Association ids are the transport's own
//! ([`AssocId`] with [`SCTP_ASSOC_BIT`] set, so that they never collide with
//! the UDP and TCP transports' ids in one node).
//!
//! The [`runtime`](crate::runtime) opens an SCTP transport with [`open`]
//! when a node's [`NodeConfig::transport`](crate::runtime::NodeConfig) names
//! one.

use std::boxed::Box;
use std::io;
use std::net::SocketAddr;
use std::vec::Vec;

use crate::id::AssocId;

#[cfg(all(feature = "sctp-kernel", target_os = "linux"))]
pub mod kernel;
#[cfg(feature = "usrsctp")]
pub mod usrsctp;

/// The bit set in every association id an SCTP transport hands out.
pub const SCTP_ASSOC_BIT: u32 = 0x4000_0000;

/// The UDP port of SCTP over UDP encapsulation (RFC 6951).
pub const SCTP_UDP_ENCAPSULATION_PORT: u16 = 9899;

/// Whether `assoc` is an id of an SCTP transport.
pub fn is_sctp(assoc: AssocId) -> bool {
    assoc != AssocId::NONE && assoc.0 & SCTP_ASSOC_BIT != 0 && assoc.0 & 0x8000_0000 == 0
}

/// Which SCTP implementation a node uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SctpKind {
    /// usrsctp over UDP encapsulation (feature `usrsctp`).
    Usrsctp,
    /// The Linux kernel's SCTP (feature `sctp-kernel`).
    Kernel,
}

impl SctpKind {
    /// Whether this build includes the implementation.
    pub fn available(self) -> bool {
        match self {
            SctpKind::Usrsctp => cfg!(feature = "usrsctp"),
            SctpKind::Kernel => cfg!(all(feature = "sctp-kernel", target_os = "linux")),
        }
    }
}

/// How one message is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendInfo {
    /// The payload protocol identifier (11 ASAP, 12 ENRP, else data).
    pub ppid: u32,
    /// The outgoing stream (below [`SctpConfig::streams`]).
    pub stream: u16,
    /// Deliver without regard to the stream's order.
    pub unordered: bool,
}

/// How one message was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvInfo {
    /// The payload protocol identifier the sender set.
    pub ppid: u32,
    /// The stream it came on.
    pub stream: u16,
    /// Whether it was sent unordered.
    pub unordered: bool,
}

/// What an SCTP transport reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SctpEvent {
    /// An association is up (opened by [`SctpTransport::connect`] or by the
    /// peer). `remote` is the peer's primary address (for an association
    /// this side opened: the first address asked for); `remotes` all of its
    /// addresses.
    Up {
        /// The association.
        assoc: AssocId,
        /// The peer's primary address.
        remote: SocketAddr,
        /// Every address of the peer.
        remotes: Vec<SocketAddr>,
    },
    /// The association is gone (lost, shut down, aborted, restarted).
    Down {
        /// The association.
        assoc: AssocId,
    },
    /// An association asked for with [`SctpTransport::connect`] could not be
    /// established.
    ConnectFailed {
        /// The id `connect` returned.
        assoc: AssocId,
        /// The (first) address asked for.
        remote: SocketAddr,
    },
    /// A message could not be delivered (SCTP SEND_FAILED).
    SendFailed {
        /// The association.
        assoc: AssocId,
    },
    /// A whole message.
    Message {
        /// The association.
        assoc: AssocId,
        /// The peer's address the message came from.
        remote: SocketAddr,
        /// PPID, stream, ordering.
        info: RecvInfo,
        /// The message.
        bytes: Vec<u8>,
    },
}

/// Where a transport's reader thread puts its events; returns `false` when
/// nobody listens any more (the reader then stops).
pub type EventSink = Box<dyn FnMut(SctpEvent) -> bool + Send>;

/// Settings common to both implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SctpConfig {
    /// Outbound streams asked for per association (at least 1).
    pub streams: u16,
    /// Largest message accepted or sent, in bytes; a bigger one is dropped
    /// (received) or refused (sent).
    pub max_message_size: usize,
    /// SCTP heartbeat interval in milliseconds (0: the stack's default).
    pub heartbeat_interval_ms: u32,
    /// Maximum retransmissions of an association before it is declared
    /// down (0: the stack's default).
    pub association_max_retransmits: u16,
    /// usrsctp only: the local UDP port of the encapsulation (one per
    /// process; the first transport opened sets it).
    pub udp_encapsulation_port: u16,
    /// usrsctp only: the UDP encapsulation port of the peers this side
    /// connects to (peers that connect here are answered on the port they
    /// used).
    pub remote_udp_encapsulation_port: u16,
}

impl Default for SctpConfig {
    fn default() -> Self {
        SctpConfig {
            streams: 2,
            max_message_size: crate::transmit::MAX_MESSAGE_SIZE,
            heartbeat_interval_ms: 0,
            association_max_retransmits: 0,
            udp_encapsulation_port: SCTP_UDP_ENCAPSULATION_PORT,
            remote_udp_encapsulation_port: SCTP_UDP_ENCAPSULATION_PORT,
        }
    }
}

/// A one-to-many SCTP endpoint.
///
/// All methods return at once; what happens later (the association coming
/// up, messages arriving, failures) is reported to the [`EventSink`].
pub trait SctpTransport: Send {
    /// The local addresses the endpoint is bound to (with the real port
    /// when port 0 was asked for).
    fn local_addrs(&self) -> Vec<SocketAddr>;
    /// Starts an association to a peer with the given addresses (all with
    /// the same port). [`SctpEvent::Up`] or [`SctpEvent::ConnectFailed`]
    /// follows with the returned id.
    fn connect(&mut self, remotes: &[SocketAddr]) -> io::Result<AssocId>;
    /// Sends one whole message on an association that is up.
    fn send(&mut self, assoc: AssocId, info: SendInfo, msg: &[u8]) -> io::Result<()>;
    /// The peer's primary address of an association that is up.
    fn remote(&self, assoc: AssocId) -> Option<SocketAddr>;
    /// Shuts an association down gracefully (no [`SctpEvent::Down`] is
    /// reported for it afterwards).
    fn close(&mut self, assoc: AssocId);
    /// Aborts an association (no [`SctpEvent::Down`] is reported for it
    /// afterwards).
    fn abort(&mut self, assoc: AssocId);
    /// Closes the endpoint and joins its reader thread. Called once; the
    /// transport is unusable afterwards.
    fn shutdown(&mut self);
}

/// Opens an SCTP endpoint of `kind` bound to `bind` (all with one port;
/// port 0: an ephemeral port), reporting to `sink`.
///
/// Fails with [`io::ErrorKind::Unsupported`] when the build lacks the
/// implementation's feature.
pub fn open(
    kind: SctpKind,
    config: &SctpConfig,
    bind: &[SocketAddr],
    sink: EventSink,
) -> io::Result<Box<dyn SctpTransport>> {
    let _ = (config, bind, &sink);
    match kind {
        #[cfg(feature = "usrsctp")]
        SctpKind::Usrsctp => Ok(Box::new(usrsctp::UsrSctp::open(config, bind, sink)?)),
        #[cfg(all(feature = "sctp-kernel", target_os = "linux"))]
        SctpKind::Kernel => Ok(Box::new(kernel::KernelSctp::open(config, bind, sink)?)),
        #[allow(unreachable_patterns)]
        _ => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this build has no such SCTP implementation (features usrsctp, sctp-kernel)",
        )),
    }
}
