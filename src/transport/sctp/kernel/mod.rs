//! The Linux kernel's SCTP (feature `sctp-kernel`).
//!
//! One non-blocking one-to-many socket (`SOCK_SEQPACKET`, `IPPROTO_SCTP`;
//! of the IPv6 family when any bound address is IPv6) bound to every
//! address asked for: the first with `bind`, the others with
//! `SCTP_SOCKOPT_BINDX_ADD`, so that the endpoint is multi-homed and its
//! peers see all of them. Options set when it opens: `SO_REUSEADDR` (a
//! port can be bound again while the associations of a closed endpoint on
//! it shut down; the kernel still refuses a second listener), `SCTP_INITMSG`
//! (streams), `SCTP_NODELAY`, `SCTP_RECVRCVINFO`, notifications of
//! association changes, failed sends, shutdowns and aborted partial
//! deliveries (`SCTP_EVENT`, or `SCTP_EVENTS` on older kernels), and the
//! heartbeat interval and maximum retransmissions of [`SctpConfig`].
//!
//! * The PPID, stream and ordering of a message travel in the `SCTP_SNDINFO`
//!   control message on send and the `SCTP_RCVINFO` one on receive.
//! * [`KernelSctp::connect`] uses `SCTP_SOCKOPT_CONNECTX3`, which returns the
//!   kernel's association id at once while the handshake goes on; its
//!   outcome is an [`SctpEvent::Up`](super::SctpEvent::Up) or an
//!   [`SctpEvent::ConnectFailed`](super::SctpEvent::ConnectFailed).
//! * A reader thread waits in `poll` on the socket and an `eventfd` (which
//!   [`SctpTransport::shutdown`] signals), reads with `recvmsg`, turns
//!   notifications into events and puts messages delivered in parts back
//!   together, at most [`SctpConfig::max_message_size`] bytes each (a
//!   bigger message is dropped whole).
//! * [`KernelSctp::send`](SctpTransport::send) waits at most [`SEND_WAIT`]
//!   for room when the socket's send buffer is full, then fails with
//!   [`io::ErrorKind::WouldBlock`] (the message is lost, as on a lossy
//!   path; the protocols' timers send again). The kernel counts a
//!   one-to-many socket's send buffer for all its associations together
//!   (unless `net.sctp.sndbuf_policy` says otherwise), so one peer that
//!   does not read could keep it full for everyone: while a send waits,
//!   the associations are looked at (at most once per [`RELIEF_INTERVAL`]),
//!   and one whose peer's receive window has stayed closed (below
//!   [`STALLED_WINDOW`]) for [`STALL_TIME`] is aborted, which frees its
//!   share; it is reported [`Down`](super::SctpEvent::Down) and counted
//!   ([`KernelSctp::stalled_aborted`]). A peer that reads, however slowly,
//!   opens its window again and is left alone.
//! * Association ids are the kernel's `sctp_assoc_t` with
//!   [`SCTP_ASSOC_BIT`] set.
//!
//! The system calls live in the private module `sys` (the only `unsafe`
//! code), the byte layouts of addresses, control messages and notifications
//! in `layout`.

mod layout;
mod reader;
mod sys;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::vec::Vec;

use self::layout::SndInfo;
use super::{EventSink, SctpConfig, SctpTransport, SendInfo, SCTP_ASSOC_BIT};
use crate::id::AssocId;

/// The most peer addresses read for one association.
pub const MAX_PEER_ADDRESSES: usize = 32;

/// The most messages being put together from parts at once (one per
/// association; the kernel interleaves none unless asked to).
pub const MAX_PARTIAL_MESSAGES: usize = 16;

/// How long [`SctpTransport::send`] waits for room in a full send buffer
/// before it fails with [`io::ErrorKind::WouldBlock`].
pub const SEND_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// A peer's receive window, as this side sees it, below this many bytes is
/// closed.
pub const STALLED_WINDOW: u32 = 1500;

/// A peer whose window has stayed closed this long, seen so at looks made
/// while the socket's send buffer was full, does not read: the next such
/// look aborts its association.
pub const STALL_TIME: std::time::Duration = std::time::Duration::from_millis(500);

/// The least time between two looks at the associations' windows (each
/// look asks the kernel about every association).
pub const RELIEF_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// Bytes read by one `recvmsg`.
const READ_CHUNK: usize = 65_536;

/// The most messages read between two looks at the waker: a peer that
/// sends without pause cannot keep [`SctpTransport::shutdown`] waiting.
const READ_BATCH: usize = 64;

/// Notification bytes kept (the rest of a long one, such as a failed
/// send carrying its message, is skipped).
const NOTIFICATION_KEEP: usize = 256;

/// The [`AssocId`] of a kernel association id; `None` for ids that do
/// not fit beside [`SCTP_ASSOC_BIT`].
pub fn assoc_id(kernel: i32) -> Option<AssocId> {
    if kernel <= 0 || kernel as u32 >= SCTP_ASSOC_BIT {
        return None;
    }
    Some(AssocId(kernel as u32 | SCTP_ASSOC_BIT))
}

/// The kernel association id of an [`AssocId`] this transport gave out.
pub fn kernel_id(assoc: AssocId) -> Option<i32> {
    if !super::is_sctp(assoc) {
        return None;
    }
    let k = assoc.0 & !SCTP_ASSOC_BIT;
    (k != 0).then_some(k as i32)
}

/// What the transport knows of one association.
#[derive(Clone, Debug)]
struct Assoc {
    /// The peer's primary address (or the first one asked for).
    remote: SocketAddr,
    /// Opened by [`KernelSctp::connect`] and not up yet.
    connecting: bool,
}

/// State shared between the caller and the reader thread.
#[derive(Debug, Default)]
struct State {
    assocs: HashMap<i32, Assoc>,
}

#[derive(Debug)]
struct Shared {
    socket: sys::Socket,
    waker: sys::Waker,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere leaves the map consistent (single inserts and
        // removes), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// See the [module](self) documentation.
///
/// The [`EventSink`] runs on the reader thread and must not block forever:
/// [`SctpTransport::shutdown`] (and dropping) joins that thread.
#[derive(Debug)]
pub struct KernelSctp {
    /// `None` once shut down (the socket closes with the last reference).
    shared: Option<Arc<Shared>>,
    locals: Vec<SocketAddr>,
    config: SctpConfig,
    reader: Option<JoinHandle<()>>,
    /// When the associations' windows were last looked at.
    last_relief: Option<std::time::Instant>,
    /// The associations whose window was closed at every look since the
    /// time given (kernel ids).
    closed_since: HashMap<i32, std::time::Instant>,
    /// Associations aborted because their peer did not read.
    stalled_aborted: u64,
}

impl KernelSctp {
    /// Opens an endpoint bound to every address of `bind` (one port for
    /// all; port 0: an ephemeral port) and starts its reader thread, which
    /// reports to `sink`.
    pub fn open(config: &SctpConfig, bind: &[SocketAddr], sink: EventSink) -> io::Result<Self> {
        let Some(first) = bind.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to bind",
            ));
        };
        if bind.iter().any(|a| a.port() != first.port()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "every bound address needs the same port",
            ));
        }
        let ipv6 = bind.iter().any(SocketAddr::is_ipv6);
        let socket = sys::Socket::new(ipv6)?;
        socket.set_reuse_addr()?;
        configure(&socket, config)?;
        socket.bind(first)?;
        let port = socket.local_addr()?.port();
        let locals: Vec<SocketAddr> = bind
            .iter()
            .map(|a| {
                let mut a = *a;
                a.set_port(port);
                a
            })
            .collect();
        socket.bindx_add(&locals[1..])?;
        socket.listen(128)?;
        let shared = Arc::new(Shared {
            socket,
            waker: sys::Waker::new()?,
            state: Mutex::new(State::default()),
        });
        let reader = {
            let shared = shared.clone();
            let max = config.max_message_size;
            std::thread::Builder::new()
                .name(std::format!("sctp-kernel:{port}"))
                .spawn(move || reader::Reader::new(shared, sink, max).run())?
        };
        Ok(KernelSctp {
            shared: Some(shared),
            locals,
            config: *config,
            reader: Some(reader),
            last_relief: None,
            closed_since: HashMap::new(),
            stalled_aborted: 0,
        })
    }

    /// How many associations were aborted because their peer did not read
    /// while the socket's send buffer was full (see the
    /// [module](self) documentation).
    pub fn stalled_aborted(&self) -> u64 {
        self.stalled_aborted
    }

    /// The socket's send buffer is full: looks at every association's
    /// window (at most once per [`RELIEF_INTERVAL`]) and aborts the one
    /// whose window has stayed closed longest, once that is [`STALL_TIME`]
    /// or more. The association stays known until the kernel reports it
    /// lost, so that the reader reports it [`Down`](super::SctpEvent::Down).
    /// `true` when one was aborted.
    fn relieve(&mut self) -> bool {
        let now = std::time::Instant::now();
        if self
            .last_relief
            .is_some_and(|t| now.duration_since(t) < RELIEF_INTERVAL)
        {
            return false;
        }
        self.last_relief = Some(now);
        let Some(shared) = self.shared.clone() else {
            return false;
        };
        let ids: Vec<i32> = shared
            .state()
            .assocs
            .iter()
            .filter(|(_, a)| !a.connecting)
            .map(|(id, _)| *id)
            .collect();
        let mut closed = HashMap::with_capacity(self.closed_since.len());
        for id in ids {
            match shared.socket.peer_window(id) {
                Ok(window) if window < STALLED_WINDOW => {
                    let since = self.closed_since.get(&id).copied().unwrap_or(now);
                    closed.insert(id, since);
                }
                _ => {}
            }
        }
        self.closed_since = closed;
        let Some((id, since)) = self
            .closed_since
            .iter()
            .map(|(id, since)| (*id, *since))
            .min_by_key(|(_, since)| *since)
            .filter(|(_, since)| now.duration_since(*since) >= STALL_TIME)
        else {
            return false;
        };
        self.closed_since.remove(&id);
        let abort = SndInfo {
            sid: 0,
            flags: layout::SCTP_ABORT,
            ppid: 0,
            assoc_id: id,
        };
        if shared.socket.send(&abort, &[]).is_err() {
            return false;
        }
        net_warn!(
            "sctp-kernel: association {} aborted: its peer's window stayed closed for {} ms",
            id,
            now.duration_since(since).as_millis()
        );
        self.stalled_aborted += 1;
        true
    }

    fn shared(&self) -> io::Result<&Shared> {
        self.shared.as_deref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotConnected,
                "the SCTP endpoint is shut down",
            )
        })
    }

    fn sndinfo(&self, assoc: AssocId, flags: u16) -> io::Result<SndInfo> {
        let id = kernel_id(assoc).ok_or_else(not_connected)?;
        Ok(SndInfo {
            sid: 0,
            flags,
            ppid: 0,
            assoc_id: id,
        })
    }

    /// Ends an association with a zero-length message carrying `flags`
    /// (`SCTP_EOF` or `SCTP_ABORT`) and forgets it.
    fn end(&mut self, assoc: AssocId, flags: u16) {
        let (Ok(info), Ok(shared)) = (self.sndinfo(assoc, flags), self.shared()) else {
            return;
        };
        let known = shared.state().assocs.remove(&info.assoc_id).is_some();
        if known {
            if let Err(e) = shared.socket.send(&info, &[]) {
                net_debug!(
                    "sctp-kernel: ending association failed: {}",
                    e.raw_os_error().unwrap_or(0)
                );
            }
        }
    }
}

/// One non-blocking send, again when a signal interrupted it.
fn send_once(shared: &Shared, snd: &SndInfo, msg: &[u8]) -> io::Result<usize> {
    loop {
        match shared.socket.send(snd, msg) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "no such SCTP association")
}

/// Sets the socket's options from `config`.
fn configure(socket: &sys::Socket, config: &SctpConfig) -> io::Result<()> {
    let streams = config.streams.max(1);
    socket.set_initmsg(&sys::SctpInitmsg {
        sinit_num_ostreams: streams,
        sinit_max_instreams: streams,
        sinit_max_attempts: config.association_max_retransmits,
        sinit_max_init_timeo: 0,
    })?;
    socket.set_int(sys::SCTP_NODELAY, 1)?;
    socket.set_int(sys::SCTP_RECVRCVINFO, 1)?;
    let kinds = [
        layout::SCTP_ASSOC_CHANGE,
        layout::SCTP_SEND_FAILED_EVENT,
        layout::SCTP_SHUTDOWN_EVENT,
        layout::SCTP_PARTIAL_DELIVERY_EVENT,
    ];
    if kinds.iter().try_for_each(|&k| socket.subscribe(k)).is_err() {
        // Kernels before 5.0 know only the older SCTP_EVENTS.
        socket.set_events(&sys::SctpEventSubscribe {
            sctp_association_event: 1,
            sctp_send_failure_event: 1,
            sctp_shutdown_event: 1,
            sctp_partial_delivery_event: 1,
            ..Default::default()
        })?;
    }
    if config.heartbeat_interval_ms != 0 {
        socket.set_paddrparams(&sys::SctpPaddrparams {
            spp_assoc_id: sys::SCTP_FUTURE_ASSOC,
            spp_address: [0; 128],
            spp_hbinterval: config.heartbeat_interval_ms,
            spp_pathmaxrxt: 0,
            spp_pathmtu: 0,
            spp_sackdelay: 0,
            spp_flags: sys::SPP_HB_ENABLE,
            spp_ipv6_flowlabel: 0,
            spp_dscp: 0,
            pad: 0,
        })?;
    }
    if config.association_max_retransmits != 0 {
        socket.set_assocparams(&sys::SctpAssocparams {
            sasoc_assoc_id: sys::SCTP_FUTURE_ASSOC,
            sasoc_asocmaxrxt: config.association_max_retransmits,
            ..Default::default()
        })?;
    }
    Ok(())
}

impl SctpTransport for KernelSctp {
    fn local_addrs(&self) -> Vec<SocketAddr> {
        self.locals.clone()
    }

    fn connect(&mut self, remotes: &[SocketAddr]) -> io::Result<AssocId> {
        let Some(&first) = remotes.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to connect to",
            ));
        };
        // The lock is held across the call so that the reader, which may
        // read the outcome before the call returns, finds the association.
        let shared = self.shared()?;
        let mut state = shared.state();
        let id = shared.socket.connectx(remotes)?;
        let Some(assoc) = assoc_id(id) else {
            drop(state);
            let _ = shared.socket.send(
                &SndInfo {
                    sid: 0,
                    flags: layout::SCTP_ABORT,
                    ppid: 0,
                    assoc_id: id,
                },
                &[],
            );
            return Err(io::Error::other("association id out of range"));
        };
        state.assocs.insert(
            id,
            Assoc {
                remote: first,
                connecting: true,
            },
        );
        Ok(assoc)
    }

    fn send(&mut self, assoc: AssocId, info: SendInfo, msg: &[u8]) -> io::Result<()> {
        if msg.len() > self.config.max_message_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "message larger than max_message_size",
            ));
        }
        if msg.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "SCTP carries no empty messages",
            ));
        }
        let mut snd = self.sndinfo(assoc, 0)?;
        let shared = self.shared()?;
        match shared.state().assocs.get(&snd.assoc_id) {
            Some(a) if !a.connecting => {}
            _ => return Err(not_connected()),
        }
        snd.sid = info.stream;
        snd.ppid = info.ppid;
        if info.unordered {
            snd.flags |= layout::SCTP_UNORDERED;
        }
        // The socket's send buffer may be full for a moment: wait for room,
        // but not for long, and free it of a peer that does not read.
        let deadline = std::time::Instant::now() + SEND_WAIT;
        let n = loop {
            let shared = self.shared()?;
            match send_once(shared, &snd, msg) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.relieve() {
                        continue;
                    }
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(e);
                    }
                    let slice = left.min(RELIEF_INTERVAL);
                    sys::poll_writable(&self.shared()?.socket, slice.as_millis().max(1) as i32)?;
                }
                r => break r?,
            }
        };
        if n != msg.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "message cut short",
            ));
        }
        Ok(())
    }

    fn remote(&self, assoc: AssocId) -> Option<SocketAddr> {
        let id = kernel_id(assoc)?;
        match self.shared.as_ref()?.state().assocs.get(&id) {
            Some(a) if !a.connecting => Some(a.remote),
            _ => None,
        }
    }

    fn close(&mut self, assoc: AssocId) {
        self.end(assoc, layout::SCTP_EOF);
    }

    fn abort(&mut self, assoc: AssocId) {
        self.end(assoc, layout::SCTP_ABORT);
    }

    fn shutdown(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        shared.waker.wake();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        // The reader's reference is gone with it: this closes the socket,
        // and the kernel shuts its associations down gracefully.
        drop(shared);
    }
}

impl Drop for KernelSctp {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::layout::{Notification, RcvInfo};
    use super::reader::*;
    use super::*;
    use crate::transport::sctp::SctpEvent;

    fn rcv(assoc_id: i32) -> RcvInfo {
        RcvInfo {
            sid: 1,
            flags: 0,
            ppid: 11,
            assoc_id,
        }
    }

    fn change(state: u16, id: i32) -> Notification {
        Notification::AssocChange {
            state,
            assoc_id: id,
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Applies `n` and returns the events.
    fn apply(st: &mut State, n: Notification, remotes: &[&str]) -> Vec<SctpEvent> {
        let mut ev = Vec::new();
        st.apply(n, remotes.iter().map(|r| addr(r)).collect(), &mut ev);
        ev
    }

    #[test]
    fn an_association_opened_here_comes_up_with_the_address_asked_for() {
        let mut st = State::default();
        st.assocs.insert(
            5,
            Assoc {
                remote: addr("127.0.0.2:9"),
                connecting: true,
            },
        );
        let a = assoc_id(5).unwrap();
        // The kernel lists the peer's addresses in its own order.
        let ev = apply(
            &mut st,
            change(layout::SCTP_COMM_UP, 5),
            &["127.0.0.1:9", "127.0.0.2:9"],
        );
        assert_eq!(
            ev,
            vec![SctpEvent::Up {
                assoc: a,
                remote: addr("127.0.0.2:9"),
                remotes: vec![addr("127.0.0.1:9"), addr("127.0.0.2:9")],
            }]
        );
        assert!(!st.assocs[&5].connecting);
        // Lost: Down once; later notifications of it are ignored.
        assert_eq!(
            apply(&mut st, change(layout::SCTP_COMM_LOST, 5), &[]),
            vec![SctpEvent::Down { assoc: a }]
        );
        assert!(apply(&mut st, change(layout::SCTP_SHUTDOWN_COMP, 5), &[]).is_empty());
        assert!(apply(&mut st, Notification::SendFailed { assoc_id: 5 }, &[]).is_empty());
    }

    #[test]
    fn a_failed_connect_is_reported_as_such() {
        let mut st = State::default();
        for (i, state) in [layout::SCTP_CANT_STR_ASSOC, layout::SCTP_COMM_LOST]
            .into_iter()
            .enumerate()
        {
            let id = 7 + i as i32;
            st.assocs.insert(
                id,
                Assoc {
                    remote: addr("127.0.0.1:1"),
                    connecting: true,
                },
            );
            assert_eq!(
                apply(&mut st, change(state, id), &[]),
                vec![SctpEvent::ConnectFailed {
                    assoc: assoc_id(id).unwrap(),
                    remote: addr("127.0.0.1:1")
                }]
            );
        }
        assert!(st.assocs.is_empty());
    }

    #[test]
    fn peer_associations_shutdowns_restarts_and_failed_sends() {
        let mut st = State::default();
        let a = assoc_id(3).unwrap();
        let ev = apply(&mut st, change(layout::SCTP_COMM_UP, 3), &["127.0.0.1:4"]);
        assert!(
            matches!(&ev[..], [SctpEvent::Up { remote, .. }] if *remote == addr("127.0.0.1:4"))
        );
        assert_eq!(
            apply(&mut st, Notification::SendFailed { assoc_id: 3 }, &[]),
            vec![SctpEvent::SendFailed { assoc: a }]
        );
        // A restart: down, then up again (the peer's state is new).
        let ev = apply(&mut st, change(layout::SCTP_RESTART, 3), &["127.0.0.1:4"]);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0], SctpEvent::Down { assoc: a });
        assert!(matches!(ev[1], SctpEvent::Up { assoc, .. } if assoc == a));
        // The peer shuts down: Down at its SHUTDOWN, nothing at completion.
        assert_eq!(
            apply(&mut st, Notification::Shutdown { assoc_id: 3 }, &[]),
            vec![SctpEvent::Down { assoc: a }]
        );
        assert!(apply(&mut st, change(layout::SCTP_SHUTDOWN_COMP, 3), &[]).is_empty());
        // Unknown ids, an unknown state, a peer without address: nothing.
        assert!(apply(&mut st, change(layout::SCTP_RESTART, 9), &["127.0.0.1:4"]).is_empty());
        assert!(apply(&mut st, change(99, 9), &[]).is_empty());
        assert!(apply(&mut st, change(layout::SCTP_COMM_UP, 9), &[]).is_empty());
        assert!(apply(&mut st, Notification::Other(1), &[]).is_empty());
    }

    #[test]
    fn ids_out_of_range_are_aborted_and_gone_ones_forgotten() {
        let mut st = State::default();
        let mut ev = Vec::new();
        let big = SCTP_ASSOC_BIT as i32;
        let fx = st.apply(
            change(layout::SCTP_COMM_UP, big),
            vec![addr("127.0.0.1:1")],
            &mut ev,
        );
        assert_eq!(
            fx,
            Effects {
                forget: None,
                abort: Some(big)
            }
        );
        assert!(ev.is_empty());
        let fx = st.apply(change(layout::SCTP_COMM_LOST, 4), Vec::new(), &mut ev);
        assert_eq!(fx.forget, Some(4));
        let fx = st.apply(
            Notification::PartialDeliveryAborted { assoc_id: 4 },
            Vec::new(),
            &mut ev,
        );
        assert_eq!(fx.forget, Some(4));
        assert!(ev.is_empty());
    }

    #[test]
    fn parts_are_put_back_together_per_association() {
        let mut r = Reassembly::new(10);
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(r.push(rcv(1), Some(from), b"abc", false).is_none());
        assert!(r.push(rcv(2), None, b"xy", false).is_none());
        let one = r.push(rcv(1), None, b"def", true).unwrap();
        assert_eq!(
            (&one.bytes[..], one.remote, one.info),
            (&b"abcdef"[..], Some(from), rcv(1))
        );
        let two = r.push(rcv(2), None, b"z", true).unwrap();
        assert_eq!(&two.bytes[..], b"xyz");
        // A whole message in one part.
        assert_eq!(
            r.push(rcv(1), None, b"0123456789", true)
                .unwrap()
                .bytes
                .len(),
            10
        );
        assert!(r.partial.is_empty());
    }

    #[test]
    fn messages_over_the_limit_are_dropped_whole_and_the_next_one_arrives() {
        let mut r = Reassembly::new(10);
        assert!(r.push(rcv(1), None, &[0; 11], true).is_none());
        assert!(r.push(rcv(1), None, &[0; 6], false).is_none());
        assert!(r.push(rcv(1), None, &[0; 6], false).is_none());
        // Nothing is kept of a message being dropped.
        assert!(r.partial[&1].bytes.is_empty());
        assert!(r.push(rcv(1), None, &[0; 6], true).is_none());
        assert_eq!(r.push(rcv(1), None, b"next", true).unwrap().bytes, b"next");
        // A forgotten association starts afresh.
        assert!(r.push(rcv(3), None, b"old", false).is_none());
        r.forget(3);
        assert_eq!(r.push(rcv(3), None, b"new", true).unwrap().bytes, b"new");
    }

    #[test]
    fn at_most_so_many_messages_hold_bytes_at_once() {
        let mut r = Reassembly::new(100);
        for id in 1..=MAX_PARTIAL_MESSAGES as i32 {
            assert!(r.push(rcv(id), None, b"part", false).is_none());
        }
        let extra = MAX_PARTIAL_MESSAGES as i32 + 1;
        assert!(r.push(rcv(extra), None, b"part", false).is_none());
        // The one beyond the limit is dropped whole, not cut short.
        assert!(r.push(rcv(extra), None, b"rest", true).is_none());
        assert_eq!(r.push(rcv(1), None, b"!", true).unwrap().bytes, b"part!");
        // Room again.
        assert!(r.push(rcv(extra), None, b"a", false).is_none());
        assert_eq!(r.push(rcv(extra), None, b"b", true).unwrap().bytes, b"ab");
    }

    #[test]
    fn the_reader_looks_at_the_waker_between_batches_of_reads() {
        // A UDP socket stands in for the SCTP one: its datagrams carry no
        // SCTP_RCVINFO and are dropped, but each is one read.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_nonblocking(true).unwrap();
        let to = udp.local_addr().unwrap();
        let shared = Arc::new(Shared {
            socket: sys::Socket::stand_in(udp.into()),
            waker: sys::Waker::new().unwrap(),
            state: Mutex::new(State::default()),
        });
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..2 * READ_BATCH + 1 {
            sender.send_to(b"x", to).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut reader = Reader::new(shared.clone(), Box::new(|_| true), 1000);
        let readable = || sys::poll(&shared.socket, &shared.waker, 0).unwrap().socket;
        let mut errors = 0;
        // A peer sending without pause keeps the socket readable: each
        // round ends after READ_BATCH reads all the same.
        for _ in 0..2 {
            assert!(reader.read_some(&mut errors));
            assert!(readable());
        }
        assert!(reader.read_some(&mut errors));
        assert!(!readable());
    }

    #[test]
    fn kernel_ids_map_to_sctp_assoc_ids_and_back() {
        for k in [1, 2, 3, 1000, (SCTP_ASSOC_BIT - 1) as i32] {
            let a = assoc_id(k).unwrap();
            assert!(super::super::is_sctp(a));
            assert_eq!(kernel_id(a), Some(k));
        }
        assert_eq!(assoc_id(0), None);
        assert_eq!(assoc_id(-1), None);
        assert_eq!(assoc_id(SCTP_ASSOC_BIT as i32), None);
        assert_eq!(kernel_id(AssocId(5)), None);
        assert_eq!(kernel_id(AssocId::NONE), None);
        assert_eq!(kernel_id(AssocId(SCTP_ASSOC_BIT)), None);
    }

    #[test]
    fn opening_without_kernel_sctp_fails_cleanly() {
        // On a kernel with SCTP this opens; on one without, socket() fails.
        // Either way nothing panics and the endpoint shuts down.
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        match KernelSctp::open(&SctpConfig::default(), &[any], Box::new(|_| true)) {
            Ok(mut t) => {
                assert_eq!(t.local_addrs().len(), 1);
                assert_ne!(t.local_addrs()[0].port(), 0);
                t.shutdown();
            }
            Err(e) => assert!(e.raw_os_error().is_some(), "{e}"),
        }
        assert!(KernelSctp::open(&SctpConfig::default(), &[], Box::new(|_| true)).is_err());
        let mixed: [SocketAddr; 2] = [
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.2:2".parse().unwrap(),
        ];
        assert!(KernelSctp::open(&SctpConfig::default(), &mixed, Box::new(|_| true)).is_err());
    }
}
