//! Pool elements with many addresses (up to MAX_TRANSPORT_ADDRESSES, as
//! rsplib's 64): accepted and resolved with every address over ASAP and
//! ENRP; more are refused with Invalid Values, never in silence; a full
//! address arena refuses the newcomer and keeps the established.

use crate::support::enrp::*;
use rserpool::addr::MAX_TRANSPORT_ADDRESSES;
use rserpool::transmit::{Destination, Machine};
use rserpool::wire::{AsapMessage, EnrpBody, Protocol, UpdateAction, UserTransport};
use rserpool::{CauseCode, PoolHandle};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `n` distinct addresses, IPv4 and IPv6 alternating.
fn addresses(n: usize) -> Vec<IpAddr> {
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                IpAddr::V4(Ipv4Addr::new(10, 1, (i / 256) as u8, i as u8))
            } else {
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, i as u16))
            }
        })
        .collect()
}

fn wide(id: u32, n: usize) -> PeSpec {
    let mut s = PeSpec::new(id);
    s.addrs = addresses(n);
    s
}

fn rd16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

fn add16(b: &mut [u8], at: usize, n: usize) {
    let v = (rd16(b, at) + n) as u16;
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Appends `extra` IPv4 address parameters to the user transport of the
/// Pool Element in `msg` (a message with `fixed` bytes of fixed fields),
/// fixing the lengths: what a peer without this crate's limit would send.
fn widen(msg: &[u8], fixed: usize, extra: usize) -> Vec<u8> {
    let mut b = msg.to_vec();
    let mut pos = 4 + fixed;
    while rd16(&b, pos) != 0x000A {
        pos += rd16(&b, pos + 2).next_multiple_of(4);
    }
    let pe_at = pos;
    let transport_at = pe_at + 4 + 12;
    let end = transport_at + rd16(&b, transport_at + 2);
    let mut more = Vec::new();
    for i in 0..extra {
        more.extend_from_slice(&[0, 1, 0, 8, 172, 16, (i / 256) as u8, i as u8]);
    }
    b.splice(end..end, more);
    for at in [2, pe_at + 2, transport_at + 2] {
        add16(&mut b, at, 8 * extra);
    }
    b
}

/// The user transport addresses of every PE of a HANDLE_RESOLUTION_RESPONSE.
fn resolved(b: &[u8]) -> Vec<Vec<IpAddr>> {
    match AsapMessage::parse(b).unwrap() {
        AsapMessage::HandleResolutionResponse {
            elements, error, ..
        } => {
            assert!(error.is_none(), "{error:?}");
            elements
                .iter()
                .map(|e| match e.user_transport {
                    UserTransport::Transport(t) => t.addresses.iter().collect(),
                    other => panic!("unexpected {other:?}"),
                })
                .collect()
        }
        m => panic!("unexpected {m:?}"),
    }
}

fn resolve(r: &mut TestRegistrar, pool: &str) -> Vec<Vec<IpAddr>> {
    up(r, T0, 40);
    r.handle(T0, src(40), Protocol::Asap, &resolution(pool, None));
    resolved(&one(r, Destination::Association(a(40))))
}

/// The rejection cause of a REGISTRATION_RESPONSE for PE `id`.
fn rejection(b: &[u8], id: u32) -> CauseCode {
    match AsapMessage::parse(b).unwrap() {
        AsapMessage::RegistrationResponse {
            rejected: true,
            pe_id,
            error: Some(e),
            ..
        } if pe_id == pe(id) => e.code().unwrap(),
        m => panic!("unexpected {m:?}"),
    }
}

#[test]
fn registrations_with_19_and_64_addresses_resolve_with_every_address() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    for (id, n) in [(19u32, 19usize), (64, MAX_TRANSPORT_ADDRESSES)] {
        let pool = format!("p{n}");
        register_ok(&mut r, T0, 1, &pool, &wide(id, n));
        assert_eq!(resolve(&mut r, &pool), vec![addresses(n)]);
        r.handle(T0, src(1), Protocol::Asap, &deregistration(&pool, id));
        drain(&mut r);
    }
    assert!(r.handlespace().is_empty());
    assert_eq!(r.handlespace().extra_addresses(), 0);
    assert_eq!(r.stats().malformed, 0);
}

#[test]
fn more_addresses_than_the_limit_are_rejected_with_invalid_values() {
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    let base = wide(3, MAX_TRANSPORT_ADDRESSES).registration("p");
    for extra in [1, 100] {
        let msg = widen(&base, 0, extra);
        assert!(AsapMessage::parse(&msg).is_err(), "the codec refuses it");
        r.handle(T0, src(1), Protocol::Asap, &msg);
        let b = one(&mut r, Destination::Association(a(1)));
        assert_eq!(rejection(&b, 3), CauseCode::InvalidValues);
        match AsapMessage::parse(&b).unwrap() {
            AsapMessage::RegistrationResponse {
                pool_handle, error, ..
            } => {
                assert_eq!(pool_handle, b"p");
                let cause = error.unwrap().causes.first().unwrap();
                // The offending Pool Element parameter comes back.
                let pe_at = 4 + 8;
                let pe_len = rd16(&msg, pe_at + 2);
                assert_eq!(cause.bytes(), Some(&msg[pe_at..pe_at + pe_len]));
            }
            m => panic!("unexpected {m:?}"),
        }
    }
    assert!(r.handlespace().is_empty());
    assert_eq!(r.stats().rejections_with(CauseCode::InvalidValues), 2);
    assert_eq!(r.stats().malformed, 0);
    // At the limit it is taken.
    r.handle(T0, src(1), Protocol::Asap, &widen(&base, 0, 0));
    drain(&mut r);
    assert_eq!(r.handlespace().len(), 1);
}

#[test]
fn a_full_address_arena_refuses_the_newcomer_and_keeps_the_established() {
    // 64 further addresses: a 64-address PE takes 63.
    let mut r = registrar(config());
    up(&mut r, T0, 1);
    up(&mut r, T0, 2);
    register_ok(&mut r, T0, 1, "p", &wide(1, MAX_TRANSPORT_ADDRESSES));
    r.handle(T0, src(2), Protocol::Asap, &wide(2, 3).registration("p"));
    let b = one(&mut r, Destination::Association(a(2)));
    assert_eq!(rejection(&b, 2), CauseCode::LackOfResources);
    assert_eq!(
        resolve(&mut r, "p"),
        vec![addresses(MAX_TRANSPORT_ADDRESSES)]
    );
    r.handlespace().check().unwrap();
    // What still fits is taken.
    register_ok(&mut r, T0, 2, "p", &wide(2, 2));
    assert_eq!(r.handlespace().len(), 2);
    // Once the wide PE re-registers with fewer addresses, there is room.
    register_ok(&mut r, T0, 1, "p", &wide(1, 1));
    register_ok(&mut r, T0, 2, "p", &wide(2, 40));
    let mut got = resolve(&mut r, "p");
    got.sort_by_key(Vec::len);
    assert_eq!(got, vec![addresses(1), addresses(40)]);
    r.handlespace().check().unwrap();
}

#[test]
fn a_handle_update_with_64_addresses_is_applied_whole() {
    let mut r = with_peer(7, 11);
    let mut p = PeerPe::new(1, 7);
    p.addrs = addresses(MAX_TRANSPORT_ADDRESSES);
    update(&mut r, T0, 11, 7, UpdateAction::AddPe, "pool", &p);
    assert_eq!(r.enrp_stats().updates_applied, 1);
    let h = PoolHandle::new(b"pool").unwrap();
    let v = r.handlespace().lookup(&h, pe(1)).unwrap();
    assert_eq!(v.user_addresses().collect::<Vec<_>>(), p.addrs);
    assert_eq!(resolve(&mut r, "pool"), vec![p.addrs.clone()]);
}

#[test]
fn a_handle_update_beyond_the_limit_is_answered_with_invalid_values() {
    let mut r = with_peer(7, 11);
    let mut p = PeerPe::new(1, 7);
    p.addrs = addresses(MAX_TRANSPORT_ADDRESSES);
    let msg = emit_enrp(&rserpool::wire::EnrpMessage {
        sender: sid(7),
        receiver: None,
        body: EnrpBody::HandleUpdate {
            takeover_suggested: false,
            action: UpdateAction::AddPe,
            pool_handle: b"pool",
            pool_element: p.param(),
        },
    });
    let msg = widen(&msg, 12, 1);
    r.handle(T0, src(11), Protocol::Enrp, &msg);
    assert!(r.handlespace().is_empty());
    let out = drain_enrp(&mut r);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, to(11));
    let m = parse(&out[0].1);
    assert_eq!(m.receiver, Some(sid(7)));
    match m.body {
        EnrpBody::Error { error } => assert_eq!(error.code(), Some(CauseCode::InvalidValues)),
        b => panic!("unexpected {b:?}"),
    }
    assert_eq!(r.enrp_stats().updates_rejected, 1);
    assert_eq!(r.enrp_stats().malformed, 0);
}
