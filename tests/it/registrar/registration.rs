//! Registration, re-registration, deregistration and handle resolution.

use crate::support::registrar::*;
use rserpool::addr::TransportProtocol;
use rserpool::registrar::{Event, RemovalReason};
use rserpool::transmit::{Destination, Machine};
use rserpool::wire::{AsapMessage, PolicyParam, Protocol};
use rserpool::{CauseCode, Instant, Policy, PoolHandle};

#[test]
fn registers_and_resolves() {
    let mut r = registrar(config());
    let t0 = Instant::from_secs(1);
    up(&mut r, t0, 1);
    r.handle(
        t0,
        src(1),
        Protocol::Asap,
        &PeSpec::new(11).registration("echo"),
    );
    let b = one(&mut r, Destination::Association(a(1)));
    match AsapMessage::parse(&b).unwrap() {
        AsapMessage::RegistrationResponse {
            rejected,
            pool_handle,
            pe_id,
            error,
        } => {
            assert!(!rejected);
            assert_eq!(pool_handle, b"echo");
            assert_eq!(pe_id, pe(11));
            assert!(error.is_none());
        }
        m => panic!("{m:?}"),
    }
    // The ENRP hook: the full PE, owned here, with the association's address
    // as ASAP transport.
    match events(&mut r).as_slice() {
        [Event::PoolElementRegistered { pe: rec, new: true }] => {
            assert_eq!(rec.pe_id, pe(11));
            assert_eq!(rec.home_registrar, Some(server_id()));
            let asap = rec.asap_transport.as_ref().unwrap();
            assert_eq!(asap.protocol, TransportProtocol::Sctp);
            assert_eq!(asap.port, pe_addr(1).port());
            assert_eq!(asap.addresses.as_slice(), &[pe_addr(1).ip()]);
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(r.stats().registrations, 1);
    assert_eq!(r.owned_count(), 1);

    // Resolution from a pool user over another association.
    up(&mut r, t0, 9);
    r.handle(t0, src(9), Protocol::Asap, &resolution("echo", None));
    let b = one(&mut r, Destination::Association(a(9)));
    match AsapMessage::parse(&b).unwrap() {
        AsapMessage::HandleResolutionResponse {
            pool_handle,
            policy,
            elements,
            error,
            ..
        } => {
            assert_eq!(pool_handle, b"echo");
            assert_eq!(policy, Some(PolicyParam::Known(Policy::RoundRobin)));
            assert!(error.is_none());
            let pes = list_vec(&elements);
            assert_eq!(pes.len(), 1);
            assert_eq!(pes[0].pe_id, pe(11));
            assert_eq!(pes[0].home_server, Some(server_id()));
            let asap = pes[0].asap_transport.unwrap();
            assert_eq!(
                asap.addresses.iter().collect::<Vec<_>>(),
                vec![pe_addr(1).ip()]
            );
        }
        m => panic!("{m:?}"),
    }
    assert_eq!(r.stats().resolutions, 1);
}

#[test]
fn resolution_honours_item_count_and_maximum() {
    let mut r = registrar(config()); // rsplib: at most 3
    let t0 = Instant::from_secs(1);
    for i in 1..=6u32 {
        up(&mut r, t0, i);
        register_ok(&mut r, t0, i, "pool", &PeSpec::new(i));
    }
    up(&mut r, t0, 40);
    let count = |r: &mut TestRegistrar, items| {
        r.handle(t0, src(40), Protocol::Asap, &resolution("pool", items));
        let b = one(r, Destination::Association(a(40)));
        match AsapMessage::parse(&b).unwrap() {
            AsapMessage::HandleResolutionResponse { elements, .. } => elements.len(),
            m => panic!("{m:?}"),
        }
    };
    assert_eq!(count(&mut r, None), 3);
    assert_eq!(count(&mut r, Some(2)), 2);
    assert_eq!(count(&mut r, Some(1)), 1);
    assert_eq!(count(&mut r, Some(100)), 3);
    assert_eq!(count(&mut r, Some(0xFFFF_FFFF)), 3);
    let mut c = config();
    c.max_handle_resolution_items = 100;
    let mut r2 = registrar(c);
    for i in 1..=6u32 {
        up(&mut r2, t0, i);
        register_ok(&mut r2, t0, i, "pool", &PeSpec::new(i));
    }
    up(&mut r2, t0, 40);
    assert_eq!(count(&mut r2, None), 6);
    assert_eq!(count(&mut r2, Some(4)), 4);
}

#[test]
fn round_robin_resolution_rotates() {
    let mut c = config();
    c.max_handle_resolution_items = 1;
    let mut r = registrar(c);
    let t0 = Instant::from_secs(1);
    for i in 1..=3u32 {
        up(&mut r, t0, i);
        register_ok(&mut r, t0, i, "rr", &PeSpec::new(i));
    }
    let mut seen = Vec::new();
    up(&mut r, t0, 50);
    for _ in 0..6 {
        r.handle(t0, src(50), Protocol::Asap, &resolution("rr", None));
        let b = one(&mut r, Destination::Association(a(50)));
        if let AsapMessage::HandleResolutionResponse { elements, .. } =
            AsapMessage::parse(&b).unwrap()
        {
            seen.push(elements.first().unwrap().pe_id.get());
        }
    }
    assert_eq!(seen, vec![1, 2, 3, 1, 2, 3]);
}

#[test]
fn unknown_pool_resolution_is_an_error() {
    let mut r = registrar(config());
    let t0 = Instant::from_secs(1);
    r.handle(t0, src(3), Protocol::Asap, &resolution("nothing", Some(3)));
    let b = one(&mut r, Destination::Association(a(3)));
    match AsapMessage::parse(&b).unwrap() {
        AsapMessage::HandleResolutionResponse {
            policy,
            elements,
            error,
            ..
        } => {
            assert!(policy.is_none());
            assert!(elements.is_empty());
            assert_eq!(error.unwrap().code(), Some(CauseCode::UnknownPoolHandle));
        }
        m => panic!("{m:?}"),
    }
    assert_eq!(r.stats().resolutions_unknown_pool, 1);
}

#[test]
fn resolution_from_a_datagram_is_answered_to_its_address() {
    let mut r = registrar(config());
    let t0 = Instant::from_secs(1);
    up(&mut r, t0, 1);
    register_ok(&mut r, t0, 1, "p", &PeSpec::new(1));
    let from = pe_addr(77);
    // An answer within three times the request goes to the address...
    let request = resolution("q", None);
    r.handle(
        t0,
        rserpool::transmit::Source::Datagram(from),
        Protocol::Asap,
        &request,
    );
    let b = one(&mut r, Destination::Address(from));
    assert!(b.len() <= 3 * request.len());
    assert!(matches!(
        AsapMessage::parse(&b).unwrap(),
        AsapMessage::HandleResolutionResponse { error: Some(_), .. }
    ));
    // ... a larger one is withheld: a datagram's source address is never
    // verified, and there is no association to hold a challenge.
    r.handle(
        t0,
        rserpool::transmit::Source::Datagram(from),
        Protocol::Asap,
        &resolution("p", None),
    );
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.stats().answers_withheld, 1);
    assert_eq!(r.stats().challenges_sent, 0);
}

#[test]
fn reregistration_updates_and_deregistration_removes() {
    let mut r = registrar(config());
    let t0 = Instant::from_secs(1);
    up(&mut r, t0, 1);
    let spec = PeSpec::new(5).policy(Policy::LeastUsed { load: 10 });
    register_ok(&mut r, t0, 1, "lu", &spec);
    let spec = PeSpec::new(5).policy(Policy::LeastUsed { load: 90 });
    r.handle(t0, src(1), Protocol::Asap, &spec.registration("lu"));
    let b = one(&mut r, Destination::Association(a(1)));
    assert!(matches!(
        AsapMessage::parse(&b).unwrap(),
        AsapMessage::RegistrationResponse {
            rejected: false,
            ..
        }
    ));
    match events(&mut r).as_slice() {
        [Event::PoolElementRegistered {
            pe: rec,
            new: false,
        }] => {
            assert_eq!(rec.policy, Policy::LeastUsed { load: 90 })
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(r.stats().reregistrations, 1);
    let h = PoolHandle::new(b"lu").unwrap();
    assert_eq!(
        r.handlespace().lookup(&h, pe(5)).unwrap().policy(),
        Policy::LeastUsed { load: 90 }
    );

    r.handle(t0, src(1), Protocol::Asap, &deregistration("lu", 5));
    let b = one(&mut r, Destination::Association(a(1)));
    match AsapMessage::parse(&b).unwrap() {
        AsapMessage::DeregistrationResponse { pe_id, error, .. } => {
            assert_eq!(pe_id, pe(5));
            assert!(error.is_none());
        }
        m => panic!("{m:?}"),
    }
    match events(&mut r).as_slice() {
        [Event::PoolElementRemoved {
            pe: rec,
            reason: RemovalReason::Deregistered,
        }] => {
            assert_eq!(rec.pe_id, pe(5))
        }
        e => panic!("{e:?}"),
    }
    assert!(r.handlespace().is_empty());
    assert_eq!(r.owned_count(), 0);
    assert_eq!(r.poll_timeout(), None);

    // Unknown PE: success, no event.
    r.handle(t0, src(1), Protocol::Asap, &deregistration("lu", 5));
    let b = one(&mut r, Destination::Association(a(1)));
    assert!(matches!(
        AsapMessage::parse(&b).unwrap(),
        AsapMessage::DeregistrationResponse { error: None, .. }
    ));
    assert!(events(&mut r).is_empty());
    assert_eq!(r.stats().deregistrations, 2);
}

#[test]
fn large_resolutions_are_cut_to_the_queue_room() {
    use rserpool::handlespace::Fixed;
    use rserpool::registrar::Registrar;
    use rserpool::storage::RedBlackTree;
    use std::net::{IpAddr, Ipv6Addr};
    type Wide = Registrar<RedBlackTree, Fixed<64, 4, 1024, 2>, 64, 64, 16384, 8>;
    let mut c = config();
    c.max_handle_resolution_items = 128;
    let mut r: Box<Wide> = Box::new(Registrar::new(c));
    let t0 = Instant::from_secs(1);
    let mut buf = vec![0u8; 70_000];
    for i in 1..=60u32 {
        let mut spec = PeSpec::new(i);
        spec.addrs = (0..16u16)
            .map(|k| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, i as u16, k)))
            .collect();
        up_any(&mut *r, t0, i);
        r.handle(t0, src(i), Protocol::Asap, &spec.registration("wide"));
        let t = r.poll_transmit(&mut buf).unwrap().unwrap();
        assert!(matches!(
            AsapMessage::parse(&buf[..t.len]).unwrap(),
            AsapMessage::RegistrationResponse {
                rejected: false,
                ..
            }
        ));
    }
    while r.poll_event().is_some() {}
    r.handle_transport_event(
        t0,
        rserpool::transmit::TransportEvent::Up {
            assoc: a(99),
            remote: pe_addr(99),
            protocol: Protocol::Asap,
            verified: true,
        },
    );
    r.handle(t0, src(99), Protocol::Asap, &resolution("wide", None));
    let t = r.poll_transmit(&mut buf).unwrap().unwrap();
    assert!(t.len <= 16384);
    let n = match AsapMessage::parse(&buf[..t.len]).unwrap() {
        AsapMessage::HandleResolutionResponse { elements, .. } => {
            for e in elements.iter() {
                assert_eq!(e.user_transport.transport().unwrap().addresses.len(), 16);
            }
            elements.len()
        }
        m => panic!("{m:?}"),
    };
    assert!(n > 30 && n < 60, "{n} PEs");
    assert_eq!(r.stats().resolutions, 1);
}
