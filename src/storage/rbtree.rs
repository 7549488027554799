//! A red-black tree backend with parent links and subtree weight sums.
//!
//! Classic red-black tree (insert and delete fix-ups as in Cormen et al.),
//! written without recursion and without a sentinel node: [`NIL`] children
//! count as black. Parent links make [`next`](Backend::next) and
//! [`prev`](Backend::prev) O(1) amortised and let a node be removed by its
//! id alone. The height stays below `2·log2(n + 1)`. The [`Root`] keeps
//! the first and last node, so taking the first node and re-inserting it at
//! the end (round robin) costs O(1) amortised in an unweighted order.
//!
//! # Link encoding
//!
//! A [`Link`] is 12 bytes: three `u32` words for parent, left and right.
//! The colour is the top bit of the parent word (set = red). The other 31
//! bits hold `parent + 1` (wrapping), so [`NIL`] (`u32::MAX`) is stored as
//! 0 and decoding is a mask and a subtraction, without a branch. The cost is
//! that node ids in a red-black tree must not exceed [`MAX_NODE_ID`]
//! (2^31 − 2), far beyond any arena this crate builds.

use core::cmp::Ordering;
use core::fmt;

pub use super::tree_common::Root;
use super::tree_common::{self as tc, shared_backend_methods, BalanceRules, TreeLink};
use super::{Backend, InvariantError, NodeId, Nodes, NIL};

/// The red-black tree backend.
#[derive(Debug)]
pub enum RedBlackTree {}

/// The largest node id a red-black tree can hold (the colour bit takes the
/// top bit of the parent link).
pub const MAX_NODE_ID: NodeId = 0x7FFF_FFFE;

/// The colour bit in [`Link::parent_colour`]: set for red.
const RED: u32 = 1 << 31;
/// The bits of [`Link::parent_colour`] that hold `parent + 1`.
const PARENT_BITS: u32 = !RED;

/// A node's links in one red-black tree: parent (with the colour packed in
/// its top bit), left and right.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Top bit: red. Lower 31 bits: `parent + 1`, 0 for [`NIL`].
    parent_colour: u32,
    left: NodeId,
    right: NodeId,
}

impl Default for Link {
    /// No parent, no children, black.
    #[inline]
    fn default() -> Self {
        Link {
            parent_colour: 0,
            left: NIL,
            right: NIL,
        }
    }
}

impl Link {
    /// Whether the node is red.
    #[inline(always)]
    pub fn is_red(&self) -> bool {
        self.parent_colour & RED != 0
    }

    /// The parent ([`NIL`] at the root or outside a tree).
    #[inline(always)]
    pub fn parent(&self) -> NodeId {
        (self.parent_colour & PARENT_BITS).wrapping_sub(1)
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

    #[inline(always)]
    fn set_red(&mut self, red: bool) {
        self.parent_colour = (self.parent_colour & PARENT_BITS) | if red { RED } else { 0 };
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("parent", &self.parent())
            .field("left", &self.left)
            .field("right", &self.right)
            .field("red", &self.is_red())
            .finish()
    }
}

impl TreeLink for Link {
    #[inline(always)]
    fn new_leaf(parent: NodeId) -> Self {
        Link {
            parent_colour: RED | (parent.wrapping_add(1) & PARENT_BITS),
            left: NIL,
            right: NIL,
        }
    }
    #[inline(always)]
    fn parent(&self) -> NodeId {
        Link::parent(self)
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
        self.parent_colour = (self.parent_colour & RED) | (p.wrapping_add(1) & PARENT_BITS);
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

/// Whether `n` is red ([`NIL`] is black).
#[inline(always)]
fn is_red<N: Nodes<Link>>(nodes: &N, n: NodeId) -> bool {
    n != NIL && nodes.link(n).is_red()
}

#[inline(always)]
fn set_red<N: Nodes<Link>>(nodes: &mut N, n: NodeId, red: bool) {
    nodes.link_mut(n).set_red(red);
}

/// Restores the red-black rules after `z` was attached as a red leaf.
#[inline]
fn insert_fixup<N: Nodes<Link>>(root: &mut NodeId, nodes: &mut N, mut z: NodeId) {
    loop {
        let p = tc::parent(nodes, z);
        if p == NIL {
            // `z` is the root.
            set_red(nodes, z, false);
            return;
        }
        let pl = *nodes.link(p);
        if !pl.is_red() {
            return;
        }
        // A red parent is never the root, so the grandparent exists.
        let g = pl.parent();
        let gl = *nodes.link(g);
        if p == gl.left {
            let u = gl.right;
            if is_red(nodes, u) {
                set_red(nodes, p, false);
                set_red(nodes, u, false);
                set_red(nodes, g, true);
                z = g;
                continue;
            }
            let mut top = p;
            if z == pl.right {
                tc::rotate_left(root, nodes, p);
                top = z;
            }
            set_red(nodes, top, false);
            set_red(nodes, g, true);
            tc::rotate_right(root, nodes, g);
            return;
        } else {
            let u = gl.left;
            if is_red(nodes, u) {
                set_red(nodes, p, false);
                set_red(nodes, u, false);
                set_red(nodes, g, true);
                z = g;
                continue;
            }
            let mut top = p;
            if z == pl.left {
                tc::rotate_right(root, nodes, p);
                top = z;
            }
            set_red(nodes, top, false);
            set_red(nodes, g, true);
            tc::rotate_left(root, nodes, g);
            return;
        }
    }
}

/// Restores the red-black rules after a black node was spliced out: `x`
/// (possibly [`NIL`]) under `xp` is one black short.
#[inline]
fn remove_fixup<N: Nodes<Link>>(root: &mut NodeId, nodes: &mut N, mut x: NodeId, mut xp: NodeId) {
    while xp != NIL && !is_red(nodes, x) {
        let xpl = *nodes.link(xp);
        // If `x` is NIL its sibling is not (it carries a black the other
        // side lacks), so this test is unambiguous.
        if x == xpl.left {
            let mut w = xpl.right;
            if is_red(nodes, w) {
                set_red(nodes, w, false);
                set_red(nodes, xp, true);
                tc::rotate_left(root, nodes, xp);
                w = tc::right(nodes, xp);
            }
            let wl = *nodes.link(w);
            if !is_red(nodes, wl.left) && !is_red(nodes, wl.right) {
                set_red(nodes, w, true);
                x = xp;
                xp = tc::parent(nodes, x);
                continue;
            }
            if !is_red(nodes, wl.right) {
                set_red(nodes, wl.left, false);
                set_red(nodes, w, true);
                tc::rotate_right(root, nodes, w);
                w = tc::right(nodes, xp);
            }
            let xp_red = nodes.link(xp).is_red();
            set_red(nodes, w, xp_red);
            set_red(nodes, xp, false);
            let wr = tc::right(nodes, w);
            set_red(nodes, wr, false);
            tc::rotate_left(root, nodes, xp);
            x = *root;
            break;
        } else {
            let mut w = xpl.left;
            if is_red(nodes, w) {
                set_red(nodes, w, false);
                set_red(nodes, xp, true);
                tc::rotate_right(root, nodes, xp);
                w = tc::left(nodes, xp);
            }
            let wl = *nodes.link(w);
            if !is_red(nodes, wl.left) && !is_red(nodes, wl.right) {
                set_red(nodes, w, true);
                x = xp;
                xp = tc::parent(nodes, x);
                continue;
            }
            if !is_red(nodes, wl.left) {
                set_red(nodes, wl.right, false);
                set_red(nodes, w, true);
                tc::rotate_left(root, nodes, w);
                w = tc::left(nodes, xp);
            }
            let xp_red = nodes.link(xp).is_red();
            set_red(nodes, w, xp_red);
            set_red(nodes, xp, false);
            let wl = tc::left(nodes, w);
            set_red(nodes, wl, false);
            tc::rotate_right(root, nodes, xp);
            x = *root;
            break;
        }
    }
    if x != NIL {
        set_red(nodes, x, false);
    }
}

/// The red-black rules for [`tc::check_tree`]: no red node with a red
/// parent, and the same number of black nodes on every root-to-leaf path.
struct RbRules {
    /// Black nodes from the root down to the current node.
    depth: u32,
    /// The black height every path must have, once one path was measured.
    black_height: Option<u32>,
}

impl<N: Nodes<Link>> BalanceRules<Link, N> for RbRules {
    fn enter(&mut self, nodes: &N, n: NodeId, link: &Link) -> Result<(), InvariantError> {
        if n > MAX_NODE_ID {
            return Err(InvariantError {
                rule: "node id above the red-black tree limit",
                node: n,
            });
        }
        if link.is_red() {
            if is_red(nodes, link.parent()) {
                return Err(InvariantError {
                    rule: "red node has a red parent",
                    node: n,
                });
            }
        } else {
            self.depth += 1;
        }
        if link.left == NIL || link.right == NIL {
            match self.black_height {
                None => self.black_height = Some(self.depth),
                Some(h) if h != self.depth => {
                    return Err(InvariantError {
                        rule: "paths differ in black height",
                        node: n,
                    })
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn leave(&mut self, _nodes: &N, _n: NodeId, link: &Link) {
        if !link.is_red() {
            self.depth -= 1;
        }
    }
}

impl Backend for RedBlackTree {
    type Link = Link;
    type Root = Root;
    const NAME: &'static str = "rbtree";
    const EMPTY_ROOT: Root = Root::EMPTY;

    shared_backend_methods!();

    #[inline]
    fn insert<N: Nodes<Link>>(root: &mut Root, nodes: &mut N, n: NodeId) {
        debug_assert!(
            n <= MAX_NODE_ID,
            "node id {n} too large for a red-black tree"
        );
        tc::insert_leaf(root, nodes, n);
        insert_fixup(&mut root.root, nodes, n);
    }

    #[inline]
    fn remove<N: Nodes<Link>>(root: &mut Root, nodes: &mut N, n: NodeId) {
        tc::forget(root, nodes, n);
        let link = *nodes.link(n);
        let (l, r, np) = (link.left, link.right, link.parent());
        // `n`'s weight as the sums hold it (0 for unweighted orders).
        let own = if N::WEIGHTED {
            let w = tc::stored_weight(nodes, n, &link);
            tc::subtract_to_root(nodes, np, w);
            w
        } else {
            0
        };
        let (child, parent, removed_red);
        if l != NIL && r != NIL {
            // Two children: the successor `s` (leftmost of the right
            // subtree, so without a left child) takes `n`'s place and
            // colour; the fix-up starts where `s` was.
            let s = tc::leftmost(nodes, r);
            let sl = *nodes.link(s);
            let (sp, sc) = (sl.parent(), sl.right);
            if N::WEIGHTED {
                let ws = nodes.subtree_sum(s).wrapping_sub(tc::sum_of(nodes, sc));
                let mut a = sp;
                while a != n {
                    let sa = nodes.subtree_sum(a);
                    nodes.set_subtree_sum(a, sa.wrapping_sub(ws));
                    a = tc::parent(nodes, a);
                }
                let sn = nodes.subtree_sum(n);
                nodes.set_subtree_sum(s, sn.wrapping_sub(own));
            }
            removed_red = sl.is_red();
            child = sc;
            let s_right;
            if sp == n {
                parent = s;
                s_right = sc;
            } else {
                parent = sp;
                nodes.link_mut(sp).left = sc;
                if sc != NIL {
                    nodes.link_mut(sc).set_parent(sp);
                }
                nodes.link_mut(r).set_parent(s);
                s_right = r;
            }
            *nodes.link_mut(s) = Link {
                parent_colour: link.parent_colour,
                left: l,
                right: s_right,
            };
            nodes.link_mut(l).set_parent(s);
            tc::replace_child(&mut root.root, nodes, np, n, s);
        } else {
            child = if l != NIL { l } else { r };
            parent = np;
            removed_red = link.is_red();
            if child != NIL {
                nodes.link_mut(child).set_parent(np);
            }
            tc::replace_child(&mut root.root, nodes, np, n, child);
        }
        if !removed_red {
            remove_fixup(&mut root.root, nodes, child, parent);
        }
        *nodes.link_mut(n) = Link::default();
    }

    fn check<N: Nodes<Link>>(root: &Root, nodes: &N) -> Result<(), InvariantError> {
        if is_red(nodes, root.root) {
            return Err(InvariantError {
                rule: "root is red",
                node: root.root,
            });
        }
        let mut rules = RbRules {
            depth: 0,
            black_height: None,
        };
        tc::check_tree(root, nodes, &mut rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tree_common::test_nodes::{height, Arena};

    type A<const CAP: usize> = Arena<Link, CAP>;

    fn check_both<const CAP: usize>(a: &mut A<CAP>, r0: &Root, r1: &Root) {
        RedBlackTree::check(r0, &a.weighted()).unwrap();
        RedBlackTree::check(r1, &a.plain()).unwrap();
    }

    fn in_order<N: Nodes<Link>>(root: &Root, nodes: &N, out: &mut [NodeId]) -> usize {
        let mut i = 0;
        let mut cur = RedBlackTree::first(root, nodes);
        while let Some(n) = cur {
            out[i] = n;
            i += 1;
            cur = RedBlackTree::next(root, nodes, n);
        }
        i
    }

    #[test]
    fn link_is_12_bytes_and_encodes_nil() {
        assert_eq!(core::mem::size_of::<Link>(), 12);
        let mut l = Link::default();
        assert_eq!(l.parent(), NIL);
        assert!(!l.is_red());
        l.set_red(true);
        TreeLink::set_parent(&mut l, MAX_NODE_ID);
        assert_eq!(l.parent(), MAX_NODE_ID);
        assert!(l.is_red());
        TreeLink::set_parent(&mut l, 0);
        assert_eq!(l.parent(), 0);
        assert!(l.is_red());
        TreeLink::set_parent(&mut l, NIL);
        assert_eq!(l.parent(), NIL);
        assert!(l.is_red());
        l.set_red(false);
        assert_eq!(l, Link::default());
    }

    #[test]
    fn ascending_inserts_rotate_at_root_and_stay_balanced() {
        let mut a = A::<1024>::new();
        let mut r = Root::default();
        for i in 0..1024u32 {
            a.nodes[i as usize].key = i as u64;
            a.nodes[i as usize].weight = 1;
            RedBlackTree::insert(&mut r, &mut a.weighted(), i);
            RedBlackTree::check(&r, &a.weighted()).unwrap();
            if i == 2 {
                // 0,1,2 ascending: a left rotation at the root makes 1 the root.
                assert_eq!(r.node(), 1);
                assert!(!a.nodes[1].links[0].is_red());
                assert!(a.nodes[0].links[0].is_red() && a.nodes[2].links[0].is_red());
            }
        }
        assert_eq!(RedBlackTree::len(&r), 1024);
        assert!(height(r.node(), &a.weighted()) <= 2 * 11);
        assert_eq!(RedBlackTree::total_weight(&r, &a.weighted()), 1024);
        for p in 0..1024 {
            assert_eq!(
                RedBlackTree::select_by_weight(&r, &a.weighted(), p),
                Some(p as u32)
            );
        }
        assert_eq!(
            RedBlackTree::select_by_weight(&r, &a.weighted(), 1024),
            None
        );
    }

    #[test]
    fn descending_inserts_rotate_right_at_root() {
        let mut a = A::<3>::new();
        let mut r = Root::default();
        for i in 0..3u32 {
            a.nodes[i as usize].key = 10 - i as u64;
            RedBlackTree::insert(&mut r, &mut a.weighted(), i);
        }
        assert_eq!(r.node(), 1);
        RedBlackTree::check(&r, &a.weighted()).unwrap();
        assert_eq!(RedBlackTree::first(&r, &a.weighted()), Some(2));
        assert_eq!(RedBlackTree::last(&r, &a.weighted()), Some(0));
    }

    #[test]
    fn zig_zag_insert_double_rotation() {
        // 10, 5, 7: the new node is the inner grandchild; it becomes root.
        let mut a = A::<3>::new();
        let mut r = Root::default();
        for (i, k) in [10u64, 5, 7].into_iter().enumerate() {
            a.nodes[i].key = k;
            RedBlackTree::insert(&mut r, &mut a.weighted(), i as u32);
        }
        assert_eq!(r.node(), 2);
        RedBlackTree::check(&r, &a.weighted()).unwrap();
    }

    #[test]
    fn remove_node_with_two_children_everywhere() {
        // Build a tree of 64 nodes, remove the root repeatedly (it has two
        // children while the tree is large), checking after each step.
        let mut a = A::<64>::new();
        let mut r0 = Root::default();
        let mut r1 = Root::default();
        for i in 0..64u32 {
            let n = &mut a.nodes[i as usize];
            n.key = (i as u64 * 37) % 64;
            n.key2 = 63 - i as u64;
            n.weight = (i % 5) as u64;
            RedBlackTree::insert(&mut r0, &mut a.weighted(), i);
            RedBlackTree::insert(&mut r1, &mut a.plain(), i);
        }
        check_both(&mut a, &r0, &r1);
        let mut total: u64 = (0..64).map(|i| (i % 5) as u64).sum();
        while r0.node() != NIL {
            let n = r0.node();
            let l = a.nodes[n as usize].links[0];
            let had_two = l.left() != NIL && l.right() != NIL;
            if RedBlackTree::len(&r0) > 3 {
                assert!(had_two);
            }
            RedBlackTree::remove(&mut r0, &mut a.weighted(), n);
            total -= a.nodes[n as usize].weight;
            check_both(&mut a, &r0, &r1);
            assert_eq!(RedBlackTree::total_weight(&r0, &a.weighted()), total);
        }
        assert_eq!(RedBlackTree::len(&r0), 0);
        assert_eq!(RedBlackTree::len(&r1), 64);
        let mut out = [0; 64];
        assert_eq!(in_order(&r1, &a.plain(), &mut out), 64);
        for (k, n) in out.iter().enumerate() {
            assert_eq!(*n, 63 - k as u32);
        }
    }

    #[test]
    fn removal_fixups_in_every_position() {
        // For each size and each victim, build by ascending insert and
        // remove the victim: exercises all delete fix-up cases.
        for size in 1..=40u32 {
            for victim in 0..size {
                let mut a = A::<40>::new();
                let mut r = Root::default();
                for i in 0..size {
                    a.nodes[i as usize].key = i as u64;
                    a.nodes[i as usize].weight = i as u64;
                    RedBlackTree::insert(&mut r, &mut a.weighted(), i);
                }
                RedBlackTree::remove(&mut r, &mut a.weighted(), victim);
                RedBlackTree::check(&r, &a.weighted()).unwrap();
                let mut out = [0; 40];
                let k = in_order(&r, &a.weighted(), &mut out);
                assert_eq!(k as u32, size - 1);
                let expect = (0..size).filter(|&i| i != victim);
                assert!(out[..k].iter().copied().eq(expect));
                let total = (0..size as u64).sum::<u64>() - victim as u64;
                assert_eq!(RedBlackTree::total_weight(&r, &a.weighted()), total);
            }
        }
    }

    #[test]
    fn weight_zero_nodes_are_never_selected() {
        crate::storage::tree_common::test_nodes::check_weight_zero_nodes_are_never_selected::<
            RedBlackTree,
        >();
    }

    #[test]
    fn reweigh_and_stale_weight_removal() {
        let mut a = A::<16>::new();
        let mut r = Root::default();
        for i in 0..16u32 {
            a.nodes[i as usize].key = i as u64;
            a.nodes[i as usize].weight = 1;
            RedBlackTree::insert(&mut r, &mut a.weighted(), i);
        }
        a.nodes[5].weight = 100;
        RedBlackTree::reweigh(&mut r, &mut a.weighted(), 5);
        RedBlackTree::check(&r, &a.weighted()).unwrap();
        assert_eq!(RedBlackTree::total_weight(&r, &a.weighted()), 115);
        assert_eq!(
            RedBlackTree::select_by_weight(&r, &a.weighted(), 104),
            Some(5)
        );
        assert_eq!(
            RedBlackTree::select_by_weight(&r, &a.weighted(), 105),
            Some(6)
        );
        // Weight changed without reweigh, then removed: the stored
        // contribution is taken out, so the remaining sums stay exact.
        a.nodes[7].weight = 9;
        RedBlackTree::remove(&mut r, &mut a.weighted(), 7);
        RedBlackTree::check(&r, &a.weighted()).unwrap();
        assert_eq!(RedBlackTree::total_weight(&r, &a.weighted()), 114);
    }

    #[test]
    fn check_detects_broken_trees() {
        let mut a = A::<4>::new();
        let mut r = Root::default();
        for i in 0..4u32 {
            a.nodes[i as usize].key = i as u64;
            a.nodes[i as usize].weight = 2;
            RedBlackTree::insert(&mut r, &mut a.weighted(), i);
        }
        RedBlackTree::check(&r, &a.weighted()).unwrap();
        // Wrong sum.
        a.nodes[3].sum += 1;
        assert_eq!(
            RedBlackTree::check(&r, &a.weighted()).unwrap_err().rule,
            "subtree weight sum is wrong"
        );
        a.nodes[3].sum -= 1;
        // Wrong order.
        a.nodes[0].key = 99;
        assert!(RedBlackTree::check(&r, &a.weighted()).is_err());
        a.nodes[0].key = 0;
        // Wrong count.
        let mut bad = r;
        bad.len = 5;
        assert!(RedBlackTree::check(&bad, &a.weighted()).is_err());
        bad.len = 3;
        assert!(RedBlackTree::check(&bad, &a.weighted()).is_err());
        // Red root.
        let root = r.node();
        a.nodes[root as usize].links[0].set_red(true);
        assert_eq!(
            RedBlackTree::check(&r, &a.weighted()).unwrap_err().rule,
            "root is red"
        );
        a.nodes[root as usize].links[0].set_red(false);
        // Black-height mismatch: blacken a red leaf.
        let red = (0..4u32)
            .find(|&i| a.nodes[i as usize].links[0].is_red())
            .unwrap();
        a.nodes[red as usize].links[0].set_red(false);
        assert_eq!(
            RedBlackTree::check(&r, &a.weighted()).unwrap_err().rule,
            "paths differ in black height"
        );
        a.nodes[red as usize].links[0].set_red(true);
        // Stale cached ends.
        let mut bad = r;
        bad.first = bad.last;
        assert_eq!(
            RedBlackTree::check(&bad, &a.weighted()).unwrap_err().rule,
            "cached first node is not the first"
        );
        let mut bad = r;
        bad.last = bad.root;
        assert_eq!(
            RedBlackTree::check(&bad, &a.weighted()).unwrap_err().rule,
            "cached last node is not the last"
        );
        // Parent link that does not point back.
        TreeLink::set_parent(&mut a.nodes[red as usize].links[0], red);
        assert!(RedBlackTree::check(&r, &a.weighted()).is_err());
    }
}
