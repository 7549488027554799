//! The CalcApp service on a pool element host, fed by hand: what it
//! answers, when, and how it shares its capacity.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::support::session::*;
use rserpool::host::calcapp::{
    policy_load, with_load, CalcAppService, CalcAppServiceConfig, ServiceJobEvent,
};
use rserpool::host::{ElementHost, Env, Node};
use rserpool::session::SessionConnect;
use rserpool::transmit::{Destination, Source, TransportEvent};
use rserpool::wire::calcapp::{CalcAppCookie, CalcAppMessage, CalcAppType, CALCAPP_PPID};
use rserpool::wire::{AsapMessage, Protocol, ASAP_PPID};
use rserpool::{AssocId, Duration, Instant, Policy};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct TestEnv {
    now: Instant,
    sent: Vec<(Destination, u32, Vec<u8>)>,
    x: u64,
}

impl Env for TestEnv {
    fn now(&self) -> Instant {
        self.now
    }
    fn send(&mut self, destination: Destination, ppid: u32, bytes: &[u8]) {
        self.sent.push((destination, ppid, bytes.to_vec()));
    }
    fn connect(&mut self, _connect: SessionConnect) {}
    fn close(&mut self, _assoc: AssocId) {}
    fn random_u64(&mut self) -> u64 {
        self.x = self.x.wrapping_mul(6364136223846793005).wrapping_add(1);
        self.x
    }
}

type Host = ElementHost<CalcAppService, 4, 4096, 32>;

struct Bench {
    host: Host,
    env: TestEnv,
    events: Arc<Mutex<Vec<ServiceJobEvent>>>,
}

fn user(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 9, n)), 50000)
}

impl Bench {
    fn new(capacity: f64, max_jobs: usize) -> Self {
        Self::with(CalcAppServiceConfig::new(capacity, max_jobs))
    }

    fn with(config: CalcAppServiceConfig) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = events.clone();
        let service = CalcAppService::new(config)
            .with_observer(Box::new(move |e, _| log.lock().unwrap().push(*e)));
        let mut b = Bench {
            host: Host::new(element_machine(1), service, Duration::ZERO),
            env: TestEnv::default(),
            events,
        };
        b.host.start(&mut b.env);
        b.host.flush(&mut b.env);
        b
    }

    /// User `n`'s association (101 + n) comes up.
    fn connect(&mut self, n: u8) {
        self.host.handle_transport_event(
            &mut self.env,
            TransportEvent::Up {
                assoc: AssocId(100 + u32::from(n)),
                remote: user(n),
                protocol: Protocol::Asap,
                verified: true,
            },
        );
        self.host.flush(&mut self.env);
    }

    fn receive(&mut self, n: u8, ppid: u32, bytes: &[u8]) {
        let src = Source::Association(AssocId(100 + u32::from(n)));
        self.host.handle_message(&mut self.env, src, ppid, bytes);
        self.host.flush(&mut self.env);
    }

    fn request(&mut self, n: u8, job: u32, size: u64) {
        self.receive(
            n,
            CALCAPP_PPID,
            &CalcAppMessage::request(job, size).to_bytes(),
        );
    }

    /// Runs the host's timers up to `t`.
    fn run_until(&mut self, t: Instant) {
        while let Some(due) = self.host.poll_timeout().filter(|&d| d <= t) {
            self.env.now = due.max(self.env.now);
            self.host.handle_timeout(&mut self.env);
            self.host.flush(&mut self.env);
        }
        self.env.now = t;
    }

    /// The CalcApp messages sent to user `n` (and forgets them).
    fn sent_to(&mut self, n: u8) -> Vec<(Instant, CalcAppMessage)> {
        let assoc = Destination::Association(AssocId(100 + u32::from(n)));
        let now = self.env.now;
        let mut out = Vec::new();
        self.env.sent.retain(|(d, ppid, b)| {
            if *d == assoc && *ppid == CALCAPP_PPID {
                out.push((now, CalcAppMessage::decode(b).unwrap()));
                false
            } else {
                true
            }
        });
        out
    }

    /// The cookies sent to user `n` (and forgets them).
    fn cookies_to(&mut self, n: u8) -> Vec<CalcAppCookie> {
        let assoc = Destination::Association(AssocId(100 + u32::from(n)));
        let mut out = Vec::new();
        self.env.sent.retain(|(d, ppid, b)| {
            if *d == assoc && *ppid == ASAP_PPID {
                if let Ok(AsapMessage::Cookie { cookie }) = AsapMessage::parse(b) {
                    out.push(CalcAppCookie::decode(cookie).unwrap());
                    return false;
                }
            }
            true
        });
        out
    }

    /// Runs until the next CalcApp message to user `n`: when, and what.
    fn next_to(&mut self, n: u8, limit: Instant) -> Option<(Instant, CalcAppMessage)> {
        while self.env.now < limit {
            if let Some(m) = self.sent_to(n).into_iter().next() {
                return Some(m);
            }
            let next = self.host.poll_timeout()?.min(limit);
            self.env.now = next.max(self.env.now);
            self.host.handle_timeout(&mut self.env);
            self.host.flush(&mut self.env);
            if let Some(mut m) = self.sent_to(n).into_iter().next() {
                m.0 = self.env.now;
                return Some(m);
            }
        }
        None
    }
}

fn kind(m: &CalcAppMessage) -> CalcAppType {
    m.kind
}

/// A job is accepted at once and completed after its size ÷ capacity,
/// with its size and all of it done; the PE's calculations are the job's.
#[test]
fn a_job_is_accepted_and_completed_after_its_work() {
    let mut b = Bench::new(1_000.0, 2);
    b.connect(1);
    b.request(1, 7, 2_500);
    let accept = b.sent_to(1);
    assert_eq!(accept.len(), 1);
    assert_eq!(accept[0].1, CalcAppMessage::new(CalcAppType::Accept, 7));
    assert_eq!(b.host.service.jobs(), 1);
    let (at, done) = b
        .next_to(1, Instant::from_secs(10))
        .filter(|(_, m)| m.kind == CalcAppType::Complete)
        .expect("a completion");
    assert_eq!(at, Instant::from_millis(2_500));
    assert_eq!(done, CalcAppMessage::complete(7, 2_500, 2_500));
    assert_eq!(b.host.service.jobs(), 0);
    let s = *b.host.service.stats();
    assert_eq!((s.accepted, s.completed, s.rejected), (1, 1, 0));
    assert!((b.host.service.used_calculations(at) - 2_500.0).abs() < 1e-6);
    // 2.5 s of work in 5 s.
    assert!((b.host.service.utilisation(Instant::from_secs(5)) - 0.5).abs() < 1e-9);
}

/// Processor sharing: job A (3,000 calculations) alone for 1 s at 1,000/s,
/// then B (1,000) joins; both run at 500/s: B is done 2 s later (at 3 s),
/// A has 1,000 left then and finishes alone at 4 s.
#[test]
fn jobs_share_the_capacity_equally() {
    let mut b = Bench::new(1_000.0, 4);
    b.connect(1);
    b.connect(2);
    b.request(1, 1, 3_000);
    assert_eq!(b.sent_to(1).len(), 1);
    b.run_until(Instant::from_secs(1));
    assert_eq!(b.host.service.capacity_per_job(), 1_000.0);
    b.request(2, 1, 1_000);
    assert_eq!(kind(&b.sent_to(2)[0].1), CalcAppType::Accept);
    assert_eq!(b.host.service.capacity_per_job(), 500.0);
    let mut progress: Vec<(u32, f64, f64)> = b
        .host
        .service
        .progress(Instant::from_millis(2_000))
        .collect();
    progress.sort_by(|x, y| x.1.total_cmp(&y.1));
    assert_eq!(progress, vec![(1, 1_000.0, 500.0), (1, 3_000.0, 1_500.0)]);
    let (t2, m2) = b.next_to(2, Instant::from_secs(10)).unwrap();
    assert_eq!(
        (t2, kind(&m2)),
        (Instant::from_secs(3), CalcAppType::Complete)
    );
    let mut t1 = None;
    while t1.is_none() {
        let (t, m) = b.next_to(1, Instant::from_secs(10)).unwrap();
        if m.kind == CalcAppType::Complete {
            t1 = Some(t);
        }
    }
    assert_eq!(t1, Some(Instant::from_secs(4)));
    assert!((b.host.service.used_calculations(Instant::from_secs(4)) - 4_000.0).abs() < 1e-6);
}

/// At its limit a PE rejects the next job (CalcAppReject with its id) and
/// keeps running the others; once one completes, a new one is accepted.
#[test]
fn a_job_beyond_the_limit_is_rejected() {
    let mut b = Bench::new(1_000.0, 2);
    for n in 1..=3 {
        b.connect(n);
    }
    b.request(1, 1, 1_000);
    b.request(2, 1, 5_000);
    b.request(3, 9, 1_000);
    assert_eq!(
        b.sent_to(3)[0].1,
        CalcAppMessage::new(CalcAppType::Reject, 9)
    );
    assert_eq!(b.host.service.jobs(), 2);
    assert_eq!(b.host.service.stats().rejected, 1);
    assert!(b.events.lock().unwrap().iter().any(|e| matches!(
        e,
        ServiceJobEvent::Rejected {
            job_id: 9,
            from_cookie: false,
            ..
        }
    )));
    // Job 1 of user 1 completes at 2 s (shared); then there is room.
    b.run_until(Instant::from_millis(2_001));
    assert_eq!(b.host.service.jobs(), 1);
    b.request(3, 10, 1_000);
    assert_eq!(
        b.sent_to(3)[0].1,
        CalcAppMessage::new(CalcAppType::Accept, 10)
    );
}

/// Keep-alives: the user's are answered; the PE sends its own after 2.5 s
/// and removes a job whose keep-alive is not answered within 2.5 s.
#[test]
fn keep_alives_are_answered_and_an_unanswered_one_removes_the_job() {
    let mut b = Bench::new(1.0, 2);
    b.connect(1);
    b.request(1, 4, 1_000_000);
    b.sent_to(1);
    b.receive(
        1,
        CALCAPP_PPID,
        &CalcAppMessage::new(CalcAppType::KeepAlive, 4).to_bytes(),
    );
    assert_eq!(
        b.sent_to(1)[0].1,
        CalcAppMessage::new(CalcAppType::KeepAliveAck, 4)
    );
    // One for a job it does not run is not answered.
    b.receive(
        1,
        CALCAPP_PPID,
        &CalcAppMessage::new(CalcAppType::KeepAlive, 5).to_bytes(),
    );
    assert!(b.sent_to(1).is_empty());
    let (t, m) = b.next_to(1, Instant::from_secs(10)).unwrap();
    assert_eq!(
        (t, m),
        (
            Instant::from_millis(2_500),
            CalcAppMessage::new(CalcAppType::KeepAlive, 4)
        )
    );
    // Answered: the next one 2.5 s after the answer.
    b.env.now = Instant::from_secs(3);
    b.receive(
        1,
        CALCAPP_PPID,
        &CalcAppMessage::new(CalcAppType::KeepAliveAck, 4).to_bytes(),
    );
    let (t, _) = b.next_to(1, Instant::from_secs(10)).unwrap();
    assert_eq!(t, Instant::from_millis(5_500));
    // Not answered: removed 2.5 s later.
    b.run_until(Instant::from_millis(7_999));
    assert_eq!(b.host.service.jobs(), 1);
    b.run_until(Instant::from_secs(8));
    assert_eq!(b.host.service.jobs(), 0);
    assert_eq!(b.host.service.stats().keep_alive_timeouts, 1);
}

/// Cookies carry the job's progress (every 5 s or 5,000,000 calculations);
/// a cookie echo on another PE continues the job from there.
#[test]
fn cookies_carry_the_progress_and_an_echo_continues_the_job() {
    // (No keep-alives from the PE in 10 s.)
    let mut b = Bench::with(CalcAppServiceConfig {
        keep_alive_interval: Duration::from_secs(100),
        ..CalcAppServiceConfig::new(1_000_000.0, 2)
    });
    b.connect(1);
    b.request(1, 3, 12_000_000);
    b.run_until(Instant::from_millis(10_500));
    let cookies = b.cookies_to(1);
    assert_eq!(
        cookies,
        vec![
            CalcAppCookie {
                job_id: 3,
                job_size: 12_000_000,
                completed: 5_000_000
            },
            CalcAppCookie {
                job_id: 3,
                job_size: 12_000_000,
                completed: 10_000_000
            },
        ]
    );
    // Another PE gets the last cookie echoed: 2,000,000 to go, 2 s.
    let mut other = Bench::new(1_000_000.0, 2);
    other.connect(1);
    let echo = AsapMessage::CookieEcho {
        cookie: &cookies[1].to_bytes(),
    };
    let mut buf = [0u8; 64];
    let len = echo.emit(&mut buf).unwrap();
    other.receive(1, ASAP_PPID, &buf[..len]);
    assert_eq!(
        other.sent_to(1)[0].1,
        CalcAppMessage::new(CalcAppType::Accept, 3)
    );
    assert_eq!(other.host.service.stats().accepted_from_cookie, 1);
    let (t, m) = other.next_to(1, Instant::from_secs(10)).unwrap();
    assert_eq!(
        (t, m),
        (
            Instant::from_secs(2),
            CalcAppMessage::complete(3, 12_000_000, 12_000_000)
        )
    );
    assert!((other.host.service.used_calculations(t) - 2_000_000.0).abs() < 1e-6);
    // A cookie claiming more done than the job's size closes the session.
    let mut third = Bench::new(1_000_000.0, 2);
    third.connect(1);
    let mut bad = cookies[1].to_bytes();
    bad[12..20].copy_from_slice(&13_000_000u64.to_be_bytes());
    let len = AsapMessage::CookieEcho { cookie: &bad }
        .emit(&mut buf)
        .unwrap();
    third.receive(1, ASAP_PPID, &buf[..len]);
    assert!(third.sent_to(1).is_empty());
    assert_eq!(third.host.service.jobs(), 0);
    assert_eq!(third.host.service.stats().errors, 1);
}

/// Hostile bytes are counted and answered with nothing.
#[test]
fn malformed_messages_are_counted_and_ignored() {
    let mut b = Bench::new(1_000.0, 2);
    b.connect(1);
    for bytes in [
        &b""[..],
        &[1, 0, 0, 24][..],
        &[9; 24][..],
        &CalcAppMessage::new(CalcAppType::Complete, 1).to_bytes()[..],
    ] {
        b.receive(1, CALCAPP_PPID, bytes);
    }
    assert!(b.sent_to(1).is_empty());
    assert_eq!(b.host.service.stats().errors, 4);
    assert_eq!(b.host.service.jobs(), 0);
}

/// With a load policy the PE reports running jobs ÷ its limit.
#[test]
fn the_load_follows_the_jobs() {
    assert_eq!(policy_load(&Policy::LeastUsed { load: 7 }), Some(7));
    assert_eq!(policy_load(&Policy::RoundRobin), None);
    assert_eq!(
        with_load(
            Policy::PriorityLeastUsed {
                load: 0,
                degradation: 9
            },
            5
        ),
        Some(Policy::PriorityLeastUsed {
            load: 5,
            degradation: 9
        })
    );
    assert_eq!(with_load(Policy::Random, 5), None);
}
