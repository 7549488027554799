//! A policy study: which selection policy to choose for a pool of compute
//! servers, measured as the RSerPool literature measures it, on CalcApp
//! pools in the simulator ([`super::calcapp`]).
//!
//! Two kinds of pool ([`Scenario`]):
//!
//! * **Heterogeneous**: a third of the PEs are three times as fast as the
//!   others (the weights of WRR and WRAND say so); every PE and user on the
//!   same LAN.
//! * **Distance**: PEs of equal capacity in three sites, one third near the
//!   users and the registrar, one third [`SITE_DELAYS`]`[1]` and one third
//!   [`SITE_DELAYS`]`[2]` further away (one way); each PE registers its
//!   distance (its extra delay in milliseconds) for the distance-aware
//!   policies (the `-DPF` variants), shorter jobs so that the delay matters.
//!
//! Each point of the grid ([`Point`]: scenario, policy, users per PE, the
//! offered load as a share of the pool's capacity) runs once per seed; the
//! offered load sets the users' mean job interval. The metrics
//! ([`Sample`]) are the literature's: the **handling speed** (a job's size
//! over its handling time, which counts queuing at the user, startup with
//! rejections and processing; mean over the jobs completed in the
//! measurement window), the PEs' mean **utilisation** and its **fairness**
//! (Jain's index of the PEs' utilisations: 1 when all are equally busy,
//! 1/n when one does all the work), and **rejections** per completed job.
//! [`run`] gives each point's mean and 95 % confidence interval over the
//! seeds ([`Row`]), [`csv`] writes them.
//!
//! The example `policy_study` runs the published set, writes
//! `docs/policies.csv` and plots; `docs/policies.md` reads them.
//!
//! ```
//! use rserpool::sim::study::{self, PolicyKind, Scenario, StudyConfig};
//!
//! let mut config = StudyConfig::quick();
//! config.policies = vec![PolicyKind::RoundRobin, PolicyKind::LeastUsed];
//! config.users_per_pe = vec![3];
//! config.loads = vec![0.8];
//! config.scenarios = vec![Scenario::Heterogeneous];
//! let rows = study::run(&config, |_| {});
//! let speed = |p: PolicyKind| {
//!     rows.iter().find(|r| r.point.policy == p).unwrap().handling_speed.mean
//! };
//! assert!(speed(PolicyKind::LeastUsed) > speed(PolicyKind::RoundRobin));
//! ```

use std::string::String;
use std::vec::Vec;
use std::{format, vec};

use crate::policy::{Policy, FULL_LOAD};
use crate::time::Duration;

use super::calcapp::{CalcAppOptions, CalcAppResults, CalcAppSimulation, ElementSpec};
use crate::host::calcapp::Distribution;

/// The capacity of a normal PE, calculations/s (rsplib's default).
pub const BASE_CAPACITY: f64 = 1_000_000.0;

/// How much faster the fast third of a heterogeneous pool is.
pub const FAST_FACTOR: f64 = 3.0;

/// The extra one-way delay of the three sites of the distance scenario.
pub const SITE_DELAYS: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(50),
    Duration::from_millis(150),
];

/// Jobs each PE runs at once (rsplib's default); one more is rejected.
pub const MAX_JOBS: usize = 10;

/// The pools of the study.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// A third of the PEs [`FAST_FACTOR`] times as fast, all near.
    Heterogeneous,
    /// Equal PEs in three sites at [`SITE_DELAYS`].
    Distance,
}

impl Scenario {
    /// Its name in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Heterogeneous => "heterogeneous",
            Scenario::Distance => "distance",
        }
    }
}

/// The policies of the study, with the parameters each PE registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyKind {
    /// Round Robin.
    RoundRobin,
    /// Weighted Round Robin, weight proportional to the capacity.
    WeightedRoundRobin,
    /// Random.
    Random,
    /// Weighted Random, weight proportional to the capacity (one per
    /// 1,000 calculations/s, so that the distance penalty has resolution).
    WeightedRandom,
    /// Least Used (the PE's load: running jobs over its job limit).
    LeastUsed,
    /// Least Used with Degradation (one job's load per selection).
    LeastUsedDegradation,
    /// Priority Least Used: the load increment is one job's share of the
    /// PE's capacity (a third of a job's load on a fast PE).
    PriorityLeastUsed,
    /// WRAND with the distance penalty ([`WEIGHT_DPF`]).
    WeightedRandomDpf,
    /// LU with the distance penalty ([`LOAD_DPF`]).
    LeastUsedDpf,
    /// LUD with the distance penalty ([`LOAD_DPF`]).
    LeastUsedDegradationDpf,
    /// PLU with the distance penalty ([`LOAD_DPF`]).
    PriorityLeastUsedDpf,
}

/// One job's load on a PE (the load policies' degradation and increment).
pub const JOB_LOAD: u32 = (FULL_LOAD / MAX_JOBS as u64) as u32;

/// The load penalty per millisecond of distance of the LU-, LUD- and
/// PLU-DPF policies: 250 ms weigh as much as one running job. Calibrated
/// on the distance scenario's jobs (1 s alone on a PE): one job more on a
/// PE adds about a second to each of its jobs, and 250 ms of one-way
/// distance add about a second to a job too (request, answer, completion
/// and the association's set-up cross it).
pub const LOAD_DPF: u32 = JOB_LOAD / 250;

/// The weight penalty per millisecond of distance of WRAND-DPF: each
/// millisecond takes 0.2 % of the weight (150 ms: 30 %).
pub const WEIGHT_DPF: u32 = (FULL_LOAD / 500) as u32;

impl PolicyKind {
    /// Every policy of the study.
    pub const ALL: [PolicyKind; 11] = [
        PolicyKind::RoundRobin,
        PolicyKind::WeightedRoundRobin,
        PolicyKind::Random,
        PolicyKind::WeightedRandom,
        PolicyKind::LeastUsed,
        PolicyKind::LeastUsedDegradation,
        PolicyKind::PriorityLeastUsed,
        PolicyKind::WeightedRandomDpf,
        PolicyKind::LeastUsedDpf,
        PolicyKind::LeastUsedDegradationDpf,
        PolicyKind::PriorityLeastUsedDpf,
    ];

    /// Its short name (RFC 5356's, rsplib's for the DPF variants).
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::RoundRobin => "RR",
            PolicyKind::WeightedRoundRobin => "WRR",
            PolicyKind::Random => "RAND",
            PolicyKind::WeightedRandom => "WRAND",
            PolicyKind::LeastUsed => "LU",
            PolicyKind::LeastUsedDegradation => "LUD",
            PolicyKind::PriorityLeastUsed => "PLU",
            PolicyKind::WeightedRandomDpf => "WRAND-DPF",
            PolicyKind::LeastUsedDpf => "LU-DPF",
            PolicyKind::LeastUsedDegradationDpf => "LUD-DPF",
            PolicyKind::PriorityLeastUsedDpf => "PLU-DPF",
        }
    }

    /// The policy kind named `name` (as [`name`](Self::name), any case).
    pub fn from_name(name: &str) -> Option<PolicyKind> {
        PolicyKind::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Whether it penalises distance.
    pub fn distance_aware(self) -> bool {
        matches!(
            self,
            PolicyKind::WeightedRandomDpf
                | PolicyKind::LeastUsedDpf
                | PolicyKind::LeastUsedDegradationDpf
                | PolicyKind::PriorityLeastUsedDpf
        )
    }

    /// The policy a PE of `capacity` calculations/s at `distance_ms`
    /// registers (the load starts at 0; the CalcApp service reports it).
    pub fn policy(self, capacity: f64, distance_ms: u32) -> Policy {
        // WRR serves a PE `weight` times per round: small weights.
        let relative = ((capacity / BASE_CAPACITY).round() as u32).max(1);
        // WRAND(-DPF) draws by weight: fine-grained weights.
        let weight = ((capacity / 1000.0).round() as u32).max(1);
        let increment = JOB_LOAD / relative;
        match self {
            PolicyKind::RoundRobin => Policy::RoundRobin,
            PolicyKind::WeightedRoundRobin => Policy::WeightedRoundRobin { weight: relative },
            PolicyKind::Random => Policy::Random,
            PolicyKind::WeightedRandom => Policy::WeightedRandom { weight },
            PolicyKind::LeastUsed => Policy::LeastUsed { load: 0 },
            PolicyKind::LeastUsedDegradation => Policy::LeastUsedDegradation {
                load: 0,
                degradation: JOB_LOAD,
            },
            PolicyKind::PriorityLeastUsed => Policy::PriorityLeastUsed {
                load: 0,
                degradation: increment,
            },
            PolicyKind::WeightedRandomDpf => Policy::WeightedRandomDpf {
                weight,
                weight_dpf: WEIGHT_DPF,
                distance: distance_ms,
            },
            PolicyKind::LeastUsedDpf => Policy::LeastUsedDpf {
                load: 0,
                load_dpf: LOAD_DPF,
                distance: distance_ms,
            },
            PolicyKind::LeastUsedDegradationDpf => Policy::LeastUsedDegradationDpf {
                load: 0,
                degradation: JOB_LOAD,
                load_dpf: LOAD_DPF,
                distance: distance_ms,
            },
            PolicyKind::PriorityLeastUsedDpf => Policy::PriorityLeastUsedDpf {
                load: 0,
                degradation: increment,
                load_dpf: LOAD_DPF,
                distance: distance_ms,
            },
        }
    }
}

/// One point of the study's grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// The pool.
    pub scenario: Scenario,
    /// The policy.
    pub policy: PolicyKind,
    /// Pool users per PE.
    pub users_per_pe: usize,
    /// The offered load as a share of the pool's capacity (0.8: the users
    /// ask for 80 % of all calculations the PEs can do).
    pub load: f64,
}

/// What one run measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Mean handling speed of the jobs completed in the window, in
    /// calculations/s.
    pub handling_speed: f64,
    /// Mean handling time of those jobs, in seconds.
    pub handling_time: f64,
    /// The PEs' mean utilisation.
    pub utilisation: f64,
    /// Jain's fairness index of the PEs' utilisations.
    pub fairness: f64,
    /// CalcAppRejects per completed job.
    pub rejects_per_job: f64,
    /// Jobs completed in the window.
    pub completed: u64,
    /// Share of the calculations done by the fast PEs (heterogeneous) or
    /// the near site's PEs (distance).
    pub preferred_share: f64,
}

/// A mean over seeds with its 95 % confidence interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Estimate {
    /// The mean.
    pub mean: f64,
    /// Half the width of the 95 % confidence interval (Student's t; 0 for
    /// one seed).
    pub ci95: f64,
}

impl Estimate {
    /// The mean and confidence interval of `values`.
    pub fn of(values: &[f64]) -> Estimate {
        let n = values.len();
        if n == 0 {
            return Estimate::default();
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Estimate { mean, ci95: 0.0 };
        }
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
        Estimate {
            mean,
            ci95: student_t95(n - 1) * (var / n as f64).sqrt(),
        }
    }

    /// The interval's lower end.
    pub fn low(&self) -> f64 {
        self.mean - self.ci95
    }

    /// The interval's upper end.
    pub fn high(&self) -> f64 {
        self.mean + self.ci95
    }
}

/// The two-sided 95 % quantile of Student's t with `df` degrees of freedom.
fn student_t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        31..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

/// A point's results over all seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The point.
    pub point: Point,
    /// Seeds run.
    pub seeds: usize,
    /// Handling speed, calculations/s.
    pub handling_speed: Estimate,
    /// Handling time, seconds.
    pub handling_time: Estimate,
    /// Mean PE utilisation.
    pub utilisation: Estimate,
    /// Fairness of the PEs' utilisations.
    pub fairness: Estimate,
    /// Rejections per completed job.
    pub rejects_per_job: Estimate,
    /// Share of the work done by the fast (or near) PEs.
    pub preferred_share: Estimate,
    /// Jobs completed, summed over the seeds.
    pub completed: u64,
}

/// The study's grid and run lengths.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyConfig {
    /// The seeds each point runs with.
    pub seeds: Vec<u64>,
    /// The pools.
    pub scenarios: Vec<Scenario>,
    /// The policies (those with a distance penalty run in the distance
    /// scenario only).
    pub policies: Vec<PolicyKind>,
    /// Pool users per PE.
    pub users_per_pe: Vec<usize>,
    /// Offered loads, as shares of the pool's capacity.
    pub loads: Vec<f64>,
    /// PEs per pool (a multiple of 3).
    pub elements: usize,
    /// Mean job size of the heterogeneous scenario, in calculations.
    pub job_size: f64,
    /// Mean job size of the distance scenario, in calculations.
    pub distance_job_size: f64,
    /// Warm-up before the measurement window.
    pub warmup: Duration,
    /// The whole run (warm-up included).
    pub duration: Duration,
    /// Threads the points are spread over.
    pub threads: usize,
}

impl StudyConfig {
    /// The published set (`docs/policies.csv`): 12 PEs, 10 seeds, every
    /// policy, 1–10 users per PE, offered loads from 30 % to 85 %, 15 min
    /// of virtual time per run (the first minute not measured).
    pub fn published() -> Self {
        StudyConfig {
            seeds: (1..=10).collect(),
            scenarios: vec![Scenario::Heterogeneous, Scenario::Distance],
            policies: PolicyKind::ALL.to_vec(),
            users_per_pe: vec![1, 2, 5, 10],
            loads: vec![0.3, 0.5, 0.7, 0.85],
            elements: 12,
            job_size: 10_000_000.0,
            distance_job_size: 1_000_000.0,
            warmup: Duration::from_secs(60),
            duration: Duration::from_secs(900),
            threads: 2,
        }
    }

    /// A small set for tests: 3 seeds, 9 PEs, 5 min per run.
    pub fn quick() -> Self {
        StudyConfig {
            seeds: vec![1, 2, 3],
            users_per_pe: vec![3],
            loads: vec![0.5, 0.8],
            elements: 9,
            warmup: Duration::from_secs(30),
            duration: Duration::from_secs(300),
            ..StudyConfig::published()
        }
    }

    /// Every point of the grid: each scenario × policy × users per PE ×
    /// load, the distance-aware policies in the distance scenario only.
    pub fn points(&self) -> Vec<Point> {
        let mut points = Vec::new();
        for &scenario in &self.scenarios {
            for &policy in &self.policies {
                if policy.distance_aware() && scenario != Scenario::Distance {
                    continue;
                }
                for &users_per_pe in &self.users_per_pe {
                    for &load in &self.loads {
                        points.push(Point {
                            scenario,
                            policy,
                            users_per_pe,
                            load,
                        });
                    }
                }
            }
        }
        points
    }

    /// The simulation of `point` with `seed`.
    pub fn options(&self, point: &Point, seed: u64) -> CalcAppOptions {
        let n = self.elements.max(3);
        let specs: Vec<ElementSpec> = (0..n)
            .map(|i| {
                let (capacity, delay) = match point.scenario {
                    // The first third is the fast one.
                    Scenario::Heterogeneous if i < n / 3 => {
                        (BASE_CAPACITY * FAST_FACTOR, Duration::ZERO)
                    }
                    Scenario::Heterogeneous => (BASE_CAPACITY, Duration::ZERO),
                    Scenario::Distance => (BASE_CAPACITY, SITE_DELAYS[(i * 3 / n).min(2)]),
                };
                let distance_ms = (delay.as_micros() / 1000) as u32;
                ElementSpec {
                    delay,
                    policy: Some(point.policy.policy(capacity, distance_ms)),
                    ..ElementSpec::new(capacity, MAX_JOBS)
                }
            })
            .collect();
        let capacity: f64 = specs.iter().map(|s| s.capacity).sum();
        let users = (point.users_per_pe * n).max(1);
        let job_size = match point.scenario {
            Scenario::Heterogeneous => self.job_size,
            Scenario::Distance => self.distance_job_size,
        };
        // Offered load = users × job size ÷ interval.
        let interval_s = users as f64 * job_size / (point.load.max(0.01) * capacity);
        let mut o = CalcAppOptions::new(point.policy.policy(BASE_CAPACITY, 0));
        o.seed = seed;
        o.elements = specs;
        o.users = users;
        o.client.job_size = job_size;
        o.client.job_size_distribution = Distribution::Exponential;
        o.client.interval = Duration::from_micros((interval_s * 1e6) as u64);
        o.client.interval_distribution = Distribution::Exponential;
        o.warmup = self.warmup;
        o.duration = self.duration;
        o.keep_jobs = false;
        o
    }
}

/// Runs `point` with `seed`.
pub fn run_one(config: &StudyConfig, point: &Point, seed: u64) -> Sample {
    let options = config.options(point, seed);
    let results = CalcAppSimulation::new(options).run();
    sample_of(point, &results)
}

fn sample_of(point: &Point, r: &CalcAppResults) -> Sample {
    let preferred = |e: &super::calcapp::ElementResult| match point.scenario {
        Scenario::Heterogeneous => e.capacity > BASE_CAPACITY,
        Scenario::Distance => e.delay == Duration::ZERO,
    };
    let total: f64 = r.elements.iter().map(|e| e.used_calculations).sum();
    let near: f64 = r
        .elements
        .iter()
        .filter(|e| preferred(e))
        .map(|e| e.used_calculations)
        .sum();
    Sample {
        handling_speed: r.mean_handling_speed(),
        handling_time: r.clients.mean_handling_time(),
        utilisation: r.mean_utilisation(),
        fairness: r.utilisation_fairness(),
        rejects_per_job: r.rejects_per_job(),
        completed: r.clients.completed,
        preferred_share: if total > 0.0 { near / total } else { 0.0 },
    }
}

/// Runs every point of `config` with every seed, spread over
/// [`StudyConfig::threads`] threads, calling `progress` with each finished
/// point's row (in no particular order), and returns the rows in the
/// order of [`StudyConfig::points`].
pub fn run(config: &StudyConfig, progress: impl Fn(&Row) + Sync) -> Vec<Row> {
    let points = config.points();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let rows = std::sync::Mutex::new(vec![None; points.len()]);
    std::thread::scope(|s| {
        for _ in 0..config.threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(point) = points.get(i) else { break };
                let samples: Vec<Sample> = config
                    .seeds
                    .iter()
                    .map(|&seed| run_one(config, point, seed))
                    .collect();
                let row = row_of(*point, &samples);
                progress(&row);
                if let Ok(mut rows) = rows.lock() {
                    rows[i] = Some(row);
                }
            });
        }
    });
    rows.into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// The estimates of `samples` of `point`.
pub fn row_of(point: Point, samples: &[Sample]) -> Row {
    let est = |f: fn(&Sample) -> f64| Estimate::of(&samples.iter().map(f).collect::<Vec<_>>());
    Row {
        point,
        seeds: samples.len(),
        handling_speed: est(|s| s.handling_speed),
        handling_time: est(|s| s.handling_time),
        utilisation: est(|s| s.utilisation),
        fairness: est(|s| s.fairness),
        rejects_per_job: est(|s| s.rejects_per_job),
        preferred_share: est(|s| s.preferred_share),
        completed: samples.iter().map(|s| s.completed).sum(),
    }
}

/// The CSV header of [`csv`].
pub const CSV_HEADER: &str = "scenario,policy,users_per_pe,load,seeds,completed,\
handling_speed,handling_speed_ci95,handling_time_s,handling_time_ci95,\
utilisation,utilisation_ci95,fairness,fairness_ci95,\
rejects_per_job,rejects_per_job_ci95,preferred_share,preferred_share_ci95";

/// `rows` as CSV with [`CSV_HEADER`].
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{:.2},{},{},{:.0},{:.0},{:.3},{:.3},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4}\n",
            r.point.scenario.name(),
            r.point.policy.name(),
            r.point.users_per_pe,
            r.point.load,
            r.seeds,
            r.completed,
            r.handling_speed.mean,
            r.handling_speed.ci95,
            r.handling_time.mean,
            r.handling_time.ci95,
            r.utilisation.mean,
            r.utilisation.ci95,
            r.fairness.mean,
            r.fairness.ci95,
            r.rejects_per_job.mean,
            r.rejects_per_job.ci95,
            r.preferred_share.mean,
            r.preferred_share.ci95,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_follow_student() {
        let e = Estimate::of(&[1.0, 2.0, 3.0]);
        assert!((e.mean - 2.0).abs() < 1e-12);
        // s = 1, t(2) = 4.303, sqrt(3).
        assert!((e.ci95 - 4.303 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(Estimate::of(&[5.0]).ci95, 0.0);
        assert_eq!(Estimate::of(&[]), Estimate::default());
    }

    #[test]
    fn the_grid_keeps_distance_policies_to_the_distance_scenario() {
        let c = StudyConfig::published();
        let points = c.points();
        assert!(points
            .iter()
            .all(|p| !p.policy.distance_aware() || p.scenario == Scenario::Distance));
        // 7 plain policies in both scenarios, 4 distance-aware in one.
        assert_eq!(points.len(), (7 * 2 + 4) * 4 * 4);
    }

    #[test]
    fn options_offer_the_asked_load_and_the_weights_follow_capacity() {
        let c = StudyConfig::quick();
        let p = Point {
            scenario: Scenario::Heterogeneous,
            policy: PolicyKind::WeightedRandom,
            users_per_pe: 2,
            load: 0.5,
        };
        let o = c.options(&p, 7);
        assert_eq!(o.elements.len(), 9);
        assert_eq!(o.users, 18);
        let capacity: f64 = o.elements.iter().map(|e| e.capacity).sum();
        assert_eq!(capacity, 15_000_000.0);
        let offered =
            o.users as f64 * o.client.job_size / (o.client.interval.as_micros() as f64 / 1e6);
        assert!((offered / capacity - 0.5).abs() < 1e-3, "{offered}");
        assert_eq!(
            o.elements[0].policy,
            Some(Policy::WeightedRandom { weight: 3000 })
        );
        assert_eq!(
            o.elements[8].policy,
            Some(Policy::WeightedRandom { weight: 1000 })
        );
        let d = c.options(
            &Point {
                scenario: Scenario::Distance,
                policy: PolicyKind::LeastUsedDpf,
                ..p
            },
            7,
        );
        assert_eq!(d.elements[0].delay, Duration::ZERO);
        assert_eq!(d.elements[8].delay, Duration::from_millis(150));
        assert_eq!(
            d.elements[8].policy,
            Some(Policy::LeastUsedDpf {
                load: 0,
                load_dpf: LOAD_DPF,
                distance: 150
            })
        );
        for p in PolicyKind::ALL {
            assert_eq!(PolicyKind::from_name(p.name()), Some(p));
        }
    }
}
