//! Helpers shared by the simulation tests.
#![allow(dead_code)]

use rserpool::id::PeId;
use rserpool::sim::scenario::server_id;
use rserpool::sim::{Options, Simulation};
use rserpool::time::{Duration, Instant};

/// A small pool: 1 registrar, 5 PEs, 3 users at 2 requests/s, 60 s.
pub fn small(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options {
        elements: 5,
        users: 3,
        rate: 2.0,
        duration: Duration::from_secs(60),
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

/// The PE ids registrar `number` holds, sorted.
pub fn held(sim: &Simulation, number: usize) -> Vec<PeId> {
    sim.registrar(number)
        .map(|r| r.held().into_iter().map(|h| h.pe_id).collect())
        .unwrap_or_default()
}

/// PE `number`'s current identifier.
pub fn pe_id(sim: &Simulation, number: usize) -> PeId {
    sim.element(number).unwrap().machine.pe_id()
}

/// Asserts every live PE is registered at registrar `number` and owned by it.
pub fn all_registered_at(sim: &Simulation, number: usize) {
    let reg = sim.registrar(number).expect("registrar alive");
    let held = reg.held();
    for n in 1..=sim.elements.len() {
        let Some(el) = sim.element(n) else { continue };
        assert!(el.is_registered(), "PE {n} not registered");
        let id = el.machine.pe_id();
        let h = held.iter().find(|h| h.pe_id == id);
        assert!(
            h.is_some(),
            "PE {n} ({}) not held by registrar {number}",
            id.get()
        );
        assert_eq!(h.unwrap().owner, Some(server_id(number)));
    }
}

/// Asserts the end-of-run consistency check passed, showing the problems.
pub fn consistent(sim: &Simulation) {
    let c = sim.consistency();
    assert!(c.ok(), "inconsistent: {:#?}", c.problems);
}
