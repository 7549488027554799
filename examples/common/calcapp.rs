//! The CalcApp halves of `examples/pool_element.rs` (`--service calcapp`)
//! and `examples/pool_user.rs` (`--calcapp`), also run by the loopback
//! test `tests/it/net/calcapp.rs`.

// Each program uses its half.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rserpool::host::calcapp::{
    CalcAppClient, CalcAppClientConfig, CalcAppClientStats, CalcAppService, CalcAppServiceConfig,
    CalcAppServiceStats, JobRecord, ServiceJobEvent,
};
use rserpool::pool_user::PoolUserConfig;
use rserpool::runtime::blocking::AppNode;
use rserpool::runtime::NodeConfig;
use rserpool::session::SessionUserConfig;

/// The latest statistics of a running [`CalcAppService`].
pub type SharedStats = Arc<Mutex<CalcAppServiceStats>>;

/// A CalcApp service of `capacity` calculations/s and `max_jobs` jobs that
/// prints a line per job event (with `print`) and keeps its statistics in
/// the returned handle.
pub fn element_service(
    capacity: f64,
    max_jobs: usize,
    print: bool,
) -> (CalcAppService, SharedStats) {
    let shared = SharedStats::default();
    let keep = shared.clone();
    let service = CalcAppService::new(CalcAppServiceConfig::new(capacity, max_jobs)).with_observer(
        Box::new(move |event, stats| {
            if print {
                print_service_event(event);
            }
            if let Ok(mut s) = keep.lock() {
                *s = *stats;
            }
        }),
    );
    (service, shared)
}

fn print_service_event(event: &ServiceJobEvent) {
    match *event {
        ServiceJobEvent::Accepted {
            session,
            job_id,
            size,
            completed,
            from_cookie,
        } => {
            if from_cookie {
                println!(
                    "calcapp: job {session:?}/{job_id} of {size} calculations accepted from its cookie ({completed} done)"
                );
            } else {
                println!("calcapp: job {session:?}/{job_id} of {size} calculations accepted");
            }
        }
        ServiceJobEvent::Rejected {
            session, job_id, ..
        } => println!("calcapp: job {session:?}/{job_id} rejected (all job slots taken)"),
        ServiceJobEvent::Completed {
            session,
            job_id,
            size,
            took,
        } => println!(
            "calcapp: job {session:?}/{job_id} of {size} calculations completed in {:.3} s",
            took.as_micros() as f64 / 1e6
        ),
        ServiceJobEvent::Removed {
            session,
            job_id,
            completed,
            timeout,
        } => println!(
            "calcapp: job {session:?}/{job_id} removed after {completed} calculations ({})",
            if timeout {
                "keep-alive timeout"
            } else {
                "session closed"
            }
        ),
        ServiceJobEvent::Malformed { session, error } => {
            println!("calcapp: session {session:?}: {error}")
        }
    }
}

/// The pool element's summary line.
pub fn element_summary(stats: &SharedStats, capacity: f64, uptime: Duration) -> String {
    let s = stats.lock().map(|s| *s).unwrap_or_default();
    let secs = uptime.as_secs_f64();
    let utilisation = if secs > 0.0 {
        s.used_calculations / (capacity * secs)
    } else {
        0.0
    };
    format!(
        "calcapp: accepted={} (from cookies {}) rejected={} completed={} keep_alive_timeouts={} \
         calculations={:.0} utilisation={utilisation:.3}",
        s.accepted,
        s.accepted_from_cookie,
        s.rejected,
        s.completed,
        s.keep_alive_timeouts,
        s.used_calculations
    )
}

/// What a CalcApp pool user run ended with.
#[derive(Clone, Debug)]
pub struct UserOutcome {
    /// The totals.
    pub stats: CalcAppClientStats,
    /// Every completed job.
    pub jobs: Vec<JobRecord>,
    /// Jobs asked for.
    pub wanted: u64,
}

impl UserOutcome {
    /// Every job asked for was completed.
    pub fn all_done(&self) -> bool {
        self.stats.completed == self.wanted
    }

    /// The summary line.
    pub fn summary(&self) -> String {
        let s = &self.stats;
        format!(
            "pool_user: jobs={} completed={} rejects={} failovers={} handling_speed={:.0} \
             mean_handling_time={:.3}",
            self.wanted,
            s.completed,
            s.rejects,
            s.failovers,
            s.average_handling_speed(),
            s.mean_handling_time()
        )
    }
}

/// Runs a CalcApp pool user for `client.max_jobs` jobs (at least 1) until
/// they are done or `deadline` has passed, printing each completed job
/// (with `print`).
pub fn run_user(
    config: PoolUserConfig,
    node: NodeConfig,
    client: CalcAppClientConfig,
    deadline: Duration,
    print: bool,
) -> std::io::Result<UserOutcome> {
    let wanted = client.max_jobs.unwrap_or(1).max(1);
    let client = CalcAppClientConfig {
        max_jobs: Some(wanted),
        ..client
    };
    let mut su = SessionUserConfig::new(config);
    su.retry_interval = rserpool::Duration::from_millis(500);
    let user = AppNode::start(su, node, CalcAppClient::new(client))?;
    let end = std::time::Instant::now() + deadline;
    let mut jobs = Vec::new();
    let mut stats = CalcAppClientStats::default();
    while std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        let Some((records, s)) = user.with_app(|a, _| {
            let records: Vec<JobRecord> = a.drain_records().collect();
            (records, *a.stats())
        }) else {
            break;
        };
        stats = s;
        for r in records {
            if print {
                println!("calcapp: {r}");
            }
            jobs.push(r);
        }
        if stats.completed + stats.dropped >= wanted {
            break;
        }
    }
    user.shutdown();
    Ok(UserOutcome {
        stats,
        jobs,
        wanted,
    })
}
