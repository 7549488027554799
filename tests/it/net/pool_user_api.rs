//! The pool user API over UDP on 127.0.0.1 with the real runtime: every
//! `RequestError` produced for real, the back-off after Unknown Pool
//! Handle counted at the registrar, `resolve`, and sessions that exchange
//! messages with PPIDs and fail over.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::net::{self, pool, registered, wait_for};

use rserpool::host::services::{Discard, Echo};
use rserpool::runtime::blocking::{PoolElementNode, PoolUserNode, RegistrarNode};
use rserpool::runtime::{loopback, NodeConfig, RequestError, SessionEvent};
use rserpool::session::FailoverReason;
use rserpool::PoolHandle;

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn registrar(id: u32) -> RegistrarNode {
    net::registrar(id, None, NodeConfig::new(any()))
}

fn user(registrars: &[SocketAddr]) -> PoolUserNode {
    net::user(registrars, NodeConfig::new(any()))
}

fn element_with(
    r: &RegistrarNode,
    seed: u64,
    service: Box<dyn rserpool::host::Service + Send>,
) -> PoolElementNode {
    PoolElementNode::start(
        loopback::element(pool(), &[r.local_addr()], seed),
        NodeConfig::new(any()),
        service,
    )
    .unwrap()
}

fn unknown() -> PoolHandle {
    PoolHandle::new(b"no such pool").unwrap()
}

/// The registrar's Unknown Pool Handle ends a request, a resolve and a
/// connect at once, long before their timeout.
#[test]
fn an_unknown_pool_fails_at_once() {
    let r = registrar(1);
    let u = user(&[r.local_addr()]);
    let started = Instant::now();
    assert_eq!(
        u.request(&unknown(), b"x", Duration::from_secs(30)),
        Err(RequestError::UnknownPool)
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "not at the timeout"
    );
    assert_eq!(r.status().unwrap().stats.resolutions_unknown_pool, 1);
    // During the back-off nobody is asked: the same answer at once.
    assert_eq!(u.resolve(&unknown()), Err(RequestError::UnknownPool));
    assert_eq!(u.connect(&unknown()).err(), Some(RequestError::UnknownPool));
    // After it, the registrar is asked again.
    std::thread::sleep(Duration::from_millis(450));
    assert_eq!(u.resolve(&unknown()), Err(RequestError::UnknownPool));
    assert_eq!(r.status().unwrap().stats.resolutions_unknown_pool, 2);
}

/// A request loop against an unknown pool for 5 s: the back-off (200 ms
/// doubling up to 5 s) lets only a handful of resolutions reach the
/// registrar. Once the pool exists and its back-off has passed, requests
/// are answered again.
#[test]
fn the_unknown_pool_back_off_bounds_the_resolutions() {
    let r = registrar(1);
    let u = user(&[r.local_addr()]);
    let end = Instant::now() + Duration::from_secs(5);
    let mut tries = 0;
    while Instant::now() < end {
        assert_eq!(
            u.request(&pool(), b"x", Duration::from_secs(5)),
            Err(RequestError::UnknownPool)
        );
        tries += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let asked = r.status().unwrap().stats.resolutions_unknown_pool;
    assert!(tries >= 100, "{tries} requests");
    // 0, 0.2, 0.6, 1.4, 3.0 s (the next would be at 6.2 s).
    assert!((3..=6).contains(&asked), "{asked} resolutions in 5 s");
    let pe = element_with(&r, 1, Box::new(Echo));
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));
    let mut answer = None;
    assert!(wait_for(Duration::from_secs(8), || {
        answer = u.request(&pool(), b"now", Duration::from_secs(2)).ok();
        answer.is_some()
    }));
    assert_eq!(answer, Some((pe.pe_id(), b"now".to_vec())));
}

/// A registrar that never answers: NoRegistrar after T1 (1 s with the
/// loopback profile), not at the request's timeout.
#[test]
fn no_registrar_fails_before_the_timeout() {
    let silent = UdpSocket::bind(any()).unwrap();
    let u = user(&[silent.local_addr().unwrap()]);
    let started = Instant::now();
    assert_eq!(
        u.request(&pool(), b"x", Duration::from_secs(30)),
        Err(RequestError::NoRegistrar)
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "not at the timeout"
    );
    assert_eq!(u.resolve(&pool()), Err(RequestError::NoRegistrar));
    assert_eq!(u.connect(&pool()).err(), Some(RequestError::NoRegistrar));
}

/// Over TCP with nobody listening, no registrar can be reached: the
/// resolution waits for a home at most T1, then NoRegistrar.
#[test]
fn no_reachable_registrar_over_tcp_fails_before_the_timeout() {
    let port = std::net::TcpListener::bind(any())
        .unwrap()
        .local_addr()
        .unwrap();
    let mut node = NodeConfig::new(any());
    node.connect_tcp = true;
    let u = PoolUserNode::start(
        loopback::user(&[port], 3),
        node,
        core::time::Duration::from_millis(500),
    )
    .unwrap();
    let started = Instant::now();
    assert_eq!(
        u.request(&pool(), b"x", Duration::from_secs(30)),
        Err(RequestError::NoRegistrar)
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "not at the timeout"
    );
}

/// Of two registrars the first never answers: the request moves on to the
/// second and is answered (NoRegistrar only once every registrar was
/// tried).
#[test]
fn a_silent_registrar_is_not_the_end_when_another_answers() {
    let silent = UdpSocket::bind(any()).unwrap();
    let r = registrar(1);
    let pe = element_with(&r, 2, Box::new(Echo));
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));
    let u = user(&[silent.local_addr().unwrap(), r.local_addr()]);
    let (by, answer) = u.request(&pool(), b"hi", Duration::from_secs(10)).unwrap();
    assert_eq!((by, &answer[..]), (pe.pe_id(), &b"hi"[..]));
}

/// A message larger than the node sends is refused with the limit before
/// anything leaves: the registrar is not even asked.
#[test]
fn too_large_is_refused_before_anything_is_sent() {
    let r = registrar(1);
    let pe = element_with(&r, 3, Box::new(Echo));
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));
    let u = user(&[r.local_addr()]);
    let limit = u.max_message_size();
    assert_eq!(limit, rserpool::runtime::user::MAX_UDP_MESSAGE);
    let big = vec![7u8; limit + 1];
    assert_eq!(
        u.request(&pool(), &big, Duration::from_secs(5)),
        Err(RequestError::TooLarge {
            len: limit + 1,
            limit
        })
    );
    let status = r.status().unwrap().stats;
    assert_eq!(status.resolutions + status.resolutions_unknown_pool, 0);
    // On a session too; the largest message passes.
    let mut s = u.connect(&pool()).unwrap();
    assert_eq!(
        s.send(1, &big),
        Err(RequestError::TooLarge {
            len: limit + 1,
            limit
        })
    );
    let largest = vec![9u8; limit];
    s.send(1, &largest).unwrap();
    assert_eq!(s.recv(Duration::from_secs(5)), Some((1, largest)));
    assert_eq!(pe.served(), 1);
}

/// Every PE of the pool is stopped (a crash): the request fails over from
/// each and ends with AllFailed, not at its timeout.
#[test]
fn all_failed_when_every_pe_is_stopped() {
    let r = registrar(1);
    let pes: Vec<_> = (0..2)
        .map(|i| element_with(&r, 10 + i, Box::new(Echo)))
        .collect();
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 2)));
    let u = user(&[r.local_addr()]);
    u.request(&pool(), b"first", Duration::from_secs(5))
        .unwrap();
    for pe in pes {
        pe.stop();
    }
    let started = Instant::now();
    assert_eq!(
        u.request(&pool(), b"second", Duration::from_secs(30)),
        Err(RequestError::AllFailed)
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "not at the timeout"
    );
    assert!(u.failovers() >= 2, "failed over from each PE");
}

/// A PE that takes requests and never answers: the request ends at its
/// timeout.
#[test]
fn a_silent_pe_ends_in_a_timeout() {
    let r = registrar(1);
    let _pe = element_with(&r, 20, Box::new(Discard::default()));
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));
    let u = user(&[r.local_addr()]);
    let started = Instant::now();
    assert_eq!(
        u.request(&pool(), b"anyone?", Duration::from_millis(1200)),
        Err(RequestError::Timeout)
    );
    assert!(started.elapsed() >= Duration::from_millis(1200));
}

/// `resolve` gives every registered PE with its user transport and
/// policy.
#[test]
fn resolve_returns_the_registered_pes() {
    let r = registrar(1);
    let pes: Vec<_> = (0..3)
        .map(|i| element_with(&r, 30 + i, Box::new(Echo)))
        .collect();
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 3)));
    let u = user(&[r.local_addr()]);
    let mut got = u.resolve(&pool()).unwrap();
    got.sort_by_key(|x| x.pe);
    let mut want: Vec<_> = pes.iter().map(|p| (p.pe_id(), p.local_addr())).collect();
    want.sort();
    assert_eq!(got.len(), 3);
    for (g, (id, addr)) in got.iter().zip(&want) {
        assert_eq!(g.pe, *id);
        assert_eq!(g.addresses, vec![*addr]);
        assert_eq!(g.protocol, rserpool::addr::TransportProtocol::Udp);
        assert!(g.policy.is_some());
    }
    assert_eq!(r.status().unwrap().stats.resolutions, 1);
    // A second resolve within the cache's freshness asks nobody.
    assert_eq!(u.resolve(&pool()).unwrap().len(), 3);
    assert_eq!(r.status().unwrap().stats.resolutions, 1);
}

/// A session carries messages with their PPIDs both ways; when its PE is
/// stopped and an answer is late, the application fails it over: the
/// unanswered message goes to the other PE (after the session's cookie),
/// and the events say so in order.
#[test]
fn a_session_exchanges_messages_and_fails_over_when_its_pe_stops() {
    let r = registrar(1);
    let mut pes: Vec<_> = (0..2)
        .map(|i| net::element(&[r.local_addr()], 40 + i, NodeConfig::new(any())))
        .collect();
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 2)));
    let u = user(&[r.local_addr()]);
    let mut s = u.connect(&pool()).unwrap();
    let first = s.pe().unwrap();
    assert_eq!(
        s.next_event(Duration::from_secs(1)),
        Some(SessionEvent::Connected {
            pe: first,
            failover: false
        })
    );
    for (ppid, body) in [(0x4711, &b"one"[..]), (7, b"two"), (0, b"")] {
        s.send(ppid, body).unwrap();
        assert_eq!(s.recv(Duration::from_secs(5)), Some((ppid, body.to_vec())));
    }
    // The PE the session is on crashes.
    let i = pes.iter().position(|p| p.pe_id() == first).unwrap();
    pes.remove(i).stop();
    let other = pes[0].pe_id();
    s.send(9, b"three").unwrap();
    assert_eq!(
        s.recv(Duration::from_millis(500)),
        None,
        "the dead PE is silent"
    );
    assert!(!s.is_closed());
    s.failover().unwrap();
    let mut events = Vec::new();
    while let Some(e) = s.next_event(Duration::from_secs(5)) {
        let done = matches!(e, SessionEvent::Message { .. });
        events.push(e);
        if done {
            break;
        }
    }
    assert_eq!(
        events,
        vec![
            SessionEvent::FailedOver {
                from: first,
                reason: FailoverReason::Application
            },
            SessionEvent::Connected {
                pe: other,
                failover: true
            },
            SessionEvent::Message {
                ppid: 9,
                bytes: b"three".to_vec()
            },
        ]
    );
    assert_eq!((s.pe(), s.failovers()), (Some(other), 1));
    assert!(pes[0].cookie_echoes() >= 1, "the cookie went first");
    assert_eq!(s.dropped(), 0);
    s.close();
}

/// A dropped session handle closes its session: the node's one
/// association to the pool's only PE is free again for the next session.
#[test]
fn a_dropped_session_frees_its_pe() {
    let r = registrar(1);
    let pe = element_with(&r, 50, Box::new(Echo));
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));
    let u = user(&[r.local_addr()]);
    for round in 0..3u8 {
        let mut s = u.connect(&pool()).unwrap();
        assert_eq!(s.pe(), Some(pe.pe_id()));
        s.send(1, &[round]).unwrap();
        assert_eq!(s.recv(Duration::from_secs(5)), Some((1, vec![round])));
        drop(s);
    }
    assert_eq!(u.failovers(), 0);
}

/// The async API from a tokio program: resolve, connect, send, recv and
/// the request convenience.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_api_from_a_tokio_program() {
    use rserpool::runtime::{PoolElementNode as Pe, PoolUserNode as Pu, RegistrarNode as Reg};
    let r = Reg::start(
        loopback::registrar(rserpool::ServerId::new(1).unwrap()),
        NodeConfig::new(any()),
    )
    .unwrap();
    let pe = Pe::start(
        loopback::element(pool(), &[r.local_addr()], 60),
        NodeConfig::new(any()),
        Box::new(Echo),
    )
    .unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while r.status().await.is_none_or(|s| s.elements.len() != 1) && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let u = Pu::start(
        loopback::user(&[r.local_addr()], 4),
        NodeConfig::new(any()),
        Duration::from_millis(500),
    )
    .unwrap();
    let found = u.resolve(&pool()).await.unwrap();
    assert_eq!(
        found.iter().map(|x| x.pe).collect::<Vec<_>>(),
        vec![pe.pe_id()]
    );
    let mut s = u.connect(&pool()).await.unwrap();
    s.send(3, b"async").await.unwrap();
    assert_eq!(s.recv().await, Some((3, b"async".to_vec())));
    s.close().await;
    let (by, answer) = u
        .request(&pool(), b"req", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((by, &answer[..]), (pe.pe_id(), &b"req"[..]));
    assert_eq!(
        u.request(&unknown(), b"x", Duration::from_secs(5)).await,
        Err(RequestError::UnknownPool)
    );
    u.stop().await;
    pe.stop().await;
    r.stop().await;
}

/// A session whose application does not read: its queue takes
/// `SESSION_MESSAGES` messages, the next are dropped and counted, and what
/// was kept comes in order once the application reads.
#[test]
fn an_unread_session_keeps_its_bound_and_counts_what_it_drops() {
    use rserpool::runtime::user::SESSION_MESSAGES;
    let r = registrar(1);
    let _pe = element_with(&r, 70, Box::new(Echo));
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));
    let u = user(&[r.local_addr()]);
    let mut s = u.connect(&pool()).unwrap();
    let sent = SESSION_MESSAGES + 44;
    for i in 0..sent {
        s.send(5, &(i as u32).to_be_bytes()).unwrap();
    }
    assert!(wait_for(Duration::from_secs(5), || s.dropped() == 44));
    let mut got = Vec::new();
    while let Some((ppid, bytes)) = s.recv(Duration::from_millis(300)) {
        assert_eq!(ppid, 5);
        got.push(u32::from_be_bytes(bytes.try_into().unwrap()));
    }
    let first: Vec<u32> = (0..SESSION_MESSAGES as u32).collect();
    assert_eq!(got, first, "the first ones, in order");
    assert_eq!(s.dropped(), 44);
    // Read again, the session takes messages again.
    s.send(5, b"more").unwrap();
    assert_eq!(s.recv(Duration::from_secs(5)), Some((5, b"more".to_vec())));
}
