//! Same seed, same run: the event log and the summary repeat byte for
//! byte; another seed gives another run.

use std::cell::RefCell;
use std::rc::Rc;

use rserpool::sim::{Options, Simulation, Tweaks};

const FLAGS: &str = "--registrars 2 --elements 10 --users 5 --policy lu --seconds 120 \
     --loss 0.02 --jitter-ms 10 --dup 0.01 --reorder 0.05 --kill-element 3@40 \
     --restart-element 3@60 --kill-registrar 2@70 --verbose";

fn run(seed: u64) -> (Vec<String>, String, u64) {
    let mut o = Options::parse(FLAGS.split_whitespace()).unwrap();
    o.seed = seed;
    let log = Rc::new(RefCell::new(Vec::new()));
    let sink = log.clone();
    let mut sim = Simulation::with(
        o,
        Tweaks::default(),
        Some(Box::new(move |l: &str| {
            sink.borrow_mut().push(l.to_string())
        })),
    );
    let summary = sim.run().to_string();
    let lines = log.borrow().clone();
    (lines, summary, sim.world.trace_hash())
}

#[test]
fn same_seed_same_trace_and_summary() {
    let a = run(7);
    let b = run(7);
    assert!(a.0.len() > 1000, "{}", a.0.len());
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2);
    assert!(a.1.starts_with("simulate: requests="), "{}", a.1);
    let c = run(8);
    assert_ne!(a.2, c.2);
    assert_ne!(a.0, c.0);
}
