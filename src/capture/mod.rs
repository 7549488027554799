//! Packet captures of ASAP and ENRP traffic (classic pcap and pcapng).
//!
//! [`PcapWriter`] wraps raw ASAP/ENRP messages into frames that Wireshark and
//! tcpdump open (`LINKTYPE_ETHERNET`): Ethernet, IPv4 or IPv6, then
//!
//! * UDP to the message's ports ([`Encapsulation::Udp`]; the well-known
//!   ports are ASAP 3863 and ENRP 9901),
//! * SCTP over UDP port 9899 (RFC 6951, [`Encapsulation::SctpOverUdp`]): one
//!   DATA chunk per message with PPID 11 (ASAP) or 12 (ENRP), a correct
//!   CRC32c and increasing TSNs and stream sequence numbers per direction,
//! * or TCP ([`Encapsulation::Tcp`]) with per-direction sequence numbers.
//!
//! IPv4 header, UDP and TCP checksums are filled in, so a capture checks out
//! with every checksum validation of Wireshark switched on.
//!
//! [`PcapReader`] finds ASAP/ENRP messages in a capture written by this
//! module, by tcpdump or by Wireshark: classic pcap (either byte order, micro-
//! or nanosecond timestamps) and pcapng; Ethernet (with VLAN tags), Linux
//! cooked capture (SLL and SLL2), raw IP and BSD loopback links; IPv4 and
//! IPv6; UDP on ports 3863/9901, SCTP over UDP 9899 by DATA chunk PPID (11/12,
//! fragmented user messages are reassembled), and TCP on port 3863 (and 9901,
//! taken as ENRP, although RFC 5353 assigns ENRP no TCP port). It is
//! bounded (no record larger than [`MAX_RECORD_SIZE`] is read, reassembly
//! keeps at most [`MAX_REASSEMBLY`] bytes per stream) and never panics on
//! garbage: a malformed frame yields no messages, a malformed file header an
//! [`io::Error`] of kind [`io::ErrorKind::InvalidData`].
//!
//! The writer is in `writer.rs`, the file reader in `reader.rs` and the
//! frame dissector in `frame.rs`.

mod frame;
mod reader;
mod writer;

pub use reader::PcapReader;
pub use writer::PcapWriter;

use frame::*;
use reader::*;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use std::vec::Vec;

use crate::wire::{Protocol, ASAP_PORT, ENRP_PORT};

/// UDP port for SCTP over UDP, RFC 6951.
pub const SCTP_OVER_UDP_PORT: u16 = 9899;
/// Largest capture record (frame) the reader accepts.
pub const MAX_RECORD_SIZE: usize = 1 << 20;
/// Largest SCTP user message the reader reassembles from fragments.
pub const MAX_REASSEMBLY: usize = 1 << 17;
/// Snapshot length written into the capture header.
const SNAPLEN: u32 = 262_144;
/// `LINKTYPE_ETHERNET`.
const LINKTYPE_ETHERNET: u32 = 1;

/// The protocol of a UDP or TCP segment between these ports, judged by the
/// well-known ports (the destination port first).
const fn protocol_of_ports(src: u16, dst: u16) -> Option<Protocol> {
    match (dst, src) {
        (ASAP_PORT, _) => Some(Protocol::Asap),
        (ENRP_PORT, _) => Some(Protocol::Enrp),
        (_, ASAP_PORT) => Some(Protocol::Asap),
        (_, ENRP_PORT) => Some(Protocol::Enrp),
        _ => None,
    }
}

/// How a message is carried in the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Encapsulation {
    /// One UDP datagram per message, between the given socket addresses.
    #[default]
    Udp,
    /// SCTP over UDP (RFC 6951, UDP port 9899); the given ports are the SCTP
    /// ports.
    SctpOverUdp,
    /// One TCP segment per message, between the given socket addresses.
    Tcp,
    /// SCTP directly over IP (protocol 132, as the kernel's SCTP sends it):
    /// one DATA chunk per message with PPID 11 or 12, between the given
    /// SCTP ports.
    Sctp,
}

/// Computes the CRC32c (Castagnoli) of `data`, as SCTP uses it (RFC 9260
/// Appendix A). Returns the value to be stored in little-endian byte order.
pub fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// Internet (RFC 1071) one's-complement sum of `data`, folded to 16 bits,
/// not yet complemented; `initial` continues an earlier sum.
fn ones_sum(initial: u32, data: &[u8]) -> u32 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum
}

fn finish_checksum(sum: u32) -> u16 {
    let mut s = sum;
    while s >> 16 != 0 {
        s = (s & 0xFFFF) + (s >> 16);
    }
    !(s as u16)
}

/// One ASAP or ENRP message found in a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedMessage {
    /// 1-based number of the frame that carried it (the last fragment's for
    /// a reassembled SCTP message).
    pub frame: u64,
    /// Capture time of that frame.
    pub timestamp: SystemTime,
    /// ASAP or ENRP.
    pub protocol: Protocol,
    /// How it was carried.
    pub encapsulation: Encapsulation,
    /// Sender (for SCTP, the SCTP port).
    pub src: SocketAddr,
    /// Receiver (for SCTP, the SCTP port).
    pub dst: SocketAddr,
    /// The message bytes as carried (for UDP the whole datagram payload).
    pub bytes: Vec<u8>,
}

#[cfg(test)]
mod tests;
