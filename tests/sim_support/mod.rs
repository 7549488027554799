//! Helpers shared by the simulation tests.
#![allow(dead_code)]

use rserpool::id::PeId;
use rserpool::sim::scenario::server_id;
use rserpool::sim::{Options, Simulation};
use rserpool::time::{Duration, Instant};

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

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::sim::rogue::Received;
use rserpool::sim::{NodeId, RogueNode};
use rserpool::wire::{AsapMessage, List, PoolElementParam, TransportParam, UserTransport};
use rserpool::Policy;
use std::net::IpAddr;

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

/// An empty PE list, for building messages.
pub fn no_elements<'a>() -> List<'a, PoolElementParam<'a>> {
    List::from_slice(&[])
}
