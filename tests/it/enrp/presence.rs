//! ENRP peer table: PRESENCE cycle and content, failure detection, learning
//! peers, unknown types, capacity limits.

use crate::support::enrp::*;
use rserpool::registrar::{EnrpEvent, PeerState, MAX_PEERS};
use rserpool::transmit::{Destination, Machine, Source};
use rserpool::wire::{enrp_type, EnrpBody, Protocol};
use rserpool::{CauseCode, Duration};

#[test]
fn disabled_enrp_ignores_enrp_as_before() {
    let mut r = registrar(config());
    deliver(&mut r, T0, 1, 7, presence_body(0xFFFF, true));
    assert_eq!(r.stats().enrp_ignored, 1);
    assert!(drain_all(&mut r).is_empty());
    assert_eq!(r.poll_connect(), None);
    assert!(r.is_initialised());
}

#[test]
fn presence_every_cycle_to_each_peer_and_multicast_with_own_checksum() {
    let mut c = enrp_config(&[]);
    c.enrp.multicast = true;
    let mut r = registrar(c);
    r.handle_timeout(T0);
    assert!(r.is_initialised());
    assert_eq!(
        enrp_events(&mut r),
        vec![EnrpEvent::InitialisationDone {
            mentor: None,
            pes: 0
        }]
    );
    // First PRESENCE goes on multicast only (no peer yet).
    let out = drain_enrp(&mut r);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, Destination::Multicast);
    // Two peers come up and are heard.
    for (n, assoc) in [(2u32, 11u32), (3, 12)] {
        enrp_up(&mut r, T0, assoc, peer_addr(n as u8));
        deliver(&mut r, T0, assoc, n, presence_body(0xFFFF, false));
    }
    drain_all(&mut r);
    // A PE registers: the own checksum changes.
    up(&mut r, T0, 1);
    register_enrp(&mut r, T0, 1, "pool", &PeSpec::new(5));
    drain_all(&mut r);
    let cycle = Duration::from_micros(2_444_444);
    let next = r.poll_timeout().unwrap();
    assert_eq!(next, T0 + cycle);
    r.handle_timeout(next);
    let out = drain_enrp(&mut r);
    let dests: Vec<_> = out.iter().map(|(d, _)| *d).collect();
    assert_eq!(dests, vec![to(11), to(12), Destination::Multicast]);
    for (_, b) in &out {
        let m = parse(b);
        assert_eq!(m.sender, me());
        assert_eq!(m.receiver, None);
        match m.body {
            EnrpBody::Presence {
                reply_required,
                checksum,
                server_info,
            } => {
                assert!(!reply_required);
                assert_eq!(checksum, Some(r.own_checksum()));
                assert_ne!(checksum, Some(0xFFFF));
                let info = server_info.unwrap();
                assert_eq!(info.server_id, me());
                assert_eq!(info.transport.port, 9901);
                assert_eq!(info.transport.addresses.first(), Some(local_addr().ip()));
            }
            b => panic!("unexpected {b:?}"),
        }
    }
    assert_eq!(
        r.enrp_stats().sent[usize::from(enrp_type::PRESENCE)],
        1 + 2 + 3
    );
}

#[test]
fn silent_peer_is_probed_then_declared_dead_and_taken_over() {
    let mut r = with_peer(7, 11);
    // The peer owns a PE here.
    update(
        &mut r,
        T0,
        11,
        7,
        rserpool::wire::UpdateAction::AddPe,
        "pool",
        &PeerPe::new(9, 7),
    );
    assert_eq!(r.handlespace().owned_count(sid(7)), 1);
    let last_heard = Duration::from_secs(5);
    let no_response = Duration::from_secs(5);
    // Heartbeats go on; at T0 + 5 s the peer gets a reply-required PRESENCE.
    let mut probe_at = None;
    while let Some(t) = r.poll_timeout() {
        if t > T0 + last_heard {
            break;
        }
        r.handle_timeout(t);
        for (d, b) in drain_enrp(&mut r) {
            if let EnrpBody::Presence {
                reply_required: true,
                ..
            } = parse(&b).body
            {
                assert_eq!(d, to(11));
                assert_eq!(parse(&b).receiver, Some(sid(7)));
                probe_at = Some(t);
            }
        }
    }
    assert_eq!(probe_at, Some(T0 + last_heard));
    assert!(matches!(r.peers()[0].state, PeerState::Probing { .. }));
    // No answer within MAX-TIME-NO-RESPONSE: dead, and (no other peer to ask) taken over.
    let mut saw = Vec::new();
    while let Some(t) = r.poll_timeout() {
        if t > T0 + last_heard + no_response {
            break;
        }
        r.handle_timeout(t);
        for (d, b) in drain_all(&mut r) {
            saw.push((t, d, b));
        }
    }
    let ev = enrp_events(&mut r);
    assert!(
        ev.contains(&EnrpEvent::PeerDown { server_id: sid(7) }),
        "{ev:?} {:?}",
        r.peers()
    );
    assert!(
        ev.contains(&EnrpEvent::TakeoverWon {
            target: sid(7),
            pes: 1
        }),
        "{ev:?}"
    );
    assert_eq!(r.handlespace().owned_count(me()), 1);
    assert_eq!(r.owned_count(), 1);
    assert!(r.peers().is_empty());
    // INIT_TAKEOVER and TAKEOVER_SERVER went to the peer association.
    let types: Vec<u8> = saw
        .iter()
        .filter(|(_, t, _)| t.protocol == Protocol::Enrp)
        .map(|(_, _, b)| u8::from(parse(b).message_type()))
        .filter(|t| *t != enrp_type::PRESENCE)
        .collect();
    assert_eq!(
        types,
        vec![enrp_type::INIT_TAKEOVER, enrp_type::TAKEOVER_SERVER]
    );
    // No keep-alive as a datagram: an ASAP association to the PE's ASAP
    // address is asked for, and the ENDPOINT_KEEP_ALIVE with H=1 goes on it.
    assert!(saw.iter().all(|(_, t, _)| t.protocol != Protocol::Asap));
    let c = r.poll_connect().expect("connect to the PE");
    assert_eq!(c.remote, pe_addr(9));
    assert_eq!(c.protocol, Protocol::Asap);
    let t = T0 + last_heard + no_response;
    r.handle_transport_event(
        t,
        rserpool::transmit::TransportEvent::Up {
            assoc: rserpool::AssocId(77),
            remote: pe_addr(9),
            protocol: Protocol::Asap,
            verified: true,
        },
    );
    let ka: Vec<_> = drain_all(&mut r)
        .into_iter()
        .filter(|(t, _)| t.protocol == Protocol::Asap)
        .map(|(t, b)| {
            (
                t.destination,
                rserpool::wire::AsapMessage::parse(&b)
                    .unwrap()
                    .message_type(),
                b,
            )
        })
        .collect();
    assert_eq!(ka.len(), 1, "{ka:?}");
    assert_eq!(ka[0].0, Destination::Association(rserpool::AssocId(77)));
    let ka: Vec<_> = ka
        .iter()
        .map(|(d, _, b)| (*d, rserpool::wire::AsapMessage::parse(b).unwrap()))
        .collect();
    assert!(matches!(
        ka[0].1,
        rserpool::wire::AsapMessage::EndpointKeepAlive { home: true, .. }
    ));
}

#[test]
fn answer_to_a_probe_keeps_the_peer_alive() {
    let mut r = with_peer(7, 11);
    r.handle_timeout(T0 + Duration::from_secs(5));
    drain_all(&mut r);
    assert!(matches!(r.peers()[0].state, PeerState::Probing { .. }));
    deliver(
        &mut r,
        T0 + Duration::from_secs(6),
        11,
        7,
        presence_body(0xFFFF, false),
    );
    assert_eq!(r.peers()[0].state, PeerState::Alive);
    r.handle_timeout(T0 + Duration::from_secs(10));
    assert_eq!(r.peers()[0].state, PeerState::Alive);
    assert_eq!(r.enrp_stats().takeovers_started, 0);
}

#[test]
fn association_down_declares_the_peer_dead() {
    let mut r = with_peer(7, 11);
    r.handle_transport_event(
        T0,
        rserpool::transmit::TransportEvent::Down {
            assoc: rserpool::AssocId(11),
        },
    );
    let ev = enrp_events(&mut r);
    assert!(ev.contains(&EnrpEvent::PeerDown { server_id: sid(7) }));
    assert!(ev.contains(&EnrpEvent::TakeoverWon {
        target: sid(7),
        pes: 0
    }));
}

#[test]
fn unknown_sender_is_learnt_and_asked_for_presence() {
    let mut r = registrar(enrp_config(&[]));
    r.handle_timeout(T0);
    drain_all(&mut r);
    events(&mut r);
    // A peer's update arrives over a new association.
    enrp_up(&mut r, T0, 21, peer_addr(4));
    drain_all(&mut r);
    update(
        &mut r,
        T0,
        21,
        4,
        rserpool::wire::UpdateAction::AddPe,
        "p",
        &PeerPe::new(3, 4),
    );
    assert_eq!(r.peers().len(), 1);
    assert_eq!(r.peers()[0].server_id, Some(sid(4)));
    assert_eq!(r.peers()[0].assoc, Some(rserpool::AssocId(21)));
    let out = drain_enrp(&mut r);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, to(21));
    let m = parse(&out[0].1);
    assert_eq!(m.receiver, Some(sid(4)));
    assert!(matches!(
        m.body,
        EnrpBody::Presence {
            reply_required: true,
            checksum: Some(_),
            server_info: Some(_)
        }
    ));
    assert_eq!(
        enrp_events(&mut r),
        vec![EnrpEvent::PeerUp { server_id: sid(4) }]
    );
    // The update was applied as well.
    assert_eq!(r.handlespace().owned_count(sid(4)), 1);
}

#[test]
fn multicast_presence_from_an_unknown_peer_leads_to_a_connect_and_reply() {
    let mut c = enrp_config(&[]);
    c.enrp.multicast = true;
    let mut r = registrar(c);
    r.handle_timeout(T0);
    drain_all(&mut r);
    let dgram = Source::Datagram(std::net::SocketAddr::new(peer_addr(5).ip(), 40000));
    presence_with_info(&mut r, T0, dgram, 5, peer_addr(5), 0xFFFF, true);
    assert_eq!(r.peers()[0].server_id, Some(sid(5)));
    assert_eq!(r.peers()[0].address, Some(peer_addr(5)));
    // The reply-required PRESENCE is answered to the datagram's source.
    let out = drain_enrp(&mut r);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].0,
        Destination::Address(std::net::SocketAddr::new(peer_addr(5).ip(), 40000))
    );
    let c = r.poll_connect().unwrap();
    assert_eq!(c.remote, peer_addr(5));
    assert_eq!(c.protocol, Protocol::Enrp);
    assert_eq!(r.poll_connect(), None);
    // Once up, the peer gets a reply-required PRESENCE over the association.
    enrp_up(&mut r, T0, 30, peer_addr(5));
    let out = drain_enrp(&mut r);
    assert_eq!(out[0].0, to(30));
    assert!(matches!(
        parse(&out[0].1).body,
        EnrpBody::Presence {
            reply_required: true,
            ..
        }
    ));
}

#[test]
fn reply_required_presence_is_answered_point_to_point() {
    let mut r = with_peer(7, 11);
    deliver(&mut r, T0, 11, 7, presence_body(0xFFFF, true));
    let out = drain_enrp(&mut r);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, to(11));
    let m = parse(&out[0].1);
    assert_eq!(m.receiver, Some(sid(7)));
    assert!(matches!(
        m.body,
        EnrpBody::Presence {
            reply_required: false,
            checksum: Some(0xFFFF),
            server_info: Some(_)
        }
    ));
}

#[test]
fn unknown_message_type_gets_an_enrp_error_and_malformed_input_is_dropped() {
    let mut r = with_peer(7, 11);
    // Type 0x4B: upper bits 01 = discard and report.
    let msg = [0x4B, 0, 0, 12, 0, 0, 0, 7, 0x5E, 0x5E, 0, 1];
    r.handle(T0, src(11), Protocol::Enrp, &msg);
    let out = drain_enrp(&mut r);
    assert_eq!(out.len(), 1);
    let m = parse(&out[0].1);
    assert_eq!(m.receiver, Some(sid(7)));
    match m.body {
        EnrpBody::Error { error } => {
            assert_eq!(error.code(), Some(CauseCode::UnrecognizedMessage));
        }
        b => panic!("unexpected {b:?}"),
    }
    assert_eq!(r.enrp_stats().errors_sent, 1);
    // Type 0x0B: discard silently.
    let msg = [0x0B, 0, 0, 12, 0, 0, 0, 7, 0, 0, 0, 0];
    r.handle(T0, src(11), Protocol::Enrp, &msg);
    assert!(drain_enrp(&mut r).is_empty());
    // Garbage of every length never panics.
    for n in 0..40 {
        let junk: Vec<u8> = (0..n).map(|i| (i * 37 + 1) as u8).collect();
        r.handle(T0, src(11), Protocol::Enrp, &junk);
        let mut j2 = junk.clone();
        if j2.len() > 1 {
            j2[0] = (n % 11) as u8;
        }
        r.handle(T0, src(11), Protocol::Enrp, &j2);
    }
    assert!(r.enrp_stats().malformed > 0);
    // An ENRP_ERROR is counted, never answered.
    let causes = [rserpool::wire::ErrorCause::new(CauseCode::Unspecified)];
    deliver(
        &mut r,
        T0,
        11,
        7,
        EnrpBody::Error {
            error: rserpool::wire::OperationError::new(&causes),
        },
    );
    assert_eq!(r.enrp_stats().errors_received, 1);
    assert!(drain_enrp(&mut r)
        .iter()
        .all(|(_, b)| u8::from(parse(b).message_type()) != enrp_type::ERROR));
}

#[test]
fn skip_and_report_parameter_is_reported_after_processing() {
    let mut r = with_peer(7, 11);
    // PRESENCE R=1 with an unknown parameter 0xC123 (skip and report).
    let mut m = emit_enrp(&rserpool::wire::EnrpMessage {
        sender: sid(7),
        receiver: None,
        body: presence_body(0xFFFF, true),
    });
    m.extend_from_slice(&[0xC1, 0x23, 0, 8, 1, 2, 3, 4]);
    let len = m.len() as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    r.handle(T0, src(11), Protocol::Enrp, &m);
    let types: Vec<u8> = drain_enrp(&mut r)
        .iter()
        .map(|(_, b)| u8::from(parse(b).message_type()))
        .collect();
    assert_eq!(types, vec![enrp_type::PRESENCE, enrp_type::ERROR]);
}

#[test]
fn peer_table_is_bounded() {
    // Peers announced on the multicast channel (the association table of
    // the test registrar is smaller than the peer table).
    let mut c = enrp_config(&[]);
    c.enrp.multicast = true;
    let mut r = registrar(c);
    r.handle_timeout(T0);
    for n in 0..(MAX_PEERS as u32 + 5) {
        let m = rserpool::wire::EnrpMessage {
            sender: sid(1000 + n),
            receiver: None,
            body: presence_body(0xFFFF, false),
        };
        let from = std::net::SocketAddr::new(peer_addr(n as u8).ip(), 40_000);
        r.handle(T0, Source::Datagram(from), Protocol::Enrp, &emit_enrp(&m));
        drain_all(&mut r);
    }
    assert_eq!(r.peers().len(), MAX_PEERS);
    assert_eq!(r.enrp_stats().peers_refused, 5);
    // A smaller configured limit is honoured.
    let mut c = enrp_config(&[]);
    c.enrp.max_peers = 2;
    let mut r = registrar(c);
    r.handle_timeout(T0);
    for n in 0..4 {
        deliver(&mut r, T0, 100 + n, 1000 + n, presence_body(0xFFFF, false));
    }
    assert_eq!(r.peers().len(), 2);
}

#[test]
fn own_messages_and_messages_for_others_are_dropped() {
    let mut r = with_peer(7, 11);
    let m = rserpool::wire::EnrpMessage {
        sender: me(),
        receiver: None,
        body: presence_body(1, true),
    };
    r.handle(T0, src(11), Protocol::Enrp, &emit_enrp(&m));
    let m = rserpool::wire::EnrpMessage {
        sender: sid(7),
        receiver: Some(sid(99)),
        body: presence_body(1, true),
    };
    r.handle(T0, src(11), Protocol::Enrp, &emit_enrp(&m));
    assert!(drain_enrp(&mut r).is_empty());
    assert_eq!(r.enrp_stats().unexpected, 2);
}

#[test]
fn configured_peer_reached_both_ways_is_one_entry() {
    let mut r = registrar(enrp_config(&[peer_addr(2)]));
    r.handle_timeout(T0);
    assert_eq!(r.poll_connect().map(|c| c.remote), Some(peer_addr(2)));
    // The peer reaches us first over its own association (an update).
    update(
        &mut r,
        T0,
        30,
        2,
        rserpool::wire::UpdateAction::AddPe,
        "p",
        &PeerPe::new(1, 2),
    );
    assert_eq!(r.peers().len(), 2);
    // Our connect comes up; the peer answers over it.
    enrp_up(&mut r, T0, 31, peer_addr(2));
    deliver(&mut r, T0, 31, 2, presence_body(0xFFFF, false));
    assert_eq!(r.peers().len(), 1);
    let p = r.peers()[0];
    assert_eq!(
        (p.server_id, p.configured, p.address),
        (Some(sid(2)), true, Some(peer_addr(2)))
    );
}
