//! The transports' bounds seen at the level of a whole registrar node
//! (the runtime's task over the tokio transports, on 127.0.0.1): a TCP
//! pool user that does not read delays nobody and loses its connection,
//! the connection and association caps answer the next peer as
//! documented, a flood of new UDP source ports removes no PE, and ASAP
//! sent to the ENRP port is not taken as ASAP. (What thousands of idle TCP
//! connections cost a registrar is measured in a process of its own:
//! `tests/node_idle.rs`.)
//!
//! Each test prints its figures (`-- --nocapture`) before asserting.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::net::{element, pool, registered, user, wait_for};

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::registrar::{RegistrarConfig, MAX_RESOLUTION_ITEMS};
use rserpool::runtime::blocking::RegistrarNode;
use rserpool::runtime::{NodeConfig, TcpConfig, UdpConfig};
use rserpool::wire::{AsapMessage, PolicyParam, PoolElementParam, TransportParam, UserTransport};
use rserpool::{PeId, Policy, ServerId};

fn any() -> NodeConfig {
    NodeConfig::new("127.0.0.1:0".parse().unwrap())
}

fn emit(m: &AsapMessage<'_>) -> Vec<u8> {
    let mut buf = vec![0; m.buffer_len()];
    let n = m.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// An ASAP_REGISTRATION of PE `id` into `pool_handle`, reached by UDP at
/// `at` (the registering socket's own address), life 1 hour.
fn registration(pool_handle: &[u8], id: u32, at: SocketAddr) -> Vec<u8> {
    let ips = [at.ip()];
    emit(&AsapMessage::Registration {
        pool_handle,
        pool_element: PoolElementParam {
            pe_id: PeId::new(id).unwrap(),
            home_server: None,
            registration_life: 3_600_000,
            user_transport: UserTransport::Transport(TransportParam::new(
                TransportProtocol::Udp,
                at.port(),
                TransportUse::DataOnly,
                &ips,
            )),
            policy: PolicyParam::Known(Policy::RoundRobin),
            asap_transport: None,
        },
    })
}

/// A HANDLE_RESOLUTION for the test pool, as many PEs as the registrar
/// gives.
fn resolution() -> Vec<u8> {
    emit(&AsapMessage::HandleResolution {
        subscribe: false,
        pool_handle: pool().as_bytes(),
        items: None,
    })
}

/// A registrar that never sends keep-alives (the PEs registered by hand
/// stay) and answers a resolution with up to [`MAX_RESOLUTION_ITEMS`] PEs.
fn quiet_registrar(node: NodeConfig) -> RegistrarNode {
    let mut config = RegistrarConfig::rsplib(ServerId::new(0x0b0d_0001).unwrap());
    config.keep_alive_interval = None;
    config.max_handle_resolution_items = MAX_RESOLUTION_ITEMS as u32;
    config.max_registrations_per_association = None;
    config.max_registrations_per_host = None;
    config.announce = false;
    RegistrarNode::start(config, node).expect("registrar starts")
}

/// Registers `n` PEs of the test pool with `r` over one UDP socket (a
/// window at a time) and waits until the registrar holds them.
fn register_by_hand(r: &RegistrarNode, n: u32) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let at = s.local_addr().unwrap();
    let mut buf = vec![0u8; 65_536];
    for chunk in (1..=n).collect::<Vec<_>>().chunks(32) {
        for &id in chunk {
            s.send_to(&registration(pool().as_bytes(), id, at), r.local_addr())
                .unwrap();
        }
        let mut answered = 0;
        let end = Instant::now() + Duration::from_secs(5);
        while answered < chunk.len() && Instant::now() < end {
            if let Ok((len, _)) = s.recv_from(&mut buf) {
                if let Ok(AsapMessage::RegistrationResponse { rejected, .. }) =
                    AsapMessage::parse(&buf[..len])
                {
                    assert!(!rejected, "registration accepted");
                    answered += 1;
                }
            }
        }
        assert_eq!(answered, chunk.len(), "every registration answered");
    }
    assert!(wait_for(Duration::from_secs(5), || r
        .status()
        .is_some_and(|s| s.element_count == n as usize)));
    s
}

/// Reads one message from a TCP stream (the common header's Message
/// Length, padded to a multiple of 4).
fn read_message(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h)?;
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let mut m = vec![0u8; len.div_ceil(4) * 4];
    m[..4].copy_from_slice(&h);
    s.read_exact(&mut m[4..])?;
    Ok(m)
}

/// One resolution over `s`: the PEs its answer names.
fn resolve_tcp(s: &mut TcpStream) -> usize {
    s.write_all(&resolution()).unwrap();
    let m = read_message(s).expect("an answer");
    match AsapMessage::parse(&m) {
        Ok(AsapMessage::HandleResolutionResponse {
            elements, error, ..
        }) => {
            assert!(error.is_none(), "{error:?}");
            elements.iter().count()
        }
        other => panic!("not a resolution response: {other:?}"),
    }
}

/// A pool user that floods HANDLE_RESOLUTIONs over TCP and never reads,
/// connecting again whenever its connection is closed, until `stop`.
/// Returns how many connections it saw closed.
fn flood_without_reading(to: SocketAddr, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) -> u64 {
    let request = resolution();
    let burst: Vec<u8> = request
        .iter()
        .copied()
        .cycle()
        .take(request.len() * 16)
        .collect();
    let mut closed = 0;
    let end = Instant::now() + Duration::from_secs(60);
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        // A small window: the registrar's answers soon stop flowing.
        s.set_recv_buffer_size(4096).unwrap();
        if s.connect(&to.into()).is_err() {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let mut s: TcpStream = s.into();
        s.set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        loop {
            if stop.load(Ordering::Relaxed) || Instant::now() >= end {
                return closed;
            }
            match s.write(&burst) {
                Ok(n) => {
                    sent.fetch_add((n / request.len()) as u64, Ordering::Relaxed);
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => {
                    closed += 1;
                    break;
                }
            }
        }
    }
    closed
}

#[test]
fn pool_users_that_do_not_read_delay_no_honest_resolution_and_lose_their_connections() {
    const PES: u32 = MAX_RESOLUTION_ITEMS as u32;
    const TRIES: usize = 100;
    const FLOODERS: usize = 4;
    let r = quiet_registrar(NodeConfig {
        listen_tcp: true,
        ..any()
    });
    let _pe_socket = register_by_hand(&r, PES);
    let to = r.local_addr();
    // The honest pool user's connection, and a first answer: every PE.
    let mut honest = TcpStream::connect(to).unwrap();
    honest.set_nodelay(true).unwrap();
    honest
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(resolve_tcp(&mut honest), PES as usize);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|_| {
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || flood_without_reading(to, stop, sent))
        })
        .collect();
    // The flood is under way: the first slow readers have been closed.
    let flooding = wait_for(Duration::from_secs(20), || {
        r.status()
            .is_some_and(|s| s.transport.tcp.closed_slow_readers >= 1)
    });
    let mut latencies = Vec::with_capacity(TRIES);
    for _ in 0..TRIES {
        let start = Instant::now();
        let n = resolve_tcp(&mut honest);
        latencies.push(start.elapsed());
        assert_eq!(n, PES as usize);
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let closed_seen: u64 = flooders.into_iter().map(|f| f.join().unwrap()).sum();
    let status = r.status().unwrap();
    let mut sorted = latencies.clone();
    sorted.sort();
    let max = *sorted.last().unwrap();
    let p99 = sorted[TRIES * 99 / 100];
    let mean = latencies.iter().sum::<Duration>() / TRIES as u32;
    eprintln!(
        "figure: {FLOODERS} TCP pool users flooding without reading ({} resolutions handed to their kernels, {} of their connections closed by the registrar for not reading, {closed_seen} seen closed by them); honest resolutions of {PES} PEs over TCP: mean {mean:?}, p99 {p99:?}, max {max:?}",
        sent.load(Ordering::Relaxed),
        status.transport.tcp.closed_slow_readers,
    );
    assert!(flooding, "slow readers closed while they flood");
    assert!(status.transport.tcp.closed_slow_readers >= 1);
    assert!(
        max < Duration::from_millis(50),
        "every honest resolution within 50 ms (max {max:?})"
    );
    // The honest connection stays, and so do the PEs.
    assert_eq!(resolve_tcp(&mut honest), PES as usize);
    assert_eq!(status.element_count, PES as usize);
}

/// Whether the peer's stream ends (end-of-stream or reset) within 5 s.
fn ends(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn the_connection_cap_closes_the_next_connection_and_serves_the_others() {
    const CAP: usize = 8;
    let r = quiet_registrar(NodeConfig {
        listen_tcp: true,
        tcp: TcpConfig {
            max_connections: CAP,
            ..TcpConfig::default()
        },
        ..any()
    });
    let _pe_socket = register_by_hand(&r, 3);
    let to = r.local_addr();
    let mut conns: Vec<TcpStream> = (0..CAP)
        .map(|_| {
            let mut s = TcpStream::connect(to).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            assert_eq!(resolve_tcp(&mut s), 3);
            s
        })
        .collect();
    assert!(wait_for(Duration::from_secs(5), || r
        .status()
        .is_some_and(|s| s.tcp_connections == CAP)));
    // The next one: the kernel's handshake completes, the registrar
    // closes it at once, unanswered.
    let mut next = TcpStream::connect(to).unwrap();
    let _ = next.write_all(&resolution());
    let t0 = Instant::now();
    let closed = ends(&mut next);
    let took = t0.elapsed();
    let status = r.status().unwrap();
    eprintln!(
        "figure: connection {} of a cap of {CAP}: closed after {took:?}; refused_connections {}",
        CAP + 1,
        status.transport.tcp.refused_connections
    );
    assert!(closed, "the connection beyond the cap is closed");
    assert!(took < Duration::from_secs(1), "at once ({took:?})");
    assert_eq!(status.transport.tcp.refused_connections, 1);
    assert_eq!(status.tcp_connections, CAP);
    // The first ones are still served.
    for s in &mut conns {
        assert_eq!(resolve_tcp(s), 3);
    }
    // One closed by its peer makes room for one more.
    drop(conns.pop());
    assert!(wait_for(Duration::from_secs(5), || r
        .status()
        .is_some_and(|s| s.tcp_connections == CAP - 1)));
    let mut again = TcpStream::connect(to).unwrap();
    again
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(resolve_tcp(&mut again), 3);
    assert_eq!(r.status().unwrap().transport.tcp.refused_connections, 1);
}

/// Every datagram `s` receives within `limit`.
fn received(s: &UdpSocket, limit: Duration) -> Vec<Vec<u8>> {
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let end = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < end {
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            got.push(buf[..n].to_vec());
        }
    }
    got
}

#[test]
fn the_association_cap_ignores_a_new_source_and_keeps_the_registered_pes() {
    const CAP: usize = 3;
    let r = crate::support::net::registrar(
        0x0b0d_0002,
        None,
        NodeConfig {
            udp: UdpConfig {
                max_associations: CAP,
                ..UdpConfig::default()
            },
            ..any()
        },
    );
    let pes: Vec<_> = (0..CAP as u64)
        .map(|i| element(&[r.local_addr()], 40 + i, any()))
        .collect();
    assert!(wait_for(Duration::from_secs(10), || registered(&r, CAP)));
    let before = r.status().unwrap();
    assert_eq!(before.associations, CAP, "the table is full");
    // A new source: its registration and its resolution go unanswered.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let at = s.local_addr().unwrap();
    s.send_to(&registration(pool().as_bytes(), 77, at), r.local_addr())
        .unwrap();
    s.send_to(&resolution(), r.local_addr()).unwrap();
    let answers = received(&s, Duration::from_secs(1));
    // Several keep-alive rounds (1 s each) of the established PEs.
    std::thread::sleep(Duration::from_secs(3));
    let after = r.status().unwrap();
    eprintln!(
        "figure: association cap {CAP}: a new source got {} datagrams back; refused_peers {}; PEs held {} -> {}; keep-alive acks {} -> {}",
        answers.len(),
        after.transport.udp.refused_peers,
        before.element_count,
        after.element_count,
        before.stats.keep_alive_acks,
        after.stats.keep_alive_acks
    );
    assert!(answers.is_empty(), "no answer to a source beyond the cap");
    assert_eq!(after.transport.udp.refused_peers, 2);
    assert_eq!(after.associations, CAP);
    let ids: std::collections::BTreeSet<PeId> = pes.iter().map(|p| p.pe_id()).collect();
    let held: std::collections::BTreeSet<PeId> = after.elements.iter().map(|e| e.1).collect();
    assert_eq!(held, ids, "every established PE keeps its registration");
    assert!(
        after.stats.keep_alive_acks > before.stats.keep_alive_acks,
        "the established PEs are still kept alive"
    );
    assert_eq!(after.stats.removed_keep_alive, 0);
}

#[test]
fn five_thousand_new_source_ports_remove_no_pe() {
    const FLOOD: usize = 5000;
    let r = crate::support::net::registrar(0x0b0d_0003, None, any());
    let pes: Vec<_> = (0..3)
        .map(|i| element(&[r.local_addr()], 50 + i, any()))
        .collect();
    assert!(wait_for(Duration::from_secs(10), || registered(&r, 3)));
    let u = user(&[r.local_addr()], any());
    // The user's own association is established before the flood.
    u.request(&pool(), b"before", Duration::from_secs(5))
        .unwrap();
    let before = r.status().unwrap();
    let max = UdpConfig::default().max_associations;
    // Each datagram from a socket of its own, kept open so that every
    // source port is distinct; paced so that the registrar's receive
    // buffer takes them all.
    let request = resolution();
    let mut sockets = Vec::with_capacity(FLOOD);
    let mut ports = std::collections::BTreeSet::new();
    for i in 0..FLOOD {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        ports.insert(s.local_addr().unwrap().port());
        s.send_to(&request, r.local_addr()).unwrap();
        sockets.push(s);
        if i % 250 == 249 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(ports.len(), FLOOD, "distinct source ports");
    // Several keep-alive rounds (1 s each) after the flood.
    std::thread::sleep(Duration::from_secs(3));
    let after = r.status().unwrap();
    eprintln!(
        "figure: {FLOOD} datagrams from distinct source ports: associations {} -> {} (cap {max}), refused_peers {}, PEs held {} -> {}, removed for keep-alive {}",
        before.associations,
        after.associations,
        after.transport.udp.refused_peers,
        before.element_count,
        after.element_count,
        after.stats.removed_keep_alive
    );
    assert!(after.associations <= max);
    assert!(
        after.transport.udp.refused_peers > 0,
        "the flood went beyond the association table"
    );
    let ids: std::collections::BTreeSet<PeId> = pes.iter().map(|p| p.pe_id()).collect();
    let held: std::collections::BTreeSet<PeId> = after.elements.iter().map(|e| e.1).collect();
    assert_eq!(held, ids, "no PE removed");
    assert_eq!(after.stats.removed_keep_alive, 0);
    assert!(after.stats.keep_alive_acks > before.stats.keep_alive_acks);
    // Requests are still served, by every PE.
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..9u8 {
        let (pe, reply) = u.request(&pool(), &[i, 9], Duration::from_secs(5)).unwrap();
        assert_eq!(reply, vec![i, 9]);
        seen.insert(pe);
    }
    assert_eq!(seen, ids, "every PE still answers");
    drop(sockets);
}

#[test]
fn asap_sent_to_the_enrp_port_registers_nothing_and_is_not_answered() {
    let r = crate::support::net::registrar(0x0b0d_0004, Some(&[]), any());
    let enrp = r.enrp_addr().expect("ENRP is on");
    assert_ne!(enrp, r.local_addr());
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let at = s.local_addr().unwrap();
    let reg = registration(pool().as_bytes(), 5, at);
    s.send_to(&reg, enrp).unwrap();
    s.send_to(&resolution(), enrp).unwrap();
    let back = received(&s, Duration::from_secs(1));
    let status = r.status().unwrap();
    let asap_answers = back
        .iter()
        .filter(|d| {
            matches!(
                AsapMessage::parse(d),
                Ok(AsapMessage::RegistrationResponse { .. }
                    | AsapMessage::HandleResolutionResponse { .. }
                    | AsapMessage::Cookie { .. }
                    | AsapMessage::Error { .. })
            )
        })
        .count();
    eprintln!(
        "figure: ASAP to the ENRP port: {} datagrams back ({asap_answers} ASAP answers), {} PEs held, registrations {}",
        back.len(),
        status.element_count,
        status.stats.registrations
    );
    assert_eq!(asap_answers, 0, "no ASAP answer from the ENRP port");
    assert_eq!(status.element_count, 0, "nothing registered");
    assert_eq!(status.stats.registrations, 0);
    // The same datagram to the ASAP port registers the PE.
    s.send_to(&reg, r.local_addr()).unwrap();
    let back = received(&s, Duration::from_secs(1));
    assert!(back.iter().any(|d| matches!(
        AsapMessage::parse(d),
        Ok(AsapMessage::RegistrationResponse {
            rejected: false,
            ..
        })
    )));
    assert!(wait_for(Duration::from_secs(2), || r
        .status()
        .is_some_and(|s| s.element_count == 1)));
}
