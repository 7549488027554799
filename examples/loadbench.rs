//! Load on a real registrar over loopback UDP: many pool elements register,
//! many pool users resolve, then the pool elements deregister.
//!
//! ```text
//! cargo run --release --example loadbench -- --pes 100000
//! cargo run --release --example loadbench -- --pes 100000 --keep-alive-s 5 --idle-s 30 --rounds 0
//! cargo run --release --example loadbench -- --quick
//! ```
//!
//! A [`RegistrarNode`] runs in this process, on a tokio runtime of its own
//! (`--workers`, default one worker thread: the node is one task). A few
//! load-generator threads each own some UDP sockets; every socket is one
//! association to the registrar (UDP: one remote address). The
//! pool-element sockets carry ASAP_REGISTRATION and ASAP_DEREGISTRATION for
//! many PEs each, the pool-user sockets ASAP_HANDLE_RESOLUTION, all encoded
//! and decoded with the crate's codec. A socket sends a window of requests,
//! then reads their answers (a request unanswered within the timeout is
//! counted and sent again, a bounded number of times); the threads
//! overlap, so the registrar always has work queued. A pool-user socket the
//! registrar does not know yet gets its challenge (ASAP_COOKIE) instead of
//! its first answers, echoes it and sends what is in flight again, as a
//! pool user does (once per socket).
//!
//! The baseline: a plain one-thread blocking UDP echo server (`recv_from`,
//! a table look-up, `send_to`) that answers each resolution with the
//! registrar's own answer for that pool (taken once from the registrar
//! before the resolution phases), so the same client sends it requests of
//! the same sizes and gets answers of the same sizes. Resolution phases
//! alternate between the registrar and the echo server (`--rounds`, the
//! order swapped every round); the summary gives both rates and their
//! ratio.
//!
//! CPU: the registrar's is the on-CPU time
//! (`/proc/self/task/TID/schedstat`) of its runtime's threads, the echo
//! server's that of its thread; the load generator's is not counted. Each
//! of those threads reports its own thread id when it starts (read from
//! `/proc/thread-self`), and the benchmark waits for the reports before it
//! measures: no thread is looked up by name.
//!
//! Keep-alive: the registrar keeps its PEs alive every `--keep-alive-s`
//! (default 600 s, each interval varied by ±50 %, so none falls within a
//! run of the default size). The PE sockets answer every
//! ENDPOINT_KEEP_ALIVE with KEEP_ALIVE_ACK, as a PE does: while they
//! register or deregister, and every 100 ms during the resolution phases,
//! so that `--keep-alive-s 5` (rsplib's interval) measures the resolutions
//! under the keep-alive traffic of all PEs. With `--idle-s S`, a phase of S
//! seconds after registration has no requests at all, only keep-alives
//! (answered every 5 ms): what keeping the PEs alive costs the registrar
//! (`--pes 100000 --keep-alive-s 5 --idle-s 30`). Registration life: 1
//! hour.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::registrar::RegistrarConfig;
use rserpool::runtime::registrar::ASSOCIATION_CAPACITY;
use rserpool::runtime::NodeConfig;
use rserpool::runtime::RegistrarNode;
use rserpool::runtime::UdpConfig;
use rserpool::wire::{AsapMessage, PolicyParam, PoolElementParam, TransportParam, UserTransport};
use rserpool::{PeId, Policy, ServerId};

const USAGE: &str =
    "usage: loadbench [--pes N] [--pool-size N|--pools N] [--pe-sockets N] [--users N] [--threads N]
                 [--window N] [--seconds S] [--items N] [--timeout-ms MS] [--keep-alive-s S]
                 [--runs N] [--rounds N] [--workers N] [--idle-s S] [--phase-limit-s S] [--quick]
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
  --rounds N       resolution rounds per run, registrar and echo server in turn (default 3; 0: none)
  --workers N      worker threads of the registrar's tokio runtime (default 1)
  --idle-s S       a phase of S seconds with keep-alives only, after registration (default 0: none)
  --phase-limit-s S  a (de)registration phase gives up what is left after S (default 120)
  --quick          --pes 1000 --seconds 1 --rounds 1 (a smoke run of a few seconds)";

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
    /// Registrar and echo rounds of each resolution phase per run.
    rounds: usize,
    /// The registrar runtime's worker threads.
    workers: usize,
    /// Seconds of the keep-alive-only phase (0: none).
    idle: f64,
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
        rounds: 3,
        workers: 1,
        idle: 0.0,
        phase_limit: Duration::from_secs(120),
    };
    let mut pools = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--quick" {
            o.pes = 1000;
            o.seconds = 1.0;
            o.rounds = 1;
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
            "--rounds" => o.rounds = n() as usize,
            "--workers" => o.workers = n() as usize,
            "--idle-s" => o.idle = n(),
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
    o.workers = o.workers.max(1);
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

/// Registers (or deregisters) `pes` over `socket`, `window` at a time;
/// calls `between` after each window.
#[allow(clippy::too_many_arguments)]
fn pe_phase(
    socket: &UdpSocket,
    registrar: SocketAddr,
    pes: &[Pe],
    o: &Opts,
    register: bool,
    give_up: Instant,
    c: &mut Count,
    between: &mut dyn FnMut(&mut Count),
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
        between(c);
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

/// This thread's id, from `/proc/thread-self` (`PID/task/TID`).
fn thread_id() -> u64 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .expect("/proc/thread-self names this thread")
}

/// Nanoseconds on a CPU of the threads `tids`, from
/// `/proc/self/task/TID/schedstat` (a thread that has ended counts 0).
fn cpu_ns(tids: &[u64]) -> u64 {
    tids.iter()
        .map(|t| {
            std::fs::read_to_string(format!("/proc/self/task/{t}/schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// The registrar's tokio runtime: `workers` worker threads, each of which
/// records its thread id as it starts; returns once all have.
fn registrar_runtime(workers: usize) -> (tokio::runtime::Runtime, Arc<Mutex<Vec<u64>>>) {
    let tids = Arc::new(Mutex::new(Vec::new()));
    let record = tids.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("registrar")
        .on_thread_start(move || {
            record.lock().expect("the thread ids").push(thread_id());
        })
        .enable_all()
        .build()
        .expect("the registrar's runtime");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tids.lock().expect("the thread ids").len() < workers {
        assert!(
            Instant::now() < deadline,
            "the registrar's worker threads start within 10 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    (rt, tids)
}

/// The registrar's answer to a resolution of each pool, taken over one
/// socket (its challenge answered): what the echo server sends back.
fn registrar_answers(registrar: SocketAddr, requests: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind a socket");
    let mut buf = vec![0u8; 65_536];
    requests
        .iter()
        .map(|request| {
            for _ in 0..MAX_TRIES * 2 {
                let _ = s.send_to(request, registrar);
                let deadline = Instant::now() + Duration::from_secs(1);
                while let Some(left) = deadline
                    .checked_duration_since(Instant::now())
                    .filter(|d| !d.is_zero())
                {
                    let _ = s.set_read_timeout(Some(left));
                    let Ok((n, _)) = s.recv_from(&mut buf) else {
                        break;
                    };
                    match AsapMessage::parse(&buf[..n]) {
                        Ok(AsapMessage::Cookie { cookie }) => {
                            let echo = emit(&AsapMessage::CookieEcho { cookie });
                            let _ = s.send_to(&echo, registrar);
                            break;
                        }
                        Ok(AsapMessage::HandleResolutionResponse { .. }) => {
                            return buf[..n].to_vec();
                        }
                        _ => {}
                    }
                }
            }
            fail("the registrar does not answer a resolution")
        })
        .collect()
}

/// The baseline: a plain one-thread blocking UDP echo server that answers
/// each request it knows with its canned answer (the registrar's for that
/// pool), until stopped.
struct EchoServer {
    addr: SocketAddr,
    tid: u64,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl EchoServer {
    fn start(answers: HashMap<Vec<u8>, Vec<u8>>) -> EchoServer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the echo socket");
        // As the registrar's socket.
        let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(8 << 20);
        let _ = socket.set_read_timeout(Some(Duration::from_millis(50)));
        let addr = socket.local_addr().expect("the echo socket's address");
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = stop.clone();
        let thread = std::thread::Builder::new()
            .name("echo".into())
            .spawn(move || {
                let _ = tx.send(thread_id());
                let mut buf = vec![0u8; 65_536];
                let mut answered = 0u64;
                while !st.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    if let Some(answer) = answers.get(&buf[..n]) {
                        let _ = socket.send_to(answer, from);
                        answered += 1;
                    }
                }
                answered
            })
            .expect("spawn the echo thread");
        let tid = rx.recv().expect("the echo thread reports its id");
        EchoServer {
            addr,
            tid,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops it; how many requests it answered.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map_or(0, |t| t.join().expect("the echo thread"))
    }
}

/// One phase's figures.
#[derive(Clone, Debug)]
struct Phase {
    name: &'static str,
    count: Count,
    wall: Duration,
    /// The server's threads (the registrar's runtime, or the echo thread).
    cpu_ns: u64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.count.ok as f64 / self.wall.as_secs_f64()
    }
    fn cpu_s(&self) -> f64 {
        self.cpu_ns as f64 / 1e9
    }
    fn cpu_per_1000(&self) -> f64 {
        if self.count.ok == 0 {
            return 0.0;
        }
        self.cpu_s() / self.count.ok as f64 * 1000.0
    }
    /// % of one core.
    fn core_percent(&self) -> f64 {
        self.cpu_s() / self.wall.as_secs_f64() * 100.0
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

/// A resolution phase against `target` (the registrar or the echo server)
/// for `o.seconds`, over the pool-user sockets; the PE sockets answer
/// keep-alives meanwhile. `cpu` reads the CPU of the target's threads.
#[allow(clippy::too_many_arguments)]
fn resolve_phase(
    name: &'static str,
    target: SocketAddr,
    parity: usize,
    pools: usize,
    o: &Opts,
    salt: u64,
    user_sockets: &Arc<Vec<UdpSocket>>,
    pe_sockets: &Arc<Vec<UdpSocket>>,
    cpu: &dyn Fn() -> u64,
) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let cpu0 = cpu();
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
                    let mut rng = (salt + 1)
                        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        .wrapping_add(t as u64);
                    // The thread's sockets take turns, one window each.
                    let mine: Vec<usize> = (t..sockets.len()).step_by(o.threads).collect();
                    let my_pes: Vec<usize> = (t..pe_sockets.len()).step_by(o.threads).collect();
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
                            target,
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
    Phase {
        name,
        count: c,
        wall: t0.elapsed(),
        cpu_ns: cpu().saturating_sub(cpu0),
    }
}

/// `o.idle` seconds without requests: the PE sockets only answer the
/// registrar's keep-alives (every 5 ms); what that costs the registrar.
fn keep_alive_phase(o: &Opts, pe_sockets: &Arc<Vec<UdpSocket>>, cpu: &dyn Fn() -> u64) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let cpu0 = cpu();
    let t0 = Instant::now();
    let handles: Vec<_> = (0..o.threads)
        .map(|t| {
            let (pe_sockets, stop, o) = (pe_sockets.clone(), stop.clone(), o.clone());
            std::thread::Builder::new()
                .name(format!("load {t}"))
                .spawn(move || {
                    let mut c = Count::default();
                    let mut buf = vec![0u8; 65_536];
                    let my_pes: Vec<usize> = (t..pe_sockets.len()).step_by(o.threads).collect();
                    for &s in &my_pes {
                        let _ = pe_sockets[s].set_nonblocking(true);
                    }
                    while !stop.load(Ordering::Relaxed) {
                        for &s in &my_pes {
                            drain_keep_alives(&pe_sockets[s], &mut buf, &mut c);
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    for &s in &my_pes {
                        drain_keep_alives(&pe_sockets[s], &mut buf, &mut c);
                        let _ = pe_sockets[s].set_nonblocking(false);
                    }
                    c.ok = c.keep_alives;
                    c
                })
                .expect("spawn a load thread")
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(o.idle));
    stop.store(true, Ordering::Relaxed);
    let mut c = Count::default();
    for h in handles {
        c.add(&h.join().expect("a load thread"));
    }
    Phase {
        name: "keep_alive_idle",
        count: c,
        wall: t0.elapsed(),
        cpu_ns: cpu().saturating_sub(cpu0),
    }
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
    let (rt, tids) = registrar_runtime(o.workers);
    let r = {
        let _on = rt.enter();
        RegistrarNode::start(config, node).expect("the registrar starts")
    };
    let registrar = r.local_addr();
    // The runtime's threads: its workers, and any thread it starts later.
    let registrar_cpu = || cpu_ns(&tids.lock().expect("the thread ids"));
    let status = || rt.block_on(r.status()).expect("the registrar runs");

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
        if !register && o.idle > 0.0 {
            phases.push(keep_alive_phase(o, &pe_sockets, &registrar_cpu));
        }
        if !register && o.rounds > 0 {
            // The echo server answers as the registrar does.
            let requests: Vec<Vec<u8>> = (0..pools).map(|p| resolution(p, o.items)).collect();
            let answers = registrar_answers(registrar, &requests);
            let echo = EchoServer::start(requests.into_iter().zip(answers).collect());
            let echo_tid = [echo.tid];
            let echo_cpu = || cpu_ns(&echo_tid);
            // Every user socket proves its address to the registrar (its
            // challenge) before the measured rounds.
            let warm = Opts {
                seconds: 0.5,
                ..o.clone()
            };
            resolve_phase(
                "warm_up",
                registrar,
                0,
                pools,
                &warm,
                1_000_000,
                &user_sockets,
                &pe_sockets,
                &registrar_cpu,
            );
            // The resolution phases come between registration and
            // deregistration: registrar and echo server take turns.
            for round in 0..o.rounds {
                for (parity, name, echo_name) in [
                    (0, "resolve_rr", "echo_rr"),
                    (1, "resolve_wrand", "echo_wrand"),
                ] {
                    if pools <= parity {
                        continue;
                    }
                    let salt = (run * o.rounds + round) as u64;
                    let registrar_first = round % 2 == 0;
                    for first in [registrar_first, !registrar_first] {
                        let p = if first {
                            resolve_phase(
                                name,
                                registrar,
                                parity,
                                pools,
                                o,
                                salt,
                                &user_sockets,
                                &pe_sockets,
                                &registrar_cpu,
                            )
                        } else {
                            resolve_phase(
                                echo_name,
                                echo.addr,
                                parity,
                                pools,
                                o,
                                salt,
                                &user_sockets,
                                &pe_sockets,
                                &echo_cpu,
                            )
                        };
                        phases.push(p);
                    }
                }
            }
            echo.stop();
            let held = status().element_count;
            if held != o.pes {
                eprintln!(
                    "loadbench: the registrar holds {held} PEs after the resolutions, not {}",
                    o.pes
                );
            }
        }
        let cpu0 = registrar_cpu();
        let t0 = Instant::now();
        let handles: Vec<_> = (0..o.threads)
            .map(|t| {
                let (sockets, work, o) = (pe_sockets.clone(), per_socket.clone(), o.clone());
                std::thread::Builder::new()
                    .name(format!("load {t}"))
                    .spawn(move || {
                        let mut c = Count::default();
                        let give_up = t0 + o.phase_limit;
                        // The sockets done with: their PEs answer
                        // keep-alives every 100 ms while the others
                        // register.
                        let mut done: Vec<usize> = Vec::new();
                        let mut last = Instant::now();
                        let mut buf = vec![0u8; 65_536];
                        for s in (t..sockets.len()).step_by(o.threads) {
                            let mut between = |c: &mut Count| {
                                if last.elapsed() < Duration::from_millis(100) {
                                    return;
                                }
                                last = Instant::now();
                                for &d in &done {
                                    let _ = sockets[d].set_nonblocking(true);
                                    drain_keep_alives(&sockets[d], &mut buf, c);
                                    let _ = sockets[d].set_nonblocking(false);
                                }
                            };
                            pe_phase(
                                &sockets[s],
                                registrar,
                                &work[s],
                                &o,
                                register,
                                give_up,
                                &mut c,
                                &mut between,
                            );
                            done.push(s);
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
            cpu_ns: registrar_cpu().saturating_sub(cpu0),
        });
        let held = status().element_count;
        let expected = if register { o.pes } else { 0 };
        if held != expected {
            eprintln!(
                "loadbench: the registrar holds {held} PEs after {}, not {expected}",
                if register {
                    "registration"
                } else {
                    "deregistration"
                }
            );
        }
    }
    let status = status();
    let st = &status.stats;
    eprintln!(
        "run {run}: registrar: registrations={} deregistrations={} resolutions={} keep_alives_sent={} keep_alive_acks={} removed_keep_alive={} removed_lifetime={} queue_full={} malformed={} associations={} challenges_sent={} paths_verified={} answers_withheld={} dropped_sends={} refused_peers={}",
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
        st.answers_withheld,
        status.transport.udp.dropped_sends,
        status.transport.udp.refused_peers,
    );
    rt.block_on(r.stop());
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
        "# loadbench: pes={} pools={} pool_size={} pe_sockets={} users={} threads={} window={} seconds={} items={} runs={} rounds={} workers={} idle={} keep_alive={}",
        o.pes,
        o.pes.div_ceil(o.pool_size),
        o.pool_size,
        o.pe_sockets,
        o.users,
        o.threads,
        o.window,
        o.seconds,
        o.items,
        o.runs,
        o.rounds,
        o.workers,
        o.idle,
        o.keep_alive
    );
    println!("# load average before: {}", load.trim());
    println!("run,phase,ok,errors,timeouts,lost,stray,keep_alives,wall_s,ops_per_s,server_cpu_s,cpu_s_per_1000_ops,server_core_pct");
    let mut all: HashMap<&'static str, Vec<Phase>> = HashMap::new();
    let mut order = Vec::new();
    for run in 0..o.runs {
        for p in run_once(&o, run) {
            println!(
                "{run},{},{},{},{},{},{},{},{:.3},{:.0},{:.3},{:.4},{:.1}",
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
            );
            if !order.contains(&p.name) {
                order.push(p.name);
            }
            all.entry(p.name).or_default().push(p);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("# load average after: {}", load.trim());
    println!("# median over {} run(s) × {} round(s):", o.runs, o.rounds);
    println!("phase,ops_per_s,cpu_s_per_1000_ops,server_core_pct,errors,lost");
    for name in &order {
        let v = &all[name];
        println!(
            "{name},{:.0},{:.4},{:.1},{},{}",
            median(v.iter().map(Phase::rate).collect()),
            median(v.iter().map(Phase::cpu_per_1000).collect()),
            median(v.iter().map(Phase::core_percent).collect()),
            v.iter().map(|p| p.count.errors).sum::<u64>(),
            v.iter().map(|p| p.count.lost).sum::<u64>()
        );
    }
    // Registrar against echo: the ratio of the rates of each round (the
    // two phases of a round ran back to back), median and range.
    for (registrar, echo) in [("resolve_rr", "echo_rr"), ("resolve_wrand", "echo_wrand")] {
        let (Some(r), Some(e)) = (all.get(registrar), all.get(echo)) else {
            continue;
        };
        let ratios: Vec<f64> = r
            .iter()
            .zip(e)
            .map(|(r, e)| r.rate() / e.rate().max(1.0))
            .collect();
        let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().copied().fold(0.0, f64::max);
        println!(
            "# {registrar} / {echo}: {:.2}x [{lo:.2}-{hi:.2}] (registrar {:.0}/s, echo {:.0}/s, medians)",
            median(ratios.clone()),
            median(r.iter().map(Phase::rate).collect()),
            median(e.iter().map(Phase::rate).collect()),
        );
    }
}
