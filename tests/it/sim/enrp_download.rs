//! A registrar joins a running pool and downloads its 10,000-PE
//! handlespace from its mentor, in pages.

use crate::support::sim::*;
use rserpool::sim::scenario::PRELOAD_OWNER;
use rserpool::sim::{NodeAt, Simulation};
use rserpool::time::Duration;
use rserpool::wire::enrp_type;

#[test]
fn a_joining_registrar_downloads_ten_thousand_pes_in_pages() {
    // Registrar 1 holds 9,800 PEs of a silent peer and 200 PEs register
    // with it; registrar 2 starts at 20 s.
    let mut sim = Simulation::new(pool(2, 200, |o| {
        o.preload = 9_800;
        o.duration = Duration::from_secs(60);
        o.join_registrars.push(NodeAt {
            number: 2,
            at: at(20),
        });
    }));
    sim.world.run_until(at(19));
    let responses_before = sim.counters().enrp(enrp_type::HANDLE_TABLE_RESPONSE);
    let summary = sim.run();
    assert!(summary.handlespace_consistent, "{summary}");
    strictly_consistent(&sim);
    let held = sim.registrar(2).unwrap().held();
    assert_eq!(held.len(), 10_000);
    assert_eq!(
        held.iter()
            .filter(|h| h.owner == Some(PRELOAD_OWNER))
            .count(),
        9_800
    );
    resolvable_everywhere(&sim, 200);
    // In pages: many responses, each at most the page size.
    let c = sim.counters();
    let pages = c.enrp(enrp_type::HANDLE_TABLE_RESPONSE) - responses_before;
    assert!(pages >= 10_000 / 1024, "{pages} pages");
    assert!(c.enrp(enrp_type::HANDLE_TABLE_REQUEST) >= pages);
}
