//! Registration lifetime: a PE that stops re-registering disappears when
//! its registration life runs out (keep-alive off, so nothing else removes
//! it).

use std::rc::Rc;

use crate::support::sim::*;
use rserpool::pool_element;
use rserpool::registrar::RemovalReason;
use rserpool::sim::scenario::{registrar_addr, rogue_addr};
use rserpool::sim::{Simulation, Tweaks};
use rserpool::time::Duration;
use rserpool::wire::AsapMessage;
use rserpool::PeId;

fn no_keep_alive() -> Tweaks {
    Tweaks {
        registrar: Some(Rc::new(|_, c| c.keep_alive_interval = None)),
        ..Tweaks::default()
    }
}

#[test]
fn a_registration_that_is_not_renewed_expires() {
    let o = small(|o| {
        o.elements = 0;
        o.users = 0;
        o.duration = Duration::from_secs(20);
    });
    let mut sim = Simulation::with(o, no_keep_alive(), None);
    let rogue = sim.add_rogue(Some(registrar_addr(1)));
    sim.world.run_until(at(1));
    let pe = PeId::new(77).unwrap();
    let got = rogue_exchange(
        &mut sim,
        rogue,
        &registration(b"sim", pe, 5_000, rogue_addr(1).ip()),
    );
    assert!(matches!(
        parsed(&got)[..],
        [AsapMessage::RegistrationResponse { rejected: false, pe_id, .. }] if pe_id == pe
    ));
    sim.world.run_until(at(6));
    assert_eq!(held(&sim, 1), vec![pe]);
    // Registered at 1.2 s with a life of 5 s: gone at 6.2 s, and the
    // registrar says so with a DEREGISTRATION_RESPONSE.
    sim.world.run_until(at(7));
    assert!(held(&sim, 1).is_empty());
    let got = sim
        .world
        .with_node::<rserpool::sim::RogueNode, _>(rogue, |r, _| r.take_received())
        .unwrap();
    assert!(matches!(
        parsed(&got)[..],
        [AsapMessage::DeregistrationResponse { pe_id, error: None, .. }] if pe_id == pe
    ));
    let removals = sim.registrar(1).unwrap().removals().to_vec();
    assert_eq!(removals.len(), 1);
    assert_eq!(
        (removals[0].1, removals[0].2),
        (pe, RemovalReason::LifetimeExpired)
    );
    let t = removals[0].0;
    assert!(t >= at(6) && t <= at(6) + Duration::from_millis(300), "{t}");
}

#[test]
fn a_pool_element_whose_t4_is_longer_than_its_life_expires_then_registers_again() {
    let o = small(|o| {
        o.elements = 1;
        o.users = 0;
        o.duration = Duration::from_secs(30);
    });
    let tweaks = Tweaks {
        element: Some(Rc::new(|_, c| {
            c.registration_life = Duration::from_secs(10);
            c.t4_reregistration = Some(Duration::from_secs(1_000));
        })),
        ..no_keep_alive()
    };
    let mut sim = Simulation::with(o, tweaks, None);
    let pe = pe_id(&sim, 1);
    sim.run();
    let removals = sim.registrar(1).unwrap().removals().to_vec();
    // Registered within the first second, so it expires within 10-11 s, and
    // again 10 s after each new registration.
    assert!(removals.len() >= 2, "{removals:?}");
    assert!(removals
        .iter()
        .all(|r| r.1 == pe && r.2 == RemovalReason::LifetimeExpired));
    assert!(
        removals[0].0 >= at(10) && removals[0].0 <= at(11),
        "{removals:?}"
    );
    // The PE learnt of it (the registrar's DEREGISTRATION_RESPONSE) and,
    // still wanting to be registered, registered again.
    let el = sim.element(1).unwrap();
    assert!(el
        .events
        .iter()
        .any(|(_, e)| matches!(e, pool_element::Event::RegistrationLost)));
    assert!(el.is_registered());
    assert_eq!(held(&sim, 1), vec![pe]);
    consistent(&sim);
}
