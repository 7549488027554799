//! The pool element's host API over loopback: an async handler that
//! answers several times, the events stream (sessions, cookie echoes, a
//! refused registration with its cause), load changes at run time, and
//! the "ASAP only" mode for a program that keeps its own server.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::net::{
    loopback_registrar, pool, receive_tagged, registered, tagged, user, wait_for,
};

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::pool_element::{Event, OwnedTransport};
use rserpool::runtime::blocking::{PoolElementNode, RegistrarNode};
use rserpool::runtime::{loopback, ElementEvent, Message, NodeConfig, Session};
use rserpool::session::CloseReason;
use rserpool::wire::{AsapMessage, ASAP_PPID};
use rserpool::{CauseCode, PeId, Policy};

fn any() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Waits for the first event `f` accepts, at most `limit`.
fn event_where(
    pe: &mut PoolElementNode,
    limit: Duration,
    mut f: impl FnMut(&ElementEvent) -> bool,
) -> Option<ElementEvent> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(e) = pe.next_event(Duration::from_millis(50)) {
            if f(&e) {
                return Some(e);
            }
        }
    }
    None
}

/// An async handler gets one session's messages in order and may answer
/// each of them more than once; a second session is served beside it;
/// the handler sees the cookie a failed-over user echoes, and closing the
/// session is reported as an event.
#[test]
fn an_async_handler_answers_in_order_any_number_of_times_and_sees_cookie_echoes() {
    let r = loopback_registrar();
    let pe = rserpool::runtime::PoolElementNode::serve(
        loopback::element(pool(), &[r.local_addr()], 90),
        NodeConfig::new(any()),
        |session: Session, message: Message| async move {
            match &message.bytes[..] {
                b"cookie?" => {
                    let cookie = session.cookie_echo().unwrap_or_default();
                    let _ = session.send(message.ppid, &cookie).await;
                }
                b"bye" => {
                    let _ = session.close().await;
                }
                bytes => {
                    // Two answers to every message: as it is, then upper case.
                    let _ = session.send(message.ppid, bytes).await;
                    let _ = session
                        .send(message.ppid + 1, &bytes.to_ascii_uppercase())
                        .await;
                }
            }
        },
    )
    .unwrap();
    let mut pe = PoolElementNode::from(pe);
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));

    let a = UdpSocket::bind(any()).unwrap();
    let b = UdpSocket::bind(any()).unwrap();
    for word in [&b"one"[..], b"two", b"three"] {
        a.send_to(&tagged(7, word), pe.local_addr()).unwrap();
    }
    b.send_to(&tagged(9, b"other"), pe.local_addr()).unwrap();
    let got_a = receive_tagged(&a, Duration::from_millis(500));
    assert_eq!(
        got_a,
        vec![
            (7, b"one".to_vec()),
            (8, b"ONE".to_vec()),
            (7, b"two".to_vec()),
            (8, b"TWO".to_vec()),
            (7, b"three".to_vec()),
            (8, b"THREE".to_vec()),
        ]
    );
    let got_b = receive_tagged(&b, Duration::from_millis(200));
    assert_eq!(got_b, vec![(9, b"other".to_vec()), (10, b"OTHER".to_vec())]);
    let opened = event_where(
        &mut pe,
        Duration::from_secs(2),
        |e| matches!(e, ElementEvent::SessionOpened { remote, .. } if *remote == a.local_addr().unwrap()),
    );
    let Some(ElementEvent::SessionOpened { session, .. }) = opened else {
        panic!("no SessionOpened for the first user");
    };

    // A user that failed over echoes its cookie (ASAP on the channel).
    let echo = AsapMessage::CookieEcho {
        cookie: b"state 42",
    };
    let mut buf = vec![0; echo.buffer_len()];
    let n = echo.emit(&mut buf).unwrap();
    let c = UdpSocket::bind(any()).unwrap();
    c.send_to(&tagged(ASAP_PPID, &buf[..n]), pe.local_addr())
        .unwrap();
    c.send_to(&tagged(5, b"cookie?"), pe.local_addr()).unwrap();
    assert_eq!(
        receive_tagged(&c, Duration::from_millis(500)),
        vec![(5, b"state 42".to_vec())]
    );
    assert!(event_where(&mut pe, Duration::from_secs(2), |e| matches!(
        e,
        ElementEvent::CookieEcho { cookie, .. } if cookie == b"state 42"
    ))
    .is_some());

    // The handler closes the first session.
    a.send_to(&tagged(7, b"bye"), pe.local_addr()).unwrap();
    assert!(event_where(&mut pe, Duration::from_secs(2), |e| matches!(
        e,
        ElementEvent::SessionClosed { session: s, reason: CloseReason::Application } if *s == session
    ))
    .is_some());
    assert!(pe.served() >= 9, "answers counted: {}", pe.served());
    pe.shutdown(Duration::from_secs(3)).unwrap();
    assert!(wait_for(Duration::from_secs(3), || registered(&r, 0)));
}

/// A handler that does not keep up loses its session (the user fails
/// over), not the node's memory: the session is closed once its queue is
/// full, and counted.
#[test]
fn a_session_whose_handler_falls_behind_is_closed() {
    let r = loopback_registrar();
    let pe = rserpool::runtime::PoolElementNode::serve(
        loopback::element(pool(), &[r.local_addr()], 91),
        NodeConfig::new(any()),
        |_session: Session, _message: Message| async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
        },
    )
    .unwrap();
    let mut pe = PoolElementNode::from(pe);
    let a = UdpSocket::bind(any()).unwrap();
    let queue = rserpool::runtime::serve::SESSION_QUEUE;
    for i in 0..queue + 8 {
        a.send_to(&tagged(1, &i.to_be_bytes()), pe.local_addr())
            .unwrap();
    }
    assert!(event_where(&mut pe, Duration::from_secs(3), |e| matches!(
        e,
        ElementEvent::SessionClosed { .. }
    ))
    .is_some());
    assert_eq!(pe.counters().sessions_overrun(), 1);
    pe.stop();
}

/// The events stream reports a refused registration with the registrar's
/// cause.
#[test]
fn the_events_stream_reports_a_refused_registration_with_its_cause() {
    let r = loopback_registrar();
    let first = crate::support::net::element(&[r.local_addr()], 92, NodeConfig::new(any()));
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));
    let mut config = loopback::element(pool(), &[r.local_addr()], 93);
    config.policy = Policy::LeastUsed { load: 1 };
    let mut second = PoolElementNode::start(
        config,
        NodeConfig::new(any()),
        Box::new(rserpool::host::services::Echo),
    )
    .unwrap();
    let refused = event_where(&mut second, Duration::from_secs(5), |e| {
        matches!(e, ElementEvent::Element(Event::RegistrationFailed { .. }))
    });
    assert!(
        matches!(
            refused,
            Some(ElementEvent::Element(Event::RegistrationFailed {
                cause: Some(CauseCode::InconsistentPoolingPolicy),
                ..
            }))
        ),
        "{refused:?}"
    );
    first.stop();
    second.stop();
}

/// Who answers `n` requests of a pool user of `r`.
fn answered_by(r: &RegistrarNode, n: u8) -> Vec<PeId> {
    let u = user(&[r.local_addr()], NodeConfig::new(any()));
    (0..n)
        .map(|i| {
            u.request(&pool(), &[i], Duration::from_secs(5))
                .expect("answered")
                .0
        })
        .collect()
}

/// A PE's load changes at run time: with least-used selection, the pool
/// users go to the other PE once one reports a high load, and back when
/// it reports a low one.
#[test]
fn a_load_change_at_run_time_moves_the_pool_users() {
    let r = loopback_registrar();
    let lu = |seed, load| {
        let mut c = loopback::element(pool(), &[r.local_addr()], seed);
        c.policy = Policy::LeastUsed { load };
        PoolElementNode::start(
            c,
            NodeConfig::new(any()),
            Box::new(rserpool::host::services::Echo),
        )
        .unwrap()
    };
    let busy = lu(94, 0);
    let idle = lu(95, 0x0010_0000);
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 2)));
    assert!(answered_by(&r, 4).iter().all(|&pe| pe == busy.pe_id()));
    let before = busy.registrations();
    assert!(busy.set_policy(Policy::LeastUsed { load: 0x00FF_0000 }));
    assert!(wait_for(Duration::from_secs(3), || busy.registrations() > before));
    assert!(answered_by(&r, 4).iter().all(|&pe| pe == idle.pe_id()));
    busy.stop();
    idle.stop();
}

/// The "ASAP only" mode: the node registers the program's own TCP server
/// as the PE's transport, pool users resolve to it, and the node's own
/// socket serves no session.
#[test]
fn asap_only_registers_the_programs_own_server() {
    let r = loopback_registrar();
    let server = TcpListener::bind(any()).unwrap();
    let at = server.local_addr().unwrap();
    let mut config = loopback::element(pool(), &[r.local_addr()], 96);
    config.user_transport = OwnedTransport::new(
        TransportProtocol::Tcp,
        at.port(),
        TransportUse::DataOnly,
        &[at.ip()],
    )
    .unwrap();
    let mut pe = PoolElementNode::register(config, NodeConfig::new(any())).unwrap();
    assert!(event_where(&mut pe, Duration::from_secs(5), |e| matches!(
        e,
        ElementEvent::Element(Event::Registered { .. })
    ))
    .is_some());

    // A pool user's resolution names the program's server.
    let s = UdpSocket::bind(any()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let handle = pool();
    let request = AsapMessage::HandleResolution {
        subscribe: false,
        pool_handle: handle.as_bytes(),
        items: None,
    };
    let mut buf = vec![0; request.buffer_len()];
    let n = request.emit(&mut buf).unwrap();
    let mut transports = Vec::new();
    let mut answer = vec![0u8; 65_536];
    for _ in 0..5 {
        s.send_to(&buf[..n], r.local_addr()).unwrap();
        if let Ok((len, _)) = s.recv_from(&mut answer) {
            match AsapMessage::parse(&answer[..len]) {
                Ok(AsapMessage::HandleResolutionResponse { elements, .. }) => {
                    for e in elements.iter() {
                        let t = e.user_transport.transport().expect("a transport");
                        let ips: Vec<_> = t.addresses.iter().collect();
                        transports.push((e.pe_id, t.protocol, t.port, ips));
                    }
                    break;
                }
                Ok(AsapMessage::Cookie { cookie }) => {
                    let echo = AsapMessage::CookieEcho { cookie };
                    let mut e = vec![0; echo.buffer_len()];
                    let m = echo.emit(&mut e).unwrap();
                    s.send_to(&e[..m], r.local_addr()).unwrap();
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        transports,
        vec![(pe.pe_id(), TransportProtocol::Tcp, at.port(), vec![at.ip()])]
    );

    // A session opened to the node's socket is refused.
    let c = UdpSocket::bind(any()).unwrap();
    c.send_to(&tagged(1, b"hello"), pe.local_addr()).unwrap();
    assert!(receive_tagged(&c, Duration::from_millis(300)).is_empty());
    assert!(event_where(&mut pe, Duration::from_secs(2), |e| matches!(
        e,
        ElementEvent::SessionClosed { .. }
    ))
    .is_some());

    // The graceful stop removes the server from the pool.
    pe.shutdown(Duration::from_secs(3)).unwrap();
    assert!(wait_for(Duration::from_secs(3), || registered(&r, 0)));
}
