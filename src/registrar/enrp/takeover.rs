//! Takeover of dead peers (RFC 5353 §3.5).

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
    // ----- takeover ---------------------------------------------------------

    pub(super) fn start_takeover(&mut self, now: Instant, target: ServerId) {
        if target == self.me() || self.enrp.takeovers.iter().any(|t| t.target == target) {
            return;
        }
        let mut pending: Vec<ServerId, MAX_PEERS> = Vec::new();
        for p in self.enrp.peers.iter() {
            if let Some(id) = p.server_id {
                if id != target
                    && p.assoc.is_some()
                    && matches!(p.state, PeerState::Alive | PeerState::Probing { .. })
                {
                    let _ = pending.push(id);
                }
            }
        }
        let t = Takeover {
            target,
            deadline: now + self.config.enrp.takeover_expiry,
            pending,
        };
        if self.enrp.takeovers.push(t).is_err() {
            // Try again later.
            if let Some(i) = self.peer_by_id(target) {
                self.enrp.peers[i].state = PeerState::Dead {
                    takeover_at: now + self.config.enrp.takeover_expiry,
                };
            }
            return;
        }
        self.enrp.stats.takeovers_started += 1;
        self.enrp_event(EnrpEvent::TakeoverStarted { target });
        let msg = EnrpMessage {
            sender: self.me(),
            receiver: None,
            body: EnrpBody::InitTakeover { target },
        };
        self.enrp_groupcast(&msg);
        self.check_takeover(now, target);
    }

    /// Completes the takeover of `target` once no acknowledgement is missing.
    pub(super) fn check_takeover(&mut self, now: Instant, target: ServerId) {
        let Some(k) = self.enrp.takeovers.iter().position(|t| t.target == target) else {
            return;
        };
        if !self.enrp.takeovers[k].pending.is_empty() {
            return;
        }
        self.enrp.takeovers.swap_remove(k);
        match self.take_over(now, target) {
            Ok(pes) => {
                let msg = EnrpMessage {
                    sender: self.me(),
                    receiver: None,
                    body: EnrpBody::TakeoverServer { target },
                };
                self.enrp_groupcast(&msg);
                self.drop_peer(target);
                if self.enrp.won.is_full() {
                    self.enrp.won.pop_front();
                }
                let _ = self.enrp.won.push_back(target);
                self.enrp.stats.takeovers_won += 1;
                net_info!("enrp: took over {} ({} PEs)", target, pes);
                self.enrp_event(EnrpEvent::TakeoverWon { target, pes });
            }
            Err(_) => {
                self.enrp.stats.takeovers_failed += 1;
                if let Some(i) = self.peer_by_id(target) {
                    self.enrp.peers[i].state = PeerState::Dead {
                        takeover_at: now + self.config.enrp.takeover_expiry,
                    };
                }
            }
        }
    }

    /// Drops a peer after a takeover; a configured one is kept by address.
    pub(super) fn drop_peer(&mut self, id: ServerId) {
        let Some(i) = self.peer_by_id(id) else {
            return;
        };
        self.enrp
            .sessions
            .retain(|s| !matches!(s.kind, SessionKind::Resync { peer, .. } if peer == id));
        if self.enrp.peers[i].configured {
            let p = &mut self.enrp.peers[i];
            p.server_id = None;
            p.state = PeerState::Connecting;
            p.announced_checksum = None;
        } else {
            self.enrp.peers.swap_remove(i);
        }
    }

    pub(super) fn on_init_takeover(
        &mut self,
        now: Instant,
        assoc: Option<AssocId>,
        sender: ServerId,
        target: ServerId,
    ) {
        let me = self.me();
        if target == me {
            // RFC 5353 §3.5: the target answers with a PRESENCE at once.
            self.presence_groupcast();
            return;
        }
        if self.enrp.won.iter().any(|w| *w == target) {
            // Already taken over here (the initiator missed TAKEOVER_SERVER):
            // tell it again instead of acknowledging.
            if let Some(a) = assoc {
                self.simple(
                    Destination::Association(a),
                    Some(sender),
                    EnrpBody::TakeoverServer { target },
                );
            }
            return;
        }
        if self.enrp.takeovers.iter().any(|t| t.target == target) {
            if me > sender {
                return;
            }
            self.enrp.takeovers.retain(|t| t.target != target);
            self.enrp.stats.takeovers_lost += 1;
            self.enrp_event(EnrpEvent::TakeoverLost {
                target,
                winner: sender,
            });
        }
        if let Some(i) = self.peer_by_id(target) {
            // Not active; our own takeover only if nobody completes in time.
            self.enrp.peers[i].state = PeerState::Dead {
                takeover_at: now + self.config.enrp.takeover_expiry.saturating_mul(2),
            };
        }
        if !self.acked_takeover(sender, target) {
            if self.enrp.acked.is_full() {
                self.enrp.acked.pop_front();
            }
            let _ = self.enrp.acked.push_back((sender, target));
        }
        if let Some(a) = assoc {
            self.simple(
                Destination::Association(a),
                Some(sender),
                EnrpBody::InitTakeoverAck { target },
            );
        }
    }

    pub(super) fn on_takeover_ack(&mut self, now: Instant, sender: ServerId, target: ServerId) {
        let Some(t) = self.enrp.takeovers.iter_mut().find(|t| t.target == target) else {
            return;
        };
        t.pending.retain(|p| *p != sender);
        self.check_takeover(now, target);
    }

    pub(super) fn on_takeover_server(&mut self, _now: Instant, sender: ServerId, target: ServerId) {
        if target == self.me() {
            // Taken over while alive: the audit puts things right.
            self.presence_groupcast();
            return;
        }
        // Only from the registrar whose INIT_TAKEOVER for `target` this one
        // acknowledged, or that answers this one's own INIT_TAKEOVER for
        // it (it completed first).
        let own = self.enrp.takeovers.iter().any(|t| t.target == target);
        if !own && !self.acked_takeover(sender, target) {
            net_debug!("enrp: TAKEOVER_SERVER of {} by {} refused", target, sender);
            self.enrp.stats.takeovers_refused += 1;
            return;
        }
        if own {
            self.enrp.takeovers.retain(|t| t.target != target);
            self.enrp.stats.takeovers_lost += 1;
            self.enrp_event(EnrpEvent::TakeoverLost {
                target,
                winner: sender,
            });
        }
        let moved = self.hs.take_over(target, sender);
        self.enrp.stats.rehomed += moved as u64;
        self.drop_peer(target);
        self.enrp_event(EnrpEvent::PeerTakenOver {
            target,
            by: sender,
            pes: moved,
        });
    }

    /// A dead or departing peer no longer holds up a takeover.
    pub(super) fn enrp_forget_pending(&mut self, id: ServerId, now: Instant) {
        let mut targets: Vec<ServerId, MAX_TAKEOVERS> = Vec::new();
        for t in self.enrp.takeovers.iter_mut() {
            t.pending.retain(|p| *p != id);
            let _ = targets.push(t.target);
        }
        for t in targets {
            self.check_takeover(now, t);
        }
    }
}
