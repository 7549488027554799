//! Runs a pool element with an echo service, registered with a registrar
//! over UDP (or SCTP: `--transport usrsctp` or `kernel-sctp`).
//!
//! ```text
//! cargo run --example pool_element -- --registrar 127.0.0.1:3863 --pool echo --policy wrr:3
//! ```

#[path = "common/args.rs"]
mod args;

use std::net::SocketAddr;

use args::{Args, Profile};
use rserpool::pool_element::{Event, PoolElementConfig};
use rserpool::runtime::{loopback, NodeConfig, PoolElementNode};
use rserpool::PoolHandle;

const USAGE: &str = "usage: pool_element --registrar ADDR...|--announce GROUP:PORT [--pool HANDLE] [--policy NAME[:P,..]]
                    [--listen ADDR] [--profile rfc|rsplib|loopback] [--pcap FILE] [--seconds N]
  --registrar ADDR  a registrar's ASAP address (repeatable)
  --announce GROUP:PORT  find registrars by their SERVER_ANNOUNCE there
                    (IPv4, e.g. 239.0.0.50:3863, or IPv6, e.g. [ff05::50]:3863)
  --interface IF    the multicast interface: address (IPv4), name or index (IPv6)
  --pool HANDLE     the pool handle (default echo)
  --policy          rr, wrr:W, rand, wrand:W, prio:P, lu:L, lud:L,D, ... (default rr)
  --listen ADDR     where pool users reach it (default 127.0.0.1:0; [::1]:0 with an IPv6 --announce)
  --cookie-every N  send a cookie to a pool user every N answers (default 0: never)
  --pcap FILE       write the ASAP traffic to FILE
  --transport       udp (default), usrsctp or kernel-sctp";

fn main() {
    let usage = format!("{USAGE}\n{}", args::SCTP_USAGE);
    let args = Args::parse(&usage);
    let mut known = args::SCTP_FLAGS.to_vec();
    known.extend([
        "--registrar",
        "--announce",
        "--interface",
        "--pool",
        "--policy",
        "--listen",
        "--profile",
        "--cookie-every",
        "--pcap",
        "--seconds",
        "--transport",
    ]);
    args.only(&known);
    if args.transport() == args::Transport::Tcp {
        args::fail("--transport tcp: only pool users reach registrars over TCP");
    }
    let registrars = args.addrs("--registrar");
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
    let pe = PoolElementNode::start(
        config,
        node,
        args.num("--cookie-every", 0),
        Box::new(|request: &[u8]| request.to_vec()),
    )
    .unwrap_or_else(|e| args::fail(&format!("pool element: {e}")));
    println!(
        "pool element {} of pool {:?} serves on {}",
        pe.pe_id().get(),
        String::from_utf8_lossy(pool.as_bytes()),
        pe.local_addr()
    );
    let mut last = (0, 0);
    args::run_for(&args, |_| {
        for event in pe.events().try_iter() {
            report(&pe, &event);
        }
        let now = (pe.registrations(), pe.served());
        if now != last {
            println!("registrations={} served={}", now.0, now.1);
            last = now;
        }
    });
    for event in pe.events().try_iter() {
        report(&pe, &event);
    }
    // The graceful stop (end of --seconds, SIGINT, SIGTERM): deregister.
    let id = pe.pe_id().get();
    match pe.deregister(std::time::Duration::from_secs(5)) {
        Ok(()) => println!("pool element {id}: deregistered"),
        Err(e) => println!("pool element {id}: {e}"),
    }
}

/// Prints what the application should know of the machine's events.
fn report(pe: &PoolElementNode, event: &Event) {
    let id = pe.pe_id().get();
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
        _ => {}
    }
}
