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
//! # Where each procedure lives
//!
//! Every procedure is an `impl Registrar` block of its own, documented on
//! its functions:
//!
//! * `registration.rs`: ASAP_REGISTRATION and ASAP_DEREGISTRATION (RFC 5352
//!   §3.1-§3.2) with RFC 5355's association checks, and the unsolicited
//!   DEREGISTRATION_RESPONSE of a removed PE.
//! * `resolution.rs`: ASAP_HANDLE_RESOLUTION (§3.3).
//! * `keep_alive.rs`: ENDPOINT_KEEP_ALIVE and its ACK, ENDPOINT_UNREACHABLE,
//!   the PE timers and associations opened to PEs (§3.4-§3.5); see
//!   [`RegistrarConfig`] for how keep-alive and lifetime share the PE's timer.
//! * `announce.rs`: ASAP_SERVER_ANNOUNCE (§3.6,
//!   [`Registrar::set_announce_interval`]).
//! * `asap_error.rs`: unknown and malformed input, ASAP_ERROR (RFC 5354).
//! * `hooks.rs`: what the ENRP layer (and an application) calls:
//!   [`Registrar::apply_peer_update`], [`Registrar::apply_peer_delete`],
//!   [`Registrar::take_over`], [`Registrar::own_checksum`].
//! * `machine.rs`: the [`Machine`] implementation, which dispatches input,
//!   transport events and timers, and states what a full transmit queue
//!   does.
//! * `error.rs` ([`RegistrarError`]) and `convert.rs` (wire parameters into
//!   handlespace registrations and back).
//! * [`enrp`]: the registrar as an ENRP peer (RFC 5353), enabled with
//!   [`RegistrarConfig::enrp`]; with ENRP disabled (the default) ENRP
//!   messages are ignored and counted ([`Stats::enrp_ignored`]).
//!
//! Events never block protocol work: when the event queue is full, an event
//! is dropped and counted in [`Stats::events_lost`] (an ENRP layer then
//! repairs peers through the checksum audit, RFC 5353 §3.6).
//!
//! # Return routability
//!
//! A registrar must not be an amplifier: over UDP, a 12-byte
//! HANDLE_RESOLUTION with a forged source address would otherwise send
//! thousands of bytes (128 PEs) to the victim at that address. So no ASAP
//! answer larger than [`AMPLIFICATION_LIMIT`] (3) times its request goes to
//! a source whose return path is not verified (`routability.rs`):
//!
//! * **Verified paths**: an association the transport reported with
//!   [`TransportEvent::Up`]'s `verified` set (SCTP's and TCP's handshakes
//!   prove that the peer receives at its address), or one whose peer
//!   echoed this registrar's challenge. A UDP peer, an association never
//!   reported up, and every [`Source::Datagram`] are unverified.
//! * **The budget**: all answers to one message from an unverified source
//!   together (HANDLE_RESOLUTION_RESPONSE, REGISTRATION_RESPONSE,
//!   DEREGISTRATION_RESPONSE, ASAP_ERROR, the challenge itself) are at most
//!   three times the message's length. An answer that does not fit is
//!   withheld, never cut: a pool user would take a shortened list for the
//!   pool ([`Stats::answers_withheld`]). Small answers (Unknown Pool
//!   Handle, a REGISTRATION_RESPONSE, which is shorter than its
//!   registration) go out as usual. Messages that are no answers to the
//!   source (keep-alives and probes to PEs) are not charged.
//! * **The challenge**: in place of a withheld answer, the registrar sends
//!   an ASAP_COOKIE with a random challenge of [`MIN_CHALLENGE_LEN`] to
//!   [`CHALLENGE_LEN`] bytes, as long as the budget allows (so at most
//!   once per message, and never more than three times its length:
//!   24 bytes for the smallest, 12-byte, HANDLE_RESOLUTION;
//!   [`Stats::challenges_sent`]). The bytes are SipHash-2-4 of a counter
//!   under a 128-bit key drawn from the registrar's seeded generator
//!   ([`RegistrarConfig::seed`]) or given by the host
//!   ([`Registrar::set_challenge_key`]; the runtime keys it with the
//!   host's randomness). The association keeps one challenge, as its
//!   number and length (8 bytes with its verified flag), in its entry of
//!   the bounded association table (`ASSOCS` entries); the bytes are
//!   computed again to check an echo. Later challenges on it repeat the same bytes, so
//!   that several outstanding requests are verified by any one echo; a
//!   shorter budget gets a fresh, shorter challenge, which replaces it. A
//!   datagram source, or an association the full table does not hold, has
//!   nowhere to keep a challenge: its large answers are withheld only.
//! * **The echo**: an ASAP_COOKIE_ECHO with the association's current
//!   challenge marks it verified ([`Stats::paths_verified`]); from then on
//!   its answers are unrestricted. Any other echo is dropped and counted
//!   ([`Stats::echoes_rejected`]). An off-path sender with a forged address
//!   never sees the challenge, so it cannot echo it.
//! * **The clients** ([`asap_client`](crate::asap_client)): pool users and
//!   pool elements answer a challenge from their registrar at once and send
//!   the withheld request again, one round trip later than over a verified
//!   path. The ASAP_COOKIE a pool element sends a pool user (the session
//!   layer's cookie) is unrelated: a client treats only a cookie from a
//!   registrar association as a challenge.
//!
//! ENRP is not covered: it is answered only to trusted peers (see
//! [`enrp`], "Trust").

mod announce;
mod asap_error;
mod config;
mod convert;
pub mod enrp;
mod error;
mod event;
mod hooks;
mod keep_alive;
mod limiter;
mod machine;
mod owned;
mod registration;
mod resolution;
mod routability;

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use heapless::index_map::FnvIndexMap;
use heapless::index_set::FnvIndexSet;
use heapless::Deque;

pub use config::{
    AnnounceTransport, EnrpConfig, RegistrarConfig, ReportRate, MAX_ALLOWED_PEER_NETWORKS,
    MAX_ANNOUNCE_TRANSPORTS, MAX_HANDLE_TABLE_ELEMENTS, MAX_PEERS, MAX_RESOLUTION_ITEMS,
    MAX_SESSIONS,
};
pub use enrp::{EnrpEvent, EnrpStats, Peer, PeerState, MAX_TAKEOVERS};
pub use error::RegistrarError;
pub use event::{Blocked, Event, PeRecord, RemovalReason, Stats, TransportRecord};
pub use limiter::MAX_REPORTERS;
pub use routability::{AMPLIFICATION_LIMIT, CHALLENGE_LEN, MIN_CHALLENGE_LEN};

use crate::addr::{
    canonical_ip, TransportAddress, TransportProtocol, TransportUse, MAX_TRANSPORT_ADDRESSES,
};
use crate::cause::CauseCode;
use crate::handlespace::Fixed;
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
    Connect, Destination, Machine, Source, Transmit, TransmitQueue, TransportEvent,
};
use crate::wire::{
    self, asap_type, padded, parameter_len, AsapMessage, AsapType, ErrorCause, List,
    MessageBuilder, MessageHeader, OperationError, ParamType, PolicyParam, PoolElementParam,
    Protocol, Tlv, UserTransport, HEADER_LEN, TLV_HEADER_LEN,
};

use convert::{to_param, with_pe_param, Converted, UNSPECIFIED};
use limiter::ReportLimiter;
use owned::OwnedPe;
use routability::Answer;

/// The most messages the transmit queue holds at once.
///
/// Set at build time with the environment variable `RSERPOOL_REGISTRAR_QUEUE_MESSAGES` (4 to 65,536; default 256), as every limit in [the crate's list](crate#limits-set-at-build-time).
pub const QUEUE_MESSAGES: usize = crate::limits::REGISTRAR_QUEUE_MESSAGES;

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

/// Upper bound of a KEEP_ALIVE or DEREGISTRATION_RESPONSE (32-byte pool handle).
const TIMER_MESSAGE_MAX: usize = 4 + 4 + (4 + 32) + 8;

/// Where a reply to `source` goes.
fn reply_to(source: Source) -> Destination {
    match source {
        Source::Association(a) => Destination::Association(a),
        Source::Datagram(addr) => Destination::Address(addr),
    }
}

/// The most further peer addresses (besides the primary one) a registrar
/// keeps of one association
/// ([`TransportEvent::PeerAddress`](crate::transmit::TransportEvent)); the
/// table of all of them is as large as the association table, and an
/// address that finds it full is not kept
/// ([`Stats::peer_addresses_dropped`]).
pub const MAX_FURTHER_PEER_ADDRESSES: usize = 32;

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
    assocs: FnvIndexMap<AssocId, routability::AssocEntry, ASSOCS>,
    /// How many of `assocs` each remote host (IPv4-mapped as IPv4) has, so
    /// that the per-host quota walks the association table only for a host
    /// with several (never more entries than `assocs`).
    hosts: FnvIndexMap<IpAddr, u32, ASSOCS>,
    /// The answer budget of the ASAP message being handled, when it came
    /// from an unverified source.
    gate: Option<routability::Gate>,
    /// Further peer addresses of associations (SCTP multihoming), at most
    /// [`MAX_FURTHER_PEER_ADDRESSES`] each, in one table as large as the
    /// association table.
    peer_addresses: FnvIndexSet<(AssocId, IpAddr), ASSOCS>,
    /// Keyed by PE; PEs sharing an ASAP address share one connect.
    connects: FnvIndexMap<PeRef, PeConnect, MAX_PE_CONNECTS>,
    limiter: ReportLimiter,
    queue: TransmitQueue<QUEUE, QUEUE_MESSAGES>,
    events: Deque<Event, EVENTS>,
    rng: Xoshiro256StarStar,
    /// Where return-routability challenges come from.
    challenge_key: routability::ChallengeKey,
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

/// The value of a new registrar, written once for `new` and `new_const`
/// (a struct expression, so that no large temporary is moved on the
/// stack): `$config`, the empty handlespace `$hs` and the ENRP state
/// `$enrp`.
macro_rules! registrar_value {
    ($config:ident, $hs:expr, $enrp:expr) => {{
        // The capacities, checked at compile time with their names (before
        // heapless's own, nameless, checks of the same).
        const {
            assert!(
                ASSOCS.is_power_of_two(),
                "Registrar: ASSOCS (the association table) must be a power of two"
            );
            assert!(
                cfg!(feature = "alloc") || (OWNED.is_power_of_two() && OWNED <= 65_536),
                "Registrar: OWNED (the owned-PE table) must be a power of two up to 65,536 \
                 without the `alloc` feature"
            );
            assert!(
                EVENTS > 0,
                "Registrar: EVENTS (the event queue) must be at least 1"
            );
            assert!(
                QUEUE >= TIMER_MESSAGE_MAX,
                "Registrar: QUEUE (the transmit queue, bytes) cannot hold a keep-alive"
            );
        }
        let seed = $config.seed;
        // The challenge key from a generator of its own (seeded with the
        // same seed), so that the selections' sequence stays that of the
        // seed.
        let challenge_key = routability::ChallengeKey::from_xoshiro(
            &mut Xoshiro256StarStar::seed_from_u64(seed ^ routability::KEY_SEED_MASK),
        );
        Registrar {
            rng: Xoshiro256StarStar::seed_from_u64(seed),
            challenge_key,
            config: $config,
            hs: $hs,
            owned: owned::OwnedTable::new(),
            assocs: FnvIndexMap::new(),
            hosts: FnvIndexMap::new(),
            gate: None,
            peer_addresses: FnvIndexSet::new(),
            connects: FnvIndexMap::new(),
            limiter: ReportLimiter::new(),
            queue: TransmitQueue::new(),
            events: Deque::new(),
            next_announce: Instant::ZERO,
            stats: Stats::ZERO,
            enrp: $enrp,
        }
    }};
}

impl<
        B: Backend,
        const PES: usize,
        const POOLS: usize,
        const ADDRS: usize,
        const OWNERS: usize,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Registrar<B, Fixed<PES, POOLS, ADDRS, OWNERS>, OWNED, ASSOCS, QUEUE, EVENTS>
{
    /// [`new`](Registrar::new) at compile time, for a registrar with
    /// [`Fixed`] storage that is to live in a `static` (or a
    /// `static_cell::ConstStaticCell`): the value is built by the compiler
    /// in the image's `.data`/`.bss`, never on the stack. The
    /// configuration comes from the `const fn`s of [`RegistrarConfig`]
    /// ([`RegistrarConfig::rfc`], [`RegistrarConfig::rsplib`],
    /// [`RegistrarConfig::with_seed`]). It behaves as one built by `new`,
    /// except that ENRP's static peers are entered at the first input
    /// rather than at once.
    ///
    /// ```
    /// use rserpool::handlespace::Fixed;
    /// use rserpool::registrar::{Registrar, RegistrarConfig};
    /// use rserpool::storage::Treap;
    /// use rserpool::ServerId;
    ///
    /// const ID: ServerId = match ServerId::new(7) {
    ///     Ok(id) => id,
    ///     Err(_) => panic!("zero"),
    /// };
    /// type Board = Registrar<Treap, Fixed<32, 4, 8, 2>, 32, 16, 4096, 8>;
    /// static REGISTRAR: Board = Registrar::new_const(RegistrarConfig::rfc(ID).with_seed(1));
    /// assert_eq!(REGISTRAR.server_id(), ID);
    /// assert!(REGISTRAR.handlespace().is_empty());
    /// ```
    pub const fn new_const(config: RegistrarConfig) -> Self {
        registrar_value!(config, Handlespace::new_const(), enrp::EnrpState::new())
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
    /// This type's capacities besides its handlespace's, by name.
    pub const CAPACITY: crate::capacity::RegistrarCapacity = crate::capacity::RegistrarCapacity {
        owned: OWNED,
        associations: ASSOCS,
        transmit_queue: QUEUE,
        events: EVENTS,
    };

    /// A registrar with an empty handlespace. The first SERVER_ANNOUNCE (if
    /// enabled) is due at once: `poll_timeout` returns [`Instant::ZERO`].
    ///
    /// The value is as large as its capacities; with [`Fixed`] storage,
    /// [`new_const`](Registrar::new_const) builds it at compile time, in a
    /// `static`, without passing it through the stack.
    pub fn new(config: RegistrarConfig) -> Self {
        let mut enrp = enrp::EnrpState::new();
        enrp.add_configured(&config.enrp);
        registrar_value!(config, Handlespace::new(), enrp)
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
    ///
    /// Events never block protocol work: when the event queue is full, an
    /// event is dropped and counted in [`Stats::events_lost`] (an ENRP layer
    /// then repairs peers through the checksum audit, RFC 5353 §3.6).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
    /// The number of PEs this registrar owns.
    pub fn owned_count(&self) -> usize {
        self.owned.len()
    }
    /// The remote address of a known association.
    pub fn association_remote(&self, assoc: AssocId) -> Option<SocketAddr> {
        self.assocs.get(&assoc).map(|a| a.remote())
    }
    /// Whether a known association's return path is verified: reported so
    /// by the transport ([`TransportEvent::Up`]), or proven by an
    /// ASAP_COOKIE_ECHO of this registrar's challenge (see the
    /// [module documentation](self), "Return routability").
    pub fn association_verified(&self, assoc: AssocId) -> Option<bool> {
        self.assocs.get(&assoc).map(|a| a.path.is_verified())
    }
    /// Whether `ip` is a peer address of a known association: its remote
    /// address or one of the further ones the transport reported
    /// ([`TransportEvent::PeerAddress`]). An IPv4-mapped IPv6 address and
    /// its IPv4 address are the same.
    pub fn is_peer_address(&self, assoc: AssocId, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.assocs
            .get(&assoc)
            .is_some_and(|r| canonical_ip(r.remote().ip()) == ip)
            || self.peer_addresses.contains(&(assoc, ip))
    }

    /// Counts an association of `ip`'s host (`by` = 1) or forgets one
    /// (`by` = -1).
    fn count_host(&mut self, ip: IpAddr, by: i8) {
        let ip = canonical_ip(ip);
        match (self.hosts.get_mut(&ip), by) {
            (Some(n), 1) => *n += 1,
            (Some(n), _) if *n > 1 => *n -= 1,
            (Some(_), _) => {
                self.hosts.swap_remove(&ip);
            }
            // As many entries as associations: never full here.
            (None, 1) => {
                let _ = self.hosts.insert(ip, 1);
            }
            (None, _) => {}
        }
    }

    /// Records a further peer address of a known association (ignored for
    /// an unknown one, or when it is the remote address).
    fn add_peer_address(&mut self, assoc: AssocId, ip: IpAddr) {
        if !self.assocs.contains_key(&assoc) || self.is_peer_address(assoc, ip) {
            return;
        }
        let ip = canonical_ip(ip);
        let kept = self
            .peer_addresses
            .iter()
            .filter(|(a, _)| *a == assoc)
            .count();
        if kept >= MAX_FURTHER_PEER_ADDRESSES || self.peer_addresses.insert((assoc, ip)).is_err() {
            self.stats.peer_addresses_dropped += 1;
        }
    }

    /// Forgets the further peer addresses of an association that is gone.
    fn forget_peer_addresses(&mut self, assoc: AssocId) {
        if self.peer_addresses.iter().any(|(a, _)| *a == assoc) {
            self.peer_addresses.retain(|(a, _)| *a != assoc);
        }
    }
    /// ENDPOINT_UNREACHABLE reports counted against an owned PE since it
    /// last answered a keep-alive (the count stops at 2^31 − 1).
    pub fn unreachable_reports(&self, pool_handle: &PoolHandle, pe_id: PeId) -> Option<u32> {
        let r = self.hs.lookup(pool_handle, pe_id)?.pe_ref();
        self.owned.get(&r).map(|o| o.reports())
    }
    /// When the registration life of an owned PE ends ([`Instant::MAX`]: never).
    pub fn lifetime_deadline(&self, pool_handle: &PoolHandle, pe_id: PeId) -> Option<Instant> {
        let r = self.hs.lookup(pool_handle, pe_id)?.pe_ref();
        self.owned.get(&r).map(|o| o.lifetime())
    }

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
        let Some(remote) = self.assocs.get(&assoc).map(|a| a.remote()) else {
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
                .is_some_and(|old| old.remote().ip() == remote.ip());
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

    /// Registers `reg` in the handlespace and keeps the associations' PE
    /// counts: `old` is the association of the PE as it is there now
    /// (`None`: not there yet). Every registration goes through here.
    fn hs_register(
        &mut self,
        now: Instant,
        reg: &Registration<'_>,
        old: Option<AssocId>,
    ) -> Result<RegisterOutcome, HandlespaceError> {
        let outcome = self.hs.register(now, reg)?;
        if old != Some(reg.assoc) {
            if let Some(old) = old {
                self.count_assoc_pe(old, false);
            }
            self.count_assoc_pe(reg.assoc, true);
        }
        Ok(outcome)
    }

    /// Removes a PE from the handlespace and keeps the associations' PE
    /// counts. Every removal goes through here.
    fn hs_remove(&mut self, pe: PeRef) -> Result<(), HandlespaceError> {
        let assoc = self.hs.get(pe).map(|v| v.assoc());
        self.hs.remove(pe)?;
        if let Some(assoc) = assoc {
            self.count_assoc_pe(assoc, false);
        }
        Ok(())
    }

    /// One more (`add`) or one fewer PE bound to `assoc` (nothing for
    /// [`AssocId::NONE`] or an association the table does not hold).
    fn count_assoc_pe(&mut self, assoc: AssocId, add: bool) {
        if assoc == AssocId::NONE {
            return;
        }
        if let Some(e) = self.assocs.get_mut(&assoc) {
            e.pes = if add {
                e.pes.saturating_add(1)
            } else {
                e.pes.saturating_sub(1)
            };
        }
    }

    /// How many PEs are bound to `assoc`, counted up to `bound`: the
    /// association table's count, or, for an association the table does
    /// not hold, a walk of the handlespace.
    fn assoc_pes(&self, assoc: AssocId, bound: usize) -> usize {
        match self.assocs.get(&assoc) {
            Some(e) => {
                debug_assert_eq!(
                    e.pes as usize,
                    self.hs.by_association(assoc).count(),
                    "association PE count"
                );
                (e.pes as usize).min(bound)
            }
            None => self.hs.by_association(assoc).take(bound).count(),
        }
    }

    /// Removes an owned PE with an event.
    fn remove_owned(&mut self, pe: PeRef, reason: RemovalReason) {
        self.connects.swap_remove(&pe);
        let Some(record) = self.hs.get(pe).map(|v| PeRecord::from_view(&v)) else {
            self.owned.swap_remove(&pe);
            return;
        };
        self.owned.swap_remove(&pe);
        let _ = self.hs_remove(pe);
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
}

fn lifetime_deadline(now: Instant, life_ms: i32) -> Instant {
    if life_ms < 0 {
        Instant::MAX
    } else {
        now.saturating_add(Duration::from_millis(life_ms as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The association table's PE counts follow every change of the
    /// handlespace: registrations, re-registrations, a PE moving between
    /// associations of its host, deregistration, a peer's update taking
    /// a PE over, a failed send and an association going down; a
    /// replaced entry keeps its count.
    #[test]
    fn association_pe_counts_follow_the_handlespace() {
        type R = Registrar<
            crate::storage::SortedList,
            crate::handlespace::Fixed<16, 4, 8, 2>,
            16,
            8,
            4096,
            8,
        >;
        let mut c = RegistrarConfig::rsplib(ServerId::new(1).unwrap());
        c.announce = false;
        let mut r: R = Registrar::new(c);
        let now = Instant::from_secs(1);
        let host = |h: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 0, h));
        let up = |r: &mut R, a: u32, h: u8| {
            r.handle_transport_event(
                now,
                TransportEvent::Up {
                    assoc: AssocId(a),
                    remote: SocketAddr::new(host(h), 3863),
                    protocol: Protocol::Asap,
                    verified: true,
                },
            )
        };
        let send = |r: &mut R, a: u32, m: &AsapMessage<'_>| {
            let mut buf = [0u8; 256];
            let n = m.emit(&mut buf).unwrap();
            r.handle(
                now,
                Source::Association(AssocId(a)),
                Protocol::Asap,
                &buf[..n],
            );
            while r.peek_transmit().is_some() {
                r.consume_transmit();
            }
            while r.poll_event().is_some() {}
        };
        // PE `pe` with one SCTP address, `addrs[0]`.
        let pe_param = |pe: u32, addrs: &'static [IpAddr]| PoolElementParam {
            pe_id: PeId::new(pe).unwrap(),
            home_server: None,
            registration_life: 60_000,
            user_transport: UserTransport::Transport(wire::TransportParam::new(
                TransportProtocol::Sctp,
                9000,
                TransportUse::DataOnly,
                addrs,
            )),
            policy: PolicyParam::Known(Policy::RoundRobin),
            asap_transport: None,
        };
        const HOSTS: [[IpAddr; 1]; 2] = [
            [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))],
            [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))],
        ];
        let register = |r: &mut R, a: u32, h: u8, pe: u32| {
            let m = AsapMessage::Registration {
                pool_handle: b"p",
                pool_element: pe_param(pe, &HOSTS[usize::from(h) - 1]),
            };
            send(r, a, &m);
        };
        let check = |r: &R, expect: &[(u32, Option<u32>)]| {
            for &(a, n) in expect {
                let a = AssocId(a);
                assert_eq!(r.assocs.get(&a).map(|e| e.pes), n, "{a:?}");
                if let Some(n) = n {
                    assert_eq!(r.hs.by_association(a).count(), n as usize, "{a:?}");
                }
            }
        };
        up(&mut r, 1, 1);
        up(&mut r, 2, 2);
        up(&mut r, 3, 1);
        register(&mut r, 1, 1, 1);
        register(&mut r, 1, 1, 2);
        register(&mut r, 2, 2, 3);
        check(&r, &[(1, Some(2)), (2, Some(1)), (3, Some(0))]);
        // A re-registration over its own association.
        register(&mut r, 1, 1, 1);
        check(&r, &[(1, Some(2)), (2, Some(1))]);
        // PE 2 moves to the other association of its host.
        register(&mut r, 3, 1, 2);
        check(&r, &[(1, Some(1)), (3, Some(1))]);
        // A replaced entry keeps its count.
        up(&mut r, 1, 1);
        check(&r, &[(1, Some(1))]);
        send(
            &mut r,
            3,
            &AsapMessage::Deregistration {
                pool_handle: b"p",
                pe_id: PeId::new(2).unwrap(),
            },
        );
        check(&r, &[(1, Some(1)), (3, Some(0))]);
        // A peer's update takes PE 1 over: it has no association here.
        let pe = pe_param(1, &HOSTS[0]);
        r.apply_peer_update(now, ServerId::new(9).unwrap(), b"p", &pe)
            .unwrap();
        check(&r, &[(1, Some(0))]);
        // A failed send removes the PEs and keeps the entry; Down removes
        // the entry.
        r.handle_transport_event(now, TransportEvent::SendFailed { assoc: AssocId(2) });
        check(&r, &[(2, Some(0))]);
        register(&mut r, 2, 2, 4);
        check(&r, &[(2, Some(1))]);
        r.handle_transport_event(now, TransportEvent::Down { assoc: AssocId(2) });
        check(&r, &[(2, None)]);
        assert_eq!(r.hs.by_association(AssocId(2)).count(), 0);
        // Back up: a new entry counts what is bound to it (nothing).
        up(&mut r, 2, 2);
        check(&r, &[(2, Some(0))]);
    }

    #[test]
    fn keep_alive_spread_is_ten_steps_around_the_interval() {
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
        // Ten steps of 500 ms from 2.75 s to 7.25 s, each drawn, mean 5 s.
        let mut seen = [0u32; 10];
        let mut sum = Duration::ZERO;
        for _ in 0..10_000 {
            let d = r.spread(iv);
            let ms = d.as_millis();
            assert!(
                (2_750..=7_250).contains(&ms) && (ms - 2_750) % 500 == 0,
                "{d:?}"
            );
            seen[((ms - 2_750) / 500) as usize] += 1;
            sum += d;
        }
        assert!(seen.iter().all(|&n| n > 800 && n < 1_200), "{seen:?}");
        let mean = sum.as_millis() / 10_000;
        assert!((4_950..=5_050).contains(&mean), "mean {mean} ms");
        assert_eq!(r.spread(Duration::ZERO), Duration::ZERO);
    }
}
