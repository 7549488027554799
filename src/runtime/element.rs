//! A pool element on a socket, serving sessions with a [`Service`].
//!
//! Pool users open a session by opening an association to the PE's user
//! transport; their messages reach the service raw, with their PPID, as
//! rsplib sends them (over SCTP the PPID is SCTP's; over UDP each datagram
//! of such a channel carries it first, see
//! [`Framing::Tagged`](crate::transport::Framing)). ASAP on that channel
//! (COOKIE_ECHO) goes to the pool element machine. The node runs the
//! crate's [`ElementHost`] (as the simulator does) over the runtime's
//! sockets; the service may answer at once, later, several times or not
//! at all ([`crate::host::services`] has rsplib's echo, discard and
//! daytime).
//!
//! Over SCTP the PE registers its user transport as *data plus control*
//! (RFC 5354 §3.3, Transport Use 0x0001), as rsplib's pool elements do: it
//! takes ASAP control (COOKIE_ECHO, PPID 11) on that channel, and a pool
//! needs one value for all its PEs. The UDP transport parameter has no
//! such field (data only).
//!
//! The machine's [`Event`]s reach the application through
//! [`PoolElementNode::events`]: a rejected registration is reported there
//! (and tried again after the configured back-off,
//! [`PoolElementConfig::registration_retry`]).
//! [`PoolElementNode::deregister`] is the graceful stop: ASAP_DEREGISTRATION,
//! then the node stops.

use std::boxed::Box;
use std::format;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{mpsc, Arc};
use std::vec::Vec;

use super::{Driver, NodeConfig, NodeCounters, Runner};
use crate::addr::{TransportProtocol, TransportUse};
use crate::cause::CauseCode;
use crate::host::{ElementHost, Node, Service};
use crate::id::PeId;
use crate::pool_element::{Event, OwnedTransport, PoolElementConfig, PoolElementError};
use crate::session::{SessionElement, SessionElementConfig};
use crate::time::Duration;
use crate::transport::Framing;
use crate::wire::Protocol;

/// Sessions a [`PoolElementNode`] serves at once; more are refused.
pub const SESSIONS: usize = 128;

/// The host a [`PoolElementNode`] runs: up to [`SESSIONS`] sessions, 64 KiB
/// and 512 messages waiting each way.
pub type RuntimeElement = ElementHost<Box<dyn Service + Send>, SESSIONS, 65_536, 512>;

/// How many machine events wait for the application at most; more are
/// dropped (and counted, [`PoolElementNode::events_dropped`]).
pub const EVENT_CHANNEL_LEN: usize = 256;

/// Why [`PoolElementNode::deregister`] did not end in a confirmed
/// deregistration (the node is stopped all the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeregisterError {
    /// The PE was neither registered nor registering.
    NotRegistered,
    /// The registrar refused (its cause), or no registrar answered within
    /// T3-deregistration × (MAX-REQUEST-RETRANSMIT + 1) (`None`).
    Failed(Option<CauseCode>),
    /// No answer within the caller's timeout.
    Timeout,
    /// The node's thread was gone.
    Stopped,
}

impl core::fmt::Display for DeregisterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DeregisterError::NotRegistered => f.write_str("not registered"),
            DeregisterError::Failed(Some(cause)) => write!(f, "deregistration refused: {cause}"),
            DeregisterError::Failed(None) => f.write_str("deregistration not answered"),
            DeregisterError::Timeout => f.write_str("deregistration timed out"),
            DeregisterError::Stopped => f.write_str("pool element stopped"),
        }
    }
}

impl core::error::Error for DeregisterError {}

/// Builds the pool element once the node's sockets are open: its user
/// transport is where they are bound.
fn build(
    mut config: PoolElementConfig,
    service: Box<dyn Service + Send>,
    events: mpsc::SyncSender<Event>,
    counters: Arc<NodeCounters>,
    d: &mut Driver,
) -> io::Result<RuntimeElement> {
    let locals = d.asap_locals();
    let protocol = if d.sctp.is_some() {
        TransportProtocol::Sctp
    } else {
        TransportProtocol::Udp
    };
    let local = *locals
        .first()
        .ok_or_else(|| io::Error::other("no socket"))?;
    // Every local address (SCTP multi-homing), each once.
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in &locals {
        let ip = match a.ip() {
            ip if ip.is_unspecified() && a.is_ipv4() => Ipv4Addr::LOCALHOST.into(),
            ip if ip.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
            ip => ip,
        };
        if !ips.contains(&ip) && ips.len() < crate::addr::MAX_TRANSPORT_ADDRESSES {
            ips.push(ip);
        }
    }
    // SCTP: data plus control (COOKIE_ECHO arrives on this channel), as
    // rsplib's PEs register; UDP's parameter is data only.
    let transport_use = match protocol {
        TransportProtocol::Sctp => TransportUse::DataAndControl,
        _ => TransportUse::DataOnly,
    };
    config.user_transport = OwnedTransport::new(protocol, local.port(), transport_use, &ips)
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
    let machine = SessionElement::new(SessionElementConfig { element: config })
        .map(Box::new)
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
    let sink = Box::new(move |e: &Event| {
        if events.try_send(e.clone()).is_err() {
            counters.event_dropped();
        }
    });
    Ok(RuntimeElement::new(machine, service, Duration::ZERO).with_event_sink(sink))
}

/// A pool element (ASAP over UDP or SCTP) serving requests on its own
/// thread; see the [module](self) documentation. Dropping it stops it
/// (without deregistering, like a crash); [`shutdown`](Self::shutdown)
/// too; [`deregister`](Self::deregister) deregisters first.
#[derive(Debug)]
pub struct PoolElementNode {
    runner: Runner,
    pe_id: PeId,
    events: mpsc::Receiver<Event>,
}

impl PoolElementNode {
    /// Starts a pool element with `config` (its `user_transport` is
    /// replaced by the node's socket, bound at `node.bind`, UDP or SCTP)
    /// that registers at once and serves its sessions with `service`
    /// (e.g. [`Echo`](crate::host::services::Echo)).
    pub fn start(
        config: PoolElementConfig,
        node: NodeConfig,
        service: Box<dyn Service + Send>,
    ) -> io::Result<Self> {
        let (events_tx, events) = mpsc::sync_channel(EVENT_CHANNEL_LEN);
        let mut pe_id = None;
        let runner = {
            let (tx, rx) = mpsc::channel();
            let runner = Runner::start(
                &node,
                Protocol::Asap,
                Framing::Tagged,
                false,
                Box::new(move |d: &mut Driver| {
                    let counters = d.counters.clone();
                    let host = build(config, service, events_tx, counters, d)?;
                    let _ = tx.send(host.pe_id());
                    Ok(Box::new(host) as Box<dyn Node + Send>)
                }),
            )?;
            if let Ok(id) = rx.recv_timeout(std::time::Duration::from_secs(5)) {
                pe_id = Some(id);
            }
            runner
        };
        let pe_id = pe_id.ok_or_else(|| io::Error::other("pool element did not start"))?;
        Ok(PoolElementNode {
            runner,
            pe_id,
            events,
        })
    }

    /// What the node counted: answers, cookies, registrations, ...
    pub fn counters(&self) -> &NodeCounters {
        &self.runner.counters
    }

    /// The machine's events, in order: registrations, rejections (with the
    /// cause and when the registration is tried again), home changes,
    /// cookie echoes. At most [`EVENT_CHANNEL_LEN`] wait; later ones are
    /// dropped while the channel is full ([`events_dropped`](Self::events_dropped)).
    pub fn events(&self) -> &mpsc::Receiver<Event> {
        &self.events
    }

    /// Events dropped because nobody read [`events`](Self::events).
    pub fn events_dropped(&self) -> u64 {
        self.runner.counters.events_dropped()
    }

    /// Registrations rejected or left unanswered so far.
    pub fn registration_failures(&self) -> u64 {
        self.runner.counters.registration_failures()
    }

    /// The graceful stop: sends ASAP_DEREGISTRATION to the home registrar,
    /// waits for its answer (at most `timeout`), then stops the node.
    pub fn deregister(mut self, timeout: std::time::Duration) -> Result<(), DeregisterError> {
        let (tx, rx) = mpsc::channel::<Result<(), DeregisterError>>();
        let asked = self.runner.call(move |node, d| {
            let Some(host) = node.as_any_mut().downcast_mut::<RuntimeElement>() else {
                return;
            };
            let r = match host.deregister(d) {
                Ok(()) => {
                    host.on_deregistered(Box::new(move |r| {
                        let _ = tx.send(r.map_err(DeregisterError::Failed));
                    }));
                    return;
                }
                Err(PoolElementError::NotRegistered) => Err(DeregisterError::NotRegistered),
                Err(_) => Err(DeregisterError::Failed(None)),
            };
            let _ = tx.send(r);
        });
        let result = if asked {
            match rx.recv_timeout(timeout) {
                Ok(r) => r,
                Err(mpsc::RecvTimeoutError::Timeout) => Err(DeregisterError::Timeout),
                Err(mpsc::RecvTimeoutError::Disconnected) => Err(DeregisterError::Stopped),
            }
        } else {
            Err(DeregisterError::Stopped)
        };
        self.runner.shutdown();
        result
    }

    /// Its PE identifier.
    pub fn pe_id(&self) -> PeId {
        self.pe_id
    }

    /// Its user transport (where pool users reach it).
    pub fn local_addr(&self) -> SocketAddr {
        self.runner.local_addr()
    }

    /// User messages its service sent so far (an echo: messages served).
    pub fn served(&self) -> u64 {
        self.runner.counters.answers()
    }

    /// Registrations (and re-registrations) accepted so far.
    pub fn registrations(&self) -> u64 {
        self.runner.counters.registered()
    }

    /// COOKIE_ECHOs received from pool users that failed over to it.
    pub fn cookie_echoes(&self) -> u64 {
        self.runner.counters.cookie_echoes()
    }

    /// Stops it (no deregistration) and waits for its threads.
    pub fn shutdown(mut self) {
        self.runner.shutdown();
    }
}
