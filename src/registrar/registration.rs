//! ASAP_REGISTRATION and ASAP_DEREGISTRATION (RFC 5352 §3.1-§3.2).

use super::*;

/// The size of an ASAP_REGISTRATION_RESPONSE for a pool handle of
/// `handle_len` bytes whose error cause carries `cause_len` bytes.
pub(super) fn registration_response_len(handle_len: usize, cause_len: usize) -> usize {
    HEADER_LEN + parameter_len(handle_len) + 8 + 2 * TLV_HEADER_LEN + padded(cause_len)
}

/// The most bytes of an unparsable REGISTRATION an ASAP_ERROR echoes when
/// it finds no parameter to point at.
pub(super) const UNATTRIBUTABLE_ECHO: usize = 64;

impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    /// Answers a REGISTRATION that failed to parse on a value (more than
    /// [`MAX_TRANSPORT_ADDRESSES`] addresses, say) with a rejection carrying
    /// Invalid Values and the Pool Element parameter (RFC 5352 §3.1), so
    /// that the PE learns why instead of timing out. Returns false when the
    /// pool handle or PE id cannot be read (then the message is malformed).
    pub(super) fn reject_invalid_registration(&mut self, source: Source, bytes: &[u8]) -> bool {
        let Some(handle) = wire::find_parameter(Protocol::Asap, bytes, ParamType::PoolHandle)
            .map(|t| Tlv::new_unchecked(t).into_value())
        else {
            return false;
        };
        if PoolHandle::new(handle).is_err() {
            self.refuse_pool_handle(source, bytes);
            return true;
        }
        let Some(pe_tlv) = wire::find_parameter(Protocol::Asap, bytes, ParamType::PoolElement)
        else {
            return false;
        };
        let Some(pe_id) = PoolElementParam::pe_id_of(pe_tlv) else {
            return false;
        };
        if !self
            .queue
            .has_room(registration_response_len(handle.len(), pe_tlv.len()))
        {
            self.blocked(Blocked::Message(asap_type::REGISTRATION));
            return true;
        }
        let invalid = ErrorCause::invalid_values(pe_tlv);
        self.reject_registration(reply_to(source), handle, pe_id, invalid);
        true
    }

    /// The user transport addresses of a registration over `assoc`:
    /// unspecified ones become the association's remote address; unless
    /// [`RegistrarConfig::allow_foreign_addresses`], every address must be
    /// one of the association's peer addresses (false: refuse): its remote
    /// address for a TCP or UDP transport, any of the SCTP peer's
    /// addresses ([`Registrar::is_peer_address`]) for an SCTP transport.
    pub(super) fn check_addresses(&self, c: &mut Converted, assoc: AssocId) -> bool {
        // An association never reported up vouches for nothing, and has
        // no host to count a quota against: refused even where foreign
        // addresses are allowed.
        let Some(remote) = self
            .assocs
            .get(&assoc)
            .map(|r| canonical_ip(r.remote().ip()))
        else {
            return false;
        };
        let sctp = c.user_protocol == TransportProtocol::Sctp;
        let foreign_ok = self.config.allow_foreign_addresses;
        for a in c.user_addrs[..c.user_len].iter_mut() {
            if a.is_unspecified() {
                *a = remote;
            }
            let own = if sctp {
                self.is_peer_address(assoc, *a)
            } else {
                canonical_ip(*a) == remote
            };
            if !own && !foreign_ok {
                return false;
            }
        }
        true
    }

    /// Whether a PE may register in `pool` over `assoc`, where it is not
    /// registered yet: [`RegistrarConfig::max_registrations_per_association`],
    /// [`max_registrations_per_host`](RegistrarConfig::max_registrations_per_host)
    /// and [`max_pool_elements`](RegistrarConfig::max_pool_elements).
    /// `from` is the association of a PE already in the handlespace
    /// ([`AssocId::NONE`] for one learnt from a peer or taken over), `None`
    /// for a new PE: the pool limit counts new PEs only, and the host limit
    /// does not count a PE again that moves between two associations of
    /// the same host.
    pub(super) fn within_quotas(
        &self,
        pool: &PoolHandle,
        assoc: AssocId,
        from: Option<AssocId>,
    ) -> bool {
        let c = &self.config;
        if let Some(max) = c.max_pool_elements {
            if from.is_none() && self.hs.pool(pool).is_some_and(|p| p.len() >= max as usize) {
                return false;
            }
        }
        // The PEs of this association, counted up to the larger quota.
        let bound = c
            .max_registrations_per_association
            .max(c.max_registrations_per_host)
            .map_or(0, |m| m as usize);
        let own = self.assoc_pes(assoc, bound);
        if let Some(max) = c.max_registrations_per_association {
            if own >= max as usize {
                return false;
            }
        }
        let same_host = |a: AssocId| {
            a != AssocId::NONE
                && matches!(
                    (self.assocs.get(&a), self.assocs.get(&assoc)),
                    (Some(x), Some(y)) if x.remote().ip() == y.remote().ip()
                )
        };
        if from.is_some_and(same_host) {
            return true;
        }
        if let (Some(max), Some(remote)) = (c.max_registrations_per_host, self.assocs.get(&assoc)) {
            let max = max as usize;
            if self.hosts.get(&canonical_ip(remote.remote().ip())) == Some(&1) {
                // The host's only association.
                return own < max;
            }
            let mut n = 0;
            for (a, r) in self.assocs.iter() {
                if r.remote().ip() == remote.remote().ip() {
                    n += self.assoc_pes(*a, max - n);
                    if n >= max {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// A REGISTRATION whose pool handle is not one (empty, or longer than
    /// 32 bytes) cannot be answered with a REGISTRATION_RESPONSE, which
    /// must echo a valid pool handle: it is answered with an ASAP_ERROR
    /// carrying Invalid Values and the Pool Handle parameter (RFC 5354)
    /// instead, and counted as malformed.
    pub(super) fn refuse_pool_handle(&mut self, source: Source, bytes: &[u8]) {
        self.stats.malformed += 1;
        if let Some(tlv) = wire::find_parameter(Protocol::Asap, bytes, ParamType::PoolHandle) {
            self.refuse_registration_with(source, tlv);
        }
    }

    /// A REGISTRATION that cannot be parsed and has no readable pool handle
    /// or PE identifier: an ASAP_ERROR with Invalid Values carrying the
    /// Pool Element parameter, else the Pool Handle parameter, else the
    /// message's first [`UNATTRIBUTABLE_ECHO`] bytes.
    pub(super) fn refuse_unattributable(&mut self, source: Source, bytes: &[u8]) {
        let what = wire::find_parameter(Protocol::Asap, bytes, ParamType::PoolElement)
            .or_else(|| wire::find_parameter(Protocol::Asap, bytes, ParamType::PoolHandle))
            .unwrap_or(&bytes[..bytes.len().min(UNATTRIBUTABLE_ECHO)]);
        self.refuse_registration_with(source, what);
    }

    /// An ASAP_ERROR with Invalid Values carrying `what`, in answer to a
    /// REGISTRATION that no REGISTRATION_RESPONSE can answer.
    fn refuse_registration_with(&mut self, source: Source, what: &[u8]) {
        if !self
            .queue
            .has_room(HEADER_LEN + TLV_HEADER_LEN + padded(what.len()))
        {
            self.blocked(Blocked::Message(asap_type::REGISTRATION));
            return;
        }
        self.send_error(reply_to(source), &[ErrorCause::invalid_values(what)]);
    }

    pub(super) fn reject_registration(
        &mut self,
        dest: Destination,
        pool_handle: &[u8],
        pe_id: PeId,
        cause: ErrorCause<'_>,
    ) {
        let code = cause.code;
        let causes = [cause];
        let msg = AsapMessage::RegistrationResponse {
            rejected: true,
            pool_handle,
            pe_id,
            error: Some(OperationError::new(&causes)),
        };
        if self.answer(dest, &msg) == Answer::Queued {
            if let Some(c) = self.stats.rejections.get_mut(usize::from(code.code())) {
                *c += 1;
            }
            net_info!(
                "registrar: registration of {} refused: {}",
                pe_id,
                code.name()
            );
        }
    }

    /// ASAP_REGISTRATION (RFC 5352 §3.1): checks (pool handle, user
    /// transport, policy, registration life limits, the pool's policy type /
    /// transport type / data-control use, capacity), then becomes the PE's home
    /// registrar and records the registering association's remote address (from
    /// [`TransportEvent::Up`]) as the PE's ASAP transport. Always answers
    /// REGISTRATION_RESPONSE: R=0, or R=1 with one cause (Invalid Values with the
    /// Pool Element TLV, Inconsistent Pooling Policy with the pool's policy TLV,
    /// Inconsistent Transport Type with a transport TLV of the pool, Inconsistent
    /// Data/Control Configuration, Lack of Resources, Rejected due to Security
    /// Considerations). Registration life is in milliseconds (SPEC §15.1).
    /// A new PE beyond a quota ([`RegistrarConfig::max_registrations_per_association`],
    /// [`RegistrarConfig::max_registrations_per_host`],
    /// [`RegistrarConfig::max_pool_elements`]) is refused with Lack of
    /// Resources ([`Stats::quota_refused`]), and so is a PE moving to this
    /// association from another one (or claimed from a peer) beyond the
    /// association's or host's quota; established PEs are never evicted.
    ///
    /// Security (RFC 5355): a PE registered over association A may be
    /// re-registered or deregistered over A only. Any other association is
    /// answered with *Rejected due to Security Considerations* (0xA) and the PE
    /// is untouched. A PE without an association (learnt from a peer or taken
    /// over) may be claimed by an association whose remote address is one of the
    /// PE's ASAP transport addresses (the PE moving to this registrar; with no
    /// ASAP transport known, by any association; see `may_claim`). Registrations
    /// and deregistrations arriving as datagrams are refused the same way.
    /// The user transport's addresses must belong to the association's
    /// remote host unless [`RegistrarConfig::allow_foreign_addresses`] (else
    /// 0xA; see there); an unspecified address is stored as that remote
    /// address. The
    /// ASAP transport recorded is the association's remote address as reported
    /// by [`TransportEvent::Up`]; for an association never reported up, the PE's
    /// own ASAP transport parameter (if SCTP) is kept instead.
    ///
    /// Returns false when the message was not applied (no room to answer: the
    /// sender retransmits).
    pub(super) fn on_registration(
        &mut self,
        now: Instant,
        source: Source,
        bytes: &[u8],
        pool_handle: &[u8],
        pe: &PoolElementParam<'_>,
    ) -> bool {
        let dest = reply_to(source);
        let Ok(handle) = PoolHandle::new(pool_handle) else {
            self.refuse_pool_handle(source, bytes);
            return true;
        };
        // The largest answer: a rejection carrying the PE (Invalid Values)
        // or the pool's transport (Inconsistent Transport Type).
        let mut buf = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
        let pool_transport = self
            .hs
            .pool(&handle)
            .and_then(|p| p.elements().next())
            .map_or(0, |v| to_param(&v.user_transport(&mut buf)).buffer_len());
        let worst =
            registration_response_len(pool_handle.len(), pe.buffer_len().max(pool_transport));
        if !self.queue.has_room(worst) {
            self.blocked(Blocked::Message(asap_type::REGISTRATION));
            return false;
        }
        let pe_tlv =
            wire::find_parameter(Protocol::Asap, bytes, ParamType::PoolElement).unwrap_or(&[]);
        let invalid = ErrorCause::invalid_values(pe_tlv);
        let Source::Association(assoc) = source else {
            let c = ErrorCause::new(CauseCode::RejectedSecurityConsiderations);
            self.reject_registration(dest, pool_handle, pe.pe_id, c);
            return true;
        };
        if self.config.require_authentication
            && !self
                .assocs
                .get(&assoc)
                .is_some_and(|a| a.is_authenticated())
        {
            self.stats.unauthenticated_registrations += 1;
            let c = ErrorCause::new(CauseCode::RejectedSecurityConsiderations);
            self.reject_registration(dest, pool_handle, pe.pe_id, c);
            return true;
        }
        let existing = self.hs.lookup(&handle, pe.pe_id).map(|v| {
            let ok = self.may_claim(&v, assoc);
            (v.pe_ref(), ok, v.assoc())
        });
        if let Some((_, false, _)) = existing {
            let c = ErrorCause::new(CauseCode::RejectedSecurityConsiderations);
            self.reject_registration(dest, pool_handle, pe.pe_id, c);
            return true;
        }
        let Some(mut c) = Converted::new(pe) else {
            self.reject_registration(dest, pool_handle, pe.pe_id, invalid);
            return true;
        };
        if !self.check_addresses(&mut c, assoc) {
            let c = ErrorCause::new(CauseCode::RejectedSecurityConsiderations);
            self.reject_registration(dest, pool_handle, pe.pe_id, c);
            return true;
        }
        let life = pe.registration_life;
        let life_ok = match self.config.max_registration_life_ms {
            _ if life >= 0 && (life as u32) < self.config.min_registration_life_ms => false,
            Some(max) => life >= 0 && life as u32 <= max,
            None => true,
        };
        if !life_ok {
            self.reject_registration(dest, pool_handle, pe.pe_id, invalid);
            return true;
        }
        let already_owned = existing.is_some_and(|(r, _, _)| self.owned.contains_key(&r));
        // A re-registration over its own association is never refused for
        // a quota; a PE new here, or moving to this association (from
        // another one of its host, or claimed from a peer), counts against
        // this association's and host's quotas like a new one.
        let from = existing.map(|(_, _, a)| a);
        if from != Some(assoc) && !self.within_quotas(&handle, assoc, from) {
            self.stats.quota_refused += 1;
            let c = ErrorCause::new(CauseCode::LackOfResources);
            self.reject_registration(dest, pool_handle, pe.pe_id, c);
            return true;
        }
        if !already_owned && self.owned.len() >= OWNED {
            let c = ErrorCause::new(CauseCode::LackOfResources);
            self.reject_registration(dest, pool_handle, pe.pe_id, c);
            return true;
        }
        let remote = self.assocs.get(&assoc).map(|a| a.remote());
        let remote_ip = remote.map(|r| [r.ip()]);
        let asap = match (&remote, &remote_ip) {
            (Some(r), Some(ip)) => Some(TransportAddress {
                protocol: TransportProtocol::Sctp,
                port: r.port(),
                transport_use: TransportUse::DataOnly,
                service_code: 0,
                addresses: ip,
            }),
            _ => c.asap(),
        };
        let reg = Registration {
            pool_handle: handle,
            pe_id: pe.pe_id,
            home_registrar: Some(self.config.server_id),
            registration_life: life,
            user_transport: c.user(),
            policy: c.policy,
            asap_transport: asap,
            assoc,
        };
        match self.hs_register(now, &reg, from) {
            Ok(outcome) => {
                let r = outcome.pe();
                let state = OwnedPe::new(lifetime_deadline(now, life), false);
                if self.owned.insert(r, state).is_err() {
                    // Checked above; keep the handlespace consistent anyway.
                    let _ = self.hs_remove(r);
                    let c = ErrorCause::new(CauseCode::LackOfResources);
                    self.reject_registration(dest, pool_handle, pe.pe_id, c);
                    return true;
                }
                self.arm_owned(now, r);
                let msg = AsapMessage::RegistrationResponse {
                    rejected: false,
                    pool_handle,
                    pe_id: pe.pe_id,
                    error: None,
                };
                self.answer(dest, &msg);
                let new = matches!(outcome, RegisterOutcome::Added(_));
                if new {
                    self.stats.registrations += 1;
                } else {
                    self.stats.reregistrations += 1;
                }
                if let Some(record) = self.hs.get(r).map(|v| PeRecord::from_view(&v)) {
                    net_debug!(
                        "registrar: registered {} {}",
                        record.pool_handle,
                        record.pe_id
                    );
                    self.event(Event::PoolElementRegistered { pe: record, new });
                }
            }
            Err(e) => {
                self.reject_handlespace_error(dest, &handle, pool_handle, pe.pe_id, e, invalid)
            }
        }
        true
    }

    pub(super) fn reject_handlespace_error(
        &mut self,
        dest: Destination,
        handle: &PoolHandle,
        pool_handle: &[u8],
        pe_id: PeId,
        e: HandlespaceError,
        invalid: ErrorCause<'_>,
    ) {
        let mut buf = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
        let first = self.hs.pool(handle).and_then(|p| p.elements().next());
        let policy = first.map(|v| v.policy());
        let transport = first.map(|v| v.user_transport(&mut buf));
        let cause = match e {
            HandlespaceError::InconsistentPoolingPolicy { .. } => match policy {
                Some(p) => ErrorCause::inconsistent_policy(PolicyParam::Known(p)),
                None => ErrorCause::new(CauseCode::InconsistentPoolingPolicy),
            },
            HandlespaceError::InconsistentTransportType { .. } => match &transport {
                Some(t) => ErrorCause::inconsistent_transport(to_param(t)),
                None => ErrorCause::new(CauseCode::InconsistentTransportType),
            },
            HandlespaceError::InvalidTransport(_)
            | HandlespaceError::InvalidAsapTransport
            | HandlespaceError::InvalidRegistrationLife(_) => invalid,
            other => ErrorCause::new(other.cause()),
        };
        self.reject_registration(dest, pool_handle, pe_id, cause);
    }

    /// ASAP_DEREGISTRATION (RFC 5352 §3.2): removes the PE; an unknown PE
    /// counts as success. Only the PE's registration association may deregister
    /// it (RFC 5355, as for a registration): any other association, and any
    /// datagram, is answered with *Rejected due to Security Considerations*.
    pub(super) fn on_deregistration(
        &mut self,
        source: Source,
        pool_handle: &[u8],
        pe_id: PeId,
    ) -> bool {
        let dest = reply_to(source);
        let len = HEADER_LEN + parameter_len(pool_handle.len()) + 8 + 12;
        if !self.queue.has_room(len) {
            self.blocked(Blocked::Message(asap_type::DEREGISTRATION));
            return false;
        }
        let Ok(handle) = PoolHandle::new(pool_handle) else {
            self.stats.malformed += 1;
            return false;
        };
        let found = self.hs.lookup(&handle, pe_id).map(|v| {
            let allowed = matches!(source, Source::Association(a) if v.assoc() == a);
            (v.pe_ref(), allowed)
        });
        // A deregistration must come over the registration association; one
        // arriving as a datagram is refused even for an unknown PE.
        let refused =
            matches!(found, Some((_, false))) || !matches!(source, Source::Association(_));
        let causes = [ErrorCause::new(CauseCode::RejectedSecurityConsiderations)];
        let msg = AsapMessage::DeregistrationResponse {
            pool_handle,
            pe_id,
            error: refused.then(|| OperationError::new(&causes)),
        };
        self.answer(dest, &msg);
        if refused {
            self.stats.deregistrations_refused += 1;
            return true;
        }
        self.stats.deregistrations += 1;
        if let Some((r, _)) = found {
            self.remove_owned(r, RemovalReason::Deregistered);
        }
        true
    }

    /// Tells an owned PE that its registration ends here: an unsolicited
    /// DEREGISTRATION_RESPONSE (as on lifetime expiry), so that a PE that is
    /// still alive registers again.
    ///
    /// Sent on lifetime expiry and when a PE is removed as unreachable: RFC 5352
    /// §3.5 asks for the removal, not for silence, and a PE that is in fact alive
    /// then learns it is no longer registered and registers again instead of
    /// believing it is registered until its next re-registration (to a dead PE
    /// the message is simply lost). To a PE without association it goes to its
    /// ASAP transport address ([`Destination::Address`]), best effort.
    pub(super) fn notify_removed(&mut self, pe: PeRef) {
        let info = self
            .hs
            .get(pe)
            .map(|v| (*v.pool_handle(), v.pe_id(), Self::pe_destination(&v)));
        if let Some((handle, pe_id, Some(dest))) = info {
            let msg = AsapMessage::DeregistrationResponse {
                pool_handle: handle.as_bytes(),
                pe_id,
                error: None,
            };
            self.push(dest, &msg);
        }
    }
}
