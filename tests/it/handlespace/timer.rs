//! The stand-alone timer queue against a model (a plain map), on every
//! backend: schedule, reschedule, cancel, next deadline, pop due, capacity.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rserpool::storage::arena::CapacityError;
use rserpool::storage::{Backend, RedBlackTree, SortedList, Treap};
use rserpool::timer::{TimerIndex, TimerQueue};
use rserpool::Instant;

const CAP: usize = 8;

#[derive(Clone, Debug)]
enum Op {
    Schedule(u8, u64),
    Cancel(u8),
    Pop(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..12u8, 0..50u64).prop_map(|(k, t)| Op::Schedule(k, t)),
        1 => (0..12u8).prop_map(Op::Cancel),
        2 => (0..60u64).prop_map(Op::Pop),
    ]
}

fn run<B: Backend>(ops: &[Op]) {
    let mut q: TimerQueue<u8, B, CAP> = TimerQueue::new();
    let mut m: BTreeMap<u8, u64> = BTreeMap::new();
    for op in ops {
        match *op {
            Op::Schedule(k, t) => {
                let got = q.schedule(k, Instant::from_secs(t));
                if m.len() == CAP && !m.contains_key(&k) {
                    assert_eq!(got, Err(CapacityError));
                } else {
                    assert_eq!(got, Ok(()));
                    m.insert(k, t);
                }
            }
            Op::Cancel(k) => assert_eq!(q.cancel(&k), m.remove(&k).is_some()),
            Op::Pop(now) => {
                // The earliest (deadline, key) if due.
                let first = m.iter().map(|(&k, &t)| (t, k)).min();
                let want = first.filter(|&(t, _)| t <= now);
                let got = q.pop_due(Instant::from_secs(now));
                assert_eq!(got, want.map(|(t, k)| (k, Instant::from_secs(t))));
                if let Some((_, k)) = want {
                    m.remove(&k);
                }
            }
        }
        q.check().unwrap();
        assert_eq!(q.len(), m.len());
        let next = m.values().min().map(|&t| Instant::from_secs(t));
        assert_eq!(q.next_deadline(), next);
    }
}

proptest! {
    #[test]
    fn rbtree(ops in prop::collection::vec(op(), 1..100)) { run::<RedBlackTree>(&ops); }
    #[test]
    fn treap(ops in prop::collection::vec(op(), 1..100)) { run::<Treap>(&ops); }
    #[test]
    fn list(ops in prop::collection::vec(op(), 1..100)) { run::<SortedList>(&ops); }
}

// ----- the handlespace's PE timers -------------------------------------

mod pe_timers {
    //! The handlespace's own PE timers (lanes for timers that come in
    //! deadline order, a tree for the rest) against a model: timers fall due
    //! in (deadline, order set) order whatever the pattern of deadlines, and
    //! `check` holds after every step.

    use std::net::{IpAddr, Ipv4Addr};

    use proptest::prelude::*;
    use rserpool::addr::{TransportAddress, TransportProtocol, TransportUse};
    use rserpool::handlespace::{
        FixedHandlespace, GrowableHandlespace, Handlespace, PeRef, PeTimerKind, Registration,
        Storage,
    };
    use rserpool::storage::{Backend, RedBlackTree, SortedList, Treap};
    use rserpool::{AssocId, Duration, Instant, PeId, Policy, PoolHandle, ServerId};

    /// More PEs than lanes, so that the tree is used too.
    const PES: u32 = 24;
    const ADDR: [IpAddr; 1] = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))];

    #[derive(Clone, Debug)]
    enum Op {
        /// Sets PE `pe`'s timer to now + one of a few intervals (the common
        /// case: deadlines in order per interval).
        Interval {
            pe: u32,
            kind: u8,
            interval: usize,
        },
        /// Sets PE `pe`'s timer to any deadline from now.
        Any {
            pe: u32,
            kind: u8,
            ms: u64,
        },
        Cancel {
            pe: u32,
        },
        Advance {
            ms: u64,
        },
        /// Pops every due timer, one at a time.
        PopDue,
        /// Purges every due lifetime timer in one pass.
        Purge,
    }

    const INTERVALS: [u64; 4] = [5, 250, 1_000, 30_000];

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..PES, 1..4u8, 0..INTERVALS.len())
                .prop_map(|(pe, kind, interval)| Op::Interval { pe, kind, interval }),
            3 => (0..PES, 1..4u8, 0..40_000u64).prop_map(|(pe, kind, ms)| Op::Any { pe, kind, ms }),
            1 => (0..PES).prop_map(|pe| Op::Cancel { pe }),
            3 => (0..2_000u64).prop_map(|ms| Op::Advance { ms }),
            1 => Just(Op::PopDue),
            1 => Just(Op::Purge),
        ]
    }

    /// PE `id` of `handle`, round robin, without a lifetime timer (the
    /// tests set every timer themselves).
    fn registration(
        handle: PoolHandle,
        id: u32,
        home: Option<ServerId>,
        assoc: AssocId,
    ) -> Registration<'static> {
        Registration {
            pool_handle: handle,
            pe_id: PeId::new(id).unwrap(),
            home_registrar: home,
            registration_life: -1,
            user_transport: TransportAddress {
                protocol: TransportProtocol::Sctp,
                port: 9,
                transport_use: TransportUse::DataOnly,
                service_code: 0,
                addresses: &ADDR,
            },
            policy: Policy::RoundRobin,
            asap_transport: None,
            assoc,
        }
    }

    fn kind(k: u8) -> PeTimerKind {
        match k {
            1 => PeTimerKind::LifetimeExpiry,
            2 => PeTimerKind::KeepAliveTransmission,
            _ => PeTimerKind::KeepAliveTimeout,
        }
    }

    /// The model: per PE slot its timer (deadline, order set, kind), or
    /// `None`; PEs removed by a purge are gone (`None` in `alive`).
    struct Model {
        alive: Vec<Option<PeRef>>,
        timers: Vec<Option<(Instant, u64, PeTimerKind)>>,
        set: u64,
    }

    impl Model {
        /// The due timers in the order they must fall due.
        fn due(&self, now: Instant, only: Option<PeTimerKind>) -> Vec<usize> {
            let mut v: Vec<(Instant, u64, usize)> = self
                .timers
                .iter()
                .enumerate()
                .filter_map(|(i, t)| {
                    t.filter(|&(d, _, k)| d <= now && only.is_none_or(|o| o == k))
                        .map(|(d, s, _)| (d, s, i))
                })
                .collect();
            v.sort();
            v.into_iter().map(|(_, _, i)| i).collect()
        }
    }

    fn run<B: Backend, S: Storage>(hs: &mut Handlespace<B, S>, ops: &[Op]) {
        let mut now = Instant::from_secs(1);
        let handle = PoolHandle::new(b"timers").unwrap();
        let mut m = Model {
            alive: Vec::new(),
            timers: Vec::new(),
            set: 0,
        };
        for id in 1..=PES {
            let reg = registration(handle, id, ServerId::new(1).ok(), AssocId(id));
            let r = hs.register(now, &reg).unwrap().pe();
            m.alive.push(Some(r));
            m.timers.push(None);
        }
        hs.check().unwrap();
        for op in ops {
            match *op {
                Op::Interval {
                    pe,
                    kind: k,
                    interval,
                } => {
                    let at = now + Duration::from_millis(INTERVALS[interval]);
                    set(hs, &mut m, pe as usize, kind(k), at);
                }
                Op::Any { pe, kind: k, ms } => {
                    let at = now + Duration::from_millis(ms);
                    set(hs, &mut m, pe as usize, kind(k), at);
                }
                Op::Cancel { pe } => {
                    let i = pe as usize;
                    if let Some(r) = m.alive[i] {
                        assert_eq!(hs.cancel_timer(r), m.timers[i].is_some());
                        m.timers[i] = None;
                    }
                }
                Op::Advance { ms } => now += Duration::from_millis(ms),
                Op::PopDue => {
                    for i in m.due(now, None) {
                        let (d, _, k) = m.timers[i].unwrap();
                        assert_eq!(hs.next_timer(), Some(d));
                        assert_eq!(hs.pop_due_timer(now), Some((m.alive[i].unwrap(), k)));
                        m.timers[i] = None;
                        hs.check().unwrap();
                    }
                    assert_eq!(hs.pop_due_timer(now), None);
                }
                Op::Purge => {
                    let want: Vec<PeRef> = m
                        .due(now, Some(PeTimerKind::LifetimeExpiry))
                        .into_iter()
                        .map(|i| m.alive[i].unwrap())
                        .collect();
                    let mut got = Vec::new();
                    let n = hs.purge_expired_with(now, |v| got.push(v.pe_ref()));
                    assert_eq!((n, &got), (want.len(), &want));
                    for (i, r) in m.alive.iter_mut().enumerate() {
                        if r.is_some_and(|r| got.contains(&r)) {
                            *r = None;
                            m.timers[i] = None;
                        }
                    }
                }
            }
            hs.check().unwrap();
            let next = m.timers.iter().flatten().map(|&(d, _, _)| d).min();
            assert_eq!(hs.next_timer(), next);
            for (i, r) in m.alive.iter().enumerate() {
                if let Some(r) = *r {
                    assert_eq!(hs.timer(r), m.timers[i].map(|(d, _, k)| (k, d)));
                }
            }
        }
    }

    fn set<B: Backend, S: Storage>(
        hs: &mut Handlespace<B, S>,
        m: &mut Model,
        i: usize,
        k: PeTimerKind,
        at: Instant,
    ) {
        if let Some(r) = m.alive[i] {
            hs.set_timer(r, k, at).unwrap();
            m.set += 1;
            m.timers[i] = Some((at, m.set, k));
        }
    }

    type Fixed<B> = FixedHandlespace<B, 32, 2, 4, 2>;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

        #[test]
        fn rbtree_fixed(ops in prop::collection::vec(op(), 1..200)) {
            run(&mut Box::new(Fixed::<RedBlackTree>::new()), &ops);
        }
        #[test]
        fn treap_growable(ops in prop::collection::vec(op(), 1..200)) {
            run(&mut GrowableHandlespace::<Treap>::new(), &ops);
        }
        #[test]
        fn list_fixed(ops in prop::collection::vec(op(), 1..200)) {
            run(&mut Box::new(Fixed::<SortedList>::new()), &ops);
        }
    }

    /// A thousand timers with decreasing deadlines: the lanes are soon
    /// taken, the rest go to the tree, and they still fall due in order.
    #[test]
    fn decreasing_deadlines_fall_due_in_order() {
        let mut hs = GrowableHandlespace::<RedBlackTree>::new();
        let handle = PoolHandle::new(b"down").unwrap();
        let t0 = Instant::from_secs(1);
        let mut refs = Vec::new();
        for id in 1..=1_000u32 {
            let reg = registration(handle, id, None, AssocId(0));
            let r = hs.register(t0, &reg).unwrap().pe();
            hs.set_timer(
                r,
                PeTimerKind::KeepAliveTimeout,
                t0 + Duration::from_millis(u64::from(2_000 - id)),
            )
            .unwrap();
            refs.push(r);
        }
        hs.check().unwrap();
        let end = t0 + Duration::from_secs(10);
        for r in refs.iter().rev() {
            assert_eq!(
                hs.pop_due_timer(end),
                Some((*r, PeTimerKind::KeepAliveTimeout))
            );
        }
        assert_eq!(hs.next_timer(), None);
        hs.check().unwrap();
    }
}
