//! The pool user machine against hand-built ASAP message sequences.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

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
        },
    );
    pu
}

fn drain<const P: usize, const E: usize>(pu: &mut PoolUser<P, E>) -> Vec<(Destination, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Some(t) = pu.poll_transmit(&mut buf).unwrap() {
        assert_eq!(t.protocol, Protocol::Asap);
        out.push((t.destination, buf[..t.len].to_vec()));
    }
    out
}

fn events<const P: usize, const E: usize>(pu: &mut PoolUser<P, E>) -> Vec<Event> {
    std::iter::from_fn(|| pu.poll_event()).collect()
}

fn feed<const P: usize, const E: usize>(
    pu: &mut PoolUser<P, E>,
    now: Instant,
    assoc: AssocId,
    m: &AsapMessage<'_>,
) {
    let mut buf = vec![0u8; 65536];
    let n = m.emit(&mut buf).unwrap();
    pu.handle(now, Source::Association(assoc), Protocol::Asap, &buf[..n]);
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
