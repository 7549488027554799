//! A registrar restarts with an empty handlespace while another registrar
//! holds the pool: pool users whose home it becomes are answered Unknown
//! Pool Handle and move on to a registrar that knows the pool.

use crate::support::sim::*;
use rserpool::sim::{NodeAt, Profile, Simulation};
use rserpool::time::Duration;

#[test]
fn users_of_a_restarted_empty_registrar_resolve_at_another_one() {
    // Once, such users retried the empty registrar every second for ever
    // and their requests were lost.
    let o = small(|o| {
        // A seed whose run sends a user to the empty registrar.
        o.seed = 6;
        o.registrars = 3;
        o.elements = 15;
        o.users = 8;
        o.rate = 1.0;
        o.profile = Profile::Rsplib;
        o.duration = Duration::from_secs(400);
        o.net.loss = 0.05;
        o.net.jitter = Duration::from_millis(20);
        o.net.duplicate = 0.02;
        o.net.reorder = 0.1;
        for n in 1..=3 {
            o.kill_elements.push(NodeAt {
                number: n,
                at: at(50),
            });
        }
        o.restart_elements.push(NodeAt {
            number: 1,
            at: at(70),
        });
        o.kill_registrars.push(NodeAt {
            number: 2,
            at: at(100),
        });
        o.restart_registrars.push(NodeAt {
            number: 2,
            at: at(160),
        });
        o.kill_registrars.push(NodeAt {
            number: 1,
            at: at(200),
        });
    });
    let mut sim = Simulation::new(o);
    let summary = sim.run();
    let moves: u32 = (1..=8)
        .map(|n| sim.user(n).unwrap().pool_user().registrar_moves())
        .sum();
    assert!(moves > 0, "the scenario sends users to the empty registrar");
    assert!(summary.requests > 2000, "{summary}");
    assert_eq!(summary.lost, 0, "{summary}");
    assert_eq!(summary.served, summary.requests, "{summary}");
    assert!(summary.handlespace_consistent, "{:?}", sim.consistency());
    assert_eq!(sim.counters().timer_storms, 0);
}
