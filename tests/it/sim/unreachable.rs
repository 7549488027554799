//! ENDPOINT_UNREACHABLE under loss: users' request timeouts report live PEs
//! now and then; the registrar probes them, they answer, and they stay.

use crate::support::sim::*;
use rserpool::sim::Simulation;
use rserpool::time::Duration;

#[test]
fn ten_percent_loss_removes_no_live_pe_as_unreachable() {
    // Once, every answered probe left its report counted, and 7 of these
    // 10 live PEs were removed as unreachable between 120 s and 260 s.
    let o = small(|o| {
        o.seed = 1;
        o.net.loss = 0.1;
        o.elements = 10;
        o.users = 5;
        o.duration = Duration::from_secs(270);
    });
    let mut sim = Simulation::new(o);
    let summary = sim.run();
    // The path is exercised: reports were made and probes answered.
    let stats = sim.registrar(1).unwrap().stats();
    assert!(stats.unreachable_reports >= 10, "{stats:?}");
    assert!(stats.keep_alive_acks > 0);
    assert_eq!(stats.removed_unreachable, 0, "{stats:?}");
    assert_eq!(stats.removed_keep_alive, 0, "{stats:?}");
    all_registered_at(&sim, 1);
    assert_eq!(held(&sim, 1).len(), 10);
    assert_eq!(summary.lost, 0, "{summary}");
    assert!(summary.handlespace_consistent, "{:?}", sim.consistency());
}
