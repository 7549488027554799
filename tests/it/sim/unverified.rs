//! A pool user behind an unverified path (as over UDP): the registrar
//! challenges it, it echoes, and it still gets complete resolutions, one
//! round trip later than a pool user over a verified path.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::pool_element::{OwnedTransport, PoolElement, PoolElementConfig};
use rserpool::pool_user::{PoolUser, PoolUserConfig, PoolUserError, SendOptions};
use rserpool::registrar::RegistrarConfig;
use rserpool::sim::scenario::{registrar_addr, server_id};
use rserpool::sim::{MachineNode, NetConfig, NodeId, SimRegistrar, World};
use rserpool::time::{Duration, Instant};
use rserpool::wire::ASAP_PORT;
use rserpool::PoolHandle;

const PES: usize = 40;
type Pu = PoolUser<4, 64>;

fn pool() -> PoolHandle {
    PoolHandle::new(b"udp-pool").unwrap()
}

fn addr(a: u8, b: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, a, b)), ASAP_PORT)
}

fn user(world: &mut World, name: &str, at: SocketAddr) -> NodeId {
    let mut c = PoolUserConfig::rfc();
    c.registrars.push(registrar_addr(1)).unwrap();
    // Every PE of the pool.
    c.resolution_items = None;
    world.add_node(
        name,
        at,
        &[],
        Box::new(move |_| Box::new(MachineNode::new(Pu::new(c.clone())))),
    )
}

fn cached(world: &World, id: NodeId) -> usize {
    let mut out = [rserpool::PeId::new(1).unwrap(); 64];
    world
        .node_as::<MachineNode<Pu>>(id)
        .unwrap()
        .machine
        .cached_elements(&pool(), &mut out)
}

#[test]
fn a_pool_user_behind_an_unverified_path_gets_complete_resolutions_one_round_trip_later() {
    let delay = Duration::from_millis(5);
    let net = NetConfig {
        delay,
        jitter: Duration::ZERO,
        ..NetConfig::default()
    };
    let mut world = World::new(11, net);
    let mut rc = RegistrarConfig::rfc(server_id(1)).with_seed(3);
    rc.announce = false;
    world.add_node(
        "registrar",
        registrar_addr(1),
        &[],
        Box::new(move |_| Box::new(SimRegistrar::new(rc.clone()))),
    );
    let mut elements = Vec::new();
    for n in 1..=PES as u8 {
        let at = addr(1, n);
        let t = OwnedTransport::new(
            TransportProtocol::Sctp,
            7000,
            TransportUse::DataOnly,
            &[at.ip()],
        )
        .unwrap();
        let mut c = PoolElementConfig::rfc(pool(), t);
        c.registrars.push(registrar_addr(1)).unwrap();
        c.seed = u64::from(n);
        let id = world.add_node(
            &format!("pe{n}"),
            at,
            &[],
            Box::new(move |_| Box::new(MachineNode::new(PoolElement::new(c.clone()).unwrap()))),
        );
        elements.push(id);
    }
    // Half the PEs register over unverified paths too: their answers are
    // small, so they are not challenged.
    for id in elements.iter().step_by(2) {
        world.set_unverified(*id, true);
    }
    for id in &elements {
        world.with_node::<MachineNode<PoolElement>, _>(*id, |n, ctx| n.machine.register(ctx.now()));
    }
    world.run_for(Duration::from_secs(1));
    for id in &elements {
        let pe = &world
            .node_as::<MachineNode<PoolElement>>(*id)
            .unwrap()
            .machine;
        assert!(pe.is_registered());
        assert_eq!(pe.challenges_answered(), 0);
    }

    let verified = user(&mut world, "pu-sctp", addr(2, 1));
    let unverified = user(&mut world, "pu-udp", addr(2, 2));
    world.set_unverified(unverified, true);
    let start = world.now();
    for id in [verified, unverified] {
        let r = world.with_node::<MachineNode<Pu>, _>(id, |n, ctx| {
            n.machine.select(ctx.now(), &pool(), SendOptions::DEFAULT)
        });
        assert_eq!(r.unwrap().unwrap_err(), PoolUserError::WouldBlock);
    }
    let mut done: [Option<Instant>; 2] = [None, None];
    while done.iter().any(Option::is_none) && world.now() < start + Duration::from_secs(1) {
        world.run_for(Duration::from_micros(500));
        for (k, id) in [verified, unverified].into_iter().enumerate() {
            if done[k].is_none() && cached(&world, id) > 0 {
                done[k] = Some(world.now());
            }
        }
    }
    // Both complete: every PE (the registrar lists up to 128).
    assert_eq!(cached(&world, verified), PES);
    assert_eq!(cached(&world, unverified), PES);
    let (Some(v), Some(u)) = (done[0], done[1]) else {
        panic!("unresolved: {done:?}");
    };
    // Connect (one round trip) and resolution (one round trip) for the
    // verified user; the challenge and echo add exactly one more.
    assert_eq!(v - start, Duration::from_millis(20));
    assert_eq!(u - start, Duration::from_millis(30));
    let pu = &world
        .node_as::<MachineNode<Pu>>(unverified)
        .unwrap()
        .machine;
    assert_eq!(pu.challenges_answered(), 1);
    assert_eq!(
        world
            .node_as::<MachineNode<Pu>>(verified)
            .unwrap()
            .machine
            .challenges_answered(),
        0
    );
    let reg = world.node_as::<SimRegistrar>(NodeId(0)).unwrap();
    let s = reg.machine.stats();
    assert_eq!((s.challenges_sent, s.paths_verified), (1, 1));

    // The next resolution of the unverified user is answered at once.
    let again = world.now() + Duration::from_secs(60);
    world.run_until(again);
    let before = reg_resolutions(&world);
    let t = world.now();
    world.with_node::<MachineNode<Pu>, _>(unverified, |n, ctx| {
        // Stale after the cache's lifetime: a new resolution starts.
        let _ = n.machine.select(ctx.now(), &pool(), SendOptions::DEFAULT);
    });
    world.run_until(t + Duration::from_secs(1));
    assert_eq!(reg_resolutions(&world), before + 1);
    let s = *world
        .node_as::<SimRegistrar>(NodeId(0))
        .unwrap()
        .machine
        .stats();
    assert_eq!(s.challenges_sent, 1);
}

fn reg_resolutions(world: &World) -> u64 {
    world
        .node_as::<SimRegistrar>(NodeId(0))
        .unwrap()
        .machine
        .stats()
        .resolutions
}

#[test]
fn a_pool_of_udp_users_is_served_after_one_challenge_each() {
    use crate::support::sim::small;
    use rserpool::sim::Simulation;
    let mut sim = Simulation::new(small(|o| o.udp_users = true));
    let summary = sim.run();
    assert!(summary.requests >= 250, "{summary}");
    assert_eq!(summary.served, summary.requests);
    assert_eq!((summary.lost, summary.failovers), (0, 0));
    assert!(summary.handlespace_consistent);
    for n in 1..=3 {
        let u = sim.user(n).unwrap();
        assert!(u.pool_user().challenges_answered() >= 1, "user {n}");
    }
    let stats = sim.registrar(1).unwrap().stats();
    // Each user's registrar association was verified once, and each
    // challenge answered a withheld request.
    assert_eq!(stats.paths_verified, 3, "{stats:?}");
    assert!(stats.challenges_sent >= 3);
    assert_eq!(stats.echoes_rejected, 0);
}
