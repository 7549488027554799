//! Runs a registrar: ASAP over UDP (or SCTP, `--transport usrsctp` or
//! `kernel-sctp`) on the given addresses.
//!
//! ```text
//! cargo run --example registrar -- --listen 127.0.0.1:3863 --profile rsplib --pcap registrar.pcap
//! ```
//!
//! Prints the PEs of its handlespace whenever they change. With `--peer`
//! it speaks ENRP with the given peer registrars:
//!
//! ```text
//! cargo run --example registrar -- --listen 127.0.0.1:3863 --enrp 127.0.0.1:9901 --peer 127.0.0.1:9902
//! ```
//!
//! Announcing on IPv6 groups (pool elements and users then find it with
//! `--announce '[ff05::50]:3863' --interface eth0`):
//!
//! ```text
//! cargo run --example registrar -- --listen '[fd00::2]:3863' \
//!     --announce '[ff05::50]:3863' --enrp-multicast '[ff05::51]:9901' --interface eth0
//! ```
//!
//! Over TLS 1.3 (built with `--features tls`; ASAP on 3864 and ENRP on
//! 9902 by default, pool elements and peers authenticated by certificate):
//!
//! ```text
//! cargo run --features tls --example registrar -- --listen 10.0.0.1:3864 \
//!     --tls-ca ca.pem --tls-cert registrar.pem --tls-key registrar.key --peer 10.0.0.2:9902
//! ```
//!
//! On one host, a pool element or user joining the announce group cannot
//! share its port with a registrar listening on the wildcard address
//! (`0.0.0.0:3863`, `[::]:3863`): give the registrar a specific address
//! there, as above.

#[path = "common/args.rs"]
mod args;

use std::net::SocketAddr;

use args::{Args, Profile, Transport};
use rserpool::registrar::{EnrpConfig, RegistrarConfig};
use rserpool::runtime::blocking::RegistrarNode;
use rserpool::runtime::http::HttpServer;
use rserpool::runtime::{loopback, NodeConfig};
use rserpool::ServerId;

const USAGE: &str = "usage: registrar [--listen ADDR]... [--peer ADDR]... [--enrp ADDR] [--transport udp|tcp|usrsctp|kernel-sctp]
                 [--announce GROUP:PORT] [--enrp-multicast GROUP:PORT] [--interface IF]
                 [--profile rfc|rsplib|loopback] [--id N] [--pcap FILE] [--seconds N]
                 [--allow-peers NET/LEN]... [--foreign-addresses allow] [--http ADDR]
  --listen ADDR   ASAP listen address (repeatable; default 0.0.0.0:3863)
  --enrp ADDR     ENRP listen address (default 0.0.0.0:9901 when there are peers)
  --peer ADDR     a peer registrar's ENRP address (repeatable; turns ENRP on)
  --allow-peers NET/LEN  also take ENRP peers from hosts in this network without
                  contacting them (repeatable, e.g. 10.0.3.0/24; only configured
                  peers, these and multicast PRESENCE senders are trusted)
  --foreign-addresses allow  accept user transport addresses other than the
                  registering PE's own (NAT, proxies)
  --announce GROUP:PORT        send ASAP_SERVER_ANNOUNCE there (e.g. 239.0.0.50:3863)
  --enrp-multicast GROUP:PORT  send and hear ENRP PRESENCE there (e.g. 239.0.0.51:9901; turns ENRP on)
  --announce and --enrp-multicast take IPv6 groups too, e.g. [ff05::50]:3863 and
                  [ff05::51]:9901 (then the default listen address is [::]:3863)
  --interface IF  the multicast interface: its address (IPv4), its name or index (IPv6)
                  (default: the system's choice)
  --transport     udp (default), tcp: also accept pool users over TCP,
                  usrsctp or kernel-sctp: ASAP and ENRP over SCTP (all --listen
                  addresses form one multi-homed endpoint)
  --http ADDR     serve the status page (/), /status.json and Prometheus
                  /metrics there (e.g. 127.0.0.1:8080)
  --profile       timer profile (default rsplib)
  --id N          server identifier (default: random)
  --pcap FILE     write the ASAP traffic to FILE
  --seconds N     stop after N seconds (default: run until killed)";

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
        "--listen",
        "--peer",
        "--enrp",
        "--announce",
        "--enrp-multicast",
        "--interface",
        "--transport",
        "--profile",
        "--id",
        "--pcap",
        "--seconds",
        "--allow-peers",
        "--foreign-addresses",
        "--http",
    ]);
    args.only(&known);
    // Over TLS, the RFCs' TLS ports.
    let (asap_port, enrp_port) = if args.tls_asked() {
        (rserpool::wire::ASAP_TLS_PORT, rserpool::wire::ENRP_TLS_PORT)
    } else {
        (rserpool::wire::ASAP_PORT, rserpool::wire::ENRP_PORT)
    };
    let mut listen = args.addrs("--listen");
    if listen.is_empty() {
        let v4 = SocketAddr::from(([0, 0, 0, 0], asap_port));
        listen.push(args.default_bind(v4));
    }
    let peers = args.addrs("--peer");
    let enrp_bind = args.addrs("--enrp").first().copied();
    let id: u32 = args.num("--id", random_id());
    let id = ServerId::new(id).unwrap_or_else(|_| args::fail("--id: not zero"));
    let config = match args.profile() {
        Profile::Rfc => RegistrarConfig::rfc(id),
        Profile::Rsplib => RegistrarConfig::rsplib(id),
        Profile::Loopback => loopback::registrar(id),
    }
    .with_seed(u64::from(id.get()));
    let mut config = config;
    let enrp_multicast = args.multicast("--enrp-multicast");
    if !peers.is_empty() || enrp_bind.is_some() || enrp_multicast.is_some() {
        config.enrp = match args.profile() {
            Profile::Rfc => EnrpConfig::rfc(listen[0]),
            Profile::Rsplib => EnrpConfig::rsplib(listen[0]),
            Profile::Loopback => loopback::enrp(&[]),
        };
        for p in &peers {
            config.enrp = config.enrp.clone().with_peer(*p);
        }
        for net in args.all("--allow-peers") {
            let (ip, len) = net
                .split_once('/')
                .and_then(|(ip, len)| Some((ip.parse().ok()?, len.parse().ok()?)))
                .unwrap_or_else(|| args::fail(&format!("--allow-peers: bad network {net:?}")));
            config.enrp = config.enrp.clone().with_allowed_peers(ip, len);
        }
    }
    match args.get("--foreign-addresses") {
        None => {}
        Some("allow") => config.allow_foreign_addresses = true,
        Some(v) => args::fail(&format!("--foreign-addresses: {v:?} (only \"allow\")")),
    }
    let http: Option<SocketAddr> = args.get("--http").map(|v| {
        v.parse()
            .unwrap_or_else(|_| args::fail(&format!("--http: bad address {v:?}")))
    });
    let mut node = NodeConfig::new(listen[0]);
    node.enrp_bind = Some(enrp_bind.unwrap_or_else(|| SocketAddr::new(listen[0].ip(), enrp_port)));
    node.also_bind = listen[1..].to_vec();
    node.capture = args.pcap();
    node.name = "registrar".into();
    node.asap_multicast = args.multicast("--announce");
    node.enrp_multicast = enrp_multicast;
    // PEs always use UDP; TCP is for pool users.
    node.listen_tcp = args.transport() == Transport::Tcp;
    args.apply_sctp(&mut node);
    args.apply_csp(&mut node);
    args.apply_tls(&mut node, true);
    let r = RegistrarNode::start(config, node)
        .unwrap_or_else(|e| args::fail(&format!("registrar: {e}")));
    match r.enrp_addr() {
        Some(enrp) => println!(
            "registrar {} listens on {:?} (ASAP), {enrp} (ENRP)",
            id.get(),
            r.local_addrs()
        ),
        None => println!("registrar {} listens on {:?}", id.get(), r.local_addrs()),
    }
    let http = http.map(|at| {
        let server = HttpServer::start(at, r.status_handle())
            .unwrap_or_else(|e| args::fail(&format!("--http {at}: {e}")));
        println!(
            "registrar {}: status on http://{}/",
            id.get(),
            server.local_addr()
        );
        server
    });
    let mut last = None;
    args::run_for(&args, |_| {
        if let Some(s) = r.status() {
            let now = (s.element_count, s.elements);
            if last.as_ref() != Some(&now) {
                println!("registrar {}: {} pool elements", id.get(), now.0);
                // The list only while it is short: a large handlespace is
                // seen on the status page.
                if now.0 <= LIST_UP_TO {
                    for (pool, pe) in &now.1 {
                        println!(
                            "  {} {}",
                            String::from_utf8_lossy(pool.as_bytes()),
                            pe.get()
                        );
                    }
                }
                last = Some(now);
            }
        }
    });
    drop(http);
    let lost = args::capture_lost(r.counters());
    r.shutdown();
    if lost {
        std::process::exit(1);
    }
}

/// The most PEs the registrar lists when its handlespace changes.
const LIST_UP_TO: usize = 64;

fn random_id() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ d.as_secs() as u32)
        .unwrap_or(1);
    (t ^ std::process::id().rotate_left(16)).max(1)
}
