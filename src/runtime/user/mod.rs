//! Pool users on a socket: the crate's [`UserHost`] (as the simulator runs
//! it) over the runtime's sockets.
//!
//! * [`PoolUserNode`] is the pool user of the host API, rsplib's
//!   `rsp_*` calls for tokio:
//!   * [`connect`](PoolUserNode::connect) opens a session to a pool
//!     ([`UserSession`]): user messages with their PPID to and from the PE
//!     the pool's policy chose, failover to the next PE with the session's
//!     cookie, the session's events in order ([`SessionEvent`]);
//!   * [`resolve`](PoolUserNode::resolve) gives the pool's PEs and their
//!     transport addresses, for programs that talk to them themselves
//!     (rsplib's `rsp_getaddrinfo`);
//!   * [`request`](PoolUserNode::request) sends one message and waits for
//!     the answer on a session of its own, failing over when a PE does not
//!     answer in time.
//!
//!   Every call fails with a typed [`RequestError`] as soon as the failure
//!   is known: the registrar's Unknown Pool Handle
//!   ([`UnknownPool`](RequestError::UnknownPool)), no registrar answering
//!   ([`NoRegistrar`](RequestError::NoRegistrar), once every known
//!   registrar had its T1), a message larger than the transport carries
//!   ([`TooLarge`](RequestError::TooLarge), before anything is sent),
//!   every PE of the pool failing ([`AllFailed`](RequestError::AllFailed));
//!   a request's own bound is [`Timeout`](RequestError::Timeout).
//!
//!   After an Unknown Pool Handle answer the node does not ask the
//!   registrars for that pool again before a back-off has passed
//!   ([`UNKNOWN_POOL_BACKOFF`], doubled after each further such answer up
//!   to [`UNKNOWN_POOL_BACKOFF_MAX`], forgotten once the pool resolves):
//!   calls for the pool meanwhile fail at once with
//!   [`UnknownPool`](RequestError::UnknownPool). A program that asks in a
//!   loop for a pool that does not exist (yet) thus sends a handful of
//!   resolutions in 5 s, not one per try.
//! * [`AppNode`] runs any [`Application`] over a [`SessionUser`]; the
//!   handle reaches the application in the node's task with
//!   [`AppNode::with_app`].
//!
//! A node has one socket (UDP or SCTP), hence one association per PE:
//! while one session of the node is on a PE, a second session's connect
//! to that PE fails (the session fails over to another PE, or ends when
//! the pool has no other), so two sessions never share an association and
//! never see each other's messages. Requests run one after the other for
//! that reason (callers wait their turn); a program that needs several
//! sessions on one PE starts a node for each. The refused connect is a
//! failed connect to the session layer: the PE is reported unreachable to
//! the registrar (which drops a PE after several such reports), so a
//! program that keeps sessions open and also sends requests to the same
//! pool is better served by a second node for the requests.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use core::time::Duration;
//! use rserpool::id::PoolHandle;
//! use rserpool::runtime::{loopback, NodeConfig, PoolUserNode, RequestError};
//!
//! let registrar = "127.0.0.1:3863".parse()?;
//! let pu = PoolUserNode::start(
//!     loopback::user(&[registrar], 1),
//!     NodeConfig::new("127.0.0.1:0".parse()?),
//!     Duration::from_millis(500),
//! )?;
//! let pool = PoolHandle::new(b"echo")?;
//! match pu.resolve(&pool).await {
//!     Ok(pes) => println!("{} PEs", pes.len()),
//!     Err(RequestError::UnknownPool) => println!("no such pool (yet)"),
//!     Err(e) => return Err(e.into()),
//! }
//! let mut session = pu.connect(&pool).await?;
//! session.send(0, b"hello").await?;
//! if let Some((ppid, answer)) = session.recv().await {
//!     println!("{ppid}: {answer:?} from {:?}", session.pe());
//! }
//! session.close().await;
//! # Ok(())
//! # }
//! ```

mod app;
mod backoff;
mod session;

use std::io;
use std::net::SocketAddr;
use std::vec::Vec;

use tokio::sync::{mpsc, oneshot};

use super::{Command, Driver, NodeConfig, NodeCounters, Runner};
use crate::addr::{TransportProtocol, TransportUse};
use crate::cause::CauseCode;
use crate::host::{AppCtx, Application, Node, UserHost};
use crate::id::{PeId, PoolHandle};
use crate::policy::Policy;
use crate::pool_user::{CachedElement, PoolUserConfig, PoolUserError};
use crate::session::{ResendPolicy, SessionError, SessionUser, SessionUserConfig};
use crate::time::Duration;
use crate::transport::Framing;
use crate::wire::Protocol;

pub use app::Requests;
pub use backoff::{UNKNOWN_POOLS, UNKNOWN_POOL_BACKOFF, UNKNOWN_POOL_BACKOFF_MAX};
pub use session::{SessionEvent, UserSession, SESSION_BYTES, SESSION_EVENTS, SESSION_MESSAGES};

/// How long a session whose resolution failed waits before it resolves
/// again (the [`SessionUserConfig::retry_interval`] of a [`PoolUserNode`]).
pub const RETRY_INTERVAL: core::time::Duration = core::time::Duration::from_millis(200);

/// Sessions a runtime pool user keeps open at once.
pub const SESSIONS: usize = 64;

/// The host an [`AppNode`] runs: up to [`SESSIONS`] sessions, 64 KiB and
/// 512 messages waiting each way, 8 pools of 32 PEs cached.
pub type RuntimeUser<A> = UserHost<A, SESSIONS, 65_536, 512, 8, 32>;

/// A pool user running application `A` as a tokio task. Dropping it
/// stops it.
#[derive(Debug)]
pub struct AppNode<A> {
    runner: Runner,
    _app: core::marker::PhantomData<fn() -> A>,
}

impl<A: Application + Send> AppNode<A> {
    /// Starts a pool user with `config` running `app`. Returns once the
    /// sockets are bound; runs on the caller's tokio runtime, else on the
    /// [shared one](super::shared_runtime).
    pub fn start(config: SessionUserConfig, node: NodeConfig, app: A) -> io::Result<Self> {
        let (runner, ()) = Runner::start(
            &node,
            Protocol::Asap,
            Framing::Plain,
            false,
            move |_d: &mut Driver| {
                let host = RuntimeUser::new(Box::new(SessionUser::new(config)), app);
                Ok((Box::new(host) as Box<dyn Node + Send>, ()))
            },
        )?;
        Ok(AppNode {
            runner,
            _app: core::marker::PhantomData,
        })
    }

    /// Runs `f` on the application in the node's task (its output is
    /// flushed afterwards) and returns the result; `None` when the node
    /// has stopped.
    pub async fn with_app<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut A, &mut AppCtx<'_>) -> R + Send + 'static,
    ) -> Option<R> {
        self.runner
            .ask(move |node, d| {
                let host = node.as_any_mut().downcast_mut::<RuntimeUser<A>>()?;
                Some(host.with_app(d, f))
            })
            .await
    }

    /// What the node counted: requests, answers, failovers, ...
    pub fn counters(&self) -> &NodeCounters {
        &self.runner.counters
    }

    /// The node's socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.runner.local_addr()
    }

    /// Stops it and waits until its sockets are closed.
    pub async fn stop(mut self) {
        self.runner.stop().await;
    }
}

/// Why a pool user call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The registrars do not know the pool (they answered Unknown Pool
    /// Handle; every known registrar was asked), or the pool is in its
    /// back-off after such an answer ([`UNKNOWN_POOL_BACKOFF`]).
    UnknownPool,
    /// No registrar answered the resolution: none could be reached, or
    /// none answered within T1 (each known registrar was tried).
    NoRegistrar,
    /// A registrar refused the resolution with another cause.
    Refused {
        /// The registrar's cause.
        cause: CauseCode,
    },
    /// The message is larger than the node's transport carries; nothing
    /// was sent.
    TooLarge {
        /// The message's length.
        len: usize,
        /// The largest message the node sends
        /// ([`PoolUserNode::max_message_size`]).
        limit: usize,
    },
    /// Every PE of the pool failed: the session failed over from each PE
    /// it reached until none was left (the registrar then no longer knew
    /// the pool, or listed no other) or too many failovers in a row.
    AllFailed,
    /// No PE answered before the request's timeout.
    Timeout,
    /// The session has ended (see its [`SessionEvent::Closed`]).
    Closed,
    /// The session layer refused the call (e.g. every session slot is
    /// taken, PPID 11 is ASAP's).
    Session(SessionError),
    /// The pool user could not start the resolution (e.g. its cache is
    /// full of pools being resolved).
    Resolve(PoolUserError),
    /// The pool user has stopped.
    Stopped,
}

impl core::fmt::Display for RequestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RequestError::UnknownPool => f.write_str("the registrars do not know the pool"),
            RequestError::NoRegistrar => f.write_str("no registrar answered"),
            RequestError::Refused { cause } => {
                write!(f, "the registrar refused the resolution: {cause:?}")
            }
            RequestError::TooLarge { len, limit } => write!(
                f,
                "a message of {len} bytes is larger than the {limit} bytes the node sends"
            ),
            RequestError::AllFailed => f.write_str("every pool element of the pool failed"),
            RequestError::Timeout => f.write_str("no pool element answered in time"),
            RequestError::Closed => f.write_str("the session has ended"),
            RequestError::Session(_) => f.write_str("the session layer refused the call"),
            RequestError::Resolve(_) => f.write_str("the resolution could not start"),
            RequestError::Stopped => f.write_str("the pool user has stopped"),
        }
    }
}

impl core::error::Error for RequestError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            RequestError::Session(e) => Some(e),
            RequestError::Resolve(e) => Some(e),
            _ => None,
        }
    }
}

/// A PE of a pool as [`PoolUserNode::resolve`] gives it (one entry of
/// rsplib's `rsp_getaddrinfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The PE.
    pub pe: PeId,
    /// How to reach it: SCTP, TCP or UDP.
    pub protocol: TransportProtocol,
    /// Whether its user transport carries data only or data and control.
    pub transport_use: TransportUse,
    /// Its user transport's addresses with the port, in the registrar's
    /// order (as many as the pool user caches).
    pub addresses: Vec<SocketAddr>,
    /// Its policy parameters (`None`: a policy this crate does not know).
    pub policy: Option<Policy>,
}

impl From<CachedElement> for Resolved {
    fn from(e: CachedElement) -> Self {
        let port = e.transport.port;
        Resolved {
            pe: e.pe_id,
            protocol: e.transport.protocol,
            transport_use: e.transport.transport_use,
            addresses: e
                .transport
                .addresses
                .iter()
                .map(|ip| SocketAddr::new(*ip, port))
                .collect(),
            policy: e.policy,
        }
    }
}

/// The PPID of requests and answers.
pub const REQUEST_PPID: u32 = 0;

/// The largest user message a node sends over UDP: the largest datagram
/// less the 4-byte PPID in front.
pub const MAX_UDP_MESSAGE: usize = crate::transport::tokio::udp::MAX_SEND - 4;

/// The largest user message a node sends over SCTP: what its transmit
/// ring holds.
pub const MAX_SCTP_MESSAGE: usize = 65_536;

/// A command that runs `f` on a [`PoolUserNode`]'s application.
pub(crate) fn app_command(
    f: impl FnOnce(&mut Requests, &mut AppCtx<'_>) + Send + 'static,
) -> Command {
    Box::new(move |node, d| {
        if let Some(host) = node.as_any_mut().downcast_mut::<RuntimeUser<Requests>>() {
            host.with_app(d, f);
        }
    })
}

/// Runs `f` on a [`PoolUserNode`]'s application over `tx` and waits for
/// what it returns; `None` when the node has stopped.
pub(crate) async fn ask_app<R: Send + 'static>(
    tx: &mpsc::Sender<Command>,
    f: impl FnOnce(&mut Requests, &mut AppCtx<'_>) -> R + Send + 'static,
) -> Option<R> {
    let (rtx, rrx) = oneshot::channel();
    tx.send(app_command(move |app, ctx| {
        let _ = rtx.send(f(app, ctx));
    }))
    .await
    .ok()?;
    rrx.await.ok()
}

/// A pool user with a request/response client as a tokio task; see the
/// [module](self) documentation. Dropping it stops it.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use core::time::Duration;
/// use rserpool::id::PoolHandle;
/// use rserpool::runtime::{loopback, NodeConfig, PoolUserNode};
///
/// let registrar = "127.0.0.1:3863".parse().expect("an address");
/// let pu = PoolUserNode::start(
///     loopback::user(&[registrar], 1),
///     NodeConfig::new("127.0.0.1:0".parse().expect("an address")),
///     Duration::from_millis(500),
/// )?;
/// let pool = PoolHandle::new(b"echo").expect("a handle");
/// match pu.request(&pool, b"hello", Duration::from_secs(5)).await {
///     Ok((pe, answer)) => println!("{pe:?} answered {answer:?}"),
///     Err(e) => eprintln!("no answer: {e}"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PoolUserNode {
    node: AppNode<Requests>,
    limit: usize,
}

impl PoolUserNode {
    /// Starts a pool user with `config` (its registrars: where to resolve)
    /// whose requests fail over when a PE has not answered within
    /// `attempt_timeout`. Its sessions try a failed resolution again after
    /// [`RETRY_INTERVAL`] and resend the last unanswered message after a
    /// failover.
    pub fn start(
        config: PoolUserConfig,
        node: NodeConfig,
        attempt_timeout: core::time::Duration,
    ) -> io::Result<Self> {
        let limit = if node.sctp.is_some() {
            MAX_SCTP_MESSAGE
        } else {
            MAX_UDP_MESSAGE
        };
        // A resolution ends within T1 per try and registrar; the bound on
        // a `resolve` is a safety net beyond that.
        let tries = u64::from(config.max_request_retransmit.saturating_add(1))
            .saturating_mul(config.registrars.len().max(1) as u64)
            .saturating_add(1);
        let resolve_timeout = config.t1_enrp_request.saturating_mul(tries);
        let mut su = SessionUserConfig::new(config);
        su.resend = ResendPolicy::LastUnacknowledged(1);
        su.retry_interval = Duration::from(RETRY_INTERVAL);
        let app = Requests::new(Duration::from(attempt_timeout), resolve_timeout, limit);
        Ok(PoolUserNode {
            node: AppNode::start(su, node, app)?,
            limit,
        })
    }

    /// The largest user message the node sends: [`MAX_UDP_MESSAGE`] over
    /// UDP, [`MAX_SCTP_MESSAGE`] over SCTP. Larger ones are refused with
    /// [`RequestError::TooLarge`] before anything is sent.
    pub fn max_message_size(&self) -> usize {
        self.limit
    }

    /// Sends `request` to a PE of `pool` and waits for the answer (the
    /// first message on the request's session), failing over to other PEs
    /// when one does not answer within the attempt timeout, for at most
    /// `timeout`. Returns the PE that answered and its answer. Fails as
    /// soon as the failure is known (see [`RequestError`]).
    ///
    /// ```no_run
    /// # async fn run(pu: &rserpool::runtime::PoolUserNode) {
    /// use core::time::Duration;
    /// use rserpool::runtime::RequestError;
    /// let pool = rserpool::PoolHandle::new(b"echo").expect("a handle");
    /// match pu.request(&pool, b"hello", Duration::from_secs(5)).await {
    ///     Ok((pe, answer)) => println!("{pe:?}: {answer:?}"),
    ///     Err(RequestError::UnknownPool) => println!("no such pool"),
    ///     Err(RequestError::TooLarge { limit, .. }) => println!("at most {limit} bytes"),
    ///     Err(e) => println!("{e}"),
    /// }
    /// # }
    /// ```
    pub async fn request(
        &self,
        pool: &PoolHandle,
        request: &[u8],
        timeout: core::time::Duration,
    ) -> Result<(PeId, Vec<u8>), RequestError> {
        if request.len() > self.limit {
            return Err(RequestError::TooLarge {
                len: request.len(),
                limit: self.limit,
            });
        }
        let (tx, rx) = oneshot::channel();
        let pool = *pool;
        let body = request.to_vec();
        let asked = self
            .node
            .with_app(move |app, ctx| {
                let p = app::Pending {
                    pool,
                    body,
                    deadline: ctx.now() + Duration::from(timeout),
                    reply: tx,
                    session: None,
                    seq: 0,
                    attempt: None,
                    failovers: 0,
                    unanswered: 0,
                };
                app.add(ctx, p);
            })
            .await;
        if asked.is_none() {
            return Err(RequestError::Stopped);
        }
        // The node answers by the deadline.
        rx.await.unwrap_or(Err(RequestError::Stopped))
    }

    /// The PEs of `pool` with their user transports and policies (rsplib's
    /// `rsp_getaddrinfo`): from the node's cache when it holds the pool
    /// (a stale answer is given while the pool is resolved again), else
    /// once a registrar has answered. At most 32 PEs (the cache's size
    /// per pool), in the registrar's order.
    ///
    /// ```no_run
    /// # async fn run(pu: &rserpool::runtime::PoolUserNode) -> Result<(), rserpool::runtime::RequestError> {
    /// let pool = rserpool::PoolHandle::new(b"echo").expect("a handle");
    /// for pe in pu.resolve(&pool).await? {
    ///     println!("{:?} over {:?} at {:?}", pe.pe, pe.protocol, pe.addresses);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn resolve(&self, pool: &PoolHandle) -> Result<Vec<Resolved>, RequestError> {
        let (tx, rx) = oneshot::channel();
        let pool = *pool;
        let asked = self
            .node
            .with_app(move |app, ctx| app.resolve(ctx, pool, tx))
            .await;
        if asked.is_none() {
            return Err(RequestError::Stopped);
        }
        rx.await.unwrap_or(Err(RequestError::Stopped))
    }

    /// Opens a session to `pool` and waits until it is on a PE (see
    /// [`UserSession`]); fails as soon as the failure is known (the pool
    /// is unknown, no registrar answers, every PE failed). The first
    /// event of the session is its [`SessionEvent::Connected`]. Two
    /// sessions of one node are never on one PE at once.
    ///
    /// ```no_run
    /// # async fn run(pu: &rserpool::runtime::PoolUserNode) -> Result<(), rserpool::runtime::RequestError> {
    /// let pool = rserpool::PoolHandle::new(b"echo").expect("a handle");
    /// let mut session = pu.connect(&pool).await?;
    /// println!("on {:?}", session.pe());
    /// session.send(0, b"ping").await?;
    /// let answer = session.recv().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(&self, pool: &PoolHandle) -> Result<UserSession, RequestError> {
        let (tx, connected) = oneshot::channel();
        let pool = *pool;
        let (id, rx, shared) = self
            .node
            .with_app(move |app, ctx| app.session_open(ctx, pool, tx))
            .await
            .ok_or(RequestError::Stopped)??;
        let commands = self
            .node
            .runner
            .weak_commands()
            .ok_or(RequestError::Stopped)?;
        let mut session = UserSession {
            id,
            pool,
            pe: None,
            failovers: 0,
            limit: self.limit,
            commands,
            rx,
            shared,
            closed: false,
        };
        match connected.await {
            Ok(Ok(pe)) => {
                session.pe = Some(pe);
                Ok(session)
            }
            Ok(Err(e)) => {
                session.closed = true;
                Err(e)
            }
            Err(_) => {
                session.closed = true;
                Err(RequestError::Stopped)
            }
        }
    }

    /// Session failovers so far.
    pub fn failovers(&self) -> u64 {
        self.node.counters().failovers()
    }

    /// What the node counted: requests, answers, failovers, ...
    pub fn counters(&self) -> &NodeCounters {
        self.node.counters()
    }

    /// The node's socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.node.local_addr()
    }

    /// Stops it and waits until its sockets are closed.
    pub async fn stop(self) {
        self.node.stop().await;
    }
}
