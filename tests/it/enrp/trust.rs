//! ENRP trust (RFC 5355): messages from hosts that are not trusted peers
//! are dropped without an answer or a change, server ids are bound to
//! their associations, updates speak only for their sender's PEs, and
//! TAKEOVER_SERVER needs an acknowledged INIT_TAKEOVER.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::support::enrp::*;
use rserpool::transmit::{Machine, TransportEvent};
use rserpool::wire::{EnrpBody, EnrpMessage, Protocol, UpdateAction};
use rserpool::{AssocId, PoolHandle};

/// A server id higher than this registrar's.
const HIGHER: u32 = 0x7000_0001;

/// An outsider's host, not in the trusted 10.9.0.0/24.
fn outsider() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 66, 0, 1)), 9901)
}

fn pool() -> PoolHandle {
    PoolHandle::new(b"pool").unwrap()
}

/// A registrar with peer 7 (assoc 11), PE 1 of peer 7 and PE 5 registered
/// here over ASAP association 1.
fn established() -> Box<TestRegistrar> {
    let mut r = with_peer(7, 11);
    update(
        &mut r,
        T0,
        11,
        7,
        UpdateAction::AddPe,
        "pool",
        &PeerPe::new(1, 7),
    );
    up(&mut r, T0, 1);
    register_enrp(&mut r, T0, 1, "pool", &PeSpec::new(5));
    drain_all(&mut r);
    events(&mut r);
    r
}

fn send(r: &mut TestRegistrar, assoc: u32, from: u32, body: EnrpBody<'_>) {
    let m = EnrpMessage {
        sender: sid(from),
        receiver: None,
        body,
    };
    r.handle(T0, src(assoc), Protocol::Enrp, &emit_enrp(&m));
}

#[test]
fn an_outsider_gets_no_answer_and_changes_nothing() {
    let mut r = established();
    enrp_up(&mut r, T0, 66, outsider());
    let before = r.handlespace().len();
    let checksum = r.own_checksum();
    send(&mut r, 66, HIGHER, presence_body(1, true));
    send(&mut r, 66, HIGHER, EnrpBody::ListRequest);
    send(
        &mut r,
        66,
        HIGHER,
        EnrpBody::HandleTableRequest {
            own_children_only: false,
        },
    );
    // Take over PE 5 (owned here over a live association) with a made-up
    // home id above this registrar's, add a PE of its own, delete the
    // peer's PE, and claim the peer taken over.
    let mut hijack = PeerPe::new(5, HIGHER);
    hijack.addrs = PeSpec::new(5).addrs;
    for (action, p) in [
        (UpdateAction::AddPe, &hijack),
        (UpdateAction::AddPe, &PeerPe::new(9, HIGHER)),
        (UpdateAction::DelPe, &PeerPe::new(1, 7)),
    ] {
        send(
            &mut r,
            66,
            HIGHER,
            EnrpBody::HandleUpdate {
                takeover_suggested: false,
                action,
                pool_handle: b"pool",
                pool_element: p.param(),
            },
        );
    }
    send(
        &mut r,
        66,
        HIGHER,
        EnrpBody::TakeoverServer { target: sid(7) },
    );
    assert!(drain_all(&mut r).is_empty(), "nothing is answered");
    assert!(events(&mut r).is_empty());
    assert_eq!(r.enrp_stats().untrusted, 7);
    assert_eq!(r.handlespace().len(), before);
    assert_eq!(r.own_checksum(), checksum);
    assert_eq!(r.owned_count(), 1);
    let v = r.handlespace().lookup(&pool(), pe(5)).unwrap();
    assert_eq!((v.home_registrar(), v.assoc()), (Some(me()), a(1)));
    assert!(r.handlespace().lookup(&pool(), pe(1)).is_some());
    assert!(r.handlespace().lookup(&pool(), pe(9)).is_none());
    assert_eq!(r.peers().len(), 1);
    assert_eq!(r.peers()[0].server_id, Some(sid(7)));
    assert_eq!(r.enrp_sessions(), 0);
}

#[test]
fn untrusted_datagrams_are_dropped_without_multicast() {
    let mut r = with_peer(7, 11);
    let m = EnrpMessage {
        sender: sid(HIGHER),
        receiver: None,
        body: presence_body(1, true),
    };
    r.handle(
        T0,
        rserpool::transmit::Source::Datagram(outsider()),
        Protocol::Enrp,
        &emit_enrp(&m),
    );
    assert!(drain_all(&mut r).is_empty());
    assert_eq!(r.peers().len(), 1);
    assert_eq!(r.enrp_stats().untrusted, 1);
}

#[test]
fn a_peer_cannot_speak_for_another_server_id() {
    let mut r = established();
    // Over peer 7's association, a message claiming to be 8 (a PRESENCE
    // would add it, an update would own PEs as 8).
    send(&mut r, 11, 8, presence_body(1, true));
    let mut p = PeerPe::new(3, 8);
    p.home = None;
    send(
        &mut r,
        11,
        8,
        EnrpBody::HandleUpdate {
            takeover_suggested: false,
            action: UpdateAction::AddPe,
            pool_handle: b"pool",
            pool_element: p.param(),
        },
    );
    assert_eq!(r.enrp_stats().impostors, 2);
    assert!(r.handlespace().lookup(&pool(), pe(3)).is_none());
    assert_eq!(r.peers().len(), 1);
    // Another trusted host claiming 7 (bound to assoc 11 from 10.9.0.7).
    enrp_up(&mut r, T0, 12, peer_addr(8));
    send(
        &mut r,
        12,
        7,
        EnrpBody::HandleUpdate {
            takeover_suggested: false,
            action: UpdateAction::DelPe,
            pool_handle: b"pool",
            pool_element: PeerPe::new(1, 7).param(),
        },
    );
    assert_eq!(r.enrp_stats().impostors, 3);
    assert!(r.handlespace().lookup(&pool(), pe(1)).is_some());
    assert!(drain_all(&mut r).is_empty());
}

#[test]
fn a_peer_updates_only_its_own_pes() {
    let mut r = established();
    // Peer 7 names a higher home id for the PE registered here, and
    // deletes it as that owner: refused, the PE stays here.
    let mut hijack = PeerPe::new(5, HIGHER);
    hijack.addrs = PeSpec::new(5).addrs;
    update(&mut r, T0, 11, 7, UpdateAction::AddPe, "pool", &hijack);
    update(&mut r, T0, 11, 7, UpdateAction::DelPe, "pool", &hijack);
    assert_eq!(r.enrp_stats().foreign_updates, 2);
    assert_eq!(r.owned_count(), 1);
    let v = r.handlespace().lookup(&pool(), pe(5)).unwrap();
    assert_eq!((v.home_registrar(), v.assoc()), (Some(me()), a(1)));
    // Nor may it delete PE 5 naming this registrar as owner.
    let mut mine = PeerPe::new(5, me().get());
    mine.addrs = PeSpec::new(5).addrs;
    update(&mut r, T0, 11, 7, UpdateAction::DelPe, "pool", &mine);
    assert!(r.handlespace().lookup(&pool(), pe(5)).is_some());
    assert!(drain_all(&mut r).is_empty());
}

#[test]
fn takeover_server_needs_an_acknowledged_init_takeover() {
    let mut r = with_peers(&[(7, 11), (8, 12)]);
    update(
        &mut r,
        T0,
        12,
        8,
        UpdateAction::AddPe,
        "p",
        &PeerPe::new(1, 8),
    );
    // Peer 7 claims it took over the live peer 8 without asking.
    deliver(
        &mut r,
        T0,
        11,
        7,
        EnrpBody::TakeoverServer { target: sid(8) },
    );
    assert_eq!(r.enrp_stats().takeovers_refused, 1);
    assert_eq!(r.peers().len(), 2);
    let h = PoolHandle::new(b"p").unwrap();
    assert_eq!(
        r.handlespace().lookup(&h, pe(1)).unwrap().home_registrar(),
        Some(sid(8))
    );
    // Nor may it move 8's PEs to itself by update.
    update(
        &mut r,
        T0,
        11,
        7,
        UpdateAction::DelPe,
        "p",
        &PeerPe::new(1, 8),
    );
    assert!(r.handlespace().lookup(&h, pe(1)).is_some());
    // With INIT_TAKEOVER acknowledged, but 8 answering with a PRESENCE
    // (alive), a later TAKEOVER_SERVER is refused too.
    deliver(&mut r, T0, 11, 7, EnrpBody::InitTakeover { target: sid(8) });
    deliver(&mut r, T0, 12, 8, presence_body(0xFFFF, false));
    deliver(
        &mut r,
        T0,
        11,
        7,
        EnrpBody::TakeoverServer { target: sid(8) },
    );
    assert_eq!(r.enrp_stats().takeovers_refused, 2);
    assert_eq!(
        r.handlespace().lookup(&h, pe(1)).unwrap().home_registrar(),
        Some(sid(8))
    );
    // Acknowledged and not contradicted: 8's PEs move to 7.
    r.handle_transport_event(
        T0,
        TransportEvent::Down {
            assoc: rserpool::AssocId(12),
        },
    );
    deliver(&mut r, T0, 11, 7, EnrpBody::InitTakeover { target: sid(8) });
    deliver(
        &mut r,
        T0,
        11,
        7,
        EnrpBody::TakeoverServer { target: sid(8) },
    );
    assert_eq!(r.enrp_stats().takeovers_refused, 2);
    assert_eq!(
        r.handlespace().lookup(&h, pe(1)).unwrap().home_registrar(),
        Some(sid(7))
    );
}

#[test]
fn one_handle_table_session_per_peer() {
    // One PE per page, so that a session stays open after its first page.
    let mut c = enrp_config(&[]);
    c.enrp.max_handle_table_elements = 1;
    let mut r = registrar(c);
    r.handle_timeout(T0);
    deliver(&mut r, T0, 11, 7, presence_body(0xFFFF, false));
    for i in 0..4u32 {
        update(
            &mut r,
            T0,
            12,
            8,
            UpdateAction::AddPe,
            "p",
            &PeerPe::new(100 + i, 8),
        );
    }
    drain_all(&mut r);
    // Peer 7 opens sessions over several associations from its host.
    for assoc in [11, 21, 22, 23, 24, 25, 26, 27, 28] {
        if assoc != 11 {
            enrp_up(
                &mut r,
                T0,
                assoc,
                SocketAddr::new(peer_addr(7).ip(), 40_000 + assoc as u16),
            );
        }
        deliver(
            &mut r,
            T0,
            assoc,
            7,
            EnrpBody::HandleTableRequest {
                own_children_only: false,
            },
        );
    }
    assert_eq!(r.enrp_sessions(), 1);
    // Peer 8 still gets a session of its own.
    deliver(
        &mut r,
        T0,
        12,
        8,
        EnrpBody::HandleTableRequest {
            own_children_only: false,
        },
    );
    assert_eq!(r.enrp_sessions(), 2);
    assert_eq!(r.enrp_stats().requests_rejected, 0);
    drain_all(&mut r);
}

#[test]
fn an_authenticated_outsider_is_a_trusted_peer() {
    let mut r = established();
    // An ENRP association from a host neither configured nor allowed,
    // whose peer proved itself with a certificate from the registrar's
    // roots (TLS).
    enrp_up(&mut r, T0, 66, outsider());
    r.handle_transport_event(T0, TransportEvent::Authenticated { assoc: AssocId(66) });
    send(&mut r, 66, HIGHER, presence_body(1, true));
    assert_eq!(r.enrp_stats().untrusted, 0);
    assert!(
        r.peers().iter().any(|p| p.server_id == Some(sid(HIGHER))),
        "the authenticated registrar is a peer"
    );
    // Its PRESENCE asked for an answer, which goes over its association.
    let sent = drain_enrp(&mut r);
    assert!(
        sent.iter()
            .any(|(d, _)| *d == rserpool::transmit::Destination::Association(AssocId(66))),
        "{sent:?}"
    );
}

#[test]
fn an_unauthenticated_outsider_stays_untrusted_beside_an_authenticated_one() {
    let mut r = established();
    enrp_up(&mut r, T0, 66, outsider());
    r.handle_transport_event(T0, TransportEvent::Authenticated { assoc: AssocId(66) });
    // Another outside host, whose association did not authenticate.
    let other = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 67, 0, 1)), 9901);
    enrp_up(&mut r, T0, 67, other);
    send(&mut r, 67, HIGHER, presence_body(1, true));
    send(&mut r, 67, HIGHER, EnrpBody::ListRequest);
    assert!(drain_all(&mut r).is_empty(), "nothing is answered");
    assert_eq!(r.enrp_stats().untrusted, 2);
    assert!(r.peers().iter().all(|p| p.server_id != Some(sid(HIGHER))));
}
