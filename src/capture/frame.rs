//! Dissection of one captured frame into ASAP and ENRP messages.

use super::*;

/// Dissects one frame into messages.
pub(super) struct Frame<'a> {
    pub(super) number: u64,
    pub(super) timestamp: SystemTime,
    pub(super) out: &'a mut std::collections::VecDeque<CapturedMessage>,
    pub(super) reassembly: &'a mut HashMap<(SocketAddr, SocketAddr, u16), Vec<u8>>,
}

impl Frame<'_> {
    pub(super) fn link(&mut self, link: Link, data: &[u8]) {
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

pub(super) fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}
