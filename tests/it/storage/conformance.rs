//! The public conformance suite (`rserpool::storage::conformance`) on the
//! crate's backends: its fixed seeds and scripted runs, more seeds, and
//! random operation sequences from proptest.

use proptest::prelude::*;
use rserpool::storage::conformance::{self, Harness, Op};
use rserpool::storage::{Backend, RedBlackTree, SortedList, Treap};

/// Node numbers drawn by the random sequences (the harness takes them
/// modulo its size, so some fall outside and wrap).
const NODES: u32 = 40;

fn key() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0..4u64, 1 => 0..1000u64]
}

fn weight() -> impl Strategy<Value = u64> {
    prop_oneof![3 => Just(0u64), 4 => 1..6u64, 1 => Just(u64::from(u32::MAX))]
}

fn op() -> impl Strategy<Value = Op> {
    let node = 0..NODES + 8;
    prop_oneof![
        6 => (node.clone(), key(), key(), weight()).prop_map(|(node, key0, key1, weight)| {
            Op::Insert { node, key0, key1, weight }
        }),
        3 => node.clone().prop_map(|node| Op::Remove { node }),
        2 => (node.clone(), 0..2u8, key()).prop_map(|(node, order, key)| Op::ChangeKey {
            node,
            order,
            key
        }),
        2 => (node.clone(), weight()).prop_map(|(node, weight)| Op::Reweigh { node, weight }),
        1 => node.clone().prop_map(|node| Op::Step { node }),
        1 => (0..2u8, key()).prop_map(|(order, key)| Op::Find { order, key }),
        1 => (0..2u8, key(), node).prop_map(|(order, key, id)| Op::LowerBound { order, key, id }),
        1 => any::<u64>().prop_map(|point| Op::Select { point }),
    ]
}

fn run_ops<B: Backend>(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut h = Harness::<B>::new(NODES as usize);
    h.run(ops).map_err(|f| TestCaseError::fail(f.to_string()))?;
    // Empty the trees again, checking each removal.
    let all: Vec<Op> = (0..NODES).map(|node| Op::Remove { node }).collect();
    h.run(&all)
        .map_err(|f| TestCaseError::fail(f.to_string()))?;
    prop_assert!(h.is_empty());
    Ok(())
}

#[test]
fn conformance_rbtree() {
    conformance::check_backend::<RedBlackTree>();
}

#[test]
fn conformance_treap() {
    conformance::check_backend::<Treap>();
}

#[test]
fn conformance_list() {
    conformance::check_backend::<SortedList>();
}

#[test]
fn conformance_more_seeds_trees() {
    for seed in 100..132u64 {
        conformance::run_seed::<RedBlackTree>(seed, 1500).unwrap_or_else(|f| panic!("{f}"));
        conformance::run_seed::<Treap>(seed, 1500).unwrap_or_else(|f| panic!("{f}"));
    }
}

/// A backend that loses track of its length is caught, and the message
/// names the backend, the seed, the step and the operation.
#[test]
fn conformance_reports_a_broken_backend() {
    let f = conformance::run_seed::<Forgetful>(3, 200).unwrap_err();
    assert_eq!(f.backend, "forgetful");
    assert_eq!(f.seed, Some(3));
    let text = f.to_string();
    assert!(
        text.starts_with("backend forgetful, seed 0x3, step "),
        "{text}"
    );
    assert!(text.contains(": len of order "), "{text}");
    assert!(text.contains(": backend gave "), "{text}");
    // Only an operation that removes a node can lose count.
    assert!(
        matches!(
            f.op,
            Op::Remove { .. } | Op::Insert { .. } | Op::ChangeKey { .. }
        ),
        "{f:?}"
    );
}

/// The sorted list, except that a removal does not count the node out of
/// the length.
enum Forgetful {}

impl Backend for Forgetful {
    type Link = <SortedList as Backend>::Link;
    type Root = (<SortedList as Backend>::Root, usize);
    const NAME: &'static str = "forgetful";
    const EMPTY_ROOT: Self::Root = (<SortedList as Backend>::EMPTY_ROOT, 0);

    fn len(root: &Self::Root) -> usize {
        root.1
    }
    fn insert<N: rserpool::storage::Nodes<Self::Link>>(
        root: &mut Self::Root,
        nodes: &mut N,
        n: u32,
    ) {
        root.1 += 1;
        SortedList::insert(&mut root.0, nodes, n)
    }
    fn remove<N: rserpool::storage::Nodes<Self::Link>>(
        root: &mut Self::Root,
        nodes: &mut N,
        n: u32,
    ) {
        SortedList::remove(&mut root.0, nodes, n)
    }
    fn first<N: rserpool::storage::Nodes<Self::Link>>(root: &Self::Root, nodes: &N) -> Option<u32> {
        SortedList::first(&root.0, nodes)
    }
    fn last<N: rserpool::storage::Nodes<Self::Link>>(root: &Self::Root, nodes: &N) -> Option<u32> {
        SortedList::last(&root.0, nodes)
    }
    fn next<N: rserpool::storage::Nodes<Self::Link>>(
        root: &Self::Root,
        nodes: &N,
        n: u32,
    ) -> Option<u32> {
        SortedList::next(&root.0, nodes, n)
    }
    fn prev<N: rserpool::storage::Nodes<Self::Link>>(
        root: &Self::Root,
        nodes: &N,
        n: u32,
    ) -> Option<u32> {
        SortedList::prev(&root.0, nodes, n)
    }
    fn lower_bound<N, F>(root: &Self::Root, nodes: &N, probe: F) -> Option<u32>
    where
        N: rserpool::storage::Nodes<Self::Link>,
        F: FnMut(&N, u32) -> std::cmp::Ordering,
    {
        SortedList::lower_bound(&root.0, nodes, probe)
    }
    fn find<N, F>(root: &Self::Root, nodes: &N, probe: F) -> Option<u32>
    where
        N: rserpool::storage::Nodes<Self::Link>,
        F: FnMut(&N, u32) -> std::cmp::Ordering,
    {
        SortedList::find(&root.0, nodes, probe)
    }
    fn total_weight<N: rserpool::storage::Nodes<Self::Link>>(root: &Self::Root, nodes: &N) -> u64 {
        SortedList::total_weight(&root.0, nodes)
    }
    fn select_by_weight<N: rserpool::storage::Nodes<Self::Link>>(
        root: &Self::Root,
        nodes: &N,
        point: u64,
    ) -> Option<u32> {
        SortedList::select_by_weight(&root.0, nodes, point)
    }
    fn reweigh<N: rserpool::storage::Nodes<Self::Link>>(
        root: &mut Self::Root,
        nodes: &mut N,
        n: u32,
    ) {
        SortedList::reweigh(&mut root.0, nodes, n)
    }
    fn check<N: rserpool::storage::Nodes<Self::Link>>(
        root: &Self::Root,
        nodes: &N,
    ) -> Result<(), rserpool::storage::InvariantError> {
        SortedList::check(&root.0, nodes)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn conformance_random_ops_rbtree(ops in proptest::collection::vec(op(), 0..160)) {
        run_ops::<RedBlackTree>(&ops)?;
    }

    #[test]
    fn conformance_random_ops_treap(ops in proptest::collection::vec(op(), 0..160)) {
        run_ops::<Treap>(&ops)?;
    }

    #[test]
    fn conformance_random_ops_list(ops in proptest::collection::vec(op(), 0..160)) {
        run_ops::<SortedList>(&ops)?;
    }
}
