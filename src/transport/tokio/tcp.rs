//! ASAP (and ENRP) over TCP on tokio, without blocking and with bounds.
//!
//! Each connection is one association: [`Input::Up`] (verified: TCP's
//! handshake) when it is accepted or its connect succeeds,
//! [`Input::Down`] when it closes, fails, idles or is closed for not
//! reading. Messages are framed by the common header's Message Length
//! (bytes 2..4, the whole message with its header), as the thread-based
//! transport reads them: the 4-byte header, then the rest padded to a
//! multiple of 4 (RFC 5354 §2; the parser ignores the padding). A Message
//! Length below 4 ends the connection ([`DownReason::Garbage`]: the stream
//! cannot be resynchronised); a message is at most 65,535 bytes, so a
//! reader holds at most one such buffer.
//!
//! # Tasks and queues
//!
//! Listeners are polled by the node's task itself
//! ([`TcpEndpoints::poll_input`]). Each connection is one tokio task that
//! reads messages and writes what the node queued; no thread is started.
//! Everything between them is bounded:
//!
//! * **to the node**: one channel of [`TcpConfig::event_queue`] inputs for
//!   all connections, of which one connection holds at most
//!   [`CONNECTION_QUEUE`] message (it reads the next one meanwhile). A
//!   connection task that finds the channel full, or its own share taken,
//!   waits before it reads on (TCP then slows its peer down); no message
//!   of an established connection is dropped. So a message waits behind at
//!   most one message of each other connection, however fast the others
//!   send: a peer that floods the node delays the others by one message,
//!   not by a full queue.
//! * **from the node**: per connection, at most [`TcpConfig::send_buffer`]
//!   bytes queued (each message counts its length plus
//!   [`ENTRY_OVERHEAD`]). [`TcpEndpoints::send`] never waits: a message
//!   that does not fit closes the connection with a reset, counts it in
//!   [`TcpCounters::closed_slow_readers`] and reports it down
//!   ([`DownReason::SendBufferFull`]). A peer that does not read loses its
//!   connection; it never stalls the node or the other peers.
//! * **connections**: at most [`TcpConfig::max_connections`] per node
//!   (accepted and connected together, connects in progress included). A
//!   connection accepted beyond the cap is closed at once (the peer reads
//!   end-of-stream) and counted in [`TcpCounters::refused_connections`]; a
//!   connect beyond it fails with [`OpenError::Full`].
//! * **time**: a connection that sends no whole message for
//!   [`TcpConfig::idle_timeout`] is closed ([`DownReason::Idle`]); a
//!   connect that takes longer than [`TcpConfig::connect_timeout`] fails
//!   ([`Input::ConnectFailed`], [`io::ErrorKind::TimedOut`]).
//!
//! [`TcpEndpoints::close`] stops reading at once and lets the connection
//! send what is queued (at most the idle timeout long), then closes it.
//!
//! # TLS
//!
//! With feature `tls`, `TcpEndpoints::listen_tls` and
//! `TcpEndpoints::connect_tls` run the same connections inside TLS 1.3
//! (module `transport::tokio::tls`): the connection's task does the
//! handshake (within `TlsConfig::handshake_timeout`),
//! and only then is the connection up. An accepted connection whose
//! handshake fails or times out is closed without the node ever hearing of
//! it; a connect's fails with [`Input::ConnectFailed`]; both are counted
//! ([`TcpCounters::tls_handshake_failures`],
//! [`TcpCounters::tls_handshake_timeouts`]). A connection in its handshake
//! counts against [`TcpConfig::max_connections`]. The [`Input::Up`] of a
//! TLS connection tells whether the peer authenticated
//! ([`Input::Up`]'s `authenticated`): a server's certificate is always
//! verified (else there is no connection), a client's when it presented
//! one. Messages, the send buffer, the idle timeout and the frame size are
//! those of plain connections: the bounds above hold for TLS connections
//! as they are.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use std::vec::Vec;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ::tokio::net::{TcpListener, TcpStream};
use ::tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use ::tokio::time::Sleep;

use super::{DownReason, Endpoint, Input, OpenError, SendError, POLL_BUDGET};
use crate::id::AssocId;
use crate::transport::{Incoming, Payload};
use crate::wire::Protocol;

/// TCP association numbers have this bit set (as the thread-based
/// transport's), so that they never collide with UDP's or SCTP's.
pub const TCP_ASSOC_BIT: u32 = 0x8000_0000;

/// What one queued message costs in a connection's send buffer besides its
/// bytes (its queue entry).
pub const ENTRY_OVERHEAD: usize = 64;

/// The largest message (the Message Length field's range).
pub const MAX_MESSAGE: usize = 65_535;

/// Messages queued together are written with one call, up to about this
/// many bytes.
const WRITE_BATCH: usize = 64 << 10;

/// The backlog of each listener.
pub const LISTEN_BACKLOG: i32 = 1024;

/// How long accepting pauses after an accept error (out of file
/// descriptors, say), so that a listener that stays readable does not
/// spin.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// The most messages of one connection waiting for the node at once (see
/// the [module](self) documentation): the node takes the connections'
/// messages in turn rather than a flooding peer's backlog first.
pub const CONNECTION_QUEUE: usize = 1;

/// Whether `assoc` is a TCP association.
pub fn is_tcp(assoc: AssocId) -> bool {
    assoc != AssocId::NONE && assoc.0 & TCP_ASSOC_BIT != 0
}

/// The TCP endpoints' limits and timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// The most connections of the node at once (accepted and connected);
    /// the next accepted one is closed at once, the next connect fails.
    pub max_connections: usize,
    /// The bytes a connection may have queued for sending (each message
    /// counts its length plus [`ENTRY_OVERHEAD`]); a send that does not fit
    /// closes the connection. Should be above [`MAX_MESSAGE`].
    pub send_buffer: usize,
    /// A connection that sends no whole message this long is closed.
    pub idle_timeout: Duration,
    /// A connect that takes longer fails.
    pub connect_timeout: Duration,
    /// The inputs the connection tasks may have waiting for the node, all
    /// together; beyond it they wait before reading on.
    pub event_queue: usize,
    /// The kernel send buffer (`SO_SNDBUF`) asked for each connection;
    /// `None` keeps the system's default (which autotunes up to megabytes,
    /// all of it before [`send_buffer`](Self::send_buffer) starts to fill).
    pub socket_send_buffer: Option<usize>,
}

/// [`TcpConfig::send_buffer`] by default: 256 KiB.
pub const DEFAULT_SEND_BUFFER: usize = 256 << 10;

impl Default for TcpConfig {
    /// 1,024 connections, [`DEFAULT_SEND_BUFFER`], 120 s idle, 5 s to
    /// connect, 1,024 inputs queued, the system's socket buffer.
    fn default() -> Self {
        TcpConfig {
            max_connections: 1024,
            send_buffer: DEFAULT_SEND_BUFFER,
            idle_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            event_queue: 1024,
            socket_send_buffer: None,
        }
    }
}

/// What the TCP endpoints counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// Connections accepted beyond the cap and closed at once.
    pub refused_connections: u64,
    /// Connections closed because a send did not fit their send buffer.
    pub closed_slow_readers: u64,
    /// Connections closed because their peer sent nothing for the idle
    /// timeout.
    pub idle_closed: u64,
    /// Connections ended for a Message Length below 4.
    pub garbage_closed: u64,
    /// Errors of `accept` (each pauses accepting for [`ACCEPT_PAUSE`]).
    pub accept_errors: u64,
    /// TLS handshakes that failed or timed out (accepted connections and
    /// connects; always 0 without feature `tls`).
    pub tls_handshake_failures: u64,
    /// Of those, the handshakes that did not finish within the handshake
    /// timeout.
    pub tls_handshake_timeouts: u64,
}

/// How the node closes a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Stop reading, send what is queued, close.
    Graceful,
    /// Close at once with a reset (nothing more is sent).
    Reset,
}

/// What a connection task tells the node.
#[derive(Debug)]
enum Event {
    Connected {
        assoc: AssocId,
        result: Result<SocketAddr, io::ErrorKind>,
        authenticated: bool,
    },
    /// An accepted TLS connection finished its handshake.
    #[cfg(feature = "tls")]
    Accepted {
        assoc: AssocId,
        authenticated: bool,
    },
    /// A TLS handshake failed (`timed_out`: did not finish in time).
    #[cfg(feature = "tls")]
    HandshakeFailed {
        assoc: AssocId,
        timed_out: bool,
    },
    Message {
        assoc: AssocId,
        bytes: Vec<u8>,
        /// The connection's share of the queue, given back when the node
        /// takes the message.
        _share: OwnedSemaphorePermit,
    },
    Closed {
        assoc: AssocId,
        reason: DownReason,
    },
}

#[derive(Debug)]
struct Conn {
    endpoint: Endpoint,
    /// An accepted TLS connection in its handshake: the node has not
    /// heard of it yet.
    handshaking: bool,
    protocol: Protocol,
    remote: SocketAddr,
    /// `None` while connecting.
    local: Option<SocketAddr>,
    out: mpsc::UnboundedSender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<Stop>>,
}

impl Conn {
    fn stop(mut self, how: Stop) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(how);
        }
    }
}

struct Listening {
    listener: TcpListener,
    local: SocketAddr,
    protocol: Protocol,
    /// The acceptor and handshake timeout of a TLS listener.
    #[cfg(feature = "tls")]
    tls: Option<(tokio_rustls::TlsAcceptor, Duration)>,
}

impl core::fmt::Debug for Listening {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("Listening");
        d.field("local", &self.local)
            .field("protocol", &self.protocol);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls.is_some());
        d.finish()
    }
}

/// A node's TCP listeners and connections. See the [module](self)
/// documentation.
#[derive(Debug)]
pub struct TcpEndpoints {
    config: TcpConfig,
    listeners: Vec<Listening>,
    conns: HashMap<AssocId, Conn>,
    next_id: u32,
    events_tx: mpsc::Sender<Event>,
    events_rx: mpsc::Receiver<Event>,
    /// Downs of connections the node's own sends closed.
    pending: VecDeque<Input>,
    accept_pause: Option<Pin<Box<Sleep>>>,
    turn: usize,
    counters: TcpCounters,
}

impl TcpEndpoints {
    /// No listener, no connection.
    pub fn new(config: TcpConfig) -> Self {
        let (events_tx, events_rx) = mpsc::channel(config.event_queue.max(1));
        TcpEndpoints {
            config,
            listeners: Vec::new(),
            conns: HashMap::new(),
            next_id: 1,
            events_tx,
            events_rx,
            pending: VecDeque::new(),
            accept_pause: None,
            turn: 0,
            counters: TcpCounters::default(),
        }
    }

    /// Listens at `addr` for connections carrying `protocol`. Must be
    /// called within a tokio runtime. Returns the listener's index.
    pub fn listen(&mut self, addr: SocketAddr, protocol: Protocol) -> io::Result<usize> {
        let listener = Self::bind(addr)?;
        self.listeners.push(Listening {
            local: listener.local_addr()?,
            listener,
            protocol,
            #[cfg(feature = "tls")]
            tls: None,
        });
        Ok(self.listeners.len() - 1)
    }

    /// Listens at `addr` for TLS connections carrying `protocol` (see the
    /// [module](self) documentation, "TLS"): the listener presents `tls`'s
    /// certificate chain and, with `require_client_certificate`, refuses
    /// clients that do not present one that chains to `tls`'s roots (a
    /// certificate presented is always verified). Fails with
    /// [`io::ErrorKind::InvalidInput`] when `tls` has no certificate and
    /// key of its own. Must be called within a tokio runtime. Returns the
    /// listener's index.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn listen_tls(
        &mut self,
        addr: SocketAddr,
        protocol: Protocol,
        tls: &super::tls::TlsConfig,
        require_client_certificate: bool,
    ) -> io::Result<usize> {
        let Some(acceptor) = tls.acceptor(require_client_certificate) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a TLS listener needs a certificate and key",
            ));
        };
        let listener = Self::bind(addr)?;
        self.listeners.push(Listening {
            local: listener.local_addr()?,
            listener,
            protocol,
            tls: Some((acceptor, tls.handshake_timeout())),
        });
        Ok(self.listeners.len() - 1)
    }

    /// A listening socket at `addr`.
    fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        use socket2::{Domain, Socket, Type};
        super::runtime()?;
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        // As std's `TcpListener::bind`: address reuse (a restarted node
        // binds its port again at once), the system's dual-stack default.
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(LISTEN_BACKLOG)?;
        socket.set_nonblocking(true)?;
        let std: std::net::TcpListener = socket.into();
        TcpListener::from_std(std)
    }

    /// The local address of listener `listener`.
    pub fn local_addr(&self, listener: usize) -> Option<SocketAddr> {
        self.listeners.get(listener).map(|l| l.local)
    }

    /// The number of connections (connects and TLS handshakes in progress
    /// included).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The (local, remote) addresses of `assoc` (local is `None` while it
    /// connects).
    pub fn addresses(&self, assoc: AssocId) -> Option<(Option<SocketAddr>, SocketAddr)> {
        self.conns
            .get(&assoc)
            .filter(|c| !c.handshaking)
            .map(|c| (c.local, c.remote))
    }

    /// The bytes queued for sending on `assoc` (with [`ENTRY_OVERHEAD`]
    /// per message).
    pub fn queued(&self, assoc: AssocId) -> Option<usize> {
        self.conns
            .get(&assoc)
            .map(|c| c.queued.load(Ordering::Acquire))
    }

    /// What was counted.
    pub fn counters(&self) -> TcpCounters {
        self.counters
    }

    fn new_id(&mut self) -> AssocId {
        loop {
            let id = AssocId(TCP_ASSOC_BIT | self.next_id);
            self.next_id = (self.next_id + 1) & !TCP_ASSOC_BIT;
            // u32::MAX is AssocId::NONE.
            if self.next_id == 0 || self.next_id == !TCP_ASSOC_BIT {
                self.next_id = 1;
            }
            if !self.conns.contains_key(&id) {
                return id;
            }
        }
    }

    fn register(
        &mut self,
        endpoint: Endpoint,
        protocol: Protocol,
        remote: SocketAddr,
        local: Option<SocketAddr>,
    ) -> (AssocId, Channels) {
        let assoc = self.new_id();
        let (out, out_rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = oneshot::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        self.conns.insert(
            assoc,
            Conn {
                endpoint,
                handshaking: false,
                protocol,
                remote,
                local,
                out,
                queued: queued.clone(),
                stop: Some(stop),
            },
        );
        let channels = Channels {
            assoc,
            out_rx,
            stop_rx,
            queued,
            events: self.events_tx.clone(),
            share: Arc::new(Semaphore::new(CONNECTION_QUEUE)),
            idle: self.config.idle_timeout,
        };
        (assoc, channels)
    }

    /// Connects to `remote` for `protocol`, without waiting: the outcome
    /// comes as [`Input::Up`] or [`Input::ConnectFailed`] for the
    /// association returned. Messages sent meanwhile are queued (within the
    /// send buffer). Must be called within a tokio runtime.
    pub fn connect(
        &mut self,
        remote: SocketAddr,
        protocol: Protocol,
    ) -> Result<AssocId, OpenError> {
        self.connect_with(remote, protocol, None)
    }

    /// Connects to `remote` for `protocol` over TLS, as
    /// [`connect`](Self::connect) does over plain TCP: the server's
    /// certificate must chain to `tls`'s roots and name `remote`'s IP
    /// address; the node presents its own certificate when `tls` has one.
    /// A failed or timed-out handshake is [`Input::ConnectFailed`]
    /// ([`io::ErrorKind::InvalidData`], or [`io::ErrorKind::TimedOut`]).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn connect_tls(
        &mut self,
        remote: SocketAddr,
        protocol: Protocol,
        tls: &super::tls::TlsConfig,
    ) -> Result<AssocId, OpenError> {
        self.connect_with(
            remote,
            protocol,
            Some((tls.connector(), tls.handshake_timeout())),
        )
    }

    fn connect_with(
        &mut self,
        remote: SocketAddr,
        protocol: Protocol,
        #[cfg(feature = "tls")] tls: Option<(tokio_rustls::TlsConnector, Duration)>,
        #[cfg(not(feature = "tls"))] _tls: Option<core::convert::Infallible>,
    ) -> Result<AssocId, OpenError> {
        let rt = super::runtime().map_err(|_| OpenError::NoRuntime)?;
        if self.conns.len() >= self.config.max_connections {
            return Err(OpenError::Full);
        }
        let (assoc, mut ch) = self.register(Endpoint::TcpConnect, protocol, remote, None);
        let timeout = self.config.connect_timeout;
        let send_buffer = self.config.socket_send_buffer;
        rt.spawn(async move {
            let connect = ::tokio::time::timeout(timeout, TcpStream::connect(remote));
            let result = ::tokio::select! {
                _ = &mut ch.stop_rx => return,
                r = connect => r,
            };
            let stream = match result {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return ch.connected(Err(e.kind())).await,
                Err(_) => return ch.connected(Err(io::ErrorKind::TimedOut)).await,
            };
            prepare(&stream, send_buffer);
            let local = match stream.local_addr() {
                Ok(local) => local,
                Err(e) => return ch.connected(Err(e.kind())).await,
            };
            #[cfg(feature = "tls")]
            if let Some((connector, timeout)) = tls {
                let name = rustls_pki_types::ServerName::IpAddress(remote.ip().into());
                let handshake = ::tokio::time::timeout(timeout, connector.connect(name, stream));
                let result = ::tokio::select! {
                    _ = &mut ch.stop_rx => return,
                    r = handshake => r,
                };
                let (kind, timed_out) = match result {
                    Ok(Ok(s)) => {
                        ch.up(Ok(local), true).await;
                        return ch.run(Stream::Tls(Box::new(s.into()))).await;
                    }
                    Ok(Err(_)) => (io::ErrorKind::InvalidData, false),
                    Err(_) => (io::ErrorKind::TimedOut, true),
                };
                ch.handshake_failed(timed_out).await;
                return ch.connected(Err(kind)).await;
            }
            ch.connected(Ok(local)).await;
            ch.run(Stream::Plain(stream)).await;
        });
        Ok(assoc)
    }

    /// Queues `msg` on `assoc`; never waits. A message that does not fit
    /// the connection's send buffer closes the connection (see the
    /// [module](self) documentation).
    pub fn send(&mut self, assoc: AssocId, msg: &[u8]) -> Result<(), SendError> {
        if msg.len() > MAX_MESSAGE {
            return Err(SendError::TooLarge);
        }
        let Some(c) = self.conns.get(&assoc).filter(|c| !c.handshaking) else {
            return Err(SendError::UnknownAssociation);
        };
        let cost = msg.len() + ENTRY_OVERHEAD;
        let queued = c.queued.load(Ordering::Acquire);
        if queued.saturating_add(cost) > self.config.send_buffer {
            if let Some(c) = self.conns.remove(&assoc) {
                c.stop(Stop::Reset);
            }
            self.counters.closed_slow_readers += 1;
            self.pending.push_back(Input::Down {
                assoc,
                reason: DownReason::SendBufferFull,
            });
            return Err(SendError::SendBufferFull);
        }
        c.queued.fetch_add(cost, Ordering::AcqRel);
        // A task that has ended has its Down on the way: the message is
        // lost with the connection.
        let _ = c.out.send(msg.to_vec());
        Ok(())
    }

    /// Closes `assoc` (no input follows): reading stops, what is queued is
    /// still sent, then the connection closes.
    pub fn close(&mut self, assoc: AssocId) {
        if self.conns.get(&assoc).is_some_and(|c| c.handshaking) {
            return;
        }
        if let Some(c) = self.conns.remove(&assoc) {
            c.stop(Stop::Graceful);
        }
    }

    /// Takes an event of a connection task: the input for the node, if
    /// any (events of connections the node closed are dropped).
    fn event(&mut self, e: Event) -> Option<Input> {
        match e {
            Event::Message { assoc, bytes, .. } => {
                let c = self.conns.get(&assoc).filter(|c| !c.handshaking)?;
                Some(Input::Message {
                    endpoint: c.endpoint,
                    local: c.local?,
                    incoming: Incoming {
                        assoc,
                        remote: c.remote,
                        new: false,
                        connectionless: false,
                        payload: Payload::Message(c.protocol),
                        bytes,
                    },
                })
            }
            Event::Closed { assoc, reason } => {
                if self.conns.remove(&assoc)?.handshaking {
                    return None;
                }
                match reason {
                    DownReason::Idle => self.counters.idle_closed += 1,
                    DownReason::Garbage => self.counters.garbage_closed += 1,
                    _ => {}
                }
                Some(Input::Down { assoc, reason })
            }
            #[cfg(feature = "tls")]
            Event::HandshakeFailed { assoc, timed_out } => {
                self.counters.tls_handshake_failures += 1;
                if timed_out {
                    self.counters.tls_handshake_timeouts += 1;
                }
                // An accepted connection is forgotten here; a connect's
                // failure follows as its ConnectFailed.
                if self.conns.get(&assoc).is_some_and(|c| c.handshaking) {
                    self.conns.remove(&assoc);
                }
                None
            }
            #[cfg(feature = "tls")]
            Event::Accepted {
                assoc,
                authenticated,
            } => {
                let c = self.conns.get_mut(&assoc)?;
                c.handshaking = false;
                Some(Input::Up {
                    assoc,
                    endpoint: c.endpoint,
                    local: c.local?,
                    remote: c.remote,
                    protocol: c.protocol,
                    verified: true,
                    authenticated,
                })
            }
            Event::Connected {
                assoc,
                result,
                authenticated,
            } => match result {
                Ok(local) => {
                    let c = self.conns.get_mut(&assoc)?;
                    c.local = Some(local);
                    Some(Input::Up {
                        assoc,
                        endpoint: c.endpoint,
                        local,
                        remote: c.remote,
                        protocol: c.protocol,
                        verified: true,
                        authenticated,
                    })
                }
                Err(error) => {
                    let c = self.conns.remove(&assoc)?;
                    Some(Input::ConnectFailed {
                        assoc,
                        remote: c.remote,
                        error,
                    })
                }
            },
        }
    }

    /// Takes a connection accepted by listener `i`: its Up, or `None` when
    /// it is refused (beyond the cap).
    fn accepted(&mut self, i: usize, stream: TcpStream, remote: SocketAddr) -> Option<Input> {
        if self.conns.len() >= self.config.max_connections {
            self.counters.refused_connections += 1;
            // Closed at once: the peer reads end-of-stream.
            drop(stream);
            return None;
        }
        let rt = super::runtime().ok()?;
        let (protocol, listener_local) = (self.listeners[i].protocol, self.listeners[i].local);
        prepare(&stream, self.config.socket_send_buffer);
        let local = stream.local_addr().unwrap_or(listener_local);
        let endpoint = Endpoint::TcpListener(i);
        let (assoc, ch) = self.register(endpoint, protocol, remote, Some(local));
        #[cfg(feature = "tls")]
        if let Some((acceptor, timeout)) = self.listeners[i].tls.clone() {
            if let Some(c) = self.conns.get_mut(&assoc) {
                c.handshaking = true;
            }
            rt.spawn(ch.accept_tls(stream, acceptor, timeout));
            return None;
        }
        rt.spawn(ch.run(Stream::Plain(stream)));
        Some(Input::Up {
            assoc,
            endpoint,
            local,
            remote,
            protocol,
            verified: true,
            authenticated: false,
        })
    }

    /// Whether accepting is paused (after an accept error).
    fn paused(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(p) = self.accept_pause.as_mut() else {
            return false;
        };
        if p.as_mut().poll(cx).is_pending() {
            return true;
        }
        self.accept_pause = None;
        false
    }

    /// The next input: an accepted connection's Up, a message, a
    /// connection's Down, a connect's outcome. Cancel-safe; never blocks.
    pub fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Input> {
        let mut budget = POLL_BUDGET;
        loop {
            if let Some(i) = self.pending.pop_front() {
                return Poll::Ready(i);
            }
            match self.events_rx.poll_recv(cx) {
                Poll::Ready(Some(e)) => {
                    if let Some(i) = self.event(e) {
                        return Poll::Ready(i);
                    }
                }
                // The node holds a sender: never closed.
                Poll::Ready(None) | Poll::Pending => break,
            }
            budget -= 1;
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        if self.paused(cx) {
            return Poll::Pending;
        }
        let n = self.listeners.len();
        for k in 0..n {
            let i = (self.turn + k) % n;
            loop {
                match self.listeners[i].listener.poll_accept(cx) {
                    Poll::Ready(Ok((stream, remote))) => {
                        if let Some(input) = self.accepted(i, stream, remote) {
                            self.turn = (i + 1) % n;
                            return Poll::Ready(input);
                        }
                    }
                    Poll::Ready(Err(_)) => {
                        self.counters.accept_errors += 1;
                        let mut pause = Box::pin(::tokio::time::sleep(ACCEPT_PAUSE));
                        // Registers the wake-up.
                        let _ = pause.as_mut().poll(cx);
                        self.accept_pause = Some(pause);
                        return Poll::Pending;
                    }
                    Poll::Pending => break,
                }
                budget -= 1;
                if budget == 0 {
                    self.turn = (i + 1) % n;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
        Poll::Pending
    }

    /// Waits for the next input (cancel-safe).
    pub async fn next_input(&mut self) -> Input {
        core::future::poll_fn(|cx| self.poll_input(cx)).await
    }
}

impl Drop for TcpEndpoints {
    fn drop(&mut self) {
        for (_, c) in self.conns.drain() {
            c.stop(Stop::Reset);
        }
    }
}

/// Sets a new connection's options (best effort).
fn prepare(stream: &TcpStream, send_buffer: Option<usize>) {
    let _ = stream.set_nodelay(true);
    if let Some(bytes) = send_buffer {
        let _ = socket2::SockRef::from(stream).set_send_buffer_size(bytes);
    }
}

/// What a connection task holds.
struct Channels {
    assoc: AssocId,
    out_rx: mpsc::UnboundedReceiver<Vec<u8>>,
    stop_rx: oneshot::Receiver<Stop>,
    queued: Arc<AtomicUsize>,
    events: mpsc::Sender<Event>,
    /// The connection's share of the queue to the node.
    share: Arc<Semaphore>,
    idle: Duration,
}

/// How a connection task ended.
enum End {
    /// By itself: the node hears of it.
    Down(DownReason),
    /// Closed by the node, queued messages sent.
    Done,
    /// Reset by the node, or the node is gone.
    Reset,
}

impl Channels {
    async fn connected(&mut self, result: Result<SocketAddr, io::ErrorKind>) {
        self.up(result, false).await;
    }

    async fn up(&mut self, result: Result<SocketAddr, io::ErrorKind>, authenticated: bool) {
        let _ = self
            .events
            .send(Event::Connected {
                assoc: self.assoc,
                result,
                authenticated,
            })
            .await;
    }

    #[cfg(feature = "tls")]
    async fn handshake_failed(&mut self, timed_out: bool) {
        let _ = self
            .events
            .send(Event::HandshakeFailed {
                assoc: self.assoc,
                timed_out,
            })
            .await;
    }

    /// Runs the handshake of an accepted TLS connection, then the
    /// connection.
    #[cfg(feature = "tls")]
    async fn accept_tls(
        mut self,
        stream: TcpStream,
        acceptor: tokio_rustls::TlsAcceptor,
        timeout: Duration,
    ) {
        let handshake = ::tokio::time::timeout(timeout, acceptor.accept(stream));
        let result = ::tokio::select! {
            _ = &mut self.stop_rx => return,
            r = handshake => r,
        };
        match result {
            Ok(Ok(s)) => {
                let authenticated = s
                    .get_ref()
                    .1
                    .peer_certificates()
                    .is_some_and(|c| !c.is_empty());
                let _ = self
                    .events
                    .send(Event::Accepted {
                        assoc: self.assoc,
                        authenticated,
                    })
                    .await;
                self.run(Stream::Tls(Box::new(s.into()))).await;
            }
            // The socket is dropped: closed.
            Ok(Err(_)) => self.handshake_failed(false).await,
            Err(_) => self.handshake_failed(true).await,
        }
    }

    /// Runs the connection until it ends.
    async fn run(mut self, mut stream: Stream) {
        let end = match &mut stream {
            Stream::Plain(s) => {
                let (r, w) = s.split();
                self.drive(r, w).await
            }
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                let (r, w) = ::tokio::io::split(&mut **s);
                self.drive(r, w).await
            }
        };
        match end {
            End::Down(reason) => {
                let _ = self
                    .events
                    .send(Event::Closed {
                        assoc: self.assoc,
                        reason,
                    })
                    .await;
            }
            End::Done => {
                let _ = stream.shutdown().await;
            }
            End::Reset => {
                let _ = socket2::SockRef::from(stream.tcp()).set_linger(Some(Duration::ZERO));
            }
        }
    }

    /// Reads and writes until the connection ends or the node stops it.
    async fn drive<R, W>(&mut self, r: R, w: W) -> End
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let read = read_loop(r, self.assoc, &self.events, &self.share, self.idle);
        let write = write_loop(w, &mut self.out_rx, &self.queued);
        let mut read = core::pin::pin!(read);
        let mut write = core::pin::pin!(write);
        let mut stop_rx = &mut self.stop_rx;
        let mut reading = true;
        let mut stopping = false;
        let linger = ::tokio::time::sleep(self.idle);
        let mut linger = core::pin::pin!(linger);
        loop {
            ::tokio::select! {
                how = &mut stop_rx, if !stopping => match how {
                    Ok(Stop::Graceful) => {
                        reading = false;
                        stopping = true;
                        linger.as_mut().reset(::tokio::time::Instant::now() + self.idle);
                    }
                    Ok(Stop::Reset) | Err(_) => break End::Reset,
                },
                reason = &mut read, if reading => break End::Down(reason),
                r = &mut write => break match r {
                    Ok(()) => End::Done,
                    Err(k) => End::Down(DownReason::Failed(k)),
                },
                _ = &mut linger, if stopping => break End::Reset,
            }
        }
    }
}

/// A connection's byte stream: plain TCP, or TLS over TCP.
enum Stream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl Stream {
    /// The TCP socket beneath.
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// Reads messages and hands them to the node until the connection ends.
async fn read_loop<R: AsyncRead + Unpin>(
    mut r: R,
    assoc: AssocId,
    events: &mpsc::Sender<Event>,
    share: &Arc<Semaphore>,
    idle: Duration,
) -> DownReason {
    loop {
        let bytes = match ::tokio::time::timeout(idle, read_message(&mut r)).await {
            Err(_) => return DownReason::Idle,
            Ok(Err(reason)) => return reason,
            Ok(Ok(bytes)) => bytes,
        };
        // Waits for room, first in this connection's share, then in the
        // queue: a full one slows this peer down.
        let Ok(share) = share.clone().acquire_owned().await else {
            return DownReason::Closed;
        };
        let message = Event::Message {
            assoc,
            bytes,
            _share: share,
        };
        if events.send(message).await.is_err() {
            return DownReason::Closed;
        }
    }
}

/// Reads one message: the common header, then the rest of its Message
/// Length, padded to a multiple of 4.
async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, DownReason> {
    let fail = |e: io::Error| match e.kind() {
        io::ErrorKind::UnexpectedEof => DownReason::Closed,
        k => DownReason::Failed(k),
    };
    let mut header = [0u8; 4];
    r.read_exact(&mut header).await.map_err(fail)?;
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if len < 4 {
        return Err(DownReason::Garbage);
    }
    let mut bytes = std::vec![0u8; crate::wire::padded(len)];
    bytes[..4].copy_from_slice(&header);
    r.read_exact(&mut bytes[4..]).await.map_err(fail)?;
    Ok(bytes)
}

/// Writes what the node queues until the node closes the queue (`Ok`) or
/// a write fails.
async fn write_loop<W: ::tokio::io::AsyncWrite + Unpin>(
    mut w: W,
    out: &mut mpsc::UnboundedReceiver<Vec<u8>>,
    queued: &AtomicUsize,
) -> Result<(), io::ErrorKind> {
    let mut batch = Vec::new();
    while let Some(msg) = out.recv().await {
        let mut cost = msg.len() + ENTRY_OVERHEAD;
        match out.try_recv() {
            // More is queued: one write for up to WRITE_BATCH bytes.
            Ok(more) => {
                batch.clear();
                batch.extend_from_slice(&msg);
                let mut next = Some(more);
                while let Some(m) = next.take() {
                    cost += m.len() + ENTRY_OVERHEAD;
                    batch.extend_from_slice(&m);
                    if batch.len() < WRITE_BATCH {
                        next = out.try_recv().ok();
                    }
                }
                w.write_all(&batch).await.map_err(|e| e.kind())?;
                w.flush().await.map_err(|e| e.kind())?;
                if batch.capacity() > 2 * WRITE_BATCH {
                    batch = Vec::new();
                }
            }
            Err(_) => {
                w.write_all(&msg).await.map_err(|e| e.kind())?;
                w.flush().await.map_err(|e| e.kind())?;
            }
        }
        queued.fetch_sub(cost, Ordering::AcqRel);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn association_numbers_carry_the_tcp_bit_and_never_none() {
        let mut t = TcpEndpoints::new(TcpConfig::default());
        t.next_id = !TCP_ASSOC_BIT - 1;
        let a = t.new_id();
        let b = t.new_id();
        assert_eq!((a, b), (AssocId(u32::MAX - 1), AssocId(TCP_ASSOC_BIT | 1)));
        for id in [a, b] {
            assert!(is_tcp(id));
        }
        assert!(!is_tcp(AssocId::NONE));
    }

    #[test]
    fn a_send_that_does_not_fit_closes_the_connection() {
        let mut t = TcpEndpoints::new(TcpConfig {
            send_buffer: 100 + ENTRY_OVERHEAD,
            ..TcpConfig::default()
        });
        let remote = SocketAddr::from(([127, 0, 0, 1], 9));
        let (a, _channels) = t.register(Endpoint::TcpConnect, Protocol::Asap, remote, None);
        assert_eq!(t.send(a, &[0; 60]), Ok(()));
        assert_eq!(t.queued(a), Some(60 + ENTRY_OVERHEAD));
        assert_eq!(t.send(a, &[0; 60]), Err(SendError::SendBufferFull));
        assert_eq!(t.counters().closed_slow_readers, 1);
        assert_eq!(t.connection_count(), 0);
        match t.pending.pop_front() {
            Some(Input::Down { assoc, reason }) => {
                assert_eq!((assoc, reason), (a, DownReason::SendBufferFull))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(t.send(a, &[0; 4]), Err(SendError::UnknownAssociation));
        assert_eq!(t.send(a, &[0; MAX_MESSAGE + 1]), Err(SendError::TooLarge));
    }
}
