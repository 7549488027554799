//! The session layer (RFC 5351 §3, rsplib's "enhanced mode"): pool user
//! sessions that connect to a pool handle and fail over between its pool
//! elements, and pool element sessions that serve them, as sans-IO
//! machines without heap.
//!
//! * [`SessionUser`] owns one [`PoolUser`](crate::pool_user::PoolUser)
//!   machine shared by all its sessions (rsplib has one ASAP instance per
//!   process). A session ([`SessionUser::connect`]) resolves the pool
//!   through it, picks a PE by the registrar's answer, asks the driver for
//!   an association to the PE's user transport, and carries raw user
//!   messages with their PPID on it. It fails over when the association
//!   goes down, cannot be opened, fails a send, or the application asks
//!   ([`SessionUser::failover`]): the PE is reported unreachable, the next
//!   one is picked (business card order, else policy), and the session's
//!   last cookie goes first on the new association in COOKIE_ECHO.
//! * [`SessionElement`] owns one [`PoolElement`](crate::pool_element::PoolElement)
//!   machine (registration, keep-alives). Every association a pool user
//!   opens to it is a session: messages arrive with PPID and session id,
//!   the application sends answers, cookies and business cards, and is
//!   given a failed-over user's COOKIE_ECHO.
//!
//! # On the wire (as rsplib)
//!
//! User data travels byte for byte with the application's PPID, without
//! framing. PPID 11 on a PE association is ASAP control only (COOKIE,
//! COOKIE_ECHO, BUSINESS_CARD, ASAP_ERROR); the application cannot send
//! with it ([`SessionError::ReservedPpid`]). Every other PPID, 12
//! included, is user data: a PE association carries no ENRP, and these
//! machines never send any.
//!
//! # Driving the machines
//!
//! As the other machines ([`transmit`](crate::transmit)), with PPIDs:
//! `handle(now, source, ppid, bytes)`, `handle_transport_event(now,
//! event)`, `handle_timeout(now)` at `poll_timeout()`, and drain
//! `poll_connect()` (associations to open), `poll_close()` (associations to
//! shut down), `peek_transmit()` then `consume_transmit()` (the next
//! message, [`SessionTransmit`], lent from the machine's own queues with
//! no copy) and `poll_event(buf)` (the application's events; a message's
//! bytes are copied into `buf`).
//!
//! # Buffers
//!
//! Sending needs no buffer of the driver's: every message waits in one
//! piece (the inner machine's transmit queue, the sessions' transmit ring,
//! whose messages never wrap around its end, or a session's COOKIE_ECHO,
//! kept encoded) and is lent from there. A driver that wants a copy
//! (`poll_transmit(buf)`) needs a `buf` as large as the largest message:
//! the inner machine's transmit queue
//! ([`pool_element::TRANSMIT_QUEUE_BYTES`](crate::pool_element::TRANSMIT_QUEUE_BYTES),
//! [`pool_user::TRANSMIT_QUEUE_BYTES`](crate::pool_user::TRANSMIT_QUEUE_BYTES)),
//! `BUF` (no user message is larger) and, for a pool user, a COOKIE_ECHO
//! of [`MAX_COOKIE_SIZE`](crate::pool_element::MAX_COOKIE_SIZE) + 11
//! bytes. `poll_event(buf)` needs `BUF` bytes (no received message is
//! larger).
//!
//! Associations are told apart by their remote address: an
//! [`TransportEvent::Up`](crate::transmit::TransportEvent::Up) whose remote
//! is one the machine asked for belongs to that request; on the element
//! side, an association from any other remote than a registrar is a pool
//! user's session, unless its first message is a registrar's
//! ENDPOINT_KEEP_ALIVE (a takeover by a registrar the PE did not know:
//! the association then goes to the pool element machine).
//!
//! # Back-pressure
//!
//! Messages waiting for the application are kept in one bounded byte ring
//! per machine. When a message does not fit, `handle` returns
//! [`Backpressure`] and does not take it: the driver keeps it, stops
//! reading that association (so the transport's flow control slows the
//! peer down) and offers it again once the application has drained events
//! (`has_room`). Nothing is dropped silently. Messages the application
//! sends wait in a second ring; a full ring refuses them
//! ([`SessionError::Full`]).
//!
//! # Messages in flight at a failover
//!
//! * A message not yet handed to the driver when a failover starts goes to
//!   the next PE, after the COOKIE_ECHO, in order.
//! * A message already handed to the driver is, by default
//!   ([`ResendPolicy::None`], as rsplib), not sent again: the application
//!   re-sends what it needs (it knows what was answered).
//!   [`ResendPolicy::LastUnacknowledged`]`(n)` keeps the last `n` handed
//!   over and not yet acknowledged ([`SessionUser::acknowledge`]) and sends
//!   them again to the next PE, in their order, before newer ones. They
//!   (and the session's newer messages) leave only once the application
//!   has polled the [`user::Event::Failover`]: every answer that arrived
//!   before the failover comes before that event, so the application can
//!   still acknowledge what it answers, and an answered message is not
//!   sent again (the application acknowledges as it reads the answer).
//!   Under this policy a message is delivered at least once as long as the
//!   application keeps at most `n` unanswered, and an acknowledged one is
//!   never sent again.
//! * A message is never sent twice on one association and an acknowledged
//!   one is never sent again.
//!
//! # Example
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr, SocketAddr};
//! use rserpool::addr::{TransportProtocol, TransportUse};
//! use rserpool::pool_user::PoolUserConfig;
//! use rserpool::session::{user, SessionConnect, SessionUser, SessionUserConfig};
//! use rserpool::transmit::{Destination, Source, TransportEvent};
//! use rserpool::wire::{AsapMessage, List, PoolElementParam, Protocol, TransportParam};
//! use rserpool::{AssocId, Instant, PeId, Policy, PoolHandle};
//!
//! let registrar = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 3863);
//! let mut pu = PoolUserConfig::rsplib();
//! pu.registrars.push(registrar).unwrap();
//! let mut su: Box<SessionUser> = Box::new(SessionUser::new(SessionUserConfig::new(pu)));
//! let now = Instant::ZERO;
//! // For messages built here and received ones; what the machine sends is
//! // lent.
//! let mut buf = vec![0u8; 16_384];
//!
//! // A session to the pool "echo": its resolution needs the registrar.
//! let session = su.connect(now, PoolHandle::new(b"echo")?)?;
//! // Messages may be sent at once; they wait for the PE.
//! su.send(now, session, 47, b"hello")?;
//! let Some(SessionConnect::Registrar(c)) = su.poll_connect() else { panic!() };
//! su.handle_transport_event(now, TransportEvent::Up {
//!     assoc: AssocId(1), remote: c.remote, protocol: Protocol::Asap, verified: true,
//! });
//! let (t, bytes) = su.peek_transmit().unwrap();
//! assert_eq!((t.destination, t.ppid), (Destination::Association(AssocId(1)), 11));
//! assert!(matches!(AsapMessage::parse(bytes)?, AsapMessage::HandleResolution { .. }));
//! su.consume_transmit();
//!
//! // The registrar answers with one PE.
//! let addr = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9))];
//! let elements = [PoolElementParam {
//!     pe_id: PeId::new(7)?, home_server: None, registration_life: 30_000,
//!     user_transport: TransportParam::new(TransportProtocol::Sctp, 7000, TransportUse::DataAndControl, &addr).into(),
//!     policy: Policy::RoundRobin.into(), asap_transport: None,
//! }];
//! let n = AsapMessage::HandleResolutionResponse {
//!     accept_updates: false, pool_handle: b"echo", policy: None,
//!     elements: List::from_slice(&elements), error: None,
//! }.emit(&mut buf)?;
//! su.handle(now, Source::Association(AssocId(1)), 11, &buf[..n])?;
//!
//! // The session asks for an association to the PE ...
//! let Some(SessionConnect::PoolElement { remote, .. }) = su.poll_connect() else { panic!() };
//! assert_eq!(remote, SocketAddr::new(addr[0], 7000));
//! su.handle_transport_event(now, TransportEvent::Up {
//!     assoc: AssocId(2), remote, protocol: Protocol::Asap, verified: true,
//! });
//! assert!(matches!(su.poll_event(&mut buf)?, Some(user::Event::PoolUser(_)))); // home registrar
//! assert!(matches!( // the registrar's answer
//!     su.poll_event(&mut buf)?,
//!     Some(user::Event::PoolUser(rserpool::pool_user::Event::Resolved { elements: 1, .. }))
//! ));
//! assert_eq!(su.poll_event(&mut buf)?, Some(user::Event::Connected {
//!     session, pe: PeId::new(7)?, failover: false,
//! }));
//! // ... and the message goes out with its PPID, unframed.
//! let (t, bytes) = su.peek_transmit().unwrap();
//! assert_eq!((t.destination, t.ppid, bytes), (Destination::Association(AssocId(2)), 47, &b"hello"[..]));
//! su.consume_transmit();
//! assert!(su.peek_transmit().is_none());
//!
//! // The answer comes back the same way.
//! su.handle(now, Source::Association(AssocId(2)), 47, b"world")?;
//! let e = su.poll_event(&mut buf)?.unwrap();
//! assert_eq!(e, user::Event::Message { session, ppid: 47, len: 5 });
//! assert_eq!(&buf[..5], b"world");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod app;
mod buffer;
pub mod element;
pub mod request;
pub mod user;

use core::fmt;
use core::net::SocketAddr;

use crate::addr::TransportProtocol;
use crate::id::AssocId;
use crate::id::PeId;
use crate::transmit::{Connect, Destination, QueueError, Transmit};
use crate::wire::ASAP_PPID;

pub use element::{SessionElement, SessionElementConfig};
pub use request::{Requester, RequesterEvent};
pub use user::{SessionUser, SessionUserConfig};

/// Bytes of messages waiting for the application (and, separately, for
/// the transport) by default.
pub const DEFAULT_BUFFER_BYTES: usize = 16_384;
/// Messages waiting for the application (and, separately, for the
/// transport) at most, by default.
pub const DEFAULT_BUFFER_MESSAGES: usize = 64;
/// Sessions per machine by default.
pub const DEFAULT_SESSIONS: usize = 8;
/// Application events other than messages that may wait at once.
pub const EVENT_QUEUE_LEN: usize = 32;
/// Associations waiting to be shut down by the driver at most.
pub const CLOSE_QUEUE_LEN: usize = 16;

/// A session, numbered by its machine (never 0; not reused while the
/// session lives).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u32);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session {}", self.0)
    }
}

/// One message to send, with SCTP PPID `ppid`: its bytes are lent with it
/// by `peek_transmit`, or are `buf[..len]` of the buffer given to
/// `poll_transmit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTransmit {
    /// Where it goes.
    pub destination: Destination,
    /// The payload protocol identifier: 11 for ASAP, else the
    /// application's own.
    pub ppid: u32,
    /// The message's length in bytes.
    pub len: usize,
}

impl From<Transmit> for SessionTransmit {
    /// An inner machine's ASAP (or ENRP) message, with its protocol's PPID.
    fn from(t: Transmit) -> Self {
        SessionTransmit {
            destination: t.destination,
            ppid: t.protocol.ppid(),
            len: t.len,
        }
    }
}

impl SessionTransmit {
    /// `bytes` with `ppid` on association `assoc`.
    fn on(assoc: AssocId, ppid: u32, bytes: &[u8]) -> Self {
        SessionTransmit {
            destination: Destination::Association(assoc),
            ppid,
            len: bytes.len(),
        }
    }
}

/// An association a machine wants opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionConnect {
    /// ASAP to a registrar (the inner pool user's or pool element's server
    /// hunt).
    Registrar(Connect),
    /// A session's association to a PE's user transport.
    PoolElement {
        /// The session.
        session: SessionId,
        /// The PE.
        pe: PeId,
        /// Its user transport's (first) address.
        remote: SocketAddr,
        /// SCTP or TCP, as the PE registered.
        transport: TransportProtocol,
    },
}

impl SessionConnect {
    /// The address to connect to.
    pub const fn remote(&self) -> SocketAddr {
        match self {
            SessionConnect::Registrar(c) => c.remote,
            SessionConnect::PoolElement { remote, .. } => *remote,
        }
    }
}

/// A received message was not taken: the application's ring is full. The
/// driver keeps the message and offers it again after the application has
/// drained events (stop reading the association meanwhile).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backpressure {
    /// The message's size.
    pub needed: usize,
}

impl fmt::Display for Backpressure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no room for a message of {} bytes: drain events",
            self.needed
        )
    }
}

impl core::error::Error for Backpressure {}

/// How messages already handed to the driver are treated at a failover
/// (see the [module documentation](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ResendPolicy {
    /// Not sent again (rsplib): the application re-sends.
    #[default]
    None,
    /// The last `n` handed over and not yet acknowledged are sent again to
    /// the next PE. They are kept in the transmit ring meanwhile.
    LastUnacknowledged(u16),
}

/// Why a session failed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailoverReason {
    /// The association to the PE went down.
    AssociationDown,
    /// The association to the PE could not be opened.
    ConnectFailed,
    /// A message could not be delivered (SCTP SEND.FAILURE).
    SendFailed,
    /// The application asked.
    Application,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// No PE could be found: the registrar's cause, or `None` when it did
    /// not answer (or the pool had no usable PE).
    NoPoolElement {
        /// The registrar's cause, if it answered.
        cause: Option<crate::CauseCode>,
    },
    /// More consecutive failovers than allowed without a message from a PE
    /// in between ([`SessionUserConfig::max_failovers`]).
    FailoverLimit,
    /// The association went down (pool element side).
    AssociationDown,
    /// A message could not be delivered (pool element side).
    SendFailed,
    /// The application closed it.
    Application,
    /// The association was a registrar's, not a pool user's: its first
    /// message was an ENDPOINT_KEEP_ALIVE (a registrar taking the PE over,
    /// RFC 5353 §3.5, from an address the PE did not know). It now belongs
    /// to the pool element machine (pool element side).
    Registrar,
}

/// Why a session call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// Every session slot is taken: the newcomer is refused.
    TableFull,
    /// No such session (never opened, or closed).
    UnknownSession,
    /// PPID 11 is ASAP's, sent by the session layer only.
    ReservedPpid,
    /// The message is larger than the whole transmit ring.
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// The transmit ring has no room now: try again after messages were
    /// sent (`consume_transmit`).
    Full {
        /// The message's size.
        needed: usize,
    },
    /// The session has no PE to act on yet (still resolving).
    NotConnected,
    /// A cookie longer than [`MAX_COOKIE_SIZE`](crate::pool_element::MAX_COOKIE_SIZE).
    CookieTooLong {
        /// Its length.
        len: usize,
    },
    /// An ASAP message could not be built.
    Encode(crate::wire::Error),
    /// The request helper has a request outstanding.
    Busy,
    /// The request helper needs the session to resend
    /// ([`ResendPolicy::LastUnacknowledged`] of at least 1).
    ResendNeeded,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::TableFull => f.write_str("session table full"),
            SessionError::UnknownSession => f.write_str("unknown session"),
            SessionError::ReservedPpid => f.write_str("PPID 11 is reserved for ASAP"),
            SessionError::TooLarge { len } => write!(f, "message of {len} bytes too large"),
            SessionError::Full { needed } => {
                write!(f, "transmit ring full ({needed} bytes)")
            }
            SessionError::NotConnected => f.write_str("session has no pool element yet"),
            SessionError::CookieTooLong { len } => write!(f, "cookie of {len} bytes too long"),
            SessionError::Encode(e) => write!(f, "cannot encode: {e}"),
            SessionError::Busy => f.write_str("a request is outstanding"),
            SessionError::ResendNeeded => f.write_str("the session does not resend"),
        }
    }
}

impl core::error::Error for SessionError {}

/// Whether `ppid` is ASAP's.
const fn is_asap(ppid: u32) -> bool {
    ppid == ASAP_PPID
}

/// Copies `lent` (a message lent by a `peek_transmit`) into `out`.
fn copy_lent(lent: &[u8], out: &mut [u8]) -> Result<usize, QueueError> {
    let dst = out
        .get_mut(..lent.len())
        .ok_or(QueueError::BufferTooSmall { needed: lent.len() })?;
    dst.copy_from_slice(lent);
    Ok(lent.len())
}

/// A session machine's `peek_transmit`.
type Peek<M> = fn(&M) -> Option<(SessionTransmit, &[u8])>;

/// A session machine's `poll_transmit`: the message `peek` lends, copied
/// into `buf`, then `consume`d; a `buf` too short leaves it queued.
fn poll_lent<M>(
    machine: &mut M,
    peek: Peek<M>,
    consume: fn(&mut M),
    buf: &mut [u8],
) -> Result<Option<SessionTransmit>, QueueError> {
    let Some((t, bytes)) = peek(machine) else {
        return Ok(None);
    };
    copy_lent(bytes, buf)?;
    consume(machine);
    Ok(Some(t))
}

/// Copies ring message `pos` into `out`.
fn copy_out<M: Copy, const B: usize, const E: usize>(
    ring: &buffer::Ring<M, B, E>,
    pos: usize,
    out: &mut [u8],
) -> Result<usize, QueueError> {
    let bytes = ring.bytes(pos);
    let dst = out
        .get_mut(..bytes.len())
        .ok_or(QueueError::BufferTooSmall {
            needed: bytes.len(),
        })?;
    dst.copy_from_slice(bytes);
    Ok(bytes.len())
}
