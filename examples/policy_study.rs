//! Which selection policy for a pool of compute servers? Runs the policy
//! study of `rserpool::sim::study` (CalcApp pools in the simulator) and
//! writes its CSV and plots.
//!
//! ```text
//! cargo run --release --example policy_study               # the published set into docs/
//! cargo run --release --example policy_study -- --quick    # a small set, a minute
//! cargo run --release --example policy_study -- --out /tmp/study --seeds 5
//! ```
//!
//! Writes `policies.csv` and `policies-*.svg` into the output directory
//! (default `docs/`); `docs/policies.md` explains the figures.

use std::time::Instant as WallClock;

use rserpool::sim::study::{self, PolicyKind, Row, Scenario, StudyConfig};

struct Args {
    config: StudyConfig,
    out: String,
    plots: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: policy_study [--quick] [--out DIR] [--seeds N] [--threads N] \
         [--policies RR,LU,...] [--no-plots]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut config = StudyConfig::published();
    let mut out = String::from("docs");
    let mut plots = true;
    let mut seeds: Option<u64> = None;
    let mut threads: Option<usize> = None;
    let mut policies: Option<Vec<PolicyKind>> = None;
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--quick" => config = StudyConfig::quick(),
            "--out" => out = value(),
            "--seeds" => seeds = Some(value().parse().unwrap_or_else(|_| usage())),
            "--threads" => threads = Some(value().parse().unwrap_or_else(|_| usage())),
            "--policies" => {
                policies = Some(
                    value()
                        .split(',')
                        .map(|n| PolicyKind::from_name(n).unwrap_or_else(|| usage()))
                        .collect(),
                )
            }
            "--no-plots" => plots = false,
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    if let Some(n) = seeds {
        config.seeds = (1..=n.max(1)).collect();
    }
    if let Some(t) = threads {
        config.threads = t.max(1);
    }
    if let Some(p) = policies {
        config.policies = p;
    }
    Args { config, out, plots }
}

fn main() {
    let args = parse_args();
    let c = &args.config;
    let points = c.points();
    println!(
        "policy_study: {} points x {} seeds, {} PEs, {} s per run ({} s warm-up), {} threads",
        points.len(),
        c.seeds.len(),
        c.elements,
        c.duration.as_secs(),
        c.warmup.as_secs(),
        c.threads
    );
    let started = WallClock::now();
    let rows = study::run(c, |r| {
        println!(
            "{:>13} {:>9} {:>2} users/PE load {:.2}: speed {:>9.0} ± {:>7.0} calc/s, \
             utilisation {:.3}, fairness {:.3}, rejects/job {:.3}",
            r.point.scenario.name(),
            r.point.policy.name(),
            r.point.users_per_pe,
            r.point.load,
            r.handling_speed.mean,
            r.handling_speed.ci95,
            r.utilisation.mean,
            r.fairness.mean,
            r.rejects_per_job.mean
        );
    });
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("policy_study: {}: {e}", args.out);
        std::process::exit(1);
    }
    let csv_path = format!("{}/policies.csv", args.out);
    if let Err(e) = std::fs::write(&csv_path, study::csv(&rows)) {
        eprintln!("policy_study: {csv_path}: {e}");
        std::process::exit(1);
    }
    println!("csv: {csv_path}");
    if args.plots {
        for (name, result) in plots(&args.out, c, &rows) {
            match result {
                Ok(()) => println!("plot: {name}"),
                Err(e) => {
                    eprintln!("policy_study: {name}: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    println!(
        "policy_study: done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The value on the x axis and the metric plotted.
type Axis = fn(&Row) -> f64;
type Metric = fn(&Row) -> (f64, f64);

struct Chart<'a> {
    file: String,
    title: String,
    x_desc: &'a str,
    y_desc: &'a str,
    x: Axis,
    y: Metric,
}

/// What one chart shows: its file's suffix, title, axes, and whether its
/// x axis is the users per PE (at the middle load) or the load (at the
/// middle users per PE).
type ChartSpec = (&'static str, &'static str, &'static str, Metric);

const LOAD_AXIS: &str = "offered load (share of the pool's capacity)";
const SPEED: &str = "handling speed (calculations/s)";

const CHARTS: [ChartSpec; 4] = [
    ("load", "handling speed", SPEED, |r| {
        (r.handling_speed.mean, r.handling_speed.ci95)
    }),
    ("users", "handling speed", SPEED, |r| {
        (r.handling_speed.mean, r.handling_speed.ci95)
    }),
    (
        "fairness",
        "utilisation fairness",
        "Jain's index of the PEs' utilisations",
        |r| (r.fairness.mean, r.fairness.ci95),
    ),
    (
        "rejects",
        "rejections",
        "CalcAppRejects per completed job",
        |r| (r.rejects_per_job.mean, r.rejects_per_job.ci95),
    ),
];

fn plots(out: &str, c: &StudyConfig, rows: &[Row]) -> Vec<(String, Result<(), String>)> {
    let mid_users = c.users_per_pe[c.users_per_pe.len() / 2];
    let mid_load = pick_load(&c.loads, 0.7);
    let mut done = Vec::new();
    for scenario in [Scenario::Heterogeneous, Scenario::Distance] {
        if !c.scenarios.contains(&scenario) {
            continue;
        }
        let s = scenario.name();
        for (suffix, what, y_desc, y) in CHARTS {
            let by_users = suffix == "users";
            let chart = Chart {
                file: format!("{out}/policies-{s}-{suffix}.svg"),
                title: if by_users {
                    format!("{s} pool, offered load {mid_load:.1}: {what}")
                } else {
                    format!("{s} pool, {mid_users} users per PE: {what}")
                },
                x_desc: if by_users {
                    "pool users per PE"
                } else {
                    LOAD_AXIS
                },
                y_desc,
                x: if by_users {
                    |r| r.point.users_per_pe as f64
                } else {
                    |r| r.point.load
                },
                y,
            };
            let selected: Vec<Row> = rows
                .iter()
                .filter(|r| {
                    r.point.scenario == scenario
                        && if by_users {
                            (r.point.load - mid_load).abs() < 1e-9
                        } else {
                            r.point.users_per_pe == mid_users
                        }
                })
                .cloned()
                .collect();
            done.push((chart.file.clone(), draw(&chart, &selected)));
        }
    }
    done
}

fn pick_load(loads: &[f64], want: f64) -> f64 {
    loads
        .iter()
        .copied()
        .min_by(|a, b| (a - want).abs().total_cmp(&(b - want).abs()))
        .unwrap_or(want)
}

/// One line per policy with its 95 % confidence interval as error bars.
fn draw(chart: &Chart<'_>, rows: &[Row]) -> Result<(), String> {
    use plotters::prelude::*;
    if rows.is_empty() {
        return Err("no data for this chart".into());
    }
    let root = SVGBackend::new(&chart.file, (1000, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let xs = rows.iter().map(|r| (chart.x)(r));
    let x_min = xs.clone().fold(f64::MAX, f64::min);
    let x_max = xs.fold(f64::MIN, f64::max);
    let ys = rows.iter().map(|r| (chart.y)(r));
    let y_max = ys.clone().map(|(m, c)| m + c).fold(f64::MIN, f64::max);
    let y_min = ys.map(|(m, c)| m - c).fold(f64::MAX, f64::min).min(0.0);
    let pad = (x_max - x_min).max(1e-9) * 0.05;
    let mut ctx = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x_min - pad)..(x_max + pad),
            y_min..(y_max * 1.08).max(y_min + 1e-9),
        )
        .map_err(|e| e.to_string())?;
    ctx.configure_mesh()
        .x_desc(chart.x_desc)
        .y_desc(chart.y_desc)
        .light_line_style(WHITE)
        .y_label_formatter(&|y| {
            if y.abs() >= 1000.0 {
                format!("{:.0}k", y / 1000.0)
            } else if *y == 0.0 {
                String::from("0")
            } else {
                format!("{y:.2}")
            }
        })
        .draw()
        .map_err(|e| e.to_string())?;
    let mut policies: Vec<PolicyKind> = Vec::new();
    for r in rows {
        if !policies.contains(&r.point.policy) {
            policies.push(r.point.policy);
        }
    }
    for (i, policy) in policies.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        let mut points: Vec<(f64, f64, f64)> = rows
            .iter()
            .filter(|r| r.point.policy == *policy)
            .map(|r| {
                let (m, c) = (chart.y)(r);
                ((chart.x)(r), m, c)
            })
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let dashed = policy.distance_aware();
        let style = colour.stroke_width(if dashed { 3 } else { 2 });
        ctx.draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), style))
            .map_err(|e| e.to_string())?
            .label(policy.name())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
        ctx.draw_series(
            points
                .iter()
                .map(|&(x, m, c)| ErrorBar::new_vertical(x, m - c, m, m + c, colour.filled(), 6)),
        )
        .map_err(|e| e.to_string())?;
        if dashed {
            ctx.draw_series(
                points
                    .iter()
                    .map(|&(x, m, _)| TriangleMarker::new((x, m), 5, colour.filled())),
            )
            .map_err(|e| e.to_string())?;
        } else {
            ctx.draw_series(
                points
                    .iter()
                    .map(|&(x, m, _)| Circle::new((x, m), 3, colour.filled())),
            )
            .map_err(|e| e.to_string())?;
        }
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
