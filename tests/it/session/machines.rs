//! The session machines against hand-made input: capacity limits,
//! back-pressure, hostile bytes, buffers too small.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::support::session::*;
use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::session::{
    element, user, Backpressure, CloseReason, ResendPolicy, SessionConnect, SessionError, SessionId,
};
use rserpool::transmit::{Destination, QueueError, Source, TransportEvent};
use rserpool::wire::{AsapMessage, List, PoolElementParam, Protocol, TransportParam};
use rserpool::{AssocId, Instant, PeId, Policy};

fn user_remote(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 9, n)), 50000)
}

fn up(assoc: u32, remote: SocketAddr) -> TransportEvent {
    TransportEvent::Up {
        assoc: AssocId(assoc),
        remote,
        protocol: Protocol::Asap,
        verified: true,
    }
}

fn src(assoc: u32) -> Source {
    Source::Association(AssocId(assoc))
}

/// An element with `n` sessions from users 1..=n on associations 101...
fn element_with_sessions(n: u8) -> (Box<Se>, Vec<SessionId>) {
    let mut se = element_machine(0);
    let now = Instant::ZERO;
    let mut ids = Vec::new();
    let mut buf = vec![0u8; 65536];
    for k in 1..=n {
        se.handle_transport_event(now, up(100 + u32::from(k), user_remote(k)));
        match se.poll_event(&mut buf).unwrap() {
            Some(element::Event::Accepted {
                session,
                remote,
                assoc,
            }) => {
                assert_eq!(
                    (remote, assoc),
                    (user_remote(k), AssocId(100 + u32::from(k)))
                );
                ids.push(session);
            }
            other => panic!("{other:?}"),
        }
    }
    (se, ids)
}

#[test]
fn a_full_element_refuses_the_newcomer_and_keeps_the_established() {
    let (mut se, ids) = element_with_sessions(4);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    se.handle_transport_event(now, up(200, user_remote(9)));
    assert_eq!(
        se.poll_event(&mut buf).unwrap(),
        Some(element::Event::Refused {
            remote: user_remote(9),
            assoc: AssocId(200)
        })
    );
    assert_eq!(se.poll_close(), Some(AssocId(200)));
    assert_eq!(se.refused(), 1);
    assert_eq!(se.sessions().collect::<Vec<_>>(), ids);
    // A message on the refused association is nobody's.
    se.handle(now, src(200), 5, b"x").unwrap();
    assert_eq!(se.stray_messages(), 1);
    assert_eq!(se.poll_event(&mut buf).unwrap(), None);
    // One leaves, the next is accepted.
    se.handle_transport_event(
        now,
        TransportEvent::Down {
            assoc: AssocId(101),
        },
    );
    assert_eq!(
        se.poll_event(&mut buf).unwrap(),
        Some(element::Event::Closed {
            session: ids[0],
            reason: CloseReason::AssociationDown
        })
    );
    // Gone already: nothing to shut down.
    assert_eq!(se.poll_close(), None);
    se.handle_transport_event(now, up(201, user_remote(10)));
    assert!(matches!(
        se.poll_event(&mut buf).unwrap(),
        Some(element::Event::Accepted { .. })
    ));
}

#[test]
fn element_messages_keep_their_ppid_and_session_and_answers_leave_in_order() {
    let (mut se, ids) = element_with_sessions(2);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    se.handle(now, src(102), 0xDEAD_BEEF, &[1, 2, 3]).unwrap();
    se.handle(now, src(101), 0, &[]).unwrap();
    assert_eq!(
        se.poll_event(&mut buf).unwrap(),
        Some(element::Event::Message {
            session: ids[1],
            ppid: 0xDEAD_BEEF,
            len: 3
        })
    );
    assert_eq!(&buf[..3], &[1, 2, 3]);
    assert_eq!(
        se.poll_event(&mut buf).unwrap(),
        Some(element::Event::Message {
            session: ids[0],
            ppid: 0,
            len: 0
        })
    );
    // Answer, cookie, answer: in this order on the wire.
    se.send(ids[0], 7, b"a").unwrap();
    se.send_cookie(ids[0], b"cookie").unwrap();
    se.send(ids[0], 7, b"b").unwrap();
    assert_eq!(se.send(ids[0], 11, b"c"), Err(SessionError::ReservedPpid));
    assert_eq!(
        se.send_cookie(ids[0], &[0; 257]),
        Err(SessionError::CookieTooLong { len: 257 })
    );
    assert_eq!(
        se.send(SessionId(99), 7, b"c"),
        Err(SessionError::UnknownSession)
    );
    let t = se.poll_transmit(&mut buf).unwrap().unwrap();
    assert_eq!(
        (t.destination, t.ppid, &buf[..t.len]),
        (Destination::Association(AssocId(101)), 7, &b"a"[..])
    );
    let t = se.poll_transmit(&mut buf).unwrap().unwrap();
    assert_eq!(t.ppid, 11);
    assert_eq!(
        AsapMessage::parse(&buf[..t.len]).unwrap(),
        AsapMessage::Cookie { cookie: b"cookie" }
    );
    let t = se.poll_transmit(&mut buf).unwrap().unwrap();
    assert_eq!(&buf[..t.len], b"b");
    assert_eq!(se.poll_transmit(&mut buf).unwrap(), None);
    // Closing drops what is unsent and asks for a shutdown.
    se.send(ids[1], 7, b"never").unwrap();
    se.close(ids[1]).unwrap();
    assert_eq!(se.poll_close(), Some(AssocId(102)));
    assert_eq!(se.poll_transmit(&mut buf).unwrap(), None);
}

#[test]
fn element_back_pressure_keeps_the_message_with_the_driver() {
    let (mut se, ids) = element_with_sessions(1);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    let big = vec![7u8; 3000];
    se.handle(now, src(101), 1, &big).unwrap();
    assert!(!se.has_room(3000));
    assert_eq!(
        se.handle(now, src(101), 1, &big),
        Err(Backpressure { needed: 3000 })
    );
    // A buffer too small leaves the message waiting.
    let mut small = [0u8; 10];
    assert_eq!(
        se.poll_event(&mut small),
        Err(QueueError::BufferTooSmall { needed: 3000 })
    );
    assert!(matches!(
        se.poll_event(&mut buf).unwrap(),
        Some(element::Event::Message { session, len: 3000, .. }) if session == ids[0]
    ));
    assert!(se.has_room(3000));
    se.handle(now, src(101), 1, &big).unwrap();
    // Larger than the ring: never taken, and the transmit side refuses it.
    assert_eq!(
        se.send(ids[0], 1, &vec![0; 5000]),
        Err(SessionError::TooLarge { len: 5000 })
    );
    for _ in 0..32 {
        if se.send(ids[0], 1, &[0; 500]).is_err() {
            break;
        }
    }
    assert!(matches!(
        se.send(ids[0], 1, &[0; 500]),
        Err(SessionError::Full { needed: 500 })
    ));
}

#[test]
fn element_cookie_echo_and_hostile_control_bytes() {
    let (mut se, ids) = element_with_sessions(1);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    let echo = AsapMessage::CookieEcho { cookie: b"saved" };
    let n = echo.emit(&mut buf).unwrap();
    let bytes = buf[..n].to_vec();
    se.handle(now, src(101), 11, &bytes).unwrap();
    assert_eq!(
        se.poll_event(&mut buf).unwrap(),
        Some(element::Event::CookieEcho { session: ids[0] })
    );
    assert_eq!(se.cookie_echo(ids[0]), Some(&b"saved"[..]));
    // Too long to keep.
    let long = vec![1u8; 300];
    let n = AsapMessage::CookieEcho { cookie: &long }
        .emit(&mut buf)
        .unwrap();
    let bytes = buf[..n].to_vec();
    se.handle(now, src(101), 11, &bytes).unwrap();
    assert_eq!(
        se.poll_event(&mut buf).unwrap(),
        Some(element::Event::CookieTooLong {
            session: ids[0],
            len: 300
        })
    );
    assert_eq!(se.cookie_echo(ids[0]), Some(&b"saved"[..]));
    // Garbage on PPID 11 never panics; an unknown message type that asks
    // for it is answered with ASAP_ERROR on that association.
    for garbage in [&[][..], &[0x01], &[0x0F, 0, 0, 4], &[0x4F, 0, 0, 4]] {
        se.handle(now, src(101), 11, garbage).unwrap();
    }
    let mut answered = 0;
    while let Some(t) = se.poll_transmit(&mut buf).unwrap() {
        assert_eq!(
            (t.destination, t.ppid),
            (Destination::Association(AssocId(101)), 11)
        );
        assert!(matches!(
            AsapMessage::parse(&buf[..t.len]).unwrap(),
            AsapMessage::Error { .. }
        ));
        answered += 1;
    }
    assert_eq!(answered, 1);
    // Any PPID but 11 is user data, ENRP's included (no ENRP on a session).
    se.handle(now, src(101), 12, b"enrp").unwrap();
    assert_eq!(
        se.poll_event(&mut buf).unwrap(),
        Some(element::Event::Message {
            session: ids[0],
            ppid: 12,
            len: 4
        })
    );
    assert_eq!(se.poll_event(&mut buf).unwrap(), None);
}

#[test]
fn element_business_card_is_the_pools() {
    let (mut se, ids) = element_with_sessions(1);
    let mut buf = vec![0u8; 65536];
    send_card(&mut se, ids[0], &[0, 1]);
    let t = se.poll_transmit(&mut buf).unwrap().unwrap();
    assert_eq!(t.ppid, 11);
    match AsapMessage::parse(&buf[..t.len]).unwrap() {
        AsapMessage::BusinessCard {
            pool_handle,
            elements,
            ..
        } => {
            assert_eq!(pool_handle, POOL);
            let ids: Vec<PeId> = elements.iter().map(|e| e.pe_id).collect();
            assert_eq!(ids, vec![pe_id(0), pe_id(1)]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn element_registrar_associations_are_not_sessions() {
    let mut se = element_machine(0);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    se.register(now);
    let Some(SessionConnect::Registrar(c)) = se.poll_connect() else {
        panic!()
    };
    assert_eq!(c.remote, registrar_addr());
    se.handle_transport_event(now, up(1, c.remote));
    assert_eq!(se.sessions().count(), 0);
    let t = se.poll_transmit(&mut buf).unwrap().unwrap();
    assert_eq!(
        (t.destination, t.ppid),
        (Destination::Association(AssocId(1)), 11)
    );
    assert!(matches!(
        AsapMessage::parse(&buf[..t.len]).unwrap(),
        AsapMessage::Registration { .. }
    ));
    // User data on the registrar's association is nobody's.
    se.handle(now, src(1), 5, b"x").unwrap();
    assert_eq!(se.stray_messages(), 1);
}

/// A session user with a home registrar on association 1 and one PE (7)
/// cached, whose session `s` is connected on association 2.
fn user_connected(resend: ResendPolicy) -> (Box<Su>, SessionId) {
    let mut su = Box::new(Su::new(user_config(resend)));
    let (s, remote) = resolving_to_pe7(&mut su);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    assert_eq!(
        su.state(s),
        Some(user::SessionState::Connecting {
            pe: PeId::new(7).unwrap()
        })
    );
    su.handle_transport_event(now, up(2, remote));
    assert_eq!(
        su.poll_event(&mut buf).unwrap(),
        Some(user::Event::Connected {
            session: s,
            pe: PeId::new(7).unwrap(),
            failover: false
        })
    );
    while su.poll_event(&mut buf).unwrap().is_some() {}
    (su, s)
}

#[test]
fn user_back_pressure_and_small_buffers() {
    let (mut su, s) = user_connected(ResendPolicy::None);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    let big = vec![1u8; 3000];
    su.handle(now, src(2), 9, &big).unwrap();
    assert_eq!(
        su.handle(now, src(2), 9, &big),
        Err(Backpressure { needed: 3000 })
    );
    assert_eq!(
        su.poll_event(&mut [0u8; 4]),
        Err(QueueError::BufferTooSmall { needed: 3000 })
    );
    assert_eq!(
        su.poll_event(&mut buf).unwrap(),
        Some(user::Event::Message {
            session: s,
            ppid: 9,
            len: 3000
        })
    );
    su.handle(now, src(2), 9, &big).unwrap();
    // The transmit side: too large, then full.
    assert_eq!(
        su.send(now, s, 1, &vec![0; 5000]),
        Err(SessionError::TooLarge { len: 5000 })
    );
    let mut sent = 0;
    while su.send(now, s, 1, &[0; 1000]).is_ok() {
        sent += 1;
    }
    assert_eq!(sent, 4);
    assert!(!su.can_send(1000));
    assert_eq!(
        su.poll_transmit(&mut [0u8; 10]),
        Err(QueueError::BufferTooSmall { needed: 1000 })
    );
    let t = su.poll_transmit(&mut buf).unwrap().unwrap();
    assert_eq!(
        (t.destination, t.len),
        (Destination::Association(AssocId(2)), 1000)
    );
    assert!(su.can_send(1000));
    // Stray data is not taken; nothing panics on hostile bytes.
    su.handle(now, src(77), 9, b"who").unwrap();
    assert_eq!(su.stray_messages(), 1);
    for garbage in [&[][..], &[0x01], &[0xFF, 0, 0, 4], &[0x08, 0, 0, 3]] {
        su.handle(now, src(2), 11, garbage).unwrap();
    }
}

#[test]
fn user_cookies_are_per_session_and_bounded() {
    let (mut su, s) = user_connected(ResendPolicy::None);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    let n = AsapMessage::Cookie { cookie: b"one" }
        .emit(&mut buf)
        .unwrap();
    let bytes = buf[..n].to_vec();
    su.handle(now, src(2), 11, &bytes).unwrap();
    assert_eq!(
        su.poll_event(&mut buf).unwrap(),
        Some(user::Event::CookieReceived { session: s })
    );
    let long = vec![0u8; 300];
    let n = AsapMessage::Cookie { cookie: &long }
        .emit(&mut buf)
        .unwrap();
    let bytes = buf[..n].to_vec();
    su.handle(now, src(2), 11, &bytes).unwrap();
    assert_eq!(
        su.poll_event(&mut buf).unwrap(),
        Some(user::Event::CookieTooLong {
            session: s,
            len: 300
        })
    );
    assert_eq!(su.cookie(s), Some(&b"one"[..]));
    // Queued data waits for the COOKIE_ECHO after the failover.
    su.send(now, s, 3, b"data").unwrap();
    su.handle_transport_event(now, TransportEvent::Down { assoc: AssocId(2) });
    // The failover goes to PE 8 at once (cached).
    let Some(SessionConnect::PoolElement { pe, remote, .. }) = su.poll_connect() else {
        panic!()
    };
    assert_eq!(pe, PeId::new(8).unwrap());
    // ENDPOINT_UNREACHABLE to the home registrar first.
    let t = su.poll_transmit(&mut buf).unwrap().unwrap();
    assert_eq!(t.destination, Destination::Association(AssocId(1)));
    assert!(matches!(
        AsapMessage::parse(&buf[..t.len]).unwrap(),
        AsapMessage::EndpointUnreachable { .. }
    ));
    assert_eq!(su.poll_transmit(&mut buf).unwrap(), None);
    su.handle_transport_event(now, up(3, remote));
    let t = su.poll_transmit(&mut buf).unwrap().unwrap();
    assert_eq!(
        (t.destination, t.ppid),
        (Destination::Association(AssocId(3)), 11)
    );
    assert_eq!(
        AsapMessage::parse(&buf[..t.len]).unwrap(),
        AsapMessage::CookieEcho { cookie: b"one" }
    );
    let t = su.poll_transmit(&mut buf).unwrap().unwrap();
    assert_eq!((t.ppid, &buf[..t.len]), (3, &b"data"[..]));
}

#[test]
fn user_connect_abandoned_by_a_failover_is_shut_down_when_it_comes_up() {
    let (mut su, s) = user_connected(ResendPolicy::None);
    let now = Instant::ZERO;
    su.failover(now, s, true).unwrap();
    assert_eq!(su.poll_close(), Some(AssocId(2)));
    let Some(SessionConnect::PoolElement { remote, .. }) = su.poll_connect() else {
        panic!()
    };
    // The application fails over again before that association is up.
    su.failover(now, s, true).unwrap();
    su.handle_transport_event(now, up(3, remote));
    assert_eq!(su.poll_close(), Some(AssocId(3)));
    assert_ne!(
        su.state(s),
        Some(user::SessionState::Connected {
            pe: PeId::new(8).unwrap(),
            assoc: AssocId(3)
        })
    );
    // Closing while resolving is fine; the id is gone.
    su.close(now, s).unwrap();
    assert_eq!(su.failover(now, s, true), Err(SessionError::UnknownSession));
    assert_eq!(su.state(s), None);
}

#[test]
fn user_connect_failure_fails_over_to_the_next_cached_pe() {
    let mut su = Box::new(Su::new(user_config(ResendPolicy::None)));
    let (s, remote) = resolving_to_pe7(&mut su);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    su.handle_transport_event(now, TransportEvent::ConnectFailed { remote });
    assert_eq!(
        su.poll_event(&mut buf).unwrap(),
        Some(user::Event::Failover {
            session: s,
            from: PeId::new(7).unwrap(),
            reason: rserpool::session::FailoverReason::ConnectFailed
        })
    );
    let Some(SessionConnect::PoolElement { pe, .. }) = su.poll_connect() else {
        panic!()
    };
    assert_eq!(pe, PeId::new(8).unwrap());
    // Nothing to shut down: it never came up.
    assert_eq!(su.poll_close(), None);
}

#[test]
fn user_failover_limit_closes_the_session() {
    let mut config = user_config(ResendPolicy::None);
    config.max_failovers = 1;
    let mut su = Box::new(Su::new(config));
    let (s, remote) = resolving_to_pe7(&mut su);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    su.handle_transport_event(now, up(2, remote));
    su.send(now, s, 1, b"lost with the session").unwrap();
    // First failure: over to PE 8.
    su.handle_transport_event(now, TransportEvent::Down { assoc: AssocId(2) });
    let Some(SessionConnect::PoolElement { remote, .. }) = su.poll_connect() else {
        panic!()
    };
    // Second failure in a row: beyond the limit.
    su.handle_transport_event(now, TransportEvent::ConnectFailed { remote });
    let mut events = Vec::new();
    while let Some(e) = su.poll_event(&mut buf).unwrap() {
        events.push(e);
    }
    assert_eq!(
        events.last(),
        Some(&user::Event::Closed {
            session: s,
            reason: CloseReason::FailoverLimit
        })
    );
    assert_eq!(su.state(s), None);
    assert_eq!(su.queued(s), 0);
    assert_eq!(su.poll_connect(), None);
    // Only the ENDPOINT_UNREACHABLE reports leave; no user data.
    while let Some(t) = su.poll_transmit(&mut buf).unwrap() {
        assert_eq!(t.ppid, 11);
    }
}

#[test]
fn user_an_unanswered_resolution_is_tried_again_later() {
    let mut su = Box::new(Su::new(user_config(ResendPolicy::None)));
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    let s = su.connect(now, pool()).unwrap();
    let Some(SessionConnect::Registrar(c)) = su.poll_connect() else {
        panic!()
    };
    su.handle_transport_event(now, up(1, c.remote));
    assert!(su.poll_transmit(&mut buf).unwrap().is_some());
    // rsplib: 3 s, no resend; then the session waits 1 s and asks again.
    let t1 = su.poll_timeout().unwrap();
    assert_eq!(t1, Instant::from_secs(3));
    su.handle_timeout(t1);
    assert_eq!(su.state(s), Some(user::SessionState::Resolving));
    let retry = su.poll_timeout().unwrap();
    assert!(retry <= t1 + rserpool::Duration::from_secs(1));
    let mut events = Vec::new();
    while let Some(e) = su.poll_event(&mut buf).unwrap() {
        events.push(e);
    }
    assert!(!events
        .iter()
        .any(|e| matches!(e, user::Event::Closed { .. })));
    // The pool user gave the silent registrar up; once the retry is due
    // a resolution goes out again (to whichever registrar is home).
    let mut sent = 0;
    let mut now = retry;
    for _ in 0..20 {
        su.handle_timeout(now);
        while let Some(c) = su.poll_connect() {
            su.handle_transport_event(now, up(50 + sent, c.remote()));
        }
        while let Some(t) = su.poll_transmit(&mut buf).unwrap() {
            if matches!(
                AsapMessage::parse(&buf[..t.len]).unwrap(),
                AsapMessage::HandleResolution { .. }
            ) {
                sent += 1;
            }
        }
        if sent > 0 {
            break;
        }
        now = su.poll_timeout().unwrap();
    }
    assert!(sent > 0);
    assert_eq!(su.state(s), Some(user::SessionState::Resolving));
}

#[test]
fn element_send_failure_closes_the_session() {
    let (mut se, ids) = element_with_sessions(2);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    se.send(ids[0], 1, b"unsent").unwrap();
    se.handle_transport_event(
        now,
        TransportEvent::SendFailed {
            assoc: AssocId(101),
        },
    );
    assert_eq!(
        se.poll_event(&mut buf).unwrap(),
        Some(element::Event::Closed {
            session: ids[0],
            reason: CloseReason::SendFailed
        })
    );
    assert_eq!(se.poll_close(), Some(AssocId(101)));
    assert_eq!(se.poll_transmit(&mut buf).unwrap(), None);
    assert_eq!(se.sessions().collect::<Vec<_>>(), vec![ids[1]]);
}

/// A session user whose session `s` has PE 7 chosen (8 cached too) and
/// asks for its association: returns the session and PE 7's address.
fn resolving_to_pe7(su: &mut Su) -> (SessionId, SocketAddr) {
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    let s = su.connect(now, pool()).unwrap();
    let Some(SessionConnect::Registrar(c)) = su.poll_connect() else {
        panic!()
    };
    su.handle_transport_event(now, up(1, c.remote));
    su.poll_transmit(&mut buf).unwrap().unwrap();
    let addr = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9))];
    let elements = [7u32, 8].map(|id| PoolElementParam {
        pe_id: PeId::new(id).unwrap(),
        home_server: None,
        registration_life: 30_000,
        user_transport: TransportParam::new(
            TransportProtocol::Sctp,
            7000 + id as u16,
            TransportUse::DataAndControl,
            &addr,
        )
        .into(),
        policy: Policy::RoundRobin.into(),
        asap_transport: None,
    });
    let n = AsapMessage::HandleResolutionResponse {
        accept_updates: false,
        pool_handle: POOL,
        policy: None,
        elements: List::from_slice(&elements),
        error: None,
    }
    .emit(&mut buf)
    .unwrap();
    let bytes = buf[..n].to_vec();
    su.handle(now, src(1), 11, &bytes).unwrap();
    let Some(SessionConnect::PoolElement { pe, remote, .. }) = su.poll_connect() else {
        panic!()
    };
    assert_eq!(pe, PeId::new(7).unwrap());
    while su.poll_event(&mut buf).unwrap().is_some() {}
    (s, remote)
}

#[test]
fn element_a_pool_user_cannot_pose_as_a_registrar() {
    let (mut se, _ids) = element_with_sessions(1);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    // The pool user has spoken: its association is a session for good.
    se.handle(now, src(101), 47, b"hello").unwrap();
    assert!(matches!(
        se.poll_event(&mut buf).unwrap(),
        Some(element::Event::Message {
            ppid: 47,
            len: 5,
            ..
        })
    ));
    let n = AsapMessage::EndpointKeepAlive {
        home: true,
        server_id: rserpool::ServerId::new(0x666).unwrap(),
        pool_handle: POOL,
        pe_id: Some(pe_id(0)),
    }
    .emit(&mut buf)
    .unwrap();
    let bytes = buf[..n].to_vec();
    se.handle(now, src(101), 11, &bytes).unwrap();
    assert_eq!(se.refused_control(), 1);
    // No KEEP_ALIVE_ACK, no new home.
    assert_eq!(se.poll_transmit(&mut buf).unwrap(), None);
    assert_eq!(se.element().home(), None);
    assert_eq!(se.poll_event(&mut buf).unwrap(), None);
}

#[test]
fn element_a_registrar_taking_over_from_an_unknown_address_of_a_trusted_host_is_no_session() {
    // A registrar the PE does not know by address, on a host it trusts,
    // takes it over: it opens an association and sends a home keep-alive
    // first.
    let mut se = element_machine_trusting(0, &[user_remote(1).ip()]);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    let mut ids = Vec::new();
    for k in 1..=3u8 {
        se.handle_transport_event(now, up(100 + u32::from(k), user_remote(k)));
        match se.poll_event(&mut buf).unwrap() {
            Some(element::Event::Accepted { session, .. }) => ids.push(session),
            e => panic!("unexpected {e:?}"),
        }
    }
    let n = AsapMessage::EndpointKeepAlive {
        home: true,
        server_id: rserpool::ServerId::new(0x777).unwrap(),
        pool_handle: POOL,
        pe_id: Some(pe_id(0)),
    }
    .emit(&mut buf)
    .unwrap();
    let bytes = buf[..n].to_vec();
    // A keep-alive for another PE on a fresh association: refused.
    let mut other = vec![0u8; 256];
    let m = AsapMessage::EndpointKeepAlive {
        home: true,
        server_id: rserpool::ServerId::new(0x777).unwrap(),
        pool_handle: POOL,
        pe_id: Some(pe_id(9)),
    }
    .emit(&mut other)
    .unwrap();
    se.handle(now, src(102), 11, &other[..m]).unwrap();
    assert_eq!(se.refused_control(), 1);
    assert_eq!(se.sessions().count(), 3);
    // The right keep-alive from a host the PE does not trust: refused, the
    // session stays, the sender does not become the home.
    se.handle(now, src(103), 11, &bytes).unwrap();
    assert_eq!(se.refused_control(), 2);
    assert_eq!(se.sessions().count(), 3);
    assert!(se.poll_transmit(&mut buf).unwrap().is_none());
    // The trusted host's: the association is no session.
    se.handle(now, src(101), 11, &bytes).unwrap();
    assert_eq!(se.refused_control(), 2);
    // The session ends; the association is the pool element's now.
    assert_eq!(
        se.poll_event(&mut buf).unwrap(),
        Some(element::Event::Closed {
            session: ids[0],
            reason: CloseReason::Registrar,
        })
    );
    assert_eq!(se.sessions().count(), 2);
    // The keep-alive is answered on that association.
    let t = se.poll_transmit(&mut buf).unwrap().unwrap();
    assert_eq!(
        (t.destination, t.ppid),
        (Destination::Association(AssocId(101)), 11)
    );
    assert!(matches!(
        AsapMessage::parse(&buf[..t.len]).unwrap(),
        AsapMessage::EndpointKeepAliveAck { .. }
    ));
    // And that registrar is the home now.
    assert_eq!(se.element().home().map(|h| h.assoc), Some(AssocId(101)));
}

#[test]
fn user_a_pe_cannot_pose_as_a_registrar() {
    let (mut su, s) = user_connected(ResendPolicy::None);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    // A resolution answer from the PE: not taken.
    let addr = [IpAddr::V4(Ipv4Addr::new(10, 6, 6, 6))];
    let fake = [PoolElementParam {
        pe_id: PeId::new(666).unwrap(),
        home_server: None,
        registration_life: 30_000,
        user_transport: TransportParam::new(
            TransportProtocol::Sctp,
            6666,
            TransportUse::DataAndControl,
            &addr,
        )
        .into(),
        policy: Policy::RoundRobin.into(),
        asap_transport: None,
    }];
    let n = AsapMessage::HandleResolutionResponse {
        accept_updates: false,
        pool_handle: POOL,
        policy: None,
        elements: List::from_slice(&fake),
        error: None,
    }
    .emit(&mut buf)
    .unwrap();
    let bytes = buf[..n].to_vec();
    su.handle(now, src(2), 11, &bytes).unwrap();
    // A business card of another pool: not taken either.
    let n = AsapMessage::BusinessCard {
        pool_handle: b"OtherPool",
        policy: None,
        elements: List::from_slice(&fake),
    }
    .emit(&mut buf)
    .unwrap();
    let bytes = buf[..n].to_vec();
    su.handle(now, src(2), 11, &bytes).unwrap();
    assert_eq!(su.refused_control(), 2);
    assert_eq!(su.poll_event(&mut buf).unwrap(), None);
    let mut cached = [PeId::new(1).unwrap(); 4];
    let n = su.pool_user().cached_elements(&pool(), &mut cached);
    assert_eq!(
        &cached[..n],
        &[PeId::new(7).unwrap(), PeId::new(8).unwrap()]
    );
    assert_eq!(su.pool_user().cached_pools(), 1);
    // A card of its own pool is taken.
    let n = AsapMessage::BusinessCard {
        pool_handle: POOL,
        policy: None,
        elements: List::from_slice(&fake),
    }
    .emit(&mut buf)
    .unwrap();
    let bytes = buf[..n].to_vec();
    su.handle(now, src(2), 11, &bytes).unwrap();
    assert_eq!(
        su.poll_event(&mut buf).unwrap(),
        Some(user::Event::BusinessCard { session: s })
    );
    assert_eq!(
        su.pool_user().business_card(&pool()),
        Some(&[PeId::new(666).unwrap()][..])
    );
}

#[test]
fn user_failover_without_a_report_selects_by_policy() {
    let (mut su, s) = user_connected(ResendPolicy::None);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    su.failover(now, s, false).unwrap();
    assert_eq!(
        su.poll_event(&mut buf).unwrap(),
        Some(user::Event::Failover {
            session: s,
            from: PeId::new(7).unwrap(),
            reason: rserpool::session::FailoverReason::Application
        })
    );
    assert_eq!(su.poll_close(), Some(AssocId(2)));
    // Round robin: PE 8 next; nothing reported, PE 7 stays cached.
    let Some(SessionConnect::PoolElement { pe, .. }) = su.poll_connect() else {
        panic!()
    };
    assert_eq!(pe, PeId::new(8).unwrap());
    assert_eq!(su.pool_user().unreachable_reports(), 0);
    assert_eq!(su.poll_transmit(&mut buf).unwrap(), None);
    let mut cached = [PeId::new(1).unwrap(); 4];
    assert_eq!(su.pool_user().cached_elements(&pool(), &mut cached), 2);
}

#[test]
fn user_an_answer_read_before_the_failover_event_cancels_the_resend() {
    for acknowledge in [true, false] {
        let (mut su, s) = user_connected(ResendPolicy::LastUnacknowledged(2));
        let now = Instant::ZERO;
        let mut buf = vec![0u8; 65536];
        let seq = su.send(now, s, 9, &body(0, 2)).unwrap();
        let t = su.poll_transmit(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..t.len], &body(0, 2)[..]);
        assert_eq!(su.unacknowledged(s), 1);
        // The answer arrives, then the association fails before the
        // application has read it.
        su.handle(now, src(2), 9, &body(0, 2)).unwrap();
        su.handle_transport_event(now, TransportEvent::Down { assoc: AssocId(2) });
        let Some(SessionConnect::PoolElement { remote, .. }) = su.poll_connect() else {
            panic!()
        };
        su.handle_transport_event(now, up(3, remote));
        // ENDPOINT_UNREACHABLE only: the resend waits for the application.
        let t = su.poll_transmit(&mut buf).unwrap().unwrap();
        assert_eq!(t.destination, Destination::Association(AssocId(1)));
        assert_eq!(su.poll_transmit(&mut buf).unwrap(), None);
        assert_eq!(su.queued(s), 1);
        // The answer comes before the failover.
        assert_eq!(
            su.poll_event(&mut buf).unwrap(),
            Some(user::Event::Message {
                session: s,
                ppid: 9,
                len: 10
            })
        );
        if acknowledge {
            su.acknowledge(s, seq).unwrap();
        }
        assert!(matches!(
            su.poll_event(&mut buf).unwrap(),
            Some(user::Event::Failover { .. })
        ));
        let t = su.poll_transmit(&mut buf).unwrap();
        if acknowledge {
            assert_eq!(t, None);
            assert_eq!(su.queued(s), 0);
        } else {
            let t = t.unwrap();
            assert_eq!(
                (t.destination, &buf[..t.len]),
                (Destination::Association(AssocId(3)), &body(0, 2)[..])
            );
        }
    }
}

#[test]
fn element_the_driver_may_name_registrar_associations() {
    let mut se = element_machine(0);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    // An association from an address the hunt does not know, which the
    // driver knows to be a registrar's: not a session.
    se.handle_registrar_transport_event(now, up(9, user_remote(1)));
    assert_eq!(se.sessions().count(), 0);
    assert_eq!(se.poll_event(&mut buf).unwrap(), None);
    // The same through the address-based entry point is a session.
    se.handle_transport_event(now, up(10, user_remote(1)));
    assert_eq!(se.sessions().count(), 1);
}

#[test]
fn element_full_event_and_close_queues_count_what_they_refuse() {
    use rserpool::session::{CLOSE_QUEUE_LEN, EVENT_QUEUE_LEN};
    let (mut se, _ids) = element_with_sessions(4);
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    // Every slot taken: each newcomer is refused, with an event and a
    // shutdown request, until those queues are full.
    let n = EVENT_QUEUE_LEN + 5;
    for k in 0..n {
        se.handle_transport_event(now, up(300 + k as u32, user_remote(200)));
    }
    assert_eq!(se.refused(), n as u32);
    assert_eq!(se.events_lost(), 5);
    assert_eq!(se.closes_lost(), (n - CLOSE_QUEUE_LEN) as u32);
    let mut closes = Vec::new();
    while let Some(a) = se.poll_close() {
        closes.push(a);
    }
    assert_eq!(closes.len(), CLOSE_QUEUE_LEN);
    assert_eq!(closes[0], AssocId(300));
    let mut events = 0;
    while let Some(e) = se.poll_event(&mut buf).unwrap() {
        assert!(matches!(e, element::Event::Refused { .. }));
        events += 1;
    }
    assert_eq!(events, EVENT_QUEUE_LEN);
}

#[test]
fn user_messages_and_the_cookie_echo_are_lent_until_consumed() {
    let (mut su, s) = user_connected(ResendPolicy::LastUnacknowledged(2));
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    let n = AsapMessage::Cookie { cookie: b"kept" }
        .emit(&mut buf)
        .unwrap();
    let bytes = buf[..n].to_vec();
    su.handle(now, src(2), 11, &bytes).unwrap();
    while su.poll_event(&mut buf).unwrap().is_some() {}
    su.send(now, s, 3, b"first").unwrap();
    // Lent, and lent again until consumed.
    for _ in 0..2 {
        let (t, bytes) = su.peek_transmit().unwrap();
        assert_eq!(
            (t.destination, t.ppid, t.len, bytes),
            (Destination::Association(AssocId(2)), 3, 5, &b"first"[..])
        );
    }
    su.consume_transmit();
    assert!(su.peek_transmit().is_none());
    // Kept for a resend.
    assert_eq!(su.unacknowledged(s), 1);
    su.send(now, s, 3, b"second").unwrap();
    su.handle_transport_event(now, TransportEvent::Down { assoc: AssocId(2) });
    let Some(SessionConnect::PoolElement { remote, .. }) = su.poll_connect() else {
        panic!()
    };
    // ENDPOINT_UNREACHABLE to the registrar.
    let (t, bytes) = su.peek_transmit().unwrap();
    assert_eq!(t.destination, Destination::Association(AssocId(1)));
    assert!(matches!(
        AsapMessage::parse(bytes).unwrap(),
        AsapMessage::EndpointUnreachable { .. }
    ));
    su.consume_transmit();
    su.handle_transport_event(now, up(3, remote));
    // The application sees the failover; then the COOKIE_ECHO, lent from
    // the session, goes first, then the resent message and the new one.
    while su.poll_event(&mut buf).unwrap().is_some() {}
    for _ in 0..2 {
        let (t, bytes) = su.peek_transmit().unwrap();
        assert_eq!(
            (t.destination, t.ppid, t.len),
            (Destination::Association(AssocId(3)), 11, bytes.len())
        );
        assert_eq!(
            AsapMessage::parse(bytes).unwrap(),
            AsapMessage::CookieEcho { cookie: b"kept" }
        );
    }
    su.consume_transmit();
    let mut sent = Vec::new();
    while let Some((t, bytes)) = su.peek_transmit() {
        assert_eq!(t.destination, Destination::Association(AssocId(3)));
        sent.push(bytes.to_vec());
        su.consume_transmit();
    }
    assert_eq!(sent, [b"first".to_vec(), b"second".to_vec()]);
    // Consuming with nothing lent changes nothing.
    su.consume_transmit();
    assert_eq!(su.unacknowledged(s), 2);
    assert_eq!(su.cookie(s), Some(&b"kept"[..]));
}

#[test]
fn element_messages_are_lent_until_consumed_and_match_the_copies() {
    let (mut se, ids) = element_with_sessions(2);
    let (mut copy, _) = element_with_sessions(2);
    for (k, id) in ids.iter().enumerate() {
        for m in [&b"a"[..], &[7u8; 900][..], b""] {
            se.send(*id, 20 + k as u32, m).unwrap();
            copy.send(*id, 20 + k as u32, m).unwrap();
        }
        se.send_cookie(*id, b"state").unwrap();
        copy.send_cookie(*id, b"state").unwrap();
    }
    let mut buf = vec![0u8; 65536];
    let mut n = 0;
    loop {
        let lent = se.peek_transmit().map(|(t, b)| (t, b.to_vec()));
        assert_eq!(
            se.peek_transmit().map(|(t, b)| (t, b.to_vec())),
            lent,
            "lent again until consumed"
        );
        let copied = copy
            .poll_transmit(&mut buf)
            .unwrap()
            .map(|t| (t, buf[..t.len].to_vec()));
        assert_eq!(lent, copied);
        let Some((t, bytes)) = lent else { break };
        assert_eq!(t.len, bytes.len());
        se.consume_transmit();
        n += 1;
    }
    assert_eq!(n, 8);
    se.consume_transmit();
    assert!(se.peek_transmit().is_none());
}
