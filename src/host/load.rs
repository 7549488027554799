//! A pool user application that sends generated messages to a pool and
//! checks every answer byte for byte against what it sent (an echo
//! service answers each message with itself).
//!
//! Requests are issued every [`LoadConfig::interval`] between
//! [`LoadConfig::start`] and [`LoadConfig::stop`] (at most
//! [`LoadConfig::count`]), each of a random size in
//! [`LoadConfig::sizes`], with generated printable bytes. They go on the
//! current session, at most [`LoadConfig::window`] unanswered per session;
//! after [`LoadConfig::session_requests`] requests (or with a full window)
//! a new session takes the next ones (a fresh PE selection by the pool's
//! policy), and the old one is closed once it has its answers.
//!
//! Answers on a session come in the order of its requests (one
//! association, one PE at a time, an echo answers in order), so the first
//! unanswered request is the one an answer belongs to; it is compared
//! with what was sent ([`Tally::Mismatch`] if it differs) and
//! acknowledged. When the oldest request of a session waits longer than
//! [`LoadConfig::timeout`], the application asks for a failover (its PE is
//! reported unreachable). The session user must resend the unanswered
//! messages after a failover
//! ([`ResendPolicy::LastUnacknowledged`](crate::session::ResendPolicy) of
//! at least the window): then no request is lost while a PE lives, and an
//! answer that comes for no request counts as [`Tally::Duplicate`]. A
//! session that closes (no PE, too many failovers) gives its requests
//! back; they are sent again on a new session after
//! [`LoadConfig::retry_interval`].

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use crate::id::PoolHandle;
use crate::session::user::Event;
use crate::session::{SessionError, SessionId};
use crate::time::{Duration, Instant};

use super::user::{AppCtx, Application};
use super::Tally;

/// A [`LoadGenerator`]'s settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadConfig {
    /// The pool.
    pub pool: PoolHandle,
    /// Time between two requests (`None`: no requests).
    pub interval: Option<Duration>,
    /// First request not before this (plus a random part of the interval).
    pub start: Instant,
    /// No new request from this time on.
    pub stop: Instant,
    /// At most this many requests (`None`: no limit).
    pub count: Option<u64>,
    /// Smallest and largest request size in bytes (at least 1).
    pub sizes: (usize, usize),
    /// The PPID of the requests.
    pub ppid: u32,
    /// How long the oldest request of a session may wait for its answer
    /// before the session fails over.
    pub timeout: Duration,
    /// Requests waiting for their answer on one session at most.
    pub window: usize,
    /// Sessions the requests take turns on.
    pub sessions: usize,
    /// Requests per session before a new session takes over (0: one
    /// session for ever).
    pub session_requests: u32,
    /// Wait before a new session after one closed without a PE.
    pub retry_interval: Duration,
}

impl LoadConfig {
    /// One request a second of 8 bytes with PPID 0 for ever, 2 s timeout,
    /// one session at a time, a window of 16, 10 requests per session,
    /// retry after 1 s.
    pub fn new(pool: PoolHandle) -> Self {
        LoadConfig {
            pool,
            interval: Some(Duration::from_secs(1)),
            start: Instant::ZERO,
            stop: Instant::MAX,
            count: None,
            sizes: (8, 8),
            ppid: 0,
            timeout: Duration::from_secs(2),
            window: 16,
            sessions: 1,
            session_requests: 10,
            retry_interval: Duration::from_secs(1),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Request {
    id: u64,
    len: usize,
    issued: Instant,
    failed_over: bool,
}

#[derive(Clone, Copy, Debug)]
struct Sent {
    request: Request,
    seq: u64,
}

#[derive(Debug, Default)]
struct Session {
    in_flight: VecDeque<Sent>,
    /// Requests sent on it so far.
    sent: u32,
    /// Takes no new requests; closed when its answers are in.
    retiring: bool,
    /// When the oldest request gives up on the PE.
    deadline: Option<Instant>,
}

/// See the [module documentation](self).
#[derive(Debug)]
pub struct LoadGenerator {
    config: LoadConfig,
    next_issue: Option<Instant>,
    next_id: u64,
    waiting: VecDeque<Request>,
    sessions: BTreeMap<SessionId, Session>,
    /// The sessions requests take turns on.
    slots: Vec<Option<SessionId>>,
    turn: usize,
    hold_until: Option<Instant>,
    scratch: Vec<u8>,
    /// Requests issued.
    pub issued: u64,
    /// Requests answered (first answer).
    pub served: u64,
    /// Failovers of its sessions.
    pub failovers: u64,
    /// Answers that matched no request.
    pub duplicates: u64,
    /// Answers that differed from their request.
    pub mismatches: u64,
}

/// Fills `out` with the printable bytes of request `id` (deterministic).
pub fn request_bytes(id: u64, out: &mut [u8]) {
    let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    for b in out.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = 0x21 + (x % 94) as u8;
    }
}

impl LoadGenerator {
    /// A generator with `config`.
    pub fn new(config: LoadConfig) -> Self {
        LoadGenerator {
            config,
            next_issue: None,
            next_id: 1,
            waiting: VecDeque::new(),
            sessions: BTreeMap::new(),
            slots: alloc::vec![None; config.sessions.max(1)],
            turn: 0,
            hold_until: None,
            scratch: Vec::new(),
            issued: 0,
            served: 0,
            failovers: 0,
            duplicates: 0,
            mismatches: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &LoadConfig {
        &self.config
    }

    /// Requests issued and not answered yet.
    pub fn outstanding(&self) -> usize {
        self.waiting.len()
            + self
                .sessions
                .values()
                .map(|s| s.in_flight.len())
                .sum::<usize>()
    }

    /// Whether every request there is to issue has been issued.
    pub fn done_issuing(&self) -> bool {
        self.next_issue.is_none()
    }

    /// The sessions new requests take turns on (open ones only).
    pub fn current_sessions(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.slots.iter().flatten().copied()
    }

    /// Issues no more requests (those issued still go out).
    pub fn stop(&mut self) {
        self.next_issue = None;
    }

    fn issue(&mut self, ctx: &mut AppCtx<'_>) {
        let (min, max) = self.config.sizes;
        let min = min.max(1);
        let span = max.saturating_sub(min) as u64 + 1;
        let len = min + ((u128::from(ctx.random_u64()) * u128::from(span)) >> 64) as usize;
        let id = self.next_id;
        self.next_id += 1;
        self.issued += 1;
        ctx.record(Tally::Request);
        self.waiting.push_back(Request {
            id,
            len,
            issued: ctx.now(),
            failed_over: false,
        });
    }

    /// The slot and session the next request goes on, opened if needed;
    /// `None` while the slot's session has a full window, or has had its
    /// requests and waits for their answers (sessions of one slot never
    /// overlap: a node with one association per PE could not tell two
    /// sessions to one PE apart).
    fn session(&mut self, ctx: &mut AppCtx<'_>) -> Option<(usize, SessionId)> {
        let n = self.slots.len();
        (0..n).find_map(|k| self.session_at(ctx, (self.turn + k) % n))
    }

    /// [`session`](Self::session) for one slot.
    fn session_at(&mut self, ctx: &mut AppCtx<'_>, slot: usize) -> Option<(usize, SessionId)> {
        if let Some(id) = self.slots[slot] {
            match self.sessions.get_mut(&id) {
                Some(s) => {
                    let full = s.in_flight.len() >= self.config.window.max(1);
                    let used =
                        self.config.session_requests > 0 && s.sent >= self.config.session_requests;
                    if !full && !used {
                        return Some((slot, id));
                    }
                    if !used || !s.in_flight.is_empty() {
                        s.retiring |= used;
                        return None;
                    }
                    self.sessions.remove(&id);
                    let _ = ctx.close(id);
                    self.slots[slot] = None;
                }
                None => self.slots[slot] = None,
            }
        }
        match ctx.connect(self.config.pool) {
            Ok(id) => {
                self.sessions.insert(id, Session::default());
                self.slots[slot] = Some(id);
                Some((slot, id))
            }
            Err(_) => None,
        }
    }

    /// Sends what waits, as far as sessions and rings allow.
    fn pump(&mut self, ctx: &mut AppCtx<'_>) {
        if self.hold_until.is_some_and(|t| ctx.now() < t) {
            return;
        }
        self.hold_until = None;
        while let Some(&request) = self.waiting.front() {
            if !ctx.can_send(request.len) {
                break;
            }
            let Some((slot, session)) = self.session(ctx) else {
                break;
            };
            self.scratch.resize(request.len, 0);
            request_bytes(request.id, &mut self.scratch);
            match ctx.send(session, self.config.ppid, &self.scratch) {
                Ok(seq) => {
                    self.waiting.pop_front();
                    self.turn = slot.wrapping_add(1);
                    let now = ctx.now();
                    let timeout = self.config.timeout;
                    if let Some(s) = self.sessions.get_mut(&session) {
                        s.in_flight.push_back(Sent { request, seq });
                        s.sent += 1;
                        s.deadline.get_or_insert(now + timeout);
                    }
                }
                Err(SessionError::Full { .. }) => break,
                Err(_) => {
                    // The session is gone or refuses: a new one next time.
                    self.sessions.remove(&session);
                    self.slots[slot] = None;
                    break;
                }
            }
        }
    }

    fn answer(&mut self, ctx: &mut AppCtx<'_>, session: SessionId, bytes: &[u8]) {
        let Some(s) = self.sessions.get_mut(&session) else {
            self.duplicates += 1;
            ctx.record(Tally::Duplicate);
            return;
        };
        let Some(sent) = s.in_flight.pop_front() else {
            self.duplicates += 1;
            ctx.record(Tally::Duplicate);
            return;
        };
        let now = ctx.now();
        s.deadline = s.in_flight.front().map(|_| now + self.config.timeout);
        let done = s.retiring && s.in_flight.is_empty();
        let _ = ctx.acknowledge(session, sent.seq);
        self.scratch.resize(sent.request.len, 0);
        request_bytes(sent.request.id, &mut self.scratch);
        if bytes != self.scratch.as_slice() {
            self.mismatches += 1;
            ctx.record(Tally::Mismatch);
        }
        self.served += 1;
        ctx.record(Tally::Served {
            took: now.saturating_duration_since(sent.request.issued),
            failed_over: sent.request.failed_over,
        });
        if done {
            self.sessions.remove(&session);
            let _ = ctx.close(session);
            for slot in self.slots.iter_mut() {
                if *slot == Some(session) {
                    *slot = None;
                }
            }
        }
    }
}

impl Application for LoadGenerator {
    fn start(&mut self, ctx: &mut AppCtx<'_>) {
        if let Some(i) = self.config.interval {
            let i = i.max(Duration::from_micros(1));
            self.config.interval = Some(i);
            let r = ((u128::from(ctx.random_u64()) * u128::from(i.as_micros() + 1)) >> 64) as u64;
            self.next_issue = Some(self.config.start.max(ctx.now()) + Duration::from_micros(r));
        }
    }

    fn on_event(&mut self, ctx: &mut AppCtx<'_>, event: &Event, bytes: &[u8]) {
        match *event {
            Event::Message { session, .. } => self.answer(ctx, session, bytes),
            Event::Failover { session, .. } => {
                self.failovers += 1;
                let deadline = ctx.now() + self.config.timeout;
                if let Some(s) = self.sessions.get_mut(&session) {
                    for sent in s.in_flight.iter_mut() {
                        sent.request.failed_over = true;
                    }
                    if !s.in_flight.is_empty() {
                        s.deadline = Some(deadline);
                    }
                }
            }
            Event::Closed { session, .. } => {
                if let Some(s) = self.sessions.remove(&session) {
                    for sent in s.in_flight.into_iter().rev() {
                        let mut r = sent.request;
                        r.failed_over = true;
                        self.waiting.push_front(r);
                    }
                    if !self.waiting.is_empty() {
                        self.hold_until = Some(ctx.now() + self.config.retry_interval);
                    }
                }
                for slot in self.slots.iter_mut() {
                    if *slot == Some(session) {
                        *slot = None;
                    }
                }
            }
            _ => {}
        }
        self.pump(ctx);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let deadlines = self.sessions.values().filter_map(|s| s.deadline).min();
        let hold = self.hold_until.filter(|_| !self.waiting.is_empty());
        [self.next_issue, deadlines, hold]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, ctx: &mut AppCtx<'_>) {
        let now = ctx.now();
        let late: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.deadline.is_some_and(|t| t <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in late {
            if let Some(s) = self.sessions.get_mut(&id) {
                s.deadline = Some(now + self.config.timeout);
            }
            if ctx.tracing() {
                ctx.log(format_args!("{id}: answer late, failing over"));
            }
            // Still resolving: nothing to fail over from; wait again.
            let _ = ctx.failover(id, true);
        }
        while let Some(t) = self.next_issue.filter(|&t| t <= now) {
            let more = self.config.count.is_none_or(|c| self.issued + 1 < c);
            self.next_issue = match self.config.interval {
                Some(i) if more && t + i < self.config.stop => Some(t + i),
                _ => None,
            };
            if t < self.config.stop {
                self.issue(ctx);
            }
        }
        self.pump(ctx);
    }
}
