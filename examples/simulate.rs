//! Runs a pool scenario in the deterministic simulator and prints one
//! summary line:
//!
//! ```text
//! simulate: requests=R served=S failovers=F lost=L handlespace_consistent=true|false
//! ```
//!
//! `cargo run --example simulate -- --help` lists the flags, e.g.
//! `--registrars 1 --elements 10 --users 5 --policy lu --seconds 600
//! --loss 0.02 --kill-element 3@120 --seed 7`. The same flags and seed
//! print the same output, byte for byte.

use std::io::Write;
use std::process::ExitCode;

use rserpool::sim::{Options, Simulation, Tweaks};

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let trace: Option<Box<dyn FnMut(&str)>> = if options.verbose {
        Some(Box::new(|line: &str| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        }))
    } else {
        None
    };
    let mut sim = Simulation::with(options.clone(), Tweaks::default(), trace);
    let summary = sim.run();
    if options.stats || options.verbose {
        println!("counters: {}", sim.counters());
        for problem in sim.consistency().problems {
            println!("inconsistent: {problem}");
        }
    }
    println!("{summary}");
    ExitCode::SUCCESS
}
