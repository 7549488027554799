//! The registrar's timers, thresholds and limits (SPEC §7, §10), with the
//! RFC 5352 and the rsplib profiles.

use core::net::IpAddr;

use arrayvec::ArrayVec;

use crate::addr::{TransportProtocol, MAX_TRANSPORT_ADDRESSES};
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

/// How many ENDPOINT_UNREACHABLE reports one reporter (an association, or a
/// datagram sender) may make: at most `max_reports` per `window`. Reports
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// This registrar's identifier (random, non-zero, fixed for its lifetime).
    pub server_id: ServerId,
    /// Mean interval between ENDPOINT_KEEP_ALIVEs to an owned PE (each one
    /// is varied uniformly by ±50 %); `None` disables periodic keep-alive.
    pub keep_alive_interval: Option<Duration>,
    /// How long a PE has to answer a keep-alive with KEEP_ALIVE_ACK before it
    /// is removed.
    pub keep_alive_timeout: Duration,
    /// MAX-BAD-PE-REPORT: a PE is removed when more ENDPOINT_UNREACHABLE
    /// reports than this were counted (RFC 5352 §3.5 "exceeds") since it
    /// last answered a keep-alive (an answer resets the count).
    pub max_bad_pe_reports: u32,
    /// Per-reporter limit on ENDPOINT_UNREACHABLE.
    pub unreachable_rate: ReportRate,
    /// The most PEs a HANDLE_RESOLUTION_RESPONSE carries (also capped by the
    /// request's Handle Resolution Option and by [`MAX_RESOLUTION_ITEMS`]).
    pub max_handle_resolution_items: u32,
    /// The shortest registration life accepted, in milliseconds.
    pub min_registration_life_ms: u32,
    /// The longest registration life accepted, in milliseconds; `None`
    /// accepts any, including infinite (-1).
    pub max_registration_life_ms: Option<u32>,
    /// T6-Serverannounce: the interval between ASAP_SERVER_ANNOUNCEs.
    pub announce_interval: Duration,
    /// Whether SERVER_ANNOUNCE is sent at all.
    pub announce: bool,
    /// The transports announced (none: the receiver assumes SCTP, the source
    /// address and port 3863).
    pub announce_transports: ArrayVec<AnnounceTransport, MAX_ANNOUNCE_TRANSPORTS>,
    /// Seed of the registrar's random generator (keep-alive spread, random
    /// selection policies), so that a run repeats.
    pub seed: u64,
}

impl RegistrarConfig {
    /// RFC 5352 defaults. The RFC makes periodic keep-alive optional and
    /// gives no interval; this profile uses 30 s (RFC 5353's
    /// PEER-HEARTBEAT-CYCLE) with a 5 s timeout (MAX-TIME-NO-RESPONSE), and
    /// MAX-BAD-PE-REPORT 3 (the RFC gives no value; rsplib's). A handle
    /// resolution lists up to [`MAX_RESOLUTION_ITEMS`] PEs (RFC: "SHOULD
    /// list all"). T6 is 1 s and announcing is on.
    pub fn rfc(server_id: ServerId) -> Self {
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
            announce_interval: Duration::from_secs(1),
            announce: true,
            announce_transports: ArrayVec::new(),
            seed: 0,
        }
    }

    /// rsplib's registrar defaults: keep-alive every 5 s with a 5 s timeout,
    /// MAX-BAD-PE-REPORT 3, 3 PEs per handle resolution, server announce
    /// every 1 s.
    pub fn rsplib(server_id: ServerId) -> Self {
        RegistrarConfig {
            keep_alive_interval: Some(Duration::from_secs(5)),
            keep_alive_timeout: Duration::from_secs(5),
            max_handle_resolution_items: 3,
            ..Self::rfc(server_id)
        }
    }

    /// The same configuration with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
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
