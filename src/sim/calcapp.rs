//! CalcApp pools in the simulator: registrars, CalcApp pool elements of
//! given capacities and distances, and CalcApp pool users, built from
//! [`CalcAppOptions`], run, and measured as the load-balancing literature
//! measures a pool ([`CalcAppResults`]: handling speed, utilisation and its
//! fairness, rejections).
//!
//! ```
//! use rserpool::host::calcapp::Distribution;
//! use rserpool::sim::calcapp::{CalcAppOptions, CalcAppSimulation, ElementSpec};
//! use rserpool::{Duration, Policy};
//!
//! let mut o = CalcAppOptions::new(Policy::LeastUsed { load: 0 });
//! // Two PEs, one three times faster and farther away.
//! o.elements = vec![
//!     ElementSpec::new(1_000_000.0, 4),
//!     ElementSpec {
//!         delay: Duration::from_millis(20),
//!         ..ElementSpec::new(3_000_000.0, 4)
//!     },
//! ];
//! o.users = 4;
//! o.client.job_size = 1_000_000.0;
//! o.client.interval = Duration::from_secs(2);
//! o.duration = Duration::from_secs(60);
//! let results = CalcAppSimulation::new(o).run();
//! assert!(results.clients.completed > 0);
//! println!(
//!     "handling speed {:.0}/s, utilisation {:.2}, fairness {:.2}, rejects {}",
//!     results.average_handling_speed(),
//!     results.mean_utilisation(),
//!     results.utilisation_fairness(),
//!     results.clients.rejects
//! );
//! ```
//!
//! Addresses and registrars are [`scenario`](super::scenario)'s (the pool
//! is [`scenario::POOL`](super::scenario::POOL), `"sim"`). Each PE and each user may
//! have its own extra one-way delay ([`World::set_delay`]): the delay
//! between a user and a PE is the network's plus both extras; registrars
//! have none.

use std::boxed::Box;
use std::format;
use std::net::SocketAddr;
use std::vec::Vec;

use crate::host::calcapp::{
    CalcAppClient, CalcAppClientConfig, CalcAppClientStats, CalcAppService, CalcAppServiceConfig,
    JobRecord,
};
use crate::host::{ElementHost, UserHost};
use crate::id::PoolHandle;
use crate::policy::Policy;
use crate::pool_user::PoolUserConfig;
use crate::registrar::RegistrarConfig;
use crate::session::{SessionElement, SessionElementConfig, SessionUser, SessionUserConfig};
use crate::time::{Duration, Instant};
use crate::wire::Protocol;

use super::net::NetConfig;
use super::options::{NodeAt, Profile};
use super::scenario::{element_addr, registrar_addr, server_id, user_addr, SimRegistrar, POOL};
use super::world::{Node, NodeId, NodeSpawn, World};

/// Sessions a simulated CalcApp pool element serves at once (each job is
/// a session of its own; jobs beyond the PE's limit are rejected on theirs).
pub const CALCAPP_ELEMENT_SESSIONS: usize = 256;

/// The CalcApp pool element the simulator runs.
pub type CalcAppElement = ElementHost<CalcAppService, CALCAPP_ELEMENT_SESSIONS, 16384, 256>;

/// The CalcApp pool user the simulator runs (one job, so one session, at a
/// time, and the one it is closing).
pub type CalcAppUser = UserHost<CalcAppClient, 4, 8192, 32, 8, 16>;

/// One pool element of a [`CalcAppOptions`] pool.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ElementSpec {
    /// Its capacity in calculations per second.
    pub capacity: f64,
    /// Jobs it runs at once.
    pub max_jobs: usize,
    /// Its extra one-way delay to everyone ([`World::set_delay`]).
    pub delay: Duration,
    /// Its policy (`None`: the pool's, [`CalcAppOptions::policy`]), e.g.
    /// a weight proportional to its capacity.
    pub policy: Option<Policy>,
}

impl ElementSpec {
    /// A PE of `capacity` calculations/s running up to `max_jobs` jobs, no
    /// extra delay, the pool's policy.
    pub fn new(capacity: f64, max_jobs: usize) -> Self {
        ElementSpec {
            capacity,
            max_jobs,
            delay: Duration::ZERO,
            policy: None,
        }
    }
}

/// A CalcApp pool in the simulator.
#[derive(Clone, Debug, PartialEq)]
pub struct CalcAppOptions {
    /// The seed of every random choice.
    pub seed: u64,
    /// Registrars (the PEs register with, and the users ask, all of them;
    /// with more than one they share the handlespace by ENRP).
    pub registrars: usize,
    /// The pool elements.
    pub elements: Vec<ElementSpec>,
    /// The pool's policy (each PE's unless its [`ElementSpec::policy`]
    /// says otherwise).
    pub policy: Policy,
    /// The other settings of every PE's service (capacity and job limit
    /// come from its [`ElementSpec`]).
    pub service: CalcAppServiceConfig,
    /// Pool users.
    pub users: usize,
    /// Each user's extra one-way delay (user `i` takes entry `i`; missing
    /// entries: none).
    pub user_delays: Vec<Duration>,
    /// Every user's settings (the pool, start and stop are set here).
    pub client: CalcAppClientConfig,
    /// The network.
    pub net: NetConfig,
    /// The machines' timer defaults.
    pub profile: Profile,
    /// No jobs before this (the PEs register meanwhile); the measurement
    /// window starts here.
    pub warmup: Duration,
    /// How long to run; the measurement window ends here.
    pub duration: Duration,
    /// PE crashes (numbered from 1).
    pub kill_elements: Vec<NodeAt>,
    /// PE restarts (numbered from 1).
    pub restart_elements: Vec<NodeAt>,
    /// Keep every completed job's record in [`CalcAppResults::jobs`].
    pub keep_jobs: bool,
}

impl CalcAppOptions {
    /// One registrar, 10 PEs of 1,000,000 calculations/s and 10 jobs each,
    /// 10 users with rsplib's client settings, the LAN of
    /// [`NetConfig::default`], rsplib's timers, 10 s of warm-up and 600 s in
    /// all; `policy` for every PE.
    pub fn new(policy: Policy) -> Self {
        let pool = PoolHandle::new(POOL).expect("a valid pool handle");
        CalcAppOptions {
            seed: 1,
            registrars: 1,
            elements: vec![ElementSpec::new(1_000_000.0, 10); 10],
            policy,
            service: CalcAppServiceConfig::default(),
            users: 10,
            user_delays: Vec::new(),
            client: CalcAppClientConfig::new(pool),
            net: NetConfig::default(),
            profile: Profile::Rsplib,
            warmup: Duration::from_secs(10),
            duration: Duration::from_secs(600),
            kill_elements: Vec::new(),
            restart_elements: Vec::new(),
            keep_jobs: true,
        }
    }
}

/// What one pool element did in the measurement window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ElementResult {
    /// Its capacity (calculations/s).
    pub capacity: f64,
    /// Its extra delay.
    pub delay: Duration,
    /// Calculations it did in the window (its current incarnation's, if it
    /// restarted; 0 if it is dead at the end).
    pub used_calculations: f64,
    /// `used_calculations` ÷ (capacity × the window's length).
    pub utilisation: f64,
    /// Jobs it accepted, in all (its current incarnation).
    pub accepted: u64,
    /// ... of them from a cookie echo.
    pub accepted_from_cookie: u64,
    /// Jobs it rejected.
    pub rejected: u64,
    /// Jobs it completed.
    pub completed: u64,
    /// Whether it is alive at the end.
    pub alive: bool,
}

/// What a [`CalcAppSimulation`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct CalcAppResults {
    /// The measurement window.
    pub window: (Instant, Instant),
    /// Each PE, in number order.
    pub elements: Vec<ElementResult>,
    /// The users' totals, summed (live users only).
    pub clients: CalcAppClientStats,
    /// Every completed job's record (with [`CalcAppOptions::keep_jobs`]).
    pub jobs: Vec<JobRecord>,
}

impl CalcAppResults {
    /// Calculations completed ÷ the sum of handling times (rsplib's
    /// average handling speed, over all users).
    pub fn average_handling_speed(&self) -> f64 {
        self.clients.average_handling_speed()
    }

    /// The mean of the jobs' handling speeds (each job's size ÷ its
    /// handling time).
    pub fn mean_handling_speed(&self) -> f64 {
        if self.clients.completed == 0 {
            0.0
        } else {
            self.clients.sum_handling_speed / self.clients.completed as f64
        }
    }

    /// The PEs' mean utilisation.
    pub fn mean_utilisation(&self) -> f64 {
        if self.elements.is_empty() {
            return 0.0;
        }
        self.elements.iter().map(|e| e.utilisation).sum::<f64>() / self.elements.len() as f64
    }

    /// Jain's fairness index of the PEs' utilisations: 1 when all are
    /// equally used, 1/n when one does all the work (1 when none works).
    pub fn utilisation_fairness(&self) -> f64 {
        let n = self.elements.len() as f64;
        let sum: f64 = self.elements.iter().map(|e| e.utilisation).sum();
        let squares: f64 = self
            .elements
            .iter()
            .map(|e| e.utilisation * e.utilisation)
            .sum();
        if squares > 0.0 {
            sum * sum / (n * squares)
        } else {
            1.0
        }
    }

    /// CalcAppRejects per completed job.
    pub fn rejects_per_job(&self) -> f64 {
        if self.clients.completed == 0 {
            0.0
        } else {
            self.clients.rejects as f64 / self.clients.completed as f64
        }
    }
}

/// A CalcApp pool in a [`World`], built from [`CalcAppOptions`].
#[derive(Debug)]
pub struct CalcAppSimulation {
    /// The world (run it, crash nodes, inspect them).
    pub world: World,
    /// What it was built from.
    pub options: CalcAppOptions,
    /// Registrar nodes, in number order.
    pub registrars: Vec<NodeId>,
    /// Pool element nodes, in number order.
    pub elements: Vec<NodeId>,
    /// Pool user nodes, in number order.
    pub users: Vec<NodeId>,
    /// Each PE's calculations at the window's start.
    baseline: Option<Vec<f64>>,
    jobs: Vec<JobRecord>,
}

impl CalcAppSimulation {
    /// Builds the pool `options` describe.
    pub fn new(options: CalcAppOptions) -> Self {
        let mut world = World::new(options.seed, options.net);
        let registrar_addrs: heapless::Vec<SocketAddr, { crate::pool_element::MAX_REGISTRARS }> =
            (1..=options.registrars.min(crate::pool_element::MAX_REGISTRARS))
                .map(registrar_addr)
                .collect();
        let mut registrars = Vec::new();
        let count = options.registrars;
        for i in 0..count {
            let profile = options.profile;
            let factory = Box::new(move |spawn: NodeSpawn| {
                let mut config = match profile {
                    Profile::Rfc => RegistrarConfig::rfc(server_id(i + 1)),
                    Profile::Rsplib => RegistrarConfig::rsplib(server_id(i + 1)),
                }
                .with_seed(spawn.seed);
                if count > 1 {
                    let peers = super::scenario::enrp_peers(i + 1, count);
                    super::scenario::configure_enrp(
                        &mut config,
                        profile,
                        SocketAddr::new(registrar_addr(i + 1).ip(), crate::wire::ENRP_PORT),
                        &peers,
                        false,
                    );
                }
                Box::new(SimRegistrar::new(config)) as Box<dyn Node>
            });
            let id = world.add_node(
                &format!("registrar {}", i + 1),
                registrar_addr(i + 1),
                &[Protocol::Enrp],
                factory,
            );
            registrars.push(id);
        }
        let mut elements = Vec::new();
        for (i, spec) in options.elements.iter().copied().enumerate() {
            let registrars = registrar_addrs.clone();
            let profile = options.profile;
            let policy = spec.policy.unwrap_or(options.policy);
            let service = CalcAppServiceConfig {
                capacity: spec.capacity,
                max_jobs: spec.max_jobs,
                ..options.service
            };
            let addr = element_addr(i + 1);
            let factory = Box::new(move |spawn: NodeSpawn| {
                let mut config = super::scenario::element_config(profile, addr);
                config.policy = policy;
                config.seed = spawn.seed;
                config.registrars = registrars.clone();
                let machine = Box::new(
                    SessionElement::new(SessionElementConfig { element: config })
                        .expect("a valid pool element"),
                );
                Box::new(CalcAppElement::new(
                    machine,
                    CalcAppService::new(service),
                    Duration::from_secs(1),
                )) as Box<dyn Node>
            });
            let id = world.add_node(&format!("element {}", i + 1), addr, &[], factory);
            world.set_delay(id, spec.delay);
            elements.push(id);
        }
        let mut users = Vec::new();
        let pool = PoolHandle::new(POOL).expect("a valid pool handle");
        let client = CalcAppClientConfig {
            pool,
            start: Instant::ZERO + options.warmup,
            stop: Instant::ZERO + options.duration,
            ..options.client
        };
        for i in 0..options.users {
            let registrars = registrar_addrs.clone();
            let profile = options.profile;
            let factory = Box::new(move |spawn: NodeSpawn| {
                let mut config = match profile {
                    Profile::Rfc => PoolUserConfig::rfc(),
                    Profile::Rsplib => PoolUserConfig::rsplib(),
                };
                config.seed = spawn.seed;
                config.registrars = registrars.clone();
                Box::new(CalcAppUser::new(
                    Box::new(SessionUser::new(SessionUserConfig::new(config))),
                    CalcAppClient::new(client),
                )) as Box<dyn Node>
            });
            let id = world.add_node(&format!("user {}", i + 1), user_addr(i + 1), &[], factory);
            if let Some(&d) = options.user_delays.get(i) {
                world.set_delay(id, d);
            }
            users.push(id);
        }
        for k in &options.kill_elements {
            if let Some(&e) = elements.get(k.number.wrapping_sub(1)) {
                world.schedule_crash(e, k.at);
            }
        }
        for k in &options.restart_elements {
            if let Some(&e) = elements.get(k.number.wrapping_sub(1)) {
                world.schedule_restart(e, k.at);
            }
        }
        CalcAppSimulation {
            world,
            options,
            registrars,
            elements,
            users,
            baseline: None,
            jobs: Vec::new(),
        }
    }

    /// Pool element `number` (from 1), if alive.
    pub fn element(&self, number: usize) -> Option<&CalcAppElement> {
        self.world
            .node_as::<CalcAppElement>(*self.elements.get(number.checked_sub(1)?)?)
    }

    /// Pool user `number` (from 1), if alive.
    pub fn user(&self, number: usize) -> Option<&CalcAppUser> {
        self.world
            .node_as::<CalcAppUser>(*self.users.get(number.checked_sub(1)?)?)
    }

    /// Each PE's calculations so far (0 for a dead one).
    pub fn used_calculations(&self) -> Vec<f64> {
        let now = self.world.now();
        (1..=self.elements.len())
            .map(|n| {
                self.element(n)
                    .map_or(0.0, |e| e.service.used_calculations(now))
            })
            .collect()
    }

    /// Runs until `until`, taking the measurement window's baseline when
    /// the warm-up ends and collecting the users' job records on the way.
    pub fn run_until(&mut self, until: Instant) {
        let warm = Instant::ZERO + self.options.warmup;
        while self.world.now() < until {
            let step = if self.baseline.is_none() && self.world.now() < warm {
                warm.min(until)
            } else {
                (self.world.now() + Duration::from_secs(10)).min(until)
            };
            self.world.run_until(step);
            if self.baseline.is_none() && self.world.now() >= warm {
                self.baseline = Some(self.used_calculations());
            }
            self.collect();
        }
    }

    /// Moves the users' completed jobs' records into the results (with
    /// [`CalcAppOptions::keep_jobs`]; dropped otherwise).
    fn collect(&mut self) {
        for &u in &self.users {
            let taken = self.world.with_node::<CalcAppUser, _>(u, |user, _| {
                user.app.drain_records().collect::<Vec<_>>()
            });
            if self.options.keep_jobs {
                self.jobs.extend(taken.into_iter().flatten());
            }
        }
    }

    /// Runs to the end and measures the window.
    pub fn run(&mut self) -> CalcAppResults {
        let end = Instant::ZERO + self.options.duration;
        self.run_until(end);
        self.results()
    }

    /// What was measured from the end of the warm-up until now.
    pub fn results(&self) -> CalcAppResults {
        let now = self.world.now();
        let start = Instant::ZERO + self.options.warmup;
        let secs = now.saturating_duration_since(start).as_micros() as f64 / 1e6;
        let used = self.used_calculations();
        let elements = self
            .options
            .elements
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let e = self.element(i + 1);
                let base = self
                    .baseline
                    .as_ref()
                    .and_then(|b| b.get(i).copied())
                    .unwrap_or(0.0);
                let in_window = (used[i] - base).max(0.0);
                let stats = e.map(|e| *e.service.stats()).unwrap_or_default();
                ElementResult {
                    capacity: spec.capacity,
                    delay: spec.delay,
                    used_calculations: in_window,
                    utilisation: if secs > 0.0 {
                        in_window / (spec.capacity * secs)
                    } else {
                        0.0
                    },
                    accepted: stats.accepted,
                    accepted_from_cookie: stats.accepted_from_cookie,
                    rejected: stats.rejected,
                    completed: stats.completed,
                    alive: e.is_some(),
                }
            })
            .collect();
        let mut clients = CalcAppClientStats::default();
        for n in 1..=self.users.len() {
            if let Some(u) = self.user(n) {
                clients.merge(u.app.stats());
            }
        }
        CalcAppResults {
            window: (start, now.max(start)),
            elements,
            clients,
            jobs: self.jobs.clone(),
        }
    }
}
