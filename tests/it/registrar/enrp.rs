//! The ENRP hooks: handle updates out (events), peer updates in, takeover,
//! checksums and paging through owned PEs.

use crate::support::registrar::*;
use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::handlespace::{HandlespaceError, PeTimerKind, RegisterOutcome};
use rserpool::registrar::{Event, RegistrarError};
use rserpool::transmit::{Destination, Machine};
use rserpool::wire::{
    AsapMessage, PolicyParam, PoolElementParam, Protocol, TransportParam, UserTransport,
};
use rserpool::{CauseCode, Duration, Instant, Policy, PoolHandle, ServerId};
use std::net::IpAddr;

const T0: Instant = Instant::from_secs(1_000);
const PEER: u32 = 0xBEEF;

fn peer() -> ServerId {
    ServerId::new(PEER).unwrap()
}

/// Applies a peer's PE `id`, reachable for ASAP at `pe_addr(asap)`.
fn peer_pe(
    r: &mut TestRegistrar,
    now: Instant,
    pool: &str,
    id: u32,
    asap: u8,
    life: i32,
) -> Result<RegisterOutcome, RegistrarError> {
    let user: [IpAddr; 1] = [pe_addr(100 + id as u8).ip()];
    let asap_ip: [IpAddr; 1] = [pe_addr(asap).ip()];
    let p = PoolElementParam {
        pe_id: pe(id),
        home_server: Some(peer()),
        registration_life: life,
        user_transport: UserTransport::Transport(TransportParam::new(
            TransportProtocol::Sctp,
            7000,
            TransportUse::DataOnly,
            &user,
        )),
        policy: PolicyParam::Known(Policy::RoundRobin),
        asap_transport: Some(TransportParam::new(
            TransportProtocol::Sctp,
            pe_addr(asap).port(),
            TransportUse::DataOnly,
            &asap_ip,
        )),
    };
    r.apply_peer_update(now, peer(), pool.as_bytes(), &p)
}

#[test]
fn peer_updates_are_applied_without_events_and_expire_silently() {
    let mut r = registrar(config());
    assert!(matches!(
        peer_pe(&mut r, T0, "p", 1, 1, 10_000),
        Ok(RegisterOutcome::Added(_))
    ));
    assert!(matches!(
        peer_pe(&mut r, T0, "p", 1, 1, 10_000),
        Ok(RegisterOutcome::Updated(_))
    ));
    assert!(events(&mut r).is_empty());
    assert_eq!(r.owned_count(), 0);
    assert_eq!(r.handlespace().owned_count(peer()), 1);
    assert_ne!(r.peer_checksum(peer()), 0xFFFF);
    assert_eq!(r.own_checksum(), 0xFFFF);
    let h = PoolHandle::new(b"p").unwrap();
    assert_eq!(
        r.handlespace().lookup(&h, pe(1)).unwrap().timer(),
        Some((PeTimerKind::LifetimeExpiry, T0 + Duration::from_secs(10)))
    );
    // Same checks as a registration.
    let addrs = [pe_addr(1).ip()];
    let lu = PoolElementParam {
        pe_id: pe(2),
        home_server: Some(peer()),
        registration_life: 10_000,
        user_transport: UserTransport::Transport(TransportParam::new(
            TransportProtocol::Sctp,
            1,
            TransportUse::DataOnly,
            &addrs,
        )),
        policy: PolicyParam::Known(Policy::LeastUsed { load: 0 }),
        asap_transport: None,
    };
    assert!(matches!(
        r.apply_peer_update(T0, peer(), b"p", &lu),
        Err(RegistrarError::Handlespace(
            HandlespaceError::InconsistentPoolingPolicy { .. }
        ))
    ));
    assert_eq!(
        r.apply_peer_update(T0, server_id(), b"x", &lu),
        Err(RegistrarError::OwnServerId)
    );
    // Resolvable.
    up(&mut r, T0, 30);
    r.handle(T0, src(30), Protocol::Asap, &resolution("p", None));
    let b = one(&mut r, Destination::Association(a(30)));
    assert!(
        matches!(AsapMessage::parse(&b).unwrap(), AsapMessage::HandleResolutionResponse { elements, .. } if elements.len() == 1)
    );
    // Expiry: gone, nothing sent, no event.
    assert!(run_until(&mut r, T0 + Duration::from_secs(10)).is_empty());
    assert!(r.handlespace().is_empty());
    assert!(events(&mut r).is_empty());
    assert_eq!(r.stats().removed_lifetime, 1);
}

#[test]
fn peer_deletes_only_by_the_owner() {
    let mut r = registrar(config());
    peer_pe(&mut r, T0, "p", 1, 1, 10_000).unwrap();
    up(&mut r, T0, 2);
    register_ok(&mut r, T0, 2, "p", &PeSpec::new(2));
    let other = ServerId::new(0xCAFE).unwrap();
    assert!(!r.apply_peer_delete(other, b"p", pe(1)));
    assert!(!r.apply_peer_delete(peer(), b"p", pe(2)), "ours");
    assert!(!r.apply_peer_delete(peer(), b"p", pe(3)), "unknown");
    assert!(r.apply_peer_delete(peer(), b"p", pe(1)));
    assert_eq!(r.handlespace().len(), 1);
    assert!(events(&mut r).is_empty());
}

#[test]
fn a_pe_moving_to_a_peer_leaves_this_registrar() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    register_ok(&mut r, T0, 1, "p", &PeSpec::new(1));
    assert_eq!(r.owned_count(), 1);
    let own = r.own_checksum();
    assert_ne!(own, 0xFFFF);
    peer_pe(&mut r, T0, "p", 1, 1, 10_000).unwrap();
    assert_eq!(r.owned_count(), 0);
    assert_eq!(r.own_checksum(), 0xFFFF);
    assert_eq!(r.peer_checksum(peer()), own, "the checksum moves along");
    // No keep-alives any more; the old association cannot deregister it.
    r.handle(T0, src(1), Protocol::Asap, &deregistration("p", 1));
    let b = one(&mut r, Destination::Association(a(1)));
    assert!(
        matches!(AsapMessage::parse(&b).unwrap(), AsapMessage::DeregistrationResponse { error: Some(e), .. } if e.code() == Some(CauseCode::RejectedSecurityConsiderations))
    );
    assert_eq!(r.handlespace().len(), 1);
}

#[test]
fn a_peer_pe_may_reregister_here_from_its_own_address_only() {
    let mut r = registrar(config());
    peer_pe(&mut r, T0, "p", 1, 1, 10_000).unwrap();
    up(&mut r, T0, 1); // remote pe_addr(1): the PE's ASAP address
    up(&mut r, T0, 2); // someone else
    r.handle(
        T0,
        src(2),
        Protocol::Asap,
        &PeSpec::new(1).registration("p"),
    );
    let b = one(&mut r, Destination::Association(a(2)));
    assert!(
        matches!(AsapMessage::parse(&b).unwrap(), AsapMessage::RegistrationResponse { rejected: true, error: Some(e), .. } if e.code() == Some(CauseCode::RejectedSecurityConsiderations))
    );
    register_ok(&mut r, T0, 1, "p", &PeSpec::new(1));
    let h = PoolHandle::new(b"p").unwrap();
    let v = r.handlespace().lookup(&h, pe(1)).unwrap();
    assert_eq!(v.home_registrar(), Some(server_id()));
    assert_eq!(v.assoc(), a(1));
    assert_eq!(r.owned_count(), 1);
}

#[test]
fn takeover_claims_the_pes_with_h_set_and_binds_their_associations() {
    let mut r = registrar(config());
    for id in 1..=3u32 {
        peer_pe(&mut r, T0, "p", id, id as u8, 60_000).unwrap();
    }
    up(&mut r, T0, 9);
    register_ok(&mut r, T0, 9, "p", &PeSpec::new(9));
    let own_sum = r.own_checksum();
    let t1 = T0 + Duration::from_secs(1);
    assert_eq!(r.take_over(t1, peer()), Ok(3));
    assert_eq!(r.owned_count(), 4);
    assert_eq!(r.handlespace().owned_count(peer()), 0);
    assert_ne!(r.own_checksum(), own_sum);
    // Paging through owned PEs yields all four.
    let mut cursor = r.owned_cursor();
    let mut ids = Vec::new();
    while let Some(v) = r.handlespace().next_owned(&mut cursor) {
        ids.push(v.pe_id().get());
    }
    assert_eq!(ids, vec![1, 2, 3, 9]);
    // KEEP_ALIVE H=1 to each taken-over PE, due now: point to point, over
    // an ASAP association opened to its ASAP address (no datagram).
    assert_eq!(r.poll_timeout(), Some(t1));
    r.handle_timeout(t1);
    assert!(drain(&mut r).is_empty());
    let mut remotes = Vec::new();
    while let Some(c) = r.poll_connect() {
        assert_eq!(c.protocol, Protocol::Asap);
        remotes.push(c.remote);
    }
    remotes.sort();
    assert_eq!(remotes, vec![pe_addr(1), pe_addr(2), pe_addr(3)]);
    // The association to PE 1 comes up: the keep-alive goes on it.
    up(&mut r, t1, 1);
    let out = drain(&mut r);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.destination, Destination::Association(a(1)));
    assert!(matches!(AsapMessage::parse(&out[0].1).unwrap(),
        AsapMessage::EndpointKeepAlive { home: true, server_id: s, pe_id: Some(p), .. } if s == server_id() && p == pe(1)));
    // PE 1 answers on it: bound.
    r.handle(t1, src(1), Protocol::Asap, &keep_alive_ack("p", 1));
    let h = PoolHandle::new(b"p").unwrap();
    let v = r.handlespace().lookup(&h, pe(1)).unwrap();
    assert_eq!(v.assoc(), a(1));
    assert_eq!(v.timer().unwrap().0, PeTimerKind::KeepAliveTransmission);
    // PE 2's ACK from a foreign address is ignored.
    up(&mut r, t1, 42);
    r.handle(t1, src(42), Protocol::Asap, &keep_alive_ack("p", 2));
    assert_eq!(r.stats().keep_alive_acks_ignored, 1);
    // PEs 2 and 3 stay silent: removed after the keep-alive timeout, with events.
    run_answering(&mut r, t1 + Duration::from_secs(5));
    let removed: Vec<u32> = events(&mut r)
        .iter()
        .filter_map(|e| match e {
            Event::PoolElementRemoved { pe, .. } => Some(pe.pe_id.get()),
            _ => None,
        })
        .collect();
    assert_eq!(removed, vec![2, 3]);
    assert_eq!(r.handlespace().len(), 2);
}

/// Room for more taken-over PEs than connects may be in flight.
type BigRegistrar = rserpool::registrar::Registrar<
    rserpool::storage::RedBlackTree,
    rserpool::handlespace::Fixed<128, 4, 128, 4>,
    128,
    16,
    16384,
    64,
>;

#[test]
fn takeover_connects_are_bounded_and_the_rest_wait() {
    use rserpool::registrar::{MAX_PE_CONNECTS, PE_CONNECT_RETRY};
    let mut r: Box<BigRegistrar> = Box::new(rserpool::registrar::Registrar::new(config()));
    let n = MAX_PE_CONNECTS as u32 + 6;
    for id in 1..=n {
        let user: [IpAddr; 1] = [pe_addr(200).ip()];
        let asap_ip: [IpAddr; 1] = [pe_addr(id as u8).ip()];
        let p = PoolElementParam {
            pe_id: pe(id),
            home_server: Some(peer()),
            registration_life: 60_000,
            user_transport: UserTransport::Transport(TransportParam::new(
                TransportProtocol::Sctp,
                7000 + id as u16,
                TransportUse::DataOnly,
                &user,
            )),
            policy: PolicyParam::Known(Policy::RoundRobin),
            asap_transport: Some(TransportParam::new(
                TransportProtocol::Sctp,
                pe_addr(id as u8).port(),
                TransportUse::DataOnly,
                &asap_ip,
            )),
        };
        r.apply_peer_update(T0, peer(), b"p", &p).unwrap();
    }
    assert_eq!(r.take_over(T0, peer()), Ok(n as usize));
    r.handle_timeout(T0);
    let mut asked = 0;
    while r.poll_connect().is_some() {
        asked += 1;
    }
    // One connect per PE address, at most MAX_PE_CONNECTS in flight; the
    // other keep-alives wait, and no PE is lost for it.
    assert_eq!(asked, MAX_PE_CONNECTS);
    assert_eq!(r.stats().pe_connects_deferred, 6);
    assert_eq!(r.owned_count(), n as usize);
    // Six associations come up: room for the six waiting ones.
    for id in 1..=6u32 {
        r.handle_transport_event(
            T0,
            rserpool::transmit::TransportEvent::Up {
                assoc: a(100 + id),
                remote: pe_addr(id as u8),
                protocol: Protocol::Asap,
                verified: true,
            },
        );
    }
    r.handle_timeout(T0 + PE_CONNECT_RETRY);
    let mut more = Vec::new();
    while let Some(c) = r.poll_connect() {
        more.push(c.remote);
    }
    more.sort();
    let expect: Vec<_> = (MAX_PE_CONNECTS as u32 + 1..=n)
        .map(|id| pe_addr(id as u8))
        .collect();
    assert_eq!(more, expect);
    assert_eq!(r.owned_count(), n as usize);
}
