//! Helpers shared by the simulation tests: pools of one registrar and of
//! ENRP registrars, checks of what the registrars hold, rogue exchanges.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::id::PeId;
use rserpool::id::ServerId;
use rserpool::sim::rogue::Received;
use rserpool::sim::scenario::server_id;
use rserpool::sim::Profile;
use rserpool::sim::{NodeId, RogueNode};
use rserpool::sim::{Options, Simulation};
use rserpool::time::{Duration, Instant};
use rserpool::wire::{AsapMessage, PoolElementParam, TransportParam, UserTransport};
use rserpool::Policy;

/// A small pool: 1 registrar, 5 PEs, 3 users at 2 requests/s, 60 s.
pub fn small(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options {
        elements: 5,
        users: 3,
        rate: 2.0,
        duration: Duration::from_secs(60),
        drain: Duration::from_secs(10),
        ..Options::default()
    };
    f(&mut o);
    o.validate().unwrap();
    o
}

/// Seconds as an instant.
pub fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

/// The PE ids registrar `number` holds, sorted.
pub fn held(sim: &Simulation, number: usize) -> Vec<PeId> {
    sim.registrar(number)
        .map(|r| r.held().into_iter().map(|h| h.pe_id).collect())
        .unwrap_or_default()
}

/// PE `number`'s current identifier.
pub fn pe_id(sim: &Simulation, number: usize) -> PeId {
    sim.element(number).unwrap().pe_id()
}

/// Asserts every live PE is registered at registrar `number` and owned by it.
pub fn all_registered_at(sim: &Simulation, number: usize) {
    let reg = sim.registrar(number).expect("registrar alive");
    let held = reg.held();
    for n in 1..=sim.elements.len() {
        let Some(el) = sim.element(n) else { continue };
        assert!(el.is_registered(), "PE {n} not registered");
        let id = el.pe_id();
        let h = held.iter().find(|h| h.pe_id == id);
        assert!(
            h.is_some(),
            "PE {n} ({}) not held by registrar {number}",
            id.get()
        );
        assert_eq!(h.unwrap().owner, Some(server_id(number)));
    }
}

/// Asserts the end-of-run consistency check passed, showing the problems.
pub fn consistent(sim: &Simulation) {
    let c = sim.consistency();
    assert!(c.ok(), "inconsistent: {:#?}", c.problems);
}

/// Encodes an ASAP message.
pub fn encode(m: &AsapMessage<'_>) -> Vec<u8> {
    let mut buf = vec![0; m.buffer_len()];
    let n = m.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// A REGISTRATION of `pe` in `pool` with `life_ms`, serving SCTP on `ip`.
pub fn registration(pool: &[u8], pe: PeId, life_ms: i32, ip: IpAddr) -> Vec<u8> {
    let addrs = [ip];
    encode(&AsapMessage::Registration {
        pool_handle: pool,
        pool_element: PoolElementParam {
            pe_id: pe,
            home_server: None,
            registration_life: life_ms,
            user_transport: UserTransport::Transport(TransportParam::new(
                TransportProtocol::Sctp,
                9000,
                TransportUse::DataAndControl,
                &addrs,
            )),
            policy: Policy::RoundRobin.into(),
            asap_transport: None,
        },
    })
}

/// `message` with one more parameter of `param_type` (4 bytes of value).
pub fn with_parameter(mut message: Vec<u8>, param_type: u16) -> Vec<u8> {
    message.extend_from_slice(&param_type.to_be_bytes());
    message.extend_from_slice(&[0, 8, 1, 2, 3, 4]);
    let len = message.len() as u16;
    message[2..4].copy_from_slice(&len.to_be_bytes());
    message
}

/// Makes the rogue send `bytes` on its first association, runs 200 ms and
/// returns what it received meanwhile.
pub fn rogue_exchange(sim: &mut Simulation, rogue: NodeId, bytes: &[u8]) -> Vec<Received> {
    sim.world
        .with_node::<RogueNode, _>(rogue, |r, ctx| r.send_asap(ctx, 0, bytes))
        .expect("rogue alive");
    sim.world.run_for(Duration::from_millis(200));
    sim.world
        .with_node::<RogueNode, _>(rogue, |r, _| r.take_received())
        .unwrap()
}

/// Parses the messages a rogue received.
pub fn parsed(received: &[Received]) -> Vec<AsapMessage<'_>> {
    received
        .iter()
        .map(|r| AsapMessage::parse(&r.bytes).expect("well-formed answer"))
        .collect()
}

// ENRP pools of several registrars.

/// `registrars` ENRP registrars with static peers (rsplib timers), `elements`
/// PEs, no users, 120 s.
pub fn pool(registrars: usize, elements: usize, f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options {
        registrars,
        elements,
        users: 0,
        enrp: true,
        profile: Profile::Rsplib,
        duration: Duration::from_secs(120),
        drain: Duration::from_secs(10),
        ..Options::default()
    };
    f(&mut o);
    o.validate().unwrap();
    o
}

/// Asserts the registrars have settled and the check finds nothing wrong
/// and nothing pending.
pub fn strictly_consistent(sim: &Simulation) {
    assert!(sim.settled(), "not settled at {}", sim.world.now());
    let c = sim.consistency();
    assert!(
        c.ok() && c.pending.is_empty(),
        "at {}: problems {:#?}, pending {:#?}",
        sim.world.now(),
        &c.problems[..c.problems.len().min(20)],
        &c.pending[..c.pending.len().min(20)]
    );
}

/// For each PE, the owners the live registrars record.
pub fn owners(sim: &Simulation) -> BTreeMap<PeId, BTreeSet<Option<ServerId>>> {
    let mut m: BTreeMap<PeId, BTreeSet<Option<ServerId>>> = BTreeMap::new();
    for n in 1..=sim.registrars.len() {
        let Some(r) = sim.registrar(n) else { continue };
        for h in r.held() {
            m.entry(h.pe_id).or_default().insert(h.owner);
        }
    }
    m
}

/// The PEs registrar `number` holds as owned by `owner`.
pub fn owned_by(sim: &Simulation, number: usize, owner: usize) -> Vec<PeId> {
    sim.registrar(number)
        .map(|r| {
            r.held()
                .into_iter()
                .filter(|h| h.owner == Some(server_id(owner)))
                .map(|h| h.pe_id)
                .collect()
        })
        .unwrap_or_default()
}

/// The live registrar numbers.
pub fn live(sim: &Simulation) -> Vec<usize> {
    (1..=sim.registrars.len())
        .filter(|&n| sim.registrar(n).is_some())
        .collect()
}

/// Asserts every live registrar holds every registered PE of a live node
/// (each can resolve it), and the count of them.
pub fn resolvable_everywhere(sim: &Simulation, expected: usize) {
    let registered = sim.registered();
    assert_eq!(registered.len(), expected, "registered PEs");
    for n in live(sim) {
        let held: BTreeSet<PeId> = sim
            .registrar(n)
            .unwrap()
            .held()
            .into_iter()
            .map(|h| h.pe_id)
            .collect();
        let missing = registered
            .iter()
            .filter(|(pe, _)| !held.contains(pe))
            .count();
        assert_eq!(missing, 0, "registrar {n} misses {missing} PEs");
    }
}

/// The registrar numbers of a set of nodes.
pub fn numbers(sim: &Simulation, nodes: &[NodeId]) -> Vec<usize> {
    nodes
        .iter()
        .filter_map(|n| sim.registrars.iter().position(|r| r == n).map(|i| i + 1))
        .collect()
}
