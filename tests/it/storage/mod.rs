//! The storage backends (sorted list, red-black tree, treap) against a model.

mod backends;
mod conformance;
