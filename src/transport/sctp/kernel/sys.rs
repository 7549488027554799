//! The system calls of the kernel SCTP transport, behind safe wrappers.
//!
//! This is the only module of the transport with `unsafe` code: `libc`
//! calls on file descriptors this module owns, with pointers to buffers
//! that live for the duration of the call. The socket option structures of
//! `linux/sctp.h` that the `libc` crate lacks are declared here
//! (`#[repr(C)]`, sizes checked at compile time); the control messages,
//! addresses and notifications are byte layouts in [`super::layout`].
#![allow(unsafe_code)]

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::vec::Vec;

use super::layout::{
    self, SndInfo, RECV_CMSG_SPACE, SNDINFO_LEN, SOCKADDR_IN6_LEN, SOCKADDR_IN_LEN, SOL_SCTP,
};

/// `SCTP_RTOINFO` ... socket options (`linux/sctp.h`).
pub const SCTP_INITMSG: i32 = 2;
/// See [`SCTP_INITMSG`].
pub const SCTP_ASSOCINFO: i32 = 1;
/// See [`SCTP_INITMSG`].
pub const SCTP_NODELAY: i32 = 3;
/// See [`SCTP_INITMSG`].
pub const SCTP_PEER_ADDR_PARAMS: i32 = 9;
/// See [`SCTP_INITMSG`].
pub const SCTP_EVENTS: i32 = 11;
/// See [`SCTP_INITMSG`].
pub const SCTP_STATUS: i32 = 14;
/// See [`SCTP_INITMSG`].
pub const SCTP_RECVRCVINFO: i32 = 32;
/// See [`SCTP_INITMSG`].
pub const SCTP_SOCKOPT_BINDX_ADD: i32 = 100;
/// See [`SCTP_INITMSG`].
pub const SCTP_GET_PEER_ADDRS: i32 = 108;
/// See [`SCTP_INITMSG`].
pub const SCTP_SOCKOPT_CONNECTX3: i32 = 111;
/// See [`SCTP_INITMSG`].
pub const SCTP_EVENT: i32 = 127;
/// `spp_flags`: enable heartbeats.
pub const SPP_HB_ENABLE: u32 = 1 << 0;
/// `SCTP_FUTURE_ASSOC`: an option for associations yet to come.
pub const SCTP_FUTURE_ASSOC: i32 = 0;

/// `struct sctp_initmsg`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SctpInitmsg {
    /// Outbound streams asked for.
    pub sinit_num_ostreams: u16,
    /// Inbound streams accepted at most.
    pub sinit_max_instreams: u16,
    /// INIT retransmissions (0: default).
    pub sinit_max_attempts: u16,
    /// Largest INIT timeout in ms (0: default).
    pub sinit_max_init_timeo: u16,
}

/// `struct sctp_assocparams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SctpAssocparams {
    /// The association (`SCTP_FUTURE_ASSOC`).
    pub sasoc_assoc_id: i32,
    /// Association maximum retransmissions (0: unchanged).
    pub sasoc_asocmaxrxt: u16,
    /// Output only.
    pub sasoc_number_peer_destinations: u16,
    /// Output only.
    pub sasoc_peer_rwnd: u32,
    /// Output only.
    pub sasoc_local_rwnd: u32,
    /// Cookie lifetime in ms (0: unchanged).
    pub sasoc_cookie_life: u32,
}

/// `struct sctp_paddrparams` (`packed, aligned(4)` in C: 155 bytes of
/// fields and one byte of padding).
#[repr(C, packed)]
#[derive(Clone, Copy)]
pub struct SctpPaddrparams {
    /// The association (`SCTP_FUTURE_ASSOC`).
    pub spp_assoc_id: i32,
    /// `struct sockaddr_storage`; all zero: every address.
    pub spp_address: [u8; 128],
    /// Heartbeat interval in ms.
    pub spp_hbinterval: u32,
    /// Path maximum retransmissions (0: unchanged).
    pub spp_pathmaxrxt: u16,
    /// Path MTU (0: unchanged).
    pub spp_pathmtu: u32,
    /// SACK delay (0: unchanged).
    pub spp_sackdelay: u32,
    /// `SPP_*` flags.
    pub spp_flags: u32,
    /// IPv6 flow label (with `SPP_IPV6_FLOWLABEL`).
    pub spp_ipv6_flowlabel: u32,
    /// DSCP (with `SPP_DSCP`).
    pub spp_dscp: u8,
    /// Trailing padding of `aligned(4)`.
    pub pad: u8,
}

/// `struct sctp_event` (`SCTP_EVENT`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SctpEventOpt {
    /// The association (`SCTP_FUTURE_ASSOC`).
    pub se_assoc_id: i32,
    /// The notification type.
    pub se_type: u16,
    /// 1: on.
    pub se_on: u8,
    /// Padding.
    pub pad: u8,
}

/// `struct sctp_event_subscribe` (`SCTP_EVENTS`, for kernels without
/// `SCTP_EVENT`), as far as this transport uses it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SctpEventSubscribe {
    /// Data I/O (`SCTP_SNDRCV` control messages): off, `SCTP_RCVINFO` is used.
    pub sctp_data_io_event: u8,
    /// `SCTP_ASSOC_CHANGE`.
    pub sctp_association_event: u8,
    /// `SCTP_PEER_ADDR_CHANGE`.
    pub sctp_address_event: u8,
    /// `SCTP_SEND_FAILED`.
    pub sctp_send_failure_event: u8,
    /// `SCTP_REMOTE_ERROR`.
    pub sctp_peer_error_event: u8,
    /// `SCTP_SHUTDOWN_EVENT`.
    pub sctp_shutdown_event: u8,
    /// `SCTP_PARTIAL_DELIVERY_EVENT`.
    pub sctp_partial_delivery_event: u8,
}

/// `struct sctp_getaddrs_old` (`SCTP_SOCKOPT_CONNECTX3`).
#[repr(C)]
struct SctpGetaddrsOld {
    assoc_id: i32,
    /// For `SCTP_SOCKOPT_CONNECTX3`: the byte length of `addrs`.
    addr_num: i32,
    addrs: *const u8,
}

/// Socket option values passed by pointer.
///
/// # Safety
///
/// Implementors are `#[repr(C)]` structures of integers (explicit padding
/// included) that the kernel may read as `size_of::<Self>()` bytes.
unsafe trait OptionValue: Copy {}
// SAFETY: integers only, no implicit padding.
unsafe impl OptionValue for i32 {}
// SAFETY: four u16, no padding.
unsafe impl OptionValue for SctpInitmsg {}
// SAFETY: i32, u16, u16, u32 × 3: no padding.
unsafe impl OptionValue for SctpAssocparams {}
// SAFETY: packed, with the C padding byte as a field.
unsafe impl OptionValue for SctpPaddrparams {}
// SAFETY: i32, u16, u8, u8: no padding.
unsafe impl OptionValue for SctpEventOpt {}
// SAFETY: bytes only.
unsafe impl OptionValue for SctpEventSubscribe {}

const _: () = {
    assert!(core::mem::size_of::<SctpInitmsg>() == 8);
    assert!(core::mem::size_of::<SctpAssocparams>() == 20);
    assert!(core::mem::size_of::<SctpPaddrparams>() == 156);
    assert!(core::mem::size_of::<SctpEventOpt>() == 8);
    assert!(core::mem::size_of::<libc::sockaddr_in>() == SOCKADDR_IN_LEN);
    assert!(core::mem::size_of::<libc::sockaddr_in6>() == SOCKADDR_IN6_LEN);
};

/// How many peer addresses [`Socket::peer_addrs`] makes room for at first.
pub const PEER_ADDRS_ROOM: usize = 64;

/// The most addresses one INIT chunk (at most 64 KiB, 8 bytes per IPv4
/// address parameter) can give a peer, plus its source address.
const INIT_ADDRS_MAX: usize = 65_536 / 8 + 1;

/// A control message buffer aligned for `struct cmsghdr`.
#[repr(C, align(8))]
pub struct ControlBuf(pub [u8; RECV_CMSG_SPACE]);

/// An address buffer aligned like `struct sockaddr_storage`.
#[repr(C, align(8))]
struct AddrBuf([u8; 128]);

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_size(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

fn encode_addrs(addrs: &[SocketAddr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(addrs.len() * SOCKADDR_IN6_LEN);
    for a in addrs {
        layout::encode_sockaddr(a, &mut out);
    }
    out
}

/// What one `recvmsg` read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes of data.
    pub len: usize,
    /// `msg_flags` (`MSG_EOR`, `MSG_NOTIFICATION`, `MSG_CTRUNC`).
    pub flags: i32,
    /// The sender, when the kernel named it.
    pub from: Option<SocketAddr>,
    /// Bytes of control messages.
    pub control_len: usize,
}

/// A non-blocking one-to-many SCTP socket (`SOCK_SEQPACKET`).
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
}

impl Socket {
    /// Opens a socket of the IPv6 family (which also carries IPv4) or the
    /// IPv4 family.
    pub fn new(ipv6: bool) -> io::Result<Socket> {
        let family = if ipv6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: socket() takes no pointers; a non-negative result is a
        // new descriptor that nothing else owns.
        let fd = cvt(unsafe {
            libc::socket(
                family,
                libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::IPPROTO_SCTP,
            )
        })?;
        Ok(Socket {
            // SAFETY: `fd` is a fresh descriptor owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The raw descriptor (for `poll`).
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Another kind of socket standing in for the SCTP one (host tests
    /// of the reader, on kernels without SCTP).
    #[cfg(test)]
    pub fn stand_in(fd: OwnedFd) -> Socket {
        Socket { fd }
    }

    fn set<T: OptionValue>(&self, level: i32, name: i32, value: &T) -> io::Result<()> {
        // SAFETY: `value` points to `size_of::<T>()` readable bytes
        // (OptionValue) for the duration of the call.
        cvt(unsafe {
            libc::setsockopt(
                self.raw(),
                level,
                name,
                (value as *const T).cast(),
                core::mem::size_of::<T>() as libc::socklen_t,
            )
        })
        .map(drop)
    }

    fn set_bytes(&self, level: i32, name: i32, bytes: &[u8]) -> io::Result<()> {
        // SAFETY: `bytes` is a readable slice of the given length for the
        // duration of the call; the kernel copies it.
        cvt(unsafe {
            libc::setsockopt(
                self.raw(),
                level,
                name,
                bytes.as_ptr().cast(),
                bytes.len() as libc::socklen_t,
            )
        })
        .map(drop)
    }

    /// Sets an integer option of `SOL_SCTP`.
    pub fn set_int(&self, name: i32, value: i32) -> io::Result<()> {
        self.set(SOL_SCTP, name, &value)
    }

    /// `SO_REUSEADDR`: the port may be bound again while associations of a
    /// closed socket on it are still shutting down.
    pub fn set_reuse_addr(&self) -> io::Result<()> {
        self.set(libc::SOL_SOCKET, libc::SO_REUSEADDR, &1i32)
    }

    /// `SCTP_INITMSG`.
    pub fn set_initmsg(&self, m: &SctpInitmsg) -> io::Result<()> {
        self.set(SOL_SCTP, SCTP_INITMSG, m)
    }

    /// `SCTP_ASSOCINFO`.
    pub fn set_assocparams(&self, p: &SctpAssocparams) -> io::Result<()> {
        self.set(SOL_SCTP, SCTP_ASSOCINFO, p)
    }

    /// `SCTP_PEER_ADDR_PARAMS`.
    pub fn set_paddrparams(&self, p: &SctpPaddrparams) -> io::Result<()> {
        self.set(SOL_SCTP, SCTP_PEER_ADDR_PARAMS, p)
    }

    /// `SCTP_EVENT`: subscribes to one notification type.
    pub fn subscribe(&self, kind: u16) -> io::Result<()> {
        let e = SctpEventOpt {
            se_assoc_id: SCTP_FUTURE_ASSOC,
            se_type: kind,
            se_on: 1,
            pad: 0,
        };
        self.set(SOL_SCTP, SCTP_EVENT, &e)
    }

    /// `SCTP_EVENTS` (the older interface).
    pub fn set_events(&self, s: &SctpEventSubscribe) -> io::Result<()> {
        self.set(SOL_SCTP, SCTP_EVENTS, s)
    }

    /// `bind` to one address.
    pub fn bind(&self, addr: &SocketAddr) -> io::Result<()> {
        let bytes = encode_addrs(core::slice::from_ref(addr));
        // SAFETY: `bytes` holds one sockaddr_in/sockaddr_in6 of the given
        // length; the kernel copies it.
        cvt(unsafe {
            libc::bind(
                self.raw(),
                bytes.as_ptr().cast(),
                bytes.len() as libc::socklen_t,
            )
        })
        .map(drop)
    }

    /// `SCTP_SOCKOPT_BINDX_ADD`: binds further addresses (multi-homing).
    pub fn bindx_add(&self, addrs: &[SocketAddr]) -> io::Result<()> {
        if addrs.is_empty() {
            return Ok(());
        }
        self.set_bytes(SOL_SCTP, SCTP_SOCKOPT_BINDX_ADD, &encode_addrs(addrs))
    }

    /// `listen`: accept associations.
    pub fn listen(&self, backlog: i32) -> io::Result<()> {
        // SAFETY: no pointers.
        cvt(unsafe { libc::listen(self.raw(), backlog) }).map(drop)
    }

    /// `getsockname`: the (first) local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let mut buf = AddrBuf([0; 128]);
        let mut len = buf.0.len() as libc::socklen_t;
        // SAFETY: `buf` has `len` writable bytes, aligned like
        // sockaddr_storage; `len` is a valid in/out length.
        cvt(unsafe { libc::getsockname(self.raw(), buf.0.as_mut_ptr().cast(), &mut len) })?;
        let len = (len as usize).min(buf.0.len());
        layout::decode_sockaddr(&buf.0[..len])
            .map(|(a, _)| a)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unknown address family"))
    }

    /// Starts an association to `addrs` (`SCTP_SOCKOPT_CONNECTX3`, which
    /// returns the association id also when the handshake is still in
    /// progress on this non-blocking socket).
    pub fn connectx(&self, addrs: &[SocketAddr]) -> io::Result<i32> {
        let bytes = encode_addrs(addrs);
        let mut param = SctpGetaddrsOld {
            assoc_id: 0,
            addr_num: bytes.len() as i32,
            addrs: bytes.as_ptr(),
        };
        let mut len = core::mem::size_of::<SctpGetaddrsOld>() as libc::socklen_t;
        // SAFETY: `param` is writable for `len` bytes and points to `bytes`,
        // which outlives the call; the kernel writes the association id
        // into `param.assoc_id`.
        let r = unsafe {
            libc::getsockopt(
                self.raw(),
                SOL_SCTP,
                SCTP_SOCKOPT_CONNECTX3,
                (&mut param as *mut SctpGetaddrsOld).cast(),
                &mut len,
            )
        };
        if r == 0 {
            return Ok(param.assoc_id);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINPROGRESS) {
            Ok(param.assoc_id)
        } else {
            Err(e)
        }
    }

    /// `SCTP_GET_PEER_ADDRS`: the first `max` addresses of the peer of
    /// `assoc_id`. The kernel lists all or none, so the buffer has room for
    /// [`PEER_ADDRS_ROOM`] addresses, and for as many as one INIT chunk can
    /// carry when that is not enough.
    pub fn peer_addrs(&self, assoc_id: i32, max: usize) -> io::Result<Vec<SocketAddr>> {
        let mut room = max.max(PEER_ADDRS_ROOM);
        loop {
            match self.peer_addrs_in(assoc_id, max, room) {
                Err(e) if e.raw_os_error() == Some(libc::ENOMEM) && room < INIT_ADDRS_MAX => {
                    room = INIT_ADDRS_MAX;
                }
                r => return r,
            }
        }
    }

    fn peer_addrs_in(&self, assoc_id: i32, max: usize, room: usize) -> io::Result<Vec<SocketAddr>> {
        // struct sctp_getaddrs: assoc_id (in), addr_num (out), addresses.
        let mut buf = std::vec![0u8; 8 + room * SOCKADDR_IN6_LEN];
        buf[..4].copy_from_slice(&assoc_id.to_ne_bytes());
        let len = self.get_bytes(SCTP_GET_PEER_ADDRS, &mut buf)?;
        let count = u32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        Ok(layout::decode_packed_addrs(
            buf.get(8..len).unwrap_or(&[]),
            count.min(max),
        ))
    }

    /// The receive window of `assoc_id`'s peer as this side sees it
    /// (`SCTP_STATUS`'s `sstat_rwnd`), in bytes.
    pub fn peer_window(&self, assoc_id: i32) -> io::Result<u32> {
        // struct sctp_status: sstat_assoc_id (in, offset 0), sstat_state
        // (4), sstat_rwnd (8), then chunk and stream counts, the
        // fragmentation point and the primary path's struct sctp_paddrinfo:
        // 176 bytes in all. The kernel wants at least that much room.
        let mut buf = [0u8; 256];
        buf[..4].copy_from_slice(&assoc_id.to_ne_bytes());
        if self.get_bytes(SCTP_STATUS, &mut buf)? < 12 {
            return Err(io::Error::other("SCTP_STATUS too short"));
        }
        Ok(u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]))
    }

    /// `getsockopt` of `SOL_SCTP` option `name` into `buf` (which holds
    /// the option's input, if any): the length the kernel filled.
    fn get_bytes(&self, name: i32, buf: &mut [u8]) -> io::Result<usize> {
        let mut len = buf.len() as libc::socklen_t;
        // SAFETY: `buf` is writable for `len` bytes for the duration of the
        // call; the kernel copies at most that much into it.
        cvt(unsafe {
            libc::getsockopt(
                self.raw(),
                SOL_SCTP,
                name,
                buf.as_mut_ptr().cast(),
                &mut len,
            )
        })?;
        Ok((len as usize).min(buf.len()))
    }

    /// `sendmsg` of one message with an `SCTP_SNDINFO` control message.
    pub fn send(&self, info: &SndInfo, data: &[u8]) -> io::Result<usize> {
        let mut control = ControlBuf([0; RECV_CMSG_SPACE]);
        let clen = layout::encode_sndinfo(info, &mut control.0)
            .ok_or_else(|| io::Error::other("control buffer"))?;
        debug_assert_eq!(clen, layout::cmsg_space(SNDINFO_LEN));
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        // SAFETY: an all-zero msghdr is valid (no name, no iov, no control).
        let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = clen as _;
        // SAFETY: `msg` points to `iov` (the kernel only reads `data`
        // through it) and to `control`, all alive for the call.
        cvt_size(unsafe { libc::sendmsg(self.raw(), &msg, libc::MSG_NOSIGNAL) })
    }

    /// `recvmsg` into `data`, with the sender's address and control
    /// messages.
    pub fn recv(&self, data: &mut [u8], control: &mut ControlBuf) -> io::Result<Received> {
        let mut name = AddrBuf([0; 128]);
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: an all-zero msghdr is valid.
        let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
        msg.msg_name = name.0.as_mut_ptr().cast();
        msg.msg_namelen = name.0.len() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = control.0.len() as _;
        // SAFETY: every pointer in `msg` refers to a writable buffer of the
        // stated length that outlives the call.
        let len = cvt_size(unsafe { libc::recvmsg(self.raw(), &mut msg, 0) })?;
        let namelen = (msg.msg_namelen as usize).min(name.0.len());
        let control_len = (msg.msg_controllen as usize).min(control.0.len());
        Ok(Received {
            len: len.min(data.len()),
            flags: msg.msg_flags,
            from: layout::decode_sockaddr(&name.0[..namelen]).map(|(a, _)| a),
            control_len,
        })
    }
}

/// An `eventfd` that wakes a thread waiting in [`poll`].
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    /// A new, unsignalled waker.
    pub fn new() -> io::Result<Waker> {
        // SAFETY: no pointers; a non-negative result is a new descriptor.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        Ok(Waker {
            // SAFETY: `fd` is a fresh descriptor owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Signals it (stays signalled).
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one`, alive for the call. A full
        // counter (EAGAIN) is already signalled, so the result is moot.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// The raw descriptor (for `poll`).
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Which of the descriptors [`poll`] waited on are ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    /// The socket has something to read (or an error).
    pub socket: bool,
    /// The waker was signalled.
    pub woken: bool,
}

/// Waits until `socket` is readable or `waker` signalled (`timeout_ms`:
/// -1 for no limit).
pub fn poll(socket: &Socket, waker: &Waker, timeout_ms: i32) -> io::Result<Ready> {
    let mut fds = [
        libc::pollfd {
            fd: socket.raw(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: waker.raw(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: `fds` is an array of two pollfd, alive for the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(Ready {
                socket: false,
                woken: false,
            });
        }
        return Err(e);
    }
    Ok(Ready {
        socket: fds[0].revents != 0,
        woken: fds[1].revents != 0,
    })
}

/// Waits until `socket` has room to send (or an error), at most
/// `timeout_ms`; `true` when it has.
pub fn poll_writable(socket: &Socket, timeout_ms: i32) -> io::Result<bool> {
    let mut fd = libc::pollfd {
        fd: socket.raw(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one pollfd, alive for the call.
    let n = unsafe { libc::poll(&mut fd, 1, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(fd.revents != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_message_sizes_match_the_c_library() {
        // SAFETY: CMSG_LEN/CMSG_SPACE are pure arithmetic.
        let (len0, space) = unsafe { (libc::CMSG_LEN(0), libc::CMSG_SPACE(SNDINFO_LEN as u32)) };
        assert_eq!(len0 as usize, layout::CMSG_HDR_LEN);
        assert_eq!(space as usize, layout::cmsg_space(SNDINFO_LEN));
    }

    #[test]
    fn packed_peer_address_parameters_have_the_kernel_offsets() {
        assert_eq!(core::mem::offset_of!(SctpPaddrparams, spp_hbinterval), 132);
        assert_eq!(core::mem::offset_of!(SctpPaddrparams, spp_pathmtu), 138);
        assert_eq!(core::mem::offset_of!(SctpPaddrparams, spp_flags), 146);
        assert_eq!(core::mem::offset_of!(SctpPaddrparams, spp_dscp), 154);
    }

    #[test]
    fn the_waker_wakes_a_poll() {
        let w = Waker::new().unwrap();
        // Any socket will do to stand for the SCTP one here.
        // SAFETY: no pointers.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0);
        let s = Socket {
            // SAFETY: a fresh descriptor owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        };
        let r = poll(&s, &w, 0).unwrap();
        assert!(!r.woken && !r.socket);
        w.wake();
        let r = poll(&s, &w, 1000).unwrap();
        assert!(r.woken && !r.socket);
    }
}
