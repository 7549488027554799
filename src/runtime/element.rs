//! A pool element on a socket, serving requests with a closure.
//!
//! Pool users send requests as application data on the PE's user
//! transport (UDP, PPID-tagged, see [`Framing::Tagged`]): an 8-byte request
//! number, then the request. The answer carries the same number, then what
//! the [`Service`] returned. ASAP on that channel (COOKIE_ECHO) goes to the
//! machine; every `cookie_every`-th answer ([`PoolElementNode::start`]) to one pool
//! user is followed by an ASAP_COOKIE naming the PE and the count, so a
//! user that fails over can hand the session on with COOKIE_ECHO.
//!
//! Over SCTP the PE registers its user transport as *data plus control*
//! (RFC 5354 §3.3, Transport Use 0x0001), as rsplib's pool elements do: it
//! takes ASAP control (COOKIE_ECHO, PPID 11) on that channel, and a pool
//! needs one value for all its PEs. The UDP transport parameter has no
//! such field (data only).
//!
//! The machine's [`Event`]s reach the application through
//! [`PoolElementNode::events`]: a rejected registration is reported there
//! (and tried again after the configured back-off,
//! [`PoolElementConfig::registration_retry`]).
//! [`PoolElementNode::deregister`] is the graceful stop: ASAP_DEREGISTRATION,
//! then the node stops.

use std::boxed::Box;
use std::collections::HashMap;
use std::format;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::vec::Vec;

use super::{Driver, Host, NodeConfig, Runner};
use crate::addr::{TransportProtocol, TransportUse};
use crate::cause::CauseCode;
use crate::id::{AssocId, PeId};
use crate::pool_element::{
    Event, OwnedTransport, PoolElement, PoolElementConfig, PoolElementError,
};
use crate::time::Instant;
use crate::transmit::{Machine, TransportEvent};
use crate::transport::{Framing, Incoming, Payload};
use crate::wire::Protocol;

/// What a pool element does with one request: the answer's bytes.
pub type Service = Box<dyn FnMut(&[u8]) -> Vec<u8> + Send>;

/// How many machine events wait for the application at most; more are
/// dropped (and counted, [`PoolElementNode::events_dropped`]).
pub const EVENT_CHANNEL_LEN: usize = 256;

/// The PE's counters, shared with its handle.
#[derive(Debug, Default)]
struct Counters {
    served: AtomicU64,
    registered: AtomicU64,
    registration_failures: AtomicU64,
    cookie_echoes: AtomicU64,
    events_dropped: AtomicU64,
}

/// Why [`PoolElementNode::deregister`] did not end in a confirmed
/// deregistration (the node is stopped all the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeregisterError {
    /// The PE was neither registered nor registering.
    NotRegistered,
    /// The registrar refused (its cause), or no registrar answered within
    /// T3-deregistration × (MAX-REQUEST-RETRANSMIT + 1) (`None`).
    Failed(Option<CauseCode>),
    /// No answer within the caller's timeout.
    Timeout,
    /// The node's thread was gone.
    Stopped,
}

impl core::fmt::Display for DeregisterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DeregisterError::NotRegistered => f.write_str("not registered"),
            DeregisterError::Failed(Some(cause)) => write!(f, "deregistration refused: {cause}"),
            DeregisterError::Failed(None) => f.write_str("deregistration not answered"),
            DeregisterError::Timeout => f.write_str("deregistration timed out"),
            DeregisterError::Stopped => f.write_str("pool element stopped"),
        }
    }
}

impl core::error::Error for DeregisterError {}

/// What a pool element's handle asks of its thread.
#[derive(Debug)]
enum Command {
    /// Deregister; the result goes to the sender.
    Deregister(mpsc::Sender<Result<(), DeregisterError>>),
}

struct Host_ {
    config: Option<PoolElementConfig>,
    machine: Option<PoolElement>,
    service: Service,
    cookie_every: u64,
    users: HashMap<AssocId, u64>,
    counters: Arc<Counters>,
    started: Option<mpsc::Sender<Result<PeId, io::Error>>>,
    events: mpsc::SyncSender<Event>,
    deregistering: Option<mpsc::Sender<Result<(), DeregisterError>>>,
}

impl Host for Host_ {
    type Command = Command;
    fn start(&mut self, d: &mut Driver) {
        let Some(mut config) = self.config.take() else {
            return;
        };
        let locals = d.asap_locals();
        let protocol = if d.sctp.is_some() {
            TransportProtocol::Sctp
        } else {
            TransportProtocol::Udp
        };
        let result = (|| {
            let local = *locals
                .first()
                .ok_or_else(|| io::Error::other("no socket"))?;
            // Every local address (SCTP multi-homing), each once.
            let mut ips: Vec<IpAddr> = Vec::new();
            for a in &locals {
                let ip = match a.ip() {
                    ip if ip.is_unspecified() && a.is_ipv4() => Ipv4Addr::LOCALHOST.into(),
                    ip if ip.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
                    ip => ip,
                };
                if !ips.contains(&ip) && ips.len() < crate::addr::MAX_TRANSPORT_ADDRESSES {
                    ips.push(ip);
                }
            }
            // SCTP: data plus control (COOKIE_ECHO arrives on this channel),
            // as rsplib's PEs register; UDP's parameter is data only.
            let transport_use = match protocol {
                TransportProtocol::Sctp => TransportUse::DataAndControl,
                _ => TransportUse::DataOnly,
            };
            config.user_transport =
                OwnedTransport::new(protocol, local.port(), transport_use, &ips)
                    .map_err(|e| io::Error::other(format!("{e:?}")))?;
            let mut machine =
                PoolElement::new(config).map_err(|e| io::Error::other(format!("{e:?}")))?;
            machine.register(d.now());
            let id = machine.pe_id();
            self.machine = Some(machine);
            Ok(id)
        })();
        if let Some(tx) = self.started.take() {
            let _ = tx.send(result);
        }
    }
    fn message(&mut self, d: &mut Driver, incoming: Incoming) {
        let Some(machine) = self.machine.as_mut() else {
            return;
        };
        match incoming.payload {
            Payload::Message(p) => {
                let now = d.now();
                machine.handle(now, incoming.source(), p, &incoming.bytes);
            }
            Payload::Data(_) => {
                let Some((number, request)) = incoming.bytes.split_at_checked(8) else {
                    return;
                };
                let answer = (self.service)(request);
                let mut reply = Vec::with_capacity(8 + answer.len());
                reply.extend_from_slice(number);
                reply.extend_from_slice(&answer);
                // Counted before it leaves, so that whoever got the answer sees the count.
                self.counters.served.fetch_add(1, Ordering::Relaxed);
                d.send_data(incoming.assoc, &reply);
                let n = self.users.entry(incoming.assoc).or_insert(0);
                *n += 1;
                if self.cookie_every > 0 && *n % self.cookie_every == 0 {
                    let cookie = format!("pe={} n={}", machine.pe_id().get(), *n);
                    let _ = machine.send_cookie(incoming.assoc, cookie.as_bytes());
                }
            }
        }
    }
    fn transport_event(&mut self, d: &mut Driver, event: TransportEvent) {
        if let TransportEvent::Down { assoc } = event {
            self.users.remove(&assoc);
        }
        if let Some(m) = self.machine.as_mut() {
            let now = d.now();
            m.handle_transport_event(now, event);
        }
    }
    fn command(&mut self, d: &mut Driver, command: Command) {
        match command {
            Command::Deregister(reply) => {
                let Some(m) = self.machine.as_mut() else {
                    let _ = reply.send(Err(DeregisterError::NotRegistered));
                    return;
                };
                let now = d.now();
                match m.deregister(now) {
                    Ok(()) => self.deregistering = Some(reply),
                    Err(PoolElementError::NotRegistered) => {
                        let _ = reply.send(Err(DeregisterError::NotRegistered));
                    }
                    Err(_) => {
                        let _ = reply.send(Err(DeregisterError::Failed(None)));
                    }
                }
            }
        }
    }
    fn timeout(&mut self, d: &mut Driver) {
        if let Some(m) = self.machine.as_mut() {
            let now = d.now();
            m.handle_timeout(now);
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.machine.as_ref().and_then(|m| m.poll_timeout())
    }
    fn flush(&mut self, d: &mut Driver) {
        let Some(m) = self.machine.as_mut() else {
            return;
        };
        d.drain(m);
        while let Some(e) = m.poll_event() {
            net_debug!("pool element {}: event", m.pe_id().get());
            match e {
                Event::Registered { .. } => {
                    self.counters.registered.fetch_add(1, Ordering::Relaxed);
                }
                Event::RegistrationFailed { .. } => {
                    self.counters
                        .registration_failures
                        .fetch_add(1, Ordering::Relaxed);
                }
                Event::CookieEcho { .. } => {
                    self.counters.cookie_echoes.fetch_add(1, Ordering::Relaxed);
                }
                Event::Deregistered => {
                    if let Some(reply) = self.deregistering.take() {
                        let _ = reply.send(Ok(()));
                    }
                }
                Event::DeregistrationFailed { cause } => {
                    if let Some(reply) = self.deregistering.take() {
                        let _ = reply.send(Err(DeregisterError::Failed(cause)));
                    }
                }
                _ => {}
            }
            if self.events.try_send(e).is_err() {
                self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        d.drain(m);
    }
}

/// A pool element (ASAP over UDP or SCTP) serving requests on its own
/// thread; see the [module](self) documentation. Dropping it stops it
/// (without deregistering, like a crash); [`shutdown`](Self::shutdown)
/// too; [`deregister`](Self::deregister) deregisters first.
#[derive(Debug)]
pub struct PoolElementNode {
    runner: Runner<Command>,
    pe_id: PeId,
    counters: Arc<Counters>,
    events: mpsc::Receiver<Event>,
}

impl PoolElementNode {
    /// Starts a pool element with `config` (its `user_transport` is
    /// replaced by the node's UDP socket, bound at `node.bind`) that
    /// registers at once and answers each request with `service`. A
    /// COOKIE goes to a pool user after every `cookie_every`-th answer to
    /// it (0: never).
    pub fn start(
        config: PoolElementConfig,
        node: NodeConfig,
        cookie_every: u64,
        service: Service,
    ) -> io::Result<Self> {
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel();
        let (events_tx, events) = mpsc::sync_channel(EVENT_CHANNEL_LEN);
        let host = Host_ {
            config: Some(config),
            machine: None,
            service,
            cookie_every,
            users: HashMap::new(),
            counters: counters.clone(),
            started: Some(tx),
            events: events_tx,
            deregistering: None,
        };
        let runner = Runner::start(&node, Protocol::Asap, Framing::Tagged, false, host)?;
        let pe_id = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .map_err(|_| io::Error::other("pool element did not start"))??;
        Ok(PoolElementNode {
            runner,
            pe_id,
            counters,
            events,
        })
    }

    /// The machine's events, in order: registrations, rejections (with the
    /// cause and when the registration is tried again), home changes,
    /// cookie echoes. At most [`EVENT_CHANNEL_LEN`] wait; later ones are
    /// dropped while the channel is full ([`events_dropped`](Self::events_dropped)).
    pub fn events(&self) -> &mpsc::Receiver<Event> {
        &self.events
    }

    /// Events dropped because nobody read [`events`](Self::events).
    pub fn events_dropped(&self) -> u64 {
        self.counters.events_dropped.load(Ordering::Relaxed)
    }

    /// Registrations rejected or left unanswered so far.
    pub fn registration_failures(&self) -> u64 {
        self.counters.registration_failures.load(Ordering::Relaxed)
    }

    /// The graceful stop: sends ASAP_DEREGISTRATION to the home registrar,
    /// waits for its answer (at most `timeout`), then stops the node.
    pub fn deregister(mut self, timeout: std::time::Duration) -> Result<(), DeregisterError> {
        let (tx, rx) = mpsc::channel();
        let result = if self.runner.send(Command::Deregister(tx)) {
            match rx.recv_timeout(timeout) {
                Ok(r) => r,
                Err(mpsc::RecvTimeoutError::Timeout) => Err(DeregisterError::Timeout),
                Err(mpsc::RecvTimeoutError::Disconnected) => Err(DeregisterError::Stopped),
            }
        } else {
            Err(DeregisterError::Stopped)
        };
        self.runner.shutdown();
        result
    }

    /// Its PE identifier.
    pub fn pe_id(&self) -> PeId {
        self.pe_id
    }

    /// Its user transport (where pool users reach it).
    pub fn local_addr(&self) -> SocketAddr {
        self.runner.local_addr()
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.counters.served.load(Ordering::Relaxed)
    }

    /// Registrations (and re-registrations) accepted so far.
    pub fn registrations(&self) -> u64 {
        self.counters.registered.load(Ordering::Relaxed)
    }

    /// COOKIE_ECHOs received from pool users that failed over to it.
    pub fn cookie_echoes(&self) -> u64 {
        self.counters.cookie_echoes.load(Ordering::Relaxed)
    }

    /// Stops it (no deregistration) and waits for its threads.
    pub fn shutdown(mut self) {
        self.runner.shutdown();
    }
}
