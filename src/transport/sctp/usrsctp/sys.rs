//! The part of libusrsctp's C interface the transport uses (declarations
//! written by hand against Debian's `/usr/include/usrsctp.h`, 0.9.5), and
//! safe wrappers around it. The only module of the crate with `unsafe`.
//!
//! Layouts are those of Linux (no `sa_len`; `sockaddr_in` is 16 bytes,
//! `sockaddr_in6` 28, `sockaddr_storage` 128 aligned to 8). Socket options
//! carry host-order integers, except ports (network order) and the PPID,
//! which usrsctp passes through to the wire untouched (so the caller puts
//! it in network order).

#![allow(unsafe_code)]

use core::ffi::{c_char, c_int, c_uint, c_void};
use core::ptr::NonNull;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::{Arc, Condvar, Mutex};
use std::vec::Vec;

pub(super) const AF_INET: c_int = 2;
pub(super) const AF_INET6: c_int = 10;
const SOCK_SEQPACKET: c_int = 5;
const IPPROTO_SCTP: c_int = 132;

/// `recvv` flags (Linux values; `MSG_NOTIFICATION` is usrsctp's own).
pub(super) const MSG_NOTIFICATION: c_int = 0x2000;
pub(super) const MSG_EOR: c_int = 0x80;
const MSG_DONTWAIT: c_int = 0x40;

const SCTP_FUTURE_ASSOC: u32 = 0;

// Socket options.
const SCTP_INITMSG: c_int = 0x03;
const SCTP_NODELAY: c_int = 0x04;
const SCTP_ASSOCINFO: c_int = 0x02;
const SCTP_PEER_ADDR_PARAMS: c_int = 0x0a;
const SCTP_EVENT: c_int = 0x1e;
const SCTP_RECVRCVINFO: c_int = 0x1f;
const SCTP_REMOTE_UDP_ENCAPS_PORT: c_int = 0x24;
const SCTP_BINDX_ADD_ADDR: c_int = 0x8001;

const SPP_HB_ENABLE: u32 = 0x01;

const SCTP_SENDV_SNDINFO: c_uint = 1;
pub(super) const SCTP_RECVV_RCVINFO: c_uint = 1;

/// `snd_flags` / `rcv_flags`.
pub(super) const SCTP_EOF: u16 = 0x0100;
pub(super) const SCTP_ABORT: u16 = 0x0200;
pub(super) const SCTP_UNORDERED: u16 = 0x0400;

/// Notification types.
pub(super) const SCTP_ASSOC_CHANGE: u16 = 0x0001;
pub(super) const SCTP_SHUTDOWN_EVENT: u16 = 0x0005;
pub(super) const SCTP_PARTIAL_DELIVERY_EVENT: u16 = 0x0007;
pub(super) const SCTP_SEND_FAILED_EVENT: u16 = 0x000e;

/// `sac_state` values.
pub(super) const SCTP_COMM_UP: u16 = 0x0001;
pub(super) const SCTP_COMM_LOST: u16 = 0x0002;
pub(super) const SCTP_RESTART: u16 = 0x0003;
pub(super) const SCTP_SHUTDOWN_COMP: u16 = 0x0004;
pub(super) const SCTP_CANT_STR_ASSOC: u16 = 0x0005;

#[repr(C)]
#[derive(Clone, Copy)]
struct SockaddrIn {
    sin_family: u16,
    sin_port: u16,
    sin_addr: [u8; 4],
    sin_zero: [u8; 8],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct SockaddrIn6 {
    sin6_family: u16,
    sin6_port: u16,
    sin6_flowinfo: u32,
    sin6_addr: [u8; 16],
    sin6_scope_id: u32,
}

#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct SockaddrStorage {
    bytes: [u8; 128],
}

/// `struct sctp_rcvinfo`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RcvInfo {
    pub(super) rcv_sid: u16,
    pub(super) rcv_ssn: u16,
    pub(super) rcv_flags: u16,
    pub(super) rcv_ppid: u32,
    pub(super) rcv_tsn: u32,
    pub(super) rcv_cumtsn: u32,
    pub(super) rcv_context: u32,
    pub(super) rcv_assoc_id: u32,
}

/// `struct sctp_sndinfo`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct SndInfo {
    snd_sid: u16,
    snd_flags: u16,
    snd_ppid: u32,
    snd_context: u32,
    snd_assoc_id: u32,
}

#[repr(C)]
struct InitMsg {
    sinit_num_ostreams: u16,
    sinit_max_instreams: u16,
    sinit_max_attempts: u16,
    sinit_max_init_timeo: u16,
}

#[repr(C)]
struct AssocParams {
    sasoc_assoc_id: u32,
    sasoc_peer_rwnd: u32,
    sasoc_local_rwnd: u32,
    sasoc_cookie_life: u32,
    sasoc_asocmaxrxt: u16,
    sasoc_number_peer_destinations: u16,
}

#[repr(C)]
struct PaddrParams {
    spp_address: SockaddrStorage,
    spp_assoc_id: u32,
    spp_hbinterval: u32,
    spp_pathmtu: u32,
    spp_flags: u32,
    spp_ipv6_flowlabel: u32,
    spp_pathmaxrxt: u16,
    spp_dscp: u8,
}

#[repr(C)]
struct Event {
    se_assoc_id: u32,
    se_type: u16,
    se_on: u8,
}

#[repr(C)]
struct UdpEncaps {
    sue_address: SockaddrStorage,
    sue_assoc_id: u32,
    sue_port: u16,
}

/// usrsctp's `struct socket`, only ever behind a pointer.
#[repr(C)]
struct RawSocket {
    _opaque: [u8; 0],
}

type DebugPrintf = unsafe extern "C" fn(*const c_char, ...);

#[link(name = "usrsctp")]
extern "C" {
    fn usrsctp_init(port: u16, conn_output: *const c_void, debug_printf: Option<DebugPrintf>);
    fn usrsctp_socket(
        domain: c_int,
        kind: c_int,
        protocol: c_int,
        receive_cb: *const c_void,
        send_cb: *const c_void,
        sb_threshold: u32,
        ulp_info: *mut c_void,
    ) -> *mut RawSocket;
    fn usrsctp_setsockopt(
        so: *mut RawSocket,
        level: c_int,
        option_name: c_int,
        option_value: *const c_void,
        option_len: u32,
    ) -> c_int;
    fn usrsctp_bind(so: *mut RawSocket, name: *mut c_void, namelen: u32) -> c_int;
    fn usrsctp_bindx(so: *mut RawSocket, addrs: *mut c_void, addrcnt: c_int, flags: c_int)
        -> c_int;
    fn usrsctp_listen(so: *mut RawSocket, backlog: c_int) -> c_int;
    fn usrsctp_connectx(
        so: *mut RawSocket,
        addrs: *const c_void,
        addrcnt: c_int,
        id: *mut u32,
    ) -> c_int;
    fn usrsctp_sendv(
        so: *mut RawSocket,
        data: *const c_void,
        len: usize,
        to: *mut c_void,
        addrcnt: c_int,
        info: *mut c_void,
        infolen: u32,
        infotype: c_uint,
        flags: c_int,
    ) -> isize;
    fn usrsctp_recvv(
        so: *mut RawSocket,
        dbuf: *mut c_void,
        len: usize,
        from: *mut c_void,
        fromlen: *mut u32,
        info: *mut c_void,
        infolen: *mut u32,
        infotype: *mut c_uint,
        msg_flags: *mut c_int,
    ) -> isize;
    fn usrsctp_getpaddrs(so: *mut RawSocket, id: u32, raddrs: *mut *mut c_void) -> c_int;
    fn usrsctp_freepaddrs(addrs: *mut c_void);
    fn usrsctp_getladdrs(so: *mut RawSocket, id: u32, raddrs: *mut *mut c_void) -> c_int;
    fn usrsctp_freeladdrs(addrs: *mut c_void);
    fn usrsctp_set_upcall(
        so: *mut RawSocket,
        upcall: Option<unsafe extern "C" fn(*mut RawSocket, *mut c_void, c_int)>,
        arg: *mut c_void,
    ) -> c_int;
    fn usrsctp_close(so: *mut RawSocket);
    fn usrsctp_set_non_blocking(so: *mut RawSocket, onoff: c_int) -> c_int;
    fn usrsctp_sysctl_set_sctp_no_csum_on_loopback(value: u32) -> c_int;
    fn usrsctp_sysctl_set_sctp_blackhole(value: u32) -> c_int;
}

/// Starts the stack: its threads and the UDP encapsulation socket on
/// `udp_port`, without debug output, with CRC32c on every packet (also on
/// loopback, so that captured packets verify). Called once per process.
pub(super) fn init(udp_port: u16) {
    // SAFETY: usrsctp_init is called once per process (the caller's
    // OnceLock); no output callback (AF_CONN is not used) and no debug
    // printer (null), both of which usrsctp accepts.
    unsafe {
        usrsctp_init(udp_port, core::ptr::null(), None);
        usrsctp_sysctl_set_sctp_no_csum_on_loopback(0);
        // Answer INITs to closed ports with an ABORT (connects fail fast).
        usrsctp_sysctl_set_sctp_blackhole(0);
    }
}

/// Set by usrsctp (from its own threads) when a socket may be readable;
/// the reader waits on it instead of blocking inside usrsctp, so that it
/// can also be woken to stop.
#[derive(Default)]
pub(super) struct Readiness {
    ready: Mutex<bool>,
    changed: Condvar,
}

impl Readiness {
    /// Marks the socket readable (or the reader asked to look again).
    pub(super) fn notify(&self) {
        *self.ready.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.changed.notify_all();
    }

    /// Waits until [`notify`](Self::notify) has been called since the last
    /// wait, and clears the mark.
    pub(super) fn wait(&self) {
        let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        while !*ready {
            ready = self.changed.wait(ready).unwrap_or_else(|p| p.into_inner());
        }
        *ready = false;
    }
}

/// The sockets whose upcalls wake a reader, by socket address. The upcall
/// only finds sockets registered here, so one that is being closed (and
/// was removed first) is never touched.
static UPCALLS: Mutex<Vec<(usize, Arc<Readiness>)>> = Mutex::new(Vec::new());

unsafe extern "C" fn upcall(so: *mut RawSocket, _arg: *mut c_void, _flags: c_int) {
    let key = so as usize;
    let list = UPCALLS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, r)) = list.iter().find(|(k, _)| *k == key) {
        r.notify();
    }
}

/// One usrsctp socket. usrsctp locks its sockets itself, so a `Socket` may
/// be used from several threads at once; it is closed when dropped.
pub(super) struct Socket {
    raw: NonNull<RawSocket>,
}

// SAFETY: usrsctp sockets are meant to be used from any thread (the stack
// takes its own socket and buffer locks in every call); the pointer is
// only freed by `Drop`, which runs once, when no other reference exists.
unsafe impl Send for Socket {}
// SAFETY: as above; every method takes `&self` and goes through usrsctp's
// locked entry points.
unsafe impl Sync for Socket {}

fn check(rc: c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Socket {
    /// A one-to-many (SOCK_SEQPACKET) SCTP socket of `domain`
    /// ([`AF_INET`] or [`AF_INET6`]) without callbacks (blocking reads).
    pub(super) fn one_to_many(domain: c_int) -> io::Result<Socket> {
        // SAFETY: null callbacks select the socket API (recvv/sendv);
        // ulp_info is unused then.
        let raw = unsafe {
            usrsctp_socket(
                domain,
                SOCK_SEQPACKET,
                IPPROTO_SCTP,
                core::ptr::null(),
                core::ptr::null(),
                0,
                core::ptr::null_mut(),
            )
        };
        let socket = NonNull::new(raw)
            .map(|raw| Socket { raw })
            .ok_or_else(io::Error::last_os_error)?;
        // usrsctp ignores MSG_DONTWAIT on send: only a non-blocking socket
        // makes a send that finds the association's share of the send
        // buffer full fail instead of waiting until the peer reads.
        // SAFETY: `socket.raw` is the live socket just created.
        check(unsafe { usrsctp_set_non_blocking(socket.raw.as_ptr(), 1) })?;
        Ok(socket)
    }

    fn set<T>(&self, option: c_int, value: &T) -> io::Result<()> {
        // SAFETY: `value` is a live, properly laid out option structure of
        // `size_of::<T>()` bytes that usrsctp only reads during the call.
        let rc = unsafe {
            usrsctp_setsockopt(
                self.raw.as_ptr(),
                IPPROTO_SCTP,
                option,
                (value as *const T).cast(),
                core::mem::size_of::<T>() as u32,
            )
        };
        check(rc)
    }

    /// Asks for a `sctp_rcvinfo` with every message.
    pub(super) fn set_recv_rcvinfo(&self) -> io::Result<()> {
        self.set(SCTP_RECVRCVINFO, &(1 as c_int))
    }

    /// Sends every message at once (no Nagle-like waiting for the
    /// acknowledgement of earlier data, which meets the peer's delayed
    /// SACK: request/answer exchanges would stall for 200 ms).
    pub(super) fn set_nodelay(&self) -> io::Result<()> {
        self.set(SCTP_NODELAY, &(1 as c_int))
    }

    /// Subscribes to notifications of `kind` (`SCTP_ASSOC_CHANGE`, ...).
    pub(super) fn subscribe(&self, kind: u16) -> io::Result<()> {
        self.set(
            SCTP_EVENT,
            &Event {
                se_assoc_id: SCTP_FUTURE_ASSOC,
                se_type: kind,
                se_on: 1,
            },
        )
    }

    /// Streams asked for, and INIT attempts (0: the stack's default).
    pub(super) fn set_init(&self, streams: u16, max_attempts: u16) -> io::Result<()> {
        self.set(
            SCTP_INITMSG,
            &InitMsg {
                sinit_num_ostreams: streams,
                sinit_max_instreams: streams,
                sinit_max_attempts: max_attempts,
                sinit_max_init_timeo: 0,
            },
        )
    }

    /// Retransmissions before an association is declared down.
    pub(super) fn set_association_max_retransmits(&self, n: u16) -> io::Result<()> {
        self.set(
            SCTP_ASSOCINFO,
            &AssocParams {
                sasoc_assoc_id: SCTP_FUTURE_ASSOC,
                sasoc_peer_rwnd: 0,
                sasoc_local_rwnd: 0,
                sasoc_cookie_life: 0,
                sasoc_asocmaxrxt: n,
                sasoc_number_peer_destinations: 0,
            },
        )
    }

    /// Heartbeats every `interval_ms` on every path of future associations.
    pub(super) fn set_heartbeat(&self, interval_ms: u32) -> io::Result<()> {
        self.set(
            SCTP_PEER_ADDR_PARAMS,
            &PaddrParams {
                spp_address: SockaddrStorage { bytes: [0; 128] },
                spp_assoc_id: SCTP_FUTURE_ASSOC,
                spp_hbinterval: interval_ms,
                spp_pathmtu: 0,
                spp_flags: SPP_HB_ENABLE,
                spp_ipv6_flowlabel: 0,
                spp_pathmaxrxt: 0,
                spp_dscp: 0,
            },
        )
    }

    /// The UDP port of the peers this socket's associations reach.
    pub(super) fn set_remote_udp_port(&self, port: u16) -> io::Result<()> {
        self.set(
            SCTP_REMOTE_UDP_ENCAPS_PORT,
            &UdpEncaps {
                sue_address: SockaddrStorage { bytes: [0; 128] },
                sue_assoc_id: SCTP_FUTURE_ASSOC,
                sue_port: port.to_be(),
            },
        )
    }

    /// Binds the first address with `bind`, the others with `bindx`.
    pub(super) fn bind(&self, addrs: &[SocketAddr]) -> io::Result<()> {
        let Some((first, rest)) = addrs.split_first() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no address"));
        };
        let mut one = Sockaddrs::new(&[*first]);
        // SAFETY: the buffer holds one sockaddr of the length given; usrsctp
        // copies it during the call.
        check(unsafe { usrsctp_bind(self.raw.as_ptr(), one.as_mut_ptr(), one.len) })?;
        if rest.is_empty() {
            return Ok(());
        }
        // The extra addresses take the port the first one got.
        let port = self
            .local_addrs()
            .first()
            .map(|a| a.port())
            .unwrap_or(first.port());
        let rest: Vec<SocketAddr> = rest.iter().map(|a| SocketAddr::new(a.ip(), port)).collect();
        let mut more = Sockaddrs::new(&rest);
        // SAFETY: the buffer holds `rest.len()` packed sockaddrs (16 or 28
        // bytes each, as usrsctp walks them without sa_len).
        check(unsafe {
            usrsctp_bindx(
                self.raw.as_ptr(),
                more.as_mut_ptr(),
                rest.len() as c_int,
                SCTP_BINDX_ADD_ADDR,
            )
        })
    }

    /// Accepts associations (a one-to-many socket only does after this).
    pub(super) fn listen(&self) -> io::Result<()> {
        // SAFETY: a valid socket; the backlog means nothing for one-to-many.
        check(unsafe { usrsctp_listen(self.raw.as_ptr(), 1) })
    }

    /// Starts an association (INIT) to `remotes`; returns usrsctp's id.
    pub(super) fn connectx(&self, remotes: &[SocketAddr]) -> io::Result<u32> {
        if remotes.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no address"));
        }
        let addrs = Sockaddrs::new(remotes);
        let mut id = 0u32;
        // SAFETY: the buffer holds `remotes.len()` packed sockaddrs; `id`
        // is a live u32 usrsctp writes the association id to.
        check(unsafe {
            usrsctp_connectx(
                self.raw.as_ptr(),
                addrs.as_ptr(),
                remotes.len() as c_int,
                &mut id,
            )
        })?;
        Ok(id)
    }

    /// Sends `data` on association `assoc` (without blocking: a full send
    /// buffer is an error) with the given stream, flags and PPID (host
    /// order; put on the wire in network order).
    pub(super) fn sendv(
        &self,
        assoc: u32,
        stream: u16,
        flags: u16,
        ppid: u32,
        data: &[u8],
    ) -> io::Result<usize> {
        let mut info = SndInfo {
            snd_sid: stream,
            snd_flags: flags,
            snd_ppid: ppid.to_be(),
            snd_context: 0,
            snd_assoc_id: assoc,
        };
        // SAFETY: `data` and `info` are live for the call; no destination
        // address (the association names it).
        let n = unsafe {
            usrsctp_sendv(
                self.raw.as_ptr(),
                data.as_ptr().cast(),
                data.len(),
                core::ptr::null_mut(),
                0,
                (&mut info as *mut SndInfo).cast(),
                core::mem::size_of::<SndInfo>() as u32,
                SCTP_SENDV_SNDINFO,
                MSG_DONTWAIT,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Reads a message (part) or notification without blocking
    /// ([`io::ErrorKind::WouldBlock`] when there is none); returns its
    /// length, the sender, the receive information (when usrsctp gave
    /// one) and the flags.
    pub(super) fn recvv(&self, buf: &mut [u8]) -> io::Result<Received> {
        let mut from = SockaddrStorage { bytes: [0; 128] };
        let mut fromlen = core::mem::size_of::<SockaddrStorage>() as u32;
        let mut info = RcvInfo::default();
        let mut infolen = core::mem::size_of::<RcvInfo>() as u32;
        let mut infotype: c_uint = 0;
        // In: the call's flags; out: the message's.
        let mut flags: c_int = MSG_DONTWAIT;
        // SAFETY: every pointer names a live local or `buf`, with the
        // lengths given; usrsctp writes at most those lengths.
        let n = unsafe {
            usrsctp_recvv(
                self.raw.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                (&mut from as *mut SockaddrStorage).cast(),
                &mut fromlen,
                (&mut info as *mut RcvInfo).cast(),
                &mut infolen,
                &mut infotype,
                &mut flags,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let len = (fromlen as usize).min(from.bytes.len());
        let info = (infotype == SCTP_RECVV_RCVINFO
            && infolen as usize >= core::mem::size_of::<RcvInfo>())
        .then_some(info);
        Ok(Received {
            len: (n as usize).min(buf.len()),
            from: parse_sockaddr(&from.bytes[..len]).map(|(a, _)| a),
            info,
            flags,
        })
    }

    /// The peer addresses of association `assoc`.
    pub(super) fn peer_addrs(&self, assoc: u32) -> Vec<SocketAddr> {
        let mut list: *mut c_void = core::ptr::null_mut();
        // SAFETY: usrsctp allocates the list and stores it in `list`.
        let n = unsafe { usrsctp_getpaddrs(self.raw.as_ptr(), assoc, &mut list) };
        let out = read_packed(list, n);
        if !list.is_null() && n >= 0 {
            // SAFETY: `list` came from usrsctp_getpaddrs and is freed once.
            unsafe { usrsctp_freepaddrs(list) };
        }
        out
    }

    /// The addresses the socket is bound to (with its port).
    pub(super) fn local_addrs(&self) -> Vec<SocketAddr> {
        let mut list: *mut c_void = core::ptr::null_mut();
        // SAFETY: usrsctp allocates the list and stores it in `list`.
        let n = unsafe { usrsctp_getladdrs(self.raw.as_ptr(), 0, &mut list) };
        let out = read_packed(list, n);
        if !list.is_null() && n >= 0 {
            // SAFETY: `list` came from usrsctp_getladdrs and is freed once.
            unsafe { usrsctp_freeladdrs(list) };
        }
        out
    }

    /// Has usrsctp notify `readiness` whenever the socket's state changes
    /// (data, notifications, send space).
    pub(super) fn notify_on_events(&self, readiness: Arc<Readiness>) -> io::Result<()> {
        UPCALLS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((self.raw.as_ptr() as usize, readiness));
        // SAFETY: `upcall` is a plain function that only looks the socket
        // up in UPCALLS (never dereferencing it) and takes no argument.
        check(unsafe { usrsctp_set_upcall(self.raw.as_ptr(), Some(upcall), core::ptr::null_mut()) })
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let key = self.raw.as_ptr() as usize;
        UPCALLS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(k, _)| *k != key);
        // SAFETY: the socket is valid and this is the last reference to it
        // (`Drop` runs once); usrsctp frees it.
        unsafe { usrsctp_close(self.raw.as_ptr()) }
    }
}

/// What [`Socket::recvv`] returned.
pub(super) struct Received {
    pub(super) len: usize,
    pub(super) from: Option<SocketAddr>,
    pub(super) info: Option<RcvInfo>,
    pub(super) flags: c_int,
}

/// Reads `n` packed sockaddrs from a list usrsctp returned.
fn read_packed(list: *mut c_void, n: c_int) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    if list.is_null() || n <= 0 {
        return out;
    }
    let mut at = list.cast::<u8>().cast_const();
    for _ in 0..n {
        // SAFETY: usrsctp's list holds `n` packed sockaddrs, each at least
        // the 2 bytes of its family; the family says how long it is (16 or
        // 28 bytes), and those bytes belong to the list too. Reads are
        // unaligned-safe (byte copies).
        let family = unsafe { u16::from_ne_bytes([*at, *at.add(1)]) };
        let size = match c_int::from(family) {
            AF_INET => core::mem::size_of::<SockaddrIn>(),
            AF_INET6 => core::mem::size_of::<SockaddrIn6>(),
            _ => break,
        };
        // SAFETY: as above, `size` bytes at `at` are part of the list.
        let bytes = unsafe { core::slice::from_raw_parts(at, size) };
        if let Some((a, _)) = parse_sockaddr(bytes) {
            out.push(a);
        }
        // SAFETY: the next entry (if any) starts right after this one.
        at = unsafe { at.add(size) };
    }
    out
}

/// A socket address from the bytes of a `sockaddr_in`/`sockaddr_in6`
/// (an IPv4-mapped IPv6 address becomes IPv4), and its length.
pub(super) fn parse_sockaddr(b: &[u8]) -> Option<(SocketAddr, usize)> {
    let family = c_int::from(u16::from_ne_bytes([*b.first()?, *b.get(1)?]));
    let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    match family {
        AF_INET if b.len() >= 16 => {
            let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            Some((SocketAddr::new(IpAddr::V4(ip), port), 16))
        }
        AF_INET6 if b.len() >= 28 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            let ip = Ipv6Addr::from(a);
            let scope = u32::from_ne_bytes([b[24], b[25], b[26], b[27]]);
            let addr = match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::new(IpAddr::V4(v4), port),
                None => SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope)),
            };
            Some((addr, 28))
        }
        _ => None,
    }
}

/// Packed sockaddrs (usrsctp's address lists), in a buffer aligned for
/// them (every entry is a multiple of 4 bytes long).
struct Sockaddrs {
    words: Vec<u32>,
    len: u32,
}

impl Sockaddrs {
    fn new(addrs: &[SocketAddr]) -> Self {
        let mut bytes = Vec::new();
        for a in addrs {
            match a {
                SocketAddr::V4(v4) => bytes.extend_from_slice(&sockaddr_in(v4)),
                SocketAddr::V6(v6) => bytes.extend_from_slice(&sockaddr_in6(v6)),
            }
        }
        let words = bytes
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_ne_bytes(w)
            })
            .collect();
        Sockaddrs {
            words,
            len: bytes.len() as u32,
        }
    }

    fn as_ptr(&self) -> *const c_void {
        self.words.as_ptr().cast()
    }

    fn as_mut_ptr(&mut self) -> *mut c_void {
        self.words.as_mut_ptr().cast()
    }
}

fn sockaddr_in(a: &SocketAddrV4) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&a.port().to_be_bytes());
    b[4..8].copy_from_slice(&a.ip().octets());
    b
}

fn sockaddr_in6(a: &SocketAddrV6) -> [u8; 28] {
    let mut b = [0u8; 28];
    b[..2].copy_from_slice(&(AF_INET6 as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&a.port().to_be_bytes());
    b[4..8].copy_from_slice(&a.flowinfo().to_ne_bytes());
    b[8..24].copy_from_slice(&a.ip().octets());
    b[24..28].copy_from_slice(&a.scope_id().to_ne_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_header() {
        use core::mem::{align_of, size_of};
        assert_eq!(size_of::<SockaddrIn>(), 16);
        assert_eq!(size_of::<SockaddrIn6>(), 28);
        assert_eq!(
            (size_of::<SockaddrStorage>(), align_of::<SockaddrStorage>()),
            (128, 8)
        );
        assert_eq!(size_of::<RcvInfo>(), 28);
        assert_eq!(size_of::<SndInfo>(), 16);
        assert_eq!(size_of::<InitMsg>(), 8);
        assert_eq!(size_of::<AssocParams>(), 20);
        assert_eq!(size_of::<Event>(), 8);
        assert_eq!(size_of::<UdpEncaps>(), 136);
        assert_eq!(size_of::<PaddrParams>(), 152);
    }

    #[test]
    fn sockaddrs_round_trip() {
        let a: SocketAddr = "192.0.2.1:9899".parse().unwrap();
        let b: SocketAddr = "[2001:db8::1]:3863".parse().unwrap();
        assert_eq!(
            parse_sockaddr(&sockaddr_in(&match a {
                SocketAddr::V4(v) => v,
                _ => unreachable!(),
            })),
            Some((a, 16))
        );
        let SocketAddr::V6(v6) = b else {
            unreachable!()
        };
        assert_eq!(parse_sockaddr(&sockaddr_in6(&v6)), Some((b, 28)));
        let mapped: SocketAddrV6 = "[::ffff:192.0.2.1]:9899".parse().unwrap();
        assert_eq!(parse_sockaddr(&sockaddr_in6(&mapped)), Some((a, 28)));
        assert_eq!(parse_sockaddr(&[2, 0, 1]), None);
        assert_eq!(
            parse_sockaddr(&[99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
        let s = Sockaddrs::new(&[a, b]);
        assert_eq!(s.len, 44);
    }
}
