//! Keep-alive (RFC 5352 §3.4-§3.5): ENDPOINT_KEEP_ALIVE and its ACK,
//! ENDPOINT_UNREACHABLE, the PE timers and the associations opened to PEs.

use super::*;

/// How many different keep-alive intervals [`Registrar::spread`] draws from.
pub(super) const KEEP_ALIVE_STEPS: u64 = 10;

impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    /// A keep-alive interval varied over [0.55, 1.45] × `interval` in
    /// [`KEEP_ALIVE_STEPS`] equally likely steps (mean: `interval`).
    ///
    /// Steps rather than any value: the timers set with one step fall due
    /// in the order they are set, so the handlespace keeps each step's in a
    /// timer lane (O(1) to set and to take out) instead of its timer tree;
    /// PEs still spread, a step being a tenth of the interval and each
    /// keep-alive drawing its step anew.
    pub(super) fn spread(&mut self, interval: Duration) -> Duration {
        let us = interval.as_micros();
        let step = below(&mut self.rng, KEEP_ALIVE_STEPS);
        // (0.5 + (step + 0.5) / STEPS) × interval, in integers.
        Duration::from_micros(us / 2 + us.saturating_mul(2 * step + 1) / (2 * KEEP_ALIVE_STEPS))
    }

    /// Sets an owned PE's timer to `kind` at `at`, or to its lifetime expiry
    /// if that comes first.
    pub(super) fn set_owned_timer(&mut self, pe: PeRef, kind: PeTimerKind, at: Instant) {
        let lifetime = self.owned.get(&pe).map_or(Instant::MAX, |o| o.lifetime());
        let _ = if lifetime <= at {
            self.hs.set_timer(pe, PeTimerKind::LifetimeExpiry, lifetime)
        } else {
            self.hs.set_timer(pe, kind, at)
        };
    }

    /// Arms the periodic timer of an owned PE after a registration or an
    /// answered keep-alive.
    pub(super) fn arm_owned(&mut self, now: Instant, pe: PeRef) {
        match self.config.keep_alive_interval {
            Some(interval) => {
                let at = now + self.spread(interval);
                self.set_owned_timer(pe, PeTimerKind::KeepAliveTransmission, at);
            }
            None => {
                let lifetime = self.owned.get(&pe).map_or(Instant::MAX, |o| o.lifetime());
                if lifetime == Instant::MAX {
                    self.hs.cancel_timer(pe);
                } else {
                    let _ = self.hs.set_timer(pe, PeTimerKind::LifetimeExpiry, lifetime);
                }
            }
        }
    }

    /// Sends an ENDPOINT_KEEP_ALIVE to an owned PE: over its association,
    /// or, without one, over an association opened to its ASAP transport
    /// address first.
    ///
    /// PEs without association (taken over, or learnt from a peer and then
    /// owned): a keep-alive is point-to-point (RFC 5353 §3.5), so the registrar
    /// opens an ASAP association to the PE's ASAP transport address
    /// ([`Machine::poll_connect`] with [`Protocol::Asap`]), sends the keep-alive
    /// on it when [`TransportEvent::Up`] arrives (`pe_connected`), and from then
    /// on treats it as the PE's association (keep-alives, KEEP_ALIVE_ACK,
    /// re-registration, transport failure). [`TransportEvent::ConnectFailed`]
    /// means the PE cannot be reached: it is removed
    /// ([`RemovalReason::TransportFailure`], RFC 5352 §3.5; `pe_connect_failed`).
    /// At most [`MAX_PE_CONNECTS`] such connects are in flight; a keep-alive
    /// finding the table full waits [`PE_CONNECT_RETRY`] and tries again
    /// ([`Stats::pe_connects_deferred`]), so a takeover of more PEs proceeds in
    /// batches. A PE that has no ASAP transport address cannot be reached and
    /// goes at its keep-alive timeout.
    pub(super) fn send_keep_alive(&mut self, pe: PeRef, home: bool) -> KeepAlive {
        let Some(dest) = self.hs.get(pe).and_then(|v| Self::pe_destination(&v)) else {
            return KeepAlive::Failed;
        };
        let Destination::Address(remote) = dest else {
            return if self.push_keep_alive(pe, dest, home) {
                KeepAlive::Sent
            } else {
                KeepAlive::Failed
            };
        };
        if let Some(c) = self.connects.get_mut(&pe) {
            c.home |= home;
            return KeepAlive::Connecting;
        }
        // A connect to the same address in flight carries this one too.
        let requested = self
            .connects
            .values()
            .any(|c| c.remote == remote && c.requested);
        let c = PeConnect {
            remote,
            home,
            requested,
        };
        if self.connects.insert(pe, c).is_err() {
            self.stats.pe_connects_deferred += 1;
            return KeepAlive::Deferred;
        }
        KeepAlive::Connecting
    }

    /// Queues an ENDPOINT_KEEP_ALIVE for a PE to `dest`.
    ///
    /// Besides the RFC fields it carries rsplib's PE Identifier parameter.
    pub(super) fn push_keep_alive(&mut self, pe: PeRef, dest: Destination, home: bool) -> bool {
        let Some((handle, pe_id)) = self.hs.get(pe).map(|v| (*v.pool_handle(), v.pe_id())) else {
            return false;
        };
        let msg = AsapMessage::EndpointKeepAlive {
            home,
            server_id: self.config.server_id,
            pool_handle: handle.as_bytes(),
            pe_id: Some(pe_id),
        };
        let sent = self.push(dest, &msg);
        if sent {
            self.stats.keep_alives_sent += 1;
        }
        sent
    }

    /// ASAP_ENDPOINT_KEEP_ALIVE_ACK (RFC 5352 §3.4): accepted only from the
    /// PE's association (or one that may claim it) with matching pool handle and
    /// PE id; see [`RegistrarConfig`] for how keep-alive and lifetime share the
    /// PE's timer. Every accepted ACK resets the PE's ENDPOINT_UNREACHABLE count
    /// to 0 (the answer disproves the reports before it) and re-arms its
    /// periodic timer; a PE without association (or with another association
    /// of the same host) is bound to the association the ACK came over, if
    /// that association's quotas have room (as for a registration moving
    /// there, see [`RegistrarConfig::max_registrations_per_association`]),
    /// else the ACK is ignored.
    pub(super) fn on_keep_alive_ack(
        &mut self,
        now: Instant,
        source: Source,
        pool_handle: &[u8],
        pe_id: PeId,
    ) {
        let Source::Association(assoc) = source else {
            self.stats.keep_alive_acks_ignored += 1;
            return;
        };
        let Ok(handle) = PoolHandle::new(pool_handle) else {
            self.stats.keep_alive_acks_ignored += 1;
            return;
        };
        let me = Some(self.config.server_id);
        let found = self.hs.lookup(&handle, pe_id).and_then(|v| {
            (v.home_registrar() == me && self.may_claim(&v, assoc))
                .then(|| (v.pe_ref(), v.assoc(), v.timer()))
        });
        let Some((r, pe_assoc, timer)) = found else {
            self.stats.keep_alive_acks_ignored += 1;
            return;
        };
        if !self.owned.contains_key(&r) {
            self.stats.keep_alive_acks_ignored += 1;
            return;
        }
        // Binding the PE to this association counts against its quotas
        // like a registration moving there (else acknowledgements over a
        // second association of the host would gather PEs on it beyond
        // `max_registrations_per_association`).
        if pe_assoc != assoc
            && (!self.within_quotas(&handle, assoc, Some(pe_assoc))
                || !self.reassociate(now, r, assoc))
        {
            self.stats.keep_alive_acks_ignored += 1;
            return;
        }
        self.stats.keep_alive_acks += 1;
        // The PE answered: the reports counted so far are disproved.
        if let Some(state) = self.owned.get_mut(&r) {
            state.clear_reports();
        }
        if matches!(timer, Some((PeTimerKind::KeepAliveTimeout, _))) || pe_assoc != assoc {
            self.arm_owned(now, r);
        }
    }

    /// An ASAP association came up: if it is one opened to a PE, it becomes
    /// the PE's association and carries the keep-alive.
    pub(super) fn pe_connected(&mut self, now: Instant, assoc: AssocId, remote: SocketAddr) {
        while let Some((pe, c)) = self
            .connects
            .iter()
            .find(|(_, c)| c.remote == remote && c.requested)
            .map(|(pe, c)| (*pe, *c))
        {
            self.connects.swap_remove(&pe);
            let unbound = self.hs.get(pe).is_some_and(|v| v.assoc() == AssocId::NONE);
            // Bound meanwhile: it registered over its own association.
            if unbound && self.owned.contains_key(&pe) && self.reassociate(now, pe, assoc) {
                self.push_keep_alive(pe, Destination::Association(assoc), c.home);
                // Binding restarted its timer: the answer is due within the
                // keep-alive timeout.
                let at = now + self.config.keep_alive_timeout;
                self.set_owned_timer(pe, PeTimerKind::KeepAliveTimeout, at);
            }
        }
    }

    /// An association to a PE could not be opened: the PE cannot be
    /// reached, and goes (RFC 5352 §3.5).
    pub(super) fn pe_connect_failed(&mut self, remote: SocketAddr) {
        let mut counted = false;
        while let Some(pe) = self
            .connects
            .iter()
            .find(|(_, c)| c.remote == remote && c.requested)
            .map(|(pe, _)| *pe)
        {
            self.connects.swap_remove(&pe);
            if !counted {
                self.stats.pe_connects_failed += 1;
                counted = true;
            }
            let unbound = self.hs.get(pe).is_some_and(|v| v.assoc() == AssocId::NONE);
            if unbound && self.owned.contains_key(&pe) {
                self.remove_owned(pe, RemovalReason::TransportFailure);
            }
        }
    }

    /// Binds a PE without association (taken over) to the association its
    /// KEEP_ALIVE_ACK came over.
    pub(super) fn reassociate(&mut self, now: Instant, pe: PeRef, assoc: AssocId) -> bool {
        let mut ubuf = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
        let mut abuf = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
        let Some(v) = self.hs.get(pe) else {
            return false;
        };
        let old = v.assoc();
        let reg = Registration {
            pool_handle: *v.pool_handle(),
            pe_id: v.pe_id(),
            home_registrar: v.home_registrar(),
            registration_life: v.registration_life(),
            user_transport: v.user_transport(&mut ubuf),
            policy: v.policy(),
            asap_transport: v.asap_transport(&mut abuf),
            assoc,
        };
        self.hs_register(now, &reg, Some(old)).is_ok()
    }

    /// ASAP_ENDPOINT_UNREACHABLE (RFC 5352 §3.5): removal needs evidence.
    ///
    /// * **Reporters are hosts**: reports are rate-limited per reporter
    ///   ([`RegistrarConfig::unreachable_rate`]), and a reporter is the IP
    ///   address of a datagram's sender (whatever its port) or an SCTP
    ///   association, so that one host gains nothing by sending from many
    ///   ports.
    /// * **Probe first**: a report about an owned PE is counted and answered
    ///   with an immediate ENDPOINT_KEEP_ALIVE probe (H=0) under the
    ///   keep-alive timeout. No number of reports removes a PE by itself:
    ///   the PE goes only when the probe is unanswered at the keep-alive
    ///   timeout, as [`RemovalReason::Unreachable`] with an unsolicited
    ///   DEREGISTRATION_RESPONSE (`notify_removed`) when more than
    ///   MAX-BAD-PE-REPORT reports were counted, else as
    ///   [`RemovalReason::KeepAliveTimeout`]. The count holds the reports
    ///   since the PE last answered a keep-alive: every accepted
    ///   KEEP_ALIVE_ACK (to the probe or to a periodic keep-alive) resets it
    ///   to 0, because the answer disproves the reports before it.
    /// * **No squatting**: until the probe times out, the PE stays
    ///   registered and bound to its association, so that a registration of
    ///   its PE id over another association from another host is refused
    ///   (cause 0xA, as for any PE id owned over an association); the PE
    ///   proves itself by answering the probe (or re-registering) within the
    ///   keep-alive timeout. Only a PE that left the probe unanswered frees
    ///   its id.
    ///
    /// Unlike rsplib, which never resets the count and removes at
    /// MAX-BAD-PE-REPORT without a probe, reports that a live PE disproved
    /// do not add up, and reports alone remove nothing: under message loss
    /// users' request timeouts would otherwise remove healthy PEs, and any
    /// few hosts could (RFC 5355). A dead PE goes at its probe's timeout.
    /// Reports about PEs owned by other registrars are ignored (only the
    /// home registrar can probe).
    pub(super) fn on_unreachable(
        &mut self,
        now: Instant,
        source: Source,
        pool_handle: &[u8],
        pe_id: PeId,
    ) -> bool {
        if !self.queue.has_room(TIMER_MESSAGE_MAX) {
            self.blocked(Blocked::Message(asap_type::ENDPOINT_UNREACHABLE));
            return false;
        }
        // One reporter is one host: over datagrams its IP address (any
        // port), over SCTP its association.
        let reporter = match source {
            Source::Datagram(s) => Source::Datagram(SocketAddr::new(s.ip(), 0)),
            a => a,
        };
        if !self
            .limiter
            .allow(&self.config.unreachable_rate, reporter, now)
        {
            self.stats.unreachable_rate_limited += 1;
            return true;
        }
        let me = Some(self.config.server_id);
        let found = PoolHandle::new(pool_handle).ok().and_then(|h| {
            self.hs
                .lookup(&h, pe_id)
                .filter(|v| v.home_registrar() == me)
                .map(|v| (v.pe_ref(), v.timer()))
        });
        let Some((r, timer)) = found else {
            self.stats.unreachable_ignored += 1;
            return true;
        };
        let Some(state) = self.owned.get_mut(&r) else {
            self.stats.unreachable_ignored += 1;
            return true;
        };
        state.add_report();
        self.stats.unreachable_reports += 1;
        let sent = matches!(
            self.send_keep_alive(r, false),
            KeepAlive::Sent | KeepAlive::Connecting
        );
        if sent && !matches!(timer, Some((PeTimerKind::KeepAliveTimeout, _))) {
            let at = now + self.config.keep_alive_timeout;
            self.set_owned_timer(r, PeTimerKind::KeepAliveTimeout, at);
        }
        true
    }

    /// A due PE timer: an owned PE's keep-alive transmission (H=1 after a
    /// takeover) or keep-alive timeout (removal,
    /// [`RemovalReason::KeepAliveTimeout`]); lifetime expiry of an owned PE sends
    /// it a DEREGISTRATION_RESPONSE (`notify_removed`) and removes it
    /// ([`RemovalReason::LifetimeExpired`]); a peer's PE only runs its lifetime
    /// here and is removed silently.
    pub(super) fn on_timer(&mut self, now: Instant, pe: PeRef, kind: PeTimerKind) {
        let owned = self.owned.get(&pe).copied();
        match (kind, owned) {
            (PeTimerKind::KeepAliveTransmission, Some(state)) => {
                if self.send_keep_alive(pe, state.claim_home()) == KeepAlive::Deferred {
                    // Too many connects in flight: the keep-alive (with its
                    // H flag) waits.
                    let at = now + PE_CONNECT_RETRY;
                    self.set_owned_timer(pe, PeTimerKind::KeepAliveTransmission, at);
                    return;
                }
                if let Some(o) = self.owned.get_mut(&pe) {
                    o.set_claim_home(false);
                }
                let at = now + self.config.keep_alive_timeout;
                self.set_owned_timer(pe, PeTimerKind::KeepAliveTimeout, at);
            }
            (PeTimerKind::KeepAliveTimeout, Some(state)) => {
                if state.reports() > self.config.max_bad_pe_reports {
                    // Reported by enough reporters, and the probe proved
                    // them right.
                    self.notify_removed(pe);
                    self.remove_owned(pe, RemovalReason::Unreachable);
                } else {
                    self.remove_owned(pe, RemovalReason::KeepAliveTimeout);
                }
            }
            (PeTimerKind::LifetimeExpiry, Some(_)) => {
                self.notify_removed(pe);
                self.remove_owned(pe, RemovalReason::LifetimeExpired);
            }
            (_, None) => {
                // A peer's PE: only its lifetime runs here.
                if self.hs_remove(pe).is_ok() {
                    self.stats.removed_lifetime += 1;
                }
            }
        }
    }
}
