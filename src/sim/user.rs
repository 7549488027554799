//! A pool user host: the crate's [`PoolUser`] machine plus an application
//! that issues requests to the pool.
//!
//! Each request: [`PoolUser::select`] picks a PE; the request goes as
//! application data (not ASAP) over a data association to that PE's user
//! transport, opened on first use and kept; the PE answers after its
//! service time. The association is also the session's control channel
//! ([`PoolUser::attach_control_channel`]), so COOKIEs arrive on it and a
//! failover's COOKIE_ECHO leaves on it.
//!
//! A PE has failed when a request to it is not answered within the request
//! timeout, when its association goes down, or when it cannot be reached.
//! Then the user reports it ([`PoolUser::report_unreachable`]), closes the
//! association and sends every request that was waiting on it again: the
//! first to the failover selection the machine returns (which carries the
//! session's cookie), the others to fresh selections. Each such resend
//! counts as one failover. An answer to a request already served counts as
//! a duplicate.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::vec::Vec;

use crate::id::{AssocId, PeId, PoolHandle};
use crate::pool_user::{Event, PoolUser, PoolUserError, Selection, SendOptions};
use crate::time::{Duration, Instant};
use crate::transmit::{Destination, Machine, Source, TransportEvent};
use crate::wire::Protocol;

use super::element::EVENT_HISTORY;
use super::world::{Ctx, Node, Payload};

/// How long a request waits before it tries again when no PE can be
/// selected (resolution failed, no registrar).
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// The most data associations a user keeps open; beyond that the least
/// recently used idle one is closed (a user of a large pool meets new PEs
/// with every resolution).
pub const MAX_SESSIONS: usize = 32;

/// The application's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UserApp {
    /// Requests per second (0: none).
    pub rate: f64,
    /// First request not before this.
    pub start: Instant,
    /// No new request from this time on.
    pub stop: Instant,
    /// How long to wait for an answer before failing over.
    pub request_timeout: Duration,
}

#[derive(Clone, Copy, Debug)]
struct Request {
    issued: Instant,
    pe: Option<PeId>,
    deadline: Option<Instant>,
    failovers: u32,
}

#[derive(Clone, Debug)]
struct Session {
    addr: SocketAddr,
    assoc: Option<AssocId>,
    /// When a request was last given to it.
    last_used: Instant,
    /// Requests assigned to this PE (sent, or waiting for the association).
    requests: BTreeSet<u64>,
}

/// See the [module](self) documentation.
#[derive(Debug)]
pub struct UserNode {
    /// The machine.
    pub machine: PoolUser,
    /// The pool it uses.
    pub pool: PoolHandle,
    /// The application's settings.
    pub app: UserApp,
    next_issue: Option<Instant>,
    next_id: u64,
    requests: BTreeMap<u64, Request>,
    deadlines: BTreeSet<(Instant, u64)>,
    /// Requests with no PE yet (resolution running or no PE available).
    waiting: VecDeque<u64>,
    retry_at: Option<Instant>,
    sessions: BTreeMap<PeId, Session>,
    by_assoc: BTreeMap<AssocId, PeId>,
    served_ids: BTreeSet<u64>,
    /// The machine's latest events, oldest first.
    pub events: VecDeque<(Instant, Event)>,
    /// Requests issued.
    pub issued: u64,
    /// Requests served.
    pub served: u64,
}

impl UserNode {
    /// A host for `machine` that sends requests to `pool`.
    pub fn new(machine: PoolUser, pool: PoolHandle, app: UserApp) -> Self {
        UserNode {
            machine,
            pool,
            app,
            next_issue: None,
            next_id: 1,
            requests: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            waiting: VecDeque::new(),
            retry_at: None,
            sessions: BTreeMap::new(),
            by_assoc: BTreeMap::new(),
            served_ids: BTreeSet::new(),
            events: VecDeque::new(),
            issued: 0,
            served: 0,
        }
    }

    /// Requests issued and not served yet.
    pub fn outstanding(&self) -> usize {
        self.requests.len()
    }

    fn interval(&self) -> Option<Duration> {
        (self.app.rate > 0.0).then(|| Duration::from_micros((1e6 / self.app.rate) as u64))
    }

    fn issue(&mut self, ctx: &mut Ctx<'_>) {
        let id = self.next_id;
        self.next_id += 1;
        self.issued += 1;
        ctx.counters().requests += 1;
        self.requests.insert(
            id,
            Request {
                issued: ctx.now(),
                pe: None,
                deadline: None,
                failovers: 0,
            },
        );
        self.dispatch(ctx, id, None);
    }

    /// Sends request `id` to `selection`, or to a fresh selection.
    fn dispatch(&mut self, ctx: &mut Ctx<'_>, id: u64, selection: Option<Selection>) {
        let now = ctx.now();
        let selection = match selection {
            Some(s) => s,
            None => match self.machine.select(now, &self.pool, SendOptions::DEFAULT) {
                Ok(s) => s,
                Err(e) => {
                    if ctx.tracing() {
                        ctx.log(format_args!("request {id}: no PE ({e:?})"));
                    }
                    self.park(now, id, e);
                    return;
                }
            },
        };
        let Some(&ip) = selection.transport.addresses.first() else {
            self.park(now, id, PoolUserError::NoUsableElement);
            return;
        };
        let addr = SocketAddr::new(ip, selection.transport.port);
        let pe = selection.pe_id;
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        req.pe = Some(pe);
        if !self.sessions.contains_key(&pe) {
            self.close_idle_sessions(ctx);
        }
        let session = self.sessions.entry(pe).or_insert_with(|| {
            ctx.connect(addr, Protocol::Asap);
            Session {
                addr,
                assoc: None,
                last_used: now,
                requests: BTreeSet::new(),
            }
        });
        session.last_used = now;
        session.requests.insert(id);
        match session.assoc {
            Some(assoc) => self.send(ctx, id, pe, assoc),
            None => {
                // Sent when the association is up; the timeout runs from now,
                // so that an unreachable PE is given up.
                self.set_deadline(id, now + self.app.request_timeout);
            }
        }
    }

    /// Keeps at most [`MAX_SESSIONS`] - 1 sessions before a new one opens,
    /// closing the least recently used idle ones.
    fn close_idle_sessions(&mut self, ctx: &mut Ctx<'_>) {
        while self.sessions.len() >= MAX_SESSIONS {
            let idle = self
                .sessions
                .iter()
                .filter(|(_, s)| s.requests.is_empty() && s.assoc.is_some())
                .min_by_key(|(pe, s)| (s.last_used, **pe))
                .map(|(&pe, _)| pe);
            let Some(pe) = idle else { break };
            if let Some(s) = self.sessions.remove(&pe) {
                if let Some(assoc) = s.assoc {
                    self.by_assoc.remove(&assoc);
                    ctx.close(assoc);
                }
            }
        }
    }

    fn park(&mut self, now: Instant, id: u64, e: PoolUserError) {
        if let Some(r) = self.requests.get_mut(&id) {
            r.pe = None;
        }
        self.clear_deadline(id);
        self.waiting.push_back(id);
        if e != PoolUserError::WouldBlock || self.retry_at.is_none() {
            self.retry_at = Some(now + RETRY_INTERVAL);
        }
    }

    fn send(&mut self, ctx: &mut Ctx<'_>, id: u64, pe: PeId, assoc: AssocId) {
        // This association is the session's control channel now.
        if let Ok(true) = self.machine.attach_control_channel(&self.pool, pe, assoc) {
            if ctx.tracing() {
                ctx.log(format_args!("COOKIE_ECHO to pool element {}", pe.get()));
            }
        }
        ctx.send(
            Destination::Association(assoc),
            Payload::Data,
            &id.to_be_bytes(),
        );
        let deadline = ctx.now() + self.app.request_timeout;
        self.set_deadline(id, deadline);
    }

    fn set_deadline(&mut self, id: u64, at: Instant) {
        self.clear_deadline(id);
        if let Some(r) = self.requests.get_mut(&id) {
            r.deadline = Some(at);
            self.deadlines.insert((at, id));
        }
    }

    fn clear_deadline(&mut self, id: u64) {
        if let Some(r) = self.requests.get_mut(&id) {
            if let Some(d) = r.deadline.take() {
                self.deadlines.remove(&(d, id));
            }
        }
    }

    /// PE `pe` failed: report it, drop its session and send its requests
    /// elsewhere.
    fn fail(&mut self, ctx: &mut Ctx<'_>, pe: PeId) {
        let Some(session) = self.sessions.remove(&pe) else {
            return;
        };
        if let Some(assoc) = session.assoc {
            self.by_assoc.remove(&assoc);
            ctx.close(assoc);
        }
        let now = ctx.now();
        ctx.counters().unreachable_reports += 1;
        let failover = self
            .machine
            .report_unreachable(now, &self.pool, pe, SendOptions::DEFAULT);
        if ctx.tracing() {
            ctx.log(format_args!(
                "pool element {} failed, {} requests to fail over: {failover:?}",
                pe.get(),
                session.requests.len()
            ));
        }
        let mut first = failover.unwrap_or_default();
        for id in session.requests {
            let Some(r) = self.requests.get_mut(&id) else {
                continue;
            };
            r.failovers += 1;
            r.pe = None;
            ctx.counters().failovers += 1;
            self.clear_deadline(id);
            self.dispatch(ctx, id, first.take());
        }
    }

    fn answer(&mut self, ctx: &mut Ctx<'_>, assoc: AssocId, bytes: &[u8]) {
        let Ok(raw) = <[u8; 8]>::try_from(bytes) else {
            return;
        };
        let id = u64::from_be_bytes(raw);
        let now = ctx.now();
        if let Some(r) = self.requests.remove(&id) {
            if let Some(d) = r.deadline {
                self.deadlines.remove(&(d, id));
            }
            if let Some(pe) = r.pe {
                if let Some(s) = self.sessions.get_mut(&pe) {
                    s.requests.remove(&id);
                }
            }
            self.waiting.retain(|&w| w != id);
            self.served_ids.insert(id);
            self.served += 1;
            let took = now.saturating_duration_since(r.issued).as_micros();
            let c = ctx.counters();
            c.served += 1;
            c.service_time_sum_us += took;
            c.service_time_max_us = c.service_time_max_us.max(took);
            if r.failovers > 0 {
                c.failed_over_served += 1;
                c.failover_time_sum_us += took;
                c.failover_time_max_us = c.failover_time_max_us.max(took);
            }
        } else if self.served_ids.contains(&id) {
            ctx.counters().duplicates += 1;
            if ctx.tracing() {
                ctx.log(format_args!(
                    "duplicate answer to request {id} on {assoc:?}"
                ));
            }
        }
    }

    fn retry_waiting(&mut self, ctx: &mut Ctx<'_>) {
        self.retry_at = None;
        let waiting = std::mem::take(&mut self.waiting);
        for id in waiting {
            if self.requests.contains_key(&id) {
                self.dispatch(ctx, id, None);
            }
        }
    }
}

impl Node for UserNode {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(i) = self.interval() {
            let first = self.app.start.max(ctx.now()) + ctx.random_duration(i);
            self.next_issue = Some(first);
        }
    }

    fn handle_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        source: Source,
        payload: Payload,
        bytes: &[u8],
    ) {
        match (payload.protocol(), source) {
            (Some(p), _) => self.machine.handle(ctx.now(), source, p, bytes),
            (None, Source::Association(assoc)) => self.answer(ctx, assoc, bytes),
            (None, Source::Datagram(_)) => {}
        }
    }

    fn handle_transport_event(&mut self, ctx: &mut Ctx<'_>, event: TransportEvent) {
        self.machine.handle_transport_event(ctx.now(), event);
        match event {
            TransportEvent::Up { assoc, remote, .. } => {
                let pe = self
                    .sessions
                    .iter()
                    .find(|(_, s)| s.addr == remote && s.assoc.is_none())
                    .map(|(&pe, _)| pe);
                let Some(pe) = pe else {
                    return;
                };
                self.by_assoc.insert(assoc, pe);
                let ids: Vec<u64> = match self.sessions.get_mut(&pe) {
                    Some(s) => {
                        s.assoc = Some(assoc);
                        s.requests.iter().copied().collect()
                    }
                    None => Vec::new(),
                };
                for id in ids {
                    self.send(ctx, id, pe, assoc);
                }
            }
            TransportEvent::Down { assoc } | TransportEvent::SendFailed { assoc } => {
                if let Some(pe) = self.by_assoc.remove(&assoc) {
                    self.fail(ctx, pe);
                }
            }
            TransportEvent::ConnectFailed { remote } => {
                let pe = self
                    .sessions
                    .iter()
                    .find(|(_, s)| s.addr == remote && s.assoc.is_none())
                    .map(|(&pe, _)| pe);
                if let Some(pe) = pe {
                    self.fail(ctx, pe);
                }
            }
        }
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        if self.machine.poll_timeout().is_some_and(|t| t <= now) {
            self.machine.handle_timeout(now);
        }
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.remove(&(at, id));
            let pe = self.requests.get_mut(&id).and_then(|r| {
                r.deadline = None;
                r.pe
            });
            if let Some(pe) = pe {
                if ctx.tracing() {
                    ctx.log(format_args!(
                        "request {id} timed out at pool element {}",
                        pe.get()
                    ));
                }
                self.fail(ctx, pe);
            }
        }
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_waiting(ctx);
        }
        while let Some(t) = self.next_issue.filter(|&t| t <= now) {
            self.next_issue = match self.interval() {
                Some(i) if t + i < self.app.stop => Some(t + i),
                _ => None,
            };
            if t < self.app.stop {
                self.issue(ctx);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.machine.poll_timeout(),
            self.deadlines.first().map(|d| d.0),
            self.retry_at,
            self.next_issue,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn flush(&mut self, ctx: &mut Ctx<'_>) {
        let mut resolved = false;
        while let Some(e) = self.machine.poll_event() {
            if matches!(e, Event::Resolved { .. }) {
                resolved = true;
            }
            if ctx.tracing() {
                ctx.log(format_args!("pool user: {e:?}"));
            }
            if self.events.len() == EVENT_HISTORY {
                self.events.pop_front();
            }
            self.events.push_back((ctx.now(), e));
        }
        if resolved && !self.waiting.is_empty() {
            self.retry_waiting(ctx);
            // Events raised by the retries wait for the next flush.
        }
        ctx.drain_machine(&mut self.machine);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
