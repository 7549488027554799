//! The registrar's timers, thresholds and limits (SPEC §7, §10), with the
//! RFC 5352 and the rsplib profiles.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use arrayvec::ArrayVec;

use crate::addr::{canonical_ip, TransportProtocol, MAX_TRANSPORT_ADDRESSES};
use crate::id::ServerId;
use crate::time::Duration;

/// The most transports a SERVER_ANNOUNCE carries (one SCTP, one TCP).
pub const MAX_ANNOUNCE_TRANSPORTS: usize = 2;

/// The most PEs one HANDLE_RESOLUTION_RESPONSE carries, whatever the
/// configuration asks (rsplib's limit, SPEC §15.20).
pub const MAX_RESOLUTION_ITEMS: usize = 128;

/// One transport the registrar announces in ASAP_SERVER_ANNOUNCE: where PEs
/// and PUs reach its ASAP endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceTransport {
    /// SCTP or TCP (RFC 5352 §2.2.10 allows only these).
    pub protocol: TransportProtocol,
    /// The ASAP port (3863 by default).
    pub port: u16,
    /// The addresses (at least one; one for TCP).
    pub addresses: ArrayVec<IpAddr, MAX_TRANSPORT_ADDRESSES>,
}

/// How many ENDPOINT_UNREACHABLE reports one reporter (an association, or
/// the IP address of a datagram sender, whatever its port) may make: at most `max_reports` per `window`. Reports
/// beyond that are ignored and counted
/// ([`Stats::unreachable_rate_limited`](super::Stats)), so that a flood from
/// one pool user cannot remove a healthy PE (RFC 5355).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportRate {
    /// Reports accepted per reporter and window.
    pub max_reports: u32,
    /// The window.
    pub window: Duration,
}

/// Configuration of a [`Registrar`](super::Registrar).
///
/// Keep-alive and lifetime of the PEs this registrar owns: both run in the
/// PE's one handlespace timer slot. With keep-alive enabled
/// (`keep_alive_interval` is `Some`), the slot holds the next keep-alive
/// transmission (interval varied by ±50 %), then the keep-alive timeout;
/// whenever the registration life ends first, it holds the lifetime expiry
/// instead. A PE that answers keep-alives therefore still goes when its
/// registration life runs out without a re-registration (RFC 5352 §3.1: the
/// PE re-registers before, on T4). Without keep-alive, the slot holds the
/// lifetime expiry only. PEs owned by peer registrars always run the
/// lifetime expiry only (their home registrar keeps them alive).
///
/// Answers to unverified sources are not configurable: whatever these
/// settings allow (up to [`MAX_RESOLUTION_ITEMS`] PEs per resolution, say),
/// a source whose return path is not verified (a UDP peer, a datagram) gets
/// no ASAP answer larger than
/// [`AMPLIFICATION_LIMIT`](super::AMPLIFICATION_LIMIT) times its request
/// until it has echoed the registrar's ASAP_COOKIE challenge (see the
/// [registrar module](super), "Return routability").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// This registrar's identifier (random, non-zero, fixed for its lifetime).
    pub server_id: ServerId,
    /// Mean interval between ENDPOINT_KEEP_ALIVEs to an owned PE (each one
    /// is varied by up to ±45 % in ten equally likely steps, a tenth of the
    /// interval apart, so that PEs spread and the handlespace keeps their
    /// timers in O(1) lanes); `None` disables periodic keep-alive.
    pub keep_alive_interval: Option<Duration>,
    /// How long a PE has to answer a keep-alive with KEEP_ALIVE_ACK before it
    /// is removed.
    pub keep_alive_timeout: Duration,
    /// MAX-BAD-PE-REPORT: a PE whose probe goes unanswered is removed as
    /// unreachable (and told so) when more ENDPOINT_UNREACHABLE reports than
    /// this were counted (RFC 5352 §3.5 "exceeds") since it last answered a
    /// keep-alive (an answer resets the count). Reports alone never remove
    /// a PE: every report is answered by a probe, and only an unanswered
    /// probe removes it. The count stops at 2^31 − 1, so from that value
    /// on an unanswered probe removes the PE as a keep-alive timeout.
    pub max_bad_pe_reports: u32,
    /// Per-reporter limit on ENDPOINT_UNREACHABLE.
    pub unreachable_rate: ReportRate,
    /// The most PEs a HANDLE_RESOLUTION_RESPONSE carries (also capped by the
    /// request's Handle Resolution Option and by [`MAX_RESOLUTION_ITEMS`]).
    /// A source whose return path is not verified gets the answer only
    /// after it echoed the registrar's challenge, whenever the answer is
    /// longer than three times the request.
    pub max_handle_resolution_items: u32,
    /// The shortest registration life accepted, in milliseconds.
    pub min_registration_life_ms: u32,
    /// The longest registration life accepted, in milliseconds; `None`
    /// accepts any, including infinite (-1).
    pub max_registration_life_ms: Option<u32>,
    /// Whether a REGISTRATION may name user transport addresses other than
    /// the registering association's remote address (false by default).
    ///
    /// By default the user transport must point at the registering host,
    /// else the registration is refused with *Rejected due to Security
    /// Considerations* (0xA), so that a PE cannot point pool users at
    /// someone else's host (RFC 5355): every address of a TCP or UDP
    /// transport must be the association's remote address as reported by
    /// [`TransportEvent::Up`](crate::transmit::TransportEvent); every
    /// address of an SCTP transport must be one of the registering
    /// association's peer addresses, that remote address or a further one
    /// reported by
    /// [`TransportEvent::PeerAddress`](crate::transmit::TransportEvent) (the
    /// addresses a multihomed PE's SCTP stack listed in its INIT; a pool
    /// user's SCTP stack verifies every further address with a HEARTBEAT
    /// before it sends data there, RFC 4960 §5.4). IPv4-mapped IPv6 and
    /// IPv4 compare equal. An unspecified address (0.0.0.0 or ::, a PE registering its
    /// wildcard-bound address) stands for the remote address and is stored
    /// as it. A registration over an association whose remote address is
    /// unknown (never reported up) is refused the same way, whatever this
    /// option says. PEs behind NAT or a proxy need this set.
    pub allow_foreign_addresses: bool,
    /// Whether a REGISTRATION is taken only over an association whose
    /// peer authenticated ([`TransportEvent::Authenticated`](crate::transmit::TransportEvent):
    /// a TLS client certificate that chains to the registrar's roots);
    /// others are refused with *Rejected due to Security Considerations*
    /// (0xA) and counted ([`Stats::unauthenticated_registrations`](super::Stats)).
    /// Off by default; the runtime turns it on for a registrar with TLS
    /// (`runtime::NodeConfig::tls`, feature `tls`), so
    /// that pool users may resolve without a certificate but only pool
    /// elements with one register.
    pub require_authentication: bool,
    /// The most PEs registered over one association (256 by default;
    /// `None`: no limit but the owned-PE table). A registration of a new PE
    /// beyond it is refused with *Lack of Resources*; re-registrations of
    /// PEs already registered over that association are not affected, but
    /// a PE moving to it (re-registering over a second association of its
    /// host, or claimed from a peer) counts as a new one.
    pub max_registrations_per_association: Option<u32>,
    /// The most PEs registered over all associations from one host (remote
    /// IP address; 1,024 by default; `None`: no limit), refused the same
    /// way, so that one host cannot fill the owned-PE table over many
    /// associations (a PE moving between two associations of the same host
    /// is not counted twice).
    pub max_registrations_per_host: Option<u32>,
    /// The most PEs one pool takes by registration (`None`, the default:
    /// only the handlespace's capacity); a registration of a new PE into a
    /// full pool is refused with *Lack of Resources*, and never evicts a
    /// PE already there.
    pub max_pool_elements: Option<u32>,
    /// T6-Serverannounce: the interval between ASAP_SERVER_ANNOUNCEs.
    pub announce_interval: Duration,
    /// Whether SERVER_ANNOUNCE is sent at all.
    pub announce: bool,
    /// The transports announced (none: the receiver assumes SCTP, the source
    /// address and port 3863).
    pub announce_transports: ArrayVec<AnnounceTransport, MAX_ANNOUNCE_TRANSPORTS>,
    /// Seed of the registrar's random generator (keep-alive spread, random
    /// selection policies, the return-routability challenges), so that a
    /// run repeats. A registrar reachable over UDP should get a seed no
    /// one can guess (from the host's random source): its challenges are
    /// only as unpredictable as the seed.
    pub seed: u64,
    /// ENRP (peers, timers, limits); [`EnrpConfig::disabled`] by default.
    pub enrp: EnrpConfig,
}

impl RegistrarConfig {
    /// RFC 5352 defaults. The RFC makes periodic keep-alive optional and
    /// gives no interval; this profile uses 30 s (RFC 5353's
    /// PEER-HEARTBEAT-CYCLE) with a 5 s timeout (MAX-TIME-NO-RESPONSE), and
    /// MAX-BAD-PE-REPORT 3 (the RFC gives no value; rsplib's). A handle
    /// resolution lists up to [`MAX_RESOLUTION_ITEMS`] PEs (RFC: "SHOULD
    /// list all"). T6 is 1 s and announcing is on.
    pub const fn rfc(server_id: ServerId) -> Self {
        RegistrarConfig {
            server_id,
            keep_alive_interval: Some(Duration::from_secs(30)),
            keep_alive_timeout: Duration::from_secs(5),
            max_bad_pe_reports: 3,
            unreachable_rate: ReportRate {
                max_reports: 1,
                window: Duration::from_secs(5),
            },
            max_handle_resolution_items: MAX_RESOLUTION_ITEMS as u32,
            min_registration_life_ms: 0,
            max_registration_life_ms: None,
            allow_foreign_addresses: false,
            require_authentication: false,
            max_registrations_per_association: Some(256),
            max_registrations_per_host: Some(1024),
            max_pool_elements: None,
            announce_interval: Duration::from_secs(1),
            announce: true,
            announce_transports: ArrayVec::new_const(),
            seed: 0,
            enrp: EnrpConfig::disabled(),
        }
    }

    /// rsplib's registrar defaults: keep-alive every 5 s with a 5 s timeout,
    /// MAX-BAD-PE-REPORT 3, 3 PEs per handle resolution, server announce
    /// every 1 s.
    pub const fn rsplib(server_id: ServerId) -> Self {
        let mut c = Self::rfc(server_id);
        c.keep_alive_interval = Some(Duration::from_secs(5));
        c.keep_alive_timeout = Duration::from_secs(5);
        c.max_handle_resolution_items = 3;
        c
    }

    /// The same configuration with another seed.
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

impl Default for RegistrarConfig {
    /// [`RegistrarConfig::rfc`] with server identifier 1: set a random one.
    fn default() -> Self {
        const ONE: ServerId = match ServerId::new(1) {
            Ok(id) => id,
            Err(_) => panic!("1 is not zero"),
        };
        Self::rfc(ONE)
    }
}

/// The most peer registrars a registrar keeps in its peer table, whatever
/// [`EnrpConfig::max_peers`] asks.
///
/// Set at build time with the environment variable `RSERPOOL_MAX_PEERS` (1 to 1,024; default 16), as every limit in [the crate's list](crate#limits-set-at-build-time).
pub const MAX_PEERS: usize = crate::limits::MAX_PEERS;

/// The most handle table sessions (as responder and as requester together)
/// in flight at once, whatever [`EnrpConfig::max_sessions`] asks.
///
/// Set at build time with the environment variable `RSERPOOL_MAX_SESSIONS` (1 to 1,024; default 8), as every limit in [the crate's list](crate#limits-set-at-build-time).
pub const MAX_SESSIONS: usize = crate::limits::MAX_SESSIONS;

/// The most networks in [`EnrpConfig::allowed_peers`].
pub const MAX_ALLOWED_PEER_NETWORKS: usize = 8;

/// The most PEs one ENRP_HANDLE_TABLE_RESPONSE carries, whatever
/// [`EnrpConfig::max_handle_table_elements`] asks.
pub const MAX_HANDLE_TABLE_ELEMENTS: usize = 1024;

/// ENRP (RFC 5353) settings of a registrar: peers, timers (SPEC §10) and
/// limits. [`EnrpConfig::disabled`] (the default in [`RegistrarConfig::rfc`]
/// and [`RegistrarConfig::rsplib`]) turns ENRP off: ENRP messages are
/// ignored and counted as [`Stats::enrp_ignored`](super::Stats), as without
/// an ENRP layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrpConfig {
    /// Whether this registrar speaks ENRP at all.
    pub enabled: bool,
    /// Where peers reach this registrar's ENRP endpoint (SCTP); sent in the
    /// Server Information parameter.
    pub local_address: SocketAddr,
    /// Statically configured peers (their server ids are learnt). The first
    /// reachable one is the mentor, the others are backups.
    pub static_peers: ArrayVec<SocketAddr, MAX_PEERS>,
    /// Further hosts accepted as peers without being contacted or asked to
    /// be a mentor: networks as (address, prefix length in bits). An ENRP
    /// message is taken only from a trusted host (see the
    /// [ENRP module documentation](super::enrp), "Trust"): a configured
    /// peer's address, a host in one of these networks, or a peer learnt
    /// from a trusted source.
    pub allowed_peers: ArrayVec<(IpAddr, u8), MAX_ALLOWED_PEER_NETWORKS>,
    /// Whether PRESENCE is also sent on (and taken from) the ENRP multicast
    /// channel ([`Destination::Multicast`](crate::transmit::Destination)).
    /// A registrar that announces itself there by PRESENCE is trusted as a
    /// peer: multicast discovery trusts the multicast domain, so enable it
    /// only where every host that can send to the channel is one.
    pub multicast: bool,
    /// PEER-HEARTBEAT-CYCLE: the interval between group-cast PRESENCEs.
    pub peer_heartbeat_cycle: Duration,
    /// MAX-TIME-LAST-HEARD: a peer silent this long gets a reply-required
    /// PRESENCE.
    pub max_time_last_heard: Duration,
    /// MAX-TIME-NO-RESPONSE: a peer that does not answer a reply-required
    /// PRESENCE (or a LIST_REQUEST) within this is dead.
    pub max_time_no_response: Duration,
    /// How long initialisation looks for a mentor before it ends alone.
    pub mentor_discovery_timeout: Duration,
    /// After a mentor rejected a LIST_REQUEST (it is initialising itself)
    /// or did not answer it, the next configured peer that is up is asked
    /// at once, but the same peer is asked again no sooner than this
    /// (RFC 5353 §3.2: "wait a few seconds"). Registrars starting together
    /// thus exchange at most one LIST_REQUEST per peer per interval.
    pub mentor_retry_interval: Duration,
    /// How long a takeover waits for its INIT_TAKEOVER_ACKs before it is
    /// started anew.
    pub takeover_expiry: Duration,
    /// The most PEs per ENRP_HANDLE_TABLE_RESPONSE (capped by
    /// [`MAX_HANDLE_TABLE_ELEMENTS`]).
    pub max_handle_table_elements: u32,
    /// A handle table session (either side) idle this long is dropped.
    pub session_timeout: Duration,
    /// The most peers kept (capped by [`MAX_PEERS`]).
    pub max_peers: usize,
    /// The most handle table sessions in flight (capped by [`MAX_SESSIONS`]).
    pub max_sessions: usize,
}

impl EnrpConfig {
    const fn base(enabled: bool) -> Self {
        EnrpConfig {
            enabled,
            local_address: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9901),
            static_peers: ArrayVec::new_const(),
            allowed_peers: ArrayVec::new_const(),
            multicast: false,
            peer_heartbeat_cycle: Duration::from_secs(30),
            max_time_last_heard: Duration::from_secs(61),
            max_time_no_response: Duration::from_secs(5),
            mentor_discovery_timeout: Duration::from_secs(5),
            mentor_retry_interval: Duration::from_secs(2),
            takeover_expiry: Duration::from_secs(5),
            max_handle_table_elements: 128,
            session_timeout: Duration::from_secs(10),
            max_peers: MAX_PEERS,
            max_sessions: MAX_SESSIONS,
        }
    }

    /// ENRP off (RFC timer values, should it be turned on).
    pub const fn disabled() -> Self {
        Self::base(false)
    }

    /// RFC 5353 §4.2: heartbeat 30 s, last heard 61 s, no response 5 s; the
    /// RFC gives no mentor discovery, takeover expiry or page size, so these
    /// are rsplib's (5 s, 5 s, 128 PEs); sessions time out after 10 s; a
    /// mentor that rejected a LIST_REQUEST is asked again after 2 s.
    pub const fn rfc(local_address: SocketAddr) -> Self {
        let mut c = Self::base(true);
        c.local_address = local_address;
        c
    }

    /// rsplib's registrar: heartbeat 2.444444 s, last heard 5 s, no
    /// response 5 s, mentor discovery 5 s, takeover expiry 5 s, 128 PEs per
    /// handle table response.
    pub const fn rsplib(local_address: SocketAddr) -> Self {
        let mut c = Self::rfc(local_address);
        c.peer_heartbeat_cycle = Duration::from_micros(2_444_444);
        c.max_time_last_heard = Duration::from_secs(5);
        c
    }

    /// The same configuration with `peer` added to the static peers
    /// (ignored beyond [`MAX_PEERS`]).
    pub fn with_peer(mut self, peer: SocketAddr) -> Self {
        let _ = self.static_peers.try_push(peer);
        self
    }

    /// The same configuration with the hosts of network `network`/`prefix`
    /// accepted as peers (ignored beyond [`MAX_ALLOWED_PEER_NETWORKS`]).
    pub fn with_allowed_peers(mut self, network: IpAddr, prefix: u8) -> Self {
        let _ = self.allowed_peers.try_push((network, prefix));
        self
    }

    /// Whether `ip` lies in one of [`allowed_peers`](Self::allowed_peers).
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allowed_peers
            .iter()
            .any(|&(net, prefix)| in_network(ip, net, prefix))
    }
}

impl Default for EnrpConfig {
    fn default() -> Self {
        Self::disabled()
    }
}

/// Whether `ip` lies in `net`/`prefix` (an IPv4-mapped IPv6 address counts
/// as IPv4).
pub(crate) fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (canonical_ip(ip), canonical_ip(net)) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let p = u32::from(prefix.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let p = u32::from(prefix.min(128));
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_network(a("10.9.0.7"), a("10.9.0.0"), 24));
        assert!(!in_network(a("10.9.1.7"), a("10.9.0.0"), 24));
        assert!(in_network(a("1.2.3.4"), a("0.0.0.0"), 0));
        assert!(in_network(a("::ffff:10.9.0.7"), a("10.9.0.0"), 24));
        assert!(!in_network(a("fe80::1"), a("10.9.0.0"), 0));
        assert!(in_network(a("fe80::1"), a("fe80::"), 64));
    }
}
