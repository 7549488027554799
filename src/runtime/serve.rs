//! Pool element services written as async functions
//! ([`PoolElementNode::serve`](super::PoolElementNode::serve)).
//!
//! Each session a pool user opens gets a task of its own, which calls the
//! handler with the session and one message at a time, in order; sessions
//! are served side by side. The handler answers through its [`Session`]:
//! once, several times, later, or never; it may send a cookie (which a
//! pool user that fails over echoes to the next PE,
//! [`Session::cookie_echo`]) and close the session.
//!
//! Every queue is bounded: a session's messages wait for its handler in a
//! queue of [`SESSION_QUEUE`] messages, and a session whose handler falls
//! that far behind is closed (its pool user fails over), never the node's
//! other sessions slowed down or its memory grown.

use core::future::Future;
use std::boxed::Box;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use tokio::sync::{mpsc, oneshot};

use super::element::RuntimeElement;
use super::{Command, NodeCounters};
use crate::host::{Service, ServiceCtx};
use crate::session::element::Event;
use crate::session::{SessionError, SessionId};

/// How many messages of one session wait for its handler at most; one
/// more closes the session.
pub const SESSION_QUEUE: usize = 64;

/// A user message, with the PPID it came with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Its PPID (over SCTP the chunk's; over UDP the datagram's tag).
    pub ppid: u32,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Why a [`Session`] call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeError {
    /// The pool element has stopped.
    Stopped,
    /// The session layer refused: the session is closed, the message is
    /// too large, PPID 11 is ASAP's, ...
    Session(SessionError),
}

impl core::fmt::Display for ServeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ServeError::Stopped => f.write_str("the pool element has stopped"),
            ServeError::Session(_) => f.write_str("the session refused"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Stopped => None,
            ServeError::Session(e) => Some(e),
        }
    }
}

struct Shared {
    id: SessionId,
    remote: SocketAddr,
    commands: mpsc::WeakSender<Command>,
    cookie: Mutex<Option<Vec<u8>>>,
}

/// A pool user's session with this pool element, as its handler sees it.
/// Cheap to clone; it does not keep the node running.
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.shared.id)
            .field("remote", &self.shared.remote)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The session's identifier.
    pub fn id(&self) -> SessionId {
        self.shared.id
    }

    /// The pool user's address.
    pub fn remote(&self) -> SocketAddr {
        self.shared.remote
    }

    /// The cookie the pool user echoed when it failed over to this PE (the
    /// state a previous PE saved with [`send_cookie`](Self::send_cookie)),
    /// if it did.
    pub fn cookie_echo(&self) -> Option<Vec<u8>> {
        self.shared
            .cookie
            .lock()
            .map_or(None, |cookie| cookie.clone())
    }

    /// Runs `f` on the node's service context for this session and returns
    /// its result.
    async fn with_ctx(
        &self,
        f: impl FnOnce(&mut ServiceCtx<'_>, SessionId) -> Result<(), SessionError> + Send + 'static,
    ) -> Result<(), ServeError> {
        let commands = self.shared.commands.upgrade().ok_or(ServeError::Stopped)?;
        let (tx, rx) = oneshot::channel();
        let id = self.shared.id;
        let command: Command = Box::new(move |node, d| {
            if let Some(host) = node.as_any_mut().downcast_mut::<RuntimeElement>() {
                let r = host.with_service(d, |_, ctx| f(ctx, id));
                let _ = tx.send(r);
            }
        });
        commands
            .send(command)
            .await
            .map_err(|_| ServeError::Stopped)?;
        drop(commands);
        match rx.await {
            Ok(r) => r.map_err(ServeError::Session),
            Err(_) => Err(ServeError::Stopped),
        }
    }

    /// Sends `bytes` with `ppid` to the pool user (any PPID but ASAP's, 11).
    pub async fn send(&self, ppid: u32, bytes: &[u8]) -> Result<(), ServeError> {
        let bytes = bytes.to_vec();
        self.with_ctx(move |ctx, id| ctx.send(id, ppid, &bytes))
            .await
    }

    /// Sends an ASAP_COOKIE: the session's state, which the pool user
    /// echoes to the next PE if it fails over.
    pub async fn send_cookie(&self, cookie: &[u8]) -> Result<(), ServeError> {
        let cookie = cookie.to_vec();
        self.with_ctx(move |ctx, id| ctx.send_cookie(id, &cookie))
            .await
    }

    /// Closes the session (the association to the pool user is shut down).
    pub async fn close(&self) -> Result<(), ServeError> {
        self.with_ctx(|ctx, id| ctx.close(id)).await
    }
}

/// A session's queue to its task.
struct Slot {
    tx: mpsc::Sender<Message>,
    session: Session,
}

/// The [`Service`] behind [`PoolElementNode::serve`](super::PoolElementNode::serve):
/// hands each session's messages to a task that calls the handler.
pub(crate) struct Dispatch<H> {
    handler: Arc<H>,
    runtime: tokio::runtime::Handle,
    commands: mpsc::WeakSender<Command>,
    sessions: HashMap<SessionId, Slot>,
    counters: Arc<NodeCounters>,
}

impl<H> Dispatch<H> {
    pub(crate) fn new(
        handler: H,
        runtime: tokio::runtime::Handle,
        commands: mpsc::WeakSender<Command>,
        counters: Arc<NodeCounters>,
    ) -> Self {
        Dispatch {
            handler: Arc::new(handler),
            runtime,
            commands,
            sessions: HashMap::new(),
            counters,
        }
    }
}

impl<H, F> Service for Dispatch<H>
where
    H: Fn(Session, Message) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    fn on_event(&mut self, ctx: &mut ServiceCtx<'_>, event: &Event, bytes: &[u8]) {
        match *event {
            Event::Accepted {
                session, remote, ..
            } => {
                let (tx, mut rx) = mpsc::channel::<Message>(SESSION_QUEUE);
                let s = Session {
                    shared: Arc::new(Shared {
                        id: session,
                        remote,
                        commands: self.commands.clone(),
                        cookie: Mutex::new(None),
                    }),
                };
                let handler = self.handler.clone();
                let for_task = s.clone();
                self.runtime.spawn(async move {
                    while let Some(m) = rx.recv().await {
                        handler(for_task.clone(), m).await;
                    }
                });
                self.sessions.insert(session, Slot { tx, session: s });
            }
            Event::Message { session, ppid, .. } => {
                let Some(slot) = self.sessions.get(&session) else {
                    return;
                };
                let m = Message {
                    ppid,
                    bytes: bytes.to_vec(),
                };
                if slot.tx.try_send(m).is_err() {
                    // The handler is SESSION_QUEUE messages behind (or
                    // gone): the session is closed, its user fails over.
                    self.sessions.remove(&session);
                    self.counters.session_overrun();
                    let _ = ctx.close(session);
                }
            }
            Event::CookieEcho { session } => {
                if let (Some(slot), Some(cookie)) =
                    (self.sessions.get(&session), ctx.cookie_echo(session))
                {
                    if let Ok(mut c) = slot.session.shared.cookie.lock() {
                        *c = Some(cookie.to_vec());
                    }
                }
            }
            Event::Closed { session, .. } => {
                // Its task ends when it has served what waits.
                self.sessions.remove(&session);
            }
            _ => {}
        }
    }
}
