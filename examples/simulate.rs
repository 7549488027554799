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

use rserpool::sim::world::TraceSink;
use rserpool::sim::{Options, Simulation, Tweaks};

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let trace: Option<TraceSink> = if options.verbose {
        Some(Box::new(|line: &str| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        }))
    } else {
        None
    };
    let mut sim = Simulation::with(options.clone(), Tweaks::default(), trace);
    let wall = std::time::Instant::now();
    let (summary, changes) = match options.sample {
        Some(step) => sim.run_sampled(step),
        None => (sim.run(), Vec::new()),
    };
    let wall = wall.elapsed();
    for (at, ok) in &changes {
        println!(
            "strict check at {at}: {}",
            if *ok { "consistent" } else { "not consistent" }
        );
    }
    if options.stats || options.verbose {
        println!("counters: {}", sim.counters());
        for n in 1..=sim.registrars.len() {
            let Some(r) = sim.registrar(n) else { continue };
            for (at, pe, why) in r.removals() {
                println!("registrar {n}: removed PE {} at {at} ({why:?})", pe.get());
            }
        }
        let c = sim.counters();
        let by_type: Vec<String> = (1u8..=14)
            .filter(|&t| c.asap(t) > 0)
            .map(|t| {
                let name = rserpool::wire::asap_type::name(t).unwrap_or("?");
                format!("{}={}", name.trim_start_matches("ASAP_"), c.asap(t))
            })
            .collect();
        println!("asap sent: {}", by_type.join(" "));
        if c.enrp_sent > 0 {
            let by_type: Vec<String> = (1u8..=15)
                .filter(|&t| c.enrp(t) > 0)
                .map(|t| {
                    let name = rserpool::wire::enrp_type::name(t).unwrap_or("?");
                    format!("{}={}", name.trim_start_matches("ENRP_"), c.enrp(t))
                })
                .collect();
            println!("enrp sent: {}", by_type.join(" "));
            let granted = c.registrations;
            if granted > 0 {
                let update = rserpool::wire::enrp_type::HANDLE_UPDATE;
                println!(
                    "enrp per registration: {:.2} messages, {:.2} HANDLE_UPDATEs \
                     ({granted} registrations and re-registrations)",
                    c.enrp_sent as f64 / granted as f64,
                    c.enrp(update) as f64 / granted as f64
                );
            }
        }
        if c.failed_over_served > 0 {
            println!(
                "failed-over requests: {} served, mean {} ms, max {} ms from issue to answer",
                c.failed_over_served,
                c.failover_time_sum_us / c.failed_over_served / 1000,
                c.failover_time_max_us / 1000
            );
        }
        let consistency = sim.consistency();
        for problem in &consistency.problems {
            println!("inconsistent: {problem}");
        }
        for difference in &consistency.pending {
            println!("within grace: {difference}");
        }
        println!("wall time: {:.3} s", wall.as_secs_f64());
    }
    println!("{summary}");
    ExitCode::SUCCESS
}
