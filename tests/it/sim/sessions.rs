//! The session layer in the simulator, over the hosts the runtime ships
//! (`rserpool::host`): failover with cookies under loss, a PE crash in the
//! middle of a session, a registrar crash, a PE that refuses sessions, and
//! the same run twice for one seed.

use std::rc::Rc;

use crate::support::sim::*;
use rserpool::host::{Service, ServiceCtx};
use rserpool::session::element::Event;
use rserpool::session::user::SessionState;
use rserpool::sim::{NodeAt, Simulation, Tweaks};
use rserpool::time::Duration;

/// No request lost or answered wrongly or twice, all served.
fn clean(sim: &Simulation) {
    let c = sim.counters();
    let s = sim.summary();
    assert_eq!(s.lost, 0, "{s} {c}");
    assert_eq!(s.served, s.requests, "{s} {c}");
    assert_eq!((c.mismatches, c.duplicates), (0, 0), "{c}");
    assert_eq!(c.timer_storms, 0, "{c}");
}

#[test]
fn sessions_fail_over_with_cookies_under_five_percent_loss() {
    let o = small(|o| {
        o.duration = Duration::from_secs(120);
        o.net.loss = 0.05;
        o.net.jitter = Duration::from_millis(10);
        o.cookie_every = 2;
        o.kill_elements.push(NodeAt {
            number: 2,
            at: at(40),
        });
        o.kill_elements.push(NodeAt {
            number: 4,
            at: at(70),
        });
    });
    let mut sim = Simulation::new(o);
    let summary = sim.run();
    clean(&sim);
    let c = sim.counters();
    assert!(summary.requests >= 600, "{summary}");
    assert!(summary.failovers > 0, "{summary}");
    // Messages on the association were retransmitted, none lost.
    assert!(c.retransmissions > 0, "{c}");
    // The sessions' cookies went to the PEs they failed over to.
    assert!(c.cookies_sent > 0 && c.cookie_echoes > 0, "{c}");
    assert!(c.failed_over_served > 0, "{c}");
    assert!(summary.handlespace_consistent);
}

#[test]
fn a_pe_crash_in_the_middle_of_a_session_moves_the_session() {
    // One long session per user.
    let o = small(|o| {
        o.duration = Duration::from_secs(90);
        o.sessions = 1;
        o.session_requests = 0;
        o.cookie_every = 3;
    });
    let mut sim = Simulation::new(o);
    sim.world.run_until(at(30));
    // The PE user 1's session is on.
    let user = sim.user(1).unwrap().session_user();
    let session = user.sessions().next().expect("user 1 has a session");
    let Some(SessionState::Connected { pe, .. }) = user.state(session) else {
        panic!("user 1's session is not connected");
    };
    let victim = (1..=5).find(|&n| pe_id(&sim, n) == pe).unwrap();
    let echoes_before = sim.counters().cookie_echoes;
    sim.world.schedule_crash(sim.elements[victim - 1], at(31));
    let summary = sim.run();
    clean(&sim);
    assert!(summary.failovers > 0, "{summary}");
    // The same session goes on, on another PE, which got its cookie.
    let user = sim.user(1).unwrap().session_user();
    assert_eq!(user.sessions().collect::<Vec<_>>(), vec![session]);
    let Some(SessionState::Connected { pe: now, .. }) = user.state(session) else {
        panic!("user 1's session is not connected");
    };
    assert_ne!(now, pe);
    assert!(sim.counters().cookie_echoes > echoes_before);
    assert!(sim.counters().failed_over_served > 0);
    assert!(summary.handlespace_consistent);
}

#[test]
fn sessions_outlive_a_registrar_crash() {
    let o = small(|o| {
        o.registrars = 2;
        o.duration = Duration::from_secs(120);
        o.kill_registrars.push(NodeAt {
            number: 1,
            at: at(40),
        });
    });
    let mut sim = Simulation::new(o);
    let summary = sim.run();
    clean(&sim);
    // Sessions do not need the registrar: no failover for its sake.
    assert_eq!(summary.failovers, 0, "{summary}");
    // Users keep opening sessions (resolving at registrar 2), PEs moved
    // there.
    assert!(summary.requests >= 600, "{summary}");
    all_registered_at(&sim, 2);
    assert!(summary.handlespace_consistent);
}

/// A pool element that refuses every session: it closes it at once.
struct Refuse;

impl Service for Refuse {
    fn on_event(&mut self, ctx: &mut ServiceCtx<'_>, event: &Event, _bytes: &[u8]) {
        if let Event::Accepted { session, .. } = *event {
            ctx.close(session).unwrap();
        }
    }
}

#[test]
fn sessions_refused_by_a_pe_fail_over_to_the_others() {
    let tweaks = Tweaks {
        service: Some(Rc::new(|i| {
            (i == 0).then(|| Box::new(Refuse) as Box<dyn Service>)
        })),
        ..Tweaks::default()
    };
    let mut sim = Simulation::with(small(|_| {}), tweaks, None);
    let summary = sim.run();
    clean(&sim);
    // Every session that reached PE 1 was shut and failed over.
    assert_eq!(sim.element(1).unwrap().answered(), 0);
    assert!(summary.failovers > 0, "{summary}");
    for n in 2..=5 {
        assert!(sim.element(n).unwrap().answered() > 0, "PE {n}");
    }
    assert!(summary.handlespace_consistent);
}

#[test]
fn one_seed_gives_one_run() {
    let run = || {
        let mut sim = Simulation::new(small(|o| {
            o.net.loss = 0.05;
            o.kill_elements.push(NodeAt {
                number: 3,
                at: at(30),
            });
        }));
        let summary = sim.run().to_string();
        (summary, sim.counters().to_string(), sim.world.trace_hash())
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert!(a.0.starts_with("simulate: requests="), "{}", a.0);
}
