//! The pool element machine.

mod machine;
