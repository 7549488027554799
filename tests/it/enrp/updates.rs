//! ENRP_HANDLE_UPDATE: group-cast on every change this registrar makes as
//! home, and peers' updates applied with the registration checks.

use crate::support::enrp::*;
use rserpool::addr::TransportProtocol;
use rserpool::transmit::Destination;
use rserpool::transmit::Machine;
use rserpool::wire::{AsapMessage, EnrpBody, Protocol, UpdateAction};
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
    // The PE's home id names the owner, which must be the sender: an update
    // for another registrar's PE is refused ...
    update(
        &mut r,
        T0,
        11,
        7,
        UpdateAction::AddPe,
        "pool",
        &PeerPe::new(2, 8),
    );
    assert!(r.handlespace().lookup(&h, pe(2)).is_none());
    assert_eq!(r.enrp_stats().foreign_updates, 1);
    // ... and taken from that registrar itself.
    update(
        &mut r,
        T0,
        12,
        8,
        UpdateAction::AddPe,
        "pool",
        &PeerPe::new(2, 8),
    );
    drain_all(&mut r);
    events(&mut r);
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
    assert_eq!(r.enrp_stats().foreign_updates, 2);
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

/// A server id higher than this registrar's.
const HIGHER: u32 = 0x7000_0001;

#[test]
fn own_pe_moves_to_a_higher_peer_that_announces_it() {
    assert!(sid(HIGHER) > me());
    let mut r = with_peer(HIGHER, 11);
    up(&mut r, T0, 1);
    register_enrp(&mut r, T0, 1, "pool", &PeSpec::new(5));
    assert_eq!(r.owned_count(), 1);
    let mut p = PeerPe::new(5, HIGHER);
    p.addrs = PeSpec::new(5).addrs;
    update(&mut r, T0, 11, HIGHER, UpdateAction::AddPe, "pool", &p);
    assert_eq!(r.owned_count(), 0);
    let h = PoolHandle::new(b"pool").unwrap();
    let v = r.handlespace().lookup(&h, pe(5)).unwrap();
    assert_eq!(v.home_registrar(), Some(sid(HIGHER)));
    assert_eq!(v.assoc(), rserpool::AssocId::NONE);
    assert_eq!(r.enrp_stats().ownership_kept, 0);
    // Yielding sends nothing: no keep-alive, no update.
    assert!(drain_all(&mut r).is_empty());
}

/// A registrar with server id `id` (initialised) knowing peer `peer` over
/// ENRP association 11, with PE 5 registered over ASAP association 1.
fn owning(id: u32, peer: u32) -> Box<TestRegistrar> {
    let mut c = enrp_config(&[]);
    c.server_id = sid(id);
    let mut r = registrar(c);
    r.handle_timeout(T0);
    enrp_up(&mut r, T0, 11, peer_addr(peer as u8));
    deliver(&mut r, T0, 11, peer, presence_body(0xFFFF, false));
    drain_all(&mut r);
    events(&mut r);
    up(&mut r, T0, 1);
    r
}

/// The HANDLE_UPDATE ADD_PE messages among `out` with their owner.
fn add_pes(out: &[(rserpool::transmit::Transmit, Vec<u8>)]) -> Vec<(u32, Option<u32>)> {
    out.iter()
        .filter(|(t, _)| t.protocol == Protocol::Enrp)
        .filter_map(|(_, b)| match parse(b).body {
            EnrpBody::HandleUpdate {
                action: UpdateAction::AddPe,
                pool_element,
                ..
            } => Some((
                pool_element.pe_id.get(),
                pool_element.home_server.map(|s| s.get()),
            )),
            _ => None,
        })
        .collect()
}

/// The ENDPOINT_KEEP_ALIVEs among `out`: (association, H flag, sender).
fn keep_alives(out: &[(rserpool::transmit::Transmit, Vec<u8>)]) -> Vec<(Destination, bool, u32)> {
    out.iter()
        .filter(|(t, _)| t.protocol == Protocol::Asap)
        .filter_map(|(t, b)| match AsapMessage::parse(b).unwrap() {
            AsapMessage::EndpointKeepAlive {
                home, server_id, ..
            } => Some((t.destination, home, server_id.get())),
            _ => None,
        })
        .collect()
}

#[test]
fn crossing_registrations_leave_the_pe_with_the_higher_server_id() {
    const LOW: u32 = 0x100;
    const HIGH: u32 = 0x200;
    let mut low = owning(LOW, HIGH);
    let mut high = owning(HIGH, LOW);
    // The PE registered at both, each over its own live association.
    let from_low = register_enrp(&mut low, T0, 1, "pool", &PeSpec::new(5));
    let from_high = register_enrp(&mut high, T0, 1, "pool", &PeSpec::new(5));
    assert_eq!(from_low.len(), 1);
    assert_eq!(from_high.len(), 1);
    // Their ADD_PEs cross.
    high.handle(T0, src(11), Protocol::Enrp, &from_low[0].1);
    low.handle(T0, src(11), Protocol::Enrp, &from_high[0].1);
    let h = PoolHandle::new(b"pool").unwrap();
    // The higher keeps the PE on its association ...
    let v = high.handlespace().lookup(&h, pe(5)).unwrap();
    assert_eq!(v.home_registrar(), Some(sid(HIGH)));
    assert_eq!(v.assoc(), rserpool::AssocId(1));
    assert_eq!(high.owned_count(), 1);
    assert_eq!(high.enrp_stats().ownership_kept, 1);
    assert_eq!(high.enrp_stats().updates_applied, 0);
    // ... re-asserts it to its peers and claims the PE with H=1.
    let out = drain_all(&mut high);
    assert_eq!(add_pes(&out), vec![(5, Some(HIGH))]);
    assert_eq!(keep_alives(&out), vec![(to(1), true, HIGH)]);
    assert!(events(&mut high).is_empty());
    // The lower yields: the PE is the higher's, not kept alive here.
    let v = low.handlespace().lookup(&h, pe(5)).unwrap();
    assert_eq!(v.home_registrar(), Some(sid(HIGH)));
    assert_eq!(v.assoc(), rserpool::AssocId::NONE);
    assert_eq!(low.owned_count(), 0);
    assert_eq!(low.enrp_stats().ownership_kept, 0);
    assert_eq!(low.enrp_stats().updates_applied, 1);
    assert!(drain_all(&mut low).is_empty());
    // The re-assertion is applied by the lower without an answer (no
    // ping-pong), and the checksums of the higher's PEs agree.
    let (_, reassert) = out
        .iter()
        .find(|(t, _)| t.protocol == Protocol::Enrp)
        .unwrap();
    low.handle(T0, src(11), Protocol::Enrp, reassert);
    assert!(drain_all(&mut low).is_empty());
    assert_eq!(low.enrp_stats().updates_applied, 2);
    assert_eq!(low.peer_checksum(sid(HIGH)), high.own_checksum());
    assert_eq!(high.peer_checksum(sid(LOW)), low.own_checksum());
    // The higher's PE is answered as usual; the lower never keeps it alive.
    let later = T0 + Duration::from_secs(120);
    low.handle_timeout(later);
    assert!(keep_alives(&drain_all(&mut low)).is_empty());
    assert!(low.handlespace().lookup(&h, pe(5)).is_some());
}

#[test]
fn a_pe_without_a_live_association_here_goes_to_the_announcing_peer_whatever_its_id() {
    let h = PoolHandle::new(b"pool").unwrap();
    // Its association went down: the PE left with it; the peer's update
    // applies (here from a lower id).
    let mut r = with_peer(7, 11);
    assert!(sid(7) < me());
    up(&mut r, T0, 1);
    register_enrp(&mut r, T0, 1, "pool", &PeSpec::new(5));
    r.handle_transport_event(
        T0,
        rserpool::transmit::TransportEvent::Down {
            assoc: rserpool::AssocId(1),
        },
    );
    drain_all(&mut r);
    let mut p = PeerPe::new(5, 7);
    p.addrs = PeSpec::new(5).addrs;
    update(&mut r, T0, 11, 7, UpdateAction::AddPe, "pool", &p);
    assert_eq!(
        r.handlespace().lookup(&h, pe(5)).unwrap().home_registrar(),
        Some(sid(7))
    );
    assert_eq!(r.enrp_stats().ownership_kept, 0);
    // Owned here without an association (taken over from peer 9): the
    // lower peer's update moves it as before.
    let mut r = with_peers(&[(7, 11), (9, 12)]);
    update(&mut r, T0, 12, 9, UpdateAction::AddPe, "pool", &p_of(6, 9));
    assert_eq!(r.take_over(T0, sid(9)), Ok(1));
    assert_eq!(r.owned_count(), 1);
    drain_all(&mut r);
    update(&mut r, T0, 11, 7, UpdateAction::AddPe, "pool", &p_of(6, 7));
    assert_eq!(r.owned_count(), 0);
    assert_eq!(
        r.handlespace().lookup(&h, pe(6)).unwrap().home_registrar(),
        Some(sid(7))
    );
    assert_eq!(r.enrp_stats().ownership_kept, 0);
    assert!(add_pes(&drain_all(&mut r)).is_empty());
}

fn p_of(id: u32, home: u32) -> PeerPe {
    let mut p = PeerPe::new(id, home);
    p.addrs = PeSpec::new(id).addrs;
    p
}
