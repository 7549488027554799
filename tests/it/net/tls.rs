//! TLS (feature `tls`) over real sockets on loopback: a pool element and a
//! pool user reach a registrar over TLS, two registrars sync over ENRP
//! over TLS trusting each other's certificates, peers with certificates of
//! another CA (or none, where one is required) are refused, pool elements
//! of a stopped registrar register with its peer, a registrar with TLS
//! answers nothing over UDP, and the TCP transport's bounds hold for TLS
//! connections. Every certificate is made
//! by the test (rcgen) in a directory of its own.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::net::{element, pool, registered, user, wait_for};

use rserpool::registrar::RegistrarConfig;
use rserpool::runtime::blocking::RegistrarNode;
use rserpool::runtime::{loopback, NodeConfig};
use rserpool::transport::tokio::tls::TlsConfig;
use rserpool::transport::tokio::{DownReason, Input, SendError, TcpConfig, TcpEndpoints};
use rserpool::wire::Protocol;
use rserpool::{CauseCode, ServerId};

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A certificate authority of the test, and where its files are.
struct Pki {
    dir: PathBuf,
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    issued: u32,
}

static DIRS: AtomicU64 = AtomicU64::new(0);

impl Pki {
    /// A fresh CA named `name` in a new directory.
    fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "rserpool-tls-{}-{}-{name}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("rserpool test CA {name}"),
        );
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertifiedIssuer::self_signed(params, key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca, issued: 0 }
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A leaf certificate for `ips` (client and server use), its files.
    fn issue(&mut self, ips: &[IpAddr]) -> (PathBuf, PathBuf) {
        self.issued += 1;
        let names: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("node {}", self.issued));
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let cert_path = self.dir.join(format!("node{}.pem", self.issued));
        let key_path = self.dir.join(format!("node{}.key", self.issued));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    /// A node's TLS settings: a certificate for 127.0.0.1 from this CA,
    /// trusting this CA.
    fn node(&mut self) -> TlsConfig {
        let roots = self.ca();
        self.node_with(&roots, &[IpAddr::from([127, 0, 0, 1])])
    }

    /// A certificate for `ips` from this CA, trusting the CA of `roots`.
    fn node_with(&mut self, roots: &std::path::Path, ips: &[IpAddr]) -> TlsConfig {
        let (cert, key) = self.issue(ips);
        TlsConfig::from_pem_files(roots, Some((cert.as_path(), key.as_path()))).unwrap()
    }

    /// Settings without a certificate of its own (a pool user).
    fn anonymous(&self) -> TlsConfig {
        TlsConfig::from_pem_files(self.ca(), None).unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn with_tls(tls: TlsConfig) -> NodeConfig {
    let mut node = NodeConfig::new(localhost());
    node.tls = Some(tls);
    node
}

fn registrar(id: u32, tls: TlsConfig, tweak: impl FnOnce(&mut RegistrarConfig)) -> RegistrarNode {
    let mut config = loopback::registrar(ServerId::new(id).unwrap());
    tweak(&mut config);
    RegistrarNode::start(config, with_tls(tls)).expect("registrar starts")
}

/// ENRP with the loopback timers, `peers` configured and no network
/// allowed: only configured peers and certificates are trusted.
fn enrp(peers: &[SocketAddr]) -> rserpool::registrar::EnrpConfig {
    let mut c = loopback::enrp(peers);
    c.allowed_peers.clear();
    c
}

#[test]
fn a_pool_element_and_a_pool_user_over_tls_through_a_registrar() {
    let mut pki = Pki::new("a");
    let r = registrar(1, pki.node(), |_| {});
    let addr = r.local_addr();
    let pe = element(&[addr], 1, with_tls(pki.node()));
    assert!(
        wait_for(Duration::from_secs(10), || registered(&r, 1)),
        "the PE registers over TLS"
    );
    let u = user(&[addr], with_tls(pki.anonymous()));
    let mut served = 0;
    for i in 0..8u8 {
        if let Ok((_, reply)) = u.request(&pool(), &[i, 1, 2], Duration::from_secs(3)) {
            assert_eq!(reply, vec![i, 1, 2]);
            served += 1;
        }
    }
    let s = r.status().unwrap();
    println!(
        "figure: tls pool: served={served}/8 tcp_connections={} udp_associations={} plain_refused={}",
        s.tcp_connections, s.associations, s.plain_refused
    );
    assert_eq!(served, 8, "every request served");
    assert!(pe.served() >= 8);
    assert_eq!(s.owned, 1);
    // The PE and the pool user over TLS; nothing over UDP.
    assert!(s.tcp_connections >= 2, "{s:?}");
    assert_eq!(s.associations, 0);
    assert_eq!(s.stats.unauthenticated_registrations, 0);
    assert_eq!(s.transport.tcp.tls_handshake_failures, 0);
}

#[test]
fn a_pool_element_with_a_certificate_of_another_ca_or_none_is_not_registered() {
    let mut pki = Pki::new("b");
    let mut other = Pki::new("b-other");
    let r = registrar(1, pki.node(), |_| {});
    let addr = r.local_addr();
    // A certificate the registrar's roots do not vouch for (it trusts the
    // registrar's CA itself): the handshake fails.
    let foreign = {
        let (cert, key) = other.issue(&[IpAddr::from([127, 0, 0, 1])]);
        TlsConfig::from_pem_files(pki.ca(), Some((cert.as_path(), key.as_path()))).unwrap()
    };
    let pe = element(&[addr], 1, with_tls(foreign));
    assert!(
        wait_for(Duration::from_secs(10), || r.status().is_some_and(|s| s
            .transport
            .tcp
            .tls_handshake_failures
            >= 2)),
        "the handshakes fail and are counted"
    );
    // A pool element without a certificate connects (as a pool user
    // would) but its registration is refused.
    let anonymous = element(&[addr], 2, with_tls(pki.anonymous()));
    assert!(
        wait_for(Duration::from_secs(10), || r
            .status()
            .is_some_and(|s| s.stats.unauthenticated_registrations >= 1)),
        "the registration without certificate is refused"
    );
    let s = r.status().unwrap();
    println!(
        "figure: tls refused: handshake_failures={} unauthenticated_registrations={} \
         registrations_failed_at_pe={}",
        s.transport.tcp.tls_handshake_failures,
        s.stats.unauthenticated_registrations,
        anonymous.registration_failures()
    );
    assert_eq!(s.element_count, 0, "nothing registered");
    assert_eq!(s.stats.registrations, 0);
    assert!(s.stats.rejections[usize::from(CauseCode::RejectedSecurityConsiderations.code())] >= 1);
    assert_eq!(pe.registrations(), 0);
    assert_eq!(anonymous.registrations(), 0);
}

#[test]
fn a_pool_element_does_not_register_with_a_registrar_whose_certificate_is_wrong() {
    let mut pki = Pki::new("c");
    let mut other = Pki::new("c-other");
    // A registrar whose certificate comes from another CA, and one whose
    // certificate from the right CA names another address.
    let from_other_ca = registrar(
        1,
        other.node_with(&pki.ca(), &[IpAddr::from([127, 0, 0, 1])]),
        |_| {},
    );
    let wrong_name = registrar(
        2,
        pki.node_with(&pki.ca(), &[IpAddr::from([127, 0, 0, 2])]),
        |_| {},
    );
    let pes: Vec<_> = [from_other_ca.local_addr(), wrong_name.local_addr()]
        .iter()
        .enumerate()
        .map(|(i, a)| element(&[*a], i as u64, with_tls(pki.node())))
        .collect();
    assert!(
        wait_for(Duration::from_secs(10), || [&from_other_ca, &wrong_name]
            .iter()
            .all(|r| r.status().is_some_and(|s| s
                .transport
                .tcp
                .tls_handshake_failures
                >= 2))),
        "the pool elements give up their handshakes, again and again"
    );
    for r in [&from_other_ca, &wrong_name] {
        let s = r.status().unwrap();
        assert_eq!(s.element_count, 0);
        assert_eq!(s.stats.registrations, 0);
    }
    for pe in &pes {
        assert_eq!(pe.registrations(), 0);
    }
}

#[test]
fn two_registrars_sync_over_enrp_over_tls_trusting_the_certificate() {
    let mut pki = Pki::new("d");
    let mut other = Pki::new("d-other");
    let id = |n| ServerId::new(n).unwrap();
    // Registrar 1 names no peer and allows no network: registrar 2 is
    // trusted for its certificate alone.
    let a = registrar(1, pki.node(), |c| c.enrp = enrp(&[]));
    let b = registrar(2, pki.node(), |c| c.enrp = enrp(&[a.enrp_addr().unwrap()]));
    // A registrar with a certificate of another CA names registrar 1 too.
    let outsider = registrar(
        3,
        other.node_with(&pki.ca(), &[IpAddr::from([127, 0, 0, 1])]),
        |c| c.enrp = enrp(&[a.enrp_addr().unwrap()]),
    );
    let pe_a = element(&[a.local_addr()], 1, with_tls(pki.node()));
    let pe_b = element(&[b.local_addr()], 2, with_tls(pki.node()));
    let both = |r: &RegistrarNode| {
        r.status().is_some_and(|s| {
            s.element_count == 2
                && s.elements.iter().any(|(_, p)| *p == pe_a.pe_id())
                && s.elements.iter().any(|(_, p)| *p == pe_b.pe_id())
        })
    };
    assert!(
        wait_for(Duration::from_secs(15), || both(&a) && both(&b)),
        "both registrars hold both PEs"
    );
    let (sa, sb, so) = (
        a.status().unwrap(),
        b.status().unwrap(),
        outsider.status().unwrap(),
    );
    println!(
        "figure: enrp over tls: peers a={:?} b={:?} outsider={:?} a.handshake_failures={}",
        sa.peers, sb.peers, so.peers, sa.transport.tcp.tls_handshake_failures,
    );
    assert_eq!(sa.peers, vec![id(2)]);
    assert_eq!(sb.peers, vec![id(1)]);
    assert!(so.peers.is_empty(), "the outsider joins no one");
    assert_eq!(so.element_count, 0);
    assert!(sa.transport.tcp.tls_handshake_failures >= 1);
    assert_eq!(sa.owned, 1);
    assert_eq!(sb.owned, 1);
    // Nothing over UDP.
    assert_eq!(sa.associations, 0);
    assert_eq!(sb.associations, 0);
}

#[test]
fn pool_elements_of_a_stopped_registrar_register_with_its_peer_over_tls() {
    let mut pki = Pki::new("h");
    let a = registrar(1, pki.node(), |c| c.enrp = enrp(&[]));
    let b = registrar(2, pki.node(), |c| c.enrp = enrp(&[a.enrp_addr().unwrap()]));
    let both = [a.local_addr(), b.local_addr()];
    let pes: Vec<_> = (0..2)
        .map(|i| element(&both, 50 + i, with_tls(pki.node())))
        .collect();
    let owned = |r: &RegistrarNode| r.status().map_or(0, |s| s.owned);
    assert!(
        wait_for(Duration::from_secs(10), || registered(&a, 2)
            && registered(&b, 2)
            && owned(&a) + owned(&b) == 2),
        "both PEs registered, known to both registrars"
    );
    // Stop a registrar that is home to at least one PE.
    let (stopped, other) = if owned(&a) > 0 { (a, b) } else { (b, a) };
    stopped.shutdown();
    // The other's takeover cannot reach the PEs over TLS (they do not
    // listen for it); each PE sees its TLS connection to its home end and
    // registers with the other registrar itself.
    assert!(
        wait_for(Duration::from_secs(15), || other
            .status()
            .is_some_and(|s| s.owned == 2 && s.element_count == 2)),
        "the remaining registrar owns both PEs"
    );
    let u = user(&both, with_tls(pki.anonymous()));
    for i in 0..4u8 {
        let (_, reply) = u
            .request(&pool(), &[i], Duration::from_secs(8))
            .expect("served after the failover");
        assert_eq!(reply, vec![i]);
    }
    assert!(pes.iter().map(|p| p.registrations()).sum::<u64>() >= 3);
}

#[test]
fn a_plain_udp_peer_gets_nothing_from_a_registrar_with_tls() {
    let mut pki = Pki::new("e");
    let r = registrar(1, pki.node(), |_| {});
    let s = std::net::UdpSocket::bind(localhost()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    // A handle resolution over UDP.
    let handle = pool();
    let msg = rserpool::wire::AsapMessage::HandleResolution {
        subscribe: false,
        pool_handle: handle.as_bytes(),
        items: None,
    };
    let mut buf = vec![0u8; msg.buffer_len()];
    let n = msg.emit(&mut buf).unwrap();
    for _ in 0..3 {
        s.send_to(&buf[..n], r.local_addr()).unwrap();
    }
    let mut answer = [0u8; 1024];
    assert!(s.recv_from(&mut answer).is_err(), "no answer over UDP");
    let st = r.status().unwrap();
    assert!(st.plain_refused >= 3, "{st:?}");
    assert_eq!(st.associations, 0);
}

// ---------------------------------------------------------------- bounds

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_tls_client_that_never_finishes_its_handshake_is_closed_at_the_timeout() {
    let mut pki = Pki::new("f");
    let tls = pki
        .node()
        .with_handshake_timeout(Duration::from_millis(300));
    runtime().block_on(async {
        let mut t = TcpEndpoints::new(TcpConfig::default());
        let l = t
            .listen_tls(localhost(), Protocol::Asap, &tls, false)
            .unwrap();
        let addr = t.local_addr(l).unwrap();
        let silent = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let started = std::time::Instant::now();
            let mut buf = [0u8; 1024];
            // Says nothing; reads until the listener closes it.
            let ended = loop {
                match s.read(&mut buf) {
                    Ok(0) => break true,
                    Ok(_) => continue,
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut =>
                    {
                        break false
                    }
                    Err(_) => break true,
                }
            };
            (ended, started.elapsed())
        });
        // The node hears nothing of it, and counts it when it goes.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while t.counters().tls_handshake_timeouts == 0 {
            assert!(tokio::time::Instant::now() < deadline, "within 5 s");
            if let Ok(input) = tokio::time::timeout(Duration::from_millis(50), t.next_input()).await
            {
                panic!("no input for a connection in its handshake: {input:?}");
            }
        }
        let (ended, after) = silent.join().unwrap();
        println!("figure: a silent TLS client closed after {after:?} (timeout 300 ms)");
        assert!(ended, "the silent client's connection is closed");
        assert!(after < Duration::from_secs(3));
        assert_eq!(t.counters().tls_handshake_failures, 1);
        assert_eq!(t.connection_count(), 0);
    });
}

/// A blocking rustls client trusting `ca`, without a certificate.
fn rustls_client(
    ca: &std::path::Path,
    addr: SocketAddr,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    rustls::StreamOwned::new(conn, sock.into())
}

#[test]
fn a_tls_peer_that_does_not_read_loses_its_connection() {
    let mut pki = Pki::new("g");
    let tls = pki.node();
    let ca = pki.ca();
    runtime().block_on(async {
        let mut t = TcpEndpoints::new(TcpConfig {
            socket_send_buffer: Some(64 << 10),
            ..TcpConfig::default()
        });
        let l = t
            .listen_tls(localhost(), Protocol::Asap, &tls, false)
            .unwrap();
        let addr = t.local_addr(l).unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
        let slow = std::thread::spawn(move || {
            let mut s = rustls_client(&ca, addr);
            // One message, so that the handshake completes; then it never
            // reads again.
            let mut f = vec![0u8; 16];
            f[0] = 0x0B;
            f[2..4].copy_from_slice(&16u16.to_be_bytes());
            s.write_all(&f).unwrap();
            s.flush().unwrap();
            ready_tx.send(()).unwrap();
            let _ = end_rx.recv_timeout(Duration::from_secs(30));
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let assoc = loop {
            assert!(tokio::time::Instant::now() < deadline, "up within 10 s");
            match tokio::time::timeout(Duration::from_secs(1), t.next_input()).await {
                Ok(Input::Up {
                    assoc,
                    authenticated,
                    verified,
                    ..
                }) => {
                    assert!(verified);
                    assert!(!authenticated, "the client presented no certificate");
                    break assoc;
                }
                Ok(other) => panic!("unexpected {other:?}"),
                Err(_) => continue,
            }
        };
        ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // Sends until the connection's buffer is full: a bounded loop.
        let msg = vec![7u8; 16 << 10];
        let mut sent = 0usize;
        let closed = loop {
            assert!(tokio::time::Instant::now() < deadline + Duration::from_secs(20));
            match t.send(assoc, &msg) {
                Ok(()) => sent += msg.len(),
                Err(SendError::SendBufferFull) => break true,
                Err(e) => panic!("unexpected {e:?}"),
            }
            assert!(sent < 512 << 20, "closed long before 512 MiB");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let down = tokio::time::timeout(Duration::from_secs(5), t.next_input())
            .await
            .expect("its Down");
        println!(
            "figure: a non-reading TLS peer was sent {sent} bytes before its connection closed"
        );
        assert!(closed);
        match down {
            Input::Down { assoc: a, reason } => {
                assert_eq!((a, reason), (assoc, DownReason::SendBufferFull))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(t.counters().closed_slow_readers, 1);
        assert_eq!(t.connection_count(), 0);
        let _ = end_tx.send(());
        slow.join().unwrap();
    });
}
