//! Services for an [`ElementHost`](super::ElementHost): rsplib's standard
//! services (as `rspserver -echo`, `-discard`, `-daytime` offer them) and
//! a delayed echo for simulations.
//!
//! All of them take user messages as raw bytes with any PPID, without
//! framing, as rsplib's clients (`rspterminal`) send them.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use crate::session::element::Event;
use crate::session::SessionId;
use crate::time::{Duration, Instant};

use super::element::{Service, ServiceCtx};

/// Sends every message back at once on its session with its PPID
/// (rsplib's `EchoServer`). A message that cannot be queued closes the
/// session (rsplib aborts it).
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl Service for Echo {
    fn on_event(&mut self, ctx: &mut ServiceCtx<'_>, event: &Event, bytes: &[u8]) {
        if let Event::Message { session, ppid, .. } = *event {
            if ctx.send(session, ppid, bytes).is_err() {
                let _ = ctx.close(session);
            }
        }
    }
}

/// Takes every message and answers nothing (rsplib's `DiscardServer`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Discard {
    /// Messages taken.
    pub received: u64,
}

impl Service for Discard {
    fn on_event(&mut self, _ctx: &mut ServiceCtx<'_>, event: &Event, _bytes: &[u8]) {
        if let Event::Message { .. } = event {
            self.received += 1;
        }
    }
}

/// Formats the time of day for [`Daytime`].
pub type DaytimeClock = Box<dyn FnMut(Instant) -> String + Send>;

/// Sends the time of day as text with PPID 0 to every new session, then
/// closes it (rsplib's `DaytimeServer`). Messages are ignored.
pub struct Daytime {
    clock: DaytimeClock,
    /// Sessions whose answer is queued: closed at the next timeout (after
    /// the answer has left).
    closing: VecDeque<SessionId>,
    due: Option<Instant>,
}

impl core::fmt::Debug for Daytime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Daytime")
            .field("closing", &self.closing)
            .finish_non_exhaustive()
    }
}

/// The most sessions a [`Daytime`] service closes at once; beyond that a
/// new session is closed without an answer.
pub const DAYTIME_PENDING: usize = 256;

impl Daytime {
    /// A daytime service; `clock` formats the time (rsplib:
    /// `"Friday, 04-December-2026 12:00:00.000000\n"`).
    pub fn new(clock: DaytimeClock) -> Self {
        Daytime {
            clock,
            closing: VecDeque::new(),
            due: None,
        }
    }
}

impl Service for Daytime {
    fn on_event(&mut self, ctx: &mut ServiceCtx<'_>, event: &Event, _bytes: &[u8]) {
        if let Event::Accepted { session, .. } = *event {
            if self.closing.len() >= DAYTIME_PENDING {
                let _ = ctx.close(session);
                return;
            }
            let text = (self.clock)(ctx.now());
            let _ = ctx.send(session, 0, text.as_bytes());
            self.closing.push_back(session);
            self.due = Some(ctx.now());
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.due
    }
    fn handle_timeout(&mut self, ctx: &mut ServiceCtx<'_>) {
        self.due = None;
        while let Some(session) = self.closing.pop_front() {
            let _ = ctx.close(session);
        }
    }
}

/// The most answers a [`DelayedEcho`] holds at once; beyond that a
/// message is answered at once.
pub const DELAYED_ECHO_PENDING: usize = 4096;

/// Sends every message back after a fixed service time, in order, and a
/// COOKIE (`"pe=<id> n=<count>"`) when the first and then every
/// `cookie_every`-th message of a session arrives, so that a pool user
/// failing over while it waits has a recent cookie to echo. The
/// simulator's pool elements run it.
#[derive(Debug)]
pub struct DelayedEcho {
    /// How long a message takes.
    pub service_time: Duration,
    /// A COOKIE with the first and every this many messages per session
    /// (0: never).
    pub cookie_every: u32,
    pending: VecDeque<(Instant, SessionId, u32, Vec<u8>)>,
    counts: Vec<(SessionId, u32)>,
}

impl DelayedEcho {
    /// A delayed echo.
    pub fn new(service_time: Duration, cookie_every: u32) -> Self {
        DelayedEcho {
            service_time,
            cookie_every,
            pending: VecDeque::new(),
            counts: Vec::new(),
        }
    }

    fn count(&mut self, session: SessionId) -> u32 {
        match self.counts.iter_mut().find(|(s, _)| *s == session) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.counts.push((session, 1));
                1
            }
        }
    }
}

impl Service for DelayedEcho {
    fn on_event(&mut self, ctx: &mut ServiceCtx<'_>, event: &Event, bytes: &[u8]) {
        match *event {
            Event::Message { session, ppid, .. } => {
                let n = self.count(session);
                if self.cookie_every > 0 && (n - 1) % self.cookie_every == 0 {
                    let cookie = alloc::format!("pe={} n={n}", ctx.pe_id().get());
                    let _ = ctx.send_cookie(session, cookie.as_bytes());
                }
                if self.service_time == Duration::ZERO || self.pending.len() >= DELAYED_ECHO_PENDING
                {
                    let _ = ctx.send(session, ppid, bytes);
                } else {
                    let due = ctx.now() + self.service_time;
                    self.pending.push_back((due, session, ppid, bytes.to_vec()));
                }
            }
            Event::Closed { session, .. } => {
                self.pending.retain(|p| p.1 != session);
                self.counts.retain(|c| c.0 != session);
            }
            _ => {}
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.pending.front().map(|p| p.0)
    }
    fn handle_timeout(&mut self, ctx: &mut ServiceCtx<'_>) {
        let now = ctx.now();
        while self.pending.front().is_some_and(|p| p.0 <= now) {
            if let Some((_, session, ppid, bytes)) = self.pending.pop_front() {
                let _ = ctx.send(session, ppid, &bytes);
            }
        }
    }
}
