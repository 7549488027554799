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
