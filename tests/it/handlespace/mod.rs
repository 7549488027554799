//! The handlespace: registrations, selection, its model, its timers.

mod basic;
mod model;
mod random;
mod timer;
