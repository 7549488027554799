//! Load on a real registrar over loopback UDP: many pool elements register,
//! many pool users resolve, then the pool elements deregister.
//!
//! ```text
//! cargo run --release --example loadbench -- --pes 100000
//! cargo run --release --example loadbench -- --quick
//! ```
//!
//! A [`RegistrarNode`] runs in this process (its event loop thread and its
//! socket's reader thread). A few load-generator threads each own some UDP
//! sockets; every socket is one association to the registrar (UDP: one
//! remote address). The pool-element sockets carry ASAP_REGISTRATION and
//! ASAP_DEREGISTRATION for many PEs each, the pool-user sockets
//! ASAP_HANDLE_RESOLUTION, all encoded and decoded with the crate's codec.
//! A socket sends a window of requests, then reads their answers (a request
//! unanswered within the timeout is counted and sent again, a bounded
//! number of times); the threads overlap, so the registrar always has work
//! queued. A pool-user socket the registrar does not know yet gets its
//! challenge (ASAP_COOKIE) instead of its first answers, echoes it and
//! sends what is in flight again, as a pool user does (once per socket).
//!
//! The registrar's CPU time is read per thread from
//! `/proc/self/task/TID/schedstat` (nanoseconds on a CPU) for its own
//! threads only (the node thread and the UDP reader), so the load
//! generator's CPU is not counted.
//!
//! Keep-alive: the registrar keeps its PEs alive every `--keep-alive-s`
//! (default 600 s, each interval varied by ±50 %, so none falls within a
//! run of the default size). The PE sockets answer every
//! ENDPOINT_KEEP_ALIVE with KEEP_ALIVE_ACK, as a PE does: while they
//! register or deregister, and every 100 ms during the resolution phases,
//! so that `--keep-alive-s 5` (rsplib's interval) measures the resolutions
//! under the keep-alive traffic of all PEs. Registration life: 1 hour.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::registrar::RegistrarConfig;
use rserpool::runtime::blocking::RegistrarNode;
use rserpool::runtime::registrar::ASSOCIATION_CAPACITY;
use rserpool::runtime::NodeConfig;
use rserpool::runtime::UdpConfig;
use rserpool::wire::{AsapMessage, PolicyParam, PoolElementParam, TransportParam, UserTransport};
use rserpool::{PeId, Policy, ServerId};

const USAGE: &str =
    "usage: loadbench [--pes N] [--pool-size N|--pools N] [--pe-sockets N] [--users N] [--threads N]
                 [--window N] [--seconds S] [--items N] [--timeout-ms MS] [--keep-alive-s S]
                 [--runs N] [--phase-limit-s S] [--quick]
  --pes N          pool elements registered (default 1000)
  --pool-size N    PEs per pool (default 100); even pools use round robin, odd ones weighted random
  --pools N        instead of --pool-size: PEs / N per pool
  --pe-sockets N   sockets (associations) the PEs register over (default min(PEs, 1000))
  --users N        pool-user sockets (default 200)
  --threads N      load-generator threads (default 3)
  --window N       requests in flight per socket (default 16)
  --seconds S      duration of each resolution phase (default 5)
  --items N        PEs per handle resolution (default 3, rsplib's)
  --timeout-ms MS  a request unanswered this long is sent again (default 1000)
  --keep-alive-s S the registrar's keep-alive interval (default 600)
  --runs N         repetitions, each with a new registrar (default 1)
  --phase-limit-s S  a (de)registration phase gives up what is left after S (default 120)
  --quick          --pes 1000 --seconds 1 (a smoke run of a few seconds)";

/// Sends of one request at most, then it is given up.
const MAX_TRIES: u32 = 5;

#[derive(Clone, Debug)]
struct Opts {
    pes: usize,
    pool_size: usize,
    pe_sockets: usize,
    users: usize,
    threads: usize,
    window: usize,
    seconds: f64,
    items: u32,
    timeout: Duration,
    keep_alive: u64,
    runs: usize,
    /// A registration or deregistration phase gives up what is left after
    /// this (counted as lost).
    phase_limit: Duration,
}

fn fail(msg: &str) -> ! {
    eprintln!("{msg}\n{USAGE}");
    std::process::exit(2)
}

fn parse() -> Opts {
    let mut o = Opts {
        pes: 1000,
        pool_size: 100,
        pe_sockets: 0,
        users: 200,
        threads: 3,
        window: 16,
        seconds: 5.0,
        items: 3,
        timeout: Duration::from_millis(1000),
        keep_alive: 600,
        runs: 1,
        phase_limit: Duration::from_secs(120),
    };
    let mut pools = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--quick" {
            o.pes = 1000;
            o.seconds = 1.0;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let v = it
            .next()
            .unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        let n = || -> f64 {
            v.parse()
                .unwrap_or_else(|_| fail(&format!("{flag}: bad number {v:?}")))
        };
        match flag.as_str() {
            "--pes" => o.pes = n() as usize,
            "--pool-size" => o.pool_size = n() as usize,
            "--pools" => pools = Some(n() as usize),
            "--pe-sockets" => o.pe_sockets = n() as usize,
            "--users" => o.users = n() as usize,
            "--threads" => o.threads = n() as usize,
            "--window" => o.window = n() as usize,
            "--seconds" => o.seconds = n(),
            "--items" => o.items = n() as u32,
            "--timeout-ms" => o.timeout = Duration::from_millis(n() as u64),
            "--keep-alive-s" => o.keep_alive = n() as u64,
            "--runs" => o.runs = n() as usize,
            "--phase-limit-s" => o.phase_limit = Duration::from_secs_f64(n()),
            _ => fail(&format!("unknown flag {flag}")),
        }
    }
    if let Some(p) = pools {
        o.pool_size = o.pes.div_ceil(p.max(1));
    }
    if o.pe_sockets == 0 {
        o.pe_sockets = o.pes.min(1000);
    }
    o.pool_size = o.pool_size.max(1);
    o.threads = o.threads.max(1);
    o.window = o.window.max(1);
    o.users = o.users.max(1);
    o.pe_sockets = o.pe_sockets.clamp(1, o.pes.max(1));
    if o.pe_sockets + o.users > ASSOCIATION_CAPACITY {
        fail(&format!(
            "--pe-sockets + --users must not exceed the registrar's {ASSOCIATION_CAPACITY} associations"
        ));
    }
    o
}

fn pool_name(pool: usize) -> String {
    format!("pool{pool:06}")
}

/// Even pools: round robin; odd pools: weighted random.
fn pool_policy(pool: usize, pe: usize) -> Policy {
    if pool % 2 == 0 {
        Policy::RoundRobin
    } else {
        Policy::WeightedRandom {
            weight: 1 + (pe % 10) as u32,
        }
    }
}

fn emit(m: &AsapMessage<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; m.buffer_len()];
    let n = m.emit(&mut buf).expect("the codec emits what it sized");
    buf.truncate(n);
    buf
}

/// The load's view of one PE.
#[derive(Clone, Copy, Debug)]
struct Pe {
    id: u32,
    pool: usize,
    /// The user transport port it registers (nothing listens there).
    port: u16,
}

fn registration(pe: &Pe) -> Vec<u8> {
    let addrs = [std::net::IpAddr::from([127, 0, 0, 1])];
    let pool = pool_name(pe.pool);
    emit(&AsapMessage::Registration {
        pool_handle: pool.as_bytes(),
        pool_element: PoolElementParam {
            pe_id: PeId::new(pe.id).expect("ids start at 1"),
            home_server: None,
            registration_life: 3_600_000,
            user_transport: UserTransport::Transport(TransportParam::new(
                TransportProtocol::Udp,
                pe.port,
                TransportUse::DataOnly,
                &addrs,
            )),
            policy: PolicyParam::Known(pool_policy(pe.pool, pe.id as usize)),
            asap_transport: None,
        },
    })
}

fn deregistration(pe: &Pe) -> Vec<u8> {
    let pool = pool_name(pe.pool);
    emit(&AsapMessage::Deregistration {
        pool_handle: pool.as_bytes(),
        pe_id: PeId::new(pe.id).expect("ids start at 1"),
    })
}

fn resolution(pool: usize, items: u32) -> Vec<u8> {
    let name = pool_name(pool);
    emit(&AsapMessage::HandleResolution {
        subscribe: false,
        pool_handle: name.as_bytes(),
        items: Some(items),
    })
}

/// What one phase counted.
#[derive(Clone, Copy, Debug, Default)]
struct Count {
    /// Requests answered positively.
    ok: u64,
    /// Answered negatively (rejected, unknown pool, no PE in the answer).
    errors: u64,
    /// Sends that were not answered within the timeout (each is sent again,
    /// up to `MAX_TRIES` times).
    timeouts: u64,
    /// Given up after `MAX_TRIES` sends.
    lost: u64,
    /// Answers that matched nothing in flight (late ones).
    stray: u64,
    /// ENDPOINT_KEEP_ALIVEs answered.
    keep_alives: u64,
    /// Registrar challenges (ASAP_COOKIE) echoed.
    challenges: u64,
}

impl Count {
    fn add(&mut self, o: &Count) {
        self.ok += o.ok;
        self.errors += o.errors;
        self.timeouts += o.timeouts;
        self.lost += o.lost;
        self.stray += o.stray;
        self.keep_alives += o.keep_alives;
        self.challenges += o.challenges;
    }
}

/// Answers a keep-alive received on a PE socket.
fn answer_keep_alive(socket: &UdpSocket, to: SocketAddr, m: &AsapMessage<'_>, c: &mut Count) {
    if let AsapMessage::EndpointKeepAlive {
        pool_handle,
        pe_id: Some(pe_id),
        ..
    } = m
    {
        let ack = emit(&AsapMessage::EndpointKeepAliveAck {
            pool_handle,
            pe_id: *pe_id,
        });
        let _ = socket.send_to(&ack, to);
        c.keep_alives += 1;
    }
}

/// Answers the keep-alives waiting on a non-blocking PE socket.
fn drain_keep_alives(socket: &UdpSocket, buf: &mut [u8], c: &mut Count) {
    while let Ok((n, from)) = socket.recv_from(buf) {
        match AsapMessage::parse(&buf[..n]) {
            Ok(m) => answer_keep_alive(socket, from, &m, c),
            Err(_) => c.errors += 1,
        }
    }
}

/// Registers (or deregisters) `pes` over `socket`, `window` at a time.
fn pe_phase(
    socket: &UdpSocket,
    registrar: SocketAddr,
    pes: &[Pe],
    o: &Opts,
    register: bool,
    give_up: Instant,
    c: &mut Count,
) {
    let mut buf = vec![0u8; 65_536];
    // (PE, tries so far)
    let mut todo: std::collections::VecDeque<(Pe, u32)> = pes.iter().map(|p| (*p, 0)).collect();
    let mut flight: Vec<(Pe, u32)> = Vec::with_capacity(o.window);
    while !todo.is_empty() {
        if Instant::now() >= give_up {
            c.lost += todo.len() as u64;
            return;
        }
        flight.clear();
        while flight.len() < o.window {
            let Some((pe, tries)) = todo.pop_front() else {
                break;
            };
            let msg = if register {
                registration(&pe)
            } else {
                deregistration(&pe)
            };
            let _ = socket.send_to(&msg, registrar);
            flight.push((pe, tries + 1));
        }
        let deadline = Instant::now() + o.timeout;
        while !flight.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = socket.set_read_timeout(Some(left));
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(m) = AsapMessage::parse(&buf[..n]) else {
                c.errors += 1;
                continue;
            };
            let (id, good) = match &m {
                AsapMessage::RegistrationResponse {
                    pe_id, rejected, ..
                } if register => (pe_id.get(), !rejected),
                AsapMessage::DeregistrationResponse { pe_id, error, .. } if !register => {
                    (pe_id.get(), error.is_none())
                }
                other => {
                    answer_keep_alive(socket, from, other, c);
                    continue;
                }
            };
            match flight.iter().position(|(p, _)| p.id == id) {
                Some(i) => {
                    flight.swap_remove(i);
                    if good {
                        c.ok += 1;
                    } else {
                        c.errors += 1;
                    }
                }
                None => c.stray += 1,
            }
        }
        for (pe, tries) in flight.drain(..) {
            c.timeouts += 1;
            if tries < MAX_TRIES {
                todo.push_back((pe, tries));
            } else {
                c.lost += 1;
            }
        }
    }
}

/// The resolution requests of one policy's pools (`parity` 0: round
/// robin, 1: weighted random): pool names and encoded requests.
fn resolution_requests(pools: usize, parity: usize, items: u32) -> (Vec<String>, Vec<Vec<u8>>) {
    (0..pools)
        .filter(|p| p % 2 == parity)
        .map(|p| (pool_name(p), resolution(p, items)))
        .unzip()
}

/// One window of handle resolutions of random pools over `socket`.
fn user_window(
    socket: &UdpSocket,
    registrar: SocketAddr,
    (names, requests): &(Vec<String>, Vec<Vec<u8>>),
    rng: &mut u64,
    o: &Opts,
    buf: &mut [u8],
    c: &mut Count,
) {
    if names.is_empty() {
        return;
    }
    // Pools in flight, by index.
    let mut flight: Vec<usize> = Vec::with_capacity(o.window);
    for _ in 0..o.window {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let i = (*rng % names.len() as u64) as usize;
        let _ = socket.send_to(&requests[i], registrar);
        flight.push(i);
    }
    let deadline = Instant::now() + o.timeout;
    let mut echoed = false;
    while !flight.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let _ = socket.set_read_timeout(Some(left));
        let Ok((n, _)) = socket.recv_from(buf) else {
            continue;
        };
        if let Ok(AsapMessage::Cookie { cookie }) = AsapMessage::parse(&buf[..n]) {
            // The registrar's challenge to a socket it does not know yet
            // (one for each request it withheld): echoed, and what is in
            // flight sent again once, as a pool user does.
            if !echoed {
                let echo = emit(&AsapMessage::CookieEcho { cookie });
                let _ = socket.send_to(&echo, registrar);
                for &i in &flight {
                    let _ = socket.send_to(&requests[i], registrar);
                }
                echoed = true;
                c.challenges += 1;
            }
            continue;
        }
        let Ok(AsapMessage::HandleResolutionResponse {
            pool_handle,
            elements,
            error,
            ..
        }) = AsapMessage::parse(&buf[..n])
        else {
            c.errors += 1;
            continue;
        };
        match flight
            .iter()
            .position(|&i| names[i].as_bytes() == pool_handle)
        {
            Some(k) => {
                flight.swap_remove(k);
                if error.is_none() && elements.iter().next().is_some() {
                    c.ok += 1;
                } else {
                    c.errors += 1;
                }
            }
            None => c.stray += 1,
        }
    }
    // Resolutions are not sent again: the next window asks anew.
    c.timeouts += flight.len() as u64;
}

/// Nanoseconds on a CPU of the registrar's threads, from
/// `/proc/self/task/*/schedstat`: (event loop, UDP reader).
fn registrar_cpu_ns(tids: &[String]) -> (u64, u64) {
    let ns = |t: &String| {
        std::fs::read_to_string(format!("/proc/self/task/{t}/schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ns(&tids[0]), ns(&tids[1]))
}

/// The registrar's threads in this process, by name: its event loop
/// (first) and its socket's reader.
fn registrar_threads(port: u16) -> Vec<String> {
    let reader = format!("udp 127.0.0.1:{port}");
    let mut tids = vec![String::new(), String::new()];
    for e in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let tid = e.file_name().to_string_lossy().into_owned();
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let comm = comm.trim();
        // Thread names are cut to 15 bytes.
        if comm == "registrar" {
            tids[0] = tid;
        } else if comm.starts_with("udp ") && reader.starts_with(comm) {
            tids[1] = tid;
        }
    }
    tids
}

/// One phase's figures.
#[derive(Clone, Debug)]
struct Phase {
    name: &'static str,
    count: Count,
    wall: Duration,
    /// The registrar's event loop thread.
    loop_ns: u64,
    /// The registrar's UDP reader thread.
    reader_ns: u64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.count.ok as f64 / self.wall.as_secs_f64()
    }
    /// Both threads, seconds.
    fn cpu_s(&self) -> f64 {
        (self.loop_ns + self.reader_ns) as f64 / 1e9
    }
    fn cpu_per_1000(&self) -> f64 {
        if self.count.ok == 0 {
            return 0.0;
        }
        self.cpu_s() / self.count.ok as f64 * 1000.0
    }
    /// Both threads, % of one core.
    fn core_percent(&self) -> f64 {
        self.cpu_s() / self.wall.as_secs_f64() * 100.0
    }
    /// The event loop alone, % of one core.
    fn loop_percent(&self) -> f64 {
        self.loop_ns as f64 / 1e9 / self.wall.as_secs_f64() * 100.0
    }
}

fn bind_many(n: usize) -> Vec<UdpSocket> {
    (0..n)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind a load socket");
            let s2 = socket2::SockRef::from(&s);
            // Room for a window of answers (and a little more).
            let _ = s2.set_recv_buffer_size(1 << 20);
            s
        })
        .collect()
}

fn run_once(o: &Opts, run: usize) -> Vec<Phase> {
    let server_id = ServerId::new(0x10ad_0001 + run as u32).expect("not zero");
    let mut config = RegistrarConfig::rsplib(server_id).with_seed(run as u64 + 1);
    config.keep_alive_interval = Some(rserpool::Duration::from_secs(o.keep_alive));
    config.keep_alive_timeout = rserpool::Duration::from_secs(5);
    config.max_handle_resolution_items = o.items;
    config.announce = false;
    // Every load PE registers from this one host.
    config.max_registrations_per_host = None;
    config.max_registrations_per_association = None;
    let mut node = NodeConfig::new("127.0.0.1:0".parse().expect("an address"));
    node.name = "registrar".into();
    // One association per load socket, none forgotten while idle.
    node.udp = UdpConfig {
        no_answer_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(3600),
        max_associations: ASSOCIATION_CAPACITY,
        // Room for bursts of answers from many PEs (capped by rmem_max).
        receive_buffer: Some(8 << 20),
    };
    let r = RegistrarNode::start(config, node).expect("the registrar starts");
    let registrar = r.local_addr();
    let tids = registrar_threads(registrar.port());
    assert!(
        tids.iter().all(|t| !t.is_empty()),
        "the registrar's node and reader threads"
    );

    let pools = o.pes.div_ceil(o.pool_size);
    let pes: Vec<Pe> = (0..o.pes)
        .map(|i| Pe {
            id: i as u32 + 1,
            pool: i / o.pool_size,
            port: 10_000 + (i % 50_000) as u16,
        })
        .collect();
    let pe_sockets = Arc::new(bind_many(o.pe_sockets));
    let user_sockets = Arc::new(bind_many(o.users));
    // PE i goes over socket i % pe_sockets.
    let mut per_socket: Vec<Vec<Pe>> = vec![Vec::new(); o.pe_sockets];
    for (i, pe) in pes.iter().enumerate() {
        per_socket[i % o.pe_sockets].push(*pe);
    }
    let per_socket = Arc::new(per_socket);

    let mut phases = Vec::new();
    for register in [true, false] {
        if !register {
            // The resolution phases come between registration and
            // deregistration.
            for (parity, name) in [(0, "resolve_rr"), (1, "resolve_wrand")] {
                if pools <= parity {
                    continue;
                }
                let stop = Arc::new(AtomicBool::new(false));
                let cpu0 = registrar_cpu_ns(&tids);
                let t0 = Instant::now();
                let handles: Vec<_> = (0..o.threads)
                    .map(|t| {
                        let (sockets, stop, o) = (user_sockets.clone(), stop.clone(), o.clone());
                        let pe_sockets = pe_sockets.clone();
                        std::thread::Builder::new()
                            .name(format!("load {t}"))
                            .spawn(move || {
                                let mut c = Count::default();
                                let requests = resolution_requests(pools, parity, o.items);
                                let mut buf = vec![0u8; 65_536];
                                let mut rng = (run as u64 + 1) * 0x9E37_79B9_7F4A_7C15 + t as u64;
                                // The thread's sockets take turns, one window each.
                                let mine: Vec<usize> =
                                    (t..sockets.len()).step_by(o.threads).collect();
                                let my_pes: Vec<usize> =
                                    (t..pe_sockets.len()).step_by(o.threads).collect();
                                for &s in &my_pes {
                                    let _ = pe_sockets[s].set_nonblocking(true);
                                }
                                let mut last_keep_alive = Instant::now();
                                let mut k = 0;
                                while !stop.load(Ordering::Relaxed) && !mine.is_empty() {
                                    // The PEs answer keep-alives every 100 ms.
                                    if last_keep_alive.elapsed() >= Duration::from_millis(100) {
                                        last_keep_alive = Instant::now();
                                        for &s in &my_pes {
                                            drain_keep_alives(&pe_sockets[s], &mut buf, &mut c);
                                        }
                                    }
                                    let s = mine[k % mine.len()];
                                    user_window(
                                        &sockets[s],
                                        registrar,
                                        &requests,
                                        &mut rng,
                                        &o,
                                        &mut buf,
                                        &mut c,
                                    );
                                    k += 1;
                                }
                                for &s in &my_pes {
                                    drain_keep_alives(&pe_sockets[s], &mut buf, &mut c);
                                    let _ = pe_sockets[s].set_nonblocking(false);
                                }
                                c
                            })
                            .expect("spawn a load thread")
                    })
                    .collect();
                std::thread::sleep(Duration::from_secs_f64(o.seconds));
                stop.store(true, Ordering::Relaxed);
                let mut c = Count::default();
                for h in handles {
                    c.add(&h.join().expect("a load thread"));
                }
                let wall = t0.elapsed();
                let held = r.status().map_or(0, |s| s.elements.len());
                if held != o.pes {
                    eprintln!(
                        "loadbench: the registrar holds {held} PEs after {name}, not {}",
                        o.pes
                    );
                }
                phases.push(Phase {
                    name,
                    count: c,
                    wall,
                    loop_ns: registrar_cpu_ns(&tids).0 - cpu0.0,
                    reader_ns: registrar_cpu_ns(&tids).1 - cpu0.1,
                });
            }
        }
        let cpu0 = registrar_cpu_ns(&tids);
        let t0 = Instant::now();
        let handles: Vec<_> = (0..o.threads)
            .map(|t| {
                let (sockets, work, o) = (pe_sockets.clone(), per_socket.clone(), o.clone());
                std::thread::Builder::new()
                    .name(format!("load {t}"))
                    .spawn(move || {
                        let mut c = Count::default();
                        let give_up = t0 + o.phase_limit;
                        for s in (t..sockets.len()).step_by(o.threads) {
                            pe_phase(
                                &sockets[s],
                                registrar,
                                &work[s],
                                &o,
                                register,
                                give_up,
                                &mut c,
                            );
                        }
                        c
                    })
                    .expect("spawn a load thread")
            })
            .collect();
        let mut c = Count::default();
        for h in handles {
            c.add(&h.join().expect("a load thread"));
        }
        let wall = t0.elapsed();
        phases.push(Phase {
            name: if register { "register" } else { "deregister" },
            count: c,
            wall,
            loop_ns: registrar_cpu_ns(&tids).0 - cpu0.0,
            reader_ns: registrar_cpu_ns(&tids).1 - cpu0.1,
        });
        let status = r.status().expect("the registrar runs");
        let expected = if register { o.pes } else { 0 };
        if status.elements.len() != expected {
            eprintln!(
                "loadbench: the registrar holds {} PEs after {}, not {expected}",
                status.elements.len(),
                if register {
                    "registration"
                } else {
                    "deregistration"
                }
            );
        }
    }
    let status = r.status().expect("the registrar runs");
    let st = &status.stats;
    eprintln!(
        "run {run}: registrar: registrations={} deregistrations={} resolutions={} keep_alives_sent={} keep_alive_acks={} removed_keep_alive={} removed_lifetime={} queue_full={} malformed={} associations={} challenges_sent={} paths_verified={} answers_withheld={}",
        st.registrations,
        st.deregistrations,
        st.resolutions,
        st.keep_alives_sent,
        st.keep_alive_acks,
        st.removed_keep_alive,
        st.removed_lifetime,
        st.queue_full,
        st.malformed,
        status.associations,
        st.challenges_sent,
        st.paths_verified,
        st.answers_withheld
    );
    r.shutdown();
    phases
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2]
}

fn main() {
    let o = parse();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "# loadbench: pes={} pools={} pool_size={} pe_sockets={} users={} threads={} window={} seconds={} items={} runs={}",
        o.pes,
        o.pes.div_ceil(o.pool_size),
        o.pool_size,
        o.pe_sockets,
        o.users,
        o.threads,
        o.window,
        o.seconds,
        o.items,
        o.runs
    );
    println!("# load average before: {}", load.trim());
    println!("run,phase,ok,errors,timeouts,lost,stray,keep_alives,wall_s,ops_per_s,registrar_cpu_s,cpu_s_per_1000_ops,registrar_core_pct,loop_core_pct");
    let mut all: HashMap<&'static str, Vec<Phase>> = HashMap::new();
    let mut order = Vec::new();
    for run in 0..o.runs {
        for p in run_once(&o, run) {
            println!(
                "{run},{},{},{},{},{},{},{},{:.3},{:.0},{:.3},{:.4},{:.1},{:.1}",
                p.name,
                p.count.ok,
                p.count.errors,
                p.count.timeouts,
                p.count.lost,
                p.count.stray,
                p.count.keep_alives,
                p.wall.as_secs_f64(),
                p.rate(),
                p.cpu_s(),
                p.cpu_per_1000(),
                p.core_percent(),
                p.loop_percent()
            );
            if !order.contains(&p.name) {
                order.push(p.name);
            }
            all.entry(p.name).or_default().push(p);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("# load average after: {}", load.trim());
    println!("# median over {} run(s):", o.runs);
    println!("phase,ops_per_s,cpu_s_per_1000_ops,registrar_core_pct,loop_core_pct,errors,lost");
    for name in order {
        let v = &all[name];
        println!(
            "{name},{:.0},{:.4},{:.1},{:.1},{},{}",
            median(v.iter().map(Phase::rate).collect()),
            median(v.iter().map(Phase::cpu_per_1000).collect()),
            median(v.iter().map(Phase::core_percent).collect()),
            median(v.iter().map(Phase::loop_percent).collect()),
            v.iter().map(|p| p.count.errors).sum::<u64>(),
            v.iter().map(|p| p.count.lost).sum::<u64>()
        );
    }
}
