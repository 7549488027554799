//! A pool element host: a [`SessionElement`] (registration, keep-alives,
//! one session per pool user association) and a [`Service`] that serves
//! the sessions.
//!
//! The service sees every session event with the message bytes
//! ([`Service::on_event`]): who opened a session (its id and remote
//! address), each user message with its PPID, cookie echoes, closes. It
//! answers through a [`ServiceCtx`]: at once, later (from
//! [`Service::handle_timeout`]), several times or not at all; it can send
//! COOKIEs and business cards, and close (refuse) a session.
//!
//! The host registers the PE at a random moment within
//! [`start_spread`](ElementHost::new) of its start (so that a large pool
//! does not register in one burst), counts what happens ([`Tally`]) and
//! keeps the pool element's latest events.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::any::Any;
use core::fmt;
use core::net::SocketAddr;

use crate::cause::CauseCode;
use crate::id::{AssocId, PeId};
use crate::pool_element::{self, PoolElement, PoolElementError};
use crate::session::element::Event;
use crate::session::{
    SessionElement, SessionError, SessionId, DEFAULT_BUFFER_BYTES, DEFAULT_BUFFER_MESSAGES,
    DEFAULT_SESSIONS,
};
use crate::time::{Duration, Instant};
use crate::transmit::{Source, TransportEvent};
use crate::wire::PoolElementParam;

use super::{drain_session, remember, Env, Node, Tally};

/// What a pool element does for its sessions.
pub trait Service: 'static {
    /// The PE has just started (before it registers).
    fn start(&mut self, ctx: &mut ServiceCtx<'_>) {
        let _ = ctx;
    }
    /// A session event: [`Event::Accepted`], [`Event::Message`] (its bytes
    /// are `bytes`), [`Event::CookieEcho`] (the cookie is
    /// [`ServiceCtx::cookie_echo`]), [`Event::Closed`], ... The pool
    /// element's own events ([`Event::Element`]) come too.
    fn on_event(&mut self, ctx: &mut ServiceCtx<'_>, event: &Event, bytes: &[u8]);
    /// When [`handle_timeout`](Self::handle_timeout) is due (answers due
    /// later).
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Time has reached [`poll_timeout`](Self::poll_timeout).
    fn handle_timeout(&mut self, ctx: &mut ServiceCtx<'_>) {
        let _ = ctx;
    }
}

impl<T: Service + ?Sized> Service for Box<T> {
    fn start(&mut self, ctx: &mut ServiceCtx<'_>) {
        (**self).start(ctx);
    }
    fn on_event(&mut self, ctx: &mut ServiceCtx<'_>, event: &Event, bytes: &[u8]) {
        (**self).on_event(ctx, event, bytes);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        (**self).poll_timeout()
    }
    fn handle_timeout(&mut self, ctx: &mut ServiceCtx<'_>) {
        (**self).handle_timeout(ctx);
    }
}

/// What a [`Service`] may do with the sessions of a [`SessionElement`]
/// of any capacity.
trait Sessions {
    fn send(&mut self, session: SessionId, ppid: u32, bytes: &[u8]) -> Result<(), SessionError>;
    fn can_send(&self, len: usize) -> bool;
    fn send_cookie(&mut self, session: SessionId, cookie: &[u8]) -> Result<(), SessionError>;
    fn send_business_card(
        &mut self,
        session: SessionId,
        elements: &[PoolElementParam<'_>],
    ) -> Result<(), SessionError>;
    fn close(&mut self, session: SessionId) -> Result<(), SessionError>;
    fn remote(&self, session: SessionId) -> Option<SocketAddr>;
    fn cookie_echo(&self, session: SessionId) -> Option<&[u8]>;
    fn element(&self) -> &PoolElement;
    fn set_policy(&mut self, now: Instant, policy: crate::Policy);
}

impl<const S: usize, const B: usize, const M: usize> Sessions for SessionElement<S, B, M> {
    fn send(&mut self, session: SessionId, ppid: u32, bytes: &[u8]) -> Result<(), SessionError> {
        SessionElement::send(self, session, ppid, bytes)
    }
    fn can_send(&self, len: usize) -> bool {
        SessionElement::can_send(self, len)
    }
    fn send_cookie(&mut self, session: SessionId, cookie: &[u8]) -> Result<(), SessionError> {
        SessionElement::send_cookie(self, session, cookie)
    }
    fn send_business_card(
        &mut self,
        session: SessionId,
        elements: &[PoolElementParam<'_>],
    ) -> Result<(), SessionError> {
        SessionElement::send_business_card(self, session, elements)
    }
    fn close(&mut self, session: SessionId) -> Result<(), SessionError> {
        SessionElement::close(self, session)
    }
    fn remote(&self, session: SessionId) -> Option<SocketAddr> {
        SessionElement::remote(self, session)
    }
    fn cookie_echo(&self, session: SessionId) -> Option<&[u8]> {
        SessionElement::cookie_echo(self, session)
    }
    fn element(&self) -> &PoolElement {
        SessionElement::element(self)
    }
    fn set_policy(&mut self, now: Instant, policy: crate::Policy) {
        SessionElement::set_policy(self, now, policy);
    }
}

/// A [`Service`]'s view of its pool element and the world.
pub struct ServiceCtx<'a> {
    env: &'a mut dyn Env,
    sessions: &'a mut dyn Sessions,
    answered: &'a mut u64,
}

impl fmt::Debug for ServiceCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceCtx")
            .field("now", &self.env.now())
            .finish_non_exhaustive()
    }
}

impl ServiceCtx<'_> {
    /// The current time.
    pub fn now(&self) -> Instant {
        self.env.now()
    }
    /// The pool element's identifier.
    pub fn pe_id(&self) -> PeId {
        self.sessions.element().pe_id()
    }
    /// The pool element machine.
    pub fn element(&self) -> &PoolElement {
        self.sessions.element()
    }
    /// Sends a user message on `session` with `ppid` (not 11).
    pub fn send(
        &mut self,
        session: SessionId,
        ppid: u32,
        bytes: &[u8],
    ) -> Result<(), SessionError> {
        self.sessions.send(session, ppid, bytes)?;
        *self.answered += 1;
        self.env.record(Tally::Answer);
        Ok(())
    }
    /// Whether a message of `len` bytes can be queued now.
    pub fn can_send(&self, len: usize) -> bool {
        self.sessions.can_send(len)
    }
    /// Sends an ASAP_COOKIE on `session` (echoed by the pool user after a
    /// failover).
    pub fn send_cookie(&mut self, session: SessionId, cookie: &[u8]) -> Result<(), SessionError> {
        self.sessions.send_cookie(session, cookie)?;
        self.env.record(Tally::CookieSent);
        Ok(())
    }
    /// Sends an ASAP_BUSINESS_CARD on `session`.
    pub fn send_business_card(
        &mut self,
        session: SessionId,
        elements: &[PoolElementParam<'_>],
    ) -> Result<(), SessionError> {
        self.sessions.send_business_card(session, elements)
    }
    /// Closes (or refuses) `session`.
    pub fn close(&mut self, session: SessionId) -> Result<(), SessionError> {
        self.sessions.close(session)?;
        self.env.record(Tally::SessionClosed);
        Ok(())
    }
    /// The pool user's address of `session`.
    pub fn remote(&self, session: SessionId) -> Option<SocketAddr> {
        self.sessions.remote(session)
    }
    /// The cookie a failed-over pool user echoed on `session`.
    pub fn cookie_echo(&self, session: SessionId) -> Option<&[u8]> {
        self.sessions.cookie_echo(session)
    }
    /// Changes the PE's policy (e.g. the load a least-used policy
    /// reports): the PE re-registers with it at once
    /// ([`ElementHost::set_policy`]).
    pub fn set_policy(&mut self, policy: crate::Policy) {
        let now = self.env.now();
        self.sessions.set_policy(now, policy);
    }
    /// A uniformly distributed random value.
    pub fn random_u64(&mut self) -> u64 {
        self.env.random_u64()
    }
    /// Counts something for the driver.
    pub fn record(&mut self, tally: Tally) {
        self.env.record(tally);
    }
    /// Whether the event log is on.
    pub fn tracing(&self) -> bool {
        self.env.tracing()
    }
    /// Writes to the event log.
    pub fn log(&mut self, args: fmt::Arguments<'_>) {
        self.env.log(args);
    }
}

/// A callback for the pool element's events (the runtime's event channel).
pub type ElementEventSink = Box<dyn FnMut(&pool_element::Event) + Send>;

/// Told how a deregistration ended: confirmed, or refused with the
/// registrar's cause (`None`: not answered).
pub type DeregisterSink = Box<dyn FnOnce(Result<(), Option<CauseCode>>) + Send>;

/// See the [module documentation](self).
pub struct ElementHost<
    Svc: Service,
    const S: usize = DEFAULT_SESSIONS,
    const B: usize = DEFAULT_BUFFER_BYTES,
    const M: usize = DEFAULT_BUFFER_MESSAGES,
> {
    /// The machine (boxed: its rings are large).
    machine: Box<SessionElement<S, B, M>>,
    /// The service.
    pub service: Svc,
    register_at: Option<Instant>,
    start_spread: Duration,
    /// The pool element's latest events, oldest first.
    pub events: VecDeque<(Instant, pool_element::Event)>,
    sink: Option<ElementEventSink>,
    deregistered: Option<DeregisterSink>,
    answered: u64,
    cookie_echoes: u64,
    /// Messages dropped: larger than the application's ring.
    pub oversized: u64,
    home_since: Option<Instant>,
    home_assoc: Option<AssocId>,
}

impl<Svc: Service, const S: usize, const B: usize, const M: usize> fmt::Debug
    for ElementHost<Svc, S, B, M>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElementHost")
            .field("machine", &self.machine)
            .field("answered", &self.answered)
            .finish_non_exhaustive()
    }
}

impl<Svc: Service, const S: usize, const B: usize, const M: usize> ElementHost<Svc, S, B, M> {
    /// A host for `machine` (boxed: its rings are large) serving with
    /// `service`; the PE registers at a
    /// random moment within `start_spread` of the start.
    pub fn new(
        machine: Box<SessionElement<S, B, M>>,
        service: Svc,
        start_spread: Duration,
    ) -> Self {
        ElementHost {
            machine,
            service,
            register_at: None,
            start_spread,
            events: VecDeque::new(),
            sink: None,
            deregistered: None,
            answered: 0,
            cookie_echoes: 0,
            oversized: 0,
            home_since: None,
            home_assoc: None,
        }
    }

    /// Also hands every pool element event to `sink`.
    pub fn with_event_sink(mut self, sink: ElementEventSink) -> Self {
        self.sink = Some(sink);
        self
    }

    /// The session machine.
    pub fn session_element(&self) -> &SessionElement<S, B, M> {
        &self.machine
    }

    /// The pool element machine.
    pub fn pool_element(&self) -> &PoolElement {
        self.machine.element()
    }

    /// The pool element's identifier.
    pub fn pe_id(&self) -> PeId {
        self.machine.element().pe_id()
    }

    /// Whether the registration is in force.
    pub fn is_registered(&self) -> bool {
        self.machine.element().is_registered()
    }

    /// User messages the service sent.
    pub fn answered(&self) -> u64 {
        self.answered
    }

    /// COOKIE_ECHOs received.
    pub fn cookie_echoes(&self) -> u64 {
        self.cookie_echoes
    }

    /// Since when the PE has been registered with its current home
    /// registrar (first registration, or the latest change of home).
    pub fn home_since(&self) -> Option<Instant> {
        self.home_since
    }

    /// Deregisters the PE (the graceful stop); sessions stay.
    pub fn deregister(&mut self, env: &mut dyn Env) -> Result<(), PoolElementError> {
        self.register_at = None;
        self.machine.deregister(env.now())
    }

    /// Changes the PE's selection policy (and its load, for the load
    /// policies) at once: the PE re-registers with it.
    pub fn set_policy(&mut self, env: &mut dyn Env, policy: crate::Policy) {
        self.machine.set_policy(env.now(), policy);
    }

    /// Calls `sink` once when the deregistration ends.
    pub fn on_deregistered(&mut self, sink: DeregisterSink) {
        self.deregistered = Some(sink);
    }

    /// Runs `f` on the service with its context (an application call from
    /// outside, e.g. the runtime's handle); flush afterwards.
    pub fn with_service<R>(
        &mut self,
        env: &mut dyn Env,
        f: impl FnOnce(&mut Svc, &mut ServiceCtx<'_>) -> R,
    ) -> R {
        let mut ctx = ServiceCtx {
            env,
            sessions: self.machine.as_mut(),
            answered: &mut self.answered,
        };
        f(&mut self.service, &mut ctx)
    }

    fn element_event(&mut self, env: &mut dyn Env, e: pool_element::Event) {
        match &e {
            pool_element::Event::HomeChanged { home }
            | pool_element::Event::Registered { home }
                if self.home_assoc != Some(home.assoc) =>
            {
                self.home_assoc = Some(home.assoc);
                self.home_since = Some(env.now());
            }
            _ => {}
        }
        match e {
            pool_element::Event::Registered { .. } => env.record(Tally::Registered),
            pool_element::Event::RegistrationFailed { .. } => {
                env.record(Tally::RegistrationFailed);
            }
            pool_element::Event::Deregistered => {
                if let Some(sink) = self.deregistered.take() {
                    sink(Ok(()));
                }
            }
            pool_element::Event::DeregistrationFailed { cause } => {
                if let Some(sink) = self.deregistered.take() {
                    sink(Err(cause));
                }
            }
            _ => {}
        }
        if env.tracing() {
            env.log(format_args!("pool element {}: {e:?}", self.pe_id().get()));
        }
        if let Some(sink) = self.sink.as_mut() {
            sink(&e);
        }
        remember(&mut self.events, env.now(), e);
    }

    /// Moves the machine's output into `env`; true if there was any.
    fn drain(&mut self, env: &mut dyn Env) -> bool {
        drain_session(self.machine.as_mut(), env)
    }

    /// Hands the application its events; true if there were any.
    fn deliver(&mut self, env: &mut dyn Env, buf: &mut [u8]) -> bool {
        let mut any = false;
        loop {
            let e = match self.machine.poll_event(buf) {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(_) => {
                    env.record(Tally::TransmitError);
                    break;
                }
            };
            any = true;
            let len = match e {
                Event::Message { len, .. } => len,
                _ => 0,
            };
            match e {
                Event::Element(pe) => {
                    self.element_event(env, pe);
                    continue;
                }
                Event::CookieEcho { .. } => {
                    self.cookie_echoes += 1;
                    env.record(Tally::CookieEcho);
                }
                Event::Refused { .. } | Event::Closed { .. } => env.record(Tally::SessionClosed),
                _ => {}
            }
            if env.tracing() && !matches!(e, Event::Message { .. }) {
                env.log(format_args!("pool element {}: {e:?}", self.pe_id().get()));
            }
            let bytes = buf.get(..len).unwrap_or_default();
            let mut ctx = ServiceCtx {
                env,
                sessions: self.machine.as_mut(),
                answered: &mut self.answered,
            };
            self.service.on_event(&mut ctx, &e, bytes);
        }
        any
    }
}

impl<Svc: Service, const S: usize, const B: usize, const M: usize> Node
    for ElementHost<Svc, S, B, M>
{
    fn start(&mut self, env: &mut dyn Env) {
        let d = env.random_duration(self.start_spread);
        self.register_at = Some(env.now() + d);
        self.with_service(env, |s, ctx| s.start(ctx));
    }

    fn handle_message(&mut self, env: &mut dyn Env, source: Source, ppid: u32, bytes: &[u8]) {
        let now = env.now();
        if self.machine.handle(now, source, ppid, bytes).is_err() {
            // The ring is full: the service takes what waits, then the
            // message is offered again.
            self.flush(env);
            if self.machine.handle(now, source, ppid, bytes).is_err() {
                self.oversized += 1;
                env.record(Tally::TransmitError);
            }
        }
    }

    fn handle_transport_event(&mut self, env: &mut dyn Env, event: TransportEvent) {
        self.machine.handle_transport_event(env.now(), event);
    }

    fn handle_timeout(&mut self, env: &mut dyn Env) {
        let now = env.now();
        if self.register_at.is_some_and(|t| t <= now) {
            self.register_at = None;
            self.machine.register(now);
        }
        if self.machine.poll_timeout().is_some_and(|t| t <= now) {
            self.machine.handle_timeout(now);
        }
        if self.service.poll_timeout().is_some_and(|t| t <= now) {
            self.with_service(env, |s, ctx| s.handle_timeout(ctx));
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.register_at,
            self.machine.poll_timeout(),
            self.service.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn flush(&mut self, env: &mut dyn Env) {
        // Received messages are copied out of the machine's ring, which
        // holds none larger than its `B` bytes; sent ones are lent.
        let mut buf = env.take_buffer(B);
        loop {
            let sent = self.drain(env);
            let delivered = self.deliver(env, &mut buf);
            if !sent && !delivered {
                break;
            }
        }
        env.give_buffer(buf);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
