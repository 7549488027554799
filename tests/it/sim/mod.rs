//! The deterministic simulator and the scenarios run in it.

mod calcapp;
mod capacity;
mod determinism;
mod enrp_download;
mod enrp_heal;
mod enrp_loss;
mod enrp_partition;
mod enrp_rogue;
mod enrp_setup;
mod enrp_steady;
mod enrp_takeover;
mod failover;
mod lifetime;
mod loss;
mod policy_study;
mod registrar_loss;
mod registration;
mod restarted_registrar;
mod rogue;
mod sessions;
mod unreachable;
mod unverified;
mod world;
