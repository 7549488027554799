//! Sends requests to a pool by its handle and prints which pool element
//! answered each.
//!
//! ```text
//! cargo run --example pool_user -- --registrar 127.0.0.1:3863 --pool echo --requests 10
//! ```

#[path = "common/args.rs"]
mod args;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use args::{Args, Profile};
use rserpool::pool_user::PoolUserConfig;
use rserpool::runtime::{loopback, NodeConfig, PoolUserNode};
use rserpool::PoolHandle;

const USAGE: &str =
    "usage: pool_user --registrar ADDR...|--announce GROUP:PORT [--pool HANDLE] [--requests N] [--interval-ms MS]
                 [--profile rfc|rsplib|loopback] [--transport udp|tcp|usrsctp|kernel-sctp] [--pcap FILE]
  --transport       reach the registrars over udp (default) or tcp, or everything
                    over SCTP (usrsctp, kernel-sctp)
  --registrar ADDR  a registrar's ASAP address (repeatable)
  --announce GROUP:PORT  find registrars by their SERVER_ANNOUNCE there
  --interface IP    the multicast interface (default: any)
  --pool HANDLE     the pool handle (default echo)
  --requests N      how many requests (default 10)
  --interval-ms MS  pause between requests (default 100)
  --timeout-ms MS   give a request up after MS (default 10000)
  --pcap FILE       write the ASAP traffic to FILE";

fn main() -> ExitCode {
    let usage = format!("{USAGE}\n{}", args::SCTP_USAGE);
    let args = Args::parse(&usage);
    let mut known = args::SCTP_FLAGS.to_vec();
    known.extend([
        "--registrar",
        "--announce",
        "--interface",
        "--pool",
        "--requests",
        "--interval-ms",
        "--timeout-ms",
        "--profile",
        "--transport",
        "--pcap",
    ]);
    args.only(&known);
    let registrars = args.addrs("--registrar");
    let announce = args.multicast("--announce");
    if registrars.is_empty() && announce.is_none() {
        args::fail(USAGE);
    }
    let pool = PoolHandle::new(args.get("--pool").unwrap_or("echo").as_bytes())
        .unwrap_or_else(|_| args::fail("--pool: 1 to 32 bytes"));
    let mut config = loopback::user(&registrars, u64::from(std::process::id()));
    match args.profile() {
        Profile::Loopback => {}
        p => {
            let base = if p == Profile::Rfc {
                PoolUserConfig::rfc()
            } else {
                PoolUserConfig::rsplib()
            };
            config = PoolUserConfig {
                registrars: config.registrars,
                seed: config.seed,
                ..base
            };
        }
    }
    let mut node = NodeConfig::new(SocketAddr::from(([0, 0, 0, 0], 0)));
    node.capture = args.pcap();
    node.asap_multicast = announce;
    node.name = "pool user".into();
    node.connect_tcp = args.transport() == args::Transport::Tcp;
    args.apply_sctp(&mut node);
    let user = PoolUserNode::start(config, node, rserpool::Duration::from_millis(1000))
        .unwrap_or_else(|e| args::fail(&format!("pool user: {e}")));
    let n: u64 = args.num("--requests", 10);
    let pause = Duration::from_millis(args.num("--interval-ms", 100));
    let timeout = Duration::from_millis(args.num("--timeout-ms", 10_000));
    let mut lost = 0;
    for i in 1..=n {
        let body = format!("request {i}");
        match user.request(&pool, body.as_bytes(), timeout) {
            Ok((pe, reply)) => println!(
                "request {i}: answered by pool element {} ({})",
                pe.get(),
                String::from_utf8_lossy(&reply)
            ),
            Err(e) => {
                lost += 1;
                println!("request {i}: {e}");
            }
        }
        std::thread::sleep(pause);
    }
    println!(
        "pool_user: requests={n} served={} failovers={} lost={lost}",
        n - lost,
        user.failovers()
    );
    user.shutdown();
    if lost == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
