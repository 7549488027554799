//! Property: whatever the interleaving of registrations (PEs starting,
//! dying and coming back) and registrar failures (crashes and restarts),
//! once the registrars have settled every live PE is owned by exactly one
//! live registrar, in every registrar's view, and all checksums agree.

mod sim_enrp_support;

use proptest::prelude::*;
use rserpool::sim::{NodeAt, Options, Simulation};
use rserpool::time::{Duration, Instant};
use sim_enrp_support::*;

const REGISTRARS: usize = 4;
const ELEMENTS: usize = 40;

#[derive(Clone, Debug)]
enum Step {
    KillRegistrar(usize),
    RestartRegistrar(usize),
    KillElement(usize),
    RestartElement(usize),
}

fn step() -> impl Strategy<Value = (u64, Step)> {
    // Registrar 1 never fails, so that some registrar is always alive.
    let s = prop_oneof![
        (2..=REGISTRARS).prop_map(Step::KillRegistrar),
        (2..=REGISTRARS).prop_map(Step::RestartRegistrar),
        (1..=ELEMENTS).prop_map(Step::KillElement),
        (1..=ELEMENTS).prop_map(Step::RestartElement),
    ];
    (0u64..40_000, s)
}

/// Without `detect`, associations never report a crash: a PE whose home
/// registrar dies learns of it only by the takeover (or its own
/// re-registration timing out).
fn options(seed: u64, detect: bool, steps: &[(u64, Step)]) -> Options {
    pool(REGISTRARS, ELEMENTS, |o: &mut Options| {
        o.seed = seed;
        if !detect {
            o.net.failure_detection = Duration::from_secs(100_000);
        }
        for (ms, s) in steps {
            let at = Instant::from_millis(5_000 + ms);
            match *s {
                Step::KillRegistrar(number) => o.kill_registrars.push(NodeAt { number, at }),
                Step::RestartRegistrar(number) => o.restart_registrars.push(NodeAt { number, at }),
                Step::KillElement(number) => o.kill_elements.push(NodeAt { number, at }),
                Step::RestartElement(number) => o.restart_elements.push(NodeAt { number, at }),
            }
        }
        // The last step is at 45 s at the latest: settle after it.
        o.duration = Duration::from_secs(45) + o.drain + Duration::from_secs(40);
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn every_live_pe_ends_with_one_live_owner_and_equal_checksums(
        seed in 1u64..1_000_000,
        detect in any::<bool>(),
        steps in proptest::collection::vec(step(), 1..12),
    ) {
        let mut sim = Simulation::new(options(seed, detect, &steps));
        let end = sim.end();
        sim.world.run_until(end);
        let settled_at = sim.unsettled_until().unwrap();
        prop_assert!(end >= settled_at, "run too short: settles at {}", settled_at);
        strictly_consistent(&sim);
        let live_ids: Vec<_> = live(&sim)
            .into_iter()
            .map(|n| sim.registrar(n).unwrap().server_id())
            .collect();
        let alive = (1..=ELEMENTS).filter(|&n| sim.element(n).is_some()).count();
        prop_assert_eq!(sim.registered().len(), alive, "every live PE is registered");
        let owners = owners(&sim);
        for (pe, _) in sim.registered() {
            let o = owners.get(&pe);
            prop_assert!(o.is_some_and(|o| o.len() == 1), "PE {}: {:?}", pe.get(), o);
            let owner = o.unwrap().iter().next().unwrap().unwrap();
            prop_assert!(live_ids.contains(&owner), "PE {} owned by dead {}", pe.get(), owner.get());
        }
    }
}
