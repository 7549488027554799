//! What an operator sees of a running registrar: a [`RegistrarSnapshot`],
//! taken in the registrar's task at the cost of one page of PEs (never the
//! whole handlespace), for the status page, the metrics and programs.

use std::format;
use std::net::SocketAddr;
use std::string::{String, ToString};
use std::vec::Vec;

use super::registrar::RuntimeRegistrar;
use super::Driver;
use crate::cause::CauseCode;
use crate::handlespace::PeTimerKind;
use crate::id::{PeId, PoolHandle};
use crate::registrar::PeerState;
use crate::time::Instant;
use crate::wire::EnrpType;

/// The most PEs one snapshot page holds.
pub const MAX_PAGE: usize = 1000;

/// One counter: a name (snake case, unique within its group), what it
/// counts, its labels and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "http", derive(serde::Serialize))]
pub struct Counter {
    /// The counter's name.
    pub name: &'static str,
    /// What it counts.
    pub help: &'static str,
    /// Its labels (name, value), e.g. `("cause", "Unsupported Pool Policy")`.
    pub labels: Vec<(&'static str, String)>,
    /// Its value.
    pub value: u64,
}

/// An ENRP peer as the registrar knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "http", derive(serde::Serialize))]
pub struct PeerSnapshot {
    /// Its server id, once learnt.
    pub server_id: Option<u32>,
    /// Its ENRP address, if known.
    pub address: Option<SocketAddr>,
    /// `connecting`, `alive`, `probing` or `dead`.
    pub state: &'static str,
    /// Whether it was configured (not learnt).
    pub configured: bool,
    /// Milliseconds since it was last heard.
    pub last_heard_ms_ago: u64,
    /// The checksum of its own PEs its last PRESENCE announced.
    pub announced_checksum: Option<u16>,
    /// The checksum of the PEs this registrar holds for it.
    pub local_checksum: Option<u16>,
}

/// A pool.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "http", derive(serde::Serialize))]
pub struct PoolSnapshot {
    /// Its handle, as text where it is UTF-8 (else in hex, `0x…`).
    pub handle: String,
    /// Its policy type's name (e.g. `RR`, `LU`).
    pub policy: &'static str,
    /// Its PEs' transport protocol (`udp`, `tcp`, `sctp`).
    pub transport: String,
    /// Its number of PEs.
    pub elements: usize,
}

/// A pool element.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "http", derive(serde::Serialize))]
pub struct ElementSnapshot {
    /// Its pool's handle (as in [`PoolSnapshot::handle`]).
    pub pool: String,
    /// Its PE id.
    pub id: u32,
    /// Its user transport's protocol.
    pub transport: String,
    /// Its user transport's addresses and port.
    pub addresses: Vec<SocketAddr>,
    /// Its policy with its parameters, the load first for the load
    /// policies (e.g. `LU(0x10)`: least used, load 0x10).
    pub policy: String,
    /// Its home registrar's server id (its owner), if known.
    pub home: Option<u32>,
    /// Whether this registrar is its home.
    pub owned: bool,
    /// Its registration life, in milliseconds.
    pub registration_life_ms: i32,
    /// Its next timer: `lifetime`, `keep-alive` or `keep-alive-timeout`.
    pub timer: Option<&'static str>,
    /// Milliseconds until that timer fires.
    pub timer_in_ms: Option<u64>,
}

/// A running registrar's state: counts, counters, ENRP peers, pools and
/// one page of PEs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "http", derive(serde::Serialize))]
pub struct RegistrarSnapshot {
    /// Its server id.
    pub server_id: u32,
    /// Milliseconds since the Unix epoch when it was taken.
    pub taken_at_unix_ms: u64,
    /// Its number of pools.
    pub pool_count: usize,
    /// Its number of PEs.
    pub element_count: usize,
    /// The PEs it owns.
    pub owned: usize,
    /// The checksum of the PEs it owns (what its PRESENCE announces).
    pub own_checksum: u16,
    /// Its UDP associations.
    pub udp_associations: usize,
    /// Its TCP connections.
    pub tcp_connections: usize,
    /// Its SCTP associations.
    pub sctp_associations: usize,
    /// Every counter: ASAP, ENRP and the transports'.
    pub counters: Vec<Counter>,
    /// Its ENRP peers.
    pub peers: Vec<PeerSnapshot>,
    /// The first [`MAX_PAGE`] pools, in handle byte order.
    pub pools: Vec<PoolSnapshot>,
    /// One page of PEs (pools in handle byte order, PEs in id order).
    pub elements: Vec<ElementSnapshot>,
    /// Where the next page starts (pass it as `after`), if there is one.
    pub next: Option<(String, u32)>,
}

/// A pool handle as text: itself where it is printable UTF-8, else hex.
pub fn handle_text(h: &PoolHandle) -> String {
    match core::str::from_utf8(h.as_bytes()) {
        Ok(s) if !s.starts_with("0x") && s.chars().all(|c| !c.is_control()) => s.to_string(),
        _ => {
            let mut out = String::from("0x");
            for b in h.as_bytes() {
                out.push_str(&format!("{b:02x}"));
            }
            out
        }
    }
}

/// The pool handle of a [`handle_text`].
pub fn parse_handle(text: &str) -> Option<PoolHandle> {
    let bytes = match text.strip_prefix("0x") {
        Some(hex) if hex.len() % 2 == 0 => (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?,
        Some(_) => return None,
        None => text.as_bytes().to_vec(),
    };
    PoolHandle::new(&bytes).ok()
}

fn counter(name: &'static str, help: &'static str, value: u64) -> Counter {
    Counter {
        name,
        help,
        labels: Vec::new(),
        value,
    }
}

fn labelled(
    name: &'static str,
    help: &'static str,
    label: &'static str,
    value_label: String,
    value: u64,
) -> Counter {
    Counter {
        name,
        help,
        labels: std::vec![(label, value_label)],
        value,
    }
}

/// Every counter of `host` and the node's transports.
fn counters(host: &RuntimeRegistrar, d: &Driver) -> Vec<Counter> {
    let s = host.machine.stats();
    let e = host.machine.enrp_stats();
    let t = d.net.counters();
    let mut v = std::vec![
        counter(
            "registrations",
            "Registrations that added a PE",
            s.registrations
        ),
        counter(
            "reregistrations",
            "Registrations that updated a PE",
            s.reregistrations
        ),
        counter(
            "deregistrations",
            "Deregistrations answered with success",
            s.deregistrations
        ),
        counter(
            "deregistrations_refused",
            "Deregistrations refused",
            s.deregistrations_refused
        ),
        counter(
            "resolutions",
            "Handle resolutions answered with PEs",
            s.resolutions
        ),
        counter(
            "resolutions_unknown_pool",
            "Handle resolutions answered with Unknown Pool Handle",
            s.resolutions_unknown_pool
        ),
        counter(
            "keep_alives_sent",
            "ENDPOINT_KEEP_ALIVEs sent",
            s.keep_alives_sent
        ),
        counter(
            "keep_alive_acks",
            "KEEP_ALIVE_ACKs accepted",
            s.keep_alive_acks
        ),
        counter(
            "keep_alive_acks_ignored",
            "KEEP_ALIVE_ACKs ignored",
            s.keep_alive_acks_ignored
        ),
        counter(
            "pe_connects",
            "Associations opened to PEs to keep them alive",
            s.pe_connects
        ),
        counter(
            "pe_connects_failed",
            "Associations to PEs that could not be opened",
            s.pe_connects_failed
        ),
        counter(
            "pe_connects_deferred",
            "Keep-alives postponed for connects in flight",
            s.pe_connects_deferred
        ),
        counter(
            "unreachable_reports",
            "ENDPOINT_UNREACHABLE reports counted",
            s.unreachable_reports
        ),
        counter(
            "unreachable_rate_limited",
            "ENDPOINT_UNREACHABLE reports over the rate limit",
            s.unreachable_rate_limited
        ),
        counter(
            "unreachable_ignored",
            "ENDPOINT_UNREACHABLE reports ignored",
            s.unreachable_ignored
        ),
        counter("announces", "ASAP_SERVER_ANNOUNCEs sent", s.announces),
        counter("errors_sent", "ASAP_ERRORs sent", s.errors_sent),
        counter(
            "malformed",
            "ASAP messages that could not be decoded",
            s.malformed
        ),
        counter(
            "unexpected",
            "ASAP messages a registrar does not take",
            s.unexpected
        ),
        counter(
            "enrp_ignored",
            "ENRP messages ignored (ENRP off)",
            s.enrp_ignored
        ),
        counter(
            "queue_full",
            "Messages not sent for a full transmit queue",
            s.queue_full
        ),
        counter(
            "events_lost",
            "Events lost for a full event queue",
            s.events_lost
        ),
        counter(
            "challenges_sent",
            "Return-routability challenges sent",
            s.challenges_sent
        ),
        counter("paths_verified", "Return paths verified", s.paths_verified),
        counter(
            "answers_withheld",
            "Answers withheld from unverified sources",
            s.answers_withheld
        ),
        counter(
            "echoes_rejected",
            "Challenge echoes rejected",
            s.echoes_rejected
        ),
        counter(
            "quota_refused",
            "Registrations refused by a quota",
            s.quota_refused
        ),
        counter(
            "peer_addresses_dropped",
            "SCTP peer addresses not kept",
            s.peer_addresses_dropped
        ),
    ];
    for (reason, value) in [
        ("deregistered", s.removed_deregistered),
        ("lifetime", s.removed_lifetime),
        ("keep-alive", s.removed_keep_alive),
        ("unreachable", s.removed_unreachable),
        ("transport", s.removed_transport),
    ] {
        v.push(labelled(
            "removed",
            "PEs removed, by reason",
            "reason",
            reason.into(),
            value,
        ));
    }
    for (code, &value) in s.rejections.iter().enumerate() {
        if value > 0 {
            let cause = CauseCode::from_code(code as u16).name().to_string();
            v.push(labelled(
                "registrations_rejected",
                "Registrations rejected, by cause",
                "cause",
                cause,
                value,
            ));
        }
    }
    for (i, (&rx, &tx)) in e.received.iter().zip(e.sent.iter()).enumerate() {
        let Some(name) = EnrpType::from_raw(i as u8).name() else {
            continue;
        };
        v.push(labelled(
            "enrp_received",
            "ENRP messages received, by type",
            "type",
            name.into(),
            rx,
        ));
        v.push(labelled(
            "enrp_sent",
            "ENRP messages sent, by type",
            "type",
            name.into(),
            tx,
        ));
    }
    v.extend([
        counter("enrp_errors_sent", "ENRP_ERRORs sent", e.errors_sent),
        counter(
            "enrp_errors_received",
            "ENRP_ERRORs received",
            e.errors_received,
        ),
        counter(
            "enrp_malformed",
            "ENRP messages that could not be decoded",
            e.malformed,
        ),
        counter("enrp_unexpected", "ENRP messages not taken", e.unexpected),
        counter(
            "enrp_updates_applied",
            "Peers' HANDLE_UPDATEs applied",
            e.updates_applied,
        ),
        counter(
            "enrp_updates_rejected",
            "Peers' HANDLE_UPDATEs rejected",
            e.updates_rejected,
        ),
        counter(
            "enrp_table_entries_applied",
            "Handle table entries applied",
            e.table_entries_applied,
        ),
        counter(
            "enrp_table_entries_rejected",
            "Handle table entries rejected",
            e.table_entries_rejected,
        ),
        counter("enrp_pages_sent", "Handle table pages sent", e.pages_sent),
        counter(
            "enrp_audit_mismatches",
            "Checksum audits that did not match",
            e.audit_mismatches,
        ),
        counter("enrp_resyncs", "Handle table resynchronisations", e.resyncs),
        counter(
            "takeovers_started",
            "Takeovers started",
            e.takeovers_started,
        ),
        counter("takeovers_won", "Takeovers won", e.takeovers_won),
        counter(
            "takeovers_lost",
            "Takeovers lost to another registrar",
            e.takeovers_lost,
        ),
        counter(
            "takeovers_aborted",
            "Takeovers aborted (the peer came back)",
            e.takeovers_aborted,
        ),
        counter(
            "takeovers_expired",
            "Takeovers that expired",
            e.takeovers_expired,
        ),
        counter(
            "udp_refused_peers",
            "Datagrams from new peers refused (table full)",
            t.udp.refused_peers,
        ),
        counter(
            "udp_dropped_sends",
            "Datagrams the kernel did not take",
            t.udp.dropped_sends,
        ),
        counter(
            "udp_dropped_datagrams",
            "Received datagrams dropped (empty or too short)",
            t.udp.dropped_datagrams,
        ),
        counter(
            "udp_receive_errors",
            "Receive errors (ICMP)",
            t.udp.receive_errors,
        ),
        counter(
            "tcp_refused_connections",
            "TCP connections refused (cap)",
            t.tcp.refused_connections,
        ),
        counter(
            "tcp_closed_slow_readers",
            "TCP connections closed for not reading",
            t.tcp.closed_slow_readers,
        ),
        counter(
            "sctp_wrong_ppid",
            "SCTP messages dropped for a wrong PPID",
            d.wrong_ppid(),
        ),
        counter(
            "tls_handshake_failures",
            "TLS handshakes that failed",
            t.tcp.tls_handshake_failures,
        ),
        counter(
            "tls_handshake_timeouts",
            "TLS handshakes that timed out",
            t.tcp.tls_handshake_timeouts,
        ),
        counter(
            "plain_refused",
            "Plain UDP peers refused by a registrar with TLS",
            d.plain_refused,
        ),
    ]);
    v
}

fn peer_state(s: &PeerState) -> &'static str {
    match s {
        PeerState::Connecting => "connecting",
        PeerState::Alive => "alive",
        PeerState::Probing { .. } => "probing",
        PeerState::Dead { .. } => "dead",
    }
}

fn millis(d: crate::time::Duration) -> u64 {
    d.as_micros() / 1000
}

/// Takes a snapshot of `host` with up to `limit` PEs (at most
/// [`MAX_PAGE`]) after `after`.
pub(crate) fn take(
    host: &RuntimeRegistrar,
    d: &Driver,
    now: Instant,
    after: Option<(PoolHandle, PeId)>,
    limit: usize,
) -> RegistrarSnapshot {
    let m = &host.machine;
    let hs = m.handlespace();
    let own = m.server_id();
    let peers = m
        .peers()
        .iter()
        .map(|p| PeerSnapshot {
            server_id: p.server_id.map(|s| s.get()),
            address: p.address,
            state: peer_state(&p.state),
            configured: p.configured,
            last_heard_ms_ago: millis(now.saturating_duration_since(p.last_heard)),
            announced_checksum: p.announced_checksum,
            local_checksum: p.server_id.map(|s| m.peer_checksum(s)),
        })
        .collect();
    let pools = hs
        .pools()
        .take(MAX_PAGE)
        .map(|p| PoolSnapshot {
            handle: handle_text(p.handle()),
            policy: crate::Policy::short_name_of(p.policy_type()),
            transport: format!("{:?}", p.transport_protocol()).to_lowercase(),
            elements: p.len(),
        })
        .collect();
    let limit = limit.min(MAX_PAGE);
    let page = super::registrar::page(host, after, limit + 1);
    let next = (page.len() > limit)
        .then(|| page[limit - 1])
        .filter(|_| limit > 0);
    let mut buf = [core::net::IpAddr::from([0, 0, 0, 0]); crate::addr::MAX_TRANSPORT_ADDRESSES];
    let elements = page
        .iter()
        .take(limit)
        .filter_map(|(handle, id)| {
            let pe = hs.lookup(handle, *id)?;
            let t = pe.user_transport(&mut buf);
            let policy = pe.policy();
            let (timer, timer_in_ms) = match pe.timer() {
                Some((kind, at)) => (
                    Some(match kind {
                        PeTimerKind::LifetimeExpiry => "lifetime",
                        PeTimerKind::KeepAliveTransmission => "keep-alive",
                        PeTimerKind::KeepAliveTimeout => "keep-alive-timeout",
                    }),
                    Some(millis(at.saturating_duration_since(now))),
                ),
                None => (None, None),
            };
            Some(ElementSnapshot {
                pool: handle_text(handle),
                id: id.get(),
                transport: format!("{:?}", t.protocol).to_lowercase(),
                addresses: t
                    .addresses
                    .iter()
                    .map(|&ip| SocketAddr::new(ip, t.port))
                    .collect(),
                policy: policy.to_string(),
                home: pe.home_registrar().map(|s| s.get()),
                owned: pe.home_registrar() == Some(own),
                registration_life_ms: pe.registration_life(),
                timer,
                timer_in_ms,
            })
        })
        .collect();
    RegistrarSnapshot {
        server_id: own.get(),
        taken_at_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        pool_count: hs.pool_count(),
        element_count: hs.len(),
        owned: m.owned_count(),
        own_checksum: m.own_checksum(),
        udp_associations: d.net.udp.association_count(),
        tcp_connections: d.net.tcp.connection_count(),
        sctp_associations: d.sctp_association_count(),
        counters: counters(host, d),
        peers,
        pools,
        elements,
        next: next.map(|(h, id)| (handle_text(&h), id.get())),
    }
}
