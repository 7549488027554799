//! Batched UDP receives and sends: on Linux one `recvmmsg` takes up to
//! [`RECV_BATCH`] datagrams from a socket and one `sendmmsg` hands up to
//! [`SEND_BATCH`] to the kernel; elsewhere one datagram per call.
//!
//! This is the only module of the tokio transports with `unsafe` code (on
//! Linux): `libc` calls on a socket the caller owns (borrowed for the
//! call), with headers, addresses and buffers that live on this function's
//! stack or in the caller's [`RecvBatch`] for the duration of the call, and
//! a read of the addresses the kernel wrote back, as the structure its
//! family names.

#![cfg_attr(target_os = "linux", allow(unsafe_code))]

use std::io;
use std::net::SocketAddr;
use std::vec::Vec;

use ::tokio::net::UdpSocket;

use super::udp::MAX_DATAGRAM;

/// Datagrams one receive call takes at most.
pub(crate) const RECV_BATCH: usize = 16;

/// Datagrams one send call hands to the kernel at most.
pub(crate) const SEND_BATCH: usize = 32;

/// The datagrams of one receive call, each in a slot of [`MAX_DATAGRAM`]
/// bytes (so none is ever truncated by the batch). The slots are allocated
/// zeroed on first use: the operating system maps their pages as the
/// kernel writes datagrams into them, not before.
#[derive(Debug, Default)]
pub(crate) struct RecvBatch {
    buf: Vec<u8>,
    lens: [usize; RECV_BATCH],
    from: [Option<SocketAddr>; RECV_BATCH],
    count: usize,
}

impl RecvBatch {
    /// How many datagrams the last call received.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The bytes of datagram `k` of the last call and its sender (`None`:
    /// an address of a family other than IPv4 and IPv6).
    pub(crate) fn get(&self, k: usize) -> Option<(&[u8], Option<SocketAddr>)> {
        if k >= self.count {
            return None;
        }
        let start = k * MAX_DATAGRAM;
        let bytes = self.buf.get(start..start + self.lens[k])?;
        Some((bytes, self.from[k]))
    }

    fn slots(&mut self, n: usize) -> &mut [u8] {
        if self.buf.len() < n * MAX_DATAGRAM {
            self.buf = std::vec![0u8; RECV_BATCH * MAX_DATAGRAM];
        }
        &mut self.buf[..n * MAX_DATAGRAM]
    }
}

/// One datagram waiting to be sent: `len` bytes at `start` of the send
/// buffer, from socket `socket` to `to`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outgoing {
    pub(crate) socket: usize,
    pub(crate) to: SocketAddr,
    pub(crate) start: usize,
    pub(crate) len: usize,
}

/// Receives what `socket` has ready into `batch`, without waiting; the
/// number of datagrams (at least one), or `WouldBlock` (the socket's
/// readiness is then cleared, so that polling it again registers the
/// waker), or the error the socket reports (an ICMP error, cleared by
/// reporting it).
pub(crate) fn try_recv(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
    batch.count = 0;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let fd = socket.as_raw_fd();
        let n = socket.try_io(::tokio::io::Interest::READABLE, || linux::recv(fd, batch))?;
        batch.count = n;
        Ok(n)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let slot = batch.slots(1);
        let (len, from) = socket.try_recv_from(slot)?;
        batch.lens[0] = len;
        batch.from[0] = Some(from);
        batch.count = 1;
        Ok(1)
    }
}

/// Sends datagrams of `out` (bytes in `buf`), all from `socket`, without
/// waiting: how many of the first ones the kernel took (at least one), or
/// the error that refused the first one.
pub(crate) fn send(socket: &UdpSocket, buf: &[u8], out: &[Outgoing]) -> io::Result<usize> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        linux::send(socket.as_raw_fd(), buf, out)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let Some(o) = out.first() else {
            return Ok(0);
        };
        let bytes = buf
            .get(o.start..o.start + o.len)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        socket2::SockRef::from(socket).send_to(bytes, &o.to.into())?;
        Ok(1)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use core::mem::{size_of, zeroed};
    use core::ptr;
    use std::io;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::RawFd;

    use super::{Outgoing, RecvBatch, MAX_DATAGRAM, RECV_BATCH, SEND_BATCH};

    /// `recvmmsg` of up to [`RECV_BATCH`] datagrams into `batch`'s slots,
    /// non-blocking.
    pub(super) fn recv(fd: RawFd, batch: &mut RecvBatch) -> io::Result<usize> {
        // SAFETY: `sockaddr_storage`, `iovec` and `mmsghdr` are plain C
        // structures for which all-zero bytes are a valid value.
        let mut names: [libc::sockaddr_storage; RECV_BATCH] = unsafe { zeroed() };
        let mut iovs: [libc::iovec; RECV_BATCH] = unsafe { zeroed() };
        let mut hdrs: [libc::mmsghdr; RECV_BATCH] = unsafe { zeroed() };
        let slots = batch.slots(RECV_BATCH);
        for (k, slot) in slots.chunks_exact_mut(MAX_DATAGRAM).enumerate() {
            iovs[k].iov_base = slot.as_mut_ptr().cast();
            iovs[k].iov_len = slot.len();
        }
        for k in 0..RECV_BATCH {
            let h = &mut hdrs[k].msg_hdr;
            h.msg_name = ptr::from_mut(&mut names[k]).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = ptr::from_mut(&mut iovs[k]);
            h.msg_iovlen = 1;
        }
        // SAFETY: `fd` is the caller's open socket; every header points at
        // one address buffer of its declared length and one iovec, which
        // points at a distinct `MAX_DATAGRAM`-byte slot of `batch.buf`; all
        // of them outlive the call, and the kernel writes at most
        // `RECV_BATCH` headers. No control messages are asked for.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                RECV_BATCH as libc::c_uint,
                libc::MSG_DONTWAIT as _,
                ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (n as usize).min(RECV_BATCH);
        for k in 0..n {
            batch.lens[k] = (hdrs[k].msg_len as usize).min(MAX_DATAGRAM);
            batch.from[k] = from_storage(&names[k], hdrs[k].msg_hdr.msg_namelen);
        }
        Ok(n)
    }

    /// `sendmmsg` of up to [`SEND_BATCH`] of `out`, non-blocking.
    pub(super) fn send(fd: RawFd, buf: &[u8], out: &[Outgoing]) -> io::Result<usize> {
        let n = out.len().min(SEND_BATCH);
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: as in `recv`: plain C structures, all-zero is valid.
        let mut names: [libc::sockaddr_storage; SEND_BATCH] = unsafe { zeroed() };
        let mut iovs: [libc::iovec; SEND_BATCH] = unsafe { zeroed() };
        let mut hdrs: [libc::mmsghdr; SEND_BATCH] = unsafe { zeroed() };
        for (k, o) in out[..n].iter().enumerate() {
            let Some(bytes) = buf.get(o.start..o.start + o.len) else {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            };
            let len = to_storage(&o.to, &mut names[k]);
            // The kernel only reads through `iov_base` for a send.
            iovs[k].iov_base = bytes.as_ptr().cast_mut().cast();
            iovs[k].iov_len = bytes.len();
            let h = &mut hdrs[k].msg_hdr;
            h.msg_name = ptr::from_mut(&mut names[k]).cast();
            h.msg_namelen = len;
            h.msg_iov = ptr::from_mut(&mut iovs[k]);
            h.msg_iovlen = 1;
        }
        // SAFETY: `fd` is the caller's open socket; the first `n` headers
        // each point at one address of its declared length and one iovec
        // over bytes of `buf`, all of which outlive the call; the kernel
        // only reads them (and writes each header's `msg_len`).
        let sent = unsafe {
            libc::sendmmsg(
                fd,
                hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT as _,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((sent as usize).min(n))
    }

    /// Writes `a` into `storage` as a `sockaddr_in` or `sockaddr_in6`;
    /// returns its length.
    fn to_storage(a: &SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
        match a {
            SocketAddr::V4(v4) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: v4.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(*v4.ip()).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: `sockaddr_storage` is larger than `sockaddr_in`
                // and aligned for any socket address structure.
                unsafe { ptr::write(ptr::from_mut(storage).cast::<libc::sockaddr_in>(), sin) };
                size_of::<libc::sockaddr_in>() as libc::socklen_t
            }
            SocketAddr::V6(v6) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: v6.port().to_be(),
                    sin6_flowinfo: v6.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: v6.ip().octets(),
                    },
                    sin6_scope_id: v6.scope_id(),
                };
                // SAFETY: as above, for `sockaddr_in6`.
                unsafe { ptr::write(ptr::from_mut(storage).cast::<libc::sockaddr_in6>(), sin6) };
                size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
        }
    }

    /// The address the kernel wrote into `storage` (`len` bytes), if IPv4
    /// or IPv6.
    fn from_storage(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
        let len = len as usize;
        match i32::from(storage.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the kernel wrote a `sockaddr_in`
                // (its length checked), and `sockaddr_storage` is aligned
                // for it.
                let sin = unsafe { &*ptr::from_ref(storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for `sockaddr_in6`.
                let sin6 = unsafe { &*ptr::from_ref(storage).cast::<libc::sockaddr_in6>() };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn addresses_survive_the_c_layout() {
            for a in [
                "127.0.0.1:9".parse::<SocketAddr>().unwrap(),
                "10.1.2.3:65535".parse().unwrap(),
                "[::1]:3863".parse().unwrap(),
                SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 4000, 7, 3)),
            ] {
                // SAFETY: all-zero is a valid `sockaddr_storage`.
                let mut s: libc::sockaddr_storage = unsafe { zeroed() };
                let len = to_storage(&a, &mut s);
                assert_eq!(from_storage(&s, len), Some(a));
            }
            // SAFETY: as above.
            let s: libc::sockaddr_storage = unsafe { zeroed() };
            assert_eq!(from_storage(&s, 0), None, "AF_UNSPEC is no address");
        }
    }
}
