//! A session of a [`PoolUserNode`](super::PoolUserNode) as an async
//! handle: [`UserSession`].

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::vec::Vec;

use tokio::sync::mpsc;

use super::{ask_app, RequestError};
use crate::id::{PeId, PoolHandle};
use crate::runtime::Command;
use crate::session::{CloseReason, FailoverReason, SessionId};

/// Received messages of one session waiting for its handle at most; the
/// next one is dropped (and counted: [`UserSession::dropped`]).
pub const SESSION_MESSAGES: usize = 256;

/// Bytes of received messages of one session waiting for its handle at
/// most; a message that does not fit is dropped (and counted).
pub const SESSION_BYTES: usize = 1 << 20;

/// Events other than messages of one session waiting for its handle at
/// most; further ones are dropped (and counted), except
/// [`SessionEvent::Closed`], which always comes.
pub const SESSION_EVENTS: usize = 64;

/// What happens on a session, in order: its messages and its moves
/// between PEs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The session is on PE `pe` (after a failover when `failover`: the
    /// session's last cookie went first, and the last message sent and not
    /// answered since was sent again).
    Connected {
        /// The PE.
        pe: PeId,
        /// Whether this ends a failover.
        failover: bool,
    },
    /// The session left PE `from` (then [`Connected`](Self::Connected)
    /// with the next one, or [`Closed`](Self::Closed)).
    FailedOver {
        /// The PE left.
        from: PeId,
        /// Why.
        reason: FailoverReason,
    },
    /// A user message from the PE.
    Message {
        /// Its PPID.
        ppid: u32,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// The session ended (no PE left, or too many failovers in a row);
    /// nothing follows.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// What a session's handle and the node share: the queue's fill and what
/// was dropped.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) messages: AtomicUsize,
    pub(crate) bytes: AtomicUsize,
    pub(crate) events: AtomicUsize,
    pub(crate) dropped: AtomicU64,
    pub(crate) events_dropped: AtomicU64,
}

impl Shared {
    /// Queues `e` for the handle unless its bounds are reached; whether it
    /// was queued.
    pub(crate) fn offer(&self, tx: &mpsc::UnboundedSender<SessionEvent>, e: SessionEvent) -> bool {
        match &e {
            SessionEvent::Message { bytes, .. } => {
                let len = bytes.len();
                if self.messages.load(Ordering::Acquire) >= SESSION_MESSAGES
                    || self.bytes.load(Ordering::Acquire) + len > SESSION_BYTES
                {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
                self.messages.fetch_add(1, Ordering::AcqRel);
                self.bytes.fetch_add(len, Ordering::AcqRel);
            }
            SessionEvent::Closed { .. } => {}
            _ => {
                if self.events.load(Ordering::Acquire) >= SESSION_EVENTS {
                    self.events_dropped.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
                self.events.fetch_add(1, Ordering::AcqRel);
            }
        }
        tx.send(e).is_ok()
    }

    /// The handle took `e`.
    fn taken(&self, e: &SessionEvent) {
        match e {
            SessionEvent::Message { bytes, .. } => {
                self.messages.fetch_sub(1, Ordering::AcqRel);
                self.bytes.fetch_sub(bytes.len(), Ordering::AcqRel);
            }
            SessionEvent::Closed { .. } => {}
            _ => {
                self.events.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// A session to a pool from [`PoolUserNode::connect`](super::PoolUserNode::connect):
/// user messages with their PPID to and from the PE the session is on,
/// failover to another PE of the pool (with the session's cookie), and
/// the session's events in order ([`next_event`](Self::next_event)).
///
/// * **Sending** ([`send`](Self::send)) queues the message in the node's
///   transmit ring (64 KiB and 512 messages, shared by the node's
///   sessions) and returns; when the ring has no room, it waits for room.
///   A message larger than [`PoolUserNode::max_message_size`](super::PoolUserNode::max_message_size)
///   is refused ([`RequestError::TooLarge`]) before anything is queued.
/// * **Receiving**: the session's messages and events wait for the handle
///   in one queue of at most [`SESSION_MESSAGES`] messages,
///   [`SESSION_BYTES`] bytes and [`SESSION_EVENTS`] other events. The
///   node serves all its sessions and does not wait for one reader: a
///   message arriving while the queue is full is dropped and counted
///   ([`dropped`](Self::dropped)), as a full socket buffer would.
/// * **Failover**: when the association to the PE goes down, cannot be
///   opened or fails a send (SCTP), or when the application asks
///   ([`failover`](Self::failover): an answer is late — over UDP nothing
///   else tells that a PE is gone), the PE is reported unreachable and the
///   session moves to the next PE; the last message sent and not answered
///   since (no message has come after it) is sent again there. After too
///   many failovers in a row without a message from a PE, or when the pool
///   has no PE left, the session ends ([`SessionEvent::Closed`]).
/// * **One PE, one session per node**: a node has one socket, hence one
///   association per PE; while one session of the node is on a PE, a
///   second session is refused that PE (it fails over to another PE, or
///   ends when the pool has no other). Start a node per session to have
///   several sessions on one PE.
///
/// Dropping the handle closes the session.
#[derive(Debug)]
pub struct UserSession {
    pub(crate) id: SessionId,
    pub(crate) pool: PoolHandle,
    pub(crate) pe: Option<PeId>,
    pub(crate) failovers: u64,
    pub(crate) limit: usize,
    pub(crate) commands: mpsc::WeakSender<Command>,
    pub(crate) rx: mpsc::UnboundedReceiver<SessionEvent>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) closed: bool,
}

impl UserSession {
    /// The session's number in its node.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The pool.
    pub fn pool(&self) -> &PoolHandle {
        &self.pool
    }

    /// The PE the session is on, as of the latest event taken from the
    /// handle (`None` during a failover and once closed).
    pub fn pe(&self) -> Option<PeId> {
        self.pe
    }

    /// Failovers taken from the handle so far.
    pub fn failovers(&self) -> u64 {
        self.failovers
    }

    /// Whether the session has ended ([`SessionEvent::Closed`] taken, or
    /// [`close`](Self::close) called).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Messages dropped because the handle's queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Events other than messages dropped because the handle's queue was
    /// full.
    pub fn events_dropped(&self) -> u64 {
        self.shared.events_dropped.load(Ordering::Relaxed)
    }

    /// Sends `bytes` with SCTP PPID `ppid` (any but 11, ASAP's) to the
    /// session's PE; queued at once (before the session has a PE, too),
    /// waiting for room in the node's transmit ring when it is full.
    ///
    /// ```no_run
    /// # async fn run(session: &mut rserpool::runtime::UserSession) -> Result<(), rserpool::runtime::RequestError> {
    /// session.send(0x4711, b"hello").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(&mut self, ppid: u32, bytes: &[u8]) -> Result<(), RequestError> {
        if self.closed {
            return Err(RequestError::Closed);
        }
        if bytes.len() > self.limit {
            return Err(RequestError::TooLarge {
                len: bytes.len(),
                limit: self.limit,
            });
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (id, body) = (self.id, bytes.to_vec());
        let asked = self
            .ask(move |app, ctx| app.session_send(ctx, id, ppid, body, tx))
            .await;
        if asked.is_none() {
            return Err(RequestError::Stopped);
        }
        rx.await.unwrap_or(Err(RequestError::Stopped))
    }

    /// The next user message from the PE with its PPID; `None` once the
    /// session has ended (or the node has stopped). Events between
    /// messages are taken too ([`pe`](Self::pe), [`failovers`](Self::failovers)
    /// follow them); use [`next_event`](Self::next_event) to see them.
    ///
    /// ```no_run
    /// # async fn run(session: &mut rserpool::runtime::UserSession) {
    /// while let Some((ppid, bytes)) = session.recv().await {
    ///     println!("PPID {ppid}: {} bytes", bytes.len());
    /// }
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Option<(u32, Vec<u8>)> {
        loop {
            match self.next_event().await? {
                SessionEvent::Message { ppid, bytes } => return Some((ppid, bytes)),
                SessionEvent::Closed { .. } => return None,
                _ => {}
            }
        }
    }

    /// The session's next event (messages included), in order; `None`
    /// once the session has ended and everything was taken.
    ///
    /// ```no_run
    /// # async fn run(session: &mut rserpool::runtime::UserSession) {
    /// use rserpool::runtime::SessionEvent;
    /// while let Some(e) = session.next_event().await {
    ///     match e {
    ///         SessionEvent::Connected { pe, .. } => println!("on {pe:?}"),
    ///         SessionEvent::FailedOver { from, reason } => println!("left {from:?}: {reason:?}"),
    ///         SessionEvent::Message { ppid, bytes } => println!("{ppid}: {bytes:?}"),
    ///         SessionEvent::Closed { reason } => println!("closed: {reason:?}"),
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        let e = self.rx.recv().await;
        self.take(e)
    }

    /// The session's next event if one is waiting (never waits).
    pub fn try_event(&mut self) -> Option<SessionEvent> {
        let e = self.rx.try_recv().ok();
        self.take(e)
    }

    fn take(&mut self, e: Option<SessionEvent>) -> Option<SessionEvent> {
        let Some(e) = e else {
            self.closed = true;
            self.pe = None;
            return None;
        };
        self.shared.taken(&e);
        match &e {
            SessionEvent::Connected { pe, .. } => self.pe = Some(*pe),
            SessionEvent::FailedOver { .. } => {
                self.pe = None;
                self.failovers += 1;
            }
            SessionEvent::Closed { .. } => {
                self.pe = None;
                self.closed = true;
            }
            SessionEvent::Message { .. } => {}
        }
        Some(e)
    }

    /// Moves the session to another PE (rsplib's `rsp_forcefailover`): the
    /// current one is reported unreachable to the registrar; the last
    /// message sent and not answered since goes to the next PE.
    /// [`RequestError::Session`] with
    /// [`SessionError::NotConnected`](crate::session::SessionError::NotConnected)
    /// while the session has no PE.
    ///
    /// ```no_run
    /// # async fn run(session: &mut rserpool::runtime::UserSession) -> Result<(), rserpool::runtime::RequestError> {
    /// use core::time::Duration;
    /// session.send(1, b"are you there?").await?;
    /// if tokio::time::timeout(Duration::from_millis(500), session.recv()).await.is_err() {
    ///     session.failover().await?; // the question goes to the next PE
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn failover(&mut self) -> Result<(), RequestError> {
        if self.closed {
            return Err(RequestError::Closed);
        }
        let id = self.id;
        self.ask(move |_, ctx| ctx.failover(id, true).map_err(RequestError::Session))
            .await
            .unwrap_or(Err(RequestError::Stopped))
    }

    /// Closes the session (its association to the PE is shut down) and
    /// waits until the node has done so.
    ///
    /// ```no_run
    /// # async fn run(session: rserpool::runtime::UserSession) {
    /// session.close().await;
    /// # }
    /// ```
    pub async fn close(mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let id = self.id;
        let _ = self.ask(move |app, ctx| app.session_close(ctx, id)).await;
    }

    async fn ask<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut super::Requests, &mut crate::host::AppCtx<'_>) -> R + Send + 'static,
    ) -> Option<R> {
        let tx = self.commands.upgrade()?;
        ask_app(&tx, f).await
    }
}

impl Drop for UserSession {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // Without waiting: when the node's queue is full, the node notices
        // the handle is gone at the session's next event or sweep.
        if let Some(tx) = self.commands.upgrade() {
            let id = self.id;
            let _ = tx.try_send(super::app_command(move |app, ctx| {
                app.session_close(ctx, id)
            }));
        }
    }
}
