//! A registrar on a socket.

use std::boxed::Box;
use std::io;
use std::net::SocketAddr;
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

use super::snapshot::RegistrarSnapshot;

/// The most PEs a [`RegistrarNode`] owns (has registered itself); more
/// registrations are refused with Lack of Resources. The table grows with
/// the PEs actually owned.
pub const OWNED_CAPACITY: usize = 1 << 20;

/// The most associations a [`RegistrarNode`]'s registrar keeps the remote
/// address of (a PE's ASAP transport is taken from it); keep
/// [`UdpConfig::max_associations`](crate::transport::tokio::UdpConfig) at or
/// below this.
pub const ASSOCIATION_CAPACITY: usize = 4096;

/// The most PEs a [`RegistrarStatus`] lists; [`RegistrarNode::elements`]
/// pages through the rest.
pub const STATUS_ELEMENTS: usize = 1024;

/// A snapshot of a running registrar, taken in its task at the cost of at
/// most [`STATUS_ELEMENTS`] PEs walked (never the whole handlespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarStatus {
    /// The first [`STATUS_ELEMENTS`] PEs its handlespace holds (pools in
    /// handle byte order, PEs in id order): pool, PE.
    pub elements: Vec<(PoolHandle, PeId)>,
    /// How many PEs its handlespace holds.
    pub element_count: usize,
    /// How many pools its handlespace holds.
    pub pool_count: usize,
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
    /// What its transports counted (refused peers and connections,
    /// dropped datagrams, slow readers closed, failed TLS handshakes).
    pub transport: crate::transport::tokio::Counters,
    /// With TLS (`NodeConfig::tls`): UDP associations and datagrams
    /// refused because a registrar with TLS takes associations over TLS
    /// only (multicast announcements apart).
    pub plain_refused: u64,
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
        if let (true, Some(udp)) = (tcp, d.net.udp.local_addr(0)) {
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

/// Up to `limit` PEs of `host`'s handlespace after `after` (from the
/// first with `None`), in the handlespace's order: pools in handle byte
/// order, PEs in id order.
pub(crate) fn page(
    host: &RuntimeRegistrar,
    after: Option<(PoolHandle, PeId)>,
    limit: usize,
) -> Vec<(PoolHandle, PeId)> {
    let hs = host.machine.handlespace();
    let mut out = Vec::new();
    // Straight to where the last page ended: the pools before it and the
    // PEs before it in its pool are not walked.
    let pools = match after {
        Some((h, _)) => hs.pools_from(&h),
        None => hs.pools(),
    };
    for pool in pools {
        if out.len() >= limit {
            break;
        }
        let handle = *pool.handle();
        let elements = match after {
            Some((h, id)) if h == handle => pool.elements_after(id),
            _ => pool.elements(),
        };
        for pe in elements.take(limit - out.len()) {
            out.push((handle, pe.pe_id()));
        }
    }
    out
}

/// The shortest UDP idle timeout for a registrar of `config`: twice its
/// longest keep-alive cycle (the interval varied by up to +50 %, then the
/// time to answer), so that an association whose PE answers its
/// keep-alives always hears from it in time. Without periodic keep-alives,
/// [`NodeConfig::udp`]'s idle timeout must be set above the PEs'
/// re-registration interval.
pub fn udp_idle_floor(config: &RegistrarConfig) -> core::time::Duration {
    match config.keep_alive_interval {
        Some(interval) => {
            let interval = core::time::Duration::from(interval);
            let timeout = core::time::Duration::from(config.keep_alive_timeout);
            (interval * 3 / 2 + timeout) * 2
        }
        None => core::time::Duration::ZERO,
    }
}

/// What a registrar tells a CSP monitor: its PEs, pools and peers, and an
/// association per live ENRP peer.
fn csp_status(node: &mut dyn Node, d: &mut Driver) -> Option<super::csp::CspStatus> {
    use super::csp::{component_id, to_registrar, ComponentGroup, CspStatus};
    let host = node.as_any().downcast_ref::<RuntimeRegistrar>()?;
    let m = &host.machine;
    let hs = m.handlespace();
    let sctp = d.sctp.is_some();
    let associations = m
        .peers()
        .iter()
        .filter(|p| p.state == crate::registrar::PeerState::Alive)
        .filter_map(|p| p.server_id)
        .map(|id| to_registrar(id.get(), true, sctp))
        .collect();
    Some(CspStatus {
        id: component_id(ComponentGroup::Registrar, u64::from(m.server_id().get())),
        status: std::format!(
            "{} PEs ({} owned) in {} pools, {} ENRP peers",
            hs.len(),
            m.owned_count(),
            hs.pool_count(),
            m.peers().len()
        ),
        workload: None,
        associations,
    })
}

/// Takes snapshots of a running registrar ([`RegistrarNode::status_handle`]);
/// it does not keep the registrar running: once it has stopped, every
/// snapshot is `None`.
#[derive(Clone, Debug)]
pub struct StatusHandle {
    commands: Option<tokio::sync::mpsc::WeakSender<super::Command>>,
}

impl StatusHandle {
    /// A snapshot with up to `limit` PEs (at most
    /// [`snapshot::MAX_PAGE`](super::snapshot::MAX_PAGE)) after `after`;
    /// `None` when the registrar has stopped.
    pub async fn snapshot(
        &self,
        after: Option<(PoolHandle, PeId)>,
        limit: usize,
    ) -> Option<RegistrarSnapshot> {
        let commands = self.commands.as_ref()?.upgrade()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let command: super::Command = Box::new(move |node, d| {
            if let Some(host) = node.as_any().downcast_ref::<RuntimeRegistrar>() {
                let now = crate::host::Env::now(&*d);
                let _ = tx.send(super::snapshot::take(host, d, now, after, limit));
            }
        });
        commands.send(command).await.ok()?;
        drop(commands);
        rx.await.ok()
    }
}

/// A registrar (ASAP over UDP, or over SCTP with [`NodeConfig::sctp`])
/// running as a tokio task; see the [module](super) documentation.
/// Dropping it stops the registrar.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use rserpool::id::ServerId;
/// use rserpool::runtime::{loopback, NodeConfig, RegistrarNode};
///
/// let id = ServerId::new(1).expect("not zero");
/// let registrar = RegistrarNode::start(
///     loopback::registrar(id),
///     NodeConfig::new("127.0.0.1:0".parse().expect("an address")),
/// )?;
/// let status = registrar.status().await.expect("running");
/// println!("{} PEs in {} pools", status.element_count, status.pool_count);
/// registrar.stop().await;
/// # Ok(())
/// # }
/// ```
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
    /// that socket is bound. Returns once the sockets are bound; runs on
    /// the caller's tokio runtime, else on the
    /// [shared one](super::shared_runtime).
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
        #[cfg(feature = "tls")]
        let tls = node.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        // With TLS, only pool elements that authenticated register.
        config.require_authentication |= tls;
        // A PE over UDP lives by its keep-alives and its lifetime, not by
        // its association's idle timer: the association of a PE that
        // answers its keep-alives never idles out.
        node.udp.idle_timeout = node.udp.idle_timeout.max(udp_idle_floor(&config));
        let announce = node.asap_multicast.map(|_| node.listen_tcp || tls);
        let (mut runner, enrp) = Runner::start(
            &node,
            Protocol::Asap,
            Framing::Plain,
            true,
            move |d: &mut Driver| {
                let (host, enrp) = build(config, announce, d);
                Ok((Box::new(host) as Box<dyn Node + Send>, enrp))
            },
        )?;
        runner.report_csp(&node, std::sync::Arc::new(csp_status))?;
        Ok(RegistrarNode { runner, enrp })
    }

    /// Where it listens for ENRP, when ENRP is enabled.
    pub fn enrp_addr(&self) -> Option<SocketAddr> {
        self.enrp
    }

    /// What the node counted (capture errors, dropped events).
    pub fn counters(&self) -> &super::NodeCounters {
        &self.runner.counters
    }

    /// Where it listens for ASAP (the first address).
    pub fn local_addr(&self) -> SocketAddr {
        self.runner.local_addr()
    }

    /// Every address it listens on for ASAP.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.runner.local_addrs()
    }

    /// Its counters, its peers and the first PEs of its handlespace now
    /// (`None` when it has stopped).
    pub async fn status(&self) -> Option<RegistrarStatus> {
        self.runner
            .ask(move |node, d| {
                let host = node.as_any().downcast_ref::<RuntimeRegistrar>()?;
                let machine = &host.machine;
                let hs = machine.handlespace();
                Some(RegistrarStatus {
                    elements: page(host, None, STATUS_ELEMENTS),
                    element_count: hs.len(),
                    pool_count: hs.pool_count(),
                    owned: machine.owned_count(),
                    stats: *machine.stats(),
                    peers: machine.peers().iter().filter_map(|p| p.server_id).collect(),
                    associations: d.net.udp.association_count(),
                    tcp_connections: d.net.tcp.connection_count(),
                    sctp_associations: d.sctp_association_count(),
                    wrong_ppid: d.wrong_ppid(),
                    transport: d.net.counters(),
                    plain_refused: d.plain_refused,
                })
            })
            .await
    }

    /// Up to `limit` PEs of its handlespace after `after` (from the first
    /// with `None`; pools in handle byte order, PEs in id order): a page of a large
    /// handlespace, walked in the registrar's task at the cost of that
    /// page. `None` when it has stopped.
    pub async fn elements(
        &self,
        after: Option<(PoolHandle, PeId)>,
        limit: usize,
    ) -> Option<Vec<(PoolHandle, PeId)>> {
        self.runner
            .ask(move |node, _| {
                let host = node.as_any().downcast_ref::<RuntimeRegistrar>()?;
                Some(page(host, after, limit))
            })
            .await
    }

    /// A snapshot for operators: counters, ENRP peers, pools and up to
    /// `limit` PEs after `after` (see [`RegistrarSnapshot`]). `None` when it
    /// has stopped.
    ///
    /// ```no_run
    /// # async fn run(registrar: rserpool::runtime::RegistrarNode) {
    /// // Page through every PE, 500 at a time.
    /// let mut after = None;
    /// while let Some(page) = registrar.elements(after, 500).await {
    ///     let Some(&last) = page.last() else { break };
    ///     after = Some(last);
    /// }
    /// let s = registrar.snapshot(None, 10).await.expect("running");
    /// for peer in &s.peers {
    ///     println!("{:?} {}", peer.server_id, peer.state);
    /// }
    /// # }
    /// ```
    pub async fn snapshot(
        &self,
        after: Option<(PoolHandle, PeId)>,
        limit: usize,
    ) -> Option<RegistrarSnapshot> {
        self.status_handle().snapshot(after, limit).await
    }

    /// A cheap, clonable handle that takes snapshots of this registrar
    /// (for a status server) without keeping it running.
    pub fn status_handle(&self) -> StatusHandle {
        StatusHandle {
            commands: self.runner.weak(),
        }
    }

    /// Stops the registrar gracefully: its last ENRP_PRESENCE goes to its
    /// peers (see [`Registrar::send_last_presence`](crate::registrar::Registrar::send_last_presence)),
    /// then it stops and waits until its sockets are closed.
    pub async fn stop(mut self) {
        self.runner
            .call(|node, _| {
                if let Some(host) = node.as_any_mut().downcast_mut::<RuntimeRegistrar>() {
                    host.machine.send_last_presence();
                }
            })
            .await;
        self.runner.stop().await;
    }
}
