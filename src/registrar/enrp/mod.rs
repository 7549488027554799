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
//! # Trust
//!
//! ENRP peers are configured, never assumed. A message is looked at only
//! when it comes from a trusted host, else it is dropped and counted
//! ([`EnrpStats::untrusted`]): no answer (no LIST_RESPONSE, no
//! HANDLE_TABLE_RESPONSE, no PRESENCE), no change of state. The host of an
//! association is the remote address of its [`TransportEvent::Up`]; it is
//! trusted when it is the host of a configured peer
//! ([`EnrpConfig::static_peers`]), lies in [`EnrpConfig::allowed_peers`],
//! or is the host of a peer in the peer table, which holds only peers
//! learnt from trusted sources: a trusted peer's messages or its mentor's
//! LIST_RESPONSE, and, with [`EnrpConfig::multicast`], PRESENCE on the
//! multicast channel (multicast discovery trusts everyone who can send to
//! the channel; datagrams are taken from any host then).
//!
//! The registrar's return-routability check (see the
//! [registrar module](super), "Return routability") covers ASAP only: an
//! ENRP answer goes to trusted hosts alone, whose addresses are
//! configured, so ENRP is not used to reflect traffic at a forged source.
//!
//! * **Server ids are bound**: the first message over an association binds
//!   the sender's server id to it; a message over it naming another sender
//!   is dropped ([`EnrpStats::impostors`]), as is one naming a peer bound to
//!   an association to another host.
//! * **Owners speak for their PEs**: a HANDLE_UPDATE must name its sender
//!   as the PE's owner (home server), or the target of a takeover by the
//!   sender that this registrar acknowledged; others are dropped
//!   ([`EnrpStats::foreign_updates`]). A PE this registrar owns over a live
//!   association is moved by an update only from its rival owner under the
//!   crossing-registration tie-break below (a higher server id, which
//!   partition healing needs), never by a third party, and DEL_PE never
//!   removes it.
//! * **Takeovers**: TAKEOVER_SERVER is taken only from the registrar whose
//!   INIT_TAKEOVER for that target this one acknowledged (and not since
//!   heard the target's PRESENCE), or as the answer to this registrar's own
//!   INIT_TAKEOVER; others are dropped ([`EnrpStats::takeovers_refused`]).
//!
//! # Behaviour
//!
//! * **Peers** ([`Peer`]): configured addresses (server id learnt), peers
//!   named in a LIST_RESPONSE, and any registrar a trusted message comes
//!   from (an unknown sender is added and sent a reply-required PRESENCE). A peer
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
//!   follow. The responder keeps one session per requesting peer (a new
//!   request, over any of its associations, replaces its old one) holding
//!   a cursor: W=1 walks its own PEs, W=0 every PE that has an owner,
//!   both in (pool handle, PE id) order; both resume after the last PE
//!   sent, so the handlespace may change between pages.
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
//!   sends its PEs in (pool handle, PE id) order, so the requester deletes every PE it
//!   holds for that peer that sorts between the previous received PE and
//!   the current one, and at the end (M=0) every one after the last. Out of
//!   order input only costs work: a PE deleted too early is added again when
//!   it arrives. No per-PE state; a sweep visits each PE between two
//!   received ones once.
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
//!   that round. The simulator measures (`tests/it/sim/enrp_heal.rs`,
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
//!
//! # Where each part lives
//!
//! `peers.rs` (peer table, PRESENCE, peer list), `init.rs` (mentor and
//! initial download), `input.rs` (message dispatch, malformed input,
//! ENRP_ERROR), `table.rs` (handle table pages, audits), `takeover.rs`,
//! `timers.rs`, and `types.rs` (the public types); this file holds the
//! state and the hooks the registrar calls.

mod init;
mod input;
mod peers;
mod table;
mod takeover;
mod timers;
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
    self, EnrpBody, EnrpMessage, EnrpType, ErrorCause, List, OperationError, ParamType, PoolEntry,
    Protocol, ServerInfoParam, TransportParam, UpdateAction,
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
    /// Takeovers of others this registrar acknowledged lately, as
    /// (initiator, target): the only TAKEOVER_SERVERs it accepts, and the
    /// only foreign owners a HANDLE_UPDATE may name.
    acked: heapless::Deque<(ServerId, ServerId), RECENT_TAKEOVERS>,
    init: Init,
    next_heartbeat: Instant,
    stats: EnrpStats,
}

impl EnrpState {
    /// No peer yet: the configured ones are added by
    /// [`add_configured`](Self::add_configured).
    pub(super) const fn new() -> Self {
        EnrpState {
            peers: Vec::new(),
            sessions: Vec::new(),
            takeovers: Vec::new(),
            won: heapless::Deque::new(),
            acked: heapless::Deque::new(),
            init: Init::NotStarted,
            next_heartbeat: Instant::ZERO,
            stats: EnrpStats::ZERO,
        }
    }

    /// Adds the configured static peers (when ENRP is enabled) that are
    /// not in the table yet, up to the peer limits.
    pub(super) fn add_configured(&mut self, config: &EnrpConfig) {
        if !config.enabled {
            return;
        }
        for a in config
            .static_peers
            .iter()
            .take(config.max_peers.min(MAX_PEERS))
        {
            if self.peers.len() >= config.max_peers.min(MAX_PEERS) {
                break;
            }
            if !self
                .peers
                .iter()
                .any(|p| p.configured && p.address == Some(*a))
            {
                let _ = self.peers.push(Peer::configured(*a));
            }
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
                    .get_mut(usize::from(msg.message_type().raw()))
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

    fn simple(&mut self, dest: Destination, receiver: Option<ServerId>, body: EnrpBody<'_>) {
        let msg = EnrpMessage {
            sender: self.me(),
            receiver,
            body,
        };
        self.enrp_push(dest, &msg);
    }

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
                ..
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
}
