//! Pool element sessions: see the [module documentation](super).
//!
//! Every association that comes up from a remote other than a registrar
//! (one the inner [`PoolElement`]'s server hunt knows or asked for) is a
//! pool user's session: [`Event::Accepted`], or refused (shut down,
//! [`Event::Refused`]) when all `SESSIONS` slots are taken; the
//! established sessions are never evicted. User messages arrive as
//! [`Event::Message`] with their PPID; ASAP on PPID 11 goes to the
//! pool element machine, whose COOKIE_ECHO becomes
//! [`Event::CookieEcho`] (the cookie in
//! [`SessionElement::cookie_echo`], for the application to restore the
//! user's state). COOKIE and BUSINESS_CARD leave in order with the
//! session's messages.

use core::net::SocketAddr;

use crate::id::AssocId;
use crate::pool_element::{
    self, Cookie, PoolElement, PoolElementConfig, PoolElementError, MAX_REGISTRARS,
};
use crate::time::Instant;
use crate::transmit::{Machine, QueueError, Source, TransportEvent};
use crate::wire::{AsapMessage, List, PoolElementParam, Protocol, ASAP_PPID};

use super::app::{AppQueue, Next};
use super::buffer::{Full, PushError, Ring};
use super::{
    is_asap, poll_lent, Backpressure, CloseReason, SessionConnect, SessionError, SessionId,
    SessionTransmit, DEFAULT_BUFFER_BYTES, DEFAULT_BUFFER_MESSAGES, DEFAULT_SESSIONS,
};

/// A session element's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionElementConfig {
    /// The inner pool element's.
    pub element: PoolElementConfig,
}

/// What a session element tells its application.
// The inner pool element's events hold a cookie by value (no heap).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A pool user opened a session.
    Accepted {
        /// The session.
        session: SessionId,
        /// The user's address.
        remote: SocketAddr,
        /// The association.
        assoc: AssocId,
    },
    /// An association was refused (shut down): every session slot is taken.
    Refused {
        /// The user's address.
        remote: SocketAddr,
        /// The association (also returned by
        /// [`SessionElement::poll_close`] unless that queue was full).
        assoc: AssocId,
    },
    /// A user message: its bytes are `buf[..len]` of the buffer given to
    /// [`SessionElement::poll_event`].
    Message {
        /// The session.
        session: SessionId,
        /// Its PPID.
        ppid: u32,
        /// Its length.
        len: usize,
    },
    /// A pool user that failed over echoed its last cookie
    /// ([`SessionElement::cookie_echo`]).
    CookieEcho {
        /// The session.
        session: SessionId,
    },
    /// A COOKIE_ECHO longer than [`MAX_COOKIE_SIZE`](crate::pool_element::MAX_COOKIE_SIZE)
    /// was dropped.
    CookieTooLong {
        /// The session.
        session: SessionId,
        /// Its length.
        len: usize,
    },
    /// The session ended; its id is unknown from now on.
    Closed {
        /// The session.
        session: SessionId,
        /// Why.
        reason: CloseReason,
    },
    /// Something the inner pool element reported (registration, home
    /// registrar, ASAP_ERROR).
    Element(pool_element::Event),
}

#[derive(Clone, Debug)]
struct Session {
    id: SessionId,
    assoc: AssocId,
    remote: SocketAddr,
    /// The transport verified the peer's return path ([`TransportEvent::Up`]).
    verified: bool,
    cookie_echo: Option<Cookie>,
    /// Nothing has been received on it yet.
    fresh: bool,
}

#[derive(Clone, Copy, Debug)]
struct Outgoing {
    assoc: AssocId,
    ppid: u32,
}

/// Pool element sessions (see the [module documentation](super)): up to
/// `SESSIONS` at once; `BUF` bytes and `MSGS` messages waiting for the
/// application, as many waiting for the transport.
pub struct SessionElement<
    const SESSIONS: usize = DEFAULT_SESSIONS,
    const BUF: usize = DEFAULT_BUFFER_BYTES,
    const MSGS: usize = DEFAULT_BUFFER_MESSAGES,
> {
    pe: PoolElement,
    sessions: [Option<Session>; SESSIONS],
    next_id: u32,
    outbox: Ring<Outgoing, BUF, MSGS>,
    app: AppQueue<Event, BUF, MSGS>,
    /// Registrars the pool element asked to connect to.
    connecting: heapless::Deque<SocketAddr, MAX_REGISTRARS>,
    refused: u32,
    stray: u32,
    refused_control: u32,
}

impl<const S: usize, const B: usize, const M: usize> core::fmt::Debug for SessionElement<S, B, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionElement")
            .field("sessions", &self.sessions.iter().flatten().count())
            .field("element", &self.pe)
            .finish()
    }
}

impl<const S: usize, const B: usize, const M: usize> SessionElement<S, B, M> {
    /// A session element; the pool element registers on
    /// [`register`](Self::register).
    pub fn new(config: SessionElementConfig) -> Result<Self, PoolElementError> {
        Ok(SessionElement {
            pe: PoolElement::new(config.element)?,
            sessions: core::array::from_fn(|_| None),
            next_id: 1,
            outbox: Ring::new(),
            app: AppQueue::new(),
            connecting: heapless::Deque::new(),
            refused: 0,
            stray: 0,
            refused_control: 0,
        })
    }

    /// The inner pool element.
    pub const fn element(&self) -> &PoolElement {
        &self.pe
    }

    /// Registers the PE ([`PoolElement::register`]).
    pub fn register(&mut self, now: Instant) {
        self.pe.register(now);
        self.pump();
    }

    /// Deregisters the PE ([`PoolElement::deregister`]); sessions stay.
    pub fn deregister(&mut self, now: Instant) -> Result<(), PoolElementError> {
        let r = self.pe.deregister(now);
        self.pump();
        r
    }

    /// Changes the policy ([`PoolElement::set_policy`]).
    pub fn set_policy(&mut self, now: Instant, policy: crate::Policy) {
        self.pe.set_policy(now, policy);
        self.pump();
    }

    fn index(&self, id: SessionId) -> Option<usize> {
        self.sessions
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.id == id))
    }

    fn by_assoc(&self, assoc: AssocId) -> Option<usize> {
        self.sessions
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.assoc == assoc))
    }

    /// The open sessions.
    pub fn sessions(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.iter().flatten().map(|s| s.id)
    }

    /// The association of `session`.
    pub fn assoc(&self, session: SessionId) -> Option<AssocId> {
        self.index(session)
            .and_then(|i| self.sessions[i].as_ref())
            .map(|s| s.assoc)
    }

    /// The pool user's address of `session`.
    pub fn remote(&self, session: SessionId) -> Option<SocketAddr> {
        self.index(session)
            .and_then(|i| self.sessions[i].as_ref())
            .map(|s| s.remote)
    }

    /// The cookie the pool user of `session` echoed, if any.
    pub fn cookie_echo(&self, session: SessionId) -> Option<&[u8]> {
        self.index(session)
            .and_then(|i| self.sessions[i].as_ref())
            .and_then(|s| s.cookie_echo.as_deref())
    }

    /// Associations refused for want of a session slot.
    pub const fn refused(&self) -> u32 {
        self.refused
    }

    /// Events other than messages dropped because their queue was full.
    pub const fn events_lost(&self) -> u32 {
        self.app.events_lost()
    }

    /// Associations the driver was not asked to shut down because the
    /// close queue was full.
    pub const fn closes_lost(&self) -> u32 {
        self.app.closes_lost()
    }

    /// ASAP messages from pool users that were not theirs to send (a
    /// keep-alive, a registration response: a registrar's), dropped.
    pub const fn refused_control(&self) -> u32 {
        self.refused_control
    }

    /// User messages dropped because they came on no session's association.
    pub const fn stray_messages(&self) -> u32 {
        self.stray
    }

    fn queue(
        &mut self,
        session: SessionId,
        ppid: u32,
        len: usize,
        write: impl FnOnce(&mut [u8]) -> Result<(), crate::wire::Error>,
    ) -> Result<(), SessionError> {
        let assoc = self.assoc(session).ok_or(SessionError::UnknownSession)?;
        if len > B {
            return Err(SessionError::TooLarge { len });
        }
        self.outbox
            .push_with(Outgoing { assoc, ppid }, len, write)
            .map_err(|e| match e {
                PushError::Full(Full { needed }) => SessionError::Full { needed },
                PushError::Write(e) => SessionError::Encode(e),
            })
    }

    /// Queues a user message for `session` with its PPID (not 11).
    pub fn send(
        &mut self,
        session: SessionId,
        ppid: u32,
        bytes: &[u8],
    ) -> Result<(), SessionError> {
        if is_asap(ppid) {
            return Err(SessionError::ReservedPpid);
        }
        self.queue(session, ppid, bytes.len(), |b| {
            b.copy_from_slice(bytes);
            Ok(())
        })
    }

    /// Whether a message of `len` bytes can be queued now.
    pub fn can_send(&self, len: usize) -> bool {
        self.outbox.has_room(len)
    }

    fn queue_asap(&mut self, session: SessionId, m: &AsapMessage<'_>) -> Result<(), SessionError> {
        let len = m.buffer_len();
        self.queue(session, ASAP_PPID, len, |b| {
            let n = m.emit(b)?;
            if n == len {
                Ok(())
            } else {
                Err(crate::wire::Error::BufferTooSmall { needed: n })
            }
        })
    }

    /// Queues an ASAP_COOKIE for `session`, in order with its messages: the
    /// pool user keeps the latest and echoes it to the next PE after a
    /// failover. At most [`MAX_COOKIE_SIZE`](crate::pool_element::MAX_COOKIE_SIZE)
    /// bytes (what a pool user keeps).
    pub fn send_cookie(&mut self, session: SessionId, cookie: &[u8]) -> Result<(), SessionError> {
        if cookie.len() > pool_element::MAX_COOKIE_SIZE {
            return Err(SessionError::CookieTooLong { len: cookie.len() });
        }
        self.queue_asap(session, &AsapMessage::Cookie { cookie })
    }

    /// Queues an ASAP_BUSINESS_CARD for `session`: this pool, its policy,
    /// and `elements` in preferred failover order (e.g. the inner pool
    /// element's [`element_param`](PoolElement::element_param) followed by
    /// others).
    pub fn send_business_card(
        &mut self,
        session: SessionId,
        elements: &[PoolElementParam<'_>],
    ) -> Result<(), SessionError> {
        let pool = *self.pe.pool_handle();
        let policy = self.pe.config().policy;
        let m = AsapMessage::BusinessCard {
            pool_handle: pool.as_bytes(),
            policy: Some(policy.into()),
            elements: List::from_slice(elements),
        };
        self.queue_asap(session, &m)
    }

    /// Closes `session`: its association is shut down
    /// ([`poll_close`](Self::poll_close)), its unsent messages dropped, and
    /// [`Event::Closed`] with [`CloseReason::Application`] follows (so that
    /// whoever watches the sessions, not only the code that closed it,
    /// sees it end).
    pub fn close(&mut self, session: SessionId) -> Result<(), SessionError> {
        let i = self.index(session).ok_or(SessionError::UnknownSession)?;
        self.end(i, CloseReason::Application);
        Ok(())
    }

    fn end(&mut self, i: usize, reason: CloseReason) {
        let Some(s) = self.sessions[i].take() else {
            return;
        };
        if reason != CloseReason::AssociationDown {
            self.close_assoc(s.assoc);
        }
        self.outbox.remove_where(|m| m.assoc == s.assoc);
        self.event(Event::Closed {
            session: s.id,
            reason,
        });
    }

    fn close_assoc(&mut self, assoc: AssocId) {
        self.app.close(assoc);
    }

    fn event(&mut self, e: Event) {
        self.app.event(e);
    }

    /// Feeds a message received on `source` with SCTP PPID `ppid`.
    /// [`Backpressure`] when a user message does not fit the application's
    /// ring: the message was not taken.
    ///
    /// On a session's association, PPID 11 carries COOKIE_ECHO and
    /// ASAP_ERROR only; other ASAP messages there are dropped
    /// ([`refused_control`](Self::refused_control)), so a pool user cannot
    /// pose as a registrar (e.g. take the home role with a keep-alive) once
    /// it has spoken. One exception: an ENDPOINT_KEEP_ALIVE for this PE's
    /// pool (and PE, when it names one) as the very first message of an
    /// association from a host whose registrars the PE trusts (a
    /// configured or announced registrar's, or one of
    /// [`PoolElementConfig::trusted_registrars`](crate::pool_element::PoolElementConfig))
    /// is a registrar taking the PE over from an address the PE did not
    /// know (RFC 5353 §3.5): the session ends ([`CloseReason::Registrar`])
    /// and the association goes to the pool element machine. From any
    /// other host it is refused like other registrar messages.
    pub fn handle(
        &mut self,
        now: Instant,
        source: Source,
        ppid: u32,
        bytes: &[u8],
    ) -> Result<(), Backpressure> {
        let session = match source {
            Source::Association(a) => self.by_assoc(a),
            Source::Datagram(_) => None,
        };
        match (session, is_asap(ppid)) {
            (Some(i), false) => {
                let Some(id) = self.sessions[i].as_ref().map(|s| s.id) else {
                    return Ok(());
                };
                self.app.deliver(id, ppid, bytes)?;
                if let Some(s) = self.sessions[i].as_mut() {
                    s.fresh = false;
                }
            }
            (Some(i), true) => {
                let fresh = self.sessions[i].as_ref().is_some_and(|s| s.fresh);
                if let Some(s) = self.sessions[i].as_mut() {
                    s.fresh = false;
                }
                match AsapMessage::parse(bytes) {
                    // A pool user's business: COOKIE_ECHO, ASAP_ERROR, and
                    // what does not parse (answered with ASAP_ERROR when its
                    // type asks).
                    Ok(AsapMessage::CookieEcho { .. } | AsapMessage::Error { .. }) | Err(_) => {
                        self.pe.handle(now, source, Protocol::Asap, bytes)
                    }
                    // A registrar taking the PE over opens an association
                    // and sends a keep-alive first: the association is the
                    // machine's from now on.
                    Ok(AsapMessage::EndpointKeepAlive {
                        pool_handle, pe_id, ..
                    }) if fresh
                        && self.session_from_trusted_registrar_host(i)
                        && pool_handle == self.pe.pool_handle().as_bytes()
                        && pe_id.is_none_or(|id| id == self.pe.pe_id()) =>
                    {
                        self.hand_to_registrar(now, i, source, bytes);
                    }
                    // Other registrar messages, or a keep-alive after user
                    // traffic: a pool user cannot pose as a registrar (e.g.
                    // take the home role in the middle of a session).
                    Ok(_) => self.refused_control = self.refused_control.saturating_add(1),
                }
            }
            (None, true) => self.pe.handle(now, source, Protocol::Asap, bytes),
            (None, false) => self.stray = self.stray.saturating_add(1),
        }
        self.pump();
        Ok(())
    }

    /// Whether a received message of `len` bytes fits the application's
    /// ring now.
    pub fn has_room(&self, len: usize) -> bool {
        self.app.has_room(len)
    }

    /// Reports association life.
    pub fn handle_transport_event(&mut self, now: Instant, event: TransportEvent) {
        match event {
            TransportEvent::Up {
                assoc,
                remote,
                verified,
                ..
            } => {
                let asked = self.forget_connect(remote);
                if asked || self.pe.server_hunt().knows(remote) {
                    self.pe.handle_transport_event(now, event);
                } else if let Some(slot) = self.sessions.iter().position(Option::is_none) {
                    let id = self.fresh_id();
                    self.sessions[slot] = Some(Session {
                        id,
                        assoc,
                        remote,
                        verified,
                        cookie_echo: None,
                        fresh: true,
                    });
                    self.event(Event::Accepted {
                        session: id,
                        remote,
                        assoc,
                    });
                } else {
                    self.refused = self.refused.saturating_add(1);
                    self.close_assoc(assoc);
                    self.event(Event::Refused { remote, assoc });
                }
            }
            TransportEvent::PeerAddress { .. } => {}
            // Only an association to a registrar: a pool user's session is
            // not a home registrar, whatever it proves.
            TransportEvent::Authenticated { assoc } => {
                if self.by_assoc(assoc).is_none() {
                    self.pe.handle_transport_event(now, event);
                }
            }
            TransportEvent::ConnectFailed { remote } => {
                self.forget_connect(remote);
                self.pe.handle_transport_event(now, event);
            }
            TransportEvent::Down { assoc } => match self.by_assoc(assoc) {
                Some(i) => self.end(i, CloseReason::AssociationDown),
                None => self.pe.handle_transport_event(now, event),
            },
            TransportEvent::SendFailed { assoc } => match self.by_assoc(assoc) {
                Some(i) => self.end(i, CloseReason::SendFailed),
                None => self.pe.handle_transport_event(now, event),
            },
        }
        self.pump();
    }

    /// Reports the life of an association the driver knows to carry ASAP
    /// to a registrar (e.g. one opened on a socket of its own), whatever
    /// its remote: it goes to the pool element machine and never becomes a
    /// session. [`handle_transport_event`](Self::handle_transport_event)
    /// tells registrars from pool users by their addresses instead.
    pub fn handle_registrar_transport_event(&mut self, now: Instant, event: TransportEvent) {
        if let TransportEvent::Up { remote, .. } | TransportEvent::ConnectFailed { remote } = event
        {
            self.forget_connect(remote);
        }
        self.pe.handle_transport_event(now, event);
        self.pump();
    }

    /// Session `i`'s association turned out to be a registrar's: the
    /// session ends ([`CloseReason::Registrar`]) and the association, with
    /// its first message, goes to the pool element machine.
    /// Whether session `i`'s peer is on a host whose registrars the PE's
    /// server hunt trusts ([`ServerHunt::trusts_host`](crate::asap_client::ServerHunt::trusts_host)).
    fn session_from_trusted_registrar_host(&self, i: usize) -> bool {
        self.sessions[i]
            .as_ref()
            .is_some_and(|s| self.pe.server_hunt().trusts_host(s.remote.ip()))
    }

    fn hand_to_registrar(&mut self, now: Instant, i: usize, source: Source, bytes: &[u8]) {
        let Some(s) = self.sessions[i].take() else {
            return;
        };
        self.outbox.remove_where(|m| m.assoc == s.assoc);
        self.event(Event::Closed {
            session: s.id,
            reason: CloseReason::Registrar,
        });
        self.pe.handle_transport_event(
            now,
            TransportEvent::Up {
                assoc: s.assoc,
                remote: s.remote,
                protocol: Protocol::Asap,
                verified: s.verified,
            },
        );
        self.pe.handle(now, source, Protocol::Asap, bytes);
    }

    fn forget_connect(&mut self, remote: SocketAddr) -> bool {
        let mut found = false;
        for _ in 0..self.connecting.len() {
            if let Some(r) = self.connecting.pop_front() {
                if r == remote && !found {
                    found = true;
                } else {
                    let _ = self.connecting.push_back(r);
                }
            }
        }
        found
    }

    fn fresh_id(&mut self) -> SessionId {
        loop {
            let id = SessionId(self.next_id);
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
            if self.index(id).is_none() {
                return id;
            }
        }
    }

    /// Time has reached [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.pe.handle_timeout(now);
        self.pump();
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pe.poll_timeout()
    }

    /// The next association to open (always to a registrar).
    pub fn poll_connect(&mut self) -> Option<SessionConnect> {
        let c = self.pe.poll_connect()?;
        if self.connecting.is_full() {
            self.connecting.pop_front();
        }
        let _ = self.connecting.push_back(c.remote);
        Some(SessionConnect::Registrar(c))
    }

    /// The next association to shut down (a session closed, or refused).
    pub fn poll_close(&mut self) -> Option<AssocId> {
        self.app.poll_close()
    }

    /// The next message to send, lent from the machine's own queues (no
    /// copy, no buffer): the pool element's ASAP first, then the sessions'
    /// messages (PPID 11 for COOKIE and BUSINESS_CARD) in the order they
    /// were queued. Send it, then call
    /// [`consume_transmit`](Self::consume_transmit); until then the same
    /// message is lent again.
    pub fn peek_transmit(&self) -> Option<(SessionTransmit, &[u8])> {
        if let Some((t, bytes)) = self.pe.peek_transmit() {
            return Some((t.into(), bytes));
        }
        let (_, meta, bytes) = self.outbox.front()?;
        Some((SessionTransmit::on(meta.assoc, meta.ppid, bytes), bytes))
    }

    /// Drops the message [`peek_transmit`](Self::peek_transmit) lends (it
    /// was sent); nothing when none waits.
    pub fn consume_transmit(&mut self) {
        if self.pe.peek_transmit().is_some() {
            self.pe.consume_transmit();
        } else if let Some((pos, _, _)) = self.outbox.front() {
            self.outbox.remove(pos);
        }
    }

    /// The next message to send, copied into `buf`:
    /// [`peek_transmit`](Self::peek_transmit) and
    /// [`consume_transmit`](Self::consume_transmit) for a driver that wants
    /// the bytes in a buffer of its own (large enough for the largest
    /// message: see the [module documentation](super), "Buffers"). A `buf`
    /// shorter than the message gets [`QueueError::BufferTooSmall`] and the
    /// message stays queued.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Result<Option<SessionTransmit>, QueueError> {
        poll_lent(self, Self::peek_transmit, Self::consume_transmit, buf)
    }

    /// The next application event. A [`Event::Message`]'s bytes are copied
    /// into `buf` ([`QueueError::BufferTooSmall`] leaves it waiting).
    pub fn poll_event(&mut self, buf: &mut [u8]) -> Result<Option<Event>, QueueError> {
        Ok(self.app.poll(buf)?.map(|next| match next {
            Next::Message { session, ppid, len } => Event::Message { session, ppid, len },
            Next::Event(e) => e,
        }))
    }

    /// Handles the inner pool element's events.
    fn pump(&mut self) {
        while let Some(e) = self.pe.poll_event() {
            match e {
                pool_element::Event::CookieEcho { assoc, cookie } => match self.by_assoc(assoc) {
                    Some(i) => {
                        let mut id = None;
                        if let Some(s) = self.sessions[i].as_mut() {
                            s.cookie_echo = Some(cookie);
                            id = Some(s.id);
                        }
                        if let Some(session) = id {
                            self.event(Event::CookieEcho { session });
                        }
                    }
                    None => self.stray = self.stray.saturating_add(1),
                },
                pool_element::Event::CookieTooLong { assoc, len } => {
                    if let Some(session) = self
                        .by_assoc(assoc)
                        .and_then(|i| self.sessions[i].as_ref())
                        .map(|s| s.id)
                    {
                        self.event(Event::CookieTooLong { session, len });
                    }
                }
                other => self.event(Event::Element(other)),
            }
        }
    }
}
