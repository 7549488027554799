//! The registrar's ASAP side (RFC 5352, SPEC §5-§7): a sans-IO state machine
//! over a [`Handlespace`].
//!
//! A [`Registrar`] takes ASAP messages, transport events and the time through
//! [`Machine`], and hands back messages ([`Machine::poll_transmit`]), the next
//! deadline ([`Machine::poll_timeout`]) and events ([`Registrar::poll_event`]).
//! It needs no heap: the handlespace storage `S`, the owned-PE table
//! (`OWNED`, a power of two up to 65,536), the association table (`ASSOCS`,
//! a power of two), the transmit queue (`QUEUE` bytes) and the event queue
//! (`EVENTS`) are all fixed. With the `alloc` feature the owned-PE table is
//! a heap map bounded by `OWNED` entries, which may then be any number.
//!
//! # What it does
//!
//! * **REGISTRATION** (§3.1): checks (pool handle, user transport, policy,
//!   registration life limits, the pool's policy type / transport type /
//!   data-control use, capacity), then becomes the PE's home registrar and
//!   records the registering association's remote address (from
//!   [`TransportEvent::Up`]) as the PE's ASAP transport. Always answers
//!   REGISTRATION_RESPONSE: R=0, or R=1 with one cause (Invalid Values with
//!   the Pool Element TLV, Inconsistent Pooling Policy with the pool's policy
//!   TLV, Inconsistent Transport Type with a transport TLV of the pool,
//!   Inconsistent Data/Control Configuration, Lack of Resources, Rejected due
//!   to Security Considerations).
//! * **Security** (RFC 5355): a PE registered over association A may be
//!   re-registered or deregistered over A only. Any other association is
//!   answered with *Rejected due to Security Considerations* (0xA) and the
//!   PE is untouched. A PE without an association (learnt from a peer or
//!   taken over) may be claimed by an association whose remote address is
//!   one of the PE's ASAP transport addresses (the PE moving to this
//!   registrar; with no ASAP transport known, by any association).
//!   Registrations and deregistrations arriving as datagrams are refused
//!   the same way. The ASAP transport recorded is the association's remote
//!   address as reported by [`TransportEvent::Up`]; for an association
//!   never reported up, the PE's own ASAP transport parameter (if SCTP) is
//!   kept instead.
//! * **DEREGISTRATION** (§3.2): removes the PE; an unknown PE counts as
//!   success. **Lifetime expiry** of an owned PE sends it a
//!   DEREGISTRATION_RESPONSE and removes it.
//! * **HANDLE_RESOLUTION** (§3.3): up to min(Handle Resolution Option item
//!   count, [`RegistrarConfig::max_handle_resolution_items`],
//!   [`MAX_RESOLUTION_ITEMS`]) PEs (an option value of 0 or none means "as
//!   many as allowed"), selected by the pool's policy; the response always
//!   carries the overall policy (as rsplib does) and each PE with its user
//!   and ASAP transports. Unknown pool: Unknown Pool Handle. The answer
//!   holds as many of the selected PEs as fit into one message and into the
//!   transmit queue's free room (at least one: room for one PE of the
//!   largest size is required before selecting).
//! * **Keep-alive** (§3.4-§3.5): see [`RegistrarConfig`] for how keep-alive
//!   and lifetime share the PE's timer. KEEP_ALIVE_ACK is accepted only from
//!   the PE's association with matching pool handle and PE id.
//! * **ENDPOINT_UNREACHABLE** (§3.5): rate-limited per reporter
//!   ([`RegistrarConfig::unreachable_rate`]); about an owned PE, it is
//!   counted and answered with an immediate ENDPOINT_KEEP_ALIVE probe (H=0)
//!   under the keep-alive timeout. An unanswered probe removes the PE at the
//!   keep-alive timeout ([`RemovalReason::KeepAliveTimeout`]). The count
//!   holds the reports since the PE last answered a keep-alive: every
//!   accepted KEEP_ALIVE_ACK (to the probe or to a periodic keep-alive)
//!   resets it to 0, because the answer disproves the reports before it.
//!   Only when more than MAX-BAD-PE-REPORT reports arrive before the PE
//!   answers is it removed at once ([`RemovalReason::Unreachable`]; several
//!   reporters agreeing faster than the probe is answered). Unlike rsplib,
//!   which never resets the count, reports that a live PE disproved do not
//!   add up over its registration: under message loss, users' request
//!   timeouts otherwise remove healthy PEs one report at a time. Together
//!   with the per-reporter limit this keeps RFC 5355's flood protection: a
//!   reporter counts at most `unreachable_rate.max_reports` times per
//!   window, so while a PE answers its probes within that window, a flood
//!   from fewer than MAX-BAD-PE-REPORT / `max_reports` + 1 reporters (with
//!   the defaults: up to 3) cannot remove it, however long it lasts; a dead
//!   PE goes at the probe's timeout or as soon as enough reporters agree. A PE removed as
//!   unreachable is sent an unsolicited DEREGISTRATION_RESPONSE, as on
//!   lifetime expiry: RFC 5352 §3.5 asks for the removal, not for silence,
//!   and a PE that is in fact alive then learns it is no longer registered
//!   and registers again instead of believing it is registered until its
//!   next re-registration (to a dead PE the message is simply lost).
//!   Reports about PEs owned by other registrars are ignored (only the home
//!   registrar can probe).
//! * **SERVER_ANNOUNCE** every T6 on [`Destination::Multicast`] when enabled
//!   (first one at the first `handle_timeout`), as rsplib does. RFC 5352
//!   §3.6 asks for one every (N+1)·T6 with N the registrars heard
//!   announcing; an ENRP layer that counts them sets that with
//!   [`Registrar::set_announce_interval`].
//! * **Unknown input** (RFC 5354): an unknown message type or a "stop"
//!   parameter whose upper bits ask for a report is answered with
//!   ASAP_ERROR (Unrecognized Message / Unrecognized Parameter); "skip and
//!   report" parameters are reported in an ASAP_ERROR after the message is
//!   processed. An ASAP_REGISTRATION the codec refuses for a value (more
//!   than [`MAX_TRANSPORT_ADDRESSES`]
//!   addresses, a bad Transport Use, policy or registration life) is
//!   rejected with Invalid Values carrying the Pool Element, so that the PE
//!   learns why. All other malformed input is dropped silently and counted
//!   ([`Stats::malformed`]).
//! * **Transport failure** ([`TransportEvent::Down`] or
//!   [`TransportEvent::SendFailed`] of an association): the PEs registered
//!   over it are removed at once. RFC 5352 §3.5 says a PE whose keep-alive
//!   cannot be sent MUST be removed, and no keep-alive can be sent over a
//!   failed association; rsplib also removes a connection's PEs when it is
//!   lost. A PE that is still alive re-registers (it notices the failure and
//!   hunts a registrar, §3.7). No other association can deregister them in
//!   the meantime, because they are gone.
//! * **Full transmit queue**: an input that must be answered is checked for
//!   room before anything changes; without room it is not applied at all
//!   (the sender retransmits), [`Stats::queue_full`] counts it and
//!   [`Event::QueueFull`] says so. Due timers wait in the handlespace until
//!   there is room.
//! * **ENRP** ([`Protocol::Enrp`]): with [`RegistrarConfig::enrp`] enabled
//!   the registrar is a full ENRP peer (RFC 5353; see [`enrp`], [`EnrpConfig`], [`Registrar::peers`],
//!   [`Registrar::enrp_stats`], [`Event::Enrp`]). With ENRP disabled (the
//!   default) ENRP messages are ignored and counted
//!   ([`Stats::enrp_ignored`]). Either way the ENRP hooks stay public: the
//!   [`Event::PoolElementRegistered`] / [`Event::PoolElementRemoved`]
//!   events (HANDLE_UPDATE out), [`Registrar::apply_peer_update`] /
//!   [`Registrar::apply_peer_delete`] (HANDLE_UPDATE in),
//!   [`Registrar::take_over`] (takeover: ownership moves, KEEP_ALIVE H=1 to
//!   each PE), [`Registrar::own_checksum`] / [`Registrar::peer_checksum`]
//!   and [`Handlespace::next_owned`] through [`Registrar::handlespace`]
//!   (audit and handle table pages).
//! * **Wire details**: ENDPOINT_KEEP_ALIVE carries rsplib's PE Identifier
//!   parameter besides the RFC fields; HANDLE_RESOLUTION_RESPONSE is sent
//!   with A=0 (no dynamic updates); registration life is in milliseconds
//!   (SPEC §15.1).
//! * **PEs without association** (taken over, or learnt from a peer and
//!   then owned): a keep-alive is point-to-point (RFC 5353 §3.5), so the
//!   registrar opens an ASAP association to the PE's ASAP transport address
//!   ([`Machine::poll_connect`] with [`Protocol::Asap`]), sends the
//!   keep-alive on it when [`TransportEvent::Up`] arrives, and from then on
//!   treats it as the PE's association (keep-alives, KEEP_ALIVE_ACK,
//!   re-registration, transport failure). [`TransportEvent::ConnectFailed`]
//!   means the PE cannot be reached: it is removed
//!   ([`RemovalReason::TransportFailure`], RFC 5352 §3.5). At most
//!   [`MAX_PE_CONNECTS`] such connects are in flight; a keep-alive finding
//!   the table full waits [`PE_CONNECT_RETRY`] and tries again
//!   ([`Stats::pe_connects_deferred`]), so a takeover of more PEs proceeds
//!   in batches. A PE that has no ASAP transport address cannot be reached
//!   and goes at its keep-alive timeout. An unsolicited
//!   DEREGISTRATION_RESPONSE to such a PE still goes to its ASAP transport
//!   address ([`Destination::Address`]), best effort.
//! * Events never block protocol work: when the event queue is full, an
//!   event is dropped and counted in [`Stats::events_lost`] (an ENRP layer
//!   then repairs peers through the checksum audit, RFC 5353 §3.6).

mod config;
pub mod enrp;
mod event;
mod limiter;
mod owned;

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use heapless::index_map::FnvIndexMap;
use heapless::Deque;

pub use config::{
    AnnounceTransport, EnrpConfig, RegistrarConfig, ReportRate, MAX_ANNOUNCE_TRANSPORTS,
    MAX_HANDLE_TABLE_ELEMENTS, MAX_PEERS, MAX_RESOLUTION_ITEMS, MAX_SESSIONS,
};
pub use enrp::{EnrpEvent, EnrpStats, Peer, PeerState, MAX_TAKEOVERS};
pub use event::{Blocked, Event, PeRecord, RemovalReason, Stats, TransportRecord};
pub use limiter::MAX_REPORTERS;

use crate::addr::{TransportAddress, TransportProtocol, TransportUse, MAX_TRANSPORT_ADDRESSES};
use crate::cause::CauseCode;
use crate::handlespace::{
    Handlespace, HandlespaceError, OwnershipCursor, PeRef, PeTimerKind, PeView, RegisterOutcome,
    Registration, Storage,
};
use crate::id::{AssocId, PeId, PoolHandle, ServerId};
use crate::policy::Policy;
use crate::random::{below, Xoshiro256StarStar};
use crate::storage::Backend;
use crate::time::{Duration, Instant};
use crate::transmit::{
    Connect, Destination, Machine, QueueError, Source, Transmit, TransmitQueue, TransportEvent,
};
use crate::wire::{
    self, asap_type, padded, param_type, AsapMessage, ErrorCause, List, OperationError,
    PolicyParam, PoolElementParam, Protocol, UserTransport, TLV_HEADER_LEN,
};

use event::to_param;
use limiter::ReportLimiter;

/// The most messages the transmit queue holds at once.
pub const QUEUE_MESSAGES: usize = 256;

/// The most ASAP associations to PEs being opened at once (a power of two).
pub const MAX_PE_CONNECTS: usize = 64;

/// How long a keep-alive waits when [`MAX_PE_CONNECTS`] connects are in
/// flight before it tries again.
pub const PE_CONNECT_RETRY: Duration = Duration::from_millis(100);

/// An ASAP association being opened to a PE to send it a keep-alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PeConnect {
    /// The PE's ASAP transport address.
    remote: SocketAddr,
    /// The keep-alive carries H=1.
    home: bool,
    /// Handed out by `poll_connect` already.
    requested: bool,
}

/// What became of a keep-alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeepAlive {
    /// Queued.
    Sent,
    /// An association to the PE is being opened; it goes out on Up.
    Connecting,
    /// No room for another connect: try again later.
    Deferred,
    /// Cannot be sent (no address, or no room in the transmit queue).
    Failed,
}

/// The most Unrecognized Parameter causes one ASAP_ERROR carries.
const MAX_REPORTED_PARAMETERS: usize = 8;

/// Upper bound of a KEEP_ALIVE or DEREGISTRATION_RESPONSE (32-byte pool handle).
const TIMER_MESSAGE_MAX: usize = 4 + 4 + (4 + 32) + 8;

/// Upper bound of an encoded transport parameter with `addresses` addresses.
const fn transport_len(addresses: usize) -> usize {
    12 + 20 * addresses
}

/// Upper bound of an encoded policy parameter.
const MAX_POLICY_LEN: usize = 8 + 4 * crate::policy::MAX_POLICY_PARAMS;

/// Upper bound of a Pool Element parameter as the registrar emits it, for
/// transports of at most `addresses` addresses each.
const fn pe_param_len(addresses: usize) -> usize {
    16 + 2 * transport_len(addresses) + MAX_POLICY_LEN
}

/// Upper bound of a Pool Element parameter with the most addresses.
const MAX_PE_PARAM_LEN: usize = pe_param_len(MAX_TRANSPORT_ADDRESSES);

/// Whether a parse error says a value is out of range (too many addresses,
/// a bad Transport Use, policy or registration life) rather than that the
/// message is malformed: a REGISTRATION with such a value is answered with
/// Invalid Values.
fn is_invalid_value(e: &wire::Error) -> bool {
    matches!(
        e,
        wire::Error::Transport(_)
            | wire::Error::Policy(_)
            | wire::Error::InvalidTransportUse(_)
            | wire::Error::InvalidRegistrationLife(_)
    )
}

/// The size of an ASAP_REGISTRATION_RESPONSE for a pool handle of
/// `handle_len` bytes whose error cause carries `cause_len` bytes.
fn registration_response_len(handle_len: usize, cause_len: usize) -> usize {
    4 + padded(TLV_HEADER_LEN + handle_len) + 8 + 2 * TLV_HEADER_LEN + padded(cause_len)
}

/// The registrar's state for a PE it owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OwnedPe {
    /// When its registration life ends ([`Instant::MAX`]: never).
    lifetime: Instant,
    /// ENDPOINT_UNREACHABLE reports counted since the PE last answered a
    /// keep-alive.
    reports: u32,
    /// The next keep-alive carries H=1 (after a takeover).
    claim_home: bool,
}

/// Why an ENRP-side operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RegistrarError {
    /// The handlespace refused it (capacity, inconsistency, invalid values).
    Handlespace(HandlespaceError),
    /// The owned-PE table is full.
    OwnedTableFull,
    /// The pool handle is empty or too long.
    InvalidPoolHandle,
    /// An opaque user transport or an unknown policy type: the handlespace
    /// cannot store it.
    Unsupported,
    /// A peer's update names this registrar as the owner.
    OwnServerId,
}

impl fmt::Display for RegistrarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrarError::Handlespace(e) => write!(f, "{e}"),
            RegistrarError::OwnedTableFull => f.write_str("owned pool element table full"),
            RegistrarError::InvalidPoolHandle => f.write_str("invalid pool handle"),
            RegistrarError::Unsupported => {
                f.write_str("opaque transport or unknown policy not supported")
            }
            RegistrarError::OwnServerId => f.write_str("update names this registrar as owner"),
        }
    }
}

impl core::error::Error for RegistrarError {}

impl From<HandlespaceError> for RegistrarError {
    fn from(e: HandlespaceError) -> Self {
        RegistrarError::Handlespace(e)
    }
}

/// A PE parameter converted for the handlespace: the user transport's
/// addresses copied into fixed storage.
struct Converted {
    policy: Policy,
    user_protocol: TransportProtocol,
    user_port: u16,
    user_use: TransportUse,
    user_service_code: u32,
    user_addrs: [IpAddr; MAX_TRANSPORT_ADDRESSES],
    user_len: usize,
    asap: Option<(u16, [IpAddr; MAX_TRANSPORT_ADDRESSES], usize)>,
}

const UNSPECIFIED: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl Converted {
    fn new(pe: &PoolElementParam<'_>) -> Option<Self> {
        let UserTransport::Transport(t) = &pe.user_transport else {
            return None;
        };
        let policy = pe.policy.policy()?;
        let mut user_addrs = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
        let mut user_len = 0;
        for (slot, a) in user_addrs.iter_mut().zip(t.addresses.iter()) {
            *slot = a;
            user_len += 1;
        }
        let asap = pe.asap_transport.as_ref().and_then(|a| {
            if a.protocol != TransportProtocol::Sctp {
                return None;
            }
            let mut addrs = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
            let mut n = 0;
            for (slot, x) in addrs.iter_mut().zip(a.addresses.iter()) {
                *slot = x;
                n += 1;
            }
            Some((a.port, addrs, n))
        });
        Some(Converted {
            policy,
            user_protocol: t.protocol,
            user_port: t.port,
            user_use: t.transport_use,
            user_service_code: t.service_code,
            user_addrs,
            user_len,
            asap,
        })
    }

    fn user(&self) -> TransportAddress<'_> {
        TransportAddress {
            protocol: self.user_protocol,
            port: self.user_port,
            transport_use: self.user_use,
            service_code: self.user_service_code,
            addresses: &self.user_addrs[..self.user_len],
        }
    }

    fn asap(&self) -> Option<TransportAddress<'_>> {
        self.asap.as_ref().map(|(port, addrs, n)| TransportAddress {
            protocol: TransportProtocol::Sctp,
            port: *port,
            transport_use: TransportUse::DataOnly,
            service_code: 0,
            addresses: &addrs[..*n],
        })
    }
}

/// Where a reply to `source` goes.
fn reply_to(source: Source) -> Destination {
    match source {
        Source::Association(a) => Destination::Association(a),
        Source::Datagram(addr) => Destination::Address(addr),
    }
}

/// The first top-level parameter of type `ty` in an ASAP message of
/// `fixed` bytes of fixed fields (the complete TLV, without padding).
fn find_tlv(message: &[u8], fixed: usize, ty: u16) -> Option<&[u8]> {
    let end =
        usize::from(u16::from_be_bytes([*message.get(2)?, *message.get(3)?])).min(message.len());
    let mut pos = 4 + fixed;
    while pos + TLV_HEADER_LEN <= end {
        let t = u16::from_be_bytes([message[pos], message[pos + 1]]);
        let len = usize::from(u16::from_be_bytes([message[pos + 2], message[pos + 3]]));
        if len < TLV_HEADER_LEN || pos + len > end {
            return None;
        }
        if t == ty {
            return message.get(pos..pos + len);
        }
        pos += padded(len);
    }
    None
}

/// The registrar's ASAP side; see the [module documentation](self).
///
/// `B` and `S` choose the handlespace's index backend and storage; `OWNED`
/// (power of two up to 65,536; with `alloc` any number) bounds the PEs this
/// registrar owns, `ASSOCS` (power of
/// two) the associations it knows, `QUEUE` the transmit queue in bytes and
/// `EVENTS` the event queue.
pub struct Registrar<
    B: Backend,
    S: Storage,
    const OWNED: usize = 1024,
    const ASSOCS: usize = 256,
    const QUEUE: usize = 65536,
    const EVENTS: usize = 32,
> {
    config: RegistrarConfig,
    hs: Handlespace<B, S>,
    owned: owned::OwnedTable<PeRef, OwnedPe, OWNED>,
    assocs: FnvIndexMap<AssocId, SocketAddr, ASSOCS>,
    /// Keyed by PE; PEs sharing an ASAP address share one connect.
    connects: FnvIndexMap<PeRef, PeConnect, MAX_PE_CONNECTS>,
    limiter: ReportLimiter,
    queue: TransmitQueue<QUEUE, QUEUE_MESSAGES>,
    events: Deque<Event, EVENTS>,
    rng: Xoshiro256StarStar,
    next_announce: Instant,
    stats: Stats,
    enrp: enrp::EnrpState,
}

impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > fmt::Debug for Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registrar")
            .field("server_id", &self.config.server_id)
            .field("handlespace", &self.hs)
            .field("owned", &self.owned.len())
            .field("queued", &self.queue.len())
            .finish()
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
    /// A registrar with an empty handlespace. The first SERVER_ANNOUNCE (if
    /// enabled) is due at once: `poll_timeout` returns [`Instant::ZERO`].
    pub fn new(config: RegistrarConfig) -> Self {
        let enrp = enrp::EnrpState::new(&config.enrp);
        Registrar {
            rng: Xoshiro256StarStar::seed_from_u64(config.seed),
            config,
            hs: Handlespace::new(),
            owned: owned::OwnedTable::new(),
            assocs: FnvIndexMap::new(),
            connects: FnvIndexMap::new(),
            limiter: ReportLimiter::default(),
            queue: TransmitQueue::new(),
            events: Deque::new(),
            next_announce: Instant::ZERO,
            stats: Stats::default(),
            enrp,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }
    /// This registrar's identifier.
    pub fn server_id(&self) -> ServerId {
        self.config.server_id
    }
    /// The handlespace (read only: changes go through the registrar so that
    /// its timers, owned-PE table and events stay consistent).
    pub fn handlespace(&self) -> &Handlespace<B, S> {
        &self.hs
    }
    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// The next event for the application or the ENRP layer.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
    /// The number of PEs this registrar owns.
    pub fn owned_count(&self) -> usize {
        self.owned.len()
    }
    /// The remote address of a known association.
    pub fn association_remote(&self, assoc: AssocId) -> Option<SocketAddr> {
        self.assocs.get(&assoc).copied()
    }
    /// ENDPOINT_UNREACHABLE reports counted against an owned PE since it
    /// last answered a keep-alive.
    pub fn unreachable_reports(&self, pool_handle: &PoolHandle, pe_id: PeId) -> Option<u32> {
        let r = self.hs.lookup(pool_handle, pe_id)?.pe_ref();
        self.owned.get(&r).map(|o| o.reports)
    }
    /// When the registration life of an owned PE ends ([`Instant::MAX`]: never).
    pub fn lifetime_deadline(&self, pool_handle: &PoolHandle, pe_id: PeId) -> Option<Instant> {
        let r = self.hs.lookup(pool_handle, pe_id)?.pe_ref();
        self.owned.get(&r).map(|o| o.lifetime)
    }

    // ----- ENRP hooks -----------------------------------------------------

    /// Changes the interval between SERVER_ANNOUNCEs (e.g. to (N+1)·T6 once
    /// N other registrars are known); the next one is due one new interval
    /// after the last.
    pub fn set_announce_interval(&mut self, interval: Duration) {
        let last = self.next_announce - self.config.announce_interval;
        self.config.announce_interval = interval;
        if self.next_announce != Instant::ZERO {
            self.next_announce = last + interval;
        }
    }

    /// The PE checksum over the PEs this registrar owns (RFC 5353 §3.6.2).
    pub fn own_checksum(&self) -> u16 {
        self.hs.owner_checksum(self.config.server_id)
    }
    /// The PE checksum over the PEs `peer` owns in this handlespace.
    pub fn peer_checksum(&self, peer: ServerId) -> u16 {
        self.hs.owner_checksum(peer)
    }
    /// A cursor over the PEs this registrar owns, for
    /// [`Handlespace::next_owned`] (HANDLE_TABLE_RESPONSE pages).
    pub fn owned_cursor(&self) -> OwnershipCursor {
        OwnershipCursor::new(self.config.server_id)
    }

    /// Applies a peer's ENRP_HANDLE_UPDATE ADD_PE: adds or updates a PE
    /// owned by `owner`, with the same checks as a registration. The PE runs
    /// a lifetime timer only and has no association here. A PE this
    /// registrar owned moves to `owner` (it registered there since). No
    /// event is raised.
    pub fn apply_peer_update(
        &mut self,
        now: Instant,
        owner: ServerId,
        pool_handle: &[u8],
        pe: &PoolElementParam<'_>,
    ) -> Result<RegisterOutcome, RegistrarError> {
        if owner == self.config.server_id {
            return Err(RegistrarError::OwnServerId);
        }
        let handle = PoolHandle::new(pool_handle).map_err(|_| RegistrarError::InvalidPoolHandle)?;
        let c = Converted::new(pe).ok_or(RegistrarError::Unsupported)?;
        let reg = Registration {
            pool_handle: handle,
            pe_id: pe.pe_id,
            home_registrar: Some(owner),
            registration_life: pe.registration_life,
            user_transport: c.user(),
            policy: c.policy,
            asap_transport: c.asap(),
            assoc: AssocId::NONE,
        };
        let outcome = self.hs.register(now, &reg)?;
        let r = outcome.pe();
        self.owned.swap_remove(&r);
        self.connects.swap_remove(&r);
        Ok(outcome)
    }

    /// Applies a peer's ENRP_HANDLE_UPDATE DEL_PE: removes the PE if `owner`
    /// owns it here; `false` if not (unknown PEs are ignored, RFC 5353 §3.3).
    pub fn apply_peer_delete(&mut self, owner: ServerId, pool_handle: &[u8], pe_id: PeId) -> bool {
        let Ok(handle) = PoolHandle::new(pool_handle) else {
            return false;
        };
        let Some(r) = self
            .hs
            .lookup(&handle, pe_id)
            .filter(|v| v.home_registrar() == Some(owner) && owner != self.config.server_id)
            .map(|v| v.pe_ref())
        else {
            return false;
        };
        self.owned.swap_remove(&r);
        self.connects.swap_remove(&r);
        self.hs.remove(r).is_ok()
    }

    /// ENRP takeover (RFC 5353 §3.5): makes this registrar the home of every
    /// PE `from` owned, and sends each a point-to-point ENDPOINT_KEEP_ALIVE
    /// with H=1 (as the transmit queue allows, through the keep-alive
    /// timers, due now): they have no association here yet, so one is
    /// opened to each PE's ASAP transport address first (see the
    /// [module documentation](self)). Their registration life restarts at
    /// `now`. Returns how
    /// many PEs moved; refused whole when the owned-PE table lacks room.
    pub fn take_over(&mut self, now: Instant, from: ServerId) -> Result<usize, RegistrarError> {
        let me = self.config.server_id;
        if from == me {
            return Ok(0);
        }
        let n = self.hs.owned_count(from);
        if self.owned.len() + n > OWNED {
            return Err(RegistrarError::OwnedTableFull);
        }
        let moved = self.hs.take_over(from, me);
        let mut cursor = OwnershipCursor::new(me);
        while let Some((r, life)) = self
            .hs
            .next_owned(&mut cursor)
            .map(|v| (v.pe_ref(), v.registration_life()))
        {
            if self.owned.contains_key(&r) {
                continue;
            }
            let state = OwnedPe {
                lifetime: lifetime_deadline(now, life),
                reports: 0,
                claim_home: true,
            };
            if self.owned.insert(r, state).is_err() {
                break;
            }
            let _ = self
                .hs
                .set_timer(r, PeTimerKind::KeepAliveTransmission, now);
        }
        Ok(moved)
    }

    /// ENRP: keeps a PE this registrar owns over a live association when a
    /// peer with a lower server id announces it as its own (crossing
    /// registrations, see the [ENRP module documentation](enrp)): sends the
    /// PE an ENDPOINT_KEEP_ALIVE with H=1 over that association (the PE
    /// adopts this registrar as home, RFC 5352 §3.4; answered within the
    /// keep-alive timeout, or sent by the keep-alive timer when the transmit
    /// queue is full) and returns the PE for a HANDLE_UPDATE re-asserting
    /// the ownership. `None` (nothing done) when the PE is not owned here
    /// over an association.
    pub(super) fn keep_home(
        &mut self,
        now: Instant,
        pool_handle: &[u8],
        pe_id: PeId,
    ) -> Option<PeRecord> {
        let handle = PoolHandle::new(pool_handle).ok()?;
        let me = Some(self.config.server_id);
        let (r, assoc, record) = self
            .hs
            .lookup(&handle, pe_id)
            .filter(|v| v.home_registrar() == me && v.assoc() != AssocId::NONE)
            .map(|v| (v.pe_ref(), v.assoc(), PeRecord::from_view(&v)))?;
        if !self.owned.contains_key(&r) {
            return None;
        }
        if self.push_keep_alive(r, Destination::Association(assoc), true) {
            if let Some(o) = self.owned.get_mut(&r) {
                o.claim_home = false;
            }
            let at = now + self.config.keep_alive_timeout;
            self.set_owned_timer(r, PeTimerKind::KeepAliveTimeout, at);
        } else {
            if let Some(o) = self.owned.get_mut(&r) {
                o.claim_home = true;
            }
            self.set_owned_timer(r, PeTimerKind::KeepAliveTransmission, now);
        }
        Some(record)
    }

    // ----- helpers ----------------------------------------------------------

    fn event(&mut self, e: Event) {
        self.enrp_forward(&e);
        if self.events.push_back(e).is_err() {
            self.stats.events_lost += 1;
        }
    }

    fn blocked(&mut self, what: Blocked) {
        self.stats.queue_full += 1;
        self.event(Event::QueueFull(what));
    }

    fn push(&mut self, destination: Destination, message: &AsapMessage<'_>) -> bool {
        match self.queue.push_asap(destination, message) {
            Ok(()) => true,
            Err(_) => {
                self.stats.queue_full += 1;
                false
            }
        }
    }

    /// A keep-alive interval varied uniformly over [0.5, 1.5) × `interval`.
    fn spread(&mut self, interval: Duration) -> Duration {
        let us = interval.as_micros();
        Duration::from_micros(us / 2 + below(&mut self.rng, us.max(1)))
    }

    /// Sets an owned PE's timer to `kind` at `at`, or to its lifetime expiry
    /// if that comes first.
    fn set_owned_timer(&mut self, pe: PeRef, kind: PeTimerKind, at: Instant) {
        let lifetime = self.owned.get(&pe).map_or(Instant::MAX, |o| o.lifetime);
        let _ = if lifetime <= at {
            self.hs.set_timer(pe, PeTimerKind::LifetimeExpiry, lifetime)
        } else {
            self.hs.set_timer(pe, kind, at)
        };
    }

    /// Arms the periodic timer of an owned PE after a registration or an
    /// answered keep-alive.
    fn arm_owned(&mut self, now: Instant, pe: PeRef) {
        match self.config.keep_alive_interval {
            Some(interval) => {
                let at = now + self.spread(interval);
                self.set_owned_timer(pe, PeTimerKind::KeepAliveTransmission, at);
            }
            None => {
                let lifetime = self.owned.get(&pe).map_or(Instant::MAX, |o| o.lifetime);
                if lifetime == Instant::MAX {
                    self.hs.cancel_timer(pe);
                } else {
                    let _ = self.hs.set_timer(pe, PeTimerKind::LifetimeExpiry, lifetime);
                }
            }
        }
    }

    /// Where the registrar reaches a PE: its association, else its ASAP
    /// transport address.
    fn pe_destination(view: &PeView<'_, B, S>) -> Option<Destination> {
        if view.assoc() != AssocId::NONE {
            return Some(Destination::Association(view.assoc()));
        }
        let mut buf = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
        let t = view.asap_transport(&mut buf)?;
        let ip = *t.addresses.first()?;
        Some(Destination::Address(SocketAddr::new(ip, t.port)))
    }

    /// Whether association `assoc` may (re-)register or answer for this PE.
    fn may_claim(&self, view: &PeView<'_, B, S>, assoc: AssocId) -> bool {
        if view.assoc() == assoc {
            return true;
        }
        let Some(remote) = self.assocs.get(&assoc) else {
            return false;
        };
        if view.assoc() != AssocId::NONE {
            // The same host over a second association: after a takeover
            // this registrar opened one to the PE (ENDPOINT_KEEP_ALIVE with
            // H=1) while the PE's own was still up, and the PE registers
            // over either.
            return self
                .assocs
                .get(&view.assoc())
                .is_some_and(|old| old.ip() == remote.ip());
        }
        let mut any = false;
        for a in view.asap_addresses() {
            any = true;
            if a == remote.ip() {
                return true;
            }
        }
        !any
    }

    /// Removes an owned PE with an event.
    fn remove_owned(&mut self, pe: PeRef, reason: RemovalReason) {
        self.connects.swap_remove(&pe);
        let Some(record) = self.hs.get(pe).map(|v| PeRecord::from_view(&v)) else {
            self.owned.swap_remove(&pe);
            return;
        };
        self.owned.swap_remove(&pe);
        let _ = self.hs.remove(pe);
        match reason {
            RemovalReason::Deregistered => self.stats.removed_deregistered += 1,
            RemovalReason::LifetimeExpired => self.stats.removed_lifetime += 1,
            RemovalReason::KeepAliveTimeout => self.stats.removed_keep_alive += 1,
            RemovalReason::Unreachable => self.stats.removed_unreachable += 1,
            RemovalReason::TransportFailure => self.stats.removed_transport += 1,
        }
        net_debug!(
            "registrar: removed {} {} ({:?})",
            record.pool_handle,
            record.pe_id,
            reason
        );
        self.event(Event::PoolElementRemoved { pe: record, reason });
    }

    /// Tells an owned PE that its registration ends here: an unsolicited
    /// DEREGISTRATION_RESPONSE (as on lifetime expiry), so that a PE that is
    /// still alive registers again.
    fn notify_removed(&mut self, pe: PeRef) {
        let info = self
            .hs
            .get(pe)
            .map(|v| (*v.pool_handle(), v.pe_id(), Self::pe_destination(&v)));
        if let Some((handle, pe_id, Some(dest))) = info {
            let msg = AsapMessage::DeregistrationResponse {
                pool_handle: handle.as_bytes(),
                pe_id,
                error: None,
            };
            self.push(dest, &msg);
        }
    }

    /// Sends an ENDPOINT_KEEP_ALIVE to an owned PE: over its association,
    /// or, without one, over an association opened to its ASAP transport
    /// address first.
    fn send_keep_alive(&mut self, pe: PeRef, home: bool) -> KeepAlive {
        let Some(dest) = self.hs.get(pe).and_then(|v| Self::pe_destination(&v)) else {
            return KeepAlive::Failed;
        };
        let Destination::Address(remote) = dest else {
            return if self.push_keep_alive(pe, dest, home) {
                KeepAlive::Sent
            } else {
                KeepAlive::Failed
            };
        };
        if let Some(c) = self.connects.get_mut(&pe) {
            c.home |= home;
            return KeepAlive::Connecting;
        }
        // A connect to the same address in flight carries this one too.
        let requested = self
            .connects
            .values()
            .any(|c| c.remote == remote && c.requested);
        let c = PeConnect {
            remote,
            home,
            requested,
        };
        if self.connects.insert(pe, c).is_err() {
            self.stats.pe_connects_deferred += 1;
            return KeepAlive::Deferred;
        }
        KeepAlive::Connecting
    }

    /// Queues an ENDPOINT_KEEP_ALIVE for a PE to `dest`.
    fn push_keep_alive(&mut self, pe: PeRef, dest: Destination, home: bool) -> bool {
        let Some((handle, pe_id)) = self.hs.get(pe).map(|v| (*v.pool_handle(), v.pe_id())) else {
            return false;
        };
        let msg = AsapMessage::EndpointKeepAlive {
            home,
            server_id: self.config.server_id,
            pool_handle: handle.as_bytes(),
            pe_id: Some(pe_id),
        };
        let sent = self.push(dest, &msg);
        if sent {
            self.stats.keep_alives_sent += 1;
        }
        sent
    }

    /// Reports the "skip and report" parameters of a processed message.
    fn report_unrecognized(&mut self, dest: Destination, bytes: &[u8]) {
        let mut causes: [ErrorCause<'_>; MAX_REPORTED_PARAMETERS] =
            [ErrorCause::new(CauseCode::Unspecified); MAX_REPORTED_PARAMETERS];
        let n = ErrorCause::skipped_reports(Protocol::Asap, bytes, &mut causes);
        if n > 0 {
            self.send_error(dest, &causes[..n]);
        }
    }

    fn send_error(&mut self, dest: Destination, causes: &[ErrorCause<'_>]) {
        let msg = AsapMessage::Error {
            error: OperationError::new(causes),
        };
        if self.push(dest, &msg) {
            self.stats.errors_sent += 1;
        } else {
            self.event(Event::QueueFull(Blocked::Message(asap_type::ERROR)));
        }
    }

    fn parse_failed(&mut self, source: Source, bytes: &[u8], e: wire::Error) {
        if let Some(c) = ErrorCause::reporting(&e, bytes) {
            self.send_error(reply_to(source), &[c]);
            return;
        }
        if is_invalid_value(&e)
            && bytes.first() == Some(&asap_type::REGISTRATION)
            && self.reject_invalid_registration(source, bytes)
        {
            net_debug!("registrar: registration refused: {}", e);
            return;
        }
        net_debug!("registrar: dropped malformed input: {}", e);
        self.stats.malformed += 1;
    }

    /// Answers a REGISTRATION that failed to parse on a value (more than
    /// [`MAX_TRANSPORT_ADDRESSES`] addresses, say) with a rejection carrying
    /// Invalid Values and the Pool Element parameter (RFC 5352 §3.1), so
    /// that the PE learns why instead of timing out. Returns false when the
    /// pool handle or PE id cannot be read (then the message is malformed).
    fn reject_invalid_registration(&mut self, source: Source, bytes: &[u8]) -> bool {
        let Some(handle) =
            find_tlv(bytes, 0, param_type::POOL_HANDLE).and_then(|t| t.get(TLV_HEADER_LEN..))
        else {
            return false;
        };
        if PoolHandle::new(handle).is_err() {
            return false;
        }
        let Some(pe_tlv) = find_tlv(bytes, 0, param_type::POOL_ELEMENT) else {
            return false;
        };
        let Some(pe_id) = pe_tlv
            .get(TLV_HEADER_LEN..TLV_HEADER_LEN + 4)
            .and_then(|b| PeId::new(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok())
        else {
            return false;
        };
        if !self
            .queue
            .has_room(registration_response_len(handle.len(), pe_tlv.len()))
        {
            self.blocked(Blocked::Message(asap_type::REGISTRATION));
            return true;
        }
        let invalid = ErrorCause::invalid_values(pe_tlv);
        self.reject_registration(reply_to(source), handle, pe_id, invalid);
        true
    }

    // ----- registration ----------------------------------------------------

    fn reject_registration(
        &mut self,
        dest: Destination,
        pool_handle: &[u8],
        pe_id: PeId,
        cause: ErrorCause<'_>,
    ) {
        let code = cause.code;
        let causes = [cause];
        let msg = AsapMessage::RegistrationResponse {
            rejected: true,
            pool_handle,
            pe_id,
            error: Some(OperationError::new(&causes)),
        };
        if self.push(dest, &msg) {
            if let Some(c) = self.stats.rejections.get_mut(usize::from(code.code())) {
                *c += 1;
            }
            net_debug!(
                "registrar: registration of {} refused: {}",
                pe_id,
                code.name()
            );
        }
    }

    fn on_registration(
        &mut self,
        now: Instant,
        source: Source,
        bytes: &[u8],
        pool_handle: &[u8],
        pe: &PoolElementParam<'_>,
    ) -> bool {
        let dest = reply_to(source);
        let Ok(handle) = PoolHandle::new(pool_handle) else {
            self.stats.malformed += 1;
            return false;
        };
        // The largest answer: a rejection carrying the PE (Invalid Values)
        // or the pool's transport (Inconsistent Transport Type).
        let mut buf = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
        let pool_transport = self
            .hs
            .pool(&handle)
            .and_then(|p| p.elements().next())
            .map_or(0, |v| to_param(&v.user_transport(&mut buf)).buffer_len());
        let worst =
            registration_response_len(pool_handle.len(), pe.buffer_len().max(pool_transport));
        if !self.queue.has_room(worst) {
            self.blocked(Blocked::Message(asap_type::REGISTRATION));
            return false;
        }
        let pe_tlv = find_tlv(bytes, 0, param_type::POOL_ELEMENT).unwrap_or(&[]);
        let invalid = ErrorCause::invalid_values(pe_tlv);
        let Source::Association(assoc) = source else {
            let c = ErrorCause::new(CauseCode::RejectedSecurityConsiderations);
            self.reject_registration(dest, pool_handle, pe.pe_id, c);
            return true;
        };
        let existing = self.hs.lookup(&handle, pe.pe_id).map(|v| {
            let ok = self.may_claim(&v, assoc);
            (v.pe_ref(), ok)
        });
        if let Some((_, false)) = existing {
            let c = ErrorCause::new(CauseCode::RejectedSecurityConsiderations);
            self.reject_registration(dest, pool_handle, pe.pe_id, c);
            return true;
        }
        let Some(c) = Converted::new(pe) else {
            self.reject_registration(dest, pool_handle, pe.pe_id, invalid);
            return true;
        };
        let life = pe.registration_life;
        let life_ok = match self.config.max_registration_life_ms {
            _ if life >= 0 && (life as u32) < self.config.min_registration_life_ms => false,
            Some(max) => life >= 0 && life as u32 <= max,
            None => true,
        };
        if !life_ok {
            self.reject_registration(dest, pool_handle, pe.pe_id, invalid);
            return true;
        }
        let already_owned = existing.is_some_and(|(r, _)| self.owned.contains_key(&r));
        if !already_owned && self.owned.len() >= OWNED {
            let c = ErrorCause::new(CauseCode::LackOfResources);
            self.reject_registration(dest, pool_handle, pe.pe_id, c);
            return true;
        }
        let remote = self.assocs.get(&assoc).copied();
        let remote_ip = remote.map(|r| [r.ip()]);
        let asap = match (&remote, &remote_ip) {
            (Some(r), Some(ip)) => Some(TransportAddress {
                protocol: TransportProtocol::Sctp,
                port: r.port(),
                transport_use: TransportUse::DataOnly,
                service_code: 0,
                addresses: ip,
            }),
            _ => c.asap(),
        };
        let reg = Registration {
            pool_handle: handle,
            pe_id: pe.pe_id,
            home_registrar: Some(self.config.server_id),
            registration_life: life,
            user_transport: c.user(),
            policy: c.policy,
            asap_transport: asap,
            assoc,
        };
        match self.hs.register(now, &reg) {
            Ok(outcome) => {
                let r = outcome.pe();
                let state = OwnedPe {
                    lifetime: lifetime_deadline(now, life),
                    reports: 0,
                    claim_home: false,
                };
                if self.owned.insert(r, state).is_err() {
                    // Checked above; keep the handlespace consistent anyway.
                    let _ = self.hs.remove(r);
                    let c = ErrorCause::new(CauseCode::LackOfResources);
                    self.reject_registration(dest, pool_handle, pe.pe_id, c);
                    return true;
                }
                self.arm_owned(now, r);
                let msg = AsapMessage::RegistrationResponse {
                    rejected: false,
                    pool_handle,
                    pe_id: pe.pe_id,
                    error: None,
                };
                self.push(dest, &msg);
                let new = matches!(outcome, RegisterOutcome::Added(_));
                if new {
                    self.stats.registrations += 1;
                } else {
                    self.stats.reregistrations += 1;
                }
                if let Some(record) = self.hs.get(r).map(|v| PeRecord::from_view(&v)) {
                    net_debug!(
                        "registrar: registered {} {}",
                        record.pool_handle,
                        record.pe_id
                    );
                    self.event(Event::PoolElementRegistered { pe: record, new });
                }
            }
            Err(e) => {
                self.reject_handlespace_error(dest, &handle, pool_handle, pe.pe_id, e, invalid)
            }
        }
        true
    }

    fn reject_handlespace_error(
        &mut self,
        dest: Destination,
        handle: &PoolHandle,
        pool_handle: &[u8],
        pe_id: PeId,
        e: HandlespaceError,
        invalid: ErrorCause<'_>,
    ) {
        let mut buf = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
        let first = self.hs.pool(handle).and_then(|p| p.elements().next());
        let policy = first.map(|v| v.policy());
        let transport = first.map(|v| v.user_transport(&mut buf));
        let cause = match e {
            HandlespaceError::InconsistentPoolingPolicy { .. } => match policy {
                Some(p) => ErrorCause::inconsistent_policy(PolicyParam::Known(p)),
                None => ErrorCause::new(CauseCode::InconsistentPoolingPolicy),
            },
            HandlespaceError::InconsistentTransportType { .. } => match &transport {
                Some(t) => ErrorCause::inconsistent_transport(to_param(t)),
                None => ErrorCause::new(CauseCode::InconsistentTransportType),
            },
            HandlespaceError::InvalidTransport(_)
            | HandlespaceError::InvalidAsapTransport
            | HandlespaceError::InvalidRegistrationLife(_) => invalid,
            other => ErrorCause::new(other.cause()),
        };
        self.reject_registration(dest, pool_handle, pe_id, cause);
    }

    // ----- deregistration --------------------------------------------------

    fn on_deregistration(&mut self, source: Source, pool_handle: &[u8], pe_id: PeId) -> bool {
        let dest = reply_to(source);
        let len = 4 + padded(TLV_HEADER_LEN + pool_handle.len()) + 8 + 12;
        if !self.queue.has_room(len) {
            self.blocked(Blocked::Message(asap_type::DEREGISTRATION));
            return false;
        }
        let Ok(handle) = PoolHandle::new(pool_handle) else {
            self.stats.malformed += 1;
            return false;
        };
        let found = self.hs.lookup(&handle, pe_id).map(|v| {
            let allowed = matches!(source, Source::Association(a) if v.assoc() == a);
            (v.pe_ref(), allowed)
        });
        // A deregistration must come over the registration association; one
        // arriving as a datagram is refused even for an unknown PE.
        let refused =
            matches!(found, Some((_, false))) || !matches!(source, Source::Association(_));
        let causes = [ErrorCause::new(CauseCode::RejectedSecurityConsiderations)];
        let msg = AsapMessage::DeregistrationResponse {
            pool_handle,
            pe_id,
            error: refused.then(|| OperationError::new(&causes)),
        };
        self.push(dest, &msg);
        if refused {
            self.stats.deregistrations_refused += 1;
            return true;
        }
        self.stats.deregistrations += 1;
        if let Some((r, _)) = found {
            self.remove_owned(r, RemovalReason::Deregistered);
        }
        true
    }

    // ----- handle resolution -----------------------------------------------

    fn on_handle_resolution(
        &mut self,
        source: Source,
        pool_handle: &[u8],
        items: Option<u32>,
    ) -> bool {
        let dest = reply_to(source);
        let Ok(handle) = PoolHandle::new(pool_handle) else {
            self.stats.malformed += 1;
            return false;
        };
        let Some(pool_len) = self.hs.pool(&handle).map(|p| p.len()) else {
            let causes = [ErrorCause::new(CauseCode::UnknownPoolHandle)];
            let msg = AsapMessage::HandleResolutionResponse {
                accept_updates: false,
                pool_handle,
                policy: None,
                elements: List::empty(),
                error: Some(OperationError::new(&causes)),
            };
            if self.push(dest, &msg) {
                self.stats.resolutions_unknown_pool += 1;
                return true;
            }
            self.event(Event::QueueFull(Blocked::Message(
                asap_type::HANDLE_RESOLUTION,
            )));
            return false;
        };
        let asked = match items {
            None | Some(0) => u32::MAX,
            Some(n) => n,
        };
        let want = (asked.min(self.config.max_handle_resolution_items) as usize)
            .min(MAX_RESOLUTION_ITEMS)
            .min(pool_len)
            .max(1);
        // Room for an answer with one PE of the largest size is required
        // before anything changes; the answer then carries as many of the
        // selected PEs as the queue takes (at least that one).
        let head = 4 + padded(TLV_HEADER_LEN + pool_handle.len()) + MAX_POLICY_LEN;
        let largest = pe_param_len(self.hs.widest_transport()).min(MAX_PE_PARAM_LEN);
        if !self.queue.has_room(head + largest) {
            self.blocked(Blocked::Message(asap_type::HANDLE_RESOLUTION));
            return false;
        }
        let mut refs = [PeRef::default(); MAX_RESOLUTION_ITEMS];
        let got = self
            .hs
            .resolve(&handle, want, &mut self.rng, &mut refs[..want])
            .unwrap_or_default();
        let overall = refs[..got]
            .first()
            .and_then(|r| self.hs.get(*r))
            .map(|v| PolicyParam::Known(v.policy()));
        let mut sizes = [0u16; MAX_RESOLUTION_ITEMS];
        let mut len = 4 + padded(TLV_HEADER_LEN + pool_handle.len());
        len += overall.map_or(0, |p| p.buffer_len());
        let mut count = 0;
        for (r, size) in refs[..got].iter().zip(sizes.iter_mut()) {
            let Some(v) = self.hs.get(*r) else { break };
            let n = with_pe_param(&v, |p| p.buffer_len());
            // One message has a 16-bit length.
            if len + n > usize::from(u16::MAX) {
                break;
            }
            *size = n as u16;
            len += n;
            count += 1;
        }
        while count > 1 && !self.queue.has_room(len) {
            count -= 1;
            len -= usize::from(sizes[count]);
        }
        let hs = &self.hs;
        let refs = &refs[..count];
        let written = self.queue.push_with(dest, Protocol::Asap, len, |buf| {
            let mut pos = write_header(buf, asap_type::HANDLE_RESOLUTION_RESPONSE, 0, len)?;
            pos += write_tlv(&mut buf[pos..], param_type::POOL_HANDLE, pool_handle)?;
            if let Some(p) = overall {
                pos += p.emit(&mut buf[pos..])?;
            }
            for r in refs {
                if let Some(v) = hs.get(*r) {
                    pos += with_pe_param(&v, |p| p.emit(&mut buf[pos..]))?;
                }
            }
            Ok(pos)
        });
        match written {
            Ok(()) => {
                self.stats.resolutions += 1;
                true
            }
            Err(_) => {
                self.blocked(Blocked::Message(asap_type::HANDLE_RESOLUTION));
                false
            }
        }
    }

    // ----- keep-alive and unreachable ---------------------------------------

    fn on_keep_alive_ack(&mut self, now: Instant, source: Source, pool_handle: &[u8], pe_id: PeId) {
        let Source::Association(assoc) = source else {
            self.stats.keep_alive_acks_ignored += 1;
            return;
        };
        let Ok(handle) = PoolHandle::new(pool_handle) else {
            self.stats.keep_alive_acks_ignored += 1;
            return;
        };
        let me = Some(self.config.server_id);
        let found = self.hs.lookup(&handle, pe_id).and_then(|v| {
            (v.home_registrar() == me && self.may_claim(&v, assoc))
                .then(|| (v.pe_ref(), v.assoc(), v.timer()))
        });
        let Some((r, pe_assoc, timer)) = found else {
            self.stats.keep_alive_acks_ignored += 1;
            return;
        };
        if !self.owned.contains_key(&r) {
            self.stats.keep_alive_acks_ignored += 1;
            return;
        }
        if pe_assoc != assoc && !self.reassociate(now, r, assoc) {
            self.stats.keep_alive_acks_ignored += 1;
            return;
        }
        self.stats.keep_alive_acks += 1;
        // The PE answered: the reports counted so far are disproved.
        if let Some(state) = self.owned.get_mut(&r) {
            state.reports = 0;
        }
        if matches!(timer, Some((PeTimerKind::KeepAliveTimeout, _))) || pe_assoc != assoc {
            self.arm_owned(now, r);
        }
    }

    /// An ASAP association came up: if it is one opened to a PE, it becomes
    /// the PE's association and carries the keep-alive.
    fn pe_connected(&mut self, now: Instant, assoc: AssocId, remote: SocketAddr) {
        while let Some((pe, c)) = self
            .connects
            .iter()
            .find(|(_, c)| c.remote == remote && c.requested)
            .map(|(pe, c)| (*pe, *c))
        {
            self.connects.swap_remove(&pe);
            let unbound = self.hs.get(pe).is_some_and(|v| v.assoc() == AssocId::NONE);
            // Bound meanwhile: it registered over its own association.
            if unbound && self.owned.contains_key(&pe) && self.reassociate(now, pe, assoc) {
                self.push_keep_alive(pe, Destination::Association(assoc), c.home);
                // Binding restarted its timer: the answer is due within the
                // keep-alive timeout.
                let at = now + self.config.keep_alive_timeout;
                self.set_owned_timer(pe, PeTimerKind::KeepAliveTimeout, at);
            }
        }
    }

    /// An association to a PE could not be opened: the PE cannot be
    /// reached, and goes (RFC 5352 §3.5).
    fn pe_connect_failed(&mut self, remote: SocketAddr) {
        let mut counted = false;
        while let Some(pe) = self
            .connects
            .iter()
            .find(|(_, c)| c.remote == remote && c.requested)
            .map(|(pe, _)| *pe)
        {
            self.connects.swap_remove(&pe);
            if !counted {
                self.stats.pe_connects_failed += 1;
                counted = true;
            }
            let unbound = self.hs.get(pe).is_some_and(|v| v.assoc() == AssocId::NONE);
            if unbound && self.owned.contains_key(&pe) {
                self.remove_owned(pe, RemovalReason::TransportFailure);
            }
        }
    }

    /// Binds a PE without association (taken over) to the association its
    /// KEEP_ALIVE_ACK came over.
    fn reassociate(&mut self, now: Instant, pe: PeRef, assoc: AssocId) -> bool {
        let mut ubuf = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
        let mut abuf = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
        let Some(v) = self.hs.get(pe) else {
            return false;
        };
        let reg = Registration {
            pool_handle: *v.pool_handle(),
            pe_id: v.pe_id(),
            home_registrar: v.home_registrar(),
            registration_life: v.registration_life(),
            user_transport: v.user_transport(&mut ubuf),
            policy: v.policy(),
            asap_transport: v.asap_transport(&mut abuf),
            assoc,
        };
        self.hs.register(now, &reg).is_ok()
    }

    fn on_unreachable(
        &mut self,
        now: Instant,
        source: Source,
        pool_handle: &[u8],
        pe_id: PeId,
    ) -> bool {
        if !self.queue.has_room(TIMER_MESSAGE_MAX) {
            self.blocked(Blocked::Message(asap_type::ENDPOINT_UNREACHABLE));
            return false;
        }
        if !self
            .limiter
            .allow(&self.config.unreachable_rate, source, now)
        {
            self.stats.unreachable_rate_limited += 1;
            return true;
        }
        let me = Some(self.config.server_id);
        let found = PoolHandle::new(pool_handle).ok().and_then(|h| {
            self.hs
                .lookup(&h, pe_id)
                .filter(|v| v.home_registrar() == me)
                .map(|v| (v.pe_ref(), v.timer()))
        });
        let Some((r, timer)) = found else {
            self.stats.unreachable_ignored += 1;
            return true;
        };
        let Some(state) = self.owned.get_mut(&r) else {
            self.stats.unreachable_ignored += 1;
            return true;
        };
        state.reports = state.reports.saturating_add(1);
        let reports = state.reports;
        self.stats.unreachable_reports += 1;
        if reports > self.config.max_bad_pe_reports {
            self.notify_removed(r);
            self.remove_owned(r, RemovalReason::Unreachable);
            return true;
        }
        let sent = matches!(
            self.send_keep_alive(r, false),
            KeepAlive::Sent | KeepAlive::Connecting
        );
        if sent && !matches!(timer, Some((PeTimerKind::KeepAliveTimeout, _))) {
            let at = now + self.config.keep_alive_timeout;
            self.set_owned_timer(r, PeTimerKind::KeepAliveTimeout, at);
        }
        true
    }

    // ----- timers -------------------------------------------------------------

    fn announce(&mut self) -> bool {
        let mut params: [Option<wire::TransportParam<'_>>; MAX_ANNOUNCE_TRANSPORTS] =
            [None; MAX_ANNOUNCE_TRANSPORTS];
        let mut n = 0;
        for (slot, t) in params
            .iter_mut()
            .zip(self.config.announce_transports.iter())
        {
            *slot = Some(wire::TransportParam::new(
                t.protocol,
                t.port,
                TransportUse::DataOnly,
                &t.addresses,
            ));
            n += 1;
        }
        let list: [wire::TransportParam<'_>; MAX_ANNOUNCE_TRANSPORTS] = [
            params[0].unwrap_or(EMPTY_TRANSPORT),
            params[1].unwrap_or(EMPTY_TRANSPORT),
        ];
        let msg = AsapMessage::ServerAnnounce {
            server_id: self.config.server_id,
            transports: List::from_slice(&list[..n]),
        };
        match self.queue.push_asap(Destination::Multicast, &msg) {
            Ok(()) => {
                self.stats.announces += 1;
                true
            }
            Err(_) => false,
        }
    }

    fn on_timer(&mut self, now: Instant, pe: PeRef, kind: PeTimerKind) {
        let owned = self.owned.get(&pe).copied();
        match (kind, owned) {
            (PeTimerKind::KeepAliveTransmission, Some(state)) => {
                if self.send_keep_alive(pe, state.claim_home) == KeepAlive::Deferred {
                    // Too many connects in flight: the keep-alive (with its
                    // H flag) waits.
                    let at = now + PE_CONNECT_RETRY;
                    self.set_owned_timer(pe, PeTimerKind::KeepAliveTransmission, at);
                    return;
                }
                if let Some(o) = self.owned.get_mut(&pe) {
                    o.claim_home = false;
                }
                let at = now + self.config.keep_alive_timeout;
                self.set_owned_timer(pe, PeTimerKind::KeepAliveTimeout, at);
            }
            (PeTimerKind::KeepAliveTimeout, Some(_)) => {
                self.remove_owned(pe, RemovalReason::KeepAliveTimeout);
            }
            (PeTimerKind::LifetimeExpiry, Some(_)) => {
                self.notify_removed(pe);
                self.remove_owned(pe, RemovalReason::LifetimeExpired);
            }
            (_, None) => {
                // A peer's PE: only its lifetime runs here.
                if self.hs.remove(pe).is_ok() {
                    self.stats.removed_lifetime += 1;
                }
            }
        }
    }
}

const EMPTY_TRANSPORT: wire::TransportParam<'static> =
    wire::TransportParam::new(TransportProtocol::Sctp, 0, TransportUse::DataOnly, &[]);

fn lifetime_deadline(now: Instant, life_ms: i32) -> Instant {
    if life_ms < 0 {
        Instant::MAX
    } else {
        now.saturating_add(Duration::from_millis(life_ms as u64))
    }
}

/// Calls `f` with the Pool Element parameter of a stored PE.
fn with_pe_param<B: Backend, S: Storage, R>(
    v: &PeView<'_, B, S>,
    f: impl FnOnce(&PoolElementParam<'_>) -> R,
) -> R {
    let mut ubuf = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
    let mut abuf = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
    let user = v.user_transport(&mut ubuf);
    let asap = v.asap_transport(&mut abuf);
    let p = PoolElementParam {
        pe_id: v.pe_id(),
        home_server: v.home_registrar(),
        registration_life: v.registration_life(),
        user_transport: UserTransport::Transport(to_param(&user)),
        policy: PolicyParam::Known(v.policy()),
        asap_transport: asap.as_ref().map(to_param),
    };
    f(&p)
}

fn write_header(buf: &mut [u8], ty: u8, flags: u8, len: usize) -> Result<usize, wire::Error> {
    let h = buf
        .get_mut(..4)
        .ok_or(wire::Error::BufferTooSmall { needed: len })?;
    let l = u16::try_from(len).map_err(|_| wire::Error::TooLong)?;
    h[0] = ty;
    h[1] = flags;
    h[2..4].copy_from_slice(&l.to_be_bytes());
    Ok(4)
}

fn write_tlv(buf: &mut [u8], ty: u16, value: &[u8]) -> Result<usize, wire::Error> {
    let len = TLV_HEADER_LEN + value.len();
    let total = padded(len);
    let out = buf
        .get_mut(..total)
        .ok_or(wire::Error::BufferTooSmall { needed: total })?;
    let l = u16::try_from(len).map_err(|_| wire::Error::TooLong)?;
    out[..2].copy_from_slice(&ty.to_be_bytes());
    out[2..4].copy_from_slice(&l.to_be_bytes());
    out[4..len].copy_from_slice(value);
    out[len..].fill(0);
    Ok(total)
}

impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Machine for Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    fn handle(&mut self, now: Instant, source: Source, protocol: Protocol, bytes: &[u8]) {
        if protocol == Protocol::Enrp {
            self.enrp_handle(now, source, bytes);
            return;
        }
        if source == Source::Association(AssocId::NONE) {
            // AssocId::NONE marks PEs without association; it names none.
            self.stats.unexpected += 1;
            return;
        }
        let msg = match AsapMessage::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.parse_failed(source, bytes, e);
                return;
            }
        };
        let processed = match msg {
            AsapMessage::Registration {
                pool_handle,
                pool_element,
            } => self.on_registration(now, source, bytes, pool_handle, &pool_element),
            AsapMessage::Deregistration { pool_handle, pe_id } => {
                self.on_deregistration(source, pool_handle, pe_id)
            }
            AsapMessage::HandleResolution {
                pool_handle, items, ..
            } => self.on_handle_resolution(source, pool_handle, items),
            AsapMessage::EndpointKeepAliveAck { pool_handle, pe_id } => {
                self.on_keep_alive_ack(now, source, pool_handle, pe_id);
                true
            }
            AsapMessage::EndpointUnreachable { pool_handle, pe_id } => {
                self.on_unreachable(now, source, pool_handle, pe_id)
            }
            AsapMessage::Error { error } => {
                // Logged only; never answered (no ERROR about an ERROR).
                net_debug!("registrar: ASAP_ERROR received: {:?}", error.code());
                let _ = error;
                false
            }
            _ => {
                self.stats.unexpected += 1;
                true
            }
        };
        if processed {
            self.report_unrecognized(reply_to(source), bytes);
        }
    }

    fn handle_transport_event(&mut self, now: Instant, event: TransportEvent) {
        match event {
            TransportEvent::Up {
                assoc,
                remote,
                protocol,
            } => {
                if self.assocs.insert(assoc, remote).is_err() {
                    net_warn!("registrar: association table full");
                }
                if protocol == Protocol::Asap {
                    self.pe_connected(now, assoc, remote);
                }
            }
            TransportEvent::Down { assoc } | TransportEvent::SendFailed { assoc }
                if assoc == AssocId::NONE => {}
            TransportEvent::Down { assoc } | TransportEvent::SendFailed { assoc } => {
                while let Some(r) = self.hs.by_association(assoc).next().map(|v| v.pe_ref()) {
                    if self.owned.contains_key(&r) {
                        self.remove_owned(r, RemovalReason::TransportFailure);
                    } else {
                        let _ = self.hs.remove(r);
                        self.stats.removed_transport += 1;
                    }
                }
                if matches!(event, TransportEvent::Down { .. }) {
                    self.assocs.swap_remove(&assoc);
                }
            }
            TransportEvent::ConnectFailed { remote } => self.pe_connect_failed(remote),
        }
        self.enrp_transport_event(now, event);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.enrp_timeout(now);
        if self.config.announce && self.next_announce <= now {
            if self.announce() {
                self.next_announce = now + self.config.announce_interval;
            } else {
                self.blocked(Blocked::Timers);
                return;
            }
        }
        while self.hs.next_timer().is_some_and(|t| t <= now) {
            if !self.queue.has_room(TIMER_MESSAGE_MAX) {
                self.blocked(Blocked::Timers);
                return;
            }
            let Some((pe, kind)) = self.hs.pop_due_timer(now) else {
                break;
            };
            self.on_timer(now, pe, kind);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let hs = self.hs.next_timer();
        let announce = self.config.announce.then_some(self.next_announce);
        [hs, announce, self.enrp_poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    fn poll_transmit(&mut self, buf: &mut [u8]) -> Result<Option<Transmit>, QueueError> {
        self.queue.pop_into(buf)
    }

    fn poll_connect(&mut self) -> Option<Connect> {
        if let Some(c) = self.enrp_poll_connect() {
            return Some(c);
        }
        let remote = self.connects.values().find(|c| !c.requested)?.remote;
        for c in self.connects.values_mut() {
            if c.remote == remote {
                c.requested = true;
            }
        }
        self.stats.pe_connects += 1;
        Some(Connect {
            remote,
            protocol: Protocol::Asap,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_top_level_parameters() {
        // Header, pool handle "ab" (padded), PE identifier.
        let m = [
            1, 0, 0, 20, 0, 9, 0, 6, b'a', b'b', 0, 0, 0, 0x0e, 0, 8, 0, 0, 0, 5,
        ];
        assert_eq!(find_tlv(&m, 0, param_type::POOL_HANDLE), Some(&m[4..10]));
        assert_eq!(find_tlv(&m, 0, param_type::PE_IDENTIFIER), Some(&m[12..20]));
        assert_eq!(find_tlv(&m, 0, param_type::POOL_ELEMENT), None);
        // A length running past the message stops the search.
        let mut bad = m;
        bad[7] = 40;
        assert_eq!(find_tlv(&bad, 0, param_type::PE_IDENTIFIER), None);
        assert_eq!(find_tlv(&[], 0, 9), None);
    }

    #[test]
    fn writes_tlvs_with_padding() {
        let mut buf = [0xAAu8; 12];
        assert_eq!(write_tlv(&mut buf, 9, b"abcde"), Ok(12));
        assert_eq!(buf, [0, 9, 0, 9, b'a', b'b', b'c', b'd', b'e', 0, 0, 0]);
        assert!(write_tlv(&mut buf[..8], 9, b"abcde").is_err());
        assert_eq!(write_header(&mut buf, 6, 0, 300), Ok(4));
        assert_eq!(&buf[..4], &[6, 0, 1, 44]);
        assert_eq!(
            write_header(&mut buf, 6, 0, 70_000),
            Err(wire::Error::TooLong)
        );
    }

    #[test]
    fn lifetime_deadlines() {
        let now = Instant::from_secs(10);
        assert_eq!(lifetime_deadline(now, -1), Instant::MAX);
        assert_eq!(lifetime_deadline(now, 0), now);
        assert_eq!(
            lifetime_deadline(now, 1_500),
            now + Duration::from_millis(1_500)
        );
    }

    #[test]
    fn keep_alive_spread_stays_within_half_either_way() {
        type R = Registrar<
            crate::storage::SortedList,
            crate::handlespace::Fixed<4, 2, 4, 2>,
            4,
            4,
            1024,
            4,
        >;
        let mut r: R = Registrar::new(RegistrarConfig::default().with_seed(3));
        let iv = Duration::from_secs(5);
        let (mut lo, mut hi) = (Duration::MAX, Duration::ZERO);
        for _ in 0..10_000 {
            let d = r.spread(iv);
            lo = lo.min(d);
            hi = hi.max(d);
        }
        assert!(lo >= Duration::from_millis(2_500) && lo < Duration::from_millis(2_600));
        assert!(hi < Duration::from_millis(7_500) && hi > Duration::from_millis(7_400));
        assert_eq!(r.spread(Duration::ZERO), Duration::ZERO);
    }
}
