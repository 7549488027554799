//! The simulator core with small stand-in machines: associations, ordering,
//! faults, crashes, restarts, multicast and determinism.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use rserpool::id::AssocId;
use rserpool::sim::{MachineNode, NetConfig, NodeId, World};
use rserpool::time::{Duration, Instant};
use rserpool::transmit::{Connect, Destination, Machine, Source, Transmit, TransportEvent};
use rserpool::wire::Protocol;

/// Echoes every ASAP message back where it came from; announces itself on
/// the multicast channel every second.
#[derive(Default)]
struct Echo {
    out: Vec<(Destination, Vec<u8>)>,
    events: Vec<(Instant, TransportEvent)>,
    next_announce: Option<Instant>,
    announce: bool,
}

impl Machine for Echo {
    fn handle(&mut self, _now: Instant, source: Source, _p: Protocol, bytes: &[u8]) {
        let d = match source {
            Source::Association(a) => Destination::Association(a),
            Source::Datagram(addr) => Destination::Address(addr),
        };
        self.out.push((d, bytes.to_vec()));
    }
    fn handle_transport_event(&mut self, now: Instant, event: TransportEvent) {
        self.events.push((now, event));
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.out.push((Destination::Multicast, vec![0x0A, 0, 0, 4]));
        self.next_announce = Some(now + Duration::from_secs(1));
    }
    fn poll_timeout(&self) -> Option<Instant> {
        if self.announce {
            Some(self.next_announce.unwrap_or(Instant::ZERO))
        } else {
            None
        }
    }
    fn peek_transmit(&self) -> Option<(Transmit, &[u8])> {
        let (destination, bytes) = self.out.first()?;
        Some((
            Transmit {
                destination: *destination,
                protocol: Protocol::Asap,
                len: bytes.len(),
            },
            bytes,
        ))
    }
    fn consume_transmit(&mut self) {
        if !self.out.is_empty() {
            self.out.remove(0);
        }
    }
    fn poll_connect(&mut self) -> Option<Connect> {
        None
    }
}

/// Connects to `server` at start and sends `count` numbered messages once up.
struct Client {
    server: SocketAddr,
    connect: bool,
    count: u8,
    out: Vec<(Destination, Vec<u8>)>,
    received: Vec<(Instant, Source, Vec<u8>)>,
    events: Vec<(Instant, TransportEvent)>,
}

impl Client {
    fn new(server: SocketAddr, count: u8) -> Self {
        Client {
            server,
            connect: true,
            count,
            out: Vec::new(),
            received: Vec::new(),
            events: Vec::new(),
        }
    }
}

impl Machine for Client {
    fn handle(&mut self, now: Instant, source: Source, _p: Protocol, bytes: &[u8]) {
        self.received.push((now, source, bytes.to_vec()));
    }
    fn handle_transport_event(&mut self, now: Instant, event: TransportEvent) {
        self.events.push((now, event));
        if let TransportEvent::Up { assoc, .. } = event {
            for i in 0..self.count {
                self.out
                    .push((Destination::Association(assoc), vec![0x0B, 0, 0, 5, i]));
            }
        }
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn peek_transmit(&self) -> Option<(Transmit, &[u8])> {
        let (destination, bytes) = self.out.first()?;
        Some((
            Transmit {
                destination: *destination,
                protocol: Protocol::Asap,
                len: bytes.len(),
            },
            bytes,
        ))
    }
    fn consume_transmit(&mut self) {
        if !self.out.is_empty() {
            self.out.remove(0);
        }
    }
    fn poll_connect(&mut self) -> Option<Connect> {
        if std::mem::take(&mut self.connect) {
            Some(Connect {
                remote: self.server,
                protocol: Protocol::Asap,
            })
        } else {
            None
        }
    }
}

fn addr(last: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)), 3863)
}

fn server(world: &mut World, announce: bool) -> NodeId {
    world.add_node(
        "echo",
        addr(1),
        &[],
        Box::new(move |_| {
            Box::new(MachineNode::new(Echo {
                announce,
                ..Echo::default()
            }))
        }),
    )
}

fn client(world: &mut World, last: u8, count: u8) -> NodeId {
    world.add_node(
        "client",
        addr(last),
        &[Protocol::Asap],
        Box::new(move |_| Box::new(MachineNode::new(Client::new(addr(1), count)))),
    )
}

fn client_state(world: &World, id: NodeId) -> &Client {
    &world.node_as::<MachineNode<Client>>(id).unwrap().machine
}

#[test]
fn association_comes_up_on_both_ends_and_delivers_in_order_despite_loss() {
    let net = NetConfig {
        jitter: Duration::from_millis(20),
        loss: 0.3,
        ..NetConfig::default()
    };
    let mut world = World::new(1, net);
    let s = server(&mut world, false);
    let c = client(&mut world, 2, 50);
    world.run_until(Instant::from_secs(60));
    let cl = client_state(&world, c);
    assert_eq!(cl.events.len(), 1);
    let (up_at, TransportEvent::Up { assoc, remote, .. }) = cl.events[0] else {
        panic!("{:?}", cl.events);
    };
    assert_eq!(remote, addr(1));
    // Two one-way delays of at least 5 ms each.
    assert!(up_at >= Instant::from_millis(10), "{up_at}");
    // Reliable and ordered: every message comes back once, in order.
    let got: Vec<u8> = cl.received.iter().map(|r| r.2[4]).collect();
    assert_eq!(got, (0..50).collect::<Vec<u8>>());
    assert!(cl
        .received
        .iter()
        .all(|r| r.1 == Source::Association(assoc)));
    assert!(world.counters().retransmissions > 0);
    let srv = &world.node_as::<MachineNode<Echo>>(s).unwrap().machine;
    assert!(
        matches!(srv.events[..], [(_, TransportEvent::Up { remote, .. })] if remote == addr(2))
    );
}

#[test]
fn crash_is_seen_as_down_after_the_detection_delay_and_restart_is_fresh() {
    let mut world = World::new(2, NetConfig::default());
    let s = server(&mut world, false);
    let c = client(&mut world, 2, 1);
    world.schedule_crash(s, Instant::from_secs(10));
    world.schedule_restart(s, Instant::from_secs(12));
    world.run_until(Instant::from_secs(30));
    let cl = client_state(&world, c);
    assert_eq!(cl.received.len(), 1);
    let downs: Vec<Instant> = cl
        .events
        .iter()
        .filter(|e| matches!(e.1, TransportEvent::Down { .. }))
        .map(|e| e.0)
        .collect();
    assert_eq!(downs, vec![Instant::from_secs(15)]);
    assert!(world.is_alive(s));
    assert_eq!(world.incarnation(s), 1);
    // The restarted machine has forgotten the old association.
    let srv = &world.node_as::<MachineNode<Echo>>(s).unwrap().machine;
    assert!(srv.events.is_empty());
    assert!(world.associations(s).is_empty());
    assert!(world.associations(c).is_empty());
}

#[test]
fn connect_to_nobody_fails_after_the_connect_timeout() {
    let mut world = World::new(3, NetConfig::default());
    let c = client(&mut world, 2, 1);
    world.run_until(Instant::from_secs(10));
    let cl = client_state(&world, c);
    assert_eq!(cl.events.len(), 1);
    let (at, ev) = cl.events[0];
    assert_eq!(ev, TransportEvent::ConnectFailed { remote: addr(1) });
    assert!(at >= Instant::from_secs(3) && at < Instant::from_millis(3_100));
}

#[test]
fn sending_on_an_unknown_association_fails() {
    let mut world = World::new(4, NetConfig::default());
    let c = client(&mut world, 2, 0);
    world.with_node::<MachineNode<Client>, _>(c, |n, _| {
        n.machine
            .out
            .push((Destination::Association(AssocId(77)), vec![0x0B, 0, 0, 4]));
    });
    world.run_until(Instant::from_secs(5));
    let cl = client_state(&world, c);
    assert!(cl.events.contains(&(
        Instant::ZERO,
        TransportEvent::SendFailed { assoc: AssocId(77) }
    )));
}

#[test]
fn multicast_reaches_subscribers_only_and_datagram_faults_apply() {
    let run = |net: NetConfig| {
        let mut world = World::new(5, net);
        server(&mut world, true);
        let subscribed = client(&mut world, 2, 0);
        let deaf = world.add_node(
            "deaf",
            addr(3),
            &[],
            Box::new(|_| Box::new(MachineNode::new(Client::new(addr(1), 0)))),
        );
        world.run_until(Instant::from_millis(9_500));
        let heard = |id| {
            client_state(&world, id)
                .received
                .iter()
                .filter(|r| matches!(r.1, Source::Datagram(a) if a == addr(1)))
                .count()
        };
        (heard(subscribed), heard(deaf))
    };
    assert_eq!(run(NetConfig::default()), (10, 0));
    let lossy = run(NetConfig {
        loss: 0.5,
        ..NetConfig::default()
    });
    assert!(lossy.0 > 0 && lossy.0 < 10, "{lossy:?}");
    let doubled = run(NetConfig {
        duplicate: 1.0,
        ..NetConfig::default()
    });
    assert_eq!(doubled, (20, 0));
}

fn traced_run(seed: u64) -> (u64, Vec<String>) {
    let net = NetConfig {
        jitter: Duration::from_millis(30),
        loss: 0.2,
        duplicate: 0.1,
        reorder: 0.2,
        ..NetConfig::default()
    };
    let mut world = World::new(seed, net);
    let log = Rc::new(RefCell::new(Vec::new()));
    let sink = log.clone();
    world.set_trace(Box::new(move |l| sink.borrow_mut().push(l.to_string())));
    let s = server(&mut world, true);
    for i in 0..5 {
        client(&mut world, 10 + i, 20);
    }
    world.schedule_crash(s, Instant::from_secs(3));
    world.schedule_restart(s, Instant::from_secs(4));
    world.run_until(Instant::from_secs(20));
    let lines = log.borrow().clone();
    (world.trace_hash(), lines)
}

#[test]
fn same_seed_same_trace_other_seed_other_trace() {
    let a = traced_run(9);
    let b = traced_run(9);
    assert_eq!(a, b);
    assert!(a.1.len() > 10);
    let c = traced_run(10);
    assert_ne!(a.0, c.0);
}

/// A machine that asks for a timeout in the past and never clears it.
struct Stuck {
    calls: u64,
}

impl Machine for Stuck {
    fn handle(&mut self, _: Instant, _: Source, _: Protocol, _: &[u8]) {}
    fn handle_transport_event(&mut self, _: Instant, _: TransportEvent) {}
    fn handle_timeout(&mut self, _: Instant) {
        self.calls += 1;
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(Instant::from_secs(1))
    }
    fn peek_transmit(&self) -> Option<(Transmit, &[u8])> {
        None
    }
    fn consume_transmit(&mut self) {}
    fn poll_connect(&mut self) -> Option<Connect> {
        None
    }
}

#[test]
fn a_timeout_that_stays_in_the_past_is_a_counted_timer_storm_and_time_goes_on() {
    let mut world = World::new(11, NetConfig::default());
    let s = world.add_node(
        "stuck",
        addr(9),
        &[],
        Box::new(|_| Box::new(MachineNode::new(Stuck { calls: 0 }))),
    );
    world.run_until(Instant::from_secs(10));
    assert_eq!(world.now(), Instant::from_secs(10));
    assert_eq!(world.counters().timer_storms, 1);
    let calls = world
        .node_as::<MachineNode<Stuck>>(s)
        .unwrap()
        .machine
        .calls;
    // 101 calls at 1 s, then one per second of backoff.
    assert!((101..=112).contains(&calls), "{calls}");
}

#[test]
fn a_short_partition_delays_association_messages_a_long_one_breaks_them() {
    use rserpool::sim::Partition;
    let run = |until: u64| {
        let mut world = World::new(12, NetConfig::default());
        let s = server(&mut world, false);
        let c = client(&mut world, 2, 0);
        world.run_until(Instant::from_secs(1));
        world.add_partition(Partition {
            groups: vec![vec![s], vec![c]],
            from: Instant::from_secs(2),
            until: Instant::from_secs(until),
        });
        world.schedule(Instant::from_secs(3), move |w| {
            w.with_node::<MachineNode<Client>, _>(c, |n, _| {
                let Some((_, TransportEvent::Up { assoc, .. })) = n.machine.events.first().copied()
                else {
                    panic!("not up")
                };
                n.machine
                    .out
                    .push((Destination::Association(assoc), vec![0x0B, 0, 0, 5, 42]));
            });
        });
        world.run_until(Instant::from_secs(30));
        let cl = client_state(&world, c).clone_state();
        let srv = world
            .node_as::<MachineNode<Echo>>(s)
            .unwrap()
            .machine
            .events
            .clone();
        (cl, srv)
    };
    // 2 s cut: the message waits and the echo comes back after the heal.
    let (cl, srv) = run(4);
    assert_eq!(cl.0.len(), 1);
    assert!(cl.0[0].0 >= Instant::from_secs(4), "{:?}", cl.0);
    assert!(!cl
        .1
        .iter()
        .any(|e| matches!(e.1, TransportEvent::Down { .. })));
    assert_eq!(srv.len(), 1);
    // 10 s cut: after 5 s both ends see Down; the message never arrives.
    let (cl, srv) = run(12);
    assert!(cl.0.is_empty());
    assert!(cl.1.contains(&(
        Instant::from_secs(7),
        TransportEvent::Down { assoc: AssocId(1) }
    )));
    assert!(matches!(
        srv.last(),
        Some((t, TransportEvent::Down { .. })) if *t == Instant::from_secs(7)
    ));
}

impl Client {
    #[allow(clippy::type_complexity)]
    fn clone_state(
        &self,
    ) -> (
        Vec<(Instant, Source, Vec<u8>)>,
        Vec<(Instant, TransportEvent)>,
    ) {
        (self.received.clone(), self.events.clone())
    }
}
