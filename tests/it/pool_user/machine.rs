//! The pool user machine against hand-built ASAP message sequences.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::support::machine::{drain, events, feed};
use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::pool_user::{Event, PoolUser, PoolUserConfig, PoolUserError, SendOptions};
use rserpool::transmit::{Destination, Machine, Source, TransportEvent};
use rserpool::wire::{
    AsapMessage, ErrorCause, List, OperationError, PolicyParam, PoolElementParam, Protocol,
    TransportParam, UserTransport,
};
use rserpool::{AssocId, CauseCode, Duration, Instant, PeId, Policy, PoolHandle};

type Pu = PoolUser<4, 8>;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn registrar(n: u8) -> SocketAddr {
    SocketAddr::new(ip(n), 3863)
}

fn pool() -> PoolHandle {
    PoolHandle::new(b"echo").unwrap()
}

fn pe(n: u32) -> PeId {
    PeId::new(n).unwrap()
}

const HOME: AssocId = AssocId(1);

fn config() -> PoolUserConfig {
    let mut c = PoolUserConfig::rfc();
    c.registrars.push(registrar(1)).unwrap();
    c.seed = 7;
    c
}

/// A PU whose home registrar association (HOME) is up.
fn with_home(now: Instant, config: PoolUserConfig) -> Pu {
    let mut pu = Pu::new(config);
    // Nothing happens before the first request.
    assert!(pu.poll_connect().is_none());
    assert_eq!(
        pu.select(now, &pool(), SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    let c = pu.poll_connect().unwrap();
    assert_eq!(c.remote, registrar(1));
    pu.handle_transport_event(
        now,
        TransportEvent::Up {
            assoc: HOME,
            remote: registrar(1),
            protocol: Protocol::Asap,
            verified: true,
        },
    );
    pu
}

static ADDRS: [IpAddr; 8] = [
    IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)),
    IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2)),
    IpAddr::V4(Ipv4Addr::new(10, 1, 0, 3)),
    IpAddr::V4(Ipv4Addr::new(10, 1, 0, 4)),
    IpAddr::V4(Ipv4Addr::new(10, 1, 0, 5)),
    IpAddr::V4(Ipv4Addr::new(10, 1, 0, 6)),
    IpAddr::V4(Ipv4Addr::new(10, 1, 0, 7)),
    IpAddr::V4(Ipv4Addr::new(10, 1, 0, 8)),
];

/// A PE parameter for PE `id` (1..=8) with `policy`.
fn element(id: u32, policy: Policy) -> PoolElementParam<'static> {
    let k = (id as usize - 1) % ADDRS.len();
    PoolElementParam {
        pe_id: pe(id),
        home_server: None,
        registration_life: 30_000,
        user_transport: UserTransport::Transport(TransportParam::new(
            TransportProtocol::Sctp,
            5000 + id as u16,
            TransportUse::DataAndControl,
            &ADDRS[k..k + 1],
        )),
        policy: PolicyParam::Known(policy),
        asap_transport: None,
    }
}

fn answer<const P: usize, const E: usize>(
    pu: &mut PoolUser<P, E>,
    now: Instant,
    handle: &[u8],
    overall: Option<Policy>,
    elements: &[PoolElementParam<'_>],
) {
    feed(
        pu,
        now,
        HOME,
        &AsapMessage::HandleResolutionResponse {
            accept_updates: false,
            pool_handle: handle,
            policy: overall.map(PolicyParam::Known),
            elements: List::from_slice(elements),
            error: None,
        },
    );
}

/// Checks one HANDLE_RESOLUTION for `handle` went to the home registrar.
fn expect_resolution(sent: &[(Destination, Vec<u8>)], handle: &[u8]) {
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, Destination::Association(HOME));
    match AsapMessage::parse(&sent[0].1).unwrap() {
        AsapMessage::HandleResolution {
            pool_handle, items, ..
        } => {
            assert_eq!(pool_handle, handle);
            assert_eq!(items, Some(16));
        }
        m => panic!("{m:?}"),
    }
}

#[test]
fn resolves_then_selects_round_robin() {
    let t0 = Instant::from_secs(10);
    let mut pu = with_home(t0, config());
    expect_resolution(&drain(&mut pu), b"echo");
    assert_eq!(pu.poll_timeout(), Some(t0 + Duration::from_secs(15)));
    let rr = Policy::RoundRobin;
    answer(
        &mut pu,
        t0,
        b"echo",
        None,
        &[element(1, rr), element(2, rr), element(3, rr)],
    );
    let ev = events(&mut pu);
    assert!(ev.contains(&Event::Resolved {
        pool: pool(),
        elements: 3
    }));
    assert_eq!(pu.poll_timeout(), None, "T1 stopped");
    let picks: Vec<u32> = (0..6)
        .map(|_| {
            pu.select(t0, &pool(), SendOptions::DEFAULT)
                .unwrap()
                .pe_id
                .get()
        })
        .collect();
    assert_eq!(picks, [1, 2, 3, 1, 2, 3]);
    let s = pu.select(t0, &pool(), SendOptions::DEFAULT).unwrap();
    assert_eq!(s.transport.port, 5001);
    assert_eq!(&s.transport.addresses[..], &ADDRS[0..1]);
    assert!(!s.failover && s.cookie_echo.is_none());
    // A fresh hit sends nothing.
    assert!(drain(&mut pu).is_empty());
}

/// A PU with PEs 1..=n of `policy` cached for "echo" (overall `policy`).
fn resolved(now: Instant, policy: Policy, n: u32) -> Pu {
    let mut pu = with_home(now, config());
    drain(&mut pu);
    let list: Vec<_> = (1..=n).map(|i| element(i, policy)).collect();
    answer(&mut pu, now, b"echo", Some(policy), &list);
    events(&mut pu);
    pu
}

const HR: u8 = 0x05;
const UNREACHABLE: u8 = 0x09;

fn types(sent: &[(Destination, Vec<u8>)]) -> Vec<u8> {
    sent.iter().map(|(_, b)| b[0]).collect()
}

#[test]
fn t1_retransmits_then_gives_up() {
    let t0 = Instant::from_secs(0);
    let mut pu = with_home(t0, config());
    expect_resolution(&drain(&mut pu), b"echo");
    let mut now;
    for k in 1..=2 {
        now = pu.poll_timeout().unwrap();
        assert_eq!(now, t0 + Duration::from_secs(15 * k));
        pu.handle_timeout(now);
        expect_resolution(&drain(&mut pu), b"echo");
        assert!(pu.is_resolving(&pool()));
    }
    events(&mut pu);
    now = pu.poll_timeout().unwrap();
    pu.handle_timeout(now);
    assert!(!pu.is_resolving(&pool()));
    let ev = events(&mut pu);
    assert!(ev.contains(&Event::ResolutionFailed {
        pool: pool(),
        cause: None
    }));
    // The next select asks again.
    assert_eq!(
        pu.select(now, &pool(), SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    assert_eq!(types(&drain(&mut pu)), [HR]);
    // rsplib: one trial of 3 s.
    let c = PoolUserConfig::rsplib();
    assert_eq!(
        (c.t1_enrp_request, c.max_request_retransmit),
        (Duration::from_secs(3), 0)
    );
}

/// A resolution for which no registrar can be reached (every connect
/// fails) waits for a home at most T1 a try, then fails as an unanswered
/// one, instead of waiting for the hunt forever.
#[test]
fn without_a_reachable_registrar_the_resolution_fails_after_t1() {
    let t0 = Instant::from_secs(0);
    let mut c = config();
    c.max_request_retransmit = 1;
    let mut pu = Pu::new(c);
    assert_eq!(
        pu.select(t0, &pool(), SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    let connect = pu.poll_connect().unwrap();
    pu.handle_transport_event(
        t0,
        TransportEvent::ConnectFailed {
            remote: connect.remote,
        },
    );
    assert!(pu.home().is_none());
    // The first try ends at T1: counted as a retransmission, no failure yet.
    let now = pu.poll_timeout().unwrap();
    assert!(now <= t0 + Duration::from_secs(15));
    let mut now = now;
    let mut failed_at = None;
    for _ in 0..20 {
        pu.handle_timeout(now);
        while let Some(c) = pu.poll_connect() {
            pu.handle_transport_event(now, TransportEvent::ConnectFailed { remote: c.remote });
        }
        if events(&mut pu).contains(&Event::ResolutionFailed {
            pool: pool(),
            cause: None,
        }) {
            failed_at = Some(now);
            break;
        }
        match pu.poll_timeout() {
            Some(t) => now = t,
            None => break,
        }
    }
    let failed_at = failed_at.expect("the resolution fails");
    // Two tries of T1 (MAX-REQUEST-RETRANSMIT 1), nothing sent meanwhile.
    assert_eq!(failed_at, t0 + Duration::from_secs(30));
    assert!(!pu.is_resolving(&pool()));
    assert!(drain(&mut pu).is_empty());
}

#[test]
fn negative_answer_is_reported_with_its_cause() {
    let t0 = Instant::from_secs(0);
    let mut pu = with_home(t0, config());
    drain(&mut pu);
    let causes = [ErrorCause::new(CauseCode::UnknownPoolHandle)];
    feed(
        &mut pu,
        t0,
        HOME,
        &AsapMessage::HandleResolutionResponse {
            accept_updates: false,
            pool_handle: b"echo",
            policy: None,
            elements: List::empty(),
            error: Some(OperationError::new(&causes)),
        },
    );
    assert!(events(&mut pu).contains(&Event::ResolutionFailed {
        pool: pool(),
        cause: Some(CauseCode::UnknownPoolHandle)
    }));
    assert_eq!(pu.poll_timeout(), None);
}

#[test]
fn stale_cache_is_used_while_it_is_resolved_again() {
    let t0 = Instant::from_secs(0);
    let mut pu = resolved(t0, Policy::RoundRobin, 2);
    let fresh = t0 + Duration::from_secs(29);
    pu.select(fresh, &pool(), SendOptions::DEFAULT).unwrap();
    assert!(drain(&mut pu).is_empty());
    let stale = t0 + Duration::from_secs(30);
    assert!(pu.select(stale, &pool(), SendOptions::DEFAULT).is_ok());
    expect_resolution(&drain(&mut pu), b"echo");
    // Only one request while it runs.
    pu.select(stale, &pool(), SendOptions::DEFAULT).unwrap();
    assert!(drain(&mut pu).is_empty());
    let rr = Policy::RoundRobin;
    answer(&mut pu, stale, b"echo", None, &[element(3, rr)]);
    let mut ids = [pe(9); 4];
    assert_eq!(pu.cached_elements(&pool(), &mut ids), 1);
    assert_eq!(ids[0], pe(3));
}

#[test]
fn unreachable_is_reported_once_per_failure_event() {
    let t0 = Instant::from_secs(0);
    let mut pu = resolved(t0, Policy::RoundRobin, 3);
    let s = pu.select(t0, &pool(), SendOptions::DEFAULT).unwrap();
    assert_eq!(s.pe_id, pe(1));
    let next = pu
        .report_unreachable(t0, &pool(), pe(1), SendOptions::DEFAULT)
        .unwrap()
        .unwrap();
    assert_ne!(next.pe_id, pe(1));
    assert!(next.failover);
    let sent = drain(&mut pu);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, Destination::Association(HOME));
    assert_eq!(
        AsapMessage::parse(&sent[0].1).unwrap(),
        AsapMessage::EndpointUnreachable {
            pool_handle: b"echo",
            pe_id: pe(1)
        }
    );
    // The same failure seen again: no second report.
    pu.report_unreachable(t0, &pool(), pe(1), SendOptions::DEFAULT)
        .unwrap();
    assert!(drain(&mut pu).is_empty());
    assert_eq!(pu.unreachable_reports(), 1);
    let mut ids = [pe(9); 4];
    assert_eq!(pu.cached_elements(&pool(), &mut ids), 2);
    assert!(!ids[..2].contains(&pe(1)));
    // Listed again by a later resolution, then failing again: a new event.
    let rr = Policy::RoundRobin;
    answer(
        &mut pu,
        t0,
        b"echo",
        None,
        &[element(1, rr), element(2, rr)],
    );
    pu.report_unreachable(t0, &pool(), pe(1), SendOptions::NO_FAILOVER)
        .unwrap();
    assert_eq!(types(&drain(&mut pu)), [UNREACHABLE]);
}

#[test]
fn failover_echoes_the_last_cookie_on_the_new_control_channel() {
    let t0 = Instant::from_secs(0);
    let mut pu = resolved(t0, Policy::RoundRobin, 3);
    let s = pu.select(t0, &pool(), SendOptions::DEFAULT).unwrap();
    assert_eq!(
        pu.attach_control_channel(&pool(), s.pe_id, AssocId(10)),
        Ok(false)
    );
    feed(
        &mut pu,
        t0,
        AssocId(10),
        &AsapMessage::Cookie { cookie: b"one" },
    );
    feed(
        &mut pu,
        t0,
        AssocId(10),
        &AsapMessage::Cookie { cookie: b"two" },
    );
    assert_eq!(pu.cookie(&pool()), Some(&b"two"[..]));
    // A cookie on an association no pool is attached to is dropped.
    feed(
        &mut pu,
        t0,
        AssocId(77),
        &AsapMessage::Cookie { cookie: b"x" },
    );
    assert!(events(&mut pu).contains(&Event::CookieDropped {
        assoc: AssocId(77),
        len: 1
    }));
    let f = pu
        .report_unreachable(t0, &pool(), s.pe_id, SendOptions::FAILOVER)
        .unwrap()
        .unwrap();
    assert!(f.failover);
    assert_eq!(f.cookie_echo.as_deref(), Some(&b"two"[..]));
    drain(&mut pu);
    // Attaching another PE's channel sends nothing; the new PE's gets COOKIE_ECHO first.
    assert_eq!(
        pu.attach_control_channel(&pool(), pe(3), AssocId(12)),
        Ok(false)
    );
    assert_eq!(
        pu.attach_control_channel(&pool(), f.pe_id, AssocId(11)),
        Ok(true)
    );
    let sent = drain(&mut pu);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, Destination::Association(AssocId(11)));
    assert_eq!(
        AsapMessage::parse(&sent[0].1).unwrap(),
        AsapMessage::CookieEcho { cookie: b"two" }
    );
    // Only once.
    assert_eq!(
        pu.attach_control_channel(&pool(), f.pe_id, AssocId(11)),
        Ok(false)
    );
    // Ordinary selections carry no cookie.
    assert!(pu
        .select(t0, &pool(), SendOptions::DEFAULT)
        .unwrap()
        .cookie_echo
        .is_none());
}

#[test]
fn business_card_order_decides_the_failover() {
    let t0 = Instant::from_secs(0);
    let mut pu = resolved(t0, Policy::RoundRobin, 4);
    let rr = Policy::RoundRobin;
    let card = [element(4, rr), element(2, rr), element(1, rr)];
    feed(
        &mut pu,
        t0,
        AssocId(10),
        &AsapMessage::BusinessCard {
            pool_handle: b"echo",
            policy: None,
            elements: List::from_slice(&card),
        },
    );
    assert!(events(&mut pu).contains(&Event::BusinessCard {
        pool: pool(),
        elements: 3
    }));
    assert_eq!(pu.business_card(&pool()), Some(&[pe(4), pe(2), pe(1)][..]));
    assert_eq!(
        pu.select(t0, &pool(), SendOptions::DEFAULT).unwrap().pe_id,
        pe(1)
    );
    // After 1 comes 4 (wrapping), not 2 as round robin would give.
    let f = pu
        .report_unreachable(t0, &pool(), pe(1), SendOptions::DEFAULT)
        .unwrap()
        .unwrap();
    assert_eq!(f.pe_id, pe(4));
    let f = pu
        .report_unreachable(t0, &pool(), pe(4), SendOptions::DEFAULT)
        .unwrap()
        .unwrap();
    assert_eq!(f.pe_id, pe(2));
}

#[test]
fn business_card_for_an_unknown_pool_starts_a_resolution() {
    let t0 = Instant::from_secs(0);
    let mut pu = resolved(t0, Policy::RoundRobin, 1);
    drain(&mut pu);
    let rr = Policy::RoundRobin;
    let card = [element(5, rr)];
    feed(
        &mut pu,
        t0,
        AssocId(10),
        &AsapMessage::BusinessCard {
            pool_handle: b"other",
            policy: None,
            elements: List::from_slice(&card),
        },
    );
    expect_resolution(&drain(&mut pu), b"other");
    let other = PoolHandle::new(b"other").unwrap();
    // The card's PE can be used meanwhile.
    assert_eq!(
        pu.select(t0, &other, SendOptions::DEFAULT).unwrap().pe_id,
        pe(5)
    );
}

#[test]
fn send_options() {
    let t0 = Instant::from_secs(0);
    let mut pu = resolved(t0, Policy::RoundRobin, 3);
    let first = pu.select(t0, &pool(), SendOptions::DEFAULT).unwrap().pe_id;
    // TO_LAST: the same PE again.
    for _ in 0..3 {
        assert_eq!(
            pu.select(t0, &pool(), SendOptions::TO_LAST).unwrap().pe_id,
            first
        );
    }
    // NO_FAILOVER: the failure is reported, no other PE picked.
    assert_eq!(
        pu.report_unreachable(t0, &pool(), first, SendOptions::NO_FAILOVER),
        Ok(None)
    );
    assert_eq!(types(&drain(&mut pu)), [UNREACHABLE]);
    // TO_LAST after the last PE went: an error with NO_FAILOVER, another PE with FAILOVER.
    assert_eq!(
        pu.select(t0, &pool(), SendOptions::TO_LAST | SendOptions::NO_FAILOVER),
        Err(PoolUserError::LastUnavailable)
    );
    let other = pu
        .select(t0, &pool(), SendOptions::TO_LAST | SendOptions::FAILOVER)
        .unwrap()
        .pe_id;
    assert_ne!(other, first);
    // TO_ALL: every cached PE.
    assert_eq!(
        pu.select(t0, &pool(), SendOptions::TO_ALL),
        Err(PoolUserError::UseSelectAll)
    );
    let mut all: [Option<rserpool::pool_user::Selection>; 8] = Default::default();
    assert_eq!(pu.select_all(t0, &pool(), &mut all), Ok(2));
    let ids: Vec<PeId> = all.iter().flatten().map(|s| s.pe_id).collect();
    assert_eq!(ids, [pe(2), pe(3)]);
    // Failing the last PEs leaves nothing: a resolution starts, the failover waits for it.
    pu.report_unreachable(t0, &pool(), pe(2), SendOptions::NO_FAILOVER)
        .unwrap();
    drain(&mut pu);
    assert_eq!(
        pu.report_unreachable(t0, &pool(), pe(3), SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    let sent = drain(&mut pu);
    assert_eq!(types(&sent), [UNREACHABLE, HR]);
    let rr = Policy::RoundRobin;
    answer(&mut pu, t0, b"echo", None, &[element(5, rr)]);
    let s = pu.select(t0, &pool(), SendOptions::DEFAULT).unwrap();
    assert_eq!(s.pe_id, pe(5));
    assert!(s.failover);
}

#[test]
fn weighted_random_shares_follow_the_weights() {
    let t0 = Instant::from_secs(0);
    let mut pu = with_home(t0, config());
    drain(&mut pu);
    let list = [
        element(1, Policy::WeightedRandom { weight: 1 }),
        element(2, Policy::WeightedRandom { weight: 2 }),
        element(3, Policy::WeightedRandom { weight: 5 }),
        element(4, Policy::WeightedRandom { weight: 0 }),
    ];
    answer(
        &mut pu,
        t0,
        b"echo",
        Some(Policy::WeightedRandom { weight: 1 }),
        &list,
    );
    let mut counts = [0u32; 5];
    let n = 80_000;
    for _ in 0..n {
        let s = pu.select(t0, &pool(), SendOptions::DEFAULT).unwrap();
        counts[s.pe_id.get() as usize] += 1;
    }
    assert_eq!(counts[4], 0, "weight 0 never chosen");
    for (id, weight) in [(1, 1.0), (2, 2.0), (3, 5.0)] {
        let share = f64::from(counts[id]) / f64::from(n);
        let want = weight / 8.0;
        assert!((share - want).abs() < 0.01, "PE {id}: {share} vs {want}");
    }
}

#[test]
fn random_and_randomized_least_used_shares() {
    let t0 = Instant::from_secs(0);
    // RAND: uniform.
    let mut pu = resolved(t0, Policy::Random, 4);
    let mut counts = [0u32; 5];
    for _ in 0..40_000 {
        counts[pu
            .select(t0, &pool(), SendOptions::DEFAULT)
            .unwrap()
            .pe_id
            .get() as usize] += 1;
    }
    for c in &counts[1..] {
        assert!((9_500..10_500).contains(c), "{counts:?}");
    }
    // RLU: weight = 100 % - load.
    let mut pu = with_home(t0, config());
    drain(&mut pu);
    let half = 0x8000_0000u32;
    let list = [
        element(1, Policy::RandomizedLeastUsed { load: 0 }),
        element(2, Policy::RandomizedLeastUsed { load: half }),
    ];
    answer(
        &mut pu,
        t0,
        b"echo",
        Some(Policy::RandomizedLeastUsed { load: 0 }),
        &list,
    );
    let mut ones = 0;
    for _ in 0..30_000 {
        if pu.select(t0, &pool(), SendOptions::DEFAULT).unwrap().pe_id == pe(1) {
            ones += 1;
        }
    }
    let share = f64::from(ones) / 30_000.0;
    assert!((share - 2.0 / 3.0).abs() < 0.015, "{share}");
}

#[test]
fn priority_takes_the_highest_and_least_used_the_least_loaded() {
    let t0 = Instant::from_secs(0);
    let mut pu = with_home(t0, config());
    drain(&mut pu);
    let list = [
        element(1, Policy::Priority { priority: 3 }),
        element(2, Policy::Priority { priority: 9 }),
        element(3, Policy::Priority { priority: 9 }),
        element(4, Policy::Priority { priority: 1 }),
    ];
    answer(
        &mut pu,
        t0,
        b"echo",
        Some(Policy::Priority { priority: 0 }),
        &list,
    );
    for _ in 0..5 {
        assert_eq!(
            pu.select(t0, &pool(), SendOptions::DEFAULT).unwrap().pe_id,
            pe(2)
        );
    }
    // The highest gone: the next highest.
    let f = pu
        .report_unreachable(t0, &pool(), pe(2), SendOptions::DEFAULT)
        .unwrap()
        .unwrap();
    assert_eq!(f.pe_id, pe(3));

    let list = [
        element(1, Policy::LeastUsed { load: 500 }),
        element(2, Policy::LeastUsed { load: 100 }),
        element(3, Policy::LeastUsed { load: 100 }),
    ];
    answer(
        &mut pu,
        t0,
        b"echo",
        Some(Policy::LeastUsed { load: 0 }),
        &list,
    );
    for _ in 0..3 {
        assert_eq!(
            pu.select(t0, &pool(), SendOptions::DEFAULT).unwrap().pe_id,
            pe(2)
        );
    }
    // No policy parameter in the answer: round robin.
    answer(&mut pu, t0, b"echo", None, &list);
    let picks: Vec<u32> = (0..4)
        .map(|_| {
            pu.select(t0, &pool(), SendOptions::DEFAULT)
                .unwrap()
                .pe_id
                .get()
        })
        .collect();
    assert_eq!(picks, [1, 2, 3, 1]);
}

#[test]
fn cache_capacity_is_bounded() {
    let t0 = Instant::from_secs(0);
    let mut config = config();
    config.max_pools = 2;
    config.max_elements_per_pool = 3;
    let mut pu = with_home(t0, config);
    drain(&mut pu);
    let rr = Policy::RoundRobin;
    let list: Vec<_> = (1..=6).map(|i| element(i, rr)).collect();
    answer(&mut pu, t0, b"echo", None, &list);
    let mut ids = [pe(9); 8];
    assert_eq!(pu.cached_elements(&pool(), &mut ids), 3);
    assert_eq!(&ids[..3], &[pe(1), pe(2), pe(3)]);
    // A second pool fits; while both resolve, a third does not.
    let b = PoolHandle::new(b"b").unwrap();
    let c = PoolHandle::new(b"c").unwrap();
    assert_eq!(
        pu.select(t0, &b, SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    assert_eq!(pu.cached_pools(), 2);
    // "echo" is idle: it is replaced by "c" (least recently used).
    assert_eq!(
        pu.select(t0, &c, SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    assert_eq!(pu.cached_pools(), 2);
    assert_eq!(pu.cached_elements(&pool(), &mut ids), 0);
    // Now both pools have requests out: no room.
    assert_eq!(
        pu.select(t0, &pool(), SendOptions::DEFAULT),
        Err(PoolUserError::CacheFull)
    );
    // Type-level bound: PoolUser<1, 2>.
    let mut tiny: PoolUser<1, 2> = PoolUser::new(super_config());
    assert_eq!(
        tiny.select(t0, &pool(), SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    assert_eq!(
        tiny.select(t0, &b, SendOptions::DEFAULT),
        Err(PoolUserError::CacheFull)
    );
}

fn super_config() -> PoolUserConfig {
    config()
}

#[test]
fn lost_home_resends_the_request_to_the_next() {
    let t0 = Instant::from_secs(0);
    let mut c = config();
    c.registrars.push(registrar(2)).unwrap();
    let mut pu = Pu::new(c);
    assert_eq!(
        pu.select(t0, &pool(), SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    let connects: Vec<_> = std::iter::from_fn(|| pu.poll_connect()).collect();
    assert_eq!(connects.len(), 2);
    pu.handle_transport_event(
        t0,
        TransportEvent::Up {
            assoc: HOME,
            remote: registrar(1),
            protocol: Protocol::Asap,
            verified: true,
        },
    );
    expect_resolution(&drain(&mut pu), b"echo");
    pu.handle_transport_event(t0, TransportEvent::Down { assoc: HOME });
    pu.handle_transport_event(
        t0,
        TransportEvent::Up {
            assoc: AssocId(2),
            remote: registrar(2),
            protocol: Protocol::Asap,
            verified: true,
        },
    );
    let sent = drain(&mut pu);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, Destination::Association(AssocId(2)));
    assert_eq!(sent[0].1[0], HR);
    let ev = events(&mut pu);
    assert!(ev.contains(&Event::HomeLost { assoc: HOME }));
    // An unreachable report without a home waits for one.
    let rr = Policy::RoundRobin;
    answer(
        &mut pu,
        t0,
        b"echo",
        None,
        &[element(1, rr), element(2, rr)],
    );
    pu.handle_transport_event(t0, TransportEvent::Down { assoc: AssocId(2) });
    pu.report_unreachable(t0, &pool(), pe(1), SendOptions::NO_FAILOVER)
        .unwrap();
    assert!(drain(&mut pu).is_empty());
    let c = pu.poll_connect().unwrap();
    pu.handle_transport_event(
        t0,
        TransportEvent::Up {
            assoc: AssocId(3),
            remote: c.remote,
            protocol: Protocol::Asap,
            verified: true,
        },
    );
    let sent = drain(&mut pu);
    assert_eq!(types(&sent), [UNREACHABLE]);
    assert_eq!(sent[0].0, Destination::Association(AssocId(3)));
}

fn up_assoc<const P: usize, const E: usize>(
    pu: &mut PoolUser<P, E>,
    now: Instant,
    assoc: AssocId,
    remote: SocketAddr,
) {
    pu.handle_transport_event(
        now,
        TransportEvent::Up {
            assoc,
            remote,
            protocol: Protocol::Asap,
            verified: true,
        },
    );
}

#[test]
fn t1_expiry_hunts_in_parallel_and_moves_to_a_connected_registrar() {
    let t0 = Instant::from_secs(0);
    let mut c = config();
    for n in 2..=4 {
        c.registrars.push(registrar(n)).unwrap();
    }
    let mut pu = Pu::new(c);
    assert_eq!(
        pu.select(t0, &pool(), SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    // At most three attempts: registrars 1-3.
    let connects: Vec<_> = std::iter::from_fn(|| pu.poll_connect()).collect();
    assert_eq!(connects.len(), 3);
    up_assoc(&mut pu, t0, HOME, registrar(1));
    expect_resolution(&drain(&mut pu), b"echo");
    // Registrars 2 and 3 fail; at the first expiry another one (4) is tried
    // in parallel while the resend goes to the home.
    for n in 2..=3 {
        pu.handle_transport_event(
            t0,
            TransportEvent::ConnectFailed {
                remote: registrar(n),
            },
        );
    }
    assert_eq!(
        pu.poll_connect(),
        None,
        "not hunting: no replacement attempts"
    );
    let t1 = t0 + Duration::from_secs(15);
    pu.handle_timeout(t1);
    expect_resolution(&drain(&mut pu), b"echo");
    assert_eq!(pu.poll_connect().map(|c| c.remote), Some(registrar(4)));
    assert_eq!(pu.home().unwrap().assoc, HOME);
    up_assoc(&mut pu, t1, AssocId(4), registrar(4));
    assert_eq!(pu.home().unwrap().assoc, HOME, "the home is kept");
    // The second expiry moves to registrar 4, which gets the resend.
    pu.handle_timeout(t1 + Duration::from_secs(15));
    let sent = drain(&mut pu);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, Destination::Association(AssocId(4)));
    assert_eq!(pu.home().unwrap().assoc, AssocId(4));
    // It answers: the resolution completes.
    let rr = Policy::RoundRobin;
    feed(
        &mut pu,
        t1,
        AssocId(4),
        &AsapMessage::HandleResolutionResponse {
            accept_updates: false,
            pool_handle: b"echo",
            policy: None,
            elements: List::from_slice(&[element(1, rr)]),
            error: None,
        },
    );
    assert_eq!(
        pu.select(t1, &pool(), SendOptions::DEFAULT).unwrap().pe_id,
        pe(1)
    );
}

#[test]
fn skipped_parameters_that_ask_for_it_are_reported() {
    let t0 = Instant::from_secs(0);
    let mut pu = resolved(t0, Policy::RoundRobin, 1);
    pu.attach_control_channel(&pool(), pe(1), AssocId(10))
        .unwrap();
    drain(&mut pu);
    let mut buf = vec![0u8; 256];
    let n = AsapMessage::Cookie { cookie: b"abcd" }
        .emit(&mut buf)
        .unwrap();
    buf.truncate(n);
    // 0xC001: unknown, "skip and report"; 0x8002: unknown, "skip".
    let report = [0xC0, 0x01, 0, 8, 1, 2, 3, 4];
    buf.extend_from_slice(&report);
    buf.extend_from_slice(&[0x80, 0x02, 0, 4]);
    let len = buf.len() as u16;
    buf[2..4].copy_from_slice(&len.to_be_bytes());
    pu.handle(t0, Source::Association(AssocId(10)), Protocol::Asap, &buf);
    // The cookie is kept ...
    assert_eq!(pu.cookie(&pool()), Some(&b"abcd"[..]));
    // ... and the reportable parameter goes back in an Unrecognized Parameter cause.
    let sent = drain(&mut pu);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, Destination::Association(AssocId(10)));
    match AsapMessage::parse(&sent[0].1).unwrap() {
        AsapMessage::Error { error } => {
            let causes: Vec<_> = error.causes.iter().collect();
            assert_eq!(causes.len(), 1);
            assert_eq!(causes[0].code, CauseCode::UnrecognizedParameter);
            assert_eq!(causes[0].bytes(), Some(&report[..]));
        }
        m => panic!("{m:?}"),
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let t0 = Instant::from_secs(0);
    let mut pu = resolved(t0, Policy::WeightedRandom { weight: 3 }, 3);
    let rr = Policy::RoundRobin;
    let elements = [element(1, rr), element(2, rr)];
    let samples: Vec<Vec<u8>> = [
        AsapMessage::HandleResolutionResponse {
            accept_updates: false,
            pool_handle: b"echo",
            policy: Some(PolicyParam::Known(rr)),
            elements: List::from_slice(&elements),
            error: None,
        },
        AsapMessage::BusinessCard {
            pool_handle: b"echo",
            policy: None,
            elements: List::from_slice(&elements),
        },
        AsapMessage::Cookie { cookie: b"abc" },
    ]
    .iter()
    .map(|m| {
        let mut b = vec![0u8; 1024];
        let n = m.emit(&mut b).unwrap();
        b.truncate(n);
        b
    })
    .collect();
    let mut x: u64 = 0x1234_5678_9abc_def0;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = vec![0u8; 65536];
    for i in 0..20_000u32 {
        let mut m = samples[(next() % 3) as usize].clone();
        for _ in 0..(next() % 4) {
            let k = (next() as usize) % m.len();
            m[k] = next() as u8;
        }
        if i % 7 == 0 {
            m.truncate((next() as usize) % m.len());
        }
        let now = t0 + Duration::from_millis(u64::from(i));
        pu.handle(now, Source::Association(AssocId(10)), Protocol::Asap, &m);
        let _ = pu.select(now, &pool(), SendOptions::DEFAULT);
        if let Some(t) = pu.poll_timeout() {
            if t <= now {
                pu.handle_timeout(now);
            }
        }
        while pu.poll_transmit(&mut out).unwrap().is_some() {}
        while pu.poll_event().is_some() {}
    }
    // Drained every step: nothing was ever dropped.
    assert_eq!((pu.send_failures(), pu.events_lost()), (0, 0));
    let mut ids = [pe(9); 16];
    assert!(pu.cached_elements(&pool(), &mut ids) <= 8);
}

fn unknown_pool(pu: &mut Pu, now: Instant, assoc: AssocId) {
    let causes = [ErrorCause::new(CauseCode::UnknownPoolHandle)];
    feed(
        pu,
        now,
        assoc,
        &AsapMessage::HandleResolutionResponse {
            accept_updates: false,
            pool_handle: b"echo",
            policy: None,
            elements: List::empty(),
            error: Some(OperationError::new(&causes)),
        },
    );
}

/// The one message sent: a HANDLE_RESOLUTION for "echo" over `assoc`.
fn expect_resolution_on(pu: &mut Pu, assoc: AssocId) {
    let sent = drain(pu);
    assert_eq!(types(&sent), [HR], "{sent:?}");
    assert_eq!(sent[0].0, Destination::Association(assoc));
}

fn failed_unknown(ev: &[Event]) -> bool {
    ev.contains(&Event::ResolutionFailed {
        pool: pool(),
        cause: Some(CauseCode::UnknownPoolHandle),
    })
}

#[test]
fn unknown_pool_handle_asks_each_connected_registrar_once_then_reports() {
    let t0 = Instant::from_secs(0);
    let mut c = config();
    for n in 2..=3 {
        c.registrars.push(registrar(n)).unwrap();
    }
    let mut pu = Pu::new(c);
    assert_eq!(
        pu.select(t0, &pool(), SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    assert_eq!(std::iter::from_fn(|| pu.poll_connect()).count(), 3);
    up_assoc(&mut pu, t0, HOME, registrar(1));
    up_assoc(&mut pu, t0, AssocId(2), registrar(2));
    up_assoc(&mut pu, t0, AssocId(3), registrar(3));
    expect_resolution_on(&mut pu, HOME);
    // The home knows nothing (e.g. restarted): the next registrar is asked,
    // nothing is reported yet, and it becomes the home.
    unknown_pool(&mut pu, t0, HOME);
    expect_resolution_on(&mut pu, AssocId(2));
    assert_eq!(pu.home().unwrap().assoc, AssocId(2));
    assert!(!failed_unknown(&events(&mut pu)));
    assert!(pu.is_resolving(&pool()));
    // Neither does the second: the third (not the first again).
    unknown_pool(&mut pu, t0, AssocId(2));
    expect_resolution_on(&mut pu, AssocId(3));
    assert!(!failed_unknown(&events(&mut pu)));
    // Every registrar said so: reported, as with a single registrar.
    unknown_pool(&mut pu, t0, AssocId(3));
    assert!(drain(&mut pu).is_empty());
    assert!(failed_unknown(&events(&mut pu)));
    assert!(!pu.is_resolving(&pool()));
    assert_eq!(pu.poll_timeout(), None);
    assert_eq!(pu.registrar_moves(), 2);
    // A new attempt starts at the home and may ask every registrar again.
    assert_eq!(
        pu.select(t0, &pool(), SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    expect_resolution_on(&mut pu, AssocId(3));
    unknown_pool(&mut pu, t0, AssocId(3));
    expect_resolution_on(&mut pu, HOME);
    let rr = Policy::RoundRobin;
    answer(&mut pu, t0, b"echo", None, &[element(1, rr)]);
    assert!(events(&mut pu).contains(&Event::Resolved {
        pool: pool(),
        elements: 1
    }));
    assert_eq!(pu.home().unwrap().assoc, HOME);
}

#[test]
fn unknown_pool_handle_opens_an_association_to_a_registrar_not_asked() {
    let t0 = Instant::from_secs(0);
    let mut c = config();
    c.registrars.push(registrar(2)).unwrap();
    let mut pu = Pu::new(c);
    assert_eq!(
        pu.select(t0, &pool(), SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    assert_eq!(std::iter::from_fn(|| pu.poll_connect()).count(), 2);
    up_assoc(&mut pu, t0, HOME, registrar(1));
    pu.handle_transport_event(
        t0,
        TransportEvent::ConnectFailed {
            remote: registrar(2),
        },
    );
    expect_resolution_on(&mut pu, HOME);
    unknown_pool(&mut pu, t0, HOME);
    assert!(drain(&mut pu).is_empty(), "waits for the other registrar");
    assert_eq!(pu.poll_connect().map(|c| c.remote), Some(registrar(2)));
    assert!(pu.home().is_none());
    // A late answer of the registrar just asked does not make it the home.
    unknown_pool(&mut pu, t0, HOME);
    assert!(pu.home().is_none());
    assert!(!failed_unknown(&events(&mut pu)));
    let t1 = t0 + Duration::from_millis(300);
    up_assoc(&mut pu, t1, AssocId(2), registrar(2));
    expect_resolution_on(&mut pu, AssocId(2));
    let rr = Policy::RoundRobin;
    feed(
        &mut pu,
        t1,
        AssocId(2),
        &AsapMessage::HandleResolutionResponse {
            accept_updates: false,
            pool_handle: b"echo",
            policy: None,
            elements: List::from_slice(&[element(1, rr), element(2, rr)]),
            error: None,
        },
    );
    assert!(events(&mut pu).contains(&Event::Resolved {
        pool: pool(),
        elements: 2
    }));
    assert_eq!(pu.home().unwrap().assoc, AssocId(2));
    assert_eq!(
        pu.select(t1, &pool(), SendOptions::DEFAULT).unwrap().pe_id,
        pe(1)
    );
}

#[test]
fn unknown_pool_handle_falls_back_when_no_other_registrar_can_be_reached() {
    let t0 = Instant::from_secs(0);
    let mut c = config();
    c.registrars.push(registrar(2)).unwrap();
    let mut pu = Pu::new(c);
    assert_eq!(
        pu.select(t0, &pool(), SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    assert_eq!(std::iter::from_fn(|| pu.poll_connect()).count(), 2);
    up_assoc(&mut pu, t0, HOME, registrar(1));
    pu.handle_transport_event(
        t0,
        TransportEvent::ConnectFailed {
            remote: registrar(2),
        },
    );
    expect_resolution_on(&mut pu, HOME);
    unknown_pool(&mut pu, t0, HOME);
    assert_eq!(pu.poll_connect().map(|c| c.remote), Some(registrar(2)));
    // Registrar 2 cannot be reached: the connected registrar 1 is taken
    // back and asked again, and its second Unknown Pool Handle is reported
    // (as many answers as registrars known: the attempt ends).
    pu.handle_transport_event(
        t0,
        TransportEvent::ConnectFailed {
            remote: registrar(2),
        },
    );
    assert_eq!(pu.home().unwrap().assoc, HOME);
    expect_resolution_on(&mut pu, HOME);
    unknown_pool(&mut pu, t0, HOME);
    assert!(failed_unknown(&events(&mut pu)));
    assert!(!pu.is_resolving(&pool()));
    assert!(drain(&mut pu).is_empty());
    assert_eq!(pu.poll_timeout(), None);
}

#[test]
fn unknown_pool_handle_with_a_late_t5_moves_back_to_the_connected_registrar() {
    // The other registrar's attempt neither comes up nor fails: T5 ends it,
    // and the hunt takes the connected registrar back.
    let t0 = Instant::from_secs(0);
    let mut c = config();
    c.registrars.push(registrar(2)).unwrap();
    let mut pu = Pu::new(c);
    assert_eq!(
        pu.select(t0, &pool(), SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    assert_eq!(std::iter::from_fn(|| pu.poll_connect()).count(), 2);
    up_assoc(&mut pu, t0, HOME, registrar(1));
    pu.handle_transport_event(
        t0,
        TransportEvent::ConnectFailed {
            remote: registrar(2),
        },
    );
    expect_resolution_on(&mut pu, HOME);
    unknown_pool(&mut pu, t0, HOME);
    assert_eq!(pu.poll_connect().map(|c| c.remote), Some(registrar(2)));
    let t5 = pu.poll_timeout().unwrap();
    assert_eq!(t5, t0 + Duration::from_secs(10));
    pu.handle_timeout(t5);
    assert_eq!(pu.home().unwrap().assoc, HOME);
    expect_resolution_on(&mut pu, HOME);
}

/// A PE with 64 IPv4 addresses is cached and selected with all of them; one
/// with 64 mixed addresses with as many as fit in the cache's budget.
#[test]
fn pes_with_many_addresses_are_cached_and_selected() {
    use rserpool::addr::MAX_TRANSPORT_ADDRESSES;
    use rserpool::pool_user::CACHED_ADDRESS_BYTES;
    use std::net::Ipv6Addr;
    let t0 = Instant::from_secs(10);
    let mut pu = with_home(t0, config());
    expect_resolution(&drain(&mut pu), b"echo");
    let v4: Vec<IpAddr> = (0..MAX_TRANSPORT_ADDRESSES)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 2, 0, i as u8)))
        .collect();
    let mixed: Vec<IpAddr> = (0..MAX_TRANSPORT_ADDRESSES)
        .map(|i| match i % 2 {
            0 => IpAddr::V4(Ipv4Addr::new(10, 3, 0, i as u8)),
            _ => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 3, i as u16)),
        })
        .collect();
    let param = |id: u32, addrs: &'static [IpAddr]| PoolElementParam {
        pe_id: pe(id),
        home_server: None,
        registration_life: 30_000,
        user_transport: UserTransport::Transport(TransportParam::new(
            TransportProtocol::Sctp,
            7000,
            TransportUse::DataOnly,
            addrs,
        )),
        policy: PolicyParam::Known(Policy::RoundRobin),
        asap_transport: None,
    };
    let v4: &'static [IpAddr] = Vec::leak(v4);
    let mixed: &'static [IpAddr] = Vec::leak(mixed);
    answer(&mut pu, t0, b"echo", None, &[param(1, v4), param(2, mixed)]);
    assert!(events(&mut pu)
        .iter()
        .any(|e| matches!(e, Event::Resolved { elements: 2, .. })));
    let mut seen = Vec::new();
    for _ in 0..2 {
        let s = pu.select(t0, &pool(), SendOptions::DEFAULT).unwrap();
        seen.push((s.pe_id.get(), s.transport.addresses.to_vec()));
    }
    seen.sort_by_key(|x| x.0);
    assert_eq!(seen[0].1, v4);
    // Pairs of IPv4 + IPv6 take 20 bytes: 12 pairs take 240, the 13th
    // pair's IPv4 fits (244), its IPv6 not (260).
    let kept = &seen[1].1;
    assert_eq!(kept[..], mixed[..kept.len()]);
    let bytes: usize = kept.iter().map(|a| if a.is_ipv4() { 4 } else { 16 }).sum();
    assert!(bytes <= CACHED_ADDRESS_BYTES);
    assert_eq!(kept.len(), 25);
}

#[test]
fn a_registrar_challenge_is_echoed_and_the_resolution_sent_again_at_once() {
    let t0 = Instant::from_secs(10);
    let mut pu = with_home(t0, config());
    let sent = drain(&mut pu);
    assert_eq!(sent.len(), 1);
    let request = sent[0].1.clone();
    assert!(matches!(
        AsapMessage::parse(&request).unwrap(),
        AsapMessage::HandleResolution { .. }
    ));
    let t1 = t0 + Duration::from_millis(3);
    feed(&mut pu, t1, HOME, &AsapMessage::Cookie { cookie: &[9; 16] });
    let sent = drain(&mut pu);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].0, Destination::Association(HOME));
    assert_eq!(
        AsapMessage::parse(&sent[0].1).unwrap(),
        AsapMessage::CookieEcho { cookie: &[9; 16] }
    );
    // The same request, now, not after T1.
    assert_eq!(sent[1], (Destination::Association(HOME), request));
    assert_eq!(pu.challenges_answered(), 1);
    assert_eq!(pu.poll_timeout(), Some(t1 + config().t1_enrp_request));
    // The answer completes the resolution.
    answer(
        &mut pu,
        t1,
        b"echo",
        None,
        &[element(1, Policy::RoundRobin)],
    );
    assert!(pu.select(t1, &pool(), SendOptions::DEFAULT).is_ok());
}

#[test]
fn a_cookie_on_an_association_that_is_no_registrars_is_not_echoed() {
    let t0 = Instant::from_secs(10);
    let mut pu = with_home(t0, config());
    drain(&mut pu);
    pu.handle_transport_event(
        t0,
        TransportEvent::Up {
            assoc: AssocId(9),
            remote: SocketAddr::new(ip(50), 7000),
            protocol: Protocol::Asap,
            verified: false,
        },
    );
    feed(
        &mut pu,
        t0,
        AssocId(9),
        &AsapMessage::Cookie { cookie: &[1; 8] },
    );
    assert!(drain(&mut pu).is_empty());
    assert_eq!(pu.challenges_answered(), 0);
}

#[test]
fn challenges_for_several_withheld_resolutions_resend_each_once() {
    let t0 = Instant::from_secs(10);
    let mut pu = with_home(t0, config());
    let other = PoolHandle::new(b"other").unwrap();
    assert_eq!(
        pu.select(t0, &other, SendOptions::DEFAULT),
        Err(PoolUserError::WouldBlock)
    );
    assert_eq!(drain(&mut pu).len(), 2);
    // The registrar withheld both answers and challenged each request.
    for _ in 0..2 {
        feed(&mut pu, t0, HOME, &AsapMessage::Cookie { cookie: &[4; 16] });
    }
    let sent = drain(&mut pu);
    let resolutions = sent
        .iter()
        .filter(|(_, b)| {
            matches!(
                AsapMessage::parse(b).unwrap(),
                AsapMessage::HandleResolution { .. }
            )
        })
        .count();
    let echoes = sent.len() - resolutions;
    assert_eq!((echoes, resolutions), (2, 2), "{sent:?}");
    // A challenge after the next regular send resends again.
    pu.handle_timeout(t0 + config().t1_enrp_request);
    drain(&mut pu);
    feed(
        &mut pu,
        t0 + config().t1_enrp_request,
        HOME,
        &AsapMessage::Cookie { cookie: &[4; 16] },
    );
    assert_eq!(drain(&mut pu).len(), 3);
}

/// A SERVER_ANNOUNCE of registrar `n` (SCTP, port 3863) as it reaches the
/// pool user from that registrar's host.
fn announced(pu: &mut Pu, now: Instant, n: u8) {
    crate::support::machine::announce(pu, now, ip(n), u32::from(n));
}

/// A resolution started before any registrar is known waits T1 for one;
/// a registrar announced late in that wait, whose association is still
/// being set up when T1 ends, gets one more T1 (the resolution goes to it
/// once it is up) instead of the resolution failing as unanswered by a
/// registrar that was never asked. Without the association the resolution
/// still fails, after that second T1.
#[test]
fn a_registrar_announced_late_in_the_wait_for_a_home_gets_the_resolution() {
    let t0 = Instant::from_secs(0);
    let t1 = PoolUserConfig::rsplib().t1_enrp_request;
    for comes_up in [true, false] {
        let mut pu = Pu::new(PoolUserConfig::rsplib());
        assert_eq!(
            pu.select(t0, &pool(), SendOptions::DEFAULT),
            Err(PoolUserError::WouldBlock)
        );
        assert!(pu.poll_connect().is_none());
        assert_eq!(pu.poll_timeout(), Some(t0 + t1));
        let heard = t0 + t1 - Duration::from_millis(50);
        announced(&mut pu, heard, 1);
        let c = pu
            .poll_connect()
            .expect("the announced registrar is connected to");
        assert_eq!(c.remote, registrar(1));
        pu.handle_timeout(t0 + t1);
        assert!(events(&mut pu).is_empty(), "nothing failed at T1");
        assert!(pu.is_resolving(&pool()));
        if comes_up {
            let up = t0 + t1 + Duration::from_millis(20);
            up_assoc(&mut pu, up, HOME, registrar(1));
            expect_resolution(&drain(&mut pu), b"echo");
            answer(
                &mut pu,
                up,
                b"echo",
                None,
                &[element(1, Policy::RoundRobin)],
            );
            assert_eq!(
                pu.select(up, &pool(), SendOptions::DEFAULT).unwrap().pe_id,
                pe(1)
            );
        } else {
            // The association never comes up: one more T1, not more.
            let mut failed_at = None;
            for _ in 0..20 {
                let Some(now) = pu.poll_timeout() else { break };
                pu.handle_timeout(now);
                if events(&mut pu).contains(&Event::ResolutionFailed {
                    pool: pool(),
                    cause: None,
                }) {
                    failed_at = Some(now);
                    break;
                }
            }
            assert_eq!(failed_at, Some(t0 + t1 + t1));
            assert!(drain(&mut pu).is_empty(), "nothing was sent");
        }
    }
}
