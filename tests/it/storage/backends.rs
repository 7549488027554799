//! Property tests of the storage backends against a `BTreeMap` model.
//!
//! Written once, generic over `B: Backend`, and instantiated per backend at
//! the bottom with [`backend_tests!`]. Every node sits in two orders at
//! once: order 0 by `(key0, id)` with weights, order 1 by `(key1, id)`
//! without, so each run also shows that the orders are independent. After
//! every operation both trees are checked with `Backend::check` and
//! compared in full (length, first/last, forward and backward iteration,
//! total weight) with the model.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use proptest::prelude::*;
use rserpool::storage::{Backend, NodeId, Nodes, RedBlackTree, SortedList, Treap};

/// How many node ids the random operations draw from.
const POOL: usize = 40;

#[derive(Clone, Copy, Debug, Default)]
struct TestNode<L> {
    keys: [u64; 2],
    weight: u64,
    sums: [u64; 2],
    links: [L; 2],
}

/// A `Vec`-backed arena of test nodes.
struct TestArena<L> {
    nodes: Vec<TestNode<L>>,
}

impl<L: Copy + Default> TestArena<L> {
    fn new(n: usize) -> Self {
        TestArena {
            nodes: vec![TestNode::default(); n],
        }
    }
}

/// The view of order `O` of a [`TestArena`]; `W` says whether it is
/// weighted. Compares by `(keys[O], id)`.
struct Order<'a, L, const O: usize, const W: bool>(&'a mut TestArena<L>);

impl<L, const O: usize, const W: bool> Nodes<L> for Order<'_, L, O, W> {
    const WEIGHTED: bool = W;
    fn link(&self, n: NodeId) -> &L {
        &self.0.nodes[n as usize].links[O]
    }
    fn link_mut(&mut self, n: NodeId) -> &mut L {
        &mut self.0.nodes[n as usize].links[O]
    }
    fn cmp(&self, a: NodeId, b: NodeId) -> Ordering {
        let ka = self.0.nodes[a as usize].keys[O];
        let kb = self.0.nodes[b as usize].keys[O];
        (ka, a).cmp(&(kb, b))
    }
    fn weight(&self, n: NodeId) -> u64 {
        self.0.nodes[n as usize].weight
    }
    fn subtree_sum(&self, n: NodeId) -> u64 {
        self.0.nodes[n as usize].sums[O]
    }
    fn set_subtree_sum(&mut self, n: NodeId, sum: u64) {
        self.0.nodes[n as usize].sums[O] = sum;
    }
}

/// Order 0: weighted.
fn weighted<L>(arena: &mut TestArena<L>) -> Order<'_, L, 0, true> {
    Order(arena)
}

/// Order 1: unweighted.
fn plain<L>(arena: &mut TestArena<L>) -> Order<'_, L, 1, false> {
    Order(arena)
}

/// One random operation. Node indexes are taken modulo [`POOL`].
#[derive(Clone, Debug)]
enum Op {
    /// Inserts the node into both orders (if it is not in them yet).
    Insert {
        node: usize,
        key0: u64,
        key1: u64,
        weight: u64,
    },
    /// Removes the node from both orders (if it is in them).
    Remove { node: usize },
    /// Changes one key: remove from that order, change, re-insert.
    ChangeKey { node: usize, order: usize, key: u64 },
    /// Changes the weight in place and calls `reweigh`.
    Reweigh { node: usize, weight: u64 },
    /// `next` and `prev` of the node in both orders.
    Step { node: usize },
    /// `find` by key in one order.
    Find { order: usize, key: u64 },
    /// `lower_bound` by key, and by `(key, id)`, in one order.
    LowerBound { order: usize, key: u64, id: u32 },
    /// `select_by_weight` at `point` modulo (total + 2).
    Select { point: u64 },
}

fn key() -> impl Strategy<Value = u64> {
    // Mostly a handful of keys, so that many nodes share one.
    prop_oneof![3 => 0..4u64, 1 => 0..1000u64]
}

fn weight() -> impl Strategy<Value = u64> {
    prop_oneof![3 => Just(0u64), 4 => 1..6u64, 1 => Just(u64::from(u32::MAX))]
}

fn op() -> impl Strategy<Value = Op> {
    let node = 0..POOL;
    prop_oneof![
        6 => (node.clone(), key(), key(), weight()).prop_map(|(node, key0, key1, weight)| Op::Insert {
            node,
            key0,
            key1,
            weight
        }),
        3 => node.clone().prop_map(|node| Op::Remove { node }),
        2 => (node.clone(), 0..2usize, key()).prop_map(|(node, order, key)| Op::ChangeKey {
            node,
            order,
            key
        }),
        2 => (node.clone(), weight()).prop_map(|(node, weight)| Op::Reweigh { node, weight }),
        1 => node.prop_map(|node| Op::Step { node }),
        1 => (0..2usize, key()).prop_map(|(order, key)| Op::Find { order, key }),
        1 => (0..2usize, key(), 0..POOL as u32).prop_map(|(order, key, id)| Op::LowerBound {
            order,
            key,
            id
        }),
        1 => any::<u64>().prop_map(|point| Op::Select { point }),
    ]
}

/// The system under test and its model.
struct Harness<B: Backend> {
    arena: TestArena<B::Link>,
    roots: [B::Root; 2],
    /// Per order: `(key, id)` -> weight.
    model: [BTreeMap<(u64, NodeId), u64>; 2],
    present: Vec<bool>,
}

impl<B: Backend> Harness<B> {
    fn new(n: usize) -> Self {
        Harness {
            arena: TestArena::new(n),
            roots: [B::Root::default(); 2],
            model: [BTreeMap::new(), BTreeMap::new()],
            present: vec![false; n],
        }
    }

    fn insert_order(&mut self, order: usize, n: NodeId) {
        let node = self.arena.nodes[n as usize];
        match order {
            0 => B::insert(&mut self.roots[0], &mut weighted(&mut self.arena), n),
            _ => B::insert(&mut self.roots[1], &mut plain(&mut self.arena), n),
        }
        self.model[order].insert((node.keys[order], n), node.weight);
    }

    fn remove_order(&mut self, order: usize, n: NodeId) {
        let node = self.arena.nodes[n as usize];
        match order {
            0 => B::remove(&mut self.roots[0], &mut weighted(&mut self.arena), n),
            _ => B::remove(&mut self.roots[1], &mut plain(&mut self.arena), n),
        }
        assert!(self.model[order].remove(&(node.keys[order], n)).is_some());
    }

    fn insert(&mut self, n: NodeId) {
        self.insert_order(0, n);
        self.insert_order(1, n);
        self.present[n as usize] = true;
    }

    fn remove(&mut self, n: NodeId) {
        self.remove_order(0, n);
        self.remove_order(1, n);
        self.present[n as usize] = false;
    }

    fn reweigh(&mut self, n: NodeId, weight: u64) {
        self.arena.nodes[n as usize].weight = weight;
        if self.present[n as usize] {
            B::reweigh(&mut self.roots[0], &mut weighted(&mut self.arena), n);
            let key = self.arena.nodes[n as usize].keys[0];
            *self.model[0].get_mut(&(key, n)).unwrap() = weight;
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Insert {
                node,
                key0,
                key1,
                weight,
            } => {
                let n = node as NodeId;
                if !self.present[node] {
                    let t = &mut self.arena.nodes[node];
                    t.keys = [key0, key1];
                    t.weight = weight;
                    self.insert(n);
                }
            }
            Op::Remove { node } => {
                if self.present[node] {
                    self.remove(node as NodeId);
                }
            }
            Op::ChangeKey { node, order, key } => {
                let n = node as NodeId;
                if self.present[node] {
                    self.remove_order(order, n);
                    self.arena.nodes[node].keys[order] = key;
                    self.insert_order(order, n);
                } else {
                    self.arena.nodes[node].keys[order] = key;
                }
            }
            Op::Reweigh { node, weight } => self.reweigh(node as NodeId, weight),
            Op::Step { node } => {
                if self.present[node] {
                    self.check_step(0, node as NodeId);
                    self.check_step(1, node as NodeId);
                }
            }
            Op::Find { order, key } => self.check_find(order, key),
            Op::LowerBound { order, key, id } => self.check_lower_bound(order, key, id),
            Op::Select { point } => {
                let total: u64 = self.model[0].values().sum();
                self.check_select(point % (total + 2));
            }
        }
    }

    /// Runs `f` on the view of `order`.
    fn with<R>(&mut self, order: usize, f: impl FnOnce(&B::Root, &dyn View<B>) -> R) -> R {
        match order {
            0 => f(
                &self.roots[0],
                &Typed::<B, 0, true>(weighted(&mut self.arena), PhantomData),
            ),
            _ => f(
                &self.roots[1],
                &Typed::<B, 1, false>(plain(&mut self.arena), PhantomData),
            ),
        }
    }

    fn check_step(&mut self, order: usize, n: NodeId) {
        let key = self.arena.nodes[n as usize].keys[order];
        let next = self.model[order]
            .range((key, n)..)
            .nth(1)
            .map(|(&(_, id), _)| id);
        let prev = self.model[order]
            .range(..(key, n))
            .next_back()
            .map(|(&(_, id), _)| id);
        let (got_next, got_prev) = self.with(order, |root, v| (v.next(root, n), v.prev(root, n)));
        assert_eq!(got_next, next, "next of {n} in order {order}");
        assert_eq!(got_prev, prev, "prev of {n} in order {order}");
    }

    fn check_find(&mut self, order: usize, key: u64) {
        let expect = self.model[order]
            .range((key, 0)..=(key, NodeId::MAX))
            .map(|(&(_, id), _)| id)
            .collect::<Vec<_>>();
        let got = self.with(order, |root, v| v.find_key(root, key));
        match got {
            Some(n) => assert!(
                expect.contains(&n),
                "find({key}) gave {n}, not in {expect:?}"
            ),
            None => assert!(expect.is_empty(), "find({key}) missed {expect:?}"),
        }
    }

    fn check_lower_bound(&mut self, order: usize, key: u64, id: NodeId) {
        let by_key = self.model[order]
            .range((key, 0)..)
            .next()
            .map(|(&(_, id), _)| id);
        let by_pair = self.model[order]
            .range((key, id)..)
            .next()
            .map(|(&(_, id), _)| id);
        let (got_key, got_pair) = self.with(order, |root, v| {
            (
                v.lower_bound_key(root, key),
                v.lower_bound_pair(root, key, id),
            )
        });
        assert_eq!(got_key, by_key, "lower_bound({key}) in order {order}");
        assert_eq!(
            got_pair, by_pair,
            "lower_bound({key}, {id}) in order {order}"
        );
    }

    fn check_select(&mut self, point: u64) {
        let mut before = 0u64;
        let mut expect = None;
        for (&(_, id), &w) in &self.model[0] {
            if before <= point && point < before + w {
                expect = Some(id);
                break;
            }
            before += w;
        }
        let got = B::select_by_weight(&self.roots[0], &weighted(&mut self.arena), point);
        assert_eq!(got, expect, "select_by_weight({point})");
        if let Some(n) = got {
            assert_ne!(
                self.arena.nodes[n as usize].weight, 0,
                "selected a weight-0 node"
            );
        }
    }

    /// Checks both trees and compares them with the model in full.
    fn verify(&mut self) {
        for order in 0..2 {
            let expect: Vec<NodeId> = self.model[order].keys().map(|&(_, id)| id).collect();
            let (checked, len, first, last, fwd, bwd) = self.with(order, |root, v| {
                (
                    v.check(root),
                    B::len(root),
                    v.first(root),
                    v.last(root),
                    v.forward(root),
                    v.backward(root),
                )
            });
            if let Err(e) = checked {
                panic!("order {order}: invariant broken: {e}");
            }
            assert_eq!(len, expect.len(), "len of order {order}");
            assert_eq!(B::is_empty(&self.roots[order]), expect.is_empty());
            assert_eq!(first, expect.first().copied(), "first of order {order}");
            assert_eq!(last, expect.last().copied(), "last of order {order}");
            assert_eq!(fwd, expect, "forward iteration of order {order}");
            let mut rev = expect.clone();
            rev.reverse();
            assert_eq!(bwd, rev, "backward iteration of order {order}");
        }
        let total: u64 = self.model[0].values().sum();
        assert_eq!(
            B::total_weight(&self.roots[0], &weighted(&mut self.arena)),
            total,
            "total weight"
        );
    }
}

/// The backend operations on one order of the test arena, object-safe so
/// the harness can pick the order at run time.
trait View<B: Backend> {
    fn check(&self, root: &B::Root) -> Result<(), rserpool::storage::InvariantError>;
    fn first(&self, root: &B::Root) -> Option<NodeId>;
    fn last(&self, root: &B::Root) -> Option<NodeId>;
    fn next(&self, root: &B::Root, n: NodeId) -> Option<NodeId>;
    fn prev(&self, root: &B::Root, n: NodeId) -> Option<NodeId>;
    fn find_key(&self, root: &B::Root, key: u64) -> Option<NodeId>;
    fn lower_bound_key(&self, root: &B::Root, key: u64) -> Option<NodeId>;
    fn lower_bound_pair(&self, root: &B::Root, key: u64, id: NodeId) -> Option<NodeId>;
    /// The number of nodes in the arena.
    fn size(&self) -> usize;
    fn forward(&self, root: &B::Root) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut cur = self.first(root);
        while let Some(n) = cur {
            out.push(n);
            assert!(out.len() <= self.size(), "forward iteration does not end");
            cur = self.next(root, n);
        }
        out
    }
    fn backward(&self, root: &B::Root) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut cur = self.last(root);
        while let Some(n) = cur {
            out.push(n);
            assert!(out.len() <= self.size(), "backward iteration does not end");
            cur = self.prev(root, n);
        }
        out
    }
}

/// An [`Order`] tagged with the backend that works on it.
struct Typed<'a, B: Backend, const O: usize, const W: bool>(
    Order<'a, B::Link, O, W>,
    PhantomData<B>,
);

impl<B: Backend, const O: usize, const W: bool> View<B> for Typed<'_, B, O, W> {
    fn check(&self, root: &B::Root) -> Result<(), rserpool::storage::InvariantError> {
        B::check(root, &self.0)
    }
    fn size(&self) -> usize {
        self.0 .0.nodes.len()
    }
    fn first(&self, root: &B::Root) -> Option<NodeId> {
        B::first(root, &self.0)
    }
    fn last(&self, root: &B::Root) -> Option<NodeId> {
        B::last(root, &self.0)
    }
    fn next(&self, root: &B::Root, n: NodeId) -> Option<NodeId> {
        B::next(root, &self.0, n)
    }
    fn prev(&self, root: &B::Root, n: NodeId) -> Option<NodeId> {
        B::prev(root, &self.0, n)
    }
    fn find_key(&self, root: &B::Root, key: u64) -> Option<NodeId> {
        B::find(root, &self.0, |v, n| {
            v.0.nodes[n as usize].keys[O].cmp(&key)
        })
    }
    fn lower_bound_key(&self, root: &B::Root, key: u64) -> Option<NodeId> {
        B::lower_bound(root, &self.0, |v, n| {
            v.0.nodes[n as usize].keys[O].cmp(&key)
        })
    }
    fn lower_bound_pair(&self, root: &B::Root, key: u64, id: NodeId) -> Option<NodeId> {
        B::lower_bound(root, &self.0, |v, n| {
            (v.0.nodes[n as usize].keys[O], n).cmp(&(key, id))
        })
    }
}

/// Applies `ops` to a fresh harness, verifying after each.
fn run_ops<B: Backend>(ops: &[Op]) {
    let mut h = Harness::<B>::new(POOL);
    h.verify();
    for op in ops {
        h.apply(op);
        h.verify();
    }
    // Empty both trees again, verifying on the way.
    for n in 0..POOL {
        if h.present[n] {
            h.remove(n as NodeId);
            h.verify();
        }
    }
    assert_eq!(B::len(&h.roots[0]), 0);
    assert_eq!(B::len(&h.roots[1]), 0);
}

/// The hot path of handle resolution: remove the first node, re-insert it
/// at the end. The trees must stay valid and in the model's order.
fn churn_first_to_last<B: Backend>(n: usize, rounds: usize) {
    let mut h = Harness::<B>::new(n);
    for i in 0..n {
        let t = &mut h.arena.nodes[i];
        t.keys = [i as u64, (n - i) as u64];
        t.weight = (i % 4) as u64;
        h.insert(i as NodeId);
    }
    h.verify();
    for round in 0..rounds {
        let next_key = (n + round) as u64;
        let first = B::first(&h.roots[0], &weighted(&mut h.arena)).unwrap();
        h.remove_order(0, first);
        h.arena.nodes[first as usize].keys[0] = next_key;
        h.insert_order(0, first);
        assert_eq!(B::last(&h.roots[0], &weighted(&mut h.arena)), Some(first));
        if round % 97 == 0 {
            h.verify();
        }
    }
    h.verify();
}

/// Weights anywhere in `u64`: sums may wrap, but nothing panics and the
/// stored sums stay consistent with the weights.
fn huge_weights_never_panic<B: Backend>(weights: &[u64], points: &[u64]) {
    let mut h = Harness::<B>::new(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        h.arena.nodes[i].keys = [i as u64 % 3, i as u64];
        h.arena.nodes[i].weight = w;
        h.insert(i as NodeId);
        B::check(&h.roots[0], &weighted(&mut h.arena)).unwrap();
    }
    for &p in points {
        let _ = B::select_by_weight(&h.roots[0], &weighted(&mut h.arena), p);
    }
    let _ = B::total_weight(&h.roots[0], &weighted(&mut h.arena));
    for (i, &w) in weights.iter().enumerate().rev() {
        h.reweigh(i as NodeId, w.rotate_left(7));
        B::check(&h.roots[0], &weighted(&mut h.arena)).unwrap();
        h.remove(i as NodeId);
        B::check(&h.roots[0], &weighted(&mut h.arena)).unwrap();
    }
}

/// Every test above, for one backend.
macro_rules! backend_tests {
    ($name:ident, $backend:ty) => {
        mod $name {
            use super::*;

            proptest! {
                #[test]
                fn random_operations_match_the_model(
                    ops in proptest::collection::vec(op(), 1..200)
                ) {
                    run_ops::<$backend>(&ops);
                }

                #[test]
                fn huge_weights(
                    weights in proptest::collection::vec(any::<u64>(), 1..30),
                    points in proptest::collection::vec(any::<u64>(), 0..10),
                ) {
                    huge_weights_never_panic::<$backend>(&weights, &points);
                }
            }

            #[test]
            fn remove_first_insert_last() {
                churn_first_to_last::<$backend>(1000, 3000);
            }

            #[test]
            fn ascending_and_descending_fill() {
                let ops: Vec<Op> = (0..POOL)
                    .map(|i| Op::Insert {
                        node: i,
                        key0: i as u64,
                        key1: (POOL - i) as u64,
                        weight: 1,
                    })
                    .collect();
                run_ops::<$backend>(&ops);
            }

            #[test]
            fn all_keys_equal() {
                let ops: Vec<Op> = (0..POOL)
                    .flat_map(|i| {
                        [
                            Op::Insert {
                                node: (i * 7) % POOL,
                                key0: 5,
                                key1: 5,
                                weight: (i % 2) as u64,
                            },
                            Op::Find { order: 0, key: 5 },
                            Op::Select { point: i as u64 },
                        ]
                    })
                    .chain((0..POOL).map(|i| Op::Remove {
                        node: (i * 11) % POOL,
                    }))
                    .collect();
                run_ops::<$backend>(&ops);
            }
        }
    };
}

backend_tests!(rbtree, RedBlackTree);
backend_tests!(treap, Treap);

#[test]
fn tree_links_are_12_bytes() {
    assert_eq!(size_of::<<RedBlackTree as Backend>::Link>(), 12);
    assert_eq!(size_of::<<Treap as Backend>::Link>(), 12);
}
backend_tests!(list, SortedList);
