use super::writer::*;
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
