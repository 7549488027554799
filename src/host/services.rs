//! Services for an [`ElementHost`](super::ElementHost): rsplib's standard
//! services (as `rspserver -echo`, `-discard`, `-daytime`, `-chargen`,
//! `-pingpong` offer them) and a delayed echo for simulations.
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

/// The bytes of one [`CharGen`] message (rsplib's: 1,024 bytes, byte `i`
/// is `30 + i % 98`).
pub fn chargen_block() -> [u8; CHARGEN_BLOCK] {
    let mut b = [0u8; CHARGEN_BLOCK];
    for (i, c) in b.iter_mut().enumerate() {
        *c = 30 + (i % 98) as u8;
    }
    b
}

/// The size of a [`CharGen`] message.
pub const CHARGEN_BLOCK: usize = 1024;

/// How often a [`CharGen`] fills its sessions' rings again.
pub const CHARGEN_TICK: Duration = Duration::from_millis(10);

/// How many [`chargen_block`]s a [`CharGen`] session may receive after it
/// opens and after each message its pool user sends.
pub const CHARGEN_CREDIT: u32 = 64;

/// Sends [`chargen_block`]s with PPID 0 to every session, as fast as the
/// session's transmit ring takes them (rsplib's `CharGenServer`, which
/// sends until the association refuses). Unlike rsplib's, it sends at most
/// [`CHARGEN_CREDIT`] blocks after the session opens and after each
/// message the pool user sends (whose content is ignored): nothing proves
/// that the sender of one datagram over UDP asked for an endless stream
/// (its address may be forged), so one datagram never buys more than
/// 64 KiB. Each tick sends at most [`CHARGEN_BURST`] blocks per session,
/// so that a node with many chargen sessions still serves its other
/// inputs.
#[derive(Debug, Default)]
pub struct CharGen {
    /// (session, blocks it may still receive, no message yet).
    sessions: Vec<(SessionId, u32, bool)>,
    due: Option<Instant>,
    /// Blocks sent.
    pub sent: u64,
}

/// The most blocks a [`CharGen`] sends per session and tick.
pub const CHARGEN_BURST: u32 = 16;

impl CharGen {
    fn fill(&mut self, ctx: &mut ServiceCtx<'_>) {
        let block = chargen_block();
        for (s, credit, _) in &mut self.sessions {
            for _ in 0..CHARGEN_BURST.min(*credit) {
                if !ctx.can_send(CHARGEN_BLOCK) || ctx.send(*s, 0, &block).is_err() {
                    break;
                }
                *credit -= 1;
                self.sent += 1;
            }
        }
        let more = self.sessions.iter().any(|(_, c, _)| *c > 0);
        self.due = more.then(|| ctx.now() + CHARGEN_TICK);
    }

    /// A session opened (`opened`) or sent a message: a new credit, except
    /// for the message that opened it over UDP (its Accepted gave it).
    fn credit(&mut self, session: SessionId, opened: bool) {
        match self.sessions.iter_mut().find(|(s, _, _)| *s == session) {
            Some((_, _, fresh)) if *fresh && !opened => *fresh = false,
            Some((_, c, fresh)) => {
                *c = CHARGEN_CREDIT;
                *fresh = opened;
            }
            None => self.sessions.push((session, CHARGEN_CREDIT, opened)),
        }
    }
}

impl Service for CharGen {
    fn on_event(&mut self, ctx: &mut ServiceCtx<'_>, event: &Event, _bytes: &[u8]) {
        match *event {
            Event::Accepted { session, .. } => {
                self.credit(session, true);
                self.due = Some(ctx.now());
            }
            Event::Message { session, .. } => {
                // The datagram that opens a session over UDP (Accepted,
                // then its Message) buys one credit, not two.
                self.credit(session, false);
                self.due = Some(ctx.now());
            }
            Event::Closed { session, .. } => {
                self.sessions.retain(|&(s, _, _)| s != session);
                if self.sessions.iter().all(|(_, c, _)| *c == 0) {
                    self.due = None;
                }
            }
            _ => {}
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.due
    }
    fn handle_timeout(&mut self, ctx: &mut ServiceCtx<'_>) {
        self.fill(ctx);
    }
}

/// rsplib's ping-pong protocol's PPID (`PPID_PPP`).
pub const PINGPONG_PPID: u32 = 33;
/// A ping's message type.
pub const PING: u8 = 0x01;
/// A pong's message type.
pub const PONG: u8 = 0x02;
/// A ping's header: type, flags, length (16 bits), message number (64).
pub const PING_HEADER: usize = 12;
/// A pong's header: a ping's and the reply number (64 bits).
pub const PONG_HEADER: usize = 20;
/// The ping-pong cookie's identifier.
pub const PINGPONG_COOKIE_ID: &[u8; 8] = b"<PP-TD1>";

/// Answers rsplib's ping-pong protocol (rsplib's `PingPongServer`, the
/// service of `rspserver -pingpong`): each PING (PPID 33: type 1, flags,
/// length, a 64-bit message number, data) gets a PONG (type 2, the same
/// message number, this session's reply number, counting from 1, the
/// same data), then a COOKIE (`"<PP-TD1>"` and the next reply number), so
/// that a pool user that fails over continues the count at the next PE,
/// which takes the reply number from the cookie echo. Anything else, or a
/// cookie echo that is not such a cookie, closes the session (rsplib
/// aborts it).
#[derive(Debug, Default)]
pub struct PingPong {
    /// (session, next reply number).
    sessions: Vec<(SessionId, u64)>,
    /// Pongs sent.
    pub pongs: u64,
}

impl PingPong {
    fn reply_no(&mut self, session: SessionId) -> &mut u64 {
        let i = match self.sessions.iter().position(|(s, _)| *s == session) {
            Some(i) => i,
            None => {
                self.sessions.push((session, 1));
                self.sessions.len() - 1
            }
        };
        &mut self.sessions[i].1
    }

    fn pong(&mut self, ctx: &mut ServiceCtx<'_>, session: SessionId, ping: &[u8]) -> Option<()> {
        if ping.len() < PING_HEADER || ping[0] != PING {
            return None;
        }
        let length = usize::from(u16::from_be_bytes([ping[2], ping[3]]));
        if length < PING_HEADER || length > ping.len() {
            return None;
        }
        let data = &ping[PING_HEADER..length];
        let pong_len = u16::try_from(PONG_HEADER + data.len()).ok()?;
        let reply_no = *self.reply_no(session);
        let mut pong = Vec::with_capacity(usize::from(pong_len));
        pong.extend_from_slice(&[PONG, 0]);
        pong.extend_from_slice(&pong_len.to_be_bytes());
        pong.extend_from_slice(&ping[4..12]);
        pong.extend_from_slice(&reply_no.to_be_bytes());
        pong.extend_from_slice(data);
        ctx.send(session, PINGPONG_PPID, &pong).ok()?;
        self.pongs += 1;
        let next = reply_no + 1;
        *self.reply_no(session) = next;
        let mut cookie = [0u8; 16];
        cookie[..8].copy_from_slice(PINGPONG_COOKIE_ID);
        cookie[8..].copy_from_slice(&next.to_be_bytes());
        ctx.send_cookie(session, &cookie).ok()
    }
}

impl Service for PingPong {
    fn on_event(&mut self, ctx: &mut ServiceCtx<'_>, event: &Event, bytes: &[u8]) {
        match *event {
            Event::Message { session, .. } if self.pong(ctx, session, bytes).is_none() => {
                let _ = ctx.close(session);
            }
            Event::CookieEcho { session } => {
                let next = ctx.cookie_echo(session).and_then(|c| {
                    let id = c.get(..8)?;
                    let n = c.get(8..16)?;
                    (c.len() == 16 && id == PINGPONG_COOKIE_ID)
                        .then(|| u64::from_be_bytes(n.try_into().unwrap_or([0; 8])))
                });
                match next {
                    Some(n) => *self.reply_no(session) = n,
                    None => {
                        let _ = ctx.close(session);
                    }
                }
            }
            Event::Closed { session, .. } => self.sessions.retain(|(s, _)| *s != session),
            _ => {}
        }
    }
}
