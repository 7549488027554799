//! A registrar on a socket.

use std::boxed::Box;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::vec::Vec;

use super::{Driver, Host, NodeConfig, Runner};
use crate::handlespace::Growable;
use crate::id::{PeId, PoolHandle};
use crate::registrar::{Registrar, RegistrarConfig, Stats};
use crate::storage::RedBlackTree;
use crate::time::Instant;
use crate::transmit::{Machine, Source, TransportEvent};
use crate::transport::{Framing, Incoming, Payload};
use crate::wire::Protocol;

type Machine_ = Registrar<RedBlackTree, Growable, 4096, 4096, 65536, 64>;

/// A snapshot of a running registrar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarStatus {
    /// Every PE its handlespace holds: pool, PE.
    pub elements: Vec<(PoolHandle, PeId)>,
    /// Its counters.
    pub stats: Stats,
    /// The UDP associations its transport knows.
    pub associations: usize,
    /// Its open TCP connections (pool users).
    pub tcp_connections: usize,
}

/// What a registrar's handle asks of its thread.
#[derive(Debug)]
pub enum Command {
    /// Report a [`RegistrarStatus`].
    Status(mpsc::Sender<RegistrarStatus>),
}

struct Host_ {
    machine: Box<Machine_>,
}

impl Host for Host_ {
    type Command = Command;
    fn start(&mut self, _d: &mut Driver) {}
    fn message(&mut self, d: &mut Driver, incoming: Incoming) {
        if let Payload::Message(p) = incoming.payload {
            let now = d.now();
            self.machine
                .handle(now, Source::Association(incoming.assoc), p, &incoming.bytes);
        }
    }
    fn transport_event(&mut self, d: &mut Driver, event: TransportEvent) {
        let now = d.now();
        self.machine.handle_transport_event(now, event);
    }
    fn command(&mut self, d: &mut Driver, command: Command) {
        match command {
            Command::Status(reply) => {
                let mut elements = Vec::new();
                for pool in self.machine.handlespace().pools() {
                    for pe in pool.elements() {
                        elements.push((*pe.pool_handle(), pe.pe_id()));
                    }
                }
                let _ = reply.send(RegistrarStatus {
                    elements,
                    stats: *self.machine.stats(),
                    associations: d.udp.association_count(),
                    tcp_connections: d.tcp.connection_count(),
                });
            }
        }
    }
    fn timeout(&mut self, d: &mut Driver) {
        let now = d.now();
        self.machine.handle_timeout(now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }
    fn flush(&mut self, d: &mut Driver) {
        d.drain(self.machine.as_mut());
        while let Some(e) = self.machine.poll_event() {
            net_debug!("registrar: event");
            let _ = e;
        }
        d.drain(self.machine.as_mut());
    }
}

/// A registrar (ASAP over UDP) running on its own thread; see the
/// [module](super) documentation. Dropping it stops the registrar.
#[derive(Debug)]
pub struct RegistrarNode {
    runner: Runner<Command>,
}

impl RegistrarNode {
    /// Starts a registrar with `config`, listening for ASAP on
    /// `node.bind` (UDP).
    pub fn start(config: RegistrarConfig, node: NodeConfig) -> io::Result<Self> {
        let mut config = config;
        // No multicast channel yet: announcing would only fill the queue.
        config.announce = false;
        let host = Host_ {
            machine: Box::new(Registrar::new(config)),
        };
        let runner = Runner::start(&node, Protocol::Asap, Framing::Plain, host)?;
        Ok(RegistrarNode { runner })
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
        if !self.runner.send(Command::Status(tx)) {
            return None;
        }
        rx.recv_timeout(std::time::Duration::from_secs(5)).ok()
    }

    /// Stops the registrar and waits for its threads.
    pub fn shutdown(mut self) {
        self.runner.shutdown();
    }
}
