//! Serving HANDLE_TABLE_REQUESTs in pages, sessions and their limits, and
//! the checksum audit with mark-and-sweep resynchronisation.

use crate::support::enrp::*;
use rserpool::handlespace::checksum::pe_checksum;
use rserpool::registrar::EnrpEvent;
use rserpool::transmit::Machine;
use rserpool::wire::{enrp_type as t, EnrpBody, Protocol, UpdateAction};
use rserpool::{Duration, PoolHandle};

fn serving(max_per_page: u32) -> Box<TestRegistrar> {
    let mut c = enrp_config(&[]);
    c.enrp.max_handle_table_elements = max_per_page;
    let mut r = registrar(c);
    r.handle_timeout(T0);
    for (id, assoc) in [(7u32, 11u32), (8, 12)] {
        enrp_up(&mut r, T0, assoc, peer_addr(id as u8));
        deliver(&mut r, T0, assoc, id, presence_body(0xFFFF, false));
    }
    up(&mut r, T0, 1);
    for id in [10, 11, 12, 13, 14, 15, 16] {
        register_enrp(
            &mut r,
            T0,
            1,
            if id < 13 { "a" } else { "b" },
            &PeSpec::new(id),
        );
    }
    // Two PEs of peer 7.
    update(
        &mut r,
        T0,
        11,
        7,
        UpdateAction::AddPe,
        "a",
        &PeerPe::new(40, 7),
    );
    update(
        &mut r,
        T0,
        11,
        7,
        UpdateAction::AddPe,
        "c",
        &PeerPe::new(41, 7),
    );
    drain_all(&mut r);
    events(&mut r);
    r
}

fn request(
    r: &mut TestRegistrar,
    now: rserpool::Instant,
    assoc: u32,
    from: u32,
    own: bool,
) -> Vec<u8> {
    deliver(
        r,
        now,
        assoc,
        from,
        EnrpBody::HandleTableRequest {
            own_children_only: own,
        },
    );
    let mut out: Vec<_> = drain_enrp(r)
        .into_iter()
        .filter(|(_, b)| u8::from(parse(b).message_type()) == t::HANDLE_TABLE_RESPONSE)
        .collect();
    assert_eq!(out.len(), 1);
    let (d, b) = out.pop().unwrap();
    assert_eq!(d, to(assoc));
    assert_eq!(parse(&b).receiver, Some(sid(from)));
    b
}

#[test]
fn own_pes_in_pages_with_the_more_flag_across_changes() {
    let mut r = serving(3);
    let (m, p1) = page_of(&request(&mut r, T0, 12, 8, true));
    assert!(m);
    let ids = |p: &Vec<PageEntry>| p.iter().map(|x| x.1).collect::<Vec<_>>();
    assert_eq!(ids(&p1), vec![10, 11, 12]);
    assert!(p1.iter().all(|x| x.2 == Some(me().get())));
    // Between pages: PE 14 (not sent yet) goes, PE 17 arrives in pool "b".
    r.handle(T0, src(1), Protocol::Asap, &deregistration("b", 14));
    drain_all(&mut r);
    register_enrp(&mut r, T0, 1, "b", &PeSpec::new(17));
    drain_all(&mut r);
    let (m, p2) = page_of(&request(&mut r, T0, 12, 8, true));
    assert!(m);
    assert_eq!(ids(&p2), vec![13, 15, 16]);
    let (m, p3) = page_of(&request(&mut r, T0, 12, 8, true));
    assert!(!m);
    assert_eq!(ids(&p3), vec![17]);
    assert_eq!(r.enrp_sessions(), 0);
    assert_eq!(r.enrp_stats().pages_sent, 3);
}

#[test]
fn whole_table_walks_every_owner() {
    let mut r = serving(4);
    let mut all = Vec::new();
    loop {
        let (m, p) = page_of(&request(&mut r, T0, 12, 8, false));
        assert!(p.len() <= 4);
        all.extend(p);
        if !m {
            break;
        }
    }
    // Every owner's PEs (peer 7's and this registrar's), each once, in
    // (pool handle, PE id) order.
    let got: Vec<(Vec<u8>, u32, Option<u32>)> = all;
    let mine = Some(me().get());
    let want: Vec<(Vec<u8>, u32, Option<u32>)> = [
        ("a", 10, mine),
        ("a", 11, mine),
        ("a", 12, mine),
        ("a", 40, Some(7)),
        ("b", 13, mine),
        ("b", 14, mine),
        ("b", 15, mine),
        ("b", 16, mine),
        ("c", 41, Some(7)),
    ]
    .map(|(p, id, o)| (p.as_bytes().to_vec(), id, o))
    .into();
    assert_eq!(got, want);
}

#[test]
fn sessions_are_bounded_and_time_out() {
    let mut c = enrp_config(&[]);
    c.enrp.max_handle_table_elements = 1;
    c.enrp.max_sessions = 1;
    let mut r = registrar(c);
    r.handle_timeout(T0);
    up(&mut r, T0, 1);
    for id in [10, 11, 12] {
        register_enrp(&mut r, T0, 1, "a", &PeSpec::new(id));
    }
    let (m, p) = page_of(&request(&mut r, T0, 12, 8, true));
    assert!(m && p[0].1 == 10);
    drain_all(&mut r);
    // A second requester is rejected while the first session runs.
    deliver(
        &mut r,
        T0,
        13,
        9,
        EnrpBody::HandleTableRequest {
            own_children_only: true,
        },
    );
    let out = drain_enrp(&mut r);
    let rejected: Vec<bool> = out
        .iter()
        .filter_map(|(_, b)| match parse(b).body {
            EnrpBody::HandleTableResponse { rejected, .. } => Some(rejected),
            _ => None,
        })
        .collect();
    assert_eq!(rejected, vec![true]);
    assert_eq!(r.enrp_stats().sessions_refused, 1);
    // The first session times out; a request then starts from the beginning.
    r.handle_timeout(T0 + Duration::from_secs(10));
    assert_eq!(r.enrp_sessions(), 0);
    assert_eq!(r.enrp_stats().sessions_timed_out, 1);
    drain_all(&mut r);
    let later = T0 + Duration::from_secs(11);
    let (_, p) = page_of(&request(&mut r, later, 12, 8, true));
    assert_eq!(p[0].1, 10);
}

#[test]
fn audit_mismatch_resynchronises_with_mark_and_sweep() {
    let mut r = with_peer(7, 11);
    // Peer 7's PEs as known here: 1, 2 and 3 in "a", 9 in "z".
    for (pool, id) in [("a", 1), ("a", 2), ("a", 3), ("z", 9)] {
        update(
            &mut r,
            T0,
            11,
            7,
            UpdateAction::AddPe,
            pool,
            &PeerPe::new(id, 7),
        );
    }
    // Peer 7 really owns 1, 3 and 4 in "a".
    let truth = pe_checksum([(&b"a"[..], pe(1)), (&b"a"[..], pe(3)), (&b"a"[..], pe(4))]);
    // A matching checksum starts nothing.
    let same = r.peer_checksum(sid(7));
    deliver(&mut r, T0, 11, 7, presence_body(same, false));
    assert!(drain_enrp(&mut r).is_empty());
    deliver(&mut r, T0, 11, 7, presence_body(truth, false));
    let out = drain_enrp(&mut r);
    assert_eq!(types_of(&out), vec![(to(11), t::HANDLE_TABLE_REQUEST)]);
    assert!(matches!(
        parse(&out[0].1).body,
        EnrpBody::HandleTableRequest {
            own_children_only: true
        }
    ));
    assert_eq!(
        enrp_events(&mut r),
        vec![EnrpEvent::AuditMismatch {
            peer: sid(7),
            announced: truth,
            local: same
        }]
    );
    // A second PRESENCE while resynchronising does not start another.
    deliver(&mut r, T0, 11, 7, presence_body(truth, false));
    assert!(drain_enrp(&mut r).is_empty());
    // Page 1: PE 1 (M=1): a new request follows.
    table_response(&mut r, T0, 11, 7, true, "a", &[PeerPe::new(1, 7)]);
    assert_eq!(
        types_of(&drain_enrp(&mut r)),
        vec![(to(11), t::HANDLE_TABLE_REQUEST)]
    );
    // Page 2: PEs 3 and 4 (M=0): PE 2 (between) and PE 9 (after) are swept.
    table_response(
        &mut r,
        T0,
        11,
        7,
        false,
        "a",
        &[PeerPe::new(3, 7), PeerPe::new(4, 7)],
    );
    let h = PoolHandle::new(b"a").unwrap();
    let have: Vec<u32> = r
        .handlespace()
        .owned_by(sid(7))
        .map(|v| v.pe_id().get())
        .collect();
    assert_eq!(have, vec![1, 3, 4]);
    assert!(r.handlespace().lookup(&h, pe(2)).is_none());
    assert!(r
        .handlespace()
        .pool(&PoolHandle::new(b"z").unwrap())
        .is_none());
    assert_eq!(r.peer_checksum(sid(7)), truth);
    assert_eq!(
        enrp_events(&mut r),
        vec![EnrpEvent::ResyncDone {
            peer: sid(7),
            swept: 2,
            checksum: truth
        }]
    );
    assert_eq!(r.enrp_sessions(), 0);
    // Now the announced checksum matches.
    deliver(&mut r, T0, 11, 7, presence_body(truth, false));
    assert!(drain_enrp(&mut r).is_empty());
}

#[test]
fn resync_tolerates_pages_out_of_order() {
    let mut r = with_peer(7, 11);
    for id in [1, 2, 3, 5] {
        update(
            &mut r,
            T0,
            11,
            7,
            UpdateAction::AddPe,
            "a",
            &PeerPe::new(id, 7),
        );
    }
    let truth = pe_checksum([(&b"a"[..], pe(1)), (&b"a"[..], pe(3))]);
    deliver(&mut r, T0, 11, 7, presence_body(truth, false));
    drain_all(&mut r);
    table_response(&mut r, T0, 11, 7, true, "a", &[PeerPe::new(3, 7)]);
    drain_all(&mut r);
    table_response(&mut r, T0, 11, 7, false, "a", &[PeerPe::new(1, 7)]);
    let have: Vec<u32> = r
        .handlespace()
        .owned_by(sid(7))
        .map(|v| v.pe_id().get())
        .collect();
    assert_eq!(have, vec![1, 3]);
    assert_eq!(r.peer_checksum(sid(7)), truth);
}

#[test]
fn resync_does_not_take_away_a_pe_attached_here() {
    let mut r = with_peer(7, 11);
    up(&mut r, T0, 1);
    register_enrp(&mut r, T0, 1, "a", &PeSpec::new(5));
    // Peer 7 claims PE 5 in its table (a stale view after a partition).
    deliver(&mut r, T0, 11, 7, presence_body(0x1234, false));
    drain_all(&mut r);
    let mut p = PeerPe::new(5, 7);
    p.addrs = PeSpec::new(5).addrs;
    table_response(&mut r, T0, 11, 7, false, "a", &[p, PeerPe::new(6, 7)]);
    let h = PoolHandle::new(b"a").unwrap();
    assert_eq!(
        r.handlespace().lookup(&h, pe(5)).unwrap().home_registrar(),
        Some(me())
    );
    assert_eq!(r.owned_count(), 1);
    assert_eq!(
        r.handlespace().lookup(&h, pe(6)).unwrap().home_registrar(),
        Some(sid(7))
    );
    assert_eq!(r.enrp_stats().table_entries_kept, 1);
}
