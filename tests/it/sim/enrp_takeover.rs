//! A registrar crashes: exactly one peer takes its PEs over, every PE stays
//! resolvable from every live registrar; between concurrent initiators the
//! highest server id wins and no PE is orphaned or owned twice.

use crate::support::sim::*;
use rserpool::sim::{NodeAt, Simulation};
use rserpool::time::Duration;
use rserpool::wire::enrp_type;

/// The PE's associations never report the crash (no SCTP failure
/// detection), so only ENRP finds the dead registrar and re-homes its PEs.
fn crash(registrars: usize, victim: usize, seed: u64, elements: usize) -> Simulation {
    Simulation::new(pool(registrars, elements, |o| {
        o.seed = seed;
        o.duration = Duration::from_secs(90);
        o.net.failure_detection = Duration::from_secs(100_000);
        o.kill_registrars.push(NodeAt {
            number: victim,
            at: at(40),
        });
    }))
}

/// Runs until a TAKEOVER_SERVER has been sent (checking on the way that
/// every PE stays resolvable everywhere), then one more second; returns
/// the winner's number.
fn run_to_takeover(sim: &mut Simulation, registered: usize) -> usize {
    let deadline = at(40) + sim.enrp_timers.settle();
    loop {
        sim.world.run_for(Duration::from_millis(100));
        resolvable_everywhere(sim, registered);
        let w = sim.counters().enrp_senders_of(enrp_type::TAKEOVER_SERVER);
        if !w.is_empty() {
            break;
        }
        assert!(sim.world.now() < deadline, "no takeover by {deadline}");
    }
    sim.world.run_for(Duration::from_secs(1));
    let winners = numbers(
        sim,
        &sim.counters().enrp_senders_of(enrp_type::TAKEOVER_SERVER),
    );
    assert_eq!(winners.len(), 1, "TAKEOVER_SERVER from {winners:?}");
    winners[0]
}

#[test]
fn exactly_one_peer_takes_over_and_every_pe_stays_resolvable() {
    let mut sim = crash(4, 2, 1, 2000);
    sim.world.run_until(at(39));
    strictly_consistent(&sim);
    let orphans = owned_by(&sim, 1, 2);
    assert!(orphans.len() > 300, "{}", orphans.len());
    let winner = run_to_takeover(&mut sim, 2000);
    assert_ne!(winner, 2);
    // Every live registrar records the winner as the owner of each PE
    // registrar 2 had, and still resolves every PE.
    resolvable_everywhere(&sim, 2000);
    for n in live(&sim) {
        let now = owned_by(&sim, n, winner);
        assert!(orphans.iter().all(|pe| now.contains(pe)), "registrar {n}");
        assert!(owned_by(&sim, n, 2).is_empty(), "registrar {n}");
    }
    assert!(owners(&sim).values().all(|o| o.len() == 1));
    let summary = sim.run();
    assert!(summary.handlespace_consistent, "{summary}");
    strictly_consistent(&sim);
    resolvable_everywhere(&sim, 2000);
    assert_eq!(
        numbers(
            &sim,
            &sim.counters().enrp_senders_of(enrp_type::TAKEOVER_SERVER)
        ),
        vec![winner]
    );
    for n in live(&sim) {
        assert!(owned_by(&sim, n, 2).is_empty(), "registrar {n}");
    }
    assert!(owners(&sim).values().all(|o| o.len() == 1));
}

#[test]
fn between_concurrent_initiators_the_highest_server_id_wins() {
    // Registrars 2, 3 and 4 all notice registrar 1's death about the same
    // time; when more than one starts a takeover, the highest of them must
    // end up owning registrar 1's PEs.
    let mut contested = 0;
    for seed in 1..=2 {
        let mut sim = crash(4, 1, seed, 1000);
        sim.world.run_until(at(39));
        let orphans = owned_by(&sim, 2, 1);
        let winner = run_to_takeover(&mut sim, 1000);
        let initiators = numbers(
            &sim,
            &sim.counters().enrp_senders_of(enrp_type::INIT_TAKEOVER),
        );
        if initiators.len() > 1 {
            contested += 1;
            assert_eq!(
                winner,
                *initiators.iter().max().unwrap(),
                "seed {seed}: initiators {initiators:?}"
            );
        }
        for n in live(&sim) {
            let now = owned_by(&sim, n, winner);
            assert!(orphans.iter().all(|pe| now.contains(pe)), "seed {seed}");
            assert!(owned_by(&sim, n, 1).is_empty(), "seed {seed}");
        }
        assert!(owners(&sim).values().all(|o| o.len() == 1), "seed {seed}");
        let summary = sim.run();
        assert!(summary.handlespace_consistent, "seed {seed}: {summary}");
        strictly_consistent(&sim);
        resolvable_everywhere(&sim, 1000);
        assert!(owners(&sim).values().all(|o| o.len() == 1), "seed {seed}");
    }
    assert!(contested > 0, "no seed had concurrent initiators");
}

#[test]
fn with_failure_detection_pes_move_themselves_and_the_pool_still_agrees() {
    // SCTP notices the crash after 5 s: PEs hunt a new home themselves,
    // well before ENRP's MAX-TIME-LAST-HEARD; takeover finds what is left.
    let mut sim = Simulation::new(pool(3, 2000, |o| {
        o.users = 10;
        o.rate = 2.0;
        o.kill_registrars.push(NodeAt {
            number: 3,
            at: at(40),
        });
    }));
    let summary = sim.run();
    assert!(summary.handlespace_consistent, "{summary}");
    strictly_consistent(&sim);
    resolvable_everywhere(&sim, 2000);
    assert_eq!(summary.lost, 0, "{summary}");
}

#[test]
fn taken_over_pes_are_kept_through_the_keep_alive_timeout() {
    // The winner reaches each taken-over PE over a new ASAP association
    // (point-to-point keep-alive H=1): the PEs answer and adopt it, so none
    // is removed when the keep-alive timeout passes.
    let mut sim = crash(4, 2, 1, 2000);
    sim.world.run_until(at(39));
    let orphans = owned_by(&sim, 1, 2);
    let winner = run_to_takeover(&mut sim, 2000);
    while sim.world.now() < at(70) {
        sim.world.run_for(Duration::from_millis(100));
        resolvable_everywhere(&sim, 2000);
        for n in live(&sim) {
            let now = owned_by(&sim, n, winner);
            assert!(
                orphans.iter().all(|pe| now.contains(pe)),
                "registrar {n} at {}",
                sim.world.now()
            );
        }
    }
    strictly_consistent(&sim);
    let summary = sim.run();
    assert!(summary.handlespace_consistent, "{summary}");
}
