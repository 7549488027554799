//! Statistical tests of the random policies at the handlespace level: with a
//! fixed seed and enough draws, every PE's share of the selections is within
//! a stated tolerance of weight / Σweight, and multi-PE answers never repeat
//! a PE.

use std::net::{IpAddr, Ipv4Addr};

use rserpool::addr::{TransportAddress, TransportProtocol, TransportUse};
use rserpool::handlespace::{GrowableHandlespace, PeRef, Registration};
use rserpool::random::Xoshiro256StarStar;
use rserpool::storage::{Backend, RedBlackTree, SortedList, Treap};
use rserpool::{AssocId, Instant, PeId, Policy, PoolHandle, ServerId};

const ADDR: [IpAddr; 1] = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))];
const DRAWS: usize = 40_000;
/// Absolute tolerance on each share (the standard deviation of a share is
/// below 0.0025 at 40,000 draws; 0.015 is six of them).
const TOLERANCE: f64 = 0.015;

fn fill<B: Backend>(policies: &[Policy]) -> GrowableHandlespace<B> {
    let mut hs = GrowableHandlespace::<B>::new();
    for (i, &policy) in policies.iter().enumerate() {
        let r = Registration {
            pool_handle: PoolHandle::try_from("R").unwrap(),
            pe_id: PeId::new(i as u32 + 1).unwrap(),
            home_registrar: ServerId::new(1).ok(),
            registration_life: -1,
            user_transport: TransportAddress {
                protocol: TransportProtocol::Udp,
                port: 7,
                transport_use: TransportUse::DataOnly,
                service_code: 0,
                addresses: &ADDR,
            },
            policy,
            asap_transport: None,
            assoc: AssocId(1),
        };
        hs.register(Instant::ZERO, &r).unwrap();
    }
    hs
}

/// Draws `n` PEs `DRAWS` times; returns how often each PE id came first and
/// how often it was in the answer at all.
fn draw<B: Backend>(policies: &[Policy], n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut hs = fill::<B>(policies);
    let mut rng = Xoshiro256StarStar::seed_from_u64(seed);
    let mut first = vec![0usize; policies.len()];
    let mut any = vec![0usize; policies.len()];
    let handle = PoolHandle::try_from("R").unwrap();
    for _ in 0..DRAWS {
        let mut out = [PeRef::default(); 4];
        let got = hs.resolve(&handle, n, &mut rng, &mut out).unwrap();
        let ids: Vec<usize> = out[..got]
            .iter()
            .map(|&r| hs.get(r).unwrap().pe_id().get() as usize - 1)
            .collect();
        let mut distinct = ids.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), ids.len(), "a PE was returned twice");
        first[ids[0]] += 1;
        for i in ids {
            any[i] += 1;
        }
    }
    hs.check().unwrap();
    let share = |v: Vec<usize>| v.into_iter().map(|c| c as f64 / DRAWS as f64).collect();
    (share(first), share(any))
}

fn assert_close(got: &[f64], want: &[f64]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() < TOLERANCE,
            "PE {}: share {g:.4}, expected {w:.4} (all: {got:?})",
            i + 1
        );
    }
}

fn weighted_shares<B: Backend>() {
    let weights = [1u32, 2, 3, 4, 0, 10];
    let policies: Vec<Policy> = weights
        .iter()
        .map(|&weight| Policy::WeightedRandom { weight })
        .collect();
    let total: u32 = weights.iter().sum();
    let want: Vec<f64> = weights
        .iter()
        .map(|&w| f64::from(w) / f64::from(total))
        .collect();
    let (first, _) = draw::<B>(&policies, 1, 11);
    assert_close(&first, &want);
    // Several per answer: the first draw keeps the weight shares, the weight-0
    // PE never appears, and inclusion follows sampling without replacement.
    let (first, any) = draw::<B>(&policies, 3, 12);
    assert_close(&first, &want);
    assert_eq!(any[4], 0.0);
    let inclusion = inclusion_probabilities(&weights, 3);
    assert_close(&any, &inclusion);
}

/// Exact inclusion probabilities of successive weighted draws without
/// replacement (by enumerating every ordered draw sequence).
fn inclusion_probabilities(weights: &[u32], n: usize) -> Vec<f64> {
    fn walk(w: &[f64], taken: &mut Vec<usize>, p: f64, n: usize, acc: &mut [f64]) {
        let rest: f64 = (0..w.len())
            .filter(|i| !taken.contains(i))
            .map(|i| w[i])
            .sum();
        if taken.len() == n || rest == 0.0 {
            for &i in taken.iter() {
                acc[i] += p;
            }
            return;
        }
        for i in 0..w.len() {
            if taken.contains(&i) || w[i] == 0.0 {
                continue;
            }
            taken.push(i);
            walk(w, taken, p * w[i] / rest, n, acc);
            taken.pop();
        }
    }
    let w: Vec<f64> = weights.iter().map(|&x| f64::from(x)).collect();
    let mut acc = vec![0.0; w.len()];
    walk(&w, &mut Vec::new(), 1.0, n, &mut acc);
    acc
}

#[test]
fn wrand_rbtree() {
    weighted_shares::<RedBlackTree>();
}
#[test]
fn wrand_treap() {
    weighted_shares::<Treap>();
}
#[test]
fn wrand_list() {
    weighted_shares::<SortedList>();
}

#[test]
fn rand_is_uniform() {
    let policies = [Policy::Random; 5];
    let (first, any) = draw::<Treap>(&policies, 1, 21);
    assert_close(&first, &[0.2; 5]);
    assert_close(&any, &[0.2; 5]);
    let (_, any) = draw::<RedBlackTree>(&policies, 2, 22);
    assert_close(&any, &[0.4; 5]);
}

#[test]
fn rlu_prefers_unloaded() {
    // Weight = 100 % − load: loads 0 %, 50 %, 75 % give weights 4:2:1.
    let full = 0xFFFF_FFFFu32;
    let policies = [
        Policy::RandomizedLeastUsed { load: 0 },
        Policy::RandomizedLeastUsed { load: full / 2 },
        Policy::RandomizedLeastUsed { load: full / 4 * 3 },
    ];
    let (first, _) = draw::<RedBlackTree>(&policies, 1, 31);
    assert_close(&first, &[4.0 / 7.0, 2.0 / 7.0, 1.0 / 7.0]);
}
