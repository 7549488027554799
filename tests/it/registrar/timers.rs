//! Every timer path: keep-alive transmission with its ±45 % spread in ten steps,
//! keep-alive timeout, lifetime expiry (alone and bounding keep-alive),
//! server announce.

use crate::support::registrar::*;
use rserpool::addr::TransportProtocol;
use rserpool::handlespace::PeTimerKind;
use rserpool::registrar::{AnnounceTransport, Event, RemovalReason};
use rserpool::transmit::{Destination, Machine};
use rserpool::wire::{AsapMessage, Protocol};
use rserpool::{Duration, Instant, PoolHandle};

const T0: Instant = Instant::from_secs(100);

fn handle() -> PoolHandle {
    PoolHandle::new(b"ka").unwrap()
}

fn timer_of(r: &TestRegistrar, id: u32) -> Option<(PeTimerKind, Instant)> {
    r.handlespace().lookup(&handle(), pe(id)).unwrap().timer()
}

#[test]
fn keep_alive_interval_is_spread_in_ten_steps() {
    let mut r = registrar(config()); // 5 s interval
    let mut steps = [0u32; 10];
    // The test registrar holds 64 PEs and knows 16 associations: PEs
    // share them.
    for i in 1..=64u32 {
        let assoc = (i - 1) % 16 + 1;
        if i <= 16 {
            up(&mut r, T0, assoc);
        }
        register_ok(&mut r, T0, assoc, "ka", &PeSpec::new(i));
        let (kind, at) = timer_of(&r, i).unwrap();
        assert_eq!(kind, PeTimerKind::KeepAliveTransmission);
        // 2.75 s, 3.25 s, …, 7.25 s: (0.55 + k / 10) × 5 s.
        let ms = at.saturating_duration_since(T0).as_millis();
        assert!(
            (2_750..=7_250).contains(&ms) && (ms - 2_750) % 500 == 0,
            "{ms} ms"
        );
        steps[((ms - 2_750) / 500) as usize] += 1;
    }
    // Every step is drawn, none much more often than the others.
    assert!(steps.iter().all(|&n| (1..=16).contains(&n)), "{steps:?}");
    let below: u32 = steps[..5].iter().sum();
    assert!(
        (20..=44).contains(&below),
        "roughly half below the mean: {below}"
    );
    r.handlespace().check().unwrap();
}

#[test]
fn keep_alive_is_sent_answered_and_rescheduled() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    register_ok(&mut r, T0, 1, "ka", &PeSpec::new(1));
    let (_, first) = timer_of(&r, 1).unwrap();
    assert_eq!(r.poll_timeout(), Some(first));
    // Not yet.
    r.handle_timeout(first - Duration::from_micros(1));
    assert!(drain(&mut r).is_empty());
    r.handle_timeout(first);
    let b = one(&mut r, Destination::Association(a(1)));
    match AsapMessage::parse(&b).unwrap() {
        AsapMessage::EndpointKeepAlive {
            home,
            server_id: s,
            pool_handle,
            pe_id,
        } => {
            assert!(!home);
            assert_eq!(s, server_id());
            assert_eq!(pool_handle, b"ka");
            assert_eq!(pe_id, Some(pe(1)));
        }
        m => panic!("{m:?}"),
    }
    assert_eq!(
        timer_of(&r, 1),
        Some((
            PeTimerKind::KeepAliveTimeout,
            first + Duration::from_secs(5)
        ))
    );
    // An ACK with the wrong PE id or over another association does not count.
    let later = first + Duration::from_secs(1);
    r.handle(later, src(2), Protocol::Asap, &keep_alive_ack("ka", 1));
    r.handle(later, src(1), Protocol::Asap, &keep_alive_ack("ka", 2));
    r.handle(later, src(1), Protocol::Asap, &keep_alive_ack("other", 1));
    assert_eq!(r.stats().keep_alive_acks_ignored, 3);
    assert_eq!(timer_of(&r, 1).unwrap().0, PeTimerKind::KeepAliveTimeout);
    // The right one reschedules the next transmission.
    r.handle(later, src(1), Protocol::Asap, &keep_alive_ack("ka", 1));
    assert_eq!(r.stats().keep_alive_acks, 1);
    let (kind, next) = timer_of(&r, 1).unwrap();
    assert_eq!(kind, PeTimerKind::KeepAliveTransmission);
    let d = next.saturating_duration_since(later);
    assert!(d >= Duration::from_millis(2_500) && d < Duration::from_millis(7_500));
    assert!(drain(&mut r).is_empty());
    // Answering PEs stay (until their registration life, 300 s).
    let sent = run_answering(&mut r, T0 + Duration::from_secs(250));
    assert!(sent.len() >= 250 / 8, "{} keep-alives", sent.len());
    assert_eq!(r.handlespace().len(), 1);
}

#[test]
fn keep_alive_timeout_removes_the_pe() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    register_ok(&mut r, T0, 1, "ka", &PeSpec::new(1));
    let (_, first) = timer_of(&r, 1).unwrap();
    let sent = run_until(&mut r, first + Duration::from_secs(5));
    assert_eq!(sent.len(), 1, "one keep-alive, nothing on removal");
    assert!(r.handlespace().is_empty());
    assert_eq!(r.owned_count(), 0);
    match events(&mut r).as_slice() {
        [Event::PoolElementRemoved {
            pe: rec,
            reason: RemovalReason::KeepAliveTimeout,
        }] => {
            assert_eq!(rec.pe_id, pe(1))
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(r.stats().removed_keep_alive, 1);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn lifetime_expiry_sends_deregistration_response_without_keep_alive() {
    let mut c = config();
    c.keep_alive_interval = None;
    let mut r = registrar(c);
    up(&mut r, T0, 1);
    register_ok(&mut r, T0, 1, "ka", &PeSpec::new(1).life(30_000));
    assert_eq!(
        timer_of(&r, 1),
        Some((PeTimerKind::LifetimeExpiry, T0 + Duration::from_secs(30)))
    );
    // Re-registration restarts the life.
    let t1 = T0 + Duration::from_secs(20);
    register_ok(&mut r, t1, 1, "ka", &PeSpec::new(1).life(30_000));
    assert_eq!(r.poll_timeout(), Some(t1 + Duration::from_secs(30)));
    let sent = run_until(&mut r, t1 + Duration::from_secs(60));
    assert_eq!(sent.len(), 1);
    let (at, t, b) = &sent[0];
    assert_eq!(*at, t1 + Duration::from_secs(30));
    assert_eq!(t.destination, Destination::Association(a(1)));
    match AsapMessage::parse(b).unwrap() {
        AsapMessage::DeregistrationResponse {
            pool_handle,
            pe_id,
            error,
        } => {
            assert_eq!(pool_handle, b"ka");
            assert_eq!(pe_id, pe(1));
            assert!(error.is_none());
        }
        m => panic!("{m:?}"),
    }
    assert!(matches!(
        events(&mut r).as_slice(),
        [Event::PoolElementRemoved {
            reason: RemovalReason::LifetimeExpired,
            ..
        }]
    ));
    assert!(r.handlespace().is_empty());
    assert_eq!(r.stats().removed_lifetime, 1);
}

#[test]
fn infinite_life_without_keep_alive_has_no_timer() {
    let mut c = config();
    c.keep_alive_interval = None;
    let mut r = registrar(c);
    up(&mut r, T0, 1);
    register_ok(&mut r, T0, 1, "ka", &PeSpec::new(1).life(-1));
    assert_eq!(timer_of(&r, 1), None);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn lifetime_bounds_keep_alive() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    // Shorter than the shortest keep-alive interval: the lifetime is the timer.
    register_ok(&mut r, T0, 1, "ka", &PeSpec::new(1).life(2_000));
    assert_eq!(
        timer_of(&r, 1),
        Some((PeTimerKind::LifetimeExpiry, T0 + Duration::from_secs(2)))
    );
    // A PE that answers keep-alives still goes when its life runs out.
    up(&mut r, T0, 2);
    register_ok(&mut r, T0, 2, "ka", &PeSpec::new(2).life(20_000));
    assert_eq!(
        r.lifetime_deadline(&handle(), pe(2)),
        Some(T0 + Duration::from_secs(20))
    );
    let sent = run_answering(&mut r, T0 + Duration::from_secs(40));
    let keep_alives = sent
        .iter()
        .filter(|(_, _, b)| {
            matches!(
                AsapMessage::parse(b).unwrap(),
                AsapMessage::EndpointKeepAlive { .. }
            )
        })
        .count();
    assert!(keep_alives >= 2, "{keep_alives}");
    let deregs: Vec<_> = sent
        .iter()
        .filter(|(_, _, b)| {
            matches!(
                AsapMessage::parse(b).unwrap(),
                AsapMessage::DeregistrationResponse { .. }
            )
        })
        .map(|(at, t, _)| (*at, t.destination))
        .collect();
    assert_eq!(
        deregs,
        vec![
            (T0 + Duration::from_secs(2), Destination::Association(a(1))),
            (T0 + Duration::from_secs(20), Destination::Association(a(2)))
        ]
    );
    assert!(r.handlespace().is_empty());
}

#[test]
fn server_announce_every_t6() {
    let mut c = config();
    c.announce = true;
    c.announce_transports.push(AnnounceTransport {
        protocol: TransportProtocol::Sctp,
        port: 3863,
        addresses: [pe_addr(200).ip(), pe_addr(201).ip()].into_iter().collect(),
    });
    c.announce_transports.push(AnnounceTransport {
        protocol: TransportProtocol::Tcp,
        port: 3863,
        addresses: [pe_addr(200).ip()].into_iter().collect(),
    });
    let mut r = registrar(c);
    assert_eq!(r.poll_timeout(), Some(Instant::ZERO));
    let sent = run_until(&mut r, T0 + Duration::from_millis(3_500));
    // The first is due at once (Instant::ZERO), then one every second.
    assert_eq!(sent.len(), 104);
    assert_eq!(sent[0].0, Instant::ZERO);
    for w in sent.windows(2) {
        assert_eq!(
            w[1].0.saturating_duration_since(w[0].0),
            Duration::from_secs(1)
        );
    }
    for (_, t, b) in &sent {
        assert_eq!(t.destination, Destination::Multicast);
        match AsapMessage::parse(b).unwrap() {
            AsapMessage::ServerAnnounce {
                server_id: s,
                transports,
            } => {
                assert_eq!(s, server_id());
                let ts = list_vec(&transports);
                assert_eq!(ts.len(), 2);
                assert_eq!(ts[0].protocol, TransportProtocol::Sctp);
                assert_eq!(ts[0].addresses.len(), 2);
                assert_eq!(ts[1].protocol, TransportProtocol::Tcp);
            }
            m => panic!("{m:?}"),
        }
    }
    assert_eq!(r.stats().announces as usize, sent.len());
    // Disabled: nothing, no deadline.
    let mut r = registrar(config());
    assert_eq!(r.poll_timeout(), None);
    assert!(run_until(&mut r, T0).is_empty());
}

#[test]
fn announce_starts_at_the_first_timeout() {
    let mut c = config();
    c.announce = true;
    let mut r = registrar(c);
    r.handle_timeout(T0);
    let b = one(&mut r, Destination::Multicast);
    assert!(
        matches!(AsapMessage::parse(&b).unwrap(), AsapMessage::ServerAnnounce { transports, .. } if transports.is_empty())
    );
    assert_eq!(r.poll_timeout(), Some(T0 + Duration::from_secs(1)));
    r.handle_timeout(T0 + Duration::from_millis(999));
    assert!(drain(&mut r).is_empty());
}

#[test]
fn announce_interval_can_follow_the_registrar_count() {
    let mut c = config();
    c.announce = true;
    let mut r = registrar(c);
    r.handle_timeout(T0);
    drain(&mut r);
    // Two other registrars heard: (2 + 1) x T6.
    r.set_announce_interval(Duration::from_secs(3));
    assert_eq!(r.poll_timeout(), Some(T0 + Duration::from_secs(3)));
    let sent = run_until(&mut r, T0 + Duration::from_secs(9));
    let at: Vec<Instant> = sent.iter().map(|(t, _, _)| *t).collect();
    assert_eq!(
        at,
        vec![
            T0 + Duration::from_secs(3),
            T0 + Duration::from_secs(6),
            T0 + Duration::from_secs(9)
        ]
    );
}
