//! Pool user sessions: see the [module documentation](super).
//!
//! # A session's life
//!
//! * **Resolving**: [`SessionUser::connect`] asks the inner
//!   [`PoolUser`] for a PE; without one cached it resolves the pool
//!   ([`PoolUser::select`] answers `WouldBlock`) and the session waits for
//!   the answer. An answer with a cause (e.g. Unknown Pool Handle) closes a
//!   session that never had a PE ([`CloseReason::NoPoolElement`]); an
//!   unanswered resolution (no registrar answered, none could be reached),
//!   or any failure during a failover, counts one attempt and tries again
//!   after [`retry_interval`](SessionUserConfig::retry_interval). A failed
//!   resolution the session survives is told as
//!   [`Event::ResolutionFailed`] (with the registrar's cause, `None` when
//!   no registrar answered), so that an application can give up at once.
//! * **Connecting**: the PE is chosen; [`SessionUser::poll_connect`] asks
//!   for an association to its user transport.
//! * **Connected**: [`Event::Connected`]; messages flow. After a failover,
//!   the session's last cookie goes first in COOKIE_ECHO.
//! * **Failover** ([`FailoverReason`]): [`Event::Failover`], the PE is
//!   reported unreachable ([`PoolUser::report_unreachable`]: one
//!   ENDPOINT_UNREACHABLE, the PE leaves the cache, the next one by the
//!   business card or the policy), back to Connecting (or Resolving when
//!   no other PE is cached).
//! * **Closed**: by the application ([`SessionUser::close`]), or
//!   [`Event::Closed`] when no PE can be found or after
//!   [`max_failovers`](SessionUserConfig::max_failovers) consecutive
//!   failures with no message from a PE in between.
//!
//! # Cookies
//!
//! The latest COOKIE of each session is kept per session (the inner pool
//! user keeps one per pool, which serves one session per pool only); the
//! session layer therefore does not attach its associations as the pool
//! user's control channels and sends the COOKIE_ECHO itself. BUSINESS_CARD
//! and every other ASAP message on a PE association go to the pool user
//! (cards set its failover order; malformed messages are answered with
//! ASAP_ERROR).

use core::net::SocketAddr;

use crate::addr::TransportProtocol;
use crate::cause::CauseCode;
use crate::id::{AssocId, PeId, PoolHandle};
use crate::pool_user::{self, PoolUser, PoolUserError, Selection, SendOptions, MAX_COOKIE_SIZE};
use crate::time::Instant;
use crate::transmit::{Machine, QueueError, Source, TransportEvent};
use crate::wire::{AsapMessage, Protocol, ASAP_PPID};

mod event;

pub use event::{Event, SessionState, SessionUserConfig};

use super::app::{AppQueue, Next};
use super::buffer::{Full, Ring};
use super::{
    is_asap, poll_lent, Backpressure, CloseReason, FailoverReason, ResendPolicy, SessionConnect,
    SessionError, SessionId, SessionTransmit, DEFAULT_BUFFER_BYTES, DEFAULT_BUFFER_MESSAGES,
    DEFAULT_SESSIONS,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the pool user's answer.
    Resolving,
    /// Trying again at `until`.
    Waiting {
        until: Instant,
    },
    Connecting {
        pe: PeId,
        remote: SocketAddr,
        transport: TransportProtocol,
        requested: bool,
    },
    Connected {
        pe: PeId,
        assoc: AssocId,
    },
}

/// The bytes of a COOKIE_ECHO at most: the ASAP header and the Cookie
/// parameter's (4 bytes each), the cookie, its padding (up to 3 bytes).
const ECHO_BYTES: usize = MAX_COOKIE_SIZE + 11;

/// A session's latest cookie, kept as the COOKIE_ECHO that carries it to
/// the next PE after a failover: encoded once when the cookie arrives, so
/// that it is lent as it is, with no buffer to encode into.
#[derive(Clone, Debug)]
struct Echo {
    message: heapless::Vec<u8, ECHO_BYTES>,
    cookie_len: u16,
}

impl Echo {
    /// Where the cookie starts in the message.
    const COOKIE_AT: usize = 8;

    /// The COOKIE_ECHO for `cookie`; `None` when it is longer than
    /// [`MAX_COOKIE_SIZE`] (or cannot be encoded).
    fn new(cookie: &[u8]) -> Option<Self> {
        if cookie.len() > MAX_COOKIE_SIZE {
            return None;
        }
        let m = AsapMessage::CookieEcho { cookie };
        let len = m.buffer_len();
        let mut message = heapless::Vec::new();
        message.resize(len, 0).ok()?;
        let n = m.emit(&mut message).ok()?;
        message.truncate(n);
        let cookie_len = u16::try_from(cookie.len()).ok()?;
        let echo = Echo {
            message,
            cookie_len,
        };
        (echo.cookie() == cookie).then_some(echo)
    }

    /// The cookie.
    fn cookie(&self) -> &[u8] {
        self.message
            .get(Self::COOKIE_AT..Self::COOKIE_AT + usize::from(self.cookie_len))
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug)]
struct Session {
    id: SessionId,
    pool: PoolHandle,
    phase: Phase,
    /// Whether the session ever had a PE (an answer with a cause then
    /// counts as an attempt rather than closing it).
    had_pe: bool,
    /// The next connection ends a failover.
    failing_over: bool,
    /// Failover events not yet polled by the application while messages
    /// wait to be sent again: the session's data waits too, so that an
    /// answer that arrived before the failover can still acknowledge them.
    holds: u32,
    /// Consecutive failures without a message from a PE.
    failures: u32,
    /// The latest cookie, as its COOKIE_ECHO.
    cookie: Option<Echo>,
    /// A COOKIE_ECHO is to go first on the current association.
    echo_due: bool,
    next_seq: u64,
}

#[derive(Clone, Copy, Debug)]
struct Outgoing {
    session: SessionId,
    ppid: u32,
    seq: u64,
    /// Handed to the driver and kept for a resend.
    sent: bool,
}

/// Pool user sessions (see the [module documentation](super)): up to
/// `SESSIONS` at once; `BUF` bytes and `MSGS` messages waiting for the
/// application, as many waiting for the transport; the inner
/// [`PoolUser`] caches `POOLS` pools of `PES` elements.
pub struct SessionUser<
    const SESSIONS: usize = DEFAULT_SESSIONS,
    const BUF: usize = DEFAULT_BUFFER_BYTES,
    const MSGS: usize = DEFAULT_BUFFER_MESSAGES,
    const POOLS: usize = 8,
    const PES: usize = 16,
> {
    config: SessionUserConfig,
    pu: PoolUser<POOLS, PES>,
    sessions: [Option<Session>; SESSIONS],
    next_id: u32,
    outbox: Ring<Outgoing, BUF, MSGS>,
    app: AppQueue<Event, BUF, MSGS>,
    /// Remotes of connects asked for and then abandoned: their association
    /// is shut down when it comes up.
    abandoned: heapless::Deque<SocketAddr, SESSIONS>,
    stray: u32,
    refused_control: u32,
}

impl<const S: usize, const B: usize, const M: usize, const P: usize, const E: usize>
    core::fmt::Debug for SessionUser<S, B, M, P, E>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionUser")
            .field("sessions", &self.sessions.iter().flatten().count())
            .field("pool_user", &self.pu)
            .finish()
    }
}

impl<const S: usize, const B: usize, const M: usize, const P: usize, const E: usize>
    SessionUser<S, B, M, P, E>
{
    /// A session user with no session.
    pub fn new(config: SessionUserConfig) -> Self {
        SessionUser {
            pu: PoolUser::new(config.pool_user.clone()),
            config,
            sessions: core::array::from_fn(|_| None),
            next_id: 1,
            outbox: Ring::new(),
            app: AppQueue::new(),
            abandoned: heapless::Deque::new(),
            stray: 0,
            refused_control: 0,
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &SessionUserConfig {
        &self.config
    }

    /// The inner pool user.
    pub const fn pool_user(&self) -> &PoolUser<P, E> {
        &self.pu
    }

    /// Opens a session to `pool` ([`SessionError::TableFull`] when every
    /// slot is taken). It resolves the pool and connects on its own;
    /// messages may be sent at once.
    pub fn connect(&mut self, now: Instant, pool: PoolHandle) -> Result<SessionId, SessionError> {
        let slot = self
            .sessions
            .iter()
            .position(Option::is_none)
            .ok_or(SessionError::TableFull)?;
        let id = self.fresh_id();
        self.sessions[slot] = Some(Session {
            id,
            pool,
            phase: Phase::Resolving,
            had_pe: false,
            failing_over: false,
            holds: 0,
            failures: 0,
            cookie: None,
            echo_due: false,
            next_seq: 0,
        });
        self.select_for(now, slot);
        self.pump(now);
        Ok(id)
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

    fn index(&self, id: SessionId) -> Option<usize> {
        self.sessions
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.id == id))
    }

    fn session(&self, id: SessionId) -> Result<&Session, SessionError> {
        self.index(id)
            .and_then(|i| self.sessions[i].as_ref())
            .ok_or(SessionError::UnknownSession)
    }

    /// The PEs of `pool` from the inner pool user's cache, resolving when
    /// needed ([`PoolUser::resolve`]): how many are cached (read them
    /// with [`PoolUser::elements`] through [`pool_user`](Self::pool_user)),
    /// or [`PoolUserError::WouldBlock`] while a resolution runs; its end
    /// comes as [`Event::PoolUser`] with [`pool_user::Event::Resolved`] or
    /// [`pool_user::Event::ResolutionFailed`].
    pub fn resolve(&mut self, now: Instant, pool: &PoolHandle) -> Result<usize, PoolUserError> {
        let r = self.pu.resolve(now, pool);
        self.pump(now);
        r
    }

    /// Where `session` is.
    pub fn state(&self, session: SessionId) -> Option<SessionState> {
        let s = self.session(session).ok()?;
        Some(match s.phase {
            Phase::Resolving | Phase::Waiting { .. } => SessionState::Resolving,
            Phase::Connecting { pe, .. } => SessionState::Connecting { pe },
            Phase::Connected { pe, assoc } => SessionState::Connected { pe, assoc },
        })
    }

    /// The open sessions.
    pub fn sessions(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.iter().flatten().map(|s| s.id)
    }

    /// The latest cookie `session` received.
    pub fn cookie(&self, session: SessionId) -> Option<&[u8]> {
        self.session(session)
            .ok()?
            .cookie
            .as_ref()
            .map(Echo::cookie)
    }

    /// Queues a user message for `session` with its PPID (not 11). Returns
    /// its sequence number within the session (for
    /// [`acknowledge`](Self::acknowledge)). It leaves once the session is
    /// connected.
    pub fn send(
        &mut self,
        now: Instant,
        session: SessionId,
        ppid: u32,
        bytes: &[u8],
    ) -> Result<u64, SessionError> {
        let _ = now;
        if is_asap(ppid) {
            return Err(SessionError::ReservedPpid);
        }
        if bytes.len() > B {
            return Err(SessionError::TooLarge { len: bytes.len() });
        }
        let i = self.index(session).ok_or(SessionError::UnknownSession)?;
        let seq = self.sessions[i].as_ref().map_or(0, |s| s.next_seq);
        let meta = Outgoing {
            session,
            ppid,
            seq,
            sent: false,
        };
        self.outbox
            .push(meta, bytes)
            .map_err(|Full { needed }| SessionError::Full { needed })?;
        if let Some(s) = self.sessions[i].as_mut() {
            s.next_seq += 1;
        }
        Ok(seq)
    }

    /// Whether a message of `len` bytes can be queued now.
    pub fn can_send(&self, len: usize) -> bool {
        self.outbox.has_room(len)
    }

    /// Messages of `session` up to sequence number `seq` were answered:
    /// they are not sent again at a failover
    /// ([`ResendPolicy::LastUnacknowledged`]), nor at all if still waiting
    /// to be resent. Also proof that the PE works (the failover count
    /// starts again).
    pub fn acknowledge(&mut self, session: SessionId, seq: u64) -> Result<(), SessionError> {
        let i = self.index(session).ok_or(SessionError::UnknownSession)?;
        self.outbox
            .remove_where(|m| m.session == session && m.seq <= seq);
        if let Some(s) = self.sessions[i].as_mut() {
            s.failures = 0;
        }
        Ok(())
    }

    /// Messages of `session` kept for a resend ([`ResendPolicy::LastUnacknowledged`]).
    pub fn unacknowledged(&self, session: SessionId) -> usize {
        self.outbox
            .iter()
            .filter(|(_, m)| m.session == session && m.sent)
            .count()
    }

    /// Messages of `session` not yet handed to the driver.
    pub fn queued(&self, session: SessionId) -> usize {
        self.outbox
            .iter()
            .filter(|(_, m)| m.session == session && !m.sent)
            .count()
    }

    /// The application wants `session` on another PE (e.g. its answer is
    /// late): the current association is aborted and the session fails
    /// over ([`FailoverReason::Application`]). With `report_unreachable`
    /// (rsplib's `FFF_UNREACHABLE`) the PE is reported to the registrar and
    /// leaves the cache, and the next one is taken in business card order;
    /// without (`FFF_NONE`) the next one is a plain selection by the
    /// pool's policy, which may be the same PE again.
    /// [`SessionError::NotConnected`] while it is still resolving.
    pub fn failover(
        &mut self,
        now: Instant,
        session: SessionId,
        report_unreachable: bool,
    ) -> Result<(), SessionError> {
        let i = self.index(session).ok_or(SessionError::UnknownSession)?;
        let connected = self.sessions[i]
            .as_ref()
            .is_some_and(|s| matches!(s.phase, Phase::Connecting { .. } | Phase::Connected { .. }));
        if !connected {
            return Err(SessionError::NotConnected);
        }
        self.start_failover(now, i, FailoverReason::Application, report_unreachable);
        self.pump(now);
        Ok(())
    }

    /// Closes `session`: its association is shut down
    /// ([`poll_close`](Self::poll_close)), its unsent messages are dropped.
    /// Messages already received stay to be polled.
    pub fn close(&mut self, now: Instant, session: SessionId) -> Result<(), SessionError> {
        let _ = now;
        let i = self.index(session).ok_or(SessionError::UnknownSession)?;
        self.end(i, None);
        Ok(())
    }

    /// Feeds a message received on `source` with SCTP PPID `ppid`.
    /// [`Backpressure`] when a user message does not fit the application's
    /// ring: the message was not taken (see the
    /// [module documentation](super)).
    ///
    /// On a PE association, PPID 11 carries COOKIE, BUSINESS_CARD (of the
    /// session's pool) and ASAP_ERROR only; other ASAP messages there are
    /// dropped ([`refused_control`](Self::refused_control)), so a PE cannot
    /// pose as a registrar.
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
                    s.failures = 0;
                }
            }
            (Some(i), true) => self.on_control(now, i, source, bytes),
            (None, true) => self.pu.handle(now, source, Protocol::Asap, bytes),
            (None, false) => self.stray = self.stray.saturating_add(1),
        }
        self.pump(now);
        Ok(())
    }

    /// Whether a received message of `len` bytes fits the application's
    /// ring now.
    pub fn has_room(&self, len: usize) -> bool {
        self.app.has_room(len)
    }

    /// ASAP on a PE association: COOKIE is the session's; a BUSINESS_CARD
    /// of the session's pool and ASAP_ERROR go to the pool user, as does
    /// what does not parse (to be answered with ASAP_ERROR when its type
    /// asks). Anything else (a resolution answer, a card of another pool) is
    /// a registrar's business, not a PE's: dropped and counted.
    fn on_control(&mut self, now: Instant, i: usize, source: Source, bytes: &[u8]) {
        let Some((id, pool)) = self.sessions[i].as_ref().map(|s| (s.id, s.pool)) else {
            return;
        };
        match AsapMessage::parse(bytes) {
            Ok(AsapMessage::Cookie { cookie }) => match Echo::new(cookie) {
                Some(c) => {
                    if let Some(s) = self.sessions[i].as_mut() {
                        s.cookie = Some(c);
                    }
                    self.event(Event::CookieReceived { session: id });
                }
                None => self.event(Event::CookieTooLong {
                    session: id,
                    len: cookie.len(),
                }),
            },
            Ok(AsapMessage::BusinessCard { pool_handle, .. }) => {
                if pool_handle == pool.as_bytes() {
                    self.pu.handle(now, source, Protocol::Asap, bytes);
                    self.event(Event::BusinessCard { session: id });
                } else {
                    self.refused_control = self.refused_control.saturating_add(1);
                }
            }
            Ok(AsapMessage::Error { .. }) | Err(_) => {
                self.pu.handle(now, source, Protocol::Asap, bytes)
            }
            Ok(_) => self.refused_control = self.refused_control.saturating_add(1),
        }
    }

    /// ASAP messages from PEs that were not theirs to send (see
    /// [`handle`](Self::handle)), dropped.
    pub const fn refused_control(&self) -> u32 {
        self.refused_control
    }

    fn by_assoc(&self, assoc: AssocId) -> Option<usize> {
        self.sessions.iter().position(|s| {
            s.as_ref()
                .is_some_and(|s| matches!(s.phase, Phase::Connected { assoc: a, .. } if a == assoc))
        })
    }

    fn by_pending_connect(&self, remote: SocketAddr) -> Option<usize> {
        self.sessions.iter().position(|s| {
            s.as_ref().is_some_and(|s| {
                matches!(s.phase, Phase::Connecting { remote: r, requested: true, .. } if r == remote)
            })
        })
    }

    /// Reports association life.
    pub fn handle_transport_event(&mut self, now: Instant, event: TransportEvent) {
        match event {
            TransportEvent::Up { assoc, remote, .. } => {
                if let Some(i) = self.by_pending_connect(remote) {
                    self.connected(i, assoc);
                } else if let Some(k) = self.abandoned.iter().position(|r| *r == remote) {
                    self.forget_abandoned(k);
                    self.close_assoc(assoc);
                } else {
                    self.pu.handle_transport_event(now, event);
                }
            }
            TransportEvent::PeerAddress { .. } => {}
            // A PE's session is not authenticated by the registrar's
            // rules; a registrar's association goes to the pool user.
            TransportEvent::Authenticated { assoc } => {
                if self.by_assoc(assoc).is_none() {
                    self.pu.handle_transport_event(now, event);
                }
            }
            TransportEvent::ConnectFailed { remote } => {
                if let Some(i) = self.by_pending_connect(remote) {
                    self.start_failover(now, i, FailoverReason::ConnectFailed, true);
                } else if let Some(k) = self.abandoned.iter().position(|r| *r == remote) {
                    self.forget_abandoned(k);
                } else {
                    self.pu.handle_transport_event(now, event);
                }
            }
            TransportEvent::Down { assoc } => match self.by_assoc(assoc) {
                Some(i) => {
                    // Gone already: nothing to shut down.
                    self.start_failover(now, i, FailoverReason::AssociationDown, true);
                }
                None => self.pu.handle_transport_event(now, event),
            },
            TransportEvent::SendFailed { assoc } => match self.by_assoc(assoc) {
                Some(i) => self.start_failover(now, i, FailoverReason::SendFailed, true),
                None => self.pu.handle_transport_event(now, event),
            },
        }
        self.pump(now);
    }

    fn forget_abandoned(&mut self, k: usize) {
        for j in 0..self.abandoned.len() {
            if let Some(r) = self.abandoned.pop_front() {
                if j != k {
                    let _ = self.abandoned.push_back(r);
                }
            }
        }
    }

    fn connected(&mut self, i: usize, assoc: AssocId) {
        let Some(s) = self.sessions[i].as_mut() else {
            return;
        };
        let Phase::Connecting { pe, .. } = s.phase else {
            return;
        };
        s.phase = Phase::Connected { pe, assoc };
        s.had_pe = true;
        let failover = core::mem::take(&mut s.failing_over);
        s.echo_due = failover && s.cookie.is_some();
        let session = s.id;
        net_debug!("session: connected to a pool element");
        self.event(Event::Connected {
            session,
            pe,
            failover,
        });
    }

    /// Time has reached [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.pu.handle_timeout(now);
        for i in 0..S {
            if matches!(&self.sessions[i], Some(s) if matches!(s.phase, Phase::Waiting { until } if now >= until))
            {
                if let Some(s) = self.sessions[i].as_mut() {
                    s.phase = Phase::Resolving;
                }
                self.select_for(now, i);
            }
        }
        self.pump(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sessions
            .iter()
            .flatten()
            .filter_map(|s| match s.phase {
                Phase::Waiting { until } => Some(until),
                _ => None,
            })
            .chain(self.pu.poll_timeout())
            .min()
    }

    /// The next association to open (to a registrar or a PE); answer it
    /// with [`TransportEvent::Up`] or [`TransportEvent::ConnectFailed`] for
    /// its remote address.
    pub fn poll_connect(&mut self) -> Option<SessionConnect> {
        if let Some(c) = self.pu.poll_connect() {
            return Some(SessionConnect::Registrar(c));
        }
        for s in self.sessions.iter_mut().flatten() {
            if let Phase::Connecting {
                pe,
                remote,
                transport,
                requested: requested @ false,
            } = &mut s.phase
            {
                *requested = true;
                return Some(SessionConnect::PoolElement {
                    session: s.id,
                    pe: *pe,
                    remote: *remote,
                    transport: *transport,
                });
            }
        }
        None
    }

    /// The next association to shut down (a session closed or failed over
    /// by the application, or an association nobody waits for any more).
    pub fn poll_close(&mut self) -> Option<AssocId> {
        self.app.poll_close()
    }

    /// The connected session whose COOKIE_ECHO is to go next: its index,
    /// association and message.
    fn due_echo(&self) -> Option<(usize, AssocId, &[u8])> {
        self.sessions.iter().enumerate().find_map(|(i, s)| {
            let s = s.as_ref()?;
            match (s.phase, s.echo_due, s.cookie.as_ref()) {
                (Phase::Connected { assoc, .. }, true, Some(echo)) => {
                    Some((i, assoc, &echo.message[..]))
                }
                _ => None,
            }
        })
    }

    /// The oldest user message whose session may send: its position and
    /// association.
    fn next_ready(&self) -> Option<(usize, AssocId)> {
        let sessions = &self.sessions;
        let ready = |id: SessionId| -> Option<AssocId> {
            sessions
                .iter()
                .flatten()
                .find(|s| s.id == id)
                .and_then(|s| match s.phase {
                    Phase::Connected { assoc, .. }
                        if !(s.echo_due && s.cookie.is_some()) && s.holds == 0 =>
                    {
                        Some(assoc)
                    }
                    _ => None,
                })
        };
        self.outbox
            .iter()
            .filter(|(_, m)| !m.sent)
            .find_map(|(p, m)| ready(m.session).map(|a| (p, a)))
    }

    /// The next message to send, lent from the machine's own storage (no
    /// copy, no buffer): ASAP (the pool user's, a session's COOKIE_ECHO)
    /// with PPID 11, user messages with theirs. A COOKIE_ECHO leaves before
    /// any message of its session. Send it, then call
    /// [`consume_transmit`](Self::consume_transmit); until then the same
    /// message is lent again.
    pub fn peek_transmit(&self) -> Option<(SessionTransmit, &[u8])> {
        if let Some((t, bytes)) = self.pu.peek_transmit() {
            return Some((t.into(), bytes));
        }
        if let Some((_, assoc, bytes)) = self.due_echo() {
            return Some((SessionTransmit::on(assoc, ASAP_PPID, bytes), bytes));
        }
        let (pos, assoc) = self.next_ready()?;
        let meta = self.outbox.meta(pos)?;
        let bytes = self.outbox.bytes(pos);
        Some((SessionTransmit::on(assoc, meta.ppid, bytes), bytes))
    }

    /// Takes the message [`peek_transmit`](Self::peek_transmit) lends as
    /// sent: dropped, or kept for a resend
    /// ([`ResendPolicy::LastUnacknowledged`]); nothing when none waits.
    pub fn consume_transmit(&mut self) {
        if self.pu.peek_transmit().is_some() {
            self.pu.consume_transmit();
            return;
        }
        if let Some((i, _, _)) = self.due_echo() {
            if let Some(s) = self.sessions[i].as_mut() {
                s.echo_due = false;
            }
            return;
        }
        let Some((pos, _)) = self.next_ready() else {
            return;
        };
        let Some(meta) = self.outbox.meta(pos).copied() else {
            return;
        };
        match self.config.resend {
            ResendPolicy::LastUnacknowledged(n) if n > 0 => {
                if let Some(m) = self.outbox.meta_mut(pos) {
                    m.sent = true;
                }
                let kept = self.unacknowledged(meta.session);
                if kept > usize::from(n) {
                    if let Some(oldest) = self.outbox.find(|m| m.session == meta.session && m.sent)
                    {
                        self.outbox.remove(oldest);
                    }
                }
            }
            _ => self.outbox.remove(pos),
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

    /// The next application event. A [`Event::Message`]'s bytes are
    /// copied into `buf` ([`QueueError::BufferTooSmall`] leaves it
    /// waiting).
    pub fn poll_event(&mut self, buf: &mut [u8]) -> Result<Option<Event>, QueueError> {
        let e = match self.app.poll(buf)? {
            None => return Ok(None),
            Some(Next::Message { session, ppid, len }) => {
                return Ok(Some(Event::Message { session, ppid, len }))
            }
            Some(Next::Event(e)) => e,
        };
        if let Event::Failover { session, .. } = e {
            if let Some(i) = self.index(session) {
                if let Some(s) = self.sessions[i].as_mut() {
                    s.holds = s.holds.saturating_sub(1);
                }
            }
        }
        Ok(Some(e))
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

    /// User messages dropped because they came on no session's
    /// association.
    pub const fn stray_messages(&self) -> u32 {
        self.stray
    }

    fn event(&mut self, e: Event) {
        self.app.event(e);
    }

    fn close_assoc(&mut self, assoc: AssocId) {
        self.app.close(assoc);
    }

    /// Leaves the current PE's association (shut down when still there; a
    /// connect asked for is abandoned).
    fn leave(&mut self, i: usize) {
        let Some(s) = self.sessions[i].as_ref() else {
            return;
        };
        match s.phase {
            Phase::Connected { assoc, .. } => self.close_assoc(assoc),
            Phase::Connecting {
                remote,
                requested: true,
                ..
            } => {
                if self.abandoned.is_full() {
                    self.abandoned.pop_front();
                }
                let _ = self.abandoned.push_back(remote);
            }
            _ => {}
        }
    }

    /// Ends session `i`; `reason` is reported unless the application closed it.
    fn end(&mut self, i: usize, reason: Option<CloseReason>) {
        self.leave(i);
        let Some(s) = self.sessions[i].take() else {
            return;
        };
        let id = s.id;
        self.outbox.remove_where(|m| m.session == id);
        if let Some(reason) = reason {
            self.event(Event::Closed {
                session: id,
                reason,
            });
        }
    }

    /// Counts a failure of session `i`; `false` (and the session is
    /// closed) beyond the limit.
    fn count_failure(&mut self, i: usize, reason: CloseReason) -> bool {
        let Some(s) = self.sessions[i].as_mut() else {
            return false;
        };
        s.failures = s.failures.saturating_add(1);
        if s.failures > self.config.max_failovers {
            self.end(i, Some(reason));
            return false;
        }
        true
    }

    fn start_failover(&mut self, now: Instant, i: usize, reason: FailoverReason, report: bool) {
        let Some(s) = self.sessions[i].as_ref() else {
            return;
        };
        let (id, pool) = (s.id, s.pool);
        let from = match s.phase {
            Phase::Connecting { pe, .. } | Phase::Connected { pe, .. } => pe,
            _ => return,
        };
        net_debug!("session: failing over");
        if reason != FailoverReason::AssociationDown {
            self.leave(i);
        }
        // Messages kept for a resend go to the next PE, once the
        // application has seen the failover (and the answers before it).
        let mut resend = false;
        for m in self.outbox.iter_mut() {
            if m.session == id && m.sent {
                m.sent = false;
                resend = true;
            }
        }
        let before = self.app.events_lost();
        self.event(Event::Failover {
            session: id,
            from,
            reason,
        });
        if resend && self.app.events_lost() == before {
            if let Some(s) = self.sessions[i].as_mut() {
                s.holds += 1;
            }
        }
        if !self.count_failure(i, CloseReason::FailoverLimit) {
            return;
        }
        if let Some(s) = self.sessions[i].as_mut() {
            s.failing_over = true;
            s.echo_due = false;
            s.phase = Phase::Resolving;
        }
        if !report {
            self.select_for(now, i);
            return;
        }
        match self
            .pu
            .report_unreachable(now, &pool, from, SendOptions::DEFAULT)
        {
            Ok(Some(selection)) => self.connect_to(now, i, selection),
            // No other PE cached: a resolution runs.
            Err(PoolUserError::WouldBlock) | Ok(None) => {}
            // The pool left the cache meanwhile.
            Err(PoolUserError::UnknownPool) => self.select_for(now, i),
            Err(_) => self.retry_later(now, i),
        }
    }

    fn select_for(&mut self, now: Instant, i: usize) {
        let Some(pool) = self.sessions[i].as_ref().map(|s| s.pool) else {
            return;
        };
        match self.pu.select(now, &pool, SendOptions::DEFAULT) {
            Ok(selection) => self.connect_to(now, i, selection),
            Err(PoolUserError::WouldBlock) => {}
            Err(_) => self.retry_later(now, i),
        }
    }

    fn retry_later(&mut self, now: Instant, i: usize) {
        if !self.count_failure(i, CloseReason::NoPoolElement { cause: None }) {
            return;
        }
        if let Some(s) = self.sessions[i].as_mut() {
            s.phase = Phase::Waiting {
                until: now + self.config.retry_interval,
            };
        }
    }

    fn connect_to(&mut self, now: Instant, i: usize, selection: Selection) {
        let t = &selection.transport;
        let Some(addr) = t.addresses.first().copied() else {
            // Nothing to connect to: as if the connect failed.
            if let Some(s) = self.sessions[i].as_mut() {
                s.phase = Phase::Connecting {
                    pe: selection.pe_id,
                    remote: SocketAddr::new(
                        core::net::IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
                        0,
                    ),
                    transport: t.protocol,
                    requested: false,
                };
            }
            self.start_failover(now, i, FailoverReason::ConnectFailed, true);
            return;
        };
        if let Some(s) = self.sessions[i].as_mut() {
            s.phase = Phase::Connecting {
                pe: selection.pe_id,
                remote: SocketAddr::new(addr, t.port),
                transport: t.protocol,
                requested: false,
            };
        }
    }

    fn on_resolution_failed(&mut self, now: Instant, i: usize, cause: Option<CauseCode>) {
        let Some(s) = self.sessions[i].as_ref() else {
            return;
        };
        if let (Some(cause), false) = (cause, s.had_pe) {
            self.end(i, Some(CloseReason::NoPoolElement { cause: Some(cause) }));
            return;
        }
        let session = s.id;
        self.event(Event::ResolutionFailed { session, cause });
        self.retry_later(now, i);
    }

    /// Handles the inner pool user's events.
    fn pump(&mut self, now: Instant) {
        while let Some(e) = self.pu.poll_event() {
            match e {
                pool_user::Event::Resolved { pool, .. } => {
                    self.event(Event::PoolUser(e.clone()));
                    for i in 0..S {
                        if self.resolving(i, &pool) {
                            self.select_for(now, i);
                        }
                    }
                }
                pool_user::Event::ResolutionFailed { pool, cause } => {
                    self.event(Event::PoolUser(e.clone()));
                    for i in 0..S {
                        if self.resolving(i, &pool) {
                            self.on_resolution_failed(now, i, cause);
                        }
                    }
                }
                // Reported per session already.
                pool_user::Event::BusinessCard { .. }
                | pool_user::Event::CookieStored { .. }
                | pool_user::Event::CookieDropped { .. } => {}
                other => self.event(Event::PoolUser(other)),
            }
        }
    }

    fn resolving(&self, i: usize, pool: &PoolHandle) -> bool {
        self.sessions[i]
            .as_ref()
            .is_some_and(|s| s.pool == *pool && s.phase == Phase::Resolving)
    }
}
