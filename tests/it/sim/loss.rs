//! A lossy, jittery network with duplicated and reordered datagrams: the
//! pool still converges, nothing is lost, the handlespace is consistent.

use crate::support::sim::*;
use rserpool::sim::{NodeAt, Profile, Simulation};
use rserpool::time::Duration;

fn lossy(o: &mut rserpool::sim::Options) {
    o.net.loss = 0.02;
    o.net.jitter = Duration::from_millis(10);
    o.net.duplicate = 0.01;
    o.net.reorder = 0.05;
}

#[test]
fn two_percent_loss_converges_with_a_crash() {
    let o = small(|o| {
        lossy(o);
        o.elements = 10;
        o.users = 5;
        o.duration = Duration::from_secs(200);
        o.kill_elements.push(NodeAt {
            number: 4,
            at: at(80),
        });
    });
    let mut sim = Simulation::new(o);
    let summary = sim.run();
    assert!(sim.counters().retransmissions > 0);
    all_registered_at(&sim, 1);
    assert_eq!(held(&sim, 1).len(), 9);
    assert_eq!(summary.lost, 0, "{summary}");
    assert_eq!(summary.served, summary.requests);
    assert!(summary.failovers > 0);
    assert!(summary.handlespace_consistent, "{:?}", sim.consistency());
}

#[test]
fn two_percent_loss_with_announcements_and_the_rsplib_profile() {
    // Multicast SERVER_ANNOUNCEs are datagrams: some are lost, duplicated
    // or reordered; the PEs still find the registrars.
    let o = small(|o| {
        lossy(o);
        o.multicast = true;
        o.registrars = 2;
        o.profile = Profile::Rsplib;
        o.duration = Duration::from_secs(120);
    });
    let mut sim = Simulation::new(o);
    let summary = sim.run();
    let c = sim.counters();
    assert!(c.dropped > 0 && c.duplicated > 0 && c.reordered > 0, "{c}");
    for n in 1..=5 {
        assert!(sim.element(n).unwrap().is_registered());
    }
    assert_eq!(held(&sim, 1).len() + held(&sim, 2).len(), 5);
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.served, summary.requests);
    assert!(summary.handlespace_consistent, "{:?}", sim.consistency());
}

#[test]
fn heavy_loss_with_announcements_causes_no_timer_storm() {
    // 20 % loss drops several SERVER_ANNOUNCEs in a row, so the home
    // registrar's T7 runs out while it is connected (this once left a
    // timeout in the past for ever).
    let o = small(|o| {
        o.net.loss = 0.2;
        o.net.jitter = Duration::from_millis(30);
        o.net.duplicate = 0.05;
        o.net.reorder = 0.2;
        o.multicast = true;
        o.registrars = 3;
        o.elements = 15;
        o.users = 8;
        o.rate = 1.0;
        o.profile = Profile::Rsplib;
        o.duration = Duration::from_secs(150);
        o.kill_registrars.push(NodeAt {
            number: 2,
            at: at(100),
        });
    });
    let mut sim = Simulation::new(o);
    let summary = sim.run();
    assert_eq!(sim.counters().timer_storms, 0);
    assert!(summary.requests > 500);
    for n in 1..=15 {
        assert!(sim.element(n).unwrap().is_registered(), "PE {n}");
    }
}
