//! A timer profile for pools on one host (demos, tests): rsplib's
//! behaviour with every timer short, so that a dead PE or registrar is
//! noticed and worked around within a few seconds.

use std::net::SocketAddr;

use crate::addr::{TransportProtocol, TransportUse};
use crate::id::{PoolHandle, ServerId};
use crate::pool_element::{OwnedTransport, PoolElementConfig};
use crate::pool_user::PoolUserConfig;
use crate::registrar::RegistrarConfig;
use crate::time::Duration;

/// A registrar that keeps its PEs alive every second (1 s to answer).
pub fn registrar(server_id: ServerId) -> RegistrarConfig {
    let mut c = RegistrarConfig::rsplib(server_id);
    c.keep_alive_interval = Some(Duration::from_millis(1000));
    c.keep_alive_timeout = Duration::from_millis(1000);
    c.announce = false;
    c
}

/// A PE of `pool` that registers with the first of `registrars` that
/// answers: life 10 s, re-registration every 2 s, 1 s to answer.
pub fn element(pool: PoolHandle, registrars: &[SocketAddr], seed: u64) -> PoolElementConfig {
    let placeholder = OwnedTransport::new(
        TransportProtocol::Udp,
        1,
        TransportUse::DataOnly,
        &[core::net::Ipv4Addr::LOCALHOST.into()],
    )
    .unwrap_or_else(|_| unreachable_transport());
    let mut c = PoolElementConfig::rsplib(pool, placeholder);
    c.registration_life = Duration::from_secs(10);
    c.t4_reregistration = Some(Duration::from_secs(2));
    c.t2_registration = Duration::from_millis(1000);
    c.t3_deregistration = Duration::from_millis(1000);
    c.hunt.t5_server_hunt = Duration::from_millis(1000);
    c.hunt.retran_max = Duration::from_secs(2);
    c.seed = seed;
    for r in registrars {
        let _ = c.registrars.push(*r);
    }
    c
}

/// A pool user that resolves through `registrars` (1 s to answer), keeps
/// answers for 1 s.
pub fn user(registrars: &[SocketAddr], seed: u64) -> PoolUserConfig {
    let mut c = PoolUserConfig::rsplib();
    c.t1_enrp_request = Duration::from_millis(1000);
    c.stale_cache_value = Duration::from_millis(1000);
    c.hunt.t5_server_hunt = Duration::from_millis(1000);
    c.hunt.retran_max = Duration::from_secs(2);
    c.seed = seed;
    for r in registrars {
        let _ = c.registrars.push(*r);
    }
    c
}

fn unreachable_transport() -> OwnedTransport {
    // One address, a non-zero port: OwnedTransport::new accepts it.
    OwnedTransport {
        protocol: TransportProtocol::Udp,
        port: 1,
        transport_use: TransportUse::DataOnly,
        addresses: heapless::Vec::new(),
    }
}

/// ENRP for a registrar of [`registrar`]: rsplib's behaviour with a
/// PRESENCE every second, a peer silent for 2 s asked to answer within
/// 1 s, 1 s to find a mentor and takeovers that expire after 2 s; the
/// `peers` are its static peers, and every registrar on the loopback
/// network (127.0.0.0/8) is accepted as a peer. The local address is set when the
/// registrar's ENRP socket is bound ([`RegistrarNode::start`](super::RegistrarNode::start)).
pub fn enrp(peers: &[SocketAddr]) -> crate::registrar::EnrpConfig {
    let mut c = crate::registrar::EnrpConfig::rsplib(SocketAddr::from(([127, 0, 0, 1], 0)));
    c.peer_heartbeat_cycle = Duration::from_millis(1000);
    c.max_time_last_heard = Duration::from_millis(2000);
    c.max_time_no_response = Duration::from_millis(1000);
    c.mentor_discovery_timeout = Duration::from_millis(1000);
    c.takeover_expiry = Duration::from_millis(2000);
    c.session_timeout = Duration::from_secs(3);
    c = c.with_allowed_peers(core::net::IpAddr::from([127, 0, 0, 0]), 8);
    for p in peers {
        c = c.with_peer(*p);
    }
    c
}
