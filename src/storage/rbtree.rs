//! A red-black tree backend with parent links and subtree weight sums.

/// The red-black tree backend.
#[derive(Debug)]
pub enum RedBlackTree {}
