//! ENRP registrars in steady state share one handlespace: every registrar
//! holds every PE with its home as owner, and the checksums agree.

use crate::support::sim::*;
use rserpool::sim::{Profile, Simulation};
use rserpool::time::Duration;
use rserpool::wire::enrp_type;

#[test]
fn three_registrars_and_two_thousand_pes_agree() {
    let mut sim = Simulation::new(pool(3, 2000, |o| {
        o.users = 10;
        o.rate = 2.0;
    }));
    let summary = sim.run();
    assert!(summary.handlespace_consistent, "{summary}");
    strictly_consistent(&sim);
    resolvable_everywhere(&sim, 2000);
    // The PEs chose their homes among all three registrars.
    let homes: std::collections::BTreeSet<_> =
        sim.registered().into_iter().map(|(_, h)| h).collect();
    assert_eq!(homes.len(), 3, "{homes:?}");
    // Every PE has exactly one owner in every view.
    assert!(owners(&sim).values().all(|o| o.len() == 1));
    let c = sim.counters();
    assert!(c.enrp(enrp_type::HANDLE_UPDATE) >= 2000, "{c}");
    assert!(c.enrp(enrp_type::PRESENCE) > 0);
    assert_eq!(summary.lost, 0, "{summary}");
}

#[test]
fn five_registrars_with_rfc_timers_agree() {
    let mut sim = Simulation::new(pool(5, 1000, |o| {
        o.profile = Profile::Rfc;
        o.duration = Duration::from_secs(150);
    }));
    assert!(sim.run().handlespace_consistent);
    strictly_consistent(&sim);
    resolvable_everywhere(&sim, 1000);
}

#[test]
fn registrars_that_find_each_other_by_multicast_agree() {
    let mut sim = Simulation::new(pool(4, 1000, |o| o.multicast = true));
    assert!(sim.run().handlespace_consistent);
    strictly_consistent(&sim);
    resolvable_everywhere(&sim, 1000);
}
