//! A pool element crashes: the registrar removes it (transport failure,
//! keep-alive timeout or unreachable reports), users fail over with the
//! session's cookie, and no request is lost.

use crate::support::sim::*;
use rserpool::registrar::RemovalReason;
use rserpool::sim::{NodeAt, Profile, Simulation};
use rserpool::time::Duration;

#[test]
fn crashed_pe_is_removed_after_failure_detection_and_users_fail_over() {
    let o = small(|o| {
        o.duration = Duration::from_secs(120);
        o.kill_elements.push(NodeAt {
            number: 2,
            at: at(40),
        });
    });
    let mut sim = Simulation::new(o);
    let dead = pe_id(&sim, 2);
    let summary = sim.run();
    // The association to the PE fails 5 s after the crash: removed then.
    let removals = sim.registrar(1).unwrap().removals().to_vec();
    assert_eq!(
        removals,
        vec![(at(45), dead, RemovalReason::TransportFailure)],
        "{removals:?}"
    );
    assert!(!held(&sim, 1).contains(&dead));
    assert_eq!(held(&sim, 1).len(), 4);
    // Users noticed and failed over; nothing lost, nothing served twice.
    assert!(summary.failovers > 0, "{summary}");
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.served, summary.requests);
    let c = sim.counters();
    assert!(c.unreachable_reports > 0);
    assert_eq!(c.duplicates, 0);
    // A request that failed over was served within timeout + a little.
    assert!(c.failed_over_served > 0);
    assert!(
        c.failover_time_max_us <= 3_000_000,
        "{}",
        c.failover_time_max_us
    );
    // The sessions' cookies were echoed to the new PEs.
    assert!(c.cookie_echoes > 0, "{c}");
    assert!(summary.handlespace_consistent);
}

#[test]
fn without_transport_failure_the_keep_alive_timeout_removes_the_pe() {
    // Associations never report the crash; no users (no reports either):
    // only the registrar's keep-alive finds out (rsplib: every 5 s ±50 %,
    // 5 s timeout).
    let o = small(|o| {
        o.profile = Profile::Rsplib;
        o.users = 0;
        o.net.failure_detection = Duration::from_secs(100_000);
        o.kill_elements.push(NodeAt {
            number: 3,
            at: at(30),
        });
    });
    let mut sim = Simulation::new(o);
    let dead = pe_id(&sim, 3);
    sim.run();
    let removals = sim.registrar(1).unwrap().removals().to_vec();
    assert_eq!(removals.len(), 1, "{removals:?}");
    let (t, pe, reason) = removals[0];
    assert_eq!((pe, reason), (dead, RemovalReason::KeepAliveTimeout));
    // At most 7.5 s to the next keep-alive, then 5 s to time out.
    assert!(
        t > at(30) && t <= at(30) + Duration::from_millis(12_600),
        "{t}"
    );
    consistent(&sim);
}

#[test]
fn unreachable_reports_make_the_registrar_probe_and_remove_the_pe() {
    // No transport failure and a long keep-alive cycle: the users'
    // ENDPOINT_UNREACHABLE reports trigger the probe.
    let o = small(|o| {
        o.users = 5;
        o.rate = 5.0;
        o.net.failure_detection = Duration::from_secs(100_000);
        o.kill_elements.push(NodeAt {
            number: 1,
            at: at(20),
        });
    });
    let mut sim = Simulation::new(o);
    let dead = pe_id(&sim, 1);
    let summary = sim.run();
    let removals = sim.registrar(1).unwrap().removals().to_vec();
    assert_eq!(removals.len(), 1, "{removals:?}");
    let (t, pe, reason) = removals[0];
    assert_eq!(pe, dead);
    assert!(
        matches!(
            reason,
            RemovalReason::KeepAliveTimeout | RemovalReason::Unreachable
        ),
        "{reason:?}"
    );
    // Well before the RFC keep-alive cycle (30 s ± 50 %) would have found it.
    assert!(t <= at(30), "{t}");
    assert!(sim.registrar(1).unwrap().stats().unreachable_reports > 0);
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.served, summary.requests);
    consistent(&sim);
}

#[test]
fn restarted_pe_registers_afresh_and_the_old_registration_goes() {
    let o = small(|o| {
        o.duration = Duration::from_secs(90);
        o.kill_elements.push(NodeAt {
            number: 4,
            at: at(30),
        });
        o.restart_elements.push(NodeAt {
            number: 4,
            at: at(32),
        });
    });
    let mut sim = Simulation::new(o);
    let old = pe_id(&sim, 4);
    let summary = sim.run();
    let new = pe_id(&sim, 4);
    assert_ne!(old, new);
    let ids = held(&sim, 1);
    assert!(ids.contains(&new) && !ids.contains(&old), "{ids:?}");
    all_registered_at(&sim, 1);
    assert_eq!(summary.lost, 0);
    assert!(summary.handlespace_consistent);
    // The restarted PE serves again.
    assert!(sim.element(4).unwrap().answered() > 0);
}
