//! # rserpool
//!
//! Reliable Server Pooling (RSerPool, RFC 5351-5356) for boards and hosts.
//!
//! The core (everything but the transports) is `no_std` and needs no heap:
//!
//! * [`time`] and [`id`]: the crate's own [`Instant`](time::Instant) and
//!   [`Duration`](time::Duration), [`PoolHandle`](id::PoolHandle),
//!   [`PeId`](id::PeId), [`ServerId`](id::ServerId).
//! * [`storage`]: ordered indexes (red-black tree, treap, sorted list) over an
//!   arena of nodes.
//! * [`timer`]: timer indexes.
//! * [`policy`]: the pool member selection policies of RFC 5356 and rsplib.
//! * [`handlespace`]: pools and pool elements, selection, ownership and
//!   checksums.
//! * [`wire`]: the ASAP/ENRP codec.
//! * [`registrar`]: the registrar's ASAP side as a sans-IO state machine.
//! * `sim` (feature `std`): a deterministic pool simulator.
//!
//! Features: `std` (default, implies `alloc`), `alloc` (growable arenas),
//! `defmt` or `log` for logging.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

#[macro_use]
mod logging;

pub mod addr;
pub mod cause;
pub mod handlespace;
pub mod id;
pub mod policy;
pub mod pool_element;
pub mod pool_user;
pub mod registrar;
#[cfg(feature = "std")]
pub mod sim;
pub mod storage;
pub mod time;
pub mod timer;
pub mod transmit;
pub mod wire;

pub use cause::CauseCode;
pub use id::{AssocId, PeId, PoolHandle, ServerId};
pub use policy::Policy;
pub use time::{Duration, Instant};
