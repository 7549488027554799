//! A rogue node injects malformed, unknown and hostile messages at the
//! registrar: it answers with the right ASAP_ERROR or with silence, refuses
//! to let another association deregister or re-register someone else's
//! PE, and keeps serving the pool throughout.

use crate::support::sim::*;
use rserpool::cause::CauseCode;
use rserpool::sim::scenario::{registrar_addr, rogue_addr};
use rserpool::sim::{Payload, RogueNode, SimRegistrar, Simulation};
use rserpool::time::Duration;
use rserpool::wire::{AsapMessage, CauseData};
use rserpool::{PeId, PoolHandle};

fn setup() -> (Simulation, rserpool::sim::NodeId) {
    let mut sim = Simulation::new(small(|o| {
        o.elements = 2;
        o.users = 2;
        o.duration = Duration::from_secs(60);
    }));
    let rogue = sim.add_rogue(Some(registrar_addr(1)));
    sim.world.run_until(at(2));
    (sim, rogue)
}

fn error_cause(m: &AsapMessage<'_>) -> Option<(CauseCode, Vec<u8>)> {
    let AsapMessage::Error { error } = m else {
        return None;
    };
    let cause = error.causes.iter().next()?;
    let data = match cause.data {
        CauseData::Bytes(b) => b.to_vec(),
        _ => Vec::new(),
    };
    Some((cause.code, data))
}

fn finish_healthy(mut sim: Simulation) {
    let summary = sim.run();
    assert!(summary.requests > 100);
    assert_eq!(summary.served, summary.requests, "{summary}");
    assert_eq!(summary.lost, 0);
    assert!(summary.handlespace_consistent, "{:?}", sim.consistency());
}

#[test]
fn unknown_and_malformed_messages_get_the_right_error_or_silence() {
    let (mut sim, rogue) = setup();
    // Unknown type with upper bits 01: discard and report Unrecognized
    // Message carrying the message.
    let unknown_report = [0x7F, 0, 0, 8, 1, 2, 3, 4];
    let got = rogue_exchange(&mut sim, rogue, &unknown_report);
    let answers = parsed(&got);
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(
        error_cause(&answers[0]),
        Some((CauseCode::UnrecognizedMessage, unknown_report.to_vec()))
    );
    // Upper bits 00: discard silently.
    assert!(rogue_exchange(&mut sim, rogue, &[0x3F, 0, 0, 4]).is_empty());
    // Truncated (length beyond the bytes), too short, empty: silence.
    let before = sim.registrar(1).unwrap().stats().malformed;
    assert!(rogue_exchange(&mut sim, rogue, &[0x05, 0, 0, 64, 0, 9]).is_empty());
    assert!(rogue_exchange(&mut sim, rogue, &[0x01, 0]).is_empty());
    assert!(rogue_exchange(&mut sim, rogue, &[]).is_empty());
    assert!(sim.registrar(1).unwrap().stats().malformed >= before + 3);
    // A registration with an unknown "stop and report" parameter: not
    // applied, reported as Unrecognized Parameter with the whole TLV.
    let pe = PeId::new(4242).unwrap();
    let ip = rogue_addr(1).ip();
    let reg = with_parameter(registration(b"other", pe, 60_000, ip), 0x4001);
    let got = rogue_exchange(&mut sim, rogue, &reg);
    let answers = parsed(&got);
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(
        error_cause(&answers[0]),
        Some((
            CauseCode::UnrecognizedParameter,
            vec![0x40, 0x01, 0, 8, 1, 2, 3, 4]
        ))
    );
    let other = PoolHandle::new(b"other").unwrap();
    let registrar = sim.registrars[0];
    let lookup = |sim: &Simulation| {
        sim.world
            .node_as::<SimRegistrar>(registrar)
            .unwrap()
            .machine
            .handlespace()
            .lookup(&other, pe)
            .is_some()
    };
    assert!(!lookup(&sim));
    // "Skip and report": applied, then reported.
    let reg = with_parameter(registration(b"other", pe, 60_000, ip), 0xC001);
    let got = rogue_exchange(&mut sim, rogue, &reg);
    let answers = parsed(&got);
    assert!(
        answers.iter().any(|m| matches!(
            m,
            AsapMessage::RegistrationResponse { rejected: false, pe_id, .. } if *pe_id == pe
        )),
        "{answers:?}"
    );
    assert!(answers.iter().any(|m| error_cause(m)
        .is_some_and(|(c, d)| c == CauseCode::UnrecognizedParameter && d[..2] == [0xC0, 0x01])));
    assert!(lookup(&sim));
    // ... and the rogue may deregister its own PE.
    let dereg = encode(&AsapMessage::Deregistration {
        pool_handle: b"other",
        pe_id: pe,
    });
    let got = rogue_exchange(&mut sim, rogue, &dereg);
    assert!(matches!(
        parsed(&got)[..],
        [AsapMessage::DeregistrationResponse { error: None, .. }]
    ));
    assert!(!lookup(&sim));
    // An ENRP message (PPID 12) reaches the registrar's ASAP side: ignored
    // and counted, not answered.
    let enrp = [0x01, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0];
    sim.world
        .with_node::<RogueNode, _>(rogue, |r, ctx| r.send_raw(ctx, 0, Payload::Enrp, &enrp))
        .unwrap();
    sim.world.run_for(Duration::from_millis(200));
    let got = sim
        .world
        .with_node::<RogueNode, _>(rogue, |r, _| r.take_received())
        .unwrap();
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(sim.registrar(1).unwrap().stats().enrp_ignored, 1);
    assert_eq!(held(&sim, 1).len(), 2);
    finish_healthy(sim);
}

#[test]
fn another_association_cannot_deregister_or_re_register_a_pe() {
    let (mut sim, rogue) = setup();
    let victim = pe_id(&sim, 1);
    let before = held(&sim, 1);
    assert!(before.contains(&victim));
    // Deregistration by proxy: refused.
    let dereg = encode(&AsapMessage::Deregistration {
        pool_handle: b"sim",
        pe_id: victim,
    });
    let got = rogue_exchange(&mut sim, rogue, &dereg);
    match &parsed(&got)[..] {
        [AsapMessage::DeregistrationResponse {
            pe_id,
            error: Some(e),
            ..
        }] => {
            assert_eq!(*pe_id, victim);
            assert_eq!(e.code(), Some(CauseCode::RejectedSecurityConsiderations));
        }
        other => panic!("{other:?}"),
    }
    // Hijack by re-registering the PE with the rogue's address: refused.
    let reg = registration(b"sim", victim, 60_000, rogue_addr(1).ip());
    let got = rogue_exchange(&mut sim, rogue, &reg);
    match &parsed(&got)[..] {
        [AsapMessage::RegistrationResponse {
            rejected: true,
            pe_id,
            error: Some(e),
            ..
        }] => {
            assert_eq!(*pe_id, victim);
            assert_eq!(e.code(), Some(CauseCode::RejectedSecurityConsiderations));
        }
        other => panic!("{other:?}"),
    }
    // The PE is untouched: still there, still reached at its own address.
    assert_eq!(held(&sim, 1), before);
    let registrar = sim.registrars[0];
    let pool = PoolHandle::new(b"sim").unwrap();
    let addrs: Vec<_> = sim
        .world
        .node_as::<SimRegistrar>(registrar)
        .unwrap()
        .machine
        .handlespace()
        .lookup(&pool, victim)
        .unwrap()
        .user_addresses()
        .collect();
    assert_eq!(addrs, vec![rserpool::sim::scenario::element_addr(1).ip()]);
    let stats = sim.registrar(1).unwrap().stats();
    assert_eq!(stats.deregistrations_refused, 1);
    assert_eq!(
        stats.rejections_with(CauseCode::RejectedSecurityConsiderations),
        1
    );
    // A flood of unreachable reports from one association is rate limited:
    // the healthy PE stays.
    let report = encode(&AsapMessage::EndpointUnreachable {
        pool_handle: b"sim",
        pe_id: victim,
    });
    for _ in 0..20 {
        rogue_exchange(&mut sim, rogue, &report);
    }
    sim.world.run_for(Duration::from_secs(10));
    assert!(held(&sim, 1).contains(&victim));
    assert!(sim.registrar(1).unwrap().stats().unreachable_rate_limited >= 15);
    finish_healthy(sim);
}

#[test]
fn the_registrar_answers_resolutions_of_unknown_pools_negatively() {
    let (mut sim, rogue) = setup();
    let hr = encode(&AsapMessage::HandleResolution {
        subscribe: false,
        pool_handle: b"nope",
        items: None,
    });
    let got = rogue_exchange(&mut sim, rogue, &hr);
    match &parsed(&got)[..] {
        [AsapMessage::HandleResolutionResponse {
            error: Some(e),
            elements,
            ..
        }] => {
            assert_eq!(e.code(), Some(CauseCode::UnknownPoolHandle));
            assert_eq!(elements.iter().count(), 0);
        }
        other => panic!("{other:?}"),
    }
    // The real pool resolves to both PEs.
    let hr = encode(&AsapMessage::HandleResolution {
        subscribe: false,
        pool_handle: b"sim",
        items: Some(0xFFFF_FFFF),
    });
    let got = rogue_exchange(&mut sim, rogue, &hr);
    match &parsed(&got)[..] {
        [AsapMessage::HandleResolutionResponse {
            error: None,
            elements,
            ..
        }] => {
            let mut ids: Vec<PeId> = elements.iter().map(|e| e.pe_id).collect();
            ids.sort();
            assert_eq!(ids, held(&sim, 1));
        }
        other => panic!("{other:?}"),
    }
    finish_healthy(sim);
}
