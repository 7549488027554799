//! A session user's configuration and what it tells its application.

use crate::id::{AssocId, PeId};
use crate::pool_user::{self, PoolUserConfig};
use crate::time::Duration;

use super::super::{CloseReason, FailoverReason, ResendPolicy, SessionId};
#[cfg(doc)]
use super::SessionUser;

/// A session user's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionUserConfig {
    /// The inner pool user's.
    pub pool_user: PoolUserConfig,
    /// Failovers (and failed resolutions) in a row a session may go
    /// through without a message from a PE in between; one more closes it
    /// ([`CloseReason::FailoverLimit`]).
    pub max_failovers: u32,
    /// What happens to messages already handed to the driver at a failover.
    pub resend: ResendPolicy,
    /// How long a session waits before it resolves again after a failed
    /// attempt.
    pub retry_interval: Duration,
}

impl SessionUserConfig {
    /// At most 8 failovers in a row, no resend (rsplib), 1 s between
    /// resolution attempts.
    pub fn new(pool_user: PoolUserConfig) -> Self {
        SessionUserConfig {
            pool_user,
            max_failovers: 8,
            resend: ResendPolicy::None,
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// What a session user tells its application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The session's association to a PE is up.
    Connected {
        /// The session.
        session: SessionId,
        /// The PE.
        pe: PeId,
        /// Whether this ends a failover (a COOKIE_ECHO goes first when the
        /// session has a cookie).
        failover: bool,
    },
    /// The session leaves its PE (then [`Event::Connected`] with the next
    /// one, or [`Event::Closed`]).
    Failover {
        /// The session.
        session: SessionId,
        /// The PE left.
        from: PeId,
        /// Why.
        reason: FailoverReason,
    },
    /// A user message: its bytes are `buf[..len]` of the buffer given to
    /// [`SessionUser::poll_event`].
    Message {
        /// The session.
        session: SessionId,
        /// Its PPID.
        ppid: u32,
        /// Its length.
        len: usize,
    },
    /// The PE sent a cookie ([`SessionUser::cookie`]); it replaces the
    /// previous one and is echoed after the next failover.
    CookieReceived {
        /// The session.
        session: SessionId,
    },
    /// A COOKIE longer than [`MAX_COOKIE_SIZE`](crate::pool_element::MAX_COOKIE_SIZE)
    /// was dropped; the previous cookie stays.
    CookieTooLong {
        /// The session.
        session: SessionId,
        /// Its length.
        len: usize,
    },
    /// The PE sent a business card (its failover order is used from now
    /// on).
    BusinessCard {
        /// The session.
        session: SessionId,
    },
    /// The session's resolution failed and the session tries again after
    /// [`retry_interval`](SessionUserConfig::retry_interval) (or, after
    /// too many failures in a row, ends with [`Event::Closed`]). A session
    /// that never had a PE and gets an answer with a cause is closed at
    /// once instead ([`CloseReason::NoPoolElement`]).
    ResolutionFailed {
        /// The session.
        session: SessionId,
        /// The registrar's cause; `None` when no registrar answered (the
        /// resolution went unanswered, or no registrar could be reached).
        cause: Option<crate::cause::CauseCode>,
    },
    /// The session ended; its id is unknown from now on.
    Closed {
        /// The session.
        session: SessionId,
        /// Why.
        reason: CloseReason,
    },
    /// Something the inner pool user reported: a resolution's end
    /// (resolved or failed: before the events of the sessions it concerns),
    /// home registrar changed or lost, an ASAP_ERROR received.
    PoolUser(pool_user::Event),
}

/// Where a session is (see the [module documentation](super)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Waiting for a resolution (or for the next attempt).
    Resolving,
    /// A PE is chosen; its association is being opened.
    Connecting {
        /// The PE.
        pe: PeId,
    },
    /// Connected to the PE.
    Connected {
        /// The PE.
        pe: PeId,
        /// The association.
        assoc: AssocId,
    },
}
