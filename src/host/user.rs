//! A pool user host: a [`SessionUser`] (the pool user machine and its
//! sessions with failover and cookies) and an [`Application`] that uses
//! the sessions.
//!
//! The application opens sessions to pools, sends user messages with
//! their PPID and gets every session event with the message bytes
//! ([`Application::on_event`]): connected, failover, message, cookie,
//! closed. It acts through an [`AppCtx`]; it may ask for a failover (an
//! answer is late) or close a session.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::any::Any;
use core::fmt;

use crate::id::PoolHandle;
use crate::pool_user::{self, CachedElement, PoolUser, PoolUserError};
use crate::session::user::{Event, SessionState};
use crate::session::{
    SessionError, SessionId, SessionUser, DEFAULT_BUFFER_BYTES, DEFAULT_BUFFER_MESSAGES,
    DEFAULT_SESSIONS,
};
use crate::time::Instant;
use crate::transmit::{Source, TransportEvent};

use super::{drain_session, remember, Env, Node, Tally};

/// What a pool user does with its sessions.
pub trait Application: 'static {
    /// The node has just started.
    fn start(&mut self, ctx: &mut AppCtx<'_>) {
        let _ = ctx;
    }
    /// A session event; a [`Event::Message`]'s bytes are `bytes`. The
    /// inner pool user's events ([`Event::PoolUser`]) come too.
    fn on_event(&mut self, ctx: &mut AppCtx<'_>, event: &Event, bytes: &[u8]);
    /// When [`handle_timeout`](Self::handle_timeout) is due.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Time has reached [`poll_timeout`](Self::poll_timeout).
    fn handle_timeout(&mut self, ctx: &mut AppCtx<'_>) {
        let _ = ctx;
    }
}

/// What an [`Application`] may do with a [`SessionUser`] of any capacity.
trait Sessions {
    fn connect(&mut self, now: Instant, pool: PoolHandle) -> Result<SessionId, SessionError>;
    fn resolve(&mut self, now: Instant, pool: &PoolHandle) -> Result<usize, PoolUserError>;
    fn elements(&self, pool: &PoolHandle, out: &mut Vec<CachedElement>);
    fn send(
        &mut self,
        now: Instant,
        session: SessionId,
        ppid: u32,
        bytes: &[u8],
    ) -> Result<u64, SessionError>;
    fn can_send(&self, len: usize) -> bool;
    fn acknowledge(&mut self, session: SessionId, seq: u64) -> Result<(), SessionError>;
    fn failover(
        &mut self,
        now: Instant,
        session: SessionId,
        report: bool,
    ) -> Result<(), SessionError>;
    fn close(&mut self, now: Instant, session: SessionId) -> Result<(), SessionError>;
    fn state(&self, session: SessionId) -> Option<SessionState>;
    fn cookie(&self, session: SessionId) -> Option<&[u8]>;
    fn sessions_open(&self) -> usize;
    fn known_registrars(&self) -> usize;
}

impl<const S: usize, const B: usize, const M: usize, const P: usize, const E: usize> Sessions
    for SessionUser<S, B, M, P, E>
{
    fn connect(&mut self, now: Instant, pool: PoolHandle) -> Result<SessionId, SessionError> {
        SessionUser::connect(self, now, pool)
    }
    fn resolve(&mut self, now: Instant, pool: &PoolHandle) -> Result<usize, PoolUserError> {
        SessionUser::resolve(self, now, pool)
    }
    fn elements(&self, pool: &PoolHandle, out: &mut Vec<CachedElement>) {
        out.extend(self.pool_user().elements(pool));
    }
    fn send(
        &mut self,
        now: Instant,
        session: SessionId,
        ppid: u32,
        bytes: &[u8],
    ) -> Result<u64, SessionError> {
        SessionUser::send(self, now, session, ppid, bytes)
    }
    fn can_send(&self, len: usize) -> bool {
        SessionUser::can_send(self, len)
    }
    fn acknowledge(&mut self, session: SessionId, seq: u64) -> Result<(), SessionError> {
        SessionUser::acknowledge(self, session, seq)
    }
    fn failover(
        &mut self,
        now: Instant,
        session: SessionId,
        report: bool,
    ) -> Result<(), SessionError> {
        SessionUser::failover(self, now, session, report)
    }
    fn close(&mut self, now: Instant, session: SessionId) -> Result<(), SessionError> {
        SessionUser::close(self, now, session)
    }
    fn state(&self, session: SessionId) -> Option<SessionState> {
        SessionUser::state(self, session)
    }
    fn cookie(&self, session: SessionId) -> Option<&[u8]> {
        SessionUser::cookie(self, session)
    }
    fn sessions_open(&self) -> usize {
        self.sessions().count()
    }
    fn known_registrars(&self) -> usize {
        self.pool_user().server_hunt().known()
    }
}

/// An [`Application`]'s view of its session user and the world.
pub struct AppCtx<'a> {
    env: &'a mut dyn Env,
    sessions: &'a mut dyn Sessions,
}

impl fmt::Debug for AppCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCtx")
            .field("now", &self.env.now())
            .finish_non_exhaustive()
    }
}

impl AppCtx<'_> {
    /// The current time.
    pub fn now(&self) -> Instant {
        self.env.now()
    }
    /// Opens a session to `pool` ([`SessionUser::connect`]).
    pub fn connect(&mut self, pool: PoolHandle) -> Result<SessionId, SessionError> {
        let now = self.env.now();
        self.sessions.connect(now, pool)
    }
    /// The PEs of `pool`, resolving when needed ([`SessionUser::resolve`]):
    /// how many are cached (read them with [`elements`](Self::elements)),
    /// or [`PoolUserError::WouldBlock`] while a resolution runs (its end
    /// comes as an [`Event::PoolUser`]).
    pub fn resolve(&mut self, pool: &PoolHandle) -> Result<usize, PoolUserError> {
        let now = self.env.now();
        self.sessions.resolve(now, pool)
    }
    /// Appends the cached PEs of `pool` to `out`, in list order.
    pub fn elements(&self, pool: &PoolHandle, out: &mut Vec<CachedElement>) {
        self.sessions.elements(pool, out);
    }
    /// Queues a user message on `session` ([`SessionUser::send`]): its
    /// sequence number.
    pub fn send(
        &mut self,
        session: SessionId,
        ppid: u32,
        bytes: &[u8],
    ) -> Result<u64, SessionError> {
        let now = self.env.now();
        self.sessions.send(now, session, ppid, bytes)
    }
    /// Whether a message of `len` bytes can be queued now.
    pub fn can_send(&self, len: usize) -> bool {
        self.sessions.can_send(len)
    }
    /// Messages of `session` up to `seq` were answered
    /// ([`SessionUser::acknowledge`]).
    pub fn acknowledge(&mut self, session: SessionId, seq: u64) -> Result<(), SessionError> {
        self.sessions.acknowledge(session, seq)
    }
    /// Moves `session` to another PE ([`SessionUser::failover`]).
    pub fn failover(&mut self, session: SessionId, report: bool) -> Result<(), SessionError> {
        let now = self.env.now();
        self.sessions.failover(now, session, report)
    }
    /// Closes `session`.
    pub fn close(&mut self, session: SessionId) -> Result<(), SessionError> {
        let now = self.env.now();
        self.sessions.close(now, session)
    }
    /// Where `session` is.
    pub fn state(&self, session: SessionId) -> Option<SessionState> {
        self.sessions.state(session)
    }
    /// The latest cookie of `session`.
    pub fn cookie(&self, session: SessionId) -> Option<&[u8]> {
        self.sessions.cookie(session)
    }
    /// How many sessions are open.
    pub fn sessions_open(&self) -> usize {
        self.sessions.sessions_open()
    }
    /// How many registrars the pool user knows (configured and
    /// announced): how many a resolution may try before no registrar is
    /// left.
    pub fn known_registrars(&self) -> usize {
        self.sessions.known_registrars()
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

/// See the [module documentation](self).
pub struct UserHost<
    A: Application,
    const S: usize = DEFAULT_SESSIONS,
    const B: usize = DEFAULT_BUFFER_BYTES,
    const M: usize = DEFAULT_BUFFER_MESSAGES,
    const P: usize = 8,
    const E: usize = 16,
> {
    machine: Box<SessionUser<S, B, M, P, E>>,
    /// The application.
    pub app: A,
    /// The inner pool user's latest events, oldest first.
    pub events: VecDeque<(Instant, pool_user::Event)>,
    /// Messages dropped: larger than the application's ring.
    pub oversized: u64,
}

impl<
        A: Application,
        const S: usize,
        const B: usize,
        const M: usize,
        const P: usize,
        const E: usize,
    > fmt::Debug for UserHost<A, S, B, M, P, E>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserHost")
            .field("machine", &self.machine)
            .finish_non_exhaustive()
    }
}

impl<
        A: Application,
        const S: usize,
        const B: usize,
        const M: usize,
        const P: usize,
        const E: usize,
    > UserHost<A, S, B, M, P, E>
{
    /// A host for `machine` (boxed: its rings are large) running `app`.
    pub fn new(machine: Box<SessionUser<S, B, M, P, E>>, app: A) -> Self {
        UserHost {
            machine,
            app,
            events: VecDeque::new(),
            oversized: 0,
        }
    }

    /// The session machine.
    pub fn session_user(&self) -> &SessionUser<S, B, M, P, E> {
        &self.machine
    }

    /// The inner pool user machine.
    pub fn pool_user(&self) -> &PoolUser<P, E> {
        self.machine.pool_user()
    }

    /// Runs `f` on the application with its context (an application call
    /// from outside, e.g. the runtime's handle); flush afterwards.
    pub fn with_app<R>(
        &mut self,
        env: &mut dyn Env,
        f: impl FnOnce(&mut A, &mut AppCtx<'_>) -> R,
    ) -> R {
        let mut ctx = AppCtx {
            env,
            sessions: self.machine.as_mut(),
        };
        f(&mut self.app, &mut ctx)
    }

    fn drain(&mut self, env: &mut dyn Env) -> bool {
        drain_session(self.machine.as_mut(), env)
    }

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
            if let Event::Failover { .. } = e {
                env.record(Tally::Failover);
            }
            if env.tracing() && !matches!(e, Event::Message { .. }) {
                env.log(format_args!("pool user: {e:?}"));
            }
            if let Event::PoolUser(pe) = &e {
                remember(&mut self.events, env.now(), pe.clone());
            }
            let bytes = buf.get(..len).unwrap_or_default();
            let mut ctx = AppCtx {
                env,
                sessions: self.machine.as_mut(),
            };
            self.app.on_event(&mut ctx, &e, bytes);
        }
        any
    }
}

impl<
        A: Application,
        const S: usize,
        const B: usize,
        const M: usize,
        const P: usize,
        const E: usize,
    > Node for UserHost<A, S, B, M, P, E>
{
    fn start(&mut self, env: &mut dyn Env) {
        self.with_app(env, |a, ctx| a.start(ctx));
    }

    fn handle_message(&mut self, env: &mut dyn Env, source: Source, ppid: u32, bytes: &[u8]) {
        let now = env.now();
        if self.machine.handle(now, source, ppid, bytes).is_err() {
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
        if self.machine.poll_timeout().is_some_and(|t| t <= now) {
            self.machine.handle_timeout(now);
        }
        if self.app.poll_timeout().is_some_and(|t| t <= now) {
            self.with_app(env, |a, ctx| a.handle_timeout(ctx));
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.machine.poll_timeout(), self.app.poll_timeout()]
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
