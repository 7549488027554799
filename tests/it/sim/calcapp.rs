//! CalcApp pools in the simulator: jobs done through a registrar, rejected
//! at a PE's limit, and continued from their cookie after a PE crash.

use rserpool::host::calcapp::Distribution;
use rserpool::sim::calcapp::{CalcAppOptions, CalcAppSimulation, ElementSpec};
use rserpool::{Duration, Instant, Policy};

fn secs(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e6
}

fn fixed(o: &mut CalcAppOptions, size: f64, interval: Duration) {
    o.client.job_size = size;
    o.client.job_size_distribution = Distribution::Fixed;
    o.client.interval = interval;
    o.client.interval_distribution = Distribution::Fixed;
}

/// Two PEs, two users, jobs of one second's work every 5 s: every job is
/// done through the registrar, none rejected, and the PEs' calculations
/// are the jobs' sizes.
#[test]
fn jobs_are_completed_through_a_registrar() {
    let mut o = CalcAppOptions::new(Policy::RoundRobin);
    o.elements = vec![ElementSpec::new(1_000_000.0, 4); 2];
    o.users = 2;
    fixed(&mut o, 1_000_000.0, Duration::from_secs(5));
    o.warmup = Duration::from_secs(10);
    o.duration = Duration::from_secs(120);
    let mut sim = CalcAppSimulation::new(o);
    let r = sim.run();
    let c = r.clients;
    // 21 jobs each, 5 s apart from 15 s on, all done by the end.
    assert_eq!((c.queued, c.completed), (42, 42), "{c:?}");
    assert_eq!(
        (c.rejects, c.failovers, c.timeouts, c.dropped),
        (0, 0, 0, 0)
    );
    assert_eq!(r.jobs.len() as u64, c.completed);
    for j in &r.jobs {
        assert_eq!(j.size, 1_000_000);
        // A second of work, alone or shared for a moment with the other
        // user's job, plus the network's round trips.
        let p = secs(j.processing_time());
        assert!((0.99..2.1).contains(&p), "{j}");
        assert!(secs(j.handling_time()) < 2.5, "{j}");
        assert!(j.pe.is_some() && j.rejects == 0);
    }
    let done: f64 = r.elements.iter().map(|e| e.completed as f64).sum();
    assert_eq!(done as u64, c.completed);
    // Calculations done = the completed jobs' sizes, plus what runs now.
    let used: f64 = r.elements.iter().map(|e| e.used_calculations).sum();
    assert!(
        used >= c.size_completed - 1.0,
        "{used} < {}",
        c.size_completed
    );
    assert!(used <= c.size_completed + 2_000_000.0, "{used}");
    // About 2 × 1 s of work every 5 s on 2 PEs: 20 % each.
    for e in &r.elements {
        assert!((0.15..0.25).contains(&e.utilisation), "{e:?}");
    }
    assert!(r.utilisation_fairness() > 0.95);
    let speed = r.average_handling_speed();
    assert!((400_000.0..1_000_000.0).contains(&speed), "{speed}");
}

/// A PE that runs one job at a time rejects the others; the users try
/// again a second later and get their jobs done, each alone at the PE's
/// full capacity.
#[test]
fn jobs_beyond_the_limit_are_rejected_and_retried() {
    let mut o = CalcAppOptions::new(Policy::RoundRobin);
    o.elements = vec![ElementSpec::new(1_000_000.0, 1)];
    o.users = 3;
    fixed(&mut o, 2_000_000.0, Duration::from_secs(10));
    o.net.jitter = Duration::ZERO;
    o.duration = Duration::from_secs(130);
    let mut sim = CalcAppSimulation::new(o);
    let r = sim.run();
    let pe = r.elements[0];
    assert!(pe.rejected > 0, "{pe:?}");
    assert_eq!(pe.rejected, r.clients.rejects);
    assert!(r.clients.completed >= 30, "{:?}", r.clients);
    assert!(r.jobs.iter().any(|j| j.rejects > 0));
    for j in &r.jobs {
        // Alone on the PE: 2 s of work.
        let p = secs(j.processing_time());
        assert!((2.0..2.05).contains(&p), "{j}");
        // Rejected ones waited at least the retry delay per reject.
        assert!(secs(j.startup_delay()) >= f64::from(j.rejects) * 1.0, "{j}");
    }
    // Never more than one job at a time: at most full use.
    assert!(
        pe.utilisation <= 1.0 + 1e-9 && pe.utilisation > 0.4,
        "{pe:?}"
    );
}

/// Processor sharing: two jobs of 3 s of work on one PE share its
/// capacity. The second user is farther away, so its job arrives `d`
/// later: the first runs alone for `d`, then both at half speed; each
/// takes 6 s - `d` on the PE.
#[test]
fn running_jobs_share_the_capacity() {
    let mut o = CalcAppOptions::new(Policy::RoundRobin);
    o.elements = vec![ElementSpec::new(1_000_000.0, 4)];
    o.users = 2;
    fixed(&mut o, 3_000_000.0, Duration::from_secs(1));
    o.client.max_jobs = Some(1);
    o.net.jitter = Duration::ZERO;
    o.duration = Duration::from_secs(40);
    let far = Duration::from_millis(250);
    o.user_delays = vec![Duration::ZERO, far];
    let mut sim = CalcAppSimulation::new(o);
    let r = sim.run();
    assert_eq!(r.jobs.len(), 2, "{r:?}");
    let mut jobs = r.jobs.clone();
    jobs.sort_by_key(|j| j.accepted_at);
    // When the PE accepted each: the far user's accept came `far` later.
    let (a, b) = (jobs[0], jobs[1]);
    let d = secs(b.accepted_at.saturating_duration_since(a.accepted_at)) - secs(far);
    assert!(d > 0.5 && d < 3.0, "{d}");
    for j in [a, b] {
        let p = secs(j.processing_time());
        assert!((p - (6.0 - d)).abs() < 0.01, "{j}: {p} s, d = {d}");
    }
    let used = r.elements[0].used_calculations;
    assert!((used - 6_000_000.0).abs() < 1.0, "{used}");
}

/// A PE crashes while it runs a job of 20 s of work: the user fails over
/// to the other PE, echoes the PE's last cookie, and the job continues from
/// there: the new PE does less than the job's size.
#[test]
fn a_failed_over_job_continues_from_its_cookie() {
    let mut o = CalcAppOptions::new(Policy::RoundRobin);
    o.elements = vec![ElementSpec::new(1_000_000.0, 4); 2];
    o.users = 1;
    fixed(&mut o, 20_000_000.0, Duration::from_secs(1));
    o.client.max_jobs = Some(1);
    o.warmup = Duration::from_secs(5);
    o.duration = Duration::from_secs(80);
    let mut sim = CalcAppSimulation::new(o);
    sim.run_until(Instant::from_secs(17));
    let busy = (1..=2)
        .find(|&n| sim.element(n).is_some_and(|e| e.service.jobs() == 1))
        .expect("a PE runs the job");
    let other = 3 - busy;
    assert!(sim.element(busy).unwrap().service.stats().cookies_sent >= 2);
    sim.world.crash(sim.elements[busy - 1]);
    let r = sim.run();
    assert_eq!(r.jobs.len(), 1, "{:?}", r.clients);
    let j = r.jobs[0];
    assert!(j.failovers >= 1, "{j}");
    let survivor = r.elements[other - 1];
    assert_eq!(survivor.accepted_from_cookie, 1, "{survivor:?}");
    assert_eq!(survivor.completed, 1);
    // At least 10 s of work were done and sent in cookies before the crash.
    assert!(
        survivor.used_calculations <= 10_000_000.0 + 1.0,
        "{survivor:?}"
    );
    assert!(secs(j.processing_time()) <= 10.1, "{j}");
    // Not started over: 20 s of work took less than 20 s after the crash.
    assert!(j.completed_at < Instant::from_secs(40), "{j}");
}
