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

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use std::vec::Vec;

use super::{Protocol, ASAP_PORT, ENRP_PORT};

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

/// Per-direction SCTP state of the writer.
#[derive(Clone, Copy, Debug)]
struct SctpDirection {
    tsn: u32,
    ssn: u16,
}

/// Writes ASAP and ENRP messages into a classic pcap capture.
///
/// ```no_run
/// use rserpool::wire::pcap::{Encapsulation, PcapWriter};
/// let mut pcap = PcapWriter::create("asap.pcap")?;
/// let pe = "192.0.2.10:40000".parse().unwrap();
/// let pr = "192.0.2.1:3863".parse().unwrap();
/// let message = [0x0e, 0x00, 0x00, 0x04]; // any encoded ASAP message
/// pcap.write_asap(pe, pr, &message)?;
/// pcap.set_encapsulation(Encapsulation::SctpOverUdp);
/// pcap.write_asap(pr, pe, &message)?;
/// pcap.flush()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    encapsulation: Encapsulation,
    ip_id: u16,
    sctp: HashMap<(SocketAddr, SocketAddr), SctpDirection>,
    tcp: HashMap<(SocketAddr, SocketAddr), u32>,
    frame: Vec<u8>,
}

impl PcapWriter<BufWriter<File>> {
    /// Creates (truncates) the file at `path` and writes the capture header.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        PcapWriter::new(BufWriter::new(File::create(path)?))
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes the pcap file header to `out`. Messages written with
    /// [`write_asap`](Self::write_asap) and [`write_enrp`](Self::write_enrp)
    /// use [`Encapsulation::Udp`] until changed.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone 0, sigfigs 0
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter {
            out,
            encapsulation: Encapsulation::Udp,
            ip_id: 1,
            sctp: HashMap::new(),
            tcp: HashMap::new(),
            frame: Vec::new(),
        })
    }

    /// The encapsulation used by [`write_asap`](Self::write_asap) and
    /// [`write_enrp`](Self::write_enrp).
    pub fn encapsulation(&self) -> Encapsulation {
        self.encapsulation
    }

    /// Sets the encapsulation used by [`write_asap`](Self::write_asap) and
    /// [`write_enrp`](Self::write_enrp).
    pub fn set_encapsulation(&mut self, encapsulation: Encapsulation) {
        self.encapsulation = encapsulation;
    }

    /// Builder form of [`set_encapsulation`](Self::set_encapsulation).
    pub fn with_encapsulation(mut self, encapsulation: Encapsulation) -> Self {
        self.encapsulation = encapsulation;
        self
    }

    /// Writes one ASAP message sent from `src` to `dst` now.
    pub fn write_asap(&mut self, src: SocketAddr, dst: SocketAddr, msg: &[u8]) -> io::Result<()> {
        let e = self.encapsulation;
        self.write(Protocol::Asap, src, dst, SystemTime::now(), msg, e)
    }

    /// Writes one ENRP message sent from `src` to `dst` now.
    pub fn write_enrp(&mut self, src: SocketAddr, dst: SocketAddr, msg: &[u8]) -> io::Result<()> {
        let e = self.encapsulation;
        self.write(Protocol::Enrp, src, dst, SystemTime::now(), msg, e)
    }

    /// Writes one message of `protocol` sent from `src` to `dst` at
    /// `timestamp`, carried as `encapsulation`.
    ///
    /// `src` and `dst` must both be IPv4 or both IPv6 (IPv4-mapped IPv6
    /// addresses count as IPv4). Over SCTP a message too large for one
    /// packet is split into fragments. Fails with
    /// [`io::ErrorKind::InvalidInput`] on mixed address families or a message
    /// too large for one UDP datagram or TCP segment.
    pub fn write(
        &mut self,
        protocol: Protocol,
        src: SocketAddr,
        dst: SocketAddr,
        timestamp: SystemTime,
        msg: &[u8],
        encapsulation: Encapsulation,
    ) -> io::Result<()> {
        let (sip, dip) = same_family(src.ip(), dst.ip())?;
        match encapsulation {
            Encapsulation::Udp => {
                self.udp_frame(sip, dip, src.port(), dst.port(), msg)?;
                self.emit_frame(timestamp)
            }
            Encapsulation::Tcp => self.tcp_frame(src, dst, sip, dip, msg, timestamp),
            Encapsulation::SctpOverUdp | Encapsulation::Sctp => {
                let over_udp = encapsulation == Encapsulation::SctpOverUdp;
                self.sctp_frames(protocol, src, dst, sip, dip, msg, timestamp, over_udp)
            }
        }
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Returns the underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.out
    }

    fn emit_frame(&mut self, timestamp: SystemTime) -> io::Result<()> {
        let since = timestamp
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let len = self.frame.len() as u32;
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&(since.as_secs() as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&since.subsec_micros().to_le_bytes());
        rec[8..12].copy_from_slice(&len.to_le_bytes());
        rec[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(&self.frame)
    }

    /// Starts `self.frame` with Ethernet and IP headers for a transport
    /// payload of `transport_len` bytes; returns the pseudo-header sum.
    fn ip_headers(
        &mut self,
        sip: IpAddr,
        dip: IpAddr,
        next: u8,
        transport_len: usize,
    ) -> io::Result<u32> {
        self.frame.clear();
        self.frame.extend_from_slice(&mac(dip));
        self.frame.extend_from_slice(&mac(sip));
        match (sip, dip) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let total = 20 + transport_len;
                if total > usize::from(u16::MAX) {
                    return Err(too_large());
                }
                self.frame.extend_from_slice(&0x0800u16.to_be_bytes());
                let start = self.frame.len();
                self.frame.extend_from_slice(&[0x45, 0]);
                self.frame.extend_from_slice(&(total as u16).to_be_bytes());
                self.frame.extend_from_slice(&self.ip_id.to_be_bytes());
                self.ip_id = self.ip_id.wrapping_add(1);
                self.frame.extend_from_slice(&[0x40, 0, 64, next, 0, 0]);
                self.frame.extend_from_slice(&s.octets());
                self.frame.extend_from_slice(&d.octets());
                let cs = finish_checksum(ones_sum(0, &self.frame[start..]));
                self.frame[start + 10..start + 12].copy_from_slice(&cs.to_be_bytes());
                let mut pseudo = [0u8; 12];
                pseudo[0..4].copy_from_slice(&s.octets());
                pseudo[4..8].copy_from_slice(&d.octets());
                pseudo[9] = next;
                pseudo[10..12].copy_from_slice(&(transport_len as u16).to_be_bytes());
                Ok(ones_sum(0, &pseudo))
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                if transport_len > usize::from(u16::MAX) {
                    return Err(too_large());
                }
                self.frame.extend_from_slice(&0x86DDu16.to_be_bytes());
                self.frame.extend_from_slice(&[0x60, 0, 0, 0]);
                self.frame
                    .extend_from_slice(&(transport_len as u16).to_be_bytes());
                self.frame.extend_from_slice(&[next, 64]);
                self.frame.extend_from_slice(&s.octets());
                self.frame.extend_from_slice(&d.octets());
                let mut pseudo = [0u8; 40];
                pseudo[0..16].copy_from_slice(&s.octets());
                pseudo[16..32].copy_from_slice(&d.octets());
                pseudo[32..36].copy_from_slice(&(transport_len as u32).to_be_bytes());
                pseudo[39] = next;
                Ok(ones_sum(0, &pseudo))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "source and destination differ in address family",
            )),
        }
    }

    fn udp_frame(
        &mut self,
        sip: IpAddr,
        dip: IpAddr,
        sport: u16,
        dport: u16,
        payload: &[u8],
    ) -> io::Result<()> {
        let len = 8 + payload.len();
        if len > usize::from(u16::MAX) {
            return Err(too_large());
        }
        let pseudo = self.ip_headers(sip, dip, 17, len)?;
        let start = self.frame.len();
        self.frame.extend_from_slice(&sport.to_be_bytes());
        self.frame.extend_from_slice(&dport.to_be_bytes());
        self.frame.extend_from_slice(&(len as u16).to_be_bytes());
        self.frame.extend_from_slice(&[0, 0]);
        self.frame.extend_from_slice(payload);
        let cs = match finish_checksum(ones_sum(pseudo, &self.frame[start..])) {
            0 => 0xFFFF,
            cs => cs,
        };
        self.frame[start + 6..start + 8].copy_from_slice(&cs.to_be_bytes());
        Ok(())
    }

    fn tcp_frame(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        sip: IpAddr,
        dip: IpAddr,
        payload: &[u8],
        timestamp: SystemTime,
    ) -> io::Result<()> {
        let len = 20 + payload.len();
        let seq = *self
            .tcp
            .entry((src, dst))
            .or_insert_with(|| initial_number(src, dst));
        let ack = *self
            .tcp
            .entry((dst, src))
            .or_insert_with(|| initial_number(dst, src));
        let pseudo = self.ip_headers(sip, dip, 6, len)?;
        let start = self.frame.len();
        self.frame.extend_from_slice(&src.port().to_be_bytes());
        self.frame.extend_from_slice(&dst.port().to_be_bytes());
        self.frame.extend_from_slice(&seq.to_be_bytes());
        self.frame.extend_from_slice(&ack.to_be_bytes());
        // data offset 5 words; flags PSH|ACK; window; checksum; urgent
        self.frame
            .extend_from_slice(&[0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0]);
        self.frame.extend_from_slice(payload);
        let cs = finish_checksum(ones_sum(pseudo, &self.frame[start..]));
        self.frame[start + 16..start + 18].copy_from_slice(&cs.to_be_bytes());
        self.tcp
            .insert((src, dst), seq.wrapping_add(payload.len() as u32));
        self.emit_frame(timestamp)
    }

    #[allow(clippy::too_many_arguments)]
    fn sctp_frames(
        &mut self,
        protocol: Protocol,
        src: SocketAddr,
        dst: SocketAddr,
        sip: IpAddr,
        dip: IpAddr,
        msg: &[u8],
        timestamp: SystemTime,
        over_udp: bool,
    ) -> io::Result<()> {
        // Largest DATA payload per packet that fits into one IP packet.
        const MAX_FRAGMENT: usize = 65_535 - 40 - 8 - 12 - 16 - 4;
        let mut state = *self
            .sctp
            .entry((src, dst))
            .or_insert_with(|| SctpDirection {
                tsn: initial_number(src, dst),
                ssn: 0,
            });
        // The verification tag is the receiver's tag: the one it uses as its
        // own initial TSN here.
        let vtag = initial_number(dst, src) | 1;
        let mut fragments: Vec<&[u8]> = msg.chunks(MAX_FRAGMENT).collect();
        if fragments.is_empty() {
            fragments.push(&[]);
        }
        let last = fragments.len() - 1;
        let mut packet = Vec::new();
        for (i, fragment) in fragments.into_iter().enumerate() {
            let flags = (u8::from(i == 0) << 1) | u8::from(i == last);
            packet.clear();
            packet.extend_from_slice(&src.port().to_be_bytes());
            packet.extend_from_slice(&dst.port().to_be_bytes());
            packet.extend_from_slice(&vtag.to_be_bytes());
            packet.extend_from_slice(&[0; 4]);
            packet.push(0); // DATA
            packet.push(flags);
            packet.extend_from_slice(&((16 + fragment.len()) as u16).to_be_bytes());
            packet.extend_from_slice(&state.tsn.to_be_bytes());
            packet.extend_from_slice(&0u16.to_be_bytes()); // stream 0
            packet.extend_from_slice(&state.ssn.to_be_bytes());
            packet.extend_from_slice(&protocol.ppid().to_be_bytes());
            packet.extend_from_slice(fragment);
            while packet.len() % 4 != 0 {
                packet.push(0);
            }
            let crc = crc32c(&packet);
            packet[8..12].copy_from_slice(&crc.to_le_bytes());
            if over_udp {
                self.udp_frame(sip, dip, SCTP_OVER_UDP_PORT, SCTP_OVER_UDP_PORT, &packet)?;
            } else {
                self.ip_headers(sip, dip, 132, packet.len())?;
                self.frame.extend_from_slice(&packet);
            }
            self.emit_frame(timestamp)?;
            state.tsn = state.tsn.wrapping_add(1);
        }
        state.ssn = state.ssn.wrapping_add(1);
        self.sctp.insert((src, dst), state);
        Ok(())
    }
}

fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "message too large for one IP packet",
    )
}

/// Brings both addresses into one family (IPv4-mapped IPv6 counts as IPv4).
fn same_family(a: IpAddr, b: IpAddr) -> io::Result<(IpAddr, IpAddr)> {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (a, b) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => Ok((a, b)),
        _ => match (canon(a), canon(b)) {
            (x @ IpAddr::V4(_), y @ IpAddr::V4(_)) => Ok((x, y)),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "source and destination differ in address family",
            )),
        },
    }
}

/// A locally administered MAC address derived from an IP address.
fn mac(ip: IpAddr) -> [u8; 6] {
    let o = match ip {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            [o[12], o[13], o[14], o[15]]
        }
    };
    [0x02, 0x00, o[0], o[1], o[2], o[3]]
}

/// A stable per-direction start value (TSN, TCP sequence, verification tag).
fn initial_number(src: SocketAddr, dst: SocketAddr) -> u32 {
    // FNV-1a over both endpoints: deterministic, so captures are reproducible.
    let mut h = 0x811C_9DC5u32;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    };
    for a in [src, dst] {
        match a.ip() {
            IpAddr::V4(v4) => feed(&v4.octets()),
            IpAddr::V6(v6) => feed(&v6.octets()),
        }
        feed(&a.port().to_be_bytes());
    }
    h
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

/// Link layer of a capture interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Ethernet,
    LinuxSll,
    LinuxSll2,
    RawIp,
    Ipv4,
    Ipv6,
    Null,
    Other,
}

impl Link {
    fn from_linktype(t: u32) -> Link {
        match t {
            1 => Link::Ethernet,
            113 => Link::LinuxSll,
            276 => Link::LinuxSll2,
            101 | 12 | 14 => Link::RawIp,
            228 => Link::Ipv4,
            229 => Link::Ipv6,
            0 => Link::Null,
            _ => Link::Other,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Pcap { big_endian: bool, nanos: bool },
    Pcapng,
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link: Link,
    /// Timestamp units per second.
    units: u64,
}

/// Reads ASAP and ENRP messages out of a pcap or pcapng capture.
///
/// Iterating yields every message found, in capture order; a frame that is
/// not ASAP/ENRP, or is malformed, yields nothing. An error ends the
/// iteration (a truncated last record, an oversized record, a read error).
#[derive(Debug)]
pub struct PcapReader<R: Read> {
    input: R,
    format: Format,
    big_endian: bool,
    interfaces: Vec<Interface>,
    frame_number: u64,
    pending: std::collections::VecDeque<CapturedMessage>,
    reassembly: HashMap<(SocketAddr, SocketAddr, u16), Vec<u8>>,
    done: bool,
    record: Vec<u8>,
}

impl PcapReader<io::BufReader<File>> {
    /// Opens the capture at `path`.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        PcapReader::new(io::BufReader::new(File::open(path)?))
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl<R: Read> PcapReader<R> {
    /// Reads the capture's file header.
    pub fn new(mut input: R) -> io::Result<Self> {
        let mut magic = [0u8; 4];
        input.read_exact(&mut magic)?;
        let (format, big_endian, interfaces) = match magic {
            [0xD4, 0xC3, 0xB2, 0xA1] | [0x4D, 0x3C, 0xB2, 0xA1] => (
                Format::Pcap {
                    big_endian: false,
                    nanos: magic[0] == 0x4D,
                },
                false,
                Vec::new(),
            ),
            [0xA1, 0xB2, 0xC3, 0xD4] | [0xA1, 0xB2, 0x3C, 0x4D] => (
                Format::Pcap {
                    big_endian: true,
                    nanos: magic[3] == 0x4D,
                },
                true,
                Vec::new(),
            ),
            [0x0A, 0x0D, 0x0D, 0x0A] => (Format::Pcapng, false, Vec::new()),
            _ => return Err(invalid("not a pcap or pcapng capture")),
        };
        let mut reader = PcapReader {
            input,
            format,
            big_endian,
            interfaces,
            frame_number: 0,
            pending: Default::default(),
            reassembly: HashMap::new(),
            done: false,
            record: Vec::new(),
        };
        match format {
            Format::Pcap { nanos, .. } => {
                let mut rest = [0u8; 20];
                reader.input.read_exact(&mut rest)?;
                let linktype = reader.u32_at(&rest, 16) & 0x0FFF_FFFF;
                reader.interfaces.push(Interface {
                    link: Link::from_linktype(linktype),
                    units: if nanos { 1_000_000_000 } else { 1_000_000 },
                });
            }
            Format::Pcapng => reader.section_header()?,
        }
        Ok(reader)
    }

    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }

    fn u16_at(&self, b: &[u8], at: usize) -> u16 {
        let v = [b[at], b[at + 1]];
        if self.big_endian {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    }

    /// Reads the rest of a pcapng section header block whose type was read.
    fn section_header(&mut self) -> io::Result<()> {
        let mut head = [0u8; 8];
        self.input.read_exact(&mut head)?;
        self.big_endian = match head[4..8] {
            [0x1A, 0x2B, 0x3C, 0x4D] => true,
            [0x4D, 0x3C, 0x2B, 0x1A] => false,
            _ => return Err(invalid("bad pcapng byte-order magic")),
        };
        let total = self.u32_at(&head, 0) as usize;
        if !(28..=MAX_RECORD_SIZE).contains(&total) || total % 4 != 0 {
            return Err(invalid("bad pcapng section header length"));
        }
        self.skip(total - 12)?;
        self.interfaces.clear();
        Ok(())
    }

    fn skip(&mut self, n: usize) -> io::Result<()> {
        let copied = io::copy(&mut (&mut self.input).take(n as u64), &mut io::sink())?;
        if copied != n as u64 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "capture ends inside a record",
            ));
        }
        Ok(())
    }

    /// Reads the next frame: `Ok(None)` at a clean end of file.
    fn next_frame(&mut self) -> io::Result<Option<(u32, SystemTime, Vec<u8>)>> {
        loop {
            let mut head = [0u8; 8];
            match read_full(&mut self.input, &mut head)? {
                0 => return Ok(None),
                8 => {}
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "capture ends inside a record header",
                    ))
                }
            }
            match self.format {
                Format::Pcap { .. } => {
                    let mut more = [0u8; 8];
                    self.input.read_exact(&mut more)?;
                    let secs = u64::from(self.u32_at(&head, 0));
                    let frac = u64::from(self.u32_at(&head, 4));
                    let caplen = self.u32_at(&more, 0) as usize;
                    if caplen > MAX_RECORD_SIZE {
                        return Err(invalid("pcap record larger than the reader accepts"));
                    }
                    let mut data = std::mem::take(&mut self.record);
                    data.resize(caplen, 0);
                    self.input.read_exact(&mut data)?;
                    let units = self.interfaces[0].units;
                    let ts = timestamp(secs * units + frac.min(units - 1), units);
                    return Ok(Some((0, ts, data)));
                }
                Format::Pcapng => {
                    if head[0..4] == [0x0A, 0x0D, 0x0D, 0x0A] {
                        self.section_header()?;
                        continue;
                    }
                    let kind = self.u32_at(&head, 0);
                    let total = self.u32_at(&head, 4) as usize;
                    if total < 12 || total % 4 != 0 || total > MAX_RECORD_SIZE + 64 {
                        return Err(invalid("bad pcapng block length"));
                    }
                    let body_len = total - 12;
                    if !matches!(kind, 1 | 2 | 3 | 6) {
                        self.skip(body_len + 4)?;
                        continue;
                    }
                    let mut body = vec![0u8; body_len + 4];
                    self.input.read_exact(&mut body)?;
                    let body = &body[..body_len];
                    if let Some(frame) = self.pcapng_block(kind, body) {
                        return Ok(Some(frame));
                    }
                }
            }
        }
    }

    /// Interprets one pcapng block body; returns a frame for packet blocks.
    fn pcapng_block(&mut self, kind: u32, body: &[u8]) -> Option<(u32, SystemTime, Vec<u8>)> {
        match kind {
            1 => {
                if body.len() < 8 {
                    return None;
                }
                let linktype = u32::from(self.u16_at(body, 0));
                let mut units = 1_000_000u64;
                let mut opts = &body[8..];
                while opts.len() >= 4 {
                    let code = self.u16_at(opts, 0);
                    let len = usize::from(self.u16_at(opts, 2));
                    let padded = (len + 3) & !3;
                    if code == 0 || opts.len() < 4 + padded {
                        break;
                    }
                    if code == 9 && len >= 1 {
                        let v = opts[4];
                        let exp = u32::from(v & 0x7F);
                        units = if v & 0x80 != 0 {
                            1u64.checked_shl(exp).unwrap_or(0)
                        } else {
                            10u64.checked_pow(exp).unwrap_or(0)
                        };
                        if units == 0 {
                            units = 1_000_000;
                        }
                    }
                    opts = &opts[4 + padded..];
                }
                if self.interfaces.len() < 4096 {
                    self.interfaces.push(Interface {
                        link: Link::from_linktype(linktype),
                        units,
                    });
                }
                None
            }
            6 | 2 => {
                if body.len() < 20 {
                    return None;
                }
                let iface = if kind == 6 {
                    self.u32_at(body, 0)
                } else {
                    u32::from(self.u16_at(body, 0))
                };
                let units = self.interfaces.get(iface as usize)?.units;
                let ts = (u64::from(self.u32_at(body, 4)) << 32) | u64::from(self.u32_at(body, 8));
                let caplen = (self.u32_at(body, 12) as usize).min(body.len() - 20);
                Some((iface, timestamp(ts, units), body[20..20 + caplen].to_vec()))
            }
            3 => {
                if body.len() < 4 {
                    return None;
                }
                self.interfaces.first()?;
                let len = (self.u32_at(body, 0) as usize).min(body.len() - 4);
                Some((0, UNIX_EPOCH, body[4..4 + len].to_vec()))
            }
            _ => None,
        }
    }

    /// Reads frames until one carries a message or the capture ends.
    fn fill(&mut self) -> io::Result<()> {
        while self.pending.is_empty() {
            let Some((iface, ts, data)) = self.next_frame()? else {
                self.done = true;
                return Ok(());
            };
            self.frame_number += 1;
            if let Some(link) = self.interfaces.get(iface as usize).map(|i| i.link) {
                let mut found = Frame {
                    number: self.frame_number,
                    timestamp: ts,
                    out: &mut self.pending,
                    reassembly: &mut self.reassembly,
                };
                found.link(link, &data);
            }
            self.record = data;
        }
        Ok(())
    }
}

impl<R: Read> Iterator for PcapReader<R> {
    type Item = io::Result<CapturedMessage>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pending.is_empty() && !self.done {
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.pending.pop_front().map(Ok)
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn timestamp(ticks: u64, units: u64) -> SystemTime {
    let secs = ticks / units;
    let frac = ticks % units;
    let nanos = (u128::from(frac) * 1_000_000_000 / u128::from(units)) as u32;
    UNIX_EPOCH
        .checked_add(Duration::new(secs, nanos))
        .unwrap_or(UNIX_EPOCH)
}

/// Dissects one frame into messages.
struct Frame<'a> {
    number: u64,
    timestamp: SystemTime,
    out: &'a mut std::collections::VecDeque<CapturedMessage>,
    reassembly: &'a mut HashMap<(SocketAddr, SocketAddr, u16), Vec<u8>>,
}

impl Frame<'_> {
    fn link(&mut self, link: Link, data: &[u8]) {
        match link {
            Link::Ethernet => {
                let mut at = 12;
                loop {
                    let Some(t) = be16(data, at) else { return };
                    if matches!(t, 0x8100 | 0x88A8 | 0x9100) {
                        at += 4;
                        continue;
                    }
                    return self.ethertype(t, data.get(at + 2..).unwrap_or(&[]));
                }
            }
            Link::LinuxSll => {
                if let Some(t) = be16(data, 14) {
                    self.ethertype(t, data.get(16..).unwrap_or(&[]));
                }
            }
            Link::LinuxSll2 => {
                if let Some(t) = be16(data, 0) {
                    self.ethertype(t, data.get(20..).unwrap_or(&[]));
                }
            }
            Link::RawIp => match data.first().map(|b| b >> 4) {
                Some(4) => self.ipv4(data),
                Some(6) => self.ipv6(data),
                _ => {}
            },
            Link::Ipv4 => self.ipv4(data),
            Link::Ipv6 => self.ipv6(data),
            Link::Null => {
                let Some(family) = data.get(0..4) else { return };
                let le = u32::from_le_bytes([family[0], family[1], family[2], family[3]]);
                let be = u32::from_be_bytes([family[0], family[1], family[2], family[3]]);
                let rest = &data[4..];
                if le == 2 || be == 2 {
                    self.ipv4(rest)
                } else if [24, 28, 30].contains(&le) || [24, 28, 30].contains(&be) {
                    self.ipv6(rest)
                }
            }
            Link::Other => {}
        }
    }

    fn ethertype(&mut self, t: u16, data: &[u8]) {
        match t {
            0x0800 => self.ipv4(data),
            0x86DD => self.ipv6(data),
            _ => {}
        }
    }

    fn ipv4(&mut self, data: &[u8]) {
        if data.len() < 20 || data[0] >> 4 != 4 {
            return;
        }
        let ihl = usize::from(data[0] & 0x0F) * 4;
        let total = usize::from(u16::from_be_bytes([data[2], data[3]]));
        let frag = u16::from_be_bytes([data[6], data[7]]);
        if ihl < 20 || total < ihl || total > data.len() || frag & 0x3FFF != 0 {
            return; // malformed, truncated, or a fragment (not reassembled)
        }
        let src = IpAddr::V4(Ipv4Addr::new(data[12], data[13], data[14], data[15]));
        let dst = IpAddr::V4(Ipv4Addr::new(data[16], data[17], data[18], data[19]));
        self.transport(data[9], src, dst, &data[ihl..total]);
    }

    fn ipv6(&mut self, data: &[u8]) {
        if data.len() < 40 || data[0] >> 4 != 6 {
            return;
        }
        let len = usize::from(u16::from_be_bytes([data[4], data[5]]));
        if 40 + len > data.len() {
            return;
        }
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&data[8..24]);
        let src = IpAddr::V6(Ipv6Addr::from(octets));
        octets.copy_from_slice(&data[24..40]);
        let dst = IpAddr::V6(Ipv6Addr::from(octets));
        let mut next = data[6];
        let mut rest = &data[40..40 + len];
        // Extension headers: hop-by-hop, routing, destination options.
        for _ in 0..8 {
            match next {
                0 | 43 | 60 => {
                    if rest.len() < 8 {
                        return;
                    }
                    let hlen = (usize::from(rest[1]) + 1) * 8;
                    if hlen > rest.len() {
                        return;
                    }
                    next = rest[0];
                    rest = &rest[hlen..];
                }
                44 => return, // fragment: not reassembled
                _ => break,
            }
        }
        self.transport(next, src, dst, rest);
    }

    fn transport(&mut self, proto: u8, sip: IpAddr, dip: IpAddr, data: &[u8]) {
        match proto {
            17 => {
                if data.len() < 8 {
                    return;
                }
                let sport = u16::from_be_bytes([data[0], data[1]]);
                let dport = u16::from_be_bytes([data[2], data[3]]);
                let len = usize::from(u16::from_be_bytes([data[4], data[5]]));
                if len < 8 || len > data.len() {
                    return;
                }
                let payload = &data[8..len];
                if sport == SCTP_OVER_UDP_PORT || dport == SCTP_OVER_UDP_PORT {
                    self.sctp(sip, dip, payload, Encapsulation::SctpOverUdp);
                } else if let Some(protocol) = protocol_of_ports(sport, dport) {
                    self.push(
                        protocol,
                        Encapsulation::Udp,
                        SocketAddr::new(sip, sport),
                        SocketAddr::new(dip, dport),
                        payload.to_vec(),
                    );
                }
            }
            132 => self.sctp(sip, dip, data, Encapsulation::Sctp),
            6 => {
                if data.len() < 20 {
                    return;
                }
                let sport = u16::from_be_bytes([data[0], data[1]]);
                let dport = u16::from_be_bytes([data[2], data[3]]);
                let offset = usize::from(data[12] >> 4) * 4;
                let Some(protocol) = protocol_of_ports(sport, dport) else {
                    return;
                };
                if offset < 20 || offset > data.len() {
                    return;
                }
                let (src, dst) = (SocketAddr::new(sip, sport), SocketAddr::new(dip, dport));
                // Split the segment into messages by their Length fields; a
                // message cut short by the segment end is passed on whole.
                let mut rest = &data[offset..];
                while !rest.is_empty() {
                    let take = match be16(rest, 2) {
                        Some(l) if l >= 4 => (usize::from(l) + 3) & !3,
                        _ => rest.len(),
                    }
                    .min(rest.len());
                    self.push(
                        protocol,
                        Encapsulation::Tcp,
                        src,
                        dst,
                        rest[..take].to_vec(),
                    );
                    rest = &rest[take..];
                }
            }
            _ => {}
        }
    }

    fn sctp(&mut self, sip: IpAddr, dip: IpAddr, data: &[u8], encapsulation: Encapsulation) {
        if data.len() < 12 {
            return;
        }
        let src = SocketAddr::new(sip, u16::from_be_bytes([data[0], data[1]]));
        let dst = SocketAddr::new(dip, u16::from_be_bytes([data[2], data[3]]));
        let mut chunks = &data[12..];
        while chunks.len() >= 4 {
            let kind = chunks[0];
            let flags = chunks[1];
            let len = usize::from(u16::from_be_bytes([chunks[2], chunks[3]]));
            if len < 4 || len > chunks.len() {
                return;
            }
            let chunk = &chunks[..len];
            chunks = chunks.get((len + 3) & !3..).unwrap_or(&[]);
            if kind != 0 || len < 16 {
                continue; // not DATA (I-DATA is not handled)
            }
            let stream = u16::from_be_bytes([chunk[8], chunk[9]]);
            let ppid = u32::from_be_bytes([chunk[12], chunk[13], chunk[14], chunk[15]]);
            let payload = &chunk[16..];
            let key = (src, dst, stream);
            let (begin, end) = (flags & 0x02 != 0, flags & 0x01 != 0);
            let Some(protocol) = Protocol::from_ppid(ppid) else {
                if begin {
                    self.reassembly.remove(&key);
                }
                continue;
            };
            match (begin, end) {
                (true, true) => self.push(protocol, encapsulation, src, dst, payload.to_vec()),
                (true, false) => {
                    if self.reassembly.len() >= 64 && !self.reassembly.contains_key(&key) {
                        continue;
                    }
                    let buf = self.reassembly.entry(key).or_default();
                    buf.clear();
                    buf.extend_from_slice(&payload[..payload.len().min(MAX_REASSEMBLY)]);
                }
                (false, _) => {
                    let Some(buf) = self.reassembly.get_mut(&key) else {
                        continue;
                    };
                    if buf.len() + payload.len() > MAX_REASSEMBLY {
                        self.reassembly.remove(&key);
                        continue;
                    }
                    buf.extend_from_slice(payload);
                    if end {
                        let whole = self.reassembly.remove(&key).unwrap_or_default();
                        self.push(protocol, encapsulation, src, dst, whole);
                    }
                }
            }
        }
    }

    fn push(
        &mut self,
        protocol: Protocol,
        encapsulation: Encapsulation,
        src: SocketAddr,
        dst: SocketAddr,
        bytes: Vec<u8>,
    ) {
        self.out.push_back(CapturedMessage {
            frame: self.number,
            timestamp: self.timestamp,
            protocol,
            encapsulation,
            src,
            dst,
            bytes,
        });
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn crc32c_check_value() {
        // RFC 3720 B.4 / the CRC catalogue check value of CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    }

    #[test]
    fn internet_checksum_of_rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish_checksum(ones_sum(0, &data)), !0xddf2);
    }

    fn roundtrip(enc: Encapsulation, a: SocketAddr, b: SocketAddr) -> Vec<CapturedMessage> {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let m1 = [0x0e, 0, 0, 8, 0, 0x0c, 0, 4];
        let m2 = [0x07, 1, 0, 4];
        w.write(Protocol::Asap, a, b, t, &m1, enc).unwrap();
        w.write(Protocol::Enrp, b, a, t, &m2, enc).unwrap();
        w.write(Protocol::Asap, a, b, t, &m2, enc).unwrap();
        let bytes = w.into_inner();
        let found: Vec<_> = PcapReader::new(&bytes[..])
            .unwrap()
            .collect::<io::Result<_>>()
            .unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].bytes, m1);
        assert_eq!(found[0].timestamp, t);
        assert_eq!((found[0].src, found[0].dst), (a, b));
        assert_eq!((found[1].src, found[1].dst), (b, a));
        assert_eq!(found[1].bytes, m2);
        assert_eq!(found[2].frame, 3);
        assert!(found.iter().all(|m| m.encapsulation == enc));
        found
    }

    #[test]
    fn udp_ipv4_and_ipv6_round_trip() {
        let f = roundtrip(
            Encapsulation::Udp,
            addr("192.0.2.1:3863"),
            addr("192.0.2.2:9901"),
        );
        // Port 9901 as destination wins over source 3863.
        assert_eq!(f[0].protocol, Protocol::Enrp);
        roundtrip(
            Encapsulation::Udp,
            addr("[2001:db8::1]:40000"),
            addr("[2001:db8::2]:3863"),
        );
    }

    #[test]
    fn sctp_round_trip_keeps_ppid() {
        let f = roundtrip(
            Encapsulation::SctpOverUdp,
            addr("192.0.2.1:5000"),
            addr("192.0.2.2:6000"),
        );
        assert_eq!(f[0].protocol, Protocol::Asap);
        assert_eq!(f[1].protocol, Protocol::Enrp);
        roundtrip(
            Encapsulation::SctpOverUdp,
            addr("[2001:db8::1]:5000"),
            addr("[2001:db8::2]:6000"),
        );
    }

    #[test]
    fn plain_sctp_round_trip_keeps_ppid_and_ports() {
        for (a, b) in [
            ("192.0.2.1:3863", "192.0.2.2:40000"),
            ("[2001:db8::1]:9901", "[2001:db8::2]:9901"),
        ] {
            let f = roundtrip(Encapsulation::Sctp, addr(a), addr(b));
            assert_eq!(f[0].protocol, Protocol::Asap);
            assert_eq!(f[1].protocol, Protocol::Enrp);
            assert_eq!(f[0].encapsulation, Encapsulation::Sctp);
            assert_eq!((f[0].src, f[0].dst), (addr(a), addr(b)));
        }
    }

    #[test]
    fn tcp_round_trip() {
        roundtrip(
            Encapsulation::Tcp,
            addr("192.0.2.1:3863"),
            addr("192.0.2.2:50000"),
        );
    }

    #[test]
    fn frame_checksums_verify() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let (a, b) = (addr("10.0.0.1:1234"), addr("10.0.0.2:3863"));
        w.write(
            Protocol::Asap,
            a,
            b,
            UNIX_EPOCH,
            &[1, 2, 3],
            Encapsulation::Udp,
        )
        .unwrap();
        let bytes = w.into_inner();
        let frame = &bytes[40..];
        let ip = &frame[14..34];
        assert_eq!(finish_checksum(ones_sum(0, ip)), 0);
        let udp = &frame[34..];
        assert_eq!(udp.len(), 8 + 3);
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&ip[12..20]);
        pseudo.extend_from_slice(&[0, 17, 0, udp.len() as u8]);
        assert_eq!(finish_checksum(ones_sum(ones_sum(0, &pseudo), udp)), 0);
    }

    #[test]
    fn sctp_tsn_increases_per_direction_and_crc_verifies() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let (a, b) = (addr("10.0.0.1:1"), addr("10.0.0.2:2"));
        for _ in 0..3 {
            w.write(
                Protocol::Asap,
                a,
                b,
                UNIX_EPOCH,
                &[0; 4],
                Encapsulation::SctpOverUdp,
            )
            .unwrap();
            w.write(
                Protocol::Asap,
                b,
                a,
                UNIX_EPOCH,
                &[0; 4],
                Encapsulation::SctpOverUdp,
            )
            .unwrap();
        }
        let bytes = w.into_inner();
        let mut at = 24;
        let mut tsns = Vec::new();
        while at < bytes.len() {
            let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            let sctp = bytes[at + 16 + 14 + 20 + 8..at + 16 + len].to_vec();
            let mut zeroed = sctp.clone();
            zeroed[8..12].fill(0);
            assert_eq!(
                u32::from_le_bytes(sctp[8..12].try_into().unwrap()),
                crc32c(&zeroed)
            );
            tsns.push(u32::from_be_bytes(sctp[20..24].try_into().unwrap()));
            at += 16 + len;
        }
        assert_eq!(tsns.len(), 6);
        for d in 0..2 {
            let mine: Vec<_> = tsns.iter().skip(d).step_by(2).collect();
            assert_eq!(*mine[1], mine[0].wrapping_add(1));
            assert_eq!(*mine[2], mine[0].wrapping_add(2));
        }
    }

    #[test]
    fn large_sctp_message_is_fragmented_and_reassembled() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let (a, b) = (addr("10.0.0.1:1"), addr("10.0.0.2:2"));
        let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        w.write(
            Protocol::Enrp,
            a,
            b,
            UNIX_EPOCH,
            &big,
            Encapsulation::SctpOverUdp,
        )
        .unwrap();
        let bytes = w.into_inner();
        let found: Vec<_> = PcapReader::new(&bytes[..])
            .unwrap()
            .collect::<io::Result<_>>()
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].frame, 2);
        assert_eq!(found[0].bytes, big);
        let e = w_err(Encapsulation::Udp, &big);
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    fn w_err(enc: Encapsulation, msg: &[u8]) -> io::Error {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write(
            Protocol::Asap,
            addr("10.0.0.1:1"),
            addr("10.0.0.2:3863"),
            UNIX_EPOCH,
            msg,
            enc,
        )
        .unwrap_err()
    }

    #[test]
    fn mixed_families_are_rejected_unless_mapped() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let e = w
            .write(
                Protocol::Asap,
                addr("10.0.0.1:1"),
                addr("[2001:db8::1]:3863"),
                UNIX_EPOCH,
                &[0; 4],
                Encapsulation::Udp,
            )
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        w.write(
            Protocol::Asap,
            addr("10.0.0.1:1"),
            addr("[::ffff:10.0.0.2]:3863"),
            UNIX_EPOCH,
            &[0; 4],
            Encapsulation::Udp,
        )
        .unwrap();
        let bytes = w.into_inner();
        let m = PcapReader::new(&bytes[..])
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(m.dst, addr("10.0.0.2:3863"));
    }

    /// A tcpdump capture on a Linux "any" device (cooked SLL), big-endian
    /// header, nanosecond timestamps, with a VLAN-free IPv4/UDP frame.
    #[test]
    fn reads_cooked_capture_in_big_endian_nanoseconds() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write(
            Protocol::Asap,
            addr("10.0.0.1:40000"),
            addr("10.0.0.2:3863"),
            UNIX_EPOCH + Duration::new(5, 0),
            &[0x0e, 0, 0, 4],
            Encapsulation::Udp,
        )
        .unwrap();
        let ours = w.into_inner();
        let ip = &ours[24 + 16 + 14..];
        let mut cap = Vec::new();
        cap.extend_from_slice(&[0xA1, 0xB2, 0x3C, 0x4D, 0, 2, 0, 4]);
        cap.extend_from_slice(&[0; 8]);
        cap.extend_from_slice(&65535u32.to_be_bytes());
        cap.extend_from_slice(&113u32.to_be_bytes());
        let len = (16 + ip.len()) as u32;
        cap.extend_from_slice(&7u32.to_be_bytes());
        cap.extend_from_slice(&500_000_000u32.to_be_bytes());
        cap.extend_from_slice(&len.to_be_bytes());
        cap.extend_from_slice(&len.to_be_bytes());
        cap.extend_from_slice(&[0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
        cap.extend_from_slice(&0x0800u16.to_be_bytes());
        cap.extend_from_slice(ip);
        let m = PcapReader::new(&cap[..]).unwrap().next().unwrap().unwrap();
        assert_eq!(m.bytes, [0x0e, 0, 0, 4]);
        assert_eq!(m.timestamp, UNIX_EPOCH + Duration::from_millis(7_500));
        assert_eq!(m.src, addr("10.0.0.1:40000"));
    }

    fn pcapng_block(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let total = (12 + body.len()) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&total.to_le_bytes());
        b.extend_from_slice(&body);
        b.extend_from_slice(&total.to_le_bytes());
        b
    }

    #[test]
    fn reads_pcapng_with_raw_ip_and_tsresol() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write(
            Protocol::Enrp,
            addr("[2001:db8::1]:9901"),
            addr("[2001:db8::2]:9901"),
            UNIX_EPOCH,
            &[5, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0],
            Encapsulation::SctpOverUdp,
        )
        .unwrap();
        let ours = w.into_inner();
        let ip = &ours[24 + 16 + 14..];
        let mut cap = pcapng_block(
            0x0A0D_0D0A,
            &[
                0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            ],
        );
        // Name resolution block, skipped.
        cap.extend(pcapng_block(4, &[0; 8]));
        // IDB: raw IP, if_tsresol = 10^-3.
        let mut idb = vec![101, 0, 0, 0, 0, 0, 0, 0];
        idb.extend_from_slice(&[9, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0]);
        cap.extend(pcapng_block(1, &idb));
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&2_500u32.to_le_bytes());
        epb.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        epb.extend_from_slice(ip);
        cap.extend(pcapng_block(6, &epb));
        let m: Vec<_> = PcapReader::new(&cap[..])
            .unwrap()
            .collect::<io::Result<_>>()
            .unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].protocol, Protocol::Enrp);
        assert_eq!(m[0].timestamp, UNIX_EPOCH + Duration::from_millis(2_500));
        assert_eq!(m[0].bytes.len(), 12);
    }

    #[test]
    fn garbage_never_panics() {
        assert!(PcapReader::new(&b"nonsense"[..]).is_err());
        assert!(PcapReader::new(&b""[..]).is_err());
        // A valid capture, then every truncation and many corruptions of it.
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        for enc in [
            Encapsulation::Udp,
            Encapsulation::SctpOverUdp,
            Encapsulation::Tcp,
        ] {
            w.write(
                Protocol::Asap,
                addr("10.0.0.1:3863"),
                addr("10.0.0.2:3863"),
                UNIX_EPOCH,
                &[1, 0, 0, 8, 0, 9, 0, 4],
                enc,
            )
            .unwrap();
        }
        let good = w.into_inner();
        for cut in 0..good.len() {
            if let Ok(r) = PcapReader::new(&good[..cut]) {
                let _ = r.count();
            }
        }
        let mut seed = 0x1234_5678u32;
        for _ in 0..2_000 {
            let mut bad = good.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let at = 24 + seed as usize % (bad.len() - 24);
                bad[at] = (seed >> 8) as u8;
            }
            if let Ok(r) = PcapReader::new(&bad[..]) {
                let _ = r.count();
            }
        }
        // An oversized record is refused without allocating it.
        let mut huge = good[..24].to_vec();
        huge.extend_from_slice(&[0; 8]);
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        let r: Vec<_> = PcapReader::new(&huge[..]).unwrap().collect();
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].as_ref().unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
