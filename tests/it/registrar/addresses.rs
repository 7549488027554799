//! User transport addresses of a REGISTRATION must belong to the
//! registering association unless foreign addresses are allowed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::support::registrar::*;
use rserpool::addr::TransportProtocol;
use rserpool::handlespace::Fixed;
use rserpool::registrar::Registrar;
use rserpool::storage::RedBlackTree;
use rserpool::transmit::{Destination, Machine, TransportEvent};
use rserpool::wire::{AsapMessage, Protocol};
use rserpool::{AssocId, CauseCode, Instant, PoolHandle};

const T0: Instant = Instant::from_secs(10);

/// The cause of a rejected REGISTRATION_RESPONSE (`None`: accepted).
fn answer(r: &mut TestRegistrar, assoc: u32, spec: &PeSpec) -> Option<CauseCode> {
    r.handle(T0, src(assoc), Protocol::Asap, &spec.registration("p"));
    let b = one(r, Destination::Association(a(assoc)));
    match AsapMessage::parse(&b).unwrap() {
        AsapMessage::RegistrationResponse {
            rejected, error, ..
        } => {
            assert_eq!(rejected, error.is_some());
            error.map(|e| e.causes.first().unwrap().code)
        }
        m => panic!("unexpected {m:?}"),
    }
}

fn with_addrs(id: u32, addrs: &[IpAddr]) -> PeSpec {
    let mut s = PeSpec::new(id);
    s.addrs = addrs.to_vec();
    s
}

fn user_addrs(r: &TestRegistrar, id: u32) -> Option<Vec<IpAddr>> {
    let h = PoolHandle::new(b"p").unwrap();
    let v = r.handlespace().lookup(&h, pe(id))?;
    let mut buf = [IpAddr::V4(Ipv4Addr::UNSPECIFIED); 64];
    Some(v.user_transport(&mut buf).addresses.to_vec())
}

#[test]
fn a_foreign_user_address_is_refused_by_default() {
    let mut r = registrar(strict_config());
    up(&mut r, T0, 1); // from 10.0.0.1
    let own = pe_addr(1).ip();
    let foreign = IpAddr::V4(Ipv4Addr::new(10, 20, 30, 40));
    for spec in [
        with_addrs(1, &[foreign]),
        with_addrs(1, &[foreign]).protocol(TransportProtocol::Tcp),
    ] {
        assert_eq!(
            answer(&mut r, 1, &spec),
            Some(CauseCode::RejectedSecurityConsiderations)
        );
    }
    assert!(r.handlespace().is_empty());
    assert!(events(&mut r).is_empty());
    // Its own address is taken.
    assert_eq!(answer(&mut r, 1, &with_addrs(1, &[own])), None);
    assert_eq!(user_addrs(&r, 1), Some(vec![own]));
    // And a re-registration cannot redirect it either.
    assert_eq!(
        answer(&mut r, 1, &with_addrs(1, &[foreign])),
        Some(CauseCode::RejectedSecurityConsiderations)
    );
    assert_eq!(user_addrs(&r, 1), Some(vec![own]));
}

#[test]
fn an_unspecified_address_stands_for_the_source_address() {
    let mut r = registrar(strict_config());
    up(&mut r, T0, 2);
    let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    assert_eq!(answer(&mut r, 2, &with_addrs(2, &[any4])), None);
    assert_eq!(user_addrs(&r, 2), Some(vec![pe_addr(2).ip()]));
    // An IPv4-mapped IPv6 form of the source address is the same host.
    let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped());
    assert_eq!(answer(&mut r, 2, &with_addrs(3, &[mapped])), None);
    // Over an IPv6 association, :: stands for its remote address.
    let v6 = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 9));
    r.handle_transport_event(
        T0,
        TransportEvent::Up {
            assoc: AssocId(9),
            remote: SocketAddr::new(v6, 5000),
            protocol: Protocol::Asap,
            verified: true,
        },
    );
    let mut spec = with_addrs(9, &[IpAddr::V6(Ipv6Addr::UNSPECIFIED)]);
    spec.port = 7009;
    assert_eq!(answer(&mut r, 9, &spec), None);
    assert_eq!(user_addrs(&r, 9), Some(vec![v6]));
}

fn peer_address(r: &mut TestRegistrar, assoc: u32, address: IpAddr) {
    r.handle_transport_event(
        T0,
        TransportEvent::PeerAddress {
            assoc: a(assoc),
            address,
        },
    );
}

#[test]
fn a_multihomed_sctp_pe_lists_only_its_association_s_peer_addresses() {
    let mut r = registrar(strict_config());
    up(&mut r, T0, 1);
    let own = pe_addr(1).ip();
    let second = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let third = IpAddr::V4(Ipv4Addr::new(10, 7, 0, 1));
    // A further address the transport never reported is foreign.
    assert_eq!(
        answer(&mut r, 1, &with_addrs(1, &[second, own])),
        Some(CauseCode::RejectedSecurityConsiderations)
    );
    peer_address(&mut r, 1, second);
    peer_address(&mut r, 1, third);
    assert!(r.is_peer_address(a(1), second) && r.is_peer_address(a(1), third));
    assert_eq!(answer(&mut r, 1, &with_addrs(1, &[second, own])), None);
    assert_eq!(user_addrs(&r, 1), Some(vec![second, own]));
    // Without the primary address too (rsplib's PEs register the address
    // of their data socket, which need not be the one their ASAP
    // association runs on), in IPv4-mapped form as well.
    let mapped = IpAddr::V6(Ipv4Addr::new(10, 7, 0, 1).to_ipv6_mapped());
    assert_eq!(answer(&mut r, 1, &with_addrs(2, &[mapped])), None);
    // Over TCP or UDP only the source address counts.
    assert_eq!(
        answer(
            &mut r,
            1,
            &with_addrs(3, &[third]).protocol(TransportProtocol::Tcp)
        ),
        Some(CauseCode::RejectedSecurityConsiderations)
    );
    // Another association cannot use them.
    up(&mut r, T0, 4);
    assert!(!r.is_peer_address(a(4), third));
    assert_eq!(
        answer(&mut r, 4, &with_addrs(4, &[third])),
        Some(CauseCode::RejectedSecurityConsiderations)
    );
}

#[test]
fn peer_addresses_are_bounded_per_association() {
    type Wide = Registrar<RedBlackTree, Fixed<64, 16, 64, 4>, 64, 64, 16384, 64>;
    let mut r = Box::new(Wide::new(strict_config()));
    r.handle_transport_event(
        T0,
        TransportEvent::Up {
            assoc: a(1),
            remote: pe_addr(1),
            protocol: Protocol::Asap,
            verified: true,
        },
    );
    let further = |i: u32| IpAddr::V4(Ipv4Addr::from(0x0a10_0000 + i));
    let max = rserpool::registrar::MAX_FURTHER_PEER_ADDRESSES as u32;
    for i in 0..max + 5 {
        let address = further(i);
        r.handle_transport_event(
            T0,
            TransportEvent::PeerAddress {
                assoc: a(1),
                address,
            },
        );
    }
    assert!(r.is_peer_address(a(1), further(max - 1)));
    assert!(!r.is_peer_address(a(1), further(max)));
    assert_eq!(r.stats().peer_addresses_dropped, 5);
}

#[test]
fn peer_addresses_are_forgotten_with_their_association_and_a_full_table_keeps_none_more() {
    // TestRegistrar knows 16 associations: 16 further addresses in all.
    let mut r = registrar(strict_config());
    up(&mut r, T0, 1);
    up(&mut r, T0, 2);
    let further = |i: u32| IpAddr::V4(Ipv4Addr::from(0x0a10_0000 + i));
    for i in 0..16 {
        peer_address(&mut r, 1, further(i));
    }
    peer_address(&mut r, 2, further(100));
    assert!(r.is_peer_address(a(1), further(15)));
    assert!(!r.is_peer_address(a(2), further(100)));
    assert_eq!(r.stats().peer_addresses_dropped, 1);
    // The same address again is kept once.
    peer_address(&mut r, 1, further(3));
    assert_eq!(r.stats().peer_addresses_dropped, 1);
    // An address of an unknown association is not kept.
    peer_address(&mut r, 7, further(0));
    assert!(!r.is_peer_address(a(7), further(0)));
    r.handle_transport_event(T0, TransportEvent::Down { assoc: a(1) });
    assert!(!r.is_peer_address(a(1), further(0)));
    // Its room is free for others.
    peer_address(&mut r, 2, further(100));
    assert!(r.is_peer_address(a(2), further(100)));
    // The same association id, up again, starts with no further address.
    up(&mut r, T0, 1);
    assert!(!r.is_peer_address(a(1), further(0)));
    assert!(r.is_peer_address(a(1), pe_addr(1).ip()));
}

#[test]
fn an_association_never_reported_up_cannot_vouch_for_any_address() {
    for foreign in [false, true] {
        let mut c = strict_config();
        c.allow_foreign_addresses = foreign;
        let mut r = registrar(c);
        assert_eq!(
            answer(&mut r, 5, &with_addrs(5, &[pe_addr(5).ip()])),
            Some(CauseCode::RejectedSecurityConsiderations),
            "foreign addresses allowed: {foreign}"
        );
        assert!(r.handlespace().is_empty());
    }
}

#[test]
fn foreign_addresses_are_allowed_when_configured() {
    let mut c = strict_config();
    c.allow_foreign_addresses = true;
    let mut r = registrar(c);
    up(&mut r, T0, 1);
    let foreign = IpAddr::V4(Ipv4Addr::new(10, 20, 30, 40));
    assert_eq!(answer(&mut r, 1, &with_addrs(1, &[foreign])), None);
    assert_eq!(user_addrs(&r, 1), Some(vec![foreign]));
}

#[test]
fn with_authentication_required_only_an_authenticated_association_registers() {
    let mut c = strict_config();
    c.require_authentication = true;
    let mut r = registrar(c);
    up(&mut r, T0, 1);
    let own = pe_addr(1).ip();
    // Not authenticated (plain transport, or a TLS client without a
    // certificate): refused, counted, nothing registered.
    assert_eq!(
        answer(&mut r, 1, &with_addrs(1, &[own])),
        Some(CauseCode::RejectedSecurityConsiderations)
    );
    assert!(r.handlespace().is_empty());
    assert_eq!(r.stats().unauthenticated_registrations, 1);
    // The same association once its peer authenticated (TLS): taken.
    r.handle_transport_event(T0, TransportEvent::Authenticated { assoc: AssocId(1) });
    assert_eq!(answer(&mut r, 1, &with_addrs(1, &[own])), None);
    assert_eq!(user_addrs(&r, 1), Some(vec![own]));
    // Another association of the same host, not authenticated: refused.
    up(&mut r, T0, 2);
    assert_eq!(
        answer(&mut r, 2, &with_addrs(2, &[pe_addr(2).ip()])),
        Some(CauseCode::RejectedSecurityConsiderations)
    );
    assert_eq!(r.stats().unauthenticated_registrations, 2);
    // Without the requirement (the default), no authentication is asked.
    let mut r = registrar(strict_config());
    up(&mut r, T0, 1);
    assert_eq!(answer(&mut r, 1, &with_addrs(1, &[own])), None);
}
