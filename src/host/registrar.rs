//! A registrar host: the crate's [`Registrar`] machine, its events kept for
//! inspection, and a type-erased view of its handlespace for checks.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::any::Any;

use crate::handlespace::Storage;
use crate::id::{PeId, PoolHandle, ServerId};
use crate::registrar::{Event, Registrar, RegistrarConfig, RemovalReason, Stats};
use crate::storage::Backend;
use crate::time::{Duration, Instant};
use crate::transmit::{Machine, Source, TransportEvent};

use super::{drain_machine, protocol_of, remember, Env, Node};

/// How many PE removals a [`RegistrarHost`] keeps; when full, the older
/// half goes.
pub const REMOVAL_HISTORY: usize = 1 << 16;

/// One PE as a registrar's handlespace holds it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HeldPe {
    /// The pool.
    pub pool_handle: PoolHandle,
    /// The PE.
    pub pe_id: PeId,
    /// Its home registrar as recorded.
    pub owner: Option<ServerId>,
}

/// What the checks need of a registrar, whatever its type parameters.
pub trait RegistrarView {
    /// Its server identifier.
    fn server_id(&self) -> ServerId;
    /// Every PE of its handlespace, sorted.
    fn held(&self) -> Vec<HeldPe>;
    /// The handlespace's structural self-check.
    fn check(&self) -> Result<(), String>;
    /// The checksum over the PEs it owns (RFC 5353 §3.6.2).
    fn own_checksum(&self) -> u16;
    /// When the registration life of a PE it owns ends.
    fn lifetime_deadline(&self, pool_handle: &PoolHandle, pe_id: PeId) -> Option<Instant>;
    /// The checksum over the PEs it holds for `owner`.
    fn checksum_of(&self, owner: ServerId) -> u16;
    /// Its counters.
    fn stats(&self) -> Stats;
    /// Its latest events, oldest first.
    fn events(&self) -> &VecDeque<(Instant, Event)>;
    /// The longest a dead PE it owns can stay by keep-alive alone (1.5 ×
    /// the keep-alive interval + the keep-alive timeout; zero without
    /// keep-alive).
    fn keep_alive_bound(&self) -> Duration;
    /// Every PE removal it made: when, which, why.
    fn removals(&self) -> &[(Instant, PeId, RemovalReason)];
}

/// See the [module](self) documentation.
pub struct RegistrarHost<
    B: Backend + 'static,
    S: Storage,
    const OWNED: usize,
    const ASSOCS: usize,
    const QUEUE: usize,
    const EVENTS: usize,
> {
    /// The machine (boxed: its fixed tables are large).
    pub machine: Box<Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>>,
    /// The machine's latest events, oldest first.
    pub events: VecDeque<(Instant, Event)>,
    /// Every PE removal (the latest [`REMOVAL_HISTORY`]): when, which, why.
    pub removals: Vec<(Instant, PeId, RemovalReason)>,
}

impl<
        B: Backend + 'static,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > RegistrarHost<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    /// A host for a new registrar with `config`.
    pub fn new(config: RegistrarConfig) -> Self {
        RegistrarHost {
            machine: Box::new(Registrar::new(config)),
            events: VecDeque::new(),
            removals: Vec::new(),
        }
    }
}

impl<
        B: Backend + 'static,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > RegistrarView for RegistrarHost<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    fn server_id(&self) -> ServerId {
        self.machine.server_id()
    }
    fn held(&self) -> Vec<HeldPe> {
        let mut v = Vec::new();
        for pool in self.machine.handlespace().pools() {
            for pe in pool.elements() {
                v.push(HeldPe {
                    pool_handle: *pe.pool_handle(),
                    pe_id: pe.pe_id(),
                    owner: pe.home_registrar(),
                });
            }
        }
        v.sort();
        v
    }
    fn check(&self) -> Result<(), String> {
        self.machine
            .handlespace()
            .check()
            .map_err(|e| e.to_string())
    }
    fn own_checksum(&self) -> u16 {
        self.machine.own_checksum()
    }
    fn lifetime_deadline(&self, pool_handle: &PoolHandle, pe_id: PeId) -> Option<Instant> {
        self.machine.lifetime_deadline(pool_handle, pe_id)
    }
    fn checksum_of(&self, owner: ServerId) -> u16 {
        if owner == self.machine.server_id() {
            self.machine.own_checksum()
        } else {
            self.machine.peer_checksum(owner)
        }
    }
    fn stats(&self) -> Stats {
        *self.machine.stats()
    }
    fn events(&self) -> &VecDeque<(Instant, Event)> {
        &self.events
    }
    fn keep_alive_bound(&self) -> Duration {
        let c = self.machine.config();
        match c.keep_alive_interval {
            Some(i) => i + Duration::from_micros(i.as_micros() / 2) + c.keep_alive_timeout,
            None => Duration::ZERO,
        }
    }
    fn removals(&self) -> &[(Instant, PeId, RemovalReason)] {
        &self.removals
    }
}

impl<
        B: Backend + 'static,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Node for RegistrarHost<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    fn start(&mut self, _env: &mut dyn Env) {}
    fn handle_message(&mut self, env: &mut dyn Env, source: Source, ppid: u32, bytes: &[u8]) {
        if let Some(p) = protocol_of(ppid) {
            self.machine.handle(env.now(), source, p, bytes);
        }
    }
    fn handle_transport_event(&mut self, env: &mut dyn Env, event: TransportEvent) {
        self.machine.handle_transport_event(env.now(), event);
    }
    fn handle_timeout(&mut self, env: &mut dyn Env) {
        self.machine.handle_timeout(env.now());
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }
    fn flush(&mut self, env: &mut dyn Env) {
        // Drain the transmit queue first: a full queue holds events back.
        drain_machine(env, self.machine.as_mut());
        while let Some(e) = self.machine.poll_event() {
            if env.tracing() {
                env.log(format_args!(
                    "registrar {}: {e:?}",
                    self.machine.server_id().get()
                ));
            }
            if let Event::PoolElementRemoved { pe, reason } = &e {
                if self.removals.len() >= REMOVAL_HISTORY {
                    self.removals.drain(..REMOVAL_HISTORY / 2);
                }
                self.removals.push((env.now(), pe.pe_id, *reason));
            }
            remember(&mut self.events, env.now(), e);
        }
        drain_machine(env, self.machine.as_mut());
    }
    fn registrar(&self) -> Option<&dyn RegistrarView> {
        Some(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
