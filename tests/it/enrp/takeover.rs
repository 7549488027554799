//! ENRP takeover: acknowledgements, the highest id wins, abort on the
//! target's PRESENCE, expiry, TAKEOVER_SERVER re-homing.

use crate::support::enrp::*;
use rserpool::registrar::{EnrpEvent, PeerState};
use rserpool::transmit::{Machine, TransportEvent};
use rserpool::wire::{enrp_type as t, EnrpBody, Protocol, UpdateAction};
use rserpool::{AssocId, Duration, PoolHandle};

const HIGH: u32 = 0x7000_0000;

/// Peers 7 (assoc 11), 8 (12) and 9 (13); 9 owns PEs 1 and 2; then 9's
/// association goes down.
fn nine_fails() -> Box<TestRegistrar> {
    let mut r = with_peers(&[(7, 11), (8, 12), (9, 13)]);
    update(
        &mut r,
        T0,
        13,
        9,
        UpdateAction::AddPe,
        "p",
        &PeerPe::new(1, 9),
    );
    update(
        &mut r,
        T0,
        13,
        9,
        UpdateAction::AddPe,
        "p",
        &PeerPe::new(2, 9),
    );
    r.handle_transport_event(T0, TransportEvent::Down { assoc: AssocId(13) });
    r
}

fn init_takeover_sent(r: &mut TestRegistrar) {
    let out = drain_enrp(r);
    assert_eq!(
        types_of(&out),
        vec![(to(11), t::INIT_TAKEOVER), (to(12), t::INIT_TAKEOVER)]
    );
    assert!(matches!(parse(&out[0].1).body, EnrpBody::InitTakeover { target } if target == sid(9)));
    assert_eq!(parse(&out[0].1).receiver, None);
}

#[test]
fn takeover_completes_with_every_ack() {
    let mut r = nine_fails();
    init_takeover_sent(&mut r);
    assert_eq!(
        enrp_events(&mut r),
        vec![
            EnrpEvent::PeerDown { server_id: sid(9) },
            EnrpEvent::TakeoverStarted { target: sid(9) }
        ]
    );
    assert_eq!(r.takeovers_in_progress().collect::<Vec<_>>(), vec![sid(9)]);
    deliver(
        &mut r,
        T0,
        11,
        7,
        EnrpBody::InitTakeoverAck { target: sid(9) },
    );
    assert!(drain_enrp(&mut r).is_empty());
    // An ack for another target changes nothing.
    deliver(
        &mut r,
        T0,
        12,
        8,
        EnrpBody::InitTakeoverAck { target: sid(99) },
    );
    assert!(drain_enrp(&mut r).is_empty());
    deliver(
        &mut r,
        T0,
        12,
        8,
        EnrpBody::InitTakeoverAck { target: sid(9) },
    );
    let out = drain_enrp(&mut r);
    assert_eq!(
        types_of(&out),
        vec![(to(11), t::TAKEOVER_SERVER), (to(12), t::TAKEOVER_SERVER)]
    );
    assert_eq!(
        enrp_events(&mut r),
        vec![EnrpEvent::TakeoverWon {
            target: sid(9),
            pes: 2
        }]
    );
    assert_eq!(r.owned_count(), 2);
    assert_eq!(r.handlespace().owned_count(me()), 2);
    assert!(r.peers().iter().all(|p| p.server_id != Some(sid(9))));
    // Each PE gets a point-to-point ENDPOINT_KEEP_ALIVE H=1 (its timer is
    // due now): first an ASAP association to its ASAP address is opened.
    r.handle_timeout(T0);
    assert!(keep_alives(&mut r).is_empty());
    let mut connects = [r.poll_connect().unwrap(), r.poll_connect().unwrap()];
    assert_eq!(r.poll_connect(), None);
    connects.sort_by_key(|c| c.remote);
    assert_eq!(
        connects.iter().map(|c| c.remote).collect::<Vec<_>>(),
        vec![pe_addr(1), pe_addr(2)]
    );
    assert!(connects.iter().all(|c| c.protocol == Protocol::Asap));
    assert_eq!(r.stats().pe_connects, 2);
    // Up: the keep-alive goes on the new association, which is the PE's now.
    r.handle_transport_event(T0, asap_up(41, pe_addr(1)));
    assert_eq!(keep_alives(&mut r), vec![(to(41), true)]);
    let h = PoolHandle::new(b"p").unwrap();
    assert_eq!(
        r.handlespace().lookup(&h, pe(1)).unwrap().assoc(),
        AssocId(41)
    );
    // Its KEEP_ALIVE_ACK on that association is accepted.
    r.handle(
        T0,
        rserpool::transmit::Source::Association(AssocId(41)),
        Protocol::Asap,
        &keep_alive_ack("p", 1),
    );
    assert_eq!(r.stats().keep_alive_acks, 1);
    // The other PE cannot be reached: removed at once.
    r.handle_transport_event(T0, TransportEvent::ConnectFailed { remote: pe_addr(2) });
    assert!(r.handlespace().lookup(&h, pe(2)).is_none());
    assert_eq!(r.owned_count(), 1);
    assert_eq!(r.stats().pe_connects_failed, 1);
    assert_eq!(r.stats().removed_transport, 1);
    // The PE with an association is never removed by its keep-alive timeout.
    r.handle_timeout(T0 + Duration::from_secs(20));
    assert!(r.handlespace().lookup(&h, pe(1)).is_some());
}

fn asap_up(assoc: u32, remote: std::net::SocketAddr) -> TransportEvent {
    TransportEvent::Up {
        assoc: AssocId(assoc),
        remote,
        protocol: Protocol::Asap,
        verified: true,
    }
}

fn keep_alives(r: &mut TestRegistrar) -> Vec<(rserpool::transmit::Destination, bool)> {
    drain_all(r)
        .into_iter()
        .filter_map(|(tx, b)| match rserpool::wire::AsapMessage::parse(&b) {
            Ok(rserpool::wire::AsapMessage::EndpointKeepAlive { home, .. }) => {
                Some((tx.destination, home))
            }
            _ => None,
        })
        .collect()
}

fn keep_alive_ack(pool: &str, id: u32) -> Vec<u8> {
    let m = rserpool::wire::AsapMessage::EndpointKeepAliveAck {
        pool_handle: pool.as_bytes(),
        pe_id: pe(id),
    };
    let mut buf = vec![0u8; 256];
    let n = m.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn higher_initiator_wins_a_concurrent_takeover() {
    let mut r = nine_fails();
    drain_all(&mut r);
    events(&mut r);
    // A lower id asks: ignored (no ack), the own takeover goes on.
    enrp_up(&mut r, T0, 14, peer_addr(3));
    deliver(&mut r, T0, 11, 7, EnrpBody::InitTakeover { target: sid(9) });
    assert!(types_of(&drain_enrp(&mut r))
        .iter()
        .all(|(_, x)| *x != t::INIT_TAKEOVER_ACK));
    assert_eq!(r.takeovers_in_progress().count(), 1);
    // A higher id asks: this registrar gives up and acknowledges.
    deliver(
        &mut r,
        T0,
        14,
        HIGH,
        EnrpBody::InitTakeover { target: sid(9) },
    );
    let out = drain_enrp(&mut r);
    let acks: Vec<_> = out
        .iter()
        .filter(|(_, b)| u8::from(parse(b).message_type()) == t::INIT_TAKEOVER_ACK)
        .map(|(d, b)| (*d, parse(b).receiver))
        .collect();
    assert_eq!(acks, vec![(to(14), Some(sid(HIGH)))]);
    assert_eq!(r.takeovers_in_progress().count(), 0);
    let ev = enrp_events(&mut r);
    assert!(
        ev.contains(&EnrpEvent::TakeoverLost {
            target: sid(9),
            winner: sid(HIGH)
        }),
        "{ev:?}"
    );
    // Late acks do not revive it.
    deliver(
        &mut r,
        T0,
        11,
        7,
        EnrpBody::InitTakeoverAck { target: sid(9) },
    );
    deliver(
        &mut r,
        T0,
        12,
        8,
        EnrpBody::InitTakeoverAck { target: sid(9) },
    );
    assert!(types_of(&drain_enrp(&mut r))
        .iter()
        .all(|(_, x)| *x != t::TAKEOVER_SERVER));
    // The winner's TAKEOVER_SERVER re-homes the PEs to it.
    deliver(
        &mut r,
        T0,
        14,
        HIGH,
        EnrpBody::TakeoverServer { target: sid(9) },
    );
    assert_eq!(r.handlespace().owned_count(sid(HIGH)), 2);
    assert_eq!(r.handlespace().owned_count(sid(9)), 0);
    assert_eq!(r.owned_count(), 0);
    assert!(r.peers().iter().all(|p| p.server_id != Some(sid(9))));
    assert!(enrp_events(&mut r).contains(&EnrpEvent::PeerTakenOver {
        target: sid(9),
        by: sid(HIGH),
        pes: 2
    }));
}

#[test]
fn other_initiator_is_acknowledged_and_the_target_marked_dead() {
    let mut r = with_peers(&[(7, 11), (9, 13)]);
    update(
        &mut r,
        T0,
        13,
        9,
        UpdateAction::AddPe,
        "p",
        &PeerPe::new(1, 9),
    );
    deliver(&mut r, T0, 11, 7, EnrpBody::InitTakeover { target: sid(9) });
    let out = drain_enrp(&mut r);
    assert_eq!(types_of(&out), vec![(to(11), t::INIT_TAKEOVER_ACK)]);
    assert!(
        matches!(parse(&out[0].1).body, EnrpBody::InitTakeoverAck { target } if target == sid(9))
    );
    let nine = r
        .peers()
        .iter()
        .find(|p| p.server_id == Some(sid(9)))
        .unwrap();
    assert!(matches!(nine.state, PeerState::Dead { .. }));
    assert_eq!(r.takeovers_in_progress().count(), 0);
    // TAKEOVER_SERVER moves 9's PE to 7.
    deliver(
        &mut r,
        T0,
        11,
        7,
        EnrpBody::TakeoverServer { target: sid(9) },
    );
    let h = PoolHandle::new(b"p").unwrap();
    assert_eq!(
        r.handlespace().lookup(&h, pe(1)).unwrap().home_registrar(),
        Some(sid(7))
    );
}

#[test]
fn target_presence_aborts_the_takeover() {
    let mut r = nine_fails();
    drain_all(&mut r);
    events(&mut r);
    enrp_up(&mut r, T0, 15, peer_addr(9));
    deliver(&mut r, T0, 15, 9, presence_body(0xFFFF, false));
    assert_eq!(r.takeovers_in_progress().count(), 0);
    let ev = enrp_events(&mut r);
    assert!(
        ev.contains(&EnrpEvent::TakeoverAborted { target: sid(9) }),
        "{ev:?}"
    );
    assert!(
        ev.contains(&EnrpEvent::PeerUp { server_id: sid(9) }),
        "{ev:?}"
    );
    deliver(
        &mut r,
        T0,
        11,
        7,
        EnrpBody::InitTakeoverAck { target: sid(9) },
    );
    deliver(
        &mut r,
        T0,
        12,
        8,
        EnrpBody::InitTakeoverAck { target: sid(9) },
    );
    assert!(types_of(&drain_enrp(&mut r))
        .iter()
        .all(|(_, x)| *x != t::TAKEOVER_SERVER));
    assert_eq!(r.handlespace().owned_count(sid(9)), 2);
}

#[test]
fn the_target_answers_init_takeover_with_presence() {
    let mut r = with_peers(&[(7, 11), (8, 12)]);
    deliver(&mut r, T0, 11, 7, EnrpBody::InitTakeover { target: me() });
    let out = drain_enrp(&mut r);
    assert_eq!(
        types_of(&out),
        vec![(to(11), t::PRESENCE), (to(12), t::PRESENCE)]
    );
}

#[test]
fn expired_takeover_starts_again_and_a_dead_acker_is_not_awaited() {
    let mut r = nine_fails();
    drain_all(&mut r);
    deliver(
        &mut r,
        T0,
        11,
        7,
        EnrpBody::InitTakeoverAck { target: sid(9) },
    );
    r.handle_timeout(T0 + Duration::from_secs(5));
    let out = drain_enrp(&mut r);
    let inits: Vec<_> = types_of(&out)
        .into_iter()
        .filter(|(_, x)| *x == t::INIT_TAKEOVER)
        .collect();
    assert_eq!(
        inits,
        vec![(to(11), t::INIT_TAKEOVER), (to(12), t::INIT_TAKEOVER)]
    );
    assert_eq!(r.enrp_stats().takeovers_expired, 1);
    // 7 acks again; 8's association fails: nobody is missing any more.
    let at = T0 + Duration::from_secs(5);
    deliver(
        &mut r,
        at,
        11,
        7,
        EnrpBody::InitTakeoverAck { target: sid(9) },
    );
    r.handle_transport_event(at, TransportEvent::Down { assoc: AssocId(12) });
    let ev = enrp_events(&mut r);
    assert!(
        ev.contains(&EnrpEvent::TakeoverWon {
            target: sid(9),
            pes: 2
        }),
        "{ev:?}"
    );
}

#[test]
fn takeovers_in_flight_are_bounded() {
    let ids: Vec<(u32, u32)> = (0..8).map(|i| (20 + i, 40 + i)).collect();
    let mut r = with_peers(&ids);
    for &(_, assoc) in &ids[1..] {
        r.handle_transport_event(
            T0,
            TransportEvent::Down {
                assoc: AssocId(assoc),
            },
        );
    }
    assert_eq!(
        r.takeovers_in_progress().count(),
        rserpool::registrar::MAX_TAKEOVERS
    );
    // The ones left over are retried later, not forgotten.
    let waiting = r
        .peers()
        .iter()
        .filter(|p| matches!(p.state, PeerState::Dead { .. }))
        .count();
    assert_eq!(waiting, 7);
}

#[test]
fn late_initiator_is_told_the_takeover_happened() {
    let mut r = nine_fails();
    deliver(
        &mut r,
        T0,
        11,
        7,
        EnrpBody::InitTakeoverAck { target: sid(9) },
    );
    deliver(
        &mut r,
        T0,
        12,
        8,
        EnrpBody::InitTakeoverAck { target: sid(9) },
    );
    drain_all(&mut r);
    events(&mut r);
    // Peer 7 missed TAKEOVER_SERVER and starts its own takeover later.
    deliver(
        &mut r,
        T0 + Duration::from_secs(10),
        11,
        7,
        EnrpBody::InitTakeover { target: sid(9) },
    );
    let out = drain_enrp(&mut r);
    assert_eq!(types_of(&out), vec![(to(11), t::TAKEOVER_SERVER)]);
    assert_eq!(parse(&out[0].1).receiver, Some(sid(7)));
    assert!(
        matches!(parse(&out[0].1).body, EnrpBody::TakeoverServer { target } if target == sid(9))
    );
    // Once 9 shows up again, a new INIT_TAKEOVER for it is acknowledged.
    enrp_up(&mut r, T0, 15, peer_addr(9));
    deliver(&mut r, T0, 15, 9, presence_body(0xFFFF, false));
    drain_all(&mut r);
    deliver(&mut r, T0, 11, 7, EnrpBody::InitTakeover { target: sid(9) });
    let out = drain_enrp(&mut r);
    assert_eq!(types_of(&out), vec![(to(11), t::INIT_TAKEOVER_ACK)]);
}
