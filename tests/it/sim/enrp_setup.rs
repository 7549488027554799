//! How a scenario of ENRP registrars is put together: peers, partitions,
//! the check's grace periods.

use rserpool::sim::scenario::{enrp_peers, registrar_addr, EnrpTimers};
use rserpool::sim::{Options, Profile, Simulation};
use rserpool::time::{Duration, Instant};
use rserpool::wire::ENRP_PORT;

#[test]
fn each_registrar_has_every_other_as_a_peer_at_the_enrp_port() {
    let peers = enrp_peers(2, 3);
    assert_eq!(peers.len(), 2);
    assert_eq!(peers[0].ip(), registrar_addr(1).ip());
    assert_eq!(peers[1].ip(), registrar_addr(3).ip());
    assert!(peers.iter().all(|p| p.port() == ENRP_PORT));
    assert!(enrp_peers(1, 1).is_empty());
}

#[test]
fn enrp_makes_the_handlespace_shared_and_partitions_cut_registrars() {
    let o = Options::parse(
        "--registrars 3 --enrp --elements 0 --users 0 --seconds 100 --partition 1,2|3@10-20"
            .split_whitespace(),
    )
    .unwrap();
    let mut sim = Simulation::new(o);
    assert!(sim.shared_handlespace);
    let (r1, r2, r3) = (sim.registrars[0], sim.registrars[1], sim.registrars[2]);
    let t = Instant::from_secs(15);
    assert_eq!(sim.world.cut_until(r1, r3, t), Some(Instant::from_secs(20)));
    assert_eq!(sim.world.cut_until(r2, r3, t), Some(Instant::from_secs(20)));
    assert_eq!(sim.world.cut_until(r1, r2, t), None);
    assert_eq!(sim.world.cut_until(r1, r3, Instant::from_secs(20)), None);
    // The registrars agree again only a settling time after the cut heals.
    let settle = EnrpTimers::of(Profile::Rfc).settle();
    sim.world.run_until(Instant::from_secs(15));
    assert_eq!(sim.unsettled_until(), Some(Instant::from_secs(20) + settle));
    assert!(!sim.settled());
    sim.world.run_until(Instant::from_secs(20) + settle);
    assert!(sim.settled());
    assert!(!Simulation::new(Options::default()).shared_handlespace);
}

#[test]
fn the_grace_periods_follow_the_timer_profile() {
    let rfc = EnrpTimers::of(Profile::Rfc);
    let rsplib = EnrpTimers::of(Profile::Rsplib);
    // 61 + 5 + 5 + 30 + 5 s and 5 + 5 + 5 + 2.44 + 5 s.
    assert_eq!(rfc.settle(), Duration::from_secs(106));
    assert_eq!(rsplib.settle(), Duration::from_micros(22_444_444));
    assert!(rsplib.start_settle() < rfc.start_settle());
}

#[test]
fn a_joining_registrar_is_absent_until_it_starts_and_the_preload_is_held() {
    let o = Options::parse(
        "--registrars 2 --enrp --elements 3 --users 0 --seconds 30 --join-registrar 2@10 --preload 500"
            .split_whitespace(),
    )
    .unwrap();
    let mut sim = Simulation::new(o);
    let held = |sim: &Simulation, n| sim.registrar(n).map(|r| r.held().len());
    assert_eq!(held(&sim, 1), Some(500));
    assert_eq!(held(&sim, 2), None);
    sim.world.run_until(Instant::from_secs(9));
    assert!(sim.registrar(2).is_none());
    // The PEs found registrar 1 only.
    assert_eq!(held(&sim, 1), Some(503));
    sim.world.run_until(Instant::from_secs(10));
    assert!(sim.registrar(2).is_some());
    assert_eq!(sim.world.incarnation(sim.registrars[1]), 0);
}

#[test]
fn registrars_starting_together_exchange_few_list_messages() {
    // A registrar answers LIST_REQUESTs while it initialises; should a
    // peer reject one, the requester asks the next peer at once but the
    // same peer only every mentor_retry_interval (2 s) until the 5 s
    // discovery timeout: at most 4 rounds of N-1 requests per registrar,
    // and as many responses, so LIST messages <= 2 * 4 * N * (N - 1) (48
    // for N = 3, 160 for N = 5).
    for n in [3usize, 5] {
        let mut sim = rserpool::sim::Simulation::new(crate::support::sim::pool(n, 0, |o| {
            o.duration = rserpool::time::Duration::from_secs(20);
        }));
        let summary = sim.run();
        assert!(summary.handlespace_consistent, "{summary}");
        let c = sim.counters();
        let list = c.enrp(rserpool::wire::enrp_type::LIST_REQUEST)
            + c.enrp(rserpool::wire::enrp_type::LIST_RESPONSE);
        let bound = (2 * 4 * n * (n - 1)) as u64;
        assert!(
            list > 0 && list <= bound,
            "N = {n}: {list} LIST messages > {bound}"
        );
    }
}

#[test]
fn a_peer_downloading_while_this_registrar_initialises_gets_its_pes() {
    // Registrar 1 starts alone (its peer is not up: it looks for a mentor
    // until the 5 s discovery timeout) and the PEs register with it; 1 s
    // later registrar 2 starts, and the two ask each other for their peer
    // lists and handle tables at once, each while initialising. Registrar
    // 2 gets the PEs registrar 1 owns in its download (rsplib would never
    // ask again after a rejection).
    use rserpool::sim::NodeAt;
    let mut sim = Simulation::new(crate::support::sim::pool(2, 8, |o| {
        o.duration = rserpool::time::Duration::from_secs(30);
        o.join_registrars.push(NodeAt {
            number: 2,
            at: Instant::from_secs(1),
        });
    }));
    let held = |sim: &Simulation, n| sim.registrar(n).map(|r| r.held().len());
    sim.world.run_until(Instant::from_millis(1_500));
    assert_eq!(held(&sim, 1), Some(8));
    let two = machine(&sim, 2);
    assert!(two.is_initialised());
    assert_eq!(
        held(&sim, 2),
        Some(8),
        "the download carried registrar 1's PEs"
    );
    assert!(two.enrp_stats().table_entries_applied >= 8);
    assert_eq!(machine(&sim, 1).enrp_stats().requests_rejected, 0);
    let summary = sim.run();
    assert!(summary.handlespace_consistent, "{summary}");
}

/// Registrar `n`'s machine.
fn machine(
    sim: &Simulation,
    n: usize,
) -> &rserpool::registrar::Registrar<
    rserpool::storage::RedBlackTree,
    rserpool::handlespace::Growable,
    4096,
    4096,
    65536,
    64,
> {
    &sim.world
        .node_as::<rserpool::sim::SimRegistrar>(sim.registrars[n - 1])
        .expect("running")
        .machine
}
