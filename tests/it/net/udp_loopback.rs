//! The runtime over real UDP sockets on 127.0.0.1 (ephemeral ports).

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::support::net::{self, pool, registered, wait_for};

use rserpool::runtime::blocking::{PoolElementNode, PoolUserNode, RegistrarNode};
use rserpool::runtime::{loopback, NodeConfig};
use rserpool::ServerId;

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn registrar(id: u32) -> RegistrarNode {
    net::registrar(id, None, NodeConfig::new(any()))
}

fn element(registrars: &[SocketAddr], seed: u64) -> PoolElementNode {
    net::element(registrars, seed, NodeConfig::new(any()))
}

fn user(registrars: &[SocketAddr]) -> PoolUserNode {
    net::user(registrars, NodeConfig::new(any()))
}

#[test]
fn registration_and_resolution() {
    let r = registrar(1);
    let pes: Vec<_> = (0..3).map(|i| element(&[r.local_addr()], 10 + i)).collect();
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 3)));
    let u = user(&[r.local_addr()]);
    net::requests_reach_every_element(&u, &pes);
}

#[test]
fn killed_pool_element_fails_over_without_loss() {
    let r = registrar(1);
    let u = net::killed_element_fails_over_without_loss(
        &r,
        || NodeConfig::new(any()),
        20,
        Duration::from_secs(5),
    );
    assert!(u.failovers() >= 1, "the request to the dead PE failed over");
}

#[test]
fn killed_registrar_pool_elements_register_with_the_other() {
    let a = registrar(1);
    let b = registrar(2);
    let both = [a.local_addr(), b.local_addr()];
    let _pes: Vec<_> = (0..2).map(|i| element(&both, 30 + i)).collect();
    assert!(wait_for(Duration::from_secs(5), || registered(&a, 2)));
    assert!(registered(&b, 0));
    a.shutdown();
    assert!(wait_for(Duration::from_secs(10), || registered(&b, 2)));
    let u = user(&both);
    for i in 0..4u8 {
        let (_, reply) = u.request(&pool(), &[i], Duration::from_secs(8)).unwrap();
        assert_eq!(reply, vec![i]);
    }
}

#[test]
fn malformed_datagrams_to_every_port_leave_the_registrar_intact() {
    let mut node = NodeConfig::new(any());
    node.listen_tcp = true;
    let mut config = loopback::registrar(ServerId::new(1).unwrap());
    config.enrp = loopback::enrp(&[]);
    let r = RegistrarNode::start(config, node).unwrap();
    let ports = [r.local_addr(), r.enrp_addr().unwrap()];
    let _pes: Vec<_> = (0..2).map(|i| element(&[r.local_addr()], 40 + i)).collect();
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 2)));
    let before = r.status().unwrap().elements;
    let s = UdpSocket::bind(any()).unwrap();
    let mut garbage = vec![0u8; 1500];
    let mut x: u32 = 0x1234_5678;
    for b in &mut garbage {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    // A REGISTRATION header claiming more than it carries.
    let truncated = [0x01u8, 0x00, 0x01, 0x00, 0x80, 0x08];
    // The largest UDP datagram, a message length that does not match.
    let mut oversized = vec![0x03u8; 65_507];
    oversized[2] = 0xff;
    oversized[3] = 0xff;
    // An ENRP PRESENCE header claiming more than it carries.
    let enrp_truncated = [0x01u8, 0x00, 0x00, 0x40, 0, 0, 0, 1];
    for to in ports {
        for _ in 0..20 {
            for d in [
                &garbage[..],
                &truncated[..],
                &enrp_truncated[..],
                &oversized[..],
                &[0x0b][..],
                &[][..],
            ] {
                let _ = s.send_to(d, to);
            }
        }
        // Many senders: the association table stays bounded, the PEs stay.
        for _ in 0..50 {
            let t = UdpSocket::bind(any()).unwrap();
            let _ = t.send_to(&garbage[..64], to);
        }
    }
    // The same garbage over TCP: a bad length ends the connection, a
    // message cut short by the peer's close is dropped.
    for d in [&garbage[..], &truncated[..], &[0x01, 0x00, 0x00, 0x02][..]] {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(r.local_addr()).unwrap();
        let _ = c.write_all(d);
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = r.status().expect("the registrar still runs");
    assert_eq!(status.tcp_connections, 0);
    assert_eq!(status.elements, before);
    let u = user(&[r.local_addr()]);
    let (_, reply) = u.request(&pool(), b"ok", Duration::from_secs(5)).unwrap();
    assert_eq!(reply, b"ok");
}

#[test]
fn capture_holds_asap_and_enrp_on_the_registrar_ports_for_both_decoders() {
    let dir = std::env::temp_dir().join(format!("rserpool-udp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("registrar.pcap");
    let mut node = NodeConfig::new(any());
    node.capture = Some(path.clone());
    let mut config = loopback::registrar(ServerId::new(1).unwrap());
    config.enrp = loopback::enrp(&[]);
    let r = RegistrarNode::start(config, node).unwrap();
    let (asap_port, enrp_port) = (r.local_addr().port(), r.enrp_addr().unwrap().port());
    let mut config = loopback::registrar(ServerId::new(2).unwrap());
    config.enrp = loopback::enrp(&[r.enrp_addr().unwrap()]);
    let peer = RegistrarNode::start(config, NodeConfig::new(any())).unwrap();
    let pe = element(&[r.local_addr()], 50);
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)
        && registered(&peer, 1)));
    let u = user(&[r.local_addr()]);
    u.request(&pool(), b"x", Duration::from_secs(5)).unwrap();
    drop(u);
    drop(pe);
    drop(peer);
    r.shutdown();
    let messages = net::check_registrar_capture(&path, asap_port, enrp_port, None);
    // tshark, an independent decoder, reads the same: the PPID names the
    // protocol (SCTP over UDP, as the ports are not the well-known ones).
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-T", "fields", "-E", "separator=,"])
        .args(["-e", "sctp.srcport", "-e", "sctp.dstport"])
        .args(["-e", "sctp.data_payload_proto_id"])
        .output()
        .expect("tshark is installed (scripts/test installs it)");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = 0;
    for line in text.lines() {
        let f: Vec<u32> = line.split(',').map(|x| x.parse().unwrap()).collect();
        let port = match f[2] {
            11 => asap_port,
            12 => enrp_port,
            other => panic!("PPID {other} in {line}"),
        };
        assert!(f[0] == u32::from(port) || f[1] == u32::from(port), "{line}");
        lines += 1;
    }
    assert_eq!(lines, messages);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pool_user_over_tcp_resolves_and_survives_its_registrar() {
    let tcp_registrar = |id| {
        let mut node = NodeConfig::new(any());
        node.listen_tcp = true;
        RegistrarNode::start(loopback::registrar(ServerId::new(id).unwrap()), node).unwrap()
    };
    let a = tcp_registrar(1);
    let b = tcp_registrar(2);
    let both = [a.local_addr(), b.local_addr()];
    let _pes: Vec<_> = (0..2).map(|i| element(&both, 60 + i)).collect();
    assert!(wait_for(Duration::from_secs(5), || registered(&a, 2)));
    let mut node = NodeConfig::new(any());
    node.connect_tcp = true;
    let u = PoolUserNode::start(
        loopback::user(&both, 8),
        node,
        core::time::Duration::from_millis(500),
    )
    .unwrap();
    let (_, reply) = u.request(&pool(), b"tcp", Duration::from_secs(5)).unwrap();
    assert_eq!(reply, b"tcp");
    let status = a.status().unwrap();
    assert_eq!(status.tcp_connections, 1);
    assert!(status.stats.resolutions >= 1);
    a.shutdown();
    assert!(wait_for(Duration::from_secs(10), || registered(&b, 2)));
    for i in 0..4u8 {
        let (_, reply) = u.request(&pool(), &[i], Duration::from_secs(8)).unwrap();
        assert_eq!(reply, vec![i]);
    }
    assert_eq!(b.status().unwrap().tcp_connections, 1);
}

#[test]
fn registrars_share_their_handlespace_over_enrp() {
    let enrp_registrar = |id, peers: &[SocketAddr]| {
        let mut config = loopback::registrar(ServerId::new(id).unwrap());
        config.enrp = loopback::enrp(peers);
        RegistrarNode::start(config, NodeConfig::new(any())).unwrap()
    };
    let a = enrp_registrar(1, &[]);
    let b = enrp_registrar(2, &[a.enrp_addr().unwrap()]);
    let pa = element(&[a.local_addr()], 70);
    let pb = element(&[b.local_addr()], 71);
    // Each registrar holds both PEs: its own and its peer's.
    assert!(wait_for(Duration::from_secs(8), || registered(&a, 2)
        && registered(&b, 2)));
    assert_eq!(a.status().unwrap().peers, vec![ServerId::new(2).unwrap()]);
    // A pool user of registrar 1 reaches the PE registered with 2.
    let u = user(&[a.local_addr()]);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..4u8 {
        seen.insert(u.request(&pool(), &[i], Duration::from_secs(5)).unwrap().0);
    }
    assert_eq!(seen, [pa.pe_id(), pb.pe_id()].into_iter().collect());
}

/// A multicast channel on the loopback interface with a group and port of
/// this test process's own, so that parallel runs do not hear each other.
fn channel(offset: u16) -> rserpool::runtime::Multicast {
    let pid = std::process::id();
    let port = 20_000 + ((pid as u16) % 20_000) + offset;
    rserpool::runtime::Multicast::v4(
        std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::new(239, 0, 7, (pid % 200) as u8 + 1),
            port,
        ),
        std::net::Ipv4Addr::LOCALHOST,
    )
}

#[test]
fn pool_elements_and_users_find_registrars_by_server_announce() {
    let asap = channel(0);
    let enrp = channel(1);
    let announcing_registrar = |id| {
        let mut node = NodeConfig::new(any());
        node.asap_multicast = Some(asap);
        node.enrp_multicast = Some(enrp);
        let mut config = loopback::registrar(ServerId::new(id).unwrap());
        config.enrp = loopback::enrp(&[]);
        RegistrarNode::start(config, node).unwrap()
    };
    // Two registrars with no static peers: they find each other by PRESENCE.
    let a = announcing_registrar(1);
    let b = announcing_registrar(2);
    let mut node = NodeConfig::new(any());
    node.asap_multicast = Some(asap);
    // No configured registrar: the PE hunts by SERVER_ANNOUNCE.
    let pe = PoolElementNode::start(
        loopback::element(pool(), &[], 80),
        node.clone(),
        Box::new(rserpool::host::services::Echo),
    )
    .unwrap();
    assert!(wait_for(Duration::from_secs(8), || registered(&a, 1)
        && registered(&b, 1)));
    assert_eq!(a.status().unwrap().peers, vec![ServerId::new(2).unwrap()]);
    let u = PoolUserNode::start(
        loopback::user(&[], 9),
        node,
        core::time::Duration::from_millis(500),
    )
    .unwrap();
    let (id, reply) = u.request(&pool(), b"mc", Duration::from_secs(8)).unwrap();
    assert_eq!((id, &reply[..]), (pe.pe_id(), &b"mc"[..]));
}

#[test]
fn killed_registrar_is_taken_over_by_its_enrp_peer() {
    let enrp_registrar = |id, peers: &[SocketAddr]| {
        let mut config = loopback::registrar(ServerId::new(id).unwrap());
        config.enrp = loopback::enrp(peers);
        RegistrarNode::start(config, NodeConfig::new(any())).unwrap()
    };
    let a = enrp_registrar(1, &[]);
    let b = enrp_registrar(2, &[a.enrp_addr().unwrap()]);
    let both = [a.local_addr(), b.local_addr()];
    let _pes: Vec<_> = (0..2).map(|i| element(&both, 90 + i)).collect();
    assert!(wait_for(Duration::from_secs(8), || {
        let (sa, sb) = (a.status().unwrap(), b.status().unwrap());
        sa.owned == 2 && sb.elements.len() == 2 && sb.owned == 0
    }));
    a.shutdown();
    // The peer takes the PEs over (ENRP takeover, or their re-registration).
    assert!(wait_for(Duration::from_secs(10), || b
        .status()
        .is_some_and(|s| s.owned == 2 && s.elements.len() == 2)));
    let u = user(&both);
    let (_, reply) = u
        .request(&pool(), b"after", Duration::from_secs(8))
        .unwrap();
    assert_eq!(reply, b"after");
}

/// A PE whose registration is refused says so on its event channel and
/// keeps trying with its back-off; once the PE that blocked it stops
/// gracefully (ASAP_DEREGISTRATION, not a crash), the next try succeeds.
#[test]
fn a_refused_pool_element_reports_it_retries_and_gets_in_after_a_graceful_stop() {
    use rserpool::pool_element::{Backoff, Event};
    use rserpool::{CauseCode, Policy};
    let r = registrar(1);
    let first = element(&[r.local_addr()], 80);
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));
    // Another policy in the same pool: Inconsistent Pooling Policy.
    let mut config = loopback::element(pool(), &[r.local_addr()], 81);
    config.policy = Policy::LeastUsed { load: 1 };
    config.registration_retry = Some(Backoff {
        initial: rserpool::Duration::from_millis(200),
        max: rserpool::Duration::from_millis(400),
    });
    let mut second = PoolElementNode::start(
        config,
        NodeConfig::new(any()),
        Box::new(rserpool::host::services::Echo),
    )
    .unwrap();
    let refused = |e: &Event| {
        matches!(
            e,
            Event::RegistrationFailed {
                cause: Some(CauseCode::InconsistentPoolingPolicy),
                retry_at: Some(_),
            }
        )
    };
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while seen.iter().filter(|e| refused(e)).count() < 3 && std::time::Instant::now() < deadline {
        if let Some(rserpool::runtime::ElementEvent::Element(e)) =
            second.next_event(Duration::from_millis(100))
        {
            seen.push(e);
        }
    }
    assert!(
        seen.iter().filter(|e| refused(e)).count() >= 3,
        "refused and tried again: {seen:?}"
    );
    assert!(second.registration_failures() >= 3);
    assert_eq!(second.registrations(), 0);
    assert_eq!(r.status().unwrap().elements, vec![(pool(), first.pe_id())]);
    // The graceful stop: the registrar drops the PE at once (no keep-alive
    // timeout), and the refused PE gets in at its next try.
    first.shutdown(Duration::from_secs(3)).unwrap();
    assert!(wait_for(Duration::from_secs(5), || r
        .status()
        .is_some_and(|s| s.elements == vec![(pool(), second.pe_id())])));
    assert!(wait_for(Duration::from_secs(2), || second.registrations() >= 1));
    assert!(std::iter::from_fn(|| second.try_event()).any(|e| {
        matches!(
            e,
            rserpool::runtime::ElementEvent::Element(Event::Registered { .. })
        )
    }));
    // The second one deregisters too, and keeps running: the pool is
    // empty, and it does not register again.
    second.deregister(Duration::from_secs(3)).unwrap();
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 0)));
    let registrations = second.registrations();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        second.registrations(),
        registrations,
        "no registration after the deregistration"
    );
    assert!(registered(&r, 0));
    second.stop();
}

/// Deregistering a PE whose registrar is gone ends in a typed error within
/// the caller's bound, and the node stops all the same.
#[test]
fn deregistering_without_a_registrar_ends_in_an_error() {
    let r = registrar(1);
    let pe = element(&[r.local_addr()], 82);
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));
    r.shutdown();
    let started = std::time::Instant::now();
    let result = pe.shutdown(Duration::from_millis(1500));
    assert!(
        matches!(
            result,
            Err(rserpool::runtime::DeregisterError::Timeout)
                | Err(rserpool::runtime::DeregisterError::Failed(None))
        ),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// An application that opens two sessions to one pool at once and sends
/// one message on each as soon as it is connected.
#[derive(Default)]
struct TwoSessions {
    sessions: Vec<rserpool::session::SessionId>,
    connected: Vec<(rserpool::session::SessionId, rserpool::PeId)>,
    answers: Vec<(rserpool::session::SessionId, Vec<u8>)>,
    failovers: usize,
}

impl rserpool::host::Application for TwoSessions {
    fn start(&mut self, ctx: &mut rserpool::host::AppCtx<'_>) {
        for _ in 0..2 {
            self.sessions.push(ctx.connect(pool()).unwrap());
        }
    }

    fn on_event(
        &mut self,
        ctx: &mut rserpool::host::AppCtx<'_>,
        event: &rserpool::session::user::Event,
        bytes: &[u8],
    ) {
        use rserpool::session::user::Event;
        match *event {
            Event::Connected { session, pe, .. } => {
                self.connected.push((session, pe));
                let i = self.sessions.iter().position(|s| *s == session).unwrap();
                ctx.send(session, 0x4711, &[b'a' + i as u8; 3]).unwrap();
            }
            Event::Message { session, .. } => self.answers.push((session, bytes.to_vec())),
            Event::Failover { .. } => self.failovers += 1,
            _ => {}
        }
    }
}

#[test]
fn two_sessions_of_one_node_never_share_a_pe_association() {
    // One socket has one association per PE: with one PE in the pool, the
    // second session is refused that association (it fails over, finds no
    // other PE) and the first session's messages stay its own.
    let r = registrar(1);
    let _pe = element(&[r.local_addr()], 21);
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));
    let su = rserpool::session::SessionUserConfig::new(loopback::user(&[r.local_addr()], 5));
    let u = rserpool::runtime::blocking::AppNode::start(
        su,
        NodeConfig::new(any()),
        TwoSessions::default(),
    )
    .unwrap();
    let first = |u: &rserpool::runtime::blocking::AppNode<TwoSessions>| {
        u.with_app(|a, _| a.answers.clone()).unwrap_or_default()
    };
    assert!(wait_for(Duration::from_secs(5), || !first(&u).is_empty()));
    std::thread::sleep(Duration::from_millis(500));
    let (sessions, connected, answers, failovers) = u
        .with_app(|a, _| {
            (
                a.sessions.clone(),
                a.connected.clone(),
                a.answers.clone(),
                a.failovers,
            )
        })
        .unwrap();
    // Exactly one session reached the PE, and got its own bytes back once.
    assert_eq!(connected.len(), 1, "{connected:?}");
    let (on_pe, _) = connected[0];
    let i = sessions.iter().position(|s| *s == on_pe).unwrap();
    assert_eq!(answers, vec![(on_pe, vec![b'a' + i as u8; 3])]);
    assert!(failovers >= 1, "the second session was refused the PE");
    u.shutdown();
}
