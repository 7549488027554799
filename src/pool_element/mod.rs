//! The pool element: a sans-IO ASAP machine (RFC 5352 §3) that finds a home
//! registrar, registers its pool element there, keeps the registration
//! alive and answers the registrar's keep-alives, plus the session layer
//! towards pool users (COOKIE, BUSINESS_CARD out; COOKIE_ECHO in).
//!
//! It implements [`Machine`]: feed it received messages, transport events
//! and timeouts; drain [`poll_transmit`](Machine::poll_transmit),
//! [`poll_connect`](Machine::poll_connect) and [`PoolElement::poll_event`].
//!
//! # Procedures
//!
//! * **Server hunt** ([`server_hunt`](crate::asap_client::server_hunt),
//!   shared with the pool user): configured registrars and/or
//!   SERVER_ANNOUNCE datagrams; at most three association attempts at once;
//!   T5 doubles up to RETRAN-MAX; the first association up is the home.
//! * **Registration** ([`PoolElement::register`]): REGISTRATION to the home,
//!   T2-registration. T2 expiry or a lost home ⇒ server hunt (preferring
//!   another registrar), then the registration is sent again. Attempts are
//!   counted from the first send and reset on success; a send that would
//!   exceed MAX-REG-ATTEMPT ends in [`Event::RegistrationFailed`] with no
//!   cause, a rejection in [`Event::RegistrationFailed`] with the cause.
//!   Either way the registration is tried again after a back-off
//!   ([`PoolElementConfig::registration_retry`]: doubling from `initial` up
//!   to `max`, reset by a success) for as long as the application wants
//!   to be registered, as rsplib does; with no back-off configured it is
//!   not retried until the application calls
//!   [`register`](PoolElement::register) again.
//! * **Re-registration**: T4-reregistration after each success (by default
//!   `min(10 min, life − 20 s)`), same PE identifier; also when the policy
//!   changes and when the home registrar is lost.
//! * **Deregistration** ([`PoolElement::deregister`]): DEREGISTRATION,
//!   T3-deregistration; expiry ⇒ server hunt and resend, at most
//!   MAX-REQUEST-RETRANSMIT times, then [`Event::DeregistrationFailed`].
//! * **Keep-alive**: ENDPOINT_KEEP_ALIVE with another pool handle (or
//!   another PE identifier, when rsplib's is present) is silently
//!   discarded; otherwise KEEP_ALIVE_ACK (pool handle + PE identifier) goes
//!   back on the association it came on. With the H flag from a registrar
//!   other than the home, that registrar becomes the home
//!   ([`Event::HomeChanged`]) if the server hunt trusts it
//!   ([`ServerHunt::trusts`]: configured, announced by SERVER_ANNOUNCE, or
//!   an association from such a registrar's host); otherwise the claim is
//!   ignored and counted
//!   ([`untrusted_home_claims`](PoolElement::untrusted_home_claims)).
//! * **Session layer**: [`send_cookie`](PoolElement::send_cookie) and
//!   [`send_business_card`](PoolElement::send_business_card) on a pool
//!   user's control channel; a COOKIE_ECHO from a pool user that failed over
//!   is handed up as [`Event::CookieEcho`].
//! * A DEREGISTRATION_RESPONSE nobody asked for (the registrar let the
//!   lifetime expire) ends the registration ([`Event::RegistrationLost`])
//!   and, while the application wants to be registered, registers again.
//! * Unknown messages and parameters are answered with ASAP_ERROR when
//!   their type bits ask for it.
//!
//! Registration life goes on the wire in milliseconds (SPEC §15.1).
//!
//! # Example
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr, SocketAddr};
//! use rserpool::addr::{TransportProtocol, TransportUse};
//! use rserpool::pool_element::{Event, OwnedTransport, PoolElement, PoolElementConfig};
//! use rserpool::transmit::{Machine, Source, TransportEvent};
//! use rserpool::wire::{AsapMessage, Protocol};
//! use rserpool::{AssocId, Instant, PoolHandle};
//!
//! let me = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
//! let user = OwnedTransport::new(TransportProtocol::Sctp, 7000, TransportUse::DataAndControl, &[me])?;
//! let mut config = PoolElementConfig::rfc(PoolHandle::new(b"echo")?, user);
//! let registrar = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 3863);
//! config.registrars.push(registrar).unwrap();
//! config.seed = 1;
//! let mut pe = PoolElement::new(config)?;
//!
//! let now = Instant::from_secs(0);
//! pe.register(now);
//! // The transport opens the association the hunt asks for ...
//! let connect = pe.poll_connect().unwrap();
//! pe.handle_transport_event(now, TransportEvent::Up {
//!     assoc: AssocId(1), remote: connect.remote, protocol: Protocol::Asap, verified: true,
//! });
//! // ... and sends the REGISTRATION it queued.
//! let mut buf = [0u8; 1024];
//! let t = pe.poll_transmit(&mut buf)?.unwrap();
//! assert!(matches!(AsapMessage::parse(&buf[..t.len])?, AsapMessage::Registration { .. }));
//! // The registrar accepts.
//! let response = AsapMessage::RegistrationResponse {
//!     rejected: false, pool_handle: b"echo", pe_id: pe.pe_id(), error: None,
//! };
//! let n = response.emit(&mut buf)?;
//! pe.handle(now, Source::Association(AssocId(1)), Protocol::Asap, &buf[..n]);
//! assert!(pe.is_registered());
//! assert!(matches!(pe.poll_event(), Some(Event::HomeChanged { .. })));
//! assert!(matches!(pe.poll_event(), Some(Event::Registered { .. })));
//! // Wake up at pe.poll_timeout() (T4) to re-register.
//! assert!(pe.poll_timeout().is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::net::{IpAddr, SocketAddr};

use crate::addr::TransportError;
use crate::asap_client::{asap_error, source_assoc, AsapClient, AsapRole, HomeLoss};
use crate::cause::CauseCode;
use crate::id::{AssocId, PeId, PoolHandle};
use crate::policy::Policy;
use crate::random::Xoshiro256StarStar;
use crate::time::{Duration, Instant};
use crate::transmit::{
    Connect, Destination, Machine, QueueError, Source, Transmit, TransportEvent,
};
use crate::wire::{AsapMessage, List, PoolElementParam, Protocol, UserTransport};

pub use crate::asap_client::{
    Cookie, Home, HuntConfig, OwnedTransport, ServerHunt, MAX_CONCURRENT_CONNECTS, MAX_COOKIE_SIZE,
    MAX_REGISTRARS,
};

/// The pool element's application event queue length: the default of
/// [`PoolElement`]'s `EVENTS`.
///
/// Set at build time with the environment variable `RSERPOOL_PE_EVENT_QUEUE_LEN` (1 to 65,536; default 16), as every limit in [the crate's list](crate#limits-set-at-build-time).
pub const EVENT_QUEUE_LEN: usize = crate::limits::PE_EVENT_QUEUE_LEN;
/// The pool element's transmit queue size in bytes: the default of
/// [`PoolElement`]'s `QUEUE`.
///
/// Set at build time with the environment variable `RSERPOOL_PE_TRANSMIT_QUEUE_BYTES` (1,024 to 2^24; default 8,192), as every limit in [the crate's list](crate#limits-set-at-build-time).
pub const TRANSMIT_QUEUE_BYTES: usize = crate::limits::PE_TRANSMIT_QUEUE_BYTES;
/// The pool element's transmit queue length in messages: the default of
/// [`PoolElement`]'s `MESSAGES`.
///
/// Set at build time with the environment variable `RSERPOOL_PE_TRANSMIT_QUEUE_ENTRIES` (4 to 65,536; default 32), as every limit in [the crate's list](crate#limits-set-at-build-time).
pub const TRANSMIT_QUEUE_ENTRIES: usize = crate::limits::PE_TRANSMIT_QUEUE_ENTRIES;

/// How long a pool element waits before it tries a failed registration
/// again: `initial` after the first failure, doubled after each further
/// one, at most `max`; a success starts again from `initial`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// The wait after `delay`: doubled, at most `max`, at least `initial`.
    pub fn next(&self, delay: Duration) -> Duration {
        delay.saturating_mul(2).min(self.max).max(self.initial)
    }
}

/// A pool element's configuration. Build it with [`rfc`](Self::rfc) or
/// [`rsplib`](Self::rsplib) and adjust the fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolElementConfig {
    /// The pool to join.
    pub pool_handle: PoolHandle,
    /// The PE identifier; `None` draws a non-zero one from the seeded generator.
    pub pe_id: Option<PeId>,
    /// The member selection policy and its parameters.
    pub policy: Policy,
    /// Where the PE serves its users.
    pub user_transport: OwnedTransport,
    /// Registration life (sent in milliseconds).
    pub registration_life: Duration,
    /// Configured registrars (ASAP over SCTP).
    pub registrars: heapless::Vec<SocketAddr, MAX_REGISTRARS>,
    /// Hosts of further registrars that may take this PE over (an
    /// ENDPOINT_KEEP_ALIVE with the H flag) although it does not hunt them:
    /// typically the other registrars of the configured ones' ENRP set. A
    /// registrar becomes the home by the H flag only from a configured or
    /// announced registrar's host or one of these
    /// ([`ServerHunt::trust_host`]).
    pub trusted_registrars: heapless::Vec<IpAddr, MAX_REGISTRARS>,
    /// Server hunt timers (T5, RETRAN-MAX, T7).
    pub hunt: HuntConfig,
    /// T2-registration.
    pub t2_registration: Duration,
    /// T3-deregistration.
    pub t3_deregistration: Duration,
    /// T4-reregistration; `None`: `min(10 min, registration life − 20 s)`
    /// (RFC 5352 §7), at least 1 s.
    pub t4_reregistration: Option<Duration>,
    /// MAX-REG-ATTEMPT: registration sends before giving up.
    pub max_reg_attempt: u32,
    /// MAX-REQUEST-RETRANSMIT: deregistration resends before giving up.
    pub max_request_retransmit: u32,
    /// A rejected registration, or one that MAX-REG-ATTEMPT sends left
    /// unanswered, is tried again after this back-off while the
    /// application wants to be registered; `None`: it is not tried again
    /// until [`PoolElement::register`] is called.
    pub registration_retry: Option<Backoff>,
    /// Seed of the generator (PE identifier).
    pub seed: u64,
}

impl PoolElementConfig {
    /// RFC 5352 §7 defaults: T2 = T3 = 30 s, T4 = min(10 min, life − 20 s),
    /// MAX-REG-ATTEMPT = MAX-REQUEST-RETRANSMIT = 2, registration life
    /// 300 s (the RFC gives none), policy Round Robin; a failed
    /// registration is tried again after 1 s, 2 s, 4 s, ... at most 60 s
    /// (the RFC leaves that to the application).
    pub const fn rfc(pool_handle: PoolHandle, user_transport: OwnedTransport) -> Self {
        PoolElementConfig {
            pool_handle,
            pe_id: None,
            policy: Policy::RoundRobin,
            user_transport,
            registration_life: Duration::from_secs(300),
            registrars: heapless::Vec::new(),
            trusted_registrars: heapless::Vec::new(),
            hunt: HuntConfig::rfc(),
            t2_registration: Duration::from_secs(30),
            t3_deregistration: Duration::from_secs(30),
            t4_reregistration: None,
            max_reg_attempt: 2,
            max_request_retransmit: 2,
            registration_retry: Some(Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(60),
            }),
            seed: 0,
        }
    }

    /// rsplib's defaults: re-registration every 30 s with a life of
    /// 3 × 30 s + 5 s, request timeout 3 s (T2, T3), rsplib's hunt timers,
    /// and registration retried without limit (rsplib simply tries again
    /// at the next re-registration); a rejected registration is tried again
    /// after 1 s, 2 s, 4 s, ... at most the re-registration interval.
    pub const fn rsplib(pool_handle: PoolHandle, user_transport: OwnedTransport) -> Self {
        let mut c = Self::rfc(pool_handle, user_transport);
        c.registration_life = Duration::from_secs(95);
        c.hunt = HuntConfig::rsplib();
        c.t2_registration = Duration::from_secs(3);
        c.t3_deregistration = Duration::from_secs(3);
        c.t4_reregistration = Some(Duration::from_secs(30));
        c.max_reg_attempt = u32::MAX;
        c.registration_retry = Some(Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
        });
        c
    }

    /// The same configuration with `registrars` as the configured
    /// registrars (at most [`MAX_REGISTRARS`], a compile-time error
    /// otherwise), in a `const fn`, for a pool element built by
    /// [`PoolElement::new_const`].
    pub const fn with_registrars<const M: usize>(mut self, registrars: [SocketAddr; M]) -> Self {
        // The list replaced holds plain addresses: forgetting it frees
        // nothing (and a `const fn` cannot drop it).
        core::mem::forget(core::mem::replace(
            &mut self.registrars,
            heapless::Vec::from_array(registrars),
        ));
        self
    }

    /// The effective T4-reregistration.
    pub fn t4(&self) -> Duration {
        self.t4_reregistration.unwrap_or_else(|| {
            Duration::from_secs(600)
                .min(
                    self.registration_life
                        .saturating_sub(Duration::from_secs(20)),
                )
                .max(Duration::from_secs(1))
        })
    }
}

/// What the pool element tells its application.
// The cookie is held by value (no heap), so one variant is larger.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The registration (or a re-registration) was accepted.
    Registered {
        /// The home registrar it went to.
        home: Home,
    },
    /// The registration was rejected (`cause` from the response), or
    /// MAX-REG-ATTEMPT sends went unanswered (`cause` is `None`).
    RegistrationFailed {
        /// The registrar's cause, if it answered.
        cause: Option<CauseCode>,
        /// When it is tried again ([`PoolElementConfig::registration_retry`]);
        /// `None`: not until the application registers again.
        retry_at: Option<Instant>,
    },
    /// The registrar ended the registration on its own (lifetime expiry).
    RegistrationLost,
    /// The deregistration was confirmed.
    Deregistered,
    /// The deregistration was refused (`cause`) or never answered (`None`).
    DeregistrationFailed {
        /// The registrar's cause, if it answered.
        cause: Option<CauseCode>,
    },
    /// A new home registrar was chosen (server hunt or H flag).
    HomeChanged {
        /// The new home.
        home: Home,
    },
    /// The association to the home registrar failed; a server hunt runs.
    HomeLost {
        /// The association that failed.
        assoc: AssocId,
    },
    /// A pool user that failed over echoed its last cookie.
    CookieEcho {
        /// The pool user's control channel.
        assoc: AssocId,
        /// The cookie, unchanged.
        cookie: Cookie,
    },
    /// A COOKIE_ECHO longer than [`MAX_COOKIE_SIZE`] arrived and was dropped.
    CookieTooLong {
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

/// Why a pool element call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolElementError {
    /// The user transport is not valid.
    Transport(TransportError),
    /// The message could not be queued.
    Queue(QueueError),
    /// The cookie is longer than a message can carry.
    CookieTooLong {
        /// Its length.
        len: usize,
    },
    /// Deregistration asked while not registered.
    NotRegistered,
}

impl From<QueueError> for PoolElementError {
    fn from(e: QueueError) -> Self {
        PoolElementError::Queue(e)
    }
}

impl core::fmt::Display for PoolElementError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PoolElementError::Transport(e) => write!(f, "invalid user transport: {e}"),
            PoolElementError::Queue(e) => write!(f, "{e}"),
            PoolElementError::CookieTooLong { len } => write!(f, "cookie of {len} bytes too long"),
            PoolElementError::NotRegistered => f.write_str("not registered"),
        }
    }
}

impl core::error::Error for PoolElementError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestKind {
    Register,
    Deregister,
}

/// A request towards the home registrar: `deadline` is the running T2/T3,
/// `None` while it waits for a home.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Request {
    kind: RequestKind,
    deadline: Option<Instant>,
    /// Sent again for a registrar's challenge since its last regular send.
    resent_for_challenge: bool,
}

/// A pool element (see the [module documentation](self)) with a transmit
/// queue of `QUEUE` bytes and `MESSAGES` messages, and `EVENTS`
/// application events.
///
/// The defaults are the crate-wide limits set at build time
/// ([`TRANSMIT_QUEUE_BYTES`], [`TRANSMIT_QUEUE_ENTRIES`],
/// [`EVENT_QUEUE_LEN`]): `PoolElement` alone is the pool element with
/// those, built by [`new`](PoolElement::new) and
/// [`new_const`](PoolElement::new_const). Other capacities (the
/// [`presets`](crate::presets) name two) are built by
/// [`new_sized`](Self::new_sized) and
/// [`new_sized_const`](Self::new_sized_const). The capacities are checked
/// at compile time, each by its name, in the ranges of the build-time
/// limits: `QUEUE` from 1,024 to 2^24 bytes (it must hold the largest
/// REGISTRATION, with every address of the user transport), `MESSAGES`
/// from 4 to 65,536, `EVENTS` from 1 to 65,536. A capacity out of its
/// range does not compile, and the error names it:
///
/// ```compile_fail
/// # use core::net::{IpAddr, Ipv4Addr};
/// # use rserpool::addr::{TransportProtocol, TransportUse};
/// # use rserpool::asap_client::OwnedTransport;
/// # use rserpool::pool_element::{PoolElement, PoolElementConfig};
/// # use rserpool::PoolHandle;
/// # const POOL: PoolHandle = match PoolHandle::new(b"echo") {
/// #     Ok(p) => p,
/// #     Err(_) => panic!("bad handle"),
/// # };
/// # const IP: [IpAddr; 1] = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))];
/// // "PoolElement: QUEUE (the transmit queue's bytes) must be from 1,024 to 2^24"
/// static PE: PoolElement<512, 8, 4> = PoolElement::new_sized_const(PoolElementConfig::rfc(
///     POOL,
///     OwnedTransport::new_const(TransportProtocol::Sctp, 7, TransportUse::DataOnly, IP),
/// ));
/// ```
pub struct PoolElement<
    const QUEUE: usize = TRANSMIT_QUEUE_BYTES,
    const MESSAGES: usize = TRANSMIT_QUEUE_ENTRIES,
    const EVENTS: usize = EVENT_QUEUE_LEN,
> {
    config: PoolElementConfig,
    pe_id: PeId,
    client: AsapClient<QUEUE, MESSAGES>,
    /// The application wants to be registered.
    wanted: bool,
    /// The last registration was accepted and is not withdrawn.
    registered: bool,
    request: Option<Request>,
    /// Re-register once the current request is answered (policy changed).
    reregister_after: bool,
    attempts: u32,
    dereg_retransmits: u32,
    t4: Option<Instant>,
    /// When a failed registration is tried again.
    retry_at: Option<Instant>,
    /// The back-off's next wait.
    retry_delay: Duration,
    events: heapless::Deque<Event, EVENTS>,
    events_lost: u32,
    untrusted_home_claims: u32,
}

impl<const QUEUE: usize, const MESSAGES: usize, const EVENTS: usize> core::fmt::Debug
    for PoolElement<QUEUE, MESSAGES, EVENTS>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoolElement")
            .field("pool_handle", &self.config.pool_handle)
            .field("pe_id", &self.pe_id)
            .field("registered", &self.registered)
            .field("home", &self.client.hunt.home())
            .finish()
    }
}

/// The value of a new pool element, written once for `new` and
/// `new_const` (a struct expression, so that no large temporary is moved
/// on the stack).
macro_rules! element_value {
    ($config:ident, $client:expr) => {{
        const {
            let (queue, messages, events) = (QUEUE, MESSAGES, EVENTS);
            assert!(
                1024 <= queue,
                "PoolElement: QUEUE (the transmit queue's bytes) must be from 1,024 to 2^24"
            );
            assert!(
                queue <= 1 << 24,
                "PoolElement: QUEUE (the transmit queue's bytes) must be from 1,024 to 2^24"
            );
            assert!(
                4 <= messages,
                "PoolElement: MESSAGES (the transmit queue's messages) must be from 4 to 65,536"
            );
            assert!(
                messages <= 1 << 16,
                "PoolElement: MESSAGES (the transmit queue's messages) must be from 4 to 65,536"
            );
            assert!(
                1 <= events,
                "PoolElement: EVENTS (the event queue) must be from 1 to 65,536"
            );
            assert!(
                events <= 1 << 16,
                "PoolElement: EVENTS (the event queue) must be from 1 to 65,536"
            );
        }
        let pe_id = match $config.pe_id {
            Some(id) => id,
            None => {
                let mut rng = Xoshiro256StarStar::seed_from_u64($config.seed);
                loop {
                    if let Ok(id) = PeId::new(rng.next_u64_const() as u32) {
                        break id;
                    }
                }
            }
        };
        let retry_delay = match $config.registration_retry {
            Some(b) => b.initial,
            None => Duration::ZERO,
        };
        PoolElement {
            client: $client,
            config: $config,
            pe_id,
            wanted: false,
            registered: false,
            request: None,
            reregister_after: false,
            attempts: 0,
            dereg_retransmits: 0,
            t4: None,
            retry_at: None,
            retry_delay,
            events: heapless::Deque::new(),
            events_lost: 0,
            untrusted_home_claims: 0,
        }
    }};
}

impl PoolElement {
    /// A pool element that does nothing until [`register`](Self::register),
    /// with the default capacities (the build-time limits; for others see
    /// [`new_sized`](Self::new_sized)).
    ///
    /// The value holds its transmit queue (about 16 KiB with the defaults);
    /// to place it in a `static` on a board without passing it through the
    /// stack, build it with [`new_const`](Self::new_const).
    pub fn new(config: PoolElementConfig) -> Result<Self, PoolElementError> {
        Self::new_sized(config)
    }

    /// [`new`](Self::new) at compile time, for a pool element that is to
    /// live in a `static` (or a `static_cell::ConstStaticCell`): the
    /// compiler builds the value in the image, never on the stack. The
    /// configuration comes from the `const fn`s of [`PoolElementConfig`].
    /// [`new_sized_const`](Self::new_sized_const) does the same for other
    /// capacities.
    ///
    /// A `const fn` cannot read the configuration's lists, so two things
    /// happen at the first call of a `&mut self` method
    /// ([`register`](Self::register), [`Machine::handle`], …) instead:
    /// the configured and trusted registrars enter the server hunt's table,
    /// and the user transport is checked as `new` checks it. An invalid
    /// transport makes `register` report [`Event::RegistrationFailed`]
    /// (cause Invalid Values, no retry) and send nothing.
    ///
    /// ```
    /// use core::net::{IpAddr, Ipv4Addr};
    /// use rserpool::addr::{TransportProtocol, TransportUse};
    /// use rserpool::asap_client::OwnedTransport;
    /// use rserpool::pool_element::{PoolElement, PoolElementConfig};
    /// use rserpool::PoolHandle;
    ///
    /// const POOL: PoolHandle = match PoolHandle::new(b"echo") {
    ///     Ok(p) => p,
    ///     Err(_) => panic!("bad handle"),
    /// };
    /// const IP: [IpAddr; 1] = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))];
    /// static PE: PoolElement = PoolElement::new_const(PoolElementConfig::rfc(
    ///     POOL,
    ///     OwnedTransport::new_const(TransportProtocol::Sctp, 7, TransportUse::DataOnly, IP),
    /// ));
    /// assert!(!PE.is_registered());
    /// ```
    pub const fn new_const(config: PoolElementConfig) -> Self {
        Self::new_sized_const(config)
    }
}

impl<const QUEUE: usize, const MESSAGES: usize, const EVENTS: usize>
    PoolElement<QUEUE, MESSAGES, EVENTS>
{
    /// This type's capacities, by name.
    pub const CAPACITY: crate::capacity::PoolElementCapacity =
        crate::capacity::PoolElementCapacity {
            transmit_queue: QUEUE,
            messages: MESSAGES,
            events: EVENTS,
        };

    /// [`new`](PoolElement::new) for any capacities (see the
    /// [type](PoolElement)): a transmit queue of `QUEUE` bytes and
    /// `MESSAGES` messages, `EVENTS` events.
    ///
    /// ```
    /// use core::net::{IpAddr, Ipv4Addr};
    /// use rserpool::addr::{TransportProtocol, TransportUse};
    /// use rserpool::asap_client::OwnedTransport;
    /// use rserpool::pool_element::{PoolElement, PoolElementConfig};
    /// use rserpool::PoolHandle;
    ///
    /// let ip = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))];
    /// let user = OwnedTransport::new(TransportProtocol::Sctp, 7, TransportUse::DataOnly, &ip)?;
    /// let config = PoolElementConfig::rfc(PoolHandle::new(b"echo")?, user);
    /// // A 1 KiB transmit queue of 8 messages, 4 events.
    /// let pe: PoolElement<1024, 8, 4> = PoolElement::new_sized(config)?;
    /// assert!(!pe.is_registered());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new_sized(config: PoolElementConfig) -> Result<Self, PoolElementError> {
        validate_transport(&config.user_transport)?;
        let mut client = AsapClient::new_const(config.hunt);
        client.configure(&config.registrars, &config.trusted_registrars);
        Ok(element_value!(config, client))
    }

    /// [`new_const`](PoolElement::new_const) for any capacities (see the
    /// [type](PoolElement)), e.g. a preset's:
    ///
    /// ```
    /// use core::net::{IpAddr, Ipv4Addr};
    /// use rserpool::addr::{TransportProtocol, TransportUse};
    /// use rserpool::asap_client::OwnedTransport;
    /// use rserpool::pool_element::PoolElementConfig;
    /// use rserpool::presets::BoardPoolElement;
    /// use rserpool::PoolHandle;
    ///
    /// const POOL: PoolHandle = match PoolHandle::new(b"echo") {
    ///     Ok(p) => p,
    ///     Err(_) => panic!("bad handle"),
    /// };
    /// const IP: [IpAddr; 1] = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))];
    /// static PE: BoardPoolElement = BoardPoolElement::new_sized_const(PoolElementConfig::rfc(
    ///     POOL,
    ///     OwnedTransport::new_const(TransportProtocol::Sctp, 7, TransportUse::DataOnly, IP),
    /// ));
    /// assert!(!PE.is_registered());
    /// ```
    pub const fn new_sized_const(config: PoolElementConfig) -> Self {
        let hunt = config.hunt;
        element_value!(config, AsapClient::new_const(hunt))
    }

    /// Enters the configured registrars (once; see
    /// [`new_const`](Self::new_const)).
    #[inline]
    fn prepare(&mut self) {
        self.client
            .configure(&self.config.registrars, &self.config.trusted_registrars);
    }

    /// The configuration.
    pub const fn config(&self) -> &PoolElementConfig {
        &self.config
    }

    /// The PE identifier (fixed for the PE's life).
    pub const fn pe_id(&self) -> PeId {
        self.pe_id
    }

    /// The pool handle.
    pub const fn pool_handle(&self) -> &PoolHandle {
        &self.config.pool_handle
    }

    /// Whether the last registration was accepted and is still in force.
    pub const fn is_registered(&self) -> bool {
        self.registered
    }

    /// The home registrar, if one is chosen.
    pub const fn home(&self) -> Option<Home> {
        self.client.hunt.home()
    }

    /// The server hunt's state (registrars known, T5).
    pub const fn server_hunt(&self) -> &ServerHunt<MAX_REGISTRARS> {
        &self.client.hunt
    }

    /// Registration sends since the last success.
    pub const fn registration_attempts(&self) -> u32 {
        self.attempts
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

    /// ENDPOINT_KEEP_ALIVEs with the H flag ignored because they came from
    /// a registrar the server hunt does not trust (neither configured nor
    /// announced, nor an association from such a registrar's host): such a
    /// sender never becomes the home.
    pub const fn untrusted_home_claims(&self) -> u32 {
        self.untrusted_home_claims
    }

    /// Protocol messages that could not be queued (full transmit queue); the
    /// request timers resend them.
    pub const fn send_failures(&self) -> u32 {
        self.client.send_failures
    }

    /// The next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The PE as a Pool Element parameter (e.g. to list itself in a
    /// business card).
    pub fn element_param(&self) -> PoolElementParam<'_> {
        element_param(
            &self.config,
            self.pe_id,
            self.client.hunt.home().and_then(|h| h.server_id),
        )
    }

    /// Registers (or re-registers) the PE: server hunt if needed, then
    /// REGISTRATION with T2. The attempt count starts again.
    pub fn register(&mut self, now: Instant) {
        self.prepare();
        if validate_transport(&self.config.user_transport).is_err() {
            self.event(Event::RegistrationFailed {
                cause: Some(CauseCode::InvalidValues),
                retry_at: None,
            });
            return;
        }
        self.wanted = true;
        self.attempts = 0;
        self.retry_at = None;
        if matches!(self.request, Some(r) if r.kind == RequestKind::Register) {
            return;
        }
        self.start(now, RequestKind::Register);
    }

    /// Deregisters the PE: DEREGISTRATION with T3 over the home registrar.
    pub fn deregister(&mut self, now: Instant) -> Result<(), PoolElementError> {
        let registering = matches!(self.request, Some(r) if r.kind == RequestKind::Register);
        if !self.registered && !registering {
            return Err(PoolElementError::NotRegistered);
        }
        self.wanted = false;
        self.reregister_after = false;
        self.t4 = None;
        self.retry_at = None;
        self.dereg_retransmits = 0;
        self.start(now, RequestKind::Deregister);
        Ok(())
    }

    /// Changes the policy (e.g. a new load) and re-registers when registered
    /// or registering (after the outstanding request is answered).
    pub fn set_policy(&mut self, now: Instant, policy: Policy) {
        self.config.policy = policy;
        if !self.wanted {
            return;
        }
        match self.request {
            Some(_) => self.reregister_after = true,
            None => {
                self.attempts = 0;
                self.start(now, RequestKind::Register);
            }
        }
    }

    /// Queues ASAP_COOKIE on a pool user's control channel.
    pub fn send_cookie(&mut self, assoc: AssocId, cookie: &[u8]) -> Result<(), PoolElementError> {
        if cookie.len() > usize::from(u16::MAX) - 16 {
            return Err(PoolElementError::CookieTooLong { len: cookie.len() });
        }
        self.client.tx.push_asap(
            Destination::Association(assoc),
            &AsapMessage::Cookie { cookie },
        )?;
        Ok(())
    }

    /// Queues ASAP_BUSINESS_CARD on a pool user's control channel: this
    /// pool, its policy, and `elements` in preferred failover order (e.g.
    /// [`element_param`](Self::element_param) followed by other PEs).
    pub fn send_business_card(
        &mut self,
        assoc: AssocId,
        elements: &[PoolElementParam<'_>],
    ) -> Result<(), PoolElementError> {
        let message = AsapMessage::BusinessCard {
            pool_handle: self.config.pool_handle.as_bytes(),
            policy: Some(self.config.policy.into()),
            elements: List::from_slice(elements),
        };
        self.client
            .tx
            .push_asap(Destination::Association(assoc), &message)?;
        Ok(())
    }

    fn event(&mut self, e: Event) {
        if self.events.push_back(e).is_err() {
            self.events_lost = self.events_lost.saturating_add(1);
        }
    }

    fn start(&mut self, now: Instant, kind: RequestKind) {
        self.request = Some(Request {
            kind,
            deadline: None,
            resent_for_challenge: false,
        });
        if self.client.hunt.home().is_some() {
            self.send_request(now);
        } else if let Some(home) = self.client.hunt.ensure_home(now) {
            self.home_found(now, home);
        }
    }

    /// A registration was rejected (`cause`) or went unanswered: reported,
    /// and tried again after the back-off if one is configured.
    fn registration_failed(&mut self, now: Instant, cause: Option<CauseCode>) {
        self.registered = false;
        self.t4 = None;
        let retry_at = match self.config.registration_retry {
            Some(backoff) if self.wanted => {
                let at = now + self.retry_delay;
                self.retry_delay = backoff.next(self.retry_delay);
                Some(at)
            }
            _ => {
                self.wanted = false;
                None
            }
        };
        self.retry_at = retry_at;
        self.event(Event::RegistrationFailed { cause, retry_at });
    }

    fn send_request(&mut self, now: Instant) {
        let Some(req) = self.request else { return };
        let Some(home) = self.client.hunt.home() else {
            self.request = Some(Request {
                deadline: None,
                ..req
            });
            if let Some(h) = self.client.hunt.ensure_home(now) {
                self.home_found(now, h);
            }
            return;
        };
        let dest = Destination::Association(home.assoc);
        let (result, timer) = match req.kind {
            RequestKind::Register => {
                if self.attempts >= self.config.max_reg_attempt {
                    net_warn!("pool element: registration not answered");
                    self.request = None;
                    self.registration_failed(now, None);
                    return;
                }
                self.attempts += 1;
                let pool_element = element_param(
                    &self.config,
                    self.pe_id,
                    self.client.hunt.home().and_then(|h| h.server_id),
                );
                let message = AsapMessage::Registration {
                    pool_handle: self.config.pool_handle.as_bytes(),
                    pool_element,
                };
                (
                    self.client.tx.push_asap(dest, &message),
                    self.config.t2_registration,
                )
            }
            RequestKind::Deregister => {
                let message = AsapMessage::Deregistration {
                    pool_handle: self.config.pool_handle.as_bytes(),
                    pe_id: self.pe_id,
                };
                (
                    self.client.tx.push_asap(dest, &message),
                    self.config.t3_deregistration,
                )
            }
        };
        if result.is_err() {
            self.client.send_failed();
        }
        self.request = Some(Request {
            kind: req.kind,
            deadline: Some(now + timer),
            resent_for_challenge: false,
        });
    }

    /// T2/T3 expired.
    fn request_timed_out(&mut self, now: Instant) {
        let Some(req) = self.request else { return };
        if req.kind == RequestKind::Deregister {
            if self.dereg_retransmits >= self.config.max_request_retransmit {
                self.request = None;
                self.registered = false;
                self.event(Event::DeregistrationFailed { cause: None });
                return;
            }
            self.dereg_retransmits += 1;
        }
        self.request = Some(Request {
            deadline: None,
            ..req
        });
        // Server hunt, preferring another registrar; resend once a home is found.
        if let Some(home) = self.client.hunt.lose_home(now) {
            self.home_found(now, home);
        }
    }
}

impl<const QUEUE: usize, const MESSAGES: usize, const EVENTS: usize> AsapRole<QUEUE, MESSAGES>
    for PoolElement<QUEUE, MESSAGES, EVENTS>
{
    fn client(&mut self) -> &mut AsapClient<QUEUE, MESSAGES> {
        &mut self.client
    }

    /// A home was found (hunt, H flag): sends a request that waits for one.
    fn home_found(&mut self, now: Instant, home: Home) {
        self.event(Event::HomeChanged { home });
        if matches!(self.request, Some(r) if r.deadline.is_none()) {
            self.send_request(now);
        }
    }

    fn home_lost(&mut self, _now: Instant, assoc: AssocId, how: HomeLoss) {
        self.event(Event::HomeLost { assoc });
        match self.request {
            Some(req) => {
                self.request = Some(Request {
                    deadline: None,
                    ..req
                })
            }
            None if how == HomeLoss::Down && self.registered && self.wanted => {
                // Re-register with the next home.
                self.attempts = 0;
                self.t4 = None;
                self.request = Some(Request {
                    kind: RequestKind::Register,
                    deadline: None,
                    resent_for_challenge: false,
                });
            }
            None => {}
        }
    }

    /// The home registrar's challenge was answered: a registration or
    /// deregistration waiting for its answer is sent again at once (its
    /// timer restarts; the challenge stood in for the answer, so no
    /// registration attempt is counted for it).
    fn challenged(&mut self, now: Instant, assoc: AssocId) {
        if self.client.hunt.home().map(|h| h.assoc) != Some(assoc) {
            return;
        }
        let Some(req) = self
            .request
            .filter(|r| r.deadline.is_some() && !r.resent_for_challenge)
        else {
            return;
        };
        if req.kind == RequestKind::Register {
            self.attempts = self.attempts.saturating_sub(1);
        }
        self.send_request(now);
        if let Some(r) = self.request.as_mut() {
            r.resent_for_challenge = true;
        }
    }

    fn on_message(&mut self, now: Instant, source: Source, message: &AsapMessage<'_>) {
        let assoc = source_assoc(source);
        let own_handle = self.config.pool_handle.as_bytes();
        match *message {
            AsapMessage::RegistrationResponse {
                rejected,
                pool_handle,
                pe_id,
                ref error,
            } => {
                if pool_handle != own_handle || pe_id != self.pe_id {
                    return;
                }
                if !matches!(self.request, Some(r) if r.kind == RequestKind::Register) {
                    return;
                }
                self.request = None;
                if rejected {
                    self.reregister_after = false;
                    self.registration_failed(now, asap_error::first_cause(error));
                    return;
                }
                self.registered = true;
                self.attempts = 0;
                self.retry_at = None;
                self.retry_delay = self
                    .config
                    .registration_retry
                    .map_or(Duration::ZERO, |b| b.initial);
                self.t4 = Some(now + self.config.t4());
                if let Some(home) = assoc.and_then(|a| self.client.hunt.answered(a)) {
                    // A late answer during a hunt: that registrar is the home.
                    self.event(Event::HomeChanged { home });
                }
                if let Some(home) = self.client.hunt.home() {
                    self.event(Event::Registered { home });
                }
                if self.reregister_after {
                    self.reregister_after = false;
                    self.start(now, RequestKind::Register);
                }
            }
            AsapMessage::DeregistrationResponse {
                pool_handle,
                pe_id,
                ref error,
            } => {
                if pool_handle != own_handle || pe_id != self.pe_id {
                    return;
                }
                if matches!(self.request, Some(r) if r.kind == RequestKind::Deregister) {
                    self.request = None;
                    match asap_error::first_cause(error) {
                        Some(cause) if error.is_some() => {
                            self.event(Event::DeregistrationFailed { cause: Some(cause) })
                        }
                        _ => {
                            self.registered = false;
                            self.event(Event::Deregistered);
                        }
                    }
                } else if self.registered && self.request.is_none() {
                    // The registrar ended the registration (lifetime expiry, or
                    // removal after ENDPOINT_UNREACHABLE reports).
                    self.registered = false;
                    self.t4 = None;
                    self.event(Event::RegistrationLost);
                    if self.wanted {
                        self.attempts = 0;
                        self.start(now, RequestKind::Register);
                    }
                }
            }
            AsapMessage::EndpointKeepAlive {
                home,
                server_id,
                pool_handle,
                pe_id,
            } => {
                let Some(assoc) = assoc else { return };
                if pool_handle != own_handle || pe_id.is_some_and(|p| p != self.pe_id) {
                    net_debug!("pool element: keep-alive for another pool element discarded");
                    return;
                }
                let ack = AsapMessage::EndpointKeepAliveAck {
                    pool_handle: own_handle,
                    pe_id: self.pe_id,
                };
                self.client.send(Destination::Association(assoc), &ack);
                if home && !self.client.hunt.trusts(assoc) {
                    // Only a registrar the hunt knows may become the home.
                    net_debug!("pool element: home claim from an unknown registrar ignored");
                    self.untrusted_home_claims = self.untrusted_home_claims.saturating_add(1);
                } else if home {
                    if let Some(new_home) = self.client.hunt.adopt(assoc, server_id) {
                        self.home_found(now, new_home);
                    }
                } else {
                    self.client.hunt.learn(assoc, server_id);
                }
            }
            AsapMessage::CookieEcho { cookie } => {
                let Some(assoc) = assoc else { return };
                match Cookie::from_slice(cookie) {
                    Ok(cookie) => self.event(Event::CookieEcho { assoc, cookie }),
                    Err(_) => self.event(Event::CookieTooLong {
                        assoc,
                        len: cookie.len(),
                    }),
                }
            }
            AsapMessage::Error { ref error } => {
                let cause = error.code();
                self.event(Event::ErrorReceived { assoc, cause });
            }
            // Not for a pool element (or not handled: business cards from
            // users that are PEs themselves, resolutions it never asked for).
            _ => {}
        }
    }
}

fn element_param(
    config: &PoolElementConfig,
    pe_id: PeId,
    home_server: Option<crate::id::ServerId>,
) -> PoolElementParam<'_> {
    PoolElementParam {
        pe_id,
        home_server,
        registration_life: life_millis(config.registration_life),
        user_transport: UserTransport::Transport(config.user_transport.param()),
        policy: config.policy.into(),
        asap_transport: None,
    }
}

/// The check of `new`: the user transport as a valid transport address.
fn validate_transport(t: &OwnedTransport) -> Result<(), PoolElementError> {
    crate::addr::TransportAddress {
        protocol: t.protocol,
        port: t.port,
        transport_use: t.transport_use,
        service_code: 0,
        addresses: &t.addresses,
    }
    .validate()
    .map_err(PoolElementError::Transport)
}

/// Registration life in milliseconds for the wire (SPEC §15.1), capped.
fn life_millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

impl<const QUEUE: usize, const MESSAGES: usize, const EVENTS: usize> Machine
    for PoolElement<QUEUE, MESSAGES, EVENTS>
{
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
        if let Some(Request {
            deadline: Some(d), ..
        }) = self.request
        {
            if now >= d {
                self.request_timed_out(now);
            }
        }
        if let Some(t4) = self.t4 {
            if now >= t4 {
                self.t4 = None;
                if self.wanted && self.request.is_none() {
                    self.attempts = 0;
                    self.start(now, RequestKind::Register);
                }
            }
        }
        if let Some(at) = self.retry_at {
            if now >= at {
                self.retry_at = None;
                if self.wanted && self.request.is_none() {
                    net_debug!("pool element: registering again after a failure");
                    self.attempts = 0;
                    self.start(now, RequestKind::Register);
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let request = self.request.and_then(|r| r.deadline);
        [
            request,
            self.t4,
            self.retry_at,
            self.client.hunt.poll_timeout(),
        ]
        .into_iter()
        .flatten()
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
