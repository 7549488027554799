//! The application a [`PoolUserNode`](super::PoolUserNode) runs: requests,
//! resolutions and sessions, with the back-off for unknown pools.

use std::collections::VecDeque;
use std::sync::Arc;
use std::vec::Vec;

use tokio::sync::{mpsc, oneshot};

use super::backoff::UnknownPools;
use super::session::{SessionEvent, Shared};
use super::{RequestError, Resolved, REQUEST_PPID};
use crate::cause::CauseCode;
use crate::host::{AppCtx, Application};
use crate::id::{PeId, PoolHandle};
use crate::pool_user::{self, PoolUserError};
use crate::session::user::{Event, SessionState};
use crate::session::{CloseReason, SessionError, SessionId};
use crate::time::{Duration, Instant};

/// How often a send waiting for room in the transmit ring, or a request
/// waiting for a session slot, is tried again.
const ROOM_RETRY: Duration = Duration::from_millis(10);

/// How often the node looks for sessions whose handle is gone.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

pub(super) type Reply = Result<(PeId, Vec<u8>), RequestError>;

/// One request in progress.
pub(super) struct Pending {
    pub(super) pool: PoolHandle,
    pub(super) body: Vec<u8>,
    pub(super) deadline: Instant,
    pub(super) reply: oneshot::Sender<Reply>,
    pub(super) session: Option<SessionId>,
    pub(super) seq: u64,
    pub(super) attempt: Option<Instant>,
    /// Failovers of its session: the pool had PEs that failed.
    pub(super) failovers: u32,
    /// Resolutions no registrar answered.
    pub(super) unanswered: u32,
}

/// One resolution a caller of `resolve` waits for.
struct PendingResolve {
    pool: PoolHandle,
    deadline: Instant,
    unanswered: u32,
    reply: oneshot::Sender<Result<Vec<Resolved>, RequestError>>,
}

/// A session with a handle.
struct Slot {
    id: SessionId,
    pool: PoolHandle,
    tx: mpsc::UnboundedSender<SessionEvent>,
    shared: Arc<Shared>,
    /// The caller of `connect`, until the session is on a PE.
    connect: Option<oneshot::Sender<Result<PeId, RequestError>>>,
    /// The latest message sent: acknowledged when a message comes.
    last_seq: Option<u64>,
    failovers: u32,
    unanswered: u32,
}

/// A send waiting for room in the transmit ring.
struct PendingSend {
    session: SessionId,
    ppid: u32,
    body: Vec<u8>,
    reply: oneshot::Sender<Result<(), RequestError>>,
}

/// The application of a [`PoolUserNode`](super::PoolUserNode): its
/// requests, resolutions and sessions.
#[derive(Default)]
pub struct Requests {
    attempt_timeout: Duration,
    resolve_timeout: Duration,
    limit: usize,
    pending: Vec<Pending>,
    queue: VecDeque<Pending>,
    /// When queued requests are tried again (a session slot or room was
    /// missing).
    queue_retry: Option<Instant>,
    resolves: Vec<PendingResolve>,
    sessions: Vec<Slot>,
    sends: Vec<PendingSend>,
    /// When the sends waiting for room are tried again.
    send_retry: Option<Instant>,
    unknown: UnknownPools,
    sweep_at: Option<Instant>,
}

impl core::fmt::Debug for Requests {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Requests")
            .field("pending", &self.pending.len())
            .field("queued", &self.queue.len())
            .field("resolves", &self.resolves.len())
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

/// Why a resolution failed, as the caller sees it: `cause` is the
/// registrar's (`None`: nobody answered), `failed_over` whether PEs of
/// the pool failed before (the pool the registrar no longer knows had
/// PEs: they all failed).
fn failure(cause: Option<CauseCode>, failed_over: bool) -> RequestError {
    match cause {
        None => RequestError::NoRegistrar,
        Some(CauseCode::UnknownPoolHandle) if failed_over => RequestError::AllFailed,
        Some(CauseCode::UnknownPoolHandle) => RequestError::UnknownPool,
        Some(cause) => RequestError::Refused { cause },
    }
}

/// Why a session that ended failed, as the caller sees it (`None`: the
/// application closed it).
fn closed(reason: CloseReason, failed_over: bool) -> Option<RequestError> {
    match reason {
        CloseReason::Application => None,
        // Out of attempts after failovers: no PE was left to take.
        CloseReason::NoPoolElement { cause: None } if failed_over => Some(RequestError::AllFailed),
        CloseReason::NoPoolElement { cause } => Some(failure(cause, failed_over)),
        _ => Some(RequestError::AllFailed),
    }
}

impl Requests {
    pub(super) fn new(attempt_timeout: Duration, resolve_timeout: Duration, limit: usize) -> Self {
        Requests {
            attempt_timeout,
            resolve_timeout,
            limit,
            ..Requests::default()
        }
    }

    fn open(&mut self, ctx: &mut AppCtx<'_>, mut p: Pending) {
        if self.unknown.blocked(&p.pool, ctx.now()) {
            let _ = p.reply.send(Err(RequestError::UnknownPool));
            return;
        }
        match ctx.connect(p.pool) {
            Ok(session) => match ctx.send(session, REQUEST_PPID, &p.body) {
                Ok(seq) => {
                    p.session = Some(session);
                    p.seq = seq;
                    p.attempt = Some(ctx.now() + self.attempt_timeout);
                    self.pending.push(p);
                }
                Err(SessionError::Full { .. }) => {
                    // The ring is full of other sessions' messages: later.
                    let _ = ctx.close(session);
                    self.queue.push_front(p);
                    self.queue_retry = Some(ctx.now() + ROOM_RETRY);
                }
                Err(e) => {
                    let _ = ctx.close(session);
                    let e = match e {
                        SessionError::TooLarge { len } => RequestError::TooLarge {
                            len,
                            limit: self.limit,
                        },
                        e => RequestError::Session(e),
                    };
                    let _ = p.reply.send(Err(e));
                }
            },
            // Every session slot is taken: wait for one.
            Err(_) => {
                self.queue.push_front(p);
                self.queue_retry = Some(ctx.now() + ROOM_RETRY);
            }
        }
    }

    pub(super) fn add(&mut self, ctx: &mut AppCtx<'_>, p: Pending) {
        if self.unknown.blocked(&p.pool, ctx.now()) {
            let _ = p.reply.send(Err(RequestError::UnknownPool));
            return;
        }
        self.queue.push_back(p);
        self.release(ctx);
    }

    /// Starts the next request when none is in progress: one session at a
    /// time, since the node's one socket has one association per PE and
    /// two sessions to one PE would share it.
    fn release(&mut self, ctx: &mut AppCtx<'_>) {
        let now = ctx.now();
        self.queue_retry = None;
        while self.pending.is_empty() {
            let Some(p) = self.queue.pop_front() else {
                break;
            };
            if p.deadline <= now {
                let _ = p.reply.send(Err(RequestError::Timeout));
                continue;
            }
            if p.reply.is_closed() {
                continue;
            }
            self.open(ctx, p);
            if self.queue_retry.is_some() {
                break;
            }
        }
    }

    /// Ends the request on `session` with `result`.
    fn finish(&mut self, ctx: &mut AppCtx<'_>, i: usize, result: Reply) {
        let p = self.pending.swap_remove(i);
        if let Some(s) = p.session {
            let _ = ctx.close(s);
        }
        let _ = p.reply.send(result);
        self.release(ctx);
    }

    /// `resolve(pool)`: answered at once from the cache, else when the
    /// resolution ends.
    pub(super) fn resolve(
        &mut self,
        ctx: &mut AppCtx<'_>,
        pool: PoolHandle,
        reply: oneshot::Sender<Result<Vec<Resolved>, RequestError>>,
    ) {
        let now = ctx.now();
        if self.unknown.blocked(&pool, now) {
            let _ = reply.send(Err(RequestError::UnknownPool));
            return;
        }
        match ctx.resolve(&pool) {
            Ok(_) => {
                let _ = reply.send(Ok(resolved(ctx, &pool)));
            }
            Err(PoolUserError::WouldBlock) => self.resolves.push(PendingResolve {
                pool,
                deadline: now + self.resolve_timeout,
                unanswered: 0,
                reply,
            }),
            Err(e) => {
                let _ = reply.send(Err(RequestError::Resolve(e)));
            }
        }
    }

    /// A resolution of `pool` ended: `Ok` resolved, `Err` its cause.
    fn resolution_ended(
        &mut self,
        ctx: &mut AppCtx<'_>,
        pool: PoolHandle,
        outcome: Result<usize, Option<CauseCode>>,
    ) {
        let now = ctx.now();
        match outcome {
            Ok(n) if n > 0 => self.unknown.known(&pool),
            Ok(_) => {}
            Err(Some(CauseCode::UnknownPoolHandle)) => self.unknown.unknown(pool, now),
            Err(_) => {}
        }
        let known = ctx.known_registrars().max(1);
        let mut i = 0;
        while i < self.resolves.len() {
            if self.resolves[i].pool != pool {
                i += 1;
                continue;
            }
            let unanswered = self.resolves[i].unanswered as usize;
            match outcome {
                Ok(_) => {
                    let r = self.resolves.swap_remove(i);
                    let _ = r.reply.send(Ok(resolved(ctx, &pool)));
                }
                Err(None) if unanswered + 1 < known => {
                    // The next registrar may answer: ask again.
                    self.resolves[i].unanswered += 1;
                    match ctx.resolve(&pool) {
                        Ok(_) => {
                            let r = self.resolves.swap_remove(i);
                            let _ = r.reply.send(Ok(resolved(ctx, &pool)));
                        }
                        Err(PoolUserError::WouldBlock) => i += 1,
                        Err(e) => {
                            let r = self.resolves.swap_remove(i);
                            let _ = r.reply.send(Err(RequestError::Resolve(e)));
                        }
                    }
                }
                Err(cause) => {
                    let r = self.resolves.swap_remove(i);
                    let _ = r.reply.send(Err(failure(cause, false)));
                }
            }
        }
    }

    /// `connect(pool)`: a session with a handle; the caller learns its PE
    /// (or why there is none) through `connected`.
    pub(super) fn session_open(
        &mut self,
        ctx: &mut AppCtx<'_>,
        pool: PoolHandle,
        connected: oneshot::Sender<Result<PeId, RequestError>>,
    ) -> Result<
        (
            SessionId,
            mpsc::UnboundedReceiver<SessionEvent>,
            Arc<Shared>,
        ),
        RequestError,
    > {
        let now = ctx.now();
        if self.unknown.blocked(&pool, now) {
            return Err(RequestError::UnknownPool);
        }
        let id = ctx.connect(pool).map_err(RequestError::Session)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        self.sessions.push(Slot {
            id,
            pool,
            tx,
            shared: shared.clone(),
            connect: Some(connected),
            last_seq: None,
            failovers: 0,
            unanswered: 0,
        });
        if self.sweep_at.is_none() {
            self.sweep_at = Some(now + SWEEP_INTERVAL);
        }
        Ok((id, rx, shared))
    }

    /// A session handle's send.
    pub(super) fn session_send(
        &mut self,
        ctx: &mut AppCtx<'_>,
        session: SessionId,
        ppid: u32,
        body: Vec<u8>,
        reply: oneshot::Sender<Result<(), RequestError>>,
    ) {
        // Sends given up by their callers are not made.
        self.sends.retain(|s| !s.reply.is_closed());
        let waiting = self.sends.iter().any(|s| s.session == session);
        let send = PendingSend {
            session,
            ppid,
            body,
            reply,
        };
        if waiting {
            self.sends.push(send);
        } else if let Some(send) = self.try_send(ctx, send) {
            self.sends.push(send);
        }
        if !self.sends.is_empty() && self.send_retry.is_none() {
            self.send_retry = Some(ctx.now() + ROOM_RETRY);
        }
    }

    /// Queues `s` on its session, or gives it back when the ring has no
    /// room.
    fn try_send(&mut self, ctx: &mut AppCtx<'_>, s: PendingSend) -> Option<PendingSend> {
        let Some(slot) = self.sessions.iter_mut().find(|x| x.id == s.session) else {
            let _ = s.reply.send(Err(RequestError::Closed));
            return None;
        };
        match ctx.send(s.session, s.ppid, &s.body) {
            Ok(seq) => {
                slot.last_seq = Some(seq);
                let _ = s.reply.send(Ok(()));
                None
            }
            Err(SessionError::Full { .. }) => Some(s),
            Err(SessionError::UnknownSession) => {
                let _ = s.reply.send(Err(RequestError::Closed));
                None
            }
            Err(SessionError::TooLarge { len }) => {
                let _ = s.reply.send(Err(RequestError::TooLarge {
                    len,
                    limit: self.limit,
                }));
                None
            }
            Err(e) => {
                let _ = s.reply.send(Err(RequestError::Session(e)));
                None
            }
        }
    }

    /// Tries the sends waiting for room again, in order.
    fn retry_sends(&mut self, ctx: &mut AppCtx<'_>) {
        let waiting = core::mem::take(&mut self.sends);
        let mut blocked: Vec<SessionId> = Vec::new();
        for s in waiting {
            if s.reply.is_closed() {
                continue;
            }
            if blocked.contains(&s.session) {
                self.sends.push(s);
                continue;
            }
            if let Some(s) = self.try_send(ctx, s) {
                blocked.push(s.session);
                self.sends.push(s);
            }
        }
    }

    /// A session handle's close (or its drop).
    pub(super) fn session_close(&mut self, ctx: &mut AppCtx<'_>, session: SessionId) {
        if let Some(i) = self.sessions.iter().position(|s| s.id == session) {
            self.sessions.swap_remove(i);
            let _ = ctx.close(session);
        }
        self.drop_sends(session);
    }

    fn drop_sends(&mut self, session: SessionId) {
        let mut i = 0;
        while i < self.sends.len() {
            if self.sends[i].session == session {
                let s = self.sends.remove(i);
                let _ = s.reply.send(Err(RequestError::Closed));
            } else {
                i += 1;
            }
        }
    }

    /// Slot `i`'s session ended: its caller of `connect` gets why (or,
    /// once connected, its handle the close).
    fn end_slot(&mut self, i: usize, reason: CloseReason) {
        let slot = self.sessions.swap_remove(i);
        self.drop_sends(slot.id);
        match slot.connect {
            Some(c) => {
                let e = closed(reason, slot.failovers > 0).unwrap_or(RequestError::Closed);
                let _ = c.send(Err(e));
            }
            None => {
                slot.shared.offer(&slot.tx, SessionEvent::Closed { reason });
            }
        }
    }

    /// An event of a session with a handle.
    fn on_slot_event(&mut self, ctx: &mut AppCtx<'_>, i: usize, event: &Event, bytes: &[u8]) {
        let slot = &mut self.sessions[i];
        if slot.tx.is_closed() || slot.connect.as_ref().is_some_and(|c| c.is_closed()) {
            // The handle (or the caller of connect) is gone.
            let id = slot.id;
            self.sessions.swap_remove(i);
            let _ = ctx.close(id);
            self.drop_sends(id);
            return;
        }
        match *event {
            Event::Connected { pe, failover, .. } => {
                slot.unanswered = 0;
                let pool = slot.pool;
                if let Some(c) = slot.connect.take() {
                    let _ = c.send(Ok(pe));
                }
                slot.shared
                    .offer(&slot.tx, SessionEvent::Connected { pe, failover });
                self.unknown.known(&pool);
            }
            Event::Failover { from, reason, .. } => {
                slot.failovers += 1;
                slot.shared
                    .offer(&slot.tx, SessionEvent::FailedOver { from, reason });
            }
            Event::Message { session, ppid, .. } => {
                // An answer: what was sent before is not sent again.
                if let Some(seq) = slot.last_seq.take() {
                    let _ = ctx.acknowledge(session, seq);
                }
                let bytes = bytes.to_vec();
                slot.shared
                    .offer(&slot.tx, SessionEvent::Message { ppid, bytes });
            }
            Event::ResolutionFailed { cause, .. } => {
                if slot.connect.is_none() {
                    // On its way to another PE: the session tries again.
                    return;
                }
                let known = ctx.known_registrars().max(1);
                slot.unanswered += 1;
                if cause.is_none() && (slot.unanswered as usize) < known {
                    return;
                }
                let e = failure(cause, slot.failovers > 0);
                let slot = self.sessions.swap_remove(i);
                let _ = ctx.close(slot.id);
                if let Some(c) = slot.connect {
                    let _ = c.send(Err(e));
                }
            }
            Event::Closed { reason, .. } => self.end_slot(i, reason),
            _ => {}
        }
    }

    /// An event of a request's session.
    fn on_request_event(&mut self, ctx: &mut AppCtx<'_>, i: usize, event: &Event, bytes: &[u8]) {
        let p = &mut self.pending[i];
        match *event {
            Event::Message { session, .. } => {
                let pe = match ctx.state(session) {
                    Some(SessionState::Connected { pe, .. }) => Some(pe),
                    _ => None,
                };
                let _ = ctx.acknowledge(session, p.seq);
                if let Some(pe) = pe {
                    self.finish(ctx, i, Ok((pe, bytes.to_vec())));
                }
            }
            Event::Failover { .. } => p.failovers += 1,
            Event::ResolutionFailed { cause, .. } => {
                p.unanswered += 1;
                let known = ctx.known_registrars().max(1);
                if cause.is_none() && (p.unanswered as usize) < known {
                    // Another registrar may answer: the session asks again.
                    return;
                }
                let e = failure(cause, p.failovers > 0);
                self.finish(ctx, i, Err(e));
            }
            Event::Closed { reason, .. } => {
                p.session = None;
                match closed(reason, p.failovers > 0) {
                    Some(e) => self.finish(ctx, i, Err(e)),
                    None => {
                        // Closed by the node: start again.
                        let p = self.pending.swap_remove(i);
                        self.queue.push_front(p);
                        self.release(ctx);
                    }
                }
            }
            _ => {}
        }
    }

    /// Closes the sessions whose handle is gone.
    fn sweep(&mut self, ctx: &mut AppCtx<'_>) {
        let mut i = 0;
        while i < self.sessions.len() {
            let s = &self.sessions[i];
            if s.tx.is_closed() || s.connect.as_ref().is_some_and(|c| c.is_closed()) {
                let id = s.id;
                self.sessions.swap_remove(i);
                let _ = ctx.close(id);
                self.drop_sends(id);
            } else {
                i += 1;
            }
        }
        self.sweep_at = (!self.sessions.is_empty()).then(|| ctx.now() + SWEEP_INTERVAL);
    }
}

/// The cached PEs of `pool` as `resolve` gives them.
fn resolved(ctx: &AppCtx<'_>, pool: &PoolHandle) -> Vec<Resolved> {
    let mut out = Vec::new();
    ctx.elements(pool, &mut out);
    out.into_iter().map(Resolved::from).collect()
}

impl Application for Requests {
    fn on_event(&mut self, ctx: &mut AppCtx<'_>, event: &Event, bytes: &[u8]) {
        match event {
            Event::PoolUser(pool_user::Event::Resolved { pool, elements }) => {
                self.resolution_ended(ctx, *pool, Ok(*elements));
                return;
            }
            Event::PoolUser(pool_user::Event::ResolutionFailed { pool, cause }) => {
                self.resolution_ended(ctx, *pool, Err(*cause));
                return;
            }
            _ => {}
        }
        let session = match *event {
            Event::Connected { session, .. }
            | Event::Failover { session, .. }
            | Event::Message { session, .. }
            | Event::ResolutionFailed { session, .. }
            | Event::Closed { session, .. } => session,
            _ => return,
        };
        if let Some(i) = self.pending.iter().position(|p| p.session == Some(session)) {
            self.on_request_event(ctx, i, event, bytes);
        } else if let Some(i) = self.sessions.iter().position(|s| s.id == session) {
            self.on_slot_event(ctx, i, event, bytes);
        } else if matches!(event, Event::Closed { .. }) {
            self.release(ctx);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.pending
            .iter()
            .flat_map(|p| [Some(p.deadline), p.attempt])
            .flatten()
            .chain(self.resolves.iter().map(|r| r.deadline))
            .chain(self.queue_retry)
            .chain(self.sweep_at)
            .chain(self.send_retry)
            .min()
    }

    fn handle_timeout(&mut self, ctx: &mut AppCtx<'_>) {
        let now = ctx.now();
        let mut i = 0;
        while i < self.pending.len() {
            let p = &mut self.pending[i];
            if p.deadline <= now || p.reply.is_closed() {
                self.finish(ctx, i, Err(RequestError::Timeout));
                continue;
            }
            if p.attempt.is_some_and(|t| t <= now) {
                p.attempt = Some(now + self.attempt_timeout);
                if let Some(s) = p.session {
                    // Still resolving: nothing to fail over from.
                    let _ = ctx.failover(s, true);
                }
            }
            i += 1;
        }
        let mut i = 0;
        while i < self.resolves.len() {
            if self.resolves[i].deadline <= now || self.resolves[i].reply.is_closed() {
                let r = self.resolves.swap_remove(i);
                let _ = r.reply.send(Err(RequestError::Timeout));
            } else {
                i += 1;
            }
        }
        if self.send_retry.is_some_and(|t| t <= now) {
            self.retry_sends(ctx);
            self.send_retry = (!self.sends.is_empty()).then(|| now + ROOM_RETRY);
        }
        if self.sweep_at.is_some_and(|t| t <= now) {
            self.sweep(ctx);
        }
        if self.queue_retry.is_some_and(|t| t <= now) {
            self.release(ctx);
        }
    }
}
