//! Registration quotas (per association, per pool) answered with Lack of
//! Resources, and every malformed REGISTRATION answered with its cause.

use std::net::{IpAddr, Ipv4Addr};

use crate::support::registrar::*;
use rserpool::transmit::{Destination, Machine};
use rserpool::wire::{AsapMessage, Protocol};
use rserpool::{CauseCode, Instant};

const T0: Instant = Instant::from_secs(10);

/// Association `assoc` reported up from `remote`.
fn up_from(r: &mut TestRegistrar, assoc: u32, remote: std::net::SocketAddr) {
    r.handle_transport_event(
        T0,
        rserpool::transmit::TransportEvent::Up {
            assoc: a(assoc),
            remote,
            protocol: Protocol::Asap,
            verified: true,
        },
    );
}

/// Port `port` of one PE host, 10.0.0.7.
fn host7(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::new(pe_addr(7).ip(), port)
}

/// The answer to `bytes` over association `assoc`: `Some(None)` accepted,
/// `Some(Some(cause))` rejected, `None` no answer.
fn answer(r: &mut TestRegistrar, assoc: u32, bytes: &[u8]) -> Option<Option<CauseCode>> {
    r.handle(T0, src(assoc), Protocol::Asap, bytes);
    let out = drain(r);
    assert!(out.len() <= 1, "{} answers", out.len());
    let (t, b) = out.into_iter().next()?;
    assert_eq!(t.destination, Destination::Association(a(assoc)));
    match AsapMessage::parse(&b).unwrap() {
        AsapMessage::RegistrationResponse {
            rejected, error, ..
        } => {
            assert_eq!(rejected, error.is_some());
            Some(error.map(|e| e.causes.first().unwrap().code))
        }
        // No valid pool handle to echo: an ASAP_ERROR instead.
        AsapMessage::Error { error } => Some(Some(error.causes.first().unwrap().code)),
        m => panic!("unexpected {m:?}"),
    }
}

/// A REGISTRATION of PE `id` with registration life `life` (which the
/// encoder refuses to emit when below -1).
fn with_life(id: u32, life: i32) -> Vec<u8> {
    const MARK: i32 = 0x0A0B_0C0D;
    let mut m = PeSpec::new(id).life(MARK).registration("p");
    let at = m.windows(4).position(|w| w == MARK.to_be_bytes()).unwrap();
    m[at..at + 4].copy_from_slice(&life.to_be_bytes());
    m
}

#[test]
fn malformed_registrations_are_answered_with_invalid_values() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    let invalid = Some(Some(CauseCode::InvalidValues));
    let mut wide = PeSpec::new(1);
    wide.addrs = (0..17)
        .map(|i| IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)))
        .collect();
    // 17 addresses fit (up to 64 do): answered, and accepted.
    assert_eq!(answer(&mut r, 1, &wide.registration("p")), Some(None));
    let long = "x".repeat(33);
    for (what, bytes) in [
        (
            "empty pool handle",
            with_handle(&PeSpec::new(2).registration("p"), b""),
        ),
        (
            "33-byte pool handle",
            with_handle(&PeSpec::new(3).registration("p"), long.as_bytes()),
        ),
        ("lifetime -2", with_life(4, -2)),
        ("a truncated last parameter", {
            let mut m = PeSpec::new(5).registration("p");
            m.extend_from_slice(&[0x80, 0x77, 0x00, 0x40]);
            let len = m.len() as u16;
            m[2..4].copy_from_slice(&len.to_be_bytes());
            m
        }),
        ("a garbled pool element", {
            // The Pool Element parameter (after the 4-byte header and the
            // padded "p" handle) claims more than the message holds.
            let mut m = PeSpec::new(6).registration("p");
            m[14..16].copy_from_slice(&0x0fffu16.to_be_bytes());
            m
        }),
        ("no parameters at all", vec![0x01, 0x00, 0x00, 0x04]),
    ] {
        assert_eq!(answer(&mut r, 1, &bytes), invalid, "{what}");
    }
    assert_eq!(r.handlespace().len(), 1);
}

#[test]
fn each_association_has_a_registration_quota() {
    let mut c = config();
    c.max_registrations_per_association = Some(3);
    let mut r = registrar(c);
    up(&mut r, T0, 1);
    up(&mut r, T0, 2);
    let lack = Some(Some(CauseCode::LackOfResources));
    for id in 1..=3 {
        assert_eq!(
            answer(&mut r, 1, &PeSpec::new(id).registration("p")),
            Some(None)
        );
    }
    // The fourth new PE is refused; the established ones stay, and may
    // re-register.
    assert_eq!(answer(&mut r, 1, &PeSpec::new(4).registration("q")), lack);
    assert_eq!(r.handlespace().len(), 3);
    assert_eq!(
        answer(&mut r, 1, &PeSpec::new(2).life(60_000).registration("p")),
        Some(None)
    );
    assert_eq!(r.stats().quota_refused, 1);
    // Another association has a quota of its own.
    assert_eq!(
        answer(&mut r, 2, &PeSpec::new(4).registration("p")),
        Some(None)
    );
    // A deregistration makes room.
    r.handle(T0, src(1), Protocol::Asap, &deregistration("p", 1));
    drain(&mut r);
    assert_eq!(
        answer(&mut r, 1, &PeSpec::new(5).registration("p")),
        Some(None)
    );
}

/// Found by the `registrar_steps` fuzz target: a PE re-registering over a
/// second association of its host moved there even when that association
/// had used up its quota (re-registrations skipped the quota), so that one
/// association held more PEs than `max_registrations_per_association`.
#[test]
fn a_pe_moving_to_a_full_association_of_its_host_is_refused() {
    let mut c = config();
    c.max_registrations_per_association = Some(2);
    c.max_registrations_per_host = Some(8);
    let mut r = registrar(c);
    // Associations 1 and 2 from one host (10.0.0.7), different ports.
    for assoc in 1..=2u32 {
        up_from(&mut r, assoc, host7(6000 + assoc as u16));
    }
    for (assoc, id) in [(1, 1), (1, 2), (2, 3), (2, 4)] {
        assert_eq!(
            answer(&mut r, assoc, &PeSpec::new(id).registration("p")),
            Some(None)
        );
    }
    // PE 1 re-registers over association 2, which is full: refused, and it
    // stays where it was.
    assert_eq!(
        answer(&mut r, 2, &PeSpec::new(1).registration("p")),
        Some(Some(CauseCode::LackOfResources))
    );
    let h = rserpool::PoolHandle::new(b"p").unwrap();
    assert_eq!(r.handlespace().lookup(&h, pe(1)).unwrap().assoc(), a(1));
    assert_eq!(r.handlespace().by_association(a(2)).count(), 2);
    // With room there (PE 3 deregistered), it moves.
    r.handle(T0, src(2), Protocol::Asap, &deregistration("p", 3));
    drain(&mut r);
    assert_eq!(
        answer(&mut r, 2, &PeSpec::new(1).registration("p")),
        Some(None)
    );
    assert_eq!(r.handlespace().lookup(&h, pe(1)).unwrap().assoc(), a(2));
    // Re-registering over its own (full) association is never refused.
    assert_eq!(
        answer(&mut r, 2, &PeSpec::new(1).life(60_000).registration("p")),
        Some(None)
    );
    // Moving between associations of one host does not count against the
    // host twice: with a host quota of 3 and three PEs, PE 2 still moves.
    let mut c = config();
    c.max_registrations_per_host = Some(3);
    let mut r = registrar(c);
    for assoc in 1..=2u32 {
        up_from(&mut r, assoc, host7(6000 + assoc as u16));
    }
    for id in 1..=3 {
        assert_eq!(
            answer(&mut r, 1, &PeSpec::new(id).registration("p")),
            Some(None)
        );
    }
    assert_eq!(
        answer(&mut r, 2, &PeSpec::new(2).registration("p")),
        Some(None)
    );
    assert_eq!(r.handlespace().lookup(&h, pe(2)).unwrap().assoc(), a(2));
}

/// Found by the `registrar_steps` fuzz target: an ENDPOINT_KEEP_ALIVE_ACK
/// over a second association of the PE's host binds the PE to that
/// association, which skipped the quota, so that one association gathered
/// more PEs than `max_registrations_per_association`.
#[test]
fn a_keep_alive_ack_does_not_move_a_pe_to_a_full_association() {
    let mut c = config();
    c.max_registrations_per_association = Some(2);
    let mut r = registrar(c);
    for assoc in 1..=2u32 {
        up_from(&mut r, assoc, host7(6000 + assoc as u16));
    }
    for (assoc, id) in [(1, 1), (2, 2), (2, 3)] {
        assert_eq!(
            answer(&mut r, assoc, &PeSpec::new(id).registration("p")),
            Some(None)
        );
    }
    let h = rserpool::PoolHandle::new(b"p").unwrap();
    let ack = emit(&AsapMessage::EndpointKeepAliveAck {
        pool_handle: b"p",
        pe_id: pe(1),
    });
    r.handle(T0, src(2), Protocol::Asap, &ack);
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.handlespace().lookup(&h, pe(1)).unwrap().assoc(), a(1));
    assert_eq!(r.handlespace().by_association(a(2)).count(), 2);
    assert_eq!(r.stats().keep_alive_acks_ignored, 1);
    // With room there, the ACK moves it (the PE answers over either).
    r.handle(T0, src(2), Protocol::Asap, &deregistration("p", 3));
    drain(&mut r);
    r.handle(T0, src(2), Protocol::Asap, &ack);
    assert_eq!(r.handlespace().lookup(&h, pe(1)).unwrap().assoc(), a(2));
    assert_eq!(r.stats().keep_alive_acks, 1);
}

#[test]
fn one_host_has_a_quota_over_all_its_associations() {
    let mut c = config();
    c.max_registrations_per_host = Some(4);
    let mut r = registrar(c);
    // Associations 1..=3 from one host (10.0.0.7), 4 from another.
    for assoc in 1..=3u32 {
        up_from(&mut r, assoc, host7(6000 + assoc as u16));
    }
    up(&mut r, T0, 4);
    let lack = Some(Some(CauseCode::LackOfResources));
    let mut id = 0;
    let mut accepted = 0;
    for round in 0..3 {
        for assoc in 1..=3u32 {
            id += 1;
            let got = answer(&mut r, assoc, &PeSpec::new(id).registration("p"));
            if accepted < 4 {
                assert_eq!(got, Some(None), "round {round} assoc {assoc}");
                accepted += 1;
            } else {
                assert_eq!(got, lack, "round {round} assoc {assoc}");
            }
        }
    }
    assert_eq!(r.handlespace().len(), 4);
    assert_eq!(
        answer(&mut r, 4, &PeSpec::new(100).registration("p")),
        Some(None)
    );
}

#[test]
fn the_host_quota_follows_its_associations_coming_and_going() {
    let mut c = config();
    c.max_registrations_per_host = Some(3);
    c.max_registrations_per_association = None;
    let mut r = registrar(c);
    let lack = Some(Some(CauseCode::LackOfResources));
    up_from(&mut r, 1, host7(6001));
    up_from(&mut r, 2, host7(6002));
    for (assoc, id) in [(1, 1), (1, 2), (2, 3)] {
        assert_eq!(
            answer(&mut r, assoc, &PeSpec::new(id).registration("p")),
            Some(None)
        );
    }
    assert_eq!(answer(&mut r, 1, &PeSpec::new(4).registration("p")), lack);
    // Association 2 goes (with its PE): the host has one association and
    // two PEs left, room for one more.
    r.handle_transport_event(T0, rserpool::transmit::TransportEvent::Down { assoc: a(2) });
    assert_eq!(
        answer(&mut r, 1, &PeSpec::new(4).registration("p")),
        Some(None)
    );
    assert_eq!(answer(&mut r, 1, &PeSpec::new(5).registration("p")), lack);
    // An association id reported up again from another host counts there:
    // the first host still has association 1 only, and is full.
    up_from(&mut r, 2, host7(6002));
    up_from(&mut r, 2, std::net::SocketAddr::new(pe_addr(8).ip(), 6002));
    assert_eq!(answer(&mut r, 1, &PeSpec::new(6).registration("p")), lack);
    assert_eq!(
        answer(&mut r, 2, &PeSpec::new(7).registration("p")),
        Some(None)
    );
    assert_eq!(r.handlespace().len(), 4);
}

#[test]
fn a_full_pool_refuses_the_newcomer_and_keeps_its_elements() {
    let mut c = config();
    c.max_pool_elements = Some(2);
    let mut r = registrar(c);
    for assoc in 1..=4 {
        up(&mut r, T0, assoc);
    }
    assert_eq!(
        answer(&mut r, 1, &PeSpec::new(1).registration("p")),
        Some(None)
    );
    assert_eq!(
        answer(&mut r, 2, &PeSpec::new(2).registration("p")),
        Some(None)
    );
    assert_eq!(
        answer(&mut r, 3, &PeSpec::new(3).registration("p")),
        Some(Some(CauseCode::LackOfResources))
    );
    let h = rserpool::PoolHandle::new(b"p").unwrap();
    assert!(r.handlespace().lookup(&h, pe(1)).is_some());
    assert!(r.handlespace().lookup(&h, pe(2)).is_some());
    assert!(r.handlespace().lookup(&h, pe(3)).is_none());
    // Other pools are not affected.
    assert_eq!(
        answer(&mut r, 4, &PeSpec::new(4).registration("q")),
        Some(None)
    );
}

#[test]
fn the_quotas_have_explicit_defaults() {
    let c = rserpool::registrar::RegistrarConfig::default();
    assert_eq!(c.max_registrations_per_association, Some(256));
    assert_eq!(c.max_registrations_per_host, Some(1024));
    assert_eq!(c.max_pool_elements, None);
    assert!(!c.allow_foreign_addresses);
}
