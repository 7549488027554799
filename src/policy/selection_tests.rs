//! Unit tests of the selection behaviour: keys, weights, updates and the
//! total-order property of `Policy::compare`.

use super::*;
use crate::policy::{Policy, ALL_POLICY_TYPES};
use core::mem::size_of;
use proptest::prelude::*;

fn st(seq: u64) -> PolicyState {
    PolicyState {
        seq,
        ..PolicyState::default()
    }
}

#[test]
fn state_is_small() {
    assert!(size_of::<PolicyState>() <= 24);
}

#[test]
fn kinds_and_increments_follow_rsplib() {
    for &t in ALL_POLICY_TYPES.iter() {
        let n = Policy::parameter_count(t).unwrap();
        let p = Policy::from_parameters(t, &[1, 2, 3, 4][..n]).unwrap();
        let weighted = matches!(
            p.short_name(),
            "RAND" | "WRAND" | "RLU" | "RPLU" | "RLUD" | "RPLUD" | "WRAND-DPF"
        );
        let expect = if weighted {
            SelectionKind::Weighted
        } else {
            SelectionKind::Ordered
        };
        assert_eq!(p.selection_kind(), expect, "{}", p.short_name());
        let inc = if matches!(p.short_name(), "RAND" | "WRAND" | "WRAND-DPF") {
            0
        } else {
            1
        };
        assert_eq!(p.max_increment(), inc, "{}", p.short_name());
        if !weighted {
            assert_eq!(p.weight(&p.initial_state(1)), 0, "{}", p.short_name());
        }
    }
}

#[test]
fn round_robin_orders_by_sequence_and_moves_the_selected_to_the_back() {
    let p = Policy::RoundRobin;
    let mut a = p.initial_state(1);
    let b = p.initial_state(2);
    assert_eq!(Policy::compare(&p, &a, &p, &b), Ordering::Less);
    p.on_selected(&mut a, 3);
    assert_eq!(a.sequence(), 3);
    assert_eq!(Policy::sequence(&a), 3);
    assert_eq!(Policy::compare(&p, &a, &p, &b), Ordering::Greater);
    assert_eq!(Policy::compare(&p, &a, &p, &a), Ordering::Equal);
}

#[test]
fn least_used_orders_by_load_then_sequence() {
    let lo = Policy::LeastUsed { load: 10 };
    let hi = Policy::LeastUsed { load: 20 };
    assert_eq!(Policy::compare(&lo, &st(9), &hi, &st(1)), Ordering::Less);
    assert_eq!(Policy::compare(&lo, &st(1), &lo, &st(2)), Ordering::Less);
    assert_eq!(Policy::compare(&lo, &st(3), &lo, &st(2)), Ordering::Greater);
}

#[test]
fn random_weights() {
    assert_eq!(Policy::Random.weight(&st(1)), 1);
    assert_eq!(Policy::WeightedRandom { weight: 0 }.weight(&st(1)), 0);
    assert_eq!(
        Policy::WeightedRandom { weight: u32::MAX }.weight(&st(1)),
        u64::from(u32::MAX)
    );
    let p = Policy::WeightedRandom { weight: 7 };
    let mut s = p.initial_state(5);
    let before = s;
    assert_eq!(Policy::compare(&p, &s, &p, &st(6)), Ordering::Less);
    p.on_selected(&mut s, 9);
    assert_eq!(s.sequence(), 9);
    assert_eq!(p.weight(&s), p.weight(&before));
}

#[test]
fn wrand_dpf_rounds_to_nearest() {
    // 3 × 1 × (FULL/2 + 1) / FULL = 1.5000000003 -> 2; FULL/2 -> 1.4999999997 -> 1.
    let half_up = (FULL_LOAD / 2 + 1) as u32;
    let half_down = (FULL_LOAD / 2) as u32;
    assert_eq!(penalised_weight(3, half_up, 1), 1);
    assert_eq!(penalised_weight(3, half_down, 1), 2);
    assert_eq!(penalised_weight(u32::MAX, 0, u32::MAX), u64::from(u32::MAX));
    assert_eq!(penalised_weight(u32::MAX, 1, 1), u64::from(u32::MAX) - 1);
    assert_eq!(penalised_weight(0, 5, 5), 0);
}

#[test]
fn wrr_slots_are_midpoints() {
    // Weight 2: slots at 1/4 and 3/4; weight 1: slot at 1/2.
    assert_eq!(wrr_slot_cmp(2, 2, 1, 1), Ordering::Less);
    assert_eq!(wrr_slot_cmp(2, 1, 1, 1), Ordering::Greater);
    // Weight 4, second slot (3/8) vs weight 2, first slot (1/4).
    assert_eq!(wrr_slot_cmp(4, 3, 2, 2), Ordering::Greater);
    // Equal positions: 1/2 for weight 1 and the middle slot of weight 3.
    assert_eq!(wrr_slot_cmp(1, 1, 3, 2), Ordering::Equal);
    // Out-of-range credit does not panic.
    assert_eq!(
        wrr_slot_cmp(u32::MAX, u32::MAX, u32::MAX, 0),
        Ordering::Less
    );
}

#[test]
fn reregistration_keeps_sequence_and_resets_degradation() {
    let p = Policy::LeastUsedDegradation {
        load: 1,
        degradation: 10,
    };
    let mut s = p.initial_state(4);
    p.on_selected(&mut s, 7);
    assert_eq!(s.degradation(), 10);
    let q = Policy::LeastUsedDegradation {
        load: 2,
        degradation: 20,
    };
    let r = q.reregistered_state(&p, &s, 99);
    assert_eq!((r.sequence(), r.degradation()), (7, 0));
    // A type change gives a fresh state with the old sequence number.
    let r = Policy::WeightedRoundRobin { weight: 3 }.reregistered_state(&p, &s, 99);
    assert_eq!((r.sequence(), r.round(), r.credit()), (7, 0, 3));
}

#[test]
fn wrr_reregistration_caps_credit_and_keeps_round() {
    let w5 = Policy::WeightedRoundRobin { weight: 5 };
    let mut s = w5.initial_state(1);
    for seq in 2..9 {
        w5.on_selected(&mut s, seq);
    }
    // 7 selections of weight 5: round 1, 3 credits left.
    assert_eq!((s.round(), s.credit()), (1, 3));
    let w2 = Policy::WeightedRoundRobin { weight: 2 };
    let r = w2.reregistered_state(&w5, &s, 10);
    assert_eq!((r.round(), r.credit()), (1, 2));
    let w0 = Policy::WeightedRoundRobin { weight: 0 };
    let r0 = w0.reregistered_state(&w5, &s, 10);
    assert_eq!((r0.round(), r0.credit()), (1, 0));
    let back = w2.reregistered_state(&w0, &r0, 11);
    assert_eq!((back.round(), back.credit()), (1, 2));
    let mut behind = back;
    w2.align_to_pool(&mut behind, &PolicyState { round: 9, ..s });
    assert_eq!(behind.round(), 9);
    w2.align_to_pool(&mut behind, &PolicyState { round: 3, ..s });
    assert_eq!(behind.round(), 9, "never moves a PE back");
    let mut lu = PolicyState::default();
    Policy::LeastUsed { load: 0 }.align_to_pool(&mut lu, &PolicyState { round: 9, ..s });
    assert_eq!(lu, PolicyState::default());
}

// ------------------------------------------------------------ properties

/// Parameter values with the edges over-represented.
fn param() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(u32::MAX),
        Just(u32::MAX - 1),
        0u32..8,
        any::<u32>(),
    ]
}

fn policy_of(type_index: usize, params: [u32; 4]) -> Policy {
    let t = ALL_POLICY_TYPES[type_index % ALL_POLICY_TYPES.len()];
    let n = Policy::parameter_count(t).unwrap();
    Policy::from_parameters(t, &params[..n]).unwrap()
}

fn params() -> impl Strategy<Value = [u32; 4]> {
    [param(), param(), param(), param()]
}

/// Arbitrary states, including ones a handlespace would never produce;
/// small ranges make equal fields (and so tie-breaking) common.
fn state() -> impl Strategy<Value = PolicyState> {
    (
        0u64..6,
        prop_oneof![0u64..3, Just(u64::MAX)],
        param(),
        param(),
    )
        .prop_map(|(seq, round, credit, degradation)| PolicyState {
            seq,
            round,
            credit,
            degradation,
        })
}

fn le(o: Ordering) -> bool {
    o != Ordering::Greater
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn compare_is_a_strict_total_order(
        t in 0usize..ALL_POLICY_TYPES.len(),
        pa in params(), pb in params(), pc in params(),
        sa in state(), sb in state(), sc in state(),
    ) {
        let items = [(policy_of(t, pa), sa), (policy_of(t, pb), sb), (policy_of(t, pc), sc)];
        for (x, xs) in items.iter() {
            prop_assert_eq!(Policy::compare(x, xs, x, xs), Ordering::Equal);
        }
        for (i, (x, xs)) in items.iter().enumerate() {
            for (j, (y, ys)) in items.iter().enumerate() {
                let xy = Policy::compare(x, xs, y, ys);
                prop_assert_eq!(xy, Policy::compare(y, ys, x, xs).reverse());
                if xy == Ordering::Equal {
                    prop_assert_eq!(xs.sequence(), ys.sequence());
                }
                for (k, (z, zs)) in items.iter().enumerate() {
                    if i == j || j == k || i == k {
                        continue;
                    }
                    let yz = Policy::compare(y, ys, z, zs);
                    let xz = Policy::compare(x, xs, z, zs);
                    if le(xy) && le(yz) {
                        prop_assert!(le(xz), "{:?} {:?} {:?}", items[i], items[j], items[k]);
                    }
                    if xy == Ordering::Less && le(yz) {
                        prop_assert_eq!(xz, Ordering::Less);
                    }
                }
            }
        }
    }

    #[test]
    fn compare_across_types_is_antisymmetric(
        ta in 0usize..18, tb in 0usize..18,
        pa in params(), pb in params(), sa in state(), sb in state(),
    ) {
        let (a, b) = (policy_of(ta, pa), policy_of(tb, pb));
        let ab = Policy::compare(&a, &sa, &b, &sb);
        prop_assert_eq!(ab, Policy::compare(&b, &sb, &a, &sa).reverse());
        if ab == Ordering::Equal {
            prop_assert_eq!(sa.sequence(), sb.sequence());
        }
    }

    #[test]
    fn updates_and_weights_never_panic_and_stay_in_range(
        t in 0usize..18, pa in params(), pb in params(), s in state(), seq in any::<u64>(),
    ) {
        let p = policy_of(t, pa);
        let w = p.weight(&s);
        match p.selection_kind() {
            SelectionKind::Ordered => prop_assert_eq!(w, 0),
            SelectionKind::Weighted => {
                prop_assert!(w <= FULL_LOAD);
                let may_be_zero = matches!(
                    p,
                    Policy::WeightedRandom { weight: 0 } | Policy::WeightedRandomDpf { weight: 0, .. }
                );
                prop_assert!(w >= 1 || may_be_zero);
            }
        }
        if let Some(l) = p.effective_load(&s) {
            prop_assert!(l <= FULL_LOAD);
        }
        let mut after = s;
        p.on_selected(&mut after, seq);
        prop_assert_eq!(after.sequence(), seq);
        prop_assert!(after.degradation() >= s.degradation());
        let _ = p.weight(&after);
        let q = policy_of(t, pb);
        let r = q.reregistered_state(&p, &after, seq);
        prop_assert_eq!(r.degradation(), 0);
        prop_assert_eq!(r.sequence(), seq);
        if let Policy::WeightedRoundRobin { weight } = q {
            prop_assert!(r.credit() <= weight);
            prop_assert!(r.credit() >= 1 || weight == 0);
        }
        let mut aligned = r;
        q.align_to_pool(&mut aligned, &s);
        prop_assert!(aligned.round() >= r.round());
    }

    #[test]
    fn ordered_selection_moves_the_selected_pe_behind_its_equals(
        t in 0usize..18, pa in params(), s in state(), other_seq in 10u64..20,
    ) {
        // A selected PE gets a sequence number larger than any other; against
        // an identical PE it then sorts after it, unless its own key grew.
        // (A WRR round of u64::MAX, 2^64 rounds on, saturates and is exempt.)
        let p = policy_of(t, pa);
        if p.selection_kind() == SelectionKind::Ordered && s.round() != u64::MAX {
            let other = PolicyState { seq: other_seq, ..s };
            let mut selected = s;
            p.on_selected(&mut selected, 100);
            prop_assert_eq!(Policy::compare(&p, &selected, &p, &other), Ordering::Greater);
        }
    }
}
