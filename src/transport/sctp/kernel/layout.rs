//! Byte layouts of the Linux SCTP socket API (`linux/sctp.h`, RFC 6458):
//! socket addresses, the `SCTP_SNDINFO` and `SCTP_RCVINFO` control messages
//! and the notifications read with `MSG_NOTIFICATION`.
//!
//! Everything here works on plain byte slices, so that it needs no kernel
//! SCTP to be tested and no `unsafe` to be written. Decoders take whatever
//! the kernel (or garbage) put into a buffer and answer `None` for what does
//! not fit; they never panic and never allocate beyond their input.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::vec::Vec;

/// `AF_INET`.
pub const AF_INET: u16 = libc::AF_INET as u16;
/// `AF_INET6`.
pub const AF_INET6: u16 = libc::AF_INET6 as u16;
/// `sizeof(struct sockaddr_in)`.
pub const SOCKADDR_IN_LEN: usize = 16;
/// `sizeof(struct sockaddr_in6)`.
pub const SOCKADDR_IN6_LEN: usize = 28;

/// `SOL_SCTP` (= `IPPROTO_SCTP`), the level of SCTP options and control
/// messages.
pub const SOL_SCTP: i32 = libc::IPPROTO_SCTP;
/// Control message type `SCTP_SNDINFO` (`struct sctp_sndinfo`).
pub const SCTP_SNDINFO: i32 = 2;
/// Control message type `SCTP_RCVINFO` (`struct sctp_rcvinfo`).
pub const SCTP_RCVINFO: i32 = 3;

/// `sinfo_flags`: deliver unordered.
pub const SCTP_UNORDERED: u16 = 1 << 0;
/// `sinfo_flags`: send an ABORT.
pub const SCTP_ABORT: u16 = 1 << 2;
/// `sinfo_flags`: start a graceful shutdown (`MSG_FIN`).
pub const SCTP_EOF: u16 = libc::MSG_FIN as u16;

/// `msg_flags`: the message is a notification.
pub const MSG_NOTIFICATION: i32 = 0x8000;

/// `sizeof(struct sctp_sndinfo)`.
pub const SNDINFO_LEN: usize = 16;
/// `sizeof(struct sctp_rcvinfo)`.
pub const RCVINFO_LEN: usize = 28;
/// Offsets in `struct sctp_sndinfo`.
pub const SNDINFO_SID: usize = 0;
/// See [`SNDINFO_SID`].
pub const SNDINFO_FLAGS: usize = 2;
/// See [`SNDINFO_SID`].
pub const SNDINFO_PPID: usize = 4;
/// See [`SNDINFO_SID`].
pub const SNDINFO_ASSOC_ID: usize = 12;
/// Offsets in `struct sctp_rcvinfo`.
pub const RCVINFO_SID: usize = 0;
/// See [`RCVINFO_SID`].
pub const RCVINFO_FLAGS: usize = 4;
/// See [`RCVINFO_SID`].
pub const RCVINFO_PPID: usize = 8;
/// See [`RCVINFO_SID`].
pub const RCVINFO_ASSOC_ID: usize = 24;

/// Notification types (`enum sctp_sn_type`).
pub const SCTP_ASSOC_CHANGE: u16 = (1 << 15) + 1;
/// See [`SCTP_ASSOC_CHANGE`].
#[cfg(test)]
pub const SCTP_PEER_ADDR_CHANGE: u16 = (1 << 15) + 2;
/// See [`SCTP_ASSOC_CHANGE`].
pub const SCTP_SEND_FAILED: u16 = (1 << 15) + 3;
/// See [`SCTP_ASSOC_CHANGE`].
pub const SCTP_SHUTDOWN_EVENT: u16 = (1 << 15) + 5;
/// See [`SCTP_ASSOC_CHANGE`].
pub const SCTP_PARTIAL_DELIVERY_EVENT: u16 = (1 << 15) + 6;
/// See [`SCTP_ASSOC_CHANGE`].
pub const SCTP_SEND_FAILED_EVENT: u16 = (1 << 15) + 14;

/// `sac_state` values (`enum sctp_sac_state`).
pub const SCTP_COMM_UP: u16 = 0;
/// See [`SCTP_COMM_UP`].
pub const SCTP_COMM_LOST: u16 = 1;
/// See [`SCTP_COMM_UP`].
pub const SCTP_RESTART: u16 = 2;
/// See [`SCTP_COMM_UP`].
pub const SCTP_SHUTDOWN_COMP: u16 = 3;
/// See [`SCTP_COMM_UP`].
pub const SCTP_CANT_STR_ASSOC: u16 = 4;

/// The size of a control message header (`CMSG_LEN(0)`): `cmsg_len` is a
/// `size_t`, then `cmsg_level` and `cmsg_type`, padded to `size_t`.
pub const CMSG_HDR_LEN: usize = cmsg_align(core::mem::size_of::<usize>() + 8);

/// `CMSG_ALIGN`: control messages are padded to `size_t`.
pub const fn cmsg_align(len: usize) -> usize {
    let a = core::mem::size_of::<usize>();
    (len + a - 1) & !(a - 1)
}

/// `CMSG_SPACE(len)`.
pub const fn cmsg_space(len: usize) -> usize {
    CMSG_HDR_LEN + cmsg_align(len)
}

/// Room for the control messages of one received message (one
/// `SCTP_RCVINFO`, with space to spare for others the kernel may add).
pub const RECV_CMSG_SPACE: usize = 2 * cmsg_space(RCVINFO_LEN) + cmsg_space(32);

/// The byte length of an encoded address of `addr`'s family.
#[cfg(test)]
pub fn sockaddr_len(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => SOCKADDR_IN_LEN,
        SocketAddr::V6(_) => SOCKADDR_IN6_LEN,
    }
}

/// Appends `addr` as a `struct sockaddr_in` or `struct sockaddr_in6`.
pub fn encode_sockaddr(addr: &SocketAddr, out: &mut Vec<u8>) {
    match addr {
        SocketAddr::V4(a) => {
            out.extend_from_slice(&AF_INET.to_ne_bytes());
            out.extend_from_slice(&a.port().to_be_bytes());
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&[0; 8]);
        }
        SocketAddr::V6(a) => {
            out.extend_from_slice(&AF_INET6.to_ne_bytes());
            out.extend_from_slice(&a.port().to_be_bytes());
            out.extend_from_slice(&a.flowinfo().to_be_bytes());
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.scope_id().to_ne_bytes());
        }
    }
}

/// Decodes one address at the start of `bytes`; returns it with its encoded
/// length. IPv4-mapped IPv6 addresses (as an `AF_INET6` socket reports IPv4
/// peers) come back as IPv4.
pub fn decode_sockaddr(bytes: &[u8]) -> Option<(SocketAddr, usize)> {
    let family = u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]);
    let port = u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]);
    match family {
        AF_INET => {
            let ip: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
            if bytes.len() < SOCKADDR_IN_LEN {
                return None;
            }
            let a = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port));
            Some((a, SOCKADDR_IN_LEN))
        }
        AF_INET6 => {
            let flow = u32::from_be_bytes(bytes.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(bytes.get(24..28)?.try_into().ok()?);
            let ip = Ipv6Addr::from(ip);
            let a = match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
                None => SocketAddr::V6(SocketAddrV6::new(ip, port, flow, scope)),
            };
            Some((a, SOCKADDR_IN6_LEN))
        }
        _ => None,
    }
}

/// Decodes up to `count` packed addresses (as `SCTP_GET_PEER_ADDRS`
/// returns them); stops at the first that does not decode.
pub fn decode_packed_addrs(mut bytes: &[u8], count: usize) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    while out.len() < count {
        let Some((a, len)) = decode_sockaddr(bytes) else {
            break;
        };
        out.push(a);
        bytes = &bytes[len..];
    }
    out
}

/// What one `SCTP_SNDINFO` control message says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SndInfo {
    /// Stream.
    pub sid: u16,
    /// `SCTP_UNORDERED`, `SCTP_EOF`, `SCTP_ABORT`.
    pub flags: u16,
    /// PPID (host order here; network order on the wire).
    pub ppid: u32,
    /// The kernel's association id.
    pub assoc_id: i32,
}

/// Writes `info` as one `SCTP_SNDINFO` control message at the start of
/// `out` (which must be aligned for `struct cmsghdr` when handed to the
/// kernel); returns its length (`CMSG_SPACE`), or `None` when `out` is too
/// short.
pub fn encode_sndinfo(info: &SndInfo, out: &mut [u8]) -> Option<usize> {
    let space = cmsg_space(SNDINFO_LEN);
    let out = out.get_mut(..space)?;
    out.fill(0);
    let w = core::mem::size_of::<usize>();
    out[..w].copy_from_slice(&(CMSG_HDR_LEN + SNDINFO_LEN).to_ne_bytes());
    out[w..w + 4].copy_from_slice(&SOL_SCTP.to_ne_bytes());
    out[w + 4..w + 8].copy_from_slice(&SCTP_SNDINFO.to_ne_bytes());
    let d = &mut out[CMSG_HDR_LEN..CMSG_HDR_LEN + SNDINFO_LEN];
    d[SNDINFO_SID..SNDINFO_SID + 2].copy_from_slice(&info.sid.to_ne_bytes());
    d[SNDINFO_FLAGS..SNDINFO_FLAGS + 2].copy_from_slice(&info.flags.to_ne_bytes());
    // The PPID is opaque to the kernel: it goes on the wire as it is given,
    // so it is handed over in network byte order.
    d[SNDINFO_PPID..SNDINFO_PPID + 4].copy_from_slice(&info.ppid.to_be_bytes());
    d[SNDINFO_ASSOC_ID..SNDINFO_ASSOC_ID + 4].copy_from_slice(&info.assoc_id.to_ne_bytes());
    Some(space)
}

/// What one `SCTP_RCVINFO` control message says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RcvInfo {
    /// Stream.
    pub sid: u16,
    /// `SCTP_UNORDERED` when sent unordered.
    pub flags: u16,
    /// PPID (host order).
    pub ppid: u32,
    /// The kernel's association id.
    pub assoc_id: i32,
}

fn ne_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn ne_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn ne_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Finds the `SCTP_RCVINFO` among the control messages in `control` (the
/// first `msg_controllen` bytes of the control buffer).
pub fn decode_rcvinfo(mut control: &[u8]) -> Option<RcvInfo> {
    let w = core::mem::size_of::<usize>();
    // Each round consumes at least CMSG_HDR_LEN bytes: bounded by the input.
    while control.len() >= CMSG_HDR_LEN {
        let len = usize::from_ne_bytes(control[..w].try_into().ok()?);
        let level = ne_i32(control, w)?;
        let kind = ne_i32(control, w + 4)?;
        if len < CMSG_HDR_LEN || len > control.len() {
            return None;
        }
        if level == SOL_SCTP && kind == SCTP_RCVINFO {
            let d = &control[CMSG_HDR_LEN..len];
            if d.len() < RCVINFO_LEN {
                return None;
            }
            return Some(RcvInfo {
                sid: ne_u16(d, RCVINFO_SID)?,
                flags: ne_u16(d, RCVINFO_FLAGS)?,
                ppid: u32::from_be_bytes(d.get(RCVINFO_PPID..RCVINFO_PPID + 4)?.try_into().ok()?),
                assoc_id: ne_i32(d, RCVINFO_ASSOC_ID)?,
            });
        }
        control = control.get(cmsg_align(len)..).unwrap_or(&[]);
    }
    None
}

/// A notification the transport acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notification {
    /// `SCTP_ASSOC_CHANGE` with its `sac_state`.
    AssocChange {
        /// `SCTP_COMM_UP` ... `SCTP_CANT_STR_ASSOC`.
        state: u16,
        /// The association.
        assoc_id: i32,
    },
    /// `SCTP_SEND_FAILED` or `SCTP_SEND_FAILED_EVENT`.
    SendFailed {
        /// The association.
        assoc_id: i32,
    },
    /// `SCTP_SHUTDOWN_EVENT`: the peer shuts the association down.
    Shutdown {
        /// The association.
        assoc_id: i32,
    },
    /// `SCTP_PARTIAL_DELIVERY_EVENT`: a partly delivered message will not
    /// be completed.
    PartialDeliveryAborted {
        /// The association.
        assoc_id: i32,
    },
    /// Any other (well-formed) notification, by type.
    Other(u16),
}

/// Parses a notification (`union sctp_notification`): the 8-byte header
/// (`sn_type`, `sn_flags`, `sn_length`), then the type's fields. `b` may be
/// the first part only of a longer notification (an association change
/// carrying a whole ABORT chunk, a failed send carrying its message): the
/// fields read must lie within both `b` and `sn_length`.
pub fn parse_notification(b: &[u8]) -> Option<Notification> {
    let kind = ne_u16(b, 0)?;
    let length = ne_u32(b, 4)? as usize;
    if length < 8 {
        return None;
    }
    let b = &b[..length.min(b.len())];
    Some(match kind {
        // struct sctp_assoc_change: state@8, error@10, streams@12/14, id@16.
        SCTP_ASSOC_CHANGE => Notification::AssocChange {
            state: ne_u16(b, 8)?,
            assoc_id: ne_i32(b, 16)?,
        },
        // struct sctp_send_failed: error@8, sctp_sndrcvinfo (32)@12, id@44.
        SCTP_SEND_FAILED => Notification::SendFailed {
            assoc_id: ne_i32(b, 44)?,
        },
        // struct sctp_send_failed_event: error@8, sctp_sndinfo (16)@12,
        // id@28.
        SCTP_SEND_FAILED_EVENT => Notification::SendFailed {
            assoc_id: ne_i32(b, 28)?,
        },
        // struct sctp_shutdown_event: id@8.
        SCTP_SHUTDOWN_EVENT => Notification::Shutdown {
            assoc_id: ne_i32(b, 8)?,
        },
        // struct sctp_pdapi_event: indication@8, id@12.
        SCTP_PARTIAL_DELIVERY_EVENT => Notification::PartialDeliveryAborted {
            assoc_id: ne_i32(b, 12)?,
        },
        other => Notification::Other(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_round_trip_in_kernel_layout() {
        let a = v4("192.0.2.7:3863");
        let b: SocketAddr = "[2001:db8::1]:9901".parse().unwrap();
        let mut out = Vec::new();
        encode_sockaddr(&a, &mut out);
        encode_sockaddr(&b, &mut out);
        assert_eq!(out.len(), SOCKADDR_IN_LEN + SOCKADDR_IN6_LEN);
        // The port in network order right after the family.
        assert_eq!(&out[2..4], &[0x0f, 0x17]);
        assert_eq!(&out[4..8], &[192, 0, 2, 7]);
        assert_eq!(decode_packed_addrs(&out, 8), vec![a, b]);
        assert_eq!(decode_packed_addrs(&out, 1), vec![a]);
        assert_eq!(sockaddr_len(&a) + sockaddr_len(&b), out.len());
    }

    #[test]
    fn mapped_ipv4_comes_back_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:127.0.0.2]:5000".parse().unwrap();
        let mut out = Vec::new();
        encode_sockaddr(&mapped, &mut out);
        assert_eq!(decode_sockaddr(&out), Some((v4("127.0.0.2:5000"), 28)));
    }

    #[test]
    fn truncated_or_unknown_addresses_decode_to_nothing() {
        let mut out = Vec::new();
        encode_sockaddr(&v4("10.0.0.1:1"), &mut out);
        for n in 0..out.len() {
            assert_eq!(decode_sockaddr(&out[..n]), None, "{n} bytes");
        }
        out[0] = 0x77;
        out[1] = 0x77;
        assert_eq!(decode_sockaddr(&out), None);
        assert!(decode_packed_addrs(&out, 4).is_empty());
    }

    #[test]
    fn sndinfo_is_one_control_message_with_the_ppid_in_network_order() {
        let mut buf = [0xffu8; 64];
        let info = SndInfo {
            sid: 1,
            flags: SCTP_UNORDERED,
            ppid: 11,
            assoc_id: 42,
        };
        let n = encode_sndinfo(&info, &mut buf).unwrap();
        assert_eq!(n, cmsg_space(SNDINFO_LEN));
        let w = core::mem::size_of::<usize>();
        let len = usize::from_ne_bytes(buf[..w].try_into().unwrap());
        assert_eq!(len, CMSG_HDR_LEN + SNDINFO_LEN);
        assert_eq!(ne_i32(&buf, w), Some(libc::IPPROTO_SCTP));
        assert_eq!(ne_i32(&buf, w + 4), Some(SCTP_SNDINFO));
        let d = &buf[CMSG_HDR_LEN..];
        assert_eq!(&d[SNDINFO_PPID..SNDINFO_PPID + 4], &[0, 0, 0, 11]);
        assert_eq!(ne_u16(d, SNDINFO_SID), Some(1));
        assert_eq!(ne_u16(d, SNDINFO_FLAGS), Some(SCTP_UNORDERED));
        assert_eq!(ne_i32(d, SNDINFO_ASSOC_ID), Some(42));
        assert_eq!(encode_sndinfo(&info, &mut buf[..n - 1]), None);
    }

    /// A control buffer as the kernel fills it: `cmsgs` in order.
    fn control(cmsgs: &[(i32, i32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(level, kind, data) in cmsgs {
            out.extend_from_slice(&(CMSG_HDR_LEN + data.len()).to_ne_bytes());
            out.extend_from_slice(&level.to_ne_bytes());
            out.extend_from_slice(&kind.to_ne_bytes());
            out.resize(cmsg_align(out.len()), 0);
            out.extend_from_slice(data);
            out.resize(cmsg_align(out.len()), 0);
        }
        out
    }

    fn rcvinfo_bytes(sid: u16, flags: u16, ppid: u32, assoc: i32) -> Vec<u8> {
        let mut d = vec![0u8; RCVINFO_LEN];
        d[RCVINFO_SID..RCVINFO_SID + 2].copy_from_slice(&sid.to_ne_bytes());
        d[RCVINFO_FLAGS..RCVINFO_FLAGS + 2].copy_from_slice(&flags.to_ne_bytes());
        d[RCVINFO_PPID..RCVINFO_PPID + 4].copy_from_slice(&ppid.to_be_bytes());
        d[RCVINFO_ASSOC_ID..RCVINFO_ASSOC_ID + 4].copy_from_slice(&assoc.to_ne_bytes());
        d
    }

    #[test]
    fn rcvinfo_is_found_among_other_control_messages() {
        let info = rcvinfo_bytes(3, SCTP_UNORDERED, 12, 7);
        let buf = control(&[(0, 1, &[1, 2, 3]), (SOL_SCTP, SCTP_RCVINFO, &info)]);
        assert_eq!(
            decode_rcvinfo(&buf),
            Some(RcvInfo {
                sid: 3,
                flags: SCTP_UNORDERED,
                ppid: 12,
                assoc_id: 7
            })
        );
        assert_eq!(decode_rcvinfo(&control(&[(0, 1, &[1, 2, 3])])), None);
        assert_eq!(decode_rcvinfo(&[]), None);
    }

    #[test]
    fn garbage_control_buffers_decode_to_nothing_without_panicking() {
        let info = rcvinfo_bytes(0, 0, 11, 1);
        let good = control(&[(SOL_SCTP, SCTP_RCVINFO, &info)]);
        for n in 0..good.len() {
            let _ = decode_rcvinfo(&good[..n]);
        }
        // A short RCVINFO, a length of zero, a huge length.
        assert_eq!(
            decode_rcvinfo(&control(&[(SOL_SCTP, SCTP_RCVINFO, &info[..8])])),
            None
        );
        let mut zero = good.clone();
        zero[..core::mem::size_of::<usize>()].fill(0);
        assert_eq!(decode_rcvinfo(&zero), None);
        let mut huge = good.clone();
        huge[..core::mem::size_of::<usize>()].fill(0xff);
        assert_eq!(decode_rcvinfo(&huge), None);
        let mut x: u32 = 1;
        for _ in 0..2000 {
            let junk: Vec<u8> = (0..(x % 97) as usize)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = decode_rcvinfo(&junk);
            let _ = parse_notification(&junk);
            let _ = decode_packed_addrs(&junk, 8);
        }
    }

    fn notification(kind: u16, body: &[(usize, &[u8])], len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[0..2].copy_from_slice(&kind.to_ne_bytes());
        b[4..8].copy_from_slice(&(len as u32).to_ne_bytes());
        for &(at, v) in body {
            b[at..at + v.len()].copy_from_slice(v);
        }
        b
    }

    #[test]
    fn notifications_are_parsed_from_their_kernel_layout() {
        let up = notification(
            SCTP_ASSOC_CHANGE,
            &[(8, &SCTP_COMM_UP.to_ne_bytes()), (16, &5i32.to_ne_bytes())],
            20,
        );
        assert_eq!(
            parse_notification(&up),
            Some(Notification::AssocChange {
                state: SCTP_COMM_UP,
                assoc_id: 5
            })
        );
        let lost = notification(
            SCTP_ASSOC_CHANGE,
            &[
                (8, &SCTP_CANT_STR_ASSOC.to_ne_bytes()),
                (16, &9i32.to_ne_bytes()),
            ],
            24,
        );
        assert_eq!(
            parse_notification(&lost),
            Some(Notification::AssocChange {
                state: SCTP_CANT_STR_ASSOC,
                assoc_id: 9
            })
        );
        let failed = notification(SCTP_SEND_FAILED_EVENT, &[(28, &6i32.to_ne_bytes())], 40);
        assert_eq!(
            parse_notification(&failed),
            Some(Notification::SendFailed { assoc_id: 6 })
        );
        let old_failed = notification(SCTP_SEND_FAILED, &[(44, &8i32.to_ne_bytes())], 48);
        assert_eq!(
            parse_notification(&old_failed),
            Some(Notification::SendFailed { assoc_id: 8 })
        );
        let shutdown = notification(SCTP_SHUTDOWN_EVENT, &[(8, &4i32.to_ne_bytes())], 12);
        assert_eq!(
            parse_notification(&shutdown),
            Some(Notification::Shutdown { assoc_id: 4 })
        );
        let pd = notification(
            SCTP_PARTIAL_DELIVERY_EVENT,
            &[(12, &3i32.to_ne_bytes())],
            24,
        );
        assert_eq!(
            parse_notification(&pd),
            Some(Notification::PartialDeliveryAborted { assoc_id: 3 })
        );
        let addr = notification(SCTP_PEER_ADDR_CHANGE, &[], 148);
        assert_eq!(
            parse_notification(&addr),
            Some(Notification::Other(SCTP_PEER_ADDR_CHANGE))
        );
    }

    #[test]
    fn short_or_lying_notifications_are_refused() {
        let up = notification(SCTP_ASSOC_CHANGE, &[(16, &5i32.to_ne_bytes())], 20);
        for n in 0..up.len() {
            assert_eq!(parse_notification(&up[..n]), None, "{n} bytes");
        }
        // sn_length says less than the type's fields.
        let mut short = up.clone();
        short[4..8].copy_from_slice(&12u32.to_ne_bytes());
        assert_eq!(parse_notification(&short), None);
        // sn_length below the header.
        let mut tiny = up.clone();
        tiny[4..8].copy_from_slice(&4u32.to_ne_bytes());
        assert_eq!(parse_notification(&tiny), None);
    }

    #[test]
    fn the_kept_start_of_a_long_notification_is_enough() {
        // COMM_LOST with a 1000-byte ABORT chunk in sac_info, of which only
        // the first 256 bytes were kept.
        let lost = notification(
            SCTP_ASSOC_CHANGE,
            &[
                (8, &SCTP_COMM_LOST.to_ne_bytes()),
                (16, &5i32.to_ne_bytes()),
            ],
            1020,
        );
        assert_eq!(
            parse_notification(&lost[..256]),
            Some(Notification::AssocChange {
                state: SCTP_COMM_LOST,
                assoc_id: 5
            })
        );
        // A failed send with its message, cut after the association id.
        let failed = notification(SCTP_SEND_FAILED_EVENT, &[(28, &6i32.to_ne_bytes())], 5000);
        assert_eq!(
            parse_notification(&failed[..32]),
            Some(Notification::SendFailed { assoc_id: 6 })
        );
        assert_eq!(parse_notification(&failed[..30]), None);
    }
}
