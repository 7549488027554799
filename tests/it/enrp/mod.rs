//! The registrar's ENRP side against hand-built ENRP sequences.

mod init;
mod pair;
mod pe_addresses;
mod presence;
#[cfg(feature = "sim")]
mod property;
mod robustness;
mod table;
mod takeover;
mod trust;
mod updates;
