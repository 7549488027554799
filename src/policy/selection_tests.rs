//! Unit tests of the selection behaviour: keys, weights, updates and the
//! total-order property of `Policy::compare`.

use super::*;
use crate::policy::{Policy, ALL_POLICY_TYPES};
use core::mem::size_of;

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
