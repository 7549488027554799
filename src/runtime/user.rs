//! Pool users on a socket: the crate's [`UserHost`] (as the simulator runs
//! it) over the runtime's sockets.
//!
//! * [`AppNode`] runs any [`Application`] over a [`SessionUser`]; the
//!   handle reaches the application in the node's thread with
//!   [`AppNode::with_app`]. A node has one socket (UDP or SCTP), hence one
//!   association per PE: while one session of the node is on a PE, a
//!   second session's connect to that PE fails (the session fails over to
//!   another PE, or waits for one), so two sessions never share an
//!   association and never see each other's messages.
//! * [`PoolUserNode`] is a request/response client on top: each
//!   [`request`](PoolUserNode::request) opens a session to the pool (a PE
//!   chosen by the pool's policy), sends the request as one user message
//!   and takes the session's first message as the answer. Requests run one
//!   after the other (callers on several threads wait their turn). When no answer
//!   comes within the attempt timeout the session fails over (the PE is
//!   reported unreachable, the session's cookie is echoed to the next PE)
//!   and the request is sent again there; when the session ends without a
//!   PE the request waits [`RETRY_INTERVAL`] and tries a new session, until
//!   the request's own timeout.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::vec::Vec;

use tokio::sync::oneshot;

use super::{Driver, NodeConfig, NodeCounters, Runner};
use crate::host::{AppCtx, Application, Node, UserHost};
use crate::id::{PeId, PoolHandle};
use crate::pool_user::PoolUserConfig;
use crate::session::user::{Event, SessionState};
use crate::session::{ResendPolicy, SessionId, SessionUser, SessionUserConfig};
use crate::time::{Duration, Instant};
use crate::transport::Framing;
use crate::wire::Protocol;

/// How long a request whose session ended without a PE waits before it
/// tries a new session.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(200);

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
        let (mut runner, object) = Runner::start(
            &node,
            Protocol::Asap,
            Framing::Plain,
            false,
            move |d: &mut Driver| {
                let host = RuntimeUser::new(Box::new(SessionUser::new(config)), app);
                // A pool user has no id of its own: a random one for CSP.
                let object = crate::host::Env::random_u64(d);
                Ok((Box::new(host) as Box<dyn Node + Send>, object))
            },
        )?;
        runner.report_csp(
            &node,
            std::sync::Arc::new(move |node: &mut dyn Node, _d: &mut Driver| {
                use super::csp::{component_id, ComponentGroup, CspStatus};
                let host = node.as_any().downcast_ref::<RuntimeUser<A>>()?;
                Some(CspStatus {
                    id: component_id(ComponentGroup::PoolUser, object),
                    status: std::format!("{} sessions", host.session_user().sessions().count()),
                    workload: None,
                    associations: Vec::new(),
                })
            }),
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

/// One request in progress.
struct Pending {
    pool: PoolHandle,
    body: Vec<u8>,
    deadline: Instant,
    reply: oneshot::Sender<Reply>,
    session: Option<SessionId>,
    seq: u64,
    attempt: Option<Instant>,
    retry_at: Option<Instant>,
}

/// The request/response application of a [`PoolUserNode`].
#[derive(Default)]
pub struct Requests {
    attempt_timeout: Duration,
    pending: Vec<Pending>,
    queue: VecDeque<Pending>,
}

impl core::fmt::Debug for Requests {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Requests")
            .field("pending", &self.pending.len())
            .field("queued", &self.queue.len())
            .finish()
    }
}

/// The PPID of requests and answers.
pub const REQUEST_PPID: u32 = 0;

impl Requests {
    fn open(&mut self, ctx: &mut AppCtx<'_>, mut p: Pending) {
        p.retry_at = None;
        match ctx.connect(p.pool) {
            Ok(session) => match ctx.send(session, REQUEST_PPID, &p.body) {
                Ok(seq) => {
                    p.session = Some(session);
                    p.seq = seq;
                    p.attempt = Some(ctx.now() + self.attempt_timeout);
                    self.pending.push(p);
                }
                Err(_) => {
                    let _ = ctx.close(session);
                    let _ = p.reply.send(Err(RequestError::Timeout));
                }
            },
            // Every session slot is taken: wait for one.
            Err(_) => self.queue.push_back(p),
        }
    }

    fn add(&mut self, ctx: &mut AppCtx<'_>, p: Pending) {
        self.queue.push_back(p);
        self.release(ctx);
    }

    /// Starts the next request when none is in progress: one session at a
    /// time, since the node's one socket has one association per PE and
    /// two sessions to one PE would share it.
    fn release(&mut self, ctx: &mut AppCtx<'_>) {
        let now = ctx.now();
        while self.pending.is_empty() {
            let Some(p) = self.queue.pop_front() else {
                break;
            };
            if p.deadline <= now {
                let _ = p.reply.send(Err(RequestError::Timeout));
                continue;
            }
            let before = self.queue.len();
            self.open(ctx, p);
            if self.queue.len() > before {
                break;
            }
        }
    }
}

impl Application for Requests {
    fn on_event(&mut self, ctx: &mut AppCtx<'_>, event: &Event, bytes: &[u8]) {
        match *event {
            Event::Message { session, .. } => {
                if let Some(i) = self.pending.iter().position(|p| p.session == Some(session)) {
                    let p = self.pending.swap_remove(i);
                    let pe = match ctx.state(session) {
                        Some(SessionState::Connected { pe, .. }) => Some(pe),
                        _ => None,
                    };
                    let _ = ctx.acknowledge(session, p.seq);
                    let _ = ctx.close(session);
                    if let Some(pe) = pe {
                        let _ = p.reply.send(Ok((pe, bytes.to_vec())));
                    }
                    self.release(ctx);
                }
            }
            Event::Closed { session, .. } => {
                if let Some(p) = self.pending.iter_mut().find(|p| p.session == Some(session)) {
                    p.session = None;
                    p.attempt = None;
                    p.retry_at = Some(ctx.now() + RETRY_INTERVAL);
                }
                self.release(ctx);
            }
            _ => {}
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.pending
            .iter()
            .flat_map(|p| [Some(p.deadline), p.attempt, p.retry_at])
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, ctx: &mut AppCtx<'_>) {
        let now = ctx.now();
        let mut i = 0;
        while i < self.pending.len() {
            let p = &mut self.pending[i];
            if p.deadline <= now {
                let p = self.pending.swap_remove(i);
                if let Some(s) = p.session {
                    let _ = ctx.close(s);
                }
                let _ = p.reply.send(Err(RequestError::Timeout));
                continue;
            }
            if p.attempt.is_some_and(|t| t <= now) {
                p.attempt = Some(now + self.attempt_timeout);
                if let Some(s) = p.session {
                    // Still resolving: nothing to fail over from.
                    let _ = ctx.failover(s, true);
                }
            }
            if p.retry_at.is_some_and(|t| t <= now) {
                let p = self.pending.swap_remove(i);
                self.open(ctx, p);
                continue;
            }
            i += 1;
        }
        self.release(ctx);
    }
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
}

impl PoolUserNode {
    /// Starts a pool user with `config` (its registrars: where to resolve)
    /// whose requests fail over when a PE has not answered within
    /// `attempt_timeout`.
    pub fn start(
        config: PoolUserConfig,
        node: NodeConfig,
        attempt_timeout: core::time::Duration,
    ) -> io::Result<Self> {
        let mut su = SessionUserConfig::new(config);
        su.resend = ResendPolicy::LastUnacknowledged(1);
        su.retry_interval = RETRY_INTERVAL;
        let app = Requests {
            attempt_timeout: Duration::from(attempt_timeout),
            ..Requests::default()
        };
        Ok(PoolUserNode {
            node: AppNode::start(su, node, app)?,
        })
    }

    /// Sends `request` to a PE of `pool` and waits for the answer, failing
    /// over to other PEs as needed, for at most `timeout`. Returns the PE
    /// that answered and its answer.
    pub async fn request(
        &self,
        pool: &PoolHandle,
        request: &[u8],
        timeout: core::time::Duration,
    ) -> Result<(PeId, Vec<u8>), RequestError> {
        let (tx, rx) = oneshot::channel();
        let pool = *pool;
        let body = request.to_vec();
        let asked = self
            .node
            .with_app(move |app, ctx| {
                let p = Pending {
                    pool,
                    body,
                    deadline: ctx.now() + Duration::from(timeout),
                    reply: tx,
                    session: None,
                    seq: 0,
                    attempt: None,
                    retry_at: None,
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
