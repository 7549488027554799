//! A registrar with room for four PEs: the fifth and sixth are refused with
//! Lack of Resources, the four stay served, and a freed slot is taken by
//! the next registration.

use std::rc::Rc;

use crate::support::sim::*;
use rserpool::cause::CauseCode;
use rserpool::handlespace::Fixed;
use rserpool::pool_element;
use rserpool::sim::{Node, RegistrarHost, Simulation, Tweaks};
use rserpool::storage::Treap;
use rserpool::time::Duration;

type Small = RegistrarHost<Treap, Fixed<4, 2, 8, 2>, 16, 16, 8192, 16>;

fn small_registrar() -> Tweaks {
    Tweaks {
        registrar_node: Some(Rc::new(|config| {
            Box::new(Small::new(config)) as Box<dyn Node>
        })),
        ..Tweaks::default()
    }
}

fn refused(sim: &Simulation, n: usize) -> bool {
    sim.element(n).unwrap().events.iter().any(|(_, e)| {
        matches!(
            e,
            pool_element::Event::RegistrationFailed {
                cause: Some(CauseCode::LackOfResources),
                ..
            }
        )
    })
}

fn refusals(sim: &Simulation, n: usize) -> usize {
    sim.element(n)
        .unwrap()
        .events
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                pool_element::Event::RegistrationFailed {
                    cause: Some(CauseCode::LackOfResources),
                    retry_at: Some(_),
                }
            )
        })
        .count()
}

#[test]
fn registrations_beyond_capacity_get_lack_of_resources() {
    let o = small(|o| {
        o.elements = 6;
        o.duration = Duration::from_secs(40);
    });
    let mut sim = Simulation::with(o, small_registrar(), None);
    let summary = sim.run();
    assert_eq!(held(&sim, 1).len(), 4);
    let registered: Vec<usize> = (1..=6)
        .filter(|&n| sim.element(n).unwrap().is_registered())
        .collect();
    let rejected: Vec<usize> = (1..=6).filter(|&n| refused(&sim, n)).collect();
    assert_eq!(registered.len(), 4, "{registered:?}");
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected.iter().all(|n| !registered.contains(n)));
    // Each refused PE keeps trying (with its back-off) and is refused
    // every time: the established four are never evicted.
    let refusals: Vec<usize> = rejected.iter().map(|&n| refusals(&sim, n)).collect();
    assert!(refusals.iter().all(|&r| r >= 3), "{refusals:?}");
    let stats = sim.registrar(1).unwrap().stats();
    assert_eq!(
        stats.rejections_with(CauseCode::LackOfResources),
        refusals.iter().sum::<usize>() as u64
    );
    sim.registrar(1).unwrap().check().unwrap();
    // The pool works with the four it has.
    assert_eq!(summary.served, summary.requests);
    assert_eq!(summary.lost, 0);
    assert!(summary.handlespace_consistent);
}

#[test]
fn a_freed_slot_is_taken_by_the_next_registration() {
    let o = small(|o| {
        o.elements = 5;
        o.users = 1;
        o.duration = Duration::from_secs(60);
    });
    let mut sim = Simulation::with(o, small_registrar(), None);
    sim.world.run_until(at(5));
    let full_out = (1..=5).find(|&n| refused(&sim, n)).expect("one refused");
    let victim = (1..=5).find(|&n| n != full_out).unwrap();
    // One registered PE crashes and restarts: its old registration goes
    // with its association, and the refused PE, still trying, gets the
    // free slot; the restarted one is refused in turn (the table is full
    // again, and nobody established is evicted) and keeps trying.
    sim.world.schedule_crash(sim.elements[victim - 1], at(10));
    sim.world.schedule_restart(sim.elements[victim - 1], at(20));
    sim.run();
    assert!(sim.element(full_out).unwrap().is_registered());
    assert!(!sim.element(victim).unwrap().is_registered());
    assert!(refusals(&sim, victim) >= 2);
    assert_eq!(held(&sim, 1).len(), 4);
    consistent(&sim);
}
