//! A pool user of a pool by its handle, in one of four ways:
//!
//! * lines (the default, rspterminal's way): every line read from standard
//!   input goes as one user message (with its newline, as rsplib's
//!   `rspterminal` sends it) on a session; every message the pool element
//!   sends back is printed after the id of the PE that sent it, and the
//!   session's connects and failovers are shown.
//! * `--sizes MIN-MAX`: `--requests N` generated messages of random sizes
//!   on one session, every answer of an echo service checked byte for
//!   byte; failovers (with the session's cookie) send the unanswered ones
//!   again. Ends `pool_user: requests=R served=S failovers=F lost=L`.
//! * `--requests N` alone: N requests, each on a session of its own
//!   (a PE chosen by the pool's policy), printing which pool element
//!   answered each.
//! * `--calcapp`: rsplib's CalcApp pool user (`calcappclient`): `--jobs N`
//!   jobs of `--job-size` calculations every `--interval` seconds
//!   (exponentially distributed, as rsplib draws them, or
//!   `--distribution uniform|fixed`), each on a session of its own, kept
//!   alive, retried after a reject and failed over with the PE's cookie; a
//!   line per completed job (queuing, startup, processing and handling
//!   time) and `pool_user: jobs=N completed=C rejects=R failovers=F
//!   handling_speed=S mean_handling_time=T`.
//!
//! ```text
//! cargo run --example pool_user -- --registrar 127.0.0.1:3863 --pool echo --requests 10
//! cargo run --example pool_user -- --registrar 127.0.0.1:3863 --pool echo --sizes 1-3000 --requests 500
//! cargo run --example pool_user -- --registrar 127.0.0.1:3863 --pool CalcAppPool --calcapp \
//!     --job-size 1000000 --interval 2 --jobs 10
//! ```
//!
//! Over TLS to its registrars (`--features tls`; the pool user verifies the
//! registrar's certificate, sessions with pool elements stay on UDP):
//!
//! ```text
//! cargo run --features tls --example pool_user -- --registrar 10.0.0.1:3864 --tls-ca ca.pem --requests 10
//! ```

#[path = "common/args.rs"]
mod args;
#[path = "common/calcapp.rs"]
mod calcapp;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use args::{Args, Profile};
use rserpool::host::{AppCtx, Application, LoadConfig, LoadGenerator};
use rserpool::pool_user::PoolUserConfig;
use rserpool::runtime::blocking::{AppNode, PoolUserNode};
use rserpool::runtime::{loopback, NodeConfig};
use rserpool::session::user::{Event, SessionState};
use rserpool::session::{ResendPolicy, SessionId, SessionUserConfig};
use rserpool::PoolHandle;

const USAGE: &str =
    "usage: pool_user --registrar ADDR...|--announce GROUP:PORT [--pool HANDLE] [--requests N] [--interval-ms MS]
                 [--profile rfc|rsplib|loopback] [--transport udp|tcp|usrsctp|kernel-sctp] [--pcap FILE]
  --transport       reach the registrars over udp (default) or tcp, or everything
                    over SCTP (usrsctp, kernel-sctp)
  --registrar ADDR  a registrar's ASAP address (repeatable)
  --announce GROUP:PORT  find registrars by their SERVER_ANNOUNCE there
                    (IPv4, e.g. 239.0.0.50:3863, or IPv6, e.g. [ff05::50]:3863)
  --interface IF    the multicast interface: address (IPv4), name or index (IPv6)
  --pool HANDLE     the pool handle (default echo)
  --requests N      how many requests (default 10; without it and --sizes:
                    lines from standard input)
  --sizes MIN-MAX   generated messages of MIN to MAX bytes on one session
  --ppid N          the PPID of lines and generated messages (default 0)
  --interval-ms MS  pause between requests (default 100)
  --timeout-ms MS   give a request up after MS (default 10000)
  --pcap FILE       write the ASAP traffic to FILE
  --calcapp         rsplib's CalcApp pool user (calcappclient) instead:
  --jobs N          calcapp: how many jobs (default 10)
  --job-size S      calcapp: mean job size in calculations (default 5000000)
  --interval S      calcapp: mean seconds between jobs (default 15)
  --distribution D  calcapp: exp (default, as rsplib), uniform or fixed, for sizes and intervals
  --keep-alive-ms MS  calcapp: keep-alive interval and timeout (default 5000)
  --seconds S       calcapp: give up after S seconds (default: jobs x interval x 4 + 60)";

fn main() -> ExitCode {
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
        "--announce",
        "--interface",
        "--pool",
        "--requests",
        "--sizes",
        "--ppid",
        "--interval-ms",
        "--timeout-ms",
        "--profile",
        "--transport",
        "--pcap",
        "--calcapp",
        "--jobs",
        "--job-size",
        "--interval",
        "--distribution",
        "--keep-alive-ms",
        "--seconds",
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
    let mut node = NodeConfig::new(args.default_bind(SocketAddr::from(([0, 0, 0, 0], 0))));
    node.capture = args.pcap();
    node.asap_multicast = announce;
    node.name = "pool user".into();
    node.connect_tcp = args.transport() == args::Transport::Tcp;
    args.apply_sctp(&mut node);
    args.apply_csp(&mut node);
    // Over TLS the pool user verifies its registrars; a certificate of
    // its own is optional.
    args.apply_tls(&mut node, false);
    if args.get("--calcapp").is_some() {
        return calcapp_user(&args, config, node, pool);
    }
    let timeout = Duration::from_millis(args.num("--timeout-ms", 10_000));
    let ppid: u32 = args.num("--ppid", 0);
    if let Some(sizes) = args.get("--sizes") {
        let (min, max) = parse_sizes(sizes)
            .unwrap_or_else(|| args::fail("--sizes: MIN-MAX with 1 <= MIN <= MAX <= 60000"));
        return generated(
            config,
            node,
            pool,
            (min, max),
            ppid,
            args.num("--requests", 10),
            args.num("--interval-ms", 100),
            timeout,
        );
    }
    if args.get("--requests").is_none() {
        return lines(config, node, pool, ppid);
    }
    let user = PoolUserNode::start(config, node, Duration::from_millis(1000))
        .unwrap_or_else(|e| args::fail(&format!("pool user: {e}")));
    let n: u64 = args.num("--requests", 10);
    let pause = Duration::from_millis(args.num("--interval-ms", 100));
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
    let capture_lost = args::capture_lost(user.counters());
    user.shutdown();
    if lost == 0 && !capture_lost {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// rsplib's CalcApp pool user.
fn calcapp_user(
    args: &Args,
    config: PoolUserConfig,
    node: NodeConfig,
    pool: PoolHandle,
) -> ExitCode {
    use rserpool::host::calcapp::{CalcAppClientConfig, Distribution};
    let jobs: u64 = args.num("--jobs", 10);
    let size: f64 = args.num("--job-size", 5_000_000.0);
    let interval: f64 = args.num("--interval", 15.0);
    if jobs == 0 || !(size.is_finite() && size >= 1.0) {
        args::fail("--jobs: at least 1; --job-size: at least 1 calculation");
    }
    if !(interval.is_finite() && interval > 0.0 && interval < 1e9) {
        args::fail("--interval: seconds, more than 0");
    }
    let distribution: Distribution = args
        .get("--distribution")
        .unwrap_or("exp")
        .parse()
        .unwrap_or_else(|()| args::fail("--distribution: exp, uniform or fixed"));
    let keep_alive =
        rserpool::Duration::from_millis(args.num::<u64>("--keep-alive-ms", 5000).max(100));
    let client = CalcAppClientConfig {
        job_size: size,
        job_size_distribution: distribution,
        interval: rserpool::Duration::from_micros((interval * 1e6) as u64),
        interval_distribution: distribution,
        keep_alive_interval: keep_alive,
        keep_alive_timeout: keep_alive,
        max_jobs: Some(jobs),
        history: 1024,
        ..CalcAppClientConfig::new(pool)
    };
    let seconds: f64 = args.num("--seconds", interval * jobs as f64 * 4.0 + 60.0);
    let outcome = calcapp::run_user(
        config,
        node,
        client,
        Duration::from_secs_f64(seconds.clamp(1.0, 1e9)),
        true,
    )
    .unwrap_or_else(|e| args::fail(&format!("pool user: {e}")));
    println!("{}", outcome.summary());
    if outcome.all_done() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `MIN-MAX` (or one size).
fn parse_sizes(v: &str) -> Option<(usize, usize)> {
    let (a, b) = v.split_once('-').unwrap_or((v, v));
    let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (1 <= a && a <= b && b <= 60_000).then_some((a, b))
}

/// Prints what happens to a session.
fn print_event(event: &Event) {
    match event {
        Event::Connected {
            session,
            pe,
            failover,
        } => println!(
            "{session}: connected to pool element {}{}",
            pe.get(),
            if *failover { " (failover)" } else { "" }
        ),
        Event::Failover {
            session,
            from,
            reason,
        } => println!(
            "{session}: failover from pool element {} ({reason:?})",
            from.get()
        ),
        Event::Closed { session, reason } => println!("{session}: closed ({reason:?})"),
        _ => {}
    }
}

/// A [`LoadGenerator`] that prints its sessions' events.
struct Printing(LoadGenerator);

impl Application for Printing {
    fn start(&mut self, ctx: &mut AppCtx<'_>) {
        self.0.start(ctx);
    }
    fn on_event(&mut self, ctx: &mut AppCtx<'_>, event: &Event, bytes: &[u8]) {
        print_event(event);
        self.0.on_event(ctx, event, bytes);
    }
    fn poll_timeout(&self) -> Option<rserpool::Instant> {
        self.0.poll_timeout()
    }
    fn handle_timeout(&mut self, ctx: &mut AppCtx<'_>) {
        self.0.handle_timeout(ctx);
    }
}

/// Generated messages on one session, every answer checked.
#[allow(clippy::too_many_arguments)]
fn generated(
    config: PoolUserConfig,
    node: NodeConfig,
    pool: PoolHandle,
    sizes: (usize, usize),
    ppid: u32,
    count: u64,
    interval_ms: u64,
    timeout: Duration,
) -> ExitCode {
    const WINDOW: usize = 32;
    let mut su = SessionUserConfig::new(config);
    su.resend = ResendPolicy::LastUnacknowledged(WINDOW as u16);
    su.retry_interval = rserpool::Duration::from_millis(500);
    let load = LoadConfig {
        interval: Some(rserpool::Duration::from_millis(interval_ms.max(1))),
        count: Some(count),
        sizes,
        ppid,
        timeout: rserpool::Duration::from_millis(1000),
        window: WINDOW,
        sessions: 1,
        session_requests: 0,
        retry_interval: rserpool::Duration::from_millis(500),
        ..LoadConfig::new(pool)
    };
    let user = AppNode::start(su, node, Printing(LoadGenerator::new(load)))
        .unwrap_or_else(|e| args::fail(&format!("pool user: {e}")));
    // Until every message is issued and answered, or the time is up.
    let end = std::time::Instant::now()
        + Duration::from_millis(interval_ms.saturating_mul(count))
        + timeout;
    let mut last = 0;
    while std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        let Some((issued, served, open)) =
            user.with_app(|a, _| (a.0.issued, a.0.served, a.0.outstanding()))
        else {
            break;
        };
        if served / 50 != last / 50 {
            println!("served {served} of {issued}");
        }
        last = served;
        if issued == count && open == 0 {
            break;
        }
    }
    let (issued, served, failovers, duplicates, mismatches) = user
        .with_app(|a, _| {
            let g = &a.0;
            (g.issued, g.served, g.failovers, g.duplicates, g.mismatches)
        })
        .unwrap_or_default();
    let capture_lost = args::capture_lost(user.counters());
    user.shutdown();
    println!(
        "answers checked byte for byte: {served} (sizes {}-{} bytes), wrong: {mismatches}, \
         unexpected: {duplicates}",
        sizes.0, sizes.1
    );
    let lost = count.saturating_sub(served);
    println!("pool_user: requests={issued} served={served} failovers={failovers} lost={lost}");
    if lost == 0 && mismatches == 0 && !capture_lost {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One session for standard input's lines; answers are printed.
struct Lines {
    pool: PoolHandle,
    ppid: u32,
    session: Option<SessionId>,
}

impl Lines {
    fn session(&mut self, ctx: &mut AppCtx<'_>) -> Option<SessionId> {
        if self.session.is_none() {
            self.session = ctx.connect(self.pool).ok();
        }
        self.session
    }
}

impl Application for Lines {
    fn start(&mut self, ctx: &mut AppCtx<'_>) {
        self.session(ctx);
    }
    fn on_event(&mut self, ctx: &mut AppCtx<'_>, event: &Event, bytes: &[u8]) {
        print_event(event);
        match event {
            Event::Message { session, .. } => {
                // Which PE answered, as rspterminal shows it.
                if let Some(SessionState::Connected { pe, .. }) = ctx.state(*session) {
                    print!("[{}] ", pe.get());
                }
                print!("{}", String::from_utf8_lossy(bytes));
                if !bytes.ends_with(b"\n") {
                    println!();
                }
            }
            Event::Closed { session, .. } if self.session == Some(*session) => {
                self.session = None;
            }
            _ => {}
        }
    }
}

fn lines(config: PoolUserConfig, node: NodeConfig, pool: PoolHandle, ppid: u32) -> ExitCode {
    let app = Lines {
        pool,
        ppid,
        session: None,
    };
    let user = AppNode::start(SessionUserConfig::new(config), node, app)
        .unwrap_or_else(|e| args::fail(&format!("pool user: {e}")));
    let mut failed = false;
    for line in std::io::stdin().lines() {
        let Ok(mut line) = line else { break };
        line.push('\n');
        let sent = user.with_app(move |a, ctx| {
            let ppid = a.ppid;
            let s = a.session(ctx)?;
            ctx.send(s, ppid, line.as_bytes()).ok()
        });
        if sent.flatten().is_none() {
            eprintln!("pool_user: the line could not be sent");
            failed = true;
        }
    }
    // Answers to the last lines.
    std::thread::sleep(Duration::from_secs(1));
    let capture_lost = args::capture_lost(user.counters());
    user.shutdown();
    if failed || capture_lost {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
