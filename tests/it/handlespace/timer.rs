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
