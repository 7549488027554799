//! ENRP initialisation: mentor choice, LIST_REQUEST/RESPONSE, paged
//! handle table download, rejection while initialising, timeouts.

use crate::support::enrp::*;
use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::registrar::EnrpEvent;
use rserpool::transmit::Machine;
use rserpool::wire::{enrp_type as t, EnrpBody, List, Protocol, ServerInfoParam, TransportParam};
use rserpool::{Duration, PoolHandle};

fn starting() -> Box<TestRegistrar> {
    let mut r = registrar(enrp_config(&[peer_addr(2), peer_addr(3)]));
    r.handle_timeout(T0);
    assert!(!r.is_initialised());
    let c1 = r.poll_connect().unwrap();
    let c2 = r.poll_connect().unwrap();
    assert_eq!((c1.remote, c2.remote), (peer_addr(2), peer_addr(3)));
    assert_eq!(c1.protocol, Protocol::Enrp);
    assert_eq!(r.poll_connect(), None);
    drain_all(&mut r);
    r
}

#[test]
fn mentor_list_and_paged_download() {
    let mut r = starting();
    // The first reachable configured peer becomes the mentor.
    enrp_up(&mut r, T0, 11, peer_addr(2));
    let out = drain_enrp(&mut r);
    assert_eq!(
        types_of(&out),
        vec![(to(11), t::PRESENCE), (to(11), t::LIST_REQUEST)]
    );
    // While initialising, requests from others are answered, not rejected
    // (rsplib takes R=1 as final): the peers known so far, and the PEs
    // owned here (none yet).
    deliver(&mut r, T0, 20, 50, EnrpBody::ListRequest);
    deliver(
        &mut r,
        T0,
        20,
        50,
        EnrpBody::HandleTableRequest {
            own_children_only: false,
        },
    );
    let out = drain_enrp(&mut r);
    let answers: Vec<_> = out
        .iter()
        .filter_map(|(d, b)| match parse(b).body {
            EnrpBody::ListResponse { rejected, .. } => Some((*d, t::LIST_RESPONSE, rejected)),
            EnrpBody::HandleTableResponse { rejected, .. } => {
                Some((*d, t::HANDLE_TABLE_RESPONSE, rejected))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec![
            (to(20), t::LIST_RESPONSE, false),
            (to(20), t::HANDLE_TABLE_RESPONSE, false)
        ]
    );
    assert_eq!(r.enrp_stats().requests_rejected, 0);
    // LIST_RESPONSE names another registrar: it is added and connected to.
    let ip9 = [peer_addr(9).ip()];
    let infos = [ServerInfoParam {
        server_id: sid(9),
        transport: TransportParam::new(TransportProtocol::Sctp, 9901, TransportUse::DataOnly, &ip9),
    }];
    deliver(
        &mut r,
        T0,
        11,
        2,
        EnrpBody::ListResponse {
            rejected: false,
            servers: List::from_slice(&infos),
        },
    );
    let out = drain_enrp(&mut r);
    assert_eq!(types_of(&out), vec![(to(11), t::HANDLE_TABLE_REQUEST)]);
    assert!(matches!(
        parse(&out[0].1).body,
        EnrpBody::HandleTableRequest {
            own_children_only: false
        }
    ));
    assert_eq!(r.poll_connect().map(|c| c.remote), Some(peer_addr(9)));
    // Two pages: M=1 asks for more, M=0 ends initialisation.
    table_response(
        &mut r,
        T0,
        11,
        2,
        true,
        "pool",
        &[PeerPe::new(1, 2), PeerPe::new(2, 9)],
    );
    let out = drain_enrp(&mut r);
    assert_eq!(types_of(&out), vec![(to(11), t::HANDLE_TABLE_REQUEST)]);
    assert!(!r.is_initialised());
    table_response(&mut r, T0, 11, 2, false, "pool", &[PeerPe::new(3, 2)]);
    assert!(drain_enrp(&mut r).is_empty());
    assert!(r.is_initialised());
    let ev = enrp_events(&mut r);
    assert!(
        ev.contains(&EnrpEvent::InitialisationDone {
            mentor: Some(sid(2)),
            pes: 3
        }),
        "{ev:?}"
    );
    let h = PoolHandle::new(b"pool").unwrap();
    assert_eq!(
        r.handlespace().lookup(&h, pe(2)).unwrap().home_registrar(),
        Some(sid(9))
    );
    assert_eq!(r.handlespace().owned_count(sid(2)), 2);
    // Now requests are served.
    deliver(&mut r, T0, 20, 50, EnrpBody::ListRequest);
    let out = drain_enrp(&mut r);
    match parse(&out[0].1).body {
        EnrpBody::ListResponse { rejected, servers } => {
            assert!(!rejected);
            let ids: Vec<u32> = servers.iter().map(|s| s.server_id.get()).collect();
            assert!(ids.contains(&2) && ids.contains(&9), "{ids:?}");
        }
        b => panic!("{b:?}"),
    }
}

#[test]
fn rejected_list_request_tries_the_backup_mentor() {
    let mut r = starting();
    enrp_up(&mut r, T0, 11, peer_addr(2));
    enrp_up(&mut r, T0, 12, peer_addr(3));
    drain_all(&mut r);
    deliver(
        &mut r,
        T0,
        11,
        2,
        EnrpBody::ListResponse {
            rejected: true,
            servers: List::empty(),
        },
    );
    let out = drain_enrp(&mut r);
    assert_eq!(types_of(&out), vec![(to(12), t::LIST_REQUEST)]);
    // No answer from the backup within MAX-TIME-NO-RESPONSE: back to the first.
    let at = T0 + Duration::from_secs(5);
    r.handle_timeout(at);
    let out: Vec<_> = types_of(&drain_enrp(&mut r))
        .into_iter()
        .filter(|(_, x)| *x == t::LIST_REQUEST)
        .collect();
    // The overall discovery timeout (5 s) ends it at the same moment.
    assert!(out.is_empty() || out == vec![(to(11), t::LIST_REQUEST)]);
    assert!(r.is_initialised());
    assert!(
        enrp_events(&mut r).contains(&EnrpEvent::InitialisationDone {
            mentor: None,
            pes: 0
        })
    );
}

#[test]
fn no_reachable_mentor_ends_initialisation_alone() {
    let mut r = starting();
    let end = r.poll_timeout().unwrap();
    assert!(end <= T0 + Duration::from_secs(5));
    r.handle_timeout(T0 + Duration::from_secs(5));
    assert!(r.is_initialised());
    assert_eq!(
        enrp_events(&mut r),
        vec![EnrpEvent::InitialisationDone {
            mentor: None,
            pes: 0
        }]
    );
}

#[test]
fn stalled_download_times_out() {
    let mut r = starting();
    enrp_up(&mut r, T0, 11, peer_addr(2));
    deliver(
        &mut r,
        T0,
        11,
        2,
        EnrpBody::ListResponse {
            rejected: false,
            servers: List::empty(),
        },
    );
    table_response(&mut r, T0, 11, 2, true, "pool", &[PeerPe::new(1, 2)]);
    drain_all(&mut r);
    r.handle_timeout(T0 + Duration::from_secs(9));
    assert!(!r.is_initialised());
    r.handle_timeout(T0 + Duration::from_secs(10));
    assert!(r.is_initialised());
    assert!(
        enrp_events(&mut r).contains(&EnrpEvent::InitialisationDone {
            mentor: Some(sid(2)),
            pes: 1
        })
    );
}

#[test]
fn no_static_peers_means_initialised_at_once() {
    let mut r = registrar(enrp_config(&[]));
    r.handle_timeout(T0);
    assert!(r.is_initialised());
    assert_eq!(r.poll_connect(), None);
}

#[test]
fn rejecting_mentors_are_asked_again_only_after_the_retry_interval() {
    let mut r = starting();
    let retry = r.config().enrp.mentor_retry_interval;
    assert_eq!(retry, Duration::from_secs(2));
    enrp_up(&mut r, T0, 11, peer_addr(2));
    enrp_up(&mut r, T0, 12, peer_addr(3));
    drain_all(&mut r);
    let reject = || EnrpBody::ListResponse {
        rejected: true,
        servers: List::empty(),
    };
    // Both mentors are initialising themselves: each rejects once, and
    // nobody is asked again at once (no LIST_REQUEST storm).
    deliver(&mut r, T0, 11, 2, reject());
    assert_eq!(
        types_of(&drain_enrp(&mut r)),
        vec![(to(12), t::LIST_REQUEST)]
    );
    deliver(&mut r, T0, 12, 3, reject());
    assert!(drain_enrp(&mut r).is_empty());
    assert_eq!(r.enrp_stats().list_rejections, 2);
    assert_eq!(r.poll_timeout(), Some(T0 + retry));
    r.handle_timeout(T0 + retry - Duration::from_millis(1));
    assert!(!types_of(&drain_enrp(&mut r))
        .iter()
        .any(|(_, x)| *x == t::LIST_REQUEST));
    // After the interval the first mentor is asked again, and it answers.
    r.handle_timeout(T0 + retry);
    let asked: Vec<_> = types_of(&drain_enrp(&mut r))
        .into_iter()
        .filter(|(_, x)| *x == t::LIST_REQUEST)
        .collect();
    assert_eq!(asked, vec![(to(11), t::LIST_REQUEST)]);
    deliver(
        &mut r,
        T0 + retry,
        11,
        2,
        EnrpBody::ListResponse {
            rejected: false,
            servers: List::empty(),
        },
    );
    assert_eq!(
        types_of(&drain_enrp(&mut r)),
        vec![(to(11), t::HANDLE_TABLE_REQUEST)]
    );
}

/// A mentor's LIST_RESPONSE (rsplib) naming a peer with server id 0 (a
/// configured peer it has not heard from yet) is not thrown away: the
/// registrar goes on to download the handle table from that mentor.
#[test]
fn list_response_with_a_server_id_0_entry_leads_to_the_download() {
    let mut r = starting();
    enrp_up(&mut r, T0, 11, peer_addr(2));
    drain_all(&mut r);
    // As rsplib sends it: sender 2, receiver = us; an entry with id 0 at
    // 10.9.0.7:9901 and one with id 9 at 10.9.0.9:9901.
    let me = me().get().to_be_bytes();
    let mut b = vec![0x06, 0x00, 0x00, 0x3c, 0, 0, 0, 2];
    b.extend_from_slice(&me);
    for (id, ip) in [(0u32, 7u8), (9, 9)] {
        b.extend_from_slice(&[0x00, 0x0b, 0x00, 0x18]);
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&[0x00, 0x04, 0x00, 0x10, 0x26, 0xad, 0x00, 0x00]);
        b.extend_from_slice(&[0x00, 0x01, 0x00, 0x08, 10, 9, 0, ip]);
    }
    assert_eq!(b.len(), 0x3c);
    r.handle(T0, src(11), Protocol::Enrp, &b);
    let out = drain_enrp(&mut r);
    assert_eq!(types_of(&out), vec![(to(11), t::HANDLE_TABLE_REQUEST)]);
    assert!(matches!(
        parse(&out[0].1).body,
        EnrpBody::HandleTableRequest {
            own_children_only: false
        }
    ));
    assert_eq!(r.enrp_stats().malformed, 0);
    // The named peer is learnt and connected to; the id-0 entry is not.
    assert!(r.peers().iter().any(|p| p.server_id == Some(sid(9))));
    assert_eq!(r.poll_connect().map(|c| c.remote), Some(peer_addr(9)));
    assert_eq!(r.poll_connect(), None);
}

/// A peer asking for the handle table while this registrar initialises gets
/// the PEs it owns (W=1 and W=0 alike), not a rejection.
#[test]
fn table_request_while_initialising_gets_the_owned_pes() {
    let mut r = starting();
    enrp_up(&mut r, T0, 11, peer_addr(2));
    drain_all(&mut r);
    for id in [5, 6] {
        up(&mut r, T0, id);
        register_enrp(&mut r, T0, id, "pool", &PeSpec::new(id));
    }
    assert!(!r.is_initialised());
    for own in [true, false] {
        deliver(
            &mut r,
            T0,
            20,
            50,
            EnrpBody::HandleTableRequest {
                own_children_only: own,
            },
        );
        let out: Vec<_> = drain_enrp(&mut r)
            .into_iter()
            .filter(|(_, b)| u8::from(parse(b).message_type()) == t::HANDLE_TABLE_RESPONSE)
            .collect();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, to(20));
        let (more, pes) = page_of(&out[0].1);
        assert!(!more);
        let ids: Vec<(u32, Option<u32>)> = pes.iter().map(|p| (p.1, p.2)).collect();
        assert_eq!(
            ids,
            vec![(5, Some(me().get())), (6, Some(me().get()))],
            "W={own}"
        );
    }
    assert_eq!(r.enrp_stats().requests_rejected, 0);
}
