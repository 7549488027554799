//! The CalcApp pool user (rsplib's `calcappclient`).

use alloc::collections::VecDeque;
use core::fmt;

use crate::id::{PeId, PoolHandle};
use crate::session::user::Event;
use crate::session::SessionId;
use crate::time::{Duration, Instant};
use crate::wire::calcapp::{CalcAppMessage, CalcAppType, CALCAPP_PPID};

use super::{round_u64, Distribution};
use crate::host::user::{AppCtx, Application};
use crate::host::Tally;

/// A [`CalcAppClient`]'s settings; [`CalcAppClientConfig::new`] gives
/// `calcappclient`'s defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CalcAppClientConfig {
    /// The pool.
    pub pool: PoolHandle,
    /// The mean job size in calculations (rsplib: `-jobsize`, 5,000,000).
    pub job_size: f64,
    /// How job sizes are drawn around the mean (rsplib: exponential).
    pub job_size_distribution: Distribution,
    /// The mean time between two jobs (rsplib: `-jobinterval`, 15 s).
    pub interval: Duration,
    /// How intervals are drawn around the mean (rsplib: exponential).
    pub interval_distribution: Distribution,
    /// A keep-alive this long after the job's acceptance or the PE's last
    /// keep-alive acknowledgement (rsplib:
    /// `-keepalivetransmissioninterval`, 5 s).
    pub keep_alive_interval: Duration,
    /// How long an answer (to a request or a keep-alive) may take before
    /// the session fails over, reporting the PE unreachable (rsplib:
    /// `-keepalivetimeoutinterval`, 5 s).
    pub keep_alive_timeout: Duration,
    /// After a CalcAppReject, or after the session gave up, the job is
    /// asked for again (on another PE) this much later (rsplib: 1 s).
    pub retry_delay: Duration,
    /// No job before this.
    pub start: Instant,
    /// No new job from this time on.
    pub stop: Instant,
    /// At most this many jobs (`None`: no limit).
    pub max_jobs: Option<u64>,
    /// Jobs waiting for their turn at most; one more is dropped (counted
    /// in [`CalcAppClientStats::dropped`]).
    pub queue_limit: usize,
    /// Completed jobs' records kept ([`CalcAppClient::records`]).
    pub history: usize,
}

impl CalcAppClientConfig {
    /// `calcappclient`'s defaults: exponential job sizes of mean 5,000,000
    /// calculations every exponential 15 s, keep-alives every 5 s with a
    /// 5 s timeout, a retry 1 s after a reject; at most 1,024 jobs queued,
    /// the last 64 kept.
    pub fn new(pool: PoolHandle) -> Self {
        CalcAppClientConfig {
            pool,
            job_size: 5_000_000.0,
            job_size_distribution: Distribution::Exponential,
            interval: Duration::from_secs(15),
            interval_distribution: Distribution::Exponential,
            keep_alive_interval: Duration::from_secs(5),
            keep_alive_timeout: Duration::from_secs(5),
            retry_delay: Duration::from_secs(1),
            start: Instant::ZERO,
            stop: Instant::MAX,
            max_jobs: None,
            queue_limit: 1024,
            history: 64,
        }
    }
}

/// One completed job, with rsplib's timestamps: its handling time runs
/// from the wish to submit it ([`queued_at`](Self::queued_at)) to its
/// completion, through the queue (waiting for the previous job), the
/// startup (until a PE accepted it) and the processing, rejections and
/// failovers included.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JobRecord {
    /// The job's id.
    pub job_id: u32,
    /// Its size in calculations.
    pub size: u64,
    /// Jobs queued before it when it was queued.
    pub queue_length: usize,
    /// When the pool user wanted to submit it.
    pub queued_at: Instant,
    /// When its turn came (its session opened, its request went out).
    pub started_at: Instant,
    /// When a PE accepted it last (after a failover: the last PE).
    pub accepted_at: Instant,
    /// When the CalcAppComplete came.
    pub completed_at: Instant,
    /// The PE that completed it.
    pub pe: Option<PeId>,
    /// CalcAppRequests sent for it.
    pub requests: u32,
    /// CalcAppRejects it got.
    pub rejects: u32,
    /// Failovers of its session.
    pub failovers: u32,
}

impl JobRecord {
    /// From its start to its acceptance (rsplib's startup delay).
    pub fn startup_delay(&self) -> Duration {
        self.accepted_at.saturating_duration_since(self.started_at)
    }
    /// From its queuing to its start (rsplib's queuing delay).
    pub fn queuing_delay(&self) -> Duration {
        self.started_at.saturating_duration_since(self.queued_at)
    }
    /// From its (last) acceptance to its completion.
    pub fn processing_time(&self) -> Duration {
        self.completed_at
            .saturating_duration_since(self.accepted_at)
    }
    /// From its queuing to its completion.
    pub fn handling_time(&self) -> Duration {
        self.completed_at.saturating_duration_since(self.queued_at)
    }
    /// Size ÷ handling time, in calculations per second (0 for no time).
    pub fn handling_speed(&self) -> f64 {
        let t = self.handling_time().as_micros() as f64 / 1e6;
        if t > 0.0 {
            self.size as f64 / t
        } else {
            0.0
        }
    }
}

impl fmt::Display for JobRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |d: Duration| d.as_micros() as f64 / 1e6;
        write!(
            f,
            "job {} size={} queue={} queuing={:.3}s startup={:.3}s processing={:.3}s \
             handling={:.3}s speed={:.0}/s requests={} rejects={} failovers={}",
            self.job_id,
            self.size,
            self.queue_length,
            s(self.queuing_delay()),
            s(self.startup_delay()),
            s(self.processing_time()),
            s(self.handling_time()),
            self.handling_speed(),
            self.requests,
            self.rejects,
            self.failovers
        )?;
        if let Some(pe) = self.pe {
            write!(f, " pe={}", pe.get())?;
        }
        Ok(())
    }
}

/// A [`CalcAppClient`]'s totals (rsplib's scalars).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CalcAppClientStats {
    /// Jobs queued.
    pub queued: u64,
    /// Jobs dropped: the queue was full.
    pub dropped: u64,
    /// Jobs started.
    pub started: u64,
    /// Jobs completed.
    pub completed: u64,
    /// Calculations of the completed jobs.
    pub size_completed: f64,
    /// CalcAppRequests sent.
    pub requests: u64,
    /// CalcAppAccepts received.
    pub accepts: u64,
    /// CalcAppRejects received.
    pub rejects: u64,
    /// Keep-alives sent.
    pub keep_alives: u64,
    /// Keep-alives the PEs sent and were answered.
    pub keep_alive_acks: u64,
    /// Keep-alives (or requests) not answered in time.
    pub timeouts: u64,
    /// Session failovers.
    pub failovers: u64,
    /// Sessions that gave up (no PE, too many failovers) with a job on
    /// them; the job was asked for again on a new session.
    pub sessions_lost: u64,
    /// Messages that were no CalcApp message or not for the current job.
    pub errors: u64,
    /// Sum of the completed jobs' queuing delays, in seconds.
    pub total_queuing: f64,
    /// Sum of their startup delays, in seconds.
    pub total_startup: f64,
    /// Sum of their processing times, in seconds.
    pub total_processing: f64,
    /// Sum of their handling times, in seconds.
    pub total_handling: f64,
    /// Sum of their handling speeds (for the mean per job).
    pub sum_handling_speed: f64,
}

impl CalcAppClientStats {
    /// Adds `other`'s counts and sums to these (e.g. over all users).
    pub fn merge(&mut self, other: &CalcAppClientStats) {
        self.queued += other.queued;
        self.dropped += other.dropped;
        self.started += other.started;
        self.completed += other.completed;
        self.size_completed += other.size_completed;
        self.requests += other.requests;
        self.accepts += other.accepts;
        self.rejects += other.rejects;
        self.keep_alives += other.keep_alives;
        self.keep_alive_acks += other.keep_alive_acks;
        self.timeouts += other.timeouts;
        self.failovers += other.failovers;
        self.sessions_lost += other.sessions_lost;
        self.errors += other.errors;
        self.total_queuing += other.total_queuing;
        self.total_startup += other.total_startup;
        self.total_processing += other.total_processing;
        self.total_handling += other.total_handling;
        self.sum_handling_speed += other.sum_handling_speed;
    }
    /// Calculations completed ÷ total handling time (rsplib's "average
    /// handling speed"); 0 before the first completion.
    pub fn average_handling_speed(&self) -> f64 {
        if self.total_handling > 0.0 {
            self.size_completed / self.total_handling
        } else {
            0.0
        }
    }
    /// The mean of the completed jobs' handling times, in seconds.
    pub fn mean_handling_time(&self) -> f64 {
        if self.completed > 0 {
            self.total_handling / self.completed as f64
        } else {
            0.0
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Queued {
    job_id: u32,
    size: u64,
    queued_at: Instant,
    queue_length: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Waiting for CalcAppAccept or CalcAppReject (request or cookie
    /// echo sent).
    Requesting,
    /// Accepted; keep-alives run.
    Processing,
    /// Rejected, or its session gave up: asked for again at this time.
    Retrying(Instant),
}

#[derive(Clone, Copy, Debug)]
struct Current {
    job: Queued,
    session: Option<SessionId>,
    status: Status,
    started_at: Instant,
    accepted_at: Option<Instant>,
    pe: Option<PeId>,
    requests: u32,
    rejects: u32,
    failovers: u32,
    keep_alive_at: Option<Instant>,
    timeout_at: Option<Instant>,
}

/// rsplib's CalcApp pool user: jobs are queued every
/// [`interval`](CalcAppClientConfig::interval) and done one after the
/// other, each on a session of its own (a fresh PE selection by the pool's
/// policy): a CalcAppRequest, keep-alives while it runs (and answers to
/// the PE's), until CalcAppComplete; then the session closes.
///
/// * A request or keep-alive not answered within
///   [`keep_alive_timeout`](CalcAppClientConfig::keep_alive_timeout) makes
///   the session fail over, reporting the PE unreachable.
/// * A CalcAppReject makes it fail over to a PE the policy selects,
///   [`retry_delay`](CalcAppClientConfig::retry_delay) later (rsplib fails
///   over at once and waits the second only without a cookie; here a full
///   pool is asked at most once per delay either way).
/// * After any failover the session echoes its last cookie, and the new PE
///   continues the job from there; without a cookie the request goes out
///   again and the job starts over.
/// * A session that gives up (no PE, too many failovers) is replaced by a
///   new one after the retry delay.
///
/// Each completed job's [`JobRecord`] goes into a ring of the last
/// [`history`](CalcAppClientConfig::history) ([`records`](Self::records),
/// [`drain_records`](Self::drain_records)), and into the totals
/// ([`stats`](Self::stats)). Memory is bounded by the queue limit and the
/// history.
#[derive(Debug)]
pub struct CalcAppClient {
    config: CalcAppClientConfig,
    next_job_at: Option<Instant>,
    next_id: u32,
    issued: u64,
    queue: VecDeque<Queued>,
    current: Option<Current>,
    records: VecDeque<JobRecord>,
    stats: CalcAppClientStats,
}

impl CalcAppClient {
    /// A pool user with `config`.
    pub fn new(config: CalcAppClientConfig) -> Self {
        CalcAppClient {
            config,
            next_job_at: None,
            next_id: 1,
            issued: 0,
            queue: VecDeque::new(),
            current: None,
            records: VecDeque::new(),
            stats: CalcAppClientStats::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &CalcAppClientConfig {
        &self.config
    }

    /// The totals.
    pub fn stats(&self) -> &CalcAppClientStats {
        &self.stats
    }

    /// The latest completed jobs, oldest first.
    pub fn records(&self) -> impl Iterator<Item = &JobRecord> + '_ {
        self.records.iter()
    }

    /// Takes the completed jobs' records kept so far, oldest first.
    pub fn drain_records(&mut self) -> impl Iterator<Item = JobRecord> + '_ {
        self.records.drain(..)
    }

    /// Jobs waiting for their turn.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Jobs queued or running, not completed.
    pub fn outstanding(&self) -> usize {
        self.queue.len() + usize::from(self.current.is_some())
    }

    /// Whether every job there is to queue has been queued.
    pub fn done_queuing(&self) -> bool {
        self.next_job_at.is_none()
    }

    /// Queues no more jobs (those queued still run).
    pub fn stop(&mut self) {
        self.next_job_at = None;
    }

    /// The running job: its id, its size and whether a PE runs it now
    /// (accepted it and no failover since).
    pub fn current_job(&self) -> Option<(u32, u64, bool)> {
        self.current
            .as_ref()
            .map(|c| (c.job.job_id, c.job.size, c.status == Status::Processing))
    }

    fn draw_interval(&self, ctx: &mut AppCtx<'_>) -> Duration {
        let mean = self.config.interval.as_micros() as f64;
        let r = ctx.random_u64();
        Duration::from_micros(round_u64(self.config.interval_distribution.draw(mean, r)).max(1))
    }

    fn queue_job(&mut self, ctx: &mut AppCtx<'_>, at: Instant) {
        let r = ctx.random_u64();
        let size = round_u64(
            self.config
                .job_size_distribution
                .draw(self.config.job_size, r),
        );
        let job_id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.issued += 1;
        ctx.record(Tally::Request);
        if self.queue.len() >= self.config.queue_limit.max(1) {
            self.stats.dropped += 1;
            return;
        }
        self.stats.queued += 1;
        self.queue.push_back(Queued {
            job_id,
            size,
            queued_at: at,
            queue_length: self.queue.len() + usize::from(self.current.is_some()),
        });
    }

    /// Sends the current job's request on its session.
    fn request(&mut self, ctx: &mut AppCtx<'_>) {
        let now = ctx.now();
        let timeout = self.config.keep_alive_timeout;
        let Some(c) = self.current.as_mut() else {
            return;
        };
        let Some(session) = c.session else { return };
        let m = CalcAppMessage::request(c.job.job_id, c.job.size);
        c.status = Status::Requesting;
        c.keep_alive_at = None;
        c.timeout_at = Some(now + timeout);
        c.requests += 1;
        self.stats.requests += 1;
        if ctx.send(session, CALCAPP_PPID, &m.to_bytes()).is_err() {
            // A full ring or a gone session: the timeout asks again.
            self.stats.errors += 1;
        }
    }

    /// Opens a session for the current job and asks for it.
    fn open(&mut self, ctx: &mut AppCtx<'_>) {
        let pool = self.config.pool;
        let now = ctx.now();
        let delay = self.config.retry_delay;
        let Some(c) = self.current.as_mut() else {
            return;
        };
        match ctx.connect(pool) {
            Ok(s) => {
                c.session = Some(s);
                self.request(ctx);
            }
            Err(_) => {
                c.session = None;
                c.status = Status::Retrying(now + delay);
                c.timeout_at = None;
                c.keep_alive_at = None;
            }
        }
    }

    /// Starts the next queued job when none runs.
    fn next(&mut self, ctx: &mut AppCtx<'_>) {
        if self.current.is_some() {
            return;
        }
        let Some(job) = self.queue.pop_front() else {
            return;
        };
        self.stats.started += 1;
        self.current = Some(Current {
            job,
            session: None,
            status: Status::Requesting,
            started_at: ctx.now(),
            accepted_at: None,
            pe: None,
            requests: 0,
            rejects: 0,
            failovers: 0,
            keep_alive_at: None,
            timeout_at: None,
        });
        self.open(ctx);
    }

    fn send_plain(&mut self, ctx: &mut AppCtx<'_>, session: SessionId, kind: CalcAppType, id: u32) {
        let m = CalcAppMessage::new(kind, id);
        if ctx.send(session, CALCAPP_PPID, &m.to_bytes()).is_err() {
            self.stats.errors += 1;
        }
    }

    fn message(&mut self, ctx: &mut AppCtx<'_>, session: SessionId, bytes: &[u8]) {
        let now = ctx.now();
        let Some(c) = self.current.as_mut().filter(|c| c.session == Some(session)) else {
            return;
        };
        let m = match CalcAppMessage::decode(bytes) {
            Ok(m) if m.job_id == c.job.job_id => m,
            _ => {
                self.stats.errors += 1;
                return;
            }
        };
        match m.kind {
            CalcAppType::Accept => {
                self.stats.accepts += 1;
                c.accepted_at = Some(now);
                c.status = Status::Processing;
                c.timeout_at = None;
                c.keep_alive_at = Some(now + self.config.keep_alive_interval);
            }
            CalcAppType::Reject => {
                self.stats.rejects += 1;
                c.rejects += 1;
                c.status = Status::Retrying(now + self.config.retry_delay);
                c.timeout_at = None;
                c.keep_alive_at = None;
            }
            CalcAppType::KeepAlive => {
                self.stats.keep_alive_acks += 1;
                let id = c.job.job_id;
                self.send_plain(ctx, session, CalcAppType::KeepAliveAck, id);
            }
            CalcAppType::KeepAliveAck => {
                if c.status == Status::Processing {
                    c.timeout_at = None;
                    c.keep_alive_at = Some(now + self.config.keep_alive_interval);
                }
            }
            CalcAppType::Complete => self.complete(ctx, now),
            CalcAppType::Request | CalcAppType::Abort => self.stats.errors += 1,
        }
    }

    fn complete(&mut self, ctx: &mut AppCtx<'_>, now: Instant) {
        let Some(c) = self.current.take() else {
            return;
        };
        if let Some(s) = c.session {
            let _ = ctx.close(s);
        }
        let record = JobRecord {
            job_id: c.job.job_id,
            size: c.job.size,
            queue_length: c.job.queue_length,
            queued_at: c.job.queued_at,
            started_at: c.started_at,
            accepted_at: c.accepted_at.unwrap_or(now),
            completed_at: now,
            pe: c.pe,
            requests: c.requests,
            rejects: c.rejects,
            failovers: c.failovers,
        };
        let secs = |d: Duration| d.as_micros() as f64 / 1e6;
        let st = &mut self.stats;
        st.completed += 1;
        st.size_completed += record.size as f64;
        st.total_queuing += secs(record.queuing_delay());
        st.total_startup += secs(record.startup_delay());
        st.total_processing += secs(record.processing_time());
        st.total_handling += secs(record.handling_time());
        st.sum_handling_speed += record.handling_speed();
        ctx.record(Tally::Served {
            took: record.handling_time(),
            failed_over: record.failovers > 0,
        });
        if ctx.tracing() {
            ctx.log(format_args!("calcapp: {record}"));
        }
        if self.config.history > 0 {
            if self.records.len() >= self.config.history {
                self.records.pop_front();
            }
            self.records.push_back(record);
        }
        self.next(ctx);
    }

    fn failover(&mut self, ctx: &mut AppCtx<'_>, session: SessionId) {
        let now = ctx.now();
        let timeout = self.config.keep_alive_timeout;
        let has_cookie = ctx.cookie(session).is_some();
        let Some(c) = self.current.as_mut().filter(|c| c.session == Some(session)) else {
            return;
        };
        self.stats.failovers += 1;
        c.failovers += 1;
        c.pe = None;
        if has_cookie {
            // The COOKIE_ECHO goes first; the new PE accepts (or rejects)
            // the job from it.
            c.status = Status::Requesting;
            c.keep_alive_at = None;
            c.timeout_at = Some(now + timeout);
        } else {
            self.request(ctx);
        }
    }
}

impl Application for CalcAppClient {
    fn start(&mut self, ctx: &mut AppCtx<'_>) {
        let first = self.config.start.max(ctx.now()) + self.draw_interval(ctx);
        let none = self.config.max_jobs == Some(0) || first >= self.config.stop;
        self.next_job_at = (!none).then_some(first);
    }

    fn on_event(&mut self, ctx: &mut AppCtx<'_>, event: &Event, bytes: &[u8]) {
        match *event {
            Event::Message { session, .. } => self.message(ctx, session, bytes),
            Event::Connected { session, pe, .. } => {
                if let Some(c) = self.current.as_mut().filter(|c| c.session == Some(session)) {
                    c.pe = Some(pe);
                }
            }
            Event::Failover { session, .. } => self.failover(ctx, session),
            Event::Closed { session, .. } => {
                let now = ctx.now();
                let delay = self.config.retry_delay;
                if let Some(c) = self.current.as_mut().filter(|c| c.session == Some(session)) {
                    self.stats.sessions_lost += 1;
                    c.session = None;
                    c.pe = None;
                    c.status = Status::Retrying(now + delay);
                    c.timeout_at = None;
                    c.keep_alive_at = None;
                }
            }
            _ => {}
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let c = self.current.as_ref().and_then(|c| {
            let retry = match c.status {
                Status::Retrying(t) => Some(t),
                _ => None,
            };
            [c.keep_alive_at, c.timeout_at, retry]
                .into_iter()
                .flatten()
                .min()
        });
        [self.next_job_at, c].into_iter().flatten().min()
    }

    fn handle_timeout(&mut self, ctx: &mut AppCtx<'_>) {
        let now = ctx.now();
        while let Some(t) = self.next_job_at.filter(|&t| t <= now) {
            self.queue_job(ctx, t);
            let next = t + self.draw_interval(ctx);
            let more = self.config.max_jobs.is_none_or(|m| self.issued < m);
            self.next_job_at = (more && next < self.config.stop).then_some(next);
        }
        if let Some(c) = self.current {
            let id = c.job.job_id;
            if let Status::Retrying(t) = c.status {
                if t <= now {
                    if let Some(cur) = self.current.as_mut() {
                        cur.status = Status::Requesting;
                        cur.timeout_at = Some(now + self.config.keep_alive_timeout);
                    }
                    match c.session {
                        // After a reject: to another PE (with the cookie,
                        // if any; the failover event asks again without).
                        Some(s) if ctx.failover(s, false).is_ok() => {}
                        Some(_) => self.request(ctx),
                        None => self.open(ctx),
                    }
                }
            } else if c.timeout_at.is_some_and(|t| t <= now) {
                self.stats.timeouts += 1;
                if ctx.tracing() {
                    ctx.log(format_args!("calcapp: job {id}: no answer, failing over"));
                }
                if let Some(cur) = self.current.as_mut() {
                    cur.timeout_at = Some(now + self.config.keep_alive_timeout);
                }
                match c.session {
                    // The failover event asks again (or waits for the
                    // cookie's answer).
                    Some(s) if ctx.failover(s, true).is_ok() => {}
                    // Still resolving: wait again.
                    Some(_) => {}
                    None => self.open(ctx),
                }
            } else if c.keep_alive_at.is_some_and(|t| t <= now) {
                if let Some(cur) = self.current.as_mut() {
                    cur.keep_alive_at = None;
                    cur.timeout_at = Some(now + self.config.keep_alive_timeout);
                }
                self.stats.keep_alives += 1;
                if let Some(s) = c.session {
                    self.send_plain(ctx, s, CalcAppType::KeepAlive, id);
                }
            }
        }
        self.next(ctx);
    }
}
