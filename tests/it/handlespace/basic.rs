//! Handlespace behaviour: registration rules and error paths, capacity,
//! ownership, checksums, associations and timers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rserpool::addr::{TransportAddress, TransportError, TransportProtocol, TransportUse};
use rserpool::handlespace::checksum::pe_checksum;
use rserpool::handlespace::{
    FixedHandlespace, GrowableHandlespace, Handlespace, HandlespaceError, OwnershipCursor, PeRef,
    PeTimerKind, RegisterOutcome, Registration, Resource, Storage,
};
use rserpool::id::{IdError, MAX_POOL_HANDLE_SIZE};
use rserpool::random::Xoshiro256StarStar;
use rserpool::storage::{Backend, RedBlackTree, SortedList, Treap};
use rserpool::timer::TimerIndex;
use rserpool::{AssocId, CauseCode, Duration, Instant, PeId, Policy, PoolHandle, ServerId};

const V4: [IpAddr; 1] = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))];

fn sctp(addrs: &[IpAddr]) -> TransportAddress<'_> {
    TransportAddress {
        protocol: TransportProtocol::Sctp,
        port: 3863,
        transport_use: TransportUse::DataOnly,
        service_code: 0,
        addresses: addrs,
    }
}

fn handle(s: &str) -> PoolHandle {
    PoolHandle::try_from(s).unwrap()
}

fn pe(v: u32) -> PeId {
    PeId::new(v).unwrap()
}

fn sid(v: u32) -> ServerId {
    ServerId::new(v).unwrap()
}

fn reg<'a>(pool: &str, id: u32, owner: u32, policy: Policy) -> Registration<'a> {
    Registration {
        pool_handle: handle(pool),
        pe_id: pe(id),
        home_registrar: ServerId::new(owner).ok(),
        registration_life: 30_000,
        user_transport: sctp(&V4),
        policy,
        asap_transport: Some(sctp(&V4)),
        assoc: AssocId(owner),
    }
}

type Small<B> = FixedHandlespace<B, 4, 2, 3, 2>;

fn error_paths<B: Backend>() {
    let mut hs: Box<Small<B>> = Box::default();
    let now = Instant::ZERO;
    let rr = Policy::RoundRobin;
    assert!(matches!(
        hs.register(now, &reg("A", 1, 1, rr)),
        Ok(RegisterOutcome::Added(_))
    ));
    assert!(matches!(
        hs.register(now, &reg("A", 1, 1, rr)),
        Ok(RegisterOutcome::Updated(_))
    ));
    // Inconsistent policy type.
    let e = hs
        .register(now, &reg("A", 2, 1, Policy::LeastUsed { load: 0 }))
        .unwrap_err();
    assert_eq!(
        e,
        HandlespaceError::InconsistentPoolingPolicy {
            pool_policy_type: 1
        }
    );
    assert_eq!(e.cause(), CauseCode::InconsistentPoolingPolicy);
    // Also on re-registration.
    assert_eq!(
        hs.register(now, &reg("A", 1, 1, Policy::LeastUsed { load: 0 }))
            .unwrap_err()
            .cause(),
        CauseCode::InconsistentPoolingPolicy
    );
    // Inconsistent transport type.
    let mut r = reg("A", 2, 1, rr);
    r.user_transport.protocol = TransportProtocol::Tcp;
    let e = hs.register(now, &r).unwrap_err();
    assert_eq!(e.cause(), CauseCode::InconsistentTransportType);
    // Inconsistent data/control configuration.
    let mut r = reg("A", 2, 1, rr);
    r.user_transport.transport_use = TransportUse::DataAndControl;
    assert_eq!(
        hs.register(now, &r).unwrap_err().cause(),
        CauseCode::InconsistentDataControlConfiguration
    );
    // Invalid values: no address, too many addresses, control over TCP, bad life, ASAP not SCTP.
    let mut r = reg("B", 2, 1, rr);
    r.user_transport.addresses = &[];
    assert_eq!(
        hs.register(now, &r).unwrap_err(),
        HandlespaceError::InvalidTransport(TransportError::NoAddress)
    );
    let many = [V4[0]; rserpool::addr::MAX_TRANSPORT_ADDRESSES + 1];
    r.user_transport.addresses = &many;
    assert_eq!(
        hs.register(now, &r).unwrap_err(),
        HandlespaceError::InvalidTransport(TransportError::TooManyAddresses)
    );
    let mut r = reg("B", 2, 1, rr);
    r.user_transport.protocol = TransportProtocol::Tcp;
    r.user_transport.transport_use = TransportUse::DataAndControl;
    assert_eq!(
        hs.register(now, &r).unwrap_err().cause(),
        CauseCode::InvalidValues
    );
    let mut r = reg("B", 2, 1, rr);
    r.registration_life = -2;
    assert_eq!(
        hs.register(now, &r).unwrap_err().cause(),
        CauseCode::InvalidValues
    );
    let mut r = reg("B", 2, 1, rr);
    r.asap_transport = Some(TransportAddress {
        protocol: TransportProtocol::Udp,
        ..sctp(&V4)
    });
    assert_eq!(
        hs.register(now, &r).unwrap_err(),
        HandlespaceError::InvalidAsapTransport
    );
    // Identifier limits are enforced by the identifier types.
    assert_eq!(PeId::new(0), Err(IdError::Zero));
    assert!(PoolHandle::new(&[b'x'; MAX_POOL_HANDLE_SIZE + 1]).is_err());
    // Unknown PE / pool.
    assert_eq!(
        hs.deregister(&handle("A"), pe(9)),
        Err(HandlespaceError::UnknownPoolElement)
    );
    assert_eq!(
        hs.deregister(&handle("Z"), pe(1)),
        Err(HandlespaceError::UnknownPoolHandle)
    );
    let mut rng = Xoshiro256StarStar::seed_from_u64(1);
    let mut out = [PeRef::default(); 4];
    assert_eq!(
        hs.resolve(&handle("Z"), 1, &mut rng, &mut out)
            .unwrap_err()
            .cause(),
        CauseCode::UnknownPoolHandle
    );
    hs.check().unwrap();

    // Capacities: 4 PEs, 2 pools, 3 extra addresses, 2 owners.
    hs.register(now, &reg("B", 1, 2, rr)).unwrap();
    let e = hs.register(now, &reg("C", 1, 2, rr)).unwrap_err();
    assert_eq!(e, HandlespaceError::LackOfResources(Resource::Pools));
    assert_eq!(e.cause(), CauseCode::LackOfResources);
    let e = hs.register(now, &reg("A", 5, 3, rr)).unwrap_err();
    assert_eq!(e, HandlespaceError::LackOfResources(Resource::Owners));
    let four = [V4[0]; 5];
    let mut r = reg("A", 5, 1, rr);
    r.user_transport.addresses = &four;
    assert_eq!(
        hs.register(now, &r).unwrap_err(),
        HandlespaceError::LackOfResources(Resource::Addresses)
    );
    r.user_transport.addresses = &four[..4];
    hs.register(now, &r).unwrap();
    hs.register(now, &reg("A", 6, 1, rr)).unwrap();
    let before = snapshot(&hs);
    assert_eq!(
        hs.register(now, &reg("A", 7, 1, rr)).unwrap_err(),
        HandlespaceError::LackOfResources(Resource::PoolElements)
    );
    // Re-registration growing the address list beyond capacity: nothing changes.
    let mut r = reg("A", 1, 1, rr);
    r.user_transport.addresses = &four[..2];
    assert_eq!(
        hs.register(now, &r).unwrap_err(),
        HandlespaceError::LackOfResources(Resource::Addresses)
    );
    // Moving the owner of the only PE of owner 2 to a new owner 3 reuses its entry.
    let moved = reg("B", 1, 3, rr);
    assert_eq!(snapshot(&hs), before);
    hs.check().unwrap();
    hs.register(now, &moved).unwrap();
    assert_eq!(hs.owned_count(sid(3)), 1);
    assert_eq!(hs.owned_count(sid(2)), 0);
    hs.check().unwrap();
    // Deregistration frees the resources again.
    hs.deregister(&handle("A"), pe(5)).unwrap();
    hs.register(now, &reg("A", 7, 1, rr)).unwrap();
    hs.check().unwrap();
    assert_eq!(hs.len(), 4);
}

fn snapshot<B: Backend, S: Storage>(hs: &Handlespace<B, S>) -> Vec<String> {
    let mut v = Vec::new();
    for p in hs.pools() {
        for e in p.elements() {
            let addrs: Vec<IpAddr> = e.user_addresses().collect();
            v.push(format!(
                "{} {:?} {:?} {:?} {:?} {:?} {:?}",
                p.handle(),
                e.pe_id(),
                e.home_registrar(),
                e.policy(),
                e.policy_state(),
                addrs,
                e.timer()
            ));
        }
    }
    v.extend(hs.owners().iter().map(|o| format!("{:?}", o)));
    v
}

#[test]
fn error_paths_rbtree() {
    error_paths::<RedBlackTree>();
}
#[test]
fn error_paths_treap() {
    error_paths::<Treap>();
}
#[test]
fn error_paths_list() {
    error_paths::<SortedList>();
}

#[test]
fn addresses_round_trip() {
    let mut hs = GrowableHandlespace::<RedBlackTree>::new();
    let addrs = [
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)),
    ];
    let mut r = reg("P", 1, 1, Policy::RoundRobin);
    r.user_transport.addresses = &addrs;
    r.user_transport.transport_use = TransportUse::DataAndControl;
    r.asap_transport = Some(sctp(&addrs[1..3]));
    hs.register(Instant::ZERO, &r).unwrap();
    let v = hs.lookup(&handle("P"), pe(1)).unwrap();
    let mut buf = [V4[0]; rserpool::addr::MAX_TRANSPORT_ADDRESSES];
    let t = v.user_transport(&mut buf);
    assert_eq!(t, r.user_transport);
    let mut buf = [V4[0]; rserpool::addr::MAX_TRANSPORT_ADDRESSES];
    assert_eq!(v.asap_transport(&mut buf), r.asap_transport);
    // Re-registration with fewer addresses frees the rest.
    r.user_transport.addresses = &addrs[3..];
    r.asap_transport = None;
    hs.register(Instant::ZERO, &r).unwrap();
    let v = hs.lookup(&handle("P"), pe(1)).unwrap();
    assert_eq!(v.user_addresses().collect::<Vec<_>>(), vec![addrs[3]]);
    assert_eq!(v.asap_addresses().count(), 0);
    hs.check().unwrap();
}

fn ownership<B: Backend>() {
    let mut hs = GrowableHandlespace::<B>::new();
    let now = Instant::ZERO;
    let rr = Policy::RoundRobin;
    let set = [
        ("EchoPool1", 0x1234_5678),
        ("EchoPool1", 0x0BAD_CAFE),
        ("P", 0x100),
        ("abcdefgh", 0xFFFF_FFFF),
    ];
    for (h, id) in set {
        hs.register(now, &reg(h, id, 7, rr)).unwrap();
    }
    hs.register(now, &reg("EchoPool1", 5, 8, rr)).unwrap();
    assert_eq!(hs.owner_checksum(sid(7)), 0xA0B4);
    assert_eq!(
        hs.owner_checksum(sid(8)),
        pe_checksum([(&b"EchoPool1"[..], pe(5))])
    );
    assert_eq!(hs.owner_checksum(sid(9)), 0xFFFF);
    // Resumable cursor: two PEs, then changes, then the rest.
    let mut cursor = OwnershipCursor::new(sid(7));
    let a = hs.next_owned(&mut cursor).unwrap();
    assert_eq!(
        (a.pool_handle().as_bytes(), a.pe_id()),
        (&b"EchoPool1"[..], pe(0x0BAD_CAFE))
    );
    let b = hs.next_owned(&mut cursor).unwrap().pe_id();
    assert_eq!(b, pe(0x1234_5678));
    // Remove the one returned last, add one before the cursor and one after.
    hs.deregister(&handle("EchoPool1"), pe(0x1234_5678))
        .unwrap();
    hs.register(now, &reg("EchoPool0", 1, 7, rr)).unwrap();
    hs.register(now, &reg("Q", 1, 7, rr)).unwrap();
    let rest: Vec<_> = std::iter::from_fn(|| {
        hs.next_owned(&mut cursor)
            .map(|v| (v.pool_handle().to_string(), v.pe_id().get()))
    })
    .collect();
    assert_eq!(
        rest,
        vec![
            ("P".into(), 0x100),
            ("Q".into(), 1),
            ("abcdefgh".into(), 0xFFFF_FFFF)
        ]
    );
    assert!(hs.next_owned(&mut cursor).is_none());
    let all: Vec<u32> = hs.owned_by(sid(7)).map(|v| v.pe_id().get()).collect();
    assert_eq!(all, vec![1, 0x0BAD_CAFE, 0x100, 1, 0xFFFF_FFFF]);
    assert_eq!(hs.owned_by(sid(8)).count(), 1);
    assert_eq!(hs.owned_by(sid(9)).count(), 0);
    hs.check().unwrap();
    // Takeover moves PEs and checksum.
    let sum7 = hs.owner_checksum(sid(7));
    let n7 = hs.owned_count(sid(7));
    assert_eq!(hs.take_over(sid(7), sid(9)), n7);
    assert_eq!(hs.owner_checksum(sid(9)), sum7);
    assert_eq!(hs.owner_checksum(sid(7)), 0xFFFF);
    hs.check().unwrap();
    // Into an existing owner: checksums add up.
    let mut all = Vec::new();
    for p in hs.pools() {
        for e in p.elements() {
            all.push((*e.pool_handle(), e.pe_id()));
        }
    }
    assert_eq!(hs.take_over(sid(8), sid(9)), 1);
    assert_eq!(hs.owned_count(sid(9)), n7 + 1);
    assert_eq!(
        hs.owner_checksum(sid(9)),
        pe_checksum(all.iter().map(|(h, i)| (h.as_bytes(), *i)))
    );
    hs.check().unwrap();
}

#[test]
fn ownership_rbtree() {
    ownership::<RedBlackTree>();
}
#[test]
fn ownership_treap() {
    ownership::<Treap>();
}
#[test]
fn ownership_list() {
    ownership::<SortedList>();
}

#[test]
fn associations_and_timers() {
    let mut hs = GrowableHandlespace::<Treap>::new();
    let t0 = Instant::from_secs(100);
    let rr = Policy::RoundRobin;
    let mut refs = Vec::new();
    for i in 1..=6u32 {
        let mut r = reg("A", i, 1, rr);
        r.assoc = AssocId(i % 2);
        r.registration_life = if i == 6 { -1 } else { i as i32 * 1000 };
        refs.push(hs.register(t0, &r).unwrap().pe());
    }
    assert_eq!(hs.by_association(AssocId(1)).count(), 3);
    assert_eq!(hs.timer(refs[5]), None, "infinite life: no timer");
    assert_eq!(hs.next_timer(), Some(t0 + Duration::from_secs(1)));
    hs.set_timer(
        refs[0],
        PeTimerKind::KeepAliveTransmission,
        t0 + Duration::from_millis(500),
    )
    .unwrap();
    assert_eq!(hs.pop_due_timer(t0), None);
    assert_eq!(
        hs.pop_due_timer(t0 + Duration::from_secs(1)),
        Some((refs[0], PeTimerKind::KeepAliveTransmission))
    );
    assert!(hs.cancel_timer(refs[1]));
    assert!(!hs.cancel_timer(refs[1]));
    // TimerIndex view of the same timers.
    assert_eq!(
        TimerIndex::next_deadline(&hs),
        Some(t0 + Duration::from_secs(3))
    );
    hs.check().unwrap();
    // Purge at +4 s: PEs 3 and 4 (PE 1 has no timer left, 2 was cancelled).
    let mut gone = Vec::new();
    let n = hs.purge_expired_with(t0 + Duration::from_secs(4), |v| gone.push(v.pe_id().get()));
    assert_eq!((n, gone), (2, vec![3, 4]));
    hs.check().unwrap();
    let mut gone = Vec::new();
    let n = hs.remove_by_association_with(AssocId(1), |v| gone.push(v.pe_id().get()));
    assert_eq!((n, gone), (2, vec![1, 5]));
    assert_eq!(hs.len(), 2);
    hs.check().unwrap();
    assert_eq!(hs.remove_by_association(AssocId(0)), 2);
    assert!(hs.is_empty());
    hs.register(t0, &reg("B", 1, 1, rr)).unwrap();
    hs.clear();
    assert!(hs.is_empty() && hs.owners().is_empty() && hs.next_timer().is_none());
    hs.register(t0, &reg("B", 1, 1, rr)).unwrap();
    hs.check().unwrap();
    hs.clear();
    assert_eq!(hs.pool_count(), 0, "the pool went with its last PE");
    hs.check().unwrap();
}

#[test]
fn node_is_compact() {
    use rserpool::handlespace::PeNode;
    let rb = std::mem::size_of::<PeNode<<RedBlackTree as Backend>::Link>>();
    let tr = std::mem::size_of::<PeNode<<Treap as Backend>::Link>>();
    println!("PeNode: rbtree {rb} bytes, treap {tr} bytes");
    assert!(rb <= 240 && tr <= 240, "{rb} {tr}");
}

#[test]
fn arena_slot_adds_nothing() {
    use rserpool::handlespace::PeNode;
    type N = PeNode<<RedBlackTree as Backend>::Link>;
    // The slot's free/used tag lives in a niche of the node.
    assert_eq!(std::mem::size_of::<Option<N>>(), std::mem::size_of::<N>());
}

/// Paging seeks: `pools_from` and `elements_after` give what walking from
/// the first pool or PE and skipping would give.
fn paging_seeks<B: Backend>() {
    let mut hs = GrowableHandlespace::<B>::new();
    let now = Instant::ZERO;
    let mut rng = Xoshiro256StarStar::seed_from_u64(7);
    let pools = ["A", "AB", "B", "ZZ"];
    for pool in pools {
        for _ in 0..40 {
            let id = 1 + (rserpool::random::Rng::next_u64(&mut rng) % 500) as u32;
            let _ = hs.register(now, &reg(pool, id, 1, Policy::RoundRobin));
        }
    }
    let all_pools: Vec<PoolHandle> = hs.pools().map(|p| *p.handle()).collect();
    for probe in ["", "A", "AA", "AB", "AC", "B", "Z", "ZZ", "ZZZ"] {
        let Ok(from) = PoolHandle::try_from(probe) else {
            continue;
        };
        let got: Vec<PoolHandle> = hs.pools_from(&from).map(|p| *p.handle()).collect();
        let want: Vec<PoolHandle> = all_pools
            .iter()
            .copied()
            .filter(|h| h.as_bytes() >= from.as_bytes())
            .collect();
        assert_eq!(got, want, "pools from {probe:?}");
    }
    for pool in pools {
        let info = hs.pool(&handle(pool)).unwrap();
        let ids: Vec<PeId> = info.elements().map(|e| e.pe_id()).collect();
        for after in (1..=501).map(pe) {
            let got: Vec<PeId> = info.elements_after(after).map(|e| e.pe_id()).collect();
            let want: Vec<PeId> = ids.iter().copied().filter(|&i| i > after).collect();
            assert_eq!(got, want, "{pool} after {after:?}");
        }
    }
}

#[test]
fn paging_seeks_rbtree() {
    paging_seeks::<RedBlackTree>();
}

#[test]
fn paging_seeks_treap() {
    paging_seeks::<Treap>();
}

#[test]
fn paging_seeks_list() {
    paging_seeks::<SortedList>();
}

/// `next_pe` walks every PE in (pool handle, PE id) order and resumes after
/// the last one returned even when that one is gone by the next call, and
/// the ownership walk passes over other owners' PEs.
#[test]
fn walks_resume_after_removed_pes() {
    let mut hs = GrowableHandlespace::<RedBlackTree>::new();
    let now = Instant::ZERO;
    let mut want = Vec::new();
    for pool in ["b", "a", "c"] {
        for id in [30, 10, 20] {
            let owner = if id == 20 { 2 } else { 1 };
            hs.register(now, &reg(pool, id, owner, Policy::RoundRobin))
                .unwrap();
            want.push((handle(pool), pe(id)));
        }
    }
    want.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
    let mut last = None;
    let mut got = Vec::new();
    while let Some(v) = hs.next_pe(&mut last) {
        let (h, id, r) = (*v.pool_handle(), v.pe_id(), v.pe_ref());
        got.push((h, id));
        // The PE just returned goes (and with the last, its pool).
        hs.remove(r).unwrap();
        hs.check().unwrap();
    }
    assert_eq!(got, want);
    assert!(hs.is_empty());

    for pool in ["b", "a"] {
        for id in [30, 10, 20] {
            let owner = if id == 20 { 2 } else { 1 };
            hs.register(now, &reg(pool, id, owner, Policy::RoundRobin))
                .unwrap();
        }
    }
    let mut cursor = OwnershipCursor::new(sid(2));
    let mut owned = Vec::new();
    while let Some(v) = hs.next_owned(&mut cursor) {
        owned.push((v.pool_handle().as_bytes().to_vec(), v.pe_id()));
    }
    assert_eq!(owned, [(b"a".to_vec(), pe(20)), (b"b".to_vec(), pe(20))]);
    assert_eq!(hs.take_over(sid(2), sid(3)), 2);
    assert_eq!(hs.owned_by(sid(3)).count(), 2);
    assert_eq!(hs.owned_by(sid(2)).count(), 0);
    hs.check().unwrap();
}

/// The growable storage's (pool, PE id) hash index through its growth
/// (64 buckets doubling to 8,192) and through removals from the middle and
/// the ends of its chains: every PE is found by its id, no removed one is.
#[test]
fn pe_index_grows_and_shrinks_chains() {
    let mut hs = GrowableHandlespace::<RedBlackTree>::new();
    let now = Instant::ZERO;
    let pools = ["x", "y", "z"];
    let mut all = Vec::new();
    for i in 0..6_000u32 {
        let pool = pools[(i % 3) as usize];
        // Ids spread and repeated across pools.
        let id = 1 + (i / 3).wrapping_mul(2_654_435_761) % 1_000_000;
        hs.register(now, &reg(pool, id, 1, Policy::RoundRobin))
            .unwrap();
        all.push((pool, id));
    }
    hs.check().unwrap();
    let mut rng = 0x9e37_79b9_u64;
    let mut gone = Vec::new();
    for k in 0..3_000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let (pool, id) = all.swap_remove(rng as usize % all.len());
        hs.deregister(&handle(pool), pe(id)).unwrap();
        gone.push((pool, id));
        if k % 500 == 0 {
            hs.check().unwrap();
        }
    }
    hs.check().unwrap();
    for &(pool, id) in &all {
        assert_eq!(hs.lookup(&handle(pool), pe(id)).unwrap().pe_id(), pe(id));
    }
    for &(pool, id) in &gone {
        assert!(hs.lookup(&handle(pool), pe(id)).is_none());
    }
}

/// An IPv4 first address is stored in the PE record, every other address
/// (an IPv6 first one too) in the address arena: the arena's capacity is
/// counted that way exactly, and addresses read back as registered.
#[test]
fn ipv6_first_addresses_take_an_address_record() {
    fn with(pool: &str, id: u32, addrs: &[IpAddr]) -> Registration<'static> {
        let addrs: &'static [IpAddr] = Box::leak(addrs.to_vec().into_boxed_slice());
        Registration {
            user_transport: sctp(addrs),
            asap_transport: None,
            ..reg(pool, id, 1, Policy::RoundRobin)
        }
    }
    let v6 = |i: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i));
    let v4 = |i: u8| IpAddr::V4(Ipv4Addr::new(192, 0, 2, i));
    // Room for three address records.
    let mut hs: Box<FixedHandlespace<RedBlackTree, 8, 2, 3, 2>> = Box::default();
    let now = Instant::ZERO;
    let ok = |hs: &mut FixedHandlespace<RedBlackTree, 8, 2, 3, 2>, r: &Registration<'_>| {
        hs.register(now, r).unwrap();
        hs.check().unwrap();
        let got: Vec<IpAddr> = hs
            .lookup(&r.pool_handle, r.pe_id)
            .unwrap()
            .user_addresses()
            .collect();
        assert_eq!(got, r.user_transport.addresses);
    };
    ok(&mut hs, &with("p", 1, &[v6(1)]));
    assert_eq!(hs.extra_addresses(), 1);
    ok(&mut hs, &with("p", 2, &[v4(2), v6(2)]));
    assert_eq!(hs.extra_addresses(), 2);
    // Two records wanted, one free: refused, nothing changed.
    assert_eq!(
        hs.register(now, &with("p", 3, &[v6(3), v6(4)])),
        Err(HandlespaceError::LackOfResources(Resource::Addresses))
    );
    hs.check().unwrap();
    assert_eq!((hs.len(), hs.extra_addresses()), (2, 2));
    ok(&mut hs, &with("p", 3, &[v6(3)]));
    // An IPv4 address alone takes no record.
    ok(&mut hs, &with("p", 4, &[v4(4)]));
    assert_eq!(hs.extra_addresses(), 3);
    assert_eq!(
        hs.register(now, &with("p", 5, &[v6(5)])),
        Err(HandlespaceError::LackOfResources(Resource::Addresses))
    );
    // PE 1 re-registers with an IPv4 address: its record is freed.
    ok(&mut hs, &with("p", 1, &[v4(1)]));
    assert_eq!(hs.extra_addresses(), 2);
    ok(&mut hs, &with("p", 5, &[v6(5)]));
    // And back: IPv6 again needs the record that is no longer free.
    assert_eq!(
        hs.register(now, &with("p", 1, &[v6(1)])),
        Err(HandlespaceError::LackOfResources(Resource::Addresses))
    );
    hs.check().unwrap();
    for id in [2, 3, 5] {
        hs.deregister(&handle("p"), pe(id)).unwrap();
    }
    hs.check().unwrap();
    assert_eq!(hs.extra_addresses(), 0);
}
