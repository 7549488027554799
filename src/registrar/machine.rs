//! The registrar's [`Machine`] implementation: input, transport events and
//! timers.

use super::*;

/// The registrar as a sans-IO machine.
///
/// Full transmit queue: an input that must be answered is checked for room
/// before anything changes; without room it is not applied at all (the
/// sender retransmits), [`Stats::queue_full`] counts it and
/// [`Event::QueueFull`] says so. Due timers wait in the handlespace until
/// there is room.
impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Machine for Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    /// ASAP messages go to their procedure; ENRP ones ([`Protocol::Enrp`]) to
    /// the [ENRP layer](super::enrp) when [`RegistrarConfig::enrp`] enables it,
    /// else they are ignored and counted ([`Stats::enrp_ignored`]).
    fn handle(&mut self, now: Instant, source: Source, protocol: Protocol, bytes: &[u8]) {
        if protocol == Protocol::Enrp {
            self.enrp_handle(now, source, bytes);
            return;
        }
        self.open_gate(source, bytes.len());
        self.handle_asap(now, source, bytes);
        self.close_gate();
    }

    /// Transport failure ([`TransportEvent::Down`] or
    /// [`TransportEvent::SendFailed`] of an association): the PEs registered over
    /// it are removed at once. RFC 5352 §3.5 says a PE whose keep-alive cannot be
    /// sent MUST be removed, and no keep-alive can be sent over a failed
    /// association; rsplib also removes a connection's PEs when it is lost. A PE
    /// that is still alive re-registers (it notices the failure and hunts a
    /// registrar, §3.7). No other association can deregister them in the
    /// meantime, because they are gone.
    ///
    /// [`TransportEvent::Up`] records the association's remote address and
    /// whether its return path is verified (see the
    /// [module documentation](super), "Return routability").
    fn handle_transport_event(&mut self, now: Instant, event: TransportEvent) {
        match event {
            TransportEvent::Up {
                assoc,
                remote,
                protocol,
                verified,
            } => {
                // A replaced entry keeps its count; a new one counts the
                // PEs already bound to the association (none, unless a
                // full table had left it out before).
                let pes = match self.assocs.get(&assoc) {
                    Some(old) => old.pes,
                    None => self.hs.by_association(assoc).count() as u32,
                };
                let entry = routability::AssocEntry::new(remote, verified, pes);
                match self.assocs.insert(assoc, entry) {
                    Ok(old) => {
                        if let Some(old) = old {
                            self.count_host(old.remote().ip(), -1);
                        }
                        self.count_host(remote.ip(), 1);
                    }
                    Err(_) => net_warn!("registrar: association table full"),
                }
                if protocol == Protocol::Asap {
                    self.pe_connected(now, assoc, remote);
                }
            }
            TransportEvent::Down { assoc } | TransportEvent::SendFailed { assoc }
                if assoc == AssocId::NONE => {}
            TransportEvent::Down { assoc } | TransportEvent::SendFailed { assoc } => {
                while let Some(r) = self.hs.by_association(assoc).next().map(|v| v.pe_ref()) {
                    if self.owned.contains_key(&r) {
                        self.remove_owned(r, RemovalReason::TransportFailure);
                    } else {
                        let _ = self.hs_remove(r);
                        self.stats.removed_transport += 1;
                    }
                }
                if matches!(event, TransportEvent::Down { .. }) {
                    if let Some(old) = self.assocs.swap_remove(&assoc) {
                        self.count_host(old.remote().ip(), -1);
                    }
                    self.forget_peer_addresses(assoc);
                }
            }
            TransportEvent::PeerAddress { assoc, address } => self.add_peer_address(assoc, address),
            TransportEvent::Authenticated { assoc } => {
                if let Some(a) = self.assocs.get_mut(&assoc) {
                    a.set_authenticated();
                }
            }
            TransportEvent::ConnectFailed { remote } => self.pe_connect_failed(remote),
        }
        self.enrp_transport_event(now, event);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.enrp_timeout(now);
        if self.config.announce && self.next_announce <= now {
            if self.announce() {
                self.next_announce = now + self.config.announce_interval;
            } else {
                self.blocked(Blocked::Timers);
                return;
            }
        }
        while self.hs.next_timer().is_some_and(|t| t <= now) {
            if !self.queue.has_room(TIMER_MESSAGE_MAX) {
                self.blocked(Blocked::Timers);
                return;
            }
            let Some((pe, kind)) = self.hs.pop_due_timer(now) else {
                break;
            };
            self.on_timer(now, pe, kind);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let hs = self.hs.next_timer();
        let announce = self.config.announce.then_some(self.next_announce);
        [hs, announce, self.enrp_poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    fn peek_transmit(&self) -> Option<(Transmit, &[u8])> {
        self.queue.peek()
    }

    fn consume_transmit(&mut self) {
        self.queue.consume();
    }

    fn poll_connect(&mut self) -> Option<Connect> {
        if let Some(c) = self.enrp_poll_connect() {
            return Some(c);
        }
        let remote = self.connects.values().find(|c| !c.requested)?.remote;
        for c in self.connects.values_mut() {
            if c.remote == remote {
                c.requested = true;
            }
        }
        self.stats.pe_connects += 1;
        Some(Connect {
            remote,
            protocol: Protocol::Asap,
        })
    }
}

/// ASAP input, dispatched to its procedure.
impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    /// An ASAP message, with the answer budget of its source open.
    fn handle_asap(&mut self, now: Instant, source: Source, bytes: &[u8]) {
        if source == Source::Association(AssocId::NONE) {
            // AssocId::NONE marks PEs without association; it names none.
            self.stats.unexpected += 1;
            return;
        }
        let msg = match AsapMessage::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.parse_failed(source, bytes, e);
                return;
            }
        };
        let processed = match msg {
            AsapMessage::Registration {
                pool_handle,
                pool_element,
            } => self.on_registration(now, source, bytes, pool_handle, &pool_element),
            AsapMessage::Deregistration { pool_handle, pe_id } => {
                self.on_deregistration(source, pool_handle, pe_id)
            }
            AsapMessage::HandleResolution {
                pool_handle, items, ..
            } => self.on_handle_resolution(source, pool_handle, items),
            AsapMessage::EndpointKeepAliveAck { pool_handle, pe_id } => {
                self.on_keep_alive_ack(now, source, pool_handle, pe_id);
                true
            }
            AsapMessage::EndpointUnreachable { pool_handle, pe_id } => {
                self.on_unreachable(now, source, pool_handle, pe_id)
            }
            AsapMessage::CookieEcho { cookie } => {
                self.on_cookie_echo(source, cookie);
                true
            }
            AsapMessage::Error { error } => {
                // Logged only; never answered (no ERROR about an ERROR).
                net_debug!("registrar: ASAP_ERROR received: {:?}", error.code());
                let _ = error;
                false
            }
            _ => {
                self.stats.unexpected += 1;
                true
            }
        };
        if processed {
            self.report_unrecognized(reply_to(source), bytes);
        }
    }
}
