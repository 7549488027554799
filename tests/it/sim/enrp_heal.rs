//! After a partition heals, every live registrar agrees again within the
//! bound of the ENRP module documentation (`registrar::enrp`, "After a
//! partition"): three PEER-HEARTBEAT-CYCLEs plus the longest an
//! association message takes to get through the lossy network. A sweep of
//! 20 seeds × 3 loss rates (0, 2 %, 8 %), with datagram duplication, a PE
//! crashing and restarting and, on every other seed, a registrar crashing
//! and restarting during the partition.

use std::collections::BTreeSet;

use crate::support::sim::*;
use rserpool::id::PeId;
use rserpool::sim::net::MAX_RETRANSMISSIONS;
use rserpool::sim::{NodeAt, Options, PartitionSpec, SimRegistrar, Simulation};
use rserpool::time::{Duration, Instant};

const REGISTRARS: usize = 5;
const ELEMENTS: usize = 30;
const CUT: u64 = 20;
const HEAL: u64 = 50;

fn options(seed: u64, loss: f64) -> Options {
    pool(REGISTRARS, ELEMENTS, |o| {
        o.seed = seed;
        o.net.loss = loss;
        o.net.duplicate = 0.01;
        o.partitions.push(PartitionSpec {
            groups: vec![vec![1, 2], vec![3, 4, 5]],
            from: at(CUT),
            until: at(HEAL),
        });
        o.kill_elements.push(NodeAt {
            number: 3,
            at: at(30),
        });
        o.restart_elements.push(NodeAt {
            number: 3,
            at: at(35),
        });
        if seed % 2 == 0 {
            o.kill_registrars.push(NodeAt {
                number: 4,
                at: at(32),
            });
            o.restart_registrars.push(NodeAt {
                number: 4,
                at: at(40),
            });
        }
        o.duration = Duration::from_secs(HEAL + 40);
    })
}

/// The time from the heal until the strict check (nothing wrong, nothing
/// pending) first holds, checked every 250 ms up to `limit`.
fn time_to_consistency(sim: &mut Simulation, limit: Instant) -> Option<Duration> {
    let heal = at(HEAL);
    sim.world.run_until(heal);
    let mut t = heal;
    loop {
        let c = sim.consistency();
        if c.ok() && c.pending.is_empty() {
            return Some(t.saturating_duration_since(heal));
        }
        if t >= limit {
            return None;
        }
        t += Duration::from_millis(250);
        sim.world.run_until(t);
    }
}

#[test]
fn registrars_agree_within_the_bound_after_a_partition_under_loss() {
    let mut failures = Vec::new();
    let mut worst = Duration::ZERO;
    for loss in [0.0, 0.02, 0.08] {
        for seed in 1..=20 {
            let mut sim = Simulation::new(options(seed, loss));
            let t = sim.enrp_timers;
            let rto = sim.world.net().retransmission_timeout;
            let bound = t.heartbeat_cycle.saturating_mul(3)
                + rto.saturating_mul(u64::from(MAX_RETRANSMISSIONS));
            match time_to_consistency(&mut sim, at(HEAL) + bound) {
                Some(d) => worst = worst.max(d),
                None => {
                    let c = sim.consistency();
                    failures.push(format!(
                        "loss {loss} seed {seed}: not consistent {} s after the heal: {:?} / {:?}",
                        bound.as_secs(),
                        &c.problems[..c.problems.len().min(3)],
                        &c.pending[..c.pending.len().min(3)]
                    ));
                    continue;
                }
            }
            let summary = sim.run();
            if !summary.handlespace_consistent {
                failures.push(format!("loss {loss} seed {seed}: {summary}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Not vacuous: the partition split the registrars until the heal.
    assert!(worst > Duration::ZERO);
}

#[test]
fn ownership_split_by_the_partition_ends_with_one_owner() {
    // Each side takes over the other side's registrars; the PEs stay
    // attached to their old home too, so at the heal two registrars own
    // the same PE over live associations. Without a decision each audit
    // would find the same difference again, forever.
    let mut sim = Simulation::new(options(3, 0.02));
    sim.world.run_until(at(HEAL - 1));
    let own: Vec<BTreeSet<PeId>> = (1..=REGISTRARS)
        .map(|n| owned_by(&sim, n, n).into_iter().collect())
        .collect();
    let doubly: BTreeSet<PeId> = (0..REGISTRARS)
        .flat_map(|a| (a + 1..REGISTRARS).map(move |b| (a, b)))
        .flat_map(|(a, b)| own[a].intersection(&own[b]).copied().collect::<Vec<_>>())
        .collect();
    assert!(!doubly.is_empty(), "no PE owned on both sides: {own:?}");
    let limit =
        at(HEAL) + sim.enrp_timers.heartbeat_cycle.saturating_mul(3) + Duration::from_secs(8);
    assert!(time_to_consistency(&mut sim, limit).is_some());
    // Decided by the audits right after the heal (the higher id kept its
    // PEs and told them so), not left to the PEs' next re-registration.
    let kept: u64 = sim
        .registrars
        .iter()
        .filter_map(|&r| sim.world.node_as::<SimRegistrar>(r))
        .map(|r| r.machine.enrp_stats().ownership_kept)
        .sum();
    assert!(kept > 0);
    let owners = owners(&sim);
    for pe in &doubly {
        let o = owners.get(pe).expect("still held");
        assert_eq!(o.len(), 1, "PE {}: {o:?}", pe.get());
    }
}
