//! No amplification towards forged sources over the runtime's UDP on
//! loopback, and honest pool users still answered.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::net::{self, pool, registered, wait_for};

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::runtime::blocking::RegistrarNode;
use rserpool::runtime::{loopback, NodeConfig};
use rserpool::wire::{AsapMessage, PolicyParam, PoolElementParam, TransportParam, UserTransport};
use rserpool::{PeId, Policy, ServerId};

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn emit(m: &AsapMessage<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; m.buffer_len()];
    let n = m.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// `n` PEs of pool "amp", registered from one raw UDP socket.
fn register_raw(registrar: SocketAddr, n: u32) {
    let s = UdpSocket::bind(any()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let addrs = [IpAddr::from([127, 0, 0, 1])];
    let mut buf = vec![0u8; 65_536];
    for id in 1..=n {
        let m = emit(&AsapMessage::Registration {
            pool_handle: b"amp",
            pool_element: PoolElementParam {
                pe_id: PeId::new(id).unwrap(),
                home_server: None,
                registration_life: 600_000,
                user_transport: UserTransport::Transport(TransportParam::new(
                    TransportProtocol::Sctp,
                    20_000 + id as u16,
                    TransportUse::DataOnly,
                    &addrs,
                )),
                policy: PolicyParam::Known(Policy::RoundRobin),
                asap_transport: None,
            },
        });
        s.send_to(&m, registrar).unwrap();
        let (len, _) = s.recv_from(&mut buf).unwrap();
        assert!(matches!(
            AsapMessage::parse(&buf[..len]).unwrap(),
            AsapMessage::RegistrationResponse {
                rejected: false,
                ..
            }
        ));
    }
}

#[test]
fn a_forged_source_flood_over_udp_gets_at_most_three_times_its_bytes_to_the_victims() {
    let mut config = loopback::registrar(ServerId::new(0xA3).unwrap());
    config.keep_alive_interval = None;
    config.max_handle_resolution_items = 128;
    let r = RegistrarNode::start(config, NodeConfig::new(any())).unwrap();
    register_raw(r.local_addr(), 128);
    assert!(registered(&r, 128));

    let request = emit(&AsapMessage::HandleResolution {
        subscribe: false,
        pool_handle: b"amp",
        items: None,
    });
    assert_eq!(request.len(), 12);
    // The victims: sockets that never answer. The attacker's datagrams
    // carry a victim's address as their source; on loopback they are sent
    // from the victim's socket, which is what such a datagram is to the
    // registrar.
    let victims: Vec<UdpSocket> = (0..4).map(|_| UdpSocket::bind(any()).unwrap()).collect();
    let received = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = victims
        .iter()
        .map(|v| {
            let v = v.try_clone().unwrap();
            v.set_read_timeout(Some(Duration::from_millis(700)))
                .unwrap();
            let received = received.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65_536];
                while let Ok((n, _)) = v.recv_from(&mut buf) {
                    received.fetch_add(n as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut sent = 0u64;
    for round in 0..50 {
        for v in &victims {
            v.send_to(&request, r.local_addr()).unwrap();
            sent += request.len() as u64;
        }
        if round % 10 == 9 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    for t in readers {
        t.join().unwrap();
    }
    let received = received.load(Ordering::Relaxed);
    let stats = r.status().unwrap().stats;
    assert!(received > 0, "the victims heard nothing at all");
    assert!(
        received <= 3 * sent,
        "{received} bytes reflected for {sent} bytes sent ({:.1}x)",
        received as f64 / sent as f64
    );
    assert_eq!(stats.resolutions, 0);
    assert_eq!(stats.paths_verified, 0);
    assert!(stats.answers_withheld > 0, "{stats:?}");
    r.shutdown();
}

#[test]
fn an_honest_pool_user_over_udp_echoes_the_challenge_and_gets_its_answers() {
    let r = net::registrar(1, None, NodeConfig::new(any()));
    let pes: Vec<_> = (0..3)
        .map(|i| net::element(&[r.local_addr()], 40 + i, NodeConfig::new(any())))
        .collect();
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 3)));
    let u = net::user(&[r.local_addr()], NodeConfig::new(any()));
    for i in 0..6u8 {
        let (_, reply) = u.request(&pool(), &[i], Duration::from_secs(5)).unwrap();
        assert_eq!(reply, vec![i]);
    }
    let stats = r.status().unwrap().stats;
    // The pool elements' answers are small; the pool user's first
    // resolution (three PEs) was challenged, and the echo verified it.
    assert!(stats.challenges_sent >= 1, "{stats:?}");
    assert!(stats.paths_verified >= 1, "{stats:?}");
    assert!(stats.resolutions >= 1, "{stats:?}");
    drop(pes);
}
