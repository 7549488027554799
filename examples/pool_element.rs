//! Runs a pool element with one of rsplib's standard services (echo by
//! default, discard, daytime, chargen, pingpong, calcapp), registered with a registrar over UDP (or
//! SCTP: `--transport usrsctp` or `kernel-sctp`). Like rsplib's
//! `rspserver -echo`, it takes user messages raw with any PPID and echoes
//! each one on its session with the same PPID, so rsplib's clients
//! (`rspterminal`) work with it.
//!
//! ```text
//! cargo run --example pool_element -- --registrar 127.0.0.1:3863 --pool echo --policy wrr:3
//! ```
//!
//! rsplib's CalcApp (`rspserver -calcapp`): jobs share `--capacity`
//! calculations/s, at most `--max-jobs` at once; a line per job and a
//! summary at the end:
//!
//! ```text
//! cargo run --example pool_element -- --registrar 127.0.0.1:3863 --pool CalcAppPool \
//!     --service calcapp --capacity 1000000 --max-jobs 4 --policy lu
//! ```
//!
//! Over TLS to its registrars (`--features tls`; mutual: the PE presents
//! its certificate and verifies the registrar's):
//!
//! ```text
//! cargo run --features tls --example pool_element -- --registrar 10.0.0.1:3864 \
//!     --tls-ca ca.pem --tls-cert pe.pem --tls-key pe.key
//! ```

#[path = "common/args.rs"]
mod args;
#[path = "common/calcapp.rs"]
mod calcapp;

use std::net::SocketAddr;

use std::time::{SystemTime, UNIX_EPOCH};

use args::{Args, Profile};
use rserpool::host::services::{CharGen, Daytime, DelayedEcho, Discard, Echo, PingPong};
use rserpool::host::Service;
use rserpool::pool_element::{Event, PoolElementConfig};
use rserpool::runtime::blocking::PoolElementNode;
use rserpool::runtime::{loopback, ElementEvent, NodeConfig};
use rserpool::PoolHandle;

const USAGE: &str = "usage: pool_element --registrar ADDR...|--announce GROUP:PORT [--pool HANDLE] [--policy NAME[:P,..]]
                    [--listen ADDR] [--profile rfc|rsplib|loopback] [--pcap FILE] [--seconds N]
  --registrar ADDR  a registrar's ASAP address (repeatable)
  --trust-registrar IP  a further registrar host that may take this PE over
                    (keep-alive with the H flag) without being asked (repeatable;
                    configured and announced registrars are trusted already)
  --announce GROUP:PORT  find registrars by their SERVER_ANNOUNCE there
                    (IPv4, e.g. 239.0.0.50:3863, or IPv6, e.g. [ff05::50]:3863)
  --interface IF    the multicast interface: address (IPv4), name or index (IPv6)
  --pool HANDLE     the pool handle (default echo)
  --policy          rr, wrr:W, rand, wrand:W, prio:P, lu:L, lud:L,D, ... (default rr)
  --listen ADDR     where pool users reach it (default 127.0.0.1:0; [::1]:0 with an IPv6 --announce)
  --service NAME    echo (default), discard, daytime, chargen, pingpong or calcapp (rsplib's services)
  --capacity N      calcapp: calculations per second, shared by the jobs (default 1000000)
  --max-jobs N      calcapp: jobs at once; one more is rejected (default 10)
  --cookie-every N  echo: send a cookie every N messages of a session (default 0: never)
  --pcap FILE       write the ASAP traffic to FILE
  --transport       udp (default), usrsctp or kernel-sctp";

fn main() {
    let usage = format!(
        "{USAGE}\n{}\n{}\n{}",
        args::SCTP_USAGE,
        args::TLS_USAGE,
        args::NODE_USAGE
    );
    let args = Args::parse(&usage);
    let mut known = args::SCTP_FLAGS.to_vec();
    known.extend(args::NODE_FLAGS);
    known.extend(args::TLS_FLAGS);
    known.extend([
        "--registrar",
        "--trust-registrar",
        "--announce",
        "--interface",
        "--pool",
        "--policy",
        "--listen",
        "--profile",
        "--cookie-every",
        "--service",
        "--capacity",
        "--max-jobs",
        "--pcap",
        "--seconds",
        "--transport",
    ]);
    args.only(&known);
    if args.transport() == args::Transport::Tcp {
        args::fail("--transport tcp: only pool users reach registrars over TCP");
    }
    let registrars = args.addrs("--registrar");
    let trusted = args.ips("--trust-registrar");
    if trusted.len() > rserpool::asap_client::MAX_REGISTRARS {
        args::fail("--trust-registrar: too many");
    }
    let announce = args.multicast("--announce");
    if registrars.is_empty() && announce.is_none() {
        args::fail(USAGE);
    }
    let pool = PoolHandle::new(args.get("--pool").unwrap_or("echo").as_bytes())
        .unwrap_or_else(|_| args::fail("--pool: 1 to 32 bytes"));
    let seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    let mut config = loopback::element(pool, &registrars, seed);
    match args.profile() {
        Profile::Loopback => {}
        p => {
            let base = if p == Profile::Rfc {
                PoolElementConfig::rfc(pool, config.user_transport.clone())
            } else {
                PoolElementConfig::rsplib(pool, config.user_transport.clone())
            };
            config = PoolElementConfig {
                registrars: config.registrars,
                seed,
                ..base
            };
        }
    }
    config.trusted_registrars.extend(trusted);
    config.policy = args.policy();
    let listen: SocketAddr = args
        .get("--listen")
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| args::fail("--listen: bad address"))
        })
        .unwrap_or_else(|| args.default_bind(SocketAddr::from(([127, 0, 0, 1], 0))));
    let mut node = NodeConfig::new(listen);
    node.capture = args.pcap();
    node.asap_multicast = announce;
    node.name = "pool element".into();
    args.apply_sctp(&mut node);
    args.apply_csp(&mut node);
    // Over TLS the PE authenticates with its certificate (mutual TLS).
    args.apply_tls(&mut node, true);
    let cookie_every: u32 = args.num("--cookie-every", 0);
    let capacity: f64 = args.num("--capacity", 1_000_000.0);
    if !(capacity.is_finite() && capacity >= 1.0) {
        args::fail("--capacity: at least 1 calculation per second");
    }
    let max_jobs: usize = args.num("--max-jobs", 10);
    if !(1..=rserpool::host::calcapp::MAX_JOBS_LIMIT).contains(&max_jobs) {
        args::fail("--max-jobs: 1 to 65536");
    }
    let mut calcapp_stats = None;
    let service: Box<dyn Service + Send> = match args.get("--service").unwrap_or("echo") {
        "calcapp" => {
            let (service, stats) = calcapp::element_service(capacity, max_jobs, true);
            calcapp_stats = Some(stats);
            Box::new(service)
        }
        "echo" if cookie_every == 0 => Box::new(Echo),
        "echo" => Box::new(DelayedEcho::new(rserpool::Duration::ZERO, cookie_every)),
        "discard" => Box::new(Discard::default()),
        "chargen" => Box::new(CharGen::default()),
        "pingpong" => Box::new(PingPong::default()),
        "daytime" => Box::new(Daytime::new(Box::new(|_| daytime(SystemTime::now())))),
        other => args::fail(&format!(
            "--service: echo, discard, daytime, chargen, pingpong or calcapp, not {other:?}"
        )),
    };
    let mut pe = PoolElementNode::start(config, node, service)
        .unwrap_or_else(|e| args::fail(&format!("pool element: {e}")));
    println!(
        "pool element {} of pool {:?} serves on {}",
        pe.pe_id().get(),
        String::from_utf8_lossy(pool.as_bytes()),
        pe.local_addr()
    );
    let started = std::time::Instant::now();
    let mut last = (0, 0);
    args::run_for(&args, |_| {
        while let Some(event) = pe.try_event() {
            report(&pe, &event);
        }
        let now = (pe.registrations(), pe.served());
        if now != last {
            println!("registrations={} served={}", now.0, now.1);
            last = now;
        }
    });
    while let Some(event) = pe.try_event() {
        report(&pe, &event);
    }
    if let Some(stats) = &calcapp_stats {
        println!(
            "{}",
            calcapp::element_summary(stats, capacity, started.elapsed())
        );
    }
    // The graceful stop (end of --seconds, SIGINT, SIGTERM): deregister.
    let id = pe.pe_id().get();
    let lost = args::capture_lost(pe.counters());
    match pe.shutdown(std::time::Duration::from_secs(5)) {
        Ok(()) => println!("pool element {id}: deregistered"),
        Err(e) => println!("pool element {id}: {e}"),
    }
    if lost {
        std::process::exit(1);
    }
}

/// Prints what the application should know of the node's events.
fn report(pe: &PoolElementNode, event: &ElementEvent) {
    let id = pe.pe_id().get();
    let event = match event {
        ElementEvent::Element(e) => e,
        ElementEvent::SessionOpened { session, remote } => {
            return println!("pool element {id}: session {session:?} opened by {remote}");
        }
        ElementEvent::SessionClosed { session, reason } => {
            return println!("pool element {id}: session {session:?} closed: {reason:?}");
        }
        ElementEvent::SessionRefused { remote } => {
            return println!("pool element {id}: session from {remote} refused (all slots taken)");
        }
        _ => return,
    };
    match event {
        Event::Registered { home } => println!(
            "pool element {id}: registered at {}",
            home.remote
                .map_or_else(|| "a registrar".into(), |a| a.to_string())
        ),
        Event::RegistrationFailed { cause, retry_at } => {
            let why = cause.map_or_else(|| "not answered".into(), |c| format!("rejected: {c}"));
            match retry_at {
                Some(_) => println!("pool element {id}: registration {why}; trying again"),
                None => println!("pool element {id}: registration {why}; giving up"),
            }
        }
        Event::RegistrationLost => {
            println!("pool element {id}: registration lost, registering again")
        }
        Event::HomeChanged { home } => println!(
            "pool element {id}: home registrar {}",
            home.remote
                .map_or_else(|| "(taken over)".into(), |a| a.to_string())
        ),
        Event::HomeLost { .. } => println!("pool element {id}: home registrar lost"),
        Event::CookieEcho { .. } => println!("pool element {id}: a pool user failed over to it"),
        Event::Deregistered => println!("pool element {id}: deregistered"),
        _ => {}
    }
}

/// The time as rsplib's daytime service writes it (`strftime("%A,
/// %d-%B-%Y %H:%M:%S")` and microseconds), in UTC.
fn daytime(t: SystemTime) -> String {
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02}-{}-{} {:02}:{:02}:{:02}.{:06}\n",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}
