//! Two registrars wired back to back (a tiny network in the test): a new
//! registrar joins through its mentor, updates flow both ways, checksums
//! agree, and the survivor takes over when the other fails.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::support::enrp::*;
use crate::support::pair::{Pair, Side};
use rserpool::registrar::EnrpEvent;
use rserpool::transmit::{Destination, Machine, Source, TransportEvent};
use rserpool::wire::Protocol;
use rserpool::{AssocId, Duration, Instant, PoolHandle};

/// Any number of registrars wired back to back (the three-registrar test;
/// two use [`Pair`]).
struct Mesh {
    r: Vec<Box<TestRegistrar>>,
    addr: Vec<SocketAddr>,
    links: HashMap<(usize, AssocId), (usize, AssocId)>,
    next: u32,
    alive: Vec<bool>,
}

impl Mesh {
    fn new(rs: Vec<Box<TestRegistrar>>, addr: Vec<SocketAddr>) -> Self {
        let n = rs.len();
        Mesh {
            r: rs,
            addr,
            links: HashMap::new(),
            next: 1000,
            alive: vec![true; n],
        }
    }

    fn settle(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            for i in 0..self.r.len() {
                if !self.alive[i] {
                    continue;
                }
                while let Some(c) = self.r[i].poll_connect() {
                    moved = true;
                    let Some(j) = self.addr.iter().position(|a| *a == c.remote) else {
                        continue;
                    };
                    if !self.alive[j] {
                        self.r[i].handle_transport_event(
                            now,
                            TransportEvent::ConnectFailed { remote: c.remote },
                        );
                        continue;
                    }
                    let (ai, aj) = (AssocId(self.next), AssocId(self.next + 1));
                    self.next += 2;
                    self.links.insert((i, ai), (j, aj));
                    self.links.insert((j, aj), (i, ai));
                    self.r[i].handle_transport_event(
                        now,
                        TransportEvent::Up {
                            assoc: ai,
                            remote: c.remote,
                            protocol: Protocol::Enrp,
                            verified: true,
                        },
                    );
                    let back = SocketAddr::new(self.addr[i].ip(), 40000);
                    self.r[j].handle_transport_event(
                        now,
                        TransportEvent::Up {
                            assoc: aj,
                            remote: back,
                            protocol: Protocol::Enrp,
                            verified: true,
                        },
                    );
                }
                for (t, b) in drain_all(&mut self.r[i]) {
                    if t.protocol != Protocol::Enrp {
                        continue;
                    }
                    moved = true;
                    match t.destination {
                        Destination::Association(a) => {
                            if let Some(&(j, aj)) = self.links.get(&(i, a)) {
                                if self.alive[j] {
                                    self.r[j].handle(
                                        now,
                                        Source::Association(aj),
                                        Protocol::Enrp,
                                        &b,
                                    );
                                }
                            }
                        }
                        Destination::Multicast => {
                            for j in 0..self.r.len() {
                                if j != i && self.alive[j] {
                                    let from =
                                        Source::Datagram(SocketAddr::new(self.addr[i].ip(), 40000));
                                    self.r[j].handle(now, from, Protocol::Enrp, &b);
                                }
                            }
                        }
                        Destination::Address(_) => {}
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn run(&mut self, from: Instant, end: Instant) {
        let mut now = from;
        self.settle(now);
        loop {
            let next = (0..self.r.len())
                .filter(|&i| self.alive[i])
                .filter_map(|i| self.r[i].poll_timeout())
                .min();
            let Some(t) = next else { return };
            if t > end {
                return;
            }
            now = now.max(t);
            for i in 0..self.r.len() {
                if self.alive[i] && self.r[i].poll_timeout().is_some_and(|x| x <= now) {
                    self.r[i].handle_timeout(now);
                }
            }
            self.settle(now);
        }
    }

    fn kill(&mut self, now: Instant, k: usize) {
        self.alive[k] = false;
        let gone: Vec<(usize, AssocId)> = self
            .links
            .iter()
            .filter(|(from, _)| from.0 == k)
            .map(|(_, to)| *to)
            .collect();
        for (j, a) in gone {
            self.r[j].handle_transport_event(now, TransportEvent::Down { assoc: a });
        }
        self.settle(now);
    }
}

fn reg(id: u32, addr: SocketAddr, peers: &[SocketAddr]) -> Box<TestRegistrar> {
    let mut c = enrp_config(peers);
    c.server_id = sid(id);
    c.enrp.local_address = addr;
    c.keep_alive_interval = None;
    c.enrp.max_handle_table_elements = 8;
    registrar(c)
}

#[test]
fn join_update_audit_and_takeover() {
    let (a_addr, b_addr) = (peer_addr(1), peer_addr(2));
    let mut a = reg(0xA, a_addr, &[]);
    a.handle_timeout(T0);
    up(&mut a, T0, 1);
    for id in 1..=20 {
        register_enrp(&mut a, T0, 1, "pool", &PeSpec::new(id));
    }
    let b = reg(0xB, b_addr, &[a_addr]);
    let mut net = Pair::new(a, a_addr, b, b_addr, T0);
    net.run_until(T0 + Duration::from_secs(3));
    // B joined: it downloaded A's 20 PEs.
    assert!(net.b.is_initialised());
    let ev = enrp_events(&mut net.b);
    assert!(
        ev.contains(&EnrpEvent::InitialisationDone {
            mentor: Some(sid(0xA)),
            pes: 20
        }),
        "{ev:?}"
    );
    assert_eq!(net.b.handlespace().owned_count(sid(0xA)), 20);
    // In pages of at most 8: 8 + 8 + 4.
    assert_eq!(net.a.enrp_stats().pages_sent, 3);
    // A registration at B reaches A.
    let t1 = T0 + Duration::from_secs(3);
    up(&mut net.b, t1, 5);
    register_enrp(&mut net.b, t1, 5, "pool", &PeSpec::new(30));
    // register_enrp drained B's HANDLE_UPDATE; so A learns it through the audit.
    net.run_until(T0 + Duration::from_secs(10));
    let h = PoolHandle::new(b"pool").unwrap();
    assert_eq!(
        net.a
            .handlespace()
            .lookup(&h, pe(30))
            .map(|v| v.home_registrar()),
        Some(Some(sid(0xB)))
    );
    assert_eq!(net.a.peer_checksum(sid(0xB)), net.b.own_checksum());
    assert_eq!(net.b.peer_checksum(sid(0xA)), net.a.own_checksum());
    assert!(net.a.enrp_stats().resyncs >= 1);
    // Direct update: a deregistration at A reaches B at once.
    let t2 = T0 + Duration::from_secs(10);
    assert_eq!(net.now, t2);
    net.a
        .handle(t2, src(1), Protocol::Asap, &deregistration("pool", 7));
    net.drive();
    assert!(net.b.handlespace().lookup(&h, pe(7)).is_none());
    assert_eq!(net.b.peer_checksum(sid(0xA)), net.a.own_checksum());
    // A fails: B takes over A's 19 PEs.
    net.kill(Side::A);
    let ev = enrp_events(&mut net.b);
    assert!(
        ev.contains(&EnrpEvent::TakeoverWon {
            target: sid(0xA),
            pes: 19
        }),
        "{ev:?}"
    );
    assert_eq!(net.b.handlespace().owned_count(sid(0xB)), 20);
    assert!(net.sent(Protocol::Enrp) > 0);
}

#[test]
fn three_registrars_one_fails_the_highest_survivor_takes_over() {
    let addrs = [peer_addr(1), peer_addr(2), peer_addr(3)];
    let mut a = reg(0xA, addrs[0], &[]);
    a.handle_timeout(T0);
    up(&mut a, T0, 1);
    for id in 1..=10 {
        register_enrp(&mut a, T0, 1, "pool", &PeSpec::new(id));
    }
    // B and C know A; they learn each other from A's peer list.
    let b = reg(0xB, addrs[1], &[addrs[0]]);
    let c = reg(0xC, addrs[2], &[addrs[0]]);
    let mut net = Mesh::new(vec![a, b, c], addrs.to_vec());
    net.run(T0, T0 + Duration::from_secs(20));
    for i in 0..3 {
        assert!(net.r[i].is_initialised());
        assert_eq!(net.r[i].handlespace().len(), 10, "registrar {i}");
    }
    let known: Vec<u32> = net.r[1]
        .peers()
        .iter()
        .filter_map(|p| p.server_id)
        .map(|s| s.get())
        .collect();
    assert!(known.contains(&0xA) && known.contains(&0xC), "{known:?}");
    for i in 0..3 {
        events(&mut net.r[i]);
    }
    let t1 = T0 + Duration::from_secs(20);
    net.kill(t1, 0);
    // (Within the keep-alive timeout: the PEs here never answer the
    // takeover's keep-alives, so the winner drops them after 5 s.)
    net.run(t1, t1 + Duration::from_secs(3));
    let won_c = enrp_events(&mut net.r[2]);
    let ev_b = enrp_events(&mut net.r[1]);
    assert!(
        won_c.contains(&EnrpEvent::TakeoverWon {
            target: sid(0xA),
            pes: 10
        }),
        "{won_c:?}"
    );
    assert!(
        !ev_b
            .iter()
            .any(|e| matches!(e, EnrpEvent::TakeoverWon { .. })),
        "{ev_b:?}"
    );
    // Both survivors agree: C owns all ten, checksums match.
    assert_eq!(net.r[1].handlespace().owned_count(sid(0xC)), 10);
    assert_eq!(net.r[2].owned_count(), 10);
    assert_eq!(net.r[1].peer_checksum(sid(0xC)), net.r[2].own_checksum());
    assert_eq!(net.r[2].peer_checksum(sid(0xB)), net.r[1].own_checksum());
    // Unanswered, the winner removes them and the other survivor follows.
    net.run(t1, t1 + Duration::from_secs(12));
    assert_eq!(net.r[2].owned_count(), 0);
    assert_eq!(net.r[1].handlespace().len(), 0);
}
