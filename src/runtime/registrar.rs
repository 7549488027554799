//! A registrar on a socket.

use std::boxed::Box;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::vec::Vec;

use super::{Driver, NodeConfig, Runner};
use crate::addr::TransportProtocol;
use crate::handlespace::Growable;
use crate::host::{Node, RegistrarHost};
use crate::id::{PeId, PoolHandle, ServerId};
use crate::registrar::{AnnounceTransport, RegistrarConfig, Stats};
use crate::storage::RedBlackTree;
use crate::transport::Framing;
use crate::wire::Protocol;

/// The most PEs a [`RegistrarNode`] owns (has registered itself); more
/// registrations are refused with Lack of Resources. The table grows with
/// the PEs actually owned.
pub const OWNED_CAPACITY: usize = 1 << 20;

/// The most associations a [`RegistrarNode`]'s registrar keeps the remote
/// address of (a PE's ASAP transport is taken from it); keep
/// [`UdpConfig::max_associations`](crate::transport::udp::UdpConfig) at or
/// below this.
pub const ASSOCIATION_CAPACITY: usize = 4096;

/// A snapshot of a running registrar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarStatus {
    /// Every PE its handlespace holds: pool, PE.
    pub elements: Vec<(PoolHandle, PeId)>,
    /// How many of them it owns (is the home registrar of).
    pub owned: usize,
    /// Its counters.
    pub stats: Stats,
    /// The server ids of the ENRP peers it knows.
    pub peers: Vec<ServerId>,
    /// The UDP associations its transport knows.
    pub associations: usize,
    /// Its open TCP connections (pool users).
    pub tcp_connections: usize,
    /// Its SCTP associations (up or being set up), over both endpoints.
    pub sctp_associations: usize,
    /// SCTP messages dropped because their PPID was not the one of the
    /// endpoint's protocol (11 on the ASAP endpoint, 12 on the ENRP one).
    pub wrong_ppid: u64,
}

/// The registrar host a [`RegistrarNode`] runs.
pub type RuntimeRegistrar =
    RegistrarHost<RedBlackTree, Growable, OWNED_CAPACITY, ASSOCIATION_CAPACITY, 65536, 64>;

/// Builds the registrar once the node's sockets are open: the announce
/// names them, ENRP runs where its socket is bound.
fn build(
    mut config: RegistrarConfig,
    announce: Option<bool>,
    d: &mut Driver,
) -> (RuntimeRegistrar, Option<SocketAddr>) {
    let asap = d.asap_locals().first().copied();
    if let (Some(tcp), Some(local)) = (announce, asap) {
        // The announce names the ASAP endpoint (SCTP, or the UDP socket
        // standing in for it) as the registrar's SCTP transport, and the
        // TCP listener (on the UDP socket's address) as its TCP one.
        config.announce = true;
        config.announce_transports.clear();
        let mut transports = std::vec![(TransportProtocol::Sctp, local)];
        if let (true, Some(udp)) = (tcp, d.udp.local_addr(0)) {
            transports.push((TransportProtocol::Tcp, udp));
        }
        for (protocol, at) in transports {
            let at = super::unspecified_to_loopback(at);
            let mut addresses = arrayvec::ArrayVec::new();
            addresses.push(at.ip());
            let _ = config.announce_transports.try_push(AnnounceTransport {
                protocol,
                port: at.port(),
                addresses,
            });
        }
    }
    let enrp = d.enrp_local();
    match enrp {
        Some(addr) => config.enrp.local_address = super::unspecified_to_loopback(addr),
        None => config.enrp.enabled = false,
    }
    let mut registrar = RuntimeRegistrar::new(config);
    // UDP peers are challenged: the challenges are keyed with the host's
    // randomness, not with the (reproducible) seed.
    registrar.machine.set_challenge_key(host_key());
    (registrar, enrp)
}

/// 128 bits from the operating system's randomness, as the standard
/// library's hash maps key themselves with it ([`RandomState`]).
///
/// [`RandomState`]: std::collections::hash_map::RandomState
fn host_key() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let mut key = [0u8; 16];
    for (i, chunk) in key.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    key
}

/// A registrar (ASAP over UDP, or over SCTP with [`NodeConfig::sctp`])
/// running on its own thread; see the [module](super) documentation.
/// Dropping it stops the registrar.
#[derive(Debug)]
pub struct RegistrarNode {
    runner: Runner,
    enrp: Option<SocketAddr>,
}

impl RegistrarNode {
    /// Starts a registrar with `config`, listening for ASAP on
    /// `node.bind` (UDP, or SCTP on `node.bind` and `node.also_bind`
    /// with `node.sctp`). It sends SERVER_ANNOUNCE only when
    /// `node.asap_multicast` names a channel, and PRESENCE by multicast only
    /// when `node.enrp_multicast` does. With `config.enrp` enabled it also listens for
    /// ENRP on `node.enrp_bind` (default: the ASAP address with an
    /// ephemeral port), and `config.enrp.local_address` is set to where
    /// that socket is bound.
    pub fn start(config: RegistrarConfig, node: NodeConfig) -> io::Result<Self> {
        let mut config = config;
        // Without a channel, announcing would only fill the queue.
        config.announce = false;
        config.enrp.multicast = node.enrp_multicast.is_some();
        let mut node = node;
        if config.enrp.enabled && node.enrp_bind.is_none() {
            node.enrp_bind = Some(SocketAddr::new(node.bind.ip(), 0));
        } else if !config.enrp.enabled {
            node.enrp_bind = None;
        }
        let (tx, rx) = mpsc::channel();
        let announce = node.asap_multicast.map(|_| node.listen_tcp);
        let runner = Runner::start(
            &node,
            Protocol::Asap,
            Framing::Plain,
            true,
            Box::new(move |d: &mut Driver| {
                let (host, enrp) = build(config, announce, d);
                let _ = tx.send(enrp);
                Ok(Box::new(host) as Box<dyn Node + Send>)
            }),
        )?;
        let enrp = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .map_err(|_| io::Error::other("registrar did not start"))?;
        Ok(RegistrarNode { runner, enrp })
    }

    /// Where it listens for ENRP, when ENRP is enabled.
    pub fn enrp_addr(&self) -> Option<SocketAddr> {
        self.enrp
    }

    /// Where it listens for ASAP (the first address).
    pub fn local_addr(&self) -> SocketAddr {
        self.runner.local_addr()
    }

    /// Every address it listens on for ASAP.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.runner.local_addrs()
    }

    /// Its handlespace and counters now (`None` when it has stopped).
    pub fn status(&self) -> Option<RegistrarStatus> {
        let (tx, rx) = mpsc::channel();
        let asked = self.runner.call(move |node, d| {
            let Some(host) = node.as_any().downcast_ref::<RuntimeRegistrar>() else {
                return;
            };
            let machine = &host.machine;
            let mut elements = Vec::new();
            for pool in machine.handlespace().pools() {
                for pe in pool.elements() {
                    elements.push((*pe.pool_handle(), pe.pe_id()));
                }
            }
            let _ = tx.send(RegistrarStatus {
                elements,
                owned: machine.owned_count(),
                stats: *machine.stats(),
                peers: machine.peers().iter().filter_map(|p| p.server_id).collect(),
                associations: d.udp.association_count(),
                tcp_connections: d.tcp.connection_count(),
                sctp_associations: d.sctp_association_count(),
                wrong_ppid: d.wrong_ppid(),
            });
        });
        if !asked {
            return None;
        }
        rx.recv_timeout(std::time::Duration::from_secs(5)).ok()
    }

    /// Stops the registrar and waits for its threads.
    pub fn shutdown(mut self) {
        self.runner.shutdown();
    }
}
