//! The virtual network's fault model: delay, jitter, loss, duplication,
//! reordering and how associations notice failures.
//!
//! # The model
//!
//! * **Datagrams** ([`Destination::Address`](crate::transmit::Destination)
//!   and multicast) take `delay + U(0, jitter)`; each copy is lost with
//!   probability `loss`, duplicated with probability `duplicate` (the copy
//!   takes its own delay) and, with probability `reorder`, held back by a
//!   further `U(0, reorder_delay)` so that later datagrams overtake it.
//! * **Associations** (SCTP) are reliable and ordered: a message is never
//!   lost, duplicated or reordered. Loss shows as time instead: each
//!   transmission is lost with probability `loss`, and every loss adds one
//!   `retransmission_timeout` before the message arrives (at most
//!   [`MAX_RETRANSMISSIONS`] of them). Delivery on one association in one
//!   direction stays first-in first-out even when jitter would reorder it.
//! * **Distances**: a node may have an extra one-way delay of its own
//!   ([`World::set_delay`](super::World::set_delay)), added to everything it
//!   sends and receives (between two such nodes, both).
//! * **Association set-up** takes one `delay` to reach the listener (which
//!   then sees `Up`) and another to come back (the initiator sees `Up`). A
//!   connect to an address with no live node fails after `connect_timeout`.
//! * **Failure detection**: when a node crashes, each of its peers sees
//!   `Down` on the shared association `failure_detection` later (SCTP's
//!   heartbeat and retransmission limits); messages in flight to the dead
//!   node vanish. A graceful close reaches the peer after one `delay`. A
//!   message on an old association that reaches a node restarted since
//!   breaks the sender's end one `delay` later (SCTP answers such an
//!   out-of-the-blue packet with ABORT).
//! * **Unverified paths** ([`World::set_unverified`](super::World::set_unverified),
//!   [`Options::udp_users`](super::Options::udp_users)): a node's
//!   associations can be reported as a UDP transport reports its peers,
//!   unverified (`TransportEvent::Up`'s `verified` false on both ends);
//!   delivery stays as above, only what the machines are told changes.
//! * **Partitions** ([`Partition`](super::world::Partition)): datagrams
//!   across the cut are lost, association messages wait until it heals, a
//!   connect across it fails after `connect_timeout`, and an association
//!   across it breaks (`Down` on both ends) once the cut has lasted
//!   `failure_detection`.

use crate::time::Duration;

/// The most retransmissions one association message suffers before it gets
/// through (bounds the delay added by a high loss rate).
pub const MAX_RETRANSMISSIONS: u32 = 8;

/// The network's timing and fault parameters (see the [module](self) docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetConfig {
    /// One-way base delay.
    pub delay: Duration,
    /// Uniformly distributed extra delay, `0..jitter`.
    pub jitter: Duration,
    /// Probability that one transmission is lost (datagrams: dropped;
    /// associations: retransmitted after `retransmission_timeout`).
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back by up to `reorder_delay`.
    pub reorder: f64,
    /// The longest hold-back of a reordered datagram.
    pub reorder_delay: Duration,
    /// The delay one lost association message adds (SCTP's RTO).
    pub retransmission_timeout: Duration,
    /// How long after a node's crash its peers see `Down`.
    pub failure_detection: Duration,
    /// How long a connect to a dead or absent address takes to fail.
    pub connect_timeout: Duration,
}

impl Default for NetConfig {
    /// A LAN: 5 ms delay, 1 ms jitter, no faults; SCTP-like retransmission
    /// (1 s), failure detection (5 s) and connect timeout (3 s).
    fn default() -> Self {
        NetConfig {
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(1),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(50),
            retransmission_timeout: Duration::from_secs(1),
            failure_detection: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
        }
    }
}
