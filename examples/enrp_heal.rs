//! Measures how long registrars take to agree again after a partition
//! heals, over a sweep of seeds and loss rates, and prints the median and
//! the worst time to consistency per loss rate:
//!
//! ```text
//! cargo run --release --example enrp_heal -- [--seeds N] [--loss 0,0.02,0.08] [--each] [SIMULATE FLAGS]
//! ```
//!
//! Every run is `simulate`'s scenario (the remaining flags, default
//! `--registrars 5 --enrp --elements 500 --users 50 --policy wrand
//! --seconds 300 --partition 1,2|3,4,5@50-120`) with `--seed` 1..=N and the
//! loss rate; the strict check (no problem, nothing within grace) runs
//! every second. The time to consistency is from the latest partition's end
//! to the first sample after it at which the strict check holds; a run that
//! never gets there or ends inconsistent fails the command, and one that
//! turns inconsistent again later (for a reason of its own, e.g. a PE
//! removed by a keep-alive timeout under loss) is listed as relapsed. `--each` prints every run's changes
//! of the strict check (`+T` consistent from T s on, `-T` not).

use std::process::ExitCode;

use rserpool::sim::{Options, Simulation};
use rserpool::time::{Duration, Instant};

const DEFAULT: &str = "--registrars 5 --enrp --elements 500 --users 50 --policy wrand \
                       --seconds 300 --partition 1,2|3,4,5@50-120";

fn main() -> ExitCode {
    let mut seeds = 20u64;
    let mut each = false;
    let mut losses = vec![0.0, 0.02, 0.08];
    let mut rest: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) => seeds = n,
                None => return usage(),
            },
            "--each" => each = true,
            "--loss" => {
                let parsed: Option<Vec<f64>> = args
                    .next()
                    .map(|v| v.split(',').map(|x| x.parse().ok()).collect())
                    .unwrap_or(None);
                match parsed {
                    Some(v) if !v.is_empty() => losses = v,
                    _ => return usage(),
                }
            }
            _ => rest.push(a),
        }
    }
    if rest.is_empty() {
        rest = DEFAULT.split_whitespace().map(String::from).collect();
    }
    let base = match Options::parse(&rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let Some(heal) = base.partitions.iter().map(|p| p.until).max() else {
        eprintln!("enrp_heal: needs a --partition");
        return ExitCode::from(2);
    };
    let mut failed = false;
    println!(
        "partition heals at {} s; time to consistency after it (strict check every 1 s)",
        heal.saturating_duration_since(Instant::ZERO).as_secs()
    );
    println!("loss | runs | consistent at end | median s | worst s | relapsed");
    for &loss in &losses {
        let mut times: Vec<Duration> = Vec::new();
        let mut bad: Vec<u64> = Vec::new();
        let mut never: Vec<u64> = Vec::new();
        let mut relapsed: Vec<u64> = Vec::new();
        for seed in 1..=seeds {
            let mut o = base.clone();
            o.seed = seed;
            o.net.loss = loss;
            let mut sim = Simulation::new(o);
            let (summary, changes) = sim.run_sampled(Duration::from_secs(1));
            if each {
                let c: Vec<String> = changes
                    .iter()
                    .map(|(t, ok)| {
                        let t = t.saturating_duration_since(Instant::ZERO).as_secs();
                        format!("{}{t}", if *ok { "+" } else { "-" })
                    })
                    .collect();
                println!("  loss {loss} seed {seed}: {}", c.join(" "));
            }
            // The strict check's state at the heal, then its changes after.
            let at_heal = changes
                .iter()
                .take_while(|&&(t, _)| t <= heal)
                .last()
                .is_some_and(|&(_, ok)| ok);
            let after: Vec<(Instant, bool)> =
                changes.iter().copied().filter(|&(t, _)| t > heal).collect();
            let first_ok = if at_heal {
                Some(heal)
            } else {
                after.iter().find(|&&(_, ok)| ok).map(|&(t, _)| t)
            };
            match first_ok {
                Some(t) => times.push(t.saturating_duration_since(heal)),
                None => never.push(seed),
            }
            if first_ok.is_some_and(|t| after.iter().any(|&(u, ok)| u > t && !ok)) {
                relapsed.push(seed);
            }
            if !summary.handlespace_consistent {
                bad.push(seed);
            }
        }
        times.sort();
        let secs = |d: Duration| d.as_millis() as f64 / 1000.0;
        let median = times.get(times.len() / 2).map_or(f64::NAN, |&d| secs(d));
        let worst = times.last().map_or(f64::NAN, |&d| secs(d));
        println!(
            "{loss} | {seeds} | {} | {median} | {worst} | {}",
            seeds as usize - bad.len(),
            relapsed.len()
        );
        if !bad.is_empty() || !never.is_empty() {
            failed = true;
            println!("  never consistent after the heal: seeds {never:?}; inconsistent at the end: seeds {bad:?}");
        }
        if !relapsed.is_empty() {
            println!("  inconsistent again later (not counted in the times): seeds {relapsed:?}");
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: enrp_heal [--seeds N] [--loss L1,L2,...] [simulate flags]");
    ExitCode::from(2)
}
