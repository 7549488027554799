//! A whole pool on loopback, failing over: 2 registrars, 3 pool elements
//! (rsplib's echo service, with COOKIEs) and 1 pool user, all over UDP on
//! 127.0.0.1 with ephemeral ports. The pool user sends generated messages
//! of random sizes (`--sizes MIN-MAX` bytes, default 1-1000) through the
//! session layer, on one session at a time (a new one every 50 messages) and checks every answer byte for
//! byte. Midway registrar 1 is killed, later the pool element the session
//! is on; the session fails over (COOKIE_ECHO, unanswered messages sent again) and no
//! message is lost. Ends with one line:
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

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rserpool::host::services::DelayedEcho;
use rserpool::host::{LoadConfig, LoadGenerator};
use rserpool::runtime::blocking::{AppNode, PoolElementNode, RegistrarNode};
use rserpool::runtime::{loopback, NodeConfig};
use rserpool::session::user::SessionState;
use rserpool::session::{ResendPolicy, SessionUserConfig};
use rserpool::transport::sctp::{SctpConfig, SctpKind, SCTP_UDP_ENCAPSULATION_PORT};
use rserpool::{PoolHandle, ServerId};

const RATE_PER_SECOND: u64 = 20;
const KILL_REGISTRAR_AT: Duration = Duration::from_secs(5);
// In the middle of a session (a new one every 2.5 s).
const KILL_ELEMENT_AT: Duration = Duration::from_millis(11_250);
const RUN_FOR: Duration = Duration::from_secs(15);
const DRAIN_FOR: Duration = Duration::from_secs(5);

const USAGE: &str = "usage: demo [--sizes MIN-MAX] [--pcap DIR] [--transport udp|usrsctp|kernel-sctp] [--udp-encaps-port N]";

/// Unanswered messages per session (and messages sent again after a
/// failover).
const WINDOW: usize = 16;

/// How the demo's nodes are set up.
struct Setup {
    pcap: Option<PathBuf>,
    sctp: Option<(SctpKind, SctpConfig)>,
    sizes: (usize, usize),
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
        sizes: (1, 1000),
    };
    let mut kind = None;
    let mut port = SCTP_UDP_ENCAPSULATION_PORT;
    let mut port_given = false;
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--pcap", Some(dir)) => setup.pcap = Some(PathBuf::from(dir)),
            ("--sizes", Some(v)) => match parse_sizes(&v) {
                Some(sizes) => setup.sizes = sizes,
                None => {
                    eprintln!("--sizes: MIN-MAX with 1 <= MIN <= MAX <= 60000, not {v:?}");
                    return ExitCode::from(2);
                }
            },
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

/// `MIN-MAX` (or one size).
fn parse_sizes(v: &str) -> Option<(usize, usize)> {
    let (a, b) = v.split_once('-').unwrap_or((v, v));
    let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (1 <= a && a <= b && b <= 60_000).then_some((a, b))
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
            // rsplib's echo, with a COOKIE every 5 messages of a session.
            Box::new(DelayedEcho::new(rserpool::Duration::ZERO, 5)),
        )?;
        println!(
            "pool element {} serves on {}",
            pe.pe_id().get(),
            pe.local_addr()
        );
        elements.push(Some(pe));
    }
    // Let the PEs register and the registrars exchange their handlespaces.
    std::thread::sleep(Duration::from_millis(1500));

    let mut su = SessionUserConfig::new(loopback::user(&[a, b], 99));
    su.resend = ResendPolicy::LastUnacknowledged(WINDOW as u16);
    su.retry_interval = rserpool::Duration::from_millis(200);
    let load = LoadConfig {
        interval: Some(rserpool::Duration::from_millis(1000 / RATE_PER_SECOND)),
        sizes: setup.sizes,
        timeout: rserpool::Duration::from_millis(500),
        window: WINDOW,
        // One session at a time (a node runs on one socket, and two sessions
        // to one PE would share its one association), a new one every 50
        // messages (a fresh selection, resolving at the home registrar).
        sessions: 1,
        session_requests: 50,
        retry_interval: rserpool::Duration::from_millis(200),
        ..LoadConfig::new(pool)
    };
    let user = AppNode::start(su, setup.node("user"), LoadGenerator::new(load))?;
    let start = Instant::now();
    let mut element_killed = false;
    while start.elapsed() < RUN_FOR {
        if start.elapsed() >= KILL_REGISTRAR_AT {
            if let Some(r) = registrars[0].take() {
                println!(
                    "{:>5.1} s: killing registrar 1",
                    start.elapsed().as_secs_f64()
                );
                r.shutdown();
            }
        }
        if start.elapsed() >= KILL_ELEMENT_AT && !element_killed {
            // The PE the session is on (its home registrar is gone: the
            // failover resolves at registrar 2).
            let on = user
                .with_app(|app, ctx| {
                    app.current_sessions().find_map(|s| match ctx.state(s) {
                        Some(SessionState::Connected { pe, .. }) => Some(pe),
                        _ => None,
                    })
                })
                .flatten();
            let slot = elements
                .iter()
                .position(|e| e.as_ref().is_some_and(|pe| Some(pe.pe_id()) == on));
            if let Some(pe) = slot.and_then(|i| elements[i].take()) {
                println!(
                    "{:>5.1} s: killing pool element {}, which the session is on",
                    start.elapsed().as_secs_f64(),
                    pe.pe_id().get()
                );
                pe.stop();
                element_killed = true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // No new messages; wait (a little) for the answers still on their way.
    user.with_app(|app, _| app.stop());
    let drain = Instant::now();
    while drain.elapsed() < DRAIN_FOR {
        if user.with_app(|app, _| app.outstanding()) == Some(0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (requests, served, failovers, duplicates, mismatches) = user
        .with_app(|app, _| {
            (
                app.issued,
                app.served,
                app.failovers,
                app.duplicates,
                app.mismatches,
            )
        })
        .ok_or("the pool user stopped")?;
    for pe in elements.iter().flatten() {
        println!(
            "pool element {} answered {} messages",
            pe.pe_id().get(),
            pe.served()
        );
    }
    let echoes: u64 = elements.iter().flatten().map(|pe| pe.cookie_echoes()).sum();
    println!("COOKIE_ECHOs received by the surviving pool elements: {echoes}");
    println!(
        "answers checked byte for byte: {served} (sizes {}-{} bytes), wrong: {mismatches}, \
         unexpected: {duplicates}",
        setup.sizes.0, setup.sizes.1
    );
    let lost = requests - served;
    println!("demo: requests={requests} served={served} failovers={failovers} lost={lost}");
    Ok(lost + mismatches)
}
