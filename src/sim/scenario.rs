//! A whole pool: registrars, pool elements and pool users built from
//! [`Options`], run, checked and summed up.
//!
//! Addresses (they never leave the process): registrar `n` (from 1) is
//! `192.0.2.n` port 3863 (ENRP: port 9901) with server identifier `n`; pool element `n` is
//! `198.51.100.0 + n` (counting on past the /24 for large pools), serving
//! SCTP data-and-control on port 9000; pool user `n` is `203.0.113.0 + n`;
//! rogue nodes are `100.64.0.0 + n`. Every PE joins the pool `"sim"`.

use std::boxed::Box;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::string::String;
use std::vec::Vec;

use crate::addr::{TransportProtocol, TransportUse};
use crate::handlespace::Growable;
use crate::host::services::DelayedEcho;
use crate::host::{
    ElementHost, HeldPe, LoadConfig, LoadGenerator, RegistrarHost, RegistrarView, Service, UserHost,
};
use crate::id::{PeId, PoolHandle, ServerId};
use crate::policy::Policy;
use crate::pool_element::{OwnedTransport, PoolElementConfig};
use crate::pool_user::PoolUserConfig;
use crate::registrar::{EnrpConfig, RegistrarConfig};
use crate::session::{
    ResendPolicy, SessionElement, SessionElementConfig, SessionUser, SessionUserConfig,
};
use crate::storage::RedBlackTree;
use crate::time::{Duration, Instant};
use crate::wire::{PolicyParam, PoolElementParam, TransportParam, UserTransport};
use crate::wire::{Protocol, ASAP_PORT, ENRP_PORT};

use super::options::{Options, Profile};
use super::rogue::RogueNode;
use super::stats::Counters;
use super::world::{Node, NodeId, Partition, TraceSink, World};

/// The registrar the scenarios run: red-black tree indexes on growable
/// storage, up to 4096 owned PEs and 4096 associations.
pub type SimRegistrar = RegistrarHost<RedBlackTree, Growable, 4096, 4096, 65536, 64>;

/// Sessions a simulated pool element serves at once.
pub const ELEMENT_SESSIONS: usize = 64;

/// The pool element the scenarios run: the shipped host with a
/// [`DelayedEcho`] (or the service [`Tweaks::service`] makes), up to
/// [`ELEMENT_SESSIONS`] sessions.
pub type SimElement = ElementHost<Box<dyn Service>, ELEMENT_SESSIONS, 16384, 64>;

/// Sessions a simulated pool user keeps open at once.
pub const USER_SESSIONS: usize = 16;

/// Unanswered requests per session (and messages a session sends again
/// after a failover).
pub const USER_WINDOW: usize = 16;

/// The pool user the scenarios run: the shipped host with a
/// [`LoadGenerator`].
pub type SimUser = UserHost<LoadGenerator, USER_SESSIONS, 16384, 64, 8, 16>;

/// The port PEs serve their users on.
pub const SERVICE_PORT: u16 = 9000;

/// The pool every PE joins.
pub const POOL: &[u8] = b"sim";

/// The pool of [`Options::preload`]'s PEs.
pub const PRELOAD_POOL: &[u8] = b"preload";

/// The silent peer that owns [`Options::preload`]'s PEs.
pub const PRELOAD_OWNER: ServerId = match ServerId::new(0xFFFF_FF00) {
    Ok(id) => id,
    Err(_) => panic!("not zero"),
};

/// Adjustments a test makes to what [`Options`] builds.
#[derive(Default, Clone)]
#[allow(clippy::type_complexity)]
pub struct Tweaks {
    /// Changes registrar `index`'s (from 0) configuration.
    pub registrar: Option<Rc<dyn Fn(usize, &mut RegistrarConfig)>>,
    /// Changes PE `index`'s configuration.
    pub element: Option<Rc<dyn Fn(usize, &mut PoolElementConfig)>>,
    /// Changes pool user `index`'s configuration.
    pub user: Option<Rc<dyn Fn(usize, &mut PoolUserConfig)>>,
    /// Builds the registrar node (another registrar type, e.g. with small
    /// capacities) instead of [`SimRegistrar`].
    pub registrar_node: Option<Rc<dyn Fn(RegistrarConfig) -> Box<dyn Node>>>,
    /// Builds PE `index`'s service instead of the [`DelayedEcho`] (`None`
    /// from the closure: the default).
    pub service: Option<Rc<dyn Fn(usize) -> Option<Box<dyn Service>>>>,
}

impl fmt::Debug for Tweaks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tweaks").finish_non_exhaustive()
    }
}

/// The configuration of a simulated PE at `addr`: the pool [`POOL`], its
/// user transport SCTP on [`SERVICE_PORT`] at `addr`'s IP, `profile`'s
/// timers.
pub(super) fn element_config(profile: Profile, addr: SocketAddr) -> PoolElementConfig {
    let transport = OwnedTransport::new(
        TransportProtocol::Sctp,
        SERVICE_PORT,
        TransportUse::DataAndControl,
        &[addr.ip()],
    )
    .expect("a valid transport");
    let handle = PoolHandle::new(POOL).expect("a valid pool handle");
    match profile {
        Profile::Rfc => PoolElementConfig::rfc(handle, transport),
        Profile::Rsplib => PoolElementConfig::rsplib(handle, transport),
    }
}

/// Registrar `number`'s (from 1) address.
pub fn registrar_addr(number: usize) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, number as u8)),
        ASAP_PORT,
    )
}

/// Pool element `number`'s (from 1) address.
pub fn element_addr(number: usize) -> SocketAddr {
    let base = u32::from(Ipv4Addr::new(198, 51, 100, 0));
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::from(base + number as u32)),
        SERVICE_PORT,
    )
}

/// Pool user `number`'s (from 1) address.
pub fn user_addr(number: usize) -> SocketAddr {
    let base = u32::from(Ipv4Addr::new(203, 0, 113, 0));
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(base + number as u32)), 5000)
}

/// Rogue node `number`'s (from 1) address.
pub fn rogue_addr(number: usize) -> SocketAddr {
    let base = u32::from(Ipv4Addr::new(100, 64, 0, 0));
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(base + number as u32)), 6000)
}

/// Registrar `number`'s server identifier.
pub fn server_id(number: usize) -> ServerId {
    ServerId::new(number as u32).unwrap_or(ServerId::new(1).expect("1 is not 0"))
}

/// The result of the handlespace check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consistency {
    /// What is wrong (empty when consistent).
    pub problems: Vec<String>,
    /// Differences still within a grace period (not counted as problems;
    /// see [`Simulation::consistency`]).
    pub pending: Vec<String>,
}

impl Consistency {
    /// Whether nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Requests issued.
    pub requests: u64,
    /// Requests served.
    pub served: u64,
    /// Requests sent again after a PE failed.
    pub failovers: u64,
    /// Requests never served although a PE was alive.
    pub lost: u64,
    /// The handlespace check at the end.
    pub handlespace_consistent: bool,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "simulate: requests={} served={} failovers={} lost={} handlespace_consistent={}",
            self.requests, self.served, self.failovers, self.lost, self.handlespace_consistent
        )
    }
}

/// The ENRP timers a scenario's registrars run with (RFC 5353 §4.2 /
/// rsplib, SPEC §10), for the consistency check's grace periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnrpTimers {
    /// PEER-HEARTBEAT-CYCLE.
    pub heartbeat_cycle: Duration,
    /// MAX-TIME-LAST-HEARD.
    pub max_time_last_heard: Duration,
    /// MAX-TIME-NO-RESPONSE.
    pub max_time_no_response: Duration,
    /// How long a takeover waits for its acknowledgements.
    pub takeover_expiry: Duration,
}

impl EnrpTimers {
    /// The timers of a profile ([`EnrpConfig::rfc`] or
    /// [`EnrpConfig::rsplib`]).
    pub fn of(profile: Profile) -> Self {
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), ENRP_PORT);
        let c = match profile {
            Profile::Rfc => EnrpConfig::rfc(any),
            Profile::Rsplib => EnrpConfig::rsplib(any),
        };
        Self::from_config(&c)
    }

    /// The timers of an ENRP configuration.
    pub fn from_config(c: &EnrpConfig) -> Self {
        EnrpTimers {
            heartbeat_cycle: c.peer_heartbeat_cycle,
            max_time_last_heard: c.max_time_last_heard,
            max_time_no_response: c.max_time_no_response,
            takeover_expiry: c.takeover_expiry,
        }
    }

    /// How long registrars take to agree again after a disturbance (a
    /// registrar crash, start or restart, a partition healing): a silent
    /// peer is noticed after MAX-TIME-LAST-HEARD + MAX-TIME-NO-RESPONSE, the
    /// takeover waits up to its expiry, and divergence shows in the next
    /// PRESENCE (one PEER-HEARTBEAT-CYCLE) and is repaired by a resync; 5 s
    /// of slack for the messages, downloads and retransmissions.
    pub fn settle(&self) -> Duration {
        self.max_time_last_heard
            + self.max_time_no_response
            + self.takeover_expiry
            + self.heartbeat_cycle
            + Duration::from_secs(5)
    }

    /// How long registrars that start together take to agree: the mentor
    /// (a peer that rejects LIST_REQUEST while it starts) is tried again after
    /// MAX-TIME-NO-RESPONSE twice, updates lost meanwhile show in the next
    /// PRESENCE (one PEER-HEARTBEAT-CYCLE); 5 s of slack.
    pub fn start_settle(&self) -> Duration {
        self.max_time_no_response.saturating_mul(2) + self.heartbeat_cycle + Duration::from_secs(5)
    }
}

/// The ENRP peers of registrar `number` (from 1) among `count`: every other
/// registrar at the ENRP port.
pub fn enrp_peers(number: usize, count: usize) -> Vec<SocketAddr> {
    (1..=count)
        .filter(|&n| n != number)
        .map(|n| SocketAddr::new(registrar_addr(n).ip(), ENRP_PORT))
        .collect()
}

/// Configures a registrar's ENRP side: the profile's ENRP timers, its
/// ENRP endpoint `local`, `peers` as its static peer list, and PRESENCE on
/// the multicast channel with `multicast`.
pub fn configure_enrp(
    config: &mut RegistrarConfig,
    profile: Profile,
    local: SocketAddr,
    peers: &[SocketAddr],
    multicast: bool,
) {
    let mut enrp = match profile {
        Profile::Rfc => EnrpConfig::rfc(local),
        Profile::Rsplib => EnrpConfig::rsplib(local),
    };
    enrp.multicast = multicast;
    for &p in peers {
        enrp = enrp.with_peer(p);
    }
    config.enrp = enrp;
}

/// Which PE identifier belongs to which node incarnation.
type PeIds = Rc<RefCell<BTreeMap<PeId, (NodeId, u32)>>>;

/// A pool in a [`World`], built from [`Options`].
pub struct Simulation {
    /// The world (run it, crash nodes, inspect them).
    pub world: World,
    /// What it was built from.
    pub options: Options,
    /// The pool.
    pub pool: PoolHandle,
    /// Registrar nodes, in number order.
    pub registrars: Vec<NodeId>,
    /// Pool element nodes, in number order.
    pub elements: Vec<NodeId>,
    /// Pool user nodes, in number order.
    pub users: Vec<NodeId>,
    /// Every handlespace of all live registrars holds every PE (ENRP);
    /// otherwise each registrar holds the PEs it is home of. Set by
    /// [`Options::enrp`].
    pub shared_handlespace: bool,
    /// The registrars' ENRP timers (for the check's grace periods).
    pub enrp_timers: EnrpTimers,
    pe_ids: PeIds,
    rogues: usize,
    finished: bool,
}

impl fmt::Debug for Simulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulation")
            .field("world", &self.world)
            .field("registrars", &self.registrars.len())
            .field("elements", &self.elements.len())
            .field("users", &self.users.len())
            .finish()
    }
}

fn seconds(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.as_millis() % 1000)
}

impl Simulation {
    /// Builds the pool `options` describe.
    pub fn new(options: Options) -> Self {
        Self::with(options, Tweaks::default(), None)
    }

    /// Builds the pool with adjustments and, optionally, an event log.
    pub fn with(options: Options, tweaks: Tweaks, trace: Option<TraceSink>) -> Self {
        let mut world = World::new(options.seed, options.net);
        if let Some(t) = trace {
            world.set_trace(t);
        }
        let pool = PoolHandle::new(POOL).expect("a valid pool handle");
        let registrar_addrs: heapless::Vec<SocketAddr, { crate::pool_element::MAX_REGISTRARS }> =
            (1..=options.registrars.min(crate::pool_element::MAX_REGISTRARS))
                .map(registrar_addr)
                .collect();
        let mut sim = Simulation {
            world,
            options: options.clone(),
            pool,
            registrars: Vec::new(),
            elements: Vec::new(),
            users: Vec::new(),
            shared_handlespace: options.enrp,
            enrp_timers: EnrpTimers::of(options.profile),
            pe_ids: Rc::new(RefCell::new(BTreeMap::new())),
            rogues: 0,
            finished: false,
        };
        let multicast = options.multicast;
        let enrp = options.enrp;
        let count = options.registrars;
        for i in 0..options.registrars {
            let tweaks = tweaks.clone();
            let profile = options.profile;
            let factory = Box::new(move |spawn: super::world::NodeSpawn| {
                let mut config = match profile {
                    Profile::Rfc => RegistrarConfig::rfc(server_id(i + 1)),
                    Profile::Rsplib => RegistrarConfig::rsplib(server_id(i + 1)),
                }
                .with_seed(spawn.seed);
                config.announce = multicast;
                if enrp {
                    let peers = if multicast {
                        Vec::new()
                    } else {
                        enrp_peers(i + 1, count)
                    };
                    configure_enrp(
                        &mut config,
                        profile,
                        SocketAddr::new(registrar_addr(i + 1).ip(), ENRP_PORT),
                        &peers,
                        multicast,
                    );
                }
                if let Some(t) = &tweaks.registrar {
                    t(i, &mut config);
                }
                match &tweaks.registrar_node {
                    Some(make) => make(config),
                    None => Box::new(SimRegistrar::new(config)) as Box<dyn Node>,
                }
            });
            let start = options
                .join_registrars
                .iter()
                .filter(|j| j.number == i + 1)
                .map(|j| j.at)
                .min();
            let id = sim.world.add_node_at(
                &format!("registrar {}", i + 1),
                registrar_addr(i + 1),
                &[Protocol::Enrp],
                factory,
                start,
            );
            sim.registrars.push(id);
        }
        if options.preload > 0 {
            let added = sim.preload(1, options.preload);
            assert_eq!(added, options.preload, "registrar 1 takes the preload");
        }
        let subscriptions: &[Protocol] = if multicast { &[Protocol::Asap] } else { &[] };
        for i in 0..options.elements {
            let tweaks = tweaks.clone();
            let o = options.clone();
            let registrars = registrar_addrs.clone();
            let pe_ids = sim.pe_ids.clone();
            let addr = element_addr(i + 1);
            let factory = Box::new(move |spawn: super::world::NodeSpawn| {
                let mut config = element_config(o.profile, addr);
                config.policy = o.policy_of(i);
                config.seed = spawn.seed;
                if !multicast {
                    config.registrars = registrars.clone();
                }
                if let Some(t) = &tweaks.element {
                    t(i, &mut config);
                }
                let machine = Box::new(
                    SessionElement::new(SessionElementConfig { element: config })
                        .expect("a valid pool element"),
                );
                pe_ids
                    .borrow_mut()
                    .insert(machine.element().pe_id(), (spawn.id, spawn.incarnation));
                let service = tweaks
                    .service
                    .as_ref()
                    .and_then(|f| f(i))
                    .unwrap_or_else(|| {
                        Box::new(DelayedEcho::new(o.service_time, o.cookie_every))
                            as Box<dyn Service>
                    });
                Box::new(SimElement::new(machine, service, Duration::from_secs(1))) as Box<dyn Node>
            });
            let id =
                sim.world
                    .add_node(&format!("element {}", i + 1), addr, subscriptions, factory);
            sim.elements.push(id);
        }
        for i in 0..options.users {
            let tweaks = tweaks.clone();
            let o = options.clone();
            let registrars = registrar_addrs.clone();
            let factory = Box::new(move |spawn: super::world::NodeSpawn| {
                let mut config = match o.profile {
                    Profile::Rfc => PoolUserConfig::rfc(),
                    Profile::Rsplib => PoolUserConfig::rsplib(),
                };
                config.seed = spawn.seed;
                if !multicast {
                    config.registrars = registrars.clone();
                }
                if let Some(t) = &tweaks.user {
                    t(i, &mut config);
                }
                let handle = PoolHandle::new(POOL).expect("a valid pool handle");
                let load = LoadConfig {
                    interval: (o.rate > 0.0).then(|| Duration::from_micros((1e6 / o.rate) as u64)),
                    start: Instant::ZERO + o.warmup,
                    stop: Instant::ZERO + o.duration.saturating_sub(o.drain),
                    sizes: (8, 8),
                    timeout: o.request_timeout,
                    window: USER_WINDOW,
                    session_requests: o.session_requests,
                    sessions: o.sessions,
                    ..LoadConfig::new(handle)
                };
                let mut su = SessionUserConfig::new(config);
                su.resend = ResendPolicy::LastUnacknowledged(USER_WINDOW as u16);
                Box::new(SimUser::new(
                    Box::new(SessionUser::new(su)),
                    LoadGenerator::new(load),
                )) as Box<dyn Node>
            });
            let id = sim.world.add_node(
                &format!("user {}", i + 1),
                user_addr(i + 1),
                subscriptions,
                factory,
            );
            // Before its first connect reaches anyone.
            sim.world.set_unverified(id, options.udp_users);
            sim.users.push(id);
        }
        for k in &options.kill_elements {
            sim.world.schedule_crash(sim.elements[k.number - 1], k.at);
        }
        for k in &options.restart_elements {
            sim.world.schedule_restart(sim.elements[k.number - 1], k.at);
        }
        for k in &options.kill_registrars {
            sim.world.schedule_crash(sim.registrars[k.number - 1], k.at);
        }
        for k in &options.restart_registrars {
            sim.world
                .schedule_restart(sim.registrars[k.number - 1], k.at);
        }
        for p in &options.partitions {
            let groups = p
                .groups
                .iter()
                .map(|g| g.iter().map(|&n| sim.registrars[n - 1]).collect())
                .collect();
            sim.world.add_partition(Partition {
                groups,
                from: p.from,
                until: p.until,
            });
        }
        sim
    }

    /// Runs to the end like [`run`](Self::run), checking the handlespace
    /// every `step` on the way, and returns the summary with every change
    /// of the strict check (no problem and nothing pending): `(time, ok)`,
    /// the first entry at the first sample.
    pub fn run_sampled(&mut self, step: Duration) -> (Summary, Vec<(Instant, bool)>) {
        let end = self.end();
        let mut changes: Vec<(Instant, bool)> = Vec::new();
        let step = step.max(Duration::from_millis(1));
        while self.world.now() < end {
            let next = (self.world.now() + step).min(end);
            self.world.run_until(next);
            let c = self.consistency();
            let ok = c.ok() && c.pending.is_empty();
            if changes.last().is_none_or(|&(_, was)| was != ok) {
                changes.push((next, ok));
            }
        }
        self.finish();
        (self.summary(), changes)
    }

    /// Makes live registrar `number` (a [`SimRegistrar`]) hold `count` PEs
    /// of the silent peer [`PRELOAD_OWNER`] in pool [`PRELOAD_POOL`], with
    /// identifiers 1..=count and a registration life of 24 days, as if
    /// learnt from it by HANDLE_UPDATE. Returns how many it took.
    pub fn preload(&mut self, number: usize, count: usize) -> usize {
        let node = self.registrars[number - 1];
        self.world
            .with_node::<SimRegistrar, _>(node, |r, ctx| {
                let mut added = 0;
                for n in 1..=count as u32 {
                    let ip = [IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + n))];
                    let Ok(pe_id) = PeId::new(n) else { continue };
                    let pe = PoolElementParam {
                        pe_id,
                        home_server: Some(PRELOAD_OWNER),
                        registration_life: 24 * 86_400_000,
                        user_transport: UserTransport::Transport(TransportParam::new(
                            TransportProtocol::Sctp,
                            SERVICE_PORT,
                            TransportUse::DataAndControl,
                            &ip,
                        )),
                        policy: PolicyParam::Known(Policy::RoundRobin),
                        asap_transport: None,
                    };
                    if r.machine
                        .apply_peer_update(ctx.now(), PRELOAD_OWNER, PRELOAD_POOL, &pe)
                        .is_ok()
                    {
                        added += 1;
                    }
                }
                added
            })
            .unwrap_or(0)
    }

    /// How long a HANDLE_UPDATE may take to reach every registrar: 2 s,
    /// plus four retransmission timeouts on a lossy network.
    pub fn update_grace(&self) -> Duration {
        let net = self.world.net();
        let retransmissions = if net.loss > 0.0 { 4 } else { 0 };
        Duration::from_secs(2) + net.retransmission_timeout.saturating_mul(retransmissions)
    }

    /// Until when the registrars may disagree after the latest disturbance
    /// so far (registrar crash, start, restart, partition): the disturbance
    /// (a partition's end) plus [`EnrpTimers::settle`], and at least
    /// [`EnrpTimers::start_settle`] after the start.
    pub fn unsettled_until(&self) -> Option<Instant> {
        let now = self.world.now();
        let o = &self.options;
        let settle = self.enrp_timers.settle();
        let start = Instant::ZERO + self.enrp_timers.start_settle();
        let disturbed = o
            .kill_registrars
            .iter()
            .chain(&o.restart_registrars)
            .chain(&o.join_registrars)
            .map(|k| k.at)
            .filter(|&t| t <= now)
            .chain(
                o.partitions
                    .iter()
                    .filter(|p| p.from <= now)
                    .map(|p| p.until),
            )
            .max()
            .map(|t| t + settle);
        Some(disturbed.map_or(start, |t| t.max(start)))
    }

    /// Whether the registrars have had time to agree (see
    /// [`unsettled_until`](Self::unsettled_until)).
    pub fn settled(&self) -> bool {
        self.unsettled_until().is_none_or(|t| self.world.now() >= t)
    }

    /// Adds a rogue node that opens an ASAP association to `target` when
    /// it starts (see [`RogueNode`]).
    pub fn add_rogue(&mut self, target: Option<SocketAddr>) -> NodeId {
        self.rogues += 1;
        let n = self.rogues;
        self.world.add_node(
            &format!("rogue {n}"),
            rogue_addr(n),
            &[],
            Box::new(move |_| Box::new(RogueNode::new(target))),
        )
    }

    /// The end of the run.
    pub fn end(&self) -> Instant {
        Instant::ZERO + self.options.duration
    }

    /// Runs to the end, settles the requests and returns the summary.
    pub fn run(&mut self) -> Summary {
        let end = self.end();
        self.world.run_until(end);
        self.finish();
        self.summary()
    }

    /// Settles the requests still open (once): each is lost if a PE is
    /// alive, unserved if none is, and counted as in flight either way.
    pub fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let any_alive = self.elements.iter().any(|&e| self.world.is_alive(e));
        let open: u64 = self
            .users
            .iter()
            .filter_map(|&u| self.world.node_as::<SimUser>(u))
            .map(|u| u.app.outstanding() as u64)
            .sum();
        let c = self.world.counters_mut();
        c.in_flight += open;
        if any_alive {
            c.lost += open;
        } else {
            c.unserved += open;
        }
    }

    /// The summary line's numbers (requests still open count as lost only
    /// after [`finish`](Self::finish)).
    pub fn summary(&self) -> Summary {
        let c = self.world.counters();
        Summary {
            requests: c.requests,
            served: c.served,
            failovers: c.failovers,
            lost: c.lost,
            handlespace_consistent: self.consistency().ok(),
        }
    }

    /// The run's counters.
    pub fn counters(&self) -> &Counters {
        self.world.counters()
    }

    /// Registrar `number` (from 1), if alive.
    pub fn registrar(&self, number: usize) -> Option<&dyn RegistrarView> {
        self.world.node(self.registrars[number - 1])?.registrar()
    }

    /// Pool element `number` (from 1), if alive.
    pub fn element(&self, number: usize) -> Option<&SimElement> {
        self.world.node_as::<SimElement>(self.elements[number - 1])
    }

    /// Pool user `number` (from 1), if alive.
    pub fn user(&self, number: usize) -> Option<&SimUser> {
        self.world.node_as::<SimUser>(self.users[number - 1])
    }

    /// The node and incarnation that used a PE identifier.
    pub fn owner_of(&self, pe: PeId) -> Option<(NodeId, u32)> {
        self.pe_ids.borrow().get(&pe).copied()
    }

    /// The server identifier of the live registrar at `ip`.
    fn server_at(&self, ip: IpAddr) -> Option<ServerId> {
        let node = self.world.node_at(ip)?;
        Some(self.world.node(node)?.registrar()?.server_id())
    }

    /// How long after a PE's death its registrar may still hold it: the
    /// failure detection or the keep-alive bound, whichever is later, plus
    /// a second of slack.
    pub fn removal_grace(&self) -> Duration {
        let keep_alive = self
            .registrars
            .iter()
            .filter_map(|&r| self.world.node(r)?.registrar())
            .map(|r| r.keep_alive_bound())
            .max()
            .unwrap_or(Duration::ZERO);
        keep_alive.max(self.world.net().failure_detection) + Duration::from_secs(1)
    }

    /// The registered PEs of live pool elements and their home registrars.
    pub fn registered(&self) -> Vec<(PeId, Option<ServerId>)> {
        let mut v = Vec::new();
        for &e in &self.elements {
            let Some(el) = self.world.node_as::<SimElement>(e) else {
                continue;
            };
            if !el.is_registered() {
                continue;
            }
            let home = el.pool_element().home().and_then(|h| {
                h.server_id
                    .or_else(|| h.remote.and_then(|r| self.server_at(r.ip())))
            });
            v.push((el.pe_id(), home));
        }
        v.sort();
        v
    }

    /// The handlespace check: every live registrar's handlespace passes
    /// its self-check and holds exactly the live registered PEs it should
    /// (all of them with [`shared_handlespace`](Self::shared_handlespace),
    /// else those it is home of), each with its home registrar as owner; a
    /// dead PE may linger only within [`removal_grace`](Self::removal_grace)
    /// of its death, and (without a shared handlespace) a live PE that
    /// moved to another home registrar only within the registration life
    /// the old one granted.
    ///
    /// With a shared handlespace (ENRP) the check also demands that every
    /// owner is a live registrar and that the owners' checksums agree
    /// across registrars, and it allows these grace periods, within which a
    /// difference is listed in [`Consistency::pending`] instead of
    /// [`Consistency::problems`]:
    /// * everything about replication (a PE missing at a registrar, another
    ///   owner, a dead owner, checksums) until [`settled`](Self::settled):
    ///   [`EnrpTimers::start_settle`] after the start, and
    ///   [`EnrpTimers::settle`] after a registrar crash or restart or the
    ///   end of a partition;
    /// * a PE missing or with its old owner at a registrar other than its
    ///   home within [`update_grace`](Self::update_grace) of its
    ///   registration with that home;
    /// * a dead PE still held within [`removal_grace`](Self::removal_grace)
    ///   + [`update_grace`](Self::update_grace) of its death;
    /// * a live PE between two registrations (hunting for a home) may be
    ///   held anywhere.
    pub fn consistency(&self) -> Consistency {
        let mut problems = Vec::new();
        let mut pending = Vec::new();
        let now = self.world.now();
        let shared = self.shared_handlespace;
        let settled = !shared || self.settled();
        let update_grace = self.update_grace();
        let grace = if shared {
            self.removal_grace() + update_grace
        } else {
            self.removal_grace()
        };
        let registered = self.registered();
        let home_of: BTreeMap<PeId, Option<ServerId>> = registered.iter().copied().collect();
        let home_since: BTreeMap<PeId, Instant> = self
            .elements
            .iter()
            .filter_map(|&e| self.world.node_as::<SimElement>(e))
            .filter_map(|el| Some((el.pe_id(), el.home_since()?)))
            .collect();
        let mut checksums: BTreeMap<ServerId, (u16, ServerId)> = BTreeMap::new();
        // A PE that believes it is registered must be held somewhere (while
        // any registrar is alive), whatever it thinks its home is.
        let live: Vec<&dyn RegistrarView> = self
            .registrars
            .iter()
            .filter_map(|&r| self.world.node(r)?.registrar())
            .collect();
        let live_ids: std::collections::BTreeSet<ServerId> =
            live.iter().map(|v| v.server_id()).collect();
        let mut all_owners = std::collections::BTreeSet::new();
        if !live.is_empty() {
            let mut anywhere = std::collections::BTreeSet::new();
            for h in live.iter().flat_map(|v| v.held()) {
                anywhere.insert(h.pe_id);
                all_owners.extend(h.owner);
            }
            for (pe, home) in &registered {
                if !anywhere.contains(pe) {
                    problems.push(format!(
                        "PE {} believes it is registered (home {:?}) but no live registrar holds it",
                        pe.get(),
                        home.map(ServerId::get)
                    ));
                }
            }
        }
        for (n, &r) in self.registrars.iter().enumerate() {
            let Some(view) = self.world.node(r).and_then(|x| x.registrar()) else {
                continue;
            };
            let me = view.server_id();
            if let Err(e) = view.check() {
                problems.push(format!("registrar {}: handlespace check: {e}", n + 1));
            }
            let held: BTreeMap<PeId, HeldPe> =
                view.held().into_iter().map(|h| (h.pe_id, h)).collect();
            for (pe, home) in &registered {
                if !shared && *home != Some(me) {
                    continue;
                }
                // A registrar other than the PE's home learns of it by
                // HANDLE_UPDATE: give that a moment.
                let fresh = *home != Some(me)
                    && home_since.get(pe).is_some_and(|&t| now < t + update_grace);
                let report = if settled && !fresh {
                    &mut problems
                } else {
                    &mut pending
                };
                match held.get(pe) {
                    None => report.push(format!(
                        "registrar {}: registered PE {} missing",
                        n + 1,
                        pe.get()
                    )),
                    Some(h) if h.owner != *home => report.push(format!(
                        "registrar {}: PE {} owned by {:?}, its home is {:?}",
                        n + 1,
                        pe.get(),
                        h.owner.map(ServerId::get),
                        home.map(ServerId::get)
                    )),
                    Some(_) => {}
                }
            }
            for (pe, h) in &held {
                if h.pool_handle.as_bytes() != POOL {
                    continue;
                }
                if shared {
                    if let Some(owner) = h.owner.filter(|o| !live_ids.contains(o)) {
                        let report = if settled { &mut problems } else { &mut pending };
                        report.push(format!(
                            "registrar {}: PE {} owned by {}, which is not a live registrar",
                            n + 1,
                            pe.get(),
                            owner.get()
                        ));
                    }
                }
                let wanted = home_of
                    .get(pe)
                    .is_some_and(|home| shared || *home == Some(me));
                if wanted {
                    continue;
                }
                // Without ENRP, a live PE that moved to another home
                // registrar (T2 expiry, lost association) without
                // deregistering stays with the old one, which it still
                // answers, until its registration life runs out (RFC 5352
                // asks no deregistration on a move).
                let moved = !shared
                    && h.owner == Some(me)
                    && home_of.contains_key(pe)
                    && view
                        .lifetime_deadline(&h.pool_handle, *pe)
                        .is_some_and(|t| now < t);
                if moved {
                    continue;
                }
                let node = self.owner_of(*pe);
                // With ENRP, a live PE between two registrations may be held
                // anywhere.
                let hunting = shared
                    && node.is_some_and(|(id, inc)| {
                        self.world.is_alive(id) && self.world.incarnation(id) == inc
                    });
                if hunting {
                    pending.push(format!(
                        "registrar {}: holds PE {}, which is between registrations",
                        n + 1,
                        pe.get()
                    ));
                    continue;
                }
                // A PE that is not (or no longer) registered here: tolerated
                // only for a short while after its node died.
                let died = node.and_then(|(id, inc)| self.world.crashed_at(id, inc));
                match died {
                    Some(t) if now < t + grace => {}
                    Some(t) => problems.push(format!(
                        "registrar {}: PE {} still held {} s after its death",
                        n + 1,
                        pe.get(),
                        seconds(now.saturating_duration_since(t))
                    )),
                    None => problems.push(format!(
                        "registrar {}: holds PE {} that is not registered with it",
                        n + 1,
                        pe.get()
                    )),
                }
            }
            if shared {
                // Every owner any registrar knows: one that holds none of
                // its PEs (checksum 0xffff) disagrees with one that does.
                for &owner in &all_owners {
                    let sum = view.checksum_of(owner);
                    match checksums.get(&owner) {
                        Some(&(s, by)) if s != sum => {
                            let report = if settled { &mut problems } else { &mut pending };
                            report.push(format!(
                                "registrars {} and {}: checksums of owner {} differ ({s:#06x} vs {sum:#06x})",
                                by.get(),
                                me.get(),
                                owner.get()
                            ));
                        }
                        Some(_) => {}
                        None => {
                            checksums.insert(owner, (sum, me));
                        }
                    }
                }
            }
        }
        Consistency { problems, pending }
    }
}
