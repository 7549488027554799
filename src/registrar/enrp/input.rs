//! ENRP input: dispatch of parsed messages, malformed and unknown input,
//! and ENRP_ERROR.

use super::*;

impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    /// An ENRP message.
    pub(in crate::registrar) fn enrp_handle(&mut self, now: Instant, source: Source, bytes: &[u8]) {
        if !self.config.enrp.enabled {
            self.stats.enrp_ignored += 1;
            return;
        }
        self.enrp_start(now);
        if source == Source::Association(AssocId::NONE) {
            self.enrp.stats.unexpected += 1;
            return;
        }
        let msg = match EnrpMessage::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.enrp_parse_failed(source, bytes, e);
                return;
            }
        };
        let ty = msg.message_type();
        if let Some(c) = self.enrp.stats.received.get_mut(usize::from(ty.raw())) {
            *c += 1;
        }
        let me = self.me();
        if msg.sender == me || msg.receiver.is_some_and(|r| r != me) {
            self.enrp.stats.unexpected += 1;
            return;
        }
        let is_presence = matches!(msg.body, EnrpBody::Presence { .. });
        if matches!(source, Source::Datagram(_)) && !is_presence {
            self.enrp.stats.unexpected += 1;
            return;
        }
        if !self.enrp_source_trusted(source) {
            net_debug!("enrp: dropped a message from an untrusted host");
            self.enrp.stats.untrusted += 1;
            return;
        }
        if !self.enrp_sender_bound(source, msg.sender) {
            net_debug!("enrp: dropped a message claiming {}", msg.sender);
            self.enrp.stats.impostors += 1;
            return;
        }
        let info = match msg.body {
            EnrpBody::Presence { server_info, .. } => server_info,
            _ => None,
        };
        self.heard(now, source, msg.sender, info.as_ref(), is_presence);
        let assoc = match source {
            Source::Association(a) => Some(a),
            Source::Datagram(_) => self.peer_assoc(msg.sender),
        };
        let sender = msg.sender;
        match msg.body {
            EnrpBody::Presence {
                reply_required,
                checksum,
                ..
            } => {
                if let Some(c) = checksum {
                    if let Some(i) = self.peer_by_id(sender) {
                        self.enrp.peers[i].announced_checksum = Some(c);
                    }
                    self.audit(now, sender, c);
                }
                if reply_required {
                    let dest = match assoc {
                        Some(a) => Destination::Association(a),
                        None => reply_to(source),
                    };
                    self.presence_to(dest, Some(sender), false);
                }
            }
            EnrpBody::HandleUpdate {
                action,
                pool_handle,
                pool_element,
                ..
            } => {
                let owner = pool_element.home_server.unwrap_or(sender);
                if owner != sender && !self.acked_takeover(sender, owner) {
                    // Only a PE's owner speaks for it (or the registrar
                    // taking its owner over, acknowledged here).
                    self.enrp.stats.foreign_updates += 1;
                    return;
                }
                match action {
                    UpdateAction::AddPe => {
                        let kept = if owner < me {
                            self.keep_home(now, pool_handle, pool_element.pe_id)
                        } else {
                            None
                        };
                        if owner == me {
                            self.enrp.stats.updates_rejected += 1;
                        } else if let Some(pe) = kept {
                            // Crossing registrations: the higher id keeps
                            // the PE and says so again.
                            self.enrp.stats.ownership_kept += 1;
                            self.enrp_forward(&Event::PoolElementRegistered { pe, new: false });
                        } else {
                            match self.apply_peer_update(now, owner, pool_handle, &pool_element) {
                                Ok(_) => self.enrp.stats.updates_applied += 1,
                                Err(_) => self.enrp.stats.updates_rejected += 1,
                            }
                        }
                    }
                    UpdateAction::DelPe => {
                        if self.apply_peer_delete(owner, pool_handle, pool_element.pe_id) {
                            self.enrp.stats.deletes_applied += 1;
                        } else {
                            self.enrp.stats.deletes_ignored += 1;
                        }
                    }
                }
            }
            EnrpBody::HandleTableRequest { own_children_only } => {
                if let Some(a) = assoc {
                    self.on_table_request(now, a, sender, own_children_only);
                }
            }
            EnrpBody::HandleTableResponse {
                more_to_send,
                rejected,
                entries,
            } => {
                if let Some(a) = assoc {
                    self.on_table_response(now, a, sender, more_to_send, rejected, entries);
                }
            }
            EnrpBody::ListRequest => {
                if let Some(a) = assoc {
                    self.on_list_request(a, sender);
                }
            }
            EnrpBody::ListResponse { rejected, servers } => {
                if let Some(a) = assoc {
                    self.on_list_response(now, a, sender, rejected, servers);
                }
            }
            EnrpBody::InitTakeover { target } => self.on_init_takeover(now, assoc, sender, target),
            EnrpBody::InitTakeoverAck { target } => self.on_takeover_ack(now, sender, target),
            EnrpBody::TakeoverServer { target } => self.on_takeover_server(now, sender, target),
            EnrpBody::Error { error } => {
                net_debug!("enrp: ENRP_ERROR from {}: {:?}", sender, error.code());
                let _ = error;
                self.enrp.stats.errors_received += 1;
            }
        }
        if ty != EnrpType::Error {
            self.enrp_report_unrecognized(source, assoc, sender, bytes);
        }
    }

    /// Whether a message from `source` may be looked at: over an
    /// association, its remote host must be a trusted peer (see the module
    /// documentation, "Trust"); a datagram (PRESENCE only) must come from
    /// one too, or over the multicast channel when
    /// [`EnrpConfig::multicast`] is on.
    /// An association whose peer authenticated
    /// ([`TransportEvent::Authenticated`]: a certificate from the
    /// registrar's TLS roots) is trusted whatever its host.
    pub(super) fn enrp_source_trusted(&self, source: Source) -> bool {
        match source {
            Source::Association(a) => self
                .assocs
                .get(&a)
                .is_some_and(|r| r.is_authenticated() || self.enrp_host_trusted(r.remote().ip())),
            Source::Datagram(s) => self.config.enrp.multicast || self.enrp_host_trusted(s.ip()),
        }
    }

    /// A configured or allowed peer host, or the host of a peer in the
    /// table (every entry there came from a trusted source).
    pub(super) fn enrp_host_trusted(&self, ip: core::net::IpAddr) -> bool {
        self.config.enrp.allows(ip)
            || self.config.enrp.static_peers.iter().any(|p| p.ip() == ip)
            || self
                .enrp
                .peers
                .iter()
                .any(|p| p.address.is_some_and(|a| a.ip() == ip))
    }

    /// Whether `sender` may speak over `source`: an association bound to
    /// another server id (at its first message) refuses it, and a server id
    /// bound to an association refuses other hosts.
    pub(super) fn enrp_sender_bound(&self, source: Source, sender: ServerId) -> bool {
        let host = |a: AssocId| self.assocs.get(&a).map(|r| r.remote().ip());
        match source {
            Source::Association(a) => {
                if self
                    .enrp
                    .peers
                    .iter()
                    .any(|p| p.assoc == Some(a) && p.server_id.is_some_and(|id| id != sender))
                {
                    return false;
                }
                match self.peer_assoc(sender) {
                    Some(b) if b != a => host(b).is_some() && host(b) == host(a),
                    _ => true,
                }
            }
            Source::Datagram(s) => match self.peer_by_id(sender) {
                Some(i) => {
                    let p = &self.enrp.peers[i];
                    let by_assoc = p.assoc.and_then(host);
                    let by_addr = p.address.map(|a| a.ip());
                    (by_assoc.is_none() && by_addr.is_none())
                        || by_assoc == Some(s.ip())
                        || by_addr == Some(s.ip())
                }
                None => true,
            },
        }
    }

    /// Whether this registrar acknowledged `initiator`'s takeover of
    /// `target` lately.
    pub(super) fn acked_takeover(&self, initiator: ServerId, target: ServerId) -> bool {
        self.enrp.acked.iter().any(|&k| k == (initiator, target))
    }

    pub(super) fn enrp_parse_failed(&mut self, source: Source, bytes: &[u8], e: wire::Error) {
        // A HANDLE_UPDATE whose PE has a value this registrar does not take
        // (more than MAX_TRANSPORT_ADDRESSES addresses, say): the update is
        // refused and the peer told so (Invalid Values with the PE, as
        // rsplib answers a message its parser refuses).
        let refused_update = || {
            if wire::MessageHeader::new_unchecked(bytes).enrp_type() != EnrpType::HandleUpdate
                || !crate::registrar::asap_error::is_invalid_value(&e)
                || !matches!(source, Source::Association(_))
            {
                return None;
            }
            wire::find_parameter(Protocol::Enrp, bytes, ParamType::PoolElement)
                .map(ErrorCause::invalid_values)
        };
        let cause = ErrorCause::reporting(&e, bytes).or_else(|| {
            let c = refused_update()?;
            net_debug!("enrp: handle update refused: {}", e);
            self.enrp.stats.updates_rejected += 1;
            Some(c)
        });
        match cause {
            Some(c) => {
                let receiver = EnrpMessage::sender_of(bytes);
                self.send_enrp_error(reply_to(source), receiver, &[c]);
            }
            None => {
                net_debug!("enrp: dropped malformed input: {}", e);
                self.enrp.stats.malformed += 1;
            }
        }
    }

    pub(super) fn send_enrp_error(
        &mut self,
        dest: Destination,
        receiver: Option<ServerId>,
        causes: &[ErrorCause<'_>],
    ) {
        let msg = EnrpMessage {
            sender: self.me(),
            receiver,
            body: EnrpBody::Error {
                error: OperationError::new(causes),
            },
        };
        if self.enrp_push(dest, &msg) {
            self.enrp.stats.errors_sent += 1;
        }
    }

    pub(super) fn enrp_report_unrecognized(
        &mut self,
        source: Source,
        assoc: Option<AssocId>,
        sender: ServerId,
        bytes: &[u8],
    ) {
        let mut causes: [ErrorCause<'_>; MAX_REPORTED_PARAMETERS] =
            [ErrorCause::new(CauseCode::Unspecified); MAX_REPORTED_PARAMETERS];
        let n = ErrorCause::skipped_reports(Protocol::Enrp, bytes, &mut causes);
        if n > 0 {
            let dest = match (source, assoc) {
                (Source::Association(a), _) | (_, Some(a)) => Destination::Association(a),
                (Source::Datagram(s), None) => Destination::Address(s),
            };
            self.send_enrp_error(dest, Some(sender), &causes[..n]);
        }
    }
}
