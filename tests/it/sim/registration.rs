//! Registration and resolution through the real registrar, pool element
//! and pool user machines.

use crate::support::sim::*;
use rserpool::sim::scenario::server_id;
use rserpool::sim::Simulation;
use rserpool::wire::asap_type;

#[test]
fn pool_elements_register_and_users_resolve_and_are_served() {
    let mut sim = Simulation::new(small(|_| {}));
    let summary = sim.run();
    all_registered_at(&sim, 1);
    assert_eq!(held(&sim, 1).len(), 5);
    for n in 1..=5 {
        let home = sim.element(n).unwrap().pool_element().home().unwrap();
        assert_eq!(
            home.remote,
            Some(rserpool::sim::scenario::registrar_addr(1))
        );
        // Round robin spreads the requests over every PE.
        assert!(
            sim.element(n).unwrap().answered() > 0,
            "PE {n} served nothing"
        );
    }
    for n in 1..=3 {
        // The session layer consumes the resolutions; the user's cache
        // holds the whole pool.
        let u = sim.user(n).unwrap();
        let mut ids = [rserpool::PeId::new(1).unwrap(); 16];
        let pool = rserpool::PoolHandle::new(b"sim").unwrap();
        assert_eq!(u.pool_user().cached_elements(&pool, &mut ids), 5);
        assert!(u.app.served > 0);
    }
    // 3 users × 2/s × 45 s of requests, all served, nothing lost.
    assert!(summary.requests >= 250, "{summary}");
    assert_eq!(summary.served, summary.requests);
    assert_eq!((summary.lost, summary.failovers), (0, 0));
    assert!(summary.handlespace_consistent);
    // One REGISTRATION and one response per PE; one response per resolution.
    let c = sim.counters();
    assert_eq!(c.asap(asap_type::REGISTRATION), 5);
    assert_eq!(c.asap(asap_type::REGISTRATION_RESPONSE), 5);
    assert!(c.asap(asap_type::HANDLE_RESOLUTION) >= 3);
    assert_eq!(
        c.asap(asap_type::HANDLE_RESOLUTION),
        c.asap(asap_type::HANDLE_RESOLUTION_RESPONSE)
    );
    // The registrar keeps the PEs alive with keep-alives that are answered.
    let stats = sim.registrar(1).unwrap().stats();
    assert!(stats.keep_alives_sent > 0);
    assert_eq!(stats.keep_alive_acks, stats.keep_alives_sent);
    assert_eq!(stats.registrations, 5);
}

#[test]
fn pool_elements_find_the_registrar_by_server_announce() {
    let mut sim = Simulation::new(small(|o| o.multicast = true));
    let summary = sim.run();
    all_registered_at(&sim, 1);
    assert!(sim.counters().asap(asap_type::SERVER_ANNOUNCE) >= 50);
    assert_eq!(summary.served, summary.requests);
    assert!(summary.requests > 0);
    consistent(&sim);
    // The PEs learnt the registrar's server id from the announcements.
    let home = sim.element(1).unwrap().pool_element().home().unwrap();
    assert_eq!(home.server_id, Some(server_id(1)));
}

#[test]
fn every_policy_serves_every_request() {
    for policy in [
        "rr", "wrr", "rand", "wrand", "prio", "lu", "lud", "rlu", "plu",
    ] {
        let mut sim = Simulation::new(small(|o| {
            o.policy_type = rserpool::Policy::type_from_short_name(policy).unwrap();
            o.duration = rserpool::Duration::from_secs(30);
        }));
        let summary = sim.run();
        assert!(summary.requests > 50, "{policy}: {summary}");
        assert_eq!(summary.served, summary.requests, "{policy}: {summary}");
        assert!(summary.handlespace_consistent, "{policy}");
    }
}
