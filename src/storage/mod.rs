//! Ordered indexes over an arena of nodes.
//!
//! A pool element sits in several orders at once (its pool's selection order,
//! its pool's id order, the association order, and the timer order for
//! timers that fit none of the handlespace's timer lanes). Each node of an [`Arena`](arena) carries one *link record* per
//! order; a [`Backend`] is one tree algorithm (red-black tree, treap, or a
//! naive sorted list for comparison) that works on any order through the
//! [`Nodes`] trait: how to reach a node's link for that order, how two nodes
//! compare in it, and, for weighted orders, each node's weight and subtree
//! weight sum. The handlespace is generic over the backend, so swapping it is
//! a type parameter and costs nothing at run time.
//!
//! Nodes are named by [`NodeId`], a small integer index into the arena;
//! [`NIL`] stands for "no node".
//!
//! A backend written outside this crate can be checked against the same
//! model as the crate's own with the conformance suite
//! (`conformance::check_backend`, with the `alloc` feature).

use core::cmp::Ordering;
use core::fmt;

pub mod arena;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub mod conformance;
pub mod list;
pub mod rbtree;
pub mod treap;
mod tree_common;

pub use list::SortedList;
pub use rbtree::RedBlackTree;
pub use treap::Treap;

/// Index of a node in an arena.
pub type NodeId = u32;

/// "No node": the null link.
pub const NIL: NodeId = u32::MAX;

/// How a backend reaches the nodes of one order.
///
/// Implemented by the owner of the arena once per order (a thin view that
/// picks the right link record out of each node). `L` is the backend's link
/// record type, [`Backend::Link`].
pub trait Nodes<L> {
    /// Whether this order keeps subtree weight sums (for weighted selection).
    const WEIGHTED: bool = false;

    /// The link record of node `n` in this order.
    fn link(&self, n: NodeId) -> &L;
    /// The link record of node `n` in this order, for changing.
    fn link_mut(&mut self, n: NodeId) -> &mut L;
    /// Compares two nodes in this order. It must be a total order on the
    /// nodes in the tree: distinct nodes never compare `Equal` (break ties
    /// with a sequence number or the node id).
    fn cmp(&self, a: NodeId, b: NodeId) -> Ordering;
    /// The weight of node `n` (weighted orders only).
    fn weight(&self, _n: NodeId) -> u64 {
        0
    }
    /// The sum of the weights in the subtree rooted at `n` as last stored
    /// (weighted orders only).
    fn subtree_sum(&self, _n: NodeId) -> u64 {
        0
    }
    /// Stores the subtree weight sum of `n` (weighted orders only).
    fn set_subtree_sum(&mut self, _n: NodeId, _sum: u64) {}
}

/// A broken structural invariant, found by [`Backend::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvariantError {
    /// Which rule is broken.
    pub rule: &'static str,
    /// The node where it was found ([`NIL`] for the tree as a whole).
    pub node: NodeId,
}

impl fmt::Display for InvariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at node {}", self.rule, self.node)
    }
}

impl core::error::Error for InvariantError {}

/// One ordered-index algorithm, usable on any order of any arena.
///
/// All operations take the tree's [`Root`](Backend::Root) and a [`Nodes`]
/// view. A node is in at most one tree per order; inserting a node that is
/// already in the tree, or removing one that is not, is a caller bug.
pub trait Backend: 'static {
    /// The per-node, per-order link record.
    type Link: Copy + Default + fmt::Debug;
    /// The per-tree root record (includes the node count).
    type Root: Copy + Default + fmt::Debug;
    /// A short name for tables and benchmarks (`"rbtree"`, `"treap"`, `"list"`).
    const NAME: &'static str;
    /// The root record of an empty tree (what `Root::default()` gives),
    /// as a constant, so that a handlespace can be built in a `const fn`.
    const EMPTY_ROOT: Self::Root;

    /// The number of nodes in the tree.
    fn len(root: &Self::Root) -> usize;
    /// Whether the tree is empty.
    fn is_empty(root: &Self::Root) -> bool {
        Self::len(root) == 0
    }
    /// Inserts node `n` at its place in the order given by [`Nodes::cmp`].
    fn insert<N: Nodes<Self::Link>>(root: &mut Self::Root, nodes: &mut N, n: NodeId);
    /// Removes node `n` from the tree.
    fn remove<N: Nodes<Self::Link>>(root: &mut Self::Root, nodes: &mut N, n: NodeId);
    /// The smallest node.
    fn first<N: Nodes<Self::Link>>(root: &Self::Root, nodes: &N) -> Option<NodeId>;
    /// The largest node.
    fn last<N: Nodes<Self::Link>>(root: &Self::Root, nodes: &N) -> Option<NodeId>;
    /// The node after `n` in order.
    fn next<N: Nodes<Self::Link>>(root: &Self::Root, nodes: &N, n: NodeId) -> Option<NodeId>;
    /// The node before `n` in order.
    fn prev<N: Nodes<Self::Link>>(root: &Self::Root, nodes: &N, n: NodeId) -> Option<NodeId>;
    /// The first node `n` for which `probe(nodes, n)` is not `Less`, where
    /// `probe` compares a node with a search key (`Less`: the node comes
    /// before the key). The probe must be monotone along the order.
    fn lower_bound<N, F>(root: &Self::Root, nodes: &N, probe: F) -> Option<NodeId>
    where
        N: Nodes<Self::Link>,
        F: FnMut(&N, NodeId) -> Ordering;
    /// A node for which `probe(nodes, n)` is `Equal`, if any.
    fn find<N, F>(root: &Self::Root, nodes: &N, probe: F) -> Option<NodeId>
    where
        N: Nodes<Self::Link>,
        F: FnMut(&N, NodeId) -> Ordering;
    /// The sum of all weights in the tree (weighted orders).
    fn total_weight<N: Nodes<Self::Link>>(root: &Self::Root, nodes: &N) -> u64;
    /// The node whose weight interval contains `point`: with the nodes in
    /// order and their weights laid end to end from 0, the node `n` with
    /// `before(n) <= point < before(n) + weight(n)`. `None` when `point` is
    /// not below [`total_weight`](Backend::total_weight). O(log n) for trees.
    fn select_by_weight<N: Nodes<Self::Link>>(
        root: &Self::Root,
        nodes: &N,
        point: u64,
    ) -> Option<NodeId>;
    /// Node `n`'s weight changed but its place in the order did not:
    /// refreshes the stored subtree sums from `n` up to the root.
    fn reweigh<N: Nodes<Self::Link>>(root: &mut Self::Root, nodes: &mut N, n: NodeId);
    /// Checks every structural invariant of the tree: links agree in both
    /// directions, the order is strict, the node count is right, the
    /// backend's balance rules hold and the stored subtree sums are exact.
    fn check<N: Nodes<Self::Link>>(root: &Self::Root, nodes: &N) -> Result<(), InvariantError>;
}
