//! [`PcapReader`]: ASAP and ENRP messages out of a pcap or pcapng capture.

use super::*;

/// Link layer of a capture interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Link {
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
pub(super) enum Format {
    Pcap { big_endian: bool, nanos: bool },
    Pcapng,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Interface {
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

pub(super) fn invalid(msg: &'static str) -> io::Error {
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
pub(super) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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

pub(super) fn timestamp(ticks: u64, units: u64) -> SystemTime {
    let secs = ticks / units;
    let frac = ticks % units;
    let nanos = (u128::from(frac) * 1_000_000_000 / u128::from(units)) as u32;
    UNIX_EPOCH
        .checked_add(Duration::new(secs, nanos))
        .unwrap_or(UNIX_EPOCH)
}
