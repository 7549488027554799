//! A treap backend with parent links and subtree weight sums.

/// The treap backend.
#[derive(Debug)]
pub enum Treap {}
