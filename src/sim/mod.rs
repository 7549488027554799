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
//! * [`scenario`]: a whole pool built from [`Options`], run and checked.
//! * [`rogue`]: a node that injects arbitrary bytes.
//! * [`calcapp`]: CalcApp pools (pool elements of given capacities and
//!   distances, pool users submitting jobs) and what the load-balancing
//!   literature measures of them.
//!
//! The same seed gives the same run, event for event: every random choice
//! comes from generators derived from the seed, and nothing iterates over
//! an unordered collection.
//!
//! The nodes are the crate's own hosts ([`crate::host`]): the registrar,
//! pool element and pool user hosts the runtime runs, over this
//! world's [`Env`](crate::host::Env) ([`Ctx`]).
//!
//! # How a run goes
//!
//! Each node has one virtual IP address and wraps one real machine. After
//! every input (message, transport event, timeout) the world drains the
//! machine's `poll_connect` and `poll_transmit` and schedules its next
//! `poll_timeout`. A `Connect` becomes `Up` on both ends (listener first),
//! or `ConnectFailed`; crashes become `Down` at the peers after the failure
//! detection delay ([`net`] documents the whole fault model). A node whose
//! timeout stays in the past after `handle_timeout` is a machine bug: it is
//! counted as a timer storm ([`Counters::timer_storms`]) and called only
//! once per second until its timeout moves on.
//!
//! On top, the application, through the session layer: pool users run a
//! [`LoadGenerator`](crate::host::LoadGenerator) (requests at a fixed
//! rate on sessions to the pool, a new session every
//! [`Options::session_requests`] requests); PEs run a
//! [`DelayedEcho`](crate::host::services::DelayedEcho) (answers after a
//! service time, a COOKIE every [`Options::cookie_every`] requests of a
//! session). A request not answered in time, or whose association fails,
//! makes the session report the PE unreachable and fail over (COOKIE_ECHO
//! first when it has a cookie) and send its unanswered requests again.
//! [`Summary`] counts requests, served, failovers and lost
//! (requests never served although a PE was alive); the handlespace check
//! ([`Simulation::consistency`]) compares every live registrar's
//! handlespace with the PEs that believe they are registered.
//!
//! # ENRP
//!
//! With [`Options::enrp`] (`--enrp`) the registrars are configured with each
//! other as ENRP peers ([`scenario::enrp_peers`], at the ENRP port; none
//! with `--multicast`, where they find each other by multicast PRESENCE on
//! the ENRP channel every registrar subscribes to), open ENRP associations
//! to each other through the same `Connect`/`Up` path as ASAP, and
//! [`Simulation::shared_handlespace`] makes the check demand one shared
//! handlespace: every live registrar holds every registered PE with its
//! home as owner, every owner is alive, the owners' checksums agree. The
//! check's grace periods (after the start, a registrar crash or restart, a
//! partition, a registration) are listed at [`Simulation::consistency`];
//! differences within them are reported as [`Consistency::pending`].
//! [`Partition`]s (`--partition`) cut registrars apart, registrar crashes
//! and restarts come from `--kill-registrar`/`--restart-registrar`, and
//! [`Tweaks::registrar_node`] builds any node type for a registrar.
//! [`Counters::enrp_by_type`] counts ENRP messages by type and
//! [`Counters::registrations`] the registrations they serve.

pub mod calcapp;
pub mod net;
pub mod options;
pub mod rogue;
pub mod scenario;
pub mod stats;
pub mod study;
pub mod types;
pub mod world;

pub use crate::host::{MachineNode, Node, RegistrarHost, RegistrarView};
pub use net::NetConfig;
pub use options::{NodeAt, Options, PartitionSpec, Profile};
pub use rogue::RogueNode;
pub use scenario::{Consistency, SimElement, SimRegistrar, SimUser, Simulation, Summary, Tweaks};
pub use stats::Counters;
pub use types::{NodeId, Payload};
pub use world::{Ctx, NodeFactory, NodeSpawn, Output, Partition, World};
