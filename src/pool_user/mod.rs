//! The pool user: a sans-IO ASAP machine (RFC 5352 §3.3-§3.9, §6.5) that
//! resolves pool handles at a home registrar, keeps a bounded cache of the
//! answers, picks pool elements by the pool's policy, reports unreachable
//! ones and fails over with the session's last cookie.
//!
//! It implements [`Machine`]; application requests are methods
//! ([`select`](PoolUser::select), [`select_all`](PoolUser::select_all),
//! [`report_unreachable`](PoolUser::report_unreachable),
//! [`attach_control_channel`](PoolUser::attach_control_channel)) and
//! application output is [`PoolUser::poll_event`].
//!
//! # Procedures
//!
//! * **Server hunt**: the same as the pool element's
//!   ([`ServerHunt`]); requests wait for a home registrar, each try at
//!   most T1-ENRPrequest as if sent: a resolution no registrar can be
//!   found for fails as an unanswered one ([`Event::ResolutionFailed`]
//!   with no cause), rather than waiting for the hunt forever.
//! * **Handle resolution**: [`select`](PoolUser::select) on a pool with no
//!   cached PE sends HANDLE_RESOLUTION (with the Handle Resolution Option
//!   item count) and answers [`PoolUserError::WouldBlock`]; try again after
//!   [`Event::Resolved`]. A fresh cache hit sends nothing; a stale one
//!   (older than `stale_cache_value`) is used while a re-resolution runs in
//!   parallel. T1-ENRPrequest expiry resends, at most
//!   MAX-REQUEST-RETRANSMIT times, then [`Event::ResolutionFailed`] with no
//!   cause, and the home registrar is given up (server hunt). The hunt runs
//!   in parallel from the first expiry (RFC 5352 §3.7): when another
//!   registrar is connected, it becomes the home and gets the resend;
//!   otherwise one association to another registrar is opened and the
//!   resend goes to the current home. A negative
//!   answer is [`Event::ResolutionFailed`] with its cause (an unknown pool
//!   empties the pool's cache).
//! * **Unknown Pool Handle from the home registrar** while other
//!   registrars are known (configured or announced): the registrar may
//!   simply know nothing yet (e.g. restarted with an empty handlespace
//!   while another has the pool), so the resolution moves on before
//!   anything is reported: the home is given up and a server hunt
//!   ([`ServerHunt::move_home`]) takes a registrar that has not answered
//!   Unknown Pool Handle in this resolution attempt (a connected one at
//!   once, else by trying the others); the resolution is sent there, and
//!   that registrar stays the home (RFC 5352 §3.7: a PR that answers is
//!   adopted as home). Each registrar is asked at most once per attempt:
//!   when as many registrars as are known have answered Unknown Pool
//!   Handle, [`Event::ResolutionFailed`] with that cause is reported as
//!   before. If no other registrar can be reached, the hunt falls back to
//!   the registrars already asked. [`PoolUser::registrar_moves`] counts
//!   the moves.
//! * **Choice** per the pool's overall policy (the HANDLE_RESOLUTION_RESPONSE's;
//!   Round Robin when absent): RR and WRR round robin over the list as
//!   returned; RAND, WRAND, RLU and the other randomized policies at random
//!   by [`Policy::weight`] of each PE's own parameters (weight 0 never
//!   taken); PRIO the highest priority; LU and the other ordered least-used
//!   policies the least effective load (the earliest among equals).
//! * **Unreachable PEs**: [`report_unreachable`](PoolUser::report_unreachable)
//!   sends ENDPOINT_UNREACHABLE to the home registrar once per failure
//!   event (not again for that PE until a resolution lists it again),
//!   removes the PE from the cache and, unless
//!   [`SendOptions::NO_FAILOVER`], fails over: the next PE in the pool's
//!   business card order after the failed one, else by policy. The
//!   failover selection carries the last cookie of the session, and the
//!   machine sends it in COOKIE_ECHO as the first message on the control
//!   channel attached for the new PE.
//! * **Session layer**: COOKIE and BUSINESS_CARD arrive on a control
//!   channel; [`attach_control_channel`](PoolUser::attach_control_channel)
//!   says which pool and PE an association serves. The latest cookie (at
//!   most [`MAX_COOKIE_SIZE`] bytes) and the latest business card are kept
//!   per pool; a business card's PEs are added to the cache, and a card for
//!   a pool not cached starts a resolution.
//!
//! # Example
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr, SocketAddr};
//! use rserpool::addr::{TransportProtocol, TransportUse};
//! use rserpool::pool_user::{PoolUser, PoolUserConfig, PoolUserError, SendOptions};
//! use rserpool::transmit::{Machine, Source, TransportEvent};
//! use rserpool::wire::{AsapMessage, List, PoolElementParam, Protocol, TransportParam};
//! use rserpool::{AssocId, Instant, PeId, Policy, PoolHandle};
//!
//! let mut config = PoolUserConfig::rfc();
//! let registrar = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 3863);
//! config.registrars.push(registrar).unwrap();
//! let mut pu: PoolUser = PoolUser::new(config);
//! let pool = PoolHandle::new(b"echo")?;
//! let now = Instant::from_secs(0);
//!
//! // Nothing cached: a resolution starts.
//! assert_eq!(pu.select(now, &pool, SendOptions::DEFAULT), Err(PoolUserError::WouldBlock));
//! let connect = pu.poll_connect().unwrap();
//! pu.handle_transport_event(now, TransportEvent::Up {
//!     assoc: AssocId(1), remote: connect.remote, protocol: Protocol::Asap, verified: true,
//! });
//! let mut buf = [0u8; 1024];
//! let t = pu.poll_transmit(&mut buf)?.unwrap();
//! assert!(matches!(AsapMessage::parse(&buf[..t.len])?, AsapMessage::HandleResolution { .. }));
//!
//! // The registrar answers with one PE.
//! let addr = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9))];
//! let pe = PoolElementParam {
//!     pe_id: PeId::new(7)?, home_server: None, registration_life: 30_000,
//!     user_transport: TransportParam::new(TransportProtocol::Sctp, 7000, TransportUse::DataAndControl, &addr).into(),
//!     policy: Policy::RoundRobin.into(), asap_transport: None,
//! };
//! let elements = [pe];
//! let response = AsapMessage::HandleResolutionResponse {
//!     accept_updates: false, pool_handle: b"echo", policy: None,
//!     elements: List::from_slice(&elements), error: None,
//! };
//! let n = response.emit(&mut buf)?;
//! pu.handle(now, Source::Association(AssocId(1)), Protocol::Asap, &buf[..n]);
//! let s = pu.select(now, &pool, SendOptions::DEFAULT).unwrap();
//! assert_eq!((s.pe_id.get(), s.transport.port), (7, 7000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Capacity
//!
//! `POOLS` pools of `PES` elements each, further limited by the
//! configuration. A new pool replaces the least recently used one that has
//! no request outstanding; when every pool is busy,
//! [`PoolUserError::CacheFull`]. PEs beyond the limit in an answer are not
//! cached (the registrar lists the preferred ones first).

mod cached;
mod choice;
mod failover;
mod options;
mod resolution;

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::asap_client::{asap_error, source_assoc, AsapClient, AsapRole, HomeLoss};
use crate::cause::CauseCode;
use crate::id::{AssocId, PeId, PoolHandle};
use crate::policy::Policy;
use crate::random::Xoshiro256StarStar;
use crate::time::{Duration, Instant};
use crate::transmit::{
    Connect, Destination, Machine, QueueError, Source, Transmit, TransportEvent,
};
use crate::wire::{AsapMessage, PoolElementParam, Protocol};

pub use crate::asap_client::{
    Cookie, Home, HuntConfig, OwnedTransport, ServerHunt, MAX_COOKIE_SIZE, MAX_REGISTRARS,
};
pub use cached::CACHED_ADDRESS_BYTES;
pub use options::SendOptions;

use failover::card_successor;

/// The pool user's application event queue length.
///
/// Set at build time with the environment variable `RSERPOOL_PU_EVENT_QUEUE_LEN` (1 to 65,536; default 32), as every limit in [the crate's list](crate#limits-set-at-build-time).
pub const EVENT_QUEUE_LEN: usize = crate::limits::PU_EVENT_QUEUE_LEN;
/// The pool user's transmit queue size in bytes.
///
/// Set at build time with the environment variable `RSERPOOL_PU_TRANSMIT_QUEUE_BYTES` (1,024 to 2^24; default 8,192), as every limit in [the crate's list](crate#limits-set-at-build-time).
pub const TRANSMIT_QUEUE_BYTES: usize = crate::limits::PU_TRANSMIT_QUEUE_BYTES;
/// The pool user's transmit queue length in messages.
///
/// Set at build time with the environment variable `RSERPOOL_PU_TRANSMIT_QUEUE_ENTRIES` (4 to 65,536; default 32), as every limit in [the crate's list](crate#limits-set-at-build-time).
pub const TRANSMIT_QUEUE_ENTRIES: usize = crate::limits::PU_TRANSMIT_QUEUE_ENTRIES;
/// How many ENDPOINT_UNREACHABLE reports may wait for a home registrar.
pub const PENDING_REPORTS: usize = 8;

/// A pool user's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolUserConfig {
    /// Configured registrars (ASAP over SCTP or TCP).
    pub registrars: heapless::Vec<SocketAddr, MAX_REGISTRARS>,
    /// Server hunt timers (T5, RETRAN-MAX, T7).
    pub hunt: HuntConfig,
    /// T1-ENRPrequest.
    pub t1_enrp_request: Duration,
    /// MAX-REQUEST-RETRANSMIT: resends of an unanswered resolution.
    pub max_request_retransmit: u32,
    /// How long a resolution answer is fresh.
    pub stale_cache_value: Duration,
    /// The Handle Resolution Option item count asked for (`None`: no option).
    pub resolution_items: Option<u32>,
    /// Pools cached at most (also bounded by `POOLS`).
    pub max_pools: usize,
    /// PEs cached per pool at most (also bounded by `PES`).
    pub max_elements_per_pool: usize,
    /// Seed of the generator (random policies).
    pub seed: u64,
}

impl PoolUserConfig {
    /// RFC 5352 §7: T1 15 s, MAX-REQUEST-RETRANSMIT 2; stale cache value
    /// 30 s (the RFC gives none); 16 PEs per resolution.
    pub const fn rfc() -> Self {
        let mut hunt = HuntConfig::rfc();
        hunt.accept_tcp = true;
        PoolUserConfig {
            registrars: heapless::Vec::new(),
            hunt,
            t1_enrp_request: Duration::from_secs(15),
            max_request_retransmit: 2,
            stale_cache_value: Duration::from_secs(30),
            resolution_items: Some(16),
            max_pools: usize::MAX,
            max_elements_per_pool: usize::MAX,
            seed: 0,
        }
    }

    /// rsplib: request timeout 3 s with one trial (no resend), cache element
    /// timeout 5 s, rsplib's hunt timers.
    pub const fn rsplib() -> Self {
        let mut c = Self::rfc();
        c.hunt = HuntConfig::rsplib();
        c.hunt.accept_tcp = true;
        c.t1_enrp_request = Duration::from_secs(3);
        c.max_request_retransmit = 0;
        c.stale_cache_value = Duration::from_secs(5);
        c
    }

    /// The same configuration with `registrars` as the configured
    /// registrars (at most [`MAX_REGISTRARS`], a compile-time error
    /// otherwise), in a `const fn`, for a pool user built by
    /// [`PoolUser::new_const`].
    pub const fn with_registrars<const M: usize>(mut self, registrars: [SocketAddr; M]) -> Self {
        // The list replaced holds plain addresses: forgetting it frees
        // nothing (and a `const fn` cannot drop it).
        core::mem::forget(core::mem::replace(
            &mut self.registrars,
            heapless::Vec::from_array(registrars),
        ));
        self
    }
}

impl Default for PoolUserConfig {
    fn default() -> Self {
        Self::rfc()
    }
}

/// A chosen pool element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The pool.
    pub pool: PoolHandle,
    /// The PE.
    pub pe_id: PeId,
    /// Where to reach it (protocol, port, data/control use, addresses: as
    /// many of the PE's addresses as fit in [`CACHED_ADDRESS_BYTES`], in the
    /// order the registrar listed them).
    pub transport: OwnedTransport,
    /// After a failover: the session's last cookie, to send first in
    /// COOKIE_ECHO. The machine sends it itself on the control channel given
    /// to [`PoolUser::attach_control_channel`] for this PE; the copy is for
    /// applications that carry the control channel themselves.
    pub cookie_echo: Option<Cookie>,
    /// Whether this selection replaces a failed PE.
    pub failover: bool,
}

/// A cached pool element as [`PoolUser::elements`] gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedElement {
    /// The PE.
    pub pe_id: PeId,
    /// Its user transport (protocol, port, use, as many addresses as the
    /// cache keeps: [`CACHED_ADDRESS_BYTES`]).
    pub transport: OwnedTransport,
    /// Its policy parameters (`None`: a policy this crate does not know).
    pub policy: Option<Policy>,
}

/// What the pool user tells its application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A resolution answered with PEs.
    Resolved {
        /// The pool.
        pool: PoolHandle,
        /// How many PEs are cached now.
        elements: usize,
    },
    /// A resolution failed: the registrar's cause, or `None` when it went
    /// unanswered MAX-REQUEST-RETRANSMIT + 1 times.
    ResolutionFailed {
        /// The pool.
        pool: PoolHandle,
        /// The registrar's cause, if it answered.
        cause: Option<CauseCode>,
    },
    /// A new home registrar was chosen.
    HomeChanged {
        /// The new home.
        home: Home,
    },
    /// The association to the home registrar failed; a server hunt runs.
    HomeLost {
        /// The association that failed.
        assoc: AssocId,
    },
    /// A business card arrived and is stored.
    BusinessCard {
        /// The pool.
        pool: PoolHandle,
        /// How many PEs it lists.
        elements: usize,
    },
    /// A cookie arrived and is stored (replacing the previous one).
    CookieStored {
        /// The pool of the control channel it came on.
        pool: PoolHandle,
    },
    /// A COOKIE longer than [`MAX_COOKIE_SIZE`], or on an association no
    /// pool is attached to, was dropped.
    CookieDropped {
        /// The association it came on.
        assoc: AssocId,
        /// Its length.
        len: usize,
    },
    /// An ASAP_ERROR arrived.
    ErrorReceived {
        /// The association it came on (`None` for a datagram).
        assoc: Option<AssocId>,
        /// Its first cause.
        cause: Option<CauseCode>,
    },
}

/// Why a pool user call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolUserError {
    /// A resolution is in progress: try again after [`Event::Resolved`]
    /// (or give up on [`Event::ResolutionFailed`]).
    WouldBlock,
    /// Every cache slot holds a pool with a request outstanding.
    CacheFull,
    /// The pool is not in the cache.
    UnknownPool,
    /// The PE of the previous selection is gone and `NO_FAILOVER` was given
    /// with `TO_LAST`.
    LastUnavailable,
    /// Every cached PE has a selection weight of 0.
    NoUsableElement,
    /// `TO_ALL` asks for [`PoolUser::select_all`].
    UseSelectAll,
    /// A message could not be queued.
    Queue(QueueError),
}

impl From<QueueError> for PoolUserError {
    fn from(e: QueueError) -> Self {
        PoolUserError::Queue(e)
    }
}

impl core::fmt::Display for PoolUserError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PoolUserError::WouldBlock => f.write_str("handle resolution in progress"),
            PoolUserError::CacheFull => f.write_str("pool cache full"),
            PoolUserError::UnknownPool => f.write_str("pool not cached"),
            PoolUserError::LastUnavailable => f.write_str("last pool element unavailable"),
            PoolUserError::NoUsableElement => f.write_str("no usable pool element"),
            PoolUserError::UseSelectAll => f.write_str("TO_ALL needs select_all"),
            PoolUserError::Queue(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for PoolUserError {}

/// One cached PE.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CachedPe {
    pe_id: PeId,
    transport: cached::CachedTransport,
    policy: Option<Policy>,
}

impl choice::Candidate for CachedPe {
    fn policy(&self) -> Option<Policy> {
        self.policy
    }
}

impl CachedPe {
    fn from_param(p: &PoolElementParam<'_>) -> Option<Self> {
        Some(CachedPe {
            pe_id: p.pe_id,
            transport: cached::CachedTransport::from_param(p.user_transport.transport()?)?,
            policy: p.policy.policy(),
        })
    }
}

/// An outstanding resolution: `deadline` is the running T1, `None` while it
/// waits for a home registrar; `home_wait` bounds that wait by T1 as well
/// (a request no registrar can be found for fails as an unanswered one),
/// extended once by another T1 when no registrar was known as the wait
/// began and one (announced meanwhile) is being connected to as it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Request {
    deadline: Option<Instant>,
    home_wait: Option<Instant>,
    /// A registrar was known as the wait for a home began (or the wait
    /// was extended already).
    knew_registrar: bool,
    retransmits: u32,
    /// The registrars that answered Unknown Pool Handle in this attempt.
    asked: [Option<SocketAddr>; MAX_REGISTRARS],
    /// How many registrars answered Unknown Pool Handle in this attempt.
    unknown: u32,
    /// Sent again for a registrar's challenge since its last regular
    /// send: further challenges (one comes for every request the registrar
    /// withheld) send it no more.
    resent_for_challenge: bool,
}

impl Request {
    const fn new() -> Self {
        Request {
            deadline: None,
            home_wait: None,
            knew_registrar: false,
            retransmits: 0,
            asked: [None; MAX_REGISTRARS],
            resent_for_challenge: false,
            unknown: 0,
        }
    }

    /// When the request is due: its T1, else the end of its wait for a home.
    fn due(&self) -> Option<Instant> {
        self.deadline.or(self.home_wait)
    }

    /// Waits for a home registrar from `now`, at most `t1`.
    fn wait_for_home(&mut self, now: Instant, t1: Duration, known: usize) {
        self.knew_registrar = known > 0;
        self.deadline = None;
        self.home_wait = Some(now + t1);
    }
}

/// One cached pool with its session state.
#[derive(Clone, Debug)]
struct Pool<const PES: usize> {
    handle: PoolHandle,
    policy: Policy,
    elements: heapless::Vec<CachedPe, PES>,
    /// When the last answer goes stale (`None`: never resolved).
    fresh_until: Option<Instant>,
    request: Option<Request>,
    rr_next: usize,
    last: Option<PeId>,
    last_used: u64,
    /// The control channel and the PE it leads to.
    control: Option<(AssocId, PeId)>,
    cookie: Option<Cookie>,
    card: heapless::Vec<PeId, PES>,
    /// The PE that failed last, while the failover selection is due.
    failed: Option<PeId>,
    /// The PE the cookie is still to be echoed to.
    echo_to: Option<PeId>,
    /// PEs reported unreachable and not listed again since.
    reported: heapless::Vec<PeId, PES>,
}

impl<const PES: usize> Pool<PES> {
    fn new(handle: PoolHandle) -> Self {
        Pool {
            handle,
            policy: Policy::RoundRobin,
            elements: heapless::Vec::new(),
            fresh_until: None,
            request: None,
            rr_next: 0,
            last: None,
            last_used: 0,
            control: None,
            cookie: None,
            card: heapless::Vec::new(),
            failed: None,
            echo_to: None,
            reported: heapless::Vec::new(),
        }
    }

    fn position(&self, pe: PeId) -> Option<usize> {
        self.elements.iter().position(|e| e.pe_id == pe)
    }
}

/// A pool user (see the [module documentation](self)) caching up to `POOLS`
/// pools of up to `PES` elements each.
pub struct PoolUser<const POOLS: usize = 8, const PES: usize = 16> {
    config: PoolUserConfig,
    client: AsapClient<TRANSMIT_QUEUE_BYTES, TRANSMIT_QUEUE_ENTRIES>,
    rng: Xoshiro256StarStar,
    pools: heapless::Vec<Pool<PES>, POOLS>,
    pending_reports: heapless::Vec<(PoolHandle, PeId), PENDING_REPORTS>,
    clock: u64,
    events: heapless::Deque<Event, EVENT_QUEUE_LEN>,
    events_lost: u32,
    unreachable_sent: u32,
    registrar_moves: u32,
}

impl<const POOLS: usize, const PES: usize> core::fmt::Debug for PoolUser<POOLS, PES> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoolUser")
            .field("pools", &self.pools.len())
            .field("home", &self.client.hunt.home())
            .finish()
    }
}

/// The value of a new pool user, written once for `new` and `new_const`
/// (a struct expression, so that no large temporary is moved on the
/// stack).
macro_rules! user_value {
    ($config:ident, $client:expr) => {{
        const {
            assert!(
                POOLS > 0,
                "PoolUser: POOLS (the pools cached) must be at least 1"
            );
            assert!(
                PES > 0,
                "PoolUser: PES (the PEs cached per pool) must be at least 1"
            );
        }
        let seed = $config.seed;
        PoolUser {
            rng: Xoshiro256StarStar::seed_from_u64(seed),
            client: $client,
            config: $config,
            pools: heapless::Vec::new(),
            pending_reports: heapless::Vec::new(),
            clock: 0,
            events: heapless::Deque::new(),
            events_lost: 0,
            unreachable_sent: 0,
            registrar_moves: 0,
        }
    }};
}

impl<const POOLS: usize, const PES: usize> PoolUser<POOLS, PES> {
    /// This type's capacities, by name.
    pub const CAPACITY: crate::capacity::PoolUserCapacity = crate::capacity::PoolUserCapacity {
        pools: POOLS,
        pes_per_pool: PES,
    };

    /// A pool user with an empty cache.
    ///
    /// The value holds its transmit queue and cache; to place it in a
    /// `static` on a board without passing it through the stack, build it
    /// with [`new_const`](Self::new_const).
    pub fn new(config: PoolUserConfig) -> Self {
        let mut client = AsapClient::new_const(config.hunt);
        client.configure(&config.registrars, &[]);
        user_value!(config, client)
    }

    /// [`new`](Self::new) at compile time, for a pool user that is to
    /// live in a `static` (or a `static_cell::ConstStaticCell`): the
    /// compiler builds the value in the image, never on the stack. The
    /// configured registrars enter the server hunt's table at the first
    /// call of a `&mut self` method ([`resolve`](Self::resolve),
    /// [`Machine::handle`], …), since a `const fn` cannot read the
    /// configuration's list.
    ///
    /// ```
    /// use rserpool::pool_user::{PoolUser, PoolUserConfig};
    ///
    /// static PU: PoolUser<4, 8> = PoolUser::new_const(PoolUserConfig::rfc());
    /// assert_eq!(PU.cached_pools(), 0);
    /// ```
    pub const fn new_const(config: PoolUserConfig) -> Self {
        let hunt = config.hunt;
        user_value!(config, AsapClient::new_const(hunt))
    }

    /// Enters the configured registrars (once; see
    /// [`new_const`](Self::new_const)).
    #[inline]
    pub(crate) fn prepare(&mut self) {
        self.client.configure(&self.config.registrars, &[]);
    }

    /// The configuration.
    pub const fn config(&self) -> &PoolUserConfig {
        &self.config
    }

    /// The home registrar, if one is chosen.
    pub const fn home(&self) -> Option<Home> {
        self.client.hunt.home()
    }

    /// The server hunt's state.
    pub const fn server_hunt(&self) -> &ServerHunt<MAX_REGISTRARS> {
        &self.client.hunt
    }

    /// The next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Application events dropped because the event queue was full.
    pub const fn events_lost(&self) -> u32 {
        self.events_lost
    }

    /// Registrar challenges (ASAP_COOKIE on a registrar association)
    /// answered with ASAP_COOKIE_ECHO (see [`asap_client`](crate::asap_client),
    /// "A registrar's challenge").
    pub const fn challenges_answered(&self) -> u32 {
        self.client.challenges_answered
    }

    /// Protocol messages that could not be queued (full transmit queue).
    pub const fn send_failures(&self) -> u32 {
        self.client.send_failures
    }

    /// ENDPOINT_UNREACHABLE messages queued so far.
    pub const fn unreachable_reports(&self) -> u32 {
        self.unreachable_sent
    }

    /// How often a resolution answered with Unknown Pool Handle moved on to
    /// another registrar.
    pub const fn registrar_moves(&self) -> u32 {
        self.registrar_moves
    }

    /// The number of pools cached.
    pub fn cached_pools(&self) -> usize {
        self.pools.len()
    }

    /// The PEs of `pool` from the cache, starting a resolution when none
    /// is cached or the answer is stale (as [`select`](Self::select)
    /// does): how many are cached, or [`PoolUserError::WouldBlock`] while
    /// none is and a resolution runs (try again after [`Event::Resolved`],
    /// give up on [`Event::ResolutionFailed`]). Read them with
    /// [`elements`](Self::elements); a stale answer is given while it is
    /// resolved again.
    pub fn resolve(&mut self, now: Instant, pool: &PoolHandle) -> Result<usize, PoolUserError> {
        self.prepare();
        let i = self.entry(pool)?;
        self.refresh(now, i);
        match self.pools[i].elements.len() {
            0 => Err(PoolUserError::WouldBlock),
            n => Ok(n),
        }
    }

    /// The cached PEs of `pool` in list order (the registrar's order, less
    /// those reported unreachable since): identifier, user transport and
    /// policy parameters.
    pub fn elements(&self, pool: &PoolHandle) -> impl Iterator<Item = CachedElement> + '_ {
        self.find(pool)
            .map(|i| &self.pools[i].elements[..])
            .unwrap_or_default()
            .iter()
            .map(|e| CachedElement {
                pe_id: e.pe_id,
                transport: e.transport.to_owned_transport(),
                policy: e.policy,
            })
    }

    /// The cached PEs of `pool`, in list order, written to `out`; returns
    /// how many there are (at most `out.len()` are written).
    pub fn cached_elements(&self, pool: &PoolHandle, out: &mut [PeId]) -> usize {
        let Some(p) = self.find(pool).map(|i| &self.pools[i]) else {
            return 0;
        };
        for (o, e) in out.iter_mut().zip(p.elements.iter()) {
            *o = e.pe_id;
        }
        p.elements.len()
    }

    /// The latest cookie stored for `pool`.
    pub fn cookie(&self, pool: &PoolHandle) -> Option<&[u8]> {
        let i = self.find(pool)?;
        self.pools[i].cookie.as_deref()
    }

    /// The latest business card's failover order for `pool`.
    pub fn business_card(&self, pool: &PoolHandle) -> Option<&[PeId]> {
        let i = self.find(pool)?;
        let card = &self.pools[i].card;
        (!card.is_empty()).then_some(&card[..])
    }

    /// Whether a resolution of `pool` is outstanding.
    pub fn is_resolving(&self, pool: &PoolHandle) -> bool {
        self.find(pool)
            .is_some_and(|i| self.pools[i].request.is_some())
    }

    fn find(&self, pool: &PoolHandle) -> Option<usize> {
        self.pools.iter().position(|p| p.handle == *pool)
    }

    fn event(&mut self, e: Event) {
        if self.events.push_back(e).is_err() {
            self.events_lost = self.events_lost.saturating_add(1);
        }
    }

    fn pool_limit(&self) -> usize {
        self.config.max_pools.min(POOLS)
    }

    fn element_limit(&self) -> usize {
        self.config.max_elements_per_pool.min(PES)
    }

    /// The cache slot of `pool`, made if needed (replacing the least
    /// recently used idle pool when full).
    fn entry(&mut self, pool: &PoolHandle) -> Result<usize, PoolUserError> {
        self.clock += 1;
        if let Some(i) = self.find(pool) {
            self.pools[i].last_used = self.clock;
            return Ok(i);
        }
        let mut fresh = Pool::new(*pool);
        fresh.last_used = self.clock;
        if self.pools.len() < self.pool_limit() {
            if self.pools.push(fresh).is_ok() {
                return Ok(self.pools.len() - 1);
            }
            return Err(PoolUserError::CacheFull);
        }
        let victim = self
            .pools
            .iter()
            .enumerate()
            .filter(|(_, p)| p.request.is_none())
            .min_by_key(|(_, p)| p.last_used)
            .map(|(i, _)| i)
            .ok_or(PoolUserError::CacheFull)?;
        self.pools[victim] = fresh;
        Ok(victim)
    }

    /// Picks a PE of `pool` (see the [module documentation](self)).
    ///
    /// [`PoolUserError::WouldBlock`] while no PE is cached: a resolution
    /// has been started (or is running). `TO_LAST` returns the previous
    /// selection's PE when it is still cached (else, with `NO_FAILOVER`,
    /// [`PoolUserError::LastUnavailable`]; without, a new choice).
    pub fn select(
        &mut self,
        now: Instant,
        pool: &PoolHandle,
        options: SendOptions,
    ) -> Result<Selection, PoolUserError> {
        if options.contains(SendOptions::TO_ALL) {
            return Err(PoolUserError::UseSelectAll);
        }
        let i = self.entry(pool)?;
        self.refresh(now, i);
        self.select_in(i, options)
    }

    /// Every cached PE of `pool` (`TO_ALL`), written to `out` in list order;
    /// returns how many were written. [`PoolUserError::WouldBlock`] while
    /// none is cached and a resolution runs.
    pub fn select_all(
        &mut self,
        now: Instant,
        pool: &PoolHandle,
        out: &mut [Option<Selection>],
    ) -> Result<usize, PoolUserError> {
        let i = self.entry(pool)?;
        self.refresh(now, i);
        let p = &self.pools[i];
        if p.elements.is_empty() {
            return Err(PoolUserError::WouldBlock);
        }
        let mut n = 0;
        for (o, e) in out.iter_mut().zip(p.elements.iter()) {
            *o = Some(Selection {
                pool: p.handle,
                pe_id: e.pe_id,
                transport: e.transport.to_owned_transport(),
                cookie_echo: None,
                failover: false,
            });
            n += 1;
        }
        Ok(n)
    }

    /// Starts a resolution when nothing is cached or the answer is stale.
    fn refresh(&mut self, now: Instant, i: usize) {
        let p = &self.pools[i];
        let stale = p.fresh_until.is_none_or(|t| now >= t);
        if (p.elements.is_empty() || stale) && p.request.is_none() {
            self.start_resolution(now, i);
        }
    }

    fn select_in(&mut self, i: usize, options: SendOptions) -> Result<Selection, PoolUserError> {
        let p = &mut self.pools[i];
        if p.elements.is_empty() {
            return Err(PoolUserError::WouldBlock);
        }
        let mut index = None;
        if options.contains(SendOptions::TO_LAST) {
            match p.last.and_then(|l| p.position(l)) {
                Some(k) => index = Some(k),
                None if !options.fails_over() => return Err(PoolUserError::LastUnavailable),
                None => {}
            }
        }
        if index.is_none() {
            if let Some(failed) = p.failed {
                index = card_successor(&p.card, failed, &p.elements);
            }
        }
        let index = match index {
            Some(k) => k,
            None => choice::choose(p.policy, &p.elements, &mut p.rr_next, &mut self.rng)
                .ok_or(PoolUserError::NoUsableElement)?,
        };
        let e = &p.elements[index];
        let failover = p.failed.take().is_some();
        let cookie_echo = if failover { p.cookie.clone() } else { None };
        if cookie_echo.is_some() {
            p.echo_to = Some(e.pe_id);
        }
        p.last = Some(e.pe_id);
        Ok(Selection {
            pool: p.handle,
            pe_id: e.pe_id,
            transport: e.transport.to_owned_transport(),
            cookie_echo,
            failover,
        })
    }
}

impl<const POOLS: usize, const PES: usize> AsapRole<TRANSMIT_QUEUE_BYTES, TRANSMIT_QUEUE_ENTRIES>
    for PoolUser<POOLS, PES>
{
    fn client(&mut self) -> &mut AsapClient<TRANSMIT_QUEUE_BYTES, TRANSMIT_QUEUE_ENTRIES> {
        &mut self.client
    }

    /// A home was found: sends what waits for one.
    fn home_found(&mut self, now: Instant, home: Home) {
        self.event(Event::HomeChanged { home });
        for i in 0..self.pools.len() {
            if matches!(self.pools[i].request, Some(r) if r.deadline.is_none()) {
                self.send_resolution(now, i);
            }
        }
        let pending = core::mem::take(&mut self.pending_reports);
        for (pool, pe) in pending {
            self.send_unreachable(now, pool, pe);
        }
    }

    fn home_lost(&mut self, now: Instant, assoc: AssocId, _how: HomeLoss) {
        self.event(Event::HomeLost { assoc });
        let t1 = self.config.t1_enrp_request;
        let known = self.client.hunt.known();
        for p in self.pools.iter_mut() {
            if let Some(r) = p.request.as_mut() {
                r.wait_for_home(now, t1, known);
            }
        }
    }

    /// The home registrar's challenge was answered: every resolution
    /// waiting for its answer is sent again at once (its timer restarts;
    /// not counted as a retransmission), once per regular send: the
    /// challenges the registrar sent for the other withheld requests find
    /// them resent already.
    fn challenged(&mut self, now: Instant, assoc: AssocId) {
        if self.client.hunt.home().map(|h| h.assoc) != Some(assoc) {
            return;
        }
        for i in 0..self.pools.len() {
            if matches!(self.pools[i].request,
                Some(r) if r.deadline.is_some() && !r.resent_for_challenge)
            {
                self.send_resolution(now, i);
                if let Some(r) = self.pools[i].request.as_mut() {
                    r.resent_for_challenge = true;
                }
            }
        }
    }

    fn association_down(&mut self, assoc: AssocId) {
        for p in self.pools.iter_mut() {
            if p.control.is_some_and(|(a, _)| a == assoc) {
                p.control = None;
            }
        }
    }

    fn on_message(&mut self, now: Instant, source: Source, message: &AsapMessage<'_>) {
        let assoc = source_assoc(source);
        match *message {
            AsapMessage::HandleResolutionResponse { .. } => {
                if let Some(home) = assoc.and_then(|a| self.client.hunt.answered(a)) {
                    // An answer during a hunt: that registrar is the home.
                    self.home_found(now, home);
                }
                self.on_resolution(now, assoc, message)
            }
            AsapMessage::BusinessCard { .. } => self.on_business_card(now, message),
            AsapMessage::Cookie { cookie } => {
                let Some(assoc) = assoc else { return };
                let slot = self
                    .pools
                    .iter_mut()
                    .find(|p| p.control.is_some_and(|(a, _)| a == assoc));
                match (slot, Cookie::from_slice(cookie)) {
                    (Some(p), Ok(c)) => {
                        p.cookie = Some(c);
                        let pool = p.handle;
                        self.event(Event::CookieStored { pool });
                    }
                    _ => self.event(Event::CookieDropped {
                        assoc,
                        len: cookie.len(),
                    }),
                }
            }
            AsapMessage::Error { ref error } => {
                let cause = error.code();
                self.event(Event::ErrorReceived { assoc, cause });
            }
            _ => {}
        }
    }
}

impl<const POOLS: usize, const PES: usize> Machine for PoolUser<POOLS, PES> {
    fn handle(&mut self, now: Instant, source: Source, protocol: Protocol, bytes: &[u8]) {
        self.prepare();
        self.handle_asap(now, source, protocol, bytes)
    }

    fn handle_transport_event(&mut self, now: Instant, event: TransportEvent) {
        self.prepare();
        self.handle_client_event(now, event)
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.prepare();
        if let Some(home) = self.client.hunt.handle_timeout(now) {
            self.home_found(now, home);
        }
        for i in 0..self.pools.len() {
            if self.pools[i]
                .request
                .and_then(|r| r.due())
                .is_some_and(|d| now >= d)
            {
                self.request_timed_out(now, i);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.pools
            .iter()
            .filter_map(|p| p.request.and_then(|r| r.due()))
            .chain(self.client.hunt.poll_timeout())
            .min()
    }

    fn peek_transmit(&self) -> Option<(Transmit, &[u8])> {
        self.client.tx.peek()
    }

    fn consume_transmit(&mut self) {
        self.client.tx.consume();
    }

    fn poll_connect(&mut self) -> Option<Connect> {
        self.client.hunt.poll_connect()
    }
}
