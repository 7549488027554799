//! A partition between registrars heals: the checksums in PRESENCE show
//! the divergence and the registrars resynchronise, also on a lossy
//! network with crashes during the cut (`sim::enrp_heal` sweeps seeds and
//! loss rates against the bound).

use crate::support::sim::*;
use rserpool::sim::{NodeAt, PartitionSpec, Simulation};
use rserpool::time::Duration;
use rserpool::wire::enrp_type;

#[test]
fn after_a_partition_heals_audits_resynchronise_the_registrars() {
    // Registrar 3 is cut off for 20 s (longer than the 5 s failure
    // detection: the ENRP associations across the cut break and updates
    // are lost); meanwhile PEs die and come back with new identifiers.
    let mut sim = Simulation::new(pool(3, 2000, |o| {
        o.duration = Duration::from_secs(100);
        o.partitions.push(PartitionSpec {
            groups: vec![vec![1, 2], vec![3]],
            from: at(30),
            until: at(50),
        });
        for n in 1..=20 {
            o.kill_elements.push(NodeAt {
                number: n * 7,
                at: at(35),
            });
            o.restart_elements.push(NodeAt {
                number: n * 7,
                at: at(38),
            });
        }
    }));
    sim.world.run_until(at(29));
    strictly_consistent(&sim);
    sim.world.run_until(at(50));
    let requests_at_heal = sim.counters().enrp(enrp_type::HANDLE_TABLE_REQUEST);
    let summary = sim.run();
    assert!(summary.handlespace_consistent, "{summary}");
    strictly_consistent(&sim);
    resolvable_everywhere(&sim, 2000);
    assert!(owners(&sim).values().all(|o| o.len() == 1));
    // The divergence was repaired by handle table requests after the cut.
    let after = sim.counters().enrp(enrp_type::HANDLE_TABLE_REQUEST) - requests_at_heal;
    assert!(after > 0, "no HANDLE_TABLE_REQUEST after the heal");
}

#[test]
fn a_partition_under_loss_duplication_and_crashes_heals() {
    // Two groups cut apart for 30 s on a network losing 8 % and
    // duplicating 2 % of the packets; meanwhile a registrar of the larger
    // group crashes and comes back, and PEs die and return. Each side
    // takes over the other, so PEs are owned on both sides at the heal.
    let mut sim = Simulation::new(pool(5, 200, |o| {
        o.duration = Duration::from_secs(110);
        o.net.loss = 0.08;
        o.net.duplicate = 0.02;
        o.partitions.push(PartitionSpec {
            groups: vec![vec![1, 2], vec![3, 4, 5]],
            from: at(20),
            until: at(50),
        });
        o.kill_registrars.push(NodeAt {
            number: 4,
            at: at(30),
        });
        o.restart_registrars.push(NodeAt {
            number: 4,
            at: at(40),
        });
        for n in 1..=10 {
            o.kill_elements.push(NodeAt {
                number: n * 13,
                at: at(25),
            });
            o.restart_elements.push(NodeAt {
                number: n * 13,
                at: at(28),
            });
        }
    }));
    sim.world.run_until(at(49));
    assert!(!sim.consistency().pending.is_empty(), "the cut shows");
    let summary = sim.run();
    assert!(summary.handlespace_consistent, "{summary}");
    strictly_consistent(&sim);
    resolvable_everywhere(&sim, 200);
    assert!(owners(&sim).values().all(|o| o.len() == 1));
}
