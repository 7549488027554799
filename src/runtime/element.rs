//! A pool element on a socket, serving sessions with a [`Service`].
//!
//! Pool users open a session by opening an association to the PE's user
//! transport; their messages reach the service raw, with their PPID, as
//! rsplib sends them (over SCTP the PPID is SCTP's; over UDP each datagram
//! of such a channel carries it first, see
//! [`Framing::Tagged`](crate::transport::Framing)). ASAP on that channel
//! (COOKIE_ECHO) goes to the pool element machine. The node runs the
//! crate's [`ElementHost`] (as the simulator does) over the runtime's
//! sockets; the service may answer at once, later, several times or not
//! at all ([`crate::host::services`] has rsplib's echo, discard and
//! daytime).
//!
//! Over SCTP the PE registers its user transport as *data plus control*
//! (RFC 5354 §3.3, Transport Use 0x0001), as rsplib's pool elements do: it
//! takes ASAP control (COOKIE_ECHO, PPID 11) on that channel, and a pool
//! needs one value for all its PEs. The UDP transport parameter has no
//! such field (data only).
//!
//! Three ways to run one:
//!
//! * [`PoolElementNode::start`] with a [`Service`] (called on the node's
//!   task; [`crate::host::services`] has rsplib's echo, discard and
//!   daytime);
//! * [`PoolElementNode::serve`] with an async handler that gets each
//!   session's messages in order and answers through its
//!   [`Session`] (see [`serve`](super::serve));
//! * [`PoolElementNode::register`], the "ASAP only" mode: the program keeps
//!   its own server socket and protocol, and the node only registers that
//!   transport and answers the registrar's keep-alives.
//!
//! What happens reaches the application as [`ElementEvent`]s
//! ([`PoolElementNode::next_event`]): registrations, a rejected
//! registration with its cause (tried again after the configured back-off,
//! [`PoolElementConfig::registration_retry`]), home changes, sessions
//! opened and closed, cookie echoes. [`PoolElementNode::set_policy`] changes the
//! policy and load at run time. [`PoolElementNode::shutdown`] is the
//! graceful stop (ASAP_DEREGISTRATION, then the node stops);
//! [`PoolElementNode::stop`] and dropping the handle stop it as a crash
//! would (the registrar notices by its keep-alives).

use std::boxed::Box;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use std::vec::Vec;
use tokio::sync::mpsc;

use super::serve::{Dispatch, Message, Session};
use super::{Driver, NodeConfig, NodeCounters, Runner};
use crate::addr::{TransportProtocol, TransportUse};
use crate::cause::CauseCode;
use crate::host::ServiceCtx;
use crate::host::{ElementHost, Node, Service};
use crate::id::PeId;
use crate::pool_element::{Event, OwnedTransport, PoolElementConfig, PoolElementError};
use crate::session::element::Event as SessionEvent;
use crate::session::{SessionElement, SessionElementConfig, SessionId};
use crate::time::Duration;
use crate::transport::Framing;
use crate::wire::Protocol;
use crate::Policy;

/// Sessions a [`PoolElementNode`] serves at once; more are refused.
pub const SESSIONS: usize = 128;

/// The host a [`PoolElementNode`] runs: up to [`SESSIONS`] sessions, 64 KiB
/// and 512 messages waiting each way.
pub type RuntimeElement = ElementHost<Box<dyn Service + Send>, SESSIONS, 65_536, 512>;

/// What a [`PoolElementNode`] tells its application, in order.
// The machine's event holds its cookie by value (no heap), as
// `pool_element::Event` does.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElementEvent {
    /// The pool element machine's: registered (and with which home),
    /// registration failed (with the registrar's cause, and when it is
    /// tried again), home registrar changed, registration lost,
    /// deregistered.
    Element(Event),
    /// A pool user opened a session.
    SessionOpened {
        /// The session.
        session: SessionId,
        /// The user's address.
        remote: SocketAddr,
    },
    /// A pool user's association was refused: every session slot is taken.
    SessionRefused {
        /// The user's address.
        remote: SocketAddr,
    },
    /// A session ended.
    SessionClosed {
        /// The session.
        session: SessionId,
        /// Why.
        reason: crate::session::CloseReason,
    },
    /// A pool user that failed over to this PE echoed the cookie a
    /// previous PE sent it.
    CookieEcho {
        /// The session.
        session: SessionId,
        /// The cookie.
        cookie: Vec<u8>,
    },
}

/// How many machine events wait for the application at most; more are
/// dropped (and counted, [`PoolElementNode::events_dropped`]): a program
/// that does not read them loses old events, never registrations.
pub const EVENT_CHANNEL_LEN: usize = 256;

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
    /// The node had stopped.
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

/// Hands every session event to the application's event channel, then
/// to the service.
struct Reporting {
    inner: Box<dyn Service + Send>,
    events: mpsc::Sender<ElementEvent>,
    counters: Arc<NodeCounters>,
}

impl Reporting {
    fn report(&self, e: ElementEvent) {
        if self.events.try_send(e).is_err() {
            self.counters.event_dropped();
        }
    }
}

impl Service for Reporting {
    fn start(&mut self, ctx: &mut ServiceCtx<'_>) {
        self.inner.start(ctx);
    }
    fn on_event(&mut self, ctx: &mut ServiceCtx<'_>, event: &SessionEvent, bytes: &[u8]) {
        match *event {
            SessionEvent::Accepted {
                session, remote, ..
            } => self.report(ElementEvent::SessionOpened { session, remote }),
            SessionEvent::Refused { remote, .. } => {
                self.report(ElementEvent::SessionRefused { remote })
            }
            SessionEvent::Closed { session, reason } => {
                self.report(ElementEvent::SessionClosed { session, reason })
            }
            SessionEvent::CookieEcho { session } => {
                let cookie = ctx.cookie_echo(session).unwrap_or_default().to_vec();
                self.report(ElementEvent::CookieEcho { session, cookie });
            }
            _ => {}
        }
        self.inner.on_event(ctx, event, bytes);
    }
    fn poll_timeout(&self) -> Option<crate::time::Instant> {
        self.inner.poll_timeout()
    }
    fn handle_timeout(&mut self, ctx: &mut ServiceCtx<'_>) {
        self.inner.handle_timeout(ctx);
    }
}

/// The service of a PE in "ASAP only" mode: its node's socket is not
/// where users go, so a session opened to it is closed at once.
struct NoSessions;

impl Service for NoSessions {
    fn on_event(&mut self, ctx: &mut ServiceCtx<'_>, event: &SessionEvent, _bytes: &[u8]) {
        if let SessionEvent::Accepted { session, .. } = *event {
            let _ = ctx.close(session);
        }
    }
}

/// Builds the pool element once the node's sockets are open: its user
/// transport is where they are bound, unless `keep_transport` (the
/// program's own server).
fn build(
    mut config: PoolElementConfig,
    service: impl FnOnce(&mut Driver) -> Box<dyn Service + Send>,
    keep_transport: bool,
    events: mpsc::Sender<ElementEvent>,
    d: &mut Driver,
) -> io::Result<RuntimeElement> {
    let counters = d.counters.clone();
    if !keep_transport {
        config.user_transport = node_transport(d)?;
    }
    let machine = SessionElement::new(SessionElementConfig { element: config })
        .map(Box::new)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let element_events = events.clone();
    let element_counters = counters.clone();
    let sink = Box::new(move |e: &Event| {
        if element_events
            .try_send(ElementEvent::Element(e.clone()))
            .is_err()
        {
            element_counters.event_dropped();
        }
    });
    let service = Box::new(Reporting {
        inner: service(d),
        events,
        counters,
    });
    Ok(RuntimeElement::new(machine, service, Duration::ZERO).with_event_sink(sink))
}

/// The node's own socket as a user transport: SCTP (data and control, as
/// rsplib's PEs register) or UDP, on every local address.
fn node_transport(d: &Driver) -> io::Result<OwnedTransport> {
    let locals = d.asap_locals();
    let protocol = if d.sctp.is_some() {
        TransportProtocol::Sctp
    } else {
        TransportProtocol::Udp
    };
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
    // SCTP: data plus control (COOKIE_ECHO arrives on this channel); UDP's
    // parameter is data only.
    let transport_use = match protocol {
        TransportProtocol::Sctp => TransportUse::DataAndControl,
        _ => TransportUse::DataOnly,
    };
    OwnedTransport::new(protocol, local.port(), transport_use, &ips)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// A pool element (ASAP over UDP or SCTP) serving sessions as a tokio
/// task; see the [module](self) documentation. Dropping it stops it
/// without deregistering (as a crash would); [`shutdown`](Self::shutdown)
/// deregisters first.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use rserpool::host::services::Echo;
/// use rserpool::id::PoolHandle;
/// use rserpool::pool_element::Event;
/// use rserpool::runtime::{loopback, ElementEvent, NodeConfig, PoolElementNode};
///
/// let pool = PoolHandle::new(b"echo").expect("a handle");
/// let registrar = "127.0.0.1:3863".parse().expect("an address");
/// let mut pe = PoolElementNode::start(
///     loopback::element(pool, &[registrar], 1),
///     NodeConfig::new("127.0.0.1:0".parse().expect("an address")),
///     Box::new(Echo),
/// )?;
/// while let Some(event) = pe.next_event().await {
///     match event {
///         ElementEvent::Element(Event::Registered { .. }) => break,
///         ElementEvent::Element(Event::RegistrationFailed { cause, .. }) => {
///             eprintln!("refused: {cause:?}")
///         }
///         _ => {}
///     }
/// }
/// pe.shutdown().await.expect("deregistered");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PoolElementNode {
    runner: Runner,
    pe_id: PeId,
    events: mpsc::Receiver<ElementEvent>,
}

impl PoolElementNode {
    /// Starts a pool element with `config` (its `user_transport` is
    /// replaced by the node's socket, bound at `node.bind`, UDP or SCTP)
    /// that registers at once and serves its sessions with `service`
    /// (e.g. [`Echo`](crate::host::services::Echo)), which runs on the
    /// node's task. Returns once the sockets are bound; runs on the
    /// caller's tokio runtime, else on the [shared one](super::shared_runtime).
    pub fn start(
        config: PoolElementConfig,
        node: NodeConfig,
        service: Box<dyn Service + Send>,
    ) -> io::Result<Self> {
        Self::launch(config, node, false, move |_| service)
    }

    /// Starts a pool element (as [`start`](Self::start)) whose sessions
    /// are served by `handler`, an async function called with the
    /// session and each of its messages in order (see
    /// [`serve`](super::serve)): it answers through the
    /// [`Session`], any number of times.
    ///
    /// ```no_run
    /// # fn run() -> std::io::Result<()> {
    /// use rserpool::id::PoolHandle;
    /// use rserpool::runtime::{loopback, Message, NodeConfig, PoolElementNode, Session};
    ///
    /// let pool = PoolHandle::new(b"upper").expect("a handle");
    /// let registrar = "127.0.0.1:3863".parse().expect("an address");
    /// let pe = PoolElementNode::serve(
    ///     loopback::element(pool, &[registrar], 1),
    ///     NodeConfig::new("127.0.0.1:0".parse().expect("an address")),
    ///     |session: Session, message: Message| async move {
    ///         let answer = message.bytes.to_ascii_uppercase();
    ///         let _ = session.send(message.ppid, &answer).await;
    ///     },
    /// )?;
    /// # drop(pe);
    /// # Ok(())
    /// # }
    /// ```
    pub fn serve<H, F>(config: PoolElementConfig, node: NodeConfig, handler: H) -> io::Result<Self>
    where
        H: Fn(Session, Message) -> F + Send + Sync + 'static,
        F: core::future::Future<Output = ()> + Send + 'static,
    {
        Self::launch(config, node, false, move |d| {
            let commands = d.commands.clone().unwrap_or_else(|| {
                // Never reached: the runner sets the channel before the
                // build; a closed one makes every send fail as Stopped.
                tokio::sync::mpsc::channel(1).0.downgrade()
            });
            Box::new(Dispatch::new(
                handler,
                d.runtime.clone(),
                commands,
                d.counters.clone(),
            ))
        })
    }

    /// The "ASAP only" mode: registers `config.user_transport` as it is —
    /// the program's own server socket, which keeps its own protocol — and
    /// only keeps the registration alive (registration, re-registration,
    /// keep-alive answers, home changes) over the node's socket at
    /// `node.bind`. Pool users that resolve the pool reach the program's
    /// server directly; an ASAP session opened to the node's socket is
    /// refused.
    ///
    /// A registrar checks the transport's addresses against the node's
    /// (see the registrar's address rules): bind the node on the server's
    /// address.
    ///
    /// ```no_run
    /// # fn run() -> std::io::Result<()> {
    /// use rserpool::addr::{TransportProtocol, TransportUse};
    /// use rserpool::id::PoolHandle;
    /// use rserpool::pool_element::OwnedTransport;
    /// use rserpool::runtime::{loopback, NodeConfig, PoolElementNode};
    ///
    /// // The program's own HTTP server listens on 127.0.0.1:8080.
    /// let server = std::net::TcpListener::bind("127.0.0.1:8080")?;
    /// let pool = PoolHandle::new(b"web").expect("a handle");
    /// let mut config = loopback::element(pool, &["127.0.0.1:3863".parse().expect("an address")], 1);
    /// config.user_transport = OwnedTransport::new(
    ///     TransportProtocol::Tcp,
    ///     server.local_addr()?.port(),
    ///     TransportUse::DataOnly,
    ///     &[server.local_addr()?.ip()],
    /// )
    /// .expect("a transport");
    /// let pe = PoolElementNode::register(config, NodeConfig::new("127.0.0.1:0".parse().expect("an address")))?;
    /// # drop(pe);
    /// # Ok(())
    /// # }
    /// ```
    pub fn register(config: PoolElementConfig, node: NodeConfig) -> io::Result<Self> {
        Self::launch(config, node, true, |_| Box::new(NoSessions))
    }

    fn launch(
        config: PoolElementConfig,
        node: NodeConfig,
        keep_transport: bool,
        service: impl FnOnce(&mut Driver) -> Box<dyn Service + Send>,
    ) -> io::Result<Self> {
        let (events_tx, events) = mpsc::channel(EVENT_CHANNEL_LEN);
        let (runner, pe_id) = Runner::start(
            &node,
            Protocol::Asap,
            Framing::Tagged,
            false,
            move |d: &mut Driver| {
                let host = build(config, service, keep_transport, events_tx, d)?;
                let pe_id = host.pe_id();
                Ok((Box::new(host) as Box<dyn Node + Send>, pe_id))
            },
        )?;
        Ok(PoolElementNode {
            runner,
            pe_id,
            events,
        })
    }
    /// What the node counted: answers, cookies, registrations, ...
    pub fn counters(&self) -> &NodeCounters {
        &self.runner.counters
    }

    /// The next event, in order: registrations, rejections (with the cause
    /// and when the registration is tried again), home changes, sessions
    /// opened and closed, cookie echoes, deregistration. At most [`EVENT_CHANNEL_LEN`] wait;
    /// later ones are dropped while the channel is full
    /// ([`events_dropped`](Self::events_dropped)). `None` once the node
    /// has stopped and every event was taken.
    pub async fn next_event(&mut self) -> Option<ElementEvent> {
        self.events.recv().await
    }

    /// The next event if one is waiting (never waits).
    pub fn try_event(&mut self) -> Option<ElementEvent> {
        self.events.try_recv().ok()
    }

    /// Events dropped because nobody read them.
    pub fn events_dropped(&self) -> u64 {
        self.runner.counters.events_dropped()
    }

    /// Registrations rejected or left unanswered so far.
    pub fn registration_failures(&self) -> u64 {
        self.runner.counters.registration_failures()
    }

    /// Changes the PE's policy (and the load it reports, for the load
    /// policies) at run time: it re-registers with it at once. `false`
    /// when the node has stopped.
    pub async fn set_policy(&self, policy: Policy) -> bool {
        self.runner
            .call(move |node, d| {
                if let Some(host) = node.as_any_mut().downcast_mut::<RuntimeElement>() {
                    host.set_policy(d, policy);
                }
            })
            .await
    }

    /// Deregisters the PE (ASAP_DEREGISTRATION to its home registrar) and
    /// waits for the registrar's answer; the node keeps serving its
    /// sessions but no longer registers. Fails with the registrar's cause,
    /// or when no registrar answered within T3-deregistration ×
    /// (MAX-REQUEST-RETRANSMIT + 1).
    pub async fn deregister(&self) -> Result<(), DeregisterError> {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<(), DeregisterError>>();
        let asked = self
            .runner
            .call(move |node, d| {
                let Some(host) = node.as_any_mut().downcast_mut::<RuntimeElement>() else {
                    return;
                };
                let r = match host.deregister(d) {
                    Ok(()) => {
                        host.on_deregistered(Box::new(move |r| {
                            let _ = tx.send(r.map_err(DeregisterError::Failed));
                        }));
                        return;
                    }
                    Err(PoolElementError::NotRegistered) => Err(DeregisterError::NotRegistered),
                    Err(_) => Err(DeregisterError::Failed(None)),
                };
                let _ = tx.send(r);
            })
            .await;
        if !asked {
            return Err(DeregisterError::Stopped);
        }
        rx.await.unwrap_or(Err(DeregisterError::Stopped))
    }

    /// The graceful stop: deregisters (as [`deregister`](Self::deregister)),
    /// then stops the node and waits until its sockets are closed. The
    /// node is stopped whatever the deregistration's outcome.
    pub async fn shutdown(mut self) -> Result<(), DeregisterError> {
        let r = self.deregister().await;
        self.runner.stop().await;
        r
    }

    /// Stops the node without deregistering (as a crash would) and waits
    /// until its sockets are closed.
    pub async fn stop(mut self) {
        self.runner.stop().await;
    }

    /// Its PE identifier.
    pub fn pe_id(&self) -> PeId {
        self.pe_id
    }

    /// Its user transport (where pool users reach it).
    pub fn local_addr(&self) -> SocketAddr {
        self.runner.local_addr()
    }

    /// User messages its service sent so far (an echo: messages served).
    pub fn served(&self) -> u64 {
        self.runner.counters.answers()
    }

    /// Registrations (and re-registrations) accepted so far.
    pub fn registrations(&self) -> u64 {
        self.runner.counters.registered()
    }

    /// COOKIE_ECHOs received from pool users that failed over to it.
    pub fn cookie_echoes(&self) -> u64 {
        self.runner.counters.cookie_echoes()
    }
}
