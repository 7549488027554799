//! The session layer.

mod machines;
mod property;
mod user;
