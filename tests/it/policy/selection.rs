//! Selection behaviour of every pool policy, checked through a small
//! reference selector that uses the policy API exactly as a handlespace does:
//! ordered policies take the first N PEs in `Policy::compare` order, weighted
//! ones draw N distinct PEs by `Policy::weight`; then the first
//! `max_increment` selected PEs are updated with fresh sequence numbers.

use core::cmp::Ordering;

use rserpool::policy::{Policy, PolicyState, SelectionKind, FULL_LOAD};

/// SplitMix64: a small seeded generator for the weighted draws.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (rejection sampling, no modulo bias).
    fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next();
            if v < zone {
                return v % n;
            }
        }
    }
}

/// A pool of PEs named by `char`, with its own sequence counter.
struct Pool {
    pes: Vec<(char, Policy, PolicyState)>,
    seq: u64,
    rng: Rng,
}

impl Pool {
    fn new(seed: u64) -> Pool {
        Pool {
            pes: Vec::new(),
            seq: 0,
            rng: Rng(seed),
        }
    }

    fn fresh_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn with(policies: &[(char, Policy)]) -> Pool {
        let mut pool = Pool::new(0x5EED);
        for &(name, policy) in policies {
            pool.register(name, policy);
        }
        pool
    }

    /// Registers a new PE; a WRR PE joins the round of the pool's first PE.
    fn register(&mut self, name: char, policy: Policy) {
        let seq = self.fresh_seq();
        let mut state = policy.initial_state(seq);
        if let Some(first) = self.order().first() {
            let first_state = self.pes[*first].2;
            policy.align_to_pool(&mut state, &first_state);
        }
        self.pes.push((name, policy, state));
    }

    /// Registers a new PE without aligning it to the pool.
    fn register_unaligned(&mut self, name: char, policy: Policy) {
        let seq = self.fresh_seq();
        self.pes.push((name, policy, policy.initial_state(seq)));
    }

    fn reregister(&mut self, name: char, policy: Policy) {
        let seq = self.fresh_seq();
        let pe = self.pes.iter_mut().find(|pe| pe.0 == name).unwrap();
        pe.2 = policy.reregistered_state(&pe.1, &pe.2, seq);
        pe.1 = policy;
    }

    fn state(&self, name: char) -> PolicyState {
        self.pes.iter().find(|pe| pe.0 == name).unwrap().2
    }

    /// Indexes of the PEs in selection order.
    fn order(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.pes.len()).collect();
        idx.sort_by(|&i, &j| {
            let (a, b) = (&self.pes[i], &self.pes[j]);
            Policy::compare(&a.1, &a.2, &b.1, &b.2)
        });
        idx
    }

    /// One handle resolution for up to `n` PEs.
    fn resolve(&mut self, n: usize) -> Vec<char> {
        let Some(&(_, policy, _)) = self.pes.first() else {
            return Vec::new();
        };
        let chosen: Vec<usize> = match policy.selection_kind() {
            SelectionKind::Ordered => self.order().into_iter().take(n).collect(),
            SelectionKind::Weighted => {
                let mut left = self.order();
                let mut chosen = Vec::new();
                while chosen.len() < n {
                    let total: u64 = left
                        .iter()
                        .map(|&i| self.pes[i].1.weight(&self.pes[i].2))
                        .sum();
                    if total == 0 {
                        break;
                    }
                    let mut r = self.rng.below(total);
                    let pos = left
                        .iter()
                        .position(|&i| {
                            let w = self.pes[i].1.weight(&self.pes[i].2);
                            if r < w {
                                true
                            } else {
                                r -= w;
                                false
                            }
                        })
                        .unwrap();
                    chosen.push(left.remove(pos));
                }
                chosen
            }
        };
        for &i in chosen.iter().take(policy.max_increment()) {
            let seq = self.fresh_seq();
            let (_, p, ref mut s) = self.pes[i];
            p.on_selected(s, seq);
        }
        chosen.iter().map(|&i| self.pes[i].0).collect()
    }

    /// `rounds` resolutions of one PE each, as a string of names.
    fn singles(&mut self, rounds: usize) -> String {
        (0..rounds).map(|_| self.resolve(1)[0]).collect()
    }

    /// How often each PE is returned first in `draws` resolutions of `n`.
    fn shares(&mut self, draws: usize, n: usize) -> Vec<(char, f64)> {
        let names: Vec<char> = self.pes.iter().map(|pe| pe.0).collect();
        let mut counts = vec![0usize; names.len()];
        for _ in 0..draws {
            let got = self.resolve(n);
            let k = names.iter().position(|&c| c == got[0]).unwrap();
            counts[k] += 1;
        }
        names
            .into_iter()
            .zip(counts)
            .map(|(c, k)| (c, k as f64 / draws as f64))
            .collect()
    }
}

/// Statistical tests: draws per test and the absolute tolerance on a share.
/// With 200 000 draws a share's standard deviation is below 0.12 %, so the
/// tolerance is more than 12 standard deviations; the seed is fixed anyway.
const DRAWS: usize = 200_000;
const TOLERANCE: f64 = 0.015;

fn assert_shares(pool: &mut Pool, expected: &[(char, f64)]) {
    let got = pool.shares(DRAWS, 1);
    for (&(name, want), &(gname, share)) in expected.iter().zip(got.iter()) {
        assert_eq!(name, gname);
        assert!(
            (share - want).abs() <= TOLERANCE,
            "{name}: share {share:.4}, expected {want:.4} ± {TOLERANCE}"
        );
    }
}

fn names(s: &[char]) -> String {
    s.iter().collect()
}

// ---------------------------------------------------------------- RR, WRR

#[test]
fn round_robin_head_advances_by_one_per_resolution() {
    let rr = Policy::RoundRobin;
    let mut pool = Pool::with(&[('A', rr), ('B', rr), ('C', rr), ('D', rr)]);
    let got: Vec<String> = (0..6).map(|_| names(&pool.resolve(2))).collect();
    assert_eq!(got, ["AB", "BC", "CD", "DA", "AB", "BC"]);
    let got: Vec<String> = (0..3).map(|_| names(&pool.resolve(4))).collect();
    assert_eq!(got, ["CDAB", "DABC", "ABCD"]);
    assert_eq!(pool.singles(9), "BCDABCDAB");
}

#[test]
fn round_robin_new_pe_joins_at_the_end() {
    let rr = Policy::RoundRobin;
    let mut pool = Pool::with(&[('A', rr), ('B', rr)]);
    assert_eq!(pool.singles(3), "ABA");
    pool.register('C', rr);
    assert_eq!(pool.singles(6), "BACBAC");
    // A periodic re-registration does not move a PE.
    pool.reregister('B', rr);
    assert_eq!(pool.singles(3), "BAC");
}

#[test]
fn weighted_round_robin_is_proportional_and_evenly_spread() {
    let mut pool = Pool::with(&[
        ('A', Policy::WeightedRoundRobin { weight: 3 }),
        ('B', Policy::WeightedRoundRobin { weight: 2 }),
        ('C', Policy::WeightedRoundRobin { weight: 1 }),
    ]);
    // Each round of 6 has A three, B two and C one times, never two A's in a
    // row inside a round.
    assert_eq!(pool.singles(18), "ABCABAABCABAABCABA");
    let seq = pool.singles(6000);
    assert_eq!(seq.matches('A').count(), 3000);
    assert_eq!(seq.matches('B').count(), 2000);
    assert_eq!(seq.matches('C').count(), 1000);
    // Every window of one full cycle holds exactly the shares.
    let bytes = seq.as_bytes();
    for w in bytes.windows(6).step_by(6) {
        assert_eq!(w.iter().filter(|&&c| c == b'A').count(), 3);
        assert_eq!(w.iter().filter(|&&c| c == b'B').count(), 2);
    }
}

#[test]
fn weighted_round_robin_spreads_two_to_one() {
    let mut pool = Pool::with(&[
        ('A', Policy::WeightedRoundRobin { weight: 2 }),
        ('B', Policy::WeightedRoundRobin { weight: 1 }),
    ]);
    assert_eq!(pool.singles(9), "ABAABAABA");
}

#[test]
fn weighted_round_robin_large_weights_keep_exact_shares() {
    let mut pool = Pool::with(&[
        ('A', Policy::WeightedRoundRobin { weight: 700 }),
        ('B', Policy::WeightedRoundRobin { weight: 200 }),
        ('C', Policy::WeightedRoundRobin { weight: 100 }),
    ]);
    let seq = pool.singles(3000);
    assert_eq!(seq.matches('A').count(), 2100);
    assert_eq!(seq.matches('B').count(), 600);
    assert_eq!(seq.matches('C').count(), 300);
    // Spread: C comes every 10 selections, never more than 12 apart.
    let positions: Vec<usize> = seq.match_indices('C').map(|(i, _)| i).collect();
    for pair in positions.windows(2) {
        assert!(pair[1] - pair[0] <= 12, "gap {}", pair[1] - pair[0]);
    }
}

#[test]
fn weighted_round_robin_with_equal_weights_is_round_robin() {
    for weight in [1, 5, u32::MAX] {
        let wrr = Policy::WeightedRoundRobin { weight };
        let mut pool = Pool::with(&[('A', wrr), ('B', wrr), ('C', wrr)]);
        let mut rr = Pool::with(&[
            ('A', Policy::RoundRobin),
            ('B', Policy::RoundRobin),
            ('C', Policy::RoundRobin),
        ]);
        if weight == 1 {
            // With weight 1 even multi-PE answers are identical.
            for _ in 0..20 {
                assert_eq!(pool.resolve(2), rr.resolve(2));
            }
        } else {
            // With larger weights the PEs' slots coincide and rotate.
            assert_eq!(pool.singles(9), "ABCABCABC");
            let seq = pool.singles(300);
            for c in ['A', 'B', 'C'] {
                assert_eq!(seq.matches(c).count(), 100, "weight {weight}");
            }
        }
    }
}

#[test]
fn weighted_round_robin_weight_zero_is_last_and_never_first() {
    let mut pool = Pool::with(&[
        ('Z', Policy::WeightedRoundRobin { weight: 0 }),
        ('A', Policy::WeightedRoundRobin { weight: 1 }),
        ('B', Policy::WeightedRoundRobin { weight: 2 }),
    ]);
    let seq = pool.singles(300);
    assert!(!seq.contains('Z'));
    for _ in 0..10 {
        assert_eq!(pool.resolve(3)[2], 'Z');
    }
    // A pool of weight-0 PEs still answers, round robin among them.
    let z = Policy::WeightedRoundRobin { weight: 0 };
    let mut zeros = Pool::with(&[('X', z), ('Y', z)]);
    assert_eq!(zeros.singles(4), "XYXY");
}

#[test]
fn weighted_round_robin_joining_pe_takes_its_share_from_the_current_round() {
    let w1 = Policy::WeightedRoundRobin { weight: 1 };
    let mut pool = Pool::with(&[('A', w1), ('B', w1)]);
    pool.singles(1000);
    pool.register('C', w1);
    let seq = pool.singles(30);
    assert_eq!(seq.matches('C').count(), 10, "{seq}");
    // Without aligning, the new PE starts in round 0 and is preferred until
    // it has caught up: that is what align_to_pool is for.
    let mut pool = Pool::with(&[('A', w1), ('B', w1)]);
    pool.singles(1000);
    pool.register_unaligned('C', w1);
    assert_eq!(pool.singles(30).matches('C').count(), 30);
}

#[test]
fn weighted_round_robin_weight_change_on_reregistration() {
    let mut pool = Pool::with(&[
        ('A', Policy::WeightedRoundRobin { weight: 1 }),
        ('B', Policy::WeightedRoundRobin { weight: 1 }),
    ]);
    pool.singles(5);
    pool.reregister('A', Policy::WeightedRoundRobin { weight: 3 });
    pool.singles(8); // settle into whole rounds
    let seq = pool.singles(400);
    assert_eq!(seq.matches('A').count(), 300);
    // Weight 3 -> 0: A is no longer chosen first; back to 2: it rejoins at
    // once with its share (its round may lag: align it).
    pool.reregister('A', Policy::WeightedRoundRobin { weight: 0 });
    assert!(!pool.singles(50).contains('A'));
    pool.reregister('A', Policy::WeightedRoundRobin { weight: 2 });
    let first = pool.state('B');
    let a = pool.pes.iter_mut().find(|pe| pe.0 == 'A').unwrap();
    a.1.align_to_pool(&mut a.2, &first);
    let seq = pool.singles(300);
    assert_eq!(seq.matches('A').count(), 200, "{seq}");
}

// ---------------------------------------------------------------- PRIO

#[test]
fn priority_highest_first_and_rotating_among_equals() {
    let mut pool = Pool::with(&[
        ('L', Policy::Priority { priority: 1 }),
        ('A', Policy::Priority { priority: 5 }),
        ('H', Policy::Priority { priority: u32::MAX }),
        ('B', Policy::Priority { priority: 5 }),
        ('Z', Policy::Priority { priority: 0 }),
    ]);
    assert_eq!(names(&pool.resolve(5)), "HABLZ");
    // The highest is always first.
    assert_eq!(pool.singles(4), "HHHH");
    pool.reregister('H', Policy::Priority { priority: 2 });
    // Equal priorities rotate; answers are in decreasing priority.
    assert_eq!(names(&pool.resolve(5)), "ABHLZ");
    assert_eq!(names(&pool.resolve(5)), "BAHLZ");
    assert_eq!(pool.singles(4), "ABAB");
}

// ---------------------------------------------------------------- LU family

#[test]
fn least_used_ascending_with_round_robin_ties() {
    let lu = |load| Policy::LeastUsed { load };
    let mut pool = Pool::with(&[('A', lu(30)), ('B', lu(10)), ('C', lu(20)), ('D', lu(10))]);
    assert_eq!(names(&pool.resolve(4)), "BDCA");
    assert_eq!(names(&pool.resolve(4)), "DBCA");
    assert_eq!(pool.singles(4), "BDBD");
    // The PE reports a new load by re-registering.
    pool.reregister('B', lu(40));
    pool.reregister('D', lu(u32::MAX));
    assert_eq!(names(&pool.resolve(4)), "CABD");
    assert_eq!(pool.singles(2), "CC");
}

#[test]
fn least_used_degradation_accumulates_once_per_selection_and_resets() {
    let a = Policy::LeastUsedDegradation {
        load: 0,
        degradation: 100,
    };
    let b = Policy::LeastUsedDegradation {
        load: 250,
        degradation: 100,
    };
    let mut pool = Pool::with(&[('A', a), ('B', b)]);
    // A: 0, 100, 200 (< 250), then 300 vs B 250.
    assert_eq!(pool.singles(3), "AAA");
    assert_eq!(pool.state('A').degradation(), 300);
    assert_eq!(pool.state('B').degradation(), 0);
    assert_eq!(pool.singles(4), "BABA");
    assert_eq!(pool.state('A').degradation(), 500);
    assert_eq!(pool.state('B').degradation(), 200);
    // Only the first of a multi-PE answer is degraded.
    assert_eq!(names(&pool.resolve(2)), "BA");
    assert_eq!(pool.state('A').degradation(), 500);
    assert_eq!(pool.state('B').degradation(), 300);
    assert_eq!(
        a.effective_load(&pool.state('A')),
        Some(500),
        "load + counter × degradation"
    );
    // Re-registration resets the counter, with or without changed settings.
    pool.reregister('A', a);
    assert_eq!(pool.state('A').degradation(), 0);
    assert_eq!(pool.singles(3), "AAA");
    pool.reregister(
        'B',
        Policy::LeastUsedDegradation {
            load: 0,
            degradation: 0,
        },
    );
    assert_eq!(pool.state('B').degradation(), 0);
    assert_eq!(pool.singles(3), "BBB", "no degradation, lowest load");
}

#[test]
fn priority_least_used_orders_by_load_plus_degradation() {
    let mut pool = Pool::with(&[
        (
            'A',
            Policy::PriorityLeastUsed {
                load: 10,
                degradation: 50,
            },
        ),
        (
            'B',
            Policy::PriorityLeastUsed {
                load: 40,
                degradation: 10,
            },
        ),
        (
            'C',
            Policy::PriorityLeastUsed {
                load: 20,
                degradation: 40,
            },
        ),
    ]);
    assert_eq!(names(&pool.resolve(3)), "BAC");
    // No accumulation: B stays first; A and C (both 60) alternate behind it.
    assert_eq!(pool.singles(3), "BBB");
    assert_eq!(pool.state('B').degradation(), 0);
    assert_eq!(names(&pool.resolve(3)), "BAC");
}

#[test]
fn priority_least_used_degradation_adds_all_three() {
    let a = Policy::PriorityLeastUsedDegradation {
        load: 100,
        degradation: 50,
    };
    let b = Policy::PriorityLeastUsedDegradation {
        load: 200,
        degradation: 10,
    };
    let mut pool = Pool::with(&[('A', a), ('B', b)]);
    // A: 150, 200, 250; B: 210, 220, ...
    assert_eq!(pool.singles(2), "AA");
    assert_eq!(pool.state('A').degradation(), 100);
    assert_eq!(a.effective_load(&pool.state('A')), Some(250));
    // B: 210, 220, 230, 240; at 250 it ties with A, which was selected earlier.
    assert_eq!(pool.singles(5), "BBBBA");
    assert_eq!(b.effective_load(&pool.state('B')), Some(250));
    assert_eq!(a.effective_load(&pool.state('A')), Some(300));
    assert_eq!(pool.singles(1), "B");
    pool.reregister('A', a);
    pool.reregister('B', b);
    assert_eq!(pool.state('A').degradation(), 0);
    assert_eq!(pool.state('B').degradation(), 0);
    assert_eq!(pool.singles(1), "A");
}

#[test]
fn dpf_policies_add_the_distance_penalty() {
    // Penalty = distance × load_dpf.
    let near = Policy::LeastUsedDpf {
        load: 1200,
        load_dpf: 10,
        distance: 10,
    };
    let far = Policy::LeastUsedDpf {
        load: 1000,
        load_dpf: 10,
        distance: 50,
    };
    let st = near.initial_state(1);
    assert_eq!(near.effective_load(&st), Some(1300));
    assert_eq!(far.effective_load(&st), Some(1500));
    let mut pool = Pool::with(&[('F', far), ('N', near)]);
    assert_eq!(names(&pool.resolve(2)), "NF");
    assert_eq!(pool.singles(3), "NNN", "LU-DPF does not degrade");

    let lud = |load, distance| Policy::LeastUsedDegradationDpf {
        load,
        degradation: 100,
        load_dpf: 1,
        distance,
    };
    let mut pool = Pool::with(&[('F', lud(0, 500)), ('N', lud(200, 0))]);
    // N: 200, 300, 400, 500 (tie with F, older F wins), F: 500, ...
    assert_eq!(pool.singles(6), "NNNFNF");
    assert_eq!(pool.state('N').degradation(), 400);

    let plu = |load, distance| Policy::PriorityLeastUsedDpf {
        load,
        degradation: 100,
        load_dpf: 2,
        distance,
    };
    let st = PolicyState::default();
    assert_eq!(plu(10, 100).effective_load(&st), Some(310));
    let mut pool = Pool::with(&[('F', plu(0, 300)), ('N', plu(200, 0))]);
    assert_eq!(pool.singles(3), "NNN");
    assert_eq!(pool.state('N').degradation(), 0);

    let plud = |load, distance| Policy::PriorityLeastUsedDegradationDpf {
        load,
        degradation: 100,
        load_dpf: 2,
        distance,
    };
    let mut pool = Pool::with(&[('F', plud(0, 300)), ('N', plud(200, 0))]);
    // F: 700; N: 300, 400, 500, 600, then 700 ties and the older F goes first.
    assert_eq!(pool.singles(6), "NNNNFN");
    assert_eq!(
        plud(200, 0).effective_load(&pool.state('N')),
        Some(800),
        "200 + 100 + 5 × 100"
    );
    pool.reregister('N', plud(200, 0));
    assert_eq!(pool.state('N').degradation(), 0);
}

#[test]
fn extreme_values_saturate() {
    let m = u32::MAX;
    let lud = Policy::PriorityLeastUsedDegradationDpf {
        load: m,
        degradation: m,
        load_dpf: m,
        distance: m,
    };
    let mut s = lud.initial_state(1);
    for i in 0..5 {
        lud.on_selected(&mut s, 2 + i);
    }
    assert_eq!(s.degradation(), m);
    assert_eq!(lud.effective_load(&s), Some(FULL_LOAD));
    // Saturated PEs tie and rotate.
    let mut pool = Pool::with(&[
        ('A', lud),
        ('B', lud),
        (
            'C',
            Policy::PriorityLeastUsedDegradationDpf {
                load: m - 1,
                degradation: 0,
                load_dpf: 0,
                distance: 0,
            },
        ),
    ]);
    assert_eq!(pool.singles(3), "CCC");
    let mut pool = Pool::with(&[('A', lud), ('B', lud)]);
    assert_eq!(pool.singles(4), "ABAB");

    for p in [
        Policy::RandomizedLeastUsed { load: m },
        Policy::RandomizedPriorityLeastUsed {
            load: m,
            degradation: m,
        },
        Policy::RandomizedLeastUsedDegradation {
            load: m,
            degradation: m,
        },
        Policy::RandomizedPriorityLeastUsedDegradation {
            load: m,
            degradation: m,
        },
        Policy::WeightedRandomDpf {
            weight: m,
            weight_dpf: m,
            distance: m,
        },
    ] {
        assert_eq!(p.weight(&p.initial_state(1)), 1, "{p}");
    }
    assert_eq!(
        Policy::RandomizedLeastUsed { load: 0 }.weight(&PolicyState::default()),
        FULL_LOAD
    );
    let wrr = Policy::WeightedRoundRobin { weight: m };
    let mut s = wrr.initial_state(1);
    wrr.on_selected(&mut s, 2);
    assert_eq!((s.round(), s.credit()), (0, m - 1));
    let prio = Policy::Priority { priority: m };
    let mut s = prio.initial_state(u64::MAX - 1);
    prio.on_selected(&mut s, u64::MAX);
    assert_eq!(s.sequence(), u64::MAX);
}

// ---------------------------------------------------------------- weighted

#[test]
fn random_is_uniform_and_never_repeats_a_pe() {
    let r = Policy::Random;
    let mut pool = Pool::with(&[('A', r), ('B', r), ('C', r), ('D', r)]);
    assert_shares(
        &mut pool,
        &[('A', 0.25), ('B', 0.25), ('C', 0.25), ('D', 0.25)],
    );
    for _ in 0..1000 {
        let mut got = pool.resolve(3);
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), 3);
    }
    // RAND, WRAND and WRAND-DPF keep their state when selected.
    let before = pool.state('A');
    pool.resolve(4);
    assert_eq!(pool.state('A'), before);
}

#[test]
fn weighted_random_follows_weights_and_skips_weight_zero() {
    let w = |weight| Policy::WeightedRandom { weight };
    let mut pool = Pool::with(&[
        ('A', w(1)),
        ('B', w(2)),
        ('Z', w(0)),
        ('C', w(3)),
        ('D', w(4)),
    ]);
    assert_shares(
        &mut pool,
        &[('A', 0.1), ('B', 0.2), ('Z', 0.0), ('C', 0.3), ('D', 0.4)],
    );
    for _ in 0..1000 {
        let got = pool.resolve(5);
        assert_eq!(got.len(), 4, "weight-0 PE is never drawn");
        assert!(!got.contains(&'Z'));
    }
}

#[test]
fn randomized_least_used_prefers_headroom() {
    let full = FULL_LOAD as u32;
    let rlu = |load| Policy::RandomizedLeastUsed { load };
    // Weights: 100 %, 50 %, 25 % headroom -> 4/7, 2/7, 1/7.
    let mut pool = Pool::with(&[
        ('A', rlu(0)),
        ('B', rlu(full / 2)),
        ('C', rlu(full / 4 * 3)),
    ]);
    assert_shares(
        &mut pool,
        &[('A', 4.0 / 7.0), ('B', 2.0 / 7.0), ('C', 1.0 / 7.0)],
    );
    // A fully loaded PE keeps weight 1: practically never drawn.
    let mut pool = Pool::with(&[('A', rlu(0)), ('F', rlu(full))]);
    assert_shares(&mut pool, &[('A', 1.0), ('F', 0.0)]);
}

#[test]
fn randomized_priority_least_used_counts_load_degradation() {
    let full = FULL_LOAD as u32;
    let q = full / 4;
    let rplu = |load, degradation| Policy::RandomizedPriorityLeastUsed { load, degradation };
    // Effective loads 1/4, 1/2, 3/4 -> headroom 3:2:1.
    let mut pool = Pool::with(&[('A', rplu(0, q)), ('B', rplu(q, q)), ('C', rplu(2 * q, q))]);
    assert_shares(&mut pool, &[('A', 0.5), ('B', 1.0 / 3.0), ('C', 1.0 / 6.0)]);
    assert_eq!(pool.state('A').degradation(), 0, "RPLU does not accumulate");
}

#[test]
fn randomized_least_used_degradation_accumulates() {
    let full = FULL_LOAD as u32;
    let q = full / 4;
    // Degradation 1 per selection is negligible against a quarter load, so
    // shares stay 3:2:1 over the run.
    let rlud = |load| Policy::RandomizedLeastUsedDegradation {
        load,
        degradation: 1,
    };
    let mut pool = Pool::with(&[('A', rlud(q)), ('B', rlud(2 * q)), ('C', rlud(3 * q))]);
    assert_shares(&mut pool, &[('A', 0.5), ('B', 1.0 / 3.0), ('C', 1.0 / 6.0)]);
    let total: u32 = ['A', 'B', 'C']
        .iter()
        .map(|&c| pool.state(c).degradation())
        .sum();
    assert_eq!(total as usize, DRAWS, "one degradation per resolution");
    // A large degradation moves draws away from a selected PE.
    let heavy = Policy::RandomizedLeastUsedDegradation {
        load: 0,
        degradation: q,
    };
    let mut s = heavy.initial_state(1);
    assert_eq!(heavy.weight(&s), FULL_LOAD);
    heavy.on_selected(&mut s, 2);
    heavy.on_selected(&mut s, 3);
    assert_eq!(u64::from(s.degradation()), 2 * u64::from(q));
    assert_eq!(heavy.weight(&s), FULL_LOAD - 2 * u64::from(q));
    let s = heavy.reregistered_state(&heavy, &s, 4);
    assert_eq!(heavy.weight(&s), FULL_LOAD);
}

#[test]
fn randomized_priority_least_used_degradation_shares() {
    let full = FULL_LOAD as u32;
    let q = full / 4;
    let rplud = |load| Policy::RandomizedPriorityLeastUsedDegradation {
        load,
        degradation: 1,
    };
    let mut pool = Pool::with(&[('A', rplud(0)), ('B', rplud(2 * q))]);
    assert_shares(&mut pool, &[('A', 2.0 / 3.0), ('B', 1.0 / 3.0)]);
    let p = Policy::RandomizedPriorityLeastUsedDegradation {
        load: q,
        degradation: q,
    };
    let mut s = p.initial_state(1);
    p.on_selected(&mut s, 2);
    assert_eq!(p.effective_load(&s), Some(3 * u64::from(q)));
}

#[test]
fn weighted_random_dpf_penalises_distance() {
    // weight_dpf = 1 % per unit of distance.
    let one_percent = (FULL_LOAD / 100) as u32;
    let w = |distance| Policy::WeightedRandomDpf {
        weight: 1000,
        weight_dpf: one_percent,
        distance,
    };
    let st = PolicyState::default();
    assert_eq!(w(0).weight(&st), 1000);
    assert_eq!(w(10).weight(&st), 900);
    assert_eq!(w(50).weight(&st), 500);
    assert_eq!(
        w(100).weight(&st),
        1,
        "penalty equal to the weight leaves 1"
    );
    assert_eq!(w(5000).weight(&st), 1);
    let zero = Policy::WeightedRandomDpf {
        weight: 0,
        weight_dpf: 0,
        distance: 0,
    };
    assert_eq!(zero.weight(&st), 0, "weight 0 cannot serve");
    let mut pool = Pool::with(&[('A', w(0)), ('B', w(10)), ('C', w(50)), ('Z', zero)]);
    assert_shares(
        &mut pool,
        &[
            ('A', 1000.0 / 2400.0),
            ('B', 900.0 / 2400.0),
            ('C', 500.0 / 2400.0),
            ('Z', 0.0),
        ],
    );
}

#[test]
fn weighted_policies_order_the_tree_by_sequence() {
    let a = Policy::RandomizedLeastUsed { load: u32::MAX };
    let b = Policy::RandomizedLeastUsed { load: 0 };
    let (sa, sb) = (a.initial_state(1), b.initial_state(2));
    assert_eq!(Policy::compare(&a, &sa, &b, &sb), Ordering::Less);
    assert_eq!(Policy::compare(&b, &sb, &a, &sa), Ordering::Greater);
}
