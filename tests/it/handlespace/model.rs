//! The handlespace against a plain model (vectors and linear scans) on
//! random operation sequences, on every backend, with fixed (small, so that
//! capacity errors happen) and growable storage. After every operation the
//! contents, the selection orders, owner sets, checksums and errors must
//! agree, and `check()` must pass.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rserpool::addr::{
    TransportAddress, TransportError, TransportProtocol, TransportUse, MAX_TRANSPORT_ADDRESSES,
};
use rserpool::handlespace::checksum::pe_checksum;
use rserpool::handlespace::{
    FixedHandlespace, GrowableHandlespace, Handlespace, HandlespaceError, PeRef, PeTimerKind,
    RegisterOutcome, Registration, Resource, Storage,
};
use rserpool::policy::{PolicyState, SelectionKind};
use rserpool::random::Xoshiro256StarStar;
use rserpool::storage::{Backend, RedBlackTree, SortedList, Treap};
use rserpool::{AssocId, Duration, Instant, PeId, Policy, PoolHandle, ServerId};

const POOLS: usize = 4;
const CAP_PES: usize = 10;
const CAP_POOLS: usize = 3;
/// Room for one PE with the most addresses and a few more, so that wide
/// PEs both fit and run the arena full.
const CAP_ADDRS: usize = 80;
const CAP_OWNERS: usize = 2;

#[derive(Clone, Debug)]
enum Op {
    Register {
        pool: usize,
        id: u32,
        owner: u32,
        other_type: Option<usize>,
        a: u32,
        b: u32,
        life: i32,
        assoc: u32,
        tcp: bool,
        control: bool,
        addrs: usize,
    },
    Deregister {
        pool: usize,
        id: u32,
    },
    Resolve {
        pool: usize,
        n: usize,
    },
    Advance {
        ms: u64,
    },
    TakeOver {
        from: u32,
        to: u32,
    },
    RemoveByAssoc {
        assoc: u32,
    },
    SetTimer {
        pick: usize,
        kind: u8,
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (
            0..POOLS,
            1..7u32,
            0..4u32,
            prop::option::weighted(0.1, 0..16usize),
            0..4u32,
            0..3u32,
            prop_oneof![1 => Just(-1), 1 => Just(-3), 8 => 0..4000i32],
            0..3u32,
            prop::bool::weighted(0.05),
            prop::bool::weighted(0.1),
            prop_oneof![1 => Just(0usize), 16 => Just(1usize), 4 => 2..5usize, 3 => 5..=MAX_TRANSPORT_ADDRESSES, 1 => Just(MAX_TRANSPORT_ADDRESSES), 1 => Just(MAX_TRANSPORT_ADDRESSES + 1)],
        )
            .prop_map(|(pool, id, owner, other_type, a, b, life, assoc, tcp, control, addrs)| {
                Op::Register { pool, id, owner, other_type, a, b, life, assoc, tcp, control, addrs }
            }),
        2 => (0..POOLS, 1..7u32).prop_map(|(pool, id)| Op::Deregister { pool, id }),
        4 => (0..POOLS, 1..5usize).prop_map(|(pool, n)| Op::Resolve { pool, n }),
        1 => (0..3000u64).prop_map(|ms| Op::Advance { ms }),
        1 => (1..4u32, 1..4u32).prop_map(|(from, to)| Op::TakeOver { from, to }),
        1 => (0..3u32).prop_map(|assoc| Op::RemoveByAssoc { assoc }),
        1 => (0..20usize, 1..4u8, 0..3000u64).prop_map(|(pick, kind, ms)| Op::SetTimer { pick, kind, ms }),
    ]
}

/// Policy type indexes: RR, WRR, PRIO, LU, LUD, PLU, PLUD, LU-DPF, WRAND, RAND,
/// RLU, RLUD, WRAND-DPF, LUD-DPF, PLUD-DPF, RPLU.
fn policy(t: usize, a: u32, b: u32) -> Policy {
    let load = a * 0x4000_0000;
    let deg = b * 0x1000_0000;
    match t {
        0 => Policy::RoundRobin,
        1 => Policy::WeightedRoundRobin { weight: a },
        2 => Policy::Priority { priority: a },
        3 => Policy::LeastUsed { load },
        4 => Policy::LeastUsedDegradation {
            load,
            degradation: deg,
        },
        5 => Policy::PriorityLeastUsed {
            load,
            degradation: deg,
        },
        6 => Policy::PriorityLeastUsedDegradation {
            load,
            degradation: deg,
        },
        7 => Policy::LeastUsedDpf {
            load,
            load_dpf: deg,
            distance: b,
        },
        8 => Policy::WeightedRandom { weight: a },
        9 => Policy::Random,
        10 => Policy::RandomizedLeastUsed { load },
        11 => Policy::RandomizedLeastUsedDegradation {
            load,
            degradation: deg,
        },
        12 => Policy::WeightedRandomDpf {
            weight: a,
            weight_dpf: deg,
            distance: b,
        },
        13 => Policy::LeastUsedDegradationDpf {
            load,
            degradation: deg,
            load_dpf: deg,
            distance: b,
        },
        14 => Policy::PriorityLeastUsedDegradationDpf {
            load,
            degradation: deg,
            load_dpf: deg,
            distance: b,
        },
        _ => Policy::RandomizedPriorityLeastUsed {
            load,
            degradation: deg,
        },
    }
}

fn handle(p: usize) -> PoolHandle {
    PoolHandle::try_from(format!("Pool{p}").as_str()).unwrap()
}

/// `n` addresses: IPv4 ones, and for some salts an IPv6 address first or
/// among them (the first address of a transport is stored inline when it is
/// IPv4, in the address arena otherwise).
fn addrs(n: usize, salt: u32) -> Vec<IpAddr> {
    (0..n)
        .map(|i| {
            let v6 = match salt % 3 {
                0 => i == 0,
                1 => i == 1,
                _ => false,
            };
            if v6 {
                IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    salt as u16,
                    i as u16,
                ))
            } else {
                IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + salt * 256 + i as u32))
            }
        })
        .collect()
}

/// The address arena records a transport with these addresses takes.
fn records(a: &[IpAddr]) -> usize {
    a.len() - usize::from(a.first().is_some_and(|f| f.is_ipv4()))
}

#[derive(Clone, Debug, PartialEq)]
struct MPe {
    pool: usize,
    id: u32,
    owner: Option<ServerId>,
    policy: Policy,
    state: PolicyState,
    life: i32,
    assoc: u32,
    addrs: Vec<IpAddr>,
    timer: Option<(PeTimerKind, Instant)>,
}

#[derive(Clone, Debug)]
struct MPool {
    policy_type: u32,
    protocol: TransportProtocol,
    transport_use: TransportUse,
}

struct Model {
    pes: Vec<MPe>,
    pools: Vec<Option<MPool>>,
    seq: u64,
    limited: bool,
}

impl Model {
    fn pool_pes(&self, pool: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.pes.len())
            .filter(|&i| self.pes[i].pool == pool)
            .collect();
        v.sort_by_key(|&i| self.pes[i].id);
        v
    }
    fn selection_order(&self, pool: usize) -> Vec<usize> {
        let mut v = self.pool_pes(pool);
        v.sort_by(|&x, &y| {
            let (a, b) = (&self.pes[x], &self.pes[y]);
            Policy::compare(&a.policy, &a.state, &b.policy, &b.state)
        });
        v
    }
    fn owners(&self) -> Vec<ServerId> {
        let mut o: Vec<ServerId> = self.pes.iter().filter_map(|p| p.owner).collect();
        o.sort();
        o.dedup();
        o
    }
    fn extra(&self) -> usize {
        self.pes.iter().map(|p| records(&p.addrs)).sum::<usize>()
    }
    fn align(&self, pool: usize, except: Option<usize>, policy: &Policy, state: &mut PolicyState) {
        let first = self
            .selection_order(pool)
            .into_iter()
            .find(|&i| Some(i) != except);
        if let Some(f) = first {
            policy.align_to_pool(state, &self.pes[f].state);
        }
    }

    fn register(
        &mut self,
        now: Instant,
        pool: usize,
        r: &Registration<'_>,
    ) -> Result<bool, HandlespaceError> {
        r.user_transport
            .validate()
            .map_err(HandlespaceError::InvalidTransport)?;
        if r.registration_life < -1 {
            return Err(HandlespaceError::InvalidRegistrationLife(
                r.registration_life,
            ));
        }
        let extra = records(r.user_transport.addresses);
        let timer = (r.registration_life >= 0).then(|| {
            (
                PeTimerKind::LifetimeExpiry,
                now + Duration::from_millis(r.registration_life as u64),
            )
        });
        let owners = self.owners();
        let can_add =
            |h: ServerId| !self.limited || owners.len() < CAP_OWNERS || owners.contains(&h);
        if let Some(p) = &self.pools[pool] {
            if p.policy_type != r.policy.policy_type() {
                return Err(HandlespaceError::InconsistentPoolingPolicy {
                    pool_policy_type: p.policy_type,
                });
            }
            if p.protocol != r.user_transport.protocol {
                return Err(HandlespaceError::InconsistentTransportType {
                    pool_protocol: p.protocol,
                });
            }
            if p.transport_use != r.user_transport.transport_use {
                return Err(HandlespaceError::InconsistentDataControlConfiguration {
                    pool_transport_use: p.transport_use,
                });
            }
            if let Some(i) = self
                .pes
                .iter()
                .position(|x| x.pool == pool && x.id == r.pe_id.get())
            {
                let old = self.pes[i].clone();
                let old_extra = records(&old.addrs);
                if self.limited && extra > old_extra && CAP_ADDRS - self.extra() < extra - old_extra
                {
                    return Err(HandlespaceError::LackOfResources(Resource::Addresses));
                }
                if r.home_registrar != old.owner {
                    if let Some(h) = r.home_registrar {
                        let frees = old.owner.is_some_and(|o| {
                            self.pes.iter().filter(|x| x.owner == Some(o)).count() == 1
                        });
                        if !can_add(h) && !frees {
                            return Err(HandlespaceError::LackOfResources(Resource::Owners));
                        }
                    }
                }
                self.seq += 1;
                let mut state = r
                    .policy
                    .reregistered_state(&old.policy, &old.state, self.seq);
                if r.policy != old.policy || state != old.state {
                    self.align(pool, Some(i), &r.policy, &mut state);
                }
                let pe = &mut self.pes[i];
                pe.policy = r.policy;
                pe.state = state;
                pe.owner = r.home_registrar;
                pe.life = r.registration_life;
                pe.assoc = r.assoc.0;
                pe.addrs = r.user_transport.addresses.to_vec();
                pe.timer = timer;
                return Ok(false);
            }
        } else if self.limited && self.pools.iter().flatten().count() >= CAP_POOLS {
            return Err(HandlespaceError::LackOfResources(Resource::Pools));
        }
        if self.limited && self.pes.len() >= CAP_PES {
            return Err(HandlespaceError::LackOfResources(Resource::PoolElements));
        }
        if self.limited && CAP_ADDRS - self.extra() < extra {
            return Err(HandlespaceError::LackOfResources(Resource::Addresses));
        }
        if let Some(h) = r.home_registrar {
            if !can_add(h) {
                return Err(HandlespaceError::LackOfResources(Resource::Owners));
            }
        }
        if self.pools[pool].is_none() {
            self.pools[pool] = Some(MPool {
                policy_type: r.policy.policy_type(),
                protocol: r.user_transport.protocol,
                transport_use: r.user_transport.transport_use,
            });
        }
        self.seq += 1;
        let mut state = r.policy.initial_state(self.seq);
        self.align(pool, None, &r.policy, &mut state);
        self.pes.push(MPe {
            pool,
            id: r.pe_id.get(),
            owner: r.home_registrar,
            policy: r.policy,
            state,
            life: r.registration_life,
            assoc: r.assoc.0,
            addrs: r.user_transport.addresses.to_vec(),
            timer,
        });
        Ok(true)
    }

    fn remove(&mut self, i: usize) -> MPe {
        let pe = self.pes.remove(i);
        if !self.pes.iter().any(|x| x.pool == pe.pool) {
            self.pools[pe.pool] = None;
        }
        pe
    }
}

fn pe_key<B: Backend, S: Storage>(hs: &Handlespace<B, S>, r: PeRef) -> (usize, u32) {
    let v = hs.get(r).expect("live PE");
    let name = v.pool_handle().to_string();
    (name[4..].parse().unwrap(), v.pe_id().get())
}

fn compare<B: Backend, S: Storage>(hs: &Handlespace<B, S>, m: &Model) {
    hs.check().unwrap_or_else(|e| panic!("invariant: {e}"));
    assert_eq!(hs.len(), m.pes.len());
    assert_eq!(hs.extra_addresses(), m.extra());
    assert_eq!(
        hs.widest_transport(),
        m.pes.iter().map(|p| p.addrs.len()).max().unwrap_or(0)
    );
    assert_eq!(hs.pool_count(), m.pools.iter().flatten().count());
    for p in 0..POOLS {
        let info = hs.pool(&handle(p));
        let Some(mp) = &m.pools[p] else {
            assert!(info.is_none());
            continue;
        };
        let info = info.expect("pool");
        assert_eq!(info.policy_type(), mp.policy_type);
        assert_eq!(info.transport_protocol(), mp.protocol);
        let got: Vec<MPe> = info
            .elements()
            .map(|v| MPe {
                pool: p,
                id: v.pe_id().get(),
                owner: v.home_registrar(),
                policy: v.policy(),
                state: v.policy_state(),
                life: v.registration_life(),
                assoc: v.assoc().0,
                addrs: v.user_addresses().collect(),
                timer: v.timer(),
            })
            .collect();
        let want: Vec<MPe> = m
            .pool_pes(p)
            .into_iter()
            .map(|i| m.pes[i].clone())
            .collect();
        assert_eq!(got, want);
        let sel: Vec<u32> = info.selection_order().map(|v| v.pe_id().get()).collect();
        let msel: Vec<u32> = m
            .selection_order(p)
            .into_iter()
            .map(|i| m.pes[i].id)
            .collect();
        assert_eq!(sel, msel, "selection order of pool {p}");
    }
    // Every PE in (pool handle, PE id) order, one call at a time.
    let mut all: Vec<(PoolHandle, PeId)> = m
        .pes
        .iter()
        .map(|x| (handle(x.pool), PeId::new(x.id).unwrap()))
        .collect();
    all.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
    let mut last = None;
    let mut walked = Vec::new();
    while let Some(v) = hs.next_pe(&mut last) {
        walked.push((*v.pool_handle(), v.pe_id()));
        assert_eq!(last, walked.last().copied());
    }
    assert_eq!(walked, all);
    for o in 1..4 {
        let o = ServerId::new(o).unwrap();
        let mine: Vec<(PoolHandle, PeId)> = m
            .pes
            .iter()
            .filter(|x| x.owner == Some(o))
            .map(|x| (handle(x.pool), PeId::new(x.id).unwrap()))
            .collect();
        assert_eq!(hs.owned_count(o), mine.len());
        let mut sorted = mine.clone();
        sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
        let walked: Vec<(PoolHandle, PeId)> = hs
            .owned_by(o)
            .map(|v| (*v.pool_handle(), v.pe_id()))
            .collect();
        assert_eq!(walked, sorted, "PEs of owner {o}");
        assert_eq!(
            hs.owner_checksum(o),
            pe_checksum(mine.iter().map(|(h, i)| (h.as_bytes(), *i)))
        );
    }
}

fn run<B: Backend, S: Storage>(
    hs: &mut Handlespace<B, S>,
    pool_types: [usize; POOLS],
    ops: &[Op],
    limited: bool,
) {
    let mut m = Model {
        pes: Vec::new(),
        pools: vec![None; POOLS],
        seq: 0,
        limited,
    };
    let mut now = Instant::from_secs(1);
    let mut rng = Xoshiro256StarStar::seed_from_u64(7);
    for op in ops {
        match *op {
            Op::Register {
                pool,
                id,
                owner,
                other_type,
                a,
                b,
                life,
                assoc,
                tcp,
                control,
                addrs: n,
            } => {
                let list = addrs(n, id);
                let t = other_type.unwrap_or(pool_types[pool]);
                let r = Registration {
                    pool_handle: handle(pool),
                    pe_id: PeId::new(id).unwrap(),
                    home_registrar: ServerId::new(owner).ok(),
                    registration_life: life,
                    user_transport: TransportAddress {
                        protocol: if tcp {
                            TransportProtocol::Tcp
                        } else {
                            TransportProtocol::Sctp
                        },
                        port: 1,
                        transport_use: if control {
                            TransportUse::DataAndControl
                        } else {
                            TransportUse::DataOnly
                        },
                        service_code: 0,
                        addresses: &list,
                    },
                    policy: policy(t, a, b),
                    asap_transport: None,
                    assoc: AssocId(assoc),
                };
                let want = m.register(now, pool, &r);
                let got = hs.register(now, &r);
                match (&got, &want) {
                    (Ok(RegisterOutcome::Added(_)), Ok(true))
                    | (Ok(RegisterOutcome::Updated(_)), Ok(false)) => {}
                    (Err(e), Err(f)) => assert_eq!(e, f),
                    _ => panic!("{op:?}: got {got:?}, model {want:?}"),
                }
                if n == 0 {
                    assert_eq!(
                        got.unwrap_err(),
                        HandlespaceError::InvalidTransport(TransportError::NoAddress)
                    );
                } else if n > MAX_TRANSPORT_ADDRESSES {
                    assert_eq!(
                        got.unwrap_err(),
                        HandlespaceError::InvalidTransport(TransportError::TooManyAddresses)
                    );
                }
            }
            Op::Deregister { pool, id } => {
                let got = hs.deregister(&handle(pool), PeId::new(id).unwrap());
                let want = if m.pools[pool].is_none() {
                    Err(HandlespaceError::UnknownPoolHandle)
                } else if let Some(i) = m.pes.iter().position(|x| x.pool == pool && x.id == id) {
                    m.remove(i);
                    Ok(())
                } else {
                    Err(HandlespaceError::UnknownPoolElement)
                };
                assert_eq!(got, want);
            }
            Op::Resolve { pool, n } => {
                let mut out = [PeRef::default(); 4];
                let got = hs.resolve(&handle(pool), n, &mut rng, &mut out);
                let Some(mp) = &m.pools[pool] else {
                    assert_eq!(got, Err(HandlespaceError::UnknownPoolHandle));
                    continue;
                };
                let got = got.unwrap();
                let picked: Vec<(usize, u32)> = out[..got].iter().map(|&r| pe_key(hs, r)).collect();
                let order = m.selection_order(pool);
                let first = &m.pes[order[0]];
                if first.policy.selection_kind() == SelectionKind::Ordered {
                    let want: Vec<(usize, u32)> = order
                        .iter()
                        .take(n.min(4))
                        .map(|&i| (pool, m.pes[i].id))
                        .collect();
                    assert_eq!(
                        picked, want,
                        "selection in pool {pool} ({:#x})",
                        mp.policy_type
                    );
                } else {
                    let positive = order
                        .iter()
                        .filter(|&&i| m.pes[i].policy.weight(&m.pes[i].state) > 0)
                        .count();
                    assert_eq!(got, n.min(4).min(positive));
                    let mut ids: Vec<u32> = picked.iter().map(|x| x.1).collect();
                    ids.sort();
                    ids.dedup();
                    assert_eq!(ids.len(), got, "distinct");
                    for id in ids {
                        let i = m
                            .pes
                            .iter()
                            .position(|x| x.pool == pool && x.id == id)
                            .unwrap();
                        assert!(m.pes[i].policy.weight(&m.pes[i].state) > 0);
                    }
                }
                let inc = first.policy.max_increment().min(got);
                for &(_, id) in &picked[..inc] {
                    let i = m
                        .pes
                        .iter()
                        .position(|x| x.pool == pool && x.id == id)
                        .unwrap();
                    m.seq += 1;
                    let pe = &mut m.pes[i];
                    pe.policy.on_selected(&mut pe.state, m.seq);
                }
            }
            Op::Advance { ms } => {
                now += Duration::from_millis(ms);
                let mut gone = Vec::new();
                let n = hs.purge_expired_with(now, |v| {
                    let name = v.pool_handle().to_string();
                    gone.push((name[4..].parse::<usize>().unwrap(), v.pe_id().get()))
                });
                let mut want = Vec::new();
                while let Some(i) = m.pes.iter().position(
                    |x| matches!(x.timer, Some((PeTimerKind::LifetimeExpiry, d)) if d <= now),
                ) {
                    let pe = m.remove(i);
                    want.push((pe.pool, pe.id));
                }
                gone.sort();
                want.sort();
                assert_eq!(n, want.len());
                assert_eq!(gone, want);
            }
            Op::TakeOver { from, to } => {
                let (f, t) = (ServerId::new(from).unwrap(), ServerId::new(to).unwrap());
                let moved = hs.take_over(f, t);
                let mut count = 0;
                for pe in m.pes.iter_mut().filter(|x| x.owner == Some(f)) {
                    pe.owner = Some(t);
                    count += 1;
                }
                assert_eq!(moved, count);
            }
            Op::RemoveByAssoc { assoc } => {
                let mut gone = Vec::new();
                let n =
                    hs.remove_by_association_with(AssocId(assoc), |v| gone.push(v.pe_id().get()));
                let mut want = Vec::new();
                while let Some(i) = m.pes.iter().position(|x| x.assoc == assoc) {
                    want.push(m.remove(i).id);
                }
                gone.sort();
                want.sort();
                assert_eq!((n, gone), (want.len(), want));
            }
            Op::SetTimer { pick, kind, ms } => {
                if m.pes.is_empty() {
                    continue;
                }
                let i = pick % m.pes.len();
                let (pool, id) = (m.pes[i].pool, m.pes[i].id);
                let r = hs
                    .lookup(&handle(pool), PeId::new(id).unwrap())
                    .unwrap()
                    .pe_ref();
                let kind = match kind {
                    1 => PeTimerKind::LifetimeExpiry,
                    2 => PeTimerKind::KeepAliveTransmission,
                    _ => PeTimerKind::KeepAliveTimeout,
                };
                let d = now + Duration::from_millis(ms);
                hs.set_timer(r, kind, d).unwrap();
                m.pes[i].timer = Some((kind, d));
            }
        }
        compare(hs, &m);
    }
}

fn case() -> impl Strategy<Value = ([usize; POOLS], Vec<Op>)> {
    (
        [0..10usize, 0..10usize, 0..10usize, 0..10usize],
        prop::collection::vec(op(), 1..80),
    )
}

type Limited<B> = FixedHandlespace<B, CAP_PES, CAP_POOLS, CAP_ADDRS, CAP_OWNERS>;

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, .. ProptestConfig::default() })]

    #[test]
    fn rbtree_fixed((types, ops) in case()) {
        run(&mut Limited::<RedBlackTree>::new(), types, &ops, true);
    }
    #[test]
    fn treap_fixed((types, ops) in case()) {
        run(&mut Limited::<Treap>::new(), types, &ops, true);
    }
    #[test]
    fn list_fixed((types, ops) in case()) {
        run(&mut Limited::<SortedList>::new(), types, &ops, true);
    }
    #[test]
    fn rbtree_growable((types, ops) in case()) {
        run(&mut GrowableHandlespace::<RedBlackTree>::new(), types, &ops, false);
    }
    #[test]
    fn treap_growable((types, ops) in case()) {
        run(&mut GrowableHandlespace::<Treap>::new(), types, &ops, false);
    }
    #[test]
    fn list_growable((types, ops) in case()) {
        run(&mut GrowableHandlespace::<SortedList>::new(), types, &ops, false);
    }
}
