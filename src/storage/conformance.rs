//! A conformance suite for any [`Backend`]: drives a backend through
//! inserts, removals, key changes, reweighs and every query of the trait on
//! a test arena and compares each answer with a simple model (a sorted
//! `Vec`), calling [`Backend::check`] after every step.
//!
//! Every test node sits in two orders at once, each in its own tree: order 0
//! by `(key0, id)` and weighted, order 1 by `(key1, id)` and unweighted, so
//! a run also shows that the orders of one arena stay independent. Keys are
//! drawn from a handful of values so that many nodes share one (the id
//! breaks the tie), weights include 0 and `u32::MAX`.
//!
//! After every operation, for both orders: [`Backend::check`] passes, the
//! length, [`first`](Backend::first) and [`last`](Backend::last) match the
//! model, iterating with [`next`](Backend::next) from the first node and
//! with [`prev`](Backend::prev) from the last gives the model's order, and
//! [`total_weight`](Backend::total_weight) is the model's total (0 for the
//! unweighted order). Query operations also compare
//! [`find`](Backend::find), [`lower_bound`](Backend::lower_bound) and
//! [`select_by_weight`](Backend::select_by_weight) (at a given point, at
//! both ends of every node's weight interval and past the total).
//!
//! [`check_backend`] runs the whole suite (fixed seeds, plus scripted runs
//! that insert in ascending and descending order and empty the tree from
//! both ends) and panics with a message that names the backend, the seed,
//! the step and the operation. [`run_seed`] runs one seeded sequence and
//! [`Harness`] runs any sequence of [`Op`]s, for property tests that
//! generate their own.
//!
//! ```
//! use rserpool::storage::{conformance, RedBlackTree, SortedList, Treap};
//!
//! conformance::check_backend::<RedBlackTree>();
//! conformance::check_backend::<Treap>();
//! conformance::check_backend::<SortedList>();
//!
//! // One seeded run, reported as a value rather than a panic.
//! conformance::run_seed::<Treap>(42, 500).unwrap();
//! ```

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt;
use core::marker::PhantomData;

use super::{Backend, NodeId, Nodes};

/// How many nodes the arena of [`check_backend`] and [`run_seed`] holds.
pub const NODES: usize = 48;

/// The seeds [`check_backend`] runs.
pub const SEEDS: [u64; 8] = [
    0,
    1,
    2,
    0x5EED,
    0xDEAD_BEEF,
    0x0123_4567_89AB_CDEF,
    0x8000_0000_0000_0000,
    u64::MAX,
];

/// The operations per seed in [`check_backend`].
pub const STEPS: usize = 600;

/// One step of a conformance run. Node numbers are taken modulo the
/// arena's size, so any value is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Inserts the node into both orders with these keys and weight; if it
    /// is in them already, it is removed first (so its keys change).
    Insert {
        /// The node.
        node: u32,
        /// Its key in order 0 (weighted).
        key0: u64,
        /// Its key in order 1 (unweighted).
        key1: u64,
        /// Its weight in order 0.
        weight: u64,
    },
    /// Removes the node from both orders (nothing if it is in neither).
    Remove {
        /// The node.
        node: u32,
    },
    /// Changes the node's key in one order: removal, new key, insertion
    /// (nothing if the node is not in the tree).
    ChangeKey {
        /// The node.
        node: u32,
        /// 0 or 1 (taken modulo 2).
        order: u8,
        /// The new key.
        key: u64,
    },
    /// Changes the node's weight in place and calls
    /// [`Backend::reweigh`] (only the weight if it is not in the tree).
    Reweigh {
        /// The node.
        node: u32,
        /// The new weight.
        weight: u64,
    },
    /// [`Backend::next`] and [`Backend::prev`] of the node in both orders
    /// (nothing if it is not in the tree).
    Step {
        /// The node.
        node: u32,
    },
    /// [`Backend::find`] by key in one order.
    Find {
        /// 0 or 1 (taken modulo 2).
        order: u8,
        /// The key looked for.
        key: u64,
    },
    /// [`Backend::lower_bound`] by key, and by `(key, id)`, in one order.
    LowerBound {
        /// 0 or 1 (taken modulo 2).
        order: u8,
        /// The key.
        key: u64,
        /// The id that breaks ties with the key.
        id: u32,
    },
    /// [`Backend::select_by_weight`] at `point` modulo (total + 2), so that
    /// points at and past the total are tried too.
    Select {
        /// The point.
        point: u64,
    },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Insert {
                node,
                key0,
                key1,
                weight,
            } => write!(
                f,
                "insert node {node} (key0 {key0}, key1 {key1}, weight {weight})"
            ),
            Op::Remove { node } => write!(f, "remove node {node}"),
            Op::ChangeKey { node, order, key } => {
                write!(f, "change key of node {node} in order {order} to {key}")
            }
            Op::Reweigh { node, weight } => write!(f, "reweigh node {node} to {weight}"),
            Op::Step { node } => write!(f, "next/prev of node {node}"),
            Op::Find { order, key } => write!(f, "find key {key} in order {order}"),
            Op::LowerBound { order, key, id } => {
                write!(f, "lower_bound key {key} (id {id}) in order {order}")
            }
            Op::Select { point } => write!(f, "select_by_weight point {point}"),
        }
    }
}

/// A disagreement between the backend and the model, or a broken
/// invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The backend's [`Backend::NAME`].
    pub backend: &'static str,
    /// The seed of the run, if it was a seeded one.
    pub seed: Option<u64>,
    /// The run's name for scripted runs (`"ascending"`, …), else empty.
    pub script: &'static str,
    /// The step (0 for the first operation).
    pub step: usize,
    /// The operation of that step.
    pub op: Op,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "backend {}", self.backend)?;
        if let Some(seed) = self.seed {
            write!(f, ", seed {seed:#x}")?;
        }
        if !self.script.is_empty() {
            write!(f, ", run {:?}", self.script)?;
        }
        write!(f, ", step {} ({}): {}", self.step, self.op, self.message)
    }
}

impl core::error::Error for Failure {}

/// A test node: two keys, a weight, a stored sum and a link per order.
#[derive(Clone, Copy, Debug, Default)]
struct TestNode<L> {
    keys: [u64; 2],
    weight: u64,
    sums: [u64; 2],
    links: [L; 2],
    in_tree: bool,
}

/// Order `O` of the test nodes; `W`: whether it is weighted.
struct Order<'a, L, const O: usize, const W: bool>(&'a mut [TestNode<L>]);

impl<L, const O: usize, const W: bool> Nodes<L> for Order<'_, L, O, W> {
    const WEIGHTED: bool = W;
    fn link(&self, n: NodeId) -> &L {
        &self.0[n as usize].links[O]
    }
    fn link_mut(&mut self, n: NodeId) -> &mut L {
        &mut self.0[n as usize].links[O]
    }
    fn cmp(&self, a: NodeId, b: NodeId) -> Ordering {
        (self.0[a as usize].keys[O], a).cmp(&(self.0[b as usize].keys[O], b))
    }
    fn weight(&self, n: NodeId) -> u64 {
        if W {
            self.0[n as usize].weight
        } else {
            0
        }
    }
    fn subtree_sum(&self, n: NodeId) -> u64 {
        self.0[n as usize].sums[O]
    }
    fn set_subtree_sum(&mut self, n: NodeId, sum: u64) {
        self.0[n as usize].sums[O] = sum;
    }
}

/// Runs operations on one backend and a model side by side: two trees over
/// one arena of test nodes, and for each order the nodes in the tree as a
/// sorted `Vec` of `(key, id)`.
pub struct Harness<B: Backend> {
    nodes: Vec<TestNode<B::Link>>,
    roots: [B::Root; 2],
    /// Per order: the nodes in the tree, sorted by `(key, id)`.
    model: [Vec<(u64, NodeId)>; 2],
    seed: Option<u64>,
    script: &'static str,
    step: usize,
    _backend: PhantomData<B>,
}

impl<B: Backend> fmt::Debug for Harness<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("backend", &B::NAME)
            .field("nodes", &self.nodes.len())
            .field("in_tree", &self.model[0].len())
            .field("step", &self.step)
            .finish()
    }
}

/// What a failed comparison returns inside the harness.
type Check = Result<(), String>;

fn expect_eq<T: PartialEq + fmt::Debug>(what: &str, got: T, want: T) -> Check {
    if got == want {
        Ok(())
    } else {
        Err(alloc::format!(
            "{what}: backend gave {got:?}, model {want:?}"
        ))
    }
}

impl<B: Backend> Harness<B> {
    /// A harness over `nodes` test nodes (at least 1), both trees empty.
    pub fn new(nodes: usize) -> Self {
        Harness {
            nodes: vec![TestNode::default(); nodes.max(1)],
            roots: [B::Root::default(); 2],
            model: [Vec::new(), Vec::new()],
            seed: None,
            script: "",
            step: 0,
            _backend: PhantomData,
        }
    }

    /// How many nodes are in the trees.
    pub fn len(&self) -> usize {
        self.model[0].len()
    }

    /// Whether the trees are empty.
    pub fn is_empty(&self) -> bool {
        self.model[0].is_empty()
    }

    /// Applies `op` to the backend and the model, then verifies the whole
    /// state ([`verify`](Harness::verify)); the step counter advances.
    pub fn apply(&mut self, op: Op) -> Result<(), Failure> {
        let r = self.apply_op(op).and_then(|()| self.verify_all());
        let step = self.step;
        self.step += 1;
        r.map_err(|message| Failure {
            backend: B::NAME,
            seed: self.seed,
            script: self.script,
            step,
            op,
            message,
        })
    }

    /// Applies every operation in turn, stopping at the first failure.
    pub fn run(&mut self, ops: &[Op]) -> Result<(), Failure> {
        ops.iter().try_for_each(|&op| self.apply(op))
    }

    /// Checks both trees against the model: [`Backend::check`], length,
    /// ends, iteration both ways and the total weight.
    pub fn verify(&mut self) -> Result<(), String> {
        self.verify_all()
    }

    fn node(&self, node: u32) -> NodeId {
        (node as usize % self.nodes.len()) as NodeId
    }

    fn model_insert(&mut self, order: usize, n: NodeId) {
        let key = (self.nodes[n as usize].keys[order], n);
        let m = &mut self.model[order];
        let at = m.partition_point(|&e| e < key);
        m.insert(at, key);
    }

    fn model_remove(&mut self, order: usize, n: NodeId) {
        let key = (self.nodes[n as usize].keys[order], n);
        let m = &mut self.model[order];
        let at = m.partition_point(|&e| e < key);
        m.remove(at);
    }

    fn tree_insert(&mut self, order: usize, n: NodeId) {
        if order == 0 {
            B::insert(
                &mut self.roots[0],
                &mut Order::<_, 0, true>(&mut self.nodes),
                n,
            );
        } else {
            B::insert(
                &mut self.roots[1],
                &mut Order::<_, 1, false>(&mut self.nodes),
                n,
            );
        }
        self.model_insert(order, n);
    }

    fn tree_remove(&mut self, order: usize, n: NodeId) {
        if order == 0 {
            B::remove(
                &mut self.roots[0],
                &mut Order::<_, 0, true>(&mut self.nodes),
                n,
            );
        } else {
            B::remove(
                &mut self.roots[1],
                &mut Order::<_, 1, false>(&mut self.nodes),
                n,
            );
        }
        self.model_remove(order, n);
    }

    fn apply_op(&mut self, op: Op) -> Check {
        match op {
            Op::Insert {
                node,
                key0,
                key1,
                weight,
            } => {
                let n = self.node(node);
                if self.nodes[n as usize].in_tree {
                    self.tree_remove(0, n);
                    self.tree_remove(1, n);
                }
                let t = &mut self.nodes[n as usize];
                t.keys = [key0, key1];
                t.weight = weight;
                t.in_tree = true;
                self.tree_insert(0, n);
                self.tree_insert(1, n);
                Ok(())
            }
            Op::Remove { node } => {
                let n = self.node(node);
                if self.nodes[n as usize].in_tree {
                    self.tree_remove(0, n);
                    self.tree_remove(1, n);
                    self.nodes[n as usize].in_tree = false;
                }
                Ok(())
            }
            Op::ChangeKey { node, order, key } => {
                let n = self.node(node);
                let order = usize::from(order % 2);
                if self.nodes[n as usize].in_tree {
                    self.tree_remove(order, n);
                    self.nodes[n as usize].keys[order] = key;
                    self.tree_insert(order, n);
                }
                Ok(())
            }
            Op::Reweigh { node, weight } => {
                let n = self.node(node);
                self.nodes[n as usize].weight = weight;
                if self.nodes[n as usize].in_tree {
                    B::reweigh(
                        &mut self.roots[0],
                        &mut Order::<_, 0, true>(&mut self.nodes),
                        n,
                    );
                }
                Ok(())
            }
            Op::Step { node } => {
                let n = self.node(node);
                if !self.nodes[n as usize].in_tree {
                    return Ok(());
                }
                for order in 0..2 {
                    let m = &self.model[order];
                    let key = (self.nodes[n as usize].keys[order], n);
                    let at = m.partition_point(|&e| e < key);
                    let want_next = m.get(at + 1).map(|e| e.1);
                    let want_prev = at.checked_sub(1).map(|i| m[i].1);
                    let (next, prev) = self.with(order, |r, v| (v.next(r, n), v.prev(r, n)));
                    expect_eq(&alloc::format!("next in order {order}"), next, want_next)?;
                    expect_eq(&alloc::format!("prev in order {order}"), prev, want_prev)?;
                }
                Ok(())
            }
            Op::Find { order, key } => {
                let order = usize::from(order % 2);
                let got = self.with(order, |r, v| v.find_key(r, key));
                let any = self.model[order].iter().any(|e| e.0 == key);
                match got {
                    None if any => Err(alloc::format!(
                        "find in order {order}: backend found nothing, the model holds key {key}"
                    )),
                    Some(n) if !self.model_holds(order, n, key) => Err(alloc::format!(
                        "find in order {order}: backend gave node {n}, which does not hold key {key}"
                    )),
                    _ => Ok(()),
                }
            }
            Op::LowerBound { order, key, id } => {
                let order = usize::from(order % 2);
                let m = &self.model[order];
                let want_key = m.get(m.partition_point(|e| e.0 < key)).map(|e| e.1);
                let want_pair = m.get(m.partition_point(|&e| e < (key, id))).map(|e| e.1);
                let (got_key, got_pair) = self.with(order, |r, v| {
                    (v.lower_bound_key(r, key), v.lower_bound_pair(r, key, id))
                });
                expect_eq(
                    &alloc::format!("lower_bound by key in order {order}"),
                    got_key,
                    want_key,
                )?;
                expect_eq(
                    &alloc::format!("lower_bound by (key, id) in order {order}"),
                    got_pair,
                    want_pair,
                )
            }
            Op::Select { point } => {
                let total = self.model_total();
                let point = point % total.saturating_add(2);
                self.check_select(point)?;
                // Both ends of every node's interval, and past the total.
                let mut before = 0u64;
                for i in 0..self.model[0].len() {
                    let n = self.model[0][i].1;
                    let w = self.nodes[n as usize].weight;
                    if w > 0 {
                        self.check_select(before)?;
                        self.check_select(before + (w - 1))?;
                    }
                    before += w;
                }
                self.check_select(total)?;
                self.check_select(u64::MAX)
            }
        }
    }

    fn model_holds(&self, order: usize, n: NodeId, key: u64) -> bool {
        self.model[order].contains(&(key, n))
    }

    fn model_total(&self) -> u64 {
        self.model[0]
            .iter()
            .map(|e| self.nodes[e.1 as usize].weight)
            .sum()
    }

    /// The node whose weight interval holds `point` in the model.
    fn model_select(&self, point: u64) -> Option<NodeId> {
        let mut before = 0u64;
        for &(_, n) in &self.model[0] {
            let w = self.nodes[n as usize].weight;
            if point < before + w {
                return Some(n);
            }
            before += w;
        }
        None
    }

    fn check_select(&mut self, point: u64) -> Check {
        let want = self.model_select(point);
        let got = self.with(0, |r, v| v.select(r, point));
        expect_eq(&alloc::format!("select_by_weight at {point}"), got, want)?;
        // The unweighted order selects nothing.
        let got = self.with(1, |r, v| v.select(r, point));
        expect_eq(
            &alloc::format!("select_by_weight at {point} in the unweighted order"),
            got,
            None,
        )
    }

    /// Calls `f` with order `order`'s root and view.
    fn with<R>(&mut self, order: usize, f: impl FnOnce(&B::Root, &dyn View<B>) -> R) -> R {
        let root = self.roots[order];
        if order == 0 {
            f(&root, &Order::<_, 0, true>(&mut self.nodes))
        } else {
            f(&root, &Order::<_, 1, false>(&mut self.nodes))
        }
    }

    fn verify_all(&mut self) -> Check {
        for order in 0..2 {
            if let Err(e) = self.with(order, |r, v| v.check(r)) {
                return Err(alloc::format!(
                    "Backend::check of order {order} failed: {e}"
                ));
            }
            let want: Vec<NodeId> = self.model[order].iter().map(|e| e.1).collect();
            let (len, empty, first, last, total) = self.with(order, |r, v| {
                (B::len(r), B::is_empty(r), v.first(r), v.last(r), v.total(r))
            });
            expect_eq(&alloc::format!("len of order {order}"), len, want.len())?;
            expect_eq(
                &alloc::format!("is_empty of order {order}"),
                empty,
                want.is_empty(),
            )?;
            expect_eq(
                &alloc::format!("first of order {order}"),
                first,
                want.first().copied(),
            )?;
            expect_eq(
                &alloc::format!("last of order {order}"),
                last,
                want.last().copied(),
            )?;
            let limit = self.nodes.len();
            let forward = self.with(order, |r, v| v.walk(r, true, limit));
            expect_eq(
                &alloc::format!("order {order} by next from first"),
                &forward,
                &want,
            )?;
            let mut backward = self.with(order, |r, v| v.walk(r, false, limit));
            backward.reverse();
            expect_eq(
                &alloc::format!("order {order} by prev from last, reversed"),
                &backward,
                &want,
            )?;
            let want_total = if order == 0 { self.model_total() } else { 0 };
            expect_eq(
                &alloc::format!("total_weight of order {order}"),
                total,
                want_total,
            )?;
        }
        Ok(())
    }
}

/// One order of the arena, as an object: lets [`Harness::with`] treat the
/// weighted and the unweighted view alike.
trait View<B: Backend> {
    fn check(&self, root: &B::Root) -> Result<(), super::InvariantError>;
    fn first(&self, root: &B::Root) -> Option<NodeId>;
    fn last(&self, root: &B::Root) -> Option<NodeId>;
    fn next(&self, root: &B::Root, n: NodeId) -> Option<NodeId>;
    fn prev(&self, root: &B::Root, n: NodeId) -> Option<NodeId>;
    fn find_key(&self, root: &B::Root, key: u64) -> Option<NodeId>;
    fn lower_bound_key(&self, root: &B::Root, key: u64) -> Option<NodeId>;
    fn lower_bound_pair(&self, root: &B::Root, key: u64, id: NodeId) -> Option<NodeId>;
    fn select(&self, root: &B::Root, point: u64) -> Option<NodeId>;
    fn total(&self, root: &B::Root) -> u64;
    /// The nodes from one end by `next` (forward) or `prev`, at most
    /// `limit + 1` of them (so a cycle cannot loop forever).
    fn walk(&self, root: &B::Root, forward: bool, limit: usize) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut cur = if forward {
            self.first(root)
        } else {
            self.last(root)
        };
        while let Some(n) = cur {
            out.push(n);
            if out.len() > limit {
                break;
            }
            cur = if forward {
                self.next(root, n)
            } else {
                self.prev(root, n)
            };
        }
        out
    }
}

impl<B: Backend, const O: usize, const W: bool> View<B> for Order<'_, B::Link, O, W> {
    fn check(&self, root: &B::Root) -> Result<(), super::InvariantError> {
        B::check(root, self)
    }
    fn first(&self, root: &B::Root) -> Option<NodeId> {
        B::first(root, self)
    }
    fn last(&self, root: &B::Root) -> Option<NodeId> {
        B::last(root, self)
    }
    fn next(&self, root: &B::Root, n: NodeId) -> Option<NodeId> {
        B::next(root, self, n)
    }
    fn prev(&self, root: &B::Root, n: NodeId) -> Option<NodeId> {
        B::prev(root, self, n)
    }
    fn find_key(&self, root: &B::Root, key: u64) -> Option<NodeId> {
        B::find(root, self, |v, n| v.0[n as usize].keys[O].cmp(&key))
    }
    fn lower_bound_key(&self, root: &B::Root, key: u64) -> Option<NodeId> {
        B::lower_bound(root, self, |v, n| v.0[n as usize].keys[O].cmp(&key))
    }
    fn lower_bound_pair(&self, root: &B::Root, key: u64, id: NodeId) -> Option<NodeId> {
        B::lower_bound(root, self, |v, n| {
            (v.0[n as usize].keys[O], n).cmp(&(key, id))
        })
    }
    fn select(&self, root: &B::Root, point: u64) -> Option<NodeId> {
        B::select_by_weight(root, self, point)
    }
    fn total(&self, root: &B::Root) -> u64 {
        B::total_weight(root, self)
    }
}

/// SplitMix64: the deterministic generator of the seeded runs.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A key: mostly one of four values (many nodes share one), sometimes
    /// one of a thousand.
    fn key(&mut self) -> u64 {
        if self.below(4) < 3 {
            self.below(4)
        } else {
            self.below(1000)
        }
    }

    /// A weight: often 0, mostly small, sometimes `u32::MAX`.
    fn weight(&mut self) -> u64 {
        match self.below(8) {
            0..=2 => 0,
            3..=6 => 1 + self.below(5),
            _ => u64::from(u32::MAX),
        }
    }

    fn op(&mut self, nodes: u32) -> Op {
        let node = self.below(u64::from(nodes)) as u32;
        let order = self.below(2) as u8;
        match self.below(17) {
            0..=5 => Op::Insert {
                node,
                key0: self.key(),
                key1: self.key(),
                weight: self.weight(),
            },
            6..=8 => Op::Remove { node },
            9..=10 => Op::ChangeKey {
                node,
                order,
                key: self.key(),
            },
            11..=12 => Op::Reweigh {
                node,
                weight: self.weight(),
            },
            13 => Op::Step { node },
            14 => Op::Find {
                order,
                key: self.key(),
            },
            15 => Op::LowerBound {
                order,
                key: self.key(),
                id: self.below(u64::from(nodes)) as u32,
            },
            _ => Op::Select { point: self.next() },
        }
    }
}

/// The operations of the seeded run `seed`: `steps` random operations on
/// [`NODES`] nodes (inserts twice as often as removals, so the trees fill
/// up and empty again).
pub fn seeded_ops(seed: u64, steps: usize) -> Vec<Op> {
    let mut rng = SplitMix(seed);
    (0..steps).map(|_| rng.op(NODES as u32)).collect()
}

/// Runs the seeded sequence [`seeded_ops`]`(seed, steps)` on a fresh
/// [`Harness`] of [`NODES`] nodes, then removes every node.
pub fn run_seed<B: Backend>(seed: u64, steps: usize) -> Result<(), Failure> {
    let mut h = Harness::<B>::new(NODES);
    h.seed = Some(seed);
    h.run(&seeded_ops(seed, steps))?;
    let all: Vec<Op> = (0..NODES as u32).map(|node| Op::Remove { node }).collect();
    h.run(&all)
}

/// The scripted runs: ascending and descending inserts (every insertion at
/// one end of the tree), then removals from the front, from the back and
/// from the middle outwards, with weighted selections in between.
pub fn run_scripts<B: Backend>() -> Result<(), Failure> {
    let n = NODES as u32;
    let insert = |node: u32, key: u64| Op::Insert {
        node,
        key0: key,
        key1: u64::MAX - key,
        weight: u64::from(node % 4),
    };
    let select = |point: u64| Op::Select { point };
    type Script = (&'static str, Vec<Op>);
    let scripts: [Script; 4] = [
        (
            "ascending, then removals from the front",
            (0..n)
                .map(|i| insert(i, u64::from(i)))
                .chain(core::iter::once(select(0)))
                .chain((0..n).map(|node| Op::Remove { node }))
                .collect(),
        ),
        (
            "descending, then removals from the back",
            (0..n)
                .map(|i| insert(i, u64::from(n - i)))
                .chain(core::iter::once(select(1)))
                .chain((0..n).map(|node| Op::Remove { node }))
                .collect(),
        ),
        (
            "alternating ends, then removals from the middle outwards",
            (0..n)
                .map(|i| {
                    let k = if i % 2 == 0 { 1000 + i } else { 1000 - i };
                    insert(i, u64::from(k))
                })
                .chain(core::iter::once(select(u64::MAX / 2)))
                .chain((0..n).map(|node| Op::Remove { node }))
                .collect(),
        ),
        (
            "equal keys, reweighed, re-keyed to the end one by one",
            (0..n)
                .map(|i| insert(i, 7))
                .chain((0..n).map(|node| Op::Reweigh {
                    node,
                    weight: u64::from(node) * 3 + 1,
                }))
                .chain(core::iter::once(select(5)))
                .chain((0..n).map(|node| Op::ChangeKey {
                    node,
                    order: 0,
                    key: 100 + u64::from(node),
                }))
                .chain(core::iter::once(select(1)))
                .chain((0..n).rev().map(|node| Op::Remove { node }))
                .collect(),
        ),
    ];
    for (name, ops) in scripts {
        let mut h = Harness::<B>::new(NODES);
        h.script = name;
        h.run(&ops)?;
        if !h.is_empty() {
            return Err(Failure {
                backend: B::NAME,
                seed: None,
                script: name,
                step: h.step,
                op: Op::Remove { node: 0 },
                message: "the model is not empty at the end".to_string(),
            });
        }
    }
    Ok(())
}

/// Runs the whole suite on `B`: [`run_scripts`] and [`run_seed`] for every
/// seed of [`SEEDS`] with [`STEPS`] operations.
///
/// # Panics
///
/// On the first disagreement with the model or broken invariant, with the
/// [`Failure`] as the message (backend, seed or run, step, operation and
/// what went wrong).
pub fn check_backend<B: Backend>() {
    if let Err(f) = run_scripts::<B>() {
        panic!("conformance: {f}");
    }
    for seed in SEEDS {
        if let Err(f) = run_seed::<B>(seed, STEPS) {
            panic!("conformance: {f}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{RedBlackTree, SortedList, Treap};

    #[test]
    fn suite_passes_for_the_crate_backends() {
        check_backend::<RedBlackTree>();
        check_backend::<Treap>();
        check_backend::<SortedList>();
    }

    #[test]
    fn seeded_ops_are_deterministic() {
        assert_eq!(seeded_ops(7, 50), seeded_ops(7, 50));
        assert_ne!(seeded_ops(7, 50), seeded_ops(8, 50));
    }

    #[test]
    fn failure_names_backend_seed_step_and_op() {
        let f = Failure {
            backend: "treap",
            seed: Some(0x5EED),
            script: "",
            step: 3,
            op: Op::Remove { node: 9 },
            message: "len of order 0: backend gave 2, model 1".into(),
        };
        assert_eq!(
            f.to_string(),
            "backend treap, seed 0x5eed, step 3 (remove node 9): len of order 0: backend gave 2, model 1"
        );
    }
}
