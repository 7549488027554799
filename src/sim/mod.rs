//! A deterministic pool simulator (feature `std`): the crate's real
//! registrar, pool element and pool user machines on a virtual network with
//! virtual time.
//!
//! * [`world`]: the core — virtual clock, an event queue ordered by (time,
//!   sequence), nodes wrapping any [`Machine`](crate::transmit::Machine),
//!   associations, datagrams and multicast, crashes and restarts.
//! * [`net`]: the fault model (delay, jitter, loss, duplication,
//!   reordering, failure detection).
//! * [`stats`]: what a run counts.
//! * [`options`]: a scenario's parameters and their command-line form.
//! * [`element`]: a pool element host (machine + request service).
//! * [`user`]: a pool user host (machine + request generator with failover).
//! * [`registrar`]: a registrar host and a type-erased view for checks.
//! * [`scenario`]: a whole pool built from [`Options`], run and checked.
//! * [`rogue`]: a node that injects arbitrary bytes.
//!
//! The same seed gives the same run, event for event: every random choice
//! comes from generators derived from the seed, and nothing iterates over
//! an unordered collection.

pub mod element;
pub mod net;
pub mod options;
pub mod registrar;
pub mod rogue;
pub mod scenario;
pub mod stats;
pub mod user;
pub mod world;

pub use element::ElementNode;
pub use net::NetConfig;
pub use options::{NodeAt, Options, PartitionSpec, Profile};
pub use registrar::{RegistrarNode, RegistrarView};
pub use rogue::RogueNode;
pub use scenario::{Consistency, SimRegistrar, Simulation, Summary, Tweaks};
pub use stats::Counters;
pub use user::{UserApp, UserNode};
pub use world::{
    Ctx, MachineNode, Node, NodeFactory, NodeId, NodeSpawn, Output, Partition, Payload, World,
};
