//! Helpers shared by the ENRP simulation tests.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use rserpool::id::{PeId, ServerId};
use rserpool::sim::scenario::server_id;
use rserpool::sim::{NodeId, Options, Profile, Simulation};
use rserpool::time::{Duration, Instant};

/// `registrars` ENRP registrars with static peers (rsplib timers), `elements`
/// PEs, no users, 120 s.
pub fn pool(registrars: usize, elements: usize, f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options {
        registrars,
        elements,
        users: 0,
        enrp: true,
        profile: Profile::Rsplib,
        duration: Duration::from_secs(120),
        drain: Duration::from_secs(10),
        ..Options::default()
    };
    f(&mut o);
    o.validate().unwrap();
    o
}

/// Seconds as an instant.
pub fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

/// Asserts the registrars have settled and the check finds nothing wrong
/// and nothing pending.
pub fn strictly_consistent(sim: &Simulation) {
    assert!(sim.settled(), "not settled at {}", sim.world.now());
    let c = sim.consistency();
    assert!(
        c.ok() && c.pending.is_empty(),
        "at {}: problems {:#?}, pending {:#?}",
        sim.world.now(),
        &c.problems[..c.problems.len().min(20)],
        &c.pending[..c.pending.len().min(20)]
    );
}

/// For each PE, the owners the live registrars record.
pub fn owners(sim: &Simulation) -> BTreeMap<PeId, BTreeSet<Option<ServerId>>> {
    let mut m: BTreeMap<PeId, BTreeSet<Option<ServerId>>> = BTreeMap::new();
    for n in 1..=sim.registrars.len() {
        let Some(r) = sim.registrar(n) else { continue };
        for h in r.held() {
            m.entry(h.pe_id).or_default().insert(h.owner);
        }
    }
    m
}

/// The PEs registrar `number` holds as owned by `owner`.
pub fn owned_by(sim: &Simulation, number: usize, owner: usize) -> Vec<PeId> {
    sim.registrar(number)
        .map(|r| {
            r.held()
                .into_iter()
                .filter(|h| h.owner == Some(server_id(owner)))
                .map(|h| h.pe_id)
                .collect()
        })
        .unwrap_or_default()
}

/// The live registrar numbers.
pub fn live(sim: &Simulation) -> Vec<usize> {
    (1..=sim.registrars.len())
        .filter(|&n| sim.registrar(n).is_some())
        .collect()
}

/// Asserts every live registrar holds every registered PE of a live node
/// (each can resolve it), and the count of them.
pub fn resolvable_everywhere(sim: &Simulation, expected: usize) {
    let registered = sim.registered();
    assert_eq!(registered.len(), expected, "registered PEs");
    for n in live(sim) {
        let held: BTreeSet<PeId> = sim
            .registrar(n)
            .unwrap()
            .held()
            .into_iter()
            .map(|h| h.pe_id)
            .collect();
        let missing = registered
            .iter()
            .filter(|(pe, _)| !held.contains(pe))
            .count();
        assert_eq!(missing, 0, "registrar {n} misses {missing} PEs");
    }
}

/// The registrar numbers of a set of nodes.
pub fn numbers(sim: &Simulation, nodes: &[NodeId]) -> Vec<usize> {
    nodes
        .iter()
        .filter_map(|n| sim.registrars.iter().position(|r| r == n).map(|i| i + 1))
        .collect()
}
