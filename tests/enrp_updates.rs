//! ENRP_HANDLE_UPDATE: group-cast on every change this registrar makes as
//! home, and peers' updates applied with the registration checks.

mod enrp_support;

use enrp_support::*;
use rserpool::addr::TransportProtocol;
use rserpool::transmit::Machine;
use rserpool::wire::{EnrpBody, Protocol, UpdateAction};
use rserpool::{Duration, PoolHandle};

fn two_peers() -> Box<TestRegistrar> {
    let mut r = with_peer(7, 11);
    enrp_up(&mut r, T0, 12, peer_addr(8));
    deliver(&mut r, T0, 12, 8, presence_body(0xFFFF, false));
    drain_all(&mut r);
    events(&mut r);
    r
}

fn updates(
    out: &[(rserpool::transmit::Destination, Vec<u8>)],
) -> Vec<(rserpool::transmit::Destination, UpdateAction, u32)> {
    out.iter()
        .filter_map(|(d, b)| match parse(b).body {
            EnrpBody::HandleUpdate {
                action,
                pool_element,
                pool_handle,
                ..
            } => {
                assert_eq!(pool_handle, b"pool");
                assert_eq!(parse(b).receiver, None);
                assert_eq!(pool_element.home_server, Some(me()));
                Some((*d, action, pool_element.pe_id.get()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn registration_reregistration_and_deregistration_are_groupcast() {
    let mut r = two_peers();
    up(&mut r, T0, 1);
    let out = register_enrp(&mut r, T0, 1, "pool", &PeSpec::new(5));
    assert_eq!(
        updates(&out),
        vec![
            (to(11), UpdateAction::AddPe, 5),
            (to(12), UpdateAction::AddPe, 5)
        ]
    );
    let out = register_enrp(&mut r, T0, 1, "pool", &PeSpec::new(5).life(60_000));
    assert_eq!(updates(&out).len(), 2);
    r.handle(T0, src(1), Protocol::Asap, &deregistration("pool", 5));
    let out = drain_enrp(&mut r);
    assert_eq!(
        updates(&out),
        vec![
            (to(11), UpdateAction::DelPe, 5),
            (to(12), UpdateAction::DelPe, 5)
        ]
    );
}

#[test]
fn expiry_and_transport_failure_are_groupcast_as_del_pe() {
    let mut r = two_peers();
    up(&mut r, T0, 1);
    register_enrp(&mut r, T0, 1, "pool", &PeSpec::new(5).life(2_000));
    up(&mut r, T0, 2);
    register_enrp(&mut r, T0, 2, "pool", &PeSpec::new(6));
    r.handle_timeout(T0 + Duration::from_secs(2));
    let out = drain_enrp(&mut r);
    assert_eq!(
        updates(&out),
        vec![
            (to(11), UpdateAction::DelPe, 5),
            (to(12), UpdateAction::DelPe, 5)
        ]
    );
    r.handle_transport_event(
        T0 + Duration::from_secs(2),
        rserpool::transmit::TransportEvent::Down { assoc: a(2) },
    );
    let out = drain_enrp(&mut r);
    assert_eq!(
        updates(&out),
        vec![
            (to(11), UpdateAction::DelPe, 6),
            (to(12), UpdateAction::DelPe, 6)
        ]
    );
}

#[test]
fn peer_updates_are_applied_with_the_registration_checks() {
    let mut r = with_peer(7, 11);
    let h = PoolHandle::new(b"pool").unwrap();
    update(
        &mut r,
        T0,
        11,
        7,
        UpdateAction::AddPe,
        "pool",
        &PeerPe::new(1, 7),
    );
    let v = r.handlespace().lookup(&h, pe(1)).unwrap();
    assert_eq!(v.home_registrar(), Some(sid(7)));
    assert_eq!(v.assoc(), rserpool::AssocId::NONE);
    // The PE's home id names the owner (here another registrar than the sender).
    update(
        &mut r,
        T0,
        11,
        7,
        UpdateAction::AddPe,
        "pool",
        &PeerPe::new(2, 8),
    );
    assert_eq!(
        r.handlespace().lookup(&h, pe(2)).unwrap().home_registrar(),
        Some(sid(8))
    );
    // Without a home id the sender owns it.
    let mut p = PeerPe::new(3, 7);
    p.home = None;
    update(&mut r, T0, 11, 7, UpdateAction::AddPe, "pool", &p);
    assert_eq!(
        r.handlespace().lookup(&h, pe(3)).unwrap().home_registrar(),
        Some(sid(7))
    );
    // An inconsistent transport type is refused as for a registration.
    let mut bad = PeerPe::new(4, 7);
    bad.protocol = TransportProtocol::Tcp;
    update(&mut r, T0, 11, 7, UpdateAction::AddPe, "pool", &bad);
    assert!(r.handlespace().lookup(&h, pe(4)).is_none());
    assert_eq!(r.enrp_stats().updates_rejected, 1);
    // A PE naming this registrar as home is not taken from a peer.
    update(
        &mut r,
        T0,
        11,
        7,
        UpdateAction::AddPe,
        "pool",
        &PeerPe::new(5, me().get()),
    );
    assert!(r.handlespace().lookup(&h, pe(5)).is_none());
    assert_eq!(r.enrp_stats().updates_applied, 3);
    // DEL_PE for the right owner removes; for another owner or unknown PE it is ignored.
    update(
        &mut r,
        T0,
        11,
        7,
        UpdateAction::DelPe,
        "pool",
        &PeerPe::new(2, 7),
    );
    assert!(r.handlespace().lookup(&h, pe(2)).is_some());
    update(
        &mut r,
        T0,
        11,
        7,
        UpdateAction::DelPe,
        "pool",
        &PeerPe::new(1, 7),
    );
    assert!(r.handlespace().lookup(&h, pe(1)).is_none());
    update(
        &mut r,
        T0,
        11,
        7,
        UpdateAction::DelPe,
        "pool",
        &PeerPe::new(42, 7),
    );
    assert_eq!(r.enrp_stats().deletes_applied, 1);
    assert_eq!(r.enrp_stats().deletes_ignored, 2);
    // Nothing is sent back for updates, and no ASAP-side event is raised.
    assert!(drain_all(&mut r).is_empty());
    assert!(events(&mut r).is_empty());
}

#[test]
fn own_pe_moves_to_the_peer_that_announces_it() {
    let mut r = with_peer(7, 11);
    up(&mut r, T0, 1);
    register_enrp(&mut r, T0, 1, "pool", &PeSpec::new(5));
    assert_eq!(r.owned_count(), 1);
    let mut p = PeerPe::new(5, 7);
    p.addrs = PeSpec::new(5).addrs;
    update(&mut r, T0, 11, 7, UpdateAction::AddPe, "pool", &p);
    assert_eq!(r.owned_count(), 0);
    let h = PoolHandle::new(b"pool").unwrap();
    assert_eq!(
        r.handlespace().lookup(&h, pe(5)).unwrap().home_registrar(),
        Some(sid(7))
    );
}
