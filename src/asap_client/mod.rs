//! The ASAP client side that the pool element and the pool user share
//! (RFC 5352 §3): both are clients of a home registrar.
//!
//! * [`server_hunt`]: the registrar table (configured and announced
//!   registrars) and the hunt for a home registrar.
//! * [`transport`]: [`OwnedTransport`], a user transport held by value.
//! * The cookie of the session layer ([`Cookie`], at most
//!   [`MAX_COOKIE_SIZE`] bytes).
//! * Inside the crate: the transmit queue and the server hunt bundled as
//!   one client, the ASAP_ERROR answers to messages that cannot be used,
//!   and the dispatch of received messages and transport events, which
//!   hands each role only what is its own (a home found or lost, a message
//!   other than SERVER_ANNOUNCE).
//!
//! # A registrar's challenge
//!
//! A registrar answers a source whose return path it has not verified (a
//! UDP peer) with at most three times the bytes of the request; a larger
//! answer is replaced by an ASAP_COOKIE carrying a challenge (see the
//! [registrar](crate::registrar)'s "Return routability"). An ASAP_COOKIE
//! that arrives on an association to a registrar (one the server hunt
//! holds) is that challenge: the client answers it at once with an
//! ASAP_COOKIE_ECHO carrying the same bytes, and the role sends its
//! outstanding requests to that registrar again at once (a pool user's
//! handle resolutions, a pool element's registration or deregistration)
//! instead of waiting for their timers. An ASAP_COOKIE on any other
//! association (a pool element's, on a session's data or control channel)
//! is the session layer's cookie and goes to the role as before.

pub mod server_hunt;
pub mod transport;

pub(crate) mod asap_error;

use core::net::{IpAddr, SocketAddr};

use crate::id::AssocId;
use crate::time::Instant;
use crate::transmit::{Destination, Source, TransmitQueue, TransportEvent};
use crate::wire::{AsapMessage, Protocol};

pub use server_hunt::{Home, HuntConfig, ServerHunt, MAX_CONCURRENT_CONNECTS};
pub use transport::OwnedTransport;

/// The most registrars a pool element or pool user knows at once
/// (configured plus announced).
///
/// Set at build time with the environment variable `RSERPOOL_MAX_REGISTRARS` (1 to 64; default 8), as every limit in [the crate's list](crate#limits-set-at-build-time).
pub const MAX_REGISTRARS: usize = crate::limits::MAX_REGISTRARS;
/// The largest cookie kept (a longer COOKIE or COOKIE_ECHO is reported, not stored).
///
/// Set at build time with the environment variable `RSERPOOL_MAX_COOKIE_SIZE` (8 to 65,535; default 256), as every limit in [the crate's list](crate#limits-set-at-build-time).
pub const MAX_COOKIE_SIZE: usize = crate::limits::MAX_COOKIE_SIZE;

/// A cookie's bytes, copied into fixed storage.
pub type Cookie = heapless::Vec<u8, MAX_COOKIE_SIZE>;

/// What an ASAP client owns whatever its role: the server hunt (with the
/// registrar table), the transmit queue, and the count of messages that did
/// not fit into the queue.
pub(crate) struct AsapClient<const B: usize, const E: usize> {
    pub(crate) hunt: ServerHunt<MAX_REGISTRARS>,
    pub(crate) tx: TransmitQueue<B, E>,
    /// Protocol messages that could not be queued.
    pub(crate) send_failures: u32,
    /// Registrar challenges answered with ASAP_COOKIE_ECHO.
    pub(crate) challenges_answered: u32,
    /// The configured registrars and trusted hosts are in the table
    /// (`false` only in a client built by `new_const` before its first
    /// use).
    configured: bool,
}

impl<const B: usize, const E: usize> AsapClient<B, E> {
    /// A client with an empty table and queue, at compile time; its
    /// configured registrars and trusted hosts come with the first
    /// [`configure`](Self::configure).
    pub(crate) const fn new_const(hunt: HuntConfig) -> Self {
        AsapClient {
            hunt: ServerHunt::new(hunt),
            tx: TransmitQueue::new(),
            send_failures: 0,
            challenges_answered: 0,
            configured: false,
        }
    }

    /// Enters the configured registrars and trusted hosts, once (later
    /// calls do nothing).
    #[inline]
    pub(crate) fn configure(&mut self, registrars: &[SocketAddr], trusted: &[IpAddr]) {
        if self.configured {
            return;
        }
        self.configured = true;
        for r in registrars {
            // The configured list has the same capacity as the table.
            let _ = self.hunt.add_configured(*r);
        }
        for ip in trusted {
            // The list has the table's capacity.
            let _ = self.hunt.trust_host(*ip);
        }
    }

    /// Queues `message`; a full queue is counted as a send failure.
    pub(crate) fn send(&mut self, destination: Destination, message: &AsapMessage<'_>) {
        if self.tx.push_asap(destination, message).is_err() {
            self.send_failed();
        }
    }

    /// An ASAP_COOKIE on `assoc`: when `assoc` leads to a registrar, it is
    /// that registrar's challenge, answered with an ASAP_COOKIE_ECHO of
    /// the same bytes (`Some(true)`). Cookies on other associations are
    /// not the client's (`None`). A challenge longer than
    /// [`MAX_COOKIE_SIZE`] is no registrar's and is dropped unanswered
    /// (`Some(false)`).
    pub(crate) fn answer_challenge(&mut self, assoc: AssocId, cookie: &[u8]) -> Option<bool> {
        self.hunt.remote_of(assoc)?;
        if cookie.len() > MAX_COOKIE_SIZE {
            return Some(false);
        }
        self.send(
            Destination::Association(assoc),
            &AsapMessage::CookieEcho { cookie },
        );
        self.challenges_answered = self.challenges_answered.saturating_add(1);
        Some(true)
    }

    /// Counts a message that could not be queued.
    pub(crate) fn send_failed(&mut self) {
        self.send_failures = self.send_failures.saturating_add(1);
    }
}

/// The association a message came on, if it came on one.
pub(crate) const fn source_assoc(source: Source) -> Option<AssocId> {
    match source {
        Source::Association(a) => Some(a),
        Source::Datagram(_) => None,
    }
}

/// How the home registrar was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HomeLoss {
    /// Its association went down.
    Down,
    /// A send on its association failed.
    SendFailed,
}

/// A role built on an [`AsapClient`] (the pool element, the pool user): the
/// provided methods dispatch received bytes and transport events, the
/// required ones are what the role does about them.
pub(crate) trait AsapRole<const B: usize, const E: usize> {
    /// The role's client.
    fn client(&mut self) -> &mut AsapClient<B, E>;

    /// A registrar became the home (the hunt, the H flag, a late answer).
    fn home_found(&mut self, now: Instant, home: Home);

    /// The home on `assoc` was lost; called before the hunt looks for
    /// another (whose success comes as [`home_found`](Self::home_found)).
    fn home_lost(&mut self, now: Instant, assoc: AssocId, how: HomeLoss);

    /// An association went down (before the hunt hears of it).
    fn association_down(&mut self, _assoc: AssocId) {}

    /// A received ASAP message (SERVER_ANNOUNCE and a registrar's
    /// challenge are the client's own).
    fn on_message(&mut self, now: Instant, source: Source, message: &AsapMessage<'_>);

    /// The registrar on `assoc` challenged this client and the echo is
    /// queued: requests waiting for that registrar's answer are sent again
    /// at once.
    fn challenged(&mut self, now: Instant, assoc: AssocId);

    /// Received bytes: ASAP ones are parsed, answered with ASAP_ERROR where
    /// the codec's rules call for it, and handed on.
    fn handle_asap(&mut self, now: Instant, source: Source, protocol: Protocol, bytes: &[u8]) {
        if protocol != Protocol::Asap {
            return;
        }
        let client = self.client();
        let (message, unanswered) = asap_error::parse_answering(&mut client.tx, source, bytes);
        if unanswered {
            client.send_failed();
        }
        let Some(message) = message else { return };
        if let AsapMessage::ServerAnnounce { .. } = message {
            if let Source::Datagram(sender) = source {
                self.client().hunt.on_announce(now, sender, &message);
            }
            return;
        }
        if let (AsapMessage::Cookie { cookie }, Source::Association(assoc)) = (message, source) {
            if let Some(answered) = self.client().answer_challenge(assoc, cookie) {
                if answered {
                    self.challenged(now, assoc);
                }
                return;
            }
        }
        self.on_message(now, source, &message)
    }

    /// A transport event: association attempts and losses go to the hunt,
    /// and what it makes of them to the role.
    fn handle_client_event(&mut self, now: Instant, event: TransportEvent) {
        match event {
            TransportEvent::Up { assoc, remote, .. } => {
                if let Some(home) = self.client().hunt.on_up(now, assoc, remote) {
                    self.home_found(now, home);
                }
            }
            // A client registers and resolves over its association's primary
            // address; further peer addresses change nothing.
            TransportEvent::PeerAddress { .. } => {}
            TransportEvent::Authenticated { assoc } => self.client().hunt.on_authenticated(assoc),
            TransportEvent::ConnectFailed { remote } => {
                if let Some(home) = self.client().hunt.on_connect_failed(now, remote) {
                    self.home_found(now, home);
                }
            }
            TransportEvent::Down { assoc } => {
                self.association_down(assoc);
                if self.client().hunt.on_down(now, assoc) {
                    self.home_lost(now, assoc, HomeLoss::Down);
                    if let Some(home) = self.client().hunt.ensure_home(now) {
                        self.home_found(now, home);
                    }
                }
            }
            TransportEvent::SendFailed { assoc } => {
                if self.client().hunt.home().map(|h| h.assoc) == Some(assoc) {
                    self.home_lost(now, assoc, HomeLoss::SendFailed);
                    if let Some(home) = self.client().hunt.lose_home(now) {
                        self.home_found(now, home);
                    }
                }
            }
        }
    }
}
