//! The peer table: ENRP_PRESENCE, peers heard and declared dead, and the
//! peer list (ENRP_LIST_REQUEST / ENRP_LIST_RESPONSE, RFC 5353 §3.1-§3.2).

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
    pub(super) fn presence_to(
        &mut self,
        dest: Destination,
        receiver: Option<ServerId>,
        reply: bool,
    ) {
        let ip = [self.config.enrp.local_address.ip()];
        let info = ServerInfoParam {
            server_id: self.me(),
            transport: TransportParam::new(
                TransportProtocol::Sctp,
                self.config.enrp.local_address.port(),
                TransportUse::DataOnly,
                &ip,
            ),
        };
        let msg = EnrpMessage {
            sender: self.me(),
            receiver,
            body: EnrpBody::Presence {
                reply_required: reply,
                checksum: Some(self.own_checksum()),
                server_info: Some(info),
            },
        };
        if dest != Destination::Association(AssocId::NONE) {
            self.enrp_push(dest, &msg);
        }
    }

    pub(in crate::registrar) fn presence_groupcast(&mut self) {
        for i in 0..self.enrp.peers.len() {
            if let Some(a) = self.enrp.peers[i].assoc {
                self.presence_to(Destination::Association(a), None, false);
            }
        }
        if self.config.enrp.multicast {
            self.presence_to(Destination::Multicast, None, false);
        }
    }

    pub(super) fn peer_by_id(&self, id: ServerId) -> Option<usize> {
        self.enrp.peers.iter().position(|p| p.server_id == Some(id))
    }

    pub(super) fn peer_assoc(&self, id: ServerId) -> Option<AssocId> {
        self.peer_by_id(id).and_then(|i| self.enrp.peers[i].assoc)
    }

    pub(super) fn max_peers(&self) -> usize {
        self.config.enrp.max_peers.min(MAX_PEERS)
    }

    /// Updates (or creates) the sender's peer entry: last heard, state,
    /// association.
    pub(super) fn heard(
        &mut self,
        now: Instant,
        source: Source,
        id: ServerId,
        info: Option<&ServerInfoParam<'_>>,
        presence: bool,
    ) {
        let src_assoc = match source {
            Source::Association(a) => Some(a),
            Source::Datagram(_) => None,
        };
        let announced = info.and_then(|i| {
            let ip = i.transport.addresses.first()?;
            let ip = if ip.is_unspecified() {
                match source {
                    Source::Datagram(s) => s.ip(),
                    Source::Association(a) => self.assocs.get(&a)?.remote().ip(),
                }
            } else {
                ip
            };
            Some(SocketAddr::new(ip, i.transport.port))
        });
        let mut new = false;
        // Whether it was asked for a PRESENCE already (when its association came up).
        let mut asked = false;
        let i = match self.peer_by_id(id) {
            Some(i) => self.merge_duplicate(i, id, src_assoc),
            None => {
                // A configured peer whose id is not known yet?
                let by_assoc = src_assoc.and_then(|a| {
                    self.enrp
                        .peers
                        .iter()
                        .position(|p| p.server_id.is_none() && p.assoc == Some(a))
                });
                let by_addr = || {
                    announced.and_then(|ad| {
                        self.enrp
                            .peers
                            .iter()
                            .position(|p| p.server_id.is_none() && p.address == Some(ad))
                    })
                };
                match by_assoc.or_else(by_addr) {
                    Some(i) => {
                        self.enrp.peers[i].server_id = Some(id);
                        asked = self.enrp.peers[i].assoc.is_some();
                        new = true;
                        i
                    }
                    None => {
                        if self.enrp.peers.len() >= self.max_peers() {
                            self.enrp.stats.peers_refused += 1;
                            return;
                        }
                        let mut p = Peer::learnt(id, announced, now);
                        p.assoc = src_assoc;
                        if p.assoc.is_none() && p.address.is_some() {
                            p.wants_connect = true;
                        }
                        if self.enrp.peers.push(p).is_err() {
                            self.enrp.stats.peers_refused += 1;
                            return;
                        }
                        new = true;
                        self.enrp.peers.len() - 1
                    }
                }
            }
        };
        let p = &mut self.enrp.peers[i];
        p.last_heard = now;
        if p.assoc.is_none() {
            p.assoc = src_assoc;
            if src_assoc.is_some() {
                p.connecting = false;
            }
        }
        if p.address.is_none() {
            p.address = announced;
        }
        let was = p.state;
        p.state = PeerState::Alive;
        let assoc = p.assoc;
        if new || matches!(was, PeerState::Connecting | PeerState::Dead { .. }) {
            self.enrp_event(EnrpEvent::PeerUp { server_id: id });
        }
        if new && !asked {
            // RFC 5353 §3.4: an unknown peer gets a reply-required PRESENCE.
            if let Some(a) = assoc {
                self.presence_to(Destination::Association(a), Some(id), true);
            }
        }
        if presence {
            if let Some(k) = self.enrp.won.iter().position(|w| *w == id) {
                // Alive again: a later INIT_TAKEOVER for it is a new one.
                let mut rest: heapless::Deque<ServerId, RECENT_TAKEOVERS> = heapless::Deque::new();
                for (j, w) in self.enrp.won.iter().enumerate() {
                    if j != k {
                        let _ = rest.push_back(*w);
                    }
                }
                self.enrp.won = rest;
            }
            // Alive: an acknowledged takeover of it no longer stands.
            let acked = self.enrp.acked.clone();
            self.enrp.acked.clear();
            for k in acked.iter().filter(|k| k.1 != id) {
                let _ = self.enrp.acked.push_back(*k);
            }
            // The target shows up: every takeover of it stops.
            let before = self.enrp.takeovers.len();
            self.enrp.takeovers.retain(|t| t.target != id);
            if self.enrp.takeovers.len() != before {
                self.enrp.stats.takeovers_aborted += 1;
                self.enrp_event(EnrpEvent::TakeoverAborted { target: id });
            }
        }
    }

    /// A peer known by id may also have an id-less entry (a configured
    /// address whose association came up after the peer had reached us
    /// over its own): the message over that association merges the two.
    pub(super) fn merge_duplicate(
        &mut self,
        i: usize,
        id: ServerId,
        src_assoc: Option<AssocId>,
    ) -> usize {
        let Some(a) = src_assoc else {
            return i;
        };
        let Some(j) = self
            .enrp
            .peers
            .iter()
            .position(|p| p.server_id.is_none() && p.assoc == Some(a))
        else {
            return i;
        };
        let dup = self.enrp.peers[j];
        let p = &mut self.enrp.peers[i];
        p.configured |= dup.configured;
        if dup.configured {
            p.address = dup.address;
        }
        if p.assoc.is_none() {
            p.assoc = dup.assoc;
        }
        self.enrp.peers.swap_remove(j);
        self.peer_by_id(id).unwrap_or(i)
    }

    pub(super) fn declare_dead(&mut self, now: Instant, id: ServerId) {
        let Some(i) = self.peer_by_id(id) else {
            return;
        };
        self.enrp.peers[i].state = PeerState::Dead { takeover_at: now };
        net_debug!("enrp: peer {} dead", id);
        self.enrp_event(EnrpEvent::PeerDown { server_id: id });
        self.enrp_forget_pending(id, now);
        if !self.enrp.takeovers.iter().any(|t| t.target == id) {
            self.start_takeover(now, id);
        }
    }

    pub(super) fn on_list_request(&mut self, assoc: AssocId, peer: ServerId) {
        // Answered while initialising too, with the peers known so far:
        // rsplib takes R=1 as final and never asks again.
        let mut ips = [[core::net::IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED); 1]; MAX_PEERS];
        let mut ids = [self.me(); MAX_PEERS];
        let mut ports = [0u16; MAX_PEERS];
        let mut n = 0;
        for p in self.enrp.peers.iter() {
            if let (Some(id), Some(a), false) = (
                p.server_id,
                p.address,
                matches!(p.state, PeerState::Dead { .. }),
            ) {
                if n < MAX_PEERS {
                    ips[n] = [a.ip()];
                    ids[n] = id;
                    ports[n] = a.port();
                    n += 1;
                }
            }
        }
        let infos: [ServerInfoParam<'_>; MAX_PEERS] = core::array::from_fn(|i| ServerInfoParam {
            server_id: ids[i],
            transport: TransportParam::new(
                TransportProtocol::Sctp,
                ports[i],
                TransportUse::DataOnly,
                &ips[i],
            ),
        });
        self.simple(
            Destination::Association(assoc),
            Some(peer),
            EnrpBody::ListResponse {
                rejected: false,
                servers: List::from_slice(&infos[..n]),
            },
        );
    }

    pub(super) fn on_list_response(
        &mut self,
        now: Instant,
        assoc: AssocId,
        sender: ServerId,
        rejected: bool,
        servers: List<'_, ServerInfoParam<'_>>,
    ) {
        let Init::Listing { mentor, until, .. } = self.enrp.init else {
            self.enrp.stats.unexpected += 1;
            return;
        };
        if mentor != assoc {
            self.enrp.stats.unexpected += 1;
            return;
        }
        if rejected {
            self.enrp.stats.list_rejections += 1;
            self.mentor_backoff(now, mentor, until);
            return;
        }
        let me = self.me();
        for s in servers.iter() {
            if s.server_id == me || self.peer_by_id(s.server_id).is_some() {
                continue;
            }
            let Some(ip) = s.transport.addresses.first() else {
                continue;
            };
            let addr = SocketAddr::new(ip, s.transport.port);
            if let Some(p) = self.enrp.peers.iter_mut().find(|p| p.address == Some(addr)) {
                if p.server_id.is_none() {
                    p.server_id = Some(s.server_id);
                    // MAX-TIME-LAST-HEARD counts from now for a peer known
                    // by id and not reached yet.
                    p.last_heard = now;
                }
                continue;
            }
            if self.enrp.peers.len() >= self.max_peers() {
                self.enrp.stats.peers_refused += 1;
                continue;
            }
            let mut p = Peer::learnt(s.server_id, Some(addr), now);
            p.state = PeerState::Connecting;
            p.wants_connect = true;
            let _ = self.enrp.peers.push(p);
        }
        self.enrp.init = Init::Downloading {
            mentor,
            mentor_id: Some(sender),
            deadline: now + self.config.enrp.session_timeout,
            applied: 0,
        };
        self.simple(
            Destination::Association(assoc),
            Some(sender),
            EnrpBody::HandleTableRequest {
                own_children_only: false,
            },
        );
    }
}
