//! The pool element machine against hand-built ASAP message sequences.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::support::machine::{drain, events, feed};
use crate::support::pair::{Pair, Side};
use crate::support::registrar as support;
use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::pool_element::{
    Event, OwnedTransport, PoolElement, PoolElementConfig, PoolElementError,
};
use rserpool::transmit::{Destination, Machine, Source, TransportEvent};
use rserpool::wire::{
    AsapMessage, ErrorCause, OperationError, PoolElementParam, Protocol, TransportParam,
};
use rserpool::{AssocId, CauseCode, Duration, Instant, PeId, PoolHandle, ServerId};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn registrar(n: u8) -> SocketAddr {
    SocketAddr::new(ip(n), 3863)
}

fn me() -> PeId {
    PeId::new(0x1234).unwrap()
}

fn handle() -> PoolHandle {
    PoolHandle::new(b"echo").unwrap()
}

fn config(registrars: &[SocketAddr]) -> PoolElementConfig {
    let t = OwnedTransport::new(
        TransportProtocol::Sctp,
        7000,
        TransportUse::DataAndControl,
        &[ip(100)],
    )
    .unwrap();
    let mut c = PoolElementConfig::rfc(handle(), t);
    c.pe_id = Some(PeId::new(0x1234).unwrap());
    for r in registrars {
        c.registrars.push(*r).unwrap();
    }
    c
}

fn accept(pe: &mut PoolElement, now: Instant, assoc: u32) {
    feed(
        pe,
        now,
        assoc,
        &AsapMessage::RegistrationResponse {
            rejected: false,
            pool_handle: b"echo",
            pe_id: me(),
            error: None,
        },
    );
}

/// Starts a PE with one registrar and brings the association up.
fn connected(now: Instant) -> PoolElement {
    connected_with(now, config(&[registrar(1)]))
}

/// [`connected`] with `config` (whose only registrar is `registrar(1)`).
fn connected_with(now: Instant, config: PoolElementConfig) -> PoolElement {
    let mut pe = PoolElement::new(config).unwrap();
    pe.register(now);
    let c = pe.poll_connect().unwrap();
    assert_eq!(c.remote, registrar(1));
    pe.handle_transport_event(
        now,
        TransportEvent::Up {
            assoc: AssocId(1),
            remote: registrar(1),
            protocol: Protocol::Asap,
            verified: true,
        },
    );
    pe
}

#[test]
fn registers_over_the_hunted_registrar() {
    let t0 = Instant::from_secs(100);
    let mut pe = connected(t0);
    let sent = drain(&mut pe);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, Destination::Association(AssocId(1)));
    match AsapMessage::parse(&sent[0].1).unwrap() {
        AsapMessage::Registration {
            pool_handle,
            pool_element,
        } => {
            assert_eq!(pool_handle, b"echo");
            assert_eq!(pool_element.pe_id.get(), 0x1234);
            // Milliseconds on the wire.
            assert_eq!(pool_element.registration_life, 300_000);
            let t = pool_element.user_transport.transport().unwrap();
            assert_eq!(t.port, 7000);
            assert_eq!(t.addresses.first(), Some(ip(100)));
        }
        m => panic!("{m:?}"),
    }
    // T2 runs.
    assert_eq!(pe.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    accept(&mut pe, t0 + Duration::from_secs(1), 1);
    assert!(pe.is_registered());
    let ev = events(&mut pe);
    assert!(matches!(ev[0], Event::HomeChanged { .. }));
    assert!(matches!(ev[1], Event::Registered { home } if home.assoc == AssocId(1)));
    // T4 = min(10 min, 300 s - 20 s) = 280 s.
    assert_eq!(
        pe.poll_timeout(),
        Some(t0 + Duration::from_secs(1) + Duration::from_secs(280))
    );
}

#[test]
fn answers_keep_alive_and_discards_other_pools() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    drain(&mut pe);
    accept(&mut pe, t0, 1);
    let ka = |handle: &'static [u8], pe_id: Option<PeId>| AsapMessage::EndpointKeepAlive {
        home: false,
        server_id: ServerId::new(77).unwrap(),
        pool_handle: handle,
        pe_id,
    };
    feed(&mut pe, t0, 1, &ka(b"other", None));
    feed(&mut pe, t0, 1, &ka(b"echo", Some(PeId::new(99).unwrap())));
    assert!(
        drain(&mut pe).is_empty(),
        "mismatches are silently discarded"
    );
    // With and without rsplib's PE identifier.
    feed(&mut pe, t0, 1, &ka(b"echo", None));
    let me = pe.pe_id();
    feed(&mut pe, t0, 1, &ka(b"echo", Some(me)));
    let sent = drain(&mut pe);
    assert_eq!(sent.len(), 2);
    for (d, bytes) in sent {
        assert_eq!(d, Destination::Association(AssocId(1)));
        assert_eq!(
            AsapMessage::parse(&bytes).unwrap(),
            AsapMessage::EndpointKeepAliveAck {
                pool_handle: b"echo",
                pe_id: pe.pe_id()
            }
        );
    }
    assert_eq!(pe.home().unwrap().server_id, ServerId::new(77).ok());
}

fn sent_types(sent: &[(Destination, Vec<u8>)]) -> Vec<(Destination, u8)> {
    sent.iter().map(|(d, b)| (*d, b[0])).collect()
}

fn up(pe: &mut PoolElement, now: Instant, assoc: u32, remote: SocketAddr) {
    pe.handle_transport_event(
        now,
        TransportEvent::Up {
            assoc: AssocId(assoc),
            remote,
            protocol: Protocol::Asap,
            verified: true,
        },
    );
}

const REG: u8 = 0x01;
const DEREG: u8 = 0x02;

fn reject(pe: &mut PoolElement, now: Instant, cause: CauseCode) {
    let causes = [ErrorCause::new(cause)];
    feed(
        pe,
        now,
        1,
        &AsapMessage::RegistrationResponse {
            rejected: true,
            pool_handle: b"echo",
            pe_id: me(),
            error: Some(OperationError::new(&causes)),
        },
    );
}

#[test]
fn rejection_without_backoff_is_reported_and_not_retried_unchanged() {
    let t0 = Instant::from_secs(0);
    let mut c = config(&[registrar(1)]);
    c.registration_retry = None;
    let mut pe = connected_with(t0, c);
    drain(&mut pe);
    events(&mut pe);
    reject(&mut pe, t0, CauseCode::InconsistentPoolingPolicy);
    assert_eq!(
        events(&mut pe),
        [Event::RegistrationFailed {
            cause: Some(CauseCode::InconsistentPoolingPolicy),
            retry_at: None,
        }]
    );
    assert!(!pe.is_registered());
    // No timer, nothing sent, however long we wait.
    assert_eq!(pe.poll_timeout(), None);
    pe.handle_timeout(t0 + Duration::from_secs(3600));
    assert!(drain(&mut pe).is_empty());
    // A changed policy alone does not register again; registering again does.
    pe.set_policy(t0, rserpool::Policy::LeastUsed { load: 5 });
    assert!(drain(&mut pe).is_empty());
    pe.register(t0 + Duration::from_secs(1));
    let sent = drain(&mut pe);
    assert_eq!(
        sent_types(&sent),
        [(Destination::Association(AssocId(1)), REG)]
    );
}

#[test]
fn rejection_is_reported_and_retried_with_backoff() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    drain(&mut pe);
    events(&mut pe);
    // Rejected: reported with the cause and the time of the next try,
    // which doubles (1 s, 2 s, 4 s ...) while the rejections go on.
    let mut now = t0;
    for wait in [1, 2, 4, 8] {
        reject(
            &mut pe,
            now,
            CauseCode::InconsistentDataControlConfiguration,
        );
        let at = now + Duration::from_secs(wait);
        assert_eq!(
            events(&mut pe),
            [Event::RegistrationFailed {
                cause: Some(CauseCode::InconsistentDataControlConfiguration),
                retry_at: Some(at),
            }]
        );
        assert!(!pe.is_registered());
        assert_eq!(pe.poll_timeout(), Some(at));
        // Nothing before the time, the REGISTRATION again at it.
        pe.handle_timeout(at - Duration::from_millis(1));
        assert!(drain(&mut pe).is_empty());
        pe.handle_timeout(at);
        assert_eq!(
            sent_types(&drain(&mut pe)),
            [(Destination::Association(AssocId(1)), REG)]
        );
        now = at;
    }
    // Accepted at last: registered, and the back-off starts again from 1 s.
    accept(&mut pe, now, 1);
    assert!(pe.is_registered());
    assert!(matches!(events(&mut pe)[..], [Event::Registered { .. }]));
    let t4 = now + pe.config().t4();
    assert_eq!(pe.poll_timeout(), Some(t4));
    pe.handle_timeout(t4);
    assert_eq!(
        sent_types(&drain(&mut pe)),
        [(Destination::Association(AssocId(1)), REG)]
    );
    reject(&mut pe, t4, CauseCode::LackOfResources);
    assert_eq!(
        events(&mut pe),
        [Event::RegistrationFailed {
            cause: Some(CauseCode::LackOfResources),
            retry_at: Some(t4 + Duration::from_secs(1)),
        }]
    );
    assert!(!pe.is_registered());
}

#[test]
fn backoff_stops_at_its_maximum() {
    let t0 = Instant::from_secs(0);
    let mut c = config(&[registrar(1)]);
    c.registration_retry = Some(rserpool::pool_element::Backoff {
        initial: Duration::from_secs(5),
        max: Duration::from_secs(12),
    });
    let mut pe = connected_with(t0, c);
    drain(&mut pe);
    let mut now = t0;
    for wait in [5, 10, 12, 12] {
        reject(&mut pe, now, CauseCode::InvalidValues);
        let at = now + Duration::from_secs(wait);
        assert_eq!(pe.poll_timeout(), Some(at), "after a wait of {wait} s");
        pe.handle_timeout(at);
        assert_eq!(sent_types(&drain(&mut pe)).len(), 1);
        now = at;
    }
}

#[test]
fn deregistering_cancels_a_pending_retry() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    drain(&mut pe);
    accept(&mut pe, t0, 1);
    let t4 = t0 + pe.config().t4();
    pe.handle_timeout(t4);
    drain(&mut pe);
    reject(&mut pe, t4, CauseCode::LackOfResources);
    assert!(pe.poll_timeout().is_some());
    // Not registered and no request out: nothing to deregister, and the
    // application stops wanting the registration by registering no more.
    assert_eq!(pe.deregister(t4), Err(PoolElementError::NotRegistered));
    // While a retried registration is out, deregistering withdraws it and
    // no further retry follows.
    let at = t4 + Duration::from_secs(1);
    pe.handle_timeout(at);
    assert_eq!(sent_types(&drain(&mut pe)).len(), 1);
    pe.deregister(at).unwrap();
    assert_eq!(
        sent_types(&drain(&mut pe)),
        [(Destination::Association(AssocId(1)), DEREG)]
    );
    feed(
        &mut pe,
        at,
        1,
        &AsapMessage::DeregistrationResponse {
            pool_handle: b"echo",
            pe_id: me(),
            error: None,
        },
    );
    assert!(events(&mut pe).contains(&Event::Deregistered));
    assert_eq!(pe.poll_timeout(), None);
    pe.handle_timeout(at + Duration::from_secs(3600));
    assert!(drain(&mut pe).is_empty());
}

#[test]
fn t2_expiry_hunts_another_registrar_and_max_reg_attempt_stops() {
    let t0 = Instant::from_secs(0);
    let mut pe = PoolElement::new(config(&[registrar(1), registrar(2)])).unwrap();
    pe.register(t0);
    let c1 = pe.poll_connect().unwrap();
    let c2 = pe.poll_connect().unwrap();
    assert_eq!((c1.remote, c2.remote), (registrar(1), registrar(2)));
    assert_eq!(pe.poll_connect(), None);
    up(&mut pe, t0, 1, registrar(1));
    up(&mut pe, t0, 2, registrar(2));
    assert_eq!(
        sent_types(&drain(&mut pe)),
        [(Destination::Association(AssocId(1)), REG)]
    );
    assert_eq!(pe.registration_attempts(), 1);
    // T2 expires: the other connected registrar becomes the home and gets attempt 2.
    let t2 = t0 + Duration::from_secs(30);
    assert_eq!(pe.poll_timeout(), Some(t2));
    pe.handle_timeout(t2);
    assert_eq!(
        sent_types(&drain(&mut pe)),
        [(Destination::Association(AssocId(2)), REG)]
    );
    assert_eq!(pe.home().unwrap().assoc, AssocId(2));
    assert_eq!(pe.registration_attempts(), 2);
    // MAX-REG-ATTEMPT (2) reached: the next expiry gives up.
    events(&mut pe);
    pe.handle_timeout(t2 + Duration::from_secs(30));
    assert!(drain(&mut pe).is_empty());
    assert_eq!(
        events(&mut pe),
        [
            Event::HomeChanged {
                home: pe.home().unwrap()
            },
            Event::RegistrationFailed {
                cause: None,
                retry_at: Some(t2 + Duration::from_secs(31)),
            }
        ]
    );
    // Tried again after the back-off (1 s), over the home it has.
    let retry = t2 + Duration::from_secs(31);
    assert_eq!(pe.poll_timeout(), Some(retry));
    pe.handle_timeout(retry);
    let home = pe.home().unwrap().assoc;
    assert_eq!(
        sent_types(&drain(&mut pe)),
        [(Destination::Association(home), REG)]
    );
    assert_eq!(pe.registration_attempts(), 1);
}

#[test]
fn t2_expiry_with_one_registrar_resends_to_it() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    drain(&mut pe);
    pe.handle_timeout(t0 + Duration::from_secs(30));
    assert_eq!(
        sent_types(&drain(&mut pe)),
        [(Destination::Association(AssocId(1)), REG)]
    );
}

#[test]
fn t4_reregisters_with_the_same_pe_id() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    drain(&mut pe);
    accept(&mut pe, t0, 1);
    let t4 = t0 + Duration::from_secs(280);
    assert_eq!(pe.poll_timeout(), Some(t4));
    pe.handle_timeout(t4 - Duration::from_micros(1));
    assert!(drain(&mut pe).is_empty());
    pe.handle_timeout(t4);
    let sent = drain(&mut pe);
    assert_eq!(sent.len(), 1);
    match AsapMessage::parse(&sent[0].1).unwrap() {
        AsapMessage::Registration { pool_element, .. } => {
            assert_eq!(pool_element.pe_id, pe.pe_id())
        }
        m => panic!("{m:?}"),
    }
    assert_eq!(pe.poll_timeout(), Some(t4 + Duration::from_secs(30)));
    accept(&mut pe, t4, 1);
    assert_eq!(pe.poll_timeout(), Some(t4 + Duration::from_secs(280)));
    // rsplib's profile: T4 is the re-registration interval.
    let c = PoolElementConfig::rsplib(handle(), config(&[]).user_transport);
    assert_eq!(c.t4(), Duration::from_secs(30));
    assert_eq!(c.registration_life, Duration::from_secs(95));
}

#[test]
fn deregistration_with_t3_retransmission_and_confirmation() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    assert_eq!(
        PoolElement::new(config(&[])).unwrap().deregister(t0),
        Err(PoolElementError::NotRegistered)
    );
    drain(&mut pe);
    accept(&mut pe, t0, 1);
    pe.deregister(t0).unwrap();
    let sent = drain(&mut pe);
    assert_eq!(
        AsapMessage::parse(&sent[0].1).unwrap(),
        AsapMessage::Deregistration {
            pool_handle: b"echo",
            pe_id: pe.pe_id()
        }
    );
    let t3 = t0 + Duration::from_secs(30);
    assert_eq!(pe.poll_timeout(), Some(t3), "T3 runs, T4 is stopped");
    pe.handle_timeout(t3);
    assert_eq!(
        sent_types(&drain(&mut pe)),
        [(Destination::Association(AssocId(1)), DEREG)]
    );
    events(&mut pe);
    feed(
        &mut pe,
        t3,
        1,
        &AsapMessage::DeregistrationResponse {
            pool_handle: b"echo",
            pe_id: me(),
            error: None,
        },
    );
    assert_eq!(events(&mut pe), [Event::Deregistered]);
    assert!(!pe.is_registered());
    assert_eq!(pe.poll_timeout(), None);
}

#[test]
fn deregistration_gives_up_after_max_request_retransmit() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    drain(&mut pe);
    accept(&mut pe, t0, 1);
    pe.deregister(t0).unwrap();
    let mut now = t0;
    let mut sends = drain(&mut pe).len();
    for _ in 0..5 {
        let Some(t) = pe.poll_timeout() else { break };
        now = t;
        pe.handle_timeout(now);
        sends += drain(&mut pe).len();
    }
    // 1 + MAX-REQUEST-RETRANSMIT (2) sends, then the failure.
    assert_eq!(sends, 3);
    assert!(events(&mut pe).contains(&Event::DeregistrationFailed { cause: None }));
    assert_eq!(now, t0 + Duration::from_secs(90));
}

#[test]
fn t5_doubles_up_to_retran_max_with_at_most_three_attempts() {
    let regs: Vec<SocketAddr> = (1..=5).map(registrar).collect();
    let mut pe = PoolElement::new(config(&regs)).unwrap();
    let mut now = Instant::from_secs(0);
    pe.register(now);
    let mut seen = Vec::new();
    let mut intervals = Vec::new();
    for _ in 0..6 {
        let connects: Vec<_> = std::iter::from_fn(|| pe.poll_connect()).collect();
        assert!(!connects.is_empty() && connects.len() <= 3, "{connects:?}");
        assert!(pe.server_hunt().connecting() <= 3);
        seen.extend(connects.iter().map(|c| c.remote));
        let t = pe.poll_timeout().unwrap();
        intervals.push((t - now).as_secs());
        now = t;
        pe.handle_timeout(now);
    }
    assert_eq!(intervals, [10, 20, 40, 60, 60, 60]);
    // Every registrar was tried; rounds take different sets.
    for r in &regs {
        assert!(seen.contains(r));
    }
    // Success resets T5.
    let c = loop {
        if let Some(c) = pe.poll_connect() {
            break c;
        }
    };
    up(&mut pe, now, 9, c.remote);
    assert_eq!(pe.server_hunt().current_t5(), Duration::from_secs(10));
    assert_eq!(
        sent_types(&drain(&mut pe)),
        [(Destination::Association(AssocId(9)), REG)]
    );
}

#[test]
fn failed_connect_is_replaced_by_another_registrar() {
    let regs: Vec<SocketAddr> = (1..=4).map(registrar).collect();
    let mut pe = PoolElement::new(config(&regs)).unwrap();
    let t0 = Instant::from_secs(0);
    pe.register(t0);
    let first: Vec<_> = std::iter::from_fn(|| pe.poll_connect()).collect();
    assert_eq!(first.len(), 3);
    pe.handle_transport_event(
        t0,
        TransportEvent::ConnectFailed {
            remote: first[1].remote,
        },
    );
    let next: Vec<_> = std::iter::from_fn(|| pe.poll_connect()).collect();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].remote, registrar(4));
    assert_eq!(pe.server_hunt().connecting(), 3);
}

#[test]
fn h_flag_from_another_registrar_changes_home() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    drain(&mut pe);
    accept(&mut pe, t0, 1);
    let ka = |home: bool, server: u32| AsapMessage::EndpointKeepAlive {
        home,
        server_id: ServerId::new(server).unwrap(),
        pool_handle: b"echo",
        pe_id: None,
    };
    feed(&mut pe, t0, 1, &ka(false, 10));
    // The home's own H flag changes nothing.
    feed(&mut pe, t0, 1, &ka(true, 10));
    events(&mut pe);
    // Another registrar, announced, takes over over an association it
    // opened (from its host, another port).
    announce(&mut pe, t0, 2, 20);
    up(&mut pe, t0, 5, SocketAddr::new(ip(2), 40_000));
    feed(&mut pe, t0, 5, &ka(true, 20));
    let sent = drain(&mut pe);
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2].0, Destination::Association(AssocId(5)));
    let home = pe.home().unwrap();
    assert_eq!(
        (home.assoc, home.server_id),
        (AssocId(5), ServerId::new(20).ok())
    );
    assert_eq!(events(&mut pe), [Event::HomeChanged { home }]);
    // Without H, no change.
    feed(&mut pe, t0, 1, &ka(false, 10));
    assert_eq!(pe.home().unwrap().assoc, AssocId(5));
    assert!(events(&mut pe).is_empty());
    // Registration stays in force: no new REGISTRATION.
    assert!(sent_types(&drain(&mut pe)).iter().all(|(_, t)| *t == 0x08));
}

/// A SERVER_ANNOUNCE from registrar `n` (server id `server`), at its own
/// address and port.
fn announce(pe: &mut PoolElement, now: Instant, n: u8, server: u32) {
    crate::support::machine::announce(pe, now, ip(n), server);
}

#[test]
fn h_flag_from_an_unknown_registrar_is_ignored_and_counted() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    drain(&mut pe);
    accept(&mut pe, t0, 1);
    events(&mut pe);
    let ka = |server: u32| AsapMessage::EndpointKeepAlive {
        home: true,
        server_id: ServerId::new(server).unwrap(),
        pool_handle: b"echo",
        pe_id: None,
    };
    // An association from a host the hunt does not know, and one never
    // reported up, both claiming the home with a higher server id.
    up(&mut pe, t0, 6, SocketAddr::new(ip(66), 3863));
    feed(&mut pe, t0, 6, &ka(0x7000_0000));
    feed(&mut pe, t0, 7, &ka(0x7000_0001));
    assert_eq!(pe.untrusted_home_claims(), 2);
    assert_eq!(pe.home().unwrap().assoc, AssocId(1));
    assert!(events(&mut pe).is_empty());
    // The next re-registration still goes to the home.
    drain(&mut pe);
    pe.set_policy(t0, rserpool::Policy::RoundRobin);
    let sent = drain(&mut pe);
    assert!(sent
        .iter()
        .all(|(d, _)| *d == Destination::Association(AssocId(1))));
    assert!(sent_types(&sent).iter().any(|(_, t)| *t == REG));
}

#[test]
fn h_flag_from_a_trusted_registrar_host_moves_the_home() {
    let t0 = Instant::from_secs(0);
    let mut c = config(&[registrar(1)]);
    c.trusted_registrars.push(ip(7)).unwrap();
    let mut pe = connected_with(t0, c);
    drain(&mut pe);
    accept(&mut pe, t0, 1);
    events(&mut pe);
    assert!(pe.server_hunt().trusts_host(ip(7)));
    assert!(!pe.server_hunt().trusts_host(ip(8)));
    let ka = AsapMessage::EndpointKeepAlive {
        home: true,
        server_id: ServerId::new(0x77).unwrap(),
        pool_handle: b"echo",
        pe_id: None,
    };
    // The same claim from an untrusted host changes nothing.
    up(&mut pe, t0, 8, SocketAddr::new(ip(8), 3863));
    feed(&mut pe, t0, 8, &ka);
    assert_eq!(pe.untrusted_home_claims(), 1);
    assert_eq!(pe.home().unwrap().assoc, AssocId(1));
    // A registrar on the trusted host (a port the PE never heard of)
    // takes it over: it is the home, and its keep-alive is answered there.
    up(&mut pe, t0, 7, SocketAddr::new(ip(7), 40_123));
    feed(&mut pe, t0, 7, &ka);
    assert_eq!(pe.untrusted_home_claims(), 1);
    let home = pe.home().unwrap();
    assert_eq!(home.assoc, AssocId(7));
    assert_eq!(events(&mut pe), [Event::HomeChanged { home }]);
    assert!(drain(&mut pe)
        .iter()
        .any(|(d, _)| *d == Destination::Association(AssocId(7))));
}

#[test]
fn a_registrar_s_earlier_association_stays_trusted_after_a_second_one() {
    let t0 = Instant::from_secs(0);
    let mut pe = PoolElement::new(config(&[registrar(1), registrar(2)])).unwrap();
    pe.register(t0);
    while pe.poll_connect().is_some() {}
    up(&mut pe, t0, 1, registrar(1));
    accept(&mut pe, t0, 1);
    up(&mut pe, t0, 2, registrar(2));
    // A second association to registrar 2 takes its place in the table.
    up(&mut pe, t0, 3, registrar(2));
    events(&mut pe);
    assert!(pe.server_hunt().trusts(AssocId(2)) && pe.server_hunt().trusts(AssocId(3)));
    let ka = AsapMessage::EndpointKeepAlive {
        home: true,
        server_id: ServerId::new(0x22).unwrap(),
        pool_handle: b"echo",
        pe_id: None,
    };
    // Registrar 2 claims the PE over the first one: it becomes the home.
    feed(&mut pe, t0, 2, &ka);
    assert_eq!(pe.untrusted_home_claims(), 0);
    assert_eq!(pe.home().unwrap().assoc, AssocId(2));
    // Once that association is down, it is trusted no more.
    pe.handle_transport_event(t0, TransportEvent::Down { assoc: AssocId(2) });
    assert!(!pe.server_hunt().trusts(AssocId(2)));
}

#[test]
fn lost_home_hunts_and_reregisters() {
    let t0 = Instant::from_secs(0);
    let mut pe = PoolElement::new(config(&[registrar(1), registrar(2)])).unwrap();
    pe.register(t0);
    while pe.poll_connect().is_some() {}
    up(&mut pe, t0, 1, registrar(1));
    drain(&mut pe);
    accept(&mut pe, t0, 1);
    events(&mut pe);
    pe.handle_transport_event(t0, TransportEvent::Down { assoc: AssocId(1) });
    let ev = events(&mut pe);
    assert_eq!(ev[0], Event::HomeLost { assoc: AssocId(1) });
    // The attempt to registrar 2 is still out; it comes up and becomes the home.
    up(&mut pe, t0, 2, registrar(2));
    assert_eq!(
        sent_types(&drain(&mut pe)),
        [(Destination::Association(AssocId(2)), REG)]
    );
    accept(&mut pe, t0, 2);
    assert!(pe.is_registered());
    assert!(events(&mut pe)
        .iter()
        .any(|e| matches!(e, Event::Registered { home } if home.assoc == AssocId(2))));
}

#[test]
fn announced_registrars_are_used_and_expire_after_t7() {
    let t0 = Instant::from_secs(0);
    let mut pe = PoolElement::new(config(&[])).unwrap();
    let addrs = [ip(50)];
    let transports = [TransportParam::new(
        TransportProtocol::Sctp,
        3999,
        TransportUse::DataOnly,
        &addrs,
    )];
    let announce = AsapMessage::ServerAnnounce {
        server_id: ServerId::new(3).unwrap(),
        transports: (&transports).into(),
    };
    let mut buf = vec![0u8; 512];
    let n = announce.emit(&mut buf).unwrap();
    let sender = SocketAddr::new(ip(50), 40000);
    pe.handle(t0, Source::Datagram(sender), Protocol::Asap, &buf[..n]);
    assert_eq!(pe.server_hunt().known(), 1);
    assert_eq!(pe.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    // Refreshed by a later announce.
    let t1 = t0 + Duration::from_secs(3);
    pe.handle(t1, Source::Datagram(sender), Protocol::Asap, &buf[..n]);
    assert_eq!(pe.poll_timeout(), Some(t1 + Duration::from_secs(5)));
    pe.handle_timeout(t1 + Duration::from_secs(5));
    assert_eq!(pe.server_hunt().known(), 0);
    // Announced again while a hunt waits: the hunt connects to it at once.
    pe.register(t1);
    assert_eq!(pe.poll_connect(), None);
    pe.handle(t1, Source::Datagram(sender), Protocol::Asap, &buf[..n]);
    let c = pe.poll_connect().unwrap();
    assert_eq!(c.remote, SocketAddr::new(ip(50), 3999));
}

#[test]
fn session_layer_cookies_and_business_cards() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    drain(&mut pe);
    events(&mut pe);
    pe.send_cookie(AssocId(40), b"state-7").unwrap();
    let cfg = config(&[]);
    let own = PoolElementParam {
        pe_id: me(),
        home_server: None,
        registration_life: 300_000,
        user_transport: cfg.user_transport.param().into(),
        policy: rserpool::Policy::RoundRobin.into(),
        asap_transport: None,
    };
    assert_eq!(pe.element_param(), own);
    let own_id = own.pe_id;
    let mut elements = vec![own];
    elements.push(PoolElementParam {
        pe_id: PeId::new(0x99).unwrap(),
        ..own
    });
    pe.send_business_card(AssocId(40), &elements).unwrap();
    let sent = drain(&mut pe);
    assert_eq!(sent[0].0, Destination::Association(AssocId(40)));
    assert_eq!(
        AsapMessage::parse(&sent[0].1).unwrap(),
        AsapMessage::Cookie { cookie: b"state-7" }
    );
    match AsapMessage::parse(&sent[1].1).unwrap() {
        AsapMessage::BusinessCard {
            pool_handle,
            elements,
            ..
        } => {
            assert_eq!(pool_handle, b"echo");
            let ids: Vec<u32> = elements.iter().map(|e| e.pe_id.get()).collect();
            assert_eq!(ids, [own_id.get(), 0x99]);
        }
        m => panic!("{m:?}"),
    }
    feed(
        &mut pe,
        t0,
        41,
        &AsapMessage::CookieEcho { cookie: b"state-3" },
    );
    let long = vec![7u8; rserpool::pool_element::MAX_COOKIE_SIZE + 1];
    feed(&mut pe, t0, 41, &AsapMessage::CookieEcho { cookie: &long });
    assert_eq!(
        events(&mut pe),
        [
            Event::CookieEcho {
                assoc: AssocId(41),
                cookie: rserpool::pool_element::Cookie::from_slice(b"state-3").unwrap()
            },
            Event::CookieTooLong {
                assoc: AssocId(41),
                len: long.len()
            }
        ]
    );
}

#[test]
fn policy_update_reregisters_with_the_new_load() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    drain(&mut pe);
    // While the first registration is out, the update waits for its answer.
    pe.set_policy(t0, rserpool::Policy::LeastUsed { load: 42 });
    assert!(drain(&mut pe).is_empty());
    accept(&mut pe, t0, 1);
    let sent = drain(&mut pe);
    assert_eq!(sent.len(), 1);
    match AsapMessage::parse(&sent[0].1).unwrap() {
        AsapMessage::Registration { pool_element, .. } => assert_eq!(
            pool_element.policy.policy(),
            Some(rserpool::Policy::LeastUsed { load: 42 })
        ),
        m => panic!("{m:?}"),
    }
    accept(&mut pe, t0, 1);
    pe.set_policy(t0, rserpool::Policy::LeastUsed { load: 43 });
    assert_eq!(drain(&mut pe).len(), 1);
}

#[test]
fn registrar_ending_the_registration_triggers_a_new_one() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    drain(&mut pe);
    accept(&mut pe, t0, 1);
    events(&mut pe);
    feed(
        &mut pe,
        t0,
        1,
        &AsapMessage::DeregistrationResponse {
            pool_handle: b"echo",
            pe_id: me(),
            error: None,
        },
    );
    assert_eq!(events(&mut pe), [Event::RegistrationLost]);
    assert_eq!(
        sent_types(&drain(&mut pe)),
        [(Destination::Association(AssocId(1)), REG)]
    );
}

#[test]
fn unknown_messages_are_reported_when_their_bits_ask() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    drain(&mut pe);
    // Type 0x4F: upper bits 01 = discard and report.
    let unknown = [0x4F, 0, 0, 4];
    pe.handle(
        t0,
        Source::Association(AssocId(1)),
        Protocol::Asap,
        &unknown,
    );
    let sent = drain(&mut pe);
    assert_eq!(sent.len(), 1);
    match AsapMessage::parse(&sent[0].1).unwrap() {
        AsapMessage::Error { error } => {
            assert_eq!(error.code(), Some(CauseCode::UnrecognizedMessage))
        }
        m => panic!("{m:?}"),
    }
    // Type 0x0F: upper bits 00 = discard silently; garbage is silent too.
    pe.handle(
        t0,
        Source::Association(AssocId(1)),
        Protocol::Asap,
        &[0x0F, 0, 0, 4],
    );
    pe.handle(t0, Source::Association(AssocId(1)), Protocol::Asap, &[1, 2]);
    assert!(drain(&mut pe).is_empty());
}

#[test]
fn late_answer_during_a_hunt_is_accepted_and_its_registrar_kept() {
    let t0 = Instant::from_secs(0);
    let mut pe = PoolElement::new(config(&[registrar(1), registrar(2)])).unwrap();
    pe.register(t0);
    while pe.poll_connect().is_some() {}
    up(&mut pe, t0, 1, registrar(1));
    drain(&mut pe);
    // T2 expires; registrar 2 is still connecting, so the hunt waits.
    let t2 = t0 + Duration::from_secs(30);
    pe.handle_timeout(t2);
    assert_eq!(pe.home(), None);
    events(&mut pe);
    // Registrar 1's answer arrives late: accepted, registrar 1 is the home again.
    accept(&mut pe, t2, 1);
    assert!(pe.is_registered());
    let ev = events(&mut pe);
    assert!(matches!(ev[0], Event::HomeChanged { home } if home.assoc == AssocId(1)));
    assert!(matches!(ev[1], Event::Registered { home } if home.assoc == AssocId(1)));
    // Registrar 2 coming up later changes nothing.
    up(&mut pe, t2, 2, registrar(2));
    assert_eq!(pe.home().unwrap().assoc, AssocId(1));
    assert!(drain(&mut pe).is_empty());
}

#[test]
fn random_and_mutated_input_never_panics() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    let samples: Vec<Vec<u8>> = [
        AsapMessage::RegistrationResponse {
            rejected: false,
            pool_handle: b"echo",
            pe_id: me(),
            error: None,
        },
        AsapMessage::EndpointKeepAlive {
            home: true,
            server_id: ServerId::new(5).unwrap(),
            pool_handle: b"echo",
            pe_id: Some(me()),
        },
        AsapMessage::DeregistrationResponse {
            pool_handle: b"echo",
            pe_id: me(),
            error: None,
        },
        AsapMessage::CookieEcho { cookie: b"abc" },
    ]
    .iter()
    .map(|m| {
        let mut b = vec![0u8; 1024];
        let n = m.emit(&mut b).unwrap();
        b.truncate(n);
        b
    })
    .collect();
    let mut x: u64 = 0x0fed_cba9_8765_4321;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = vec![0u8; 65536];
    for i in 0..20_000u32 {
        let mut m = samples[(next() % 4) as usize].clone();
        for _ in 0..(next() % 4) {
            let k = (next() as usize) % m.len();
            m[k] = next() as u8;
        }
        if i % 7 == 0 {
            m.truncate((next() as usize) % m.len());
        }
        let now = t0 + Duration::from_millis(u64::from(i) * 50);
        let assoc = 1 + (next() % 3) as u32;
        pe.handle(now, Source::Association(AssocId(assoc)), Protocol::Asap, &m);
        if i % 500 == 0 {
            pe.handle_transport_event(
                now,
                TransportEvent::Down {
                    assoc: AssocId(assoc),
                },
            );
        }
        if let Some(c) = pe.poll_connect() {
            up(&mut pe, now, 1, c.remote);
        }
        if let Some(t) = pe.poll_timeout() {
            if t <= now {
                pe.handle_timeout(now);
            }
        }
        while pe.poll_transmit(&mut out).unwrap().is_some() {}
        while pe.poll_event().is_some() {}
    }
    // Drained every step: nothing was ever dropped.
    assert_eq!((pe.send_failures(), pe.events_lost()), (0, 0));
}

/// The PE and a real registrar wired together ([`Pair`]): the PE
/// registers, answers every keep-alive and re-registers every T4 for ten
/// minutes without ever losing its registration, then deregisters.
#[test]
fn a_real_registrar_keeps_the_pe_registered_until_it_deregisters() {
    let t0 = Instant::from_secs(0);
    let mut pe = Box::new(PoolElement::new(config(&[registrar(1)])).unwrap());
    pe.register(t0);
    let r = support::registrar(support::config());
    let mut net = Pair::new(pe, SocketAddr::new(ip(100), 7000), r, registrar(1), t0);
    net.drive();
    let ev = events(&mut *net.a);
    assert!(
        matches!(
            ev[..],
            [Event::HomeChanged { .. }, Event::Registered { .. }]
        ),
        "registered at once: {ev:?}"
    );
    let end = t0 + Duration::from_secs(600);
    net.run_until(end);
    // Each re-registration is confirmed; nothing is lost on the way.
    let ev = events(&mut *net.a);
    assert_eq!(ev.len(), 600 / 280, "{ev:?}");
    assert!(
        ev.iter().all(|e| matches!(e, Event::Registered { .. })),
        "{ev:?}"
    );
    let held = net.b.handlespace().lookup(&handle(), me()).is_some();
    assert!(held, "the registrar holds the PE");
    let s = net.b.stats();
    assert_eq!(s.registrations, 1);
    assert_eq!(s.reregistrations, 600 / 280);
    assert!(s.keep_alives_sent > 0);
    assert_eq!(s.keep_alive_acks, s.keep_alives_sent);
    assert_eq!(s.removed_keep_alive + s.removed_lifetime, 0);
    // All over one association, every message delivered; the PE's acks are
    // the ones the registrar counted.
    assert_eq!(net.links().len(), 1);
    assert!(net.log.iter().all(|m| m.delivered && m.at <= end));
    let acks = net
        .log
        .iter()
        .filter(|m| m.from == Side::A)
        .filter(|m| {
            matches!(
                AsapMessage::parse(&m.bytes),
                Ok(AsapMessage::EndpointKeepAliveAck { .. })
            )
        })
        .count();
    assert_eq!(acks as u64, s.keep_alive_acks);
    net.a.deregister(end).unwrap();
    net.drive();
    assert_eq!(events(&mut *net.a), [Event::Deregistered]);
    assert!(net.b.handlespace().lookup(&handle(), me()).is_none());
    assert_eq!(net.b.stats().removed_deregistered, 1);
}

#[test]
fn a_registrar_challenge_is_echoed_and_the_registration_sent_again_uncounted() {
    let t0 = Instant::from_secs(100);
    let mut pe = connected(t0);
    let sent = drain(&mut pe);
    assert_eq!(sent.len(), 1);
    let registration = sent[0].1.clone();
    assert_eq!(pe.registration_attempts(), 1);
    let t1 = t0 + Duration::from_millis(2);
    feed(&mut pe, t1, 1, &AsapMessage::Cookie { cookie: &[5; 12] });
    let sent = drain(&mut pe);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        AsapMessage::parse(&sent[0].1).unwrap(),
        AsapMessage::CookieEcho { cookie: &[5; 12] }
    );
    assert_eq!(
        sent[1],
        (Destination::Association(AssocId(1)), registration)
    );
    assert_eq!(pe.registration_attempts(), 1);
    assert_eq!(pe.challenges_answered(), 1);
    // T2 restarts with the new transmission.
    assert_eq!(pe.poll_timeout(), Some(t1 + Duration::from_secs(30)));
    accept(&mut pe, t1, 1);
    assert!(pe.is_registered());
    // Once registered, a challenge has nothing to resend.
    feed(&mut pe, t1, 1, &AsapMessage::Cookie { cookie: &[6; 8] });
    let sent = drain(&mut pe);
    assert_eq!(sent.len(), 1);
    assert!(matches!(
        AsapMessage::parse(&sent[0].1).unwrap(),
        AsapMessage::CookieEcho { .. }
    ));
}

#[test]
fn h_flag_from_a_registrar_that_authenticated_moves_the_home() {
    let t0 = Instant::from_secs(0);
    let mut pe = connected(t0);
    drain(&mut pe);
    accept(&mut pe, t0, 1);
    events(&mut pe);
    let ka = AsapMessage::EndpointKeepAlive {
        home: true,
        server_id: ServerId::new(0x77).unwrap(),
        pool_handle: b"echo",
        pe_id: None,
    };
    // From a host the PE was not given: refused while the association is
    // not authenticated.
    up(&mut pe, t0, 8, SocketAddr::new(ip(9), 40_000));
    feed(&mut pe, t0, 8, &ka);
    assert_eq!(pe.untrusted_home_claims(), 1);
    assert_eq!(pe.home().unwrap().assoc, AssocId(1));
    // Once its peer proved itself with a certificate from the PE's roots
    // (TLS), the same claim moves the home.
    pe.handle_transport_event(t0, TransportEvent::Authenticated { assoc: AssocId(8) });
    assert!(pe.server_hunt().trusts(AssocId(8)));
    feed(&mut pe, t0, 8, &ka);
    assert_eq!(pe.untrusted_home_claims(), 1);
    let home = pe.home().unwrap();
    assert_eq!(home.assoc, AssocId(8));
    assert_eq!(events(&mut pe), [Event::HomeChanged { home }]);
    // Trust ends with the association.
    pe.handle_transport_event(t0, TransportEvent::Down { assoc: AssocId(8) });
    assert!(!pe.server_hunt().trusts(AssocId(8)));
}
