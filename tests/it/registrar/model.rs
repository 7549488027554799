//! Random sequences of registrations, deregistrations, keep-alive answers,
//! unreachable reports, resolutions, association failures, peer updates,
//! takeovers and time, checking the registrar's invariants after each step:
//! the handlespace is consistent, the owned-PE table agrees with it, every
//! PE has the timer it should, every message parses, and every removal
//! event names a PE that is gone.

use crate::support::registrar::*;
use proptest::prelude::*;
use rserpool::handlespace::PeTimerKind;
use rserpool::registrar::Event;
use rserpool::transmit::{Machine, Source, TransportEvent};
use rserpool::wire::{AsapMessage, Protocol};
use rserpool::{AssocId, Duration, Instant, ServerId};

#[derive(Clone, Debug)]
enum Op {
    Up(u32),
    Down(u32),
    Register {
        assoc: u32,
        id: u32,
        pool: u8,
        life: i32,
    },
    Deregister {
        assoc: u32,
        id: u32,
        pool: u8,
    },
    Ack {
        assoc: u32,
        id: u32,
        pool: u8,
    },
    Unreachable {
        reporter: u32,
        id: u32,
        pool: u8,
    },
    Resolve {
        pool: u8,
    },
    Advance(u64),
    PeerUpdate {
        id: u32,
        pool: u8,
        peer: u32,
    },
    PeerDelete {
        id: u32,
        pool: u8,
        peer: u32,
    },
    TakeOver {
        peer: u32,
    },
    Garbage(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let assoc = 1u32..=5;
    let id = 1u32..=10;
    let pool = 0u8..2;
    prop_oneof![
        2 => assoc.clone().prop_map(Op::Up),
        1 => assoc.clone().prop_map(Op::Down),
        6 => (assoc.clone(), id.clone(), pool.clone(), prop_oneof![Just(3_000), Just(60_000), Just(-1)])
            .prop_map(|(assoc, id, pool, life)| Op::Register { assoc, id, pool, life }),
        2 => (assoc.clone(), id.clone(), pool.clone()).prop_map(|(assoc, id, pool)| Op::Deregister { assoc, id, pool }),
        4 => (assoc.clone(), id.clone(), pool.clone()).prop_map(|(assoc, id, pool)| Op::Ack { assoc, id, pool }),
        2 => (10u32..14, id.clone(), pool.clone()).prop_map(|(reporter, id, pool)| Op::Unreachable { reporter, id, pool }),
        2 => pool.clone().prop_map(|pool| Op::Resolve { pool }),
        4 => (0u64..8_000).prop_map(Op::Advance),
        2 => (id.clone(), pool.clone(), 1u32..=2).prop_map(|(id, pool, peer)| Op::PeerUpdate { id, pool, peer }),
        1 => (id.clone(), pool.clone(), 1u32..=2).prop_map(|(id, pool, peer)| Op::PeerDelete { id, pool, peer }),
        1 => (1u32..=2).prop_map(|peer| Op::TakeOver { peer }),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Op::Garbage),
    ]
}

const POOLS: [&str; 2] = ["alpha", "beta"];

fn check(r: &mut TestRegistrar) {
    r.handlespace().check().unwrap();
    let me = server_id();
    assert_eq!(r.owned_count(), r.handlespace().owned_count(me));
    for pool in r.handlespace().pools() {
        for v in pool.elements() {
            if v.home_registrar() == Some(me) {
                // Keep-alive is on: an owned PE always has a timer.
                assert!(v.timer().is_some(), "owned PE without timer");
            } else {
                assert_eq!(v.assoc(), AssocId::NONE);
                match v.timer() {
                    Some((kind, _)) => assert_eq!(kind, PeTimerKind::LifetimeExpiry),
                    None => assert_eq!(v.registration_life(), -1),
                }
            }
        }
    }
    let mut buf = vec![0u8; 70_000];
    while let Some(t) = r.poll_transmit(&mut buf).unwrap() {
        AsapMessage::parse(&buf[..t.len]).unwrap();
    }
    while let Some(e) = r.poll_event() {
        if let Event::PoolElementRemoved { pe, .. } = e {
            assert!(r.handlespace().lookup(&pe.pool_handle, pe.pe_id).is_none());
        }
    }
}

proptest! {
    #[test]
    fn invariants_hold(ops in proptest::collection::vec(op(), 1..120)) {
        let mut r = registrar(config());
        let mut now = Instant::from_secs(1);
        for op in ops {
            match op {
                Op::Up(a) => up(&mut r, now, a),
                Op::Down(a) => r.handle_transport_event(now, TransportEvent::Down { assoc: AssocId(a) }),
                Op::Register { assoc, id, pool, life } => {
                    r.handle(now, src(assoc), Protocol::Asap, &PeSpec::new(id).life(life).registration(POOLS[pool as usize]))
                }
                Op::Deregister { assoc, id, pool } => {
                    r.handle(now, src(assoc), Protocol::Asap, &deregistration(POOLS[pool as usize], id))
                }
                Op::Ack { assoc, id, pool } => {
                    r.handle(now, src(assoc), Protocol::Asap, &keep_alive_ack(POOLS[pool as usize], id))
                }
                Op::Unreachable { reporter, id, pool } => {
                    r.handle(now, src(reporter), Protocol::Asap, &unreachable(POOLS[pool as usize], id))
                }
                Op::Resolve { pool } => {
                    r.handle(now, Source::Datagram(pe_addr(99)), Protocol::Asap, &resolution(POOLS[pool as usize], None))
                }
                Op::Advance(ms) => {
                    now += Duration::from_millis(ms);
                    while r.poll_timeout().is_some_and(|t| t <= now) {
                        r.handle_timeout(now);
                        check(&mut r);
                    }
                    // Everything due was handled.
                    prop_assert!(r.poll_timeout().is_none_or(|t| t > now));
                }
                Op::PeerUpdate { id, pool, peer } => {
                    let peer = ServerId::new(0xA000 + peer).unwrap();
                    let _ = PeSpec::new(id).life(30_000).with_param(|p| {
                        r.apply_peer_update(now, peer, POOLS[pool as usize].as_bytes(), p)
                    });
                }
                Op::PeerDelete { id, pool, peer } => {
                    let peer = ServerId::new(0xA000 + peer).unwrap();
                    r.apply_peer_delete(peer, POOLS[pool as usize].as_bytes(), pe(id));
                }
                Op::TakeOver { peer } => {
                    let peer = ServerId::new(0xA000 + peer).unwrap();
                    let before = r.handlespace().owned_count(peer);
                    prop_assert_eq!(r.take_over(now, peer), Ok(before));
                    prop_assert_eq!(r.handlespace().owned_count(peer), 0);
                }
                Op::Garbage(b) => r.handle(now, src(1), Protocol::Asap, &b),
            }
            check(&mut r);
        }
    }
}
