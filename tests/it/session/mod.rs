//! The session layer.

mod calcapp;
mod machines;
mod property;
mod user;
