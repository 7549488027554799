//! Handlespace benchmark: registrar operations per second and memory per PE,
//! on the workload rsplib's registrar handlespace was measured with.
//!
//! Every PE has one IPv4 user address (SCTP), an ASAP transport with one
//! address, an owner registrar and an armed lifetime timer; PE ids are
//! random. Operations, each timed over all PEs (or a number of
//! resolutions):
//!
//! * `register`: new PEs into an empty handlespace;
//! * `reregister`: the same registrations again (updates);
//! * `resolve1` / `resolve3`: handle resolutions for 1 and 3 PEs (with
//!   several pools, each to a pool picked at random);
//! * `deregister`: every PE, in random order;
//! * `expire_all`: every lifetime runs out, purged in one pass;
//! * bytes per PE: what the heap grew by while registering, ÷ PEs (counted
//!   by a counting global allocator; the boxed handlespace itself included):
//!   for fixed storage (`--storage fixed`), the whole storage, sized for
//!   131,072 PEs and 1,024 pools, ÷ the PEs registered.
//!
//! `--storage growable,fixed` measures the growable (heap) storage and the
//! fixed one (`Fixed`, no heap: what a board runs) side by side; the
//! default is growable only.
//!
//! ```text
//! cargo run --release --example hsbench -- [--quick] [--csv] [--plot FILE.svg]
//!     [--wall] [--backend rbtree,treap,list] [--storage growable,fixed] [--policy RR,WRAND,LU]
//!     [--config 1x1000,1x10000,1x100000,1000x100] [--reps N] [--resolutions N]
//!     [--baseline FILE]
//! ```
//!
//! For each configuration and policy it prints one row per operation, a
//! column of ops/s per backend and the ratio of each backend to the first
//! one (`treap/rbtree 1.21`: the treap is 21 % faster); a figure whose
//! spread is above 10 % is marked `~` (re-run it on a quieter machine).
//! `--plot FILE.svg` draws ops/s against the number of PEs, per backend
//! and operation (single-pool configurations, first policy).
//!
//! `--baseline FILE` compares with reference figures, for instance
//! rsplib's C handlespace (`benches/rsplib-baseline.csv`):
//!
//! ```text
//! cargo run --release --example hsbench -- --quick --backend rbtree,treap \
//!     --policy RR,WRAND,LU --config 1x100000,1000x100 --baseline benches/rsplib-baseline.csv
//! ```
//!
//! The file holds one figure a line, `config,policy,operation,value`
//! (`1x100000,RR,register,348000`): the configuration as `POOLSxPES`, a
//! policy and an operation as hsbench names them, and ops/s (bytes for the
//! operation `bytes_per_pe`); `#` starts a comment, blank lines are
//! skipped. Each table then has one more column per backend,
//! `BACKEND/base`, the measured figure ÷ the baseline's (above 1: faster,
//! or for bytes/PE larger, than the baseline); a figure without a baseline
//! line gets no ratio. With `--csv` every row has two more columns,
//! `baseline` and `ratio_to_baseline` (of the row's ops/s), empty where
//! there is no baseline.
//! A malformed line stops hsbench with the file name and line number.
//!
//! Time is the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), so that a
//! shared machine's other work does not count against the handlespace;
//! `--wall` times by the wall clock instead. Each figure is the
//! median of the repetitions; the spread is
//! (max − min) / median. The sorted list backend is only run up to 10,000
//! PEs (1,000 with `--quick`) and with at most 20,000 resolutions (it is
//! linear). `--quick`: 3 repetitions, 200,000 resolutions.

use std::alloc::System;
use std::net::{IpAddr, Ipv4Addr};

use rserpool::addr::{TransportAddress, TransportProtocol, TransportUse};
use rserpool::handlespace::{Fixed, Growable, Handlespace, PeRef, Registration, Storage};
use rserpool::random::{below, Rng, Xoshiro256StarStar};
use rserpool::storage::{Backend, RedBlackTree, SortedList, Treap};
use rserpool::{AssocId, Duration, Instant, PeId, Policy, PoolHandle, ServerId};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const USER_ADDR: [IpAddr; 1] = [IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))];
const ASAP_ADDR: [IpAddr; 1] = [IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))];
const LIFE_MS: i32 = 30_000;

struct Options {
    plot: Option<String>,
    backends: Vec<String>,
    policies: Vec<String>,
    configs: Vec<(usize, usize)>,
    /// "growable" and/or "fixed".
    storages: Vec<String>,
    reps: usize,
    resolutions: usize,
    csv: bool,
    /// The most PEs the (linear) sorted list is run with.
    list_max: usize,
    /// Reference figures (`--baseline FILE`).
    baseline: Option<Baseline>,
}

/// Reference figures read from a `--baseline` file: value by
/// (pools, PEs per pool, policy, operation).
type Baseline = std::collections::HashMap<(usize, usize, String, String), f64>;

/// Parses `POOLSxPES` (both above 0).
fn parse_config(c: &str) -> Option<(usize, usize)> {
    c.split_once('x')
        .and_then(|(p, n)| Some((p.trim().parse().ok()?, n.trim().parse().ok()?)))
        .filter(|&(p, n): &(usize, usize)| p > 0 && n > 0)
}

/// Reads a baseline file: `config,policy,operation,value` lines, `#`
/// comments and blank lines.
fn parse_baseline(path: &str, text: &str) -> Result<Baseline, String> {
    let mut out = Baseline::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |what: &str| format!("{path}:{}: {what} in {raw:?}", i + 1);
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [config, policy, operation, value] = fields[..] else {
            return Err(at("expected config,policy,operation,value"));
        };
        let (pools, per_pool) =
            parse_config(config).ok_or_else(|| at("config is not POOLSxPES"))?;
        if !POLICIES.contains(&policy) {
            return Err(at(&format!(
                "unknown policy (known: {})",
                POLICIES.join(", ")
            )));
        }
        if !OPERATIONS.contains(&operation) && operation != "bytes_per_pe" {
            return Err(at(&format!(
                "unknown operation (known: {}, bytes_per_pe)",
                OPERATIONS.join(", ")
            )));
        }
        let value: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v > 0.0)
            .ok_or_else(|| at("value is not a positive number"))?;
        let key = (pools, per_pool, policy.to_string(), operation.to_string());
        if out.insert(key, value).is_some() {
            return Err(at("a second figure for this config, policy and operation"));
        }
    }
    Ok(out)
}

fn parse_args() -> Options {
    let mut o = Options {
        plot: None,
        backends: vec!["rbtree".into(), "treap".into(), "list".into()],
        policies: vec!["RR".into(), "WRAND".into(), "LU".into()],
        configs: vec![(1, 1_000), (1, 10_000), (1, 100_000), (1_000, 100)],
        storages: vec!["growable".into()],
        reps: 7,
        resolutions: 1_000_000,
        csv: false,
        list_max: 10_000,
        baseline: None,
    };
    let mut quick = false;
    let mut reps = None;
    let mut resolutions = None;
    let mut args = std::env::args().skip(1);
    let list = |s: Option<String>| -> Vec<String> {
        s.unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    };
    while let Some(a) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .unwrap_or_else(|| usage_error(&format!("{flag} needs a value")))
        };
        match a.as_str() {
            "--quick" => quick = true,
            "--csv" => o.csv = true,
            "--wall" => USE_WALL.store(true, std::sync::atomic::Ordering::Relaxed),
            "--plot" => o.plot = Some(value("--plot")),
            "--backend" => o.backends = list(Some(value("--backend"))),
            "--policy" => o.policies = list(Some(value("--policy"))),
            "--storage" => {
                o.storages = list(Some(value("--storage")));
                for st in &o.storages {
                    if st != "growable" && st != "fixed" {
                        usage_error(&format!("--storage: growable or fixed, not {st:?}"));
                    }
                }
            }
            "--config" => {
                o.configs = list(Some(value("--config")))
                    .iter()
                    .map(|c| {
                        parse_config(c).unwrap_or_else(|| {
                            usage_error(&format!("--config: POOLSxPES, not {c:?}"))
                        })
                    })
                    .collect()
            }
            "--reps" => reps = Some(number(&value("--reps"), "--reps")),
            "--resolutions" => resolutions = Some(number(&value("--resolutions"), "--resolutions")),
            "--baseline" => {
                let path = value("--baseline");
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                    usage_error(&format!("--baseline: cannot read {path}: {e}"))
                });
                o.baseline = Some(
                    parse_baseline(&path, &text)
                        .unwrap_or_else(|e| usage_error(&format!("--baseline: {e}"))),
                );
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => usage_error(&format!("unknown option {other}")),
        }
    }
    for b in &o.backends {
        if !["rbtree", "treap", "list"].contains(&b.as_str()) {
            usage_error(&format!("unknown backend {b} (rbtree, treap, list)"));
        }
    }
    for p in &o.policies {
        if !POLICIES.contains(&p.as_str()) {
            usage_error(&format!("unknown policy {p} ({})", POLICIES.join(", ")));
        }
    }
    if o.backends.is_empty() || o.policies.is_empty() || o.configs.is_empty() {
        usage_error("--backend, --policy and --config need at least one value");
    }
    if quick {
        o.reps = 3;
        o.resolutions = 200_000;
        o.list_max = 1_000;
    }
    o.reps = reps.unwrap_or(o.reps).max(1);
    o.resolutions = resolutions.unwrap_or(o.resolutions).max(1);
    o
}

const USAGE: &str = "usage: hsbench [--quick] [--csv] [--plot FILE.svg] [--wall] [--backend rbtree,treap,list]
               [--storage growable,fixed] [--policy RR,WRAND,LU,RAND,PRIO] [--config 1x1000,1000x100]
               [--reps N] [--resolutions N] [--baseline FILE]";

/// The policies the workload knows.
const POLICIES: [&str; 5] = ["RR", "WRAND", "LU", "RAND", "PRIO"];

/// Prints `message` and the usage, exits with status 2.
fn usage_error(message: &str) -> ! {
    eprintln!("hsbench: {message}\n{USAGE}");
    std::process::exit(2);
}

fn number(v: &str, flag: &str) -> usize {
    v.parse()
        .unwrap_or_else(|_| usage_error(&format!("{flag}: a number, not {v:?}")))
}

fn policy_for(name: &str, rng: &mut Xoshiro256StarStar) -> Policy {
    match name {
        "RR" => Policy::RoundRobin,
        "WRAND" => Policy::WeightedRandom {
            weight: 1 + below(rng, 1000) as u32,
        },
        "LU" => Policy::LeastUsed {
            load: rng.next_u64() as u32,
        },
        "RAND" => Policy::Random,
        "PRIO" => Policy::Priority {
            priority: below(rng, 16) as u32,
        },
        other => usage_error(&format!("unknown policy {other}")),
    }
}

struct Workload {
    handles: Vec<PoolHandle>,
    /// (pool index, PE id, policy)
    pes: Vec<(usize, PeId, Policy)>,
}

fn workload(pools: usize, per_pool: usize, policy: &str, seed: u64) -> Workload {
    let mut rng = Xoshiro256StarStar::seed_from_u64(seed);
    let handles: Vec<PoolHandle> = (0..pools)
        .map(|p| PoolHandle::try_from(format!("EchoPool-{p:05}").as_str()).unwrap())
        .collect();
    let mut pes = Vec::with_capacity(pools * per_pool);
    for p in 0..pools {
        let mut ids = std::collections::HashSet::with_capacity(per_pool);
        while ids.len() < per_pool {
            let id = rng.next_u64() as u32;
            if id != 0 && ids.insert(id) {
                pes.push((p, PeId::new(id).unwrap(), policy_for(policy, &mut rng)));
            }
        }
    }
    // Register in random order across pools.
    for i in (1..pes.len()).rev() {
        let j = below(&mut rng, i as u64 + 1) as usize;
        pes.swap(i, j);
    }
    Workload { handles, pes }
}

fn registration(w: &Workload, i: usize) -> Registration<'static> {
    let (pool, pe_id, policy) = w.pes[i];
    Registration {
        pool_handle: w.handles[pool],
        pe_id,
        home_registrar: ServerId::new(1).ok(),
        registration_life: LIFE_MS,
        user_transport: TransportAddress {
            protocol: TransportProtocol::Sctp,
            port: 7,
            transport_use: TransportUse::DataOnly,
            service_code: 0,
            addresses: &USER_ADDR,
        },
        policy,
        asap_transport: Some(TransportAddress {
            protocol: TransportProtocol::Sctp,
            port: 3863,
            transport_use: TransportUse::DataAndControl,
            service_code: 0,
            addresses: &ASAP_ADDR,
        }),
        assoc: AssocId(i as u32),
    }
}

#[derive(Default)]
struct Samples {
    register: Vec<f64>,
    reregister: Vec<f64>,
    resolve1: Vec<f64>,
    resolve3: Vec<f64>,
    deregister: Vec<f64>,
    expire_all: Vec<f64>,
    bytes_per_pe: Vec<f64>,
}

/// A point on the benchmark clock: the thread's CPU time
/// (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)` through the `cpu-time` crate),
/// so that time the thread spends waiting for a core on a shared machine is
/// not counted; with `--wall`, or where there is no thread clock, the wall
/// clock.
#[derive(Clone, Copy)]
struct Tick(f64);

static USE_WALL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn wall_seconds() -> f64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64()
}

fn cpu_seconds() -> Option<f64> {
    cpu_time::ThreadTime::try_now()
        .ok()
        .map(|t| t.as_duration().as_secs_f64())
}

impl Tick {
    fn now() -> Tick {
        if !USE_WALL.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(t) = cpu_seconds() {
                return Tick(t);
            }
        }
        Tick(wall_seconds())
    }
}

fn clock_name() -> &'static str {
    if !USE_WALL.load(std::sync::atomic::Ordering::Relaxed) && cpu_seconds().is_some() {
        "thread CPU time"
    } else {
        "wall clock"
    }
}

fn rate(ops: usize, start: Tick) -> f64 {
    ops as f64 / (Tick::now().0 - start.0)
}

/// The fixed storage measured by `--storage fixed`: room for the largest
/// default configuration (1 x 100,000 and 1,000 x 100 PEs), one address a
/// PE (no further ones), 4 owners; allocated once, never grown.
type FixedBench = Fixed<131_072, 1_024, 0, 4>;
/// The most PEs and pools [`FixedBench`] holds.
const FIXED_PES: usize = 131_072;
const FIXED_POOLS: usize = 1_024;

fn fill<B: Backend, S: Storage>(hs: &mut Handlespace<B, S>, w: &Workload, now: Instant) {
    for i in 0..w.pes.len() {
        hs.register(now, &registration(w, i)).unwrap();
    }
}

fn resolve_rate<B: Backend, S: Storage>(
    hs: &mut Handlespace<B, S>,
    w: &Workload,
    n: usize,
    count: usize,
    rng: &mut Xoshiro256StarStar,
) -> f64 {
    let mut out = [PeRef::default(); 3];
    let pools = w.handles.len() as u64;
    let mut got = 0usize;
    let start = Tick::now();
    for _ in 0..count {
        let p = if pools == 1 {
            0
        } else {
            below(rng, pools) as usize
        };
        got += hs.resolve(&w.handles[p], n, rng, &mut out).unwrap();
    }
    let r = rate(count, start);
    assert!(got >= count, "every resolution finds a PE");
    r
}

fn run_once<B: Backend, S: Storage>(w: &Workload, resolutions: usize, seed: u64, s: &mut Samples) {
    let total = w.pes.len();
    let t0 = Instant::from_secs(1);
    let region = Region::new(GLOBAL);
    let mut hs = Box::new(Handlespace::<B, S>::new());
    let start = Tick::now();
    fill(&mut hs, w, t0);
    s.register.push(rate(total, start));
    let grown = region.change();
    let net =
        grown.bytes_allocated as isize + grown.bytes_reallocated - grown.bytes_deallocated as isize;
    s.bytes_per_pe.push(net as f64 / total as f64);

    let t1 = t0 + Duration::from_secs(1);
    let start = Tick::now();
    fill(&mut hs, w, t1);
    s.reregister.push(rate(total, start));

    let mut rng = Xoshiro256StarStar::seed_from_u64(seed);
    s.resolve1
        .push(resolve_rate(&mut hs, w, 1, resolutions, &mut rng));
    s.resolve3
        .push(resolve_rate(&mut hs, w, 3, resolutions, &mut rng));

    let mut order: Vec<usize> = (0..total).collect();
    for i in (1..order.len()).rev() {
        let j = below(&mut rng, i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let start = Tick::now();
    for &i in &order {
        let (pool, id, _) = w.pes[i];
        hs.deregister(&w.handles[pool], id).unwrap();
    }
    s.deregister.push(rate(total, start));
    assert!(hs.is_empty());

    fill(&mut hs, w, t0);
    let later = t1 + Duration::from_millis(LIFE_MS as u64);
    let start = Tick::now();
    let gone = hs.purge_expired(later);
    s.expire_all.push(rate(total, start));
    assert_eq!(gone, total);
    drop(hs);
}

fn median_spread(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    let spread = (v[v.len() - 1] - v[0]) / m;
    (m, spread)
}

/// The operations, in the order they are printed.
const OPERATIONS: [&str; 6] = [
    "register",
    "reregister",
    "resolve1",
    "resolve3",
    "deregister",
    "expire_all",
];

/// One backend's figures for one configuration and policy: (median ops/s,
/// spread) per operation, in [`OPERATIONS`] order, and bytes per PE.
struct Figures {
    backend: &'static str,
    ops: Vec<(f64, f64)>,
    bytes_per_pe: f64,
}

/// The name in the tables: the backend's, with `-fixed` for fixed storage.
fn label<B: Backend>(fixed: bool) -> &'static str {
    match (B::NAME, fixed) {
        ("rbtree", true) => "rbtree-fixed",
        ("treap", true) => "treap-fixed",
        ("list", true) => "list-fixed",
        (name, _) => name,
    }
}

fn bench<B: Backend>(
    o: &Options,
    fixed: bool,
    pools: usize,
    per_pool: usize,
    policy: &str,
) -> Figures {
    let w = workload(pools, per_pool, policy, 0x5EED ^ (pools * per_pool) as u64);
    let mut s = Samples::default();
    // The list selects in linear time: fewer resolutions keep its runs short.
    let resolutions = if B::NAME == "list" {
        o.resolutions.min(20_000)
    } else {
        o.resolutions
    };
    for rep in 0..o.reps {
        if fixed {
            run_once::<B, FixedBench>(&w, resolutions, 1000 + rep as u64, &mut s);
        } else {
            run_once::<B, Growable>(&w, resolutions, 1000 + rep as u64, &mut s);
        }
    }
    let (bytes, _) = median_spread(&mut s.bytes_per_pe);
    let ops = [
        &mut s.register,
        &mut s.reregister,
        &mut s.resolve1,
        &mut s.resolve3,
        &mut s.deregister,
        &mut s.expire_all,
    ]
    .into_iter()
    .map(|v| median_spread(v))
    .collect();
    Figures {
        backend: label::<B>(fixed),
        ops,
        bytes_per_pe: bytes,
    }
}

/// A spread above this marks a figure as unsteady.
const HIGH_SPREAD: f64 = 0.10;

/// The baseline's figure for one row, if `--baseline` gave one.
fn base_of(
    baseline: Option<&Baseline>,
    pools: usize,
    per_pool: usize,
    policy: &str,
    operation: &str,
) -> Option<f64> {
    baseline?
        .get(&(pools, per_pool, policy.to_string(), operation.to_string()))
        .copied()
}

fn print_table(
    pools: usize,
    per_pool: usize,
    policy: &str,
    figures: &[Figures],
    skipped: &[String],
    baseline: Option<&Baseline>,
) {
    println!();
    println!("{pools} x {per_pool} PEs, {policy}:");
    let base = figures[0].backend;
    let mut head = format!("  {:<11}", "operation");
    for f in figures {
        head.push_str(&format!(" {:>14}", format!("{} ops/s", f.backend)));
    }
    for f in &figures[1..] {
        head.push_str(&format!(" {:>14}", format!("{}/{base}", f.backend)));
    }
    if baseline.is_some() {
        head.push_str(&format!(" {:>14}", "baseline"));
        for f in figures {
            head.push_str(&format!(" {:>14}", format!("{}/base", f.backend)));
        }
    }
    println!("{head}");
    // The baseline columns of one row: the reference figure and each
    // backend's ratio to it, blank where the baseline has no figure.
    let base_cells = |row: &mut String, op: &str, value: &dyn Fn(&Figures) -> f64| {
        if baseline.is_none() {
            return;
        }
        match base_of(baseline, pools, per_pool, policy, op) {
            Some(b) => {
                row.push_str(&format!(" {b:>14.0}"));
                for f in figures {
                    row.push_str(&format!(" {:>14.2}", value(f) / b));
                }
            }
            None => row.push_str(&" ".repeat(15 * (figures.len() + 1))),
        }
    };
    let mut unsteady = false;
    for (i, op) in OPERATIONS.iter().enumerate() {
        let mut row = format!("  {op:<11}");
        for f in figures {
            let (m, spread) = f.ops[i];
            let mark = if spread > HIGH_SPREAD {
                unsteady = true;
                "~"
            } else {
                " "
            };
            row.push_str(&format!(" {:>13.0}{mark}", m));
        }
        for f in &figures[1..] {
            row.push_str(&format!(" {:>14.2}", f.ops[i].0 / figures[0].ops[i].0));
        }
        base_cells(&mut row, op, &|f| f.ops[i].0);
        println!("{}", row.trim_end());
    }
    let mut row = format!("  {:<11}", "bytes/PE");
    for f in figures {
        row.push_str(&format!(" {:>13.1} ", f.bytes_per_pe));
    }
    for f in &figures[1..] {
        row.push_str(&format!(
            " {:>14.2}",
            f.bytes_per_pe / figures[0].bytes_per_pe
        ));
    }
    base_cells(&mut row, "bytes_per_pe", &|f| f.bytes_per_pe);
    println!("{}", row.trim_end());
    if unsteady {
        println!(
            "  ~ spread above {:.0} %: the machine was busy; run again",
            HIGH_SPREAD * 100.0
        );
    }
    for s in skipped {
        println!("  {s}");
    }
}

fn print_csv(
    pools: usize,
    per_pool: usize,
    policy: &str,
    figures: &[Figures],
    baseline: Option<&Baseline>,
) {
    for f in figures {
        for (i, op) in OPERATIONS.iter().enumerate() {
            let mut line = format!(
                "{},{},{},{},{},{:.0},{:.1}",
                f.backend, pools, per_pool, policy, op, f.ops[i].0, f.bytes_per_pe
            );
            if baseline.is_some() {
                match base_of(baseline, pools, per_pool, policy, op) {
                    Some(b) => line.push_str(&format!(",{b:.0},{:.3}", f.ops[i].0 / b)),
                    None => line.push_str(",,"),
                }
            }
            println!("{line}");
        }
    }
}

/// Draws ops/s against PEs, one chart per operation, one line per backend.
fn plot(path: &str, series: &[(usize, Vec<Figures>)], policy: &str) -> Result<(), String> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (1200, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(
            &format!("rserpool handlespace: ops/s against PEs in one pool ({policy})"),
            ("sans-serif", 22),
        )
        .map_err(|e| e.to_string())?;
    let areas = root.split_evenly((2, 3));
    let colours = [RED, BLUE, GREEN];
    let x_max = series.iter().map(|s| s.0).max().unwrap_or(1) as f64;
    let x_min = series.iter().map(|s| s.0).min().unwrap_or(1) as f64;
    for (i, (area, op)) in areas.iter().zip(OPERATIONS).enumerate() {
        let values = series
            .iter()
            .flat_map(|s| s.1.iter().map(move |f| f.ops[i].0));
        let y_max = values.clone().fold(1.0f64, f64::max) * 1.5;
        let y_min = values.fold(f64::MAX, f64::min).max(1.0) / 1.5;
        let mut chart = ChartBuilder::on(area)
            .caption(op, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (x_min * 0.8..x_max * 1.25).log_scale(),
                (y_min..y_max).log_scale(),
            )
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(5)
            .y_labels(6)
            .light_line_style(WHITE)
            .x_desc("PEs")
            .y_desc("ops/s")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0e}"))
            .draw()
            .map_err(|e| e.to_string())?;
        let backends: Vec<&str> = series
            .iter()
            .flat_map(|s| s.1.iter().map(|f| f.backend))
            .fold(Vec::new(), |mut v, b| {
                if !v.contains(&b) {
                    v.push(b);
                }
                v
            });
        for (b, colour) in backends.iter().zip(colours.iter().cycle()) {
            let points: Vec<(f64, f64)> = series
                .iter()
                .filter_map(|(n, figs)| {
                    figs.iter()
                        .find(|f| f.backend == *b)
                        .map(|f| (*n as f64, f.ops[i].0))
                })
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(*b)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

fn main() {
    // A fixed handlespace of FixedBench's size (tens of MiB) is built by
    // value before it is boxed: a thread with room for that.
    let run = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(run)
        .expect("benchmark thread");
    if run.join().is_err() {
        std::process::exit(1);
    }
}

fn run() {
    let o = parse_args();
    if o.csv {
        let extra = if o.baseline.is_some() {
            ",baseline,ratio_to_baseline"
        } else {
            ""
        };
        println!("backend,pools,pes_per_pool,policy,operation,ops_per_sec,bytes_per_pe{extra}");
    } else {
        println!(
            "hsbench: median of {} repetitions, {} resolutions each, timed by {}",
            o.reps,
            o.resolutions,
            clock_name()
        );
    }
    // Single-pool figures of the first policy, for the plot.
    let mut series: Vec<(usize, Vec<Figures>)> = Vec::new();
    for &(pools, per_pool) in &o.configs {
        for policy in &o.policies {
            let mut figures = Vec::new();
            let mut skipped = Vec::new();
            for (backend, storage) in o
                .backends
                .iter()
                .flat_map(|b| o.storages.iter().map(move |st| (b, st)))
            {
                let fixed = storage == "fixed";
                if fixed && (pools * per_pool > FIXED_PES || pools > FIXED_POOLS) {
                    skipped.push(format!(
                        "{backend}-fixed: skipped above {FIXED_PES} PEs or {FIXED_POOLS} pools (its capacity)"
                    ));
                    continue;
                }
                match backend.as_str() {
                    "rbtree" => {
                        figures.push(bench::<RedBlackTree>(&o, fixed, pools, per_pool, policy))
                    }
                    "treap" => figures.push(bench::<Treap>(&o, fixed, pools, per_pool, policy)),
                    "list" if pools * per_pool <= o.list_max => {
                        figures.push(bench::<SortedList>(&o, fixed, pools, per_pool, policy))
                    }
                    _ => skipped.push(format!(
                        "list: skipped above {} PEs (it selects in linear time{})",
                        o.list_max,
                        if o.list_max < 10_000 { "; --quick" } else { "" }
                    )),
                }
            }
            if figures.is_empty() {
                for s in &skipped {
                    println!("{pools} x {per_pool} PEs, {policy}: {s}");
                }
                continue;
            }
            if o.csv {
                print_csv(pools, per_pool, policy, &figures, o.baseline.as_ref());
            } else {
                print_table(
                    pools,
                    per_pool,
                    policy,
                    &figures,
                    &skipped,
                    o.baseline.as_ref(),
                );
            }
            if pools == 1 && *policy == o.policies[0] {
                series.push((per_pool, figures));
            }
        }
    }
    if let Some(path) = &o.plot {
        series.sort_by_key(|s| s.0);
        if series.is_empty() {
            eprintln!("hsbench: --plot needs single-pool configurations (1xN)");
            std::process::exit(2);
        }
        if let Err(e) = plot(path, &series, &o.policies[0]) {
            eprintln!("hsbench: --plot {path}: {e}");
            std::process::exit(1);
        }
        if !o.csv {
            println!("\nplot: {path}");
        }
    }
}
