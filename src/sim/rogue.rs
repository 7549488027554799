//! A rogue node: no protocol machine, just whatever bytes a test makes it
//! send, and a record of everything it receives. It injects malformed,
//! unknown or hostile messages at a registrar.

use std::any::Any;
use std::net::SocketAddr;
use std::vec::Vec;

use crate::host::{Env, Node};
use crate::id::AssocId;
use crate::session::SessionConnect;
use crate::time::Instant;
use crate::transmit::{Connect, Destination, Source, TransportEvent};
use crate::wire::Protocol;

use super::types::Payload;

/// One message a rogue node received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// When.
    pub at: Instant,
    /// From where.
    pub source: Source,
    /// What it carried.
    pub payload: Payload,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// See the [module](self) documentation.
#[derive(Debug)]
pub struct RogueNode {
    /// Where it opens an association at start (if anywhere).
    pub target: Option<SocketAddr>,
    /// Its associations that are up, in the order they came up.
    pub assocs: Vec<AssocId>,
    /// Everything received.
    pub received: Vec<Received>,
    /// Every transport event seen.
    pub events: Vec<(Instant, TransportEvent)>,
}

impl RogueNode {
    /// A rogue node that connects to `target` (ASAP) when it starts.
    pub fn new(target: Option<SocketAddr>) -> Self {
        RogueNode {
            target,
            assocs: Vec::new(),
            received: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Sends raw ASAP bytes on its `index`th association.
    ///
    /// # Panics
    /// If that association is not up (a test bug).
    pub fn send_asap(&self, env: &mut dyn Env, index: usize, bytes: &[u8]) {
        env.send(
            Destination::Association(self.assocs[index]),
            Payload::Asap.ppid(),
            bytes,
        );
    }

    /// Sends raw bytes with any payload kind (ASAP, ENRP or data) on its
    /// `index`th association.
    ///
    /// # Panics
    /// If that association is not up (a test bug).
    pub fn send_raw(&self, env: &mut dyn Env, index: usize, payload: Payload, bytes: &[u8]) {
        env.send(
            Destination::Association(self.assocs[index]),
            payload.ppid(),
            bytes,
        );
    }

    /// Opens another association to `remote`.
    pub fn connect(&self, env: &mut dyn Env, remote: SocketAddr) {
        env.connect(SessionConnect::Registrar(Connect {
            remote,
            protocol: Protocol::Asap,
        }));
    }

    /// Takes the messages received so far.
    pub fn take_received(&mut self) -> Vec<Received> {
        std::mem::take(&mut self.received)
    }
}

impl Node for RogueNode {
    fn start(&mut self, env: &mut dyn Env) {
        if let Some(t) = self.target {
            self.connect(env, t);
        }
    }
    fn handle_message(&mut self, env: &mut dyn Env, source: Source, ppid: u32, bytes: &[u8]) {
        self.received.push(Received {
            at: env.now(),
            source,
            payload: Payload::of(ppid),
            bytes: bytes.to_vec(),
        });
    }
    fn handle_transport_event(&mut self, env: &mut dyn Env, event: TransportEvent) {
        match event {
            TransportEvent::Up { assoc, .. } => self.assocs.push(assoc),
            TransportEvent::Down { assoc } => self.assocs.retain(|&a| a != assoc),
            _ => {}
        }
        self.events.push((env.now(), event));
    }
    fn handle_timeout(&mut self, _env: &mut dyn Env) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn flush(&mut self, _env: &mut dyn Env) {}
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
