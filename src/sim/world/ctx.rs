//! What a node sees of the world: the [`Env`] of the simulator.

use std::boxed::Box;
use std::fmt;
use std::net::SocketAddr;
use std::vec::Vec;

use crate::host::{Env, Tally};
use crate::id::AssocId;
use crate::random::{below, Rng, Xoshiro256StarStar};
use crate::session::SessionConnect;
use crate::time::{Duration, Instant};
use crate::transmit::{Destination, Machine};
use crate::wire::Protocol;

use super::super::stats::Counters;
use super::{NodeId, Output, Payload};

/// A sink for the event log (`--verbose`).
pub type TraceSink = Box<dyn FnMut(&str)>;

/// What a node sees of the world while it handles one input.
pub struct Ctx<'a> {
    pub(super) now: Instant,
    pub(super) node: NodeId,
    pub(super) addr: SocketAddr,
    pub(super) rng: &'a mut Xoshiro256StarStar,
    pub(super) out: &'a mut Vec<Output>,
    pub(super) buf: &'a mut Vec<u8>,
    pub(super) counters: &'a mut Counters,
    pub(super) trace: Option<&'a mut TraceSink>,
}

impl Ctx<'_> {
    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }
    /// The node being run.
    pub fn node(&self) -> NodeId {
        self.node
    }
    /// The node's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The node's own random generator (for application decisions).
    pub fn rng(&mut self) -> &mut Xoshiro256StarStar {
        self.rng
    }
    /// A uniformly distributed duration in `0..=max`.
    pub fn random_duration(&mut self, max: Duration) -> Duration {
        Duration::from_micros(below(self.rng, max.as_micros().saturating_add(1)))
    }
    /// The run's counters.
    pub fn counters(&mut self) -> &mut Counters {
        self.counters
    }
    /// Sends a message of kind `payload` (its PPID).
    pub fn send_payload(&mut self, destination: Destination, payload: Payload, bytes: &[u8]) {
        Env::send(self, destination, payload.ppid(), bytes);
    }
    /// Opens an association.
    pub fn connect_to(&mut self, remote: SocketAddr, protocol: Protocol) {
        self.out.push(Output::Connect { remote, protocol });
    }
    /// Moves everything `machine` wants done (connects, then messages) into
    /// the output. A transmit queue error is counted, never hidden.
    pub fn drain_machine<M: Machine + ?Sized>(&mut self, machine: &mut M) {
        crate::host::drain_machine(self, machine);
    }
}

impl Env for Ctx<'_> {
    fn now(&self) -> Instant {
        self.now
    }
    fn send(&mut self, destination: Destination, ppid: u32, bytes: &[u8]) {
        self.out.push(Output::Send {
            destination,
            ppid,
            bytes: bytes.to_vec(),
        });
    }
    fn connect(&mut self, connect: SessionConnect) {
        let protocol = match connect {
            SessionConnect::Registrar(c) => c.protocol,
            SessionConnect::PoolElement { .. } => Protocol::Asap,
        };
        self.out.push(Output::Connect {
            remote: connect.remote(),
            protocol,
        });
    }
    fn close(&mut self, assoc: AssocId) {
        self.out.push(Output::Close { assoc });
    }
    fn random_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
    fn record(&mut self, tally: Tally) {
        self.counters.record(tally);
    }
    fn tracing(&self) -> bool {
        self.trace.is_some()
    }
    fn log(&mut self, args: fmt::Arguments<'_>) {
        if let Some(sink) = self.trace.as_mut() {
            let line = format!("{} {} {}", self.now, self.node, args);
            sink(&line);
        }
    }
    fn take_buffer(&mut self, len: usize) -> Vec<u8> {
        let mut b = std::mem::take(self.buf);
        if b.len() < len {
            b.resize(len, 0);
        }
        b
    }
    fn give_buffer(&mut self, buf: Vec<u8>) {
        *self.buf = buf;
    }
}
