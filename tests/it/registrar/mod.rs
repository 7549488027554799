//! The registrar machine against hand-built ASAP sequences.

mod addresses;
mod checks;
mod enrp;
#[cfg(feature = "capture")]
mod fuzz_steps;
mod model;
mod owned_capacity;
mod quotas;
mod registration;
mod robustness;
mod routability;
mod timers;
