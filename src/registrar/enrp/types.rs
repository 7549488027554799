//! The ENRP side's records: peers, sessions, takeovers, events, counters.

use core::net::SocketAddr;

use heapless::Vec;

use super::super::config::MAX_PEERS;
use crate::handlespace::OwnershipCursor;
use crate::id::{AssocId, PeId, PoolHandle, ServerId};
use crate::time::Instant;

/// The most takeovers one registrar runs at once.
pub const MAX_TAKEOVERS: usize = 4;

/// What this registrar thinks of a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PeerState {
    /// Known by address (or by id from a peer list) and not heard yet. A
    /// peer known by id that stays so for MAX-TIME-LAST-HEARD is declared
    /// dead (and its PEs taken over).
    Connecting,
    /// Heard within MAX-TIME-LAST-HEARD.
    Alive,
    /// Silent too long: a reply-required PRESENCE went out at `since`.
    Probing {
        /// When the probe was sent.
        since: Instant,
    },
    /// Dead (no answer, association down, or another registrar's
    /// INIT_TAKEOVER); this registrar starts its own takeover at
    /// `takeover_at` unless one runs or completes first.
    Dead {
        /// When this registrar takes over itself.
        takeover_at: Instant,
    },
}

/// One entry of the peer table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its server id, once learnt.
    pub server_id: Option<ServerId>,
    /// Its ENRP transport address, if known.
    pub address: Option<SocketAddr>,
    /// The ENRP association to it.
    pub assoc: Option<AssocId>,
    /// When a message from it last arrived.
    pub last_heard: Instant,
    /// The own-PE checksum its last PRESENCE announced.
    pub announced_checksum: Option<u16>,
    /// Liveness.
    pub state: PeerState,
    /// A statically configured peer (kept by address when dropped).
    pub configured: bool,
    pub(crate) wants_connect: bool,
    pub(crate) connecting: bool,
    /// Not asked for a LIST_REQUEST again before this (it rejected one).
    pub(crate) list_retry_at: Instant,
}

impl Peer {
    pub(super) fn configured(address: SocketAddr) -> Self {
        Peer {
            server_id: None,
            address: Some(address),
            assoc: None,
            last_heard: Instant::ZERO,
            announced_checksum: None,
            state: PeerState::Connecting,
            configured: true,
            wants_connect: true,
            connecting: false,
            list_retry_at: Instant::ZERO,
        }
    }
    pub(super) fn learnt(id: ServerId, address: Option<SocketAddr>, now: Instant) -> Self {
        Peer {
            server_id: Some(id),
            address,
            assoc: None,
            last_heard: now,
            announced_checksum: None,
            state: PeerState::Alive,
            configured: false,
            wants_connect: false,
            connecting: false,
            list_retry_at: Instant::ZERO,
        }
    }
}

/// Initialisation (RFC 5353 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Init {
    /// Before the first input.
    NotStarted,
    /// Looking for a mentor among the configured peers.
    Discovery {
        /// Initialisation ends alone at this time.
        until: Instant,
        /// When to look again.
        retry_at: Instant,
        /// The mentor that failed last.
        skip: Option<AssocId>,
    },
    /// LIST_REQUEST sent.
    Listing {
        mentor: AssocId,
        deadline: Instant,
        until: Instant,
    },
    /// HANDLE_TABLE_REQUEST (W=0) sent.
    Downloading {
        mentor: AssocId,
        mentor_id: Option<ServerId>,
        deadline: Instant,
        applied: usize,
    },
    /// Initialised.
    Done,
}

/// Where a handle table page walk stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PageCursor {
    pub(super) own_only: bool,
    pub(super) cur: OwnershipCursor,
    pub(super) done: bool,
}

impl PageCursor {
    pub(super) fn single(owner: ServerId) -> Self {
        PageCursor {
            own_only: true,
            cur: OwnershipCursor::new(owner),
            done: false,
        }
    }
    pub(super) fn all(first_owner: ServerId) -> Self {
        PageCursor {
            own_only: false,
            cur: OwnershipCursor::new(first_owner),
            done: false,
        }
    }
    pub(super) fn finished(owner: ServerId) -> Self {
        PageCursor {
            own_only: false,
            cur: OwnershipCursor::new(owner),
            done: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SessionKind {
    /// Answering a peer's HANDLE_TABLE_REQUESTs (one session per peer).
    Serve {
        peer: ServerId,
        own_only: bool,
        cursor: PageCursor,
    },
    /// Resynchronising a peer's PEs (W=1 request sent): the last PE received
    /// and how many were swept so far.
    Resync {
        peer: ServerId,
        last: Option<(PoolHandle, PeId)>,
        swept: usize,
    },
}

/// A handle table session (either role).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Session {
    pub(super) assoc: AssocId,
    pub(super) deadline: Instant,
    pub(super) kind: SessionKind,
}

/// A takeover this registrar runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Takeover {
    pub(super) target: ServerId,
    pub(super) deadline: Instant,
    pub(super) pending: Vec<ServerId, MAX_PEERS>,
}

/// What the ENRP side tells the application
/// ([`Event::Enrp`](crate::registrar::Event::Enrp)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrpEvent {
    /// A peer was learnt or heard again after being dead or unknown.
    PeerUp {
        /// The peer.
        server_id: ServerId,
    },
    /// A peer was declared dead (no answer, or its association went down).
    PeerDown {
        /// The peer.
        server_id: ServerId,
    },
    /// Initialisation ended.
    InitialisationDone {
        /// The mentor the handlespace came from (`None`: alone).
        mentor: Option<ServerId>,
        /// PEs in the handlespace then.
        pes: usize,
    },
    /// A peer's PRESENCE announced another checksum than computed here; a
    /// resynchronisation follows.
    AuditMismatch {
        /// The peer.
        peer: ServerId,
        /// What it announced.
        announced: u16,
        /// What this registrar computed for its PEs.
        local: u16,
    },
    /// A resynchronisation (W=1 download) ended.
    ResyncDone {
        /// The peer.
        peer: ServerId,
        /// PEs removed because the peer no longer has them.
        swept: usize,
        /// The local checksum of the peer's PEs afterwards.
        checksum: u16,
    },
    /// This registrar started taking over a dead peer.
    TakeoverStarted {
        /// The peer.
        target: ServerId,
    },
    /// This registrar took over `target` and now owns its `pes` PEs.
    TakeoverWon {
        /// The peer taken over.
        target: ServerId,
        /// PEs that moved.
        pes: usize,
    },
    /// Another registrar with a higher id (or one that completed first)
    /// takes over `target`.
    TakeoverLost {
        /// The peer.
        target: ServerId,
        /// The registrar that wins.
        winner: ServerId,
    },
    /// The target showed up (PRESENCE): the takeover stopped.
    TakeoverAborted {
        /// The peer.
        target: ServerId,
    },
    /// A peer (TAKEOVER_SERVER) took over `target`: its PEs now belong to `by`.
    PeerTakenOver {
        /// The registrar taken over.
        target: ServerId,
        /// The new owner.
        by: ServerId,
        /// PEs re-homed here.
        pes: usize,
    },
}

/// Counters of the ENRP side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EnrpStats {
    /// Messages received, by ENRP message type (index = type, 1-10).
    pub received: [u64; 11],
    /// Messages queued, by ENRP message type.
    pub sent: [u64; 11],
    /// ENRP_ERRORs sent.
    pub errors_sent: u64,
    /// ENRP_ERRORs received.
    pub errors_received: u64,
    /// Malformed input dropped.
    pub malformed: u64,
    /// Well-formed messages not expected now (own messages looped back,
    /// wrong receiver, responses without a session, datagrams other than
    /// PRESENCE).
    pub unexpected: u64,
    /// HANDLE_UPDATE ADD_PE applied.
    pub updates_applied: u64,
    /// HANDLE_UPDATE ADD_PE refused by the handlespace checks.
    pub updates_rejected: u64,
    /// PEs kept and re-asserted because a peer with a lower server id
    /// announced one owned here over a live association, by HANDLE_UPDATE
    /// ADD_PE (crossing registrations) or in its W=1 handle table (both
    /// took it while apart).
    pub ownership_kept: u64,
    /// HANDLE_UPDATE DEL_PE applied.
    pub deletes_applied: u64,
    /// HANDLE_UPDATE DEL_PE about unknown PEs (or PEs of another owner).
    pub deletes_ignored: u64,
    /// PEs from HANDLE_TABLE_RESPONSEs applied.
    pub table_entries_applied: u64,
    /// PEs from HANDLE_TABLE_RESPONSEs refused.
    pub table_entries_rejected: u64,
    /// PEs from HANDLE_TABLE_RESPONSEs not applied because this registrar
    /// owns them (over a live association, or names itself as home); in a
    /// W=1 response such a PE is owned by both, and decided by server id
    /// (see [`ownership_kept`](Self::ownership_kept)).
    pub table_entries_kept: u64,
    /// HANDLE_TABLE_RESPONSE pages sent.
    pub pages_sent: u64,
    /// HANDLE_TABLE requests answered with R=1 (too many sessions).
    pub requests_rejected: u64,
    /// LIST_RESPONSEs with R=1 received (a mentor that rejects while it
    /// initialises).
    pub list_rejections: u64,
    /// Checksum mismatches found by audits.
    pub audit_mismatches: u64,
    /// Resynchronisations started.
    pub resyncs: u64,
    /// PEs removed by resynchronisation sweeps.
    pub swept: u64,
    /// Takeovers started (again after expiry included).
    pub takeovers_started: u64,
    /// Takeovers won.
    pub takeovers_won: u64,
    /// Takeovers given up to another registrar.
    pub takeovers_lost: u64,
    /// Takeovers stopped because the target showed up.
    pub takeovers_aborted: u64,
    /// Takeovers that expired before all acknowledgements.
    pub takeovers_expired: u64,
    /// Takeovers that could not take the PEs (owned-PE table full).
    pub takeovers_failed: u64,
    /// PEs re-homed to another registrar on TAKEOVER_SERVER.
    pub rehomed: u64,
    /// Peers not added (peer table full).
    pub peers_refused: u64,
    /// Sessions refused (too many in flight).
    pub sessions_refused: u64,
    /// Sessions dropped after the session timeout.
    pub sessions_timed_out: u64,
    /// ENRP messages not queued (transmit queue full).
    pub queue_full: u64,
    /// Messages dropped because they came from a host that is not a
    /// trusted peer (nothing answered, nothing changed).
    pub untrusted: u64,
    /// Messages dropped because their sender id is not the one bound to
    /// the association (or host) they came over.
    pub impostors: u64,
    /// HANDLE_UPDATEs refused because they name another owner than their
    /// sender outside an acknowledged takeover.
    pub foreign_updates: u64,
    /// TAKEOVER_SERVERs refused: the sender did not run an INIT_TAKEOVER
    /// for that target that this registrar acknowledged.
    pub takeovers_refused: u64,
}

impl EnrpStats {
    /// Every counter at zero (what `default()` gives), as a constant.
    pub(crate) const ZERO: EnrpStats = EnrpStats {
        received: [0; 11],
        sent: [0; 11],
        errors_sent: 0,
        errors_received: 0,
        malformed: 0,
        unexpected: 0,
        updates_applied: 0,
        updates_rejected: 0,
        ownership_kept: 0,
        deletes_applied: 0,
        deletes_ignored: 0,
        table_entries_applied: 0,
        table_entries_rejected: 0,
        table_entries_kept: 0,
        pages_sent: 0,
        requests_rejected: 0,
        list_rejections: 0,
        audit_mismatches: 0,
        resyncs: 0,
        swept: 0,
        takeovers_started: 0,
        takeovers_won: 0,
        takeovers_lost: 0,
        takeovers_aborted: 0,
        takeovers_expired: 0,
        takeovers_failed: 0,
        rehomed: 0,
        peers_refused: 0,
        sessions_refused: 0,
        sessions_timed_out: 0,
        queue_full: 0,
        untrusted: 0,
        impostors: 0,
        foreign_updates: 0,
        takeovers_refused: 0,
    };
}
