//! A treap backend with parent links and subtree weight sums.
//!
//! A treap is a binary search tree that is also a max-heap on a per-node
//! priority. Here the priority is not stored: it is derived from the node id
//! by [`priority`], the murmur3 32-bit finaliser, a bijection on `u32` that
//! mixes well, so distinct nodes never tie (ties would be broken by node id
//! all the same) and the shape of a treap depends only on which nodes it
//! holds and their order, never on the history of operations. The expected
//! depth is O(log n).
//!
//! Insertion attaches a leaf and rotates it up while its priority beats its
//! parent's; removal rotates the node down towards its higher-priority child
//! until it has at most one child, then splices it out. Both take an
//! expected constant number of rotations. No recursion. The [`Root`] keeps
//! the first and last node, so an insertion at either end needs no descent.
//!
//! # Against the red-black tree
//!
//! Fewer rotations make removal, re-insertion at the end and expiry
//! cheaper than in the [`RedBlackTree`](super::RedBlackTree). What costs
//! more is any walk from the root: a treap is a random binary search tree,
//! whose nodes lie 2·ln n deep on average (about 1.39·log2 n: 7.5 nodes on
//! the path for 100 nodes, 21.5 for 100,000), against about log2 n for a
//! red-black tree (6.2 and 16.3). A weighted selection
//! ([`select_by_weight`](Backend::select_by_weight)) and a registration at a
//! random place descend that far, and the extra levels are the deep ones,
//! the least likely to be in the cache, so in a handlespace much larger
//! than the cache they cost more than their number says (see
//! BENCHMARKS.md). The node after the first one is, half of the time, down
//! the first node's right subtree rather than its parent, which makes
//! stepping from the first node less predictable than in a red-black tree.

use core::cmp::Ordering;

pub use super::tree_common::Root;
use super::tree_common::{self as tc, shared_backend_methods, BalanceRules, TreeLink};
use super::{Backend, InvariantError, NodeId, Nodes, NIL};

/// The treap backend.
#[derive(Debug)]
pub enum Treap {}

/// A node's links in one treap: parent, left and right (12 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    parent: NodeId,
    left: NodeId,
    right: NodeId,
}

impl Default for Link {
    /// No parent, no children.
    #[inline]
    fn default() -> Self {
        Link {
            parent: NIL,
            left: NIL,
            right: NIL,
        }
    }
}

impl Link {
    /// The parent ([`NIL`] at the root or outside a tree).
    #[inline(always)]
    pub fn parent(&self) -> NodeId {
        self.parent
    }

    /// The left child ([`NIL`] if none).
    #[inline(always)]
    pub fn left(&self) -> NodeId {
        self.left
    }

    /// The right child ([`NIL`] if none).
    #[inline(always)]
    pub fn right(&self) -> NodeId {
        self.right
    }
}

impl TreeLink for Link {
    #[inline(always)]
    fn new_leaf(parent: NodeId) -> Self {
        Link {
            parent,
            left: NIL,
            right: NIL,
        }
    }
    #[inline(always)]
    fn parent(&self) -> NodeId {
        self.parent
    }
    #[inline(always)]
    fn left(&self) -> NodeId {
        self.left
    }
    #[inline(always)]
    fn right(&self) -> NodeId {
        self.right
    }
    #[inline(always)]
    fn set_parent(&mut self, p: NodeId) {
        self.parent = p;
    }
    #[inline(always)]
    fn set_left(&mut self, c: NodeId) {
        self.left = c;
    }
    #[inline(always)]
    fn set_right(&mut self, c: NodeId) {
        self.right = c;
    }
}

/// The heap priority of node `n`: the murmur3 32-bit finaliser (fmix32)
/// of its id. It is a bijection, so distinct nodes have distinct
/// priorities.
#[inline(always)]
pub const fn priority(n: NodeId) -> u32 {
    let mut h = n;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// Whether `a` belongs above `b` in the heap: higher priority, ties (which
/// cannot happen for distinct ids) broken by the larger id.
#[inline(always)]
fn above(a: NodeId, b: NodeId) -> bool {
    (priority(a), a) > (priority(b), b)
}

/// The heap rule for [`tc::check_tree`]: no node is above its parent.
struct HeapRule;

impl<N: Nodes<Link>> BalanceRules<Link, N> for HeapRule {
    fn enter(&mut self, _nodes: &N, n: NodeId, link: &Link) -> Result<(), InvariantError> {
        if link.parent != NIL && above(n, link.parent) {
            return Err(InvariantError {
                rule: "heap order: node has a higher priority than its parent",
                node: n,
            });
        }
        Ok(())
    }

    fn leave(&mut self, _nodes: &N, _n: NodeId, _link: &Link) {}
}

impl Backend for Treap {
    type Link = Link;
    type Root = Root;
    const NAME: &'static str = "treap";
    const EMPTY_ROOT: Root = Root::EMPTY;

    shared_backend_methods!();

    #[inline]
    fn insert<N: Nodes<Link>>(root: &mut Root, nodes: &mut N, n: NodeId) {
        tc::insert_leaf(root, nodes, n);
        loop {
            let p = tc::parent(nodes, n);
            if p == NIL || !above(n, p) {
                return;
            }
            if tc::left(nodes, p) == n {
                tc::rotate_right(&mut root.root, nodes, p);
            } else {
                tc::rotate_left(&mut root.root, nodes, p);
            }
        }
    }

    #[inline]
    fn remove<N: Nodes<Link>>(root: &mut Root, nodes: &mut N, n: NodeId) {
        tc::forget(root, nodes, n);
        let mut link = *nodes.link(n);
        while link.left != NIL && link.right != NIL {
            if above(link.left, link.right) {
                tc::rotate_right(&mut root.root, nodes, n);
            } else {
                tc::rotate_left(&mut root.root, nodes, n);
            }
            link = *nodes.link(n);
        }
        let child = if link.left != NIL {
            link.left
        } else {
            link.right
        };
        let p = link.parent;
        if N::WEIGHTED {
            let w = tc::stored_weight(nodes, n, &link);
            tc::subtract_to_root(nodes, p, w);
        }
        if child != NIL {
            nodes.link_mut(child).parent = p;
        }
        tc::replace_child(&mut root.root, nodes, p, n, child);
        *nodes.link_mut(n) = Link::default();
    }

    fn check<N: Nodes<Link>>(root: &Root, nodes: &N) -> Result<(), InvariantError> {
        tc::check_tree(root, nodes, &mut HeapRule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tree_common::test_nodes::{height, Arena};

    type A<const CAP: usize> = Arena<Link, CAP>;

    #[test]
    fn link_is_12_bytes() {
        assert_eq!(core::mem::size_of::<Link>(), 12);
    }

    #[test]
    fn priority_is_fmix32() {
        // Reference values of murmur3's fmix32.
        assert_eq!(priority(0), 0);
        assert_eq!(priority(1), 0x514e_28b7);
        assert_eq!(priority(u32::MAX), 0x81f1_6f39);
        assert!(above(1, 0));
    }

    #[test]
    fn shape_depends_only_on_contents() {
        // The same nodes inserted in two different orders (and with
        // removals in between) give the same root and the same links.
        let mut a = A::<32>::new();
        let mut b = A::<32>::new();
        let (mut ra, mut rb) = (Root::default(), Root::default());
        for i in 0..32u32 {
            a.nodes[i as usize].key = (i as u64 * 7) % 32;
            b.nodes[i as usize].key = (i as u64 * 7) % 32;
        }
        for i in 0..32u32 {
            Treap::insert(&mut ra, &mut a.weighted(), i);
            Treap::insert(&mut rb, &mut b.weighted(), 31 - i);
        }
        for i in (0..32u32).step_by(3) {
            Treap::remove(&mut rb, &mut b.weighted(), i);
            Treap::check(&rb, &b.weighted()).unwrap();
            Treap::insert(&mut rb, &mut b.weighted(), i);
        }
        Treap::check(&ra, &a.weighted()).unwrap();
        Treap::check(&rb, &b.weighted()).unwrap();
        assert_eq!(ra, rb);
        for i in 0..32 {
            assert_eq!(a.nodes[i].links[0], b.nodes[i].links[0]);
        }
        // The root is the node of highest priority.
        let top = (0..32u32).max_by_key(|&n| priority(n)).unwrap();
        assert_eq!(ra.node(), top);
    }

    #[test]
    fn rotations_at_root_and_two_child_removal() {
        let mut a = A::<512>::new();
        let mut r = Root::default();
        let mut total = 0;
        for i in 0..512u32 {
            a.nodes[i as usize].key = i as u64;
            a.nodes[i as usize].weight = (i % 3) as u64;
            total += (i % 3) as u64;
            Treap::insert(&mut r, &mut a.weighted(), i);
            Treap::check(&r, &a.weighted()).unwrap();
        }
        assert!(height(r.node(), &a.weighted()) <= 40);
        // Removing the root while it has two children rotates it down.
        while Treap::len(&r) > 0 {
            let n = r.node();
            Treap::remove(&mut r, &mut a.weighted(), n);
            total -= a.nodes[n as usize].weight;
            Treap::check(&r, &a.weighted()).unwrap();
            assert_eq!(Treap::total_weight(&r, &a.weighted()), total);
        }
        assert_eq!(r, Root::default());
    }

    #[test]
    fn weight_zero_nodes_are_never_selected() {
        crate::storage::tree_common::test_nodes::check_weight_zero_nodes_are_never_selected::<Treap>(
        );
    }

    #[test]
    fn check_detects_heap_violation() {
        let mut a = A::<8>::new();
        let mut r = Root::default();
        for i in 0..8u32 {
            a.nodes[i as usize].key = i as u64;
            Treap::insert(&mut r, &mut a.plain(), i);
        }
        Treap::check(&r, &a.plain()).unwrap();
        // Rotate a child above the root by hand: still a valid search tree
        // but no longer a heap.
        let root = r.node();
        let c = {
            let l = a.nodes[root as usize].links[1];
            if l.left != NIL {
                l.left
            } else {
                l.right
            }
        };
        if a.nodes[root as usize].links[1].left == c {
            tc::rotate_right(&mut r.root, &mut a.plain(), root);
        } else {
            tc::rotate_left(&mut r.root, &mut a.plain(), root);
        }
        assert_eq!(
            Treap::check(&r, &a.plain()).unwrap_err().rule,
            "heap order: node has a higher priority than its parent"
        );
    }
}
