//! Every registration rejection cause, capacity exhaustion and the
//! association (security) rule of RFC 5355.

use crate::support::registrar::*;
use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::handlespace::Fixed;
use rserpool::registrar::{Event, Registrar};
use rserpool::storage::{RedBlackTree, Treap};
use rserpool::transmit::{Destination, Machine, Source};
use rserpool::wire::{
    AsapMessage, CauseData, PolicyParam, PoolElementParam, Protocol, TransportParam, UserTransport,
};
use rserpool::{AssocId, CauseCode, Instant, Policy, PoolHandle};

const T0: Instant = Instant::from_secs(10);

/// The cause of a rejected REGISTRATION_RESPONSE.
fn rejection(bytes: &[u8]) -> (CauseCode, CauseData<'_>) {
    match AsapMessage::parse(bytes).unwrap() {
        AsapMessage::RegistrationResponse {
            rejected: true,
            error: Some(e),
            ..
        } => {
            let c = e.causes.first().unwrap();
            (c.code, c.data)
        }
        m => panic!("not a rejection: {m:?}"),
    }
}

fn register_expect_reject(r: &mut TestRegistrar, assoc: u32, msg: &[u8]) -> Vec<u8> {
    r.handle(T0, src(assoc), Protocol::Asap, msg);
    let b = one(r, Destination::Association(a(assoc)));
    assert!(events(r).is_empty(), "a rejection raises no ENRP event");
    b
}

/// The Pool Element TLV of a REGISTRATION (it follows the pool handle).
fn pe_tlv(msg: &[u8]) -> &[u8] {
    let ph_len = u16::from_be_bytes([msg[6], msg[7]]) as usize;
    let at = 4 + ph_len.div_ceil(4) * 4;
    let len = u16::from_be_bytes([msg[at + 2], msg[at + 3]]) as usize;
    &msg[at..at + len]
}

#[test]
fn inconsistent_policy_carries_the_pools_policy() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    up(&mut r, T0, 2);
    register_ok(
        &mut r,
        T0,
        1,
        "p",
        &PeSpec::new(1).policy(Policy::WeightedRoundRobin { weight: 3 }),
    );
    let msg = PeSpec::new(2)
        .policy(Policy::LeastUsed { load: 1 })
        .registration("p");
    let b = register_expect_reject(&mut r, 2, &msg);
    let (code, data) = rejection(&b);
    assert_eq!(code, CauseCode::InconsistentPoolingPolicy);
    assert_eq!(
        data,
        CauseData::Policy(PolicyParam::Known(Policy::WeightedRoundRobin { weight: 3 }))
    );
    assert_eq!(
        r.stats()
            .rejections_with(CauseCode::InconsistentPoolingPolicy),
        1
    );
    assert_eq!(r.handlespace().len(), 1);
}

#[test]
fn inconsistent_transport_type_carries_a_transport_of_the_pool() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    up(&mut r, T0, 2);
    register_ok(&mut r, T0, 1, "p", &PeSpec::new(1));
    let msg = PeSpec::new(2)
        .protocol(TransportProtocol::Tcp)
        .registration("p");
    let b = register_expect_reject(&mut r, 2, &msg);
    let (code, data) = rejection(&b);
    assert_eq!(code, CauseCode::InconsistentTransportType);
    match data {
        CauseData::Transport(t) => {
            assert_eq!(t.protocol, TransportProtocol::Sctp);
            assert_eq!(t.port, 7000);
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn inconsistent_data_control_configuration() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    up(&mut r, T0, 2);
    register_ok(&mut r, T0, 1, "p", &PeSpec::new(1));
    let msg = PeSpec::new(2)
        .transport_use(TransportUse::DataAndControl)
        .registration("p");
    let b = register_expect_reject(&mut r, 2, &msg);
    assert_eq!(
        rejection(&b).0,
        CauseCode::InconsistentDataControlConfiguration
    );
    assert_eq!(r.stats().rejections_total(), 1);
}

#[test]
fn invalid_values_carry_the_pool_element_tlv() {
    let mut c = config();
    c.min_registration_life_ms = 1_000;
    c.max_registration_life_ms = Some(600_000);
    let mut r = registrar(c);
    up(&mut r, T0, 1);
    // Too short, too long, infinite (not accepted with a maximum).
    for life in [999, 600_001, -1] {
        let msg = PeSpec::new(1).life(life).registration("p");
        let b = register_expect_reject(&mut r, 1, &msg);
        let (code, data) = rejection(&b);
        assert_eq!(code, CauseCode::InvalidValues);
        assert_eq!(data, CauseData::Bytes(pe_tlv(&msg)));
    }
    // Limits themselves are fine.
    register_ok(&mut r, T0, 1, "p", &PeSpec::new(1).life(1_000));
    register_ok(&mut r, T0, 1, "p", &PeSpec::new(1).life(600_000));
    // An opaque user transport and an unknown policy cannot be stored.
    let opaque = emit(&AsapMessage::Registration {
        pool_handle: b"q",
        pool_element: PoolElementParam {
            pe_id: pe(9),
            home_server: None,
            registration_life: 10_000,
            user_transport: UserTransport::Opaque(b"somewhere"),
            policy: PolicyParam::Known(Policy::RoundRobin),
            asap_transport: None,
        },
    });
    let b = register_expect_reject(&mut r, 1, &opaque);
    assert_eq!(
        rejection(&b),
        (CauseCode::InvalidValues, CauseData::Bytes(pe_tlv(&opaque)))
    );
    let addrs = [pe_addr(1).ip()];
    let unknown_policy = emit(&AsapMessage::Registration {
        pool_handle: b"q",
        pool_element: PoolElementParam {
            pe_id: pe(9),
            home_server: None,
            registration_life: 10_000,
            user_transport: UserTransport::Transport(TransportParam::new(
                TransportProtocol::Sctp,
                1,
                TransportUse::DataOnly,
                &addrs,
            )),
            policy: PolicyParam::Unknown {
                policy_type: 0x7000_0001,
                data: &[0, 0, 0, 1],
            },
            asap_transport: None,
        },
    });
    let b = register_expect_reject(&mut r, 1, &unknown_policy);
    assert_eq!(rejection(&b).0, CauseCode::InvalidValues);
    // TCP may not carry control (the handlespace's transport rule).
    let msg = PeSpec::new(3)
        .protocol(TransportProtocol::Tcp)
        .transport_use(TransportUse::DataAndControl)
        .registration("tcp");
    let b = register_expect_reject(&mut r, 1, &msg);
    assert_eq!(rejection(&b).0, CauseCode::InvalidValues);
    assert_eq!(r.stats().rejections_with(CauseCode::InvalidValues), 6);
    assert_eq!(r.handlespace().len(), 1);
}

#[test]
fn lack_of_resources_when_the_handlespace_is_full() {
    // Four PEs and two pools in the handlespace.
    type Small = Registrar<Treap, Fixed<4, 2, 8, 2>, 16, 16, 8192, 16>;
    let mut r: Box<Small> = Box::new(Registrar::new(config()));
    for i in 1..=4u32 {
        r.handle_transport_event(
            T0,
            rserpool::transmit::TransportEvent::Up {
                assoc: AssocId(i),
                remote: pe_addr(i as u8),
                protocol: Protocol::Asap,
                verified: true,
            },
        );
        r.handle(
            T0,
            src(i),
            Protocol::Asap,
            &PeSpec::new(i).registration(if i < 3 { "a" } else { "b" }),
        );
    }
    // A third pool, then a fifth PE.
    up_any(&mut *r, T0, 5);
    r.handle(
        T0,
        src(5),
        Protocol::Asap,
        &PeSpec::new(5).registration("c"),
    );
    r.handle(
        T0,
        src(5),
        Protocol::Asap,
        &PeSpec::new(5).registration("a"),
    );
    let mut buf = vec![0u8; 70_000];
    let mut codes = Vec::new();
    while let Some(t) = r.poll_transmit(&mut buf).unwrap() {
        if let AsapMessage::RegistrationResponse {
            rejected, error, ..
        } = AsapMessage::parse(&buf[..t.len]).unwrap()
        {
            codes.push(rejected.then(|| error.unwrap().code().unwrap()));
        }
    }
    assert_eq!(
        codes,
        vec![
            None,
            None,
            None,
            None,
            Some(CauseCode::LackOfResources),
            Some(CauseCode::LackOfResources)
        ]
    );
    assert_eq!(r.stats().rejections_with(CauseCode::LackOfResources), 2);
    // Re-registering an existing PE still works when full.
    r.handle(
        T0,
        src(1),
        Protocol::Asap,
        &PeSpec::new(1).life(5_000).registration("a"),
    );
    let t = r.poll_transmit(&mut buf).unwrap().unwrap();
    assert!(matches!(
        AsapMessage::parse(&buf[..t.len]).unwrap(),
        AsapMessage::RegistrationResponse {
            rejected: false,
            ..
        }
    ));
}

#[test]
fn lack_of_resources_when_the_owned_table_is_full() {
    type FewOwned = Registrar<RedBlackTree, Fixed<64, 16, 64, 4>, 2, 16, 8192, 16>;
    let mut r: Box<FewOwned> = Box::new(Registrar::new(config()));
    let mut buf = vec![0u8; 70_000];
    let mut rejected_count = 0;
    for i in 1..=3u32 {
        up_any(&mut *r, T0, i);
        r.handle(
            T0,
            src(i),
            Protocol::Asap,
            &PeSpec::new(i).registration("p"),
        );
        let t = r.poll_transmit(&mut buf).unwrap().unwrap();
        if let AsapMessage::RegistrationResponse {
            rejected: true,
            error,
            ..
        } = AsapMessage::parse(&buf[..t.len]).unwrap()
        {
            assert_eq!(error.unwrap().code(), Some(CauseCode::LackOfResources));
            rejected_count += 1;
        }
    }
    assert_eq!(rejected_count, 1);
    assert_eq!(r.owned_count(), 2);
    assert_eq!(r.handlespace().len(), 2);
}

#[test]
fn another_association_can_neither_reregister_nor_deregister() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    up(&mut r, T0, 2);
    register_ok(
        &mut r,
        T0,
        1,
        "p",
        &PeSpec::new(7).policy(Policy::LeastUsed { load: 5 }),
    );
    let h = PoolHandle::new(b"p").unwrap();

    // Hijack attempt: same pool and PE id, other association.
    let msg = PeSpec::new(7)
        .policy(Policy::LeastUsed { load: 0 })
        .registration("p");
    let b = register_expect_reject(&mut r, 2, &msg);
    assert_eq!(rejection(&b).0, CauseCode::RejectedSecurityConsiderations);

    // Deregistration by proxy.
    r.handle(T0, src(2), Protocol::Asap, &deregistration("p", 7));
    let b = one(&mut r, Destination::Association(a(2)));
    match AsapMessage::parse(&b).unwrap() {
        AsapMessage::DeregistrationResponse { pe_id, error, .. } => {
            assert_eq!(pe_id, pe(7));
            assert_eq!(
                error.unwrap().code(),
                Some(CauseCode::RejectedSecurityConsiderations)
            );
        }
        m => panic!("{m:?}"),
    }
    assert!(events(&mut r).is_empty());
    assert_eq!(r.stats().deregistrations_refused, 1);
    assert_eq!(
        r.stats()
            .rejections_with(CauseCode::RejectedSecurityConsiderations),
        1
    );

    // Untouched: same association, same policy, same timer.
    let v = r.handlespace().lookup(&h, pe(7)).unwrap();
    assert_eq!(v.assoc(), AssocId(1));
    assert_eq!(v.policy(), Policy::LeastUsed { load: 5 });

    // Datagrams may not register or deregister either.
    let from = Source::Datagram(pe_addr(1));
    r.handle(T0, from, Protocol::Asap, &deregistration("p", 7));
    r.handle(T0, from, Protocol::Asap, &PeSpec::new(8).registration("p"));
    let out = drain(&mut r);
    assert_eq!(out.len(), 2);
    assert!(out
        .iter()
        .all(|(t, _)| t.destination == Destination::Address(pe_addr(1))));
    assert!(matches!(AsapMessage::parse(&out[0].1).unwrap(),
        AsapMessage::DeregistrationResponse { error: Some(e), .. } if e.code() == Some(CauseCode::RejectedSecurityConsiderations)));
    assert_eq!(
        rejection(&out[1].1).0,
        CauseCode::RejectedSecurityConsiderations
    );
    assert_eq!(r.handlespace().len(), 1);

    // The owner still can.
    r.handle(T0, src(1), Protocol::Asap, &deregistration("p", 7));
    let b = one(&mut r, Destination::Association(a(1)));
    assert!(matches!(
        AsapMessage::parse(&b).unwrap(),
        AsapMessage::DeregistrationResponse { error: None, .. }
    ));
    assert!(matches!(
        events(&mut r).as_slice(),
        [Event::PoolElementRemoved { .. }]
    ));
    assert!(r.handlespace().is_empty());
}

/// The same host over a second association (after a takeover the registrar
/// opened one to the PE while the PE's own was still up) may re-register:
/// the PE moves to the new association. Another host still may not.
#[test]
fn the_same_host_may_reregister_over_a_second_association() {
    use rserpool::transmit::TransportEvent;
    use rserpool::wire::Protocol;
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    register_ok(&mut r, T0, 1, "p", &PeSpec::new(7));
    let mut second = pe_addr(1);
    second.set_port(second.port() + 1);
    r.handle_transport_event(
        T0,
        TransportEvent::Up {
            assoc: a(9),
            remote: second,
            protocol: Protocol::Asap,
            verified: true,
        },
    );
    register_ok(&mut r, T0, 9, "p", &PeSpec::new(7));
    let h = PoolHandle::new(b"p").unwrap();
    assert_eq!(r.handlespace().lookup(&h, pe(7)).unwrap().assoc(), a(9));
    // A different host is refused as before.
    up(&mut r, T0, 2);
    let b = register_expect_reject(&mut r, 2, &PeSpec::new(7).registration("p"));
    assert_eq!(rejection(&b).0, CauseCode::RejectedSecurityConsiderations);
    assert_eq!(r.handlespace().lookup(&h, pe(7)).unwrap().assoc(), a(9));
}
