//! The pool element machine against hand-built ASAP message sequences.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::pool_element::{
    Event, OwnedTransport, PoolElement, PoolElementConfig, PoolElementError,
};
use rserpool::transmit::{Destination, Machine, Source, TransportEvent};
use rserpool::wire::{AsapMessage, ErrorCause, OperationError, Protocol, TransportParam};
use rserpool::{AssocId, CauseCode, Duration, Instant, PeId, PoolHandle, ServerId};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn registrar(n: u8) -> SocketAddr {
    SocketAddr::new(ip(n), 3863)
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

/// Every queued message, parsed back: (destination, bytes).
fn drain(pe: &mut PoolElement) -> Vec<(Destination, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Some(t) = pe.poll_transmit(&mut buf).unwrap() {
        assert_eq!(t.protocol, Protocol::Asap);
        out.push((t.destination, buf[..t.len].to_vec()));
    }
    out
}

fn events(pe: &mut PoolElement) -> Vec<Event> {
    std::iter::from_fn(|| pe.poll_event()).collect()
}

fn feed(pe: &mut PoolElement, now: Instant, assoc: u32, m: &AsapMessage<'_>) {
    let mut buf = vec![0u8; 4096];
    let n = m.emit(&mut buf).unwrap();
    pe.handle(
        now,
        Source::Association(AssocId(assoc)),
        Protocol::Asap,
        &buf[..n],
    );
}

fn accept(pe: &mut PoolElement, now: Instant, assoc: u32) {
    feed(
        pe,
        now,
        assoc,
        &AsapMessage::RegistrationResponse {
            rejected: false,
            pool_handle: b"echo",
            pe_id: pe.pe_id(),
            error: None,
        },
    );
}

/// Starts a PE with one registrar and brings the association up.
fn connected(now: Instant) -> PoolElement {
    let mut pe = PoolElement::new(config(&[registrar(1)])).unwrap();
    pe.register(now);
    let c = pe.poll_connect().unwrap();
    assert_eq!(c.remote, registrar(1));
    pe.handle_transport_event(
        now,
        TransportEvent::Up {
            assoc: AssocId(1),
            remote: registrar(1),
            protocol: Protocol::Asap,
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
