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

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rserpool::runtime::{loopback, NodeConfig, PoolElementNode, PoolUserNode, RegistrarNode};
use rserpool::{PoolHandle, ServerId};

const RATE_PER_SECOND: u64 = 20;
const KILL_ELEMENT_AT: Duration = Duration::from_secs(5);
const KILL_REGISTRAR_AT: Duration = Duration::from_secs(10);
const RUN_FOR: Duration = Duration::from_secs(15);

fn node(name: &str, pcap: &Option<PathBuf>) -> NodeConfig {
    let mut c = NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    c.name = name.to_string();
    c.capture = pcap.as_ref().map(|dir| dir.join(format!("{name}.pcap")));
    c
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut pcap = None;
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--pcap", Some(dir)) => pcap = Some(PathBuf::from(dir)),
            _ => {
                eprintln!("usage: demo [--pcap DIR]");
                return ExitCode::from(2);
            }
        }
    }
    match run(&pcap) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(pcap: &Option<PathBuf>) -> Result<u64, Box<dyn std::error::Error>> {
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
        let r = RegistrarNode::start(config, node(&format!("registrar{i}"), pcap))?;
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
            node(&format!("element{i}"), pcap),
            5,
            Box::new(|request: &[u8]| request.to_vec()),
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
        node("user", pcap),
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
