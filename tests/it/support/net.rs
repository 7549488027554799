//! Helpers shared by the tests over real sockets (UDP, usrsctp, kernel
//! SCTP): pool nodes with the loopback profiles and an echo service,
//! bounded waiting, and a UDP port for this process's usrsctp stack.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rserpool::runtime::blocking::{PoolElementNode, PoolUserNode, RegistrarNode};
use rserpool::runtime::{loopback, NodeConfig};
use rserpool::{PoolHandle, ServerId};

/// The pool every test uses.
pub fn pool() -> PoolHandle {
    PoolHandle::new(b"echo").unwrap()
}

/// A registrar with the loopback profile and server id `id`; with `peers`
/// (possibly none), ENRP is on.
pub fn registrar(id: u32, peers: Option<&[SocketAddr]>, node: NodeConfig) -> RegistrarNode {
    let mut config = loopback::registrar(ServerId::new(id).unwrap());
    if let Some(peers) = peers {
        config.enrp = loopback::enrp(peers);
    }
    RegistrarNode::start(config, node).expect("registrar starts")
}

/// A pool element of [`pool`] serving an echo, registering with
/// `registrars`.
pub fn element(registrars: &[SocketAddr], seed: u64, node: NodeConfig) -> PoolElementNode {
    element_trusting(registrars, &[], seed, node)
}

/// [`element`] that also lets registrars on the `trusted` hosts take it
/// over.
pub fn element_trusting(
    registrars: &[SocketAddr],
    trusted: &[std::net::IpAddr],
    seed: u64,
    node: NodeConfig,
) -> PoolElementNode {
    let mut config = loopback::element(pool(), registrars, seed);
    config.trusted_registrars.extend(trusted.iter().copied());
    PoolElementNode::start(
        config,
        node,
        // An echo that sends a COOKIE every second message.
        Box::new(rserpool::host::services::DelayedEcho::new(
            rserpool::Duration::ZERO,
            2,
        )),
    )
    .expect("pool element starts")
}

/// A pool user asking `registrars` (500 ms request timeout).
pub fn user(registrars: &[SocketAddr], node: NodeConfig) -> PoolUserNode {
    PoolUserNode::start(
        loopback::user(registrars, 7),
        node,
        core::time::Duration::from_millis(500),
    )
    .expect("pool user starts")
}

/// Waits until `f` holds, at most `limit`; whether it held.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Whether `r` holds exactly `n` PEs.
pub fn registered(r: &RegistrarNode, n: usize) -> bool {
    r.status().is_some_and(|s| s.elements.len() == n)
}

/// A UDP port free on IPv4 and IPv6 (usrsctp binds both), the same for the
/// whole process: the UDP encapsulation port of this process's usrsctp
/// stack, so that test processes running in parallel do not share one.
pub fn encapsulation_port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        for _ in 0..50 {
            let v4 = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            let port = v4.local_addr().unwrap().port();
            let v6 = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None);
            let free = v6.is_ok_and(|s| {
                s.set_only_v6(true).is_ok()
                    && s.bind(&SocketAddr::from(([0u16; 8], port)).into()).is_ok()
            });
            if free {
                return port;
            }
        }
        panic!("no UDP port free on IPv4 and IPv6")
    })
}

/// Nine echo requests through `u`: each is answered with its own bytes,
/// round robin reaches every one of `pes`, and they served nine in all.
pub fn requests_reach_every_element(u: &PoolUserNode, pes: &[PoolElementNode]) {
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..9u8 {
        let (pe, reply) = u
            .request(&pool(), &[i, 1, 2], Duration::from_secs(5))
            .unwrap();
        assert_eq!(reply, vec![i, 1, 2]);
        seen.insert(pe);
    }
    let ids: std::collections::BTreeSet<_> = pes.iter().map(|p| p.pe_id()).collect();
    assert_eq!(seen, ids, "round robin over every PE");
    assert_eq!(pes.iter().map(|p| p.served()).sum::<u64>(), 9);
}

/// Three pool elements (nodes from `node`, seeds from `seed`) register with
/// `r`; a pool user sends requests, one PE is killed, and every further
/// request is answered by a live one; `r` drops the dead PE within `limit`.
/// Returns the user (for its failover count).
pub fn killed_element_fails_over_without_loss(
    r: &RegistrarNode,
    mut node: impl FnMut() -> NodeConfig,
    seed: u64,
    limit: Duration,
) -> PoolUserNode {
    let mut pes: Vec<_> = (0..3)
        .map(|i| element(&[r.local_addr()], seed + i, node()))
        .collect();
    assert!(wait_for(limit, || registered(r, 3)));
    let u = user(&[r.local_addr()], node());
    for i in 0..6u8 {
        u.request(&pool(), &[i], Duration::from_secs(5)).unwrap();
    }
    let dead = pes.remove(0);
    let dead_id = dead.pe_id();
    dead.stop();
    for i in 0..12u8 {
        let (pe, reply) = u.request(&pool(), &[i], Duration::from_secs(5)).unwrap();
        assert_eq!(reply, vec![i]);
        assert_ne!(pe, dead_id, "no request answered by the dead PE");
    }
    assert!(
        wait_for(limit, || registered(r, 2)),
        "the dead PE is dropped"
    );
    u
}

/// Reads a registrar's capture with the project's reader: every message
/// parses, touches the registrar's ASAP or ENRP port (by its protocol) and,
/// with `encapsulation` given, is carried that way; REGISTRATION and
/// HANDLE_RESOLUTION come in and their responses go out, and ENRP PRESENCE
/// goes both ways. Returns the number of messages.
pub fn check_registrar_capture(
    path: &std::path::Path,
    asap_port: u16,
    enrp_port: u16,
    encapsulation: Option<rserpool::capture::Encapsulation>,
) -> usize {
    use rserpool::wire::{AsapMessage, EnrpMessage, Protocol};
    // (protocol, to the registrar?, message type)
    let mut kinds = Vec::new();
    for m in rserpool::capture::PcapReader::open(path).unwrap() {
        let m = m.unwrap();
        if let Some(e) = encapsulation {
            assert_eq!(m.encapsulation, e, "{m:?}");
        }
        let port = match m.protocol {
            Protocol::Asap => {
                AsapMessage::parse(&m.bytes).unwrap();
                asap_port
            }
            Protocol::Enrp => {
                EnrpMessage::parse(&m.bytes).unwrap();
                enrp_port
            }
        };
        assert!(m.src.port() == port || m.dst.port() == port, "{m:?}");
        kinds.push((m.protocol, m.dst.port() == port, m.bytes[0]));
    }
    let asap = Protocol::Asap;
    for k in [
        (asap, true, 0x01),
        (asap, false, 0x03),
        (asap, true, 0x05),
        (asap, false, 0x06),
        (Protocol::Enrp, true, 0x01),
        (Protocol::Enrp, false, 0x01),
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
    kinds.len()
}

/// A datagram of a pool user ↔ pool element channel over UDP: the PPID
/// first, then the bytes.
pub fn tagged(ppid: u32, bytes: &[u8]) -> Vec<u8> {
    let mut d = ppid.to_be_bytes().to_vec();
    d.extend_from_slice(bytes);
    d
}

/// The tagged datagrams `s` receives within `limit`: (PPID, bytes).
pub fn receive_tagged(s: &std::net::UdpSocket, limit: Duration) -> Vec<(u32, Vec<u8>)> {
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let end = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < end {
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            if n >= 4 {
                let ppid = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                got.push((ppid, buf[4..n].to_vec()));
            }
        }
    }
    got
}

/// A registrar with the loopback profile, server id 1, on 127.0.0.1.
pub fn loopback_registrar() -> RegistrarNode {
    registrar(
        1,
        None,
        NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))),
    )
}

/// An SCTP event sink for a peer that does not read: it reports each `Up`
/// on the first receiver returned and holds its reader at the first
/// message until the sender returned is dropped (20 s at most, so that a
/// failing test cannot hang in the endpoint's shutdown).
pub fn held_reader() -> (
    rserpool::transport::sctp::EventSink,
    std::sync::mpsc::Receiver<()>,
    std::sync::mpsc::Sender<()>,
) {
    use rserpool::transport::sctp::SctpEvent;
    let (up_tx, up_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let mut held = false;
    let sink = Box::new(move |e| {
        match e {
            SctpEvent::Up { .. } => {
                let _ = up_tx.send(());
            }
            SctpEvent::Message { .. } if !held => {
                held = true;
                let _ = release_rx.recv_timeout(Duration::from_secs(20));
            }
            _ => {}
        }
        true
    });
    (sink, up_rx, release_tx)
}
