//! A pool element host: the crate's [`PoolElement`] machine plus a small
//! request/response service for pool users.
//!
//! The service answers each request (application data, never ASAP) after
//! a fixed service time on the association it came on, and every
//! `cookie_every` requests on one association it sends that pool user an
//! ASAP_COOKIE through the machine, so that failover with COOKIE_ECHO is
//! exercised. ASAP messages and transport events go to the machine; the
//! machine ignores associations that pool users opened, except for their
//! ASAP control messages (COOKIE_ECHO).

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::vec::Vec;

use crate::id::AssocId;
use crate::pool_element::{Event, PoolElement};
use crate::time::{Duration, Instant};
use crate::transmit::{Destination, Machine, Source, TransportEvent};

use super::world::{Ctx, Node, Payload};

/// The most machine events a node keeps for inspection.
pub const EVENT_HISTORY: usize = 64;

/// See the [module](self) documentation.
#[derive(Debug)]
pub struct ElementNode {
    /// The machine.
    pub machine: PoolElement,
    /// How long a request takes.
    pub service_time: Duration,
    /// A COOKIE every this many requests per pool user (0: never).
    pub cookie_every: u32,
    /// When to call `register` (at start: a random moment within
    /// `start_spread`, so that a large pool does not register in one burst).
    register_at: Option<Instant>,
    start_spread: Duration,
    replies: VecDeque<(Instant, AssocId, Vec<u8>)>,
    users: BTreeMap<AssocId, u32>,
    /// The machine's latest events, oldest first.
    pub events: VecDeque<(Instant, Event)>,
    /// Requests answered.
    pub served: u64,
    /// COOKIE_ECHOs received.
    pub cookie_echoes: u64,
    /// Since when the PE has been registered with its current home
    /// registrar (first registration, or the latest change of home).
    pub home_since: Option<Instant>,
    home_assoc: Option<AssocId>,
}

impl ElementNode {
    /// A host for `machine` that registers within `start_spread` of its start.
    pub fn new(
        machine: PoolElement,
        service_time: Duration,
        cookie_every: u32,
        start_spread: Duration,
    ) -> Self {
        ElementNode {
            machine,
            service_time,
            cookie_every,
            register_at: None,
            start_spread,
            replies: VecDeque::new(),
            users: BTreeMap::new(),
            events: VecDeque::new(),
            served: 0,
            cookie_echoes: 0,
            home_since: None,
            home_assoc: None,
        }
    }

    /// The pool element's identifier.
    pub fn pe_id(&self) -> crate::id::PeId {
        self.machine.pe_id()
    }

    /// Whether the machine's registration is in force.
    pub fn is_registered(&self) -> bool {
        self.machine.is_registered()
    }

    fn serve_due(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(&(at, assoc, _)) = self.replies.front() {
            if at > ctx.now() {
                break;
            }
            let (_, _, bytes) = self.replies.pop_front().unwrap_or((at, assoc, Vec::new()));
            ctx.send(Destination::Association(assoc), Payload::Data, &bytes);
            self.served += 1;
            let n = self.users.entry(assoc).or_insert(0);
            *n += 1;
            if self.cookie_every > 0 && *n % self.cookie_every == 0 {
                let cookie = format!("pe={} n={}", self.machine.pe_id().get(), *n);
                if self.machine.send_cookie(assoc, cookie.as_bytes()).is_ok() {
                    ctx.counters().cookies_sent += 1;
                }
            }
        }
    }
}

impl Node for ElementNode {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        let d = ctx.random_duration(self.start_spread);
        self.register_at = Some(ctx.now() + d);
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
            (None, Source::Association(assoc)) => {
                self.replies
                    .push_back((ctx.now() + self.service_time, assoc, bytes.to_vec()));
            }
            (None, Source::Datagram(_)) => {}
        }
    }

    fn handle_transport_event(&mut self, ctx: &mut Ctx<'_>, event: TransportEvent) {
        if let TransportEvent::Down { assoc } = event {
            self.users.remove(&assoc);
            self.replies.retain(|r| r.1 != assoc);
        }
        self.machine.handle_transport_event(ctx.now(), event);
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        if self.register_at.is_some_and(|t| t <= now) {
            self.register_at = None;
            self.machine.register(now);
        }
        self.serve_due(ctx);
        if self.machine.poll_timeout().is_some_and(|t| t <= now) {
            self.machine.handle_timeout(now);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.register_at,
            self.replies.front().map(|r| r.0),
            self.machine.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn flush(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(e) = self.machine.poll_event() {
            match &e {
                Event::HomeChanged { home } | Event::Registered { home }
                    if self.home_assoc != Some(home.assoc) =>
                {
                    self.home_assoc = Some(home.assoc);
                    self.home_since = Some(ctx.now());
                }
                _ => {}
            }
            if let Event::Registered { .. } = e {
                ctx.counters().registrations += 1;
            }
            if let Event::CookieEcho { .. } = e {
                self.cookie_echoes += 1;
                ctx.counters().cookie_echoes += 1;
            }
            if ctx.tracing() {
                ctx.log(format_args!(
                    "pool element {}: {e:?}",
                    self.machine.pe_id().get()
                ));
            }
            if self.events.len() == EVENT_HISTORY {
                self.events.pop_front();
            }
            self.events.push_back((ctx.now(), e));
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
