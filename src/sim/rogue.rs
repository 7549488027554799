//! A rogue node: no protocol machine, just whatever bytes a test makes it
//! send, and a record of everything it receives. It injects malformed,
//! unknown or hostile messages at a registrar.

use std::any::Any;
use std::net::SocketAddr;
use std::vec::Vec;

use crate::id::AssocId;
use crate::time::Instant;
use crate::transmit::{Destination, Source, TransportEvent};
use crate::wire::Protocol;

use super::world::{Ctx, Node, Payload};

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
    pub fn send_asap(&self, ctx: &mut Ctx<'_>, index: usize, bytes: &[u8]) {
        ctx.send(
            Destination::Association(self.assocs[index]),
            Payload::Asap,
            bytes,
        );
    }

    /// Sends raw bytes with any payload kind (ASAP, ENRP or data) on its
    /// `index`th association.
    ///
    /// # Panics
    /// If that association is not up (a test bug).
    pub fn send_raw(&self, ctx: &mut Ctx<'_>, index: usize, payload: Payload, bytes: &[u8]) {
        ctx.send(Destination::Association(self.assocs[index]), payload, bytes);
    }

    /// Opens another association to `remote`.
    pub fn connect(&self, ctx: &mut Ctx<'_>, remote: SocketAddr) {
        ctx.connect(remote, Protocol::Asap);
    }

    /// Takes the messages received so far.
    pub fn take_received(&mut self) -> Vec<Received> {
        std::mem::take(&mut self.received)
    }
}

impl Node for RogueNode {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(t) = self.target {
            ctx.connect(t, Protocol::Asap);
        }
    }
    fn handle_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        source: Source,
        payload: Payload,
        bytes: &[u8],
    ) {
        self.received.push(Received {
            at: ctx.now(),
            source,
            payload,
            bytes: bytes.to_vec(),
        });
    }
    fn handle_transport_event(&mut self, ctx: &mut Ctx<'_>, event: TransportEvent) {
        match event {
            TransportEvent::Up { assoc, .. } => self.assocs.push(assoc),
            TransportEvent::Down { assoc } => self.assocs.retain(|&a| a != assoc),
            _ => {}
        }
        self.events.push((ctx.now(), event));
    }
    fn handle_timeout(&mut self, _ctx: &mut Ctx<'_>) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn flush(&mut self, _ctx: &mut Ctx<'_>) {}
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
