//! User transport addresses of a REGISTRATION must belong to the
//! registering association unless foreign addresses are allowed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::support::registrar::*;
use rserpool::addr::TransportProtocol;
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

#[test]
fn a_multihomed_sctp_pe_lists_its_source_address_among_others() {
    let mut r = registrar(strict_config());
    up(&mut r, T0, 1);
    let own = pe_addr(1).ip();
    let second = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(answer(&mut r, 1, &with_addrs(1, &[second, own])), None);
    assert_eq!(user_addrs(&r, 1), Some(vec![second, own]));
    // Not without its source address.
    assert_eq!(
        answer(&mut r, 1, &with_addrs(2, &[second])),
        Some(CauseCode::RejectedSecurityConsiderations)
    );
}

#[test]
fn an_association_never_reported_up_cannot_vouch_for_any_address() {
    let mut r = registrar(strict_config());
    assert_eq!(
        answer(&mut r, 5, &with_addrs(5, &[pe_addr(5).ip()])),
        Some(CauseCode::RejectedSecurityConsiderations)
    );
    assert!(r.handlespace().is_empty());
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
