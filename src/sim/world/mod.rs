//! The simulator core: virtual time, the event queue, nodes and the virtual
//! network with its associations.
//!
//! Events are ordered by (time, sequence number), so two runs with the same
//! seed and the same inputs process the same events in the same order. All
//! randomness comes from [`Xoshiro256StarStar`] generators derived from the
//! seed: one for the network, one per node (for the node's application
//! logic), none shared with anything else.

use std::boxed::Box;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::string::String;
use std::vec::Vec;

use crate::id::AssocId;
use crate::random::{below, Rng, Xoshiro256StarStar};
use crate::time::{Duration, Instant};
use crate::transmit::{Destination, Source, TransportEvent};
use crate::wire::Protocol;

pub use crate::host::{MachineNode, Node};

use super::net::NetConfig;
use super::stats::Counters;
pub use super::types::{NodeId, Payload};

mod ctx;
mod network;

pub use ctx::{Ctx, TraceSink};

/// Something a node asks the network to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send a message.
    Send {
        /// Where to.
        destination: Destination,
        /// Its PPID.
        ppid: u32,
        /// The message.
        bytes: Vec<u8>,
    },
    /// Open an association.
    Connect {
        /// The remote address.
        remote: SocketAddr,
        /// The protocol of the association.
        protocol: Protocol,
    },
    /// Close an association gracefully (the peer sees `Down`).
    Close {
        /// The association.
        assoc: AssocId,
    },
}

/// Builds a node's machine and application afresh (at start and restart).
pub type NodeFactory = Box<dyn FnMut(NodeSpawn) -> Box<dyn Node>>;

/// What a [`NodeFactory`] is told about the node it builds.
#[derive(Clone, Copy, Debug)]
pub struct NodeSpawn {
    /// The node.
    pub id: NodeId,
    /// Its address.
    pub addr: SocketAddr,
    /// 0 for the first start, then one more per restart.
    pub incarnation: u32,
    /// A seed derived from the world's seed, the node and the incarnation.
    pub seed: u64,
}

/// A network partition: between `from` and `until`, a node of one group
/// cannot reach a node of another group (nodes in no group reach everyone).
///
/// Datagrams across the cut are lost; association messages wait for the
/// cut to heal; a connect across it fails after the connect timeout; an
/// association across it breaks (both ends see `Down`) once the cut has
/// lasted the failure detection delay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// The groups.
    pub groups: Vec<Vec<NodeId>>,
    /// When the cut starts.
    pub from: Instant,
    /// When it heals.
    pub until: Instant,
}

impl Partition {
    fn group_of(&self, n: NodeId) -> Option<usize> {
        self.groups.iter().position(|g| g.contains(&n))
    }
    /// Whether the partition separates `a` from `b` at `t`.
    pub fn separates(&self, a: NodeId, b: NodeId, t: Instant) -> bool {
        t >= self.from
            && t < self.until
            && matches!((self.group_of(a), self.group_of(b)), (Some(x), Some(y)) if x != y)
    }
}

/// One association end.
#[derive(Clone, Copy, Debug)]
struct AssocEnd {
    peer: NodeId,
    peer_assoc: AssocId,
    /// The latest delivery time scheduled towards the peer on this
    /// association (keeps delivery in order).
    last_to_peer: Instant,
}

struct Slot {
    name: String,
    addr: SocketAddr,
    node: Option<Box<dyn Node>>,
    factory: NodeFactory,
    alive: bool,
    incarnation: u32,
    rng: Xoshiro256StarStar,
    next_assoc: u32,
    wake: Option<Instant>,
    subscriptions: Vec<Protocol>,
    /// When each ended incarnation crashed (index = incarnation).
    crash_times: Vec<Instant>,
    /// The time of the last timeout call and how many came at that time.
    last_timeout: (Instant, u32),
    /// In a timer storm: timeouts in the past are called every
    /// [`STORM_BACKOFF`] only.
    storming: bool,
    /// Its associations are reported unverified
    /// ([`World::set_unverified`]).
    unverified: bool,
    /// Extra one-way delay to and from it ([`World::set_delay`]).
    delay: Duration,
}

enum Event {
    Deliver {
        from: NodeId,
        to: NodeId,
        incarnation: u32,
        source: Source,
        ppid: u32,
        bytes: Vec<u8>,
    },
    Transport {
        to: NodeId,
        incarnation: u32,
        event: TransportEvent,
    },
    ConnectArrive {
        from: NodeId,
        incarnation: u32,
        remote: SocketAddr,
        protocol: Protocol,
    },
    PeerLost {
        to: NodeId,
        incarnation: u32,
        assoc: AssocId,
    },
    Wake {
        node: NodeId,
        incarnation: u32,
    },
    Crash(NodeId),
    Restart(NodeId),
    PartitionCheck(usize),
    Action(Box<dyn FnOnce(&mut World)>),
}

/// Splits a seed into independent seeds (splitmix64).
pub fn derive_seed(seed: u64, a: u64, b: u64) -> u64 {
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The simulated world: nodes, network, virtual clock and event queue.
pub struct World {
    now: Instant,
    seq: u64,
    seed: u64,
    queue: BTreeMap<(Instant, u64), Event>,
    slots: Vec<Slot>,
    by_ip: BTreeMap<IpAddr, NodeId>,
    assocs: BTreeMap<(NodeId, AssocId), AssocEnd>,
    net: NetConfig,
    rng: Xoshiro256StarStar,
    counters: Counters,
    trace: Option<TraceSink>,
    trace_hash: u64,
    out: Vec<Output>,
    buf: Vec<u8>,
    partitions: Vec<Partition>,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("now", &self.now)
            .field("nodes", &self.slots.len())
            .field("pending_events", &self.queue.len())
            .finish()
    }
}

const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

/// How many timeout calls one node may get at one instant before the world
/// calls it a timer storm (a machine whose `poll_timeout` stays in the past
/// after `handle_timeout`).
pub const MAX_TIMEOUTS_AT_ONCE: u32 = 100;

/// How far a timer storm pushes the node's next timeout call.
pub const STORM_BACKOFF: Duration = Duration::from_secs(1);

impl World {
    /// An empty world at time zero.
    pub fn new(seed: u64, net: NetConfig) -> Self {
        World {
            now: Instant::ZERO,
            seq: 0,
            seed,
            queue: BTreeMap::new(),
            slots: Vec::new(),
            by_ip: BTreeMap::new(),
            assocs: BTreeMap::new(),
            net,
            rng: Xoshiro256StarStar::seed_from_u64(derive_seed(seed, u64::MAX, 0)),
            counters: Counters::default(),
            trace: None,
            trace_hash: 0xCBF2_9CE4_8422_2325,
            out: Vec::new(),
            buf: Vec::new(),
            partitions: Vec::new(),
        }
    }

    /// Turns the event log on.
    pub fn set_trace(&mut self, sink: TraceSink) {
        self.trace = Some(sink);
    }

    /// The network parameters.
    pub fn net(&self) -> &NetConfig {
        &self.net
    }

    /// Changes the network parameters from now on.
    pub fn set_net(&mut self, net: NetConfig) {
        self.net = net;
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The run's counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The run's counters, for the application layer.
    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// A hash over every event processed (time, node, kind, bytes): equal
    /// for equal runs.
    pub fn trace_hash(&self) -> u64 {
        self.trace_hash
    }

    /// Adds a node at `addr`, subscribed to the multicast channels of
    /// `subscriptions`, and starts it now.
    ///
    /// # Panics
    /// If another node already has the IP address (a scenario bug).
    pub fn add_node(
        &mut self,
        name: &str,
        addr: SocketAddr,
        subscriptions: &[Protocol],
        factory: NodeFactory,
    ) -> NodeId {
        self.add_node_at(name, addr, subscriptions, factory, None)
    }

    /// Adds a node like [`add_node`](Self::add_node) that starts at `start`
    /// (now when `None` or not later): until then it is absent, as a
    /// crashed node is (a registrar joining a running pool).
    ///
    /// # Panics
    /// If another node already has the IP address (a scenario bug).
    pub fn add_node_at(
        &mut self,
        name: &str,
        addr: SocketAddr,
        subscriptions: &[Protocol],
        mut factory: NodeFactory,
        start: Option<Instant>,
    ) -> NodeId {
        let id = NodeId(self.slots.len());
        if let Some(at) = start.filter(|&t| t > self.now) {
            assert!(
                self.by_ip.insert(addr.ip(), id).is_none(),
                "duplicate node address {addr}"
            );
            let seed = derive_seed(self.seed, id.0 as u64, 0);
            self.slots.push(Slot {
                name: name.into(),
                addr,
                node: None,
                factory,
                alive: false,
                incarnation: 0,
                rng: Xoshiro256StarStar::seed_from_u64(derive_seed(seed, 1, 1)),
                next_assoc: 1,
                wake: None,
                subscriptions: subscriptions.to_vec(),
                crash_times: Vec::new(),
                last_timeout: (Instant::MAX, 0),
                storming: false,
                unverified: false,
                delay: Duration::ZERO,
            });
            self.log(format_args!("{id} {name} at {addr} starts at {at}"));
            self.push(at, Event::Restart(id));
            return id;
        }
        assert!(
            self.by_ip.insert(addr.ip(), id).is_none(),
            "duplicate node address {addr}"
        );
        let seed = derive_seed(self.seed, id.0 as u64, 0);
        let node = factory(NodeSpawn {
            id,
            addr,
            incarnation: 0,
            seed,
        });
        self.slots.push(Slot {
            name: name.into(),
            addr,
            node: Some(node),
            factory,
            alive: true,
            incarnation: 0,
            rng: Xoshiro256StarStar::seed_from_u64(derive_seed(seed, 1, 1)),
            next_assoc: 1,
            wake: None,
            subscriptions: subscriptions.to_vec(),
            crash_times: Vec::new(),
            last_timeout: (Instant::MAX, 0),
            storming: false,
            unverified: false,
            delay: Duration::ZERO,
        });
        self.log(format_args!("{id} {name} at {addr} starts"));
        self.call(id, |n, ctx| n.start(ctx));
        id
    }

    /// Makes node `id` reach the others as over UDP (or not, with
    /// `false`): the associations it opens or accepts from now on are
    /// reported with [`TransportEvent::Up`]'s `verified` false on both
    /// ends, as a transport reports a peer known only from its datagrams.
    /// Delivery is unchanged. The setting outlives restarts.
    pub fn set_unverified(&mut self, id: NodeId, unverified: bool) {
        if let Some(s) = self.slots.get_mut(id.0) {
            s.unverified = unverified;
        }
    }

    /// Gives node `id` an extra one-way delay: every message, connect and
    /// close to or from it takes `delay` longer than the network's
    /// ([`NetConfig::delay`](super::NetConfig) plus jitter); between two
    /// such nodes both delays add up. A node's distance from the others
    /// (e.g. a pool element in another data centre). The setting outlives
    /// restarts.
    pub fn set_delay(&mut self, id: NodeId, delay: Duration) {
        if let Some(s) = self.slots.get_mut(id.0) {
            s.delay = delay;
        }
    }

    /// Node `id`'s extra one-way delay ([`set_delay`](Self::set_delay)).
    pub fn delay_of(&self, id: NodeId) -> Duration {
        self.slots.get(id.0).map_or(Duration::ZERO, |s| s.delay)
    }

    /// The extra delay between two nodes.
    fn extra_delay(&self, a: NodeId, b: NodeId) -> Duration {
        self.delay_of(a) + self.delay_of(b)
    }

    /// The number of nodes.
    pub fn node_count(&self) -> usize {
        self.slots.len()
    }

    /// A node's name.
    pub fn name(&self, id: NodeId) -> &str {
        &self.slots[id.0].name
    }

    /// A node's address.
    pub fn addr(&self, id: NodeId) -> SocketAddr {
        self.slots[id.0].addr
    }

    /// Where a node speaks `protocol`: its address, with the ENRP port for
    /// ENRP (a registrar's ENRP endpoint; ASAP keeps the node's own port).
    pub fn endpoint(&self, id: NodeId, protocol: Protocol) -> SocketAddr {
        let mut a = self.addr(id);
        if protocol == Protocol::Enrp {
            a.set_port(protocol.port());
        }
        a
    }

    /// The node with this IP address.
    pub fn node_at(&self, ip: IpAddr) -> Option<NodeId> {
        self.by_ip.get(&ip).copied()
    }

    /// Whether the node is running.
    pub fn is_alive(&self, id: NodeId) -> bool {
        self.slots.get(id.0).is_some_and(|s| s.alive)
    }

    /// The node's current incarnation (restarts so far).
    pub fn incarnation(&self, id: NodeId) -> u32 {
        self.slots[id.0].incarnation
    }

    /// When incarnation `incarnation` of the node crashed (`None` while it
    /// runs or if it never existed).
    pub fn crashed_at(&self, id: NodeId, incarnation: u32) -> Option<Instant> {
        self.slots
            .get(id.0)?
            .crash_times
            .get(incarnation as usize)
            .copied()
    }

    /// The node (while it is alive) for inspection.
    pub fn node(&self, id: NodeId) -> Option<&dyn Node> {
        let s = self.slots.get(id.0)?;
        if s.alive {
            s.node.as_deref()
        } else {
            None
        }
    }

    /// The node as its concrete type, if alive and of that type.
    pub fn node_as<T: Node>(&self, id: NodeId) -> Option<&T> {
        self.node(id)?.as_any().downcast_ref::<T>()
    }

    /// Runs `f` on a live node as an input (application call from a test or
    /// scenario), then drains its output.
    pub fn with_node<T: Node, R>(
        &mut self,
        id: NodeId,
        f: impl FnOnce(&mut T, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        if !self.is_alive(id) {
            return None;
        }
        let mut result = None;
        self.call(id, |n, ctx| {
            if let Some(t) = n.as_any_mut().downcast_mut::<T>() {
                result = Some(f(t, ctx));
            }
        });
        result
    }

    /// Crashes the node at `at`.
    pub fn schedule_crash(&mut self, id: NodeId, at: Instant) {
        self.push(at, Event::Crash(id));
    }

    /// Restarts the node at `at` (a fresh machine from its factory).
    pub fn schedule_restart(&mut self, id: NodeId, at: Instant) {
        self.push(at, Event::Restart(id));
    }

    /// Adds a network partition (see [`Partition`]).
    pub fn add_partition(&mut self, partition: Partition) {
        let check = partition.from + self.net.failure_detection;
        self.partitions.push(partition);
        self.push(check, Event::PartitionCheck(self.partitions.len() - 1));
    }

    /// When the cut between `a` and `b` heals, if they are separated at `t`.
    pub fn cut_until(&self, a: NodeId, b: NodeId, t: Instant) -> Option<Instant> {
        self.partitions
            .iter()
            .filter(|p| p.separates(a, b, t))
            .map(|p| p.until)
            .max()
    }

    /// Runs `action` at `at`.
    pub fn schedule(&mut self, at: Instant, action: impl FnOnce(&mut World) + 'static) {
        self.push(at, Event::Action(Box::new(action)));
    }

    /// Crashes a node now: its machine is dropped, messages to it vanish and
    /// its peers see `Down` after the failure detection delay.
    pub fn crash(&mut self, id: NodeId) {
        let Some(slot) = self.slots.get_mut(id.0) else {
            return;
        };
        if !slot.alive {
            return;
        }
        slot.alive = false;
        slot.node = None;
        slot.incarnation += 1;
        slot.crash_times.push(self.now);
        slot.wake = None;
        self.counters.crashes += 1;
        self.log(format_args!("{id} crashes"));
        let ends: Vec<(AssocId, AssocEnd)> = self
            .assocs
            .range((id, AssocId(0))..=(id, AssocId(u32::MAX)))
            .map(|(k, v)| (k.1, *v))
            .collect();
        let at = self.now + self.net.failure_detection;
        for (assoc, end) in ends {
            self.assocs.remove(&(id, assoc));
            let incarnation = self.slots[end.peer.0].incarnation;
            self.push(
                at,
                Event::PeerLost {
                    to: end.peer,
                    incarnation,
                    assoc: end.peer_assoc,
                },
            );
        }
    }

    /// Restarts a crashed node now (a live node is crashed first).
    pub fn restart(&mut self, id: NodeId) {
        if self.is_alive(id) {
            self.crash(id);
        }
        let slot = &mut self.slots[id.0];
        let spawn = NodeSpawn {
            id,
            addr: slot.addr,
            incarnation: slot.incarnation,
            seed: derive_seed(self.seed, id.0 as u64, u64::from(slot.incarnation)),
        };
        slot.node = Some((slot.factory)(spawn));
        slot.alive = true;
        slot.rng = Xoshiro256StarStar::seed_from_u64(derive_seed(spawn.seed, 1, 1));
        self.log(format_args!("{id} restarts"));
        self.call(id, |n, ctx| n.start(ctx));
    }

    /// Processes every event up to and including `until`, then sets the
    /// clock to `until`.
    pub fn run_until(&mut self, until: Instant) {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((at, _), event) = entry.remove_entry();
            self.now = at;
            self.dispatch(event);
        }
        if until > self.now {
            self.now = until;
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// The number of events waiting.
    pub fn pending_events(&self) -> usize {
        self.queue.len()
    }

    /// The associations a node has open: (local id, peer, peer's id).
    pub fn associations(&self, id: NodeId) -> Vec<(AssocId, NodeId, AssocId)> {
        self.assocs
            .range((id, AssocId(0))..=(id, AssocId(u32::MAX)))
            .map(|(k, v)| (k.1, v.peer, v.peer_assoc))
            .collect()
    }

    fn push(&mut self, at: Instant, event: Event) {
        let at = at.max(self.now);
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }

    fn log(&mut self, args: fmt::Arguments<'_>) {
        if let Some(sink) = self.trace.as_mut() {
            sink(&format!("{} {}", self.now, args));
        }
    }

    fn hash(&mut self, parts: &[u64], bytes: &[u8]) {
        let mut h = self.trace_hash;
        for p in parts
            .iter()
            .flat_map(|p| p.to_le_bytes())
            .chain(bytes.iter().copied())
        {
            h ^= u64::from(p);
            h = h.wrapping_mul(FNV_PRIME);
        }
        self.trace_hash = h;
    }

    fn chance(&mut self, p: f64) -> bool {
        // 53 random bits as a fraction in [0, 1).
        p > 0.0 && ((self.rng.next_u64() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }

    fn uniform(&mut self, max: Duration) -> Duration {
        if max == Duration::ZERO {
            Duration::ZERO
        } else {
            Duration::from_micros(below(&mut self.rng, max.as_micros() + 1))
        }
    }

    fn link_delay(&mut self) -> Duration {
        let j = self.uniform(self.net.jitter);
        self.net.delay + j
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Deliver {
                from,
                to,
                incarnation,
                source,
                ppid,
                bytes,
            } => {
                if self.incarnation(to) != incarnation || !self.is_alive(to) {
                    return;
                }
                if let Source::Association(a) = source {
                    if !self.assocs.contains_key(&(to, a)) {
                        self.abort_stale(from, to, a);
                        return;
                    }
                }
                let kind = match source {
                    Source::Association(a) => u64::from(a.0),
                    Source::Datagram(_) => u64::MAX,
                };
                self.hash(
                    &[self.now.as_micros(), to.0 as u64, 1, kind, u64::from(ppid)],
                    &bytes,
                );
                self.counters.delivered += 1;
                if self.trace.is_some() {
                    let what = match Payload::of(ppid) {
                        Payload::Asap => bytes
                            .first()
                            .and_then(|&t| crate::wire::asap_type::name(t))
                            .unwrap_or("ASAP ?"),
                        Payload::Enrp => bytes
                            .first()
                            .and_then(|&t| crate::wire::enrp_type::name(t))
                            .unwrap_or("ENRP ?"),
                        Payload::Data(_) => "data",
                    };
                    let via = match source {
                        Source::Association(a) => format!("assoc {}", a.0),
                        Source::Datagram(_) => "datagram".into(),
                    };
                    self.log(format_args!(
                        "{to} <- {from} {what} ({} bytes, {via})",
                        bytes.len()
                    ));
                }
                self.call(to, |n, ctx| n.handle_message(ctx, source, ppid, &bytes));
            }
            Event::Transport {
                to,
                incarnation,
                event,
            } => {
                if self.incarnation(to) != incarnation || !self.is_alive(to) {
                    return;
                }
                if let TransportEvent::Up { assoc, .. } = event {
                    if !self.assocs.contains_key(&(to, assoc)) {
                        return;
                    }
                }
                self.hash(&[self.now.as_micros(), to.0 as u64, 2], &[]);
                self.log(format_args!("{to} {event:?}"));
                self.call(to, |n, ctx| n.handle_transport_event(ctx, event));
            }
            Event::ConnectArrive {
                from,
                incarnation,
                remote,
                protocol,
            } => self.connect_arrives(from, incarnation, remote, protocol),
            Event::PeerLost {
                to,
                incarnation,
                assoc,
            } => {
                if self.incarnation(to) != incarnation || self.assocs.remove(&(to, assoc)).is_none()
                {
                    return;
                }
                self.hash(&[self.now.as_micros(), to.0 as u64, 3], &[]);
                let event = TransportEvent::Down { assoc };
                self.log(format_args!("{to} {event:?}"));
                self.call(to, |n, ctx| n.handle_transport_event(ctx, event));
            }
            Event::Wake { node, incarnation } => {
                if self.incarnation(node) != incarnation || !self.is_alive(node) {
                    return;
                }
                let slot = &mut self.slots[node.0];
                if slot.wake != Some(self.now) {
                    return;
                }
                slot.wake = None;
                let due = slot
                    .node
                    .as_ref()
                    .and_then(|n| n.poll_timeout())
                    .is_some_and(|t| t <= self.now);
                let now = self.now;
                let slot = &mut self.slots[node.0];
                if slot.last_timeout.0 == now {
                    slot.last_timeout.1 += 1;
                } else {
                    slot.last_timeout = (now, 1);
                }
                if due && !slot.storming && slot.last_timeout.1 > MAX_TIMEOUTS_AT_ONCE {
                    // The node keeps asking for a timeout it does not clear:
                    // a machine bug. Count it and, until the node's timeout
                    // moves into the future, call it only every
                    // STORM_BACKOFF so that time goes on.
                    slot.storming = true;
                    self.counters.timer_storms += 1;
                    let name = slot.name.clone();
                    self.log(format_args!(
                        "{node} {name} asks for its timeout again and again: timer storm"
                    ));
                }
                if due {
                    self.hash(&[self.now.as_micros(), node.0 as u64, 4], &[]);
                    self.call(node, |n, ctx| n.handle_timeout(ctx));
                } else {
                    self.reschedule(node);
                }
            }
            Event::Crash(id) => self.crash(id),
            Event::Restart(id) => self.restart(id),
            Event::PartitionCheck(i) => self.break_cut_associations(i),
            Event::Action(f) => f(self),
        }
    }

    fn new_assoc_id(&mut self, id: NodeId) -> AssocId {
        let slot = &mut self.slots[id.0];
        let a = AssocId(slot.next_assoc);
        slot.next_assoc = slot.next_assoc.wrapping_add(1).max(1);
        a
    }

    /// Runs one input on a node, drains its output into the network and
    /// schedules its next wake-up.
    fn call(&mut self, id: NodeId, f: impl FnOnce(&mut dyn Node, &mut Ctx<'_>)) {
        let slot = &mut self.slots[id.0];
        let Some(mut node) = slot.node.take() else {
            return;
        };
        let mut out = std::mem::take(&mut self.out);
        {
            let mut ctx = Ctx {
                now: self.now,
                node: id,
                addr: slot.addr,
                rng: &mut slot.rng,
                out: &mut out,
                buf: &mut self.buf,
                counters: &mut self.counters,
                trace: self.trace.as_mut(),
            };
            f(node.as_mut(), &mut ctx);
            node.flush(&mut ctx);
        }
        let slot = &mut self.slots[id.0];
        // A node could have been crashed from inside (never by design); keep
        // the slot consistent either way.
        if slot.alive {
            slot.node = Some(node);
        }
        for o in out.drain(..) {
            self.output(id, o);
        }
        self.out = out;
        self.reschedule(id);
    }

    fn reschedule(&mut self, id: NodeId) {
        let slot = &self.slots[id.0];
        if !slot.alive {
            return;
        }
        let Some(t) = slot.node.as_ref().and_then(|n| n.poll_timeout()) else {
            self.slots[id.0].storming = false;
            return;
        };
        let t = if t > self.now {
            self.slots[id.0].storming = false;
            t
        } else if self.slots[id.0].storming {
            self.now + STORM_BACKOFF
        } else {
            self.now
        };
        let slot = &self.slots[id.0];
        if slot.wake.is_some_and(|w| w <= t) {
            return;
        }
        let incarnation = slot.incarnation;
        self.slots[id.0].wake = Some(t);
        self.push(
            t,
            Event::Wake {
                node: id,
                incarnation,
            },
        );
    }
}
