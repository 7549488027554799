//! The runtime over usrsctp (SCTP over UDP encapsulation) on 127.0.0.1:
//! every node of this process shares one usrsctp stack on a UDP port of
//! its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::net_support::{
    self, element, encapsulation_port, pool, registered, registrar, user, wait_for,
};

use rserpool::runtime::blocking::{PoolElementNode, PoolUserNode};
use rserpool::runtime::{loopback, NodeConfig};
use rserpool::transport::sctp::{SctpConfig, SctpKind};
use rserpool::ServerId;

fn node() -> NodeConfig {
    let mut n = NodeConfig::new("127.0.0.1:0".parse().unwrap());
    n.sctp = Some(SctpKind::Usrsctp);
    let port = encapsulation_port();
    n.sctp_config = SctpConfig {
        udp_encapsulation_port: port,
        remote_udp_encapsulation_port: port,
        ..SctpConfig::default()
    };
    n
}

fn captured(dir: &Path, name: &str) -> NodeConfig {
    let mut n = node();
    n.capture = Some(dir.join(format!("{name}.pcap")));
    n.name = name.to_string();
    n
}

#[test]
fn registration_and_resolution_over_sctp() {
    let r = registrar(1, None, node());
    let pes: Vec<_> = (0..3)
        .map(|i| element(&[r.local_addr()], 10 + i, node()))
        .collect();
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 3)));
    let status = r.status().unwrap();
    // Three PEs, each on its own SCTP association; nothing over UDP.
    assert_eq!(status.sctp_associations, 3);
    assert_eq!(status.associations, 0);
    let u = user(&[r.local_addr()], node());
    net_support::requests_reach_every_element(&u, &pes);
    assert_eq!(r.status().unwrap().wrong_ppid, 0);
}

#[test]
fn killed_pool_element_fails_over_without_loss() {
    let r = registrar(1, None, node());
    // The registrar sees the PE's association go down and drops it.
    net_support::killed_element_fails_over_without_loss(&r, node, 20, Duration::from_secs(5));
}

#[test]
fn killed_registrar_is_taken_over_and_pool_elements_re_register() {
    let a = registrar(1, Some(&[]), node());
    let b = registrar(2, Some(&[a.enrp_addr().unwrap()]), node());
    let both = [a.local_addr(), b.local_addr()];
    let _pes: Vec<_> = (0..2).map(|i| element(&both, 90 + i, node())).collect();
    assert!(wait_for(Duration::from_secs(8), || {
        let (sa, sb) = (a.status().unwrap(), b.status().unwrap());
        sa.owned == 2 && sb.elements.len() == 2 && sb.owned == 0
    }));
    assert_eq!(a.status().unwrap().peers, vec![ServerId::new(2).unwrap()]);
    a.shutdown();
    // The peer owns the PEs (ENRP takeover, or their re-registration).
    assert!(wait_for(Duration::from_secs(10), || b
        .status()
        .is_some_and(|s| s.owned == 2 && s.elements.len() == 2)));
    let u = user(&both, node());
    let (_, reply) = u
        .request(&pool(), b"after", Duration::from_secs(8))
        .unwrap();
    assert_eq!(reply, b"after");
    assert_eq!(b.status().unwrap().wrong_ppid, 0);
}

/// A scratch directory of this process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rserpool-usrsctp-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn captures_hold_asap_and_enrp_with_their_ppids_and_ports_for_both_decoders() {
    use rserpool::capture::Encapsulation;
    let dir = scratch("capture");
    let a = registrar(1, Some(&[]), captured(&dir, "registrar1"));
    let b = registrar(
        2,
        Some(&[a.enrp_addr().unwrap()]),
        captured(&dir, "registrar2"),
    );
    let pe = element(&[a.local_addr()], 50, captured(&dir, "element"));
    assert!(wait_for(Duration::from_secs(8), || registered(&a, 1)
        && registered(&b, 1)));
    let u = user(&[a.local_addr()], captured(&dir, "user"));
    u.request(&pool(), b"x", Duration::from_secs(5)).unwrap();
    let (asap_port, enrp_port) = (a.local_addr().port(), a.enrp_addr().unwrap().port());
    let pe_port = pe.local_addr().port();
    drop(u);
    drop(pe);
    drop(b);
    a.shutdown();
    // The registrar's capture, read back by the project's reader.
    let path = dir.join("registrar1.pcap");
    let messages = net_support::check_registrar_capture(
        &path,
        asap_port,
        enrp_port,
        Some(Encapsulation::SctpOverUdp),
    );
    // tshark: SCTP over UDP 9899 on both ends, the SCTP ports of the
    // registrar's endpoints, PPID 11 on the ASAP one, 12 on the ENRP one.
    let rows = tshark(&path);
    assert_eq!(rows.len(), messages);
    for f in &rows {
        assert_eq!((f[0], f[1]), (9899, 9899), "{f:?}");
        let port = match f[4] {
            11 => asap_port,
            12 => enrp_port,
            other => panic!("PPID {other} in {f:?}"),
        };
        assert!(f[2] == u32::from(port) || f[3] == u32::from(port), "{f:?}");
    }
    // The pool element's capture: ASAP (registration, and the COOKIE on
    // its data channel) with PPID 11, from its one endpoint.
    let rows = tshark(&dir.join("element.pcap"));
    assert!(!rows.is_empty());
    for f in &rows {
        assert_eq!(f[4], 11, "{f:?}");
        assert!(
            f[2] == u32::from(pe_port) || f[3] == u32::from(pe_port),
            "{f:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// tshark's reading of a capture: UDP ports, SCTP ports, PPID per DATA
/// chunk.
fn tshark(path: &Path) -> Vec<[u32; 5]> {
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-o", "sctp.checksum:CRC-32C"])
        .args(["-T", "fields", "-E", "separator=,"])
        .args(["-e", "udp.srcport", "-e", "udp.dstport"])
        .args(["-e", "sctp.srcport", "-e", "sctp.dstport"])
        .args(["-e", "sctp.data_payload_proto_id"])
        .args(["-e", "sctp.checksum.status"])
        .output()
        .expect("tshark is installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 6, "{line}");
            // The CRC32c verifies.
            assert_eq!(f[5], "1", "{line}");
            let n = |i: usize| f[i].parse::<u32>().unwrap();
            [n(0), n(1), n(2), n(3), n(4)]
        })
        .collect()
}

/// An SCTP endpoint of the test itself (in the nodes' stack).
fn raw_endpoint() -> (
    rserpool::transport::sctp::usrsctp::UsrSctp,
    std::sync::mpsc::Receiver<rserpool::transport::sctp::SctpEvent>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = rserpool::transport::sctp::usrsctp::UsrSctp::open(
        &node().sctp_config,
        &["127.0.0.1:0".parse().unwrap()],
        Box::new(move |e| tx.send(e).is_ok()),
    )
    .unwrap();
    (t, rx)
}

#[test]
fn wrong_ppids_and_garbage_are_dropped_and_the_registrar_stays_intact() {
    use rserpool::transport::sctp::{SctpEvent, SctpTransport, SendInfo};
    let r = registrar(1, Some(&[]), node());
    let _pes: Vec<_> = (0..2)
        .map(|i| element(&[r.local_addr()], 40 + i, node()))
        .collect();
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 2)));
    let before = r.status().unwrap().elements;
    let (mut t, rx) = raw_endpoint();
    let up = |rx: &std::sync::mpsc::Receiver<SctpEvent>| loop {
        match rx.recv_timeout(Duration::from_secs(5)).expect("an event") {
            SctpEvent::Up { assoc, .. } => return assoc,
            SctpEvent::Message { .. } => continue,
            e => panic!("expected Up, got {e:?}"),
        }
    };
    let asap = t.connect(&[r.local_addr()]).unwrap();
    assert_eq!(up(&rx), asap);
    let enrp = t.connect(&[r.enrp_addr().unwrap()]).unwrap();
    assert_eq!(up(&rx), enrp);
    let with = |ppid| SendInfo {
        ppid,
        stream: 0,
        unordered: false,
    };
    // A valid REGISTRATION header would be taken; these carry the wrong
    // PPID for the endpoint (ENRP, data, DTLS, ASAP on ENRP).
    let registration = [0x01u8, 0x00, 0x00, 0x04];
    for ppid in [12, 0, 47] {
        t.send(asap, with(ppid), &registration).unwrap();
    }
    t.send(enrp, with(11), &registration).unwrap();
    assert!(wait_for(Duration::from_secs(5), || r
        .status()
        .is_some_and(|s| s.wrong_ppid == 4)));
    // Garbage with the right PPIDs: answered or ignored, never harmful.
    let mut garbage = vec![0u8; 1500];
    let mut x: u32 = 0x1234_5678;
    for b in &mut garbage {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    for m in [
        &garbage[..],
        &[0x01, 0x00, 0x01, 0x00, 0x80][..],
        &[0x0b][..],
    ] {
        // Sent for sure: otherwise nothing here would be tested.
        t.send(asap, with(11), m)
            .expect("garbage sent to the ASAP endpoint");
        t.send(enrp, with(12), m)
            .expect("garbage sent to the ENRP endpoint");
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = r.status().expect("the registrar still runs");
    assert_eq!(status.elements, before);
    assert_eq!(status.wrong_ppid, 4);
    t.shutdown();
    let u = user(&[r.local_addr()], node());
    let (_, reply) = u.request(&pool(), b"ok", Duration::from_secs(5)).unwrap();
    assert_eq!(reply, b"ok");
}

#[test]
fn a_multi_homed_pool_element_registers_all_its_addresses() {
    use rserpool::capture::PcapReader;
    use rserpool::wire::{AsapMessage, Protocol, UserTransport};
    let dir = scratch("multihomed");
    // The registrar is multihomed too: an IPv4-only endpoint would not
    // take the PE's IPv6 address as a peer address of the association,
    // and the PE may register only its association's peer addresses.
    let mut rn = captured(&dir, "registrar");
    rn.also_bind = vec!["[::1]:0".parse().unwrap()];
    let r = registrar(1, None, rn);
    let mut n = node();
    n.also_bind = vec!["[::1]:0".parse().unwrap()];
    let pe = element(&[r.local_addr()], 60, n);
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));
    let u = user(&[r.local_addr()], node());
    let (id, reply) = u.request(&pool(), b"mh", Duration::from_secs(5)).unwrap();
    assert_eq!((id, &reply[..]), (pe.pe_id(), &b"mh"[..]));
    drop(u);
    r.shutdown();
    let mut seen = None;
    for m in PcapReader::open(dir.join("registrar.pcap")).unwrap() {
        let m = m.unwrap();
        if m.protocol != Protocol::Asap {
            continue;
        }
        if let Ok(AsapMessage::Registration { pool_element, .. }) = AsapMessage::parse(&m.bytes) {
            let UserTransport::Transport(t) = pool_element.user_transport else {
                panic!("an opaque transport");
            };
            let addrs: Vec<_> = t.addresses.iter().collect();
            // Data plus control, as rsplib's PEs register (COOKIE_ECHO
            // arrives on the user channel).
            assert_eq!(
                t.transport_use,
                rserpool::addr::TransportUse::DataAndControl
            );
            seen = Some((t.protocol, t.port, addrs));
        }
    }
    let (protocol, port, addrs) = seen.expect("a REGISTRATION in the capture");
    assert_eq!(protocol, rserpool::addr::TransportProtocol::Sctp);
    assert_eq!(port, pe.local_addr().port());
    let expected: Vec<std::net::IpAddr> =
        vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    assert_eq!(addrs, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A multicast channel on the loopback interface of this process's own.
fn channel(offset: u16) -> rserpool::runtime::Multicast {
    let pid = std::process::id();
    let port = 20_000 + ((pid as u16) % 20_000) + offset;
    rserpool::runtime::Multicast::v4(
        std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::new(239, 0, 8, (pid % 200) as u8 + 1),
            port,
        ),
        std::net::Ipv4Addr::LOCALHOST,
    )
}

#[test]
fn pool_elements_and_users_find_an_sctp_registrar_by_server_announce() {
    let asap = channel(0);
    let mut rn = node();
    rn.asap_multicast = Some(asap);
    let r = registrar(1, None, rn);
    let mut n = node();
    n.asap_multicast = Some(asap);
    let pe = PoolElementNode::start(
        loopback::element(pool(), &[], 80),
        n.clone(),
        Box::new(rserpool::host::services::Echo),
    )
    .unwrap();
    assert!(wait_for(Duration::from_secs(8), || registered(&r, 1)));
    // It registered over SCTP (the announce names the SCTP endpoint).
    assert_eq!(r.status().unwrap().sctp_associations, 1);
    let u = PoolUserNode::start(
        loopback::user(&[], 9),
        n,
        core::time::Duration::from_millis(500),
    )
    .unwrap();
    let (id, reply) = u.request(&pool(), b"mc", Duration::from_secs(8)).unwrap();
    assert_eq!((id, &reply[..]), (pe.pe_id(), &b"mc"[..]));
}

/// rsplib's pool elements register their SCTP user transport as data plus
/// control (Transport Use 0x0001) and a registrar keeps one value per pool:
/// ours must say the same, or a pool of both kinds refuses whichever comes
/// second with Inconsistent Data/Control Configuration (0x8).
#[test]
fn a_pool_element_and_an_rsplib_registration_share_a_pool() {
    use rserpool::addr::{TransportProtocol, TransportUse};
    use rserpool::transport::sctp::{SctpEvent, SctpTransport, SendInfo};
    use rserpool::wire::{AsapMessage, PoolElementParam, TransportParam, UserTransport};
    let r = registrar(1, None, node());
    let ours = element(&[r.local_addr()], 70, node());
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));
    // A REGISTRATION as rspserver sends it: SCTP, data plus control,
    // round robin, life 95 s.
    let (mut t, rx) = raw_endpoint();
    let assoc = t.connect(&[r.local_addr()]).unwrap();
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let transport = TransportParam::new(
        TransportProtocol::Sctp,
        7099,
        TransportUse::DataAndControl,
        std::slice::from_ref(&ip),
    );
    let pe_id = rserpool::PeId::new(0x5eed_0001).unwrap();
    let handle = pool();
    let registration = AsapMessage::Registration {
        pool_handle: handle.as_bytes(),
        pool_element: PoolElementParam {
            pe_id,
            home_server: None,
            registration_life: 95_000,
            user_transport: UserTransport::Transport(transport),
            policy: rserpool::Policy::RoundRobin.into(),
            asap_transport: None,
        },
    };
    let mut buf = vec![0u8; 1024];
    let n = registration.emit(&mut buf).unwrap();
    let mut answer = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while answer.is_none() && std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(SctpEvent::Up { assoc: a, .. }) if a == assoc => {
                let info = SendInfo {
                    ppid: 11,
                    stream: 0,
                    unordered: false,
                };
                t.send(assoc, info, &buf[..n]).unwrap();
            }
            Ok(SctpEvent::Message { bytes, .. }) => answer = Some(bytes),
            _ => {}
        }
    }
    let answer = answer.expect("a REGISTRATION_RESPONSE");
    match AsapMessage::parse(&answer).unwrap() {
        AsapMessage::RegistrationResponse {
            rejected, error, ..
        } => assert!(!rejected, "refused: {error:?}"),
        other => panic!("{other:?}"),
    }
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 2)));
    let ids: Vec<_> = r.status().unwrap().elements.iter().map(|e| e.1).collect();
    assert!(
        ids.contains(&ours.pe_id()) && ids.contains(&pe_id),
        "{ids:?}"
    );
    t.shutdown();
}
