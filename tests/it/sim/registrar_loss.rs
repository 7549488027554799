//! A registrar crashes: its pool elements hunt another configured
//! registrar and register there (no ENRP yet: the other registrar simply
//! receives the registrations); pool users hunt too and keep being served.

use crate::support::sim::*;
use rserpool::pool_element;
use rserpool::sim::scenario::server_id;
use rserpool::sim::{NodeAt, Simulation};
use rserpool::time::Duration;

#[test]
fn pes_of_a_crashed_registrar_re_register_with_the_other_one() {
    let o = small(|o| {
        o.registrars = 2;
        o.elements = 8;
        o.duration = Duration::from_secs(120);
    });
    let mut sim = Simulation::new(o);
    sim.world.run_until(at(20));
    // Both registrars took some PEs (the first association up wins).
    let (a, b) = (held(&sim, 1).len(), held(&sim, 2).len());
    assert_eq!(a + b, 8);
    assert!(a > 0 && b > 0, "{a} + {b}");
    consistent(&sim);
    let r1 = sim.registrars[0];
    sim.world.crash(r1);
    let summary = sim.run();
    // Every PE is registered at registrar 2 now, owned by it.
    all_registered_at(&sim, 2);
    assert_eq!(held(&sim, 2).len(), 8);
    for n in 1..=8 {
        let el = sim.element(n).unwrap();
        assert_eq!(
            el.pool_element().home().and_then(|h| h.remote),
            Some(rserpool::sim::scenario::registrar_addr(2))
        );
    }
    // The ones that lost their home said so, and re-registered.
    let moved = (1..=8)
        .filter(|&n| {
            sim.element(n)
                .unwrap()
                .events
                .iter()
                .any(|(_, e)| matches!(e, pool_element::Event::HomeLost { .. }))
        })
        .count();
    assert_eq!(moved, a);
    assert_eq!(
        sim.registrar(2).unwrap().stats().registrations,
        8,
        "every PE registered with registrar 2 once"
    );
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.served, summary.requests);
    assert!(summary.handlespace_consistent);
}

#[test]
fn the_move_happens_within_failure_detection_plus_a_hunt() {
    let o = small(|o| {
        o.registrars = 2;
        o.users = 0;
        o.duration = Duration::from_secs(60);
        o.kill_registrars.push(NodeAt {
            number: 1,
            at: at(10),
        });
    });
    let mut sim = Simulation::new(o);
    // 5 s to detect, one delay to connect, one to register.
    sim.world.run_until(at(16));
    all_registered_at(&sim, 2);
    sim.run();
    all_registered_at(&sim, 2);
    assert!(sim.registrar(1).is_none());
    consistent(&sim);
}

#[test]
fn a_restarted_single_registrar_gets_every_pe_back() {
    let o = small(|o| {
        o.duration = Duration::from_secs(150);
        o.kill_registrars.push(NodeAt {
            number: 1,
            at: at(20),
        });
        o.restart_registrars.push(NodeAt {
            number: 1,
            at: at(30),
        });
    });
    let mut sim = Simulation::new(o);
    sim.world.run_until(at(29));
    assert!(sim.registrar(1).is_none());
    for n in 1..=5 {
        assert!(sim.element(n).unwrap().pool_element().home().is_none());
    }
    let summary = sim.run();
    // The PEs' server hunt (T5 doubling) found the restarted registrar.
    all_registered_at(&sim, 1);
    assert_eq!(held(&sim, 1).len(), 5);
    assert_eq!(sim.registrar(1).unwrap().server_id(), server_id(1));
    // Users were served from their caches meanwhile.
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.served, summary.requests);
    assert!(summary.handlespace_consistent);
}

#[test]
fn a_registrar_crash_during_re_registration_does_not_strand_the_pes() {
    // rsplib: T4 30 s, T2 3 s < the 5 s failure detection: the
    // re-registrations sent just after the crash time out before the
    // association is seen to fail. The PEs must keep hunting and come back
    // when the registrar does (this stalled the server hunt once).
    for seed in 1..=3 {
        let o = small(|o| {
            o.seed = seed;
            o.profile = rserpool::sim::Profile::Rsplib;
            o.users = 2;
            o.duration = Duration::from_secs(200);
            o.kill_registrars.push(NodeAt {
                number: 1,
                at: at(30),
            });
            o.restart_registrars.push(NodeAt {
                number: 1,
                at: at(40),
            });
        });
        let mut sim = Simulation::new(o);
        let summary = sim.run();
        all_registered_at(&sim, 1);
        assert_eq!(held(&sim, 1).len(), 5, "seed {seed}");
        assert_eq!(summary.lost, 0, "seed {seed}: {summary}");
        assert!(summary.handlespace_consistent, "seed {seed}");
    }
}

#[test]
fn without_any_registrar_users_go_on_from_their_caches_and_still_fail_over() {
    let o = small(|o| {
        o.duration = Duration::from_secs(200);
        o.kill_registrars.push(NodeAt {
            number: 1,
            at: at(30),
        });
        o.kill_elements.push(NodeAt {
            number: 2,
            at: at(90),
        });
    });
    let mut sim = Simulation::new(o);
    let summary = sim.run();
    assert!(sim.registrar(1).is_none());
    // The PEs lost their home and keep hunting.
    for n in [1, 3, 4, 5] {
        assert!(
            sim.element(n).unwrap().pool_element().home().is_none(),
            "PE {n}"
        );
    }
    // The users served everything from their (stale) caches and failed
    // over from the crashed PE to the others.
    assert!(summary.failovers > 0);
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.served, summary.requests);
    // Their unreachable reports wait for a registrar: none was delivered.
    assert!(sim.counters().unreachable_reports > 0);
    assert_eq!(
        sim.counters()
            .asap(rserpool::wire::asap_type::ENDPOINT_UNREACHABLE),
        0
    );
}
