//! The ASAP server hunt (RFC 5352 §3.6), shared by the pool element and the
//! pool user: which registrars are known (configured, or announced with
//! SERVER_ANNOUNCE and forgotten after T7-ENRPoutdate), which associations
//! to them are being opened, and which connected registrar is the home.
//!
//! * SH1: at most [`MAX_CONCURRENT_CONNECTS`] (three) connection attempts at
//!   once; SH2: T5-Serverhunt runs while attempts are out; SH3: the first
//!   association that comes up stops T5, resets it to its initial value and
//!   becomes the home (SH6); SH4: a failed attempt is replaced by one to
//!   another untried registrar; SH5: on T5 expiry the attempts are
//!   abandoned, T5 doubles (capped at RETRAN-MAX) and the next round starts
//!   with the registrars after the ones just tried.
//! * A registrar already connected (e.g. one that was abandoned as home) is
//!   taken at once when a hunt starts, unless it is the one being avoided.
//! * The hunt asks for associations through a small bounded queue that the
//!   owning machine drains in `poll_connect`.
//! * [`move_home`](ServerHunt::move_home) hunts for a registrar other than
//!   a given set (the pool user's registrars that did not know a pool):
//!   those are neither taken nor tried while any other registrar is
//!   connected or still untried in the hunt; once every other one failed,
//!   the set is given up and the hunt goes on as usual (a registrar that
//!   knows nothing is still better than none).

use core::net::{IpAddr, SocketAddr};

use crate::addr::{canonical_ip, TransportProtocol};
use crate::id::{AssocId, ServerId};
use crate::time::{Duration, Instant};
use crate::transmit::Connect;
use crate::wire::{self, AsapMessage, Protocol};

/// The most association attempts a hunt keeps open at once (RFC 5352 §3.6
/// SH1: "MUST NOT" more than three).
pub const MAX_CONCURRENT_CONNECTS: usize = 3;

/// Server hunt timing (RFC 5352 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HuntConfig {
    /// T5-Serverhunt: how long a round of connection attempts may take
    /// before it is abandoned; doubled after each expiry.
    pub t5_server_hunt: Duration,
    /// RETRAN-MAX: the cap on the doubled T5.
    pub retran_max: Duration,
    /// T7-ENRPoutdate: an announced registrar is forgotten this long after
    /// its last SERVER_ANNOUNCE.
    pub t7_enrp_outdate: Duration,
    /// How many attempts run at once (at most [`MAX_CONCURRENT_CONNECTS`];
    /// larger values are treated as three).
    pub max_concurrent: usize,
    /// Whether announced TCP transports are used when an announce names no
    /// SCTP transport (a pool user may reach a registrar over TCP; a pool
    /// element must use SCTP).
    pub accept_tcp: bool,
}

impl HuntConfig {
    /// RFC 5352 §7: T5 10 s, RETRAN-MAX 60 s, T7 5 s.
    pub const fn rfc() -> Self {
        HuntConfig {
            t5_server_hunt: Duration::from_secs(10),
            retran_max: Duration::from_secs(60),
            t7_enrp_outdate: Duration::from_secs(5),
            max_concurrent: MAX_CONCURRENT_CONNECTS,
            accept_tcp: false,
        }
    }

    /// rsplib: connect timeout 7.5 s, announce timeout 5 s (RETRAN-MAX as RFC).
    pub const fn rsplib() -> Self {
        HuntConfig {
            t5_server_hunt: Duration::from_millis(7_500),
            retran_max: Duration::from_secs(60),
            t7_enrp_outdate: Duration::from_secs(5),
            max_concurrent: MAX_CONCURRENT_CONNECTS,
            accept_tcp: false,
        }
    }
}

impl Default for HuntConfig {
    fn default() -> Self {
        Self::rfc()
    }
}

/// What a registrar entry is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Not connected, may be tried.
    Idle,
    /// Tried in this round and failed (or abandoned): not tried again
    /// until the next round.
    Tried,
    /// A connection attempt is out.
    Connecting,
    /// Connected over this association.
    Connected(AssocId),
}

/// A registrar the hunt knows of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Registrar {
    remote: SocketAddr,
    server_id: Option<ServerId>,
    /// `None` for a configured registrar (never forgotten); the T7 deadline
    /// for an announced one.
    expires: Option<Instant>,
    link: Link,
}

/// The home registrar: the association requests go over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Home {
    /// The association to it.
    pub assoc: AssocId,
    /// Its address, when known (not for a registrar that took over with the
    /// H flag over an association it opened).
    pub remote: Option<SocketAddr>,
    /// Its server identifier, once learnt (from a keep-alive or announce).
    pub server_id: Option<ServerId>,
}

/// Why a registrar could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HuntError {
    /// The registrar table is full.
    TableFull,
}

impl core::fmt::Display for HuntError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HuntError::TableFull => f.write_str("the registrar table is full"),
        }
    }
}

impl core::error::Error for HuntError {}

/// The server hunt of one pool element or pool user; `N` registrars at most
/// (configured plus announced).
#[derive(Clone, Debug)]
pub struct ServerHunt<const N: usize> {
    config: HuntConfig,
    registrars: heapless::Vec<Registrar, N>,
    home: Option<Home>,
    hunting: bool,
    /// The current T5 value (doubles on expiry).
    t5: Duration,
    /// The running T5, while attempts are out.
    t5_deadline: Option<Instant>,
    /// Where the next round starts looking.
    cursor: usize,
    /// An association not to take as home in this hunt.
    avoid: Option<AssocId>,
    /// Registrars neither taken nor tried in this hunt while others remain
    /// ([`move_home`](Self::move_home)).
    excluded: heapless::Vec<SocketAddr, N>,
    connects: heapless::Deque<Connect, MAX_CONCURRENT_CONNECTS>,
    announces_dropped: u32,
    /// Associations a known registrar's host opened to this endpoint (a
    /// registrar taking over): they may claim the home with the H flag.
    inbound: heapless::Vec<(AssocId, SocketAddr), N>,
    /// Hosts of further registrars that may take this endpoint over
    /// without being in the table ([`trust_host`](Self::trust_host)).
    trusted_hosts: heapless::Vec<IpAddr, N>,
    /// Associations whose peer authenticated by TLS
    /// ([`on_authenticated`](Self::on_authenticated)).
    authenticated: heapless::Vec<AssocId, N>,
}

impl<const N: usize> ServerHunt<N> {
    /// A hunt with no registrar known.
    pub const fn new(config: HuntConfig) -> Self {
        ServerHunt {
            config,
            registrars: heapless::Vec::new(),
            home: None,
            hunting: false,
            t5: config.t5_server_hunt,
            t5_deadline: None,
            cursor: 0,
            avoid: None,
            excluded: heapless::Vec::new(),
            connects: heapless::Deque::new(),
            announces_dropped: 0,
            inbound: heapless::Vec::new(),
            trusted_hosts: heapless::Vec::new(),
            authenticated: heapless::Vec::new(),
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &HuntConfig {
        &self.config
    }

    /// Adds a configured registrar (never forgotten).
    pub fn add_configured(&mut self, remote: SocketAddr) -> Result<(), HuntError> {
        if self.registrars.iter().any(|r| r.remote == remote) {
            return Ok(());
        }
        self.registrars
            .push(Registrar {
                remote,
                server_id: None,
                expires: None,
                link: Link::Idle,
            })
            .map_err(|_| HuntError::TableFull)
    }

    /// Trusts the registrars on host `ip` to take this endpoint over
    /// (ENDPOINT_KEEP_ALIVE with the H flag on an association they open)
    /// without hunting them: registrars of the same set as the configured
    /// ones that may become the home after a takeover.
    pub fn trust_host(&mut self, ip: IpAddr) -> Result<(), HuntError> {
        let ip = canonical_ip(ip);
        if self.trusted_hosts.contains(&ip) {
            return Ok(());
        }
        self.trusted_hosts
            .push(ip)
            .map_err(|_| HuntError::TableFull)
    }

    /// Whether registrars on host `ip` are trusted to become the home: the
    /// host of a registrar in the table (configured, or announced by
    /// SERVER_ANNOUNCE) or one given to [`trust_host`](Self::trust_host).
    pub fn trusts_host(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.registrars
            .iter()
            .any(|r| canonical_ip(r.remote.ip()) == ip)
            || self.trusted_hosts.contains(&ip)
    }

    /// The home registrar, if one is chosen.
    pub const fn home(&self) -> Option<Home> {
        self.home
    }

    /// Whether a hunt is going on.
    pub const fn is_hunting(&self) -> bool {
        self.hunting
    }

    /// The current T5 value (doubled after each expiry, reset on success).
    pub const fn current_t5(&self) -> Duration {
        self.t5
    }

    /// The number of registrars known.
    pub fn known(&self) -> usize {
        self.registrars.len()
    }

    /// How many announces were dropped because the table was full.
    pub const fn announces_dropped(&self) -> u32 {
        self.announces_dropped
    }

    /// The number of attempts out.
    pub fn connecting(&self) -> usize {
        self.registrars
            .iter()
            .filter(|r| r.link == Link::Connecting)
            .count()
    }

    /// The next association the hunt wants opened.
    pub fn poll_connect(&mut self) -> Option<Connect> {
        self.connects.pop_front()
    }

    /// The earliest hunt deadline (T5, or the first T7 of an announced
    /// registrar).
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Connected (or connecting) registrars are kept past T7 until that
        // ends, so their deadlines do not count.
        let t7 = self
            .registrars
            .iter()
            .filter(|r| matches!(r.link, Link::Idle | Link::Tried))
            .filter_map(|r| r.expires)
            .min();
        match (self.t5_deadline, t7) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Forgets the home registrar (it timed out, failed or was lost) and
    /// starts a hunt that prefers other registrars; returns the new home if
    /// another registrar is already connected.
    pub fn lose_home(&mut self, now: Instant) -> Option<Home> {
        let avoid = self.home.take().map(|h| h.assoc);
        self.start(now, avoid)
    }

    /// Starts a hunt if there is no home and none is going on; returns the
    /// home if one is (or becomes) available at once.
    pub fn ensure_home(&mut self, now: Instant) -> Option<Home> {
        if self.home.is_some() {
            return self.home;
        }
        if self.hunting {
            return None;
        }
        self.start(now, None)
    }

    /// Forgets the home registrar, like [`lose_home`](Self::lose_home), and
    /// hunts for a registrar whose address is not in `excluded` (nor the
    /// home's): a connected one is taken at once, otherwise untried ones are
    /// tried. When every other registrar has failed in this hunt, the
    /// exclusion ends and the hunt goes on as usual. Returns the new home
    /// if one is connected already.
    pub fn move_home(&mut self, now: Instant, excluded: &[SocketAddr]) -> Option<Home> {
        self.excluded.clear();
        for a in excluded {
            if !self.excluded.contains(a) && self.excluded.push(*a).is_err() {
                break;
            }
        }
        if let Some(r) = self.home.and_then(|h| h.remote) {
            if !self.excluded.contains(&r) {
                let _ = self.excluded.push(r);
            }
        }
        self.lose_home(now)
    }

    /// Whether a registrar at `remote` is excluded in this hunt.
    fn is_excluded(&self, remote: SocketAddr) -> bool {
        self.excluded.contains(&remote)
    }

    /// Whether registrars other than the excluded ones remain to be taken
    /// or tried in this hunt; if none do, the exclusion ends.
    fn check_exclusion(&mut self) {
        if self.excluded.is_empty() {
            return;
        }
        let avoid = self.avoid;
        let left = self.registrars.iter().any(|r| {
            !self.excluded.contains(&r.remote)
                && match r.link {
                    Link::Idle | Link::Connecting => true,
                    Link::Connected(a) => Some(a) != avoid,
                    Link::Tried => false,
                }
        });
        if !left {
            self.excluded.clear();
        }
    }

    fn start(&mut self, now: Instant, avoid: Option<AssocId>) -> Option<Home> {
        self.hunting = true;
        self.avoid = avoid;
        // SH6 at once: an already connected registrar other than the avoided one.
        if let Some(h) = self.connected_other_than(avoid) {
            return Some(self.found(h));
        }
        for r in self.registrars.iter_mut() {
            if r.link == Link::Tried {
                r.link = Link::Idle;
            }
        }
        self.launch(now);
        if self.connecting() == 0 {
            // Nobody else to try: the avoided registrar is still better than none.
            self.excluded.clear();
            if let Some(h) = self.connected_other_than(None) {
                return Some(self.found(h));
            }
            self.launch(now);
        }
        None
    }

    fn connected_other_than(&self, avoid: Option<AssocId>) -> Option<Home> {
        self.registrars.iter().find_map(|r| match r.link {
            Link::Connected(a) if Some(a) != avoid && !self.is_excluded(r.remote) => Some(Home {
                assoc: a,
                remote: Some(r.remote),
                server_id: r.server_id,
            }),
            _ => None,
        })
    }

    fn found(&mut self, home: Home) -> Home {
        self.hunting = false;
        self.avoid = None;
        self.excluded.clear();
        self.t5 = self.config.t5_server_hunt;
        self.t5_deadline = None;
        self.home = Some(home);
        home
    }

    /// Opens attempts to untried registrars up to the concurrency limit.
    fn launch(&mut self, now: Instant) {
        let limit = self.config.max_concurrent.clamp(1, MAX_CONCURRENT_CONNECTS);
        let n = self.registrars.len();
        let mut started = false;
        let mut last = None;
        for step in 0..n {
            if self.connecting() >= limit {
                break;
            }
            let i = (self.cursor + step) % n;
            let r = &mut self.registrars[i];
            if r.link != Link::Idle || self.excluded.contains(&r.remote) {
                continue;
            }
            let connect = Connect {
                remote: r.remote,
                protocol: Protocol::Asap,
            };
            if self.connects.push_back(connect).is_err() {
                break;
            }
            self.registrars[i].link = Link::Connecting;
            started = true;
            last = Some(i);
        }
        if let Some(i) = last {
            // The next attempt starts after the registrars tried so far.
            self.cursor = (i + 1) % n;
        }
        if (started || self.connecting() > 0) && self.t5_deadline.is_none() {
            self.t5_deadline = Some(now + self.t5);
        }
    }

    /// An association came up. Returns the new home when the hunt ends with it.
    ///
    /// An association from an address the hunt does not know, but from a
    /// trusted host ([`trusts_host`](Self::trusts_host)), is remembered as
    /// one a registrar there opened, and so is an earlier association to a
    /// registrar in the table that a new one replaces in the table (see [`trusts`](Self::trusts)); one from any other host is
    /// not (while the table of such associations is full, neither).
    pub fn on_up(&mut self, now: Instant, assoc: AssocId, remote: SocketAddr) -> Option<Home> {
        let _ = now;
        let Some(r) = self.registrars.iter_mut().find(|r| r.remote == remote) else {
            if self.trusts_host(remote.ip()) {
                let _ = self.inbound.push((assoc, remote));
            }
            return None;
        };
        if let Link::Connected(old) = r.link {
            if old != assoc {
                // A second association to the same registrar: the first
                // (still up, perhaps the home's) stays one to a trusted
                // registrar.
                let _ = self.inbound.push((old, remote));
            }
        }
        r.link = Link::Connected(assoc);
        let home = Home {
            assoc,
            remote: Some(remote),
            server_id: r.server_id,
        };
        if self.hunting && Some(assoc) != self.avoid && !self.is_excluded(remote) {
            return Some(self.found(home));
        }
        None
    }

    /// A connection attempt failed (SH4: try another registrar). Returns the
    /// new home when the hunt ends here (an exclusion of
    /// [`move_home`](Self::move_home) given up with a registrar connected).
    pub fn on_connect_failed(&mut self, now: Instant, remote: SocketAddr) -> Option<Home> {
        if let Some(r) = self
            .registrars
            .iter_mut()
            .find(|r| r.remote == remote && r.link == Link::Connecting)
        {
            r.link = Link::Tried;
        }
        self.forget_expired(now);
        if self.hunting {
            self.launch(now);
            if let Some(h) = self.give_up_exclusion() {
                return Some(h);
            }
            self.launch(now);
        }
        None
    }

    /// Ends an exclusion with nothing left to try and takes a connected
    /// registrar (returned as the new home); without one, the hunt goes on
    /// over all registrars.
    fn give_up_exclusion(&mut self) -> Option<Home> {
        if self.excluded.is_empty() {
            return None;
        }
        self.check_exclusion();
        if self.excluded.is_empty() {
            if let Some(h) = self.connected_other_than(None) {
                return Some(self.found(h));
            }
        }
        None
    }

    /// An association went down. Returns `true` when it was the home's (the
    /// caller then hunts with [`lose_home`](Self::lose_home) or
    /// [`ensure_home`](Self::ensure_home)).
    pub fn on_down(&mut self, now: Instant, assoc: AssocId) -> bool {
        self.inbound.retain(|(a, _)| *a != assoc);
        self.authenticated.retain(|a| *a != assoc);
        for r in self.registrars.iter_mut() {
            if r.link == Link::Connected(assoc) {
                r.link = Link::Idle;
            }
        }
        self.forget_expired(now);
        if self.home.map(|h| h.assoc) == Some(assoc) {
            self.home = None;
            return true;
        }
        false
    }

    /// Whether the endpoint on `assoc` is a registrar this hunt trusts: one
    /// it connected to from its table (configured, or announced by
    /// SERVER_ANNOUNCE), an association opened to this endpoint from a
    /// trusted host ([`trusts_host`](Self::trusts_host), [`on_up`](Self::on_up)),
    /// or one whose peer authenticated by TLS
    /// ([`on_authenticated`](Self::on_authenticated)).
    pub fn trusts(&self, assoc: AssocId) -> bool {
        self.registrars
            .iter()
            .any(|r| r.link == Link::Connected(assoc))
            || self.inbound.iter().any(|(a, _)| *a == assoc)
            || self.authenticated.contains(&assoc)
    }

    /// The peer of `assoc` authenticated by TLS
    /// ([`TransportEvent::Authenticated`](crate::transmit::TransportEvent)):
    /// a registrar whose certificate chains to the node's roots is trusted
    /// as a home on that association until it goes down. While the table
    /// of such associations (`N`) is full, a further one is not trusted
    /// this way.
    pub fn on_authenticated(&mut self, assoc: AssocId) {
        if !self.authenticated.contains(&assoc) {
            let _ = self.authenticated.push(assoc);
        }
    }

    /// The registrar on `assoc` asks to be the home (keep-alive with the H
    /// flag): adopt it unless it already is, under this server id, and
    /// only if the hunt [`trusts`](Self::trusts) it. Returns the new home
    /// when it changed.
    pub fn adopt(&mut self, assoc: AssocId, server_id: ServerId) -> Option<Home> {
        if !self.trusts(assoc) {
            return None;
        }
        let remote = self.learn(assoc, server_id).or_else(|| {
            self.inbound
                .iter()
                .find(|(a, _)| *a == assoc)
                .map(|(_, r)| *r)
        });
        match self.home {
            // The home itself (its server id is now known).
            Some(h) if h.assoc == assoc => None,
            // The home registrar over another association: keep the home.
            Some(h) if h.server_id == Some(server_id) => None,
            _ => Some(self.found(Home {
                assoc,
                remote,
                server_id: Some(server_id),
            })),
        }
    }

    /// The parallel server hunt of RFC 5352 §3.7 (a request to the home
    /// timed out): returns `true` when another registrar is connected
    /// already (the caller may then [`lose_home`](Self::lose_home) to move
    /// to it); otherwise opens one association to an untried registrar, if
    /// none is being opened, and returns `false`. The home is kept.
    pub fn alternative(&mut self, now: Instant) -> bool {
        let _ = now;
        let home = self.home.map(|h| h.assoc);
        if self
            .registrars
            .iter()
            .any(|r| matches!(r.link, Link::Connected(a) if Some(a) != home))
        {
            return true;
        }
        if self.connecting() > 0 {
            return false;
        }
        let n = self.registrars.len();
        for step in 0..n {
            let i = (self.cursor + step) % n;
            if self.registrars[i].link != Link::Idle {
                continue;
            }
            let connect = Connect {
                remote: self.registrars[i].remote,
                protocol: Protocol::Asap,
            };
            if self.connects.push_back(connect).is_ok() {
                self.registrars[i].link = Link::Connecting;
                self.cursor = (i + 1) % n;
            }
            break;
        }
        false
    }

    /// A registrar answered a request on `assoc` while there is no home
    /// (e.g. a late answer during a hunt): it becomes the home (RFC 5352
    /// §3.7: "if another PR answers, adopt it"), unless the hunt excludes
    /// it ([`move_home`](Self::move_home)). Returns the new home.
    pub fn answered(&mut self, assoc: AssocId) -> Option<Home> {
        if self.home.is_some() {
            return None;
        }
        let excluded = self
            .registrars
            .iter()
            .any(|r| r.link == Link::Connected(assoc) && self.excluded.contains(&r.remote));
        if excluded {
            return None;
        }
        let (remote, server_id) = self
            .registrars
            .iter()
            .find(|r| r.link == Link::Connected(assoc))
            .map_or((None, None), |r| (Some(r.remote), r.server_id));
        Some(self.found(Home {
            assoc,
            remote,
            server_id,
        }))
    }

    /// Records that the registrar on `assoc` has `server_id`; returns its
    /// address when known.
    pub fn learn(&mut self, assoc: AssocId, server_id: ServerId) -> Option<SocketAddr> {
        if let Some(h) = self.home.as_mut() {
            if h.assoc == assoc {
                h.server_id = Some(server_id);
            }
        }
        let r = self
            .registrars
            .iter_mut()
            .find(|r| r.link == Link::Connected(assoc))?;
        r.server_id = Some(server_id);
        Some(r.remote)
    }

    /// A SERVER_ANNOUNCE from `sender`: adds or refreshes the registrar
    /// (T7 restarts); the first SCTP transport's first address is used (TCP
    /// when allowed and no SCTP transport is listed); none ⇒ the sender's
    /// address on port 3863. Starts an attempt when a hunt is waiting for
    /// registrars.
    pub fn on_announce(&mut self, now: Instant, sender: SocketAddr, message: &AsapMessage<'_>) {
        let AsapMessage::ServerAnnounce {
            server_id,
            transports,
        } = message
        else {
            return;
        };
        let mut remote = None;
        let mut any = false;
        for t in transports.iter() {
            any = true;
            let usable = t.protocol == TransportProtocol::Sctp
                || (self.config.accept_tcp && t.protocol == TransportProtocol::Tcp);
            if !usable {
                continue;
            }
            if let Some(ip) = t.addresses.first() {
                let addr = SocketAddr::new(ip, t.port);
                if t.protocol == TransportProtocol::Sctp || remote.is_none() {
                    remote = Some(addr);
                }
                if t.protocol == TransportProtocol::Sctp {
                    break;
                }
            }
        }
        let remote = match (remote, any) {
            (Some(r), _) => r,
            (None, false) => SocketAddr::new(sender.ip(), wire::ASAP_PORT),
            (None, true) => return,
        };
        self.announced(now, remote, *server_id);
    }

    /// Adds or refreshes an announced registrar.
    pub fn announced(&mut self, now: Instant, remote: SocketAddr, server_id: ServerId) {
        let expires = now + self.config.t7_enrp_outdate;
        let existing = self
            .registrars
            .iter_mut()
            .find(|r| r.remote == remote || r.server_id == Some(server_id));
        match existing {
            Some(r) => {
                if r.expires.is_some() {
                    r.expires = Some(expires);
                }
                r.server_id = Some(server_id);
                if r.remote != remote && matches!(r.link, Link::Idle | Link::Tried) {
                    r.remote = remote;
                }
            }
            None => {
                let entry = Registrar {
                    remote,
                    server_id: Some(server_id),
                    expires: Some(expires),
                    link: Link::Idle,
                };
                if self.registrars.push(entry).is_err() {
                    self.announces_dropped = self.announces_dropped.saturating_add(1);
                    return;
                }
            }
        }
        if self.hunting {
            self.launch(now);
        }
    }

    /// Runs the hunt's timers (T5, T7). Returns the new home when the hunt
    /// ends here (an exclusion of [`move_home`](Self::move_home) given up
    /// with a registrar connected).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Home> {
        self.forget_expired(now);
        if let Some(d) = self.t5_deadline {
            if now >= d {
                self.t5_deadline = None;
                // SH5: abandon the attempts, double T5 and try another set.
                for r in self.registrars.iter_mut() {
                    if r.link == Link::Connecting {
                        r.link = Link::Tried;
                    }
                }
                self.t5 = self.t5.saturating_mul(2).min(self.config.retran_max);
                if self.hunting {
                    // Every registrar outside the exclusion was tried in
                    // this round: the exclusion ends.
                    if let Some(h) = self.give_up_exclusion() {
                        return Some(h);
                    }
                    if self.registrars.iter().all(|r| r.link != Link::Idle) {
                        for r in self.registrars.iter_mut() {
                            if r.link == Link::Tried {
                                r.link = Link::Idle;
                            }
                        }
                    }
                    self.launch(now);
                }
            }
        }
        None
    }

    /// T7: forgets announced registrars not heard from (unless connected or
    /// being connected to; they go once that ends).
    fn forget_expired(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.registrars.len() {
            let r = self.registrars[i];
            let expired = r.expires.is_some_and(|e| now >= e);
            if expired && matches!(r.link, Link::Idle | Link::Tried) {
                self.registrars.swap_remove(i);
                if self.cursor >= self.registrars.len() {
                    self.cursor = 0;
                }
            } else {
                i += 1;
            }
        }
    }

    /// The address of the registrar connected over `assoc`.
    pub fn remote_of(&self, assoc: AssocId) -> Option<SocketAddr> {
        self.registrars
            .iter()
            .find(|r| r.link == Link::Connected(assoc))
            .map(|r| r.remote)
    }

    /// Whether the table holds `remote`.
    pub fn knows(&self, remote: SocketAddr) -> bool {
        self.registrars.iter().any(|r| r.remote == remote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::TransportUse;
    use crate::wire::{List, TransportParam};
    use core::net::{IpAddr, Ipv4Addr};

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    fn sid(n: u32) -> ServerId {
        ServerId::new(n).unwrap()
    }

    #[test]
    fn announce_addresses() {
        let now = Instant::from_secs(0);
        let config = HuntConfig {
            accept_tcp: true,
            ..HuntConfig::rfc()
        };
        let mut hunt: ServerHunt<4> = ServerHunt::new(config);
        let sender = SocketAddr::new(ip(1), 5000);
        // No transport: the sender's address, ASAP port.
        let m = AsapMessage::ServerAnnounce {
            server_id: sid(1),
            transports: List::empty(),
        };
        hunt.on_announce(now, sender, &m);
        assert!(hunt.knows(SocketAddr::new(ip(1), 3863)));
        // TCP listed before SCTP: SCTP wins; the same server id is updated, not added.
        let a = [ip(2)];
        let b = [ip(3)];
        let ts = [
            TransportParam::new(TransportProtocol::Tcp, 4000, TransportUse::DataOnly, &a),
            TransportParam::new(TransportProtocol::Sctp, 4001, TransportUse::DataOnly, &b),
        ];
        let m = AsapMessage::ServerAnnounce {
            server_id: sid(1),
            transports: List::from_slice(&ts),
        };
        hunt.on_announce(now, sender, &m);
        assert_eq!(hunt.known(), 1);
        assert!(hunt.knows(SocketAddr::new(ip(3), 4001)));
        // Only UDP: unusable, ignored.
        let u = [TransportParam::new(
            TransportProtocol::Udp,
            1,
            TransportUse::DataOnly,
            &a,
        )];
        let m = AsapMessage::ServerAnnounce {
            server_id: sid(2),
            transports: List::from_slice(&u),
        };
        hunt.on_announce(now, sender, &m);
        assert_eq!(hunt.known(), 1);
        // TCP only: used when allowed.
        let m = AsapMessage::ServerAnnounce {
            server_id: sid(3),
            transports: List::from_slice(&ts[..1]),
        };
        hunt.on_announce(now, sender, &m);
        assert!(hunt.knows(SocketAddr::new(ip(2), 4000)));
        // A full table counts what it drops.
        for n in 10..14 {
            hunt.announced(now, SocketAddr::new(ip(n as u8), 3863), sid(n));
        }
        assert_eq!(hunt.known(), 4);
        assert_eq!(hunt.announces_dropped(), 2);
    }

    #[test]
    fn connected_registrar_outlives_t7_until_it_goes_down() {
        let now = Instant::from_secs(0);
        let mut hunt: ServerHunt<4> = ServerHunt::new(HuntConfig::rfc());
        let r = SocketAddr::new(ip(1), 3863);
        hunt.announced(now, r, sid(1));
        assert_eq!(hunt.ensure_home(now), None);
        assert_eq!(hunt.poll_connect().map(|c| c.remote), Some(r));
        let home = hunt.on_up(now, AssocId(4), r).unwrap();
        assert_eq!(home.server_id, Some(sid(1)));
        let later = now + Duration::from_secs(60);
        // No T7 deadline for a connected registrar: nothing to wake for.
        assert_eq!(hunt.poll_timeout(), None);
        hunt.handle_timeout(later);
        assert_eq!(hunt.known(), 1);
        assert!(hunt.on_down(later, AssocId(4)));
        assert_eq!(hunt.known(), 0);
        assert_eq!(hunt.home(), None);
    }

    #[test]
    fn move_home_skips_the_excluded_registrars_until_none_other_is_left() {
        let t0 = Instant::from_secs(0);
        let mut hunt: ServerHunt<4> = ServerHunt::new(HuntConfig::rfc());
        let r: [SocketAddr; 4] = core::array::from_fn(|i| SocketAddr::new(ip(i as u8 + 1), 3863));
        for a in r {
            hunt.add_configured(a).unwrap();
        }
        assert_eq!(hunt.ensure_home(t0), None);
        let tried: heapless::Vec<SocketAddr, 4> =
            core::iter::from_fn(|| hunt.poll_connect().map(|c| c.remote)).collect();
        assert_eq!(&tried[..], &r[..3]);
        let home = hunt.on_up(t0, AssocId(1), r[0]).unwrap();
        assert_eq!(home.assoc, AssocId(1));
        assert!(hunt.on_up(t0, AssocId(2), r[1]).is_none());
        assert!(hunt.on_connect_failed(t0, r[2]).is_none());
        // Registrars 1 (the home) and 2 are excluded: 2 is connected but not
        // taken; 3 and 4 are tried.
        assert_eq!(hunt.move_home(t0, &[r[1]]), None);
        let tried: heapless::Vec<SocketAddr, 4> =
            core::iter::from_fn(|| hunt.poll_connect().map(|c| c.remote)).collect();
        assert_eq!(tried.len(), 2);
        assert!(tried.contains(&r[2]) && tried.contains(&r[3]));
        // A late answer from an excluded registrar does not end the hunt.
        assert_eq!(hunt.answered(AssocId(2)), None);
        assert_eq!(hunt.remote_of(AssocId(2)), Some(r[1]));
        // 3 fails; 4 never answers: at T5 the exclusion ends and the
        // connected registrar 1 (the first in the table) is taken.
        assert!(hunt.on_connect_failed(t0, r[2]).is_none());
        assert!(hunt.home().is_none());
        let t5 = hunt.poll_timeout().unwrap();
        assert_eq!(t5, t0 + Duration::from_secs(10));
        let home = hunt.handle_timeout(t5).unwrap();
        assert_eq!(home.assoc, AssocId(1));
        assert!(!hunt.is_hunting());
        // Only the home excluded: the connected registrar 2 is taken at once.
        assert_eq!(hunt.move_home(t5, &[]).map(|h| h.assoc), Some(AssocId(2)));
    }
}
