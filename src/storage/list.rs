//! A deliberately naive backend: a sorted doubly linked list.

/// A sorted doubly linked list backend (linear time; for comparison).
#[derive(Debug)]
pub enum SortedList {}
