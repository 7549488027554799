//! What the binary search tree backends ([`RedBlackTree`](super::RedBlackTree)
//! and [`Treap`](super::Treap)) have in common: link access, rotations that
//! keep parent links and subtree weight sums, leaf insertion, navigation,
//! searches, weighted selection and the structural part of the invariant
//! check.
//!
//! Everything here works on any link record that implements [`TreeLink`], so
//! each algorithm exists once. Subtree sums are only touched when
//! [`Nodes::WEIGHTED`] is true; the branches on that constant compile away.
//!
//! Sum arithmetic wraps (modulo 2^64), so no input can make it panic and the
//! incremental updates stay exact as long as the true total fits in a `u64`
//! (always the case for weights up to `u32::MAX`, since there are fewer than
//! 2^32 nodes).

use core::cmp::Ordering;

use super::{InvariantError, NodeId, Nodes, NIL};

/// The root record of a binary search tree backend
/// ([`RedBlackTree`](super::RedBlackTree), [`Treap`](super::Treap)).
///
/// Holds the root node, the node count, and the first and last node in
/// order. Keeping the two ends makes [`first`](super::Backend::first) and
/// [`last`](super::Backend::last) O(1) and lets an insertion at either end
/// (a round-robin re-queue, a timer later than all others) attach its leaf
/// without descending the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Root {
    pub(crate) root: NodeId,
    pub(crate) first: NodeId,
    pub(crate) last: NodeId,
    pub(crate) len: u32,
}

impl Default for Root {
    /// An empty tree.
    #[inline]
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Root {
    /// An empty tree.
    pub const EMPTY: Root = Root {
        root: NIL,
        first: NIL,
        last: NIL,
        len: 0,
    };

    /// The root node ([`NIL`] when the tree is empty).
    #[inline]
    pub fn node(&self) -> NodeId {
        self.root
    }
}

/// A link record with parent, left and right node ids.
pub(crate) trait TreeLink: Copy {
    /// The record of a fresh leaf below `parent` (red for red-black trees).
    fn new_leaf(parent: NodeId) -> Self;
    /// The parent ([`NIL`] at the root).
    fn parent(&self) -> NodeId;
    /// The left child ([`NIL`] if none).
    fn left(&self) -> NodeId;
    /// The right child ([`NIL`] if none).
    fn right(&self) -> NodeId;
    /// Sets the parent, keeping anything else packed with it.
    fn set_parent(&mut self, p: NodeId);
    /// Sets the left child.
    fn set_left(&mut self, c: NodeId);
    /// Sets the right child.
    fn set_right(&mut self, c: NodeId);
}

#[inline(always)]
pub(crate) fn parent<L: TreeLink, N: Nodes<L>>(nodes: &N, n: NodeId) -> NodeId {
    nodes.link(n).parent()
}

#[inline(always)]
pub(crate) fn left<L: TreeLink, N: Nodes<L>>(nodes: &N, n: NodeId) -> NodeId {
    nodes.link(n).left()
}

#[inline(always)]
pub(crate) fn right<L: TreeLink, N: Nodes<L>>(nodes: &N, n: NodeId) -> NodeId {
    nodes.link(n).right()
}

/// The stored subtree sum of `n`, 0 for [`NIL`].
#[inline(always)]
pub(crate) fn sum_of<L, N: Nodes<L>>(nodes: &N, n: NodeId) -> u64 {
    if n == NIL {
        0
    } else {
        nodes.subtree_sum(n)
    }
}

/// The weight node `n` contributes to the stored sums: its subtree sum
/// less its children's. Using this rather than [`Nodes::weight`] keeps the
/// sums exact on removal even if the weight changed without a `reweigh`.
#[inline(always)]
pub(crate) fn stored_weight<L: TreeLink, N: Nodes<L>>(nodes: &N, n: NodeId, link: &L) -> u64 {
    nodes
        .subtree_sum(n)
        .wrapping_sub(sum_of(nodes, link.left()))
        .wrapping_sub(sum_of(nodes, link.right()))
}

/// Subtracts `w` from the subtree sums of `from` and all its ancestors.
#[inline]
pub(crate) fn subtract_to_root<L: TreeLink, N: Nodes<L>>(nodes: &mut N, from: NodeId, w: u64) {
    let mut a = from;
    while a != NIL {
        let s = nodes.subtree_sum(a);
        nodes.set_subtree_sum(a, s.wrapping_sub(w));
        a = parent(nodes, a);
    }
}

/// Makes `new` take `old`'s place below `p` (or at the root when `p` is
/// [`NIL`]). Does not touch `new`'s own parent link.
#[inline(always)]
pub(crate) fn replace_child<L: TreeLink, N: Nodes<L>>(
    root: &mut NodeId,
    nodes: &mut N,
    p: NodeId,
    old: NodeId,
    new: NodeId,
) {
    if p == NIL {
        *root = new;
    } else {
        let pl = nodes.link_mut(p);
        if pl.left() == old {
            pl.set_left(new);
        } else {
            pl.set_right(new);
        }
    }
}

/// Rotates `x` down to the left: its right child `y` takes its place.
///
/// ```text
///     x              y
///    / \            / \
///   a   y    =>    x   c
///      / \        / \
///     b   c      a   b
/// ```
#[inline]
pub(crate) fn rotate_left<L: TreeLink, N: Nodes<L>>(root: &mut NodeId, nodes: &mut N, x: NodeId) {
    let xl = *nodes.link(x);
    let y = xl.right();
    let b = left(nodes, y);
    let p = xl.parent();
    {
        let xm = nodes.link_mut(x);
        xm.set_right(b);
        xm.set_parent(y);
    }
    if b != NIL {
        nodes.link_mut(b).set_parent(x);
    }
    {
        let ym = nodes.link_mut(y);
        ym.set_left(x);
        ym.set_parent(p);
    }
    replace_child(root, nodes, p, x, y);
    if N::WEIGHTED {
        rotate_sums(nodes, x, y, b);
    }
}

/// Rotates `x` down to the right: its left child `y` takes its place
/// (the mirror image of [`rotate_left`]).
#[inline]
pub(crate) fn rotate_right<L: TreeLink, N: Nodes<L>>(root: &mut NodeId, nodes: &mut N, x: NodeId) {
    let xl = *nodes.link(x);
    let y = xl.left();
    let b = right(nodes, y);
    let p = xl.parent();
    {
        let xm = nodes.link_mut(x);
        xm.set_left(b);
        xm.set_parent(y);
    }
    if b != NIL {
        nodes.link_mut(b).set_parent(x);
    }
    {
        let ym = nodes.link_mut(y);
        ym.set_right(x);
        ym.set_parent(p);
    }
    replace_child(root, nodes, p, x, y);
    if N::WEIGHTED {
        rotate_sums(nodes, x, y, b);
    }
}

/// Sums after a rotation that moved `y` above `x` and the middle subtree
/// `b` from `y` to `x`: `y` now spans what `x` spanned, and `x` lost `y`'s
/// old subtree except `b`.
#[inline(always)]
fn rotate_sums<L, N: Nodes<L>>(nodes: &mut N, x: NodeId, y: NodeId, b: NodeId) {
    let sx = nodes.subtree_sum(x);
    let sy = nodes.subtree_sum(y);
    let sb = sum_of(nodes, b);
    nodes.set_subtree_sum(y, sx);
    nodes.set_subtree_sum(x, sx.wrapping_sub(sy).wrapping_add(sb));
}

/// Attaches `n` as a leaf at its place in the order, adds its weight to
/// the sums of its new ancestors, counts it and updates the cached ends.
/// `n`'s link is overwritten with [`TreeLink::new_leaf`].
///
/// A node that goes after the last or before the first is attached to that
/// end directly; anything else descends from the root.
#[inline]
pub(crate) fn insert_leaf<L: TreeLink, N: Nodes<L>>(root: &mut Root, nodes: &mut N, n: NodeId) {
    let w = if N::WEIGHTED { nodes.weight(n) } else { 0 };
    if N::WEIGHTED {
        nodes.set_subtree_sum(n, w);
    }
    root.len = root.len.wrapping_add(1);
    if root.root == NIL {
        *nodes.link_mut(n) = L::new_leaf(NIL);
        root.root = n;
        root.first = n;
        root.last = n;
        return;
    }
    let p;
    let go_left;
    if nodes.cmp(n, root.last) == Ordering::Greater {
        p = root.last;
        go_left = false;
        root.last = n;
        if N::WEIGHTED {
            add_to_root(nodes, p, w);
        }
    } else if nodes.cmp(n, root.first) == Ordering::Less {
        p = root.first;
        go_left = true;
        root.first = n;
        if N::WEIGHTED {
            add_to_root(nodes, p, w);
        }
    } else {
        let mut cur = root.root;
        let mut parent = NIL;
        let mut left = false;
        while cur != NIL {
            if N::WEIGHTED {
                let s = nodes.subtree_sum(cur);
                nodes.set_subtree_sum(cur, s.wrapping_add(w));
            }
            parent = cur;
            left = nodes.cmp(n, cur) == Ordering::Less;
            let cl = nodes.link(cur);
            cur = if left { cl.left() } else { cl.right() };
        }
        p = parent;
        go_left = left;
    }
    *nodes.link_mut(n) = L::new_leaf(p);
    if go_left {
        nodes.link_mut(p).set_left(n);
    } else {
        nodes.link_mut(p).set_right(n);
    }
}

/// Adds `w` to the subtree sums of `from` and all its ancestors.
#[inline]
fn add_to_root<L: TreeLink, N: Nodes<L>>(nodes: &mut N, from: NodeId, w: u64) {
    subtract_to_root(nodes, from, w.wrapping_neg());
}

/// The bookkeeping of a removal, before the backend unlinks `n`: moves the
/// cached ends off `n` and uncounts it.
#[inline]
pub(crate) fn forget<L: TreeLink, N: Nodes<L>>(root: &mut Root, nodes: &N, n: NodeId) {
    if n == root.first {
        root.first = next(nodes, n).unwrap_or(NIL);
    }
    if n == root.last {
        root.last = prev(nodes, n).unwrap_or(NIL);
    }
    root.len = root.len.wrapping_sub(1);
}

/// The leftmost node of the subtree at `n` (`n` must not be [`NIL`]).
#[inline]
pub(crate) fn leftmost<L: TreeLink, N: Nodes<L>>(nodes: &N, mut n: NodeId) -> NodeId {
    loop {
        let l = left(nodes, n);
        if l == NIL {
            return n;
        }
        n = l;
    }
}

/// The rightmost node of the subtree at `n` (`n` must not be [`NIL`]).
#[inline]
pub(crate) fn rightmost<L: TreeLink, N: Nodes<L>>(nodes: &N, mut n: NodeId) -> NodeId {
    loop {
        let r = right(nodes, n);
        if r == NIL {
            return n;
        }
        n = r;
    }
}

#[inline]
pub(crate) fn next<L: TreeLink, N: Nodes<L>>(nodes: &N, mut n: NodeId) -> Option<NodeId> {
    let l = nodes.link(n);
    let r = l.right();
    if r != NIL {
        return Some(leftmost(nodes, r));
    }
    let mut p = l.parent();
    while p != NIL {
        let pl = nodes.link(p);
        if pl.right() != n {
            return Some(p);
        }
        n = p;
        p = pl.parent();
    }
    None
}

#[inline]
pub(crate) fn prev<L: TreeLink, N: Nodes<L>>(nodes: &N, mut n: NodeId) -> Option<NodeId> {
    let l = nodes.link(n);
    let lc = l.left();
    if lc != NIL {
        return Some(rightmost(nodes, lc));
    }
    let mut p = l.parent();
    while p != NIL {
        let pl = nodes.link(p);
        if pl.left() != n {
            return Some(p);
        }
        n = p;
        p = pl.parent();
    }
    None
}

#[inline]
pub(crate) fn lower_bound<L, N, F>(root: NodeId, nodes: &N, mut probe: F) -> Option<NodeId>
where
    L: TreeLink,
    N: Nodes<L>,
    F: FnMut(&N, NodeId) -> Ordering,
{
    let mut cur = root;
    let mut best = NIL;
    while cur != NIL {
        if probe(nodes, cur) == Ordering::Less {
            cur = right(nodes, cur);
        } else {
            best = cur;
            cur = left(nodes, cur);
        }
    }
    (best != NIL).then_some(best)
}

#[inline]
pub(crate) fn find<L, N, F>(root: NodeId, nodes: &N, mut probe: F) -> Option<NodeId>
where
    L: TreeLink,
    N: Nodes<L>,
    F: FnMut(&N, NodeId) -> Ordering,
{
    let mut cur = root;
    while cur != NIL {
        cur = match probe(nodes, cur) {
            Ordering::Less => right(nodes, cur),
            Ordering::Greater => left(nodes, cur),
            Ordering::Equal => return Some(cur),
        };
    }
    None
}

#[inline]
pub(crate) fn total_weight<L, N: Nodes<L>>(root: NodeId, nodes: &N) -> u64 {
    if N::WEIGHTED {
        sum_of(nodes, root)
    } else {
        0
    }
}

/// Descends by the subtree sums to the node whose weight interval holds
/// `point`. Nodes of weight 0 have an empty interval and are never chosen.
#[inline]
pub(crate) fn select_by_weight<L: TreeLink, N: Nodes<L>>(
    root: NodeId,
    nodes: &N,
    mut point: u64,
) -> Option<NodeId> {
    if !N::WEIGHTED || point >= sum_of(nodes, root) {
        return None;
    }
    let mut cur = root;
    while cur != NIL {
        let l = *nodes.link(cur);
        let sl = sum_of(nodes, l.left());
        if point < sl {
            cur = l.left();
            continue;
        }
        point -= sl;
        let w = stored_weight(nodes, cur, &l);
        if point < w {
            return Some(cur);
        }
        point -= w;
        cur = l.right();
    }
    // Only reachable if the stored sums are inconsistent.
    None
}

/// Refreshes the sums after `n`'s weight changed in place: recomputes
/// `n`'s own sum and adds the difference to every ancestor.
#[inline]
pub(crate) fn reweigh<L: TreeLink, N: Nodes<L>>(nodes: &mut N, n: NodeId) {
    if !N::WEIGHTED {
        return;
    }
    let l = *nodes.link(n);
    let new = nodes
        .weight(n)
        .wrapping_add(sum_of(nodes, l.left()))
        .wrapping_add(sum_of(nodes, l.right()));
    let delta = new.wrapping_sub(nodes.subtree_sum(n));
    nodes.set_subtree_sum(n, new);
    if delta == 0 {
        return;
    }
    let mut a = l.parent();
    while a != NIL {
        let s = nodes.subtree_sum(a);
        nodes.set_subtree_sum(a, s.wrapping_add(delta));
        a = parent(nodes, a);
    }
}

/// The [`Backend`](super::Backend) methods that are the same for every
/// tree backend over [`Root`] and a [`TreeLink`] record: expands to their
/// definitions inside an `impl Backend` block.
macro_rules! shared_backend_methods {
    () => {
        #[inline]
        fn len(root: &Root) -> usize {
            root.len as usize
        }

        #[inline]
        fn first<N: Nodes<Link>>(root: &Root, _nodes: &N) -> Option<NodeId> {
            (root.first != NIL).then_some(root.first)
        }

        #[inline]
        fn last<N: Nodes<Link>>(root: &Root, _nodes: &N) -> Option<NodeId> {
            (root.last != NIL).then_some(root.last)
        }

        #[inline]
        fn next<N: Nodes<Link>>(_root: &Root, nodes: &N, n: NodeId) -> Option<NodeId> {
            tc::next(nodes, n)
        }

        #[inline]
        fn prev<N: Nodes<Link>>(_root: &Root, nodes: &N, n: NodeId) -> Option<NodeId> {
            tc::prev(nodes, n)
        }

        #[inline]
        fn lower_bound<N, F>(root: &Root, nodes: &N, probe: F) -> Option<NodeId>
        where
            N: Nodes<Link>,
            F: FnMut(&N, NodeId) -> Ordering,
        {
            tc::lower_bound(root.root, nodes, probe)
        }

        #[inline]
        fn find<N, F>(root: &Root, nodes: &N, probe: F) -> Option<NodeId>
        where
            N: Nodes<Link>,
            F: FnMut(&N, NodeId) -> Ordering,
        {
            tc::find(root.root, nodes, probe)
        }

        #[inline]
        fn total_weight<N: Nodes<Link>>(root: &Root, nodes: &N) -> u64 {
            tc::total_weight(root.root, nodes)
        }

        #[inline]
        fn select_by_weight<N: Nodes<Link>>(root: &Root, nodes: &N, point: u64) -> Option<NodeId> {
            tc::select_by_weight(root.root, nodes, point)
        }

        #[inline]
        fn reweigh<N: Nodes<Link>>(_root: &mut Root, nodes: &mut N, n: NodeId) {
            tc::reweigh(nodes, n);
        }
    };
}
pub(crate) use shared_backend_methods;

/// The backend-specific rules of [`check_tree`], called while it walks the
/// tree.
pub(crate) trait BalanceRules<L, N: Nodes<L>> {
    /// The walk reaches `n` from its parent (pre-order); `n`'s child links
    /// have already been found to point back at `n`.
    fn enter(&mut self, nodes: &N, n: NodeId, link: &L) -> Result<(), InvariantError>;
    /// The walk leaves `n` towards its parent (post-order).
    fn leave(&mut self, nodes: &N, n: NodeId, link: &L);
}

#[inline]
fn broken(rule: &'static str, node: NodeId) -> Result<(), InvariantError> {
    Err(InvariantError { rule, node })
}

/// Walks the whole tree without recursion or allocation and checks the
/// structure every binary search tree backend shares: the root has no
/// parent, every child's parent link points back, the in-order sequence is
/// strictly increasing by [`Nodes::cmp`], the node count equals `len`, and
/// (weighted orders) every stored subtree sum is exact. Calls `rules` on
/// the way down and up for the balance rules.
///
/// Terminates on any link corruption: a child is only descended into after
/// its parent link was found to point back, so the walk cannot enter a
/// cycle, and it stops as soon as it has seen more than `len` nodes.
pub(crate) fn check_tree<L, N, R>(
    tree: &Root,
    nodes: &N,
    rules: &mut R,
) -> Result<(), InvariantError>
where
    L: TreeLink,
    N: Nodes<L>,
    R: BalanceRules<L, N>,
{
    let (root, len) = (tree.root, tree.len);
    if root == NIL {
        return if len != 0 {
            broken("len counts nodes but the tree is empty", NIL)
        } else if tree.first != NIL || tree.last != NIL {
            broken("empty tree has a first or last node", NIL)
        } else {
            Ok(())
        };
    }
    if parent(nodes, root) != NIL {
        return broken("root has a parent", root);
    }
    let mut count: u32 = 0;
    let mut prev = NIL;
    let mut cur = root;
    let mut first = NIL;
    'down: loop {
        // Entering `cur` from its parent.
        count += 1;
        if count > len {
            return broken("tree holds more nodes than len", cur);
        }
        let link = *nodes.link(cur);
        let (l, r) = (link.left(), link.right());
        if l != NIL && parent(nodes, l) != cur {
            return broken("left child's parent link does not point back", l);
        }
        if r != NIL && parent(nodes, r) != cur {
            return broken("right child's parent link does not point back", r);
        }
        if N::WEIGHTED {
            let expect = nodes
                .weight(cur)
                .wrapping_add(sum_of(nodes, l))
                .wrapping_add(sum_of(nodes, r));
            if nodes.subtree_sum(cur) != expect {
                return broken("subtree weight sum is wrong", cur);
            }
        }
        rules.enter(nodes, cur, &link)?;
        if l != NIL {
            cur = l;
            continue 'down;
        }
        loop {
            // The left subtree of `cur` is done: visit `cur` in order.
            if prev == NIL {
                first = cur;
            } else if nodes.cmp(prev, cur) != Ordering::Less {
                return broken("in-order sequence is not strictly increasing", cur);
            }
            prev = cur;
            let r = right(nodes, cur);
            if r != NIL {
                cur = r;
                continue 'down;
            }
            // Climb while coming up from a right child.
            loop {
                let link = *nodes.link(cur);
                rules.leave(nodes, cur, &link);
                let p = link.parent();
                if p == NIL {
                    return if count != len {
                        broken("tree holds fewer nodes than len", NIL)
                    } else if tree.first != first {
                        broken("cached first node is not the first", tree.first)
                    } else if tree.last != prev {
                        broken("cached last node is not the last", tree.last)
                    } else {
                        Ok(())
                    };
                }
                let from_left = left(nodes, p) == cur;
                cur = p;
                if from_left {
                    break;
                }
            }
        }
    }
}

/// A fixed-size arena with two orders for the unit tests of the tree
/// backends: order 0 by `(key, id)` and weighted, order 1 by `(key2, id)`
/// and unweighted.
#[cfg(test)]
pub(crate) mod test_nodes {
    use super::*;

    #[derive(Clone, Copy, Debug, Default)]
    pub struct Node<L> {
        pub key: u64,
        pub key2: u64,
        pub weight: u64,
        pub sum: u64,
        pub links: [L; 2],
    }

    pub struct Arena<L, const CAP: usize> {
        pub nodes: [Node<L>; CAP],
    }

    impl<L: Copy + Default, const CAP: usize> Arena<L, CAP> {
        pub fn new() -> Self {
            Arena {
                nodes: [Node::default(); CAP],
            }
        }
        pub fn weighted(&mut self) -> Weighted<'_, L, CAP> {
            Weighted(self)
        }
        pub fn plain(&mut self) -> Plain<'_, L, CAP> {
            Plain(self)
        }
    }

    /// Order 0: by (key, id), weighted.
    pub struct Weighted<'a, L, const CAP: usize>(pub &'a mut Arena<L, CAP>);
    /// Order 1: by (key2, id), unweighted.
    pub struct Plain<'a, L, const CAP: usize>(pub &'a mut Arena<L, CAP>);

    impl<L, const CAP: usize> Nodes<L> for Weighted<'_, L, CAP> {
        const WEIGHTED: bool = true;
        fn link(&self, n: NodeId) -> &L {
            &self.0.nodes[n as usize].links[0]
        }
        fn link_mut(&mut self, n: NodeId) -> &mut L {
            &mut self.0.nodes[n as usize].links[0]
        }
        fn cmp(&self, a: NodeId, b: NodeId) -> Ordering {
            let (na, nb) = (&self.0.nodes[a as usize], &self.0.nodes[b as usize]);
            (na.key, a).cmp(&(nb.key, b))
        }
        fn weight(&self, n: NodeId) -> u64 {
            self.0.nodes[n as usize].weight
        }
        fn subtree_sum(&self, n: NodeId) -> u64 {
            self.0.nodes[n as usize].sum
        }
        fn set_subtree_sum(&mut self, n: NodeId, sum: u64) {
            self.0.nodes[n as usize].sum = sum;
        }
    }

    impl<L, const CAP: usize> Nodes<L> for Plain<'_, L, CAP> {
        fn link(&self, n: NodeId) -> &L {
            &self.0.nodes[n as usize].links[1]
        }
        fn link_mut(&mut self, n: NodeId) -> &mut L {
            &mut self.0.nodes[n as usize].links[1]
        }
        fn cmp(&self, a: NodeId, b: NodeId) -> Ordering {
            let (na, nb) = (&self.0.nodes[a as usize], &self.0.nodes[b as usize]);
            (na.key2, a).cmp(&(nb.key2, b))
        }
    }

    /// Weighted selection skips weight-0 nodes and refuses points at or
    /// past the total; shared by both tree backends' tests.
    pub fn check_weight_zero_nodes_are_never_selected<B>()
    where
        B: crate::storage::Backend<Root = Root>,
    {
        let mut a = Arena::<B::Link, 8>::new();
        let mut r = Root::default();
        let weights = [0u64, 3, 0, 0, 2, 0, 1, 0];
        for (i, w) in weights.into_iter().enumerate() {
            a.nodes[i].key = i as u64;
            a.nodes[i].weight = w;
            B::insert(&mut r, &mut a.weighted(), i as u32);
        }
        let v = a.weighted();
        assert_eq!(B::total_weight(&r, &v), 6);
        let picks: [u32; 6] =
            core::array::from_fn(|p| B::select_by_weight(&r, &v, p as u64).unwrap());
        assert_eq!(picks, [1, 1, 1, 4, 4, 6]);
        assert_eq!(B::select_by_weight(&r, &v, 6), None);
        assert_eq!(B::select_by_weight(&r, &v, u64::MAX), None);
    }

    /// The height of the tree at `root` (0 for an empty tree), walking with
    /// the shared navigation helpers.
    pub fn height<L: TreeLink, N: Nodes<L>>(root: NodeId, nodes: &N) -> u32 {
        let mut max = 0;
        if root == NIL {
            return 0;
        }
        let mut n = leftmost(nodes, root);
        loop {
            let mut d = 1;
            let mut a = n;
            while parent(nodes, a) != NIL {
                a = parent(nodes, a);
                d += 1;
            }
            max = max.max(d);
            match next(nodes, n) {
                Some(m) => n = m,
                None => return max,
            }
        }
    }
}
