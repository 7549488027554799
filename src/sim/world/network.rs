//! The virtual network: connects, closes, messages on associations,
//! datagrams and multicast, with the fault model of [`NetConfig`](super::NetConfig).

use std::net::SocketAddr;
use std::vec::Vec;

use crate::id::AssocId;
use crate::time::Duration;
use crate::transmit::{Destination, Source, TransportEvent};
use crate::wire::Protocol;

use super::super::net::MAX_RETRANSMISSIONS;
use super::{AssocEnd, Event, NodeId, Output, Payload, World};

impl World {
    pub(super) fn connect_arrives(
        &mut self,
        from: NodeId,
        incarnation: u32,
        remote: SocketAddr,
        protocol: Protocol,
    ) {
        if self.incarnation(from) != incarnation || !self.is_alive(from) {
            return;
        }
        let target = self
            .node_at(remote.ip())
            .filter(|&t| self.is_alive(t) && self.cut_until(from, t, self.now).is_none());
        let Some(to) = target else {
            // Nobody answers: the INIT retransmissions run out.
            let at = self.now + self.net.connect_timeout;
            let event = TransportEvent::ConnectFailed { remote };
            self.push(
                at,
                Event::Transport {
                    to: from,
                    incarnation,
                    event,
                },
            );
            return;
        };
        let a_from = self.new_assoc_id(from);
        let a_to = self.new_assoc_id(to);
        let back = self.now + self.link_delay() + self.extra_delay(from, to);
        self.assocs.insert(
            (from, a_from),
            AssocEnd {
                peer: to,
                peer_assoc: a_to,
                last_to_peer: self.now,
            },
        );
        self.assocs.insert(
            (to, a_to),
            AssocEnd {
                peer: from,
                peer_assoc: a_from,
                last_to_peer: back,
            },
        );
        self.counters.associations += 1;
        let from_addr = self.endpoint(from, protocol);
        // As over UDP: an unverified node's associations are reported
        // unverified on both ends.
        let verified = !(self.slots[from.0].unverified || self.slots[to.0].unverified);
        let to_incarnation = self.incarnation(to);
        self.push(
            back,
            Event::Transport {
                to: from,
                incarnation,
                event: TransportEvent::Up {
                    assoc: a_from,
                    remote,
                    protocol,
                    verified,
                },
            },
        );
        // The listener learns of the association now.
        self.dispatch(Event::Transport {
            to,
            incarnation: to_incarnation,
            event: TransportEvent::Up {
                assoc: a_to,
                remote: from_addr,
                protocol,
                verified,
            },
        });
    }

    /// A message on an association reached `to` after `to` restarted (its
    /// end of the association died with the old incarnation): as SCTP
    /// answers such an out-of-the-blue packet with ABORT, the sender's end
    /// breaks one delay later instead of after the failure detection.
    pub(super) fn abort_stale(&mut self, from: NodeId, to: NodeId, to_assoc: AssocId) {
        let stale = self
            .assocs
            .range((from, AssocId(0))..=(from, AssocId(u32::MAX)))
            .find(|(_, e)| e.peer == to && e.peer_assoc == to_assoc)
            .map(|(k, _)| k.1);
        let Some(assoc) = stale else { return };
        let at = self.now + self.link_delay() + self.extra_delay(from, to);
        let incarnation = self.incarnation(from);
        self.push(
            at,
            Event::PeerLost {
                to: from,
                incarnation,
                assoc,
            },
        );
    }

    /// A partition has lasted the failure detection delay: the
    /// associations across it break.
    pub(super) fn break_cut_associations(&mut self, index: usize) {
        let Some(p) = self.partitions.get(index).cloned() else {
            return;
        };
        let cut: Vec<(NodeId, AssocId, NodeId, AssocId)> = self
            .assocs
            .iter()
            .filter(|(k, v)| k.0 < v.peer && p.separates(k.0, v.peer, self.now))
            .map(|(k, v)| (k.0, k.1, v.peer, v.peer_assoc))
            .collect();
        if !cut.is_empty() {
            self.log(format_args!(
                "partition {index}: {} associations across it break",
                cut.len()
            ));
        }
        for (a, a_assoc, b, b_assoc) in cut {
            for (to, assoc) in [(a, a_assoc), (b, b_assoc)] {
                let incarnation = self.incarnation(to);
                self.push(
                    self.now,
                    Event::PeerLost {
                        to,
                        incarnation,
                        assoc,
                    },
                );
            }
        }
    }

    pub(super) fn output(&mut self, from: NodeId, o: Output) {
        match o {
            Output::Connect { remote, protocol } => {
                self.counters.connects += 1;
                let extra = self.delay_of(from)
                    + self
                        .node_at(remote.ip())
                        .map_or(Duration::ZERO, |to| self.delay_of(to));
                let at = self.now + self.link_delay() + extra;
                let incarnation = self.incarnation(from);
                self.push(
                    at,
                    Event::ConnectArrive {
                        from,
                        incarnation,
                        remote,
                        protocol,
                    },
                );
            }
            Output::Close { assoc } => {
                if let Some(end) = self.assocs.remove(&(from, assoc)) {
                    let at = end
                        .last_to_peer
                        .max(self.now + self.link_delay() + self.extra_delay(from, end.peer));
                    let incarnation = self.incarnation(end.peer);
                    self.push(
                        at,
                        Event::PeerLost {
                            to: end.peer,
                            incarnation,
                            assoc: end.peer_assoc,
                        },
                    );
                }
            }
            Output::Send {
                destination,
                ppid,
                bytes,
            } => {
                let payload = Payload::of(ppid);
                self.counters.count_sent_by(from, payload, &bytes);
                match destination {
                    Destination::Association(assoc) => self.send_on(from, assoc, ppid, bytes),
                    Destination::Address(addr) => {
                        if let Some(to) = self.node_at(addr.ip()) {
                            self.send_datagram(from, to, ppid, bytes);
                        } else {
                            self.counters.dropped += 1;
                        }
                    }
                    Destination::Multicast => {
                        let Some(channel) = payload.protocol() else {
                            return;
                        };
                        let members: Vec<NodeId> = (0..self.slots.len())
                            .map(NodeId)
                            .filter(|&n| {
                                n != from
                                    && self.slots[n.0].alive
                                    && self.slots[n.0].subscriptions.contains(&channel)
                            })
                            .collect();
                        for to in members {
                            self.send_datagram(from, to, ppid, bytes.clone());
                        }
                    }
                }
            }
        }
    }

    fn send_on(&mut self, from: NodeId, assoc: AssocId, ppid: u32, bytes: Vec<u8>) {
        let Some(end) = self.assocs.get(&(from, assoc)).copied() else {
            // Unknown or closed association: SEND.FAILURE.
            self.counters.dropped += 1;
            let incarnation = self.incarnation(from);
            self.push(
                self.now,
                Event::Transport {
                    to: from,
                    incarnation,
                    event: TransportEvent::SendFailed { assoc },
                },
            );
            return;
        };
        if !self.is_alive(end.peer) {
            // The peer is gone but nobody knows yet: the message vanishes.
            self.counters.dropped += 1;
            return;
        }
        let mut at = self.now + self.link_delay() + self.extra_delay(from, end.peer);
        if let Some(heal) = self.cut_until(from, end.peer, self.now) {
            // Retransmitted until the cut heals (or the association breaks).
            at = at.max(heal + self.net.delay);
        }
        let mut retransmissions = 0;
        while retransmissions < MAX_RETRANSMISSIONS && self.chance(self.net.loss) {
            retransmissions += 1;
            at += self.net.retransmission_timeout;
        }
        self.counters.retransmissions += u64::from(retransmissions);
        let at = at.max(end.last_to_peer);
        if let Some(e) = self.assocs.get_mut(&(from, assoc)) {
            e.last_to_peer = at;
        }
        let incarnation = self.incarnation(end.peer);
        self.push(
            at,
            Event::Deliver {
                from,
                to: end.peer,
                incarnation,
                source: Source::Association(end.peer_assoc),
                ppid,
                bytes,
            },
        );
    }

    fn send_datagram(&mut self, from: NodeId, to: NodeId, ppid: u32, bytes: Vec<u8>) {
        let src = match Payload::of(ppid).protocol() {
            Some(p) => self.endpoint(from, p),
            None => self.addr(from),
        };
        let copies = if self.chance(self.net.duplicate) {
            self.counters.duplicated += 1;
            2
        } else {
            1
        };
        if self.cut_until(from, to, self.now).is_some() {
            self.counters.dropped += 1;
            return;
        }
        for _ in 0..copies {
            if self.chance(self.net.loss) {
                self.counters.dropped += 1;
                continue;
            }
            let mut at = self.now + self.link_delay() + self.extra_delay(from, to);
            if self.chance(self.net.reorder) {
                self.counters.reordered += 1;
                at += self.uniform(self.net.reorder_delay);
            }
            let incarnation = self.incarnation(to);
            self.push(
                at,
                Event::Deliver {
                    from,
                    to,
                    incarnation,
                    source: Source::Datagram(src),
                    ppid,
                    bytes: bytes.clone(),
                },
            );
        }
    }
}
