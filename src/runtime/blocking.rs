//! The nodes for programs without async code: the same nodes as the
//! [`runtime`](super) ones, with methods that block the calling thread
//! until they have their answer.
//!
//! A node started here runs on the caller's tokio runtime when there is
//! one, else on the crate's [shared runtime](super::shared_runtime) (two
//! worker threads for the whole process). The blocking methods must not
//! be called from within an async task: they panic there, naming the
//! async method to call instead. [`into_async`](RegistrarNode::into_async)
//! gives the async handle of the same node.
//!
//! ```no_run
//! use core::time::Duration;
//! use rserpool::host::services::Echo;
//! use rserpool::id::{PoolHandle, ServerId};
//! use rserpool::runtime::blocking::{PoolElementNode, PoolUserNode, RegistrarNode};
//! use rserpool::runtime::{loopback, NodeConfig};
//!
//! let any = || NodeConfig::new("127.0.0.1:0".parse().expect("an address"));
//! let pool = PoolHandle::new(b"echo").expect("a handle");
//! let registrar =
//!     RegistrarNode::start(loopback::registrar(ServerId::new(1).expect("not zero")), any())?;
//! let at = [registrar.local_addr()];
//! let pe = PoolElementNode::start(loopback::element(pool, &at, 1), any(), Box::new(Echo))?;
//! let pu = PoolUserNode::start(loopback::user(&at, 2), any(), Duration::from_millis(500))?;
//! let (by, answer) = pu.request(&pool, b"hello", Duration::from_secs(5)).expect("an answer");
//! assert_eq!((by, &answer[..]), (pe.pe_id(), &b"hello"[..]));
//! pe.shutdown(Duration::from_secs(3)).expect("deregistered");
//! # Ok::<(), std::io::Error>(())
//! ```

use core::time::Duration;
use std::boxed::Box;
use std::io;
use std::net::SocketAddr;
use std::vec::Vec;

use super::{block_on, ElementEvent, NodeConfig, NodeCounters, RegistrarStatus};
use crate::host::{AppCtx, Application, Service};
use crate::id::{PeId, PoolHandle};
use crate::pool_element::PoolElementConfig;
use crate::pool_user::PoolUserConfig;
use crate::registrar::RegistrarConfig;
use crate::session::SessionUserConfig;
use crate::Policy;

pub use super::user::{Resolved, SessionEvent};
pub use super::{DeregisterError, RequestError};

/// A registrar; see [`runtime::RegistrarNode`](super::RegistrarNode).
/// Dropping it stops it.
#[derive(Debug)]
pub struct RegistrarNode(super::RegistrarNode);

impl RegistrarNode {
    /// Starts a registrar (see
    /// [`runtime::RegistrarNode::start`](super::RegistrarNode::start)).
    pub fn start(config: RegistrarConfig, node: NodeConfig) -> io::Result<Self> {
        super::RegistrarNode::start(config, node).map(RegistrarNode)
    }

    /// Where it listens for ENRP, when ENRP is enabled.
    pub fn enrp_addr(&self) -> Option<SocketAddr> {
        self.0.enrp_addr()
    }

    /// What the node counted (capture errors, dropped events).
    pub fn counters(&self) -> &NodeCounters {
        self.0.counters()
    }

    /// Where it listens for ASAP (the first address).
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    /// Every address it listens on for ASAP.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.0.local_addrs()
    }

    /// Its status now (`None` when it has stopped); see
    /// [`runtime::RegistrarNode::status`](super::RegistrarNode::status).
    pub fn status(&self) -> Option<RegistrarStatus> {
        block_on("RegistrarNode::status", self.0.status())
    }

    /// A page of its handlespace; see
    /// [`runtime::RegistrarNode::elements`](super::RegistrarNode::elements).
    pub fn elements(
        &self,
        after: Option<(PoolHandle, PeId)>,
        limit: usize,
    ) -> Option<Vec<(PoolHandle, PeId)>> {
        block_on("RegistrarNode::elements", self.0.elements(after, limit))
    }

    /// A snapshot for operators (see
    /// [`runtime::RegistrarNode::snapshot`](super::RegistrarNode::snapshot)).
    pub fn snapshot(
        &self,
        after: Option<(PoolHandle, PeId)>,
        limit: usize,
    ) -> Option<super::RegistrarSnapshot> {
        block_on("RegistrarNode::snapshot", self.0.snapshot(after, limit))
    }

    /// A handle that takes snapshots without keeping the registrar running
    /// (for a status server).
    pub fn status_handle(&self) -> super::StatusHandle {
        self.0.status_handle()
    }

    /// Stops the registrar and waits until its sockets are closed.
    pub fn shutdown(self) {
        block_on("RegistrarNode::stop", self.0.stop());
    }

    /// The async handle of the same node.
    pub fn into_async(self) -> super::RegistrarNode {
        self.0
    }
}

impl From<super::RegistrarNode> for RegistrarNode {
    /// The blocking handle of a node started with the async API.
    fn from(node: super::RegistrarNode) -> Self {
        RegistrarNode(node)
    }
}

/// A pool element; see [`runtime::PoolElementNode`](super::PoolElementNode).
/// Dropping it stops it without deregistering (as a crash would).
#[derive(Debug)]
pub struct PoolElementNode(super::PoolElementNode);

impl PoolElementNode {
    /// Starts a pool element (see
    /// [`runtime::PoolElementNode::start`](super::PoolElementNode::start)).
    pub fn start(
        config: PoolElementConfig,
        node: NodeConfig,
        service: Box<dyn Service + Send>,
    ) -> io::Result<Self> {
        super::PoolElementNode::start(config, node, service).map(PoolElementNode)
    }

    /// Starts a pool element in "ASAP only" mode (see
    /// [`runtime::PoolElementNode::register`](super::PoolElementNode::register)):
    /// it registers the program's own `config.user_transport` and keeps
    /// the registration alive.
    pub fn register(config: PoolElementConfig, node: NodeConfig) -> io::Result<Self> {
        super::PoolElementNode::register(config, node).map(PoolElementNode)
    }

    /// What the node counted: answers, cookies, registrations, ...
    pub fn counters(&self) -> &NodeCounters {
        self.0.counters()
    }

    /// The machine's next event, waiting at most `timeout` for it (see
    /// [`runtime::PoolElementNode::next_event`](super::PoolElementNode::next_event)).
    pub fn next_event(&mut self, timeout: Duration) -> Option<ElementEvent> {
        let next = self.0.next_event();
        block_on("PoolElementNode::next_event", async {
            tokio::time::timeout(timeout, next).await.ok().flatten()
        })
    }

    /// The next event if one is waiting (never waits).
    pub fn try_event(&mut self) -> Option<ElementEvent> {
        self.0.try_event()
    }

    /// Events dropped because nobody read them.
    pub fn events_dropped(&self) -> u64 {
        self.0.events_dropped()
    }

    /// Registrations rejected or left unanswered so far.
    pub fn registration_failures(&self) -> u64 {
        self.0.registration_failures()
    }

    /// Changes the PE's policy and load at run time (see
    /// [`runtime::PoolElementNode::set_policy`](super::PoolElementNode::set_policy)).
    pub fn set_policy(&self, policy: Policy) -> bool {
        block_on("PoolElementNode::set_policy", self.0.set_policy(policy))
    }

    /// Deregisters the PE and waits (at most `timeout`) for the
    /// registrar's answer; the node keeps serving its sessions (see
    /// [`runtime::PoolElementNode::deregister`](super::PoolElementNode::deregister)).
    pub fn deregister(&self, timeout: Duration) -> Result<(), DeregisterError> {
        block_on("PoolElementNode::deregister", async {
            tokio::time::timeout(timeout, self.0.deregister())
                .await
                .unwrap_or(Err(DeregisterError::Timeout))
        })
    }

    /// The graceful stop: deregisters (waiting at most `timeout` for the
    /// answer), then stops the node and waits until its sockets are
    /// closed. The node is stopped whatever the deregistration's outcome.
    pub fn shutdown(self, timeout: Duration) -> Result<(), DeregisterError> {
        let r = self.deregister(timeout);
        self.stop();
        r
    }

    /// Stops the node without deregistering (as a crash would) and waits
    /// until its sockets are closed.
    pub fn stop(self) {
        block_on("PoolElementNode::stop", self.0.stop());
    }

    /// Its PE identifier.
    pub fn pe_id(&self) -> PeId {
        self.0.pe_id()
    }

    /// Its user transport (where pool users reach it).
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    /// User messages its service sent so far (an echo: messages served).
    pub fn served(&self) -> u64 {
        self.0.served()
    }

    /// Registrations (and re-registrations) accepted so far.
    pub fn registrations(&self) -> u64 {
        self.0.registrations()
    }

    /// COOKIE_ECHOs received from pool users that failed over to it.
    pub fn cookie_echoes(&self) -> u64 {
        self.0.cookie_echoes()
    }

    /// The async handle of the same node.
    pub fn into_async(self) -> super::PoolElementNode {
        self.0
    }
}

impl From<super::PoolElementNode> for PoolElementNode {
    /// The blocking handle of a node started with the async API.
    fn from(node: super::PoolElementNode) -> Self {
        PoolElementNode(node)
    }
}

/// A pool user running an [`Application`]; see
/// [`runtime::AppNode`](super::AppNode). Dropping it stops it.
#[derive(Debug)]
pub struct AppNode<A>(super::AppNode<A>);

impl<A: Application + Send> AppNode<A> {
    /// Starts a pool user with `config` running `app`.
    pub fn start(config: SessionUserConfig, node: NodeConfig, app: A) -> io::Result<Self> {
        super::AppNode::start(config, node, app).map(AppNode)
    }

    /// Runs `f` on the application in the node's task and returns the
    /// result; `None` when the node has stopped.
    pub fn with_app<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut A, &mut AppCtx<'_>) -> R + Send + 'static,
    ) -> Option<R> {
        block_on("AppNode::with_app", self.0.with_app(f))
    }

    /// What the node counted: requests, answers, failovers, ...
    pub fn counters(&self) -> &NodeCounters {
        self.0.counters()
    }

    /// The node's socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    /// Stops it and waits until its sockets are closed.
    pub fn shutdown(self) {
        block_on("AppNode::stop", self.0.stop());
    }

    /// The async handle of the same node.
    pub fn into_async(self) -> super::AppNode<A> {
        self.0
    }
}

impl<A> From<super::AppNode<A>> for AppNode<A> {
    /// The blocking handle of a node started with the async API.
    fn from(node: super::AppNode<A>) -> Self {
        AppNode(node)
    }
}

/// A request/response pool user; see
/// [`runtime::PoolUserNode`](super::PoolUserNode). Dropping it stops it.
#[derive(Debug)]
pub struct PoolUserNode(super::PoolUserNode);

impl PoolUserNode {
    /// Starts a pool user (see
    /// [`runtime::PoolUserNode::start`](super::PoolUserNode::start)).
    pub fn start(
        config: PoolUserConfig,
        node: NodeConfig,
        attempt_timeout: Duration,
    ) -> io::Result<Self> {
        super::PoolUserNode::start(config, node, attempt_timeout).map(PoolUserNode)
    }

    /// Sends `request` to a PE of `pool` and waits for the answer (see
    /// [`runtime::PoolUserNode::request`](super::PoolUserNode::request)).
    pub fn request(
        &self,
        pool: &PoolHandle,
        request: &[u8],
        timeout: Duration,
    ) -> Result<(PeId, Vec<u8>), RequestError> {
        block_on(
            "PoolUserNode::request",
            self.0.request(pool, request, timeout),
        )
    }

    /// The PEs of `pool` with their user transports and policies (rsplib's
    /// `rsp_getaddrinfo`; see
    /// [`runtime::PoolUserNode::resolve`](super::PoolUserNode::resolve)).
    ///
    /// ```no_run
    /// # fn run(pu: &rserpool::runtime::blocking::PoolUserNode) -> Result<(), rserpool::runtime::RequestError> {
    /// let pool = rserpool::PoolHandle::new(b"echo").expect("a handle");
    /// for pe in pu.resolve(&pool)? {
    ///     println!("{:?} at {:?}", pe.pe, pe.addresses);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn resolve(&self, pool: &PoolHandle) -> Result<Vec<Resolved>, RequestError> {
        block_on("PoolUserNode::resolve", self.0.resolve(pool))
    }

    /// Opens a session to `pool` and waits until it is on a PE (see
    /// [`runtime::PoolUserNode::connect`](super::PoolUserNode::connect)).
    ///
    /// ```no_run
    /// # fn run(pu: &rserpool::runtime::blocking::PoolUserNode) -> Result<(), rserpool::runtime::RequestError> {
    /// use core::time::Duration;
    /// let pool = rserpool::PoolHandle::new(b"echo").expect("a handle");
    /// let mut session = pu.connect(&pool)?;
    /// session.send(0, b"ping")?;
    /// match session.recv(Duration::from_secs(1)) {
    ///     Some((ppid, answer)) => println!("{ppid}: {answer:?}"),
    ///     None if session.is_closed() => println!("the session ended"),
    ///     None => session.failover()?, // the PE is late: the next one
    /// }
    /// session.close();
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect(&self, pool: &PoolHandle) -> Result<UserSession, RequestError> {
        block_on("PoolUserNode::connect", self.0.connect(pool)).map(UserSession)
    }

    /// The largest user message the node sends (see
    /// [`runtime::PoolUserNode::max_message_size`](super::PoolUserNode::max_message_size)).
    pub fn max_message_size(&self) -> usize {
        self.0.max_message_size()
    }

    /// Session failovers so far.
    pub fn failovers(&self) -> u64 {
        self.0.failovers()
    }

    /// What the node counted: requests, answers, failovers, ...
    pub fn counters(&self) -> &NodeCounters {
        self.0.counters()
    }

    /// The node's socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    /// Stops it and waits until its sockets are closed.
    pub fn shutdown(self) {
        block_on("PoolUserNode::stop", self.0.stop());
    }

    /// The async handle of the same node.
    pub fn into_async(self) -> super::PoolUserNode {
        self.0
    }
}

impl From<super::PoolUserNode> for PoolUserNode {
    /// The blocking handle of a node started with the async API.
    fn from(node: super::PoolUserNode) -> Self {
        PoolUserNode(node)
    }
}

/// A session of a pool user; see
/// [`runtime::UserSession`](super::UserSession). Dropping it closes the
/// session.
#[derive(Debug)]
pub struct UserSession(super::UserSession);

impl UserSession {
    /// The session's number in its node.
    pub fn id(&self) -> crate::session::SessionId {
        self.0.id()
    }

    /// The pool.
    pub fn pool(&self) -> &PoolHandle {
        self.0.pool()
    }

    /// The PE the session is on, as of the latest event taken.
    pub fn pe(&self) -> Option<PeId> {
        self.0.pe()
    }

    /// Failovers taken so far.
    pub fn failovers(&self) -> u64 {
        self.0.failovers()
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Messages dropped because the handle's queue was full.
    pub fn dropped(&self) -> u64 {
        self.0.dropped()
    }

    /// Events other than messages dropped because the handle's queue was
    /// full.
    pub fn events_dropped(&self) -> u64 {
        self.0.events_dropped()
    }

    /// Sends `bytes` with PPID `ppid` (see
    /// [`runtime::UserSession::send`](super::UserSession::send)).
    pub fn send(&mut self, ppid: u32, bytes: &[u8]) -> Result<(), RequestError> {
        block_on("UserSession::send", self.0.send(ppid, bytes))
    }

    /// The next user message, waiting at most `timeout`; `None` when none
    /// came in time or the session has ended ([`is_closed`](Self::is_closed)).
    pub fn recv(&mut self, timeout: Duration) -> Option<(u32, Vec<u8>)> {
        let s = &mut self.0;
        block_on("UserSession::recv", async {
            tokio::time::timeout(timeout, s.recv()).await.ok().flatten()
        })
    }

    /// The next event (messages included), waiting at most `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<SessionEvent> {
        let s = &mut self.0;
        block_on("UserSession::next_event", async {
            tokio::time::timeout(timeout, s.next_event())
                .await
                .ok()
                .flatten()
        })
    }

    /// The next event if one is waiting (never waits).
    pub fn try_event(&mut self) -> Option<SessionEvent> {
        self.0.try_event()
    }

    /// Moves the session to another PE (see
    /// [`runtime::UserSession::failover`](super::UserSession::failover)).
    pub fn failover(&mut self) -> Result<(), RequestError> {
        block_on("UserSession::failover", self.0.failover())
    }

    /// Closes the session and waits until the node has done so.
    pub fn close(self) {
        block_on("UserSession::close", self.0.close());
    }

    /// The async handle of the same session.
    pub fn into_async(self) -> super::UserSession {
        self.0
    }
}
