//! Reflection and amplification through a real registrar over loopback UDP,
//! and what the registrar's return-routability check costs an honest
//! pool user.
//!
//! ```text
//! cargo run --release --example amplification
//! cargo run --release --example amplification -- --pes 128 --victims 16 --requests 200 --honest 200
//! ```
//!
//! A [`RegistrarNode`] runs in this process with `--pes` pool elements
//! registered in pool `amp` (from one UDP socket, as one host would).
//!
//! **Forged sources.** For each of `--victims` victim sockets, the attacker
//! sends `--requests` 12-byte ASAP_HANDLE_RESOLUTIONs for `amp` whose
//! source address is the victim's. On loopback the attacker sends them
//! from the victim's own socket: to the registrar that is exactly what a
//! datagram with a forged source address is, and the victim, like a real
//! one, never answers what it receives. A reader thread per victim counts
//! every byte that arrives. The figure is bytes received by the victims ÷
//! bytes the attacker sent.
//!
//! **Honest users.** `--honest` times a fresh UDP socket does what a pool
//! user does: it sends the same request, answers an ASAP_COOKIE from the
//! registrar with an ASAP_COOKIE_ECHO of the same bytes and sends its
//! request again, and times until the complete answer arrives (first
//! resolution); then it resolves once more on the same socket (second
//! resolution, over a path the registrar knows). The difference of the
//! medians is what the check costs on first contact.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::registrar::RegistrarConfig;
use rserpool::runtime::blocking::RegistrarNode;
use rserpool::runtime::NodeConfig;
use rserpool::wire::{AsapMessage, PolicyParam, PoolElementParam, TransportParam, UserTransport};
use rserpool::{PeId, Policy, ServerId};

const USAGE: &str = "usage: amplification [--pes N] [--victims N] [--requests N] [--honest N]
  --pes N       pool elements registered in the pool (default 128)
  --victims N   victim sockets whose address the attacker forges (default 16)
  --requests N  forged requests per victim (default 200)
  --honest N    honest first contacts timed (default 200)";

struct Opts {
    pes: u32,
    victims: usize,
    requests: usize,
    honest: usize,
}

fn parse() -> Opts {
    let mut o = Opts {
        pes: 128,
        victims: 16,
        requests: 200,
        honest: 200,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = |i: usize| -> usize {
            args.get(i + 1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| {
                    eprintln!("{USAGE}");
                    std::process::exit(2)
                })
        };
        match args[i].as_str() {
            "--pes" => o.pes = value(i) as u32,
            "--victims" => o.victims = value(i),
            "--requests" => o.requests = value(i),
            "--honest" => o.honest = value(i),
            _ => {
                eprintln!("{USAGE}");
                std::process::exit(2)
            }
        }
        i += 2;
    }
    o
}

const POOL: &str = "amp";

fn emit(m: &AsapMessage<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; m.buffer_len()];
    let n = m.emit(&mut buf).expect("the codec emits what it sized");
    buf.truncate(n);
    buf
}

fn registration(id: u32) -> Vec<u8> {
    let addrs = [IpAddr::from([127, 0, 0, 1])];
    emit(&AsapMessage::Registration {
        pool_handle: POOL.as_bytes(),
        pool_element: PoolElementParam {
            pe_id: PeId::new(id).expect("ids start at 1"),
            home_server: None,
            registration_life: 3_600_000,
            user_transport: UserTransport::Transport(TransportParam::new(
                TransportProtocol::Sctp,
                20_000 + id as u16,
                TransportUse::DataOnly,
                &addrs,
            )),
            policy: PolicyParam::Known(Policy::RoundRobin),
            asap_transport: None,
        },
    })
}

fn resolution() -> Vec<u8> {
    emit(&AsapMessage::HandleResolution {
        subscribe: false,
        pool_handle: POOL.as_bytes(),
        items: None,
    })
}

fn bind() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("a loopback socket")
}

/// Registers `pes` PEs over one socket; returns how many were accepted.
fn register(registrar: SocketAddr, pes: u32) -> u32 {
    let s = bind();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("a timeout");
    let mut buf = vec![0u8; 65_536];
    let mut accepted = 0;
    for id in 1..=pes {
        s.send_to(&registration(id), registrar).expect("sent");
        while let Ok((n, _)) = s.recv_from(&mut buf) {
            if let Ok(AsapMessage::RegistrationResponse {
                rejected: false, ..
            }) = AsapMessage::parse(&buf[..n])
            {
                accepted += 1;
                break;
            }
        }
    }
    accepted
}

/// The forged-source flood: (bytes sent, bytes and datagrams received by
/// the victims).
fn flood(registrar: SocketAddr, o: &Opts) -> (u64, u64, u64) {
    let request = resolution();
    let received = Arc::new(AtomicU64::new(0));
    let datagrams = Arc::new(AtomicU64::new(0));
    let victims: Vec<UdpSocket> = (0..o.victims).map(|_| bind()).collect();
    let mut readers = Vec::new();
    for v in &victims {
        let r = v.try_clone().expect("a second handle");
        r.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("a timeout");
        let (received, datagrams) = (received.clone(), datagrams.clone());
        readers.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            // Until nothing has come for the timeout.
            while let Ok((n, _)) = r.recv_from(&mut buf) {
                received.fetch_add(n as u64, Ordering::Relaxed);
                datagrams.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut sent = 0u64;
    for round in 0..o.requests {
        for v in &victims {
            v.send_to(&request, registrar).expect("sent");
            sent += request.len() as u64;
        }
        if round % 8 == 7 {
            // Paced, so that neither the registrar's nor a victim's receive
            // buffer overflows and every answer is counted.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    for r in readers {
        r.join().expect("a reader");
    }
    (
        sent,
        received.load(Ordering::Relaxed),
        datagrams.load(Ordering::Relaxed),
    )
}

/// One resolution on `s` as a pool user makes it: a registrar's
/// challenge is echoed and the request sent again. Returns the time to
/// the answer, the number of PEs in it and whether a challenge came.
fn resolve(s: &UdpSocket, registrar: SocketAddr, buf: &mut [u8]) -> (Duration, usize, bool) {
    let request = resolution();
    let start = Instant::now();
    s.send_to(&request, registrar).expect("sent");
    let mut challenged = false;
    loop {
        let (n, _) = s.recv_from(buf).expect("the registrar answers");
        match AsapMessage::parse(&buf[..n]) {
            Ok(AsapMessage::Cookie { cookie }) => {
                challenged = true;
                s.send_to(&emit(&AsapMessage::CookieEcho { cookie }), registrar)
                    .expect("sent");
                s.send_to(&request, registrar).expect("sent");
            }
            Ok(AsapMessage::HandleResolutionResponse { elements, .. }) => {
                return (start.elapsed(), elements.iter().count(), challenged);
            }
            _ => {}
        }
    }
}

fn median_us(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

fn main() {
    let o = parse();
    let server_id = ServerId::new(0xa3b1_0001).expect("not zero");
    let mut config = RegistrarConfig::rfc(server_id).with_seed(1);
    config.keep_alive_interval = None;
    config.announce = false;
    let mut node = NodeConfig::new("127.0.0.1:0".parse().expect("an address"));
    node.name = "registrar".into();
    let r = RegistrarNode::start(config, node).expect("the registrar starts");
    let registrar = r.local_addr();

    let accepted = register(registrar, o.pes);
    println!("registrar at {registrar}: {accepted} PEs registered in pool {POOL:?}");
    let request = resolution();

    let (sent, received, datagrams) = flood(registrar, &o);
    println!(
        "forged-source flood: {} requests of {} bytes = {sent} bytes sent; \
         victims received {received} bytes in {datagrams} datagrams; \
         amplification {:.2}x (bytes received / bytes sent)",
        o.requests * o.victims,
        request.len(),
        received as f64 / sent.max(1) as f64,
    );

    let mut buf = vec![0u8; 65_536];
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let (mut challenged, mut complete) = (0, 0);
    for _ in 0..o.honest {
        let s = bind();
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("a timeout");
        let (d1, n1, c1) = resolve(&s, registrar, &mut buf);
        let (d2, n2, _) = resolve(&s, registrar, &mut buf);
        first.push(d1);
        second.push(d2);
        challenged += usize::from(c1);
        complete += usize::from(n1 == accepted as usize && n2 == accepted as usize);
    }
    let (m1, m2) = (median_us(first), median_us(second));
    println!(
        "honest users: {} fresh sockets, {challenged} challenged, {complete} got every PE \
         both times; first resolution median {m1:.0} us, second {m2:.0} us, \
         difference {:.0} us",
        o.honest,
        m1 - m2
    );
    if let Some(status) = r.status() {
        println!("registrar counters: {:?}", status.stats);
    }
    r.shutdown();
}
