//! A request/response helper for simple clients, on top of a
//! [`SessionUser`] session: one request at a time, an answer expected
//! within a timeout, else the PE is reported unreachable, the session fails
//! over and the request goes to the next PE; after `max_attempts` the
//! request fails.
//!
//! It is an application of the session layer, not a wire format: the
//! request and the answer are plain user messages. It relies on the
//! session's [`ResendPolicy::LastUnacknowledged`] (at least 1) to send the
//! request again after a failover, and acknowledges the request when the
//! answer (the first message on the session after the request) arrives.

use crate::time::{Duration, Instant};

use super::user::{Event, SessionUser};
use super::{CloseReason, ResendPolicy, SessionError, SessionId};

/// What became of the outstanding request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequesterEvent {
    /// The answer arrived (it is the [`Event::Message`] just handed to
    /// [`Requester::on_event`]).
    Answered {
        /// The request's sequence number in the session.
        seq: u64,
        /// How many times it timed out before.
        timeouts: u32,
    },
    /// No answer after `max_attempts` timeouts.
    TimedOut {
        /// The request's sequence number.
        seq: u64,
    },
    /// The session ended.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    seq: u64,
    deadline: Instant,
    timeouts: u32,
}

/// See the [module documentation](self).
#[derive(Clone, Copy, Debug)]
pub struct Requester {
    session: SessionId,
    timeout: Duration,
    max_attempts: u32,
    pending: Option<Pending>,
}

impl Requester {
    /// A helper for `session`: `timeout` per attempt, at most
    /// `max_attempts` attempts (at least 1).
    pub const fn new(session: SessionId, timeout: Duration, max_attempts: u32) -> Self {
        Requester {
            session,
            timeout,
            max_attempts,
            pending: None,
        }
    }

    /// The session.
    pub const fn session(&self) -> SessionId {
        self.session
    }

    /// Whether a request waits for its answer.
    pub const fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Sends a request. [`SessionError::Busy`] while one is outstanding;
    /// [`SessionError::ResendNeeded`] when the session does not resend
    /// after a failover ([`ResendPolicy::None`]); else as
    /// [`SessionUser::send`].
    pub fn request<
        const S: usize,
        const B: usize,
        const M: usize,
        const P: usize,
        const E: usize,
    >(
        &mut self,
        su: &mut SessionUser<S, B, M, P, E>,
        now: Instant,
        ppid: u32,
        bytes: &[u8],
    ) -> Result<u64, SessionError> {
        if self.pending.is_some() {
            return Err(SessionError::Busy);
        }
        if matches!(
            su.config().resend,
            ResendPolicy::None | ResendPolicy::LastUnacknowledged(0)
        ) {
            return Err(SessionError::ResendNeeded);
        }
        let seq = su.send(now, self.session, ppid, bytes)?;
        self.pending = Some(Pending {
            seq,
            deadline: now + self.timeout,
            timeouts: 0,
        });
        Ok(seq)
    }

    /// Looks at an event of the session user (every event may be given;
    /// those of other sessions are ignored).
    pub fn on_event<
        const S: usize,
        const B: usize,
        const M: usize,
        const P: usize,
        const E: usize,
    >(
        &mut self,
        su: &mut SessionUser<S, B, M, P, E>,
        event: &Event,
    ) -> Option<RequesterEvent> {
        match *event {
            Event::Message { session, .. } if session == self.session => {
                let p = self.pending.take()?;
                let _ = su.acknowledge(self.session, p.seq);
                Some(RequesterEvent::Answered {
                    seq: p.seq,
                    timeouts: p.timeouts,
                })
            }
            Event::Closed { session, reason } if session == self.session => {
                self.pending = None;
                Some(RequesterEvent::Closed { reason })
            }
            _ => None,
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.map(|p| p.deadline)
    }

    /// The answer is late: fail over (the session sends the request again
    /// to the next PE), or give up after `max_attempts`.
    pub fn handle_timeout<
        const S: usize,
        const B: usize,
        const M: usize,
        const P: usize,
        const E: usize,
    >(
        &mut self,
        su: &mut SessionUser<S, B, M, P, E>,
        now: Instant,
    ) -> Option<RequesterEvent> {
        let mut p = self.pending?;
        if now < p.deadline {
            return None;
        }
        p.timeouts += 1;
        if p.timeouts >= self.max_attempts.max(1) {
            self.pending = None;
            let _ = su.acknowledge(self.session, p.seq);
            return Some(RequesterEvent::TimedOut { seq: p.seq });
        }
        // The PE does not answer: reported (rsplib's FFF_UNREACHABLE). Still
        // resolving: nothing to fail over from; wait another round.
        let _ = su.failover(now, self.session, true);
        p.deadline = now + self.timeout;
        self.pending = Some(p);
        None
    }
}
