//! The pool user (in progress).
