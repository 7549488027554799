//! Criterion benchmarks of the handlespace operations at 1,000 and 100,000
//! PEs (one pool), on the red-black tree and the treap: register, reregister,
//! deregister, expire_all (per PE), and resolve1/resolve3 for RR, WRAND and
//! LU (per resolution). `examples/hsbench.rs` is the full benchmark with the
//! rsplib comparison; these are short runs for regressions.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration as WallDuration, Instant as WallClock};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rserpool::addr::{TransportAddress, TransportProtocol, TransportUse};
use rserpool::handlespace::{GrowableHandlespace, PeRef, Registration};
use rserpool::random::{below, Rng, Xoshiro256StarStar};
use rserpool::storage::{Backend, RedBlackTree, Treap};
use rserpool::{AssocId, Duration, Instant, PeId, Policy, PoolHandle, ServerId};

const ADDR: [IpAddr; 1] = [IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))];
const SIZES: [usize; 2] = [1_000, 100_000];

fn registrations(n: usize, policy: &str) -> Vec<Registration<'static>> {
    let mut rng = Xoshiro256StarStar::seed_from_u64(n as u64);
    let pool = PoolHandle::try_from("EchoPool").unwrap();
    let mut ids = std::collections::HashSet::new();
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let id = rng.next_u64() as u32;
        if id == 0 || !ids.insert(id) {
            continue;
        }
        let policy = match policy {
            "WRAND" => Policy::WeightedRandom {
                weight: 1 + below(&mut rng, 1000) as u32,
            },
            "LU" => Policy::LeastUsed {
                load: rng.next_u64() as u32,
            },
            _ => Policy::RoundRobin,
        };
        let t = TransportAddress {
            protocol: TransportProtocol::Sctp,
            port: 7,
            transport_use: TransportUse::DataOnly,
            service_code: 0,
            addresses: &ADDR,
        };
        v.push(Registration {
            pool_handle: pool,
            pe_id: PeId::new(id).unwrap(),
            home_registrar: ServerId::new(1).ok(),
            registration_life: 30_000,
            user_transport: t,
            policy,
            asap_transport: Some(t),
            assoc: AssocId(v.len() as u32),
        });
    }
    v
}

fn filled<B: Backend>(regs: &[Registration<'_>], now: Instant) -> GrowableHandlespace<B> {
    let mut hs = GrowableHandlespace::<B>::new();
    for r in regs {
        hs.register(now, r).unwrap();
    }
    hs
}

fn per_pe_ops<B: Backend>(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("handlespace/{}", B::NAME));
    g.sample_size(10)
        .warm_up_time(WallDuration::from_millis(300))
        .measurement_time(WallDuration::from_secs(2));
    for n in SIZES {
        let regs = registrations(n, "RR");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("register", n), &regs, |b, regs| {
            b.iter_custom(|iters| {
                let mut total = WallDuration::ZERO;
                for _ in 0..iters {
                    let mut hs = GrowableHandlespace::<B>::new();
                    let start = WallClock::now();
                    for r in regs {
                        black_box(hs.register(Instant::ZERO, r).unwrap());
                    }
                    total += start.elapsed();
                }
                total
            })
        });
        let mut hs = filled::<B>(&regs, Instant::ZERO);
        g.bench_with_input(BenchmarkId::new("reregister", n), &regs, |b, regs| {
            b.iter(|| {
                for r in regs {
                    black_box(hs.register(Instant::ZERO, r).unwrap());
                }
            })
        });
        g.bench_with_input(BenchmarkId::new("deregister", n), &regs, |b, regs| {
            b.iter_custom(|iters| {
                let mut total = WallDuration::ZERO;
                for _ in 0..iters {
                    let mut hs = filled::<B>(regs, Instant::ZERO);
                    let start = WallClock::now();
                    for r in regs {
                        hs.deregister(&r.pool_handle, r.pe_id).unwrap();
                    }
                    total += start.elapsed();
                }
                total
            })
        });
        g.bench_with_input(BenchmarkId::new("expire_all", n), &regs, |b, regs| {
            b.iter_custom(|iters| {
                let mut total = WallDuration::ZERO;
                for _ in 0..iters {
                    let mut hs = filled::<B>(regs, Instant::ZERO);
                    let start = WallClock::now();
                    assert_eq!(
                        hs.purge_expired(Instant::ZERO + Duration::from_secs(60)),
                        regs.len()
                    );
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

fn resolve_ops<B: Backend>(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("handlespace/{}/resolve", B::NAME));
    g.sample_size(20)
        .warm_up_time(WallDuration::from_millis(300))
        .measurement_time(WallDuration::from_secs(1));
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        for policy in ["RR", "WRAND", "LU"] {
            let regs = registrations(n, policy);
            let mut hs = filled::<B>(&regs, Instant::ZERO);
            let pool = regs[0].pool_handle;
            let mut rng = Xoshiro256StarStar::seed_from_u64(9);
            for k in [1usize, 3] {
                let id = BenchmarkId::new(format!("{policy}/{k}"), n);
                g.bench_function(id, |b| {
                    let mut out = [PeRef::default(); 3];
                    b.iter(|| black_box(hs.resolve(&pool, k, &mut rng, &mut out).unwrap()))
                });
            }
        }
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    per_pe_ops::<RedBlackTree>(c);
    per_pe_ops::<Treap>(c);
    resolve_ops::<RedBlackTree>(c);
    resolve_ops::<Treap>(c);
}

criterion_group!(handlespace, benches);
criterion_main!(handlespace);
