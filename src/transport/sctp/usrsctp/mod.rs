//! SCTP over UDP encapsulation (RFC 6951) with usrsctp, the userland SCTP
//! stack of Debian's `libusrsctp-dev` (feature `usrsctp`).
//!
//! * The stack is process-global: the first [`UsrSctp::open`] starts it on
//!   [`SctpConfig::udp_encapsulation_port`] (default 9899), once; every
//!   later transport of the process shares that UDP port (opening one with
//!   a different port fails). It is never stopped. So in one process any
//!   number of endpoints work, while two processes on one host each need
//!   their own encapsulation port (and must name each other's as
//!   [`SctpConfig::remote_udp_encapsulation_port`]).
//! * Each [`UsrSctp`] is one one-to-many socket bound to all its addresses
//!   (one SCTP port), and one reader thread blocked in `usrsctp_recvv`
//!   that turns notifications and messages into [`SctpEvent`]s.
//! * Sends never wait: the socket is non-blocking (usrsctp ignores
//!   `MSG_DONTWAIT`), and usrsctp counts the send buffer per association,
//!   so a send to a peer that does not read fails with
//!   [`io::ErrorKind::WouldBlock`] once that peer's share is full, while
//!   the other associations' sends go on.
//! * Messages that arrive in parts (partial delivery) are put together per
//!   association, at most [`SctpConfig::max_message_size`] bytes each and
//!   for at most [`MAX_PARTIAL`] associations at once; larger ones are
//!   dropped (and logged).
//! * A notification longer than one read (a SEND_FAILED carrying a large
//!   message) is understood from its first part; the other parts are
//!   skipped.
//! * Association ids are usrsctp's own with [`SCTP_ASSOC_BIT`] set.
//!
//! As root, usrsctp also opens raw IP sockets for SCTP; on a host whose
//! kernel speaks SCTP, those would see (and answer) the kernel's packets,
//! so do not mix the two on one host.

mod sys;

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::vec::Vec;

use super::{EventSink, RecvInfo, SctpConfig, SctpEvent, SctpTransport, SendInfo, SCTP_ASSOC_BIT};
use crate::id::AssocId;

/// How many associations may have a partly received message at once.
pub const MAX_PARTIAL: usize = 64;

/// The UDP encapsulation port the process's stack runs on.
static STACK: OnceLock<u16> = OnceLock::new();

/// Starts usrsctp once per process on `port`; fails when it already runs
/// on another port, or when the port is taken.
fn start_stack(port: u16) -> io::Result<()> {
    let mut probe_error = None;
    let running = *STACK.get_or_init(|| {
        // usrsctp binds the port itself (IPv4 and IPv6 apart) and only
        // prints (nothing, here) when that fails: check first that the
        // port is free.
        if let Err(e) = port_is_free(port) {
            probe_error = Some(e);
            return 0;
        }
        sys::init(port);
        port
    });
    if let Some(e) = probe_error {
        return Err(io::Error::new(
            e.kind(),
            std::format!("usrsctp: UDP encapsulation port {port} is not free ({e})"),
        ));
    }
    if running == 0 {
        return Err(io::Error::other(
            "usrsctp: the stack could not start (its UDP port was taken)",
        ));
    }
    if running != port {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            std::format!("usrsctp already runs on UDP port {running} in this process (not {port})"),
        ));
    }
    Ok(())
}

/// Whether UDP `port` can be bound on IPv4 and (where the host has IPv6)
/// on IPv6 alone, as usrsctp binds it.
fn port_is_free(port: u16) -> io::Result<()> {
    use socket2::{Domain, Socket, Type};
    let v4 = std::net::UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, port))?;
    if let Ok(v6) = Socket::new(Domain::IPV6, Type::DGRAM, None) {
        v6.set_only_v6(true)?;
        let any = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port));
        v6.bind(&any.into())?;
    }
    drop(v4);
    Ok(())
}

fn to_id(raw: u32) -> AssocId {
    AssocId(SCTP_ASSOC_BIT | (raw & !(SCTP_ASSOC_BIT | 0x8000_0000)))
}

fn to_raw(id: AssocId) -> Option<u32> {
    super::is_sctp(id).then_some(id.0 & !SCTP_ASSOC_BIT)
}

/// Associations, shared by the transport and its reader.
#[derive(Default)]
struct Table {
    /// Asked for with `connect`, not up yet: the first address asked for.
    pending: HashMap<u32, SocketAddr>,
    /// Up: the peer's primary address.
    up: HashMap<u32, SocketAddr>,
}

fn lock(t: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// An SCTP endpoint over usrsctp; see the [module](self) documentation.
pub struct UsrSctp {
    socket: Option<Arc<sys::Socket>>,
    table: Arc<Mutex<Table>>,
    stop: Arc<AtomicBool>,
    readiness: Arc<sys::Readiness>,
    reader: Option<JoinHandle<()>>,
    locals: Vec<SocketAddr>,
    config: SctpConfig,
}

impl core::fmt::Debug for UsrSctp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UsrSctp")
            .field("locals", &self.locals)
            .finish()
    }
}

impl UsrSctp {
    /// Opens a one-to-many endpoint bound to every address of `bind` (one
    /// port for all; port 0: an ephemeral one), starting the stack first
    /// if this is the process's first endpoint, and a reader thread that
    /// reports to `sink`.
    pub fn open(config: &SctpConfig, bind: &[SocketAddr], sink: EventSink) -> io::Result<Self> {
        if bind.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to bind",
            ));
        }
        let port = bind[0].port();
        if bind.iter().any(|a| a.port() != port) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "all addresses of an SCTP endpoint share one port",
            ));
        }
        start_stack(config.udp_encapsulation_port)?;
        let domain = if bind.iter().all(|a| a.is_ipv4()) {
            sys::AF_INET
        } else {
            sys::AF_INET6
        };
        let socket = sys::Socket::one_to_many(domain)?;
        socket.set_recv_rcvinfo()?;
        socket.set_nodelay()?;
        for kind in [
            sys::SCTP_ASSOC_CHANGE,
            sys::SCTP_SHUTDOWN_EVENT,
            sys::SCTP_SEND_FAILED_EVENT,
            sys::SCTP_PARTIAL_DELIVERY_EVENT,
        ] {
            socket.subscribe(kind)?;
        }
        socket.set_init(config.streams.max(1), config.association_max_retransmits)?;
        if config.association_max_retransmits > 0 {
            socket.set_association_max_retransmits(config.association_max_retransmits)?;
        }
        if config.heartbeat_interval_ms > 0 {
            socket.set_heartbeat(config.heartbeat_interval_ms)?;
        }
        socket.set_remote_udp_port(config.remote_udp_encapsulation_port)?;
        socket.bind(bind)?;
        socket.listen()?;
        let mut locals = socket.local_addrs();
        if locals.is_empty() {
            locals = bind.to_vec();
        }
        // In the order asked for (usrsctp lists them its own way).
        locals.sort_by_key(|a| {
            bind.iter()
                .position(|b| b.ip() == a.ip())
                .unwrap_or(bind.len())
        });
        let readiness = Arc::new(sys::Readiness::default());
        socket.notify_on_events(readiness.clone())?;
        let socket = Arc::new(socket);
        let table = Arc::new(Mutex::new(Table::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = Reader {
            socket: socket.clone(),
            table: table.clone(),
            stop: stop.clone(),
            readiness: readiness.clone(),
            sink,
            max: config.max_message_size,
            partial: HashMap::new(),
            dropping: HashSet::new(),
            notification_continues: false,
        };
        let name = std::format!("usrsctp {}", locals[0]);
        let reader = std::thread::Builder::new()
            .name(name)
            .spawn(move || reader.run())?;
        Ok(UsrSctp {
            socket: Some(socket),
            table,
            stop,
            readiness,
            reader: Some(reader),
            locals,
            config: *config,
        })
    }

    fn socket(&self) -> io::Result<&sys::Socket> {
        self.socket
            .as_deref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "endpoint shut down"))
    }

    fn end(&mut self, assoc: AssocId, flags: u16) {
        let Some(raw) = to_raw(assoc) else {
            return;
        };
        let known = {
            let mut t = lock(&self.table);
            let a = t.up.remove(&raw).is_some();
            let b = t.pending.remove(&raw).is_some();
            a || b
        };
        if known {
            if let Ok(s) = self.socket() {
                let _ = s.sendv(raw, 0, flags, 0, &[]);
            }
        }
    }
}

impl SctpTransport for UsrSctp {
    fn local_addrs(&self) -> Vec<SocketAddr> {
        self.locals.clone()
    }

    fn connect(&mut self, remotes: &[SocketAddr]) -> io::Result<AssocId> {
        let first = *remotes
            .first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
        let socket = self
            .socket
            .clone()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "endpoint shut down"))?;
        // Held across connectx, so that the reader cannot see the
        // association come up before it is known as pending.
        let mut t = lock(&self.table);
        let raw = socket.connectx(remotes)?;
        t.pending.insert(raw, first);
        Ok(to_id(raw))
    }

    fn send(&mut self, assoc: AssocId, info: SendInfo, msg: &[u8]) -> io::Result<()> {
        if msg.len() > self.config.max_message_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "message larger than SctpConfig::max_message_size",
            ));
        }
        if msg.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty message"));
        }
        let raw = to_raw(assoc)
            .filter(|raw| lock(&self.table).up.contains_key(raw))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no such association"))?;
        let flags = if info.unordered {
            sys::SCTP_UNORDERED
        } else {
            0
        };
        let n = self
            .socket()?
            .sendv(raw, info.stream, flags, info.ppid, msg)?;
        if n != msg.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "message cut short",
            ));
        }
        Ok(())
    }

    fn remote(&self, assoc: AssocId) -> Option<SocketAddr> {
        let raw = to_raw(assoc)?;
        lock(&self.table).up.get(&raw).copied()
    }

    fn close(&mut self, assoc: AssocId) {
        self.end(assoc, sys::SCTP_EOF);
    }

    fn abort(&mut self, assoc: AssocId) {
        self.end(assoc, sys::SCTP_ABORT);
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.readiness.notify();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        // The reader has dropped its reference: this closes the socket.
        self.socket = None;
    }
}

impl Drop for UsrSctp {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A notification the reader acts on (usrsctp's layouts, host byte
/// order, association ids raw).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Notification {
    /// SCTP_ASSOC_CHANGE: `sac_state` (offset 8), `sac_assoc_id` (16).
    AssocChange { state: u16, assoc: u32 },
    /// SCTP_SHUTDOWN_EVENT: `sse_assoc_id` (8).
    Shutdown { assoc: u32 },
    /// SCTP_SEND_FAILED_EVENT: `ssfe_assoc_id` (28, after the header, the
    /// error and the 16-byte sndinfo).
    SendFailed { assoc: u32 },
    /// SCTP_PARTIAL_DELIVERY_EVENT: `pdapi_assoc_id` (20, after the
    /// header, indication, stream and sequence).
    PartialDeliveryAborted { assoc: u32 },
}

impl Notification {
    /// The notification in `n`; `None` for other kinds and for anything
    /// too short (never a panic).
    fn parse(n: &[u8]) -> Option<Self> {
        let u16_at = |at: usize| n.get(at..at + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
        let u32_at = |at: usize| {
            n.get(at..at + 4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        Some(match u16_at(0)? {
            sys::SCTP_ASSOC_CHANGE => Notification::AssocChange {
                state: u16_at(8)?,
                assoc: u32_at(16)?,
            },
            sys::SCTP_SHUTDOWN_EVENT => Notification::Shutdown { assoc: u32_at(8)? },
            sys::SCTP_SEND_FAILED_EVENT => Notification::SendFailed { assoc: u32_at(28)? },
            sys::SCTP_PARTIAL_DELIVERY_EVENT => {
                Notification::PartialDeliveryAborted { assoc: u32_at(20)? }
            }
            _ => return None,
        })
    }
}

/// The reader thread's state.
struct Reader {
    socket: Arc<sys::Socket>,
    table: Arc<Mutex<Table>>,
    stop: Arc<AtomicBool>,
    readiness: Arc<sys::Readiness>,
    sink: EventSink,
    max: usize,
    /// Messages received in part, per association.
    partial: HashMap<u32, Vec<u8>>,
    /// Associations whose current message is too large: skipped to its end.
    dropping: HashSet<u32>,
    /// The last part read was of a notification that has more parts.
    notification_continues: bool,
}

impl Reader {
    /// Reads everything there is, then waits for usrsctp's upcall (or
    /// the transport's shutdown) before reading again.
    fn run(mut self) {
        let mut buf = std::vec![0u8; 65_536];
        loop {
            loop {
                if self.stop.load(Ordering::Acquire) {
                    return;
                }
                match self.socket.recvv(&mut buf) {
                    Ok(r) if r.len == 0 => break,
                    Ok(r) => {
                        let bytes = &buf[..r.len];
                        let go_on = if r.flags & sys::MSG_NOTIFICATION != 0 {
                            // Only a notification's first part is parsed
                            // (it holds every field used); the rest, e.g.
                            // a failed message's bytes in SEND_FAILED, is
                            // skipped, never taken for a notification.
                            let first = !self.notification_continues;
                            self.notification_continues = r.flags & sys::MSG_EOR == 0;
                            !first || self.notification(bytes)
                        } else {
                            self.data(&r, bytes)
                        };
                        if !go_on {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        if e.kind() != io::ErrorKind::WouldBlock {
                            net_debug!("usrsctp: recvv failed");
                        }
                        break;
                    }
                }
            }
            self.readiness.wait();
        }
    }

    fn emit(&mut self, e: SctpEvent) -> bool {
        (self.sink)(e)
    }

    fn data(&mut self, r: &sys::Received, bytes: &[u8]) -> bool {
        let Some(info) = r.info else {
            return true;
        };
        let raw = info.rcv_assoc_id;
        let eor = r.flags & sys::MSG_EOR != 0;
        if self.dropping.contains(&raw) {
            if eor {
                self.dropping.remove(&raw);
            }
            return true;
        }
        let whole = match self.partial.remove(&raw) {
            Some(mut part) => {
                if part.len() + bytes.len() > self.max {
                    self.too_large(raw, eor);
                    return true;
                }
                part.extend_from_slice(bytes);
                part
            }
            None => {
                if bytes.len() > self.max {
                    self.too_large(raw, eor);
                    return true;
                }
                bytes.to_vec()
            }
        };
        if !eor {
            if self.partial.len() >= MAX_PARTIAL {
                net_warn!("usrsctp: too many partly received messages, one dropped");
                self.dropping.insert(raw);
            } else {
                self.partial.insert(raw, whole);
            }
            return true;
        }
        let remote = r.from.or_else(|| lock(&self.table).up.get(&raw).copied());
        let Some(remote) = remote else {
            return true;
        };
        self.emit(SctpEvent::Message {
            assoc: to_id(raw),
            remote,
            info: RecvInfo {
                ppid: u32::from_be(info.rcv_ppid),
                stream: info.rcv_sid,
                unordered: info.rcv_flags & sys::SCTP_UNORDERED != 0,
            },
            bytes: whole,
        })
    }

    fn too_large(&mut self, raw: u32, eor: bool) {
        net_warn!("usrsctp: message larger than max_message_size dropped");
        self.partial.remove(&raw);
        if !eor {
            self.dropping.insert(raw);
        }
    }

    fn forget_partial(&mut self, raw: u32) {
        self.partial.remove(&raw);
        self.dropping.remove(&raw);
    }

    fn notification(&mut self, n: &[u8]) -> bool {
        match Notification::parse(n) {
            Some(Notification::AssocChange { state, assoc }) => self.assoc_change(state, assoc),
            Some(Notification::Shutdown { assoc }) => self.down(assoc),
            Some(Notification::SendFailed { assoc }) => {
                let known = lock(&self.table).up.contains_key(&assoc);
                if known {
                    return self.emit(SctpEvent::SendFailed {
                        assoc: to_id(assoc),
                    });
                }
                true
            }
            Some(Notification::PartialDeliveryAborted { assoc }) => {
                // The part received so far is worthless.
                self.forget_partial(assoc);
                true
            }
            None => true,
        }
    }

    fn assoc_change(&mut self, state: u16, raw: u32) -> bool {
        match state {
            sys::SCTP_COMM_UP | sys::SCTP_RESTART => {
                let remotes = self.socket.peer_addrs(raw);
                let (remote, restarted) = {
                    let mut t = lock(&self.table);
                    let asked = t.pending.remove(&raw);
                    let restarted = state == sys::SCTP_RESTART && t.up.contains_key(&raw);
                    let remote = asked.or_else(|| remotes.first().copied());
                    if let Some(r) = remote {
                        t.up.insert(raw, r);
                    }
                    (remote, restarted)
                };
                let Some(remote) = remote else {
                    return true;
                };
                if restarted {
                    self.forget_partial(raw);
                    if !self.emit(SctpEvent::Down { assoc: to_id(raw) }) {
                        return false;
                    }
                }
                self.emit(SctpEvent::Up {
                    assoc: to_id(raw),
                    remote,
                    remotes,
                })
            }
            sys::SCTP_COMM_LOST | sys::SCTP_SHUTDOWN_COMP | sys::SCTP_CANT_STR_ASSOC => {
                self.down(raw)
            }
            _ => true,
        }
    }

    /// The association is gone: Down if it was up, ConnectFailed if it was
    /// being connected, nothing if it was closed here or reported already.
    fn down(&mut self, raw: u32) -> bool {
        self.forget_partial(raw);
        let (was_up, asked) = {
            let mut t = lock(&self.table);
            (t.up.remove(&raw).is_some(), t.pending.remove(&raw))
        };
        if was_up {
            return self.emit(SctpEvent::Down { assoc: to_id(raw) });
        }
        if let Some(remote) = asked {
            return self.emit(SctpEvent::ConnectFailed {
                assoc: to_id(raw),
                remote,
            });
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_parse_and_garbage_is_ignored() {
        let mut ac = [0u8; 20];
        ac[..2].copy_from_slice(&sys::SCTP_ASSOC_CHANGE.to_ne_bytes());
        ac[8..10].copy_from_slice(&sys::SCTP_COMM_UP.to_ne_bytes());
        ac[16..20].copy_from_slice(&7u32.to_ne_bytes());
        assert_eq!(
            Notification::parse(&ac),
            Some(Notification::AssocChange {
                state: sys::SCTP_COMM_UP,
                assoc: 7
            })
        );
        let mut sf = [0u8; 32];
        sf[..2].copy_from_slice(&sys::SCTP_SEND_FAILED_EVENT.to_ne_bytes());
        sf[28..32].copy_from_slice(&9u32.to_ne_bytes());
        assert_eq!(
            Notification::parse(&sf),
            Some(Notification::SendFailed { assoc: 9 })
        );
        // Cut short anywhere: nothing, no panic.
        for cut in 0..ac.len() {
            assert_eq!(Notification::parse(&ac[..cut]), None);
        }
        for cut in 0..sf.len() {
            assert_eq!(Notification::parse(&sf[..cut]), None);
        }
        // Random bytes never panic.
        let mut x: u32 = 0x9e37_79b9;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = Notification::parse(&bytes);
        }
    }

    #[test]
    fn ids_carry_the_sctp_bit_and_map_back() {
        for raw in [3u32, 4, 1000, 0x3fff_ffff] {
            let id = to_id(raw);
            assert!(super::super::is_sctp(id));
            assert_eq!(to_raw(id), Some(raw));
        }
        assert_eq!(to_raw(AssocId(5)), None);
        assert_eq!(to_raw(AssocId(0x8000_0005)), None);
    }
}
