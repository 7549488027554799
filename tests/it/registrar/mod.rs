//! The registrar machine against hand-built ASAP sequences.

mod addresses;
mod checks;
mod enrp;
mod model;
mod owned_capacity;
mod quotas;
mod registration;
mod robustness;
mod timers;
#[cfg(feature = "capture")]
mod fuzz_steps;
