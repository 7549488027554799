//! The session layer end to end over a virtual network with a real
//! registrar: connect, raw messages with PPIDs, failover for every reason,
//! cookies, business cards, the resend policy, the registrar's loss.

use crate::support::session::*;
use rserpool::session::user::{Event, SessionState};
use rserpool::session::{
    CloseReason, FailoverReason, Requester, RequesterEvent, ResendPolicy, SessionError, SessionId,
};
use rserpool::transmit::TransportEvent;
use rserpool::{CauseCode, Duration, PeId, PoolHandle};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A network whose `n` PEs are registered.
fn ready(n: usize, resend: ResendPolicy) -> Net {
    let mut net = Net::new(n, resend);
    net.run(secs(2));
    for k in 0..n {
        assert!(net.registered(k), "PE {k} registered");
    }
    net
}

/// Opens a session and runs until it is connected; returns it and its PE.
fn connected(net: &mut Net) -> (SessionId, PeId) {
    let now = net.now;
    let s = net.user().connect(now, pool()).unwrap();
    net.run(secs(1));
    match net.user().state(s) {
        Some(SessionState::Connected { pe, .. }) => (s, pe),
        other => panic!("not connected: {other:?}"),
    }
}

fn pe_number(pe: PeId) -> usize {
    pe.get() as usize - 1
}

fn send(net: &mut Net, s: SessionId, ppid: u32, bytes: &[u8]) -> u64 {
    let now = net.now;
    net.user().send(now, s, ppid, bytes).unwrap()
}

#[test]
fn messages_pass_byte_for_byte_with_their_ppid() {
    let mut net = ready(2, ResendPolicy::None);
    let now = net.now;
    let s = net.user().connect(now, pool()).unwrap();
    // Sent before the session has a PE: they wait.
    send(&mut net, s, 47, b"hello");
    send(&mut net, s, 0, &[0, 11, 12, 255]);
    assert_eq!(net.user().queued(s), 2);
    net.run(secs(1));
    let Some(SessionState::Connected { pe, .. }) = net.user().state(s) else {
        panic!("not connected")
    };
    assert!(net.user_events.contains(&Event::Connected {
        session: s,
        pe,
        failover: false
    }));
    let got = net.element_messages(pe_number(pe));
    let sent: Vec<(u32, Vec<u8>)> = got.iter().map(|(_, p, b)| (*p, b.clone())).collect();
    assert_eq!(
        sent,
        vec![(47, b"hello".to_vec()), (0, vec![0, 11, 12, 255])]
    );
    // The echoes come back with the same PPIDs.
    let back: Vec<(SessionId, u32, Vec<u8>)> = net.user_received.clone();
    assert_eq!(
        back,
        vec![(s, 47, b"hello".to_vec()), (s, 0, vec![0, 11, 12, 255])]
    );
    // PPID 11 is ASAP's.
    assert_eq!(
        net.user().send(now, s, 11, b"x"),
        Err(SessionError::ReservedPpid)
    );
}

#[test]
fn an_unknown_pool_closes_the_session_with_the_registrars_cause() {
    let mut net = ready(1, ResendPolicy::None);
    let now = net.now;
    let s = net
        .user()
        .connect(now, PoolHandle::new(b"NoSuchPool").unwrap())
        .unwrap();
    net.run(secs(1));
    assert!(net.user_events.contains(&Event::Closed {
        session: s,
        reason: CloseReason::NoPoolElement {
            cause: Some(CauseCode::UnknownPoolHandle)
        }
    }));
    assert_eq!(net.user().state(s), None);
    assert_eq!(
        net.user().send(now, s, 1, b"x"),
        Err(SessionError::UnknownSession)
    );
}

/// Without a registrar, each failed resolution is told to the
/// application (no cause: nobody answered) while the session goes on
/// trying.
#[test]
fn a_session_without_registrar_reports_each_failed_resolution() {
    let mut net = ready(1, ResendPolicy::None);
    net.crash(REGISTRAR);
    let now = net.now;
    let s = net.user().connect(now, pool()).unwrap();
    // rsplib: T1 3 s, one try; then the retry interval (1 s).
    net.run(secs(5));
    let failed: Vec<&Event> = net
        .user_events
        .iter()
        .filter(|e| matches!(e, Event::ResolutionFailed { .. }))
        .collect();
    assert!(!failed.is_empty(), "{:?}", net.user_events);
    assert!(failed.iter().all(|e| **e
        == Event::ResolutionFailed {
            session: s,
            cause: None
        }));
    assert_eq!(net.user().state(s), Some(SessionState::Resolving));
    // The registrar comes back: the session gets its PE.
    net.restart(REGISTRAR);
    net.run(secs(10));
    assert!(matches!(
        net.user().state(s),
        Some(SessionState::Connected { .. })
    ));
}

/// `resolve` gives the pool's PEs from the cache, resolving first when
/// needed; the resolution's end reaches the application, before the
/// events of the sessions it concerns.
#[test]
fn resolve_reads_the_cache_and_the_resolution_is_told() {
    let mut net = ready(2, ResendPolicy::None);
    let now = net.now;
    assert_eq!(
        net.user().resolve(now, &pool()),
        Err(rserpool::pool_user::PoolUserError::WouldBlock)
    );
    let s = net.user().connect(now, pool()).unwrap();
    net.run(secs(1));
    let resolved = net
        .user_events
        .iter()
        .position(|e| {
            matches!(
                e,
                Event::PoolUser(rserpool::pool_user::Event::Resolved { elements: 2, .. })
            )
        })
        .expect("the resolution is told");
    let connected = net
        .user_events
        .iter()
        .position(|e| matches!(e, Event::Connected { session, .. } if *session == s))
        .unwrap();
    assert!(resolved < connected);
    let now = net.now;
    assert_eq!(net.user().resolve(now, &pool()), Ok(2));
    let mut ids: Vec<PeId> = net
        .user()
        .pool_user()
        .elements(&pool())
        .map(|e| e.pe_id)
        .collect();
    ids.sort();
    assert_eq!(ids, vec![pe_id(0), pe_id(1)]);
    assert!(net
        .user()
        .pool_user()
        .elements(&pool())
        .all(|e| e.transport.addresses.len() == 1 && e.policy.is_some()));
}

#[test]
fn a_full_session_table_refuses_the_newcomer() {
    let mut net = ready(1, ResendPolicy::None);
    let now = net.now;
    let ids: Vec<SessionId> = (0..4)
        .map(|_| net.user().connect(now, pool()).unwrap())
        .collect();
    assert_eq!(
        net.user().connect(now, pool()),
        Err(SessionError::TableFull)
    );
    net.run(secs(1));
    // The established ones are untouched.
    for s in &ids {
        assert!(matches!(
            net.user().state(*s),
            Some(SessionState::Connected { .. })
        ));
    }
    net.user().close(now, ids[0]).unwrap();
    assert!(net.user().connect(now, pool()).is_ok());
}

#[test]
fn a_crashed_pe_fails_over_and_the_cookie_is_echoed_first() {
    let mut net = ready(2, ResendPolicy::None);
    for n in 0..2 {
        net.element(n).1.cookie = Some(format!("state of PE {n}").into_bytes());
    }
    let (s, pe) = connected(&mut net);
    let first = pe_number(pe);
    assert!(net
        .user_events
        .contains(&Event::CookieReceived { session: s }));
    let cookie = format!("state of PE {first}").into_bytes();
    assert_eq!(net.user().cookie(s), Some(&cookie[..]));
    net.crash(element(first));
    // Sent while failing over: it waits for the next PE.
    send(&mut net, s, 5, b"after the crash");
    net.run(secs(1));
    let other = 1 - first;
    assert!(net.user_events.contains(&Event::Failover {
        session: s,
        from: pe,
        reason: FailoverReason::AssociationDown
    }));
    assert!(net.user_events.contains(&Event::Connected {
        session: s,
        pe: pe_id(other),
        failover: true
    }));
    let app = &net.element(other).1;
    assert_eq!(app.echoed.len(), 1);
    assert_eq!(app.echoed[0].1, cookie);
    // COOKIE_ECHO before the first message on the new association.
    let mine: Vec<&str> = app
        .order
        .iter()
        .filter(|(x, _)| *x == app.echoed[0].0)
        .map(|(_, e)| *e)
        .collect();
    assert_eq!(mine, vec!["accepted", "echo", "message"]);
    assert_eq!(app.received[0].2, b"after the crash");
    // One ENDPOINT_UNREACHABLE.
    assert_eq!(net.user().pool_user().unreachable_reports(), 1);
}

#[test]
fn without_a_cookie_nothing_is_echoed() {
    let mut net = ready(2, ResendPolicy::None);
    let (s, pe) = connected(&mut net);
    net.crash(element(pe_number(pe)));
    net.run(secs(1));
    assert!(matches!(
        net.user().state(s),
        Some(SessionState::Connected { .. })
    ));
    let other = 1 - pe_number(pe);
    assert!(net.element(other).1.echoed.is_empty());
}

#[test]
fn the_application_can_fail_over() {
    let mut net = ready(2, ResendPolicy::None);
    let (s, pe) = connected(&mut net);
    let now = net.now;
    net.user().failover(now, s, true).unwrap();
    net.run(secs(1));
    assert!(net.user_events.contains(&Event::Failover {
        session: s,
        from: pe,
        reason: FailoverReason::Application
    }));
    let Some(SessionState::Connected { pe: next, .. }) = net.user().state(s) else {
        panic!("not connected")
    };
    assert_ne!(next, pe);
    // The old association was shut down: the old PE's session is closed.
    let old = &net.element(pe_number(pe)).1;
    assert!(old.order.iter().any(|(_, e)| *e == "closed"));
}

#[test]
fn a_send_failure_fails_over_and_shuts_the_association_down() {
    let mut net = ready(2, ResendPolicy::None);
    let (s, pe) = connected(&mut net);
    let Some(SessionState::Connected { assoc, .. }) = net.user().state(s) else {
        panic!()
    };
    let now = net.now;
    net.user()
        .handle_transport_event(now, TransportEvent::SendFailed { assoc });
    net.run(secs(1));
    assert!(net.user_events.contains(&Event::Failover {
        session: s,
        from: pe,
        reason: FailoverReason::SendFailed
    }));
    assert!(net
        .element(pe_number(pe))
        .1
        .order
        .iter()
        .any(|(_, e)| *e == "closed"));
}

#[test]
fn a_failed_connect_fails_over() {
    let mut net = ready(2, ResendPolicy::None);
    // PE 0 dies before anyone connects; the registrar still lists it.
    net.crash(element(0));
    let now = net.now;
    let s = net.user().connect(now, pool()).unwrap();
    net.run(secs(1));
    let Some(SessionState::Connected { pe, .. }) = net.user().state(s) else {
        panic!("not connected")
    };
    assert_eq!(pe, pe_id(1));
    let failed_connects = net
        .user_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Failover {
                    reason: FailoverReason::ConnectFailed,
                    ..
                }
            )
        })
        .count();
    // Round robin may have tried PE 0 first, or not.
    assert!(failed_connects <= 1);
    // Now fail the one it has: PE 0 is either reported already or tried next.
    net.crash(element(1));
    net.restart(element(0));
    net.run(secs(3));
    assert!(matches!(
        net.user().state(s),
        Some(SessionState::Connected { pe, .. }) if pe == pe_id(0)
    ));
}

#[test]
fn the_business_card_sets_the_failover_order() {
    let mut net = ready(3, ResendPolicy::None);
    // Every PE says: after me, PE 2, then PE 1, then PE 0.
    for n in 0..3 {
        let mut card = vec![n];
        card.extend([2, 1, 0].into_iter().filter(|&k| k != n));
        net.element(n).1.card = Some(card);
    }
    let (s, pe) = connected(&mut net);
    assert!(net
        .user_events
        .contains(&Event::BusinessCard { session: s }));
    let first = pe_number(pe);
    net.crash(element(first));
    net.run(secs(1));
    let expected = [2usize, 1, 0].into_iter().find(|&k| k != first).unwrap();
    assert!(matches!(
        net.user().state(s),
        Some(SessionState::Connected { pe, .. }) if pe == pe_id(expected)
    ));
}

#[test]
fn resend_last_n_resends_the_unacknowledged_only_once() {
    let mut net = ready(2, ResendPolicy::LastUnacknowledged(2));
    for n in 0..2 {
        net.element(n).1.echo = false;
    }
    let (s, pe) = connected(&mut net);
    let first = pe_number(pe);
    for k in 0..4 {
        send(&mut net, s, 9, &body(k, 4));
    }
    net.run(secs(1));
    assert_eq!(net.element_messages(first).len(), 4);
    // Only the last two are kept; the application answers #2.
    assert_eq!(net.user().unacknowledged(s), 2);
    net.user().acknowledge(s, 2).unwrap();
    assert_eq!(net.user().unacknowledged(s), 1);
    net.crash(element(first));
    send(&mut net, s, 9, &body(4, 4));
    net.run(secs(1));
    let got: Vec<Vec<u8>> = net
        .element_messages(1 - first)
        .into_iter()
        .map(|(_, _, b)| b)
        .collect();
    // #3 again (unacknowledged), then #4 (never sent); nothing twice.
    assert_eq!(got, vec![body(3, 4), body(4, 4)]);
    // A second failover resends them once more, to the next PE, not twice.
    net.restart(element(first));
    net.run(secs(2));
    net.crash(element(1 - first));
    net.run(secs(2));
    let again: Vec<Vec<u8>> = net
        .element_messages(first)
        .into_iter()
        .map(|(_, _, b)| b)
        .skip(4)
        .collect();
    assert_eq!(again, vec![body(3, 4), body(4, 4)]);
}

#[test]
fn without_resend_messages_handed_over_are_not_sent_again() {
    let mut net = ready(2, ResendPolicy::None);
    for n in 0..2 {
        net.element(n).1.echo = false;
    }
    let (s, pe) = connected(&mut net);
    send(&mut net, s, 9, b"one");
    send(&mut net, s, 9, b"two");
    net.run(secs(1));
    assert_eq!(net.user().unacknowledged(s), 0);
    net.crash(element(pe_number(pe)));
    net.run(secs(1));
    assert!(net.element_messages(1 - pe_number(pe)).is_empty());
    send(&mut net, s, 9, b"three");
    net.run(secs(1));
    let got: Vec<Vec<u8>> = net
        .element_messages(1 - pe_number(pe))
        .into_iter()
        .map(|(_, _, b)| b)
        .collect();
    assert_eq!(got, vec![b"three".to_vec()]);
}

#[test]
fn the_session_survives_the_registrars_crash() {
    let mut net = ready(2, ResendPolicy::None);
    let (s, pe) = connected(&mut net);
    net.crash(REGISTRAR);
    send(&mut net, s, 1, b"still there");
    net.run(secs(1));
    assert_eq!(net.user_received.last().unwrap().2, b"still there");
    // A PE crash while the registrar is away: the cached other PE takes over.
    net.crash(element(pe_number(pe)));
    net.run(secs(1));
    assert!(matches!(
        net.user().state(s),
        Some(SessionState::Connected { pe: p, .. }) if p != pe
    ));
    send(&mut net, s, 1, b"on the other");
    net.run(secs(1));
    assert_eq!(net.user_received.last().unwrap().2, b"on the other");
    // The registrar comes back; the report waiting for it is sent.
    net.restart(REGISTRAR);
    net.run(secs(10));
    assert_eq!(net.user().pool_user().unreachable_reports(), 1);
}

#[test]
fn sessions_close_after_too_many_failovers() {
    let mut net = ready(2, ResendPolicy::None);
    let (s, _) = connected(&mut net);
    net.crash(element(0));
    net.crash(element(1));
    net.run(secs(60));
    let closed: Vec<&Event> = net
        .user_events
        .iter()
        .filter(|e| matches!(e, Event::Closed { session, .. } if *session == s))
        .collect();
    assert_eq!(closed.len(), 1);
    assert!(matches!(
        closed[0],
        Event::Closed {
            reason: CloseReason::FailoverLimit | CloseReason::NoPoolElement { cause: None },
            ..
        }
    ));
    let failovers = net
        .user_events
        .iter()
        .filter(|e| matches!(e, Event::Failover { .. }))
        .count();
    assert!(failovers <= 9, "{failovers} failovers");
    assert_eq!(net.user().state(s), None);
}

#[test]
fn the_requester_retries_on_another_pe() {
    let mut net = ready(2, ResendPolicy::LastUnacknowledged(1));
    let (s, pe) = connected(&mut net);
    // The PE in use does not answer.
    net.element(pe_number(pe)).1.echo = false;
    let mut r = Requester::new(s, secs(2), 3);
    let now = net.now;
    let seq = {
        let su = net.user();
        r.request(su, now, 7, &body(0, 3)).unwrap()
    };
    assert_eq!(r.request(net.user(), now, 7, b"x"), Err(SessionError::Busy));
    let mut done = None;
    for _ in 0..10 {
        net.run(secs(1));
        let events = std::mem::take(&mut net.user_received);
        for (session, ppid, len) in events.iter().map(|(s, p, b)| (*s, *p, b.len())) {
            let e = Event::Message { session, ppid, len };
            if let Some(x) = r.on_event(net.user(), &e) {
                done = Some(x);
            }
        }
        let now = net.now;
        if r.poll_timeout().is_some_and(|t| t <= now) {
            assert!(r.handle_timeout(net.user(), now).is_none());
        }
        if done.is_some() {
            break;
        }
    }
    assert_eq!(done, Some(RequesterEvent::Answered { seq, timeouts: 1 }));
    assert_eq!(net.user().unacknowledged(s), 0);
    assert!(net.user_events.contains(&Event::Failover {
        session: s,
        from: pe,
        reason: FailoverReason::Application
    }));
}

#[test]
fn the_requester_gives_up_after_its_attempts() {
    let mut net = ready(2, ResendPolicy::LastUnacknowledged(1));
    for n in 0..2 {
        net.element(n).1.echo = false;
    }
    let (s, _) = connected(&mut net);
    let mut r = Requester::new(s, secs(2), 2);
    let now = net.now;
    let seq = r.request(net.user(), now, 7, &body(0, 3)).unwrap();
    let mut done = None;
    for _ in 0..10 {
        net.run(secs(1));
        let now = net.now;
        if r.poll_timeout().is_some_and(|t| t <= now) {
            done = r.handle_timeout(net.user(), now);
        }
        if done.is_some() {
            break;
        }
    }
    assert_eq!(done, Some(RequesterEvent::TimedOut { seq }));
    assert!(!r.is_pending());
    // Given up: not sent again at the next failover.
    assert_eq!(net.user().unacknowledged(s), 0);
    assert_eq!(net.user().queued(s), 0);
    // Without a resend policy the helper refuses to start.
    let mut net = ready(1, ResendPolicy::None);
    let (s, _) = connected(&mut net);
    let now = net.now;
    let mut r = Requester::new(s, secs(2), 2);
    assert_eq!(
        r.request(net.user(), now, 7, b"x"),
        Err(SessionError::ResendNeeded)
    );
}
