//! [`PcapWriter`]: ASAP and ENRP messages into a classic pcap capture.

use super::*;

/// Per-direction SCTP state of the writer.
#[derive(Clone, Copy, Debug)]
pub(super) struct SctpDirection {
    tsn: u32,
    ssn: u16,
}

/// Writes ASAP and ENRP messages into a classic pcap capture.
///
/// ```no_run
/// use rserpool::capture::{Encapsulation, PcapWriter};
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

pub(super) fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "message too large for one IP packet",
    )
}

/// Brings both addresses into one family (IPv4-mapped IPv6 counts as IPv4).
pub(super) fn same_family(a: IpAddr, b: IpAddr) -> io::Result<(IpAddr, IpAddr)> {
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
pub(super) fn mac(ip: IpAddr) -> [u8; 6] {
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
pub(super) fn initial_number(src: SocketAddr, dst: SocketAddr) -> u32 {
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
