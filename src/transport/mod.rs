//! Transports that carry ASAP and ENRP between hosts (`std` only).
//!
//! A transport turns a socket into what the sans-IO machines expect
//! ([`crate::transmit`]): numbered associations ([`AssocId`]), association
//! events and whole messages tagged with their [`Protocol`]. The
//! [`runtime`](crate::runtime) drives the machines over it.
//!
//! * `tokio` (feature `tokio`): ASAP and ENRP over UDP (ports [`ASAP_PORT`],
//!   [`ENRP_PORT`]) and TCP, non-blocking and bounded, for a node run as
//!   one tokio task: one association per (local socket, remote address), a
//!   UDP table that refuses new peers when full, a bounded send buffer and
//!   a cap on connections for TCP, no thread per connection; with feature
//!   `tls`, TLS 1.3 (rustls) on its TCP listeners and connects
//!   (`tokio::tls`).
//! * [`sctp`]: SCTP (usrsctp over UDP encapsulation, or the Linux kernel's
//!   SCTP) behind one interface; real association events instead of the
//!   UDP transport's idle and no-answer rules, and the PPID on every message.

mod multicast;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod sctp;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;

pub use multicast::{Multicast, ASAP_GROUP_V4, ASAP_GROUP_V6, ENRP_GROUP_V4, ENRP_GROUP_V6};

use crate::id::AssocId;
use crate::wire::Protocol;
pub use crate::wire::{ASAP_PORT, ENRP_PORT};

/// How messages to and from one peer are framed.
///
/// Between a pool user and a pool element the same channel carries both
/// application data and ASAP control messages (COOKIE, COOKIE_ECHO,
/// BUSINESS_CARD). SCTP tells them apart by the PPID; over UDP each
/// datagram of such a channel starts with the PPID as a 32-bit big-endian
/// number ([`ASAP_PPID`](crate::wire::ASAP_PPID) for ASAP, anything else is application data).
/// Channels to registrars carry plain ASAP or ENRP messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Framing {
    /// Bare ASAP or ENRP messages (registrar channels).
    Plain,
    /// A 4-byte PPID, then the message or the application data (the
    /// pool user ↔ pool element data and control channel).
    Tagged,
}

/// The PPID the runtime uses for application data.
pub const PPID_DATA: u32 = 0;

/// What one received datagram or message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// An ASAP or ENRP message for the machine.
    Message(Protocol),
    /// Application data with its PPID.
    Data(u32),
}

impl Incoming {
    /// Where the machine is told it came from.
    pub fn source(&self) -> crate::transmit::Source {
        if self.connectionless {
            crate::transmit::Source::Datagram(self.remote)
        } else {
            crate::transmit::Source::Association(self.assoc)
        }
    }
}

/// A received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// The association it came on.
    pub assoc: AssocId,
    /// The sender.
    pub remote: core::net::SocketAddr,
    /// Whether this message opened the association (report
    /// [`TransportEvent::Up`](crate::transmit::TransportEvent::Up) first).
    pub new: bool,
    /// A datagram outside any association (a multicast announcement):
    /// `assoc` means nothing, the source is `remote`.
    pub connectionless: bool,
    /// What it carries.
    pub payload: Payload,
    /// The message (without framing).
    pub bytes: std::vec::Vec<u8>,
}
