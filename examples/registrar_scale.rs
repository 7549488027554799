//! A registrar with a million PEs: registrations per second, handle
//! resolutions per second and heap bytes per PE of the runtime's registrar
//! (`presets::HostRegistrar`: growable handlespace, red-black trees),
//! driven in-process through its sans-IO API as the runtime drives it.
//!
//! ```text
//! cargo run --release --example registrar_scale -- [--pes N] [--pools P]
//!     [--assocs A] [--resolutions R] [--policy rr|lu|wrand] [--no-keep-alive]
//!     [--handlespace-only]
//! /usr/bin/time -v target/release/examples/registrar_scale --pes 1000000 --pools 1
//! ```
//!
//! * `--assocs A` associations are reported up first (`TransportEvent::Up`,
//!   verified, each from a host of its own, 10.x.y.z); PE *i* registers
//!   over association *i* mod *A*, so each carries ⌈N / A⌉ PEs. The default
//!   is `HostRegistrar`'s association table, 4,096; with `--assocs` at most
//!   65,536 (the association table is a fixed index map, which holds at
//!   most 65,536 entries). When ⌈N / A⌉ exceeds the configuration's
//!   quotas (256 PEs per association, 1,024 per host: `RegistrarConfig`'s
//!   `max_registrations_per_association` and `max_registrations_per_host`),
//!   the example raises them to ⌈N / A⌉ and says so.
//! * Registration: every PE sends an encoded ASAP_REGISTRATION (pool
//!   `pool-<k>`, PE *k*·(N/P)+*j*, one SCTP user address, the
//!   association's host, registration life 300 s, the chosen policy) to
//!   `Machine::handle` over its association; after each message the
//!   answers are taken out as the runtime does (`peek_transmit` /
//!   `consume_transmit`, then every `poll_event`), and each answer is
//!   checked to be a REGISTRATION_RESPONSE that accepts.
//! * Keep-alive: rsplib's, every 5 s (spread over 2.5-7.5 s), so every
//!   registration sets its PE's timer to a keep-alive time after the
//!   handlespace armed the lifetime; `--no-keep-alive` leaves the lifetime
//!   timer only (`keep_alive_interval = None`). No time passes: no timer
//!   runs out during the run.
//! * Resolution: `--resolutions R` (default 1,000,000) HANDLE_RESOLUTIONs,
//!   each for a pool picked at random, over the associations in turn, with
//!   their answers drained the same way (3 PEs per answer: rsplib's
//!   configuration, `RegistrarConfig::rsplib`).
//! * Time is the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), as in
//!   `hsbench`; messages are encoded outside the timed part, in batches of
//!   4,096.
//! * Bytes per PE: what the heap grew by from before the registrar was
//!   built to after the last registration (counting global allocator, the
//!   boxed registrar included), ÷ N. `--handlespace-only` registers the
//!   same PEs straight into a growable handlespace (no registrar, no
//!   messages), so that the difference is the registrar's own cost.
//! * The process's peak RSS: run it under `/usr/bin/time -v` ("Maximum
//!   resident set size").

use std::alloc::System;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rserpool::addr::{TransportAddress, TransportProtocol, TransportUse};
use rserpool::handlespace::{GrowableHandlespace, Registration};
use rserpool::presets::HostRegistrar;
use rserpool::random::{below, Xoshiro256StarStar};
use rserpool::registrar::{Registrar, RegistrarConfig};
use rserpool::storage::RedBlackTree;
use rserpool::transmit::{Machine, Source, TransportEvent};
use rserpool::wire::{
    asap_flags, asap_type, AsapMessage, PolicyParam, PoolElementParam, Protocol, TransportParam,
    UserTransport,
};
use rserpool::{AssocId, Instant, PeId, Policy, PoolHandle, ServerId};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Registrations encoded ahead of each timed batch.
const BATCH: usize = 4096;
/// Registration life, ms.
const LIFE_MS: i32 = 300_000;
/// The largest association table the registrar can have.
const MAX_ASSOCS: usize = 65_536;

struct Options {
    pes: usize,
    pools: usize,
    assocs: usize,
    resolutions: usize,
    policy: String,
    handlespace_only: bool,
    keep_alive: bool,
}

fn usage_error(msg: &str) -> ! {
    eprintln!("registrar_scale: {msg}");
    eprintln!(
        "usage: registrar_scale [--pes N] [--pools P] [--assocs A] [--resolutions R] \
         [--policy rr|lu|wrand] [--no-keep-alive] [--handlespace-only]"
    );
    std::process::exit(2)
}

fn parse_args() -> Options {
    let mut o = Options {
        pes: 1_000_000,
        pools: 1,
        assocs: HostRegistrar::CAPACITY.associations,
        resolutions: 1_000_000,
        policy: "rr".into(),
        handlespace_only: false,
        keep_alive: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |flag: &str| -> usize {
            let v = args
                .next()
                .unwrap_or_else(|| usage_error(&format!("{flag} needs a value")));
            v.replace(['_', ','], "")
                .parse()
                .unwrap_or_else(|_| usage_error(&format!("{flag}: not a number: {v:?}")))
        };
        match a.as_str() {
            "--pes" => o.pes = number("--pes"),
            "--pools" => o.pools = number("--pools"),
            "--assocs" => o.assocs = number("--assocs"),
            "--resolutions" => o.resolutions = number("--resolutions"),
            "--policy" => {
                o.policy = args
                    .next()
                    .unwrap_or_else(|| usage_error("--policy needs a value"))
                    .to_ascii_lowercase();
                if !["rr", "lu", "wrand"].contains(&o.policy.as_str()) {
                    usage_error("--policy: rr, lu or wrand");
                }
            }
            "--handlespace-only" => o.handlespace_only = true,
            "--no-keep-alive" => o.keep_alive = false,
            "-h" | "--help" => usage_error("options"),
            other => usage_error(&format!("unknown option {other:?}")),
        }
    }
    if o.pes == 0 || o.pools == 0 || o.pools > o.pes {
        usage_error("need 1 ≤ pools ≤ pes");
    }
    if o.pes > u32::MAX as usize - 1 {
        usage_error("--pes: at most 2^32 - 2");
    }
    if o.assocs == 0 || o.assocs > MAX_ASSOCS.min(HostRegistrar::CAPACITY.associations) {
        usage_error(&format!(
            "--assocs: 1 to {} (HostRegistrar's association table)",
            HostRegistrar::CAPACITY.associations
        ));
    }
    o
}

fn cpu_seconds() -> f64 {
    cpu_time::ThreadTime::try_now()
        .map(|t| t.as_duration().as_secs_f64())
        .unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        })
}

/// The remote host of association `a` (0-based): 10.x.y.z, one each.
fn host(a: usize) -> IpAddr {
    let a = a as u32 + 1;
    IpAddr::V4(Ipv4Addr::new(10, (a >> 16) as u8, (a >> 8) as u8, a as u8))
}

fn pool_name(k: usize) -> String {
    format!("pool-{k}")
}

/// PE `i` (0-based): its pool and its identifier (distinct over all PEs).
fn pe_of(o: &Options, i: usize) -> (usize, PeId) {
    let per_pool = o.pes.div_ceil(o.pools);
    let id = PeId::new(i as u32 + 1).expect("non-zero");
    ((i / per_pool).min(o.pools - 1), id)
}

fn policy(o: &Options, i: usize) -> Policy {
    match o.policy.as_str() {
        "lu" => Policy::LeastUsed {
            load: (i as u32).wrapping_mul(2_654_435_761) % 1_000,
        },
        "wrand" => Policy::WeightedRandom {
            weight: 1 + (i as u32).wrapping_mul(2_654_435_761) % 1_000,
        },
        _ => Policy::RoundRobin,
    }
}

/// Appends the ASAP_REGISTRATION of PE `i` to `out`.
fn registration(o: &Options, i: usize, handle: &[u8], out: &mut Vec<u8>) {
    let (_, pe_id) = pe_of(o, i);
    let addrs = [host(i % o.assocs)];
    let m = AsapMessage::Registration {
        pool_handle: handle,
        pool_element: PoolElementParam {
            pe_id,
            home_server: None,
            registration_life: LIFE_MS,
            user_transport: UserTransport::Transport(TransportParam::new(
                TransportProtocol::Sctp,
                9000,
                TransportUse::DataOnly,
                &addrs,
            )),
            policy: PolicyParam::Known(policy(o, i)),
            asap_transport: None,
        },
    };
    let at = out.len();
    out.resize(at + m.buffer_len(), 0);
    m.emit(&mut out[at..]).expect("sized");
}

/// Takes out everything the registrar wants sent and its events, as the
/// runtime does, counting the answers and the accepting
/// REGISTRATION_RESPONSEs.
fn drain(r: &mut HostRegistrar, answers: &mut u64, accepted: &mut u64) {
    while let Some((_, bytes)) = r.peek_transmit() {
        *answers += 1;
        if bytes.first() == Some(&asap_type::REGISTRATION_RESPONSE)
            && bytes.get(1).is_some_and(|f| f & asap_flags::REJECT == 0)
        {
            *accepted += 1;
        }
        r.consume_transmit();
    }
    while let Some(e) = r.poll_event() {
        std::hint::black_box(e);
    }
}

fn net_bytes(region: &Region<System>) -> i64 {
    let s = region.change();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

fn run_handlespace_only(o: &Options, handles: &[PoolHandle]) {
    let region = Region::new(GLOBAL);
    let mut hs: Box<GrowableHandlespace<RedBlackTree>> = Box::new(GrowableHandlespace::new());
    let now = Instant::from_secs(1);
    let t0 = cpu_seconds();
    for i in 0..o.pes {
        let (pool, pe_id) = pe_of(o, i);
        let addrs = [host(i % o.assocs)];
        let user = TransportAddress {
            protocol: TransportProtocol::Sctp,
            port: 9000,
            transport_use: TransportUse::DataOnly,
            service_code: 0,
            addresses: &addrs,
        };
        let asap = TransportAddress { port: 3863, ..user };
        let reg = Registration {
            pool_handle: handles[pool],
            pe_id,
            home_registrar: ServerId::new(1).ok(),
            registration_life: LIFE_MS,
            user_transport: user,
            policy: policy(o, i),
            asap_transport: Some(asap),
            assoc: AssocId((i % o.assocs) as u32 + 1),
        };
        hs.register(now, &reg).expect("registers");
    }
    let secs = cpu_seconds() - t0;
    let bytes = net_bytes(&region);
    assert_eq!(hs.len(), o.pes);
    println!(
        "handlespace only: {} PEs in {} pools: register {:.0}/s, {:.1} bytes per PE",
        o.pes,
        o.pools,
        o.pes as f64 / secs,
        bytes as f64 / o.pes as f64
    );
}

fn main() {
    let o = parse_args();
    let handles: Vec<PoolHandle> = (0..o.pools)
        .map(|k| PoolHandle::new(pool_name(k).as_bytes()).expect("short"))
        .collect();
    if o.handlespace_only {
        run_handlespace_only(&o, &handles);
        return;
    }
    let per_assoc = o.pes.div_ceil(o.assocs) as u32;
    let mut config = RegistrarConfig::rsplib(ServerId::new(1).expect("non-zero"));
    config.announce = false;
    if !o.keep_alive {
        config.keep_alive_interval = None;
    }
    if config
        .max_registrations_per_association
        .is_some_and(|m| m < per_assoc)
    {
        println!("raising max_registrations_per_association to {per_assoc}");
        config.max_registrations_per_association = Some(per_assoc);
    }
    if config
        .max_registrations_per_host
        .is_some_and(|m| m < per_assoc)
    {
        println!("raising max_registrations_per_host to {per_assoc}");
        config.max_registrations_per_host = Some(per_assoc);
    }
    let now = Instant::from_secs(1);

    // Reused buffers, allocated before the counted region.
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH * 64);
    let mut ends: Vec<usize> = Vec::with_capacity(BATCH);

    let region = Region::new(GLOBAL);
    let mut r: Box<HostRegistrar> = Box::new(Registrar::new(config));
    for a in 0..o.assocs {
        r.handle_transport_event(
            now,
            TransportEvent::Up {
                assoc: AssocId(a as u32 + 1),
                remote: SocketAddr::new(host(a), 3863),
                protocol: Protocol::Asap,
                verified: true,
            },
        );
    }
    let (mut answers, mut accepted) = (0u64, 0u64);
    drain(&mut r, &mut answers, &mut accepted);

    let mut secs = 0.0;
    let mut i = 0;
    while i < o.pes {
        let end = (i + BATCH).min(o.pes);
        batch.clear();
        ends.clear();
        for j in i..end {
            let (pool, _) = pe_of(&o, j);
            registration(&o, j, handles[pool].as_bytes(), &mut batch);
            ends.push(batch.len());
        }
        let t0 = cpu_seconds();
        let mut start = 0;
        for (k, &stop) in ends.iter().enumerate() {
            let assoc = AssocId(((i + k) % o.assocs) as u32 + 1);
            r.handle(
                now,
                Source::Association(assoc),
                Protocol::Asap,
                &batch[start..stop],
            );
            drain(&mut r, &mut answers, &mut accepted);
            start = stop;
        }
        secs += cpu_seconds() - t0;
        i = end;
    }
    let bytes = net_bytes(&region);
    if accepted != o.pes as u64 || r.handlespace().len() != o.pes {
        eprintln!(
            "registrar_scale: {} of {} registrations accepted ({} answers, {} PEs; stats {:?})",
            accepted,
            o.pes,
            answers,
            r.handlespace().len(),
            r.stats().rejections
        );
        std::process::exit(1);
    }
    println!(
        "registrar: {} PEs in {} pools over {} associations ({} policy, keep-alive {})",
        o.pes,
        o.pools,
        o.assocs,
        o.policy,
        if o.keep_alive { "5 s" } else { "off" }
    );
    println!("register: {:.0}/s ({:.3} s CPU)", o.pes as f64 / secs, secs);
    println!(
        "heap: {:.1} MB, {:.1} bytes per PE (whole registrar, boxed value included)",
        bytes as f64 / 1e6,
        bytes as f64 / o.pes as f64
    );

    // Resolutions.
    let resolutions: Vec<Vec<u8>> = handles
        .iter()
        .map(|h| {
            let m = AsapMessage::HandleResolution {
                subscribe: false,
                pool_handle: h.as_bytes(),
                items: None,
            };
            let mut b = vec![0; m.buffer_len()];
            m.emit(&mut b).expect("sized");
            b
        })
        .collect();
    let picks: Vec<u32> = {
        let mut rng = Xoshiro256StarStar::seed_from_u64(7);
        (0..o.resolutions.min(BATCH))
            .map(|_| below(&mut rng, o.pools as u64) as u32)
            .collect()
    };
    let (mut answers, mut responses) = (0u64, 0u64);
    let t0 = cpu_seconds();
    for n in 0..o.resolutions {
        let pool = picks[n % picks.len()] as usize;
        let assoc = AssocId((n % o.assocs) as u32 + 1);
        r.handle(
            now,
            Source::Association(assoc),
            Protocol::Asap,
            &resolutions[pool],
        );
        while let Some((_, bytes)) = r.peek_transmit() {
            answers += 1;
            if bytes.first() == Some(&asap_type::HANDLE_RESOLUTION_RESPONSE) {
                responses += 1;
            }
            r.consume_transmit();
        }
        while let Some(e) = r.poll_event() {
            std::hint::black_box(e);
        }
    }
    let secs = cpu_seconds() - t0;
    if responses != o.resolutions as u64 {
        eprintln!(
            "registrar_scale: {responses} of {} resolutions answered ({answers} answers)",
            o.resolutions
        );
        std::process::exit(1);
    }
    if o.resolutions > 0 {
        println!(
            "resolve: {:.0}/s ({:.3} s CPU)",
            o.resolutions as f64 / secs,
            secs
        );
    }
}
