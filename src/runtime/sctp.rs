//! A node's SCTP endpoints: one for ASAP (on all the node's addresses),
//! one more for ENRP on a registrar with ENRP.
//!
//! The node numbers SCTP associations itself (ids with
//! [`SCTP_ASSOC_BIT`], so [`sctp::is_sctp`] tells them from UDP and TCP
//! ones) and maps them to the endpoint and the transport's own id, so that
//! the two endpoints' ids never collide.
//!
//! Associations are of two kinds:
//!
//! * those a machine asked for ([`Connect`](crate::transmit::Connect)):
//!   the machine hears [`TransportEvent::Up`] or
//!   [`TransportEvent::ConnectFailed`] when SCTP has an answer;
//! * data channels a pool user opens to a PE: usable at once (messages
//!   wait, at most [`MAX_WAITING`], until the association is up), and a
//!   failed one is reported [`TransportEvent::Down`].
//!
//! A node keeps at most [`MAX_ASSOCIATIONS`]; one more opened by a peer is
//! aborted as it comes up.
//!
//! The PPID names what a message is: on a channel to or from a registrar
//! (plain) only the PPID of its protocol (11 ASAP, 12 ENRP) is taken; on a
//! pool user ↔ pool element channel (tagged) PPID 11 is ASAP and anything
//! else application data. A message with a wrong PPID is dropped and
//! counted ([`Sctp::wrong_ppid`]).

use std::boxed::Box;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::vec::Vec;

use super::Encapsulation;
use crate::id::AssocId;
use crate::transmit::TransportEvent;
use crate::transport::sctp::{
    self, SctpConfig, SctpEvent, SctpKind, SctpTransport, SendInfo, SCTP_ASSOC_BIT,
};
use crate::transport::{Framing, Incoming, Payload};
use crate::wire::Protocol;
use crate::wire::ASAP_PPID;

/// How many messages wait at most on a data channel that is not up yet.
pub const MAX_WAITING: usize = 256;

/// How many associations a node keeps at most; one more that a peer
/// opens is aborted.
pub const MAX_ASSOCIATIONS: usize = 4096;

pub(crate) struct Endpoint {
    transport: Box<dyn SctpTransport>,
    /// What plain associations accepted here carry.
    protocol: Protocol,
    /// How associations accepted here are framed.
    inbound: Framing,
    locals: Vec<SocketAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Asked for by the machine, not up yet.
    Connecting,
    /// A data channel opened by the node, not up yet.
    Opening,
    Up,
}

struct Assoc {
    endpoint: usize,
    inner: AssocId,
    framing: Framing,
    protocol: Protocol,
    state: State,
    remote: SocketAddr,
    waiting: Vec<(u32, Vec<u8>)>,
}

/// What an SCTP event means for the node's machine.
pub(crate) enum Outcome {
    /// Nothing (an unknown association, a dropped message).
    None,
    /// Report this to the machine.
    Event(TransportEvent),
    /// Hand this message to the role.
    Message(Incoming),
}

/// See the [module](self) documentation.
pub(crate) struct Sctp {
    kind: SctpKind,
    endpoints: Vec<Endpoint>,
    assocs: HashMap<AssocId, Assoc>,
    by_inner: HashMap<(usize, AssocId), AssocId>,
    next_id: u32,
    /// Messages dropped for a PPID their association does not take.
    pub(crate) wrong_ppid: u64,
    /// Further peer addresses of associations just reported up, for the
    /// machine after the Up ([`take_peer_addresses`](Self::take_peer_addresses)).
    peer_addresses: Vec<TransportEvent>,
}

impl Sctp {
    pub(crate) fn new(kind: SctpKind) -> Self {
        Sctp {
            kind,
            endpoints: Vec::new(),
            assocs: HashMap::new(),
            by_inner: HashMap::new(),
            next_id: 1,
            peer_addresses: Vec::new(),
            wrong_ppid: 0,
        }
    }

    /// Opens an endpoint on `bind` (one port) for `protocol`; its events
    /// go to `sink` tagged with the returned index.
    pub(crate) fn open(
        &mut self,
        config: &SctpConfig,
        bind: &[SocketAddr],
        protocol: Protocol,
        inbound: Framing,
        sink: impl FnMut(usize, SctpEvent) -> bool + Send + 'static,
    ) -> io::Result<usize> {
        let index = self.endpoints.len();
        let mut sink = sink;
        let transport = sctp::open(self.kind, config, bind, Box::new(move |e| sink(index, e)))?;
        self.push(transport, protocol, inbound);
        Ok(index)
    }

    /// Adds an endpoint over an already open transport.
    fn push(&mut self, transport: Box<dyn SctpTransport>, protocol: Protocol, inbound: Framing) {
        let locals = transport.local_addrs();
        self.endpoints.push(Endpoint {
            transport,
            protocol,
            inbound,
            locals,
        });
    }

    /// The addresses of endpoint `index`.
    pub(crate) fn locals(&self, index: usize) -> &[SocketAddr] {
        self.endpoints
            .get(index)
            .map(|e| &e.locals[..])
            .unwrap_or(&[])
    }

    /// How captured packets of this kind of SCTP are written.
    pub(crate) fn encapsulation(&self) -> Encapsulation {
        match self.kind {
            SctpKind::Usrsctp => Encapsulation::SctpOverUdp,
            SctpKind::Kernel => Encapsulation::Sctp,
        }
    }

    /// How many associations exist (up or being set up).
    pub(crate) fn association_count(&self) -> usize {
        self.assocs.len()
    }

    fn new_id(&mut self) -> AssocId {
        loop {
            let id = AssocId(SCTP_ASSOC_BIT | (self.next_id & 0x3fff_ffff));
            self.next_id = self.next_id.wrapping_add(1) & 0x3fff_ffff;
            if self.next_id == 0 {
                self.next_id = 1;
            }
            if !self.assocs.contains_key(&id) {
                return id;
            }
        }
    }

    /// Starts an association from endpoint `endpoint` to `remotes` (the
    /// addresses of the endpoint's families only). `machine`: the machine
    /// asked for it (it hears Up or ConnectFailed); otherwise a data
    /// channel, usable at once.
    pub(crate) fn connect(
        &mut self,
        endpoint: usize,
        remotes: &[SocketAddr],
        protocol: Protocol,
        framing: Framing,
        machine: bool,
    ) -> io::Result<AssocId> {
        let ep = self
            .endpoints
            .get_mut(endpoint)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no SCTP endpoint"))?;
        let v6 = ep.locals.iter().any(|a| a.is_ipv6());
        let v4 = ep.locals.iter().any(|a| a.is_ipv4());
        let usable: Vec<SocketAddr> = remotes
            .iter()
            .copied()
            .filter(|a| (a.is_ipv4() && (v4 || v6)) || (a.is_ipv6() && v6))
            .collect();
        let Some(&first) = usable.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address of the endpoint's families",
            ));
        };
        let inner = ep.transport.connect(&usable)?;
        if self.by_inner.contains_key(&(endpoint, inner)) {
            // The peer already has an association with this endpoint (SCTP
            // allows one per pair of endpoints): it stays its owner's.
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "an association to that peer is open",
            ));
        }
        let id = self.new_id();
        self.by_inner.insert((endpoint, inner), id);
        self.assocs.insert(
            id,
            Assoc {
                endpoint,
                inner,
                framing,
                protocol,
                state: if machine {
                    State::Connecting
                } else {
                    State::Opening
                },
                remote: first,
                waiting: Vec::new(),
            },
        );
        Ok(id)
    }

    /// The local and remote address of `assoc` (for captures).
    pub(crate) fn addresses(&self, assoc: AssocId) -> Option<(SocketAddr, SocketAddr)> {
        let a = self.assocs.get(&assoc)?;
        let local = *self.endpoints.get(a.endpoint)?.locals.first()?;
        Some((local, a.remote))
    }

    /// Sends `msg` with `ppid` on `assoc`: at once when it is up, later
    /// when it is a data channel being opened. `false`: it could not be
    /// sent (unknown, not up, refused by the transport, too many waiting).
    pub(crate) fn send(&mut self, assoc: AssocId, ppid: u32, msg: &[u8]) -> bool {
        let Some(a) = self.assocs.get_mut(&assoc) else {
            return false;
        };
        match a.state {
            State::Up => {
                let Some(ep) = self.endpoints.get_mut(a.endpoint) else {
                    return false;
                };
                let info = SendInfo {
                    ppid,
                    stream: 0,
                    unordered: false,
                };
                ep.transport.send(a.inner, info, msg).is_ok()
            }
            State::Opening if a.waiting.len() < MAX_WAITING => {
                a.waiting.push((ppid, msg.to_vec()));
                true
            }
            _ => false,
        }
    }

    /// Closes `assoc` (no event follows).
    pub(crate) fn close(&mut self, assoc: AssocId) {
        if let Some(a) = self.assocs.remove(&assoc) {
            self.by_inner.remove(&(a.endpoint, a.inner));
            if let Some(ep) = self.endpoints.get_mut(a.endpoint) {
                ep.transport.close(a.inner);
            }
        }
    }

    fn forget(&mut self, endpoint: usize, inner: AssocId) -> Option<(AssocId, Assoc)> {
        let id = self.by_inner.remove(&(endpoint, inner))?;
        let a = self.assocs.remove(&id)?;
        Some((id, a))
    }

    /// Keeps the peer addresses of `assoc` other than `remote` as
    /// [`TransportEvent::PeerAddress`] for the machine.
    fn further_addresses(&mut self, assoc: AssocId, remote: SocketAddr, remotes: &[SocketAddr]) {
        for r in remotes {
            let address = r.ip();
            let known = |e: &TransportEvent| matches!(e, TransportEvent::PeerAddress { assoc: a, address: x } if *a == assoc && *x == address);
            if address != remote.ip() && !self.peer_addresses.iter().any(known) {
                self.peer_addresses
                    .push(TransportEvent::PeerAddress { assoc, address });
            }
        }
    }

    /// The further peer addresses of the associations reported up since
    /// the last call, to be reported after their Up.
    pub(crate) fn take_peer_addresses(&mut self) -> Vec<TransportEvent> {
        core::mem::take(&mut self.peer_addresses)
    }

    /// What `event` of endpoint `endpoint` means for the machine.
    pub(crate) fn event(&mut self, endpoint: usize, event: SctpEvent) -> Outcome {
        match event {
            SctpEvent::Up {
                assoc: inner,
                remote,
                remotes,
            } => {
                if let Some(&id) = self.by_inner.get(&(endpoint, inner)) {
                    let Some(a) = self.assocs.get_mut(&id) else {
                        return Outcome::None;
                    };
                    let was = a.state;
                    a.state = State::Up;
                    match was {
                        State::Connecting => {
                            let remote = a.remote;
                            let up = TransportEvent::Up {
                                assoc: id,
                                remote,
                                protocol: a.protocol,
                                // SCTP's handshake echoed our State Cookie.
                                verified: true,
                            };
                            self.further_addresses(id, remote, &remotes);
                            Outcome::Event(up)
                        }
                        State::Opening => {
                            let waiting = core::mem::take(&mut a.waiting);
                            for (ppid, msg) in waiting {
                                if !self.send(id, ppid, &msg) {
                                    return Outcome::Event(TransportEvent::SendFailed {
                                        assoc: id,
                                    });
                                }
                            }
                            Outcome::None
                        }
                        // A restart: the association is new to the machine
                        // again (the transport reported it down first).
                        State::Up => Outcome::None,
                    }
                } else {
                    let full = self.assocs.len() >= MAX_ASSOCIATIONS;
                    let Some(ep) = self.endpoints.get_mut(endpoint) else {
                        return Outcome::None;
                    };
                    if full {
                        net_warn!("sctp: too many associations, one opened by a peer aborted");
                        ep.transport.abort(inner);
                        return Outcome::None;
                    }
                    let (protocol, framing) = (ep.protocol, ep.inbound);
                    let id = self.new_id();
                    self.by_inner.insert((endpoint, inner), id);
                    self.assocs.insert(
                        id,
                        Assoc {
                            endpoint,
                            inner,
                            framing,
                            protocol,
                            state: State::Up,
                            remote,
                            waiting: Vec::new(),
                        },
                    );
                    self.further_addresses(id, remote, &remotes);
                    Outcome::Event(TransportEvent::Up {
                        assoc: id,
                        remote,
                        protocol,
                        // The peer's COOKIE ECHO proved it receives there.
                        verified: true,
                    })
                }
            }
            SctpEvent::Down { assoc: inner } | SctpEvent::ConnectFailed { assoc: inner, .. } => {
                let Some((id, a)) = self.forget(endpoint, inner) else {
                    return Outcome::None;
                };
                match a.state {
                    State::Connecting => {
                        Outcome::Event(TransportEvent::ConnectFailed { remote: a.remote })
                    }
                    State::Opening | State::Up => {
                        Outcome::Event(TransportEvent::Down { assoc: id })
                    }
                }
            }
            SctpEvent::SendFailed { assoc: inner } => match self.by_inner.get(&(endpoint, inner)) {
                Some(&id) => Outcome::Event(TransportEvent::SendFailed { assoc: id }),
                None => Outcome::None,
            },
            SctpEvent::Message {
                assoc: inner,
                remote,
                info,
                bytes,
            } => {
                let Some(&id) = self.by_inner.get(&(endpoint, inner)) else {
                    return Outcome::None;
                };
                let Some(a) = self.assocs.get(&id) else {
                    return Outcome::None;
                };
                let payload = match a.framing {
                    Framing::Plain if info.ppid == a.protocol.ppid() => {
                        Payload::Message(a.protocol)
                    }
                    Framing::Plain => {
                        self.wrong_ppid += 1;
                        net_debug!("sctp: message with a wrong PPID dropped");
                        return Outcome::None;
                    }
                    Framing::Tagged if info.ppid == ASAP_PPID => Payload::Message(Protocol::Asap),
                    Framing::Tagged => Payload::Data(info.ppid),
                };
                Outcome::Message(Incoming {
                    assoc: id,
                    remote,
                    new: false,
                    connectionless: false,
                    payload,
                    bytes,
                })
            }
        }
    }

    /// Closes every endpoint and joins their readers.
    pub(crate) fn shutdown(&mut self) {
        for ep in &mut self.endpoints {
            ep.transport.shutdown();
        }
        self.assocs.clear();
        self.by_inner.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::sctp::RecvInfo;
    use std::sync::{Arc, Mutex};

    /// What a fake transport sent: association, PPID, message.
    type Sent = Arc<Mutex<Vec<(AssocId, u32, Vec<u8>)>>>;

    /// A transport that hands out ids 1, 2, ... and records what is sent
    /// and which associations it aborted.
    struct Fake {
        next: u32,
        sent: Sent,
        aborted: Arc<Mutex<Vec<AssocId>>>,
    }

    impl SctpTransport for Fake {
        fn local_addrs(&self) -> Vec<SocketAddr> {
            std::vec![SocketAddr::from(([127, 0, 0, 1], 5000))]
        }
        fn connect(&mut self, _remotes: &[SocketAddr]) -> io::Result<AssocId> {
            self.next += 1;
            Ok(AssocId(SCTP_ASSOC_BIT | self.next))
        }
        fn send(&mut self, assoc: AssocId, info: SendInfo, msg: &[u8]) -> io::Result<()> {
            self.sent
                .lock()
                .unwrap()
                .push((assoc, info.ppid, msg.to_vec()));
            Ok(())
        }
        fn remote(&self, _assoc: AssocId) -> Option<SocketAddr> {
            None
        }
        fn close(&mut self, _assoc: AssocId) {}
        fn abort(&mut self, assoc: AssocId) {
            self.aborted.lock().unwrap().push(assoc);
        }
        fn shutdown(&mut self) {}
    }

    fn two_endpoints() -> (Sctp, Sent) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let mut s = Sctp::new(SctpKind::Usrsctp);
        for (protocol, framing) in [
            (Protocol::Asap, Framing::Tagged),
            (Protocol::Enrp, Framing::Plain),
        ] {
            let fake = Fake {
                next: 0,
                sent: sent.clone(),
                aborted: Arc::new(Mutex::new(Vec::new())),
            };
            s.push(Box::new(fake), protocol, framing);
        }
        (s, sent)
    }

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    fn up(inner: AssocId, remote: SocketAddr) -> SctpEvent {
        SctpEvent::Up {
            assoc: inner,
            remote,
            remotes: std::vec![remote],
        }
    }

    fn message(inner: AssocId, ppid: u32) -> SctpEvent {
        SctpEvent::Message {
            assoc: inner,
            remote: peer(1),
            info: RecvInfo {
                ppid,
                stream: 0,
                unordered: false,
            },
            bytes: std::vec![1, 2, 3, 4],
        }
    }

    #[test]
    fn further_peer_addresses_follow_the_up() {
        let (mut s, _) = two_endpoints();
        let inner = AssocId(SCTP_ASSOC_BIT | 3);
        let second: SocketAddr = "10.9.0.2:5000".parse().unwrap();
        let third: SocketAddr = "[fd00::3]:5000".parse().unwrap();
        let event = SctpEvent::Up {
            assoc: inner,
            remote: peer(1),
            remotes: std::vec![peer(1), second, third, second],
        };
        let Outcome::Event(TransportEvent::Up { assoc, .. }) = s.event(0, event) else {
            panic!("an association opened by a peer is reported");
        };
        assert_eq!(
            s.take_peer_addresses(),
            [second, third].map(|r| TransportEvent::PeerAddress {
                assoc,
                address: r.ip()
            })
        );
        assert!(s.take_peer_addresses().is_empty());
    }

    #[test]
    fn the_same_transport_id_on_two_endpoints_is_two_associations() {
        let (mut s, _) = two_endpoints();
        let inner = AssocId(SCTP_ASSOC_BIT | 7);
        let Outcome::Event(TransportEvent::Up {
            assoc: a,
            protocol: pa,
            ..
        }) = s.event(0, up(inner, peer(1)))
        else {
            panic!("accepted on the ASAP endpoint");
        };
        let Outcome::Event(TransportEvent::Up {
            assoc: b,
            protocol: pb,
            ..
        }) = s.event(1, up(inner, peer(2)))
        else {
            panic!("accepted on the ENRP endpoint");
        };
        assert_ne!(a, b);
        assert!(sctp::is_sctp(a) && sctp::is_sctp(b));
        assert_eq!((pa, pb), (Protocol::Asap, Protocol::Enrp));
        assert_eq!(s.association_count(), 2);
        // Down on one endpoint ends only that one.
        assert!(matches!(
            s.event(1, SctpEvent::Down { assoc: inner }),
            Outcome::Event(TransportEvent::Down { assoc }) if assoc == b
        ));
        assert_eq!(s.association_count(), 1);
        assert!(matches!(
            s.event(1, SctpEvent::Down { assoc: inner }),
            Outcome::None
        ));
    }

    #[test]
    fn ppids_are_checked_per_framing() {
        let (mut s, _) = two_endpoints();
        let (x, y) = (AssocId(SCTP_ASSOC_BIT | 1), AssocId(SCTP_ASSOC_BIT | 2));
        let _ = s.event(0, up(x, peer(1))); // tagged (PU <-> PE)
        let _ = s.event(1, up(y, peer(2))); // plain ENRP
        let payload = |o: Outcome| match o {
            Outcome::Message(m) => Some(m.payload),
            _ => None,
        };
        assert_eq!(
            payload(s.event(0, message(x, 11))),
            Some(Payload::Message(Protocol::Asap))
        );
        assert_eq!(payload(s.event(0, message(x, 0))), Some(Payload::Data(0)));
        assert_eq!(payload(s.event(0, message(x, 12))), Some(Payload::Data(12)));
        assert_eq!(
            payload(s.event(1, message(y, 12))),
            Some(Payload::Message(Protocol::Enrp))
        );
        assert_eq!(s.wrong_ppid, 0);
        assert_eq!(payload(s.event(1, message(y, 11))), None);
        assert_eq!(payload(s.event(1, message(y, 0))), None);
        assert_eq!(s.wrong_ppid, 2);
        // Unknown associations: nothing.
        assert_eq!(
            payload(s.event(1, message(AssocId(SCTP_ASSOC_BIT | 99), 12))),
            None
        );
    }

    #[test]
    fn machine_connects_and_data_channels_fail_differently() {
        let (mut s, sent) = two_endpoints();
        // A machine's connect: Up with the address asked for, or ConnectFailed.
        let m = s
            .connect(1, &[peer(9901)], Protocol::Enrp, Framing::Plain, true)
            .unwrap();
        assert!(!s.send(m, crate::wire::ENRP_PPID, b"early"), "not up yet");
        let inner = s.assocs[&m].inner;
        assert!(matches!(
            s.event(1, up(inner, peer(1))),
            Outcome::Event(TransportEvent::Up { assoc, remote, protocol: Protocol::Enrp, verified: true })
                if assoc == m && remote == peer(9901)
        ));
        let f = s
            .connect(1, &[peer(9902)], Protocol::Enrp, Framing::Plain, true)
            .unwrap();
        let inner = s.assocs[&f].inner;
        assert!(matches!(
            s.event(1, SctpEvent::ConnectFailed { assoc: inner, remote: peer(9902) }),
            Outcome::Event(TransportEvent::ConnectFailed { remote }) if remote == peer(9902)
        ));
        // A data channel takes messages at once (bounded), sends them when
        // up, and is reported down when it fails.
        let c = s
            .connect(0, &[peer(7000)], Protocol::Asap, Framing::Tagged, false)
            .unwrap();
        for i in 0..MAX_WAITING {
            assert!(s.send(c, 0, &[i as u8]));
        }
        assert!(!s.send(c, 0, b"one too many"));
        let inner = s.assocs[&c].inner;
        assert!(matches!(s.event(0, up(inner, peer(7000))), Outcome::None));
        assert_eq!(sent.lock().unwrap().len(), MAX_WAITING);
        let d = s
            .connect(0, &[peer(7001)], Protocol::Asap, Framing::Tagged, false)
            .unwrap();
        let inner = s.assocs[&d].inner;
        assert!(matches!(
            s.event(0, SctpEvent::ConnectFailed { assoc: inner, remote: peer(7001) }),
            Outcome::Event(TransportEvent::Down { assoc }) if assoc == d
        ));
        // No address of the endpoint's family: refused at once.
        let v6 = SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], 7000));
        assert!(s
            .connect(0, &[v6], Protocol::Asap, Framing::Tagged, false)
            .is_err());
    }

    #[test]
    fn associations_opened_by_peers_are_bounded() {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let aborted = Arc::new(Mutex::new(Vec::new()));
        let mut s = Sctp::new(SctpKind::Usrsctp);
        let fake = Fake {
            next: 0,
            sent,
            aborted: aborted.clone(),
        };
        s.push(Box::new(fake), Protocol::Asap, Framing::Plain);
        let inner = |i: usize| AssocId(SCTP_ASSOC_BIT | (i as u32 + 1));
        for i in 0..MAX_ASSOCIATIONS {
            assert!(matches!(
                s.event(0, up(inner(i), peer(1))),
                Outcome::Event(TransportEvent::Up { .. })
            ));
        }
        assert!(aborted.lock().unwrap().is_empty());
        // One more: aborted, not reported, not kept.
        let extra = inner(MAX_ASSOCIATIONS);
        assert!(matches!(s.event(0, up(extra, peer(1))), Outcome::None));
        assert_eq!(*aborted.lock().unwrap(), [extra]);
        assert_eq!(s.association_count(), MAX_ASSOCIATIONS);
        assert!(matches!(s.event(0, message(extra, 11)), Outcome::None));
        // Once one is gone, a new one is taken again.
        assert!(matches!(
            s.event(0, SctpEvent::Down { assoc: inner(0) }),
            Outcome::Event(TransportEvent::Down { .. })
        ));
        assert!(matches!(
            s.event(0, up(extra, peer(1))),
            Outcome::Event(TransportEvent::Up { .. })
        ));
    }
}
