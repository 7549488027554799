//! Node hosts: the code that turns the sans-IO machines into a running
//! node, written once for every driver (feature `alloc`).
//!
//! A host owns a machine (a [`Registrar`](crate::registrar::Registrar), a
//! [`SessionElement`](crate::session::SessionElement) or a
//! [`SessionUser`](crate::session::SessionUser)) and the application on
//! top of it (a [`Service`] for a pool element, an [`Application`] for a
//! pool user). It knows which association belongs to what, runs the
//! timers, drains the machine's output and hands the application its
//! events. It reaches the outside world only through an [`Env`]: the
//! current time, sending a message with its PPID, opening and closing
//! associations, randomness, and a sink for statistics ([`Tally`]).
//!
//! Two drivers implement [`Env`] and call the [`Node`] methods: the
//! simulator (`sim`, feature `sim`: a virtual network with virtual time) and the
//! runtime (`runtime`, feature `runtime`: real sockets on tokio). The simulator
//! therefore runs exactly the code that ships.
//!
//! # The driver's contract
//!
//! The driver calls [`Node::start`] once, then for every input exactly one
//! of [`Node::handle_message`], [`Node::handle_transport_event`],
//! [`Node::handle_timeout`] (when [`Node::poll_timeout`] is due) or an
//! application call, then [`Node::flush`], which moves everything the
//! machine wants done into the [`Env`]. Association events caused by the
//! driver's own calls (an `Up` for a connect answered at once, a
//! `SendFailed`) are given back as further inputs, never from inside an
//! [`Env`] method.
//!
//! * [`registrar`]: [`RegistrarHost`] and a type-erased view of its
//!   handlespace for checks ([`RegistrarView`]).
//! * [`element`]: [`ElementHost`], a pool element whose [`Service`] sees
//!   every session, its messages with their PPID, and may answer at once,
//!   later, several times or never.
//! * [`user`]: [`UserHost`], a pool user whose [`Application`] opens
//!   sessions to pools and exchanges messages with their PEs.
//! * [`services`]: rsplib's standard services (echo, discard, daytime) and
//!   a delayed echo for simulations.
//! * [`calcapp`]: rsplib's CalcApp, a pool element service with a
//!   capacity shared among its jobs and a pool user that submits jobs and
//!   measures their handling times.
//! * [`load`]: an application that sends generated messages to a pool and
//!   checks every answer byte for byte ([`LoadGenerator`]).

pub mod calcapp;
pub mod element;
pub mod load;
pub mod registrar;
pub mod services;
pub mod user;

use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;
use core::fmt;

use crate::id::AssocId;
use crate::session::SessionConnect;
use crate::time::{Duration, Instant};
use crate::transmit::{Destination, Machine, Source, TransportEvent};
use crate::wire::{Protocol, ASAP_PPID, ENRP_PPID};

pub use element::{ElementHost, Service, ServiceCtx};
pub use load::{LoadConfig, LoadGenerator};
pub use registrar::{HeldPe, RegistrarHost, RegistrarView};
pub use user::{AppCtx, Application, UserHost};

/// Something a host counts, for the driver's statistics (the simulator's
/// counters, the runtime's node handles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tally {
    /// A registration (or re-registration) was granted to a pool element.
    Registered,
    /// A registration was rejected or not answered.
    RegistrationFailed,
    /// A pool element sent a COOKIE.
    CookieSent,
    /// A pool element received a COOKIE_ECHO.
    CookieEcho,
    /// A pool element's service sent a user message.
    Answer,
    /// A pool element's session ended or was refused.
    SessionClosed,
    /// A pool user's application issued a request.
    Request,
    /// A request was answered (the first answer).
    Served {
        /// From issue to answer.
        took: Duration,
        /// Whether its session failed over while it waited.
        failed_over: bool,
    },
    /// A session failed over (and reported its PE unreachable).
    Failover,
    /// An answer came that no request waited for (e.g. a second answer).
    Duplicate,
    /// An answer differed from what was expected.
    Mismatch,
    /// A machine could not queue a message for transmission (a machine's
    /// queue error), or a received message had no room in the
    /// application's ring.
    TransmitError,
}

/// What a host sees of the outside world while it handles one input.
pub trait Env {
    /// The current time.
    fn now(&self) -> Instant;
    /// Sends `bytes` with SCTP PPID `ppid` (11 ASAP, 12 ENRP, else user
    /// data) to `destination`. A failure is reported later as
    /// [`TransportEvent::SendFailed`].
    fn send(&mut self, destination: Destination, ppid: u32, bytes: &[u8]);
    /// Opens an association; `Up` or `ConnectFailed` follows as an input.
    fn connect(&mut self, connect: SessionConnect);
    /// Shuts an association down (no event follows at this end).
    fn close(&mut self, assoc: AssocId);
    /// A uniformly distributed random value (the node's own generator).
    fn random_u64(&mut self) -> u64;
    /// Counts something (nothing by default).
    fn record(&mut self, tally: Tally) {
        let _ = tally;
    }
    /// Whether [`log`](Self::log) writes anywhere (to skip formatting).
    fn tracing(&self) -> bool {
        false
    }
    /// Writes a line to the driver's event log (nowhere by default).
    fn log(&mut self, args: fmt::Arguments<'_>) {
        let _ = args;
    }
    /// A buffer of at least `len` bytes for the host to take its
    /// machine's received messages into (a session machine's `BUF`, the
    /// largest such message; what is sent needs none, it is lent from the
    /// machine); given back with [`give_buffer`](Self::give_buffer).
    fn take_buffer(&mut self, len: usize) -> Vec<u8> {
        vec![0; len]
    }
    /// Gives back a buffer taken with [`take_buffer`](Self::take_buffer).
    fn give_buffer(&mut self, buf: Vec<u8>) {
        drop(buf);
    }
}

impl dyn Env + '_ {
    /// A uniformly distributed duration in `0..=max`.
    pub fn random_duration(&mut self, max: Duration) -> Duration {
        let bound = max.as_micros().saturating_add(1);
        let r = ((u128::from(self.random_u64()) * u128::from(bound)) >> 64) as u64;
        Duration::from_micros(r)
    }
}

/// A running node as the drivers see it: one machine and its application
/// (see the [module documentation](self) for the calling order).
pub trait Node: Any {
    /// The node has just been created (at start or on a restart).
    fn start(&mut self, env: &mut dyn Env);
    /// A message arrived with SCTP PPID `ppid`.
    fn handle_message(&mut self, env: &mut dyn Env, source: Source, ppid: u32, bytes: &[u8]);
    /// An association came up, went down, could not be set up or failed a
    /// send.
    fn handle_transport_event(&mut self, env: &mut dyn Env, event: TransportEvent);
    /// Time has reached [`poll_timeout`](Node::poll_timeout).
    fn handle_timeout(&mut self, env: &mut dyn Env);
    /// The earliest time the node needs [`handle_timeout`](Node::handle_timeout).
    fn poll_timeout(&self) -> Option<Instant>;
    /// Moves the machine's pending output into `env`.
    fn flush(&mut self, env: &mut dyn Env);
    /// The node's registrar, if it is one (for handlespace checks).
    fn registrar(&self) -> Option<&dyn RegistrarView> {
        None
    }
    /// For downcasting to the concrete node type.
    fn as_any(&self) -> &dyn Any;
    /// For downcasting to the concrete node type.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// The protocol of an ASAP or ENRP PPID (`None` for user data).
pub const fn protocol_of(ppid: u32) -> Option<Protocol> {
    match ppid {
        ASAP_PPID => Some(Protocol::Asap),
        ENRP_PPID => Some(Protocol::Enrp),
        _ => None,
    }
}

/// The PPID of a protocol.
pub const fn ppid_of(protocol: Protocol) -> u32 {
    match protocol {
        Protocol::Asap => ASAP_PPID,
        Protocol::Enrp => ENRP_PPID,
    }
}

/// Moves everything `machine` wants done (connects, then messages) into
/// `env`; the messages' bytes go to `env` straight from the machine's
/// transmit queue.
pub fn drain_machine<M: Machine + ?Sized>(env: &mut dyn Env, machine: &mut M) {
    while let Some(c) = machine.poll_connect() {
        env.connect(SessionConnect::Registrar(c));
    }
    // The messages are lent from the machine's queue: no copy.
    while let Some((t, bytes)) = machine.peek_transmit() {
        env.send(t.destination, ppid_of(t.protocol), bytes);
        machine.consume_transmit();
    }
}

/// A node that is just a protocol machine, with no application: ASAP and
/// ENRP messages and transport events go to the machine, user data is
/// ignored.
pub struct MachineNode<M: Machine + 'static> {
    /// The machine.
    pub machine: M,
}

impl<M: Machine + 'static> MachineNode<M> {
    /// Wraps a machine.
    pub fn new(machine: M) -> Self {
        MachineNode { machine }
    }
}

impl<M: Machine + 'static> fmt::Debug for MachineNode<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MachineNode").finish_non_exhaustive()
    }
}

impl<M: Machine + 'static> Node for MachineNode<M> {
    fn start(&mut self, _env: &mut dyn Env) {}
    fn handle_message(&mut self, env: &mut dyn Env, source: Source, ppid: u32, bytes: &[u8]) {
        if let Some(protocol) = protocol_of(ppid) {
            self.machine.handle(env.now(), source, protocol, bytes);
        }
    }
    fn handle_transport_event(&mut self, env: &mut dyn Env, event: TransportEvent) {
        self.machine.handle_transport_event(env.now(), event);
    }
    fn handle_timeout(&mut self, env: &mut dyn Env) {
        self.machine.handle_timeout(env.now());
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }
    fn flush(&mut self, env: &mut dyn Env) {
        drain_machine(env, &mut self.machine);
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// How many of a machine's events a host keeps for inspection.
pub const EVENT_HISTORY: usize = 64;

/// Keeps the latest [`EVENT_HISTORY`] entries.
fn remember<T>(history: &mut alloc::collections::VecDeque<(Instant, T)>, now: Instant, e: T) {
    if history.len() == EVENT_HISTORY {
        history.pop_front();
    }
    history.push_back((now, e));
}

/// What a session machine ([`SessionElement`](crate::session::SessionElement),
/// [`SessionUser`](crate::session::SessionUser)) asks of the outside world.
trait SessionOutput {
    fn poll_close(&mut self) -> Option<AssocId>;
    fn poll_connect(&mut self) -> Option<SessionConnect>;
    fn peek_transmit(&self) -> Option<(crate::session::SessionTransmit, &[u8])>;
    fn consume_transmit(&mut self);
}

macro_rules! session_output {
    ($machine:ident < $(const $c:ident),* >) => {
        impl<$(const $c: usize),*> SessionOutput for crate::session::$machine<$($c),*> {
            fn poll_close(&mut self) -> Option<AssocId> {
                crate::session::$machine::poll_close(self)
            }
            fn poll_connect(&mut self) -> Option<SessionConnect> {
                crate::session::$machine::poll_connect(self)
            }
            fn peek_transmit(&self) -> Option<(crate::session::SessionTransmit, &[u8])> {
                crate::session::$machine::peek_transmit(self)
            }
            fn consume_transmit(&mut self) {
                crate::session::$machine::consume_transmit(self)
            }
        }
    };
}
session_output!(SessionElement<const S, const B, const M>);
session_output!(SessionUser<const S, const B, const M, const P, const E>);

/// Moves a session machine's output into `env`: closes first (a new
/// association to the same remote, a session that follows a closed one,
/// must not be taken for the old one), then connects, then messages, lent
/// from the machine (no copy); true if there was any.
fn drain_session(machine: &mut dyn SessionOutput, env: &mut dyn Env) -> bool {
    let mut any = false;
    while let Some(assoc) = machine.poll_close() {
        env.close(assoc);
        any = true;
    }
    while let Some(c) = machine.poll_connect() {
        env.connect(c);
        any = true;
    }
    while let Some((t, bytes)) = machine.peek_transmit() {
        env.send(t.destination, t.ppid, bytes);
        machine.consume_transmit();
        any = true;
    }
    any
}
