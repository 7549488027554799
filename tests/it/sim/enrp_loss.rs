//! 2 % loss: the registrars still agree, within a bounded time.

use crate::support::sim::*;
use rserpool::sim::{Options, Simulation};
use rserpool::time::Duration;

/// The registrars agree within the start settling time (and stay so) with
/// 2 % loss, 2000 PEs and 10 users at 2 requests/s.
fn agree_with_two_percent_loss(seed: u64) {
    let mut sim = Simulation::new(pool(3, 2000, |o| {
        o.seed = seed;
        o.net.loss = 0.02;
        o.users = 10;
        o.rate = 2.0;
    }));
    let bound = at(0) + sim.enrp_timers.start_settle();
    let (summary, changes) = sim.run_sampled(Duration::from_secs(1));
    assert!(summary.handlespace_consistent, "{summary}");
    let c = sim.consistency();
    assert!(c.ok(), "{:#?}", c.problems);
    // Strictly consistent from some time on, and that time within the bound.
    let &(since, ok) = changes.last().unwrap();
    assert!(ok, "{changes:?}");
    let first_ok = changes.iter().find(|(_, ok)| *ok).unwrap().0;
    assert!(first_ok <= bound, "first consistent at {first_ok}");
    assert!(since <= bound + Duration::from_secs(30), "{changes:?}");
    resolvable_everywhere(&sim, 2000);
}

#[test]
fn with_two_percent_loss_the_registrars_agree_within_the_start_settling_time() {
    agree_with_two_percent_loss(1);
}

#[test]
fn crossing_registrations_under_loss_leave_every_pe_with_one_owner() {
    // The simulate example's scenario with seed 8: a lost re-registration
    // is retransmitted just as the PE, its request timed out, registers at
    // another registrar; both accept and their HANDLE_UPDATEs cross. The
    // higher server id keeps the PE (and re-homes it), the lower yields, so
    // no audit sweeps it.
    let options = Options::parse(
        "--registrars 3 --enrp --elements 2000 --users 10 --rate 2 --loss 0.02 \
         --seconds 120 --drain-seconds 10 --profile rsplib --sample-ms 1000 --seed 8"
            .split_whitespace(),
    )
    .unwrap();
    let mut sim = Simulation::new(options);
    let (summary, changes) = sim.run_sampled(Duration::from_secs(1));
    assert!(summary.handlespace_consistent, "{summary}");
    let c = sim.consistency();
    assert!(c.ok(), "{:#?}", c.problems);
    assert!(changes.last().unwrap().1, "{changes:?}");
    resolvable_everywhere(&sim, 2000);
}
