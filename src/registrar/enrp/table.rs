//! Handle tables: serving HANDLE_TABLE_REQUESTs in pages, applying
//! HANDLE_TABLE_RESPONSEs (initial download and audit resynchronisation).

use super::*;
use crate::wire::MessageBuilder;

impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    // ----- audit ------------------------------------------------------------

    pub(super) fn audit(&mut self, now: Instant, peer: ServerId, announced: u16) {
        if !matches!(self.enrp.init, Init::Done) {
            return;
        }
        if self.enrp.takeovers.iter().any(|t| t.target == peer) {
            return;
        }
        let local = self.hs.owner_checksum(peer);
        if local == announced {
            return;
        }
        let running = self
            .enrp
            .sessions
            .iter()
            .any(|s| matches!(s.kind, SessionKind::Resync { peer: p, .. } if p == peer));
        if running {
            return;
        }
        let Some(assoc) = self.peer_assoc(peer) else {
            return;
        };
        self.enrp.stats.audit_mismatches += 1;
        self.enrp_event(EnrpEvent::AuditMismatch {
            peer,
            announced,
            local,
        });
        if self.enrp.sessions.len() >= self.config.enrp.max_sessions.min(MAX_SESSIONS) {
            self.enrp.stats.sessions_refused += 1;
            return;
        }
        let session = Session {
            assoc,
            deadline: now + self.config.enrp.session_timeout,
            kind: SessionKind::Resync {
                peer,
                last: None,
                swept: 0,
            },
        };
        let _ = self.enrp.sessions.push(session);
        self.enrp.stats.resyncs += 1;
        self.simple(
            Destination::Association(assoc),
            Some(peer),
            EnrpBody::HandleTableRequest {
                own_children_only: true,
            },
        );
    }

    /// Whether a PE is owned here and registered over a live association:
    /// a handle table (a snapshot of a peer's view) does not take it away.
    pub(super) fn attached_here(&self, pool_handle: &[u8], pe_id: PeId) -> bool {
        let me = Some(self.me());
        PoolHandle::new(pool_handle).ok().is_some_and(|h| {
            self.hs
                .lookup(&h, pe_id)
                .is_some_and(|v| v.home_registrar() == me && v.assoc() != AssocId::NONE)
        })
    }

    /// A PE owned here over a live association that `peer` lists among its
    /// own (W=1 handle table). The higher server id keeps it: when that is
    /// this registrar, the PE is sent an ENDPOINT_KEEP_ALIVE with H=1 and
    /// the ownership is re-asserted by HANDLE_UPDATE ADD_PE to every peer;
    /// when it is the peer, this registrar's own ADD_PE goes to the peer,
    /// which then re-asserts (or, not holding the PE over an association,
    /// yields), and this registrar yields when that HANDLE_UPDATE arrives.
    /// Neither side decides on the snapshot alone, so the winner always
    /// learns of the conflict and tells the PE. A message that finds no
    /// room in the transmit queue is not sent: the checksums still differ,
    /// and the next audit finds the PE again.
    pub(super) fn contested(
        &mut self,
        now: Instant,
        assoc: AssocId,
        peer: ServerId,
        pool_handle: &[u8],
        pe_id: PeId,
    ) {
        let record = if peer < self.me() {
            let Some(record) = self.keep_home(now, pool_handle, pe_id) else {
                return;
            };
            self.enrp.stats.ownership_kept += 1;
            record
        } else {
            let Some(record) = PoolHandle::new(pool_handle)
                .ok()
                .and_then(|h| self.hs.lookup(&h, pe_id))
                .map(|v| crate::registrar::PeRecord::from_view(&v))
            else {
                return;
            };
            record
        };
        let msg = EnrpMessage {
            sender: self.me(),
            receiver: None,
            body: EnrpBody::HandleUpdate {
                takeover_suggested: false,
                action: UpdateAction::AddPe,
                pool_handle: record.pool_handle.as_bytes(),
                pool_element: record.as_param(),
            },
        };
        let len = msg.buffer_len();
        if peer < self.me() {
            let copies = self.enrp.peers.iter().filter(|p| p.assoc.is_some()).count();
            if self.queue.has_room(len.saturating_mul(copies.max(1))) {
                self.enrp_groupcast(&msg);
            } else {
                self.enrp_push(Destination::Association(assoc), &msg);
            }
        } else {
            self.enrp_push(Destination::Association(assoc), &msg);
        }
    }

    /// Removes the PEs owned by `peer` after `last` and before `until`
    /// (to the end without `until`); returns how many.
    pub(super) fn sweep(
        &mut self,
        peer: ServerId,
        last: Option<(PoolHandle, PeId)>,
        until: Option<(&[u8], PeId)>,
    ) -> usize {
        let (mut n, mut last) = (0, last);
        loop {
            let mut c = OwnershipCursor { owner: peer, last };
            let Some(r) = self.hs.next_owned(&mut c).and_then(|v| {
                let k = (v.pool_handle().as_bytes(), v.pe_id());
                match until {
                    Some(u) if !key_less(k, u) => None,
                    _ => Some(v.pe_ref()),
                }
            }) else {
                break;
            };
            // Resume after the PE just removed, not from the start again.
            last = c.last;
            self.owned.swap_remove(&r);
            if self.hs_remove(r).is_err() {
                break;
            }
            n += 1;
        }
        n
    }

    // ----- handle table -----------------------------------------------------

    pub(super) fn on_table_request(
        &mut self,
        now: Instant,
        assoc: AssocId,
        peer: ServerId,
        own: bool,
    ) {
        let reject = |this: &mut Self| {
            this.enrp.stats.requests_rejected += 1;
            this.simple(
                Destination::Association(assoc),
                Some(peer),
                EnrpBody::HandleTableResponse {
                    more_to_send: false,
                    rejected: true,
                    entries: List::empty(),
                },
            );
        };
        // While initialising, only this registrar's own PEs are certain:
        // either request is answered with those (RFC 5353 lets a server
        // answer with what it has; rsplib takes R=1 as final).
        let own = own || !matches!(self.enrp.init, Init::Done);
        let existing = self.enrp.sessions.iter().position(|s| {
            s.assoc == assoc
                && matches!(s.kind, SessionKind::Serve { own_only, peer: p, .. } if own_only == own && p == peer)
        });
        let idx = match existing {
            Some(i) => i,
            None => {
                // A new request replaces any other session of this requester
                // (its association, or its server id over another one): one
                // session per peer, so that no peer holds them all.
                self.enrp.sessions.retain(|s| {
                    !matches!(s.kind, SessionKind::Serve { peer: p, .. } if p == peer || s.assoc == assoc)
                });
                if self.enrp.sessions.len() >= self.config.enrp.max_sessions.min(MAX_SESSIONS) {
                    self.enrp.stats.sessions_refused += 1;
                    reject(self);
                    return;
                }
                let cursor = if own {
                    PageCursor::single(self.me())
                } else {
                    match self.hs.owners().iter().map(|e| e.owner).min() {
                        Some(o) => PageCursor::all(o),
                        None => PageCursor::finished(self.me()),
                    }
                };
                let s = Session {
                    assoc,
                    deadline: now,
                    kind: SessionKind::Serve {
                        peer,
                        own_only: own,
                        cursor,
                    },
                };
                if self.enrp.sessions.push(s).is_err() {
                    reject(self);
                    return;
                }
                self.enrp.sessions.len() - 1
            }
        };
        self.enrp.sessions[idx].deadline = now + self.config.enrp.session_timeout;
        let SessionKind::Serve { cursor, .. } = self.enrp.sessions[idx].kind else {
            return;
        };
        match self.serve_page(assoc, peer, cursor) {
            Some((next, true)) => {
                if let SessionKind::Serve { cursor, .. } = &mut self.enrp.sessions[idx].kind {
                    *cursor = next;
                }
            }
            Some((_, false)) => {
                self.enrp.sessions.swap_remove(idx);
            }
            None => {}
        }
    }

    /// The next PE of a page walk.
    pub(super) fn page_next(&self, c: &mut PageCursor) -> Option<crate::handlespace::PeRef> {
        page_next_in(&self.hs, c)
    }

    /// Measures a page of at most `max` PEs from `start`: its length, PE
    /// count, the cursor after it and whether more follow.
    pub(super) fn measure_page(
        &self,
        start: PageCursor,
        max: usize,
    ) -> (usize, usize, PageCursor, bool) {
        let mut c = start;
        let mut len = 12;
        let mut n = 0;
        let mut last: Option<PoolHandle> = None;
        loop {
            let save = c;
            let Some(r) = self.page_next(&mut c) else {
                return (len, n, c, false);
            };
            let Some(v) = self.hs.get(r) else {
                return (len, n, c, false);
            };
            let h = *v.pool_handle();
            let add = with_pe_param(&v, |p| p.buffer_len())
                + if last != Some(h) {
                    wire::parameter_len(h.as_bytes().len())
                } else {
                    0
                };
            if n >= max || len + add > MAX_ENRP_LEN {
                return (len, n, save, true);
            }
            len += add;
            n += 1;
            last = Some(h);
        }
    }

    /// Sends one HANDLE_TABLE_RESPONSE page; `None` when it could not be
    /// queued.
    pub(super) fn serve_page(
        &mut self,
        assoc: AssocId,
        peer: ServerId,
        start: PageCursor,
    ) -> Option<(PageCursor, bool)> {
        let mut max = (self.config.enrp.max_handle_table_elements as usize)
            .clamp(1, MAX_HANDLE_TABLE_ELEMENTS);
        let (len, n, next, more) = loop {
            let m = self.measure_page(start, max);
            if self.queue.has_room(m.0) {
                break m;
            }
            if max == 1 {
                self.enrp.stats.queue_full += 1;
                return None;
            }
            max /= 2;
        };
        let me = self.me();
        let flags = if more {
            wire::enrp_flags::MORE_TO_SEND
        } else {
            0
        };
        let hs = &self.hs;
        let res = self.queue.push_with(
            Destination::Association(assoc),
            Protocol::Enrp,
            len,
            |buf| {
                let mut m = MessageBuilder::enrp(
                    buf,
                    EnrpType::HandleTableResponse,
                    flags,
                    me,
                    Some(peer),
                )?;
                let mut c = start;
                let mut last: Option<PoolHandle> = None;
                for _ in 0..n {
                    let Some(v) = page_next_in(hs, &mut c).and_then(|r| hs.get(r)) else {
                        break;
                    };
                    let h = *v.pool_handle();
                    if last != Some(h) {
                        m.pool_handle(h.as_bytes())?;
                        last = Some(h);
                    }
                    with_pe_param(&v, |p| m.pool_element(p))?;
                }
                m.finish()
            },
        );
        match res {
            Ok(()) => {
                self.enrp.stats.sent[usize::from(EnrpType::HandleTableResponse.raw())] += 1;
                self.enrp.stats.pages_sent += 1;
                Some((next, more))
            }
            Err(_) => {
                self.enrp.stats.queue_full += 1;
                None
            }
        }
    }

    pub(super) fn on_table_response(
        &mut self,
        now: Instant,
        assoc: AssocId,
        sender: ServerId,
        more: bool,
        rejected: bool,
        entries: List<'_, PoolEntry<'_>>,
    ) {
        let me = self.me();
        if let Init::Downloading {
            mentor,
            mentor_id,
            applied,
            ..
        } = self.enrp.init
        {
            if mentor == assoc {
                if rejected {
                    let until = now + self.config.enrp.mentor_discovery_timeout;
                    self.mentor_backoff(now, assoc, until);
                    return;
                }
                let mut count = applied;
                for entry in entries.iter() {
                    for pe in entry.elements.iter() {
                        let owner = pe.home_server.unwrap_or(sender);
                        if owner == me || self.attached_here(entry.pool_handle, pe.pe_id) {
                            self.enrp.stats.table_entries_kept += 1;
                            continue;
                        }
                        match self.apply_peer_update(now, owner, entry.pool_handle, &pe) {
                            Ok(_) => {
                                self.enrp.stats.table_entries_applied += 1;
                                count += 1;
                            }
                            Err(_) => self.enrp.stats.table_entries_rejected += 1,
                        }
                    }
                }
                if more {
                    self.enrp.init = Init::Downloading {
                        mentor,
                        mentor_id: mentor_id.or(Some(sender)),
                        deadline: now + self.config.enrp.session_timeout,
                        applied: count,
                    };
                    self.simple(
                        Destination::Association(assoc),
                        Some(sender),
                        EnrpBody::HandleTableRequest {
                            own_children_only: false,
                        },
                    );
                } else {
                    self.finish_init(Some(sender));
                }
                return;
            }
        }
        let Some(idx) = self
            .enrp
            .sessions
            .iter()
            .position(|s| matches!(s.kind, SessionKind::Resync { peer, .. } if peer == sender))
        else {
            self.enrp.stats.unexpected += 1;
            return;
        };
        if rejected {
            self.enrp.sessions.swap_remove(idx);
            return;
        }
        let SessionKind::Resync {
            mut last,
            mut swept,
            ..
        } = self.enrp.sessions[idx].kind
        else {
            return;
        };
        for entry in entries.iter() {
            let Ok(handle) = PoolHandle::new(entry.pool_handle) else {
                continue;
            };
            for pe in entry.elements.iter() {
                swept += self.sweep(sender, last, Some((entry.pool_handle, pe.pe_id)));
                if self.attached_here(entry.pool_handle, pe.pe_id) {
                    // Owned by both over live associations (each took it
                    // while they could not hear each other, or crossing
                    // registrations): decided as for a HANDLE_UPDATE.
                    self.enrp.stats.table_entries_kept += 1;
                    self.contested(now, assoc, sender, entry.pool_handle, pe.pe_id);
                } else {
                    match self.apply_peer_update(now, sender, entry.pool_handle, &pe) {
                        Ok(_) => self.enrp.stats.table_entries_applied += 1,
                        Err(_) => self.enrp.stats.table_entries_rejected += 1,
                    }
                }
                let beyond = match &last {
                    None => true,
                    Some((h, id)) => key_less((h.as_bytes(), *id), (entry.pool_handle, pe.pe_id)),
                };
                if beyond {
                    last = Some((handle, pe.pe_id));
                }
            }
        }
        if more {
            let s = &mut self.enrp.sessions[idx];
            s.kind = SessionKind::Resync {
                peer: sender,
                last,
                swept,
            };
            s.deadline = now + self.config.enrp.session_timeout;
            self.simple(
                Destination::Association(assoc),
                Some(sender),
                EnrpBody::HandleTableRequest {
                    own_children_only: true,
                },
            );
        } else {
            swept += self.sweep(sender, last, None);
            self.enrp.sessions.swap_remove(idx);
            self.enrp.stats.swept += swept as u64;
            self.enrp_event(EnrpEvent::ResyncDone {
                peer: sender,
                swept,
                checksum: self.hs.owner_checksum(sender),
            });
        }
    }
}

/// [`Registrar::page_next`] without the registrar (for the encoder closure).
fn page_next_in<B: Backend, S: Storage>(
    hs: &crate::handlespace::Handlespace<B, S>,
    c: &mut PageCursor,
) -> Option<crate::handlespace::PeRef> {
    if c.done {
        return None;
    }
    // W=1: the owner's PEs; W=0: every PE that has an owner. Both in (pool
    // handle, PE id) order, resuming after the last PE sent.
    let next = if c.own_only {
        hs.next_owned(&mut c.cur)
    } else {
        let mut next = hs.next_pe(&mut c.cur.last);
        while next.as_ref().is_some_and(|v| v.home_registrar().is_none()) {
            next = hs.next_pe(&mut c.cur.last);
        }
        next
    };
    if next.is_none() {
        c.done = true;
    }
    next.map(|v| v.pe_ref())
}

fn key_less(a: (&[u8], PeId), b: (&[u8], PeId)) -> bool {
    a.0.cmp(b.0).then(a.1.cmp(&b.1)).is_lt()
}
