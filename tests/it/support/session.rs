//! A virtual network for the session layer tests (quinn-proto `Pair`
//! style): one real registrar machine, one `SessionUser` and a few
//! `SessionElement`s, moving bytes between them in virtual time. Each
//! association carries messages in order; a crashed node's associations go
//! down at the other ends and what was in flight to or from it is lost.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::handlespace::Fixed;
use rserpool::pool_element::{OwnedTransport, PoolElementConfig};
use rserpool::pool_user::PoolUserConfig;
use rserpool::registrar::{Registrar, RegistrarConfig};
use rserpool::session::{
    element, user, ResendPolicy, SessionElement, SessionElementConfig, SessionId, SessionUser,
    SessionUserConfig,
};
use rserpool::storage::RedBlackTree;
use rserpool::transmit::{Destination, Machine, Source, TransportEvent};
use rserpool::wire::Protocol;
use rserpool::{AssocId, Duration, Instant, PeId, PoolHandle, ServerId};

pub type TestRegistrar = Registrar<RedBlackTree, Fixed<64, 16, 64, 4>, 64, 16, 16384, 64>;
pub type Su = SessionUser<4, 4096, 32>;
pub type Se = SessionElement<4, 4096, 32>;

pub const POOL: &[u8] = b"EchoPool";

pub fn pool() -> PoolHandle {
    PoolHandle::new(POOL).unwrap()
}

pub fn registrar_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 3863)
}

pub fn user_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)), 40000)
}

pub fn element_addr(n: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 2, n as u8 + 1)), 7000)
}

pub fn pe_id(n: usize) -> PeId {
    PeId::new(n as u32 + 1).unwrap()
}

pub fn registrar_machine() -> Box<TestRegistrar> {
    let mut c = RegistrarConfig::rsplib(ServerId::new(0x5E5E_0001).unwrap()).with_seed(7);
    c.announce = false;
    Box::new(Registrar::new(c))
}

pub fn user_config(resend: ResendPolicy) -> SessionUserConfig {
    let mut pu = PoolUserConfig::rsplib();
    pu.registrars.push(registrar_addr()).unwrap();
    pu.seed = 3;
    let mut c = SessionUserConfig::new(pu);
    c.resend = resend;
    c
}

pub fn element_machine(n: usize) -> Box<Se> {
    element_machine_trusting(n, &[])
}

/// [`element_machine`] trusting registrars on the `trusted` hosts too.
pub fn element_machine_trusting(n: usize, trusted: &[std::net::IpAddr]) -> Box<Se> {
    let a = element_addr(n);
    let t = OwnedTransport::new(
        TransportProtocol::Sctp,
        a.port(),
        TransportUse::DataAndControl,
        &[a.ip()],
    )
    .unwrap();
    let mut c = PoolElementConfig::rsplib(pool(), t);
    c.registrars.push(registrar_addr()).unwrap();
    c.trusted_registrars.extend(trusted.iter().copied());
    c.pe_id = Some(pe_id(n));
    c.seed = n as u64 + 11;
    Box::new(SessionElement::new(SessionElementConfig { element: c }).unwrap())
}

/// What a pool element's application does.
#[derive(Clone, Debug, Default)]
pub struct ElementApp {
    /// Answer every message with the same bytes and PPID.
    pub echo: bool,
    /// Send this cookie to every new session.
    pub cookie: Option<Vec<u8>>,
    /// Every message received: (session, ppid, bytes).
    pub received: Vec<(SessionId, u32, Vec<u8>)>,
    /// Every other event.
    pub events: Vec<element::Event>,
    /// Cookies echoed to it: (session, cookie).
    pub echoed: Vec<(SessionId, Vec<u8>)>,
    /// What arrived, in order: (session, "accepted" / "echo" / "message" / "closed").
    pub order: Vec<(SessionId, &'static str)>,
    /// Send this business card (PE numbers, in order) to every new session.
    pub card: Option<Vec<usize>>,
    /// Restarts so far.
    pub incarnation: u32,
    /// Per received message: (incarnation, network tick of its arrival).
    pub received_at: Vec<(u32, u64)>,
}

pub enum Kind {
    Registrar(Box<TestRegistrar>),
    User(Box<Su>),
    Element(Box<Se>, ElementApp),
}

pub struct Node {
    pub addr: SocketAddr,
    pub alive: bool,
    pub kind: Kind,
}

#[derive(Clone, Copy, Debug)]
struct Assoc {
    ends: [usize; 2],
    up: bool,
}

pub const REGISTRAR: usize = 0;
pub const USER: usize = 1;

/// The element node of PE `n`.
pub const fn element(n: usize) -> usize {
    2 + n
}

pub struct Net {
    pub now: Instant,
    pub nodes: Vec<Node>,
    assocs: BTreeMap<u32, Assoc>,
    next_assoc: u32,
    /// (to node, association, ppid, bytes), in order per association.
    in_flight: VecDeque<(usize, AssocId, u32, Vec<u8>)>,
    /// The user's messages: (session, ppid, bytes).
    pub user_received: Vec<(SessionId, u32, Vec<u8>)>,
    /// The network tick at which each of `user_received` arrived.
    pub user_ticks: Vec<u64>,
    /// The user's other events.
    pub user_events: Vec<user::Event>,
    /// Counts deliveries (a global order of arrivals).
    pub tick: u64,
    /// Acknowledge every answer as it arrives (answers carry the request's
    /// sequence number in their first 8 bytes).
    pub ack_answers: bool,
    buf: Vec<u8>,
}

impl Net {
    /// A registrar, a user and `elements` echoing pool elements, all
    /// started (the PEs register).
    pub fn new(elements: usize, resend: ResendPolicy) -> Self {
        Self::with_config(elements, user_config(resend))
    }

    /// As [`new`](Self::new), with the user's configuration.
    pub fn with_config(elements: usize, config: SessionUserConfig) -> Self {
        let mut nodes = vec![
            Node {
                addr: registrar_addr(),
                alive: true,
                kind: Kind::Registrar(registrar_machine()),
            },
            Node {
                addr: user_addr(),
                alive: true,
                kind: Kind::User(Box::new(Su::new(config))),
            },
        ];
        for n in 0..elements {
            nodes.push(Node {
                addr: element_addr(n),
                alive: true,
                kind: Kind::Element(
                    element_machine(n),
                    ElementApp {
                        echo: true,
                        ..Default::default()
                    },
                ),
            });
        }
        let mut net = Net {
            now: Instant::from_secs(1),
            nodes,
            assocs: BTreeMap::new(),
            next_assoc: 1,
            in_flight: VecDeque::new(),
            user_received: Vec::new(),
            user_ticks: Vec::new(),
            tick: 0,
            user_events: Vec::new(),
            ack_answers: false,
            buf: vec![0; 65536],
        };
        for n in 0..elements {
            net.start_element(n);
        }
        net
    }

    pub fn user(&mut self) -> &mut Su {
        match &mut self.nodes[USER].kind {
            Kind::User(u) => u,
            _ => unreachable!(),
        }
    }

    pub fn element(&mut self, n: usize) -> (&mut Se, &mut ElementApp) {
        match &mut self.nodes[element(n)].kind {
            Kind::Element(e, app) => (e, app),
            _ => unreachable!(),
        }
    }

    fn start_element(&mut self, n: usize) {
        let now = self.now;
        self.element(n).0.register(now);
    }

    /// Crashes node `i`: its associations go down at the other ends; what
    /// was in flight to or from it is lost.
    pub fn crash(&mut self, i: usize) {
        if !self.nodes[i].alive {
            return;
        }
        self.nodes[i].alive = false;
        let gone: Vec<(u32, Assoc)> = self
            .assocs
            .iter()
            .filter(|(_, a)| a.up && a.ends.contains(&i))
            .map(|(k, a)| (*k, *a))
            .collect();
        for (k, a) in gone {
            self.assocs.remove(&k);
            self.in_flight.retain(|(_, id, _, _)| id.0 != k);
            let other = if a.ends[0] == i { a.ends[1] } else { a.ends[0] };
            self.transport_event(other, TransportEvent::Down { assoc: AssocId(k) });
        }
    }

    /// Restarts a crashed node with a fresh machine (same address, same PE
    /// identifier; a PE registers again).
    pub fn restart(&mut self, i: usize) {
        if self.nodes[i].alive {
            return;
        }
        self.nodes[i].alive = true;
        match &mut self.nodes[i].kind {
            Kind::Registrar(r) => *r = registrar_machine(),
            Kind::Element(e, app) => {
                *e = element_machine(i - 2);
                app.order.push((SessionId(0), "restart"));
                app.incarnation += 1;
            }
            Kind::User(_) => panic!("the user is never restarted"),
        }
        if i >= 2 {
            self.start_element(i - 2);
        }
    }

    /// Association number `k` (modulo how many are up) fails without a
    /// crash (e.g. a path failure): both ends see it go down, and what was
    /// in flight on it is lost. Returns whether there was one.
    pub fn abort(&mut self, k: usize) -> bool {
        if self.assocs.is_empty() {
            return false;
        }
        let id = *self.assocs.keys().nth(k % self.assocs.len()).unwrap();
        let a = self.assocs.remove(&id).unwrap();
        self.in_flight.retain(|(_, x, _, _)| x.0 != id);
        for end in a.ends {
            self.transport_event(end, TransportEvent::Down { assoc: AssocId(id) });
        }
        true
    }

    /// Shuts association `assoc` down from node `i`'s side.
    fn close(&mut self, i: usize, assoc: AssocId) {
        if let Some(a) = self.assocs.remove(&assoc.0) {
            self.in_flight.retain(|(_, id, _, _)| *id != assoc);
            let other = if a.ends[0] == i { a.ends[1] } else { a.ends[0] };
            self.transport_event(other, TransportEvent::Down { assoc });
        }
    }

    fn transport_event(&mut self, i: usize, e: TransportEvent) {
        if !self.nodes[i].alive {
            return;
        }
        let now = self.now;
        match &mut self.nodes[i].kind {
            Kind::Registrar(r) => r.handle_transport_event(now, e),
            Kind::User(u) => u.handle_transport_event(now, e),
            Kind::Element(s, _) => s.handle_transport_event(now, e),
        }
    }

    fn connect(&mut self, from: usize, remote: SocketAddr) {
        let to = self
            .nodes
            .iter()
            .enumerate()
            .position(|(k, n)| k != from && n.alive && n.addr == remote);
        match to {
            Some(to) => {
                let id = self.next_assoc;
                self.next_assoc += 1;
                self.assocs.insert(
                    id,
                    Assoc {
                        ends: [from, to],
                        up: true,
                    },
                );
                let assoc = AssocId(id);
                let from_addr = self.nodes[from].addr;
                self.transport_event(
                    from,
                    TransportEvent::Up {
                        assoc,
                        remote,
                        protocol: Protocol::Asap,
                        verified: true,
                    },
                );
                self.transport_event(
                    to,
                    TransportEvent::Up {
                        assoc,
                        remote: from_addr,
                        protocol: Protocol::Asap,
                        verified: true,
                    },
                );
            }
            None => self.transport_event(from, TransportEvent::ConnectFailed { remote }),
        }
    }

    fn send(&mut self, from: usize, destination: Destination, ppid: u32, bytes: Vec<u8>) {
        let Destination::Association(assoc) = destination else {
            return;
        };
        let Some(a) = self.assocs.get(&assoc.0) else {
            return;
        };
        let to = if a.ends[0] == from {
            a.ends[1]
        } else {
            a.ends[0]
        };
        self.in_flight.push_back((to, assoc, ppid, bytes));
    }

    /// Lets node `i` act: connects, closes, transmits, events. Returns
    /// whether anything happened.
    fn poll_node(&mut self, i: usize) -> bool {
        if !self.nodes[i].alive {
            return false;
        }
        let mut busy = false;
        loop {
            let now = self.now;
            let connect;
            let mut close = None;
            let mut transmit = None;
            match &mut self.nodes[i].kind {
                Kind::Registrar(r) => {
                    connect = r.poll_connect().map(|c| c.remote);
                    if connect.is_none() {
                        transmit = r.poll_transmit(&mut self.buf).unwrap().map(|t| {
                            (t.destination, t.protocol.ppid(), self.buf[..t.len].to_vec())
                        });
                    }
                    while r.poll_event().is_some() {}
                }
                Kind::User(u) => {
                    connect = u.poll_connect().map(|c| c.remote());
                    close = u.poll_close();
                    transmit = u
                        .poll_transmit(&mut self.buf)
                        .unwrap()
                        .map(|t| (t.destination, t.ppid, self.buf[..t.len].to_vec()));
                    while let Some(e) = u.poll_event(&mut self.buf).unwrap() {
                        busy = true;
                        if let user::Event::Message { session, ppid, len } = e {
                            let bytes = self.buf[..len].to_vec();
                            if self.ack_answers && len >= 8 {
                                let seq = u64::from_be_bytes(bytes[..8].try_into().unwrap());
                                u.acknowledge(session, seq).unwrap();
                            }
                            self.user_received.push((session, ppid, bytes));
                            self.user_ticks.push(self.tick);
                        } else {
                            self.user_events.push(e);
                        }
                    }
                    let _ = now;
                }
                Kind::Element(s, app) => {
                    connect = s.poll_connect().map(|c| c.remote());
                    close = s.poll_close();
                    transmit = s
                        .poll_transmit(&mut self.buf)
                        .unwrap()
                        .map(|t| (t.destination, t.ppid, self.buf[..t.len].to_vec()));
                    while let Some(e) = s.poll_event(&mut self.buf).unwrap() {
                        busy = true;
                        match e {
                            element::Event::Message { session, ppid, len } => {
                                let bytes = self.buf[..len].to_vec();
                                if app.echo {
                                    // The session may be closed already
                                    // (the message arrived before).
                                    let _ = s.send(session, ppid, &bytes);
                                }
                                app.received.push((session, ppid, bytes));
                                app.received_at.push((app.incarnation, self.tick));
                                app.order.push((session, "message"));
                            }
                            element::Event::Accepted { session, .. } => {
                                if let Some(c) = &app.cookie {
                                    s.send_cookie(session, c).unwrap();
                                }
                                if let Some(card) = &app.card {
                                    send_card(s, session, card);
                                }
                                app.order.push((session, "accepted"));
                                app.events.push(e);
                            }
                            element::Event::CookieEcho { session } => {
                                let c = s.cookie_echo(session).unwrap().to_vec();
                                app.echoed.push((session, c));
                                app.order.push((session, "echo"));
                                app.events.push(e);
                            }
                            element::Event::Closed { session, .. } => {
                                app.order.push((session, "closed"));
                                app.events.push(e);
                            }
                            other => app.events.push(other),
                        }
                    }
                }
            }
            let acted = connect.is_some() || close.is_some() || transmit.is_some();
            if let Some(remote) = connect {
                self.connect(i, remote);
            }
            if let Some(assoc) = close {
                self.close(i, assoc);
            }
            if let Some((d, ppid, bytes)) = transmit {
                self.send(i, d, ppid, bytes);
            }
            if !acted {
                return busy;
            }
            busy = true;
        }
    }

    /// Delivers one message in flight; `false` when none could be.
    fn deliver_one(&mut self) -> bool {
        let Some((to, assoc, ppid, bytes)) = self.in_flight.pop_front() else {
            return false;
        };
        if !self.nodes[to].alive || !self.assocs.contains_key(&assoc.0) {
            return true;
        }
        self.tick += 1;
        let now = self.now;
        let source = Source::Association(assoc);
        let refused = match &mut self.nodes[to].kind {
            Kind::Registrar(r) => {
                if let Some(p) = Protocol::from_ppid(ppid) {
                    r.handle(now, source, p, &bytes);
                }
                false
            }
            Kind::User(u) => u.handle(now, source, ppid, &bytes).is_err(),
            Kind::Element(s, _) => s.handle(now, source, ppid, &bytes).is_err(),
        };
        if refused {
            // Back-pressure: the transport keeps it; the application drains
            // its events in the next poll.
            self.in_flight.push_front((to, assoc, ppid, bytes));
            self.poll_node(to);
        }
        true
    }

    /// Lets every node put its output on the network, delivering nothing.
    pub fn flush(&mut self) {
        for i in 0..self.nodes.len() {
            self.poll_node(i);
        }
    }

    /// Delivers at most `k` messages in flight, oldest first.
    pub fn deliver(&mut self, k: usize) {
        for _ in 0..k {
            if !self.deliver_one() {
                return;
            }
        }
    }

    /// Runs until nothing moves at the current time.
    pub fn settle(&mut self) {
        for _ in 0..100_000 {
            let mut busy = false;
            for i in 0..self.nodes.len() {
                busy |= self.poll_node(i);
            }
            while self.deliver_one() {
                busy = true;
                for i in 0..self.nodes.len() {
                    self.poll_node(i);
                }
            }
            if !busy {
                return;
            }
        }
        panic!("the network does not settle");
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.nodes
            .iter()
            .filter(|n| n.alive)
            .filter_map(|n| match &n.kind {
                Kind::Registrar(r) => r.poll_timeout(),
                Kind::User(u) => u.poll_timeout(),
                Kind::Element(s, _) => s.poll_timeout(),
            })
            .min()
    }

    /// Runs for `d` of virtual time.
    pub fn run(&mut self, d: Duration) {
        let end = self.now + d;
        self.settle();
        while let Some(t) = self.next_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            let now = self.now;
            for n in self.nodes.iter_mut().filter(|n| n.alive) {
                match &mut n.kind {
                    Kind::Registrar(r) => {
                        if r.poll_timeout().is_some_and(|x| x <= now) {
                            r.handle_timeout(now)
                        }
                    }
                    Kind::User(u) => {
                        if u.poll_timeout().is_some_and(|x| x <= now) {
                            u.handle_timeout(now)
                        }
                    }
                    Kind::Element(s, _) => {
                        if s.poll_timeout().is_some_and(|x| x <= now) {
                            s.handle_timeout(now)
                        }
                    }
                }
            }
            self.settle();
        }
        self.now = end;
        self.settle();
    }

    /// Whether PE `n` is registered.
    pub fn registered(&mut self, n: usize) -> bool {
        self.element(n).0.element().is_registered()
    }

    /// The PE each received user message went to, by node.
    pub fn element_messages(&mut self, n: usize) -> Vec<(SessionId, u32, Vec<u8>)> {
        self.element(n).1.received.clone()
    }
}

/// A request body: its sequence number, then `n` bytes.
pub fn body(seq: u64, n: usize) -> Vec<u8> {
    let mut b = seq.to_be_bytes().to_vec();
    b.extend((0..n).map(|i| (seq as usize + i) as u8));
    b
}

/// Sends a business card listing the PEs `card` (by number).
pub fn send_card(s: &mut Se, session: SessionId, card: &[usize]) {
    use rserpool::wire::{PoolElementParam, TransportParam};
    let addrs: Vec<[IpAddr; 1]> = card.iter().map(|&n| [element_addr(n).ip()]).collect();
    let params: Vec<PoolElementParam<'_>> = card
        .iter()
        .zip(addrs.iter())
        .map(|(&n, a)| PoolElementParam {
            pe_id: pe_id(n),
            home_server: None,
            registration_life: 30_000,
            user_transport: TransportParam::new(
                TransportProtocol::Sctp,
                element_addr(n).port(),
                TransportUse::DataAndControl,
                a,
            )
            .into(),
            policy: rserpool::Policy::RoundRobin.into(),
            asap_transport: None,
        })
        .collect();
    s.send_business_card(session, &params).unwrap();
}
