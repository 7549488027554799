//! A pool user on a socket: requests to a pool by handle, with failover.
//!
//! Each request follows the simulator's user ([`crate::sim`]): the machine
//! selects a PE ([`PoolUser::select`]); the request goes as application
//! data to the PE's user transport over a data channel that is also the
//! session's control channel ([`PoolUser::attach_control_channel`], which
//! sends the COOKIE_ECHO first after a failover). When no answer comes
//! within the attempt timeout, or the channel goes down, the PE is reported
//! ([`PoolUser::report_unreachable`]) and every request waiting on it is
//! sent again: the first to the failover selection (with the session's
//! cookie), the others to fresh selections. While no PE can be selected
//! (resolution running, no registrar) requests wait and are retried when a
//! resolution answers or after [`RETRY_INTERVAL`].

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::vec::Vec;

use super::{Driver, Host, NodeConfig, Runner};
use crate::id::{AssocId, PeId, PoolHandle};
use crate::pool_user::{Event, PoolUser, PoolUserConfig, Selection, SendOptions};
use crate::time::{Duration, Instant};
use crate::transmit::{Machine, TransportEvent};
use crate::transport::{Framing, Incoming, Payload};
use crate::wire::Protocol;

/// How long a request with no selectable PE waits before trying again.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(200);

/// Why a request got no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// No PE answered before the request's timeout.
    Timeout,
    /// The pool user has stopped.
    Stopped,
}

impl core::fmt::Display for RequestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RequestError::Timeout => f.write_str("no pool element answered in time"),
            RequestError::Stopped => f.write_str("the pool user has stopped"),
        }
    }
}

impl core::error::Error for RequestError {}

type Reply = Result<(PeId, Vec<u8>), RequestError>;

#[derive(Debug)]
pub(crate) struct Request {
    pool: PoolHandle,
    body: Vec<u8>,
    deadline: Instant,
    reply: mpsc::Sender<Reply>,
}

struct Pending {
    req: Request,
    pe: Option<PeId>,
    attempt_deadline: Option<Instant>,
}

struct Session {
    pool: PoolHandle,
    assoc: AssocId,
    requests: BTreeSet<u64>,
}

struct Host_ {
    machine: PoolUser,
    attempt_timeout: Duration,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    waiting: VecDeque<u64>,
    retry_at: Option<Instant>,
    sessions: HashMap<PeId, Session>,
    by_assoc: HashMap<AssocId, PeId>,
    failovers: Arc<AtomicU64>,
}

impl Host_ {
    fn dispatch(&mut self, d: &mut Driver, id: u64, selection: Option<Selection>) {
        let now = d.now();
        let Some(p) = self.pending.get(&id) else {
            return;
        };
        let pool = p.req.pool;
        let selection = match selection {
            Some(s) => s,
            None => match self.machine.select(now, &pool, SendOptions::DEFAULT) {
                Ok(s) => s,
                Err(_) => return self.park(now, id),
            },
        };
        let port = selection.transport.port;
        let addrs: Vec<SocketAddr> = selection
            .transport
            .addresses
            .iter()
            .map(|&ip| SocketAddr::new(ip, port))
            .collect();
        let Some(&addr) = addrs.first() else {
            return self.park(now, id);
        };
        let pe = selection.pe_id;
        let assoc = match self.sessions.get(&pe) {
            Some(s) => s.assoc,
            None => {
                let mut events = Vec::new();
                let Some(assoc) = d.open_channel(&addrs, &mut events) else {
                    // Not even startable: this PE is out of reach.
                    let _ = self
                        .machine
                        .report_unreachable(now, &pool, pe, SendOptions::DEFAULT);
                    return self.park(now, id);
                };
                events.push(TransportEvent::Up {
                    assoc,
                    remote: addr,
                    protocol: Protocol::Asap,
                });
                for e in events {
                    self.transport_event(d, e);
                }
                self.sessions.insert(
                    pe,
                    Session {
                        pool,
                        assoc,
                        requests: BTreeSet::new(),
                    },
                );
                self.by_assoc.insert(assoc, pe);
                assoc
            }
        };
        if let Some(s) = self.sessions.get_mut(&pe) {
            s.requests.insert(id);
        }
        // This channel is the session's control channel now; a pending
        // COOKIE_ECHO leaves before the request.
        let _ = self.machine.attach_control_channel(&pool, pe, assoc);
        d.drain(&mut self.machine);
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        p.pe = Some(pe);
        p.attempt_deadline = Some(now + self.attempt_timeout);
        let mut frame = Vec::with_capacity(8 + p.req.body.len());
        frame.extend_from_slice(&id.to_be_bytes());
        frame.extend_from_slice(&p.req.body);
        d.send_data(assoc, &frame);
    }

    fn park(&mut self, now: Instant, id: u64) {
        if let Some(p) = self.pending.get_mut(&id) {
            p.pe = None;
            p.attempt_deadline = None;
        }
        if !self.waiting.contains(&id) {
            self.waiting.push_back(id);
        }
        if self.retry_at.is_none() {
            self.retry_at = Some(now + RETRY_INTERVAL);
        }
    }

    fn fail(&mut self, d: &mut Driver, pe: PeId) {
        let Some(session) = self.sessions.remove(&pe) else {
            return;
        };
        self.by_assoc.remove(&session.assoc);
        d.close(session.assoc);
        let now = d.now();
        let failover =
            self.machine
                .report_unreachable(now, &session.pool, pe, SendOptions::DEFAULT);
        net_debug!("pool element {} failed", pe.get());
        let mut first = failover.unwrap_or_default();
        for id in session.requests {
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            p.pe = None;
            p.attempt_deadline = None;
            self.failovers.fetch_add(1, Ordering::Relaxed);
            self.dispatch(d, id, first.take());
        }
    }

    fn retry_waiting(&mut self, d: &mut Driver) {
        self.retry_at = None;
        let waiting = core::mem::take(&mut self.waiting);
        for id in waiting {
            if self.pending.contains_key(&id) {
                self.dispatch(d, id, None);
            }
        }
    }

    fn finish(&mut self, id: u64, reply: Reply) {
        if let Some(p) = self.pending.remove(&id) {
            if let Some(s) = p.pe.and_then(|pe| self.sessions.get_mut(&pe)) {
                s.requests.remove(&id);
            }
            self.waiting.retain(|&w| w != id);
            let _ = p.req.reply.send(reply);
        }
    }
}

impl Host for Host_ {
    type Command = Request;
    fn start(&mut self, _d: &mut Driver) {}
    fn message(&mut self, d: &mut Driver, incoming: Incoming) {
        match incoming.payload {
            Payload::Message(p) => {
                let now = d.now();
                self.machine
                    .handle(now, incoming.source(), p, &incoming.bytes);
            }
            Payload::Data(_) => {
                let Some(pe) = self.by_assoc.get(&incoming.assoc).copied() else {
                    return;
                };
                let Some((number, answer)) = incoming.bytes.split_at_checked(8) else {
                    return;
                };
                let mut raw = [0u8; 8];
                raw.copy_from_slice(number);
                let id = u64::from_be_bytes(raw);
                self.finish(id, Ok((pe, answer.to_vec())));
            }
        }
    }
    fn transport_event(&mut self, d: &mut Driver, event: TransportEvent) {
        let now = d.now();
        self.machine.handle_transport_event(now, event);
        if let TransportEvent::Down { assoc } | TransportEvent::SendFailed { assoc } = event {
            if let Some(pe) = self.by_assoc.get(&assoc).copied() {
                self.fail(d, pe);
            }
        }
    }
    fn command(&mut self, d: &mut Driver, req: Request) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(
            id,
            Pending {
                req,
                pe: None,
                attempt_deadline: None,
            },
        );
        self.dispatch(d, id, None);
    }
    fn timeout(&mut self, d: &mut Driver) {
        let now = d.now();
        if self.machine.poll_timeout().is_some_and(|t| t <= now) {
            self.machine.handle_timeout(now);
        }
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.req.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            self.finish(id, Err(RequestError::Timeout));
        }
        let mut failed: Vec<PeId> = self
            .pending
            .values()
            .filter(|p| p.attempt_deadline.is_some_and(|t| t <= now))
            .filter_map(|p| p.pe)
            .collect();
        failed.sort();
        failed.dedup();
        for pe in failed {
            self.fail(d, pe);
        }
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_waiting(d);
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        let requests = self
            .pending
            .values()
            .flat_map(|p| [Some(p.req.deadline), p.attempt_deadline])
            .flatten()
            .min();
        [self.machine.poll_timeout(), requests, self.retry_at]
            .into_iter()
            .flatten()
            .min()
    }
    fn flush(&mut self, d: &mut Driver) {
        d.drain(&mut self.machine);
        let mut resolved = false;
        while let Some(e) = self.machine.poll_event() {
            net_debug!("pool user: event");
            if matches!(e, Event::Resolved { .. }) {
                resolved = true;
            }
        }
        if resolved && !self.waiting.is_empty() {
            self.retry_waiting(d);
        }
        d.drain(&mut self.machine);
    }
}

/// A pool user (ASAP over UDP) on its own thread; see the
/// [module](self) documentation. Dropping it stops it.
#[derive(Debug)]
pub struct PoolUserNode {
    runner: Runner<Request>,
    failovers: Arc<AtomicU64>,
}

impl PoolUserNode {
    /// Starts a pool user with `config` (its registrars: where to resolve)
    /// whose requests fail over when a PE has not answered within
    /// `attempt_timeout`.
    pub fn start(
        config: PoolUserConfig,
        node: NodeConfig,
        attempt_timeout: Duration,
    ) -> io::Result<Self> {
        let failovers = Arc::new(AtomicU64::new(0));
        let host = Host_ {
            machine: PoolUser::new(config),
            attempt_timeout,
            next_id: 1,
            pending: HashMap::new(),
            waiting: VecDeque::new(),
            retry_at: None,
            sessions: HashMap::new(),
            by_assoc: HashMap::new(),
            failovers: failovers.clone(),
        };
        let runner = Runner::start(&node, Protocol::Asap, Framing::Plain, false, host)?;
        Ok(PoolUserNode { runner, failovers })
    }

    /// Sends `request` to a PE of `pool` and waits for the answer, failing
    /// over to other PEs as needed, for at most `timeout`. Returns the PE
    /// that answered and its answer.
    pub fn request(
        &self,
        pool: &PoolHandle,
        request: &[u8],
        timeout: core::time::Duration,
    ) -> Result<(PeId, Vec<u8>), RequestError> {
        let (tx, rx) = mpsc::channel();
        let deadline = std::time::Instant::now() + timeout;
        let req = Request {
            pool: *pool,
            body: request.to_vec(),
            // Converted on the node's clock by the thread (see below).
            deadline: Instant::ZERO,
            reply: tx,
        };
        let req = Request {
            deadline: self.deadline_on_node(timeout),
            ..req
        };
        if !self.runner.send(req) {
            return Err(RequestError::Stopped);
        }
        // The node answers by the deadline; the extra second covers a busy thread.
        let wait = deadline.saturating_duration_since(std::time::Instant::now())
            + core::time::Duration::from_secs(1);
        rx.recv_timeout(wait).unwrap_or(Err(RequestError::Stopped))
    }

    fn deadline_on_node(&self, timeout: core::time::Duration) -> Instant {
        self.runner.clock.now() + Duration::from(timeout)
    }

    /// Requests sent again to another PE so far.
    pub fn failovers(&self) -> u64 {
        self.failovers.load(Ordering::Relaxed)
    }

    /// The node's socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.runner.local_addr()
    }

    /// Stops it and waits for its threads.
    pub fn shutdown(mut self) {
        self.runner.shutdown();
    }
}
