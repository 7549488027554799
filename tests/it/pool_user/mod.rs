//! The pool user machine.

mod machine;
