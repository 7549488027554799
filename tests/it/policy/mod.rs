//! The pool policies' selection.

mod selection;
