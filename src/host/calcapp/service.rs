//! The CalcApp pool element service (rsplib's `CalcAppServer`, the
//! service of `rspserver -calcapp`).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use crate::policy::{Policy, FULL_LOAD};
use crate::session::element::Event;
use crate::session::SessionId;
use crate::time::{Duration, Instant};
use crate::wire::calcapp::{
    CalcAppCookie, CalcAppError, CalcAppMessage, CalcAppType, CALCAPP_PPID,
};

use super::{ceil_micros, round_u64};
use crate::host::element::{Service, ServiceCtx};

/// The most jobs a [`CalcAppService`] can be configured to run at once.
pub const MAX_JOBS_LIMIT: usize = 65_536;

/// A [`CalcAppService`]'s settings; [`CalcAppServiceConfig::default`] is
/// `rspserver -calcapp`'s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CalcAppServiceConfig {
    /// Calculations per second, shared equally among the running jobs
    /// (rsplib: `-capcapacity`, 1,000,000).
    pub capacity: f64,
    /// Jobs run at once; one more is rejected (rsplib: `-capmaxjobs`, 10;
    /// at most [`MAX_JOBS_LIMIT`]).
    pub max_jobs: usize,
    /// A job's keep-alive is sent this long after its acceptance or its
    /// last keep-alive acknowledgement (rsplib: 2.5 s).
    pub keep_alive_interval: Duration,
    /// A job whose keep-alive is not acknowledged within this is removed
    /// (rsplib: 2.5 s).
    pub keep_alive_timeout: Duration,
    /// A COOKIE with the job's state at least this often (rsplib:
    /// `-capcookiemaxtime`, 5 s).
    pub cookie_max_time: Duration,
    /// ... and at least every this many calculations of the job (rsplib:
    /// `-capcookiemaxcalculations`, 5,000,000).
    pub cookie_max_calculations: f64,
    /// Report the load (running jobs ÷ `max_jobs`) to the registrar when
    /// the PE's policy is a load policy and the load moved by 1 % or more,
    /// as rsplib's pool elements do.
    pub report_load: bool,
}

impl Default for CalcAppServiceConfig {
    fn default() -> Self {
        CalcAppServiceConfig {
            capacity: 1_000_000.0,
            max_jobs: 10,
            keep_alive_interval: Duration::from_millis(2500),
            keep_alive_timeout: Duration::from_millis(2500),
            cookie_max_time: Duration::from_secs(5),
            cookie_max_calculations: 5_000_000.0,
            report_load: true,
        }
    }
}

impl CalcAppServiceConfig {
    /// The default with a capacity and a job limit.
    pub fn new(capacity: f64, max_jobs: usize) -> Self {
        CalcAppServiceConfig {
            capacity,
            max_jobs,
            ..Self::default()
        }
    }
}

/// What a [`CalcAppService`] has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CalcAppServiceStats {
    /// When the service started.
    pub started: Instant,
    /// Jobs accepted (requests and cookie echoes).
    pub accepted: u64,
    /// ... of them from a cookie echo (a job failed over to this PE).
    pub accepted_from_cookie: u64,
    /// Jobs rejected (the PE was full).
    pub rejected: u64,
    /// Jobs completed.
    pub completed: u64,
    /// Jobs removed because their keep-alive went unanswered.
    pub keep_alive_timeouts: u64,
    /// Jobs removed because their session ended.
    pub abandoned: u64,
    /// COOKIEs sent.
    pub cookies_sent: u64,
    /// Messages, cookie echoes or sends that failed (malformed input, a
    /// full transmit ring).
    pub errors: u64,
    /// Calculations done up to the last update.
    pub used_calculations: f64,
}

/// What happened to a job, for a [`CalcAppService`]'s observer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ServiceJobEvent {
    /// A job was accepted.
    Accepted {
        /// Its session.
        session: SessionId,
        /// The pool user's job id.
        job_id: u32,
        /// Its size in calculations.
        size: u64,
        /// Calculations already done (from a cookie echo).
        completed: u64,
        /// Whether it came as a cookie echo.
        from_cookie: bool,
    },
    /// A job was rejected: the PE runs its maximum.
    Rejected {
        /// Its session.
        session: SessionId,
        /// The pool user's job id.
        job_id: u32,
        /// Whether it came as a cookie echo.
        from_cookie: bool,
    },
    /// A job completed.
    Completed {
        /// Its session.
        session: SessionId,
        /// The pool user's job id.
        job_id: u32,
        /// Its size.
        size: u64,
        /// How long it ran on this PE.
        took: Duration,
    },
    /// A job was removed: its keep-alive went unanswered, or its session
    /// ended.
    Removed {
        /// Its session.
        session: SessionId,
        /// The pool user's job id.
        job_id: u32,
        /// Calculations done.
        completed: u64,
        /// Whether the keep-alive timed out (else the session ended).
        timeout: bool,
    },
    /// A message or cookie echo that is no CalcApp message or cookie.
    Malformed {
        /// Its session.
        session: SessionId,
        /// What was wrong.
        error: CalcAppError,
    },
}

/// Told of every [`ServiceJobEvent`], with the statistics after it.
pub type ServiceObserver = Box<dyn FnMut(&ServiceJobEvent, &CalcAppServiceStats) + Send>;

#[derive(Clone, Copy, Debug)]
struct Job {
    session: SessionId,
    job_id: u32,
    size: f64,
    completed: f64,
    accepted_at: Instant,
    last_update: Instant,
    last_cookie_at: Instant,
    last_cookie_completed: f64,
    keep_alive_at: Option<Instant>,
    keep_alive_timeout_at: Option<Instant>,
    complete_at: Option<Instant>,
    cookie_at: Option<Instant>,
}

impl Job {
    fn next_timer(&self) -> Option<Instant> {
        [
            self.complete_at,
            self.cookie_at,
            self.keep_alive_at,
            self.keep_alive_timeout_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// rsplib's CalcApp pool element: jobs share the capacity equally
/// (processor sharing), at most [`max_jobs`](CalcAppServiceConfig::max_jobs)
/// at once (one more gets a CalcAppReject); each job gets its
/// CalcAppAccept, keep-alives (answered, and sent by the PE after
/// [`keep_alive_interval`](CalcAppServiceConfig::keep_alive_interval); a
/// job whose keep-alive goes unanswered is removed), a COOKIE with its
/// progress every [`cookie_max_time`](CalcAppServiceConfig::cookie_max_time)
/// or [`cookie_max_calculations`](CalcAppServiceConfig::cookie_max_calculations),
/// whichever comes first, and a CalcAppComplete at its end. A pool user
/// that fails over echoes its last cookie to another PE, which continues
/// the job from the calculations the cookie says are done.
///
/// With a load policy the PE reports running jobs ÷ `max_jobs` as its
/// load (when it moved by 1 % or more). Progress is kept in calculations
/// as `f64`, updated whenever the number of running jobs changes, as
/// rsplib does; [`used_calculations`](Self::used_calculations) and
/// [`utilisation`](Self::utilisation) measure the PE's work.
pub struct CalcAppService {
    config: CalcAppServiceConfig,
    jobs: Vec<Job>,
    stats: CalcAppServiceStats,
    started: bool,
    reported_load: Option<u32>,
    observer: Option<ServiceObserver>,
}

impl fmt::Debug for CalcAppService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CalcAppService")
            .field("config", &self.config)
            .field("jobs", &self.jobs.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl CalcAppService {
    /// A service with `config` (a capacity below 1 calculation/s is taken
    /// as 1, a job limit of 0 as 1 and one above [`MAX_JOBS_LIMIT`] as
    /// that, as rsplib bounds its settings).
    pub fn new(mut config: CalcAppServiceConfig) -> Self {
        if config.capacity.is_nan() || config.capacity < 1.0 || !config.capacity.is_finite() {
            config.capacity = 1.0;
        }
        if config.cookie_max_calculations.is_nan() || config.cookie_max_calculations < 1.0 {
            config.cookie_max_calculations = 1.0;
        }
        config.max_jobs = config.max_jobs.clamp(1, MAX_JOBS_LIMIT);
        config.cookie_max_time = config.cookie_max_time.max(Duration::from_millis(100));
        config.keep_alive_interval = config.keep_alive_interval.max(Duration::from_millis(100));
        config.keep_alive_timeout = config.keep_alive_timeout.max(Duration::from_millis(100));
        CalcAppService {
            config,
            jobs: Vec::new(),
            stats: CalcAppServiceStats::default(),
            started: false,
            reported_load: None,
            observer: None,
        }
    }

    /// Also tells `observer` of every job event (e.g. to print it).
    pub fn with_observer(mut self, observer: ServiceObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The settings.
    pub fn config(&self) -> &CalcAppServiceConfig {
        &self.config
    }

    /// The statistics (calculations up to the last update: see
    /// [`used_calculations`](Self::used_calculations) for a given time).
    pub fn stats(&self) -> &CalcAppServiceStats {
        &self.stats
    }

    /// Jobs running now.
    pub fn jobs(&self) -> usize {
        self.jobs.len()
    }

    /// The calculations each running job gets per second now.
    pub fn capacity_per_job(&self) -> f64 {
        if self.jobs.is_empty() {
            self.config.capacity
        } else {
            self.config.capacity / self.jobs.len() as f64
        }
    }

    /// Each running job's (id, size, calculations done at `now`), in no
    /// particular order.
    pub fn progress(&self, now: Instant) -> impl Iterator<Item = (u32, f64, f64)> + '_ {
        let per_us = self.per_job_per_us();
        self.jobs.iter().map(move |j| {
            let elapsed = now.saturating_duration_since(j.last_update).as_micros() as f64;
            (
                j.job_id,
                j.size,
                (j.completed + elapsed * per_us).min(j.size),
            )
        })
    }

    /// Calculations done by `now` (the statistics' count plus the running
    /// jobs' progress since the last update).
    pub fn used_calculations(&self, now: Instant) -> f64 {
        let per_us = self.per_job_per_us();
        self.stats.used_calculations
            + self
                .jobs
                .iter()
                .map(|j| {
                    let elapsed = now.saturating_duration_since(j.last_update).as_micros() as f64;
                    (elapsed * per_us).min(j.size - j.completed)
                })
                .sum::<f64>()
    }

    /// Calculations done ÷ (capacity × time since the start), at `now`.
    pub fn utilisation(&self, now: Instant) -> f64 {
        let up = now
            .saturating_duration_since(self.stats.started)
            .as_micros() as f64
            / 1e6;
        if up <= 0.0 {
            return 0.0;
        }
        self.used_calculations(now) / (self.config.capacity * up)
    }

    fn per_job_per_us(&self) -> f64 {
        if self.jobs.is_empty() {
            0.0
        } else {
            self.config.capacity / (self.jobs.len() as f64 * 1e6)
        }
    }

    fn notify(&mut self, event: ServiceJobEvent) {
        if let Some(o) = self.observer.as_mut() {
            o(&event, &self.stats);
        }
    }

    /// Brings every job's progress up to `now` (rsplib's
    /// `updateCalculations`).
    fn update(&mut self, now: Instant) {
        let per_us = self.per_job_per_us();
        for j in &mut self.jobs {
            let elapsed = now.saturating_duration_since(j.last_update).as_micros() as f64;
            let done = (elapsed * per_us).min(j.size - j.completed).max(0.0);
            j.completed += done;
            self.stats.used_calculations += done;
            j.last_update = now;
        }
    }

    /// Sets each job's completion and cookie times for the current share
    /// (rsplib's `scheduleJobs`).
    fn schedule(&mut self, now: Instant) {
        let per_us = self.per_job_per_us();
        let cookie_calcs = self.config.cookie_max_calculations;
        let cookie_time = self.config.cookie_max_time.as_micros() as f64;
        for j in &mut self.jobs {
            let to_go = (j.size - j.completed).max(0.0);
            j.complete_at = Some(j.last_update + ceil_micros(to_go / per_us));
            let since_calcs = j.completed - j.last_cookie_completed;
            let since_time = now.saturating_duration_since(j.last_cookie_at).as_micros() as f64;
            let by_calcs = round_u64((cookie_calcs - since_calcs).max(0.0) / per_us);
            let by_time = round_u64((cookie_time - since_time).max(0.0));
            // At least a millisecond apart, however fast the PE.
            let next = by_calcs.min(by_time).max(1000);
            j.cookie_at = Some(now + Duration::from_micros(next));
        }
    }

    /// Reports the load (jobs ÷ max jobs) with a load policy.
    fn report_load(&mut self, ctx: &mut ServiceCtx<'_>) {
        if !self.config.report_load {
            return;
        }
        let load = ((self.jobs.len() as u64 * FULL_LOAD) / self.config.max_jobs as u64) as u32;
        let policy = ctx.element().config().policy;
        let Some(current) = policy_load(&policy) else {
            return;
        };
        let last = self.reported_load.unwrap_or(current);
        if self.reported_load.is_some() && u64::from(last.abs_diff(load)) < FULL_LOAD / 100 {
            return;
        }
        if current != load {
            if let Some(p) = with_load(policy, load) {
                ctx.set_policy(p);
            }
        }
        self.reported_load = Some(load);
    }

    fn send(&mut self, ctx: &mut ServiceCtx<'_>, session: SessionId, m: &CalcAppMessage) -> bool {
        if ctx.send(session, CALCAPP_PPID, &m.to_bytes()).is_err() {
            self.stats.errors += 1;
            return false;
        }
        true
    }

    /// A request or cookie echo: a new job, or a reject.
    fn add(
        &mut self,
        ctx: &mut ServiceCtx<'_>,
        session: SessionId,
        job_id: u32,
        size: u64,
        completed: u64,
        from_cookie: bool,
    ) {
        let now = ctx.now();
        if self
            .jobs
            .iter()
            .any(|j| j.session == session && j.job_id == job_id)
        {
            // A repeated request: the job runs already.
            self.send(
                ctx,
                session,
                &CalcAppMessage::new(CalcAppType::Accept, job_id),
            );
            return;
        }
        if self.jobs.len() >= self.config.max_jobs {
            self.stats.rejected += 1;
            self.send(
                ctx,
                session,
                &CalcAppMessage::new(CalcAppType::Reject, job_id),
            );
            self.notify(ServiceJobEvent::Rejected {
                session,
                job_id,
                from_cookie,
            });
            return;
        }
        self.update(now);
        self.jobs.push(Job {
            session,
            job_id,
            size: size as f64,
            completed: completed as f64,
            accepted_at: now,
            last_update: now,
            last_cookie_at: now,
            last_cookie_completed: completed as f64,
            keep_alive_at: Some(now + self.config.keep_alive_interval),
            keep_alive_timeout_at: None,
            complete_at: None,
            cookie_at: None,
        });
        self.schedule(now);
        self.stats.accepted += 1;
        if from_cookie {
            self.stats.accepted_from_cookie += 1;
        }
        if !self.send(
            ctx,
            session,
            &CalcAppMessage::new(CalcAppType::Accept, job_id),
        ) {
            self.remove_at(ctx, self.jobs.len() - 1, false);
            return;
        }
        self.notify(ServiceJobEvent::Accepted {
            session,
            job_id,
            size,
            completed,
            from_cookie,
        });
        self.report_load(ctx);
    }

    /// Removes job `i` (`timeout`: its keep-alive went unanswered).
    fn remove_at(&mut self, ctx: &mut ServiceCtx<'_>, i: usize, timeout: bool) -> Option<Job> {
        if i >= self.jobs.len() {
            return None;
        }
        let now = ctx.now();
        self.update(now);
        let j = self.jobs.swap_remove(i);
        if timeout {
            self.stats.keep_alive_timeouts += 1;
        }
        self.schedule(now);
        self.report_load(ctx);
        Some(j)
    }

    fn find(&self, session: SessionId, job_id: u32) -> Option<usize> {
        self.jobs
            .iter()
            .position(|j| j.session == session && j.job_id == job_id)
    }

    fn message(&mut self, ctx: &mut ServiceCtx<'_>, session: SessionId, bytes: &[u8]) {
        let m = match CalcAppMessage::decode(bytes) {
            Ok(m) => m,
            Err(error) => {
                self.stats.errors += 1;
                self.notify(ServiceJobEvent::Malformed { session, error });
                return;
            }
        };
        match m.kind {
            CalcAppType::Request => self.add(ctx, session, m.job_id, m.job_size, 0, false),
            CalcAppType::KeepAlive => {
                // A keep-alive for a job that just ended is not answered.
                if self.find(session, m.job_id).is_some() {
                    self.send(
                        ctx,
                        session,
                        &CalcAppMessage::new(CalcAppType::KeepAliveAck, m.job_id),
                    );
                }
            }
            CalcAppType::KeepAliveAck => {
                let now = ctx.now();
                let interval = self.config.keep_alive_interval;
                if let Some(i) = self.find(session, m.job_id) {
                    let j = &mut self.jobs[i];
                    j.keep_alive_timeout_at = None;
                    j.keep_alive_at = Some(now + interval);
                }
            }
            _ => {
                // Nothing a pool user sends to a PE.
                self.stats.errors += 1;
                self.notify(ServiceJobEvent::Malformed {
                    session,
                    error: CalcAppError::UnknownType(m.kind.code()),
                });
            }
        }
    }

    fn cookie_echo(&mut self, ctx: &mut ServiceCtx<'_>, session: SessionId) {
        let cookie = ctx.cookie_echo(session).map(CalcAppCookie::decode);
        match cookie {
            Some(Ok(c)) => self.add(ctx, session, c.job_id, c.job_size, c.completed, true),
            Some(Err(error)) => {
                // rsplib aborts the session on a malformed cookie.
                self.stats.errors += 1;
                self.notify(ServiceJobEvent::Malformed { session, error });
                let _ = ctx.close(session);
            }
            None => {}
        }
    }

    fn send_cookie(&mut self, ctx: &mut ServiceCtx<'_>, i: usize) -> bool {
        let now = ctx.now();
        let j = &mut self.jobs[i];
        let cookie = CalcAppCookie {
            job_id: j.job_id,
            job_size: round_u64(j.size),
            completed: round_u64(j.completed).min(round_u64(j.size)),
        };
        j.last_cookie_at = now;
        j.last_cookie_completed = j.completed;
        let session = j.session;
        if ctx.send_cookie(session, &cookie.to_bytes()).is_err() {
            self.stats.errors += 1;
            return false;
        }
        self.stats.cookies_sent += 1;
        true
    }

    /// One due timer of one job (rsplib handles one per timer event, then
    /// looks again).
    fn fire(&mut self, ctx: &mut ServiceCtx<'_>, i: usize) {
        let now = ctx.now();
        let j = self.jobs[i];
        if j.complete_at.is_some_and(|t| t <= now) {
            self.update(now);
            let done = self.jobs[i];
            let size = round_u64(done.size);
            let message = CalcAppMessage::complete(done.job_id, size, round_u64(done.completed));
            self.send(ctx, done.session, &message);
            self.stats.completed += 1;
            self.remove_at(ctx, i, false);
            self.notify(ServiceJobEvent::Completed {
                session: done.session,
                job_id: done.job_id,
                size,
                took: now.saturating_duration_since(done.accepted_at),
            });
        } else if j.cookie_at.is_some_and(|t| t <= now) {
            self.update(now);
            if self.send_cookie(ctx, i) {
                self.schedule(now);
            } else {
                self.jobs[i].cookie_at = None;
                self.remove_at(ctx, i, false);
            }
        } else if j.keep_alive_at.is_some_and(|t| t <= now) {
            let timeout = self.config.keep_alive_timeout;
            let jm = &mut self.jobs[i];
            jm.keep_alive_at = None;
            jm.keep_alive_timeout_at = Some(now + timeout);
            let m = CalcAppMessage::new(CalcAppType::KeepAlive, j.job_id);
            if !self.send(ctx, j.session, &m) {
                self.remove_at(ctx, i, false);
            }
        } else if j.keep_alive_timeout_at.is_some_and(|t| t <= now) {
            if let Some(gone) = self.remove_at(ctx, i, true) {
                self.notify(ServiceJobEvent::Removed {
                    session: gone.session,
                    job_id: gone.job_id,
                    completed: round_u64(gone.completed),
                    timeout: true,
                });
            }
        }
    }
}

impl Service for CalcAppService {
    fn start(&mut self, ctx: &mut ServiceCtx<'_>) {
        if !self.started {
            self.started = true;
            self.stats.started = ctx.now();
        }
        self.report_load(ctx);
    }

    fn on_event(&mut self, ctx: &mut ServiceCtx<'_>, event: &Event, bytes: &[u8]) {
        if !self.started {
            self.start(ctx);
        }
        match *event {
            Event::Message { session, .. } => self.message(ctx, session, bytes),
            Event::CookieEcho { session } => self.cookie_echo(ctx, session),
            Event::Closed { session, .. } => {
                while let Some(i) = self.jobs.iter().position(|j| j.session == session) {
                    if let Some(gone) = self.remove_at(ctx, i, false) {
                        self.stats.abandoned += 1;
                        self.notify(ServiceJobEvent::Removed {
                            session,
                            job_id: gone.job_id,
                            completed: round_u64(gone.completed),
                            timeout: false,
                        });
                    }
                }
            }
            Event::Element(crate::pool_element::Event::Registered { .. }) => {
                // A new registration carries the configured policy's load.
                self.reported_load = None;
                self.report_load(ctx);
            }
            _ => {}
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.jobs.iter().filter_map(Job::next_timer).min()
    }

    fn handle_timeout(&mut self, ctx: &mut ServiceCtx<'_>) {
        let now = ctx.now();
        // Every due timer, one at a time; each firing moves or clears the
        // timer it handled, so this ends.
        let mut rounds = 0;
        while let Some(i) = self
            .jobs
            .iter()
            .position(|j| j.next_timer().is_some_and(|t| t <= now))
        {
            self.fire(ctx, i);
            rounds += 1;
            if rounds > 4 * MAX_JOBS_LIMIT {
                break;
            }
        }
    }
}

/// The load a load policy carries (`None` for the others).
pub fn policy_load(policy: &Policy) -> Option<u32> {
    match *policy {
        Policy::LeastUsed { load }
        | Policy::RandomizedLeastUsed { load }
        | Policy::LeastUsedDegradation { load, .. }
        | Policy::PriorityLeastUsed { load, .. }
        | Policy::RandomizedPriorityLeastUsed { load, .. }
        | Policy::RandomizedLeastUsedDegradation { load, .. }
        | Policy::PriorityLeastUsedDegradation { load, .. }
        | Policy::RandomizedPriorityLeastUsedDegradation { load, .. }
        | Policy::LeastUsedDpf { load, .. }
        | Policy::LeastUsedDegradationDpf { load, .. }
        | Policy::PriorityLeastUsedDpf { load, .. }
        | Policy::PriorityLeastUsedDegradationDpf { load, .. } => Some(load),
        _ => None,
    }
}

/// A load policy with another load (`None` for the other policies).
pub fn with_load(policy: Policy, load: u32) -> Option<Policy> {
    policy_load(&policy)?;
    let (mut params, n) = policy.parameters();
    params[0] = load;
    Policy::from_parameters(policy.policy_type(), &params[..n]).ok()
}
