//! The registrar's ENRP side (RFC 5353, SPEC §8-§11): peer table, PRESENCE
//! and failure detection, initialisation from a mentor, handle updates,
//! checksum audits with resynchronisation, and takeover.
//!
//! It runs inside the [`Registrar`] (one [`Machine`](crate::transmit::Machine)
//! speaks both protocols): messages with [`Protocol::Enrp`] come here, ENRP
//! associations are asked for with [`Connect`] and reported with
//! [`TransportEvent::Up`] carrying `Protocol::Enrp`; PRESENCE on the
//! multicast channel goes to [`Destination::Multicast`]. Everything is
//! bounded: [`MAX_PEERS`] peers, [`MAX_SESSIONS`] handle table sessions,
//! [`MAX_TAKEOVERS`] takeovers, and the registrar's transmit queue.
//!
//! # Behaviour
//!
//! * **Peers** ([`Peer`]): configured addresses (server id learnt), peers
//!   named in a LIST_RESPONSE, and any registrar a message comes from (an
//!   unknown sender is added and sent a reply-required PRESENCE). A peer
//!   known by address without an association is connected to (again at
//!   every heartbeat while it is not up).
//! * **PRESENCE** every PEER-HEARTBEAT-CYCLE to every peer association
//!   (receiver id 0) and, with [`EnrpConfig::multicast`], on the multicast
//!   channel; always with this registrar's own PE checksum and its Server
//!   Information. A peer silent for MAX-TIME-LAST-HEARD gets a
//!   reply-required PRESENCE; without an answer within
//!   MAX-TIME-NO-RESPONSE, or when its association goes down, it is dead and
//!   a takeover starts.
//! * **Initialisation**: without configured peers it ends at once. Else the
//!   first configured peer whose association is up is the mentor: LIST_REQUEST,
//!   then HANDLE_TABLE_REQUEST (W=0) until a response with M=0. A rejection
//!   (R=1) or no answer within MAX-TIME-NO-RESPONSE tries the next
//!   configured peer that is up at once, but asks the same peer again no
//!   sooner than [`EnrpConfig::mentor_retry_interval`] later (RFC 5353 §3.2),
//!   so that peers rejecting requests while they initialise (as RFC 5353
//!   §3.2 describes) get at most one LIST_REQUEST per interval instead of
//!   requests bouncing at network speed; when no mentor
//!   answered within the mentor discovery timeout, initialisation ends alone.
//!   A download that stalls for the session timeout ends initialisation with
//!   what was received (audits repair the rest). While initialising, this
//!   registrar answers a LIST_REQUEST with the peers it knows so far and a
//!   HANDLE_TABLE_REQUEST (W=0 or W=1) with the PEs it owns, never with
//!   R=1: rsplib takes a rejection as final and would never learn those
//!   PEs (it answers such requests itself at any time). A peer's R=1 is
//!   still honoured as above.
//! * **Handle table responses** are paged: at most
//!   [`EnrpConfig::max_handle_table_elements`] PEs and 65,535 bytes per
//!   message, fewer when the transmit queue has less room, M=1 while more
//!   follow. The responder keeps a session per requesting association
//!   holding a cursor: W=1 walks its own PEs in ownership order, W=0 walks
//!   every owner's PEs, owner by owner in ascending server id; both resume
//!   after the last PE sent, so the handlespace may change between pages.
//! * **Merge rules** (SPEC §9): a received PE is applied with
//!   [`Registrar::apply_peer_update`] (the same checks as a registration);
//!   its owner is the PE's home registrar id (the sender when absent; for
//!   W=1 responses always the sender). PEs naming this registrar as home are
//!   not taken from peers, and a handle table (a snapshot of the peer's
//!   view) never takes away a PE this registrar owns over a live
//!   association by itself: in a W=1 response such a PE is owned by both,
//!   and the same rule as for crossing registrations (below) decides it,
//!   by fresh messages rather than the snapshot (`contested`
//!   in `table.rs`): with the higher server id, this registrar keeps it,
//!   sends the PE an ENDPOINT_KEEP_ALIVE with H=1 and re-asserts it by
//!   HANDLE_UPDATE ADD_PE to every peer (to the sender alone when the
//!   transmit queue is short of room); with the lower, it sends the sender
//!   its own ADD_PE, which the sender answers by re-asserting (or, not
//!   holding the PE over an association, applies), and this registrar
//!   yields when the sender's ADD_PE arrives. A HANDLE_UPDATE does move
//!   such a PE (it registered at the peer since), unless the update's
//!   owner has a lower server id than this registrar (below).
//! * **Crossing registrations**: a PE whose registration reached two
//!   registrars (a retransmission arriving at one just as the PE, its
//!   request timed out, registered at the other) is owned by both over live
//!   associations, and their HANDLE_UPDATE ADD_PEs cross. Applying both
//!   would hand the PE to each other, and each audit would then sweep it
//!   (neither's own list holds it). The tie-break is deterministic: a
//!   HANDLE_UPDATE ADD_PE whose owner has a lower server id than this
//!   registrar, for a PE this registrar owns over a live association, is
//!   not applied; this registrar keeps the PE, group-casts its own ADD_PE
//!   again and sends the PE an ENDPOINT_KEEP_ALIVE with H=1 on that
//!   association, so that the PE takes it as home (RFC 5352 §3.4). An
//!   owner with a higher id is yielded to as before (the PE is applied as
//!   the peer's, this registrar stops keeping it alive and sends nothing),
//!   so both end with the higher id as owner and the re-assertion is
//!   applied by the lower one without an answer (no ping-pong). A PE whose
//!   association here is down is gone already, and a PE owned here without
//!   an association (taken over, or claimed from a peer) is not "live":
//!   updates for either are applied as before, whatever the ids.
//!   [`EnrpStats::ownership_kept`] counts the kept PEs.
//! * **Updates**: every [`Event::PoolElementRegistered`] and
//!   [`Event::PoolElementRemoved`] is group-cast as HANDLE_UPDATE
//!   ADD_PE / DEL_PE; received updates are applied as above.
//! * **Audit**: a PRESENCE checksum that differs from the local checksum of
//!   the sender's PEs (once initialised) starts a resynchronisation: a
//!   HANDLE_TABLE_REQUEST W=1. Mark-and-sweep without marks: the responder
//!   sends its PEs in ownership order, so the requester deletes every PE it
//!   holds for that peer that sorts between the previous received PE and
//!   the current one, and at the end (M=0) every one after the last. Out of
//!   order input only costs work: a PE deleted too early is added again when
//!   it arrives. O(log n) per PE, no per-PE state.
//! * **Takeover** of a dead peer: INIT_TAKEOVER to every peer association
//!   (the target's too), INIT_TAKEOVER_ACK awaited from every live peer
//!   other than the target. A peer dying meanwhile is no longer awaited.
//!   Receiving INIT_TAKEOVER for a target this registrar is taking over
//!   itself: it aborts (and acknowledges) if its id is smaller than the
//!   sender's, else ignores it. The target answers with a PRESENCE, which
//!   aborts every takeover of it. All acknowledgements in: TAKEOVER_SERVER
//!   group-cast, [`Registrar::take_over`] (ENDPOINT_KEEP_ALIVE H=1 to each
//!   PE), the target leaves the peer table (a configured one is kept by
//!   address). No completion within the takeover expiry starts it again.
//!   TAKEOVER_SERVER from a peer moves the target's PEs to that peer and
//!   drops the target. A peer marked dead by another's INIT_TAKEOVER is
//!   taken over by this registrar only if nobody completed within twice the
//!   takeover expiry. An INIT_TAKEOVER for a registrar this one took over
//!   lately (the last 8, until it shows up again) is answered with
//!   TAKEOVER_SERVER instead of an acknowledgement, so that a late
//!   initiator that missed the first one re-homes instead of taking over
//!   a second time.
//! * **After a partition**: while registrars cannot hear each other, each
//!   side takes over the other side's registrars (their PEs become its
//!   own, reached over new associations), and the PEs, which reach both
//!   sides, stay registered with their old home too. When the partition
//!   heals, a PE is thus owned over live associations by two registrars,
//!   each listing it in its own W=1 table; each audit finds the other's
//!   checksum different, and, were the PE merely kept on both sides, would
//!   find the same difference at every heartbeat, for ever. The rule above
//!   decides every such PE for one owner in the first audit round.
//!
//!   Invariant, once a partition has healed and no registrar, PE or
//!   association fails meanwhile: every live PE is owned by exactly one
//!   live registrar, the PE's own home; every live registrar's view
//!   records that same owner for it; and for every owner, the PE checksums
//!   of all live registrars' views are equal (and equal to the owner's
//!   announced own checksum).
//!
//!   Bound: within 3 PEER-HEARTBEAT-CYCLEs after the heal, plus the
//!   transport's delivery delay under loss: at most one cycle until the
//!   broken ENRP associations are opened again (every heartbeat retries);
//!   on association up, the reply-required PRESENCEs start the audits of
//!   the first round, which decide the doubly owned PEs and repair what
//!   differs; a view that a stale snapshot overwrote during that round
//!   differs in the checksums of the next heartbeat and is repaired by
//!   that round. The simulator measures (`tests/sim_enrp_heal.rs`,
//!   `examples/enrp_heal.rs`, BENCHMARKS.md): with the RFC timers (30 s
//!   cycle) and a heal at a heartbeat, consistent 1 s after the heal
//!   (median) and at most 32 s under 0-8 % loss; a heal between heartbeats
//!   adds the wait for the next one.
//! * **Errors**: an unknown message type or parameter whose upper bits ask
//!   for a report is answered with ENRP_ERROR (Unrecognized Message /
//!   Unrecognized Parameter) to the source, and a HANDLE_UPDATE whose PE
//!   the codec refuses for a value (more than 64 addresses, say) with
//!   ENRP_ERROR (Invalid Values, counted in
//!   [`EnrpStats::updates_rejected`]); other malformed input is dropped and
//!   counted ([`EnrpStats::malformed`]). Received ENRP_ERRORs
//!   are counted only.

mod table;
mod takeover;
mod types;

use core::net::SocketAddr;

use heapless::Vec;

pub use types::{EnrpEvent, EnrpStats, Peer, PeerState, MAX_TAKEOVERS};
use types::{Init, PageCursor, Session, SessionKind, Takeover};

use super::config::{EnrpConfig, MAX_HANDLE_TABLE_ELEMENTS, MAX_PEERS, MAX_SESSIONS};
use super::{reply_to, with_pe_param, Event, Registrar};
use crate::addr::{TransportProtocol, TransportUse};
use crate::cause::CauseCode;
use crate::handlespace::{OwnershipCursor, Storage};
use crate::id::{AssocId, PeId, PoolHandle, ServerId};
use crate::storage::Backend;
use crate::time::Instant;
use crate::transmit::{Connect, Destination, Source, TransportEvent};
use crate::wire::{
    self, enrp_type, padded, param_type, EnrpBody, EnrpMessage, ErrorCause, List, OperationError,
    PoolEntry, Protocol, ServerInfoParam, TransportParam, UpdateAction, TLV_HEADER_LEN,
};

/// The longest ENRP message (its length field is 16 bits).
const MAX_ENRP_LEN: usize = 65_535;

/// The most Unrecognized Parameter causes one ENRP_ERROR carries.
const MAX_REPORTED_PARAMETERS: usize = 8;

/// How many completed takeovers are remembered.
const RECENT_TAKEOVERS: usize = 8;

/// The ENRP state of a registrar.
#[derive(Debug)]
pub(super) struct EnrpState {
    peers: Vec<Peer, MAX_PEERS>,
    sessions: Vec<Session, MAX_SESSIONS>,
    takeovers: Vec<Takeover, MAX_TAKEOVERS>,
    /// Registrars this one took over lately (answered with TAKEOVER_SERVER
    /// when a late initiator asks for them).
    won: heapless::Deque<ServerId, RECENT_TAKEOVERS>,
    init: Init,
    next_heartbeat: Instant,
    stats: EnrpStats,
}

impl EnrpState {
    pub(super) fn new(config: &EnrpConfig) -> Self {
        let mut peers = Vec::new();
        if config.enabled {
            for a in config
                .static_peers
                .iter()
                .take(config.max_peers.min(MAX_PEERS))
            {
                let _ = peers.push(Peer::configured(*a));
            }
        }
        EnrpState {
            peers,
            sessions: Vec::new(),
            takeovers: Vec::new(),
            won: heapless::Deque::new(),
            init: Init::NotStarted,
            next_heartbeat: Instant::ZERO,
            stats: EnrpStats::default(),
        }
    }
}

impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    // ----- public view ----------------------------------------------------

    /// The ENRP peer table.
    pub fn peers(&self) -> &[Peer] {
        &self.enrp.peers
    }
    /// The ENRP counters.
    pub fn enrp_stats(&self) -> &EnrpStats {
        &self.enrp.stats
    }
    /// Whether ENRP initialisation is over (always true with ENRP disabled).
    pub fn is_initialised(&self) -> bool {
        !self.config.enrp.enabled || matches!(self.enrp.init, Init::Done)
    }
    /// The peers this registrar is taking over right now.
    pub fn takeovers_in_progress(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.enrp.takeovers.iter().map(|t| t.target)
    }
    /// The number of handle table sessions in flight (both roles).
    pub fn enrp_sessions(&self) -> usize {
        self.enrp.sessions.len()
    }

    // ----- plumbing -------------------------------------------------------

    fn me(&self) -> ServerId {
        self.config.server_id
    }

    fn enrp_event(&mut self, e: EnrpEvent) {
        if self.events.push_back(Event::Enrp(e)).is_err() {
            self.stats.events_lost += 1;
        }
    }

    fn enrp_push(&mut self, dest: Destination, msg: &EnrpMessage<'_>) -> bool {
        match self.queue.push_enrp(dest, msg) {
            Ok(()) => {
                if let Some(c) = self
                    .enrp
                    .stats
                    .sent
                    .get_mut(usize::from(msg.message_type()))
                {
                    *c += 1;
                }
                true
            }
            Err(_) => {
                self.enrp.stats.queue_full += 1;
                false
            }
        }
    }

    /// One copy to every peer association.
    fn enrp_groupcast(&mut self, msg: &EnrpMessage<'_>) {
        for i in 0..self.enrp.peers.len() {
            if let Some(a) = self.enrp.peers[i].assoc {
                self.enrp_push(Destination::Association(a), msg);
            }
        }
    }

    fn presence_to(&mut self, dest: Destination, receiver: Option<ServerId>, reply: bool) {
        let ip = [self.config.enrp.local_address.ip()];
        let info = ServerInfoParam {
            server_id: self.me(),
            transport: TransportParam::new(
                TransportProtocol::Sctp,
                self.config.enrp.local_address.port(),
                TransportUse::DataOnly,
                &ip,
            ),
        };
        let msg = EnrpMessage {
            sender: self.me(),
            receiver,
            body: EnrpBody::Presence {
                reply_required: reply,
                checksum: Some(self.own_checksum()),
                server_info: Some(info),
            },
        };
        if dest != Destination::Association(AssocId::NONE) {
            self.enrp_push(dest, &msg);
        }
    }

    fn presence_groupcast(&mut self) {
        for i in 0..self.enrp.peers.len() {
            if let Some(a) = self.enrp.peers[i].assoc {
                self.presence_to(Destination::Association(a), None, false);
            }
        }
        if self.config.enrp.multicast {
            self.presence_to(Destination::Multicast, None, false);
        }
    }

    fn simple(&mut self, dest: Destination, receiver: Option<ServerId>, body: EnrpBody<'_>) {
        let msg = EnrpMessage {
            sender: self.me(),
            receiver,
            body,
        };
        self.enrp_push(dest, &msg);
    }

    fn peer_by_id(&self, id: ServerId) -> Option<usize> {
        self.enrp.peers.iter().position(|p| p.server_id == Some(id))
    }

    fn peer_assoc(&self, id: ServerId) -> Option<AssocId> {
        self.peer_by_id(id).and_then(|i| self.enrp.peers[i].assoc)
    }

    fn max_peers(&self) -> usize {
        self.config.enrp.max_peers.min(MAX_PEERS)
    }

    /// Starts ENRP at the first input.
    fn enrp_start(&mut self, now: Instant) {
        if !matches!(self.enrp.init, Init::NotStarted) {
            return;
        }
        self.enrp.next_heartbeat = now;
        if self.enrp.peers.iter().any(|p| p.configured) {
            self.enrp.init = Init::Discovery {
                until: now + self.config.enrp.mentor_discovery_timeout,
                retry_at: now,
                skip: None,
            };
        } else {
            self.finish_init(None);
        }
    }

    fn finish_init(&mut self, mentor: Option<ServerId>) {
        self.enrp.init = Init::Done;
        let pes = self.hs.len();
        self.enrp_event(EnrpEvent::InitialisationDone { mentor, pes });
    }

    // ----- hooks from the registrar -----------------------------------------

    /// Group-casts a HANDLE_UPDATE for an event of the ASAP side.
    pub(super) fn enrp_forward(&mut self, e: &Event) {
        if !self.config.enrp.enabled {
            return;
        }
        let (action, pe) = match e {
            Event::PoolElementRegistered { pe, .. } => (UpdateAction::AddPe, pe),
            Event::PoolElementRemoved { pe, .. } => (UpdateAction::DelPe, pe),
            _ => return,
        };
        if !self.enrp.peers.iter().any(|p| p.assoc.is_some()) {
            return;
        }
        let msg = EnrpMessage {
            sender: self.me(),
            receiver: None,
            body: EnrpBody::HandleUpdate {
                takeover_suggested: false,
                action,
                pool_handle: pe.pool_handle.as_bytes(),
                pool_element: pe.as_param(),
            },
        };
        self.enrp_groupcast(&msg);
    }

    /// The next association to open.
    pub(super) fn enrp_poll_connect(&mut self) -> Option<Connect> {
        if !self.config.enrp.enabled {
            return None;
        }
        let p = self.enrp.peers.iter_mut().find(|p| p.wants_connect)?;
        p.wants_connect = false;
        p.connecting = true;
        Some(Connect {
            remote: p.address?,
            protocol: Protocol::Enrp,
        })
    }

    /// Transport events, after the ASAP side saw them.
    pub(super) fn enrp_transport_event(&mut self, now: Instant, event: TransportEvent) {
        if !self.config.enrp.enabled {
            return;
        }
        self.enrp_start(now);
        match event {
            TransportEvent::Up {
                assoc,
                remote,
                protocol: Protocol::Enrp,
            } => {
                let i = self
                    .enrp
                    .peers
                    .iter()
                    .position(|p| p.address == Some(remote) && p.assoc.is_none());
                if let Some(i) = i {
                    let p = &mut self.enrp.peers[i];
                    p.assoc = Some(assoc);
                    p.connecting = false;
                    let id = p.server_id;
                    self.presence_to(Destination::Association(assoc), id, true);
                    self.try_mentor(now);
                }
            }
            TransportEvent::Down { assoc } => {
                self.enrp
                    .sessions
                    .retain(|s| s.assoc != assoc || matches!(s.kind, SessionKind::Resync { .. }));
                let mut dead: Vec<ServerId, MAX_PEERS> = Vec::new();
                for p in self.enrp.peers.iter_mut() {
                    if p.assoc != Some(assoc) {
                        continue;
                    }
                    p.assoc = None;
                    p.connecting = false;
                    if let Some(id) = p.server_id {
                        if matches!(p.state, PeerState::Alive | PeerState::Probing { .. }) {
                            let _ = dead.push(id);
                        }
                    }
                }
                for id in dead {
                    self.enrp.sessions.retain(
                        |s| !matches!(s.kind, SessionKind::Resync { peer, .. } if peer == id),
                    );
                    self.declare_dead(now, id);
                }
                let mentor_lost = match self.enrp.init {
                    Init::Listing { mentor, .. } | Init::Downloading { mentor, .. } => {
                        mentor == assoc
                    }
                    _ => false,
                };
                if mentor_lost {
                    self.mentor_failed(now, assoc);
                }
            }
            TransportEvent::ConnectFailed { remote } => {
                for p in self.enrp.peers.iter_mut() {
                    if p.address == Some(remote) && p.assoc.is_none() {
                        p.connecting = false;
                    }
                }
            }
            _ => {}
        }
    }

    // ----- timers -----------------------------------------------------------

    /// When ENRP next needs `handle_timeout`.
    pub(super) fn enrp_poll_timeout(&self) -> Option<Instant> {
        if !self.config.enrp.enabled {
            return None;
        }
        let c = &self.config.enrp;
        let e = &self.enrp;
        let mut t = match e.init {
            Init::NotStarted => return Some(Instant::ZERO),
            Init::Discovery {
                until, retry_at, ..
            } => until.min(retry_at),
            Init::Listing {
                deadline, until, ..
            } => deadline.min(until),
            Init::Downloading { deadline, .. } => deadline,
            Init::Done => Instant::MAX,
        };
        t = t.min(e.next_heartbeat);
        for p in e.peers.iter() {
            let due = match p.state {
                PeerState::Alive => p.last_heard.saturating_add(c.max_time_last_heard),
                PeerState::Probing { since } => since.saturating_add(c.max_time_no_response),
                PeerState::Dead { takeover_at } => {
                    let running = p
                        .server_id
                        .is_some_and(|id| e.takeovers.iter().any(|x| x.target == id));
                    if running {
                        Instant::MAX
                    } else {
                        takeover_at
                    }
                }
                PeerState::Connecting => Instant::MAX,
            };
            t = t.min(due);
        }
        for s in e.sessions.iter() {
            t = t.min(s.deadline);
        }
        for x in e.takeovers.iter() {
            t = t.min(x.deadline);
        }
        Some(t)
    }

    /// Runs the due ENRP timers.
    pub(super) fn enrp_timeout(&mut self, now: Instant) {
        if !self.config.enrp.enabled {
            return;
        }
        self.enrp_start(now);
        match self.enrp.init {
            Init::Discovery {
                until, retry_at, ..
            } => {
                if now >= until {
                    self.finish_init(None);
                } else if now >= retry_at {
                    self.try_mentor(now);
                }
            }
            Init::Listing {
                mentor,
                deadline,
                until,
            } => {
                if now >= until {
                    self.finish_init(None);
                } else if now >= deadline {
                    self.mentor_failed(now, mentor);
                }
            }
            Init::Downloading {
                mentor_id,
                deadline,
                ..
            } if now >= deadline => {
                self.finish_init(mentor_id);
            }
            _ => {}
        }
        if now >= self.enrp.next_heartbeat {
            self.presence_groupcast();
            for p in self.enrp.peers.iter_mut() {
                if p.address.is_some() && p.assoc.is_none() && !p.connecting {
                    p.wants_connect = true;
                }
            }
            self.enrp.next_heartbeat = now + self.config.enrp.peer_heartbeat_cycle;
        }
        let (mtlh, mtnr) = (
            self.config.enrp.max_time_last_heard,
            self.config.enrp.max_time_no_response,
        );
        let mut dead: Vec<ServerId, MAX_PEERS> = Vec::new();
        let mut due: Vec<ServerId, MAX_PEERS> = Vec::new();
        for i in 0..self.enrp.peers.len() {
            let p = self.enrp.peers[i];
            let Some(id) = p.server_id else {
                continue;
            };
            match p.state {
                PeerState::Alive if now >= p.last_heard.saturating_add(mtlh) => match p.assoc {
                    Some(a) => {
                        self.presence_to(Destination::Association(a), Some(id), true);
                        self.enrp.peers[i].state = PeerState::Probing { since: now };
                    }
                    None => {
                        let _ = dead.push(id);
                    }
                },
                PeerState::Probing { since } if now >= since.saturating_add(mtnr) => {
                    let _ = dead.push(id);
                }
                PeerState::Dead { takeover_at } if now >= takeover_at => {
                    let _ = due.push(id);
                }
                _ => {}
            }
        }
        for id in dead {
            self.declare_dead(now, id);
        }
        // Dead peers whose takeover is due.
        for id in due {
            if !self.enrp.takeovers.iter().any(|t| t.target == id) {
                self.start_takeover(now, id);
            }
        }
        // Stalled sessions.
        let before = self.enrp.sessions.len();
        self.enrp.sessions.retain(|s| s.deadline > now);
        self.enrp.stats.sessions_timed_out += (before - self.enrp.sessions.len()) as u64;
        // Expired takeovers start again.
        let mut k = 0;
        while k < self.enrp.takeovers.len() {
            if self.enrp.takeovers[k].deadline <= now {
                let target = self.enrp.takeovers[k].target;
                self.enrp.takeovers.swap_remove(k);
                self.enrp.stats.takeovers_expired += 1;
                self.start_takeover(now, target);
            } else {
                k += 1;
            }
        }
    }

    fn declare_dead(&mut self, now: Instant, id: ServerId) {
        let Some(i) = self.peer_by_id(id) else {
            return;
        };
        self.enrp.peers[i].state = PeerState::Dead { takeover_at: now };
        net_debug!("enrp: peer {} dead", id);
        self.enrp_event(EnrpEvent::PeerDown { server_id: id });
        self.enrp_forget_pending(id, now);
        if !self.enrp.takeovers.iter().any(|t| t.target == id) {
            self.start_takeover(now, id);
        }
    }

    // ----- initialisation ---------------------------------------------------

    /// Sends LIST_REQUEST to the first configured peer that is up and not
    /// waiting out a rejection (another than `skip` if possible); with none,
    /// waits until the first such wait ends (or a peer comes up).
    fn try_mentor(&mut self, now: Instant) {
        let Init::Discovery { until, skip, .. } = self.enrp.init else {
            return;
        };
        let up = |p: &&Peer| p.configured && p.assoc.is_some();
        let ready = |p: &&Peer| up(p) && p.list_retry_at <= now;
        let pick = self
            .enrp
            .peers
            .iter()
            .filter(ready)
            .find(|p| p.assoc != skip)
            .or_else(|| self.enrp.peers.iter().find(ready))
            .map(|p| (p.assoc, p.server_id));
        let Some((Some(mentor), id)) = pick else {
            let retry_at = self
                .enrp
                .peers
                .iter()
                .filter(up)
                .map(|p| p.list_retry_at)
                .min()
                .unwrap_or(Instant::MAX);
            self.enrp.init = Init::Discovery {
                until,
                retry_at,
                skip,
            };
            return;
        };
        self.simple(Destination::Association(mentor), id, EnrpBody::ListRequest);
        self.enrp.init = Init::Listing {
            mentor,
            deadline: now + self.config.enrp.max_time_no_response,
            until,
        };
    }

    fn mentor_failed(&mut self, now: Instant, mentor: AssocId) {
        let until = match self.enrp.init {
            Init::Listing { until, .. } => until,
            Init::Downloading { mentor_id, .. } => {
                // Keep what was downloaded; audits repair the rest.
                self.finish_init(mentor_id);
                return;
            }
            _ => return,
        };
        self.mentor_backoff(now, mentor, until);
    }

    /// The mentor on `mentor` rejected or did not answer a LIST_REQUEST: it
    /// is not asked again for [`EnrpConfig::mentor_retry_interval`]; the
    /// next configured peer that is up is tried at once.
    pub(super) fn mentor_backoff(&mut self, now: Instant, mentor: AssocId, until: Instant) {
        let again = now.saturating_add(self.config.enrp.mentor_retry_interval);
        for p in self.enrp.peers.iter_mut() {
            if p.assoc == Some(mentor) {
                p.list_retry_at = again;
            }
        }
        self.enrp.init = Init::Discovery {
            until,
            retry_at: now,
            skip: Some(mentor),
        };
        self.try_mentor(now);
    }

    // ----- input ------------------------------------------------------------

    /// An ENRP message.
    pub(super) fn enrp_handle(&mut self, now: Instant, source: Source, bytes: &[u8]) {
        if !self.config.enrp.enabled {
            self.stats.enrp_ignored += 1;
            return;
        }
        self.enrp_start(now);
        if source == Source::Association(AssocId::NONE) {
            self.enrp.stats.unexpected += 1;
            return;
        }
        let msg = match EnrpMessage::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.enrp_parse_failed(source, bytes, e);
                return;
            }
        };
        let ty = msg.message_type();
        if let Some(c) = self.enrp.stats.received.get_mut(usize::from(ty)) {
            *c += 1;
        }
        let me = self.me();
        if msg.sender == me || msg.receiver.is_some_and(|r| r != me) {
            self.enrp.stats.unexpected += 1;
            return;
        }
        let is_presence = matches!(msg.body, EnrpBody::Presence { .. });
        if matches!(source, Source::Datagram(_)) && !is_presence {
            self.enrp.stats.unexpected += 1;
            return;
        }
        let info = match msg.body {
            EnrpBody::Presence { server_info, .. } => server_info,
            _ => None,
        };
        self.heard(now, source, msg.sender, info.as_ref(), is_presence);
        let assoc = match source {
            Source::Association(a) => Some(a),
            Source::Datagram(_) => self.peer_assoc(msg.sender),
        };
        let sender = msg.sender;
        match msg.body {
            EnrpBody::Presence {
                reply_required,
                checksum,
                ..
            } => {
                if let Some(c) = checksum {
                    if let Some(i) = self.peer_by_id(sender) {
                        self.enrp.peers[i].announced_checksum = Some(c);
                    }
                    self.audit(now, sender, c);
                }
                if reply_required {
                    let dest = match assoc {
                        Some(a) => Destination::Association(a),
                        None => reply_to(source),
                    };
                    self.presence_to(dest, Some(sender), false);
                }
            }
            EnrpBody::HandleUpdate {
                action,
                pool_handle,
                pool_element,
                ..
            } => {
                let owner = pool_element.home_server.unwrap_or(sender);
                match action {
                    UpdateAction::AddPe => {
                        let kept = if owner < me {
                            self.keep_home(now, pool_handle, pool_element.pe_id)
                        } else {
                            None
                        };
                        if owner == me {
                            self.enrp.stats.updates_rejected += 1;
                        } else if let Some(pe) = kept {
                            // Crossing registrations: the higher id keeps
                            // the PE and says so again.
                            self.enrp.stats.ownership_kept += 1;
                            self.enrp_forward(&Event::PoolElementRegistered { pe, new: false });
                        } else {
                            match self.apply_peer_update(now, owner, pool_handle, &pool_element) {
                                Ok(_) => self.enrp.stats.updates_applied += 1,
                                Err(_) => self.enrp.stats.updates_rejected += 1,
                            }
                        }
                    }
                    UpdateAction::DelPe => {
                        if self.apply_peer_delete(owner, pool_handle, pool_element.pe_id) {
                            self.enrp.stats.deletes_applied += 1;
                        } else {
                            self.enrp.stats.deletes_ignored += 1;
                        }
                    }
                }
            }
            EnrpBody::HandleTableRequest { own_children_only } => {
                if let Some(a) = assoc {
                    self.on_table_request(now, a, sender, own_children_only);
                }
            }
            EnrpBody::HandleTableResponse {
                more_to_send,
                rejected,
                entries,
            } => {
                if let Some(a) = assoc {
                    self.on_table_response(now, a, sender, more_to_send, rejected, entries);
                }
            }
            EnrpBody::ListRequest => {
                if let Some(a) = assoc {
                    self.on_list_request(a, sender);
                }
            }
            EnrpBody::ListResponse { rejected, servers } => {
                if let Some(a) = assoc {
                    self.on_list_response(now, a, sender, rejected, servers);
                }
            }
            EnrpBody::InitTakeover { target } => self.on_init_takeover(now, assoc, sender, target),
            EnrpBody::InitTakeoverAck { target } => self.on_takeover_ack(now, sender, target),
            EnrpBody::TakeoverServer { target } => self.on_takeover_server(now, sender, target),
            EnrpBody::Error { error } => {
                net_debug!("enrp: ENRP_ERROR from {}: {:?}", sender, error.code());
                let _ = error;
                self.enrp.stats.errors_received += 1;
            }
        }
        if ty != enrp_type::ERROR {
            self.enrp_report_unrecognized(source, assoc, sender, bytes);
        }
    }

    /// Updates (or creates) the sender's peer entry: last heard, state,
    /// association.
    fn heard(
        &mut self,
        now: Instant,
        source: Source,
        id: ServerId,
        info: Option<&ServerInfoParam<'_>>,
        presence: bool,
    ) {
        let src_assoc = match source {
            Source::Association(a) => Some(a),
            Source::Datagram(_) => None,
        };
        let announced = info.and_then(|i| {
            let ip = i.transport.addresses.first()?;
            let ip = if ip.is_unspecified() {
                match source {
                    Source::Datagram(s) => s.ip(),
                    Source::Association(a) => self.assocs.get(&a)?.ip(),
                }
            } else {
                ip
            };
            Some(SocketAddr::new(ip, i.transport.port))
        });
        let mut new = false;
        // Whether it was asked for a PRESENCE already (when its association came up).
        let mut asked = false;
        let i = match self.peer_by_id(id) {
            Some(i) => self.merge_duplicate(i, id, src_assoc),
            None => {
                // A configured peer whose id is not known yet?
                let by_assoc = src_assoc.and_then(|a| {
                    self.enrp
                        .peers
                        .iter()
                        .position(|p| p.server_id.is_none() && p.assoc == Some(a))
                });
                let by_addr = || {
                    announced.and_then(|ad| {
                        self.enrp
                            .peers
                            .iter()
                            .position(|p| p.server_id.is_none() && p.address == Some(ad))
                    })
                };
                match by_assoc.or_else(by_addr) {
                    Some(i) => {
                        self.enrp.peers[i].server_id = Some(id);
                        asked = self.enrp.peers[i].assoc.is_some();
                        new = true;
                        i
                    }
                    None => {
                        if self.enrp.peers.len() >= self.max_peers() {
                            self.enrp.stats.peers_refused += 1;
                            return;
                        }
                        let mut p = Peer::learnt(id, announced, now);
                        p.assoc = src_assoc;
                        if p.assoc.is_none() && p.address.is_some() {
                            p.wants_connect = true;
                        }
                        if self.enrp.peers.push(p).is_err() {
                            self.enrp.stats.peers_refused += 1;
                            return;
                        }
                        new = true;
                        self.enrp.peers.len() - 1
                    }
                }
            }
        };
        let p = &mut self.enrp.peers[i];
        p.last_heard = now;
        if p.assoc.is_none() {
            p.assoc = src_assoc;
            if src_assoc.is_some() {
                p.connecting = false;
            }
        }
        if p.address.is_none() {
            p.address = announced;
        }
        let was = p.state;
        p.state = PeerState::Alive;
        let assoc = p.assoc;
        if new || matches!(was, PeerState::Connecting | PeerState::Dead { .. }) {
            self.enrp_event(EnrpEvent::PeerUp { server_id: id });
        }
        if new && !asked {
            // RFC 5353 §3.4: an unknown peer gets a reply-required PRESENCE.
            if let Some(a) = assoc {
                self.presence_to(Destination::Association(a), Some(id), true);
            }
        }
        if presence {
            if let Some(k) = self.enrp.won.iter().position(|w| *w == id) {
                // Alive again: a later INIT_TAKEOVER for it is a new one.
                let mut rest: heapless::Deque<ServerId, RECENT_TAKEOVERS> = heapless::Deque::new();
                for (j, w) in self.enrp.won.iter().enumerate() {
                    if j != k {
                        let _ = rest.push_back(*w);
                    }
                }
                self.enrp.won = rest;
            }
            // The target shows up: every takeover of it stops.
            let before = self.enrp.takeovers.len();
            self.enrp.takeovers.retain(|t| t.target != id);
            if self.enrp.takeovers.len() != before {
                self.enrp.stats.takeovers_aborted += 1;
                self.enrp_event(EnrpEvent::TakeoverAborted { target: id });
            }
        }
    }

    /// A peer known by id may also have an id-less entry (a configured
    /// address whose association came up after the peer had reached us
    /// over its own): the message over that association merges the two.
    fn merge_duplicate(&mut self, i: usize, id: ServerId, src_assoc: Option<AssocId>) -> usize {
        let Some(a) = src_assoc else {
            return i;
        };
        let Some(j) = self
            .enrp
            .peers
            .iter()
            .position(|p| p.server_id.is_none() && p.assoc == Some(a))
        else {
            return i;
        };
        let dup = self.enrp.peers[j];
        let p = &mut self.enrp.peers[i];
        p.configured |= dup.configured;
        if dup.configured {
            p.address = dup.address;
        }
        if p.assoc.is_none() {
            p.assoc = dup.assoc;
        }
        self.enrp.peers.swap_remove(j);
        self.peer_by_id(id).unwrap_or(i)
    }

    fn enrp_parse_failed(&mut self, source: Source, bytes: &[u8], e: wire::Error) {
        // A HANDLE_UPDATE whose PE has a value this registrar does not take
        // (more than MAX_TRANSPORT_ADDRESSES addresses, say): the update is
        // refused and the peer told so (Invalid Values with the PE, as
        // rsplib answers a message its parser refuses).
        let refused_update = || {
            if wire::MessageHeader::new_unchecked(bytes).message_type() != enrp_type::HANDLE_UPDATE
                || !super::is_invalid_value(&e)
                || !matches!(source, Source::Association(_))
            {
                return None;
            }
            wire::find_parameter(Protocol::Enrp, bytes, param_type::POOL_ELEMENT)
                .map(ErrorCause::invalid_values)
        };
        let cause = ErrorCause::reporting(&e, bytes).or_else(|| {
            let c = refused_update()?;
            net_debug!("enrp: handle update refused: {}", e);
            self.enrp.stats.updates_rejected += 1;
            Some(c)
        });
        match cause {
            Some(c) => {
                let receiver = EnrpMessage::sender_of(bytes);
                self.send_enrp_error(reply_to(source), receiver, &[c]);
            }
            None => {
                net_debug!("enrp: dropped malformed input: {}", e);
                self.enrp.stats.malformed += 1;
            }
        }
    }

    fn send_enrp_error(
        &mut self,
        dest: Destination,
        receiver: Option<ServerId>,
        causes: &[ErrorCause<'_>],
    ) {
        let msg = EnrpMessage {
            sender: self.me(),
            receiver,
            body: EnrpBody::Error {
                error: OperationError::new(causes),
            },
        };
        if self.enrp_push(dest, &msg) {
            self.enrp.stats.errors_sent += 1;
        }
    }

    fn enrp_report_unrecognized(
        &mut self,
        source: Source,
        assoc: Option<AssocId>,
        sender: ServerId,
        bytes: &[u8],
    ) {
        let mut causes: [ErrorCause<'_>; MAX_REPORTED_PARAMETERS] =
            [ErrorCause::new(CauseCode::Unspecified); MAX_REPORTED_PARAMETERS];
        let n = ErrorCause::skipped_reports(Protocol::Enrp, bytes, &mut causes);
        if n > 0 {
            let dest = match (source, assoc) {
                (Source::Association(a), _) | (_, Some(a)) => Destination::Association(a),
                (Source::Datagram(s), None) => Destination::Address(s),
            };
            self.send_enrp_error(dest, Some(sender), &causes[..n]);
        }
    }

    // ----- peer list --------------------------------------------------------

    fn on_list_request(&mut self, assoc: AssocId, peer: ServerId) {
        // Answered while initialising too, with the peers known so far:
        // rsplib takes R=1 as final and never asks again.
        let mut ips = [[core::net::IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED); 1]; MAX_PEERS];
        let mut ids = [self.me(); MAX_PEERS];
        let mut ports = [0u16; MAX_PEERS];
        let mut n = 0;
        for p in self.enrp.peers.iter() {
            if let (Some(id), Some(a), false) = (
                p.server_id,
                p.address,
                matches!(p.state, PeerState::Dead { .. }),
            ) {
                if n < MAX_PEERS {
                    ips[n] = [a.ip()];
                    ids[n] = id;
                    ports[n] = a.port();
                    n += 1;
                }
            }
        }
        let infos: [ServerInfoParam<'_>; MAX_PEERS] = core::array::from_fn(|i| ServerInfoParam {
            server_id: ids[i],
            transport: TransportParam::new(
                TransportProtocol::Sctp,
                ports[i],
                TransportUse::DataOnly,
                &ips[i],
            ),
        });
        self.simple(
            Destination::Association(assoc),
            Some(peer),
            EnrpBody::ListResponse {
                rejected: false,
                servers: List::from_slice(&infos[..n]),
            },
        );
    }

    fn on_list_response(
        &mut self,
        now: Instant,
        assoc: AssocId,
        sender: ServerId,
        rejected: bool,
        servers: List<'_, ServerInfoParam<'_>>,
    ) {
        let Init::Listing { mentor, until, .. } = self.enrp.init else {
            self.enrp.stats.unexpected += 1;
            return;
        };
        if mentor != assoc {
            self.enrp.stats.unexpected += 1;
            return;
        }
        if rejected {
            self.enrp.stats.list_rejections += 1;
            self.mentor_backoff(now, mentor, until);
            return;
        }
        let me = self.me();
        for s in servers.iter() {
            if s.server_id == me || self.peer_by_id(s.server_id).is_some() {
                continue;
            }
            let Some(ip) = s.transport.addresses.first() else {
                continue;
            };
            let addr = SocketAddr::new(ip, s.transport.port);
            if let Some(p) = self.enrp.peers.iter_mut().find(|p| p.address == Some(addr)) {
                if p.server_id.is_none() {
                    p.server_id = Some(s.server_id);
                }
                continue;
            }
            if self.enrp.peers.len() >= self.max_peers() {
                self.enrp.stats.peers_refused += 1;
                continue;
            }
            let mut p = Peer::learnt(s.server_id, Some(addr), now);
            p.state = PeerState::Connecting;
            p.wants_connect = true;
            let _ = self.enrp.peers.push(p);
        }
        self.enrp.init = Init::Downloading {
            mentor,
            mentor_id: Some(sender),
            deadline: now + self.config.enrp.session_timeout,
            applied: 0,
        };
        self.simple(
            Destination::Association(assoc),
            Some(sender),
            EnrpBody::HandleTableRequest {
                own_children_only: false,
            },
        );
    }
}
