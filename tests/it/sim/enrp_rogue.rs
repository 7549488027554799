//! An outsider speaking ENRP to a registrar of an ENRP group (RFC 5355):
//! a forged HANDLE_UPDATE, a forged TAKEOVER_SERVER and requests for the
//! peer list and the handle table get no answer and change nothing; the
//! pool keeps being served.

use crate::support::enrp::enrp_from as enrp;
use crate::support::sim::*;
use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::sim::scenario::{registrar_addr, rogue_addr};
use rserpool::sim::{Payload, RogueNode, Simulation};
use rserpool::time::Duration;
use rserpool::wire::{
    EnrpBody, PolicyParam, PoolElementParam, TransportParam, UpdateAction, UserTransport,
};
use rserpool::ServerId;

#[test]
fn an_outsider_cannot_take_a_pe_or_a_peer_or_read_the_group() {
    let mut sim = Simulation::new(pool(2, 2, |o| {
        o.users = 2;
        o.duration = Duration::from_secs(60);
    }));
    let rogue = sim.add_rogue(Some(registrar_addr(1)));
    sim.world.run_until(at(10));
    let owners = |sim: &Simulation| {
        let mut v: Vec<_> = sim
            .registrar(1)
            .unwrap()
            .held()
            .into_iter()
            .map(|h| (h.pe_id, h.owner))
            .collect();
        v.sort();
        v
    };
    let before = owners(&sim);
    assert_eq!(before.len(), 2);
    let victim = before[0].0;
    let handle = sim.registrar(1).unwrap().held()[0].pool_handle;
    let handle = handle.as_bytes().to_vec();
    let highest = ServerId::new(u32::MAX).unwrap();
    let ip = [rogue_addr(1).ip()];
    let hijack = PoolElementParam {
        pe_id: victim,
        home_server: Some(highest),
        registration_life: -1,
        user_transport: UserTransport::Transport(TransportParam::new(
            TransportProtocol::Sctp,
            22,
            TransportUse::DataOnly,
            &ip,
        )),
        policy: PolicyParam::Known(rserpool::Policy::RoundRobin),
        asap_transport: None,
    };
    let peer2 = before
        .iter()
        .filter_map(|(_, o)| *o)
        .find(|o| Some(*o) != before[0].1);
    let messages = [
        enrp(
            highest,
            EnrpBody::HandleUpdate {
                takeover_suggested: false,
                action: UpdateAction::AddPe,
                pool_handle: &handle,
                pool_element: hijack,
            },
        ),
        enrp(highest, EnrpBody::ListRequest),
        enrp(
            highest,
            EnrpBody::HandleTableRequest {
                own_children_only: false,
            },
        ),
        enrp(
            highest,
            EnrpBody::TakeoverServer {
                target: peer2.unwrap_or(highest),
            },
        ),
    ];
    for m in &messages {
        sim.world
            .with_node::<RogueNode, _>(rogue, |r, ctx| r.send_raw(ctx, 0, Payload::Enrp, m))
            .unwrap();
    }
    sim.world.run_for(Duration::from_secs(5));
    let got = sim
        .world
        .with_node::<RogueNode, _>(rogue, |r, _| r.take_received())
        .unwrap();
    assert!(got.is_empty(), "answered: {got:?}");
    assert_eq!(owners(&sim), before);
    let summary = sim.run();
    assert!(summary.requests > 50, "{summary}");
    assert_eq!(summary.served, summary.requests, "{summary}");
    assert!(summary.handlespace_consistent, "{:?}", sim.consistency());
}
