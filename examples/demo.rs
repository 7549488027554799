//! A whole pool on loopback, failing over: 2 registrars, 3 pool elements
//! (an echo service) and 1 pool user, all over UDP on 127.0.0.1 with
//! ephemeral ports. Midway one pool element is killed, later one
//! registrar; the pool user's requests fail over and none is lost. Ends
//! with one line:
//!
//! ```text
//! demo: requests=R served=S failovers=F lost=0
//! ```
//!
//! The registrars are ENRP peers and share their handlespace; two PEs
//! register with registrar 1, one with registrar 2, and each knows both
//! (when its home is gone it registers with the other). The pool user
//! knows both registrars too.
//!
//! `cargo run --release --example demo` (about 15 s). `--pcap DIR` writes
//! one capture per node into DIR.
//!
//! `--transport usrsctp` runs the same pool over SCTP (usrsctp, SCTP over
//! UDP encapsulation; build with `--features usrsctp`), all nodes sharing
//! the process's UDP encapsulation port (`--udp-encaps-port N`, default
//! 9899); `--transport kernel-sctp` over the kernel's SCTP (`--features
//! sctp-kernel`, a kernel with SCTP).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rserpool::runtime::{loopback, NodeConfig, PoolElementNode, PoolUserNode, RegistrarNode};
use rserpool::transport::sctp::{SctpConfig, SctpKind, SCTP_UDP_ENCAPSULATION_PORT};
use rserpool::{PoolHandle, ServerId};

const RATE_PER_SECOND: u64 = 20;
const KILL_ELEMENT_AT: Duration = Duration::from_secs(5);
const KILL_REGISTRAR_AT: Duration = Duration::from_secs(10);
const RUN_FOR: Duration = Duration::from_secs(15);

const USAGE: &str =
    "usage: demo [--pcap DIR] [--transport udp|usrsctp|kernel-sctp] [--udp-encaps-port N]";

/// How the demo's nodes are set up.
struct Setup {
    pcap: Option<PathBuf>,
    sctp: Option<(SctpKind, SctpConfig)>,
}

impl Setup {
    fn node(&self, name: &str) -> NodeConfig {
        let mut c = NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.name = name.to_string();
        c.capture = self
            .pcap
            .as_ref()
            .map(|dir| dir.join(format!("{name}.pcap")));
        if let Some((kind, config)) = self.sctp {
            c.sctp = Some(kind);
            c.sctp_config = config;
        }
        c
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut setup = Setup {
        pcap: None,
        sctp: None,
    };
    let mut kind = None;
    let mut port = SCTP_UDP_ENCAPSULATION_PORT;
    let mut port_given = false;
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--pcap", Some(dir)) => setup.pcap = Some(PathBuf::from(dir)),
            ("--transport", Some(t)) => match t.as_str() {
                "udp" => kind = None,
                "usrsctp" => kind = Some((SctpKind::Usrsctp, "usrsctp")),
                "kernel-sctp" => kind = Some((SctpKind::Kernel, "sctp-kernel")),
                _ => {
                    eprintln!("--transport: udp, usrsctp or kernel-sctp, not {t:?}\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            ("--udp-encaps-port", Some(p)) => match p.parse() {
                Ok(p) => {
                    port = p;
                    port_given = true;
                }
                Err(_) => {
                    eprintln!("--udp-encaps-port: not a port: {p:?}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some((kind, feature)) = kind {
        if !kind.available() {
            eprintln!(
                "demo: this build lacks that SCTP; run it with --features {feature}, e.g.\n  \
                 cargo run --release --features {feature} --example demo -- --transport {}",
                if kind == SctpKind::Usrsctp {
                    "usrsctp"
                } else {
                    "kernel-sctp"
                }
            );
            return ExitCode::from(2);
        }
        let config = SctpConfig {
            udp_encapsulation_port: port,
            remote_udp_encapsulation_port: port,
            ..SctpConfig::default()
        };
        setup.sctp = Some((kind, config));
    } else if port_given {
        eprintln!("--udp-encaps-port: only with --transport usrsctp");
        return ExitCode::from(2);
    }
    match run(&setup) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(setup: &Setup) -> Result<u64, Box<dyn std::error::Error>> {
    let pool = PoolHandle::new(b"echo")?;
    let mut registrars: Vec<Option<RegistrarNode>> = Vec::new();
    for i in 1..=2 {
        // Registrar 2 has registrar 1 as its ENRP peer (and mentor).
        let peers: Vec<SocketAddr> = registrars
            .iter()
            .flatten()
            .filter_map(|r| r.enrp_addr())
            .collect();
        let mut config = loopback::registrar(ServerId::new(i)?);
        config.enrp = loopback::enrp(&peers);
        let r = RegistrarNode::start(config, setup.node(&format!("registrar{i}")))?;
        println!(
            "registrar {i} listens on {} (ASAP), {} (ENRP)",
            r.local_addr(),
            r.enrp_addr().ok_or("no ENRP socket")?
        );
        registrars.push(Some(r));
    }
    let a = registrars[0]
        .as_ref()
        .map(|r| r.local_addr())
        .ok_or("no registrar")?;
    let b = registrars[1]
        .as_ref()
        .map(|r| r.local_addr())
        .ok_or("no registrar")?;
    let mut elements = Vec::new();
    for i in 1..=3u64 {
        // Two PEs prefer registrar 1, one prefers registrar 2.
        let list = if i == 3 { [b, a] } else { [a, b] };
        let pe = PoolElementNode::start(
            loopback::element(pool, &list, i),
            setup.node(&format!("element{i}")),
            Box::new(rserpool::host::services::DelayedEcho::new(
                rserpool::Duration::ZERO,
                5,
            )),
        )?;
        println!(
            "pool element {} serves on {}",
            pe.pe_id().get(),
            pe.local_addr()
        );
        elements.push(Some(pe));
    }
    let user = PoolUserNode::start(
        loopback::user(&[a, b], 99),
        setup.node("user"),
        rserpool::Duration::from_millis(500),
    )?;
    // Let the PEs register and the registrars exchange their handlespaces.
    std::thread::sleep(Duration::from_millis(1500));

    let start = Instant::now();
    let interval = Duration::from_millis(1000 / RATE_PER_SECOND);
    let (mut requests, mut served) = (0u64, 0u64);
    let mut by_element: BTreeMap<u32, u64> = BTreeMap::new();
    let mut next = start;
    while start.elapsed() < RUN_FOR {
        if start.elapsed() >= KILL_ELEMENT_AT {
            if let Some(pe) = elements[0].take() {
                println!(
                    "{:>5.1} s: killing pool element {}",
                    start.elapsed().as_secs_f64(),
                    pe.pe_id().get()
                );
                pe.shutdown();
            }
        }
        if start.elapsed() >= KILL_REGISTRAR_AT {
            if let Some(r) = registrars[0].take() {
                println!(
                    "{:>5.1} s: killing registrar 1",
                    start.elapsed().as_secs_f64()
                );
                r.shutdown();
            }
        }
        requests += 1;
        let body = requests.to_be_bytes();
        let sent = Instant::now();
        let answer = user.request(&pool, &body, Duration::from_secs(10));
        let took = sent.elapsed();
        if took > Duration::from_millis(200) {
            println!(
                "{:>5.1} s: request {requests} took {} ms",
                start.elapsed().as_secs_f64(),
                took.as_millis()
            );
        }
        match answer {
            Ok((pe, reply)) if reply == body => {
                served += 1;
                *by_element.entry(pe.get()).or_default() += 1;
            }
            Ok((pe, _)) => eprintln!("request {requests}: wrong answer from {}", pe.get()),
            Err(e) => eprintln!("request {requests}: {e}"),
        }
        next += interval;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    for (pe, n) in &by_element {
        println!("pool element {pe} answered {n} requests");
    }
    let echoes: u64 = elements.iter().flatten().map(|pe| pe.cookie_echoes()).sum();
    println!("COOKIE_ECHOs received by the surviving pool elements: {echoes}");
    let failovers = user.failovers();
    let lost = requests - served;
    println!("demo: requests={requests} served={served} failovers={failovers} lost={lost}");
    Ok(lost)
}
