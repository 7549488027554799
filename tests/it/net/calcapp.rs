//! CalcApp over loopback UDP, through the examples' own code
//! (`examples/common/calcapp.rs`): a registrar, CalcApp pool elements and
//! CalcApp pool users on the tokio runtime.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::net::{loopback_registrar, pool, registered, wait_for};

#[path = "../../../examples/common/calcapp.rs"]
mod calcapp_example;

use rserpool::host::calcapp::{CalcAppClientConfig, Distribution};
use rserpool::runtime::blocking::{PoolElementNode, RegistrarNode};
use rserpool::runtime::{loopback, NodeConfig};

fn any() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn element(
    r: &RegistrarNode,
    n: usize,
    max_jobs: usize,
) -> (PoolElementNode, calcapp_example::SharedStats) {
    let (service, stats) = calcapp_example::element_service(1_000_000.0, max_jobs, false);
    let pe = PoolElementNode::start(
        loopback::element(pool(), &[r.local_addr()], 70 + n as u64),
        NodeConfig::new(any()),
        Box::new(service),
    )
    .unwrap();
    assert!(wait_for(Duration::from_secs(5), || registered(r, n)));
    (pe, stats)
}

fn client(jobs: u64, size: f64, interval_ms: u64) -> CalcAppClientConfig {
    CalcAppClientConfig {
        job_size: size,
        job_size_distribution: Distribution::Fixed,
        interval: rserpool::Duration::from_millis(interval_ms),
        interval_distribution: Distribution::Fixed,
        max_jobs: Some(jobs),
        ..CalcAppClientConfig::new(pool())
    }
}

/// Two CalcApp PEs do a pool user's jobs; the PEs' calculations are the
/// jobs' sizes.
#[test]
fn calcapp_jobs_are_done_over_loopback() {
    let r = loopback_registrar();
    let (pe1, s1) = element(&r, 1, 4);
    let (pe2, s2) = element(&r, 2, 4);
    let outcome = calcapp_example::run_user(
        loopback::user(&[r.local_addr()], 5),
        NodeConfig::new(any()),
        client(6, 100_000.0, 50),
        Duration::from_secs(20),
        false,
    )
    .unwrap();
    assert!(outcome.all_done(), "{}", outcome.summary());
    assert_eq!(outcome.jobs.len(), 6);
    for j in &outcome.jobs {
        assert_eq!(j.size, 100_000);
        // 0.1 s of work at least.
        assert!(
            j.processing_time() >= rserpool::Duration::from_millis(99),
            "{j}"
        );
        assert!(j.pe.is_some());
    }
    let (a, b) = (*s1.lock().unwrap(), *s2.lock().unwrap());
    assert_eq!(a.completed + b.completed, 6, "{a:?} {b:?}");
    let used = a.used_calculations + b.used_calculations;
    assert!((used - 600_000.0).abs() < 1.0, "{used}");
    assert!(outcome
        .summary()
        .starts_with("pool_user: jobs=6 completed=6 "));
    pe1.stop();
    pe2.stop();
}

/// A PE that runs one job at a time rejects a second user's job while it
/// runs the first's; that user asks again and gets it done.
#[test]
fn calcapp_rejects_at_the_limit_and_the_user_retries() {
    let r = loopback_registrar();
    let (pe, stats) = element(&r, 1, 1);
    let registrar = r.local_addr();
    let users: Vec<_> = (0..2)
        .map(|k| {
            std::thread::spawn(move || {
                calcapp_example::run_user(
                    loopback::user(&[registrar], 9 + k),
                    NodeConfig::new(any()),
                    client(1, 1_000_000.0, 100),
                    Duration::from_secs(20),
                    false,
                )
                .unwrap()
            })
        })
        .collect();
    let outcomes: Vec<_> = users.into_iter().map(|u| u.join().unwrap()).collect();
    for o in &outcomes {
        assert!(o.all_done(), "{}", o.summary());
    }
    let rejects: u64 = outcomes.iter().map(|o| o.stats.rejects).sum();
    let s = *stats.lock().unwrap();
    assert!(rejects >= 1 && s.rejected == rejects, "{s:?}");
    assert_eq!(s.completed, 2);
    pe.stop();
}
