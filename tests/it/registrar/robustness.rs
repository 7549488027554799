//! ENDPOINT_UNREACHABLE with rate limiting and MAX-BAD-PE-REPORT, malformed
//! and unknown input, association failure, and a full transmit queue.

use crate::support::registrar::*;
use rserpool::handlespace::{Fixed, PeTimerKind};
use rserpool::registrar::{Blocked, Event, Registrar, RemovalReason};
use rserpool::storage::RedBlackTree;
use rserpool::transmit::{Destination, Machine, TransportEvent};
use rserpool::wire::{asap_type, AsapMessage, CauseData, Protocol};
use rserpool::{AssocId, CauseCode, Duration, Instant, PoolHandle};

const T0: Instant = Instant::from_secs(50);

fn with_param(mut msg: Vec<u8>, ty: u16, value: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut tlv = Vec::new();
    tlv.extend_from_slice(&ty.to_be_bytes());
    tlv.extend_from_slice(&((4 + value.len()) as u16).to_be_bytes());
    tlv.extend_from_slice(value);
    msg.extend_from_slice(&tlv);
    while msg.len() % 4 != 0 {
        msg.push(0);
    }
    let len = msg.len() as u16;
    msg[2..4].copy_from_slice(&len.to_be_bytes());
    (msg, tlv)
}

fn error_cause(bytes: &[u8]) -> (CauseCode, Vec<u8>) {
    match AsapMessage::parse(bytes).unwrap() {
        AsapMessage::Error { error } => {
            let c = error.causes.first().unwrap();
            match c.data {
                CauseData::Bytes(b) => (c.code, b.to_vec()),
                d => panic!("{d:?}"),
            }
        }
        m => panic!("{m:?}"),
    }
}

#[test]
fn unreachable_probes_then_removes_after_max_bad_pe_reports() {
    let mut r = registrar(config()); // MAX-BAD-PE-REPORT 3, 1 report per reporter per 5 s
    up(&mut r, T0, 1);
    register_ok(&mut r, T0, 1, "u", &PeSpec::new(1));
    let h = PoolHandle::new(b"u").unwrap();

    // First report: an immediate point-to-point probe, H=0, under the timeout.
    r.handle(T0, src(50), Protocol::Asap, &unreachable("u", 1));
    let b = one(&mut r, Destination::Association(a(1)));
    assert!(matches!(AsapMessage::parse(&b).unwrap(),
        AsapMessage::EndpointKeepAlive { home: false, pe_id: Some(id), .. } if id == pe(1)));
    assert_eq!(
        r.handlespace().lookup(&h, pe(1)).unwrap().timer(),
        Some((PeTimerKind::KeepAliveTimeout, T0 + Duration::from_secs(5)))
    );
    assert_eq!(r.unreachable_reports(&h, pe(1)), Some(1));
    // The PE answers: it stays, and the answer disproves the report (the
    // count was kept before; under loss that removed live PEs).
    r.handle(T0, src(1), Protocol::Asap, &keep_alive_ack("u", 1));
    assert_eq!(
        r.handlespace()
            .lookup(&h, pe(1))
            .unwrap()
            .timer()
            .unwrap()
            .0,
        PeTimerKind::KeepAliveTransmission
    );
    assert_eq!(r.unreachable_reports(&h, pe(1)), Some(0));

    // A flood from the same reporter is cut to one report per window.
    for _ in 0..100 {
        r.handle(T0, src(50), Protocol::Asap, &unreachable("u", 1));
    }
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.stats().unreachable_rate_limited, 100);
    assert_eq!(r.unreachable_reports(&h, pe(1)), Some(0));
    assert_eq!(r.handlespace().len(), 1);

    // Reports from other reporters before the PE answers count: 1, 2, 3, 4,
    // each with a probe. More than MAX-BAD-PE-REPORT reports remove nothing
    // by themselves (they did at once before, without evidence): the PE
    // goes when the probe is left unanswered, and is told.
    for (i, reporter) in [51u32, 52, 53, 54].into_iter().enumerate() {
        r.handle(T0, src(reporter), Protocol::Asap, &unreachable("u", 1));
        one(&mut r, Destination::Association(a(1)));
        assert_eq!(r.unreachable_reports(&h, pe(1)), Some(1 + i as u32));
    }
    assert!(r.handlespace().lookup(&h, pe(1)).is_some());
    assert!(events(&mut r).is_empty());
    let out = run_until(&mut r, T0 + Duration::from_secs(5));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.destination, Destination::Association(a(1)));
    assert!(matches!(AsapMessage::parse(&out[0].2).unwrap(),
        AsapMessage::DeregistrationResponse { pool_handle: b"u", pe_id, error: None } if pe_id == pe(1)));
    assert!(r.handlespace().is_empty());
    assert!(matches!(
        events(&mut r).as_slice(),
        [Event::PoolElementRemoved {
            reason: RemovalReason::Unreachable,
            ..
        }]
    ));
    assert_eq!(r.stats().unreachable_reports, 5);
    assert_eq!(r.stats().removed_unreachable, 1);

    // Unknown PE: ignored.
    r.handle(T0, src(55), Protocol::Asap, &unreachable("u", 1));
    assert_eq!(r.stats().unreachable_ignored, 1);
    assert!(drain(&mut r).is_empty());
}

#[test]
fn the_same_reporter_counts_again_after_its_window() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    register_ok(&mut r, T0, 1, "u", &PeSpec::new(1));
    let h = PoolHandle::new(b"u").unwrap();
    for k in 0..3u64 {
        let t = T0 + Duration::from_secs(5 * k);
        r.handle(t, src(50), Protocol::Asap, &unreachable("u", 1));
        assert_eq!(r.unreachable_reports(&h, pe(1)), Some(1));
        r.handle(t, src(1), Protocol::Asap, &keep_alive_ack("u", 1));
        assert_eq!(r.unreachable_reports(&h, pe(1)), Some(0));
        drain(&mut r);
    }
    assert_eq!(r.stats().unreachable_reports, 3);
    assert_eq!(r.stats().unreachable_rate_limited, 0);
}

#[test]
fn disproved_reports_never_add_up_to_a_removal() {
    // Under loss, users' request timeouts report live PEs now and then; the
    // PE answers every probe. Many reports over a long time, from many
    // reporters, must not remove it.
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    register_ok(&mut r, T0, 1, "u", &PeSpec::new(1).life(-1));
    let h = PoolHandle::new(b"u").unwrap();
    for k in 0..40u32 {
        let t = T0 + Duration::from_secs(7 * k as u64);
        run_answering(&mut r, t);
        r.handle(t, src(50 + k % 8), Protocol::Asap, &unreachable("u", 1));
        let b = one(&mut r, Destination::Association(a(1)));
        assert!(matches!(
            AsapMessage::parse(&b).unwrap(),
            AsapMessage::EndpointKeepAlive { home: false, .. }
        ));
        // The answer arrives 20 ms later.
        let answer = t + Duration::from_millis(20);
        run_answering(&mut r, answer);
        r.handle(answer, src(1), Protocol::Asap, &keep_alive_ack("u", 1));
        assert_eq!(r.unreachable_reports(&h, pe(1)), Some(0));
    }
    assert_eq!(r.stats().unreachable_reports, 40);
    assert_eq!(r.stats().removed_unreachable, 0);
    assert_eq!(r.stats().removed_keep_alive, 0);
    assert!(r.handlespace().lookup(&h, pe(1)).is_some());
}

#[test]
fn a_long_flood_from_a_few_reporters_does_not_remove_an_answering_pe() {
    // Three reporters (MAX-BAD-PE-REPORT) report every 100 ms for 60 s; the
    // PE answers each probe 50 ms later.
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    register_ok(&mut r, T0, 1, "u", &PeSpec::new(1).life(-1));
    let h = PoolHandle::new(b"u").unwrap();
    let mut probes = 0;
    for step in 0..600u64 {
        let t = T0 + Duration::from_millis(100 * step);
        run_answering(&mut r, t);
        for reporter in 50..53 {
            r.handle(t, src(reporter), Protocol::Asap, &unreachable("u", 1));
        }
        probes += drain(&mut r).len();
        let answer = t + Duration::from_millis(50);
        run_answering(&mut r, answer);
        r.handle(answer, src(1), Protocol::Asap, &keep_alive_ack("u", 1));
    }
    assert!(r.handlespace().lookup(&h, pe(1)).is_some());
    assert_eq!(r.stats().removed_unreachable, 0);
    // One report per reporter and 5 s window counted, each with a probe.
    assert_eq!(r.stats().unreachable_reports, 3 * 12);
    assert_eq!(probes, 3 * 12);
    assert_eq!(r.stats().unreachable_rate_limited, 3 * 600 - 3 * 12);
}

#[test]
fn enough_reporters_remove_a_dead_pe_when_its_probe_times_out() {
    // Before, the fourth report removed the PE at once, whether it was
    // alive or not; now only the unanswered probe does.
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    register_ok(&mut r, T0, 1, "u", &PeSpec::new(1));
    let t = T0 + Duration::from_millis(10);
    for reporter in 50..53 {
        r.handle(T0, src(reporter), Protocol::Asap, &unreachable("u", 1));
    }
    assert_eq!(drain(&mut r).len(), 3);
    r.handle(t, src(53), Protocol::Asap, &unreachable("u", 1));
    assert_eq!(drain(&mut r).len(), 1, "a probe, not a removal");
    assert_eq!(r.handlespace().len(), 1);
    let out = run_until(&mut r, T0 + Duration::from_secs(5));
    assert!(r.handlespace().is_empty());
    assert_eq!(out.len(), 1);
    assert!(matches!(
        AsapMessage::parse(&out[0].2).unwrap(),
        AsapMessage::DeregistrationResponse { error: None, .. }
    ));
    assert!(matches!(
        events(&mut r).as_slice(),
        [Event::PoolElementRemoved {
            reason: RemovalReason::Unreachable,
            ..
        }]
    ));
}

#[test]
fn reports_from_many_ports_of_one_host_count_once_and_remove_no_answering_pe() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    register_ok(&mut r, T0, 1, "u", &PeSpec::new(1));
    let h = PoolHandle::new(b"u").unwrap();
    let host = std::net::Ipv4Addr::new(10, 66, 0, 1);
    for port in 40_000..40_004u16 {
        let from = std::net::SocketAddr::from((host, port));
        r.handle(
            T0,
            rserpool::transmit::Source::Datagram(from),
            Protocol::Asap,
            &unreachable("u", 1),
        );
    }
    assert_eq!(r.unreachable_reports(&h, pe(1)), Some(1));
    assert_eq!(r.stats().unreachable_rate_limited, 3);
    assert_eq!(drain(&mut r).len(), 1);
    // Many hosts: still only probes, and the PE stays.
    for reporter in 50..60 {
        r.handle(T0, src(reporter), Protocol::Asap, &unreachable("u", 1));
    }
    assert_eq!(drain(&mut r).len(), 10);
    assert_eq!(r.handlespace().len(), 1);
    // Within the probe window another host cannot take the PE id ...
    up(&mut r, T0, 9);
    r.handle(
        T0,
        src(9),
        Protocol::Asap,
        &PeSpec::new(1).registration("u"),
    );
    let b = one(&mut r, Destination::Association(a(9)));
    assert!(matches!(
        AsapMessage::parse(&b).unwrap(),
        AsapMessage::RegistrationResponse { rejected: true, .. }
    ));
    // ... and the PE proves itself by answering.
    r.handle(T0, src(1), Protocol::Asap, &keep_alive_ack("u", 1));
    assert_eq!(r.unreachable_reports(&h, pe(1)), Some(0));
    assert!(run_until(&mut r, T0 + Duration::from_secs(6))
        .iter()
        .all(|(_, _, b)| matches!(
            AsapMessage::parse(b).unwrap(),
            AsapMessage::EndpointKeepAlive { .. }
        )));
    let v = r.handlespace().lookup(&h, pe(1)).unwrap();
    assert_eq!(v.assoc(), a(1));
    assert_eq!(r.stats().removed_unreachable, 0);
}

#[test]
fn an_unanswered_probe_removes_the_pe() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    register_ok(&mut r, T0, 1, "u", &PeSpec::new(1));
    r.handle(T0, src(50), Protocol::Asap, &unreachable("u", 1));
    drain(&mut r);
    assert!(run_until(&mut r, T0 + Duration::from_secs(5)).is_empty());
    assert!(r.handlespace().is_empty());
    assert!(matches!(
        events(&mut r).as_slice(),
        [Event::PoolElementRemoved {
            reason: RemovalReason::KeepAliveTimeout,
            ..
        }]
    ));
}

#[test]
fn unknown_messages_follow_their_upper_bits() {
    let mut r = registrar(config());
    // 01xxxxxx: report.
    let msg = [0x4F, 0, 0, 8, 1, 2, 3, 4];
    r.handle(T0, src(1), Protocol::Asap, &msg);
    let b = one(&mut r, Destination::Association(a(1)));
    assert_eq!(
        error_cause(&b),
        (CauseCode::UnrecognizedMessage, msg.to_vec())
    );
    // 00, 10, 11: silence.
    for ty in [0x0F, 0x8F, 0xCF, 0x00] {
        r.handle(T0, src(1), Protocol::Asap, &[ty, 0, 0, 4]);
    }
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.stats().errors_sent, 1);
    assert_eq!(r.stats().malformed, 4);
}

#[test]
fn unknown_parameters_follow_their_upper_bits() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    let reg = PeSpec::new(1).registration("p");
    // 01: stop and report: ERROR, nothing registered.
    let (msg, tlv) = with_param(reg.clone(), 0x4123, &[9, 9, 9, 9]);
    r.handle(T0, src(1), Protocol::Asap, &msg);
    let b = one(&mut r, Destination::Association(a(1)));
    assert_eq!(error_cause(&b), (CauseCode::UnrecognizedParameter, tlv));
    assert!(r.handlespace().is_empty());
    // 00: stop silently.
    let (msg, _) = with_param(reg.clone(), 0x0123, &[9, 9, 9, 9]);
    r.handle(T0, src(1), Protocol::Asap, &msg);
    assert!(drain(&mut r).is_empty());
    assert!(r.handlespace().is_empty());
    // 10: skip silently: registered.
    let (msg, _) = with_param(reg.clone(), 0x8123, &[1, 2, 3]);
    r.handle(T0, src(1), Protocol::Asap, &msg);
    let out = drain(&mut r);
    assert_eq!(out.len(), 1);
    assert!(matches!(
        AsapMessage::parse(&out[0].1).unwrap(),
        AsapMessage::RegistrationResponse {
            rejected: false,
            ..
        }
    ));
    // 11: skip and report: registered (again) and reported after the response.
    let (msg, tlv) = with_param(reg, 0xC123, &[7, 7, 7, 7, 7]);
    r.handle(T0, src(1), Protocol::Asap, &msg);
    let out = drain(&mut r);
    assert_eq!(out.len(), 2);
    assert!(matches!(
        AsapMessage::parse(&out[0].1).unwrap(),
        AsapMessage::RegistrationResponse {
            rejected: false,
            ..
        }
    ));
    assert_eq!(
        error_cause(&out[1].1),
        (CauseCode::UnrecognizedParameter, tlv)
    );
    assert_eq!(r.stats().registrations, 1);
    assert_eq!(r.stats().reregistrations, 1);
}

#[test]
fn malformed_input_is_dropped_silently_but_a_registration_is_answered() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    let reg = PeSpec::new(1).registration("p");
    let mut zero_pe = deregistration("p", 1);
    let n = zero_pe.len();
    zero_pe[n - 4..].fill(0);
    // No message, or none that asks for an answer: silence.
    let silent: Vec<Vec<u8>> = vec![vec![], vec![1], vec![1, 0, 0], zero_pe];
    for i in &silent {
        r.handle(T0, src(1), Protocol::Asap, i);
    }
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.stats().malformed, silent.len() as u64);
    // A REGISTRATION (a whole header naming it), however broken, is
    // answered with Invalid Values (RFC 5352 §3.3) and counted.
    let mut bad_len = reg.clone();
    bad_len[3] = bad_len[3].wrapping_add(8);
    let registrations: Vec<Vec<u8>> = vec![
        reg[..reg.len() - 4].to_vec(),
        bad_len,
        [reg.clone(), vec![0; 8]].concat(),
        vec![asap_type::REGISTRATION, 0, 0, 4],
    ];
    for i in &registrations {
        r.handle(T0, src(1), Protocol::Asap, i);
        let out = drain(&mut r);
        assert_eq!(out.len(), 1, "{i:02x?}");
        let cause = match AsapMessage::parse(&out[0].1).unwrap() {
            AsapMessage::RegistrationResponse {
                rejected: true,
                error: Some(e),
                ..
            } => e.causes.first().unwrap().code,
            AsapMessage::Error { error } => error.causes.first().unwrap().code,
            m => panic!("unexpected {m:?}"),
        };
        assert_eq!(cause, CauseCode::InvalidValues, "{i:02x?}");
    }
    assert_eq!(
        r.stats().malformed,
        (silent.len() + registrations.len()) as u64
    );
    assert!(r.handlespace().is_empty());
    // Messages a registrar does not take, and ENRP: dropped, counted.
    r.handle(
        T0,
        src(1),
        Protocol::Asap,
        &emit(&AsapMessage::Cookie { cookie: b"c" }),
    );
    r.handle(T0, src(1), Protocol::Enrp, &reg);
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.stats().unexpected, 1);
    assert_eq!(r.stats().enrp_ignored, 1);
}

#[test]
fn association_failure_removes_its_pool_elements() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    up(&mut r, T0, 2);
    up(&mut r, T0, 3);
    register_ok(&mut r, T0, 1, "p", &PeSpec::new(1));
    register_ok(&mut r, T0, 1, "q", &PeSpec::new(2));
    register_ok(&mut r, T0, 2, "p", &PeSpec::new(3));
    register_ok(&mut r, T0, 3, "p", &PeSpec::new(4));
    r.handle_transport_event(T0, TransportEvent::Down { assoc: AssocId(1) });
    let ev = events(&mut r);
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|e| matches!(
        e,
        Event::PoolElementRemoved {
            reason: RemovalReason::TransportFailure,
            ..
        }
    )));
    assert_eq!(r.handlespace().len(), 2);
    assert_eq!(r.handlespace().pool_count(), 1);
    assert_eq!(r.association_remote(AssocId(1)), None);
    // AssocId::NONE (the mark of PEs without association, e.g. a peer's)
    // names no association.
    let peer = rserpool::ServerId::new(0xBEEF).unwrap();
    PeSpec::new(20)
        .with_param(|p| r.apply_peer_update(T0, peer, b"p", p))
        .unwrap();
    r.handle_transport_event(
        T0,
        TransportEvent::Down {
            assoc: AssocId::NONE,
        },
    );
    r.handle(
        T0,
        src(AssocId::NONE.0),
        Protocol::Asap,
        &deregistration("p", 20),
    );
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.handlespace().len(), 3);
    assert!(r.apply_peer_delete(peer, b"p", pe(20)));
    // A send failure counts the same.
    r.handle_transport_event(T0, TransportEvent::SendFailed { assoc: AssocId(2) });
    assert_eq!(events(&mut r).len(), 1);
    assert_eq!(r.handlespace().len(), 1);
    assert_eq!(r.stats().removed_transport, 3);
    assert!(drain(&mut r).is_empty());
    // No other association can deregister what is left; its own still can.
    r.handle(T0, src(2), Protocol::Asap, &deregistration("p", 4));
    let b = one(&mut r, Destination::Association(a(2)));
    assert!(matches!(
        AsapMessage::parse(&b).unwrap(),
        AsapMessage::DeregistrationResponse { error: Some(_), .. }
    ));
    assert_eq!(r.handlespace().len(), 1);
}

#[test]
fn a_full_transmit_queue_refuses_input_without_applying_it() {
    type Tiny = Registrar<RedBlackTree, Fixed<64, 16, 64, 4>, 64, 16, 1024, 64>;
    let mut r: Box<Tiny> = Box::new(Registrar::new(config()));
    r.handle_transport_event(
        T0,
        TransportEvent::Up {
            assoc: AssocId(1),
            remote: pe_addr(1),
            protocol: Protocol::Asap,
            verified: true,
        },
    );
    // Fill the queue with unknown-pool answers.
    let hr = resolution("none", None);
    let mut n = 0;
    while r.stats().queue_full == 0 {
        r.handle(T0, src(9), Protocol::Asap, &hr);
        n += 1;
        assert!(n < 100);
    }
    assert!(matches!(
        r.poll_event(),
        Some(Event::QueueFull(Blocked::Message(
            asap_type::HANDLE_RESOLUTION
        )))
    ));
    let reg = PeSpec::new(1).registration("p");
    r.handle(T0, src(1), Protocol::Asap, &reg);
    assert!(r.handlespace().is_empty(), "not applied");
    assert_eq!(
        r.poll_event(),
        Some(Event::QueueFull(Blocked::Message(asap_type::REGISTRATION)))
    );
    assert_eq!(r.stats().queue_full, 2);
    assert_eq!(r.stats().registrations, 0);
    // Drain, then the same registration goes through.
    let mut buf = vec![0u8; 70_000];
    let mut drained = 0;
    while r.poll_transmit(&mut buf).unwrap().is_some() {
        drained += 1;
    }
    assert_eq!(drained, n - 1);
    r.handle(T0, src(1), Protocol::Asap, &reg);
    assert_eq!(r.handlespace().len(), 1);
    let t = r.poll_transmit(&mut buf).unwrap().unwrap();
    assert!(matches!(
        AsapMessage::parse(&buf[..t.len]).unwrap(),
        AsapMessage::RegistrationResponse {
            rejected: false,
            ..
        }
    ));

    // Timers wait for room: fill the queue again, the keep-alive is held.
    while r.stats().queue_full == 2 {
        r.handle(T0, src(9), Protocol::Asap, &hr);
    }
    while r.poll_event().is_some() {}
    let due = r.poll_timeout().unwrap();
    r.handle_timeout(due);
    assert_eq!(r.poll_event(), Some(Event::QueueFull(Blocked::Timers)));
    let h = PoolHandle::new(b"p").unwrap();
    assert_eq!(
        r.handlespace()
            .lookup(&h, pe(1))
            .unwrap()
            .timer()
            .unwrap()
            .0,
        PeTimerKind::KeepAliveTransmission
    );
    assert_eq!(r.poll_timeout(), Some(due));
    while r.poll_transmit(&mut buf).unwrap().is_some() {}
    r.handle_timeout(due);
    let t = r.poll_transmit(&mut buf).unwrap().unwrap();
    assert!(matches!(
        AsapMessage::parse(&buf[..t.len]).unwrap(),
        AsapMessage::EndpointKeepAlive { .. }
    ));
    assert_eq!(
        r.handlespace()
            .lookup(&h, pe(1))
            .unwrap()
            .timer()
            .unwrap()
            .0,
        PeTimerKind::KeepAliveTimeout
    );
    // A buffer too small for the next message is an error, and the message stays.
    r.handle(T0, src(9), Protocol::Asap, &hr);
    let mut small = [0u8; 4];
    assert!(r.poll_transmit(&mut small).is_err());
    assert!(r.poll_transmit(&mut buf).unwrap().is_some());
}
