//! A deliberately naive backend: a sorted doubly linked list.
//!
//! Insertion, search and weighted selection walk the list (linear time);
//! removal and stepping are constant time. It exists to show in benchmarks
//! what the trees buy, and as a simple reference in tests.
//!
//! For weighted orders the node's weight at insertion time is remembered in
//! its stored subtree sum, so the total can be kept in the root and
//! [`Backend::reweigh`] can correct it.

use core::cmp::Ordering;

use super::{Backend, InvariantError, Nodes, NIL};
use crate::storage::NodeId;

/// A sorted doubly linked list backend (linear time; for comparison).
#[derive(Debug)]
pub enum SortedList {}

/// The list link of one node in one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListLink {
    prev: NodeId,
    next: NodeId,
}

impl Default for ListLink {
    fn default() -> Self {
        ListLink {
            prev: NIL,
            next: NIL,
        }
    }
}

/// The list's ends, length and total weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListRoot {
    head: NodeId,
    tail: NodeId,
    len: u32,
    total: u64,
}

impl ListRoot {
    /// An empty list.
    pub const EMPTY: ListRoot = ListRoot {
        head: NIL,
        tail: NIL,
        len: 0,
        total: 0,
    };
}

impl Default for ListRoot {
    fn default() -> Self {
        Self::EMPTY
    }
}

fn opt(n: NodeId) -> Option<NodeId> {
    (n != NIL).then_some(n)
}

impl Backend for SortedList {
    type Link = ListLink;
    type Root = ListRoot;
    const NAME: &'static str = "list";
    const EMPTY_ROOT: ListRoot = ListRoot::EMPTY;

    fn len(root: &ListRoot) -> usize {
        root.len as usize
    }

    fn insert<N: Nodes<ListLink>>(root: &mut ListRoot, nodes: &mut N, n: NodeId) {
        // Walk from the tail: appends (timers, sequence numbers) are the common case.
        let mut after = root.tail;
        while after != NIL && nodes.cmp(after, n) == Ordering::Greater {
            after = nodes.link(after).prev;
        }
        let before = if after == NIL {
            root.head
        } else {
            nodes.link(after).next
        };
        *nodes.link_mut(n) = ListLink {
            prev: after,
            next: before,
        };
        if after == NIL {
            root.head = n;
        } else {
            nodes.link_mut(after).next = n;
        }
        if before == NIL {
            root.tail = n;
        } else {
            nodes.link_mut(before).prev = n;
        }
        root.len += 1;
        if N::WEIGHTED {
            let w = nodes.weight(n);
            nodes.set_subtree_sum(n, w);
            root.total = root.total.wrapping_add(w);
        }
    }

    fn remove<N: Nodes<ListLink>>(root: &mut ListRoot, nodes: &mut N, n: NodeId) {
        let ListLink { prev, next } = *nodes.link(n);
        if prev == NIL {
            root.head = next;
        } else {
            nodes.link_mut(prev).next = next;
        }
        if next == NIL {
            root.tail = prev;
        } else {
            nodes.link_mut(next).prev = prev;
        }
        *nodes.link_mut(n) = ListLink::default();
        root.len -= 1;
        if N::WEIGHTED {
            root.total = root.total.wrapping_sub(nodes.subtree_sum(n));
        }
    }

    fn first<N: Nodes<ListLink>>(root: &ListRoot, _nodes: &N) -> Option<NodeId> {
        opt(root.head)
    }

    fn last<N: Nodes<ListLink>>(root: &ListRoot, _nodes: &N) -> Option<NodeId> {
        opt(root.tail)
    }

    fn next<N: Nodes<ListLink>>(_root: &ListRoot, nodes: &N, n: NodeId) -> Option<NodeId> {
        opt(nodes.link(n).next)
    }

    fn prev<N: Nodes<ListLink>>(_root: &ListRoot, nodes: &N, n: NodeId) -> Option<NodeId> {
        opt(nodes.link(n).prev)
    }

    fn lower_bound<N, F>(root: &ListRoot, nodes: &N, mut probe: F) -> Option<NodeId>
    where
        N: Nodes<ListLink>,
        F: FnMut(&N, NodeId) -> Ordering,
    {
        let mut n = root.head;
        while n != NIL {
            if probe(nodes, n) != Ordering::Less {
                return Some(n);
            }
            n = nodes.link(n).next;
        }
        None
    }

    fn find<N, F>(root: &ListRoot, nodes: &N, mut probe: F) -> Option<NodeId>
    where
        N: Nodes<ListLink>,
        F: FnMut(&N, NodeId) -> Ordering,
    {
        let n = Self::lower_bound(root, nodes, &mut probe)?;
        (probe(nodes, n) == Ordering::Equal).then_some(n)
    }

    fn total_weight<N: Nodes<ListLink>>(root: &ListRoot, _nodes: &N) -> u64 {
        root.total
    }

    fn select_by_weight<N: Nodes<ListLink>>(
        root: &ListRoot,
        nodes: &N,
        mut point: u64,
    ) -> Option<NodeId> {
        let mut n = root.head;
        while n != NIL {
            let w = nodes.weight(n);
            if point < w {
                return Some(n);
            }
            point -= w;
            n = nodes.link(n).next;
        }
        None
    }

    fn reweigh<N: Nodes<ListLink>>(root: &mut ListRoot, nodes: &mut N, n: NodeId) {
        if N::WEIGHTED {
            let w = nodes.weight(n);
            root.total = root
                .total
                .wrapping_sub(nodes.subtree_sum(n))
                .wrapping_add(w);
            nodes.set_subtree_sum(n, w);
        }
    }

    fn check<N: Nodes<ListLink>>(root: &ListRoot, nodes: &N) -> Result<(), InvariantError> {
        let err = |rule, node| Err(InvariantError { rule, node });
        let mut count = 0u64;
        let mut total = 0u64;
        let mut prev = NIL;
        let mut n = root.head;
        while n != NIL {
            count += 1;
            if count > u64::from(root.len) {
                return err("list longer than its count (or cyclic)", n);
            }
            let link = nodes.link(n);
            if link.prev != prev {
                return err("prev link disagrees with next link", n);
            }
            if prev != NIL && nodes.cmp(prev, n) != Ordering::Less {
                return err("list not strictly sorted", n);
            }
            if N::WEIGHTED {
                if nodes.subtree_sum(n) != nodes.weight(n) {
                    return err("stored weight differs from the node's weight", n);
                }
                total = total.wrapping_add(nodes.weight(n));
            }
            prev = n;
            n = link.next;
        }
        if count != u64::from(root.len) {
            return err("node count wrong", NIL);
        }
        if root.tail != prev {
            return err("tail is not the last node", root.tail);
        }
        if N::WEIGHTED && total != root.total {
            return err("total weight wrong", NIL);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys and weights of up to 16 nodes; a node's id is its index.
    struct Vals {
        key: [u32; 16],
        weight: [u64; 16],
        stored: [u64; 16],
        links: [ListLink; 16],
    }

    impl Nodes<ListLink> for Vals {
        const WEIGHTED: bool = true;
        fn link(&self, n: NodeId) -> &ListLink {
            &self.links[n as usize]
        }
        fn link_mut(&mut self, n: NodeId) -> &mut ListLink {
            &mut self.links[n as usize]
        }
        fn cmp(&self, a: NodeId, b: NodeId) -> Ordering {
            (self.key[a as usize], a).cmp(&(self.key[b as usize], b))
        }
        fn weight(&self, n: NodeId) -> u64 {
            self.weight[n as usize]
        }
        fn subtree_sum(&self, n: NodeId) -> u64 {
            self.stored[n as usize]
        }
        fn set_subtree_sum(&mut self, n: NodeId, sum: u64) {
            self.stored[n as usize] = sum;
        }
    }

    fn order(root: &ListRoot, v: &Vals) -> [NodeId; 6] {
        let mut out = [NIL; 6];
        let mut n = SortedList::first(root, v);
        let mut i = 0;
        while let Some(x) = n {
            out[i] = x;
            i += 1;
            n = SortedList::next(root, v, x);
        }
        out
    }

    #[test]
    fn sorted_insert_remove_select() {
        let mut v = Vals {
            key: [50, 10, 30, 20, 40, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            weight: [1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            stored: [0; 16],
            links: [ListLink::default(); 16],
        };
        let mut root = ListRoot::default();
        for n in 0..6 {
            SortedList::insert(&mut root, &mut v, n);
            SortedList::check(&root, &v).unwrap();
        }
        assert_eq!(order(&root, &v), [1, 3, 2, 5, 4, 0]);
        assert_eq!(SortedList::total_weight(&root, &v), 21);
        // Weights laid out in order: 1:[0,2) 3:[2,6) 2:[6,9) 5:[9,15) 4:[15,20) 0:[20,21)
        assert_eq!(SortedList::select_by_weight(&root, &v, 0), Some(1));
        assert_eq!(SortedList::select_by_weight(&root, &v, 8), Some(2));
        assert_eq!(SortedList::select_by_weight(&root, &v, 20), Some(0));
        assert_eq!(SortedList::select_by_weight(&root, &v, 21), None);
        let probe = |k: u32| move |v: &Vals, n: NodeId| v.key[n as usize].cmp(&k);
        assert_eq!(SortedList::lower_bound(&root, &v, probe(25)), Some(2));
        assert_eq!(SortedList::find(&root, &v, probe(25)), None);
        assert_eq!(SortedList::find(&root, &v, probe(40)), Some(4));
        SortedList::remove(&mut root, &mut v, 2);
        SortedList::remove(&mut root, &mut v, 0);
        SortedList::check(&root, &v).unwrap();
        assert_eq!(order(&root, &v), [1, 3, 5, 4, NIL, NIL]);
        assert_eq!(SortedList::last(&root, &v), Some(4));
        assert_eq!(SortedList::prev(&root, &v, 5), Some(3));
        v.weight[5] = 100;
        SortedList::reweigh(&mut root, &mut v, 5);
        assert_eq!(SortedList::total_weight(&root, &v), 111);
        SortedList::check(&root, &v).unwrap();
        // A broken link is found.
        v.links[3].prev = 4;
        assert!(SortedList::check(&root, &v).is_err());
    }
}
